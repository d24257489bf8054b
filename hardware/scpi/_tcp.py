"""The TCP side of the emulator: one thread per connection, the client limit, the refusal line.

:class:`TCPServer` admits at most ``max_clients`` connections and refuses the next one with one
error line; :class:`ConnectionHandler` frames each connection's bytes (:mod:`hardware.scpi._framing`),
hands the messages to the :class:`~hardware.scpi._state.ScpiInstrument`, applies the injected
:class:`~hardware.scpi.emulator.Faults` and sends the replies.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import socketserver
import threading
import time
from typing import TYPE_CHECKING, Any

from hardware.errors import HardwareValidationError
from hardware.scpi._framing import Framer
from hardware.scpi._state import ScpiInstrument

if TYPE_CHECKING:
    from hardware.scpi.emulator import Faults

__all__ = ["ConnectionHandler", "TCPServer", "check_loopback"]

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

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(_POLL_S)
        client_left = True
        try:
            client_left = self._serve(sock)
        finally:
            if client_left:
                self.server.instrument.client_gone(self)

    def _serve(self, sock: socket.socket) -> bool:
        """Serve messages until the connection ends; True when the client ended it."""
        srv = self.server
        framer = Framer(srv.max_line_bytes, 8 * srv.instrument.max_block_values)
        last_rx = time.monotonic()
        while True:
            msg = framer.next_message()
            if msg is None:
                if srv.stopping.is_set():
                    return False
                try:
                    chunk = sock.recv(_RECV_BYTES)
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

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.clients_lock:
            admitted = self.n_clients < self.max_clients
            if admitted:
                self.n_clients += 1
        if not admitted:
            self._refuse(request, client_address)
            return
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
