"""Argument checks shared by the public functions of :mod:`nwphys`.

Each helper raises :class:`~nwphys.errors.ValidationError` with one message template that names
the parameter, the allowed range and the value that was given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import ValidationError

__all__ = [
    "check_choice",
    "check_finite_array",
    "check_int",
    "check_real",
    "make_rng",
]


def _fmt_range(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    lo = "-inf" if low is None else repr(low)
    hi = "inf" if high is None else repr(high)
    return f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float inside the given interval, or raise.

    Parameters
    ----------
    name : str
        Parameter name used in the message.
    value : Any
        The value given by the caller.
    low, high : float or None
        Interval bounds (None = unbounded).
    low_open, high_open : bool
        Whether the bound itself is excluded.
    """
    rng = _fmt_range(low, high, low_open, high_open)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a real number in {rng}, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(x):
        raise ValidationError(f"{name} must be a finite real number in {rng}, got {value!r}")
    if low is not None and (x < low or (low_open and x == low)):
        raise ValidationError(f"{name} must be in {rng}, got {value!r}")
    if high is not None and (x > high or (high_open and x == high)):
        raise ValidationError(f"{name} must be in {rng}, got {value!r}")
    return x


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int inside ``[low, high]``, or raise."""
    rng = _fmt_range(low, high, False, False)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValidationError(f"{name} must be an integer in {rng}, got {value!r}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValidationError(f"{name} must be an integer in {rng}, got {value!r}")
    return v


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, or raise naming the allowed values."""
    choices = list(choices)
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValidationError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_finite_array(
    name: str, value: Any, *, ndim: int | None = None, dtype: Any = float
) -> np.ndarray:
    """Return ``value`` as an array of ``dtype``; raise if it has NaN/inf or the wrong rank."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be an array of {np.dtype(dtype).name}, got {value!r}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValidationError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValidationError(
            f"{name} must be finite, got {arr[tuple(bad)].item()!r} at index {tuple(int(i) for i in bad)}"
        )
    return arr


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from a seed, a generator or None.

    The one randomness rule of the project: never touch global random state.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValidationError(f"seed must be a non-negative integer or a Generator, got {seed!r}")
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    raise ValidationError(f"seed must be a non-negative integer, a SeedSequence or a Generator, got {seed!r}")
