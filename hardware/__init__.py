"""hardware: one Device abstraction over simulated devices, instrument drivers and a SCPI emulator."""

from __future__ import annotations

from .errors import (
    ComplianceError,
    HardwareError,
    InstrumentConnectionError,
    InstrumentError,
    LimitError,
)

__all__ = [
    "ComplianceError",
    "HardwareError",
    "InstrumentConnectionError",
    "InstrumentError",
    "LimitError",
]
