"""The digital twin: a characterisation drive, the fit of junction kinetics, conductance range and
noise to it, and the identifiability rehearsal.

Device: 40 wires on 14 x 14 um, two electrodes (24 nodes, 150 junctions), seed 1, with the
kinetics Milano et al. (2025) fitted to measured devices (preset ``milano2025``: kp0 5.2e-4 /s,
kd0 37.9 /s, eta_p 1.29 /V, eta_d 1.79 /V) and Ag conductances. Its plan
(:func:`suggest_plan`): steps of 1.06 ms, pulses at 6.9, 9.7 and 13.6 V, 2255 readings.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

import nwphys
from hardware import LimitError, SimulatedDevice
from hardware.backends.emulated import LocalEmulatedDevice
from nwmodel.twin.characterisation import Characterisation, characterise, geometry_sha256
from nwmodel.twin.fit import FIT_PARAMS, FitError, estimate_noise, fit_junctions
from nwmodel.twin.identify import KINETIC_TARGET, RANGE_TARGET, START_FACTORS, rehearse_fit, suggest_plan
from nwphys.junctions import JUNCTION_PRESETS

KINETICS = {k: JUNCTION_PRESETS["milano2025"][1][k] for k in FIT_PARAMS}
PUBLISHED = {"sigma_per_sqrt_s": 3.2e-4, "jump_rate_per_s": 0.082}


@pytest.fixture(scope="module")
def net():
    return nwphys.generate(n_wires=40, size_um=(14.0, 14.0), electrodes="two-terminal",
                           junction_model="rate_balance", junction_params=KINETICS, seed=1)


@pytest.fixture(scope="module")
def plan(net) -> Characterisation:
    return suggest_plan(net)


@pytest.fixture(scope="module")
def noisy_measurement(net, plan):
    """The characterisation of the device with junction noise at the published level and 50 pA of
    read noise (1e-3 of the current at rest)."""
    dev = SimulatedDevice(net.with_junctions("rate_balance_ou", {**KINETICS, **PUBLISHED}), inputs=["in"],
                          outputs=[], ground=["out"], method="sdirk2-sn", rtol=1e-5, atol=1e-7,
                          max_abs_V=20.0, compliance_A=1e3, read_noise_A=5e-11, seed=3)
    return characterise(dev, plan)


def _start() -> dict[str, float]:
    return {k: KINETICS[k] * f for k, f in zip(FIT_PARAMS, START_FACTORS, strict=True)}


# ---------------------------------------------------------------------------- the drive
def test_the_plan_is_sized_for_the_device_and_safe(net, plan) -> None:
    lv = plan.levels()
    assert plan.dt_s == pytest.approx(1 / (25 * (KINETICS["kp0_per_s"] + KINETICS["kd0_per_s"])))
    assert plan.amplitudes_V == pytest.approx((6.938894, 9.697399, 13.552527))
    assert lv[0] == 0.0 and lv[-1] == 0.0
    assert np.max(np.abs(np.diff(lv))) <= plan.max_step_V * (1 + 1e-12)
    assert np.max(np.abs(lv)) == pytest.approx(max(plan.amplitudes_V))
    assert Characterisation.from_dict(plan.to_dict()) == plan
    with pytest.raises(Exception, match="amplitudes_V must hold at least one nonzero level"):
        Characterisation(amplitudes_V=(0.0,))


def test_a_plan_beyond_the_device_limit_is_refused_before_anything_is_sent(net, plan) -> None:
    dev = SimulatedDevice(net, inputs=["in"], outputs=[], ground=["out"], max_abs_V=10.0)
    with pytest.raises(LimitError, match=r"electrode 'in' exceeds its limit"):
        characterise(dev, plan)
    assert dev.metadata["n_apply"] == 0


def test_on_the_emulator_the_characterisation_stays_within_compliance(net) -> None:
    small = Characterisation(amplitudes_V=(7.0, 10.0), pulse_s=0.02, relax_s=0.02, read_V=0.1,
                             iv_amplitude_V=10.0, iv_s=0.02, noise_s=0.0, dt_s=1e-3, max_step_V=2.0)
    limit = 2e-5  # below the 10 V pulse's current (7e-5 A), above the 0.1 V reads'
    dev = lambda: SimulatedDevice(net, inputs=["in"], outputs=[], ground=["out"], max_abs_V=12.0,  # noqa: E731
                                  compliance_A=limit, method="sdirk2-sn")
    with LocalEmulatedDevice(dev, compliance_policy="record") as emu:
        m = characterise(emu, small)
    v = m.input_V[:, 0]
    assert np.max(np.abs(v)) <= 10.0 + 1e-9 and np.max(np.abs(np.diff(np.r_[0.0, v]))) <= 2.0 + 1e-9
    flags = m.compliance[:, 0]
    assert flags.any() and not flags[np.abs(v) <= 0.1].any()
    assert np.max(np.abs(m.input_current_A)) <= limit * (1 + 1e-6)  # the source folds back


# ---------------------------------------------------------------------------- the fit
def test_rehearsal_recovers_the_kinetics_and_range_at_the_published_noise(net, plan) -> None:
    """Measured (seed 1): relative errors within 0.4 % (kinetics) and 1.8 % (G_min, biased up by the
    jumps that hold junctions above their resting state); reduced chi2 2.3; the held-out drive
    predicted to 5.0e-4 of its current, where noise alone gives 5.2e-4."""
    r = rehearse_fit(net, plan=plan, seed=1)
    assert r.adequate and r.within_target
    for k in FIT_PARAMS[:4]:
        assert abs(r.rel_error[k]) <= KINETIC_TARGET, k
    for k in FIT_PARAMS[4:]:
        assert abs(r.rel_error[k]) <= RANGE_TARGET, k
    assert r.held_out_rel_rms <= 2.0 * r.held_out_noise_rel_rms
    assert r.noise_true["sigma_per_sqrt_s"] == 3.2e-4 and r.n_simulations < 200


def test_noise_estimates_recover_read_noise_and_diffusion(net, plan) -> None:
    """Jumps off and a hold of 200 / k (measured: read noise 4.6e-11 A for 4.7e-11 A, sigma 3.21e-4
    for 3.2e-4)."""
    long = dataclasses.replace(plan, noise_s=200 / 37.9)
    no_jumps = {"sigma_per_sqrt_s": 3.2e-4, "jump_rate_per_s": 0.0}
    r = rehearse_fit(net, plan=long, junction_noise=no_jumps, seed=2)
    assert r.within_target
    assert r.noise_fitted["read_noise_A"] == pytest.approx(r.noise_true["read_noise_A"], rel=0.2)
    assert r.noise_fitted["sigma_per_sqrt_s"] == pytest.approx(3.2e-4, rel=0.2)
    assert r.noise_fitted["jump_events_per_s"] == 0.0


def test_a_wrong_law_leaves_the_fit_inadequate_and_another_device_is_refused(net, noisy_measurement) -> None:
    """A rate balance whose depression does not depend on voltage (eta_d held at 0.05 /V) cannot
    follow the data: systematic residuals far above the noise (reduced chi2 848 measured; 0.9-3.2
    for the right law on this device; MAX_REDUCED_CHI2 is 20), or no optimum within the replays.
    A measurement is fitted only on the device it was taken on."""
    f = fit_junctions(net, noisy_measurement, initial={**_start(), "eta_d_per_V": 0.05},
                      fixed=("eta_d_per_V",), noise_A=5e-11, max_simulations=300)
    assert not f.adequate and (f.reduced_chi2 > 200 or not f.converged)
    other = nwphys.generate(n_wires=40, size_um=(14.0, 14.0), electrodes="two-terminal",
                            junction_model="rate_balance", junction_params=KINETICS, seed=2)
    with pytest.raises(FitError, match="taken on a device of another geometry"):
        fit_junctions(other, noisy_measurement, initial=_start())


def test_bad_input_gets_one_line_naming_what_is_missing(net, plan, noisy_measurement) -> None:
    m = noisy_measurement
    with pytest.raises(FitError, match=r"non-physical initial guess: kd0_per_s = -1"):
        fit_junctions(net, m, initial={**_start(), "kd0_per_s": -1.0})
    with pytest.raises(FitError, match=r"G_max_S = 1e-08 must be > G_min_S"):
        fit_junctions(net, m, initial={**_start(), "G_max_S": 1e-8})
    with pytest.raises(FitError, match="the initial guess has no eta_p_per_V"):
        fit_junctions(net, m, initial={k: v for k, v in _start().items() if k != "eta_p_per_V"})
    short = dataclasses.replace(m, **{f.name: getattr(m, f.name)[:40] for f in dataclasses.fields(m)
                                       if isinstance(getattr(m, f.name), np.ndarray)})
    with pytest.raises(FitError, match=r"too few readings to identify 6 parameters: 40 \(need >= 60\)"):
        fit_junctions(net, short, initial=_start())
    pads = nwphys.generate(n_wires=60, size_um=(14.0, 14.0), electrodes="mea2x2", seed=1)
    with pytest.raises(FitError, match=r"electrodes \['in', 'out'\] are not on this device"):
        fit_junctions(pads, m, initial=_start())
    one = Characterisation(**{**{k: v for k, v in plan.to_dict().items() if k != "format"},
                              "amplitudes_V": (plan.amplitudes_V[-1],), "iv_amplitude_V": 0.0})
    dev = SimulatedDevice(net, inputs=["in"], outputs=[], ground=["out"], max_abs_V=20.0, method="sdirk2-sn")
    with pytest.raises(FitError, match="need pulses at two or more amplitudes"):
        fit_junctions(net, characterise(dev, one), initial=_start())


def test_a_parameter_the_drive_cannot_show_is_named(net, plan) -> None:
    """Pulses of 0.2-0.6 V barely move any junction: the voltage dependences are not in the data,
    and the fit says so instead of vouching for numbers: it names a parameter whose curvature is
    singular, or stops at its budget of replays without an optimum (converged False)."""
    low = dataclasses.replace(plan, amplitudes_V=(0.2, 0.4, 0.6), iv_amplitude_V=0.6, max_step_V=0.1)
    try:
        r = rehearse_fit(net, plan=low, seed=1)
    except FitError as exc:
        assert re.search(r"does not identify \w+ .*it needs", str(exc))
    else:
        assert not r.adequate and not r.within_target


def test_the_noise_estimate_is_empty_without_a_noise_hold(net, noisy_measurement) -> None:
    meta = {**noisy_measurement.metadata, "characterisation": {}}
    plain = dataclasses.replace(noisy_measurement, metadata=meta)
    sim = np.zeros(noisy_measurement.n_steps)
    assert estimate_noise(net, KINETICS, plain, k_in=0, simulated_A=sim) == {}


# ---------------------------------------------------------------------------- the preset
def test_the_fit_is_a_preset_that_the_device_generators_accept(net, noisy_measurement, tmp_path) -> None:
    from nwmodel import SimulatedDeviceSpec

    f = fit_junctions(net, noisy_measurement, initial=_start(), noise_A=5e-11)
    path = f.write_preset(tmp_path / "fit.json")
    model, params, extra = nwphys.read_junction_preset(path)
    assert model == "rate_balance_ou" and params["kd0_per_s"] == f.params["kd0_per_s"]
    assert params["sigma_per_sqrt_s"] == f.noise["sigma_per_sqrt_s"] and extra["adequate"] is True
    assert set(extra["rel_std"]) == set(FIT_PARAMS)
    with pytest.raises(nwphys.DeviceFileError, match="exists"):
        f.write_preset(path)
    spec = SimulatedDeviceSpec.from_preset(str(path), n_wires=40, size_um=(14.0, 14.0),
                                           electrodes="two-terminal", role_pattern="first-last")
    gen = spec.network()
    assert gen.junction_model == "rate_balance_ou" and gen.junction_params == params
    assert nwphys.make_junction_model("rate_balance_ou", preset=str(path)).params["eta_p_per_V"] == params[
        "eta_p_per_V"]
    assert geometry_sha256(net) == noisy_measurement.metadata["characterisation"]["geometry_sha256"]
