"""Argument checks of :mod:`nwmodel`: :mod:`nwphys._validation` re-raised as model errors.

The message templates (parameter name, allowed range, given value) are those of
:mod:`nwphys._validation`; only the exception type changes to
:class:`~nwmodel.errors.ModelValidationError` so that callers of :mod:`nwmodel` catch one family.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from nwphys import _validation as _v
from nwphys.errors import ValidationError

from .errors import ModelValidationError

__all__ = ["check_choice", "check_int", "check_real", "make_rng"]

F = TypeVar("F", bound=Callable[..., Any])


def _reraise(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            raise ModelValidationError(str(exc)) from None

    return wrapper  # type: ignore[return-value]


check_real = _reraise(_v.check_real)
check_int = _reraise(_v.check_int)
check_choice = _reraise(_v.check_choice)
_make_rng = _reraise(_v.make_rng)


def make_rng(seed: int | np.random.Generator | None, name: str = "random_state") -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from ``seed`` (int, Generator or None)."""
    try:
        return _make_rng(seed)
    except ModelValidationError as exc:
        raise ModelValidationError(str(exc).replace("seed", name, 1)) from None
