"""``nwhil device characterise`` and ``nwhil device fit``: a digital twin of a measured chip.

* ``nwhil device characterise DEVICE.h5 -o MEAS.h5 [--amplitudes A,B,C] [--dt S]
  [--junction-noise published|none] [--read-noise-A X] [--seed N] [--force]``: the
  characterisation drive on a simulated copy of the device (on a bench: ``nwhil lab
  characterise``, through :class:`hardware.LabDevice`), streamed to a
  measurement file.
* ``nwhil device fit MEAS.h5 [--device DEVICE.h5] [--initial PRESET] [--fix NAMES] [-o FIT.json]
  [--json]``: fit the junction kinetics, conductance range and noise to the measurement; ``-o``
  writes a junction preset that ``nwhil device generate --preset FIT.json`` and
  ``SimulatedDeviceSpec.from_preset`` accept.
* ``nwhil device fit --rehearse DEVICE.h5 [--junction-noise published|none] [--read-noise-A X]
  [--json]``: the identifiability check: measure a simulated copy with noise, fit, print the true
  values, the fitted ones and the relative errors; exit 1 when a target is missed.
* ``nwhil device fit-geometry MEAS.h5 --like TEMPLATE.h5 [--junctions PRESET] [--densities LO:HI:N]
  [--lengths LO:HI:N] [--replicas N] [-o CHIP.json] [--json]``: estimate the wire density (and
  mean length) of a chip whose geometry is unknown, from a measurement and a template device of
  the same chip design; ``-o`` writes the junctions and the geometry as one preset file for
  ``nwhil device generate --preset CHIP.json``; ``--rehearse DEVICE.h5`` checks it on a simulated
  copy of a known device.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nwutil.fileio import output_lock

from . import CLIError, UsageError
from ._common import (
    add_force,
    check_output_path,
    int_in_range,
    nonneg_float,
    nonneg_int,
    positive_float,
    print_json,
)

#: Names of ``--fix`` (:data:`nwmodel.twin.fit.FIT_PARAMS`; kept here so that parsing imports no physics).
FIT_PARAM_NAMES: tuple[str, ...] = (
    "kp0_per_s", "kd0_per_s", "eta_p_per_V", "eta_d_per_V", "G_min_S", "G_max_S",
)


def _amplitudes(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(","))
    except ValueError:
        values = ()
    if len(values) < 2 or not all(v == v and abs(v) < float("inf") and v != 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected two or more nonzero volts, comma-separated, got {text!r}")
    return values


def _names(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [n for n in names if n not in FIT_PARAM_NAMES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"--fix takes names of {', '.join(FIT_PARAM_NAMES)}, got {text!r}")
    return names


def _load(path: str) -> Any:
    import nwphys

    if not Path(path).is_file():
        raise CLIError(f"device file {path!r} not found")
    return nwphys.load_network(path)


def _junction_noise(choice: str) -> dict[str, float]:
    from nwmodel.twin.identify import PUBLISHED_NOISE

    return dict(PUBLISHED_NOISE) if choice == "published" else {}


def _fields(plan: Any) -> dict[str, Any]:
    d = plan.to_dict()
    d.pop("format")
    d["amplitudes_V"] = tuple(d["amplitudes_V"])
    return d


def _plan(args: argparse.Namespace, net: Any) -> Any:
    """The characterisation: sized for the device (:func:`nwmodel.twin.identify.suggest_plan`),
    with ``--amplitudes`` and ``--dt`` where given."""
    from nwmodel.twin.characterisation import Characterisation
    from nwmodel.twin.identify import suggest_plan

    fields = _fields(suggest_plan(net, max_abs_V=args.max_voltage))
    if args.amplitudes is not None:
        hi = max(abs(a) for a in args.amplitudes)
        fields.update(amplitudes_V=args.amplitudes, iv_amplitude_V=hi, max_step_V=hi / 8)
    if args.dt is not None:
        fields.update(dt_s=args.dt)
    return Characterisation(**fields)


def _characterise(args: argparse.Namespace) -> int:
    from nwmodel.twin.characterisation import characterise
    from nwmodel.twin.identify import simulated_copy

    net = _load(args.device)
    out = check_output_path(args.output, args.force)
    plan = _plan(args, net)
    dev = simulated_copy(net, plan, junction_noise=_junction_noise(args.junction_noise),
                         read_noise_A=args.read_noise_A or 0.0, seed=args.seed, compliance_A=args.compliance,
                         compliance_policy="raise")
    print(f"characterising {args.device}: {plan.levels().size} steps of {plan.dt_s:.3g} s, pulses at "
          f"{', '.join(f'{a:.3g}' for a in plan.amplitudes_V)} V ...", file=sys.stderr)
    with output_lock(out, what="measurement file"):
        with dev:
            characterise(dev, plan, path=out, device_file=args.device, force=args.force)
    print(f"wrote {out}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    if (args.measurements is None) == (args.rehearse is None):
        raise UsageError("give a measurement file (with --device) or --rehearse DEVICE.h5, not both")
    if args.rehearse is not None:
        return _rehearse(args)
    import nwphys
    from hardware.h5io import read_measurement
    from nwmodel.twin.fit import fit_junctions

    out = None if args.output is None else check_output_path(args.output, args.force)
    if out is not None and out.suffix != ".json":
        raise UsageError(f"-o must name a .json junction preset file, got {str(out)!r}")
    if not Path(args.measurements).is_file():
        raise CLIError(f"measurement file {args.measurements!r} not found")
    m, info = read_measurement(args.measurements)
    device = args.device or ((info.get("metadata") or {}).get("characterisation") or {}).get("device_file")
    if device is None:
        raise UsageError("the measurement file names no device file: give --device DEVICE.h5, the device "
                         "it was taken on")
    net = _load(device)
    if info["status"] != "complete":
        raise CLIError(f"measurement file {args.measurements!r} is {info['status']} "
                       f"({info['n_complete']} steps); fit a complete one")
    plan = (info.get("metadata") or {}).get("characterisation")
    if plan:
        m.metadata["characterisation"] = plan  # the plan and the geometry digest of the device measured
    if args.initial is None:
        model, initial = net.junction_model, dict(net.junction_params)
    else:
        model, initial = nwphys.resolve_junction_preset(args.initial)
    if model not in ("rate_balance", "rate_balance_ou"):
        raise CLIError(f"the initial guess must be a rate-balance preset, {args.initial!r} is {model!r}")
    if not args.json:
        print(f"fitting {args.measurements} ({m.n_steps} readings) on {device} ...", file=sys.stderr)
    fit = fit_junctions(net, m, initial={k: initial[k] for k in FIT_PARAM_NAMES}, fixed=args.fix or ())
    if out is not None:
        fit.write_preset(out, force=args.force)
    if args.json:
        print_json({**fit.to_dict(), "preset_file": None if out is None else str(out)})
        return 0
    print(f"{'parameter':<14}{'fitted':>14}{'rel. std':>10}")
    for k in FIT_PARAM_NAMES:
        s = fit.rel_std.get(k)
        print(f"{k:<14}{fit.params[k]:>14.5g}{'fixed' if s is None else f'{s:.2g}':>10}")
    verdict = ("adequate" if fit.adequate else "NOT adequate: the model misses the data" if fit.converged
               else "NOT converged within its replays: the best point seen, without standard errors")
    print(f"reduced chi2 {fit.reduced_chi2:.3g} ({verdict}), {fit.n_simulations} simulations in "
          f"{fit.wall_time_s:.1f} s")
    for k, v in fit.noise.items():
        print(f"noise {k}: {v:.4g}")
    if out is not None:
        print(f"wrote {out}")
    return 0 if fit.adequate else 1


def _rehearse(args: argparse.Namespace) -> int:
    from nwmodel.twin.identify import KINETIC_TARGET, RANGE_TARGET, rehearse_fit

    net = _load(args.rehearse)
    plan = _plan(args, net) if args.amplitudes is not None or args.dt is not None else None
    if not args.json:
        print(f"rehearsing a fit of {args.rehearse}: a simulated copy measured with "
              f"{args.junction_noise} junction noise ...", file=sys.stderr)
    r = rehearse_fit(net, plan=plan, junction_noise=_junction_noise(args.junction_noise),
                     read_noise_A=args.read_noise_A, seed=args.seed, max_abs_V=args.max_voltage)
    if args.json:
        print_json(r.to_dict())
        return 0 if r.within_target else 1
    print(f"{'parameter':<14}{'true':>13}{'fitted':>13}{'rel. error':>12}{'target':>9}")
    for k, e in r.rel_error.items():
        target = KINETIC_TARGET if k in FIT_PARAM_NAMES[:4] else RANGE_TARGET
        print(f"{k:<14}{r.true[k]:>13.5g}{r.fitted[k]:>13.5g}{e:>12.2%}{target:>9.0%}")
    print(f"reduced chi2 {r.reduced_chi2:.3g}; held-out drive: prediction error {r.held_out_rel_rms:.2e} "
          f"of the current (noise alone {r.held_out_noise_rel_rms:.2e})")
    print(f"fit: {r.n_simulations} simulations in {r.fit_wall_time_s:.1f} s")
    print("identifiable: all targets met" if r.within_target
          else "NOT identifiable with this plan: a target is missed")
    return 0 if r.within_target else 1


def _grid(text: str) -> tuple[float, float, int]:
    parts = text.split(":")
    try:
        lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
    except (ValueError, IndexError):
        lo = hi = n = 0
    if len(parts) != 3 or not (0 < lo < hi < float("inf")) or n < 3:
        raise argparse.ArgumentTypeError(f"expected LO:HI:N with 0 < LO < HI and N >= 3, got {text!r}")
    return lo, hi, n


def _geomspace(g: tuple[float, float, int] | None) -> Any:
    import numpy as np

    return None if g is None else np.geomspace(g[0], g[1], g[2])


def _geometry_noise(choice: str) -> dict[str, float] | None:
    """``--junction-noise`` of fit-geometry; None ("own"): the junctions' own noise, which
    :func:`nwmodel.twin.geometry.estimate_geometry` reads from the template."""
    return None if choice == "own" else _junction_noise(choice)


def _print_geometry(fit: Any) -> None:
    lo, hi = fit.density_interval_per_um2
    print(f"density      {fit.density_per_um2:.4g} wires/um^2  (95 % interval {lo:.4g} to {hi:.4g})")
    if fit.length_interval_um is None:
        print(f"mean length  {fit.length_mean_um:.4g} um (held fixed)")
    else:
        a, b = fit.length_interval_um
        print(f"mean length  {fit.length_mean_um:.4g} um  (95 % interval {a:.4g} to {b:.4g})")
    a, b = fit.percolation_interval
    print(f"percolation ratio n<L^2>/n_c {fit.percolation_ratio:.3g} ({a:.3g} to {b:.3g})")
    print(f"p-value {fit.p_value:.3g}; {fit.n_simulations} simulated devices in {fit.wall_time_s:.1f} s")
    if not fit.interval_closed:
        print("the interval reaches the edge of the candidate grid: widen --densities / --lengths")
    print("adequate" if fit.adequate else "NOT adequate: no device of this ensemble looks like the "
          "measurement (check the junction parameters and the chip description), or the estimate lies on "
          "the grid's edge")


def _fit_geometry(args: argparse.Namespace) -> int:
    if (args.measurements is None) == (args.rehearse is None):
        raise UsageError("give a measurement file (with --like) or --rehearse DEVICE.h5, not both")
    import nwphys
    from nwmodel.twin.geometry import estimate_geometry, rehearse_geometry

    out = None if args.output is None else check_output_path(args.output, args.force)
    if out is not None and out.suffix != ".json":
        raise UsageError(f"-o must name a .json file, got {str(out)!r}")
    progress = None if args.json else (
        lambda done, total: print(f"\r{done}/{total} candidates", end="" if done < total else "\n",
                                  file=sys.stderr, flush=True))
    if args.rehearse is not None:
        net = _load(args.rehearse)
        noise = _junction_noise("none" if args.junction_noise == "none" else "published")
        r = rehearse_geometry(net, junction_noise=noise, read_noise_A=args.read_noise_A,
                              densities_per_um2=_geomspace(args.densities),
                              lengths_um=_geomspace(args.lengths), replicas=args.replicas, seed=args.seed,
                              progress=progress)
        result, fit = r.to_dict(), r.fit
        if not args.json:
            print(f"true density {r.true_density_per_um2:.4g} wires/um^2, "
                  f"mean length {r.true_length_mean_um:.4g} um")
            _print_geometry(fit)
            print(f"density error {r.rel_error_density:+.1%}; the truth is "
                  f"{'inside' if r.covered else 'OUTSIDE'} the intervals")
        ok = fit.adequate and r.covered
    else:
        from hardware.h5io import read_measurement

        if args.like is None:
            raise UsageError("give --like TEMPLATE.h5: a device file of the same chip design (size, "
                             "electrodes, wire length law, junction parameters)")
        if not Path(args.measurements).is_file():
            raise CLIError(f"measurement file {args.measurements!r} not found")
        m, info = read_measurement(args.measurements)
        if info["status"] != "complete":
            raise CLIError(f"measurement file {args.measurements!r} is {info['status']} "
                           f"({info['n_complete']} steps); use a complete one")
        plan = (info.get("metadata") or {}).get("characterisation")
        if plan:
            m.metadata["characterisation"] = plan
        template = _load(args.like)
        if args.junctions is not None:
            model, params = nwphys.resolve_junction_preset(args.junctions)
            template = template.with_junctions(model, params)
        fit = estimate_geometry(m, template, densities_per_um2=_geomspace(args.densities),
                                lengths_um=_geomspace(args.lengths), replicas=args.replicas,
                                junction_noise=_geometry_noise(args.junction_noise),
                                read_noise_A=args.read_noise_A or 0.0, seed=args.seed, progress=progress)
        result = fit.to_dict()
        if not args.json:
            _print_geometry(fit)
        ok = fit.adequate
    if out is not None:
        with output_lock(out, what="preset file"):
            fit.write_preset(out, force=args.force)
    if args.json:
        print_json(result)
    elif out is not None:
        print(f"wrote {out}")
    return 0 if ok else 1


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--amplitudes", type=_amplitudes, metavar="V,V[,V]",
                   help="pulse amplitudes in volts (default: found on the device, where a pulse raises "
                   "the conductance 3x and 100x)")
    p.add_argument("--dt", type=positive_float, metavar="S",
                   help="step in seconds (default 1 / (25 (kp0 + kd0)))")
    p.add_argument("--max-voltage", type=positive_float, default=100.0, metavar="V",
                   help="highest amplitude the plan may use (default: %(default)s V)")
    p.add_argument("--junction-noise", choices=("published", "none"), default="published",
                   help="junction noise of the simulated copy: published (Ornstein-Uhlenbeck with jumps, "
                   "Milano et al. 2025) or none (default: %(default)s)")
    p.add_argument("--read-noise-A", type=nonneg_float, default=None, metavar="A",
                   help="read noise of every current in amperes (default: 1e-3 of the current at rest)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the noise (default: %(default)s)")


def register(sub: Any) -> None:
    """Add ``characterise``, ``fit`` and ``fit-geometry`` to the ``device`` group's subparsers."""
    c = sub.add_parser(
        "characterise",
        help="measure a simulated copy of a device with the characterisation drive",
        description="Apply the characterisation drive (pulses, relaxations, an I-V sweep, a noise hold) to a "
        "simulated copy of the device (first electrode driven, last grounded) and stream it to a "
        "measurement file that 'nwhil device fit' reads.",
    )
    c.add_argument("device", help="device file (.h5)")
    _common(c)
    c.add_argument("--compliance", type=positive_float, default=0.1, metavar="A",
                   help="source compliance in amperes (default: %(default)s)")
    c.add_argument("-o", "--output", required=True, help="measurement file to write (.h5)")
    add_force(c, "an existing measurement file")
    c.set_defaults(func=_characterise)

    f = sub.add_parser(
        "fit",
        help="fit junction kinetics, conductance range and noise to a measurement",
        description="Fit the rate-balance kinetics (kp0, kd0, eta_p, eta_d), the conductance range "
        "(G_min, G_max) and the noise of a device to a measurement file, with relative standard errors; "
        "or, with --rehearse, check on a simulated copy with noise that the fit recovers known values. "
        "Exit 1 when the fit is not adequate or the rehearsal misses a target.",
    )
    f.add_argument("measurements", nargs="?", help="measurement file (.h5) of the characterisation")
    f.add_argument("--device", help="the device file the measurement was taken on (.h5; default: the one "
                   "'nwhil device characterise' recorded in the measurement file)")
    f.add_argument("--rehearse", metavar="DEVICE.h5",
                   help="rehearse the fit on a simulated copy of this device")
    f.add_argument("--initial", metavar="PRESET", help="starting point: a junction preset name or .json file "
                   "(default: the device file's junction parameters)")
    f.add_argument("--fix", type=_names, metavar="NAMES",
                   help="parameters held at the starting point, comma-separated")
    f.add_argument("--json", action="store_true", help="print JSON")
    f.add_argument("-o", "--output", metavar="FIT.json", help="write the fit as a junction preset file")
    add_force(f, "an existing preset file")
    _common(f)
    f.set_defaults(func=_fit)

    g = sub.add_parser(
        "fit-geometry",
        help="estimate the wire density (and mean length) of a chip of unknown geometry",
        description="Estimate the wire density, and with --lengths the mean wire length, of a measured chip "
        "whose wires are unknown: networks of the template's chip design are generated over a grid of "
        "candidates, the measured drive is replayed on each, and a synthetic likelihood of the measured "
        "currents gives the estimate with 95 %% intervals. The junction parameters are taken as known. "
        "With --rehearse, check it on a simulated copy of a device of known density. Exit 1 when the "
        "estimate is not adequate or the rehearsal's interval misses the truth.",
    )
    g.add_argument("measurements", nargs="?", help="measurement file (.h5), e.g. a characterisation")
    g.add_argument("--like", metavar="TEMPLATE.h5", help="a device file of the same chip design")
    g.add_argument("--rehearse", metavar="DEVICE.h5", help="rehearse on a simulated copy of this device")
    g.add_argument("--junctions", metavar="PRESET",
                   help="junction parameters: a preset name or a .json file of 'nwhil device fit -o' "
                   "(default: the template's)")
    g.add_argument("--densities", type=_grid, metavar="LO:HI:N",
                   help="candidate densities in wires/um^2, log-spaced (default: 0.5 to 2 times the "
                   "template's, 13 values; rehearsal: 0.6 to 2 times the truth)")
    g.add_argument("--lengths", type=_grid, metavar="LO:HI:N",
                   help="candidate mean wire lengths in um, log-spaced (default: the template's, held fixed)")
    g.add_argument("--replicas", type=int_in_range(4, 1000), default=12, metavar="N",
                   help="simulated devices per candidate (default: %(default)s)")
    g.add_argument("--junction-noise", choices=("own", "published", "none"), default="own",
                   help="junction noise simulated in every device: the junction preset's own, the published "
                   "level or none (default: %(default)s; a rehearsal measures with the published level "
                   "unless none)")
    g.add_argument("--read-noise-A", type=nonneg_float, default=None, metavar="A",
                   help="read noise of the current in amperes (default: 0; rehearsal: 1e-3 of the current "
                   "at rest)")
    g.add_argument("--seed", type=nonneg_int, default=0,
                   help="seed of the simulated devices (default: %(default)s)")
    g.add_argument("--json", action="store_true", help="print JSON")
    g.add_argument("-o", "--output", metavar="CHIP.json",
                   help="write the junctions and the estimated geometry as a preset file that 'nwhil device "
                   "generate --preset CHIP.json' accepts")
    add_force(g, "an existing output file")
    g.set_defaults(func=_fit_geometry)
