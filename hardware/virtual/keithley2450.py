"""A virtual Keithley 2450 SourceMeter: the SCPI subset that :class:`~hardware.drivers.Smu2450` uses.

Commands (case-insensitive, optional leading ``:``, several per message separated by ``;``, their
replies joined by ``;``). The manual column gives the page of the command's entry in the Model 2450
reference manual, 2450-901-01 Rev. B (September 2013): n-m is in section n (6: SCPI command
reference), B-n in appendix B (common commands); "x-ref" marks a page read from another entry's
cross references.

==============================================  =============================================  ==========
command                                         what it does                                   manual
==============================================  =============================================  ==========
``*IDN?``                                       identification                                 B-5
``*RST``                                        reset (voltage source at 0 V, output off,      not found
                                                current limit 105 uA, voltage limit 21 V)
``*CLS``                                        clear the error queue                          B-2
``*WAI``                                        wait (every command here completes at once)    B-10
``*OPC?``                                       ``1``                                          B-6
``SYST:ERR?``, ``SYST:ERR:COUN?``               the oldest error ``code,"text"`` (removed),    not found
                                                the number queued
``SOUR:FUNC VOLT|CURR``                         source voltage, or current (0 A only: a        6-72
                                                voltmeter)
``SENS:FUNC 'CURR'|'VOLT'``                     accepted (the reading follows the source       6-49 x-ref
                                                function)
``SENS:CURR|VOLT:RANG:AUTO 1``                  accepted                                       6-50
``SENS:CURR|VOLT:NPLC <n>``                     aperture in power-line cycles (0.01 to 10)     6-48
``SOUR:VOLT:RANG <V>``                          source range                                   6-74 x-ref,
                                                                                               6-75
``SOUR:VOLT:ILIM <A>``, ``SOUR:CURR:VLIM <V>``  current limit, voltage limit                   6-71
``SOUR:VOLT:LEV <V>`` / ``SOUR:VOLT:LEV?``      voltage level (-222 beyond 1.05 x range)       6-70
``SOUR:CURR:LEV 0``                             voltmeter set-up (a non-zero current is -221)  6-70
``SOUR:VOLT:ILIM:TRIP?``                        ``1`` when the last reading was in             6-72
                                                compliance, else ``0``
``OUTP ON|OFF|1|0`` / ``OUTP?``                 output relay                                   6-34
``READ? "defbuffer1",SOUR,READ`` or ``,READ``   one reading at the end of its aperture:        6-6
                                                source value and current (voltage source),
                                                or voltage (voltmeter)
``TRAC:CLE "defbuffer1"``                       clear the buffer                               not found
                                                                                               (usage:
                                                                                               3-26)
``SOUR:LIST:VOLT <V>,<V>,...``                  the list of a list sweep (100 values; -223     6-78
                                                beyond)
``SOUR:LIST:VOLT:APP <V>,<V>,...``              append up to 100 values (2500 in all)          6-78 x-ref
``SOUR:SWE:VOLT:LIST 1,<delay s>``              configure the sweep: per point, source, wait   6-85 x-ref
                                                ``delay``, read
``INIT``                                        run the sweep into the buffer                  6-124
``TRAC:DATA? 1,<n>,"defbuffer1",SOUR,READ``     the buffer: source value and reading per       6-109
                                                point
==============================================  =============================================  ==========

Anything else is -113 (undefined header); a malformed number is -104.

Numbers. Readings and levels are written exactly (``repr`` of the float, so the drivers read back
the very value). The 2450's ASCII precision for readings (``READ?``, ``TRAC:DATA?``) is set by
``:FORMat:ASCii:PRECision``, whose default is 0, "automatic" (6-28; data format ASCII by default,
6-30); the manual does not state how many digits automatic gives, so the virtual instrument does
not round: its readings carry float64 resolution (about 1e-16 relative), finer than a 2450's.

Compliance. The flag is the state at the last reading; the instrument reports whether its source
exceeded the limit when asked (6-72).
"""

from __future__ import annotations

import math
import re
from typing import Any

from hardware.virtual._instrument import InstrumentFault, SmuChannelState, VirtualInstrument

__all__ = ["Virtual2450"]

_SPLIT = re.compile(r';(?=(?:[^"\']*["\'][^"\']*["\'])*[^"\']*$)')  # ';' outside quotes


def _number(text: str) -> float:
    try:
        x = float(text.strip())
    except ValueError:
        raise InstrumentFault(-104, f"Data type error: {text.strip()[:30]!r} is not a number") from None
    if not math.isfinite(x):
        raise InstrumentFault(-224, f"Illegal parameter value: {text.strip()!r}")
    return x


def _fmt(x: float) -> str:
    return repr(float(x) + 0.0)


class Virtual2450(VirtualInstrument):
    """A Keithley 2450 on the virtual bench (one channel)."""

    idn = "KEITHLEY INSTRUMENTS,MODEL 2450,VIRTUAL,nanowire-hil"

    def moves_clock(self, line: str) -> bool:
        """``INIT`` runs a sweep, which advances the clock."""
        return any(p.strip().lstrip(":").upper().startswith("INIT") for p in line.split(";"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ch = SmuChannelState(key=self.name)
        self.sweep_levels: list[float] = []
        self.sweep_delay_s = 0.0
        self.buffer: list[tuple[float, float]] = []

    def channels(self) -> list[SmuChannelState]:
        return [self.ch]

    def channel(self, name: str | None) -> SmuChannelState:
        if name is not None:
            raise KeyError(f"a keithley2450 has one channel (null), got {name!r}")
        return self.ch

    def reset(self) -> None:
        super().reset()
        self.sweep_levels, self.sweep_delay_s, self.buffer = [], 0.0, []

    # ------------------------------------------------------------------ dispatch
    def _execute(self, line: str) -> str | None:
        replies: list[str] = []
        any_query = False
        for part in (p.strip() for p in _SPLIT.split(line)):
            if not part:
                continue
            head, _, arg = part.partition(" ")
            head = head.lstrip(":").upper()
            query = head.endswith("?")
            any_query |= query
            try:
                r = self._command(head, arg.strip())
            except InstrumentFault as f:
                self.push_error(f.code, f.text)
                r = "" if query else None
            if r is not None:
                replies.append(r)
        return ";".join(replies) if any_query else None

    def _command(self, head: str, arg: str) -> str | None:
        ch = self.ch
        if head == "*IDN?":
            return self.idn
        if head == "*RST":
            self.reset()
            return None
        if head == "*CLS":
            self.errors.clear()
            return None
        if head == "*WAI":
            return None
        if head == "*OPC?":
            return "1"
        if head == "SYST:ERR?":
            code, text = self.next_error()
            return f'{code},"{text}"'
        if head == "SYST:ERR:COUN?":
            return str(len(self.errors))
        if head == "SOUR:FUNC":
            fn = arg.upper()
            if fn not in ("VOLT", "CURR"):
                raise InstrumentFault(-224, f"Illegal parameter value: source function {arg!r}")
            ch.function = fn
            return None
        if head == "SENS:FUNC":
            if arg.strip("'\"").upper() not in ("CURR", "VOLT"):
                raise InstrumentFault(-224, f"Illegal parameter value: sense function {arg!r}")
            return None
        if head in ("SENS:CURR:RANG:AUTO", "SENS:VOLT:RANG:AUTO"):
            return None
        if head in ("SENS:CURR:NPLC", "SENS:VOLT:NPLC"):
            n = _number(arg)
            if not 0.01 <= n <= 10.0:
                raise InstrumentFault(-222, f"Data out of range: NPLC {n!r} (0.01 to 10)")
            self.nplc = n
            return None
        if head == "SOUR:VOLT:RANG":
            r = _number(arg)
            if not 0.0 < r <= 210.0:
                raise InstrumentFault(-222, f"Data out of range: source range {r!r} V (up to 210)")
            ch.range_V = r
            return None
        if head == "SOUR:VOLT:ILIM":
            lim = _number(arg)
            if not 1e-9 <= lim <= 1.05:
                raise InstrumentFault(-222, f"Data out of range: current limit {lim!r} A")
            ch.ilim_A = lim
            return None
        if head == "SOUR:VOLT:ILIM:TRIP?":
            return "1" if ch.tripped else "0"
        if head == "SOUR:VOLT:LEV":
            v = _number(arg)
            if abs(v) > 1.05 * ch.range_V:
                raise InstrumentFault(-222, f"Data out of range: {v!r} V on the {ch.range_V!r} V range")
            ch.level_V = v
            return None
        if head == "SOUR:VOLT:LEV?":
            return _fmt(ch.level_V)
        if head == "SOUR:CURR:VLIM":
            ch.vlim_V = abs(_number(arg))
            return None
        if head == "SOUR:CURR:LEV":
            if _number(arg) != 0.0:
                raise InstrumentFault(-221, "Settings conflict: the virtual bench sources 0 A only")
            return None
        if head == "OUTP":
            state = arg.upper()
            if state not in ("ON", "OFF", "1", "0"):
                raise InstrumentFault(-224, f"Illegal parameter value: output {arg!r}")
            ch.output_on = state in ("ON", "1")
            return None
        if head == "OUTP?":
            return "1" if ch.output_on else "0"
        if head == "READ?":
            return self._read(arg)
        if head == "TRAC:CLE":
            self.buffer = []
            return None
        if head in ("SOUR:LIST:VOLT", "SOUR:LIST:VOLT:APP"):
            levels = [_number(x) for x in arg.split(",")]
            bad = [v for v in levels if abs(v) > 1.05 * ch.range_V]
            if bad:
                raise InstrumentFault(
                    -222, f"Data out of range: list level {bad[0]!r} V on the {ch.range_V!r} V range")
            if len(levels) > 100:
                raise InstrumentFault(-223, f"Too much data: {len(levels)} list values in one command (100)")
            total = levels if head == "SOUR:LIST:VOLT" else self.sweep_levels + levels
            if len(total) > 2500:
                raise InstrumentFault(-223, f"Too much data: a list of {len(total)} values (2500)")
            self.sweep_levels = total
            return None
        if head == "SOUR:SWE:VOLT:LIST":
            start, _, delay = arg.partition(",")
            if int(_number(start)) != 1:
                raise InstrumentFault(-222, "Data out of range: the sweep starts at list index 1")
            self.sweep_delay_s = max(0.0, _number(delay))
            return None
        if head == "INIT":
            self._sweep()
            return None
        if head == "TRAC:DATA?":
            return self._trace(arg)
        raise InstrumentFault(-113, f"Undefined header: {head[:40]}")

    # ------------------------------------------------------------------ readings
    def _read(self, arg: str) -> str:
        fields = [a.strip().strip('"').upper() for a in arg.split(",") if a.strip()]
        if not fields or fields[0] != "DEFBUFFER1" or fields[1:] not in (["SOUR", "READ"], ["READ"]):
            raise InstrumentFault(-109, f"Missing or unsupported READ? parameters: {arg[:40]!r}")
        v, i = self.measure(self.ch)
        if fields[1:] == ["READ"]:
            return _fmt(v if self.ch.function == "CURR" else i)
        return f"{_fmt(v)},{_fmt(i)}"

    def _sweep(self) -> None:
        if not self.sweep_levels:
            raise InstrumentFault(-221, "Settings conflict: no list to sweep (SOUR:LIST:VOLT)")
        if not self.ch.output_on:
            raise InstrumentFault(-221, "Settings conflict: output off")
        for level in self.sweep_levels:
            self.bench.advance()
            self.ch.level_V = level
            self.bench.levels_changed()
            self.bench.clock.advance(self.sweep_delay_s)
            v, i = self.measure(self.ch)
            self.buffer.append((v, i))

    def _trace(self, arg: str) -> str:
        parts = [a.strip().strip('"').upper() for a in arg.split(",")]
        if len(parts) != 5 or parts[2:] != ["DEFBUFFER1", "SOUR", "READ"]:
            raise InstrumentFault(-109, f"Missing or unsupported TRAC:DATA? parameters: {arg[:40]!r}")
        lo, hi = int(_number(parts[0])), int(_number(parts[1]))
        if not 1 <= lo <= hi <= len(self.buffer):
            raise InstrumentFault(-222, f"Data out of range: points {lo}..{hi} of {len(self.buffer)}")
        return ",".join(f"{_fmt(v)},{_fmt(i)}" for v, i in self.buffer[lo - 1:hi])
