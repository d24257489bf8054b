"""Benchmark: time and accuracy of the junction fit (:mod:`nwmodel.twin`) by device size.

Run: ``.venv/bin/python benchmarks/bench_fit.py [--quick] [--seed N]`` (one core).

For each device the identifiability rehearsal (:func:`nwmodel.twin.identify.rehearse_fit`)
measures a simulated copy with the characterisation sized for it (:func:`suggest_plan`), with
junction noise at the published level (Ornstein-Uhlenbeck sigma 3.2e-4 /sqrt(s), jumps 0.082 /s
per junction, exponent 2.78) and read noise of 1e-3 of the current at rest, then fits the six
parameters from the true values times (2, 0.5, 1.3, 0.77, 1.5, 0.67). Devices: two-terminal
random-stick networks with the ``milano2025`` kinetics (kp0 5.2e-4 /s, kd0 37.9 /s, eta_p 1.29
/V, eta_d 1.79 /V) and Ag conductances, first electrode driven and last grounded.

The alternative a user would pick is the same fit with scipy's ``least_squares`` driving
``scipy.integrate.solve_ivp`` (Radau) on the network equations: that is the reference of
:func:`nwphys.simulate` (``method="Radau"``), and the table gives its time for one
replay of the drive beside the engine's, which is the unit of the fit's cost.

Measured 2026-12-06 on one core of a 2-core machine, nothing else running, command
``.venv/bin/python benchmarks/bench_fit.py`` (2 min 22 s; replays with ``"esdirk3-sn"``)::

    wires  junctions  replay (s)  Radau replay (s)  replays  fit (s)  kinetics  G range  chi2
       40        150        0.05                17      116      6.3     0.40%    1.79%  2.31
      150        586        0.17               213      129     21.4     0.25%    1.79%  7.13
      400       1814        0.56              2032      137     78.7     0.09%    1.91%  5.01

(2255 readings each, every target met; the script prints these rows as a markdown table; the
errors are the largest relative errors of the kinetic parameters and of the conductance range;
the Radau replay is extrapolated from 20 steps)
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    import nwphys
    from nwmodel.twin.fit import FIT_PARAMS, replay
    from nwmodel.twin.identify import rehearse_fit, suggest_plan
    from nwphys.junctions import JUNCTION_PRESETS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the two smaller devices only")
    ap.add_argument("--seed", type=int, default=1, help="seed of the noise (default 1)")
    args = ap.parse_args()
    kin = {k: JUNCTION_PRESETS["milano2025"][1][k] for k in FIT_PARAMS}
    devices = [(40, 14.0, 1), (150, 30.0, 4), (400, 50.0, 1)][: 2 if args.quick else 3]
    rows = []
    for n_wires, side, seed in devices:
        net = nwphys.generate(n_wires=n_wires, size_um=(side, side), electrodes="two-terminal",
                              junction_model="rate_balance", junction_params=kin, seed=seed)
        c = net.circuit()
        plan = suggest_plan(net)
        v = plan.levels()[:, None]
        replay(net, kin, v, plan.dt_s, inputs=["in"], ground=["out"])  # warm: the engine's start-up
        t = time.perf_counter()
        replay(net, kin, v, plan.dt_s, inputs=["in"], ground=["out"])
        t_replay = time.perf_counter() - t
        n_ref = min(v.shape[0], 20)
        t_scipy = _scipy_replay_s(net, kin, v[:n_ref], plan.dt_s) * v.shape[0] / n_ref
        r = rehearse_fit(net, plan=plan, seed=args.seed)
        kin_err = max(abs(r.rel_error[k]) for k in FIT_PARAMS[:4])
        g_err = max(abs(r.rel_error[k]) for k in FIT_PARAMS[4:])
        rows.append((n_wires, c.n_junctions, v.shape[0], t_replay, t_scipy, r.n_simulations,
                     r.fit_wall_time_s, kin_err, g_err, r.reduced_chi2, r.within_target))
        print(f"done {n_wires} wires in {r.wall_time_s:.1f} s", flush=True)
    print("| wires | junctions | readings | one replay, engine (s) | one replay, solve_ivp Radau (s, "
          "estimated from 20 steps) | replays | fit (s) | max kinetic error | max G error | reduced chi2 "
          "| within target |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for w, nj, n, tr, ts, ns, tf, ke, ge, c2, ok in rows:
        print(f"| {w} | {nj} | {n} | {tr:.2f} | {ts:.0f} | {ns} | {tf:.1f} | {ke:.2%} | {ge:.2%} | "
              f"{c2:.2f} | {'yes' if ok else 'NO'} |")


def _scipy_replay_s(net, params, v: np.ndarray, dt_s: float) -> float:
    """Seconds of one replay of ``v`` with the scipy reference integrator (Radau), per held sample
    integrated one after another."""
    from nwphys.dynamics.drives import Sampled
    from nwphys.dynamics.integrate import simulate

    t = time.perf_counter()
    simulate(net.with_junctions("rate_balance", params), {"in": Sampled(v[:, 0], dt_s), "out": 0.0},
             duration_s=v.shape[0] * dt_s, dt_s=dt_s, method="Radau", rtol=1e-5, atol=1e-7,
             max_abs_V=float(np.max(np.abs(v))) + 1.0)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
