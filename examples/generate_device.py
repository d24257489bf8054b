"""Generate a small virtual Ag nanowire device, save it, load it back and describe it.

Run: ``.venv/bin/python examples/generate_device.py [OUT_DIR]`` (a temporary folder by default).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from nwmodel.physical.reservoir import SimulatedDeviceSpec
from nwphys.io.devicefile import load_network, save_network


def main(out_dir: Path) -> None:
    # the default device of the comparison: 400 wires on 50 x 50 um, 4 x 4 pads in a chessboard,
    # NW-ESN kinetics with Ag conductances (12.9 MOhm off, 12.9 kOhm on), 1 mA compliance
    spec = SimulatedDeviceSpec()
    net = spec.network()
    path = save_network(net, out_dir / "device.h5", force=True)
    back = load_network(path)
    inputs, outputs, ground, probe = spec.roles()
    print(f"saved {path}")
    print(f"wires {back.n_wires}, junctions {back.n_junctions}, electrodes {back.n_electrodes}")
    print(f"inputs {inputs}, outputs {outputs}, ground {ground}, probed nodes {len(probe)}")
    print(f"junction model {back.junction_model}: {back.junction_params}")
    with spec() as device:  # a SimulatedDevice; 1 V on every input for 10 steps of 0.1 s
        m = device.apply(np.ones((10, len(device.input_names))), 0.1)
        print(f"output voltages after 1 s at 1 V: {np.round(m.output_V[-1], 4).tolist()} V")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
