"""The abstract-vs-physical comparison: dataset x backend cells under one protocol.

Each **cell** is one dataset and one backend; it runs :func:`nwmodel.select_and_test` (80/20
stratified selection split, ``n_seeds`` reservoirs per configuration, refit + test ``n_seeds``
times) with that backend's estimator and grid:

============  =================================================  ================================
backend       estimator                                          grid
============  =================================================  ================================
abstract      :class:`nwmodel.NWESNClassifier` / ``Regressor``   ``nwmodel.GRIDS["nwesn"]``
oracle        :class:`~nwmodel.PhysicalReservoirClassifier`      :data:`~nwmodel.PHYSICAL_GRIDS`
              with ``readout="oracle"``: the electrode readout
              plus :data:`ORACLE_PROBES` internal node voltages
              (simulation only)
simulated     the same with ``readout="electrodes"`` (what a     the same
              bench measures) over a
              :class:`~nwmodel.physical.reservoir.SimulatedDeviceSpec`
emulated      the same over the SCPI emulator: each task serves   the same
              its own simulated device on 127.0.0.1 (a free
              port) and drives it through PyVISA
              (:class:`hardware.backends.emulated.LocalEmulatedDevice`)
esn           :class:`nwmodel.ESNClassifier` (baseline)          ``nwmodel.GRIDS["esn"]``
============  =================================================  ================================

The physical backends calibrate the drive to the junction window
(:mod:`nwmodel.physical.calibration`): a cell measures the calibration of each of its devices once
(junction rule, on a fresh simulated device) and gives it to every fit on that device. The
emulated backend uses the calibration measured on the simulated device it serves, so its features
equal the simulated ones exactly and the two columns differ only by the transport.

Outputs in the results directory (all written atomically: a temporary file + ``os.replace``):

* ``cells/<dataset>__<backend>.json``: one file per finished cell, written as soon as the cell
  finishes. Re-running the same command skips every cell whose file exists with the same
  configuration fingerprint (resume); a cell with a different fingerprint, or a cell file that
  is corrupt or truncated, is an :class:`~nwmodel.errors.ExperimentError` naming the file unless
  ``force`` (which recomputes the cell). Both are found before any cell runs.
* ``features/``: the raw readings of the ``oracle`` and ``simulated`` cells
  (:mod:`nwmodel.physical._feature_store`), so that each series is integrated once per device and fitted
  encoding: the two backends read the same integration and the refit of the selected
  configuration reuses the selection's. Stored readings are returned bit for bit; the emulated
  backend always drives its instrument. Dask workers on other machines reuse them only through a
  shared file system. ``force`` deletes the folder before it recomputes a physical cell, so that
  recomputed cells integrate again.
* ``comparison.csv`` (one row per cell), ``comparison.md`` (mean +- std per dataset x backend and
  wall time per backend), ``comparison.png`` (scores per dataset, one bar per backend) and
  ``comparison.h5`` (every cell: configuration, selected parameters, validation score of every
  configuration, test scores), rebuilt after each run from every cell file of the directory, so a
  run over a subset of datasets or backends keeps the cells of earlier runs in the reports.

Placement baselines (``baselines=``, any of :data:`nwmodel.models.baselines.BASELINES`: majority class or
training mean, ridge on the raw series, MiniROCKET) run per dataset on the cells' (subsampled)
split with the same seeds and metric, without model selection (:func:`run_baseline_cell`). Each is
stored as ``baselines/<dataset>__<baseline>.json`` (a :class:`CellResult` whose ``backend`` is the
baseline's name; no grid: ``configs``, ``val_scores`` and ``best_params`` empty, ``val_score``
NaN), resumed and refused like a cell, and shown in ``comparison.md`` as extra columns after the
backends and in ``comparison.csv`` as extra rows; the plot and the HDF5 file hold the cells only.

Scale-out: model selection maps (configuration, seed) tasks through ``mapper``; with Dask pass
:func:`dask_mapper` of a ``distributed.Client`` (a ``LocalCluster`` or an existing scheduler).
Emulated tasks run in parallel too: every task starts its own emulator (one port each).

This module holds the entry points; the work is split by job: backend dispatch and grids
(:mod:`nwmodel.experiments._backends`), the devices of the physical backends and the emulator per task
(:mod:`nwmodel.experiments._devices`), the cell records (:mod:`nwmodel.experiments._results`), the cell
store with resume and the HDF5 file (:mod:`nwmodel.experiments._store`) and the reports
(:mod:`nwmodel.experiments._reports`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nwmodel.errors import ExperimentError, ModelValidationError
from nwmodel.experiments._backends import (
    BACKENDS,
    ORACLE_PROBES,
    PHYSICAL,
    build_estimator,
    grid_configs,
    grid_for,
)
from nwmodel.experiments._preflight import check_device, check_device_drive, check_subsample_sizes
from nwmodel.experiments._reports import plot_comparison, table_markdown, write_outputs
from nwmodel.experiments._results import CellResult, ComparisonResult, data_digest, jsonable
from nwmodel.experiments._results import fingerprint as cell_fingerprint
from nwmodel.experiments._store import (
    Entry,
    cell_key,
    load_baselines,
    load_cells,
    load_ordered,
    plan,
    write_json_atomic,
)
from nwmodel.physical.reservoir import SimulatedDeviceSpec

__all__ = [
    "BACKENDS",
    "LOCAL_WORKER_ENVIRON",
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

Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]

#: Dask's default environment of a new worker process, less glibc's malloc trim threshold
#: (Dask sets 65536): any fixed trim threshold turns off glibc's dynamic mmap threshold, so every
#: allocation of 128 KiB or more (each per-step tensor of a stacked NW-RNN fit) is mapped from the
#: system and unmapped when freed, one page fault per 4 KiB page touched; a stacked SyntheticControl
#: fit spent about 40 % of its worker's time in the kernel with it. A value set in the shell
#: still reaches the workers, which inherit it.
LOCAL_WORKER_ENVIRON = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def dask_mapper(client: Any) -> Mapper:
    """Return a ``mapper(fn, iterable) -> iterator`` that runs every call on a ``distributed.Client``.

    Every call is submitted at once; results are yielded in input order, each as soon as it and
    the ones before it are done (so a journaled selection records them while the rest run), and a
    Dask run gives the same scores as a serial one. Abandoning the iterator (an error, Ctrl-C)
    cancels the calls not yet done. Create a ``LocalCluster`` of NW-RNN/RNN fits inside
    ``dask.config.set(LOCAL_WORKER_ENVIRON)``, as the CLI does.
    """

    def mapper(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        futures = client.map(fn, list(items), pure=False)

        def results() -> Iterator[Any]:
            try:
                for f in futures:
                    yield f.result()
            finally:
                client.cancel(futures)

        return results()

    return mapper


# --------------------------------------------------------------------------- the data of a cell


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


def _load(dataset: Any, data_dir: str | os.PathLike[str] | None) -> Any:
    if isinstance(dataset, str):
        from nwmodel.data.datasets import load_dataset

        return load_dataset(dataset, data_dir=data_dir)
    for attr in ("X_train", "y_train", "X_test", "y_test", "task", "name"):
        if not hasattr(dataset, attr):
            raise ModelValidationError(
                f"datasets must hold dataset names or Dataset objects, got {type(dataset).__name__} "
                f"without .{attr}"
            )
    return dataset


def _cell_data(
    dataset: Any, data_dir: str | os.PathLike[str] | None, max_train: int | None, max_test: int | None
) -> tuple[Any, tuple[np.ndarray, ...], dict[str, Any]]:
    """The dataset, its (subsampled) train and test arrays and their sizes for a cell's ``config``.

    The arrays are the same for every backend and baseline of the dataset.
    """
    data = _load(dataset, data_dir)
    if data.X_test is None or data.y_test is None:
        raise ExperimentError(f"dataset {data.name!r} has no test split; the comparison needs one")
    Xtr, ytr = _subsample(np.asarray(data.X_train), np.asarray(data.y_train), max_train, data.task, 0)
    Xte, yte = _subsample(np.asarray(data.X_test), np.asarray(data.y_test), max_test, data.task, 1)
    sizes = {
        "n_train": int(Xtr.shape[0]),
        "n_test": int(Xte.shape[0]),
        "n_timepoints": int(Xtr.shape[-1]),
        # a duck-typed dataset (the attributes _load checks) may come without notes
        "dataset_notes": getattr(data, "notes", ""),
        "majority_score": _majority_score(data.task, ytr, yte),
    }
    return data, (Xtr, ytr, Xte, yte), sizes


def _majority_score(task: str, y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Test score of a constant guess: the training split's most frequent class (accuracy), or
    its mean (RMSE), the level the comparison chart marks."""
    from nwmodel.selection.search import score

    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if task == "classification":
        labels, counts = np.unique(y_train, return_counts=True)
        guess = np.full(y_test.shape, labels[np.argmax(counts)], dtype=y_test.dtype)
    else:
        guess = np.broadcast_to(y_train.mean(axis=0), y_test.shape)
    return score(task, y_test, guess)


# --------------------------------------------------------------------------- one cell


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
    feature_store: str | os.PathLike[str] | None = None,
    protocol: str = "tuned",
) -> CellResult:
    """Run model selection and test for one dataset x backend cell.

    Parameters
    ----------
    dataset : str or Dataset
        A name for :func:`nwmodel.load_dataset` or a loaded dataset.
    backend : {"abstract", "oracle", "simulated", "emulated", "esn"}
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
    feature_store : path, optional
        Directory of stored raw readings shared by the ``oracle`` and ``simulated`` cells and the
        refit of the selected configuration (:mod:`nwmodel.physical._feature_store`; the features are the
        same bit for bit); None: every fit drives its device.
    protocol : {"paper", "tuned"}
        Readout and grid (:mod:`nwmodel.selection.protocols`): ``paper`` is the published protocol,
        ``tuned`` (default) standardises, chooses the ridge strength by leave-one-out and adds
        the readout feature sets to the grid.
    """
    from nwmodel.selection.protocols import PROTOCOLS
    from nwmodel.selection.search import select_and_test

    if backend not in BACKENDS:
        raise ModelValidationError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if protocol not in PROTOCOLS:
        raise ModelValidationError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    data, (Xtr, ytr, Xte, yte), sizes = _cell_data(dataset, data_dir, max_train, max_test)
    task = data.task
    g = grid_for(backend, grid, grids, protocol, int(Xtr.shape[-1]))
    configs = grid_configs(g)
    spec = device if device is not None else SimulatedDeviceSpec()
    t0 = time.perf_counter()
    store = None if feature_store is None else str(feature_store)
    make, calibration = build_estimator(backend, task, spec, configs, store, protocol)
    sel = select_and_test(
        make, g, Xtr, ytr, Xte, yte, task=task, n_seeds=n_seeds, mapper=mapper, progress=progress
    )
    wall = time.perf_counter() - t0
    config = {
        "protocol": protocol,
        "grid": grid,
        "grid_values": g,
        **sizes,
        "device": dataclasses.asdict(spec) if backend in PHYSICAL else None,
        "failures": [{"params": p, "error": e} for p, e in sel.failures],
        "selection_notes": sel.notes,
        "calibration": None if calibration is None else calibration.to_dict(),
    }
    return CellResult(
        dataset=str(data.name),
        backend=backend,
        task=task,
        metric=str(sel.metric),
        test_mean=float(sel.test_mean),
        test_std=float(sel.test_std),
        test_scores=[float(s) for s in sel.test_scores],
        val_score=float(sel.val_score),
        best_params=jsonable(dict(sel.best_params)),
        configs=jsonable(configs),
        val_scores=[float(v) for _, v in sel.val_scores],
        n_seeds=int(n_seeds),
        wall_time_s=float(wall),
        fingerprint=fingerprint,
        config=jsonable(config),
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
    """Run one placement baseline on a dataset's cell split (see :func:`~nwmodel.models.run_baselines`).

    Parameters
    ----------
    baseline : {"majority", "ridge", "minirocket"}
    dataset, data_dir, max_train, max_test
        As :func:`run_cell`: the same dataset split and subsample as every cell of the dataset.
    n_seeds : int
        Test repetitions (seeds ``0 .. n_seeds-1``), as the cells'.
    fingerprint : str
        Stored with the result (resume key).

    Returns
    -------
    CellResult
        ``backend`` is the baseline's name; ``configs``, ``val_scores`` and ``best_params`` are
        empty and ``val_score`` is NaN (a baseline selects nothing on the validation split).
    """
    from nwmodel.models.baselines import run_baselines

    data, (Xtr, ytr, Xte, yte), sizes = _cell_data(dataset, data_dir, max_train, max_test)
    t0 = time.perf_counter()
    r = run_baselines(Xtr, ytr, Xte, yte, task=data.task, names=[baseline], n_seeds=n_seeds)[baseline]
    return CellResult(
        dataset=str(data.name),
        backend=baseline,
        task=data.task,
        metric=str(r["metric"]),
        test_mean=float(r["test_mean"]),
        test_std=float(r["test_std"]),
        test_scores=[float(v) for v in r["test_scores"]],
        val_score=float("nan"),
        best_params={},
        configs=[],
        val_scores=[],
        n_seeds=int(n_seeds),
        wall_time_s=time.perf_counter() - t0,
        fingerprint=fingerprint,
        config=jsonable(sizes),
    )


# --------------------------------------------------------------------------- the comparison


def _dataset_name(d: Any) -> str:
    return d if isinstance(d, str) else str(d.name)


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
    protocol: str = "tuned",
) -> ComparisonResult:
    """Run (or resume) every dataset x backend cell and write the tables, plot and HDF5 file.

    Parameters
    ----------
    datasets : sequence of str or Dataset
        Dataset names (:func:`nwmodel.load_dataset`) or loaded datasets.
    backends : sequence of str
        Any of ``abstract, oracle, simulated, emulated`` (and ``esn``); the ESN baseline is added
        when ``include_esn``.
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
    protocol : {"paper", "tuned"}
        As :func:`run_cell`, for every cell (part of each cell's fingerprint).

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
    from nwmodel._checks import check_choice, check_int
    from nwmodel.selection.protocols import PROTOCOLS

    check_choice("grid", grid, ("quick", "paper"))
    check_choice("protocol", protocol, PROTOCOLS)
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    backends = list(dict.fromkeys(backends))
    for b in backends:
        check_choice("backend", b, BACKENDS)
    if include_esn and "esn" not in backends:
        backends.append("esn")
    from nwmodel.models.baselines import BASELINES

    baselines = list(dict.fromkeys([baselines] if isinstance(baselines, str) else baselines))
    for n in baselines:
        check_choice("baseline", n, BASELINES)
    if not datasets:
        raise ModelValidationError("datasets must name at least one dataset, got none")
    out = Path(out_dir)
    spec = device if device is not None else SimulatedDeviceSpec()
    sizes = {"n_seeds": n_seeds, "max_train": max_train, "max_test": max_test}
    # Every dataset is loaded and every argument checked before any cell runs or is looked up.
    loaded = [(_dataset_name(d), _load(d, data_dir)) for d in datasets]
    for _, data in loaded:
        check_subsample_sizes(data, max_train, max_test)
    device_sha = check_device(spec) if any(b in PHYSICAL for b in backends) else None
    data_sha = {name: data_digest(data) for name, data in loaded}
    entries: list[Entry] = []
    for name, data in loaded:
        for b in backends:
            inputs = {"data_sha256": data_sha[name]}
            device_fields = None
            if b in PHYSICAL:
                inputs["device_sha256"] = device_sha
                # the file's content, not its path, identifies the device
                device_fields = {**dataclasses.asdict(spec), "network_path": None}
            values = {
                "protocol": protocol,
                "grid": grid,
                "grid_values": grid_for(b, grid, grids, protocol),
                "device": device_fields,
            }
            fp = cell_fingerprint({"dataset": name, "backend": b, **values, **sizes, "inputs": inputs})
            entries.append(Entry(data, b, cell_key(name, b), fp, "cells", inputs))
    for name, data in loaded:
        inputs = {"data_sha256": data_sha[name]}
        for n in baselines:
            fp = cell_fingerprint({"dataset": name, "baseline": n, **sizes, "inputs": inputs})
            entries.append(Entry(data, n, cell_key(name, n), fp, "baselines", inputs))
    # Preflight, before any cell runs: resume or refuse each, and every stored file readable.
    todo, skipped = plan(out, entries, force)
    recompute = list(dict.fromkeys(e.name for e in todo if e.folder == "cells" and e.name in PHYSICAL))
    if recompute:
        check_device_drive(spec, recompute, grid, grids, protocol)
    if force and recompute and (out / "features").is_dir():
        # recomputing means integrating again: stored readings may predate a change of the code
        shutil.rmtree(out / "features")
    executed: list[str] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(entries), initial=len(skipped), desc="cells", unit="cell")
    try:
        for e in todo:
            if bar is not None:
                bar.set_postfix_str(e.key)
            kw: dict[str, Any] = dict(
                n_seeds=n_seeds, data_dir=data_dir, max_train=max_train, max_test=max_test
            )
            if e.folder == "cells":
                kw.update(grid=grid, grids=grids, device=spec, mapper=mapper, progress=progress)
                kw.update(feature_store=out / "features", protocol=protocol)
                res = run_cell(e.dataset, e.name, fingerprint=e.fingerprint, **kw)
            else:
                res = run_baseline_cell(e.dataset, e.name, fingerprint=e.fingerprint, **kw)
            res = dataclasses.replace(res, inputs=dict(e.inputs))
            write_json_atomic(out / e.folder / f"{e.key}.json", res.to_json())
            executed.append(e.key)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    # The reports list every stored cell: this run's in plan order, then those of earlier runs
    # (other datasets or backends) in file-name order.
    cells, stored_baselines = load_ordered(out, [e.key for e in entries])
    paths = write_outputs(cells, out, baselines=stored_baselines) if write else {}
    return ComparisonResult(
        cells=cells, executed=executed, skipped=skipped, paths=paths, baselines=stored_baselines
    )
