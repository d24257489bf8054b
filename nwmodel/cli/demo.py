"""``nwhil demo``: the built-in default job that ``make demo`` runs.

Generates a small virtual device (300 Ag wires on 50 x 50 um, a 3 x 3 pad array, NW-ESN junction
constants), saves it to ``DIR/device.h5``, and runs a small comparison: the abstract NW-ESN vs the
same NW-ESN on the simulated device (plus the ESN baseline) on SyntheticControl with the quick
grids, 2 seeds, on stratified subsamples of 60 training and 60 test series (``--max-train``,
``--max-test``; 0 = all), model selection on a 2-worker Dask LocalCluster. Prints the table and
the results path.
SyntheticControl is read from the data directory (``--data-dir`` / ``$NWHIL_DATA``); when it is
not there the seeded generator ``SyntheticControl-gen`` is used instead (and said so).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ._common import nonneg_int, positive_int, print_json


def _dataset_name(data_dir: str | None) -> str:
    from ..datasets import load_dataset
    from ..errors import DatasetError

    try:
        load_dataset("SyntheticControl", data_dir=data_dir, split="train")
        return "SyntheticControl"
    except DatasetError:
        return "SyntheticControl-gen"


def _run(args: argparse.Namespace) -> int:
    from nwphys.devicefile import save_network

    from ..compare import dask_mapper, run_comparison, table_markdown
    from ..physical import SimulatedDeviceSpec
    from .compare import dask_client

    t0 = time.perf_counter()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    device_path = out / "device.h5"
    gen = SimulatedDeviceSpec(device_seed=args.seed)
    if not device_path.exists():
        save_network(gen.network(), device_path)
    spec = SimulatedDeviceSpec(network_path=str(device_path), device_seed=args.seed)
    net = spec.network()
    dataset = _dataset_name(args.data_dir)
    log = sys.stderr
    print(f"device: {device_path} ({net.n_wires} wires, {net.n_junctions} junctions, "
          f"{net.n_electrodes} electrodes)", file=log)
    if dataset != "SyntheticControl":
        print("SyntheticControl files not found (set NWHIL_DATA or --data-dir): using the seeded "
              "generator SyntheticControl-gen", file=log)
    with dask_client(args.scheduler, args.workers) as client:
        mapper = dask_mapper(client) if client is not None else None
        res = run_comparison([dataset], ["abstract", "simulated"], out / "comparison", grid="quick",
                             n_seeds=args.seeds, data_dir=args.data_dir, device=spec, mapper=mapper,
                             max_train=args.max_train or None, max_test=args.max_test or None,
                             progress=not args.json)
    wall = time.perf_counter() - t0
    if args.json:
        print_json({"table": res.table(), "paths": res.paths, "device": str(device_path),
                    "wall_time_s": wall})
        return 0
    sys.stdout.write(table_markdown(res.cells))
    print(f"\nresults: {out.resolve()} (device {device_path.name}; comparison/comparison.md, .csv, "
          f".png, .h5); {wall:.0f} s")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``demo`` command on ``parser``."""
    parser.add_argument("-o", "--output", default="results/demo", help="results directory")
    parser.add_argument("--seed", type=nonneg_int, default=1, help="seed of the generated device")
    parser.add_argument("--seeds", type=positive_int, default=2,
                        help="reservoirs per configuration (default 2)")
    parser.add_argument("--max-train", type=nonneg_int, default=60,
                        help="stratified subsample of the training series (default 60; 0 = all 300)")
    parser.add_argument("--max-test", type=nonneg_int, default=60,
                        help="stratified subsample of the test series (default 60; 0 = all 300)")
    parser.add_argument("--data-dir", default=None, help="data directory (default $NWHIL_DATA)")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler address, or 'serial'; default a 2-worker LocalCluster")
    parser.add_argument("--workers", type=positive_int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.set_defaults(func=_run)
