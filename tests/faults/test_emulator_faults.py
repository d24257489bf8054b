"""SCPI emulator under faults: malformed commands, over-long lines, too many clients, disconnects.

Every test talks to a server on 127.0.0.1 on a port chosen by the system (``port=0``), through a
plain TCP client (:class:`_Raw`) so that malformed bytes reach the server unchanged.
"""

from __future__ import annotations

import codecs
import logging
import re
import socket
import struct
import threading
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware import EmulatorServer, StarDevice
from hardware.scpi.emulator import ScpiInstrument

_ERR = re.compile(r'^(-?\d+),"([ -~]*)"$')  # SYST:ERR? reply: code and printable-ASCII text


class _Raw:
    """A plain TCP client: bytes out, one ``\\n``-terminated line back (5 s timeout)."""

    def __init__(self, port: int, timeout_s: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data if isinstance(data, bytes) else (data + "\n").encode("latin-1"))

    def readline(self) -> bytes:
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"server closed the connection (got {bytes(self._buf[:80])!r})")
            self._buf += chunk
        i = self._buf.index(b"\n")
        line = bytes(self._buf[:i])
        del self._buf[: i + 1]
        return line

    def ask(self, line: str) -> str:
        self.send(line)
        return self.readline().decode("latin-1")

    def error(self) -> tuple[int, str]:
        reply = self.ask("SYST:ERR?")
        m = _ERR.match(reply)
        assert m, f'SYST:ERR? reply is not <code>,"<ascii text>": {reply!r}'
        return int(m.group(1)), m.group(2)

    def close(self, abrupt: bool = False) -> None:
        if abrupt:  # RST instead of FIN: the peer sees a connection reset
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def _wait_for(predicate, timeout_s: float, what: str) -> float:
    """Poll ``predicate`` until true; return the time it took (fail after ``timeout_s``)."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"{what} not within {timeout_s} s")
        time.sleep(0.01)
    return time.monotonic() - t0


def _no_server_traceback(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]
    assert "Traceback" not in capsys.readouterr().err


# ---------------------------------------------------------------------------- 1. malformed commands
_BLOCK16 = np.zeros(2).astype("<f8").tobytes()  # one step of two inputs: a 16-byte block

#: Malformed commands, one a line: the code queued, ``?`` where an empty line comes back (a query),
#: the test id and the bytes sent (Python escapes; ``{block16}``: a 16-byte binary block's data,
#: ``{9 x 5000}``: 5000 nines; every line ends in a newline on the wire).
_MALFORMED_TABLE = r"""
 -108 - extra-args-volt           SOUR1:VOLT 1,2,3
 -108 - extra-args-dt             TRIG:DT 1,2
 -108 - extra-args-limit          SOUR1:CURR:LIM a,b
 -108 ? extra-args-list           LIST:STEP? 0.001,0.1,0.1,0.1
 -108 - extra-args-all            SOUR:VOLT:ALL 1,2,3
 -108 ? args-on-query             SOUR1:VOLT:LIM? 3
 -108 ? args-on-common            *IDN? 1
 -108 - args-on-init              INIT 5
 -108 ? values-before-block       BLOCK:BIN? 0.001,1,5,#216{block16}
 -108 - block-not-allowed         SOUR1:VOLT #216{block16}
 -102 ? block-header-not-digits   BLOCK:BIN? 0.001,1,#1x
 -102 ? block-header-indefinite   BLOCK:BIN? 0.001,1,#0abc
 -102 ? block-longer-than-header  BLOCK:BIN? 0.001,1,#14abcdefgh
 -102 ? block-header-exceeds-data BLOCK:BIN? 0.001,1,#216abc
 -223 ? block-header-huge         BLOCK:BIN? 0.001,1,#9999999999
 -109 ? block-size-mismatch       BLOCK:BIN? 0.001,2,#216{block16}
 -113 - unknown-header            FROB:NICATE 1
 -113 ? unknown-common            *FROB?
 -113 ? unknown-query-with-args   FROB? 1
 -113 - set-form-of-query         SOUR1:VOLT:LIM 5
 -113 ? query-form-of-set         INIT?
 -113 - suffix-on-second-keyword  SOUR1:VOLT2 0.1
 -113 ? suffix-not-allowed        SYST5:ERR?
 -113 - compound-unknown          SOUR1:VOLT 0;;FROB
 -102 - binary-garbage            \x00\xff\x01
 -102 ? question-mark-inside      SOUR1?:VOLT 1
 -102 - empty-value               SOUR:VOLT:ALL 1,
 -113 ? non-latin-header          *\xff\xb5?
 -109 - empty-arg                 SOUR1:VOLT
 -109 - empty-bool                OUTP
 -109 - too-few-levels            SOUR:VOLT:ALL 1
 -109 ? too-few-list              LIST:STEP? 0.001,0.1
 -109 ? too-few-block             BLOCK:ASC? 0.001,2,0.1,0.1
 -109 ? no-channel                CHAN:DEF?
 -104 - non-numeric               SOUR1:VOLT abc
 -104 - python-only-number        SOUR1:VOLT 1_0
 -104 - non-numeric-limit         SOUR1:CURR:LIM a
 -104 ? non-numeric-block         BLOCK:ASC? 0.001,1,0.1,abc
 -104 ? non-integer-steps         BLOCK:ASC? 0.001,1.5,0.1,0.1
 -224 - bad-bool                  OUTP MAYBE
 -224 - nan-level                 SOUR1:VOLT nan
 -224 - inf-level                 SOUR1:VOLT -inf
 -224 - overflow-level            SOUR1:VOLT 1e999
 -224 - huge-level                SOUR1:VOLT {9 x 5000}
 -222 - out-of-range-level        SOUR1:VOLT 5.5
 -222 - nan-dt                    TRIG:DT nan
 -222 - zero-dt                   TRIG:DT 0
 -222 - huge-limit                SOUR1:CURR:LIM 1e308
 -222 ? negative-steps            BLOCK:ASC? 0.001,-1,0.1,0.1
 -222 ? nan-block-dt              BLOCK:ASC? nan,1,0.1,0.1
 -223 ? huge-steps                BLOCK:ASC? 0.001,99999999999999999999,0.1
 -224 - channel-99                SOUR99:VOLT 0.1
 -224 - channel-0                 SOUR0:VOLT 0.1
 -224 - channel-5000-digits       SOUR{9 x 5000}:VOLT 0.1
 -224 - output-channel-99         OUTP99 ON
 -224 ? measure-channel-99        MEAS99:VOLT?
 -224 ? definition-channel-0      CHAN0:DEF?
 -221 - not-an-input              SOUR3:VOLT 0.1
"""


def _malformed_cases(table: str) -> list[tuple[str, bytes, bool, int]]:
    """``(id, bytes sent, is a query, code queued)`` of each line of ``table``."""
    cases = []
    for row in table.strip().splitlines():
        code, flag, name, text = row.split(None, 3)
        data = codecs.decode(text, "unicode_escape").encode("latin-1")
        data = data.replace(b"{block16}", _BLOCK16).replace(b"{9 x 5000}", b"9" * 5000)
        cases.append((name, data + b"\n", flag == "?", int(code)))
    return cases


MALFORMED = _malformed_cases(_MALFORMED_TABLE)


@pytest.mark.parametrize(("data", "query", "code"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_command_queues_error_and_connection_stays_usable(
    data, query, code, caplog, capsys
) -> None:
    caplog.set_level(logging.DEBUG, logger="hardware.scpi.emulator")
    with EmulatorServer(StarDevice(), block_timeout_s=0.3) as srv:
        c = _Raw(srv.port)
        c.send("OUTP ON")  # stepping commands get as far as their argument checks
        c.send(data)
        if query:
            assert c.readline() == b"", "a failed query answers an empty line"
        got, text = c.error()
        assert (got, c.error()) == (code, (0, "No error")), text
        assert text  # the error names what was wrong
        assert c.ask("*IDN?").startswith("nanowire-hil,NWHIL-EMU,StarDevice-4ch,")
        assert srv.instrument.levels_V.tolist() == [0.0, 0.0]  # nothing malformed was applied
        c.close()
    _no_server_traceback(caplog, capsys)


_COMMANDS = "SOUR1:VOLT SOUR:VOLT:ALL SOUR2:CURR:LIM TRIG:DT OUTP OUTP2 INIT MEAS? MEAS4:CURR? FETC3:VOLT? "
_COMMANDS += "LIST:STEP? BLOCK:ASC? CHAN0:DEF? *IDN? *RST SYST:ERR?"
_FRAGMENTS = [*_COMMANDS.split(), " ", ",", ";", ":", "?", "#", *"0.001 0.5 -1 1e999 nan".split(), "9" * 30]
_FRAGMENTS += ["ON", "OFF", "a", "\x00", "\xff", "\xb5", '"', "'", "\r", "\t"]


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.lists(st.sampled_from(_FRAGMENTS), max_size=10).map("".join),
        st.text(st.characters(max_codepoint=255, exclude_characters="\n"), max_size=40),
    )
)
def test_random_lines_never_raise_and_errors_stay_readable(line) -> None:
    instr = ScpiInstrument(StarDevice())
    instr.execute("OUTP ON")
    r = instr.execute(line)
    assert r is None or r.endswith(b"\n")
    for _ in range(40):
        reply = instr.execute("SYST:ERR?").decode("latin-1").rstrip("\n")
        m = _ERR.match(reply)
        assert m, reply
        if m.group(1) == "0":
            break
    assert instr.execute("*IDN?").startswith(b"nanowire-hil,")


# ---------------------------------------------------------------------------- 2. line-length cap
_PIECES = [b"*IDN?\n", b"SOUR1:VOLT 1\n", b"\n", b"\r\n", b"abc", b"x" * 50, b"y" * 70, b"#", b"#1", b"#0",
           b"#1x", b"#3999", b"#14abcd\n", b"#14abcd", b"#216" + bytes(range(16)) + b"\n",
           b"#240" + b"\n" * 40 + b"\n", b"\n#"]  # fmt: skip


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12), st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_framing_is_independent_of_chunk_boundaries_and_bounded(pieces, cuts) -> None:
    from hardware.scpi._framing import Framer

    cap, max_block = 64, 32
    stream = b"".join(pieces)

    def frame(chunks: list[bytes]) -> list:
        f = Framer(cap, max_block)
        out = []
        for chunk in chunks:
            f.feed(chunk)
            while (m := f.next_message()) is not None:
                out.append(m)
            assert len(f.buf) <= max(cap + 11, max_block + 1)  # text and '#' plus 10 header bytes
        return out

    chunks, i, k = [], 0, 0
    while i < len(stream):
        chunks.append(stream[i : i + cuts[k % len(cuts)]])
        i, k = i + cuts[k % len(cuts)], k + 1
    assert frame(chunks) == frame([stream])


def test_overlong_line_is_discarded_with_error_and_bounded_memory(caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG, logger="hardware.scpi.emulator")
    cap = 64 * 1024
    chunk = b"1" * 65536
    with EmulatorServer(StarDevice(), max_line_bytes=cap) as srv:
        c = _Raw(srv.port)
        assert c.ask("*IDN?")  # connected and served before the measurement starts
        tracemalloc.start()
        try:
            c.send(b"SOUR1:VOLT 0.")
            for _ in range(64):  # 4 MiB without a newline
                c.send(chunk)
            c.send(b"\n")
            assert c.ask("*OPC?") == "1"  # the server has taken in all of it
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 1024 * 1024, f"server kept {peak} bytes for a 4 MiB line with a {cap}-byte cap"
        code, text = c.error()
        assert code == -223 and "line longer than max_line_bytes=65536 bytes" in text, text
        assert "SOUR1:VOLT 0.111" in text  # the start of the line names the culprit
        assert c.error() == (0, "No error")
        assert c.ask("SOUR1:VOLT?") == "0.0"  # nothing of it was executed
        # a query that was too long answers an empty line
        c.send(b"FORM:COL? " + b"x" * (2 * cap) + b"\n")
        assert c.readline() == b""
        assert c.error()[0] == -223
        assert c.ask("*IDN?").startswith("nanowire-hil,")
        c.close()
    _no_server_traceback(caplog, capsys)


def test_line_cap_boundary_and_block_size_limit() -> None:
    from hardware.scpi.emulator import max_line_bytes_for

    with EmulatorServer(StarDevice(), max_line_bytes=1024, max_block_values=64) as srv:
        c = _Raw(srv.port)
        head = "SOUR1:VOLT "
        c.send(head + "0" * (1024 - len(head) - 3) + "0.1")  # exactly 1024 bytes: taken
        assert c.ask("SOUR1:VOLT?") == "0.1" and c.error() == (0, "No error")
        c.send(head + "0" * (1025 - len(head) - 3) + "0.2")  # 1025 bytes: refused
        assert c.error()[0] == -223 and c.ask("SOUR1:VOLT?") == "0.1"
        # a reply of n_steps x 8 columns: 8 steps (64 values) are served, 9 steps are refused
        c.send("OUTP ON")
        tiny = repr(-2.2250738585072014e-308)  # 24 characters, the longest repr of a float64
        assert len(c.ask(f"BLOCK:ASC? 0.001,8,{','.join([tiny] * 16)}").split(",")) == 64
        assert c.ask(f"BLOCK:ASC? 0.001,9,{','.join(['0.1'] * 18)}") == ""
        code, text = c.error()
        assert code == -223 and "max_block_values=64" in text, text
        # a binary block larger than 8 x max_block_values bytes is skipped without being stored
        data = np.full(2 * 100, 0.1).astype("<f8").tobytes()
        c.send(b"BLOCK:BIN? 0.001,100,#41600" + data + b"\n")
        assert c.readline() == b""
        code, text = c.error()
        assert code == -223 and "1600 bytes" in text, text
        assert c.ask("*IDN?").startswith("nanowire-hil,")  # still in step with the stream
        c.close()
    assert srv.max_line_bytes == 1024
    assert EmulatorServer(StarDevice(), max_block_values=64).max_line_bytes == max_line_bytes_for(64)


def test_default_line_cap_holds_the_largest_ascii_block() -> None:
    from hardware.scpi.emulator import DEFAULT_MAX_BLOCK_VALUES, DEFAULT_MAX_LINE_BYTES, max_line_bytes_for

    longest = max(len(repr(x)) for x in (-2.2250738585072014e-308, -1.7976931348623157e308, -5e-324, -0.1))
    assert longest == 24
    line = "BLOCK:ASC? 1e-06,524288," + ",".join([repr(-2.2250738585072014e-308)] * DEFAULT_MAX_BLOCK_VALUES)
    assert len(line) <= DEFAULT_MAX_LINE_BYTES == max_line_bytes_for(DEFAULT_MAX_BLOCK_VALUES)


# ---------------------------------------------------------------------------- 3. bounded clients
def test_client_beyond_max_clients_is_refused_promptly() -> None:
    with EmulatorServer(StarDevice(), max_clients=2) as srv:
        a, b = _Raw(srv.port), _Raw(srv.port)
        assert a.ask("*IDN?").startswith("nanowire-hil,") and b.ask("*IDN?").startswith("nanowire-hil,")
        assert srv.n_clients == 2
        t0 = time.monotonic()
        c = _Raw(srv.port, timeout_s=1.0)
        line = c.readline().decode()
        assert time.monotonic() - t0 < 1.0
        assert re.fullmatch(r'-200,"Execution error; connection refused: .*max_clients=2.*"', line), line
        assert c.sock.recv(100) == b""  # and closed
        c.close()
        e = _Raw(srv.port, timeout_s=1.0)  # a client that sends its first command before it reads
        assert "max_clients=2" in e.ask("*IDN?")
        e.close()
        assert a.ask("*OPC?") == "1"  # the served clients are unaffected
        a.close()
        _wait_for(lambda: srv.n_clients == 1, 2.0, "slot of a closed client freed")
        d = _Raw(srv.port)
        assert d.ask("*IDN?").startswith("nanowire-hil,")
        # the VISA client raises the refusal instead of taking it for an identity
        from hardware import EmulatedDevice
        from hardware.errors import InstrumentConnectionError

        with pytest.raises(InstrumentConnectionError, match=r"connection refused.*max_clients=2"):
            EmulatedDevice(srv.port, timeout_s=2.0)
        d.close()
        b.close()


# ---------------------------------------------------------------------------- 4. safe state on disconnect
class _SlowStar(StarDevice):
    """A StarDevice that takes ``step_s`` of wall time per step (a long block)."""

    def __init__(self, step_s: float) -> None:
        super().__init__()
        self.step_s = step_s
        self.started = threading.Event()

    def _apply(self, voltages_V, dt_s):
        self.started.set()
        time.sleep(self.step_s * voltages_V.shape[0])
        return super()._apply(voltages_V, dt_s)


@pytest.mark.parametrize("abrupt", [False, True], ids=["clean", "reset"])
def test_disconnect_of_the_controlling_client_reaches_the_safe_state(abrupt) -> None:
    dev = StarDevice()
    with EmulatorServer(dev) as srv:
        a = _Raw(srv.port)
        assert a.ask("OUTP ON;SOUR:VOLT:ALL 0.5,-0.25;INIT;OUTP?") == "1"
        monitor = _Raw(srv.port)  # a client that only reads does not take control
        assert monitor.ask("OUTP?;SOUR:VOLT:ALL?") == "1;0.5,-0.25"
        monitor.close()
        _wait_for(lambda: srv.n_clients == 1, 2.0, "monitor disconnect seen")
        assert a.ask("OUTP?;SOUR:VOLT:ALL?") == "1;0.5,-0.25"
        a.close(abrupt=abrupt)
        b = _Raw(srv.port)
        _wait_for(lambda: b.ask("OUTP?") == "0", 2.0, "outputs off after the disconnect")
        assert b.ask("SOUR:VOLT:ALL?") == "0.0,0.0"
        np.testing.assert_array_equal(dev.bias_V, 0.0)
        b.close()


def test_disconnect_mid_block_stops_the_block_and_reaches_the_safe_state() -> None:
    n_steps = 4000  # 4 s of device time at 1 ms per step
    dev = _SlowStar(step_s=1e-3)
    with EmulatorServer(dev) as srv:
        a = _Raw(srv.port)
        a.send("OUTP ON")
        a.send(
            b"BLOCK:BIN? 0.001,%d,#6%06d" % (n_steps, 16 * n_steps)
            + np.full(2 * n_steps, 0.5).astype("<f8").tobytes()
            + b"\n"
        )
        assert dev.started.wait(5.0)
        a.close(abrupt=True)
        t0 = time.monotonic()
        b = _Raw(srv.port)
        _wait_for(lambda: b.ask("OUTP?") == "0", 2.0, "outputs off after a disconnect mid-block")
        assert b.ask("SOUR:VOLT:ALL?") == "0.0,0.0"
        assert time.monotonic() - t0 < 2.0
        assert 0 < dev.n_steps_total < n_steps // 2  # stopped early
        np.testing.assert_array_equal(dev.bias_V, 0.0)
        assert b.ask("*IDN?").startswith("nanowire-hil,")  # the instrument serves the next client
        b.close()


def test_block_computed_in_chunks_gives_the_numbers_of_one_apply() -> None:
    v = np.random.default_rng(5).uniform(-1, 1, (300, 2))
    ref = StarDevice(read_noise_V=1e-3, seed=3)
    want = ref.apply(v, 1e-3)
    instr = ScpiInstrument(StarDevice(read_noise_V=1e-3, seed=3), block_chunk_s=1e-9)  # one step per chunk
    instr.execute("OUTP ON")
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return False

    line = "BLOCK:ASC? 0.001,300," + ",".join(map(repr, v.ravel().tolist()))
    out = instr.execute(line, cancelled=cancelled)
    rows = np.array(out.decode().split(","), dtype=float).reshape(300, -1)
    assert len(calls) >= 100  # checked between chunks
    # each row is stamped at its reading, the end of its hold: the start of the next step
    np.testing.assert_array_equal(rows[:, 0], np.append(want.t_s[1:], ref.clock_s))
    np.testing.assert_array_equal(rows[:, 3:4], want.output_V)
    np.testing.assert_array_equal(rows[:, 4:6], want.input_current_A)
