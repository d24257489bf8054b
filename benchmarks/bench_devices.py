"""Benchmark: device generation and junction detection at 2k / 10k / 50k wires.

Geometry is the Torino random-stick model (lengths normal(40 um, 14 um), density 0.006 um^-2),
with the square area grown with the wire count so the density (and junctions per wire) stays fixed.
Columns: sticks (random geometry), junctions (k-d tree + vectorised intersection), circuit
(components + junction-graph circuit), total ``nwphys.generate`` time, best of ``--repeat`` runs.

Peer columns are printed for MemNNetSim (``mnns``) when it is importable: ``mnns.create_NWN`` (random
sticks + junction detection + its networkx graph) for the same wire count and area, with fixed
40 um wires (it has no length distribution), one run, up to ``--peer-max`` wires (default 10k);
install it with ``pip install mnns``.

Usage::

    python benchmarks/bench_devices.py            # 2k, 10k, 50k wires
    python benchmarks/bench_devices.py --quick    # 500, 2k wires
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import nwphys
from nwphys.geometry.graph import build_circuit
from nwphys.geometry.sticks import find_junctions, random_sticks

DENSITY = 0.006
LENGTH = {"length_dist": "normal", "length_mean_um": 40.0, "length_std_um": 14.0}


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _mnns_time(n: int, side_um: float, repeat: int) -> tuple[float, int] | None:
    """Seconds and junction count of ``mnns.create_NWN`` for the same wire count and area.

    MemNNetSim only has fixed-length wires: we use L = 40 um (its length unit l0 = 40 um here),
    density 0.006 um^-2 = 9.6 l0^-2, side in units of l0.
    """
    try:
        import mnns  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        def run():
            return mnns.create_NWN(wire_length=1.0, shape=(side_um / 40.0, side_um / 40.0),
                                   density=DENSITY * 40.0**2, seed=1)
        t, nwn = _best(run, repeat)
        return t, int(nwn.number_of_edges())
    except Exception as exc:  # pragma: no cover - depends on the peer's version
        print(f"# mnns call failed ({exc}); column left empty")
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (seconds)")
    ap.add_argument("--sizes", type=int, nargs="*", help="wire counts (default 2000 10000 50000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per size (best is reported)")
    ap.add_argument("--peer-max", type=int, default=10_000,
                    help="largest wire count timed with mnns (its cost grows fast: ~30 s at 10k)")
    args = ap.parse_args()
    sizes = args.sizes or ([500, 2000] if args.quick else [2000, 10000, 50000])
    try:
        import mnns  # type: ignore[import-not-found]  # noqa: F401
        have_peer = True
    except ImportError:
        have_peer = False
        print("# peer MemNNetSim not installed: `pip install mnns` to add its column")
    print(f"# Torino model: normal(40, 14) um lengths, density {DENSITY} um^-2; best of {args.repeat}")
    head = (f"{'wires':>8} {'junctions':>10} {'sticks s':>9} {'junctions s':>12} {'circuit s':>10} "
            f"{'generate s':>11}")
    if have_peer:
        head += f" {'mnns junc':>10} {'mnns s':>9} {'speedup':>8}"
    print(head)
    for n in sizes:
        side = math.sqrt(n / DENSITY)
        t_sticks, geo = _best(lambda n=n, side=side: random_sticks(n, (side, side), seed=1, **LENGTH),
                              args.repeat)
        t_junc, (jw, jxy) = _best(lambda geo=geo: find_junctions(geo), args.repeat)
        layout = nwphys.two_terminal((side, side))
        t_circ, _ = _best(lambda geo=geo, jw=jw, jxy=jxy, layout=layout: build_circuit(geo, jw, jxy, layout),
                          args.repeat)
        t_gen, net = _best(lambda n=n, side=side: nwphys.generate(n_wires=n, size_um=(side, side), seed=1,
                                                                   **LENGTH), args.repeat)
        row = f"{n:>8} {jw.shape[0]:>10} {t_sticks:>9.4f} {t_junc:>12.4f} {t_circ:>10.4f} {t_gen:>11.4f}"
        if have_peer:
            peer = _mnns_time(n, side, 1) if n <= args.peer_max else None
            if peer is None:
                row += f" {'-':>10} {'-':>9} {'-':>8}"
            else:
                row += f" {peer[1]:>10} {peer[0]:>9.3f} {peer[0] / t_gen:>7.1f}x"
        print(row, flush=True)
        assert np.all(jw[:, 0] < jw[:, 1]) and net.n_wires == n


if __name__ == "__main__":
    main()
