"""Benchmark: independent series one after another, or integrated together as one batched system.

Run: ``.venv/bin/python benchmarks/bench_series_batch.py [--series 16] [--batches 1,4,16]`` (one core).

The physical reservoir drives its series one after another through :class:`nwphys.Stepper`
(``sdirk2``, the device tolerances of :class:`nwmodel.SimulatedDeviceSpec`: ``rtol`` 3e-5,
``atol`` 1e-6 since version 0.5.0, 3e-6 before). The alternative measured here integrates ``B``
series at once: the circuit is replicated ``B`` times as one disjoint circuit (block-diagonal
Laplacian, one factorisation and one sparse pattern for all copies), every copy driven by its own
series, so that the Python overhead of each step is shared. The step size is then common to all
copies: every junction of every copy stays under its own error tolerance, so each series is at
least as accurate as alone, but each step must resolve the sharpest transient of any copy.

Columns: ``B`` (1 = one series after another), wall time per series, accepted steps per series,
and the largest difference of any electrode current from the one-at-a-time run, relative to the
largest current of that series (it is the integration tolerance at work, not an error of either).

Device and drive: the default device (400 wires on 50 x 50 um, 16 pads in a chessboard), the
default encoding (``n_virtual`` 1, ``dt_s`` 0.1, calibrated window) of SyntheticControl series.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from nwmodel import PhysicalReservoirClassifier, SimulatedDeviceSpec
from nwmodel.data.datasets import make_synthetic_control
from nwphys.circuit.circuit import Circuit
from nwphys.dynamics.stepper import Stepper


def replicate(c: Circuit, n_copies: int) -> Circuit:
    """``n_copies`` disconnected copies of ``c`` as one circuit (electrodes named ``NAME#k``)."""
    n = c.n_nodes
    off = np.arange(n_copies)[:, None, None] * n
    return Circuit(
        n_nodes=n * n_copies,
        edges=(c.edges[None] + off).reshape(-1, 2),
        electrode_node=(c.electrode_node[None] + off[:, :, 0]).reshape(-1),
        electrode_names=tuple(f"{e}#{k}" for k in range(n_copies) for e in c.electrode_names),
        fixed_edges=(c.fixed_edges[None] + off).reshape(-1, 2),
        fixed_conductance_S=np.tile(c.fixed_conductance_S, n_copies),
        series_resistance_ohm=np.tile(c.series_resistance_ohm, n_copies),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", type=int, default=16, help="series driven (a multiple of every B)")
    ap.add_argument("--batches", default="1,4,16", help="comma-separated batch sizes B")
    args = ap.parse_args()
    batches = sorted({1, *(int(b) for b in args.batches.split(","))})  # B = 1 is the reference
    if any(args.series % b for b in batches):
        ap.error(f"--series {args.series} must be a multiple of every batch size {batches}")

    X, y = make_synthetic_control(max(1, args.series // 6 + 1), 60, seed=3)
    X, y = X[: args.series], y[: args.series]
    spec = SimulatedDeviceSpec()
    enc = PhysicalReservoirClassifier(device=spec, random_state=0).fit(X, y).encoding_
    dev = spec()
    c, st = dev.circuit, dev._stepper
    driven, n_in = list(st.driven), len(dev.input_names)
    g0 = st.g
    drives = [np.concatenate([v, np.zeros((v.shape[0], len(driven) - n_in))], axis=1)
              for v in (enc.voltages_V(x) for x in X)]
    rtol, atol = dict(spec.device_kwargs)["rtol"], dict(spec.device_kwargs)["atol"]
    ne = c.n_electrodes

    alone: list[np.ndarray] = []
    print(f"{'B':>3} {'ms / series':>12} {'steps / series':>15} {'max rel. current diff':>22}")
    for B in batches:
        U = c if B == 1 else replicate(c, B)
        names = driven if B == 1 else [f"{d}#{k}" for k in range(B) for d in driven]
        currents, steps = [], 0
        t0 = time.perf_counter()
        for i in range(0, len(drives), B):
            s = Stepper(U, st.model, driven=names, g0=np.tile(g0, B), rtol=rtol, atol=atol)
            out = s.run(np.concatenate(drives[i : i + B], axis=1), enc.dt_s)
            steps += out.stats["n_steps"]
            currents += [out.electrode_current_A[:, k * ne : (k + 1) * ne] for k in range(B)]
        wall = time.perf_counter() - t0
        if B == 1:
            alone = currents
        pairs = zip(currents, alone, strict=True)
        diff = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in pairs)
        print(f"{B:>3} {1e3 * wall / len(drives):>12.1f} {steps / len(drives):>15.1f} {diff:>22.2e}")
    dev.close()


if __name__ == "__main__":
    main()
