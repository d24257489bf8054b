"""Clocks of a bench: the host's wall clock, or a simulated clock shared with virtual instruments.

:class:`~hardware.LabDevice` paces its steps with a clock: ``now()`` in seconds and ``sleep(s)``.
On a real bench that is :class:`WallClock`. On the virtual bench (:mod:`hardware.virtual`) the host
and every virtual instrument share one :class:`SimulatedClock`: the host's waits, each instrument's
command latency and each reading's aperture advance it, and the simulated physics advances by
exactly the time that passed on it. A rehearsal is then deterministic and runs as fast as the
physics can be computed, while its clock reads what the run would take on the bench.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from hardware._checks import check_real

__all__ = ["Clock", "SimulatedClock", "WallClock"]


class Clock(Protocol):
    """What a bench needs of a clock."""

    def now(self) -> float:
        """Seconds since an arbitrary origin (monotonic)."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` (>= 0) pass."""


class WallClock:
    """The host's monotonic clock (:func:`time.perf_counter`, :func:`time.sleep`)."""

    def now(self) -> float:
        """Seconds of :func:`time.perf_counter`."""
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` (nothing for ``seconds <= 0``)."""
        if seconds > 0:
            time.sleep(seconds)


class SimulatedClock:
    """A clock that advances only when told to; thread-safe.

    Parameters
    ----------
    start_s : float
        The time it starts at, in seconds (>= 0).
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._t = check_real("start_s", start_s, low=0.0)
        self._lock = threading.Lock()
        #: Called by :meth:`sleep` before the time moves: the virtual bench waits there until its
        #: instruments have executed everything sent to them, so no command lands after the wait.
        self.before_sleep: Callable[[], None] | None = None

    def now(self) -> float:
        """The simulated time in seconds."""
        with self._lock:
            return self._t

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` at once (nothing for ``seconds <= 0``)."""
        if self.before_sleep is not None:
            self.before_sleep()
        self.advance(max(0.0, float(seconds)))

    def advance(self, seconds: float) -> float:
        """Advance by ``seconds`` (>= 0) and return the new time."""
        s = check_real("seconds", seconds, low=0.0)
        with self._lock:
            self._t += s
            return self._t
