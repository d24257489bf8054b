"""Estimators: sklearn contract, reproducibility, accuracy on Synthetic Control, NW-RNN training."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

from nwmodel.data.datasets import make_synthetic_control
from nwmodel.errors import ModelValidationError
from nwmodel.models.esn import ESNClassifier, ESNRegressor, NWESNClassifier, NWESNRegressor
from nwmodel.models.readout import RidgeReadout, memory_capacity
from nwmodel.models.rnn import NWRNNClassifier, NWRNNRegressor, RNNClassifier, RNNRegressor, fit_stacked

RESERVOIRS = [NWESNClassifier, ESNClassifier]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def synth() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    Xtr, ytr = make_synthetic_control(30, 60, seed=1)
    Xte, yte = make_synthetic_control(30, 60, seed=2)
    return Xtr, ytr, Xte, yte


@pytest.mark.parametrize("cls", [*RESERVOIRS, NWESNRegressor, ESNRegressor, NWRNNClassifier, RNNRegressor])
def test_clone_and_get_params_round_trip(cls) -> None:
    est = cls(n_units=17, random_state=3)
    params = est.get_params()
    assert params["n_units"] == 17 and params["random_state"] == 3
    twin = clone(est)
    assert twin.get_params() == params
    assert cls(**params).get_params() == params


@pytest.mark.parametrize("cls", RESERVOIRS)
def test_reproducible_with_same_random_state_and_different_otherwise(cls, synth) -> None:
    Xtr, ytr, Xte, _ = synth
    a = cls(n_units=30, random_state=5).fit(Xtr, ytr).transform(Xte)
    b = cls(n_units=30, random_state=5).fit(Xtr, ytr).transform(Xte)
    c = cls(n_units=30, random_state=6).fit(Xtr, ytr).transform(Xte)
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 1e-3


def test_nwesn_on_synthetic_control_is_well_above_chance(synth) -> None:
    Xtr, ytr, Xte, yte = synth
    acc = NWESNClassifier(random_state=0).fit(Xtr, ytr).score(Xte, yte)
    assert acc > 0.6  # chance = 1/6


def test_torch_backend_estimator_matches_numpy(synth) -> None:
    Xtr, ytr, Xte, _ = synth
    a = NWESNClassifier(n_units=20, random_state=2).fit(Xtr, ytr)
    b = NWESNClassifier(n_units=20, random_state=2, backend="torch").fit(Xtr, ytr)
    np.testing.assert_allclose(a.transform(Xte), b.transform(Xte), rtol=1e-10)


def test_regressor_fits_a_state_linear_target(rng) -> None:
    X = rng.standard_normal((200, 2, 20))
    y = X[:, 0, -1] + 0.5 * X[:, 1, -1]  # the last input is linearly readable from the last state
    est = ESNRegressor(n_units=80, leak_rate=1.0, input_scaling=0.1, ridge_alpha=1e-6, random_state=0)
    pred = est.fit(X[:150], y[:150]).predict(X[150:])
    rmse = np.sqrt(np.mean((pred - y[150:]) ** 2))
    assert rmse < 0.1 * np.std(y)


def test_validation_errors_name_the_parameter(synth) -> None:
    Xtr, ytr, *_ = synth
    with pytest.raises(
        ModelValidationError, match=r"'gamma' parameter .* in the range \[0.0, 1.0\]\. Got 2 "
    ):
        NWESNClassifier(gamma=2).fit(Xtr, ytr)
    with pytest.raises(
        ModelValidationError, match=r"'n_units' parameter .* an int in the range \[1, inf\)\. Got 0 "
    ):
        ESNClassifier(n_units=0).fit(Xtr, ytr)
    with pytest.raises(
        ModelValidationError, match=r"X must have shape \(n_cases, n_channels, n_timepoints\)"
    ):
        ESNClassifier().fit(Xtr[:, 0, :], ytr)
    with pytest.raises(ModelValidationError, match="X must be finite"):
        bad = Xtr.copy()
        bad[0, 0, 3] = np.nan
        ESNClassifier().fit(bad, ytr)
    with pytest.raises(ModelValidationError, match="X must have 1 channel"):
        ESNClassifier(n_units=5).fit(Xtr, ytr).transform(np.zeros((2, 3, 60)))
    with pytest.raises(NotFittedError):
        ESNClassifier().transform(Xtr)


def test_fit_does_not_overwrite_parameters(synth) -> None:
    Xtr, ytr, *_ = synth
    est = NWESNClassifier(n_units=10, random_state=1)
    before = est.get_params()
    est.fit(Xtr, ytr)
    assert est.get_params() == before


def test_ridge_readout_matches_sklearn(rng) -> None:
    from sklearn.linear_model import Ridge

    F = rng.standard_normal((50, 4))
    y = F @ np.array([1.0, -2.0, 0.5, 0.0])
    ro = RidgeReadout(task="regression", alpha=0.3).fit(F, y)
    np.testing.assert_allclose(ro.predict(F), Ridge(alpha=0.3).fit(F, y).predict(F), rtol=1e-12)
    with pytest.raises(
        ModelValidationError,
        match=r"'task' parameter .* among \{'classification', 'regression'\}\. Got 'ranking'",
    ):
        RidgeReadout(task="ranking").fit(F, y)


def test_memory_capacity_of_linear_reservoir_is_at_most_n(rng) -> None:
    n, steps = 10, 6000
    W = rng.standard_normal((n, n))
    W *= 0.9 / np.max(np.abs(np.linalg.eigvals(W)))
    w_in = rng.uniform(-1, 1, n)
    u = rng.uniform(-0.5, 0.5, steps)
    H = np.zeros((steps, n))
    h = np.zeros(n)
    for t in range(steps):
        h = W @ h + w_in * u[t]
        H[t] = h
    mc, mc_k = memory_capacity(H, u, max_delay=40, washout=100)
    assert mc <= n * 1.02  # Jaeger: MC <= N, 2 % for estimation on a finite test set
    assert mc > 0.5 * n  # a linear reservoir remembers well
    assert np.all((mc_k >= 0) & (mc_k <= 1))


@pytest.mark.slow
def test_nwrnn_trains_loss_decreases_and_beats_chance(synth) -> None:
    Xtr, ytr, Xte, yte = (a[:, :, ::2] if a.ndim == 3 else a for a in synth)  # 30 steps
    est = NWRNNClassifier(n_units=16, learning_rate=0.02, max_epochs=20, patience=20, random_state=0)
    est.fit(Xtr, ytr)
    assert est.loss_curve_[-1] < 0.7 * est.loss_curve_[0]
    assert est.score(Xte, yte) > 0.4  # chance = 1/6
    proba = est.predict_proba(Xte[:4])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # reproducible
    again = NWRNNClassifier(n_units=16, learning_rate=0.02, max_epochs=3, patience=20, random_state=0)
    np.testing.assert_allclose(again.fit(Xtr, ytr).loss_curve_, est.loss_curve_[:3], rtol=1e-6)


def test_rnn_regressor_trains(rng) -> None:
    X = rng.uniform(-1, 1, (160, 1, 10))
    y = X[:, 0, -1] * 2.0 + 3.0
    est = RNNRegressor(n_units=16, learning_rate=0.02, max_epochs=40, patience=40, random_state=0)
    est.fit(X[:120], y[:120])
    rmse = np.sqrt(np.mean((est.predict(X[120:]) - y[120:]) ** 2))
    assert est.loss_curve_[-1] < 0.5 * est.loss_curve_[0]
    assert rmse < 0.5 * np.std(y)


def test_early_stopping_stops_before_max_epochs(synth) -> None:
    Xtr, ytr = synth[0][:, :, ::4], synth[1]
    est = RNNClassifier(n_units=8, learning_rate=0.05, max_epochs=400, patience=3, random_state=0)
    est.fit(Xtr, ytr)
    assert est.n_epochs_ < 400
    assert est.n_epochs_ - 1 - est.best_epoch_ == 3


ALL_ESTIMATORS = [
    NWESNClassifier,
    NWESNRegressor,
    ESNClassifier,
    ESNRegressor,
    NWRNNClassifier,
    NWRNNRegressor,
    RNNClassifier,
    RNNRegressor,
]


@pytest.mark.parametrize("cls", ALL_ESTIMATORS)
def test_constructor_parameters_are_keyword_only(cls) -> None:
    with pytest.raises(TypeError, match="positional argument"):
        cls(10)
    assert cls(n_units=10).n_units == 10


@pytest.mark.parametrize(
    ("cls", "params", "pattern"),
    [
        (
            ESNClassifier,
            {"n_units": 3.0},
            r"'n_units' parameter of ESNClassifier must be an int in the range "
            r"\[1, inf\)\. Got 3\.0 instead",
        ),
        (ESNClassifier, {"n_units": True}, r"'n_units' .* Got True instead"),
        (ESNRegressor, {"input_scaling": float("inf")}, r"'input_scaling' .* \[0\.0, inf\)\. Got inf"),
        (ESNRegressor, {"leak_rate": float("nan")}, r"'leak_rate' .* \(0\.0, 1\.0\]\. Got nan"),
        (NWESNRegressor, {"kp0": 0.0}, r"'kp0' .* \(0\.0, inf\)\. Got 0\.0"),
        (NWESNClassifier, {"exact_spectral_radius": "yes"}, r"'exact_spectral_radius' .* Got 'yes'"),
        (NWESNClassifier, {"backend": "jax"}, r"'backend' .* among .*'numpy'.* Got 'jax'"),
        (ESNClassifier, {"random_state": -1}, r"'random_state' .* Got -1 instead"),
        (ESNClassifier, {"device": 0}, r"'device' .* instance of 'str'\. Got 0 instead"),
        (RNNClassifier, {"validation_fraction": 1.0}, r"'validation_fraction' .* \(0\.0, 1\.0\)\. Got 1\.0"),
        (NWRNNClassifier, {"batch_size": 0}, r"'batch_size' .* \[1, inf\)\. Got 0 instead"),
        (RNNRegressor, {"dtype": "float16"}, r"'dtype' .* Got 'float16' instead"),
    ],
)
def test_declared_constraints_name_parameter_range_and_value(cls, params, pattern, synth) -> None:
    Xtr, ytr, *_ = synth
    with pytest.raises(ModelValidationError, match=pattern) as info:
        cls(**params).fit(Xtr, ytr)
    assert isinstance(info.value, ValueError)


def test_fit_stacked_validates_the_parameters_of_every_estimator(synth) -> None:
    Xtr, ytr, *_ = synth
    ok = NWRNNClassifier(n_units=4, max_epochs=1)
    bad = NWRNNClassifier(n_units=4, max_epochs=1, gamma=1.5)
    with pytest.raises(ModelValidationError, match=r"'gamma' parameter .* \[0\.0, 1\.0\]\. Got 1\.5"):
        fit_stacked([ok, bad], Xtr, ytr)


# ---------------------------------------------------------------------------------------------
# one validation for every public estimator: declared constraints, checked by fit


def _public_estimators() -> list[type]:
    import nwmodel

    found = [getattr(nwmodel, name) for name in nwmodel.__all__]
    return [obj for obj in found if isinstance(obj, type) and issubclass(obj, BaseEstimator)]


PUBLIC_ESTIMATORS = _public_estimators()


class _UndrivableDevice:
    """Has the Device API's names; driving it fails the test (validation must refuse first)."""

    input_names = ("in0",)
    output_names = ("out0",)
    ground_names = ()

    def apply(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the device was driven although a parameter is invalid")


#: A value of each estimator parameter that its declared range excludes (one per kind of constraint:
#: open and closed bounds, integers, options, booleans, types, callables, sequences, seeds).
BAD_VALUES: dict[str, object] = {
    "n_units": 0,
    "input_scaling": -1.0,
    "bias_scaling": -0.1,
    "spectral_radius": -0.9,
    "gamma": 1.5,
    "slope": 0.0,
    "dt": -0.1,
    "kp0": 0.0,
    "kd0": -1.0,
    "eta_p": math.inf,
    "eta_d": math.nan,
    "leak_rate": 0.0,
    "features": "mean",
    "ridge_alpha": "gcv",
    "alphas": [1.0, 0.0],
    "standardize": "yes",
    "exact_spectral_radius": 1,
    "backend": "jax",
    "dtype": "float16",
    "device": 0,
    "random_state": -1,
    "learning_rate": 0.0,
    "batch_size": 0,
    "max_epochs": 0,
    "patience": 2.5,
    "validation_fraction": 1.0,
    "n_features": 0,
    "v_scale_V": -0.1,
    "v_bias_V": math.inf,
    "dt_s": 0.0,
    "n_virtual": True,
    "n_presentations": 1.5,
    "readout": "currents",
    "calibration": "guess",
    "reset": "reboot",
    "relax_s": -1.0,
    "n_jobs": 0,
    "feature_store": 3,
    "task": "ranking",
    "alpha": -1.0,
}


def _init_parameters(cls: type) -> list[str]:
    return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]


def _valid_params(cls: type) -> dict[str, object]:
    """Small, valid settings of ``cls`` (what a test fit overrides one parameter of)."""
    names = _init_parameters(cls)
    base = {"n_units": 4, "max_epochs": 1, "device": _UndrivableDevice(), "calibration": "off"}
    if "n_units" in names:  # a reservoir or RNN: ``device`` is the torch device
        base["device"] = "cpu"
    return {k: v for k, v in base.items() if k in names}


def _fit(est: BaseEstimator) -> None:
    X = np.linspace(-1.0, 1.0, 30).reshape(6, 1, 5)
    y = np.array([0, 1] * 3)
    if isinstance(est, RidgeReadout):
        est.fit(X[:, 0, :], y)
    else:
        est.fit(X, y)


def test_every_public_estimator_is_covered() -> None:
    names = {cls.__name__ for cls in PUBLIC_ESTIMATORS}
    assert names >= {
        "NWESNClassifier",
        "ESNRegressor",
        "NWRNNRegressor",
        "RNNClassifier",
        "PhysicalReservoirClassifier",
        "PhysicalReservoirRegressor",
        "RidgeReadout",
    }


@pytest.mark.parametrize("cls", PUBLIC_ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_init_parameter_has_declared_constraints(cls) -> None:
    declared = getattr(cls, "_parameter_constraints", {})
    params = _init_parameters(cls)
    assert sorted(set(params) - set(declared)) == [], "parameters without constraints"
    assert sorted(set(declared) - set(params)) == [], "constraints of no parameter"
    cls(**_valid_params(cls))._validate_params()  # the defaults satisfy the constraints


@pytest.mark.parametrize(
    ("cls", "name"),
    [(cls, name) for cls in PUBLIC_ESTIMATORS for name in _init_parameters(cls)],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_fit_refuses_a_bad_value_of_every_parameter_naming_it(cls, name) -> None:
    assert name in BAD_VALUES, f"add an out-of-range value of {name!r} to BAD_VALUES"
    bad = BAD_VALUES[name]
    est = cls(**{**_valid_params(cls), name: bad})
    with pytest.raises(ModelValidationError) as info:
        _fit(est)
    message = str(info.value)
    assert f"The {name!r} parameter of {cls.__name__} must be " in message
    assert message.endswith(f"Got {bad!r} instead.")
    assert isinstance(info.value, ValueError)


def test_parameter_combinations_are_checked_before_the_device_is_driven() -> None:
    from nwmodel.physical.reservoir import PhysicalReservoirClassifier

    for params, pattern in [
        ({"n_jobs": 2, "reset": "relax"}, r"n_jobs > 1 needs reset='restore'.*got reset='relax'"),
        ({"readout": "conductances"}, r"features must be 'last' with readout='conductances'"),
        ({"calibration": "auto", "v_bias_V": 0.0}, r"v_bias_V must be in \(0\.0, inf\) with calibration"),
    ]:
        est = PhysicalReservoirClassifier(_UndrivableDevice(), **{"calibration": "off", **params})
        with pytest.raises(ModelValidationError, match=pattern):
            _fit(est)


@pytest.mark.parametrize(
    ("cls", "y_change", "pattern"),
    [
        (ESNRegressor, lambda y: np.where(np.arange(len(y)) == 3, np.nan, y.astype(float)), "y contains NaN"),
        (ESNRegressor, lambda y: np.full(len(y), np.inf), "y contains infinity"),
        (ESNRegressor, lambda y: np.array(["a"] * len(y)), r"numbers \(regression\).*numeric"),
        (ESNClassifier, lambda y: y[:-1], r"y must have shape \(180,\), got \(179,\)"),
        (ESNClassifier, lambda y: y[:, None], r"y must have shape \(180,\), got \(180, 1\)"),
        (ESNClassifier, lambda y: np.zeros_like(y), "y must hold at least 2 classes"),
    ],
)
def test_fit_checks_y(cls, y_change, pattern, synth) -> None:
    Xtr, ytr, *_ = synth
    with pytest.raises(ModelValidationError, match=pattern):
        cls(n_units=5).fit(Xtr, y_change(ytr))
