"""Model selection: the paper's protocol, the hyperparameter grids and the model registry.

- :mod:`~nwmodel.selection.search`: :func:`~nwmodel.select_and_test`, the registry of models and
  grids, and the journal that lets a killed selection resume;
- :mod:`~nwmodel.selection.protocols`: the named evaluation protocols (``paper``, ``tuned``).
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "search": (
        "GRIDS", "MODELS", "EstimatorFactory", "SelectionResult", "expand_grid", "score", "select_and_test",
        "validation_split",
    ),
    "protocols": ("PROTOCOLS", "TUNED_FEATURES", "protocol_fixed", "protocol_grid"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
