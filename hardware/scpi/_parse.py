"""SCPI text: the error type, argument parsers, header parsing and number formatting (sockets-free).

Every parser raises :class:`ScpiError` with the SCPI code and a detail text that names what was
wrong; the instrument queues it (see :mod:`hardware.scpi.emulator` for the codes).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = [
    "ERR_TEXT",
    "INTEGER",
    "ScpiError",
    "bool_arg",
    "check_dt",
    "floats",
    "fmt",
    "is_query",
    "no_args",
    "parse_header",
    "printable",
]

#: SCPI error code -> its standard text.
ERR_TEXT = {
    -102: "Syntax error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -200: "Execution error",
    -221: "Settings conflict",
    -222: "Data out of range",
    -223: "Too much data",
    -224: "Illegal parameter value",
    -350: "Queue overflow",
}
#: Long form -> short form of the keywords.
_LONG = {
    "SOURCE": "SOUR", "OUTPUT": "OUTP", "MEASURE": "MEAS", "SYSTEM": "SYST", "ERROR": "ERR",
    "CHANNEL": "CHAN", "VOLTAGE": "VOLT", "CURRENT": "CURR", "LIMIT": "LIM", "COUNT": "COUN",
    "TRIGGER": "TRIG", "FETCH": "FETC", "INITIATE": "INIT", "FORMAT": "FORM", "COLUMNS": "COL",
    "COLS": "COL", "DEFINITION": "DEF",
}  # fmt: skip
#: Longest error text kept in the queue (characters; longer ones end in ``...``).
_ERR_TEXT_MAX = 1024
_TOKEN = re.compile(r"^([A-Z*]+)(\d*)$")
#: A decimal integer argument (``n_steps`` of a block).
INTEGER = re.compile(r"[+-]?\d+")


class ScpiError(Exception):
    """An error to queue: SCPI code and detail text."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.text = ERR_TEXT.get(code, "Error") + (f"; {detail}" if detail else "")
        super().__init__(f"{code},{self.text}")


def fmt(values: Any) -> str:
    """Comma-separated ``repr`` of float64 values (the shortest exact round trip of each)."""
    # ``tolist`` gives Python floats, whose repr is the shortest exact round trip of the float64
    return ",".join(map(repr, np.asarray(values, dtype=float).reshape(-1).tolist()))


def printable(text: str) -> str:
    """``text`` as printable ASCII without double quotes (it travels inside ``"..."``)."""
    text = text.encode("ascii", "backslashreplace").decode("ascii").replace('"', "'")
    if not text.isprintable():
        text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= _ERR_TEXT_MAX else text[: _ERR_TEXT_MAX - 3] + "..."


def is_query(part: str) -> bool:
    """Whether the command ``part`` is a query (its header holds ``?``)."""
    head = part.split(None, 1)
    return bool(head) and "?" in head[0]


def floats(args: str, what: str, count: int | None = None) -> list[float]:
    """Comma-separated numbers: -109 none or too few, -108 too many, -104 not a number, -102 empty."""
    text = args.strip()
    if not text:
        raise ScpiError(-109, f"{what} expected")
    fields = text.split(",")
    if count is not None and len(fields) != count:
        code = -108 if len(fields) > count else -109
        raise ScpiError(code, f"{what}: {count} value(s) expected, got {len(fields)}")
    if "_" not in text:  # Python's float() also takes digit separators; SCPI numbers have none
        try:
            return list(map(float, fields))
        except ValueError:
            pass
    raise _number_error(fields, what)


def _number_error(fields: list[str], what: str) -> ScpiError:
    """The error of the first field of ``fields`` that is not a number."""
    for i, f in enumerate(f.strip() for f in fields):
        if not f:
            return ScpiError(-102, f"{what}: value {i} is empty")
        try:
            if "_" not in f:
                float(f)
                continue
        except ValueError:
            pass
        return ScpiError(-104, f"{what}: value {i} must be a number, got {f[:24]!r}")
    return ScpiError(-104, f"{what} must be numbers")


def check_dt(dt: float) -> float:
    """``dt`` (s) when finite and > 0, else -222."""
    if not (np.isfinite(dt) and dt > 0):
        raise ScpiError(-222, f"dt must be a finite number > 0 s, got {dt!r}")
    return dt


def bool_arg(args: str) -> bool:
    """``ON|1`` -> True, ``OFF|0`` -> False (-109 when absent, -224 otherwise)."""
    a = args.strip().upper()
    if not a:
        raise ScpiError(-109, "ON|OFF|1|0 expected")
    if a in ("ON", "1"):
        return True
    if a in ("OFF", "0"):
        return False
    raise ScpiError(-224, f"expected ON|OFF|1|0, got {args.strip()[:24]!r}")


def no_args(args: str, what: str) -> None:
    """-108 when the command ``what`` got arguments."""
    if args.strip():
        raise ScpiError(-108, f"{what} takes no parameter, got {args.strip()[:24]!r}")


def parse_header(head: str, cmd: str, n_channels: int) -> tuple[str, int | None]:
    """Short-form keywords of ``head`` joined by ``:`` and the channel suffix of the first one.

    Parameters
    ----------
    head : str
        The upper-case header without its leading ``:`` and trailing ``?``.
    cmd : str
        The whole command (for the error texts).
    n_channels : int
        Channels of the instrument (for the error text of an absurd suffix).

    Raises
    ------
    ScpiError
        -102 for a keyword that is not letters and digits, -113 for a suffix on a later keyword,
        -224 for a suffix of more than 9 digits.
    """
    toks: list[tuple[str, str]] = []
    for t in head.split(":"):
        mt = _TOKEN.match(t)
        if not mt:
            raise ScpiError(-102, f"bad header {cmd[:40]!r}")
        toks.append((_LONG.get(mt.group(1), mt.group(1)), mt.group(2)))
    if any(s for _, s in toks[1:]):
        raise ScpiError(-113, f"{cmd[:40]!r} (a channel suffix belongs to the first keyword only)")
    suffix = toks[0][1]
    if len(suffix) > 9:  # beyond any channel count (and int() of thousands of digits is refused)
        raise ScpiError(-224, f"channel {suffix[:12]}... not in 1..{n_channels}")
    return ":".join(w for w, _ in toks), int(suffix) if suffix else None
