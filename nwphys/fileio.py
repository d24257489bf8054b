"""Atomic file writes and the JSON encoding of numpy values, shared by every package.

A file written through :func:`atomic_path` appears complete or not at all: the content goes to a
temporary file in the same directory, which is renamed onto the final name with
:func:`os.replace` (atomic on POSIX and Windows) only once the writer has finished. Whatever
happens before the rename (the writer raises, the process is killed), the final name is untouched:
it does not exist or keeps its previous content. A raised error removes the temporary file; a
killed process leaves it. Process death is covered; power loss and operating-system crashes are
not (nothing is fsync'ed).

Examples
--------
>>> import json, tempfile
>>> from pathlib import Path
>>> from nwphys.fileio import atomic_path, write_text_atomic
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
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["PARTIAL_SUFFIX", "atomic_path", "json_default", "partial_path", "write_text_atomic"]

#: Suffix of the fixed temporary name (:func:`partial_path`) a file is written under.
PARTIAL_SUFFIX = ".partial"


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
        hidden name ``.<name>.<random>.tmp`` from :func:`tempfile.mkstemp` (mode 0600), safe for
        concurrent writers; the last rename wins.
    make_parents : bool
        Create the missing directories of ``path`` first; otherwise its directory must exist.

    Yields
    ------
    Path
        The temporary file to write (with ``unique=True`` it exists, empty).

    Raises
    ------
    OSError
        From creating, writing or renaming the file; the temporary file is removed first.
    """
    p = Path(path)
    if make_parents:
        p.parent.mkdir(parents=True, exist_ok=True)
    if unique:
        fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        os.close(fd)
        tmp = Path(name)
    else:
        tmp = partial_path(p)
    try:
        yield tmp
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


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
