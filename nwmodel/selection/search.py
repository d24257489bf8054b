"""The paper's model-selection protocol, the hyperparameter grids and the model registry.

Protocol (as published): an 80/20 stratified split (``random_state=42``) of the training set; a
configuration's validation score is the mean over ``n_seeds`` random reservoirs (seeds
``0 .. n_seeds-1``); the best configuration (highest accuracy, or lowest RMSE) is refitted on the
full training set with the same ``n_seeds`` seeds and tested once per seed; the result reports
the mean and the population standard deviation (``ddof=0``) of those test scores.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import train_test_split

from nwmodel._checks import check_choice, check_int, check_real
from nwmodel.errors import ExperimentError, ModelError, ModelValidationError
from nwmodel.selection._grids import GRIDS
from nwmodel.selection._journal import SelectionJournal, array_digest

__all__ = [
    "GRIDS",
    "MODELS",
    "EstimatorFactory",
    "SelectionResult",
    "expand_grid",
    "score",
    "select_and_test",
    "validation_split",
]

Task = Literal["classification", "regression"]
Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]


def _model_classes() -> dict[str, tuple[type, type]]:
    from nwmodel.models.esn import ESNClassifier, ESNRegressor, NWESNClassifier, NWESNRegressor
    from nwmodel.models.rnn import NWRNNClassifier, NWRNNRegressor, RNNClassifier, RNNRegressor

    return {
        "nwesn": (NWESNClassifier, NWESNRegressor),
        "esn": (ESNClassifier, ESNRegressor),
        "nwrnn": (NWRNNClassifier, NWRNNRegressor),
        "rnn": (RNNClassifier, RNNRegressor),
    }


#: Model keys accepted by :class:`EstimatorFactory` and ``nwhil run --model``.
MODELS: tuple[str, ...] = ("nwesn", "esn", "nwrnn", "rnn")


@dataclass(frozen=True)
class EstimatorFactory:
    """Picklable ``make_estimator(params, seed)`` for a registered model (usable with process pools).

    Attributes
    ----------
    model : {"nwesn", "esn", "nwrnn", "rnn"}
        Model key.
    task : {"classification", "regression"}
        Picks the classifier or the regressor.
    fixed : dict
        Keyword arguments given to every estimator (e.g. ``{"device": "cuda"}``).
    """

    model: str
    task: str
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("model", self.model, MODELS)
        check_choice("task", self.task, ("classification", "regression"))

    def __call__(self, params: Mapping[str, Any], seed: int) -> Any:
        clf, reg = _model_classes()[self.model]
        cls = clf if self.task == "classification" else reg
        return cls(**{**self.fixed, **params, "random_state": seed})


def expand_grid(
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
) -> list[dict[str, Any]]:
    """All configurations of ``grid`` (a dict of lists, or a list of such dicts), in a fixed order."""
    grids = [grid] if isinstance(grid, Mapping) else list(grid)
    if not grids:
        raise ModelValidationError("grid must hold at least one configuration, got an empty list")
    configs: list[dict[str, Any]] = []
    for g in grids:
        if not isinstance(g, Mapping):
            raise ModelValidationError(f"grid entries must be dicts of lists, got {g!r}")
        keys = list(g)
        values = []
        for k in keys:
            v = g[k]
            if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
                raise ModelValidationError(f"grid[{k!r}] must be a non-empty list of values, got {v!r}")
            values.append(list(v))
        configs.extend(dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values))
    return configs


def score(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Accuracy (classification) or RMSE (regression) of ``y_pred`` against ``y_true``."""
    if task == "classification":
        return float(accuracy_score(y_true, y_pred))
    return float(np.sqrt(mean_squared_error(y_true, y_pred)))


def validation_split(
    X: np.ndarray, y: np.ndarray, *, task: str, val_size: float = 0.2, random_state: int = 42
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """80/20 split of the training set, stratified for classification.

    A class with fewer than 2 cases cannot be stratified; its cases all go to the fitting part
    and the returned note says so.

    Returns
    -------
    X_fit, X_val, y_fit, y_val, note
    """
    note = ""
    if task != "classification":
        a, b, c, d = train_test_split(X, y, test_size=val_size, random_state=random_state)
        return a, b, c, d, note
    labels, counts = np.unique(y, return_counts=True)
    rare = labels[counts < 2]
    keep = ~np.isin(y, rare)
    Xk, yk = X[keep], y[keep]
    a, b, c, d = train_test_split(Xk, yk, test_size=val_size, random_state=random_state, stratify=yk)
    if len(rare):
        a = np.concatenate([a, X[~keep]])
        c = np.concatenate([c, y[~keep]])
        note = f"classes {rare.tolist()} have < 2 training cases: kept in the fitting part, not stratified"
    return a, b, c, d, note


@dataclass(frozen=True)
class SelectionResult:
    """Outcome of :func:`select_and_test`.

    Attributes
    ----------
    best_params : dict
        Selected configuration.
    val_score : float
        Its mean validation score.
    val_scores : list of (dict, float)
        Every configuration with its mean validation score (NaN where it failed).
    test_scores : list of float
        Test score of the refitted best configuration, one per seed.
    test_mean, test_std : float
        Mean and population std (ddof=0) of ``test_scores``.
    metric : {"accuracy", "rmse"}
        Score used (accuracy: higher is better; rmse: lower is better).
    n_configs : int
        Number of configurations evaluated.
    wall_time_s : float
        Wall-clock time of the whole protocol, in seconds; for a journaled run, the sum over
        every process that worked on it.
    failures : list of (dict, str)
        Configurations whose fit raised a model error, with the message (excluded from selection).
    notes : str
        Remarks on the split.
    n_resumed : int
        Fits read back from the journal instead of fitted (0 without a journal).
    """

    best_params: dict[str, Any]
    val_score: float
    val_scores: list[tuple[dict[str, Any], float]]
    test_scores: list[float]
    test_mean: float
    test_std: float
    metric: str
    n_configs: int
    wall_time_s: float
    failures: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    notes: str = ""
    n_resumed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of every field."""
        return {
            "best_params": self.best_params,
            "val_score": self.val_score,
            "val_scores": [{"params": p, "score": s} for p, s in self.val_scores],
            "test_scores": self.test_scores,
            "test_mean": self.test_mean,
            "test_std": self.test_std,
            "metric": self.metric,
            "n_configs": self.n_configs,
            "wall_time_s": self.wall_time_s,
            "failures": [{"params": p, "error": e} for p, e in self.failures],
            "notes": self.notes,
            "resumed_fits": self.n_resumed,
        }


def _evaluate(
    make_estimator: Callable[[dict, int], Any],
    X_fit: np.ndarray,
    y_fit: np.ndarray,
    X_eval: np.ndarray,
    y_eval: np.ndarray,
    task: str,
    group: Sequence[tuple[int, dict[str, Any], int]],
) -> list[tuple[int, int, float, str]]:
    """Fit a group of (index, configuration, seed) jobs; ``(index, seed, score, "")`` for each.

    A group of more than one job is trained as one stack (``fit_stacked`` of :mod:`nwmodel.models.rnn`),
    or, for reservoirs that differ in their readout only, fitted and scored from one reservoir
    run per split (:func:`nwmodel.models.readout.fit_readouts`); either gives the same result as fitting
    each alone. Model errors become
    ``(index, seed, nan, message)``; validation errors propagate.
    """
    ests = [make_estimator(dict(params), seed) for _, params, seed in group]
    shared = len(ests) > 1 and hasattr(ests[0], "reservoir_key")
    try:
        if shared:
            from nwmodel.models.readout import fit_readouts

            errors = fit_readouts(ests, X_fit, y_fit)
        elif len(ests) > 1:
            from nwmodel.models.rnn import fit_stacked

            errors = fit_stacked(ests, X_fit, y_fit)
        else:
            ests[0].fit(X_fit, y_fit)
            errors = [""]
    except ModelError as exc:
        if isinstance(exc, ModelValidationError):
            raise
        errors = [str(exc)] * len(ests)
    preds: list[Any] = [None] * len(ests)
    if shared and not any(errors):
        from nwmodel.models.readout import predict_readouts

        try:
            preds = predict_readouts(ests, X_eval)
        except ModelError as exc:
            if isinstance(exc, ModelValidationError):
                raise
            errors = [str(exc)] * len(ests)
    out = []
    for (index, _, seed), est, err, pred in zip(group, ests, errors, preds, strict=True):
        try:
            out.append(
                (index, seed, score(task, y_eval, est.predict(X_eval) if pred is None else pred), "")
                if not err
                else (index, seed, np.nan, err)
            )
        except ModelError as exc:
            if isinstance(exc, ModelValidationError):
                raise
            out.append((index, seed, float("nan"), str(exc)))
    return out


def _groups(
    make_estimator: Callable[[dict, int], Any],
    jobs: Sequence[tuple[int, dict[str, Any], int]],
    stack_size: int,
) -> list[list[tuple[int, dict[str, Any], int]]]:
    """Jobs in groups of at most ``stack_size`` whose estimators can share a training stack.

    Trainable RNNs group by ``stack_key()``, reservoirs by ``reservoir_key()`` (jobs that differ
    in their readout only share one reservoir run); others, and ``stack_size == 1``, give one job
    per group. Groups keep the order of ``jobs`` within each key.
    """
    if stack_size == 1:
        return [[j] for j in jobs]
    by_key: dict[Any, list[tuple[int, dict[str, Any], int]]] = {}
    singles = []
    for job in jobs:
        est = make_estimator(dict(job[1]), job[2])
        if hasattr(est, "stack_key"):
            key = est.stack_key()
        elif hasattr(est, "reservoir_key"):
            key = ("reservoir", est.reservoir_key())
        else:
            key = None
        if key is None:
            singles.append([job])
        else:
            by_key.setdefault(key, []).append(job)
    groups = []
    for members in by_key.values():
        groups.extend(members[i : i + stack_size] for i in range(0, len(members), stack_size))
    return singles + groups


def _fingerprint(
    make_estimator: Any,
    journal_key: Mapping[str, Any] | None,
    configs: list[dict[str, Any]],
    task: str,
    n_seeds: int,
    val_size: float,
    random_state: int,
    stack_size: int,
    arrays: Sequence[Any],
) -> dict[str, Any]:
    """The identity of a selection run in its journal (see :func:`select_and_test`)."""
    from importlib.metadata import PackageNotFoundError, version

    from nwutil.hdf5 import package_version

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    if isinstance(make_estimator, EstimatorFactory):
        estimator: Any = dataclasses.asdict(make_estimator)
    elif journal_key is None:
        raise ModelValidationError(
            "journal_key: required with a journal when make_estimator is not an EstimatorFactory "
            f"(got {type(make_estimator).__name__}); name what identifies the estimator"
        )
    else:
        estimator = None
    return {
        "package_version": package_version(),
        "libraries": {name: installed(name) for name in ("numpy", "scikit-learn", "torch")},
        "estimator": estimator,
        "journal_key": dict(journal_key) if journal_key is not None else None,
        "task": task,
        "configs": configs,
        "n_seeds": n_seeds,
        "val_size": val_size,
        "random_state": random_state,
        "stack_size": stack_size,
        "data": [array_digest(a) for a in arrays],
    }


def select_and_test(
    make_estimator: Callable[[dict, int], Any],
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    task: Task,
    n_seeds: int = 5,
    val_size: float = 0.2,
    random_state: int = 42,
    mapper: Mapper | None = None,
    progress: bool = False,
    stack_size: int = 8,
    journal: str | os.PathLike[str] | None = None,
    journal_key: Mapping[str, Any] | None = None,
) -> SelectionResult:
    """Model selection and test with the paper's protocol (see the module docstring).

    Parameters
    ----------
    make_estimator : callable (params: dict, seed: int) -> estimator
        Builds an unfitted estimator (``fit``/``predict``) for a configuration and a seed.
    grid : dict of lists, or list of such dicts
        Configurations to explore.
    X_train, y_train, X_test, y_test : ndarray
        Data in aeon layout ``(n_cases, n_channels, n_timepoints)`` and targets.
    task : {"classification", "regression"}
        Accuracy (maximised) or RMSE (minimised).
    n_seeds : int
        Random reservoirs per configuration and test repetitions, >= 1.
    val_size : float
        Validation fraction in (0, 1).
    random_state : int
        Seed of the validation split.
    mapper : callable (fn, iterable) -> iterable, optional
        Map-like executor, e.g. ``concurrent.futures.Executor.map``, or a wrapper around a dask
        ``Client.map`` that gathers the results; serial ``map`` by default. For a process pool
        ``make_estimator`` must be picklable (see :class:`EstimatorFactory`).
    progress : bool
        Show a tqdm progress bar on stderr.
    stack_size : int
        Most (configuration, seed) fits of a trainable RNN that are trained together as one
        stacked torch module (same result as fitting each alone; see
        :func:`nwmodel.models.rnn.fit_stacked`), >= 1. Each stack is one task for ``mapper``. On one
        CPU core stacks of about 8 models of N = 100 cost the same per model as single fits;
        on a GPU larger stacks pay off. Reservoirs are always fitted one at a time.
    journal : path-like, optional
        Journal file (:mod:`nwmodel.selection._journal`): every finished group of fits is
        appended to it as soon as its scores are known, and groups already in it are not fitted
        again, so a run killed at any moment resumes where it stopped, with the same result as an
        uninterrupted run (the same stacks are formed, and scores are averaged in seed order).
        The fingerprint that a journal must match covers the configurations, seeds, split, stack
        size, data digests, package version and numpy, scikit-learn and torch versions, the
        fields of an :class:`EstimatorFactory` and ``journal_key``; a journal of another
        experiment, or one that another process holds, raises :class:`~nwmodel.errors.JournalError`. The file
        is left in place: a second call replays it without fitting; delete it once the result
        is saved. ``mapper`` must yield results in input order; those of a mapper that returns
        only when every task is done are journaled only at the end of each phase.
    journal_key : dict, optional
        What else identifies the run in the journal's fingerprint: what builds the estimators
        when ``make_estimator`` is not an :class:`EstimatorFactory` (required then), and
        whatever changes the fits' arithmetic outside this call, such as the number of torch
        threads per fit.

    Returns
    -------
    SelectionResult

    Raises
    ------
    ExperimentError
        If every configuration failed, or a refit of the selected one failed.
    JournalError
        If ``journal`` belongs to another experiment, is corrupt or is in use.
    ModelValidationError
        If ``journal`` is given, ``make_estimator`` is not an :class:`EstimatorFactory` and
        ``journal_key`` is missing.
    """
    t0 = time.perf_counter()
    check_choice("task", task, ("classification", "regression"))
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    stack_size = check_int("stack_size", stack_size, low=1)
    val_size = check_real("val_size", val_size, low=0.0, high=1.0, low_open=True, high_open=True)
    configs = expand_grid(grid)
    X_train = np.asarray(X_train)
    y_train = np.asarray(y_train)
    X_fit, X_val, y_fit, y_val, note = validation_split(
        X_train, y_train, task=task, val_size=val_size, random_state=random_state
    )
    fingerprint = None
    if journal is not None:
        fingerprint = _fingerprint(
            make_estimator,
            journal_key,
            configs,
            task,
            n_seeds,
            val_size,
            random_state,
            stack_size,
            (X_train, y_train, X_test, y_test),
        )
    with SelectionJournal(journal, fingerprint) if journal is not None else contextlib.nullcontext() as log:
        run = mapper if mapper is not None else map

        def scores(phase: str, jobs: list, X_a, y_a, X_b, y_b) -> dict[tuple[int, int], tuple[float, str]]:
            """Score of every (index, seed) of ``jobs``: from the journal, else fitted (and journaled).

            The groups are formed from all of ``jobs``, so a resumed run trains the stacks it
            misses with the same members as an uninterrupted one.
            """
            got: dict[tuple[int, int], tuple[float, str]] = {}
            todo = []
            for group in _groups(make_estimator, jobs, stack_size):
                keys = [(phase, job[0], job[2]) for job in group]
                if log is not None and all(k in log.done for k in keys):
                    got.update({(k[1], k[2]): log.done[k] for k in keys})
                else:
                    todo.append(group)
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(
                    total=len(jobs),
                    initial=len(got),
                    desc="selection" if phase == "val" else "test",
                    unit="fit",
                )
            fn = functools.partial(_evaluate, make_estimator, X_a, y_a, X_b, y_b, task)
            results = run(fn, todo)
            tick = time.perf_counter()
            try:
                for group, fits in zip(todo, results, strict=True):
                    if [f[:2] for f in fits] != [(job[0], job[2]) for job in group]:
                        raise ExperimentError(
                            "the mapper returned results out of order ((configuration, seed) "
                            f"{[f[:2] for f in fits]} for {[(job[0], job[2]) for job in group]}); "
                            "it must yield them in the order of its input, like map"
                        )
                    got.update({(i, seed): (sc, err) for i, seed, sc, err in fits})
                    if log is not None:
                        now = time.perf_counter()
                        log.record(phase, fits, now - tick)
                        tick = now
                    if bar is not None:
                        bar.update(len(fits))
            finally:
                close = getattr(results, "close", None)
                if close is not None:  # cancel what a parallel mapper still runs
                    close()
                if bar is not None:
                    bar.close()
            return got

        val = scores(
            "val",
            [(i, p, s) for i, p in enumerate(configs) for s in range(n_seeds)],
            X_fit,
            y_fit,
            X_val,
            y_val,
        )
        means = []
        errors: dict[int, str] = {}
        for i in range(len(configs)):  # seed order, whatever order the fits finished in
            per_seed = [val[i, s] for s in range(n_seeds)]
            failed = [e for _, e in per_seed if e]
            if failed:
                errors[i] = failed[0]
            means.append(float("nan") if failed else float(np.mean([v for v, _ in per_seed])))
        valid = [i for i, m in enumerate(means) if np.isfinite(m)]
        if not valid:
            raise ExperimentError(
                f"every one of the {len(configs)} configurations failed; first: {errors.get(0)}"
            )
        pick = max if task == "classification" else min
        best = pick(valid, key=lambda i: means[i])  # first of equals: max/min keep the first
        best_params = configs[best]
        test = scores(
            "test", [(best, best_params, s) for s in range(n_seeds)], X_train, y_train, X_test, y_test
        )
        failed = [test[best, s][1] for s in range(n_seeds) if test[best, s][1]]
        if failed:
            raise ExperimentError(f"refitting the selected configuration {best_params} failed: {failed[0]}")
        test_scores = [test[best, s][0] for s in range(n_seeds)]
        wall = time.perf_counter() - t0
        n_resumed = 0
        if log is not None:
            wall, n_resumed = log.wall_s, log.n_resumed
    return SelectionResult(
        best_params=dict(best_params),
        val_score=means[best],
        val_scores=[(dict(c), m) for c, m in zip(configs, means, strict=True)],
        test_scores=test_scores,
        test_mean=float(np.mean(test_scores)),
        test_std=float(np.std(test_scores)),
        metric="accuracy" if task == "classification" else "rmse",
        n_configs=len(configs),
        wall_time_s=wall,
        failures=[(dict(configs[i]), e) for i, e in sorted(errors.items())],
        notes=note,
        n_resumed=n_resumed,
    )
