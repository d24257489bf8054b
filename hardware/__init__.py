"""hardware: one Device abstraction over simulated devices, instrument drivers and a SCPI emulator.

Backends: :class:`SimulatedDevice` (in-process :mod:`nwphys`), :class:`EmulatedDevice` (the SCPI
emulator of :func:`serve_emulator` over TCP via PyVISA), :class:`LabDevice` (Keithley SMUs and a
707B matrix). :class:`StarDevice` is a hand-solvable reference backend for tests.

The public names are imported from their submodules on first use (``SimulatedDevice`` loads
:mod:`nwphys`, ``LabDevice`` loads pymeasure); see :mod:`nwphys.lazy`.
"""

from __future__ import annotations

from nwphys.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "device": ("COMPLIANCE_POLICIES", "ROLES", "Device", "ElectrodeChannel", "Measurement", "Readings"),
    "emulated": ("EmulatedDevice",),
    "emulator": ("EmulatorServer", "Faults", "serve_emulator"),
    "errors": (
        "ComplianceError", "DeviceClosedError", "HardwareError", "HardwareValidationError",
        "InstrumentConnectionError", "InstrumentError", "LimitError", "SafeStateError",
    ),
    "h5io": ("MeasurementFileError", "MeasurementWriter", "read_measurement", "record"),
    "lab": ("LabDevice",),
    "simulated": ("SimulatedDevice",),
    "testing": ("StarDevice",),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=("drivers",))
