"""The frozen-voltage fixed step of the ``"exact"`` method and its switching-time guard.

Each step holds the junction voltages of one nodal solve over the step and advances every
junction with :meth:`~nwphys.junctions.JunctionModel.step_exact`: stable for any step, but
only first order, so :func:`check_exact_step` refuses (or warns about) a step longer than
``max_step_fraction`` of the fastest junction switching time ``1 / (kp + kd)``.
:class:`FrozenVoltageKernel` is the loop shared by :func:`~nwphys.simulate` and
:class:`~nwphys.dynamics.stepper.Stepper`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from nwphys.circuit.nodal import NodalSolver
from nwphys.dynamics._sim_checks import check_conductance, first_bad
from nwphys.errors import IntegrationError, SolverError
from nwphys.junctions import JunctionModel

__all__ = ["DEFAULT_MAX_STEP_FRACTION", "FrozenVoltageKernel", "SwitchingTimeWarning", "check_exact_step"]

#: Default largest fraction of the fastest switching time that one ``"exact"`` step may span.
DEFAULT_MAX_STEP_FRACTION: float = 0.01


class SwitchingTimeWarning(UserWarning):
    """An ``"exact"`` step is longer than the safe fraction of a junction's switching time."""


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


class FrozenVoltageKernel:
    """The frozen-voltage fixed-step loop of ``"exact"``, shared by :func:`~nwphys.simulate` (a
    readout at every step time) and :class:`Stepper` (sub-steps, then a readout at the end of the
    hold)."""

    def __init__(
        self,
        solver: NodalSolver,
        model: JunctionModel,
        *,
        guard: str = "raise",
        max_step_fraction: float = DEFAULT_MAX_STEP_FRACTION,
    ) -> None:
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
