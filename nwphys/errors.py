"""Domain exceptions of :mod:`nwphys`.

Every error raised on purpose by the physics layer derives from :class:`NanowireError` (itself a
:class:`~nwutil.errors.NwhilError`), so a caller (the CLI, an experiment) can catch the whole
family at once and show one clear line.
Errors about bad arguments also derive from :class:`ValueError` so generic code that expects
``ValueError`` for invalid input keeps working.
"""

from __future__ import annotations

from nwutil.errors import ArgumentError, FileError, NwhilError

__all__ = [
    "BudgetError",
    "DeviceFileError",
    "IntegrationError",
    "NanowireError",
    "PercolationError",
    "SolverError",
    "ValidationError",
]


class NanowireError(NwhilError):
    """Root of every deliberate error raised by :mod:`nwphys`."""


class ValidationError(NanowireError, ArgumentError):
    """A public argument is out of its allowed range or of the wrong kind."""


class PercolationError(NanowireError):
    """The electrodes are not connected through the network (density below percolation)."""


class SolverError(NanowireError):
    """A linear (nodal) solve failed or returned non-finite values."""


class IntegrationError(NanowireError):
    """Time integration failed (solver failure or a non-finite state)."""


class DeviceFileError(NanowireError, FileError):
    """A device or run file is missing, truncated, foreign or would be overwritten."""


class BudgetError(NanowireError):
    """The estimated size of a job (memory, disk, steps) exceeds its budget; the message names the
    estimate, the budget and the parameter that raises it."""
