"""The devices of the physical comparison backends: the emulator per task, device grid keys, calibration.

* :class:`EmulatedFactory`: what the ``emulated`` backend hands its estimators as ``device``. Each
  call starts a :class:`hardware.emulated.LocalEmulatedDevice`: a simulated device served on
  127.0.0.1 (a free port) in this process, driven through PyVISA; closing it stops the server and
  closes the served device. Every task thus has its own emulator, so tasks run in parallel.
* :func:`with_device_keys`: grid keys in :data:`DEVICE_KEYS` select the simulated device (a
  replaced :class:`~nwmodel.physical.SimulatedDeviceSpec`) rather than the estimator.
* :func:`cell_calibration`: the drive calibration of a cell: the one the grid fixes, else the one
  measured (junction rule) on the cell's device, which is built for it and closed again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ExperimentError
from .physical import SimulatedDeviceSpec

__all__ = ["DEVICE_KEYS", "EmulatedFactory", "cell_calibration", "check_fixed_device", "with_device_keys"]

#: Parameters of the physical grid that select the device rather than the estimator.
DEVICE_KEYS: tuple[str, ...] = ("n_wires", "device_seed", "electrodes", "n_inputs")


@dataclass(frozen=True)
class EmulatedFactory:
    """Zero-argument factory: a :class:`hardware.emulated.LocalEmulatedDevice` serving ``spec()``."""

    spec: SimulatedDeviceSpec

    def __call__(self) -> Any:
        from hardware.emulated import LocalEmulatedDevice

        return LocalEmulatedDevice(self.spec)


def with_device_keys(device: Any, params: dict[str, Any]) -> Any:
    """``device`` with the :data:`DEVICE_KEYS` of ``params`` applied; pops those keys from ``params``.

    Raises
    ------
    ExperimentError
        ``params`` holds device keys but ``device`` is not a :class:`SimulatedDeviceSpec`.
    """
    over = {k: params.pop(k) for k in DEVICE_KEYS if k in params}
    if not over:
        return device
    if not isinstance(device, SimulatedDeviceSpec):
        raise ExperimentError(
            f"grid keys {sorted(over)} select a simulated device, but the backend's "
            f"device is {type(device).__name__}"
        )
    return dataclasses.replace(device, **over)


def check_fixed_device(configs: Sequence[dict[str, Any]]) -> None:
    """:class:`ExperimentError` when a configuration of the emulated backend holds a device key."""
    if any(k in DEVICE_KEYS for c in configs for k in c):
        raise ExperimentError(
            "the emulated backend serves one fixed device; remove device keys "
            f"{list(DEVICE_KEYS)} from its grid"
        )


def cell_calibration(spec: SimulatedDeviceSpec, configs: Sequence[dict[str, Any]]) -> Any:
    """The :class:`~nwmodel.calibration.DriveCalibration` of a physical cell.

    The one every configuration of the grid gives (e.g. a compliance-scaled calibration), else the
    junction-rule calibration measured on ``spec()`` (the device is closed afterwards).
    """
    from .calibration import DriveCalibration, calibrate_drive

    given = [c["calibration"] for c in configs if isinstance(c.get("calibration"), DriveCalibration)]
    if given and len(given) == len(configs) and all(c == given[0] for c in given):
        return given[0]
    served = spec()
    try:
        return calibrate_drive(served, rule="junction")
    finally:
        served.close()
