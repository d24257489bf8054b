"""What the figures draw: run panels against the recorded run, colour norms, electrode roles, and
the comparison chart's majority line and test-series count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import LogNorm, to_rgba
from matplotlib.patches import Rectangle

import nwphys
from nwmodel.experiments.compare import CellResult, plot_comparison
from nwphys.dynamics.drives import parse_drive
from nwphys.errors import ValidationError
from nwphys.io.runfile import read_run
from nwphys.junctions import model_from_spec
from nwphys.plotting import ROLE_COLORS, circuit_sha256, plot_run

#: A small connected two-terminal device (221 junctions at seed 3; seed 12 has as many).
_RECIPE = {"n_wires": 100, "size_um": (20.0, 20.0), "length_mean_um": 6.0, "length_std_um": 1.0}
PULSES = "in=pulse:amp=2,width=0.005,period=0.01;out=gnd"
SWEEP = "in=sine:amp=1.5,freq=25;out=gnd"


@pytest.fixture(scope="module")
def network() -> nwphys.NanowireNetwork:
    return nwphys.generate(**_RECIPE, seed=3)


def _run(network: nwphys.NanowireNetwork, drive: str, path: Path) -> dict:
    nwphys.simulate(network, drive, duration_s=0.04, dt_s=1e-3, out_path=path)
    return read_run(path)


def _axes(fig) -> dict:
    return {ax.get_label(): ax for ax in fig.axes if ax.get_label()}


def _conductances_S(run: dict) -> np.ndarray:
    p = run["params"]
    return model_from_spec(p["junction_model"], p["junction_params"]).conductance_S(run["g"])


def test_run_voltage_panel_is_the_recorded_drive(network, tmp_path: Path) -> None:
    run = _run(network, PULSES, tmp_path / "run.h5")
    axes = _axes(plot_run(run))
    assert {"conductance", "current", "voltage"} <= set(axes) and "iv" not in axes  # pulses: no sweep
    lines = {ln.get_label(): ln for ln in axes["voltage"].get_lines()}
    assert sorted(lines) == ["in", "out"]
    # recorded electrode voltages, which equal the drive's source voltages (no series resistance)
    source_V = parse_drive(PULSES).voltages(run["t_s"])
    for i, name in enumerate(run["params"]["electrode_names"]):
        np.testing.assert_array_equal(lines[name].get_xdata(), run["t_s"])
        np.testing.assert_array_equal(lines[name].get_ydata(), run["electrode_voltage_V"][:, i])
        np.testing.assert_allclose(lines[name].get_ydata(), source_V[:, i], rtol=0, atol=1e-12)
    assert axes["voltage"].get_ylabel() == "electrode voltage (V)"
    # the conductance panel: the mean over the junctions on a log axis
    G = _conductances_S(run)
    mean = next(ln for ln in axes["conductance"].get_lines() if ln.get_label() == "mean")
    np.testing.assert_allclose(mean.get_ydata(), G.mean(axis=1), rtol=1e-15)
    assert axes["conductance"].get_yscale() == "log"


def test_sweep_gets_an_iv_view_of_the_swept_electrode(network, tmp_path: Path) -> None:
    run = _run(network, SWEEP, tmp_path / "sweep.h5")
    axes = _axes(plot_run(run))
    k = run["params"]["electrode_names"].index("in")
    curve = next(ln for ln in axes["iv"].get_lines() if ln.get_label() == "in (sweep)")
    np.testing.assert_array_equal(curve.get_xdata(), run["electrode_voltage_V"][:, k])
    np.testing.assert_array_equal(curve.get_ydata(), run["electrode_current_A"][:, k])
    np.testing.assert_allclose(curve.get_xdata(), 1.5 * np.sin(2 * np.pi * 25 * run["t_s"]), atol=1e-12)
    assert axes["iv"].get_xlabel() == "voltage of in (V)"
    assert axes["iv"].get_ylabel() == "current of in (A)"


def test_run_network_panel_log_colours_and_roles_from_the_drive(network, tmp_path: Path) -> None:
    run = _run(network, PULSES, tmp_path / "run.h5")
    fig = plot_run(run, network=network)
    ax = _axes(fig)["network"]
    sc = next(c for c in ax.collections if isinstance(c, PathCollection))
    G_last = _conductances_S(run)[-1]
    np.testing.assert_array_equal(sc.get_array(), G_last)
    assert isinstance(sc.norm, LogNorm)
    assert (sc.norm.vmin, sc.norm.vmax) == (G_last.min(), G_last.max())
    assert any(a.get_ylabel() == "junction conductance (S)" for a in fig.axes)  # the colour bar
    faces = {p.get_gid(): p.get_facecolor() for p in ax.patches if isinstance(p, Rectangle)}
    assert faces["electrode:in"] == to_rgba(ROLE_COLORS["input"][0], 0.7)
    assert faces["electrode:out"] == to_rgba(ROLE_COLORS["ground"][0], 0.7)  # out=gnd


def test_run_plot_refuses_another_network(network, tmp_path: Path) -> None:
    run = _run(network, PULSES, tmp_path / "run.h5")
    other = nwphys.generate(**_RECIPE, seed=12)
    assert other.n_junctions == network.n_junctions
    want = run["params"]["circuit_sha256"]
    assert circuit_sha256(network) == want
    match = rf"circuit sha256 {circuit_sha256(other)} \(network\) != {want} \(run\)"
    with pytest.raises(ValidationError, match=match):
        plot_run(run, network=other)


def test_conductance_colours_are_log_scaled_with_a_colour_bar(network) -> None:
    g_S = np.geomspace(1e-6, 1e-3, network.n_junctions)
    fig = nwphys.plot_network(network, color_by="conductance", values=g_S)
    sc = next(c for c in fig.axes[0].collections if isinstance(c, PathCollection))
    assert isinstance(sc.norm, LogNorm) and (sc.norm.vmin, sc.norm.vmax) == (1e-6, 1e-3)
    assert fig.axes[1].get_ylabel() == "junction conductance (S)"
    # a range narrower than a factor 100 is log scaled too
    fig = nwphys.plot_network(
        network, color_by="conductance", values=np.linspace(1e-3, 2e-3, network.n_junctions)
    )
    sc = next(c for c in fig.axes[0].collections if isinstance(c, PathCollection))
    assert isinstance(sc.norm, LogNorm)
    with pytest.raises(
        ValidationError, match=r"values must be > 0 for color_by='conductance'.*minimum of 0\.0"
    ):
        nwphys.plot_network(network, color_by="conductance", values=np.zeros(network.n_junctions))


def test_device_plot_marks_and_labels_electrode_roles() -> None:
    net = nwphys.generate("sydney", electrodes="mea4x4", seed=3)
    roles = nwphys.assign_roles(net.electrodes, "chessboard")
    fig = nwphys.plot_network(net, roles=roles)
    ax = fig.axes[0]
    faces = {p.get_gid(): p.get_facecolor() for p in ax.patches if isinstance(p, Rectangle)}
    texts = {t.get_text() for t in ax.texts}
    for name in net.electrodes.names:
        role = roles.role_of(name)
        assert faces[f"electrode:{name}"] == to_rgba(ROLE_COLORS[role][0], 0.7)
        assert f"{name}\n{role}" in texts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[-3:] == ["input electrode", "output electrode", "ground electrode"]
    assert "wire (electrode component)" in legend and "junction" in legend
    # without roles: gold electrodes named only, one "electrode" legend entry
    ax = nwphys.plot_network(net).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "electrode"
    assert {t.get_text() for t in ax.texts} == set(net.electrodes.names)
    bad = nwphys.RoleAssignment(("E00",), ("nope",), ("E33",))
    with pytest.raises(ValidationError, match=r"roles name electrode\(s\) 'nope' the network does not have"):
        nwphys.plot_network(net, roles=bad)


def _cell(dataset: str, backend: str, mean: float, *, task: str = "classification", n_test: int = 40):
    return CellResult(
        dataset=dataset,
        backend=backend,
        task=task,
        metric="accuracy" if task == "classification" else "rmse",
        test_mean=mean,
        test_std=0.0,
        test_scores=[mean],
        val_score=float("nan"),
        best_params={},
        configs=[],
        val_scores=[],
        n_seeds=1,
        wall_time_s=1.0,
        fingerprint="",
        config={"n_test": n_test},
    )


def _dashed(ax) -> list:
    return [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]


def test_comparison_chart_majority_line_and_test_series_count() -> None:
    cells = [
        _cell("Ramps", "abstract", 0.9),
        _cell("Ramps", "esn", 0.8),
        _cell("Flood", "esn", 0.3, task="regression", n_test=12),
    ]
    baselines = [
        _cell("Ramps", "majority", 0.625),
        _cell("Ramps", "ridge", 0.7),
        _cell("Flood", "majority", 0.5, task="regression", n_test=12),
    ]
    ramps, flood = plot_comparison(cells, baselines=baselines).axes
    assert ramps.get_title() == "Ramps (n = 40 test series)"
    assert flood.get_title() == "Flood (n = 12 test series)"
    (line,) = _dashed(ramps)  # the majority baseline only, not ridge
    np.testing.assert_array_equal(line.get_ydata(), [0.625, 0.625])
    assert line.get_label() == "majority class 0.625"
    assert [t.get_text() for t in ramps.get_legend().get_texts()] == ["majority class 0.625"]
    (line,) = _dashed(flood)
    np.testing.assert_array_equal(line.get_ydata(), [0.5, 0.5])
    assert line.get_label() == "training mean 0.500"
    # without a majority baseline: no line; cells of two test sizes show both
    (ax,) = plot_comparison([_cell("Ramps", "abstract", 0.9), _cell("Ramps", "esn", 0.8, n_test=20)]).axes
    assert _dashed(ax) == [] and ax.get_title() == "Ramps (n = 20/40 test series)"


def test_comparison_chart_written_by_write_outputs_draws_the_majority_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nwmodel.experiments._reports as reports
    from nwmodel.experiments.compare import write_outputs

    figures = []

    def spy(*args, **kwargs):
        figures.append(plot_comparison(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(reports, "plot_comparison", spy)
    majority = _cell("Ramps", "majority", 0.5)
    paths = write_outputs([_cell("Ramps", "abstract", 0.9)], tmp_path, baselines=[majority])
    assert Path(paths["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (line,) = _dashed(figures[0].axes[0])
    np.testing.assert_array_equal(line.get_ydata(), [0.5, 0.5])


def test_comparison_cells_record_the_constant_guess_and_the_chart_draws_it(tmp_path: Path) -> None:
    import nwmodel.experiments.compare as cmp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 1, 8))
    y_train = np.array([1] * 18 + [2] * 12)
    y_test = np.array([1] * 10 + [2] * 20)  # the training majority (1) is a third of the test set
    from nwmodel.data.datasets import Dataset

    ds = Dataset(X, y_train, X, y_test, "classification", "Skewed", "test")
    res = cmp.run_comparison(
        [ds],
        ["abstract"],
        tmp_path,
        grids={"abstract": {"n_units": [10], "gamma": [0.5], "dt": [0.1]}},
        n_seeds=1,
        include_esn=False,
        progress=False,
        baselines=["majority"],
    )
    (cell,) = res.cells
    # the same level as the majority baseline, computed by its own code
    assert cell.config["majority_score"] == pytest.approx(1 / 3, abs=1e-15)
    assert res.baselines[0].test_mean == pytest.approx(cell.config["majority_score"], abs=1e-15)
    (ax,) = plot_comparison(res.cells).axes  # no baselines given: the cells' own record
    (line,) = _dashed(ax)
    np.testing.assert_allclose(line.get_ydata(), [1 / 3, 1 / 3], atol=1e-15)
