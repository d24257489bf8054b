"""Memory capacity and NARMA-10: the electrode-only physical NW-ESN beside the abstract NW-ESN.

Both models use their defaults (the physical one on the default simulated device, electrode
readout, calibrated junction window, one reading per sample) with the same weak ridge readout
on the last sample (``features="last"``, ``ridge_alpha`` 1e-6) and the sizes of
:mod:`nwmodel.experiments.tasks` (951 windows of 50 samples per task,
chronological 70/30 split). Prints a markdown table and writes it with the rows as JSON::

    python benchmarks/study_tasks.py --out results/tasks
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nwmodel import NWESNRegressor, PhysicalReservoirRegressor, SimulatedDeviceSpec
from nwmodel.experiments.tasks import run_standard_tasks, tasks_markdown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/tasks")
    ap.add_argument("--ridge-alpha", type=float, default=1e-6)
    args = ap.parse_args()
    models = {
        "abstract NW-ESN": NWESNRegressor(
            features="last", standardize=False, ridge_alpha=args.ridge_alpha, random_state=0),
        "physical, electrodes (simulated)": PhysicalReservoirRegressor(
            SimulatedDeviceSpec(), features="last", ridge_alpha=args.ridge_alpha, random_state=0),
    }
    rows = run_standard_tasks(models, progress=False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = tasks_markdown(rows)
    (out / "tasks.md").write_text(table)
    (out / "tasks.json").write_text(json.dumps(rows, indent=1, default=float))
    print(table)


if __name__ == "__main__":
    main()
