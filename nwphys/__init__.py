"""nwphys: pure physics of Ag nanowire networks (arrays in, arrays out)."""

from __future__ import annotations

from .circuit import Circuit
from .errors import (
    DeviceFileError,
    IntegrationError,
    NanowireError,
    PercolationError,
    SolverError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "Circuit",
    "DeviceFileError",
    "IntegrationError",
    "NanowireError",
    "PercolationError",
    "SolverError",
    "ValidationError",
]
