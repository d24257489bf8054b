"""Client of the SCPI emulator (or of any instrument speaking ``hardware/SCPI.md``) over PyVISA.

:class:`EmulatedDevice` reaches the instrument through PyVISA's pure-Python backend (``@py``) at
``TCPIP::127.0.0.1::PORT::SOCKET`` and offers the same :class:`~hardware.Device` API as the
in-process simulation. Three transfer modes:

* ``"block"`` (default): whole sequences as binary float64 blocks (``BLOCK:BIN?``), ``block_steps``
  steps per round trip;
* ``"list"``: one round trip per step for all channels (``LIST:STEP?``);
* ``"sample"``: one round trip per sample per channel (``SOURn:VOLT``, ``INIT``, ``FETCn:...?``);
  the slow baseline of the benchmark.

Reliability: the error queue is polled at set-up and after each batch (:class:`InstrumentError`
with code and text); a timeout, dropped connection or malformed reply raises
:class:`InstrumentConnectionError` after a bounded reconnect that reads the instrument state back
(an instrument keeps its output on after a disconnect; :attr:`EmulatedDevice.instrument_state`);
the base class then ramps the sources to 0 V and switches the outputs off.

Interrupts: every transaction (a write and the read of its reply) runs with SIGINT and SIGTERM
deferred (:func:`hardware._interrupts.defer_signals`), so Ctrl-C lands between transactions and
the session stays in sync. The one exception is the wait for a binary block reply, which may last
seconds: there a signal raises at once, the session is marked out of sync, and the safe state
closes it (the instrument sees the disconnect) and reconnects. The safe state always runs on a
clean session: when the last exchange was cut or failed it reconnects (at least one attempt, even
with ``reconnect_attempts=0``) and clears the error queue (``*CLS``); it then ramps the sources to
0 V, switches the outputs off and reads ``OUTP<n>?`` and ``SOUR:VOLT:ALL?`` back, raising
:class:`~hardware.errors.SafeStateError` naming the channels when an output is on or a level is
not 0 V.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import numpy as np

from ._checks import check_choice, check_int, check_real
from ._interrupts import abort_on_signals, defer_signals
from .device import Device, Electrode, Readings
from .errors import InstrumentConnectionError, InstrumentError, SafeStateError

__all__ = ["EmulatedDevice", "LocalEmulatedDevice", "set_tcp_nodelay"]

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("block", "list", "sample")


def set_tcp_nodelay(resource: Any) -> bool:
    """Set TCP_NODELAY on a pyvisa-py TCPIP socket resource; return whether it was set.

    pyvisa-py's ``VI_ATTR_TCPIP_NODELAY`` setter does not reach the socket, so this takes the
    session's socket object (``visalib.sessions[session].interface``) and sets the option on it.
    Without it a write followed by a query waits ~40 ms for delayed ACKs (Nagle).
    """
    try:
        sess = resource.visalib.sessions[resource.session]
        sock = sess.interface
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    except (AttributeError, KeyError, OSError) as exc:
        log.warning("could not set TCP_NODELAY on %s: %s", getattr(resource, "resource_name", resource), exc)
        return False


def _connection_errors() -> tuple[type[BaseException], ...]:
    import pyvisa

    return (pyvisa.errors.VisaIOError, pyvisa.errors.InvalidSession, OSError, EOFError)


class EmulatedDevice(Device):
    """A device behind the SCPI emulator, driven over TCP through PyVISA.

    Parameters
    ----------
    resource : str or int
        VISA resource name (``TCPIP::127.0.0.1::PORT::SOCKET``) or just the port on ``127.0.0.1``.
    mode : {"block", "list", "sample"}
        Transfer mode (see the module docstring).
    block_steps : int
        Steps per binary block in block mode.
    timeout_s : float
        VISA I/O timeout in seconds.
    reconnect_attempts : int
        Bounded reconnect after a connection failure (0 = no reconnect, except the one attempt of
        the safe state when the session is out of sync).
    reconnect_backoff_s : float
        Wait before each reconnect attempt (multiplied by the attempt number).
    ramp_steps : int
        Steps of the ramp to 0 V in :meth:`safe_state`.
    ramp_pause_s : float
        Pause between ramp steps (0 for the emulator; a real bench wants ~10 ms).
    clear_errors : bool
        Clear a non-empty error queue at set-up instead of raising :class:`InstrumentError`.
    visa_library : str
        PyVISA backend (``"@py"``).
    compliance_policy : {"raise", "record"}
    """

    _abort_on_signals = True

    def __init__(
        self,
        resource: str | int,
        *,
        mode: str = "block",
        block_steps: int = 4096,
        timeout_s: float = 10.0,
        reconnect_attempts: int = 3,
        reconnect_backoff_s: float = 0.2,
        ramp_steps: int = 10,
        ramp_pause_s: float = 0.0,
        clear_errors: bool = False,
        visa_library: str = "@py",
        compliance_policy: str = "raise",
    ) -> None:
        if isinstance(resource, (int, np.integer)) and not isinstance(resource, bool):
            resource = f"TCPIP::127.0.0.1::{check_int('resource', resource, low=1, high=65535)}::SOCKET"
        self.resource_name = str(resource)
        self.mode = check_choice("mode", mode, MODES)
        self.block_steps = check_int("block_steps", block_steps, low=1)
        self.timeout_s = check_real("timeout_s", timeout_s, low=0.0, low_open=True)
        self.reconnect_attempts = check_int("reconnect_attempts", reconnect_attempts, low=0, high=100)
        self.reconnect_backoff_s = check_real("reconnect_backoff_s", reconnect_backoff_s, low=0.0)
        self.ramp_steps = check_int("ramp_steps", ramp_steps, low=1, high=10000)
        self.ramp_pause_s = check_real("ramp_pause_s", ramp_pause_s, low=0.0)
        self.visa_library = visa_library
        self.instrument_state: dict[str, Any] = {}
        self.n_reconnects = 0
        self._rm: Any = None
        self._inst: Any = None
        self._in_sync = False  # True while no exchange of the open session was cut or failed
        self._open()
        self.idn = self._query("*IDN?")
        self._check_refused(self.idn)
        errs = self._drain_errors()
        if errs and not clear_errors:
            self._close_connection()
            code, text = errs[0]
            raise InstrumentError(f"instrument {self.resource_name} reported error {code} at set-up: {text} "
                                  f"({len(errs)} queued; pass clear_errors=True to discard them)")
        n = int(self._query("CHAN:COUN?"))
        electrodes = []
        for ch in range(1, n + 1):
            name, role, vmax, icomp = self._query(f"CHAN{ch}:DEF?").split(",")
            electrodes.append(Electrode(name, role, max_abs_V=float(vmax), compliance_A=float(icomp)))
        super().__init__(electrodes, compliance_policy=compliance_policy)
        self._in_channels = [i + 1 for i, e in enumerate(electrodes) if e.role == "input"]
        self._ch_of = {e.name: i + 1 for i, e in enumerate(electrodes)}
        self._ncols = 2 + 2 * self.n_inputs + len(self.output_names) + len(self.ground_names)
        self._read_state()
        if self.instrument_state.get("output_on"):
            log.warning("%s: instrument output is ON at set-up with levels %s V", self.resource_name,
                        self.instrument_state.get("levels_V"))

    # ------------------------------------------------------------------ transport
    def _open(self) -> None:
        import pyvisa

        try:
            if self._rm is None:
                self._rm = pyvisa.ResourceManager(self.visa_library)
            inst = self._rm.open_resource(self.resource_name, read_termination="\n",
                                          write_termination="\n",
                                          timeout=int(self.timeout_s * 1000), open_timeout=2000)
        except _connection_errors() as exc:
            raise InstrumentConnectionError(f"cannot connect to {self.resource_name}: {exc}") from exc
        except Exception as exc:  # pyvisa-py raises a bare Exception when the connect fails
            raise InstrumentConnectionError(f"cannot connect to {self.resource_name}: {exc}") from exc
        self.tcp_nodelay = set_tcp_nodelay(inst)
        self._inst = inst
        self._in_sync = True

    def _close_connection(self) -> None:
        if self._inst is not None:
            try:
                self._inst.close()
            except Exception as exc:  # closing a dead socket may fail; nothing to do about it
                log.debug("close failed: %s", exc)
            self._inst = None
        self._in_sync = False

    def _lost(self, message: str) -> InstrumentConnectionError:
        """Mark the session out of sync; return the error to raise."""
        self._in_sync = False
        return InstrumentConnectionError(message)

    def _io(self, func: Any) -> Any:
        """Run ``func(resource)``; VISA, socket and decoding failures become connection errors."""
        if self._inst is None:
            raise self._lost(f"not connected to {self.resource_name}")
        try:
            return func(self._inst)
        except _connection_errors() as exc:
            raise self._lost(f"{self.resource_name}: {type(exc).__name__}: {exc}") from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise self._lost(f"{self.resource_name}: malformed reply ({exc})") from exc

    def _transaction(self, func: Any) -> Any:
        """One complete exchange (``func(resource)``: a write and its reply) with signals deferred.

        The session counts as out of sync from the start of the exchange until it completed, so an
        exception that cuts it (whatever its kind) sends the safe state to a fresh session.
        """
        self._in_sync = False
        with defer_signals():
            out = self._io(func)
            self._in_sync = True
        return out

    def _query(self, cmd: str) -> str:
        reply = self._transaction(lambda i: i.query(cmd))
        return reply.strip()

    def _write(self, cmd: str) -> None:
        self._transaction(lambda i: i.write(cmd))

    def _floats(self, reply: str, n: int, cmd: str) -> np.ndarray:
        if reply == "":
            self._raise_queued(cmd)
        try:
            vals = list(map(float, reply.split(",")))
        except ValueError:
            raise self._lost(
                f"{self.resource_name}: malformed reply to {cmd[:30]!r}: {reply[:60]!r}") from None
        if len(vals) != n:
            raise self._lost(
                f"{self.resource_name}: malformed reply to {cmd[:30]!r}: {len(vals)} values, expected {n}")
        return np.array(vals)

    def _bool(self, cmd: str) -> bool:
        reply = self._query(cmd)
        if reply not in ("0", "1"):
            raise self._lost(f"{self.resource_name}: malformed reply to {cmd!r}: {reply[:60]!r} "
                             "(expected 0 or 1)")
        return reply == "1"

    def _block_exchange(self, cmd: str, chunk: np.ndarray) -> np.ndarray:
        """Send one binary block and read the reply block.

        The write runs with signals deferred (a block is never sent in part); the wait for the
        reply is abortable: a signal raises at once and leaves the session out of sync.
        """
        self._in_sync = False
        with defer_signals():
            self._io(lambda i: i.write_binary_values(cmd, chunk.reshape(-1), datatype="d",
                                                     is_big_endian=False))
        with abort_on_signals():
            return self._read_block(cmd)

    def _read_block(self, cmd: str) -> np.ndarray:
        """Read an IEEE 488.2 definite-length block of float64 (an empty line = failed query)."""
        first = self._io(lambda i: i.read_bytes(1, break_on_termchar=False))
        if first == b"\n":
            self._in_sync = True  # the reply of a failed query is complete
            self._raise_queued(cmd)
        head = self._io(lambda i: i.read_bytes(1, break_on_termchar=False)) if first == b"#" else b""
        if not head.isdigit() or head == b"0":
            raise self._lost(
                f"{self.resource_name}: malformed reply to {cmd[:30]!r}: no binary block header "
                f"(got {first + head!r})")
        digits = self._io(lambda i: i.read_bytes(int(head), break_on_termchar=False))
        if not digits.isdigit():
            raise self._lost(f"{self.resource_name}: malformed block length {digits!r}")
        n = int(digits)
        data = self._io(lambda i: i.read_bytes(n + 1, break_on_termchar=False))
        if n % 8 or data[-1:] != b"\n":
            raise self._lost(f"{self.resource_name}: malformed binary block ({n} bytes)")
        self._in_sync = True
        return np.frombuffer(data[:-1], dtype="<f8").copy()

    def _drain_errors(self) -> list[tuple[int, str]]:
        errs = []
        for _ in range(64):
            reply = self._query("SYST:ERR?")
            code_s, _, text = reply.partition(",")
            try:
                code = int(code_s)
            except ValueError:
                raise self._lost(
                    f"{self.resource_name}: malformed reply to 'SYST:ERR?': {reply[:60]!r}") from None
            if code == 0:
                break
            errs.append((code, text.strip('"')))
        return errs

    def _raise_queued(self, context: str) -> None:
        errs = self._drain_errors()
        if errs:
            code, text = errs[0]
            raise InstrumentError(f"instrument error {code} after {context[:40]!r}: {text}"
                                  + (f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""))
        raise self._lost(f"{self.resource_name}: empty reply to {context[:40]!r} "
                         "with an empty error queue")

    def check_errors(self) -> None:
        """Poll the error queue; raise :class:`InstrumentError` with code and text if not empty."""
        errs = self._drain_errors()
        if errs:
            code, text = errs[0]
            raise InstrumentError(f"instrument error {code}: {text}"
                                  + (f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""))

    def _read_state(self) -> dict[str, Any]:
        levels = self._floats(self._query("SOUR:VOLT:ALL?"), self.n_inputs, "SOUR:VOLT:ALL?")
        self.instrument_state = {"output_on": self._bool("OUTP?"), "levels_V": levels}
        return self.instrument_state

    def _check_refused(self, reply: str) -> None:
        """Raise when the server answered the first query with a refusal (client bound reached)."""
        if "connection refused" in reply:
            self._close_connection()
            raise InstrumentConnectionError(f"{self.resource_name}: {reply.strip()}")

    def reconnect(self, attempts: int | None = None) -> dict[str, Any]:
        """Reconnect (bounded attempts with back-off), clear the error queue, read the state back.

        Errors queued before the reconnect are logged, then the queue is cleared (``*CLS``).

        Parameters
        ----------
        attempts : int, optional
            Number of attempts in ``[0, 100]`` (default :attr:`reconnect_attempts`).

        Returns
        -------
        dict
            ``output_on`` (bool) and ``levels_V`` (ndarray, shape (n_inputs,)) as read from the
            instrument: the output may still be on.

        Raises
        ------
        InstrumentConnectionError
            When every attempt failed.
        """
        n_attempts = self.reconnect_attempts if attempts is None else check_int(
            "attempts", attempts, low=0, high=100)
        last: Exception | None = None
        for attempt in range(1, n_attempts + 1):
            self._close_connection()
            time.sleep(self.reconnect_backoff_s * attempt)
            try:
                self._open()
                self._check_refused(self._query("*IDN?"))
                for code, text in self._drain_errors():
                    log.warning("%s: error queued before reconnect: %d %s", self.resource_name, code, text)
                self._write("*CLS")
                state = self._read_state()
                self.n_reconnects += 1
                log.warning("%s: reconnected (attempt %d); output_on=%s levels=%s V", self.resource_name,
                            attempt, state["output_on"], state["levels_V"])
                return state
            except InstrumentConnectionError as exc:
                last = exc
        self._close_connection()
        raise InstrumentConnectionError(
            f"{self.resource_name}: reconnect failed after {n_attempts} attempt(s) ({last}); "
            "the instrument may still be sourcing")

    # ------------------------------------------------------------------ hooks
    def _rows_to_readings(self, rows: np.ndarray) -> Readings:
        k, no, ng = self.n_inputs, len(self.output_names), len(self.ground_names)
        mask = rows[:, -1].astype(np.int64)
        comp = ((mask[:, None] >> np.arange(k)) & 1).astype(bool)
        return Readings(input_V=rows[:, 1:1 + k], output_V=rows[:, 1 + k:1 + k + no],
                        input_current_A=rows[:, 1 + k + no:1 + 2 * k + no],
                        ground_current_A=rows[:, 1 + 2 * k + no:1 + 2 * k + no + ng],
                        compliance=comp, t_s=rows[:, 0])

    def _ensure_output_on(self) -> None:
        if not self.instrument_state.get("output_on_all"):
            self._write("OUTP ON")
            self.instrument_state["output_on"] = True
            self.instrument_state["output_on_all"] = True

    def _steps(self, v: np.ndarray, dt_s: float) -> np.ndarray:
        nc = self._ncols
        if self.mode == "block":
            out = []
            for s in range(0, v.shape[0], self.block_steps):
                chunk = v[s:s + self.block_steps]
                cmd = f"BLOCK:BIN? {dt_s!r},{chunk.shape[0]},"
                data = self._block_exchange(cmd, chunk)
                if data.size != chunk.shape[0] * nc:
                    raise self._lost(
                        f"{self.resource_name}: malformed block reply: {data.size} values, "
                        f"expected {chunk.shape[0] * nc}")
                out.append(data.reshape(chunk.shape[0], nc))
            return np.concatenate(out)
        rows = np.empty((v.shape[0], nc))
        if self.mode == "list":
            # numbers travel as repr of Python floats (shortest exact round trip of the float64)
            prefix = f"LIST:STEP? {float(dt_s)!r},"
            for k, levels in enumerate(v.tolist()):
                cmd = prefix + ",".join(map(repr, levels))
                rows[k] = self._floats(self._query(cmd), nc, cmd)
            return rows
        # per-sample baseline: one round trip per sample per channel
        self._write(f"TRIG:DT {dt_s!r}")
        names = [*self.input_names, *self.output_names]
        for k in range(v.shape[0]):
            for ch, x in zip(self._in_channels, v[k], strict=True):
                self._write(f"SOUR{ch}:VOLT {float(x)!r}")
            self._write("INIT")
            t = self._floats(self._query("FETC:TIME?"), 1, "FETC:TIME?")
            volts = [self._floats(self._query(f"FETC{self._ch_of[n]}:VOLT?"), 1, "FETC:VOLT?")[0]
                     for n in names]
            i_in = [self._floats(self._query(f"FETC{self._ch_of[n]}:CURR?"), 1, "FETC:CURR?")[0]
                    for n in self.input_names]
            i_gnd = [self._floats(self._query(f"FETC{self._ch_of[n]}:CURR?"), 1, "FETC:CURR?")[0]
                     for n in self.ground_names]
            comp = self._floats(self._query("FETC:COMP?"), 1, "FETC:COMP?")
            rows[k] = np.concatenate([t, volts, i_in, i_gnd, comp])
        return rows

    def _apply(self, voltages_V: np.ndarray, dt_s: float) -> Readings:
        try:
            self._ensure_output_on()
            rows = self._steps(voltages_V, dt_s)
        except InstrumentConnectionError as exc:
            self._after_connection_error(exc)
            raise
        self.check_errors()
        return self._rows_to_readings(rows)

    def _after_connection_error(self, exc: InstrumentConnectionError) -> None:
        self.instrument_state = {}
        if self.reconnect_attempts == 0:
            return
        try:
            state = self.reconnect()
            exc.args = (f"{exc.args[0]}; reconnected and read back output_on={state['output_on']}, "
                        f"levels_V={state['levels_V'].tolist()}",)
        except InstrumentConnectionError as exc2:
            exc.args = (f"{exc.args[0]}; {exc2}",)

    def _read(self) -> Readings:
        try:
            self._ensure_output_on()
            row = self._floats(self._query("MEAS?"), self._ncols, "MEAS?")
        except InstrumentConnectionError as exc:
            self._after_connection_error(exc)
            raise
        return self._rows_to_readings(row[None, :])

    def _reset(self) -> None:
        self._write("*RST")
        self.check_errors()
        self._read_state()

    def _safe_state(self) -> None:
        if self._inst is None or not self._in_sync:
            log.warning("%s: session %s; reconnecting for the safe state", self.resource_name,
                        "closed" if self._inst is None else "out of sync (an exchange was cut or failed)")
            self.reconnect(attempts=max(1, self.reconnect_attempts))
        try:
            self._ramp_and_switch_off()
        except InstrumentConnectionError as exc:
            log.warning("%s: safe state failed on the open session (%s); reconnecting", self.resource_name,
                        exc)
            self.reconnect(attempts=max(1, self.reconnect_attempts))
            self._ramp_and_switch_off()
        self._verify_safe_state()

    def _ramp_and_switch_off(self) -> None:
        levels = self._floats(self._query("SOUR:VOLT:ALL?"), self.n_inputs, "SOUR:VOLT:ALL?")
        if np.any(levels != 0.0):
            for frac in np.linspace(1.0, 0.0, self.ramp_steps + 1)[1:]:
                # + 0.0: the last step sends 0.0, not -0.0
                self._write("SOUR:VOLT:ALL " + ",".join(repr(float(x)) for x in levels * frac + 0.0))
                if self.ramp_pause_s:
                    time.sleep(self.ramp_pause_s)
        self._write("OUTP OFF")

    def _verify_safe_state(self) -> None:
        """Read the outputs and levels back; raise :class:`SafeStateError` naming what disagrees."""
        state = self._read_state()
        self.instrument_state["output_on_all"] = False
        channels = list(zip(self.input_names, self._in_channels, strict=True))
        wrong = []
        if state["output_on"]:
            on = [f"{name} (channel {ch})" for name, ch in channels if self._bool(f"OUTP{ch}?")]
            wrong.append(f"output still ON on {', '.join(on) or 'a channel (OUTP? answered 1)'}")
        wrong += [f"source level {float(x)!r} V on {name} (channel {ch})"
                  for (name, ch), x in zip(channels, state["levels_V"], strict=True) if x != 0.0]
        if wrong:
            raise SafeStateError(f"{self.resource_name}: safe state not reached: read back "
                                 f"{'; '.join(wrong)} (expected every output off and every source at 0 V)")

    def _close(self) -> None:
        self._close_connection()
        if self._rm is not None:
            try:
                self._rm.close()
            except Exception as exc:  # pragma: no cover - best effort
                log.debug("resource manager close failed: %s", exc)
            self._rm = None

    def _metadata(self) -> dict[str, Any]:
        return {"resource": self.resource_name, "idn": self.idn, "mode": self.mode,
                "tcp_nodelay": self.tcp_nodelay, "n_reconnects": self.n_reconnects}


class LocalEmulatedDevice(EmulatedDevice):
    """An :class:`EmulatedDevice` connected to its own emulator, served in this process.

    ``device_factory()`` builds the served device (e.g. a ``SimulatedDevice`` recipe); the server
    listens on 127.0.0.1 on a free port; :meth:`close` closes the client, stops the server and
    closes the served device. Several of them run side by side (one port each), e.g. one per
    worker process of a Dask cluster.

    Parameters
    ----------
    device_factory : callable
        Zero-argument callable returning the :class:`~hardware.Device` to serve.
    **kwargs
        Keywords of :class:`EmulatedDevice`.
    """

    def __init__(self, device_factory: Any, **kwargs: Any) -> None:
        from .emulator import serve_emulator

        self._served = device_factory()
        self._server = serve_emulator(self._served, host="127.0.0.1", port=0)
        try:
            super().__init__(f"TCPIP::127.0.0.1::{int(self._server.port)}::SOCKET", **kwargs)
        except BaseException:
            self._stop_served()
            raise

    def _stop_served(self) -> None:
        try:
            self._server.stop()
        finally:
            self._served.close()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._stop_served()
