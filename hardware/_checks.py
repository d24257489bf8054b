"""The argument checks of :mod:`nwutil.validation` bound to
:class:`~hardware.errors.HardwareValidationError` (same semantics and messages, hardware's
exception family)."""

from __future__ import annotations

from hardware.errors import HardwareValidationError
from nwutil import validation as _v

__all__ = ["check_choice", "check_finite_array", "check_int", "check_real", "make_rng"]

check_real, check_int, check_choice, check_finite_array, make_rng = _v.bound_checks(HardwareValidationError)
