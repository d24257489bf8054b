"""Fused backpropagation through time for a stack of independent recurrent cells (torch, private).

A stack holds ``K`` independent models of the same shapes: input kernels ``W_x`` (K, N, n_inputs),
biases ``b`` (K, N), recurrent kernels ``W_h`` (K, N, N), inputs of shape (n_steps, K, n_cases,
n_inputs) and one set of cell hyperparameters per model. :func:`run_stack` returns the last state
of every model, differentiable with respect to the three weights.

Autograd through the per-step cell of :mod:`nwmodel.models.kernels` records about ten graph nodes per
step; here the forward pass records the two per-step factors that backpropagation needs,

* ``A = dh(t+1)/dh(t)`` at fixed pre-activation (diagonal) and
* ``D = dh(t+1)/dpre(t)`` (diagonal),

and the backward pass is the exact reverse recursion ``g_pre = g * D``,
``g <- g * A + g_pre W_h`` with ``dL/dW_h = sum_t g_pre(t)^T h(t)`` as one batched product at
the end (and likewise ``dL/dW_x``, ``dL/db``). Every product and reduction runs per model, so a
model's numbers do not depend on the rest of its stack. The tests compare the gradients with
autograd through the reference cells to 1e-10 (float64).

Cells (per model ``k``; ``sig = sigmoid(s * pre)``):

* ``"nw"``: ``Kp = kp0 exp(eta_p z)``, ``Kd = kd0 exp(-eta_d z)``, ``z = 0.35 + 0.8 sig``,
  ``h <- (gamma - dt (Kp + Kd)) h + dt Kp``;
* ``"esn"``: ``h <- (1 - alpha) h + alpha tanh(pre)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from nwmodel.models.kernels import RESCALE_OFFSET, RESCALE_SPAN

__all__ = ["CELL_PARAMS", "Workspace", "cell_constants", "forward_stack", "run_stack"]

#: Per-model hyperparameters of each cell, in the order :func:`cell_constants` expects them.
CELL_PARAMS: dict[str, tuple[str, ...]] = {
    "nw": ("gamma", "slope", "dt", "kp0", "kd0", "eta_p", "eta_d"),
    "esn": ("leak_rate",),
}


def cell_constants(cell: str, params: Sequence[Mapping[str, float]]) -> np.ndarray:
    """Folded per-model constants of ``cell``, shape (K, n_constants), float64.

    ``"nw"``: columns ``slope, gamma, a_p, c_p, a_d, c_d`` with ``dt Kp = exp(a_p sig + c_p)`` and
    ``dt Kd = exp(a_d sig + c_d)`` (``dt`` folded into the exponents); ``"esn"``: column ``alpha``.
    """
    rows = []
    for p in params:
        if cell == "nw":
            log_dt = math.log(p["dt"])
            rows.append(
                (
                    p["slope"],
                    p["gamma"],
                    p["eta_p"] * RESCALE_SPAN,
                    p["eta_p"] * RESCALE_OFFSET + math.log(p["kp0"]) + log_dt,
                    -p["eta_d"] * RESCALE_SPAN,
                    math.log(p["kd0"]) - p["eta_d"] * RESCALE_OFFSET + log_dt,
                )
            )
        else:
            rows.append((p["leak_rate"],))
    return np.asarray(rows, dtype=float)


class Workspace:
    """Memory reused by every mini-batch of one training run.

    Each forward and backward pass of :func:`run_stack` needs eight temporaries of shape
    (n_steps, K, n_cases, N) or the same size (inputs in two layouts, states, the two factors,
    gradients, and per-model copies of states and gradients), about 100 MB each for a stack of 8
    on Earthquakes. Fresh tensors that large are mapped from the system, and touching them costs
    a page fault per 4 KiB page (a stacked Earthquakes epoch spent 30 % of its time in the kernel
    without a workspace, 14 % with one). A workspace keeps
    one flat buffer per role and hands out its leading part, reshaped (contiguous, at the
    buffer's start, as a fresh tensor would be), so the arithmetic is the same, bit for bit.

    The buffers of one pass are overwritten by the next: a backward pass after another forward
    pass on the same workspace raises torch's ``RuntimeError`` for saved tensors modified in place
    instead of using overwritten states.
    """

    def __init__(self) -> None:
        self._flat: dict[str, Any] = {}

    def get(self, role: str, shape: tuple[int, ...], like: Any) -> Any:
        """A tensor of ``shape`` in ``like``'s dtype and device from the buffer of ``role`` (no init)."""
        n = math.prod(shape)
        flat = self._flat.get(role)
        if flat is None or flat.numel() < n or flat.dtype != like.dtype or flat.device != like.device:
            flat = torch.empty(n, dtype=like.dtype, device=like.device)
            self._flat[role] = flat
        return flat[:n].view(shape)


def _empty(ws: Workspace | None, role: str, shape: tuple[int, ...], like: Any) -> Any:
    if ws is None:
        return torch.empty(shape, dtype=like.dtype, device=like.device)
    return ws.get(role, shape, like)


def _split(C: Any) -> list[Any]:
    """Columns of the (K, n_constants) tensor ``C`` as (K, 1, 1) tensors."""
    return [C[:, j].reshape(-1, 1, 1) for j in range(C.shape[1])]


def _nw_step(h: Any, pre: Any, c: list[Any], out: Any, A: Any, D: Any) -> None:
    """One step of the nanowire cell from ``pre = s (W_h h + P)`` (overwritten), into ``out``.

    ``A``/``D`` receive dh'/dh and dh'/dpre when given (``pre`` is then the pre-activation
    already multiplied by the slope ``s``).
    """
    gamma, a_p, c_p, a_d, c_d = c
    sig = pre.sigmoid_()
    kp = torch.addcmul(c_p, sig, a_p).exp_()  # dt Kp
    kd = torch.addcmul(c_d, sig, a_d).exp_()  # dt Kd
    if A is None:
        A = torch.empty_like(h)
    torch.sub(gamma, kp.add(kd), out=A)  # gamma - dt (Kp + Kd)
    torch.addcmul(kp, A, h, out=out)
    if D is not None:
        # dh'/dsig = dt (a_p Kp (1 - h) - a_d Kd h); dsig/dpre = sig (1 - sig)
        u = kp.mul_(a_p)
        v = torch.addcmul(u, kd, a_d)
        torch.addcmul(u, v, h, value=-1.0, out=D)
        D.mul_(torch.addcmul(sig, sig, sig, value=-1.0))


def _esn_step(h: Any, pre: Any, c: list[Any], out: Any, A: Any, D: Any) -> None:
    """One leaky-ESN step from ``pre = W_h h + P`` (overwritten), into ``out`` (see :func:`_nw_step`)."""
    (alpha,) = c
    th = pre.tanh_()
    torch.addcmul((1.0 - alpha) * h, alpha, th, out=out)
    if A is not None:
        A.copy_((1.0 - alpha).expand_as(h))
        torch.mul(th, th, out=D)
        D.neg_().add_(1.0).mul_(alpha)  # alpha (1 - tanh^2)


_STEPS = {"nw": _nw_step, "esn": _esn_step}


def _prescale(cell: str, W_x: Any, b: Any, W_h: Any, C: Any) -> tuple[Any, Any, Any, list[Any]]:
    """Fold the nanowire slope into the weights (autograd-tracked, elementwise); split the constants."""
    c = _split(C)
    if cell == "nw":
        s = c[0]
        return W_x * s, b * s[:, 0], W_h * s, c[1:]
    return W_x, b, W_h, c


def _inputs(U: Any, W_x: Any, b: Any, ws: Workspace | None = None) -> Any:
    """``P[t, k] = U[t, k] W_x[k]^T + b[k]``, shape (n_steps, K, n_cases, N), one product per model."""
    n_steps, K, B, n_in = U.shape
    N = W_x.shape[1]
    Uk = U.transpose(0, 1).reshape(K, n_steps * B, n_in)
    Pk = _empty(ws, "Pk", (K, n_steps * B, N), U)
    torch.bmm(Uk, W_x.transpose(1, 2), out=Pk).add_(b[:, None, :])
    P = _empty(ws, "P", (n_steps, K, B, N), U)
    return P.copy_(Pk.view(K, n_steps, B, N).transpose(0, 1))


def forward_stack(
    cell: str, U: Any, W_x: Any, b: Any, W_h: Any, C: Any, workspace: Workspace | None = None
) -> Any:
    """Last state of every model without recording anything for backpropagation.

    Parameters
    ----------
    cell : {"nw", "esn"}
    U : tensor of shape (n_steps, K, n_cases, n_inputs)
        Inputs of every model (each model may see other cases).
    W_x : tensor of shape (K, N, n_inputs)
    b : tensor of shape (K, N)
    W_h : tensor of shape (K, N, N)
    C : tensor of shape (K, n_constants)
        :func:`cell_constants` in the dtype of ``U``.
    workspace : Workspace, optional
        Memory to reuse for the inputs (see :class:`Workspace`).

    Returns
    -------
    tensor of shape (K, n_cases, N)
    """
    step = _STEPS[cell]
    W_x, b, W_h, c = _prescale(cell, W_x, b, W_h, C)
    P = _inputs(U, W_x, b, workspace)
    W_hT = W_h.transpose(1, 2)
    h = torch.zeros(P.shape[1:], dtype=P.dtype, device=P.device)
    h_next = torch.empty_like(h)
    for t in range(P.shape[0]):
        step(h, torch.baddbmm(P[t], h, W_hT), c, h_next, None, None)
        h, h_next = h_next, h
    return h


class _StackBPTT(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, U: Any, W_x: Any, b: Any, W_h: Any, cell: str, ws: Workspace | None, *c: Any
    ) -> Any:
        step = _STEPS[cell]
        P = _inputs(U, W_x, b, ws)
        n_steps = P.shape[0]
        H = _empty(ws, "H", (n_steps + 1, *P.shape[1:]), P)
        H[0] = 0.0  # H[t] = h(t), the state entering step t
        A = _empty(ws, "A", tuple(P.shape), P)
        D = _empty(ws, "D", tuple(P.shape), P)
        W_hT = W_h.transpose(1, 2)
        for t in range(n_steps):
            step(H[t], torch.baddbmm(P[t], H[t], W_hT), list(c), H[t + 1], A[t], D[t])
        ctx.save_for_backward(U, W_h, H, A, D)
        ctx.ws = ws
        return H[n_steps].clone()

    @staticmethod
    def backward(ctx: Any, g_out: Any) -> Any:  # type: ignore[override]
        U, W_h, H, A, D = ctx.saved_tensors  # raises if a later pass reused the workspace
        ws = ctx.ws
        G = _empty(ws, "G", tuple(D.shape), D)  # dL/dpre(t)
        g = g_out.contiguous()
        for t in range(D.shape[0] - 1, -1, -1):
            torch.mul(g, D[t], out=G[t])
            g = torch.baddbmm(g * A[t], G[t], W_h)
        # every reduction runs over one model's own contiguous block, so a model's gradient
        # does not depend on the other models of the stack (bit for bit)
        K, N = W_h.shape[0], W_h.shape[1]
        n_steps, B = D.shape[0], D.shape[2]
        Gk = _empty(ws, "Gk", (K, n_steps, B, N), G).copy_(G.transpose(0, 1)).view(K, -1, N)
        Hk = _empty(ws, "Hk", (K, n_steps, B, N), H).copy_(H[:-1].transpose(0, 1)).view(K, -1, N)
        Uk = U.transpose(0, 1).reshape(K, -1, U.shape[-1])
        g_Wh = torch.bmm(Gk.transpose(1, 2), Hk)
        g_Wx = torch.stack([Gk[k].T @ Uk[k] for k in range(K)])
        g_b = Gk.sum(dim=1)
        return (None, g_Wx, g_b, g_Wh, None, None) + (None,) * (len(ctx.needs_input_grad) - 6)


def run_stack(
    cell: str, U: Any, W_x: Any, b: Any, W_h: Any, C: Any, workspace: Workspace | None = None
) -> Any:
    """Last state of every model, differentiable in ``W_x``, ``b`` and ``W_h``.

    Shapes as :func:`forward_stack`. Memory: three tensors of shape (n_steps, K, n_cases, N)
    are kept for the backward pass; with a ``workspace`` they and the other large temporaries
    reuse its buffers (see :class:`Workspace`: the backward pass must come before the next
    forward pass on it).
    """
    if not (W_x.requires_grad or b.requires_grad or W_h.requires_grad):
        return forward_stack(cell, U, W_x, b, W_h, C, workspace)
    W_x, b, W_h, c = _prescale(cell, W_x, b, W_h, C)
    return _StackBPTT.apply(U, W_x, b, W_h, cell, workspace, *c)
