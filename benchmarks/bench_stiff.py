"""Benchmark: cost per 0.1 s held sample of the junction-network integrators, at equal accuracy.

Run: ``.venv/bin/python benchmarks/bench_stiff.py [--quick] [--samples N]`` (one core).

Devices and drives (the physical reservoir's own operating points):

- ``300w 4V``: a small reservoir device (``nwmodel.SimulatedDeviceSpec`` with 300 wires on
  50 x 50 um, 3 x 3 pads, 4 inputs, 1 ground; the default spec has 400 wires and 4 x 4 pads),
  driven by the reservoir encoding of a
  SyntheticControl series (reset, then 60 held samples) with ``v_bias_V`` 0.35 and
  ``v_scale_V`` 4: the reservoir regime, junction voltages up to about 1.2 V (the largest is
  printed). With the abstract window itself (``v_scale_V`` 0.8) no junction passes 0.35 V.
- ``300w 8V``: the same device and series with ``v_scale_V`` 8 (the quick grid's largest window).
- ``2000w 8V``: 2,000 wires at the same wire density (129 x 129 um, 3 x 3 pads), 8 V window.

Columns, all in the same run, each the cheapest setting that reaches max ``|g - g_ref|`` <= 1e-3
at the end of every sample (ladders: tolerances 1e-3 ... 1e-7 with ``atol = rtol / 10``;
sub-steps 1, 4, 16, ... per sample); a column that cannot reach it within ``--budget`` seconds of
wall time per sample setting shows ``>`` the time of its last try:

- ``sdirk2``: the default (``rtol`` 3e-3, ``atol`` 3e-4), with its max error, one sample per call
  (what a bench-like device does);
- ``sdirk2-sn``: the compiled batched engine (:mod:`nwphys.dynamics.batched`) on the whole series in one
  call (what the physical reservoir does), ``rtol`` from 3e-3 down, ``atol = rtol / 10``;
- ``esdirk3-sn``: the same engine with its third-order scheme, the same ladder;
- ``LSODA-fd``: ``solve_ivp(method="LSODA")`` with scipy's finite-difference Jacobian (what a user
  of scipy or MemNNetSim would run);
- ``Radau-jac``: ``solve_ivp(method="Radau")`` with the analytic network Jacobian;
- ``exact-sub``: the frozen-voltage stepper sub-stepped until it reaches the accuracy;
- ``CVODE-gmres`` (when scikit-sundae is importable; not a dependency of the project): SUNDIALS
  CVODE, BDF with matrix-free GMRES (difference-quotient Jacobian-vector products, no
  preconditioner), one integration per held sample.

The reference is ``sdirk2`` at ``rtol`` 1e-7, ``atol`` 1e-8 (checked against Radau at rtol 1e-9
with the analytic Jacobian in ``tests/nwphys/test_stiff.py``). Targets per held sample: 0.5 ms
(300w 4V), 2 ms (300w 8V), 15 ms (2000w 8V); sdirk2 >= 30x faster than LSODA-fd and >= 100x
faster than the sub-stepped exact stepper.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np

import nwphys
from nwmodel import SimulatedDeviceSpec
from nwmodel.data.datasets import make_synthetic_control
from nwmodel.physical.mapping import NWESN_JUNCTION_PARAMS, encode_inputs
from nwphys.dynamics.batched import BatchedEngine
from nwphys.dynamics.stepper import Stepper

DT_S = 0.1
TARGET_ERR = 1e-3
CASES = {  # name: (n_wires, size_um, v_scale_V, target ms per sample)
    "300w 4V": (300, 50.0, 4.0, 0.5),
    "300w 8V": (300, 50.0, 8.0, 2.0),
    "2000w 8V": (2000, 129.0, 8.0, 15.0),
}


def _case(n_wires: int, side: float, v_scale: float, n_samples: int):
    # the reference device of this benchmark: 3 x 3 pads, first 4 inputs, the
    # NW-ESN junctions (0.001..0.1 S), driven in electrode volts
    spec = SimulatedDeviceSpec(n_wires=n_wires, size_um=(side, side), electrodes="mea3x3",
                               role_pattern="first-last", n_inputs=4, device_seed=7,
                               junction_params=tuple(NWESN_JUNCTION_PARAMS.items()))
    net = spec.network()
    inputs, _, ground, _ = spec.roles()
    x = make_synthetic_control(1, 60, seed=3)[0][2, 0]  # one series (class 2), z-normalised
    x = np.resize(x, n_samples)
    rng = np.random.default_rng(0)
    w_in = rng.uniform(-1, 1, (len(inputs), 1))
    b = rng.uniform(-0.1, 0.1, len(inputs))
    volts = encode_inputs(x[None, :], w_in, b, slope=1.0, v_bias_V=0.35, v_scale_V=v_scale)
    driven = [*inputs, *ground]
    dv = np.column_stack([volts, np.zeros((n_samples, len(ground)))])
    model = nwphys.make_junction_model(net.junction_model, **net.junction_params)
    return net, model, driven, dv


def _stepper_run(net, model, driven, dv, **kw) -> tuple[np.ndarray, float, np.ndarray]:
    st = Stepper(net.circuit(), model, driven=driven, g0=net.state, **kw)
    g = np.empty((dv.shape[0], net.circuit().n_junctions))
    vmax = 0.0
    t = time.perf_counter()
    for k in range(dv.shape[0]):
        st.run(dv[k : k + 1], DT_S)
        g[k] = st.g
    el = time.perf_counter() - t
    # largest junction voltage at the end of each sample (one extra solve per sample, not timed)
    solver = st.solver
    c = net.circuit()
    for k in range(dv.shape[0]):
        V = solver.node_voltages(model.conductance_S(g[k]), dv[k])
        vmax = max(vmax, float(np.abs(V[c.edges[:, 0]] - V[c.edges[:, 1]]).max()))
    return g, el / dv.shape[0] * 1e3, np.array([vmax])


def _engine_run(net, model, driven, dv, rtol: float, scheme: str = "sdirk2") -> tuple[np.ndarray, float]:
    """The batched engine ("sdirk2-sn", or "esdirk3-sn" with ``scheme="esdirk3"``) on the series in
    one call (compiled before the timing)."""
    eng = BatchedEngine(net.circuit(), model, driven=driven, rtol=rtol, atol=rtol / 10, scheme=scheme)
    eng.run([dv[:1]], DT_S, g0=net.state)
    t = time.perf_counter()
    (r,) = eng.run([dv], DT_S, g0=net.state, keep_states=True)
    el = time.perf_counter() - t
    if not r.ok:
        raise nwphys.IntegrationError(r.message)
    return r.g, el / dv.shape[0] * 1e3


def _ivp_run(net, driven, dv, method: str, rtol: float, jac: str) -> tuple[np.ndarray, float]:
    drive = nwphys.Drive({name: nwphys.Sampled(dv[:, i], dt_s=DT_S) for i, name in enumerate(driven)})
    t = time.perf_counter()
    r = nwphys.simulate(net, drive, duration_s=dv.shape[0] * DT_S, dt_s=DT_S, method=method, rtol=rtol,
                        atol=rtol / 10, ivp_jacobian=jac)
    return r.g[1:], (time.perf_counter() - t) / dv.shape[0] * 1e3


def _cvode_run(net, model, driven, dv, rtol: float) -> tuple[np.ndarray, float]:
    from sksundae.cvode import CVODE

    c = net.circuit()
    solver = nwphys.NodalSolver(c, driven=driven)
    a, b = c.edges[:, 0], c.edges[:, 1]
    vd = [dv[0]]

    def rhs(t: float, y: np.ndarray, yp: np.ndarray) -> None:
        V = solver.node_voltages(model.conductance_S(y), vd[0])
        yp[:] = model.rhs(y, V[a] - V[b])

    g = model.resting_state(c.n_junctions) if net.state is None else np.array(net.state, dtype=float)
    out = np.empty((dv.shape[0], g.size))
    t = time.perf_counter()
    for k in range(dv.shape[0]):
        vd[0] = dv[k]
        cv = CVODE(rhs, method="BDF", linsolver="gmres", rtol=rtol, atol=rtol / 10, max_num_steps=200_000)
        sol = cv.solve(np.array([0.0, DT_S]), g)
        if not sol.success:
            raise RuntimeError(f"CVODE failed in sample {k}: {sol.message}")
        g = np.asarray(sol.y)[-1].copy()
        out[k] = g
    return out, (time.perf_counter() - t) / dv.shape[0] * 1e3


def _has_sksundae() -> bool:
    try:
        import sksundae  # noqa: F401
    except ImportError:
        return False
    return True


def _ladder(run, settings, ref, budget_ms: float) -> tuple[float, str, float, bool]:
    """Cheapest setting reaching TARGET_ERR: ``(ms per sample, setting, error, reached)``."""
    last = (np.nan, "-", np.nan, False)
    for s in settings:
        t = time.perf_counter()
        try:
            g, ms = run(s)
        except (nwphys.IntegrationError, RuntimeError) as exc:  # e.g. LSODA leaving g >= 0 at rtol 1e-3
            print(f"  {s}: failed: {exc}", file=sys.stderr, flush=True)
            if time.perf_counter() - t > budget_ms * 1e-3 * len(ref):
                break
            continue
        err = float(np.abs(g - ref).max())
        last = (ms, str(s), err, err <= TARGET_ERR)
        if last[3] or ms > budget_ms:
            break
    return last


def _bench_case(name: str, nw: int, side: float, vs: float, n: int, budget_ms: float, *,
                with_ivp: bool) -> tuple[int, float, dict]:
    net, model, driven, dv = _case(nw, side, vs, n)
    c = net.circuit()
    ref, ref_ms, _ = _stepper_run(net, model, driven, dv, rtol=1e-7, atol=1e-8)
    g, ms, vmax = _stepper_run(net, model, driven, dv)
    cols = {"sdirk2": (ms, "default", float(np.abs(g - ref).max()), True)}
    cols["sdirk2-sn"] = _ladder(lambda r: _engine_run(net, model, driven, dv, r), [3e-3, 1e-3, 1e-4, 1e-5],
                                ref, budget_ms)
    cols["esdirk3-sn"] = _ladder(lambda r: _engine_run(net, model, driven, dv, r, "esdirk3"),
                                 [3e-3, 1e-3, 1e-4, 1e-5], ref, budget_ms)
    if with_ivp:  # not on 2,000 wires: dense Jacobians of 9,000^2 and hours of LSODA
        tols = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7]
        cols["LSODA-fd"] = _ladder(lambda r: _ivp_run(net, driven, dv, "LSODA", r, "fd"), tols, ref,
                                   budget_ms)
        cols["Radau-jac"] = _ladder(lambda r: _ivp_run(net, driven, dv, "Radau", r, "analytic"), tols, ref,
                                    budget_ms)
    cols["exact-sub"] = _ladder(
        lambda k: _stepper_run(net, model, driven, dv, method="exact", guard="off", n_substeps=k)[:2],
        [1, 4, 16, 64, 256, 1024, 4096], ref, budget_ms)
    if with_ivp and _has_sksundae():
        cols["CVODE-gmres"] = _ladder(lambda r: _cvode_run(net, model, driven, dv, r),
                                      [1e-3, 1e-4, 1e-5, 1e-6], ref, budget_ms)
    print(f"{name}: {c.n_junctions} junctions, largest junction voltage {vmax[0]:.2f} V, "
          f"reference {ref_ms:.1f} ms/sample", file=sys.stderr, flush=True)
    return c.n_junctions, float(vmax[0]), cols


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300-wire cases, 10 samples, no solve_ivp columns")
    ap.add_argument("--samples", type=int, default=60, help="held samples per case (default 60)")
    ap.add_argument("--budget", type=float, default=120.0,
                    help="stop a ladder once one try takes more than this many seconds (default 120)")
    args = ap.parse_args()
    n = 10 if args.quick else args.samples
    budget_ms = args.budget * 1e3 / n
    rows = []
    for name, (nw, side, vs, target) in CASES.items():
        if args.quick and nw > 300:
            continue
        nj, vmax, cols = _bench_case(name, nw, side, vs, n, budget_ms, with_ivp=not args.quick and nw <= 300)
        rows.append((name, nj, vmax, target, cols))
    names = ["sdirk2", "sdirk2-sn", "esdirk3-sn", "LSODA-fd", "Radau-jac", "exact-sub", "CVODE-gmres"]
    print(f"\nms per {DT_S} s held sample [setting, max |g - g_ref|], one core, {n} samples; "
          f"'>' = did not reach {TARGET_ERR:g}")
    print(f"{'case':<10} {'junct.':>6} {'|V|max':>6} {'target':>6}  " + "".join(f"{h:<30}" for h in names))
    for name, nj, vmax, target, cols in rows:
        cells = []
        for h in names:
            if h not in cols:
                cells.append("n/a")
                continue
            ms, setting, err, ok = cols[h]
            cells.append(f"{'' if ok else '>'}{ms:.2f} [{setting}, {err:.1e}]")
        print(f"{name:<10} {nj:>6} {vmax:>6.2f} {target:>6.1f}  " + "".join(f"{c:<30}" for c in cells))
    print("\nspeed-up of sdirk2 at equal accuracy (ms per sample of the column / sdirk2's):")
    for name, *_, cols in rows:
        base = cols["sdirk2"][0]
        parts = [f"{h} {'' if cols[h][3] else '>'}{cols[h][0] / base:.2g}x" for h in names[1:] if h in cols]
        print(f"  {name}: " + ", ".join(parts))


if __name__ == "__main__":
    main()
