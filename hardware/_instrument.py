"""Helpers shared by every backend that talks to an instrument: the error queue and the ramp to 0 V.

Both are written once here and used by the instrument session (:mod:`hardware._session`) and the
bench (:mod:`hardware.backends.lab`); they take callables, so they know nothing of the transport or the
command language (SCPI, TSP).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from hardware.errors import InstrumentError

__all__ = ["MAX_QUEUED_ERRORS", "drain_errors", "raise_queued_errors", "ramp_to_zero"]

log = logging.getLogger(__name__)

#: Most errors read from one queue in one drain (an instrument queue holds 32 to 64 entries).
MAX_QUEUED_ERRORS = 64


def drain_errors(next_error: Callable[[], tuple[int, str]], *,
                 max_errors: int = MAX_QUEUED_ERRORS) -> list[tuple[int, str]]:
    """Read an instrument's error queue until it reports no error.

    Parameters
    ----------
    next_error : callable
        Returns the next queued error as ``(code, text)``; code 0 means the queue is empty.
    max_errors : int
        Stop after this many errors (a queue that never empties does not hang the caller).

    Returns
    -------
    list of (int, str)
        The queued errors, oldest first (empty when there were none).
    """
    errors: list[tuple[int, str]] = []
    for _ in range(max_errors):
        code, text = next_error()
        if code == 0:
            break
        errors.append((int(code), str(text)))
    return errors


def raise_queued_errors(source: str, errors: list[tuple[int, str]], context: str = "") -> None:
    """Raise :class:`~hardware.errors.InstrumentError` for the first queued error, if any.

    Parameters
    ----------
    source : str
        Instrument named in the message.
    errors : list of (int, str)
        What :func:`drain_errors` returned.
    context : str
        The command after which the errors were read (named in the message when given).
    """
    if not errors:
        return
    code, text = errors[0]
    after = f" after {context[:40]!r}" if context else ""
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    raise InstrumentError(f"{source}: instrument error {code}{after}: {text}{more}")


def ramp_to_zero(levels_V: np.ndarray, set_levels: Callable[[np.ndarray], None], *, steps: int,
                 pause_s: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> int:
    """Ramp source levels linearly from ``levels_V`` to 0 V in ``steps`` equal steps.

    Parameters
    ----------
    levels_V : ndarray, shape (n_sources,)
        Present source levels in volts.
    set_levels : callable
        Sets every source at once from an array of shape ``(n_sources,)`` in volts.
    steps : int
        Number of steps (>= 1); the last one sets exactly 0.0 V (never -0.0).
    pause_s : float
        Pause after each step in seconds (>= 0).
    sleep : callable
        How a pause passes (:func:`time.sleep`; a simulated clock's ``sleep`` on the virtual bench).

    Returns
    -------
    int
        Number of steps sent: 0 when every level already is 0 V (nothing is sent then).
    """
    levels = np.asarray(levels_V, dtype=float)
    if not np.any(levels != 0.0):
        return 0
    fractions = np.linspace(1.0, 0.0, int(steps) + 1)[1:]
    for frac in fractions:
        set_levels(levels * frac + 0.0)  # + 0.0: the last step sends 0.0, not -0.0
        if pause_s:
            sleep(pause_s)
    return int(fractions.size)
