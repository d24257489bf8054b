"""The PyVISA session of an SCPI client: transactions, binary blocks and the error queue.

:class:`ScpiSession` is the transport half of :class:`~hardware.emulated.EmulatedDevice`: it opens
the VISA resource, runs every exchange as one transaction with SIGINT and SIGTERM deferred
(:func:`hardware._interrupts.defer_signals`), reads IEEE 488.2 binary blocks, drains ``SYST:ERR?``
and turns VISA, socket and decoding failures into :class:`~hardware.errors.InstrumentConnectionError`,
marking the session out of sync.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import numpy as np

from ._instrument import drain_errors
from ._interrupts import abort_on_signals, defer_signals
from .errors import InstrumentConnectionError, InstrumentError

__all__ = ["ScpiSession", "set_tcp_nodelay"]

log = logging.getLogger("hardware.emulated")


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


def _connection_errors() -> tuple[type[BaseException], ...]:
    import pyvisa

    return (pyvisa.errors.VisaIOError, pyvisa.errors.InvalidSession, OSError, EOFError)


def _queued_error(errs: list[tuple[int, str]], where: str = "") -> InstrumentError:
    """The error that reports the first of the queued errors ``errs`` (code, text) and their count."""
    code, text = errs[0]
    more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return InstrumentError(f"instrument error {code}{where}: {text}{more}")


class ScpiSession:
    """The VISA transport of an SCPI client (a mixin of :class:`~hardware.emulated.EmulatedDevice`).

    The class using it sets ``resource_name`` (str), ``visa_library`` (str), ``timeout_s`` (float),
    ``_rm`` and ``_inst`` (None) before :meth:`_open`. ``_in_sync`` is True while no exchange of the
    open session was cut or failed; ``tcp_nodelay`` tells whether TCP_NODELAY was set.
    """

    resource_name: str
    visa_library: str
    timeout_s: float
    _rm: Any
    _inst: Any
    _in_sync: bool
    tcp_nodelay: bool

    def _open(self) -> None:
        import pyvisa

        try:
            if self._rm is None:
                self._rm = pyvisa.ResourceManager(self.visa_library)
            inst = self._rm.open_resource(
                self.resource_name,
                read_termination="\n",
                write_termination="\n",
                timeout=int(self.timeout_s * 1000),
                open_timeout=2000,
            )
        except _connection_errors() as exc:
            raise InstrumentConnectionError(f"cannot connect to {self.resource_name}: {exc}") from exc
        except Exception as exc:  # pyvisa-py raises a bare Exception when the connect fails
            raise InstrumentConnectionError(f"cannot connect to {self.resource_name}: {exc}") from exc
        self.tcp_nodelay = set_tcp_nodelay(inst)
        self._inst = inst
        self._in_sync = True

    def _close_connection(self) -> None:
        if self._inst is not None:
            try:
                self._inst.close()
            except Exception as exc:  # closing a dead socket may fail; nothing to do about it
                log.debug("close failed: %s", exc)
            self._inst = None
        self._in_sync = False

    def _lost(self, message: str) -> InstrumentConnectionError:
        """Mark the session out of sync; return the error to raise."""
        self._in_sync = False
        return InstrumentConnectionError(message)

    def _io(self, func: Any) -> Any:
        """Run ``func(resource)``; VISA, socket and decoding failures become connection errors."""
        if self._inst is None:
            raise self._lost(f"not connected to {self.resource_name}")
        try:
            return func(self._inst)
        except _connection_errors() as exc:
            raise self._lost(f"{self.resource_name}: {type(exc).__name__}: {exc}") from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise self._lost(f"{self.resource_name}: malformed reply ({exc})") from exc

    def _transaction(self, func: Any) -> Any:
        """One complete exchange (``func(resource)``: a write and its reply) with signals deferred.

        The session counts as out of sync from the start of the exchange until it completed, so an
        exception that cuts it (whatever its kind) sends the safe state to a fresh session.
        """
        self._in_sync = False
        with defer_signals():
            out = self._io(func)
            self._in_sync = True
        return out

    def _query(self, cmd: str) -> str:
        reply = self._transaction(lambda i: i.query(cmd))
        return reply.strip()

    def _write(self, cmd: str) -> None:
        self._transaction(lambda i: i.write(cmd))

    def _floats(self, reply: str, n: int, cmd: str) -> np.ndarray:
        if reply == "":
            self._raise_queued(cmd)
        try:
            vals = list(map(float, reply.split(",")))
        except ValueError:
            raise self._lost(
                f"{self.resource_name}: malformed reply to {cmd[:30]!r}: {reply[:60]!r}"
            ) from None
        if len(vals) != n:
            raise self._lost(
                f"{self.resource_name}: malformed reply to {cmd[:30]!r}: {len(vals)} values, expected {n}"
            )
        return np.array(vals)

    def _bool(self, cmd: str) -> bool:
        reply = self._query(cmd)
        if reply not in ("0", "1"):
            raise self._lost(
                f"{self.resource_name}: malformed reply to {cmd!r}: {reply[:60]!r} (expected 0 or 1)"
            )
        return reply == "1"

    def _block_exchange(self, cmd: str, chunk: np.ndarray) -> np.ndarray:
        """Send one binary block and read the reply block.

        The write runs with signals deferred (a block is never sent in part); the wait for the
        reply is abortable: a signal raises at once and leaves the session out of sync.
        """
        self._in_sync = False
        with defer_signals():
            self._io(
                lambda i: i.write_binary_values(cmd, chunk.reshape(-1), datatype="d", is_big_endian=False)
            )
        with abort_on_signals():
            return self._read_block(cmd)

    def _read_block(self, cmd: str) -> np.ndarray:
        """Read an IEEE 488.2 definite-length block of float64 (an empty line = failed query)."""
        first = self._io(lambda i: i.read_bytes(1, break_on_termchar=False))
        if first == b"\n":
            self._in_sync = True  # the reply of a failed query is complete
            self._raise_queued(cmd)
        head = self._io(lambda i: i.read_bytes(1, break_on_termchar=False)) if first == b"#" else b""
        if not head.isdigit() or head == b"0":
            raise self._lost(
                f"{self.resource_name}: malformed reply to {cmd[:30]!r}: no binary block header "
                f"(got {first + head!r})"
            )
        digits = self._io(lambda i: i.read_bytes(int(head), break_on_termchar=False))
        if not digits.isdigit():
            raise self._lost(f"{self.resource_name}: malformed block length {digits!r}")
        n = int(digits)
        data = self._io(lambda i: i.read_bytes(n + 1, break_on_termchar=False))
        if n % 8 or data[-1:] != b"\n":
            raise self._lost(f"{self.resource_name}: malformed binary block ({n} bytes)")
        self._in_sync = True
        return np.frombuffer(data[:-1], dtype="<f8").copy()

    def _drain_errors(self) -> list[tuple[int, str]]:
        return drain_errors(self._next_error)

    def _next_error(self) -> tuple[int, str]:
        """One ``SYST:ERR?`` entry as (code, text); a malformed reply means a lost session."""
        reply = self._query("SYST:ERR?")
        code_s, _, text = reply.partition(",")
        try:
            return int(code_s), text.strip('"')
        except ValueError:
            raise self._lost(
                f"{self.resource_name}: malformed reply to 'SYST:ERR?': {reply[:60]!r}"
            ) from None

    def _raise_queued(self, context: str) -> None:
        """After a failed query (empty reply): raise the first queued error, or a lost session."""
        errs = self._drain_errors()
        if errs:
            raise _queued_error(errs, f" after {context[:40]!r}")
        raise self._lost(f"{self.resource_name}: empty reply to {context[:40]!r} with an empty error queue")

    def check_errors(self) -> None:
        """Poll the error queue; raise :class:`InstrumentError` with code and text if not empty."""
        errs = self._drain_errors()
        if errs:
            raise _queued_error(errs)

    def _check_refused(self, reply: str) -> None:
        """Raise when the server answered the first query with a refusal (client bound reached)."""
        if "connection refused" in reply:
            self._close_connection()
            raise InstrumentConnectionError(f"{self.resource_name}: {reply.strip()}")
