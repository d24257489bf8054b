"""Shared machinery of the recurrent estimators of :mod:`nwmodel.esn` and :mod:`nwmodel.rnn` (not public).

* :func:`check_X`, :func:`check_y`: input validation of ``fit``/``predict``;
* :func:`set_init_params`: the body of every estimator ``__init__`` (the signatures stay explicit,
  as scikit-learn's ``get_params``/``clone`` read them);
* :class:`RecurrentEstimator`: parameter validation common to reservoirs and trained RNNs, the
  ``fit`` prologue and the weight initialisation;
* :class:`NWCellMixin`: the nanowire-cell hyperparameters (``gamma, slope, dt, kp0, kd0, eta_p,
  eta_d``) as :class:`~nwmodel.kernels.NWCellParams`;
* :class:`ClassifierTask`, :class:`RegressorTask`: scikit-learn's classifier/regressor mixins
  with the task name the estimators dispatch on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from ._checks import check_choice, check_int, check_real
from .errors import ModelValidationError
from .kernels import ESNCellParams, NWCellParams, ReservoirWeights, init_weights

__all__ = [
    "ClassifierTask",
    "NWCellMixin",
    "RecurrentEstimator",
    "RegressorTask",
    "check_X",
    "check_y",
    "set_init_params",
]


def check_X(X: Any, n_channels: int | None = None) -> np.ndarray:
    """Return ``X`` as a finite float array of shape (n_cases, n_channels, n_timepoints), or raise."""
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise ModelValidationError(
            "X must be a numeric array of shape (n_cases, n_channels, n_timepoints) (equal-length series)"
        ) from None
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise ModelValidationError(
            f"X must have shape (n_cases, n_channels, n_timepoints) with every size >= 1, got {arr.shape}"
        )
    if n_channels is not None and arr.shape[1] != n_channels:
        raise ModelValidationError(f"X must have {n_channels} channel(s) as in fit, got {arr.shape[1]}")
    if not np.all(np.isfinite(arr)):
        raise ModelValidationError("X must be finite, got NaN or inf")
    return arr


def check_y(y: Any, n_cases: int, task: str) -> np.ndarray:
    """Return ``y`` as a 1-D array of ``n_cases`` labels (classification) or floats (regression)."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n_cases:
        raise ModelValidationError(f"y must have shape ({n_cases},), got {arr.shape}")
    if task == "regression":
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError):
            raise ModelValidationError(f"y must be numeric for regression, got dtype {arr.dtype}") from None
        if not np.all(np.isfinite(arr)):
            raise ModelValidationError("y must be finite for regression, got NaN or inf")
    elif len(np.unique(arr)) < 2:
        raise ModelValidationError(f"y must hold at least 2 classes, got {np.unique(arr).tolist()}")
    return arr


def set_init_params(estimator: BaseEstimator, init_locals: Mapping[str, Any]) -> None:
    """Store the keyword arguments of ``__init__`` unchanged as attributes of ``estimator``.

    Call it as ``set_init_params(self, locals())`` first thing in ``__init__``; nothing is
    validated here (scikit-learn convention: validation happens in ``fit``).
    """
    for name, value in init_locals.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class RecurrentEstimator(BaseEstimator):
    """Validation and initialisation shared by the reservoir and the trainable estimators.

    A subclass provides

    1. ``_cell`` (``"nw"`` or ``"esn"``, the kernel cell) and ``_cell_params()``;
    2. ``_task`` (through :class:`ClassifierTask` or :class:`RegressorTask`);
    3. ``_dtypes``, the accepted ``dtype`` values (in the order the error message lists them);
    4. ``_validate_specific()``, its own parameter checks, run between the initialisation
       scales and ``dtype``/``device``.

    The estimator must have the parameters ``n_units``, ``input_scaling``, ``bias_scaling``,
    ``spectral_radius``, ``dtype`` and ``device``.
    """

    _cell: str = ""
    _task: str = ""
    _dtypes: tuple[str, ...] = ("float64", "float32")

    def _cell_params(self) -> NWCellParams | ESNCellParams:  # pragma: no cover - abstract
        raise NotImplementedError

    def _validate_specific(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _validate(self) -> None:
        check_int("n_units", self.n_units, low=1)
        check_real("input_scaling", self.input_scaling, low=0.0)
        check_real("bias_scaling", self.bias_scaling, low=0.0)
        check_real("spectral_radius", self.spectral_radius, low=0.0)
        self._validate_specific()
        check_choice("dtype", self.dtype, self._dtypes)
        if not isinstance(self.device, str):
            raise ModelValidationError(
                f"device must be a string such as 'cpu' or 'cuda', got {self.device!r}"
            )

    def _validate_fit_inputs(
        self, X: Any, y: Any
    ) -> tuple[NWCellParams | ESNCellParams, np.ndarray, np.ndarray]:
        """Validate the parameters and the training data; return (cell params, X, y)."""
        self._validate()
        cell_params = self._cell_params()
        X = check_X(X)
        y = check_y(y, X.shape[0], self._task)
        return cell_params, X, y

    def _init_weights(
        self,
        n_channels: int,
        seed: int | np.random.Generator | None,
        exact_spectral_radius: bool = False,
    ) -> ReservoirWeights:
        """Draw ``W_h``, ``W_x``, ``b`` for ``n_channels`` inputs from the estimator's scales."""
        return init_weights(
            self.n_units,
            n_channels,
            spectral_radius_target=self.spectral_radius,
            input_scaling=self.input_scaling,
            bias_scaling=self.bias_scaling,
            exact_spectral_radius=exact_spectral_radius,
            seed=seed,
        )


class NWCellMixin:
    """Nanowire cell (``_cell = "nw"``) built from the ``gamma ... eta_d`` estimator parameters."""

    _cell = "nw"

    def _cell_params(self) -> NWCellParams:
        return NWCellParams(
            gamma=self.gamma,  # type: ignore[attr-defined]
            slope=self.slope,  # type: ignore[attr-defined]
            dt=self.dt,  # type: ignore[attr-defined]
            kp0=self.kp0,  # type: ignore[attr-defined]
            kd0=self.kd0,  # type: ignore[attr-defined]
            eta_p=self.eta_p,  # type: ignore[attr-defined]
            eta_d=self.eta_d,  # type: ignore[attr-defined]
        )


class ClassifierTask(ClassifierMixin):
    """scikit-learn classifier mixin; the estimator fits labels (``_task = "classification"``)."""

    _task = "classification"


class RegressorTask(RegressorMixin):
    """scikit-learn regressor mixin; the estimator fits real targets (``_task = "regression"``)."""

    _task = "regression"
