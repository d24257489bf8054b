"""Time-series benchmark datasets: files read through aeon's loaders, aeon's bundled data, generators.

:func:`load_dataset` is the one entry point. A name resolves, in order, to

1. a generator (``"SyntheticControl-gen"``, ``"NARMA10"``, ``"MackeyGlass"``, ``"MemoryCapacity"``),
   seeded by ``seed``;
2. files ``<data_dir>/<NAME>/<NAME>_{TRAIN,TEST}.{tsv,ts}`` (UCR ``.tsv`` is classification; ``.ts``
   with ``@targetlabel true`` is regression), where ``data_dir`` defaults to ``$NWHIL_DATA`` and then
   to the per-user directory :func:`default_data_dir`;
3. a dataset shipped inside aeon (``ArrowHead``, ``GunPoint``, ``Covid3Month``, ...).

ECG5000: when its test file is absent (the case for the project's offline copy) the test set is a
seeded stratified split of the training file (:data:`ECG5000_SPLIT`), and ``Dataset.notes`` says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nwmodel._checks import check_choice, make_rng
from nwmodel.data._generators import (
    make_mackey_glass,
    make_memory_capacity,
    make_narma10,
    make_synthetic_control,
    narma10_series,
)
from nwmodel.errors import DatasetError

__all__ = [
    "ECG5000_SPLIT",
    "GENERATORS",
    "Dataset",
    "default_data_dir",
    "load_dataset",
    "make_mackey_glass",
    "make_memory_capacity",
    "make_narma10",
    "make_synthetic_control",
    "narma10_series",
]

#: Test fraction and seed of the stratified split used for ECG5000 when its test file is absent.
ECG5000_SPLIT = {"test_size": 0.3, "random_state": 42}


@dataclass(frozen=True)
class Dataset:
    """A train/test benchmark in aeon layout.

    Attributes
    ----------
    X_train, X_test : ndarray of shape (n_cases, n_channels, n_timepoints) or None
        Series (None for a split that was not requested).
    y_train, y_test : ndarray of shape (n_cases,) or (n_cases, n_targets), or None
        Labels (classification) or float targets (regression).
    task : {"classification", "regression"}
        Kind of target.
    name : str
        Dataset name.
    notes : str
        Provenance: source files, splits made here, generator settings.
    """

    X_train: np.ndarray | None
    y_train: np.ndarray | None
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    task: Literal["classification", "regression"]
    name: str
    notes: str = field(default="")


def default_data_dir() -> Path:
    """``$NWHIL_DATA`` if set, else ``$XDG_DATA_HOME/nanowire-hil/data`` (``~/.local/share/...``)."""
    env = os.environ.get("NWHIL_DATA")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nanowire-hil" / "data"


def _aeon_data_dir() -> Path:
    import aeon

    return Path(aeon.__file__).resolve().parent / "datasets" / "data"


# ---------------------------------------------------------------------------------------------
# validation of loaded arrays


def _check_arrays(name: str, part: str, X: Any, y: Any, task: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(X, list) or (isinstance(X, np.ndarray) and X.dtype == object):
        raise DatasetError(f"{name} {part}: series have unequal lengths (ragged), which is not supported")
    X = np.asarray(X)
    if X.ndim != 3:
        raise DatasetError(
            f"{name} {part}: expected series of shape (n_cases, n_channels, n_timepoints), got {X.shape}"
        )
    try:
        X = X.astype(float)
    except (TypeError, ValueError):
        raise DatasetError(f"{name} {part}: series are not numeric") from None
    if not np.all(np.isfinite(X)):
        n_bad = int(np.sum(~np.all(np.isfinite(X), axis=(1, 2))))
        raise DatasetError(
            f"{name} {part}: {n_bad} series contain NaN or inf (missing values are not supported)"
        )
    y = np.asarray(y)
    if y.shape[0] != X.shape[0]:
        raise DatasetError(f"{name} {part}: {X.shape[0]} series but {y.shape[0]} labels")
    if task == "regression":
        try:
            y = y.astype(float)
        except (TypeError, ValueError):
            raise DatasetError(f"{name} {part}: regression targets must be numeric, got {y[:3]!r}") from None
        if not np.all(np.isfinite(y)):
            raise DatasetError(f"{name} {part}: regression targets contain NaN or inf")
    else:
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
                raise DatasetError(
                    f"{name} {part}: class labels must be integers or strings, got non-integer floats "
                    f"such as {y[~(y == np.round(y))][:1]!r}; is this a regression dataset?"
                )
            y = y.astype(np.int64)
        elif y.dtype.kind not in "iuUSO":
            raise DatasetError(
                f"{name} {part}: class labels must be integers or strings, got dtype {y.dtype}"
            )
    return X, y


def _find_file(folder: Path, name: str, part: str) -> Path | None:
    for ext in ("tsv", "ts"):
        p = folder / f"{name}_{part}.{ext}"
        if p.is_file():
            return p
    return None


def _read_file(path: Path, name: str, part: str) -> tuple[np.ndarray, np.ndarray, str]:
    from aeon.datasets import load_from_ts_file, load_from_tsv_file

    try:
        if path.suffix == ".tsv":
            X, y = load_from_tsv_file(str(path))
            task = "classification"
        else:
            X, y = load_from_ts_file(str(path))
            header = path.read_text(errors="replace")[:20000].lower()
            task = "regression" if "@targetlabel true" in header else "classification"
    except (OSError, ValueError, IndexError, KeyError, TypeError) as exc:
        raise DatasetError(f"{name} {part}: cannot read {path}: {exc}") from None
    X, y = _check_arrays(name, part, X, y, task)
    return X, y, task


def _load_files(name: str, folder: Path, split: str | None) -> Dataset:
    train_path = _find_file(folder, name, "TRAIN")
    test_path = _find_file(folder, name, "TEST")
    if train_path is None and test_path is None:
        raise DatasetError(f"dataset {name!r}: no {name}_TRAIN/_TEST .tsv or .ts file in {folder}")
    notes = []
    X_tr = y_tr = X_te = y_te = None
    task = None
    need_train = split in (None, "train")
    need_test = split in (None, "test")
    if test_path is None and name == "ECG5000" and train_path is not None:
        from sklearn.model_selection import train_test_split

        X, y, task = _read_file(train_path, name, "TRAIN")
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, **ECG5000_SPLIT)
        notes.append(
            f"{name}: the official test file is absent; train/test = stratified split of {train_path.name} "
            f"(test_size={ECG5000_SPLIT['test_size']}, random_state={ECG5000_SPLIT['random_state']}): "
            f"{len(y_tr)} train / {len(y_te)} test cases"
        )
    else:
        if need_train:
            if train_path is None:
                raise DatasetError(
                    f"dataset {name!r}: missing training file {folder / (name + '_TRAIN.tsv')}"
                )
            X_tr, y_tr, task = _read_file(train_path, name, "TRAIN")
            notes.append(f"train: {train_path}")
        if need_test:
            if test_path is None:
                raise DatasetError(f"dataset {name!r}: missing test file {folder / (name + '_TEST.tsv')}")
            X_te, y_te, task_te = _read_file(test_path, name, "TEST")
            if task is not None and task_te != task:
                raise DatasetError(f"dataset {name!r}: train is {task} but test is {task_te}")
            task = task_te
            notes.append(f"test: {test_path}")
    if X_tr is not None and X_te is not None and X_tr.shape[1:] != X_te.shape[1:]:
        raise DatasetError(
            f"dataset {name!r}: train series {X_tr.shape[1:]} and test series {X_te.shape[1:]} differ"
            " in shape"
        )
    if split == "train":
        X_te = y_te = None
    elif split == "test":
        X_tr = y_tr = None
    return Dataset(X_tr, y_tr, X_te, y_te, task, name, "; ".join(notes))  # type: ignore[arg-type]


def _load_aeon_bundled(name: str, split: str | None) -> Dataset:
    from aeon.datasets import load_classification, load_regression

    folder = _aeon_data_dir() / name
    train_path = _find_file(folder, name, "TRAIN")
    if train_path is None:
        raise DatasetError(f"aeon bundled dataset {name!r} has no training file in {folder}")
    _, _, task = _read_file(train_path, name, "TRAIN")
    loader = load_regression if task == "regression" else load_classification
    parts: dict[str, tuple[np.ndarray, np.ndarray] | None] = {"train": None, "test": None}
    for part in ("train", "test"):
        if split not in (None, part):
            continue
        try:
            X, y = loader(name, split=part, extract_path=str(_aeon_data_dir()))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"aeon bundled dataset {name!r} {part}: {exc}") from None
        parts[part] = _check_arrays(name, part.upper(), X, y, task)
    tr, te = parts["train"], parts["test"]
    return Dataset(
        tr[0] if tr else None,
        tr[1] if tr else None,
        te[0] if te else None,
        te[1] if te else None,
        task,
        name,
        f"aeon bundled dataset from {folder}",  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------------------------------------
# generators


def _gen_synthetic_control(seed: Any) -> Dataset:
    rng_tr, rng_te = make_rng(seed, "seed").spawn(2)
    Xtr, ytr = make_synthetic_control(50, 60, seed=rng_tr)
    Xte, yte = make_synthetic_control(50, 60, seed=rng_te)
    return Dataset(
        Xtr,
        ytr,
        Xte,
        yte,
        "classification",
        "SyntheticControl-gen",
        f"generated: 6 classes x 50 per split, length 60, z-normalised, seed={seed!r}",
    )


def _chronological(name: str, X: np.ndarray, y: np.ndarray, seed: Any, what: str) -> Dataset:
    n_train = int(0.7 * len(X))
    return Dataset(
        X[:n_train],
        y[:n_train],
        X[n_train:],
        y[n_train:],
        "regression",
        name,
        f"generated: {what}; chronological 70/30 train/test split, seed={seed!r}",
    )


#: Generator datasets: name -> function(seed) -> Dataset.
GENERATORS: dict[str, Callable[[Any], Dataset]] = {
    "SyntheticControl-gen": _gen_synthetic_control,
    "NARMA10": lambda seed: _chronological(
        "NARMA10", *make_narma10(seed=seed), seed, "NARMA-10, 2000 steps, windows of 50 -> y(t+1)"
    ),
    "MackeyGlass": lambda seed: _chronological(
        "MackeyGlass", *make_mackey_glass(seed=seed), seed, "Mackey-Glass tau=17, windows of 50 -> x(t+1)"
    ),
    "MemoryCapacity": lambda seed: _chronological(
        "MemoryCapacity",
        *make_memory_capacity(seed=seed),
        seed,
        "memory capacity, windows of 100, targets u(t-1..t-40)",
    ),
}


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    split: Literal["train", "test"] | None = None,
    seed: int | np.random.Generator | None = 0,
) -> Dataset:
    """Load a benchmark by name (see the module docstring for how names resolve).

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"SyntheticControl"``, ``"ECG5000"``, ``"GunPoint"``, ``"NARMA10"``.
    data_dir : path or None
        Folder holding ``<NAME>/<NAME>_TRAIN.tsv`` etc.; default :func:`default_data_dir`.
    split : {"train", "test"} or None
        Load one split (the other is None) or both.
    seed : int, Generator or None
        Seed of the generator datasets (ignored for files).

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        Unknown name, missing or unreadable files, NaN values, ragged series, wrong label types.
    """
    if not isinstance(name, str) or not name:
        raise DatasetError(f"dataset name must be a non-empty string, got {name!r}")
    check_choice("split", split, ("train", "test", None))
    if name in GENERATORS:
        ds = GENERATORS[name](seed)
        if split == "train":
            return Dataset(ds.X_train, ds.y_train, None, None, ds.task, ds.name, ds.notes)
        if split == "test":
            return Dataset(None, None, ds.X_test, ds.y_test, ds.task, ds.name, ds.notes)
        return ds
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if data_dir is not None and not root.is_dir():
        raise DatasetError(f"data directory {str(root)!r} does not exist")
    folder = root / name
    if folder.is_dir() or (root / f"{name}_TRAIN.tsv").is_file():
        return _load_files(name, folder if folder.is_dir() else root, split)
    if (_aeon_data_dir() / name).is_dir():
        return _load_aeon_bundled(name, split)
    known = sorted(GENERATORS)
    raise DatasetError(
        f"unknown dataset {name!r}: not a generator ({', '.join(known)}), not in {root}, "
        f"and not bundled with aeon"
    )
