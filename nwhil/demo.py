"""``nwhil demo``: the built-in default job that ``make demo`` runs.

Generates the default device of :class:`nwmodel.physical.reservoir.SimulatedDeviceSpec` (400 Ag wires on
50 x 50 um under a 4 x 4 pad array, bench-like junctions, 1 mA compliance), saves it to
``DIR/device.h5``, and runs a small comparison: the abstract NW-ESN vs the
same NW-ESN on the simulated device (plus the ESN baseline) on SyntheticControl with the quick
grids and the ``tuned`` readout protocol (:mod:`nwmodel.selection.protocols`), 2 seeds, on stratified
subsamples of 60 training and 60 test series (``--max-train``, ``--max-test``; 0 = all), model
selection on a 2-worker Dask LocalCluster. Prints the table and
the results path.
SyntheticControl is read from the data directory (``--data-dir`` / ``$NWHIL_DATA``, else
``../shared/data`` beside the source checkout); when it is not there the seeded generator
``SyntheticControl-gen`` is used instead (and said so).

Re-running into the same ``-o DIR`` resumes: the device file and finished cells are reused. A
``DIR/device.h5`` that holds a different device (another ``--seed``) or cells of another
configuration are refused; ``--force`` replaces them.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import CLIError
from ._common import (
    CREATES_FOLDERS,
    add_force,
    check_output_dir,
    nonneg_int,
    positive_int,
    print_json,
    resolve_data_dir,
)


def _dataset_name(data_dir: str | None) -> str:
    from ._common import check_dataset_names

    try:
        check_dataset_names(["SyntheticControl"], data_dir)
        return "SyntheticControl"
    except CLIError:
        return "SyntheticControl-gen"


def _run(args: argparse.Namespace) -> int:
    from .compare import check_scheduler, lazy_dask_mapper

    t0 = time.perf_counter()
    check_scheduler(args.scheduler)
    out = check_output_dir(args.output)
    data_dir = resolve_data_dir(args.data_dir)
    dataset = _dataset_name(data_dir)

    import nwphys
    from nwmodel.experiments.compare import run_comparison, table_markdown
    from nwmodel.physical.reservoir import SimulatedDeviceSpec

    device_path = out / "device.h5"
    generated = SimulatedDeviceSpec(device_seed=args.seed).network()
    if device_path.exists() and not args.force:
        stored = nwphys.load_network(device_path)
        if stored != generated:
            raise CLIError(
                f"{str(device_path)!r} holds another device (seed {stored.metadata.get('seed')}, not "
                f"--seed {args.seed}); pass --force to replace it (and rerun the cells), or use "
                "another -o"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        nwphys.save_network(generated, device_path, force=True)
    spec = SimulatedDeviceSpec(network_path=str(device_path), device_seed=args.seed)
    net = spec.network()
    log = sys.stderr
    print(
        f"device: {device_path} ({net.n_wires} wires, {net.n_junctions} junctions, "
        f"{net.n_electrodes} electrodes)",
        file=log,
    )
    if dataset != "SyntheticControl":
        print(
            "SyntheticControl files not found (set NWHIL_DATA or --data-dir): using the seeded "
            "generator SyntheticControl-gen",
            file=log,
        )
    with lazy_dask_mapper(args.scheduler, args.workers) as mapper:
        res = run_comparison(
            [dataset],
            ["abstract", "simulated"],
            out / "comparison",
            grid="quick",
            n_seeds=args.seeds,
            data_dir=data_dir,
            device=spec,
            mapper=mapper,
            max_train=args.max_train or None,
            max_test=args.max_test or None,
            progress=not args.json,
            force=args.force,
        )
    wall = time.perf_counter() - t0
    if args.json:
        print_json(
            {"table": res.table(), "paths": res.paths, "device": str(device_path), "wall_time_s": wall}
        )
        return 0
    sys.stdout.write(table_markdown(res.cells))
    print(
        f"\nresults: {out.resolve()} (device {device_path.name}; comparison/comparison.md, .csv, "
        f".png, .h5); {wall:.0f} s"
    )
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``demo`` command on ``parser``."""
    parser.add_argument(
        "-o",
        "--output",
        default="results/demo",
        help=f"results directory (default %(default)s; {CREATES_FOLDERS})",
    )
    parser.add_argument("--seed", type=nonneg_int, default=1, help="seed of the generated device")
    parser.add_argument(
        "--seeds", type=positive_int, default=2, help="reservoirs per configuration (default 2)"
    )
    parser.add_argument(
        "--max-train",
        type=nonneg_int,
        default=60,
        help="stratified subsample of the training series (default 60; 0 = all 300)",
    )
    parser.add_argument(
        "--max-test",
        type=nonneg_int,
        default=60,
        help="stratified subsample of the test series (default 60; 0 = all 300)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data directory (default $NWHIL_DATA, else ../shared/data beside the source checkout)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address, or 'serial'; default a 2-worker LocalCluster",
    )
    parser.add_argument("--workers", type=positive_int, default=2, help="LocalCluster worker processes")
    add_force(parser, "a device file of another seed and stored cells of another configuration")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.set_defaults(func=_run)
