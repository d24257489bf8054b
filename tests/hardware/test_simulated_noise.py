"""SimulatedDevice noise: stochastic junctions (split step) and current read noise."""

from __future__ import annotations

import numpy as np
import pytest
from _noisy_devices import GROUND, INPUTS, NOISY, OUTPUTS
from _noisy_devices import device as _dev
from _noisy_devices import drive as _drive
from _noisy_devices import network as _network

import nwphys
from hardware import HardwareValidationError
from nwphys.dynamics.stepper import Stepper
from nwphys.junctions import RateBalanceModel, make_junction_model


@pytest.fixture(scope="module")
def network():
    """The device with the NW-ESN junctions."""
    return _network()


@pytest.fixture(scope="module")
def stochastic():
    """The device with stochastic junctions (:data:`NOISY`)."""
    return _network("rate_balance_ou", NOISY)




def test_same_seed_same_measurement_other_seed_other(stochastic) -> None:
    v = _drive()
    runs = []
    for seed in (7, 7, 8):
        dev = _dev(stochastic, seed=seed, noise_substeps=2)
        runs.append((dev.apply(v, 1e-2), dev.g))
    (a, ga), (b, gb), (c, gc) = runs
    for name in ("output_V", "input_current_A", "ground_current_A"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(ga, gb)
    assert not np.array_equal(a.output_V, c.output_V) and not np.array_equal(ga, gc)
    # the noise acts: the drift alone ends elsewhere
    drift = _dev(_network("rate_balance", {k: NOISY[k] for k in RateBalanceModel.defaults}))
    drift.apply(v, 1e-2)
    assert np.abs(ga - drift.g).max() > 1e-3
    assert 0.0 <= ga.min() and ga.max() <= 1.0


def test_junction_noise_stream_leaves_the_read_noise_stream_unchanged(stochastic) -> None:
    v = _drive(20)
    clean = _dev(stochastic, seed=3).apply(v, 1e-2)
    noisy = _dev(stochastic, seed=3, read_noise_V=1e-3).apply(v, 1e-2)
    # same junction path (child stream of the seed); the read noise is the seed's own first draws
    np.testing.assert_array_equal(noisy.input_current_A, clean.input_current_A)
    expect = np.random.default_rng(3).normal(0.0, 1e-3, size=clean.output_V.shape)
    np.testing.assert_allclose(noisy.output_V - clean.output_V, expect, rtol=1e-9, atol=1e-15)


def test_deterministic_model_readings_are_those_of_the_stepper(network) -> None:
    v = np.random.default_rng(3).uniform(-1.0, 1.0, (25, 1))
    dev = _dev(network, seed=9, read_noise_V=1e-3)
    m = dev.apply(v, 1e-3)
    assert dev.metadata["junction_noise"] is None and dev.metadata["noise_substeps"] == 1
    circ = network.circuit()
    st = Stepper(circ, make_junction_model(network.junction_model, **network.junction_params),
                 driven=[*INPUTS, *GROUND], g0=network.state)
    out = st.run(np.column_stack([v, np.zeros(25)]), 1e-3)
    idx = [circ.electrode_names.index(n) for n in OUTPUTS]
    noise = np.random.default_rng(9).normal(0.0, 1e-3, size=(25, 2))
    np.testing.assert_array_equal(m.output_V, out.electrode_voltage_V[:, idx] + noise)
    np.testing.assert_array_equal(m.input_current_A, out.electrode_current_A[:, [0]])
    np.testing.assert_array_equal(dev.g, out.g_final)
    # noise_substeps does nothing to a deterministic model
    m3 = _dev(network, seed=9, read_noise_V=1e-3, noise_substeps=3).apply(v, 1e-3)
    np.testing.assert_array_equal(m3.output_V, m.output_V)


def test_current_read_noise_has_the_given_std(network) -> None:
    v = np.tile([[1.0]], (400, 1))
    ideal = _dev(network).apply(v, 1e-3)
    sigma = 1e-5
    noisy = _dev(network, read_noise_A=sigma, seed=5).apply(v, 1e-3)
    again = _dev(network, read_noise_A=sigma, seed=5).apply(v, 1e-3)
    np.testing.assert_array_equal(noisy.input_current_A, again.input_current_A)
    np.testing.assert_array_equal(noisy.output_V, ideal.output_V)  # voltages untouched
    resid = np.concatenate([(noisy.input_current_A - ideal.input_current_A).ravel(),
                            (noisy.ground_current_A - ideal.ground_current_A).ravel()])
    n = resid.size  # 800 draws: std within 5 standard errors sigma / sqrt(2 n)
    assert abs(resid.std() - sigma) < 5 * sigma / np.sqrt(2 * n)
    assert abs(resid.mean()) < 5 * sigma / np.sqrt(n)
    assert np.abs(ideal.input_current_A).min() > 100 * sigma  # the readings themselves are larger
    assert _dev(network, read_noise_A=sigma).metadata["read_noise_A"] == sigma


def test_reset_restores_the_state_and_the_noise_continues(stochastic) -> None:
    v = _drive(10)
    dev = _dev(stochastic, seed=2)
    g0 = dev.g
    m1 = dev.apply(v, 1e-2)
    dev.reset()
    np.testing.assert_array_equal(dev.g, g0)
    m2 = dev.apply(v, 1e-2)
    assert not np.array_equal(m1.output_V, m2.output_V)  # a new realisation
    # apply_batch runs the series one at a time, each from the reset state, the stream continuing
    other = _dev(stochastic, seed=2)
    batch = other.apply_batch([v, v[:4]], 1e-2)
    np.testing.assert_array_equal(batch[0].output_V, m1.output_V)
    np.testing.assert_array_equal(batch[1].output_V, m2.output_V[:4])
    md = dev.metadata
    assert md["noise_substeps"] == 1
    assert md["junction_noise"] == {"sigma_per_sqrt_s": 0.01, "jump_rate_per_s": 5.0, "jump_exponent": 2.78,
                                    "jump_min": 1e-3, "jump_max": 1.0}


def test_bad_noise_parameters_raise_naming_them(network, stochastic) -> None:
    assert _dev(stochastic).circuit.n_junctions == _dev(network).circuit.n_junctions == 236
    msg = r"noise_substeps must be an integer in \[1, inf\), got 0"
    with pytest.raises(HardwareValidationError, match=msg):
        _dev(stochastic, noise_substeps=0)
    with pytest.raises(HardwareValidationError, match=r"read_noise_A must be in \[0.0, inf\), got -1e-06"):
        _dev(network, read_noise_A=-1e-6)
    for kw, match in (
        ({"sigma_per_sqrt_s": -0.1}, r"sigma_per_sqrt_s must be in \[0.0, inf\) s\^-1/2 .*got -0.1"),
        ({"jump_exponent": 0.5}, r"jump_exponent must be in \(1.0, inf\) .*got 0.5"),
        ({"jump_min": 0.2, "jump_max": 0.1}, r"jump_max must be > jump_min .*jump_min=0.2, jump_max=0.1"),
    ):
        with pytest.raises(nwphys.ValidationError, match=match):
            _dev(_network("rate_balance_ou", {**NOISY, **kw}))
