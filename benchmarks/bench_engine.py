"""Benchmark: the physical reservoir's integration, one series at a time against the batched engine.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--series 12] [--quick]`` (one core; run
nothing else on the machine while it runs).

Device, drive and accuracy: the default reservoir device (:class:`nwmodel.SimulatedDeviceSpec`,
316 nodes, 1699 junctions), its tolerances (``rtol`` 3e-5, ``atol`` 1e-6) and the calibrated
encoding of SyntheticControl series (``make_synthetic_control(2, 60, seed=11)``, 12 series, two
per class) at every operating point of ``tests/nwmodel/test_stiff_reservoir.py``: the corners of the
quick and paper grids of both protocols (``input_scaling``, ``slope``, ``dt_s``, ``n_virtual``):
every point of the paper protocol's paper grid, the quick grids, and the corners of the tuned
paper grid.

Columns, per operating point, measured in the same process:

- ``1-series``: :class:`nwphys.Stepper` with ``"sdirk2"`` (exact Newton, qdldl), reset before
  every series: the physical reservoir's path before the batched engine;
- ``batched``: :class:`nwphys.dynamics.batched.BatchedEngine` (``"sdirk2-sn"``), all series in one call;
- ``esdirk3``: the same engine with its third-order scheme (``"esdirk3-sn"``) at the same tolerances;
- held samples per second per core of each, and their ratios to the one-series path;
- ``units``: the batched engine's time per held sample in units of one qdldl numeric
  refactorisation of a fixed 324-node (18 x 18) grid Laplacian, timed in this process (the
  machine-independent form of the target: 3 units or fewer; the one-series path's units beside);
- work per held sample of each scheme: accepted steps, factorisations, Newton iterations;
- ``err/spread``: the largest difference of any feature (the feature sets the grids read there)
  from a tight reference (``"sdirk2"`` at ``rtol`` 1e-6, ``atol`` 1e-7), relative to that
  feature's spread across the series; the accuracy target is 1e-3. Omitted with ``--quick``.

Target of the engine: 10x the one-series path (goal 20x) at the same accuracy.

``--torch DEVICE`` also times the engine's torch path with the third-order scheme (the engine of
``method="esdirk3-cuda"`` when ``DEVICE`` is ``cuda``) against the compiled kernel on one core, over
192 series of the quick grid's operating point, with the largest relative difference of their
currents.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np
import scipy.sparse as sp

from nwmodel import PhysicalReservoirClassifier, SimulatedDeviceSpec
from nwmodel.data.datasets import make_synthetic_control
from nwmodel.models.readout import trajectory_features
from nwmodel.selection.protocols import TUNED_FEATURES
from nwphys.dynamics.batched import BatchedEngine
from nwphys.dynamics.stepper import Stepper

PAPER = ("last",)
#: (input_scaling, slope, dt_s, n_virtual, feature sets), as in tests/nwmodel/test_stiff_reservoir.py
OPERATING_POINTS = [
    (1.0, 1.0, 0.1, 1, (*PAPER, *TUNED_FEATURES)),
    (1.0, 1.0, 0.1, 5, PAPER),
    (10.0, 5.0, 0.01, 5, PAPER),
    (10.0, 1.0, 0.1, 5, PAPER),
    (1.0, 5.0, 0.01, 5, PAPER),
    (10.0, 5.0, 0.1, 5, PAPER),
    (10.0, 1.0, 0.01, 5, PAPER),
    (1.0, 5.0, 0.1, 5, PAPER),
    (1.0, 1.0, 0.01, 5, PAPER),
    (3.0, 1.0, 0.02, 1, TUNED_FEATURES),
    (3.0, 1.0, 0.1, 1, TUNED_FEATURES),
    (1.0, 1.0, 0.02, 1, TUNED_FEATURES),
]


def qdldl_unit_s(repeats: int = 2000) -> float:
    """Seconds of one qdldl numeric refactorisation of an 18 x 18 grid Laplacian (324 nodes), grounded."""
    import qdldl

    n = 18
    lap1 = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    eye = sp.identity(n)
    A = (sp.kron(lap1, eye) + sp.kron(eye, lap1) + 1e-3 * sp.identity(n * n)).tocsc()
    U = sp.triu(A, format="csc")
    solver = qdldl.Solver(U, upper=True)
    best = np.inf
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(repeats // 5):
            solver.update(U, upper=True)
        best = min(best, (time.perf_counter() - t) / (repeats // 5))
    return best


def _trajectories(readings: list[np.ndarray], n_t: int) -> np.ndarray:
    return np.stack([r.reshape(n_t, -1) for r in readings])


def _time_torch(device: str, spec, X, y, engine: BatchedEngine, g0, n_gnd: int) -> None:
    """Series per second of the torch path on ``device`` against the compiled kernel, on the
    quick-grid operating point, with the batch repeated to 12 * 16 series."""
    import torch

    clf = PhysicalReservoirClassifier(spec, random_state=0).fit(X, y)
    enc = clf.encoding_
    volts = [enc.voltages_V(x) for x in X] * 16
    drives = [np.concatenate([v, np.zeros((v.shape[0], n_gnd))], axis=1) for v in volts]
    tb = BatchedEngine(engine.circuit, engine.model, driven=engine.driven, rtol=engine.rtol, atol=engine.atol,
                       scheme=engine.scheme, backend="torch", torch_device=device)
    tb.run(drives[:2], enc.dt_s, g0=g0)  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    rt = tb.run(drives, enc.dt_s, g0=g0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t_torch = time.perf_counter() - t
    t = time.perf_counter()
    rn = engine.run(drives, enc.dt_s, g0=g0)
    t_numba = time.perf_counter() - t
    rel = [np.abs(a.electrode_current_A - b.electrode_current_A).max() / np.abs(b.electrode_current_A).max()
           for a, b in zip(rt, rn, strict=True)]
    diff = float(max(rel))
    print(f"{engine.scheme}, torch on {device}: {len(drives) / t_torch:.1f} series/s; compiled kernel, one "
          f"core: {len(drives) / t_numba:.1f} series/s; largest relative current difference {diff:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the tight reference (no accuracy column)")
    ap.add_argument("--torch", metavar="DEVICE", help="also time the torch path on DEVICE (cpu, cuda)")
    args = ap.parse_args()
    X, y = make_synthetic_control(2, 60, seed=11)
    spec = SimulatedDeviceSpec()
    kw = dict(spec.device_kwargs)
    rtol, atol = kw["rtol"], kw["atol"]
    dev = spec()
    st = dev._stepper
    c, model, driven = dev.circuit, dev.model, st.driven
    names = list(c.electrode_names)
    out_cols = [names.index(n) for n in dev.output_names]
    in_cols = [names.index(n) for n in dev.input_names]
    gnd_cols = [names.index(n) for n in dev.ground_names]
    n_gnd = len(gnd_cols)
    g0 = dev._g_initial
    unit = qdldl_unit_s()
    one = Stepper(c, model, driven=driven, g0=g0, rtol=rtol, atol=atol)
    tight = Stepper(c, model, driven=driven, g0=g0, rtol=1e-6, atol=1e-7)
    engine = BatchedEngine(c, model, driven=driven, rtol=rtol, atol=atol)
    engine3 = BatchedEngine(c, model, driven=driven, rtol=rtol, atol=atol, scheme="esdirk3")
    for e in (engine, engine3):
        e.run([np.zeros((2, len(driven)))], 0.1, g0=g0)  # compile outside the timing

    def readings(V: np.ndarray, I: np.ndarray) -> np.ndarray:
        """The reservoir's readings (nwmodel.physical.reservoir.electrode_readings order)."""
        return np.concatenate([V[:, out_cols], I[:, in_cols], I[:, gnd_cols]], axis=1)

    print(f"device: {c.n_nodes} nodes, {c.n_junctions} junctions; rtol {rtol:g}, atol {atol:g}; "
          f"{len(X)} SyntheticControl series; qdldl unit {unit * 1e6:.1f} us")
    head = (f"{'scale,slope,dt,nv':>18} {'1-series /s':>11} {'scheme':>7} {'/s':>6} {'x':>5} {'units 1s':>8} "
            f"{'units':>6} {'steps':>5} {'fact':>5} {'newton':>6} {'err/spread':>10}")
    print(head)
    ratios: dict[str, list[float]] = {"sdirk2": [], "esdirk3": []}
    for isc, slope, dt, nv, fsets in OPERATING_POINTS:
        clf = PhysicalReservoirClassifier(spec, slope=slope, input_scaling=isc, dt_s=dt, n_virtual=nv,
                                          random_state=0).fit(X, y)
        enc = clf.encoding_
        drives = [np.concatenate([v, np.zeros((v.shape[0], n_gnd))], axis=1)
                  for v in (enc.voltages_V(x) for x in X)]
        h = dt / nv
        n_held = sum(d.shape[0] for d in drives)
        t = time.perf_counter()
        for d in drives:
            one.reset()
            one.run(d, h)
        t_one = time.perf_counter() - t
        R = None
        if not args.quick:
            R = []
            for d in drives:
                tight.reset()
                o = tight.run(d, h)
                R.append(readings(o.electrode_voltage_V, o.electrode_current_A))
            R = _trajectories(R, X.shape[-1])
        for name, eng in (("sdirk2", engine), ("esdirk3", engine3)):
            t = time.perf_counter()
            res = eng.run(drives, h, g0=g0)
            t_b = time.perf_counter() - t
            assert all(r.ok for r in res)
            F = _trajectories([readings(r.electrode_voltage_V, r.electrode_current_A) for r in res],
                              X.shape[-1])
            err = ""
            if R is not None:
                worst = 0.0
                for fs in fsets:
                    f, r_ = trajectory_features(F, fs), trajectory_features(R, fs)
                    worst = max(worst, float((np.abs(f - r_) / r_.std(axis=0)).max()))
                err = f"{worst:.1e}"
            tot = {k: sum(r.stats[k] for r in res) / n_held for k in ("n_steps", "n_factor", "n_newton")}
            ratios[name].append(t_one / t_b)
            lead = " " * 30
            if name == "sdirk2":
                lead = f"{f'{isc:g},{slope:g},{dt:g},{nv}':>18} {n_held / t_one:>11.0f}"
            print(f"{lead} {name:>7} {n_held / t_b:>6.0f} {t_one / t_b:>5.1f} {t_one / n_held / unit:>8.1f} "
                  f"{t_b / n_held / unit:>6.1f} {tot['n_steps']:>5.1f} {tot['n_factor']:>5.1f} "
                  f"{tot['n_newton']:>6.1f} {err:>10}")
    for name, r in ratios.items():
        print(f"speed-up of {name} over one series at a time: min {min(r):.1f}x, median "
              f"{float(np.median(r)):.1f}x (target 10x, goal 20x)")
    if args.torch:
        _time_torch(args.torch, spec, X, y, engine3, g0, n_gnd)
    dev.close()


if __name__ == "__main__":
    main()
