"""Test-only circuit builders (random geometric networks, hand circuits)."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from nwphys.circuit.circuit import Circuit


def random_circuit(
    n_wires: int,
    *,
    mean_degree: float = 9.0,
    seed: int | np.random.Generator = 0,
    n_electrodes: int = 2,
    series_resistance_ohm: float = 0.0,
) -> Circuit:
    """Random geometric junction graph with the connectivity of a stick network.

    Wires are points in the unit square joined when closer than ``r`` (mean degree ``mean_degree``);
    electrodes ``in``/``out`` (and ``e2``, ``e3`` ... on the top/bottom strips) merge the wires of
    a 5 % edge strip. Only the component touching the electrodes is kept.
    """
    rng = np.random.default_rng(seed)
    xy = rng.random((n_wires, 2))
    r = np.sqrt(mean_degree / (np.pi * n_wires))
    pairs = cKDTree(xy).query_pairs(r, output_type="ndarray")
    strips = [xy[:, 0] < 0.05, xy[:, 0] > 0.95, xy[:, 1] < 0.05, xy[:, 1] > 0.95][:n_electrodes]
    names = ("in", "out", "e2", "e3")[:n_electrodes]
    edges = [pairs]
    for i, s in enumerate(strips):
        w = np.flatnonzero(s)
        edges.append(np.c_[np.full(w.size, n_wires + i), w])
    e = np.concatenate(edges)
    n = n_wires + n_electrodes
    _, lab = connected_components(
        coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)), directed=False
    )
    keep = lab == lab[n_wires]
    new = np.cumsum(keep) - 1
    e = e[keep[e[:, 0]] & keep[e[:, 1]]]
    return Circuit(
        n_nodes=int(keep.sum()),
        edges=new[e],
        electrode_node=new[n_wires + np.arange(n_electrodes)],
        electrode_names=names,
        series_resistance_ohm=np.full(n_electrodes, series_resistance_ohm),
    )


def single_junction() -> Circuit:
    """One junction between the driven electrodes ``in`` (node 0) and ``out`` (node 1)."""
    return Circuit(n_nodes=2, edges=np.array([[0, 1]]), electrode_node=[0, 1], electrode_names=("in", "out"))


def single_junction_g(params: dict, V: float, g0: float, t_s: np.ndarray) -> np.ndarray:
    """Closed-form rate-balance state of a junction held at ``V`` volts from ``g0``:
    ``g_inf + (g0 - g_inf) exp(-(kp + kd) t)`` at the times ``t_s`` (seconds)."""
    kp = params["kp0_per_s"] * np.exp(params["eta_p_per_V"] * V)
    kd = params["kd0_per_s"] * np.exp(-params["eta_d_per_V"] * V)
    return kp / (kp + kd) + (g0 - kp / (kp + kd)) * np.exp(-(kp + kd) * t_s)
