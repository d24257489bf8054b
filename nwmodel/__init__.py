"""nwmodel: reservoir models, datasets, the physical reservoir, experiments and the CLI."""

from __future__ import annotations

from .errors import DatasetError, ExperimentError, ModelError, ModelValidationError

__all__ = ["DatasetError", "ExperimentError", "ModelError", "ModelValidationError"]
