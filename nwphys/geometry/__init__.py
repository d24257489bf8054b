"""The virtual device as built: random-stick geometry, the junction graph, electrodes, the network.

- :mod:`~nwphys.geometry.sticks`: random sticks and exact junction detection;
- :mod:`~nwphys.geometry.graph`: the junction graph, the electrical circuit it gives, percolation;
- :mod:`~nwphys.geometry.electrodes`: pads, lines, which wires touch them, electrode roles;
- :mod:`~nwphys.geometry.network`: :class:`~nwphys.NanowireNetwork` and :func:`~nwphys.generate`.
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "sticks": ("LENGTH_DISTRIBUTIONS", "Geometry", "find_junctions", "random_sticks", "sample_lengths"),
    "graph": (
        "AG_RESISTIVITY_OHM_M", "REPRESENTATIONS", "STICK_PERCOLATION_NC_L2", "CircuitBuild", "build_circuit",
        "critical_density_per_um2", "percolation_ratio", "wire_components", "wire_graph",
    ),
    "electrodes": (
        "ROLES", "ROLE_PATTERNS", "Electrode", "ElectrodeLayout", "RoleAssignment", "assign_roles",
        "clip_intervals", "electrode_contacts", "make_layout", "mea_grid", "pad_grid", "two_terminal",
    ),
    "network": (
        "DEFAULT_JUNCTION_PARAMS", "PRESETS", "Junctions", "NanowireNetwork", "estimate_generation",
        "generate", "untouched_electrodes",
    ),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
