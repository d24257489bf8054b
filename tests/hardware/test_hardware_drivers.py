"""Instrument drivers at the protocol level: PyMeasure expected_protocol and pyvisa-sim instruments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvisa_sim  # noqa: F401  (a test dependency: the "@sim" VISA library)
from pymeasure.test import expected_protocol

from hardware import HardwareValidationError, InstrumentConnectionError, InstrumentError, LimitError
from hardware._instrument import drain_errors, ramp_to_zero
from hardware.backends.lab import LabDevice, load_channel_map
from hardware.drivers import Keithley707B, Smu2450, Smu2600
from hardware.errors import SafeStateError

SIM = Path(__file__).parent / "sim_instruments" / "bench.yaml"


def test_707b_protocol() -> None:
    with expected_protocol(Keithley707B, [
        ('channel.open("allslots")', None),
        ('channel.close("1A01,1B02")', None),
        ('print(channel.getclose("allslots"))', "1A01;1B02"),
        ("print(errorqueue.count)", "1.00000e+00"),
        ("print(errorqueue.next())", '-285.00000e+00\t"TSP Syntax error"'),
        ("print(errorqueue.count)", "0.00000e+00"),
    ]) as inst:
        inst.open_all()
        inst.close_channels(["1A01", "1B02"])
        assert inst.closed_channels == ["1A01", "1B02"]
        assert inst.check_errors() == [(-285, "TSP Syntax error")]


def test_2450_step_sends_exact_levels_and_parses_compliance() -> None:
    with expected_protocol(Smu2450, [
        (':SOUR:VOLT:LEV 0.1234567890123;:READ? "defbuffer1",SOUR,READ;:SOUR:VOLT:ILIM:TRIP?',
         "1.234567890123E-01,1.0E-03,1"),
        (':READ? "defbuffer1",READ', "-2.5E-01"),
    ]) as smu:
        assert smu.step({None: 0.1234567890123}) == {None: (0.1234567890123, 1e-3, True)}
        assert smu.step({None: None}) == {None: (-0.25, 0.0, False)}


def test_2450_long_list_sweeps_are_sent_in_groups_of_100() -> None:
    levels = np.arange(250) * 1e-3
    text = [repr(float(x)) for x in levels]
    with expected_protocol(Smu2450, [
        (':TRAC:CLE "defbuffer1";:SOUR:LIST:VOLT ' + ",".join(text[:100]), None),
        (":SOUR:LIST:VOLT:APP " + ",".join(text[100:200]), None),
        (":SOUR:LIST:VOLT:APP " + ",".join(text[200:]), None),
        (":SOUR:SWE:VOLT:LIST 1,0.001", None),
        (":INIT;*WAI", None),
        (':TRAC:DATA? 1,250,"defbuffer1",SOUR,READ', ",".join(f"{x},0.0" for x in text)),
    ]) as smu:
        out = smu.run_list(levels, 1e-3)
    np.testing.assert_array_equal(out[:, 0], levels)
    with expected_protocol(Smu2450, []) as smu, pytest.raises(LimitError, match="1 to 2500 points, got 2501"):
        smu.run_list(np.zeros(2501), 1e-3)


def test_2450_reads_the_held_level_then_sets_the_next_in_one_exchange() -> None:
    # the reading of a step at the end of its hold, and the next step's level right after it
    with expected_protocol(Smu2450, [
        (":SOUR:VOLT:LEV 0.25", None),
        (':READ? "defbuffer1",SOUR,READ;:SOUR:VOLT:ILIM:TRIP?;:SOUR:VOLT:LEV -0.5', "2.5E-01,1.0E-03;0"),
        (':READ? "defbuffer1",SOUR,READ;:SOUR:VOLT:ILIM:TRIP?', "-5.0E-01,-2.0E-03;1"),
    ]) as smu:
        smu.ch.mode = "source_v"
        smu.set_levels({None: 0.25})
        assert smu.measure({None: -0.5}) == {None: (0.25, 1e-3, False)}
        assert smu.measure({None: None}) == {None: (-0.5, -2e-3, True)}


def test_2600_list_sweep_routes_timer_1_between_source_and_measurement() -> None:
    cmd = ("smub.nvbuffer1.clear() smub.nvbuffer2.clear() smub.trigger.source.listv({0.1,0.2}) "
           "smub.trigger.source.action=smub.ENABLE smub.trigger.measure.iv(smub.nvbuffer1,smub.nvbuffer2) "
           "smub.trigger.measure.action=smub.ENABLE smub.trigger.count=2 trigger.timer[1].delay=0.005 "
           "trigger.timer[1].count=1 trigger.timer[1].stimulus=smub.trigger.SOURCE_COMPLETE_EVENT_ID "
           "smub.trigger.measure.stimulus=trigger.timer[1].EVENT_ID smub.trigger.initiate() waitcomplete()")
    with expected_protocol(Smu2600, [
        (cmd, None),
        ("printbuffer(1,2,smub.nvbuffer2.readings,smub.nvbuffer1.readings)",
         "1.00000e-01, 1.00000e-06, 2.00000e-01, 2.00000e-06"),
    ]) as smu:
        out = smu.run_list(np.array([0.1, 0.2]), 0.005, channel="b")
    np.testing.assert_array_equal(out, [[0.1, 1e-6], [0.2, 2e-6]])


def test_2600_reads_both_channels_before_setting_the_next_levels() -> None:
    with expected_protocol(Smu2600, [
        ("smua.source.levelv=0.5 smub.source.levelv=0.0", None),
        ("ia,va=smua.measure.iv() ca=smua.source.compliance and 1 or 0 "
         "ib,vb=smub.measure.iv() cb=smub.source.compliance and 1 or 0 "
         "smua.source.levelv=-0.25 smub.source.levelv=0.0 print(va,ia,ca,vb,ib,cb)",
         "5.0e-01\t1.0e-03\t0\t0.0e+00\t-1.0e-03\t0"),
    ]) as smu:
        smu.set_levels({"a": 0.5, "b": 0.0})
        res = smu.measure({"a": -0.25, "b": 0.0})
    assert res == {"a": (0.5, 1e-3, False), "b": (0.0, -1e-3, False)}


def test_2450_list_sweep_one_round_trip_for_the_sequence() -> None:
    with expected_protocol(Smu2450, [
        (':TRAC:CLE "defbuffer1";:SOUR:LIST:VOLT 0.1,0.2,-0.1', None),
        (":SOUR:SWE:VOLT:LIST 1,0.001", None),
        (":INIT;*WAI", None),
        (':TRAC:DATA? 1,3,"defbuffer1",SOUR,READ', "0.1,1e-4,0.2,2e-4,-0.1,-1e-4"),
    ]) as smu:
        out = smu.run_list(np.array([0.1, 0.2, -0.1]), 1e-3)
    np.testing.assert_array_equal(out, [[0.1, 1e-4], [0.2, 2e-4], [-0.1, -1e-4]])


def test_2600_two_channels_one_exchange_per_step() -> None:
    cmd = ("smua.source.levelv=0.5 smub.source.levelv=0.0 "
           "ia,va=smua.measure.iv() ca=smua.source.compliance and 1 or 0 "
           "ib,vb=smub.measure.iv() cb=smub.source.compliance and 1 or 0 print(va,ia,ca,vb,ib,cb)")
    with expected_protocol(Smu2600, [(cmd, "5.0e-01\t1.0e-03\t0\t0.0e+00\t-1.0e-03\t0")]) as smu:
        res = smu.step({"a": 0.5, "b": 0.0})
    assert res == {"a": (0.5, 1e-3, False), "b": (0.0, -1e-3, False)}


def test_malformed_reply_is_a_connection_error() -> None:
    with expected_protocol(Smu2450, [(':READ? "defbuffer1",READ', "OVERFLOW")]) as smu, \
            pytest.raises(InstrumentConnectionError, match="malformed reply to READ"):
        smu.step({None: None})


@pytest.mark.parametrize("reply", ["5.0E-01,NAN;0", "5.0E-01,9.91E37;0", "5.0E-01,+9.9E+37;0",
                                   "5.0E-01,-inf;0"])
def test_an_invalid_reading_raises_instead_of_passing_as_data(reply: str) -> None:
    """NaN, infinities and SCPI's invalid-number codes (9.9e37, 9.91e37) in a reading are an
    InstrumentError, never a number handed on (nor a reading within compliance)."""
    cmd = ':READ? "defbuffer1",SOUR,READ;:SOUR:VOLT:ILIM:TRIP?'
    with expected_protocol(Smu2450, [(cmd, reply)]) as smu, \
            pytest.raises(InstrumentError, match=r"invalid reading .* \(value 1 of the reply to READ\?"):
        smu.measure()
    assert smu.session.in_sync  # a well-formed reply: the session stays usable


def test_a_backend_reading_nan_raises_after_the_safe_state() -> None:
    from hardware.testing import StarDevice

    class NanCurrent(StarDevice):
        def _apply(self, voltages_V, dt_s):
            r = super()._apply(voltages_V, dt_s)
            if voltages_V.shape[0] == 1:
                return r
            i = r.input_current_A.copy()
            i[1, 0] = np.nan
            return r._replace(input_current_A=i)

    dev = NanCurrent()
    dev.apply(np.array([[0.3, 0.1]]), 1e-3)  # the sources hold 0.3 and 0.1 V
    safe_states = []
    safe_state = dev._safe_state
    dev._safe_state = lambda: (safe_states.append(1), safe_state())
    with pytest.raises(InstrumentError, match=r"invalid reading nan in input_current_A at step 1 on "
                                              r"electrode 'in0'"):
        dev.apply(np.array([[0.5, 0.2], [0.5, 0.2]]), 1e-3)
    assert safe_states == [1]
    np.testing.assert_array_equal(dev.bias_V, [0.0, 0.0])  # the safe state ran
    dev.close()


def test_pyvisa_sim_bench_instruments() -> None:
    lib = f"{SIM}@sim"
    mx = Keithley707B("GPIB0::16::INSTR", visa_library=lib, read_termination="\n", write_termination="\n")
    assert mx.id.startswith("KEITHLEY INSTRUMENTS INC.,MODEL 707B")
    mx.close_channels(["1A01"])
    assert mx.closed_channels == ["1A01"]
    assert mx.check_errors() == []
    smu = Smu2450("GPIB0::24::INSTR", visa_library=lib, read_termination="\n", write_termination="\n")
    assert smu.check_errors() == []
    assert smu.step({None: None}) == {None: (-0.125, 0.0, False)}  # voltmeter reading
    mx.adapter.close()
    smu.adapter.close()


CMAP = {
    "instruments": {"smu1": {"driver": "keithley2450", "address": "GPIB0::24::INSTR"},
                    "smu2": {"driver": "keithley2600", "address": "GPIB0::26::INSTR"}},
    "electrodes": [
        {"name": "E1", "role": "input", "smu": "smu1", "channel": None, "max_abs_V": 1.0,
         "compliance_A": 1e-3},
        {"name": "E2", "role": "output", "smu": "smu2", "channel": "a", "max_abs_V": 1.0},
        {"name": "E3", "role": "ground", "smu": "smu2", "channel": "b", "max_abs_V": 1.0},
    ],
}


def test_channel_map_validation() -> None:
    for bad in ("abc", True, [1.0]):  # a domain error naming the value, not a bare ValueError
        with pytest.raises(HardwareValidationError, match=r"'E1': max_abs_V must be in \(0, 210\.0\] V"):
            load_channel_map({**CMAP, "electrodes": [{**CMAP["electrodes"][0], "max_abs_V": bad}]})
    with pytest.raises(HardwareValidationError, match="channel must be 'a' or 'b' on a keithley2600"):
        load_channel_map({**CMAP, "electrodes": [{**CMAP["electrodes"][1], "channel": "c"}]})
    with pytest.raises(HardwareValidationError, match=r"keys 'instruments' and 'electrodes', got \['bogus'"):
        load_channel_map({"bogus": 1})
    with pytest.raises(HardwareValidationError, match=r"one SMU channel \(smu2/a\) to electrodes 'E2', 'E3': "
                                                       r"only output electrodes may share one"):
        load_channel_map({**CMAP, "electrodes": [CMAP["electrodes"][1],
                                                 {**CMAP["electrodes"][2], "channel": "a"}]})
    # two outputs may share a voltmeter only through a matrix
    two_outputs = [CMAP["electrodes"][1], {**CMAP["electrodes"][1], "name": "E4"}]
    with pytest.raises(HardwareValidationError, match="only output electrodes may share one"):
        load_channel_map({**CMAP, "electrodes": two_outputs})
    muxed = {"instruments": {**CMAP["instruments"], "mx": {"driver": "keithley707b"}},
             "electrodes": [{**two_outputs[0], "route": ["1A01"]}, {**two_outputs[1], "route": ["1A02"]}]}
    assert [e["name"] for e in load_channel_map(muxed)["electrodes"]] == ["E2", "E4"]
    # a ground on the bench's common ground takes no SMU, channel or route
    common = {**CMAP, "electrodes": [*CMAP["electrodes"], {"name": "E5", "role": "ground"}]}
    assert load_channel_map(common)["electrodes"][-1] == {"name": "E5", "role": "ground"}
    with pytest.raises(HardwareValidationError, match=r"'E5': a ground without an SMU channel .* no route"):
        load_channel_map({**CMAP, "electrodes": [*CMAP["electrodes"],
                                                 {"name": "E5", "role": "ground", "route": ["1A01"]}]})


def test_lab_device_limits_are_client_side() -> None:
    from pymeasure.adapters import ProtocolAdapter

    # the state left on the instruments is read first (every output off, every source at 0 V here)
    setup_2450 = [("SYST:ERR?", '0,"No error"'), ("OUTP?", "0"), (":SOUR:VOLT:LEV?", "0.0"),
                  (":SOUR:FUNC VOLT;:SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;:SOUR:VOLT:RANG 1.0;"
                   ":SOUR:VOLT:ILIM 0.001;:SOUR:VOLT:LEV 0", None),
                  ("SYST:ERR?", '0,"No error"')]
    setup_2600 = [("print(errorqueue.count)", "0"), ("print(smua.source.output)", "0"),
                  ("print(smub.source.output)", "0"), ("print(smub.source.levelv)", "0.0"),
                  ("smua.source.func=smua.OUTPUT_DCAMPS smua.source.leveli=0 smua.source.limitv=1.0 "
                   "smua.measure.autorangev=smua.AUTORANGE_ON", None),
                  ("smub.source.func=smub.OUTPUT_DCVOLTS smub.source.rangev=1.0 smub.source.limiti=0.001 "
                   "smub.measure.autorangei=smub.AUTORANGE_ON smub.source.levelv=0", None),
                  ("print(errorqueue.count)", "0")]
    a1, a2 = ProtocolAdapter(setup_2450), ProtocolAdapter(setup_2600)
    dev = LabDevice(CMAP, adapters={"smu1": a1, "smu2": a2}, pace=False)
    assert dev.input_names == ("E1",) and dev.ground_names == ("E3",)
    with pytest.raises(LimitError, match=r"voltage 1\.5 V at step 1 on electrode 'E1' exceeds its limit"):
        dev.apply(np.array([[0.5], [1.5]]), 1e-3)  # raised before any byte is sent
    assert a1._index == len(setup_2450) and a2._index == len(setup_2600)


def _one_smu_bench(address: str, compliance_A: float, **kwargs) -> LabDevice:
    """A two-terminal bench: one Keithley 2450 at ``address`` sourcing electrode E1 (list mode)."""
    cmap = {"instruments": {"smu1": {"driver": "keithley2450", "address": address}},
            "electrodes": [{"name": "E1", "role": "input", "smu": "smu1", "channel": None,
                            "max_abs_V": 1.0, "compliance_A": compliance_A}]}
    return LabDevice(cmap, mode="list", **kwargs)


def _drive_then_read_back_the_safe_state(dev: LabDevice, levels_V: np.ndarray) -> None:
    """Source ``levels_V`` on E1 through the driver, check what the SMU reads back, then reach the
    safe state and read it back through the driver (output off, source at 0 V, no queued error)."""
    m = dev.apply(levels_V[:, None], 1e-3)
    np.testing.assert_allclose(m.input_V[:, 0], levels_V, rtol=1e-3, atol=1e-4)  # the source's read-back
    assert np.all(np.abs(m.input_current_A) <= dev.electrodes[0].compliance_A)
    dev.safe_state()  # raises SafeStateError when the read-back disagrees
    smu = dev.instruments["smu1"]
    assert smu.ch.output_enabled is False
    assert smu.ch.source_voltage == 0.0
    assert smu.check_errors() == []


def test_sim_bench_drive_and_safe_state_read_back(sim_lib) -> None:
    # the bench test below on the pyvisa-sim 2450 (which answers a 0.25 V, 0.5 V sweep)
    dev = _one_smu_bench("GPIB0::25::INSTR", 1e-3, pace=False, ramp_pause_s=0.0, visa_library=sim_lib)
    try:
        _drive_then_read_back_the_safe_state(dev, np.array([0.25, 0.5]))
    finally:
        dev.close()


@pytest.mark.bench_device
def test_real_instrument_sources_a_small_voltage_and_reaches_the_safe_state(device_address) -> None:
    """Opt-in (``--device-address VISA`` of a Keithley 2450 across a two-terminal device): it
    identifies, sources 10 mV and 20 mV at a 100 uA compliance with the driver and reads them
    back, then reaches and reads back the safe state with an empty error queue."""
    dev = _one_smu_bench(device_address, 1e-4)
    try:
        assert "KEITHLEY" in dev.instruments["smu1"].ask("*IDN?").upper()
        _drive_then_read_back_the_safe_state(dev, np.array([0.01, 0.02]))
    finally:
        dev.close()


# ---------------------------------------------------------------------------- declared settings
def test_2450_channel_controls_send_exact_levels_and_refuse_out_of_range() -> None:
    with expected_protocol(Smu2450, [
        (":SOUR:FUNC VOLT;:SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;:SOUR:VOLT:RANG 1.0;"
         ":SOUR:VOLT:ILIM 0.001;:SOUR:VOLT:LEV 0", None),
        (":SOUR:VOLT:LEV 0.1234567890123", None),
        (":SOUR:VOLT:LEV?", "1.234567890123E-01"),
        ("OUTP ON", None),
        ("OUTP?", "1"),
    ]) as smu:
        smu.configure(None, "source_v", 1e-3, 1.0)
        smu.ch.source_voltage = 0.1234567890123
        assert smu.ch.source_voltage == 0.1234567890123
        with pytest.raises(LimitError, match=r"source_voltage must be in \[-1\.0, 1\.0\] V .*got 1\.5"):
            smu.ch.source_voltage = 1.5  # nothing is sent (the protocol checks it)
        smu.outputs(True)
        assert smu.ch.output_enabled is True


@pytest.mark.parametrize("level", [1.5, -1.5, float("nan"), float("inf")])
def test_every_method_that_sends_a_level_checks_it_against_the_channel_range(level: float) -> None:
    """step, set_levels, measure(next_levels) and list sweeps refuse a level outside the configured
    range (NaN and infinities too) before anything is sent (the protocol lists nothing after the
    configuration)."""
    cfg = (":SOUR:FUNC VOLT;:SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;:SOUR:VOLT:RANG 1.0;"
           ":SOUR:VOLT:ILIM 0.001;:SOUR:VOLT:LEV 0", None)
    with expected_protocol(Smu2450, [cfg]) as smu:
        smu.configure(None, "source_v", 1e-3, 1.0)
        for send in (lambda: smu.step({None: level}), lambda: smu.set_levels({None: level}),
                     lambda: smu.measure({None: level})):
            with pytest.raises(LimitError, match=r"source_voltage must be in \[-1\.0, 1\.0\] V"):
                send()
        with pytest.raises(LimitError, match=r"list point 2: source_voltage must be in \[-1\.0, 1\.0\] V"):
            smu.run_list(np.array([0.0, 0.5, level]), 1e-3)
    cfg_b = ("smub.source.func=smub.OUTPUT_DCVOLTS smub.source.rangev=1.0 smub.source.limiti=0.001 "
             "smub.measure.autorangei=smub.AUTORANGE_ON smub.source.levelv=0", None)
    with expected_protocol(Smu2600, [cfg_b]) as smu:
        smu.configure("b", "source_v", 1e-3, 1.0)
        for send in (lambda: smu.step({"a": 0.5, "b": level}), lambda: smu.set_levels({"a": 0.5, "b": level}),
                     lambda: smu.measure({"a": None, "b": level})):
            with pytest.raises(LimitError, match=r"source_voltage must be in \[-1\.0, 1\.0\] V"):
                send()
        with pytest.raises(LimitError, match="list point 1"):
            smu.run_list(np.array([0.5, level]), 1e-3, channel="b")


def test_2600_channels_are_pymeasure_channels() -> None:
    with expected_protocol(Smu2600, [
        ("smub.source.levelv=-0.25", None),
        ("print(smua.source.output)", "1.00000e+00"),
        ("smua.source.output=0", None),
        ("smub.source.output=0", None),
        ("print(smub.source.levelv)", "-2.50000e-01"),
    ]) as smu:
        assert smu.channel("a") is smu.ch_a and smu.channels["b"] is smu.ch_b
        smu.set_levels_raw({"b": -0.25})
        assert smu.ch_a.output_enabled is True
        smu.outputs(False)
        assert smu.ch_b.source_voltage == -0.25


def test_error_queues_drain_through_one_helper() -> None:
    with expected_protocol(Smu2450, [
        ("SYST:ERR?", '-113,"Undefined header; command, unknown"'),
        ("SYST:ERR?", '0,"No error"'),
    ]) as smu, pytest.raises(InstrumentError, match=r"error -113: Undefined header; command, unknown$"):
        smu.check_errors_raise()
    with expected_protocol(Smu2600, [
        ("print(errorqueue.count)", "1.00000e+00"),
        ("print(errorqueue.next())", '-285.00000e+00\t"TSP Syntax error"'),
        ("print(errorqueue.count)", "0.00000e+00"),
    ]) as smu, pytest.raises(InstrumentError, match="error -285: TSP Syntax error"):
        smu.check_errors_raise()
    # a queue that never empties does not hang the caller
    assert drain_errors(lambda: (-350, "Queue overflow"), max_errors=5) == [(-350, "Queue overflow")] * 5


def test_ramp_to_zero_ends_at_exact_zero() -> None:
    sent: list[np.ndarray] = []
    assert ramp_to_zero(np.array([0.5, -0.3]), sent.append, steps=4) == 4
    np.testing.assert_allclose(sent, [[0.375, -0.225], [0.25, -0.15], [0.125, -0.075], [0.0, 0.0]],
                               rtol=1e-15, atol=0)
    assert not np.signbit(sent[-1]).any()  # 0.0, never -0.0
    assert ramp_to_zero(np.zeros(2), sent.append, steps=4) == 0 and len(sent) == 4


# ---------------------------------------------------------------------------- LabDevice on pyvisa-sim
@pytest.fixture
def sim_lib() -> str:
    """The pyvisa-sim library of ``tests/hardware/sim_instruments/bench.yaml``."""
    return f"{SIM}@sim"


def _sim_bench(lib: str, address: str) -> LabDevice:
    cmap = {"instruments": {"smu1": {"driver": "keithley2450", "address": address}},
            "electrodes": [{"name": "E1", "role": "input", "smu": "smu1", "channel": None,
                            "max_abs_V": 1.0, "compliance_A": 1e-3}]}
    return LabDevice(cmap, mode="list", pace=False, ramp_pause_s=0.0, visa_library=lib)


def _sim_state(lib: str, address: str) -> tuple[str, float]:
    """Output state and source level of a sim instrument, read over a session of its own."""
    import pyvisa

    res = pyvisa.ResourceManager(lib).open_resource(address)
    try:
        return res.query("OUTP?").strip(), float(res.query(":SOUR:VOLT:LEV?"))
    finally:
        res.close()


def test_lab_device_safe_state_ramps_the_read_back_level_to_zero(sim_lib) -> None:
    dev = _sim_bench(sim_lib, "GPIB0::25::INSTR")
    m = dev.apply(np.array([[0.25], [0.5]]), 1e-3)
    np.testing.assert_array_equal(m.input_V, [[0.25], [0.5]])
    np.testing.assert_array_equal(m.input_current_A, [[2.5e-6], [5e-6]])
    smu = dev.instruments["smu1"]
    smu.ch.source_voltage = 0.5  # the source holds the sweep's last level
    assert _sim_state(sim_lib, "GPIB0::25::INSTR") == ("ON", 0.5)
    sent: list[float] = []
    set_levels = smu.set_levels_raw
    smu.set_levels_raw = lambda levels: (sent.append(levels[None]), set_levels(levels))
    dev.safe_state()
    np.testing.assert_allclose(sent, 0.05 * np.arange(9, -1, -1), rtol=1e-15, atol=0)
    assert all(type(v) is float for v in sent)
    assert _sim_state(sim_lib, "GPIB0::25::INSTR") == ("OFF", 0.0)
    dev.close()


def test_lab_device_safe_state_read_back_names_the_electrode(sim_lib) -> None:
    # output stays on, source stuck at 0.25 V: found at set-up, and the safe state cannot change it
    with pytest.raises(SafeStateError, match=r"LabDevice: safe state not reached: read back output still ON "
                                             r"on E1 \(smu1\); source level 0\.25 V on E1 \(smu1\) "
                                             r"\(expected every output off"):
        _sim_bench(sim_lib, "GPIB0::27::INSTR")


def test_lab_device_safe_state_reconnects_a_cut_session(sim_lib) -> None:
    dev = _sim_bench(sim_lib, "GPIB0::28::INSTR")
    dev.apply(np.array([[0.25], [0.5]]), 1e-3)
    smu = dev.instruments["smu1"]
    smu.ch.source_voltage = 0.5
    smu.adapter.close()  # the session is cut under the device
    with pytest.raises(InstrumentConnectionError, match="failed"):
        dev.read()  # fails on the cut session; the safe state runs on a fresh one
    assert dev.n_reconnects == 1 and smu.in_sync
    assert _sim_state(sim_lib, "GPIB0::28::INSTR") == ("OFF", 0.0)
    dev.close()
