"""Benchmark: the frozen-voltage ``"exact"`` stepper (ms per step) and the solve_ivp path, with
MemNNetSim alongside. The error-controlled default integrator is timed in ``bench_stiff.py``.

Run: ``.venv/bin/python benchmarks/bench_dynamics.py [--quick]``.

Columns: wires, junctions, ms per fast step (one nodal solve + closed-form update + readout, the
default backend), the same with the numpy/scipy-only ``splu`` backend, and the solve_ivp path (LSODA)
as milliseconds of wall time per right-hand-side evaluation and per simulated millisecond.

MemNNetSim (PyPI ``mnns``) columns, on a network of the same wire count and density, measured in
the same run as ours (the machine may be loaded; only same-run ratios are meaningful):

- ``mnns ms/solve``: its nodal solve alone (``mnns.solve_network``), a lower bound on its step cost.
- ``mnns ms/step``: its real time evolution, ``NanowireNetwork.evolve`` with its default junction
  model (``mnns.models.HP_model``, the "linear" resistance function, window ``f(x) = 1`` as in
  ``solve_evolution``), a DC drive of 1 v0 from the left to the right electrode, over a fixed number
  of output steps of ``dt = 0.01 t0``; wall time / output steps. ``evolve`` hard-codes scipy's
  adaptive DOP853 (no fixed-step method can be chosen), so we pass ``first_step = max_step = dt``:
  it then takes one DOP853 step per output step unless its error control (default rtol = atol = 1e-7)
  rejects one, which the ``evals/step`` column shows (12 stage evaluations + 3 dense-output
  evaluations for ``t_eval`` = 15 per step; more means rejected or extra steps).
- ``speed-up`` = mnns cost / our fast step, on the basis named in ``basis``: ``step`` (true per-step
  cost, used whenever ``evolve`` ran) or ``solve`` (lower bound, only if ``evolve`` failed).

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

from nwphys.circuit.nodal import available_backends
from nwphys.dynamics.drives import parse_drive
from nwphys.dynamics.integrate import Stepper, simulate
from nwphys.junctions import make_junction_model

DRIVE = "in=pulse:amp=5,width=0.02,period=0.04;out=gnd"


def fast_ms_per_step(c, backend: str, n_steps: int) -> tuple[float, float]:
    model = make_junction_model("rate_balance")
    st = Stepper(c, model, driven=["in", "out"], backend=backend, method="exact", guard="off")
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
        c, DRIVE, duration_s=duration_s, dt_s=1e-3, method="LSODA", rtol=1e-6, atol=1e-9, record_every=10,
        ivp_jacobian="fd",
    )
    el = time.perf_counter() - t
    return el / max(r.nfev, 1) * 1e3, el / (duration_s * 1e3) * 1e3, r.nfev


def mnns_ms_per_eval(n_wires: int, repeat: int) -> tuple[float, int] | None:
    """MemNNetSim's nodal solve (``mnns.solve_network``), the work each of its evaluations must do.

    A lower bound on mnns's cost per step: its ``evolve`` adds the resistance update, the state
    derivative and several evaluations per DOP853 step on top (see :func:`mnns_ms_per_step`).
    Returns ``(ms per solve, junction edges)`` or None when mnns is not importable.
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


#: mnns output step (units of its t0) and initial state of every junction for the evolve timing.
MNNS_DT_T0 = 0.01
MNNS_X0 = 0.05


def mnns_ms_per_step(n_wires: int, n_steps: int) -> tuple[float, float] | None:
    """MemNNetSim's real time evolution: wall ms per output step and model evaluations per step.

    Runs ``NanowireNetwork.evolve(mnns.models.HP_model, t_eval, ...)`` (its default junction model,
    "linear" resistance, window 1) under a constant 1 v0 drive over ``n_steps`` output steps of
    :data:`MNNS_DT_T0`, with ``first_step = max_step = dt`` so DOP853 (hard-coded in ``evolve``) steps
    at the output spacing. A one-step run first warms its caches; the state is reset before timing.
    Returns None when mnns is not importable; raises RuntimeError if its solver reports failure.
    """
    peer = mnns_network(n_wires)
    if peer is None:
        return None
    from mnns import models

    net, left, right = peer
    net.resistance_function = "linear"
    net.state_vars = ["x"]
    args = (net, left, right, lambda t: 1.0, lambda x: 1)

    def evolve(steps: int):
        net.set_state_var("x", MNNS_X0)
        t_eval = np.arange(steps + 1) * MNNS_DT_T0
        opts = {"first_step": MNNS_DT_T0, "max_step": MNNS_DT_T0}
        sol = net.evolve(models.HP_model, t_eval, args=args, ivp_options=opts)
        if sol.status != 0:
            raise RuntimeError(f"mnns evolve failed: {sol.message}")
        return sol

    evolve(1)
    t = time.perf_counter()
    sol = evolve(n_steps)
    el = time.perf_counter() - t
    return el / n_steps * 1e3, sol.nfev / n_steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes and runs, a few seconds")
    args = ap.parse_args()
    sizes = [500, 2000] if args.quick else [500, 2000, 10000]
    n_steps = 100 if args.quick else 500
    # mnns evolve output steps per size (each costs ~15 of its model evaluations).
    mnns_steps = {500: 20, 2000: 5} if args.quick else {500: 60, 2000: 20}
    default = "qdldl" if "qdldl" in available_backends() else "splu"
    print(f"default nodal backend: {default}; backends here: {', '.join(available_backends())}")
    print(
        f"{'wires':>6} {'junctions':>9} {'fast ms/step':>12} {'splu ms/step':>12} {'peak MiB':>8} "
        f"{'ivp ms/eval':>11} {'ivp s/sim-s':>11} {'mnns ms/solve':>13} {'mnns ms/step':>12} "
        f"{'evals/step':>10} {'speed-up':>8} {'basis':>5}"
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
        solve = step = None
        if n in mnns_steps:
            try:  # the peer's own failure is reported, not fatal
                solve = mnns_ms_per_eval(n, 2 if args.quick else 5)
            except Exception as exc:
                print(f"  mnns solve_network failed: {type(exc).__name__}: {exc}")
            try:
                step = mnns_ms_per_step(n, mnns_steps[n])
            except Exception as exc:
                print(f"  mnns evolve failed: {type(exc).__name__}: {exc}")
        mn = f"{solve[0]:>13.3f}" if solve is not None else f"{'-':>13}"
        mn += f" {step[0]:>12.1f} {step[1]:>10.1f}" if step is not None else f" {'-':>12} {'-':>10}"
        if step is not None:
            mn += f" {step[0] / fast:>7.0f}x {'step':>5}"
        elif solve is not None:
            mn += f" {solve[0] / fast:>7.1f}x {'solve':>5}"
        else:
            mn += f" {'-':>8} {'-':>5}"
        print(f"{n:>6} {c.n_junctions:>9} {fast:>12.3f} {splu:>12.3f} {mem:>8.2f} {ivp_s} {mn}")
    try:
        import mnns  # noqa: F401
    except ImportError:
        print(MNNS_HINT)


if __name__ == "__main__":
    main()
