"""A virtual Keithley 707B switching matrix (TSP): what :class:`~hardware.drivers.Keithley707B` sends.

Its crosspoints are the bench's :attr:`~hardware.virtual.VirtualBench.closed`: a channel whose route
is not closed reaches no electrode. Each message is one TSP chunk (:mod:`hardware.virtual._tsp`).
``<list>`` is ``allslots`` or comma-separated crosspoints ``<slot 1-6><row A-H><column 01-12>``
(``1A01``); any other name is -224 and ends the chunk.

=====================================  ===============================================================
``channel.close("<list>")``            close the crosspoints (the others stay as they are)
``channel.open("<list>")``             open them (``allslots``: every one)
``print(channel.getclose("<list>"))``  the closed ones among them, sorted and ``;``-joined, or ``nil``
``channel.reset("<list>")``            their power-on state: open
=====================================  ===============================================================

and the statements of every TSP instrument (``*IDN?``, ``errorqueue``, ``reset()``, which opens
every crosspoint; :mod:`hardware.virtual._tsp`). Route changes take effect in the physics when
the message has run.
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

    def reset(self) -> None:
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
