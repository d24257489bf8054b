"""Nodal solver against exactly solvable circuits, Kirchhoff residuals and its error paths."""

from __future__ import annotations

import numpy as np
import pytest
from _nwcircuits import random_circuit

from nwphys.circuit._kirchhoff import KirchhoffResidual
from nwphys.circuit.circuit import Circuit
from nwphys.circuit.nodal import NodalSolver, available_backends
from nwphys.errors import SolverError, ValidationError

BACKENDS = available_backends()
RTOL = 1e-10


def _two_terminal(edges, n_nodes, e_in, e_out, rs=(0.0, 0.0)) -> Circuit:
    return Circuit(
        n_nodes=n_nodes,
        edges=np.asarray(edges),
        electrode_node=[e_in, e_out],
        electrode_names=("in", "out"),
        series_resistance_ohm=np.asarray(rs, dtype=float),
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_series_chain_matches_sum_of_resistances(backend: str) -> None:
    G = np.array([0.5, 2.0, 0.25, 1.5])
    c = _two_terminal([[0, 1], [1, 2], [2, 3], [3, 4]], 5, 0, 4)
    sol = NodalSolver(c, driven=["in", "out"], backend=backend).solve(G, [3.0, 0.0])
    I_ref = 3.0 / np.sum(1.0 / G)
    np.testing.assert_allclose(sol.electrode_current_A, [I_ref, -I_ref], rtol=RTOL)
    np.testing.assert_allclose(sol.junction_current_A, np.full(4, I_ref), rtol=RTOL)
    V_ref = 3.0 - np.concatenate([[0.0], np.cumsum(I_ref / G)])
    np.testing.assert_allclose(sol.node_voltage_V, V_ref, rtol=RTOL, atol=1e-14)
    assert sol.residual_rel < 1e-12


@pytest.mark.parametrize("backend", BACKENDS)
def test_parallel_junctions_add_conductances(backend: str) -> None:
    # three parallel paths in -> k -> out, each of two junctions in series
    G = np.array([1.0, 3.0, 0.2, 0.7, 5.0, 0.05])
    c = _two_terminal([[0, 1], [1, 4], [0, 2], [2, 4], [0, 3], [3, 4]], 5, 0, 4)
    sol = NodalSolver(c, driven=["in", "out"], backend=backend).solve(G, [2.0, -1.0])
    g_path = 1.0 / (1.0 / G[0::2] + 1.0 / G[1::2])
    np.testing.assert_allclose(sol.electrode_current_A[0], 3.0 * g_path.sum(), rtol=RTOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_wheatstone_bridge_equivalent_resistance(backend: str) -> None:
    R1, R2, R3, R4, R5 = 1.0, 2.0, 3.0, 5.0, 7.0  # A-B, B-D, A-C, C-D, bridge B-C
    c = _two_terminal([[0, 1], [1, 3], [0, 2], [2, 3], [1, 2]], 4, 0, 3)
    G = 1.0 / np.array([R1, R2, R3, R4, R5])
    sol = NodalSolver(c, driven=["in", "out"], backend=backend).solve(G, [1.0, 0.0])
    num = R1 * R3 * (R2 + R4) + R2 * R4 * (R1 + R3) + R5 * (R1 + R2) * (R3 + R4)
    den = (R1 + R3) * (R2 + R4) + R5 * (R1 + R2 + R3 + R4)
    np.testing.assert_allclose(1.0 / sol.electrode_current_A[0], num / den, rtol=RTOL)
    # balanced bridge (R1/R2 == R3/R4): no current through the bridge junction
    Gb = 1.0 / np.array([1.0, 2.0, 4.0, 8.0, 3.0])
    solb = NodalSolver(c, driven=["in", "out"], backend=backend).solve(Gb, [1.0, 0.0])
    assert abs(solb.junction_current_A[4]) < 1e-14


def _grid(m: int, n: int) -> np.ndarray:
    idx = np.arange(m * n).reshape(m, n)
    h = np.c_[idx[:, :-1].ravel(), idx[:, 1:].ravel()]
    v = np.c_[idx[:-1, :].ravel(), idx[1:, :].ravel()]
    return np.concatenate([h, v])


def _grid_two_point_resistance(m: int, n: int, a: tuple[int, int], b: tuple[int, int]) -> float:
    """Wu's formula (J. Phys. A 37, 6653, 2004): R = sum_k |psi_k(a) - psi_k(b)|^2 / lambda_k.

    For an m x n grid of unit resistors the Laplacian is the Kronecker sum of two path
    Laplacians, with eigenvalues 2(1 - cos(pi p/m)) + 2(1 - cos(pi q/n)) and cosine eigenvectors.
    """

    def path(k: int) -> tuple[np.ndarray, np.ndarray]:
        p = np.arange(k)
        lam = 2.0 * (1.0 - np.cos(np.pi * p / k))
        psi = np.cos(np.pi * np.outer(np.arange(k) + 0.5, p) / k)
        psi *= np.where(p == 0, np.sqrt(1.0 / k), np.sqrt(2.0 / k))
        return lam, psi

    lm, pm = path(m)
    ln, pn = path(n)
    lam = lm[:, None] + ln[None, :]
    diff = pm[a[0], :, None] * pn[a[1], None, :] - pm[b[0], :, None] * pn[b[1], None, :]
    lam[0, 0] = np.inf
    return float(np.sum(diff**2 / lam))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("a", "b"), [((0, 0), (6, 9)), ((3, 4), (3, 5)), ((1, 8), (5, 2))])
def test_grid_two_point_resistance_matches_wu_formula(backend: str, a, b) -> None:
    m, n = 7, 10
    edges = _grid(m, n)
    na, nb = a[0] * n + a[1], b[0] * n + b[1]
    c = _two_terminal(edges, m * n, na, nb)
    sol = NodalSolver(c, driven=["in", "out"], backend=backend).solve(np.ones(len(edges)), [1.0, 0.0])
    np.testing.assert_allclose(
        1.0 / sol.electrode_current_A[0], _grid_two_point_resistance(m, n, a, b), rtol=RTOL
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_series_resistance_is_a_norton_source(backend: str) -> None:
    # source 2 V behind 82 ohm, two junctions in series, output electrode to ground behind 18 ohm
    G = np.array([0.01, 0.02])
    c = _two_terminal([[0, 1], [1, 2]], 3, 0, 2, rs=(82.0, 18.0))
    sol = NodalSolver(c, driven=["in", "out"], backend=backend).solve(G, [2.0, 0.0])
    R_tot = 82.0 + 100.0 + 50.0 + 18.0
    np.testing.assert_allclose(sol.electrode_current_A, [2.0 / R_tot, -2.0 / R_tot], rtol=RTOL)
    np.testing.assert_allclose(
        sol.electrode_voltage_V, [2.0 - 82.0 * 2.0 / R_tot, 18.0 * 2.0 / R_tot], rtol=RTOL
    )
    assert sol.residual_rel < 1e-12


@pytest.mark.parametrize("backend", BACKENDS)
def test_kirchhoff_residual_matches_a_hand_computed_imbalance(backend: str) -> None:
    # in -(82 ohm)- node 0 -(G0)- node 1 -(G1)- node 2 -(18 ohm)- out: every node is an unknown
    G = np.array([0.01, 0.02])
    c = _two_terminal([[0, 1], [1, 2]], 3, 0, 2, rs=(82.0, 18.0))
    s = NodalSolver(c, driven=["in", "out"], backend=backend)
    kcl = KirchhoffResidual(s)
    vd = np.array([2.0, 0.0])
    V = np.array([1.5, 0.9, 0.2])  # not the solution: every node is out of balance
    I0, I1 = G[0] * (V[0] - V[1]), G[1] * (V[1] - V[2])
    inj0, inj2 = (2.0 - V[0]) / 82.0, (0.0 - V[2]) / 18.0
    F_ref = np.array([I0 - inj0, I1 - I0, -I1 - inj2])  # net current out of nodes 0, 1, 2
    scale_ref = np.array([abs(I0) + abs(inj0), abs(I0) + abs(I1), abs(I1) + abs(inj2)])
    p = s.branch_conductances(G)
    F, rel = kcl.residual(p, V[kcl.a] - V[kcl.b], V, vd)
    np.testing.assert_allclose(F, F_ref[s.unknown_nodes], rtol=1e-12)
    np.testing.assert_allclose(rel, np.linalg.norm(F_ref) / np.linalg.norm(scale_ref), rtol=1e-12)
    # solve() reports the same residual at its solution, and 0 when no current flows
    assert s.solve(G, vd).residual_rel < 1e-12
    assert s.solve(G, [0.0, 0.0]).residual_rel == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_floating_electrode_reads_its_node_without_current(backend: str) -> None:
    # in -0- m -1- out ; floating probe p attached to m by junction 2
    c = Circuit(
        n_nodes=4,
        edges=np.array([[0, 1], [1, 2], [1, 3]]),
        electrode_node=[0, 2, 3],
        electrode_names=("in", "out", "probe"),
    )
    G = np.array([0.3, 0.1, 0.05])
    sol = NodalSolver(c, driven=["in", "out"], backend=backend).solve(G, [1.0, 0.0])
    v_m = 0.3 / 0.4
    np.testing.assert_allclose(sol.electrode_voltage_V, [1.0, 0.0, v_m], rtol=RTOL)
    assert sol.electrode_current_A[2] == 0.0
    assert abs(sol.junction_current_A[2]) < 1e-15


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_networks_satisfy_kirchhoff_and_backends_agree(backend: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = random_circuit(800, seed=rng, n_electrodes=4)
    ref = NodalSolver(c, driven=["in", "out", "e2"], backend="splu")
    s = NodalSolver(c, driven=["in", "out", "e2"], backend=backend)
    for _ in range(3):
        G = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), c.n_junctions))
        V = rng.uniform(-2, 2, 3)
        sol = s.solve(G, V)
        assert sol.residual_rel < 1e-9
        # sources deliver the dissipated power: sum V I = sum G v^2 >= 0
        p_src = float(sol.electrode_voltage_V @ sol.electrode_current_A)
        np.testing.assert_allclose(p_src, np.sum(G * sol.junction_voltage_V**2), rtol=1e-9)
        np.testing.assert_allclose(sol.node_voltage_V, ref.solve(G, V).node_voltage_V, rtol=1e-9, atol=1e-12)
        assert abs(sol.electrode_current_A.sum()) < 1e-9 * np.abs(sol.electrode_current_A).sum()


def test_unanchored_nodes_raise_solver_error_with_count() -> None:
    # nodes 3-4 form an island; node 5 hangs on the floating electrode only
    c = Circuit(
        n_nodes=6,
        edges=np.array([[0, 1], [1, 2], [3, 4], [4, 5]]),
        electrode_node=[0, 2, 5],
        electrode_names=("in", "out", "f"),
    )
    with pytest.raises(SolverError, match=r"3 of 6 nodes are not connected to any driven electrode"):
        NodalSolver(c, driven=["in", "out"])
    with pytest.raises(SolverError, match=r"6 of 6 nodes"):
        NodalSolver(c, driven=[])


def test_non_finite_solution_raises_solver_error() -> None:
    c = _two_terminal([[0, 1], [1, 2]], 3, 0, 2)
    s = NodalSolver(c, driven=["in", "out"], backend="splu")
    with np.errstate(over="ignore"), pytest.raises(SolverError, match=r"non-finite|factorisation"):
        s.solve(np.array([1e308, 1e308]), [1e308, -1e308])


def test_bad_inputs_name_the_parameter() -> None:
    c = _two_terminal([[0, 1], [1, 2]], 3, 0, 2)
    s = NodalSolver(c, driven=["in", "out"])
    with pytest.raises(ValidationError, match=r"G_S must have shape \(2,\)"):
        s.solve(np.ones(3), [1.0, 0.0])
    with pytest.raises(ValidationError, match=r"G_S must be finite and > 0 S, got -1.0 at junction 1"):
        s.solve(np.array([1.0, -1.0]), [1.0, 0.0])
    with pytest.raises(ValidationError, match=r"driven_V must have shape \(2,\)"):
        s.solve(np.ones(2), [1.0])
    with pytest.raises(ValidationError, match="driven_V must be finite"):
        s.solve(np.ones(2), [np.nan, 0.0])
    with pytest.raises(ValidationError, match="electrode 'nope' not found"):
        NodalSolver(c, driven=["in", "nope"])
    with pytest.raises(ValidationError, match="backend must be one of"):
        NodalSolver(c, driven=["in"], backend="magic")
    with pytest.raises(ValidationError, match="driven must not repeat"):
        NodalSolver(c, driven=["in", "in"])
