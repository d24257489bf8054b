"""Robustness of the physical reservoir to junction noise, junction variability and noisy features.

One protocol and one readout everywhere: a :class:`~nwmodel.PhysicalReservoirClassifier` with its
default parameters (electrode readout, calibrated junction window, one reading per 0.1 s sample,
``features="pooled"``, standardised features, ridge strength by leave-one-out on the training
split) is fitted on the training split and scored on the test split; nothing is selected. The
device is the default simulated device (``SimulatedDeviceSpec()``: 400 wires, 1699 junctions,
NW-ESN kinetics with Ag conductances) with the junctions of each condition:

``deterministic``
    the default junctions (``"rate_balance"``);
``noise 1x``
    stochastic junctions (``"rate_balance_ou"``) with the kinetics of the default device and the
    published noise (:data:`nwphys.junctions.MILANO2025_NOISE`: sigma 3.2e-4 /sqrt(s), jumps at
    0.082 /s per junction, exponent 2.78 on [1e-3, 1]), one noise sub-step per sample (the
    device's default ``noise_substeps``);
``noise 10x``
    the same with ten times the published sigma and jump rate (exponent unchanged);
``spread 0.1``, ``spread 0.3``
    deterministic junctions with device-to-device variability
    (``SimulatedDevice(junction_spread=...)``: every kinetic parameter and the conductance pair
    scaled per junction by ``exp(spread z)``);
``clean -> noise 1x``, ``clean -> noise 10x``
    the estimator fitted on the deterministic device (its calibration, encoding and readout)
    scores the test split driven on the stochastic device: a readout trained on clean features
    and tested on noisy ones, against the ``noise`` rows, trained and tested on noisy features.
    For these rows the study also records how far the noise moves each feature: the RMS over the
    test series of (noisy - clean) standardised feature, in units of the feature's standard
    deviation over the training series (the clean readout's own scale), printed as the median
    and the largest over the 48 pooled features (last, mean and std of each of the 16 readings).

Seeds: study seed ``s`` is the estimator's ``random_state`` (input weights and bias) and picks
the device. A deterministic device has device seed ``s`` for both splits (it fixes the junctions
of a ``spread`` row; no noise is drawn). A stochastic device drives the training and the test
split with different noise seeds (``SeedSequence((s, split))``), so no test series shares its
noise path with a training series (SyntheticControl's files are sorted by class: shared paths
would carry the label). ``--conditions`` picks the fitted rows (a ``clean ->`` row runs for each
stochastic row picked together with ``deterministic``) and ``--noise-substeps N`` sets the
split-step sub-steps per sample of the stochastic rows. The majority class and ridge on the raw series
(:func:`nwmodel.models.baselines.run_baselines`) stand beside the rows. ``--max-train`` and
``--max-test`` cap a dataset's splits by seeded stratified subsamples. Prints progress to stderr
and a markdown table to stdout; writes the results as JSON to ``--out`` (refused if it exists,
unless ``--force``). The run of ``docs/results/robustness.md`` (about 25 minutes on one core)::

    OMP_NUM_THREADS=1 python benchmarks/study_robustness.py --datasets SyntheticControl,ECG5000 \\
        --seeds 3 --max-train ECG5000=120 --max-test ECG5000=100 --out results/robustness.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from nwmodel import PhysicalReservoirClassifier, SimulatedDeviceSpec, load_dataset
from nwmodel.models.baselines import run_baselines
from nwphys.junctions import MILANO2025_NOISE

#: Order of the rows of the table.
ROWS = (
    "deterministic",
    "noise 1x",
    "noise 10x",
    "spread 0.1",
    "spread 0.3",
    "clean -> noise 1x",
    "clean -> noise 10x",
)


@dataclass(frozen=True)
class Condition:
    """The junctions of one device of the study.

    Attributes
    ----------
    name : str
        Row name.
    noise_factor : float
        0: deterministic junctions; else the published sigma and jump rate times this factor.
    spread : float
        ``junction_spread`` of the device (dimensionless log-std, >= 0).
    """

    name: str
    noise_factor: float = 0.0
    spread: float = 0.0

    def spec(self, device_seed: int, noise_substeps: int = 1) -> SimulatedDeviceSpec:
        """The device factory of this condition with the given device seed (and, for stochastic
        junctions, split-step sub-steps per sample)."""
        base = SimulatedDeviceSpec()
        kw = {**dict(base.device_kwargs), "seed": int(device_seed)}
        if self.noise_factor != 0.0 and noise_substeps != 1:
            kw["noise_substeps"] = int(noise_substeps)
        if self.spread > 0.0:
            kw["junction_spread"] = float(self.spread)
        if self.noise_factor == 0.0:
            return SimulatedDeviceSpec(device_kwargs=tuple(kw.items()))
        noise = {
            **MILANO2025_NOISE,
            "sigma_per_sqrt_s": self.noise_factor * MILANO2025_NOISE["sigma_per_sqrt_s"],
            "jump_rate_per_s": self.noise_factor * MILANO2025_NOISE["jump_rate_per_s"],
        }
        return SimulatedDeviceSpec(
            junction_params=(*base.junction_params, *noise.items()),
            generate_kwargs=(("junction_model", "rate_balance_ou"),),
            device_kwargs=tuple(kw.items()),
        )

    def device_seeds(self, seed: int) -> tuple[int, int]:
        """Device seeds of the training and the test split for study seed ``seed``."""
        if self.noise_factor == 0.0:
            return seed, seed
        train, test = (int(np.random.SeedSequence((seed, k)).generate_state(1)[0]) for k in (0, 1))
        return train, test


#: The fitted conditions (the ``clean ->`` rows reuse the deterministic fit).
CONDITIONS = (
    Condition("deterministic"),
    Condition("noise 1x", noise_factor=1.0),
    Condition("noise 10x", noise_factor=10.0),
    Condition("spread 0.1", spread=0.1),
    Condition("spread 0.3", spread=0.3),
)


def _subsample(X: np.ndarray, y: np.ndarray, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified subsample of ``n`` series (all when n is None or not smaller)."""
    if n is None or n >= X.shape[0]:
        return X, y
    from sklearn.model_selection import train_test_split

    Xs, _, ys, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=seed)
    return Xs, ys


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def feature_names() -> list[str]:
    """Names of the pooled electrode features of the default device, in the readout's order."""
    inputs, outputs, ground, _ = SimulatedDeviceSpec().roles()
    readings = [f"V {e}" for e in outputs] + [f"I {e}" for e in [*inputs, *ground]]
    return [f"{stat}({r})" for stat in ("last", "mean", "std") for r in readings]


def _accuracy(est: PhysicalReservoirClassifier, F: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of the fitted readout of ``est`` on standardised features ``F``."""
    return float(np.mean(est.readout_.predict(F) == y))


def run_dataset(name: str, seeds: int, max_train: int | None, max_test: int | None,
                conditions: tuple[Condition, ...] = CONDITIONS, noise_substeps: int = 1) -> dict[str, Any]:
    """The rows of ``conditions`` on one dataset: accuracies per seed, wall times per row and the
    feature shifts of the ``clean ->`` rows (those whose two conditions both ran)."""
    ds = load_dataset(name)
    Xtr, ytr = _subsample(np.asarray(ds.X_train), np.asarray(ds.y_train), max_train, 0)
    Xte, yte = _subsample(np.asarray(ds.X_test), np.asarray(ds.y_test), max_test, 1)
    _log(f"{name}: {len(ytr)} train / {len(yte)} test series of {Xtr.shape[-1]} samples")
    names = {c.name for c in conditions}
    clean_rows = [(f"clean -> {c.name}", c.name) for c in conditions
                  if c.noise_factor != 0.0 and "deterministic" in names]
    rows = [r for r in ROWS if r in names or r in dict(clean_rows)]
    acc: dict[str, list[float]] = {r: [] for r in rows}
    wall: dict[str, float] = dict.fromkeys(rows, 0.0)
    shift: dict[str, list[list[float]]] = {}
    by_name = {c.name: c for c in conditions}
    for s in range(seeds):
        fitted: dict[str, tuple[PhysicalReservoirClassifier, np.ndarray]] = {}
        for cond in conditions:
            t0 = time.perf_counter()
            train_seed, test_seed = cond.device_seeds(s)
            est = PhysicalReservoirClassifier(cond.spec(train_seed, noise_substeps), random_state=s)
            est.fit(Xtr, ytr)
            est.set_params(device=cond.spec(test_seed, noise_substeps))
            F = est.transform(Xte)
            acc[cond.name].append(_accuracy(est, F, yte))
            wall[cond.name] += time.perf_counter() - t0
            fitted[cond.name] = (est, F)
            _log(f"  seed {s} {cond.name}: {acc[cond.name][-1]:.3f} ({time.perf_counter() - t0:.0f} s)")
        for row, noisy in clean_rows:
            clean, F_clean = fitted["deterministic"]
            t0 = time.perf_counter()
            clean.set_params(device=by_name[noisy].spec(by_name[noisy].device_seeds(s)[1], noise_substeps))
            F_noisy = clean.transform(Xte)
            acc[row].append(_accuracy(clean, F_noisy, yte))
            shift.setdefault(row, []).append(np.sqrt(np.mean((F_noisy - F_clean) ** 2, axis=0)).tolist())
            wall[row] += time.perf_counter() - t0
            _log(f"  seed {s} {row}: {acc[row][-1]:.3f} ({time.perf_counter() - t0:.0f} s)")
    base = run_baselines(Xtr, ytr, Xte, yte, task=ds.task, names=["majority", "ridge"], n_seeds=1)
    return {
        "dataset": name,
        "notes": ds.notes,
        "n_train": len(ytr),
        "n_test": len(yte),
        "n_timepoints": int(Xtr.shape[-1]),
        "max_train": max_train,
        "max_test": max_test,
        "accuracy": acc,
        "wall_s": wall,
        "feature_names": feature_names(),
        "feature_shift": shift,
        "majority": float(base["majority"]["test_mean"]),
        "ridge": float(base["ridge"]["test_mean"]),
    }


def table(results: list[dict[str, Any]]) -> str:
    """Markdown table: one row per condition, one column per dataset (mean ± std over seeds)."""
    heads = [f"{r['dataset']} ({r['n_train']}/{r['n_test']})" for r in results]
    lines = ["| condition | " + " | ".join(heads) + " | wall (s) |", "|" + "---|" * (len(results) + 2)]
    for row in results[0]["accuracy"]:
        cells = [f"{np.mean(r['accuracy'][row]):.3f} ± {np.std(r['accuracy'][row]):.3f}" for r in results]
        w = sum(r["wall_s"][row] for r in results)
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {w:.0f} |")
    for base in ("majority", "ridge"):
        label = "majority class" if base == "majority" else "ridge on the raw series"
        lines.append(f"| {label} | " + " | ".join(f"{r[base]:.3f}" for r in results) + " | |")
    return "\n".join(lines) + "\n"


def shift_table(results: list[dict[str, Any]]) -> str:
    """Markdown table of the feature shifts of the ``clean ->`` rows (training-std units, mean over
    seeds): the median over the features and the largest, with its feature."""
    lines = ["| dataset | row | median shift | largest shift | largest in |", "|---|---|---|---|---|"]
    for r in results:
        for row, per_seed in r["feature_shift"].items():
            m = np.mean(np.asarray(per_seed), axis=0)
            k = int(np.argmax(m))
            lines.append(
                f"| {r['dataset']} | {row} | {np.median(m):.2f} | {m[k]:.2f} | {r['feature_names'][k]} |"
            )
    return "\n".join(lines) + "\n"


def _cap(text: str) -> dict[str, int]:
    """``"ECG5000=200,Other=100"`` -> ``{"ECG5000": 200, "Other": 100}``."""
    out: dict[str, int] = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if not name or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"caps must be NAME=N with an integer N >= 1, got {item!r}")
        out[name] = int(value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="SyntheticControl,ECG5000")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-train", default="", help="stratified caps of the training split, NAME=N,...")
    ap.add_argument("--max-test", default="", help="stratified caps of the test split, NAME=N,...")
    ap.add_argument("--out", default="results/robustness.json", help="JSON file of the results")
    ap.add_argument("--force", action="store_true", help="overwrite --out")
    ap.add_argument("--conditions", default=",".join(c.name for c in CONDITIONS),
                    help="the fitted conditions to run, comma-separated (default: all)")
    ap.add_argument("--noise-substeps", type=int, default=1,
                    help="split-step sub-steps per sample of the stochastic conditions (default 1)")
    args = ap.parse_args()
    known = {c.name: c for c in CONDITIONS}
    picked = [t.strip() for t in args.conditions.split(",") if t.strip()]
    if not picked or any(t not in known for t in picked) or args.noise_substeps < 1:
        raise SystemExit(f"--conditions takes names of {', '.join(known)} and --noise-substeps N >= 1")
    conditions = tuple(known[t] for t in picked)
    if args.seeds < 1:
        raise SystemExit(f"--seeds must be >= 1, got {args.seeds}")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise SystemExit(f"{str(out)!r} exists; pass --force to overwrite it")
    max_train, max_test = _cap(args.max_train), _cap(args.max_test)
    t0 = time.perf_counter()
    results = [
        run_dataset(name, args.seeds, max_train.get(name), max_test.get(name), conditions,
                    args.noise_substeps)
        for name in args.datasets.split(",")
    ]
    wall = time.perf_counter() - t0
    md = table(results)
    shifts = shift_table(results)
    print(md)
    print(shifts)
    print(f"{args.seeds} seeds; total wall {wall:.0f} s")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "command": " ".join(sys.argv),
                "date": date.today().isoformat(),
                "machine": platform.platform(),
                "seeds": args.seeds,
                "rows": list(results[0]["accuracy"]),
                "noise_substeps": args.noise_substeps,
                "results": results,
                "wall_s": wall,
                "table": md,
                "shift_table": shifts,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
