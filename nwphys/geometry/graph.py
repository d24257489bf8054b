"""Junction graph of a device: electrical circuit builder, components, percolation, networkx export.

Two graph representations turn a geometry into a :class:`~nwphys.circuit.circuit.Circuit`:

``"junction"`` (junction-dominated, equipotential wires)
    One node per wire; each junction is a memristive edge between two wire nodes. A wire touching
    an electrode is merged into the electrode node (ideal contact), so a junction between two
    wires of the same electrode is shorted and dropped.

``"multinodal"`` (wire inner resistance)
    One node per junction point on each wire (a junction joins the node on wire ``i`` to the node
    on wire ``j``) plus the points where a wire enters and leaves an electrode. Consecutive points
    along a wire are joined by a fixed resistor ``R = rho * l / (pi d^2 / 4)`` (resistivity
    ``rho``, default bulk Ag 1.6e-8 ohm m; length ``l`` between the points; wire diameter ``d``).
    Points inside an electrode are merged into the electrode node; the dangling ends of a wire
    beyond its last point carry no current and are left out. Coincident points on a wire (zero
    segment length, a measure-zero event) are merged into one node.

In both, only the connected component(s) that contain an electrode node are kept; the memristive
edges of the circuit keep the order of the junction arrays given to :func:`build_circuit`.

Percolation of random sticks
----------------------------
The critical density of isotropic widthless sticks of length ``L`` is ``n_c = 5.63726 / L^2``
(Li and Zhang, Phys. Rev. E 80, 040104, 2009). For distributed lengths we use the mean square
length, ``n_c = 5.63726 / <L^2>``, which is the usual effective-length rule for length-polydisperse
sticks (an approximation: it is exact for fixed lengths and within a few per cent for the narrow
normal and gamma laws of the presets).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from nwphys._checks import check_choice, check_real
from nwphys.circuit.circuit import Circuit
from nwphys.geometry.electrodes import ElectrodeLayout, clip_intervals, electrode_contacts
from nwphys.geometry.sticks import Geometry, position_along_um

__all__ = [
    "AG_RESISTIVITY_OHM_M",
    "REPRESENTATIONS",
    "STICK_PERCOLATION_NC_L2",
    "CircuitBuild",
    "build_circuit",
    "critical_density_per_um2",
    "percolation_ratio",
    "wire_components",
    "wire_graph",
]

#: Critical filling factor ``n_c <L^2>`` of isotropic widthless sticks (Li and Zhang 2009).
STICK_PERCOLATION_NC_L2: float = 5.63726
#: Bulk silver resistivity in ohm metres, default for the multi-nodal wire segments.
AG_RESISTIVITY_OHM_M: float = 1.6e-8
#: Graph representations accepted by :func:`build_circuit`.
REPRESENTATIONS: tuple[str, ...] = ("junction", "multinodal")


def critical_density_per_um2(mean_sq_length_um2: float) -> float:
    """Stick percolation threshold ``n_c = 5.63726 / <L^2>`` in wires per square micrometre.

    Parameters
    ----------
    mean_sq_length_um2 : float
        Mean square wire length ``<L^2>`` in square micrometres (> 0).
    """
    l2 = check_real("mean_sq_length_um2", mean_sq_length_um2, low=0.0, low_open=True)
    return STICK_PERCOLATION_NC_L2 / l2


def percolation_ratio(density_per_um2: float, mean_sq_length_um2: float) -> float:
    """Density relative to the stick percolation threshold, ``n <L^2> / 5.63726``.

    Values above 1 percolate in the large-system limit.

    Parameters
    ----------
    density_per_um2 : float
        Wire number density in wires per square micrometre (>= 0).
    mean_sq_length_um2 : float
        Mean square wire length in square micrometres (> 0).
    """
    n = check_real("density_per_um2", density_per_um2, low=0.0)
    return n / critical_density_per_um2(mean_sq_length_um2)


def wire_components(n_wires: int, junction_wires: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected clusters of wires (through junctions only, electrodes ignored).

    Parameters
    ----------
    n_wires : int
    junction_wires : ndarray of int, shape (n_junctions, 2)

    Returns
    -------
    labels : ndarray of int64, shape (n_wires,)
        Cluster of each wire; clusters are numbered by decreasing size (0 = largest, ties by
        smallest wire index).
    sizes : ndarray of int64, shape (n_clusters,)
        Number of wires of each cluster, decreasing.
    """
    jw = np.asarray(junction_wires, dtype=np.int64).reshape(-1, 2)
    adj = sp.coo_matrix((np.ones(jw.shape[0]), (jw[:, 0], jw[:, 1])), shape=(n_wires, n_wires))
    n_comp, lab = connected_components(adj, directed=False)
    sizes = np.bincount(lab, minlength=n_comp)
    first = np.full(n_comp, n_wires, dtype=np.int64)
    np.minimum.at(first, lab, np.arange(n_wires))
    order = np.lexsort((first, -sizes))
    rank = np.empty(n_comp, dtype=np.int64)
    rank[order] = np.arange(n_comp)
    return rank[lab], sizes[order].astype(np.int64)


@dataclass(frozen=True)
class CircuitBuild:
    """A circuit and how it maps back onto the geometry.

    Attributes
    ----------
    circuit : Circuit
    junction_kept : ndarray of bool, shape (n_junctions_in,)
        Which of the input junctions became circuit edges (same order).
    connected : bool
        Whether all electrode nodes lie in one connected component.
    electrode_component : ndarray of int, shape (n_electrodes,)
        Component label of each electrode node (equal labels = connected electrodes).
    node_xy_um : ndarray of float, shape (n_nodes, 2)
        Position of each node (electrodes: rectangle centre; wire nodes: wire centre; multinodal
        points: the point).
    node_wire : ndarray of int, shape (n_nodes,)
        Wire of each node (-1 for electrode nodes).
    fixed_wire : ndarray of int, shape (n_fixed,)
        Wire of each fixed (segment) edge.
    fixed_length_um : ndarray of float, shape (n_fixed,)
        Length of each segment in micrometres.
    """

    circuit: Circuit
    junction_kept: np.ndarray
    connected: bool
    electrode_component: np.ndarray
    node_xy_um: np.ndarray
    node_wire: np.ndarray
    fixed_wire: np.ndarray
    fixed_length_um: np.ndarray


def _components(n_nodes: int, *edge_sets: np.ndarray) -> np.ndarray:
    e = np.concatenate([np.asarray(x, dtype=np.int64).reshape(-1, 2) for x in edge_sets])
    adj = sp.coo_matrix((np.ones(e.shape[0]), (e[:, 0], e[:, 1])), shape=(n_nodes, n_nodes))
    return connected_components(adj, directed=False)[1]


def build_circuit(
    geometry: Geometry,
    junction_wires: np.ndarray,
    junction_xy_um: np.ndarray,
    layout: ElectrodeLayout,
    *,
    representation: str = "junction",
    resistivity_ohm_m: float = AG_RESISTIVITY_OHM_M,
) -> CircuitBuild:
    """Build the electrical circuit of a device (see the module docstring for the conventions).

    Parameters
    ----------
    geometry : Geometry
    junction_wires : ndarray of int, shape (n_junctions, 2)
        Wire pairs of the junctions.
    junction_xy_um : ndarray of float, shape (n_junctions, 2)
        Junction positions in micrometres.
    layout : ElectrodeLayout
    representation : {"junction", "multinodal"}
    resistivity_ohm_m : float
        Wire resistivity in ohm metres (> 0), multinodal only.

    Returns
    -------
    CircuitBuild
        Never raises for a disconnected device: check ``connected``.
    """
    check_choice("representation", representation, REPRESENTATIONS)
    rho = check_real("resistivity_ohm_m", resistivity_ohm_m, low=0.0, low_open=True)
    jw = np.asarray(junction_wires, dtype=np.int64).reshape(-1, 2)
    jxy = np.asarray(junction_xy_um, dtype=float).reshape(-1, 2)
    ne, nw = len(layout), geometry.n_wires
    rects = layout.rects_um
    el_xy = np.column_stack([(rects[:, 0] + rects[:, 2]) / 2, (rects[:, 1] + rects[:, 3]) / 2])
    ends = geometry.endpoints_um
    contact = electrode_contacts(ends, layout)

    if representation == "junction":
        pre = np.where(contact >= 0, contact, ne + np.arange(nw))
        pre_xy = np.vstack([el_xy, geometry.centers_um])
        pre_wire = np.concatenate([np.full(ne, -1), np.arange(nw)])
        e = pre[jw]
        fix_e = np.zeros((0, 2), dtype=np.int64)
        fix_wire = np.zeros(0, dtype=np.int64)
        fix_len = np.zeros(0)
    else:
        m = jw.shape[0]
        # junction points: 2k on wire jw[k, 0], 2k + 1 on wire jw[k, 1]
        p_wire = jw.reshape(-1)
        p_xy = np.repeat(jxy, 2, axis=0)
        p_s = position_along_um(geometry, p_wire, p_xy)
        p_el = np.where(contact[p_wire] >= 0, contact[p_wire], -1)
        _, t0, t1 = clip_intervals(ends, rects)
        cw = np.flatnonzero(contact >= 0)
        ce = contact[cw]
        lens = geometry.lengths_um[cw]
        s0 = (t0[cw, ce] - 0.5) * lens
        s1 = (t1[cw, ce] - 0.5) * lens
        # a junction point is inside its wire's electrode only within the clip interval
        inside = np.zeros(2 * m, dtype=bool)
        if cw.size:
            lo = np.full(nw, np.inf)
            hi = np.full(nw, -np.inf)
            lo[cw], hi[cw] = s0, s1
            inside = (p_s >= lo[p_wire]) & (p_s <= hi[p_wire])
        p_el = np.where(inside, p_el, -1)
        u = geometry.directions
        c_wire = np.concatenate([cw, cw])
        c_s = np.concatenate([s0, s1])
        c_xy = geometry.centers_um[c_wire] + c_s[:, None] * u[c_wire]
        all_wire = np.concatenate([p_wire, c_wire])
        all_s = np.concatenate([p_s, c_s])
        all_el = np.concatenate([p_el, np.concatenate([ce, ce])])
        all_xy = np.vstack([p_xy, c_xy])
        n_pts = all_wire.size
        pre = np.where(all_el >= 0, all_el, ne + np.arange(n_pts))
        order = np.lexsort((all_s, all_wire))
        a, b = order[:-1], order[1:]
        same = all_wire[a] == all_wire[b]
        a, b = a[same], b[same]
        seg_len = all_s[b] - all_s[a]
        # merge coincident points on a wire (zero-length segments)
        zero = seg_len <= 0
        n0 = ne + n_pts
        if np.any(zero):
            lab = _components(n0, np.column_stack([pre[a[zero]], pre[b[zero]]]))
            rep = np.full(lab.max() + 1, n0, dtype=np.int64)
            np.minimum.at(rep, lab, np.arange(n0))
            pre = rep[lab[pre]]
        pre_xy = np.vstack([el_xy, all_xy])
        pre_wire = np.concatenate([np.full(ne, -1), all_wire])
        e = pre[: 2 * m].reshape(m, 2)
        fe = np.column_stack([pre[a], pre[b]])
        ok = fe[:, 0] != fe[:, 1]
        fix_e, fix_wire, fix_len = fe[ok], all_wire[a][ok], seg_len[ok]

    n0 = pre_xy.shape[0]
    loop = e[:, 0] == e[:, 1]
    lab = _components(n0, e[~loop], fix_e)
    kept_labels = np.unique(lab[:ne])
    in_kept = np.isin(lab, kept_labels)
    j_kept = ~loop & in_kept[e[:, 0]]
    f_kept = in_kept[fix_e[:, 0]]
    used = np.zeros(n0, dtype=bool)
    used[:ne] = True
    used[e[j_kept].ravel()] = True
    used[fix_e[f_kept].ravel()] = True
    new = np.cumsum(used) - 1
    area_m2 = np.pi * (geometry.diameter_nm * 1e-9) ** 2 / 4
    g_fix = area_m2 / (rho * fix_len[f_kept] * 1e-6)
    circuit = Circuit(
        n_nodes=int(used.sum()),
        edges=new[e[j_kept]],
        electrode_node=np.arange(ne),
        electrode_names=layout.names,
        fixed_edges=new[fix_e[f_kept]],
        fixed_conductance_S=g_fix,
        series_resistance_ohm=layout.series_resistance_ohm,
    )
    return CircuitBuild(
        circuit=circuit,
        junction_kept=j_kept,
        connected=bool(np.unique(lab[:ne]).size == 1),
        electrode_component=lab[:ne].astype(np.int64),
        node_xy_um=pre_xy[used],
        node_wire=pre_wire[used].astype(np.int64),
        fixed_wire=fix_wire[f_kept].astype(np.int64),
        fixed_length_um=fix_len[f_kept],
    )


def wire_graph(
    geometry: Geometry,
    junction_wires: np.ndarray,
    junction_xy_um: np.ndarray,
    layout: ElectrodeLayout,
    *,
    state: np.ndarray | None = None,
) -> nx.Graph:
    """Physical graph of a device: wires and electrodes as nodes, junctions and contacts as edges.

    Nodes
        ``int`` wire index: ``kind="wire"``, ``center_um``, ``angle_rad``, ``length_um``,
        ``diameter_nm``; ``str`` electrode name: ``kind="electrode"``, ``rect_um``,
        ``series_resistance_ohm``.
    Edges
        wire-wire: ``kind="junction"``, ``index`` (position in the junction arrays), ``xy_um``,
        ``state`` (when given); wire-electrode: ``kind="contact"``.

    Returns
    -------
    networkx.Graph
    """
    g = nx.Graph()
    for i in range(geometry.n_wires):
        g.add_node(
            i,
            kind="wire",
            center_um=tuple(geometry.centers_um[i].tolist()),
            angle_rad=float(geometry.angles_rad[i]),
            length_um=float(geometry.lengths_um[i]),
            diameter_nm=float(geometry.diameter_nm),
        )
    for el in layout.electrodes:
        g.add_node(
            el.name, kind="electrode", rect_um=el.rect_um, series_resistance_ohm=el.series_resistance_ohm
        )
    jw = np.asarray(junction_wires, dtype=np.int64).reshape(-1, 2)
    for k, (i, j) in enumerate(jw.tolist()):
        attrs = {"kind": "junction", "index": k, "xy_um": tuple(junction_xy_um[k].tolist())}
        if state is not None:
            attrs["state"] = float(state[k])
        g.add_edge(i, j, **attrs)
    contact = electrode_contacts(geometry.endpoints_um, layout)
    for w in np.flatnonzero(contact >= 0).tolist():
        g.add_edge(w, layout.names[contact[w]], kind="contact")
    return g
