"""Standard reservoir-computing tasks for any regressor: memory capacity and NARMA-10.

Both tasks use the windowed generator datasets of :mod:`nwmodel.data.datasets` with their
chronological 70/30 train/test split (the split of the ``"MemoryCapacity"`` and ``"NARMA10"``
generators), so every estimator sees the same series: each case is one window of the input,
the reservoir is reset per window and read at its last sample.

* :func:`memory_capacity_score` -- short-term memory capacity (Jaeger 2001) over windows:
  ``MC_k`` is the squared Pearson correlation, on the test split, between the input ``k`` steps
  before the window's last sample and its reconstruction by a ridge readout trained on the
  training split; ``MC = sum_k MC_k`` (at most the number of state features).
* :func:`narma10_score` -- one-step NARMA-10 prediction; NMSE = test MSE / test target variance
  (1 = no better than predicting the mean).
* :func:`run_standard_tasks` runs both for named estimators; :func:`tasks_markdown` tabulates them.

Default sizes: a physical reservoir on a simulated device costs about 3 ms of a 2-core machine
per held input sample (more with ``n_virtual > 1``). The defaults keep one task at about
950 windows x 50 samples, 2-3 minutes per physical model: memory capacity with
``n_steps=1000, window=50`` (951 windows, 665 train / 286 test) and NARMA-10 with
``n_steps=1200, window=50`` (951 windows after the 200-step washout). ``max_delay=20`` stays
well below the window so every delayed input lies inside it. The abstract NW-ESN runs them in
well under a second.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from sklearn.base import clone, is_regressor

from nwmodel._checks import check_choice, check_int
from nwmodel.data.datasets import _chronological, make_memory_capacity, make_narma10
from nwmodel.errors import ModelValidationError
from nwmodel.models.readout import RidgeReadout

__all__ = [
    "MC_METHODS",
    "TASKS",
    "memory_capacity_score",
    "narma10_score",
    "run_standard_tasks",
    "tasks_markdown",
]

#: How :func:`memory_capacity_score` fits its readouts ("auto" picks "shared" when it can).
MC_METHODS: tuple[str, ...] = ("auto", "shared", "refit")


# --------------------------------------------------------------------------- pure helpers


def _squared_correlation(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Squared Pearson correlation of each column of ``pred`` with the same column of ``target``.

    Parameters
    ----------
    pred, target : ndarray of shape (n_cases, n_outputs)

    Returns
    -------
    r2 : ndarray of shape (n_outputs,)
        In [0, 1]; 0 for a column in which ``pred`` or ``target`` is constant (no linear
        information).
    """
    p = pred - pred.mean(axis=0)
    t = target - target.mean(axis=0)
    cov = np.sum(p * t, axis=0)
    var = np.sum(p * p, axis=0) * np.sum(t * t, axis=0)
    out = np.zeros(p.shape[1])
    # exact test for constant columns: p - mean(p) of a constant column can be a rounding residue
    ok = (np.ptp(pred, axis=0) > 0) & (np.ptp(target, axis=0) > 0) & (var > 0)
    out[ok] = np.minimum(cov[ok] ** 2 / var[ok], 1.0)
    return out


def _check_estimator(estimator: Any) -> None:
    if not (callable(getattr(estimator, "fit", None)) and callable(getattr(estimator, "predict", None))):
        raise ModelValidationError(
            f"estimator must be a regressor with fit and predict, got {type(estimator).__name__}"
        )
    if not is_regressor(estimator):
        raise ModelValidationError(
            "estimator must be a regressor (e.g. NWESNRegressor, PhysicalReservoirRegressor), "
            f"got {type(estimator).__name__}"
        )


def _shared_states_supported(estimator: Any) -> bool:
    """Whether the readout is a ridge of strength ``ridge_alpha`` on ``transform``'s states."""
    return callable(getattr(estimator, "transform", None)) and hasattr(estimator, "ridge_alpha")


def _train_test_states(
    estimator: Any, X_train: np.ndarray, y_fit: np.ndarray, X_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """States the estimator's readout sees, for the training and the test series.

    An estimator with ``fit_transform`` (the physical reservoir) returns its training states from
    the fit itself, so each training series drives the device once; any other estimator is fitted
    on ``y_fit`` and its ``transform`` is read for both splits.
    """
    fit_transform = getattr(estimator, "fit_transform", None)
    if callable(fit_transform):
        S_train = np.asarray(fit_transform(X_train, y_fit), dtype=float)
    else:
        estimator.fit(X_train, y_fit)
        S_train = np.asarray(estimator.transform(X_train), dtype=float)
    return S_train, np.asarray(estimator.transform(X_test), dtype=float)


# --------------------------------------------------------------------------- tasks


def memory_capacity_score(
    estimator: Any,
    *,
    n_steps: int = 1000,
    window: int = 50,
    max_delay: int = 20,
    method: Literal["auto", "shared", "refit"] = "auto",
    seed: int | np.random.Generator | None = 0,
) -> dict[str, Any]:
    """Memory capacity of a regressor on the windowed memory task (:func:`make_memory_capacity`).

    Cases are windows of i.i.d. ``u ~ U(-0.5, 0.5)``; the target of delay ``k`` is the input
    ``k`` steps before the window's last sample. The windows are split chronologically 70/30;
    a readout per delay is trained on the training windows and ``MC_k`` is the squared Pearson
    correlation of its test prediction with the test target. ``estimator`` itself is not
    modified (a clone is fitted).

    Parameters
    ----------
    estimator : regressor
        Any :mod:`nwmodel` regressor (``NWESNRegressor``, ``ESNRegressor``,
        ``PhysicalReservoirRegressor``, ``NWRNNRegressor``, ...), or a scikit-learn regressor
        taking X of shape (n_cases, n_channels, n_timepoints).
    n_steps : int
        Length of the input sequence, >= window; gives ``n_steps - window + 1`` windows
        (default 1000: 951 windows, 2-3 minutes for a physical reservoir).
    window : int
        Samples per window (series length), in [max_delay + 1, n_steps] (default 50).
    max_delay : int
        Largest delay k, in [1, window - 1] (default 20).
    method : {"auto", "shared", "refit"}
        ``"shared"``: the reservoir is fitted once (on delay 1), its states are read for both
        splits, and one multi-output ridge of the estimator's ``ridge_alpha`` (the estimator's
        own readout) is fitted on every delay at once; this needs ``transform`` and
        ``ridge_alpha``. ``"refit"``: a clone is fitted and predicts once per delay (any
        regressor; ``max_delay`` times the cost). ``"auto"`` (default): ``"shared"`` when the
        estimator supports it. For a seeded reservoir the two give the same ``MC_k``.
    seed : int, Generator or None
        Seed of the input sequence.

    Returns
    -------
    dict
        ``mc`` (float, sum of ``mc_k``), ``mc_k`` (list of ``max_delay`` floats in [0, 1], delay
        1 first), ``n_train``, ``n_test`` (int, windows), ``wall_time_s`` (float, generation, fit
        and scoring), and the settings ``n_steps``, ``window``, ``max_delay``, ``method`` (the
        one used).

    Raises
    ------
    ModelValidationError
        An argument out of range (named in the message), or an estimator that is not a
        regressor, or ``method="shared"`` for one without ``transform``/``ridge_alpha``.
    """
    t0 = time.perf_counter()
    _check_estimator(estimator)
    n = check_int("n_steps", n_steps, low=12)
    w = check_int("window", window, low=2, high=n - 9)
    k_max = check_int("max_delay", max_delay, low=1, high=w - 1)
    check_choice("method", method, MC_METHODS)
    shared_ok = _shared_states_supported(estimator)
    if method == "shared" and not shared_ok:
        raise ModelValidationError(
            f"method='shared' needs an estimator with transform and ridge_alpha (a reservoir), got "
            f"{type(estimator).__name__}; use method='refit' or 'auto'"
        )
    used = "shared" if method == "auto" and shared_ok else ("refit" if method == "auto" else method)
    ds = _chronological("MemoryCapacity", *make_memory_capacity(n, w, k_max, seed=seed), seed, "memory")
    X_tr, y_tr, X_te, y_te = ds.X_train, ds.y_train, ds.X_test, ds.y_test
    if used == "shared":
        est = clone(estimator)
        S_tr, S_te = _train_test_states(est, X_tr, y_tr[:, 0], X_te)
        # the estimator's own readout (a reservoir's RidgeReadout), refitted on every delay at once
        own = getattr(est, "readout_", None)
        readout = (
            clone(own) if own is not None else RidgeReadout(task="regression", alpha=est.ridge_alpha)
        ).fit(S_tr, y_tr)
        pred = np.asarray(readout.predict(S_te), dtype=float).reshape(len(y_te), k_max)
    else:
        pred = np.column_stack([
            np.asarray(clone(estimator).fit(X_tr, y_tr[:, k]).predict(X_te), dtype=float)
            for k in range(k_max)
        ])
    mc_k = _squared_correlation(pred, y_te)
    return {
        "mc": float(mc_k.sum()),
        "mc_k": [float(v) for v in mc_k],
        "n_train": len(y_tr),
        "n_test": len(y_te),
        "wall_time_s": time.perf_counter() - t0,
        "n_steps": n,
        "window": w,
        "max_delay": k_max,
        "method": used,
    }


def narma10_score(
    estimator: Any,
    *,
    n_steps: int = 1200,
    window: int = 50,
    seed: int | np.random.Generator | None = 0,
) -> dict[str, Any]:
    """One-step NARMA-10 prediction error of a regressor (:func:`make_narma10`).

    Input ``u ~ U(0, 0.5)``; the window ending at ``t`` predicts the NARMA-10 output ``y(t+1)``.
    The windows (after a 200-step washout of the recurrence) are split chronologically 70/30; a
    clone of ``estimator`` is fitted on the training windows and scored on the test windows.

    Parameters
    ----------
    estimator : regressor
        As :func:`memory_capacity_score`.
    n_steps : int
        Length of the input sequence, >= 300 (the washout is 200 steps); gives
        ``n_steps - window - 199`` windows (default 1200: 951 windows, 2-3 minutes for a physical
        reservoir).
    window : int
        Samples per window, in [10, n_steps - 210] (NARMA-10 depends on the last 10 inputs;
        default 50).
    seed : int, Generator or None
        Seed of the input sequence.

    Returns
    -------
    dict
        ``nmse`` (float, test MSE / variance of the test target; 1 = the mean predictor),
        ``rmse`` (float, in the units of y), ``n_train``, ``n_test`` (int, windows),
        ``wall_time_s`` (float), and the settings ``n_steps``, ``window``.

    Raises
    ------
    ModelValidationError
        An argument out of range (named in the message), or an estimator that is not a regressor.
    """
    t0 = time.perf_counter()
    _check_estimator(estimator)
    n = check_int("n_steps", n_steps, low=300)
    w = check_int("window", window, low=10, high=n - 210)
    ds = _chronological("NARMA10", *make_narma10(n, w, seed=seed), seed, "NARMA-10")
    est = clone(estimator).fit(ds.X_train, ds.y_train)
    pred = np.asarray(est.predict(ds.X_test), dtype=float).reshape(-1)
    y_te = np.asarray(ds.y_test, dtype=float)
    mse = float(np.mean((pred - y_te) ** 2))
    return {
        "nmse": mse / float(np.var(y_te)),
        "rmse": float(np.sqrt(mse)),
        "n_train": len(ds.y_train),
        "n_test": len(y_te),
        "wall_time_s": time.perf_counter() - t0,
        "n_steps": n,
        "window": w,
    }


#: The tasks of :func:`run_standard_tasks`: name -> scoring function.
TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "memory_capacity": memory_capacity_score,
    "narma10": narma10_score,
}


def _check_task_kwargs(
    name: str, kwargs: Mapping[str, Any] | None, func: Callable[..., Any]
) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise ModelValidationError(f"{name} must be a dict of keyword arguments or None, got {kwargs!r}")
    allowed = [p for p in inspect.signature(func).parameters if p != "estimator"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ModelValidationError(
            f"{name} has unknown key(s) {unknown}; allowed: {', '.join(allowed)}"
        )
    return dict(kwargs)


def run_standard_tasks(
    estimators: Mapping[str, Any],
    *,
    mc_kwargs: Mapping[str, Any] | None = None,
    narma_kwargs: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Memory capacity and NARMA-10 for each named estimator, in order.

    Parameters
    ----------
    estimators : dict of str -> regressor
        Model name -> (unfitted) estimator; each task fits its own clone.
    mc_kwargs : dict or None
        Keyword arguments of :func:`memory_capacity_score` (``n_steps``, ``window``,
        ``max_delay``, ``method``, ``seed``); unknown keys are an error.
    narma_kwargs : dict or None
        Keyword arguments of :func:`narma10_score` (``n_steps``, ``window``, ``seed``).
    progress : bool
        Show a tqdm progress bar (one step per model and task) on stderr.

    Returns
    -------
    rows : list of dict
        One row per model and task: ``{"model": name, "task": "memory_capacity" | "narma10",
        **score}`` with the keys of the task's score function.
    """
    if not isinstance(estimators, Mapping) or not estimators:
        raise ModelValidationError(
            f"estimators must be a non-empty dict name -> regressor, got {estimators!r}"
        )
    for name, est in estimators.items():
        if not isinstance(name, str) or not name:
            raise ModelValidationError(f"estimators keys must be non-empty model names, got {name!r}")
        _check_estimator(est)
    kwargs = {
        "memory_capacity": _check_task_kwargs("mc_kwargs", mc_kwargs, memory_capacity_score),
        "narma10": _check_task_kwargs("narma_kwargs", narma_kwargs, narma10_score),
    }
    plan = [(name, task) for name in estimators for task in TASKS]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan), desc="tasks", unit="task")
    rows: list[dict[str, Any]] = []
    try:
        for name, task in plan:
            if bar is not None:
                bar.set_postfix_str(f"{name} {task}")
            rows.append({"model": name, "task": task, **TASKS[task](estimators[name], **kwargs[task])})
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return rows


def tasks_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of :func:`run_standard_tasks` rows: one line per model.

    Columns: memory capacity ``MC`` (higher is better), NARMA-10 ``NMSE`` (lower is better), both
    to 3 decimals, and the wall time of the model's tasks in seconds; ``-`` where a task is missing.
    """
    models = list(dict.fromkeys(str(r["model"]) for r in rows))
    by = {(str(r["model"]), r["task"]): r for r in rows}
    lines = ["| model | MC ↑ | NARMA-10 NMSE ↓ | wall time (s) |", "|---|---|---|---|"]
    for m in models:
        mc = by.get((m, "memory_capacity"))
        nr = by.get((m, "narma10"))
        wall = sum(float(r["wall_time_s"]) for r in (mc, nr) if r is not None)
        mc_txt = "-" if mc is None else f"{float(mc['mc']):.3f}"
        nr_txt = "-" if nr is None else f"{float(nr['nmse']):.3f}"
        lines.append(f"| {m} | {mc_txt} | {nr_txt} | {wall:.1f} |")
    settings = []
    mc_any = next((r for r in rows if r["task"] == "memory_capacity"), None)
    nr_any = next((r for r in rows if r["task"] == "narma10"), None)
    if mc_any is not None and "window" in mc_any:
        settings.append(
            f"MC: delays 1..{mc_any['max_delay']}, windows of {mc_any['window']}, "
            f"{mc_any['n_train']} train / {mc_any['n_test']} test"
        )
    if nr_any is not None and "window" in nr_any:
        settings.append(
            f"NARMA-10: windows of {nr_any['window']}, {nr_any['n_train']} train / {nr_any['n_test']} test"
        )
    if settings:
        lines += ["", "; ".join(settings) + " (chronological 70/30 split)."]
    return "\n".join(lines) + "\n"
