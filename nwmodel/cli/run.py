"""``nwhil run``: a reservoir or RNN model on a dataset with the paper's selection protocol."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import CLIError
from ._common import _default, positive_int, print_json


def _run(args: argparse.Namespace) -> int:
    from nwmodel.datasets import load_dataset
    from nwmodel.selection import GRIDS, EstimatorFactory, select_and_test

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    ds = load_dataset(args.dataset, data_dir=args.data_dir, seed=args.data_seed)
    if ds.X_test is None:
        raise CLIError(f"dataset {args.dataset!r} has no test split")
    grid = GRIDS[args.model][args.grid]
    fixed: dict = {"device": args.device}
    if args.model in ("nwesn", "esn") and args.device != "cpu":
        fixed["backend"] = "torch"
    if args.max_epochs is not None:
        if args.model not in ("nwrnn", "rnn"):
            raise CLIError("--max-epochs applies to --model nwrnn or rnn only")
        grid = {**grid, "max_epochs": [args.max_epochs]}
    factory = EstimatorFactory(args.model, ds.task, fixed)
    res = select_and_test(
        factory,
        grid,
        ds.X_train,
        ds.y_train,
        ds.X_test,
        ds.y_test,
        task=ds.task,
        n_seeds=args.seeds,
        progress=not args.no_progress,
    )
    record = {
        "model": args.model,
        "dataset": ds.name,
        "task": ds.task,
        "grid": args.grid,
        "seeds": args.seeds,
        "device": args.device,
        "dataset_notes": ds.notes,
        "n_train": len(ds.y_train),
        "n_test": len(ds.y_test),
        **res.to_dict(),
    }
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"run_{args.model}_{ds.name}_{args.grid}.json"
    path.write_text(json.dumps(record, indent=2, default=_default) + "\n")
    if args.json:
        print_json(record)
    else:
        print(
            f"model {args.model} on {ds.name} ({ds.task}, {args.grid} grid, {res.n_configs} configs "
            f"x {args.seeds} seeds, {res.wall_time_s:.1f} s)"
        )
        if ds.notes and "split" in ds.notes:
            print(f"note: {ds.notes}")
        print(f"best configuration: {res.best_params}")
        print(f"validation {res.metric}: {res.val_score:.4f}")
        print(f"test {res.metric}: {res.test_mean:.4f} +- {res.test_std:.4f} (over {args.seeds} seeds)")
        if res.failures:
            print(f"{len(res.failures)} configurations failed and were excluded", file=sys.stderr)
        print(f"saved {path}")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``run`` command on ``parser``."""
    from nwmodel.selection import MODELS

    parser.add_argument("--model", required=True, choices=MODELS, help="model to run")
    parser.add_argument("--dataset", required=True, help="dataset name (file, aeon bundled or generator)")
    parser.add_argument(
        "--data-dir", default=None, help="data directory (default $NWHIL_DATA or per-user dir)"
    )
    parser.add_argument("--grid", choices=("paper", "quick"), default="quick", help="hyperparameter grid")
    parser.add_argument("--seeds", type=positive_int, default=5, help="random reservoirs per configuration")
    parser.add_argument(
        "--device", default="cpu", help="torch device: cpu or cuda (reservoirs use torch off cpu)"
    )
    parser.add_argument(
        "--threads", type=positive_int, default=None,
        help="torch intra-op threads (default: torch's own choice)",
    )
    parser.add_argument("--max-epochs", type=int, default=None, help="override max epochs (nwrnn/rnn)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of generated datasets")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("-o", "--output", default="results", help="directory for the result JSON")
    parser.set_defaults(func=_run)
