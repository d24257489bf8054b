"""Time integration of nanowire networks: one entry point, a registry of methods, one result type.

Methods
-------
``"sdirk2"`` (default: error-controlled, stiff)
    Alexander's L-stable SDIRK2 with exact Newton on the coupled junction-network system and a
    filtered local error estimate (:mod:`nwphys.dynamics.implicit`). It picks its own internal steps:
    from picoseconds while junctions at several volts switch, to whole record intervals when the
    network is quasi-static. ``rtol``/``atol`` bound the local error of every junction state;
    the defaults (``rtol=3e-3``, ``atol=3e-4``) hold the max abs error in g to <= 1e-3 against
    Radau at rtol 1e-9 on the validated operating points (``tests/nwphys/test_stiff.py``). The drive is
    evaluated at the stage times, and the integration is split at every drive breakpoint.
``"exact"`` (explicit option: fast, fixed step, first order)
    Per step ``k`` at ``t_k = k dt``: apply the source voltages ``V_s(t_k)``, one nodal solve with
    the conductances of ``g_k`` (analysis/ordering reused), the readout (electrode currents, node
    voltages) from that same solve, then ``g_{k+1} = step_exact(g_k, V_junction, dt)`` -- the
    closed-form solution of each junction's equation with its voltage frozen over the step
    (unconditionally stable). The error comes from freezing the voltages: first order in ``dt``.
    Stable is not accurate: ``dt`` must stay well below the junction switching time
    ``1 / (kp + kd)`` at the operating junction voltage (rate-balance model,
    ``kp = kp0 exp(eta_p |V|)``, ``kd = kd0 exp(-eta_d |V|)``), which falls steeply with ``|V|``:
    with the NW-ESN preset it is 0.42 s at 1 V, 3.1 ms at 1.5 V, 21 us at 2 V and 0.14 us at
    2.5 V. Measured (``tests/nwphys/test_integrate.py::test_fast_stepper_vs_solve_ivp_on_500_wires``,
    2,076 junctions, 5 V pulses of 20 ms, junction voltages up to 1.15 V, shortest switching
    time 95 ms): max ``|g - g_LSODA|`` = 1.5e-3, 5.3e-4, 2.3e-4 at ``dt`` = 0.4, 0.2, 0.1 ms
    (fitted order 1.4; ``g`` reaches 0.089), i.e. ~1e-3 already needs ``dt`` ~ 1/500 of the
    switching time. A guard checks every step: beyond ``max_step_fraction`` (0.01) of the
    fastest switching time it raises (``guard="raise"``) or warns (``"warn"``), naming the time,
    the junction, its switching time and ``dt``.
any name of :data:`scipy.integrate._ivp.ivp.METHODS` (``"RK45"``, ``"RK23"``, ``"DOP853"``,
``"Radau"``, ``"BDF"``, ``"LSODA"``)
    The reference: :func:`scipy.integrate.solve_ivp` with a nodal solve inside the right-hand
    side. The integration is split at every drive breakpoint (pulse edges, PWL knots, sample
    times) so that no adaptive step straddles a discontinuity. The implicit methods (``"Radau"``,
    ``"BDF"``, ``"LSODA"``) get the analytic Jacobian
    ``J = diag(f_s) - diag(f_v) B^T A^-1 B diag(v G')`` (dense, n_junctions^2; see
    :func:`network_jacobian`). ``"ivp"`` is an alias of ``"LSODA"``.

Records are taken at ``t = r * record_every * dt`` for ``r = 0, 1, ...`` up to ``duration_s``, and
at ``duration_s`` itself when ``record_every`` does not divide the number of steps: a run always
ends at ``duration_s`` and its last record is the final state.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nwphys._checks import check_choice, check_int, check_real
from nwphys.circuit.nodal import NodalSolver
from nwphys.dynamics._frozen_voltage import DEFAULT_MAX_STEP_FRACTION, FrozenVoltageKernel
from nwphys.dynamics._ivp import IvpOptions, ivp_chunk, network_jacobian
from nwphys.dynamics._record_chunks import sdirk_chunk
from nwphys.dynamics._sim_checks import (
    check_drive_physics,
    check_nodes,
    check_record_budget,
    check_state,
    check_step_budget,
    check_time_grid,
    check_tolerances,
    resolve_circuit,
    resolve_drive,
    resolve_model,
)
from nwphys.dynamics.drives import DEFAULT_MAX_ABS_V, Drive
from nwphys.dynamics.implicit import StiffIntegrator
from nwphys.dynamics.methods import get_method, method_names
from nwphys.dynamics.stepper import Stepper, StepperOutput, refuse_stochastic
from nwphys.errors import ValidationError
from nwphys.junctions import JunctionModel

__all__ = [
    "IVP_METHODS",
    "METHODS",
    "SimulationResult",
    "Stepper",
    "StepperOutput",
    "network_jacobian",
    "simulate",
]

#: scipy ``solve_ivp`` method names accepted by :func:`simulate`.
IVP_METHODS: tuple[str, ...] = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
#: Every method name accepted by :func:`simulate`: the simulate rows of
#: :data:`nwphys.dynamics.methods.METHODS`.
METHODS: tuple[str, ...] = method_names(simulate=True)
DEFAULT_IVP_METHOD = "LSODA"
#: Default step budget of :func:`simulate` (``duration_s / dt_s``).
DEFAULT_MAX_STEPS = 100_000_000


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SimulationResult:
    """Outcome of :func:`simulate`.

    Attributes
    ----------
    t_s : ndarray, shape (n_rec,)
        Record times.
    g : ndarray, shape (n_rec, n_junctions)
        Junction state at each record time (``g`` in [0, 1] for the rate-balance model).
    electrode_current_A : ndarray, shape (n_rec, n_electrodes)
        Current from each source into the network (0 for floating electrodes).
    electrode_voltage_V : ndarray, shape (n_rec, n_electrodes)
        Electrode node voltages.
    node_voltage_V : ndarray, shape (n_rec, n_probe) or None
        Voltages of ``record_nodes`` when requested.
    record_nodes : ndarray of int, shape (n_probe,) or None
    electrode_names : tuple of str
    driven : tuple of str
    method : str
    status : int
        0 finished; 1 stopped early by the callback (resumable from the run file).
    message : str
    n_steps : int
        Fixed steps taken (``"exact"``), accepted steps (``"sdirk2"``) or right-hand-side
        evaluations (solve_ivp).
    nfev : int
        Nodal solves and factorisations performed.
    wall_time_s : float
    n_rejected : int
        Rejected steps (``"sdirk2"``; 0 otherwise).
    n_newton : int
        Newton iterations (``"sdirk2"``; 0 otherwise), one factorisation each.
    """

    t_s: np.ndarray
    g: np.ndarray
    electrode_current_A: np.ndarray
    electrode_voltage_V: np.ndarray
    node_voltage_V: np.ndarray | None
    record_nodes: np.ndarray | None
    electrode_names: tuple[str, ...]
    driven: tuple[str, ...]
    method: str
    status: int
    message: str
    n_steps: int
    nfev: int
    wall_time_s: float
    n_rejected: int = 0
    n_newton: int = 0

    @property
    def success(self) -> bool:
        """True when the run reached ``duration_s``."""
        return self.status == 0


# ---------------------------------------------------------------------------- simulate
def simulate(
    circuit_or_network: Any,
    drive: Drive | str | Mapping[str, Any],
    *,
    duration_s: float,
    dt_s: float,
    method: str = "sdirk2",
    model: JunctionModel | str | None = None,
    g0: np.ndarray | None = None,
    record_every: int = 1,
    record_nodes: Sequence[int] | str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    max_step_s: float | None = None,
    guard: str = "raise",
    max_step_fraction: float = DEFAULT_MAX_STEP_FRACTION,
    ivp_jacobian: str = "analytic",
    backend: str = "auto",
    out_path: Any = None,
    resume: bool = False,
    force: bool = False,
    chunk_records: int = 1000,
    progress: bool = False,
    callback: Callable[[dict[str, Any]], bool | None] | None = None,
    run_info: Mapping[str, Any] | None = None,
    resume_command: str | None = None,
    max_abs_V: float | Mapping[str, float] = DEFAULT_MAX_ABS_V,
    max_steps: int = DEFAULT_MAX_STEPS,
    memory_limit_bytes: float | None = None,
) -> SimulationResult:
    """Simulate a nanowire device under an electrode drive.

    Parameters
    ----------
    circuit_or_network : Circuit or NanowireNetwork
        The device. A network supplies its junction model, parameters and state as defaults.
    drive : Drive, spec string or mapping
        Electrode voltages (see :mod:`nwphys.dynamics.drives`).
    duration_s : float
        End time (> 0); must be a whole number of steps ``dt_s`` (relative tolerance 1e-9).
    dt_s : float
        Fixed step of ``"exact"`` and the record grid of every method (> 0).
    method : str
        ``"sdirk2"`` (default; error-controlled, see the module docstring), ``"exact"`` or a
        solve_ivp method (``"RK45"``, ``"LSODA"``, ``"BDF"``, ``"Radau"``, ...);
        ``"ivp"`` = ``"LSODA"``. ``"exact"`` freezes the junction voltages over each step: it is
        stable for any ``dt_s`` but only first order, so ``dt_s`` must be well below the junction
        switching time ``1 / (kp + kd)`` at the operating voltage (NW-ESN preset: 0.42 s at 1 V,
        3.1 ms at 1.5 V, 21 us at 2 V). Measured in ``tests/nwphys/test_integrate.py`` (2,076 junctions,
        5 V pulses, shortest switching time 95 ms): max ``|g|`` error vs LSODA 1.5e-3, 5.3e-4,
        2.3e-4 at ``dt_s`` = 0.4, 0.2, 0.1 ms (fitted order 1.4). See the module docstring.
    model : JunctionModel or str, optional
        Junction model; default from the network, else ``"rate_balance"`` (NW-ESN preset). A
        stochastic model (``"rate_balance_ou"``) is refused: :class:`hardware.SimulatedDevice`
        integrates it.
    g0 : ndarray, shape (n_junctions,), optional
        Initial state; default the network's state, else the model's resting state.
    record_every : int
        Record every k-th step (>= 1), and the last step: the records are at steps
        ``0, k, 2k, ...`` below ``duration_s / dt_s``, then at ``duration_s``.
    record_nodes : sequence of int or "all", optional
        Node voltages to record (memory: n_rec x n_probe floats).
    rtol, atol : float, optional
        Tolerances of ``"sdirk2"`` (default 3e-3, 3e-4) and of solve_ivp (default 1e-6, 1e-9);
        ignored by ``"exact"``.
    max_step_s : float, optional
        Largest adaptive step of solve_ivp (default: unlimited).
    guard : {"raise", "warn", "off"}
        ``"exact"`` only: what to do when a step exceeds ``max_step_fraction`` of the fastest
        junction switching time.
    max_step_fraction : float
        ``"exact"`` only: see ``guard`` (default 0.01).
    ivp_jacobian : {"analytic", "fd"}
        Jacobian of ``"Radau"``, ``"BDF"`` and ``"LSODA"``: the exact network Jacobian
        (:func:`network_jacobian`) or scipy's own finite differences.
    backend : str
        Nodal solver backend.
    out_path : path-like, optional
        Stream the records to this HDF5 run file in chunks of ``chunk_records`` records, each
        committed atomically with the checkpoint after it (:mod:`nwphys.io.runfile`): a process killed
        at any moment leaves no file, or a file that reads and resumes from its last committed
        chunk.
    resume : bool
        Continue an interrupted run in ``out_path`` from its last committed chunk, to the same
        records as an uninterrupted run. Refused (:class:`~nwphys.errors.DeviceFileError` naming
        each differing item, stored and given value) unless every parameter that changes the
        records equals the stored one: ``method``, ``dt_s``, ``duration_s``, ``record_every``,
        ``chunk_records``, ``rtol``, ``atol``, ``max_step_s``, ``ivp_jacobian``, the resolved
        nodal ``backend``, ``record_nodes``, the junction model and its parameters, the electrode
        names, the driven electrodes, the SHA-256 of the drive's full content (every sampled
        value, exact bytes), of the circuit (the device) and of the initial state, and every item
        of ``run_info``. ``guard`` and ``max_step_fraction`` only decide whether ``"exact"`` stops,
        not the records, and may change.
    force : bool
        Overwrite an existing ``out_path`` (when not resuming).
    chunk_records : int
        Records per chunk (streaming granularity and checkpoint interval).
    progress : bool
        Show a tqdm progress bar on stderr.
    callback : callable, optional
        Called after every chunk with ``{"rows", "step", "t_s", "n_rows"}``; returning False stops
        the run (status 1; resumable from ``out_path``).
    run_info : mapping, optional
        Extra JSON-serialisable items stored with the run parameters (e.g. the device path).
    resume_command : str, optional
        How to resume the run in ``out_path``, stored in it and named when the run is interrupted
        (the CLI passes its command line with ``--resume``); default: call this function again
        with ``resume=True``. When an exception (Ctrl-C included) stops a run with ``out_path``,
        the run file is consolidated with every committed record and marked interrupted
        (status -1, :func:`nwphys.io.runfile.read_run`), then the exception propagates. The work
        counters of a resumed run (``n_steps``, ``n_rejected``, ``n_newton``, ``nfev``,
        ``wall_time_s``) add up every session, up to the last chunk each committed.
    max_abs_V : float or mapping of str to float
        Voltage limit of the driven electrodes in volts (one value, or per electrode name; default
        10 V, the default limit of a :class:`hardware.Electrode`): a drive whose ``|V|`` exceeds
        it anywhere in ``[0, duration_s]`` is refused before any work, as a device would refuse it.
    max_steps : int
        Budget of steps ``duration_s / dt_s`` (default 1e8); a longer run is refused
        (:class:`~nwphys.errors.BudgetError`) before any work.
    memory_limit_bytes : float, optional
        Budget for the records held in memory (8 bytes per value: time, states, electrode currents
        and voltages, probed nodes); default half the machine's memory. With ``out_path`` the run
        file and its chunks need about twice the records on disk, which must fit in 90 % of the
        free space of the output directory.

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValidationError
        Bad arguments (the message names the parameter), a drive beyond ``max_abs_V``, or a drive
        with no reference (a single driven electrode and every other one floating).
    BudgetError
        The run would exceed ``max_steps``, ``memory_limit_bytes`` or the free disk space.
    IntegrationError
        solve_ivp failure or a non-finite state, naming the time and the junction.
    OutputLockedError
        Another process or thread is writing ``out_path`` (:func:`nwutil.fileio.output_lock`,
        held for the whole run).
    """
    t_start = time.perf_counter()
    circuit, network = resolve_circuit(circuit_or_network)
    method = get_method(method, simulate=True).name
    if method == "ivp":
        method = DEFAULT_IVP_METHOD
    drive = resolve_drive(drive, circuit.electrode_names)
    duration, dt, n_steps = check_time_grid(duration_s, dt_s)
    re_ = check_int("record_every", record_every, low=1)
    chunk = check_int("chunk_records", chunk_records, low=1)
    check_drive_physics(drive, duration, max_abs_V)
    check_step_budget(n_steps, duration, dt, max_steps)
    rtol, atol = check_tolerances(rtol, atol, sdirk2=method == "sdirk2")
    guard = check_choice("guard", guard, ("raise", "warn", "off"))
    ivp_jacobian = check_choice("ivp_jacobian", ivp_jacobian, ("analytic", "fd"))
    max_step_fraction = check_real("max_step_fraction", max_step_fraction, low=0.0, low_open=True)
    if max_step_s is not None:
        max_step_s = check_real("max_step_s", max_step_s, low=0.0, low_open=True)
    model = resolve_model(model, network, circuit.n_junctions)
    refuse_stochastic(model, "simulate")
    n_j = circuit.n_junctions
    if g0 is None and network is not None and getattr(network, "state", None) is not None:
        g0 = network.state
    g = model.resting_state(n_j) if g0 is None else check_state("g0", g0, model, n_j)
    probe = check_nodes(record_nodes, circuit.n_nodes)
    n_rows = -(-n_steps // re_) + 1  # steps 0, re_, 2 re_, ... below n_steps, then n_steps itself
    n_probe = 0 if probe is None else probe.size
    check_record_budget(n_rows, n_j, circuit.n_electrodes, n_probe, out_path, memory_limit_bytes)
    solver = NodalSolver(circuit, driven=drive.driven, backend=backend)

    writer = None
    row0, step0 = 0, 0
    if out_path is not None:
        from nwphys.io._run_params import run_params
        from nwphys.io.runfile import RunWriter

        params = run_params(
            method=method,
            dt_s=dt,
            duration_s=duration,
            record_every=re_,
            chunk_records=chunk,
            drive=drive,
            circuit=circuit,
            model=model,
            rtol=rtol,
            atol=atol,
            max_step_s=max_step_s,
            ivp_jacobian=ivp_jacobian,
            backend=solver.backend,
            record_nodes=probe,
            g0=g,
            run_info=run_info,
        )
        writer = RunWriter(
            out_path,
            params=params,
            n_junctions=n_j,
            n_electrodes=circuit.n_electrodes,
            n_probe=n_probe,
            record_nodes=probe,
            resume=resume,
            force=force,
            resume_command=resume_command,
        )
        if writer.checkpoint is not None:
            row0, step0, _, g_ck = writer.checkpoint
            g = np.asarray(g_ck, dtype=float)
    elif resume:
        raise ValidationError("resume=True needs out_path (the run file to continue)")

    prior = dict(writer.stats) if writer is not None else {}
    bar = None
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("t_s", "g", "electrode_current_A", "electrode_voltage_V", "node_voltage_V")
    }
    status, message = 0, "finished"
    n_taken = 0
    nfev0 = solver.n_solves
    integ = None
    r0 = row0

    def counters() -> dict[str, Any]:
        """The work counters of this call, plus those of the earlier sessions of a resumed run."""
        st = integ.stats if integ is not None else None
        own = {
            "n_steps": st.n_steps if st is not None else n_taken,
            "n_rejected": st.n_rejected if st is not None else 0,
            "n_newton": st.n_newton if st is not None else 0,
            "nfev": solver.n_solves - nfev0,
            "wall_time_s": time.perf_counter() - t_start,
        }
        return {k: v + prior.get(k, 0) for k, v in own.items()}

    try:
        if progress:
            from tqdm import tqdm

            bar = tqdm(
                total=n_steps,
                initial=min(step0, n_steps),
                unit="step",
                desc=f"simulate ({method})",
                leave=False,
            )
        kernel = FrozenVoltageKernel(solver, model, guard=guard, max_step_fraction=max_step_fraction)
        integ = StiffIntegrator(solver, model, rtol=rtol, atol=atol) if method == "sdirk2" else None
        x_unknown = np.zeros(solver.n_unknowns)
        ivp_options = IvpOptions(method, rtol, atol, max_step_s, ivp_jacobian == "analytic")
        t_end = n_steps * dt
        while r0 < n_rows:
            r1 = min(r0 + chunk, n_rows)
            if method == "exact":
                # record r is step min(r re_, n_steps); the last chunk also runs the final readout
                k0 = min(r0 * re_, n_steps)
                k1 = min(r1 * re_, n_steps) if r1 < n_rows else n_steps + 1
                ks = np.arange(k0, k1)
                dv = drive.voltages(ks * dt)
                g, recs = kernel.run(
                    g,
                    dv,
                    dt,
                    k0 * dt,
                    last_update=k1 <= n_steps,
                    record=((ks % re_) == 0) | (ks == n_steps),
                    probe=probe,
                    keep_g=True,
                )
                n_taken += int(min(k1, n_steps) - k0)
            elif integ is not None:
                integ.reset()  # each chunk starts afresh: a resumed run equals the uninterrupted one
                g, x_unknown, recs = sdirk_chunk(
                    integ, drive, g, x_unknown, r0, r1, n_rows, re_ * dt, probe, t_end_s=t_end
                )
            else:
                g, recs, nst = ivp_chunk(
                    solver, model, drive, g, r0, r1, n_rows, re_ * dt, probe, ivp_options, t_end_s=t_end
                )
                n_taken += nst
            step_next = min(r1 * re_, n_steps)
            recs["t_s"] = np.minimum(np.arange(r0, r1) * re_, n_steps) * dt
            if writer is not None:
                writer.commit(recs, rows=r1, step=step_next, t_s=step_next * dt, state=g, stats=counters())
            else:
                for k, v in recs.items():
                    parts[k].append(v)
            if bar is not None:
                bar.update(step_next - bar.n)
            r0 = r1
            if callback is not None and r1 < n_rows:
                ret = callback({"rows": r1, "n_rows": n_rows, "step": step_next, "t_s": step_next * dt})
                if ret is False:
                    status, message = 1, f"stopped by the callback at t={step_next * dt:.9g} s"
                    break
    except BaseException as exc:
        if writer is not None:  # leave the run file resumable, with its committed records, interrupted
            cause = "Ctrl-C" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            try:
                writer.interrupt(cause.splitlines()[0][:200])
            except Exception as err:  # the committed chunks stay resumable; the first error propagates
                warnings.warn(
                    f"run file {str(out_path)!r} could not be marked interrupted ({err}); "
                    "its committed records stay and resume",
                    RuntimeWarning,
                    stacklevel=2,
                )
        raise
    finally:
        if bar is not None:
            bar.close()
    total = counters()
    if writer is not None:
        arrays = writer.finish(status=status, message=message, **total)
    else:
        arrays = {k: np.concatenate(v, axis=0) for k, v in parts.items() if v}
    ne = circuit.n_electrodes
    return SimulationResult(
        t_s=arrays.get("t_s", np.zeros(0)),
        g=arrays.get("g", np.zeros((0, n_j))),
        electrode_current_A=arrays.get("electrode_current_A", np.zeros((0, ne))),
        electrode_voltage_V=arrays.get("electrode_voltage_V", np.zeros((0, ne))),
        node_voltage_V=arrays.get("node_voltage_V") if probe is not None else None,
        record_nodes=probe,
        electrode_names=circuit.electrode_names,
        driven=drive.driven,
        method=method,
        status=status,
        message=message,
        n_steps=int(total["n_steps"]),
        nfev=int(total["nfev"]),
        wall_time_s=float(total["wall_time_s"]),
        n_rejected=int(total["n_rejected"]),
        n_newton=int(total["n_newton"]),
    )
