"""``nwhil lab rehearse``: rehearse a bench run on a virtual bench before touching a chip.

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
    add_subcommands,
    at_least_two,
    nonneg_float,
    nonneg_int,
    positive_float,
    print_json,
)


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

