"""The abstract-vs-physical comparison: dataset x backend cells under one protocol.

Each **cell** is one dataset and one backend; it runs :func:`nwmodel.select_and_test` (80/20
stratified selection split, ``n_seeds`` reservoirs per configuration, refit + test ``n_seeds``
times) with that backend's estimator and grid:

============  =================================================  ================================
backend       estimator                                          grid
============  =================================================  ================================
abstract      :class:`nwmodel.NWESNClassifier` / ``Regressor``   ``nwmodel.GRIDS["nwesn"]``
oracle        :class:`~nwmodel.physical.PhysicalReservoirClassifier` :data:`~nwmodel.mapping.PHYSICAL_GRIDS`
              with ``readout="oracle"``: the electrode readout
              plus :data:`ORACLE_PROBES` internal node voltages
              (simulation only)
simulated     the same with ``readout="electrodes"`` (what a     the same
              bench measures) over a
              :class:`~nwmodel.physical.SimulatedDeviceSpec`
emulated      the same over the SCPI emulator: each task serves   the same
              its own simulated device on 127.0.0.1 (a free
              port) and drives it through PyVISA
              (:class:`hardware.emulated.LocalEmulatedDevice`)
esn           :class:`nwmodel.ESNClassifier` (baseline)          ``nwmodel.GRIDS["esn"]``
============  =================================================  ================================

The physical backends calibrate the drive to the junction window
(:mod:`nwmodel.calibration`). The emulated backend uses the calibration measured on the simulated
device it serves (junction rule), so its features equal the simulated ones exactly and the two
columns differ only by the transport.

Outputs in the results directory (all written atomically: a temporary file + ``os.replace``):

* ``cells/<dataset>__<backend>.json``: one file per finished cell, written as soon as the cell
  finishes. Re-running the same command skips every cell whose file exists with the same
  configuration fingerprint (resume); a cell with a different fingerprint, or a cell file that
  is corrupt or truncated, is an :class:`~nwmodel.errors.ExperimentError` naming the file unless
  ``force`` (which recomputes the cell). Both are found before any cell runs.
* ``comparison.csv`` (one row per cell), ``comparison.md`` (mean +- std per dataset x backend and
  wall time per backend), ``comparison.png`` (scores per dataset, one bar per backend) and
  ``comparison.h5`` (every cell: configuration, selected parameters, validation score of every
  configuration, test scores), rebuilt after each run from every cell file of the directory, so a
  run over a subset of datasets or backends keeps the cells of earlier runs in the reports.

Placement baselines (``baselines=``, any of :data:`nwmodel.baselines.BASELINES`: majority class or
training mean, ridge on the raw series, MiniROCKET) run per dataset on the cells' (subsampled)
split with the same seeds and metric, without model selection (:func:`run_baseline_cell`). Each is
stored as ``baselines/<dataset>__<baseline>.json`` (a :class:`CellResult` whose ``backend`` is the
baseline's name; no grid: ``configs``, ``val_scores`` and ``best_params`` empty, ``val_score``
NaN), resumed and refused like a cell, and shown in ``comparison.md`` as extra columns after the
backends and in ``comparison.csv`` as extra rows; the plot and the HDF5 file hold the cells only.

Scale-out: model selection maps (configuration, seed) tasks through ``mapper``; with Dask pass
:func:`dask_mapper` of a ``distributed.Client`` (a ``LocalCluster`` or an existing scheduler).
Emulated tasks run in parallel too: every task starts its own emulator (one port each).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ExperimentError, ModelValidationError
from .mapping import PHYSICAL_GRIDS
from .physical import PhysicalReservoirClassifier, PhysicalReservoirRegressor, SimulatedDeviceSpec

__all__ = [
    "BACKENDS",
    "ORACLE_PROBES",
    "CellResult",
    "ComparisonResult",
    "dask_mapper",
    "load_baselines",
    "load_cells",
    "plot_comparison",
    "run_baseline_cell",
    "run_cell",
    "run_comparison",
    "table_markdown",
    "write_outputs",
]

#: Backends of a comparison, in table order (``esn`` is the baseline added by default).
BACKENDS: tuple[str, ...] = ("abstract", "oracle", "simulated", "emulated", "esn")

#: Internal nodes the ``oracle`` backend probes (at least; more if the device spec asks).
ORACLE_PROBES: int = 84

#: Backends that run on a physical (simulated or emulated) device.
_PHYSICAL = ("oracle", "simulated", "emulated")

#: Parameters of the physical grid that select the device rather than the estimator.
_DEVICE_KEYS = ("n_wires", "device_seed", "electrodes", "n_inputs")

Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]


# --------------------------------------------------------------------------- results


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

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        return _jsonable(dataclasses.asdict(self))

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
                "metric": b.metric, "test_mean": b.test_mean, "test_std": b.test_std,
                "test_scores": b.test_scores, "n_seeds": b.n_seeds,
            }
        return out

    def table(self) -> list[dict[str, Any]]:
        """One row per cell: dataset, backend, metric, test_mean, test_std, n_seeds, wall_time_s."""
        return [
            {"dataset": c.dataset, "backend": c.backend, "metric": c.metric, "test_mean": c.test_mean,
             "test_std": c.test_std, "n_seeds": c.n_seeds, "wall_time_s": c.wall_time_s,
             "best_params": c.best_params}
            for c in self.cells
        ]


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "to_dict") and hasattr(o, "gain"):  # a DriveCalibration
        return _jsonable(o.to_dict())
    return o


def _fingerprint(obj: Any) -> str:
    text = json.dumps(_jsonable(obj), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; move it onto ``path`` on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_json_atomic(path: Path, obj: Any) -> None:
    with _atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(obj), indent=1, sort_keys=True))


# --------------------------------------------------------------------------- mappers


def dask_mapper(client: Any) -> Mapper:
    """Return a ``mapper(fn, iterable) -> list`` that runs every call on a ``distributed.Client``.

    Results come back in input order, so a Dask run gives the same scores as a serial one.
    """

    def mapper(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        futures = client.map(fn, list(items), pure=False)
        return client.gather(futures)

    return mapper


# --------------------------------------------------------------------------- estimators


def _abstract_factory(model: str, task: str) -> Callable[[dict, int], Any]:
    from . import esn

    names = {("nwesn", "classification"): "NWESNClassifier", ("nwesn", "regression"): "NWESNRegressor",
             ("esn", "classification"): "ESNClassifier", ("esn", "regression"): "ESNRegressor"}
    cls = getattr(esn, names[(model, task)])
    return _MakeEstimator(cls, {}, None)


@dataclass(frozen=True)
class _MakeEstimator:
    """Picklable ``make_estimator(params, seed)`` for :func:`select_and_test`.

    ``device`` is a device factory (or a device); grid keys in ``_DEVICE_KEYS`` replace fields of
    a :class:`SimulatedDeviceSpec` device.
    """

    cls: type
    fixed: dict[str, Any]
    device: Any

    def __call__(self, params: dict[str, Any], seed: int) -> Any:
        params = dict(params)
        dev_over = {k: params.pop(k) for k in _DEVICE_KEYS if k in params}
        kwargs = {**self.fixed, **params, "random_state": seed}
        if self.device is not None:
            device = self.device
            if dev_over:
                if not isinstance(device, SimulatedDeviceSpec):
                    raise ExperimentError(
                        f"grid keys {sorted(dev_over)} select a simulated device, but the backend's "
                        f"device is {type(device).__name__}"
                    )
                device = dataclasses.replace(device, **dev_over)
            kwargs["device"] = device
        return self.cls(**kwargs)


def _grid_for(backend: str, grid: str, grids: dict[str, Any] | None) -> Any:
    if grids is not None and backend in grids:
        return grids[backend]
    if backend in _PHYSICAL:
        return PHYSICAL_GRIDS[grid]
    from .selection import GRIDS

    return GRIDS["nwesn" if backend == "abstract" else "esn"][grid]


def _grid_configs(grid: Any) -> list[dict[str, Any]]:
    from .selection import expand_grid

    return [dict(p) for p in expand_grid(grid)]


# --------------------------------------------------------------------------- one cell


def _subsample(
    X: np.ndarray, y: np.ndarray, n: int | None, task: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (stratified for classification) subsample of ``n`` cases; all when n is None or >= size."""
    if n is None or n >= X.shape[0]:
        return X, y
    from sklearn.model_selection import train_test_split

    strat = y if task == "classification" else None
    Xs, _, ys, _ = train_test_split(X, y, train_size=n, stratify=strat, random_state=seed)
    return Xs, ys


def _split(data: Any, max_train: int | None, max_test: int | None) -> tuple[np.ndarray, ...]:
    """The (subsampled) train and test arrays of a cell: the same for every backend and baseline."""
    if data.X_test is None or data.y_test is None:
        raise ExperimentError(f"dataset {data.name!r} has no test split; the comparison needs one")
    Xtr, ytr = _subsample(np.asarray(data.X_train), np.asarray(data.y_train), max_train, data.task, 0)
    Xte, yte = _subsample(np.asarray(data.X_test), np.asarray(data.y_test), max_test, data.task, 1)
    return Xtr, ytr, Xte, yte


def _load(dataset: Any, data_dir: str | os.PathLike[str] | None) -> Any:
    if isinstance(dataset, str):
        from .datasets import load_dataset

        return load_dataset(dataset, data_dir=data_dir)
    for attr in ("X_train", "y_train", "X_test", "y_test", "task", "name"):
        if not hasattr(dataset, attr):
            raise ModelValidationError(
                f"datasets must hold dataset names or Dataset objects, got {type(dataset).__name__} "
                f"without .{attr}"
            )
    return dataset


@dataclass(frozen=True)
class _EmulatedFactory:
    """Zero-argument factory: a :class:`hardware.emulated.LocalEmulatedDevice` serving ``spec()``."""

    spec: SimulatedDeviceSpec

    def __call__(self) -> Any:
        from hardware.emulated import LocalEmulatedDevice

        return LocalEmulatedDevice(self.spec)


def run_cell(
    dataset: Any,
    backend: str,
    *,
    grid: str = "quick",
    grids: dict[str, Any] | None = None,
    n_seeds: int = 5,
    data_dir: str | os.PathLike[str] | None = None,
    device: SimulatedDeviceSpec | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    mapper: Mapper | None = None,
    progress: bool = False,
    fingerprint: str = "",
) -> CellResult:
    """Run model selection and test for one dataset x backend cell.

    Parameters
    ----------
    dataset : str or Dataset
        A name for :func:`nwmodel.load_dataset` or a loaded dataset.
    backend : {"abstract", "simulated", "emulated", "esn"}
    grid : {"quick", "paper"}
        Which grid of the backend (``grids`` overrides per backend).
    grids : dict, optional
        ``backend -> grid`` (a dict of lists or a list of dicts) replacing the defaults.
    n_seeds : int
        Reservoirs per configuration and test repetitions.
    data_dir : path, optional
        Data folder for dataset names.
    device : SimulatedDeviceSpec, optional
        Device of the physical backends (default ``SimulatedDeviceSpec()``).
    max_train, max_test : int, optional
        Seeded stratified subsample of the splits (for demos and tests); None = all.
    mapper : callable, optional
        Map-like callable for the (configuration, seed) tasks (e.g. :func:`dask_mapper`);
        ignored by the emulated backend (serial, in this process).
    progress : bool
        Progress bar of the model selection.
    fingerprint : str
        Stored with the result (resume key).
    """
    from .selection import select_and_test

    if backend not in BACKENDS:
        raise ModelValidationError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    data = _load(dataset, data_dir)
    task = data.task
    Xtr, ytr, Xte, yte = _split(data, max_train, max_test)
    g = _grid_for(backend, grid, grids)
    configs = _grid_configs(g)
    spec = device if device is not None else SimulatedDeviceSpec()
    t0 = time.perf_counter()
    calibration = None
    if backend in ("abstract", "esn"):
        make = _abstract_factory("nwesn" if backend == "abstract" else "esn", task)
    else:
        cls = PhysicalReservoirClassifier if task == "classification" else PhysicalReservoirRegressor
        from .calibration import DriveCalibration, calibrate_drive

        fixed: dict[str, Any] = {}
        factory: Any = spec
        if backend == "oracle":
            factory = dataclasses.replace(spec, n_probe=max(spec.n_probe, ORACLE_PROBES))
            fixed["readout"] = "oracle"
        given = [c["calibration"] for c in configs if isinstance(c.get("calibration"), DriveCalibration)]
        if given and len(given) == len(configs) and all(c == given[0] for c in given):
            calibration = given[0]  # fixed by the grid (e.g. a compliance-scaled calibration)
        else:
            served = spec()
            try:  # the drive calibration of the cell's device (junction rule), for the record
                calibration = calibrate_drive(served, rule="junction")
            finally:
                served.close()
        if backend == "emulated":
            if any(k in _DEVICE_KEYS for c in configs for k in c):
                raise ExperimentError(
                    "the emulated backend serves one fixed device; remove device keys "
                    f"{list(_DEVICE_KEYS)} from its grid"
                )
            fixed["calibration"] = calibration  # measured on the device the emulator serves
            factory = _EmulatedFactory(spec)
        make = _MakeEstimator(cls, fixed, factory)
    sel = select_and_test(make, g, Xtr, ytr, Xte, yte, task=task, n_seeds=n_seeds,
                          mapper=mapper, progress=progress)
    wall = time.perf_counter() - t0
    val_scores = [float(v) for _, v in sel.val_scores]
    config = {
        "grid": grid, "grid_values": g, "n_train": int(Xtr.shape[0]), "n_test": int(Xte.shape[0]),
        "n_timepoints": int(Xtr.shape[-1]), "dataset_notes": getattr(data, "notes", ""),
        "device": dataclasses.asdict(spec) if backend in _PHYSICAL else None,
        "failures": [{"params": p, "error": e} for p, e in getattr(sel, "failures", [])],
        "selection_notes": getattr(sel, "notes", ""),
        "calibration": None if calibration is None else calibration.to_dict(),
    }
    return CellResult(
        dataset=str(data.name), backend=backend, task=task, metric=str(sel.metric),
        test_mean=float(sel.test_mean), test_std=float(sel.test_std),
        test_scores=[float(s) for s in sel.test_scores], val_score=float(sel.val_score),
        best_params=_jsonable(dict(sel.best_params)), configs=_jsonable(configs), val_scores=val_scores,
        n_seeds=int(n_seeds), wall_time_s=float(wall), fingerprint=fingerprint, config=_jsonable(config),
    )


def run_baseline_cell(
    dataset: Any,
    baseline: str,
    *,
    n_seeds: int = 5,
    data_dir: str | os.PathLike[str] | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    fingerprint: str = "",
) -> CellResult:
    """Run one placement baseline on a dataset's cell split (see :func:`nwmodel.baselines.run_baselines`).

    Parameters
    ----------
    dataset : str or Dataset
        A name for :func:`nwmodel.load_dataset` or a loaded dataset.
    baseline : {"majority", "ridge", "minirocket"}
    n_seeds : int
        Test repetitions (seeds ``0 .. n_seeds-1``), as the cells'.
    data_dir, max_train, max_test
        As :func:`run_cell`: the same subsample as every cell of the dataset.
    fingerprint : str
        Stored with the result (resume key).

    Returns
    -------
    CellResult
        ``backend`` is the baseline's name; ``configs``, ``val_scores`` and ``best_params`` are
        empty and ``val_score`` is NaN (a baseline selects nothing on the validation split).
    """
    from .baselines import run_baselines

    data = _load(dataset, data_dir)
    Xtr, ytr, Xte, yte = _split(data, max_train, max_test)
    t0 = time.perf_counter()
    r = run_baselines(Xtr, ytr, Xte, yte, task=data.task, names=[baseline], n_seeds=n_seeds)[baseline]
    config = {"n_train": int(Xtr.shape[0]), "n_test": int(Xte.shape[0]),
              "n_timepoints": int(Xtr.shape[-1]), "dataset_notes": getattr(data, "notes", "")}
    return CellResult(
        dataset=str(data.name), backend=baseline, task=data.task, metric=str(r["metric"]),
        test_mean=float(r["test_mean"]), test_std=float(r["test_std"]),
        test_scores=[float(v) for v in r["test_scores"]], val_score=float("nan"), best_params={},
        configs=[], val_scores=[], n_seeds=int(n_seeds), wall_time_s=time.perf_counter() - t0,
        fingerprint=fingerprint, config=_jsonable(config),
    )


# --------------------------------------------------------------------------- the comparison


def _cell_key(dataset: str, backend: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    return f"{safe}__{backend}"


def _read_cell_file(path: Path) -> dict[str, Any]:
    """The JSON object of a cell file; :class:`ExperimentError` naming it when corrupt or truncated."""
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    else:
        fields = {f.name for f in dataclasses.fields(CellResult) if f.default is dataclasses.MISSING
                  and f.default_factory is dataclasses.MISSING}
        if isinstance(obj, dict) and fields <= set(obj):
            return obj
        why = "not a cell record" if not isinstance(obj, dict) else \
            f"fields {sorted(fields - set(obj))} missing"
    raise ExperimentError(
        f"cell file {str(path)!r} is corrupt or truncated ({why}); rerun its cell with --force to "
        "recompute it, or delete the file"
    )


def load_cells(out_dir: str | os.PathLike[str], *, folder: str = "cells") -> list[CellResult]:
    """Read every finished cell of a results directory (sorted by file name).

    ``folder="baselines"`` reads the stored baseline results instead (:func:`load_baselines`).

    Raises
    ------
    ExperimentError
        A cell file is corrupt or truncated (not JSON, or not a cell record); the message names it.
    """
    where = Path(out_dir) / folder
    if not where.is_dir():
        return []
    return [CellResult.from_json(_read_cell_file(p)) for p in sorted(where.glob("*.json"))]


def load_baselines(out_dir: str | os.PathLike[str]) -> list[CellResult]:
    """Read every stored baseline result of a results directory (sorted by file name)."""
    return load_cells(out_dir, folder="baselines")


def _resumable(path: Path, fp: str, key: str, force: bool) -> bool:
    """True when ``path`` holds the finished cell ``key`` of fingerprint ``fp`` (skip it).

    False when it must run: no file, or (with ``force``) a different or unreadable one; without
    ``force`` those raise :class:`ExperimentError`.
    """
    if not path.exists():
        return False
    try:
        stored = _read_cell_file(path)
    except ExperimentError:
        if not force:
            raise
        stored = {}
    if stored.get("fingerprint") == fp:
        return True
    if stored and not force:
        raise ExperimentError(
            f"{str(path)!r} holds cell {key} of a different configuration; use another "
            "output directory or --force to rerun it"
        )
    return False


def run_comparison(
    datasets: Sequence[Any],
    backends: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    grid: str = "quick",
    grids: dict[str, Any] | None = None,
    n_seeds: int = 5,
    include_esn: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    device: SimulatedDeviceSpec | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    mapper: Mapper | None = None,
    progress: bool = True,
    force: bool = False,
    write: bool = True,
    baselines: Sequence[str] = (),
) -> ComparisonResult:
    """Run (or resume) every dataset x backend cell and write the tables, plot and HDF5 file.

    Parameters
    ----------
    datasets : sequence of str or Dataset
        Dataset names (:func:`nwmodel.load_dataset`) or loaded datasets.
    backends : sequence of str
        Any of ``abstract, simulated, emulated`` (and ``esn``); the ESN baseline is added when
        ``include_esn``.
    out_dir : path
        Results directory (created).
    grid, grids, n_seeds, data_dir, device, max_train, max_test, mapper
        As :func:`run_cell`.
    progress : bool
        Progress bars (cells, and model selection inside each cell).
    force : bool
        Rerun cells whose stored fingerprint differs, or whose file is corrupt or truncated,
        instead of raising.
    write : bool
        Write ``comparison.{csv,md,png,h5}`` at the end, over every cell stored in ``out_dir``.
    baselines : sequence of {"majority", "ridge", "minirocket"}
        Placement baselines to run per dataset (:func:`run_baseline_cell`); default none.

    Returns
    -------
    ComparisonResult
        ``executed`` lists the cells (and baselines) run now, ``skipped`` those resumed from their
        files; ``cells`` every stored cell, ``baselines`` every stored baseline result.

    Raises
    ------
    ExperimentError
        Before any cell runs: a stored cell of this run has a different configuration, or a cell
        file is corrupt or truncated (without ``force``; a corrupt file of a cell outside this
        run is refused even with ``force``).
    """
    from ._checks import check_choice, check_int

    check_choice("grid", grid, ("quick", "paper"))
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    backends = list(dict.fromkeys(backends))
    for b in backends:
        check_choice("backend", b, BACKENDS)
    if include_esn and "esn" not in backends:
        backends.append("esn")
    from .baselines import BASELINES

    baselines = list(dict.fromkeys([baselines] if isinstance(baselines, str) else baselines))
    for n in baselines:
        check_choice("baseline", n, BASELINES)
    if not datasets:
        raise ModelValidationError("datasets must name at least one dataset, got none")
    out = Path(out_dir)
    spec = device if device is not None else SimulatedDeviceSpec()
    plan = [(d, b) for d in datasets for b in backends]
    bplan = [(d, n) for d in datasets for n in baselines]
    # Preflight, before any cell runs: the cells (and baselines) to run now, resume or refuse, and
    # every stored cell file readable (the reports cover them all).
    todo: list[tuple[Any, str, str, str, str]] = []  # (dataset, backend, key, fingerprint, folder)
    skipped: list[str] = []
    for folder, pairs in (("cells", plan), ("baselines", bplan)):
        for d, b in pairs:
            name = d if isinstance(d, str) else str(d.name)
            key = _cell_key(name, b)
            if folder == "cells":
                fp = _fingerprint({
                    "dataset": name, "backend": b, "grid": grid,
                    "grid_values": _grid_for(b, grid, grids), "n_seeds": n_seeds,
                    "device": dataclasses.asdict(spec) if b in _PHYSICAL else None,
                    "max_train": max_train, "max_test": max_test,
                })
            else:
                fp = _fingerprint({"dataset": name, "baseline": b, "n_seeds": n_seeds,
                                   "max_train": max_train, "max_test": max_test})
            if _resumable(out / folder / f"{key}.json", fp, key, force):
                skipped.append(key)
            else:
                todo.append((d, b, key, fp, folder))
    keys = [_cell_key(d if isinstance(d, str) else str(d.name), b) for d, b in plan]
    bkeys = [_cell_key(d if isinstance(d, str) else str(d.name), b) for d, b in bplan]
    for folder, known in (("cells", keys), ("baselines", bkeys)):
        for p in sorted((out / folder).glob("*.json")):
            if p.stem not in known:
                _read_cell_file(p)
    executed: list[str] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan) + len(bplan), initial=len(skipped), desc="cells", unit="cell")
    try:
        for d, b, key, fp, folder in todo:
            if bar is not None:
                bar.set_postfix_str(key)
            if folder == "cells":
                res = run_cell(d, b, grid=grid, grids=grids, n_seeds=n_seeds, data_dir=data_dir,
                               device=spec, max_train=max_train, max_test=max_test, mapper=mapper,
                               progress=progress, fingerprint=fp)
            else:
                res = run_baseline_cell(d, b, n_seeds=n_seeds, data_dir=data_dir, max_train=max_train,
                                        max_test=max_test, fingerprint=fp)
            _write_json_atomic(out / folder / f"{key}.json", res.to_json())
            executed.append(key)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    # The reports list every stored cell: this run's in plan order, then those of earlier runs
    # (other datasets or backends) in file-name order.
    order = {k: i for i, k in enumerate(keys + bkeys)}
    cells = load_cells(out)
    cells.sort(key=lambda c: order.get(_cell_key(c.dataset, c.backend), len(order)))
    stored_baselines = load_baselines(out)
    stored_baselines.sort(key=lambda c: order.get(_cell_key(c.dataset, c.backend), len(order)))
    paths = write_outputs(cells, out, baselines=stored_baselines) if write else {}
    return ComparisonResult(cells=cells, executed=executed, skipped=skipped, paths=paths,
                            baselines=stored_baselines)


# --------------------------------------------------------------------------- outputs


def _fmt(c: CellResult) -> str:
    return f"{c.test_mean:.3f} ± {c.test_std:.3f}"


def table_markdown(cells: Sequence[CellResult], baselines: Sequence[CellResult] = ()) -> str:
    """Markdown tables: test score (mean ± std) per dataset x backend, then wall time per cell.

    ``baselines`` (results of :func:`run_baseline_cell`) add one column per baseline after the
    backends, in :data:`nwmodel.baselines.BASELINES` order.
    """
    from .baselines import BASELINES

    backends = [b for b in BACKENDS if any(c.backend == b for c in cells)]
    backends += [b for b in BASELINES if any(c.backend == b for c in baselines)]
    cells = [*cells, *baselines]
    datasets = list(dict.fromkeys(c.dataset for c in cells))
    by = {(c.dataset, c.backend): c for c in cells}
    lines = ["| dataset | metric | " + " | ".join(backends) + " |",
             "|---|---|" + "---|" * len(backends)]
    for d in datasets:
        metric = next(c.metric for c in cells if c.dataset == d)
        arrow = "↑" if metric == "accuracy" else "↓"
        row = [_fmt(by[(d, b)]) if (d, b) in by else "-" for b in backends]
        lines.append(f"| {d} | {metric} {arrow} | " + " | ".join(row) + " |")
    lines += ["", "Wall time per cell (s, selection + test):", "",
              "| dataset | " + " | ".join(backends) + " |", "|---|" + "---|" * len(backends)]
    for d in datasets:
        row = [f"{by[(d, b)].wall_time_s:.1f}" if (d, b) in by else "-" for b in backends]
        lines.append(f"| {d} | " + " | ".join(row) + " |")
    seeds = sorted({c.n_seeds for c in cells})
    lines += ["", f"Mean ± std over {', '.join(map(str, seeds))} seed(s) of the selected configuration "
              "(80/20 stratified selection split, random_state 42)."]
    if baselines:
        names = ", ".join(b for b in BASELINES if any(c.backend == b for c in baselines))
        lines += [f"Baselines ({names}): fitted on the whole training split with the same seeds, no "
                  "selection; majority and ridge are deterministic (std 0)."]
    return "\n".join(lines) + "\n"


def _write_csv(cells: Sequence[CellResult], path: Path) -> None:
    import csv

    with _atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["dataset", "backend", "metric", "test_mean", "test_std", "n_seeds", "val_score",
                    "wall_time_s", "best_params", "test_scores"])
        for c in cells:
            w.writerow([c.dataset, c.backend, c.metric, repr(c.test_mean), repr(c.test_std), c.n_seeds,
                        repr(c.val_score), f"{c.wall_time_s:.3f}", json.dumps(c.best_params, sort_keys=True),
                        json.dumps(c.test_scores)])


def _write_hdf5(cells: Sequence[CellResult], path: Path) -> None:
    import h5py

    with _atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "nwhil-comparison"
            f.attrs["format_version"] = 1
            for c in cells:
                g = f.create_group(_cell_key(c.dataset, c.backend))
                for name in ("dataset", "backend", "task", "metric", "fingerprint"):
                    g.attrs[name] = getattr(c, name)
                for name in ("test_mean", "test_std", "val_score", "wall_time_s"):
                    g.attrs[name] = float(getattr(c, name))
                g.attrs["n_seeds"] = int(c.n_seeds)
                g.attrs["best_params"] = json.dumps(c.best_params, sort_keys=True)
                g.attrs["config"] = json.dumps(c.config, sort_keys=True, default=repr)
                g.create_dataset("test_scores", data=np.asarray(c.test_scores, dtype=float))
                g.create_dataset("val_scores", data=np.asarray(c.val_scores, dtype=float))
                g.create_dataset("configs", data=np.array([json.dumps(p, sort_keys=True) for p in c.configs],
                                                          dtype=h5py.string_dtype()))


def plot_comparison(cells: Sequence[CellResult], path: str | os.PathLike[str] | None = None) -> Any:
    """Bar chart of test scores (mean ± std) per dataset, one bar per backend; returns the Figure."""
    from matplotlib.figure import Figure

    datasets = list(dict.fromkeys(c.dataset for c in cells))
    backends = [b for b in BACKENDS if any(c.backend == b for c in cells)]
    by = {(c.dataset, c.backend): c for c in cells}
    fig = Figure(figsize=(3.2 * max(1, len(datasets)), 3.4), layout="constrained")
    axes = fig.subplots(1, max(1, len(datasets)), squeeze=False)[0]
    for ax, d in zip(axes, datasets, strict=True):
        xs = [i for i, b in enumerate(backends) if (d, b) in by]
        means = [by[(d, backends[i])].test_mean for i in xs]
        stds = [by[(d, backends[i])].test_std for i in xs]
        ax.bar(xs, means, yerr=stds, capsize=3, color=[f"C{i}" for i in xs])
        ax.set_xticks(range(len(backends)), backends, rotation=30)
        metric = next(c.metric for c in cells if c.dataset == d)
        ax.set_title(d)
        ax.set_ylabel(f"test {metric}")
    if path is not None:
        with _atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    return fig


def write_outputs(
    cells: Sequence[CellResult], out_dir: str | os.PathLike[str], *, baselines: Sequence[CellResult] = ()
) -> dict[str, str]:
    """Write ``comparison.{csv,md,png,h5}`` for ``cells``; return their paths by kind.

    ``baselines`` are added to the CSV (rows after the cells) and the markdown (columns).
    """
    out = Path(out_dir)
    paths = {"csv": out / "comparison.csv", "markdown": out / "comparison.md", "plot": out / "comparison.png",
             "hdf5": out / "comparison.h5"}
    _write_csv([*cells, *baselines], paths["csv"])
    with _atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(table_markdown(cells, baselines))
    if cells:
        plot_comparison(cells, paths["plot"])
    _write_hdf5(cells, paths["hdf5"])
    return {k: str(v) for k, v in paths.items()}
