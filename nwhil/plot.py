"""``nwhil plot``: a run file's conductance, current and voltage versus time, plus an I-V view of a
voltage sweep and the network coloured by the last conductances (:func:`nwphys.plotting.plot_run`).

The network panel is drawn only on the run's own device: a device file (``--device``, else the
one the run file records) whose circuit digest differs from the run's ``circuit_sha256`` is
refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import CLIError
from ._common import (
    IMAGE_OUTPUT_HELP,
    add_force,
    check_image_suffix,
    check_output_path,
    int_in_range,
    save_figure,
)

#: Range of ``--dpi`` (dots per inch of raster images).
DPI_RANGE: tuple[int, int] = (10, 1200)


def _network_of_run(args: argparse.Namespace, params: dict[str, Any]) -> Any:
    """The device to draw the run on, checked against the run's circuit digest; None for none."""
    if args.no_network:
        return None
    dev = args.device or params.get("device_path")
    if dev is None:
        return None
    if not Path(dev).is_file():  # the recorded one (_run checked --device)
        print(
            f"nwhil: warning: no network panel: the device file of {args.run}, {dev!r}, is not found "
            "(pass --device)",
            file=sys.stderr,
        )
        return None
    import nwphys
    from nwphys.plotting import circuit_sha256

    network = nwphys.load_network(dev)
    have, want = circuit_sha256(network), params.get("circuit_sha256")
    if have != want:
        raise CLIError(
            f"device file {str(dev)!r} is not the device of run file {args.run!r}: circuit sha256 "
            f"{have} (device) != {want} (run); pass --device with the run's device file, or --no-network"
        )
    return network


def _run(args: argparse.Namespace) -> int:
    out = check_output_path(check_image_suffix(args.output), args.force)
    if args.device and not Path(args.device).is_file():
        raise CLIError(f"device file {args.device!r} not found")
    from nwphys.io.runfile import read_run
    from nwphys.plotting import plot_run

    run = read_run(args.run)
    params = run["params"]
    t = run["t_s"]
    if t.size == 0:
        raise CLIError(f"run file {args.run!r} holds no records yet")
    network = _network_of_run(args, params)
    incomplete = not bool(run.get("complete", False))
    title = f"{Path(args.run).name}: {params['method']}, drive {params['drive']}"
    fig = plot_run(run, network=network, title=title)
    save_figure(fig, out, args.force, dpi=args.dpi)
    print(f"wrote {out}")
    if incomplete:
        print(
            f"nwhil: warning: {args.run} is incomplete (status {run.get('status')}: "
            f"{run.get('message', '')}); the plot shows t <= {t[-1]:.4g} s",
            file=sys.stderr,
        )
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``plot`` command on ``parser``."""
    parser.add_argument("run", help="run file written by 'nwhil simulate'")
    parser.add_argument("-o", "--output", required=True, metavar="PATH", help=IMAGE_OUTPUT_HELP)
    network = parser.add_mutually_exclusive_group()
    network.add_argument(
        "--device",
        default=None,
        help="device file for the network panel (default: the device recorded in the run file, "
        "when it still exists); refused unless its circuit is the run's (the circuit sha256 the "
        "run file records)",
    )
    network.add_argument("--no-network", action="store_true", help="leave out the network panel")
    parser.add_argument(
        "--dpi",
        type=int_in_range(*DPI_RANGE),
        default=120,
        help=f"resolution of raster images in dots per inch, {DPI_RANGE[0]} to {DPI_RANGE[1]} (default 120)",
    )
    add_force(parser, "an existing image")
    parser.set_defaults(func=_run)
