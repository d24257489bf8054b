"""Study: would factorising and solving several series at once, interleaved, pay in the batched engine?

Run: ``.venv/bin/python benchmarks/study_ldl_lanes.py`` (one core; run nothing else on the machine
while it runs; about 30 seconds).

The batched engine (:class:`nwphys.dynamics.batched.BatchedEngine`) integrates each series of a
batch on its own, with its own step size and Newton matrix, through the sparse LDL^T kernels of
:mod:`nwphys.circuit._ldl_kernels`. On the default reservoir device (306 unknowns) each triangular
solve and numeric factorisation is a chain of dependent scalar operations. An engine that advanced
``W`` series in lock step could store their factors interleaved (``Lx[p, lane]``) and run the
same elimination for all ``W`` at once, the lanes' arithmetic in SIMD registers. This study
measures the most that could gain, on the engine's own workload:

1. the numeric factorisation and the solve of one series (the engine's kernels) against ``W``
   interleaved series (the prototype kernels below, same pattern, same matrices), per series;
2. the engine (``"esdirk3-sn"``, the reservoir's default) at four operating points of the
   physical grids: microseconds per held sample, factorisations and solves per held sample, and
   the share of its time that these two primitives take (counts times their times of part 1);
3. the bound: the engine's time if every factorisation and solve cost what it costs per series
   with ``W`` = 8 lanes, and nothing else changed. This is an upper bound on the gain: a lock-step
   engine also pays for lanes that idle while other series take extra Newton iterations or steps.

Device, drive and tolerances as in ``benchmarks/bench_engine.py`` (``SimulatedDeviceSpec()``,
12 SyntheticControl series, the calibrated encoding, ``rtol`` 3e-5 and ``atol`` 1e-6).
"""

from __future__ import annotations

import os
import time
from functools import partial

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numba as nb
import numpy as np
from _bench_common import best_of

from nwmodel import PhysicalReservoirClassifier, SimulatedDeviceSpec
from nwmodel.data.datasets import make_synthetic_control
from nwphys.circuit._ldl_kernels import ldl_numeric, ldl_solve
from nwphys.dynamics.batched import BatchedEngine

#: (input_scaling, slope, dt_s, n_virtual): the operating points timed (of bench_engine.py's 12)
POINTS = [(1.0, 1.0, 0.01, 5), (1.0, 1.0, 0.1, 5), (1.0, 5.0, 0.01, 5), (10.0, 1.0, 0.1, 5)]
LANES = (1, 2, 4, 8, 16)


def lane_kernels(W: int):
    """Prototype interleaved factorisation and solve of ``W`` matrices on one pattern (``W`` a
    compile-time constant: the lane loops are fixed-length and vectorise). Same arguments as
    :func:`ldl_numeric` / :func:`ldl_solve`, with a trailing lane axis on ``Ax``, ``Lx``,
    ``Dinv``, ``y`` and ``x``."""

    @nb.njit
    def numeric(n, Ap, Ai, Ax, Lp, Li, Lx, Dinv, y, Rp, Rc, Rq):
        dk = np.empty(W)
        yi = np.empty(W)
        for k in range(n):
            for lane in range(W):
                y[k, lane] = 0.0
            for p in range(Ap[k], Ap[k + 1]):
                i = Ai[p]
                if i <= k:
                    for lane in range(W):
                        y[i, lane] += Ax[p, lane]
            for lane in range(W):
                dk[lane] = y[k, lane]
                y[k, lane] = 0.0
            for q in range(Rp[k], Rp[k + 1]):
                i = Rc[q]
                p2 = Rq[q]
                for lane in range(W):
                    yi[lane] = y[i, lane]
                    y[i, lane] = 0.0
                for p in range(Lp[i], p2):
                    r = Li[p]
                    for lane in range(W):
                        y[r, lane] -= Lx[p, lane] * yi[lane]
                for lane in range(W):
                    lki = yi[lane] * Dinv[i, lane]
                    dk[lane] -= lki * yi[lane]
                    Lx[p2, lane] = lki
            for lane in range(W):
                Dinv[k, lane] = 1.0 / dk[lane]

    @nb.njit
    def solve(n, Lp, Li, Lx, Dinv, x):
        for j in range(n):
            for p in range(Lp[j], Lp[j + 1]):
                r = Li[p]
                for lane in range(W):
                    x[r, lane] -= Lx[p, lane] * x[j, lane]
        for j in range(n):
            for lane in range(W):
                x[j, lane] *= Dinv[j, lane]
        for j in range(n - 1, -1, -1):
            for p in range(Lp[j], Lp[j + 1]):
                r = Li[p]
                for lane in range(W):
                    x[j, lane] -= Lx[p, lane] * x[r, lane]

    return numeric, solve


def best_us(fn, number: int, repeat: int = 5) -> float:
    """Best mean microseconds per call of ``fn`` (one call first, outside the timing)."""
    fn()
    return best_of(fn, repeat, number) * 1e6


def _load_and_solve(solve, b: np.ndarray, x: np.ndarray, *args) -> None:
    """``x = b``, then ``solve(*args, x)`` in place (the right-hand side reloaded for every timed solve)."""
    x[:] = b
    solve(*args, x)


def nodal_values(top, rng: np.random.Generator) -> np.ndarray:
    """Upper-CSC values of a nodal matrix on the engine's pattern: junction conductances drawn
    over the device's range, the fixed branches and electrode series conductances as they are."""
    Ux = np.zeros(top.Ui.size + 1)
    p = np.concatenate([10.0 ** rng.uniform(-8, -4, top.nj), top.gfix])
    np.add.at(Ux, top.pos_a, p)
    np.add.at(Ux, top.pos_b, p)
    np.add.at(Ux, top.pos_o, -p)
    np.add.at(Ux, top.nor_diag, top.nor_g)
    return Ux


def main() -> None:
    spec = SimulatedDeviceSpec()
    kw = dict(spec.device_kwargs)
    dev = spec()
    st = dev._stepper
    g0 = dev._g_initial
    n_gnd = len(dev.ground_names)
    engine = BatchedEngine(dev.circuit, dev.model, driven=st.driven, rtol=kw["rtol"], atol=kw["atol"],
                           scheme="esdirk3")
    engine.run([np.zeros((2, len(st.driven)))], 0.1, g0=g0)  # compile outside the timing
    top = engine._top
    n, nnz_l = top.n, int(top.Lp[top.n])
    rng = np.random.default_rng(0)
    print(f"device: {dev.circuit.n_nodes} nodes, {top.nj} junctions; factor of {n} unknowns, "
          f"{nnz_l} off-diagonal entries")

    # ---- 1. the primitives, per series
    print(f"{'lanes':>5} {'factorisation us':>16} {'per series':>10} {'solve us':>9} {'per series':>10} "
          f"{'max rel diff':>12}")
    per_series: dict[int, tuple[float, float]] = {}
    Lx1, D1, y1 = np.empty(nnz_l), np.empty(n), np.zeros(n)
    for W in LANES:
        U = np.stack([nodal_values(top, rng) for _ in range(W)], axis=1)
        b = rng.standard_normal((n, W))
        x = np.empty((n, W))
        if W == 1:
            U1, x1 = U[:, 0].copy(), np.empty(n)
            fac = partial(ldl_numeric, n, top.Up, top.Ui, U1, top.Lp, top.Li, Lx1, D1, y1, top.Rp, top.Rc,
                          top.Rq)
            sol = partial(_load_and_solve, ldl_solve, b[:, 0], x1, n, top.Lp, top.Li, Lx1, D1)
            t_f, t_s = best_us(fac, 2000), best_us(sol, 4000)
            x[:, 0] = x1
        else:
            numeric, solve = lane_kernels(W)
            LxW, DW, yW = np.empty((nnz_l, W)), np.empty((n, W)), np.zeros((n, W))
            fac = partial(numeric, n, top.Up, top.Ui, U, top.Lp, top.Li, LxW, DW, yW, top.Rp, top.Rc, top.Rq)
            sol = partial(_load_and_solve, solve, b, x, n, top.Lp, top.Li, LxW, DW)
            t_f, t_s = best_us(fac, 4000 // W), best_us(sol, 8000 // W)
        # the same systems solved one at a time by the engine's kernels
        diff = 0.0
        for lane in range(W):
            ldl_numeric(n, top.Up, top.Ui, U[:, lane].copy(), top.Lp, top.Li, Lx1, D1, y1, top.Rp, top.Rc,
                        top.Rq)
            ref = b[:, lane].copy()
            ldl_solve(n, top.Lp, top.Li, Lx1, D1, ref)
            diff = max(diff, float(np.abs(x[:, lane] - ref).max() / np.abs(ref).max()))
        per_series[W] = (t_f / W, t_s / W)
        print(f"{W:>5} {t_f:>16.2f} {t_f / W:>10.2f} {t_s:>9.2f} {t_s / W:>10.2f} {diff:>12.1e}")

    # ---- 2 and 3. the engine's time and the share of the primitives
    X, y = make_synthetic_control(2, 60, seed=11)
    (f1, s1), (f8, s8) = per_series[1], per_series[8]
    print(f"\n{'scale,slope,dt,nv':>18} {'us/held':>8} {'fact':>5} {'solves':>6} {'share':>6} "
          f"{'bound us/held':>13} {'gain':>5}")
    for isc, slope, dt, nv in POINTS:
        clf = PhysicalReservoirClassifier(spec, slope=slope, input_scaling=isc, dt_s=dt, n_virtual=nv,
                                          random_state=0).fit(X, y)
        drives = [np.concatenate([v, np.zeros((v.shape[0], n_gnd))], axis=1)
                  for v in (clf.encoding_.voltages_V(x_) for x_ in X)]
        n_held = sum(d.shape[0] for d in drives)
        best = np.inf
        for _ in range(3):
            t = time.perf_counter()
            res = engine.run(drives, dt / nv, g0=g0)
            best = min(best, time.perf_counter() - t)
        us = best / n_held * 1e6
        nf = sum(r.stats["n_factor"] for r in res) / n_held
        ns = sum(r.stats["n_solves"] for r in res) / n_held
        share = (nf * f1 + ns * s1) / us
        bound = us - nf * (f1 - f8) - ns * (s1 - s8)
        print(f"{f'{isc:g},{slope:g},{dt:g},{nv}':>18} {us:>8.1f} {nf:>5.2f} {ns:>6.2f} {share:>6.0%} "
              f"{bound:>13.1f} {us / bound:>4.2f}x")
    dev.close()


if __name__ == "__main__":
    main()
