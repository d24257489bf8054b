"""Reservoir state throughput: NW-ESN and ESN kernels (numpy, torch) vs ReservoirPy's Reservoir.run.

Throughput = states per second = n_series * n_timepoints / wall time, for N = 100 and N = 1000 over
1,000 series of length 500 (``--quick``: 100 series of length 100). ReservoirPy (``pip install
reservoirpy``; not a project dependency) runs its leaky-tanh ``Reservoir`` on the same data, one
series after the other; our kernels advance all series together (one (N, N + C + 1) @ (N + C + 1,
n_series) product per step in the numpy kernel). Every column is timed in the same run, best of
``--repeats``; ``f64 x`` is the numpy float64 kernel over ReservoirPy, ``best x`` the fastest of ours.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_reservoir.py [--quick] [--sizes 100 1000]
        [--threads K]

``--threads K`` caps the BLAS/OpenMP pools (via ``threadpoolctl``, installed with scikit-learn) and
torch at K threads for every column; set ``OMP_NUM_THREADS`` too so the pools start at that size.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import time

import numpy as np


def _time(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 series of length 100 (seconds)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000], help="reservoir sizes N")
    parser.add_argument("--series", type=int, default=None, help="number of series (default 1000)")
    parser.add_argument("--length", type=int, default=None, help="series length (default 500)")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats, best kept")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch kernel")
    parser.add_argument("--threads", type=int, default=None, help="cap BLAS/OpenMP/torch threads at K")
    args = parser.parse_args()
    with _thread_limit(args.threads):
        _run(args)


def _thread_limit(threads: int | None) -> contextlib.AbstractContextManager:
    if threads is None:
        return contextlib.nullcontext()
    if threads < 1:
        raise SystemExit(f"--threads must be an integer >= 1, got {threads}")
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise SystemExit("--threads needs threadpoolctl (`.venv/bin/pip install threadpoolctl`)") from None
    return threadpool_limits(limits=threads)


def _run(args: argparse.Namespace) -> None:

    from nwmodel.models.kernels import ESNCellParams, NWCellParams, init_weights, run_reservoir

    n_series = args.series or (100 if args.quick else 1000)
    length = args.length or (100 if args.quick else 500)
    repeats = args.repeats or (3 if args.quick else 1)
    X = np.random.default_rng(0).standard_normal((n_series, 1, length))
    n_states = n_series * length
    try:
        import reservoirpy
        from reservoirpy.nodes import Reservoir

        peer = f"reservoirpy {reservoirpy.__version__}"
    except ImportError:
        Reservoir = None
        peer = None
    print(
        f"# states/s over {n_series} series x {length} steps, 1 input channel; "
        f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"--threads {args.threads if args.threads is not None else 'unset'}"
    )
    if peer is None:
        print("# ReservoirPy not importable: `.venv/bin/pip install reservoirpy` for the peer column")
    cols = ("numpy f64", "numpy f32", "torch f32", "reservoirpy")
    header = (
        f"{'model':8s} {'N':>5s} " + " ".join(f"{c:>12s}" for c in cols) + f" {'f64 x':>8s} {'best x':>8s}"
    )
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        w = init_weights(n, 1, spectral_radius_target=0.9, seed=0)
        rpy_rate = None
        if Reservoir is not None:
            res = Reservoir(units=n, lr=0.3, sr=0.9, input_scaling=1.0, seed=0)
            series = np.ascontiguousarray(np.transpose(X, (0, 2, 1)))  # (n_series, length, 1)
            res.run(series[0])  # initialise
            rpy_rate = n_states / _time(functools.partial(res.run, series), repeats)
        for model, cell, params in (("NW-ESN", "nw", NWCellParams()), ("ESN", "esn", ESNCellParams())):
            rates = []
            for backend, dtype in (("numpy", "float64"), ("numpy", "float32"), ("torch", "float32")):
                if backend == "torch" and args.no_torch:
                    rates.append(float("nan"))
                    continue
                job = functools.partial(run_reservoir, X, w, cell, params, backend=backend, dtype=dtype)
                t = _time(job, repeats)
                rates.append(n_states / t)
            best = np.nanmax(rates)
            rp = f"{rpy_rate:12.3g}" if rpy_rate else f"{'-':>12s}"
            sp64 = f"{rates[0] / rpy_rate:7.1f}x" if rpy_rate else f"{'-':>8s}"
            sp = f"{best / rpy_rate:7.1f}x" if rpy_rate else f"{'-':>8s}"
            print(f"{model:8s} {n:5d} {rates[0]:12.3g} {rates[1]:12.3g} {rates[2]:12.3g} {rp} {sp64} {sp}")
    if peer:
        print(
            f"# peer: {peer} Reservoir.run (leaky tanh, sparse W), the same series one after another; "
            "f64 x = numpy float64 / reservoirpy, best x = best of our kernels / reservoirpy"
        )


if __name__ == "__main__":
    main()
