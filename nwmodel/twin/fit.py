"""Fit a device's junction parameters to its measured currents.

:func:`fit_junctions` replays the drive of a measurement (the applied voltages, step by step) on a
:class:`~hardware.SimulatedDevice` of the device's network with candidate junction parameters and
minimises the weighted difference of the driven electrode's current from the measured one with
:func:`scipy.optimize.least_squares` (trust region, in the logarithms of the parameters).

What is fitted
--------------
The rate-balance kinetics ``kp0_per_s``, ``kd0_per_s``, ``eta_p_per_V``, ``eta_d_per_V`` and the
conductance range ``G_min_S``, ``G_max_S`` (any of them can be held fixed). The geometry is the
network's: the fit changes the junctions, not the wires.

Weights, uncertainty and adequacy
---------------------------------
Two passes. The first weights reading ``i`` by ``1 / sqrt(sigma_A^2 + (rel_precision * I_i)^2)``
(``sigma_A``: the read noise, given or estimated from the second differences of the readings at
constant voltage; ``rel_precision``: the relative precision of a simulated current) and
minimises the plain sum of squares from the initial guess. Where the measurement has a noise
hold, :func:`estimate_noise` then measures the read noise and the junctions' diffusion, and the
second pass weights every reading by its own predicted standard deviation (read noise plus the
diffusion of every junction mapped to the current through its sensitivity) with a robust loss
(``soft_l1``: the jumps are rare, large residuals) from the first optimum.

The standard errors come from the curvature at the optimum, ``cov = s^2 (J^T J)^-1`` in log
space (``rel_std``: the relative standard error of each parameter), with ``s^2`` the robust
reduced chi-square: the squared scale of the weighted residuals from their median absolute value.
A parameter whose relative standard error exceeds :data:`MAX_REL_STD`, or a singular curvature,
stops an adequate fit with :class:`FitError` naming the parameter and what measurement would
identify it.

``adequate`` is ``reduced_chi2 <= MAX_REDUCED_CHI2``. The weights leave out the slow decay of
each jump, so a correct model at the published jump level scores above 1: 0.9 to 7.1 over six
rehearsals (two devices of 150 and 586 junctions). A wrong law (depression independent of the
voltage) scored 830 to 850 on the same data. A different random network of the same size and
density scored 8.6 to 12 400: two networks of one ensemble can look alike, so the fit cannot
always tell which of them was measured; the geometry digest stored with a characterisation
guards that instead.

Noise
-----
:func:`estimate_noise` reads the noise hold of a characterisation (constant read voltage after a
pulse): the residual against the fitted deterministic response has the autocovariance
``C(0) = s_r^2 + A`` and ``C(l) = A exp(-k l dt)``, ``k = kp + kd`` at the read voltage, which
separates the white read noise ``s_r`` from the junction noise. Near 0 V each junction is an
independent Ornstein-Uhlenbeck process of stationary variance ``sigma^2 / (2 k)``, and the input
current moves by ``dI/dg_k = (G_max - G_min) v_k^2 / V`` per unit of ``g_k`` (the sensitivity of a
two-terminal conductance to one branch, ``dG/dG_k = (v_k / V)^2``), so
``A = sigma_eff^2 / (2 k) sum_k (dI/dg_k)^2``. ``sigma_eff`` includes the variance of jumps
(``jump_rate E[J^2]``), which a second-order statistic cannot tell from diffusion; jumps are
counted separately as isolated increments beyond :data:`JUMP_THRESHOLD` robust standard
deviations, and converted to a rate per junction with the jump-size law of the model.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from nwmodel._checks import check_int, check_real
from nwmodel.errors import ExperimentError

__all__ = [
    "FIT_PARAMS",
    "MAX_REDUCED_CHI2",
    "MAX_REL_STD",
    "FitError",
    "JunctionFit",
    "estimate_noise",
    "fit_junctions",
    "replay",
]

#: The parameters that :func:`fit_junctions` can fit, in this order.
FIT_PARAMS: tuple[str, ...] = ("kp0_per_s", "kd0_per_s", "eta_p_per_V", "eta_d_per_V", "G_min_S", "G_max_S")
#: Largest relative standard error of a fitted parameter; above it the parameter is not identified.
MAX_REL_STD = 0.5
#: Largest (robust) reduced chi-square of an adequate fit (see the module notes for how it was set).
MAX_REDUCED_CHI2 = 20.0
#: Threshold of a jump, in robust standard deviations of the current increments.
JUMP_THRESHOLD = 8.0

#: What identifies each parameter (for the message of an unidentified one).
_NEEDS = {
    "kp0_per_s": "pulses at two or more amplitudes that potentiate junctions",
    "kd0_per_s": "a relaxation at the read voltage of several 1/kd0 after a pulse",
    "eta_p_per_V": "pulses at two or more amplitudes that potentiate junctions",
    "eta_d_per_V": "pulses at amplitudes where depression still competes (or an I-V sweep)",
    "G_min_S": "readings at rest (before any pulse)",
    "G_max_S": "a pulse strong enough to switch junctions fully on",
}


class FitError(ExperimentError):
    """A fit cannot start (bad input) or its result does not identify a parameter."""


class _Budget(Exception):
    """The fit used its replays (internal: turned into a FitError)."""


@dataclasses.dataclass(frozen=True)
class JunctionFit:
    """The result of :func:`fit_junctions`.

    Attributes
    ----------
    params : dict of str to float
        The junction parameters of the fitted model (fitted and fixed ones), SI units as named.
    rel_std : dict of str to float
        Relative standard error of every fitted parameter (from the curvature at the optimum; NaN
        where an inadequate fit's curvature is singular).
    fixed : tuple of str
        The parameters held at their initial value.
    initial : dict of str to float
        The starting point.
    junction_model : str
        The registry name of the fitted model.
    reduced_chi2 : float
        Robust reduced chi-square at the optimum (the squared scale of the weighted residuals from
        their median absolute value, per degree of freedom).
    adequate : bool
        Converged and ``reduced_chi2 <= MAX_REDUCED_CHI2``.
    converged : bool
        False when the fit used its ``max_simulations`` replays first: the fields then hold the
        best point it saw, without standard errors (NaN).
    noise_A : float
        The read-noise level used in the weights, in amperes.
    rms_residual_A : float
        Root-mean-square difference of the simulated from the measured current, in amperes.
    n_readings : int
    n_simulations : int
        Replays of the drive that the fit took.
    wall_time_s : float
    noise : dict of str to float
        :func:`estimate_noise`'s result (empty when the measurement has no noise hold).
    """

    params: dict[str, float]
    rel_std: dict[str, float]
    fixed: tuple[str, ...]
    initial: dict[str, float]
    junction_model: str
    reduced_chi2: float
    adequate: bool
    converged: bool
    noise_A: float
    rms_residual_A: float
    n_readings: int
    n_simulations: int
    wall_time_s: float
    noise: dict[str, float] = dataclasses.field(default_factory=dict)

    def preset(self) -> tuple[str, dict[str, float], dict[str, Any]]:
        """The fit as a junction preset: ``(junction_model, params, extra)``.

        The kinetics and conductance range are the fitted values; the noise parameters, where
        estimated, make the model ``"rate_balance_ou"``. ``extra`` holds the relative standard
        errors, the read noise, the fit's quality and ``not_identified``: noise parameters the
        measurement could not show, stored as 0.
        """
        model, params = "rate_balance", dict(self.params)
        unidentified: list[str] = []
        sigma = self.noise.get("sigma_per_sqrt_s")
        if sigma is not None and math.isfinite(sigma):
            model = "rate_balance_ou"
            params["sigma_per_sqrt_s"] = float(sigma)
            rate = self.noise.get("jump_rate_per_s")
            identified = rate is not None and math.isfinite(rate)
            # a rate the hold could not show (no junction sensitive enough) is stored as 0 and named
            params["jump_rate_per_s"] = float(rate) if identified else 0.0
            if not identified:
                unidentified.append("jump_rate_per_s")
            for k in ("jump_exponent", "jump_min", "jump_max"):
                if k in self.noise:
                    params[k] = float(self.noise[k])
        extra = {
            "rel_std": dict(self.rel_std),
            "read_noise_A": self.noise.get("read_noise_A", self.noise_A),
            "reduced_chi2": self.reduced_chi2,
            "adequate": self.adequate,
            "not_identified": unidentified,
        }
        return model, params, extra

    def write_preset(self, path: Any, *, force: bool = False) -> Any:
        """Write :meth:`preset` as a junction preset file (:func:`nwphys.write_junction_preset`),
        which ``SimulatedDeviceSpec.from_preset`` and ``nwhil device generate --preset`` accept."""
        from nwphys.io.presetfile import write_junction_preset

        model, params, extra = self.preset()
        return write_junction_preset(path, model, params, extra=extra, force=force)

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values."""
        return dataclasses.asdict(self)


def _drive_of(measurement: Any, electrode: str | None) -> tuple[np.ndarray, float, list[str], list[str], int]:
    meta = dict(getattr(measurement, "metadata", {}) or {})
    inputs = list(meta.get("input_names") or [])
    ground = list(meta.get("ground_names") or [])
    v = np.asarray(measurement.input_V, dtype=float)
    if not inputs or v.ndim != 2 or v.shape[1] != len(inputs):
        raise FitError(
            "the measurement names no input electrodes for its input_V columns (not a measurement file?)"
        )
    dt = meta.get("dt_s")
    if dt is None:
        raise FitError("the measurement has no step duration dt_s")
    plan = meta.get("characterisation") or {}
    electrode = electrode or plan.get("electrode") or inputs[0]
    if electrode not in inputs:
        raise FitError(f"electrode {electrode!r} is not an input of the measurement ({', '.join(inputs)})")
    return v, float(dt), inputs, ground, inputs.index(electrode)


def _check_network(network: Any, measurement: Any, inputs: Sequence[str], ground: Sequence[str]) -> None:
    from nwmodel.twin.characterisation import geometry_sha256

    names = set(network.circuit().electrode_names)
    missing = [n for n in (*inputs, *ground) if n not in names]
    if missing:
        raise FitError(
            f"the measurement's electrodes {missing} are not on this device (it has {sorted(names)}): "
            f"a measurement of another device"
        )
    plan = (getattr(measurement, "metadata", {}) or {}).get("characterisation") or {}
    want = plan.get("geometry_sha256")
    if want is not None and want != geometry_sha256(network):
        raise FitError(
            f"the measurement was taken on a device of another geometry (sha256 {want[:12]}..., this "
            f"device {geometry_sha256(network)[:12]}...): give the device file it was measured on"
        )


def replay_method(junction_model: str) -> str:
    """The integration method of the twin's replays of ``junction_model``: the compiled engine's
    third-order scheme (``"esdirk3-sn"``) for the rate-balance law, which it integrates itself (the
    drift of the noisy law too), and the one-series ``"sdirk2"`` for any other law."""
    from nwphys.junctions import JUNCTION_MODELS, RateBalanceModel

    return "esdirk3-sn" if JUNCTION_MODELS[junction_model] is RateBalanceModel else "sdirk2"


def replay(
    network: Any,
    params: Mapping[str, float],
    input_V: np.ndarray,
    dt_s: float,
    *,
    inputs: Sequence[str],
    ground: Sequence[str],
    junction_model: str = "rate_balance",
    rtol: float = 1e-5,
    atol: float = 1e-7,
    until: int | None = None,
    probe: bool = False,
) -> Any:
    """Apply a measured drive to the network with junction parameters ``params``, from rest.

    Parameters
    ----------
    network : nwphys.NanowireNetwork
        The device (its geometry and electrodes; its own junction parameters are not used).
    params : mapping of str to float
        Junction parameters of ``junction_model``.
    input_V : ndarray, shape (n_steps, n_inputs)
        The applied voltages, one row per step.
    dt_s : float
        Step duration in seconds.
    inputs, ground : sequence of str
        The electrodes of the columns of ``input_V`` and the grounded electrodes.
    junction_model : str
        Registry name of the junction model (deterministic).
    rtol, atol : float
        Tolerances of the junction integration.
    until : int, optional
        Apply only the first ``until`` steps and return ``(measurement, oracle)``, the device's
        inside at that instant (:class:`hardware.OracleState`).
    probe : bool
        Read every node's voltage at every step (``Measurement.node_voltage_V``).

    Returns
    -------
    hardware.Measurement, or (Measurement, OracleState) when ``until`` is given
    """
    from hardware.backends.simulated import SimulatedDevice

    net = network.with_junctions(junction_model, params)
    dev = SimulatedDevice(
        net, inputs=list(inputs), outputs=[], ground=list(ground), method=replay_method(junction_model),
        rtol=rtol, atol=atol,
        max_abs_V=float(np.max(np.abs(input_V))) + 1.0, compliance_A=1e6, compliance_policy="record",
        probe_nodes=list(range(net.circuit().n_nodes)) if probe else None,
    )
    try:
        v = input_V if until is None else input_V[:until]
        m = dev.apply(v, dt_s)
        return m if until is None else (m, dev.oracle())
    finally:
        dev.close()


def _noise_floor_A(v: np.ndarray, current: np.ndarray) -> float:
    """Read noise estimated from the second differences of the readings at constant voltage."""
    const = np.all(v[2:] == v[1:-1], axis=1) & np.all(v[1:-1] == v[:-2], axis=1)
    d2 = (current[2:] - 2.0 * current[1:-1] + current[:-2])[const]
    if d2.size < 10:
        return 0.0
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


def _held_levels(v: np.ndarray) -> np.ndarray:
    """The distinct pulse levels of a drive: nonzero, held for 3 or more steps, the smallest (the
    read level) left out."""
    edges = np.flatnonzero(np.diff(v) != 0) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, v.size]
    held = np.unique(np.abs(v[starts[ends - starts >= 3]]))
    return held[held > 0][1:]


def _check_initial(initial: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in FIT_PARAMS:
        if k not in initial:
            raise FitError(f"the initial guess has no {k}")
        x = float(initial[k])
        if not (math.isfinite(x) and x > 0):
            raise FitError(f"non-physical initial guess: {k} = {initial[k]!r} (must be finite and > 0)")
        out[k] = x
    if out["G_max_S"] <= out["G_min_S"]:
        raise FitError(
            f"non-physical initial guess: G_max_S = {out['G_max_S']:g} must be > G_min_S = {out['G_min_S']:g}"
        )
    return out


def fit_junctions(
    network: Any,
    measurement: Any,
    *,
    initial: Mapping[str, float],
    fixed: Sequence[str] = (),
    electrode: str | None = None,
    noise_A: float | None = None,
    rel_precision: float = 1e-4,
    junction_model: str = "rate_balance",
    rtol: float = 1e-5,
    max_simulations: int = 400,
    noise_law: Mapping[str, float] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> JunctionFit:
    """Fit the junction kinetics and conductance range of ``network`` to a measurement.

    Parameters
    ----------
    network : nwphys.NanowireNetwork
        The device that was measured (geometry and electrodes).
    measurement : hardware.Measurement
        Readings of a drive from rest, e.g. :func:`~nwmodel.twin.characterisation.characterise`'s
        (its ``metadata`` names the electrodes and ``dt_s``).
    initial : mapping of str to float
        Starting values of every name of :data:`FIT_PARAMS` (finite, > 0, ``G_max_S > G_min_S``).
    fixed : sequence of str
        Parameters held at their initial value.
    electrode : str, optional
        The driven input whose current is fitted (default: the characterised one, else the first).
    noise_A : float, optional
        Read noise of the currents in amperes (default: estimated from the readings).
    rel_precision : float
        Relative precision of a simulated current (weights' floor), in (0, 0.1].
    junction_model : str
        The deterministic model fitted (``"rate_balance"``; a registered model with the same
        parameters may be given).
    rtol : float
        Relative tolerance of the junction integration in every replay.
    max_simulations : int
        Most replays of the drive, Jacobian estimates included (>= 10); a fit that needs more
        stops with :class:`FitError`.
    noise_law : mapping, optional
        ``jump_exponent``, ``jump_min``, ``jump_max`` of the jump-size law used to turn counted
        jumps into a rate per junction (default: the ``"rate_balance_ou"`` model's).
    progress : callable(n_simulations, cost), optional

    Returns
    -------
    JunctionFit

    Raises
    ------
    FitError
        A measurement of another device, too few readings, a non-physical initial guess, or (for
        an adequate fit) a parameter that the measurement does not identify (named, with what
        would identify it). An inadequate fit, or one that used its replays before converging, is
        returned with ``adequate=False`` (and ``converged=False``).
    """
    from scipy.optimize import least_squares

    start = time.perf_counter()
    v, dt, inputs, ground, k_in = _drive_of(measurement, electrode)
    _check_network(network, measurement, inputs, ground)
    init = _check_initial(initial)
    fixed = tuple(fixed)
    bad = [f for f in fixed if f not in FIT_PARAMS]
    if bad:
        raise FitError(f"fixed names unknown parameters {bad}; fittable: {', '.join(FIT_PARAMS)}")
    free = [p for p in FIT_PARAMS if p not in fixed]
    if not free:
        raise FitError("every parameter is fixed: nothing to fit")
    current = np.asarray(measurement.input_current_A, dtype=float)[:, k_in]
    if not np.all(np.isfinite(current)):
        raise FitError("the measured currents hold NaN or inf")
    if current.size < 10 * len(free):
        raise FitError(
            f"too few readings to identify {len(free)} parameters: {current.size} (need >= {10 * len(free)})"
        )
    held = _held_levels(v[:, k_in])
    if {"kp0_per_s", "eta_p_per_V"} <= set(free) and held.size < 2:
        raise FitError(
            f"kp0_per_s and eta_p_per_V need pulses at two or more amplitudes (held >= 3 steps); the "
            f"drive holds {held.size} above the read level"
        )
    rel_precision = check_real("rel_precision", rel_precision, low=0.0, high=0.1, low_open=True)
    max_simulations = check_int("max_simulations", max_simulations, low=10)
    sigma = _noise_floor_A(v, current) if noise_A is None else check_real("noise_A", noise_A, low=0.0)
    sigma = max(sigma, 1e-9 * float(np.max(np.abs(current))), 1e-300)
    w = 1.0 / np.sqrt(sigma**2 + (rel_precision * current) ** 2)
    n_sim = 0
    best: dict[str, Any] = {}

    def params_of(x: np.ndarray) -> dict[str, float]:
        p = dict(init)
        p.update({k: float(math.exp(xi)) for k, xi in zip(free, x, strict=True)})
        return p

    def residual(x: np.ndarray) -> np.ndarray:
        nonlocal n_sim
        p = params_of(x)
        if p["G_max_S"] <= p["G_min_S"] * (1 + 1e-9):
            return np.full(current.size, 1e6)
        n_sim += 1
        if n_sim > max_simulations:
            raise _Budget
        m = replay(network, p, v, dt, inputs=inputs, ground=ground, junction_model=junction_model, rtol=rtol)
        r = (np.asarray(m.input_current_A[:, k_in]) - current) * w
        cost = float(r @ r)
        if cost < best.get("cost", np.inf):
            best.update(cost=cost, x=np.array(x), fun=r)
        if progress is not None:
            progress(n_sim, float(0.5 * r @ r))
        return r

    def solve(x0: np.ndarray, loss: str) -> Any:
        best.clear()
        try:
            return least_squares(
                residual, x0, method="trf", x_scale=1.0, diff_step=1e-4, max_nfev=max_simulations,
                xtol=1e-8, ftol=1e-10, gtol=1e-10, loss=loss, f_scale=1.0,
            )
        except FitError:
            raise
        except _Budget:  # the best point seen, without a curvature: not converged
            if "x" not in best:
                raise FitError(f"max_simulations={max_simulations} ended the fit before it started") from None
            return SimpleNamespace(x=best["x"], fun=best["fun"], jac=None)
        except Exception as exc:  # a replay that fails names its cause; the fit says where it was
            raise FitError(f"a replay failed during the fit ({type(exc).__name__}: {exc})") from exc

    sol = solve(np.log([init[k] for k in free]), "linear")
    law = dict(noise_law or {})
    sim1 = sol.fun / w + current
    noise = estimate_noise(network, params_of(sol.x), measurement, k_in=k_in, simulated_A=sim1, law=law,
                           junction_model=junction_model, rtol=rtol)
    if sol.jac is not None and noise and 0 < noise["sigma_per_sqrt_s"] < math.inf:
        # second pass: weights from the whole noise model (read noise and junction noise)
        nz = {**noise, "read_noise_A": noise["read_noise_A"] if noise_A is None else float(noise_A)}
        sd = _reading_noise_A(network, params_of(sol.x), measurement, k_in, nz, junction_model, rtol,
                              hold_s=float(plan_of(measurement).get("pulse_s", 0.0)) or None)
        w = 1.0 / np.sqrt(sd**2 + (rel_precision * current) ** 2)
        sol = solve(sol.x, "soft_l1")  # robust: the jumps are rare, large residuals
    r = sol.fun
    # robust reduced chi-square: the squared scale of the weighted residuals from their median
    # absolute value, so that a few jumps do not decide it (equal to the mean square for Gaussian
    # residuals)
    s2 = float((1.4826 * np.median(np.abs(r))) ** 2) * current.size / max(current.size - len(free), 1)
    p_fit = params_of(sol.x)
    converged = sol.jac is not None
    ok, rel = False, np.full(len(free), np.nan)
    if converged:
        jtj = sol.jac.T @ sol.jac
        try:
            cov = np.linalg.inv(jtj) * s2
            rel = np.sqrt(np.clip(np.diag(cov), 0.0, None))
            ok = bool(np.all(np.isfinite(rel)) and np.linalg.cond(jtj) < 1e14)
        except np.linalg.LinAlgError:
            ok = False
    adequate = converged and bool(s2 <= MAX_REDUCED_CHI2)
    if not ok:
        rel = np.full(len(free), np.nan)
    if not ok and adequate:
        col = np.linalg.norm(sol.jac, axis=0)
        worst = free[int(np.argmin(col))]
        raise FitError(
            f"the measurement does not identify {worst} (singular curvature at the optimum); "
            f"it needs {_NEEDS[worst]}"
        )
    unident = [(k, float(s)) for k, s in zip(free, rel, strict=True) if s > MAX_REL_STD]
    if unident and adequate:  # an inadequate fit is reported as such, whatever its curvature
        k, s = max(unident, key=lambda t: t[1])
        raise FitError(
            f"the measurement does not identify {k} (relative standard error {s:.3g} > {MAX_REL_STD}); "
            f"it needs {_NEEDS[k]}"
        )
    sim = r / w + current
    if noise:
        noise = estimate_noise(network, p_fit, measurement, k_in=k_in, simulated_A=sim, law=law,
                               junction_model=junction_model, rtol=rtol)
    return JunctionFit(
        params=p_fit,
        rel_std={k: float(s) for k, s in zip(free, rel, strict=True)},
        fixed=fixed,
        initial=init,
        junction_model=junction_model,
        reduced_chi2=s2,
        adequate=adequate,
        converged=converged,
        noise_A=float(sigma),
        rms_residual_A=float(np.sqrt(np.mean((sim - current) ** 2))),
        n_readings=int(current.size),
        n_simulations=int(n_sim),
        wall_time_s=time.perf_counter() - start,
        noise=noise,
    )


def plan_of(measurement: Any) -> dict[str, Any]:
    """The characterisation plan stored with a measurement (empty for another drive)."""
    return dict((getattr(measurement, "metadata", {}) or {}).get("characterisation") or {})


def _reading_noise_A(network: Any, params: Mapping[str, float], measurement: Any, k_in: int,
                     noise: Mapping[str, float], junction_model: str, rtol: float,
                     hold_s: float | None) -> np.ndarray:
    """Standard deviation of every reading under the estimated noise, in amperes.

    Read noise plus junction noise: each junction's state varies by ``D / (2 k)`` (``k`` its
    relaxation rate at its voltage, ``D = sigma^2 + jump_rate E[J^2]`` the diffusion and the jumps'
    share; at most ``D hold_s``, the variance a pulse of that length accumulates), and moves the
    driven current by ``(G_max - G_min) v_k^2 / V``.
    """
    meta = measurement.metadata
    v = np.asarray(measurement.input_V, dtype=float)
    m = replay(network, params, v, float(meta["dt_s"]), inputs=meta["input_names"],
               ground=meta["ground_names"], junction_model=junction_model, rtol=rtol, probe=True)
    edges = network.circuit().edges
    vj = m.node_voltage_V[:, edges[:, 0]] - m.node_voltage_V[:, edges[:, 1]]
    a = np.abs(vj)
    k = params["kp0_per_s"] * np.exp(params["eta_p_per_V"] * a) + params["kd0_per_s"] * np.exp(
        -params["eta_d_per_V"] * a)
    diffusion = noise["sigma_per_sqrt_s"] ** 2
    var_g = diffusion / (2.0 * k)
    if hold_s:
        var_g = np.minimum(var_g, diffusion * hold_s)
    V = np.abs(v[:, k_in])
    with np.errstate(divide="ignore", invalid="ignore"):
        sens = np.where(V[:, None] > 0, (params["G_max_S"] - params["G_min_S"]) * vj**2 / V[:, None], 0.0)
    return np.sqrt(noise["read_noise_A"] ** 2 + np.sum(sens**2 * var_g, axis=1))


def _noise_hold(measurement: Any, k_in: int) -> tuple[int, int] | None:
    """Start and end (exclusive) of the characterisation's noise hold, None without one."""
    plan = (getattr(measurement, "metadata", {}) or {}).get("characterisation") or {}
    if not plan or float(plan.get("noise_s", 0.0)) <= 0:
        return None
    v = np.asarray(measurement.input_V, dtype=float)[:, k_in]
    read = float(plan["read_V"])
    n = v.size
    end = n - 1
    while end > 0 and v[end] != read:
        end -= 1
    start = end
    while start > 0 and v[start - 1] == read:
        start -= 1
    return (start, end + 1) if end - start >= 20 else None


def _jump_second_moment(law: Mapping[str, float]) -> float:
    """``E[J^2]`` of the truncated power law of jump sizes (exponent, jump_min, jump_max)."""
    a, lo, hi = float(law["jump_exponent"]), float(law["jump_min"]), float(law["jump_max"])
    norm = (lo ** (1 - a) - hi ** (1 - a)) / (a - 1)
    second = math.log(hi / lo) if a == 3 else (hi ** (3 - a) - lo ** (3 - a)) / (3 - a)
    return second / norm


def _d2_autocov(rho: float, lags: np.ndarray) -> np.ndarray:
    """Autocovariance at ``lags`` of the second differences of a stationary process with unit
    variance and autocorrelation ``rho**|l|`` (an Ornstein-Uhlenbeck process sampled at a step)."""
    c = np.array([1.0, -2.0, 1.0])
    out = np.zeros(lags.size)
    for n, m in enumerate(lags):
        for i in range(3):
            for j in range(3):
                out[n] += c[i] * c[j] * rho ** abs(int(m) + i - j)
    return out


def estimate_noise(
    network: Any,
    params: Mapping[str, float],
    measurement: Any,
    *,
    k_in: int,
    simulated_A: np.ndarray,
    law: Mapping[str, float] | None = None,
    junction_model: str = "rate_balance",
    rtol: float = 1e-5,
) -> dict[str, float]:
    """Read noise, junction noise and jump rate from the noise hold of a characterisation.

    The estimate uses the second differences of the residual (measured minus fitted current) over
    the hold, not the residual itself: a smooth misfit of the model barely enters them, so the
    noise level it gives is the measurement's, whatever the model. With white read noise of
    variance ``s_r^2`` and junction noise of current autocovariance ``A rho^|l|``
    (``rho = exp(-k dt)``, ``k = kp + kd`` at the read voltage), the autocovariance of the second
    differences at lags 0 to 3 is linear in ``(s_r^2, A)``; a non-negative least-squares solve gives
    both. Increments beyond :data:`JUMP_THRESHOLD` robust standard deviations are jumps: they are
    counted, and the second differences around them left out.

    Parameters
    ----------
    network : nwphys.NanowireNetwork
    params : mapping
        Fitted junction parameters.
    measurement : hardware.Measurement
        The characterisation (its plan marks the noise hold).
    k_in : int
        Column of the driven input.
    simulated_A : ndarray, shape (n_steps,)
        The fitted model's current at every step.
    law : mapping, optional
        ``jump_exponent``, ``jump_min``, ``jump_max`` (default: ``"rate_balance_ou"``'s).

    Returns
    -------
    dict
        ``read_noise_A``, ``sigma_per_sqrt_s`` (diffusion of ``g``, jumps excluded),
        ``jump_events_per_s`` (of the whole device), ``jump_rate_per_s`` (per junction, with the
        jump-size law), ``jump_exponent``, ``jump_min``, ``jump_max``, ``hold_s``,
        ``relaxation_rate_per_s``; empty without a noise hold.
    """
    from scipy.optimize import nnls

    hold = _noise_hold(measurement, k_in)
    if hold is None:
        return {}
    from nwphys.junctions import JUNCTION_MODELS

    ou = JUNCTION_MODELS["rate_balance_ou"].defaults
    lawd = {**{k: ou[k] for k in ("jump_exponent", "jump_min", "jump_max")}, **dict(law or {})}
    s, e = hold
    meta = measurement.metadata
    dt = float(meta["dt_s"])
    v = np.asarray(measurement.input_V, dtype=float)
    r = np.asarray(measurement.input_current_A, dtype=float)[s:e, k_in] - simulated_A[s:e]
    V = float(v[s, k_in])
    _, oracle = replay(network, params, v, dt, inputs=meta["input_names"], ground=meta["ground_names"],
                       junction_model=junction_model, rtol=rtol, until=(s + e) // 2)
    vj = oracle.junction_voltage_V
    kk = float(np.median(params["kp0_per_s"] * np.exp(params["eta_p_per_V"] * np.abs(vj))
                         + params["kd0_per_s"] * np.exp(-params["eta_d_per_V"] * np.abs(vj))))
    sens = (params["G_max_S"] - params["G_min_S"]) * vj**2 / abs(V)  # dI/dg_k, A per unit g
    S = float(sens @ sens)
    # jumps: isolated increments beyond the threshold, each event counted once
    d1 = np.diff(r)
    rs = 1.4826 * float(np.median(np.abs(d1 - np.median(d1))))
    thr = JUMP_THRESHOLD * rs
    big = np.abs(d1) > thr
    events = int(np.count_nonzero(big[1:] & ~big[:-1]) + (1 if big.size and big[0] else 0))
    # second differences away from the jumps (d2[i] spans r[i..i+2], d1[i] spans r[i..i+1])
    d2 = np.diff(r, 2)
    near = np.zeros(d2.size + 4, dtype=bool)
    for j in np.flatnonzero(big):
        near[max(j - 2, 0) : j + 3] = True
    keep = ~near[: d2.size]
    lags = np.arange(4)
    gam = np.array([float(np.mean((d2[:-m or None] * d2[m:])[keep[:-m or None] & keep[m:]])) for m in lags])
    white = np.array([6.0, -4.0, 1.0, 0.0])
    (s_r2, A), _ = nnls(np.c_[white, _d2_autocov(math.exp(-kk * dt), lags)], gam)
    sigma = math.sqrt(2.0 * kk * A / S) if S > 0 else math.nan
    T = (e - s) * dt
    alpha, jmin, jmax = float(lawd["jump_exponent"]), float(lawd["jump_min"]), float(lawd["jump_max"])

    def tail(x: np.ndarray) -> np.ndarray:  # P(|J| > x) of the truncated power law
        x = np.clip(x, jmin, jmax)
        return (x ** (1 - alpha) - jmax ** (1 - alpha)) / (jmin ** (1 - alpha) - jmax ** (1 - alpha))

    with np.errstate(divide="ignore"):
        seen = float(np.sum(tail(np.where(np.abs(sens) > 0, thr / np.abs(sens), np.inf))))
    return {
        "read_noise_A": math.sqrt(s_r2),
        "sigma_per_sqrt_s": sigma,
        "jump_events_per_s": events / T,
        "jump_rate_per_s": events / T / seen if seen > 0 else math.nan,
        "jump_exponent": alpha,
        "jump_min": jmin,
        "jump_max": jmax,
        "hold_s": T,
        "relaxation_rate_per_s": kk,
    }
