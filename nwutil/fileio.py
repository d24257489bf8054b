"""Atomic file writes and the JSON encoding of numpy values, shared by every package.

A file written through :func:`atomic_path` appears complete or not at all: the content goes to a
temporary file in the same directory, which is renamed onto the final name with
:func:`os.replace` (atomic on POSIX and Windows) only once the writer has finished. Whatever
happens before the rename (the writer raises, the process is killed), the final name is untouched:
it does not exist or keeps its previous content. A raised error removes the temporary file; a
killed process leaves it. Process death is covered; power loss and operating-system crashes are
not (nothing is fsync'ed).

One writer per output: :func:`output_lock` holds an exclusive, non-blocking ``flock`` on the
sibling lock file ``<name>.lock`` while a command writes an output (and whatever it keeps beside
it); a second writer fails at once with :class:`OutputLockedError`. The kernel releases the lock
when its holder dies, SIGKILL included, so a lock is never stale: a lock file left by a killed
process is free, and :func:`output_locked` tells a reader whether a writer is still at work.

Every file made here (the temporary files, hence the final ones, and the lock files) is created
with mode ``0o666`` for the kernel to reduce, as :func:`open` does: it honours the process umask
(``0644`` under ``umask 022``, ``0600`` under ``077``) and a directory's default ACL.

Examples
--------
>>> import json, tempfile
>>> from pathlib import Path
>>> from nwutil.fileio import atomic_path, write_text_atomic
>>> d = Path(tempfile.mkdtemp())
>>> with atomic_path(d / "table.csv", unique=True) as tmp:
...     _ = tmp.write_text("a,b\\n1,2\\n")
>>> (d / "table.csv").read_text()
'a,b\\n1,2\\n'
>>> _ = write_text_atomic(d / "out" / "cell.json", json.dumps({"score": 0.5}))
>>> sorted(p.name for p in (d / "out").iterdir())
['cell.json']
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nwutil.errors import FileError

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_SUFFIX",
    "PARTIAL_SUFFIX",
    "OutputLockedError",
    "atomic_path",
    "json_default",
    "lock_path",
    "output_lock",
    "output_locked",
    "partial_path",
    "write_text_atomic",
]

#: Suffix of the fixed temporary name (:func:`partial_path`) a file is written under.
PARTIAL_SUFFIX = ".partial"
#: Suffix of the lock file of an output (:func:`lock_path`).
LOCK_SUFFIX = ".lock"


class OutputLockedError(FileError):
    """Another process (or another thread of this one) is writing the output: it holds its lock."""


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The fixed temporary name ``<path>.partial`` of :func:`atomic_path` (same directory)."""
    p = Path(path)
    return p.with_name(p.name + PARTIAL_SUFFIX)


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike[str], *, unique: bool = False, make_parents: bool = False
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or path-like
        Final name of the file.
    unique : bool
        False: the temporary name is :func:`partial_path` ``(path)``, so a file left by a killed
        writer is overwritten by the next write (one writer per file at a time). True: a fresh
        hidden name ``.<name>.<random>.tmp`` (created exclusively as by :func:`tempfile.mkstemp`,
        but with the mode :func:`open` gives: :func:`_create_unique`), safe for concurrent
        writers; the last rename wins.
    make_parents : bool
        Create the missing directories of ``path`` first; otherwise its directory must exist.

    Yields
    ------
    Path
        The temporary file to write (with ``unique=True`` it exists, empty).

    Raises
    ------
    OSError
        From creating, writing or renaming the file (of the same type and ``errno``, with a
        message that names ``path``, not the temporary file); the temporary file is removed first.
    """
    p = Path(path)
    try:
        if make_parents:
            p.parent.mkdir(parents=True, exist_ok=True)
        if unique:
            fd, tmp = _create_unique(p.parent, prefix=f".{p.name}.", suffix=".tmp")
            os.close(fd)
        else:
            tmp = partial_path(p)
    except OSError as exc:
        raise _named(exc, p) from None
    try:
        yield tmp
        os.replace(tmp, p)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        # the message names the file asked for, never the temporary one
        raise _named(exc, p) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


#: Mode every file is created with; the kernel removes the umask's bits (or applies the
#: directory's default ACL), as for :func:`open`.
_FILE_MODE = 0o666


def _create_unique(directory: Path, *, prefix: str, suffix: str) -> tuple[int, Path]:
    """Create a new file ``<directory>/<prefix><random><suffix>``; return its descriptor and path.

    As :func:`tempfile.mkstemp` (exclusive creation, so never a file that exists already; a
    descriptor not inherited by child processes) except for the mode: mkstemp asks for 0600,
    this asks for :data:`_FILE_MODE` and leaves the umask to the kernel, so that the file, once
    renamed into place, has the permissions a plain ``open(path, "w")`` gives. The umask is
    neither read nor changed: ``os.umask`` reads it only by setting it, which races with the
    files other threads create meanwhile.

    Parameters
    ----------
    directory : Path
        Where to create the file.
    prefix, suffix : str
        Around the random part of the name.

    Returns
    -------
    fd : int
        Descriptor open for reading and writing; the caller closes it.
    path : Path
        The file created (empty).

    Raises
    ------
    FileExistsError
        If :data:`tempfile.TMP_MAX` random names are all taken.
    OSError
        From creating the file (e.g. the directory is missing or read-only).
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(tempfile.TMP_MAX):
        path = directory / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            return os.open(path, flags, _FILE_MODE), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name in {str(directory)!r}")


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` as the same OSError type whose message names ``path`` and the reason only."""
    reason = exc.strerror or str(exc).split(":")[0]
    err = (
        type(exc)(exc.errno, f"cannot write {str(path)!r}: {reason}")
        if exc.errno
        else OSError(f"cannot write {str(path)!r}: {reason}")
    )
    return err


def write_text_atomic(path: str | os.PathLike[str], text: str, *, newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_path`, ``unique=True``), making parents.

    Parameters
    ----------
    path : str or path-like
        Final name of the file.
    text : str
        The content (encoded with the locale's encoding, as :func:`open` does).
    newline : str, optional
        As for :func:`open` (``""``: no translation of line endings, for CSV writers).

    Returns
    -------
    Path
        ``path``.
    """
    p = Path(path)
    with atomic_path(p, unique=True, make_parents=True) as tmp, open(tmp, "w", newline=newline) as fh:
        fh.write(text)
    return p


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file ``<path>.lock`` of :func:`output_lock`, beside the real file (links resolved)."""
    p = Path(os.path.realpath(path))
    return p.with_name(p.name + LOCK_SUFFIX)


#: The locks this process holds: lock file -> [descriptor, nesting depth, holding thread].
_HELD: dict[str, list[int]] = {}
_HELD_GUARD = threading.Lock()


def _busy(path: str | os.PathLike[str], what: str) -> OutputLockedError:
    return OutputLockedError(
        f"{what} {os.fspath(path)!r} is being written by another process; "
        "wait until it finishes or stop it, then try again"
    )


def _acquire(lk: Path, path: str | os.PathLike[str], what: str) -> int:
    """Open ``lk`` and take its exclusive lock without waiting; return the descriptor."""
    for _ in range(20):
        try:
            fd = os.open(lk, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), _FILE_MODE)
        except OSError as exc:  # named after the output: the lock file is an implementation detail
            raise OSError(exc.errno, f"cannot write {what} {os.fspath(path)!r}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _busy(path, what) from None
            raise OSError(exc.errno, f"cannot lock {what} {os.fspath(path)!r}: {exc.strerror}") from None
        # the previous holder removes the file before it unlocks: the lock counts only while
        # the name still leads to the file that was locked
        try:
            if os.path.samestat(os.fstat(fd), os.stat(lk)):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
    raise _busy(path, what)


@contextlib.contextmanager
def output_lock(path: str | os.PathLike[str], *, what: str = "output") -> Iterator[Path]:
    """Hold the write lock of the output ``path`` for the block; fail at once if it is taken.

    The lock is an exclusive ``flock`` on :func:`lock_path` ``(path)`` (``<name>.lock`` beside the
    real file; created, and removed again on release). Taken without waiting: a second writer of
    the same output, in another process or another thread, fails at once. The thread that holds
    it may take it again (nested blocks, e.g. a command around the library call that writes). A
    process that dies, by SIGKILL too, loses its lock with its descriptors; the lock file it
    leaves is free and is reused by the next writer. Outside POSIX (no ``fcntl``) no lock is taken.

    Parameters
    ----------
    path : str or path-like
        The output file. Its directory must exist; the file need not.
    what : str
        How messages name the output (``"output"``, ``"run file"``, ...).

    Yields
    ------
    Path
        ``path``.

    Raises
    ------
    OutputLockedError
        Another process or thread holds the lock; one line naming the output.
    OSError
        The lock file cannot be created (e.g. a read-only directory), naming the output.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp()) / "run.h5"
    >>> with output_lock(out):
    ...     _ = out.write_text("written by the one writer")
    >>> sorted(p.name for p in out.parent.iterdir())
    ['run.h5']
    """
    p = Path(path)
    if fcntl is None:
        yield p
        return
    lk = lock_path(p)
    key, me = os.fspath(lk), threading.get_ident()
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            if held[2] != me:
                raise _busy(path, what)
            held[1] += 1
        else:
            _HELD[key] = held = [_acquire(lk, path, what), 1, me]
    try:
        yield p
    finally:
        with _HELD_GUARD:
            held[1] -= 1
            if held[1] == 0:
                del _HELD[key]
                with contextlib.suppress(OSError):
                    lk.unlink()  # while still locked, so that no one locks a removed file
                os.close(held[0])


def output_locked(path: str | os.PathLike[str]) -> bool:
    """True while a writer holds the lock of the output ``path`` (:func:`output_lock`).

    A reader uses it to tell a file being written from one whose writer died: both say
    "running", only the first is locked. The check takes a shared lock for an instant, without
    waiting (outside POSIX it answers False).
    """
    if fcntl is None:
        return False
    lk = lock_path(path)
    with _HELD_GUARD:
        if os.fspath(lk) in _HELD:
            return True
    try:
        fd = os.open(lk, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:  # no lock file: no writer
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    finally:
        os.close(fd)  # also releases the shared lock
    return False


def json_default(o: Any) -> Any:
    """``default=`` of :func:`json.dumps` for numpy scalars and arrays and paths.

    Returns a numpy scalar as its Python value, an array as nested lists, a path as its string;
    raises :class:`TypeError` for anything else (as :func:`json.dumps` does without ``default``).
    """
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
