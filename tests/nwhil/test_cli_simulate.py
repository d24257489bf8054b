"""``nwhil simulate`` and ``nwhil plot`` through :func:`nwhil.main`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nwhil import main
from nwphys.io.runfile import read_run

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
    assert _simulate(device_file, run, "--force", drive="in=banana;out=gnd") == 2  # usage errors
    assert "--drive: drive for 'in': cannot parse 'banana'" in capsys.readouterr().err
    assert _simulate(device_file, run, "--force", duration="0.0105") == 2
    assert "--duration 0.0105 s is not a whole number of --dt 0.001 s steps" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nope.h5"), "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nwhil: error: run file") and "not found" in err


# ---------------------------------------------------------------------------- record grid
@pytest.mark.parametrize("method", ["exact", "sdirk2"])
def test_record_every_not_dividing_the_steps_still_ends_at_the_duration(
    tmp_path, device_file, capsys, method
) -> None:
    """Regression: ``--record-every 300`` of 1000 steps ended the run at 0.9 s, reported as final."""
    every, full = tmp_path / "every.h5", tmp_path / "full.h5"
    common = ("--method", method, "--json", "--quiet")
    assert (
        _simulate(device_file, every, *common, "--record-every", "300", drive="in=dc:1;out=gnd", duration="1")
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == 0 and summary["t_end_s"] == 1.0 and summary["records"] == 5
    stored = read_run(every)
    np.testing.assert_allclose(stored["t_s"], [0.0, 0.3, 0.6, 0.9, 1.0], rtol=1e-12)
    assert _simulate(device_file, full, *common, drive="in=dc:1;out=gnd", duration="1") == 0
    capsys.readouterr()
    ref = read_run(full)
    assert ref["t_s"][-1] == stored["t_s"][-1]
    # the last record is the state at 1 s: that of the run recorded at every step
    tol = 1e-12 if method == "exact" else 1e-3  # exact takes the same steps; sdirk2 its own
    np.testing.assert_allclose(stored["g"][-1], ref["g"][-1], rtol=0, atol=tol)
    np.testing.assert_allclose(stored["g"], ref["g"][[0, 300, 600, 900, 1000]], rtol=0, atol=tol)
    assert summary["electrode_currents_A"]["in"] == pytest.approx(ref["electrode_current_A"][-1, 0], rel=1e-3)


# ---------------------------------------------------------------------------- usage errors
@pytest.mark.parametrize(
    ("extra", "drive", "match"),
    [
        ((), "in=banana;out=gnd", r"--drive: drive for 'in': cannot parse 'banana'"),
        ((), "", r"--drive: drive spec must be a non-empty string"),
        (
            (),
            "xx=dc:1;out=gnd",
            r"--drive names electrode 'xx', not found in the device; known electrodes: in, out",
        ),
        (("--dt", "2"), DRIVE, r"--dt must be at most --duration \(0\.01 s\), got 2"),
        (("--dt", "3e-3"), DRIVE, r"--duration 0\.01 s is not a whole number of --dt 0\.003 s steps"),
        (("--record-nodes", "x"), DRIVE, r"--record-nodes must be 'all' or comma-separated node indices"),
        (
            ("--record-nodes", "99999"),
            DRIVE,
            r"--record-nodes: node indices must be in \[0, \d+\] \(the device's nodes\), got 99999 ",
        ),
    ],
)
def test_bad_argument_values_are_usage_errors_before_the_output_check(
    tmp_path, device_file, capsys, extra, drive, match
) -> None:
    """Regression: a bad drive or ``--dt 2`` exited 1, and only after 'output exists; pass --force'."""
    import re

    run = tmp_path / "run.h5"
    run.write_bytes(b"an existing output")  # would be refused without --force
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
        str(run),
        "--quiet",
        *extra,
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(match, err), err
    for word in ("exists", "dt_s", "duration_s", "force=True", ".parts", ".partial"):
        assert word not in err, err
    assert run.read_bytes() == b"an existing output"


# ---------------------------------------------------------------------------- interrupted runs
def test_ctrl_c_leaves_an_interrupted_run_that_names_its_resume_command(
    tmp_path, device_file, capsys, monkeypatch
) -> None:
    """Regression: after Ctrl-C the file said 'running' with 0 records, the same command said
    'exists; pass --force' without --resume, and a resumed run counted only its last session."""
    import nwphys.dynamics.integrate

    ref, run = tmp_path / "ref.h5", tmp_path / "run.h5"
    extra = ("--chunk", "5", "--json")
    assert _simulate(device_file, ref, *extra, duration="0.05") == 0
    whole = json.loads(capsys.readouterr().out)

    real, calls = nwphys.dynamics.integrate.sdirk_chunk, []

    def ctrl_c_in_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(nwphys.dynamics.integrate, "sdirk_chunk", ctrl_c_in_third_chunk)
    assert _simulate(device_file, run, *extra, duration="0.05") == 130
    err = capsys.readouterr().err
    assert f"run file {str(run)!r} is interrupted at t=0.01 s of 0.05 s; resume with: nwhil simulate" in err
    monkeypatch.undo()
    stored = read_run(run)
    assert stored["status_name"] == "interrupted" and stored["status"] == -1 and not stored["complete"]
    assert stored["checkpoint_rows"] == 10 and stored["t_s"].size == 10
    assert "--resume" in stored["resume_command"] and stored["resume_command"] in stored["message"]
    assert not (tmp_path / "run.h5.parts").exists() and not (tmp_path / "run.h5.lock").exists()

    # the same command names --resume
    assert _simulate(device_file, run, *extra, duration="0.05") == 1
    err = capsys.readouterr().err
    assert "holds an interrupted run (t = 0.01 of 0.05 s); pass --resume to continue it" in err, err

    # the stored command resumes it; the statistics cover both sessions
    import shlex

    argv = shlex.split(stored["resume_command"])
    assert argv[:2] == ["nwhil", "simulate"]
    assert main([*argv[1:], "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    back, full = read_run(run), read_run(ref)
    assert back["complete"] and back["status_name"] == "complete"
    for key in ("t_s", "g", "electrode_current_A", "electrode_voltage_V"):
        np.testing.assert_array_equal(back[key], full[key], err_msg=key)
    for key in ("steps", "rejected_steps", "newton_iterations"):
        assert done[key] == whole[key], key
    assert back["n_steps"] == whole["steps"] and back["n_rejected"] == whole["rejected_steps"]
    assert done["wall_time_s"] > stored["wall_time_s"] > 0
