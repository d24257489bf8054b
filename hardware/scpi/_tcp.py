"""The TCP side of the emulator: one thread per connection, the client limit, the refusal line.

:class:`TCPServer` admits at most ``max_clients`` connections and refuses the next one with one
error line; :class:`ConnectionHandler` frames each connection's bytes (:mod:`hardware.scpi._framing`),
hands the messages to the :class:`~hardware.scpi._state.ScpiInstrument`, applies the injected
:class:`~hardware.scpi.emulator.Faults` and sends the replies.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from typing import Any

from hardware._checks import check_int, check_real
from hardware.errors import HardwareError, HardwareValidationError
from hardware.scpi._framing import Framer
from hardware.scpi._state import ScpiInstrument

__all__ = ["ConnectionHandler", "Faults", "InstrumentServer", "TCPServer", "check_loopback"]

# the server logs as the public module it serves
log = logging.getLogger("hardware.scpi.emulator")

#: Receive chunk (bytes), socket poll interval (s) and the time a client has to take a reply (s).
_RECV_BYTES = 65536
_POLL_S = 0.1
_SEND_TIMEOUT_S = 10.0
#: A refused connection is read until the client closes it, for at most this long (s), by at most this
#: many threads at once.
_REFUSAL_LINGER_S = 1.0
_REFUSALS_LINGERING_MAX = 32


class ConnectionHandler(socketserver.BaseRequestHandler):
    server: TCPServer

    _busy = False

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(_POLL_S)
        client_left = True
        try:
            client_left = self._serve(sock)
        finally:
            with self.server.rx_lock:
                self.server.active.discard(sock)
            self._set_busy(False)
            if client_left:
                self.server.instrument.client_gone(self)

    def _set_busy(self, busy: bool) -> None:
        """Count this connection as holding received bytes not yet executed (``InstrumentServer.idle``)."""
        if busy != self._busy:
            with self.server.rx_lock:
                self.server.busy += 1 if busy else -1
                self._busy = busy

    def _receive(self, sock: socket.socket) -> bytes:
        """Wait up to the poll interval for data, then take it and count the connection busy at once
        (under the server's receive lock, so that ``idle`` never sees the bytes in neither place)."""
        readable, _, _ = select.select([sock], [], [], _POLL_S)
        if not readable:
            raise TimeoutError
        with self.server.rx_lock:
            chunk = sock.recv(_RECV_BYTES)
            if chunk and not self._busy:
                self.server.busy += 1
                self._busy = True
        return chunk

    def _serve(self, sock: socket.socket) -> bool:
        """Serve messages until the connection ends; True when the client ended it."""
        srv = self.server
        framer = Framer(srv.max_line_bytes, 8 * srv.instrument.max_block_values)
        last_rx = time.monotonic()
        while True:
            msg = framer.next_message()
            if msg is None:
                self._set_busy(False)
                if srv.stopping.is_set():
                    return False
                try:
                    chunk = self._receive(sock)
                except TimeoutError:
                    if not (framer.in_block and time.monotonic() - last_rx > srv.block_timeout_s):
                        continue
                    msg = framer.abandon_block(srv.block_timeout_s)
                except OSError:
                    return True
                else:
                    if not chunk:
                        return True
                    last_rx = time.monotonic()
                    framer.feed(chunk)
                    continue
            faults = srv.faults
            if faults.drop_after is not None:
                faults.drop_after -= 1
                if faults.drop_after < 0:
                    faults.drop_after = None
                    sock.close()
                    return False
            if msg.error is not None:
                reply = srv.instrument.reject(msg.line, *msg.error)
            else:
                reply = srv.instrument.execute(
                    msg.line, msg.payload, client=self, cancelled=lambda: self._client_left(sock)
                )
            if reply is None:
                continue
            if faults.delay_s and (faults.delay_n is None or faults.delay_n > 0):
                if faults.delay_n is not None:
                    faults.delay_n -= 1
                time.sleep(faults.delay_s)
            if faults.malformed_n > 0:
                faults.malformed_n -= 1
                reply = b"garbage\xff,reply\n"
            try:
                sock.settimeout(_SEND_TIMEOUT_S)
                sock.sendall(reply)
                sock.settimeout(_POLL_S)
            except OSError:  # gone, or not taking its reply
                return True

    def _client_left(self, sock: socket.socket) -> bool:
        """Whether the client has closed or reset the connection (or the server is stopping)."""
        if self.server.stopping.is_set():
            return True
        try:
            sock.settimeout(0.0)
            try:
                return sock.recv(1, socket.MSG_PEEK) == b""
            finally:
                sock.settimeout(_POLL_S)
        except BlockingIOError:  # connected, nothing sent
            return False
        except OSError:
            return True


class TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    instrument: ScpiInstrument
    faults: Faults
    stopping: threading.Event
    max_clients: int
    max_line_bytes: int
    block_timeout_s: float
    n_clients: int = 0
    n_refusing: int = 0
    clients_lock: threading.Lock
    #: Open connections, connections holding received bytes not yet executed, and their lock.
    active: set[socket.socket]
    busy: int = 0
    rx_lock: threading.Lock

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.clients_lock:
            admitted = self.n_clients < self.max_clients
            if admitted:
                self.n_clients += 1
        if not admitted:
            self._refuse(request, client_address)
            return
        with self.rx_lock:  # counted from its accept, before its thread starts (InstrumentServer.idle)
            self.active.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self.clients_lock:
            self.n_clients -= 1

    def _refuse(self, request: socket.socket, client_address: Any) -> None:
        log.warning(
            "emulator: refused a connection from %s: max_clients=%d connections are served",
            client_address,
            self.max_clients,
        )
        line = (
            f'-200,"Execution error; connection refused: the emulator serves at most '
            f'max_clients={self.max_clients} connections at once"\n'
        )
        try:
            request.settimeout(_POLL_S)
            request.sendall(line.encode("ascii"))
            request.shutdown(socket.SHUT_WR)
        except OSError:
            request.close()
            return
        with self.clients_lock:
            linger = self.n_refusing < _REFUSALS_LINGERING_MAX
            if linger:
                self.n_refusing += 1
        if not linger:  # a flood: close at once (the client may see a reset instead of the line)
            request.close()
            return
        threading.Thread(
            target=self._linger, args=(request,), daemon=True, name="nwhil-emulator-refusal"
        ).start()

    def _linger(self, request: socket.socket) -> None:
        """Read what the refused client sends until it closes (at most 1 s), so that it sees the line.

        A socket closed with unread data sends a reset, which makes a client that writes its first
        command before it reads lose the refusal line.
        """
        deadline = time.monotonic() + _REFUSAL_LINGER_S
        try:
            while time.monotonic() < deadline:
                try:
                    if not request.recv(_RECV_BYTES):
                        break
                except TimeoutError:
                    continue
        except OSError:
            pass
        finally:
            request.close()
            with self.clients_lock:
                self.n_refusing -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.error("emulator: unexpected error serving %s", client_address, exc_info=True)


@dataclass
class Faults:
    """Fault injection for tests: applied by the server to every reply while set.

    Attributes
    ----------
    delay_s : float
        Sleep before a reply.
    delay_n : int or None
        Number of replies still to delay (None = every reply).
    malformed_n : int
        Number of query replies still to replace by garbage.
    drop_after : int or None
        Close the connection (without reply) when this many more commands have been received. This
        is a lost link: the instrument does not see a client leave, and keeps its outputs as they are.
    """

    delay_s: float = 0.0
    delay_n: int | None = None
    malformed_n: int = 0
    drop_after: int | None = None


class InstrumentServer:
    """Serve one instrument object over TCP on a loopback address, in a background thread.

    The instrument provides ``execute(line, payload, *, client, cancelled) -> bytes | None``,
    ``reject(line, code, detail) -> bytes | None``, ``client_gone(client) -> bool`` and
    ``max_block_values``; the SCPI emulator (:class:`~hardware.scpi.emulator.EmulatorServer`) and
    the virtual instruments of :mod:`hardware.virtual` are served by it.

    Parameters
    ----------
    instrument : object
        The instrument state machine.
    host : str
        IPv4 loopback address (``127.0.0.1``); anything else raises.
    port : int
        TCP port; 0 lets the system choose (read it back from :attr:`port`).
    max_clients : int
        Connections served at once (>= 1); one more is refused with one error line and closed.
    max_line_bytes : int
        Longest message line in bytes (>= 1024).
    block_timeout_s : float
        Seconds (> 0) without data after which an incomplete binary block is abandoned.
    name : str
        What the server is called in messages and logs.
    """

    def __init__(self, instrument: Any, host: str = "127.0.0.1", port: int = 0, *, max_clients: int,
                 max_line_bytes: int, block_timeout_s: float, name: str = "instrument server") -> None:
        self.host = check_loopback(host)
        self._req_port = check_int("port", port, low=0, high=65535)
        self.max_clients = check_int("max_clients", max_clients, low=1)
        self.max_line_bytes = check_int("max_line_bytes", max_line_bytes, low=1024)
        self.block_timeout_s = check_real("block_timeout_s", block_timeout_s, low=0.0, low_open=True)
        self.instrument = instrument
        self.name = str(name)
        self.faults = Faults()
        self._server: TCPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port listened on (after :meth:`start`)."""
        if self._server is None:
            raise HardwareError(f"{self.name} not started")
        return int(self._server.server_address[1])

    def idle(self) -> bool:
        """Whether every byte a client has sent has been executed (loopback delivers a sent byte to
        the receiving socket before ``send`` returns, so nothing is in flight between the two)."""
        srv = self._server
        if srv is None:
            return True
        with srv.rx_lock:
            if srv.busy:
                return False
            pending, _, _ = select.select([srv.socket], [], [], 0.0)
            if pending:  # a connection not yet accepted may already hold a message
                return False
            readable = [s for s in srv.active if s.fileno() >= 0]
            if readable:
                readable, _, _ = select.select(readable, [], [], 0.0)
            for sock in readable:  # data, or the end of the connection
                try:
                    if sock.recv(1, socket.MSG_PEEK):
                        return False
                except OSError:  # reset: nothing more will come from it
                    continue
        return True

    @property
    def n_clients(self) -> int:
        """Connections being served now (0 when not started)."""
        return 0 if self._server is None else self._server.n_clients

    @property
    def resource_name(self) -> str:
        """The VISA resource name of the running server."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    def start(self) -> Any:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        srv = TCPServer((self.host, self._req_port), ConnectionHandler, bind_and_activate=False)
        srv.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            srv.server_bind()
            srv.server_activate()
        except OSError:
            srv.server_close()
            raise
        srv.instrument = self.instrument
        srv.faults = self.faults
        srv.stopping = threading.Event()
        srv.max_clients = self.max_clients
        srv.max_line_bytes = self.max_line_bytes
        srv.block_timeout_s = self.block_timeout_s
        srv.clients_lock = threading.Lock()
        srv.active = set()
        srv.rx_lock = threading.Lock()
        self._server = srv
        self._thread = threading.Thread(
            target=srv.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"nwhil-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("%s serving on %s", self.name, self.resource_name)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (the instrument keeps its state)."""
        if self._server is None:
            return
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = None
        self._thread = None

    def serve_forever(self) -> None:
        """Block until :meth:`stop` or KeyboardInterrupt (then stop and re-raise)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.2)
        finally:
            self.stop()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        ok = ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
    except ValueError:
        ok = False
    if not ok:
        raise HardwareValidationError(
            f"host must be an IPv4 loopback address such as '127.0.0.1' (the emulator never listens "
            f"on a network), got {host!r}"
        )
    return host
