"""Stochastic junctions: the OU-with-jumps model against its exact statistics, and the split step.

Every statistical check states its tolerance as 5 standard errors of the estimate, from the sample
size, so a correct scheme fails with probability below 1e-6 per check (and the seeds are fixed).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import nwphys
from nwphys.dynamics.integrate import simulate
from nwphys.dynamics.stepper import Stepper
from nwphys.dynamics.stochastic import (
    CoupledNoisePath,
    ou_jump_increment,
    ou_noise_std,
    power_law_jump_sizes,
    reflect_unit_interval,
    relaxation_rate_per_s,
    split_step_run,
)
from nwphys.errors import ValidationError
from nwphys.junctions import (
    AG_JUNCTION_RANGE_S,
    JUNCTION_PRESETS,
    RateBalanceModel,
    StochasticRateBalanceModel,
    make_junction_model,
    rate_balance_step,
)

N_JUNCTIONS = 20_000
#: kinetics of the statistics tests: at V = 0.3 V, k = e^0.3 + e^-0.3 = 2.09 /s, g_inf = 0.65, and
#: with sigma = 0.05 the stationary std 0.024 keeps the states 14 std from either bound
KIN = {"kp0_per_s": 1.0, "kd0_per_s": 1.0, "eta_p_per_V": 1.0, "eta_d_per_V": 1.0}


def _drift(model: StochasticRateBalanceModel, g: np.ndarray, V: np.ndarray, h: float) -> np.ndarray:
    p = model.params
    return rate_balance_step(g, V, h, p["kp0_per_s"], p["kd0_per_s"], p["eta_p_per_V"], p["eta_d_per_V"])


@pytest.mark.parametrize(("h_s", "lag"), [(0.01, 50), (1.0, 1)], ids=["h-small", "h-large"])
def test_ou_stationary_variance_and_autocorrelation_at_constant_voltage(h_s: float, lag: int) -> None:
    model = StochasticRateBalanceModel(**KIN, sigma_per_sqrt_s=0.05, jump_rate_per_s=0.0)
    V = np.full(N_JUNCTIONS, 0.3)
    k = relaxation_rate_per_s(model, V)
    np.testing.assert_allclose(k, np.exp(0.3) + np.exp(-0.3), rtol=1e-15)
    assert h_s * k[0] in (pytest.approx(0.0209, rel=1e-2), pytest.approx(2.09, rel=1e-2))
    g_inf = np.exp(0.3) / (np.exp(0.3) + np.exp(-0.3))
    var = 0.05**2 / (2.0 * k[0])
    seeds = np.random.default_rng(11).spawn(2)
    g0 = g_inf + np.sqrt(var) * seeds[0].standard_normal(N_JUNCTIONS)  # a stationary start
    g = g0.copy()
    for _ in range(lag):
        g = ou_jump_increment(_drift(model, g, V, h_s), k, h_s, model, seeds[1])
    n = N_JUNCTIONS
    # still stationary after `lag` steps: mean, variance and the correlation with the start
    assert abs(g.mean() - g_inf) < 5 * np.sqrt(var / n)
    assert abs(g.var(ddof=1) - var) < 5 * var * np.sqrt(2.0 / (n - 1))
    rho = np.exp(-k[0] * lag * h_s)
    r = np.corrcoef(g0, g)[0, 1]
    assert abs(r - rho) < 5 * (1 - rho**2) / np.sqrt(n), (r, rho)


def test_ou_noise_std_limits() -> None:
    k = np.array([0.0, 1e-300, 1e-9, 3.0, np.inf])
    s = ou_noise_std(k, 0.5, 2.0)
    np.testing.assert_allclose(s[:3], 2.0 * np.sqrt(0.5), rtol=1e-9)  # k -> 0: sigma sqrt(h)
    np.testing.assert_allclose(s[3], 2.0 * np.sqrt((1 - np.exp(-3.0)) / 6.0), rtol=1e-14)
    assert s[4] == 0.0


def _truncated_power_law_mle(x: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """MLE of the exponent of a power law truncated to [lo, hi] and its standard error (observed
    information, by central differences of the log-likelihood)."""
    s = np.log(x).sum()
    n = x.size

    def nll(a: float) -> float:
        b = 1.0 - a
        return -(n * np.log((a - 1.0) / (lo**b - hi**b)) - a * s)

    a = minimize_scalar(nll, bounds=(1.05, 8.0), method="bounded", options={"xatol": 1e-10}).x
    d = 1e-4
    info = (nll(a + d) - 2 * nll(a) + nll(a - d)) / d**2
    return float(a), float(1.0 / np.sqrt(info))


def test_jumps_poisson_count_power_law_exponent_and_decay() -> None:
    rate, h, n_steps = 0.082, 0.01, 500
    lo, hi, a = 1e-3, 0.4, 2.78
    model = StochasticRateBalanceModel(
        **KIN, sigma_per_sqrt_s=0.0, jump_rate_per_s=rate, jump_exponent=a, jump_min=lo, jump_max=hi
    )
    rng = np.random.default_rng(5)
    g_mid = np.full(N_JUNCTIONS, 0.5)
    k0 = np.zeros(N_JUNCTIONS)  # no decay: an increment is the sum of the jumps of its sub-step
    inc = np.concatenate([ou_jump_increment(g_mid, k0, h, model, rng) - 0.5 for _ in range(n_steps)])
    jumped = inc[inc != 0.0]
    # sub-steps with at least one jump: Binomial(n, 1 - exp(-rate h)), mean 8,200
    mean = inc.size * -np.expm1(-rate * h)
    assert abs(jumped.size - mean) < 5 * np.sqrt(mean)
    # signs +/- with probability 1/2, magnitudes in [jump_min, jump_max] (2 jumps in one sub-step:
    # probability rate h / 2 = 4e-4 of the non-zero increments)
    assert abs(np.mean(jumped > 0) - 0.5) < 5 * 0.5 / np.sqrt(jumped.size)
    mag = np.abs(jumped)
    assert np.mean((mag >= lo) & (mag <= hi)) > 0.998
    a_hat, se = _truncated_power_law_mle(mag[(mag >= lo) & (mag <= hi)], lo, hi)
    assert abs(a_hat - a) < 5 * se, (a_hat, se)
    assert se < 0.05  # the check has power: 5 se < 0.25 in the exponent
    # decay over the rest of the sub-step: E|increment| = E[size] E[exp(-k (h - tau))], tau ~ U(0, h)
    k = np.full(N_JUNCTIONS, 1.0 / h)
    inc_k = np.concatenate([ou_jump_increment(g_mid, k, h, model, rng) - 0.5 for _ in range(n_steps)])
    m_k = np.abs(inc_k[inc_k != 0.0])
    e_size = (a - 1) / (a - 2) * (lo ** (2 - a) - hi ** (2 - a)) / (lo ** (1 - a) - hi ** (1 - a))
    expect = e_size * -np.expm1(-1.0) / 1.0
    assert abs(m_k.mean() - expect) < 5 * m_k.std() / np.sqrt(m_k.size), (m_k.mean(), expect)


def test_power_law_inverse_cdf_hits_the_bounds_and_the_median() -> None:
    a, lo, hi = 2.78, 1e-3, 1.0
    x = power_law_jump_sizes(np.array([0.0, 0.5]), a, lo, hi)
    assert x[0] == pytest.approx(lo, rel=1e-14)
    # the median solves F(x) = 1/2 in closed form
    b = 1 - a
    assert x[1] == pytest.approx((0.5 * (lo**b + hi**b)) ** (1 / b), rel=1e-14)
    # dx/du = 1 / f(x): 1.2e5 at jump_max, so u = 1 - 2^-53 is 1.4e-11 below it
    top = power_law_jump_sizes(np.array([1.0, 1.0 - 2**-53]), a, lo, hi)
    assert top[0] == pytest.approx(hi, rel=1e-15)
    f_hi = (a - 1) * hi**-a / (lo**b - hi**b)
    assert hi - top[1] == pytest.approx(2**-53 / f_hi, rel=1e-3)


def _run(seed: int, n_steps: int = 50, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """A trajectory of the published model with per-junction voltages; returns (states, increments)."""
    model = make_junction_model("rate_balance_ou", preset="milano2025", sigma_per_sqrt_s=0.01)
    V = np.linspace(0.0, 6.0, n)
    k = relaxation_rate_per_s(model, V)
    rng = np.random.default_rng(seed)
    g = np.full(n, 0.5)
    states, incs = [], []
    for _ in range(n_steps):
        gd = _drift(model, g, V, 1e-3)
        g = ou_jump_increment(gd, k, 1e-3, model, rng)
        states.append(g)
        incs.append(g - gd)
    return np.array(states), np.array(incs)


def test_same_seed_same_path_and_different_seeds_independent() -> None:
    s1, i1 = _run(1)
    s1b, _ = _run(1)
    s2, i2 = _run(2)
    np.testing.assert_array_equal(s1, s1b)
    assert not np.array_equal(s1, s2)
    r = np.corrcoef(i1.ravel(), i2.ravel())[0, 1]
    assert abs(r) < 5 / np.sqrt(i1.size), r
    assert abs(np.corrcoef(i1[:-1].ravel(), i1[1:].ravel())[0, 1]) < 5 / np.sqrt(i1.size)  # white in time
    model = make_junction_model("rate_balance_ou", preset="milano2025")
    p1, p2 = (CoupledNoisePath(model, 7, 1.0, 16, seed=3) for _ in range(2))
    np.testing.assert_array_equal(p1.jump_size, p2.jump_size)
    g = np.full(7, 0.5)
    np.testing.assert_array_equal(p1(g, np.ones(7), 0.25, 0.5), p2(g, np.ones(7), 0.25, 0.5))


def test_reflection_keeps_states_in_unit_interval_and_is_exact_for_free_diffusion() -> None:
    x = np.array([-0.2, 1.3, 2.5, -1.5, 0.4, 7.3, 0.0, 1.0, -1e-300])
    np.testing.assert_allclose(reflect_unit_interval(x), [0.2, 0.7, 0.5, 0.5, 0.4, 0.7, 0.0, 1.0, 1e-300])
    inside = np.random.default_rng(0).random(100)
    np.testing.assert_array_equal(reflect_unit_interval(inside), inside)  # untouched bit for bit
    with pytest.raises(nwphys.IntegrationError, match="not finite at junction 1"):
        reflect_unit_interval(np.array([0.5, np.nan]))
    # negligible drift, sigma = 1: folding the free Gaussian end point is the exact transition of
    # reflected Brownian motion, which from g = 0.02 is uniform on [0, 1] to 1e-4 after sigma^2 t = 2
    model = StochasticRateBalanceModel(
        kp0_per_s=1e-12, kd0_per_s=1e-12, sigma_per_sqrt_s=1.0, jump_rate_per_s=5.0, jump_min=0.1
    )
    rng = np.random.default_rng(8)
    g = np.full(N_JUNCTIONS, 0.02)
    k = np.full(N_JUNCTIONS, 2e-12)
    for _ in range(4):
        g = ou_jump_increment(g, k, 0.5, model, rng)
        assert g.min() >= 0.0 and g.max() <= 1.0
    n = N_JUNCTIONS
    assert abs(g.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(g.var() - 1 / 12) < 5 * np.sqrt((1 / 80 - 1 / 144) / n)
    # at the published noise the states at rest (g_inf = 1.4e-5, std 3.7e-5) are reflected at 0
    pub = make_junction_model("rate_balance_ou", preset="milano2025")
    g = pub.resting_state(n)
    k0 = relaxation_rate_per_s(pub, np.zeros(n))
    for _ in range(20):
        g = ou_jump_increment(_drift(pub, g, np.zeros(n), 0.01), k0, 0.01, pub, rng)
        assert g.min() >= 0.0 and g.max() <= 1.0


def test_model_preset_drift_and_validation() -> None:
    m = make_junction_model("rate_balance_ou", preset="milano2025")
    assert isinstance(m, StochasticRateBalanceModel) and m.stochastic and not RateBalanceModel.stochastic
    p = m.params
    assert (p["kp0_per_s"], p["kd0_per_s"], p["eta_p_per_V"], p["eta_d_per_V"]) == (5.2e-4, 37.9, 1.29, 1.79)
    assert (p["sigma_per_sqrt_s"], p["jump_rate_per_s"], p["jump_exponent"]) == (3.2e-4, 0.082, 2.78)
    assert p["G_min_S"] == AG_JUNCTION_RANGE_S["G_min_S"] and p["G_max_S"] == AG_JUNCTION_RANGE_S["G_max_S"]
    assert JUNCTION_PRESETS["milano2025"][0] == "rate_balance_ou"
    d = m.drift_model()
    assert type(d) is RateBalanceModel and not d.stochastic
    g, V = np.array([0.1, 0.9]), np.array([2.0, -4.0])
    np.testing.assert_array_equal(d.rhs(g, V), m.rhs(g, V))
    # variability scatters the drift and conductance groups, not the noise
    v = make_junction_model("rate_balance_ou", preset="milano2025", spread=0.3, seed=2, n_junctions=40)
    assert v.params["kd0_per_s"].shape == (40,) and np.all(v.params["G_max_S"] > v.params["G_min_S"])
    assert v.params["sigma_per_sqrt_s"] == 3.2e-4
    np.testing.assert_array_equal(v.drift_model().params["kp0_per_s"], v.params["kp0_per_s"])
    bad = [
        ({"sigma_per_sqrt_s": -1e-3}, r"sigma_per_sqrt_s must be in \[0.0, inf\) s\^-1/2 .*got -0.001"),
        ({"jump_rate_per_s": -1.0}, r"jump_rate_per_s must be in \[0.0, inf\) s\^-1 .*got -1.0"),
        ({"jump_exponent": 1.0}, r"jump_exponent must be in \(1.0, inf\) .*got 1.0"),
        ({"jump_min": 0.5, "jump_max": 0.5}, r"jump_max must be > jump_min .*jump_min=0.5, jump_max=0.5"),
        ({"jump_max": 1.5}, r"jump_max must be in \(0.0, 1.0\] \(units of g\) .*got 1.5"),
        ({"jump_min": 0.0}, r"jump_min must be in \(0.0, 1.0\) \(units of g\) .*got 0.0"),
        ({"sigma_per_sqrt_s": np.array([0.1, -0.2])}, r"sigma_per_sqrt_s must be .*got -0.2 at junction 1"),
    ]
    for kw, match in bad:
        with pytest.raises(ValidationError, match=match):
            make_junction_model("rate_balance_ou", **kw)


def _small_network():
    return nwphys.generate(n_wires=60, size_um=(30.0, 30.0), length_mean_um=10.0, length_std_um=2.0, seed=3)


def test_deterministic_integrators_refuse_a_stochastic_model() -> None:
    c = _small_network().circuit()
    m = make_junction_model("rate_balance_ou")
    with pytest.raises(ValidationError, match=r"'rate_balance_ou' is stochastic and Stepper .*SimulatedDev"):
        Stepper(c, m, driven=c.electrode_names)
    with pytest.raises(ValidationError, match=r"'rate_balance_ou' is stochastic and simulate .*SimulatedDe"):
        simulate(c, "in=1;out=gnd", duration_s=0.01, dt_s=0.01, model=m)
    with pytest.raises(ValidationError, match="model must be a stochastic junction model"):
        split_step_run(Stepper(c, m.drift_model(), driven=c.electrode_names), m.drift_model(),
                       np.zeros((1, 2)), 0.01, n_substeps=1, noise=lambda g, k, t, h: g)


def test_split_step_strong_error_falls_with_the_sub_step() -> None:
    """Strong error of the split step on a 121-junction network, with the coupled noise path.

    Kinetics chosen so that the states stay away from the bounds (0.03 < g < 0.19) and the drift
    couples the junctions through the network under 2 V; sigma = 0.02 /sqrt(s) and jumps of 0.01 to
    0.1 at 2 /s per junction; 5 samples of 50 ms; drift at rtol 1e-8 (its error is negligible).
    Measured max |g - g_ref| for 1, 2, 4, 8 sub-steps against 64: 2.5e-3, 1.0e-3, 5.2e-4, 2.4e-4
    (path 0) and 1.6e-3, 1.7e-3, 7.0e-4, 2.8e-4 (path 1); RMS 2.1e-3, 1.4e-3, 6.1e-4, 2.6e-4, an
    observed order of 1.0.
    """
    net = _small_network()
    c = net.circuit()
    model = make_junction_model(
        "rate_balance_ou", kp0_per_s=0.05, kd0_per_s=0.5, eta_p_per_V=4.0, eta_d_per_V=1.0,
        sigma_per_sqrt_s=0.02, jump_rate_per_s=2.0, jump_min=0.01, jump_max=0.1,
    )
    n_samples, dt, n_ref = 5, 0.05, 64
    drive = np.column_stack([np.full(n_samples, 2.0), np.zeros(n_samples)])

    def run(n_sub: int, path: CoupledNoisePath) -> np.ndarray:
        st = Stepper(c, model.drift_model(), driven=c.electrode_names, rtol=1e-8, atol=1e-10)
        gs = []
        for s in range(n_samples):
            out = split_step_run(st, model, drive[s : s + 1], dt, n_substeps=n_sub, noise=path, t0_s=s * dt)
            gs.append(out.g_final)
        return np.array(gs)

    subs = (1, 2, 4, 8)
    errs = np.zeros((2, len(subs)))
    for p in range(2):
        path = CoupledNoisePath(model, c.n_junctions, n_samples * dt, n_samples * n_ref, seed=p)
        ref = run(n_ref, path)
        assert 0.0 < ref.min() and ref.max() < 0.5  # away from the bounds: no reflection
        for i, m in enumerate(subs):
            errs[p, i] = np.abs(run(m, path) - ref).max()
    rms = np.sqrt((errs**2).mean(axis=0))
    order = -np.polyfit(np.log(subs), np.log(rms), 1)[0]
    assert order > 0.3, (rms, order)
    assert rms[-1] < rms[0] / 2
