"""The physical reservoir's features on the default simulated device are converged numerics: at the
operating points of the quick and paper grids they match a tight-tolerance reference to within
1e-3 of each feature's spread across series (the spread is what the standardised readout sees)."""

from __future__ import annotations

import numpy as np
import pytest

from nwmodel import PhysicalReservoirClassifier, SimulatedDeviceSpec
from nwmodel.datasets import make_synthetic_control
from nwmodel.physical import physical_features

#: (v_scale_V, v_bias_V, input_scaling, dt_s): the corners of the quick and paper grids
#: (nwmodel.mapping.PHYSICAL_GRIDS), the highest electrode voltage (9 V) and the hardest input
#: (input_scaling 10 saturates the sigmoid: jumps between the window's edges) included.
OPERATING_POINTS = [
    (8.0, 0.35, 1.0, 0.1),  # quick grid, largest window
    (8.0, 1.0, 10.0, 0.1),  # paper grid: up to 9 V, saturated input
    (8.0, 0.35, 1.0, 0.01),  # paper grid: the short sample period
    (2.0, 1.0, 10.0, 0.01),
    (0.8, 0.35, 1.0, 0.1),  # the abstract window: junctions barely move
]


@pytest.mark.slow
@pytest.mark.parametrize("v_scale, v_bias, input_scaling, dt", OPERATING_POINTS)
def test_features_match_tight_reference(v_scale: float, v_bias: float, input_scaling: float,
                                        dt: float) -> None:
    X, y = make_synthetic_control(2, 60, seed=11)  # 12 series, 2 per class
    default = SimulatedDeviceSpec()  # rtol 3e-4, atol 3e-5
    tight = SimulatedDeviceSpec(device_kwargs=(("compliance_A", 10.0), ("rtol", 1e-6), ("atol", 1e-7)))
    clf = PhysicalReservoirClassifier(default, v_scale_V=v_scale, v_bias_V=v_bias,
                                      input_scaling=input_scaling, dt_s=dt, n_features=None,
                                      random_state=0).fit(X, y)
    dev, ref_dev = default(), tight()
    try:
        F = physical_features(dev, clf.encoding_, X)
        R = physical_features(ref_dev, clf.encoding_, X)
    finally:
        dev.close()
        ref_dev.close()
    spread = R.std(axis=0)
    assert spread.min() > 1e-4  # every feature varies across series
    rel = np.abs(F - R) / spread
    assert rel.max() <= 1e-3, f"max |feature - reference| / spread = {rel.max():.2e}"
