"""The argument checks of :mod:`nwphys`, raising :class:`~nwphys.errors.ValidationError`.

Kept as the import path of the physics modules; the checks themselves live in the public
:mod:`nwphys.validation` (whose default exception class is already the nwphys one).
"""

from __future__ import annotations

from .validation import check_choice, check_finite_array, check_int, check_real, make_rng

__all__ = ["check_choice", "check_finite_array", "check_int", "check_real", "make_rng"]
