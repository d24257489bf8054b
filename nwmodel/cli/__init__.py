"""The ``nwhil`` command line.

Each subcommand group lives in its own module of this package and exposes
``register(subparsers)``; :func:`main` wires them together, turns domain errors into one line on
stderr (exit 1), usage errors into one line (exit 2), and only shows a traceback with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["CLIError", "NwhilArgumentParser", "build_parser", "main"]

#: Subcommand groups, in the order ``--help`` lists them: (name, module, one-line help).
GROUPS: tuple[tuple[str, str, str], ...] = (
    ("device", "nwmodel.cli.device", "generate, inspect and plot virtual nanowire devices"),
    ("simulate", "nwmodel.cli.simulate", "simulate a device under electrode drives"),
    ("plot", "nwmodel.cli.plot", "plot a simulation run file"),
    ("run", "nwmodel.cli.run", "run a reservoir/RNN model on a dataset with the paper's protocol"),
    ("compare", "nwmodel.cli.compare", "compare abstract vs physical reservoirs"),
    ("emulator", "nwmodel.cli.emulator", "serve a simulated device as a SCPI instrument over TCP"),
    ("bench", "nwmodel.cli.bench", "run the benchmarks and print their tables"),
    ("demo", "nwmodel.cli.demo", "the built-in default job run by 'make demo'"),
)


class CLIError(Exception):
    """A failure the CLI reports as one line on stderr with exit status 1."""


class NwhilArgumentParser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("nanowire-hil")
    except Exception:  # pragma: no cover - not installed
        return "0+unknown"


def build_parser() -> NwhilArgumentParser:
    """Build the full ``nwhil`` parser with every subcommand group registered."""
    parser = NwhilArgumentParser(
        prog="nwhil",
        description="nanowire-hil: virtual nanowire devices, physical and abstract NW-ESN "
        "reservoirs, instrument drivers and their comparison.",
    )
    parser.add_argument("--version", action="version", version=f"nwhil {_version()}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=NwhilArgumentParser)
    sub.required = True
    for name, module, help_ in GROUPS:
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_, description=help_)
        mod.register(p)
    return parser


def _domain_errors() -> tuple[type[BaseException], ...]:
    from hardware.errors import HardwareError
    from nwmodel.errors import ModelError
    from nwphys.errors import NanowireError

    return (CLIError, NanowireError, HardwareError, ModelError, OSError)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nwhil`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:  # a group given without its subcommand
        parser.parse_args([*argv, "--help"])
        return 2
    try:
        rc = func(args)
    except KeyboardInterrupt:
        print("nwhil: interrupted", file=sys.stderr)
        return 130
    except _domain_errors() as exc:
        if args.debug:
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"nwhil: error: {msg}", file=sys.stderr)
        return 1
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
