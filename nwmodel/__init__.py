"""nwmodel: reservoir models, datasets, the physical reservoir and experiments.

- :mod:`nwmodel.models`: NW-ESN, ESN, NW-RNN, RNN, their cells, readouts and baselines;
- :mod:`nwmodel.data`: datasets and generators;
- :mod:`nwmodel.selection`: the model-selection protocol, grids and evaluation protocols;
- :mod:`nwmodel.physical`: the reservoir on a physical network (any :class:`hardware.Device`);
- :mod:`nwmodel.experiments`: the abstract-vs-physical comparison, standard tasks, results files;
- :mod:`nwmodel.twin`: a digital twin of a chip: characterisation, junction fit, geometry estimate,
  rehearsal.

The public names are imported from their submodules on first use, so ``import nwmodel`` (and the
``nwhil`` command line of the :mod:`nwhil` package, which uses it) loads neither torch nor sklearn
until a model needs them; see :mod:`nwutil.lazy`.
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "physical.calibration": ("CalibrationError", "DriveCalibration", "calibrate_drive"),
    "experiments.compare": ("CellResult", "ComparisonResult", "dask_mapper", "run_comparison"),
    "data.datasets": ("Dataset", "load_dataset"),
    "errors": ("DatasetError", "ExperimentError", "JournalError", "ModelError", "ModelValidationError"),
    "models.esn": ("ESNClassifier", "ESNRegressor", "NWESNClassifier", "NWESNRegressor"),
    "physical.mapping": (
        "NWESN_JUNCTION_PARAMS", "PHYSICAL_GRIDS", "TUNED_PHYSICAL_GRIDS", "abstract_to_physical",
    ),
    "physical.reservoir": (
        "PhysicalReservoirClassifier", "PhysicalReservoirRegressor", "SimulatedDeviceSpec",
    ),
    "selection.protocols": ("PROTOCOLS", "protocol_fixed", "protocol_grid"),
    "models.readout": (
        "FEATURE_SETS", "RidgeReadout", "fit_readouts", "memory_capacity", "trajectory_features",
    ),
    "models.rnn": ("NWRNNClassifier", "NWRNNRegressor", "RNNClassifier", "RNNRegressor"),
    "selection.search": ("GRIDS", "MODELS", "EstimatorFactory", "SelectionResult", "select_and_test"),
    "experiments.tasks": ("memory_capacity_score", "narma10_score", "run_standard_tasks", "tasks_markdown"),
    "twin.characterisation": ("Characterisation", "characterise"),
    "twin.fit": ("FitError", "JunctionFit", "fit_junctions"),
    "twin.geometry": ("GeometryFit", "estimate_geometry", "rehearse_geometry"),
    "twin.identify": ("IdentifiabilityReport", "rehearse_fit", "suggest_plan"),
}

#: Module paths from before the sub-packages: they keep working, with a DeprecationWarning.
_MOVED: dict[str, str] = {
    "esn": "nwmodel.models.esn",
    "rnn": "nwmodel.models.rnn",
    "kernels": "nwmodel.models.kernels",
    "readout": "nwmodel.models.readout",
    "baselines": "nwmodel.models.baselines",
    "datasets": "nwmodel.data.datasets",
    "protocols": "nwmodel.selection.protocols",
    "calibration": "nwmodel.physical.calibration",
    "mapping": "nwmodel.physical.mapping",
    "compare": "nwmodel.experiments.compare",
    "tasks": "nwmodel.experiments.tasks",
    "results_io": "nwmodel.experiments.results_io",
}

__all__, __getattr__, __dir__ = lazy_exports(
    __name__, _EXPORTS, submodules=("models", "data", "selection", "physical", "experiments", "twin"),
    moved=_MOVED
)
