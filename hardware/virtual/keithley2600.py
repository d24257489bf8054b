"""A virtual Keithley 2600B (TSP, channels ``a`` and ``b``): what :class:`~hardware.drivers.Smu2600` sends.

Each message is one TSP chunk (:mod:`hardware.virtual._tsp`: statements separated by whitespace,
an unknown one is -285 and nothing of its chunk runs). ``X`` is ``a`` or ``b``; ``<V>``, ``<A>``
and ``<s>`` are number literals. The manual column gives the entry in the Series 2600B reference
manual, 2600BS-901-01, as revision and page (B: Rev. B, May 2013; C: Rev. C, August 2016; F: Rev. F,
August 2021; page n-m is in section n); "x-ref" marks a page read from another entry's cross
references.

==========================================================  ============================  ============
statement                                                   what it does                  manual
==========================================================  ============================  ============
``smuX.source.func=smuX.OUTPUT_DCVOLTS``                    source voltage (with a        B 7-221
                                                            current limit)                x-ref
``smuX.source.func=smuX.OUTPUT_DCAMPS``                     source current (0 A only: a   B 7-221
                                                            voltmeter)                    x-ref
``smuX.source.rangev=<V>``                                  source range (up to 200 V)    C 7-247
``smuX.source.limiti=<A>``, ``smuX.source.limitv=<V>``      current limit, voltage        B 7-223,
                                                            limit (reset: 100 mA, 20 V)   7-224
``smuX.source.leveli=0``                                    a non-zero current is -221    B 7-223
``smuX.source.levelv=<V>``                                  voltage level (-222 beyond    B 7-223
                                                            1.05 x range)
``smuX.measure.autorangei|autorangev=smuX.AUTORANGE_ON``    accepted (also                C 7-214
                                                            ``AUTORANGE_OFF``)
``smuX.source.output=1|0``                                  output relay (also            B 7-228
                                                            ``smuX.OUTPUT_ON|OFF``)
``print(smuX.source.levelv)``                               the level, as a number        F 9-170
``print(smuX.source.output)``                               ``1.00000e+00`` or            B 7-228,
                                                            ``0.00000e+00``               F 9-170
``iX,vX=smuX.measure.iv()``                                 one reading at the end of     B 7-213
                                                            its aperture, into two
                                                            variables (any names)
``cX=smuX.source.compliance and 1 or 0``                    1 when the last reading was   B 7-219
                                                            in compliance, else 0         x-ref,
                                                                                          F 9-240
``print(v1,i1,...)``                                        variables, tab-separated:     F 9-170
                                                            numbers, ``nil`` if never
                                                            set
``smuX.nvbuffer1|nvbuffer2.clear()``                        clear a reading buffer        F 9-21
``smuX.trigger.source.listv({<V>,<V>,...})``                the list of a list sweep      B 7-249
``smuX.trigger.source.action=smuX.ENABLE|DISABLE``          source the list (or hold the  B 7-246
                                                            level)                        x-ref
``smuX.trigger.measure.iv(smuX.nvbuffer1,smuX.nvbuffer2)``  current into the first        B 7-244
                                                            buffer, voltage into the      x-ref,
                                                            second (either order)         F 9-268
``smuX.trigger.measure.action=smuX.ENABLE|DISABLE``         read per point (or not)       B 7-241
``smuX.trigger.count=<n>``                                  points of the sweep (the      B 7-236
                                                            list wraps)
``trigger.timer[1].delay=<s>``                              wait between source and       not found
                                                            read, per point               (see below)
``smuX.trigger.initiate()``, ``waitcomplete()``             run the sweep (see below)     F 9-263;
                                                                                          F 9-415
                                                                                          x-ref
``printbuffer(1,<n>,smuX.nvbuffer2.readings,...)``          points ``1..n`` of the        B 7-154,
                                                            buffers, per point one value  C 7-166
                                                            of each buffer, ``", "``-
                                                            joined
``smuX.reset()``                                            the channel's power-on state  C 7-232
                                                                                          x-ref
==========================================================  ============================  ============

and the statements of every TSP instrument (``*IDN?``, ``errorqueue``, ``format.asciiprecision``,
``reset()``; :mod:`hardware.virtual._tsp`).

Numbers. Every number printed (readings, levels, flags, buffers, error codes) has
``format.asciiprecision`` significant digits, 6 after ``reset()`` (``%.5e``; 2600BS-901-01 Rev. C,
section 7, p. 7-101): a reading carries a relative resolution of 5e-6 at worst, as the bench's
readings do; the drivers parse the text with ``float``.

Sweeps. ``smuX.trigger.initiate()`` completes at once on the bench clock: per point it sources
the next list value, waits the delay of timer 1, reads (one aperture) into the buffers (emptied
when the sweep starts, as a buffer without append mode is; F 9-268), and afterwards the channel
returns to its programmed level. On the instrument the timer's delay separates source and
measurement only when the trigger model routes the source-complete event through timer 1 to
``smuX.trigger.measure.stimulus`` (default 0, no wait; F 9-267, 9-277); the virtual instrument
models that routing (timer count 1; ``trigger.timer[N].count``, ``.stimulus`` and
``smuX.trigger.measure.stimulus`` are accepted): without it a point is measured at once. The timer
entry was not found in the indexed 2600B manual (the 2600A manual, 2600AS-901-01 Rev. B, section
19, p. 19-208, has it, default 10 us; the virtual default is 0).

Defaults. ``reset()`` and ``smuX.reset()`` give a voltage source at 0 V, output off, current limit
100 mA and voltage limit 20 V (the 2636B's; B 7-223), source range 20 V (the instrument resets to
the 200 mV range with source autorange on, which follows the level; C 7-247, C 7-234).

Compliance. The flag is the state at the last reading; the instrument reports the state of its
source when the attribute is read (F 9-240).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hardware.virtual._instrument import InstrumentFault, SmuChannelState
from hardware.virtual._tsp import NUMBER, TspInstrument, number

__all__ = ["Virtual2600"]

_CHANNELS = ("a", "b")
_VAR = r"[A-Za-z_]\w*"
#: Largest source range (V) and current limit (A) of a 2636B.
_MAX_RANGE_V = 200.0
_MAX_LIMIT_A = 1.5
#: Current limit (A) and voltage limit (V) of a 2636B channel after a reset.
_RESET_LIMIT_A = 100e-3
_RESET_LIMIT_V = 20.0
#: Timers of the trigger model.
_N_TIMERS = 8


@dataclass
class _Trigger:
    """The trigger model of one channel: list sweep configuration and reading buffers."""

    listv: list[float] = field(default_factory=list)
    source_action: bool = False
    measure_action: bool = False
    ibuf: str = "nvbuffer1"
    vbuf: str = "nvbuffer2"
    count: int = 1
    #: Timer (1-8) the measurement waits for, or 0: no wait (the power-on routing).
    measure_timer: int = 0
    buffers: dict[str, list[float]] = field(
        default_factory=lambda: {"nvbuffer1": [], "nvbuffer2": []})


class Virtual2600(TspInstrument):
    """A Keithley 2600B (2636B) on the virtual bench: channels ``a`` and ``b``."""

    idn = "Keithley Instruments Inc., Model 2636B, VIRTUAL, nanowire-hil"

    def moves_clock(self, line: str) -> bool:
        """``smuX.trigger.initiate()`` runs a sweep, which advances the clock."""
        return "trigger.initiate(" in line

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chans = {c: SmuChannelState(key=f"{self.name}/{c}") for c in _CHANNELS}
        for ch in self.chans.values():
            self._reset_limits(ch)
        self.trig = {c: _Trigger() for c in _CHANNELS}
        #: Delay of each timer of the trigger model (s), and the channel whose source-complete
        #: event starts it (None: nothing starts it).
        self.timer_delay_s = [0.0] * _N_TIMERS
        self.timer_source: list[str | None] = [None] * _N_TIMERS
        #: Global variables of the chunks (readings and compliance flags).
        self.variables: dict[str, float | int] = {}

    def channels(self) -> list[SmuChannelState]:
        return [self.chans[c] for c in _CHANNELS]

    def channel(self, name: str | None) -> SmuChannelState:
        if name not in self.chans:
            raise KeyError(f"a keithley2600 has channels 'a' and 'b', got {name!r}")
        return self.chans[name]

    def reset(self) -> None:
        super().reset()
        for ch in self.chans.values():
            self._reset_limits(ch)
        self.trig = {c: _Trigger() for c in _CHANNELS}
        self.timer_delay_s = [0.0] * _N_TIMERS
        self.timer_source = [None] * _N_TIMERS

    @staticmethod
    def _reset_limits(ch: SmuChannelState) -> None:
        """The 2636B's limits after a reset (the shared power-on state has the 2450's)."""
        ch.ilim_A, ch.vlim_V = _RESET_LIMIT_A, _RESET_LIMIT_V

    # ------------------------------------------------------------------ statements
    def _grammar(self) -> list[tuple[str, Callable[[re.Match[str]], str | None]]]:
        smu = r"smu(?P<c>[ab])"
        return [
            *super()._grammar(),
            (smu + r"\.source\.func\s*=\s*smu[ab]\.OUTPUT_(?P<f>DCVOLTS|DCAMPS)", self._func),
            (smu + rf"\.source\.(?P<what>rangev|limiti|limitv|leveli|levelv)\s*=\s*(?P<x>{NUMBER})",
             self._set),
            (smu + r"\.measure\.autorange[iv]\s*=\s*smu[ab]\.AUTORANGE_(?:ON|OFF)", lambda m: None),
            (smu + r"\.source\.output\s*=\s*(?P<x>[01]|smu[ab]\.OUTPUT_ON|smu[ab]\.OUTPUT_OFF)",
             self._output),
            (r"print\(\s*" + smu + r"\.source\.levelv\s*\)", lambda m: self.text(self._ch(m).level_V)),
            (r"print\(\s*" + smu + r"\.source\.output\s*\)", lambda m: self.text(self._ch(m).output_on)),
            (rf"(?P<i>{_VAR})\s*,\s*(?P<v>{_VAR})\s*=\s*" + smu + r"\.measure\.iv\(\s*\)", self._iv),
            (rf"(?P<var>{_VAR})\s*=\s*" + smu + r"\.source\.compliance\s+and\s+1\s+or\s+0", self._compliance),
            (rf"print\(\s*(?P<args>{_VAR}(?:\s*,\s*{_VAR})*)\s*\)", self._print),
            (smu + r"\.(?P<b>nvbuffer[12])\.clear\(\s*\)", lambda m: self._trig(m).buffers[m["b"]].clear()),
            (smu + rf"\.trigger\.source\.listv\(\s*\{{(?P<vals>\s*{NUMBER}(?:\s*,\s*{NUMBER})*\s*)\}}\s*\)",
             self._listv),
            (smu + r"\.trigger\.(?P<what>source|measure)\.action\s*=\s*smu[ab]\.(?P<a>ENABLE|DISABLE)",
             self._action),
            (smu + r"\.trigger\.measure\.iv\(\s*smu(?P=c)\.(?P<ib>nvbuffer[12])\s*,\s*"
                   r"smu(?P=c)\.(?P<vb>nvbuffer[12])\s*\)", self._measure_iv),
            (smu + r"\.trigger\.count\s*=\s*(?P<n>\d+)", self._count),
            (rf"trigger\.timer\[(?P<t>[1-8])\]\.delay\s*=\s*(?P<x>{NUMBER})", self._timer),
            (r"trigger\.timer\[(?P<t>[1-8])\]\.count\s*=\s*(?P<n>\d+)", self._timer_count),
            (r"trigger\.timer\[(?P<t>[1-8])\]\.stimulus\s*=\s*" + smu
             + r"\.trigger\.SOURCE_COMPLETE_EVENT_ID", self._timer_stimulus),
            (smu + r"\.trigger\.measure\.stimulus\s*=\s*(?:0|trigger\.timer\[(?P<t>[1-8])\]\.EVENT_ID)",
             self._measure_stimulus),
            (smu + r"\.trigger\.initiate\(\s*\)", self._sweep),
            (r"waitcomplete\(\s*\)", lambda m: None),
            (r"printbuffer\(\s*(?P<lo>\d+)\s*,\s*(?P<hi>\d+)\s*,\s*(?P<bufs>smu[ab]\.nvbuffer[12]\.readings"
             r"(?:\s*,\s*smu[ab]\.nvbuffer[12]\.readings)*)\s*\)", self._printbuffer),
            (smu + r"\.reset\(\s*\)", self._reset_channel),
        ]

    def _ch(self, m: re.Match[str]) -> SmuChannelState:
        return self.chans[m["c"]]

    def _trig(self, m: re.Match[str]) -> _Trigger:
        return self.trig[m["c"]]

    def _func(self, m: re.Match[str]) -> None:
        self._ch(m).function = "VOLT" if m["f"] == "DCVOLTS" else "CURR"

    def _set(self, m: re.Match[str]) -> None:
        ch, what, x = self._ch(m), m["what"], number(m["x"])
        if what == "rangev":
            if not 0.0 < x <= _MAX_RANGE_V:
                raise InstrumentFault(-222, f"Data out of range: source range {x!r} V (up to {_MAX_RANGE_V})")
            ch.range_V = x
        elif what == "limiti":
            if not 1e-9 <= x <= _MAX_LIMIT_A:
                raise InstrumentFault(-222, f"Data out of range: current limit {x!r} A")
            ch.ilim_A = x
        elif what == "limitv":
            if not 0.0 < x <= 1.05 * _MAX_RANGE_V:
                raise InstrumentFault(-222, f"Data out of range: voltage limit {x!r} V")
            ch.vlim_V = x
        elif what == "leveli":
            if x != 0.0:
                raise InstrumentFault(-221, "Settings conflict: the virtual bench sources 0 A only")
        else:
            self._check_level(ch, x)
            ch.level_V = x

    @staticmethod
    def _check_level(ch: SmuChannelState, v: float) -> None:
        if abs(v) > 1.05 * ch.range_V:
            raise InstrumentFault(-222, f"Data out of range: {v!r} V on the {ch.range_V!r} V range")

    def _output(self, m: re.Match[str]) -> None:
        self._ch(m).output_on = m["x"] == "1" or m["x"].endswith("OUTPUT_ON")

    # ------------------------------------------------------------------ readings
    def _iv(self, m: re.Match[str]) -> None:
        v, i = self.measure(self._ch(m))
        self.variables[m["i"]], self.variables[m["v"]] = i, v

    def _compliance(self, m: re.Match[str]) -> None:
        self.variables[m["var"]] = 1 if self._ch(m).tripped else 0

    def _print(self, m: re.Match[str]) -> str:
        out = []
        for name in re.split(r"\s*,\s*", m["args"].strip()):
            x = self.variables.get(name)
            out.append("nil" if x is None else self.text(x))
        return "\t".join(out)

    # ------------------------------------------------------------------ list sweep
    def _listv(self, m: re.Match[str]) -> None:
        ch = self._ch(m)
        levels = [number(x) for x in re.findall(NUMBER, m["vals"])]
        for v in levels:
            self._check_level(ch, v)
        self._trig(m).listv = levels

    def _action(self, m: re.Match[str]) -> None:
        setattr(self._trig(m), f"{m['what']}_action", m["a"] == "ENABLE")

    def _measure_iv(self, m: re.Match[str]) -> None:
        if m["ib"] == m["vb"]:
            raise InstrumentFault(-221, "Settings conflict: current and voltage need two buffers")
        t = self._trig(m)
        t.ibuf, t.vbuf = m["ib"], m["vb"]

    def _count(self, m: re.Match[str]) -> None:
        n = int(m["n"])
        if n < 1:
            raise InstrumentFault(-222, "Data out of range: trigger count 0 (an endless sweep)")
        self._trig(m).count = n

    def _timer(self, m: re.Match[str]) -> None:
        delay = number(m["x"])
        if delay < 0.0:
            raise InstrumentFault(-222, f"Data out of range: timer delay {delay!r} s")
        self.timer_delay_s[int(m["t"]) - 1] = delay

    def _timer_count(self, m: re.Match[str]) -> None:
        if int(m["n"]) != 1:
            raise InstrumentFault(-222, "Data out of range: the virtual 2600B models timers of count 1")

    def _timer_stimulus(self, m: re.Match[str]) -> None:
        self.timer_source[int(m["t"]) - 1] = m["c"]

    def _measure_stimulus(self, m: re.Match[str]) -> None:
        self._trig(m).measure_timer = int(m["t"]) if m["t"] else 0

    def _measure_delay_s(self, c: str) -> float:
        """What a sweep point of channel ``c`` waits between its source and its measurement: the
        delay of the timer its measurement waits for, when that timer starts on its source."""
        k = self.trig[c].measure_timer
        if k == 0 or self.timer_source[k - 1] != c:
            return 0.0
        return self.timer_delay_s[k - 1]

    def _sweep(self, m: re.Match[str]) -> None:
        ch, t = self._ch(m), self._trig(m)
        if t.source_action and not t.listv:
            raise InstrumentFault(-221, "Settings conflict: no list to sweep (trigger.source.listv)")
        if not ch.output_on:
            raise InstrumentFault(-221, "Settings conflict: output off")
        idle, delay = ch.level_V, self._measure_delay_s(m["c"])
        if t.measure_action:  # a buffer without append mode is emptied when the measurements start
            t.buffers[t.ibuf].clear()
            t.buffers[t.vbuf].clear()
        for k in range(t.count):
            if t.source_action:
                self.bench.advance()
                ch.level_V = t.listv[k % len(t.listv)]
                self.bench.levels_changed()
            self.bench.clock.advance(delay)
            if t.measure_action:
                v, i = self.measure(ch)
                t.buffers[t.ibuf].append(i)
                t.buffers[t.vbuf].append(v)
        self.bench.advance()
        ch.level_V = idle  # the end of the sweep: back to the programmed (idle) level
        self.bench.levels_changed()

    def _printbuffer(self, m: re.Match[str]) -> str:
        lo, hi = int(m["lo"]), int(m["hi"])
        bufs = [self.trig[c].buffers[b] for c, b in re.findall(r"smu([ab])\.(nvbuffer[12])", m["bufs"])]
        n = min(len(b) for b in bufs)
        if not 1 <= lo <= hi <= n:
            raise InstrumentFault(-222, f"Data out of range: points {lo}..{hi} of {n}")
        return ", ".join(self.text(b[k]) for k in range(lo - 1, hi) for b in bufs)

    def _reset_channel(self, m: re.Match[str]) -> None:
        self._ch(m).reset()
        self._reset_limits(self._ch(m))
        self.trig[m["c"]] = _Trigger()
