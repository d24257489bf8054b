"""Datasets: files read through aeon's loaders, aeon's bundled data and series generators."""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "datasets": (
        "ECG5000_SPLIT", "GENERATORS", "Dataset", "default_data_dir", "load_dataset", "make_mackey_glass",
        "make_memory_capacity", "make_narma10", "make_synthetic_control", "narma10_series",
    ),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
