"""``nwhil simulate``: simulate a device file under electrode drives and stream the run to HDF5."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import CLIError
from ._common import add_force, check_output_path, positive_float, positive_int, print_json

#: ``--method`` and ``--backend`` names; the same as :data:`nwphys.integrate.METHODS` and
#: :data:`nwphys.nodal.NODAL_BACKENDS` (kept here so that parsing does not import scipy; a test
#: checks that they agree).
METHODS: tuple[str, ...] = ("sdirk2", "exact", "ivp", "RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
NODAL_BACKENDS: tuple[str, ...] = ("auto", "splu", "cg", "qdldl", "cholmod")


def _parse_nodes(text: str | None) -> list[int] | str | None:
    if text is None:
        return None
    if text == "all":
        return "all"
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise CLIError(
            f"--record-nodes must be 'all' or comma-separated node indices, got {text!r}"
        ) from None


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (links, symlinks and relative paths included)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _refuse_output_is_input(out: Path, inputs: dict[str, Path]) -> None:
    """Raise :class:`CLIError` if ``out`` is the same file as any input (``--force`` or not)."""
    for what, p in inputs.items():
        if _same_file(out, p):
            raise CLIError(
                f"output {str(out)!r} is the {what} {str(p)!r} (the same file); choose another output path"
            )


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    import nwphys
    from nwphys.integrate import simulate
    from nwphys.junctions import model_from_spec

    device = Path(args.device)
    _refuse_output_is_input(Path(args.output), {"device file": device})
    out = Path(args.output) if args.resume else check_output_path(args.output, args.force)
    if args.resume and not out.exists():
        raise CLIError(f"--resume: run file {str(out)!r} not found")
    network = nwphys.load_network(device)
    res = simulate(
        network,
        args.drive,
        duration_s=args.duration,
        dt_s=args.dt,
        method=args.method,
        record_every=args.record_every,
        record_nodes=_parse_nodes(args.record_nodes),
        rtol=args.rtol,
        atol=args.atol,
        guard=args.guard,
        backend=args.backend,
        out_path=out,
        resume=args.resume,
        force=args.force,
        chunk_records=args.chunk,
        progress=not (args.json or args.quiet),
        run_info={"device_path": str(device.resolve())},
        max_abs_V=args.max_abs_V,
        max_steps=args.max_steps,
    )
    model = model_from_spec(network.junction_model, network.junction_params)
    g_last = res.g[-1] if res.g.shape[0] else np.zeros(network.n_junctions)
    G_last = model.conductance_S(g_last)
    currents = {
        n: float(res.electrode_current_A[-1, i]) if res.t_s.size else 0.0
        for i, n in enumerate(res.electrode_names)
    }
    summary = {
        "output": str(out),
        "method": res.method,
        "status": res.status,
        "message": res.message,
        "steps": res.n_steps,
        "rejected_steps": res.n_rejected,
        "newton_iterations": res.n_newton,
        "nodal_solves": res.nfev,
        "records": int(res.t_s.size),
        "t_end_s": float(res.t_s[-1]) if res.t_s.size else 0.0,
        "wall_time_s": res.wall_time_s,
        "final_mean_state": float(np.mean(g_last)),
        "final_mean_conductance_S": float(np.mean(G_last)),
        "electrode_currents_A": currents,
    }
    if args.json:
        print_json(summary)
    else:
        cur = ", ".join(f"{k} {v:.4g} A" for k, v in currents.items())
        print(
            f"{res.method}: {res.n_steps} steps in {res.wall_time_s:.3g} s; final mean conductance "
            f"{summary['final_mean_conductance_S']:.4g} S; currents {cur}; wrote {out}",
            file=sys.stdout,
        )
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``simulate`` command on ``parser``."""
    parser.add_argument("device", help="device file (nwhil device generate)")
    parser.add_argument(
        "--drive",
        required=True,
        help="electrode drive spec, e.g. 'in=pulse:amp=1,width=0.01,period=0.02;out=gnd' "
        "(waveforms: number, gnd, float, dc:V, pulse:..., sine:..., pwl:v@t,...; "
        "electrodes not named float)",
    )
    parser.add_argument("--duration", type=positive_float, required=True, help="simulated time in seconds")
    parser.add_argument(
        "--dt",
        type=positive_float,
        required=True,
        help="record grid in seconds (and the fixed step of exact)",
    )
    parser.add_argument(
        "--method",
        default="sdirk2",
        choices=METHODS,
        help="'sdirk2' (error-controlled stiff integrator, default), 'exact' (frozen-voltage fixed "
        "step, first order, guarded) or a scipy solve_ivp method",
    )
    parser.add_argument(
        "--record-every", type=positive_int, default=1, help="record every k-th step (default 1)"
    )
    parser.add_argument("--record-nodes", default=None, help="'all' or comma-separated node indices")
    parser.add_argument(
        "--rtol",
        type=positive_float,
        default=None,
        help="relative tolerance (default: sdirk2 3e-3, solve_ivp 1e-6)",
    )
    parser.add_argument(
        "--atol",
        type=positive_float,
        default=None,
        help="absolute tolerance (default: sdirk2 3e-4, solve_ivp 1e-9)",
    )
    parser.add_argument(
        "--guard",
        default="raise",
        choices=("raise", "warn", "off"),
        help="exact: when a step exceeds 1/100 of a junction switching time (default raise)",
    )
    parser.add_argument("--backend", default="auto", choices=NODAL_BACKENDS, help="nodal solver backend")
    parser.add_argument(
        "--chunk", type=positive_int, default=1000, help="records per HDF5 chunk / checkpoint"
    )
    parser.add_argument(
        "--max-abs-V",
        dest="max_abs_V",
        type=positive_float,
        default=10.0,
        help="voltage limit of every driven electrode in volts (default 10, as a device's)",
    )
    parser.add_argument(
        "--max-steps",
        type=positive_int,
        default=100_000_000,
        help="budget of duration/dt steps (default 1e8); disk and memory are checked too",
    )
    parser.add_argument("-o", "--output", required=True, help="run file to write (HDF5)")
    add_force(parser, "an existing run file")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run file")
    parser.add_argument("--json", action="store_true", help="print a JSON summary (no progress bar)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)
