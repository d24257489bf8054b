"""Argument checks of the whole project: one implementation, parametrised by the exception class.

Every check returns the value converted to its canonical type, or raises ``error`` (by default
:class:`~nwutil.errors.ArgumentError`) with one message template that names the parameter, the
allowed range and the value that was given, for example ``n_units must be an integer in [1, inf),
got 0`` or ``dt_s must be in (0.0, inf), got -1.0``. An unbounded side is written ``-inf``/``inf``.

Semantics shared by every package:

* :func:`check_real` accepts real numbers (Python, numpy) and rejects ``bool``, NaN and inf;
* :func:`check_int` accepts integers and integral floats (``3.0`` -> ``3``) and rejects ``bool``,
  non-integral floats, NaN and inf;
* :func:`make_rng` accepts ``None``, a non-negative integer, a :class:`numpy.random.SeedSequence`
  or a :class:`numpy.random.Generator` (returned as is); it never touches global random state.

Every package binds these checks to its own exception class in its private ``_checks`` module, so
that each raises its own family (:class:`~nwphys.errors.ValidationError`,
:class:`~hardware.errors.HardwareValidationError`, :class:`~nwmodel.errors.ModelValidationError`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np

from nwutil.errors import ArgumentError

__all__ = [
    "Checks",
    "bound_checks",
    "check_choice",
    "check_finite_array",
    "check_int",
    "check_real",
    "format_range",
    "make_rng",
]

ErrorClass = type[Exception]


def format_range(
    low: float | None, high: float | None, *, low_open: bool = False, high_open: bool = False
) -> str:
    """The interval as it appears in messages: ``[1, inf)``, ``(0.0, 1.0]``, ``(-inf, 5]``.

    Parameters
    ----------
    low, high : float or None
        Bounds; None is unbounded (written ``-inf``/``inf`` with an open bracket).
    low_open, high_open : bool
        Whether the bound itself is excluded.
    """
    lo = "-inf" if low is None else repr(low)
    hi = "inf" if high is None else repr(high)
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    return f"{left}{lo}, {hi}{right}"


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    error: ErrorClass = ArgumentError,
) -> float:
    """Return ``value`` as a finite float inside the given interval, or raise ``error``.

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
    error : type of Exception
        The exception class to raise (the calling package's validation error).

    Returns
    -------
    float
        ``value`` as a float.
    """
    rng = format_range(low, high, low_open=low_open, high_open=high_open)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise error(f"{name} must be a real number in {rng}, got {value!r}") from None
    if isinstance(value, (bool, np.bool_)) or not math.isfinite(x):
        raise error(f"{name} must be a finite real number in {rng}, got {value!r}")
    if low is not None and (x < low or (low_open and x == low)):
        raise error(f"{name} must be in {rng}, got {value!r}")
    if high is not None and (x > high or (high_open and x == high)):
        raise error(f"{name} must be in {rng}, got {value!r}")
    return x


def check_int(
    name: str,
    value: Any,
    *,
    low: int | None = None,
    high: int | None = None,
    error: ErrorClass = ArgumentError,
) -> int:
    """Return ``value`` as an int inside ``[low, high]``, or raise ``error``.

    Integral floats (``3.0``) are accepted and converted; ``bool``, non-integral floats, NaN and
    inf are rejected.

    Parameters
    ----------
    name, value, error
        As in :func:`check_real`.
    low, high : int or None
        Inclusive bounds (None = unbounded).

    Returns
    -------
    int
        ``value`` as an int.
    """
    rng = format_range(low, high)
    integral = isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    )
    if isinstance(value, (bool, np.bool_)) or not integral:
        raise error(f"{name} must be an integer in {rng}, got {value!r}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise error(f"{name} must be an integer in {rng}, got {value!r}")
    return v


def check_choice(
    name: str, value: Any, choices: Iterable[Any], *, error: ErrorClass = ArgumentError
) -> Any:
    """Return ``value`` if it is one of ``choices``, or raise ``error`` naming the allowed values.

    Parameters
    ----------
    name, value, error
        As in :func:`check_real`.
    choices : iterable
        The allowed values, in the order the message lists them.
    """
    choices = list(choices)
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise error(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_finite_array(
    name: str,
    value: Any,
    *,
    ndim: int | None = None,
    dtype: Any = float,
    error: ErrorClass = ArgumentError,
) -> np.ndarray:
    """Return ``value`` as an array of ``dtype``; raise ``error`` on NaN/inf or the wrong rank.

    Parameters
    ----------
    name, value, error
        As in :func:`check_real` (``value`` array_like).
    ndim : int or None
        Required number of dimensions (None = any).
    dtype : numpy dtype
        Target dtype; the finiteness check applies to float and complex dtypes.
    """
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise error(f"{name} must be an array of {np.dtype(dtype).name}, got {value!r}") from None
    if ndim is not None and arr.ndim != ndim:
        raise error(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise error(
            f"{name} must be finite, got {arr[tuple(bad)].item()!r} at index {tuple(int(i) for i in bad)}"
        )
    return arr


def make_rng(
    seed: int | np.random.SeedSequence | np.random.Generator | None,
    name: str = "seed",
    *,
    error: ErrorClass = ArgumentError,
) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from a seed, a seed sequence, a generator or None.

    The one randomness rule of the project: never touch global random state. A Generator is
    returned as is (the caller's stream continues).

    Parameters
    ----------
    seed : int >= 0, SeedSequence, Generator or None
        The seed.
    name, error
        As in :func:`check_real` (``name`` e.g. ``"seed"``, ``"random_state"``).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    is_int = isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_))
    if seed is None or isinstance(seed, np.random.SeedSequence) or (is_int and seed >= 0):
        return np.random.default_rng(seed)
    raise error(f"{name} must be a non-negative integer, a SeedSequence or a Generator, got {seed!r}")


class Checks(NamedTuple):
    """The checks of this module bound to one exception class (see :func:`bound_checks`)."""

    check_real: Callable[..., float]
    check_int: Callable[..., int]
    check_choice: Callable[..., Any]
    check_finite_array: Callable[..., np.ndarray]
    make_rng: Callable[..., np.random.Generator]


def bound_checks(error: ErrorClass) -> Checks:
    """Every check of this module, raising ``error`` (same semantics and messages).

    A package binds them once, in its private ``_checks`` module::

        check_real, check_int, check_choice, check_finite_array, make_rng = bound_checks(MyError)
    """
    checks = (check_real, check_int, check_choice, check_finite_array, make_rng)
    return Checks(*(functools.partial(f, error=error) for f in checks))
