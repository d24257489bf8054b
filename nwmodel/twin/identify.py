"""The identifiability rehearsal: can a fit recover this device's junctions from a measurement?

:func:`rehearse_fit` takes a device whose junction parameters are known (a device file), and

1. chooses a characterisation for it (:func:`suggest_plan`, unless one is given);
2. measures it as a bench would, with noise at a stated level: the junctions become stochastic
   (``"rate_balance_ou"``: Ornstein-Uhlenbeck noise and jumps at the published level by default)
   and every current reading gets Gaussian read noise;
3. fits the deterministic model from a starting point off by the factors :data:`START_FACTORS`;
4. predicts a held-out drive (random pulses at random levels, not used in the fit) with the
   fitted model and compares it with the same noisy device's readings;
5. reports the true values, the fitted values, their relative errors against the targets
   (:data:`KINETIC_TARGET` for the four kinetic parameters, :data:`RANGE_TARGET` for the
   conductance range) and the noise estimates.

A user runs it before spending bench time: if the fit cannot recover the parameters of a
simulated copy of the device with this characterisation, it will not recover them on the bench.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from nwmodel._checks import check_real, make_rng
from nwmodel.twin.characterisation import Characterisation, characterise
from nwmodel.twin.fit import FIT_PARAMS, FitError, fit_junctions, replay, replay_method

__all__ = [
    "KINETIC_TARGET",
    "PUBLISHED_NOISE",
    "RANGE_TARGET",
    "START_FACTORS",
    "IdentifiabilityReport",
    "rehearse_fit",
    "rest_read_noise_A",
    "simulated_copy",
    "suggest_plan",
]

#: Largest relative error of a recovered kinetic parameter (kp0, kd0, eta_p, eta_d).
KINETIC_TARGET = 0.10
#: Largest relative error of the recovered conductance range (G_min, G_max).
RANGE_TARGET = 0.05
#: The fit starts from the true values times these factors (in :data:`FIT_PARAMS` order).
START_FACTORS: tuple[float, ...] = (2.0, 0.5, 1.3, 0.77, 1.5, 0.67)
#: Junction noise at the level Milano et al. (Nat Commun 2025) fitted to measured devices.
PUBLISHED_NOISE: dict[str, float] = {
    "sigma_per_sqrt_s": 3.2e-4,
    "jump_rate_per_s": 0.082,
    "jump_exponent": 2.78,
}
#: Kinetic parameter names (the rest of :data:`FIT_PARAMS` is the conductance range).
_KINETIC = FIT_PARAMS[:4]


@dataclasses.dataclass(frozen=True)
class IdentifiabilityReport:
    """What :func:`rehearse_fit` measured.

    Attributes
    ----------
    true : dict
        The device's junction parameters (the truth).
    fitted : dict
        The fitted parameters.
    rel_error : dict
        ``fitted / true - 1`` per fitted parameter.
    rel_std : dict
        The fit's own relative standard errors.
    within_target : bool
        Every kinetic parameter within :data:`KINETIC_TARGET` and the conductance range within
        :data:`RANGE_TARGET`, and the fit adequate.
    adequate : bool
        The fit's reduced chi-square is below :data:`~nwmodel.twin.fit.MAX_REDUCED_CHI2`.
    reduced_chi2 : float
    held_out_rel_rms : float
        RMS of ``predicted - measured`` current on the held-out drive, relative to the RMS of the
        measured current.
    held_out_noise_rel_rms : float
        The same for a second noisy measurement of the held-out drive against the first: the part
        of the prediction error that noise alone explains.
    noise_true : dict
        The noise applied (junction noise parameters and ``read_noise_A``).
    noise_fitted : dict
        :func:`~nwmodel.twin.fit.estimate_noise`'s estimates.
    plan : dict
        The characterisation used.
    n_simulations : int
    fit_wall_time_s : float
    wall_time_s : float
    """

    true: dict[str, float]
    fitted: dict[str, float]
    rel_error: dict[str, float]
    rel_std: dict[str, float]
    within_target: bool
    adequate: bool
    reduced_chi2: float
    held_out_rel_rms: float
    held_out_noise_rel_rms: float
    noise_true: dict[str, float]
    noise_fitted: dict[str, float]
    plan: dict[str, Any]
    n_simulations: int
    fit_wall_time_s: float
    wall_time_s: float

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values."""
        return dataclasses.asdict(self)


def _roles(network: Any) -> tuple[list[str], list[str]]:
    names = list(network.circuit().electrode_names)
    if len(names) < 2:
        raise FitError(f"the device needs two electrodes (an input and a ground), it has {names}")
    return [names[0]], [names[-1]]


def rest_read_noise_A(network: Any, params: Mapping[str, float], plan: Characterisation) -> float:
    """The rehearsals' default read noise: 1e-3 of the current at rest at the read level, in
    amperes (a good source-measure unit's resolution)."""
    inputs, ground = _roles(network)
    rest = replay(network, params, np.full((3, 1), plan.read_V), plan.dt_s, inputs=inputs, ground=ground)
    return 1e-3 * float(abs(rest.input_current_A[-1, 0]))


def _gain(network: Any, params: Mapping[str, float], amp: float, plan: Characterisation, inputs: list[str],
          ground: list[str]) -> float:
    """Conductance at the read level after one pulse of ``amp``, over the conductance at rest."""
    n_p, n_r = plan._n(plan.pulse_s), 3
    v = np.r_[np.full(n_r, plan.read_V), np.full(n_p, amp), np.full(n_r, plan.read_V)][:, None]
    m = replay(network, params, v, plan.dt_s, inputs=inputs, ground=ground)
    i = np.abs(m.input_current_A[:, 0])
    return float(i[-1] / i[n_r - 1])


def suggest_plan(
    network: Any,
    params: Mapping[str, float] | None = None,
    *,
    max_abs_V: float = 100.0,
    read_V: float | None = None,
) -> Characterisation:
    """A characterisation sized for a device's kinetics and geometry.

    The step is ``1 / (25 k)`` with ``k = kp0 + kd0`` the relaxation rate at rest; pulses last
    ``4 / k``, relaxations ``8 / k``, the noise hold ``40 / k``. The pulse amplitudes are found on
    the device: pulses on a geometric ladder of amplitudes (factor 1.25) until the conductance at
    the read level rises 3x (the lowest amplitude) and 100x (the highest) over rest, or stops
    rising (less than 10 % more per rung: the junctions on the paths are on), or the integrator
    cannot resolve the switching (the rung below is the highest); the middle one is their
    geometric mean, and the I-V sweep reaches the highest.

    Parameters
    ----------
    network : nwphys.NanowireNetwork
    params : mapping, optional
        The junction parameters to size the plan for (default: the network's own; for a bench,
        a prior guess).
    max_abs_V : float
        Highest amplitude allowed, in volts.
    read_V : float, optional
        Read level (default: 1 % of the lowest amplitude).

    Raises
    ------
    FitError
        No amplitude up to ``max_abs_V`` switches the device 3x.
    """
    src = network.junction_params if params is None else params
    p = {k: float(src[k]) for k in FIT_PARAMS}
    k = float(p["kp0_per_s"] + p["kd0_per_s"])
    vmax = check_real("max_abs_V", max_abs_V, low=0.0, low_open=True)
    dt = 1.0 / (25.0 * k)
    probe = Characterisation(amplitudes_V=(1.0,), pulse_s=4.0 / k, relax_s=8.0 / k,
                             read_V=0.01 if read_V is None else read_V, dt_s=dt)
    inputs, ground = _roles(network)
    amps = 0.1 * 1.25 ** np.arange(0, 80)
    amps = amps[amps <= vmax]
    from nwphys.errors import IntegrationError

    lo = hi = None
    g_prev = 0.0
    for a in amps:
        try:
            g = _gain(network, p, float(a), probe, inputs, ground)
        except IntegrationError:  # beyond what the integrator resolves: the previous level is the top
            hi = hi if lo is None else float(amps[max(np.searchsorted(amps, a) - 1, 0)])
            break
        if lo is None and g >= 3.0:
            lo = float(a)
        if g >= 100.0 or (lo is not None and g < 1.1 * g_prev):  # 100x, or saturated: the top
            hi = float(a)
            break
        g_prev = g
    if lo is None:
        raise FitError(f"no pulse up to max_abs_V={vmax:g} V raises the device's conductance 3x; allow more")
    hi = float(amps[-1]) if hi is None else hi
    hi = max(hi, lo * 1.5625)
    mid = math.sqrt(lo * hi)
    rv = 0.01 * lo if read_V is None else read_V
    return Characterisation(
        amplitudes_V=(round(lo, 6), round(mid, 6), round(hi, 6)), pulse_s=4.0 / k, relax_s=8.0 / k, read_V=rv,
        iv_amplitude_V=round(hi, 6), iv_s=8.0 / k, noise_s=40.0 / k, dt_s=dt, max_step_V=hi / 8,
    )


def _held_out_drive(plan: Characterisation, rng: np.random.Generator) -> np.ndarray:
    """Random pulses at random levels up to the plan's highest, each followed by a read: a drive
    the fit did not see."""
    from nwmodel.experiments.measurements import ramped

    hi = max(abs(a) for a in plan.amplitudes_V)
    n = plan._n(plan.pulse_s)
    parts = []
    for _ in range(6):
        parts.append(np.full(max(1, int(rng.integers(n // 2, 2 * n + 1))), float(rng.uniform(0.3, 1.0) * hi)))
        parts.append(np.full(max(1, int(rng.integers(n // 2, 2 * n + 1))), plan.read_V))
    return ramped(np.concatenate(parts), plan.max_step_V)


def simulated_copy(
    network: Any,
    plan: Characterisation,
    *,
    junction_noise: Mapping[str, float] | None = None,
    read_noise_A: float = 0.0,
    seed: int | np.random.Generator | None = 0,
    noise_substeps: int = 1,
    compliance_A: float = 1e6,
    compliance_policy: str = "record",
) -> Any:
    """A :class:`~hardware.SimulatedDevice` of ``network`` to characterise as a bench would.

    The first electrode is driven and the last grounded (the others float); the limit is the
    plan's highest level plus 1 V.

    Parameters
    ----------
    network : nwphys.NanowireNetwork
        ``rate_balance`` or ``rate_balance_ou`` junctions.
    plan : Characterisation
    junction_noise : mapping, optional
        Noise parameters of ``"rate_balance_ou"`` on the network's kinetics (``{}``: none).
        Default: the network's own noise for stochastic junctions, else :data:`PUBLISHED_NOISE`.
    read_noise_A : float
        Read noise of every current, in amperes.
    seed : int or Generator
        Seed of the device's noise.
    noise_substeps : int
        Split-step sub-steps per reading.
    compliance_A : float
        Source compliance in amperes.
    compliance_policy : {"record", "raise"}
    """
    from hardware.backends.simulated import SimulatedDevice

    if network.junction_model not in ("rate_balance", "rate_balance_ou"):
        raise FitError(
            "the digital twin fits the rate-balance kinetics; this device's junctions are "
            f"{network.junction_model!r}"
        )
    true = {k: float(network.junction_params[k]) for k in FIT_PARAMS}
    if junction_noise is None and network.junction_model == "rate_balance_ou":
        noise = {k: float(v) for k, v in network.junction_params.items() if k not in FIT_PARAMS}
    else:
        noise = dict(PUBLISHED_NOISE if junction_noise is None else junction_noise)
    copy = network.with_junctions("rate_balance_ou", {**true, **noise}) if noise else network.with_junctions(
        "rate_balance", true)
    inputs, ground = _roles(network)
    vmax = max(abs(a) for a in (*plan.amplitudes_V, plan.iv_amplitude_V)) + 1.0
    return SimulatedDevice(
        copy, inputs=inputs, outputs=[], ground=ground, method=replay_method("rate_balance"), rtol=1e-5,
        atol=1e-7,
        max_abs_V=vmax, compliance_A=compliance_A, compliance_policy=compliance_policy,
        read_noise_A=read_noise_A, noise_substeps=noise_substeps, seed=seed,
    )


def rehearse_fit(
    network: Any,
    *,
    plan: Characterisation | None = None,
    junction_noise: Mapping[str, float] | None = None,
    read_noise_A: float | None = None,
    noise_substeps: int = 1,
    fit_model: str = "rate_balance",
    seed: int | np.random.Generator = 0,
    start_factors: tuple[float, ...] = START_FACTORS,
    max_abs_V: float = 100.0,
    progress: Any = None,
) -> IdentifiabilityReport:
    """Measure a simulated copy of ``network`` with noise, fit it, and compare with the truth.

    Parameters
    ----------
    network : nwphys.NanowireNetwork
        The device; its junction parameters (``rate_balance`` or ``rate_balance_ou``) are the
        truth. Its first electrode is driven and its last grounded; the others float.
    plan : Characterisation, optional
        Default: :func:`suggest_plan` for the device.
    junction_noise : mapping, optional
        Noise parameters of ``"rate_balance_ou"`` added to the junctions (default
        :data:`PUBLISHED_NOISE`; ``{}`` or ``{"sigma_per_sqrt_s": 0, "jump_rate_per_s": 0}`` for
        none). A device that already has stochastic junctions keeps its own unless this is given.
    read_noise_A : float, optional
        Standard deviation of the read noise of every current, in amperes (default: 1e-3 of the
        current at rest at the read level, a good source-measure unit's resolution).
    noise_substeps : int
        Sub-steps of the stochastic split step per reading.
    fit_model : str
        The deterministic model the fit assumes (another registered model with the same
        parameters tests that a wrong model is caught).
    seed : int or Generator
        Seed of the noise (the measurement's and the held-out drive's streams are independent
        children of it).
    start_factors : tuple of 6 float
        The fit starts at the true values times these.
    max_abs_V : float
        Highest voltage the plan may use, in volts.
    progress : callable(n_simulations, cost), optional

    Returns
    -------
    IdentifiabilityReport
    """
    t0 = time.perf_counter()
    if network.junction_model not in ("rate_balance", "rate_balance_ou"):
        raise FitError(
            "the rehearsal fits the rate-balance kinetics; this device's junctions are "
            f"{network.junction_model!r}"
        )
    true = {k: float(network.junction_params[k]) for k in FIT_PARAMS}
    if len(start_factors) != len(FIT_PARAMS):
        raise FitError(f"start_factors needs {len(FIT_PARAMS)} factors, got {len(start_factors)}")
    rng = make_rng(seed, "seed")
    s_meas, s_held, s_held2 = (int(x) for x in rng.integers(0, 2**63 - 1, size=3))
    plan = suggest_plan(network, true, max_abs_V=max_abs_V) if plan is None else plan
    inputs, ground = _roles(network)
    if read_noise_A is None:
        read_noise_A = rest_read_noise_A(network, true, plan)
    read_noise_A = check_real("read_noise_A", read_noise_A, low=0.0)

    def device(s: int) -> Any:
        return simulated_copy(network, plan, junction_noise=junction_noise, read_noise_A=read_noise_A, seed=s,
                              noise_substeps=noise_substeps)

    dev = device(s_meas)
    try:
        m = characterise(dev, plan)
        noise = dev.metadata.get("junction_noise") or {}
    finally:
        dev.close()
    start = {k: true[k] * f for k, f in zip(FIT_PARAMS, start_factors, strict=True)}
    tf = time.perf_counter()
    fit = fit_junctions(network, m, initial=start, noise_A=read_noise_A, junction_model=fit_model,
                        progress=progress)
    fit_wall = time.perf_counter() - tf
    # the held-out drive, measured twice (independent noise) and predicted once
    hv = _held_out_drive(plan, np.random.default_rng(s_held))[:, None]
    meas = []
    for s in (s_held, s_held2):
        d = device(s)
        try:
            meas.append(np.asarray(d.apply(hv, plan.dt_s).input_current_A[:, 0]))
        finally:
            d.close()
    pred = np.asarray(replay(network, fit.params, hv, plan.dt_s, inputs=inputs, ground=ground,
                             junction_model=fit_model).input_current_A[:, 0])
    scale = float(np.sqrt(np.mean(meas[0] ** 2)))
    rel_err = {k: fit.params[k] / true[k] - 1.0 for k in FIT_PARAMS if k not in fit.fixed}
    ok = fit.adequate and all(
        abs(e) <= (KINETIC_TARGET if k in _KINETIC else RANGE_TARGET) for k, e in rel_err.items()
    )
    return IdentifiabilityReport(
        true=true,
        fitted=dict(fit.params),
        rel_error=rel_err,
        rel_std=dict(fit.rel_std),
        within_target=bool(ok),
        adequate=fit.adequate,
        reduced_chi2=fit.reduced_chi2,
        held_out_rel_rms=float(np.sqrt(np.mean((pred - meas[0]) ** 2)) / scale),
        held_out_noise_rel_rms=float(np.sqrt(np.mean((meas[1] - meas[0]) ** 2)) / scale),
        noise_true={**noise, "read_noise_A": read_noise_A},
        noise_fitted=dict(fit.noise),
        plan=plan.to_dict(),
        n_simulations=fit.n_simulations,
        fit_wall_time_s=fit_wall,
        wall_time_s=time.perf_counter() - t0,
    )
