"""SIGKILL at many moments of a simulation writing a run file: the file is absent or whole.

Each kill point runs ``nwphys.simulate`` with a run file in a fresh subprocess and kills it with
SIGKILL, either when the run-file code has made its n-th call (into h5py, :mod:`nwphys.io.runfile`,
its journal, :mod:`nwutil.hdf5` or :mod:`nwutil.fileio`: file creation, every dataset write, the
renames), with n drawn log-uniformly
(the creation of the file is hit often) and uniformly, or after a random delay (seeded). After
every kill the run file must not exist, or read back as an exact prefix of the uninterrupted run
and resume to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import nwphys
from nwphys.dynamics.integrate import simulate
from nwphys.io.runfile import read_run

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")]

DRIVE = "in=pulse:amp=2,width=0.01,period=0.02;out=gnd"
KW = dict(duration_s=0.2, dt_s=1e-3, chunk_records=10, backend="splu")
KEYS = ("t_s", "g", "electrode_current_A", "electrode_voltage_V")
N_LOG_KILLS, N_UNIFORM_KILLS, N_TIMED_KILLS = 10, 6, 8

CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    import h5py
    import nwphys
    import nwphys.io._run_journal, nwutil.fileio, nwutil.hdf5, nwphys.io.runfile
    from nwphys.dynamics.integrate import simulate
    device, out, mode, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    kw = eval(sys.argv[5])
    net = nwphys.load_network(device)
    roots = (os.path.dirname(h5py.__file__), nwphys.io.runfile.__file__, nwphys.io._run_journal.__file__,
             nwutil.hdf5.__file__, nwutil.fileio.__file__)
    count = [0]

    def profile(frame, event, arg):
        if event in ("call", "c_call") and frame.f_code.co_filename.startswith(roots):
            count[0] += 1
            if count[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)

    print("go", flush=True)
    t0 = time.perf_counter()
    if mode != "timed":
        sys.setprofile(profile)
    simulate(net, sys.argv[6], out_path=out, **kw)
    sys.setprofile(None)
    print(count[0], time.perf_counter() - t0, flush=True)
    """
)


def _child(device, out, mode: str, n: int = 0) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(device), str(out), mode, str(n), repr(KW), DRIVE],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_sigkill_at_any_moment_leaves_no_file_or_a_resumable_one(tmp_path, seed) -> None:
    net = nwphys.generate("torino", density_per_um2=0.0095, size_um=(60.0, 60.0), seed=seed)
    device = nwphys.save_network(net, tmp_path / "dev.h5")
    net = nwphys.load_network(device)

    # the uninterrupted run (the reference and its duration), then one counting the run-file calls
    runs = {}
    for mode in ("timed", "count"):
        proc = _child(device, tmp_path / f"ref_{mode}.h5", mode)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        runs[mode] = out.split()[1:3]
    n_events, wall_s = int(runs["count"][0]), float(runs["timed"][1])
    ref = read_run(tmp_path / "ref_timed.h5")
    assert ref["complete"] and ref["t_s"].size == 201
    for k in KEYS:
        np.testing.assert_array_equal(read_run(tmp_path / "ref_count.h5")[k], ref[k])

    rng = np.random.default_rng(seed)
    events = np.concatenate([np.exp(rng.uniform(0.0, np.log(n_events), N_LOG_KILLS)),
                             rng.uniform(1, n_events, N_UNIFORM_KILLS)])
    points = [("event", int(n)) for n in np.unique(events.astype(int))]
    points += [("timed", float(d)) for d in rng.uniform(0.0, wall_s, N_TIMED_KILLS)]
    outcomes = []
    for i, (mode, at) in enumerate(points):
        run = tmp_path / f"run{i}.h5"
        proc = _child(device, run, mode, at if mode == "event" else 0)
        try:
            assert proc.stdout.readline().strip() == "go", proc.stderr.read()
            if mode == "timed":
                time.sleep(at)
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        where = f"kill point {mode}={at!r}"
        if proc.returncode != -signal.SIGKILL:
            assert proc.returncode == 0, f"{where}: {proc.stderr.read()}"
        if not run.exists():
            outcomes.append("no file")
            continue
        got = read_run(run)  # must open and read
        n = got["checkpoint_rows"]
        for k in KEYS:
            np.testing.assert_array_equal(got[k], ref[k][:n], err_msg=f"{where}: {k}")
        if got["complete"]:
            outcomes.append("complete")
            continue
        done = simulate(net, DRIVE, out_path=run, resume=True, **KW)
        assert done.success, where
        back = read_run(run)
        assert back["complete"], where
        for k in KEYS:
            np.testing.assert_array_equal(getattr(done, k), ref[k], err_msg=f"{where}: {k}")
            np.testing.assert_array_equal(back[k], ref[k], err_msg=f"{where}: {k}")
        outcomes.append(f"resumed from {n}")
    assert len(outcomes) >= 20
    # the kill points reach the creation of the file and the middle of the run
    assert "no file" in outcomes, outcomes
    assert any(o.startswith("resumed from") and o != "resumed from 0" for o in outcomes), outcomes
