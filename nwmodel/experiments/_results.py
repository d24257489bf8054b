"""The records of a comparison: one :class:`CellResult` per cell, a :class:`ComparisonResult` per run.

Also the two helpers every record goes through: :func:`jsonable` (numpy scalars and arrays, paths
and drive calibrations to plain JSON values) and :func:`fingerprint` (the resume key of a cell's
configuration).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CellResult", "ComparisonResult", "data_digest", "file_digest", "fingerprint", "jsonable"]


@dataclass(frozen=True)
class CellResult:
    """The outcome of one dataset x backend cell.

    Attributes
    ----------
    dataset, backend : str
    task : {"classification", "regression"}
    metric : {"accuracy", "rmse"}
    test_mean, test_std : float
        Mean and standard deviation of the test scores over seeds.
    test_scores : list of float
        One test score per seed.
    val_score : float
        Validation score of the selected configuration.
    best_params : dict
        The selected configuration.
    configs : list of dict
        Every configuration of the grid, in order.
    val_scores : list of float
        Validation score of every configuration (same order).
    n_seeds : int
    wall_time_s : float
        Wall time of the whole cell (selection + test) in seconds.
    fingerprint : str
        Hash of the cell's configuration (resume key).
    config : dict
        Grid name, the grid, dataset notes, device spec, sizes.
    inputs : dict of str to str or None
        SHA-256 digests of what the cell was computed from: ``data_sha256`` (the dataset's train
        and test arrays, :func:`data_digest`) and, for the physical backends, ``device_sha256``
        (the bytes of the device file; None for a generated device, which the device fields of
        the fingerprint fix). Part of the fingerprint; a stored cell is reused only when they
        match.
    """

    dataset: str
    backend: str
    task: str
    metric: str
    test_mean: float
    test_std: float
    test_scores: list[float]
    val_score: float
    best_params: dict[str, Any]
    configs: list[dict[str, Any]]
    val_scores: list[float]
    n_seeds: int
    wall_time_s: float
    fingerprint: str
    config: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        return jsonable(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CellResult:
        """Inverse of :meth:`to_json`."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class ComparisonResult:
    """All cells of a results directory, what ran now and what was resumed, and the output files.

    ``cells`` holds every stored cell (this run's in plan order, then earlier runs' cells), as the
    reports do, and ``baselines`` every stored baseline result in the same order; ``executed`` and
    ``skipped`` name this run's cells and baselines.
    """

    cells: list[CellResult]
    executed: list[str]
    skipped: list[str]
    paths: dict[str, str]
    baselines: list[CellResult] = field(default_factory=list)

    def baseline_table(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``dataset -> baseline -> {"metric", "test_mean", "test_std", "test_scores", "n_seeds"}``."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for b in self.baselines:
            out.setdefault(b.dataset, {})[b.backend] = {
                "metric": b.metric,
                "test_mean": b.test_mean,
                "test_std": b.test_std,
                "test_scores": b.test_scores,
                "n_seeds": b.n_seeds,
            }
        return out

    def table(self) -> list[dict[str, Any]]:
        """One row per cell: dataset, backend, metric, test_mean, test_std, n_seeds, wall_time_s."""
        keys = ("dataset", "backend", "metric", "test_mean", "test_std", "n_seeds", "wall_time_s")
        return [{**{k: getattr(c, k) for k in keys}, "best_params": c.best_params} for c in self.cells]


def jsonable(o: Any) -> Any:
    """``o`` with numpy values, tuples, paths and drive calibrations turned into plain JSON values."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "to_dict") and hasattr(o, "gain"):  # a DriveCalibration
        return jsonable(o.to_dict())
    return o


def fingerprint(obj: Any) -> str:
    """16 hex digits of the SHA-256 of ``obj`` as sorted JSON (the resume key of a cell)."""
    text = json.dumps(jsonable(obj), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_digest(data: Any) -> str:
    """SHA-256 (hex) of a dataset's ``X_train``, ``y_train``, ``X_test`` and ``y_test``.

    Each array contributes its dtype, shape and bytes (:func:`nwmodel.selection._journal.array_digest`);
    a missing split contributes ``"None"``. Two loads of the same files give the same digest; any
    changed value, label, length or dtype gives another.
    """
    from nwmodel.selection._journal import array_digest

    h = hashlib.sha256()
    for name in ("X_train", "y_train", "X_test", "y_test"):
        a = getattr(data, name, None)
        h.update(f"{name}:{'None' if a is None else array_digest(a)};".encode())
    return h.hexdigest()


def file_digest(path: str | Path) -> str:
    """SHA-256 (hex) of the bytes of the file ``path``, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
