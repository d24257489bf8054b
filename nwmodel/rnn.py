"""Fully trainable recurrent networks (torch): NW-RNN (nanowire cell) and RNN (tanh cell).

The cells are those of :mod:`nwmodel.kernels` (one definition); ``W_x``, ``W_h`` and ``b`` are
initialised as in the reservoirs and then trained by backpropagation through time together with
a dense output layer, with Adam, mini-batches, and early stopping (patience on the loss of an
internal validation split, best weights restored). Loss: cross-entropy (classification) or RMSE
(regression, on targets standardised with the training mean and std; predictions are mapped back).

``max_epochs`` defaults to 200 (the paper's grid uses 5000 with patience 10; early stopping
normally ends training long before either).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from ._checks import check_int, check_real, make_rng
from ._estimator import (
    ClassifierTask,
    NWCellMixin,
    RecurrentEstimator,
    RegressorTask,
    check_X,
    set_init_params,
)
from .errors import ModelError, ModelValidationError
from .kernels import ESNCellParams, esn_cell, nw_cell, torch_ops

__all__ = ["NWRNNClassifier", "NWRNNRegressor", "RNNClassifier", "RNNRegressor"]


def _build_module(
    weights: Any, cell: str, params: Any, n_outputs: int, out_init: tuple, dtype: Any, device: Any
):
    import torch

    ops = torch_ops()
    step = nw_cell if cell == "nw" else esn_cell

    class RecurrentNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            t = lambda a: torch.nn.Parameter(torch.as_tensor(a, dtype=dtype, device=device))  # noqa: E731
            self.W_h = t(weights.W_h)
            self.W_x = t(weights.W_x)
            self.b = t(weights.b)
            self.W_out = t(out_init[0])
            self.b_out = t(out_init[1])

        def forward(self, U: torch.Tensor) -> torch.Tensor:  # U: (n_steps, n_cases, n_channels)
            h = torch.zeros((U.shape[1], self.W_h.shape[0]), dtype=U.dtype, device=U.device)
            W_hT, W_xT = self.W_h.T, self.W_x.T
            for k in range(U.shape[0]):
                h = step(ops, h, h @ W_hT + U[k] @ W_xT + self.b, params)
            return h @ self.W_out.T + self.b_out

    return RecurrentNet()


class _TrainableRNN(RecurrentEstimator):
    _dtypes = ("float32", "float64")

    def _validate_specific(self) -> None:
        check_real("learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_int("batch_size", self.batch_size, low=1)
        check_int("max_epochs", self.max_epochs, low=1)
        check_int("patience", self.patience, low=1)
        check_real(
            "validation_fraction", self.validation_fraction, low=0.0, high=1.0, low_open=True, high_open=True
        )

    def fit(self, X: Any, y: Any) -> _TrainableRNN:
        """Train by BPTT with early stopping.

        Parameters
        ----------
        X : array of shape (n_cases, n_channels, n_timepoints)
        y : array of shape (n_cases,)

        Attributes set: ``module_`` (torch module), ``loss_curve_`` and ``val_loss_curve_`` (per
        epoch), ``n_epochs_``, ``best_epoch_``, ``classes_`` (classifier), ``y_mean_``/``y_std_``
        (regressor).
        """
        import torch
        from sklearn.model_selection import train_test_split

        params, X, y = self._validate_fit_inputs(X, y)
        rng = make_rng(self.random_state)
        rng_w, rng_out, rng_split, rng_batch = rng.spawn(4)
        tdtype = getattr(torch, self.dtype)
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ModelValidationError(f"device {self.device!r} requested but CUDA is not available")
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
        out_init = (
            rng_out.uniform(-bound, bound, (n_out, self.n_units)),
            rng_out.uniform(-bound, bound, n_out),
        )
        module = _build_module(weights, self._cell, params, n_out, out_init, tdtype, device)
        U = torch.as_tensor(np.transpose(X, (2, 0, 1)).copy(), dtype=tdtype, device=device)
        T = torch.as_tensor(
            targets,
            dtype=torch.long if n_out > 1 or self._task == "classification" else tdtype,
            device=device,
        )
        loss_fn = self._loss
        opt = torch.optim.Adam(module.parameters(), lr=float(self.learning_rate))
        gen = torch.Generator().manual_seed(int(rng_batch.integers(2**63 - 1)))
        fit_idx = torch.as_tensor(idx_fit)
        val_idx = torch.as_tensor(idx_val)
        best_val, best_state, best_epoch, wait = np.inf, None, 0, 0
        self.loss_curve_, self.val_loss_curve_ = [], []
        for epoch in range(int(self.max_epochs)):
            module.train()
            perm = fit_idx[torch.randperm(len(fit_idx), generator=gen)]
            total = 0.0
            for start in range(0, len(perm), int(self.batch_size)):
                b = perm[start : start + int(self.batch_size)]
                opt.zero_grad()
                loss = loss_fn(module(U[:, b]), T[b])
                if not torch.isfinite(loss):
                    raise ModelError(f"training loss became non-finite at epoch {epoch}")
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
            self.loss_curve_.append(total / len(perm))
            module.eval()
            with torch.no_grad():
                val = float(loss_fn(module(U[:, val_idx]), T[val_idx]))
            self.val_loss_curve_.append(val)
            if val < best_val:
                best_val, best_epoch, wait = val, epoch, 0
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                wait += 1
                if wait >= int(self.patience):
                    break
        if best_state is not None:
            module.load_state_dict(best_state)
        self.module_ = module
        self.n_channels_ = X.shape[1]
        self.n_epochs_ = len(self.loss_curve_)
        self.best_epoch_ = best_epoch
        return self

    def _loss(self, out: Any, target: Any) -> Any:
        import torch

        if self._task == "classification":
            return torch.nn.functional.cross_entropy(out, target)
        return torch.sqrt(torch.mean((out[:, 0] - target) ** 2))

    def _forward(self, X: Any) -> np.ndarray:
        import torch

        check_is_fitted(self, "module_")
        X = check_X(X, self.n_channels_)
        p = next(self.module_.parameters())
        with torch.no_grad():
            U = torch.as_tensor(np.transpose(X, (2, 0, 1)).copy(), dtype=p.dtype, device=p.device)
            return self.module_(U).cpu().numpy().astype(float)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels or targets, shape (n_cases,)."""
        out = self._forward(X)
        if self._task == "classification":
            return self.label_encoder_.inverse_transform(np.argmax(out, axis=1))
        return out[:, 0] * self.y_std_ + self.y_mean_


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


class _NWRNNBase(NWCellMixin, _TrainableRNN):
    def __init__(
        self,
        n_units: int = 100,
        gamma: float = 0.95,
        slope: float = 1.0,
        dt: float = 0.1,
        kp0: float = 1e-4,
        kd0: float = 0.5,
        eta_p: float = 10.0,
        eta_d: float = 1.0,
        input_scaling: float = 1.0,
        bias_scaling: float = 0.1,
        spectral_radius: float = 0.9,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 200,
        patience: int = 10,
        validation_fraction: float = 0.2,
        dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
        random_state: int | np.random.Generator | None = None,
    ):
        set_init_params(self, locals())


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
    _cell = "esn"

    def __init__(
        self,
        n_units: int = 100,
        input_scaling: float = 1.0,
        bias_scaling: float = 0.1,
        spectral_radius: float = 0.9,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 200,
        patience: int = 10,
        validation_fraction: float = 0.2,
        dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
        random_state: int | np.random.Generator | None = None,
    ):
        set_init_params(self, locals())

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
