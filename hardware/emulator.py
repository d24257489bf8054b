"""SCPI emulator: serve any :class:`~hardware.Device` as a multichannel source-measure instrument.

The server is a threaded :mod:`socketserver` on a loopback address only (one thread per connection,
at most ``max_clients`` of them); every connection talks to the same instrument state. Levels,
limits and the error queue survive a disconnect; the outputs survive it unless the connection that
closed was in control (see *Limits and safety*): a client that reconnects must read the state back,
not assume the output is off.
Messages end with ``\\n``; several commands may share a line separated by ``;`` (their replies are
joined by ``;``). Keywords are case-insensitive, a leading ``:`` is optional, and the long forms
(``SOURce``, ``OUTPut``, ``MEASure``, ``SYSTem``, ``ERRor``, ``CHANnel``, ``VOLTage``, ``CURRent``,
``LIMit``, ``COUNt``, ``TRIGger``, ``FETCh``, ``INITiate``, ``FORMat``, ``COLumns``) are accepted.

Channels ``n = 1 .. N`` are the device electrodes in :attr:`~hardware.Device.electrodes` order; a
channel suffix is accepted only where the table shows ``<n>`` (elsewhere -113), and a channel
outside ``1 .. N`` is -224. Numbers travel as Python ``repr`` of float64 (shortest exact round trip)
or as binary float64; a number is decimal (``[+-]digits[.digits][e[+-]digits]``, ``inf`` or ``nan``).

Command set
-----------
========================================  ==============================================================
``*IDN?``                                 ``nanowire-hil,NWHIL-EMU,<backend>-<N>ch,<version>``
``*RST``                                  reset the device state (``Device.reset``), outputs off,
                                          levels 0 V, limits to defaults, step 1 ms, clear errors
``*CLS``                                  clear the error queue
``*OPC?``                                 ``1``
``SYST:ERR?``                             next error ``<code>,"<text>"``; ``0,"No error"`` when empty
``SYST:ERR:COUN?``                        number of queued errors (queue holds 32; then -350)
``CHAN:COUN?``                            N
``CHAN<n>:DEF?``                          ``<name>,<role>,<max_abs_V>,<compliance_A>``
``SOUR<n>:VOLT <V>`` / ``SOUR<n>:VOLT?``  level of input channel n (|V| <= max_abs_V else -222)
``SOUR:VOLT:ALL <V1>,...`` / ``?``        levels of all input channels at once
``SOUR<n>:VOLT:LIM?``                     max |V| of channel n (read only)
``SOUR<n>:CURR:LIM <A>`` / ``?``          current compliance of input channel n, in (0, default]
``OUTP[<n>] ON|OFF|1|0`` / ``OUTP[<n>]?`` output state of one or all input channels; ``OUTP?`` is 1
                                          when any is on. ``OFF`` puts the device in its safe state
                                          (levels stay as set)
``TRIG:DT <s>`` / ``TRIG:DT?``            step duration used by ``INIT``
``INIT``                                  apply one step of ``TRIG:DT`` at the present levels
``FETC<n>:VOLT?`` / ``FETC<n>:CURR?``     voltage/current of channel n from the last step or reading
``FETC:TIME?`` / ``FETC:COMP?``           time stamp / compliance bit mask of the last step
``MEAS?``                                 one reading at the present bias, as one row (see below)
``MEAS<n>:VOLT?`` / ``MEAS<n>:CURR?``     one reading, value of channel n
``LIST:STEP? <dt>,<V1>,...,<Vk>``         LIST mode: one step of all k input channels, one row back
``BLOCK:ASC? <dt>,<n>,<V...>``            BLOCK mode, ascii: n steps row-major, n rows back on one line
``BLOCK:BIN? <dt>,<n>,#<block>``          BLOCK mode, binary: IEEE 488.2 definite-length block of
                                          n*k little-endian float64; the reply is such a block
``FORM:COL?``                             the column names of a row
========================================  ==============================================================

A row is ``t_s, input_V (k), output_V (n_out), input_current_A (k), ground_current_A (n_gnd),
compliance_mask`` (bit j set when input j was at compliance). Stepping commands need every input
output on (else -221). A query that fails answers an empty line (so a client never waits for its
timeout) and queues the error: read ``SYST:ERR?``. A message with an error is never partly applied:
a command's arguments are all checked before it acts (a block's levels all before its first step).

Error codes: -102 syntax error (also a malformed or incomplete binary block), -104 data type error
(not a number, not an integer), -108 parameter not allowed (too many values, arguments on a
command that takes none, a block where none is expected), -109 missing parameter, -113 undefined
header, -200 execution error (text of the device exception), -221 settings conflict, -222 data out
of range, -223 too much data (line or block over its limit), -224 illegal parameter value, -350
queue overflow. Error texts are printable ASCII.

Limits and safety
-----------------
* Block size: a ``BLOCK`` command whose reply holds more than ``max_block_values`` float64 values
  (``n_steps`` x the columns of a row; default :data:`DEFAULT_MAX_BLOCK_VALUES` = 2**19 = 524 288,
  4 MiB in binary) is refused with -223 before anything is applied. A binary block declared longer
  than ``8 * max_block_values`` bytes is skipped as it arrives (never stored) and refused with -223.
* Line cap: a line longer than ``max_line_bytes`` bytes (the text of a message without its
  ``\\n``, or the text in front of a binary block) is discarded up to its newline without being
  stored or executed, and -223 is queued (a query among its first 256 bytes gets an empty line).
  The default is :func:`max_line_bytes_for` ``(max_block_values)``: 25 bytes per value (the longest
  ``repr`` of a float64 has 24 characters, plus its comma) for the largest ASCII block, plus 4 KiB
  for the command header: 13 111 296 bytes (12.5 MiB) for the default block limit.
* Block data: a binary block whose data stop arriving for ``block_timeout_s`` seconds (default
  2 s) before it is complete is abandoned with -102 (a query gets an empty line).
* Memory per connection is therefore bounded by about ``max_line_bytes + 8 * max_block_values``
  bytes plus one 64 KiB receive chunk (about 17 MiB with the defaults), and the reply of one block.
* Clients: at most ``max_clients`` connections (default :data:`DEFAULT_MAX_CLIENTS` = 8) are served
  at once; one beyond them gets the single line
  ``-200,"Execution error; connection refused: ... max_clients=<m> ..."`` and is closed at once.
  A client that takes no reply for 10 s is disconnected.
* Disconnect: the connection that last sent a setting command (one without ``?``) or a stepping
  query (``LIST:STEP?``, ``BLOCK:...?``) is in control. When it closes, cleanly or by a reset, the
  instrument reaches its safe state as soon as the server sees the connection end: every level
  0 V, every output off, and the device in its safe state (``Device.safe_state``: sources at 0 V,
  ramped where the backend needs it), as after ``SOUR:VOLT:ALL 0,...;OUTP OFF``. A block is computed
  in chunks of about ``block_chunk_s`` seconds of computing time (default 0.05 s); between chunks
  the server checks whether its client is still connected, and when it is not, stops the block and
  reaches the same safe state.
  A client that only queries never takes control, so its disconnect changes nothing. A connection
  dropped by :class:`Faults` (a lost link) and :meth:`EmulatorServer.stop` leave the outputs as
  they are, except that a block in progress at ``stop`` is stopped and reaches the safe state.

See also ``hardware/SCPI.md``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ._checks import check_int, check_real
from .device import Device, Measurement
from .errors import HardwareError, HardwareValidationError, LimitError

__all__ = [
    "DEFAULT_BLOCK_TIMEOUT_S",
    "DEFAULT_MAX_BLOCK_VALUES",
    "DEFAULT_MAX_CLIENTS",
    "DEFAULT_MAX_LINE_BYTES",
    "EmulatorServer",
    "Faults",
    "ScpiInstrument",
    "max_line_bytes_for",
    "serve_emulator",
]

log = logging.getLogger(__name__)

_LONG = {
    "SOURCE": "SOUR", "OUTPUT": "OUTP", "MEASURE": "MEAS", "SYSTEM": "SYST", "ERROR": "ERR",
    "CHANNEL": "CHAN", "VOLTAGE": "VOLT", "CURRENT": "CURR", "LIMIT": "LIM", "COUNT": "COUN",
    "TRIGGER": "TRIG", "FETCH": "FETC", "INITIATE": "INIT", "FORMAT": "FORM", "COLUMNS": "COL",
    "COLS": "COL", "DEFINITION": "DEF",
}
_ERR_TEXT = {
    -102: "Syntax error", -104: "Data type error", -108: "Parameter not allowed",
    -109: "Missing parameter", -113: "Undefined header", -200: "Execution error",
    -221: "Settings conflict", -222: "Data out of range", -223: "Too much data",
    -224: "Illegal parameter value", -350: "Queue overflow",
}
_QUEUE_MAX = 32
#: Longest error text kept in the queue (characters; longer ones end in ``...``).
_ERR_TEXT_MAX = 1024
_TOKEN = re.compile(r"^([A-Z*]+)(\d*)$")
#: Parsed headers kept per instrument (the command set has a few dozen; channel numbers multiply it).
_HEADER_CACHE_MAX = 512
#: Headers of the command set (short forms); anything else is -113 before its arguments are looked at.
_HEADERS = frozenset({
    "SYST:ERR", "SYST:ERR:COUN", "CHAN:COUN", "CHAN:DEF", "FORM:COL", "SOUR:VOLT:ALL", "SOUR:VOLT",
    "SOUR:VOLT:LIM", "SOUR:CURR:LIM", "OUTP", "TRIG:DT", "INIT", "FETC:VOLT", "FETC:CURR", "FETC:TIME",
    "FETC:COMP", "MEAS", "MEAS:VOLT", "MEAS:CURR", "LIST:STEP", "BLOCK:ASC", "BLOCK:BIN",
})
#: Headers that take a channel suffix ``<n>``.
_CHANNEL_HEADERS = frozenset({"CHAN:DEF", "SOUR:VOLT", "SOUR:VOLT:LIM", "SOUR:CURR:LIM", "OUTP",
                              "FETC:VOLT", "FETC:CURR", "MEAS:VOLT", "MEAS:CURR"})
#: Queries that take arguments (the stepping queries); every other query takes none.
_STEPPING_QUERIES = frozenset({"LIST:STEP", "BLOCK:ASC", "BLOCK:BIN"})
_INTEGER = re.compile(r"[+-]?\d+")

#: Default of ``max_block_values``: float64 values in the reply of one BLOCK command (4 MiB binary).
DEFAULT_MAX_BLOCK_VALUES = 2**19
#: Bytes of one value in an ASCII block: the longest ``repr`` of a float64 (24) and its comma.
_ASCII_VALUE_BYTES = 25
#: Room on a BLOCK:ASC line for its header ``BLOCK:ASC? <dt>,<n_steps>,`` and commands before it.
_LINE_HEADER_BYTES = 4096
#: Default of ``max_clients``: connections served at once.
DEFAULT_MAX_CLIENTS = 8
#: Default of ``block_timeout_s``: seconds without data after which an incomplete block is abandoned.
DEFAULT_BLOCK_TIMEOUT_S = 2.0
#: Default of ``block_chunk_s``: seconds of computing between two checks for a disconnect in a block.
_BLOCK_CHUNK_S = 0.05
#: Steps of the first chunk of a block, before the time per step is known.
_FIRST_CHUNK_STEPS = 8
#: Receive chunk (bytes), socket poll interval (s) and the time a client has to take a reply (s).
_RECV_BYTES = 65536
_POLL_S = 0.1
_SEND_TIMEOUT_S = 10.0
#: A refused connection is read until the client closes it, for at most this long (s), by at most this
#: many threads at once.
_REFUSAL_LINGER_S = 1.0
_REFUSALS_LINGERING_MAX = 32


def max_line_bytes_for(max_block_values: int) -> int:
    """The line cap that admits the ASCII form of the largest block, in bytes.

    Parameters
    ----------
    max_block_values : int
        Largest number of float64 values of one block (>= 1).

    Returns
    -------
    int
        ``25 * max_block_values + 4096``: 24 characters for the longest ``repr`` of a float64 and
        its comma per value, and 4 KiB for the command header.
    """
    n = check_int("max_block_values", max_block_values, low=1)
    return _ASCII_VALUE_BYTES * n + _LINE_HEADER_BYTES


#: Default of ``max_line_bytes``: :func:`max_line_bytes_for` of the default block limit, 13 111 296 bytes
#: (12.5 MiB).
DEFAULT_MAX_LINE_BYTES = max_line_bytes_for(DEFAULT_MAX_BLOCK_VALUES)


class ScpiError(Exception):
    """An error to queue: SCPI code and detail text."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.text = _ERR_TEXT.get(code, "Error") + (f"; {detail}" if detail else "")
        super().__init__(f"{code},{self.text}")


class _ClientGone(Exception):
    """The client of a block in progress is gone: the block was stopped and the safe state reached."""


def _fmt(values: Any) -> str:
    # ``tolist`` gives Python floats, whose repr is the shortest exact round trip of the float64
    return ",".join(map(repr, np.asarray(values, dtype=float).reshape(-1).tolist()))


def _printable(text: str) -> str:
    """``text`` as printable ASCII without double quotes (it travels inside ``"..."``)."""
    text = text.encode("ascii", "backslashreplace").decode("ascii").replace('"', "'")
    if not text.isprintable():
        text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= _ERR_TEXT_MAX else text[:_ERR_TEXT_MAX - 3] + "..."


def _is_query(part: str) -> bool:
    head = part.split(None, 1)
    return bool(head) and "?" in head[0]


def _floats(args: str, what: str, count: int | None = None) -> list[float]:
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


def _check_dt(dt: float) -> float:
    if not (np.isfinite(dt) and dt > 0):
        raise ScpiError(-222, f"dt must be a finite number > 0 s, got {dt!r}")
    return dt


def _bool_arg(args: str) -> bool:
    a = args.strip().upper()
    if not a:
        raise ScpiError(-109, "ON|OFF|1|0 expected")
    if a in ("ON", "1"):
        return True
    if a in ("OFF", "0"):
        return False
    raise ScpiError(-224, f"expected ON|OFF|1|0, got {args.strip()[:24]!r}")


def _no_args(args: str, what: str) -> None:
    if args.strip():
        raise ScpiError(-108, f"{what} takes no parameter, got {args.strip()[:24]!r}")


def rows_from_measurement(m: Measurement) -> np.ndarray:
    """The reply rows of a measurement, shape (n_steps, 2 + 2 k + n_out + n_gnd)."""
    n, k = m.input_V.shape
    no, ng = m.output_V.shape[1], m.ground_current_A.shape[1]
    rows = np.empty((n, 2 + 2 * k + no + ng))
    rows[:, 0] = m.t_s
    rows[:, 1:1 + k] = m.input_V
    rows[:, 1 + k:1 + k + no] = m.output_V
    rows[:, 1 + k + no:1 + 2 * k + no] = m.input_current_A
    rows[:, 1 + 2 * k + no:-1] = m.ground_current_A
    rows[:, -1] = (m.compliance.astype(np.int64) << np.arange(k, dtype=np.int64)).sum(axis=1)
    return rows


@dataclass
class Faults:
    """Fault injection for tests: applied by the server to every reply while set.

    Attributes
    ----------
    delay_s : float
        Sleep before a reply.
    delay_n : int or None
        Number of replies still to delay (None = every reply).
    malformed_n : int
        Number of query replies still to replace by garbage.
    drop_after : int or None
        Close the connection (without reply) when this many more commands have been received. This
        is a lost link: the instrument does not see a client leave, and keeps its outputs as they are.
    """

    delay_s: float = 0.0
    delay_n: int | None = None
    malformed_n: int = 0
    drop_after: int | None = None


class ScpiInstrument:
    """The instrument state machine behind the server (sockets-free; thread-safe).

    Parameters
    ----------
    device : Device
        The served device. Its ``compliance_policy`` is set to ``"record"``: compliance travels as
        bits in every row and the client applies its own policy.
    max_block_values : int
        Largest number of float64 values in the reply of one ``BLOCK`` command (``n_steps`` x the
        columns of a row, >= 1); larger blocks are refused with -223.
    block_chunk_s : float
        Seconds of computing (> 0) between two calls of ``cancelled`` (see :meth:`execute`) in a
        block; the chunk length in steps follows from the time per step measured so far.
    """

    def __init__(self, device: Device, *, max_block_values: int = DEFAULT_MAX_BLOCK_VALUES,
                 block_chunk_s: float = _BLOCK_CHUNK_S) -> None:
        self.max_block_values = check_int("max_block_values", max_block_values, low=1)
        self.block_chunk_s = check_real("block_chunk_s", block_chunk_s, low=0.0, low_open=True)
        self.device = device
        device.compliance_policy = "record"
        self.lock = threading.RLock()
        self.errors: deque[tuple[int, str]] = deque()
        self._in_idx = [i for i, e in enumerate(device.electrodes) if e.role == "input"]
        self._in_pos = {i: j for j, i in enumerate(self._in_idx)}
        roles: dict[str, list[int]] = {}
        for i, e in enumerate(device.electrodes):
            roles.setdefault(e.role, []).append(i)
        #: position of each electrode among those of its role (the column within its block of a row)
        self._role_pos = {i: idx.index(i) for idx in roles.values() for i in idx}
        self._default_comp = np.array([device.electrodes[i].compliance_A for i in self._in_idx])
        self._ncols = len(self.columns())
        self._headers: dict[str, tuple[str, int | None]] = {}
        self._step_s: float | None = None  # computing time per step of the last block chunk
        self._owner: object | None = None  # the client in control (see the module docstring)
        self._client: object | None = None  # the client of the message being executed
        self._cancelled: Callable[[], bool] | None = None
        self._rst_state()

    def _rst_state(self) -> None:
        k = len(self._in_idx)
        self.levels_V = np.zeros(k)
        self.output_on = np.zeros(k, dtype=bool)
        self.comp_A = self._default_comp.copy()
        self.dt_s = 1e-3
        self.last: Measurement | None = None

    # ------------------------------------------------------------------ helpers
    def push_error(self, code: int, text: str) -> None:
        """Queue an error (the last slot becomes -350 when the queue overflows)."""
        if len(self.errors) >= _QUEUE_MAX:
            self.errors[-1] = (-350, _ERR_TEXT[-350])
            return
        self.errors.append((code, _printable(text)))

    def _channel(self, n: int | None, *, default: int | None = 1) -> int:
        """Electrode index of channel suffix ``n`` (``default`` when absent); -224 outside 1..N."""
        count = len(self.device.electrodes)
        if n is None:
            if default is None:
                raise ScpiError(-109, f"channel suffix 1..{count} expected")
            n = default
        if not 1 <= n <= count:
            raise ScpiError(-224, f"channel {n} not in 1..{count}")
        return n - 1

    def _input_pos(self, n: int | None) -> int:
        i = self._channel(n)
        if i not in self._in_pos:
            raise ScpiError(-221, f"channel {i + 1} ({self.device.electrodes[i].name}) is not an input")
        return self._in_pos[i]

    def _read_channel(self, n: int | None) -> int:
        """Electrode index of a channel that is read (not floating)."""
        i = self._channel(n)
        e = self.device.electrodes[i]
        if e.role == "floating":
            raise ScpiError(-221, f"channel {i + 1} ({e.name}) is floating and not read")
        return i

    def _check_levels(self, v: np.ndarray) -> None:
        try:
            self.device.check_voltages(np.atleast_2d(v))
        except LimitError as exc:
            raise ScpiError(-222, str(exc)) from None
        except HardwareValidationError as exc:
            raise ScpiError(-224, str(exc)) from None

    def _need_output(self) -> None:
        if not self.output_on.all():
            off = [self.device.electrodes[self._in_idx[j]].name for j in np.flatnonzero(~self.output_on)]
            raise ScpiError(-221, f"output off on {', '.join(off)}")

    def _comp_extra(self, m: Measurement) -> Measurement:
        extra = np.abs(m.input_current_A) >= self.comp_A
        if not (extra & ~m.compliance).any():
            return m
        return Measurement(m.t_s, m.input_V, m.output_V, m.input_current_A, m.ground_current_A,
                           m.compliance | extra, m.node_voltage_V, m.metadata)

    def _device_safe_state(self) -> None:
        try:
            self.device.safe_state()
        except Exception as exc:
            raise ScpiError(-200, f"safe state failed: {type(exc).__name__}: {exc}") from None

    def _apply(self, v: np.ndarray, dt_s: float) -> Measurement:
        try:
            return self.device.apply(v, dt_s)
        except HardwareValidationError as exc:
            raise ScpiError(-224, str(exc)) from None
        except LimitError as exc:
            raise ScpiError(-222, str(exc)) from None
        except HardwareError as exc:
            raise ScpiError(-200, str(exc)) from None
        except Exception as exc:  # a physics failure is an execution error of the instrument
            raise ScpiError(-200, f"{type(exc).__name__}: {exc}") from None

    def _run(self, v: np.ndarray, dt_s: float) -> Measurement:
        """Apply ``v`` (n_steps, k); in chunks, checking for a disconnect in between, when cancellable."""
        self._need_output()
        self._owner = self._client
        # every level is checked before the first chunk touches the device (LimitError -> -222,
        # HardwareValidationError -> -224): a rejected block applies nothing
        self._check_levels(v)
        n = v.shape[0]
        cancelled = self._cancelled
        if cancelled is None or n == 1:
            m = self._apply(v, dt_s)
        else:
            parts: list[Measurement] = []
            s = 0
            while s < n:
                if cancelled():
                    self._stop_block(s, n)
                steps = (_FIRST_CHUNK_STEPS if self._step_s is None
                         else max(1, int(self.block_chunk_s / self._step_s)))
                steps = min(steps, n - s)
                t0 = time.perf_counter()
                parts.append(self._apply(v[s:s + steps], dt_s))
                self._step_s = max(time.perf_counter() - t0, 1e-9) / steps
                s += steps
            # Device.apply keeps the clock and every state across calls: the chunks give the numbers
            # of one call
            m = parts[0] if len(parts) == 1 else Measurement.concatenate(parts)
        m = self._comp_extra(m)
        self.levels_V = v[-1].copy()
        self.last = m
        return m

    def _stop_block(self, done: int, n: int) -> None:
        log.warning("emulator: client gone during a block after %d of %d steps: block stopped, "
                    "device in its safe state, levels 0 V and outputs off", done, n)
        self._owner = None
        self._safe_state_all()
        raise _ClientGone

    def _safe_state_all(self) -> None:
        """Device safe state, levels 0 V, every output off (queues -200 when the device fails)."""
        self.levels_V = np.zeros_like(self.levels_V)
        self.output_on[:] = False
        try:
            self._device_safe_state()
        except ScpiError as exc:
            log.error("emulator: %s", exc.text)
            self.push_error(exc.code, exc.text)

    def _reading(self) -> Measurement:
        self._need_output()
        try:
            m = self._comp_extra(self.device.read())
        except Exception as exc:
            raise ScpiError(-200, f"{type(exc).__name__}: {exc}") from None
        self.last = m
        return m

    def _channel_value(self, m: Measurement, i: int, quantity: str) -> float:
        """Voltage (``"VOLT"``) or current (``"CURR"``) of electrode ``i`` (validated) in ``m``."""
        role, j = self.device.electrodes[i].role, self._role_pos[i]
        if role == "input":
            return float((m.input_V if quantity == "VOLT" else m.input_current_A)[-1, j])
        if role == "output":
            return float(m.output_V[-1, j]) if quantity == "VOLT" else 0.0
        return 0.0 if quantity == "VOLT" else float(m.ground_current_A[-1, j])

    def columns(self) -> list[str]:
        """Column names of a row."""
        d = self.device
        return (["t_s"] + [f"in_V:{n}" for n in d.input_names] + [f"out_V:{n}" for n in d.output_names]
                + [f"in_A:{n}" for n in d.input_names] + [f"gnd_A:{n}" for n in d.ground_names] + ["comp"])

    # ------------------------------------------------------------------ clients
    def client_gone(self, client: object) -> bool:
        """The connection ``client`` closed: reach the safe state if it was in control.

        Parameters
        ----------
        client : object
            The token the connection passed to :meth:`execute`.

        Returns
        -------
        bool
            Whether ``client`` was in control (then the levels are 0 V and every output is off).
        """
        with self.lock:
            if client is None or self._owner is not client:
                return False
            self._owner = None
            was_on = bool(self.output_on.any())
            self._safe_state_all()
        (log.warning if was_on else log.info)(
            "emulator: the client in control disconnected: device in its safe state, levels 0 V and "
            "outputs off")
        return True

    # ------------------------------------------------------------------ dispatch
    def execute(self, line: str, payload: bytes | None = None, *, client: object | None = None,
                cancelled: Callable[[], bool] | None = None) -> bytes | None:
        """Execute one received message; return the reply bytes (with ``\\n``) or None.

        Parameters
        ----------
        line : str
            The message text: commands separated by ``;`` (the text in front of a binary block).
        payload : bytes, optional
            The data of a binary block that follows ``line``; it belongs to the last command.
        client : object, optional
            A token of the connection; a setting command or a step makes it the one in control
            (see :meth:`client_gone`).
        cancelled : callable, optional
            Called between the chunks of a block; True stops the block, puts the instrument in its
            safe state and returns None (the client is gone).
        """
        with self.lock:
            self._client, self._cancelled = client, cancelled
            try:
                return self._execute(line, payload)
            finally:
                self._client = self._cancelled = None

    def _execute(self, line: str, payload: bytes | None) -> bytes | None:
        parts = [p.strip() for p in line.split(";") if p.strip()]
        if payload is not None and not parts:
            parts = [""]
        replies: list[str] = []
        any_query = False
        for k, part in enumerate(parts):
            is_query = _is_query(part)
            any_query |= is_query
            if not is_query:
                self._owner = self._client
            try:
                r = self._one(part, payload if k == len(parts) - 1 else None)
            except ScpiError as exc:
                self.push_error(exc.code, exc.text)
                r = "" if is_query else None
                log.debug("emulator: %r -> error %s", part[:60], exc)
            except _ClientGone:
                return None
            except Exception as exc:  # a defect of the emulator: report it, keep serving
                log.error("emulator: internal error executing %r", part[:60], exc_info=True)
                self.push_error(-200, f"internal error: {type(exc).__name__}: {exc}")
                r = "" if is_query else None
            if r is not None:
                replies.append(r if isinstance(r, str) else r.decode("latin-1"))
        if not any_query:
            return None
        return (";".join(replies) + "\n").encode("latin-1")

    def reject(self, line: str, code: int, detail: str) -> bytes | None:
        """Refuse a message the transport could not take in (an over-long line, a malformed block).

        Nothing of it is executed; the error is queued and a query gets an empty line.

        Parameters
        ----------
        line : str
            The start of the message (its commands up to the first problem).
        code : int
            SCPI error code.
        detail : str
            What was wrong, with the limit that applies.
        """
        exc = ScpiError(code, detail)
        with self.lock:
            self.push_error(exc.code, exc.text)
        log.debug("emulator: %r -> error %s", line[:60], exc)
        return b"\n" if any(_is_query(p) for p in line.split(";")) else None

    def _one(self, cmd: str, payload: bytes | None) -> str | bytes | None:
        head, args = [*cmd.split(None, 1), ""][:2]
        head = head.upper().lstrip(":")
        query = head.endswith("?")
        if query:
            head = head[:-1]
        if not head:
            raise ScpiError(-102, f"command expected, got {cmd[:40]!r}")
        if head.startswith("*"):
            if payload is not None:
                raise ScpiError(-108, f"binary block not allowed after {cmd[:40]!r}")
            return self._common(head, query, args)
        words, n = self._header(head, cmd)
        if words not in _HEADERS:
            raise ScpiError(-113, f"{cmd[:40]!r}")
        if payload is not None and not (query and words == "BLOCK:BIN"):
            raise ScpiError(-108, f"binary block not allowed after {cmd[:40]!r}")
        if n is not None and words not in _CHANNEL_HEADERS:
            raise ScpiError(-113, f"{cmd[:40]!r} (a channel suffix is allowed on CHAN<n>:DEF, "
                                  "SOUR<n>:..., OUTP<n>, FETC<n>:... and MEAS<n>:... only)")
        if query and words not in _STEPPING_QUERIES:
            _no_args(args, f"{words}?")
        d = self.device
        if words == "SYST:ERR" and query:
            if not self.errors:
                return '0,"No error"'
            code, text = self.errors.popleft()
            return f'{code},"{text}"'
        if words == "SYST:ERR:COUN" and query:
            return str(len(self.errors))
        if words == "CHAN:COUN" and query:
            return str(len(d.electrodes))
        if words == "CHAN:DEF" and query:
            e = d.electrodes[self._channel(n, default=None)]
            return f"{e.name},{e.role},{e.max_abs_V!r},{e.compliance_A!r}"
        if words == "FORM:COL" and query:
            return ",".join(self.columns())
        if words == "SOUR:VOLT:ALL":
            if query:
                return _fmt(self.levels_V)
            v = np.array(_floats(args, "levels", self.levels_V.size))
            self._check_levels(v)
            self.levels_V = v
            return None
        if words == "SOUR:VOLT":
            j = self._input_pos(n)
            if query:
                return repr(float(self.levels_V[j]))
            (x,) = _floats(args, "level", 1)
            v = self.levels_V.copy()
            v[j] = x
            self._check_levels(v)
            self.levels_V = v
            return None
        if words == "SOUR:VOLT:LIM" and query:
            return repr(d.electrodes[self._channel(n, default=None)].max_abs_V)
        if words == "SOUR:CURR:LIM":
            j = self._input_pos(n)
            if query:
                return repr(float(self.comp_A[j]))
            (x,) = _floats(args, "compliance", 1)
            if not 0.0 < x <= self._default_comp[j]:
                raise ScpiError(-222, f"compliance {x!r} A not in (0, {self._default_comp[j]!r}]")
            self.comp_A[j] = x
            return None
        if words == "OUTP":
            sel = slice(None) if n is None else self._input_pos(n)
            if query:
                return "1" if np.any(self.output_on[sel]) else "0"
            state = _bool_arg(args)
            self.output_on[sel] = state
            if not state:
                self._device_safe_state()
            return None
        if words == "TRIG:DT":
            if query:
                return repr(self.dt_s)
            (x,) = _floats(args, "dt", 1)
            self.dt_s = _check_dt(x)
            return None
        if words == "INIT" and not query:
            _no_args(args, "INIT")
            self._run(self.levels_V[None, :].copy(), self.dt_s)
            return None
        if words in ("FETC:VOLT", "FETC:CURR") and query:
            i = self._read_channel(n)
            if self.last is None:
                raise ScpiError(-221, "no reading yet")
            return repr(self._channel_value(self.last, i, words[5:]))
        if words == "FETC:TIME" and query:
            if self.last is None:
                raise ScpiError(-221, "no reading yet")
            return repr(float(self.last.t_s[-1]))
        if words == "FETC:COMP" and query:
            if self.last is None:
                raise ScpiError(-221, "no reading yet")
            return str(int(rows_from_measurement(self.last)[-1, -1]))
        if words == "MEAS" and query:
            return _fmt(rows_from_measurement(self._reading())[-1])
        if words in ("MEAS:VOLT", "MEAS:CURR") and query:
            i = self._read_channel(n)
            return repr(self._channel_value(self._reading(), i, words[5:]))
        if words == "LIST:STEP" and query:
            k = self.levels_V.size
            vals = _floats(args, "dt and levels", 1 + k)
            dt = _check_dt(vals[0])
            return _fmt(rows_from_measurement(self._run(np.array([vals[1:]]), dt))[0])
        if words in ("BLOCK:ASC", "BLOCK:BIN") and query:
            return self._block(words == "BLOCK:BIN", args, payload)
        raise ScpiError(-113, f"{cmd[:40]!r} ({words} is {'not a query' if query else 'a query only'})")

    def _header(self, head: str, cmd: str) -> tuple[str, int | None]:
        """Short-form keywords joined by ``:`` and the channel suffix of the first one (cached)."""
        parsed = self._headers.get(head)
        if parsed is not None:
            return parsed
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
            raise ScpiError(-224, f"channel {suffix[:12]}... not in 1..{len(self.device.electrodes)}")
        parsed = (":".join(w for w, _ in toks), int(suffix) if suffix else None)
        if len(self._headers) < _HEADER_CACHE_MAX:
            self._headers[head] = parsed
        return parsed

    def _block(self, binary: bool, args: str, payload: bytes | None) -> str | bytes:
        k = self.levels_V.size
        head = args.split(",", 2)
        if len(head) < 2:
            raise ScpiError(-109, "BLOCK expects <dt>,<n_steps>,<data>")
        (dt,) = _floats(head[0], "dt", 1)
        steps = head[1].strip()
        if not _INTEGER.fullmatch(steps):
            raise ScpiError(-104, f"n_steps must be an integer, got {steps[:24]!r}")
        if len(steps.lstrip("+-")) > 15:
            raise ScpiError(-223, f"n_steps {steps[:24]} exceeds max_block_values={self.max_block_values} "
                                  f"values of the reply")
        n = int(steps)
        _check_dt(dt)
        if n < 1:
            raise ScpiError(-222, f"n_steps must be >= 1, got {n}")
        if n * self._ncols > self.max_block_values:
            raise ScpiError(-223, f"{n} steps x {self._ncols} columns exceed max_block_values="
                                  f"{self.max_block_values} values of the reply")
        if binary:
            if len(head) > 2 and head[2].strip():
                raise ScpiError(-108, f"BLOCK:BIN takes its levels as a binary block, got {head[2][:24]!r}")
            if payload is None or len(payload) != 8 * n * k:
                raise ScpiError(-109, f"binary block of {8 * n * k} bytes expected, "
                                      f"got {0 if payload is None else len(payload)}")
            v = np.frombuffer(payload, dtype="<f8").reshape(n, k).copy()
        else:
            v = np.array(_floats(head[2] if len(head) > 2 else "", "levels", n * k)).reshape(n, k)
        rows = rows_from_measurement(self._run(v, dt))
        if not binary:
            return _fmt(rows)
        data = np.ascontiguousarray(rows, dtype="<f8").tobytes()
        ln = str(len(data)).encode()
        return b"#" + str(len(ln)).encode() + ln + data

    def _common(self, head: str, query: bool, args: str) -> str | None:
        if head == "*IDN" and query:
            _no_args(args, "*IDN?")
            from importlib.metadata import PackageNotFoundError, version

            try:
                ver = version("nanowire-hil")
            except PackageNotFoundError:  # pragma: no cover
                ver = "0+unknown"
            model = f"{type(self.device).__name__}-{len(self.device.electrodes)}ch"
            return f"nanowire-hil,NWHIL-EMU,{model},{ver}"
        if head == "*RST" and not query:
            _no_args(args, "*RST")
            self._device_safe_state()
            try:
                self.device.reset()
            except Exception as exc:
                raise ScpiError(-200, f"{type(exc).__name__}: {exc}") from None
            self._rst_state()
            self.errors.clear()
            return None
        if head == "*CLS" and not query:
            _no_args(args, "*CLS")
            self.errors.clear()
            return None
        if head == "*OPC" and query:
            _no_args(args, "*OPC?")
            return "1"
        raise ScpiError(-113, head)


# ---------------------------------------------------------------------------- transport
@dataclass(frozen=True)
class _Message:
    """One framed message: its text, the data of a binary block, or the error that refuses it."""

    line: str
    payload: bytes | None = None
    error: tuple[int, str] | None = None


class _Framer:
    """Split a received byte stream into messages, storing at most one message (sockets-free).

    A message is a line ending in ``\\n`` (a trailing ``\\r`` is dropped), or the text in front of
    an IEEE 488.2 definite-length block ``#<d><d digits: length><length bytes>`` and the ``\\n``
    right after the block. A line longer than ``max_line_bytes``, a malformed block header, a block
    declared longer than ``max_block_bytes`` (skipped as it arrives) and a block not followed by
    ``\\n`` each give one message with an ``error``; the rest of that line is dropped.

    Parameters
    ----------
    max_line_bytes : int
        Longest text of a message in bytes.
    max_block_bytes : int
        Longest binary block in bytes.
    """

    _SPECIAL = re.compile(rb"[\n#]")
    #: Bytes of a refused line kept for its error message and to tell whether it was a query.
    _PREFIX_BYTES = 256

    def __init__(self, max_line_bytes: int, max_block_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.max_block_bytes = max_block_bytes
        self.buf = bytearray()
        self._state = "text"  # text | block | skip | term (the newline after a block) | discard
        self._scan = 0  # text state: buf[:_scan] holds no newline and no '#'
        self._need = 0  # block and skip states: bytes of block data still to come
        self._declared = 0  # block length declared by the header
        self._pending: _Message | None = None  # the message a block, skip or discard completes

    @property
    def in_block(self) -> bool:
        """Whether a binary block is being received (its data or the newline after it)."""
        return self._state in ("block", "skip", "term")

    def feed(self, data: bytes) -> None:
        """Take received bytes (bytes that are discarded or skipped are never stored)."""
        if self._state == "discard" and not self.buf:
            nl = data.find(b"\n")
            if nl == -1:
                return
            data = data[nl:]
        elif self._state == "skip" and not self.buf:
            k = min(self._need, len(data))
            self._need -= k
            data = data[k:]
        self.buf += data

    def next_message(self) -> _Message | None:
        """The next complete message, or None until more bytes are fed."""
        buf = self.buf
        while True:
            if self._state == "text":
                m = self._SPECIAL.search(buf, self._scan)
                end = len(buf) if m is None else m.start()
                if end > self.max_line_bytes:
                    self._refuse(-223, f"line longer than max_line_bytes={self.max_line_bytes} bytes, "
                                       f"discarded up to its newline: {self._text(buf[:60])!r}...",
                                 self.max_line_bytes)
                    continue
                if m is None:
                    self._scan = len(buf)
                    return None
                if buf[end] == 0x0A:
                    line = self._text(buf[:end]).rstrip("\r")
                    del buf[:end + 1]
                    self._scan = 0
                    return _Message(line)
                if not self._block_header(end):
                    self._scan = end
                    return None
            elif self._state == "block":
                n = self._need
                if len(buf) < n + 1:
                    return None
                assert self._pending is not None
                if buf[n] == 0x0A:
                    msg = replace(self._pending, payload=bytes(buf[:n]))
                    del buf[:n + 1]
                    return self._done(msg)
                del buf[:n]
                self._pending = replace(self._pending, error=(
                    -102, f"binary block of {n} bytes not followed by the newline terminator "
                          "(the data is longer than its header says)"))
                self._state = "discard"
            elif self._state == "skip":
                k = min(self._need, len(buf))
                del buf[:k]
                self._need -= k
                if self._need:
                    return None
                self._state = "term"
            elif self._state == "term":
                if not buf:
                    return None
                self._state = "discard"  # the newline, or the rest of the line, goes
            else:  # discard up to the newline
                nl = buf.find(b"\n")
                if nl == -1:
                    buf.clear()
                    return None
                del buf[:nl + 1]
                assert self._pending is not None
                return self._done(self._pending)

    def abandon_block(self, idle_s: float) -> _Message:
        """End an incomplete block after ``idle_s`` seconds without data; return its message."""
        assert self._pending is not None and self.in_block
        msg = self._pending
        if msg.error is None:
            got = self._declared - self._need + (len(self.buf) if self._state == "block" else 0)
            msg = replace(msg, error=(
                -102, f"incomplete binary block: {self._declared} bytes declared, "
                      f"{min(got, self._declared)} received, then no data for {idle_s:g} s"))
        self.buf.clear()
        return self._done(msg)

    @staticmethod
    def _text(data: bytes | bytearray) -> str:
        return bytes(data).decode("latin-1")

    def _done(self, msg: _Message) -> _Message:
        self._state, self._scan, self._need, self._pending = "text", 0, 0, None
        return msg

    def _refuse(self, code: int, detail: str, end: int) -> None:
        """Refuse the message now in ``buf`` (its text is ``buf[:end]``) and drop its line."""
        self._pending = _Message(self._text(self.buf[:min(self._PREFIX_BYTES, end)]), None, (code, detail))
        self._state = "discard"

    def _block_header(self, at: int) -> bool:
        """Parse the block header at ``buf[at] == '#'``; False when more bytes are needed."""
        buf = self.buf
        if len(buf) < at + 2:
            return False
        d = buf[at + 1] - 48
        if not 1 <= d <= 9:
            self._refuse(-102, f"malformed binary block header {bytes(buf[at:at + 2])!r}: '#' must be "
                               "followed by the digit count 1..9 (indefinite-length blocks are not "
                               "supported)", at)
            return True
        if len(buf) < at + 2 + d:
            return False
        digits = bytes(buf[at + 2:at + 2 + d])
        if not digits.isdigit():
            self._refuse(-102, f"malformed binary block header {bytes(buf[at:at + 2 + d])!r}: {d} length "
                               "digit(s) expected", at)
            return True
        n = int(digits)
        pending = _Message(self._text(buf[:at]))
        del buf[:at + 2 + d]
        self._scan, self._need, self._declared = 0, n, n
        if n > self.max_block_bytes:
            self._pending = replace(pending, error=(
                -223, f"binary block of {n} bytes exceeds {self.max_block_bytes} bytes "
                      "(8 x max_block_values); skipped"))
            self._state = "skip"
            k = min(n, len(buf))
            del buf[:k]
            self._need -= k
        else:
            self._pending = pending
            self._state = "block"
        return True


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(_POLL_S)
        client_left = True
        try:
            client_left = self._serve(sock)
        finally:
            if client_left:
                self.server.instrument.client_gone(self)

    def _serve(self, sock: socket.socket) -> bool:
        """Serve messages until the connection ends; True when the client ended it."""
        srv = self.server
        framer = _Framer(srv.max_line_bytes, 8 * srv.instrument.max_block_values)
        last_rx = time.monotonic()
        while True:
            msg = framer.next_message()
            if msg is None:
                if srv.stopping.is_set():
                    return False
                try:
                    chunk = sock.recv(_RECV_BYTES)
                except TimeoutError:
                    if not (framer.in_block and time.monotonic() - last_rx > srv.block_timeout_s):
                        continue
                    msg = framer.abandon_block(srv.block_timeout_s)
                except OSError:
                    return True
                else:
                    if not chunk:
                        return True
                    last_rx = time.monotonic()
                    framer.feed(chunk)
                    continue
            faults = srv.faults
            if faults.drop_after is not None:
                faults.drop_after -= 1
                if faults.drop_after < 0:
                    faults.drop_after = None
                    sock.close()
                    return False
            if msg.error is not None:
                reply = srv.instrument.reject(msg.line, *msg.error)
            else:
                reply = srv.instrument.execute(msg.line, msg.payload, client=self,
                                               cancelled=lambda: self._client_left(sock))
            if reply is None:
                continue
            if faults.delay_s and (faults.delay_n is None or faults.delay_n > 0):
                if faults.delay_n is not None:
                    faults.delay_n -= 1
                time.sleep(faults.delay_s)
            if faults.malformed_n > 0:
                faults.malformed_n -= 1
                reply = b"garbage\xff,reply\n"
            try:
                sock.settimeout(_SEND_TIMEOUT_S)
                sock.sendall(reply)
                sock.settimeout(_POLL_S)
            except OSError:  # gone, or not taking its reply
                return True

    def _client_left(self, sock: socket.socket) -> bool:
        """Whether the client has closed or reset the connection (or the server is stopping)."""
        if self.server.stopping.is_set():
            return True
        try:
            sock.settimeout(0.0)
            try:
                return sock.recv(1, socket.MSG_PEEK) == b""
            finally:
                sock.settimeout(_POLL_S)
        except BlockingIOError:  # connected, nothing sent
            return False
        except OSError:
            return True


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    instrument: ScpiInstrument
    faults: Faults
    stopping: threading.Event
    max_clients: int
    max_line_bytes: int
    block_timeout_s: float
    n_clients: int = 0
    n_refusing: int = 0
    clients_lock: threading.Lock

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.clients_lock:
            admitted = self.n_clients < self.max_clients
            if admitted:
                self.n_clients += 1
        if not admitted:
            self._refuse(request, client_address)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self.clients_lock:
            self.n_clients -= 1

    def _refuse(self, request: socket.socket, client_address: Any) -> None:
        log.warning("emulator: refused a connection from %s: max_clients=%d connections are served",
                    client_address, self.max_clients)
        line = (f'-200,"Execution error; connection refused: the emulator serves at most '
                f'max_clients={self.max_clients} connections at once"\n')
        try:
            request.settimeout(_POLL_S)
            request.sendall(line.encode("ascii"))
            request.shutdown(socket.SHUT_WR)
        except OSError:
            request.close()
            return
        with self.clients_lock:
            linger = self.n_refusing < _REFUSALS_LINGERING_MAX
            if linger:
                self.n_refusing += 1
        if not linger:  # a flood: close at once (the client may see a reset instead of the line)
            request.close()
            return
        threading.Thread(target=self._linger, args=(request,), daemon=True,
                         name="nwhil-emulator-refusal").start()

    def _linger(self, request: socket.socket) -> None:
        """Read what the refused client sends until it closes (at most 1 s), so that it sees the line.

        A socket closed with unread data sends a reset, which makes a client that writes its first
        command before it reads lose the refusal line.
        """
        deadline = time.monotonic() + _REFUSAL_LINGER_S
        try:
            while time.monotonic() < deadline:
                try:
                    if not request.recv(_RECV_BYTES):
                        break
                except TimeoutError:
                    continue
        except OSError:
            pass
        finally:
            request.close()
            with self.clients_lock:
                self.n_refusing -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.error("emulator: unexpected error serving %s", client_address, exc_info=True)


def _check_loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        ok = ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
    except ValueError:
        ok = False
    if not ok:
        raise HardwareValidationError(
            f"host must be an IPv4 loopback address such as '127.0.0.1' (the emulator never listens "
            f"on a network), got {host!r}")
    return host


class EmulatorServer:
    """Handle of a running SCPI emulator.

    Parameters
    ----------
    device : Device
        The device to serve (any backend).
    host : str
        IPv4 loopback address (``127.0.0.1``); anything else raises.
    port : int
        TCP port; 0 lets the system choose (read it back from :attr:`port`).
    max_clients : int
        Connections served at once (>= 1); one more is refused with one error line and closed.
    max_line_bytes : int, optional
        Longest message line in bytes (>= 1024); longer lines are discarded with -223. Default
        :func:`max_line_bytes_for` ``(max_block_values)``, which admits the largest ASCII block.
    max_block_values : int
        Largest number of float64 values in the reply of one ``BLOCK`` command (>= 1).
    block_timeout_s : float
        Seconds (> 0) without data after which an incomplete binary block is abandoned with -102.

    See the module docstring (*Limits and safety*) for what each limit does.
    """

    def __init__(self, device: Device, host: str = "127.0.0.1", port: int = 0, *,
                 max_clients: int = DEFAULT_MAX_CLIENTS, max_line_bytes: int | None = None,
                 max_block_values: int = DEFAULT_MAX_BLOCK_VALUES,
                 block_timeout_s: float = DEFAULT_BLOCK_TIMEOUT_S) -> None:
        self.host = _check_loopback(host)
        self._req_port = check_int("port", port, low=0, high=65535)
        self.max_clients = check_int("max_clients", max_clients, low=1)
        self.max_line_bytes = (max_line_bytes_for(max_block_values) if max_line_bytes is None
                               else check_int("max_line_bytes", max_line_bytes, low=1024))
        self.block_timeout_s = check_real("block_timeout_s", block_timeout_s, low=0.0, low_open=True)
        self.instrument = ScpiInstrument(device, max_block_values=max_block_values)
        self.faults = Faults()
        self._server: _TCPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def device(self) -> Device:
        """The served device."""
        return self.instrument.device

    @property
    def port(self) -> int:
        """The TCP port listened on (after :meth:`start`)."""
        if self._server is None:
            raise HardwareError("emulator not started")
        return int(self._server.server_address[1])

    @property
    def n_clients(self) -> int:
        """Connections being served now (0 when not started)."""
        return 0 if self._server is None else self._server.n_clients

    @property
    def resource_name(self) -> str:
        """The VISA resource name of the running server."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    def start(self) -> EmulatorServer:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        srv = _TCPServer((self.host, self._req_port), _Handler, bind_and_activate=False)
        srv.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            srv.server_bind()
            srv.server_activate()
        except OSError:
            srv.server_close()
            raise
        srv.instrument = self.instrument
        srv.faults = self.faults
        srv.stopping = threading.Event()
        srv.max_clients = self.max_clients
        srv.max_line_bytes = self.max_line_bytes
        srv.block_timeout_s = self.block_timeout_s
        srv.clients_lock = threading.Lock()
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"nwhil-emulator-{self.port}", daemon=True)
        self._thread.start()
        log.info("emulator serving %s on %s", type(self.device).__name__, self.resource_name)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (the device is left open).

        The outputs stay as they are, except that a block in progress is stopped and reaches the
        safe state.
        """
        if self._server is None:
            return
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = None
        self._thread = None

    def serve_forever(self) -> None:
        """Block until :meth:`stop` or KeyboardInterrupt (then stop and re-raise)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.2)
        finally:
            self.stop()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_emulator(device: Device, host: str = "127.0.0.1", port: int = 0, *,
                   max_clients: int = DEFAULT_MAX_CLIENTS, max_line_bytes: int | None = None,
                   max_block_values: int = DEFAULT_MAX_BLOCK_VALUES,
                   block_timeout_s: float = DEFAULT_BLOCK_TIMEOUT_S) -> EmulatorServer:
    """Serve ``device`` as a SCPI instrument on ``host:port`` (started; call ``.stop()``).

    Parameters
    ----------
    device : Device
        Any backend.
    host : str
        IPv4 loopback address only.
    port : int
        0 = chosen by the system; see :attr:`EmulatorServer.port`.
    max_clients, max_line_bytes, max_block_values, block_timeout_s
        Limits; see :class:`EmulatorServer`.
    """
    return EmulatorServer(device, host=host, port=check_int("port", port, low=0, high=65535),
                          max_clients=max_clients, max_line_bytes=max_line_bytes,
                          max_block_values=max_block_values, block_timeout_s=block_timeout_s).start()
