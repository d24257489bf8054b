"""SCPI emulator: current limits enforced by a fold-back, and readings stamped at the end of their hold.

References: the closed-form state of one junction held at one voltage, the hand solution of a linear
star network, a simulated device driven with the voltages the emulator reports, and the clock of a
:class:`~hardware.Device` driven alongside.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from _nwcircuits import single_junction, single_junction_g
from scipy.optimize import brentq

import nwphys
from hardware import ComplianceError, InstrumentError, SimulatedDevice, StarDevice
from hardware.backends.emulated import LocalEmulatedDevice
from hardware.scpi._compliance import FOLD_RTOL
from hardware.scpi.emulator import ScpiInstrument
from nwphys.junctions import make_junction_model

INPUTS, OUTPUTS, GROUND = ["E00", "E03"], ["E11", "E12", "E21"], ["E33"]


@pytest.fixture(scope="module")
def network():
    """The small 4x4 MEA device (500 wires) of the emulator tests."""
    return nwphys.generate(
        n_wires=500, size_um=(60.0, 60.0), length_mean_um=12.0, length_std_um=2.0, electrodes="mea4x4", seed=1
    )


def _mea(network, **kw) -> SimulatedDevice:
    return SimulatedDevice(network, inputs=INPUTS, outputs=OUTPUTS, ground=GROUND, **kw)


def _ask(instr: ScpiInstrument, line: str) -> str:
    r = instr.execute(line)
    return "" if r is None else r.decode().rstrip("\n")


def _rows(instr: ScpiInstrument, line: str) -> np.ndarray:
    return np.array(_ask(instr, line).split(","), dtype=float).reshape(-1, instr.layout.n_columns)


def _in_band(i_A: np.ndarray, limit_A: np.ndarray) -> bool:
    """``limit <= |I| <= limit * (1 + FOLD_RTOL)``: at the limit, never more than the tolerance above."""
    return bool(np.all((np.abs(i_A) >= limit_A) & (np.abs(i_A) <= limit_A * (1 + FOLD_RTOL))))


# ---------------------------------------------------------------------------- compliance
def test_list_step_limits_the_current_and_the_junctions_see_the_folded_voltage(network) -> None:
    """``SOUR1:CURR:LIM 1e-9`` then ``LIST:STEP?`` at 1 V delivered 3.4 mA with the bit set."""
    instr = ScpiInstrument(_mea(network))
    lay = instr.layout
    _ask(instr, "OUTP ON;SOUR1:CURR:LIM 1e-9")
    (row,) = _rows(instr, "LIST:STEP? 0.001,1.0,1.0")
    i_A, v_V = row[lay.input_current_A], row[lay.input_V]
    assert _in_band(i_A[:1], np.array([1e-9]))
    assert 0.0 < v_V[0] < 1.0 and v_V[1] == 1.0  # channel 1 folded back, channel 2 at its level
    assert int(row[lay.compliance_mask]) == 0b01
    assert (
        _ask(instr, "FETC:COMP?;FETC1:CURR?;FETC1:VOLT?;SOUR1:VOLT?")
        == f"1;{float(i_A[0])!r};{float(v_V[0])!r};1.0"
    )
    # a simulated device driven with the reported voltages reads the same row and ends in the same
    # junction state: the physics integrated the folded voltage
    ref = _mea(network, compliance_policy="record")
    want = ref.apply(v_V[None, :], 1e-3)
    np.testing.assert_array_equal(row[lay.output_V], want.output_V[0])
    np.testing.assert_array_equal(i_A, want.input_current_A[0])
    np.testing.assert_array_equal(instr.device.g, ref.g)
    assert _ask(instr, "SYST:ERR?") == '0,"No error"'


@pytest.mark.parametrize(
    "limit_A, level_V, dt_s",
    [(1e-9, 1.0, 1e-3), (0.1, 1.5, 0.1)],
    ids=["resting-junction", "switching-junction"],
)
def test_fold_back_voltage_of_one_junction_is_the_closed_form_one(limit_A, level_V, dt_s) -> None:
    """One junction from ``in`` to ground: the folded voltage ``V`` solves ``V G(g(V, dt)) = limit``
    with the closed-form state ``g`` of a junction held at ``V`` (at 1.5 V for 0.1 s the junction
    switches on during the hold, so the fold-back must follow the dynamics, not the start state).
    The device integrates with ``"exact"``, exact for a junction held at one voltage."""
    model = make_junction_model("rate_balance")
    p, g0 = dict(model.params), float(model.resting_state(1)[0])
    net = SimpleNamespace(
        circuit=single_junction, junction_model="rate_balance", junction_params=p, state=np.array([g0])
    )
    dev = SimulatedDevice(net, inputs=["in"], outputs=[], ground=["out"], method="exact", n_substeps="auto")
    instr = ScpiInstrument(dev)
    _ask(instr, f"OUTP ON;SOUR1:CURR:LIM {limit_A!r}")
    (row,) = _rows(instr, f"LIST:STEP? {dt_s!r},{level_V!r}")
    lay = instr.layout

    def g_end(v: float) -> float:
        return float(single_junction_g(p, v, g0, np.array([dt_s]))[0])

    def current(v: float) -> float:
        return v * (p["G_min_S"] + (p["G_max_S"] - p["G_min_S"]) * g_end(v))

    assert current(level_V) > limit_A  # the programmed level is over the limit
    v_ref = brentq(lambda v: current(v) - limit_A, 0.0, level_V, xtol=1e-300, rtol=1e-15)
    v_fold = row[lay.input_V][0]
    assert _in_band(row[lay.input_current_A], np.array([limit_A]))
    np.testing.assert_allclose(v_fold, v_ref, rtol=FOLD_RTOL)
    np.testing.assert_allclose(dev.g[0], g_end(v_fold), rtol=1e-8)
    assert int(row[lay.compliance_mask]) == 1


def test_coupled_channels_all_in_compliance_fold_back_together(network) -> None:
    """Eight neighbouring inputs, all over a 0.1 mA limit by up to 3 A (a strongly coupled, switching
    network): every current ends in the band, and the reported voltages are what the junctions saw."""
    names = list(network.circuit().electrode_names)
    kw = dict(inputs=names[:8], outputs=names[8:-2], ground=names[-2:], max_abs_V=3.0)
    instr = ScpiInstrument(SimulatedDevice(network, **kw))
    lay = instr.layout
    _ask(instr, "OUTP ON;" + ";".join(f"SOUR{n}:CURR:LIM 1e-4" for n in range(1, 9)))
    v = np.random.default_rng(1).uniform(-2, 2, (2, 8))
    rows = _rows(instr, "BLOCK:ASC? 0.001,2," + ",".join(map(repr, v.ravel().tolist())))
    assert _in_band(rows[:, lay.input_current_A], np.full((2, 8), 1e-4))
    np.testing.assert_array_equal(rows[:, lay.compliance_mask], 255.0)
    ref = SimulatedDevice(network, compliance_policy="record", **kw)
    want = ref.apply(rows[:1, lay.input_V], 1e-3)
    np.testing.assert_array_equal(rows[0, lay.input_current_A], want.input_current_A[0])
    np.testing.assert_array_equal(rows[0, lay.output_V], want.output_V[0])


def _star_solution(G_S: np.ndarray, G_gnd_S: float, v: np.ndarray, on: np.ndarray, i_on: np.ndarray):
    """Hand solution of the star: the inputs ``on`` carry the currents ``i_on``, the others hold ``v``.

    ``I = Y V`` with ``Y = diag(G) - G G^T / (sum G + G_gnd)`` (one ground branch); returns ``V``.
    """
    Y = np.diag(G_S) - np.outer(G_S, G_S) / (G_S.sum() + G_gnd_S)
    V = v.astype(float).copy()
    off = ~on
    V[on] = np.linalg.solve(Y[np.ix_(on, on)], i_on - Y[np.ix_(on, off)] @ V[off])
    return V


@pytest.mark.parametrize(
    "inputs, levels_V, limits_A, signs",
    [
        (("a",), [1.0], [1e-4], [1]),
        (("a", "b"), [1.0, 1.5], [1e-4, 2e-4], [1, 1]),
        (("a", "b"), [2.0, 0.0], [0.1, 1e-4], [0, -1]),  # b sinks current at 0 V: folds upward
    ],
    ids=["one-input", "both-inputs", "sinking-input"],
)
def test_fold_back_of_a_linear_star_is_the_hand_solution(inputs, levels_V, limits_A, signs) -> None:
    G_S, G_gnd_S = 1e-3, 2e-3
    dev = StarDevice(inputs, ("o",), ("g",), G0_S=G_S, G_gnd_S=G_gnd_S, rate_S_per_C=0.0)
    instr = ScpiInstrument(dev)
    lay = instr.layout
    _ask(instr, "OUTP ON")
    for n, lim in enumerate(limits_A, start=1):
        _ask(instr, f"SOUR{n}:CURR:LIM {lim!r}")
    (row,) = _rows(instr, "LIST:STEP? 0.001," + ",".join(map(repr, levels_V)))
    lim, sign = np.array(limits_A), np.array(signs)
    on = sign != 0
    i_A = row[lay.input_current_A]
    assert _in_band(i_A[on], lim[on]) and np.all(np.sign(i_A[on]) == sign[on])
    assert np.all(np.abs(i_A[~on]) < lim[~on])
    G = np.full(len(inputs), G_S)
    # the reported voltages are the star's solution for the reported currents (Kirchhoff) ...
    v_fold = row[lay.input_V]
    np.testing.assert_allclose(
        v_fold, _star_solution(G, G_gnd_S, np.array(levels_V), on, i_A[on]), rtol=1e-12
    )
    # ... and within the tolerance of the solution at the limits, below the levels in magnitude
    v_lim = _star_solution(G, G_gnd_S, np.array(levels_V), on, sign[on] * lim[on])
    np.testing.assert_allclose(v_fold, v_lim, rtol=2 * FOLD_RTOL)
    assert np.all(sign[on] * v_fold[on] < sign[on] * np.array(levels_V)[on])
    assert int(row[lay.compliance_mask]) == int(sum(1 << j for j in np.flatnonzero(on)))


def test_block_with_limits_hit_mid_chunk_equals_step_by_step() -> None:
    """A block rolls back to the step over the limit, re-runs the steps before it and folds that one:
    the rows are those of one LIST:STEP? per step, in one call and in chunks of a few steps."""
    v = np.random.default_rng(7).uniform(-1.5, 1.5, (40, 2))
    limit = 4e-4
    rows = {}
    for mode in ("list", "block", "chunked"):
        instr = ScpiInstrument(StarDevice(read_noise_V=0.0), block_chunk_s=1e-9)
        _ask(instr, f"OUTP ON;SOUR1:CURR:LIM {limit!r}")
        if mode == "list":
            rows[mode] = np.concatenate(
                [_rows(instr, f"LIST:STEP? 0.001,{a!r},{b!r}") for a, b in v.tolist()]
            )
            continue
        line = "BLOCK:ASC? 0.001,40," + ",".join(map(repr, v.ravel().tolist()))
        out = instr.execute(line, cancelled=(lambda: False) if mode == "chunked" else None)
        rows[mode] = np.array(out.decode().split(","), dtype=float).reshape(40, -1)
    np.testing.assert_array_equal(rows["block"], rows["list"])
    np.testing.assert_array_equal(rows["chunked"], rows["list"])
    lay = ScpiInstrument(StarDevice()).layout
    i_a = rows["list"][:, lay.input_current_A][:, 0]
    folded = rows["list"][:, lay.input_V][:, 0] != v[:, 0]
    assert 0 < folded.sum() < 40  # some steps in compliance, some not
    assert _in_band(i_a[folded], np.full(folded.sum(), limit)) and np.all(np.abs(i_a[~folded]) < limit)
    np.testing.assert_array_equal(rows["list"][:, lay.compliance_mask], folded.astype(float))
    np.testing.assert_array_equal(rows["list"][~folded][:, lay.input_V], v[~folded])


def test_a_device_that_cannot_be_rolled_back_trips_with_outputs_off(network) -> None:
    """A settling source has a memory that cannot be rolled back: over the limit it trips."""
    instr = ScpiInstrument(_mea(network, settling_tau_s=5e-4))
    _ask(instr, "OUTP ON;SOUR1:CURR:LIM 1e-9")
    assert _ask(instr, "LIST:STEP? 0.001,1.0,1.0") == ""  # a failed query answers an empty line
    err = _ask(instr, "SYST:ERR?")
    assert err.startswith('-200,"Execution error; compliance trip: I=0.00'), err
    assert "A on 'E00' at step 0 exceeds its limit 1e-09 A and the served device cannot be rolled back" in err
    assert err.endswith('; outputs off"')
    assert _ask(instr, "OUTP?") == "0"
    np.testing.assert_array_equal(instr.device.bias_V, 0.0)
    # INIT at the programmed levels trips the same way; the levels stay as set
    _ask(instr, "OUTP ON;SOUR:VOLT:ALL 1.0,1.0;INIT")
    assert _ask(instr, "SYST:ERR?").startswith('-200,"Execution error; compliance trip: I=0.00')
    assert _ask(instr, "OUTP?;SOUR:VOLT:ALL?;SYST:ERR?") == '0;1.0,1.0;0,"No error"'


def test_emulated_device_gets_the_folded_readings_and_raises_on_them(network) -> None:
    """Through SCPI: the client's policy acts on the folded readings; a trip is an InstrumentError."""
    v = np.array([[1.0, 0.5], [0.8, 0.9], [0.6, 0.2]])
    with LocalEmulatedDevice(lambda: _mea(network, compliance_A=1e-6), compliance_policy="record") as dev:
        m = dev.apply(v, 1e-3)
        assert _in_band(m.input_current_A, np.full(m.input_current_A.shape, 1e-6)) and m.compliance.all()
        assert np.all(np.abs(m.input_V) < np.abs(v))
        np.testing.assert_array_equal(m.t_s, 1e-3 * np.arange(3))  # Measurement.t_s: start of the hold
        dev.compliance_policy = "raise"
        with pytest.raises(ComplianceError, match=r"on electrode 'E00' at step 0 \(I=1\.00000\d*e-06 A, "):
            dev.apply(v, 1e-3)
    with (
        LocalEmulatedDevice(lambda: _mea(network, settling_tau_s=5e-4, compliance_A=1e-6)) as dev,
        pytest.raises(
            InstrumentError, match=r"-200 after 'BLOCK:BIN\? .*compliance trip: I=0\.00\d+ A on 'E00'"
        ),
    ):
        dev.apply(v, 1e-3)


# ---------------------------------------------------------------------------- time stamps
def test_readings_are_stamped_at_the_end_of_their_hold(network) -> None:
    """``t_s`` of a row and ``FETC:TIME?`` are the reading time, the end of the hold: the clock of a
    device driven alongside after the step (``MEAS?``: the present time)."""
    instr, ref = ScpiInstrument(_mea(network)), _mea(network)
    _ask(instr, "OUTP ON")

    def step(line: str, v: list[list[float]], dt_s: float) -> None:
        rows = _rows(instr, line)
        m = ref.apply(v, dt_s)
        np.testing.assert_array_equal(rows[:, 0], np.append(m.t_s[1:], ref.clock_s))
        assert float(_ask(instr, "FETC:TIME?")) == ref.clock_s

    step("LIST:STEP? 0.001,0.5,0.2", [[0.5, 0.2]], 1e-3)
    assert float(_ask(instr, "FETC:TIME?")) == 0.001  # the old stamp was the start, 0.0
    step("LIST:STEP? 0.002,0.4,0.1", [[0.4, 0.1]], 2e-3)
    step("BLOCK:ASC? 0.002,3,0.1,0.2,0.3,0.4,0.5,0.6", [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], 2e-3)
    (row,) = _rows(instr, "MEAS?")  # no step: the present time
    assert row[0] == ref.clock_s == float(_ask(instr, "FETC:TIME?"))
    _ask(instr, "TRIG:DT 0.004;SOUR:VOLT:ALL 0.2,0.3;INIT")
    ref.apply([[0.2, 0.3]], 4e-3)
    assert float(_ask(instr, "FETC:TIME?")) == ref.clock_s
    _ask(instr, "*RST;OUTP ON")
    ref.reset()
    step("LIST:STEP? 0.001,0.5,0.2", [[0.5, 0.2]], 1e-3)
