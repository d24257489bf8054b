"""Domain exceptions of :mod:`hardware`."""

from __future__ import annotations

__all__ = [
    "ComplianceError",
    "DeviceClosedError",
    "HardwareError",
    "HardwareValidationError",
    "InstrumentConnectionError",
    "InstrumentError",
    "LimitError",
]


class HardwareError(Exception):
    """Root of every deliberate error raised by :mod:`hardware`."""


class LimitError(HardwareError, ValueError):
    """A requested voltage/current exceeds a client-side limit (never clipped)."""


class ComplianceError(HardwareError):
    """A reading hit the current/voltage compliance and the policy is to raise."""


class InstrumentError(HardwareError):
    """The instrument reported an error (code and text from its error queue)."""


class InstrumentConnectionError(HardwareError):
    """Timeout, dropped connection or malformed reply from an instrument."""


class HardwareValidationError(HardwareError, ValueError):
    """A public argument of :mod:`hardware` is out of its allowed range or of the wrong kind."""


class DeviceClosedError(HardwareError):
    """The device was used after :meth:`~hardware.Device.close`."""
