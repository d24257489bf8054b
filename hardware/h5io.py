"""Stream measurements to HDF5 in flushed chunks; the file says where a run stopped.

Layout (format ``nanowire-hil/measurement``, version 2)::

    /            attrs: format, format_version, package_version (absent from older files),
                        status ("running" | "complete" | "aborted"),
                        n_complete (steps safely on disk), chunk_steps, message, device metadata (JSON),
                        measurement_metadata (JSON: the first batch's Measurement.metadata),
                        input_names, output_names, ground_names (JSON lists), dt_s
    /t_s               (n,)            float64
    /input_V           (n, n_inputs)   float64
    /output_V          (n, n_outputs)  float64
    /input_current_A   (n, n_inputs)   float64
    /ground_current_A  (n, n_ground)   float64
    /compliance        (n, n_inputs)   bool
    /node_voltage_V    (n, n_probe)    float64, only when the batches carry it
    /ground_compliance (n, n_ground)   bool, when the batches carry it (every Device fills it; files
                                       written before it was recorded have none: read as None)

One dataset per array field of :class:`~hardware.Measurement`: the list is derived from the
dataclass, so a new field is either stored or makes the writer fail; it is never dropped. A field
of width 0 (a device without output or ground electrodes) is stored as shape ``(n, 0)``. Version 1
files (no ``node_voltage_V``, no ``measurement_metadata``) are still read.

The root attributes and the status names follow :mod:`nwutil.hdf5` (which also writes
``package_version``). The file is created complete (every attribute and dataset, no steps) under
a temporary name and renamed into place, so a failure while creating it leaves no file (or, with
``force``, the old one). Datasets then grow by one chunk at a time: a chunk is written,
``n_complete`` updated and the file flushed before the next one starts. A writer that fails
therefore leaves a file whose first ``n_complete`` rows are valid, with ``status="aborted"`` and
the error message; a killed client leaves ``status="running"`` (it never got to write
``"complete"`` or ``"aborted"``).
:func:`read_measurement` returns those rows and the status.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from hardware._checks import check_int, check_real
from hardware.device import Device, Measurement
from hardware.errors import HardwareError, HardwareValidationError
from nwutil.errors import FileError
from nwutil.fileio import json_default
from nwutil.hdf5 import (
    MEASUREMENT_FORMAT,
    STATUS_ABORTED,
    STATUS_ATTR,
    STATUS_COMPLETE,
    STATUS_RUNNING,
    get_json_attr,
    open_checked,
    set_json_attr,
    write_atomically,
    write_header,
)

__all__ = ["FORMAT", "MeasurementFileError", "MeasurementWriter", "read_measurement", "record"]

log = logging.getLogger(__name__)

#: ``format`` of a measurement file (:data:`nwutil.hdf5.MEASUREMENT_FORMAT`).
FORMAT = MEASUREMENT_FORMAT
FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
#: Every array field of Measurement, in declaration order (``metadata`` is stored as JSON).
_FIELDS = tuple(f.name for f in dataclasses.fields(Measurement) if f.name != "metadata")
#: Fields that may be None (their dataset exists only when the batches carry them).
_OPTIONAL = tuple(f.name for f in dataclasses.fields(Measurement) if f.name in _FIELDS and f.default is None)
#: Column role of each field that is always present (None: one value per step).
_COLUMNS = {
    "t_s": None,
    "input_V": "input",
    "output_V": "output",
    "input_current_A": "input",
    "ground_current_A": "ground",
    "compliance": "input",
}


class MeasurementFileError(HardwareError, FileError):
    """A measurement file is missing, foreign, damaged, or would be overwritten."""


def _json_default(o: Any) -> Any:
    """Numpy values and paths as JSON (:func:`nwutil.fileio.json_default`), anything else as its str."""
    try:
        return json_default(o)
    except TypeError:
        return str(o)


def _create(f: Any, name: str, width: int | None, chunk_steps: int, dtype: Any) -> None:
    """A dataset growing along steps; a zero width is stored as shape (n, 0)."""
    if width is None:
        f.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(chunk_steps,), dtype=dtype)
    else:
        # HDF5 cannot chunk a fixed dimension of size 0: leave the width unlimited instead
        f.create_dataset(
            name,
            shape=(0, width),
            maxshape=(None, width if width else None),
            chunks=(chunk_steps, max(width, 1)),
            dtype=dtype,
        )


class MeasurementWriter:
    """Write :class:`~hardware.Measurement` batches to an HDF5 file in flushed chunks.

    Parameters
    ----------
    path : str or Path
        Output file.
    input_names, output_names, ground_names : sequence of str
        Column names (from the device); any of them may be empty but the inputs.
    chunk_steps : int
        Steps buffered before a chunk is written and flushed (>= 1).
    metadata : dict, optional
        Provenance stored as JSON in the ``metadata`` attribute.
    force : bool
        Overwrite an existing file (replaced only once the new file is created).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        input_names: Any,
        output_names: Any,
        ground_names: Any = (),
        chunk_steps: int = 1024,
        metadata: dict[str, Any] | None = None,
        force: bool = False,
    ) -> None:
        import h5py

        self.path = Path(path)
        if self.path.exists() and not force:
            raise MeasurementFileError(f"output {str(self.path)!r} exists; pass force=True to overwrite it")
        self.chunk_steps = check_int("chunk_steps", chunk_steps, low=1)
        missing = [n for n in _FIELDS if n not in _OPTIONAL and n not in _COLUMNS]
        if missing:  # a new required field of Measurement needs a column rule here
            raise MeasurementFileError(f"Measurement field(s) {missing} have no column rule in {__name__}")
        self.names = {"input": list(input_names), "output": list(output_names), "ground": list(ground_names)}
        self._widths: dict[str, int | None] = {
            k: None if role is None else len(self.names[role]) for k, role in _COLUMNS.items()
        }
        attrs = {
            STATUS_ATTR: STATUS_RUNNING,
            "n_complete": 0,
            "chunk_steps": self.chunk_steps,
            "message": "",
            "dt_s": float("nan"),
        }
        json_attrs = {
            "metadata": metadata or {},
            "measurement_metadata": {},
            **{f"{role}_names": names for role, names in self.names.items()},
        }

        def fill(f: Any) -> None:
            write_header(f, FORMAT, FORMAT_VERSION)
            f.attrs.update(attrs)
            for name, value in json_attrs.items():
                set_json_attr(f, name, value, default=_json_default)
            for name, w in self._widths.items():
                _create(f, name, w, self.chunk_steps, bool if name == "compliance" else np.float64)

        write_atomically(self.path, fill)
        self._f = h5py.File(self.path, "a")
        self._optional: dict[str, int] | None = None  # optional field -> width, fixed by the first batch
        self._buf: list[Measurement] = []
        self._n_buf = 0
        self.n_complete = 0
        self.status = STATUS_RUNNING

    @classmethod
    def for_device(cls, path: str | Path, device: Device, **kwargs: Any) -> MeasurementWriter:
        """A writer with the column names and metadata of ``device``."""
        kwargs.setdefault("metadata", device.metadata)
        return cls(
            path,
            input_names=device.input_names,
            output_names=device.output_names,
            ground_names=device.ground_names,
            **kwargs,
        )

    def _check_fields(self, m: Measurement) -> None:
        for name, w in self._widths.items():
            got = getattr(m, name).shape[1:]
            if got != (() if w is None else (w,)):
                raise HardwareValidationError(
                    f"measurement field {name} has {got[0] if got else 1} column(s), the file "
                    f"{w if w is not None else 1}"
                )
        present = {n: getattr(m, n) for n in _OPTIONAL if getattr(m, n) is not None}
        if self._optional is None:
            self._optional = {}
            for name, a in present.items():
                if a.ndim != 2:
                    raise HardwareValidationError(
                        f"measurement field {name} must be 2-D, got shape {a.shape}"
                    )
                _create(self._f, name, a.shape[1], self.chunk_steps, bool if a.dtype == bool else np.float64)
                self._optional[name] = a.shape[1]
            set_json_attr(self._f, "measurement_metadata", m.metadata, default=_json_default)
            return
        for name in _OPTIONAL:
            if (name in present) != (name in self._optional):
                raise HardwareValidationError(
                    f"measurement field {name} is {'present' if name in present else 'None'} in this batch "
                    f"but {'present' if name in self._optional else 'None'} in the first one; every batch "
                    "of a file must carry the same fields"
                )
            if name in present and present[name].shape[1] != self._optional[name]:
                raise HardwareValidationError(
                    f"measurement field {name} has {present[name].shape[1]} column(s), the file "
                    f"{self._optional[name]}"
                )

    def append(self, m: Measurement) -> None:
        """Buffer a batch; write and flush every full chunk."""
        if self.status != STATUS_RUNNING:
            raise MeasurementFileError(f"writer of {str(self.path)!r} is {self.status}")
        if m.input_V.shape[1] != len(self.names["input"]) or m.output_V.shape[1] != len(self.names["output"]):
            raise HardwareValidationError(
                f"measurement columns ({m.input_V.shape[1]} inputs, {m.output_V.shape[1]} outputs) do not "
                f"match the file ({len(self.names['input'])}, {len(self.names['output'])})"
            )
        self._check_fields(m)
        if np.isnan(self._f.attrs["dt_s"]) and "dt_s" in m.metadata:
            self._f.attrs["dt_s"] = float(m.metadata["dt_s"])
        self._buf.append(m)
        self._n_buf += m.n_steps
        while self._n_buf >= self.chunk_steps:
            self._write(self.chunk_steps)

    def _stored(self) -> tuple[str, ...]:
        return (*self._widths, *(self._optional or {}))

    def _write(self, n: int) -> None:
        allm = Measurement.concatenate(self._buf)
        n0 = self.n_complete
        for k in self._stored():
            ds = self._f[k]
            ds.resize(n0 + n, axis=0)
            ds[n0 : n0 + n] = getattr(allm, k)[:n]
        self.n_complete = n0 + n
        self._f.attrs["n_complete"] = self.n_complete
        self._f.flush()
        rest = allm.n_steps - n
        self._buf = (
            []
            if rest == 0
            else [
                Measurement(
                    **{k: (None if getattr(allm, k) is None else getattr(allm, k)[n:]) for k in _FIELDS},
                    metadata=allm.metadata,
                )
            ]
        )
        self._n_buf = rest

    def flush(self) -> None:
        """Write the buffered steps now (a partial chunk)."""
        if self._n_buf:
            self._write(self._n_buf)

    def close(self, status: str = STATUS_COMPLETE, message: str = "") -> None:
        """Flush, record ``status`` (``"complete"`` or ``"aborted"``) and ``message``, close the file."""
        if self.status != STATUS_RUNNING:
            return
        try:
            if status == STATUS_COMPLETE:
                self.flush()
            self._f.attrs[STATUS_ATTR] = status
            self._f.attrs["message"] = message
            self._f.flush()
        finally:
            self.status = status
            self._f.close()

    def __enter__(self) -> MeasurementWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close(STATUS_COMPLETE)
        else:
            # steps of a failed batch never reached the buffer; buffered complete steps are kept
            try:
                self.flush()
            finally:
                self.close(STATUS_ABORTED, f"{type(exc).__name__}: {exc}")


def read_measurement(path: str | Path) -> tuple[Measurement, dict[str, Any]]:
    """Read a measurement file (the first ``n_complete`` steps) and its attributes.

    Returns
    -------
    measurement : Measurement
        Every field; ``node_voltage_V`` is None when the file has none. ``metadata`` is the first
        batch's metadata with ``dt_s`` and the electrode names of the file.
    info : dict
        ``status``, ``n_complete``, ``message``, ``chunk_steps``, ``dt_s``, ``metadata`` (dict).

    Raises
    ------
    MeasurementFileError
        Missing, unreadable, foreign or damaged file (a dataset or attribute missing, fewer rows
        than ``n_complete``).
    """
    p = Path(path)
    checked = open_checked(p, FORMAT, _READABLE_VERSIONS, what="measurement file", error=MeasurementFileError)
    with checked as f:
        try:
            n = int(f.attrs["n_complete"])
            data: dict[str, Any] = {}
            for k in _FIELDS:
                if k not in f and k in _OPTIONAL:
                    data[k] = None
                    continue
                if f[k].shape[0] < n:
                    raise MeasurementFileError(
                        f"{str(p)!r} is damaged: dataset {k} has {f[k].shape[0]} rows, n_complete={n}"
                    )
                data[k] = f[k][:n]
            info = {
                "status": str(f.attrs[STATUS_ATTR]),
                "n_complete": n,
                "message": str(f.attrs["message"]),
                "chunk_steps": int(f.attrs["chunk_steps"]),
                "dt_s": float(f.attrs["dt_s"]),
                "metadata": get_json_attr(f, "metadata"),
            }
            names = {r: get_json_attr(f, f"{r}_names") for r in ("input", "output", "ground")}
            meta = get_json_attr(f, "measurement_metadata", {})
        except KeyError as exc:
            raise MeasurementFileError(f"{str(p)!r} is damaged or incomplete: {exc}") from None
    meta.update({"dt_s": info["dt_s"], **{f"{r}_names": v for r, v in names.items()}})
    m = Measurement(**data, metadata=meta)
    return m, info


def record(
    device: Device,
    voltages_V: Any,
    dt_s: float,
    path: str | Path,
    *,
    chunk_steps: int = 1024,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Measurement:
    """Apply a sequence chunk by chunk and stream every chunk to ``path`` as it completes.

    Parameters
    ----------
    device : Device
    voltages_V : array_like, shape (n_steps, n_inputs)
    dt_s : float
    path : str or Path
    chunk_steps : int
        Steps per ``device.apply`` call and per flushed chunk: a failure loses at most one chunk.
    force : bool
        Overwrite ``path``.
    progress : callable(done, total), optional
    metadata : dict, optional
        Entries added to the device's metadata in the file's ``metadata`` attribute (JSON).

    Returns
    -------
    Measurement
        The whole run (also on disk, with ``status="complete"``). On failure the file keeps every
        completed chunk with ``status="aborted"`` and the error message, and the error propagates.
    """
    v = device.check_voltages(voltages_V)
    check_real("dt_s", dt_s, low=0.0, low_open=True)
    chunk_steps = check_int("chunk_steps", chunk_steps, low=1)
    parts = []
    meta = {**device.metadata, **(metadata or {})}
    with MeasurementWriter.for_device(path, device, chunk_steps=chunk_steps, force=force, metadata=meta) as w:
        for s in range(0, v.shape[0], chunk_steps):
            m = device.apply(v[s : s + chunk_steps], dt_s)
            w.append(m)
            w.flush()
            parts.append(m)
            if progress is not None:
                progress(s + m.n_steps, v.shape[0])
    log.info("recorded %d steps to %s", v.shape[0], path)
    return Measurement.concatenate(parts)
