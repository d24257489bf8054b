"""This package's HDF5 file helpers: reading with one set of error messages, atomic creation."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import DeviceFileError

__all__ = ["PARTIAL_SUFFIX", "open_for_reading", "partial_path", "write_atomically"]

#: Suffix of the temporary name a file is written under before it is renamed into place.
PARTIAL_SUFFIX = ".partial"


def open_for_reading(path: str | os.PathLike[str], what: str) -> Any:
    """Open ``path`` read-only as HDF5 (an ``h5py.File``), or raise :class:`DeviceFileError`.

    Parameters
    ----------
    path : str or path-like
        The file.
    what : str
        How the messages name the file, e.g. ``"device file"``.
    """
    import h5py

    p = Path(path)
    if not p.is_file():
        raise DeviceFileError(f"{what} {str(p)!r} not found")
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise DeviceFileError(
            f"{what} {str(p)!r} is not a readable HDF5 file (truncated or foreign): {exc}"
        ) from None


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The temporary name :func:`write_atomically` writes ``path`` under (same directory)."""
    p = Path(path)
    return p.with_name(p.name + PARTIAL_SUFFIX)


def write_atomically(
    path: str | os.PathLike[str], fill: Callable[[Any], None], *, in_memory: bool = False
) -> Path:
    """Create the HDF5 file ``path`` so that it appears complete or not at all.

    ``fill(f)`` writes into an ``h5py.File`` opened under the temporary name
    :func:`partial_path` ``(path)`` in the same directory; the file is then closed and renamed onto
    ``path`` with :func:`os.replace`, which is atomic on POSIX and Windows. Whatever happens before
    the rename (``fill`` raises, the process is killed), ``path`` is untouched: it does not exist or
    keeps its previous content. A raised error removes the temporary file; a killed process leaves
    it, and the next write to ``path`` overwrites it. Process death is covered; power loss and
    operating-system crashes are not (nothing is fsync'ed).

    Parameters
    ----------
    path : str or path-like
        Final name of the file (its directory must exist).
    fill : callable(h5py.File) -> None
        Writes the content.
    in_memory : bool
        Build the file in memory and write it out when it is closed (HDF5 ``core`` driver): about
        twice as fast for small files; the whole file is held in memory.

    Returns
    -------
    Path
        ``path``.
    """
    import h5py

    p = Path(path)
    tmp = partial_path(p)
    try:
        kw: dict[str, Any] = {"driver": "core", "backing_store": True} if in_memory else {}
        with h5py.File(tmp, "w", **kw) as f:
            fill(f)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return p
