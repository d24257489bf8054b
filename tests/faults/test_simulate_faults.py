"""``simulate`` refuses physical nonsense and unbounded work; plots of incomplete runs say so."""

from __future__ import annotations

import numpy as np
import pytest

import nwphys
from nwmodel.cli import main
from nwphys.errors import BudgetError, ValidationError
from nwphys.runfile import read_run


@pytest.fixture(scope="module")
def network():
    return nwphys.generate(n_wires=120, size_um=(30.0, 30.0), seed=5)


@pytest.fixture
def device_file(tmp_path, network):
    path = tmp_path / "dev.h5"
    nwphys.save_network(network, path)
    return path


def test_drive_beyond_the_voltage_limit_is_refused(network) -> None:
    for spec, v in (("in=dc:1e308;out=gnd", "1e\\+308"),
                    ("in=pulse:amp=12,width=0.01,period=0.02;out=gnd", "12"),
                    ("in=sin:amp=6,freq=10,offset=5;out=gnd", "11")):
        with pytest.raises(ValidationError,
                           match=rf"electrode 'in' reaches {v} V, above its limit max_abs_V=10 V"):
            nwphys.simulate(network, spec, duration_s=0.01, dt_s=1e-3)
    # a sampled drive is bounded by its samples; a per-electrode limit applies to that electrode
    drive = nwphys.Drive({"in": nwphys.drives.Sampled(np.array([0.0, 3.0, -4.0]), dt_s=1e-3), "out": 0.0})
    with pytest.raises(ValidationError, match=r"reaches 4 V, above its limit max_abs_V=3\.5 V"):
        nwphys.simulate(network, drive, duration_s=3e-3, dt_s=1e-3, max_abs_V={"in": 3.5})
    res = nwphys.simulate(network, drive, duration_s=3e-3, dt_s=1e-3, max_abs_V={"in": 4.0})
    assert res.status == 0
    with pytest.raises(ValidationError, match="does not drive"):
        nwphys.simulate(network, drive, duration_s=3e-3, dt_s=1e-3, max_abs_V={"bogus": 4.0})
    # the limit equals a device electrode's default
    from hardware.device import ElectrodeChannel

    assert ElectrodeChannel("x", "input").max_abs_V == nwphys.drives.DEFAULT_MAX_ABS_V


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
        nwphys.simulate(network, "in=dc:1;out=gnd", duration_s=n_rows_needed * 1e-6, dt_s=1e-6,
                        out_path=tmp_path / "big.h5", memory_limit_bytes=1e18, max_steps=10**15)
    assert not (tmp_path / "big.h5").exists()


def test_cli_refuses_in_one_line(device_file, tmp_path, capsys) -> None:
    for drive, extra, msg in (("in=dc:1e308;out=gnd", [], "above its limit max_abs_V=10 V"),
                              ("in=dc:1", [], "no current can flow"),
                              ("in=dc:1;out=gnd", ["--duration", "1e9"], "above the budget max_steps")):
        argv = ["simulate", str(device_file), "--drive", drive, "--duration", "0.01", "--dt", "1e-3",
                "-o", str(tmp_path / "r.h5"), "--quiet", *extra]
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], err
        assert not (tmp_path / "r.h5").exists()


def test_plot_of_an_incomplete_run_is_marked(network, device_file, tmp_path, capsys) -> None:
    run = tmp_path / "run.h5"
    res = nwphys.simulate(network, "in=pulse:amp=2,width=0.01,period=0.02;out=gnd", duration_s=0.05,
                          dt_s=1e-3, out_path=run, chunk_records=10, callback=lambda info: False)
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
