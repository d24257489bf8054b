"""Argument checks and the Circuit contract: messages name the parameter, range and value."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nwphys import Circuit, ValidationError
from nwphys._validation import check_choice, check_finite_array, check_int, check_real, make_rng


def test_check_real_accepts_inside_and_names_parameter_outside() -> None:
    assert check_real("dt_s", 0.5, low=0, low_open=True) == 0.5
    with pytest.raises(ValidationError, match=r"dt_s must be in \(0, inf\), got 0"):
        check_real("dt_s", 0, low=0, low_open=True)
    with pytest.raises(ValidationError, match=r"gamma must be in \[0, 1\], got 1.5"):
        check_real("gamma", 1.5, low=0, high=1)
    with pytest.raises(ValidationError, match="finite"):
        check_real("length_mean_um", math.nan, low=0)
    with pytest.raises(ValidationError, match="real number"):
        check_real("x", "abc")
    with pytest.raises(ValidationError, match="finite real number"):
        check_real("flag", True)


def test_check_int_and_choice() -> None:
    assert check_int("n_wires", 3.0, low=1) == 3
    with pytest.raises(ValidationError, match=r"n_wires must be an integer in \[1, inf\), got 0"):
        check_int("n_wires", 0, low=1)
    with pytest.raises(ValidationError, match="integer"):
        check_int("n_wires", 2.5, low=1)
    assert check_choice("method", "exact", ["exact", "RK45"]) == "exact"
    with pytest.raises(ValidationError, match=r"method must be one of 'exact', 'RK45', got 'euler'"):
        check_choice("method", "euler", ["exact", "RK45"])


def test_check_finite_array_reports_first_bad_index() -> None:
    with pytest.raises(ValidationError, match=r"voltages_V must be finite, got nan at index \(1, 0\)"):
        check_finite_array("voltages_V", [[0.0, 1.0], [np.nan, 2.0]], ndim=2)
    with pytest.raises(ValidationError, match="must have 1 dimension"):
        check_finite_array("g", [[1.0]], ndim=1)


def test_make_rng_streams_are_reproducible_and_validated() -> None:
    a = make_rng(5).random(3)
    b = make_rng(5).random(3)
    np.testing.assert_array_equal(a, b)
    g = np.random.default_rng(1)
    assert make_rng(g) is g
    with pytest.raises(ValidationError, match="seed must be"):
        make_rng(-1)
    with pytest.raises(ValidationError, match="seed must be"):
        make_rng("seven")


def test_circuit_rejects_inconsistent_input() -> None:
    ok = Circuit(n_nodes=3, edges=[[0, 1], [1, 2]], electrode_node=[0, 2], electrode_names=("a", "b"))
    assert ok.n_junctions == 2 and ok.n_electrodes == 2
    np.testing.assert_array_equal(ok.series_resistance_ohm, [0.0, 0.0])
    assert ok.electrode_index("b") == 1
    with pytest.raises(ValidationError, match="electrode 'c' not found; known electrodes: a, b"):
        ok.electrode_index("c")
    with pytest.raises(ValidationError, match=r"edges must index nodes in \[0, 2\]"):
        Circuit(n_nodes=3, edges=[[0, 3]], electrode_node=[0], electrode_names=("a",))
    with pytest.raises(ValidationError, match="self-loop"):
        Circuit(n_nodes=3, edges=[[1, 1]], electrode_node=[0], electrode_names=("a",))
    with pytest.raises(ValidationError, match="unique names"):
        Circuit(n_nodes=3, edges=[[0, 1]], electrode_node=[0, 1], electrode_names=("a", "a"))
    with pytest.raises(ValidationError, match="series_resistance_ohm"):
        Circuit(n_nodes=3, edges=[[0, 1]], electrode_node=[0], electrode_names=("a",),
                series_resistance_ohm=[-1.0])
    with pytest.raises(ValidationError, match="fixed_conductance_S"):
        Circuit(n_nodes=3, edges=[[0, 1]], electrode_node=[0], electrode_names=("a",),
                fixed_edges=[[1, 2]], fixed_conductance_S=[0.0])
