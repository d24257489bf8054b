"""Benchmark: strong error and cost of the split step for stochastic junctions (``noise_substeps``).

Run: ``.venv/bin/python benchmarks/bench_stochastic.py [--quick] [--paths N] [--samples N]`` (one core).

Device: 200 wires at the Torino-style density of ``_bench_common`` (145 x 145 um, 2 x 2 pads:
input ``E00``, outputs ``E01``/``E10``, ground ``E11``) with the published stochastic junctions
(preset ``"milano2025"``: Milano et al., Nat. Commun. 2025; sigma 3.2e-4 /sqrt(s), jumps at
0.082 /s per junction with exponent 2.78 on [1e-3, 1]). Drive: the gain of the junction rule of
``nwmodel.calibrate_drive`` maps the junction window (V*/2, 2 V*) to the input, with V* = 3.64 V
the voltage where kp = kd; then ``--samples`` held samples of 10 ms at uniform random levels in
that electrode window.

Strong error: every run of a path takes its noise from one
:class:`~nwphys.dynamics.stochastic.CoupledNoisePath` (a fine grid of 256 Brownian increments per
sample and fixed jumps), so runs at 1, 2, 4, 8, 16 sub-steps per sample and the reference at 256
follow the same realisation. Per path: the max over samples and junctions of ``|g - g_ref|`` at
the end of every sample, and the max over samples of the output reading ``|V_out - V_out_ref|``
(electrode ``E01``); the table gives the RMS over ``--paths`` paths. The drift runs at ``rtol``
1e-8, ``atol`` 1e-10 (far below the device's default 3e-3, 3e-4) so that the differences are
those of the split step. Cost: ``SimulatedDevice.apply`` over the whole drive at the device's
default tolerances, ms per held sample (best of 3), with the deterministic model (the drift
alone) as the first row.

Measured 2026-12-06 on one core of a shared 2-core machine, command
``.venv/bin/python benchmarks/bench_stochastic.py`` (2 min 22 s)::

    629 junctions; junction window 1.82-7.27 V -> input 6.04-24.14 V
    40 samples of 10 ms; 3 paths; reference 256 sub-steps
    reference g in [1.57e-09, 0.739], |V_out| up to 11 V; 75 jumps in all paths
    noise_substeps  RMS max|g-g_ref|  RMS max|V_out err| (V)  ms/sample
        drift only                                                 0.58
                 1          3.02e-04                6.53e-03       0.81
                 2          8.59e-05                4.00e-03       1.10
                 4          5.42e-05                2.41e-03       1.86
                 8          4.29e-05                1.03e-03       3.43
                16          2.78e-05                1.13e-03       6.66
    observed order in g: 0.79

The error in g is below 1e-3 from one sub-step per 10 ms sample (3.0e-4); the output reading's
error (max over 40 samples, in volts, of readings up to 11 V) falls from 6.5e-3 V to 1.0e-3 V at
8 sub-steps. The cost grows about linearly with the sub-steps (each one restarts the drift
integrator and adds a nodal solve).
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
from _bench_common import DENSITY_PER_UM2

import nwphys
from hardware import SimulatedDevice
from nwmodel.physical.calibration import calibrate_drive, switching_voltage_V
from nwphys.dynamics.stepper import Stepper
from nwphys.dynamics.stochastic import CoupledNoisePath, split_step_run
from nwphys.junctions import JUNCTION_PRESETS

DT_S = 0.01
N_WIRES = 200
SUBSTEPS = (1, 2, 4, 8, 16)
ROLES = {"inputs": ("E00",), "outputs": ("E01", "E10"), "ground": ("E11",)}
DRIFT_RTOL, DRIFT_ATOL = 1e-8, 1e-10


def _network(model: str, params: dict, seed: int = 1):
    """The benchmark's device (the same wires for every junction model)."""
    side = float(np.sqrt(N_WIRES / DENSITY_PER_UM2))
    return nwphys.generate("torino", density_per_um2=DENSITY_PER_UM2, size_um=(side, side),
                           electrodes="mea2x2", seed=seed, junction_model=model, junction_params=params)


def _device():
    """The stochastic network and its calibrated electrode window (volts)."""
    name, params = JUNCTION_PRESETS["milano2025"]
    net = _network(name, params)
    v_star = switching_voltage_V(params)
    window = (0.5 * v_star, 2.0 * v_star)
    dev = SimulatedDevice(net, **ROLES, max_abs_V=200.0, compliance_A=1.0, seed=0)
    cal = calibrate_drive(dev, rule="junction", junction_window_V=window, verify_s=0.0)
    return net, cal.electrode_window_V(window), window


def _path_run(net, model, driven_V: np.ndarray, n_sub: int, path: CoupledNoisePath):
    """The split step over the drive with the noise of ``path``: g and the E01 reading per sample."""
    c = net.circuit()
    driven = [*ROLES["inputs"], *ROLES["ground"]]
    st = Stepper(c, model.drift_model(), driven=driven, g0=net.state, rtol=DRIFT_RTOL, atol=DRIFT_ATOL)
    dv = np.column_stack([driven_V, np.zeros(driven_V.shape[0])])
    out_col = c.electrode_names.index("E01")
    g = np.empty((dv.shape[0], c.n_junctions))
    v_out = np.empty(dv.shape[0])
    for s in range(dv.shape[0]):
        r = split_step_run(st, model, dv[s : s + 1], DT_S, n_substeps=n_sub, noise=path, t0_s=s * DT_S)
        g[s] = r.g_final
        v_out[s] = r.electrode_voltage_V[0, out_col]
    return g, v_out


def _ms_per_sample(net, driven_V: np.ndarray, **kw) -> float:
    best = np.inf
    for rep in range(3):
        dev = SimulatedDevice(net, **ROLES, max_abs_V=200.0, compliance_A=1.0, seed=rep, **kw)
        t = time.perf_counter()
        dev.apply(driven_V, DT_S)
        best = min(best, time.perf_counter() - t)
    return best / driven_V.shape[0] * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 path, 10 samples, reference at 64")
    ap.add_argument("--paths", type=int, default=None, help="noise paths (default 3)")
    ap.add_argument("--samples", type=int, default=None, help="held samples of 10 ms (default 40)")
    args = ap.parse_args()
    n_paths = args.paths if args.paths is not None else (1 if args.quick else 3)
    n_samples = args.samples if args.samples is not None else (10 if args.quick else 40)
    n_ref = 64 if args.quick else 256
    if n_paths < 1 or n_samples < 1:
        ap.error(f"--paths and --samples must be >= 1, got {n_paths} and {n_samples}")

    net, (e_lo, e_hi), window = _device()
    model = nwphys.make_junction_model(net.junction_model, **net.junction_params)
    c = net.circuit()
    driven_V = np.random.default_rng(0).uniform(e_lo, e_hi, (n_samples, 1))
    print(f"{c.n_junctions} junctions; junction window {window[0]:.2f}-{window[1]:.2f} V -> input "
          f"{e_lo:.2f}-{e_hi:.2f} V\n{n_samples} samples of {DT_S * 1e3:g} ms; {n_paths} paths; "
          f"reference {n_ref} sub-steps")
    err_g = np.zeros((n_paths, len(SUBSTEPS)))
    err_v = np.zeros((n_paths, len(SUBSTEPS)))
    g_range = [np.inf, -np.inf]
    v_top = 0.0
    n_jumps = 0
    for p in range(n_paths):
        path = CoupledNoisePath(model, c.n_junctions, n_samples * DT_S, n_samples * n_ref, seed=100 + p)
        n_jumps += path.jump_size.size
        g_ref, v_ref = _path_run(net, model, driven_V, n_ref, path)
        g_range = [min(g_range[0], g_ref.min()), max(g_range[1], g_ref.max())]
        v_top = max(v_top, float(np.abs(v_ref).max()))
        for i, m in enumerate(SUBSTEPS):
            g, v = _path_run(net, model, driven_V, m, path)
            err_g[p, i] = np.abs(g - g_ref).max()
            err_v[p, i] = np.abs(v - v_ref).max()
    print(f"reference g in [{g_range[0]:.3g}, {g_range[1]:.3g}], |V_out| up to {v_top:.3g} V; "
          f"{n_jumps} jumps in all paths")
    rms_g = np.sqrt((err_g**2).mean(axis=0))
    rms_v = np.sqrt((err_v**2).mean(axis=0))
    drift_net = _network("rate_balance", model.drift_model().params)
    base = _ms_per_sample(drift_net, driven_V)
    print(f"{'noise_substeps':>14} {'RMS max|g-g_ref|':>17} {'RMS max|V_out err| (V)':>23} {'ms/sample':>10}")
    print(f"{'drift only':>14} {'':>17} {'':>23} {base:10.2f}")
    for i, m in enumerate(SUBSTEPS):
        ms = _ms_per_sample(net, driven_V, noise_substeps=m)
        print(f"{m:>14d} {rms_g[i]:17.2e} {rms_v[i]:23.2e} {ms:10.2f}")
    order = -np.polyfit(np.log(SUBSTEPS), np.log(rms_g), 1)[0]
    print(f"observed order in g: {order:.2f}")


if __name__ == "__main__":
    main()
