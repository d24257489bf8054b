"""``nwhil demo``: the built-in default job that ``make demo`` runs."""

from __future__ import annotations

import argparse

from . import CLIError


def _run(args: argparse.Namespace) -> int:
    raise CLIError("the demo job is not available in this version yet")


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``demo`` command on ``parser``."""
    parser.add_argument("-o", "--output", default="results/demo", help="results directory")
    parser.add_argument("--seed", type=int, default=7, help="seed of every random choice")
    parser.set_defaults(func=_run)
