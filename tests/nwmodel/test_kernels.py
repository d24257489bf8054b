"""Kernels: numpy vs torch agreement, hand-computed cell steps, initialisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nwmodel.errors import ModelValidationError
from nwmodel.models.kernels import (
    ESNCellParams,
    NWCellParams,
    ReservoirWeights,
    init_weights,
    run_reservoir,
    spectral_radius,
)


def _data(rng: np.random.Generator, n_cases: int = 7, n_channels: int = 2, n_steps: int = 30) -> np.ndarray:
    return rng.standard_normal((n_cases, n_channels, n_steps))


@pytest.mark.parametrize(
    "cell,params", [("nw", NWCellParams(gamma=0.8, slope=5.0, dt=0.1)), ("esn", ESNCellParams(leak_rate=0.3))]
)
def test_numpy_and_torch_kernels_agree_float64(rng, cell, params) -> None:
    X = _data(rng)
    w = init_weights(20, 2, spectral_radius_target=0.95, input_scaling=1.0, bias_scaling=0.1, seed=rng)
    a = run_reservoir(X, w, cell, params, backend="numpy", return_sequences=True)
    b = run_reservoir(X, w, cell, params, backend="torch", return_sequences=True)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    last = run_reservoir(X, w, cell, params, backend="numpy")
    np.testing.assert_array_equal(last, a[:, -1])


def test_fused_numpy_kernel_agrees_with_torch_in_saturation_and_non_integer_rates(rng) -> None:
    """Regression guard for the fused numpy kernel (one exp per sigmoid, constants folded into
    the exponents): inputs x1e3 drive the sigmoid into overflow, etas are not integers."""
    X = 1e3 * _data(rng)
    w = init_weights(20, 2, spectral_radius_target=0.99, input_scaling=10.0, bias_scaling=1.0, seed=rng)
    p = NWCellParams(gamma=0.95, slope=10.0, dt=0.01, kp0=3e-4, kd0=0.7, eta_p=7.3, eta_d=1.7)
    a = run_reservoir(X, w, "nw", p, backend="numpy", return_sequences=True)
    b = run_reservoir(X, w, "nw", p, backend="torch", return_sequences=True)
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("cell,params", [("nw", NWCellParams()), ("esn", ESNCellParams())])
def test_float32_kernels_agree_with_float64(rng, cell, params) -> None:
    X = _data(rng)
    w = init_weights(20, 2, seed=rng)
    ref = run_reservoir(X, w, cell, params, dtype="float64")
    for backend in ("numpy", "torch"):
        s32 = run_reservoir(X, w, cell, params, backend=backend, dtype="float32")
        assert s32.dtype == np.float32
        np.testing.assert_allclose(s32, ref, rtol=1e-4, atol=1e-5)


def test_single_unit_nw_step_matches_formula() -> None:
    w = ReservoirWeights(W_h=np.array([[0.5]]), W_x=np.array([[2.0]]), b=np.array([0.1]))
    p = NWCellParams(gamma=0.9, slope=2.0, dt=0.1, kp0=1e-4, kd0=0.5, eta_p=10.0, eta_d=1.0)
    x = np.array([[[0.3, -0.7]]])
    h = 0.0
    for u in (0.3, -0.7):  # by hand, Eqs. 7-10
        a = 0.5 * h + 2.0 * u + 0.1
        z = 0.35 + 0.8 / (1.0 + math.exp(-2.0 * a))
        kp = 1e-4 * math.exp(10.0 * z)
        kd = 0.5 * math.exp(-1.0 * z)
        h = 0.1 * (kp - (kp + kd) * h) + 0.9 * h
    got = run_reservoir(x, w, "nw", p)
    assert got.shape == (1, 1)
    assert got[0, 0] == pytest.approx(h, rel=1e-13)


def test_esn_leaky_step_matches_hand_computation() -> None:
    w = ReservoirWeights(
        W_h=np.array([[0.0, 0.4], [-0.3, 0.0]]), W_x=np.array([[1.0], [0.5]]), b=np.array([0.1, -0.2])
    )
    alpha = 0.25
    x = np.array([[[0.8, -0.4, 0.2]]])
    h = np.zeros(2)
    for u in x[0, 0]:
        h = (1 - alpha) * h + alpha * np.tanh(w.W_h @ h + w.W_x[:, 0] * u + w.b)
    got = run_reservoir(x, w, "esn", ESNCellParams(leak_rate=alpha))
    np.testing.assert_allclose(got[0], h, rtol=1e-14)


def test_nw_state_stays_in_unit_interval_for_gamma_one(rng) -> None:
    # with gamma=1 and dt*(Kp+Kd) <= 1, h is a convex combination of h and Kp/(Kp+Kd) in (0, 1)
    X = 3 * _data(rng, n_steps=200)
    w = init_weights(30, 2, input_scaling=10.0, seed=rng)
    s = run_reservoir(X, w, "nw", NWCellParams(gamma=1.0, dt=0.05), return_sequences=True)
    assert s.min() >= 0.0 and s.max() <= 1.0


def test_spectral_radius_rescaling_is_exact(rng) -> None:
    for rho in (0.5, 0.9, 1.3):
        w = init_weights(60, 1, spectral_radius_target=rho, exact_spectral_radius=True, seed=rng)
        assert spectral_radius(w.W_h) == pytest.approx(rho, rel=1e-10)


def test_default_init_statistics(seed) -> None:
    n = 400
    w = init_weights(n, 3, spectral_radius_target=0.9, input_scaling=2.0, bias_scaling=0.5, seed=seed)
    assert np.std(w.W_h) == pytest.approx(0.9 / np.sqrt(n), rel=0.02)
    assert spectral_radius(w.W_h) == pytest.approx(0.9, rel=0.1)  # circular law, approximate
    assert np.abs(w.W_x).max() <= 2.0 and np.abs(w.b).max() <= 0.5
    w2 = init_weights(n, 3, spectral_radius_target=0.9, input_scaling=2.0, bias_scaling=0.5, seed=seed)
    np.testing.assert_array_equal(w.W_h, w2.W_h)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_units": 0}, r"n_units must be an integer in \[1, inf\), got 0"),
        ({"spectral_radius_target": -1.0}, r"spectral_radius must be in \[0.0, inf\), got -1.0"),
        ({"input_scaling": float("nan")}, "input_scaling must be a finite real number"),
    ],
)
def test_init_rejects_bad_arguments(kwargs, match) -> None:
    args = {"n_units": 5, "n_inputs": 1, **kwargs}
    with pytest.raises(ModelValidationError, match=match):
        init_weights(args.pop("n_units"), args.pop("n_inputs"), **args)


def test_cell_params_validated() -> None:
    with pytest.raises(ModelValidationError, match=r"gamma must be in \[0.0, 1.0\], got 1.5"):
        NWCellParams(gamma=1.5)
    with pytest.raises(ModelValidationError, match=r"leak_rate must be in \(0.0, 1.0\], got 0"):
        ESNCellParams(leak_rate=0)


def test_run_reservoir_rejects_wrong_shapes_and_params(rng) -> None:
    w = init_weights(5, 2, seed=rng)
    with pytest.raises(ModelValidationError, match=r"X must have shape \(n_cases, 2, n_timepoints>=1\)"):
        run_reservoir(np.zeros((3, 1, 4)), w, "nw", NWCellParams())
    with pytest.raises(ModelValidationError, match="params must be a ESNCellParams"):
        run_reservoir(np.zeros((3, 2, 4)), w, "esn", NWCellParams())
    with pytest.raises(ModelValidationError, match="device must be 'cpu' for the numpy backend"):
        run_reservoir(np.zeros((3, 2, 4)), w, "esn", ESNCellParams(), device="cuda")


@pytest.mark.gpu
def test_cuda_kernel_agrees_with_numpy(rng) -> None:
    X = _data(rng)
    w = init_weights(50, 2, seed=rng)
    for cell, p in (("nw", NWCellParams()), ("esn", ESNCellParams())):
        a = run_reservoir(X, w, cell, p)
        b = run_reservoir(X, w, cell, p, backend="torch", device="cuda")
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_rescale_maps_into_the_voltage_window() -> None:
    from nwmodel.models.kernels import NUMPY_OPS, rescale

    a = np.array([-1e3, -1.0, 0.0, 1.0, 1e3])
    z = rescale(NUMPY_OPS, a, 2.0)
    np.testing.assert_allclose(z[[0, 2, 4]], [0.35, 0.75, 1.15], rtol=1e-15)
    assert np.all(np.diff(z[1:4]) > 0)
    assert z[1] == pytest.approx(0.35 + 0.8 / (1 + math.exp(2.0)), rel=1e-15)
