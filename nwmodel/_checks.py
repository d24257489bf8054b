"""The argument checks of :mod:`nwphys.validation` bound to
:class:`~nwmodel.errors.ModelValidationError` (same semantics and messages, so that callers of
:mod:`nwmodel` catch one family)."""

from __future__ import annotations

import functools

import numpy as np

from nwphys import validation as _v

from .errors import ModelValidationError

__all__ = ["check_choice", "check_finite_array", "check_int", "check_real", "make_rng"]

check_real = functools.partial(_v.check_real, error=ModelValidationError)
check_int = functools.partial(_v.check_int, error=ModelValidationError)
check_choice = functools.partial(_v.check_choice, error=ModelValidationError)
check_finite_array = functools.partial(_v.check_finite_array, error=ModelValidationError)


def make_rng(
    seed: int | np.random.SeedSequence | np.random.Generator | None, name: str = "random_state"
) -> np.random.Generator:
    """:func:`nwphys.validation.make_rng` raising ModelValidationError; ``name`` defaults to
    ``"random_state"``, the estimators' parameter."""
    return _v.make_rng(seed, name, error=ModelValidationError)
