"""What every virtual instrument shares: the error queue, the clock, the channels it drives.

A virtual instrument is the state machine of one bench instrument in its own dialect. It is served
over loopback TCP by :class:`~hardware.scpi._tcp.InstrumentServer` and reached by the unmodified
drivers of :mod:`hardware.drivers` through pyvisa-py. Every query it receives costs ``latency_s``
on the bench's simulated clock before it is executed; every reading costs its aperture (``nplc``
power-line cycles); a message without a reply takes effect at the time it was sent. The bench's
lock serialises the instruments of one bench, because they share one simulated network.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hardware._checks import check_real

if TYPE_CHECKING:
    from hardware.virtual.bench import VirtualBench

__all__ = ["InstrumentFault", "SmuChannelState", "VirtualInstrument"]

log = logging.getLogger("hardware.virtual")

#: Errors an instrument queues before it reports an overflow (the 2450 and the 2600B keep about 32).
ERROR_QUEUE_SIZE = 32


class InstrumentFault(Exception):
    """A command the instrument refuses: queued as ``(code, text)``, the message goes on."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = int(code)
        self.text = str(text)


@dataclass
class SmuChannelState:
    """One source-measure channel: what it sources, its limits, its output relay, its wiring.

    Attributes
    ----------
    key : str
        ``"<instrument>"`` or ``"<instrument>/<channel>"``.
    electrode : str or None
        The electrode its terminals are wired to (through ``route`` on a matrix), or None.
    route : tuple of str
        Matrix crosspoints that must be closed for the channel to reach its electrode.
    function : {"VOLT", "CURR"}
        Sourcing voltage (with a current limit) or current (0 A: a voltmeter with a voltage limit).
    level_V : float
        Programmed voltage level (function ``"VOLT"``).
    range_V, ilim_A, vlim_V : float
        Source range, current limit (``VOLT``), voltage limit (``CURR``).
    output_on : bool
        The output relay.
    tripped : bool
        Whether the last reading was in compliance.
    """

    key: str
    electrode: str | None = None
    route: tuple[str, ...] = ()
    function: str = "VOLT"
    level_V: float = 0.0
    range_V: float = 20.0
    ilim_A: float = 1.05e-4
    vlim_V: float = 21.0
    output_on: bool = False
    tripped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: Every ``(electrode, route)`` wired to the channel: one, or several output electrodes that
    #: share it as a voltmeter through the matrix (it reads the one whose route is closed).
    wiring: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def reset(self) -> None:
        """The power-on state: voltage source at 0 V, output off."""
        self.function, self.level_V, self.range_V = "VOLT", 0.0, 20.0
        self.ilim_A, self.vlim_V, self.output_on, self.tripped = 1.05e-4, 21.0, False, False


class VirtualInstrument:
    """Base of the virtual instruments: error queue, timing and dispatch of one message.

    Parameters
    ----------
    bench : VirtualBench
        The bench it belongs to (clock, lock, physics).
    name : str
        Its name in the channel map.
    latency_s : float
        Simulated time every query costs before it executes (>= 0).
    nplc : float
        Aperture of a reading in power-line cycles (> 0).
    line_hz : float
        Power-line frequency (50 or 60).
    source_delay_s : float
        Least time from a level change to the start of the channel's next reading (>= 0).

    Notes
    -----
    A subclass sets :attr:`idn` and implements :meth:`_execute`, which runs one message and returns
    the reply text (without the final newline) or None.
    """

    #: What ``*IDN?`` answers.
    idn = "nanowire-hil,VIRTUAL,0,0"
    #: Largest binary block the server frames (unused by the text dialects; the server needs it).
    max_block_values = 1 << 16

    def __init__(self, bench: VirtualBench, name: str, *, latency_s: float, nplc: float,
                 line_hz: float, source_delay_s: float = 0.0) -> None:
        self.bench = bench
        self.name = str(name)
        self.latency_s = check_real("latency_s", latency_s, low=0.0)
        self.source_delay_s = check_real("source_delay_s", source_delay_s, low=0.0)
        self.nplc = check_real("nplc", nplc, low=0.0, low_open=True, high=25.0)
        self.line_hz = check_real("line_hz", line_hz, low=50.0, high=60.0)
        self.errors: collections.deque[tuple[int, str]] = collections.deque()
        self.n_messages = 0

    # ------------------------------------------------------------------ served interface
    def execute(self, line: str, payload: bytes | None = None, *, client: object | None = None,
                cancelled: Any = None) -> bytes | None:
        """Run one received message on the bench's clock; the reply bytes, or None.

        A query (a message with a reply), or a message that moves the clock (:meth:`moves_clock`),
        first waits until the bench's other instruments have executed what was sent to them; a
        query then costs ``latency_s``. A message without a reply costs no time: the host does not wait for
        it, and it takes effect at the time it was sent (the clock moves only on the host's waits
        and on queries, after everything sent before them has executed).
        """
        query = self.is_query(line)
        if query or self.moves_clock(line):
            self.bench.sync(exclude=self)
        with self.bench.lock:
            self.n_messages += 1
            if query:
                self.bench.clock.advance(self.latency_s)
            self.bench.advance()  # the physics reaches now under the settings in effect until now
            try:
                reply = self._execute(line.strip())
            except Exception as exc:  # a defect of the virtual instrument: report it, keep serving
                log.error("%s: internal error executing %r", self.name, line[:60], exc_info=True)
                self.push_error(-200, f"internal error: {type(exc).__name__}: {exc}")
                reply = "" if query else None
            self.bench.levels_changed()
        return None if reply is None else (reply + "\n").encode("latin-1")

    def reject(self, line: str, code: int, detail: str) -> bytes | None:
        """A message the transport could not frame: queue the error; a query gets an empty line."""
        with self.bench.lock:
            self.push_error(code, detail)
        return b"\n" if self.is_query(line) else None

    def client_gone(self, client: object) -> bool:
        """A connection closed. A bench instrument does not see a lost link: outputs stay as they are."""
        return False

    @staticmethod
    def is_query(line: str) -> bool:
        """Whether ``line`` asks for a reply (a SCPI ``?`` or a TSP ``print``)."""
        return "?" in line or "print" in line

    def moves_clock(self, line: str) -> bool:
        """Whether ``line`` advances the clock without a reply (a buffered sweep); such a message
        first waits, as a query does, for the other instruments to execute what they were sent."""
        return False

    # ------------------------------------------------------------------ for the dialects
    @property
    def aperture_s(self) -> float:
        """Seconds one reading integrates over."""
        return self.nplc / self.line_hz

    def push_error(self, code: int, text: str) -> None:
        """Queue an error (the oldest are kept; an overflow replaces the last with -350)."""
        if len(self.errors) >= ERROR_QUEUE_SIZE:
            self.errors[-1] = (-350, "Queue overflow")
            return
        self.errors.append((int(code), str(text)))
        log.debug("%s: error %d %s", self.name, code, text)

    def next_error(self) -> tuple[int, str]:
        """The oldest queued error, removed; ``(0, "No error")`` when the queue is empty."""
        return self.errors.popleft() if self.errors else (0, "No error")

    def reset(self) -> None:
        """``*RST``: every channel to its power-on state, errors kept."""
        for ch in self.channels():
            ch.reset()

    def channels(self) -> list[SmuChannelState]:
        """The instrument's source-measure channels (none on a switch matrix)."""
        return []

    def channel(self, name: str | None) -> SmuChannelState:
        """The channel ``name`` (``None`` on a single-channel instrument)."""
        raise KeyError(f"{self.name} has no source-measure channel {name!r}")

    def measure(self, ch: SmuChannelState) -> tuple[float, float]:
        """One reading of ``ch`` at the end of an aperture: ``(V, I)`` in volts, amperes.

        The aperture starts now, or ``source_delay_s`` after the channel's level last changed if
        that is later.
        """
        self.bench.levels_changed()  # a level set earlier in this message counts as changed now
        wait = ch.extra.get("changed_s", -np.inf) + self.source_delay_s - self.bench.clock.now()
        if wait > 0:
            self.bench.clock.advance(wait)
        self.bench.clock.advance(self.aperture_s)
        return self.bench.measure(ch)

    def _execute(self, line: str) -> str | None:
        raise NotImplementedError
