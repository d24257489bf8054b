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
    The error-controlled stiff integrator of :mod:`nwphys.implicit`: it chooses its own internal
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

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import check_choice, check_finite_array, check_int, check_real
from .circuit import Circuit
from .errors import IntegrationError, SolverError, ValidationError
from .implicit import Monitor, StiffIntegrator, StiffStats
from .junctions import JunctionModel, make_junction_model
from .nodal import NodalSolver

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "STEPPER_METHODS",
    "Stepper",
    "StepperOutput",
    "SwitchingTimeWarning",
    "check_exact_step",
]

#: Methods of :class:`Stepper`.
STEPPER_METHODS: tuple[str, ...] = ("sdirk2", "exact")
#: Default tolerances of ``"sdirk2"``: they hold the max abs error in g to <= 1e-3 on the
#: validated operating points (see ``tests/test_stiff.py``).
DEFAULT_RTOL: float = 3e-3
DEFAULT_ATOL: float = 3e-4
#: Default largest fraction of the fastest switching time that one ``"exact"`` step may span.
DEFAULT_MAX_STEP_FRACTION: float = 0.01


class SwitchingTimeWarning(UserWarning):
    """An ``"exact"`` step is longer than the safe fraction of a junction's switching time."""


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


def resolve_model(model: JunctionModel | str | None, network: Any, n_junctions: int) -> JunctionModel:
    """A junction model from an instance, a registry name or (None) the network's own."""
    if model is None:
        if network is not None:
            return make_junction_model(network.junction_model, **dict(network.junction_params or {}))
        model = "rate_balance"
    if isinstance(model, str):
        model = make_junction_model(model)
    if not isinstance(model, JunctionModel):
        raise ValidationError(f"model must be a JunctionModel or a registry name, got {type(model).__name__}")
    model.check_n_junctions(n_junctions)
    return model


def check_state(name: str, g: Any, model: JunctionModel, n: int) -> np.ndarray:
    """Validate a junction state against the model's bounds; returns a copy."""
    arr = check_finite_array(name, g, ndim=1)
    if arr.shape != (n,):
        raise ValidationError(f"{name} must have shape ({n},), got {arr.shape}")
    lo, hi = model.state_bounds
    bad = np.flatnonzero((arr < lo) | (arr > hi))
    if bad.size:
        j = int(bad[0])
        raise ValidationError(
            f"{name} must be in [{lo}, {hi}] for model {model.name!r}, got {float(arr[j])!r} at junction {j}"
        )
    return arr.copy()


def check_exact_step(
    model: JunctionModel,
    g: np.ndarray,
    v: np.ndarray,
    dt_s: float,
    t_s: float,
    max_step_fraction: float,
    guard: str,
) -> None:
    """The guard of the frozen-voltage step: raise or warn when ``dt_s`` is too long.

    Parameters
    ----------
    model, g, v
        Junction model, state and junction voltages (volts) at the start of the step.
    dt_s : float
        The step in seconds.
    t_s : float
        Time of the step (for the message).
    max_step_fraction : float
        Largest allowed ``dt_s / switching_time``.
    guard : {"raise", "warn", "off"}
    """
    if guard == "off":
        return
    rate = model.rate_constant_per_s(g, v)
    j = int(np.argmax(rate))
    if not rate[j] * dt_s > max_step_fraction:
        return
    tau = 1.0 / rate[j] if rate[j] > 0 else math.inf
    msg = (
        f"exact step dt={dt_s:.3g} s at t={t_s:.9g} s is {dt_s / tau:.3g} x the switching time "
        f"{tau:.3g} s of junction {j} (|V|={abs(float(v[j])):.3g} V); the frozen-voltage step is "
        f"accurate only below {max_step_fraction:g} x: use method='sdirk2', a smaller dt or more "
        "sub-steps"
    )
    if guard == "raise":
        raise IntegrationError(msg)
    warnings.warn(msg, SwitchingTimeWarning, stacklevel=4)


def first_bad(x: np.ndarray) -> int:
    return int(np.flatnonzero(~np.isfinite(x))[0])


def check_conductance(G: np.ndarray, t_s: float) -> None:
    ok = np.isfinite(G) & (G > 0)
    if not ok.all():
        j = int(np.flatnonzero(~ok)[0])
        raise IntegrationError(
            f"junction conductance {float(G[j])!r} S is not finite and positive at t={t_s:.9g} s, "
            f"junction {j}"
        )


class FrozenVoltageKernel:
    """The frozen-voltage fixed-step loop of ``"exact"``, shared by :func:`~nwphys.simulate` (a
    readout at every step time) and :class:`Stepper` (sub-steps, then a readout at the end of the
    hold)."""

    def __init__(self, solver: NodalSolver, model: JunctionModel, *, guard: str = "raise",
                 max_step_fraction: float = DEFAULT_MAX_STEP_FRACTION) -> None:
        self.solver = solver
        self.model = model
        self.guard = guard
        self.max_step_fraction = max_step_fraction
        nj = solver.circuit.n_junctions
        self.a = solver.circuit.edges[:, 0]
        self.b = solver.circuit.edges[:, 1]
        self.enode = solver.circuit.electrode_node
        self.nj = nj

    def run(
        self,
        g: np.ndarray,
        driven_V: np.ndarray,
        dt_s: float,
        t0_s: float,
        *,
        last_update: bool,
        record: np.ndarray | None,
        probe: np.ndarray | None,
        keep_g: bool,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Run ``driven_V.shape[0]`` steps from state ``g``; return the new state and the records.

        ``record`` (bool per step, None = all) selects the steps read out. With ``last_update``
        False the state is not advanced after the last step (a final readout-only solve).
        """
        n = driven_V.shape[0]
        rec = np.ones(n, dtype=bool) if record is None else record
        n_rec = n if record is None else int(rec.sum())
        ne = self.enode.size
        out_I = np.empty((n_rec, ne))
        out_Ve = np.empty((n_rec, ne))
        out_Vn = np.empty((n_rec, probe.size)) if probe is not None else None
        out_g = np.empty((n_rec, self.nj)) if keep_g else None
        solver, model, a, b = self.solver, self.model, self.a, self.b
        r = 0
        for k in range(n):
            t = t0_s + k * dt_s
            G = model.conductance_S(g)
            try:
                V = solver.node_voltages(G, driven_V[k])
            except SolverError as exc:
                check_conductance(G, t)
                raise IntegrationError(f"nodal solve failed at t={t:.9g} s: {exc}") from None
            if rec[k]:
                out_I[r] = solver.electrode_currents(G, driven_V[k], V)
                out_Ve[r] = V[self.enode]
                if out_Vn is not None:
                    out_Vn[r] = V[probe]
                if out_g is not None:
                    out_g[r] = g
                r += 1
            if k == n - 1 and not last_update:
                break
            v = V[a] - V[b]
            check_exact_step(model, g, v, dt_s, t, self.max_step_fraction, self.guard)
            g = model.step_exact(g, v, dt_s)
            if not np.isfinite(g).all():
                j = first_bad(g)
                raise IntegrationError(
                    f"non-finite junction state {float(g[j])!r} after the step at t={t:.9g} s "
                    f"(step {k}), junction {j}"
                )
        recs = {"electrode_current_A": out_I, "electrode_voltage_V": out_Ve}
        if out_Vn is not None:
            recs["node_voltage_V"] = out_Vn
        if out_g is not None:
            recs["g"] = out_g
        return g, recs


class Stepper:
    """Stateful held-sample stepper for hardware emulation and reservoirs (see the module notes).

    Parameters
    ----------
    circuit : Circuit
    model : JunctionModel or str
        Junction model (or registry name with default parameters).
    driven : sequence of str
        Electrodes held at a voltage, in the column order of ``driven_V`` in :meth:`run`.
    g0 : ndarray, shape (n_junctions,), optional
        Initial state; default the model's resting state.
    method : {"sdirk2", "exact"}
        Integration method (see the module docstring).
    rtol, atol : float
        Tolerances of ``"sdirk2"`` on the junction states.
    n_substeps : int or "auto"
        Frozen-voltage steps per sample of ``"exact"``.
    guard : {"raise", "warn", "off"}
        What ``"exact"`` does when a step exceeds ``max_step_fraction`` of a switching time.
    max_step_fraction : float
        See ``guard``.
    backend : str
        Nodal solver backend (see :class:`~nwphys.nodal.NodalSolver`).
    monitor : callable, optional
        ``"sdirk2"`` only: called after every accepted internal step with
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
        self.method = check_choice("method", method, STEPPER_METHODS)
        self.rtol = check_real("rtol", rtol, low=0.0, low_open=True, high=1.0)
        self.atol = check_real("atol", atol, low=0.0, low_open=True)
        if n_substeps != "auto":
            n_substeps = check_int("n_substeps", n_substeps, low=1)
        self.n_substeps = n_substeps
        self.guard = check_choice("guard", guard, ("raise", "warn", "off"))
        self.max_step_fraction = check_real("max_step_fraction", max_step_fraction, low=0.0, low_open=True)
        self.solver = NodalSolver(circuit, driven=driven, backend=backend)
        self.driven = self.solver.driven
        n = circuit.n_junctions
        self._g0 = self.model.resting_state(n) if g0 is None else check_state("g0", g0, self.model, n)
        self._g = self._g0.copy()
        self._a = circuit.edges[:, 0]
        self._b = circuit.edges[:, 1]
        self._t = 0.0
        self._integ = StiffIntegrator(self.solver, self.model, rtol=self.rtol, atol=self.atol,
                                      monitor=monitor)
        self._kernel = FrozenVoltageKernel(self.solver, self.model, guard=self.guard,
                                           max_step_fraction=self.max_step_fraction)
        self._x = np.zeros(self.solver.n_unknowns)

    @property
    def g(self) -> np.ndarray:
        """Copy of the current junction state, shape (n_junctions,)."""
        return self._g.copy()

    @property
    def stats(self) -> StiffStats:
        """Cumulative work counters of the ``"sdirk2"`` integrator."""
        return self._integ.stats

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
        self._integ.reset()
        self._x = np.zeros(self.solver.n_unknowns)

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
        return StepperOutput(V[self.circuit.electrode_node][None, :], ei[None, :],
                             None if probe is None else V[probe][None, :], self.g, {})

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
        n, ne = dv.shape[0], self.circuit.n_electrodes
        out_V = np.empty((n, ne))
        out_I = np.empty((n, ne))
        out_P = None if probe is None else np.empty((n, probe.size))
        before = self._integ.stats.as_dict()
        n_sub = n_solves = 0
        g, enode = self._g, self.circuit.electrode_node
        try:
            for k in range(n):
                t = self._t
                vd = dv[k]
                if self.method == "sdirk2":
                    g, self._x, V = self._integ.integrate(g, self._x, dt, vd, t0_s=t)
                    out_V[k] = V[enode]
                    out_I[k] = self.solver.electrode_currents(self.model.conductance_S(g), vd, V)
                    if out_P is not None:
                        out_P[k] = V[probe]
                else:
                    g, recs, m = self._exact_sample(g, vd, dt, t, probe)
                    n_sub += m
                    n_solves += m + 1 + (self.n_substeps == "auto")
                    out_V[k] = recs["electrode_voltage_V"][0]
                    out_I[k] = recs["electrode_current_A"][0]
                    if out_P is not None:
                        out_P[k] = recs["node_voltage_V"][0]
                self._t = t + dt
        finally:
            self._g = g
        if self.method == "sdirk2":
            after = self._integ.stats.as_dict()
            stats = {k: after[k] - before[k] for k in after}
        else:
            stats = {"n_steps": n_sub, "n_rejected": 0, "n_newton": 0, "n_solves": n_solves}
        return StepperOutput(out_V, out_I, out_P, g.copy(), stats)

    def _exact_sample(
        self, g: np.ndarray, vd: np.ndarray, dt: float, t: float, probe: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
        """Frozen-voltage sub-steps over one sample, then the reading solve at its end.

        Returns the state after the sample, the reading's records and the number of sub-steps.
        """
        if self.n_substeps == "auto":
            _, V = self._solve(g, vd, t)
            rate = float(np.max(self.model.rate_constant_per_s(g, V[self._a] - V[self._b])))
            m = max(1, math.ceil(rate * dt / self.max_step_fraction * (1 + 1e-12)))
        else:
            m = int(self.n_substeps)
        record = np.zeros(m + 1, dtype=bool)
        record[-1] = True
        g, recs = self._kernel.run(g, np.broadcast_to(vd, (m + 1, vd.size)), dt / m, t, last_update=False,
                                   record=record, probe=probe, keep_g=False)
        return g, recs, m


def check_nodes(nodes: Any, n_nodes: int) -> np.ndarray | None:
    """Validate node indices (None, ``"all"`` or a 1-D integer array)."""
    if nodes is None:
        return None
    if isinstance(nodes, str):
        if nodes == "all":
            return np.arange(n_nodes)
        raise ValidationError(f"record_nodes must be None, 'all' or node indices, got {nodes!r}")
    arr = np.asarray(nodes)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValidationError(f"node indices must be a 1-D integer array, got {nodes!r}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_nodes):
        raise ValidationError(
            f"node indices must be in [0, {n_nodes - 1}], got range [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.int64)
