"""Training of a stack of independent recurrent models as one torch module (private).

:class:`StackedRecurrentNet` holds ``K`` models of the same shapes (hidden size, inputs, outputs)
with their own weights and cell hyperparameters; :func:`train_stack` trains them together with
Adam, each on its own mini-batch order, fitting part and validation part, with early stopping per
model. The models never interact: the loss is the sum of the per-model losses, so each model's
gradient is its own; every product and reduction of the forward and backward pass runs per
model, and Adam is elementwise, so a model trained in a stack follows the same trajectory as
trained alone, bit for bit (the tests check this in float32 with N = 100, where training is
chaotic enough that rounding differences change the selected model). Two details keep it so:
every model's loss is its own call, and every pass pads the cases to whole SIMD blocks per
model (:func:`_case_multiple`), because a vectorised kernel rounds the elements after its last
whole block differently. On one CPU thread; with several threads torch may split an elementwise
kernel at other places for other stack sizes. A model that stops is removed from the stack
together with its Adam moments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from nwmodel.models._bptt import Workspace, run_stack

__all__ = ["ModelSpec", "StackedRecurrentNet", "TrainedModel", "train_stack"]

_PARAMS = ("W_h", "W_x", "b", "W_out", "b_out")


#: Per-model blocks of the recurrent pass hold a multiple of this many numbers.
SIMD_BLOCK = 64


def _case_multiple(n_units: int) -> int:
    """Cases per model are padded to a multiple of this, so that ``n_cases * n_units`` is one.

    The elementwise kernels of the recurrent pass (sigmoid, exp, ...) run over the whole stack's
    (K, n_cases, N) tensors; a vectorised kernel computes the elements after its last whole SIMD
    block (2 vectors: 16 to 32 floats on x86) on a scalar path that rounds differently. With
    per-model blocks of whole multiples of 64 numbers no element of any model is ever on that path,
    whatever the stack size, so a model in a stack rounds as it does alone.
    """
    return SIMD_BLOCK // math.gcd(int(n_units), SIMD_BLOCK)


class StackedRecurrentNet(torch.nn.Module):
    """``K`` recurrent models ``h <- cell(h, W_h h + W_x x + b)`` with a dense output layer.

    Parameters
    ----------
    cell : {"nw", "esn"}
        Recurrent cell (see :mod:`nwmodel.models._bptt`).
    W_h : tensor of shape (K, N, N)
    W_x : tensor of shape (K, N, n_channels)
    b : tensor of shape (K, N)
    W_out : tensor of shape (K, n_outputs, N)
    b_out : tensor of shape (K, n_outputs)
    constants : tensor of shape (K, n_constants)
        Folded cell hyperparameters (:func:`nwmodel.models._bptt.cell_constants`), not trained.
    """

    def __init__(self, cell: str, W_h: Any, W_x: Any, b: Any, W_out: Any, b_out: Any, constants: Any):
        super().__init__()
        self.cell = cell
        for name, value in zip(_PARAMS, (W_h, W_x, b, W_out, b_out), strict=True):
            setattr(self, name, torch.nn.Parameter(value.detach().clone()))
        self.register_buffer("constants", constants.detach().clone())

    @property
    def n_models(self) -> int:
        """Number of models K in the stack."""
        return int(self.W_h.shape[0])

    def forward(self, U: torch.Tensor, workspace: Workspace | None = None) -> torch.Tensor:
        """Outputs (K, n_cases, n_outputs) of every model for inputs (n_steps, K, n_cases, n_channels).

        ``workspace``: memory reused across calls (:class:`nwmodel.models._bptt.Workspace`).
        """
        n_cases = U.shape[2]
        pad = -n_cases % _case_multiple(self.W_h.shape[1])
        if pad:  # zero cases up to whole SIMD blocks per model (see _case_multiple); not returned
            U = torch.cat([U, U.new_zeros((U.shape[0], U.shape[1], pad, U.shape[3]))], dim=2)
        h = run_stack(self.cell, U, self.W_x, self.b, self.W_h, self.constants, workspace)[:, :n_cases]
        # one product per model: batched products of a thin output layer (n_outputs = 1) take
        # other kernels for other stack sizes, and would round differently
        return torch.stack([torch.addmm(self.b_out[k], h[k], self.W_out[k].T) for k in range(h.shape[0])])

    def select(self, index: Sequence[int]) -> StackedRecurrentNet:
        """A new stack with the models ``index`` (copies of their weights)."""
        idx = torch.as_tensor(list(index), dtype=torch.long, device=self.W_h.device)
        return StackedRecurrentNet(self.cell, *(getattr(self, n)[idx] for n in _PARAMS), self.constants[idx])


@dataclass
class ModelSpec:
    """One model of a stack: its initial weights, hyperparameters, data split and batch order.

    Attributes
    ----------
    W_h, W_x, b, W_out, b_out : ndarray
        Initial weights (shapes as :class:`StackedRecurrentNet` without the leading K).
    constants : ndarray of shape (n_constants,)
        Folded cell hyperparameters.
    idx_fit, idx_val : ndarray of int
        Rows of the training data used for the gradient steps and for early stopping.
    batch_seed : int
        Seed of the torch generator that draws the mini-batch order of every epoch.
    """

    W_h: np.ndarray
    W_x: np.ndarray
    b: np.ndarray
    W_out: np.ndarray
    b_out: np.ndarray
    constants: np.ndarray
    idx_fit: np.ndarray
    idx_val: np.ndarray
    batch_seed: int


@dataclass
class TrainedModel:
    """Outcome of one model of :func:`train_stack`.

    Attributes
    ----------
    module : StackedRecurrentNet or None
        A stack of one model holding the weights of the best validation epoch (None if it failed).
    loss_curve, val_loss_curve : list of float
        Training loss (mean over the fitting part) and validation loss per epoch.
    best_epoch : int
        Epoch (0-based) whose weights were kept.
    error : str
        Why training failed (non-finite loss), or "".
    """

    module: StackedRecurrentNet | None
    loss_curve: list[float] = field(default_factory=list)
    val_loss_curve: list[float] = field(default_factory=list)
    best_epoch: int = 0
    error: str = ""


def _losses(task: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-model loss, shape (K,): cross-entropy, or RMSE of the first output.

    Each model's mean is its own reduction, so its loss does not depend on the stack size.
    """
    K = target.shape[0]
    if task == "classification":
        # one call per model: vectorised kernels round the last elements of a tensor (its
        # remainder after whole SIMD blocks) differently, so one call over the whole stack would
        # round a model's softmax by where it sits in the stack
        return torch.stack([torch.nn.functional.cross_entropy(out[k], target[k]) for k in range(K)])
    return torch.stack([torch.sqrt(((out[k, :, 0] - target[k]) ** 2).mean()) for k in range(K)])


def _compact(
    net: StackedRecurrentNet, opt: torch.optim.Adam, keep: list[int], lr: float
) -> tuple[StackedRecurrentNet, torch.optim.Adam]:
    """Drop the models not in ``keep`` from ``net`` and from the Adam moments of ``opt``."""
    new = net.select(keep)
    new_opt = torch.optim.Adam(new.parameters(), lr=lr)
    idx = torch.as_tensor(keep, dtype=torch.long, device=net.W_h.device)
    for name in _PARAMS:
        old_state = opt.state.get(getattr(net, name))
        if old_state:
            new_opt.state[getattr(new, name)] = {
                k: (v.clone() if k == "step" else v[idx].clone()) for k, v in old_state.items()
            }
    return new, new_opt


def train_stack(
    cell: str,
    task: str,
    X: np.ndarray,
    targets: np.ndarray,
    specs: Sequence[ModelSpec],
    *,
    learning_rate: float,
    batch_size: int,
    max_epochs: int,
    patience: int,
    dtype: torch.dtype,
    device: torch.device,
    workspace: bool = True,
) -> list[TrainedModel]:
    """Train the models ``specs`` together (see the module docstring).

    Parameters
    ----------
    cell : {"nw", "esn"}
    task : {"classification", "regression"}
    X : ndarray of shape (n_cases, n_channels, n_timepoints)
        Training series.
    targets : ndarray of shape (n_cases,)
        Class indices (classification) or standardised targets (regression).
    specs : sequence of ModelSpec
        The models; every ``idx_fit`` and every ``idx_val`` must have the same length.
    learning_rate, batch_size, max_epochs, patience
        Adam step size, mini-batch size, epoch limit and early-stopping patience (epochs).
    dtype, device
        Torch precision and device.
    workspace : bool
        Reuse the large temporaries of every mini-batch (:class:`nwmodel.models._bptt.Workspace`; the
        same numbers, bit for bit, without a page fault per fresh page). False allocates them
        per mini-batch.

    Returns
    -------
    list of TrainedModel
        One per spec, in order.
    """
    U = torch.as_tensor(np.transpose(X, (2, 0, 1)).copy(), dtype=dtype, device=device)
    T = torch.as_tensor(targets, dtype=torch.long if task == "classification" else dtype, device=device)
    stack = lambda name: torch.as_tensor(  # noqa: E731
        np.stack([getattr(s, name) for s in specs]), dtype=dtype, device=device
    )
    net = StackedRecurrentNet(cell, *(stack(n) for n in _PARAMS), stack("constants"))
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    fit_idx = torch.as_tensor(np.stack([s.idx_fit for s in specs]), device=device)
    val_idx = torch.as_tensor(np.stack([s.idx_val for s in specs]), device=device)
    gens = [torch.Generator().manual_seed(int(s.batch_seed)) for s in specs]
    results = [TrainedModel(module=None) for _ in specs]
    best_val = [np.inf] * len(specs)
    wait = [0] * len(specs)
    live = list(range(len(specs)))  # spec index of each stack position
    n_fit = fit_idx.shape[1]
    ws = Workspace() if workspace else None
    for epoch in range(int(max_epochs)):
        net.train()
        perms = torch.stack([fit_idx[m][torch.randperm(n_fit, generator=gens[m]).to(device)] for m in live])
        total = torch.zeros(len(live), dtype=torch.float64)
        for start in range(0, n_fit, int(batch_size)):
            rows = perms[:, start : start + int(batch_size)]
            opt.zero_grad()
            losses = _losses(task, net(U[:, rows], ws), T[rows])
            losses.sum().backward()
            opt.step()
            total += losses.detach().double().cpu() * rows.shape[1]
        net.eval()
        with torch.no_grad():
            vrows = val_idx[live]
            val = _losses(task, net(U[:, vrows], ws), T[vrows]).double().cpu().numpy()
        train = (total / n_fit).numpy()
        stop: list[int] = []
        for pos, m in enumerate(live):
            res = results[m]
            res.loss_curve.append(float(train[pos]))
            res.val_loss_curve.append(float(val[pos]))
            if not (np.isfinite(train[pos]) and np.isfinite(val[pos])):
                res.error = f"training loss became non-finite at epoch {epoch}"
                res.module = None
                stop.append(pos)
                continue
            if val[pos] < best_val[m]:
                best_val[m], res.best_epoch, wait[m] = float(val[pos]), epoch, 0
                res.module = net.select([pos])
            else:
                wait[m] += 1
                if wait[m] >= int(patience):
                    stop.append(pos)
        if stop:
            keep = [pos for pos in range(len(live)) if pos not in stop]
            live = [live[pos] for pos in keep]
            if not live:
                break
            net, opt = _compact(net, opt, keep, learning_rate)
    for res in results:
        if res.module is not None:
            res.module.eval()
            for p in res.module.parameters():
                p.requires_grad_(False)
    return results
