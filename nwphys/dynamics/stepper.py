"""Held-sample stepping of a device: what a source-measure set-up does, one sample at a time.

A :class:`Stepper` holds the junction state of one circuit between calls. :meth:`Stepper.run`
applies a sequence of *held samples*: sample ``k`` holds the source voltages ``driven_V[k]`` over
``[t_k, t_k + dt_s)``.

Reading time
------------
The reading of sample ``k`` (electrode voltages and currents, probed node voltages) is taken at
the **end of its hold**, ``t_k + dt_s``, with the sources still at ``driven_V[k]``: the state of
the junctions after the sample has acted on them, as a source-measure unit reads at the end of its
aperture. :class:`hardware.SimulatedDevice`, the SCPI emulator and the physical reservoir all read
through this class, so they share that time point. :meth:`Stepper.read` reads at the present
state without advancing time.

Methods
-------
``"sdirk2"`` (default)
    The error-controlled stiff integrator of :mod:`nwphys.dynamics.implicit`: it chooses its own internal
    steps inside every sample, whatever the sample period and the voltage, with ``rtol``/``atol``
    on the junction states.
``"exact"`` (explicit option)
    ``n_substeps`` frozen-voltage steps per sample (:meth:`JunctionModel.step_exact` with the
    voltages of a nodal solve at the start of each sub-step), then one nodal solve for the reading.
    Stable for any step but only first order: accurate only while each sub-step is far below the
    junction switching time ``1 / (kp + kd)``. A guard checks every sub-step: when ``dt`` exceeds
    ``max_step_fraction`` of the fastest switching time it raises
    :class:`~nwphys.errors.IntegrationError` (``guard="raise"``, default) or warns
    (``"warn"``), naming the time, the junction, its switching time and the sub-step.
    ``n_substeps="auto"`` instead splits each sample so that the guard holds at the start of
    every sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nwphys._checks import check_choice, check_finite_array, check_int, check_real
from nwphys.circuit.circuit import Circuit
from nwphys.circuit.nodal import NodalSolver
from nwphys.dynamics._frozen_voltage import (
    DEFAULT_MAX_STEP_FRACTION,
    SwitchingTimeWarning,
    check_exact_step,
)
from nwphys.dynamics._held_methods import HeldOptions, SdirkHeld
from nwphys.dynamics._sim_checks import check_nodes, check_state, resolve_model
from nwphys.dynamics.implicit import DEFAULT_ATOL, DEFAULT_RTOL, Monitor, StiffStats
from nwphys.dynamics.methods import METHODS, get_method, method_names
from nwphys.errors import IntegrationError, SolverError, ValidationError
from nwphys.junctions import JunctionModel

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_MAX_STEP_FRACTION",
    "DEFAULT_RTOL",
    "STEPPER_METHODS",
    "Stepper",
    "StepperOutput",
    "SwitchingTimeWarning",
    "check_exact_step",
]


def refuse_stochastic(model: JunctionModel, who: str) -> None:
    """Raise :class:`ValidationError` for a stochastic junction model: the deterministic
    integrators would integrate its drift and silently drop its noise."""
    if model.stochastic:
        raise ValidationError(
            f"junction model {model.name!r} is stochastic and {who} integrates deterministic models "
            f"only (its noise would be dropped); simulate it with hardware.SimulatedDevice (the split "
            f"step of nwphys.dynamics.stochastic), or pass model.drift_model() for its drift alone"
        )


#: Methods of :class:`Stepper`: the held-sample rows of :data:`nwphys.dynamics.methods.METHODS`.
STEPPER_METHODS: tuple[str, ...] = method_names(held=True)


@dataclass(frozen=True)
class StepperOutput:
    """Readout of :meth:`Stepper.run` (one row per held sample, read at the end of its hold).

    Attributes
    ----------
    electrode_voltage_V : ndarray, shape (n_samples, n_electrodes)
    electrode_current_A : ndarray, shape (n_samples, n_electrodes)
        Current from each source into the network (0 for floating electrodes).
    node_voltage_V : ndarray, shape (n_samples, n_probe) or None
    g_final : ndarray, shape (n_junctions,)
        Junction state after the last sample.
    stats : dict of str to int
        Work of this call: ``n_steps``, ``n_rejected``, ``n_newton``, ``n_solves`` (``"exact"``:
        sub-steps and nodal solves).
    """

    electrode_voltage_V: np.ndarray
    electrode_current_A: np.ndarray
    node_voltage_V: np.ndarray | None
    g_final: np.ndarray
    stats: dict[str, int]


class Stepper:
    """Stateful held-sample stepper for hardware emulation and reservoirs (see the module notes).

    Parameters
    ----------
    circuit : Circuit
    model : JunctionModel or str
        Junction model (or registry name with default parameters); a stochastic model is
        refused (:class:`~nwphys.errors.ValidationError`): :class:`hardware.SimulatedDevice`
        integrates it, with a stepper of its ``drift_model()``.
    driven : sequence of str
        Electrodes held at a voltage, in the column order of ``driven_V`` in :meth:`run`.
    g0 : ndarray, shape (n_junctions,), optional
        Initial state; default the model's resting state.
    method : str
        Integration method: a held-sample row of :data:`nwphys.dynamics.methods.METHODS` (``"sdirk2"``,
        ``"sdirk2-sn"``, ``"esdirk3-sn"``, ``"exact"``; see the module docstring).
    rtol, atol : float
        Tolerances of ``"sdirk2"`` on the junction states.
    n_substeps : int or "auto"
        Frozen-voltage steps per sample of ``"exact"``.
    guard : {"raise", "warn", "off"}
        What ``"exact"`` does when a step exceeds ``max_step_fraction`` of a switching time.
    max_step_fraction : float
        See ``guard``.
    backend : str
        Nodal solver backend (see :class:`~nwphys.circuit.nodal.NodalSolver`).
    monitor : callable, optional
        ``"sdirk2"`` only (refused by the others): called after every accepted internal step with
        ``(t_s, state, node_voltage_V, driven_V)`` (for checks of invariants).
    """

    def __init__(
        self,
        circuit: Circuit,
        model: JunctionModel | str,
        *,
        driven: Sequence[str],
        g0: np.ndarray | None = None,
        method: str = "sdirk2",
        rtol: float = DEFAULT_RTOL,
        atol: float = DEFAULT_ATOL,
        n_substeps: int | str = 1,
        guard: str = "raise",
        max_step_fraction: float = DEFAULT_MAX_STEP_FRACTION,
        backend: str = "auto",
        monitor: Monitor | None = None,
    ) -> None:
        self.circuit = circuit
        self.model = resolve_model(model, None, circuit.n_junctions)
        refuse_stochastic(self.model, "Stepper")
        row = get_method(method, held=True)
        self.method = row.name
        self.rtol = check_real("rtol", rtol, low=0.0, low_open=True, high=1.0)
        self.atol = check_real("atol", atol, low=0.0, low_open=True)
        if n_substeps != "auto":
            n_substeps = check_int("n_substeps", n_substeps, low=1)
        self.n_substeps = n_substeps
        self.guard = check_choice("guard", guard, ("raise", "warn", "off"))
        self.max_step_fraction = check_real("max_step_fraction", max_step_fraction, low=0.0, low_open=True)
        if monitor is not None and self.method != "sdirk2":
            raise ValidationError(f"monitor is supported by method='sdirk2' only, got method={self.method!r}")
        self.solver = NodalSolver(circuit, driven=driven, backend=backend)
        self.driven = self.solver.driven
        n = circuit.n_junctions
        self._g0 = self.model.resting_state(n) if g0 is None else check_state("g0", g0, self.model, n)
        self._g = self._g0.copy()
        self._t = 0.0
        options = HeldOptions(
            rtol=self.rtol,
            atol=self.atol,
            n_substeps=n_substeps,
            guard=self.guard,
            max_step_fraction=self.max_step_fraction,
            monitor=monitor,
        )
        assert row.held is not None
        try:
            self._impl = row.held(self.solver, self.model, options)
        except ValidationError as exc:
            raise ValidationError(f"method={self.method!r}: {exc}") from None
        self._stats = StiffStats()

    @property
    def g(self) -> np.ndarray:
        """Copy of the current junction state, shape (n_junctions,)."""
        return self._g.copy()

    @property
    def stats(self) -> StiffStats:
        """Cumulative work counters of every :meth:`run` (see :class:`~nwphys.dynamics.StiffStats`)."""
        if isinstance(self._impl, SdirkHeld):
            return self._impl.integ.stats
        return self._stats

    def set_state(self, g: np.ndarray) -> None:
        """Replace the junction state (validated against the model's bounds).

        The integrator's step-size history is cleared too: the same state and drive then give
        the same result bit for bit, whatever ran before.
        """
        self._g = check_state("g", g, self.model, self.circuit.n_junctions)
        self._forget()

    def reset(self) -> None:
        """Return to the initial state ``g0`` (or the resting state) and clear the step history."""
        self._g = self._g0.copy()
        self._forget()

    def _forget(self) -> None:
        self._impl.reset()

    def _check_driven(self, driven_V: Any) -> np.ndarray:
        dv = check_finite_array("driven_V", driven_V)
        if dv.ndim == 1 and self.solver.n_driven == 1:
            dv = dv[:, None]
        if dv.ndim != 2 or dv.shape[1] != self.solver.n_driven:
            raise ValidationError(
                f"driven_V must have shape (n_steps, {self.solver.n_driven}) "
                f"(driven: {', '.join(self.driven)}), got {dv.shape}"
            )
        return dv

    def _solve(self, g: np.ndarray, vd: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        G = self.model.conductance_S(g)
        try:
            V = self.solver.node_voltages(G, vd)
        except SolverError as exc:
            raise IntegrationError(f"nodal solve failed at t={t:.9g} s: {exc}") from None
        return G, V

    def read(self, driven_V: np.ndarray, probe_nodes: Sequence[int] | None = None) -> StepperOutput:
        """One reading at the present state with the sources at ``driven_V`` (shape (n_driven,)),
        without advancing time or changing the state."""
        dv = self._check_driven(np.atleast_2d(np.asarray(driven_V, dtype=float)))
        probe = check_nodes(probe_nodes, self.circuit.n_nodes)
        G, V = self._solve(self._g, dv[0], self._t)
        ei = self.solver.electrode_currents(G, dv[0], V)
        return StepperOutput(
            V[self.circuit.electrode_node][None, :],
            ei[None, :],
            None if probe is None else V[probe][None, :],
            self.g,
            {},
        )

    def run(
        self,
        driven_V: np.ndarray,
        dt_s: float,
        *,
        probe_nodes: Sequence[int] | None = None,
        t0_s: float | None = None,
    ) -> StepperOutput:
        """Apply ``n_samples`` held samples and read each at the end of its hold.

        Parameters
        ----------
        driven_V : ndarray, shape (n_samples, n_driven)
            Source voltage of each driven electrode during each sample (volts).
        dt_s : float
            Hold time of each sample in seconds (> 0).
        probe_nodes : sequence of int, optional
            Nodes whose voltages are returned for every sample.
        t0_s : float, optional
            Time of the first sample (used in messages); default the stepper's own clock.

        Returns
        -------
        StepperOutput
        """
        dv = self._check_driven(driven_V)
        dt = check_real("dt_s", dt_s, low=0.0, low_open=True)
        probe = check_nodes(probe_nodes, self.circuit.n_nodes)
        if t0_s is not None:
            self._t = float(check_real("t0_s", t0_s))
        self._impl.partial = None
        try:
            out = self._impl.run(self._g, dv, dt, self._t, probe)
        except BaseException:
            if self._impl.partial is not None:  # keep the state after the last completed sample
                self._g, done = self._impl.partial
                self._t += done * dt
            raise
        self._g = out.g
        self._t += dv.shape[0] * dt
        for k in ("n_steps", "n_rejected", "n_newton", "n_solves", "n_limited"):
            setattr(self._stats, k, getattr(self._stats, k) + int(out.stats.get(k, 0)))
        V, I, P = out.electrode_voltage_V, out.electrode_current_A, out.node_voltage_V
        return StepperOutput(V, I, P, out.g.copy(), dict(out.stats))

    def run_batch(
        self,
        driven_V: Sequence[np.ndarray],
        dt_s: float,
        *,
        g0: np.ndarray | None = None,
        probe_nodes: Sequence[int] | None = None,
    ) -> list[Any]:
        """Integrate independent series, each from ``g0``, with the batched engine (a batched
        method: ``"sdirk2-sn"`` or ``"esdirk3-sn"``).

        The stepper's own state and clock are not touched. Batches whose estimated memory exceeds
        the engine's bound are split (:meth:`nwphys.dynamics.batched.BatchedEngine.estimate_bytes`).

        Parameters
        ----------
        driven_V : sequence of ndarray, shape (n_samples_b, n_driven)
            Source voltages of every held sample of every series (volts).
        dt_s : float
            Hold time of every sample in seconds (> 0).
        g0 : ndarray, shape (n_junctions,), optional
            Initial state of every series; default the stepper's initial state ``g0``.
        probe_nodes : sequence of int, optional
            Nodes whose voltages are read at every sample.

        Returns
        -------
        list of nwphys.dynamics.batched.SeriesResult
            One per series; a failed one carries its message and leaves the others intact.

        Raises
        ------
        ValidationError
            A method that is not batched, or bad shapes and values.
        """
        from nwphys.dynamics._held_methods import BatchedHeld

        if not isinstance(self._impl, BatchedHeld):
            batched = ", ".join(repr(n) for n, m in METHODS.items() if m.batched)
            raise ValidationError(
                f"run_batch needs a batched method ({batched}), this stepper uses {self.method!r}"
            )
        dt = check_real("dt_s", dt_s, low=0.0, low_open=True)
        drives = [self._check_driven(d) for d in driven_V]
        probe = check_nodes(probe_nodes, self.circuit.n_nodes)
        g = self._g0 if g0 is None else check_state("g0", g0, self.model, self.circuit.n_junctions)
        engine = self._impl.engine(probe)
        lengths = [d.shape[0] for d in drives]
        out: list[Any] = []
        start = 0
        n = len(drives)
        while start < n:  # split where the memory bound asks for it
            stop = _largest_fitting_batch(engine, lengths, start)
            out.extend(engine.run(drives[start:stop], dt, g0=g))
            start = stop
        return out


def _largest_fitting_batch(engine: Any, lengths: list[int], start: int) -> int:
    """The end ``stop`` of the longest batch ``lengths[start:stop]`` (at least one series) whose
    estimated memory is within ``engine.max_batch_bytes``.

    Every candidate is estimated whole, since the torch path's memory is not additive over series
    (its tensors are padded to the longest series of the batch); the estimate grows with every
    series added, so a galloping then binary search finds the end in O(log n) estimates. A single
    series above the bound is returned alone, for the engine to refuse.
    """
    n = len(lengths)

    def fits(stop: int) -> bool:
        return bool(engine.estimate_bytes(lengths[start:stop]) <= engine.max_batch_bytes)

    if fits(n):
        return n
    lo, hi, step = start + 1, n, 1  # lo: fits (or is the single series); hi: does not fit
    while lo + step < hi:
        if not fits(lo + step):
            hi = lo + step
            break
        lo += step
        step *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo
