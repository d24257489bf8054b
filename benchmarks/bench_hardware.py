"""Per-step latency of the SCPI emulator over loopback: per-sample vs list vs block mode.

Device: a simulated 4x4 MEA (16 electrodes: 4 inputs, 11 outputs, 1 ground) served by
``hardware.serve_emulator`` on 127.0.0.1 and driven by ``hardware.EmulatedDevice`` through
PyVISA's pyvisa-py backend with TCP_NODELAY. The in-process ``SimulatedDevice`` time per step is
printed as the floor (the physics); "transport" is the difference. Target: list mode < 1 ms/step.

Usage: ``python benchmarks/bench_hardware.py [--quick]``. No peer package is compared here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (seconds)")
    args = ap.parse_args()
    import nwphys
    from hardware import EmulatedDevice, SimulatedDevice, StarDevice, serve_emulator

    net = nwphys.generate(n_wires=500, size_um=(60.0, 60.0), length_mean_um=12.0, length_std_um=2.0,
                          electrodes="mea4x4", seed=1)
    names = list(net.circuit().electrode_names)
    roles = dict(inputs=names[:4], outputs=names[4:15], ground=names[15:], compliance_A=1.0)
    n_steps = {"sample": 20 if args.quick else 200, "list": 200 if args.quick else 2000,
               "block": 2000 if args.quick else 20000}
    dt = 1e-3
    rng = np.random.default_rng(0)
    rows = []
    with SimulatedDevice(net, **roles) as sim:
        v = rng.uniform(-0.5, 0.5, (n_steps["block"], 4))
        t = time.perf_counter()
        sim.apply(v, dt)
        floor_ms = (time.perf_counter() - t) / len(v) * 1e3
    rows.append(("in-process SimulatedDevice", len(v), floor_ms, 0.0))
    for mode in ("sample", "list", "block"):
        with serve_emulator(SimulatedDevice(net, **roles)) as srv, EmulatedDevice(srv.port, mode=mode) as dev:
            v = rng.uniform(-0.5, 0.5, (n_steps[mode], 4))
            dev.apply(v[:5], dt)  # warm up the connection
            t = time.perf_counter()
            dev.apply(v, dt)
            ms = (time.perf_counter() - t) / len(v) * 1e3
        rows.append((f"emulated, {mode} mode", len(v), ms, ms - floor_ms))
    # transport alone: the same 16 channels on the hand-solvable StarDevice (physics ~0)
    star = StarDevice(names[:4], names[4:15], names[15:], compliance_A=1.0)
    with serve_emulator(star) as srv, EmulatedDevice(srv.port, mode="list") as dev:
        v = rng.uniform(-0.5, 0.5, (n_steps["list"], 4))
        dev.apply(v[:5], dt)
        t = time.perf_counter()
        dev.apply(v, dt)
        ms = (time.perf_counter() - t) / len(v) * 1e3
    rows.append(("emulated list, StarDevice", len(v), ms, ms))
    print(f"16-electrode mea4x4 device ({net.n_wires} wires, {net.n_junctions} junctions), loopback TCP")
    print(f"{'backend':<28}{'steps':>8}{'ms/step':>10}{'transport ms/step':>20}")
    for name, n, ms, tr in rows:
        print(f"{name:<28}{n:>8}{ms:>10.4f}{tr:>20.4f}")
    lst = rows[2][2]
    print("(transport = ms/step minus the in-process floor; the StarDevice row has no physics)")
    print(f"list mode target < 1 ms/step: {'met' if lst < 1.0 else 'NOT met'} ({lst:.3f} ms/step)")


if __name__ == "__main__":
    main()
