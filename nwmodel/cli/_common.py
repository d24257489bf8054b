"""Helpers shared by the CLI subcommand modules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_subcommands", "check_output_path", "nonneg_int", "positive_int", "print_json"]


def add_subcommands(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:
    """Add a required subcommand level to ``parser`` (errors stay one line, exit 2)."""
    from . import NwhilArgumentParser

    sub = parser.add_subparsers(dest=dest, metavar="SUBCOMMAND", parser_class=NwhilArgumentParser)
    sub.required = True
    return sub


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


#: argparse ``type=`` for counts that must be >= 1 (a bad value is a usage error: exit 2).
positive_int = _int_at_least(1)
#: argparse ``type=`` for seeds and other integers that must be >= 0.
nonneg_int = _int_at_least(0)


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
