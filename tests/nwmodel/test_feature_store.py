"""The store of physical-reservoir readings returns what driving the device returns, bit for bit,
shares one integration between the oracle and electrode-only readouts, and never mixes devices or
encodings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from nwmodel import PhysicalReservoirClassifier, SimulatedDeviceSpec
from nwmodel.errors import ExperimentError, ModelValidationError
from nwmodel.physical._feature_store import store_applies

SPEC = SimulatedDeviceSpec(
    n_wires=200, size_um=(40.0, 40.0), electrodes="mea2x3", role_pattern="first-last", n_inputs=2,
    device_seed=3,
)
PROBED = dataclasses.replace(SPEC, n_probe=12)


def _data(seed: int = 0, n: int = 6, length: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 1, length)), np.arange(n) % 2


def _est(spec: SimulatedDeviceSpec, store: Path | None, **kw) -> PhysicalReservoirClassifier:
    kw = {"features": "last", **kw}
    return PhysicalReservoirClassifier(spec, feature_store=store, n_virtual=2, random_state=0, **kw)


def _forbid_driving(monkeypatch: pytest.MonkeyPatch) -> None:
    def no(self, X, enc):
        raise AssertionError(f"the device was driven for {len(X)} series")

    monkeypatch.setattr(PhysicalReservoirClassifier, "_drive", no)


def test_stored_features_equal_driven_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _data()
    Xte, _ = _data(1)
    plain = _est(SPEC, None).fit(X, y)
    reference = plain.transform(Xte)
    raw_reversed = plain._presentation(X[::-1], plain.encoding_)
    stored = _est(SPEC, tmp_path).fit(X, y)
    np.testing.assert_array_equal(stored.transform(Xte), reference)
    assert any(tmp_path.rglob("*.npz"))
    # everything is stored now: a refit and a transform drive nothing and give the same bits
    _forbid_driving(monkeypatch)
    again = _est(SPEC, tmp_path).fit(X, y)
    np.testing.assert_array_equal(again.transform(Xte), reference)
    np.testing.assert_array_equal(again._presentation(X[::-1], again.encoding_), raw_reversed)


def test_oracle_and_electrode_readouts_share_one_integration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = _data()
    oracle = _est(PROBED, tmp_path, readout="oracle").fit(X, y)
    reference = _est(SPEC, None).fit(X, y).transform(X)
    n_e = reference.shape[1] // 2  # per virtual node
    assert oracle.transform(X).shape[1] == 2 * (n_e + 12)
    _forbid_driving(monkeypatch)
    electrodes = _est(SPEC, tmp_path).fit(X, y)  # the electrode part of the oracle's readings
    np.testing.assert_array_equal(electrodes.transform(X), reference)


def test_another_device_or_encoding_is_driven_again(tmp_path: Path) -> None:
    X, y = _data()
    _est(SPEC, tmp_path).fit(X, y)
    n_keys = len(list(tmp_path.iterdir()))
    for est in (
        _est(SPEC, tmp_path, slope=5.0),
        _est(SPEC, tmp_path, dt_s=0.05),
        _est(dataclasses.replace(SPEC, device_seed=4), tmp_path),
        PhysicalReservoirClassifier(SPEC, feature_store=tmp_path, n_virtual=2, random_state=1),
    ):
        plain = PhysicalReservoirClassifier(**{**est.get_params(), "feature_store": None}).fit(X, y)
        np.testing.assert_array_equal(est.fit(X, y).transform(X), plain.transform(X))
        assert len(list(tmp_path.iterdir())) == n_keys + 1
        n_keys += 1


def test_store_applies_only_where_series_are_independent_and_noise_free() -> None:
    enc = _est(SPEC, None).fit(*_data()).encoding_
    assert store_applies(SPEC, enc)
    assert not store_applies(SPEC, dataclasses.replace(enc, reset="relax"))
    assert not store_applies(SPEC, dataclasses.replace(enc, readout="conductances"))
    noisy = dataclasses.replace(SPEC, device_kwargs=(*SPEC.device_kwargs, ("read_noise_V", 1e-4)))
    assert not store_applies(noisy, enc)
    assert not store_applies(lambda: SPEC(), enc)  # any other factory is driven every time


def test_unreadable_stored_readings_raise(tmp_path: Path) -> None:
    X, y = _data()
    _est(SPEC, tmp_path).fit(X, y)
    chunk = next(tmp_path.rglob("*.npz"))
    chunk.write_bytes(chunk.read_bytes()[:40])  # a truncated file
    with pytest.raises(ExperimentError, match="cannot be read"):
        _est(SPEC, tmp_path).fit(X, y)


def test_feature_store_must_be_a_path() -> None:
    with pytest.raises(
        ModelValidationError,
        match=r"'feature_store' parameter .* must be None, an instance of 'str' or .*PathLike'\. Got 3 ",
    ):
        PhysicalReservoirClassifier(SPEC, feature_store=3).fit(*_data())  # type: ignore[arg-type]
