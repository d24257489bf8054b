"""``nwhil plot``: conductance and current versus time of a run file, plus a network snapshot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import CLIError
from ._common import add_force, check_image_suffix, check_output_path, int_in_range

#: Range of ``--dpi`` (dots per inch of raster images).
DPI_RANGE: tuple[int, int] = (10, 1200)


def _run(args: argparse.Namespace) -> int:
    out = check_output_path(args.output, args.force)
    if args.device and not Path(args.device).is_file():
        raise CLIError(f"device file {args.device!r} not found")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import nwphys
    from nwphys.junctions import model_from_spec
    from nwphys.runfile import read_run

    check_image_suffix(out)
    run = read_run(args.run)
    params = run["params"]
    t = run["t_s"]
    if t.size == 0:
        raise CLIError(f"run file {args.run!r} holds no records yet")
    model = model_from_spec(params["junction_model"], params["junction_params"])
    G = model.conductance_S(run["g"])
    network = None
    dev = args.device or params.get("device_path")
    if dev and Path(dev).is_file():
        network = nwphys.load_network(dev)
    ncols = 3 if network is not None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5.0 * ncols, 4.0), constrained_layout=True)
    ax = axes[0]
    ax.plot(t, G.mean(axis=1), label="mean")
    ax.fill_between(t, np.percentile(G, 5, axis=1), np.percentile(G, 95, axis=1), alpha=0.3, label="5-95 %")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("junction conductance (S)")
    ax.legend(loc="best")
    ax = axes[1]
    for i, name in enumerate(params["electrode_names"]):
        if name in params["driven"]:
            ax.plot(t, run["electrode_current_A"][:, i], label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("electrode current (A)")
    ax.legend(loc="best")
    if network is not None:
        if network.n_junctions == G.shape[1]:
            nwphys.plot_network(
                network, color_by="conductance", values=G[-1], ax=axes[2], title=f"t = {t[-1]:.4g} s"
            )
        else:
            axes[2].set_visible(False)
    title = f"{Path(args.run).name}: {params['method']}, drive {params['drive']}"
    incomplete = not bool(run.get("complete", False))
    if incomplete:  # an interrupted or stopped run: say so on the figure and on stderr
        title = (
            f"INCOMPLETE (status {run.get('status')}, t = {t[-1]:.4g} of "
            f"{params['duration_s']:.4g} s): {title}"
        )
        for a in axes[:2]:
            a.axvspan(t[-1], params["duration_s"], color="0.85", zorder=0, label="not simulated")
    fig.suptitle(title, fontsize=9, color="tab:red" if incomplete else "black")
    fig.savefig(out, dpi=args.dpi)
    plt.close(fig)
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
    parser.add_argument("-o", "--output", required=True, help="image to write (format from the suffix)")
    parser.add_argument(
        "--device",
        default=None,
        help="device file for the network snapshot "
        "(default: the device recorded in the run file, when it still exists)",
    )
    parser.add_argument(
        "--dpi",
        type=int_in_range(*DPI_RANGE),
        default=120,
        help=f"resolution of raster images in dots per inch, {DPI_RANGE[0]} to {DPI_RANGE[1]} (default 120)",
    )
    add_force(parser, "an existing image")
    parser.set_defaults(func=_run)
