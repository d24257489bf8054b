"""The virtual bench: the bench's instruments, in their own dialects, wired to simulated physics.

- :mod:`~hardware.virtual.bench`: :class:`VirtualBench`, built from a device and a channel map,
  serves one virtual instrument per instrument of the map on loopback TCP, so that the unmodified
  drivers and :class:`~hardware.LabDevice` run against :class:`~hardware.SimulatedDevice` physics
  on a simulated clock;
- one module per instrument: :mod:`~hardware.virtual.keithley2450` (SCPI),
  :mod:`~hardware.virtual.keithley2600` and :mod:`~hardware.virtual.keithley707b` (TSP).
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "bench": ("DEFAULT_LATENCY_S", "DEFAULT_NPLC", "INSTRUMENTS", "VirtualBench"),
    "keithley2450": ("Virtual2450",),
    "keithley2600": ("Virtual2600",),
    "keithley707b": ("Virtual707B",),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
