"""What the virtual TSP instruments (2600B, 707B) share: the chunk scanner, numbers, the error queue.

A TSP instrument runs each received message as one Lua chunk. The virtual instruments do not run
Lua: a small scanner reads the chunk as a sequence of statements separated by whitespace (or
``;``), each of which must match one of the forms the instrument knows (:meth:`TspInstrument._grammar`),
and runs them in order. As on the instrument, a chunk is compiled before it runs: a statement the
scanner does not know is a syntax error (-285) and nothing of its chunk runs. A statement that
fails while it runs (:class:`~hardware.virtual._instrument.InstrumentFault`) queues its error and
ends the chunk there, as a Lua runtime error does.

Every ``print(...)`` gives one line of the reply; a chunk that printed nothing returns no reply. A
chunk that failed before a ``print`` it holds ran replies with one empty line, so a client that
waits for that line reads the failed query at once (the real instrument sends nothing and the
client times out).

Numbers. ``print()`` writes its arguments separated by a tab, and ``printbuffer()`` writes its
values separated by a comma and a space; both write a number with ``format.asciiprecision``
significant digits, one before the decimal point (``%.<p-1>e``, ``1.00000e+00`` at 6) [#prec]_.
The default precision is the instrument's (:attr:`TspInstrument.default_ascii_precision`: 6 on
the 2600B, 10 on the 707B) and ``reset()`` restores it. Rounding to ``p`` significant digits
moves a number by at most half a unit in its last digit, so a printed reading carries a relative
resolution of ``5 * 10**-p`` at worst: 5e-6 on the 2600B at its default. The drivers parse the
printed text with ``float``, which reads back exactly the rounded value; a client that needs more
digits sets ``format.asciiprecision`` (up to 16).

.. [#prec] 2600B: ``format.asciiprecision``, 2600BS-901-01 Rev. C, section 7, p. 7-101 (default
   6, 1 to 16 digits, used by ``print()``, ``printbuffer()`` and ``printnumber()``); ``print()``,
   2600BS-901-01 Rev. F, section 9, p. 9-170 (arguments tab-separated, numbers at that
   precision); ``printbuffer()``, 2600BS-901-01 Rev. B, section 7, p. 7-154 (one response, values
   comma-and-space separated). 707B: ``format.asciiprecision``, 707B-901-01 Rev. A, section 7,
   p. 7-93 (default 10).

Statements of every TSP instrument here. The manual column gives the entry in the 2600B reference
manual, 2600BS-901-01, and the 707B one, 707B-901-01, as revision, section and page; "x-ref" marks
a page read from another entry's cross references, "not found" an entry the indexed manual did not
show.

=================================  ==========================================  ===========================
statement                          what it does                                manual
=================================  ==========================================  ===========================
``*IDN?``                          identification                              2600B: Rev. F, sect. 11,
                                                                               p. 11-3; 707B: not found
``print(errorqueue.count)``        queued errors as a number (``%.5e`` on the  2600B: Rev. B, sect. 7,
                                   2600B, ``%.9e`` on the 707B)                p. 7-83; 707B: Rev. A,
                                                                               sect. 7, p. 7-86
``print(errorqueue.next())``       the oldest error, removed: its code, a      2600B: Rev. B, sect. 7,
                                   tab, its text in double quotes; an empty    p. 7-83; 707B: Rev. A,
                                   queue gives code 0, ``Queue is Empty``      sect. 7, p. 7-86
``errorqueue.clear()``             empty the queue                             2600B: Rev. B, sect. 7,
                                                                               p. 7-82 x-ref; 707B: not
                                                                               found
``format.asciiprecision=<n>``      digits of printed numbers (1 to 16; else    see [#prec]_
                                   -222 and the chunk ends)
``reset()``                        the power-on state (errors kept), default   2600B: Rev. C, sect. 7,
                                   precision                                   p. 7-173 x-ref; 707B: not
                                                                               found
=================================  ==========================================  ===========================

The instrument's ``errorqueue.next()`` returns four values (code, message, severity, node), which
``print()`` writes tab-separated with the message unquoted (2600B: Rev. B, sect. 7, p. 7-83); the
virtual reply, code and quoted message, is the form the sessions' error reader takes apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hardware.virtual._instrument import InstrumentFault, VirtualInstrument

__all__ = ["MAX_ASCII_PRECISION", "NUMBER", "Statement", "TspInstrument", "ascii_text", "number"]

#: A Lua number literal as the drivers write it (``repr`` of a float; no leading ``+``).
NUMBER = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
#: The most significant digits ``format.asciiprecision`` accepts.
MAX_ASCII_PRECISION = 16
#: What may follow a statement: whitespace, ``;`` or the end of the chunk.
_END = r"(?=[\s;]|$)"
_GAP = re.compile(r"[\s;]*")
#: Characters of the chunk named in a syntax error.
_NEAR_CHARS = 20


def number(text: str) -> float:
    """A number literal matched by :data:`NUMBER` as a float (a non-finite one is -224)."""
    x = float(text)
    if not math.isfinite(x):
        raise InstrumentFault(-224, f"Illegal parameter value: {text[:30]!r}")
    return x


def ascii_text(x: float, precision: int) -> str:
    """A number as TSP prints it: ``precision`` significant digits, ``%.<precision-1>e``.

    ``ascii_text(1, 6)`` is ``1.00000e+00``; ``ascii_text(0.1234567, 6)`` is ``1.23457e-01``.
    Negative zero prints as ``0.00000e+00``.
    """
    return f"{float(x) + 0.0:.{int(precision) - 1}e}"


@dataclass(frozen=True)
class Statement:
    """One statement form: its pattern, what runs it, whether it prints.

    Attributes
    ----------
    pattern : re.Pattern
        The whole statement (anchored at the scan position, followed by whitespace, ``;`` or the end).
    run : callable
        Runs a match; returns the printed line, or None.
    prints : bool
        Whether the statement prints a line.
    """

    pattern: re.Pattern[str]
    run: Callable[[re.Match[str]], str | None]
    prints: bool


class TspInstrument(VirtualInstrument):
    """Base of the virtual TSP instruments: scan a chunk, run its statements, collect its lines.

    Subclasses extend :meth:`_grammar` with their own statements (``(regex, handler)`` pairs; a
    regex that starts with ``print(`` prints a line) and set :attr:`default_ascii_precision`.
    """

    #: ``format.asciiprecision`` after ``reset()`` (significant digits of a printed number).
    default_ascii_precision = 6

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Significant digits of the numbers :meth:`text` writes (``format.asciiprecision``).
        self.ascii_precision = self.default_ascii_precision
        self._statements = [
            Statement(re.compile(rx + _END), run, rx.startswith(("print", r"\*IDN")))
            for rx, run in self._grammar()
        ]

    def reset(self) -> None:
        """``reset()``: every channel to its power-on state, the default precision (errors kept)."""
        super().reset()
        self.ascii_precision = self.default_ascii_precision

    def text(self, x: float) -> str:
        """A number as this instrument prints it now (``format.asciiprecision`` digits)."""
        return ascii_text(x, self.ascii_precision)

    def _grammar(self) -> list[tuple[str, Callable[[re.Match[str]], str | None]]]:
        """``(regex, handler)`` of every statement form; the first that matches is taken."""
        return [
            (r"\*IDN\?", lambda m: self.idn),
            (r"print\(\s*errorqueue\.count\s*\)", lambda m: self.text(len(self.errors))),
            (r"print\(\s*errorqueue\.next\(\s*\)\s*\)", self._next_error),
            (r"errorqueue\.clear\(\s*\)", lambda m: self.errors.clear()),
            (r"format\.asciiprecision\s*=\s*(?P<n>\d+)", self._set_precision),
            (r"reset\(\s*\)", lambda m: self.reset()),
        ]

    def _next_error(self, m: re.Match[str]) -> str:
        code, text = self.errors.popleft() if self.errors else (0, "Queue is Empty")
        return f'{self.text(code)}\t"{text}"'

    def _set_precision(self, m: re.Match[str]) -> None:
        n = int(m["n"])
        if not 1 <= n <= MAX_ASCII_PRECISION:
            raise InstrumentFault(-222, f"Data out of range: format.asciiprecision {n} (1 to "
                                        f"{MAX_ASCII_PRECISION})")
        self.ascii_precision = n

    # ------------------------------------------------------------------ chunk
    def _scan(self, chunk: str) -> list[tuple[Statement, re.Match[str]]] | None:
        """The statements of ``chunk`` in order; None (and -285 queued) at the first unknown one."""
        found = []
        pos = _GAP.match(chunk).end()
        while pos < len(chunk):
            for st in self._statements:
                m = st.pattern.match(chunk, pos)
                if m is not None:
                    found.append((st, m))
                    pos = _GAP.match(chunk, m.end()).end()
                    break
            else:
                near = chunk[pos:pos + _NEAR_CHARS]
                self.push_error(-285, f"TSP Syntax error at line 1: unexpected symbol near '{near}'")
                return None
        return found

    def _execute(self, line: str) -> str | None:
        statements = self._scan(line)
        if statements is None:
            return "" if self.is_query(line) else None
        lines: list[str] = []
        for k, (st, m) in enumerate(statements):
            try:
                out = st.run(m)
            except InstrumentFault as f:
                self.push_error(f.code, f.text)
                if any(s.prints for s, _ in statements[k:]):
                    lines.append("")
                break
            if st.prints:
                lines.append("" if out is None else out)
        return "\n".join(lines) if lines else None
