"""Keithley 2450 SourceMeter (SCPI): exact set-and-measure and a buffered list sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.keithley import Keithley2450
from pymeasure.instruments.validators import strict_discrete_set

from hardware.drivers._base import SmuChannel, _exact, _on_off, _SessionDriver, _Smu, _within
from hardware.errors import LimitError

__all__ = ["LIST_CHUNK", "LIST_MAX", "Smu2450", "Smu2450Channel"]

#: Values one list command takes, and the longest source list (2450-901-01 Rev. B, p. 6-78; the
#: append command adds groups of up to 100 values).
LIST_CHUNK = 100
LIST_MAX = 2500


class Smu2450Channel(SmuChannel):
    """The one channel of a Keithley 2450."""

    source_voltage = Channel.control(
        ":SOUR:VOLT:LEV?", ":SOUR:VOLT:LEV %s",
        """Control the voltage source level in volts (sent exactly; LimitError outside the range).""",
        validator=_within, values=(-210.0, 210.0), set_process=_exact, dynamic=True)

    output_enabled = Channel.control(
        "OUTP?", "OUTP %s", """Control whether the output is on (bool).""",
        validator=strict_discrete_set, values=(True, False), set_process=lambda on: "ON" if on else "OFF",
        cast=str, get_process=_on_off)

    def _configure(self, mode: str, compliance_A: float, max_abs_V: float) -> None:
        if mode == "source_v":
            self.write(":SOUR:FUNC VOLT;:SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;"
                       f":SOUR:VOLT:RANG {max_abs_V!r};:SOUR:VOLT:ILIM {compliance_A!r};:SOUR:VOLT:LEV 0")
        else:
            self.write(":SOUR:FUNC CURR;:SENS:FUNC 'VOLT';:SENS:VOLT:RANG:AUTO 1;"
                       f":SOUR:CURR:VLIM {max_abs_V!r};:SOUR:CURR:LEV 0")


class Smu2450(_Smu, _SessionDriver, Keithley2450):
    """Keithley 2450 with exact set-and-measure and a buffered list sweep."""

    n_channels = 1
    channel_names: tuple[str | None, ...] = (None,)

    ch = Instrument.ChannelCreator(Smu2450Channel)

    def __init__(self, adapter: Any, name: str = "Keithley 2450 SourceMeter", **kwargs: Any) -> None:
        super().__init__(adapter, name, **kwargs)

    def channel(self, channel: str | None) -> SmuChannel:
        """The one channel (``channel`` must be None)."""
        if channel is not None:
            raise LookupError(f"a keithley2450 has one channel (None), got {channel!r}")
        return self.ch

    def step(self, levels: dict[str | None, float | None]) -> dict[str | None, tuple[float, float, bool]]:
        """Set the level (None = voltmeter) and read; returns ``{channel: (V, I, compliance)}``."""
        level = levels[None]
        if level is None:
            v = self.session.query_floats(':READ? "defbuffer1",READ', 1, "READ?")[0]
            return {None: (v, 0.0, False)}
        level = self.checked_level(None, level)
        reply = self.ask(f':SOUR:VOLT:LEV {level!r};:READ? "defbuffer1",SOUR,READ;:SOUR:VOLT:ILIM:TRIP?')
        v, i, trip = self.session.floats(reply.replace(";", ","), 3, "READ?")
        return {None: (v, i, bool(trip))}

    def set_levels(self, levels: dict[str | None, float | None]) -> None:
        """Set the source level (a voltmeter, ``None``, sets nothing); no reading."""
        level = levels[None]
        if level is not None:
            self.write(f":SOUR:VOLT:LEV {self.checked_level(None, level)!r}")

    def measure(self, next_levels: dict[str | None, float | None] | None = None
                ) -> dict[str | None, tuple[float, float, bool]]:
        """Read now, then set ``next_levels`` (if given) in the same exchange.

        The reading is of the level held until now: a step's reading at the end of its hold, and the
        next step's level right after it. Returns ``{None: (V, I, compliance)}`` (a voltmeter reads
        ``(V, 0.0, False)``).
        """
        if self.ch.mode == "measure_v":
            v = self.session.query_floats(':READ? "defbuffer1",READ', 1, "READ?")[0]
            return {None: (v, 0.0, False)}
        cmd = ':READ? "defbuffer1",SOUR,READ;:SOUR:VOLT:ILIM:TRIP?'
        if next_levels is not None and next_levels[None] is not None:
            cmd += f";:SOUR:VOLT:LEV {self.checked_level(None, next_levels[None])!r}"
        v, i, trip = self.session.floats(self.ask(cmd).replace(";", ","), 3, "READ?")
        return {None: (v, i, bool(trip))}

    def run_list(self, levels_V: np.ndarray, dt_s: float) -> np.ndarray:
        """Buffered list sweep; returns ``(n_steps, 2)`` of (source V, measured I).

        The list is sent in groups of :data:`LIST_CHUNK` values (``:SOUR:LIST:VOLT``, then
        ``:SOUR:LIST:VOLT:APP``), as the instrument takes them; it holds :data:`LIST_MAX` at most.
        """
        n = len(levels_V)
        if not 1 <= n <= LIST_MAX:
            raise LimitError(f"a 2450 list sweep holds 1 to {LIST_MAX} points, got {n}; use step mode or "
                             "shorter sequences")
        text = [repr(x) for x in self.checked_levels(None, levels_V)]
        self.write(":TRAC:CLE \"defbuffer1\";:SOUR:LIST:VOLT " + ",".join(text[:LIST_CHUNK]))
        for k in range(LIST_CHUNK, n, LIST_CHUNK):
            self.write(":SOUR:LIST:VOLT:APP " + ",".join(text[k : k + LIST_CHUNK]))
        self.write(f":SOUR:SWE:VOLT:LIST 1,{dt_s!r}")
        self.write(":INIT;*WAI")
        data = self.session.query_floats(f':TRAC:DATA? 1,{n},"defbuffer1",SOUR,READ', 2 * n, "TRAC:DATA?")
        return data.reshape(n, 2)

    def outputs(self, on: bool, channels: Sequence[str | None] | None = None) -> None:
        """Switch the output on or off (``channels``: ``None`` or ``[None]``, the one channel)."""
        if channels is not None and list(channels) not in ([], [None]):
            raise LookupError(f"a keithley2450 has one channel (None), got {list(channels)!r}")
        if channels is None or channels:
            self.ch.output_enabled = bool(on)
