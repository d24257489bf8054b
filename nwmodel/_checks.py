"""The argument checks of :mod:`nwutil.validation` bound to
:class:`~nwmodel.errors.ModelValidationError` (same semantics and messages, so that callers of
:mod:`nwmodel` catch one family)."""

from __future__ import annotations

import numpy as np

from nwmodel.errors import ModelValidationError
from nwutil import validation as _v

__all__ = ["check_choice", "check_finite_array", "check_int", "check_real", "make_rng"]

check_real, check_int, check_choice, check_finite_array, _ = _v.bound_checks(ModelValidationError)


def make_rng(
    seed: int | np.random.SeedSequence | np.random.Generator | None, name: str = "random_state"
) -> np.random.Generator:
    """:func:`nwutil.validation.make_rng` raising ModelValidationError; ``name`` defaults to
    ``"random_state"``, the estimators' parameter."""
    return _v.make_rng(seed, name, error=ModelValidationError)
