"""The virtual bench with Keithley 2450s: the real drivers and LabDevice against simulated physics.

Three 2450s (an input source, a voltmeter, a ground source) on a 4-pad device, reached through
pyvisa-py on loopback. The bench's physics is a SimulatedDevice; LabDevice is paced by the
bench's simulated clock, so every run is deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest
from _benches import bench_network

from hardware import ComplianceError, InstrumentConnectionError, InstrumentError, SimulatedDevice
from hardware.clock import SimulatedClock
from hardware.virtual import VirtualBench

RTOL, ATOL = 1e-6, 1e-8  # physics tolerances of both sides


@pytest.fixture(scope="module")
def net():
    return bench_network()


def _map(compliance_A: float = 0.5) -> dict:
    return {
        "instruments": {"s1": {"driver": "keithley2450"}, "s2": {"driver": "keithley2450"},
                        "s3": {"driver": "keithley2450"}},
        "electrodes": [
            {"name": "E00", "role": "input", "smu": "s1", "channel": None, "max_abs_V": 2.0,
             "compliance_A": compliance_A},
            {"name": "E01", "role": "output", "smu": "s2", "channel": None, "max_abs_V": 2.0},
            {"name": "E11", "role": "ground", "smu": "s3", "channel": None, "max_abs_V": 2.0,
             "compliance_A": 0.5},
        ],
    }


def _drive(n: int = 12) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1.0, 1.0, (n, 1))


def _simulated(net, v: np.ndarray, dt_s: float):
    sim = SimulatedDevice(net, inputs=["E00"], outputs=["E01"], ground=["E11"], max_abs_V=2.0,
                          rtol=RTOL, atol=ATOL)
    return sim.apply(v, dt_s)


def test_lab_device_reads_at_the_end_of_each_hold_as_the_simulated_device_does(net) -> None:
    v, dt = _drive(), 0.01
    with VirtualBench(net, _map(), latency_s=0.0, nplc=0.001, rtol=RTOL, atol=ATOL) as bench:
        with bench.lab_device(ramp_pause_s=0.0) as dev:
            m = dev.apply(v, dt)
    ref = _simulated(net, v, dt)
    i_scale = np.max(np.abs(ref.input_current_A))
    # Each reading integrates a 20 us aperture after its hold (nplc 0.001 at 50 Hz), one instrument
    # after the other, and the physics is integrated in those pieces: observed 4.9e-4 of the current
    # scale and 1.4e-5 V. The tolerances leave 4x and 7x of margin.
    np.testing.assert_allclose(m.input_current_A, ref.input_current_A, rtol=0, atol=2e-3 * i_scale)
    np.testing.assert_allclose(m.ground_current_A, ref.ground_current_A, rtol=0, atol=2e-3 * i_scale)
    np.testing.assert_allclose(m.output_V, ref.output_V, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(m.input_V, v)  # the source's read-back is the level it held
    # a reading one step early (at the start of each hold) would be far outside those tolerances
    assert np.max(np.abs(m.output_V[1:] - ref.output_V[:-1])) > 0.1


def test_each_reading_is_taken_at_the_end_of_its_hold_on_the_bench_clock(net) -> None:
    v, dt, lat, nplc = _drive(6), 0.05, 1e-3, 0.5
    aperture = nplc / 50.0
    with VirtualBench(net, _map(), latency_s=lat, nplc=nplc) as bench:
        with bench.lab_device(ramp_pause_s=0.0) as dev:
            t0 = bench.clock.now()  # after the set-up exchanges
            dev.apply(v, dt)
        log = [(t, key) for t, key in bench.reading_log if t > t0]
    reads = {key: np.array([t for t, k in log if k == key]) for key in ("s1", "s2", "s3")}
    # the hold of step 0 starts when its levels are written (writes cost no time)
    start = t0
    np.testing.assert_allclose(reads["s1"], start + dt * np.arange(1, 7) + lat + aperture, rtol=0, atol=1e-12)
    # the others are read one exchange after another, before any level of the next step is set
    np.testing.assert_allclose(reads["s2"] - reads["s1"], lat + aperture, rtol=0, atol=1e-12)
    np.testing.assert_allclose(reads["s3"] - reads["s2"], lat + aperture, rtol=0, atol=1e-12)


def test_the_bench_clock_shows_the_time_a_run_takes_on_instruments(net) -> None:
    v, dt = _drive(10), 0.1
    with VirtualBench(net, _map(), latency_s=1e-3, nplc=1.0) as bench:
        with bench.lab_device(ramp_pause_s=0.0) as dev:
            t0 = bench.clock.now()
            dev.apply(v, dt)
            t1 = bench.clock.now()
    # ten holds of 0.1 s, the last step's three readings (a 1 ms round trip and a 20 ms aperture
    # each) and the three error-queue queries after the series; writes cost the host no time
    assert t1 - t0 == pytest.approx(10 * dt + 3 * (1e-3 + 0.02) + 3 * 1e-3, abs=1e-9)


def test_a_dropped_connection_mid_series_reaches_the_safe_state(net) -> None:
    with VirtualBench(net, _map(), latency_s=1e-4, nplc=0.01) as bench:
        dev = bench.lab_device(ramp_pause_s=0.0)
        try:
            bench.servers["s1"].faults.drop_after = 8  # a lost link in the middle of the series
            with pytest.raises(InstrumentConnectionError):
                dev.apply(_drive(), 0.01)
            # LabDevice reconnected, ramped to 0 V and switched every output off, and read that back
            for name in ("s1", "s2", "s3"):
                ch = bench.instruments[name].channel(None)
                assert not ch.output_on and ch.level_V == 0.0
        finally:
            dev.close()


def test_a_queued_instrument_error_stops_the_series_in_the_safe_state(net) -> None:
    with VirtualBench(net, _map(), latency_s=1e-4, nplc=0.01) as bench:
        with bench.lab_device(ramp_pause_s=0.0) as dev:
            bench.instruments["s3"].push_error(-310, "System error")
            with pytest.raises(InstrumentError, match=r"-310.*System error"):
                dev.apply(_drive(), 0.01)
            assert not any(ch.output_on for inst in bench.instruments.values() for ch in inst.channels())


def test_compliance_is_flagged_per_reading_and_raises_in_the_safe_state(net) -> None:
    v = np.full((4, 1), 1.5)
    ref = _simulated(net, v, 0.01)
    limit = 0.5 * float(np.max(np.abs(ref.input_current_A)))
    with VirtualBench(net, _map(compliance_A=limit), latency_s=0.0, nplc=0.001) as bench:
        with bench.lab_device(ramp_pause_s=0.0, compliance_policy="record") as dev:
            m = dev.apply(v, 0.01)
            assert m.compliance[:, 0].tolist() == (np.abs(m.input_current_A[:, 0]) >= limit).tolist()
            assert m.compliance.any()
            dev.compliance_policy = "raise"
            with pytest.raises(ComplianceError):
                dev.apply(v, 0.01)
            assert not bench.instruments["s1"].channel(None).output_on


def test_the_virtual_2450_refuses_what_a_2450_refuses(net) -> None:
    bench = VirtualBench(net, _map())
    inst = bench.instruments["s1"]
    assert inst.execute(":SOUR:VOLT:RANG 2.0;:SOUR:VOLT:LEV 5.0") is None
    assert inst.execute(":BOGUS:HEADER 1;SYST:ERR?").decode().startswith("-222,")  # the level, first
    assert inst.execute("SYST:ERR?").decode().startswith("-113,")
    assert inst.execute("SYST:ERR?") == b'0,"No error"\n'
    assert inst.execute(":SOUR:VOLT:LEV?") == b"0.0\n"  # nothing was set
    # a source list takes 100 values per command and 2500 in all (2450-901-01 Rev. B, p. 6-78)
    hundred = ",".join(["0.1"] * 100)
    assert inst.execute(":SOUR:LIST:VOLT " + hundred + ",0.1;SYST:ERR?").decode().startswith("-223,")
    assert inst.execute(":SOUR:LIST:VOLT " + hundred) is None
    for _ in range(24):
        assert inst.execute(":SOUR:LIST:VOLT:APP " + hundred) is None
    assert inst.execute(":SOUR:LIST:VOLT:APP 0.1;SYST:ERR?").decode().startswith("-223,")
    assert len(inst.sweep_levels) == 2500


def test_simulated_clock_only_moves_when_told() -> None:
    c = SimulatedClock()
    c.sleep(0.25)
    c.sleep(-1.0)  # a wait already past costs nothing
    assert c.advance(0.5) == c.now() == 0.75
    with pytest.raises(ValueError, match="seconds must be in"):
        c.advance(-1.0)


def test_a_drive_after_the_safe_state_closes_the_matrix_routes_again(net) -> None:
    cmap = _map()
    cmap["instruments"]["mx"] = {"driver": "keithley707b"}
    for k, e in enumerate(cmap["electrodes"]):
        e["route"] = [f"1{'ABC'[k]}0{k + 1}"]
    v = np.full((3, 1), 0.5)
    with VirtualBench(net, cmap, latency_s=0.0, nplc=0.001) as bench:
        with bench.lab_device(ramp_pause_s=0.0) as dev:
            first = dev.apply(v, 0.01)
            dev.reset()  # the safe state: outputs off, 0 V, matrix open
            assert bench.closed == set()
            again = dev.apply(v, 0.01)
            assert bench.closed == {"1A01", "1B02", "1C03"}
    # the routes were closed again: the source drives the network (before, it read 0 A)
    assert np.all(np.abs(again.input_current_A) > 0.5 * np.abs(first.input_current_A).min())


# ---------------------------------------------------------------------------- faults end safe
FAULT_STEP = 15  # in the second chunk of 10 steps


def _inject(bench: VirtualBench, kind: str):
    """A hook on the host's pacing waits that injects ``kind`` before step FAULT_STEP is read."""
    import signal

    waits = {"n": 0}

    def before_sleep() -> None:
        bench.sync()
        waits["n"] += 1
        if waits["n"] != FAULT_STEP + 1:
            return
        if kind == "instrument error":
            bench.instruments["s2"].push_error(-363, "Input buffer overrun")
        elif kind == "timeout":
            bench.servers["s3"].faults.delay_s, bench.servers["s3"].faults.delay_n = 2.5, 1
        elif kind == "dropped connection":
            bench.servers["s1"].faults.drop_after = 0
        elif kind == "compliance":
            bench.instruments["s1"].channel(None).ilim_A = 1e-9
        elif kind == "ctrl-c":
            signal.raise_signal(signal.SIGINT)

    bench.clock.before_sleep = before_sleep


@pytest.mark.parametrize(("kind", "error"), [
    ("instrument error", InstrumentError),
    ("timeout", InstrumentConnectionError),
    ("dropped connection", InstrumentConnectionError),
    ("compliance", ComplianceError),
    ("ctrl-c", KeyboardInterrupt),
])
def test_faults_end_in_the_read_back_safe_state_with_the_data_up_to_the_fault_kept(
    net, tmp_path, kind, error
) -> None:
    import signal

    from hardware import read_measurement, record

    v = _drive(40)
    with VirtualBench(net, _map(), latency_s=1e-4, nplc=0.01) as bench:
        with bench.lab_device(ramp_pause_s=0.0) as dev:
            whole = dev.apply(v, 0.01)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with VirtualBench(net, _map(), latency_s=1e-4, nplc=0.01) as bench:
            dev = bench.lab_device(ramp_pause_s=0.0)
            try:
                _inject(bench, kind)
                with pytest.raises(error):
                    record(dev, v, 0.01, tmp_path / "run.h5", chunk_steps=10)
                # LabDevice read back outputs off and 0 V (it raises SafeStateError otherwise);
                # the instruments agree
                for inst in bench.instruments.values():
                    assert all(not ch.output_on and ch.level_V == 0.0 for ch in inst.channels())
            finally:
                bench.clock.before_sleep = bench.sync
                dev.close()
    finally:
        signal.signal(signal.SIGINT, old)
    m, info = read_measurement(tmp_path / "run.h5")
    assert info["status"] == "aborted" and info["n_complete"] == 10
    # the chunk before the fault, as the run without a fault measured it
    np.testing.assert_allclose(m.input_current_A, whole.input_current_A[:10], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(m.output_V, whole.output_V[:10], rtol=1e-9, atol=1e-12)


def test_output_electrodes_multiplexed_onto_one_voltmeter_are_read_in_turn(net) -> None:
    cmap = {
        "instruments": {"s1": {"driver": "keithley2450"}, "vm": {"driver": "keithley2450"},
                        "s3": {"driver": "keithley2450"}, "mx": {"driver": "keithley707b"}},
        "electrodes": [
            {"name": "E00", "role": "input", "smu": "s1", "channel": None, "route": ["1A01"],
             "max_abs_V": 2.0, "compliance_A": 0.5},
            {"name": "E10", "role": "output", "smu": "vm", "channel": None, "route": ["1B02"],
             "max_abs_V": 2.0},
            {"name": "E11", "role": "output", "smu": "vm", "channel": None, "route": ["1B03"],
             "max_abs_V": 2.0},
            {"name": "E01", "role": "ground", "smu": "s3", "channel": None, "route": ["1C04"],
             "max_abs_V": 2.0, "compliance_A": 0.5},
        ],
    }
    v, dt, settle, lat, nplc = _drive(8), 0.01, 1e-4, 0.0, 0.001
    with VirtualBench(net, cmap, latency_s=lat, nplc=nplc, rtol=RTOL, atol=ATOL) as bench:
        with bench.lab_device(ramp_pause_s=0.0, switch_settle_s=settle) as dev:
            assert dev.output_names == ("E10", "E11")
            t0 = bench.clock.now()
            m = dev.apply(v, dt)
        vm = np.array([t for t, key in bench.reading_log if key == "vm" and t > t0])
    ref = SimulatedDevice(net, inputs=["E00"], outputs=["E10", "E11"], ground=["E01"], max_abs_V=2.0,
                          rtol=RTOL, atol=ATOL).apply(v, dt)
    # the two outputs are different electrodes, each read at the end of its step's hold (the second
    # one settle + aperture later): they agree with the simulated device to the apertures' effect
    assert np.max(np.abs(m.output_V[:, 0] - m.output_V[:, 1])) > 0.01
    np.testing.assert_allclose(m.output_V, ref.output_V, rtol=0, atol=1e-4)
    # the voltmeter reads each electrode in turn: the second a settling time and an aperture later
    aperture = nplc / 50.0
    np.testing.assert_allclose(vm[1::2] - vm[0::2], settle + aperture, rtol=0, atol=1e-12)


def _shared_ground_map() -> dict:
    return {
        "instruments": {"s1": {"driver": "keithley2450"}, "s2": {"driver": "keithley2450"}},
        "electrodes": [
            {"name": "E00", "role": "input", "smu": "s1", "channel": None, "max_abs_V": 2.0,
             "compliance_A": 0.5},
            {"name": "E10", "role": "output", "smu": "s2", "channel": None, "max_abs_V": 2.0},
            {"name": "E01", "role": "ground"},  # on the bench's common ground: no SMU, not read
        ],
    }


def test_a_ground_on_the_common_ground_is_held_at_0_V_and_not_read(net) -> None:
    v, dt = _drive(8), 0.01
    with VirtualBench(net, _shared_ground_map(), latency_s=0.0, nplc=0.001, rtol=RTOL, atol=ATOL) as bench:
        with bench.lab_device(ramp_pause_s=0.0) as dev:
            assert dev.ground_names == () and dev.shared_ground == ("E01",)
            m = dev.apply(v, dt)
    ref = SimulatedDevice(net, inputs=["E00"], outputs=["E10"], ground=["E01"], max_abs_V=2.0, rtol=RTOL,
                          atol=ATOL).apply(v, dt)
    assert m.ground_current_A.shape == (8, 0)
    i_scale = np.max(np.abs(ref.input_current_A))
    np.testing.assert_allclose(m.input_current_A, ref.input_current_A, rtol=0, atol=2e-3 * i_scale)
    np.testing.assert_allclose(m.output_V, ref.output_V, rtol=0, atol=1e-4)


def test_list_mode_on_a_two_terminal_bench_with_a_long_list(net) -> None:
    cmap = _shared_ground_map()
    cmap["electrodes"] = [cmap["electrodes"][0], cmap["electrodes"][2]]
    del cmap["instruments"]["s2"]
    v, dt, nplc = _drive(250), 1e-3, 0.001
    with VirtualBench(net, cmap, latency_s=0.0, nplc=nplc, rtol=RTOL, atol=ATOL) as bench:
        with bench.lab_device(mode="list", ramp_pause_s=0.0) as dev:
            m = dev.apply(v, dt)  # 250 points: sent as 100 + 100 + 50 (the 2450 takes 100 per command)
    # per point the 2450 sources, waits dt, then reads over its aperture: a hold of dt + aperture
    ref = SimulatedDevice(net, inputs=["E00"], outputs=[], ground=["E01"], max_abs_V=2.0, rtol=RTOL,
                          atol=ATOL).apply(v, dt + nplc / 50.0)
    np.testing.assert_allclose(m.input_current_A, ref.input_current_A, rtol=0,
                               atol=1e-6 * np.max(np.abs(ref.input_current_A)))
    np.testing.assert_array_equal(m.input_V[:, 0], v[:, 0])


def test_a_reading_waits_out_the_source_delay_after_its_level_changed(net) -> None:
    delay, nplc, dt = 5e-3, 0.01, 0.05
    aperture = nplc / 50.0
    with VirtualBench(net, _map(), latency_s=0.0, nplc=nplc, source_delay_s=delay) as bench:
        with bench.lab_device(ramp_pause_s=0.0) as dev:
            t0 = bench.clock.now()
            dev.apply(_drive(3), dt)
            steps = [t for t, key in bench.reading_log if key == "s1" and t > t0]
    # readings at the end of a hold: the level changed dt ago, so no wait
    np.testing.assert_allclose(np.diff(steps), dt, rtol=0, atol=1e-12)
    assert steps[0] == pytest.approx(t0 + dt + aperture, abs=1e-12)
    # a set-and-read in one message: the aperture starts the source delay after the set
    s1 = bench.instruments["s1"]
    s1.execute("OUTP ON")
    t1 = bench.clock.now()
    s1.execute(':SOUR:VOLT:LEV 0.25;:READ? "defbuffer1",SOUR,READ')
    assert bench.reading_log[-1] == (pytest.approx(t1 + s1.latency_s + delay + aperture, abs=1e-12), "s1")
    s1.execute(':READ? "defbuffer1",SOUR,READ')  # the level is settled: no further wait
    assert bench.reading_log[-1][0] == pytest.approx(t1 + delay + 2 * aperture, abs=1e-12)


# ---------------------------------------------------------------------------- the safe state, per instrument
def _two_inputs() -> dict:
    return {
        "instruments": {"s1": {"driver": "keithley2450"}, "s2": {"driver": "keithley2450"},
                        "s3": {"driver": "keithley2450"}},
        "electrodes": [
            {"name": "E00", "role": "input", "smu": "s1", "channel": None, "max_abs_V": 2.0,
             "compliance_A": 0.5},
            {"name": "E10", "role": "input", "smu": "s2", "channel": None, "max_abs_V": 2.0,
             "compliance_A": 0.5},
            {"name": "E11", "role": "ground", "smu": "s3", "channel": None, "max_abs_V": 2.0,
             "compliance_A": 0.5},
        ],
    }


def _outputs(bench) -> dict:
    return {n: [(c.output_on, c.level_V) for c in inst.channels()] for n, inst in bench.instruments.items()}


def test_one_unreachable_instrument_does_not_keep_the_others_sourcing(net) -> None:
    """The link to one SMU is lost for good: every other SMU is still ramped to 0 V, switched off and
    read back, and the error names the one that may still be sourcing (close raises it too)."""
    with VirtualBench(net, _two_inputs(), latency_s=0.0, nplc=0.001) as bench:
        dev = bench.lab_device(ramp_pause_s=0.0)
        dev.apply(np.array([[1.5, 1.2]]), 0.01)
        bench.servers["s1"].stop()
        with pytest.raises(InstrumentConnectionError,
                           match=r"safe state not reached: could not make safe or read back "
                                 r"s1 \(E00 \(s1\)\): .*\(it may still be sourcing\); "
                                 r"the others \(s2, s3\) were ramped, switched off"):
            dev.safe_state()
        state = _outputs(bench)
        assert state["s2"] == [(False, 0.0)] and state["s3"] == [(False, 0.0)]
        assert state["s1"] == [(True, 1.5)]  # the instrument itself keeps sourcing: it was unreachable
        # a socket that opens with nothing answering behind it is no reconnect
        assert dev.instruments["s1"].session.n_reconnects == 0
        with pytest.raises(InstrumentConnectionError, match="could not make safe or read back s1"):
            dev.close()
        assert dev.closed


def test_a_device_whose_outputs_stay_on_raises_on_close(net, monkeypatch) -> None:
    """Leaving a ``with`` block (or calling close) raises when the read-back shows an output on; when
    another error is already leaving the block, that error propagates with the failure noted on it."""
    from hardware.drivers import Smu2450
    from hardware.errors import SafeStateError

    with VirtualBench(net, _two_inputs(), latency_s=0.0, nplc=0.001) as bench:
        outputs = Smu2450.outputs
        monkeypatch.setattr(Smu2450, "outputs", lambda self, on, channels=None: (
            outputs(self, on, channels) if on else None))  # relays that do not switch off
        with pytest.raises(SafeStateError, match=r"output still ON on E00 \(s1\), E10 \(s2\), E11 \(s3\)"):
            with bench.lab_device(ramp_pause_s=0.0) as dev:
                dev.apply(np.array([[1.5, 1.2]]), 0.01)
        assert dev.closed
    with VirtualBench(net, _two_inputs(), latency_s=0.0, nplc=0.001) as bench:
        with pytest.raises(ZeroDivisionError) as info:
            with bench.lab_device(ramp_pause_s=0.0) as dev:
                dev.apply(np.array([[1.5, 1.2]]), 0.01)
                1 / 0  # noqa: B018
        assert dev.closed
        assert any("could not reach the safe state" in n and "output still ON" in n
                   for n in getattr(info.value, "__notes__", []))


def test_a_2600_channel_no_electrode_uses_is_never_switched_on(net) -> None:
    """A drive switches on only the channels of the map; the safe state switches every channel off
    and reads the unused ones back too."""
    cmap = {"instruments": {"smu": {"driver": "keithley2600"}, "g": {"driver": "keithley2450"}},
            "electrodes": [
                {"name": "E00", "role": "input", "smu": "smu", "channel": "a", "max_abs_V": 2.0,
                 "compliance_A": 0.5},
                {"name": "E11", "role": "ground", "smu": "g", "channel": None, "max_abs_V": 2.0,
                 "compliance_A": 0.5}]}
    with VirtualBench(net, cmap, latency_s=0.0, nplc=0.001) as bench:
        a, b = bench.instruments["smu"].channel("a"), bench.instruments["smu"].channel("b")
        b.level_V = 5.0  # left on the unused channel, beyond the map's limits
        with bench.lab_device(ramp_pause_s=0.0) as dev:
            dev.apply(np.array([[0.5]]), 0.01)
            assert a.output_on and not b.output_on
            b.output_on = True  # switched on by hand, behind the device's back
            dev.safe_state()  # switches it off and reads it back
            assert not b.output_on and not a.output_on and a.level_V == 0.0


def test_ctrl_c_during_a_reset_still_ends_with_every_output_off(net, monkeypatch) -> None:
    """The bench's reset is its safe state plus a relaxation wait: Ctrl-C half way through its ramp
    waits until the ramp and switch-off have finished, and is then raised."""
    import signal

    from hardware.drivers import Smu2450

    with VirtualBench(net, _two_inputs(), latency_s=0.0, nplc=0.001) as bench:
        dev = bench.lab_device(ramp_pause_s=0.0)
        dev.apply(np.array([[1.5, 1.2]]), 0.01)
        calls = []
        set_levels_raw = Smu2450.set_levels_raw

        def interrupted(self, levels):
            set_levels_raw(self, levels)
            calls.append(levels)
            if len(calls) == 6:
                signal.raise_signal(signal.SIGINT)  # Ctrl-C in the middle of the ramp to 0 V

        monkeypatch.setattr(Smu2450, "set_levels_raw", interrupted)
        with pytest.raises(KeyboardInterrupt):
            dev.reset()
        assert len(calls) > 6  # the ramp went on to its end
        assert all(ch == [(False, 0.0)] for ch in _outputs(bench).values())
        dev.close()


def test_a_ground_source_in_compliance_is_flagged_per_reading_and_raises(net) -> None:
    """A ground SMU at its current limit no longer holds its electrode at 0 V: its trip bit is kept
    per reading (``ground_compliance``), counted, and raises under the default policy."""
    from hardware import ComplianceError

    cmap = {"instruments": {"s1": {"driver": "keithley2450"}, "s3": {"driver": "keithley2450"}},
            "electrodes": [
                {"name": "E00", "role": "input", "smu": "s1", "channel": None, "max_abs_V": 2.0,
                 "compliance_A": 0.5},
                {"name": "E11", "role": "ground", "smu": "s3", "channel": None, "max_abs_V": 2.0,
                 "compliance_A": 1e-6}]}
    v = np.array([[1.0], [1.0]])
    with VirtualBench(net, cmap, latency_s=0.0, nplc=0.001) as bench:
        with bench.lab_device(ramp_pause_s=0.0, compliance_policy="record") as dev:
            m = dev.apply(v, 0.01)
            assert bench.instruments["s3"].channel(None).tripped
            assert m.ground_compliance.tolist() == [[True], [True]] and not m.compliance.any()
            assert dev.n_compliance == 2
            dev.compliance_policy = "raise"
            with pytest.raises(ComplianceError, match=r"compliance hit on ground electrode 'E11' at step 0 .*"
                                                      r"it was not held at 0 V"):
                dev.apply(v, 0.01)
            assert all(ch == [(False, 0.0)] for ch in _outputs(bench).values())


def test_a_source_left_on_is_ramped_down_before_set_up(net, monkeypatch, caplog) -> None:
    """Configuring a channel sets its level to 0 V at once: a level left on is ramped down first."""
    from hardware.drivers import Smu2450

    with VirtualBench(net, _two_inputs(), latency_s=0.0, nplc=0.001) as bench:
        ch = bench.instruments["s1"].channel(None)
        ch.output_on, ch.level_V = True, 1.5  # left sourcing by an earlier session that crashed
        sent = []
        set_levels_raw = Smu2450.set_levels_raw
        monkeypatch.setattr(Smu2450, "set_levels_raw", lambda self, lv: (sent.append(lv[None]),
                                                                          set_levels_raw(self, lv)))
        with caplog.at_level("WARNING", logger="hardware.backends.lab"):
            dev = bench.lab_device(ramp_pause_s=0.0)
        assert "found output on at s1 (1.5 V); source level 1.5 V on E00 (s1) at set-up" in caplog.text
        # the channel found on is ramped first, then the safe state finds every source at 0 V
        np.testing.assert_allclose(sent[:10], 1.5 * np.arange(9, -1, -1) / 10, rtol=1e-15, atol=0)
        assert not any(sent[10:])
        assert (ch.output_on, ch.level_V) == (False, 0.0)
        dev.apply(np.array([[0.5, 0.2]]), 0.01)  # and the device works as usual
        dev.close()


def test_a_matrix_crosspoint_left_closed_is_read_back(net, monkeypatch) -> None:
    """The safe state reads the switch matrix back too: a crosspoint that stays closed is named."""
    from _benches import tsp_map

    from hardware.drivers import Keithley707B
    from hardware.errors import SafeStateError

    with VirtualBench(net, tsp_map(), latency_s=0.0, nplc=0.001) as bench:
        dev = bench.lab_device(ramp_pause_s=0.0)
        dev.apply(np.array([[0.5]]), 0.01)
        monkeypatch.setattr(Keithley707B, "open_all", lambda self: None)  # a stuck relay card
        with pytest.raises(SafeStateError, match=r"crosspoints .* still closed on mx \(expected every output "
                                                 r"off and every source at 0 V, every crosspoint open\)"):
            dev.safe_state()
        monkeypatch.undo()
        dev.close()


def test_set_up_ramps_every_channel_left_on_and_defers_ctrl_c(net, monkeypatch) -> None:
    """A channel left on at set-up is ramped whatever the map uses it for (an unused 2600 channel, a
    channel the map reads as a voltmeter), and Ctrl-C half way waits until the bench is safe."""
    import signal

    from hardware.drivers import Smu2450, Smu2600

    cmap = {"instruments": {"smu": {"driver": "keithley2600"}, "vm": {"driver": "keithley2450"},
                            "g": {"driver": "keithley2450"}},
            "electrodes": [
                {"name": "E00", "role": "input", "smu": "smu", "channel": "a", "max_abs_V": 2.0,
                 "compliance_A": 0.5},
                {"name": "E10", "role": "output", "smu": "vm", "channel": None, "max_abs_V": 2.0},
                {"name": "E11", "role": "ground", "smu": "g", "channel": None, "max_abs_V": 2.0,
                 "compliance_A": 0.5}]}
    sent: list[dict] = []
    for cls in (Smu2450, Smu2600):
        def record(self, levels, _set=cls.set_levels_raw):
            _set(self, levels)
            sent.append(dict(levels))
            if len(sent) == 6:
                signal.raise_signal(signal.SIGINT)  # Ctrl-C during the set-up ramp
        monkeypatch.setattr(cls, "set_levels_raw", record)
    with VirtualBench(net, cmap, latency_s=0.0, nplc=0.001) as bench:
        b, vm = bench.instruments["smu"].channel("b"), bench.instruments["vm"].channel(None)
        b.output_on, b.level_V = True, 1.5  # the unused channel, left sourcing
        vm.output_on, vm.level_V = True, 1.5  # the voltmeter's channel, left sourcing voltage
        with pytest.raises(KeyboardInterrupt):
            bench.lab_device(ramp_pause_s=0.0)
        bench.sync()
        assert (b.output_on, b.level_V) == (False, 0.0) and (vm.output_on, vm.level_V) == (False, 0.0)
        ramp_b = [lv["b"] for lv in sent if "b" in lv]
        np.testing.assert_allclose(ramp_b, 1.5 * np.arange(9, -1, -1) / 10, rtol=1e-15, atol=0)
