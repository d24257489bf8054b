"""Test accuracy against the readout's feature set: abstract NW-ESN, physical reservoir, ESN.

Each model keeps its default reservoir (the physical one on the default simulated device,
``SimulatedDeviceSpec()``, electrode readout, calibrated junction window, one reading per 0.1 s
sample) and the ``tuned`` readout of :mod:`nwmodel.selection.protocols` (standardised features, ridge
strength by leave-one-out on the training split alone). For every seed, the reservoir is run once
per split and every feature set is fitted on the same trajectories
(:func:`nwmodel.models.readout.fit_readouts`), so the curves differ by the readout only. This is a study
of the readout, not a model selection: nothing is chosen on the test split. Ridge on the raw
series is the placement baseline. Prints a markdown table and writes it, the rows as JSON and the
plot::

    python benchmarks/study_readouts.py --dataset SyntheticControl --seeds 3 --out results/readouts
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nwmodel import (
    ESNClassifier,
    NWESNClassifier,
    PhysicalReservoirClassifier,
    SimulatedDeviceSpec,
    load_dataset,
)
from nwmodel.models.baselines import run_baselines
from nwmodel.models.readout import fit_readouts, predict_readouts

FEATURE_SETS: list[str | int] = ["last", 2, 4, 6, 10, 20, "all", "pooled"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="SyntheticControl")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--models", default="abstract,physical,esn")
    ap.add_argument("--out", default="results/readouts")
    args = ap.parse_args()
    ds = load_dataset(args.dataset)
    n_t = ds.X_train.shape[-1]
    sets = [f for f in FEATURE_SETS if isinstance(f, str) or f <= n_t]
    makers = {
        "abstract NW-ESN": lambda f, s: NWESNClassifier(features=f, random_state=s),
        "physical, electrodes": lambda f, s: PhysicalReservoirClassifier(
            SimulatedDeviceSpec(), features=f, random_state=s
        ),
        "ESN": lambda f, s: ESNClassifier(features=f, random_state=s),
    }
    keys = {"abstract": "abstract NW-ESN", "physical": "physical, electrodes", "esn": "ESN"}
    chosen = [keys[m] for m in args.models.split(",")]
    rows = []
    for name in chosen:
        t0 = time.perf_counter()
        acc = np.zeros((args.seeds, len(sets)))
        for s in range(args.seeds):
            ests = [makers[name](f, s) for f in sets]
            fit_readouts(ests, ds.X_train, ds.y_train)
            preds = predict_readouts(ests, ds.X_test)
            acc[s] = [np.mean(p == ds.y_test) for p in preds]
        wall = time.perf_counter() - t0
        rows.append({"model": name, "mean": acc.mean(0).tolist(), "std": acc.std(0).tolist(), "wall_s": wall})
        print(f"{name}: {wall:.0f} s", flush=True)
    ridge = run_baselines(ds.X_train, ds.y_train, ds.X_test, ds.y_test, task=ds.task, names=["ridge"])[
        "ridge"
    ]
    head = "| model | " + " | ".join(str(f) for f in sets) + " | wall (s) |"
    lines = [head, "|" + "---|" * (len(sets) + 2)]
    for r in rows:
        cells = [f"{m:.3f} ± {d:.3f}" for m, d in zip(r["mean"], r["std"], strict=True)]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | {r['wall_s']:.0f} |")
    lines.append(
        f"\nridge on the raw series: {ridge['test_mean']:.3f}; {args.dataset}, "
        f"{len(ds.y_train)}/{len(ds.y_test)} series, {args.seeds} seeds\n"
    )
    table = "\n".join(lines)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "readouts.md").write_text(table)
    (out / "readouts.json").write_text(
        json.dumps({"feature_sets": sets, "rows": rows, "ridge": ridge["test_mean"]}, indent=1)
    )
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(sets))
    for r in rows:
        ax.errorbar(x, r["mean"], yerr=r["std"], marker="o", capsize=3, label=r["model"])
    ax.axhline(ridge["test_mean"], color="grey", ls="--", label="ridge on the raw series")
    ax.set_xticks(x, [str(f) for f in sets])
    ax.set_xlabel("readout features (int: sample ends, last included)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{args.dataset}: tuned readout, {args.seeds} seeds, n = {len(ds.y_test)} test series")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "readouts.png", dpi=120)
    print(table)


if __name__ == "__main__":
    main()
