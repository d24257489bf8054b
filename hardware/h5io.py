"""Stream measurements to HDF5 in flushed chunks; the file says where a run stopped.

Layout (format ``nanowire-hil/measurement``, version 1)::

    /            attrs: format, format_version, status ("running" | "complete" | "aborted"),
                        n_complete (steps safely on disk), chunk_steps, message, device metadata (JSON),
                        input_names, output_names, ground_names (JSON lists), dt_s
    /t_s               (n,)            float64
    /input_V           (n, n_inputs)   float64
    /output_V          (n, n_outputs)  float64
    /input_current_A   (n, n_inputs)   float64
    /ground_current_A  (n, n_ground)   float64
    /compliance        (n, n_inputs)   bool

Datasets grow by one chunk at a time: a chunk is written, ``n_complete`` updated and the file
flushed before the next one starts. A killed client therefore leaves a file whose first
``n_complete`` rows are valid and whose ``status`` is still ``"running"`` (it never got to write
``"complete"`` or ``"aborted"``): :func:`read_measurement` returns those rows and the status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ._checks import check_int, check_real
from .device import Device, Measurement
from .errors import HardwareError, HardwareValidationError

__all__ = ["FORMAT", "MeasurementFileError", "MeasurementWriter", "read_measurement", "record"]

log = logging.getLogger(__name__)

FORMAT = "nanowire-hil/measurement"
FORMAT_VERSION = 1
_FIELDS = ("t_s", "input_V", "output_V", "input_current_A", "ground_current_A", "compliance")


class MeasurementFileError(HardwareError):
    """A measurement file is missing, foreign, or would be overwritten."""


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


class MeasurementWriter:
    """Write :class:`~hardware.Measurement` batches to an HDF5 file in flushed chunks.

    Parameters
    ----------
    path : str or Path
        Output file.
    input_names, output_names, ground_names : sequence of str
        Column names (from the device).
    chunk_steps : int
        Steps buffered before a chunk is written and flushed (>= 1).
    metadata : dict, optional
        Provenance stored as JSON in the ``metadata`` attribute.
    force : bool
        Overwrite an existing file.
    """

    def __init__(self, path: str | Path, *, input_names: Any, output_names: Any, ground_names: Any = (),
                 chunk_steps: int = 1024, metadata: dict[str, Any] | None = None,
                 force: bool = False) -> None:
        import h5py

        self.path = Path(path)
        if self.path.exists() and not force:
            raise MeasurementFileError(f"output {str(self.path)!r} exists; pass force=True to overwrite it")
        self.chunk_steps = check_int("chunk_steps", chunk_steps, low=1)
        self.names = {"input": list(input_names), "output": list(output_names), "ground": list(ground_names)}
        widths = {"t_s": None, "input_V": len(self.names["input"]), "output_V": len(self.names["output"]),
                  "input_current_A": len(self.names["input"]), "ground_current_A": len(self.names["ground"]),
                  "compliance": len(self.names["input"])}
        self._f = h5py.File(self.path, "w")
        f = self._f
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["status"] = "running"
        f.attrs["n_complete"] = 0
        f.attrs["chunk_steps"] = self.chunk_steps
        f.attrs["message"] = ""
        f.attrs["dt_s"] = float("nan")
        f.attrs["metadata"] = json.dumps(metadata or {}, default=_json_default)
        for role, names in self.names.items():
            f.attrs[f"{role}_names"] = json.dumps(names)
        for name, w in widths.items():
            shape = (0,) if w is None else (0, w)
            maxshape = (None,) if w is None else (None, w)
            chunks = (self.chunk_steps,) if w is None else (self.chunk_steps, max(w, 1))
            f.create_dataset(name, shape=shape, maxshape=maxshape, chunks=chunks,
                             dtype=bool if name == "compliance" else np.float64)
        f.flush()
        self._buf: list[Measurement] = []
        self._n_buf = 0
        self.n_complete = 0
        self.status = "running"

    @classmethod
    def for_device(cls, path: str | Path, device: Device, **kwargs: Any) -> MeasurementWriter:
        """A writer with the column names and metadata of ``device``."""
        kwargs.setdefault("metadata", device.metadata)
        return cls(path, input_names=device.input_names, output_names=device.output_names,
                   ground_names=device.ground_names, **kwargs)

    def append(self, m: Measurement) -> None:
        """Buffer a batch; write and flush every full chunk."""
        if self.status != "running":
            raise MeasurementFileError(f"writer of {str(self.path)!r} is {self.status}")
        if m.input_V.shape[1] != len(self.names["input"]) or m.output_V.shape[1] != len(self.names["output"]):
            raise HardwareValidationError(
                f"measurement columns ({m.input_V.shape[1]} inputs, {m.output_V.shape[1]} outputs) do not "
                f"match the file ({len(self.names['input'])}, {len(self.names['output'])})")
        if np.isnan(self._f.attrs["dt_s"]) and "dt_s" in m.metadata:
            self._f.attrs["dt_s"] = float(m.metadata["dt_s"])
        self._buf.append(m)
        self._n_buf += m.n_steps
        while self._n_buf >= self.chunk_steps:
            self._write(self.chunk_steps)

    def _write(self, n: int) -> None:
        allm = Measurement.concatenate(self._buf)
        head = {k: getattr(allm, k)[:n] for k in _FIELDS}
        n0 = self.n_complete
        for k in _FIELDS:
            ds = self._f[k]
            ds.resize(n0 + n, axis=0)
            ds[n0:n0 + n] = head[k]
        self.n_complete = n0 + n
        self._f.attrs["n_complete"] = self.n_complete
        self._f.flush()
        rest = allm.n_steps - n
        self._buf = [] if rest == 0 else [Measurement(
            **{k: getattr(allm, k)[n:] for k in _FIELDS}, node_voltage_V=None, metadata=allm.metadata)]
        self._n_buf = rest

    def flush(self) -> None:
        """Write the buffered steps now (a partial chunk)."""
        if self._n_buf:
            self._write(self._n_buf)

    def close(self, status: str = "complete", message: str = "") -> None:
        """Flush, record ``status`` (``"complete"`` or ``"aborted"``) and ``message``, close the file."""
        if self.status != "running":
            return
        try:
            if status == "complete":
                self.flush()
            self._f.attrs["status"] = status
            self._f.attrs["message"] = message
            self._f.flush()
        finally:
            self.status = status
            self._f.close()

    def __enter__(self) -> MeasurementWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close("complete")
        else:
            # steps of a failed batch never reached the buffer; buffered complete steps are kept
            try:
                self.flush()
            finally:
                self.close("aborted", f"{type(exc).__name__}: {exc}")


def read_measurement(path: str | Path) -> tuple[Measurement, dict[str, Any]]:
    """Read a measurement file (the first ``n_complete`` steps) and its attributes.

    Returns
    -------
    measurement : Measurement
    info : dict
        ``status``, ``n_complete``, ``message``, ``chunk_steps``, ``dt_s``, ``metadata`` (dict).

    Raises
    ------
    MeasurementFileError
        Missing, unreadable or foreign file.
    """
    import h5py

    p = Path(path)
    if not p.is_file():
        raise MeasurementFileError(f"measurement file {str(p)!r} not found")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise MeasurementFileError(f"cannot read {str(p)!r} as HDF5: {exc}") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise MeasurementFileError(
                f"{str(p)!r} is not a {FORMAT} file (format={f.attrs.get('format')!r})")
        n = int(f.attrs["n_complete"])
        data = {k: f[k][:n] for k in _FIELDS}
        info = {"status": str(f.attrs["status"]), "n_complete": n, "message": str(f.attrs["message"]),
                "chunk_steps": int(f.attrs["chunk_steps"]), "dt_s": float(f.attrs["dt_s"]),
                "metadata": json.loads(f.attrs["metadata"])}
        names = {r: json.loads(f.attrs[f"{r}_names"]) for r in ("input", "output", "ground")}
    m = Measurement(**data, metadata={"dt_s": info["dt_s"], **{f"{r}_names": v for r, v in names.items()}})
    return m, info


def record(device: Device, voltages_V: Any, dt_s: float, path: str | Path, *, chunk_steps: int = 1024,
           force: bool = False, progress: Callable[[int, int], None] | None = None) -> Measurement:
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
    with MeasurementWriter.for_device(path, device, chunk_steps=chunk_steps, force=force) as w:
        for s in range(0, v.shape[0], chunk_steps):
            m = device.apply(v[s:s + chunk_steps], dt_s)
            w.append(m)
            w.flush()
            parts.append(m)
            if progress is not None:
                progress(s + m.n_steps, v.shape[0])
    log.info("recorded %d steps to %s", v.shape[0], path)
    return Measurement.concatenate(parts)

