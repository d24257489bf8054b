"""nwmodel: reservoir models, datasets, the physical reservoir and experiments.

The public names are imported from their submodules on first use, so ``import nwmodel`` (and the
``nwhil`` command line of the :mod:`nwhil` package, which uses it) loads neither torch nor sklearn
until a model needs them; see :mod:`nwphys.lazy`.
"""

from __future__ import annotations

from nwphys.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "calibration": ("CalibrationError", "DriveCalibration", "calibrate_drive"),
    "compare": ("CellResult", "ComparisonResult", "dask_mapper", "run_comparison"),
    "datasets": ("Dataset", "load_dataset"),
    "errors": ("DatasetError", "ExperimentError", "JournalError", "ModelError", "ModelValidationError"),
    "esn": ("ESNClassifier", "ESNRegressor", "NWESNClassifier", "NWESNRegressor"),
    "mapping": ("NWESN_JUNCTION_PARAMS", "PHYSICAL_GRIDS", "TUNED_PHYSICAL_GRIDS", "abstract_to_physical"),
    "physical": ("PhysicalReservoirClassifier", "PhysicalReservoirRegressor", "SimulatedDeviceSpec"),
    "protocols": ("PROTOCOLS", "protocol_fixed", "protocol_grid"),
    "readout": ("FEATURE_SETS", "RidgeReadout", "fit_readouts", "memory_capacity", "trajectory_features"),
    "rnn": ("NWRNNClassifier", "NWRNNRegressor", "RNNClassifier", "RNNRegressor"),
    "selection": ("GRIDS", "MODELS", "EstimatorFactory", "SelectionResult", "select_and_test"),
    "tasks": ("memory_capacity_score", "narma10_score", "run_standard_tasks", "tasks_markdown"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=("kernels",))
