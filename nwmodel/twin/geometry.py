"""Estimate an unknown chip's wire density (and mean wire length) from its measured currents.

A deposited network is one draw of a random ensemble, so its geometry cannot be fitted wire by
wire; what a measurement identifies is the ensemble it came from. :func:`estimate_geometry` uses
a synthetic likelihood (Wood, Nature 2010) over the ensemble's parameters:

1. **Statistics.** The measured drive is cut into holds (runs of at least :data:`MIN_HOLD`
   readings at one nonzero voltage). Each hold gives two statistics of the driven electrode's
   current: ``log |I|`` averaged over readings 2-4 of the hold (the state the preceding drive
   left, read at this level) and over its last three readings (where the hold took it).
2. **Ensemble.** For every candidate ``(density, mean length)`` of a grid, ``replicas`` networks
   are generated from the chip description of a template device (size, electrodes, length law,
   diameter, representation, junction law and parameters) and the measured drive is replayed on
   each, with the junctions' noise and the read noise simulated as the chip has them. Replica
   ``r`` uses the same seed at every candidate (common random numbers), so the likelihood surface
   is smooth in the parameters.
3. **Likelihood.** The mean of each statistic is regressed on a quadratic in ``log density`` (and
   ``log length``) over the connected replicas; the residuals, pooled over the grid, give the
   ensemble covariance ``S``, shrunk by Ledoit and Wolf (the statistics are strongly correlated
   and the replicas few; without shrinkage the smallest variances are underestimated and the
   intervals come out too narrow). A candidate's log-likelihood is
   ``-0.5 (s - mu)^T S^-1 (s - mu) + log p_c``, with ``p_c`` the fraction of its replicas whose
   electrodes are connected and no wire shorts two of them, ``(k + 1/2) / (R + 1)`` (the measured
   device conducts, through its junctions).
4. **Estimate.** The maximum on a fine grid inside the candidate range, and 95 % profile-likelihood
   intervals (log-likelihood within 1.92 of the maximum).
5. **Adequacy.** The measurement's Mahalanobis distance from the ensemble at the estimate is
   ranked among the replicas' distances, all out of sample (each seed's replicas measured with
   the regression and plain covariance of the other seeds'). The measurement is
   ``adequate`` unless it lies further than every replica: a measurement that no device of the
   ensemble resembles (wrong junction kinetics or conductances, wrong chip description) fails,
   and a device of the ensemble fails with probability ``1 / (n + 1)`` for ``n`` replicas.
   The plain covariance keeps the power: the kinetics change the shape of the response in
   directions where the ensemble hardly varies, which shrinkage would hide.

The junction parameters are taken as known (the template's: published values, or a fit of a chip
of the same batch whose geometry is known, :func:`~nwmodel.twin.fit.fit_junctions`). They cannot
be estimated together with the density from one current: a network of fewer wires with more
conductive junctions carries the same current at rest. The wire count enters only through the
density; the length law keeps the template's coefficient of variation when the mean length varies.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from nwmodel._checks import check_int, check_real, make_rng
from nwmodel.twin.fit import FIT_PARAMS, FitError, _drive_of, replay, replay_method

__all__ = [
    "MIN_HOLD",
    "GeometryFit",
    "GeometryRehearsal",
    "estimate_geometry",
    "hold_statistics",
    "rehearse_geometry",
]

#: Shortest hold (readings at one nonzero voltage) that gives statistics.
MIN_HOLD = 5
#: Log-likelihood drop that bounds a 95 % profile-likelihood interval (chi-square, 1 dof, / 2).
_CI_DROP = 0.5 * 3.841458820694124
_FINE = 241


@dataclasses.dataclass(frozen=True)
class GeometryFit:
    """The result of :func:`estimate_geometry`.

    Attributes
    ----------
    density_per_um2 : float
        Estimated wire density in wires per square micrometre.
    density_interval_per_um2 : (float, float)
        95 % profile-likelihood interval of the density.
    length_mean_um : float
        Estimated (or, when held fixed, the template's) mean wire length in micrometres.
    length_interval_um : (float, float) or None
        95 % interval of the mean length; None when the length was held fixed.
    percolation_ratio : float
        ``n <L^2> / 5.63726`` at the estimate (:func:`nwphys.percolation_ratio`).
    percolation_interval : (float, float)
        Its 95 % profile-likelihood interval (the range of ``n <L^2> / 5.63726`` over the
        parameters within the likelihood drop; narrower than the density's when the length is
        estimated too, as density and length trade off along lines of equal ``n <L^2>``).
    p_value : float
        ``(1 + k) / (n + 1)``: ``k`` of the ``n`` connected replicas lie at least as far from the
        ensemble at the estimate as the measurement (out of sample; see the module docstring).
    adequate : bool
        Some replica lies as far as the measurement (``p_value > 1 / (n + 1)``), and the estimate
        lies inside the candidate grid.
    interval_closed : bool
        Both ends of every interval lie inside the candidate grid (else the grid is too narrow to
        bound the uncertainty and the open end is the grid's).
    densities_per_um2, lengths_um : ndarray
        The candidate grid.
    log_likelihood : ndarray, shape (n_lengths, n_densities)
        Synthetic log-likelihood at the candidates (smoothed by the regression of the means).
    connected_fraction : ndarray, shape (n_lengths, n_densities)
        Fraction of each candidate's replicas like the chip measured: electrodes connected, and no
        wire touching two electrodes (a short circuit; likely when wires are as long as the gap).
    statistics : ndarray, shape (n_statistics,)
        The measured statistics (log amperes).
    replicas : int
    n_simulations : int
        Replays of the drive (connected replicas).
    wall_time_s : float
    chip : dict
        The chip description the replicas were generated from (``nwphys.generate`` arguments,
        without the density and mean length).
    junction_model : str
    junction_params : dict of str to float
        The junctions as given (the template's, noise parameters included), which
        :meth:`write_preset` writes beside the geometry.
    """

    density_per_um2: float
    density_interval_per_um2: tuple[float, float]
    length_mean_um: float
    length_interval_um: tuple[float, float] | None
    percolation_ratio: float
    percolation_interval: tuple[float, float]
    p_value: float
    adequate: bool
    interval_closed: bool
    densities_per_um2: np.ndarray
    lengths_um: np.ndarray
    log_likelihood: np.ndarray
    connected_fraction: np.ndarray
    statistics: np.ndarray
    replicas: int
    n_simulations: int
    wall_time_s: float
    chip: dict[str, Any]
    junction_model: str
    junction_params: dict[str, float]

    def generate_kwargs(self) -> dict[str, Any]:
        """``nwphys.generate`` arguments for a device of the estimated ensemble (add a seed)."""
        return {**self.chip, "density_per_um2": self.density_per_um2, "length_mean_um": self.length_mean_um,
                "length_std_um": self.chip["length_std_um"] * self.length_mean_um / self._length0,
                "junction_model": self.junction_model, "junction_params": dict(self.junction_params)}

    @property
    def _length0(self) -> float:
        return float(self.chip["length_mean_um"])

    def geometry(self) -> dict[str, Any]:
        """The estimated geometry as JSON-ready ``nwphys.generate`` arguments.

        ``electrodes`` is the layout's name; a custom layout (no name to rebuild it by) is left
        out, and the device generator then needs its electrodes given.
        """
        g = self.generate_kwargs()
        out = {k: g[k] for k in ("density_per_um2", "length_dist", "length_mean_um", "length_std_um",
                                 "diameter_nm", "representation")}
        out["size_um"] = [float(x) for x in g["size_um"]]
        name = getattr(self.chip["electrodes"], "name", "custom")
        if name != "custom":
            out["electrodes"] = name
        return out

    def write_preset(self, path: Any, *, force: bool = False) -> Any:
        """Write the junctions and the estimated geometry as one preset file.

        ``nwhil device generate --preset FILE.json`` takes both (its options override single
        values) and :meth:`nwmodel.physical.SimulatedDeviceSpec.from_preset` too; the intervals,
        the p-value and ``adequate`` are stored beside them under ``geometry_fit``.
        """
        from nwphys.io.presetfile import write_junction_preset

        fit = {"density_interval_per_um2": list(self.density_interval_per_um2),
               "length_interval_um": (None if self.length_interval_um is None
                                      else list(self.length_interval_um)),
               "percolation_ratio": self.percolation_ratio,
               "percolation_interval": list(self.percolation_interval),
               "p_value": self.p_value, "adequate": self.adequate, "interval_closed": self.interval_closed,
               "replicas": self.replicas}
        return write_junction_preset(path, self.junction_model, dict(self.junction_params),
                                     extra={"geometry": self.geometry(), "geometry_fit": fit}, force=force)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (the grid and the likelihood surface as lists)."""
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, np.ndarray):
                d[k] = v.tolist()
        d["chip"] = {k: v for k, v in self.chip.items() if k != "electrodes"}
        d["chip"]["electrodes"] = list(_electrode_names(self.chip["electrodes"]))
        return d


def _electrode_names(layout: Any) -> tuple[str, ...]:
    return tuple(layout.names) if hasattr(layout, "names") else (str(layout),)


def hold_statistics(input_V: np.ndarray, current_A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The statistics of a drive's holds (see the module docstring).

    Parameters
    ----------
    input_V : ndarray, shape (n_steps, n_inputs)
        The applied voltages, one row per reading.
    current_A : ndarray, shape (n_steps,)
        The driven electrode's current, in amperes.

    Returns
    -------
    index : ndarray of int, shape (n_statistics, 3)
        The readings each statistic averages.
    values : ndarray, shape (n_statistics,)
        ``log`` of the mean ``|I|`` over those readings (``-inf`` where it is 0).
    """
    v = np.asarray(input_V, dtype=float)
    v = v.reshape(v.shape[0], -1)
    i = np.abs(np.asarray(current_A, dtype=float))
    change = np.r_[True, np.any(v[1:] != v[:-1], axis=1)]
    starts = np.flatnonzero(change)
    ends = np.r_[starts[1:], v.shape[0]]
    idx = []
    for a, b in zip(starts, ends, strict=True):
        if b - a >= MIN_HOLD and np.any(v[a] != 0.0):
            idx.append(np.arange(a + 1, a + 4))
            idx.append(np.arange(b - 3, b))
    index = np.asarray(idx, dtype=int).reshape(-1, 3)
    with np.errstate(divide="ignore"):
        values = np.log(i[index].mean(axis=1)) if index.size else np.zeros(0)
    return index, values


def _chip_of(template: Any) -> dict[str, Any]:
    meta = dict(getattr(template, "metadata", {}) or {})
    c = dict(meta.get("creation_params") or {})
    if not c:
        raise FitError("the template device has no creation parameters (not a generated device file?)")
    model, params = template.junction_model, dict(template.junction_params)
    if model == "rate_balance_ou":  # the ensemble's mean response: the deterministic law
        model, params = "rate_balance", {k: float(params[k]) for k in FIT_PARAMS}
    return {
        "size_um": tuple(float(x) for x in c["size_um"]),
        "length_dist": c["length_dist"],
        "length_mean_um": float(c["length_mean_um"]),
        "length_std_um": float(c["length_std_um"]),
        "diameter_nm": float(c["diameter_nm"]),
        "electrodes": template.electrodes,
        "representation": template.representation,
        "junction_model": model,
        "junction_params": params,
        "resistivity_ohm_m": float(template.resistivity_ohm_m),
    }


def _noise_of(template: Any, junction_noise: Mapping[str, float] | None) -> dict[str, float]:
    if junction_noise is None:
        if template.junction_model != "rate_balance_ou":
            return {}
        junction_noise = {k: v for k, v in template.junction_params.items() if k not in FIT_PARAMS}
    noise = {k: float(v) for k, v in junction_noise.items()}
    if not any(noise.get(k, 0.0) > 0 for k in ("sigma_per_sqrt_s", "jump_rate_per_s")):
        return {}
    return noise


def _replica_current(net: Any, chip: Mapping[str, Any], noise: Mapping[str, float], read_noise_A: float,
                     v: np.ndarray, dt: float, inputs: Sequence[str], ground: Sequence[str], k_in: int,
                     seed: int) -> np.ndarray:
    """The driven electrode's current of one replica under the measured drive, in amperes."""
    if not noise and read_noise_A == 0.0:
        m = replay(net, chip["junction_params"], v, dt, inputs=inputs, ground=ground,
                   junction_model=chip["junction_model"])
        return np.asarray(m.input_current_A[:, k_in])
    from hardware.backends.simulated import SimulatedDevice

    if noise:
        net = net.with_junctions("rate_balance_ou", {**chip["junction_params"], **noise})
    else:
        net = net.with_junctions(chip["junction_model"], chip["junction_params"])
    method = replay_method(chip["junction_model"])
    dev = SimulatedDevice(
        net, inputs=list(inputs), outputs=[], ground=list(ground), method=method, rtol=1e-5, atol=1e-7,
        max_abs_V=float(np.max(np.abs(v))) + 1.0, compliance_A=1e6, compliance_policy="record",
        read_noise_A=read_noise_A, seed=seed,
    )
    try:
        return np.asarray(dev.apply(v, dt).input_current_A[:, k_in])
    finally:
        dev.close()


def _grid(name: str, values: Any, low: int = 4) -> np.ndarray:
    g = np.asarray(values, dtype=float).ravel()
    if g.size < low or not np.all(np.isfinite(g)) or np.any(g <= 0) or np.any(np.diff(g) <= 0):
        raise FitError(f"{name} must be at least {low} increasing positive values, got {g.tolist()}")
    return g


def _design(x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    cols = [np.ones_like(x), x, x * x]
    if y is not None:
        cols += [y, y * y, x * y]
    return np.stack(cols, axis=-1)


def _shrunk_inverse(resid: np.ndarray, dof: int) -> np.ndarray:
    """Inverse of the Ledoit-Wolf shrunk covariance of the residuals (of the standardised
    statistics, so that shrinkage pulls the correlations, not the scales)."""
    from sklearn.covariance import ledoit_wolf

    sd = np.sqrt(np.sum(resid**2, axis=0) / dof)
    corr, _ = ledoit_wolf(resid / sd, assume_centered=True)  # sums over n rows, not dof
    return np.linalg.inv(corr * (resid.shape[0] / dof)) / np.outer(sd, sd)


def _out_of_sample_p(S: np.ndarray, X: np.ndarray, fixed_length: bool, *, x_obs: float, y_obs: float | None,
                     s_obs: np.ndarray, n_coef: int) -> float:
    """Rank of the measurement's Mahalanobis distance among the replicas', out of sample.

    Leave one seed out: the regression and plain covariance of the replicas of every other seed
    measure the replicas of that seed (at every candidate; common random numbers tie them) and the
    measurement, so every distance is taken out of sample and the rank needs no Gaussian law:
    ``p = (1 + k) / (n + 1)`` with ``k`` the replicas at least as far as the measurement.
    """
    k, n = 0, 0
    for fold in np.unique(X[:, 2]):
        train, test = X[:, 2] != fold, X[:, 2] == fold
        y_tr = None if fixed_length else X[train, 1]
        A = _design(X[train, 0], y_tr)
        coef, *_ = np.linalg.lstsq(A, S[train], rcond=None)
        resid = S[train] - A @ coef
        cov_inv = np.linalg.pinv(resid.T @ resid / max(1, int(train.sum()) - n_coef), hermitian=True)
        r_test = S[test] - _design(X[test, 0], None if fixed_length else X[test, 1]) @ coef
        m_test = np.einsum("ni,ij,nj->n", r_test, cov_inv, r_test)
        r = s_obs - _design(np.asarray(x_obs), None if y_obs is None else np.asarray(y_obs)) @ coef
        m_obs = float(r @ cov_inv @ r)
        k += int(np.count_nonzero(m_test >= m_obs))
        n += int(test.sum())
    return (1 + k) / (n + 1)


def _interval(axis: np.ndarray, profile: np.ndarray) -> tuple[tuple[float, float], bool]:
    inside = np.flatnonzero(profile >= profile.max() - _CI_DROP)
    lo, hi = int(inside[0]), int(inside[-1])
    return (float(axis[lo]), float(axis[hi])), (lo > 0 and hi < axis.size - 1)


def estimate_geometry(
    measurement: Any,
    template: Any,
    *,
    densities_per_um2: Sequence[float] | None = None,
    lengths_um: Sequence[float] | None = None,
    replicas: int = 12,
    junction_noise: Mapping[str, float] | None = None,
    read_noise_A: float = 0.0,
    statistics: Sequence[int] | None = None,
    electrode: str | None = None,
    seed: int | np.random.Generator = 0,
    progress: Callable[[int, int], None] | None = None,
) -> GeometryFit:
    """Estimate the wire density (and mean length) of the measured chip, with 95 % intervals.

    Parameters
    ----------
    measurement : hardware.Measurement
        The measured currents and the drive (a characterisation, or any drive with holds).
    template : nwphys.NanowireNetwork
        A generated device of the same chip design: its size, electrodes, length law, diameter,
        representation and junction law and parameters are used; its own wires are not.
    densities_per_um2 : sequence of float, optional
        Candidate densities, increasing (default: 13 values from 0.5 to 2 times the template's,
        evenly spaced in the logarithm).
    lengths_um : sequence of float, optional
        Candidate mean lengths, increasing; default: the template's mean length, held fixed.
    replicas : int
        Networks per candidate (>= 4).
    junction_noise : mapping, optional
        ``"rate_balance_ou"`` noise parameters (``sigma_per_sqrt_s``, ``jump_rate_per_s``, ...) of
        the chip's junctions, simulated in every replica so that the ensemble's spread includes
        them (default: the template's own when its junctions are stochastic, else none). At the
        published level the noise moves a junction at rest by more than its resting state, so a
        noisy chip compared with noiseless replicas reads as a denser network.
    read_noise_A : float
        Read noise of the current in amperes, added to every replica's readings.
    statistics : sequence of int, optional
        Rows of :func:`hold_statistics` to use (default: all); e.g. one row for the inversion of
        a single conductance.
    electrode : str, optional
        The driven electrode (default: the characterisation's, else the first input).
    seed : int or Generator
        Seed of the replicas' geometries.
    progress : callable(done, total), optional
        Called after each candidate.

    Returns
    -------
    GeometryFit

    Raises
    ------
    FitError
        The measurement's electrodes are not the template's, it has fewer holds than the
        regression needs, the measured device does not conduct, a grid is not increasing, or too
        few replicas are connected anywhere on the grid.
    """
    from scipy.interpolate import RegularGridInterpolator

    import nwphys

    t0 = time.perf_counter()
    v, dt, inputs, ground, k_in = _drive_of(measurement, electrode)
    names = set(template.electrodes.names)
    missing = [n for n in (*inputs, *ground) if n not in names]
    if missing:
        raise FitError(
            f"the measurement's electrodes {missing} are not on the template (it has {sorted(names)}): "
            f"a template of another chip design"
        )
    replicas = check_int("replicas", replicas, low=4)
    chip = _chip_of(template)
    noise = _noise_of(template, junction_noise)
    read_noise_A = check_real("read_noise_A", read_noise_A, low=0.0)
    dens = _grid("densities_per_um2", densities_per_um2 if densities_per_um2 is not None else
                 template.density_per_um2 * np.geomspace(0.5, 2.0, 13))
    fixed_length = lengths_um is None
    lens = np.array([chip["length_mean_um"]]) if fixed_length else _grid("lengths_um", lengths_um, low=3)
    index, s_obs = hold_statistics(v, measurement.input_current_A[:, k_in])
    if s_obs.size < 2:
        raise FitError(
            f"the drive has {s_obs.size // 2} holds of at least {MIN_HOLD} readings at a nonzero voltage; "
            f"the density needs at least one (a characterisation has eight)"
        )
    if statistics is not None:
        sel = np.asarray(statistics, dtype=int).ravel()
        if sel.size == 0 or sel.min() < 0 or sel.max() >= s_obs.size or np.unique(sel).size != sel.size:
            raise FitError(f"statistics must be distinct rows of the drive's {s_obs.size} hold statistics, "
                           f"got {sel.tolist()}")
        index, s_obs = index[sel], s_obs[sel]
    if not np.all(np.isfinite(s_obs)):
        raise FitError("the measured device carries no current in a hold: its electrodes are not connected")
    n_coef = 3 if fixed_length else 6
    seeds = make_rng(seed, "seed").spawn(replicas)
    seed_ints = [int(g.integers(0, 2**63 - 1)) for g in seeds]
    x0, y0 = math.log(dens[0] * dens[-1]) / 2, math.log(lens[0] * lens[-1]) / 2
    rows, stats, frac = [], [], np.zeros((lens.size, dens.size))
    total, done = lens.size * dens.size, 0
    for j, length in enumerate(lens):
        for i, d in enumerate(dens):
            k = 0
            kw = {**chip, "length_mean_um": float(length), "density_per_um2": float(d),
                  "length_std_um": chip["length_std_um"] * float(length) / chip["length_mean_um"]}
            nwphys.generate(**kw, dry_run=True)  # a bad parameter raises here, not per replica
            for r, s in enumerate(seed_ints):
                try:
                    net = nwphys.generate(**kw, seed=s)
                except nwphys.ValidationError:  # a wire shorting two electrodes: unlike the chip measured
                    continue
                if not net.connected:
                    continue
                cur = np.abs(_replica_current(net, chip, noise, read_noise_A, v, dt, inputs, ground, k_in, s))
                cur = cur[index].mean(axis=1)
                if np.any(cur <= 0):
                    continue
                stats.append(np.log(cur))
                rows.append((math.log(d) - x0, math.log(length) - y0, r))
                k += 1
            frac[j, i] = k / replicas
            done += 1
            if progress is not None:
                progress(done, total)
    n = len(stats)
    if n < n_coef + s_obs.size + 2 + n // replicas:
        raise FitError(
            f"only {n} connected replicas on the grid, too few for {s_obs.size} statistics: raise replicas "
            f"or the densities (the chip percolates from about {_critical(chip):.3g} wires/um^2)"
        )
    S, X = np.asarray(stats), np.asarray(rows)
    A = _design(X[:, 0], None if fixed_length else X[:, 1])
    coef, *_ = np.linalg.lstsq(A, S, rcond=None)
    resid = S - A @ coef
    cov_inv = _shrunk_inverse(resid, n - n_coef)
    log_pc_grid = np.log((frac * replicas + 0.5) / (replicas + 1))

    def loglik(x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        mu = _design(x, y) @ coef
        r = s_obs - mu
        return -0.5 * np.einsum("...i,ij,...j->...", r, cov_inv, r)

    def log_pc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        gx, gy = np.log(dens) - x0, np.log(lens) - y0
        if fixed_length:
            return np.interp(x, gx, log_pc_grid[0])
        return RegularGridInterpolator((gy, gx), log_pc_grid)(np.stack([y, x], axis=-1))

    gx = np.linspace(np.log(dens[0]), np.log(dens[-1]), _FINE) - x0
    if fixed_length:
        fx, fy = gx[None, :], np.zeros((1, _FINE))
        ll = loglik(fx, None) + log_pc(fx, fy)
    else:
        gy = np.linspace(np.log(lens[0]), np.log(lens[-1]), _FINE) - y0
        fx, fy = np.meshgrid(gx, gy)
        ll = loglik(fx, fy) + log_pc(fx, fy)
    jb, ib = np.unravel_index(int(np.argmax(ll)), ll.shape)
    d_axis, l_axis = np.exp(gx + x0), (np.exp(gy + y0) if not fixed_length else lens)
    d_int, d_closed = _interval(d_axis, ll.max(axis=0))
    d_hat, l_hat = float(d_axis[ib]), float(l_axis[jb])
    if fixed_length:
        l_int, l_closed = None, True
    else:
        l_int, l_closed = _interval(l_axis, ll.max(axis=1))
    on_edge = ib in (0, _FINE - 1) or (not fixed_length and jb in (0, _FINE - 1))
    p = _out_of_sample_p(S, X, fixed_length, x_obs=float(fx[jb, ib]),
                         y_obs=None if fixed_length else float(fy[jb, ib]), s_obs=s_obs, n_coef=n_coef)
    cv2 = 1.0 + (chip["length_std_um"] / chip["length_mean_um"]) ** 2
    l2 = l_hat**2 * cv2
    # the percolation ratio's own profile interval: its range over the points within the drop
    inside = ll >= ll.max() - _CI_DROP
    perc = np.exp(fx + x0) * (np.exp(fy + y0) if not fixed_length else lens[0]) ** 2 * cv2
    perc_int = (nwphys.percolation_ratio(float(perc[inside].min()), 1.0),
                nwphys.percolation_ratio(float(perc[inside].max()), 1.0))
    cand = dens[None, :] * np.ones((lens.size, 1))
    ll_grid = log_pc_grid + loglik(
        np.log(cand) - x0, None if fixed_length else np.log(lens[:, None] * np.ones_like(cand)) - y0)
    return GeometryFit(
        density_per_um2=d_hat,
        density_interval_per_um2=d_int,
        length_mean_um=l_hat,
        length_interval_um=l_int,
        percolation_ratio=nwphys.percolation_ratio(d_hat, l2),
        percolation_interval=perc_int,
        p_value=p,
        adequate=bool(p > 1.0 / (n + 1) and not on_edge),
        interval_closed=bool(d_closed and l_closed),
        densities_per_um2=dens,
        lengths_um=lens,
        log_likelihood=ll_grid,
        connected_fraction=frac,
        statistics=s_obs,
        replicas=replicas,
        n_simulations=n,
        wall_time_s=time.perf_counter() - t0,
        chip=chip,
        junction_model=template.junction_model,
        junction_params={k: float(v) for k, v in template.junction_params.items()},
    )


def _critical(chip: Mapping[str, Any]) -> float:
    import nwphys

    l2 = chip["length_mean_um"] ** 2 + chip["length_std_um"] ** 2
    return nwphys.critical_density_per_um2(l2)


@dataclasses.dataclass(frozen=True)
class GeometryRehearsal:
    """The result of :func:`rehearse_geometry`: the true geometry beside its estimate.

    Attributes
    ----------
    true_density_per_um2, true_length_mean_um : float
    fit : GeometryFit
    rel_error_density : float
        ``estimate / truth - 1``.
    rel_error_length : float or None
    covered : bool
        The truth lies inside every reported interval.
    wall_time_s : float
    """

    true_density_per_um2: float
    true_length_mean_um: float
    fit: GeometryFit
    rel_error_density: float
    rel_error_length: float | None
    covered: bool
    wall_time_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        d = {k: getattr(self, k) for k in ("true_density_per_um2", "true_length_mean_um", "rel_error_density",
                                           "rel_error_length", "covered", "wall_time_s")}
        return {**d, "fit": self.fit.to_dict()}


def rehearse_geometry(
    network: Any,
    *,
    plan: Any = None,
    junction_noise: Mapping[str, float] | None = None,
    read_noise_A: float | None = None,
    densities_per_um2: Sequence[float] | None = None,
    lengths_um: Sequence[float] | None = None,
    replicas: int = 12,
    seed: int | np.random.Generator = 0,
    max_abs_V: float = 100.0,
    progress: Callable[[int, int], None] | None = None,
) -> GeometryRehearsal:
    """Characterise a noisy simulated copy of ``network``, estimate its geometry, compare.

    Parameters
    ----------
    network : nwphys.NanowireNetwork
        A generated device (``rate_balance`` or ``rate_balance_ou`` junctions): its density and
        mean length are the truth, its chip description the template.
    plan : Characterisation, optional
        Default: :func:`~nwmodel.twin.identify.suggest_plan` for the device.
    junction_noise, read_noise_A :
        As :func:`~nwmodel.twin.identify.rehearse_fit` (default: the published junction noise and
        read noise of 1e-3 of the current at rest).
    densities_per_um2 : sequence of float, optional
        Default: 13 values from 0.6 to 2.0 times the true density (log-spaced; the truth is not
        the grid's centre).
    lengths_um : sequence of float, optional
        Candidate mean lengths (default: held at the true mean length).
    replicas : int
    seed : int or Generator
        Seed of the measurement noise and of the replicas (independent children).
    max_abs_V : float
        Highest voltage the plan may use, in volts.
    progress : callable(done, total), optional

    Returns
    -------
    GeometryRehearsal
    """
    from nwmodel.twin.characterisation import characterise
    from nwmodel.twin.identify import rest_read_noise_A, simulated_copy, suggest_plan

    t0 = time.perf_counter()
    chip = _chip_of(network)
    true_l = chip["length_mean_um"]
    true_d = float(network.density_per_um2)
    params = chip["junction_params"]
    noise_rng, geo_rng = make_rng(seed, "seed").spawn(2)
    plan = suggest_plan(network, params, max_abs_V=max_abs_V) if plan is None else plan
    if read_noise_A is None:
        read_noise_A = rest_read_noise_A(network, params, plan)
    dev = simulated_copy(network, plan, junction_noise=junction_noise, read_noise_A=read_noise_A,
                         seed=int(noise_rng.integers(0, 2**63 - 1)))
    try:
        m = characterise(dev, plan)
        noise = dev.metadata.get("junction_noise") or {}
    finally:
        dev.close()
    if densities_per_um2 is None:
        densities_per_um2 = true_d * np.geomspace(0.6, 2.0, 13)
    fit = estimate_geometry(m, network, densities_per_um2=densities_per_um2, lengths_um=lengths_um,
                            replicas=replicas, junction_noise=noise, read_noise_A=read_noise_A, seed=geo_rng,
                            progress=progress)
    covered = fit.density_interval_per_um2[0] <= true_d <= fit.density_interval_per_um2[1] and (
        fit.length_interval_um is None or fit.length_interval_um[0] <= true_l <= fit.length_interval_um[1])
    return GeometryRehearsal(
        true_density_per_um2=true_d,
        true_length_mean_um=true_l,
        fit=fit,
        rel_error_density=fit.density_per_um2 / true_d - 1.0,
        rel_error_length=None if fit.length_interval_um is None else fit.length_mean_um / true_l - 1.0,
        covered=bool(covered),
        wall_time_s=time.perf_counter() - t0,
    )
