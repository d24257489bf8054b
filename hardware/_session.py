"""The session with one instrument: its transport, transactions, binary blocks, error queue and reconnect.

:class:`InstrumentSession` is the one object through which a client of an instrument talks to it;
the drivers of :mod:`hardware.drivers` and the emulator client :class:`~hardware.EmulatedDevice`
each hold one (``session``) and delegate every exchange to it, as a PyMeasure instrument holds an
adapter. The session holds the transport, a PyMeasure adapter: opened here from a VISA address
(:class:`~pymeasure.adapters.VISAAdapter`, with the resource's timeouts and terminations) or given
as an object (a :class:`~pymeasure.adapters.ProtocolAdapter` in the protocol tests).

* Transactions: each write, read and query (a write and the read of its reply) runs with SIGINT
  and SIGTERM deferred (:func:`hardware._interrupts.defer_signals`), so Ctrl-C arrives after the
  reply was read and the session stays in sync. The wait for a binary block reply is the one
  exception: there a signal raises at once.
* Sync: :attr:`InstrumentSession.in_sync` is False from the moment an exchange failed or was cut
  (timeout, dropped connection, malformed reply, an exception inside it) until the session is
  reopened: a reply still on its way would otherwise be read as the reply of the next query.
  VISA, socket and decoding failures are raised as :class:`~hardware.errors.InstrumentConnectionError`.
* Error queue, in one of two dialects (:data:`ERROR_QUEUES`): ``"scpi"`` (``SYST:ERR?``, the
  2450 and the emulator) or ``"tsp"`` (``errorqueue.count`` / ``errorqueue.next()``, the 2600B
  and the 707B), drained with :func:`hardware._instrument.drain_errors`.
* Reconnect: bounded attempts to close the session and open a fresh one to the same address.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import numpy as np

from hardware._checks import check_choice
from hardware._instrument import drain_errors, raise_queued_errors
from hardware._interrupts import abort_on_signals, defer_signals
from hardware.errors import InstrumentConnectionError, InstrumentError

__all__ = ["ERROR_QUEUES", "InstrumentSession", "set_tcp_nodelay"]

#: Replies at or above this magnitude are SCPI's codes for an invalid number (9.9e37: infinity,
#: 9.91e37: not a number; IEEE 488.2 / SCPI-99 7.2.1), not readings.
_SCPI_INVALID = 9.9e37

log = logging.getLogger(__name__)

#: Error-queue dialects: the SCPI ``SYST:ERR?`` queue and the TSP ``errorqueue``.
ERROR_QUEUES: tuple[str, ...] = ("scpi", "tsp")

_SEPARATORS = re.compile(r"\s*,\s*|\s+")  # numbers of a reply: separated by a comma, whitespace or both


def set_tcp_nodelay(resource: Any) -> bool:
    """Set TCP_NODELAY on a pyvisa-py TCPIP socket resource; return whether it was set.

    pyvisa-py's ``VI_ATTR_TCPIP_NODELAY`` setter does not reach the socket, so this takes the
    session's socket object (``visalib.sessions[session].interface``) and sets the option on it.
    Without it a write followed by a query waits ~40 ms for delayed ACKs (Nagle).
    """
    try:
        sess = resource.visalib.sessions[resource.session]
        sock = sess.interface
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    except (AttributeError, KeyError, OSError) as exc:
        log.warning("could not set TCP_NODELAY on %s: %s", getattr(resource, "resource_name", resource), exc)
        return False


def _link_errors() -> tuple[type[BaseException], ...]:
    """The failures of the link itself: VISA errors (timeouts, closed sessions) and socket errors."""
    import pyvisa

    return (pyvisa.errors.Error, OSError, EOFError)


class InstrumentSession:
    """The session with one instrument (see the module docstring).

    Parameters
    ----------
    adapter : str, int or pymeasure Adapter
        VISA address (opened here, and reopened by :meth:`reconnect`) or an adapter object (held as
        it is; no reconnect).
    name : str, optional
        Names the instrument in messages (default: the address).
    error_queue : {"scpi", "tsp"}
        Dialect of the instrument's error queue.
    tcp_nodelay : bool
        Set TCP_NODELAY on the socket of each opened resource (:func:`set_tcp_nodelay`).
    visa_library : str
        PyVISA backend of an address (``""``: PyVISA's default; ``"@py"``; ``"<yaml>@sim"``).
    **visa_kwargs
        Settings of the resource opened at an address (``timeout`` and ``open_timeout`` in ms,
        ``read_termination``, ``write_termination``); see :class:`~pymeasure.adapters.VISAAdapter`.

    Attributes
    ----------
    adapter : pymeasure Adapter or None
        The transport (None while the session is closed).
    in_sync : bool
        False from the moment an exchange failed or was cut until the session is reopened.
    n_reconnects : int
        Successful reconnects.
    tcp_nodelay : bool
        Whether TCP_NODELAY was set on the open resource.
    """

    def __init__(self, adapter: Any, *, name: str | None = None, error_queue: str = "scpi",
                 tcp_nodelay: bool = False, visa_library: str = "", **visa_kwargs: Any) -> None:
        self.name = str(adapter) if name is None else str(name)
        self.error_queue = check_choice("error_queue", error_queue, ERROR_QUEUES)
        self.address = adapter if isinstance(adapter, (str, int)) else None
        self.n_reconnects = 0
        self.tcp_nodelay = False
        self._nodelay = bool(tcp_nodelay)
        self._visa = {"visa_library": visa_library, **visa_kwargs}
        self.adapter: Any = None
        self.in_sync = False
        if self.address is None:
            self.adapter = adapter
            self.in_sync = True
        else:
            self.open()

    def __repr__(self) -> str:
        state = "closed" if self.adapter is None else "in sync" if self.in_sync else "out of sync"
        return f"<InstrumentSession {self.name!r} ({state})>"

    # ------------------------------------------------------------------ open, close, reconnect
    @property
    def is_open(self) -> bool:
        """Whether the session holds a transport (it may still be out of sync)."""
        return self.adapter is not None

    @property
    def resource(self) -> Any:
        """The PyVISA resource under the adapter (None without one, e.g. a protocol adapter)."""
        return getattr(self.adapter, "connection", None)

    def open(self) -> None:
        """Open the resource at :attr:`address` (closing the one open before).

        Raises
        ------
        InstrumentConnectionError
            No address (the session was given an adapter object), or it cannot be opened.
        """
        self._require_address("open")
        self.close()
        from pymeasure.adapters import VISAAdapter

        try:
            adapter = VISAAdapter(self.address, **self._visa)
        except Exception as exc:  # pyvisa-py raises a bare Exception when the connect fails
            raise InstrumentConnectionError(f"{self.name}: cannot open {self.address!r}: {exc}") from exc
        self.tcp_nodelay = set_tcp_nodelay(adapter.connection) if self._nodelay else False
        self.adapter = adapter
        self.in_sync = True

    def _require_address(self, action: str) -> None:
        if self.address is None:
            raise InstrumentConnectionError(
                f"{self.name}: cannot {action}: the session holds a {type(self.adapter).__name__} "
                "object, not an address")

    def close(self) -> None:
        """Close the transport (a failure to close a dead session is only logged)."""
        adapter, self.adapter = self.adapter, None
        self.in_sync = False
        if adapter is not None:
            try:
                adapter.close()
            except Exception as exc:  # closing a dead socket may fail; nothing to do about it
                log.debug("%s: close failed: %s", self.name, exc)

    def reconnect(self, *, attempts: int = 1, backoff_s: float = 0.0,
                  resume: Callable[[], Any] | None = None) -> Any:
        """Close the session and open a fresh one to the same address, in bounded attempts.

        Parameters
        ----------
        attempts : int
            Number of attempts (0: none, the session is closed).
        backoff_s : float
            Wait before each attempt in seconds, multiplied by the attempt number.
        resume : callable, optional
            Runs on each freshly opened session (e.g. reads the instrument state back); an attempt
            counts as successful when it returns. Its return value is returned.

        Raises
        ------
        InstrumentConnectionError
            The session holds an adapter object (no address to reopen; it is left as it is), or
            every attempt failed (the session is left closed).
        """
        self._require_address("reconnect")
        last: Exception | None = None
        for attempt in range(1, attempts + 1):
            self.close()
            time.sleep(backoff_s * attempt)
            try:
                with defer_signals():
                    self.open()
                out = None if resume is None else resume()
            except InstrumentConnectionError as exc:
                last = exc
                continue
            self.n_reconnects += 1
            log.warning("%s: reconnected (attempt %d)", self.name, attempt)
            return out
        self.close()
        raise InstrumentConnectionError(
            f"{self.name}: reconnect failed after {attempts} attempt(s) ({last}); "
            "the instrument may still be sourcing")

    # ------------------------------------------------------------------ transactions
    def lost(self, message: str) -> InstrumentConnectionError:
        """Mark the session out of sync; return the error to raise (``message`` after the name)."""
        self.in_sync = False
        return InstrumentConnectionError(f"{self.name}: {message}")

    @contextlib.contextmanager
    def _link(self, what: str) -> Iterator[Any]:
        """The adapter, for I/O whose failure marks the session out of sync (and is translated)."""
        if self.adapter is None:
            raise self.lost(f"{what}: not connected")
        try:
            yield self.adapter
        except _link_errors() as exc:
            raise self.lost(f"{what} failed: {type(exc).__name__}: {exc}") from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise self.lost(f"{what} failed: malformed reply ({exc})") from exc
        except BaseException:
            self.in_sync = False
            raise

    @contextlib.contextmanager
    def transaction(self, what: str) -> Iterator[Any]:
        """One exchange on the adapter it yields, with SIGINT/SIGTERM deferred until it completed."""
        with defer_signals(), self._link(what) as adapter:
            yield adapter

    def write(self, command: str, **kwargs: Any) -> None:
        """Write ``command`` (one transaction)."""
        with self.transaction(f"write {command[:40]!r}") as adapter:
            adapter.write(command, **kwargs)

    def write_bytes(self, content: bytes, **kwargs: Any) -> None:
        """Write raw bytes (one transaction)."""
        with self.transaction("write_bytes") as adapter:
            adapter.write_bytes(content, **kwargs)

    def read(self, **kwargs: Any) -> str:
        """Read one reply (one transaction; the read termination removed)."""
        with self.transaction("read") as adapter:
            return adapter.read(**kwargs)

    def read_bytes(self, count: int, **kwargs: Any) -> bytes:
        """Read ``count`` bytes (one transaction)."""
        with self.transaction("read_bytes") as adapter:
            return adapter.read_bytes(count, **kwargs)

    def query(self, command: str, query_delay: float | None = None) -> str:
        """Write ``command`` and read its reply as one transaction (the read termination removed)."""
        with self.transaction(f"query {command[:40]!r}") as adapter:
            adapter.write(command)
            if query_delay:
                time.sleep(query_delay)
            return adapter.read()

    def write_binary_values(self, command: str, values: Any, **kwargs: Any) -> None:
        """Write ``command`` followed by a binary block of ``values`` (one transaction)."""
        with self.transaction(f"write {command[:40]!r} with a binary block") as adapter:
            adapter.write_binary_values(command, values, **kwargs)

    def read_binary_values(self, **kwargs: Any) -> np.ndarray:
        """Read a binary reply (one transaction); see the adapter's ``read_binary_values``."""
        with self.transaction("read_binary_values") as adapter:
            return adapter.read_binary_values(**kwargs)

    def query_binary_values(self, command: str, query_delay: float | None = None,
                            **kwargs: Any) -> np.ndarray:
        """Write ``command`` and read its binary reply as one transaction."""
        with self.transaction(f"query {command[:40]!r}") as adapter:
            adapter.write(command)
            if query_delay:
                time.sleep(query_delay)
            return adapter.read_binary_values(**kwargs)

    # ------------------------------------------------------------------ replies
    def floats(self, reply: str, n: int, what: str) -> np.ndarray:
        """The ``n`` numbers of ``reply`` to ``what`` (separated by commas and/or whitespace).

        An empty reply is the reply of a failed query: the queued error is raised
        (:class:`~hardware.errors.InstrumentError`). A malformed reply marks the session out of
        sync (:class:`~hardware.errors.InstrumentConnectionError`).
        """
        text = reply.strip()
        if not text:
            self._raise_failed_query(what)
        try:
            vals = np.array([float(x) for x in _SEPARATORS.split(text)])
        except ValueError:
            raise self.lost(f"malformed reply to {what[:40]}: {text[:60]!r}") from None
        if vals.size != n:
            raise self.lost(f"malformed reply to {what[:40]}: {vals.size} values, expected {n}")
        invalid = ~(np.abs(vals) < _SCPI_INVALID)  # NaN, infinities, SCPI's 9.9e37 and 9.91e37
        if invalid.any():
            k = int(np.argmax(invalid))
            raise InstrumentError(f"{self.name}: invalid reading {vals[k]!r} (value {k} of the reply to "
                                  f"{what[:40]}: NaN, infinite or SCPI's overflow 9.9e37); nothing is taken "
                                  "from this reply")
        return vals

    def query_floats(self, command: str, n: int, what: str | None = None) -> np.ndarray:
        """Query ``command`` and return the ``n`` numbers of its reply (see :meth:`floats`)."""
        return self.floats(self.query(command), n, command if what is None else what)

    def query_block(self, command: str, values: np.ndarray) -> np.ndarray:
        """Send ``command`` with ``values`` as a float64 binary block; return the float64 block reply.

        The write runs with signals deferred (a block is never sent in part); the wait for the
        reply (:meth:`read_block`) is abortable: a signal raises at once. The session counts as out
        of sync from the write until the reply was read.
        """
        was_in_sync, self.in_sync = self.in_sync, False
        termination = getattr(self.resource, "write_termination", None)
        termination = termination if isinstance(termination, str) else ""  # none without a resource
        try:
            self.write_binary_values(command, values, termination=termination, datatype="d",
                                     is_big_endian=False)
            with abort_on_signals():
                data = self.read_block(command)
        except InstrumentConnectionError:
            raise
        except InstrumentError:  # the empty reply of a failed query was read whole
            self.in_sync = was_in_sync
            raise
        self.in_sync = was_in_sync
        return data

    def read_block(self, what: str) -> np.ndarray:
        """Read an IEEE 488.2 definite-length block of little-endian float64 and its termination.

        An empty line instead is the reply of a failed query: the queued error is raised.
        """
        with self._link(f"reply to {what[:40]!r}") as adapter:
            first = adapter.read_bytes(1, break_on_termchar=False)
            if first != b"\n":
                head = adapter.read_bytes(1, break_on_termchar=False) if first == b"#" else b""
                if not head.isdigit() or head == b"0":
                    raise self.lost(f"malformed reply to {what[:30]!r}: no binary block header "
                                    f"(got {first + head!r})")
                digits = adapter.read_bytes(int(head), break_on_termchar=False)
                if not digits.isdigit():
                    raise self.lost(f"malformed block length {digits!r}")
                n = int(digits)
                data = adapter.read_bytes(n + 1, break_on_termchar=False)
                if n % 8 or data[-1:] != b"\n":
                    raise self.lost(f"malformed binary block ({n} bytes)")
                return np.frombuffer(data[:-1], dtype="<f8").copy()
        self._raise_failed_query(what)

    # ------------------------------------------------------------------ error queue
    def _code(self, text: str, what: str) -> int:
        """An error code or count as an int; a malformed one marks the session out of sync."""
        try:
            return int(float(text))
        except (ValueError, OverflowError):
            raise self.lost(f"malformed reply to {what!r}: {text[:60]!r}") from None

    def next_error(self) -> tuple[int, str]:
        """``(code, text)`` of the next queued error; ``(0, "")`` when the queue is empty."""
        if self.error_queue == "tsp":
            if self._code(self.query("print(errorqueue.count)").strip(), "errorqueue.count") == 0:
                return 0, ""
            what, sep, reply = "errorqueue.next()", "\t", self.query("print(errorqueue.next())")
        else:
            what, sep, reply = "SYST:ERR?", ",", self.query("SYST:ERR?")
        code, _, text = reply.strip().partition(sep)
        return self._code(code, what), text.strip().strip('"')

    def check_errors(self) -> list[tuple[int, str]]:
        """Drain the error queue; return ``[(code, text), ...]`` (empty when there were none)."""
        return drain_errors(self.next_error)

    def raise_errors(self, after: str = "") -> None:
        """Drain the error queue; raise :class:`~hardware.errors.InstrumentError` for the first error.

        Parameters
        ----------
        after : str
            The command after which the queue is read (named in the message when given).
        """
        raise_queued_errors(self.name, self.check_errors(), after)

    def _raise_failed_query(self, what: str) -> NoReturn:
        """After the empty reply of a failed query: raise the queued error, or a lost session."""
        self.raise_errors(after=what)
        raise self.lost(f"empty reply to {what[:40]!r} with an empty error queue")
