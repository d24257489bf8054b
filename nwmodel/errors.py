"""Domain exceptions of :mod:`nwmodel`."""

from __future__ import annotations

from nwutil.errors import ArgumentError, NwhilError

__all__ = ["DatasetError", "ExperimentError", "JournalError", "ModelError", "ModelValidationError"]


class ModelError(NwhilError):
    """Root of every deliberate error raised by :mod:`nwmodel`."""


class ModelValidationError(ModelError, ArgumentError):
    """A model or experiment parameter is out of its allowed range."""


class DatasetError(ModelError):
    """A dataset is missing, malformed (NaN, ragged, wrong label type) or unknown."""


class ExperimentError(ModelError):
    """An experiment (model selection, comparison) cannot proceed."""


class JournalError(ExperimentError):
    """A selection journal belongs to another experiment, is corrupt, or is in use by another process."""
