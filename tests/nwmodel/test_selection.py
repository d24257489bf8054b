"""The paper's protocol: known-answer selection, seeds, mapper, grids."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from nwmodel.data.datasets import make_synthetic_control
from nwmodel.errors import ExperimentError, ModelError, ModelValidationError
from nwmodel.selection.search import (
    GRIDS,
    EstimatorFactory,
    SelectionResult,
    expand_grid,
    select_and_test,
    validation_split,
)


class Oracle(BaseEstimator):
    """Reads the label hidden in X[:, 0, 0]; `skill` = fraction of cases it answers (rest: class 0)."""

    def __init__(self, skill: float = 1.0, offset: float = 0.0, fail: bool = False, random_state: int = 0):
        self.skill = skill
        self.offset = offset
        self.fail = fail
        self.random_state = random_state

    def fit(self, X, y):
        if self.fail:
            raise ModelError("diverged on purpose")
        self.seeds_seen_ = self.random_state
        return self

    def predict(self, X):
        truth = X[:, 0, 0] + self.offset
        n_ok = round(self.skill * len(truth))
        out = truth.copy()
        out[n_ok:] = 0
        return out


def _make(params, seed):
    return Oracle(**params, random_state=seed)


def _data(n=100, rng=None):
    rng = rng or np.random.default_rng(0)
    y = np.repeat([0.0, 1.0, 2.0, 3.0], n // 4)
    X = np.concatenate([y[:, None, None], rng.standard_normal((n, 1, 5))], axis=2)
    return X, y


def test_selects_the_configuration_best_on_validation() -> None:
    X, y = _data()
    res = select_and_test(_make, {"skill": [0.2, 0.9, 0.5]}, X, y, X, y, task="classification", n_seeds=3)
    assert isinstance(res, SelectionResult)
    assert res.best_params == {"skill": 0.9}
    assert res.metric == "accuracy" and res.n_configs == 3
    scores = dict((p["skill"], s) for p, s in res.val_scores)
    assert scores[0.9] > scores[0.5] > scores[0.2]
    assert res.val_score == scores[0.9]
    assert len(res.test_scores) == 3 and res.test_std == pytest.approx(0.0)
    assert res.wall_time_s > 0


def test_regression_picks_minimum_rmse() -> None:
    X, y = _data()
    res = select_and_test(_make, {"offset": [0.5, 0.0, -0.2]}, X, y, X, y, task="regression", n_seeds=2)
    assert res.best_params == {"offset": 0.0} and res.metric == "rmse"
    assert res.test_mean == pytest.approx(0.0, abs=1e-12)
    assert dict((p["offset"], s) for p, s in res.val_scores)[0.5] == pytest.approx(0.5)


def test_seeds_and_validation_mean_over_random_reservoirs() -> None:
    seen = []

    class Recording(Oracle):
        def fit(self, X, y):
            seen.append(self.random_state)
            return super().fit(X, y)

    X, y = _data()
    select_and_test(
        lambda p, s: Recording(**p, random_state=s),
        {"skill": [1.0, 0.5]},
        X,
        y,
        X,
        y,
        task="classification",
        n_seeds=4,
    )
    assert seen == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]  # 2 configs x 4 seeds, then 4 test refits


def test_mapper_is_used_and_gives_the_same_result() -> None:
    X, y = _data()
    calls = []

    def mapper(fn, items):
        items = list(items)
        calls.append(len(items))
        with ThreadPoolExecutor(2) as ex:
            return list(ex.map(fn, items))

    grid = {"skill": [0.3, 0.7]}
    a = select_and_test(_make, grid, X, y, X, y, task="classification", n_seeds=2, mapper=mapper)
    b = select_and_test(_make, grid, X, y, X, y, task="classification", n_seeds=2)
    assert calls == [4, 2]
    assert a.val_scores == b.val_scores and a.best_params == b.best_params


def test_failed_configurations_are_reported_not_silently_dropped() -> None:
    X, y = _data()
    res = select_and_test(
        _make, [{"fail": [True]}, {"skill": [0.4]}], X, y, X, y, task="classification", n_seeds=2
    )
    assert res.best_params == {"skill": 0.4}
    assert res.failures == [({"fail": True}, "diverged on purpose")]
    assert np.isnan(res.val_scores[0][1])
    with pytest.raises(ExperimentError, match="every one of the 1 configurations failed"):
        select_and_test(_make, {"fail": [True]}, X, y, X, y, task="classification", n_seeds=1)


def test_validation_split_is_stratified_80_20_and_handles_singleton_classes() -> None:
    X, y = _data(100)
    _, _, _, yv, note = validation_split(X, y, task="classification")
    assert len(yv) == 20 and note == ""
    assert np.all(np.unique(yv, return_counts=True)[1] == 5)
    y2 = y.copy()
    y2[0] = 9.0  # a class with one case
    _, _, yf, yv, note = validation_split(X, y2, task="classification")
    assert 9.0 in yf and 9.0 not in yv and "< 2 training cases" in note


def test_grids_match_table_3() -> None:
    assert len(expand_grid(GRIDS["nwesn"]["paper"])) == 2 * 4 * 4 * 5 * 2 * 3
    assert len(expand_grid(GRIDS["esn"]["paper"])) == 2 * 3 * 4 * 3
    assert len(expand_grid(GRIDS["nwrnn"]["paper"])) == 2 * 2 * 4 * 2 * 2
    assert len(expand_grid(GRIDS["rnn"]["paper"])) == 4
    assert GRIDS["nwesn"]["paper"]["dt"] == [0.1, 0.01, 0.001]
    for model, grids in GRIDS.items():
        for config in expand_grid(grids["quick"])[:1] + expand_grid(grids["paper"])[:1]:
            EstimatorFactory(model, "classification")(config, 0)  # every key is a real parameter


def test_bad_arguments() -> None:
    X, y = _data()
    with pytest.raises(ModelValidationError, match=r"n_seeds must be an integer in \[1, inf\), got 0"):
        select_and_test(_make, {"skill": [1.0]}, X, y, X, y, task="classification", n_seeds=0)
    with pytest.raises(ModelValidationError, match=r"grid\['skill'\] must be a non-empty list"):
        expand_grid({"skill": []})
    with pytest.raises(ModelValidationError, match="model must be one of"):
        EstimatorFactory("lstm", "classification")


def test_protocol_end_to_end_with_nwesn() -> None:
    Xtr, ytr = make_synthetic_control(20, 60, seed=1)
    Xte, yte = make_synthetic_control(20, 60, seed=2)
    grid = {"n_units": [40], "gamma": [0.95], "dt": [0.1, 0.001]}
    res = select_and_test(
        EstimatorFactory("nwesn", "classification"),
        grid,
        Xtr,
        ytr,
        Xte,
        yte,
        task="classification",
        n_seeds=2,
    )
    # with dt = 0.001 the state barely moves from 0 in 60 steps and the ridge readout starves
    assert res.best_params["dt"] == 0.1
    assert res.test_mean > 0.5
