"""Benchmark: strong error and cost of the split step for stochastic junctions (``noise_substeps``).

Run: ``.venv/bin/python benchmarks/bench_stochastic.py [--quick] [--paths N] [--samples N]
[--device bench|default] [--dt S] [--ref N]`` (one core).

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

``--device default`` measures the operating point of the robustness study
(``benchmarks/study_robustness.py``, row ``noise 1x``) instead: the default device of the physical
reservoir (``nwmodel.SimulatedDeviceSpec()``: 400 wires, 1699 junctions, NW-ESN kinetics with Ag
conductances, chessboard roles with 6 inputs, 6 outputs and 4 grounds) with ``"rate_balance_ou"``
and the published noise (``nwphys.junctions.MILANO2025_NOISE``), driven as the reservoir drives
it: ``calibrate_drive`` (rule ``"auto"``) of the junction window (0.35, 1.15) V, then the default
encoding (``DEFAULT_ENCODING``: slope 1, input scaling 1, bias scaling 0.1; weights and bias drawn
as the estimator draws them with ``random_state`` 0) of a one-channel input series of ``N(0, 1)``
values, one held sample per value. Its default sample is the reservoir's ``dt_s`` of 0.1 s,
sub-steps 1, 2, 4, 8 against a reference of ``--ref`` (default 64). The error of the readings is
that of the reservoir's 16 electrode readings (6 output voltages, 6 input and 4 ground currents):
per path and reading the max over samples of ``|r - r_ref|`` divided by the reading's spread (its
standard deviation over the samples and paths of the reference), then the largest over the
readings; the table gives its RMS over the paths.

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

``--device default`` measured 2026-12-06 on one core, command
``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_stochastic.py --device default --paths 3
--samples 20`` (3 min 15 s)::

    default device: 1699 junctions, 6 inputs, 6 outputs, 4 grounds; junction window 0.35-1.15 V
      -> electrode window 0.748-2.458 V (drive 1.169-1.985 V)
    20 samples of 0.1 s; 3 paths; reference 64 sub-steps
    reading spreads: output V 0.0311-0.108 V, currents 1.51e-06-1.77e-05 A; 829 jumps in all paths
    noise_substeps  RMS max|g-g_ref|  RMS max|V err| (V)  RMS max|I err| (A)  RMS max err/spread  ms/sample
                 1          2.98e-03            5.80e-03            3.72e-08            1.18e-01        2.4
                 2          1.49e-03            3.56e-03            2.91e-08            4.73e-02        3.2
                 4          4.30e-04            2.30e-03            1.03e-08            3.17e-02        4.9
                 8          3.85e-04            8.76e-04            6.06e-09            1.23e-02        6.7
    largest relative error at 1 sub-step: V E23 (spread 0.0382)
    observed order in g: 1.06

At one sub-step per 0.1 s sample (the device default, the robustness study's noise rows) the
readings are not converged to 1e-3 of their spread: the worst reading (the output voltage ``E23``)
is off by 0.12 of its spread, and 8 sub-steps still leave 1.2e-2.
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
DEFAULT_SUBSTEPS = (1, 2, 4, 8)


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


def _default_device():
    """The robustness study's ``noise 1x`` device: the spec, its roles and the reservoir's drive
    window in electrode volts (calibrated as ``PhysicalReservoirClassifier`` calibrates it)."""
    from nwmodel import SimulatedDeviceSpec
    from nwmodel.physical.mapping import DEFAULT_ENCODING
    from nwphys.junctions import MILANO2025_NOISE

    base = SimulatedDeviceSpec()
    spec = SimulatedDeviceSpec(
        junction_params=(*base.junction_params, *MILANO2025_NOISE.items()),
        generate_kwargs=(("junction_model", "rate_balance_ou"),),
        device_kwargs=(*base.device_kwargs, ("seed", 0)),
    )
    inputs, outputs, ground, _ = spec.roles()
    lo = DEFAULT_ENCODING["v_bias_V"]
    window = (lo, lo + DEFAULT_ENCODING["v_scale_V"])
    dev = spec()
    try:
        cal = calibrate_drive(dev, rule="auto", junction_window_V=window)
    finally:
        dev.close()
    roles = {"inputs": tuple(inputs), "outputs": tuple(outputs), "ground": tuple(ground)}
    return spec, roles, cal.electrode_window_V(window), window


def _reservoir_drive(n_inputs: int, e_window: tuple[float, float], n_samples: int) -> np.ndarray:
    """The reservoir's encoding (default parameters, ``random_state`` 0) of an N(0, 1) series."""
    from nwmodel.physical._drive import Encoding, draw_encoding
    from nwmodel.physical.mapping import DEFAULT_ENCODING

    w_rng, b_rng, m_rng, _ = np.random.default_rng(0).spawn(4)
    w_in, bias, mask = draw_encoding(
        (w_rng, b_rng, m_rng), n_inputs=n_inputs, n_channels=1, n_virtual=1,
        input_scaling=DEFAULT_ENCODING["input_scaling"], bias_scaling=DEFAULT_ENCODING["bias_scaling"],
    )
    enc = Encoding(w_in, bias, mask, slope=DEFAULT_ENCODING["slope"], v_bias_V=e_window[0],
                   v_scale_V=e_window[1] - e_window[0], dt_s=DEFAULT_ENCODING["dt_s"], reset="restore",
                   relax_s=0.0)
    x = np.random.default_rng(1).standard_normal((1, n_samples))
    return enc.voltages_V(x)


def _path_readings(net, model, roles, driven_V: np.ndarray, dt_s: float, n_sub: int,
                   path: CoupledNoisePath):
    """The split step over the drive: g and the 16 electrode readings of the reservoir per sample
    (output voltages, input currents, ground currents)."""
    c = net.circuit()
    driven = [*roles["inputs"], *roles["ground"]]
    st = Stepper(c, model.drift_model(), driven=driven, g0=net.state, rtol=DRIFT_RTOL, atol=DRIFT_ATOL)
    dv = np.column_stack([driven_V, np.zeros((driven_V.shape[0], len(roles["ground"])))])
    out_cols = [c.electrode_names.index(e) for e in roles["outputs"]]
    cur_cols = [c.electrode_names.index(e) for e in driven]
    g = np.empty((dv.shape[0], c.n_junctions))
    read = np.empty((dv.shape[0], len(out_cols) + len(cur_cols)))
    for s in range(dv.shape[0]):
        r = split_step_run(st, model, dv[s : s + 1], dt_s, n_substeps=n_sub, noise=path, t0_s=s * dt_s)
        g[s] = r.g_final
        read[s] = np.concatenate([r.electrode_voltage_V[0, out_cols], r.electrode_current_A[0, cur_cols]])
    return g, read


def main_default(n_paths: int, n_samples: int, dt_s: float, n_ref: int) -> None:
    """The strong error on the robustness study's operating point (``--device default``)."""
    t_start = time.perf_counter()
    spec, roles, (e_lo, e_hi), window = _default_device()
    net = spec.network()
    model = nwphys.make_junction_model(net.junction_model, **net.junction_params)
    c = net.circuit()
    driven_V = _reservoir_drive(len(roles["inputs"]), (e_lo, e_hi), n_samples)
    n_out = len(roles["outputs"])
    print(f"default device: {c.n_junctions} junctions, {len(roles['inputs'])} inputs, {n_out} outputs, "
          f"{len(roles['ground'])} grounds; junction window {window[0]:.2f}-{window[1]:.2f} V -> "
          f"electrode window {e_lo:.3f}-{e_hi:.3f} V (drive {driven_V.min():.3f}-{driven_V.max():.3f} V)\n"
          f"{n_samples} samples of {dt_s:g} s; {n_paths} paths; reference {n_ref} sub-steps")
    subs = tuple(m for m in DEFAULT_SUBSTEPS if m < n_ref)
    refs, errs_g, diffs = [], np.zeros((n_paths, len(subs))), []
    n_jumps = 0
    for p in range(n_paths):
        path = CoupledNoisePath(model, c.n_junctions, n_samples * dt_s, n_samples * n_ref, seed=100 + p)
        n_jumps += path.jump_size.size
        g_ref, r_ref = _path_readings(net, model, roles, driven_V, dt_s, n_ref, path)
        refs.append(r_ref)
        d = []
        for i, m in enumerate(subs):
            g, r = _path_readings(net, model, roles, driven_V, dt_s, m, path)
            errs_g[p, i] = np.abs(g - g_ref).max()
            d.append(np.abs(r - r_ref).max(axis=0))  # per reading, max over samples
        diffs.append(d)
    ref_all = np.concatenate(refs, axis=0)
    spread = ref_all.std(axis=0)
    rel = np.asarray(diffs) / spread  # (paths, subs, readings)
    worst = rel.max(axis=2)
    v_err = np.asarray(diffs)[:, :, :n_out].max(axis=2)
    i_err = np.asarray(diffs)[:, :, n_out:].max(axis=2)
    print(f"reading spreads: output V {spread[:n_out].min():.3g}-{spread[:n_out].max():.3g} V, "
          f"currents {spread[n_out:].min():.3g}-{spread[n_out:].max():.3g} A; {n_jumps} jumps in all paths")
    rms = lambda a: np.sqrt((a**2).mean(axis=0))  # noqa: E731
    print(f"{'noise_substeps':>14} {'RMS max|g-g_ref|':>17} {'RMS max|V err| (V)':>19} "
          f"{'RMS max|I err| (A)':>19} {'RMS max err/spread':>19} {'ms/sample':>10}")
    kw = dict(spec.device_kwargs)
    for i, m in enumerate(subs):
        best = np.inf
        for rep in range(3):
            dev = SimulatedDevice(net, **roles, **{**kw, "seed": rep, "noise_substeps": m})
            t = time.perf_counter()
            dev.apply(driven_V, dt_s)
            best = min(best, time.perf_counter() - t)
            dev.close()
        print(f"{m:>14d} {rms(errs_g)[i]:17.2e} {rms(v_err)[i]:19.2e} {rms(i_err)[i]:19.2e} "
              f"{rms(worst)[i]:19.2e} {best / n_samples * 1e3:10.1f}")
    k = int(np.argmax(rms(rel[:, 0, :])))
    names = [f"V {e}" for e in roles["outputs"]] + [f"I {e}" for e in (*roles["inputs"], *roles["ground"])]
    print(f"largest relative error at 1 sub-step: {names[k]} (spread {spread[k]:.3g})")
    if len(subs) > 1:
        order = -np.polyfit(np.log(subs), np.log(rms(errs_g)), 1)[0]
        print(f"observed order in g: {order:.2f}")
    print(f"wall {time.perf_counter() - t_start:.0f} s")


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
    ap.add_argument("--samples", type=int, default=None,
                    help="held samples (default 40; --device default: 20)")
    ap.add_argument("--device", choices=("bench", "default"), default="bench",
                    help="bench: 200-wire milano2025 device; default: the robustness study's noise 1x")
    ap.add_argument("--dt", type=float, default=None,
                    help="sample length in s (bench: 0.01 only; default device: default 0.1)")
    ap.add_argument("--ref", type=int, default=None, help="reference sub-steps (--device default: 64)")
    args = ap.parse_args()
    if args.device == "default":
        n_paths = args.paths if args.paths is not None else (1 if args.quick else 3)
        n_samples = args.samples if args.samples is not None else (5 if args.quick else 20)
        dt_s = args.dt if args.dt is not None else 0.1
        n_ref = args.ref if args.ref is not None else (16 if args.quick else 64)
        if n_paths < 1 or n_samples < 1 or n_ref < 2 or not dt_s > 0:
            ap.error("--paths, --samples must be >= 1, --ref >= 2, --dt > 0")
        main_default(n_paths, n_samples, dt_s, n_ref)
        return
    if (args.dt is not None and args.dt != DT_S) or args.ref is not None:
        ap.error("--dt and --ref apply to --device default only")
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
