"""Random-stick geometry, junction detection, electrodes and percolation against references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import nwphys
from nwphys import Electrode, ElectrodeLayout, Geometry, ValidationError
from nwphys.geometry.electrodes import clip_intervals, electrode_contacts
from nwphys.geometry.sticks import brute_force_junctions, find_junctions, random_sticks, sample_lengths


def _geometry(centers, angles, lengths, size=(10.0, 10.0)) -> Geometry:
    return Geometry(size, np.asarray(centers, float), np.asarray(angles, float), np.asarray(lengths, float))


# -- junction detection -------------------------------------------------------------------------


def test_two_crossing_sticks_hand_solved() -> None:
    # horizontal stick through (2..8, 5) and a 45 degree stick centred at (4, 5)
    geo = _geometry([[5, 5], [4, 5], [9, 9]], [0.0, np.pi / 4, 0.0], [6.0, 2.0, 1.0])
    wires, xy = find_junctions(geo)
    np.testing.assert_array_equal(wires, [[0, 1]])
    np.testing.assert_allclose(xy, [[4.0, 5.0]], rtol=0, atol=1e-12)


def test_kdtree_search_equals_brute_force(seed: int) -> None:
    geo = random_sticks(
        900, (60.0, 60.0), length_dist="gamma", length_mean_um=6.0, length_std_um=2.5, seed=seed
    )
    w_fast, xy_fast = find_junctions(geo)
    w_ref, xy_ref = brute_force_junctions(geo)
    assert w_fast.shape[0] > 1000
    np.testing.assert_array_equal(w_fast, w_ref)
    np.testing.assert_array_equal(xy_fast, xy_ref)


def test_junction_count_matches_isotropic_stick_expectation(seed: int) -> None:
    """Sticks of fixed length L cross with probability 2 L^2 / (pi A) away from the boundary.

    For a stick whose centre is at least L from every edge, every stick that can cross it lies
    wholly in the box, so its expected number of junctions is exactly (N - 1) 2 L^2 / (pi A).
    Summed over the interior sticks S = sum_i deg_i; each interior-interior junction is counted
    twice, so Var(S) <= 4 E[S] (Poisson counts); we allow 4 standard deviations.
    """
    n, length, side = 20_000, 1.0, 50.0
    geo = random_sticks(n, (side, side), length_dist="fixed", length_mean_um=length, seed=seed)
    wires, _ = find_junctions(geo)
    deg = np.bincount(wires.ravel(), minlength=n)
    c = geo.centers_um
    interior = np.all((c >= length) & (c <= side - length), axis=1)
    p = 2 * length**2 / (math.pi * side * side)
    expected = interior.sum() * (n - 1) * p
    observed = deg[interior].sum()
    assert abs(observed - expected) <= 4 * math.sqrt(4 * expected), (observed, expected)
    # and the relative error is small in absolute terms too
    assert abs(observed / expected - 1) < 0.02


def test_junction_positions_lie_on_both_wires(seed: int) -> None:
    geo = random_sticks(500, (40.0, 40.0), length_mean_um=5.0, length_std_um=1.0, seed=seed)
    wires, xy = find_junctions(geo)
    for k in (0, 1):
        w = wires[:, k]
        rel = xy - geo.centers_um[w]
        u = geo.directions[w]
        along = np.sum(rel * u, axis=1)
        perp = rel[:, 0] * u[:, 1] - rel[:, 1] * u[:, 0]
        np.testing.assert_allclose(perp, 0.0, atol=1e-10)
        assert np.all(np.abs(along) <= geo.lengths_um[w] / 2 + 1e-10)


# -- lengths and seeds --------------------------------------------------------------------------


def test_truncated_normal_lengths_match_scipy_truncnorm(seed: int) -> None:
    mean, std, n = 10.0, 8.0, 200_000
    lengths = sample_lengths(n, "normal", mean, std, seed)
    assert lengths.min() > 0
    ref = stats.truncnorm(a=(0 - mean) / std, b=np.inf, loc=mean, scale=std)
    assert abs(lengths.mean() - ref.mean()) < 4 * ref.std() / math.sqrt(n)
    assert abs(lengths.std() / ref.std() - 1) < 0.01


def test_gamma_lengths_have_requested_moments(seed: int) -> None:
    n = 200_000
    lengths = sample_lengths(n, "gamma", 10.0, 1.0, seed)
    assert abs(lengths.mean() - 10.0) < 4 * 1.0 / math.sqrt(n)
    assert abs(lengths.std() - 1.0) < 0.01


def test_seed_reproducible_and_streams_independent(seed: int) -> None:
    a = random_sticks(100, (20.0, 20.0), length_dist="normal", seed=seed)
    b = random_sticks(100, (20.0, 20.0), length_dist="normal", seed=seed)
    c = random_sticks(100, (20.0, 20.0), length_dist="gamma", length_std_um=2.0, seed=seed)
    assert a == b
    np.testing.assert_array_equal(a.centers_um, c.centers_um)  # own stream for lengths
    np.testing.assert_array_equal(a.angles_rad, c.angles_rad)
    assert not np.array_equal(a.lengths_um, c.lengths_um)
    assert np.all((a.angles_rad >= 0) & (a.angles_rad < np.pi))
    assert np.all((a.centers_um >= 0) & (a.centers_um <= 20.0))


# -- electrodes ---------------------------------------------------------------------------------


def test_clip_intervals_hand_solved() -> None:
    ends = np.array(
        [
            [[-1.0, 3.0], [6.0, 3.0]],  # crosses the left line x = 0 at t = 1/7
            [[2.0, 2.0], [3.0, 3.0]],  # inside pad [1, 4]^2 entirely
            [[5.0, 0.0], [5.0, 9.0]],
        ]
    )  # misses both
    rects = np.array([[0.0, 0.0, 0.0, 10.0], [1.0, 1.0, 4.0, 4.0]])
    touch, t0, t1 = clip_intervals(ends, rects)
    np.testing.assert_array_equal(touch, [[True, True], [False, True], [False, False]])
    assert t0[0, 0] == pytest.approx(1 / 7) and t1[0, 0] == pytest.approx(1 / 7)
    assert (t0[1, 1], t1[1, 1]) == (0.0, 1.0)
    assert t0[0, 1] == pytest.approx(2 / 7) and t1[0, 1] == pytest.approx(5 / 7)


def test_wire_touching_two_electrodes_is_reported() -> None:
    layout = ElectrodeLayout((Electrode("a", (0, 0, 1, 10)), Electrode("b", (3, 0, 4, 10))))
    ends = np.array([[[0.5, 5.0], [3.5, 5.0]]])
    with pytest.raises(ValidationError, match=r"wire 0 touches both electrode 'a' and 'b'"):
        electrode_contacts(ends, layout)


def test_layouts() -> None:
    two = nwphys.two_terminal((100.0, 50.0))
    assert two.names == ("in", "out")
    np.testing.assert_array_equal(two.rects_um, [[0, 0, 0, 50], [100, 0, 100, 50]])
    mea = nwphys.make_layout("mea4x4", (100.0, 100.0), series_resistance_ohm=82.0)
    assert len(mea) == 16 and mea.names[0] == "E00" and mea.names[-1] == "E33"
    np.testing.assert_allclose(mea.rects_um[0], [12.5 - 2.5, 12.5 - 2.5, 12.5 + 2.5, 12.5 + 2.5])
    np.testing.assert_array_equal(mea.series_resistance_ohm, np.full(16, 82.0))
    assert nwphys.make_layout("mea2x3", (10.0, 10.0)).name == "mea2x3"


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_wires": 0}, r"n_wires must be an integer in \[1, inf\), got 0"),
        ({"n_wires": -5}, r"n_wires must be an integer in \[1, inf\)"),
        ({"n_wires": 10, "size_um": (-1.0, 10.0)}, r"size_um\[0\] \(width\) must be in \(0.0, inf\)"),
        ({"n_wires": 10, "size_um": (10.0, 0.0)}, r"size_um\[1\] \(height\) must be in \(0.0, inf\)"),
        ({"density_per_um2": -0.1}, r"density_per_um2 must be in \(0.0, inf\)"),
        ({"density_per_um2": float("nan")}, r"density_per_um2 must be a finite real number"),
        ({"n_wires": 10, "length_mean_um": float("nan")}, r"length_mean_um must be a finite real"),
        ({"n_wires": 10, "length_std_um": -1.0}, r"length_std_um must be in \[0.0, inf\)"),
        ({"n_wires": 10, "diameter_nm": float("inf")}, r"diameter_nm must be a finite real"),
        ({"n_wires": 10, "length_dist": "lognormal"}, r"length_dist must be one of 'normal'"),
        (
            {"n_wires": 10, "junction_params": {"kp0_per_s": float("nan")}},
            r"junction_params\['kp0_per_s'\] must be a finite",
        ),
        ({"n_wires": 10, "electrodes": "mea4"}, r"electrodes must be 'two-terminal', 'meaRxC'"),
        (
            {"n_wires": 10, "electrodes": [Electrode("x", (5, 5, 120, 6))]},
            r"electrodes: electrode 'x' rect_um .* must lie inside the area \[0, 100.0\]",
        ),
        ({"n_wires": 10, "density_per_um2": 0.1}, r"give n_wires or density_per_um2, not both"),
        ({}, r"give n_wires or density_per_um2 \(or a preset\)"),
        ({"n_wires": 10, "series_resistance_ohm": -82.0}, r"series_resistance_ohm must be in \[0.0, inf\)"),
    ],
)
def test_bad_input_names_the_parameter(kwargs: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        nwphys.generate(seed=0, **kwargs)


def test_bad_preset_and_electrode_rect() -> None:
    with pytest.raises(ValidationError, match=r"preset must be one of 'torino', 'sydney'"):
        nwphys.generate("melbourne", seed=0)
    with pytest.raises(ValidationError, match=r"rect_um of electrode 'e' must have x_min <= x_max"):
        Electrode("e", (3, 0, 1, 1))
    with pytest.raises(
        ValidationError, match=r"series_resistance_ohm of electrode 'e' must be a finite real number in \[0.0"
    ):
        Electrode("e", (0, 0, 1, 1), series_resistance_ohm=float("nan"))


# -- percolation --------------------------------------------------------------------------------


def test_percolation_ratio_formula() -> None:
    assert nwphys.critical_density_per_um2(1.0) == pytest.approx(5.63726)
    # torino preset: n <L^2> / 5.63726 with <L^2> = 40^2 + 14^2 (before truncation)
    assert nwphys.percolation_ratio(0.006, 40.0**2 + 14.0**2) == pytest.approx(0.006 * 1796 / 5.63726)


@pytest.mark.slow
def test_finite_size_percolation_threshold_near_5_6373() -> None:
    """Left-right spanning probability of fixed-length sticks in a 16 L x 16 L box.

    The density where the spanning probability crosses 1/2 estimates the threshold
    n_c L^2 = 5.63726 (finite-size shift of a few per cent at this size); tolerance 10 %.
    """
    side, n_seeds = 16.0, 40
    grid = np.array([4.6, 5.0, 5.4, 5.8, 6.2, 6.6, 7.0])
    prob = []
    for nl2 in grid:
        hits = [
            nwphys.generate(
                n_wires=round(nl2 * side * side),
                size_um=(side, side),
                length_dist="fixed",
                length_mean_um=1.0,
                seed=s,
            ).connected
            for s in range(n_seeds)
        ]
        prob.append(np.mean(hits))
    prob = np.maximum.accumulate(np.array(prob))  # monotone envelope for the interpolation
    assert prob[0] < 0.5 < prob[-1]
    estimate = float(np.interp(0.5, prob, grid))
    assert abs(estimate / 5.63726 - 1) < 0.10, estimate
