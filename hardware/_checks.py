"""The argument checks of :mod:`nwphys.validation` bound to
:class:`~hardware.errors.HardwareValidationError` (same semantics and messages, hardware's
exception family)."""

from __future__ import annotations

import functools

from nwphys import validation as _v

from .errors import HardwareValidationError

__all__ = ["check_choice", "check_finite_array", "check_int", "check_real", "make_rng"]

check_real = functools.partial(_v.check_real, error=HardwareValidationError)
check_int = functools.partial(_v.check_int, error=HardwareValidationError)
check_choice = functools.partial(_v.check_choice, error=HardwareValidationError)
check_finite_array = functools.partial(_v.check_finite_array, error=HardwareValidationError)
make_rng = functools.partial(_v.make_rng, error=HardwareValidationError)
