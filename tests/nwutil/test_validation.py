"""Argument checks and the Circuit contract: messages name the parameter, range and value."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import hardware._checks as hw_checks
import nwmodel._checks as nm_checks
import nwphys._checks as nwp_checks
from hardware.errors import HardwareValidationError
from nwmodel.errors import ModelValidationError
from nwphys import Circuit, ValidationError
from nwphys._checks import check_choice, check_finite_array, check_int, check_real, make_rng
from nwutil import validation
from nwutil.errors import ArgumentError


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
        Circuit(
            n_nodes=3,
            edges=[[0, 1]],
            electrode_node=[0],
            electrode_names=("a",),
            series_resistance_ohm=[-1.0],
        )
    with pytest.raises(ValidationError, match="fixed_conductance_S"):
        Circuit(
            n_nodes=3,
            edges=[[0, 1]],
            electrode_node=[0],
            electrode_names=("a",),
            fixed_edges=[[1, 2]],
            fixed_conductance_S=[0.0],
        )


# ---------------------------------------------------------------------------------------------
# one implementation (nwutil.validation), bound to each package's exception class

PACKAGES = [
    pytest.param(validation, ArgumentError, id="nwutil"),
    pytest.param(nwp_checks, ValidationError, id="nwphys"),
    pytest.param(hw_checks, HardwareValidationError, id="hardware"),
    pytest.param(nm_checks, ModelValidationError, id="nwmodel"),
]
CHECKS = ("check_choice", "check_finite_array", "check_int", "check_real")


@pytest.mark.parametrize(("mod", "error"), PACKAGES)
def test_each_package_binds_the_one_implementation_to_its_own_error(mod, error) -> None:
    for name in CHECKS:
        bound = getattr(mod, name)
        assert getattr(bound, "func", bound) is getattr(validation, name)
    with pytest.raises(error) as info:
        mod.check_int("n", 0, low=1)
    others = {ValidationError, HardwareValidationError, ModelValidationError} - {error}
    assert isinstance(info.value, ArgumentError)  # every family refines the one argument error
    assert not isinstance(info.value, tuple(others))
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("mod", "error"), PACKAGES)
def test_check_int_semantics_agree(mod, error) -> None:
    assert mod.check_int("n_steps", 3.0, low=1) == 3
    assert type(mod.check_int("n_steps", np.float64(4.0))) is int
    assert mod.check_int("n_steps", np.int32(5), low=1, high=5) == 5
    for bad in (True, np.bool_(False), 2.5, math.nan, math.inf, "3", None):
        with pytest.raises(
            error, match=rf"n_steps must be an integer in \[1, inf\), got {re.escape(repr(bad))}"
        ):
            mod.check_int("n_steps", bad, low=1)


@pytest.mark.parametrize(("mod", "error"), PACKAGES)
def test_check_real_semantics_agree(mod, error) -> None:
    assert mod.check_real("dt_s", np.float32(0.5), low=0.0, low_open=True) == 0.5
    for bad in (True, math.nan, math.inf, -math.inf):
        with pytest.raises(error, match=r"dt_s must be a finite real number in \(0.0, inf\), got "):
            mod.check_real("dt_s", bad, low=0.0, low_open=True)
    with pytest.raises(error, match=r"^p must be in \[0.0, 1.0\), got 1.0$"):
        mod.check_real("p", 1.0, low=0.0, high=1.0, high_open=True)


@pytest.mark.parametrize(("mod", "error"), PACKAGES)
@pytest.mark.parametrize(
    ("kwargs", "value", "text"),
    [
        ({"low": 1}, 0, r"[1, inf)"),
        ({"high": 5}, 6, r"(-inf, 5]"),
        ({"low": 1, "high": 4}, 5, r"[1, 4]"),
        ({}, 0.5, r"(-inf, inf)"),
    ],
)
def test_open_bounds_are_written_inf_never_none(mod, error, kwargs, value, text) -> None:
    with pytest.raises(error) as info:
        mod.check_int("k", value, **kwargs)
    assert str(info.value) == f"k must be an integer in {text}, got {value!r}"
    assert "None" not in str(info.value)


@pytest.mark.parametrize(("mod", "error"), PACKAGES)
def test_make_rng_agrees_and_names_the_parameter(mod, error) -> None:
    seq = np.random.SeedSequence(3)
    np.testing.assert_array_equal(mod.make_rng(seq).random(2), np.random.default_rng(3).random(2))
    g = np.random.default_rng(0)
    assert mod.make_rng(g) is g
    for bad in (-1, True, 1.5, "7"):
        with pytest.raises(error, match=r"must be a non-negative integer, a SeedSequence or a Generator"):
            mod.make_rng(bad)
    default = "random_state" if mod is nm_checks else "seed"
    with pytest.raises(error, match=rf"^{default} must be .*, got -1$"):
        mod.make_rng(-1)
    with pytest.raises(error, match=r"^seed_x must be"):
        mod.make_rng(-1, "seed_x")


def test_format_range_and_custom_error_class() -> None:
    assert validation.format_range(0.0, None, low_open=True) == "(0.0, inf)"
    assert validation.format_range(None, None) == "(-inf, inf)"

    class MyError(Exception):
        pass

    with pytest.raises(MyError, match="mode must be one of 'a', 'b', got 'c'"):
        validation.check_choice("mode", "c", "ab", error=MyError)
