"""Compliance of the emulated source-measure channels: the current is limited, the voltage folds back.

Model
-----
Every input channel of the emulator is a voltage source with a current limit ``limit_A[j]``
(``SOUR<n>:CURR:LIM``, at most the electrode's ``compliance_A``). A step holds its levels for
``dt_s`` and is read at the end of the hold. When the reading of channel ``j`` would exceed its
limit, the channel is in compliance for that step: over the whole hold it sources the voltage
``V_j`` at which its reading is at the limit, ``I_j = sign * limit_A[j]`` with the sign of the
current it would have delivered (one voltage per step: a piecewise-constant fold-back). The other
channels hold their programmed levels. The junctions integrate the folded voltages, the reading
reports them as ``input_V`` and sets the compliance bit of every channel in compliance: a channel's
bit is set when ``|I_j| >= limit_A[j]`` (:func:`at_compliance`, the rule of :class:`~hardware.Device`).

Solving for the folded voltages
-------------------------------
At fixed junction states the network is resistive: the current of every channel is affine in the
source voltages. Over one hold the states move with the voltages, so the reading at the end of the
hold is affine only to first order. :func:`fold_step` therefore integrates trial steps, each from
the state at the start of the step (the caller rolls the served device back before each one): the
programmed step; for every channel in compliance, one trial with that channel moved by
``1e-3 * max_abs_V`` (toward a lower current) for its column of ``dI/dV``; then Newton steps on
the channels in compliance toward the middle of the tolerance band. A step that lowers the misfit
(the largest distance of a reading from its goal, relative to the limit) is accepted and updates
the matrix (Broyden); when it lowered the misfit by less than half, the columns are measured again
at the new voltages. A step that raises it is rejected: the columns are measured again, or, when
they were fresh, the step is halved. A Newton step that would leave the voltage limits is shortened
to end on them. On a stateless (linear) network the first Newton step is exact to rounding. A
channel whose fold-back voltage lies beyond its programmed level leaves compliance (it holds its
level); a channel that comes over its limit joins. The last trial is the accepted one, so the served
device ends in the state of the folded step.

Tolerance: the accepted reading has ``limit_A[j] <= |I_j| <= (1 + FOLD_RTOL) * limit_A[j]`` on
every channel in compliance (Newton aims at the middle of that band; its lower end keeps the
compliance bit ``|I_j| >= limit_A[j]``) and ``|I_j| <= limit_A[j]`` on the others. When
:data:`FOLD_MAX_NEWTON` Newton trials do not reach it, or a fold-back needs a voltage beyond
``max_abs_V``, :func:`fold_step` raises :class:`Trip`.

Steps in sequence
-----------------
:func:`apply_limited` applies a run of steps in one call of the device and checks the readings;
only when one exceeds a limit does it roll the device back: it applies the steps before that one
again, or folds it back when it is the first. A device that cannot be rolled back
(:func:`rollback_of`) raises :class:`Trip` instead: the instrument switches its outputs off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.device import Device, Measurement

__all__ = [
    "FOLD_MAX_NEWTON",
    "FOLD_RTOL",
    "Rollback",
    "Trip",
    "apply_limited",
    "at_compliance",
    "fold_step",
    "rollback_of",
]

#: Relative tolerance of the folded currents: ``limit <= |I| <= (1 + FOLD_RTOL) * limit``.
FOLD_RTOL = 1e-6
#: Most Newton steps of one folded step (each one trial, plus the column trials it needs).
FOLD_MAX_NEWTON = 40
#: Move of a channel's voltage for its column of ``dI/dV``, as a fraction of its ``max_abs_V``.
_PROBE_FRACTION = 1e-3


class Trip(Exception):
    """A reading went over a current limit that cannot be held: the source must switch off.

    Parameters
    ----------
    n_steps : int
        Steps the device integrated in the call that went over (their time has passed).
    text : str
        The channel, its current and limit, and why the limit could not be held.
    """

    def __init__(self, n_steps: int, text: str) -> None:
        super().__init__(text)
        self.n_steps = n_steps


@dataclass(frozen=True)
class Rollback:
    """How to take a served device back to an earlier instant of its physics.

    Attributes
    ----------
    get : callable
        ``get() -> state``: a copy of the device's dynamic state now.
    set : callable
        ``set(state)``: restore a state returned by ``get``.
    """

    get: Callable[[], Any]
    set: Callable[[Any], None]


def rollback_of(device: Device) -> Rollback | None:
    """The :class:`Rollback` of a served device, or None when it cannot be rolled back.

    A :class:`~hardware.SimulatedDevice` without source settling (``settling_tau_s == 0``) is
    rolled back through its junction state (``g`` and ``set_state``), which is then its whole
    dynamic state; a settling source keeps a memory of its own that has no public setter, so such
    a device cannot be rolled back. A :class:`~hardware.StarDevice` is rolled back through its
    branch conductances ``G_S``. Any other backend cannot be rolled back.
    """
    from hardware.backends.simulated import SimulatedDevice
    from hardware.testing import StarDevice

    if isinstance(device, SimulatedDevice) and device.settling_tau_s == 0.0:
        return Rollback(get=lambda: device.g, set=device.set_state)
    if isinstance(device, StarDevice):
        star = device

        def set_star(G_S: np.ndarray) -> None:
            star.G_S = G_S.copy()

        return Rollback(get=lambda: star.G_S.copy(), set=set_star)
    return None


def at_compliance(current_A: np.ndarray, limit_A: np.ndarray) -> np.ndarray:
    """Compliance bits of readings: ``|I| >= limit_A`` (bool, shape of ``current_A``)."""
    return np.abs(current_A) >= limit_A


def fold_step(
    trial: Callable[[np.ndarray], Measurement],
    levels_V: np.ndarray,
    limit_A: np.ndarray,
    max_abs_V: np.ndarray,
    names: tuple[str, ...],
    *,
    first: Measurement | None = None,
) -> tuple[Measurement, np.ndarray]:
    """One step with the current limits enforced (see the module docstring).

    Parameters
    ----------
    trial : callable
        ``trial(v) -> Measurement``: integrate one step at the source voltages ``v`` (V, shape
        (k,)) from the state at the start of the step and read it at the end of the hold.
    levels_V : ndarray, shape (k,)
        The programmed levels (V).
    limit_A : ndarray, shape (k,)
        Current limit of every input channel (A, > 0).
    max_abs_V : ndarray, shape (k,)
        Voltage limit of every input channel (V); no trial goes beyond it.
    names : tuple of str
        Input electrode names (for the error text).
    first : Measurement, optional
        The reading of ``trial(levels_V)`` when the caller has it already (saves one trial).

    Returns
    -------
    Measurement
        The reading of the accepted step (one row): the last trial integrated.
    ndarray of bool, shape (k,)
        The compliance bits of that reading.

    Raises
    ------
    Trip
        The fold-back needs a voltage beyond ``max_abs_V``, or does not reach :data:`FOLD_RTOL`
        within :data:`FOLD_MAX_NEWTON` Newton trials (``n_steps`` 1).
    """
    v = np.asarray(levels_V, dtype=float)
    m = trial(v) if first is None else first
    x, cur = v.copy(), m.input_current_A[0].copy()
    on = np.abs(cur) > limit_A  # channels in compliance
    if not on.any():
        return m, at_compliance(cur, limit_A)
    sign = np.where(on, np.sign(cur), 0.0)
    err = _misfit(cur, on, sign, limit_A)
    J = np.full((v.size, v.size), np.nan)  # dI/dV; columns of the channels in compliance
    stale = on.copy()  # columns to measure at x before the next Newton step
    fresh = False  # whether every column in use was measured at x
    lam = 1.0  # step length: halved after a rejected step taken with fresh columns
    for _ in range(FOLD_MAX_NEWTON):
        if stale.any():
            fresh = fresh or bool(stale[on].all())
            for j in np.flatnonzero(stale):
                J[:, j] = _column(trial, x, cur, j, sign[j], limit_A[j], max_abs_V[j], names[j])
            stale[:] = False
        c = np.flatnonzero(on)
        try:
            dx = np.linalg.solve(J[np.ix_(c, c)], sign[c] * limit_A[c] * (1 + FOLD_RTOL / 2) - cur[c])
        except np.linalg.LinAlgError:
            on_names = ", ".join(repr(names[i]) for i in c)
            raise Trip(1, f"fold-back: the current of {on_names} does not respond to its voltage") from None
        x_new = x.copy()
        x_new[c] += lam * dx
        beyond = on & (sign * (x_new - v) > 0)  # not in compliance at its programmed level
        x_new[beyond] = v[beyond]
        out = np.abs(x_new) > max_abs_V
        if out.any():  # shorten the step to stay within the voltage limits
            j = np.flatnonzero(out)
            frac = (np.sign(x_new[j]) * max_abs_V[j] - x[j]) / (x_new[j] - x[j])
            if frac.min() <= 0.0:
                i = int(j[np.argmin(frac)])
                raise _fold_error(names[i], x[i], cur[i], limit_A[i], max_abs_V[i])
            x_new = np.clip(x + frac.min() * (x_new - x), -max_abs_V, max_abs_V)
        m_new = trial(x_new)
        cur_new = m_new.input_current_A[0].copy()
        on_new = on & ~beyond
        joined = ~on_new & (np.abs(cur_new) > limit_A)
        on_new |= joined
        sign_new = np.where(joined, np.sign(cur_new), sign)
        err_new = _misfit(cur_new, on_new, sign_new, limit_A)
        if err_new == 0.0:
            return m_new, on_new | at_compliance(cur_new, limit_A)
        if err_new < err:  # accept; Broyden update, fresh columns when the misfit fell by < half
            step, known = x_new - x, ~np.isnan(J[0])
            s_k = step[known]
            if s_k @ s_k > 0.0:
                J[:, known] += np.outer(cur_new - cur - J[:, known] @ s_k, s_k) / (s_k @ s_k)
            stale = on_new & (np.isnan(J[0]) | (err_new > 0.5 * err))
            x, cur, on, sign, err, lam, fresh = x_new, cur_new, on_new, sign_new, err_new, 1.0, False
        elif fresh:  # the columns are those of x: a shorter step
            lam *= 0.5
        else:  # measure the columns at x again
            stale = on.copy()
    worst = int(np.argmax(np.where(on, np.abs(np.abs(cur) - limit_A) / limit_A, -1.0)))
    raise Trip(
        1,
        f"fold-back of {names[worst]!r} did not reach rtol={FOLD_RTOL!r} in "
        f"{FOLD_MAX_NEWTON} Newton steps (I={float(cur[worst])!r} A, limit "
        f"{float(limit_A[worst])!r} A, V={float(x[worst])!r} V)",
    )


def _misfit(cur: np.ndarray, on: np.ndarray, sign: np.ndarray, limit_A: np.ndarray) -> float:
    """Largest distance of a reading from its goal, relative to the limit; 0 when every channel
    in compliance is in ``[limit, (1 + FOLD_RTOL) limit]`` with its sign and no other is over."""
    s_cur = sign * cur
    band = np.maximum(limit_A - s_cur, s_cur - (1 + FOLD_RTOL) * limit_A)
    over = np.abs(cur) - limit_A
    return float(np.max(np.maximum(np.where(on, band, over), 0.0) / limit_A))


def _column(
    trial: Callable[[np.ndarray], Measurement],
    x: np.ndarray,
    cur: np.ndarray,
    j: int,
    sign: float,
    limit: float,
    vmax: float,
    name: str,
) -> np.ndarray:
    """Column ``j`` of ``dI/dV`` at ``x`` (currents ``cur``): one trial with channel ``j`` moved by
    ``_PROBE_FRACTION * vmax`` in the direction that lowers its current (the other way at its limit)."""
    d = -sign * _PROBE_FRACTION * vmax
    if abs(x[j] + d) > vmax:
        d = -d
    xp = x.copy()
    xp[j] += d
    if xp[j] == x[j]:
        raise _fold_error(name, x[j], cur[j], limit, vmax)
    return (trial(xp).input_current_A[0] - cur) / (xp[j] - x[j])


def _fold_error(name: str, v: float, i: float, limit: float, vmax: float) -> Trip:
    return Trip(
        1,
        f"fold-back of {name!r} needs a voltage beyond max_abs_V={float(vmax)!r} V "
        f"(at {float(v)!r} V: I={float(i)!r} A, limit {float(limit)!r} A)",
    )


def apply_limited(
    apply: Callable[[np.ndarray, float], Measurement],
    levels_V: np.ndarray,
    dt_s: float,
    limit_A: np.ndarray,
    max_abs_V: np.ndarray,
    names: tuple[str, ...],
    rollback: Rollback | None,
) -> tuple[Measurement, np.ndarray, bool]:
    """Apply a run of steps with the current limits enforced (see the module docstring).

    Parameters
    ----------
    apply : callable
        ``apply(v, dt_s) -> Measurement``: apply the steps ``v`` (V, shape (n, k)) to the device.
    levels_V : ndarray, shape (n, k)
        The programmed levels of the steps (V).
    dt_s : float
        Step duration (s).
    limit_A, max_abs_V : ndarray, shape (k,)
        Current limit (A) and voltage limit (V) of every input channel.
    names : tuple of str
        Input electrode names (for the texts).
    rollback : Rollback or None
        How to roll the device back (:func:`rollback_of`); None trips on any step over a limit.

    Returns
    -------
    Measurement
        Readings of the first ``r >= 1`` steps, stamped by the device.
    ndarray of bool, shape (r, k)
        Their compliance bits (the device's flags and :func:`at_compliance`).
    bool
        Whether a step hit a limit (then ``r < n`` or step ``r - 1`` was folded back).

    Raises
    ------
    Trip
        A step over a limit on a device that cannot be rolled back (``n_steps`` n: every step of
        the call was integrated), or a fold-back that failed (``n_steps`` 1).
    """
    start = None if rollback is None else rollback.get()
    m = apply(levels_V, dt_s)
    cur = m.input_current_A
    over = (np.abs(cur) > limit_A).any(axis=1)
    if not over.any():
        return m, m.compliance | at_compliance(cur, limit_A), False
    b = int(np.argmax(over))
    if rollback is None:
        j = int(np.argmax(np.abs(cur[b]) / limit_A))
        raise Trip(
            levels_V.shape[0],
            f"I={float(cur[b, j])!r} A on {names[j]!r} at step {b} exceeds its limit "
            f"{float(limit_A[j])!r} A and the served device cannot be rolled back for a fold-back",
        )
    rollback.set(start)
    if b > 0:
        head, comp, _ = apply_limited(apply, levels_V[:b], dt_s, limit_A, max_abs_V, names, rollback)
        return head, comp, True

    def trial(x: np.ndarray) -> Measurement:
        rollback.set(start)
        return apply(x[None, :], dt_s)

    first = m if levels_V.shape[0] == 1 else None
    folded, comp = fold_step(trial, levels_V[0], limit_A, max_abs_V, names, first=first)
    return folded, (comp | folded.compliance[0])[None, :], True
