r"""Electrode-count study: electrode-only physical NW-ESN accuracy against the number of pads.

For each pad array the same protocol as ``nwhil compare`` runs one simulated cell on
SyntheticControl (80/20 selection split inside the training set, refit + test per seed) with the
electrode readout, the calibrated junction window and ``n_virtual`` virtual nodes. The devices
keep the default wire density (0.16 wires per um^2, 10 +- 1 um wires, Ag junctions, 1 mA
compliance); arrays up to 4 x 4 use the default 50 x 50 um area, larger ones a 100 x 100 um area.
Roles: chessboard (corner pads ground) from 3 x 3 up, and for 2 x 2 one input, two outputs and one
ground on the diagonal. The junction-rule calibration runs with ``on_compliance="scale"``: where
the top of the junction window would draw more than 95 % of the 1 mA compliance, the whole drive
is scaled down, and the table reports the scale (1 = the full window).

``--reference-series N`` also checks that the numerics are converged on each device at the
study's operating point: the features of ``N`` training series (the calibrated drive,
``n_virtual`` virtual nodes, ``random_state`` 0) at the device tolerances against a tight
reference (``rtol`` 1e-6, ``atol`` 1e-7), as the largest ``|F - F_ref|`` over the spread of that
feature across the ``N`` series (column "feature error / spread"; the default device is held to
1e-3 by ``tests/nwmodel/test_stiff_reservoir.py``).

Run (prints a markdown table, writes ``electrode_count.{md,png,json}`` to ``--out``)::

    python benchmarks/study_electrodes.py --layouts mea2x2,mea3x3,mea4x4,mea6x6,mea8x8 \
        --max-train 60 --max-test 60 --seeds 1 --out results/electrode_count
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from nwmodel.experiments.compare import run_cell
from nwmodel.physical.calibration import calibrate_drive
from nwmodel.physical.reservoir import SimulatedDeviceSpec
from nwphys import pad_grid

#: layout -> SimulatedDeviceSpec keywords
DEVICES = {
    "mea2x2": {"role_pattern": (("E00", "input"), ("E01", "output"), ("E10", "output"), ("E11", "ground"))},
    "mea3x3": {},
    "mea4x4": {},
    "mea6x6": {"n_wires": 1600, "size_um": (100.0, 100.0)},
    # 2 um pads on a 12.5 um pitch: larger pads short two pads through one wire, smaller ones
    # miss wires; device seed 3 is the first that connects every pad without a short
    "mea8x8": {"n_wires": 1600, "size_um": (100.0, 100.0), "device_seed": 3,
               "electrodes": pad_grid((100.0, 100.0), 8, 8, pad_um=2.0)},
}


def _device(layout: str, device_seed: int) -> tuple[SimulatedDeviceSpec, object]:
    """The study's device for ``layout`` and its junction-rule calibration (compliance-scaled)."""
    kw = {"electrodes": layout, "device_seed": device_seed, **DEVICES.get(layout, {})}
    spec = SimulatedDeviceSpec(**kw)
    dev = spec()
    try:
        return spec, calibrate_drive(dev, rule="junction", on_compliance="scale")
    finally:
        dev.close()


def _reference_error(spec: SimulatedDeviceSpec, cal: object, n_virtual: int, n_series: int,
                     dataset: str) -> float:
    """Largest feature error at the device tolerances over its spread across ``n_series`` series,
    against a tight reference (``rtol`` 1e-6, ``atol`` 1e-7) of the same device and drive."""
    import dataclasses

    import numpy as np

    from nwmodel import PhysicalReservoirClassifier, load_dataset
    from nwmodel.physical.reservoir import physical_features

    ds = load_dataset(dataset, data_dir=os.environ.get("NWHIL_DATA"))
    pick = np.linspace(0, len(ds.y_train) - 1, n_series).round().astype(int)  # spread over the file
    X, y = ds.X_train[pick], ds.y_train[pick]
    kw = {**dict(spec.device_kwargs), "rtol": 1e-6, "atol": 1e-7}
    tight = dataclasses.replace(spec, device_kwargs=tuple(kw.items()))
    est = PhysicalReservoirClassifier(spec, calibration=cal, n_virtual=n_virtual, random_state=0)
    enc = est.fit(X, y).encoding_
    feats = []
    for s in (spec, tight):
        dev = s()
        try:
            feats.append(physical_features(dev, enc, X))
        finally:
            dev.close()
    F, R = feats
    spread = R.std(axis=0)
    return float(np.max(np.abs(F - R)[:, spread > 0] / spread[spread > 0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layouts", default="mea2x2,mea3x3,mea4x4")
    ap.add_argument("--dataset", default="SyntheticControl")
    ap.add_argument("--max-train", type=int, default=60)
    ap.add_argument("--max-test", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--n-virtual", type=int, default=5)
    ap.add_argument("--device-seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="results/electrode_count")
    ap.add_argument("--reference-series", type=int, default=0,
                    help="series of the convergence check against a tight reference (0: none)")
    ap.add_argument("--reference-only", action="store_true",
                    help="only the convergence check (with --reference-series), no accuracy cell")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.reference_only:
        if not args.reference_series:
            ap.error("--reference-only needs --reference-series N (N >= 2)")
        checks = {}
        for layout in args.layouts.split(","):
            t0 = time.perf_counter()
            spec, cal = _device(layout, args.device_seed)
            err = _reference_error(spec, cal, args.n_virtual, args.reference_series, args.dataset)
            checks[layout] = {"feature_error_over_spread": err, "wall_time_s": time.perf_counter() - t0}
            print(f"{layout}: max |F - F_ref| / spread = {err:.2e} "
                  f"({args.reference_series} series, {checks[layout]['wall_time_s']:.0f} s)", flush=True)
        (out / "reference_check.json").write_text(json.dumps(checks, indent=1))
        return
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        for layout in args.layouts.split(","):
            t0 = time.perf_counter()
            spec, cal = _device(layout, args.device_seed)
            inputs, outputs, ground, _ = spec.roles()
            grid = {"n_virtual": [args.n_virtual], "calibration": [cal]}
            cell = run_cell(args.dataset, "simulated", grids={"simulated": grid},
                            n_seeds=args.seeds, device=spec, max_train=args.max_train,
                            max_test=args.max_test, mapper=pool.map,
                            data_dir=os.environ.get("NWHIL_DATA"))
            rows.append({"layout": layout, "n_electrodes": len(inputs) + len(outputs) + len(ground),
                         "inputs": len(inputs), "outputs": len(outputs), "ground": len(ground),
                         "n_features": (len(inputs) + len(outputs) + len(ground)) * args.n_virtual,
                         "n_wires": spec.n_wires, "size_um": list(spec.size_um),
                         "test_mean": cell.test_mean, "test_std": cell.test_std,
                         "electrode_window_V": cell.config["calibration"]["electrode_window_V"],
                         "compliance_scale": cell.config["calibration"]["compliance_scale"],
                         "max_input_current_A": max(cell.config["calibration"]["verify_current_A"]),
                         "wall_time_s": time.perf_counter() - t0})
            if args.reference_series:
                rows[-1]["feature_error_over_spread"] = _reference_error(
                    spec, cal, args.n_virtual, args.reference_series, args.dataset
                )
            print(rows[-1], flush=True)
    ref = bool(args.reference_series)
    lines = ["| pads | inputs / outputs / ground | features | wires, area | accuracy "
             "| electrode window (V) | drive scale | top current (mA) | wall (s) |"
             + (" feature error / spread |" if ref else ""),
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if ref else "")]
    for r in rows:
        lo, hi = r["electrode_window_V"]
        lines.append(f"| {r['n_electrodes']} | {r['inputs']} / {r['outputs']} / {r['ground']} "
                     f"| {r['n_features']} | {r['n_wires']}, {r['size_um'][0]:g} x {r['size_um'][1]:g} um "
                     f"| {r['test_mean']:.3f} ± {r['test_std']:.3f} | {lo:.2f}..{hi:.2f} "
                     f"| {r['compliance_scale']:.2f} | {1e3 * r['max_input_current_A']:.2f} "
                     f"| {r['wall_time_s']:.0f} |"
                     + (f" {r['feature_error_over_spread']:.1e} |" if ref else ""))
    table = "\n".join(lines) + "\n"
    (out / "electrode_count.md").write_text(table)
    (out / "electrode_count.json").write_text(json.dumps(rows, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    n = [r["n_electrodes"] for r in rows]
    ax.errorbar(n, [r["test_mean"] for r in rows], yerr=[r["test_std"] for r in rows], marker="o", capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_xticks(n, [str(v) for v in n])
    ax.set_xlabel("electrodes (pads)")
    ax.set_ylabel(f"{args.dataset} test accuracy")
    ax.set_title("electrode-only physical NW-ESN", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "electrode_count.png", dpi=120)
    print(table)


if __name__ == "__main__":
    main()
