"""Stochastic junctions: the noise of an Ornstein-Uhlenbeck process with jumps, and the split step.

The model (:class:`~nwphys.junctions.StochasticRateBalanceModel`) gives every junction the
stochastic differential equation

``dg = [kp(V) (1 - g) - kd(V) g] dt + sigma dW + dJ``

with ``W`` a standard Wiener process and ``J`` a compound Poisson process (rate ``jump_rate``,
magnitudes from a power law truncated to ``[jump_min, jump_max]``, sign +/- with probability 1/2),
independent between junctions.

Split step
----------
A held sample of ``dt_s`` (sources constant) is cut into ``n_substeps`` equal sub-steps of length
``h``. One sub-step is a Lie splitting:

(a) **drift**: the deterministic network integrator (a :class:`~nwphys.Stepper` of
    ``model.drift_model()``) advances ``g`` over ``h``, junction voltages and Kirchhoff's law
    included, to ``g_d``;
(b) **noise**: with the relaxation rate ``k = kp(V) + kd(V)`` of each junction at its voltage ``V``
    at the end of (a), held over the sub-step, :func:`ou_jump_increment` adds the exact transition
    noise of the linear drift ``-k (g - g_inf)``: ``sigma sqrt((1 - exp(-2 k h)) / (2 k)) Z`` with
    ``Z ~ N(0, 1)`` (``sigma sqrt(h)`` in the limit ``k -> 0``), and ``sum_i s_i |J_i| exp(-k (h -
    tau_i))`` over ``N ~ Poisson(jump_rate h)`` jumps at uniform times ``tau_i`` in the sub-step,
    each decayed over the rest of the sub-step as the linear drift decays it;
(c) **reflection**: a state below 0 or above 1 is reflected at the bound (``g -> -g``,
    ``g -> 2 - g``, repeated until it is inside, :func:`reflect_unit_interval`).

Why it is exact for a junction at constant voltage: there ``kp``, ``kd`` and ``k`` are constant
and the equation is linear, so

``g(t+h) = g_inf + (g(t) - g_inf) e^{-k h} + sigma int e^{-k (t+h-s)} dW(s) + sum_i J_i e^{-k (t+h-s_i)}``.

Step (a) gives the first two terms (in closed form with :func:`~nwphys.junctions.rate_balance_step`,
or to the integrator's tolerance), step (b) draws the two others from their exact law (a Gaussian
of variance ``sigma^2 (1 - e^{-2 k h}) / (2 k)``, and a compound Poisson sum with uniform jump
times). One split step is then the transition of the SDE in law, whatever ``h``; only the
reflection, which sees the end point of a sub-step and not a crossing inside it, is approximate
(and acts only within a few ``sigma / sqrt(2 k)`` of a bound). In a network the voltages move with
the states, ``k`` is frozen over the sub-step and the drift does not see the noise of its own
sub-step: the error then falls with ``h``; :class:`CoupledNoisePath` measures it (``docs/integrator.md``).

Randomness: every random function takes a :class:`numpy.random.Generator`; nothing here uses
global random state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nwphys._checks import check_int, check_real, make_rng
from nwphys.dynamics.stepper import Stepper, StepperOutput
from nwphys.errors import IntegrationError, ValidationError
from nwphys.junctions import JunctionModel

__all__ = [
    "CoupledNoisePath",
    "GeneratorNoise",
    "NoiseStep",
    "ou_jump_increment",
    "ou_noise_std",
    "power_law_jump_sizes",
    "reflect_unit_interval",
    "relaxation_rate_per_s",
    "split_step_run",
]

#: A noise step of the split step: ``(g_drift, k_per_s, t0_s, h_s) -> g``, the state after the
#: noise of the sub-step ``[t0_s, t0_s + h_s]`` (reflected into [0, 1]), given the state after the
#: drift and the relaxation rate of every junction (arrays of shape (n_junctions,)).
NoiseStep = Callable[[np.ndarray, np.ndarray, float, float], np.ndarray]


def _noise_params(model: JunctionModel, n: int) -> dict[str, np.ndarray]:
    """The noise parameters of a stochastic model as arrays of shape (n,)."""
    if not getattr(model, "stochastic", False):
        raise ValidationError(
            f"model must be a stochastic junction model (e.g. 'rate_balance_ou'), got {model.name!r}"
        )
    names = model.noise_param_names  # type: ignore[attr-defined]
    p = model.params
    return {k: np.broadcast_to(np.asarray(p[k], dtype=float), (n,)) for k in names}


def relaxation_rate_per_s(model: JunctionModel, V: np.ndarray) -> np.ndarray:
    """Relaxation rate ``k = kp(V) + kd(V)`` of each junction in 1/s.

    Parameters
    ----------
    model : JunctionModel
        A rate-balance model (deterministic or stochastic).
    V : ndarray, shape (n_junctions,)
        Junction voltages in volts.

    Returns
    -------
    ndarray, shape (n_junctions,)
        ``kp0 exp(eta_p |V|) + kd0 exp(-eta_d |V|)`` (``inf`` where it overflows; the noise of
        such a junction decays at once).
    """
    V = np.asarray(V, dtype=float)
    return np.asarray(model.rate_constant_per_s(np.zeros_like(V), V), dtype=float)


def ou_noise_std(k_per_s: np.ndarray, h_s: float, sigma_per_sqrt_s: Any) -> np.ndarray:
    """Standard deviation of the Ornstein-Uhlenbeck transition noise over ``h_s``.

    Parameters
    ----------
    k_per_s : ndarray, shape (n_junctions,)
        Relaxation rate in 1/s (>= 0; ``inf`` allowed).
    h_s : float
        Length of the sub-step in seconds (> 0).
    sigma_per_sqrt_s : float or ndarray, shape (n_junctions,)
        Diffusion coefficient in 1/sqrt(s).

    Returns
    -------
    ndarray, shape (n_junctions,)
        ``sigma sqrt((1 - exp(-2 k h)) / (2 k))`` in units of g, evaluated as
        ``sigma sqrt(h (-expm1(-x) / x))`` with ``x = 2 k h`` (full precision for small ``x``;
        ``sigma sqrt(h)`` at ``k = 0``, 0 at ``k = inf``).
    """
    x = 2.0 * np.asarray(k_per_s, dtype=float) * h_s
    factor = np.ones_like(x)
    pos = x > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        factor[pos] = -np.expm1(-x[pos]) / x[pos]
    return sigma_per_sqrt_s * np.sqrt(h_s * factor)


def power_law_jump_sizes(u: np.ndarray, exponent: Any, jump_min: Any, jump_max: Any) -> np.ndarray:
    """Jump magnitudes from uniform variates by the inverse of the truncated power law's CDF.

    The density is proportional to ``x^-a`` on ``[jump_min, jump_max]``; with ``b = 1 - a < 0``
    the CDF is ``F(x) = (x^b - m^b) / (M^b - m^b)``, so ``x = ((1 - u) m^b + u M^b)^(1/b)`` (a sum
    of two positive terms: no cancellation at either end).

    Parameters
    ----------
    u : ndarray
        Uniform variates in [0, 1).
    exponent, jump_min, jump_max : float or ndarray broadcastable to ``u``
        ``a > 1`` and the bounds ``0 < m < M`` (units of g).

    Returns
    -------
    ndarray, shape of ``u``
        Magnitudes in ``[jump_min, jump_max]``.
    """
    b = 1.0 - np.asarray(exponent, dtype=float)
    lo = np.power(jump_min, b)
    hi = np.power(jump_max, b)
    return np.power((1.0 - u) * lo + u * hi, 1.0 / b)


def reflect_unit_interval(g: np.ndarray) -> np.ndarray:
    """Reflect states into [0, 1] at the bounds: ``g < 0 -> -g``, ``g > 1 -> 2 - g``, repeated.

    Parameters
    ----------
    g : ndarray, shape (n_junctions,)
        States after the noise of a sub-step.

    Returns
    -------
    ndarray, shape (n_junctions,)
        A copy with every entry in [0, 1] (entries already inside are unchanged bit for bit).

    Raises
    ------
    IntegrationError
        A state is not finite (naming the junction).
    """
    out = np.array(g, dtype=float)
    if not np.all(np.isfinite(out)):
        j = int(np.flatnonzero(~np.isfinite(out))[0])
        raise IntegrationError(
            f"junction state {float(out[j])!r} after the noise is not finite at junction {j}"
        )
    far = np.abs(out) > 3.0
    if far.any():  # repeated reflection has period 2 in the unfolded state
        out[far] = np.mod(out[far], 2.0)
    while True:
        low = out < 0.0
        high = out > 1.0
        if not (low.any() or high.any()):
            return out
        out[low] = -out[low]
        out[high] = 2.0 - out[high]


def _jump_sum(
    idx: np.ndarray, signed_size: np.ndarray, to_end_s: np.ndarray, k_per_s: np.ndarray, n: int
) -> np.ndarray:
    """Sum per junction of the jumps decayed to the end of the sub-step, shape (n,)."""
    if idx.size == 0:
        return np.zeros(n)
    k = k_per_s[idx]
    # an infinite rate (overflow at a huge voltage) relaxes a jump at once; the maximum only
    # removes the rounding of a jump time that sits on a fine-grid boundary of a coupled path
    kf = np.where(np.isinf(k), 0.0, k)
    decay = np.where(np.isinf(k), 0.0, np.exp(-kf * np.maximum(to_end_s, 0.0)))
    return np.bincount(idx, weights=signed_size * decay, minlength=n)


def ou_jump_increment(
    g_drift: np.ndarray,
    k_per_s: np.ndarray,
    h_s: float,
    model: JunctionModel,
    rng: np.random.Generator,
) -> np.ndarray:
    """Steps (b) and (c) of the split step: add the noise of one sub-step and reflect.

    Parameters
    ----------
    g_drift : ndarray, shape (n_junctions,)
        States after the drift of the sub-step (step (a)).
    k_per_s : ndarray, shape (n_junctions,)
        Relaxation rate ``kp + kd`` of each junction in 1/s, held over the sub-step
        (:func:`relaxation_rate_per_s`).
    h_s : float
        Length of the sub-step in seconds (> 0).
    model : JunctionModel
        A stochastic model (``model.stochastic``): its ``sigma_per_sqrt_s``, ``jump_rate_per_s``,
        ``jump_exponent``, ``jump_min`` and ``jump_max``.
    rng : numpy.random.Generator
        Source of the noise. Per call it draws, in this order, ``n_junctions`` standard normals,
        ``n_junctions`` Poisson counts, then per jump a time, a magnitude and a sign.

    Returns
    -------
    ndarray, shape (n_junctions,)
        ``g_drift`` plus the Ornstein-Uhlenbeck transition noise and the decayed jumps, reflected
        into [0, 1] (see the module docstring).
    """
    g = np.asarray(g_drift, dtype=float)
    n = g.shape[0]
    k = np.asarray(k_per_s, dtype=float)
    h_s = check_real("h_s", h_s, low=0.0, low_open=True)
    if k.shape != g.shape:
        raise ValidationError(f"k_per_s must have the shape of g_drift {g.shape}, got {k.shape}")
    p = _noise_params(model, n)
    z = rng.standard_normal(n)
    counts = rng.poisson(p["jump_rate_per_s"] * h_s)
    out = g + ou_noise_std(k, h_s, p["sigma_per_sqrt_s"]) * z
    m = int(counts.sum())
    if m:
        idx = np.repeat(np.arange(n), counts)
        to_end = h_s * (1.0 - rng.random(m))  # h - tau with tau uniform in [0, h): in (0, h]
        size = power_law_jump_sizes(
            rng.random(m), p["jump_exponent"][idx], p["jump_min"][idx], p["jump_max"][idx]
        )
        sign = np.where(rng.random(m) < 0.5, -1.0, 1.0)
        out = out + _jump_sum(idx, sign * size, to_end, k, n)
    return reflect_unit_interval(out)


class GeneratorNoise:
    """The noise step of a simulation: :func:`ou_jump_increment` on a generator of its own.

    Parameters
    ----------
    model : JunctionModel
        A stochastic junction model.
    rng : numpy.random.Generator
        The stream of the junction noise (it advances with every call).
    """

    def __init__(self, model: JunctionModel, rng: np.random.Generator) -> None:
        _noise_params(model, 1)
        self.model = model
        self.rng = rng

    def __call__(self, g_drift: np.ndarray, k_per_s: np.ndarray, t0_s: float, h_s: float) -> np.ndarray:
        """See :data:`NoiseStep` (``t0_s`` is not used: every sub-step draws fresh noise)."""
        return ou_jump_increment(g_drift, k_per_s, h_s, self.model, self.rng)


class CoupledNoisePath:
    """One fixed noise path over ``[0, duration_s]``, shared by runs with different sub-steps.

    For measuring the strong error of the split step: runs at several sub-step lengths that take
    their noise from the same path follow the same realisation, so their difference is the error
    of the scheme, not of the draw. The path holds a fine grid of ``n_fine`` Brownian increments
    of length ``delta = duration_s / n_fine`` per junction and fixed jumps (times, junctions,
    signed magnitudes). A sub-step ``[t0, t1]`` must start and end on the fine grid; its noise,
    with ``k`` frozen, is

    ``sigma c(k) sum_j exp(-k (t1 - s_j)) dW_j + sum_{t0 < s_i <= t1} J_i exp(-k (t1 - s_i))``

    over the fine increments ``j`` inside the sub-step (``s_j`` the end of increment ``j``) and the
    jumps ``i`` inside it, with ``c(k) = sqrt((1 - exp(-2 k delta)) / (2 k delta))``. This factor
    makes the Gaussian part's variance ``sigma^2 (1 - exp(-2 k h)) / (2 k)`` exactly, for any
    sub-step on the grid: the same law as :func:`ou_jump_increment`, realised from one path. A
    jump sits in the fine increment that holds its time, so the grid decides which sub-step it
    belongs to.

    Parameters
    ----------
    model : JunctionModel
        A stochastic junction model (its noise parameters).
    n_junctions : int
        Number of junctions (>= 1).
    duration_s : float
        Length of the path in seconds (> 0).
    n_fine : int
        Number of fine increments (>= 1); memory ``8 n_fine n_junctions`` bytes.
    seed : int or numpy.random.Generator
        Source of the path.
    """

    def __init__(
        self,
        model: JunctionModel,
        n_junctions: int,
        duration_s: float,
        n_fine: int,
        seed: int | np.random.Generator,
    ) -> None:
        n = check_int("n_junctions", n_junctions, low=1)
        self.duration_s = check_real("duration_s", duration_s, low=0.0, low_open=True)
        self.n_fine = check_int("n_fine", n_fine, low=1)
        self.fine_step_s = self.duration_s / self.n_fine
        self.model = model
        self._p = _noise_params(model, n)
        rng = make_rng(seed)
        self._z = rng.standard_normal((self.n_fine, n))
        counts = rng.poisson(self._p["jump_rate_per_s"] * self.duration_s)
        m = int(counts.sum())
        idx = np.repeat(np.arange(n), counts)
        t = self.duration_s * rng.random(m)
        size = power_law_jump_sizes(
            rng.random(m), self._p["jump_exponent"][idx], self._p["jump_min"][idx], self._p["jump_max"][idx]
        )
        sign = np.where(rng.random(m) < 0.5, -1.0, 1.0)
        cell = np.minimum((t / self.fine_step_s).astype(np.int64), self.n_fine - 1)
        order = np.argsort(cell, kind="stable")
        self.jump_time_s = t[order]
        self.jump_junction = idx[order]
        self.jump_size = (sign * size)[order]
        self._jump_cell = cell[order]
        self.n_junctions = n

    def _index(self, t_s: float) -> int:
        x = t_s / self.fine_step_s
        j = round(x)
        if abs(x - j) > 1e-6 or not 0 <= j <= self.n_fine:
            raise ValidationError(
                f"t_s={t_s!r} s must lie on the fine grid of the noise path (multiples of "
                f"{self.fine_step_s!r} s in [0, {self.duration_s!r}] s)"
            )
        return int(j)

    def __call__(self, g_drift: np.ndarray, k_per_s: np.ndarray, t0_s: float, h_s: float) -> np.ndarray:
        """See :data:`NoiseStep`: the noise of the sub-step ``[t0_s, t0_s + h_s]`` from this path,
        added to ``g_drift`` and reflected into [0, 1]."""
        j0, j1 = self._index(t0_s), self._index(t0_s + h_s)
        if j1 <= j0:
            raise ValidationError(
                f"h_s must span at least one fine step of {self.fine_step_s!r} s, got {h_s!r}"
            )
        g = np.asarray(g_drift, dtype=float)
        k = np.asarray(k_per_s, dtype=float)
        delta = self.fine_step_s
        t1 = j1 * delta
        ends = (np.arange(j0, j1) + 1) * delta
        # (m, n) decay of each fine increment to t1 (t1 - ends >= 0); c = 0 where k is infinite
        weights = np.exp(-np.outer(t1 - ends, np.where(np.isinf(k), 0.0, k)))
        c = ou_noise_std(k, delta, 1.0) / np.sqrt(delta)
        dw = np.sqrt(delta) * np.einsum("mn,mn->n", weights, self._z[j0:j1])
        gauss = self._p["sigma_per_sqrt_s"] * c * dw
        a, b = np.searchsorted(self._jump_cell, [j0, j1])
        jumps = _jump_sum(
            self.jump_junction[a:b], self.jump_size[a:b], t1 - self.jump_time_s[a:b], k, self.n_junctions
        )
        return reflect_unit_interval(g + gauss + jumps)


def split_step_run(
    stepper: Stepper,
    model: JunctionModel,
    driven_V: np.ndarray,
    dt_s: float,
    *,
    n_substeps: int,
    noise: NoiseStep,
    probe_nodes: Sequence[int] | None = None,
    t0_s: float = 0.0,
) -> StepperOutput:
    """Held samples of a network of stochastic junctions by the split step (module docstring).

    Every sample is cut into ``n_substeps`` sub-steps; each sub-step runs the drift with
    ``stepper`` (one held sample of ``h = dt_s / n_substeps``), takes the relaxation rates at the
    junction voltages at its end, applies ``noise`` and sets the stepper's state. Each sample is
    read at the end of its hold, after its last noise step (one nodal solve at the final state).

    Parameters
    ----------
    stepper : Stepper
        The deterministic stepper of the drift, built with ``model.drift_model()``; its state and
        clock advance.
    model : JunctionModel
        The stochastic junction model (its relaxation rates and noise).
    driven_V : ndarray, shape (n_samples, n_driven)
        Source voltages of every held sample (volts).
    dt_s : float
        Hold time of each sample in seconds (> 0).
    n_substeps : int
        Sub-steps per sample (>= 1).
    noise : callable
        The noise step (:data:`NoiseStep`): a :class:`GeneratorNoise` in a simulation, a
        :class:`CoupledNoisePath` for measuring the strong error.
    probe_nodes : sequence of int, optional
        Nodes whose voltages are read at the end of every sample.
    t0_s : float
        Time of the start of the first sample on the clock of ``noise`` (seconds).

    Returns
    -------
    StepperOutput
        One reading per sample; ``stats`` adds up the drift's work and counts ``n_noise_steps``.
    """
    if not getattr(model, "stochastic", False):
        raise ValidationError(f"model must be a stochastic junction model, got {model.name!r}")
    m = check_int("n_substeps", n_substeps, low=1)
    dt = check_real("dt_s", dt_s, low=0.0, low_open=True)
    t0 = check_real("t0_s", t0_s)
    dv = stepper._check_driven(driven_V)  # the stepper's own check of the sources
    h = dt / m
    circuit = stepper.circuit
    a, b = circuit.edges[:, 0], circuit.edges[:, 1]
    every_node = np.arange(circuit.n_nodes)
    n = dv.shape[0]
    ne = circuit.n_electrodes
    out_V, out_I = np.empty((n, ne)), np.empty((n, ne))
    out_P = None
    stats: dict[str, int] = {"n_noise_steps": 0}
    g = stepper.g
    for s in range(n):
        row = dv[s : s + 1]
        for i in range(m):
            res = stepper.run(row, h, probe_nodes=every_node)
            V = res.node_voltage_V[0]
            k = relaxation_rate_per_s(model, V[a] - V[b])
            g = noise(res.g_final, k, t0 + (s * m + i) * h, h)
            stepper.set_state(g)
            for key, val in res.stats.items():
                stats[key] = stats.get(key, 0) + int(val)
            stats["n_noise_steps"] += 1
        r = stepper.read(dv[s], probe_nodes=probe_nodes)
        out_V[s] = r.electrode_voltage_V[0]
        out_I[s] = r.electrode_current_A[0]
        if r.node_voltage_V is not None:
            if out_P is None:
                out_P = np.empty((n, r.node_voltage_V.shape[1]))
            out_P[s] = r.node_voltage_V[0]
    return StepperOutput(out_V, out_I, out_P, np.array(g, dtype=float), stats)
