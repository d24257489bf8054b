"""Journal of a model selection in progress: every finished fit, on disk, so that a killed run resumes.

A journal is a text file of JSON lines. The first line is the header: the format, its version and
the *fingerprint* of the experiment (package version, task, configurations, seeds, split, a digest
of every data array and whatever the caller adds to identify the estimator). It is written under a
temporary name and renamed into place, so a journal either does not exist or starts with a whole
header. Each later line is one finished group of fits (one stack, or one fit)::

    {"phase": "val" | "test", "wall_s": 12.3, "fits": [[index, seed, score, error], ...]}

appended, flushed and ``fsync``'ed as soon as the group's scores are known. ``wall_s`` is the
wall-clock time since the previous line (or since the run started), so the times of the lines
of every process that worked on the run add up to the run's time.

A process killed while it appends leaves at most one incomplete last line (no newline); once the
header matches, reading drops it and the next append starts over that point. Any other line that
is not a group record, or a header of another experiment, raises
:class:`~nwmodel.errors.JournalError` naming the file, before anything in it is changed: a
journal is never silently ignored or mixed with another experiment. While open, the journal holds
an exclusive ``flock`` (POSIX), so a second process on the same experiment is refused instead of
appending the same fits again. Like the feature store and
the resumed cells of a comparison, the fingerprint holds the package version but not the source
code: after changing the models, start with a fresh journal.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nwmodel.errors import JournalError
from nwutil.fileio import atomic_path, json_default

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["FORMAT", "SelectionJournal", "array_digest"]

#: Format name of the header line.
FORMAT = "nwhil-selection-journal"
#: Version of the line layout.
VERSION = 1

Fit = tuple[int, int, float, str]  # (configuration index, seed, score, error message)


def array_digest(a: Any) -> str:
    """SHA-256 of an array's dtype, shape and values (object arrays through their ``str``)."""
    arr = np.asarray(a)
    if arr.dtype == object:
        arr = arr.astype(str)
    arr = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _normal(fits: Sequence[Sequence[Any]]) -> list[Fit]:
    """``fits`` as (int index, int seed, float score, str error) tuples."""
    return [(int(i), int(s), float(v), str(e)) for i, s, v, e in fits]


def _canonical(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples as lists, numpy scalars as Python values)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=json_default))


class SelectionJournal:
    """The journal file of one model selection (see the module docstring); a context manager.

    Parameters
    ----------
    path : path-like
        Journal file; created with its header when missing, its folder too.
    fingerprint : dict
        JSON-serialisable identity of the experiment. An existing journal must have been written
        with an equal fingerprint.

    Attributes
    ----------
    done : dict of (phase, index, seed) -> (score, error)
        Fits recorded so far, by this process or earlier ones.
    n_resumed : int
        Fits that were in the file when it was opened.
    wall_s : float
        Sum of the recorded groups' wall-clock times, in seconds.

    Raises
    ------
    JournalError
        If the file holds another experiment's header or a line that is not a group record, or
        another process has it open.
    """

    def __init__(self, path: str | os.PathLike[str], fingerprint: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.fingerprint = _canonical(dict(fingerprint))
        self.done: dict[tuple[str, int, int], tuple[float, str]] = {}
        self.wall_s = 0.0
        if not self.path.exists():
            header = {"format": FORMAT, "version": VERSION, "fingerprint": self.fingerprint}
            with atomic_path(self.path, unique=True, make_parents=True) as tmp, open(tmp, "w") as fh:
                fh.write(json.dumps(header, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        self._fh = open(self.path, "r+b")  # held open for the lock, closed by close()
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise self._fail("is in use by another process running this experiment") from None
            self._read()
        except BaseException:
            self._fh.close()
            raise
        self.n_resumed = len(self.done)

    def __enter__(self) -> SelectionJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock and close the file (records already written stay)."""
        self._fh.close()

    def _fail(self, why: str) -> JournalError:
        return JournalError(f"selection journal {str(self.path)!r} {why}")

    def _read(self) -> None:
        data = self._fh.read()
        end = data.rfind(b"\n") + 1
        lines = data[:end].decode("utf-8", errors="replace").splitlines()
        try:
            header = json.loads(lines[0]) if lines else None
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise self._fail("is not a selection journal (no header line); remove it to start afresh")
        if header.get("version") != VERSION:
            raise self._fail(f"has layout version {header.get('version')!r}, this code reads {VERSION}")
        stored = header.get("fingerprint")
        if stored != self.fingerprint:
            keys = sorted(set(stored or {}) | set(self.fingerprint))
            diff = [k for k in keys if (stored or {}).get(k) != self.fingerprint.get(k)]
            raise self._fail(
                f"belongs to another experiment (differs in {', '.join(diff)}); remove it to start "
                "afresh or use another output"
            )
        done: dict[tuple[str, int, int], tuple[float, str]] = {}
        wall = 0.0
        for number, line in enumerate(lines[1:], start=2):
            try:
                rec = json.loads(line)
                phase = rec["phase"]
                if phase not in ("val", "test"):
                    raise ValueError(phase)
                fits = _normal(rec["fits"])
                wall += float(rec["wall_s"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise self._fail(
                    f"line {number} is not a group record ({type(exc).__name__}); remove the "
                    "journal to start afresh"
                ) from None
            for i, s, v, e in fits:
                done[(phase, i, s)] = (v, e)
        if end < len(data):  # an append cut short by a kill: drop it, and append over it
            self._fh.truncate(end)
        self.done, self.wall_s = done, wall

    def record(self, phase: str, fits: Sequence[Fit], wall_s: float) -> None:
        """Append one finished group and make it durable (flush and ``fsync``).

        Parameters
        ----------
        phase : {"val", "test"}
            Selection fits (scored on the validation part) or test fits of the selected one.
        fits : sequence of (index, seed, score, error)
            The group's fits; ``score`` NaN where ``error`` is not empty.
        wall_s : float
            Wall-clock time of the group, in seconds.
        """
        fits = _normal(fits)
        line = json.dumps({"phase": phase, "wall_s": float(wall_s), "fits": fits}, sort_keys=True)
        self._fh.seek(0, os.SEEK_END)
        self._fh.write((line + "\n").encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        for i, s, v, e in fits:
            self.done[(phase, i, s)] = (v, e)
        self.wall_s += float(wall_s)
