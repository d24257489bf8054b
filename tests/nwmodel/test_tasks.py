"""Standard tasks: memory capacity and NARMA-10 against references, NW-ESN and a physical reservoir."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge

from nwmodel import NWESNClassifier, NWESNRegressor, PhysicalReservoirRegressor, SimulatedDeviceSpec
from nwmodel.data.datasets import make_narma10
from nwmodel.errors import ModelValidationError
from nwmodel.experiments.tasks import (
    _squared_correlation,
    memory_capacity_score,
    narma10_score,
    run_standard_tasks,
    tasks_markdown,
)

# ------------------------------------------------------------------ reference regressors (tests only)


class TapRegressor(RegressorMixin, BaseEstimator):
    """A delay line: the state is the last ``n_taps`` samples of the window, then a ridge readout.

    Its memory is known exactly: delays 1 .. n_taps - 1 are linear in the state (MC_k = 1), later
    ones are independent of it (MC_k ~ 0), so MC = n_taps - 1.
    """

    def __init__(self, n_taps: int = 4, ridge_alpha: float = 1e-8) -> None:
        self.n_taps = n_taps
        self.ridge_alpha = ridge_alpha

    def transform(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, 0, -self.n_taps :]

    def fit(self, X: Any, y: Any) -> TapRegressor:
        self.model_ = Ridge(alpha=self.ridge_alpha).fit(self.transform(X), y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(self.transform(X))


class MeanRegressor(RegressorMixin, BaseEstimator):
    """Predicts the training mean (no transform: the tasks must fall back to fit/predict)."""

    def fit(self, X: Any, y: Any) -> MeanRegressor:
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.mean_)


def _nwesn(**kw: Any) -> NWESNRegressor:
    # a short-memory NW-ESN: low retention and strong input make its memory visible in 10 delays
    params = {"n_units": 50, "gamma": 0.5, "input_scaling": 5.0, "ridge_alpha": 1e-6, "random_state": 0}
    return NWESNRegressor(**{**params, **kw})


def _tiny_spec() -> SimulatedDeviceSpec:
    return SimulatedDeviceSpec(n_wires=200, size_um=(40.0, 40.0), electrodes="mea2x3",
                               role_pattern="first-last", n_inputs=2, device_seed=3)


# --------------------------------------------------------------------------- helpers


def test_squared_correlation_matches_corrcoef_and_constant_is_zero(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(200, 3))
    p = 0.5 * t + rng.normal(size=(200, 3))
    p[:, 2] = 4.0  # constant prediction: no linear information
    got = _squared_correlation(p, t)
    ref = [np.corrcoef(p[:, k], t[:, k])[0, 1] ** 2 for k in range(2)]
    np.testing.assert_allclose(got[:2], ref, rtol=1e-12)
    assert got[2] == 0.0


# --------------------------------------------------------------------------- memory capacity


@pytest.mark.parametrize("method", ["shared", "refit"])
def test_mc_of_a_delay_line_is_its_number_of_past_taps(method: str) -> None:
    res = memory_capacity_score(TapRegressor(n_taps=4), n_steps=500, window=20, max_delay=8, method=method)
    mc_k = np.array(res["mc_k"])
    assert res["method"] == method
    np.testing.assert_allclose(mc_k[:3], 1.0, atol=1e-6)  # u(t-1), u(t-2), u(t-3) are taps
    assert np.all(mc_k[3:] < 0.05)  # u(t-4) ... are independent of the taps
    assert res["mc"] == pytest.approx(3.0, abs=0.15)
    assert res["mc"] == pytest.approx(float(mc_k.sum()), rel=1e-12)
    assert (res["n_train"], res["n_test"]) == (336, 145)  # 481 windows, int(0.7 * 481) train


def test_mc_nwesn_is_above_one_bounded_and_fades_with_delay() -> None:
    res = memory_capacity_score(_nwesn(), n_steps=800, window=30, max_delay=10)
    mc_k = np.array(res["mc_k"])
    assert res["method"] == "shared"
    assert 1.0 < res["mc"] <= 50  # at most the number of state features
    assert np.all((mc_k >= 0.0) & (mc_k <= 1.0))
    assert mc_k[:3].mean() > mc_k[-3:].mean() + 0.2


def test_mc_shared_states_equal_refitting_per_delay() -> None:
    """One multi-output readout on shared states == a fitted clone per delay (same reservoir)."""
    kw = {"n_steps": 400, "window": 25, "max_delay": 6}
    shared = memory_capacity_score(_nwesn(n_units=30), method="shared", **kw)
    refit = memory_capacity_score(_nwesn(n_units=30), method="refit", **kw)
    np.testing.assert_allclose(shared["mc_k"], refit["mc_k"], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("method", ["shared", "refit"])
def test_mc_leaves_the_given_estimator_as_it_was(method: str) -> None:
    kw = {"n_steps": 200, "window": 20, "max_delay": 3, "method": method}
    # an unfitted estimator stays unfitted, with its parameters
    est = _nwesn(n_units=20)
    params, names = est.get_params(), set(vars(est))
    ref = memory_capacity_score(est, **kw)
    assert est.get_params() == params and set(vars(est)) == names
    # a fitted one keeps its own reservoir and readout (same predictions), and its fitted state
    # does not enter the score (the same MC as from the unfitted twin)
    X = np.random.default_rng(1).uniform(-0.5, 0.5, size=(12, 1, 15))
    fitted = _nwesn(n_units=20).fit(X, X[:, 0, -1])
    pred, names = fitted.predict(X), set(vars(fitted))
    res = memory_capacity_score(fitted, **kw)
    assert set(vars(fitted)) == names
    np.testing.assert_array_equal(fitted.predict(X), pred)
    assert res["mc_k"] == ref["mc_k"]


def test_mc_depends_on_the_input_seed() -> None:
    kw = {"n_steps": 300, "window": 20, "max_delay": 4}
    a = memory_capacity_score(_nwesn(n_units=20), seed=0, **kw)
    b = memory_capacity_score(_nwesn(n_units=20), seed=0, **kw)
    c = memory_capacity_score(_nwesn(n_units=20), seed=1, **kw)
    assert a["mc_k"] == b["mc_k"]
    assert a["mc_k"] != c["mc_k"]


# --------------------------------------------------------------------------- NARMA-10


def test_narma10_of_the_mean_predictor_matches_the_formula() -> None:
    _, y = make_narma10(600, 30, seed=0)
    n_train = int(0.7 * len(y))
    y_tr, y_te = y[:n_train], y[n_train:]
    expected = 1.0 + (y_tr.mean() - y_te.mean()) ** 2 / y_te.var()
    res = narma10_score(MeanRegressor(), n_steps=600, window=30, seed=0)
    assert res["nmse"] == pytest.approx(expected, rel=1e-12)
    assert res["rmse"] ** 2 == pytest.approx(res["nmse"] * y_te.var(), rel=1e-12)
    assert (res["n_train"], res["n_test"]) == (n_train, len(y_te))


def test_narma10_nwesn_beats_the_mean() -> None:
    res = narma10_score(NWESNRegressor(n_units=50, random_state=0), n_steps=1000, window=30)
    assert res["nmse"] < 0.8
    assert res["n_train"] + res["n_test"] == 1000 - 30 - 199


# --------------------------------------------------------------------------- physical reservoir


def _n_features(spec: SimulatedDeviceSpec, n_virtual: int) -> int:
    inputs, outputs, ground, _ = spec.roles()
    return n_virtual * (len(inputs) + len(outputs) + len(ground))


def test_mc_physical_reservoir_on_a_tiny_device_is_in_range() -> None:
    spec = _tiny_spec()
    est = PhysicalReservoirRegressor(spec, n_virtual=2, random_state=0)
    res = memory_capacity_score(est, n_steps=300, window=20, max_delay=5)
    mc_k = np.array(res["mc_k"])
    assert res["method"] == "shared"
    assert np.all(np.isfinite(mc_k)) and np.all((mc_k >= 0.0) & (mc_k <= 1.0))
    assert 0.0 < res["mc"] <= _n_features(spec, 2)
    assert mc_k[0] > 0.1  # the device remembers the previous sample


def test_mc_physical_fit_states_equal_refitting_per_delay() -> None:
    """The fit-time states of the physical reservoir are those its readout is trained on."""
    est = PhysicalReservoirRegressor(_tiny_spec(), n_virtual=1, random_state=0)
    kw = {"n_steps": 100, "window": 12, "max_delay": 2}
    shared = memory_capacity_score(est, method="shared", **kw)
    refit = memory_capacity_score(est, method="refit", **kw)
    np.testing.assert_allclose(shared["mc_k"], refit["mc_k"], rtol=1e-8, atol=1e-12)


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 20, "max_delay": 20}, r"max_delay must be an integer in \[1, 19\], got 20"),
        ({"n_steps": 100, "window": 200, "max_delay": 5}, r"window must be an integer in \[2, 91\], got 200"),
        ({"n_steps": 5}, r"n_steps must be an integer in \[12, inf\), got 5"),
        ({"max_delay": 0}, r"max_delay must be an integer in \[1, 49\], got 0"),
        ({"method": "fast"}, r"method must be one of"),
    ],
)
def test_mc_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ModelValidationError, match=match):
        memory_capacity_score(_nwesn(), **kwargs)


def test_mc_shared_needs_transform() -> None:
    with pytest.raises(ModelValidationError, match=r"method='shared' needs .* MeanRegressor"):
        memory_capacity_score(MeanRegressor(), n_steps=100, window=12, max_delay=2, method="shared")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_steps": 299}, r"n_steps must be an integer in \[300, inf\), got 299"),
        ({"n_steps": 400, "window": 5}, r"window must be an integer in \[10, 190\], got 5"),
    ],
)
def test_narma10_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ModelValidationError, match=match):
        narma10_score(_nwesn(), **kwargs)


def test_tasks_reject_a_classifier() -> None:
    with pytest.raises(ModelValidationError, match=r"estimator must be a regressor.*NWESNClassifier"):
        narma10_score(NWESNClassifier())


def test_run_standard_tasks_rejects_unknown_keys_and_empty_dicts() -> None:
    with pytest.raises(ModelValidationError, match=r"mc_kwargs has unknown key\(s\) \['delays'\]"):
        run_standard_tasks({"tap": TapRegressor()}, mc_kwargs={"delays": 3})
    with pytest.raises(ModelValidationError, match="estimators must be a non-empty dict"):
        run_standard_tasks({})


# --------------------------------------------------------------------------- runner and table


def test_run_standard_tasks_rows_equal_the_single_task_scores() -> None:
    mc_kw = {"n_steps": 300, "window": 20, "max_delay": 6}
    nr_kw = {"n_steps": 400, "window": 20}
    rows = run_standard_tasks({"tap3": TapRegressor(n_taps=3), "mean": MeanRegressor()},
                              mc_kwargs=mc_kw, narma_kwargs=nr_kw)
    assert [(r["model"], r["task"]) for r in rows] == [
        ("tap3", "memory_capacity"), ("tap3", "narma10"), ("mean", "memory_capacity"), ("mean", "narma10")]
    assert rows[0]["mc_k"] == memory_capacity_score(TapRegressor(n_taps=3), **mc_kw)["mc_k"]
    assert rows[0]["mc"] == pytest.approx(2.0, abs=0.15)
    assert rows[2]["mc"] == 0.0  # a constant prediction has no memory
    assert rows[3]["nmse"] == narma10_score(MeanRegressor(), **nr_kw)["nmse"]


def test_tasks_markdown_formats_the_numbers() -> None:
    rows = [
        {"model": "nwesn", "task": "memory_capacity", "mc": 2.34567, "wall_time_s": 1.2,
         "max_delay": 20, "window": 50, "n_train": 665, "n_test": 286},
        {"model": "nwesn", "task": "narma10", "nmse": 0.41234, "wall_time_s": 2.0,
         "window": 50, "n_train": 665, "n_test": 286},
        {"model": "physical", "task": "narma10", "nmse": 0.9, "wall_time_s": 120.04,
         "window": 50, "n_train": 665, "n_test": 286},
    ]
    md = tasks_markdown(rows)
    lines = md.splitlines()
    assert lines[0] == "| model | MC ↑ | NARMA-10 NMSE ↓ | wall time (s) |"
    assert lines[2] == "| nwesn | 2.346 | 0.412 | 3.2 |"
    assert lines[3] == "| physical | - | 0.900 | 120.0 |"
    assert "MC: delays 1..20, windows of 50, 665 train / 286 test" in md
