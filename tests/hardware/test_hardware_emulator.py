"""SCPI emulator: protocol, emulated == simulated numbers, fault injection, HDF5 streaming, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import nwphys
from hardware import (
    EmulatedDevice,
    HardwareValidationError,
    InstrumentConnectionError,
    InstrumentError,
    MeasurementFileError,
    StarDevice,
    read_measurement,
    record,
    serve_emulator,
)
from hardware.scpi.emulator import ScpiInstrument

REPO = Path(__file__).resolve().parents[2]
INPUTS, OUTPUTS, GROUND = ["E00", "E03"], ["E11", "E12", "E21"], ["E33"]


@pytest.fixture(scope="module")
def device_file(tmp_path_factory) -> Path:
    net = nwphys.generate(
        n_wires=500, size_um=(60.0, 60.0), length_mean_um=12.0, length_std_um=2.0, electrodes="mea4x4", seed=1
    )
    p = tmp_path_factory.mktemp("dev") / "dev.h5"
    nwphys.save_network(net, p)
    return p


def _sim(path, **kw):
    from hardware import SimulatedDevice

    return SimulatedDevice(path, inputs=INPUTS, outputs=OUTPUTS, ground=GROUND, **kw)


# ---------------------------------------------------------------------------- protocol (no sockets)
def _ask(instr: ScpiInstrument, line: str) -> str | None:
    r = instr.execute(line)
    return None if r is None else r.decode().rstrip("\n")


def test_protocol_identification_levels_errors() -> None:
    instr = ScpiInstrument(StarDevice(("a", "b"), ("o",), ("g",), max_abs_V=2.0))
    assert _ask(instr, "*IDN?").startswith("nanowire-hil,NWHIL-EMU,StarDevice-4ch,")
    assert _ask(instr, "CHAN:COUN?") == "4"
    assert _ask(instr, "CHAN3:DEF?") == "o,output,2.0,0.1"
    assert _ask(instr, ":source2:voltage 0.25;SOUR2:VOLT?") == "0.25"  # long form, compound line
    assert _ask(instr, "SOUR1:VOLT 2.5") is None
    assert _ask(instr, "SYST:ERR?").startswith(
        '-222,"Data out of range; voltage 2.5 V at step 0 on electrode'
    )
    assert _ask(instr, "SOUR3:VOLT 0.1") is None
    assert _ask(instr, "SYST:ERR?").startswith('-221,"Settings conflict; channel 3 (o) is not an input')
    assert _ask(instr, "FROB:NICATE 1") is None
    assert _ask(instr, "SYST:ERR?") == "-113,\"Undefined header; 'FROB:NICATE 1'\""
    assert _ask(instr, "LIST:STEP? 0.001,0.1,0.1") == ""  # outputs off: failed query -> empty line
    assert _ask(instr, "SYST:ERR?") == '-221,"Settings conflict; output off on a, b"'
    assert _ask(instr, "SYST:ERR?") == '0,"No error"'
    for _ in range(40):
        instr.execute("BOGUS")
    assert _ask(instr, "SYST:ERR:COUN?") == "32"
    assert instr.errors[-1][0] == -350


def test_protocol_per_sample_list_and_block_agree() -> None:
    v = np.random.default_rng(0).uniform(-1, 1, (6, 2))
    rows = {}
    for mode in ("sample", "list", "block"):
        instr = ScpiInstrument(StarDevice(("a", "b"), ("o",), ("g",)))
        instr.execute("OUTP ON")
        if mode == "block":
            out = _ask(instr, "BLOCK:ASC? 0.001,6," + ",".join(repr(x) for x in v.ravel().tolist()))
            rows[mode] = np.array([float(x) for x in out.split(",")]).reshape(6, -1)
        elif mode == "list":
            rows[mode] = np.array(
                [
                    [float(x) for x in _ask(instr, f"LIST:STEP? 0.001,{a!r},{b!r}").split(",")]
                    for a, b in v.tolist()
                ]
            )
        else:
            instr.execute("TRIG:DT 0.001")
            r = []
            for a, b in v.tolist():
                instr.execute(f"SOUR1:VOLT {a!r};SOUR2:VOLT {b!r}")
                instr.execute("INIT")
                q = [
                    _ask(instr, c)
                    for c in (
                        "FETC:TIME?",
                        "FETC1:VOLT?",
                        "FETC2:VOLT?",
                        "FETC3:VOLT?",
                        "FETC1:CURR?",
                        "FETC2:CURR?",
                        "FETC4:CURR?",
                        "FETC:COMP?",
                    )
                ]
                r.append([float(x) for x in q])
            rows[mode] = np.array(r)
    np.testing.assert_array_equal(rows["sample"], rows["list"])
    np.testing.assert_array_equal(rows["list"], rows["block"])


def test_loopback_only() -> None:
    with pytest.raises(HardwareValidationError, match=r"host must be an IPv4 loopback address.*'0\.0\.0\.0'"):
        serve_emulator(StarDevice(), host="0.0.0.0")


# ---------------------------------------------------------------------------- emulated == simulated
@pytest.mark.parametrize("mode", ["block", "list", "sample"])
def test_emulated_returns_the_simulated_numbers(device_file, mode) -> None:
    kw = dict(read_noise_V=1e-3, adc_bits=16, settling_tau_s=5e-4, seed=11, compliance_policy="record")
    v = np.random.default_rng(2).uniform(-1, 1, (12 if mode == "sample" else 60, 2))
    with _sim(device_file, **kw) as ref:
        want = [ref.apply(v, 1e-3), ref.read(), ref.apply(v[::-1], 2e-3)]
    with (
        serve_emulator(_sim(device_file, **kw)) as srv,
        EmulatedDevice(srv.port, mode=mode, block_steps=25, compliance_policy="record") as dev,
    ):
        got = [dev.apply(v, 1e-3), dev.read(), dev.apply(v[::-1], 2e-3)]
        assert dev.metadata["tcp_nodelay"] is True
    for g, w in zip(got, want, strict=True):
        for name in ("t_s", "input_V", "output_V", "input_current_A", "ground_current_A", "compliance"):
            np.testing.assert_array_equal(getattr(g, name), getattr(w, name), err_msg=name)


# ---------------------------------------------------------------------------- faults
def test_instrument_error_queue_raises_with_code_and_text() -> None:
    with serve_emulator(StarDevice()) as srv:
        srv.instrument.push_error(-200, "Execution error; stale")
        with pytest.raises(InstrumentError, match="reported error -200 at set-up: Execution error; stale"):
            EmulatedDevice(srv.port)
        with EmulatedDevice(srv.port, clear_errors=True) as dev:
            dev.session.write("FROB")
            with pytest.raises(InstrumentError, match=r"instrument error -113: Undefined header; 'FROB'"):
                dev.check_errors()


def test_delayed_replies_within_and_beyond_timeout() -> None:
    v = np.full((5, 2), 0.3)
    want = StarDevice().apply(v, 1e-3)
    with (
        serve_emulator(StarDevice()) as srv,
        EmulatedDevice(srv.port, mode="list", timeout_s=1.0, reconnect_backoff_s=0.0) as dev,
    ):
        srv.faults.delay_s = 0.02
        np.testing.assert_array_equal(dev.apply(v, 1e-3).output_V, want.output_V)
        srv.faults.delay_s, srv.faults.delay_n = 1.5, 1
        with pytest.raises(
            InstrumentConnectionError,
            match="VI_ERROR_TMO.*reconnected and read back "
            r"output_on=True, levels_V=\[0.3, 0.3\]",
        ):
            dev.apply(v, 1e-3)
        srv.faults.delay_s = 0.0
        # the base class ramped the sources to 0 V and switched the outputs off over the new connection
        assert dev.instrument_state["output_on"] is False
        np.testing.assert_array_equal(srv.instrument.levels_V, 0.0)


def test_malformed_reply_and_dropped_connection() -> None:
    with (
        serve_emulator(StarDevice()) as srv,
        EmulatedDevice(srv.port, mode="block", timeout_s=2.0, reconnect_backoff_s=0.0) as dev,
    ):
        srv.faults.malformed_n = 1
        with pytest.raises(InstrumentConnectionError, match=r"malformed reply.*no binary block header"):
            dev.apply(np.full((3, 2), 0.1), 1e-3)
        srv.faults.drop_after = 1
        with pytest.raises(InstrumentConnectionError, match="reconnected and read back output_on=True"):
            dev.apply(np.full((3, 2), 0.2), 1e-3)
        assert dev.n_reconnects == 2
        m = dev.apply(np.full((3, 2), 0.2), 1e-3)  # usable again
        assert m.n_steps == 3


def test_server_gone_reconnect_bounded() -> None:
    srv = serve_emulator(StarDevice())
    dev = EmulatedDevice(srv.port, reconnect_attempts=2, reconnect_backoff_s=0.0, timeout_s=1.0)
    srv.stop()
    with pytest.raises(
        InstrumentConnectionError, match=r"reconnect failed after 2 attempt.*may still be sourcing"
    ):
        dev.apply(np.full((3, 2), 0.1), 1e-3)
    with pytest.raises(InstrumentConnectionError, match="may still be sourcing"):
        dev.close()  # the device is released, and the caller learns that it may still be sourcing
    assert dev.closed


# ---------------------------------------------------------------------------- HDF5 streaming
def test_record_streams_chunks_and_reads_back(tmp_path) -> None:
    v = np.random.default_rng(0).uniform(-1, 1, (103, 2))
    p = tmp_path / "m.h5"
    m = record(StarDevice(), v, 1e-3, p, chunk_steps=25)
    back, info = read_measurement(p)
    assert info["status"] == "complete" and info["n_complete"] == 103 and info["dt_s"] == 1e-3
    for name in ("t_s", "input_V", "output_V", "input_current_A", "ground_current_A", "compliance"):
        np.testing.assert_array_equal(getattr(back, name), getattr(m, name))
    assert info["metadata"]["backend"] == "StarDevice"
    with pytest.raises(MeasurementFileError, match="exists; pass force=True"):
        record(StarDevice(), v, 1e-3, p)
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(MeasurementFileError, match="cannot read"):
        read_measurement(tmp_path / "x.h5")


def test_writer_aborted_batch_keeps_completed_chunks(tmp_path) -> None:
    from hardware import LimitError, MeasurementWriter

    v = np.full((100, 2), 0.5)
    v[60, 0] = 50.0  # the third batch (steps 50..74) is out of range
    dev = StarDevice()
    with (
        pytest.raises(LimitError, match="step 10 on electrode 'in0' exceeds its limit"),
        MeasurementWriter.for_device(tmp_path / "a.h5", dev, chunk_steps=25) as w,
    ):
        for s in range(0, 100, 25):
            w.append(dev.apply(v[s : s + 25], 1e-3))
    back, info = read_measurement(tmp_path / "a.h5")
    assert info["status"] == "aborted" and info["n_complete"] == 50
    assert info["message"].startswith("LimitError: voltage 50.0 V at step 10")
    np.testing.assert_array_equal(back.input_V, v[:50])


_CLIENT = textwrap.dedent("""
    import sys, time, numpy as np
    from hardware import EmulatedDevice, record
    port, path = int(sys.argv[1]), sys.argv[2]
    dev = EmulatedDevice(port, mode="list", reconnect_attempts=1, reconnect_backoff_s=0.0, timeout_s=2.0)
    v = np.full((100000, 2), 0.2)
    def progress(done, total):
        print(done, flush=True)
    record(dev, v, 1e-3, path, chunk_steps=50, progress=progress)
""")


def _default_sigint() -> None:
    """Child-process set-up: SIGINT at its default, so that Python turns it into KeyboardInterrupt.

    A shell without job control starts background jobs with SIGINT ignored, and children inherit
    that; these tests model a user pressing Ctrl-C on a normal terminal.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_cli(device_file: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nwhil",
            "emulator",
            "serve",
            str(device_file),
            "--port",
            "0",
            "--inputs",
            *INPUTS,
            "--outputs",
            *OUTPUTS,
            "--ground",
            *GROUND,
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        preexec_fn=_default_sigint,
    )
    line = proc.stdout.readline()
    assert "SOCKET" in line, line + proc.stderr.read()
    return proc, int(line.split("::")[2])


@pytest.mark.slow
def test_cli_serve_same_numbers_and_clean_ctrl_c(device_file) -> None:
    proc, port = _start_cli(device_file)
    try:
        v = np.random.default_rng(4).uniform(-1, 1, (30, 2))
        with EmulatedDevice(port) as dev:
            got = dev.apply(v, 1e-3)
        want = _sim(device_file, seed=3).apply(v, 1e-3)
        np.testing.assert_array_equal(got.output_V, want.output_V)
        proc.send_signal(signal.SIGINT)
        # stopped cleanly, and the exit status of an interrupted command, as documented
        assert proc.wait(timeout=20) == 130
        err = proc.stderr.read()
        assert "emulator stopped" in err and "nwhil: interrupted" in err and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_emulator_killed_mid_run_file_says_where_it_stopped(device_file, tmp_path) -> None:
    proc, port = _start_cli(device_file)
    out = tmp_path / "run.h5"
    client = subprocess.Popen(
        [sys.executable, "-c", _CLIENT, str(port), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        for _ in range(3):  # three chunks done
            assert client.stdout.readline().strip()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert client.wait(timeout=60) == 1
        assert "InstrumentConnectionError" in client.stderr.read()
    finally:
        for p in (proc, client):
            if p.poll() is None:
                p.kill()
    back, info = read_measurement(out)
    assert info["status"] == "aborted" and "reconnect failed" in info["message"]
    assert info["n_complete"] >= 150 and info["n_complete"] % 50 == 0
    np.testing.assert_array_equal(back.t_s, 1e-3 * np.arange(info["n_complete"]))


@pytest.mark.slow
def test_client_killed_mid_run_loses_at_most_one_chunk(tmp_path) -> None:
    out = tmp_path / "run.h5"
    script = textwrap.dedent("""
        import sys, numpy as np
        from hardware import StarDevice, record
        def progress(done, total):
            print(done, flush=True)
            if done >= 200:
                import time; time.sleep(60)
        record(StarDevice(), np.full((1000, 2), 0.2), 1e-3, sys.argv[1], chunk_steps=50, progress=progress)
    """)
    client = subprocess.Popen(
        [sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        while client.stdout.readline().strip() != "200":
            pass
        time.sleep(0.2)
        os.kill(client.pid, signal.SIGKILL)
        client.wait(timeout=10)
    finally:
        if client.poll() is None:
            client.kill()
    back, info = read_measurement(out)
    assert info["status"] == "running"  # never closed: the run was killed
    assert info["n_complete"] == 200
    np.testing.assert_array_equal(back.input_V, 0.2)
