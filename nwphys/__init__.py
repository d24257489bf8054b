"""nwphys: pure physics of Ag nanowire networks (arrays in, arrays out)."""

from __future__ import annotations

from .circuit import Circuit
from .devicefile import DEVICE_FORMAT, DEVICE_FORMAT_VERSION, load_network, save_network
from .drives import DC, Drive, PiecewiseLinear, Pulse, Sampled, Sine, parse_drive
from .electrodes import (
    Electrode,
    ElectrodeLayout,
    RoleAssignment,
    assign_roles,
    make_layout,
    mea_grid,
    pad_grid,
    two_terminal,
)
from .errors import (
    BudgetError,
    DeviceFileError,
    IntegrationError,
    NanowireError,
    PercolationError,
    SolverError,
    ValidationError,
)
from .geometry import Geometry, find_junctions, random_sticks, sample_lengths
from .graph import (
    AG_RESISTIVITY_OHM_M,
    STICK_PERCOLATION_NC_L2,
    CircuitBuild,
    build_circuit,
    critical_density_per_um2,
    percolation_ratio,
    wire_components,
)
from .integrate import METHODS, SimulationResult, Stepper, StepperOutput, simulate
from .junctions import (
    JUNCTION_MODELS,
    JUNCTION_PRESETS,
    FilamentGapModel,
    JunctionModel,
    RateBalanceModel,
    make_junction_model,
    register_junction_model,
)
from .network import (
    DEFAULT_JUNCTION_PARAMS,
    PRESETS,
    Junctions,
    NanowireNetwork,
    estimate_generation,
    generate,
    untouched_electrodes,
)
from .nodal import NODAL_BACKENDS, NodalSolution, NodalSolver, available_backends
from .plotting import plot_network
from .runfile import read_run

__version__ = "0.1.0"

__all__ = [
    "AG_RESISTIVITY_OHM_M",
    "DC",
    "DEFAULT_JUNCTION_PARAMS",
    "DEVICE_FORMAT",
    "DEVICE_FORMAT_VERSION",
    "JUNCTION_MODELS",
    "JUNCTION_PRESETS",
    "METHODS",
    "NODAL_BACKENDS",
    "PRESETS",
    "STICK_PERCOLATION_NC_L2",
    "Circuit",
    "CircuitBuild",
    "BudgetError",
    "DeviceFileError",
    "Drive",
    "Electrode",
    "ElectrodeLayout",
    "FilamentGapModel",
    "Geometry",
    "IntegrationError",
    "JunctionModel",
    "Junctions",
    "NanowireError",
    "NanowireNetwork",
    "NodalSolution",
    "NodalSolver",
    "PercolationError",
    "PiecewiseLinear",
    "Pulse",
    "RateBalanceModel",
    "RoleAssignment",
    "Sampled",
    "SimulationResult",
    "Sine",
    "SolverError",
    "Stepper",
    "StepperOutput",
    "ValidationError",
    "assign_roles",
    "available_backends",
    "build_circuit",
    "critical_density_per_um2",
    "find_junctions",
    "generate",
    "load_network",
    "make_junction_model",
    "make_layout",
    "mea_grid",
    "pad_grid",
    "parse_drive",
    "percolation_ratio",
    "plot_network",
    "random_sticks",
    "read_run",
    "register_junction_model",
    "sample_lengths",
    "save_network",
    "simulate",
    "two_terminal",
    "untouched_electrodes",
    "wire_components",
]
