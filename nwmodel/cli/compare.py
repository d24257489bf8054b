"""``nwhil compare``: the abstract NW-ESN vs the physical (simulated, emulated) reservoir.

Runs model selection and test for every dataset x backend cell (plus the ESN baseline), writes
``comparison.{csv,md,png,h5}`` and one file per finished cell into ``-o DIR``; re-running the
same command skips finished cells. Model selection runs on Dask: a ``LocalCluster`` by default
(2 worker processes, 1 thread each), ``--scheduler tcp://HOST:PORT`` for an existing cluster,
``--scheduler serial`` for no Dask at all.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from . import CLIError
from ._common import nonneg_int, positive_int, print_json


@contextlib.contextmanager
def dask_client(scheduler: str | None, n_workers: int) -> Iterator[Any]:
    """Yield a ``distributed.Client``: a new LocalCluster (None), an address, or None for ``serial``."""
    if scheduler == "serial":
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is None:
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
    else:
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise CLIError(
                f"--scheduler must be 'serial' or an address like tcp://HOST:PORT, got {scheduler!r}"
            )
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise CLIError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client


def _split(text: str, what: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise CLIError(f"--{what} must list at least one name, got {text!r}")
    return items


def _run(args: argparse.Namespace) -> int:
    from ..compare import dask_mapper, run_comparison, table_markdown
    from ..physical import SimulatedDeviceSpec

    datasets = _split(args.datasets, "datasets")
    backends = _split(args.backends, "backends")
    over = {k: v for k, v in (("n_wires", args.wires), ("device_seed", args.device_seed),
                              ("electrodes", args.electrodes), ("role_pattern", args.roles)) if v is not None}
    if args.device:
        clash = [f"--{k}" for k, v in (("wires", args.wires), ("electrodes", args.electrodes))
                 if v is not None]
        if clash:
            raise CLIError(f"{' and '.join(clash)} apply to a generated device, not to the device file "
                           f"--device {args.device}")
        spec = SimulatedDeviceSpec(network_path=args.device, **over)
    else:
        spec = SimulatedDeviceSpec(**over)
    with dask_client(args.scheduler, args.workers) as client:
        mapper = dask_mapper(client) if client is not None else None
        res = run_comparison(
            datasets, backends, args.output, grid=args.grid, n_seeds=args.seeds, include_esn=not args.no_esn,
            data_dir=args.data_dir, device=spec, max_train=args.max_train, max_test=args.max_test,
            mapper=mapper, progress=not args.json and not args.quiet, force=args.force,
        )
    if args.json:
        print_json({"table": res.table(), "executed": res.executed, "skipped": res.skipped,
                    "paths": res.paths})
    else:
        sys.stdout.write(table_markdown(res.cells))
        print(f"\nran {len(res.executed)} cell(s), resumed {len(res.skipped)}; results in {args.output}")
        for kind, path in res.paths.items():
            print(f"  {kind}: {path}")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``compare`` command on ``parser``."""
    parser.add_argument("--datasets", default="SyntheticControl,Earthquakes,FloodModeling1",
                        help="comma-separated dataset names (default: %(default)s)")
    parser.add_argument("--backends", default="abstract,simulated,emulated",
                        help="comma-separated backends among abstract,oracle,simulated,emulated,esn "
                        "(the ESN baseline is added unless --no-esn)")
    parser.add_argument("--grid", choices=("quick", "paper"), default="quick", help="hyperparameter grids")
    parser.add_argument("--seeds", type=positive_int, default=5,
                        help="reservoirs per configuration / test repetitions")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler address (tcp://HOST:PORT), or 'serial'; default a LocalCluster")
    parser.add_argument("--workers", type=positive_int, default=2,
                        help="LocalCluster worker processes (default 2)")
    parser.add_argument("--data-dir", default=None, help="data directory (default $NWHIL_DATA)")
    parser.add_argument("--device", default=None, help="device file for the physical backends "
                        "(default: the generated 16-pad device of nwmodel.SimulatedDeviceSpec)")
    parser.add_argument("--wires", type=positive_int, default=None,
                        help="wires of the generated device (default 400)")
    parser.add_argument("--device-seed", type=nonneg_int, default=None,
                        help="seed of the generated device (default 1)")
    parser.add_argument("--electrodes", default=None,
                        help="electrode layout of the generated device, e.g. mea4x4 (default), mea8x8")
    parser.add_argument("--roles", default=None,
                        help="electrode role pattern: chessboard (default), rows, columns or first-last")
    parser.add_argument("--max-train", type=positive_int, default=None,
                        help="seeded stratified subsample of the training split (demos)")
    parser.add_argument("--max-test", type=positive_int, default=None, help="same for the test split")
    parser.add_argument("--no-esn", action="store_true", help="leave out the ESN baseline")
    parser.add_argument("--force", action="store_true",
                        help="rerun cells stored with a different configuration")
    parser.add_argument("--json", action="store_true", help="print the table as JSON (no progress bars)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("-o", "--output", required=True, help="results directory")
    parser.set_defaults(func=_run)
