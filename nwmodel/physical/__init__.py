"""The NW-ESN on a physical network: reservoir estimators over any :class:`hardware.Device`.

- :mod:`~nwmodel.physical.reservoir`: the physical reservoir estimators and their features;
- :mod:`~nwmodel.physical.mapping`: how the abstract NW-ESN maps onto a device (the defaults);
- :mod:`~nwmodel.physical.calibration`: the junction-level operating window of the drive.
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "reservoir": (
        "READOUTS", "PhysicalReservoirClassifier", "PhysicalReservoirRegressor", "SimulatedDeviceSpec",
        "electrode_readings", "physical_features", "physical_trajectories",
    ),
    "mapping": (
        "AG_JUNCTION_RANGE_S", "DEFAULT_ENCODING", "DEVICE_JUNCTION_PARAMS", "NWESN_JUNCTION_PARAMS",
        "PHYSICAL_GRIDS", "RESCALE_WINDOW_V", "TUNED_PHYSICAL_GRIDS", "abstract_to_physical", "encode_inputs",
        "sigmoid", "voltage_window",
    ),
    "calibration": (
        "CALIBRATION_RULES", "CalibrationError", "DriveCalibration", "calibrate_drive", "switching_voltage_V",
    ),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
