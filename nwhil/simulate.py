"""``nwhil simulate``: simulate a device file under electrode drives and stream the run to HDF5.

Order of the checks: the argument values (drive spec, time grid, node list: usage errors, exit 2),
the device (it must load, and have the electrodes and nodes named), then the output, under its
write lock (:func:`nwutil.fileio.output_lock`, held until the run file is finished): a second
writer of the same output fails at once. An existing output is refused without ``--force``; one
that holds an interrupted or stopped run names ``--resume``. Ctrl-C leaves the run file marked
interrupted with every committed record and the command that resumes it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from . import CLIError, UsageError
from ._common import add_force, check_output_path, positive_float, positive_int, print_json

#: ``--method`` and ``--backend`` names; the same as :data:`nwphys.dynamics.integrate.METHODS` and
#: :data:`nwphys.circuit.nodal.NODAL_BACKENDS` (kept here so that parsing does not import scipy; a test
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
        raise UsageError(
            f"--record-nodes must be 'all' or comma-separated node indices, got {text!r}"
        ) from None


def _check_time_grid(duration_s: float, dt_s: float) -> None:
    """:class:`UsageError` unless ``--duration`` is a whole number (>= 1) of ``--dt`` steps."""
    if dt_s > duration_s:
        raise UsageError(f"--dt must be at most --duration ({duration_s:g} s), got {dt_s:g}")
    n_steps = round(duration_s / dt_s)
    if abs(n_steps * dt_s - duration_s) > 1e-9 * duration_s:
        raise UsageError(
            f"--duration {duration_s:g} s is not a whole number of --dt {dt_s:g} s steps "
            f"({duration_s / dt_s:.6g}); choose a --dt that divides it"
        )


def _parse_drive(spec: str) -> Any:
    """The :class:`nwphys.Drive` of ``--drive``; :class:`UsageError` for a spec that does not parse."""
    from nwphys.dynamics.drives import parse_drive
    from nwphys.errors import ValidationError

    try:
        return parse_drive(spec)
    except ValidationError as exc:
        raise UsageError(f"--drive: {exc}") from None


def _check_against_device(drive: Any, nodes: list[int] | str | None, network: Any) -> None:
    """:class:`UsageError` when ``--drive`` or ``--record-nodes`` names what the device lacks."""
    names = tuple(network.electrodes.names)
    unknown = [n for n in (*drive.waveforms, *drive.floating) if n not in names]
    if unknown:
        raise UsageError(
            f"--drive names electrode {unknown[0]!r}, not found in the device; known electrodes: "
            f"{', '.join(names)}"
        )
    if isinstance(nodes, list) and nodes:
        n_nodes = network.circuit().n_nodes
        bad = [n for n in nodes if not 0 <= n < n_nodes]
        if bad:
            raise UsageError(
                f"--record-nodes: node indices must be in [0, {n_nodes - 1}] (the device's nodes), "
                f"got {', '.join(map(str, bad))}"
            )


def _resume_command(args: argparse.Namespace, device: Path, out: Path) -> str:
    """The ``nwhil simulate ... --resume`` command that continues this run (absolute paths)."""
    argv = ["nwhil", "simulate", str(device.resolve()), "--drive", args.drive]
    argv += ["--duration", repr(args.duration), "--dt", repr(args.dt), "--method", args.method]
    argv += ["--record-every", str(args.record_every)]
    if args.record_nodes is not None:
        argv += ["--record-nodes", args.record_nodes]
    for flag, value in (("--rtol", args.rtol), ("--atol", args.atol)):
        if value is not None:
            argv += [flag, repr(value)]
    argv += ["--guard", args.guard, "--backend", args.backend, "--chunk", str(args.chunk)]
    argv += ["--max-abs-V", repr(args.max_abs_V), "--max-steps", str(args.max_steps)]
    return shlex.join([*argv, "-o", str(out.resolve()), "--resume"])


def _refuse_existing(out: Path) -> None:
    """:class:`CLIError` for an existing output; one holding an unfinished run names ``--resume``."""
    from nwphys.errors import DeviceFileError
    from nwphys.io.runfile import run_status

    try:
        st = run_status(out)
    except DeviceFileError:  # not a run file (or an unreadable one): only --force replaces it
        st = {"complete": True}
    if st["complete"]:
        raise CLIError(f"output {str(out)!r} exists; pass --force to overwrite it")
    # this process holds the output's lock: a run still marked running lost its writer
    name = "stopped" if st["status_name"] == "stopped" else "interrupted"
    duration = st["params"].get("duration_s", float("nan"))
    raise CLIError(
        f"output {str(out)!r} exists and holds {'a' if name == 'stopped' else 'an'} {name} run "
        f"(t = {st['checkpoint_t_s']:.6g} of {duration:.6g} s); pass --resume to continue it or "
        "--force to overwrite it"
    )


def _say_interrupted(out: Path) -> None:
    """After Ctrl-C: one line on stderr naming the time reached and the command that resumes."""
    from nwphys.errors import DeviceFileError
    from nwphys.io.runfile import run_status

    try:
        st = run_status(out)
    except DeviceFileError:  # stopped before the run file was created
        return
    if st["complete"]:
        return
    duration = st["params"].get("duration_s", float("nan"))
    print(
        f"nwhil: run file {str(out)!r} is interrupted at t={st['checkpoint_t_s']:.9g} s of "
        f"{duration:.9g} s; resume with: {st.get('resume_command', 'the same command and --resume')}",
        file=sys.stderr,
    )


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
    import nwphys
    from nwutil.fileio import output_lock

    drive = _parse_drive(args.drive)  # the argument values first: usage errors, exit 2
    _check_time_grid(args.duration, args.dt)
    nodes = _parse_nodes(args.record_nodes)
    device = Path(args.device)
    _refuse_output_is_input(Path(args.output), {"device file": device})
    network = nwphys.load_network(device)
    _check_against_device(drive, nodes, network)
    if args.resume and not Path(args.output).is_file():
        raise CLIError(f"--resume: run file {args.output!r} not found")
    out = check_output_path(args.output, True)  # not a directory, folder created; existence below
    with output_lock(out):
        if args.resume and not out.exists():  # removed since the check above
            raise CLIError(f"--resume: run file {str(out)!r} not found")
        if out.exists() and not (args.force or args.resume):
            _refuse_existing(out)
        try:
            res = _simulate(args, network, drive, nodes, device, out)
        except KeyboardInterrupt:
            _say_interrupted(out)
            raise
    return _report(args, res, network, out)


def _simulate(args: argparse.Namespace, network: Any, drive: Any, nodes: Any, device: Path, out: Path) -> Any:
    """Run :func:`nwphys.simulate` with the command's arguments, streaming to ``out``."""
    from nwphys.dynamics.integrate import simulate

    return simulate(
        network,
        drive,
        duration_s=args.duration,
        dt_s=args.dt,
        method=args.method,
        record_every=args.record_every,
        record_nodes=nodes,
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
        resume_command=_resume_command(args, device, out),
        max_abs_V=args.max_abs_V,
        max_steps=args.max_steps,
    )


def _report(args: argparse.Namespace, res: Any, network: Any, out: Path) -> int:
    """Print the summary of a finished or stopped run (JSON with ``--json``)."""
    import numpy as np

    from nwphys.junctions import model_from_spec

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
        "--record-every",
        type=positive_int,
        default=1,
        help="record every k-th step, and the last one at --duration (default 1)",
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
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted or stopped run file with the arguments it was started with "
        "(an interrupted run file stores the command)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary (no progress bar)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)
