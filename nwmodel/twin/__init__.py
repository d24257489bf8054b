"""A digital twin of a measured chip: characterise it, fit its junctions, check the fit can work.

- :mod:`~nwmodel.twin.characterisation`: the characterisation drive (pulses, relaxations, an I-V
  sweep, a noise hold) through any :class:`hardware.Device`, recorded to a measurement file;
- :mod:`~nwmodel.twin.fit`: junction kinetics, conductance range and noise fitted to such a
  measurement, with uncertainties, as a junction preset;
- :mod:`~nwmodel.twin.identify`: the identifiability rehearsal: measure a simulated device with
  noise, fit, and compare with the true values;
- :mod:`~nwmodel.twin.geometry`: the wire density (and mean length) of a chip whose wires are
  unknown, from the same measurement, by a synthetic likelihood over generated networks.
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "characterisation": ("CHARACTERISATION_FORMAT", "Characterisation", "characterise", "geometry_sha256"),
    "fit": (
        "FIT_PARAMS", "MAX_REDUCED_CHI2", "MAX_REL_STD", "FitError", "JunctionFit",
        "estimate_noise", "fit_junctions", "replay",
    ),
    "geometry": (
        "MIN_HOLD", "GeometryFit", "GeometryRehearsal", "estimate_geometry", "hold_statistics",
        "rehearse_geometry",
    ),
    "identify": (
        "KINETIC_TARGET", "PUBLISHED_NOISE", "RANGE_TARGET", "START_FACTORS", "IdentifiabilityReport",
        "rehearse_fit", "rest_read_noise_A", "suggest_plan",
    ),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
