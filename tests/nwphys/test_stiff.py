"""The error-controlled stiff integrator ("sdirk2") against tight references at the operating points
that the product uses: analytic single junctions, Radau at rtol 1e-9 with the analytic Jacobian,
the quasi-static regime, the physical reservoir's features, and invariants at every internal step."""

from __future__ import annotations

import numpy as np
import pytest
from _nwcircuits import random_circuit, single_junction, single_junction_g

import nwphys
from nwphys.circuit.nodal import NodalSolver
from nwphys.dynamics.integrate import network_jacobian, simulate
from nwphys.dynamics.stepper import Stepper, SwitchingTimeWarning
from nwphys.errors import IntegrationError
from nwphys.junctions import RateBalanceModel, make_junction_model

#: the device of the quasi-static measurements: 120 wires, 535 junctions, two edge electrodes
QS_DEVICE = dict(n_wires=120, size_um=(25.0, 25.0), electrodes="two-terminal", seed=3)
#: a 100-wire device (387 junctions, 82 nodes) for the Radau references
RADAU_DEVICE = dict(n_wires=100, size_um=(25.0, 25.0), electrodes="two-terminal", seed=3)
DRIVES = {"dc": "in=dc:3.0;out=gnd", "pulses": "in=pulse:amp=4,width=0.05,period=0.1;out=gnd"}


@pytest.fixture(scope="module")
def qs_network() -> nwphys.NanowireNetwork:
    return nwphys.generate(**QS_DEVICE)


@pytest.fixture(scope="module")
def radau_network() -> nwphys.NanowireNetwork:
    return nwphys.generate(**RADAU_DEVICE)


def _held(levels: np.ndarray, dt_s: float) -> nwphys.Drive:
    return nwphys.Drive({"in": nwphys.Sampled(np.asarray(levels, dtype=float), dt_s=dt_s), "out": 0.0})


# ---------------------------------------------------------------------------- analytic
@pytest.mark.parametrize("V", [0.5, 1.5, 3.0])
def test_single_junction_matches_closed_form(V: float) -> None:
    """One junction between two driven electrodes sees the full voltage: g(t) is exponential."""
    c = single_junction()
    m = make_junction_model("rate_balance")
    g0 = 0.05
    t = np.arange(101) * 0.01
    exact = single_junction_g(m.params, V, g0, t)
    for rtol, atol, tol in ((None, None, 1e-3), (1e-7, 1e-9, 1e-6)):
        res = simulate(c, {"in": V, "out": 0.0}, duration_s=1.0, dt_s=0.01, model=m, g0=[g0],
                       rtol=rtol, atol=atol)
        np.testing.assert_allclose(res.g[:, 0], exact, rtol=0, atol=tol)
        assert res.method == "sdirk2" and res.n_steps >= 100  # at least one step per record


def test_network_jacobian_matches_finite_differences(qs_network) -> None:
    c = qs_network.circuit()
    model = make_junction_model("rate_balance")
    solver = NodalSolver(c, driven=["in", "out"])
    g = np.random.default_rng(1).uniform(0, 1, c.n_junctions)
    vd = np.array([2.0, 0.0])
    J = network_jacobian(solver, model, g, vd)

    def f(gg: np.ndarray) -> np.ndarray:
        V = solver.node_voltages(model.conductance_S(gg), vd)
        return model.rhs(gg, V[c.edges[:, 0]] - V[c.edges[:, 1]])

    for j in (3, 50, 200):
        e = np.zeros_like(g)
        e[j] = 1e-7
        fd = (f(g + e) - f(g - e)) / 2e-7
        assert np.abs(fd - J[:, j]).max() <= 1e-6 * np.abs(J[:, j]).max()


# ---------------------------------------------------------------------------- against Radau
@pytest.fixture(scope="module")
def radau_refs(radau_network) -> dict[str, nwphys.SimulationResult]:
    """Radau at rtol 1e-9 with the analytic Jacobian, DC and 4 V pulses, records every 10 ms."""
    return {k: simulate(radau_network, d, duration_s=0.2, dt_s=0.01, method="Radau", rtol=1e-9, atol=1e-12)
            for k, d in DRIVES.items()}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dc", "pulses"])
def test_default_tolerances_and_convergence_against_radau(radau_network, radau_refs, kind: str) -> None:
    ref = radau_refs[kind]
    assert ref.g.max() > 0.3  # the drive really switches junctions
    errs = []
    for rtol in (None, 3e-4, 3e-5):  # None: the defaults, rtol 3e-3 and atol 3e-4
        res = simulate(radau_network, DRIVES[kind], duration_s=0.2, dt_s=0.01, rtol=rtol,
                       atol=None if rtol is None else rtol / 10)
        np.testing.assert_allclose(res.t_s, ref.t_s, rtol=1e-12)
        errs.append(float(np.abs(res.g - ref.g).max()))
        np.testing.assert_allclose(res.electrode_current_A, ref.electrode_current_A,
                                   rtol=0, atol=3e-3 * np.abs(ref.electrode_current_A).max())
    print(kind, "max |g - g_Radau| at rtol 3e-3, 3e-4, 3e-5:", errs)
    assert errs[0] <= 1e-3, errs
    assert errs[0] > errs[1] > errs[2], errs
    assert errs[2] <= 1e-5, errs


@pytest.mark.slow
def test_quasi_static_regime_every_sample_matches_reference(qs_network) -> None:
    """6 V held for 0.1 s: junctions switch 1e4-1e12 times faster than a sample."""
    levels = np.random.default_rng(0).uniform(0.0, 6.0, 10)
    drive = _held(levels, 0.1)
    ref = simulate(qs_network, drive, duration_s=1.0, dt_s=0.1, method="Radau", rtol=1e-9, atol=1e-12)
    model = make_junction_model(qs_network.junction_model, **qs_network.junction_params)
    st = Stepper(qs_network.circuit(), model, driven=["in", "out"])
    out = st.run(np.column_stack([levels, np.zeros(10)]), 0.1)
    assert st.stats.n_steps > 3 * levels.size  # it took internal steps inside the samples
    g_end = []
    st2 = Stepper(qs_network.circuit(), model, driven=["in", "out"])
    for L in levels:
        st2.run(np.array([[L, 0.0]]), 0.1)
        g_end.append(st2.g)
    np.testing.assert_allclose(np.array(g_end), ref.g[1:], rtol=0, atol=1e-3)
    np.testing.assert_array_equal(out.g_final, g_end[-1])  # one call or ten: bit for bit
    # the frozen-voltage step at the same sample period is far off and the guard says so
    with pytest.raises(IntegrationError, match=r"exact step dt=0.1 s at t=0 s is [0-9.e+]+ x the switching "
                       r"time [0-9.e+-]+ s of junction \d+ \(\|V\|=[0-9.]+ V\)"):
        Stepper(qs_network.circuit(), model, driven=["in", "out"], method="exact").run(
            np.array([[levels[0], 0.0]]), 0.1)


def test_exact_guard_warns_and_auto_substeps(qs_network) -> None:
    model = make_junction_model("rate_balance")
    c = qs_network.circuit()
    st = Stepper(c, model, driven=["in", "out"], method="exact", guard="warn")
    with pytest.warns(SwitchingTimeWarning, match=r"switching time .* of junction \d+"):
        st.run(np.array([[2.5, 0.0]]), 0.01)
    auto = Stepper(c, model, driven=["in", "out"], method="exact", n_substeps="auto")
    out = auto.run(np.array([[2.5, 0.0]]), 0.01)
    assert out.stats["n_steps"] > 10
    with pytest.raises(IntegrationError, match=r"dt=0\.001 s at t=0 s"):
        simulate(c, "in=dc:2.5;out=gnd", duration_s=0.01, dt_s=1e-3, method="exact")


# ---------------------------------------------------------------------------- invariants
def test_invariants_at_every_internal_step(seed: int) -> None:
    """0 <= g <= 1, Kirchhoff residual < 1e-9 and passivity after every accepted internal step,
    including a series resistance (Norton sources) and a floating electrode."""
    c = random_circuit(200, seed=seed, n_electrodes=3, series_resistance_ohm=20.0)
    model = make_junction_model("rate_balance")
    a, b = c.edges[:, 0], c.edges[:, 1]
    solver = NodalSolver(c, driven=["in", "out"])
    seen = []

    def monitor(t: float, g: np.ndarray, V: np.ndarray, vd: np.ndarray) -> None:
        assert g.min() >= 0.0 and g.max() <= 1.0
        G = model.conductance_S(g)
        I = G * (V[a] - V[b])
        n = c.n_nodes
        net = np.bincount(a, I, n) - np.bincount(b, I, n)
        scale = np.bincount(a, np.abs(I), n) + np.bincount(b, np.abs(I), n)
        src = solver.electrode_currents(G, vd, V)
        en = c.electrode_node
        net[en] -= src  # sources inject their current into the electrode nodes
        scale[en] += np.abs(src)
        assert np.linalg.norm(net) <= 1e-9 * np.linalg.norm(scale)
        dissipated = float(np.sum(G * (V[a] - V[b]) ** 2))
        rs = c.series_resistance_ohm
        d_idx = [c.electrode_index(k) for k in ("in", "out")]
        delivered = float(np.sum(vd * src[d_idx]))
        dissipated += float(np.sum(rs[d_idx] * src[d_idx] ** 2))
        assert dissipated >= 0 and delivered == pytest.approx(dissipated, rel=1e-8, abs=1e-15)
        seen.append(t)

    st = Stepper(c, model, driven=["in", "out"], monitor=monitor)
    levels = np.column_stack([np.random.default_rng(seed).uniform(-5, 5, 12), np.zeros(12)])
    st.run(levels, 0.05)
    assert len(seen) == st.stats.n_steps > levels.shape[0]


# ---------------------------------------------------------------------------- other models
class _FiniteDifferenceRateBalance(RateBalanceModel):
    """The rate-balance model as a user model without analytic derivatives or stage solve."""

    name = "fd_rate_balance"
    rate_jacobian = nwphys.JunctionModel.rate_jacobian
    conductance_slope_S = nwphys.JunctionModel.conductance_slope_S
    stage_solve = nwphys.JunctionModel.stage_solve
    rate_constant_per_s = nwphys.JunctionModel.rate_constant_per_s


def test_user_model_finite_difference_fallback_matches_analytic(seed: int) -> None:
    c = random_circuit(80, seed=seed)
    drive = "in=pulse:amp=10,width=0.02,period=0.04;out=gnd"
    kw = dict(duration_s=0.12, dt_s=0.01, rtol=1e-5, atol=1e-7)
    analytic = simulate(c, drive, model=make_junction_model("rate_balance"), **kw)
    fd = simulate(c, drive, model=_FiniteDifferenceRateBalance(), **kw)
    assert analytic.g.max() > 0.5
    np.testing.assert_allclose(fd.g, analytic.g, rtol=0, atol=1e-5)


def test_filament_gap_model_against_lsoda(seed: int) -> None:
    """The piecewise filament model (kinks at Vset, saturation at lmax) against LSODA at rtol 1e-10.

    A growing ramp: a sign change of the voltage makes filaments chatter at l = 0, where the
    model's rate is discontinuous and LSODA, BDF and Radau all stop with a step-size failure.
    """
    c = random_circuit(60, seed=seed)
    model = make_junction_model("filament_gap")
    drive = nwphys.Drive({"in": nwphys.PiecewiseLinear(np.array([0, 0.2]), np.array([0.0, 1.0])), "out": 0.0})
    ref = simulate(c, drive, duration_s=0.2, dt_s=0.01, model=model, method="LSODA", rtol=1e-10, atol=1e-13)
    res = simulate(c, drive, duration_s=0.2, dt_s=0.01, model=model)
    lmax = model.params["lmax"]
    assert np.abs(ref.g).max() > 0.5 * lmax  # filaments grow
    assert np.abs(res.g).max() <= lmax
    np.testing.assert_allclose(res.g, ref.g, rtol=0, atol=1e-3 * lmax)
