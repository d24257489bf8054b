"""Benchmark: one nodal solve at 2k / 10k wires per backend (and MemNNetSim's solve, when importable).

Run: ``.venv/bin/python benchmarks/bench_nodal.py [--quick]``. Single-threaded timings; the
construction column is the one-off analysis (ordering, pattern, symbolic factorisation).
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
from _bench_common import MNNS_HINT, best_of, device_circuit, mnns_network

from nwphys.circuit.nodal import NodalSolver, available_backends


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    args = ap.parse_args()
    sizes = [500, 2000] if args.quick else [2000, 10000]
    rng = np.random.default_rng(0)
    print(
        f"{'wires':>6} {'junctions':>9} {'nodes':>6} {'backend':>8} {'setup ms':>9} {'solve ms':>9} "
        f"{'residual':>9}"
    )
    for n in sizes:
        c = device_circuit(n)
        G = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), c.n_junctions))
        for be in available_backends():
            t = time.perf_counter()
            s = NodalSolver(c, driven=["in", "out"], backend=be)
            setup = time.perf_counter() - t
            Vd = np.array([1.0, 0.0])
            sol = s.solve(G, Vd)
            if be == "cg":  # cold start on every call, else the warm start makes it trivial

                def fn(s=s, G=G, Vd=Vd):
                    s.reset_warm_start()
                    return s.node_voltages(G, Vd)
            else:

                def fn(s=s, G=G, Vd=Vd):
                    return s.node_voltages(G, Vd)

            t_solve = best_of(fn, 3, 5 if args.quick else 20)
            print(
                f"{n:>6} {c.n_junctions:>9} {c.n_nodes:>6} {be:>8} {setup * 1e3:>9.2f} {t_solve * 1e3:>9.3f} "
                f"{sol.residual_rel:>9.1e}"
            )
        peer = mnns_network(n)
        if peer is None:
            print(f"{n:>6}  {MNNS_HINT}")
            continue
        import mnns

        net, left, right = peer
        t_m = best_of(
            lambda net=net, a=left, b=right: mnns.solve_network(net, a, b, 1.0), 2, 2 if args.quick else 5
        )
        print(f"{n:>6} {net.number_of_edges():>9} {'':>6} {'mnns':>8} {'':>9} {t_m * 1e3:>9.3f}")


if __name__ == "__main__":
    main()
