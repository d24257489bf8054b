"""The emulator's wire protocol, byte for byte: a recorded session against a stored transcript.

A recording TCP proxy sits between :class:`~hardware.EmulatedDevice` and the emulator and keeps
every byte each way. The device is the hand-solvable :class:`~hardware.StarDevice`, so the replies
are plain IEEE arithmetic and the same on every machine. The stored transcript
(``data/emulator_transcript.bin``) was recorded with nanowire-hil 0.3.0; a change of any command,
reply, number format or ordering fails here and shows the first differing line. The one field that
may differ is the package version in the ``*IDN?`` reply, which both sides show as ``<version>``.
"""

from __future__ import annotations

import difflib
import re
import socket
import threading
from pathlib import Path

import numpy as np

from hardware import EmulatedDevice, StarDevice, serve_emulator

GOLDEN = Path(__file__).parent / "data" / "emulator_transcript.bin"


class _RecordingProxy:
    """Forward one loopback port to another and record the bytes of each direction."""

    def __init__(self, target_port: int) -> None:
        self.sent: list[bytes] = []  # client -> instrument
        self.received: list[bytes] = []  # instrument -> client
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._target = target_port
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target))
            for src, dst, log in ((client, server, self.sent), (server, client, self.received)):
                t = threading.Thread(target=self._pump, args=(src, dst, log), daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, log: list[bytes]) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            with self._lock:
                log.append(data)
            dst.sendall(data)
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> str:
        """Stop, wait for both directions to drain, and return the transcript as text."""
        self._listener.close()
        for t in self._threads:
            t.join(timeout=10)
        # latin-1 maps each byte to one character: binary blocks survive exactly
        sent, received = b"".join(self.sent).decode("latin-1"), b"".join(self.received).decode("latin-1")
        return f">>> client\n{sent}<<< instrument\n{received}"


def _record() -> str:
    """One session per transfer mode: identify, drive 12 steps, read, reset, drive again, close."""
    parts = []
    v = np.random.default_rng(0).uniform(-1.0, 1.0, (12, 2))
    for mode in ("list", "block"):
        srv = serve_emulator(StarDevice(("a", "b"), ("o",), ("g",), max_abs_V=2.0))
        proxy = _RecordingProxy(srv.port)
        try:
            dev = EmulatedDevice(proxy.port, mode=mode, timeout_s=10.0)
            dev.apply(v, 1e-3)
            dev.read()
            dev.reset()
            dev.apply(v[:3], 2e-3)
            dev.close()
        finally:
            srv.stop()
        parts.append(f"=== mode {mode}\n" + proxy.close())
    return "".join(parts)


def _without_version(transcript: str) -> str:
    """The transcript with the package version of every ``*IDN?`` reply replaced by ``<version>``."""
    return re.sub(r"^(nanowire-hil,NWHIL-EMU,[^,\n]+,)[^\n]+$", r"\1<version>", transcript, flags=re.M)


def test_the_wire_transcript_is_the_stored_one() -> None:
    now = _without_version(_record())
    golden = _without_version(GOLDEN.read_bytes().decode("latin-1"))
    assert golden.count(",<version>\n") == 2  # the identification of both sessions
    if now != golden:
        lines = difflib.unified_diff(golden.splitlines(True), now.splitlines(True), "stored", "now")
        diff = "".join(list(lines)[:40])
        raise AssertionError(f"the emulator's wire transcript changed:\n{diff}")


def test_the_transcript_holds_a_whole_session_ending_in_the_safe_state() -> None:
    # the stored transcript is a whole session, so that a comparison with it means something
    golden = GOLDEN.read_bytes().decode("latin-1")
    for mode, transfer in (("list", "LIST:STEP? "), ("block", "BLOCK:BIN? ")):
        session = golden.split(f"=== mode {mode}\n", 1)[1].split("=== mode", 1)[0]
        client, instrument = session.split("<<< instrument\n")
        assert client.startswith(">>> client\n*IDN?\n")
        assert instrument.startswith("nanowire-hil,NWHIL-EMU,")
        assert transfer in client and "*RST" in client
        # closing ramps to 0 V, switches the output off and reads both back
        assert client.endswith("SOUR:VOLT:ALL 0.0,0.0\nOUTP OFF\nSOUR:VOLT:ALL?\nOUTP?\n")
        assert instrument.endswith("0.0,0.0\n0\n")
    # in list mode every query has one reply line and nothing else does
    session = golden.split("=== mode list\n", 1)[1].split("=== mode", 1)[0]
    client, instrument = session.split("<<< instrument\n")
    queries = [line for line in client.splitlines()[1:] if "?" in line]
    assert len(queries) == instrument.count("\n") == 33
