"""``nwhil lab rehearse`` and ``nwhil lab characterise``: bench runs through the real drivers.

``nwhil lab characterise --channel-map MAP.json --amplitudes A,B[,C] --dt S -o MEAS.h5
[--virtual DEVICE.h5]`` applies the characterisation drive of the digital twin
(:func:`nwmodel.twin.characterise`) through :class:`hardware.LabDevice` on the bench of the
channel map, or with ``--virtual`` on a virtual bench of that device, and streams it to a
measurement file for ``nwhil device fit`` and ``nwhil device fit-geometry``. The device limits and
compliance of the map apply, every edge is ramped, and the bench is left in its safe state (outputs
off, read back) on any error or Ctrl-C.

``nwhil lab rehearse``: rehearse a bench run on a virtual bench before touching a chip.

On a virtual bench built from the device file and the channel map (the real drivers and
:class:`hardware.LabDevice`, talking to virtual instruments over loopback, on simulated
physics and a simulated clock) it checks the map against the device, calibrates the drive, runs a
short reservoir drive, compares the readings with :class:`hardware.SimulatedDevice` on the same
device, drive and seed, and reports the time the run would take on the instruments, the peak
current against compliance and the safe-state read-back (:func:`nwmodel.experiments.rehearsal.rehearse`).

Exit status 0 when the safe state read back and no source reached its compliance, 1 otherwise
(readings outside the bound are reported, not an error: they measure the bench's timing).
"""

from __future__ import annotations

import argparse
import sys

from ._common import (
    add_force,
    add_subcommands,
    at_least_two,
    check_output_path,
    nonneg_float,
    nonneg_int,
    positive_float,
    print_json,
)
from ._device_fit import _amplitudes


def _rehearse(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nwmodel.experiments.rehearsal import rehearse

    from . import CLIError

    for what, path in (("device file", args.device), ("channel map", args.channel_map)):
        if not Path(path).is_file():
            raise CLIError(f"{what} {path!r} not found")
    if not args.json:
        print(f"rehearsing {args.channel_map} on {args.device}: virtual bench, {args.latency * 1e3:g} ms per "
              f"query, NPLC {args.nplc:g} at 50 Hz ...", file=sys.stderr)
    r = rehearse(args.device, args.channel_map, n_series=args.series, n_samples=args.samples, dt_s=args.dt,
                 relax_s=args.relax, latency_s=args.latency, nplc=args.nplc,
                 source_delay_s=args.source_delay, seed=args.seed)
    ok = r.safe_state_ok and r.peak_fraction_of_compliance < 1.0
    if args.json:
        print_json({**r.to_dict(), "ok": ok})
        return 0 if ok else 1
    floating = ", ".join(r.floating_electrodes) or "none"
    verdict = ("within the bound" if r.features_ok else
               "outside the bound: the bench's timing moves them (apertures, latency, instruments read "
               "one after another); lower --nplc or use fewer instruments to bring them closer")
    print(f"channel map: fits the device (floating electrodes: {floating})")
    print(f"calibration: gain {r.gain_bench:.4g} V/V on the bench, {r.gain_simulated:.4g} V/V simulated")
    print(f"readings: max difference {r.feature_max_abs_diff:.2e} of their spread (bound "
          f"{r.feature_bound:.0e}), {verdict}")
    print(f"predicted bench time: {r.predicted_bench_s:.1f} s (calibration and {r.n_series} series of "
          f"{r.n_samples} samples of {r.dt_s:g} s)")
    print(f"peak current: {r.peak_current_A:.3e} A "
          f"({100 * r.peak_fraction_of_compliance:.1f} % of compliance)")
    print("safe state: " + ("read back (outputs off, sources at 0 V, matrix open)" if r.safe_state_ok
                            else "NOT read back as expected"))
    return 0 if ok else 1


def _characterise(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hardware._interrupts import abort_on_signals
    from nwmodel.twin.characterisation import Characterisation, characterise
    from nwutil.fileio import output_lock

    from . import CLIError

    for what, path in (("channel map", args.channel_map), ("device file", args.virtual)):
        if path is not None and not Path(path).is_file():
            raise CLIError(f"{what} {path!r} not found")
    top = max(abs(a) for a in args.amplitudes)
    plan = Characterisation(
        amplitudes_V=args.amplitudes, dt_s=args.dt, pulse_s=args.pulse, relax_s=args.relax, read_V=args.read,
        iv_amplitude_V=top if args.iv_amplitude is None else args.iv_amplitude, iv_s=args.iv,
        noise_s=args.noise, max_step_V=top / 8 if args.max_step is None else args.max_step,
    )
    out = check_output_path(args.output, args.force)
    where = f"a virtual bench of {args.virtual}" if args.virtual else "the bench"
    n = plan.levels().size
    print(f"characterising on {where}: {n} steps of {plan.dt_s:g} s ({n * plan.dt_s:.1f} s), pulses at "
          f"{', '.join(f'{a:g}' for a in plan.amplitudes_V)} V", file=sys.stderr)
    # SIGTERM anywhere in the run (also between two batches, outside any device call) raises, so
    # that leaving the device's block ramps the bench to 0 V and switches it off
    with abort_on_signals(), output_lock(out, what="measurement file"):
        if args.virtual is None:
            from hardware.backends.lab import LabDevice

            # leaving the block ramps to 0 V, switches off and reads that back (raising if it cannot)
            with LabDevice(args.channel_map) as dev:
                characterise(dev, plan, electrode=args.electrode, path=out, force=args.force)
        else:
            import nwphys
            from hardware.virtual import VirtualBench

            net = nwphys.load_network(args.virtual)
            with VirtualBench(net, args.channel_map, latency_s=args.latency, nplc=args.nplc) as bench:
                reading_s = len(bench.instruments) * (args.latency + args.nplc / 50.0)
                if reading_s > 0.1 * plan.dt_s:
                    print(f"nwhil: warning: the readings of a step take about {reading_s * 1e3:.3g} ms, "
                          f"{reading_s / plan.dt_s:.0%} of the {plan.dt_s * 1e3:g} ms hold; they will not "
                          "read the end of the hold ('nwhil lab rehearse' measures how far this moves them)",
                          file=sys.stderr)
                with bench.lab_device(ramp_pause_s=0.0) as dev:
                    characterise(dev, plan, electrode=args.electrode, path=out, network=net,
                                 device_file=args.virtual, force=args.force)
    print(f"wrote {out}")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``lab`` group on ``parser``."""
    sub = add_subcommands(parser, "lab_command")
    p = sub.add_parser(
        "rehearse",
        help="rehearse a bench run on a virtual bench of the real drivers",
        description="Rehearse a calibration and a short reservoir drive through the real drivers and "
        "LabDevice on a virtual bench built from DEVICE and the channel map; compare the readings with "
        "the simulated device and report the predicted bench time, the peak current against compliance "
        "and the safe-state read-back.",
    )
    p.add_argument("device", help="device file (nwhil device generate)")
    p.add_argument("--channel-map", required=True, metavar="MAP.json",
                   help="the bench's channel map (hardware.LabDevice format; addresses are not used)")
    p.add_argument("--series", type=at_least_two, default=4, help="random series of the drive (default 4)")
    p.add_argument("--samples", type=at_least_two, default=20, help="samples per series (default 20)")
    p.add_argument("--dt", type=positive_float, default=0.1, help="sample period in seconds (default 0.1)")
    p.add_argument("--relax", type=positive_float, default=1.0,
                   help="relaxation at 0 V before each series and at each reset, in seconds (default 1)")
    p.add_argument("--latency", type=nonneg_float, default=1e-3,
                   help="seconds per query round trip on the bench (default 0.001)")
    p.add_argument("--nplc", type=positive_float, default=1.0,
                   help="aperture of a reading in power-line cycles, 0.001 to 25 (default 1)")
    p.add_argument("--source-delay", type=nonneg_float, default=0.0,
                   help="least seconds from a level change to a reading (default 0)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the series and encoding (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_rehearse)


    c = sub.add_parser(
        "characterise",
        help="measure a chip with the digital twin's characterisation drive through the real drivers",
        description="Apply the characterisation drive (pulses at each amplitude with relaxations at the read "
        "level, an I-V sweep, a noise hold; every edge ramped) to the channel map's first input electrode, "
        "the other inputs at 0 V, through LabDevice, and stream the readings to a measurement file for "
        "'nwhil device fit' and 'nwhil device fit-geometry'. With --virtual, on a virtual bench of a device "
        "file instead of the instruments.",
    )
    c.add_argument("--channel-map", required=True, metavar="MAP.json", help="the bench's channel map")
    c.add_argument("--virtual", metavar="DEVICE.h5",
                   help="run on a virtual bench of this device file (no instrument is touched)")
    c.add_argument("--amplitudes", required=True, type=_amplitudes, metavar="V,V[,V]",
                   help="pulse amplitudes in volts (two or more distinct levels)")
    c.add_argument("--dt", required=True, type=positive_float, metavar="S",
                   help="step in seconds: one reading per step")
    c.add_argument("--pulse", type=positive_float, default=0.5, metavar="S",
                   help="pulse length (default 0.5 s)")
    c.add_argument("--relax", type=positive_float, default=3.0, metavar="S",
                   help="relaxation at the read level after each pulse (default 3 s)")
    c.add_argument("--read", type=float, default=0.05, metavar="V", help="read level in volts (default 0.05)")
    c.add_argument("--iv-amplitude", type=nonneg_float, default=None, metavar="V",
                   help="peak of the I-V sweep in volts (default: the highest amplitude; 0: none)")
    c.add_argument("--iv", type=positive_float, default=2.0, metavar="S",
                   help="duration of the I-V cycle (default 2 s)")
    c.add_argument("--noise", type=nonneg_float, default=10.0, metavar="S",
                   help="noise hold at the read level after a pulse (default 10 s; 0: none)")
    c.add_argument("--max-step", type=positive_float, default=None, metavar="V",
                   help="largest level change per step (default: the highest amplitude / 8)")
    c.add_argument("--electrode", metavar="NAME", help="the input electrode to drive (default: the first)")
    c.add_argument("--latency", type=nonneg_float, default=1e-3,
                   help="with --virtual: seconds per query round trip (default 0.001)")
    c.add_argument("--nplc", type=positive_float, default=1.0,
                   help="with --virtual: aperture of a reading in power-line cycles (default 1)")
    c.add_argument("-o", "--output", required=True, metavar="MEAS.h5", help="measurement file to write")
    add_force(c, "an existing measurement file")
    c.set_defaults(func=_characterise)
