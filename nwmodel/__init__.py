"""nwmodel: reservoir models, datasets, the physical reservoir, experiments and the CLI."""

from __future__ import annotations

from .calibration import CalibrationError, DriveCalibration, calibrate_drive
from .compare import CellResult, ComparisonResult, dask_mapper, run_comparison
from .datasets import Dataset, load_dataset
from .errors import DatasetError, ExperimentError, ModelError, ModelValidationError
from .esn import ESNClassifier, ESNRegressor, NWESNClassifier, NWESNRegressor
from .mapping import NWESN_JUNCTION_PARAMS, PHYSICAL_GRIDS, abstract_to_physical
from .physical import PhysicalReservoirClassifier, PhysicalReservoirRegressor, SimulatedDeviceSpec
from .readout import RidgeReadout, memory_capacity
from .rnn import NWRNNClassifier, NWRNNRegressor, RNNClassifier, RNNRegressor
from .selection import GRIDS, MODELS, EstimatorFactory, SelectionResult, select_and_test
from .tasks import memory_capacity_score, narma10_score, run_standard_tasks, tasks_markdown

__all__ = [
    "GRIDS",
    "MODELS",
    "NWESN_JUNCTION_PARAMS",
    "PHYSICAL_GRIDS",
    "CalibrationError",
    "CellResult",
    "ComparisonResult",
    "Dataset",
    "DatasetError",
    "DriveCalibration",
    "ESNClassifier",
    "ESNRegressor",
    "EstimatorFactory",
    "ExperimentError",
    "ModelError",
    "ModelValidationError",
    "NWESNClassifier",
    "NWESNRegressor",
    "NWRNNClassifier",
    "NWRNNRegressor",
    "PhysicalReservoirClassifier",
    "PhysicalReservoirRegressor",
    "RNNClassifier",
    "RNNRegressor",
    "RidgeReadout",
    "SelectionResult",
    "SimulatedDeviceSpec",
    "abstract_to_physical",
    "calibrate_drive",
    "dask_mapper",
    "load_dataset",
    "memory_capacity",
    "memory_capacity_score",
    "narma10_score",
    "run_comparison",
    "run_standard_tasks",
    "select_and_test",
    "tasks_markdown",
]
