"""SimulatedDevice junction variability (``junction_spread``): references, statistics, noise streams."""

from __future__ import annotations

import numpy as np
import pytest
from _noisy_devices import DRIFT, GROUND, INPUTS, NOISY, OUTPUTS
from _noisy_devices import device as _dev
from _noisy_devices import drive as _drive
from _noisy_devices import network as _network

from hardware import HardwareValidationError
from nwphys.dynamics.stepper import Stepper
from nwphys.dynamics.stochastic import GeneratorNoise, split_step_run
from nwphys.junctions import RateBalanceModel, make_junction_model

DT_S = 1e-2


@pytest.fixture(scope="module")
def network():
    """The device with deterministic junctions (the drift of :data:`NOISY`)."""
    return _network("rate_balance", DRIFT)


@pytest.fixture(scope="module")
def stochastic():
    """The device with stochastic junctions (:data:`NOISY`)."""
    return _network("rate_balance_ou", NOISY)




def _output_columns(net) -> list[int]:
    return [net.circuit().electrode_names.index(n) for n in OUTPUTS]


def _reference_run(net, model, v: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Output voltages and final state of ``model`` on ``net`` without the device: the stepper of
    the drift and, for a stochastic model, the split step with the noise of child 0 of ``seed``."""
    circ = net.circuit()
    driven = np.column_stack([v, np.zeros(v.shape[0])])
    drift = model.drift_model() if model.stochastic else model
    st = Stepper(circ, drift, driven=[*INPUTS, *GROUND], g0=net.state)
    if model.stochastic:
        noise = GeneratorNoise(model, np.random.default_rng(seed).spawn(1)[0])
        out = split_step_run(st, model, driven, DT_S, n_substeps=1, noise=noise)
    else:
        out = st.run(driven, DT_S)
    return out.electrode_voltage_V[:, _output_columns(net)], out.g_final


@pytest.mark.parametrize("which", ["network", "stochastic"])
def test_spread_zero_gives_the_readings_without_variability(which, request) -> None:
    net = request.getfixturevalue(which)
    v = _drive()
    dev = _dev(net, seed=3, read_noise_V=1e-3, junction_spread=0.0)
    m = dev.apply(v, DT_S)
    model = make_junction_model(net.junction_model, **net.junction_params)
    out_V, g = _reference_run(net, model, v, seed=3)
    read = np.random.default_rng(3).normal(0.0, 1e-3, size=out_V.shape)
    np.testing.assert_array_equal(m.output_V, out_V + read)
    np.testing.assert_array_equal(dev.g, g)
    for k, val in dev.model.params.items():
        assert np.ndim(val) == 0 and val == model.params[k]
    assert dev.metadata["junction_spread"] == 0.0
    assert _dev(net, seed=3).metadata["junction_spread"] == 0.0  # the default


def test_spread_changes_the_readings_reproducibly_with_the_seed(network) -> None:
    v = _drive()
    base = _dev(network, seed=5).apply(v, DT_S)
    runs = [_dev(network, seed=s, junction_spread=0.3).apply(v, DT_S) for s in (5, 5, 6)]
    np.testing.assert_array_equal(runs[0].output_V, runs[1].output_V)
    np.testing.assert_array_equal(runs[0].input_current_A, runs[1].input_current_A)
    assert not np.array_equal(runs[0].output_V, base.output_V)
    assert not np.array_equal(runs[0].output_V, runs[2].output_V)
    # a Generator seed is the integer seed's stream
    again = _dev(network, seed=np.random.default_rng(5), junction_spread=0.3).apply(v, DT_S)
    np.testing.assert_array_equal(again.output_V, runs[0].output_V)
    # the scattered device is the reference stepper over the scattered model
    dev = _dev(network, seed=5, junction_spread=0.3)
    out_V, _ = _reference_run(network, dev.model, v, seed=5)
    np.testing.assert_array_equal(runs[0].output_V, out_V)
    assert dev.metadata["junction_spread"] == 0.3


@pytest.mark.parametrize("spread", [0.1, 0.5])
def test_per_junction_parameters_have_the_given_log_spread(network, spread) -> None:
    dev = _dev(network, seed=11, junction_spread=spread)
    p = dev.model.params
    n = network.circuit().n_junctions
    assert n == 236
    for k in ("kp0_per_s", "kd0_per_s", "eta_p_per_V", "eta_d_per_V", "G_min_S"):
        z = np.log(p[k] / DRIFT[k])
        assert z.shape == (n,)
        # std within 5 standard errors spread / sqrt(2 n); mean (median of the factor 1) within 5
        assert abs(z.std(ddof=1) - spread) < 5 * spread / np.sqrt(2 * n), k
        assert abs(z.mean()) < 5 * spread / np.sqrt(n), k
    # G_min and G_max share one factor: their ratio is the network's
    np.testing.assert_allclose(p["G_max_S"] / p["G_min_S"], DRIFT["G_max_S"] / DRIFT["G_min_S"], rtol=1e-12)
    # the groups draw independent factors
    r = np.corrcoef(np.log(p["kp0_per_s"]), np.log(p["kd0_per_s"]))[0, 1]
    assert abs(r) < 5 / np.sqrt(n)


def test_stochastic_device_scatters_the_drift_and_keeps_the_noise(network, stochastic) -> None:
    det = _dev(network, seed=7, junction_spread=0.3)
    sto = _dev(stochastic, seed=7, junction_spread=0.3)
    # one seed, the same junctions with and without noise
    for k in RateBalanceModel.defaults:
        np.testing.assert_array_equal(sto.model.params[k], det.model.params[k])
        np.testing.assert_array_equal(sto.model.drift_model().params[k], det.model.params[k])
    for k, val in sto.model.noise_params.items():
        assert np.ndim(val) == 0 and val == NOISY[k]
    assert sto.metadata["junction_noise"]["sigma_per_sqrt_s"] == 0.01


def test_variability_leaves_both_noise_streams_unchanged(stochastic) -> None:
    v = _drive(20)
    clean = _dev(stochastic, seed=3, junction_spread=0.3).apply(v, DT_S)
    noisy = _dev(stochastic, seed=3, junction_spread=0.3, read_noise_V=1e-3).apply(v, DT_S)
    # the read noise: the seed's own first draws, as without variability
    expect = np.random.default_rng(3).normal(0.0, 1e-3, size=clean.output_V.shape)
    np.testing.assert_allclose(noisy.output_V - clean.output_V, expect, rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(noisy.input_current_A, clean.input_current_A)
    # the junction noise: child 0 of the seed (the reference), as without variability
    dev = _dev(stochastic, seed=3, junction_spread=0.3)
    out_V, g = _reference_run(stochastic, dev.model, v, seed=3)
    m = dev.apply(v, DT_S)
    np.testing.assert_array_equal(m.output_V, out_V)
    np.testing.assert_array_equal(dev.g, g)
    np.testing.assert_array_equal(clean.output_V, out_V)


def test_bad_spread_raises_naming_it(network) -> None:
    with pytest.raises(HardwareValidationError, match=r"junction_spread must be in \[0.0, 2.0\], got 2.5"):
        _dev(network, seed=1, junction_spread=2.5)
    with pytest.raises(HardwareValidationError, match=r"junction_spread must be in \[0.0, 2.0\], got -0.1"):
        _dev(network, seed=1, junction_spread=-0.1)
    msg = r"junction_spread=0.2 > 0 needs a seed .*got seed=None"
    with pytest.raises(HardwareValidationError, match=msg):
        _dev(network, junction_spread=0.2)
