"""Per-step latency of the SCPI emulator over loopback: per-sample vs list vs block mode.

Device: a simulated 4x4 MEA (16 electrodes: 4 inputs, 11 outputs, 1 ground) served by
``hardware.serve_emulator`` on 127.0.0.1 and driven by ``hardware.EmulatedDevice`` through
PyVISA's pyvisa-py backend with TCP_NODELAY. Two in-process floors are printed: the physics of a
whole sequence in one ``SimulatedDevice.apply`` call, and one ``apply`` call per step (what list
mode asks of the served device); "transport" is the list/sample/block time minus the per-call
floor for list and sample mode, minus the block floor for block mode. The StarDevice row (a
hand-solvable star network, physics ~0) is the transport alone. Target: list mode < 1 ms/step.

Every row is timed ``--repeat`` times; the table gives the best (least disturbed by other load on
the machine) and the median ms/step. Compare runs only when taken under the same load.

Usage: ``python benchmarks/bench_hardware.py [--quick] [--repeat N]``. No peer package is compared
here (there is no other SCPI emulator of a nanowire network to compare with).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np


def _time_ms(run: Callable[[np.ndarray], object], v: np.ndarray, repeat: int,
             per_step: bool) -> tuple[list[float], float]:
    """Wall ms/step of ``run`` over ``v``, ``repeat`` times (one call per step when ``per_step``),
    and the least process CPU ms/step (client and server threads together)."""
    out, cpu = [], []
    for _ in range(repeat):
        c = time.process_time()
        t = time.perf_counter()
        if per_step:
            for k in range(v.shape[0]):
                run(v[k:k + 1])
        else:
            run(v)
        out.append((time.perf_counter() - t) / v.shape[0] * 1e3)
        cpu.append((time.process_time() - c) / v.shape[0] * 1e3)
    return out, min(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (seconds)")
    ap.add_argument("--repeat", type=int, default=None, help="timings per row (default 5, quick 3)")
    args = ap.parse_args()
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 5)
    if repeat < 1:
        ap.error(f"--repeat must be >= 1, got {repeat}")
    import nwphys
    from hardware import EmulatedDevice, SimulatedDevice, StarDevice, serve_emulator

    net = nwphys.generate(n_wires=500, size_um=(60.0, 60.0), length_mean_um=12.0, length_std_um=2.0,
                          electrodes="mea4x4", seed=1)
    names = list(net.circuit().electrode_names)
    roles = dict(inputs=names[:4], outputs=names[4:15], ground=names[15:], compliance_A=1.0)
    n_steps = {"sample": 20 if args.quick else 100, "list": 200 if args.quick else 1000,
               "block": 2000 if args.quick else 10000}
    dt = 1e-3
    rng = np.random.default_rng(0)
    rows: list[tuple[str, int, tuple[list[float], float], float]] = []
    with SimulatedDevice(net, **roles) as sim:
        v = rng.uniform(-0.5, 0.5, (n_steps["block"], 4))
        block_floor = _time_ms(lambda x: sim.apply(x, dt), v, repeat, per_step=False)
        rows.append(("in-process, one call", len(v), block_floor, 0.0))
        block_floor = block_floor[0]
        v = rng.uniform(-0.5, 0.5, (n_steps["list"], 4))
        step_floor = _time_ms(lambda x: sim.apply(x, dt), v, repeat, per_step=True)
        rows.append(("in-process, call per step", len(v), step_floor, 0.0))
        step_floor = step_floor[0]
    floors = {"sample": min(step_floor), "list": min(step_floor), "block": min(block_floor)}
    for mode in ("sample", "list", "block"):
        with serve_emulator(SimulatedDevice(net, **roles)) as srv, EmulatedDevice(srv.port, mode=mode) as dev:
            v = rng.uniform(-0.5, 0.5, (n_steps[mode], 4))
            dev.apply(v[:5], dt)  # warm up the connection
            ms = _time_ms(lambda x, d=dev: d.apply(x, dt), v, repeat, per_step=False)
        rows.append((f"emulated, {mode} mode", len(v), ms, min(ms[0]) - floors[mode]))
    # transport alone: the same 16 channels on the hand-solvable StarDevice (physics ~0)
    star = StarDevice(names[:4], names[4:15], names[15:], compliance_A=1.0)
    with serve_emulator(star) as srv, EmulatedDevice(srv.port, mode="list") as dev:
        v = rng.uniform(-0.5, 0.5, (n_steps["list"], 4))
        dev.apply(v[:5], dt)
        ms = _time_ms(lambda x: dev.apply(x, dt), v, repeat, per_step=False)
    rows.append(("emulated list, StarDevice", len(v), ms, min(ms[0])))
    print(f"16-electrode mea4x4 device ({net.n_wires} wires, {net.n_junctions} junctions), loopback TCP, "
          f"best and median of {repeat}")
    print(f"{'backend':<28}{'steps':>8}{'best ms/step':>14}{'median':>10}{'transport (best)':>18}"
          f"{'CPU ms/step':>13}")
    for name, n, (ms, cpu), tr in rows:
        print(f"{name:<28}{n:>8}{min(ms):>14.4f}{float(np.median(ms)):>10.4f}{tr:>18.4f}{cpu:>13.4f}")
    lst = rows[3][2][0]
    print("(transport = best ms/step minus the best in-process floor of the same call pattern; "
          "the StarDevice row has no physics; CPU = least process CPU time per step, client and "
          "server threads together, the figure least disturbed by other load)")
    print(f"list mode target < 1 ms/step: {'met' if min(lst) < 1.0 else 'NOT met'} "
          f"(best {min(lst):.3f}, median {float(np.median(lst)):.3f} ms/step)")


if __name__ == "__main__":
    main()
