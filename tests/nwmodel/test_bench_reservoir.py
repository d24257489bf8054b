"""A physical reservoir a bench can run: electrode-only readout, drive calibration, default device."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.backends.emulated import LocalEmulatedDevice
from hardware.backends.simulated import SimulatedDevice
from nwmodel.errors import ModelValidationError
from nwmodel.physical.calibration import CalibrationError, calibrate_drive, switching_voltage_V
from nwmodel.physical.mapping import AG_JUNCTION_RANGE_S, NWESN_JUNCTION_PARAMS, RESCALE_WINDOW_V
from nwmodel.physical.reservoir import PhysicalReservoirClassifier, SimulatedDeviceSpec, electrode_readings

SPEC = SimulatedDeviceSpec()  # the default bench-like device (16 pads, chessboard roles)


def _series(seed: int, n: int = 4, length: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.linspace(-1.0, 1.0, length)
    X = np.concatenate(
        [t + 0.3 * rng.standard_normal((n, length)), -t + 0.3 * rng.standard_normal((n, length))]
    )[:, None, :]
    return X, np.repeat([0, 1], n)


class Recording:
    """Device wrapper recording every applied voltage and every reading (test only)."""

    def __init__(self, device: SimulatedDevice) -> None:
        self.device = device
        self.max_V = 0.0
        self.max_I = 0.0
        self.measurements: list = []

    def __getattr__(self, name: str):  # delegate the rest of the Device API
        return getattr(self.device, name)

    @property
    def compliance_policy(self) -> str:
        return self.device.compliance_policy

    @compliance_policy.setter
    def compliance_policy(self, value: str) -> None:
        self.device.compliance_policy = value

    def apply(self, voltages_V, dt_s):
        v = np.asarray(voltages_V, dtype=float)
        self.max_V = max(self.max_V, float(np.abs(v).max()))
        m = self.device.apply(v, dt_s)
        self.max_I = max(
            self.max_I, float(np.abs(m.input_current_A).max()), float(np.abs(m.ground_current_A).max())
        )
        self.measurements.append(m)
        return m


def test_default_device_is_bench_like() -> None:
    inputs, outputs, ground, probe = SPEC.roles()
    assert (len(inputs), len(outputs), len(ground), probe) == (6, 6, 4, [])
    assert ground == ["E00", "E03", "E30", "E33"]  # chessboard: corners ground
    params = dict(SPEC.junction_params)
    assert params["G_max_S"] == pytest.approx(1 / 12.9e3) and params["G_min_S"] == pytest.approx(1 / 12.9e6)
    assert {k: params[k] for k in NWESN_JUNCTION_PARAMS if k.startswith(("kp", "kd", "eta"))} == {
        k: v for k, v in NWESN_JUNCTION_PARAMS.items() if k.startswith(("kp", "kd", "eta"))
    }
    assert AG_JUNCTION_RANGE_S["G_max_S"] / AG_JUNCTION_RANGE_S["G_min_S"] == pytest.approx(1000.0)
    dev = SPEC()
    assert all(e.compliance_A <= 1e-3 for e in dev.electrodes)
    dev.close()


@pytest.mark.slow
def test_electrode_features_are_the_electrode_readings_only() -> None:
    """The default readout is built from output voltages and source currents alone: probing internal
    nodes (which a bench cannot) changes nothing, and the features are exactly the readings."""
    X, y = _series(0)
    kw = {"n_virtual": 2, "features": "last", "standardize": False, "random_state": 1}
    plain = PhysicalReservoirClassifier(SPEC, **kw).fit(X, y)
    probed_spec = SimulatedDeviceSpec(n_probe=50)
    probed = PhysicalReservoirClassifier(probed_spec, **kw).fit(X, y)
    F = plain.transform(X)
    np.testing.assert_array_equal(F, probed.transform(X))
    assert F.shape == (X.shape[0], 2 * (6 + 6 + 4))
    # by hand: drive the device with the fitted encoding and read the electrodes
    dev = Recording(probed_spec())
    dev.reset()
    m = dev.apply(plain.encoding_.voltages_V(X[3]), plain.encoding_.dt_s / 2)
    assert m.node_voltage_V is not None and m.node_voltage_V.shape[1] == 50  # the oracle is there...
    np.testing.assert_array_equal(F[3], electrode_readings(m)[-2:].reshape(-1))  # ...and unused
    oracle = PhysicalReservoirClassifier(probed_spec, readout="oracle", **kw).fit(X, y)
    assert oracle.transform(X).shape == (X.shape[0], 2 * (16 + 50))
    dev.close()


def test_junction_calibration_puts_junctions_in_the_window() -> None:
    dev = SPEC()
    cal = calibrate_drive(dev, rule="junction")
    lo_e, hi_e = cal.electrode_window_V(RESCALE_WINDOW_V)
    assert cal.details["electrode_window_V"] == pytest.approx([lo_e, hi_e])
    for v_e, v_j in ((lo_e, RESCALE_WINDOW_V[0]), (hi_e, RESCALE_WINDOW_V[1])):
        dev.reset()
        dev.apply(np.full((1, 6), v_e), 1e-9)  # 1 ns: the junctions do not move
        vj = np.abs(dev.oracle().junction_voltage_V)
        assert np.quantile(vj, 0.99) == pytest.approx(v_j, rel=1e-4)
    # under the encoded drive of a series the 99 % quantile stays at or below the window's top
    # (switched junctions shed voltage), and it reaches into the window
    est = PhysicalReservoirClassifier(dev, calibration=cal, random_state=0)
    X, y = _series(1)
    est.fit(X, y)
    dev.reset()
    q = []
    for row in est.encoding_.voltages_V(X[0]):
        dev.apply(row[None, :], est.encoding_.dt_s)
        q.append(np.quantile(np.abs(dev.oracle().junction_voltage_V), 0.99))
    assert max(q) <= RESCALE_WINDOW_V[1] * 1.02 and min(q) >= RESCALE_WINDOW_V[0] * 0.98
    dev.close()


def test_calibration_respects_limits_and_compliance() -> None:
    for rule in ("junction", "response"):
        dev = Recording(SPEC())
        cal = calibrate_drive(dev, rule=rule)
        limit = min(e.max_abs_V for e in dev.electrodes if e.role == "input")
        assert dev.max_V <= cal.electrode_window_V()[1] * (1 + 1e-12) <= limit
        assert dev.max_I < 1e-3  # the verification hold stays below the 1 mA compliance
        fresh = SPEC()
        np.testing.assert_array_equal(dev.oracle().state, fresh.oracle().state)  # left reset
        fresh.close()
        dev.close()
    # a limit below the window's top: refused, naming what it needs
    low = SimulatedDeviceSpec(device_kwargs=(("compliance_A", 1e-3), ("max_abs_V", 2.0)))()
    with pytest.raises(CalibrationError, match=r"needs 2\.\d+ V at the inputs .* input limit max_abs_V=2 V"):
        calibrate_drive(low, rule="junction")
    # a compliance the calibrated drive would exceed: refused before any fit
    # (every source at 10 uA: a ground pad, which carries the current of several inputs, trips first)
    tight = SimulatedDeviceSpec(device_kwargs=(("compliance_A", 1e-5),))()
    with pytest.raises(CalibrationError, match=r"reaches the compliance of ground 'E00': 0\.000178 A"):
        calibrate_drive(tight, rule="junction")
    with pytest.raises(CalibrationError, match="needs the oracle readout"):
        calibrate_drive(LocalEmulatedDevice(SPEC), rule="junction")
    tight.close()


def test_compliance_scaled_calibration_is_the_largest_safe_drive() -> None:
    """on_compliance='scale': the hold at the scaled top stays below 95 % of compliance, 2 % more
    does not, and the gain is the measured one divided by the scale."""
    comp = 1e-4
    dev = SimulatedDeviceSpec(device_kwargs=(("compliance_A", comp),))()
    full = calibrate_drive(dev, rule="junction", verify_s=0.0)  # the gain, without the hold
    with pytest.raises(CalibrationError, match="on_compliance='scale'"):
        calibrate_drive(dev, rule="junction")
    cal = calibrate_drive(dev, rule="junction", on_compliance="scale")
    s = cal.details["compliance_scale"]
    assert 0.1 < s < 1.0
    assert cal.gain == pytest.approx(full.gain / s, rel=1e-12)
    assert cal.details["measured_gain"] == pytest.approx(full.gain, rel=1e-12)
    assert cal.details["junction_window_reached_V"] == pytest.approx([0.35 * s, 1.15 * s])
    top = cal.electrode_window_V()[1]
    assert top == pytest.approx(s * full.electrode_window_V()[1], rel=1e-12)

    def hold_max_A(v: float) -> float:
        dev.reset()
        m = dev.apply(np.full((1, len(dev.input_names)), v), 1.0)
        return float(np.abs(m.input_current_A[-1]).max())

    dev.compliance_policy = "record"
    assert hold_max_A(top) <= 0.95 * comp
    assert max(cal.details["verify_current_A"]) == pytest.approx(hold_max_A(top), rel=1e-9)
    assert hold_max_A(top / 0.98**2) > 0.95 * comp  # within 2 % of the largest safe scale (x2 margin)
    with pytest.raises(Exception, match="on_compliance"):
        calibrate_drive(dev, rule="junction", on_compliance="clip")
    dev.close()


def test_response_rule_estimates_the_junction_rule() -> None:
    """The bench rule (conductance onset) lands within a factor 1.5 of the oracle rule here."""
    dev = SPEC()
    j = calibrate_drive(dev, rule="junction")
    r = calibrate_drive(dev, rule="response")
    assert r.rule == "response" and j.rule == "junction"
    assert 1 / 1.5 < r.gain / j.gain < 1.5
    assert r.details["onset_V"] * r.gain == pytest.approx(switching_voltage_V())
    assert switching_voltage_V() == pytest.approx(np.log(0.5 / 1e-4) / 11.0)
    dev.close()


@pytest.mark.slow
def test_presets_stay_within_compliance_under_the_calibrated_drive() -> None:
    dev = Recording(SPEC())
    X, y = _series(2, n=3, length=30)
    for scaling in (1.0, 10.0):  # the paper grid's input scalings
        est = PhysicalReservoirClassifier(dev, input_scaling=scaling, n_virtual=5, random_state=0).fit(X, y)
        est.transform(X)
    assert 0 < dev.max_I < 1e-3
    assert all(not m.compliance.any() for m in dev.measurements)
    dev.close()


def test_emulated_features_equal_simulated_features() -> None:
    X, y = _series(3, n=2, length=10)
    kw = {"n_virtual": 2, "standardize": False, "random_state": 4}
    sim = PhysicalReservoirClassifier(SPEC, **kw).fit(X, y)
    with LocalEmulatedDevice(SPEC) as emu:
        emu_est = PhysicalReservoirClassifier(emu, calibration=sim.calibration_, **kw).fit(X, y)
        F_emu = emu_est.transform(X)
        # the bench rule runs through SCPI as well
        assert calibrate_drive(emu).rule == "response"
    # not bit for bit: the emulator cuts a block into chunks by compute time (so by the machine's
    # load), and the compiled engine starts its step-size history afresh at each call; a sample
    # then agrees to within the integration tolerance (observed up to 3.6e-7 relative under load)
    F_sim = sim.transform(X)
    scale = np.abs(F_sim).max(axis=0)
    assert np.all(np.abs(F_emu - F_sim) <= 1e-5 * scale)
    assert emu_est.electrode_window_V_ == sim.electrode_window_V_


def test_bad_device_set_ups_are_refused() -> None:
    with pytest.raises(ModelValidationError, match="no ground electrode"):
        SimulatedDeviceSpec(role_pattern=(("E01", "input"), ("E02", "output"))).roles()
    with pytest.raises(ModelValidationError, match=r"role_pattern|pattern"):
        SimulatedDeviceSpec(role_pattern="diagonal").roles()
    with pytest.raises(ModelValidationError, match="simulation-only"):
        X, y = _series(4, n=2, length=4)
        with LocalEmulatedDevice(SPEC) as emu:
            PhysicalReservoirClassifier(emu, readout="oracle").fit(X, y)


def test_a_device_that_cannot_reach_its_safe_state_never_hides_the_error_that_stopped_the_run() -> None:
    """The reservoir closes the devices it opens with ``closing``: when a drive fails and the safe
    state then fails too, the drive's error propagates (the safe-state failure noted on it); on a
    clean exit the safe-state failure itself is raised."""
    from hardware.errors import SafeStateError
    from hardware.testing import StarDevice
    from nwmodel.physical._readout import closing

    class Stuck(StarDevice):
        def _safe_state(self) -> None:
            raise SafeStateError("output still ON")

    with pytest.raises(RuntimeError, match="drive failed") as info, closing(Stuck()):
        raise RuntimeError("drive failed")
    assert any("could not reach the safe state" in n for n in info.value.__notes__)
    with pytest.raises(SafeStateError, match="output still ON"), closing(Stuck()):
        pass
