"""Benchmark: fast fixed-step stepper (ms per step) and the solve_ivp path, with MemNNetSim alongside.

Run: ``.venv/bin/python benchmarks/bench_dynamics.py [--quick]``.

Columns: wires, junctions, ms per fast step (one nodal solve + closed-form update + readout, the
default backend), the same with the numpy/scipy-only ``splu`` backend, and the solve_ivp path (LSODA)
as milliseconds of wall time per right-hand-side evaluation and per simulated millisecond. The
MemNNetSim (PyPI ``mnns``) column uses a network of the same wire count and density and reports
its nodal solve (``mnns.solve_network``), a lower bound on its cost per step; speed-up = that / ours.
Target of the project: <= 1.5 ms per fast step at 2,000 wires, >= 40x faster than mnns per step.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
from _bench_common import MNNS_HINT, device_circuit, mnns_network

from nwphys.drives import parse_drive
from nwphys.integrate import Stepper, simulate
from nwphys.junctions import make_junction_model
from nwphys.nodal import available_backends

DRIVE = "in=pulse:amp=5,width=0.02,period=0.04;out=gnd"


def fast_ms_per_step(c, backend: str, n_steps: int) -> tuple[float, float]:
    model = make_junction_model("rate_balance")
    st = Stepper(c, model, driven=["in", "out"], backend=backend)
    dv = parse_drive(DRIVE).voltages(np.arange(n_steps) * 1e-3)
    st.run(dv[:5], 1e-3)
    tracemalloc.start()
    t = time.perf_counter()
    st.run(dv, 1e-3)
    el = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return el / n_steps * 1e3, peak / 2**20


def ivp_cost(c, duration_s: float) -> tuple[float, float, int]:
    t = time.perf_counter()
    r = simulate(
        c, DRIVE, duration_s=duration_s, dt_s=1e-3, method="LSODA", rtol=1e-6, atol=1e-9, record_every=10
    )
    el = time.perf_counter() - t
    return el / max(r.nfev, 1) * 1e3, el / (duration_s * 1e3) * 1e3, r.nfev


def mnns_ms_per_eval(n_wires: int, repeat: int) -> tuple[float, int] | None:
    """MemNNetSim's nodal solve (``mnns.solve_network``), the work each of its steps must do.

    This is a lower bound on mnns's cost per step: its evolve() adds the state update and scipy's
    stepping on top. (Its evolve() needs model-specific resistance functions set up; the nodal
    solve is the like-for-like kernel.)
    """
    peer = mnns_network(n_wires)
    if peer is None:
        return None
    import mnns

    net, left, right = peer
    mnns.solve_network(net, left, right, 1.0)
    t = time.perf_counter()
    for _ in range(repeat):
        mnns.solve_network(net, left, right, 1.0)
    return (time.perf_counter() - t) / repeat * 1e3, net.number_of_edges()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes and runs, a few seconds")
    args = ap.parse_args()
    sizes = [500, 2000] if args.quick else [500, 2000, 10000]
    n_steps = 100 if args.quick else 500
    default = "qdldl" if "qdldl" in available_backends() else "splu"
    print(f"default nodal backend: {default}; backends here: {', '.join(available_backends())}")
    print(
        f"{'wires':>6} {'junctions':>9} {'fast ms/step':>12} {'splu ms/step':>12} {'peak MiB':>8} "
        f"{'ivp ms/eval':>11} {'ivp s/sim-s':>11} {'mnns ms/solve':>13} {'speed-up':>8}"
    )
    for n in sizes:
        c = device_circuit(n)
        fast, mem = fast_ms_per_step(c, default, n_steps)
        splu = fast_ms_per_step(c, "splu", max(20, n_steps // 5))[0] if default != "splu" else fast
        if n <= 2000:
            ivp_eval, ivp_rate, _ = ivp_cost(c, 0.02 if args.quick else 0.08)
            ivp_s = f"{ivp_eval:>11.3f} {ivp_rate:>11.2f}"
        else:
            ivp_s = f"{'-':>11} {'-':>11}"
        try:
            peer = mnns_ms_per_eval(n, 2 if args.quick else 5) if n <= 2000 else None
        except Exception as exc:  # the peer's own failure is reported, not fatal
            peer = None
            print(f"  mnns failed: {type(exc).__name__}: {exc}")
        if peer is None:
            mn = f"{'-':>13} {'-':>8}"
        else:
            mn = f"{peer[0]:>13.3f} {peer[0] / fast:>7.1f}x"
        print(f"{n:>6} {c.n_junctions:>9} {fast:>12.3f} {splu:>12.3f} {mem:>8.2f} {ivp_s} {mn}")
    try:
        import mnns  # noqa: F401
    except ImportError:
        print(MNNS_HINT)


if __name__ == "__main__":
    main()
