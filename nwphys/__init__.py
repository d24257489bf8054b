"""nwphys: pure physics of Ag nanowire networks (arrays in, arrays out)."""

from __future__ import annotations

from .circuit import Circuit
from .devicefile import DEVICE_FORMAT, DEVICE_FORMAT_VERSION, load_network, save_network
from .electrodes import Electrode, ElectrodeLayout, make_layout, mea_grid, two_terminal
from .errors import (
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
from .network import DEFAULT_JUNCTION_PARAMS, PRESETS, Junctions, NanowireNetwork, generate
from .plotting import plot_network

__version__ = "0.1.0"

__all__ = [
    "AG_RESISTIVITY_OHM_M",
    "DEFAULT_JUNCTION_PARAMS",
    "DEVICE_FORMAT",
    "DEVICE_FORMAT_VERSION",
    "PRESETS",
    "STICK_PERCOLATION_NC_L2",
    "Circuit",
    "CircuitBuild",
    "DeviceFileError",
    "Electrode",
    "ElectrodeLayout",
    "Geometry",
    "IntegrationError",
    "Junctions",
    "NanowireError",
    "NanowireNetwork",
    "PercolationError",
    "SolverError",
    "ValidationError",
    "build_circuit",
    "critical_density_per_um2",
    "find_junctions",
    "generate",
    "load_network",
    "make_layout",
    "mea_grid",
    "percolation_ratio",
    "plot_network",
    "random_sticks",
    "sample_lengths",
    "save_network",
    "two_terminal",
    "wire_components",
]
