"""``nwhil device``: generate, inspect and plot virtual nanowire devices.

* ``nwhil device generate [--preset NAME] [--wires N | --density D] [--size WxH]
  [--length-mean L --length-std S] [--electrodes two-terminal|mea4x4|...] --seed S -o dev.h5 [--force]``
* ``nwhil device info dev.h5 [--json]``
* ``nwhil device plot dev.h5 -o dev.png [--roles auto|chessboard|...|none] [--force]``
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from nwutil.fileio import output_lock

from . import CLIError, UsageError
from ._common import (
    CREATES_FOLDERS,
    IMAGE_OUTPUT_HELP,
    add_force,
    add_subcommands,
    check_image_suffix,
    check_output_path,
    comma_names,
    layout_name,
    nonneg_int,
    positive_float,
    positive_int,
    print_json,
    save_figure,
)


def _size(text: str) -> tuple[float, float]:
    parts = text.lower().split("x")
    try:
        values = [float(p) for p in parts] if len(parts) in (1, 2) else []
    except ValueError:
        values = []
    if values and all(math.isfinite(v) and v > 0 for v in values):
        return values[0], values[-1]
    raise argparse.ArgumentTypeError(
        f"size must be WxH in micrometres, each finite and > 0 (e.g. 100x100), got {text!r}"
    )


#: Presets of ``--preset``: published devices (geometry: :data:`nwphys.geometry.network.PRESETS`) and
#: junction parameter sets (:data:`nwphys.junctions.JUNCTION_PRESETS`); kept here so that parsing
#: does not import the physics (a test checks that they agree).
GEOMETRY_PRESETS: tuple[str, ...] = ("torino", "sydney")
JUNCTION_PRESETS: tuple[str, ...] = ("nwesn", "ag", "natmat2022", "hochstetter2021", "milano2025")


def _presets(text: str) -> tuple[str | None, str | None]:
    """``--preset``: up to one geometry and one junction preset (a name or a ``.json`` preset file,
    e.g. the result of ``nwhil device fit -o``), comma-separated."""
    files = [t.strip() for t in text.split(",") if t.strip().endswith(".json")]
    rest = ",".join(t for t in text.split(",") if t.strip() and not t.strip().endswith(".json"))
    names = comma_names((*GEOMETRY_PRESETS, *JUNCTION_PRESETS))(rest) if rest else []
    geometry = [n for n in names if n in GEOMETRY_PRESETS]
    junction = [n for n in names if n in JUNCTION_PRESETS] + files
    if len(geometry) > 1 or len(junction) > 1:
        raise argparse.ArgumentTypeError(
            f"at most one geometry preset ({', '.join(GEOMETRY_PRESETS)}) and one junction preset "
            f"({', '.join(JUNCTION_PRESETS)}), got {text!r}"
        )
    return (geometry[0] if geometry else None), (junction[0] if junction else None)


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


def _option_names(message: str) -> str:
    """``message`` with the :func:`nwphys.generate` keyword it starts with named as its option."""
    for dest, keyword in sorted(_GENERATE_OPTIONS.items(), key=lambda kv: -len(kv[1])):
        if message.startswith(keyword):
            return "--" + dest.replace("_", "-") + message[len(keyword) :]
    return message


def _geometry_defaults(options: dict[str, Any], geometry: dict[str, Any]) -> None:
    """Fill the options not given on the command line from a preset file's ``geometry``."""
    if options.get("n_wires") is not None:
        geometry = {k: v for k, v in geometry.items() if k != "density_per_um2"}
    for key, value in geometry.items():
        if key in options and options[key] is None:
            options[key] = tuple(value) if key == "size_um" else value


def _generate(args: argparse.Namespace) -> int:
    geometry, junction = args.preset if args.preset is not None else (None, None)
    options = {keyword: getattr(args, dest) for dest, keyword in _GENERATE_OPTIONS.items()}
    if junction is not None and args.junction_model is not None:
        raise UsageError(
            f"--junction-model {args.junction_model} and the junction preset {junction!r} of --preset "
            "both set the junction model; give one"
        )
    import nwphys
    from nwphys.errors import BudgetError, ValidationError

    if junction is not None:
        model, params = nwphys.resolve_junction_preset(junction)
        options.update(junction_model=model, junction_params=dict(params))
        if junction.endswith(".json"):  # a chip preset of 'fit-geometry -o' holds the geometry too
            _geometry_defaults(options, nwphys.read_junction_preset(junction)[2].get("geometry") or {})
    if args.n_inputs is not None:
        try:
            layout = nwphys.make_layout(args.electrodes or "two-terminal", args.size or (100.0, 100.0))
            nwphys.assign_roles(layout, "auto", n_inputs=args.n_inputs)
        except ValidationError as exc:
            raise UsageError(f"--n-inputs {args.n_inputs}: {exc}") from None
    # every value is checked (a dry run of the parameter checks) before the output is looked at
    try:
        nwphys.generate(
            geometry,
            **options,
            memory_limit_bytes=None if args.max_memory is None else args.max_memory * 2**30,
            dry_run=True,
        )
    except ValidationError as exc:
        raise UsageError(_option_names(str(exc))) from None
    except BudgetError as exc:
        raise CLIError(str(exc).replace("memory_limit_bytes", "--max-memory GIB")) from None
    out = check_output_path(args.output, args.force)
    with output_lock(out, what="device file"):
        net = nwphys.generate(
            geometry,
            **options,
            memory_limit_bytes=None if args.max_memory is None else args.max_memory * 2**30,
            progress=lambda msg: print(f"nwhil: {msg}", file=sys.stderr, flush=True),
        )
        if junction is not None:
            net.metadata["junction_preset"] = junction
        if args.n_inputs is not None:
            net.metadata["n_inputs"] = int(args.n_inputs)
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


#: ``device plot --roles``: the role patterns of :data:`nwphys.geometry.electrodes.ROLE_PATTERNS` and
#: ``none``; kept here so that parsing does not import the physics (a test checks that they agree).
PLOT_ROLES: tuple[str, ...] = ("auto", "chessboard", "rows", "columns", "first-last", "none")


def _plot(args: argparse.Namespace) -> int:
    out = check_output_path(check_image_suffix(args.output), args.force)
    import nwphys
    from nwphys.errors import ValidationError

    net = nwphys.load_network(args.device)
    roles = None
    if args.roles != "none":
        n_inputs = net.metadata.get("n_inputs")
        try:
            roles = nwphys.assign_roles(net.electrodes, args.roles, n_inputs=n_inputs)
        except ValidationError as exc:
            if args.roles != "auto":  # asked for: refused, naming why
                raise
            print(f"nwhil: warning: electrodes drawn without roles: {exc}", file=sys.stderr)
    fig = nwphys.plot_network(net, roles=roles)
    save_figure(fig, out, args.force, dpi=150, bbox_inches="tight")
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
    g.add_argument(
        "--preset",
        type=_presets,
        metavar="NAME[,NAME]",
        help="a published device geometry (torino, sydney) and/or a junction parameter set: ag (NW-ESN "
        "kinetics with Ag conductances 12.9 MOhm off / 12.9 kOhm on, the junctions of the "
        "comparison's default device), nwesn (the default: 1 kOhm to 10 Ohm), natmat2022, "
        "hochstetter2021, milano2025 (stochastic: Ornstein-Uhlenbeck noise with jumps), or a junction "
        "preset file FIT.json written by 'nwhil device fit -o' (or CHIP.json of 'nwhil device "
        "fit-geometry -o', which sets the geometry too; options given here override it); "
        "e.g. --preset sydney,ag",
    )
    count = g.add_mutually_exclusive_group()
    count.add_argument("--wires", type=positive_int, help="number of wires")
    count.add_argument("--density", type=float, help="wire density in wires/um^2")
    g.add_argument("--size", type=_size, help="area WxH in um (e.g. 100x100)")
    g.add_argument("--length-dist", choices=("normal", "gamma", "fixed"), help="wire length law")
    g.add_argument("--length-mean", type=float, help="mean wire length in um")
    g.add_argument("--length-std", type=float, help="wire length standard deviation in um")
    g.add_argument("--diameter", type=float, help="wire diameter in nm")
    g.add_argument("--electrodes", type=layout_name, help="two-terminal (default) or meaRxC, e.g. mea4x4")
    g.add_argument(
        "--n-inputs",
        type=positive_int,
        default=None,
        help="input electrodes of the role patterns, stored in the device file: the leading inputs "
        "of 'first-last' and 'auto' on small layouts, else the first N inputs of the pattern "
        "(the others float); checked against the layout",
    )
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
    g.add_argument("-o", "--output", required=True, help=f"device file to write (.h5; {CREATES_FOLDERS})")
    add_force(g, "an existing device file")
    g.set_defaults(func=_generate)

    i = sub.add_parser("info", help="summarise a device file", description="Summarise a device file.")
    i.add_argument("device", help="device file (.h5)")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_info)

    p = sub.add_parser(
        "plot",
        help="plot a device file",
        description="Plot wires, junctions and electrodes, the electrodes coloured and labelled by role.",
    )
    p.add_argument("device", help="device file (.h5)")
    p.add_argument("-o", "--output", required=True, metavar="PATH", help=IMAGE_OUTPUT_HELP)
    p.add_argument(
        "--roles",
        choices=PLOT_ROLES,
        default="auto",
        help="role pattern of the electrodes (inputs, outputs, ground) with the device's stored "
        "--n-inputs (nwphys.assign_roles); none: no roles (default: %(default)s, drawn without roles "
        "when the layout has none)",
    )
    add_force(p, "an existing image")
    p.set_defaults(func=_plot)

    from . import _device_fit

    _device_fit.register(sub)
