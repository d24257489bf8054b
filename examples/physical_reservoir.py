"""The NW-ESN on a simulated nanowire network vs the abstract NW-ESN, same data and readout.

Run: ``.venv/bin/python examples/physical_reservoir.py`` (about a minute on one core). Uses the
seeded SyntheticControl generator (six classes, length 60), 60 training and 60 test series.
"""

from __future__ import annotations

import time

import numpy as np

from nwmodel.data.datasets import make_synthetic_control
from nwmodel.models.esn import NWESNClassifier
from nwmodel.physical.mapping import abstract_to_physical
from nwmodel.physical.reservoir import PhysicalReservoirClassifier, SimulatedDeviceSpec


def main() -> None:
    X, y = make_synthetic_control(n_per_class=20, length=60, seed=0)
    rng = np.random.default_rng(0)
    idx = rng.permutation(y.size)
    train, test = idx[:60], idx[60:]

    abstract_params = {
        "input_scaling": 1.0,
        "bias_scaling": 0.1,
        "slope": 1.0,
        "dt": 0.1,
        "spectral_radius": 0.9,
        "gamma": 0.95,
    }
    mapped = abstract_to_physical(abstract_params)
    print("mapping:", mapped["estimator"])
    for name, why in mapped["dropped"].items():
        print(f"  {name}: {why}")

    t0 = time.perf_counter()
    nwesn = NWESNClassifier(**abstract_params, random_state=0).fit(X[train], y[train])
    acc_abs = nwesn.score(X[test], y[test])
    t1 = time.perf_counter()

    # the same encoding on the default simulated device: the window (0.35, 1.15) V is calibrated
    # to the junctions; the features are what a bench reads (electrode voltages and currents)
    spec = SimulatedDeviceSpec()
    phys = PhysicalReservoirClassifier(spec, **mapped["estimator"], random_state=0)
    phys.fit(X[train], y[train])
    lo, hi = phys.electrode_window_V_
    print(f"calibrated electrode window: {lo:.2f}..{hi:.2f} V")
    acc_phys = phys.score(X[test], y[test])
    t2 = time.perf_counter()
    per_series = (t2 - t1) / (2 * len(test))
    print(f"abstract NW-ESN : accuracy {acc_abs:.3f}  ({t1 - t0:.1f} s)")
    print(
        f"simulated device: accuracy {acc_phys:.3f}  ({t2 - t1:.1f} s, {1e3 * per_series:.1f} ms per series)"
    )
    print(f"chance          : {1 / 6:.3f}")


if __name__ == "__main__":
    main()
