"""Nodal backends behind one interface: warm start, Norton source currents, misuse."""

from __future__ import annotations

import numpy as np
import pytest
from _nwcircuits import random_circuit

from nwphys.circuit.nodal import NodalSolver, available_backends
from nwphys.errors import SolverError


def test_cg_reset_warm_start_gives_the_cold_start_result_bit_for_bit() -> None:
    c = random_circuit(150, seed=2)
    rng = np.random.default_rng(0)
    G1, G2 = (np.exp(rng.uniform(-6, -1, c.n_junctions)) for _ in range(2))
    vd = np.array([1.5, 0.0])
    warm = NodalSolver(c, driven=["in", "out"], backend="cg", cg_rtol=1e-8)
    warm.node_voltages(G1, vd)
    warm.reset_warm_start()
    cold = NodalSolver(c, driven=["in", "out"], backend="cg", cg_rtol=1e-8)
    np.testing.assert_array_equal(warm.node_voltages(G2, vd), cold.node_voltages(G2, vd))


@pytest.mark.parametrize("backend", available_backends())
def test_norton_currents_are_the_source_currents(backend: str) -> None:
    c = random_circuit(200, seed=0, n_electrodes=3, series_resistance_ohm=25.0)
    s = NodalSolver(c, driven=["in", "out", "e2"], backend=backend)
    G = np.exp(np.random.default_rng(1).uniform(-6, -1, c.n_junctions))
    vd = np.array([2.0, 0.0, -0.5])
    sol = s.solve(G, vd)
    np.testing.assert_array_equal(s.norton_nodes, c.electrode_node)
    I = s.norton_currents(vd, sol.node_voltage_V)
    np.testing.assert_allclose(I, (vd - sol.electrode_voltage_V) / 25.0, rtol=1e-12)
    np.testing.assert_array_equal(I, sol.electrode_current_A)
    # Kirchhoff: what the sources inject leaves through the sources (sum zero)
    assert abs(I.sum()) <= 1e-9 * np.abs(I).max()


@pytest.mark.parametrize("backend", available_backends())
def test_solve_factored_before_factorize_is_a_solver_error(backend: str) -> None:
    s = NodalSolver(random_circuit(60, seed=1), driven=["in", "out"], backend=backend)
    with pytest.raises(SolverError, match=r"solve_factored needs a factorize\(\) first"):
        s.solve_factored(np.zeros(s.n_unknowns))
