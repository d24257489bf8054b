"""Measurement protocols through the Device API: I-V sweeps, pulse trains, relaxation after a pulse.

On a two-terminal simulated device with the NW-ESN junctions (300 wires, 50 x 50 um, seed 5; 4 V
peaks, within the 5 V limit): each protocol starts and ends at 0 V, ramps its edges, refuses a
level beyond the limit before anything is sent, and shows the memristive behaviour it is for. On
the SCPI emulator with a low compliance the currents stay within it.
"""

from __future__ import annotations

import numpy as np
import pytest

import nwphys
from hardware import LimitError, SimulatedDevice
from hardware.backends.emulated import LocalEmulatedDevice
from nwmodel.errors import ModelValidationError
from nwmodel.experiments.measurements import iv_sweep, pulse_train, ramped, relaxation


@pytest.fixture(scope="module")
def net():
    return nwphys.generate(n_wires=300, size_um=(50.0, 50.0), length_mean_um=12.0, length_std_um=2.0,
                           electrodes="two-terminal", seed=5)


def _device(net, **kw) -> SimulatedDevice:
    return SimulatedDevice(net, inputs=["in"], outputs=[], ground=["out"], max_abs_V=5.0, **kw)


def test_ramped_levels_start_and_end_at_0_V_and_never_jump_more_than_the_step() -> None:
    wanted = np.array([2.0, 2.0, 0.1, -1.3, 0.1])
    out = ramped(wanted, 0.5)
    assert out[0] == 0.0 and out[-1] == 0.0
    assert np.max(np.abs(np.diff(out))) <= 0.5 + 1e-12
    it = iter(out)  # the wanted levels appear in order
    assert all(any(x == w for x in it) for w in wanted)
    with pytest.raises(ModelValidationError, match=r"max_step_V must be in \(0\.0, inf\), got 0"):
        ramped(wanted, 0)


def test_an_iv_sweep_shows_hysteresis(net) -> None:
    r = iv_sweep(_device(net), 4.0, n_steps=200, dt_s=1e-3)
    v, i = r.levels_V, r.current_A
    assert v[0] == pytest.approx(4.0 / 50) and v[-1] == 0.0 and np.max(np.abs(np.diff(v))) <= 4.0 / 50 + 1e-12
    # the same 3.28 V on the way up (step 40) and down (step 58): the junctions potentiated at the
    # peak, so the network conducts more on the way down (observed 1.6e-3 A of 3.1e-2 A)
    assert v[40] == pytest.approx(v[58])
    assert i[58] - i[40] > 0.01 * np.max(np.abs(i))
    # a passive network: the current follows the sign of the voltage
    assert np.all(np.sign(i[np.abs(v) > 0.1]) == np.sign(v[np.abs(v) > 0.1]))


def test_a_pulse_train_potentiates_pulse_by_pulse_and_relaxation_decays(net) -> None:
    p = pulse_train(_device(net), 4.0, n_pulses=5, width_s=0.01, period_s=0.02, read_V=0.1, dt_s=1e-3)
    assert p.levels_V[0] == 0.0 and p.levels_V[-1] == 0.0 and np.max(np.abs(np.diff(p.levels_V))) <= 0.5
    g = p.current_A / np.where(p.levels_V == 0.1, 0.1, np.nan)
    # the conductance read at the end of each gap between pulses (observed 7.5 to 8.6 mS)
    ends = np.flatnonzero((p.levels_V[:-1] == 0.1) & (p.levels_V[1:] != 0.1))
    assert ends.size == 5 and np.all(np.diff(g[ends]) > 0)
    r = relaxation(_device(net), 4.0, pulse_s=0.05, read_V=0.1, duration_s=1.0, dt_s=1e-2)
    reads = r.current_A[r.levels_V == 0.1] / 0.1
    assert reads.size == 100 and np.all(np.diff(reads) < 0)  # decays back (8.7 to 8.1 mS)


def test_a_level_beyond_the_limit_is_refused_before_anything_is_sent(net) -> None:
    dev = _device(net)
    with pytest.raises(LimitError, match=r"electrode 'in' exceeds its limit"):
        pulse_train(dev, 6.0, n_pulses=2)
    assert dev.clock_s == 0.0 and dev.metadata["n_apply"] == 0
    with pytest.raises(ModelValidationError, match="n_steps must be a multiple of 4, got 10"):
        iv_sweep(dev, 1.0, n_steps=10)
    with pytest.raises(ModelValidationError, match="electrode must be one of 'in', got 'out'"):
        iv_sweep(dev, 1.0, electrode="out")


def test_on_the_emulator_the_currents_stay_within_compliance(net) -> None:
    limit = 5e-3  # a sixth of the 4 V peak current (3.1e-2 A); the 0.1 V reads draw 0.8 mA
    with LocalEmulatedDevice(lambda: _device(net, compliance_A=limit), compliance_policy="record") as dev:
        p = pulse_train(dev, 4.0, n_pulses=3, width_s=0.01, period_s=0.02, read_V=0.1, dt_s=1e-3)
    flags = p.measurement.compliance[:, p.input_index]
    assert flags.any() and not flags[p.levels_V == 0.1].any()
    assert np.max(np.abs(p.current_A)) <= limit * (1 + 1e-6)  # the source folds its voltage back
