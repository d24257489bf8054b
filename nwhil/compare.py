"""``nwhil compare``: the abstract NW-ESN vs the physical (simulated, emulated) reservoir.

Runs model selection and test for every dataset x backend cell (plus the ESN baseline), writes
``comparison.{csv,md,png,h5}`` and one file per finished cell into ``-o DIR``; re-running the
same command skips finished cells, and the reports list every cell stored in ``DIR`` (also those
of earlier runs over other datasets or backends). A stored cell is reused only when its
configuration and the SHA-256 of its data and device file match. A stored cell of a different
configuration, data or device file (the message names both digests), or a corrupt or truncated
cell file, is refused before anything runs; ``--force`` recomputes every cell of the run.

Every argument, the datasets (loaded once), the subsample sizes, the device (its file, roles and
drive calibration) are checked before any cell runs: a bad argument value exits with status 2.

``--baselines`` (names of :data:`nwmodel.models.baselines.BASELINES`, or ``all``) adds the placement
baselines per dataset on the cells' split and seeds: extra columns of the markdown table, extra
rows of ``comparison.csv``, and ``"baselines"`` (dataset -> baseline -> test_mean, test_std, ...)
in the ``--json`` output; they resume like cells.

Model selection runs on Dask: a ``LocalCluster`` by default (2 worker processes, 1 thread each),
``--scheduler tcp://HOST:PORT`` for an existing cluster, ``--scheduler serial`` for no Dask at
all. The cluster starts (or the scheduler is contacted) when the first cell needs it, after every
argument, dataset name and the results directory have been checked; a run that only resumes
stored cells starts none.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from nwutil.fileio import output_lock

from . import CLIError, UsageError
from ._common import (
    CREATES_FOLDERS,
    add_force,
    add_protocol,
    check_dataset_names,
    check_output_dir,
    comma_names,
    layout_name,
    nonneg_int,
    positive_float,
    positive_int,
    print_json,
    resolve_data_dir,
)
from .run import BASELINES, baseline_names

#: Backends of ``--backends``; the same as :data:`nwmodel.experiments.compare.BACKENDS` (kept here so that
#: parsing does not import the models; a test checks that the two agree).
BACKENDS: tuple[str, ...] = ("abstract", "oracle", "simulated", "emulated", "esn")

#: Scheduler address schemes ``--scheduler`` accepts besides ``serial``.
_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://")

Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]


def check_scheduler(scheduler: str | None) -> None:
    """:class:`CLIError` unless ``scheduler`` is None, ``serial`` or a Dask address."""
    if scheduler is None or scheduler == "serial" or scheduler.startswith(_SCHEMES):
        return
    raise UsageError(f"--scheduler must be 'serial' or an address like tcp://HOST:PORT, got {scheduler!r}")


@contextlib.contextmanager
def _connect(scheduler: str | None, n_workers: int) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    from nwmodel.experiments.compare import LOCAL_WORKER_ENVIRON

    if scheduler is None:
        with dask.config.set(LOCAL_WORKER_ENVIRON):
            cluster = LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout="10s")
    except OSError as exc:
        raise CLIError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        yield client


@contextlib.contextmanager
def lazy_dask_mapper(
    scheduler: str | None, n_workers: int, *, connect_now: bool = False
) -> Iterator[Mapper | None]:
    """Yield a ``mapper(fn, items)`` that runs on Dask, or None for ``scheduler="serial"``.

    The ``distributed.Client`` (a new LocalCluster of ``n_workers`` processes when ``scheduler``
    is None, else a connection to the address) is made on the mapper's first call and closed on
    leaving the context; when nothing is mapped, Dask is never imported. With ``connect_now`` a
    scheduler address is contacted on entering the context, so that an unreachable scheduler
    fails before the caller writes anything (a selection journal).
    """
    check_scheduler(scheduler)
    if scheduler == "serial":
        yield None
        return
    with contextlib.ExitStack() as stack:
        mappers: list[Mapper] = []

        def connect() -> Mapper:
            if not mappers:
                from nwmodel.experiments.compare import dask_mapper

                mappers.append(dask_mapper(stack.enter_context(_connect(scheduler, n_workers))))
            return mappers[0]

        def mapper(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterable[Any]:
            return connect()(fn, items)

        if connect_now and scheduler is not None:
            connect()
        yield mapper


#: Role patterns of ``--roles``: the same as :data:`nwphys.geometry.electrodes.ROLE_PATTERNS` (a test checks).
ROLE_PATTERNS: tuple[str, ...] = ("chessboard", "rows", "columns", "first-last", "auto")


#: ``--integrator`` names: the held-sample methods of :data:`nwphys.dynamics.methods.METHODS` that the
#: simulated reservoir device can use.
INTEGRATORS: tuple[str, ...] = ("esdirk3-sn", "esdirk3-cuda", "sdirk2-sn", "sdirk2")


def _check_integrator(name: str) -> None:
    """A usage error where ``name`` needs a torch device that this machine lacks."""
    from nwphys.dynamics.batched import check_torch_device
    from nwphys.dynamics.methods import get_method
    from nwphys.errors import ValidationError

    held = get_method(name).held
    if getattr(held, "backend", "numba") == "torch":
        try:
            check_torch_device(held.torch_device)  # type: ignore[union-attr]
        except ValidationError as exc:
            raise UsageError(
                f"--integrator {name}: {exc}; esdirk3-sn runs the same scheme on the CPU"
            ) from None


def _preflight(args: argparse.Namespace, data_dir: str | None) -> tuple[list[Any], Any]:
    """Load the datasets once and check the split sizes against them, before any cell runs.

    Returns the loaded datasets and the device spec. Bad subsample sizes are usage errors.
    """
    from nwmodel.errors import ModelValidationError
    from nwmodel.physical.reservoir import SimulatedDeviceSpec

    over = {
        k: v
        for k, v in (
            ("n_wires", args.wires),
            ("device_seed", args.device_seed),
            ("electrodes", args.electrodes),
            ("role_pattern", args.roles if args.roles is not None else ("auto" if args.device else None)),
            ("n_inputs", args.n_inputs),
        )
        if v is not None
    }
    if args.integrator is not None:
        _check_integrator(args.integrator)
    for name, value in (("rtol", args.rtol), ("atol", args.atol)):
        if value is not None and not value <= 1.0:
            raise UsageError(f"--{name} must be in (0, 1], got {value!r}")
    if (args.integrator, args.rtol, args.atol) != (None, None, None):
        kw = dict(SimulatedDeviceSpec().device_kwargs)
        for key, value in (("method", args.integrator), ("rtol", args.rtol), ("atol", args.atol)):
            if value is not None:
                kw[key] = value
        over["device_kwargs"] = tuple(kw.items())
    spec = SimulatedDeviceSpec(network_path=args.device or None, **over)
    from nwmodel.data.datasets import load_dataset
    from nwmodel.experiments._preflight import check_subsample_sizes

    # the sizes named as options; run_comparison checks the device, before any cell runs
    datasets = [load_dataset(name, data_dir=data_dir) for name in args.datasets]
    for data in datasets:
        try:
            check_subsample_sizes(data, args.max_train, args.max_test, names=("--max-train", "--max-test"))
        except ModelValidationError as exc:
            raise UsageError(str(exc)) from None
    return datasets, spec


def _run(args: argparse.Namespace) -> int:
    # every check that needs no model code first: no sklearn, torch or Dask before them
    check_scheduler(args.scheduler)
    out = check_output_dir(args.output)
    data_dir = resolve_data_dir(args.data_dir)
    check_dataset_names(args.datasets, data_dir)
    if args.device:
        clash = [
            f"--{k}" for k, v in (("wires", args.wires), ("electrodes", args.electrodes)) if v is not None
        ]
        if clash:
            raise UsageError(
                f"{' and '.join(clash)} apply to a generated device, not to the device file "
                f"--device {args.device}"
            )
        if not Path(args.device).is_file():
            raise CLIError(f"device file {args.device!r} not found")

    datasets, spec = _preflight(args, data_dir)
    from nwmodel.experiments.compare import run_comparison, table_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(out, what="results directory"), lazy_dask_mapper(args.scheduler, args.workers) as mapper:
        res = run_comparison(
            datasets,
            args.backends,
            out,
            grid=args.grid,
            n_seeds=args.seeds,
            include_esn=not args.no_esn,
            data_dir=data_dir,
            device=spec,
            max_train=args.max_train,
            max_test=args.max_test,
            mapper=mapper,
            progress=not args.json and not args.quiet,
            force=args.force,
            baselines=args.baselines,
            protocol=args.protocol,
        )
    if args.json:
        print_json(
            {
                "table": res.table(),
                "baselines": res.baseline_table(),
                "executed": res.executed,
                "skipped": res.skipped,
                "paths": res.paths,
            }
        )
    else:
        sys.stdout.write(table_markdown(res.cells, res.baselines))
        print(f"\nran {len(res.executed)} cell(s), resumed {len(res.skipped)}; results in {args.output}")
        for kind, path in res.paths.items():
            print(f"  {kind}: {path}")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``compare`` command on ``parser``."""
    parser.add_argument(
        "--datasets",
        type=comma_names(),
        default="SyntheticControl,Earthquakes,FloodModeling1",
        help="comma-separated dataset names (default: %(default)s)",
    )
    parser.add_argument(
        "--backends",
        type=comma_names(BACKENDS),
        default="abstract,simulated,emulated",
        help=f"comma-separated backends among {','.join(BACKENDS)} "
        "(the ESN baseline is added unless --no-esn; default: %(default)s)",
    )
    parser.add_argument("--grid", choices=("quick", "paper"), default="quick", help="hyperparameter grids")
    add_protocol(parser)
    parser.add_argument(
        "--seeds", type=positive_int, default=5, help="reservoirs per configuration / test repetitions"
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address (tcp://HOST:PORT), or 'serial'; default a LocalCluster",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=2, help="LocalCluster worker processes (default 2)"
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data directory (default $NWHIL_DATA, else "
        "../shared/data beside the source checkout, else the per-user data folder)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="device file for the physical backends "
        "(default: the generated 16-pad device of nwmodel.SimulatedDeviceSpec)",
    )
    parser.add_argument(
        "--integrator",
        choices=INTEGRATORS,
        default=None,
        help="junction integrator of the simulated device (default esdirk3-sn, the compiled engine on "
        "the CPU; esdirk3-cuda: the same scheme, every series of a batch at once on a CUDA GPU; use "
        "--scheduler serial with it)",
    )
    parser.add_argument(
        "--rtol",
        type=positive_float,
        default=None,
        help="relative tolerance of the simulated device's integrator, in (0, 1] (default 3e-5)",
    )
    parser.add_argument(
        "--atol",
        type=positive_float,
        default=None,
        help="absolute tolerance of the simulated device's integrator on the junction states g, in "
        "(0, 1] (default 1e-6; versions before 0.5.0 used 3e-6)",
    )
    parser.add_argument(
        "--wires", type=positive_int, default=None, help="wires of the generated device (default 400)"
    )
    parser.add_argument(
        "--device-seed", type=nonneg_int, default=None, help="seed of the generated device (default 1)"
    )
    parser.add_argument(
        "--electrodes",
        type=layout_name,
        default=None,
        help="electrode layout of the generated device, e.g. mea4x4 (default), mea8x8",
    )
    parser.add_argument(
        "--roles",
        choices=ROLE_PATTERNS,
        default=None,
        help="electrode role pattern (default: chessboard on the generated device, auto with "
        "--device: chessboard on a grid of 3 x 3 pads or more, else the first --n-inputs "
        "electrodes inputs, the last ground)",
    )
    parser.add_argument(
        "--n-inputs",
        type=positive_int,
        default=None,
        help="input electrodes of the role pattern (default: the device file's, from 'nwhil device "
        "generate --n-inputs', else the pattern's own)",
    )
    parser.add_argument(
        "--max-train",
        type=positive_int,
        default=None,
        help="seeded stratified subsample of the training split (demos)",
    )
    parser.add_argument("--max-test", type=positive_int, default=None, help="same for the test split")
    parser.add_argument("--no-esn", action="store_true", help="leave out the ESN baseline")
    parser.add_argument(
        "--baselines",
        type=baseline_names,
        default=[],
        help=f"comma-separated placement baselines among {','.join(BASELINES)}, or 'all' "
        "(per dataset, same split and seeds; default none)",
    )
    add_force(
        parser,
        "every stored cell of this run (also one of the same configuration, and corrupt or truncated "
        "cell files) by recomputing it (a recomputed physical cell first deletes the stored "
        "readings in features/)",
    )
    parser.add_argument("--json", action="store_true", help="print the table as JSON (no progress bars)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("-o", "--output", required=True, help=f"results directory ({CREATES_FOLDERS})")
    parser.set_defaults(func=_run)
