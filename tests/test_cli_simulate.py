"""``nwhil simulate`` and ``nwhil plot`` through :func:`nwmodel.cli.main`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nwmodel.cli import main
from nwphys.runfile import read_run

DRIVE = "in=pulse:amp=2,width=0.01,period=0.02;out=gnd"


@pytest.fixture
def device_file(tmp_path, seed):
    import nwphys

    net = nwphys.generate("torino", density_per_um2=0.0095, size_um=(160.0, 160.0), seed=seed)
    path = tmp_path / "dev.h5"
    nwphys.save_network(net, path)
    return path


def _simulate(device, run, *extra: str, drive: str = DRIVE, duration: str = "0.01") -> int:
    """``nwhil simulate DEVICE --drive DRIVE --duration DURATION --dt 1e-3 -o RUN *extra``."""
    argv = ["simulate", str(device), "--drive", drive, "--duration", duration, "--dt", "1e-3"]
    return main([*argv, "-o", str(run), *extra])


def test_simulate_json_summary_and_plot(tmp_path, device_file, capsys) -> None:
    run = tmp_path / "run.h5"
    rc = _simulate(device_file, run, "--json", duration="0.05")
    out = capsys.readouterr()
    assert rc == 0, out.err
    summary = json.loads(out.out)
    assert summary["steps"] == 50 and summary["records"] == 51 and summary["status"] == 0
    stored = read_run(run)
    np.testing.assert_allclose(summary["electrode_currents_A"]["in"], stored["electrode_current_A"][-1, 0])
    assert summary["electrode_currents_A"]["in"] == pytest.approx(
        -summary["electrode_currents_A"]["out"], rel=1e-9
    )
    assert summary["final_mean_conductance_S"] > 1e-3  # above G_min after the pulses
    png = tmp_path / "run.png"
    assert main(["plot", str(run), "-o", str(png)]) == 0
    assert png.stat().st_size > 10_000
    # LSODA reference through the CLI agrees with the fast stepper at this dt to 1e-3 in g
    run2 = tmp_path / "run_ivp.h5"
    lsoda = ("--method", "LSODA", "--json", "--rtol", "1e-8", "--atol", "1e-11")
    assert _simulate(device_file, run2, *lsoda, duration="0.05") == 0
    assert np.abs(read_run(run2)["g"] - stored["g"]).max() < 1e-3


def test_simulate_error_paths_are_one_line(tmp_path, device_file, capsys) -> None:
    run = tmp_path / "run.h5"
    assert _simulate(tmp_path / "missing.h5", run) == 1
    err = capsys.readouterr().err
    assert err.startswith("nwhil: error:") and err.count("\n") == 1
    assert _simulate(device_file, run, "--json") == 0
    capsys.readouterr()
    assert _simulate(device_file, run) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert _simulate(device_file, run, "--force", drive="in=banana;out=gnd") == 1
    assert "drive for 'in': cannot parse 'banana'" in capsys.readouterr().err
    assert _simulate(device_file, run, "--force", duration="0.0105") == 1
    assert "duration_s must be a whole number of steps" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nope.h5"), "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nwhil: error: run file") and "not found" in err
