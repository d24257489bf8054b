"""hardware: one Device abstraction over simulated devices, instrument drivers and a SCPI emulator.

- :mod:`hardware.device`: the :class:`Device` API (and :mod:`hardware.errors`, its errors);
- :mod:`hardware.backends`: the simulated, emulated and bench backends;
- :mod:`hardware.scpi`: the SCPI emulator that serves any device over TCP;
- :mod:`hardware.drivers`: the instrument drivers, one module per instrument;
- :mod:`hardware.virtual`: the virtual bench, virtual instruments that the drivers talk to;
- :mod:`hardware.h5io`: measurements streamed to HDF5.

Backends: :class:`SimulatedDevice` (in-process :mod:`nwphys`), :class:`EmulatedDevice` (the SCPI
emulator of :func:`serve_emulator` over TCP via PyVISA), :class:`LabDevice` (Keithley SMUs and a
707B matrix). :class:`StarDevice` is a hand-solvable reference backend for tests.

The public names are imported from their submodules on first use (``SimulatedDevice`` loads
:mod:`nwphys`, ``LabDevice`` loads pymeasure); see :mod:`nwutil.lazy`.
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "device": ("COMPLIANCE_POLICIES", "ROLES", "Device", "ElectrodeChannel", "Measurement", "Readings"),
    "backends.emulated": ("EmulatedDevice",),
    "scpi.emulator": ("EmulatorServer", "Faults", "serve_emulator"),
    "errors": (
        "ComplianceError", "DeviceClosedError", "HardwareError", "HardwareValidationError",
        "InstrumentConnectionError", "InstrumentError", "LimitError", "SafeStateError",
    ),
    "h5io": ("MeasurementFileError", "MeasurementWriter", "read_measurement", "record"),
    "backends.lab": ("LabDevice",),
    "backends.simulated": ("SimulatedDevice",),
    "testing": ("StarDevice",),
}

#: Module paths from before the sub-packages: they keep working, with a DeprecationWarning.
_MOVED: dict[str, str] = {
    "simulated": "hardware.backends.simulated",
    "emulated": "hardware.backends.emulated",
    "lab": "hardware.backends.lab",
    "emulator": "hardware.scpi.emulator",
}

__all__, __getattr__, __dir__ = lazy_exports(
    __name__, _EXPORTS, submodules=("backends", "scpi", "drivers", "virtual", "clock"), moved=_MOVED
)
