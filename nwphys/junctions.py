"""Memristive junction models: small classes over pure rate functions, plus a registry.

Protocol for a junction model
-----------------------------
A model is a subclass of :class:`JunctionModel` that provides

1. ``name`` (class attribute, the registry key) and ``param_names`` (the accepted keyword
   parameters, with ``defaults`` for each);
2. ``conductance_S(state)`` -- junction conductance in siemens from the state array
   (shape (n_junctions,));
3. ``rhs(state, V)`` -- the time derivative of the state for junction voltages ``V`` (volts);
4. ``step_exact(state, V, dt_s)`` -- the state after ``dt_s`` seconds with ``V`` held constant,
   in closed form (used by the fast fixed-step integrator; it must be unconditionally stable);
5. ``resting_state(n)`` -- the state of ``n`` junctions at rest (equilibrium at 0 V);
6. ``state_bounds`` -- (low, high) of the admissible state, checked by the integrators, and
   ``state_scale`` -- its typical magnitude (default 1), the unit of the integrators' ``atol``.

The implicit integrator (``method="sdirk2"``, :mod:`nwphys.dynamics.implicit`) also uses three methods that
have finite-difference defaults here; a model overrides them with analytic versions when it can:

7. ``rate_jacobian(state, V) -> (df_dstate, df_dV)`` -- the diagonal partial derivatives of
   ``rhs`` (default: central differences, one vectorised evaluation per side);
8. ``conductance_slope_S(state)`` -- ``dG/dstate`` in siemens per state unit (default: central
   differences);
9. ``stage_solve(psi, V, c_s) -> (state, dstate_dV, dstate_dpsi)`` -- the solution of the implicit
   stage equation ``state - c_s * rhs(state, V) = psi`` at fixed ``V`` with its two partial
   derivatives (default: a vectorised scalar Newton iteration on ``rate_jacobian``; it raises
   :class:`~nwphys.errors.IntegrationError` when it does not converge).

``rate_constant_per_s(state, V)`` (default ``|df_dstate|``) is the inverse switching time that the
fixed-step ``"exact"`` method compares with its step.

A model whose class attribute ``stochastic`` is True has a noise term besides ``rhs`` (a stochastic
differential equation, :class:`StochasticRateBalanceModel`). The deterministic integrators
(:func:`~nwphys.simulate`, :class:`~nwphys.Stepper`) refuse it; it provides ``drift_model()``, the
deterministic model of its drift, and :class:`hardware.SimulatedDevice` integrates it with the
split step of :mod:`nwphys.dynamics.stochastic`.

Parameters may be scalars or arrays of shape (n_junctions,) (per-junction variability, see
:func:`make_junction_model`). Register a user model with :func:`register_junction_model`.
:func:`model_from_spec` builds the model that a network or a stored file names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from nwphys._checks import check_int, check_real, make_rng
from nwphys.errors import IntegrationError, ValidationError
from nwutil.validation import format_range

__all__ = [
    "AG_JUNCTION_RANGE_S",
    "ETA_D_PER_V",
    "ETA_P_PER_V",
    "JUNCTION_MODELS",
    "JUNCTION_PRESETS",
    "KD0_PER_S",
    "KP0_PER_S",
    "MILANO2025_NOISE",
    "FilamentGapModel",
    "JunctionModel",
    "RateBalanceModel",
    "StochasticRateBalanceModel",
    "filament_gap_conductance",
    "filament_gap_rhs",
    "filament_gap_step",
    "make_junction_model",
    "model_from_spec",
    "rate_balance_rhs",
    "rate_balance_step",
    "register_junction_model",
]

# ---------------------------------------------------------------------------- NW-ESN kinetics
#: NW-ESN junction kinetics, the rates of Table 2 of the NW-ESN paper: potentiation and
#: depression prefactors ``kp0``, ``kd0`` in 1/s and transition rates ``eta_p``, ``eta_d`` in 1/V
#: of the ``rate_balance`` model (defaults of :class:`RateBalanceModel`, preset ``"nwesn"``). The
#: dimensionless abstract reservoir (:class:`nwmodel.models.kernels.NWCellParams`) uses the same numbers.
KP0_PER_S: float = 1e-4
#: Depression rate prefactor ``kd0`` in 1/s (see :data:`KP0_PER_S`).
KD0_PER_S: float = 0.5
#: Potentiation transition rate ``eta_p`` in 1/V (see :data:`KP0_PER_S`).
ETA_P_PER_V: float = 10.0
#: Depression transition rate ``eta_d`` in 1/V (see :data:`KP0_PER_S`).
ETA_D_PER_V: float = 1.0


# ---------------------------------------------------------------------------- pure rate functions
# Arrays in, arrays out; no state, no checks. Parameters may be scalars or arrays broadcastable
# to the state, of shape (n_junctions,). The model classes below are thin wrappers over them.
def rate_balance_rhs(
    g: np.ndarray, V: np.ndarray, kp0_per_s: Any, kd0_per_s: Any, eta_p_per_V: Any, eta_d_per_V: Any
) -> np.ndarray:
    """``dg/dt = kp (1 - g) - kd g`` with ``kp = kp0 exp(eta_p |V|)``, ``kd = kd0 exp(-eta_d |V|)``."""
    a = np.abs(V)
    kp = kp0_per_s * np.exp(eta_p_per_V * a)
    kd = kd0_per_s * np.exp(-eta_d_per_V * a)
    return kp * (1.0 - g) - kd * g


def rate_balance_step(
    g: np.ndarray,
    V: np.ndarray,
    dt_s: float,
    kp0_per_s: Any,
    kd0_per_s: Any,
    eta_p_per_V: Any,
    eta_d_per_V: Any,
) -> np.ndarray:
    """Exact solution of the rate-balance equation after ``dt_s`` at constant ``V``.

    ``g <- g_inf + (g - g_inf) exp(-(kp + kd) dt)`` with ``g_inf = kp / (kp + kd)``, evaluated as
    ``1 / (1 + (kd0/kp0) exp(-(eta_p + eta_d)|V|))`` so that it stays finite for any voltage. When
    ``kp + kd`` overflows, the decay factor is exactly 0 (the junction is at equilibrium), which is
    the correct limit, not a clipping.
    """
    a = np.abs(V)
    g_inf = 1.0 / (1.0 + (kd0_per_s / kp0_per_s) * np.exp(-(eta_p_per_V + eta_d_per_V) * a))
    with np.errstate(over="ignore"):
        rate = kp0_per_s * np.exp(eta_p_per_V * a) + kd0_per_s * np.exp(-eta_d_per_V * a)
    decay = np.exp(-rate * dt_s)
    return g_inf + (g - g_inf) * decay


def filament_gap_rhs(
    lam: np.ndarray, V: np.ndarray, Vset_V: Any, Vreset_V: Any, b: Any, lmax: Any
) -> np.ndarray:
    """Filament growth rate of Hochstetter et al. (2021).

    ``dl/dt = (|V| - Vset) sign(V)`` when ``|V| > Vset``; ``-b (Vreset - |V|) sign(l)`` when
    ``|V| < Vreset``; 0 in between. The state lives in ``[-lmax, lmax]``: at the boundary an
    outward rate is 0 (the clipping is part of the model).
    """
    a = np.abs(V)
    rate = np.where(a > Vset_V, (a - Vset_V) * np.sign(V), 0.0)
    rate = np.where(a < Vreset_V, -b * (Vreset_V - a) * np.sign(lam), rate)
    at_top = (lam >= lmax) & (rate > 0)
    at_bot = (lam <= -lmax) & (rate < 0)
    return np.where(at_top | at_bot, 0.0, rate)


def filament_gap_step(
    lam: np.ndarray, V: np.ndarray, dt_s: float, Vset_V: Any, Vreset_V: Any, b: Any, lmax: Any
) -> np.ndarray:
    """Exact filament state after ``dt_s`` at constant ``V`` (piecewise-linear in time).

    Growth above ``Vset`` is linear and stops at ``+-lmax``; decay below ``Vreset`` shrinks ``|l|``
    linearly and stops at 0 (``sign(0) = 0``), so the closed form is a clipped linear update.
    """
    a = np.abs(V)
    grow = np.clip(lam + (a - Vset_V) * np.sign(V) * dt_s, -lmax, lmax)
    shrink = np.sign(lam) * np.maximum(np.abs(lam) - b * (Vreset_V - a) * dt_s, 0.0)
    out = np.where(a > Vset_V, grow, lam)
    return np.where(a < Vreset_V, shrink, out)


#: Constants of the Simmons low-voltage tunnelling formula used by Hochstetter et al. (2021).
_TUNNEL = {"phi_V": 0.81, "A": 0.17, "C0": 10.19, "J1": 0.0000471307, "gap_max_nm": 5.0}


def filament_gap_conductance(lam: np.ndarray, lcrit: Any, Gon_S: Any, Goff_S: Any) -> np.ndarray:
    """Tunnelling conductance of the filament gap (Hochstetter et al. 2021).

    The gap ``d = max(lcrit - |l|, 0) * 5 nm / lcrit``; the tunnel resistance
    ``R_t = (2/A) d / sqrt(phi) exp(C0 d phi^2) / J1`` (phi = 0.81 V, A = 0.17, C0 = 10.19,
    J1 = 4.71307e-5, as in the authors' code); ``G = 1 / (R_t + 1/Gon) + Goff``.
    """
    c = _TUNNEL
    d = np.maximum(lcrit - np.abs(lam), 0.0) * c["gap_max_nm"] / lcrit
    r_t = (2.0 / c["A"]) * d / np.sqrt(c["phi_V"]) * np.exp(c["C0"] * d * c["phi_V"] ** 2) / c["J1"]
    return 1.0 / (r_t + 1.0 / Gon_S) + Goff_S


# ---------------------------------------------------------------------------- base class
class JunctionModel:
    """Base class of junction models (see the module docstring for the protocol).

    Parameters
    ----------
    **params
        Model parameters (scalars, or arrays of shape (n_junctions,)); unknown names raise.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, float]] = {}
    #: groups of parameters that share one random factor under per-junction variability
    spread_groups: ClassVar[tuple[tuple[str, ...], ...]] = ()
    state_bounds: tuple[float, float] = (-np.inf, np.inf)
    #: typical magnitude of the state: the integrators' absolute tolerance is in these units
    state_scale: float = 1.0
    #: whether the model has a noise term (an SDE): the deterministic integrators refuse it
    stochastic: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValidationError(
                f"unknown parameter(s) {', '.join(unknown)} for junction model {self.name!r}; "
                f"allowed: {', '.join(self.defaults)}"
            )
        merged: dict[str, Any] = dict(self.defaults)
        for k, v in params.items():
            if np.ndim(v):
                arr = np.asarray(v, dtype=float)
                if not np.all(np.isfinite(arr)):
                    raise ValidationError(f"{k} must be finite, got non-finite entries")
                merged[k] = arr
            else:
                merged[k] = check_real(k, v)
        self._p = merged
        self._validate()

    def _validate(self) -> None:  # pragma: no cover - overridden
        pass

    @property
    def params(self) -> dict[str, Any]:
        """Copy of the parameter dict (scalars as float, per-junction values as arrays)."""
        return {k: (v.copy() if isinstance(v, np.ndarray) else float(v)) for k, v in self._p.items()}

    def check_n_junctions(self, n_junctions: int) -> None:
        """Raise if per-junction parameter arrays do not have length ``n_junctions``."""
        for k, v in self._p.items():
            if isinstance(v, np.ndarray) and v.shape != (n_junctions,):
                raise ValidationError(
                    f"parameter {k} has shape {v.shape}, circuit has {n_junctions} junctions"
                )

    def conductance_S(self, state: np.ndarray) -> np.ndarray:
        """Conductance in siemens of each junction, shape of ``state``."""
        raise NotImplementedError

    def rhs(self, state: np.ndarray, V: np.ndarray) -> np.ndarray:
        """Time derivative of the state (per second) at junction voltages ``V`` (volts)."""
        raise NotImplementedError

    def step_exact(self, state: np.ndarray, V: np.ndarray, dt_s: float) -> np.ndarray:
        """State after ``dt_s`` seconds with ``V`` frozen (closed form)."""
        raise NotImplementedError

    def resting_state(self, n: int) -> np.ndarray:
        """State of ``n`` junctions at equilibrium under 0 V."""
        raise NotImplementedError

    # -- derivatives for the implicit integrator (finite-difference defaults) --------------
    def rate_jacobian(self, state: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Partial derivatives of :meth:`rhs`: ``(d rhs / d state, d rhs / d V)``, each shape of ``state``.

        The default uses central differences with steps ``1e-6 (1 + |x|)``; override it with the
        analytic derivatives when they are known.
        """
        hs = 1e-6 * (1.0 + np.abs(state))
        hv = 1e-6 * (1.0 + np.abs(V))
        df_ds = (self.rhs(state + hs, V) - self.rhs(state - hs, V)) / (2.0 * hs)
        df_dv = (self.rhs(state, V + hv) - self.rhs(state, V - hv)) / (2.0 * hv)
        return df_ds, df_dv

    def conductance_slope_S(self, state: np.ndarray) -> np.ndarray:
        """``d conductance_S / d state`` in siemens per state unit, broadcastable to the shape of
        ``state`` (default: central differences)."""
        h = 1e-6 * (1.0 + np.abs(state))
        return (self.conductance_S(state + h) - self.conductance_S(state - h)) / (2.0 * h)

    def rate_constant_per_s(self, state: np.ndarray, V: np.ndarray) -> np.ndarray:
        """Inverse switching time of each junction at ``V`` in 1/s (default ``|d rhs / d state|``)."""
        return np.abs(self.rate_jacobian(state, V)[0])

    def stage_solve(
        self, psi: np.ndarray, V: np.ndarray, c_s: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Solve ``state - c_s * rhs(state, V) = psi`` junction by junction at fixed ``V``.

        Parameters
        ----------
        psi : ndarray, shape (n_junctions,)
            Known part of the implicit stage (dimension of the state).
        V : ndarray, shape (n_junctions,)
            Junction voltages in volts, held fixed.
        c_s : float
            Stage coefficient ``gamma * h`` in seconds (> 0).

        Returns
        -------
        state, dstate_dV, dstate_dpsi : ndarray, shape (n_junctions,)
            The solution and its partial derivatives with respect to ``V`` (per volt) and ``psi``.

        Notes
        -----
        The default runs a vectorised Newton iteration from ``psi`` on :meth:`rate_jacobian`
        (relative tolerance 1e-13, at most 50 iterations) and raises
        :class:`~nwphys.errors.IntegrationError` if it does not converge.
        """
        s = np.array(psi, dtype=float)
        for _ in range(50):
            r = s - c_s * self.rhs(s, V) - psi
            df_ds, _ = self.rate_jacobian(s, V)
            ds = -r / (1.0 - c_s * df_ds)
            s = s + ds
            if np.all(np.abs(ds) <= 1e-13 * (1.0 + np.abs(s))):
                break
        else:
            j = int(np.argmax(np.abs(ds)))
            raise IntegrationError(
                f"the implicit stage of junction model {self.name!r} did not converge at junction {j} "
                f"(state {float(s[j])!r}, V={float(V[j])!r} V, c={c_s!r} s)"
            )
        df_ds, df_dv = self.rate_jacobian(s, V)
        inv = 1.0 / (1.0 - c_s * df_ds)
        return s, c_s * df_dv * inv, inv

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={'<array>' if isinstance(v, np.ndarray) else v!r}" for k, v in self._p.items())
        return f"{type(self).__name__}({ps})"


def require_positive(model: JunctionModel, *names: str) -> None:
    """Raise :class:`ValidationError` unless every value of each named parameter is > 0."""
    for k in names:
        v = model._p[k]
        if np.any(np.asarray(v) <= 0):
            raise ValidationError(f"{k} must be > 0 for junction model {model.name!r}, got {v!r}")


def require_in_range(
    model: JunctionModel,
    name: str,
    unit: str,
    low: float,
    high: float = np.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise :class:`ValidationError` unless every value of parameter ``name`` is in the interval.

    The message names the parameter, the interval with its unit, the model and the first value
    outside (with its junction index for a per-junction array).
    """
    v = np.asarray(model._p[name], dtype=float)
    bad = (v < low) | (v > high)
    if low_open:
        bad |= v == low
    if high_open:
        bad |= v == high
    if np.any(bad):
        rng = format_range(low, None if np.isinf(high) else high, low_open=low_open, high_open=high_open)
        where = "" if v.ndim == 0 else f" at junction {int(np.flatnonzero(bad)[0])}"
        got = float(v) if v.ndim == 0 else float(v[bad][0])
        raise ValidationError(
            f"{name} must be in {rng} {unit} for junction model {model.name!r}, got {got!r}{where}"
        )


# ---------------------------------------------------------------------------- models
class RateBalanceModel(JunctionModel):
    """Rate-balance model (Miranda et al. 2020; Milano et al. 2022).

    State ``g`` in [0, 1]; ``dg/dt = kp (1 - g) - kd g``; ``kp = kp0 exp(eta_p |V|)``,
    ``kd = kd0 exp(-eta_d |V|)``; ``G = G_min + (G_max - G_min) g``. Defaults: the NW-ESN preset.
    """

    name = "rate_balance"
    defaults: ClassVar[dict[str, float]] = {
        "kp0_per_s": KP0_PER_S,
        "kd0_per_s": KD0_PER_S,
        "eta_p_per_V": ETA_P_PER_V,
        "eta_d_per_V": ETA_D_PER_V,
        "G_min_S": 1e-3,
        "G_max_S": 0.1,
    }
    spread_groups = (
        ("kp0_per_s",),
        ("kd0_per_s",),
        ("eta_p_per_V",),
        ("eta_d_per_V",),
        ("G_min_S", "G_max_S"),
    )
    state_bounds = (0.0, 1.0)

    def _validate(self) -> None:
        require_positive(self, "kp0_per_s", "kd0_per_s", "G_min_S", "G_max_S")
        self._slope = self._p["G_max_S"] - self._p["G_min_S"]
        for k in ("eta_p_per_V", "eta_d_per_V"):
            if np.any(np.asarray(self._p[k]) < 0):
                raise ValidationError(f"{k} must be >= 0 V^-1, got {self._p[k]!r}")
        if np.any(np.asarray(self._p["G_max_S"]) <= np.asarray(self._p["G_min_S"])):
            raise ValidationError(
                f"G_max_S must be > G_min_S, got G_min_S={self._p['G_min_S']!r}, "
                f"G_max_S={self._p['G_max_S']!r}"
            )

    def _k(self) -> tuple[Any, Any, Any, Any]:
        p = self._p
        return p["kp0_per_s"], p["kd0_per_s"], p["eta_p_per_V"], p["eta_d_per_V"]

    def conductance_S(self, state: np.ndarray) -> np.ndarray:
        return self._p["G_min_S"] + (self._p["G_max_S"] - self._p["G_min_S"]) * state

    def rhs(self, state: np.ndarray, V: np.ndarray) -> np.ndarray:
        return rate_balance_rhs(state, V, *self._k())

    def step_exact(self, state: np.ndarray, V: np.ndarray, dt_s: float) -> np.ndarray:
        return rate_balance_step(state, V, dt_s, *self._k())

    def resting_state(self, n: int) -> np.ndarray:
        kp0, kd0 = self._p["kp0_per_s"], self._p["kd0_per_s"]
        return np.broadcast_to(kp0 / (kp0 + kd0), (n,)).astype(float).copy()

    def rate_jacobian(self, state: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kp0, kd0, ep, ed = self._k()
        a = np.abs(V)
        kp = kp0 * np.exp(ep * a)
        kd = kd0 * np.exp(-ed * a)
        return -(kp + kd), np.sign(V) * (ep * kp * (1.0 - state) + ed * kd * state)

    def conductance_slope_S(self, state: np.ndarray) -> np.ndarray:
        return self._slope  # G is linear in g: a constant (scalar or per junction)

    def rate_constant_per_s(self, state: np.ndarray, V: np.ndarray) -> np.ndarray:
        kp0, kd0, ep, ed = self._k()
        a = np.abs(V)
        with np.errstate(over="ignore"):
            return kp0 * np.exp(ep * a) + kd0 * np.exp(-ed * a)

    def stage_solve(
        self, psi: np.ndarray, V: np.ndarray, c_s: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Closed form: the stage equation is linear in ``g`` at fixed ``V``.

        ``g = (psi + c kp) / (1 + c (kp + kd))``, evaluated as ``(psi q + 1) / (q + 1 + r)`` with
        ``q = 1 / (c kp)`` and ``r = kd / kp`` so that it stays finite at any voltage. For ``psi``
        in [0, 1] the result is a convex combination of ``psi`` and ``g_inf(V)``, so it is in
        [0, 1] as well.
        """
        kp0, kd0, ep, ed = self._k()
        a = np.abs(V)
        q = np.exp(a * -ep)
        q *= 1.0 / (c_s * kp0)
        r = np.exp(a * -(ep + ed))
        r *= kd0 / kp0
        inv = q + r
        inv += 1.0
        np.reciprocal(inv, out=inv)
        g = psi * q
        g += 1.0
        g *= inv
        dg_dv = (1.0 - g) * ep
        dg_dv += (r * g) * ed
        dg_dv *= inv
        dg_dv *= np.sign(V)
        q *= inv
        return g, dg_dv, q


#: Noise of the stochastic rate balance fitted by Milano et al. (Nat. Commun. 2025): diffusion
#: ``sigma`` in 1/sqrt(s), jump rate per junction in 1/s and exponent of the power-law jump sizes
#: (defaults of :class:`StochasticRateBalanceModel`, preset ``"milano2025"``).
MILANO2025_NOISE: dict[str, float] = {
    "sigma_per_sqrt_s": 3.2e-4,
    "jump_rate_per_s": 0.082,
    "jump_exponent": 2.78,
}


class StochasticRateBalanceModel(RateBalanceModel):
    """Rate balance with Ornstein-Uhlenbeck noise and power-law jumps (Milano et al., Nat. Commun. 2025).

    Each junction follows the stochastic differential equation

    ``dg = [kp(V) (1 - g) - kd(V) g] dt + sigma dW + dJ``

    with the drift of :class:`RateBalanceModel` (``kp = kp0 exp(eta_p |V|)``,
    ``kd = kd0 exp(-eta_d |V|)``, ``G = G_min + (G_max - G_min) g``), ``W`` a standard Wiener
    process and ``J`` a compound Poisson process, independent between junctions. Linearised at a
    fixed voltage the drift is ``-k (g - g_inf)`` with the relaxation rate ``k = kp + kd``, so
    between jumps ``g`` is an Ornstein-Uhlenbeck process; its stationary standard deviation is
    ``sigma / sqrt(2 k)``, ``sigma / sqrt(2 (kp0 + kd0))`` at 0 V. The state is kept in [0, 1] by
    reflection at the bounds (see :mod:`nwphys.dynamics.stochastic`).

    Parameters
    ----------
    kp0_per_s, kd0_per_s, eta_p_per_V, eta_d_per_V, G_min_S, G_max_S : float or ndarray
        The drift and the conductance, as in :class:`RateBalanceModel` (same defaults, the NW-ESN
        kinetics; preset ``"milano2025"`` has the published fit).
    sigma_per_sqrt_s : float or ndarray, shape (n_junctions,)
        Diffusion coefficient ``sigma`` in 1/sqrt(s) (units of g per square root of a second;
        >= 0; default 3.2e-4, the published fit).
    jump_rate_per_s : float or ndarray
        Rate of the jumps of each junction in 1/s (>= 0; default 0.082, the published fit).
    jump_exponent : float or ndarray
        Exponent ``a`` of the jump sizes (> 1; default 2.78, the published fit): the magnitudes
        ``|J|`` have the density ``proportional to x^-a`` on ``[jump_min, jump_max]``.
    jump_min, jump_max : float or ndarray
        Bounds of the jump magnitudes in units of g (``0 < jump_min < jump_max <= 1``; defaults
        1e-3 and 1).

    Notes
    -----
    The published fit gives the kinetics, ``sigma``, the jump rate and the exponent of the
    power law. The bounds of the jump-size law (``jump_min``, ``jump_max``) and the sign of a jump
    (``+`` or ``-`` with probability 1/2 each) are choices of this package: a power law with
    exponent ``a > 1`` needs a lower cut-off to be normalisable, and a jump cannot exceed the
    whole range of ``g``.

    The deterministic integrators refuse this model (``stochastic`` is True): :meth:`drift_model`
    is its drift alone, and :class:`hardware.SimulatedDevice` integrates the noise with the split
    step of :mod:`nwphys.dynamics.stochastic`. Device-to-device variability
    (:func:`make_junction_model` with ``spread``) scatters the kinetic and conductance groups of
    :attr:`RateBalanceModel.spread_groups`; the noise parameters stay as given.
    """

    name = "rate_balance_ou"
    stochastic = True
    #: parameters of the noise (the others are those of the drift, :class:`RateBalanceModel`)
    noise_param_names: ClassVar[tuple[str, ...]] = (
        "sigma_per_sqrt_s",
        "jump_rate_per_s",
        "jump_exponent",
        "jump_min",
        "jump_max",
    )
    defaults: ClassVar[dict[str, float]] = {
        **RateBalanceModel.defaults,
        **MILANO2025_NOISE,
        "jump_min": 1e-3,
        "jump_max": 1.0,
    }

    def _validate(self) -> None:
        super()._validate()
        require_in_range(self, "sigma_per_sqrt_s", "s^-1/2", 0.0)
        require_in_range(self, "jump_rate_per_s", "s^-1", 0.0)
        require_in_range(self, "jump_exponent", "(dimensionless)", 1.0, low_open=True)
        require_in_range(self, "jump_min", "(units of g)", 0.0, 1.0, low_open=True, high_open=True)
        require_in_range(self, "jump_max", "(units of g)", 0.0, 1.0, low_open=True)
        lo, hi = np.asarray(self._p["jump_min"]), np.asarray(self._p["jump_max"])
        if np.any(hi <= lo):
            raise ValidationError(
                f"jump_max must be > jump_min for junction model {self.name!r}, got "
                f"jump_min={self._p['jump_min']!r}, jump_max={self._p['jump_max']!r}"
            )

    @property
    def noise_params(self) -> dict[str, Any]:
        """Copy of the noise parameters (scalars as float, per-junction values as arrays)."""
        p = self.params
        return {k: p[k] for k in self.noise_param_names}

    def drift_model(self) -> RateBalanceModel:
        """The deterministic model of the drift: a :class:`RateBalanceModel` with the six
        kinetic and conductance parameters of this model (per-junction arrays kept)."""
        p = self.params
        return RateBalanceModel(**{k: p[k] for k in RateBalanceModel.defaults})


class FilamentGapModel(JunctionModel):
    """Filament-gap model of Hochstetter et al., Nat. Commun. 12, 4008 (2021).

    State ``l`` (filament length, dimensionless) in ``[-lmax, lmax]``:
    ``dl/dt = (|V| - Vset) sign(V)`` above ``Vset``, ``-b (Vreset - |V|) sign(l)`` below ``Vreset``,
    0 in between; the state is clipped to ``+-lmax`` -- this saturation IS part of the published
    model (the filament cannot grow beyond ``lmax``), not a numerical safeguard. The conductance
    comes from the tunnelling gap (:func:`filament_gap_conductance`); the junction is fully on when
    ``|l| >= lcrit``.
    """

    name = "filament_gap"
    defaults: ClassVar[dict[str, float]] = {
        "Vset_V": 0.01,
        "Vreset_V": 0.005,
        "b": 10.0,
        "lcrit": 0.01,
        "lmax": 0.015,
        "Gon_S": 7.77e-5,
        "Goff_S": 7.77e-8,
    }
    spread_groups = (("Vset_V", "Vreset_V"), ("b",), ("Gon_S", "Goff_S"))

    def _validate(self) -> None:
        require_positive(self, "Vset_V", "Vreset_V", "b", "lcrit", "lmax", "Gon_S", "Goff_S")
        if np.any(np.asarray(self._p["Vreset_V"]) > np.asarray(self._p["Vset_V"])):
            raise ValidationError("Vreset_V must be <= Vset_V")
        if np.any(np.asarray(self._p["lcrit"]) > np.asarray(self._p["lmax"])):
            raise ValidationError("lcrit must be <= lmax")

    @property
    def state_bounds(self) -> tuple[float, float]:  # type: ignore[override]
        lmax = float(np.max(self._p["lmax"]))
        return (-lmax, lmax)

    @property
    def state_scale(self) -> float:  # type: ignore[override]
        return float(np.max(self._p["lmax"]))

    def conductance_S(self, state: np.ndarray) -> np.ndarray:
        p = self._p
        return filament_gap_conductance(state, p["lcrit"], p["Gon_S"], p["Goff_S"])

    def rhs(self, state: np.ndarray, V: np.ndarray) -> np.ndarray:
        p = self._p
        return filament_gap_rhs(state, V, p["Vset_V"], p["Vreset_V"], p["b"], p["lmax"])

    def step_exact(self, state: np.ndarray, V: np.ndarray, dt_s: float) -> np.ndarray:
        p = self._p
        return filament_gap_step(state, V, dt_s, p["Vset_V"], p["Vreset_V"], p["b"], p["lmax"])

    def resting_state(self, n: int) -> np.ndarray:
        return np.zeros(n)

    def rate_jacobian(self, state: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self._p
        a = np.abs(V)
        grow = (a > p["Vset_V"]) & ~(((state >= p["lmax"]) & (V > 0)) | ((state <= -p["lmax"]) & (V < 0)))
        shrink = (a < p["Vreset_V"]) & (state != 0)
        df_dv = np.where(grow, 1.0, np.where(shrink, p["b"] * np.sign(V) * np.sign(state), 0.0))
        return np.zeros_like(state, dtype=float), df_dv

    def conductance_slope_S(self, state: np.ndarray) -> np.ndarray:
        p = self._p
        c = _TUNNEL
        lcrit = p["lcrit"]
        inside = np.abs(state) < lcrit
        d = np.maximum(lcrit - np.abs(state), 0.0) * c["gap_max_nm"] / lcrit
        k = (2.0 / c["A"]) / np.sqrt(c["phi_V"]) / c["J1"]
        ex = np.exp(c["C0"] * d * c["phi_V"] ** 2)
        r_t = k * d * ex
        dr_dd = k * ex * (1.0 + c["C0"] * c["phi_V"] ** 2 * d)
        dd_dl = np.where(inside, -np.sign(state) * c["gap_max_nm"] / lcrit, 0.0)
        return -dr_dd * dd_dl / (r_t + 1.0 / p["Gon_S"]) ** 2

    def rate_constant_per_s(self, state: np.ndarray, V: np.ndarray) -> np.ndarray:
        # the rate does not depend on the state: no intrinsic relaxation time
        return np.zeros(np.shape(state))

    def stage_solve(
        self, psi: np.ndarray, V: np.ndarray, c_s: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Closed form: the rate is piecewise constant in the state, so the implicit stage equals
        the explicit update :func:`filament_gap_step` over ``c_s`` (saturation at ``+-lmax`` and the
        stop at 0 included)."""
        p = self._p
        s = filament_gap_step(psi, V, c_s, p["Vset_V"], p["Vreset_V"], p["b"], p["lmax"])
        a = np.abs(V)
        grow = (a > p["Vset_V"]) & (np.abs(s) < p["lmax"])
        shrink = (a < p["Vreset_V"]) & (s != 0)
        ds_dv = np.where(grow, c_s, np.where(shrink, c_s * p["b"] * np.sign(V) * np.sign(psi), 0.0))
        moving = (a > p["Vset_V"]) & (np.abs(s) >= p["lmax"]) | ((a < p["Vreset_V"]) & (s == 0))
        return s, ds_dv, np.where(moving, 0.0, 1.0)


#: Registry of junction models by name.
JUNCTION_MODELS: dict[str, type[JunctionModel]] = {
    RateBalanceModel.name: RateBalanceModel,
    StochasticRateBalanceModel.name: StochasticRateBalanceModel,
    FilamentGapModel.name: FilamentGapModel,
}

#: Published Ag nanowire junction conductances (Hochstetter et al., Nat. Commun. 2021: 12.9 kOhm
#: on, 12.9 MOhm off), in the units of the ``rate_balance`` model.
AG_JUNCTION_RANGE_S: dict[str, float] = {"G_min_S": 1.0 / 12.9e6, "G_max_S": 1.0 / 12.9e3}

#: Named parameter presets: preset name -> (model name, parameters). ``"nwesn"`` holds the NW-ESN
#: kinetics (:data:`KP0_PER_S` ...) with the default conductance range; ``"ag"`` the same kinetics
#: with the Ag conductances :data:`AG_JUNCTION_RANGE_S` (the junctions of the comparison's default
#: device, ``nwmodel.physical.mapping.DEVICE_JUNCTION_PARAMS``);
#: ``nwphys.geometry.network.DEFAULT_JUNCTION_PARAMS`` and
#: ``nwmodel.physical.mapping.NWESN_JUNCTION_PARAMS`` are copies of it. ``"milano2025"`` is the
#: stochastic rate balance (:class:`StochasticRateBalanceModel`) with the kinetics and noise fitted by
#: Milano et al. (Nat. Commun. 2025), the Ag conductances :data:`AG_JUNCTION_RANGE_S` and this
#: package's bounds of the jump sizes (1e-3 and 1).
JUNCTION_PRESETS: dict[str, tuple[str, dict[str, float]]] = {
    "nwesn": ("rate_balance", dict(RateBalanceModel.defaults)),
    "ag": ("rate_balance", {**RateBalanceModel.defaults, **AG_JUNCTION_RANGE_S}),
    "natmat2022": (
        "rate_balance",
        {
            "kp0_per_s": 2.555e-6,
            "kd0_per_s": 64.88,
            "eta_p_per_V": 34.92,
            "eta_d_per_V": 5.59,
            "G_min_S": 1.015e-3,
            "G_max_S": 2.723e-3,
        },
    ),
    "hochstetter2021": ("filament_gap", dict(FilamentGapModel.defaults)),
    "milano2025": (
        "rate_balance_ou",
        {
            "kp0_per_s": 5.2e-4,
            "kd0_per_s": 37.9,
            "eta_p_per_V": 1.29,
            "eta_d_per_V": 1.79,
            **AG_JUNCTION_RANGE_S,
            **MILANO2025_NOISE,
            "jump_min": 1e-3,
            "jump_max": 1.0,
        },
    ),
}


def register_junction_model(cls: type[JunctionModel]) -> type[JunctionModel]:
    """Add a user model class to :data:`JUNCTION_MODELS` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, JunctionModel)) or not cls.name:
        raise ValidationError("a junction model must subclass JunctionModel and set a non-empty name")
    JUNCTION_MODELS[cls.name] = cls
    return cls


def make_junction_model(
    name: str,
    *,
    preset: str | None = None,
    spread: float = 0.0,
    seed: int | np.random.Generator | None = None,
    n_junctions: int | None = None,
    **params: Any,
) -> JunctionModel:
    """Build a junction model by registry name.

    Parameters
    ----------
    name : str
        Registry key (``"rate_balance"``, ``"rate_balance_ou"``, ``"filament_gap"`` or a
        registered user model).
    preset : str, optional
        Start from a named parameter set of :data:`JUNCTION_PRESETS` (``"nwesn"``,
        ``"natmat2022"``, ``"hochstetter2021"``, ``"milano2025"``) or a junction preset file
        (``.json``, :func:`nwphys.io.presetfile.read_junction_preset`); ``params`` override it.
    spread : float
        Device-to-device variability: each parameter group of ``spread_groups`` is multiplied,
        per junction, by ``exp(spread * z)`` with ``z ~ N(0, 1)`` (median = nominal value; groups
        such as ``(G_min_S, G_max_S)`` share one factor so their order is kept). 0 = identical junctions.
    seed : int or Generator, optional
        Seed of the variability draw (required when ``spread > 0``).
    n_junctions : int, optional
        Number of junctions (required when ``spread > 0``).
    **params
        Model parameters (see the model class).

    Returns
    -------
    JunctionModel
    """
    if name not in JUNCTION_MODELS:
        raise ValidationError(
            f"junction model must be one of {', '.join(map(repr, JUNCTION_MODELS))}, got {name!r}"
        )
    cls = JUNCTION_MODELS[name]
    merged: dict[str, Any] = {}
    if preset is not None:
        from nwphys.io.presetfile import resolve_junction_preset

        pmodel, pparams = resolve_junction_preset(preset)
        if pmodel != name:
            raise ValidationError(f"preset {preset!r} belongs to model {pmodel!r}, not {name!r}")
        merged.update(pparams)
    merged.update(params)
    spread = check_real("spread", spread, low=0.0, high=2.0)
    if spread > 0:
        if n_junctions is None or seed is None:
            raise ValidationError("spread > 0 needs n_junctions and seed (variability is always seeded)")
        n = check_int("n_junctions", n_junctions, low=1)
        rng = make_rng(seed)
        base = cls(**merged).params
        for group in cls.spread_groups:
            factor = np.exp(spread * rng.standard_normal(n))
            for k in group:
                base[k] = np.asarray(base[k], dtype=float) * factor
        merged = base
    return cls(**merged)


def model_from_spec(name: str, params: Mapping[str, Any] | None = None) -> JunctionModel:
    """Build the junction model that a network, a device file or a run file describes.

    This is the one place that turns a stored ``(name, params)`` pair into a model, e.g.
    ``model_from_spec(network.junction_model, network.junction_params)`` for a
    :class:`~nwphys.geometry.network.NanowireNetwork` or ``model_from_spec(p["junction_model"],
    p["junction_params"])`` for the parameters of a run file.

    Parameters
    ----------
    name : str
        Registry key of the model (see :data:`JUNCTION_MODELS`).
    params : mapping of str to float (or array of shape (n_junctions,)), optional
        Model parameters; None or empty gives the model's defaults.

    Returns
    -------
    JunctionModel

    Raises
    ------
    ValidationError
        Unknown model name or parameter, or a parameter out of range.
    """
    return make_junction_model(name, **dict(params or {}))
