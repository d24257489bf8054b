"""Benchmark: the wire density of a chip of unknown geometry (:mod:`nwmodel.twin.geometry`).

Run: ``.venv/bin/python benchmarks/bench_geometry.py [--devices N] [--quick] [--part P]`` (one
core; ``--part density``, ``wrong`` or ``length`` runs one table).

Each device is a two-terminal random-stick network with the ``milano2025`` kinetics, measured
with the characterisation sized for it (:func:`suggest_plan`, 2255 readings, 16 hold
statistics); its density is then estimated from the measurement on a grid of 7 candidates from
0.6 to 2.0 times the truth, 8 replicas each. Two chip designs:

- **small, noisy**: 40 wires on 14 x 14 um (0.204 wires/um^2, about 150 junctions), junction noise
  at the published level (OU sigma 3.2e-4 /sqrt(s), jumps 0.082 /s) and read noise of 1e-3 of the
  current at rest, simulated in the replicas too;
- **larger, quiet**: 160 wires on 28 x 28 um (the same density, about 800 junctions), read noise
  only.

The alternative a user would pick is to invert one number: the conductance at the read level
after a relaxation, against its ensemble mean over density (the same replicas, one statistic).
The table gives, over the devices, how often the 95 % interval holds the true density, the
median and largest relative error and the median relative half-width of the interval.

The second table gives the estimate when the junction parameters handed to it are wrong (small,
noisy chip, three devices): ``adequate`` should turn False, and where it does not, the density
absorbs the error.

The third estimates the density and the mean wire length together (small chip, read noise only;
5 densities from 0.6 to 2.0 times the truth by 4 lengths from 7 to 14 um, 8 replicas): coverage of
both intervals and of the percolation ratio's.

Measured 2026-12-06 on one core of a shared 2-core machine, command
``.venv/bin/python benchmarks/bench_geometry.py`` (about 45 min with one or two other jobs
running; the three tables are in ``docs/results/benchmarks.md``)::

    chip           estimate    devices  junctions  covered  median err  largest err  half-width
    small, noisy   full             10        146     8/10        7.6%        32.0%       23.3%
    larger, quiet  full             10        788    10/10        5.0%        10.4%        9.8%
    larger, quiet  one number       10        788    10/10        3.7%        14.3%       12.7%

(every estimate adequate; wrong kinetics flagged on 5 of 6 chips, wrong conductances on none;
density and length together: both covered on 10 of 10)
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _measure(net: object, *, noisy: bool, seed: int) -> tuple:
    from nwmodel.twin.characterisation import characterise
    from nwmodel.twin.fit import FIT_PARAMS
    from nwmodel.twin.identify import PUBLISHED_NOISE, rest_read_noise_A, simulated_copy, suggest_plan

    kin = {k: float(net.junction_params[k]) for k in FIT_PARAMS}
    plan = suggest_plan(net, kin)
    read_noise = rest_read_noise_A(net, kin, plan)
    noise = dict(PUBLISHED_NOISE) if noisy else {}
    dev = simulated_copy(net, plan, junction_noise=noise, read_noise_A=read_noise, seed=seed)
    try:
        return characterise(dev, plan), noise, read_noise
    finally:
        dev.close()


def main() -> None:
    import nwphys
    from nwmodel.twin.fit import FIT_PARAMS
    from nwmodel.twin.geometry import estimate_geometry
    from nwphys.junctions import JUNCTION_PRESETS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=10, help="devices per chip design (default 10)")
    ap.add_argument("--quick", action="store_true", help="3 devices, the density table only")
    ap.add_argument("--part", choices=("all", "density", "wrong", "length"), default="all")
    args = ap.parse_args()
    part = "density" if args.quick else args.part
    n_dev = 3 if args.quick else args.devices
    kin = {k: JUNCTION_PRESETS["milano2025"][1][k] for k in FIT_PARAMS}
    grid = np.geomspace(0.6, 2.0, 7)
    rest_row = 3  # end of the relaxation after the first pulse: the conductance near rest
    designs = [("small, noisy", 40, 14.0, True), ("larger, quiet", 160, 28.0, False)]
    rows = []
    for label, n_wires, side, noisy in designs if part in ("all", "density") else []:
        res: dict[str, list] = {"full": [], "one number": []}
        for seed in range(1, n_dev + 1):
            net = nwphys.generate(n_wires=n_wires, size_um=(side, side), electrodes="two-terminal",
                                  junction_model="rate_balance", junction_params=kin, seed=seed)
            d0 = net.density_per_um2
            m, noise, rn = _measure(net, noisy=noisy, seed=100 + seed)
            methods = {"full": None, "one number": [rest_row]} if not noisy else {"full": None}
            for name, stats in methods.items():
                t = time.perf_counter()
                f = estimate_geometry(m, net, densities_per_um2=d0 * grid, replicas=8, junction_noise=noise,
                                      read_noise_A=rn, statistics=stats, seed=seed)
                lo, hi = f.density_interval_per_um2
                res[name].append((f.density_per_um2 / d0 - 1, lo <= d0 <= hi, (hi - lo) / 2 / d0,
                                  f.adequate, time.perf_counter() - t, net.n_junctions))
                print(f"  {label:<14} seed {seed:>2} {name:<10} {net.n_junctions:>4} junctions: "
                      f"error {res[name][-1][0]:+.3f}, interval [{lo / d0:.3f}, {hi / d0:.3f}] x truth, "
                      f"p {f.p_value:.3f}, {res[name][-1][4]:.1f} s", flush=True)
        for name, r in res.items():
            if not r:
                continue
            a = np.array(r, dtype=float)
            rows.append((label, name, len(r), int(np.median(a[:, 5])), int(a[:, 1].sum()),
                         float(np.median(np.abs(a[:, 0]))), float(np.abs(a[:, 0]).max()),
                         float(np.median(a[:, 2])), int(a[:, 3].sum()), float(np.median(a[:, 4]))))
    if rows:
        _density_table(rows)
    if part in ("all", "wrong"):
        _wrong(kin, grid)
    if part in ("all", "length"):
        _length(kin, n_dev)


def _density_table(rows: list) -> None:
    print("\n| chip | estimate | devices | junctions (median) | truth in 95 % interval | median error "
          "| largest error | median half-width | adequate | time per estimate (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]}/{r[2]} | {r[5]:.1%} | {r[6]:.1%} | {r[7]:.1%} "
              f"| {r[8]}/{r[2]} | {r[9]:.1f} |")


def _wrong(kin: dict, grid: np.ndarray) -> None:
    import nwphys
    from nwmodel.twin.geometry import estimate_geometry

    wrong = [("kd0 x2", {"kd0_per_s": 2.0}), ("eta_p x0.8", {"eta_p_per_V": 0.8}),
             ("G_max x0.5", {"G_max_S": 0.5}), ("G_min x1.2", {"G_min_S": 1.2}),
             ("G_min x2", {"G_min_S": 2.0})]
    print("\n| junction parameters given | device | estimate / truth | 95 % interval / truth | p "
          "| adequate |")
    print("|---|---|---|---|---|---|")
    for seed in (1, 2, 3):
        net = nwphys.generate(n_wires=40, size_um=(14.0, 14.0), electrodes="two-terminal",
                              junction_model="rate_balance", junction_params=kin, seed=seed)
        d0 = net.density_per_um2
        m, noise, rn = _measure(net, noisy=True, seed=100 + seed)
        for label, factors in [("right", {}), *wrong]:
            tpl = net.with_junctions("rate_balance", {k: v * factors.get(k, 1.0) for k, v in kin.items()})
            f = estimate_geometry(m, tpl, densities_per_um2=d0 * grid, replicas=8, junction_noise=noise,
                                  read_noise_A=rn, seed=seed)
            lo, hi = f.density_interval_per_um2
            print(f"| {label} | {seed} | {f.density_per_um2 / d0:.3f} | {lo / d0:.3f} to {hi / d0:.3f} "
                  f"| {f.p_value:.3f} | {f.adequate} |", flush=True)


def _length(kin: dict, n_dev: int) -> None:
    import nwphys
    from nwmodel.twin.geometry import rehearse_geometry

    out = []
    for seed in range(1, n_dev + 1):
        net = nwphys.generate(n_wires=40, size_um=(14.0, 14.0), electrodes="two-terminal",
                              junction_model="rate_balance", junction_params=kin, seed=seed)
        d0 = net.density_per_um2
        t = time.perf_counter()
        r = rehearse_geometry(net, junction_noise={}, densities_per_um2=d0 * np.geomspace(0.6, 2.0, 5),
                              lengths_um=10.0 * np.geomspace(0.7, 1.4, 4), replicas=8, seed=50 + seed)
        f = r.fit
        p_lo, p_hi = f.percolation_interval
        out.append((r.rel_error_density, r.rel_error_length, r.covered,
                    p_lo <= net.percolation_ratio <= p_hi, f.percolation_ratio / net.percolation_ratio - 1,
                    f.adequate, time.perf_counter() - t))
        print(f"  seed {seed}: density {f.density_per_um2 / d0:.3f} x truth, "
              f"length {f.length_mean_um:.2f} um "
              f"({f.length_interval_um[0]:.2f} to {f.length_interval_um[1]:.2f}), percolation ratio "
              f"{f.percolation_ratio:.2f} ({p_lo:.2f} to {p_hi:.2f}; true {net.percolation_ratio:.2f}), "
              f"p {f.p_value:.3f}, {out[-1][-1]:.1f} s", flush=True)
    a = np.array(out, dtype=float)
    print("\n| devices | density and length covered | percolation ratio covered | median density error "
          "| median length error | median percolation-ratio error | adequate | time per estimate (s) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {len(out)} | {int(a[:, 2].sum())}/{len(out)} | {int(a[:, 3].sum())}/{len(out)} "
          f"| {np.median(np.abs(a[:, 0])):.1%} | {np.median(np.abs(a[:, 1])):.1%} "
          f"| {np.median(np.abs(a[:, 4])):.1%} | {int(a[:, 5].sum())}/{len(out)} "
          f"| {np.median(a[:, 6]):.1f} |")


if __name__ == "__main__":
    main()
