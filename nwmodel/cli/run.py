"""``nwhil run``: a reservoir or RNN model on a dataset with the paper's selection protocol.

Writes ``run_<model>_<dataset>_<grid>.json`` into ``-o DIR`` and refuses to replace an existing
one without ``--force``. The dataset name, the result file and the torch device are checked
before the model code (sklearn, torch) loads.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from . import CLIError
from ._common import (
    _default,
    add_force,
    check_dataset_names,
    check_output_dir,
    check_output_path,
    nonneg_int,
    positive_int,
    print_json,
    resolve_data_dir,
    write_text_atomic,
)

#: Models of ``--model``; the same as :data:`nwmodel.selection.MODELS` (kept here so that parsing
#: does not import the models; a test checks that the two agree).
MODELS: tuple[str, ...] = ("nwesn", "esn", "nwrnn", "rnn")


def torch_device(text: str) -> str:
    """argparse ``type=`` for ``--device``: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if re.fullmatch(r"cpu|cuda(:\d+)?|mps", text):
        return text
    raise argparse.ArgumentTypeError(f"expected a torch device cpu, cuda, cuda:N or mps, got {text!r}")


def _check_torch_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError(f"--device {device}: CUDA is not available to this torch ({torch.__version__})")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        raise CLIError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise CLIError("--device mps: MPS is not available to this torch")


def _run(args: argparse.Namespace) -> int:
    if args.max_epochs is not None and args.model not in ("nwrnn", "rnn"):
        raise CLIError("--max-epochs applies to --model nwrnn or rnn only")
    data_dir = resolve_data_dir(args.data_dir)
    check_dataset_names([args.dataset], data_dir)
    out_dir = check_output_dir(args.output)
    path = check_output_path(out_dir / f"run_{args.model}_{args.dataset}_{args.grid}.json", args.force)
    if args.threads is not None or args.device != "cpu":
        import torch

        if args.threads is not None:
            torch.set_num_threads(args.threads)
        _check_torch_device(args.device)

    from nwmodel.datasets import load_dataset
    from nwmodel.selection import GRIDS, EstimatorFactory, select_and_test

    ds = load_dataset(args.dataset, data_dir=data_dir, seed=args.data_seed)
    if ds.X_test is None:
        raise CLIError(f"dataset {args.dataset!r} has no test split")
    grid = GRIDS[args.model][args.grid]
    fixed: dict = {"device": args.device}
    if args.model in ("nwesn", "esn") and args.device != "cpu":
        fixed["backend"] = "torch"
    if args.max_epochs is not None:
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
    write_text_atomic(path, json.dumps(record, indent=2, default=_default) + "\n")
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
    parser.add_argument("--model", required=True, choices=MODELS, help="model to run")
    parser.add_argument("--dataset", required=True, help="dataset name (file, aeon bundled or generator)")
    parser.add_argument(
        "--data-dir", default=None, help="data directory (default $NWHIL_DATA, else ../shared/data "
        "beside the source checkout, else the per-user data folder)"
    )
    parser.add_argument("--grid", choices=("paper", "quick"), default="quick", help="hyperparameter grid")
    parser.add_argument("--seeds", type=positive_int, default=5, help="random reservoirs per configuration")
    parser.add_argument(
        "--device", type=torch_device, default="cpu",
        help="torch device: cpu, cuda, cuda:N or mps (reservoirs use torch off cpu)",
    )
    parser.add_argument(
        "--threads", type=positive_int, default=None,
        help="torch intra-op threads (default: torch's own choice)",
    )
    parser.add_argument("--max-epochs", type=positive_int, default=None,
                        help="override max epochs (nwrnn/rnn)")
    parser.add_argument("--data-seed", type=nonneg_int, default=0, help="seed of generated datasets")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("-o", "--output", default="results", help="directory for the result JSON")
    add_force(parser, "an existing result file")
    parser.set_defaults(func=_run)
