"""Conventions of every nanowire-hil HDF5 file: header attributes, formats, status, open, JSON.

Every file (device, run, run-journal chunk, measurement and comparison files) names its kind in
the root attribute ``format`` and its layout version in ``format_version``; the writers also store
the ``package_version`` that wrote it (:func:`write_header`). Readers open a file with
:func:`open_checked`, which refuses a missing, foreign, truncated or newer file with the caller's
domain exception and a one-line message naming the file. Dicts and lists are stored as JSON text
attributes (:func:`set_json_attr`, :func:`get_json_attr`). Files are created atomically
(:func:`write_atomically`, on :func:`nwutil.fileio.atomic_path`).

Status vocabulary
-----------------
A file written over a long time says how far its writer got in the root attribute ``status``:
:data:`STATUS_RUNNING` (the writer was stopped before it closed the file, e.g. killed),
:data:`STATUS_COMPLETE`, :data:`STATUS_STOPPED` (ended early on request, resumable) and
:data:`STATUS_ABORTED` (ended by an error; the rows committed before it are valid). Measurement
files store these names; run files store the status code of :class:`nwphys.SimulationResult`
(:data:`RUN_STATUS_CODES`), as they always have.

Examples
--------
A store writing its own kind of file, e.g. a comparison's ``comparison.h5``:

>>> import tempfile
>>> from pathlib import Path
>>> from nwutil import hdf5
>>> path = Path(tempfile.mkdtemp()) / "comparison.h5"
>>> def fill(f):
...     hdf5.write_header(f, hdf5.COMPARISON_FORMAT, 1)
...     g = f.create_group("Ramps__esn")
...     hdf5.set_json_attr(g, "best_params", {"n_units": 20}, sort_keys=True)
>>> _ = hdf5.write_atomically(path, fill, unique=True)
>>> with hdf5.open_checked(path, hdf5.COMPARISON_FORMAT, (1,), what="comparison file") as f:
...     hdf5.get_json_attr(f["Ramps__esn"], "best_params")
{'n_units': 20}

Its reader passes its own exception (``error=ExperimentError``) to :func:`open_checked`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nwutil.errors import FileError
from nwutil.fileio import atomic_path, json_default

__all__ = [
    "COMPARISON_FORMAT",
    "DEVICE_FORMAT",
    "FORMAT_ATTR",
    "MEASUREMENT_FORMAT",
    "PACKAGE_VERSION_ATTR",
    "RUN_CHUNK_FORMAT",
    "RUN_FORMAT",
    "RUN_STATUS_CODES",
    "STATUSES",
    "STATUS_ABORTED",
    "STATUS_ATTR",
    "STATUS_COMPLETE",
    "STATUS_RUNNING",
    "STATUS_STOPPED",
    "VERSION_ATTR",
    "attr_str",
    "get_json_attr",
    "open_checked",
    "open_readable",
    "package_version",
    "set_json_attr",
    "write_atomically",
    "write_header",
]

#: Root attribute naming the kind of file.
FORMAT_ATTR = "format"
#: Root attribute holding the layout version (an int).
VERSION_ATTR = "format_version"
#: Root attribute holding the nanowire-hil version that wrote the file.
PACKAGE_VERSION_ATTR = "package_version"
#: Root attribute saying how far the writer got (see the status vocabulary above).
STATUS_ATTR = "status"

#: ``format`` of a device file (:mod:`nwphys.io.devicefile`).
DEVICE_FORMAT = "nanowire-hil-device"
#: ``format`` of a simulation run file (:mod:`nwphys.io.runfile`).
RUN_FORMAT = "nwhil-run"
#: ``format`` of one committed chunk in a run file's journal.
RUN_CHUNK_FORMAT = "nwhil-run-chunk"
#: ``format`` of a measurement file (:mod:`hardware.h5io`).
MEASUREMENT_FORMAT = "nanowire-hil/measurement"
#: ``format`` of a comparison's HDF5 file (:mod:`nwmodel.experiments.compare`).
COMPARISON_FORMAT = "nwhil-comparison"

STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_STOPPED = "stopped"
STATUS_ABORTED = "aborted"
#: Every status name, in the order a writer can reach them.
STATUSES = (STATUS_RUNNING, STATUS_COMPLETE, STATUS_STOPPED, STATUS_ABORTED)
#: The integer ``status`` a run file stores for each name (that of the simulation result).
RUN_STATUS_CODES = {STATUS_RUNNING: -2, STATUS_COMPLETE: 0, STATUS_STOPPED: 1}


def package_version() -> str:
    """The nanowire-hil version: :data:`nwutil.__version__`.

    The one source of the version: the files' ``package_version`` header, the device files'
    metadata, the feature store's and selection journal's keys, the emulator's ``*IDN?`` and
    ``nwhil --version`` all read it here, and the package metadata (``pyproject.toml``) reads
    ``nwutil.__version__`` too.

    Returns
    -------
    str
        E.g. ``"0.3.0"``.
    """
    from nwutil import __version__

    return __version__


def attr_str(value: Any) -> str:
    """An HDF5 string attribute as ``str`` (h5py returns ``bytes`` for some encodings)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def write_header(h5: Any, format_name: str, version: int) -> None:
    """Write the root attributes ``format``, ``format_version`` and ``package_version``.

    Parameters
    ----------
    h5 : h5py.File or h5py.Group
        Where to write them (the file's root group).
    format_name : str
        The kind of file, e.g. :data:`DEVICE_FORMAT`.
    version : int
        Its layout version (>= 1).
    """
    h5.attrs[FORMAT_ATTR] = format_name
    h5.attrs[VERSION_ATTR] = int(version)
    h5.attrs[PACKAGE_VERSION_ATTR] = package_version()


def open_readable(
    path: str | os.PathLike[str], *, what: str = "HDF5 file", error: type[Exception] = FileError
) -> Any:
    """Open ``path`` read-only as HDF5, whatever its kind; the first check of :func:`open_checked`.

    Returns
    -------
    h5py.File
        Open for reading.

    Raises
    ------
    error
        One line naming the file (as ``what``): it is missing or not a readable HDF5 file.
    """
    import h5py

    p = Path(path)
    if not p.is_file():
        raise error(f"{what} {str(p)!r} not found")
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        # h5py's own text names library internals and flags; say what it means for the file
        if "unable to lock file" in str(exc).lower():
            raise error(f"cannot read {what} {str(p)!r}: another process has it open for writing") from None
        raise error(
            f"cannot read {what} {str(p)!r}: not a readable HDF5 file (truncated or foreign)"
        ) from None


def open_checked(
    path: str | os.PathLike[str],
    format_name: str,
    supported_versions: Iterable[int],
    *,
    what: str = "HDF5 file",
    error: type[Exception] = FileError,
) -> Any:
    """Open ``path`` read-only as an HDF5 file of kind ``format_name``, or raise ``error``.

    Parameters
    ----------
    path : str or path-like
        The file.
    format_name : str
        The ``format`` attribute the file must carry.
    supported_versions : iterable of int
        The ``format_version`` values the caller reads.
    what : str
        How the messages name the file, e.g. ``"device file"``.
    error : exception class
        The caller's domain exception, built from one message string.

    Returns
    -------
    h5py.File
        Open for reading; close it (or use it in a ``with`` block).

    Raises
    ------
    error
        One line naming the file: it is missing, not a readable HDF5 file (truncated or foreign),
        of another kind, or of a version not in ``supported_versions``.
    """
    p = Path(path)
    versions = tuple(int(v) for v in supported_versions)
    f = open_readable(p, what=what, error=error)
    fmt = f.attrs.get(FORMAT_ATTR)
    fmt = attr_str(fmt) if fmt is not None else None
    if fmt != format_name:
        f.close()
        raise error(
            f"{str(p)!r} is not a nanowire-hil {what} (format attribute {fmt!r}, expected {format_name!r})"
        )
    ver = f.attrs.get(VERSION_ATTR)
    try:
        ver = int(ver) if ver is not None else None
    except (TypeError, ValueError):
        ver = attr_str(ver)
    if ver not in versions:
        f.close()
        raise error(
            f"{what} {str(p)!r} has format version {ver!r}; this nanowire-hil reads versions "
            f"{', '.join(map(str, versions))}"
        )
    return f


def set_json_attr(
    obj: Any, name: str, value: Any, *, sort_keys: bool = False, default: Callable[[Any], Any] = json_default
) -> None:
    """Store ``value`` as the JSON text attribute ``name`` of ``obj`` (a file, group or dataset).

    Parameters
    ----------
    obj : h5py.File, h5py.Group or h5py.Dataset
    name : str
    value : JSON-serialisable
        Numpy scalars, arrays and paths are converted by ``default``.
    sort_keys : bool
        Sort the keys of every dict (canonical text, comparable as strings).
    default : callable
        ``default=`` of :func:`json.dumps`.
    """
    obj.attrs[name] = json.dumps(value, sort_keys=sort_keys, default=default)


_MISSING = object()


def get_json_attr(obj: Any, name: str, default: Any = _MISSING) -> Any:
    """The value of the JSON text attribute ``name`` of ``obj``.

    Parameters
    ----------
    obj : h5py.File, h5py.Group or h5py.Dataset
    name : str
    default : optional
        Returned when the attribute is absent.

    Raises
    ------
    KeyError
        The attribute is absent and no ``default`` is given.
    json.JSONDecodeError
        The attribute is not valid JSON (a :class:`ValueError`).
    """
    if name not in obj.attrs:
        if default is _MISSING:
            raise KeyError(f"attribute {name!r} is missing")
        return default
    return json.loads(attr_str(obj.attrs[name]))


def write_atomically(
    path: str | os.PathLike[str],
    fill: Callable[[Any], None],
    *,
    in_memory: bool = False,
    unique: bool = False,
) -> Path:
    """Create the HDF5 file ``path`` so that it appears complete or not at all.

    ``fill(f)`` writes into an ``h5py.File`` opened under a temporary name in the same directory;
    the file is then closed and renamed onto ``path`` (:func:`nwutil.fileio.atomic_path`: a raised
    error removes the temporary file, a killed process leaves it).

    Parameters
    ----------
    path : str or path-like
        Final name of the file (its directory must exist).
    fill : callable(h5py.File) -> None
        Writes the content.
    in_memory : bool
        Build the file in memory and write it out when it is closed (HDF5 ``core`` driver): about
        twice as fast for small files; the whole file is held in memory.
    unique : bool
        Temporary name: False ``<path>.partial`` (overwritten by the next write), True a fresh
        hidden name (see :func:`~nwutil.fileio.atomic_path`).

    Returns
    -------
    Path
        ``path``.
    """
    import h5py

    p = Path(path)
    kw: dict[str, Any] = {"driver": "core", "backing_store": True} if in_memory else {}
    with atomic_path(p, unique=unique) as tmp, h5py.File(tmp, "w", **kw) as f:
        fill(f)
    return p
