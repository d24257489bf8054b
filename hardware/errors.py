"""Domain exceptions of :mod:`hardware`."""

from __future__ import annotations

from nwutil.errors import ArgumentError, NwhilError

__all__ = [
    "ComplianceError",
    "DeviceClosedError",
    "HardwareError",
    "HardwareValidationError",
    "InstrumentConnectionError",
    "InstrumentError",
    "LimitError",
    "SafeStateError",
    "SignalTerminated",
]


class HardwareError(NwhilError):
    """Root of every deliberate error raised by :mod:`hardware`."""


class LimitError(HardwareError, ValueError):
    """A requested voltage/current exceeds a client-side limit (never clipped)."""


class ComplianceError(HardwareError):
    """A reading hit the current/voltage compliance and the policy is to raise."""


class InstrumentError(HardwareError):
    """The instrument reported an error (code and text from its error queue)."""


class SafeStateError(InstrumentError):
    """The read-back after the safe state disagrees: an output is still on or a source is not at 0 V."""


class InstrumentConnectionError(HardwareError):
    """Timeout, dropped connection or malformed reply from an instrument."""


class HardwareValidationError(HardwareError, ArgumentError):
    """A public argument of :mod:`hardware` is out of its allowed range or of the wrong kind."""


class DeviceClosedError(HardwareError):
    """The device was used after :meth:`~hardware.Device.close`."""


class SignalTerminated(SystemExit):
    """SIGTERM turned into an exception inside a device operation, so that the safe state runs.

    A :class:`SystemExit` (not an :class:`Exception`): ``except Exception`` does not swallow it and
    an uncaught one ends the interpreter with exit status ``128 + signum`` (143 for SIGTERM).

    Parameters
    ----------
    signum : int
        The signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + int(signum))
        self.signum = int(signum)

    def __str__(self) -> str:
        return f"terminated by signal {self.signum} (exit status {128 + self.signum})"
