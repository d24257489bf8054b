"""The electrical view of a device and its nodal analysis.

- :mod:`~nwphys.circuit.circuit`: :class:`~nwphys.Circuit`, the contract between geometry and
  dynamics;
- :mod:`~nwphys.circuit.nodal`: :class:`~nwphys.NodalSolver`, one sparse solve per set of
  conductances on a fixed pattern, behind a registry of linear-solver backends.
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "circuit": ("Circuit",),
    "nodal": ("NODAL_BACKENDS", "NodalSolution", "NodalSolver", "available_backends"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
