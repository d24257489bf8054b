"""The backends of :class:`~hardware.Device`: what stands behind the one Device API.

- :mod:`~hardware.backends.simulated`: :class:`~hardware.SimulatedDevice`, an :mod:`nwphys`
  network in process;
- :mod:`~hardware.backends.emulated`: :class:`~hardware.EmulatedDevice`, the client of the SCPI
  emulator (:mod:`hardware.scpi`) over PyVISA;
- :mod:`~hardware.backends.lab`: :class:`~hardware.LabDevice`, a bench of source-measure units and
  a switch matrix through the drivers of :mod:`hardware.drivers`.

:class:`~hardware.StarDevice` (:mod:`hardware.testing`) is the hand-solvable reference backend.
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "emulated": ("EmulatedDevice", "LocalEmulatedDevice"),
    "lab": ("DRIVERS", "LabDevice", "load_channel_map"),
    "simulated": ("OracleState", "SimulatedDevice"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
