"""The files of the physics layer: device files and crash-safe run files.

- :mod:`~nwphys.io.devicefile`: :func:`~nwphys.save_network` and :func:`~nwphys.load_network`;
- :mod:`~nwphys.io.runfile`: run files committed chunk by chunk, resumed exactly;
- :mod:`~nwphys.io.presetfile`: junction presets as JSON files (a fit's result).
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "devicefile": ("DEVICE_FORMAT", "DEVICE_FORMAT_VERSION", "load_network", "save_network"),
    "presetfile": (
        "PRESET_FORMAT", "read_junction_preset", "resolve_junction_preset", "write_junction_preset",
    ),
    "runfile": (
        "RUN_FORMAT", "RUN_STATUS_NAMES", "STATUS_INTERRUPTED", "RunWriter", "journal_dir",
        "param_differences", "read_run", "run_status",
    ),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
