"""Placement baselines: the majority class (or training mean), ridge on the raw series, MiniROCKET.

Each baseline is fitted on the whole training split and tested once per seed ``0 .. n_seeds-1``,
the seeds of :func:`nwmodel.select_and_test`'s refit-and-test stage, and scored with the same
metric (:func:`nwmodel.selection.search.score`: accuracy for classification, RMSE for regression). The
baselines select nothing on the validation split: ridge and MiniROCKET pick their regularisation
by their own efficient leave-one-out cross-validation on the training split.

===========  ==========================================================  ==============
name         estimator (classification / regression)                     seeded
===========  ==========================================================  ==============
majority     ``sklearn.dummy.DummyClassifier(strategy="most_frequent")``  no (std 0)
             / ``DummyRegressor(strategy="mean")``
ridge        ``sklearn.linear_model.RidgeClassifierCV`` / ``RidgeCV``     no (std 0)
             with ``alphas=np.logspace(-3, 3, 10)`` on the flattened
             series ``(n_cases, n_channels * n_timepoints)``
minirocket   aeon's ``MiniRocketClassifier`` / ``MiniRocketRegressor``   yes: ``random_state=seed``
             (10 000 kernels, ``StandardScaler(with_mean=False)``, then
             ``RidgeClassifierCV`` / ``RidgeCV`` with the same alphas)
===========  ==========================================================  ==============

A deterministic baseline is fitted once; its score is repeated for every seed, so every result
holds ``n_seeds`` test scores and ``test_std`` is 0.

The baselines leave the process's thread pools as they found them. aeon's MiniROCKET sets numba's
thread count for its transform and then back to numba's default, the core count; with numba's
OpenMP layer that also sets the OpenMP pool torch shares, so NW-RNN/RNN fits after it would run
with every core's thread (several times slower on a loaded machine). :func:`run_baselines` puts
every BLAS and OpenMP pool back to its earlier size, and a pool loaded during the baseline to
OpenMP's default (``OMP_NUM_THREADS``, else the core count).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nwmodel._checks import check_choice, check_int
from nwmodel._estimator import check_X, check_y
from nwmodel.errors import ModelValidationError
from nwmodel.selection.search import score

__all__ = ["BASELINES", "RIDGE_ALPHAS", "run_baselines"]

#: Baseline names, in table order.
BASELINES: tuple[str, ...] = ("majority", "ridge", "minirocket")

#: Regularisation strengths searched by the ridge baselines (the grid of aeon's MiniROCKET).
RIDGE_ALPHAS: np.ndarray = np.logspace(-3, 3, 10)


def _majority(task: str, seed: int) -> Any:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if task == "classification":
        return DummyClassifier(strategy="most_frequent")
    return DummyRegressor(strategy="mean")


def _ridge(task: str, seed: int) -> Any:
    from sklearn.linear_model import RidgeClassifierCV, RidgeCV

    cls = RidgeClassifierCV if task == "classification" else RidgeCV
    return cls(alphas=RIDGE_ALPHAS)


def _minirocket(task: str, seed: int) -> Any:
    if task == "classification":
        from aeon.classification.convolution_based import MiniRocketClassifier

        return MiniRocketClassifier(random_state=seed)
    from aeon.regression.convolution_based import MiniRocketRegressor

    return MiniRocketRegressor(random_state=seed)


@dataclass(frozen=True)
class _Baseline:
    """One registry entry: ``make(task, seed)``, its input layout and whether seeds matter."""

    make: Callable[[str, int], Any]
    flat: bool  # True: sklearn layout (n_cases, n_channels * n_timepoints); False: aeon 3-D layout
    seeded: bool


_REGISTRY: dict[str, _Baseline] = {
    "majority": _Baseline(_majority, flat=True, seeded=False),
    "ridge": _Baseline(_ridge, flat=True, seeded=False),
    "minirocket": _Baseline(_minirocket, flat=False, seeded=True),
}


def _openmp_default() -> int | None:
    """OpenMP's default pool size: the first entry of ``OMP_NUM_THREADS``, else the core count."""
    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if text.isdigit() and int(text) > 0:
        return int(text)
    return os.cpu_count()


@contextlib.contextmanager
def _thread_pools_kept() -> Iterator[None]:
    """Run a block, then set every BLAS/OpenMP pool back to its size before it.

    A pool first loaded inside the block is set to :func:`_openmp_default` when it is an OpenMP
    pool (what it would have had) and left alone otherwise.
    """
    from threadpoolctl import ThreadpoolController

    before = {lib.filepath: lib.num_threads for lib in ThreadpoolController().lib_controllers}
    try:
        yield
    finally:
        default = _openmp_default()
        for lib in ThreadpoolController().lib_controllers:
            n = before.get(lib.filepath, default if lib.user_api == "openmp" else None)
            if n is not None and lib.num_threads != n:
                lib.set_num_threads(n)


def _check_names(names: Sequence[str]) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ModelValidationError(f"names must hold at least one of {', '.join(BASELINES)}, got none")
    for n in names:
        check_choice("baseline", n, BASELINES)
    if len(set(names)) != len(names):
        raise ModelValidationError(f"names must not repeat a baseline, got {names}")
    return names


def run_baselines(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    task: str,
    names: Sequence[str] = BASELINES,
    n_seeds: int = 5,
) -> dict[str, dict[str, Any]]:
    """Fit each baseline on the training split and score it on the test split, once per seed.

    Parameters
    ----------
    X_train, X_test : ndarray of shape (n_cases, n_channels, n_timepoints)
        Series in aeon layout (equal length; the test split has the training split's channels
        and length).
    y_train, y_test : ndarray of shape (n_cases,)
        Class labels (classification) or real targets (regression).
    task : {"classification", "regression"}
        Picks the estimators and the metric: accuracy (higher is better) or RMSE in the target's
        unit (lower is better), as :func:`nwmodel.selection.search.score`.
    names : sequence of {"majority", "ridge", "minirocket"}
        Baselines to run (default all), in the order given; no repeats.
    n_seeds : int
        Test repetitions, >= 1; seeded baselines use ``random_state = 0 .. n_seeds-1``.

    Returns
    -------
    dict
        ``name -> {"test_mean", "test_std", "test_scores", "metric", "wall_time_s"}``: the mean and
        population standard deviation (ddof=0) of the ``n_seeds`` test scores, the scores, the
        metric name (``"accuracy"`` or ``"rmse"``) and the wall time of the baseline in seconds.

    Raises
    ------
    ModelValidationError
        An unknown or repeated baseline name, a task other than the two, ``n_seeds < 1``, arrays
        of the wrong shape, non-finite values, fewer than 2 training classes, or a test split
        whose channels or length differ from the training split's.
    """
    check_choice("task", task, ("classification", "regression"))
    names = _check_names(names)
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    Xtr = check_X(X_train)
    Xte = check_X(X_test, n_channels=Xtr.shape[1])
    if Xte.shape[2] != Xtr.shape[2]:
        raise ModelValidationError(
            f"X_test must have the training length of {Xtr.shape[2]} timepoints, got {Xte.shape[2]}"
        )
    ytr = check_y(y_train, Xtr.shape[0], task)
    yte = np.asarray(y_test)
    if yte.ndim != 1 or yte.shape[0] != Xte.shape[0]:
        raise ModelValidationError(f"y_test must have shape ({Xte.shape[0]},), got {yte.shape}")
    if task == "regression":
        yte = check_y(yte, Xte.shape[0], task)
    flat_tr, flat_te = Xtr.reshape(Xtr.shape[0], -1), Xte.reshape(Xte.shape[0], -1)
    metric = "accuracy" if task == "classification" else "rmse"
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        entry = _REGISTRY[name]
        a, b = (flat_tr, flat_te) if entry.flat else (Xtr, Xte)
        t0 = time.perf_counter()
        scores: list[float] = []
        with _thread_pools_kept():
            for seed in range(n_seeds if entry.seeded else 1):
                est = entry.make(task, seed).fit(a, ytr)
                scores.append(score(task, yte, est.predict(b)))
        if entry.seeded:
            mean, std = float(np.mean(scores)), float(np.std(scores))
        else:  # one fit stands for every seed: its score exactly, std 0 (no rounding of a mean)
            scores = scores * n_seeds
            mean, std = scores[0], 0.0
        out[name] = {
            "test_mean": mean,
            "test_std": std,
            "test_scores": scores,
            "metric": metric,
            "wall_time_s": time.perf_counter() - t0,
        }
    return out
