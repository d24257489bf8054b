"""Junction preset files: a junction model and its parameters as JSON, e.g. the result of a fit.

Layout (``format`` ``nanowire-hil/junction-preset``)::

    {"format": "nanowire-hil/junction-preset", "junction_model": "rate_balance",
     "params": {"kp0_per_s": ..., ...}, ...}

Further keys (the fit's uncertainties, its read noise) are kept and returned, not interpreted.
:func:`resolve_junction_preset` gives the ``(model, params)`` of a preset name of
:data:`nwphys.junctions.JUNCTION_PRESETS` or of such a file, so every place that takes a preset
name (``make_junction_model(preset=...)``, ``nwhil device generate --preset``,
``SimulatedDeviceSpec.from_preset``) also takes a file.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from nwphys.errors import DeviceFileError, ValidationError
from nwutil.fileio import write_text_atomic

__all__ = ["PRESET_FORMAT", "read_junction_preset", "resolve_junction_preset", "write_junction_preset"]

#: ``format`` of a junction preset file.
PRESET_FORMAT = "nanowire-hil/junction-preset"


def _checked(model: Any, params: Any, where: str) -> tuple[str, dict[str, float]]:
    from nwphys.junctions import model_from_spec

    if not isinstance(model, str) or not isinstance(params, dict):
        raise DeviceFileError(f"{where}: junction_model must be a name and params an object")
    for k, v in params.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise DeviceFileError(f"{where}: parameter {k} must be a finite number, got {v!r}")
    try:
        model_from_spec(model, params)
    except ValidationError as exc:
        raise DeviceFileError(f"{where}: {exc}") from None
    return model, {k: float(v) for k, v in params.items()}


def write_junction_preset(
    path: str | os.PathLike[str],
    junction_model: str,
    params: dict[str, float],
    *,
    extra: dict[str, Any] | None = None,
    force: bool = False,
) -> Path:
    """Write a junction preset file (atomically; never over an existing file without ``force``).

    Parameters
    ----------
    path : str or path-like
        The ``.json`` file to write.
    junction_model : str
        Registry name of the model.
    params : dict of str to float
        Its parameters (validated by the model), SI units as named.
    extra : dict, optional
        JSON-ready entries stored beside them (e.g. uncertainties).
    force : bool
        Overwrite an existing file.
    """
    p = Path(path)
    if p.suffix != ".json":
        raise ValidationError(f"a junction preset file must end in .json, got {str(p)!r}")
    if p.exists() and not force:
        raise DeviceFileError(f"output {str(p)!r} exists; pass force=True (--force) to overwrite it")
    model, par = _checked(junction_model, dict(params), str(p))
    doc = {**(extra or {}), "format": PRESET_FORMAT, "junction_model": model, "params": par}
    return write_text_atomic(p, json.dumps(doc, indent=2, sort_keys=True) + "\n")


def read_junction_preset(path: str | os.PathLike[str]) -> tuple[str, dict[str, float], dict[str, Any]]:
    """Read a junction preset file.

    Returns
    -------
    junction_model : str
    params : dict of str to float
    extra : dict
        The file's other entries.

    Raises
    ------
    DeviceFileError
        Missing, unreadable or foreign file, or parameters the model refuses.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise DeviceFileError(f"junction preset file {str(p)!r} not found") from None
    except (OSError, ValueError) as exc:
        raise DeviceFileError(f"junction preset file {str(p)!r} is unreadable: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != PRESET_FORMAT:
        raise DeviceFileError(f"{str(p)!r} is not a junction preset file (format {PRESET_FORMAT!r})")
    model, params = _checked(doc.get("junction_model"), doc.get("params"), str(p))
    extra = {k: v for k, v in doc.items() if k not in ("format", "junction_model", "params")}
    return model, params, extra


def resolve_junction_preset(preset: str | os.PathLike[str]) -> tuple[str, dict[str, float]]:
    """``(model, params)`` of a preset name or of a junction preset file (a path ending in ``.json``).

    Raises
    ------
    ValidationError
        An unknown name.
    DeviceFileError
        A file that cannot be read as a preset.
    """
    from nwphys.junctions import JUNCTION_PRESETS

    text = os.fspath(preset)
    if text.endswith(".json"):
        model, params, _ = read_junction_preset(text)
        return model, params
    if text not in JUNCTION_PRESETS:
        raise ValidationError(
            f"preset must be one of {', '.join(map(repr, JUNCTION_PRESETS))} or a junction preset "
            f"file (.json), got {text!r}"
        )
    model, params = JUNCTION_PRESETS[text]
    return model, dict(params)
