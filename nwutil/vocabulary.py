"""Names that every layer shares: the electrode roles of an experiment.

The physics (:mod:`nwphys.geometry.electrodes`, role patterns) and the hardware
(:class:`hardware.Device`, whose channels carry a role) speak of the same roles; they are defined
once here so that :mod:`hardware` needs no physics to name them.
"""

from __future__ import annotations

__all__ = ["ROLES"]

#: Electrode roles of an experiment: driven inputs, read outputs, ground, and floating (unused).
ROLES: tuple[str, ...] = ("input", "output", "ground", "floating")
