"""The ``nwhil`` command line.

Each subcommand group lives in its own module of this package and exposes
``register(subparsers)``; :func:`main` wires them together and is the one error handler:

* usage errors (unknown option, a value out of its range, an unknown backend name, and
  :class:`UsageError` for a bad argument value found after parsing): one line on stderr, exit
  status 2;
* domain errors (:class:`CLIError`, the ``nwphys``/``hardware``/``nwmodel`` exception families,
  ``OSError`` such as an unwritable output): one line ``nwhil: error: ...``, exit status 1;
* any other exception: one line ``nwhil: error: unexpected <type>: ...``, exit status 1;
* Ctrl-C: one line ``nwhil: interrupted``, exit status 130;
* ``--debug`` shows the full traceback instead.

The subcommand modules import nothing heavy at module level: ``nwhil --version``, ``--help`` and
every argument check run before torch, Dask, sklearn, aeon, matplotlib, h5py or scipy load.
Commands that write files refuse to replace an existing output without ``--force``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["CLIError", "NwhilArgumentParser", "UsageError", "build_parser", "main"]

#: Subcommand groups, in the order ``--help`` lists them: (name, module, one-line help).
GROUPS: tuple[tuple[str, str, str], ...] = (
    ("device", "nwhil.device", "generate, inspect and plot virtual nanowire devices"),
    ("simulate", "nwhil.simulate", "simulate a device under electrode drives"),
    ("plot", "nwhil.plot", "plot a simulation run file"),
    ("run", "nwhil.run", "run a reservoir/RNN model on a dataset with the paper's protocol"),
    ("compare", "nwhil.compare", "compare abstract vs physical reservoirs"),
    ("emulator", "nwhil.emulator", "serve a simulated device as a SCPI instrument over TCP"),
    ("lab", "nwhil.lab", "rehearse a bench run on a virtual bench of the real instrument drivers"),
    ("bench", "nwhil.bench", "run the benchmarks and print their tables"),
    ("demo", "nwhil.demo", "the built-in default job run by 'make demo'"),
)


class CLIError(Exception):
    """A failure the CLI reports as one line on stderr with exit status 1."""


class UsageError(CLIError):
    """A bad argument value found after parsing: one line on stderr with exit status 2.

    Raise it for every check of the command line itself (a malformed ``--size``, drive spec or
    electrode pattern, a value out of its range), whatever module finds it, and before any
    output is looked at or written.
    """


class NwhilArgumentParser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _VersionAction(argparse.Action):
    """``--version``: looks the installed version up only when asked."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str = argparse.SUPPRESS,
        default: Any = argparse.SUPPRESS,
        help: str | None = None,
    ) -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        from nwutil.hdf5 import package_version

        sys.stdout.write(f"nwhil {package_version()}\n")
        parser.exit()


def build_parser() -> NwhilArgumentParser:
    """Build the full ``nwhil`` parser with every subcommand group registered."""
    parser = NwhilArgumentParser(
        prog="nwhil",
        description="nanowire-hil: virtual nanowire devices, physical and abstract NW-ESN "
        "reservoirs, instrument drivers and their comparison.",
    )
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=NwhilArgumentParser)
    sub.required = True
    for name, module, help_ in GROUPS:
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_, description=help_)
        mod.register(p)
    return parser


def _domain_errors() -> tuple[type[BaseException], ...]:
    from nwutil.errors import NwhilError  # the root of every package's errors

    return (CLIError, NwhilError, OSError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, OSError):  # "[Errno 2] No such file ...": the reason, without the number
        text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    return text.splitlines()[0] if text else type(exc).__name__


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nwhil`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # until the arguments are parsed
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        debug = bool(args.debug)
        func = getattr(args, "func", None)
        if func is None:  # a group given without its subcommand
            parser.parse_args([*argv, "--help"])
            return 2
        rc = int(func(args) or 0)
        sys.stdout.flush()  # a closed pipe fails here, inside the handler, not at interpreter exit
        return rc
    except KeyboardInterrupt:
        if debug:
            raise
        print("nwhil: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (nwhil ... | head)
        _silence_stdout()
        return 1
    except UsageError as exc:
        if debug:
            raise
        print(f"nwhil: error: {_first_line(exc)} (see 'nwhil --help')", file=sys.stderr)
        return 2
    except _domain_errors() as exc:
        if debug:
            raise
        print(f"nwhil: error: {_first_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if debug:
            raise
        print(
            f"nwhil: error: unexpected {type(exc).__name__}: {_first_line(exc)} "
            "(run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
