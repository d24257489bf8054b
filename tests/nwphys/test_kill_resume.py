"""A simulation killed with SIGKILL mid-run resumes from its last checkpoint to the same result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import nwphys
from nwphys.io.runfile import journal_dir, read_run

DRIVE = "in=pulse:amp=2,width=0.01,period=0.02;out=gnd"


def _simulate(device, out, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "nwhil",
        "simulate",
        str(device),
        "--drive",
        DRIVE,
        "--duration",
        "4",
        "--dt",
        "1e-3",
        "--chunk",
        "50",
        "-o",
        str(out),
        "--quiet",
        *extra,
    ]


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
def test_sigkill_mid_run_then_resume_equals_uninterrupted_run(tmp_path, seed) -> None:
    net = nwphys.generate("torino", density_per_um2=0.0095, size_um=(160.0, 160.0), seed=seed)
    device = nwphys.save_network(net, tmp_path / "dev.h5")
    ref, run = tmp_path / "ref.h5", tmp_path / "run.h5"
    subprocess.run(_simulate(device, ref), check=True, timeout=300)

    proc = subprocess.Popen(_simulate(device, run), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(journal_dir(run).glob("r*.h5"))) < 4:
        time.sleep(0.05)  # wait until several chunks are committed
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed = read_run(run)  # running, and no process holds its lock: interrupted
    assert killed["status_name"] == "interrupted" and killed["status"] == -1
    assert "--resume" in killed["resume_command"] and killed["resume_command"] in killed["message"]
    again = subprocess.run(_simulate(device, run), capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "pass --resume to continue it" in again.stderr, again.stderr

    done = subprocess.run(_simulate(device, run, "--resume"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    a, b = read_run(ref), read_run(run)
    assert b["complete"] and b["status"] == 0
    for key in ("t_s", "g", "electrode_current_A", "electrode_voltage_V"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
