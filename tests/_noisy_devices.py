"""The small device of the SimulatedDevice noise and variability tests: a 2x2 MEA (100 wires,
236 junctions), the same wires for every junction model, and its stochastic junctions."""

from __future__ import annotations

import numpy as np

import nwphys
from hardware import SimulatedDevice
from nwphys.junctions import JUNCTION_PRESETS, RateBalanceModel

INPUTS, OUTPUTS, GROUND = ("E00",), ("E01", "E10"), ("E11",)
#: published kinetics and noise with a larger diffusion, so that the noise shows in the readings
NOISY = {**JUNCTION_PRESETS["milano2025"][1], "sigma_per_sqrt_s": 0.01, "jump_rate_per_s": 5.0}
#: the drift of :data:`NOISY` as a deterministic model
DRIFT = {k: NOISY[k] for k in RateBalanceModel.defaults}


def network(model: str = "rate_balance", params: dict | None = None):
    """The device with junctions ``model`` (``params``; None: the model's defaults)."""
    return nwphys.generate(n_wires=100, size_um=(30.0, 30.0), length_mean_um=10.0, length_std_um=2.0,
                           electrodes="mea2x2", seed=1, junction_model=model, junction_params=params)


def device(net, **kw) -> SimulatedDevice:
    """A SimulatedDevice of ``net`` with the roles above and a 20 V limit."""
    return SimulatedDevice(net, inputs=INPUTS, outputs=OUTPUTS, ground=GROUND, max_abs_V=20.0, **kw)


def drive(n: int = 30) -> np.ndarray:
    """``n`` held levels in [2, 8] V on the input (seed 4), shape (n, 1)."""
    return np.random.default_rng(4).uniform(2.0, 8.0, (n, 1))
