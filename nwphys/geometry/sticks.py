"""Random-stick geometry of Ag nanowire networks and exact junction detection.

Wires are straight sticks (segments) in a ``W x H`` area, in micrometres. A stick is given by its
centre, its orientation angle in ``[0, pi)`` and its length; its two endpoints follow. Junctions are
the exact intersections of two sticks, found with a spatial index (:class:`scipy.spatial.cKDTree`
on the stick midpoints of each length bin, query radius = half the sum of the longest sticks of the
two bins) and one vectorised segment-segment test over the candidate pairs, so the cost grows like
``N log N`` (plus the number of candidate pairs, which is linear in ``N`` at fixed density).

Conventions
-----------
* Centres are uniform in the area, orientations uniform in ``[0, pi)``. Sticks may stick out of
  the area (their centres lie inside it), as in the published random-stick models.
* Length distributions: ``"normal"`` truncated at ``> 0`` by resampling (never clipped),
  ``"gamma"`` with the given mean and standard deviation, ``"fixed"`` (every stick has the mean).
* Centres, angles and lengths each come from their own child stream of
  ``np.random.default_rng(seed).spawn(3)``, so changing the length law does not move the centres.
* Collinear overlapping sticks (a zero-probability event) are not reported as junctions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.spatial import cKDTree

from nwphys._checks import check_choice, check_finite_array, check_int, check_real, make_rng
from nwphys.errors import ValidationError

__all__ = [
    "LENGTH_DISTRIBUTIONS",
    "Geometry",
    "find_junctions",
    "random_sticks",
    "sample_lengths",
]

#: Allowed names of the stick length distribution.
LENGTH_DISTRIBUTIONS: tuple[str, ...] = ("normal", "gamma", "fixed")

LengthDist = Literal["normal", "gamma", "fixed"]


@dataclass(frozen=True, eq=False)
class Geometry:
    """Positions, orientations and lengths of the wires of one device.

    Parameters
    ----------
    size_um : tuple of float
        Width and height ``(W, H)`` of the deposition area in micrometres.
    centers_um : ndarray of float, shape (n_wires, 2)
        Wire centres in micrometres.
    angles_rad : ndarray of float, shape (n_wires,)
        Wire orientation in radians, in ``[0, pi)``.
    lengths_um : ndarray of float, shape (n_wires,)
        Wire lengths in micrometres (> 0).
    diameter_nm : float
        Wire diameter in nanometres (used for the inner resistance of the multi-nodal model).
    """

    size_um: tuple[float, float]
    centers_um: np.ndarray
    angles_rad: np.ndarray
    lengths_um: np.ndarray
    diameter_nm: float = 60.0

    def __post_init__(self) -> None:
        w = check_real("size_um[0]", self.size_um[0], low=0.0, low_open=True)
        h = check_real("size_um[1]", self.size_um[1], low=0.0, low_open=True)
        c = check_finite_array("centers_um", self.centers_um, ndim=2)
        a = check_finite_array("angles_rad", self.angles_rad, ndim=1)
        lengths = check_finite_array("lengths_um", self.lengths_um, ndim=1)
        if c.shape[1:] != (2,) or a.shape[0] != c.shape[0] or lengths.shape[0] != c.shape[0]:
            raise ValidationError(
                f"centers_um (n, 2), angles_rad (n,) and lengths_um (n,) must agree, got shapes "
                f"{c.shape}, {a.shape}, {lengths.shape}"
            )
        if np.any(lengths <= 0):
            raise ValidationError(f"lengths_um must be > 0, got min {lengths.min()!r}")
        d = check_real("diameter_nm", self.diameter_nm, low=0.0, low_open=True)
        for attr, val in (
            ("size_um", (w, h)),
            ("centers_um", c),
            ("angles_rad", a),
            ("lengths_um", lengths),
            ("diameter_nm", d),
        ):
            object.__setattr__(self, attr, val)

    @property
    def n_wires(self) -> int:
        """Number of wires."""
        return int(self.lengths_um.shape[0])

    @property
    def area_um2(self) -> float:
        """Deposition area ``W * H`` in square micrometres."""
        return float(self.size_um[0] * self.size_um[1])

    @property
    def density_per_um2(self) -> float:
        """Wire number density ``n_wires / area`` in wires per square micrometre."""
        return self.n_wires / self.area_um2

    @property
    def directions(self) -> np.ndarray:
        """Unit direction of each wire, shape (n_wires, 2)."""
        return np.column_stack([np.cos(self.angles_rad), np.sin(self.angles_rad)])

    @property
    def endpoints_um(self) -> np.ndarray:
        """Wire endpoints in micrometres, shape (n_wires, 2, 2): ``[:, 0]`` start, ``[:, 1]`` end."""
        half = 0.5 * self.lengths_um[:, None] * self.directions
        return np.stack([self.centers_um - half, self.centers_um + half], axis=1)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Geometry):
            return NotImplemented
        return (
            self.size_um == other.size_um
            and self.diameter_nm == other.diameter_nm
            and np.array_equal(self.centers_um, other.centers_um)
            and np.array_equal(self.angles_rad, other.angles_rad)
            and np.array_equal(self.lengths_um, other.lengths_um)
        )

    __hash__ = None  # type: ignore[assignment]


def sample_lengths(
    n: int,
    length_dist: LengthDist,
    length_mean_um: float,
    length_std_um: float,
    seed: int | np.random.Generator | None,
) -> np.ndarray:
    """Draw ``n`` stick lengths in micrometres.

    Parameters
    ----------
    n : int
        Number of lengths (>= 0).
    length_dist : {"normal", "gamma", "fixed"}
        ``"normal"``: normal(mean, std) truncated at > 0 by resampling the non-positive draws;
        ``"gamma"``: gamma law with shape ``(mean/std)^2`` and scale ``std^2/mean``;
        ``"fixed"``: every length equals the mean (std is ignored).
    length_mean_um, length_std_um : float
        Mean (> 0) and standard deviation (>= 0; > 0 for gamma) in micrometres. For the
        truncated normal these are the parameters before truncation.
    seed : int, Generator or None
        Random source.

    Returns
    -------
    ndarray of float, shape (n,)
    """
    n = check_int("n", n, low=0)
    check_choice("length_dist", length_dist, LENGTH_DISTRIBUTIONS)
    mean = check_real("length_mean_um", length_mean_um, low=0.0, low_open=True)
    std = check_real("length_std_um", length_std_um, low=0.0)
    rng = make_rng(seed)
    if length_dist == "fixed" or (length_dist == "normal" and std == 0.0):
        return np.full(n, mean)
    if length_dist == "gamma":
        if std == 0.0:
            raise ValidationError(f"length_std_um must be > 0 for length_dist='gamma', got {length_std_um!r}")
        return rng.gamma(shape=(mean / std) ** 2, scale=std**2 / mean, size=n)
    if mean / std < 0.5:
        # the acceptance rate of the resampling would be < 70 %: refuse instead of looping long
        raise ValidationError(
            f"length_std_um must be <= 2 * length_mean_um for the truncated normal, got "
            f"mean {mean!r}, std {std!r}"
        )
    out = rng.normal(mean, std, size=n)
    bad = np.flatnonzero(out <= 0)
    while bad.size:
        out[bad] = rng.normal(mean, std, size=bad.size)
        bad = bad[out[bad] <= 0]
    return out


def random_sticks(
    n_wires: int,
    size_um: tuple[float, float],
    *,
    length_dist: LengthDist = "normal",
    length_mean_um: float = 10.0,
    length_std_um: float = 1.0,
    diameter_nm: float = 60.0,
    seed: int | np.random.Generator | None = None,
) -> Geometry:
    """Deposit ``n_wires`` random sticks in a ``W x H`` area.

    Parameters
    ----------
    n_wires : int
        Number of wires (>= 1).
    size_um : (float, float)
        Width and height of the area in micrometres (> 0).
    length_dist, length_mean_um, length_std_um :
        Length law, see :func:`sample_lengths`.
    diameter_nm : float
        Wire diameter in nanometres (> 0).
    seed : int, Generator or None
        Random source; centres, angles and lengths use three independent child streams.

    Returns
    -------
    Geometry
    """
    n = check_int("n_wires", n_wires, low=1)
    w, h = check_size(size_um)
    rng_c, rng_a, rng_l = make_rng(seed).spawn(3)
    lengths = sample_lengths(n, length_dist, length_mean_um, length_std_um, rng_l)
    centers = rng_c.uniform(0.0, 1.0, size=(n, 2)) * np.array([w, h])
    angles = rng_a.uniform(0.0, np.pi, size=n)
    return Geometry((w, h), centers, angles, lengths, diameter_nm)


def check_size(size_um: object) -> tuple[float, float]:
    """The area ``(W, H)`` in micrometres as two floats > 0 (also used by :func:`nwphys.generate`)."""
    try:
        w, h = size_um  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValidationError(f"size_um must be a pair (W, H) in micrometres, got {size_um!r}") from None
    return (
        check_real("size_um[0] (width)", w, low=0.0, low_open=True),
        check_real("size_um[1] (height)", h, low=0.0, low_open=True),
    )


def _cross(ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    return ax * by - ay * bx


def segment_intersections(
    p_um: np.ndarray, r_um: np.ndarray, q_um: np.ndarray, s_um: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised test of segments ``p + t r`` against ``q + u s`` (t, u in [0, 1]).

    Parameters
    ----------
    p_um, q_um : ndarray, shape (m, 2)
        Start points.
    r_um, s_um : ndarray, shape (m, 2)
        Segment vectors (end minus start).

    Returns
    -------
    hit : ndarray of bool, shape (m,)
        Whether the pair intersects (parallel pairs never do).
    t, u : ndarray of float, shape (m,)
        Intersection parameters along each segment (meaningful where ``hit``).
    """
    den = _cross(r_um[:, 0], r_um[:, 1], s_um[:, 0], s_um[:, 1])
    dx = q_um[:, 0] - p_um[:, 0]
    dy = q_um[:, 1] - p_um[:, 1]
    tn = _cross(dx, dy, s_um[:, 0], s_um[:, 1])
    un = _cross(dx, dy, r_um[:, 0], r_um[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = tn / den
        u = un / den
    hit = (den != 0) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
    return hit, t, u


def find_junctions(geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Find every wire-wire intersection of a geometry.

    Candidate pairs are the pairs of wires whose midpoints are closer than the half sum of their
    lengths (a necessary condition to cross), found with a k-d tree; the exact test is one
    vectorised segment-segment intersection over those pairs.

    Parameters
    ----------
    geometry : Geometry

    Returns
    -------
    wires : ndarray of int64, shape (n_junctions, 2)
        Wire index pairs ``(i, j)`` with ``i < j``, sorted lexicographically.
    xy_um : ndarray of float, shape (n_junctions, 2)
        Position of each junction in micrometres.
    """
    n = geometry.n_wires
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros((0, 2))
    lengths = geometry.lengths_um
    centers = geometry.centers_um
    a, b = _candidate_pairs(centers, lengths)
    i, j = np.minimum(a, b), np.maximum(a, b)  # the position is computed along the lower wire
    # prune with the exact necessary condition |c_i - c_j| <= (L_i + L_j) / 2
    d2 = np.sum((centers[i] - centers[j]) ** 2, axis=1)
    close = d2 <= (0.25 * (lengths[i] + lengths[j]) ** 2)
    i, j = i[close], j[close]
    ends = geometry.endpoints_um
    p, r = ends[i, 0], ends[i, 1] - ends[i, 0]
    q, s = ends[j, 0], ends[j, 1] - ends[j, 0]
    hit, t, _ = segment_intersections(p, r, q, s)
    i, j, t = i[hit], j[hit], t[hit]
    xy = p[hit] + t[:, None] * r[hit]
    order = np.lexsort((j, i))
    return np.column_stack([i[order], j[order]]), xy[order]


def _candidate_pairs(centers: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs whose midpoints are within the half sum of the longest lengths of their length bins.

    Wires are split into length bins (quantiles 0.5, 0.8, 0.95) so that the search radius of a bin
    pair is ``(max L_a + max L_b) / 2`` instead of the global longest wire: with a broad length law
    the candidate count drops several-fold. Each unordered pair is produced exactly once.
    """
    edges = np.unique(np.quantile(lengths, [0.5, 0.8, 0.95]))
    label = np.searchsorted(edges, lengths, side="left")
    groups = [np.flatnonzero(label == k) for k in range(edges.size + 1)]
    groups = [g for g in groups if g.size]
    trees = [cKDTree(centers[g]) for g in groups]
    hi = [float(lengths[g].max()) for g in groups]
    out_i, out_j = [], []
    for a in range(len(groups)):
        p = trees[a].query_pairs(r=hi[a], output_type="ndarray").astype(np.int64)
        out_i.append(groups[a][p[:, 0]])
        out_j.append(groups[a][p[:, 1]])
        for b in range(a + 1, len(groups)):
            m = trees[a].sparse_distance_matrix(trees[b], (hi[a] + hi[b]) / 2, output_type="ndarray")
            out_i.append(groups[a][m["i"].astype(np.int64)])
            out_j.append(groups[b][m["j"].astype(np.int64)])
    return np.concatenate(out_i), np.concatenate(out_j)


def brute_force_junctions(geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Reference all-pairs version of :func:`find_junctions` (O(N^2) memory; tests only)."""
    n = geometry.n_wires
    i, j = np.triu_indices(n, k=1)
    ends = geometry.endpoints_um
    p, r = ends[i, 0], ends[i, 1] - ends[i, 0]
    q, s = ends[j, 0], ends[j, 1] - ends[j, 0]
    hit, t, _ = segment_intersections(p, r, q, s)
    xy = p[hit] + t[hit, None] * r[hit]
    return np.column_stack([i[hit], j[hit]]).astype(np.int64), xy


def position_along_um(geometry: Geometry, wire: np.ndarray, xy_um: np.ndarray) -> np.ndarray:
    """Signed distance in micrometres from the centre of ``wire`` to the point ``xy_um`` on it.

    Parameters
    ----------
    wire : ndarray of int, shape (m,)
    xy_um : ndarray of float, shape (m, 2)

    Returns
    -------
    ndarray of float, shape (m,), in ``[-L/2, L/2]`` for points on the wire.
    """
    u = geometry.directions[wire]
    return np.sum((xy_um - geometry.centers_um[wire]) * u, axis=1)
