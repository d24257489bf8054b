"""``nwhil plot``: filled by the issue that builds this capability."""

from __future__ import annotations

import argparse

from . import CLIError


def _not_yet(args: argparse.Namespace) -> int:
    raise CLIError("'nwhil plot' is not available in this version yet")


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``plot`` group on parser."""
    parser.set_defaults(func=_not_yet)
