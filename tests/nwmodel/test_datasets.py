"""Datasets: the shared files through aeon's loaders, clear errors, seeded generators."""

from __future__ import annotations

import numpy as np
import pytest

from nwmodel.data.datasets import (
    ECG5000_SPLIT,
    default_data_dir,
    load_dataset,
    make_mackey_glass,
    make_memory_capacity,
    make_narma10,
    make_synthetic_control,
    narma10_series,
)
from nwmodel.errors import DatasetError


@pytest.mark.parametrize(
    "name,task,n_train,n_test,length",
    [
        ("SyntheticControl", "classification", 300, 300, 60),
        ("Earthquakes", "classification", 322, 139, 512),
        ("FloodModeling1", "regression", 471, 202, 266),
    ],
)
def test_shared_files_load(data_dir, name, task, n_train, n_test, length) -> None:
    ds = load_dataset(name, data_dir=data_dir)
    assert ds.task == task and ds.name == name
    assert ds.X_train.shape == (n_train, 1, length) and ds.X_test.shape == (n_test, 1, length)
    assert len(ds.y_train) == n_train and len(ds.y_test) == n_test
    if task == "regression":
        assert ds.y_train.dtype == float
    else:
        # UCR .tsv series are z-normalised per series
        np.testing.assert_allclose(ds.X_train.mean(axis=-1), 0.0, atol=1e-5)


def test_split_argument(data_dir) -> None:
    tr = load_dataset("SyntheticControl", data_dir=data_dir, split="train")
    te = load_dataset("SyntheticControl", data_dir=data_dir, split="test")
    assert tr.X_test is None and tr.X_train.shape[0] == 300
    assert te.X_train is None and te.X_test.shape[0] == 300
    assert sorted(set(tr.y_train.tolist())) == [1, 2, 3, 4, 5, 6]


def test_ecg5000_uses_documented_stratified_split(data_dir) -> None:
    ds = load_dataset("ECG5000", data_dir=data_dir)
    assert len(ds.y_train) + len(ds.y_test) == 500
    assert len(ds.y_test) == round(500 * ECG5000_SPLIT["test_size"])
    assert "stratified split" in ds.notes and "random_state=42" in ds.notes
    # stratified: the majority class share is the same in both parts
    assert np.mean(ds.y_train == 1) == pytest.approx(np.mean(ds.y_test == 1), abs=0.01)
    again = load_dataset("ECG5000", data_dir=data_dir)
    np.testing.assert_array_equal(ds.y_test, again.y_test)


def test_aeon_bundled_dataset_loads() -> None:
    ds = load_dataset("GunPoint", data_dir=None)
    assert ds.task == "classification" and ds.X_train.shape == (50, 1, 150)
    reg = load_dataset("Covid3Month")
    assert reg.task == "regression" and reg.y_train.dtype == float


def _write_tsv(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(str(v) for v in r) for r in rows) + "\n")


def test_missing_file_unknown_name_and_missing_dir(tmp_path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'NoSuchSet'"):
        load_dataset("NoSuchSet", data_dir=tmp_path)
    with pytest.raises(DatasetError, match=r"data directory .* does not exist"):
        load_dataset("SyntheticControl", data_dir=tmp_path / "nope")
    _write_tsv(tmp_path / "Half" / "Half_TRAIN.tsv", [[1, 0.1, 0.2, 0.3], [2, 0.3, 0.2, 0.1]])
    with pytest.raises(DatasetError, match="missing test file"):
        load_dataset("Half", data_dir=tmp_path)
    assert load_dataset("Half", data_dir=tmp_path, split="train").X_train.shape == (2, 1, 3)


def test_nan_values_are_rejected(tmp_path) -> None:
    rows = [[1, 0.1, "NaN", 0.3], [2, 0.3, 0.2, 0.1]]
    for part in ("TRAIN", "TEST"):
        _write_tsv(tmp_path / "Holes" / f"Holes_{part}.tsv", rows)
    with pytest.raises(DatasetError, match="1 series contain NaN"):
        load_dataset("Holes", data_dir=tmp_path)


def test_ragged_series_are_rejected(tmp_path) -> None:
    rows = [[1, 0.1, 0.2, 0.3], [2, 0.3, 0.2]]
    for part in ("TRAIN", "TEST"):
        _write_tsv(tmp_path / "Rag" / f"Rag_{part}.tsv", rows)
    with pytest.raises(DatasetError, match="Rag TRAIN: "):
        load_dataset("Rag", data_dir=tmp_path)


def test_non_integer_float_labels_are_rejected(tmp_path) -> None:
    rows = [[1.5, 0.1, 0.2, 0.3], [2.0, 0.3, 0.2, 0.1]]
    for part in ("TRAIN", "TEST"):
        _write_tsv(tmp_path / "Odd" / f"Odd_{part}.tsv", rows)
    with pytest.raises(DatasetError, match="class labels must be integers or strings"):
        load_dataset("Odd", data_dir=tmp_path)


def test_non_numeric_regression_target_is_rejected(tmp_path) -> None:
    header = (
        "@problemName Bad\n@timestamps false\n@missing false\n@univariate true\n@equalLength true\n"
        "@seriesLength 3\n@targetlabel true\n@data\n"
    )
    for part in ("TRAIN", "TEST"):
        p = tmp_path / "Bad" / f"Bad_{part}.ts"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(header + "0.1,0.2,0.3:abc\n0.3,0.2,0.1:def\n")
    with pytest.raises(DatasetError, match="Bad TRAIN"):
        load_dataset("Bad", data_dir=tmp_path)


def test_default_data_dir_follows_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NWHIL_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("NWHIL_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "nanowire-hil" / "data"


def test_synthetic_control_generator_seeded_and_normalised() -> None:
    X, y = make_synthetic_control(10, 60, seed=3)
    X2, _ = make_synthetic_control(10, 60, seed=3)
    X3, _ = make_synthetic_control(10, 60, seed=4)
    np.testing.assert_array_equal(X, X2)
    assert not np.allclose(X, X3)
    assert X.shape == (60, 1, 60) and sorted(set(y.tolist())) == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(X.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=-1), 1.0, rtol=1e-12)
    # increasing trend (class 3) has a positive slope, decreasing (class 4) a negative one
    t = np.arange(60)
    slope = np.array([np.polyfit(t, s, 1)[0] for s in X[:, 0]])
    assert np.all(slope[y == 3] > 0) and np.all(slope[y == 4] < 0)


def test_narma10_recurrence_by_hand() -> None:
    u = np.linspace(0.0, 0.5, 14)
    y = narma10_series(u)
    assert np.all(y[:10] == 0.0)
    y10 = 0.3 * 0 + 0.05 * 0 * 0 + 1.5 * u[0] * u[9] + 0.1
    assert y[10] == pytest.approx(y10, rel=1e-15)
    y11 = 0.3 * y10 + 0.05 * y10 * (y10 + 0) + 1.5 * u[1] * u[10] + 0.1
    assert y[11] == pytest.approx(y11, rel=1e-15)
    y12 = 0.3 * y11 + 0.05 * y11 * (y11 + y10) + 1.5 * u[2] * u[11] + 0.1
    assert y[12] == pytest.approx(y12, rel=1e-15)


def test_generator_datasets_are_seeded() -> None:
    for name in ("NARMA10", "MackeyGlass", "MemoryCapacity", "SyntheticControl-gen"):
        a = load_dataset(name, seed=1)
        b = load_dataset(name, seed=1)
        np.testing.assert_array_equal(a.X_train, b.X_train)
        assert a.X_test is not None and "seed=1" in a.notes
    X, y = make_narma10(600, 20, seed=0)
    X2, _ = make_narma10(600, 20, seed=1)
    assert not np.allclose(X, X2)
    assert X.shape == (381, 1, 20) and y.shape == (381,)


def test_mackey_glass_is_bounded_and_windows_consistent() -> None:
    X, y = make_mackey_glass(300, 20, seed=0)
    assert 0.2 < X.min() and X.max() < 1.5
    # the target of window i is the last sample of window i + 1
    np.testing.assert_array_equal(y[:-1], X[1:, 0, -1])


def test_memory_capacity_targets_are_delayed_inputs() -> None:
    X, y = make_memory_capacity(300, 30, 5, seed=0)
    for k in range(1, 6):
        np.testing.assert_array_equal(y[:, k - 1], X[:, 0, -1 - k])
