"""HDF5 run files: simulation records streamed in chunks, with a checkpoint to resume from.

Layout (format ``"nwhil-run"``, version 1)
-----------------------------------------
root attrs
    ``format``, ``format_version``, ``package_version``, ``complete`` (bool), ``status``,
    ``message``, ``wall_time_s``, ``n_steps``, ``nfev`` and the run parameters in ``params_json``
    (method, dt_s, duration_s, record_every, chunk_records, drive spec, junction model + params,
    electrode names, driven electrodes, recorded nodes, device path when known).
datasets (first axis = records, resizable, chunked)
    ``t_s`` (n_rec,), ``g`` (n_rec, n_junctions), ``electrode_current_A`` (n_rec, n_electrodes),
    ``electrode_voltage_V`` (n_rec, n_electrodes), optional ``node_voltage_V`` (n_rec, n_probe)
    and ``record_nodes`` (n_probe,).
group ``checkpoint``
    attrs ``rows`` (records known good), ``step`` (next fixed step to compute), ``t_s``;
    dataset ``state`` (n_junctions,): the junction state at ``step``.

Writes happen in this order: records, flush, then the checkpoint, flush. A run killed between the
two leaves extra rows beyond ``checkpoint.rows``; resuming truncates them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._hdf5 import open_for_reading
from .errors import DeviceFileError

__all__ = ["RUN_FORMAT", "RunWriter", "read_run"]

RUN_FORMAT = "nwhil-run"
RUN_FORMAT_VERSION = 1
_DATASETS = ("t_s", "g", "electrode_current_A", "electrode_voltage_V", "node_voltage_V")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("nanowire-hil")
    except Exception:  # pragma: no cover - not installed
        return "0+unknown"


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o).__name__)


class RunWriter:
    """Append-only writer of a run file (create a new file or reopen one to resume).

    Parameters
    ----------
    path : path-like
        The run file.
    params : dict
        Run parameters (JSON-serialisable); on resume they must equal the stored ones.
    n_junctions, n_electrodes, n_probe : int
        Widths of the record datasets (``n_probe = 0``: no node voltages).
    resume : bool
        Reopen an incomplete file and continue from its checkpoint.
    force : bool
        Overwrite an existing file when not resuming.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        params: dict[str, Any],
        n_junctions: int,
        n_electrodes: int,
        n_probe: int,
        resume: bool = False,
        force: bool = False,
    ) -> None:
        import h5py

        self.path = Path(path)
        self._params_json = json.dumps(params, sort_keys=True, default=_jsonable)
        self.checkpoint: tuple[int, int, float, np.ndarray] | None = None
        if resume and self.path.exists():
            self._f = self._open_resume(h5py)
            return
        if self.path.exists() and not force:
            raise DeviceFileError(
                f"run file {str(self.path)!r} exists; pass force=True (--force) to overwrite "
                "or resume=True (--resume) to continue it"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = h5py.File(self.path, "w")
        f.attrs.update(
            {
                "format": RUN_FORMAT,
                "format_version": RUN_FORMAT_VERSION,
                "package_version": _version(),
                "complete": False,
                "status": -2,
                "message": "running",
                "params_json": self._params_json,
            }
        )
        rows = max(1, min(256, int(params.get("chunk_records", 256))))
        for name, width in (
            ("g", n_junctions),
            ("electrode_current_A", n_electrodes),
            ("electrode_voltage_V", n_electrodes),
            ("node_voltage_V", n_probe),
        ):
            if name == "node_voltage_V" and n_probe == 0:
                continue
            f.create_dataset(
                name, shape=(0, width), maxshape=(None, width), dtype="f8", chunks=(rows, max(1, width))
            )
        f.create_dataset("t_s", shape=(0,), maxshape=(None,), dtype="f8", chunks=(max(rows, 64),))
        f.create_group("checkpoint")
        self._f = f

    def _open_resume(self, h5py: Any) -> Any:
        try:
            f = h5py.File(self.path, "a")
        except OSError as exc:
            raise DeviceFileError(
                f"cannot resume {str(self.path)!r}: not a readable HDF5 file ({exc})"
            ) from None
        if f.attrs.get("format") != RUN_FORMAT:
            f.close()
            raise DeviceFileError(f"cannot resume {str(self.path)!r}: not an nwhil run file")
        if bool(f.attrs.get("complete", False)):
            f.close()
            raise DeviceFileError(f"cannot resume {str(self.path)!r}: the run is already complete")
        stored = f.attrs.get("params_json", "")
        if stored != self._params_json:
            f.close()
            raise DeviceFileError(
                f"cannot resume {str(self.path)!r}: it was started with different "
                "parameters (device, drive, method, dt, duration or model)"
            )
        ck = f["checkpoint"]
        if "state" in ck:
            rows = int(ck.attrs["rows"])
            for name in _DATASETS:
                if name in f and f[name].shape[0] > rows:
                    f[name].resize(rows, axis=0)
            self.checkpoint = (rows, int(ck.attrs["step"]), float(ck.attrs["t_s"]), ck["state"][...])
        else:
            for name in _DATASETS:
                if name in f:
                    f[name].resize(0, axis=0)
        return f

    def append(self, records: dict[str, np.ndarray]) -> None:
        """Append record rows (every dataset of the file must be given, same number of rows)."""
        n = int(np.asarray(records["t_s"]).shape[0])
        for name in _DATASETS:
            if name not in self._f:
                continue
            ds = self._f[name]
            r0 = ds.shape[0]
            ds.resize(r0 + n, axis=0)
            ds[r0 : r0 + n] = records[name]
        self._f.flush()

    def write_checkpoint(self, *, rows: int, step: int, t_s: float, state: np.ndarray) -> None:
        """Record that ``rows`` records are complete and the state at fixed step ``step`` is ``state``."""
        ck = self._f["checkpoint"]
        if "state" in ck:
            ck["state"][...] = state
        else:
            ck.create_dataset("state", data=state)
        ck.attrs.update({"rows": int(rows), "step": int(step), "t_s": float(t_s)})
        self._f.flush()

    def set_record_nodes(self, nodes: np.ndarray) -> None:
        """Store the node indices recorded in ``node_voltage_V``."""
        if "record_nodes" not in self._f:
            self._f.create_dataset("record_nodes", data=np.asarray(nodes, dtype=np.int64))

    def finish(self, *, status: int, message: str, wall_time_s: float, n_steps: int, nfev: int) -> None:
        """Mark the run complete (status 0) or stopped, and close the file."""
        self._f.attrs.update(
            {
                "complete": status == 0,
                "status": int(status),
                "message": message,
                "wall_time_s": float(wall_time_s),
                "n_steps": int(n_steps),
                "nfev": int(nfev),
            }
        )
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._f is not None and self._f.id.valid:
            self._f.flush()
            self._f.close()

    def read_arrays(self) -> dict[str, np.ndarray]:
        """Read back every record dataset (used to build the in-memory result)."""
        return {name: self._f[name][...] for name in _DATASETS if name in self._f}


def read_run(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a run file into a dict of arrays plus ``params`` and the root attributes.

    Raises
    ------
    DeviceFileError
        If the file is missing, not HDF5, or not an nwhil run file.
    """
    p = Path(path)
    with open_for_reading(p, "run file") as f:
        if f.attrs.get("format") != RUN_FORMAT:
            raise DeviceFileError(
                f"{str(p)!r} is not an nwhil run file (format attribute {f.attrs.get('format')!r})"
            )
        out: dict[str, Any] = {name: f[name][...] for name in _DATASETS if name in f}
        if "record_nodes" in f:
            out["record_nodes"] = f["record_nodes"][...]
        out["params"] = json.loads(f.attrs["params_json"])
        for k in ("complete", "status", "message", "wall_time_s", "n_steps", "nfev", "package_version"):
            if k in f.attrs:
                v = f.attrs[k]
                out[k] = v.item() if isinstance(v, np.generic) else v
        if "checkpoint" in f and "rows" in f["checkpoint"].attrs:
            out["checkpoint_rows"] = int(f["checkpoint"].attrs["rows"])
    return out
