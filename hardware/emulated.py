"""Client of the SCPI emulator (or of any instrument speaking its command set) over PyVISA.

:class:`EmulatedDevice` reaches the instrument through PyVISA's pure-Python backend (``@py``) at
``TCPIP::127.0.0.1::PORT::SOCKET`` and offers the same :class:`~hardware.Device` API as the
in-process simulation. The command set is in the docstring of :mod:`hardware.emulator`; the
rows of the replies are read with :class:`hardware._scpi_rows.RowLayout`, the layout the emulator
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
voltage back (:mod:`hardware._scpi_compliance`); ``Measurement.input_V`` holds the voltages it
sourced and ``compliance`` its bits, on which ``compliance_policy`` acts.

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
import time
from typing import Any

import numpy as np

from ._checks import check_choice, check_int, check_real
from ._instrument import ramp_to_zero
from ._scpi_client import ScpiSession, set_tcp_nodelay
from ._scpi_rows import RowLayout
from .device import Device, ElectrodeChannel, Readings
from .errors import InstrumentConnectionError, InstrumentError, SafeStateError

__all__ = ["EmulatedDevice", "LocalEmulatedDevice", "set_tcp_nodelay"]

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("block", "list", "sample")


class EmulatedDevice(Device, ScpiSession):
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
            raise InstrumentError(
                f"instrument {self.resource_name} reported error {code} at set-up: {text} "
                f"({len(errs)} queued; pass clear_errors=True to discard them)"
            )
        n = int(self._query("CHAN:COUN?"))
        electrodes = []
        for ch in range(1, n + 1):
            name, role, vmax, icomp = self._query(f"CHAN{ch}:DEF?").split(",")
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
    def _read_state(self) -> dict[str, Any]:
        levels = self._floats(self._query("SOUR:VOLT:ALL?"), self.n_inputs, "SOUR:VOLT:ALL?")
        self.instrument_state = {"output_on": self._bool("OUTP?"), "levels_V": levels}
        return self.instrument_state

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
                log.warning(
                    "%s: reconnected (attempt %d); output_on=%s levels=%s V",
                    self.resource_name,
                    attempt,
                    state["output_on"],
                    state["levels_V"],
                )
                return state
            except InstrumentConnectionError as exc:
                last = exc
        self._close_connection()
        raise InstrumentConnectionError(
            f"{self.resource_name}: reconnect failed after {n_attempts} attempt(s) ({last}); "
            "the instrument may still be sourcing"
        )

    # ------------------------------------------------------------------ hooks
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
                chunk = v[s : s + self.block_steps]
                cmd = f"BLOCK:BIN? {dt_s!r},{chunk.shape[0]},"
                data = self._block_exchange(cmd, chunk)
                if data.size != chunk.shape[0] * nc:
                    raise self._lost(
                        f"{self.resource_name}: malformed block reply: {data.size} values, "
                        f"expected {chunk.shape[0] * nc}"
                    )
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
        lay = self._layout
        for k in range(v.shape[0]):
            for ch, x in zip(self._in_channels, v[k], strict=True):
                self._write(f"SOUR{ch}:VOLT {float(x)!r}")
            self._write("INIT")
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
        return float(self._floats(self._query(f"FETC{channel}:{quantity}?"), 1, f"FETC:{quantity}?")[0])

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
            row = self._floats(self._query("MEAS?"), self._ncols, "MEAS?")
        except InstrumentConnectionError as exc:
            self._after_connection_error(exc)
            raise
        return self._layout.readings(row[None, :])._replace(t_s=None)

    def _reset(self) -> None:
        self._write("*RST")
        self.check_errors()
        self._read_state()

    def _safe_state(self) -> None:
        if self._inst is None or not self._in_sync:
            log.warning(
                "%s: session %s; reconnecting for the safe state",
                self.resource_name,
                "closed" if self._inst is None else "out of sync (an exchange was cut or failed)",
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
        levels = self._floats(self._query("SOUR:VOLT:ALL?"), self.n_inputs, "SOUR:VOLT:ALL?")
        ramp_to_zero(
            levels,
            lambda v: self._write("SOUR:VOLT:ALL " + ",".join(repr(float(x)) for x in v)),
            steps=self.ramp_steps,
            pause_s=self.ramp_pause_s,
        )
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
        self._close_connection()
        if self._rm is not None:
            try:
                self._rm.close()
            except Exception as exc:  # pragma: no cover - best effort
                log.debug("resource manager close failed: %s", exc)
            self._rm = None

    def _metadata(self) -> dict[str, Any]:
        return {
            "resource": self.resource_name,
            "idn": self.idn,
            "mode": self.mode,
            "tcp_nodelay": self.tcp_nodelay,
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
