"""Virtual-bench fixtures shared by the hardware, CLI and model tests: one small device, two maps."""

from __future__ import annotations

import nwphys

#: Crosspoints of the routes of the 2600B map.
ROUTES = {"E00": "1A01", "E01": "1B02", "E11": "1C04"}

#: Three Keithley 2450s: the input, an output voltmeter and a ground, on three pads of a 2 x 2 Ag
#: device (``nwhil device generate --preset ag --wires 300 --size 50x50 --electrodes mea2x2``).
THREE_2450_MAP = {
    "instruments": {"s1": {"driver": "keithley2450"}, "s2": {"driver": "keithley2450"},
                    "s3": {"driver": "keithley2450"}},
    "electrodes": [
        {"name": "E00", "role": "input", "smu": "s1", "channel": None, "max_abs_V": 10.0,
         "compliance_A": 1e-3},
        {"name": "E10", "role": "output", "smu": "s2", "channel": None, "max_abs_V": 10.0},
        {"name": "E01", "role": "ground", "smu": "s3", "channel": None, "max_abs_V": 10.0,
         "compliance_A": 1e-3},
    ],
}

#: The argv of ``nwhil device generate`` for the Ag device the maps are drawn for (append ``-o``).
AG_DEVICE_ARGV = ["device", "generate", "--preset", "ag", "--wires", "300", "--size", "50x50",
                  "--electrodes", "mea2x2", "--seed", "3"]


def bench_network():
    """The 300-wire 2 x 2-pad network (default junctions, seed 3) of the hardware bench tests."""
    return nwphys.generate(n_wires=300, size_um=(50.0, 50.0), length_mean_um=12.0, length_std_um=2.0,
                           electrodes="mea2x2", seed=3)


def tsp_map() -> dict:
    """A 2600B (``a`` input E00, ``b`` ground E11), a 2450 voltmeter on E01, all routed by a 707B."""
    return {
        "instruments": {"smu": {"driver": "keithley2600"}, "vm": {"driver": "keithley2450"},
                        "mx": {"driver": "keithley707b"}},
        "electrodes": [
            {"name": "E00", "role": "input", "smu": "smu", "channel": "a", "route": [ROUTES["E00"]],
             "max_abs_V": 2.0, "compliance_A": 0.5},
            {"name": "E01", "role": "output", "smu": "vm", "channel": None, "route": [ROUTES["E01"]],
             "max_abs_V": 2.0},
            {"name": "E11", "role": "ground", "smu": "smu", "channel": "b", "route": [ROUTES["E11"]],
             "max_abs_V": 2.0, "compliance_A": 0.5},
        ],
    }
