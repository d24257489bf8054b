"""``nwhil bench``: run the benchmark scripts of ``benchmarks/`` and print their tables."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import CLIError, UsageError


def _bench_dir(given: str | None) -> Path:
    candidates = (
        [Path(given)]
        if given
        else [Path.cwd() / "benchmarks", Path(__file__).resolve().parents[2] / "benchmarks"]
    )
    for c in candidates:
        if c.is_dir():
            return c
    raise CLIError(
        f"benchmark directory not found (looked in {', '.join(str(c) for c in candidates)}); "
        "pass --dir or run from a source checkout"
    )


def _run(args: argparse.Namespace) -> int:
    d = _bench_dir(args.dir)
    scripts = sorted(p for p in d.glob("bench_*.py"))
    if args.list:
        for s in scripts:
            print(s.stem.removeprefix("bench_"))
        return 0
    if args.names:
        wanted = set(args.names)
        known = {s.stem.removeprefix("bench_") for s in scripts}
        unknown = wanted - known
        if unknown:
            raise UsageError(f"unknown benchmark(s) {sorted(unknown)}; known: {sorted(known)}")
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    failed = []
    for s in scripts:
        print(f"== {s.stem}", flush=True)
        cmd = [sys.executable, str(s), *(["--quick"] if args.quick else [])]
        rc = subprocess.call(cmd, env={**os.environ})
        if rc != 0:
            failed.append(s.stem)
    if failed:
        raise CLIError(f"benchmark(s) failed: {', '.join(failed)}")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``bench`` group on ``parser``."""
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--dir", help="benchmark directory (default: ./benchmarks)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.set_defaults(func=_run)
