"""The readout layer shared by the abstract and physical reservoirs, and the named protocols."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from nwmodel import load_dataset
from nwmodel.errors import ModelValidationError
from nwmodel.experiments._backends import PhysicalFactory
from nwmodel.models.esn import ESNClassifier, NWESNClassifier, NWESNRegressor
from nwmodel.models.readout import (
    RidgeReadout,
    fit_readouts,
    predict_readouts,
    sample_ends,
    trajectory_features,
)
from nwmodel.physical.reservoir import PhysicalReservoirClassifier, SimulatedDeviceSpec, electrode_readings
from nwmodel.selection.protocols import TUNED_FEATURES, protocol_fixed, protocol_grid
from nwmodel.selection.search import EstimatorFactory, select_and_test

SPEC = SimulatedDeviceSpec()
#: The device of version 0.2.0: the default one with the one-series integrator it had.
SPEC_020 = SimulatedDeviceSpec(device_kwargs=(("compliance_A", 1e-3), ("rtol", 3e-5), ("atol", 3e-6)))


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


@pytest.fixture(scope="module")
def sc() -> tuple[np.ndarray, ...]:
    """60 training and 30 test series of SyntheticControl (a fixed seeded subset)."""
    d = load_dataset("SyntheticControl")
    rng = np.random.default_rng(0)
    tr = np.sort(rng.choice(300, 60, replace=False))
    te = np.sort(rng.choice(300, 30, replace=False))
    return d.X_train[tr], d.y_train[tr], d.X_test[te], d.y_test[te]


# --------------------------------------------------------------------------- feature sets


@pytest.mark.parametrize(
    ("n", "k", "ends"),
    [
        (60, 6, [9, 19, 29, 39, 49, 59]),
        (10, 3, [3, 6, 9]),
        (5, 5, [0, 1, 2, 3, 4]),
        (7, 1, [6]),
        (7, 2, [3, 6]),
    ],
)
def test_sample_ends_are_the_hand_computed_ones(n: int, k: int, ends: list[int]) -> None:
    # the ends of samples ceil(j n / k), j = 1..k, 0-based
    np.testing.assert_array_equal(sample_ends(n, k), ends)


def test_each_feature_set_equals_its_hand_computed_reference() -> None:
    # trajectory value = 100 * case + 10 * sample + column: every entry names where it came from
    n_cases, n_samples, n_per = 2, 5, 3
    c, t, j = np.meshgrid(np.arange(n_cases), np.arange(n_samples), np.arange(n_per), indexing="ij")
    traj = 100.0 * c + 10.0 * t + j
    np.testing.assert_array_equal(trajectory_features(traj, "last"), [[40, 41, 42], [140, 141, 142]])
    # 2 ends of 5 samples: samples ceil(2.5) = 3 and 5, i.e. indices 2 and 4
    np.testing.assert_array_equal(trajectory_features(traj, 2)[0], [20, 21, 22, 40, 41, 42])
    np.testing.assert_array_equal(trajectory_features(traj, 1), trajectory_features(traj, "last"))
    np.testing.assert_array_equal(trajectory_features(traj, "all")[1], 100 + traj[0].reshape(-1))
    pooled = trajectory_features(traj, "pooled")
    # last, mean over samples (20 + j), population std over samples (std of 0, 10, .., 40)
    np.testing.assert_allclose(pooled[0], [40, 41, 42, 20, 21, 22] + [np.sqrt(200.0)] * 3, rtol=1e-15)


def test_physical_sample_ends_keep_every_virtual_node_of_the_chosen_samples(sc) -> None:
    X, y = sc[0][:6, :, :12], sc[1][:6]
    est = PhysicalReservoirClassifier(SPEC, n_virtual=3, features=3, random_state=1).fit(X, y)
    enc = est.encoding_
    dev = SPEC()
    try:
        dev.reset()
        meas = dev.apply(enc.voltages_V(X[2]), enc.dt_s / enc.n_virtual)
    finally:
        dev.close()
    R = electrode_readings(meas)  # (12 samples * 3 sub-steps, 16 readings)
    # 3 ends of 12 samples: samples 4, 8, 12; each with its 3 sub-step readings, in order
    rows = [s * 3 + v for s in (3, 7, 11) for v in range(3)]
    raw = est._feature_sets(est._check_input(X[2:3]), [3])[0]
    np.testing.assert_array_equal(raw[0], R[rows].reshape(-1))
    assert raw.shape == (1, 3 * 3 * 16)


def test_electrode_only_features_hold_no_internal_node_values_under_any_readout(sc) -> None:
    X, y = sc[0][:5, :, :10], sc[1][:5]
    for features in ("all", "pooled", 4):
        plain = PhysicalReservoirClassifier(SPEC, features=features, random_state=2).fit(X, y)
        oracle = PhysicalReservoirClassifier(
            SimulatedDeviceSpec(n_probe=20), readout="oracle", features=features, random_state=2
        ).fit(X, y)
        # 16 electrode readings per sample: the oracle reads 20 more, the electrode readout none
        per_sample = {"all": 10, "pooled": 3, 4: 4}[features]
        assert plain.n_features_out_ == 16 * per_sample
        assert oracle.n_features_out_ == 36 * per_sample
        # probing internal nodes (which a bench cannot) changes no electrode-readout feature
        probed_spec = SimulatedDeviceSpec(n_probe=20)
        probed = PhysicalReservoirClassifier(probed_spec, features=features, random_state=2)
        np.testing.assert_array_equal(probed.fit(X, y).transform(X), plain.transform(X))


# --------------------------------------------------------------------------- the ridge readout


def test_loo_alpha_is_the_grid_value_with_the_smallest_leave_one_out_error() -> None:
    rng = np.random.default_rng(5)
    F = rng.normal(size=(40, 8))
    y = F @ rng.normal(size=8) + 0.5 * rng.normal(size=40)
    grid = (0.01, 1.0, 100.0)
    ro = RidgeReadout(task="regression", alpha="loo", alphas=grid).fit(F, y)
    from sklearn.linear_model import Ridge

    def loo(alpha: float) -> float:  # brute force: 40 refits
        err = [
            (Ridge(alpha=alpha).fit(np.delete(F, i, 0), np.delete(y, i)).predict(F[i : i + 1])[0] - y[i]) ** 2
            for i in range(len(y))
        ]
        return float(np.mean(err))

    assert ro.alpha_ == min(grid, key=loo)


def test_standardised_readout_uses_the_training_mean_and_std() -> None:
    rng = np.random.default_rng(6)
    F = rng.normal(3.0, 5.0, size=(30, 4))
    F[:, 2] = 7.0  # a constant feature is centred only
    y = rng.normal(size=30)
    ro = RidgeReadout(task="regression", alpha=0.5, standardize=True).fit(F, y)
    np.testing.assert_allclose(ro.feature_mean_, F.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(ro.feature_scale_, np.where(F.std(axis=0) > 0, F.std(axis=0), 1.0), rtol=1e-15)
    from sklearn.linear_model import Ridge

    Z = (F - ro.feature_mean_) / ro.feature_scale_
    np.testing.assert_allclose(ro.predict(F[:5]), Ridge(alpha=0.5).fit(Z, y).predict(Z[:5]), rtol=1e-12)


# --------------------------------------------------------------------------- shared reservoir runs


@pytest.mark.parametrize("cls", [NWESNClassifier, ESNClassifier])
def test_readouts_fitted_from_one_reservoir_run_equal_lone_fits(cls, sc) -> None:
    X, y, Xt, _ = sc
    sets = ["last", 3, "pooled", "all"]
    stacked = [cls(n_units=20, features=f, random_state=4) for f in sets]
    fit_readouts(stacked, X, y)
    together = predict_readouts(stacked, Xt)
    for f, est, pred in zip(sets, stacked, together, strict=True):
        alone = cls(n_units=20, features=f, random_state=4).fit(X, y)
        np.testing.assert_array_equal(alone.readout_.model_.coef_, est.readout_.model_.coef_)
        np.testing.assert_array_equal(alone.predict(Xt), pred)


def test_physical_readouts_fitted_from_one_drive_equal_lone_fits(sc) -> None:
    X, y, Xt = sc[0][:12, :, :15], sc[1][:12], sc[2][:6, :, :15]
    sets = ["last", 3, "pooled"]
    stacked = [PhysicalReservoirClassifier(SPEC, features=f, random_state=4) for f in sets]
    fit_readouts(stacked, X, y)
    together = predict_readouts(stacked, Xt)
    for f, est, pred in zip(sets, stacked, together, strict=True):
        alone = PhysicalReservoirClassifier(SPEC, features=f, random_state=4).fit(X, y)
        np.testing.assert_array_equal(alone.transform(Xt), est.transform(Xt))
        np.testing.assert_array_equal(alone.predict(Xt), pred)


def test_presentations_add_independent_encodings_and_keep_the_first(sc) -> None:
    X, y = sc[0][:6, :, :10], sc[1][:6]
    one = PhysicalReservoirClassifier(SPEC, features="last", random_state=7).fit(X, y)
    three = PhysicalReservoirClassifier(SPEC, features="last", n_presentations=3, random_state=7).fit(X, y)
    assert len(three.encodings_) == 3
    np.testing.assert_array_equal(three.encodings_[0].w_in, one.encoding_.w_in)
    w = [e.w_in for e in three.encodings_]
    assert not np.allclose(w[0], w[1]) and not np.allclose(w[1], w[2])
    raw1 = one._feature_sets(one._check_input(X), ["last"])[0]
    raw3 = three._feature_sets(three._check_input(X), ["last"])[0]
    assert raw3.shape == (6, 3 * 16)
    np.testing.assert_array_equal(raw3[:, :16], raw1)  # presentation 0 is the single presentation


# --------------------------------------------------------------------------- protocols


#: Selection and readout digests of version 0.2.0 (commit 655b5e4, before the readout layer), on
#: the ``sc`` subset: the ``paper`` protocol must reproduce them bit for bit.
_PAPER_020 = {
    "nwesn_val": ["0x1.aaaaaaaaaaaabp-2", "0x1.8000000000000p-1"],
    "nwesn_test": ["0x1.3333333333333p-1", "0x1.3333333333333p-1"],
    "nwesn_coef": "c908d70ad45de56c",
    "nwesn_decision": "6f61f4606e20d8ef",
    "physical_val": ["0x1.999999999999ap-1", "0x1.999999999999ap-1"],
    "physical_test": ["0x1.5555555555555p-1"],
    "physical_coef": "dba545537faae721",
    "physical_features": "a25a5efa4409c4c6",
}


@pytest.mark.slow
def test_paper_protocol_reproduces_the_published_readout_bit_for_bit(sc) -> None:
    X, y, Xt, yt = sc
    fixed = protocol_fixed("paper", "nwesn")
    grid = {"gamma": [0.5, 0.95], "spectral_radius": [0.9], "n_units": [30]}
    r = select_and_test(
        EstimatorFactory("nwesn", "classification", fixed),
        grid,
        X,
        y,
        Xt,
        yt,
        task="classification",
        n_seeds=2,
    )
    assert [float(v).hex() for _, v in r.val_scores] == _PAPER_020["nwesn_val"]
    assert [float(v).hex() for v in r.test_scores] == _PAPER_020["nwesn_test"]
    e = NWESNClassifier(n_units=30, random_state=3, **fixed).fit(X, y)
    assert _digest(e.readout_.model_.coef_) == _PAPER_020["nwesn_coef"]
    assert _digest(e.readout_.model_.decision_function(e.transform(Xt))) == _PAPER_020["nwesn_decision"]

    pfixed = protocol_fixed("paper", "physical")
    Xs, ys, Xts = X[:24, :, :20], y[:24], Xt[:12, :, :20]
    g = {"input_scaling": [1.0, 3.0], "n_virtual": [1]}
    r = select_and_test(
        PhysicalFactory("classification", pfixed, SPEC_020),
        g,
        Xs,
        ys,
        Xts,
        yt[:12],
        task="classification",
        n_seeds=1,
    )
    assert [float(v).hex() for _, v in r.val_scores] == _PAPER_020["physical_val"]
    assert [float(v).hex() for v in r.test_scores] == _PAPER_020["physical_test"]
    p = PhysicalReservoirClassifier(SPEC_020, n_virtual=2, random_state=3, **pfixed).fit(Xs, ys)
    assert _digest(p.readout_.model_.coef_) == _PAPER_020["physical_coef"]
    assert _digest(p.transform(Xts)) == _PAPER_020["physical_features"]


def test_paper_protocol_is_the_published_grid_and_readout() -> None:
    from nwmodel import GRIDS
    from nwmodel.physical.mapping import PHYSICAL_GRIDS

    assert protocol_grid("paper", "nwesn", "paper") == GRIDS["nwesn"]["paper"]
    assert protocol_grid("paper", "physical", "paper") == PHYSICAL_GRIDS["paper"]
    assert protocol_fixed("paper", "nwesn") == {"features": "last", "ridge_alpha": 1.0, "standardize": False}
    assert protocol_fixed("paper", "nwrnn") == protocol_fixed("tuned", "nwrnn") == {}
    tuned = protocol_grid("tuned", "esn", "paper", n_timepoints=8)
    assert tuned["features"] == ["last", 2, 6, "pooled"]  # 10 and 20 ends do not fit 8 samples
    assert {k: v for k, v in tuned.items() if k != "features"} == GRIDS["esn"]["paper"]
    assert protocol_grid("tuned", "nwesn", "quick")["features"] == list(TUNED_FEATURES)


def test_tuned_selection_never_sees_the_test_labels(sc) -> None:
    X, y, Xt, yt = sc
    grid = {"gamma": [0.5, 0.95], "n_units": [20], "features": ["last", 4, "pooled"]}
    fac = EstimatorFactory("nwesn", "classification", protocol_fixed("tuned", "nwesn"))
    real = select_and_test(fac, grid, X, y, Xt, yt, task="classification", n_seeds=2)
    noise = np.random.default_rng(9).permutation(yt)
    shuffled = select_and_test(fac, grid, X, y, Xt, noise, task="classification", n_seeds=2)
    assert real.best_params == shuffled.best_params
    assert [v for _, v in real.val_scores] == [v for _, v in shuffled.val_scores]
    alphas = [fac(real.best_params, s).fit(X, y).readout_.alpha_ for s in range(2)]
    assert alphas == [fac(shuffled.best_params, s).fit(X, y).readout_.alpha_ for s in range(2)]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"features": 61}, r"features \(sample ends\) must be >= 1 and <= the series length 60, got 61"),
        ({"features": 0}, "features"),
        ({"features": "mean"}, "features"),
        ({"ridge_alpha": "gcv"}, "ridge_alpha"),
        (
            {"ridge_alpha": "loo", "alphas": [1.0, 0.0]},
            r"'alphas' parameter .* sequence of finite numbers > 0\. Got \[1\.0, 0\.0\] ",
        ),
        ({"ridge_alpha": "loo", "alphas": []}, r"'alphas' parameter .* must be a non-empty .* Got \[\] "),
    ],
)
def test_bad_readout_parameters_name_the_parameter(kwargs, match, sc) -> None:
    X, y = sc[0], sc[1]
    with pytest.raises(ModelValidationError, match=match):
        NWESNRegressor(n_units=5, **kwargs).fit(X, y.astype(float))
    with pytest.raises(ModelValidationError, match=match):
        PhysicalReservoirClassifier(SPEC, **kwargs).fit(X[:3], y[:3])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_presentations": 0}, r"'n_presentations' parameter .* an int in the range \[1, inf\)\. Got 0 "),
        (
            {"readout": "conductances", "features": "pooled"},
            "features must be 'last' with readout='conductances'",
        ),
    ],
)
def test_bad_physical_readout_parameters_name_the_parameter(kwargs, match, sc) -> None:
    with pytest.raises(ModelValidationError, match=match):
        PhysicalReservoirClassifier(SPEC, **kwargs).fit(sc[0][:3], sc[1][:3])


def test_unknown_protocol_is_refused_naming_it() -> None:
    with pytest.raises(ModelValidationError, match="protocol must be one of 'paper', 'tuned', got 'best'"):
        protocol_fixed("best", "nwesn")


def test_cli_protocols_are_the_library_ones_and_an_unknown_one_exits_2(capsys) -> None:
    from nwhil import _common, main
    from nwmodel.selection.protocols import PROTOCOLS

    assert _common.PROTOCOLS == PROTOCOLS
    for argv in (["run", "--model", "esn", "--dataset", "NARMA10"], ["compare"]):
        with pytest.raises(SystemExit) as exc:
            main([*argv, "--protocol", "best", "-o", "x"])
        assert exc.value.code == 2
        assert "--protocol: invalid choice: 'best'" in capsys.readouterr().err


def test_a_feature_constant_up_to_rounding_is_centred_not_scaled() -> None:
    # a saturated unit: the same value up to rounding in every case (spread ~1e-17); dividing by
    # that spread made new cases' rounding noise into features of order 1e3
    rng = np.random.default_rng(3)
    F = np.column_stack([rng.normal(size=50), 0.3 + 1e-17 * rng.normal(size=50), np.full(50, 2.0)])
    y = F[:, 0] + 0.1 * rng.normal(size=50)
    ro = RidgeReadout(task="regression", alpha="loo", standardize=True).fit(F, y)
    np.testing.assert_array_equal(ro.feature_scale_[1:], [1.0, 1.0])
    assert ro.feature_scale_[0] == pytest.approx(F[:, 0].std(), rel=1e-15)
    new = F[:5].copy()
    new[:, 1] = 0.3 + 1e-16  # rounding-level change on new data
    np.testing.assert_allclose(ro.predict(new), ro.predict(F[:5]), rtol=0, atol=1e-12)
