"""Integrators: fast stepper vs solve_ivp, invariants, failures, Stepper semantics, run files + resume."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from _nwcircuits import random_circuit

from nwphys import generate
from nwphys.circuit.circuit import Circuit
from nwphys.circuit.nodal import NodalSolver
from nwphys.dynamics.drives import parse_drive
from nwphys.dynamics.integrate import Stepper, simulate
from nwphys.errors import DeviceFileError, IntegrationError, ValidationError
from nwphys.io.runfile import read_run
from nwphys.junctions import RateBalanceModel, make_junction_model

PULSES = "in=pulse:amp=5,width=0.02,period=0.04;out=gnd"


def _device_500() -> Circuit:
    """A ~500-wire Torino-style device (about 2,000 junctions)."""
    side = float(np.sqrt(500 / 0.0095))
    return generate("torino", density_per_um2=0.0095, size_um=(side, side), seed=7).circuit()


@pytest.mark.slow
def test_fast_stepper_vs_solve_ivp_on_500_wires() -> None:
    """Documented accuracy: dt = 2e-4 s gives max |g error| <= 1e-3 under 5 V pulses (first order)."""
    c = _device_500()
    assert c.n_junctions > 1500
    ref = simulate(c, PULSES, duration_s=0.16, dt_s=4e-4, method="LSODA", rtol=1e-10, atol=1e-13)
    assert ref.g.max() > 0.02  # the pulses really potentiate junctions
    dts = np.array([4e-4, 2e-4, 1e-4])
    errs = []
    for k, dt in zip((1, 2, 4), dts, strict=True):
        fast = simulate(c, PULSES, duration_s=0.16, dt_s=dt, method="exact", record_every=k)
        np.testing.assert_allclose(fast.t_s, ref.t_s, rtol=1e-12)
        errs.append(np.abs(fast.g - ref.g).max())
    assert errs[1] <= 1e-3
    order = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 0.8 <= order <= 2.0, f"convergence order {order:.2f}, errors {errs}"


def test_invariants_every_step(seed: int) -> None:
    c = random_circuit(300, seed=seed, n_electrodes=3, series_resistance_ohm=20.0)
    model = make_junction_model("rate_balance")
    drive = parse_drive("in=pulse:amp=4,width=0.01,period=0.02;out=gnd;e2=float")
    res = simulate(c, drive, duration_s=0.1, dt_s=5e-4, model=model, record_nodes="all")
    assert res.g.min() >= 0.0 and res.g.max() <= 1.0
    solver = NodalSolver(c, driven=res.driven)
    drive_V = drive.voltages(res.t_s)[:, 0]
    assert drive_V.max() == 4.0 and drive_V.min() == 0.0
    for k in range(res.t_s.size):
        sol = solver.solve(model.conductance_S(res.g[k]), [drive_V[k], 0.0])
        assert sol.residual_rel < 1e-9
        np.testing.assert_allclose(res.node_voltage_V[k], sol.node_voltage_V, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(res.electrode_current_A[k], sol.electrode_current_A, rtol=1e-9, atol=1e-15)
        # passivity: the sources deliver V_source * I >= 0
        p_src = drive_V[k] * res.electrode_current_A[k, 0]
        assert p_src >= 0.0
        assert res.electrode_current_A[k, 2] == 0.0  # floating electrode


class _BrokenModel(RateBalanceModel):
    """Rate balance whose junction 3 turns NaN after t = 0.05 s (to exercise the error path)."""

    name = "broken_test_model"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.t = 0.0

    def step_exact(self, state, V, dt_s):
        self.t += dt_s
        out = super().step_exact(state, V, dt_s)
        if self.t > 0.05:
            out[3] = np.nan
        return out

    def rhs(self, state, V):
        out = super().rhs(state, V)
        if np.any(state > 0.5):
            out[3] = np.inf
        return out


def _rk45(c: Circuit, model: RateBalanceModel, *, duration_s: float, g0: np.ndarray):
    """RK45 under 1 V on ``in`` (``out`` grounded), records every 1 ms."""
    return simulate(c, "in=1;out=gnd", duration_s=duration_s, dt_s=1e-3, method="RK45", model=model, g0=g0)


def test_non_finite_state_raises_with_time_and_junction(seed: int) -> None:
    c = random_circuit(60, seed=seed)
    with pytest.raises(
        IntegrationError,
        match=r"non-finite junction state nan after the step at t=0.049 s "
        r"\(step 49\), junction 3",
    ):
        simulate(c, "in=1;out=gnd", duration_s=0.1, dt_s=1e-3, model=_BrokenModel(), method="exact")
    with pytest.raises(IntegrationError, match=r"non-finite junction rate inf at t=\S+ s, junction 3"):
        _rk45(c, _BrokenModel(), duration_s=0.1, g0=np.full(c.n_junctions, 0.6))


class _BlowUpModel(RateBalanceModel):
    """dg/dt = 50 g^2: finite-time blow-up at t = 1 / (50 g0), which no adaptive step can pass."""

    name = "blowup_test_model"

    def rhs(self, state, V):
        return 50.0 * state**2


def test_solve_ivp_failure_raises_integration_error(seed: int) -> None:
    c = random_circuit(60, seed=seed)
    with pytest.raises(
        IntegrationError, match=r"RK45 failed at t=0.0(199\d*|2) s: Required step size.*fastest junction \d+"
    ):
        _rk45(c, _BlowUpModel(), duration_s=0.05, g0=np.ones(c.n_junctions))


def test_simulate_bad_inputs_name_the_parameter(seed: int) -> None:
    c = random_circuit(60, seed=seed)
    with pytest.raises(ValidationError, match="duration_s must be a whole number of steps dt_s"):
        simulate(c, "in=1;out=gnd", duration_s=0.0105, dt_s=1e-3)
    with pytest.raises(ValidationError, match="method must be one of"):
        simulate(c, "in=1;out=gnd", duration_s=0.01, dt_s=1e-3, method="euler")
    with pytest.raises(ValidationError, match="record_every must be an integer in"):
        simulate(c, "in=1;out=gnd", duration_s=0.01, dt_s=1e-3, record_every=0)
    with pytest.raises(ValidationError, match="drive names electrode 'drain', not found"):
        simulate(c, "in=1;drain=gnd", duration_s=0.01, dt_s=1e-3)
    with pytest.raises(ValidationError, match=r"g0 must be in \[0.0, 1.0\].*junction 0"):
        simulate(c, "in=1;out=gnd", duration_s=0.01, dt_s=1e-3, g0=np.full(c.n_junctions, 1.5))
    with pytest.raises(ValidationError, match="dt_s must be in"):
        simulate(c, "in=1;out=gnd", duration_s=0.01, dt_s=-1e-3)
    st = Stepper(c, "rate_balance", driven=["in", "out"])
    with pytest.raises(ValidationError, match=r"driven_V must have shape \(n_steps, 2\)"):
        st.run(np.zeros((5, 3)), 1e-3)


def test_stepper_matches_simulate_and_carries_state(seed: int) -> None:
    """Stepper("exact") and simulate("exact") take the same frozen-voltage steps; the Stepper reads
    at the end of each hold (state after the sample, sources still at the sample's level)."""
    c = random_circuit(200, seed=seed)
    model = make_junction_model("rate_balance")
    drive = parse_drive("in=pulse:amp=3,width=0.01,period=0.02;out=gnd")
    dv = drive.voltages(np.arange(100) * 1e-3)
    st = Stepper(c, model, driven=["in", "out"], method="exact")
    out1 = st.run(dv[:40], 1e-3)
    out2 = st.run(dv[40:], 1e-3, probe_nodes=[0, 5])
    res = simulate(c, drive, duration_s=0.1, dt_s=1e-3, model=model, method="exact")
    np.testing.assert_allclose(st.g, res.g[100], rtol=1e-12)
    np.testing.assert_allclose(out1.g_final, res.g[40], rtol=1e-12)
    solver = NodalSolver(c, driven=["in", "out"])
    I = np.concatenate([out1.electrode_current_A, out2.electrode_current_A])
    for k in (0, 39, 40, 99):
        sol = solver.solve(model.conductance_S(res.g[k + 1]), dv[k])
        np.testing.assert_allclose(I[k], sol.electrode_current_A, rtol=1e-12)
    assert out2.node_voltage_V.shape == (60, 2)
    assert out1.stats["n_steps"] == 40 and out1.stats["n_solves"] == 80
    st.reset()
    np.testing.assert_array_equal(st.g, model.resting_state(c.n_junctions))
    st.set_state(np.full(c.n_junctions, 0.5))
    assert st.g[0] == 0.5


@pytest.mark.parametrize("method", ["sdirk2", "exact", "RK45"])
def test_run_file_resume_equals_uninterrupted_run(tmp_path, seed: int, method: str) -> None:
    c = random_circuit(150, seed=seed)
    kw = dict(
        duration_s=0.2,
        dt_s=1e-3,
        method=method,
        max_step_fraction=0.05,  # this test is about resuming, not about the exact step's accuracy
        record_every=2,
        chunk_records=10,
        record_nodes=[1, 2],
        backend="splu",
    )
    full = simulate(c, PULSES, out_path=tmp_path / "full.h5", **kw)
    assert full.success and full.g.shape == (101, c.n_junctions)
    calls = []

    def stop_at_half(info):
        calls.append(info["rows"])
        return info["rows"] < 50

    part = simulate(c, PULSES, out_path=tmp_path / "run.h5", callback=stop_at_half, **kw)
    assert part.status == 1 and part.t_s.size == 50
    # a kill after the records but before the checkpoint leaves extra rows: append junk rows
    with h5py.File(tmp_path / "run.h5", "a") as f:
        for name in ("t_s", "g", "electrode_current_A", "electrode_voltage_V", "node_voltage_V"):
            f[name].resize(f[name].shape[0] + 3, axis=0)
            f[name][-3:] = -7.0
    with pytest.raises(DeviceFileError, match="exists; pass force=True"):
        simulate(c, PULSES, out_path=tmp_path / "run.h5", **kw)
    with pytest.raises(DeviceFileError, match="different parameters"):
        simulate(c, PULSES, out_path=tmp_path / "run.h5", resume=True, **{**kw, "duration_s": 0.3})
    done = simulate(c, PULSES, out_path=tmp_path / "run.h5", resume=True, **kw)
    assert done.success
    for name in ("t_s", "g", "electrode_current_A", "electrode_voltage_V", "node_voltage_V"):
        np.testing.assert_array_equal(getattr(done, name), getattr(full, name), err_msg=name)
    stored = read_run(tmp_path / "run.h5")
    assert stored["complete"] and stored["params"]["method"] == method
    np.testing.assert_array_equal(stored["g"], full.g)
    with pytest.raises(DeviceFileError, match="already complete"):
        simulate(c, PULSES, out_path=tmp_path / "run.h5", resume=True, **kw)


def test_ivp_chunking_does_not_change_the_result(seed: int) -> None:
    """Regression: a pulse edge rounding-close to a chunk boundary left a record uninitialised."""
    c = random_circuit(150, seed=seed)
    kw = dict(duration_s=0.2, dt_s=1e-3, method="RK45", record_every=2, rtol=1e-9, atol=1e-12)
    chunked = simulate(c, PULSES, chunk_records=10, **kw)
    whole = simulate(c, PULSES, chunk_records=1000, **kw)
    assert np.all(np.isfinite(chunked.g))
    np.testing.assert_allclose(chunked.g, whole.g, rtol=0, atol=1e-12)
