"""The physical reservoir through LabDevice and the real drivers on the virtual bench.

Calibration (the response rule: electrode currents only), fit and predict run through three
virtual Keithley 2450s; the same reservoir on a SimulatedDevice of the same device, roles, limits
and relaxation gives the same features and predictions.
"""

from __future__ import annotations

import numpy as np
import pytest
from _benches import AG_DEVICE_ARGV, THREE_2450_MAP
from _datasets import ramps_dataset

from hardware import SimulatedDevice
from hardware.virtual import VirtualBench
from nwhil import main
from nwmodel.physical.reservoir import PhysicalReservoirClassifier

MAP = THREE_2450_MAP
RELAX_S = 0.5
TOL = {"rtol": 1e-6, "atol": 1e-9}
KW = {"n_virtual": 1, "features": "last", "reset": "relax", "relax_s": RELAX_S, "ridge_alpha": 1.0,
      "random_state": 0}


@pytest.fixture(scope="module")
def device_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vbr") / "dev.h5"
    assert main([*AG_DEVICE_ARGV, "-o", str(path)]) == 0
    return path


def test_calibration_fit_and_predict_through_the_real_drivers(device_file) -> None:
    ds = ramps_dataset(n=3, length=6)
    # one device each, used as is: both sides live through the same history (the calibration's
    # pulses, then every series after a relaxation), as a bench does (it cannot restore states)
    sim_dev = SimulatedDevice(device_file, inputs=["E00"], outputs=["E10"], ground=["E01"],
                              max_abs_V={"E00": 10.0, "E01": 10.0, "E10": 10.0, "E11": 10.0},
                              compliance_A=1e-3, reset_mode="relax", relax_time_s=RELAX_S, **TOL)
    sim = PhysicalReservoirClassifier(sim_dev, calibration="response", **KW).fit(ds.X_train, ds.y_train)
    with VirtualBench(device_file, MAP, latency_s=0.0, nplc=0.001, **TOL) as bench:
        with bench.lab_device(ramp_pause_s=0.0, relax_s=RELAX_S) as lab:
            on_bench = PhysicalReservoirClassifier(lab, calibration="response", **KW)
            on_bench.fit(ds.X_train, ds.y_train)
            pred = on_bench.predict(ds.X_test)
            feats = on_bench.transform(ds.X_test)
        # LabDevice left every instrument in its safe state
        assert not any(ch.output_on or ch.level_V for i in bench.instruments.values() for ch in i.channels())
        assert bench.clock.now() > 2 * len(ds.y_train) * RELAX_S
    # 20 us apertures: the gain to 1e-4 (1e-3 asserted), the features to 1.6e-4 of their spread
    # (asserted: 1e-3, the bound of two simulations of one drive, rehearsal.FEATURE_BOUND), the
    # same predictions (the simulated device predicts, then transforms, in the bench's order: the
    # history matters)
    assert on_bench.calibration_.gain == pytest.approx(sim.calibration_.gain, rel=1e-3)
    np.testing.assert_array_equal(pred, sim.predict(ds.X_test))
    f_sim = sim.transform(ds.X_test)
    assert np.max(np.abs(feats - f_sim) / np.ptp(f_sim, axis=0)) < 1e-3
