"""Series generators of :mod:`nwmodel.data.datasets` (synthetic control charts, NARMA-10,
Mackey-Glass, memory capacity); arrays in, arrays out."""

from __future__ import annotations

import numpy as np

from nwmodel._checks import check_int, check_real, make_rng
from nwmodel.errors import DatasetError

__all__ = [
    "make_mackey_glass",
    "make_memory_capacity",
    "make_narma10",
    "make_synthetic_control",
    "narma10_series",
]


def _znorm(X: np.ndarray) -> np.ndarray:
    mu = X.mean(axis=-1, keepdims=True)
    sd = X.std(axis=-1, keepdims=True)
    return (X - mu) / sd


def make_synthetic_control(
    n_per_class: int = 50, length: int = 60, *, seed: int | np.random.Generator | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic Control Chart series (Alcock & Manolopoulos 1999; Pham & Chan 1998), z-normalised.

    Six classes, ``m = 30``, ``r ~ U(-3, 3)`` noise, t = 1..length:
    1 normal ``m + r s`` (s = 2); 2 cyclic ``+ a sin(2 pi t / T)`` (a, T ~ U(10, 15)); 3 increasing
    trend ``+ g t`` (g ~ U(0.2, 0.5)); 4 decreasing trend ``- g t``; 5 upward shift ``+ k x`` (x ~ U(7.5,
    20), ``k = 0`` before a switch time ~ U(length/3, 2 length/3), 1 after); 6 downward shift.
    Each series is z-normalised as in the UCR archive.

    Returns
    -------
    X : ndarray of shape (6 * n_per_class, 1, length)
    y : ndarray of shape (6 * n_per_class,), labels 1..6 (int)
    """
    n = check_int("n_per_class", n_per_class, low=1)
    L = check_int("length", length, low=3)
    rng = make_rng(seed, "seed")
    t = np.arange(1, L + 1, dtype=float)
    m, s = 30.0, 2.0
    X = np.empty((6 * n, L))
    y = np.repeat(np.arange(1, 7), n)
    for i, label in enumerate(y):
        base = m + rng.uniform(-3.0, 3.0, size=L) * s
        if label == 2:
            a, period = rng.uniform(10.0, 15.0, size=2)
            base += a * np.sin(2 * np.pi * t / period)
        elif label in (3, 4):
            g = rng.uniform(0.2, 0.5)
            base += (g if label == 3 else -g) * t
        elif label in (5, 6):
            x = rng.uniform(7.5, 20.0)
            t3 = rng.uniform(L / 3.0, 2.0 * L / 3.0)
            base += (x if label == 5 else -x) * (t >= t3)
        X[i] = base
    return _znorm(X)[:, None, :], y


def narma10_series(u: np.ndarray) -> np.ndarray:
    """The NARMA-10 output for input ``u`` (shape (n_steps,)), with ``y = 0`` for the first 10 steps.

    ``y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i=0}^{9} y(t-i) + 1.5 u(t-9) u(t) + 0.1``.
    """
    u = np.asarray(u, dtype=float)
    y = np.zeros_like(u)
    for t in range(9, len(u) - 1):
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * np.sum(y[t - 9 : t + 1]) + 1.5 * u[t - 9] * u[t] + 0.1
    return y


def _windows(series: np.ndarray, window: int, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cases = consecutive windows ``series[i : i + window]``; target = ``targets[i + window - 1]``."""
    idx = np.arange(window)[None, :] + np.arange(len(series) - window + 1)[:, None]
    return series[idx][:, None, :], targets[window - 1 :]


def make_narma10(
    n_steps: int = 2000, window: int = 50, *, seed: int | np.random.Generator | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """NARMA-10 as windowed regression: input ``u ~ U(0, 0.5)``; window ending at ``t`` -> ``y(t+1)``.

    Returns
    -------
    X : ndarray of shape (n_steps - window - 199, 1, window)
        Windows after a 200-step washout of the recurrence.
    y : ndarray of shape (n_steps - window - 199,)
    """
    n = check_int("n_steps", n_steps, low=300)
    w = check_int("window", window, low=1, high=n - 201)
    u = make_rng(seed, "seed").uniform(0.0, 0.5, size=n + 1)
    y = narma10_series(u)
    X, tgt = _windows(u[200:n], w, y[201 : n + 1])
    return X, tgt


def make_mackey_glass(
    n_steps: int = 2000,
    window: int = 50,
    horizon: int = 1,
    *,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    power: float = 10.0,
    dt: float = 0.1,
    seed: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Mackey-Glass series ``dx/dt = beta x(t-tau) / (1 + x(t-tau)^power) - gamma x`` sampled at t=1,2,...

    Integrated by RK4 with step ``dt`` (delayed term held at the grid value), constant history
    ``x = 1.2 + U(-0.1, 0.1)`` drawn from ``seed``, 500 samples of washout. Windowed as
    :func:`make_narma10`: the window ending at sample ``t`` predicts sample ``t + horizon``.

    Returns
    -------
    X : ndarray of shape (n_steps - window - horizon + 1, 1, window)
    y : ndarray of shape (n_steps - window - horizon + 1,)
    """
    n = check_int("n_steps", n_steps, low=10)
    w = check_int("window", window, low=1, high=n - 1)
    hz = check_int("horizon", horizon, low=1, high=n - w)
    tau = check_real("tau", tau, low=0.0, low_open=True)
    dt = check_real("dt", dt, low=0.0, high=1.0, low_open=True)
    sub = round(1.0 / dt)
    if abs(sub * dt - 1.0) > 1e-9:
        raise DatasetError(f"dt must divide 1 exactly (1/dt integer), got {dt!r}")
    lag = round(tau / dt)
    washout = 500
    total = (n + washout) * sub
    x = np.empty(total + lag + 1)
    x[: lag + 1] = 1.2 + make_rng(seed, "seed").uniform(-0.1, 0.1)

    def f(xt: float, xd: float) -> float:
        return beta * xd / (1.0 + xd**power) - gamma * xt

    for i in range(lag, lag + total):
        xd = x[i - lag]
        xi = x[i]
        k1 = f(xi, xd)
        k2 = f(xi + 0.5 * dt * k1, xd)
        k3 = f(xi + 0.5 * dt * k2, xd)
        k4 = f(xi + dt * k3, xd)
        x[i + 1] = xi + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    samples = x[lag::sub][washout : washout + n]
    X, _ = _windows(samples[: n - hz], w, samples)
    y = samples[w - 1 + hz : n]
    return X, y


def make_memory_capacity(
    n_steps: int = 2000, window: int = 100, max_delay: int = 40, *, seed: int | np.random.Generator | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Memory-capacity task: windows of i.i.d. ``u ~ U(-0.5, 0.5)``; targets ``u(t - k)``, k = 1..max_delay.

    Returns
    -------
    X : ndarray of shape (n_steps - window + 1, 1, window)
    y : ndarray of shape (n_steps - window + 1, max_delay)
        Column ``k - 1`` holds the input ``k`` steps before the window's last sample.
    """
    n = check_int("n_steps", n_steps, low=2)
    k = check_int("max_delay", max_delay, low=1)
    w = check_int("window", window, low=k + 1, high=n)
    u = make_rng(seed, "seed").uniform(-0.5, 0.5, size=n)
    X, _ = _windows(u, w, u)
    y = np.stack([X[:, 0, w - 1 - d] for d in range(1, k + 1)], axis=1)
    return X, y
