"""Helpers shared by the CLI subcommand modules.

Nothing here imports numpy, torch, Dask, sklearn, matplotlib, h5py or scipy at module level: the
parser, ``--help`` and every argument and output check run before any of them loads.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nwutil.fileio import json_default

__all__ = [
    "CREATES_FOLDERS",
    "IMAGE_OUTPUT_HELP",
    "add_force",
    "add_subcommands",
    "at_least_two",
    "check_dataset_names",
    "check_image_suffix",
    "check_output_dir",
    "check_output_path",
    "comma_names",
    "int_in_range",
    "layout_name",
    "nonneg_float",
    "nonneg_int",
    "positive_float",
    "positive_int",
    "print_json",
    "resolve_data_dir",
    "save_figure",
]


def add_subcommands(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:
    """Add a required subcommand level to ``parser`` (errors stay one line, exit 2)."""
    from . import NwhilArgumentParser

    sub = parser.add_subparsers(dest=dest, metavar="SUBCOMMAND", parser_class=NwhilArgumentParser)
    sub.required = True
    return sub


# --------------------------------------------------------------------------- argument types
# A bad value raises argparse.ArgumentTypeError: a one-line usage error with exit status 2.


def _int_at_least(low: int) -> Callable[[str], int]:
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


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    """argparse ``type=`` for an integer in ``[low, high]`` (both included)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer in [{low}, {high}], got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer in [{low}, {high}], got {value}")
        return value

    parse.__name__ = f"integer in [{low}, {high}]"
    return parse


def _float_above(zero_allowed: bool) -> Callable[[str], float]:
    bound = ">= 0" if zero_allowed else "> 0"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {text!r}") from None
        if not (math.isfinite(value) and (value >= 0 if zero_allowed else value > 0)):
            raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {text}")
        return value

    parse.__name__ = f"number {bound}"
    return parse


#: argparse ``type=`` for a finite number > 0 (durations in s, tolerances).
positive_float = _float_above(zero_allowed=False)
#: argparse ``type=`` for a finite number >= 0 (latencies, delays in s).
nonneg_float = _float_above(zero_allowed=True)
#: argparse ``type=`` for counts that must be >= 2 (series, samples).
at_least_two = _int_at_least(2)


_MEA_NAME = re.compile(r"^mea(\d+)x(\d+)$")


def layout_name(text: str) -> str:
    """argparse ``type=`` for a named electrode layout: ``two-terminal`` or ``meaRxC`` (2+ pads)."""
    m = _MEA_NAME.match(text)
    if text == "two-terminal" or (
        m and int(m.group(1)) >= 1 and int(m.group(2)) >= 1 and int(m.group(1)) * int(m.group(2)) >= 2
    ):
        return text
    raise argparse.ArgumentTypeError(
        f"expected 'two-terminal' or 'meaRxC' with R x C >= 2 pads (e.g. mea4x4), got {text!r}"
    )


layout_name.__name__ = "electrode layout"


def comma_names(allowed: Sequence[str] | None = None) -> Callable[[str], list[str]]:
    """argparse ``type=`` for a comma-separated list of at least one name (order kept, no repeats).

    With ``allowed``, every name must be one of them.
    """
    among = f" among {','.join(allowed)}" if allowed is not None else ""

    def parse(text: str) -> list[str]:
        items = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
        if not items:
            raise argparse.ArgumentTypeError(f"expected comma-separated names{among}, got {text!r}")
        unknown = [s for s in items if allowed is not None and s not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown name(s) {','.join(unknown)}; allowed: {','.join(allowed or ())}"
            )
        return items

    parse.__name__ = "names"
    return parse


# --------------------------------------------------------------------------- outputs


def add_force(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--force``: every writing command refuses to replace ``what`` without it."""
    parser.add_argument("--force", action="store_true", help=f"overwrite {what}")


#: Said in the help of every output option checked by :func:`check_output_path`.
CREATES_FOLDERS = "missing folders are created"

#: Help of the ``-o`` option of the commands that write an image (see :func:`check_image_suffix`).
IMAGE_OUTPUT_HELP = (
    "image file to write; its suffix names the format (.png, .pdf, .svg, ...), none writes PATH.png; "
    + CREATES_FOLDERS
)


def check_output_path(path: str | Path, force: bool) -> Path:
    """Return ``path`` as a Path, ready to be written as a file.

    ``path`` must be the file that is written: a caller that adds a suffix adds it first (see
    :func:`check_image_suffix`). Creates the missing folders of ``path``; every command that calls
    this creates its output folder and says so in the help of its output option (as
    :data:`CREATES_FOLDERS` does).

    Raises :class:`~nwhil.CLIError` when it exists and ``force`` is off, when it is a
    directory, or when its folder cannot be created.
    """
    from . import CLIError

    p = Path(path)
    if p.is_dir():
        raise CLIError(f"output {str(p)!r} is a directory; name a file")
    if p.exists() and not force:
        raise CLIError(f"output {str(p)!r} exists; pass --force to overwrite it")
    parent = p.parent
    if parent.exists() and not parent.is_dir():
        raise CLIError(f"cannot write {str(p)!r}: {str(parent)!r} is not a directory")
    parent.mkdir(parents=True, exist_ok=True)
    return p


def check_output_dir(path: str | Path) -> Path:
    """Return ``path`` as a Path; :class:`~nwhil.CLIError` if it exists and is not a directory."""
    from . import CLIError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CLIError(f"output directory {str(p)!r} exists and is not a directory")
    return p


def check_image_suffix(path: str | Path) -> Path:
    """The image file a plot command writes for ``-o path``.

    Parameters
    ----------
    path : str or Path
        The ``-o`` argument. Its suffix names the image format.

    Returns
    -------
    Path
        ``path`` when its suffix is a format matplotlib writes; ``path`` with ``.png`` appended when
        it has no suffix (trailing dots dropped); ``path`` unchanged when it is a directory (for
        :func:`check_output_path` to refuse). Check this path, not ``path``, with
        :func:`check_output_path`, and save to it with ``format=`` its suffix.

    Raises
    ------
    UsageError
        When the suffix names a format matplotlib does not write (exit status 2).
    """
    from matplotlib.backend_bases import FigureCanvasBase

    from . import UsageError

    p = Path(path)
    if p.is_dir():
        return p
    fmt = p.suffix[1:].lower()
    if not fmt:
        return p.with_name(p.name.rstrip(".") + ".png")
    formats = FigureCanvasBase.get_supported_filetypes()
    if fmt not in formats:
        raise UsageError(
            f"cannot write image {str(p)!r}: format {fmt!r} is not one of {', '.join(sorted(formats))}"
        )
    return p


def save_figure(fig: Any, path: Path, force: bool, **savefig_kw: Any) -> None:
    """Write ``fig`` to ``path`` (format from its suffix) under its output lock, atomically.

    The existence check is repeated under the lock, so that of two commands writing the same
    image one fails with the "exists" message (or the lock's) and neither leaves half a file.
    """
    from nwutil.fileio import atomic_path, output_lock

    from . import CLIError

    with output_lock(path, what="image"):
        if path.exists() and not force:
            raise CLIError(f"output {str(path)!r} exists; pass --force to overwrite it")
        with atomic_path(path, unique=True) as tmp:
            fig.savefig(tmp, format=path.suffix[1:].lower(), **savefig_kw)


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout (numpy scalars and arrays allowed)."""
    json.dump(obj, sys.stdout, indent=2, default=json_default)
    sys.stdout.write("\n")


# --------------------------------------------------------------------------- datasets

#: The source checkout this package runs from (an editable install), or None.
_CHECKOUT = Path(__file__).resolve().parents[2]


def resolve_data_dir(given: str | None) -> str | None:
    """The data directory of the dataset commands.

    ``--data-dir`` when given, else ``$NWHIL_DATA``, else ``../shared/data`` beside the source
    checkout when running from one and that folder exists (the Makefile's default), else None:
    :func:`nwmodel.data.datasets.default_data_dir` (the per-user folder).
    """
    if given is not None:
        return given
    env = os.environ.get("NWHIL_DATA")
    if env:
        return env
    shared = _CHECKOUT.parent / "shared" / "data"
    if (_CHECKOUT / "pyproject.toml").is_file() and shared.is_dir():
        return str(shared)
    return None


def check_dataset_names(names: Sequence[str], data_dir: str | None) -> None:
    """:class:`~nwhil.UsageError` for a name :func:`nwmodel.load_dataset` cannot resolve.

    Resolves as :func:`nwmodel.load_dataset` does (a generator, files in ``data_dir``, a dataset
    bundled with aeon), without loading anything: aeon's folder is found, not imported.
    """
    from nwmodel.data.datasets import GENERATORS, default_data_dir

    from . import CLIError, UsageError

    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if data_dir is not None and not root.is_dir():
        raise CLIError(f"data directory {str(root)!r} does not exist")
    spec = importlib.util.find_spec("aeon")
    aeon_data = (
        Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
        if spec is not None and spec.submodule_search_locations
        else None
    )
    for name in names:
        if name in GENERATORS or (root / name).is_dir() or (root / f"{name}_TRAIN.tsv").is_file():
            continue
        if aeon_data is not None and (aeon_data / name).is_dir():
            continue
        raise UsageError(
            f"unknown dataset {name!r}: not a generator ({', '.join(sorted(GENERATORS))}), not in "
            f"{root}, and not bundled with aeon"
        )


#: Protocols of ``--protocol``: the same as :data:`nwmodel.selection.protocols.PROTOCOLS` (kept here so that
#: parsing does not import the models; a test checks that the two agree).
PROTOCOLS: tuple[str, ...] = ("paper", "tuned")


def add_protocol(parser: argparse.ArgumentParser) -> None:
    """Add ``--protocol paper|tuned`` (default tuned) to a command that runs model selection."""
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="tuned",
        help="readout protocol: 'paper' (the published one: last state, ridge alpha 1) or 'tuned' "
        "(standardised features, ridge alpha by leave-one-out, readout feature sets in the grid; "
        "default: %(default)s)",
    )
