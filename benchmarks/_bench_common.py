"""Shared helpers of the device and dynamics benchmarks (device builder, mnns peer, timing)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

#: Torino-style density giving ~4.5 junctions per wire (about 9,000 junctions at 2,000 wires).
DENSITY_PER_UM2 = 0.0095

MNNS_HINT = (
    "MemNNetSim (mnns) not importable: install it with `.venv/bin/pip install mnns` to get the peer column"
)


def device_circuit(n_wires: int, seed: int = 1):
    """A Torino-preset device with ``n_wires`` wires at :data:`DENSITY_PER_UM2` (A's generator)."""
    import nwphys

    side = float(np.sqrt(n_wires / DENSITY_PER_UM2))
    return nwphys.generate(
        "torino", density_per_um2=DENSITY_PER_UM2, size_um=(side, side), seed=seed
    ).circuit()


def best_of(fn: Callable[[], object], repeat: int, number: int) -> float:
    """Best mean seconds per call of ``fn`` over ``repeat`` batches of ``number`` calls."""
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t) / number)
    return float(best)


def mnns_network(n_wires: int, seed: int = 1):
    """A MemNNetSim network with the same wire count and density (in its units: l0 = 40 um)."""
    try:
        import mnns
    except ImportError:
        return None
    l0 = 40.0
    density = DENSITY_PER_UM2 * l0**2  # wires per l0^2
    side = float(np.sqrt(n_wires / density))
    net = mnns.create_NWN(wire_length=1.0, shape=(side, side), density=density, seed=seed)
    left, right = mnns.add_electrodes(net, "left", "right")
    return net, left, right
