"""Client of the SCPI emulator (or of any instrument speaking its command set) over PyVISA.

:class:`EmulatedDevice` reaches the instrument through PyVISA's pure-Python backend (``@py``) at
``TCPIP::127.0.0.1::PORT::SOCKET`` and offers the same :class:`~hardware.Device` API as the
in-process simulation. The command set is in the docstring of :mod:`hardware.scpi.emulator`; the
rows of the replies are read with :class:`hardware.scpi._rows.RowLayout`, the layout the emulator
writes them with. Three transfer modes, by their cost per step (``benchmarks/bench_hardware.py``):

* ``"block"`` (default): whole sequences as binary float64 blocks (``BLOCK:BIN?``, exact),
  ``block_steps`` steps per round trip;
* ``"list"``: one round trip per step for all channels (``LIST:STEP?``);
* ``"sample"``: one round trip per sample per channel (``SOURn:VOLT`` per input, ``INIT``,
  ``FETCn:VOLT?`` / ``FETCn:CURR?`` per channel); the slow baseline of the benchmark.

Time stamps: the instrument stamps each row at its reading, the end of the step's hold; the
:class:`~hardware.Measurement` keeps the :class:`~hardware.Device` convention, the start of the
hold on the device clock (the reading is at ``t_s + dt_s``), from the client's own clock.

Compliance: the instrument limits the current of every input to its compliance and folds the
voltage back (:mod:`hardware.scpi._compliance`); ``Measurement.input_V`` holds the voltages it
sourced and ``compliance`` its bits, on which ``compliance_policy`` acts.

Reliability: the error queue is polled at set-up and after each batch (:class:`InstrumentError`
with code and text); a timeout, dropped connection or malformed reply raises
:class:`InstrumentConnectionError` after a bounded reconnect that reads the instrument state back
(an instrument keeps its output on after a disconnect; :attr:`EmulatedDevice.instrument_state`);
the base class then ramps the sources to 0 V and switches the outputs off.

Session: the client holds an :class:`~hardware._session.InstrumentSession` (``session``, the
same class the bench drivers hold), which opens the VISA resource and runs every exchange.

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
from typing import Any

import numpy as np

from hardware._checks import check_choice, check_int, check_real
from hardware._instrument import ramp_to_zero
from hardware._session import InstrumentSession, set_tcp_nodelay
from hardware.device import Device, ElectrodeChannel, Readings
from hardware.errors import InstrumentConnectionError, InstrumentError, SafeStateError
from hardware.scpi._rows import RowLayout

__all__ = ["EmulatedDevice", "LocalEmulatedDevice", "set_tcp_nodelay"]

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("block", "list", "sample")


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

    Attributes
    ----------
    session : InstrumentSession
        The session with the instrument.
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
        self.session = InstrumentSession(
            self.resource_name, name=self.resource_name, tcp_nodelay=True, visa_library=visa_library,
            read_termination="\n", write_termination="\n", timeout=int(self.timeout_s * 1000),
            open_timeout=2000,
        )
        self.idn = self.session.query("*IDN?").strip()
        self._check_refused(self.idn)
        errs = self.session.check_errors()
        if errs and not clear_errors:
            self.session.close()
            code, text = errs[0]
            raise InstrumentError(
                f"instrument {self.resource_name} reported error {code} at set-up: {text} "
                f"({len(errs)} queued; pass clear_errors=True to discard them)"
            )
        n = int(self.session.query("CHAN:COUN?"))
        electrodes = []
        for ch in range(1, n + 1):
            name, role, vmax, icomp = self.session.query(f"CHAN{ch}:DEF?").strip().split(",")
            electrodes.append(ElectrodeChannel(name, role, max_abs_V=float(vmax), compliance_A=float(icomp)))
        super().__init__(electrodes, compliance_policy=compliance_policy)
        self._in_channels = [i + 1 for i, e in enumerate(electrodes) if e.role == "input"]
        self._ch_of = {e.name: i + 1 for i, e in enumerate(electrodes)}
        self._layout = RowLayout.of(self.input_names, self.output_names, self.ground_names)
        self._ncols = self._layout.n_columns
        self._read_state()
        if self.instrument_state.get("output_on"):
            log.warning(
                "%s: instrument output is ON at set-up with levels %s V",
                self.resource_name,
                self.instrument_state.get("levels_V"),
            )

    # ------------------------------------------------------------------ session
    @property
    def n_reconnects(self) -> int:
        """Successful reconnects of the session."""
        return self.session.n_reconnects

    def check_errors(self) -> None:
        """Poll the error queue; raise :class:`InstrumentError` with code and text if not empty."""
        self.session.raise_errors()

    def _check_refused(self, reply: str) -> None:
        """Raise when the server answered the first query with a refusal (client bound reached)."""
        if "connection refused" in reply:
            self.session.close()
            raise InstrumentConnectionError(f"{self.resource_name}: {reply.strip()}")

    def _output_on(self, cmd: str) -> bool:
        """The reply of an output-state query (``0`` or ``1``) as a bool."""
        reply = self.session.query(cmd).strip()
        if reply not in ("0", "1"):
            raise self.session.lost(f"malformed reply to {cmd!r}: {reply[:60]!r} (expected 0 or 1)")
        return reply == "1"

    def _read_state(self) -> dict[str, Any]:
        levels = self.session.query_floats("SOUR:VOLT:ALL?", self.n_inputs)
        self.instrument_state = {"output_on": self._output_on("OUTP?"), "levels_V": levels}
        return self.instrument_state

    def _resume(self) -> dict[str, Any]:
        """On a fresh session: log and clear the queued errors (``*CLS``), read the state back."""
        self._check_refused(self.session.query("*IDN?"))
        for code, text in self.session.check_errors():
            log.warning("%s: error queued before reconnect: %d %s", self.resource_name, code, text)
        self.session.write("*CLS")
        return self._read_state()

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
        n_attempts = (
            self.reconnect_attempts if attempts is None else check_int("attempts", attempts, low=0, high=100)
        )
        state = self.session.reconnect(attempts=n_attempts, backoff_s=self.reconnect_backoff_s,
                                       resume=self._resume)
        log.warning("%s: read back after the reconnect: output_on=%s levels=%s V", self.resource_name,
                    state["output_on"], state["levels_V"])
        return state

    # ------------------------------------------------------------------ hooks
    def _ensure_output_on(self) -> None:
        if not self.instrument_state.get("output_on_all"):
            self.session.write("OUTP ON")
            self.instrument_state["output_on"] = True
            self.instrument_state["output_on_all"] = True

    def _steps(self, v: np.ndarray, dt_s: float) -> np.ndarray:
        nc = self._ncols
        if self.mode == "block":
            out = []
            for s in range(0, v.shape[0], self.block_steps):
                chunk = v[s : s + self.block_steps]
                cmd = f"BLOCK:BIN? {dt_s!r},{chunk.shape[0]},"
                data = self.session.query_block(cmd, chunk.reshape(-1))
                if data.size != chunk.shape[0] * nc:
                    raise self.session.lost(
                        f"malformed block reply: {data.size} values, expected {chunk.shape[0] * nc}"
                    )
                out.append(data.reshape(chunk.shape[0], nc))
            return np.concatenate(out)
        rows = np.empty((v.shape[0], nc))
        if self.mode == "list":
            # numbers travel as repr of Python floats (shortest exact round trip of the float64)
            prefix = f"LIST:STEP? {float(dt_s)!r},"
            for k, levels in enumerate(v.tolist()):
                cmd = prefix + ",".join(map(repr, levels))
                rows[k] = self.session.query_floats(cmd, nc)
            return rows
        # per-sample baseline: one round trip per sample per channel
        self.session.write(f"TRIG:DT {dt_s!r}")
        lay = self._layout
        for k in range(v.shape[0]):
            for ch, x in zip(self._in_channels, v[k], strict=True):
                self.session.write(f"SOUR{ch}:VOLT {float(x)!r}")
            self.session.write("INIT")
            row = rows[k]
            row[lay.t_s] = self._fetch("TIME")
            row[lay.input_V] = [self._fetch("VOLT", self._ch_of[n]) for n in self.input_names]
            row[lay.output_V] = [self._fetch("VOLT", self._ch_of[n]) for n in self.output_names]
            row[lay.input_current_A] = [self._fetch("CURR", self._ch_of[n]) for n in self.input_names]
            row[lay.ground_current_A] = [self._fetch("CURR", self._ch_of[n]) for n in self.ground_names]
            row[lay.compliance_mask] = self._fetch("COMP")
        return rows

    def _fetch(self, quantity: str, channel: int | str = "") -> float:
        """The reply of ``FETC<channel>:<quantity>?``, one value."""
        return float(self.session.query_floats(f"FETC{channel}:{quantity}?", 1, f"FETC:{quantity}?")[0])

    def _apply(self, voltages_V: np.ndarray, dt_s: float) -> Readings:
        try:
            self._ensure_output_on()
            rows = self._steps(voltages_V, dt_s)
        except InstrumentConnectionError as exc:
            self._after_connection_error(exc)
            raise
        self.check_errors()
        # the rows stamp each reading at the end of its hold; Measurement.t_s is the start of the
        # hold on the device clock, which the base class keeps (t_s=None)
        return self._layout.readings(rows)._replace(t_s=None)

    def _after_connection_error(self, exc: InstrumentConnectionError) -> None:
        self.instrument_state = {}
        if self.reconnect_attempts == 0:
            return
        try:
            state = self.reconnect()
            exc.args = (
                f"{exc.args[0]}; reconnected and read back output_on={state['output_on']}, "
                f"levels_V={state['levels_V'].tolist()}",
            )
        except InstrumentConnectionError as exc2:
            exc.args = (f"{exc.args[0]}; {exc2}",)

    def _read(self) -> Readings:
        try:
            self._ensure_output_on()
            row = self.session.query_floats("MEAS?", self._ncols)
        except InstrumentConnectionError as exc:
            self._after_connection_error(exc)
            raise
        return self._layout.readings(row[None, :])._replace(t_s=None)

    def _reset(self) -> None:
        self.session.write("*RST")
        self.check_errors()
        self._read_state()

    def _safe_state(self) -> None:
        if not self.session.is_open or not self.session.in_sync:
            log.warning(
                "%s: session %s; reconnecting for the safe state",
                self.resource_name,
                "closed" if not self.session.is_open else "out of sync (an exchange was cut or failed)",
            )
            self.reconnect(attempts=max(1, self.reconnect_attempts))
        try:
            self._ramp_and_switch_off()
        except InstrumentConnectionError as exc:
            log.warning(
                "%s: safe state failed on the open session (%s); reconnecting", self.resource_name, exc
            )
            self.reconnect(attempts=max(1, self.reconnect_attempts))
            self._ramp_and_switch_off()
        self._verify_safe_state()

    def _ramp_and_switch_off(self) -> None:
        levels = self.session.query_floats("SOUR:VOLT:ALL?", self.n_inputs)
        ramp_to_zero(
            levels,
            lambda v: self.session.write("SOUR:VOLT:ALL " + ",".join(repr(float(x)) for x in v)),
            steps=self.ramp_steps,
            pause_s=self.ramp_pause_s,
        )
        self.session.write("OUTP OFF")

    def _verify_safe_state(self) -> None:
        """Read the outputs and levels back; raise :class:`SafeStateError` naming what disagrees."""
        state = self._read_state()
        self.instrument_state["output_on_all"] = False
        channels = list(zip(self.input_names, self._in_channels, strict=True))
        wrong = []
        if state["output_on"]:
            on = [f"{name} (channel {ch})" for name, ch in channels if self._output_on(f"OUTP{ch}?")]
            wrong.append(f"output still ON on {', '.join(on) or 'a channel (OUTP? answered 1)'}")
        wrong += [
            f"source level {float(x)!r} V on {name} (channel {ch})"
            for (name, ch), x in zip(channels, state["levels_V"], strict=True)
            if x != 0.0
        ]
        if wrong:
            raise SafeStateError(
                f"{self.resource_name}: safe state not reached: read back "
                f"{'; '.join(wrong)} (expected every output off and every source at 0 V)"
            )

    def _close(self) -> None:
        self.session.close()

    def _metadata(self) -> dict[str, Any]:
        return {
            "resource": self.resource_name,
            "idn": self.idn,
            "mode": self.mode,
            "tcp_nodelay": self.session.tcp_nodelay,
            "n_reconnects": self.n_reconnects,
        }


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
        from hardware.scpi.emulator import serve_emulator

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
