"""The physical reservoir's features on the default simulated device are converged numerics: at the
operating points of the quick and paper grids of both protocols they match a tight-tolerance
reference to within 1e-3 of each feature's spread across series (the spread is what the
standardised readout sees), for the feature sets each protocol reads there: the last sample's
readings for the ``paper`` grids, every feature set of the ``tuned`` grids (sample ends and pooled
statistics) for those. Both schemes of the batched engine are checked at the device's tolerances:
the default third-order ``"esdirk3-sn"`` and the second-order ``"sdirk2-sn"``."""

from __future__ import annotations

import numpy as np
import pytest

from nwmodel import PhysicalReservoirClassifier, SimulatedDeviceSpec
from nwmodel.data.datasets import make_synthetic_control
from nwmodel.models.readout import trajectory_features
from nwmodel.physical.reservoir import physical_trajectories
from nwmodel.selection.protocols import TUNED_FEATURES

PAPER = ("last",)

#: (input_scaling, slope, dt_s, n_virtual, feature sets): the corners of the quick and paper grids
#: of the paper protocol (nwmodel.physical.mapping.PHYSICAL_GRIDS, read at the last sample) and of the tuned
#: one (TUNED_PHYSICAL_GRIDS, every tuned feature set) on the calibrated drive (junction window
#: (0.35, 1.15) V); the hardest input (input_scaling 10 with slope 5 saturates the sigmoid: jumps
#: between the window's edges) included.
OPERATING_POINTS = [
    (1.0, 1.0, 0.1, 1, (*PAPER, *TUNED_FEATURES)),  # quick grid of both protocols
    (1.0, 1.0, 0.1, 5, PAPER),  # quick grid, virtual nodes (20 ms sub-steps)
    (10.0, 5.0, 0.01, 5, PAPER),  # paper grid: saturated input, 2 ms sub-steps
    (10.0, 1.0, 0.1, 5, PAPER),
    (1.0, 5.0, 0.01, 5, PAPER),
    (10.0, 5.0, 0.1, 5, PAPER),  # the rest of the paper grid's 2 x 2 x 2 corners
    (10.0, 1.0, 0.01, 5, PAPER),
    (1.0, 5.0, 0.1, 5, PAPER),
    (1.0, 1.0, 0.01, 5, PAPER),
    (3.0, 1.0, 0.02, 1, TUNED_FEATURES),  # tuned paper grid: one reading per sample
    (3.0, 1.0, 0.1, 1, TUNED_FEATURES),
    (1.0, 1.0, 0.02, 1, TUNED_FEATURES),
]


@pytest.mark.slow
@pytest.mark.parametrize("input_scaling, slope, dt, n_virtual, feature_sets", OPERATING_POINTS)
def test_features_match_tight_reference(input_scaling: float, slope: float, dt: float,
                                        n_virtual: int, feature_sets: tuple) -> None:
    X, y = make_synthetic_control(2, 60, seed=11)  # 12 series, 2 per class
    default = SimulatedDeviceSpec()  # esdirk3-sn, rtol 3e-5, atol 1e-6
    second = SimulatedDeviceSpec(device_kwargs=(("compliance_A", 1e-3), ("rtol", 3e-5), ("atol", 1e-6),
                                                ("method", "sdirk2-sn")))
    tight = SimulatedDeviceSpec(device_kwargs=(("compliance_A", 1e-3), ("rtol", 1e-6), ("atol", 1e-7)))
    clf = PhysicalReservoirClassifier(default, slope=slope, input_scaling=input_scaling, dt_s=dt,
                                      n_virtual=n_virtual, random_state=0).fit(X, y)
    devs = [default(), second(), tight()]
    try:
        F3, F, R = (physical_trajectories(d, clf.encoding_, X) for d in devs)
    finally:
        for d in devs:
            d.close()
    for name, got in (("sdirk2-sn", F), ("esdirk3-sn", F3)):
        for features in feature_sets:
            f, r = trajectory_features(got, features), trajectory_features(R, features)
            spread = r.std(axis=0)
            assert spread.min() > 0  # every feature varies across series
            rel = np.abs(f - r) / spread
            assert rel.max() <= 1e-3, f"{name}, {features}: max |feature - ref| / spread = {rel.max():.2e}"
