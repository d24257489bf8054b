"""Junction models and drives against closed forms and hand-solved circuits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from nwphys.circuit.circuit import Circuit
from nwphys.dynamics.drives import DC, Drive, PiecewiseLinear, Pulse, Sampled, parse_drive
from nwphys.dynamics.integrate import Stepper, simulate
from nwphys.errors import ValidationError
from nwphys.junctions import (
    JUNCTION_MODELS,
    JUNCTION_PRESETS,
    KD0_PER_S,
    FilamentGapModel,
    RateBalanceModel,
    make_junction_model,
    model_from_spec,
)


def _single() -> Circuit:
    return Circuit(n_nodes=2, edges=np.array([[0, 1]]), electrode_node=[0, 1], electrode_names=("in", "out"))


def _rate_closed_form(g0: float, V: float, t: np.ndarray, p: dict) -> np.ndarray:
    kp = p["kp0_per_s"] * np.exp(p["eta_p_per_V"] * abs(V))
    kd = p["kd0_per_s"] * np.exp(-p["eta_d_per_V"] * abs(V))
    g_inf = kp / (kp + kd)
    return g_inf + (g0 - g_inf) * np.exp(-(kp + kd) * t)


@pytest.mark.parametrize("method", ["exact", "LSODA", "RK45"])
@pytest.mark.parametrize(
    ("V", "g0", "label"), [(0.8, 0.0, "potentiation"), (0.0, 0.9, "relaxation"), (-0.6, 0.1, "negative bias")]
)
def test_single_junction_dc_matches_closed_form(method: str, V: float, g0: float, label: str) -> None:
    model = make_junction_model("rate_balance")
    res = simulate(
        _single(),
        {"in": V, "out": "gnd"},
        duration_s=4.0,
        dt_s=0.01,
        method=method,
        model=model,
        g0=[g0],
        rtol=1e-10,
        atol=1e-12,
    )
    ref = _rate_closed_form(g0, V, res.t_s, model.params)
    # the exact method is exact here: the junction voltage does not depend on g
    tol = 1e-13 if method == "exact" else 1e-7
    np.testing.assert_allclose(res.g[:, 0], ref, rtol=0, atol=tol)
    G = model.conductance_S(res.g[:, 0])
    np.testing.assert_allclose(res.electrode_current_A[:, 0], G * V, rtol=1e-12, atol=1e-300)
    assert (res.g[-1, 0] > g0) == (label != "relaxation")


def test_two_junction_divider_matches_hand_solution() -> None:
    # in -J0- m -J1- out, different junction parameters through per-junction arrays
    c = Circuit(
        n_nodes=3, edges=np.array([[0, 1], [1, 2]]), electrode_node=[0, 2], electrode_names=("in", "out")
    )
    p = dict(
        kp0_per_s=np.array([1e-3, 1e-4]),
        kd0_per_s=np.array([0.5, 0.2]),
        eta_p_per_V=10.0,
        eta_d_per_V=1.0,
        G_min_S=np.array([1e-3, 3e-3]),
        G_max_S=0.1,
    )
    model = make_junction_model("rate_balance", **p)
    g0 = np.array([0.05, 0.3])
    V = 1.2

    def hand_rhs(t: float, g: np.ndarray) -> np.ndarray:
        G0, G1 = p["G_min_S"] + (0.1 - p["G_min_S"]) * g
        v0 = V * G1 / (G0 + G1)  # divider: junction 0 takes V * G1 / (G0 + G1)
        v = np.array([v0, V - v0])
        kp = p["kp0_per_s"] * np.exp(10.0 * v)
        kd = p["kd0_per_s"] * np.exp(-1.0 * v)
        return kp * (1 - g) - kd * g

    t_eval = np.linspace(0, 2.0, 201)
    ref = solve_ivp(hand_rhs, (0, 2.0), g0, t_eval=t_eval, rtol=1e-11, atol=1e-13, method="LSODA")
    res = simulate(
        c,
        {"in": V, "out": 0.0},
        duration_s=2.0,
        dt_s=0.01,
        method="RK45",
        model=model,
        g0=g0,
        rtol=1e-10,
        atol=1e-12,
    )
    np.testing.assert_allclose(res.g, ref.y.T, atol=1e-7)
    G = model.conductance_S(res.g)
    np.testing.assert_allclose(
        res.electrode_current_A[:, 0], V * G[:, 0] * G[:, 1] / G.sum(axis=1), rtol=1e-10
    )
    # one held sample of the exact stepper by hand: the closed form with the voltages frozen at the
    # start, then the reading at the end of the hold (conductances after the sample)
    st = Stepper(c, model, driven=["in", "out"], g0=g0, method="exact", guard="off")  # algebra only
    out = st.run(np.array([[V, 0.0]]), 0.01)
    G0 = model.conductance_S(g0)
    v0 = V * G0[1] / G0.sum()
    kp = p["kp0_per_s"] * np.exp(10 * np.array([v0, V - v0]))
    kd = p["kd0_per_s"] * np.exp(-np.array([v0, V - v0]))
    gi = kp / (kp + kd)
    g1 = gi + (g0 - gi) * np.exp(-(kp + kd) * 0.01)
    np.testing.assert_allclose(out.g_final, g1, rtol=1e-12)
    G1 = model.conductance_S(g1)
    np.testing.assert_allclose(out.electrode_voltage_V[0], [V, 0.0])
    np.testing.assert_allclose(out.electrode_current_A[0, 0], V * G1[0] * G1[1] / G1.sum(), rtol=1e-12)
    # the default (sdirk2) held for 2 s lands on the hand-solved trajectory at t = 2 s
    st2 = Stepper(c, model, driven=["in", "out"], g0=g0)
    out2 = st2.run(np.array([[V, 0.0]]), 2.0)
    np.testing.assert_allclose(out2.g_final, ref.y[:, -1], atol=1e-3)
    assert out2.stats["n_steps"] > 1


def test_presets_and_registry() -> None:
    assert set(JUNCTION_MODELS) >= {"rate_balance", "filament_gap"}
    nat = make_junction_model("rate_balance", preset="natmat2022").params
    assert nat == JUNCTION_PRESETS["natmat2022"][1]
    assert nat["kd0_per_s"] == 64.88 and nat["G_max_S"] == 2.723e-3
    nw = make_junction_model("rate_balance").params
    assert nw == {
        "kp0_per_s": 1e-4,
        "kd0_per_s": 0.5,
        "eta_p_per_V": 10.0,
        "eta_d_per_V": 1.0,
        "G_min_S": 1e-3,
        "G_max_S": 0.1,
    }
    fg = make_junction_model("filament_gap").params
    assert fg["Vset_V"] == 0.01 and fg["lmax"] == 0.015 and fg["Goff_S"] == 7.77e-8


def _published_nwesn_rate(g: np.ndarray, V: np.ndarray) -> np.ndarray:
    """dg/dt (1/s) of the rate balance by hand, with the NW-ESN paper's Table 2 rates written out:
    kp0 = 1e-4 /s, kd0 = 0.5 /s, eta_p = 10 /V, eta_d = 1 /V."""
    kp = 1e-4 * np.exp(10.0 * np.abs(V))
    kd = 0.5 * np.exp(-1.0 * np.abs(V))
    return kp * (1.0 - g) - kd * g


def test_every_nwesn_rate_is_the_published_rate_balance() -> None:
    import nwmodel.physical.mapping
    from nwmodel.models.esn import NWESNClassifier
    from nwmodel.models.kernels import NUMPY_OPS, nw_cell
    from nwmodel.models.rnn import NWRNNRegressor
    from nwmodel.physical.calibration import switching_voltage_V

    # junction voltages across the RESCALE window (0.35, 1.15) V, V* = ln(kd0/kp0)/(eta_p+eta_d) among them
    v_star = np.log(0.5 / 1e-4) / 11.0
    V = np.array([0.4, 0.6, v_star, 0.9, 1.1])
    g = np.array([0.05, 0.3, 0.5, 0.7, 0.95])
    ref = _published_nwesn_rate(g, V)
    assert ref[2] == pytest.approx(0.0, abs=1e-15)  # kp = kd at V*: g = 0.5 does not move
    assert switching_voltage_V() == pytest.approx(v_star, rel=1e-15)
    # the physical junctions: the model's defaults, the "nwesn" preset, the physical reservoir's
    # constants and the kinetics of the comparison's Ag device
    for name, params in (
        ("rate_balance", {}),
        JUNCTION_PRESETS["nwesn"],
        ("rate_balance", nwmodel.physical.mapping.NWESN_JUNCTION_PARAMS),
        ("rate_balance", nwmodel.physical.mapping.DEVICE_JUNCTION_PARAMS),
    ):
        np.testing.assert_allclose(JUNCTION_MODELS[name](**params).rhs(g, V), ref, rtol=1e-12, atol=1e-15)
    # the abstract NW-ESN cell with gamma 0 and dt 1 is one rate evaluation at z = RESCALE(pre):
    # h(t+1) = Kp(z) - (Kp(z) + Kd(z)) h(t); pre is chosen so that z = V
    pre = np.log((V - 0.35) / (1.15 - V))
    for cls in (NWESNClassifier, NWRNNRegressor):
        cell = cls(gamma=0.0, dt=1.0)._cell_params()  # the estimator's default kinetics
        h_next = nw_cell(NUMPY_OPS, g[None, :], pre[None, :], cell)[0]
        np.testing.assert_allclose(h_next, ref, rtol=1e-9, atol=1e-12)


def test_model_from_spec_is_the_stored_model() -> None:
    spec = {"kp0_per_s": 2e-4, "G_max_S": 0.05, "G_min_S": np.full(3, 1e-3)}
    m = model_from_spec("rate_balance", spec)
    assert isinstance(m, RateBalanceModel)
    assert m.params["kp0_per_s"] == 2e-4 and m.params["kd0_per_s"] == KD0_PER_S
    np.testing.assert_array_equal(m.params["G_min_S"], np.full(3, 1e-3))
    np.testing.assert_allclose(m.conductance_S(np.array([0.0, 0.5, 1.0])), [1e-3, 0.0255, 0.05], rtol=1e-14)
    assert model_from_spec("filament_gap", None).params == FilamentGapModel.defaults
    assert model_from_spec("rate_balance", {}).params == RateBalanceModel.defaults
    with pytest.raises(ValidationError, match=r"junction model must be one of 'rate_balance'.*got 'x'"):
        model_from_spec("x", {})
    with pytest.raises(ValidationError, match=r"unknown parameter\(s\) kp0 for junction model"):
        model_from_spec("rate_balance", {"kp0": 1.0})


def test_rate_balance_exact_step_stays_finite_at_huge_voltage() -> None:
    m = make_junction_model("rate_balance", preset="natmat2022")
    g = m.step_exact(np.array([0.0, 0.5]), np.array([50.0, -50.0]), 1e-3)
    np.testing.assert_allclose(g, [1.0, 1.0], rtol=0, atol=1e-15)  # kp overflowed: exact equilibrium


def test_filament_gap_growth_clip_and_decay() -> None:
    m = FilamentGapModel()
    lam = np.array([0.0, 0.014, -0.002, 0.004])
    V = np.array([0.03, 0.03, 0.007, 0.001])
    out = m.step_exact(lam, V, 0.1)
    # 0 -> 0.02*0.1 growth; 0.014 saturates at lmax; between thresholds unchanged; decay by b*(Vreset-|V|)dt
    np.testing.assert_allclose(out, [0.002, 0.015, -0.002, max(0.004 - 10 * 0.004 * 0.1, 0.0)], rtol=1e-12)
    # decay stops at zero (sign(0) = 0) instead of overshooting
    assert m.step_exact(np.array([0.001]), np.array([0.0]), 10.0)[0] == 0.0
    # rhs consistent with the closed form for a small step away from the kinks
    lam2, V2 = np.array([0.003, -0.004]), np.array([0.02, 0.001])
    np.testing.assert_allclose((m.step_exact(lam2, V2, 1e-4) - lam2) / 1e-4, m.rhs(lam2, V2), rtol=1e-10)
    # conductance: off at l = 0, Gon + Goff once |l| >= lcrit, monotone in between
    G = m.conductance_S(np.array([0.0, 0.005, 0.0099, 0.01, 0.015]))
    np.testing.assert_allclose(G[0], 7.77e-8, rtol=1e-6)
    np.testing.assert_allclose(G[3:], 7.77e-5 + 7.77e-8, rtol=1e-12)
    assert np.all(np.diff(G) >= 0)


def test_filament_gap_exact_stepper_vs_solve_ivp() -> None:
    model = make_junction_model("filament_gap")
    drive = Drive({"in": PiecewiseLinear(np.array([0, 1.0, 2.0]), np.array([0.0, 0.05, -0.05])), "out": 0.0})
    ref = simulate(
        _single(), drive, duration_s=2.0, dt_s=0.01, method="LSODA", model=model, rtol=1e-10, atol=1e-13
    )
    fast = simulate(
        _single(), drive, duration_s=2.0, dt_s=1e-4, method="exact", model=model, record_every=100
    )
    np.testing.assert_allclose(fast.g, ref.g, atol=2e-5)
    assert ref.g.max() == pytest.approx(0.015, abs=1e-9)  # saturated at lmax during the ramp


def test_variability_is_seeded_and_keeps_order() -> None:
    a = make_junction_model("rate_balance", spread=0.2, seed=3, n_junctions=50)
    b = make_junction_model("rate_balance", spread=0.2, seed=3, n_junctions=50)
    c = make_junction_model("rate_balance", spread=0.2, seed=4, n_junctions=50)
    np.testing.assert_array_equal(a.params["kp0_per_s"], b.params["kp0_per_s"])
    assert not np.array_equal(a.params["kp0_per_s"], c.params["kp0_per_s"])
    assert np.all(a.params["G_max_S"] > a.params["G_min_S"])
    with pytest.raises(ValidationError, match="spread > 0 needs n_junctions and seed"):
        make_junction_model("rate_balance", spread=0.1)


def test_model_bad_inputs_name_the_parameter() -> None:
    with pytest.raises(ValidationError, match=r"unknown parameter.*kp0 .*allowed: kp0_per_s"):
        make_junction_model("rate_balance", kp0=1.0)
    with pytest.raises(ValidationError, match="kd0_per_s must be > 0"):
        make_junction_model("rate_balance", kd0_per_s=-1.0)
    with pytest.raises(ValidationError, match="eta_p_per_V must be a finite real number"):
        make_junction_model("rate_balance", eta_p_per_V=float("nan"))
    with pytest.raises(ValidationError, match="G_max_S must be > G_min_S"):
        make_junction_model("rate_balance", G_min_S=0.1, G_max_S=0.01)
    with pytest.raises(ValidationError, match="junction model must be one of"):
        make_junction_model("memristor9000")
    with pytest.raises(ValidationError, match="preset 'natmat2022' belongs to model 'rate_balance'"):
        make_junction_model("filament_gap", preset="natmat2022")


# ---------------------------------------------------------------------------- drives
def test_drive_spec_parsing() -> None:
    d = parse_drive("in=pulse:amp=1,width=0.01,period=0.02;out=gnd;mid=float;ctl=0.25")
    assert d.driven == ("in", "out", "ctl") and d.floating == ("mid",)
    V = d.voltages(np.array([0.0, 0.005, 0.01, 0.015, 0.02]))
    np.testing.assert_array_equal(V[:, 0], [1.0, 1.0, 0.0, 0.0, 1.0])  # right-continuous edges
    np.testing.assert_array_equal(V[:, 1], 0.0)
    np.testing.assert_array_equal(V[:, 2], 0.25)
    np.testing.assert_allclose(d.breakpoints(0.0, 0.05), [0.01, 0.02, 0.03, 0.04])
    pwl = parse_drive("a=pwl:0@0,1@0.01,0@0.02;b=dc:0.5")
    np.testing.assert_allclose(pwl.voltages([0.005, 0.015, 1.0]), [[0.5, 0.5], [0.5, 0.5], [0.0, 0.5]])
    s = parse_drive("x=sine:amp=2,freq=5,offset=0.1")
    np.testing.assert_allclose(s.voltages([0.05])[0, 0], 0.1 + 2.0, rtol=1e-12)
    p = Pulse(amp_V=2.0, width_s=1e-3, period_s=4e-3, delay_s=1e-3, count=2)
    np.testing.assert_array_equal(p(np.array([0, 1e-3, 2e-3, 5e-3, 9e-3])), [0, 2, 0, 2, 0])
    z = Sampled(np.array([1.0, 2.0, 3.0]), dt_s=0.1)
    np.testing.assert_array_equal(z(np.array([0.0, 0.1, 0.15, 0.2, 0.5])), [1, 2, 2, 3, 3])
    assert DC(0.3)(np.zeros(2)).tolist() == [0.3, 0.3]


def test_drive_bad_specs_name_the_electrode() -> None:
    with pytest.raises(ValidationError, match="drive for 'in': unknown key 'amplitude'"):
        parse_drive("in=pulse:amplitude=1")
    with pytest.raises(ValidationError, match="drive for 'in': cannot parse 'banana'"):
        parse_drive("in=banana")
    with pytest.raises(ValidationError, match="width_s must be in"):
        parse_drive("in=pulse:amp=1,width=0.5,period=0.2")
    with pytest.raises(ValidationError, match="names electrode 'in' twice"):
        parse_drive("in=1;in=2")
    with pytest.raises(ValidationError, match="at least one electrode"):
        parse_drive("in=float")
    with pytest.raises(ValidationError, match="pwl points are value@time"):
        parse_drive("in=pwl:1,2")
