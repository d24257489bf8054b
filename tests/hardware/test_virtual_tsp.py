"""The virtual bench with a Keithley 2600B and a 707B: the real TSP drivers against simulated physics.

A 2600B sources the input (channel ``a``, E00) and the ground (channel ``b``, E11) of a 4-pad
device, a 2450 reads the output E01 as a voltmeter, and a 707B routes each electrode through one
crosspoint. The drivers reach the virtual instruments through pyvisa-py on loopback; LabDevice is
paced by the bench's simulated clock, so every run is deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest
from _benches import ROUTES, bench_network, tsp_map

from hardware import LimitError, SimulatedDevice
from hardware.drivers import Keithley707B, Smu2600
from hardware.virtual import VirtualBench

RTOL, ATOL = 1e-6, 1e-8  # physics tolerances of both sides
NPLC = 0.001
APERTURE_S = NPLC / 50.0  # 20 us per reading


@pytest.fixture(scope="module")
def net():
    return bench_network()


_map = tsp_map


def _bench(net, channel_map: dict, latency_s: float = 0.0) -> VirtualBench:
    return VirtualBench(net, channel_map, latency_s=latency_s, nplc=NPLC, rtol=RTOL, atol=ATOL)


def _open(bench: VirtualBench, name: str, cls: type):
    return cls(bench.servers[name].resource_name, visa_library="@py", read_termination="\n",
               write_termination="\n")


def _drive(n: int = 12) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1.0, 1.0, (n, 1))


def _printed(x: np.ndarray, digits: int = 6) -> np.ndarray:
    """``x`` as a 2600B prints it by default: ``digits`` significant digits, read back as floats."""
    return np.array([float(f"{t:.{digits - 1}e}") for t in np.ravel(x)]).reshape(np.shape(x))


def _simulated(net, v: np.ndarray, dt_s: float, outputs=("E01",), ground=("E11",)):
    sim = SimulatedDevice(net, inputs=["E00"], outputs=list(outputs), ground=list(ground), max_abs_V=2.0,
                          rtol=RTOL, atol=ATOL)
    return sim.apply(v, dt_s)


def test_the_virtual_2600b_speaks_tsp_in_the_instruments_formats(net) -> None:
    inst = _bench(net, _map()).instruments["smu"]
    assert inst.execute("*IDN?") == b"Keithley Instruments Inc., Model 2636B, VIRTUAL, nanowire-hil\n"
    assert inst.execute("print(errorqueue.count)") == b"0.00000e+00\n"
    # a chunk is compiled before it runs: an unknown statement runs nothing of it
    assert inst.execute("smua.source.rangev=2.0 smua.source.levelv=0.5 bogus(") is None
    assert inst.channel("a").level_V == 0.0 and inst.channel("a").range_V == 20.0
    assert inst.execute("print(errorqueue.count)") == b"1.00000e+00\n"
    assert inst.execute("print(errorqueue.next())") == (
        b"-2.85000e+02\t\"TSP Syntax error at line 1: unexpected symbol near 'bogus('\"\n")
    # a statement that fails while it runs ends its chunk there; the print it held answers empty
    chunk = ("smua.source.rangev=2.0 smua.source.levelv=0.5 smua.source.levelv=2.5 "
             "smua.source.levelv=0.25 print(smua.source.levelv)")
    assert inst.execute(chunk) == b"\n"
    assert inst.execute("print(smua.source.levelv)") == b"5.00000e-01\n"  # 6 significant digits
    assert inst.execute("print(errorqueue.next())").startswith(b"-2.22000e+02\t\"Data out of range")
    assert inst.execute("print(errorqueue.next())") == b'0.00000e+00\t"Queue is Empty"\n'
    # one line per print; a voltmeter refuses a non-zero current
    assert inst.execute("smub.source.output=1 print(smua.source.output) print(smub.source.output)") == (
        b"0.00000e+00\n1.00000e+00\n")
    assert inst.execute("smub.source.func=smub.OUTPUT_DCAMPS smub.source.leveli=1e-06") is None
    assert inst.channel("b").function == "CURR"
    assert inst.execute("print(errorqueue.next())").startswith(b"-2.21000e+02\t")
    assert inst.execute("print(never_set,ia)") == b"nil\tnil\n"
    assert inst.execute("reset() print(smub.source.output)") == b"0.00000e+00\n"
    assert inst.channel("b").function == "VOLT"


def test_the_virtual_707b_keeps_the_benchs_crosspoints(net) -> None:
    bench = _bench(net, _map())
    mx = bench.instruments["mx"]
    assert mx.execute("*IDN?") == b"Keithley Instruments Inc., Model 707B, VIRTUAL, nanowire-hil\n"
    assert mx.execute('print(channel.getclose("allslots"))') == b"nil\n"
    assert mx.execute('channel.close("1C04,1A01") channel.close("2H12")') is None
    assert bench.closed == {"1A01", "1C04", "2H12"}
    assert mx.execute('print(channel.getclose("allslots"))') == b"1A01;1C04;2H12\n"
    assert mx.execute('channel.open("1A01") print(channel.getclose("allslots"))') == b"1C04;2H12\n"
    # a bad crosspoint closes nothing of its list and ends the chunk
    assert mx.execute('channel.close("1B02,1Z01") channel.close("1B02")') is None
    assert bench.closed == {"1C04", "2H12"}
    assert mx.execute("print(errorqueue.next())").startswith(b"-2.240000000e+02\t")  # 10 digits
    assert mx.execute('channel.open("allslots")') is None and bench.closed == set()
    assert mx.execute('channel.close("1A01") reset()') is None and bench.closed == set()
    assert mx.channels() == []


def test_lab_device_in_step_mode_reads_what_the_simulated_device_reads(net) -> None:
    v, dt = _drive(), 0.01
    with _bench(net, _map()) as bench, bench.lab_device(ramp_pause_s=0.0) as dev:
        m = dev.apply(v, dt)
    ref = _simulated(net, v, dt)
    i_scale = np.max(np.abs(ref.input_current_A))
    # Each hold ends with three readings of a 20 us aperture (a and b in one chunk, then the 2450)
    # and only then are the next levels set: every level is held 60 us (0.6 % of dt) longer than
    # in the reference. Observed 6.7e-5 (input) and 6.6e-5 (ground) of the current scale and
    # 1.2e-7 V; the tolerances leave 4x of margin. A reading one step early is off by 0.8 V.
    np.testing.assert_allclose(m.input_current_A, ref.input_current_A, rtol=0, atol=3e-4 * i_scale)
    np.testing.assert_allclose(m.ground_current_A, ref.ground_current_A, rtol=0, atol=3e-4 * i_scale)
    np.testing.assert_allclose(m.output_V, ref.output_V, rtol=0, atol=5e-7)
    # the source's read-back is the level it held, printed with 6 significant digits
    np.testing.assert_array_equal(m.input_V, _printed(v))
    assert np.max(np.abs(m.output_V[1:] - ref.output_V[:-1])) > 0.1


def test_an_open_route_cuts_its_electrode_off_and_the_safe_state_opens_every_route(net) -> None:
    v, dt = _drive(4), 0.01
    with _bench(net, _map()) as bench, bench.lab_device(ramp_pause_s=0.0) as dev:
        mx = dev.instruments["mx"]
        assert mx.closed_channels == sorted(ROUTES.values())
        assert np.min(np.abs(dev.apply(v, dt).input_current_A)) > 1e-4  # routed: mA flow
        # by hand: every crosspoint open, then all but the input's closed again
        mx.open_all()
        mx.close_channels([ROUTES["E01"], ROUTES["E11"]])
        assert mx.closed_channels == [ROUTES["E01"], ROUTES["E11"]]  # a query: the writes have run
        assert bench.closed == {ROUTES["E01"], ROUTES["E11"]}
        m = dev.apply(v, dt)
        np.testing.assert_array_equal(m.input_current_A, 0.0)  # the source reaches nothing
        np.testing.assert_array_equal(m.input_V, _printed(v))
        assert np.max(np.abs(m.ground_current_A)) < 1e-12 and np.max(np.abs(m.output_V)) < 1e-9
        smu = bench.instruments["smu"]
        assert smu.channel("a").level_V == v[-1, 0] != 0.0 and smu.channel("a").output_on
        dev.safe_state()  # ramps from the read-back level, switches off, opens, reads back
        assert mx.closed_channels == [] and bench.closed == set()
        for ch in (*smu.channels(), bench.instruments["vm"].channel(None)):
            assert not ch.output_on and ch.level_V == 0.0
        drv = dev.instruments["smu"]
        assert [drv.channel(c).output_enabled for c in "ab"] == [False, False]
        assert [drv.channel(c).source_voltage for c in "ab"] == [0.0, 0.0]


def test_list_mode_on_a_2600b_channel_reads_at_the_end_of_each_delay(net) -> None:
    v, dt = _drive(8), 0.005
    cm = {"instruments": {"smu": {"driver": "keithley2600"}},
          "electrodes": [{"name": "E00", "role": "input", "smu": "smu", "channel": "a", "max_abs_V": 2.0,
                          "compliance_A": 0.5}]}
    with _bench(net, cm) as bench, bench.lab_device(mode="list", ramp_pause_s=0.0) as dev:
        t0 = bench.clock.now()
        m = dev.apply(v, dt)
        times = np.array([t for t, key in bench.reading_log if t > t0 and key == "smu/a"])
        # per point: source, wait the timer's delay, read (one aperture); the next point follows
        np.testing.assert_allclose(times, t0 + (dt + APERTURE_S) * np.arange(1, 9), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(m.input_V[:, 0], _printed(v[:, 0]))
        # the counter electrode on the LO terminal is not modelled: nothing returns the current
        ref = _simulated(net, v, dt + APERTURE_S, outputs=(), ground=())
        np.testing.assert_array_equal(ref.input_current_A, 0.0)
        np.testing.assert_array_equal(m.input_current_A, ref.input_current_A)
        assert bench.instruments["smu"].channel("a").level_V == 0.0  # back to its idle level


def test_a_list_sweep_against_a_grounded_channel_follows_the_physics(net) -> None:
    v, dt = _drive(8), 0.005
    with _bench(net, _map()) as bench, bench.lab_device(ramp_pause_s=0.0) as dev:
        smu = dev.instruments["smu"]
        smu.outputs(True)  # b holds E11 at 0 V: the sweep on a drives current through the device
        smu.write("format.asciiprecision=16")  # all the digits a print gives (see below)
        vi = smu.run_list(v[:, 0], dt, "a")
        assert smu.check_errors() == []
    # Every point holds dt + one aperture (its reading) before the next level, and the bench
    # integrates each point in one piece of that length: a SimulatedDevice stepped at that interval
    # reads the same, observed to 3e-16 of the current scale. The tolerance is numerical noise; it
    # is well below the 3e-6 by which the same sweep read without its apertures (steps of dt) differs.
    # The buffers are printed with 16 significant digits (5e-16 relative): at the default 6 (5e-6
    # relative) that 3e-6 could not be told from the rounding.
    ref = _simulated(net, v, dt + APERTURE_S)
    i_scale = np.max(np.abs(ref.input_current_A))
    np.testing.assert_allclose(vi[:, 0], v[:, 0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(vi[:, 1], ref.input_current_A[:, 0], rtol=0, atol=1e-9 * i_scale)


def test_the_drivers_read_the_queued_errors_and_refuse_a_level_beyond_the_range(net) -> None:
    with _bench(net, _map()) as bench:
        smu, mx = _open(bench, "smu", Smu2600), _open(bench, "mx", Keithley707B)
        try:
            assert mx.id == "Keithley Instruments Inc., Model 707B, VIRTUAL, nanowire-hil"
            inst = bench.instruments["smu"]
            smu.write("smua.source.levelv=0.5 smua.sauce.levelv=0.5")
            assert smu.check_errors() == [
                (-285, "TSP Syntax error at line 1: unexpected symbol near 'smua.sauce.levelv=0.'")]
            assert smu.check_errors() == [] and inst.channel("a").level_V == 0.0
            mx.close_channels(["1A01", "9Z99"])
            assert [code for code, _ in mx.check_errors()] == [-224] and mx.closed_channels == []
            # the driver refuses a level outside the configured range before anything is sent
            smu.configure("a", "source_v", 1e-3, 1.0)
            smu.configure("b", "source_v", 1e-3, 1.0)
            assert smu.check_errors() == []  # a query: the configuration has run
            n = inst.n_messages
            with pytest.raises(LimitError):
                smu.channel("a").source_voltage = 1.5
            assert inst.n_messages == n and inst.channel("a").level_V == 0.0
            # one chunk sets both channels and reads both: what goes in at a comes out at b
            mx.close_channels([ROUTES["E00"], ROUTES["E11"]])
            smu.outputs(True)
            r = smu.step({"a": 0.5, "b": 0.0})
            assert r["a"][0] == 0.5 and r["b"][0] == 0.0 and r["a"][1] > 1e-4
            assert abs(r["a"][1] + r["b"][1]) < 1e-6 * r["a"][1]
            assert smu.check_errors() == [] and mx.check_errors() == []
        finally:
            smu.session.close()
            mx.session.close()


@pytest.mark.parametrize("routed", [True, False])
def test_a_sweep_waits_its_timer_only_when_the_trigger_model_routes_it(net, routed) -> None:
    # 2600BS-901-01 Rev. F, p. 9-267: the measurement waits for nothing unless its stimulus is set
    bench = _bench(net, _map())
    inst = bench.instruments["smu"]
    inst.execute("smua.source.output=1")
    chunk = ("smua.trigger.source.listv({0.1,0.2,0.3}) smua.trigger.source.action=smua.ENABLE "
             "smua.trigger.measure.iv(smua.nvbuffer1,smua.nvbuffer2) smua.trigger.measure.action=smua.ENABLE "
             "smua.trigger.count=3 trigger.timer[1].delay=0.01 ")
    if routed:
        chunk += ("trigger.timer[1].count=1 trigger.timer[1].stimulus=smua.trigger.SOURCE_COMPLETE_EVENT_ID "
                  "smua.trigger.measure.stimulus=trigger.timer[1].EVENT_ID ")
    t0 = bench.clock.now()
    inst.execute(chunk + "smua.trigger.initiate() waitcomplete()")
    reads = np.array([t for t, key in bench.reading_log if key == "smu/a"]) - t0
    step = (0.01 if routed else 0.0) + APERTURE_S
    np.testing.assert_allclose(reads, step * np.arange(1, 4), rtol=0, atol=1e-12)
