"""The number formats of the virtual instruments' replies, and the drivers' exact parse of them.

* 2600B (TSP): ``print()`` and ``printbuffer()`` write a number with ``format.asciiprecision``
  significant digits, 6 by default (2600BS-901-01 Rev. C, section 7, p. 7-101): ``%.5e``, a
  relative resolution of 5e-6 at worst.
* 707B (TSP): 10 significant digits by default (707B-901-01 Rev. A, section 7, p. 7-93).
* 2450 (SCPI): the default ASCII precision is "automatic" and the manual does not state its digits
  (2450-901-01 Rev. B, section 6, p. 6-28): the virtual 2450 writes floats exactly (``repr``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import numpy as np
import pytest
from _benches import ROUTES, bench_network, tsp_map

from hardware.drivers import Keithley707B, Smu2450, Smu2600
from hardware.virtual import VirtualBench
from hardware.virtual._tsp import MAX_ASCII_PRECISION, ascii_text

RTOL, ATOL = 1e-6, 1e-8  # physics tolerances of the bench
NPLC = 0.001
#: A number as a 2600B prints it by default: one digit, a point, five digits, a two-digit exponent.
SIX_DIGITS = r"-?\d\.\d{5}e[+-]\d{2}"


@pytest.fixture(scope="module")
def net():
    return bench_network()


_tsp_map = tsp_map


def _scpi_map() -> dict:
    return {
        "instruments": {"s1": {"driver": "keithley2450"}, "s2": {"driver": "keithley2450"}},
        "electrodes": [
            {"name": "E00", "role": "input", "smu": "s1", "channel": None, "max_abs_V": 2.0,
             "compliance_A": 0.5},
            {"name": "E11", "role": "ground", "smu": "s2", "channel": None, "max_abs_V": 2.0,
             "compliance_A": 0.5},
        ],
    }


def _bench(net, channel_map: dict) -> VirtualBench:
    return VirtualBench(net, channel_map, latency_s=0.0, nplc=NPLC, rtol=RTOL, atol=ATOL)


def _open(bench: VirtualBench, name: str, cls: type):
    return cls(bench.servers[name].resource_name, visa_library="@py", read_termination="\n",
               write_termination="\n")


@contextlib.contextmanager
def _sources_on(net) -> Iterator[tuple[Smu2600, Keithley707B, object]]:
    """The TSP bench with both 2600B channels sourcing voltage (10 mA, 2 V ranges), E00 and E11
    routed and the outputs on: ``(smu, mx, the virtual 2600B)``; the sessions closed at the end."""
    with _bench(net, _tsp_map()) as bench:
        smu, mx = _open(bench, "smu", Smu2600), _open(bench, "mx", Keithley707B)
        try:
            for c in "ab":
                smu.configure(c, "source_v", 1e-2, 2.0)
            mx.close_channels([ROUTES["E00"], ROUTES["E11"]])
            assert mx.closed_channels == [ROUTES["E00"], ROUTES["E11"]]  # a query: the close has run
            smu.outputs(True)
            yield smu, mx, bench.instruments["smu"]
        finally:
            smu.session.close()
            mx.session.close()


def _six(x: float) -> float:
    """``x`` rounded as a 2600B prints it by default and read back."""
    return float(f"{x:.5e}")


def test_tsp_numbers_carry_the_precisions_significant_digits() -> None:
    assert ascii_text(1, 6) == "1.00000e+00" and ascii_text(True, 6) == "1.00000e+00"
    assert ascii_text(0.1234567, 6) == "1.23457e-01" and ascii_text(-285, 6) == "-2.85000e+02"
    assert ascii_text(-0.0, 6) == "0.00000e+00"
    assert ascii_text(2.54, 10) == "2.540000000e+00" and ascii_text(2.54, 3) == "2.54e+00"
    # rounding to p significant digits moves a number by at most 5 * 10**-p of itself
    x = np.random.default_rng(1).uniform(1.0, 10.0, 2000) * 10.0 ** np.arange(-12, 8).repeat(100)
    x *= np.where(np.arange(x.size) % 2, 1.0, -1.0)
    for p, bound in ((6, 5e-6), (10, 5e-10), (MAX_ASCII_PRECISION, 5e-16)):
        back = np.array([float(ascii_text(t, p)) for t in x])
        rel = np.abs(back - x) / np.abs(x)
        assert rel.max() <= bound * (1 + 1e-9), (p, rel.max())
    # and it does come near the bound: the resolution is the stated one, not finer
    assert np.max(np.abs(np.array([float(ascii_text(t, 6)) for t in x]) - x) / np.abs(x)) > 4e-6


def test_a_2600b_prints_a_reading_with_six_digits_and_the_driver_reads_that_number(net) -> None:
    with _sources_on(net) as (smu, mx, inst):
        r = smu.step({"a": 0.123456789, "b": 0.0})
        # the chunk stored the readings unrounded in its variables; the reply rounded them
        raw = {k: inst.variables[k] for k in ("va", "ia", "ca", "vb", "ib", "cb")}
        assert raw["ia"] > 1e-4 and raw["ca"] == 0
        assert r["a"] == (_six(raw["va"]), _six(raw["ia"]), False)
        assert r["b"] == (_six(raw["vb"]), _six(raw["ib"]), False)
        assert r["a"][0] == 0.123457 and r["a"][1] != raw["ia"]  # 6 digits, not the float
        assert abs(r["a"][1] - raw["ia"]) <= 5e-6 * abs(raw["ia"])
        line = inst.execute("print(va,ia,ca,never_set)").decode()
        assert re.fullmatch(rf"{SIX_DIGITS}\t{SIX_DIGITS}\t0\.00000e\+00\tnil\n", line), line
        assert inst.execute("print(smua.source.levelv)") == b"1.23457e-01\n"
        assert inst.execute("print(smua.source.output)") == b"1.00000e+00\n"
        assert smu.channel("a").source_voltage == 0.123457  # the driver's read-back: 6 digits
        assert smu.check_errors() == [] and mx.check_errors() == []


def test_printbuffer_writes_six_digit_values_comma_and_space_separated(net) -> None:
    v = np.random.default_rng(0).uniform(-1.0, 1.0, 6)
    with _sources_on(net) as (smu, _, inst):
        vi = smu.run_list(v, 0.005, "a")
        i_raw = np.array(inst.trig["a"].buffers["nvbuffer1"])
        v_raw = np.array(inst.trig["a"].buffers["nvbuffer2"])
        assert len(i_raw) == len(v_raw) == 6 and np.min(np.abs(i_raw)) > 1e-5
        np.testing.assert_array_equal(vi[:, 0], [_six(x) for x in v_raw])
        np.testing.assert_array_equal(vi[:, 1], [_six(x) for x in i_raw])
        np.testing.assert_allclose(vi[:, 1], i_raw, rtol=5e-6, atol=0)
        reply = inst.execute("printbuffer(1,2,smua.nvbuffer2.readings,smua.nvbuffer1.readings)").decode()
        assert re.fullmatch(rf"{SIX_DIGITS}(, {SIX_DIGITS}){{3}}\n", reply), reply
        # a second sweep starts from empty buffers
        smu.run_list(v[:2], 0.005, "a")
        assert len(inst.trig["a"].buffers["nvbuffer1"]) == 2
        assert smu.check_errors() == []


def test_format_asciiprecision_sets_the_digits_and_reset_restores_six(net) -> None:
    inst = _bench(net, _tsp_map()).instruments["smu"]
    assert inst.execute("smua.source.rangev=2.0 smua.source.levelv=0.1 print(smua.source.levelv)") == (
        b"1.00000e-01\n")
    assert inst.execute("format.asciiprecision=16 print(smua.source.levelv)") == b"1.000000000000000e-01\n"
    assert inst.execute("format.asciiprecision=3 print(errorqueue.count)") == b"0.00e+00\n"
    for bad in ("0", "17"):  # out of range: -222, the chunk ends, the precision stays
        assert inst.execute(f"format.asciiprecision={bad} print(errorqueue.count)") == b"\n"
    assert inst.execute("print(errorqueue.count)") == b"2.00e+00\n"
    assert inst.execute("print(errorqueue.next())").startswith(b"-2.22e+02\t\"Data out of range")
    assert inst.execute("reset() print(smua.source.levelv)") == b"0.00000e+00\n"
    assert inst.execute("print(errorqueue.next())").startswith(b"-2.22000e+02\t")  # errors kept
    assert inst.execute("print(errorqueue.next())") == b'0.00000e+00\t"Queue is Empty"\n'


def test_a_707b_prints_ten_digits_and_the_driver_reads_its_errors(net) -> None:
    with _bench(net, _tsp_map()) as bench:
        mx = _open(bench, "mx", Keithley707B)
        try:
            assert mx.ask("print(errorqueue.count)") == "0.000000000e+00"
            mx.close_channels(["1A01", "1Z01"])
            assert mx.ask("print(errorqueue.count)") == "1.000000000e+00"
            assert mx.ask("print(errorqueue.next())").startswith("-2.240000000e+02\t")
            mx.close_channels(["1A01", "1Z01"])
            assert [code for code, _ in mx.check_errors()] == [-224] and mx.closed_channels == []
            assert mx.ask("format.asciiprecision=6 print(errorqueue.count)") == "0.00000e+00"
            assert mx.ask("reset() print(errorqueue.count)") == "0.000000000e+00"
        finally:
            mx.session.close()


def test_a_2450_writes_readings_exactly_and_the_driver_reads_them_exactly(net) -> None:
    v = np.random.default_rng(2).uniform(-1.0, 1.0, 5)
    with _bench(net, _scpi_map()) as bench:
        s1, s2 = _open(bench, "s1", Smu2450), _open(bench, "s2", Smu2450)
        try:
            inst = bench.instruments["s1"]
            s1.configure(None, "source_v", 1e-2, 2.0)
            s2.configure(None, "source_v", 1e-2, 2.0)
            s2.outputs(True)  # holds E11 at 0 V: the sweep on s1 drives current through the device
            s1.outputs(True)
            assert s2.check_errors() == []  # a query: s2's messages have run before the sweep
            vi = s1.run_list(v, 0.005)
            buf = np.array(inst.buffer)
            assert buf.shape == (5, 2) and np.min(np.abs(buf[:, 1])) > 1e-5
            np.testing.assert_array_equal(vi, buf)  # not rounded: bit for bit
            reply = inst.execute('TRAC:DATA? 1,5,"defbuffer1",SOUR,READ').decode().strip()
            assert reply == ",".join(repr(float(x)) for x in buf.ravel())
            r = s1.step({None: 0.25})
            fields = inst.execute(':READ? "defbuffer1",SOUR,READ').decode().strip().split(",")
            assert len(fields) == 2 and all(f == repr(float(f)) for f in fields)
            assert r[None][0] == 0.25 and abs(r[None][1]) > 1e-5
            assert s1.check_errors() == []
        finally:
            s1.session.close()
            s2.session.close()
