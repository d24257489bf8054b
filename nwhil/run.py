"""``nwhil run``: a reservoir or RNN model on a dataset with the paper's selection protocol.

``--protocol`` sets the readout (:mod:`nwmodel.selection.protocols`): ``tuned`` (default) standardises the
reservoir features, chooses the ridge strength by leave-one-out on the fitting data and adds the
readout feature sets to the grid; ``paper`` is the published protocol (last state, ridge alpha 1)
and reproduces the published table. The trainable models (``nwrnn``, ``rnn``) are the same under
both.

Writes ``run_<model>_<dataset>_<grid>.json`` (``..._tuned.json`` for a reservoir under the tuned
protocol) into ``-o DIR`` and refuses to replace an existing
one without ``--force``. The dataset name, the result file and the torch device are checked
before the model code (sklearn, torch) loads.

While the selection runs, every finished fit (or stack of fits) is appended to the journal
``run_<model>_<dataset>_<grid>.journal.jsonl`` beside the result file (see
:func:`nwmodel.select_and_test`). Running the same command again after a kill, a crash or Ctrl-C
resumes from it, with the same result as an uninterrupted run; this also resumes an interrupted
``--force`` rerun, whose earlier result and results files it then replaces. A journal of another
experiment (other grid, seeds, split, data, device, stack size, threads per fit, package or
library versions) is refused in one line, and ``--force`` discards it. The journal is deleted once
the result file is written.

``--workers N`` fits the selection on a Dask ``LocalCluster`` of N worker processes (1 thread
each: Dask's nanny sets ``OMP_NUM_THREADS=1``), ``--scheduler tcp://HOST:PORT`` on an existing
cluster; the fits are journaled as they finish, in order, and the result equals that of a serial
run with ``--threads 1``.

``--baselines`` adds the placement baselines of :mod:`nwmodel.models.baselines` (majority class or
training mean, ridge on the raw series, MiniROCKET), fitted on the same training split and tested
with the same seeds and metric, to the record (``"baselines"``) and the printed summary.
``--results-dir DIR`` also writes the model's test predictions, one tsml-eval results file per
seed (resample), and the aeon summary of the model (:mod:`nwmodel.experiments.results_io`); the model is
refitted once per seed for them, with the torch thread count of the selection's fits (one thread
under Dask), and must reproduce its test scores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from nwutil.fileio import json_default, output_lock, write_text_atomic

from . import CLIError, UsageError
from ._common import (
    CREATES_FOLDERS,
    add_force,
    add_protocol,
    check_dataset_names,
    check_output_dir,
    check_output_path,
    comma_names,
    nonneg_int,
    positive_int,
    print_json,
    resolve_data_dir,
)

#: Models of ``--model``; the same as :data:`nwmodel.selection.search.MODELS` (kept here so that parsing
#: does not import the models; a test checks that the two agree).
MODELS: tuple[str, ...] = ("nwesn", "esn", "nwrnn", "rnn")

#: Seed of the published 80/20 validation split (the default ``random_state`` of
#: :func:`nwmodel.select_and_test`).
DEFAULT_SPLIT_SEED: int = 42

#: Baselines of ``--baselines``; the same as :data:`nwmodel.models.baselines.BASELINES` (kept here so
#: that parsing does not import sklearn or aeon; a test checks that the two agree).
BASELINES: tuple[str, ...] = ("majority", "ridge", "minirocket")

#: Estimator name of each model in the results files of ``--results-dir``.
RESULTS_NAMES: dict[str, str] = {"nwesn": "NW-ESN", "esn": "ESN", "nwrnn": "NW-RNN", "rnn": "RNN"}

_baseline_list = comma_names((*BASELINES, "all"))


def baseline_names(text: str) -> list[str]:
    """argparse ``type=`` for ``--baselines``: comma-separated names of :data:`BASELINES`, or ``all``.

    Returns the names in table order (that of :data:`BASELINES`).
    """
    names = _baseline_list(text)
    return [b for b in BASELINES if "all" in names or b in names]


def torch_device(text: str) -> str:
    """argparse ``type=`` for ``--device``: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if re.fullmatch(r"cpu|cuda(:\d+)?|mps", text):
        return text
    raise argparse.ArgumentTypeError(f"expected a torch device cpu, cuda, cuda:N or mps, got {text!r}")


def _check_torch_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available to this torch ({torch.__version__})")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        raise UsageError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps: MPS is not available to this torch")


def _check_results_files(root: Path, model: str, dataset: str, n_seeds: int, force: bool) -> None:
    """:class:`CLIError` if a results file of this run exists (without ``force``) or the name is bad."""
    from nwmodel.errors import ModelValidationError
    from nwmodel.experiments.results_io import results_path

    try:
        paths = [results_path(root, RESULTS_NAMES[model], dataset, k) for k in range(n_seeds)]
    except ModelValidationError as exc:
        raise CLIError(f"--results-dir: {exc}") from None
    taken = [p for p in paths if p.exists()]
    if taken and not force:
        raise CLIError(f"results file {str(taken[0])!r} exists; pass --force to overwrite it")


def _write_results_files(
    root: Path, args: argparse.Namespace, ds: Any, factory: Any, res: Any, threads: int | None
) -> tuple[list[str], str]:
    """Refit the selected configuration once per seed; write its test results files and summary.

    ``threads`` is the torch thread count of the refits (that of the selection's fits; None keeps
    the process's). Raises :class:`~nwmodel.errors.ExperimentError` when a refit does not
    reproduce the test score of the selection (nothing is written for that seed or later ones).
    """
    import numpy as np

    from nwmodel.experiments.results_io import write_summary

    name = RESULTS_NAMES[args.model]
    labels = np.unique(np.concatenate([ds.y_train, ds.y_test])) if ds.task == "classification" else None
    files: list[str] = []
    with _torch_threads(threads):
        for seed in range(args.seeds):
            files.append(_write_one(root, args, ds, factory, res, name, labels, seed))
    return files, str(write_summary(root, name, task=ds.task))


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Any:
    """Run a block with ``torch.set_num_threads(n)`` (``n`` None: as it is), then restore it."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _write_one(
    root: Path, args: argparse.Namespace, ds: Any, factory: Any, res: Any, name: str, labels: Any, seed: int
) -> str:
    """Refit seed ``seed`` of the selected configuration and write its results file; its path."""
    from nwmodel.errors import ExperimentError
    from nwmodel.experiments.results_io import align_probabilities, write_results
    from nwmodel.selection.search import score

    est = factory(res.best_params, seed)
    t0 = time.perf_counter()
    est.fit(ds.X_train, ds.y_train)
    t1 = time.perf_counter()
    y_pred = est.predict(ds.X_test)
    t2 = time.perf_counter()
    proba = None
    if labels is not None and hasattr(est, "predict_proba"):
        proba = align_probabilities(est.predict_proba(ds.X_test), est.classes_, labels)
    got, want = score(ds.task, ds.y_test, y_pred), res.test_scores[seed]
    if got != want:
        raise ExperimentError(
            f"the refit of seed {seed} scored {res.metric} {got!r}, the selection's test "
            f"{want!r}: the model is not reproducible here; results files not written from seed {seed}"
        )
    params = json.dumps(
        {
            "model": args.model,
            "grid": args.grid,
            "protocol": args.protocol,
            "params": res.best_params,
            "random_state": seed,
        },
        sort_keys=True,
        default=json_default,
    )
    path = write_results(
        root,
        task=ds.task,
        estimator=name,
        dataset=args.dataset,
        resample=seed,
        y_true=ds.y_test,
        y_pred=y_pred,
        class_labels=labels,
        probabilities=proba,
        parameters=params,
        fit_time_ms=round(1000 * (t1 - t0)),
        predict_time_ms=round(1000 * (t2 - t1)),
        description=f"nwhil run --model {args.model} --grid {args.grid} --protocol {args.protocol}",
    )
    return str(path)


def protocol_suffix(args: argparse.Namespace) -> str:
    """``"_tuned"`` for a reservoir under the tuned protocol, else ``""`` (the published names).

    The trainable models have no separate readout: both protocols are the published one for them.
    """
    return "_tuned" if args.protocol == "tuned" and args.model in ("nwesn", "esn") else ""


def journal_path(path: Path) -> Path:
    """The selection journal beside the result file ``path``: ``<stem>.journal.jsonl``."""
    return path.with_name(f"{path.stem}.journal.jsonl")


@contextlib.contextmanager
def _journal_hint(journal: Path) -> Any:
    """Turn a :class:`~nwmodel.errors.JournalError` into a one-line CLI error naming ``--force``."""
    from nwmodel.errors import JournalError

    try:
        yield
    except JournalError as exc:
        raise CLIError(f"{exc} (--force discards it and starts the run again)") from None


def _mapper(args: argparse.Namespace) -> contextlib.AbstractContextManager[Any]:
    """The selection's mapper: in this process, or on Dask for ``--workers`` > 1 or ``--scheduler``."""
    if args.scheduler is None and args.workers == 1:
        return contextlib.nullcontext(None)
    from .compare import lazy_dask_mapper

    # an address is contacted before the selection starts its journal
    return lazy_dask_mapper(args.scheduler, args.workers, connect_now=True)


def _run(args: argparse.Namespace) -> int:
    if args.max_epochs is not None and args.model not in ("nwrnn", "rnn"):
        raise UsageError("--max-epochs applies to --model nwrnn or rnn only")
    if args.scheduler == "serial":
        args.scheduler = None
        if args.workers != 1:
            raise UsageError(f"--workers {args.workers} needs Dask; drop --scheduler serial")
    elif args.scheduler is not None:
        from .compare import check_scheduler

        check_scheduler(args.scheduler)
        if args.workers != 1:
            raise UsageError("--workers sizes a new LocalCluster; it cannot be combined with --scheduler")
    data_dir = resolve_data_dir(args.data_dir)
    check_dataset_names([args.dataset], data_dir)
    if args.threads is not None or args.device != "cpu":  # before any output is looked at
        import torch

        if args.threads is not None:
            torch.set_num_threads(args.threads)
        _check_torch_device(args.device)
    out_dir = check_output_dir(args.output)
    split = "" if args.split_seed == DEFAULT_SPLIT_SEED else f"_split{args.split_seed}"
    name = out_dir / f"run_{args.model}_{args.dataset}_{args.grid}{split}{protocol_suffix(args)}.json"
    journal = journal_path(name)
    # a journal without --force: an interrupted run (maybe a --force rerun) to resume, whose
    # result and results files it may replace
    resuming = journal.exists() and not args.force
    results_dir = None
    if args.results_dir is not None:
        results_dir = check_output_dir(args.results_dir)
        _check_results_files(results_dir, args.model, args.dataset, args.seeds, args.force or resuming)
    path = check_output_path(name, args.force or resuming)
    with output_lock(path, what="result file"):
        if args.force and journal.exists():
            journal.unlink()
        from nwmodel.data.datasets import load_dataset
        from nwmodel.errors import ModelError
        from nwmodel.selection.protocols import protocol_fixed, protocol_grid
        from nwmodel.selection.search import EstimatorFactory, select_and_test

        ds = load_dataset(args.dataset, data_dir=data_dir, seed=args.data_seed)
        if ds.X_test is None:
            raise CLIError(f"dataset {args.dataset!r} has no test split")
        split = (ds.X_train, ds.y_train, ds.X_test, ds.y_test)
        grid = protocol_grid(args.protocol, args.model, args.grid, int(ds.X_train.shape[-1]))
        fixed: dict = {"device": args.device, **protocol_fixed(args.protocol, args.model)}
        if args.model in ("nwesn", "esn") and args.device != "cpu":
            fixed["backend"] = "torch"
        if args.max_epochs is not None:
            grid = {**grid, "max_epochs": [args.max_epochs]}
        factory = EstimatorFactory(args.model, ds.task, fixed)
        if args.scheduler is not None:
            threads: Any = "external Dask cluster"
        elif args.workers > 1:
            threads = 1  # Dask's nanny starts workers with OMP_NUM_THREADS=1
        else:
            threads = args.threads
            if threads is None and args.model in ("nwrnn", "rnn"):
                import torch

                threads = torch.get_num_threads()
            threads = "default" if threads is None else threads
        with _mapper(args) as mapper, _journal_hint(journal):
            res = select_and_test(
                factory,
                grid,
                *split,
                task=ds.task,
                n_seeds=args.seeds,
                random_state=args.split_seed,
                progress=not args.no_progress,
                stack_size=args.stack_size,
                mapper=mapper,
                journal=journal,
                journal_key={"dataset": ds.name, "data_seed": args.data_seed, "threads_per_fit": threads},
            )
        # the refits of the results files use the selection's thread count, read before the baselines
        # (whose libraries may resize the OpenMP pool torch shares)
        refit_threads = None
        if results_dir is not None and args.model in ("nwrnn", "rnn"):
            import torch

            refit_threads = threads if isinstance(threads, int) else torch.get_num_threads()
        baselines: dict[str, Any] = {}
        if args.baselines:
            from nwmodel.models.baselines import run_baselines

            baselines = run_baselines(*split, task=ds.task, names=args.baselines, n_seeds=args.seeds)
        files: list[str] = []
        summary = None
        problem = None
        if results_dir is not None:
            try:
                files, summary = _write_results_files(results_dir, args, ds, factory, res, refit_threads)
            except ModelError as exc:  # keep the run's record, then report
                problem = exc
        record = {
            "model": args.model,
            "dataset": ds.name,
            "task": ds.task,
            "grid": args.grid,
            "protocol": args.protocol,
            "seeds": args.seeds,
            "split_seed": args.split_seed,
            "device": args.device,
            "dataset_notes": ds.notes,
            "n_train": len(ds.y_train),
            "n_test": len(ds.y_test),
            **res.to_dict(),
            "baselines": baselines,
            "results_files": files,
            "results_summary": summary,
        }
        write_text_atomic(path, json.dumps(record, indent=2, default=json_default) + "\n")
        journal.unlink()  # the record holds every score now
        if problem is not None:
            raise problem
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
            if baselines:
                print(f"baselines, test {res.metric} (same split and seeds, no selection):")
                for name, b in baselines.items():
                    print(f"  {name:<10} {b['test_mean']:.4f} +- {b['test_std']:.4f}")
            if files:
                print(f"results files: {len(files)} in {results_dir}")
            if res.failures:
                print(f"{len(res.failures)} configurations failed and were excluded", file=sys.stderr)
            if res.n_resumed:
                print(f"resumed {res.n_resumed} fits from the journal of an interrupted run")
            print(f"saved {path}")
        return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``run`` command on ``parser``."""
    parser.add_argument("--model", required=True, choices=MODELS, help="model to run")
    parser.add_argument("--dataset", required=True, help="dataset name (file, aeon bundled or generator)")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data directory (default $NWHIL_DATA, else ../shared/data "
        "beside the source checkout, else the per-user data folder)",
    )
    parser.add_argument("--grid", choices=("paper", "quick"), default="quick", help="hyperparameter grid")
    add_protocol(parser)
    parser.add_argument("--seeds", type=positive_int, default=5, help="random reservoirs per configuration")
    parser.add_argument(
        "--device",
        type=torch_device,
        default="cpu",
        help="torch device: cpu, cuda, cuda:N or mps (reservoirs use torch off cpu)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch intra-op threads (default: torch's own choice)",
    )
    parser.add_argument(
        "--max-epochs", type=positive_int, default=None, help="override max epochs (nwrnn/rnn)"
    )
    parser.add_argument(
        "--stack-size",
        type=positive_int,
        default=8,
        help="nwrnn/rnn fits trained together as one stacked module (same results as one at a time; "
        "larger stacks pay off on a GPU)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="fit the selection on a Dask LocalCluster of this many worker processes, 1 thread each "
        "(default 1: in this process, no Dask); same result as serial",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        help="fit the selection on the Dask cluster at this address (tcp://HOST:PORT) instead",
    )
    parser.add_argument("--data-seed", type=nonneg_int, default=0, help="seed of generated datasets")
    parser.add_argument(
        "--split-seed",
        type=nonneg_int,
        default=DEFAULT_SPLIT_SEED,
        help=f"seed of the 80/20 validation split of the model selection (default {DEFAULT_SPLIT_SEED}, "
        "the published protocol); another seed tells how much the selection depends on the split "
        "(the result file then ends in _split<SEED>.json)",
    )
    parser.add_argument(
        "--baselines",
        type=baseline_names,
        default=[],
        help=f"comma-separated placement baselines among {','.join(BASELINES)}, or 'all' (default none)",
    )
    parser.add_argument(
        "--results-dir",
        default=None,
        help="also write the test predictions as tsml-eval results files (one per seed) and the aeon "
        "summary into this directory",
    )
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "-o",
        "--output",
        default="results",
        help=f"directory for the result JSON (default %(default)s; {CREATES_FOLDERS})",
    )
    add_force(
        parser,
        "an existing result file (and results files of --results-dir), and discard the journal of an "
        "interrupted run instead of resuming it",
    )
    parser.set_defaults(func=_run)
