"""``nwhil device``: generate, inspect and plot virtual nanowire devices.

* ``nwhil device generate [--preset NAME] [--wires N | --density D] [--size WxH]
  [--length-mean L --length-std S] [--electrodes two-terminal|mea4x4|...] --seed S -o dev.h5 [--force]``
* ``nwhil device info dev.h5 [--json]``
* ``nwhil device plot dev.h5 -o dev.png [--force]``
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import (
    add_force,
    add_subcommands,
    check_image_suffix,
    check_output_path,
    nonneg_int,
    positive_float,
    positive_int,
    print_json,
)


def _size(text: str) -> tuple[float, float]:
    parts = text.lower().split("x")
    try:
        if len(parts) == 1:
            return float(parts[0]), float(parts[0])
        if len(parts) == 2:
            return float(parts[0]), float(parts[1])
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"size must be WxH in micrometres (e.g. 100x100), got {text!r}")


#: Option of ``device generate`` (its argparse ``dest``) -> the :func:`nwphys.generate` keyword it sets.
_GENERATE_OPTIONS = {
    "wires": "n_wires",
    "density": "density_per_um2",
    "size": "size_um",
    "length_dist": "length_dist",
    "length_mean": "length_mean_um",
    "length_std": "length_std_um",
    "diameter": "diameter_nm",
    "electrodes": "electrodes",
    "representation": "representation",
    "junction_model": "junction_model",
    "series_resistance": "series_resistance_ohm",
    "seed": "seed",
}


def _generate(args: argparse.Namespace) -> int:
    import nwphys

    out = check_output_path(args.output, args.force)
    net = nwphys.generate(
        args.preset,
        **{keyword: getattr(args, dest) for dest, keyword in _GENERATE_OPTIONS.items()},
        memory_limit_bytes=None if args.max_memory is None else args.max_memory * 2**30,
        progress=lambda msg: print(f"nwhil: {msg}", file=sys.stderr, flush=True),
    )
    nwphys.save_network(net, out, force=args.force)
    status = "connected" if net.connected else "NOT connected (below percolation?)"
    print(
        f"wrote {out}: {net.n_wires} wires, {net.n_junctions} junctions, "
        f"{net.n_electrodes} electrodes, {status}"
    )
    if not net.connected:
        print(
            f"nwhil: warning: the electrodes of {out} are not all connected; simulations will fail",
            file=sys.stderr,
        )
    return 0


def _summary(net: Any) -> dict[str, Any]:
    sizes = net.component_sizes
    md = net.metadata
    return {
        "n_wires": net.n_wires,
        "n_junctions": net.n_junctions,
        "n_junctions_total": md.get("n_junctions_total"),
        "n_electrodes": net.n_electrodes,
        "electrodes": list(net.electrodes.names),
        "layout": net.electrodes.name,
        "connected": net.connected,
        "n_components": net.n_components,
        "largest_component_wires": int(sizes[0]) if sizes.size else 0,
        "size_um": list(net.geometry.size_um),
        "density_per_um2": net.density_per_um2,
        "percolation_ratio": net.percolation_ratio,
        "junctions_per_wire": 2.0 * net.n_junctions / net.n_wires,
        "representation": net.representation,
        "junction_model": net.junction_model,
        "junction_params": dict(net.junction_params),
        "has_state": net.state is not None,
        "seed": md.get("seed"),
        "preset": md.get("creation_params", {}).get("preset"),
    }


def _info(args: argparse.Namespace) -> int:
    import nwphys

    net = nwphys.load_network(args.device)
    s = _summary(net)
    if args.json:
        print_json(s)
        return 0
    total = s["n_junctions_total"]
    rows = [
        ("wires", f"{s['n_wires']}"),
        (
            "junctions",
            f"{s['n_junctions']} in the electrode component"
            + (f" ({total} in total)" if total is not None else ""),
        ),
        ("junctions per wire", f"{s['junctions_per_wire']:.3f}"),
        ("components", f"{s['n_components']} (largest {s['largest_component_wires']} wires)"),
        ("electrodes", f"{s['n_electrodes']} ({s['layout']}: {', '.join(s['electrodes'])})"),
        ("connected", "yes" if s["connected"] else "NO"),
        ("area", f"{s['size_um'][0]:g} x {s['size_um'][1]:g} um"),
        (
            "density",
            f"{s['density_per_um2']:.4g} wires/um^2 = {s['percolation_ratio']:.3f} x percolation threshold",
        ),
        ("representation", s["representation"]),
        ("junction model", f"{s['junction_model']} {s['junction_params']}"),
        ("state", "stored" if s["has_state"] else "resting (none stored)"),
        ("seed", f"{s['seed']}"),
    ]
    for k, v in rows:
        print(f"{k + ':':<20}{v}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    import nwphys

    out = check_output_path(args.output, args.force)
    check_image_suffix(out)
    net = nwphys.load_network(args.device)
    nwphys.plot_network(net, path=out)
    print(f"wrote {out}")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``device`` group on parser."""
    sub = add_subcommands(parser, "device_command")

    g = sub.add_parser(
        "generate",
        help="generate a random-stick device and save it (HDF5)",
        description="Generate a random-stick Ag nanowire device and save it to HDF5.",
    )
    g.add_argument("--preset", choices=("torino", "sydney"), help="published device model")
    count = g.add_mutually_exclusive_group()
    count.add_argument("--wires", type=positive_int, help="number of wires")
    count.add_argument("--density", type=float, help="wire density in wires/um^2")
    g.add_argument("--size", type=_size, help="area WxH in um (e.g. 100x100)")
    g.add_argument("--length-dist", choices=("normal", "gamma", "fixed"), help="wire length law")
    g.add_argument("--length-mean", type=float, help="mean wire length in um")
    g.add_argument("--length-std", type=float, help="wire length standard deviation in um")
    g.add_argument("--diameter", type=float, help="wire diameter in nm")
    g.add_argument("--electrodes", help="two-terminal (default) or meaRxC, e.g. mea4x4")
    g.add_argument("--representation", choices=("junction", "multinodal"), help="graph representation")
    g.add_argument("--junction-model", help="junction model name (default rate_balance)")
    g.add_argument("--series-resistance", type=float, help="series (load) resistance per electrode in ohm")
    g.add_argument("--seed", type=nonneg_int, required=True, help="random seed (non-negative integer)")
    g.add_argument(
        "--max-memory",
        type=positive_float,
        default=None,
        metavar="GIB",
        help="budget for the estimated peak memory in GiB (default half the machine's memory)",
    )
    g.add_argument("-o", "--output", required=True, help="device file to write (.h5)")
    add_force(g, "an existing device file")
    g.set_defaults(func=_generate)

    i = sub.add_parser("info", help="summarise a device file", description="Summarise a device file.")
    i.add_argument("device", help="device file (.h5)")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_info)

    p = sub.add_parser("plot", help="plot a device file", description="Plot wires, junctions, electrodes.")
    p.add_argument("device", help="device file (.h5)")
    p.add_argument("-o", "--output", required=True, help="image file to write (.png, .pdf, .svg)")
    add_force(p, "an existing image")
    p.set_defaults(func=_plot)
