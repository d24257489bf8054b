"""The one instrument session: held by the drivers and the emulator client; its protocol behaviour."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from pymeasure.adapters import ProtocolAdapter
from pymeasure.test import expected_protocol
from pyvisa.util import to_ieee_block

import hardware
from hardware import EmulatedDevice, InstrumentConnectionError, InstrumentError, StarDevice, serve_emulator
from hardware._session import InstrumentSession
from hardware.drivers import Keithley707B, Smu2450, Smu2600

HARDWARE = Path(hardware.__file__).parent


def _count_transactions(session: InstrumentSession) -> list[str]:
    """Wrap ``session.transaction`` on the instance; return the list it appends each ``what`` to."""
    seen: list[str] = []
    transaction = session.transaction

    def counting(what: str):
        seen.append(what)
        return transaction(what)

    session.transaction = counting  # type: ignore[method-assign]
    return seen


# ---------------------------------------------------------------------------- who holds it
@pytest.mark.parametrize("driver", [Smu2450, Smu2600, Keithley707B])
def test_drivers_hold_the_session_and_every_exchange_goes_through_it(driver) -> None:
    with expected_protocol(driver, [("*IDN?", "KEITHLEY"), ("X", None), ("Y?", "1.0,2.0")]) as inst:
        assert type(inst.session) is InstrumentSession
        assert inst.adapter is inst.session.adapter and inst.in_sync
        seen = _count_transactions(inst.session)
        assert inst.values("*IDN?", cast=str) == ["KEITHLEY"]  # a PyMeasure property's path
        inst.write("X")
        np.testing.assert_array_equal(inst.session.query_floats("Y?", 2), [1.0, 2.0])
    assert seen == ["query '*IDN?'", "write 'X'", "query 'Y?'"]


def test_driver_channels_talk_through_the_instruments_session() -> None:
    with expected_protocol(Smu2600, [("print(smua.source.output)", "1.00000e+00")]) as smu:
        seen = _count_transactions(smu.session)
        assert smu.ch_a.output_enabled is True
    assert seen == ["query 'print(smua.source.output)'"]


def test_the_emulator_client_holds_the_same_session_class() -> None:
    with serve_emulator(StarDevice()) as srv, EmulatedDevice(srv.port, mode="list") as dev:
        assert type(dev.session) is InstrumentSession
        assert dev.session.name == dev.resource_name and dev.session.in_sync and dev.session.tcp_nodelay
        seen = _count_transactions(dev.session)
        dev.read()
        assert seen == ["write 'OUTP ON'", "query 'MEAS?'"]
    assert not dev.session.is_open


def _classes(path: Path) -> dict[str, set[str]]:
    """``{class name: names its body defines}`` of the module at ``path`` (read, not imported)."""
    return {node.name: {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)}


def _names(path: Path) -> set[str]:
    """The names the code of the module at ``path`` uses or imports (docstrings left out)."""
    tree = ast.parse(path.read_text())
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            used |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            used |= {n.module or ""} | {a.name for a in n.names}
    return used


def test_there_is_one_session_implementation() -> None:
    assert importlib.util.find_spec("hardware._scpi_client") is None
    modules = sorted(HARDWARE.rglob("*.py"))
    # the low-level I/O (transactions, replies, blocks, the error queue) is defined by the session only
    low_level = {"transaction", "_transaction", "_link", "_io", "lost", "_lost", "query", "_query", "_write",
                 "floats", "_floats", "_parse", "query_floats", "query_block", "_block_exchange",
                 "read_block", "_read_block", "_drain_errors", "_next_error", "_raise_queued", "_open",
                 "_close_connection"}
    clients = [*sorted((HARDWARE / "drivers").glob("*.py")), HARDWARE / "backends" / "emulated.py",
               HARDWARE / "backends" / "lab.py"]
    for client in clients:
        for cls, defined in _classes(client).items():
            assert not defined & low_level, f"{client}:{cls} defines {sorted(defined & low_level)}"
    assert {cls for m in modules for cls in _classes(m)} >= {"InstrumentSession"}
    assert not {"_SessionIO", "ScpiSession"} & {cls for m in modules for cls in _classes(m)}
    # signal deferral around I/O and the VISA transport live in the session (and the Device template)
    deferring = {m.name for m in modules if {"defer_signals", "abort_on_signals"} & _names(m)}
    assert deferring == {"_session.py", "device.py"}
    transport = {m.name for m in modules if {"pyvisa", "pymeasure.adapters"} & _names(m)}
    assert transport == {"_session.py"}


# ---------------------------------------------------------------------------- sync, replies, blocks
def test_a_failed_exchange_leaves_the_session_out_of_sync_until_it_is_reopened() -> None:
    s = InstrumentSession(ProtocolAdapter([("MEAS?", "1.0,OVERFLOW"), ("MEAS?", "1.0, 2.0")]), name="inst")
    with pytest.raises(InstrumentConnectionError, match=r"^inst: malformed reply to MEAS\?: '1\.0,OVERFLOW'"):
        s.query_floats("MEAS?", 2)
    assert not s.in_sync
    np.testing.assert_array_equal(s.query_floats("MEAS?", 2), [1.0, 2.0])  # comma and/or whitespace
    assert not s.in_sync  # an exchange that completes later does not vouch for the reply stream
    with pytest.raises(InstrumentConnectionError, match="cannot reconnect: the session holds a Protocol"):
        s.reconnect()
    assert s.is_open


@pytest.mark.parametrize("dialect, queue", [
    ("scpi", [("SYST:ERR?", '-222,"Data out of range"'), ("SYST:ERR?", '0,"No error"')]),
    ("tsp", [("print(errorqueue.count)", "1.00000e+00"),
             ("print(errorqueue.next())", '-222.00000e+00\t"Data out of range"'),
             ("print(errorqueue.count)", "0.00000e+00")]),
])
def test_an_empty_reply_raises_the_queued_error_in_either_dialect(dialect, queue) -> None:
    s = InstrumentSession(ProtocolAdapter([("MEAS?", ""), *queue]), name="inst", error_queue=dialect)
    with pytest.raises(InstrumentError, match=r"^inst: instrument error -222 after 'MEAS\?': Data out of"):
        s.query_floats("MEAS?", 2)
    assert s.in_sync  # the reply of a failed query was read whole


def test_an_empty_reply_with_an_empty_queue_is_a_lost_session() -> None:
    s = InstrumentSession(ProtocolAdapter([("MEAS?", ""), ("SYST:ERR?", '0,"No error"')]), name="inst")
    with pytest.raises(InstrumentConnectionError, match=r"empty reply to 'MEAS\?' with an empty error queue"):
        s.query_floats("MEAS?", 2)
    assert not s.in_sync


def test_binary_block_exchange() -> None:
    levels = np.array([0.1, -0.2])
    cmd = "BLOCK:BIN? 0.001,1,"
    sent = cmd.encode() + to_ieee_block(levels, "d", False)
    rows = np.array([1.5, -2.5, 3.0])
    s = InstrumentSession(ProtocolAdapter([
        (sent, b"#224" + rows.astype("<f8").tobytes() + b"\n"),
        (sent, b"\n"),  # a failed query: an empty line, the error is queued
        ("SYST:ERR?", '-200,"Execution error; compliance trip"'), ("SYST:ERR?", '0,"No error"'),
        (sent, b"#3abc"),
    ]), name="inst")
    np.testing.assert_array_equal(s.query_block(cmd, levels), rows)
    assert s.in_sync
    with pytest.raises(InstrumentError, match=r"-200 after 'BLOCK:BIN\? 0\.001,1,': Execution error; comp"):
        s.query_block(cmd, levels)
    assert s.in_sync
    with pytest.raises(InstrumentConnectionError, match=r"^inst: malformed block length b'abc'$"):
        s.query_block(cmd, levels)
    assert not s.in_sync


def test_addresses_that_cannot_be_opened_or_reached_are_connection_errors() -> None:
    with pytest.raises(InstrumentConnectionError, match=r"^bench: cannot open 'TCPIP::127\.0\.0\.1::x::"):
        InstrumentSession("TCPIP::127.0.0.1::x::SOCKET", name="bench", visa_library="@py")
    # pyvisa-py opens a socket resource without waiting for the connection: the refusal is the
    # failure of the first exchange
    s = InstrumentSession("TCPIP::127.0.0.1::1::SOCKET", name="bench", visa_library="@py")
    with pytest.raises(InstrumentConnectionError, match=r"^bench: query '\*IDN\?' failed: "):
        s.query("*IDN?")
    assert s.is_open and not s.in_sync
    s.close()
    with pytest.raises(InstrumentConnectionError, match=r"^bench: query '\*IDN\?': not connected"):
        s.query("*IDN?")
