"""Helpers shared by the CLI subcommand modules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_subcommands", "check_output_path", "print_json"]


def add_subcommands(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:
    """Add a required subcommand level to ``parser`` (errors stay one line, exit 2)."""
    from . import NwhilArgumentParser

    sub = parser.add_subparsers(dest=dest, metavar="SUBCOMMAND", parser_class=NwhilArgumentParser)
    sub.required = True
    return sub


def check_output_path(path: str | Path, force: bool) -> Path:
    """Return ``path``; raise :class:`~nwmodel.cli.CLIError` if it exists and ``force`` is off."""
    from . import CLIError

    p = Path(path)
    if p.exists() and not force:
        raise CLIError(f"output {str(p)!r} exists; pass --force to overwrite it")
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout (numpy scalars and arrays allowed)."""
    json.dump(obj, sys.stdout, indent=2, default=_default)
    sys.stdout.write("\n")
