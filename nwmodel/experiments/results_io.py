"""Test predictions as tsml-eval / aeon results files, for ranking against the published archives.

Two kinds of file, both plain CSV text:

**One file per (estimator, dataset, resample)**, the layout of tsml-eval's
``write_classification_results`` / ``write_regression_results`` (read by tsml-eval's
``load_estimator_results`` and ``load_estimator_results_to_dict``)::

    <root>/<estimator>/Predictions/<dataset>/testResample<k>.csv

    line 1   <dataset>,<estimator>,TEST,<k>,MILLISECONDS,<description>
    line 2   <parameters>                         (free text, one line)
    line 3   classification: <accuracy>,<fit_ms>,<predict_ms>,-1,-1,<n_classes>,,-1,-1
             regression:     <mse>,<fit_ms>,<predict_ms>,-1,-1,,-1,-1
    line 4+  classification: <actual>,<predicted>,,<p_0>,<p_1>,...,<p_{n_classes-1}>
             regression:     <actual>,<predicted>

In line 3, ``-1`` marks the fields this package does not measure (benchmark time, memory,
train-estimate time, fit-and-estimate time) and the empty field is the train-estimate method
(none). Classification labels are written as class indices ``0 .. n_classes-1`` into the ordered
``class_labels`` (which the description of line 1 lists as JSON, ``classes=[...]``) and every
case carries one probability per class (one-hot of the prediction when the model gives none).
Numbers are written with Python's ``repr``, so they read back bit for bit and the score of line 3
equals the score recomputed from the case lines (tsml-eval's reader checks both).

**One summary per (estimator, task)**, the layout of the reference results of
timeseriesclassification.com, which :func:`aeon.benchmarking.results_loaders.get_estimator_results`
reads from a local ``path=<root>``::

    <root>/classification/accuracy/<estimator>_accuracy.csv
    <root>/regression/rmse/<estimator>_rmse.csv

    Resamples:,0,1,...,K-1
    <dataset>,<score of resample 0>,<score of resample 1>,...

:func:`write_summary` rebuilds it from the per-resample files under ``root``; a resample a
dataset lacks is an empty field (NaN). aeon looks estimator names up in
``aeon.benchmarking.results_loaders.NAME_ALIASES``; a name of this package must be added there
(``NAME_ALIASES.setdefault(name, [])``) before aeon's loader reads it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nwmodel._checks import check_choice, check_int
from nwmodel.errors import ModelValidationError
from nwutil.fileio import write_text_atomic

__all__ = [
    "MEASURES",
    "align_probabilities",
    "results_path",
    "summary_path",
    "write_results",
    "write_summary",
]

#: Score of each task in line 3 of a per-resample file, and of the summary file.
_LINE3_SCORE = {"classification": "accuracy", "regression": "mse"}
#: Measure of the summary file of each task (the metric of :func:`nwmodel.selection.search.score`).
MEASURES: dict[str, str] = {"classification": "accuracy", "regression": "rmse"}
_TASKS = ("classification", "regression")
_BAD_NAME_CHARS = (",", "/", "\\", "\n", "\r")


def _check_name(param: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or value in (".", ".."):
        raise ModelValidationError(f"{param} must be a non-empty name, got {value!r}")
    bad = [c for c in _BAD_NAME_CHARS if c in value]
    if bad:
        raise ModelValidationError(
            f"{param} must not contain {', '.join(map(repr, _BAD_NAME_CHARS))} (a results-file field "
            f"and a folder name), got {value!r}"
        )
    if param == "estimator" and value in _TASKS:
        raise ModelValidationError(
            f"estimator must not be {' or '.join(map(repr, _TASKS))} (the summary folders), got {value!r}"
        )
    return value


def results_path(root: str | os.PathLike[str], estimator: str, dataset: str, resample: int) -> Path:
    """Path of the test results file ``<root>/<estimator>/Predictions/<dataset>/testResample<k>.csv``."""
    _check_name("estimator", estimator)
    _check_name("dataset", dataset)
    k = check_int("resample", resample, low=0)
    return Path(root) / estimator / "Predictions" / dataset / f"testResample{k}.csv"


def summary_path(root: str | os.PathLike[str], estimator: str, task: str) -> Path:
    """Path of the summary ``<root>/<task>/<measure>/<estimator>_<measure>.csv`` that aeon reads."""
    check_choice("task", task, _TASKS)
    _check_name("estimator", estimator)
    m = MEASURES[task]
    return Path(root) / task / m / f"{estimator}_{m}.csv"


def align_probabilities(
    probabilities: np.ndarray, classes: Sequence[Any], class_labels: Sequence[Any]
) -> np.ndarray:
    """Reorder the columns of ``probabilities`` (one per entry of ``classes``) to ``class_labels``.

    Parameters
    ----------
    probabilities : ndarray of shape (n_cases, len(classes))
        Class probabilities as a model gives them (``predict_proba`` with ``classes_``).
    classes : sequence
        The model's classes, one per column.
    class_labels : sequence
        The ordered classes of the results file (a superset of ``classes``); a class the model
        never saw gets probability 0.

    Returns
    -------
    ndarray of shape (n_cases, len(class_labels))
    """
    p = np.asarray(probabilities, dtype=float)
    labels = list(class_labels)
    if p.ndim != 2 or p.shape[1] != len(classes):
        raise ModelValidationError(
            f"probabilities must have shape (n_cases, {len(classes)}) (one column per class), got {p.shape}"
        )
    missing = [c for c in classes if c not in labels]
    if missing:
        raise ModelValidationError(f"classes {missing} are not among class_labels {labels}")
    out = np.zeros((p.shape[0], len(labels)))
    out[:, [labels.index(c) for c in classes]] = p
    return out


def _encode(param: str, values: np.ndarray, labels: list[Any]) -> np.ndarray:
    index = {v: i for i, v in enumerate(labels)}
    unknown = sorted({v for v in values.tolist() if v not in index}, key=str)
    if unknown:
        raise ModelValidationError(f"{param} holds labels {unknown} that are not among class_labels {labels}")
    return np.array([index[v] for v in values.tolist()], dtype=int)


def _check_time(param: str, value: Any) -> int:
    return check_int(param, value, low=-1)


def _classification_lines(
    y_true: np.ndarray, y_pred: np.ndarray, class_labels: Any, probabilities: Any, fit_ms: int,
    predict_ms: int,
) -> tuple[list[str], str, list[Any]]:
    from sklearn.metrics import accuracy_score

    if class_labels is None:
        raise ModelValidationError("class_labels must list the classes for classification results, got None")
    labels = np.asarray(class_labels).tolist()
    if np.asarray(class_labels).ndim != 1 or len(labels) < 2 or len(set(labels)) != len(labels):
        raise ModelValidationError(f"class_labels must be at least 2 distinct labels, got {labels}")
    t, p = _encode("y_true", y_true, labels), _encode("y_pred", y_pred, labels)
    n_classes = len(labels)
    if probabilities is None:
        proba = np.eye(n_classes)[p]
    else:
        proba = np.asarray(probabilities, dtype=float)
        if proba.shape != (len(t), n_classes):
            raise ModelValidationError(
                f"probabilities must have shape ({len(t)}, {n_classes}) (cases x class_labels), "
                f"got {proba.shape}"
            )
        if not np.all(np.isfinite(proba)) or proba.min() < 0.0 or proba.max() > 1.0:
            raise ModelValidationError("probabilities must lie in [0, 1], got values outside or NaN")
        worst = float(np.max(np.abs(proba.sum(axis=1) - 1.0)))
        if worst > 1e-6:
            raise ModelValidationError(
                f"probabilities must sum to 1 per case within 1e-6, got a deviation of {worst:.3g}"
            )
    acc = float(accuracy_score(t, p))
    line3 = f"{acc!r},{fit_ms},{predict_ms},-1,-1,{n_classes},,-1,-1"
    cases = [
        f"{a},{b},," + ",".join(repr(float(x)) for x in row) for a, b, row in zip(t, p, proba, strict=True)
    ]
    return cases, line3, labels


def _regression_lines(
    y_true: np.ndarray, y_pred: np.ndarray, class_labels: Any, probabilities: Any, fit_ms: int,
    predict_ms: int,
) -> tuple[list[str], str, list[Any]]:
    from sklearn.metrics import mean_squared_error

    if class_labels is not None or probabilities is not None:
        raise ModelValidationError("class_labels and probabilities apply to classification results only")
    try:
        t, p = y_true.astype(float), y_pred.astype(float)
    except (TypeError, ValueError):
        raise ModelValidationError("y_true and y_pred must be numeric for regression results") from None
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise ModelValidationError("y_true and y_pred must be finite for regression results, got NaN or inf")
    mse = float(mean_squared_error(t, p))
    line3 = f"{mse!r},{fit_ms},{predict_ms},-1,-1,,-1,-1"
    cases = [f"{float(a)!r},{float(b)!r}" for a, b in zip(t, p, strict=True)]
    return cases, line3, []


_LINES = {"classification": _classification_lines, "regression": _regression_lines}


def write_results(
    root: str | os.PathLike[str],
    *,
    task: str,
    estimator: str,
    dataset: str,
    resample: int,
    y_true: Any,
    y_pred: Any,
    class_labels: Sequence[Any] | None = None,
    probabilities: Any = None,
    parameters: str = "No Parameter Info",
    fit_time_ms: int = -1,
    predict_time_ms: int = -1,
    description: str = "",
) -> Path:
    """Write one test results file (layout in the module docstring); returns its path.

    An existing file of the same (estimator, dataset, resample) is replaced.

    Parameters
    ----------
    root : path
        Results folder (created).
    task : {"classification", "regression"}
    estimator, dataset : str
        Names (folders and line-1 fields): no comma, slash, backslash or line break.
    resample : int
        Resample id >= 0 (this package: the seed of the test repetition).
    y_true, y_pred : array-like of shape (n_cases,)
        Test targets and predictions (labels or real values), n_cases >= 1.
    class_labels : sequence, optional
        Classification only (required): the ordered distinct classes; every label of ``y_true``
        and ``y_pred`` must be one of them.
    probabilities : array-like of shape (n_cases, len(class_labels)), optional
        Classification only: class probabilities in ``class_labels`` order, each in [0, 1] and
        summing to 1 per case within 1e-6; default the one-hot of ``y_pred``.
    parameters : str
        Line 2: free text on one line (e.g. the selected hyperparameters as JSON).
    fit_time_ms, predict_time_ms : int
        Fit and predict wall times in milliseconds, >= 0, or -1 for unknown.
    description : str
        Appended to line 1 (one line); classification adds ``classes=<JSON list>`` after it.

    Returns
    -------
    Path
        :func:`results_path` of the file written.

    Raises
    ------
    ModelValidationError
        A bad name, task, resample, time or text field; arrays of different lengths or empty; a
        label outside ``class_labels``; probabilities of the wrong shape, outside [0, 1] or not
        summing to 1; non-finite regression values.
    """
    check_choice("task", task, _TASKS)
    path = results_path(root, estimator, dataset, resample)
    fit_ms = _check_time("fit_time_ms", fit_time_ms)
    predict_ms = _check_time("predict_time_ms", predict_time_ms)
    for param, text in (("parameters", parameters), ("description", description)):
        if not isinstance(text, str) or "\n" in text or "\r" in text:
            raise ModelValidationError(f"{param} must be text on one line, got {text!r}")
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim != 1 or t.shape != p.shape or t.shape[0] < 1:
        raise ModelValidationError(
            f"y_true and y_pred must be 1-D of the same length >= 1, got shapes {t.shape} and {p.shape}"
        )
    cases, line3, labels = _LINES[task](t, p, class_labels, probabilities, fit_ms, predict_ms)
    if task == "classification":
        classes = "classes=" + json.dumps([v if isinstance(v, (int, float, str)) else str(v) for v in labels])
        description = f"{description} {classes}" if description else classes
    line1 = f"{dataset},{estimator},TEST,{int(resample)},MILLISECONDS,{description}"
    write_text_atomic(path, "\n".join([line1, parameters, line3, *cases]) + "\n", newline="")
    return path


#: Fields of line 3 per task (how tsml-eval tells a classification file from a regression one).
_LINE3_FIELDS = {"classification": 9, "regression": 8}


def _line3_score(path: Path, task: str) -> float | None:
    """The score of line 3 of a results file of ``task``; None for a file of the other task."""
    with open(path) as fh:
        for _ in range(2):
            fh.readline()
        fields = fh.readline().split(",")
    return float(fields[0]) if len(fields) == _LINE3_FIELDS[task] else None


def write_summary(root: str | os.PathLike[str], estimator: str, *, task: str) -> Path:
    """Rebuild the summary of ``estimator`` (layout in the module docstring) from its files under ``root``.

    Scores per dataset (rows, sorted by name) and resample (columns ``0 .. K-1``, ``K`` the
    largest resample id found plus one): the accuracy of line 3 (classification) or the square
    root of its MSE (regression: RMSE, the metric of :func:`nwmodel.selection.search.score`). Files of
    the other task (told apart by the length of line 3, as tsml-eval does) are left out.

    Returns
    -------
    Path
        :func:`summary_path` of the file written.

    Raises
    ------
    ModelValidationError
        A bad name or task, or no results file of ``estimator`` under ``root``.
    """
    path = summary_path(root, estimator, task)
    folder = Path(root) / estimator / "Predictions"
    scores: dict[str, dict[int, float]] = {}
    for f in sorted(folder.glob("*/testResample*.csv")):
        k = f.stem[len("testResample"):]
        if not k.isdigit():
            continue
        s = _line3_score(f, task)
        if s is None:
            continue
        scores.setdefault(f.parent.name, {})[int(k)] = math.sqrt(s) if task == "regression" else s
    if not scores:
        raise ModelValidationError(
            f"no {task} results files testResample<k>.csv of {estimator!r} under {str(folder)!r}"
        )
    n = 1 + max(k for row in scores.values() for k in row)
    lines = ["Resamples:," + ",".join(str(k) for k in range(n))]
    for d in sorted(scores):
        lines.append(d + "," + ",".join(repr(scores[d][k]) if k in scores[d] else "" for k in range(n)))
    write_text_atomic(path, "\n".join(lines) + "\n", newline="")
    return path
