"""A virtual Keithley 707B switching matrix (TSP): what :class:`~hardware.drivers.Keithley707B` sends.

Its crosspoints are the bench's :attr:`~hardware.virtual.VirtualBench.closed`: a channel whose route
is not closed reaches no electrode. Each message is one TSP chunk (:mod:`hardware.virtual._tsp`).
``<list>`` is ``allslots`` or comma-separated crosspoints ``<slot 1-6><row A-H><column 01-12>``
(``1A01``); any other name is -224 and ends the chunk. The manual column gives the entry in the
Models 707B and 708B reference manual, 707B-901-01, as revision and page (A: Rev. A, August 2010;
B: Rev. B, January 2015; page n-m is in section n).

=====================================  =========================================================  =========
statement                              what it does                                               manual
=====================================  =========================================================  =========
``channel.close("<list>")``            close the crosspoints (the others stay as they are); a     B 7-17
                                       bad name closes none of the list
``channel.open("<list>")``             open them (``allslots``: every one)                        not found
``print(channel.getclose("<list>"))``  the closed ones among them, sorted and ``;``-joined, or    A 7-27
                                       ``nil``
``channel.reset("<list>")``            their power-on state: open                                 not found
=====================================  =========================================================  =========

and the statements of every TSP instrument (``*IDN?``, ``errorqueue``, ``format.asciiprecision``,
``reset()``, which opens every crosspoint; :mod:`hardware.virtual._tsp`). Route changes take effect
in the physics when the message has run. Numbers (the error queue's) print with 10 significant
digits after ``reset()``, the 707B's default ``format.asciiprecision`` (A 7-93): ``0.000000000e+00``.

Not modelled: channel ranges (``"1A01:1A05"``), ``slotX``, channel patterns and a semicolon as the
list separator, all of which the instrument accepts in a channel list (A 2-89).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hardware.virtual._instrument import InstrumentFault
from hardware.virtual._tsp import TspInstrument

__all__ = ["Virtual707B"]

_CROSSPOINT = re.compile(r"[1-6][A-H](?:0[1-9]|1[0-2])")
_LIST = r'\(\s*"(?P<list>[^"]*)"\s*\)'


class Virtual707B(TspInstrument):
    """A Keithley 707B on the virtual bench (no source-measure channels)."""

    idn = "Keithley Instruments Inc., Model 707B, VIRTUAL, nanowire-hil"
    #: ``format.asciiprecision`` after ``reset()`` (707B-901-01 Rev. A, section 7, p. 7-93).
    default_ascii_precision = 10

    def reset(self) -> None:
        """``reset()``: every crosspoint open, the default precision (errors kept)."""
        super().reset()
        self.bench.closed.clear()

    def _grammar(self) -> list[tuple[str, Callable[[re.Match[str]], str | None]]]:
        return [
            *super()._grammar(),
            (r"channel\.close" + _LIST, self._close),
            (r"channel\.(?:open|reset)" + _LIST, self._open),
            (r"print\(\s*channel\.getclose" + _LIST + r"\s*\)", self._getclose),
        ]

    @staticmethod
    def _crosspoints(m: re.Match[str]) -> set[str] | None:
        """The crosspoints of the list (None for ``allslots``)."""
        text = m["list"].strip()
        if text.lower() == "allslots":
            return None
        names = [s.strip().upper() for s in text.split(",")]
        bad = [s for s in names if not _CROSSPOINT.fullmatch(s)]
        if bad:
            raise InstrumentFault(-224, f"Illegal parameter value: channel {bad[0][:20]!r}")
        return set(names)

    def _close(self, m: re.Match[str]) -> None:
        names = self._crosspoints(m)
        if names is None:
            raise InstrumentFault(-221, "Settings conflict: closing allslots would short every row")
        self.bench.closed |= names

    def _open(self, m: re.Match[str]) -> None:
        names = self._crosspoints(m)
        if names is None:
            self.bench.closed.clear()
        else:
            self.bench.closed -= names

    def _getclose(self, m: re.Match[str]) -> str:
        names = self._crosspoints(m)
        closed = sorted(self.bench.closed if names is None else self.bench.closed & names)
        return ";".join(closed) if closed else "nil"
