"""Pad-grid layouts, electrode overlap checks, role patterns and pads that touch no wire."""

from __future__ import annotations

import numpy as np
import pytest

import nwphys
from nwphys import (
    Electrode,
    ElectrodeLayout,
    PercolationError,
    RoleAssignment,
    ValidationError,
    assign_roles,
    make_layout,
    mea_grid,
    pad_grid,
    untouched_electrodes,
)


def _centres(layout: ElectrodeLayout) -> np.ndarray:
    r = layout.rects_um
    return np.column_stack([(r[:, 0] + r[:, 2]) / 2, (r[:, 1] + r[:, 3]) / 2])


# -- pad_grid geometry --------------------------------------------------------------------------


def test_pad_grid_default_pitch_fills_the_tighter_side_and_is_centred() -> None:
    lay = pad_grid((100.0, 60.0), 3, 4, series_resistance_ohm=82.0)
    # pitch = min(100/4, 60/3) = 20 um, pad = 0.2 * 20 = 4 um
    assert lay.names == ("E00", "E01", "E02", "E03", "E10", "E11", "E12", "E13", "E20", "E21", "E22", "E23")
    xy = _centres(lay).reshape(3, 4, 2)
    np.testing.assert_allclose(xy[0, :, 0], [20.0, 40.0, 60.0, 80.0], rtol=1e-12)
    np.testing.assert_allclose(xy[:, 0, 1], [10.0, 30.0, 50.0], rtol=1e-12)
    r = lay.rects_um
    np.testing.assert_allclose(r[:, 2] - r[:, 0], 4.0, rtol=1e-12)
    np.testing.assert_allclose(r[:, 3] - r[:, 1], 4.0, rtol=1e-12)
    # centred: equal margins on both sides of each axis
    assert r[:, 0].min() == pytest.approx(100.0 - r[:, 2].max(), rel=1e-12)
    assert r[:, 1].min() == pytest.approx(60.0 - r[:, 3].max(), rel=1e-12)
    np.testing.assert_array_equal(lay.series_resistance_ohm, np.full(12, 82.0))
    assert lay.name == "pads3x4"


def test_pad_grid_explicit_pitch_and_pad() -> None:
    lay = pad_grid((100.0, 100.0), 4, 4, pitch_um=10.0, pad_um=3.0)
    xy = _centres(lay).reshape(4, 4, 2)
    np.testing.assert_allclose(xy[0, :, 0], [35.0, 45.0, 55.0, 65.0], rtol=1e-12)
    np.testing.assert_allclose(xy[:, 0, 1], [35.0, 45.0, 55.0, 65.0], rtol=1e-12)
    np.testing.assert_allclose(lay.rects_um[0], [33.5, 33.5, 36.5, 36.5], rtol=1e-12)
    np.testing.assert_allclose(np.diff(xy[0, :, 0]), 10.0, rtol=1e-12)


def test_pad_grid_on_a_square_area_equals_mea_grid() -> None:
    np.testing.assert_allclose(
        pad_grid((50.0, 50.0), 4, 4).rects_um, mea_grid((50.0, 50.0), 4, 4).rects_um, rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(pad_grid((50.0, 50.0), 4, 4).rects_um[5], [17.5, 17.5, 20.0, 20.0], rtol=1e-12)


def test_pad_grid_16x16_names_and_order() -> None:
    lay = pad_grid((160.0, 160.0), 16, 16)
    assert len(lay) == 256
    assert lay.names[:3] == ("E0_0", "E0_1", "E0_2")
    assert lay.names[17] == "E1_1" and lay.names[-1] == "E15_15"
    xy = _centres(lay)
    i, j = lay.names.index("E15_0"), lay.names.index("E0_15")
    np.testing.assert_allclose(xy[i], [5.0, 155.0], rtol=1e-12)  # row 15 at the largest y
    np.testing.assert_allclose(xy[j], [155.0, 5.0], rtol=1e-12)  # column 15 at the largest x


def test_pad_grid_exact_fit_stays_inside() -> None:
    lay = pad_grid((10.0, 2.0), 1, 2, pitch_um=8.0, pad_um=2.0)  # extent 8 + 2 = 10 = W
    np.testing.assert_allclose(lay.rects_um, [[0.0, 0.0, 2.0, 2.0], [8.0, 0.0, 10.0, 2.0]], atol=1e-12)
    lay.check_inside((10.0, 2.0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pitch_um": 20.0}, r"pad grid does not fit: cols=4 pads of 4.0 um on a 20.0 um pitch span 64.0 um"),
        ({"pitch_um": 10.0, "pad_um": 10.0}, r"pad_um must be < pitch_um \(pads would overlap or touch\)"),
        ({"pitch_um": 10.0, "pad_um": 12.0}, r"pad_um must be < pitch_um .*pad_um=12.0"),
        ({"pad_um": 0.0}, r"pad_um must be in \(0.0, inf\), got 0.0"),
        ({"pitch_um": -1.0}, r"pitch_um must be in \(0.0, inf\), got -1.0"),
    ],
)
def test_pad_grid_bad_geometry(kwargs: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        pad_grid((50.0, 50.0), 4, 4, **kwargs)


def test_pad_grid_does_not_fit_in_height() -> None:
    with pytest.raises(ValidationError, match=r"does not fit: rows=5 .* height 30.0 um"):
        pad_grid((100.0, 30.0), 5, 2, pitch_um=10.0, pad_um=2.0)


@pytest.mark.parametrize(
    ("rows", "cols", "match"),
    [
        (17, 4, r"rows must be an integer in \[1, 16\], got 17"),
        (4, 0, r"cols must be an integer in \[1, 16\], got 0"),
        (1, 1, r"rows \* cols must be >= 2 electrodes, got 1 x 1"),
    ],
)
def test_pad_grid_bad_shape(rows: int, cols: int, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        pad_grid((50.0, 50.0), rows, cols)


def test_make_layout_routes_pitch_and_pad_to_pad_grid() -> None:
    lay = make_layout("mea4x4", (50.0, 50.0), pitch_um=10.0, series_resistance_ohm=5.0)
    np.testing.assert_allclose(_centres(lay)[:4, 0], [10.0, 20.0, 30.0, 40.0], rtol=1e-12)
    np.testing.assert_allclose(lay.rects_um[0, 2] - lay.rects_um[0, 0], 2.0, rtol=1e-12)
    np.testing.assert_array_equal(lay.series_resistance_ohm, np.full(16, 5.0))
    lay = make_layout("mea2x2", (50.0, 50.0), pad_um=1.0)
    np.testing.assert_allclose(lay.rects_um[0], [12.0, 12.0, 13.0, 13.0], rtol=1e-12)
    # without pitch/pad: the mea_grid rectangles (per-axis pitch on a non-square area)
    np.testing.assert_array_equal(
        make_layout("mea2x4", (100.0, 50.0)).rects_um, mea_grid((100.0, 50.0), 2, 4).rects_um
    )
    with pytest.raises(ValidationError, match=r"pitch_um and pad_um apply only to 'meaRxC' layouts"):
        make_layout("two-terminal", (50.0, 50.0), pitch_um=10.0)


# -- overlap ------------------------------------------------------------------------------------


def test_overlapping_electrodes_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"electrodes 'E00' and 'E01' overlap"):
        ElectrodeLayout((Electrode("E00", (0, 0, 2, 2)), Electrode("E01", (1, 1, 3, 3))))
    with pytest.raises(ValidationError, match=r"electrodes 'a' and 'c' overlap"):  # touching edge
        ElectrodeLayout(
            (Electrode("a", (0, 0, 1, 1)), Electrode("b", (5, 5, 6, 6)), Electrode("c", (1, 0, 2, 1)))
        )
    with pytest.raises(ValidationError, match=r"electrodes 'a' and 'b' overlap"):  # touching corner
        ElectrodeLayout((Electrode("a", (0, 0, 1, 1)), Electrode("b", (1, 1, 2, 2))))
    with pytest.raises(ValidationError, match=r"electrodes 'a' and 'b' overlap"):  # line inside a pad
        ElectrodeLayout((Electrode("a", (0, 0, 4, 4)), Electrode("b", (2, 1, 2, 3))))
    lay = ElectrodeLayout((Electrode("a", (0, 0, 1, 1)), Electrode("b", (1.001, 0, 2, 1))))
    assert lay.names == ("a", "b")


def test_existing_layouts_are_disjoint() -> None:
    assert nwphys.two_terminal((100.0, 50.0)).names == ("in", "out")
    assert nwphys.two_terminal((100.0, 50.0), strip_width_um=49.9).names == ("in", "out")
    assert len(mea_grid((50.0, 50.0), 16, 16, pad_fraction=0.99)) == 256


# -- role patterns ------------------------------------------------------------------------------


def test_chessboard_4x4() -> None:
    lay = pad_grid((50.0, 50.0), 4, 4)
    ra = assign_roles(lay)
    assert ra.ground == ("E00", "E03", "E30", "E33")
    assert ra.inputs == ("E02", "E11", "E13", "E20", "E22", "E31")
    assert ra.outputs == ("E01", "E10", "E12", "E21", "E23", "E32")
    assert ra.floating(lay) == ()
    assert ra.role_of("E11") == "input" and ra.role_of("E12") == "output" and ra.role_of("E33") == "ground"


def test_chessboard_14x14_milano_grid() -> None:
    lay = pad_grid((1400.0, 1400.0), 14, 14)
    ra = assign_roles(lay, "chessboard")
    assert (len(ra.inputs), len(ra.outputs), len(ra.ground)) == (96, 96, 4)
    assert set(ra.ground) == {"E0_0", "E0_13", "E13_0", "E13_13"}
    parity = {n: sum(int(v) for v in n[1:].split("_")) % 2 for n in lay.names}
    assert all(parity[n] == 0 for n in ra.inputs)
    assert all(parity[n] == 1 for n in ra.outputs)
    assert "E0_1" in ra.outputs and "E1_1" in ra.inputs and "E0_2" in ra.inputs


def test_chessboard_reads_rows_and_columns_from_the_centres() -> None:
    # shuffled order, rows by y and columns by x
    lay = ElectrodeLayout(
        (
            Electrode("p", (10, 10, 11, 11)),
            Electrode("q", (0, 0, 1, 1)),
            Electrode("r", (5, 0, 6, 1)),
            Electrode("s", (0, 10, 1, 11)),
            Electrode("t", (10, 0, 11, 1)),
            Electrode("u", (5, 10, 6, 11)),
        )
    )
    ra = assign_roles(lay)  # 2 rows x 3 columns: corners q, t, s, p ground
    assert ra.ground == ("p", "q", "s", "t")
    assert ra.outputs == ("r",)  # (0, 1)
    assert ra.inputs == ("u",)  # (1, 1)


def test_chessboard_needs_a_full_grid() -> None:
    lay = ElectrodeLayout(
        (Electrode("a", (0, 0, 1, 1)), Electrode("b", (5, 0, 6, 1)), Electrode("c", (0, 5, 1, 6)))
    )
    with pytest.raises(ValidationError, match=r"role pattern 'chessboard' needs a full rectangular pad grid"):
        assign_roles(lay)


@pytest.mark.parametrize(
    ("layout", "match"),
    [
        (pad_grid((50.0, 50.0), 2, 2), r"role pattern 'chessboard' has no input electrode"),
        (pad_grid((50.0, 50.0), 1, 3), r"role pattern 'chessboard' has no input electrode"),
        (nwphys.two_terminal((50.0, 50.0)), r"role pattern 'chessboard' has no input electrode"),
        (pad_grid((50.0, 50.0), 1, 4), None),
    ],
)
def test_chessboard_small_grids(layout: ElectrodeLayout, match: str | None) -> None:
    if match is None:
        ra = assign_roles(layout)  # corners E00, E03; E01 odd, E02 even
        assert (ra.inputs, ra.outputs, ra.ground) == (("E02",), ("E01",), ("E00", "E03"))
        return
    with pytest.raises(ValidationError, match=match):
        assign_roles(layout)


def test_rows_and_columns() -> None:
    lay = pad_grid((30.0, 40.0), 4, 3)
    ra = assign_roles(lay, "rows")
    assert ra.inputs == ("E00", "E01", "E02")
    assert ra.outputs == ("E10", "E11", "E12", "E20", "E21", "E22")
    assert ra.ground == ("E30", "E31", "E32")
    ra = assign_roles(lay, "columns")
    assert ra.inputs == ("E00", "E10", "E20", "E30")
    assert ra.outputs == ("E01", "E11", "E21", "E31")
    assert ra.ground == ("E02", "E12", "E22", "E32")
    with pytest.raises(ValidationError, match=r"role pattern 'rows' needs >= 3 rows .* got 2"):
        assign_roles(pad_grid((50.0, 50.0), 2, 4), "rows")
    with pytest.raises(ValidationError, match=r"role pattern 'columns' needs >= 3 columns .* got 2"):
        assign_roles(pad_grid((50.0, 50.0), 4, 2), "columns")


def test_first_last() -> None:
    lay = mea_grid((30.0, 20.0), 2, 3)
    ra = assign_roles(lay, "first-last", n_inputs=2)
    assert ra.inputs == ("E00", "E01")
    assert ra.outputs == ("E02", "E10", "E11")
    assert ra.ground == ("E12",)
    assert ra.floating(lay) == ()
    with pytest.raises(ValidationError, match=r"role pattern 'first-last' needs n_inputs"):
        assign_roles(lay, "first-last")
    with pytest.raises(ValidationError, match=r"n_inputs must be an integer in \[1, 4\], got 5"):
        assign_roles(lay, "first-last", n_inputs=5)


def test_unknown_pattern() -> None:
    with pytest.raises(
        ValidationError,
        match=r"pattern must be one of 'chessboard', 'rows', 'columns', "
        r"'first-last', 'auto', got 'spiral'",
    ):
        assign_roles(pad_grid((50.0, 50.0), 4, 4), "spiral")


def test_explicit_mappings() -> None:
    lay = mea_grid((20.0, 20.0), 2, 2)
    ra = assign_roles(lay, {"input": ["E10", "E00"], "output": ["E11"], "ground": "E01"})
    assert (ra.inputs, ra.outputs, ra.ground) == (("E00", "E10"), ("E11",), ("E01",))  # layout order
    ra = assign_roles(lay, {"E00": "input", "E01": "ground", "E10": "floating"})
    assert (ra.inputs, ra.outputs, ra.ground) == (("E00",), (), ("E01",))
    assert ra.floating(lay) == ("E10", "E11")
    ra = assign_roles(lay, {"input": "E11", "ground": "E00"})
    assert (ra.inputs, ra.outputs, ra.ground) == (("E11",), (), ("E00",))
    ra = assign_roles(lay, dict((("E00", "ground"), ("E11", "input"), ("E01", "output"))))
    assert (ra.inputs, ra.outputs, ra.ground) == (("E11",), ("E01",), ("E00",))


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        ({"input": ["E00"], "output": ["E01"]}, r"role pattern \(explicit mapping\) has no ground electrode"),
        ({"output": ["E00"], "ground": ["E01"]}, r"role pattern \(explicit mapping\) has no input electrode"),
        ({"input": ["E00"], "ground": ["E00"]}, r"electrode 'E00' given as both input and ground"),
        ({"input": ["E00", "E00"], "ground": ["E01"]}, r"electrode 'E00' given as both input and input"),
        ({"input": ["E99"], "ground": ["E01"]}, r"role pattern names unknown electrode 'E99'"),
        ({"E00": "input", "E77": "ground"}, r"role pattern names unknown electrode 'E77'"),
        (
            {"E00": "input", "E01": "drain"},
            r"role of electrode 'E01' must be one of 'input', 'output', "
            r"'ground', 'floating', got 'drain'",
        ),
        (
            {"inputs": ["E00"], "ground": ["E01"]},
            r"role \(key of the role pattern mapping\) must be one of "
            r"'input', .*got 'inputs'",
        ),
    ],
)
def test_explicit_mapping_errors(mapping: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        assign_roles(mea_grid((20.0, 20.0), 2, 2), mapping)


def test_n_inputs_keeps_the_first_inputs() -> None:
    lay = pad_grid((50.0, 50.0), 4, 4)
    ra = assign_roles(lay, "chessboard", n_inputs=2)
    assert ra.inputs == ("E02", "E11")
    assert ra.outputs == ("E01", "E10", "E12", "E21", "E23", "E32")
    assert ra.floating(lay) == ("E13", "E20", "E22", "E31")
    ra = assign_roles(lay, {"input": ["E00", "E01", "E02"], "ground": ["E33"]}, n_inputs=1)
    assert ra.inputs == ("E00",) and ra.floating(lay)[:2] == ("E01", "E02")
    with pytest.raises(
        ValidationError,
        match=r"n_inputs must be an integer in \[1, 6\] \(the inputs of "
        r"role pattern 'chessboard'\), got 7",
    ):
        assign_roles(lay, "chessboard", n_inputs=7)
    with pytest.raises(ValidationError, match=r"n_inputs must be an integer in \[1, inf\), got 0"):
        assign_roles(lay, "rows", n_inputs=0)


def test_role_assignment_refuses_a_name_in_two_roles() -> None:
    with pytest.raises(ValidationError, match=r"electrode 'a' given as both output and ground"):
        RoleAssignment(inputs=("b",), outputs=("a",), ground=("a",))


# -- networks on pad grids ----------------------------------------------------------------------


def test_pad_touching_no_wire_is_named() -> None:
    grid = pad_grid((50.0, 50.0), 4, 4, pad_um=1.0)
    net = nwphys.generate(n_wires=400, size_um=(50.0, 50.0), electrodes=grid, seed=2)
    assert not net.connected
    assert untouched_electrodes(net) == ("E22",)
    # cross-check with the contact edges of the physical graph
    g = net.to_networkx()
    assert [n for n in grid.names if g.degree(n) == 0] == ["E22"]
    with pytest.raises(
        PercolationError,
        match=r"^electrode\(s\) 'E22' touch no wire \(pad side 1 um; enlarge the pads, "
        r"raise the density or use another seed\); electrodes are not all connected",
    ):
        net.circuit()


def test_tiny_pads_touch_no_wire() -> None:
    grid = pad_grid((50.0, 50.0), 2, 2, pad_um=0.01)
    net = nwphys.generate(n_wires=400, size_um=(50.0, 50.0), electrodes=grid, seed=0)
    assert untouched_electrodes(net) == ("E00", "E01", "E10", "E11")
    with pytest.raises(
        PercolationError,
        match=r"electrode\(s\) 'E00', 'E01', 'E10', 'E11' touch no wire "
        r"\(pad side 0.01 um;",
    ):
        net.circuit()


def test_disconnected_without_untouched_pads_keeps_the_percolation_message(seed: int) -> None:
    net = nwphys.generate(n_wires=60, size_um=(100.0, 100.0), length_mean_um=10.0, seed=seed)
    assert untouched_electrodes(net) == ()
    with pytest.raises(PercolationError, match=r"^electrodes are not all connected"):
        net.circuit()


def test_dense_4x4_grid_connects() -> None:
    net = nwphys.generate(n_wires=400, size_um=(50.0, 50.0), electrodes="mea4x4", seed=1)
    assert net.connected
    assert untouched_electrodes(net) == ()
    c = net.circuit()
    assert c.electrode_names == net.electrodes.names and len(c.electrode_names) == 16
    ra = assign_roles(net.electrodes)
    assert len(ra.inputs) == 6 and len(ra.outputs) == 6 and ra.ground == ("E00", "E03", "E30", "E33")
    same = nwphys.generate(n_wires=400, size_um=(50.0, 50.0), electrodes=pad_grid((50.0, 50.0), 4, 4), seed=1)
    assert same.connected and same.n_junctions == net.n_junctions
