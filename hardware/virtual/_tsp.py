"""What the virtual TSP instruments (2600B, 707B) share: the chunk scanner and the error queue.

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

Statements of every TSP instrument here:

=============================  ================================================================
``*IDN?``                      identification
``print(errorqueue.count)``    queued errors, ``1.00000e+00``
``print(errorqueue.next())``   the oldest error, removed: ``<code>\\t"<text>"`` (code as ``%.5e``)
``errorqueue.clear()``         empty the queue
``reset()``                    the power-on state (errors kept)
=============================  ================================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hardware.virtual._instrument import InstrumentFault, VirtualInstrument

__all__ = ["NUMBER", "Statement", "TspInstrument", "count_text", "exact_text", "number"]

#: A Lua number literal as the drivers write it (``repr`` of a float; no leading ``+``).
NUMBER = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
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


def count_text(x: float) -> str:
    """A number as TSP prints it by default (six significant digits): ``1.00000e+00``."""
    return f"{float(x):.5e}"


def exact_text(x: float) -> str:
    """A float as exact text (``repr``; ``0.0``, never ``-0.0``)."""
    return repr(float(x) + 0.0)


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
    regex that starts with ``print(`` prints a line).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._statements = [
            Statement(re.compile(rx + _END), run, rx.startswith(("print", r"\*IDN")))
            for rx, run in self._grammar()
        ]

    def _grammar(self) -> list[tuple[str, Callable[[re.Match[str]], str | None]]]:
        """``(regex, handler)`` of every statement form; the first that matches is taken."""
        return [
            (r"\*IDN\?", lambda m: self.idn),
            (r"print\(\s*errorqueue\.count\s*\)", lambda m: count_text(len(self.errors))),
            (r"print\(\s*errorqueue\.next\(\s*\)\s*\)", self._next_error),
            (r"errorqueue\.clear\(\s*\)", lambda m: self.errors.clear()),
            (r"reset\(\s*\)", lambda m: self.reset()),
        ]

    def _next_error(self, m: re.Match[str]) -> str:
        code, text = self.next_error()
        return f'{count_text(code)}\t"{text}"'

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
