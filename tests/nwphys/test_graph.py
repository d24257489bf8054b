"""Circuit builder, components, networkx export and the NanowireNetwork object."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

import nwphys
from nwphys import Circuit, Geometry, PercolationError, ValidationError, build_circuit, find_junctions
from nwphys.geometry.electrodes import electrode_contacts


def two_point_resistance_ohm(c: Circuit, g_junction_S: np.ndarray, a: int, b: int) -> float:
    """Resistance between nodes a and b: ground b, inject 1 A at a (reference Laplacian solve)."""
    e = np.vstack([c.edges, c.fixed_edges])
    g = np.concatenate([g_junction_S, c.fixed_conductance_S])
    n = c.n_nodes
    i, j = e[:, 0], e[:, 1]
    lap = sp.coo_matrix(
        (np.concatenate([g, g, -g, -g]), (np.concatenate([i, j, i, j]), np.concatenate([i, j, j, i]))),
        shape=(n, n),
    ).tocsr()
    keep = np.flatnonzero(np.arange(n) != b)
    rhs = np.zeros(n - 1)
    rhs[np.searchsorted(keep, a)] = 1.0
    v = spsolve(lap[keep][:, keep].tocsc(), rhs)
    return float(v[np.searchsorted(keep, a)])


@pytest.fixture
def hand_geometry() -> Geometry:
    """A (touches 'in' at x=0) and B (touches 'out' at x=10) both crossed by the vertical C.

    A: (-1, 3)-(6, 3); B: (4, 7)-(11, 7); C: (5, 1)-(5, 9); D isolated; E, F cross each other
    at (2, 6) far from everything (a cluster without electrode).
    """
    centers = [[2.5, 3.0], [7.5, 7.0], [5.0, 5.0], [2.0, 8.5], [2.0, 6.0], [2.0, 6.0]]
    angles = [0.0, 0.0, np.pi / 2, 0.0, np.pi / 4, 3 * np.pi / 4]
    lengths = [7.0, 7.0, 8.0, 1.0, 1.0, 1.0]
    return Geometry((10.0, 10.0), np.array(centers), np.array(angles), np.array(lengths), diameter_nm=60.0)


def test_hand_circuit_junction_representation(hand_geometry: Geometry) -> None:
    jw, jxy = find_junctions(hand_geometry)
    np.testing.assert_array_equal(jw, [[0, 2], [1, 2], [4, 5]])
    np.testing.assert_allclose(jxy, [[5, 3], [5, 7], [2, 6]], atol=1e-12)
    b = build_circuit(hand_geometry, jw, jxy, nwphys.two_terminal((10.0, 10.0)))
    assert b.connected
    np.testing.assert_array_equal(b.junction_kept, [True, True, False])
    c = b.circuit
    assert c.n_nodes == 3 and c.electrode_names == ("in", "out")
    np.testing.assert_array_equal(c.edges, [[0, 2], [1, 2]])
    np.testing.assert_array_equal(b.node_wire, [-1, -1, 2])
    g = np.array([0.25, 0.5])
    assert two_point_resistance_ohm(c, g, 0, 1) == pytest.approx(1 / 0.25 + 1 / 0.5, rel=1e-12)


def test_hand_circuit_multinodal_segments(hand_geometry: Geometry) -> None:
    jw, jxy = find_junctions(hand_geometry)
    rho = 1.6e-8
    b = build_circuit(
        hand_geometry,
        jw,
        jxy,
        nwphys.two_terminal((10.0, 10.0)),
        representation="multinodal",
        resistivity_ohm_m=rho,
    )
    c = b.circuit
    assert c.n_nodes == 6 and c.n_junctions == 2 and c.fixed_edges.shape == (3, 2)
    np.testing.assert_allclose(np.sort(b.fixed_length_um), [4.0, 5.0, 5.0], rtol=1e-12)
    area = math.pi * (60e-9) ** 2 / 4
    np.testing.assert_allclose(c.fixed_conductance_S, area / (rho * b.fixed_length_um * 1e-6), rtol=1e-14)
    g = np.array([0.25, 0.5])
    expected = 1 / 0.25 + 1 / 0.5 + rho * 14e-6 / area
    assert two_point_resistance_ohm(c, g, 0, 1) == pytest.approx(expected, rel=1e-10)


def test_wire_components_hand(hand_geometry: Geometry) -> None:
    jw, _ = find_junctions(hand_geometry)
    labels, sizes = nwphys.wire_components(hand_geometry.n_wires, jw)
    np.testing.assert_array_equal(sizes, [3, 2, 1])
    np.testing.assert_array_equal(labels, [0, 0, 0, 2, 1, 1])


def test_multinodal_tends_to_junction_model_and_bounds_it(seed: int) -> None:
    """Rayleigh monotonicity: wire resistance only adds; as rho -> 0 the multi-nodal resistance
    tends to the junction-model one linearly in rho (first-order perturbation)."""
    kw = dict(
        n_wires=700,
        size_um=(40.0, 40.0),
        length_dist="normal",
        length_mean_um=5.0,
        length_std_um=1.0,
        seed=seed,
    )
    jn = nwphys.generate(**kw, representation="junction")
    r_j = two_point_resistance_ohm(jn.circuit(), np.ones(jn.n_junctions), 0, 1)
    excess = []
    for rho in (1.6e-8, 1e-12, 1e-13):
        net = nwphys.generate(**kw, representation="multinodal", resistivity_ohm_m=rho)
        excess.append(two_point_resistance_ohm(net.circuit(), np.ones(net.n_junctions), 0, 1) - r_j)
    assert all(d > 0 for d in excess)
    assert excess[1] / excess[2] == pytest.approx(10.0, rel=1e-2)
    assert excess[2] / r_j < 1e-3


@pytest.mark.parametrize("representation", ["junction", "multinodal"])
@pytest.mark.parametrize("electrodes", ["two-terminal", "mea4x4"])
def test_circuit_consistent_with_network(seed: int, representation: str, electrodes: str) -> None:
    net = nwphys.generate(
        "sydney", seed=seed, representation=representation, electrodes=electrodes, series_resistance_ohm=82.0
    )
    c = net.circuit()
    assert c.n_junctions == net.n_junctions
    assert c.electrode_names == net.electrodes.names
    np.testing.assert_array_equal(c.series_resistance_ohm, np.full(net.n_electrodes, 82.0))
    deg = np.bincount(np.concatenate([c.edges.ravel(), c.fixed_edges.ravel()]), minlength=c.n_nodes)
    assert np.all(deg[c.electrode_node] > 0)
    assert np.all(deg > 0)  # only the electrode component is kept: no isolated node
    # one connected component
    e = np.vstack([c.edges, c.fixed_edges])
    adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(c.n_nodes, c.n_nodes))
    assert sp.csgraph.connected_components(adj, directed=False)[0] == 1
    # edge k is junction k: its nodes belong to the junction's wires (or their electrode)
    contact = electrode_contacts(net.geometry.endpoints_um, net.electrodes)
    node_wire = net.node_wires()
    for side in (0, 1):
        w = net.junctions.wires[:, side]
        nodes = c.edges[:, side]
        on_wire = node_wire[nodes] == w
        on_electrode = (node_wire[nodes] == -1) & (contact[w] == nodes)
        assert np.all(on_wire | on_electrode)
    if representation == "junction":
        assert net.n_junctions <= net.metadata["n_junctions_total"]
        assert c.fixed_edges.shape[0] == 0


def test_below_percolation_raises_clear_error(seed: int) -> None:
    net = nwphys.generate(n_wires=60, size_um=(100.0, 100.0), length_mean_um=10.0, seed=seed)
    assert not net.connected
    with pytest.raises(PercolationError, match=r"electrodes are not all connected .* percolation threshold"):
        net.circuit()


def test_presets() -> None:
    tor = nwphys.generate("torino", seed=1)
    assert tor.n_wires == 1500 and tor.geometry.size_um == (500.0, 500.0)
    assert tor.metadata["creation_params"]["length_dist"] == "normal"
    assert tor.junction_params == nwphys.DEFAULT_JUNCTION_PARAMS["rate_balance"]
    syd = nwphys.generate("sydney", seed=1, density_per_um2=0.14)
    assert syd.n_wires == 1400 and syd.metadata["creation_params"]["length_dist"] == "gamma"
    assert 1.0 < tor.percolation_ratio < 3.0 and tor.connected
    assert nwphys.generate("torino", seed=1, n_wires=100).n_wires == 100


def test_seed_none_is_recorded_and_reproducible() -> None:
    a = nwphys.generate(n_wires=200, size_um=(30.0, 30.0), seed=None)
    seed = a.metadata["seed"]
    assert isinstance(seed, int)
    b = nwphys.generate(n_wires=200, size_um=(30.0, 30.0), seed=seed)
    assert a == b


def test_with_state_and_validation(seed: int) -> None:
    net = nwphys.generate("sydney", seed=seed)
    g = np.linspace(0, 1, net.n_junctions)
    net2 = net.with_state(g)
    assert net.state is None and np.array_equal(net2.state, g)
    assert net2.with_state(None).state is None and net2.with_state(None) == net
    g[0] = 5.0
    assert net2.state[0] == 0.0  # copied
    with pytest.raises(ValidationError, match=rf"state must have shape \({net.n_junctions},\)"):
        net.with_state(np.zeros(3))
    bad = np.zeros(net.n_junctions)
    bad[2] = np.nan
    with pytest.raises(ValidationError, match=r"state must be finite, got nan at index \(2,\)"):
        net.with_state(bad)


def test_to_networkx_attributes(seed: int) -> None:
    net = nwphys.generate("sydney", seed=seed, electrodes="mea2x2")
    net = net.with_state(np.full(net.n_junctions, 0.5))
    g = net.to_networkx()
    assert isinstance(g, nx.Graph)
    assert g.number_of_nodes() == net.n_wires + net.n_electrodes
    junc = [d for _, _, d in g.edges(data=True) if d["kind"] == "junction"]
    assert len(junc) == net.n_junctions
    assert sorted(d["index"] for d in junc) == list(range(net.n_junctions))
    assert all(d["state"] == 0.5 for d in junc)
    contact = electrode_contacts(net.geometry.endpoints_um, net.electrodes)
    n_contact = sum(1 for _, _, d in g.edges(data=True) if d["kind"] == "contact")
    assert n_contact == int((contact >= 0).sum())
    assert g.nodes["E00"]["kind"] == "electrode"
    assert g.nodes[0]["length_um"] == net.geometry.lengths_um[0]
    assert g.graph["junction_model"] == "rate_balance"


# -- plots --------------------------------------------------------------------------------------


def test_plot_network_colours_follow_values(seed: int, tmp_path) -> None:
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.figure import Figure

    net = nwphys.generate("sydney", seed=seed)
    fig = nwphys.plot_network(net)
    assert isinstance(fig, Figure)
    g_S = np.linspace(1e-3, 0.1, net.n_junctions)
    fig = nwphys.plot_network(net, color_by="conductance", values=g_S, path=tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0
    sc = next(c for c in fig.axes[0].collections if isinstance(c, PathCollection))
    np.testing.assert_array_equal(sc.get_array(), g_S)
    i_A = -np.linspace(0, 1e-3, net.n_junctions)
    fig = nwphys.plot_network(net, color_by="current", values=i_A)
    sc = next(c for c in fig.axes[0].collections if isinstance(c, PathCollection))
    np.testing.assert_array_equal(sc.get_array(), np.abs(i_A))
    c = net.circuit()
    v = np.arange(c.n_nodes, dtype=float)
    fig = nwphys.plot_network(net, color_by="voltage", values=v)
    arrays = [
        lc.get_array()
        for lc in fig.axes[0].collections
        if isinstance(lc, LineCollection) and lc.get_array() is not None
    ]
    wire_nodes = np.flatnonzero(net.node_wires() >= 0)
    assert any(np.array_equal(a, v[wire_nodes]) for a in arrays)
    with pytest.raises(ValidationError, match=r"values must have shape \(\d+,\) \(n_nodes\)"):
        nwphys.plot_network(net, color_by="voltage", values=np.zeros(3))
    with pytest.raises(ValidationError, match=r"values is required"):
        nwphys.plot_network(net, color_by="current")
    with pytest.raises(ValidationError, match=r"color_by must be one of None, 'conductance'"):
        nwphys.plot_network(net, color_by="power")


def test_plot_multinodal_voltage(seed: int) -> None:
    net = nwphys.generate("sydney", seed=seed, representation="multinodal", electrodes="mea2x2")
    c = net.circuit()
    v = np.linspace(0, 1, c.n_nodes) ** 2
    fig = nwphys.plot_network(net, color_by="voltage", values=v)
    assert fig.axes[1].get_ylabel() == "node voltage (V)"
    from matplotlib.collections import LineCollection

    coloured = [
        lc for lc in fig.axes[0].collections if isinstance(lc, LineCollection) and lc.get_array() is not None
    ]
    assert len(coloured) == 1  # one segment per fixed (wire) edge, coloured by its mean node voltage
    lc = coloured[0]
    np.testing.assert_allclose(
        lc.get_array(), 0.5 * (v[c.fixed_edges[:, 0]] + v[c.fixed_edges[:, 1]]), rtol=1e-15
    )
    xy = net.node_positions_um()
    segs = np.array([np.asarray(seg) for seg in lc.get_segments()])
    np.testing.assert_array_equal(segs, np.stack([xy[c.fixed_edges[:, 0]], xy[c.fixed_edges[:, 1]]], axis=1))
    assert lc.norm.vmin == float(v.min()) and lc.norm.vmax == float(v.max())


def test_generated_network_reuses_its_circuit_build(seed: int) -> None:
    import dataclasses

    from nwphys.geometry.graph import build_circuit

    net = nwphys.generate("sydney", seed=seed, electrodes="mea2x2")
    fresh = net.with_state(None)  # a copy without the build of generate: builds its own
    a, b = net.circuit(), fresh.circuit()
    for name in ("edges", "fixed_edges", "electrode_node"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(net.node_positions_um(), fresh.node_positions_um())
    with pytest.raises(ValidationError, match="already holds a circuit build"):
        net.reuse_circuit_build(net._build())
    other = nwphys.generate("sydney", seed=seed + 1, electrodes="mea2x2")
    other_build = build_circuit(
        other.geometry, other.junctions.wires, other.junctions.xy_um, other.electrodes
    )
    with pytest.raises(ValidationError, match=rf"build must keep all {net.n_junctions} junctions"):
        net.with_state(None).reuse_circuit_build(other_build)
    two = nwphys.generate("sydney", seed=seed, electrodes="two-terminal")
    build = build_circuit(two.geometry, two.junctions.wires, two.junctions.xy_um, two.electrodes)
    renamed = dataclasses.replace(
        two.electrodes,
        electrodes=tuple(dataclasses.replace(e, name=e.name.upper()) for e in two.electrodes.electrodes),
    )
    with pytest.raises(ValidationError, match=r"build electrodes \('in', 'out'\) must be the network's"):
        dataclasses.replace(two, electrodes=renamed).reuse_circuit_build(build)
    with pytest.raises(ValidationError, match="build must be a CircuitBuild, got Circuit"):
        fresh.reuse_circuit_build(a)
