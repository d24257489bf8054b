"""Ctrl-C and SIGTERM during instrument I/O: deferral guards, safe state on a clean session, read-back.

The end-to-end tests run an :class:`~hardware.EmulatedDevice` client in a subprocess against an
emulator served by this process (a free port on 127.0.0.1), send SIGINT (or SIGTERM) to the client
while a sequence is in flight, and read the instrument state back over a fresh connection of their
own: every output must be off and every level 0 V, and the exception must reach the caller.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from hardware import EmulatedDevice, StarDevice, serve_emulator
from hardware._interrupts import abort_on_signals, defer_signals
from hardware.errors import SafeStateError, SignalTerminated

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

STEP_SLEEP_S = 1e-3  # wall time the served device takes per step


def _default_sigint() -> None:
    """Child-process set-up: SIGINT at its default, so that Python turns it into KeyboardInterrupt.

    A shell without job control starts background jobs with SIGINT ignored, and children inherit
    that; these tests model a user pressing Ctrl-C on a normal terminal.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class SlowStar(StarDevice):
    """A :class:`StarDevice` that takes ``STEP_SLEEP_S`` of wall time per step (a long transfer)."""

    def __init__(self) -> None:
        super().__init__(("in0", "in1"), ("out0",), ("gnd",))
        self.n_started = 0  # batches that reached the device (the output was on, a transfer in flight)

    def _apply(self, voltages_V, dt_s):
        self.n_started += 1
        time.sleep(STEP_SLEEP_S * voltages_V.shape[0])
        return super()._apply(voltages_V, dt_s)


def _ask(port: int, line: str, timeout_s: float = 10.0) -> str:
    """One query over a new TCP connection of its own (not the client's session).

    Retried for a few seconds when the server turns the connection away (a server with a bound on
    concurrent clients may still be closing the client's previous connection).
    """
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
                s.sendall(line.encode() + b"\n")
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
        except ConnectionError:
            buf = b""
        if buf.endswith(b"\n"):
            return buf.decode().strip()
        time.sleep(0.05)
    raise AssertionError(f"no reply to {line!r} from 127.0.0.1:{port}")


def _assert_safe(port: int) -> None:
    outputs, levels = _ask(port, "OUTP?;OUTP1?;OUTP2?;SOUR:VOLT:ALL?").rsplit(";", 1)
    assert outputs == "0;0;0"
    assert [float(x) for x in levels.split(",")] == [0.0, 0.0]


# ---------------------------------------------------------------------------- the guards themselves
@pytest.fixture
def known_handlers() -> Iterator[list[int]]:
    """Python's default SIGINT handler and a recording SIGTERM handler, restored afterwards."""
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        pytest.skip("signal handlers can only be installed from the main thread")
    calls: list[int] = []
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        yield calls
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def test_sigint_is_delivered_after_the_guarded_region_and_handlers_are_restored(known_handlers) -> None:
    before = signal.getsignal(signal.SIGINT)
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with defer_signals():
            assert signal.getsignal(signal.SIGINT) is not before
            signal.raise_signal(signal.SIGINT)
            reached.append("after the signal")  # the region ran on: the signal was deferred
    assert reached == ["after the signal"]
    assert signal.getsignal(signal.SIGINT) is before


def test_nested_guards_deliver_at_the_outermost_exit(known_handlers) -> None:
    before = signal.getsignal(signal.SIGINT)
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with defer_signals():
            with defer_signals():
                signal.raise_signal(signal.SIGINT)
            steps.append("inner exit did not deliver")
            assert signal.getsignal(signal.SIGINT) is not before  # still installed by the outer guard
    assert steps == ["inner exit did not deliver"]
    assert signal.getsignal(signal.SIGINT) is before


def test_abort_guard_raises_at_once_but_not_inside_a_deferring_guard(known_handlers) -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with abort_on_signals():
            signal.raise_signal(signal.SIGINT)
            steps.append("not reached")
    assert steps == []
    with pytest.raises(KeyboardInterrupt):
        with abort_on_signals():
            with defer_signals():
                signal.raise_signal(signal.SIGINT)
                steps.append("deferred")
            steps.append("not reached: delivered when the deferring guard exits")
    assert steps == ["deferred"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_previous_handler_is_called_once_after_the_region(known_handlers) -> None:
    calls = known_handlers
    before = signal.getsignal(signal.SIGTERM)
    with defer_signals():
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)
        assert calls == []
    assert calls == [signal.SIGTERM, signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is before


def test_handlers_restored_when_the_region_raises_and_ignored_signals_stay_ignored(known_handlers) -> None:
    with pytest.raises(ValueError, match="boom"):
        with defer_signals():
            raise ValueError("boom")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with defer_signals():
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        signal.raise_signal(signal.SIGINT)  # ignored, as before the guard
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_guards_are_a_no_op_outside_the_main_thread(known_handlers) -> None:
    seen: list[object] = []

    def worker() -> None:
        try:
            with defer_signals(), abort_on_signals():
                seen.append(signal.getsignal(signal.SIGINT))
        except BaseException as exc:  # pragma: no cover - reported below
            seen.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    t.join(10)
    assert seen == [signal.default_int_handler]
    # the main thread's guards are unaffected
    with pytest.raises(KeyboardInterrupt), defer_signals():
        signal.raise_signal(signal.SIGINT)


def test_sigterm_with_the_default_disposition_becomes_signal_terminated(tmp_path) -> None:
    script = textwrap.dedent("""
        import signal
        from hardware._interrupts import abort_on_signals, defer_signals
        from hardware.errors import SignalTerminated
        try:
            with abort_on_signals():
                signal.raise_signal(signal.SIGTERM)
                print("not reached")
        except SignalTerminated as exc:
            print("abort", exc.code, flush=True)
        with defer_signals():
            signal.raise_signal(signal.SIGTERM)
            print("deferred", flush=True)
        print("not reached")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert r.stdout.split("\n")[:2] == ["abort 143", "deferred"], r.stdout + r.stderr
    assert r.returncode == 143, r.stderr
    assert issubclass(SignalTerminated, SystemExit) and not issubclass(SignalTerminated, Exception)


# ---------------------------------------------------------------------------- safe state, in process
@contextlib.contextmanager
def _client_of_served_star(mode: str) -> Iterator[tuple[Any, EmulatedDevice]]:
    """An emulator serving a :class:`StarDevice` and a client in ``mode``, reconnecting at once."""
    with serve_emulator(StarDevice()) as srv:
        yield srv, EmulatedDevice(srv.port, mode=mode, reconnect_backoff_s=0.0, timeout_s=5.0)


def _sigint_before(fn: Callable[..., Any], *, call: int = 1, returned: list[int] | None = None) -> Any:
    """``fn`` wrapped to raise SIGINT in this process just before its ``call``-th call.

    Each call that returns appends its number to ``returned`` (when given).
    """
    n = [0]

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        n[0] += 1
        if n[0] == call:
            signal.raise_signal(signal.SIGINT)
        out = fn(*args, **kwargs)
        if returned is not None:
            returned.append(n[0])
        return out

    return wrapped


def test_cut_block_reply_safe_state_on_a_fresh_session(monkeypatch) -> None:
    with _client_of_served_star("block") as (srv, dev):
        calls = []

        def cut(cmd):  # the block went out, Ctrl-C lands before its reply is read
            calls.append(cmd)
            raise KeyboardInterrupt

        monkeypatch.setattr(dev.session, "read_block", cut)
        with pytest.raises(KeyboardInterrupt):
            dev.apply(np.full((20, 2), 0.3), 1e-3)
        assert len(calls) == 1 and dev.n_reconnects == 1  # the unread reply went with the old session
        _assert_safe(srv.port)
        assert dev.instrument_state["output_on"] is False
        dev.close()


def test_sigint_between_query_and_reply_is_deferred_and_the_session_kept(known_handlers,
                                                                         monkeypatch) -> None:
    with _client_of_served_star("list") as (srv, dev):
        # Ctrl-C after the 3rd step was sent, before its reply
        monkeypatch.setattr(dev.session.adapter, "read", _sigint_before(dev.session.adapter.read, call=3))
        with pytest.raises(KeyboardInterrupt):
            dev.apply(np.full((10, 2), 0.3), 1e-3)
        assert srv.device.n_steps_total == 3  # the 3rd step completed, then the interrupt arrived
        assert dev.n_reconnects == 0  # its reply was read: the session stayed in sync
        _assert_safe(srv.port)
        dev.close()


def test_sigint_while_a_block_is_sent_is_deferred_until_it_is_sent_whole(known_handlers,
                                                                          monkeypatch) -> None:
    with _client_of_served_star("block") as (srv, dev):
        sent: list[int] = []  # filled only when the interrupt waited for the whole write
        write = _sigint_before(dev.session.adapter.write_binary_values, returned=sent)
        monkeypatch.setattr(dev.session.adapter, "write_binary_values", write)
        with pytest.raises(KeyboardInterrupt):
            dev.apply(np.full((50, 2), 0.3), 1e-3)
        # the block was sent whole before the interrupt was delivered (whether the server then ran
        # it or stopped it on the disconnect that followed is the server's business)
        assert sent == [1]
        assert dev.n_reconnects == 1  # its reply was never read: a fresh session for the safe state
        _assert_safe(srv.port)
        dev.close()


def test_driver_query_is_one_deferred_transaction(known_handlers, monkeypatch) -> None:
    from pymeasure.test import expected_protocol

    from hardware.drivers import Smu2450

    with expected_protocol(Smu2450, [(':READ? "defbuffer1",READ', "-2.5E-01"), (":OUTP OFF", None)]) as smu:
        # Ctrl-C between the query and its reply
        monkeypatch.setattr(smu.adapter, "read", _sigint_before(smu.adapter.read))
        with pytest.raises(KeyboardInterrupt):
            smu.step({None: None})
        monkeypatch.undo()
        smu.write(":OUTP OFF")  # the next exchange finds the session in sync (the protocol checks it)


def test_safe_state_read_back_names_the_channels(monkeypatch) -> None:
    with serve_emulator(StarDevice()) as srv:
        dev = EmulatedDevice(srv.port, mode="list")
        dev.apply(np.array([[0.3, 0.0]]), 1e-3)
        monkeypatch.setattr(dev, "_ramp_and_switch_off", lambda: None)  # an instrument that ignores it
        with pytest.raises(SafeStateError, match=r"safe state not reached: read back output still ON on "
                                                 r"in0 \(channel 1\), in1 \(channel 2\); source level 0\.3 V "
                                                 r"on in0 \(channel 1\) \(expected every output off"):
            dev.safe_state()
        monkeypatch.undo()
        dev.close()
        _assert_safe(srv.port)


# ---------------------------------------------------------------------------- SIGINT / SIGTERM, end to end
_CLIENT = textwrap.dedent("""
    import sys
    import numpy as np
    from hardware import EmulatedDevice
    port, mode, n_steps = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    v = np.full((n_steps, 2), 0.3)
    v[:, 1] = -0.2
    dev = None
    for line in sys.stdin:
        if dev is not None:
            dev.close()
        if line.strip() == "quit":
            break
        dev = EmulatedDevice(port, mode=mode, block_steps=int(line), timeout_s=10.0, reconnect_backoff_s=0.0)
        try:
            print("go", flush=True)
            dev.apply(v, 1e-3)
            outcome = "completed"
        except KeyboardInterrupt:
            outcome = "KeyboardInterrupt"
        except BaseException as exc:
            outcome = type(exc).__name__ + ": " + str(exc).replace(chr(10), " ")
        print(outcome, flush=True)
""")

# (block_steps, delay after the client announced the apply in s, signal): block steps of 37 take
# ~40 ms on the server, so the delays land in the write, in the wait for the reply and between
# blocks; a block of 1000 steps (~1 s) is still running on the server when the client aborts.
_TRIALS = {
    "block": [(37, 0.025, "INT"), (37, 0.041, "INT"), (37, 0.067, "INT"), (37, 0.093, "INT"),
              (37, 0.131, "INT"), (37, 0.177, "INT"), (1000, 0.120, "INT"), (37, 0.059, "TERM")],
    "list": [(1, 0.025, "INT"), (1, 0.038, "INT"), (1, 0.057, "INT"), (1, 0.083, "INT"),
             (1, 0.112, "INT"), (1, 0.151, "INT"), (1, 0.071, "TERM")],
}
_OUTCOME = {"INT": "KeyboardInterrupt", "TERM": "SignalTerminated: terminated by signal 15 (exit status 143)"}


@pytest.mark.parametrize("mode", ["block", "list"])
def test_signal_during_apply_leaves_the_output_off(mode, tmp_path) -> None:
    n_steps = 4000  # >= 4 s of transfer: every delay lands while the sequence is in flight
    with serve_emulator(SlowStar()) as srv:
        proc = subprocess.Popen([sys.executable, "-c", _CLIENT, str(srv.port), mode, str(n_steps)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=tmp_path, preexec_fn=_default_sigint)
        try:
            for block_steps, delay_s, sig in _TRIALS[mode]:
                started = srv.device.n_started
                proc.stdin.write(f"{block_steps}\n")
                proc.stdin.flush()
                assert proc.stdout.readline().strip() == "go", proc.stderr.read()
                time.sleep(delay_s)
                proc.send_signal(signal.SIGINT if sig == "INT" else signal.SIGTERM)
                outcome = proc.stdout.readline().strip()
                trial = f"{mode} block_steps={block_steps} SIG{sig} after {delay_s} s"
                assert outcome == _OUTCOME[sig], f"{trial}: {outcome or proc.stderr.read()}"
                assert srv.device.n_started > started, f"{trial}: no transfer was in flight"
                _assert_safe(srv.port)  # read back over a connection of our own
            proc.stdin.write("quit\n")
            proc.stdin.flush()
            assert proc.wait(timeout=30) == 0
            err = proc.stderr.read()
            assert "could not reach the safe state" not in err and "Traceback" not in err, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
