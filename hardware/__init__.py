"""hardware: one Device abstraction over simulated devices, instrument drivers and a SCPI emulator.

Backends: :class:`SimulatedDevice` (in-process :mod:`nwphys`), :class:`EmulatedDevice` (the SCPI
emulator of :func:`serve_emulator` over TCP via PyVISA), :class:`LabDevice` (Keithley SMUs and a
707B matrix). :class:`StarDevice` is a hand-solvable reference backend for tests.
"""

from __future__ import annotations

from typing import Any

from .device import COMPLIANCE_POLICIES, ROLES, Device, Electrode, Measurement, Readings
from .emulated import EmulatedDevice
from .emulator import EmulatorServer, Faults, serve_emulator
from .errors import (
    ComplianceError,
    DeviceClosedError,
    HardwareError,
    HardwareValidationError,
    InstrumentConnectionError,
    InstrumentError,
    LimitError,
)
from .h5io import MeasurementFileError, MeasurementWriter, read_measurement, record
from .testing import StarDevice

__all__ = [
    "COMPLIANCE_POLICIES",
    "ROLES",
    "ComplianceError",
    "Device",
    "DeviceClosedError",
    "Electrode",
    "EmulatedDevice",
    "EmulatorServer",
    "Faults",
    "HardwareError",
    "HardwareValidationError",
    "InstrumentConnectionError",
    "InstrumentError",
    "LabDevice",
    "LimitError",
    "Measurement",
    "MeasurementFileError",
    "MeasurementWriter",
    "Readings",
    "SimulatedDevice",
    "StarDevice",
    "read_measurement",
    "record",
    "serve_emulator",
]


def __getattr__(name: str) -> Any:
    # SimulatedDevice imports nwphys and LabDevice imports pymeasure: load them on first use.
    if name == "SimulatedDevice":
        from .simulated import SimulatedDevice

        return SimulatedDevice
    if name == "LabDevice":
        from .lab import LabDevice

        return LabDevice
    raise AttributeError(f"module 'hardware' has no attribute {name!r}")
