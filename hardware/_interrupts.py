"""SIGINT and SIGTERM around instrument I/O: deferred inside a transaction, raised inside an operation.

A transaction is one exchange with an instrument: a write and the read of its reply. Cut in the
middle (Ctrl-C lands inside the read), it leaves the reply stream out of sync: the next query reads
the reply of the previous one, and the safe state that should follow fails on malformed replies.
Two guards, both context managers:

* :func:`defer_signals`: SIGINT and SIGTERM received inside are recorded and delivered when the
  guard exits (after the transaction completed), by calling the handler that was installed before:
  Python's default SIGINT handler raises :class:`KeyboardInterrupt`; SIGTERM with its default
  disposition raises :class:`~hardware.errors.SignalTerminated` (a :class:`SystemExit`, exit status
  143) instead of killing the process, so the safe state still runs; a handler installed by the
  application is called as it would have been; an ignored signal stays ignored.
* :func:`abort_on_signals`: the signals are delivered at once, the same way. Used around waits the
  protocol can abort (closing the connection, then reconnecting) and around whole device
  operations, so that SIGTERM anywhere inside :meth:`~hardware.Device.apply` reaches the safe state.

Guards nest (in any mix): the handlers are installed by the outermost guard and restored when it
exits; a signal is deferred while any active guard defers, and delivered when the last deferring
guard exits (at once when an :func:`abort_on_signals` guard is still active, else after the
previous handlers are back). Python runs signal handlers in the main thread only, so outside the
main thread both guards do nothing. A signal that arrives while a guard installs or restores its
handlers (a few bytecodes) may go to the previous handler directly.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from hardware.errors import SignalTerminated

__all__ = ["SIGNALS", "abort_on_signals", "defer_signals"]

#: The signals the guards handle.
SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

# State of the main thread's guards (only the main thread and its signal handlers touch it).
_levels: list[bool] = []  # one entry per active guard: True = defers
_saved: dict[int, Any] = {}  # signal number -> handler installed before the outermost guard
_pending: list[tuple[int, FrameType | None]] = []


def _deliver(signum: int, frame: FrameType | None, previous: Any) -> None:
    """Do what ``previous`` (the handler before the guards) does with ``signum``."""
    if callable(previous):
        previous(signum, frame)  # signal.default_int_handler raises KeyboardInterrupt
        return
    if previous == signal.SIG_IGN:
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SignalTerminated(signum)


def _handler(signum: int, frame: FrameType | None) -> None:
    if any(_levels):
        _pending.append((signum, frame))
        return
    _deliver(signum, frame, _saved.get(signum, signal.SIG_DFL))


def _install() -> None:
    for sig in SIGNALS:
        previous = signal.getsignal(sig)
        # None: installed outside Python (leave it); SIG_IGN: ignored (keep ignoring it)
        if previous is None or previous == signal.SIG_IGN or previous is _handler:
            continue
        _saved[int(sig)] = previous
        signal.signal(sig, _handler)


def _restore() -> dict[int, Any]:
    saved = dict(_saved)
    _saved.clear()
    for signum, previous in saved.items():
        if signal.getsignal(signum) is _handler:  # a handler set inside the guard is left alone
            signal.signal(signum, previous)
    return saved


def _flush(saved: dict[int, Any]) -> None:
    """Deliver the pending signals in arrival order (the first that raises ends the delivery)."""
    pending = list(_pending)
    _pending.clear()
    for signum, frame in pending:
        _deliver(signum, frame, saved.get(signum, signal.SIG_DFL))


class _Guard:
    """One guard level (see the module docstring); not reusable across threads."""

    __slots__ = ("_active", "_defer")

    def __init__(self, defer: bool) -> None:
        self._defer = defer
        self._active = False

    def __enter__(self) -> _Guard:
        self._active = threading.current_thread() is threading.main_thread()
        if not self._active:
            return self
        _levels.append(self._defer)
        if len(_levels) == 1:
            try:
                _install()
            except BaseException:
                _levels.pop()
                _restore()
                raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._active:
            return
        self._active = False
        _levels.pop()
        if not _levels:
            _flush(_restore())
        elif _pending and not any(_levels):
            _flush(dict(_saved))


def defer_signals() -> _Guard:
    """Context manager: SIGINT/SIGTERM inside are delivered when it exits (see the module docstring).

    Returns
    -------
    context manager
        Reentrant; a no-op outside the main thread.

    Examples
    --------
    >>> with defer_signals():
    ...     reply = inst.query("SOUR:VOLT:ALL?")  # doctest: +SKIP
    """
    return _Guard(True)


def abort_on_signals() -> _Guard:
    """Context manager: SIGINT/SIGTERM inside raise at once (see the module docstring).

    SIGINT raises what the previous handler raises (:class:`KeyboardInterrupt` by default); SIGTERM
    with its default disposition raises :class:`~hardware.errors.SignalTerminated` instead of ending
    the process. Inside a :func:`defer_signals` guard the signals stay deferred.

    Returns
    -------
    context manager
        Reentrant; a no-op outside the main thread.
    """
    return _Guard(False)
