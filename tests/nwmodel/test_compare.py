"""The abstract-vs-physical comparison: cells, outputs, resume, Dask, CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import nwmodel.experiments.compare as cmp
from nwhil import main
from nwmodel.data.datasets import Dataset
from nwmodel.errors import ExperimentError, ModelValidationError
from nwmodel.experiments._backends import PhysicalFactory, build_estimator, grid_configs
from nwmodel.experiments._devices import EmulatedFactory
from nwmodel.experiments._results import fingerprint
from nwmodel.experiments._store import cell_key
from nwmodel.physical.reservoir import PhysicalReservoirClassifier, SimulatedDeviceSpec
from nwmodel.selection.search import EstimatorFactory

TINY_GRIDS = {
    "abstract": {"n_units": [20], "gamma": [0.5, 0.95], "dt": [0.1]},
    "esn": {"n_units": [20], "leak_rate": [0.1, 0.5]},
    "simulated": {"dt_s": [0.1], "n_virtual": [2]},
}
TINY_SPEC = SimulatedDeviceSpec(
    n_wires=200,
    size_um=(40.0, 40.0),
    electrodes="mea2x3",
    role_pattern="first-last",
    n_inputs=2,
    device_seed=3,
)

#: Keywords of a one-seed comparison over TINY_SPEC without the ESN baseline or reports.
ONE_SEED_PHYSICAL = {
    "n_seeds": 1,
    "include_esn": False,
    "device": TINY_SPEC,
    "progress": False,
    "write": False,
}


def _tiny_dataset(name: str = "Ramps", seed: int = 0, n_per_class: int = 10, length: int = 12) -> Dataset:
    rng = np.random.default_rng(seed)
    t = np.linspace(-1.0, 1.0, length)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        X = np.concatenate(
            [t + 0.3 * rng.standard_normal((n, length)), -t + 0.3 * rng.standard_normal((n, length))]
        )[:, None, :]
        return X, np.repeat([1, 2], n)

    Xtr, ytr = make(n_per_class)
    Xte, yte = make(n_per_class)
    return Dataset(Xtr, ytr, Xte, yte, "classification", name, "generated ramps (test)")


def _scores(res: cmp.ComparisonResult) -> list[tuple]:
    return [(c.dataset, c.backend, c.test_scores, c.val_scores, c.best_params) for c in res.cells]


def test_outputs_and_resume_skips_finished_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = cmp.run_cell

    def counting(dataset, backend, **kw):
        calls.append((dataset.name, backend))
        return real(dataset, backend, **kw)

    monkeypatch.setattr(cmp, "run_cell", counting)
    ds = [_tiny_dataset("RampsA", 0), _tiny_dataset("RampsB", 1)]
    res = cmp.run_comparison(ds, ["abstract"], tmp_path, grids=TINY_GRIDS, n_seeds=2, progress=False)
    assert calls == [("RampsA", "abstract"), ("RampsA", "esn"), ("RampsB", "abstract"), ("RampsB", "esn")]
    assert res.executed == ["RampsA__abstract", "RampsA__esn", "RampsB__abstract", "RampsB__esn"]
    assert res.skipped == []
    # every cell: 2 configs, 2 seeds; the selected config is the best on validation
    for c in res.cells:
        assert len(c.test_scores) == 2 and len(c.val_scores) == 2
        assert c.val_score == max(c.val_scores)
        assert c.test_mean == pytest.approx(np.mean(c.test_scores), rel=1e-12)
    # outputs: CSV rows = cells, markdown table, plot, HDF5 with every run's config and scores
    rows = list(csv.DictReader(open(res.paths["csv"])))
    assert [(r["dataset"], r["backend"]) for r in rows] == [(c.dataset, c.backend) for c in res.cells]
    assert float(rows[0]["test_mean"]) == res.cells[0].test_mean
    md = Path(res.paths["markdown"]).read_text()
    assert "| RampsA | accuracy ↑ |" in md and "abstract | esn" in md
    assert Path(res.paths["plot"]).stat().st_size > 1000
    import h5py

    with h5py.File(res.paths["hdf5"]) as f:
        g = f["RampsB__esn"]
        np.testing.assert_array_equal(g["test_scores"][()], res.cells[3].test_scores)
        np.testing.assert_array_equal(g["val_scores"][()], res.cells[3].val_scores)
        assert json.loads(g.attrs["best_params"]) == res.cells[3].best_params
        assert [json.loads(s) for s in g["configs"].asstr()[()]] == res.cells[3].configs
    # second run: nothing executes, same table
    calls.clear()
    again = cmp.run_comparison(ds, ["abstract"], tmp_path, grids=TINY_GRIDS, n_seeds=2, progress=False)
    assert calls == [] and again.executed == []
    assert again.skipped == res.executed
    assert _scores(again) == _scores(res)
    # an interrupted run (one cell file missing) reruns only that cell
    (tmp_path / "cells" / "RampsB__abstract.json").unlink()
    third = cmp.run_comparison(ds, ["abstract"], tmp_path, grids=TINY_GRIDS, n_seeds=2, progress=False)
    assert calls == [("RampsB", "abstract")] and third.executed == ["RampsB__abstract"]
    assert _scores(third) == _scores(res)


def test_changed_configuration_is_refused_unless_forced(tmp_path: Path) -> None:
    ds = [_tiny_dataset()]
    kw = {"grids": TINY_GRIDS, "include_esn": False, "progress": False, "write": False}
    first = cmp.run_comparison(ds, ["abstract"], tmp_path, n_seeds=1, **kw)
    with pytest.raises(ExperimentError, match="Ramps__abstract of a different configuration"):
        cmp.run_comparison(ds, ["abstract"], tmp_path, n_seeds=2, **kw)
    res = cmp.run_comparison(ds, ["abstract"], tmp_path, n_seeds=2, force=True, **kw)
    assert res.cells[0].fingerprint != first.cells[0].fingerprint
    assert res.executed == ["Ramps__abstract"] and res.cells[0].n_seeds == 2
    assert len(res.cells[0].test_scores) == 2


def test_bad_arguments_raise(tmp_path: Path) -> None:
    with pytest.raises(ModelValidationError, match="backend must be one of"):
        cmp.run_comparison([_tiny_dataset()], ["quantum"], tmp_path, progress=False)
    with pytest.raises(ModelValidationError, match="grid must be one of 'quick', 'paper'"):
        cmp.run_comparison([_tiny_dataset()], ["abstract"], tmp_path, grid="huge", progress=False)
    with pytest.raises(ModelValidationError, match="n_seeds must be an integer"):
        cmp.run_comparison([_tiny_dataset()], ["abstract"], tmp_path, n_seeds=0, progress=False)
    with pytest.raises(ModelValidationError, match="datasets must hold dataset names or Dataset objects"):
        cmp.run_cell(42, "abstract")


def test_simulated_cell_and_device_grid_keys(tmp_path: Path) -> None:
    grids = {**TINY_GRIDS, "simulated": {"dt_s": [0.1], "n_virtual": [2], "device_seed": [3, 4]}}
    res = cmp.run_comparison([_tiny_dataset()], ["simulated"], tmp_path, grids=grids, **ONE_SEED_PHYSICAL)
    (cell,) = res.cells
    assert cell.backend == "simulated" and len(cell.val_scores) == 2
    assert [c["device_seed"] for c in cell.configs] == [3, 4]
    assert cell.test_mean > 0.75  # easy two-class task, chance 0.5
    assert cell.config["device"]["n_wires"] == 200
    cal = cell.config["calibration"]
    assert cal["rule"] == "junction" and cal["junction_window_V"] == [0.35, 1.15]
    assert cal["electrode_window_V"][1] == pytest.approx(1.15 / cal["gain"])


@pytest.mark.slow
def test_dask_localcluster_gives_the_same_table(tmp_path: Path) -> None:
    import distributed

    ds = [_tiny_dataset()]
    kw = {"grids": TINY_GRIDS, "n_seeds": 2, "device": TINY_SPEC, "progress": False, "write": False}
    local = cmp.run_comparison(ds, ["abstract", "simulated"], tmp_path / "local", **kw)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = cmp.run_comparison(
            ds, ["abstract", "simulated"], tmp_path / "dask", mapper=cmp.dask_mapper(client), **kw
        )
    assert [c.backend for c in remote.cells] == ["abstract", "simulated", "esn"]
    assert _scores(remote) == _scores(local)


def _worker_trim_threshold() -> str | None:
    import os

    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


@pytest.mark.slow
@pytest.mark.parametrize("shell_value", [None, "131072"])
def test_local_cluster_workers_keep_the_dynamic_mmap_threshold(
    monkeypatch: pytest.MonkeyPatch, shell_value: str | None
) -> None:
    """The CLI's LocalCluster does not set Dask's MALLOC_TRIM_THRESHOLD_ (65536) in its workers
    (it turns off glibc's dynamic mmap threshold: a page fault storm in every NW-RNN fit), nor in
    this process; a value from the shell still reaches the workers."""
    from nwhil.compare import lazy_dask_mapper

    if shell_value is None:
        monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    else:
        monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", shell_value)
    with lazy_dask_mapper(None, 1) as mapper:
        seen = list(mapper(lambda _: _worker_trim_threshold(), [0]))
        here = _worker_trim_threshold()
    assert seen == [shell_value]
    assert here == shell_value


def test_emulated_cell_equals_simulated_and_oracle_reads_more(tmp_path: Path) -> None:
    # every readout feature set and two presentations: one reservoir run per seed and split
    grid = {"dt_s": [0.1], "n_virtual": [2], "n_presentations": [2], "features": ["last", 3, "all", "pooled"]}
    grids = {"emulated": grid, "simulated": grid, "oracle": grid}
    ds = [_tiny_dataset(n_per_class=6, length=8)]
    res = cmp.run_comparison(
        ds, ["oracle", "simulated", "emulated"], tmp_path, grids=grids, **ONE_SEED_PHYSICAL
    )
    orc, sim, emu = res.cells
    assert (orc.backend, sim.backend, emu.backend) == ("oracle", "simulated", "emulated")
    # the same electrode readings through the SCPI emulator (which always drives its device) as
    # the simulated cell's stored ones: identical selection and test scores
    assert emu.test_scores == sim.test_scores and emu.val_scores == sim.val_scores
    assert emu.config["calibration"] == sim.config["calibration"]
    assert orc.test_mean >= 0.5
    make, calibration = build_estimator("oracle", "classification", TINY_SPEC, [grid])
    assert make.device == dataclasses.replace(TINY_SPEC, n_probe=cmp.ORACLE_PROBES)
    tuned = {"ridge_alpha": "loo", "standardize": True}
    assert make.fixed == {"readout": "oracle", "feature_store": None, **tuned}
    assert calibration.to_dict() == orc.config["calibration"]
    # the simulated cell read the electrode part of the oracle's stored readings (one integration)
    assert any((tmp_path / "features").rglob("*.npz"))


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count drive calibrations and device openings (every physical backend builds its devices,
    the emulator's served one included, with ``SimulatedDeviceSpec.__call__``)."""
    import nwmodel.physical.calibration
    import nwmodel.physical.reservoir

    n = {"calibrate": 0, "open": 0}
    calibrate, open_device = nwmodel.physical.calibration.calibrate_drive, SimulatedDeviceSpec.__call__

    def counting_calibrate(*args, **kwargs):
        n["calibrate"] += 1
        return calibrate(*args, **kwargs)

    def counting_open(spec: SimulatedDeviceSpec):
        n["open"] += 1
        return open_device(spec)

    monkeypatch.setattr(nwmodel.physical.calibration, "calibrate_drive", counting_calibrate)
    monkeypatch.setattr(nwmodel.physical.reservoir, "calibrate_drive", counting_calibrate)
    monkeypatch.setattr(SimulatedDeviceSpec, "__call__", counting_open)
    return n


@pytest.mark.parametrize("backend", ["oracle", "simulated", "emulated"])
def test_a_cell_calibrates_once_and_each_fit_opens_its_device_once(backend: str, counts) -> None:
    grid = {"dt_s": [0.1], "n_virtual": [1], "input_scaling": [1.0, 3.0]}
    configs = grid_configs(grid)
    make, calibration = build_estimator(backend, "classification", TINY_SPEC, configs)
    assert counts == {"calibrate": 1, "open": 1}  # the cell's calibration, on a device of its own
    ds = _tiny_dataset(n_per_class=3, length=6)
    for params in configs:
        before = dict(counts)
        est = make(params, 0).fit(ds.X_train, ds.y_train)
        # no calibration of its own, one device both prepared (names, sizes) and driven
        assert counts == {"calibrate": before["calibrate"], "open": before["open"] + 1}
        assert est.calibration_ == calibration


def test_a_device_grid_cell_calibrates_each_device_once(counts) -> None:
    grids = {"simulated": {"dt_s": [0.1], "n_virtual": [1], "device_seed": [3, 4]}}
    ds = _tiny_dataset(n_per_class=3, length=6)
    cell = cmp.run_cell(ds, "simulated", grids=grids, n_seeds=2, device=TINY_SPEC)
    assert counts["calibrate"] == 2  # device_seed 3 (TINY_SPEC, recorded) and 4, whatever the fits
    assert cell.config["calibration"]["rule"] == "junction"


def test_force_integrates_again(tmp_path: Path) -> None:
    grids = {"simulated": {"dt_s": [0.1], "n_virtual": [1]}}
    ds = [_tiny_dataset(n_per_class=6, length=8)]
    first = cmp.run_comparison(ds, ["simulated"], tmp_path, grids=grids, **ONE_SEED_PHYSICAL)
    stale = tmp_path / "features" / "stale"
    stale.mkdir()
    cell = next((tmp_path / "cells").glob("*simulated.json"))
    cell.write_text(cell.read_text()[:20])  # a truncated cell: force recomputes it
    again = cmp.run_comparison(ds, ["simulated"], tmp_path, grids=grids, force=True, **ONE_SEED_PHYSICAL)
    assert not stale.exists() and any((tmp_path / "features").rglob("*.npz"))
    assert again.executed == first.executed and again.cells[0].test_scores == first.cells[0].test_scores


def test_cli_compare_on_shared_data_then_resume(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "compare",
        "--datasets",
        "SyntheticControl",
        "--backends",
        "abstract",
        "--seeds",
        "1",
        "--scheduler",
        "serial",
        "--max-train",
        "60",
        "--max-test",
        "60",
        "--data-dir",
        str(data_dir),
        "--json",
        "-o",
        str(tmp_path),
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["backend"] for r in out["table"]] == ["abstract", "esn"]
    assert out["executed"] == ["SyntheticControl__abstract", "SyntheticControl__esn"]
    assert all(0.0 <= r["test_mean"] <= 1.0 for r in out["table"])
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["executed"] == [] and again["skipped"] == out["executed"]
    assert again["table"] == [dict(r, wall_time_s=r["wall_time_s"]) for r in out["table"]]


def test_cli_compare_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "compare",
                "--datasets",
                "NoSuchSet",
                "--backends",
                "abstract",
                "--scheduler",
                "serial",
                "--quiet",
                "-o",
                str(tmp_path),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NoSuchSet" in err[0]
    assert main(["compare", "--backends", "abstract", "--scheduler", "udp://x", "-o", str(tmp_path)]) == 2
    assert "--scheduler must be 'serial' or an address" in capsys.readouterr().err


# --------------------------------------------------------------------------- backends, store, reports


def test_abstract_backends_build_the_registered_estimators() -> None:
    make, calibration = build_estimator("abstract", "classification", TINY_SPEC, [{}])
    tuned = {"ridge_alpha": "loo", "standardize": True}  # the default protocol's readout
    assert make == EstimatorFactory("nwesn", "classification", tuned) and calibration is None
    est = make({"n_units": 20, "gamma": 0.5}, 7)
    assert type(est).__name__ == "NWESNClassifier"
    assert (est.n_units, est.gamma, est.random_state) == (20, 0.5, 7)
    make, _ = build_estimator("esn", "regression", TINY_SPEC, [{}])
    assert type(make({"leak_rate": 0.1}, 3)).__name__ == "ESNRegressor"
    paper, _ = build_estimator("esn", "regression", TINY_SPEC, [{}], protocol="paper")
    assert paper.fixed == {"features": "last", "ridge_alpha": 1.0, "standardize": False}


def test_physical_factory_applies_device_grid_keys() -> None:
    make = PhysicalFactory("classification", {"readout": "oracle"}, TINY_SPEC)
    params = {"dt_s": 0.1, "device_seed": 4}
    est = make(params, 5)
    assert isinstance(est, PhysicalReservoirClassifier)
    assert est.device == dataclasses.replace(TINY_SPEC, device_seed=4)
    assert (est.dt_s, est.readout, est.random_state) == (0.1, "oracle", 5)
    assert params == {"dt_s": 0.1, "device_seed": 4}  # the caller's configuration is left as is
    emulated = PhysicalFactory("classification", {}, EmulatedFactory(TINY_SPEC))
    with pytest.raises(ExperimentError, match=r"grid keys \['device_seed'\] select a simulated device"):
        emulated(params, 5)


def test_emulated_grid_with_device_keys_is_refused() -> None:
    with pytest.raises(ExperimentError, match="the emulated backend serves one fixed device"):
        build_estimator("emulated", "classification", TINY_SPEC, [{"dt_s": 0.1, "n_wires": 100}])


def test_fingerprint_and_cell_key_are_stable() -> None:
    # the resume key of stored cells: a change would refuse (or rerun) every existing results folder
    cfg = {
        "dataset": "Ramps",
        "backend": "abstract",
        "grid": "quick",
        "grid_values": {"n_units": [20]},
        "device": None,
        "n_seeds": np.int64(2),
        "max_train": None,
        "max_test": 5,
    }
    assert fingerprint(cfg) == "78470eb406306b69"
    assert fingerprint(dict(reversed(cfg.items()))) == "78470eb406306b69"
    assert cell_key("Ramps B/x", "esn") == "Ramps_B_x__esn"


def _cell(dataset: str, backend: str, mean: float, scores: list[float], **kw) -> cmp.CellResult:
    base = {
        "task": "classification",
        "metric": "accuracy",
        "test_std": 0.0,
        "val_score": 0.8,
        "best_params": {},
        "configs": [{}],
        "val_scores": [0.8],
        "n_seeds": len(scores),
        "wall_time_s": 1.25,
        "fingerprint": "ab",
    }
    return cmp.CellResult(
        dataset=dataset, backend=backend, test_mean=mean, test_scores=scores, **{**base, **kw}
    )


def test_reports_and_hdf5_layout(tmp_path: Path) -> None:
    a = _cell(
        "Ramps",
        "abstract",
        0.75,
        [0.625, 0.875],
        test_std=0.125,
        best_params={"gamma": 0.5},
        configs=[{"gamma": 0.5}],
    )
    e = _cell(
        "Flood",
        "esn",
        0.25,
        [0.25],
        task="regression",
        metric="rmse",
        val_score=0.3,
        val_scores=[0.3],
        wall_time_s=3.0,
    )
    b = _cell(
        "Ramps", "ridge", 0.5, [0.5, 0.5], val_score=float("nan"), configs=[], val_scores=[], wall_time_s=0.5
    )
    paths = cmp.write_outputs([a, e], tmp_path, baselines=[b])
    assert Path(paths["markdown"]).read_text().split("\n") == [
        "| dataset | metric | abstract | esn | ridge |",
        "|---|---|---|---|---|",
        "| Ramps | accuracy ↑ | 0.750 ± 0.125 | - | 0.500 ± 0.000 |",
        "| Flood | rmse ↓ | - | 0.250 ± 0.000 | - |",
        "",
        "Wall time per cell (s, selection + test):",
        "",
        "| dataset | abstract | esn | ridge |",
        "|---|---|---|---|",
        "| Ramps | 1.2 | - | 0.5 |",
        "| Flood | - | 3.0 | - |",
        "",
        "Mean ± std over 1, 2 seed(s) of the selected configuration (80/20 stratified selection split, "
        "random_state 42).",
        "Baselines (ridge): fitted on the whole training split with the same seeds, no selection; "
        "majority and ridge are deterministic (std 0).",
        "",
    ]
    assert Path(paths["csv"]).read_text().splitlines() == [
        "dataset,backend,metric,test_mean,test_std,n_seeds,val_score,wall_time_s,best_params,test_scores",
        'Ramps,abstract,accuracy,0.75,0.125,2,0.8,1.250,"{""gamma"": 0.5}","[0.625, 0.875]"',
        "Flood,esn,rmse,0.25,0.0,1,0.3,3.000,{},[0.25]",
        'Ramps,ridge,accuracy,0.5,0.0,2,nan,0.500,{},"[0.5, 0.5]"',
    ]
    import h5py

    with h5py.File(paths["hdf5"]) as f:
        assert (f.attrs["format"], int(f.attrs["format_version"])) == ("nwhil-comparison", 1)
        assert sorted(f) == ["Flood__esn", "Ramps__abstract"]  # the plot and the HDF5 file: cells only
        g = f["Ramps__abstract"]
        assert sorted(g.attrs) == [
            "backend",
            "best_params",
            "config",
            "dataset",
            "fingerprint",
            "metric",
            "n_seeds",
            "task",
            "test_mean",
            "test_std",
            "val_score",
            "wall_time_s",
        ]
        assert (g.attrs["test_std"], int(g.attrs["n_seeds"]), g.attrs["backend"]) == (0.125, 2, "abstract")
        assert json.loads(g.attrs["best_params"]) == {"gamma": 0.5} and json.loads(g.attrs["config"]) == {}
        np.testing.assert_array_equal(g["test_scores"][()], [0.625, 0.875])
        assert [json.loads(s) for s in g["configs"].asstr()[()]] == [{"gamma": 0.5}]
