"""Opening this package's HDF5 files for reading, with one set of error messages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import DeviceFileError

__all__ = ["open_for_reading"]


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
