"""Instrument drivers for the bench: Keithley 2450 (SCPI), 2600B (TSP, two channels), 707B matrix.

The SMU drivers reuse PyMeasure's :class:`~pymeasure.instruments.keithley.Keithley2450` and
:class:`~pymeasure.instruments.keithley.Keithley2600` for identification, reset, output and
compliance settings; this module adds what a multi-electrode sequence needs and PyMeasure lacks:

* one *set-and-measure* exchange per instrument per step (both channels of a 2600B in one TSP
  chunk), so a step costs one round trip per instrument, not one per sample per channel;
* buffered list sweeps (2450 ``:SOUR:LIST:VOLT`` + ``:SOUR:SWE:VOLT:LIST``; 2600B
  ``smuX.trigger.source.listv`` into ``nvbuffer1/2``) for whole sequences on one instrument;
* the 707B switch matrix (PyMeasure has no driver) as a small TSP :class:`Instrument` subclass.

Numbers are sent with ``repr`` (exact float64) rather than PyMeasure's ``%g``/``%f`` (6 digits).
Client-side limits are checked by :class:`~hardware.Device` before any of this runs; PyMeasure's
``truncated_range`` validators are never relied on for protection.

Every write, read and query of these drivers runs with SIGINT and SIGTERM deferred
(:func:`hardware._interrupts.defer_signals`): a query is one transaction, so Ctrl-C arrives after
its reply was read and the session stays in sync for the safe state. A buffered list sweep's data
query waits for the whole sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley import Keithley2450, Keithley2600

from ._interrupts import defer_signals
from .errors import InstrumentConnectionError, InstrumentError

__all__ = ["Keithley707B", "Smu2450", "Smu2600", "SmuChannel"]

log = logging.getLogger(__name__)


def _parse(reply: str, n: int, what: str) -> np.ndarray:
    try:
        vals = np.array([float(x) for x in reply.replace("\t", ",").replace(" ", ",").split(",") if x])
    except ValueError:
        raise InstrumentConnectionError(f"malformed reply to {what}: {reply[:60]!r}") from None
    if vals.size != n:
        raise InstrumentConnectionError(f"malformed reply to {what}: {vals.size} values, expected {n}")
    return vals


class _DeferredIO:
    """Mixin for PyMeasure instruments: each write, read and query is one signal-deferred transaction."""

    def write(self, command: str, **kwargs: Any) -> None:
        """Write ``command`` (SIGINT/SIGTERM deferred until it is sent)."""
        with defer_signals():
            super().write(command, **kwargs)

    def write_bytes(self, content: bytes, **kwargs: Any) -> None:
        """Write raw bytes (SIGINT/SIGTERM deferred until they are sent)."""
        with defer_signals():
            super().write_bytes(content, **kwargs)

    def read(self, **kwargs: Any) -> str:
        """Read one reply (SIGINT/SIGTERM deferred until it is read)."""
        with defer_signals():
            return super().read(**kwargs)

    def read_bytes(self, count: int, **kwargs: Any) -> bytes:
        """Read ``count`` bytes (SIGINT/SIGTERM deferred until they are read)."""
        with defer_signals():
            return super().read_bytes(count, **kwargs)

    def ask(self, command: str, query_delay: float | None = None) -> str:
        """Write ``command`` and read its reply as one transaction (SIGINT/SIGTERM deferred)."""
        with defer_signals():
            return super().ask(command, query_delay)

    def binary_values(self, command: str, query_delay: float | None = None, **kwargs: Any) -> Any:
        """Query binary values as one transaction (SIGINT/SIGTERM deferred)."""
        with defer_signals():
            return super().binary_values(command, query_delay, **kwargs)


class Keithley707B(_DeferredIO, Instrument):
    """Keithley 707B switching matrix (TSP).

    Parameters
    ----------
    adapter : str or pymeasure Adapter
        VISA address or adapter.
    """

    def __init__(self, adapter, name: str = "Keithley 707B Switch Matrix", **kwargs) -> None:
        super().__init__(adapter, name, includeSCPI=False, **kwargs)

    @property
    def id(self) -> str:
        """Identification string."""
        return self.ask("*IDN?").strip()

    def open_all(self) -> None:
        """Open every crosspoint."""
        self.write('channel.open("allslots")')

    def close_channels(self, channels: Sequence[str]) -> None:
        """Close the crosspoints ``channels`` (e.g. ``["1A01", "1B02"]``)."""
        if channels:
            self.write(f'channel.close("{",".join(channels)}")')

    @property
    def closed_channels(self) -> list[str]:
        """The closed crosspoints."""
        reply = self.ask('print(channel.getclose("allslots"))').strip()
        return [] if reply in ("", "nil") else reply.split(";")

    @property
    def next_error(self) -> tuple[int, str]:
        """``(code, message)`` of the next queued error; ``(0, "")`` when empty."""
        if int(float(self.ask("print(errorqueue.count)"))) == 0:
            return 0, ""
        code, _, msg = self.ask("print(errorqueue.next())").strip().partition("\t")
        return int(float(code)), msg.strip().strip('"')

    def check_errors(self) -> list[tuple[int, str]]:
        """Drain the error queue."""
        errs = []
        for _ in range(32):
            e = self.next_error
            if e[0] == 0:
                break
            errs.append(e)
        return errs


class SmuChannel:
    """One SMU channel used as an input/ground source (``source_v``) or a voltmeter (``measure_v``)."""

    def __init__(self, smu: Smu2450 | Smu2600, channel: str | None) -> None:
        self.smu = smu
        self.channel = channel
        self.mode = "source_v"


class Smu2450(_DeferredIO, Keithley2450):
    """Keithley 2450 with exact set-and-measure and a buffered list sweep."""

    n_channels = 1

    def configure(self, channel: str | None, mode: str, compliance_A: float, max_abs_V: float) -> None:
        """Source voltage with current compliance (``source_v``) or source 0 A and read V (``measure_v``)."""
        if mode == "source_v":
            self.write(":SOUR:FUNC VOLT;:SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;"
                       f":SOUR:VOLT:RANG {max_abs_V!r};:SOUR:VOLT:ILIM {compliance_A!r};:SOUR:VOLT:LEV 0")
        else:
            self.write(":SOUR:FUNC CURR;:SENS:FUNC 'VOLT';:SENS:VOLT:RANG:AUTO 1;"
                       f":SOUR:CURR:VLIM {max_abs_V!r};:SOUR:CURR:LEV 0")

    def step(self, levels: dict[str | None, float | None]) -> dict[str | None, tuple[float, float, bool]]:
        """Set the level (None = voltmeter) and read; returns ``{channel: (V, I, compliance)}``."""
        level = levels[None]
        if level is None:
            v = _parse(self.ask(':READ? "defbuffer1",READ'), 1, "READ?")[0]
            return {None: (v, 0.0, False)}
        reply = self.ask(f':SOUR:VOLT:LEV {level!r};:READ? "defbuffer1",SOUR,READ;:SOUR:VOLT:ILIM:TRIP?')
        v, i, trip = _parse(reply.replace(";", ","), 3, "READ?")
        return {None: (v, i, bool(trip))}

    def run_list(self, levels_V: np.ndarray, dt_s: float) -> np.ndarray:
        """Buffered list sweep; returns ``(n_steps, 2)`` of (source V, measured I)."""
        n = len(levels_V)
        self.write(":TRAC:CLE \"defbuffer1\";:SOUR:LIST:VOLT " + ",".join(repr(float(x)) for x in levels_V))
        self.write(f":SOUR:SWE:VOLT:LIST 1,{dt_s!r}")
        self.write(":INIT;*WAI")
        reply = self.ask(f':TRAC:DATA? 1,{n},"defbuffer1",SOUR,READ')
        return _parse(reply, 2 * n, "TRAC:DATA?").reshape(n, 2)

    def set_levels_raw(self, levels: dict[str | None, float]) -> None:
        """Set levels without reading (used by the ramp to 0 V)."""
        self.write(f":SOUR:VOLT:LEV {levels[None]!r}")

    def outputs(self, on: bool) -> None:
        """Switch the output on or off."""
        self.write("OUTP ON" if on else "OUTP OFF")

    def check_errors_raise(self) -> None:
        """Poll the error queue; raise :class:`InstrumentError` with code and text."""
        errs = self.check_errors()
        if errs:
            raise InstrumentError(f"{self.name}: error {errs[0][0]}: {errs[0][1]}")


class Smu2600(_DeferredIO, Keithley2600):
    """Keithley 2600B (channels ``a``, ``b``) with one TSP exchange per step for both channels."""

    n_channels = 2

    def configure(self, channel: str | None, mode: str, compliance_A: float, max_abs_V: float) -> None:
        """See :meth:`Smu2450.configure` (TSP)."""
        c = f"smu{channel}"
        if mode == "source_v":
            self.write(f"{c}.source.func={c}.OUTPUT_DCVOLTS {c}.source.rangev={max_abs_V!r} "
                       f"{c}.source.limiti={compliance_A!r} {c}.measure.autorangei={c}.AUTORANGE_ON "
                       f"{c}.source.levelv=0")
        else:
            self.write(f"{c}.source.func={c}.OUTPUT_DCAMPS {c}.source.leveli=0 "
                       f"{c}.source.limitv={max_abs_V!r} {c}.measure.autorangev={c}.AUTORANGE_ON")

    def step(self, levels: dict[str | None, float | None]) -> dict[str | None, tuple[float, float, bool]]:
        """One TSP chunk: set every sourcing channel, measure every channel, one reply line."""
        chans = sorted(levels)
        cmd = []
        for c in chans:
            if levels[c] is not None:
                cmd.append(f"smu{c}.source.levelv={levels[c]!r}")
        for c in chans:
            cmd.append(f"i{c},v{c}=smu{c}.measure.iv() c{c}=smu{c}.source.compliance and 1 or 0")
        cmd.append("print(" + ",".join(f"v{c},i{c},c{c}" for c in chans) + ")")
        vals = _parse(self.ask(" ".join(cmd)), 3 * len(chans), "measure.iv()")
        return {c: (vals[3 * k], vals[3 * k + 1] if levels[c] is not None else 0.0, bool(vals[3 * k + 2]))
                for k, c in enumerate(chans)}

    def run_list(self, levels_V: np.ndarray, dt_s: float, channel: str = "a") -> np.ndarray:
        """Buffered list sweep on one channel; returns ``(n_steps, 2)`` of (V, I)."""
        c = f"smu{channel}"
        n = len(levels_V)
        self.write(f"{c}.nvbuffer1.clear() {c}.nvbuffer2.clear() "
                   f"{c}.trigger.source.listv({{{','.join(repr(float(x)) for x in levels_V)}}}) "
                   f"{c}.trigger.source.action={c}.ENABLE "
                   f"{c}.trigger.measure.iv({c}.nvbuffer1,{c}.nvbuffer2) "
                   f"{c}.trigger.measure.action={c}.ENABLE {c}.trigger.count={n} "
                   f"trigger.timer[1].delay={dt_s!r} {c}.trigger.initiate() waitcomplete()")
        reply = self.ask(f"printbuffer(1,{n},{c}.nvbuffer2.readings,{c}.nvbuffer1.readings)")
        return _parse(reply, 2 * n, "printbuffer").reshape(n, 2)

    def set_levels_raw(self, levels: dict[str | None, float]) -> None:
        """Set levels without reading (used by the ramp to 0 V)."""
        self.write(" ".join(f"smu{c}.source.levelv={v!r}" for c, v in sorted(levels.items())))

    def outputs(self, on: bool) -> None:
        """Switch both outputs on or off."""
        s = 1 if on else 0
        self.write(f"smua.source.output={s} smub.source.output={s}")

    def check_errors_raise(self) -> None:
        """Poll the error queue; raise :class:`InstrumentError` with code and text."""
        errs = []
        for _ in range(32):
            if int(float(self.ask("print(errorqueue.count)"))) == 0:
                break
            errs.append(self.next_error)
        if errs:
            raise InstrumentError(f"{self.name}: error {errs[0][0]}: {errs[0][1]}")
