"""Pure rate functions of the junction models (arrays in, arrays out; no state, no checks).

The classes of :mod:`nwphys.junctions` are thin wrappers over these functions. Parameters may be
scalars or arrays broadcastable to the state, of shape (n_junctions,).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "filament_gap_conductance",
    "filament_gap_rhs",
    "filament_gap_step",
    "rate_balance_rhs",
    "rate_balance_step",
]


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
