"""Argument checks of :mod:`hardware` (one message template: parameter, allowed range, given value)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import HardwareValidationError

__all__ = ["check_choice", "check_int", "check_real", "make_rng"]


def check_real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
               low_open: bool = False) -> float:
    """Return ``value`` as a finite float in ``[low, high]`` (``(low, high]`` if ``low_open``)."""
    lo = "-inf" if low is None else repr(low)
    hi = "inf" if high is None else repr(high)
    rng = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high is None else ']'}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise HardwareValidationError(f"{name} must be a real number in {rng}, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(x):
        raise HardwareValidationError(f"{name} must be a finite real number in {rng}, got {value!r}")
    if (low is not None and (x < low or (low_open and x == low))) or (high is not None and x > high):
        raise HardwareValidationError(f"{name} must be in {rng}, got {value!r}")
    return x


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise HardwareValidationError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise HardwareValidationError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return v


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise HardwareValidationError(
            f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A :class:`numpy.random.Generator` from a non-negative int, a Generator or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        return np.random.default_rng(seed)
    raise HardwareValidationError(f"seed must be a non-negative integer or a Generator, got {seed!r}")
