"""nwphys: pure physics of Ag nanowire networks (arrays in, arrays out).

Sub-packages by concept, in the order a device is made and run:

- :mod:`nwphys.geometry`: random sticks, the junction graph, electrodes, the network object;
- :mod:`nwphys.junctions`: memristive junction models and their registry;
- :mod:`nwphys.circuit`: the circuit of a device and its nodal solve;
- :mod:`nwphys.dynamics`: drives and time integration (one registry of methods);
- :mod:`nwphys.io`: device and run files; :mod:`nwphys.plotting`: figures.

The public names below are imported from their submodules on first use (``import nwphys`` alone
loads neither scipy nor h5py nor matplotlib); see :mod:`nwutil.lazy`.
"""

from __future__ import annotations

from nwutil import __version__ as __version__  # the package version, defined in nwutil
from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "circuit.circuit": ("Circuit",),
    "io.devicefile": ("DEVICE_FORMAT", "DEVICE_FORMAT_VERSION", "load_network", "save_network"),
    "dynamics.drives": ("DC", "Drive", "PiecewiseLinear", "Pulse", "Sampled", "Sine", "parse_drive"),
    "geometry.electrodes": (
        "Electrode", "ElectrodeLayout", "RoleAssignment", "assign_roles", "make_layout", "mea_grid",
        "pad_grid", "two_terminal",
    ),
    "errors": (
        "BudgetError", "DeviceFileError", "IntegrationError", "NanowireError", "PercolationError",
        "SolverError", "ValidationError",
    ),
    "geometry.sticks": ("Geometry", "find_junctions", "random_sticks", "sample_lengths"),
    "geometry.graph": (
        "AG_RESISTIVITY_OHM_M", "STICK_PERCOLATION_NC_L2", "CircuitBuild", "build_circuit",
        "critical_density_per_um2", "percolation_ratio", "wire_components",
    ),
    "dynamics.integrate": ("METHODS", "SimulationResult", "Stepper", "StepperOutput", "simulate"),
    "junctions": (
        "JUNCTION_MODELS", "JUNCTION_PRESETS", "FilamentGapModel", "JunctionModel", "RateBalanceModel",
        "StochasticRateBalanceModel", "make_junction_model", "register_junction_model",
    ),
    "geometry.network": (
        "DEFAULT_JUNCTION_PARAMS", "PRESETS", "Junctions", "NanowireNetwork", "estimate_generation",
        "generate", "untouched_electrodes",
    ),
    "circuit.nodal": ("NODAL_BACKENDS", "NodalSolution", "NodalSolver", "available_backends"),
    "plotting": ("plot_network",),
    "io.runfile": ("read_run",),
    "io.presetfile": ("read_junction_preset", "resolve_junction_preset", "write_junction_preset"),
}

#: Module paths from before the sub-packages: they keep working, with a DeprecationWarning.
_MOVED: dict[str, str] = {
    "graph": "nwphys.geometry.graph",
    "electrodes": "nwphys.geometry.electrodes",
    "network": "nwphys.geometry.network",
    "nodal": "nwphys.circuit.nodal",
    "drives": "nwphys.dynamics.drives",
    "integrate": "nwphys.dynamics.integrate",
    "methods": "nwphys.dynamics.methods",
    "stepper": "nwphys.dynamics.stepper",
    "implicit": "nwphys.dynamics.implicit",
    "batched": "nwphys.dynamics.batched",
    "devicefile": "nwphys.io.devicefile",
    "runfile": "nwphys.io.runfile",
    "lazy": "nwutil.lazy",
    "fileio": "nwutil.fileio",
    "hdf5": "nwutil.hdf5",
    "validation": "nwutil.validation",
}

__all__, __getattr__, __dir__ = lazy_exports(
    __name__, _EXPORTS, submodules=("geometry", "circuit", "dynamics", "io", "plotting"), moved=_MOVED
)
