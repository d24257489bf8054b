"""One definition of the NW-ESN and ESN cells, run by a numpy kernel and a torch kernel.

The cell arithmetic (:func:`nw_cell`, :func:`esn_cell`) is written once against a tiny
operations namespace (``exp``, ``tanh``, ``sigmoid``); the torch kernel (and :mod:`nwmodel.models.rnn`) run
it as is. The numpy kernel runs the same formulas fused and in place for throughput (one BLAS
product per step for ``W_h h + W_x x + b``, constants folded into the weights and the exponents, the
sigmoid from one ``exp``, no temporaries); the tests compare both kernels to ``rtol=1e-10`` in
float64 and the numpy kernel to a hand-computed step. All series of a batch advance together.

Nanowire cell (Eqs. 7-10 of the paper)::

    z = RESCALE(W_h h + W_x x + b),   RESCALE(a) = 0.35 + 0.8 * sigmoid(s * a)
    q = (Kp(z) + Kd(z)) * h,  r = Kp(z) - q,  h <- dt * r + gamma * h,  h0 = 0
    Kp(z) = Kp0 exp(eta_p z),  Kd(z) = Kd0 exp(-eta_d z)

Leaky ESN cell::

    h <- (1 - alpha) h + alpha tanh(W_h h + W_x x + b)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import scipy.special

from nwmodel._checks import check_choice, check_int, check_real, make_rng
from nwmodel.errors import ModelError, ModelValidationError
from nwphys.junctions import ETA_D_PER_V, ETA_P_PER_V, KD0_PER_S, KP0_PER_S

__all__ = [
    "RESCALE_OFFSET",
    "RESCALE_SPAN",
    "ESNCellParams",
    "NWCellParams",
    "ReservoirWeights",
    "esn_cell",
    "init_weights",
    "nw_cell",
    "rescale",
    "run_reservoir",
    "spectral_radius",
]

#: RESCALE maps the affine pre-activation into (RESCALE_OFFSET, RESCALE_OFFSET + RESCALE_SPAN) V.
RESCALE_OFFSET = 0.35
RESCALE_SPAN = 0.8

NUMPY_OPS = SimpleNamespace(exp=np.exp, tanh=np.tanh, sigmoid=scipy.special.expit)


def torch_ops() -> SimpleNamespace:
    """The operations namespace of the torch kernel (imports torch lazily)."""
    import torch

    return SimpleNamespace(exp=torch.exp, tanh=torch.tanh, sigmoid=torch.sigmoid)


@dataclass(frozen=True)
class NWCellParams:
    """Hyperparameters of the nanowire cell (defaults for ``kp0, kd0, eta_p, eta_d``: the NW-ESN
    kinetics :data:`nwphys.junctions.KP0_PER_S` ... :data:`~nwphys.junctions.ETA_D_PER_V`).

    Attributes
    ----------
    gamma : float
        Retention factor of the state, in [0, 1].
    slope : float
        Slope ``s`` of the RESCALE sigmoid, > 0.
    dt : float
        Discretisation time step ``Delta_t`` (dimensionless), > 0.
    kp0, kd0 : float
        Potentiation and depression rate prefactors, > 0.
    eta_p, eta_d : float
        Potentiation and depression transition rates (1/V), > 0.
    """

    gamma: float = 0.95
    slope: float = 1.0
    dt: float = 0.1
    kp0: float = KP0_PER_S
    kd0: float = KD0_PER_S
    eta_p: float = ETA_P_PER_V
    eta_d: float = ETA_D_PER_V

    def __post_init__(self) -> None:
        check_real("gamma", self.gamma, low=0.0, high=1.0)
        check_real("slope", self.slope, low=0.0, low_open=True)
        check_real("dt", self.dt, low=0.0, low_open=True)
        for name in ("kp0", "kd0", "eta_p", "eta_d"):
            check_real(name, getattr(self, name), low=0.0, low_open=True)


@dataclass(frozen=True)
class ESNCellParams:
    """Hyperparameters of the leaky tanh cell.

    Attributes
    ----------
    leak_rate : float
        Leaking rate ``alpha`` in (0, 1]; 1 gives the plain (non-leaky) tanh RNN cell.
    """

    leak_rate: float = 0.3

    def __post_init__(self) -> None:
        check_real("leak_rate", self.leak_rate, low=0.0, high=1.0, low_open=True)


def rescale(ops: Any, a: Any, slope: float) -> Any:
    """RESCALE(a) = 0.35 + 0.8 sigmoid(slope * a), the map into the (0.35, 1.15) V window."""
    return RESCALE_OFFSET + RESCALE_SPAN * ops.sigmoid(slope * a)


def nw_cell(ops: Any, h: Any, pre: Any, p: NWCellParams) -> Any:
    """One nanowire-cell step from the state ``h`` and the affine pre-activation ``pre``.

    Parameters
    ----------
    ops : namespace
        ``exp``, ``tanh``, ``sigmoid`` of the array library (numpy or torch).
    h : array of shape (n_cases, n_units)
        State h(t).
    pre : array of shape (n_cases, n_units)
        ``W_h h(t) + W_x x(t+1) + b``.
    p : NWCellParams
        Cell hyperparameters.

    Returns
    -------
    array of shape (n_cases, n_units)
        State h(t+1) = dt * (Kp(z) - (Kp(z) + Kd(z)) h) + gamma h with z = RESCALE(pre).
    """
    # z = 0.35 + 0.8 sig with sig = sigmoid(s pre); Kp = kp0 exp(eta_p z) = exp(a_p sig + c_p) and
    # Kd = kd0 exp(-eta_d z) = exp(a_d sig + c_d): the same numbers with fewer array passes.
    sig = ops.sigmoid(p.slope * pre)
    kp = ops.exp(p.eta_p * RESCALE_SPAN * sig + (p.eta_p * RESCALE_OFFSET + math.log(p.kp0)))
    kd = ops.exp(-p.eta_d * RESCALE_SPAN * sig + (math.log(p.kd0) - p.eta_d * RESCALE_OFFSET))
    # h + dt (r) with r = Kp - q, q = (Kp + Kd) h, and the retention gamma (Eqs. 8-10)
    return (p.gamma - p.dt * (kp + kd)) * h + p.dt * kp


def esn_cell(ops: Any, h: Any, pre: Any, p: ESNCellParams) -> Any:
    """One leaky-ESN step: ``(1 - alpha) h + alpha tanh(pre)`` (shapes as :func:`nw_cell`)."""
    return (1.0 - p.leak_rate) * h + p.leak_rate * ops.tanh(pre)


@dataclass(frozen=True)
class ReservoirWeights:
    """Weights of a reservoir.

    Attributes
    ----------
    W_h : ndarray of shape (n_units, n_units)
        Recurrent kernel.
    W_x : ndarray of shape (n_units, n_inputs)
        Input kernel.
    b : ndarray of shape (n_units,)
        Bias.
    """

    W_h: np.ndarray
    W_x: np.ndarray
    b: np.ndarray

    @property
    def n_units(self) -> int:
        return int(self.W_h.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.W_x.shape[1])


def spectral_radius(W: np.ndarray) -> float:
    """Largest absolute eigenvalue of the square matrix ``W``."""
    return float(np.max(np.abs(np.linalg.eigvals(W)))) if W.size else 0.0


def init_weights(
    n_units: int,
    n_inputs: int,
    *,
    spectral_radius_target: float = 0.9,
    input_scaling: float = 1.0,
    bias_scaling: float = 0.1,
    exact_spectral_radius: bool = False,
    seed: int | np.random.Generator | None = None,
) -> ReservoirWeights:
    """Draw reservoir weights as published.

    ``W_h`` is dense uniform with standard deviation ``rho / sqrt(N)`` (uniform on
    ``+-sqrt(3) rho / sqrt(N)``), so its spectral radius is close to ``rho`` (circular law); with
    ``exact_spectral_radius`` it is rescaled to exactly ``rho``. ``W_x`` is uniform in
    ``+-input_scaling``, ``b`` uniform in ``+-bias_scaling``. Each draws from its own child stream
    of ``seed``.

    Parameters
    ----------
    n_units, n_inputs : int
        Reservoir size N >= 1 and number of input channels >= 1.
    spectral_radius_target : float
        rho >= 0.
    input_scaling, bias_scaling : float
        omega >= 0 and beta >= 0.
    exact_spectral_radius : bool
        Rescale ``W_h`` to the exact spectral radius ``rho``.
    seed : int, Generator or None
        Source of randomness.

    Returns
    -------
    ReservoirWeights
    """
    n = check_int("n_units", n_units, low=1)
    c = check_int("n_inputs", n_inputs, low=1)
    rho = check_real("spectral_radius", spectral_radius_target, low=0.0)
    omega = check_real("input_scaling", input_scaling, low=0.0)
    beta = check_real("bias_scaling", bias_scaling, low=0.0)
    rng_h, rng_x, rng_b = make_rng(seed).spawn(3)
    half_width = np.sqrt(3.0) * rho / np.sqrt(n)
    W_h = rng_h.uniform(-half_width, half_width, size=(n, n))
    if exact_spectral_radius and rho > 0.0:
        current = spectral_radius(W_h)
        if current == 0.0:  # pragma: no cover - measure-zero event
            raise ModelError("cannot rescale a recurrent kernel whose spectral radius is 0")
        W_h *= rho / current
    W_x = rng_x.uniform(-omega, omega, size=(n, c))
    b = rng_b.uniform(-beta, beta, size=n)
    return ReservoirWeights(W_h=W_h, W_x=W_x, b=b)


Cell = Literal["nw", "esn"]


def _cell_fn(cell: str) -> Any:
    return {"nw": nw_cell, "esn": esn_cell}[cell]


def run_reservoir(
    X: np.ndarray,
    weights: ReservoirWeights,
    cell: Cell,
    params: NWCellParams | ESNCellParams,
    *,
    backend: Literal["numpy", "torch"] = "numpy",
    dtype: Literal["float64", "float32"] = "float64",
    device: str = "cpu",
    return_sequences: bool = False,
) -> np.ndarray:
    """Drive a reservoir with every series of ``X`` at once, from ``h0 = 0``.

    Parameters
    ----------
    X : ndarray of shape (n_cases, n_channels, n_timepoints)
        Input series in aeon layout; ``n_channels`` must equal ``weights.n_inputs``.
    weights : ReservoirWeights
        Reservoir weights.
    cell : {"nw", "esn"}
        Nanowire cell or leaky tanh cell.
    params : NWCellParams or ESNCellParams
        Cell hyperparameters matching ``cell``.
    backend : {"numpy", "torch"}
        Kernel to run.
    dtype : {"float64", "float32"}
        Arithmetic precision.
    device : str
        Torch device ("cpu", "cuda", "cuda:1", ...); numpy runs on the CPU only.
    return_sequences : bool
        Return every state instead of the last one.

    Returns
    -------
    ndarray of shape (n_cases, n_units) or (n_cases, n_timepoints, n_units)
        Last states (or all states), as numpy arrays of ``dtype``.

    Raises
    ------
    ModelError
        If the states become non-finite.
    """
    check_choice("cell", cell, ("nw", "esn"))
    check_choice("backend", backend, ("numpy", "torch"))
    check_choice("dtype", dtype, ("float64", "float32"))
    expected = NWCellParams if cell == "nw" else ESNCellParams
    if not isinstance(params, expected):
        raise ModelValidationError(f"params must be a {expected.__name__} for cell {cell!r}, got {params!r}")
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] != weights.n_inputs or X.shape[2] < 1:
        raise ModelValidationError(
            f"X must have shape (n_cases, {weights.n_inputs}, n_timepoints>=1), got {X.shape}"
        )
    if backend == "numpy" and device != "cpu":
        raise ModelValidationError(f"device must be 'cpu' for the numpy backend, got {device!r}")
    if backend == "numpy":
        # time-major, case-minor contiguous copy: (n_timepoints, n_channels, n_cases)
        U = np.ascontiguousarray(np.transpose(X, (2, 1, 0)), dtype=dtype)
        out = _run_numpy(U, weights, cell, params, np.dtype(dtype), return_sequences)
    else:
        # time-major contiguous copy: (n_timepoints, n_cases, n_channels)
        U = np.ascontiguousarray(np.transpose(X, (2, 0, 1)), dtype=dtype)
        out = _run_torch(U, weights, _cell_fn(cell), params, dtype, device, return_sequences)
    if not np.all(np.isfinite(out)):
        raise ModelError(f"reservoir states became non-finite ({cell} cell, params {params})")
    return out


def _run_numpy(
    U: np.ndarray, w: ReservoirWeights, cell: str, params: Any, dtype: np.dtype, seq: bool
) -> np.ndarray:
    """The fused numpy kernel on ``U`` of shape (n_timepoints, n_channels, n_cases).

    Unit-major: the states are held transposed, ``(n_units, n_cases)``.

    One BLAS product per step computes the whole affine pre-activation: the stacked operand
    ``A = [h^T; x(t+1)^T; 1]`` of shape ``(N + C + 1, n_cases)`` is multiplied by ``[W_h | W_x | b]``,
    so the input term and the bias come for free and ``h^T = A[:N]`` is a contiguous block updated in
    place. The cell arithmetic runs in place on preallocated buffers (no temporaries); it is the
    formula of :func:`nw_cell` / :func:`esn_cell` with the constants folded (see
    :func:`_nw_cell_inplace`).
    """
    n_steps, n_in, n_cases = U.shape
    n = w.n_units
    W_aug = np.concatenate([w.W_h, w.W_x, w.b[:, None]], axis=1)  # (N, N + C + 1), float64
    if cell == "nw":
        W_aug = -params.slope * W_aug  # the matmul yields -s * pre, the argument of exp in sigmoid
        cell_step = functools.partial(_nw_cell_inplace, consts=_nw_constants(params))
    else:
        cell_step = functools.partial(_esn_cell_inplace, alpha=params.leak_rate)
    W_aug = np.ascontiguousarray(W_aug, dtype=dtype)
    A = np.empty((n + n_in + 1, n_cases), dtype=dtype)
    A[:n] = 0.0
    A[n + n_in] = 1.0
    hT = A[:n]  # a view: the state lives inside the matmul operand
    P = np.empty((n, n_cases), dtype=dtype)
    K = np.empty((n, n_cases), dtype=dtype)
    states = np.empty((n_cases, n_steps, n), dtype=dtype) if seq else None
    with np.errstate(over="raise", invalid="raise"):
        try:
            for t in range(n_steps):
                A[n : n + n_in] = U[t]
                np.matmul(W_aug, A, out=P)
                cell_step(hT, P, K)
                if states is not None:
                    states[:, t] = hT.T
        except FloatingPointError as exc:
            raise ModelError(f"reservoir states overflowed at step {t}: {exc}") from None
    return states if states is not None else np.ascontiguousarray(hT.T)


def _nw_constants(p: NWCellParams) -> tuple[float, float, float, float, float]:
    """Folded constants of the nanowire cell: ``(a_p, c_p, a_d, c_d, gamma)``.

    With ``sig = sigmoid(s pre)`` and ``z = 0.35 + 0.8 sig``::

        dt Kp(z) = exp(a_p sig + c_p),  a_p = 0.8 eta_p,   c_p = 0.35 eta_p + log(kp0 dt)
        dt Kd(z) = exp(a_d sig + c_d),  a_d = -0.8 eta_d,  c_d = -0.35 eta_d + log(kd0 dt)
    """
    a_p = p.eta_p * RESCALE_SPAN
    c_p = p.eta_p * RESCALE_OFFSET + math.log(p.kp0) + math.log(p.dt)
    a_d = -p.eta_d * RESCALE_SPAN
    c_d = math.log(p.kd0) - p.eta_d * RESCALE_OFFSET + math.log(p.dt)
    return a_p, c_p, a_d, c_d, p.gamma


def _nw_cell_inplace(
    h: np.ndarray, P: np.ndarray, K: np.ndarray, consts: tuple[float, float, float, float, float]
) -> None:
    """:func:`nw_cell` in place: ``P = -s pre`` on entry, ``h`` overwritten with h(t+1); ``K`` scratch.

    ``sig = 1 / (1 + exp(-s pre))`` (one exp; ``exp`` overflowing to ``inf`` gives the exact limit
    ``sig = 0``), then ``dt Kp = exp(a_p / (1 + e) + c_p)``, ``dt Kd = exp(a_d / (1 + e) + c_d)`` and
    ``h <- (gamma - dt Kp - dt Kd) h + dt Kp``: three exps and nine arithmetic passes, no allocation.
    """
    a_p, c_p, a_d, c_d, gamma = consts
    with np.errstate(over="ignore"):
        np.exp(P, out=P)
    P += 1.0  # 1 + exp(-s pre) = 1 / sig
    np.divide(a_p, P, out=K)
    np.divide(a_d, P, out=P)
    K += c_p
    np.exp(K, out=K)  # dt Kp
    P += c_d
    np.exp(P, out=P)  # dt Kd
    P += K
    np.subtract(gamma, P, out=P)
    P *= h
    np.add(P, K, out=h)


def _esn_cell_inplace(h: np.ndarray, P: np.ndarray, K: np.ndarray, alpha: float) -> None:
    """:func:`esn_cell` in place: ``P = pre`` on entry, ``h`` overwritten with h(t+1)."""
    np.tanh(P, out=P)
    P *= alpha
    h *= 1.0 - alpha
    h += P


def _run_torch(
    U: np.ndarray, w: ReservoirWeights, step: Any, params: Any, dtype: str, device: str, seq: bool
) -> np.ndarray:
    import torch

    tdtype = getattr(torch, dtype)
    ops = torch_ops()
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ModelValidationError(f"device must be a torch device string, got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelValidationError(f"device {device!r} requested but CUDA is not available")
    with torch.no_grad():
        Ut = torch.as_tensor(U, dtype=tdtype, device=dev)
        W_hT = torch.as_tensor(w.W_h.T, dtype=tdtype, device=dev).contiguous()
        W_xT = torch.as_tensor(w.W_x.T, dtype=tdtype, device=dev).contiguous()
        b = torch.as_tensor(w.b, dtype=tdtype, device=dev)
        n_steps, n_cases, _ = Ut.shape
        h = torch.zeros((n_cases, w.n_units), dtype=tdtype, device=dev)
        states = [] if seq else None
        for t in range(n_steps):
            pre = h @ W_hT + Ut[t] @ W_xT + b
            h = step(ops, h, pre, params)
            if states is not None:
                states.append(h)
        out = torch.stack(states, dim=1) if states is not None else h
        return out.cpu().numpy()
