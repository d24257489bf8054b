"""The wire density of a chip of unknown geometry, estimated from its characterisation.

Device: 40 wires on 14 x 14 um (0.204 wires/um^2, percolation ratio 3.7), two electrodes, seed 1,
``milano2025`` kinetics; the plan of :func:`suggest_plan` (2255 readings, 16 hold statistics).
The noiseless cases (read noise only) replay the drive in 0.04 s; with the published junction
noise a replay takes 0.5 s, so one test covers that case.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import nwphys
from nwmodel.errors import ModelValidationError
from nwmodel.twin.characterisation import characterise
from nwmodel.twin.fit import FIT_PARAMS, FitError
from nwmodel.twin.geometry import MIN_HOLD, estimate_geometry, hold_statistics, rehearse_geometry
from nwmodel.twin.identify import simulated_copy, suggest_plan
from nwphys.junctions import JUNCTION_PRESETS

KINETICS = {k: JUNCTION_PRESETS["milano2025"][1][k] for k in FIT_PARAMS}
GRID = np.geomspace(0.6, 2.0, 7)  # times the true density


def _device(n_wires: int = 40, seed: int = 1) -> nwphys.NanowireNetwork:
    return nwphys.generate(n_wires=n_wires, size_um=(14.0, 14.0), electrodes="two-terminal",
                           junction_model="rate_balance", junction_params=KINETICS, seed=seed)


@pytest.fixture(scope="module")
def net() -> nwphys.NanowireNetwork:
    return _device()


@pytest.fixture(scope="module")
def quiet(net):
    """The characterisation of the device with read noise only (1e-3 of the rest current)."""
    plan = suggest_plan(net)
    dev = simulated_copy(net, plan, junction_noise={}, read_noise_A=5e-11, seed=3)
    try:
        return characterise(dev, plan)
    finally:
        dev.close()


def test_hold_statistics_average_the_start_and_end_of_each_nonzero_hold() -> None:
    v = np.r_[np.zeros(4), np.full(6, 2.0), 1.0, np.full(MIN_HOLD - 1, 0.1), np.full(8, 0.1 + 1e-9), 0.0]
    i = np.arange(1.0, v.size + 1)
    index, values = hold_statistics(v[:, None], -i)
    # the 0 V hold, the single reading at 1 V and the hold one reading short are skipped
    assert index.tolist() == [[5, 6, 7], [7, 8, 9], [16, 17, 18], [20, 21, 22]]
    np.testing.assert_allclose(values, np.log(i[index].mean(axis=1)), rtol=0, atol=1e-15)


def test_the_density_of_a_quiet_chip_is_recovered_and_a_denser_chip_told_apart(net, quiet) -> None:
    d0 = net.density_per_um2
    fit = estimate_geometry(quiet, net, densities_per_um2=d0 * GRID, replicas=8, read_noise_A=5e-11, seed=0)
    lo, hi = fit.density_interval_per_um2
    assert fit.adequate and fit.interval_closed
    assert lo <= d0 <= hi and abs(fit.density_per_um2 / d0 - 1) < 0.15
    assert hi / lo < 1.6  # an interval that says something
    assert fit.n_simulations == round(fit.connected_fraction.sum() * 8)
    assert fit.percolation_ratio == pytest.approx(
        nwphys.percolation_ratio(fit.density_per_um2, fit.length_mean_um**2 * (1 + 0.1**2)))
    # the same seed gives the same estimate
    again = estimate_geometry(quiet, net, densities_per_um2=d0 * GRID, replicas=8, read_noise_A=5e-11, seed=0)
    assert again.density_per_um2 == fit.density_per_um2
    # a chip of 1.6x the wires: each interval holds its own chip's density and not the other's
    dense = _device(64, seed=2)
    r = rehearse_geometry(dense, junction_noise={}, densities_per_um2=d0 * GRID, replicas=8, seed=4)
    assert r.covered and r.fit.adequate
    assert r.fit.density_interval_per_um2[0] > d0 and hi < dense.density_per_um2


def test_wrong_junction_kinetics_fail_the_adequacy_test(net, quiet) -> None:
    wrong = net.with_junctions("rate_balance", {**KINETICS, "kd0_per_s": 2 * KINETICS["kd0_per_s"]})
    fit = estimate_geometry(quiet, wrong, densities_per_um2=net.density_per_um2 * GRID, replicas=8,
                            read_noise_A=5e-11, seed=0)
    # further from the ensemble than every one of its replicas
    assert not fit.adequate and fit.p_value == 1 / (fit.n_simulations + 1)


@pytest.mark.slow
def test_rehearsal_with_published_junction_noise_covers_the_truth(net) -> None:
    r = rehearse_geometry(net, densities_per_um2=net.density_per_um2 * GRID, replicas=8, seed=101)
    assert r.fit.adequate and r.covered
    assert abs(r.rel_error_density) < 0.2


def test_bad_input_is_refused_in_one_line(net, quiet) -> None:
    other = nwphys.generate(n_wires=60, size_um=(14.0, 14.0), electrodes="mea2x2", seed=1)
    with pytest.raises(FitError, match=r"electrodes \['in', 'out'\] are not on the template"):
        estimate_geometry(quiet, other)
    with pytest.raises(FitError, match="densities_per_um2 must be at least 4 increasing positive values"):
        estimate_geometry(quiet, net, densities_per_um2=[0.3, 0.2, 0.1, 0.05])
    with pytest.raises(ModelValidationError, match="replicas"):
        estimate_geometry(quiet, net, replicas=3)
    with pytest.raises(FitError, match="lengths_um must be at least 3"):
        estimate_geometry(quiet, net, lengths_um=[10.0])
    ramp = dataclasses.replace(quiet, input_V=np.arange(quiet.n_steps)[:, None] * 1e-3)  # no hold anywhere
    with pytest.raises(FitError, match="the drive has 0 holds"):
        estimate_geometry(ramp, net)


def test_density_and_mean_length_together_cover_the_truth(net) -> None:
    d0 = net.density_per_um2
    r = rehearse_geometry(net, junction_noise={}, densities_per_um2=d0 * np.geomspace(0.6, 2.0, 5),
                          lengths_um=10.0 * np.geomspace(0.7, 1.4, 4), replicas=8, seed=51)
    f = r.fit
    assert r.covered and f.adequate and f.interval_closed
    lo, hi = f.length_interval_um
    assert lo <= 10.0 <= hi and hi / lo < 1.7
    assert f.percolation_interval[0] <= net.percolation_ratio <= f.percolation_interval[1]
    # density and length trade off along n <L^2>: the ratio's interval is the narrower one
    p_lo, p_hi = f.percolation_interval
    d_lo, d_hi = f.density_interval_per_um2
    assert p_hi / p_lo < d_hi / d_lo
