"""Fully trainable recurrent networks (torch): NW-RNN (nanowire cell) and RNN (tanh cell).

The cells are those of :mod:`nwmodel.models.kernels` (one definition); ``W_x``, ``W_h`` and ``b`` are
initialised as in the reservoirs and then trained by backpropagation through time together with
a dense output layer, with Adam, mini-batches, and early stopping (patience on the loss of an
internal validation split, best weights restored). Loss: cross-entropy (classification) or RMSE
(regression, on targets standardised with the training mean and std; predictions are mapped back).

``max_epochs`` defaults to 200 (the paper's grid uses 5000 with patience 10; early stopping
normally ends training long before either).

Backpropagation runs through the fused recursion of :mod:`nwmodel.models._bptt` (exact; the tests compare
it with autograd through the cells). :func:`fit_stacked` trains several estimators of one class and
training setting as one stacked module (:mod:`nwmodel.models._trainer`); each ends bit for bit as if fitted
alone, and :func:`nwmodel.selection.search.select_and_test` uses it for the grid's fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar, Literal

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from nwmodel._checks import make_rng
from nwmodel._estimator import (
    NW_CELL_CONSTRAINTS,
    ClassifierTask,
    NWCellMixin,
    RecurrentEstimator,
    RegressorTask,
    check_X,
    init_params,
    number,
)
from nwmodel.errors import ModelError, ModelValidationError
from nwmodel.models.kernels import ESNCellParams

__all__ = ["NWRNNClassifier", "NWRNNRegressor", "RNNClassifier", "RNNRegressor", "fit_stacked"]


#: Hyperparameters that models trained in one stack must share (see :func:`fit_stacked`).
_SHARED = (
    "n_units",
    "learning_rate",
    "batch_size",
    "max_epochs",
    "patience",
    "validation_fraction",
    "dtype",
    "device",
)


@init_params
class _TrainableRNN(RecurrentEstimator):
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **RecurrentEstimator._parameter_constraints,
        "learning_rate": [number(Real, 0.0, None, "neither")],
        "batch_size": [number(Integral, 1, None, "left")],
        "max_epochs": [number(Integral, 1, None, "left")],
        "patience": [number(Integral, 1, None, "left")],
        "validation_fraction": [number(Real, 0.0, 1.0, "neither")],
    }

    learning_rate: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 10
    validation_fraction: float = 0.2
    dtype: Literal["float32", "float64"] = "float32"

    def stack_key(self) -> tuple:
        """Models with equal keys can be trained together by :func:`fit_stacked`."""
        return (type(self).__name__, *(repr(getattr(self, k)) for k in _SHARED))

    def fit(self, X: Any, y: Any) -> _TrainableRNN:
        """Train by BPTT with early stopping.

        Parameters
        ----------
        X : array of shape (n_cases, n_channels, n_timepoints)
        y : array of shape (n_cases,)

        Attributes set: ``module_`` (torch module), ``loss_curve_`` and ``val_loss_curve_`` (per
        epoch), ``n_epochs_``, ``best_epoch_``, ``classes_`` (classifier), ``y_mean_``/``y_std_``
        (regressor).

        Raises
        ------
        ModelError
            If the training loss becomes non-finite.
        """
        (error,) = fit_stacked([self], X, y)
        if error:
            raise ModelError(error)
        return self

    def _prepare(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, Any]:
        """Targets and the :class:`~nwmodel.models._trainer.ModelSpec` of this estimator's fit."""
        from sklearn.model_selection import train_test_split

        from nwmodel.models._bptt import cell_constants
        from nwmodel.models._trainer import ModelSpec

        rng_w, rng_out, rng_split, rng_batch = make_rng(self.random_state).spawn(4)
        if self._task == "classification":
            self.label_encoder_ = LabelEncoder().fit(y)
            self.classes_ = self.label_encoder_.classes_
            targets = self.label_encoder_.transform(y)
            n_out = len(self.classes_)
            _, counts = np.unique(targets, return_counts=True)
            strat = targets if counts.min() >= 2 else None
        else:
            self.y_mean_ = float(np.mean(y))
            self.y_std_ = float(np.std(y)) or 1.0
            targets = (y - self.y_mean_) / self.y_std_
            n_out = 1
            strat = None
        split_seed = int(rng_split.integers(2**31 - 1))
        idx_fit, idx_val = train_test_split(
            np.arange(len(y)), test_size=self.validation_fraction, random_state=split_seed, stratify=strat
        )
        weights = self._init_weights(X.shape[1], rng_w)
        bound = 1.0 / np.sqrt(self.n_units)
        p = self._cell_params()
        spec = ModelSpec(
            W_h=weights.W_h,
            W_x=weights.W_x,
            b=weights.b,
            W_out=rng_out.uniform(-bound, bound, (n_out, self.n_units)),
            b_out=rng_out.uniform(-bound, bound, n_out),
            constants=cell_constants(self._cell, [vars(p)])[0],
            idx_fit=np.asarray(idx_fit),
            idx_val=np.asarray(idx_val),
            batch_seed=int(rng_batch.integers(2**63 - 1)),
        )
        return targets, spec

    def _forward(self, X: Any) -> np.ndarray:
        import torch

        check_is_fitted(self, "module_")
        X = check_X(X, self.n_channels_)
        p = self.module_.W_h
        with torch.no_grad():
            U = torch.as_tensor(np.transpose(X, (2, 0, 1)).copy(), dtype=p.dtype, device=p.device)
            return self.module_(U[:, None])[0].cpu().numpy().astype(float)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels or targets, shape (n_cases,)."""
        out = self._forward(X)
        if self._task == "classification":
            return self.label_encoder_.inverse_transform(np.argmax(out, axis=1))
        return out[:, 0] * self.y_std_ + self.y_mean_


def fit_stacked(estimators: Sequence[_TrainableRNN], X: Any, y: Any) -> list[str]:
    """Fit several NW-RNN/RNN estimators on the same data as one stacked torch module.

    Each estimator keeps its own initial weights, cell hyperparameters, validation split and
    mini-batch order (all from its ``random_state``) and ends exactly as if fitted alone; the
    stack only shares the arithmetic (useful on a GPU, and against Python overhead for small
    models). They must be of one class and agree on ``n_units, learning_rate, batch_size,
    max_epochs, patience, validation_fraction, dtype, device`` (:meth:`stack_key`).

    Parameters
    ----------
    estimators : sequence of NWRNNClassifier, NWRNNRegressor, RNNClassifier or RNNRegressor
    X : array of shape (n_cases, n_channels, n_timepoints)
    y : array of shape (n_cases,)

    Returns
    -------
    list of str
        Per estimator, "" when fitted, else why training failed (its loss became non-finite;
        that estimator stays unfitted).

    Raises
    ------
    ModelValidationError
        If the estimators cannot share a stack, or on invalid parameters or data.
    """
    import torch

    from nwmodel.models._trainer import train_stack

    estimators = list(estimators)
    if not estimators:
        raise ModelValidationError("estimators must hold at least one estimator, got none")
    for est in estimators:
        if not isinstance(est, _TrainableRNN):
            raise ModelValidationError(f"estimators must be NW-RNN/RNN estimators, got {type(est).__name__}")
    keys = {est.stack_key() for est in estimators}
    if len(keys) > 1:
        raise ModelValidationError(
            f"estimators trained in one stack must share class and {', '.join(_SHARED)}; "
            f"got {len(keys)} different settings"
        )
    first = estimators[0]
    prepared = []
    for est in estimators:
        _, Xv, yv = est._validate_fit_inputs(X, y)
        prepared.append(est._prepare(Xv, yv))
    device = torch.device(first.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelValidationError(f"device {first.device!r} requested but CUDA is not available")
    results = train_stack(
        first._cell,
        first._task,
        Xv,
        prepared[0][0],
        [spec for _, spec in prepared],
        learning_rate=float(first.learning_rate),
        batch_size=int(first.batch_size),
        max_epochs=int(first.max_epochs),
        patience=int(first.patience),
        dtype=getattr(torch, first.dtype),
        device=device,
    )
    errors = []
    for est, res in zip(estimators, results, strict=True):
        errors.append(res.error)
        if res.error:
            continue
        est.module_ = res.module
        est.n_channels_ = Xv.shape[1]
        est.loss_curve_ = res.loss_curve
        est.val_loss_curve_ = res.val_loss_curve
        est.n_epochs_ = len(res.loss_curve)
        est.best_epoch_ = res.best_epoch
    return errors


class _ClassifierProba:
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the output layer), shape (n_cases, n_classes)."""
        out = self._forward(X)  # type: ignore[attr-defined]
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


_COMMON_DOC = """
    input_scaling, bias_scaling, spectral_radius : float
        Initialisation of ``W_x``, ``b``, ``W_h`` as in the reservoirs (>= 0).
    learning_rate : float
        Adam learning rate > 0.
    batch_size : int
        Mini-batch size >= 1.
    max_epochs : int
        Epoch limit >= 1 (default 200; the paper's grid uses 5000).
    patience : int
        Epochs without validation improvement before stopping, >= 1.
    validation_fraction : float
        Fraction of the training cases held out for early stopping, in (0, 1).
    dtype : {{"float32", "float64"}}
        Torch precision.
    device : str
        Torch device ("cpu", "cuda").
    random_state : int, Generator or None
        Seed of the initial weights, the split and the batch order.
    """


@init_params
class _NWRNNBase(NWCellMixin, _TrainableRNN):
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_TrainableRNN._parameter_constraints,
        **NW_CELL_CONSTRAINTS,
    }


_NWRNN_DOC = (
    """{kind}: Nanowire RNN (NW-RNN), the nanowire cell with ``W_x, W_h, b`` trained by BPTT.

    Parameters
    ----------
    n_units : int
        Hidden size N >= 1.
    gamma, slope, dt, kp0, kd0, eta_p, eta_d : float
        Nanowire cell hyperparameters (see :class:`nwmodel.NWESNClassifier`)."""
    + _COMMON_DOC
)


class NWRNNClassifier(_ClassifierProba, ClassifierTask, _NWRNNBase):
    __doc__ = _NWRNN_DOC.format(kind="Classifier")


class NWRNNRegressor(RegressorTask, _NWRNNBase):
    __doc__ = _NWRNN_DOC.format(kind="Regressor")


class _RNNBase(_TrainableRNN):
    _cell: ClassVar[str] = "esn"

    def _cell_params(self) -> ESNCellParams:
        return ESNCellParams(leak_rate=1.0)


_RNN_DOC = (
    """{kind}: Elman RNN ``h <- tanh(W_h h + W_x x + b)`` (the ESN cell with leak 1) trained by BPTT.

    Parameters
    ----------
    n_units : int
        Hidden size N >= 1."""
    + _COMMON_DOC
)


class RNNClassifier(_ClassifierProba, ClassifierTask, _RNNBase):
    __doc__ = _RNN_DOC.format(kind="Classifier")


class RNNRegressor(RegressorTask, _RNNBase):
    __doc__ = _RNN_DOC.format(kind="Regressor")
