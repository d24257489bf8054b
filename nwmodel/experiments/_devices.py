"""The devices of the physical comparison backends: the emulator per task, device grid keys, calibration.

* :class:`EmulatedFactory`: what the ``emulated`` backend hands its estimators as ``device``. Each
  call starts a :class:`hardware.backends.emulated.LocalEmulatedDevice`: a simulated device served on
  127.0.0.1 (a free port) in this process, driven through PyVISA; closing it stops the server and
  closes the served device. Every task thus has its own emulator, so tasks run in parallel.
* :func:`with_device_keys`: grid keys in :data:`DEVICE_KEYS` select the simulated device (a
  replaced :class:`~nwmodel.physical.reservoir.SimulatedDeviceSpec`) rather than the estimator.
* :func:`cell_calibration`: the drive calibration of a cell: the one the grid fixes, else the one
  measured (junction rule) on the cell's device, which is built for it and closed again.
* :func:`cell_calibrations`: that calibration and the one of every device the cell's fits drive,
  each measured once per cell; the backends give each fit the one of its device
  (:class:`~nwmodel.experiments._backends.PhysicalFactory`), so no fit measures its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nwmodel.errors import ExperimentError
from nwmodel.physical.reservoir import SimulatedDeviceSpec

__all__ = [
    "DEVICE_KEYS",
    "EmulatedFactory",
    "cell_calibration",
    "cell_calibrations",
    "check_fixed_device",
    "with_device_keys",
]

#: Parameters of the physical grid that select the device rather than the estimator.
DEVICE_KEYS: tuple[str, ...] = ("n_wires", "device_seed", "electrodes", "n_inputs")


@dataclass(frozen=True)
class EmulatedFactory:
    """Zero-argument factory: a :class:`hardware.backends.emulated.LocalEmulatedDevice` serving ``spec()``."""

    spec: SimulatedDeviceSpec

    def __call__(self) -> Any:
        from hardware.backends.emulated import LocalEmulatedDevice

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
    """The :class:`~nwmodel.physical.calibration.DriveCalibration` of a physical cell.

    The one every configuration of the grid gives (e.g. a compliance-scaled calibration), else the
    junction-rule calibration measured on ``spec()`` (the device is closed afterwards).
    """
    from nwmodel.physical.calibration import DriveCalibration

    given = [c["calibration"] for c in configs if isinstance(c.get("calibration"), DriveCalibration)]
    if given and len(given) == len(configs) and all(c == given[0] for c in given):
        return given[0]
    return _measure(spec)


def cell_calibrations(
    spec: SimulatedDeviceSpec, configs: Sequence[dict[str, Any]]
) -> tuple[Any, tuple[tuple[SimulatedDeviceSpec, Any], ...]]:
    """The calibration of a physical cell and that of every device its fits drive, each measured once.

    Parameters
    ----------
    spec : SimulatedDeviceSpec
        The cell's device.
    configs : sequence of dict
        Every configuration of the cell's grid.

    Returns
    -------
    calibration : DriveCalibration
        :func:`cell_calibration` of ``spec`` and ``configs`` (what the cell records).
    per_device : tuple of (SimulatedDeviceSpec, DriveCalibration)
        Each distinct device of the configurations that set no ``calibration`` (``spec`` with
        their :data:`DEVICE_KEYS` applied) and its junction-rule calibration, the one a fit of
        the junction window :data:`~nwmodel.physical.mapping.RESCALE_WINDOW_V` measures on a fresh device
        (``spec``'s is ``calibration``); empty when every configuration sets one.
    """
    calibration = cell_calibration(spec, configs)
    free = [c for c in configs if "calibration" not in c]
    if not free:
        return calibration, ()
    measured = [(spec, calibration)]  # measured on spec(): some configuration sets none
    for c in free:
        device = with_device_keys(spec, dict(c))
        if all(d != device for d, _ in measured):
            measured.append((device, _measure(device)))
    return calibration, tuple(measured)


def _measure(spec: SimulatedDeviceSpec) -> Any:
    """The junction-rule calibration of a fresh ``spec()``, closed afterwards."""
    from nwmodel.physical.calibration import calibrate_drive

    served = spec()
    try:
        return calibrate_drive(served, rule="junction")
    finally:
        served.close()
