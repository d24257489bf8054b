"""nwphys: pure physics of Ag nanowire networks (arrays in, arrays out).

The public names below are imported from their submodules on first use (``import nwphys`` alone
loads neither scipy nor h5py nor matplotlib); see :mod:`nwphys.lazy`.
"""

from __future__ import annotations

from .lazy import lazy_exports

#: The package version, defined here only (``pyproject.toml`` reads it; code reads it through
#: :func:`nwphys.hdf5.package_version`).
__version__ = "0.3.0"

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "circuit": ("Circuit",),
    "devicefile": ("DEVICE_FORMAT", "DEVICE_FORMAT_VERSION", "load_network", "save_network"),
    "drives": ("DC", "Drive", "PiecewiseLinear", "Pulse", "Sampled", "Sine", "parse_drive"),
    "electrodes": (
        "Electrode", "ElectrodeLayout", "RoleAssignment", "assign_roles", "make_layout", "mea_grid",
        "pad_grid", "two_terminal",
    ),
    "errors": (
        "BudgetError", "DeviceFileError", "IntegrationError", "NanowireError", "PercolationError",
        "SolverError", "ValidationError",
    ),
    "geometry": ("Geometry", "find_junctions", "random_sticks", "sample_lengths"),
    "graph": (
        "AG_RESISTIVITY_OHM_M", "STICK_PERCOLATION_NC_L2", "CircuitBuild", "build_circuit",
        "critical_density_per_um2", "percolation_ratio", "wire_components",
    ),
    "integrate": ("METHODS", "SimulationResult", "Stepper", "StepperOutput", "simulate"),
    "junctions": (
        "JUNCTION_MODELS", "JUNCTION_PRESETS", "FilamentGapModel", "JunctionModel", "RateBalanceModel",
        "make_junction_model", "register_junction_model",
    ),
    "network": (
        "DEFAULT_JUNCTION_PARAMS", "PRESETS", "Junctions", "NanowireNetwork", "estimate_generation",
        "generate", "untouched_electrodes",
    ),
    "nodal": ("NODAL_BACKENDS", "NodalSolution", "NodalSolver", "available_backends"),
    "plotting": ("plot_network",),
    "runfile": ("read_run",),
}

__all__, __getattr__, __dir__ = lazy_exports(
    __name__, _EXPORTS, submodules=("stepper", "implicit", "hdf5", "fileio")
)
