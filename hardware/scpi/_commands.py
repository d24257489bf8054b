"""The SCPI command set: one handler per command form and one table row per header.

To add a command, write its handler ``handler(instr, ch, args, payload) -> reply`` and add a row
to :data:`COMMANDS` (``SUBSYSTEM:...`` headers, short forms) or :data:`COMMON` (``*XXX``):

* ``instr`` is the :class:`~hardware.scpi._state.ScpiInstrument`;
* ``ch`` is the channel the suffix ``<n>`` names, already checked and resolved as the row's
  ``channel`` says (None for a header without a suffix);
* ``args`` is the argument text (already checked empty for forms that take none), ``payload``
  the data of a binary block (only for a row with ``query_payload``);
* the reply is the text of a query, ``bytes`` for a binary reply, None for a setting command;
  a refused command raises :class:`~hardware.scpi._parse.ScpiError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hardware.scpi._parse import INTEGER, ScpiError, bool_arg, check_dt, floats, fmt
from hardware.scpi._rows import rows_from_measurement
from nwutil.hdf5 import package_version

if TYPE_CHECKING:
    from hardware.scpi._state import ScpiInstrument

__all__ = ["CHANNEL_KINDS", "COMMANDS", "COMMON", "Command"]

#: A handler: ``(instrument, resolved channel, argument text, binary block) -> reply``.
Handler = Callable[["ScpiInstrument", Any, str, "bytes | None"], "str | bytes | None"]
#: How a channel suffix resolves (see :meth:`ScpiInstrument.resolve_channel`): ``"electrode"``
#: any channel, suffix required; ``"input"`` an input, channel 1 when absent; ``"inputs"`` one
#: input, all inputs when absent; ``"read"`` a channel that is read (not floating), 1 when absent.
CHANNEL_KINDS = ("electrode", "input", "inputs", "read")


@dataclass(frozen=True)
class Command:
    """One header of the command set.

    Attributes
    ----------
    query, set : callable or None
        Handlers of ``<header>?`` and ``<header> <args>``; None where the form does not exist (-113).
    channel : str or None
        One of :data:`CHANNEL_KINDS` where the header takes a suffix ``<n>``; None: no suffix (-113).
    query_args : bool
        Whether the query takes arguments (the stepping queries); otherwise any is -108.
    set_args : bool
        Whether the setting form takes arguments; otherwise any is -108.
    query_payload : bool
        Whether the query takes a binary block after its arguments; otherwise a block is -108.
    """

    query: Handler | None = None
    set: Handler | None = None
    channel: str | None = None
    query_args: bool = False
    set_args: bool = True
    query_payload: bool = False


def _need_last(instr: ScpiInstrument) -> Any:
    if instr.last is None:
        raise ScpiError(-221, "no reading yet")
    return instr.last


# ---------------------------------------------------------------------------- common commands
def _idn(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    model = f"{type(instr.device).__name__}-{len(instr.device.electrodes)}ch"
    return f"nanowire-hil,NWHIL-EMU,{model},{package_version()}"


def _rst(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> None:
    instr.reset()


def _cls(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> None:
    instr.errors.clear()


def _opc(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    return "1"


# ---------------------------------------------------------------------------- system and channels
def _error_next(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    if not instr.errors:
        return '0,"No error"'
    code, text = instr.errors.popleft()
    return f'{code},"{text}"'


def _error_count(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    return str(len(instr.errors))


def _channel_count(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    return str(len(instr.device.electrodes))


def _channel_definition(instr: ScpiInstrument, i: int, args: str, payload: bytes | None) -> str:
    e = instr.device.electrodes[i]
    return f"{e.name},{e.role},{e.max_abs_V!r},{e.compliance_A!r}"


def _columns(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    return ",".join(instr.columns())


# ---------------------------------------------------------------------------- source and output
def _levels(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    return fmt(instr.levels_V)


def _set_levels(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> None:
    v = np.array(floats(args, "levels", instr.levels_V.size))
    instr.check_levels(v)
    instr.levels_V = v


def _level(instr: ScpiInstrument, j: int, args: str, payload: bytes | None) -> str:
    return repr(float(instr.levels_V[j]))


def _set_level(instr: ScpiInstrument, j: int, args: str, payload: bytes | None) -> None:
    (x,) = floats(args, "level", 1)
    v = instr.levels_V.copy()
    v[j] = x
    instr.check_levels(v)
    instr.levels_V = v


def _voltage_limit(instr: ScpiInstrument, i: int, args: str, payload: bytes | None) -> str:
    return repr(instr.device.electrodes[i].max_abs_V)


def _compliance(instr: ScpiInstrument, j: int, args: str, payload: bytes | None) -> str:
    return repr(float(instr.comp_A[j]))


def _set_compliance(instr: ScpiInstrument, j: int, args: str, payload: bytes | None) -> None:
    (x,) = floats(args, "compliance", 1)
    default = instr.default_comp_A[j]
    if not 0.0 < x <= default:
        raise ScpiError(-222, f"compliance {x!r} A not in (0, {default!r}]")
    instr.comp_A[j] = x


def _output(instr: ScpiInstrument, sel: Any, args: str, payload: bytes | None) -> str:
    return "1" if np.any(instr.output_on[sel]) else "0"


def _set_output(instr: ScpiInstrument, sel: Any, args: str, payload: bytes | None) -> None:
    state = bool_arg(args)
    instr.output_on[sel] = state
    if not state:
        instr.device_safe_state()


# ---------------------------------------------------------------------------- trigger and readings
def _dt(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    return repr(instr.dt_s)


def _set_dt(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> None:
    (x,) = floats(args, "dt", 1)
    instr.dt_s = check_dt(x)


def _initiate(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> None:
    instr.run(instr.levels_V[None, :].copy(), instr.dt_s)


def _fetch(quantity: str) -> Handler:
    def fetch(instr: ScpiInstrument, i: int, args: str, payload: bytes | None) -> str:
        return repr(instr.channel_value(_need_last(instr), i, quantity))

    return fetch


def _measure(quantity: str) -> Handler:
    def measure(instr: ScpiInstrument, i: int, args: str, payload: bytes | None) -> str:
        return repr(instr.channel_value(instr.reading(), i, quantity))

    return measure


def _fetch_time(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    return repr(float(_need_last(instr).t_s[-1]))


def _fetch_compliance(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    return str(int(rows_from_measurement(_need_last(instr))[-1, -1]))


def _measure_row(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    return fmt(rows_from_measurement(instr.reading())[-1])


# ---------------------------------------------------------------------------- stepping
def _list_step(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str:
    k = instr.levels_V.size
    vals = floats(args, "dt and levels", 1 + k)
    dt = check_dt(vals[0])
    return fmt(rows_from_measurement(instr.run(np.array([vals[1:]]), dt))[0])


def _block_ascii(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str | bytes:
    return _block(instr, False, args, payload)


def _block_binary(instr: ScpiInstrument, ch: Any, args: str, payload: bytes | None) -> str | bytes:
    return _block(instr, True, args, payload)


def _block(instr: ScpiInstrument, binary: bool, args: str, payload: bytes | None) -> str | bytes:
    """``BLOCK:ASC?`` / ``BLOCK:BIN?``: check every argument and limit, then run all steps."""
    k = instr.levels_V.size
    ncols, limit = instr.layout.n_columns, instr.max_block_values
    head = args.split(",", 2)
    if len(head) < 2:
        raise ScpiError(-109, "BLOCK expects <dt>,<n_steps>,<data>")
    (dt,) = floats(head[0], "dt", 1)
    steps = head[1].strip()
    if not INTEGER.fullmatch(steps):
        raise ScpiError(-104, f"n_steps must be an integer, got {steps[:24]!r}")
    if len(steps.lstrip("+-")) > 15:
        raise ScpiError(-223, f"n_steps {steps[:24]} exceeds max_block_values={limit} values of the reply")
    n = int(steps)
    check_dt(dt)
    if n < 1:
        raise ScpiError(-222, f"n_steps must be >= 1, got {n}")
    if n * ncols > limit:
        raise ScpiError(
            -223, f"{n} steps x {ncols} columns exceed max_block_values={limit} values of the reply"
        )
    if binary:
        if len(head) > 2 and head[2].strip():
            raise ScpiError(-108, f"BLOCK:BIN takes its levels as a binary block, got {head[2][:24]!r}")
        if payload is None or len(payload) != 8 * n * k:
            raise ScpiError(
                -109,
                f"binary block of {8 * n * k} bytes expected, got {0 if payload is None else len(payload)}",
            )
        v = np.frombuffer(payload, dtype="<f8").reshape(n, k).copy()
    else:
        v = np.array(floats(head[2] if len(head) > 2 else "", "levels", n * k)).reshape(n, k)
    rows = rows_from_measurement(instr.run(v, dt))
    if not binary:
        return fmt(rows)
    data = np.ascontiguousarray(rows, dtype="<f8").tobytes()
    ln = str(len(data)).encode()
    return b"#" + str(len(ln)).encode() + ln + data


# ---------------------------------------------------------------------------- the tables
#: Common commands, by header (``*XXX``, no suffix, no arguments).
COMMON: dict[str, Command] = {
    "*IDN": Command(query=_idn),
    "*RST": Command(set=_rst, set_args=False),
    "*CLS": Command(set=_cls, set_args=False),
    "*OPC": Command(query=_opc),
}

#: The command set, by short-form header (keywords joined by ``:``, without suffix and ``?``).
COMMANDS: dict[str, Command] = {
    "SYST:ERR": Command(query=_error_next),
    "SYST:ERR:COUN": Command(query=_error_count),
    "CHAN:COUN": Command(query=_channel_count),
    "CHAN:DEF": Command(query=_channel_definition, channel="electrode"),
    "FORM:COL": Command(query=_columns),
    "SOUR:VOLT:ALL": Command(query=_levels, set=_set_levels),
    "SOUR:VOLT": Command(query=_level, set=_set_level, channel="input"),
    "SOUR:VOLT:LIM": Command(query=_voltage_limit, channel="electrode"),
    "SOUR:CURR:LIM": Command(query=_compliance, set=_set_compliance, channel="input"),
    "OUTP": Command(query=_output, set=_set_output, channel="inputs"),
    "TRIG:DT": Command(query=_dt, set=_set_dt),
    "INIT": Command(set=_initiate, set_args=False),
    "FETC:VOLT": Command(query=_fetch("VOLT"), channel="read"),
    "FETC:CURR": Command(query=_fetch("CURR"), channel="read"),
    "FETC:TIME": Command(query=_fetch_time),
    "FETC:COMP": Command(query=_fetch_compliance),
    "MEAS": Command(query=_measure_row),
    "MEAS:VOLT": Command(query=_measure("VOLT"), channel="read"),
    "MEAS:CURR": Command(query=_measure("CURR"), channel="read"),
    "LIST:STEP": Command(query=_list_step, query_args=True),
    "BLOCK:ASC": Command(query=_block_ascii, query_args=True),
    "BLOCK:BIN": Command(query=_block_binary, query_args=True, query_payload=True),
}
