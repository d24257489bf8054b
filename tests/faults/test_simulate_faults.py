"""``simulate`` refuses physical nonsense and unbounded work; plots of incomplete runs say so."""

from __future__ import annotations

import numpy as np
import pytest

import nwphys
from nwhil import main
from nwphys.errors import BudgetError, ValidationError
from nwphys.io.runfile import read_run


@pytest.fixture(scope="module")
def network():
    return nwphys.generate(n_wires=120, size_um=(30.0, 30.0), seed=5)


@pytest.fixture
def device_file(tmp_path, network):
    path = tmp_path / "dev.h5"
    nwphys.save_network(network, path)
    return path


def test_drive_beyond_the_voltage_limit_is_refused(network) -> None:
    for spec, v in (
        ("in=dc:1e308;out=gnd", "1e\\+308"),
        ("in=pulse:amp=12,width=0.01,period=0.02;out=gnd", "12"),
        ("in=sin:amp=6,freq=10,offset=5;out=gnd", "11"),
    ):
        with pytest.raises(
            ValidationError, match=rf"electrode 'in' reaches {v} V, above its limit max_abs_V=10 V"
        ):
            nwphys.simulate(network, spec, duration_s=0.01, dt_s=1e-3)
    # a sampled drive is bounded by its samples; a per-electrode limit applies to that electrode
    drive = nwphys.Drive({"in": nwphys.Sampled(np.array([0.0, 3.0, -4.0]), dt_s=1e-3), "out": 0.0})
    with pytest.raises(ValidationError, match=r"reaches 4 V, above its limit max_abs_V=3\.5 V"):
        nwphys.simulate(network, drive, duration_s=3e-3, dt_s=1e-3, max_abs_V={"in": 3.5})
    res = nwphys.simulate(network, drive, duration_s=3e-3, dt_s=1e-3, max_abs_V={"in": 4.0})
    assert res.status == 0
    with pytest.raises(ValidationError, match="does not drive"):
        nwphys.simulate(network, drive, duration_s=3e-3, dt_s=1e-3, max_abs_V={"bogus": 4.0})
    # the limit equals a device electrode's default
    from hardware.device import ElectrodeChannel

    assert ElectrodeChannel("x", "input").max_abs_V == nwphys.dynamics.drives.DEFAULT_MAX_ABS_V


def test_drive_with_no_reference_is_refused(network) -> None:
    with pytest.raises(ValidationError, match=r"drives only electrode 'in' .* no current can flow"):
        nwphys.simulate(network, "in=dc:1", duration_s=0.01, dt_s=1e-3)


def test_unbounded_work_is_refused_before_it_starts(network, tmp_path) -> None:
    with pytest.raises(BudgetError, match=r"1e\+12 steps, above the budget max_steps=100000000"):
        nwphys.simulate(network, "in=dc:1;out=gnd", duration_s=1e9, dt_s=1e-3)
    with pytest.raises(BudgetError, match="memory_limit_bytes"):
        nwphys.simulate(network, "in=dc:1;out=gnd", duration_s=1.0, dt_s=1e-3, memory_limit_bytes=1e4)
    with pytest.raises(BudgetError, match="max_steps=10;"):
        nwphys.simulate(network, "in=dc:1;out=gnd", duration_s=0.1, dt_s=1e-3, max_steps=10)
    # the disk check: more records than the free space of the output's file system
    import shutil

    free = shutil.disk_usage(tmp_path).free
    n_rows_needed = int(free / (8 * (1 + network.n_junctions + 4))) + 1
    with pytest.raises(BudgetError, match="free in"):
        nwphys.simulate(
            network,
            "in=dc:1;out=gnd",
            duration_s=n_rows_needed * 1e-6,
            dt_s=1e-6,
            out_path=tmp_path / "big.h5",
            memory_limit_bytes=1e18,
            max_steps=10**15,
        )
    assert not (tmp_path / "big.h5").exists()


def test_cli_refuses_in_one_line(device_file, tmp_path, capsys) -> None:
    for drive, extra, msg in (
        ("in=dc:1e308;out=gnd", [], "above its limit max_abs_V=10 V"),
        ("in=dc:1", [], "no current can flow"),
        ("in=dc:1;out=gnd", ["--duration", "1e9"], "above the budget max_steps"),
    ):
        argv = [
            "simulate",
            str(device_file),
            "--drive",
            drive,
            "--duration",
            "0.01",
            "--dt",
            "1e-3",
            "-o",
            str(tmp_path / "r.h5"),
            "--quiet",
            *extra,
        ]
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], err
        assert not (tmp_path / "r.h5").exists()


def test_plot_of_an_incomplete_run_is_marked(network, device_file, tmp_path, capsys) -> None:
    run = tmp_path / "run.h5"
    res = nwphys.simulate(
        network,
        "in=pulse:amp=2,width=0.01,period=0.02;out=gnd",
        duration_s=0.05,
        dt_s=1e-3,
        out_path=run,
        chunk_records=10,
        callback=lambda info: False,
    )
    assert res.status == 1 and not read_run(run)["complete"]
    png = tmp_path / "run.png"
    assert main(["plot", str(run), "-o", str(png), "--device", str(device_file)]) == 0
    err = capsys.readouterr().err
    assert "incomplete" in err and "status 1" in err
    assert png.stat().st_size > 5_000
    # a complete run plots without the mark
    run2 = tmp_path / "run2.h5"
    nwphys.simulate(network, "in=dc:1;out=gnd", duration_s=0.01, dt_s=1e-3, out_path=run2)
    assert main(["plot", str(run2), "-o", str(tmp_path / "run2.png")]) == 0
    assert "incomplete" not in capsys.readouterr().err


# ---------------------------------------------------------------------------- record grid
@pytest.mark.parametrize("method", ["exact", "sdirk2", "LSODA"])
def test_the_last_record_is_the_final_state_whatever_record_every(network, tmp_path, method) -> None:
    """Regression: ``record_every`` not dividing the steps ended the records before ``duration_s``."""
    kw = dict(duration_s=0.01, dt_s=1e-3, method=method, backend="splu")
    drive = "in=pulse:amp=2,width=0.004,period=0.008;out=gnd"
    full = nwphys.simulate(network, drive, **kw)
    every = nwphys.simulate(network, drive, record_every=3, **kw)
    np.testing.assert_allclose(every.t_s, [0.0, 0.003, 0.006, 0.009, 0.01], rtol=1e-12)
    assert every.t_s[-1] == full.t_s[-1]
    tol = 1e-12 if method == "exact" else 1e-3  # exact takes the same steps; the others their own
    np.testing.assert_allclose(every.g, full.g[[0, 3, 6, 9, 10]], rtol=0, atol=tol)
    np.testing.assert_allclose(
        every.electrode_current_A,
        full.electrode_current_A[[0, 3, 6, 9, 10]],
        rtol=1e-3 if method != "exact" else 1e-12,
    )
    # a run file, stopped after one chunk of 2 records and resumed, ends at the same final record
    run = tmp_path / "run.h5"
    part = nwphys.simulate(
        network, drive, record_every=3, out_path=run, chunk_records=2, callback=lambda info: False, **kw
    )
    assert part.status == 1 and part.t_s.size == 2
    done = nwphys.simulate(network, drive, record_every=3, out_path=run, chunk_records=2, resume=True, **kw)
    stored = read_run(run)
    assert done.success and stored["complete"]
    np.testing.assert_allclose(stored["t_s"], every.t_s, rtol=1e-12)
    if method != "LSODA":  # chunks restart the integrator: sdirk2 and exact reproduce the records
        np.testing.assert_array_equal(stored["g"][:2], every.g[:2])
    np.testing.assert_allclose(stored["g"], every.g, rtol=0, atol=tol)


def test_a_resumed_run_counts_the_work_of_every_session(network, tmp_path) -> None:
    """Regression: a resumed run reported the steps and wall time of its last session only."""
    drive = "in=pulse:amp=2,width=0.01,period=0.02;out=gnd"
    for method in ("exact", "sdirk2"):
        kw = dict(duration_s=0.05, dt_s=1e-3, method=method, chunk_records=10, backend="splu")
        full = nwphys.simulate(network, drive, out_path=tmp_path / f"full_{method}.h5", **kw)
        run = tmp_path / f"run_{method}.h5"
        part = nwphys.simulate(network, drive, out_path=run, callback=lambda info: info["rows"] < 30, **kw)
        first = read_run(run)
        assert part.status == 1 and first["n_steps"] == part.n_steps > 0
        done = nwphys.simulate(network, drive, out_path=run, resume=True, **kw)
        back = read_run(run)
        assert (done.n_steps, done.n_rejected, done.n_newton) == (
            full.n_steps,
            full.n_rejected,
            full.n_newton,
        )
        assert (back["n_steps"], back["n_rejected"], back["n_newton"]) == (
            full.n_steps,
            full.n_rejected,
            full.n_newton,
        )
        assert done.wall_time_s == back["wall_time_s"] > first["wall_time_s"] > 0
        assert done.nfev == back["nfev"] > first["nfev"] > 0
