"""SCPI emulator: serve any :class:`~hardware.Device` as a multichannel source-measure instrument.

The server is a threaded :mod:`socketserver` on a loopback address only; every connection talks to
the same instrument state (levels, outputs, error queue survive a disconnect, as on a real
instrument: a client that reconnects must read the state back, not assume the output is off).
Messages end with ``\\n``; several commands may share a line separated by ``;`` (their replies are
joined by ``;``). Keywords are case-insensitive, a leading ``:`` is optional, and the long forms
(``SOURce``, ``OUTPut``, ``MEASure``, ``SYSTem``, ``ERRor``, ``CHANnel``, ``VOLTage``, ``CURRent``,
``LIMit``, ``COUNt``, ``TRIGger``, ``FETCh``, ``INITiate``, ``FORMat``, ``COLumns``) are accepted.

Channels ``n = 1 .. N`` are the device electrodes in :attr:`~hardware.Device.electrodes` order.
Numbers travel as Python ``repr`` of float64 (shortest exact round trip) or as binary float64.

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
timeout) and queues the error: read ``SYST:ERR?``.

Error codes: -102 syntax error, -108 parameter not allowed, -109 missing parameter, -113 undefined
header, -200 execution error (text of the device exception), -221 settings conflict, -222 data out of
range, -224 illegal parameter value, -350 queue overflow.

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
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import check_int
from .device import Device, Measurement
from .errors import HardwareError, HardwareValidationError, LimitError

__all__ = ["EmulatorServer", "Faults", "ScpiInstrument", "serve_emulator"]

log = logging.getLogger(__name__)

_LONG = {
    "SOURCE": "SOUR", "OUTPUT": "OUTP", "MEASURE": "MEAS", "SYSTEM": "SYST", "ERROR": "ERR",
    "CHANNEL": "CHAN", "VOLTAGE": "VOLT", "CURRENT": "CURR", "LIMIT": "LIM", "COUNT": "COUN",
    "TRIGGER": "TRIG", "FETCH": "FETC", "INITIATE": "INIT", "FORMAT": "FORM", "COLUMNS": "COL",
    "COLS": "COL", "DEFINITION": "DEF",
}
_ERR_TEXT = {
    -102: "Syntax error", -108: "Parameter not allowed", -109: "Missing parameter",
    -113: "Undefined header", -200: "Execution error", -221: "Settings conflict",
    -222: "Data out of range", -224: "Illegal parameter value", -350: "Queue overflow",
}
_QUEUE_MAX = 32
_TOKEN = re.compile(r"^([A-Z*]+)(\d*)$")
#: Parsed headers kept per instrument (the command set has a few dozen; channel numbers multiply it).
_HEADER_CACHE_MAX = 512


class ScpiError(Exception):
    """An error to queue: SCPI code and detail text."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.text = _ERR_TEXT.get(code, "Error") + (f"; {detail}" if detail else "")
        super().__init__(f"{code},{self.text}")


def _fmt(values: Any) -> str:
    # ``tolist`` gives Python floats, whose repr is the shortest exact round trip of the float64
    return ",".join(map(repr, np.asarray(values, dtype=float).reshape(-1).tolist()))


def _floats(args: str, what: str) -> list[float]:
    if not args.strip():
        raise ScpiError(-109, f"{what} expected")
    try:
        return list(map(float, args.split(",")))
    except ValueError:
        raise ScpiError(-102, f"{what} must be numbers, got {args[:40]!r}") from None


def _bool_arg(args: str) -> bool:
    a = args.strip().upper()
    if a in ("ON", "1"):
        return True
    if a in ("OFF", "0"):
        return False
    raise ScpiError(-224, f"expected ON|OFF|1|0, got {args.strip()!r}")


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
        Close the connection (without reply) when this many more commands have been received.
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
    """

    def __init__(self, device: Device) -> None:
        self.device = device
        device.compliance_policy = "record"
        self.lock = threading.RLock()
        self.errors: deque[tuple[int, str]] = deque()
        self._in_idx = [i for i, e in enumerate(device.electrodes) if e.role == "input"]
        self._default_comp = np.array([device.electrodes[i].compliance_A for i in self._in_idx])
        self._headers: dict[str, tuple[str, int | None]] = {}
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
        self.errors.append((code, text))

    def _input_pos(self, n: int) -> int:
        if not 1 <= n <= len(self.device.electrodes):
            raise ScpiError(-224, f"channel {n} not in 1..{len(self.device.electrodes)}")
        i = n - 1
        if i not in self._in_idx:
            raise ScpiError(-221, f"channel {n} ({self.device.electrodes[i].name}) is not an input")
        return self._in_idx.index(i)

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

    def _run(self, v: np.ndarray, dt_s: float) -> Measurement:
        # Device.apply validates the levels (shape, finite, limits) before it touches the device and
        # raises LimitError (-222) or HardwareValidationError (-224): no second check here.
        self._need_output()
        try:
            m = self.device.apply(v, dt_s)
        except HardwareValidationError as exc:
            raise ScpiError(-224, str(exc)) from None
        except LimitError as exc:
            raise ScpiError(-222, str(exc)) from None
        except HardwareError as exc:
            raise ScpiError(-200, str(exc)) from None
        except Exception as exc:  # a physics failure is an execution error of the instrument
            raise ScpiError(-200, f"{type(exc).__name__}: {exc}") from None
        m = self._comp_extra(m)
        self.levels_V = v[-1].copy()
        self.last = m
        return m

    def _reading(self) -> Measurement:
        self._need_output()
        try:
            m = self._comp_extra(self.device.read())
        except Exception as exc:
            raise ScpiError(-200, f"{type(exc).__name__}: {exc}") from None
        self.last = m
        return m

    def _channel_value(self, m: Measurement, n: int, quantity: str) -> float:
        if not 1 <= n <= len(self.device.electrodes):
            raise ScpiError(-224, f"channel {n} not in 1..{len(self.device.electrodes)}")
        e = self.device.electrodes[n - 1]
        names = {"input": self.device.input_names, "output": self.device.output_names,
                 "ground": self.device.ground_names}
        if e.role == "floating":
            raise ScpiError(-221, f"channel {n} ({e.name}) is floating and not read")
        j = names[e.role].index(e.name)
        if quantity == "VOLT":
            return {"input": lambda: m.input_V[-1, j], "output": lambda: m.output_V[-1, j],
                    "ground": lambda: 0.0}[e.role]()
        return {"input": lambda: m.input_current_A[-1, j], "output": lambda: 0.0,
                "ground": lambda: m.ground_current_A[-1, j]}[e.role]()

    def columns(self) -> list[str]:
        """Column names of a row."""
        d = self.device
        return (["t_s"] + [f"in_V:{n}" for n in d.input_names] + [f"out_V:{n}" for n in d.output_names]
                + [f"in_A:{n}" for n in d.input_names] + [f"gnd_A:{n}" for n in d.ground_names] + ["comp"])

    # ------------------------------------------------------------------ dispatch
    def execute(self, line: str, payload: bytes | None = None) -> bytes | None:
        """Execute one received message; return the reply bytes (with ``\\n``) or None."""
        with self.lock:
            parts = [line] if payload is not None else [p for p in line.split(";") if p.strip()]
            replies: list[str] = []
            any_query = False
            for part in parts:
                is_query = "?" in part.split(None, 1)[0] if part.strip() else False
                any_query |= is_query
                try:
                    r = self._one(part.strip(), payload)
                except ScpiError as exc:
                    self.push_error(exc.code, exc.text)
                    r = "" if is_query else None
                    log.debug("emulator: %s -> error %s", part[:60], exc)
                if r is not None:
                    replies.append(r if isinstance(r, str) else r.decode("latin-1"))
            if not any_query:
                return None
            if payload is not None and replies and replies[0].startswith("#"):
                return replies[0].encode("latin-1") + b"\n"
            return (";".join(replies) + "\n").encode("latin-1")

    def _one(self, cmd: str, payload: bytes | None) -> str | bytes | None:
        head, _, args = cmd.partition(" ")
        head = head.upper().lstrip(":")
        query = head.endswith("?")
        head = head.rstrip("?")
        if head.startswith("*"):
            return self._common(head, query)
        words, n = self._header(head, cmd)
        d = self.device
        if words == "SYST:ERR" and query:
            if not self.errors:
                return '0,"No error"'
            code, text = self.errors.popleft()
            return f'{code},"{text.replace(chr(34), chr(39))}"'
        if words == "SYST:ERR:COUN" and query:
            return str(len(self.errors))
        if words == "CHAN:COUN" and query:
            return str(len(d.electrodes))
        if words == "CHAN:DEF" and query:
            if n is None or not 1 <= n <= len(d.electrodes):
                raise ScpiError(-224, f"channel {n} not in 1..{len(d.electrodes)}")
            e = d.electrodes[n - 1]
            return f"{e.name},{e.role},{e.max_abs_V!r},{e.compliance_A!r}"
        if words == "FORM:COL" and query:
            return ",".join(self.columns())
        if words == "SOUR:VOLT:ALL":
            if query:
                return _fmt(self.levels_V)
            v = np.array(_floats(args, "levels"))
            if v.size != self.levels_V.size:
                raise ScpiError(-109, f"{self.levels_V.size} levels expected, got {v.size}")
            self._check_levels(v)
            self.levels_V = v
            return None
        if words == "SOUR:VOLT":
            j = self._input_pos(n or 1)
            if query:
                return repr(float(self.levels_V[j]))
            (x,) = _floats(args, "level")
            v = self.levels_V.copy()
            v[j] = x
            self._check_levels(v)
            self.levels_V = v
            return None
        if words == "SOUR:VOLT:LIM" and query:
            if n is None or not 1 <= n <= len(d.electrodes):
                raise ScpiError(-224, f"channel {n} not in 1..{len(d.electrodes)}")
            return repr(d.electrodes[n - 1].max_abs_V)
        if words == "SOUR:CURR:LIM":
            j = self._input_pos(n or 1)
            if query:
                return repr(float(self.comp_A[j]))
            (x,) = _floats(args, "compliance")
            if not 0.0 < x <= self._default_comp[j]:
                raise ScpiError(-222, f"compliance {x!r} A not in (0, {self._default_comp[j]!r}]")
            self.comp_A[j] = x
            return None
        if words == "OUTP":
            if query:
                on = self.output_on if n is None else self.output_on[self._input_pos(n)]
                return "1" if np.any(on) else "0"
            state = _bool_arg(args)
            if n is None:
                self.output_on[:] = state
            else:
                self.output_on[self._input_pos(n)] = state
            if not state:
                d.safe_state()
            return None
        if words == "TRIG:DT":
            if query:
                return repr(self.dt_s)
            (x,) = _floats(args, "dt")
            if not (np.isfinite(x) and x > 0):
                raise ScpiError(-222, f"dt must be > 0 s, got {x!r}")
            self.dt_s = x
            return None
        if words == "INIT" and not query:
            self._run(self.levels_V[None, :].copy(), self.dt_s)
            return None
        if words in ("FETC:VOLT", "FETC:CURR") and query:
            if self.last is None:
                raise ScpiError(-221, "no reading yet")
            return repr(float(self._channel_value(self.last, n or 1, words[5:])))
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
            return repr(float(self._channel_value(self._reading(), n or 1, words[5:])))
        if words == "LIST:STEP" and query:
            vals = _floats(args, "dt and levels")
            k = self.levels_V.size
            if len(vals) != 1 + k:
                raise ScpiError(-109, f"dt and {k} levels expected, got {len(vals)} values")
            dt = vals[0]
            if not (np.isfinite(dt) and dt > 0):
                raise ScpiError(-222, f"dt must be > 0 s, got {dt!r}")
            return _fmt(rows_from_measurement(self._run(np.array([vals[1:]]), dt))[0])
        if words in ("BLOCK:ASC", "BLOCK:BIN") and query:
            return self._block(words == "BLOCK:BIN", args, payload)
        raise ScpiError(-113, f"{cmd[:40]!r}")

    def _header(self, head: str, cmd: str) -> tuple[str, int | None]:
        """Short-form keywords joined by ``:`` and the channel suffix of the first one (cached)."""
        parsed = self._headers.get(head)
        if parsed is not None:
            return parsed
        toks: list[tuple[str, int | None]] = []
        for t in head.split(":"):
            mt = _TOKEN.match(t)
            if not mt:
                raise ScpiError(-102, f"bad header {cmd[:40]!r}")
            toks.append((_LONG.get(mt.group(1), mt.group(1)), int(mt.group(2)) if mt.group(2) else None))
        parsed = (":".join(w for w, _ in toks), toks[0][1])
        if len(self._headers) < _HEADER_CACHE_MAX:
            self._headers[head] = parsed
        return parsed

    def _block(self, binary: bool, args: str, payload: bytes | None) -> str | bytes:
        k = self.levels_V.size
        head = args.split(",", 2)
        try:
            dt = float(head[0])
            n = int(head[1])
        except (ValueError, IndexError):
            raise ScpiError(-102, "BLOCK expects <dt>,<n_steps>,<data>") from None
        if not (np.isfinite(dt) and dt > 0) or n < 1:
            raise ScpiError(-222, f"dt must be > 0 s and n_steps >= 1, got {dt!r}, {n}")
        if binary:
            if payload is None or len(payload) != 8 * n * k:
                raise ScpiError(-109, f"binary block of {8 * n * k} bytes expected, "
                                      f"got {0 if payload is None else len(payload)}")
            v = np.frombuffer(payload, dtype="<f8").reshape(n, k).copy()
        else:
            v = np.array(_floats(head[2] if len(head) > 2 else "", "levels"))
            if v.size != n * k:
                raise ScpiError(-109, f"{n * k} levels expected, got {v.size}")
            v = v.reshape(n, k)
        rows = rows_from_measurement(self._run(v, dt))
        if not binary:
            return _fmt(rows)
        data = np.ascontiguousarray(rows, dtype="<f8").tobytes()
        ln = str(len(data)).encode()
        return b"#" + str(len(ln)).encode() + ln + data

    def _common(self, head: str, query: bool) -> str | None:
        if head == "*IDN" and query:
            from importlib.metadata import PackageNotFoundError, version

            try:
                ver = version("nanowire-hil")
            except PackageNotFoundError:  # pragma: no cover
                ver = "0+unknown"
            model = f"{type(self.device).__name__}-{len(self.device.electrodes)}ch"
            return f"nanowire-hil,NWHIL-EMU,{model},{ver}"
        if head == "*RST" and not query:
            try:
                self.device.safe_state()
                self.device.reset()
            except Exception as exc:
                raise ScpiError(-200, f"{type(exc).__name__}: {exc}") from None
            self._rst_state()
            self.errors.clear()
            return None
        if head == "*CLS" and not query:
            self.errors.clear()
            return None
        if head == "*OPC" and query:
            return "1"
        raise ScpiError(-113, head)


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(0.1)
        srv = self.server
        buf = bytearray()
        while not srv.stopping.is_set():
            msg = self._next_message(sock, buf)
            if msg is None:
                return
            line, payload = msg
            faults = srv.faults
            if faults.drop_after is not None:
                faults.drop_after -= 1
                if faults.drop_after < 0:
                    faults.drop_after = None
                    sock.close()
                    return
            reply = srv.instrument.execute(line, payload)
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
                sock.sendall(reply)
            except OSError:
                return

    def _recv(self, sock: socket.socket, buf: bytearray) -> bool:
        while not self.server.stopping.is_set():
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return False
            if not chunk:
                return False
            buf.extend(chunk)
            return True
        return False

    def _next_message(self, sock: socket.socket, buf: bytearray) -> tuple[str, bytes | None] | None:
        while True:
            nl = buf.find(b"\n")
            hs = buf.find(b"#")
            if hs != -1 and (nl == -1 or hs < nl):
                # IEEE 488.2 definite-length block: #<d><len digits><len bytes>\n
                if len(buf) >= hs + 2:
                    d = buf[hs + 1] - 48
                    if not 1 <= d <= 9:
                        text = bytes(buf[:nl if nl != -1 else len(buf)]).decode("latin-1")
                        del buf[: (nl + 1) if nl != -1 else len(buf)]
                        return text, None
                    if len(buf) >= hs + 2 + d:
                        n = int(buf[hs + 2: hs + 2 + d])
                        end = hs + 2 + d + n
                        if len(buf) >= end + 1:
                            text = bytes(buf[:hs]).decode("latin-1")
                            payload = bytes(buf[hs + 2 + d: end])
                            del buf[: end + (1 if buf[end:end + 1] == b"\n" else 0)]
                            return text, payload
            elif nl != -1:
                text = bytes(buf[:nl]).decode("latin-1").rstrip("\r")
                del buf[: nl + 1]
                return text, None
            if not self._recv(sock, buf):
                return None


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    instrument: ScpiInstrument
    faults: Faults
    stopping: threading.Event


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
    """

    def __init__(self, device: Device, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = _check_loopback(host)
        self._req_port = check_int("port", port, low=0, high=65535)
        self.instrument = ScpiInstrument(device)
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
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"nwhil-emulator-{self.port}", daemon=True)
        self._thread.start()
        log.info("emulator serving %s on %s", type(self.device).__name__, self.resource_name)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (the device is left open)."""
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


def serve_emulator(device: Device, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
    """Serve ``device`` as a SCPI instrument on ``host:port`` (started; call ``.stop()``).

    Parameters
    ----------
    device : Device
        Any backend.
    host : str
        IPv4 loopback address only.
    port : int
        0 = chosen by the system; see :attr:`EmulatorServer.port`.
    """
    return EmulatorServer(device, host=host, port=check_int("port", port, low=0, high=65535)).start()
