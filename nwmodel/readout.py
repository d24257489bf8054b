"""Linear readouts over reservoir features, and the memory-capacity measure."""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.utils.validation import check_is_fitted

from ._checks import check_choice, check_int, check_real
from .errors import ModelValidationError

__all__ = ["RidgeReadout", "memory_capacity"]


class RidgeReadout(BaseEstimator):
    """Ridge readout shared by every reservoir: ``RidgeClassifier`` or ``Ridge`` of scikit-learn.

    Parameters
    ----------
    task : {"classification", "regression"}
        Kind of target.
    alpha : float
        Ridge regularisation strength, >= 0 (published default 1).

    Attributes
    ----------
    model_ : RidgeClassifier or Ridge
        The fitted scikit-learn model.
    """

    def __init__(self, task: Literal["classification", "regression"] = "classification", alpha: float = 1.0):
        self.task = task
        self.alpha = alpha

    def fit(self, features: np.ndarray, y: np.ndarray) -> RidgeReadout:
        """Fit on ``features`` of shape (n_cases, n_features) and targets ``y`` of shape (n_cases,...)."""
        check_choice("task", self.task, ("classification", "regression"))
        alpha = check_real("alpha", self.alpha, low=0.0)
        features = _check_features(features)
        if len(y) != features.shape[0]:
            raise ModelValidationError(f"y must have one target per case ({features.shape[0]}), got {len(y)}")
        cls = RidgeClassifier if self.task == "classification" else Ridge
        self.model_ = cls(alpha=alpha).fit(features, y)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted labels or values for ``features`` of shape (n_cases, n_features)."""
        check_is_fitted(self, "model_")
        return self.model_.predict(_check_features(features))


def _check_features(features: np.ndarray) -> np.ndarray:
    f = np.asarray(features, dtype=float)
    if f.ndim != 2:
        raise ModelValidationError(f"features must have shape (n_cases, n_features), got {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ModelValidationError("features must be finite, got NaN or inf")
    return f


def memory_capacity(
    states: np.ndarray,
    inputs: np.ndarray,
    *,
    max_delay: int,
    washout: int = 100,
    train_fraction: float = 0.5,
    alpha: float = 1e-8,
) -> tuple[float, np.ndarray]:
    """Short-term memory capacity (Jaeger 2001) of a state trajectory driven by ``inputs``.

    For each delay ``k = 1 .. max_delay`` a ridge readout trained on the first part of the
    trajectory reconstructs ``u(t - k)`` from ``h(t)``; on the rest, ``MC_k`` is the squared
    correlation of reconstruction and target; ``MC = sum_k MC_k`` (at most ``N`` for i.i.d. input).

    Parameters
    ----------
    states : ndarray of shape (n_timepoints, n_units)
        Reservoir states h(t) driven by ``inputs``.
    inputs : ndarray of shape (n_timepoints,)
        The scalar input u(t).
    max_delay : int
        Largest delay, >= 1.
    washout : int
        Initial steps dropped, >= max_delay.
    train_fraction : float
        Fraction of the remaining steps used to train the readouts, in (0, 1).
    alpha : float
        Ridge strength of the readouts, >= 0.

    Returns
    -------
    mc : float
        Total memory capacity.
    mc_k : ndarray of shape (max_delay,)
        Capacity per delay.
    """
    states = np.asarray(states, dtype=float)
    inputs = np.asarray(inputs, dtype=float)
    if states.ndim != 2 or inputs.shape != (states.shape[0],):
        raise ModelValidationError(
            f"states must be (n_timepoints, n_units) and inputs (n_timepoints,), got {states.shape}"
            f" and {inputs.shape}"
        )
    k_max = check_int("max_delay", max_delay, low=1)
    wash = check_int("washout", washout, low=k_max, high=states.shape[0] - 4)
    frac = check_real("train_fraction", train_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    H = states[wash:]
    targets = np.stack([inputs[wash - k : len(inputs) - k] for k in range(1, k_max + 1)], axis=1)
    n_train = int(frac * len(H))
    model = Ridge(alpha=check_real("alpha", alpha, low=0.0)).fit(H[:n_train], targets[:n_train])
    pred = model.predict(H[n_train:])
    tgt = targets[n_train:]
    mc_k = np.array([np.corrcoef(pred[:, k], tgt[:, k])[0, 1] ** 2 for k in range(k_max)])
    return float(mc_k.sum()), mc_k
