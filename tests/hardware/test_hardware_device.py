"""Conformance suite of the Device contract, parametrised over every backend, plus the core types."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

import nwphys
from hardware import (
    ComplianceError,
    Device,
    DeviceClosedError,
    ElectrodeChannel,
    EmulatedDevice,
    HardwareValidationError,
    LimitError,
    Measurement,
    StarDevice,
    serve_emulator,
)

INPUTS, OUTPUTS, GROUND = ("E00", "E03"), ("E11", "E12", "E21"), ("E33",)


@pytest.fixture(scope="module")
def network():
    """A small 4x4 MEA device (500 wires) shared by the module."""
    return nwphys.generate(n_wires=500, size_um=(60.0, 60.0), length_mean_um=12.0, length_std_um=2.0,
                           electrodes="mea4x4", seed=1)


def _local(kind: str, network, **kw) -> Device:
    if kind == "star":
        return StarDevice(("a", "b"), ("o1", "o2"), ("g",), **kw)
    from hardware import SimulatedDevice

    return SimulatedDevice(network, inputs=INPUTS, outputs=OUTPUTS, ground=GROUND, max_abs_V=2.0, **kw)


BACKENDS = ["star", "simulated", "star-emulated-block", "simulated-emulated-list",
            "simulated-emulated-block"]


@pytest.fixture(params=BACKENDS)
def make(request, network) -> Iterator[Callable[..., Device]]:
    """Factory ``make(**kw)`` of a device of the parametrised backend (servers stopped after)."""
    made: list = []

    def factory(**kw) -> Device:
        kind = request.param
        policy = kw.pop("compliance_policy", "raise")
        local = _local(kind.split("-")[0], network, **kw)
        if "emulated" not in kind:
            local.compliance_policy = policy
            made.append(local)
            return local
        srv = serve_emulator(local)
        dev = EmulatedDevice(srv.port, mode=kind.rsplit("-", 1)[1], timeout_s=5.0, compliance_policy=policy)
        made.extend([srv, dev])
        return dev

    yield factory
    for obj in reversed(made):
        (obj.close if isinstance(obj, Device) else obj.stop)()


def _drive(dev: Device, n: int = 40, amp: float = 1.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-amp, amp, (n, dev.n_inputs))


# ---------------------------------------------------------------------------- conformance
def test_apply_shapes_clock_and_kirchhoff(make) -> None:
    dev = make()
    v = _drive(dev)
    m1 = dev.apply(v[:25], 1e-3)
    m2 = dev.apply(v[25:], 1e-3)
    assert m1.input_V.shape == (25, dev.n_inputs) and m2.output_V.shape == (15, len(dev.output_names))
    # the device clock continues exactly across batches
    np.testing.assert_array_equal(np.concatenate([m1.t_s, m2.t_s]), 1e-3 * np.arange(40))
    np.testing.assert_array_equal(m1.input_V, v[:25])
    # Kirchhoff: what the sources push in comes back out of ground (outputs/floating carry none)
    m = Measurement.concatenate([m1, m2])
    net = m.input_current_A.sum(axis=1) + m.ground_current_A.sum(axis=1)
    assert np.max(np.abs(net)) <= 1e-9 * np.max(np.abs(m.input_current_A))
    # a passive network: outputs lie within the range of the applied voltages and 0 V (ground)
    lo = np.minimum(m.input_V.min(axis=1), 0.0) - 1e-12
    hi = np.maximum(m.input_V.max(axis=1), 0.0) + 1e-12
    assert np.all((m.output_V >= lo[:, None]) & (m.output_V <= hi[:, None]))
    assert dev.metadata["n_steps_total"] == 40 and dev.metadata["n_apply"] == 2


def test_limit_error_names_electrode_and_changes_nothing(make) -> None:
    dev, ref = make(), make()
    v = _drive(dev)
    bad = v.copy()
    bad[7, 1] = dev.electrodes[1].max_abs_V + 0.5
    with pytest.raises(LimitError, match=rf"step 7 on electrode '{dev.input_names[1]}' exceeds its limit"):
        dev.apply(bad, 1e-3)
    np.testing.assert_array_equal(dev.apply(v, 1e-3).input_current_A, ref.apply(v, 1e-3).input_current_A)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((3, 5)), r"voltages_V must have shape \(n_steps >= 1, n_inputs=2\)"),
    (np.zeros((0, 2)), "voltages_V must have shape"),
    (np.array([[0.0, np.nan]]), "voltages_V must be finite, got nan at step 0"),
])
def test_bad_drive_raises_validation_error(make, bad, match) -> None:
    dev = make()
    with pytest.raises(HardwareValidationError, match=match):
        dev.apply(bad, 1e-3)
    with pytest.raises(HardwareValidationError, match=r"dt_s must be in \(0.0, inf\)"):
        dev.apply(np.zeros((2, 2)), 0.0)


def test_reset_restores_initial_state(make) -> None:
    dev = make()
    v = _drive(dev, amp=1.5)
    first = dev.apply(v, 1e-2)
    dev.apply(v, 1e-2)  # the state moved on
    dev.reset()
    again = dev.apply(v, 1e-2)
    np.testing.assert_array_equal(again.input_current_A, first.input_current_A)
    np.testing.assert_array_equal(again.output_V, first.output_V)
    np.testing.assert_array_equal(again.t_s, first.t_s)


def test_read_does_not_advance_state_or_clock(make) -> None:
    dev, ref = make(), make()
    v = _drive(dev)
    m = dev.apply(v, 1e-3)
    ref.apply(v, 1e-3)
    r1, r2 = dev.read(), dev.read()
    assert r1.n_steps == 1 and r1.t_s[0] == pytest.approx(40e-3, rel=1e-15)
    np.testing.assert_allclose(r1.input_V[0], m.input_V[-1], rtol=0, atol=0)
    np.testing.assert_allclose(r2.input_current_A, r1.input_current_A, rtol=1e-9)
    w = _drive(dev, seed=1)
    np.testing.assert_allclose(dev.apply(w, 1e-3).input_current_A, ref.apply(w, 1e-3).input_current_A,
                               rtol=1e-9, atol=1e-15)


def test_compliance_raise_then_record(make) -> None:
    dev = make(compliance_A=1e-4)
    v = np.full((5, dev.n_inputs), 1.0)
    name = dev.input_names[0]
    with pytest.raises(ComplianceError, match=rf"compliance hit on electrode '{name}' at step 0"):
        dev.apply(v, 1e-3)
    np.testing.assert_array_equal(dev.bias_V, 0.0)  # safe state reached
    rec = make(compliance_A=1e-4, compliance_policy="record")
    m = rec.apply(v, 1e-3)
    np.testing.assert_array_equal(m.compliance, np.abs(m.input_current_A) >= 1e-4)
    # the ground sources have their compliance too, and each hit is counted
    limit = np.array([e.compliance_A for e in rec.electrodes if e.role == "ground"])
    np.testing.assert_array_equal(m.ground_compliance, np.abs(m.ground_current_A) >= limit)
    n_ground = int(np.count_nonzero(m.ground_compliance))
    assert m.compliance.all() and rec.metadata["n_compliance"] == m.compliance.size + n_ground


def test_context_manager_safe_state_on_error_and_closed_after(make) -> None:
    dev = make()
    with pytest.raises(RuntimeError, match="boom"), dev:
        dev.apply(np.full((3, dev.n_inputs), 0.5), 1e-3)
        raise RuntimeError("boom")
    assert dev.closed
    with pytest.raises(DeviceClosedError, match="is closed"):
        dev.apply(np.zeros((1, dev.n_inputs)), 1e-3)
    dev.close()  # idempotent


# ---------------------------------------------------------------------------- core types
def test_keyboard_interrupt_inside_apply_reaches_safe_state(monkeypatch) -> None:
    dev = StarDevice()
    dev.apply(np.full((2, 2), 0.7), 1e-3)
    calls = []
    monkeypatch.setattr(dev, "_safe_state", lambda: calls.append("safe"))

    def interrupted(v, dt):
        raise KeyboardInterrupt

    monkeypatch.setattr(dev, "_apply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dev.apply(np.full((2, 2), 0.7), 1e-3)
    assert calls == ["safe"] and np.all(dev.bias_V == 0.0)


def test_star_device_matches_hand_solution() -> None:
    dev = StarDevice(("a", "b"), ("o",), ("g",), G0_S=1e-3, G_gnd_S=2e-3, rate_S_per_C=0.0)
    m = dev.apply(np.array([[1.0, -0.5]]), 1e-3)
    vc = (1e-3 * 1.0 + 1e-3 * -0.5) / (1e-3 + 1e-3 + 2e-3)  # 0.125 V
    np.testing.assert_allclose(m.output_V, [[vc]], rtol=1e-15)
    np.testing.assert_allclose(m.input_current_A, [[1e-3 * (1 - vc), 1e-3 * (-0.5 - vc)]], rtol=1e-14)
    np.testing.assert_allclose(m.ground_current_A, [[-2e-3 * vc]], rtol=1e-14)


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "a b", "role": "input"}, "ElectrodeChannel name must be non-empty"),
    ({"name": "a", "role": "sink"}, "role must be one of 'input', 'output', 'ground', 'floating', "
                                    "got 'sink'"),
    ({"name": "a", "role": "input", "max_abs_V": 0.0}, r"max_abs_V must be in \(0.0, inf\), got 0.0"),
    ({"name": "a", "role": "input", "compliance_A": float("nan")}, "compliance_A must be a finite"),
])
def test_electrode_validation(kwargs, match) -> None:
    with pytest.raises(HardwareValidationError, match=match):
        ElectrodeChannel(**kwargs)


def test_device_needs_unique_names_and_an_input() -> None:
    with pytest.raises(HardwareValidationError, match=r"repeated: \['a'\]"):
        StarDevice(("a", "a"))
    with pytest.raises(HardwareValidationError, match="compliance_policy must be one of 'raise', 'record'"):
        StarDevice(compliance_policy="ignore")


def test_measurement_is_frozen_and_checked() -> None:
    m = StarDevice().apply(np.zeros((3, 2)), 1e-3)
    with pytest.raises(ValueError, match="read-only"):
        m.output_V[0, 0] = 1.0
    with pytest.raises(HardwareValidationError, match=r"compliance must have shape \(3, 2\)"):
        Measurement(m.t_s, m.input_V, m.output_V, m.input_current_A, m.ground_current_A, np.zeros((3, 1)))


# ---------------------------------------------------------------------------- simulated specifics
def test_simulated_equals_nwphys_stepper(network) -> None:
    from hardware import SimulatedDevice
    from nwphys.dynamics.integrate import Stepper
    from nwphys.junctions import make_junction_model

    dev = SimulatedDevice(network, inputs=INPUTS, outputs=OUTPUTS, ground=GROUND)
    v = np.random.default_rng(3).uniform(-1, 1, (30, 2))
    m = dev.apply(v, 1e-3)
    circ = network.circuit()
    st = Stepper(circ, make_junction_model(network.junction_model, **network.junction_params),
                 driven=[*INPUTS, *GROUND], g0=network.state)
    out = st.run(np.column_stack([v, np.zeros(30)]), 1e-3)
    idx = [circ.electrode_names.index(n) for n in OUTPUTS]
    np.testing.assert_array_equal(m.output_V, out.electrode_voltage_V[:, idx])
    np.testing.assert_array_equal(dev.g, out.g_final)


def test_simulated_realism_noise_adc_settling(network) -> None:
    from hardware import SimulatedDevice

    kw = dict(inputs=INPUTS, outputs=OUTPUTS, ground=GROUND)
    v = np.tile([[1.0, -1.0]], (20, 1))
    ideal = SimulatedDevice(network, **kw).apply(v, 1e-3)
    noisy = SimulatedDevice(network, read_noise_V=1e-3, seed=5, **kw).apply(v, 1e-3)
    again = SimulatedDevice(network, read_noise_V=1e-3, seed=5, **kw).apply(v, 1e-3)
    np.testing.assert_array_equal(noisy.output_V, again.output_V)  # seeded
    resid = noisy.output_V - ideal.output_V
    assert 0.5e-3 < resid.std() < 1.5e-3  # 60 draws of N(0, 1 mV)
    np.testing.assert_array_equal(noisy.input_current_A, ideal.input_current_A)  # currents are noise free
    adc = SimulatedDevice(network, adc_bits=8, max_abs_V=1.0, **kw).apply(v, 1e-3)
    lsb = 2.0 / 2**8
    np.testing.assert_allclose(adc.output_V / lsb, np.round(adc.output_V / lsb), atol=1e-9)
    assert np.max(np.abs(adc.output_V - ideal.output_V)) <= lsb / 2 + 1e-12
    tau = 2e-3
    settled = SimulatedDevice(network, settling_tau_s=tau, **kw).apply(v, 1e-3)
    k = np.arange(1, 21)
    np.testing.assert_allclose(settled.input_V[:, 0], 1.0 - np.exp(-k * 1e-3 / tau), rtol=1e-12)


def test_simulated_relax_reset_and_bad_names(network) -> None:
    from hardware import SimulatedDevice

    with pytest.raises(HardwareValidationError, match="input electrode 'X9' not found; known electrodes: E00"
                       ):
        SimulatedDevice(network, inputs=["X9"], outputs=[])
    with pytest.raises(HardwareValidationError, match="electrode 'E00' given as both input and output"):
        SimulatedDevice(network, inputs=["E00"], outputs=["E00"])
    # tight tolerances: the relaxed state is checked far below the default accuracy (3e-4 in g)
    dev = SimulatedDevice(network, inputs=INPUTS, outputs=OUTPUTS, ground=GROUND, reset_mode="relax",
                          relax_time_s=50.0, relax_dt_s=0.05, rtol=1e-6, atol=1e-9)
    g_rest = dev.g
    dev.apply(np.full((200, 2), 1.5), 1e-2)
    assert np.max(dev.g - g_rest) > 1e-3  # potentiated
    dev.reset()
    # relaxation at 0 V decays g towards rest with rate kd0 = 0.5 s^-1: after 50 s, < e^-25 of the excess
    assert np.max(np.abs(dev.g - g_rest)) < 1e-6
