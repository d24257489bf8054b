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

from ._checks import check_choice, check_int, check_real, make_rng
from .errors import DatasetError

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


def _znorm(X: np.ndarray) -> np.ndarray:
    mu = X.mean(axis=-1, keepdims=True)
    sd = X.std(axis=-1, keepdims=True)
    return (X - mu) / sd


def make_synthetic_control(
    n_per_class: int = 50, length: int = 60, *, seed: int | np.random.Generator | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic Control Chart series (Alcock & Manolopoulos 1999; Pham & Chan 1998), z-normalised.

    Six classes, ``m = 30``, ``r ~ U(-3, 3)`` noise, t = 1..length:
    1 normal ``m + r s`` (s = 2); 2 cyclic ``+ a sin(2 pi t / T)`` (a, T ~ U(10, 15)); 3 increasing
    trend ``+ g t`` (g ~ U(0.2, 0.5)); 4 decreasing trend ``- g t``; 5 upward shift ``+ k x`` (x ~ U(7.5,
    20), ``k = 0`` before a switch time ~ U(length/3, 2 length/3), 1 after); 6 downward shift.
    Each series is z-normalised as in the UCR archive.

    Returns
    -------
    X : ndarray of shape (6 * n_per_class, 1, length)
    y : ndarray of shape (6 * n_per_class,), labels 1..6 (int)
    """
    n = check_int("n_per_class", n_per_class, low=1)
    L = check_int("length", length, low=3)
    rng = make_rng(seed, "seed")
    t = np.arange(1, L + 1, dtype=float)
    m, s = 30.0, 2.0
    X = np.empty((6 * n, L))
    y = np.repeat(np.arange(1, 7), n)
    for i, label in enumerate(y):
        base = m + rng.uniform(-3.0, 3.0, size=L) * s
        if label == 2:
            a, period = rng.uniform(10.0, 15.0, size=2)
            base += a * np.sin(2 * np.pi * t / period)
        elif label in (3, 4):
            g = rng.uniform(0.2, 0.5)
            base += (g if label == 3 else -g) * t
        elif label in (5, 6):
            x = rng.uniform(7.5, 20.0)
            t3 = rng.uniform(L / 3.0, 2.0 * L / 3.0)
            base += (x if label == 5 else -x) * (t >= t3)
        X[i] = base
    return _znorm(X)[:, None, :], y


def narma10_series(u: np.ndarray) -> np.ndarray:
    """The NARMA-10 output for input ``u`` (shape (n_steps,)), with ``y = 0`` for the first 10 steps.

    ``y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i=0}^{9} y(t-i) + 1.5 u(t-9) u(t) + 0.1``.
    """
    u = np.asarray(u, dtype=float)
    y = np.zeros_like(u)
    for t in range(9, len(u) - 1):
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * np.sum(y[t - 9 : t + 1]) + 1.5 * u[t - 9] * u[t] + 0.1
    return y


def _windows(series: np.ndarray, window: int, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cases = consecutive windows ``series[i : i + window]``; target = ``targets[i + window - 1]``."""
    idx = np.arange(window)[None, :] + np.arange(len(series) - window + 1)[:, None]
    return series[idx][:, None, :], targets[window - 1 :]


def make_narma10(
    n_steps: int = 2000, window: int = 50, *, seed: int | np.random.Generator | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """NARMA-10 as windowed regression: input ``u ~ U(0, 0.5)``; window ending at ``t`` -> ``y(t+1)``.

    Returns
    -------
    X : ndarray of shape (n_steps - window - 199, 1, window)
        Windows after a 200-step washout of the recurrence.
    y : ndarray of shape (n_steps - window - 199,)
    """
    n = check_int("n_steps", n_steps, low=300)
    w = check_int("window", window, low=1, high=n - 201)
    u = make_rng(seed, "seed").uniform(0.0, 0.5, size=n + 1)
    y = narma10_series(u)
    X, tgt = _windows(u[200:n], w, y[201 : n + 1])
    return X, tgt


def make_mackey_glass(
    n_steps: int = 2000,
    window: int = 50,
    horizon: int = 1,
    *,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    power: float = 10.0,
    dt: float = 0.1,
    seed: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Mackey-Glass series ``dx/dt = beta x(t-tau) / (1 + x(t-tau)^power) - gamma x`` sampled at t=1,2,...

    Integrated by RK4 with step ``dt`` (delayed term held at the grid value), constant history
    ``x = 1.2 + U(-0.1, 0.1)`` drawn from ``seed``, 500 samples of washout. Windowed as
    :func:`make_narma10`: the window ending at sample ``t`` predicts sample ``t + horizon``.

    Returns
    -------
    X : ndarray of shape (n_steps - window - horizon + 1, 1, window)
    y : ndarray of shape (n_steps - window - horizon + 1,)
    """
    n = check_int("n_steps", n_steps, low=10)
    w = check_int("window", window, low=1, high=n - 1)
    hz = check_int("horizon", horizon, low=1, high=n - w)
    tau = check_real("tau", tau, low=0.0, low_open=True)
    dt = check_real("dt", dt, low=0.0, high=1.0, low_open=True)
    sub = round(1.0 / dt)
    if abs(sub * dt - 1.0) > 1e-9:
        raise DatasetError(f"dt must divide 1 exactly (1/dt integer), got {dt!r}")
    lag = round(tau / dt)
    washout = 500
    total = (n + washout) * sub
    x = np.empty(total + lag + 1)
    x[: lag + 1] = 1.2 + make_rng(seed, "seed").uniform(-0.1, 0.1)

    def f(xt: float, xd: float) -> float:
        return beta * xd / (1.0 + xd**power) - gamma * xt

    for i in range(lag, lag + total):
        xd = x[i - lag]
        xi = x[i]
        k1 = f(xi, xd)
        k2 = f(xi + 0.5 * dt * k1, xd)
        k3 = f(xi + 0.5 * dt * k2, xd)
        k4 = f(xi + dt * k3, xd)
        x[i + 1] = xi + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    samples = x[lag::sub][washout : washout + n]
    X, _ = _windows(samples[: n - hz], w, samples)
    y = samples[w - 1 + hz : n]
    return X, y


def make_memory_capacity(
    n_steps: int = 2000, window: int = 100, max_delay: int = 40, *, seed: int | np.random.Generator | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Memory-capacity task: windows of i.i.d. ``u ~ U(-0.5, 0.5)``; targets ``u(t - k)``, k = 1..max_delay.

    Returns
    -------
    X : ndarray of shape (n_steps - window + 1, 1, window)
    y : ndarray of shape (n_steps - window + 1, max_delay)
        Column ``k - 1`` holds the input ``k`` steps before the window's last sample.
    """
    n = check_int("n_steps", n_steps, low=2)
    k = check_int("max_delay", max_delay, low=1)
    w = check_int("window", window, low=k + 1, high=n)
    u = make_rng(seed, "seed").uniform(-0.5, 0.5, size=n)
    X, _ = _windows(u, w, u)
    y = np.stack([X[:, 0, w - 1 - d] for d in range(1, k + 1)], axis=1)
    return X, y


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
