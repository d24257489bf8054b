"""The physical reservoir's features on the default simulated device are converged numerics: at the
operating points of the quick and paper grids they match a tight-tolerance reference to within
1e-3 of each feature's spread across series (the spread is what the standardised readout sees)."""

from __future__ import annotations

import numpy as np
import pytest

from nwmodel import PhysicalReservoirClassifier, SimulatedDeviceSpec
from nwmodel.datasets import make_synthetic_control
from nwmodel.physical import physical_features

#: (input_scaling, slope, dt_s, n_virtual): the corners of the quick and paper grids
#: (nwmodel.mapping.PHYSICAL_GRIDS) on the calibrated drive (junction window (0.35, 1.15) V); the
#: hardest input (input_scaling 10 with slope 5 saturates the sigmoid: jumps between the window's
#: edges) included.
OPERATING_POINTS = [
    (1.0, 1.0, 0.1, 1),  # quick grid
    (1.0, 1.0, 0.1, 5),  # quick grid, virtual nodes (10 ms sub-steps)
    (10.0, 5.0, 0.01, 5),  # paper grid: saturated input, 2 ms sub-steps
    (10.0, 1.0, 0.1, 5),
    (1.0, 5.0, 0.01, 5),
]


@pytest.mark.slow
@pytest.mark.parametrize("input_scaling, slope, dt, n_virtual", OPERATING_POINTS)
def test_features_match_tight_reference(input_scaling: float, slope: float, dt: float,
                                        n_virtual: int) -> None:
    X, y = make_synthetic_control(2, 60, seed=11)  # 12 series, 2 per class
    default = SimulatedDeviceSpec()  # rtol 3e-5, atol 3e-6
    tight = SimulatedDeviceSpec(device_kwargs=(("compliance_A", 1e-3), ("rtol", 1e-6), ("atol", 1e-7)))
    clf = PhysicalReservoirClassifier(default, slope=slope, input_scaling=input_scaling, dt_s=dt,
                                      n_virtual=n_virtual, random_state=0).fit(X, y)
    dev, ref_dev = default(), tight()
    try:
        F = physical_features(dev, clf.encoding_, X)
        R = physical_features(ref_dev, clf.encoding_, X)
    finally:
        dev.close()
        ref_dev.close()
    spread = R.std(axis=0)
    assert spread.min() > 0  # every feature varies across series
    rel = np.abs(F - R) / spread
    assert rel.max() <= 1e-3, f"max |feature - reference| / spread = {rel.max():.2e}"
