"""Electrodes of a virtual device: rectangular pads and edge lines, and which wires touch them.

An :class:`Electrode` is an axis-aligned rectangle ``(x_min, y_min, x_max, y_max)`` in micrometres;
a zero width or height makes it an edge line. A wire is connected to an electrode when its segment
intersects the (closed) rectangle; the contact is ideal (the wire is merged into the electrode node
of the circuit) and an optional series (contact or load) resistance sits between the electrode and
its source, e.g. the 82 ohm load resistors of Milano et al. (2022).

Layouts
-------
* ``"two-terminal"``: an edge line (or a strip of ``strip_width_um``) along the left edge called
  ``"in"`` and one along the right edge called ``"out"``.
* ``"meaRxC"`` (e.g. ``"mea4x4"``): ``R x C`` square pads on a regular grid, pad ``(r, c)`` centred at
  ``((c + 1/2) W / C, (r + 1/2) H / R)``, side ``pad_fraction`` times the smaller pitch, named
  ``"E{r}{c}"`` (``"E{r}_{c}"`` when R or C exceeds 10).
* :func:`pad_grid`: a bench-like grid of square pads on a square pitch, centred in the area (the
  14 x 14 pad grid of Milano et al., Nature Materials 2022, or a 16-electrode 4 x 4 array); also
  ``"meaRxC"`` with ``pitch_um`` or ``pad_um`` in :func:`make_layout`.

Electrodes of a layout may not overlap or touch (that would merge them into one electrode).

Roles
-----
:func:`assign_roles` splits the electrodes of a layout into inputs (driven), outputs (read),
ground and floating ones, by a named pattern (``"chessboard"``, ``"rows"``, ``"columns"``,
``"first-last"``) or an explicit mapping, and returns a :class:`RoleAssignment`.

A wire touching two electrodes would short them. :func:`electrode_contacts` raises
:class:`~nwphys.errors.ValidationError` naming the wire and both electrodes in that case (use
smaller pads, shorter wires or another seed) instead of silently choosing one of them.

The electrode types and wire contacts are defined in ``nwphys._electrode_geometry`` and the named
layouts in ``nwphys._electrode_layouts``; this module re-exports them and is where they are
imported from. It defines the roles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._electrode_geometry import Electrode, ElectrodeLayout, clip_intervals, electrode_contacts
from ._electrode_layouts import make_layout, mea_grid, pad_grid, two_terminal
from ._validation import check_choice, check_int
from .errors import ValidationError

__all__ = [
    "ROLES",
    "ROLE_PATTERNS",
    "Electrode",
    "ElectrodeLayout",
    "RoleAssignment",
    "assign_roles",
    "clip_intervals",
    "electrode_contacts",
    "make_layout",
    "mea_grid",
    "pad_grid",
    "two_terminal",
]


# --------------------------------------------------------------------------------------- roles

#: Electrode roles of an experiment: driven inputs, read outputs, ground, and floating (unused).
#: The one definition of the role names, for the physics and the hardware layers alike.
ROLES: tuple[str, ...] = ("input", "output", "ground", "floating")


@dataclass(frozen=True)
class RoleAssignment:
    """Which electrodes of a layout are inputs, outputs and ground (the rest float).

    Parameters
    ----------
    inputs, outputs, ground : tuple of str
        Electrode names of each role, in layout order; no name in two roles.
    """

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    ground: tuple[str, ...]

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for role, names in (("input", self.inputs), ("output", self.outputs), ("ground", self.ground)):
            if isinstance(names, str):
                raise ValidationError(f"{role} names must be a sequence of str, got the string {names!r}")
            for n in names:
                if n in seen:
                    raise ValidationError(f"electrode {n!r} given as both {seen[n]} and {role}")
                seen[n] = role
        object.__setattr__(self, "inputs", tuple(str(n) for n in self.inputs))
        object.__setattr__(self, "outputs", tuple(str(n) for n in self.outputs))
        object.__setattr__(self, "ground", tuple(str(n) for n in self.ground))

    def floating(self, layout: ElectrodeLayout) -> tuple[str, ...]:
        """Electrodes of ``layout`` with no role (neither input, output nor ground), in layout order."""
        used = {*self.inputs, *self.outputs, *self.ground}
        return tuple(n for n in layout.names if n not in used)

    def role_of(self, name: str) -> str:
        """Role of electrode ``name``: ``"input"``, ``"output"``, ``"ground"`` or ``"floating"``."""
        for role, names in (("input", self.inputs), ("output", self.outputs), ("ground", self.ground)):
            if name in names:
                return role
        return "floating"


def _grid_positions(layout: ElectrodeLayout, pattern: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Row and column of every electrode of a full rectangular grid, from the rectangle centres.

    Returns ``(row, col, n_rows, n_cols)``; rows are numbered by increasing y, columns by
    increasing x. Centres closer than ``1e-9`` of the layout extent share a row (column).
    """
    r = layout.rects_um
    centres = np.column_stack([(r[:, 0] + r[:, 2]) / 2, (r[:, 1] + r[:, 3]) / 2])
    tol = 1e-9 * max(1.0, float(np.abs(r).max()))
    index = []
    for axis in (1, 0):
        v = centres[:, axis]
        order = np.argsort(v, kind="stable")
        step = np.diff(v[order]) > tol
        lab = np.empty(v.size, dtype=np.int64)
        lab[order] = np.concatenate([[0], np.cumsum(step)])
        index.append(lab)
    row, col = index
    n_rows, n_cols = int(row.max()) + 1, int(col.max()) + 1
    cells = np.zeros((n_rows, n_cols), dtype=np.int64)
    np.add.at(cells, (row, col), 1)
    if n_rows * n_cols != len(layout) or np.any(cells != 1):
        raise ValidationError(
            f"role pattern {pattern!r} needs a full rectangular pad grid, got {len(layout)} electrodes "
            f"whose centres lie on {n_rows} rows x {n_cols} columns (layout {layout.name!r})"
        )
    return row, col, n_rows, n_cols


def _chessboard(layout: ElectrodeLayout, n_inputs: int | None) -> list[str]:
    row, col, n_rows, n_cols = _grid_positions(layout, "chessboard")
    corner = np.isin(row, (0, n_rows - 1)) & np.isin(col, (0, n_cols - 1))
    even = (row + col) % 2 == 0
    return np.where(corner, "ground", np.where(even, "input", "output")).tolist()


def _lines(layout: ElectrodeLayout, pattern: str, axis: int) -> list[str]:
    row, col, n_rows, n_cols = _grid_positions(layout, pattern)
    pos, n = (row, n_rows) if axis == 0 else (col, n_cols)
    if n < 3:
        what = "rows" if axis == 0 else "columns"
        raise ValidationError(
            f"role pattern {pattern!r} needs >= 3 {what} (inputs, outputs, ground), got {n} "
            f"(layout {layout.name!r})"
        )
    return np.where(pos == 0, "input", np.where(pos == n - 1, "ground", "output")).tolist()


def _rows(layout: ElectrodeLayout, n_inputs: int | None) -> list[str]:
    return _lines(layout, "rows", 0)


def _columns(layout: ElectrodeLayout, n_inputs: int | None) -> list[str]:
    return _lines(layout, "columns", 1)


def _first_last(layout: ElectrodeLayout, n_inputs: int | None) -> list[str]:
    n = len(layout)
    if n_inputs is None:
        raise ValidationError(
            "role pattern 'first-last' needs n_inputs (the number of leading input electrodes), got None"
        )
    if n < 3:
        raise ValidationError(
            f"role pattern 'first-last' needs >= 3 electrodes (input, output, ground), got {n}"
        )
    k = check_int("n_inputs", n_inputs, low=1, high=n - 2)
    return ["input"] * k + ["output"] * (n - 1 - k) + ["ground"]


def _auto(layout: ElectrodeLayout, n_inputs: int | None) -> list[str]:
    n = len(layout)
    try:
        _, _, n_rows, n_cols = _grid_positions(layout, "auto")
    except ValidationError:
        n_rows = n_cols = 0
    if n_rows >= 3 and n_cols >= 3:
        return _chessboard(layout, n_inputs)
    if n == 2:
        if n_inputs not in (None, 1):
            raise ValidationError(f"n_inputs must be 1 for a two-electrode layout, got {n_inputs!r}")
        return ["input", "ground"]
    return _first_last(layout, 1 if n_inputs is None else n_inputs)


#: Named role patterns of :func:`assign_roles`: name -> function of (layout, n_inputs) giving the
#: role of every electrode in layout order.
ROLE_PATTERNS: dict[str, Callable[[ElectrodeLayout, int | None], list[str]]] = {
    "chessboard": _chessboard,
    "rows": _rows,
    "columns": _columns,
    "first-last": _first_last,
    "auto": _auto,
}


def _explicit_roles(layout: ElectrodeLayout, mapping: Mapping[Any, Any]) -> list[str]:
    """Roles from ``{role: names}`` or ``{name: role}``; unmentioned electrodes float."""
    known = layout.names
    keys = list(mapping)
    role_form = any(not isinstance(v, str) for v in mapping.values()) or (
        bool(keys) and all(k in ROLES for k in keys) and not any(k in known for k in keys)
    )
    pairs: list[tuple[str, str]] = []
    if role_form:
        for role, names in mapping.items():
            check_choice("role (key of the role pattern mapping)", role, ROLES)
            if isinstance(names, str):
                names = (names,)
            elif not isinstance(names, Sequence):
                raise ValidationError(
                    f"electrodes of role {role!r} must be a name or a sequence of names, got "
                    f"{type(names).__name__}"
                )
            pairs.extend((str(n), role) for n in names)
    else:
        for name, role in mapping.items():
            check_choice(f"role of electrode {name!r}", role, ROLES)
            pairs.append((str(name), role))
    roles: dict[str, str] = {}
    for name, role in pairs:
        if name not in known:
            raise ValidationError(
                f"role pattern names unknown electrode {name!r}; electrodes of layout {layout.name!r}: "
                f"{', '.join(known)}"
            )
        if name in roles:
            raise ValidationError(f"electrode {name!r} given as both {roles[name]} and {role}")
        roles[name] = role
    return [roles.get(n, "floating") for n in known]


def assign_roles(
    layout: ElectrodeLayout,
    pattern: str | Mapping[str, Any] = "chessboard",
    *,
    n_inputs: int | None = None,
) -> RoleAssignment:
    """Assign input, output and ground roles to the electrodes of a layout.

    Named patterns (rows and columns of a grid come from the pad centres: row ``r`` at increasing
    y, column ``c`` at increasing x; the layout must be a full rectangular grid):

    ``"chessboard"``
        The four corner pads are ground; of the others, ``(r + c)`` even are inputs and odd are
        outputs (inputs and readouts in a chessboard, as in Milano et al., Nature Materials 2022).
        A 4 x 4 grid gives 6 inputs, 6 outputs and 4 ground pads.
    ``"rows"``
        Row 0 inputs, the last row ground, the rows between outputs (>= 3 rows).
    ``"columns"``
        The same with columns (>= 3 columns).
    ``"first-last"``
        The first ``n_inputs`` electrodes (layout order) are inputs, the last one ground, the rest
        outputs; ``n_inputs`` in ``[1, n_electrodes - 2]`` is required.
    ``"auto"``
        A pattern for any layout: ``"chessboard"`` on a full grid of at least 3 x 3 pads, else
        ``"first-last"`` (``n_inputs`` default 1) on 3 or more electrodes, else (two electrodes)
        the first an input and the second ground, with no output electrode (a two-terminal
        device is read by its input and ground currents).

    Or an explicit mapping, ``{"input": [...], "output": [...], "ground": [...]}`` (a
    ``"floating"`` key is allowed) or ``{name: role}``; unmentioned electrodes float and the
    outputs may be empty.

    Parameters
    ----------
    layout : ElectrodeLayout
    pattern : str or mapping
        A name of :data:`ROLE_PATTERNS` or an explicit mapping (see above).
    n_inputs : int, optional
        For the patterns other than ``"first-last"``: keep only the first ``n_inputs`` inputs of
        the pattern (layout order) as inputs, the others float; in ``[1, n_pattern_inputs]``.

    Returns
    -------
    RoleAssignment
        Names of each role in layout order.

    Raises
    ------
    ValidationError
        Unknown pattern or role, unknown electrode, an electrode in two roles, a layout that is
        not a grid of the pattern, no input, no ground, no output (named patterns), or ``n_inputs``
        out of range.
    """
    if not isinstance(layout, ElectrodeLayout):
        raise ValidationError(f"layout must be an ElectrodeLayout, got {type(layout).__name__}")
    if isinstance(pattern, Mapping):
        label = "(explicit mapping)"
        roles = _explicit_roles(layout, pattern)
    else:
        check_choice("pattern", pattern, ROLE_PATTERNS)
        label = repr(pattern)
        roles = ROLE_PATTERNS[pattern](layout, n_inputs)
    if n_inputs is not None and pattern != "first-last":
        idx = [i for i, r in enumerate(roles) if r == "input"]
        k = check_int("n_inputs", n_inputs, low=1)
        if k > len(idx):
            raise ValidationError(
                f"n_inputs must be an integer in [1, {len(idx)}] (the inputs of role pattern {label}), "
                f"got {n_inputs!r}"
            )
        for i in idx[k:]:
            roles[i] = "floating"
    names = layout.names
    by_role = {role: tuple(n for n, r in zip(names, roles, strict=True) if r == role) for role in ROLES}
    no_output = isinstance(pattern, Mapping) or (pattern == "auto" and len(layout) == 2)
    for role in ("input", "ground") if no_output else ("input", "output", "ground"):
        if not by_role[role]:
            raise ValidationError(
                f"role pattern {label} has no {role} electrode (layout {layout.name!r}, "
                f"{len(layout)} electrodes)"
            )
    return RoleAssignment(by_role["input"], by_role["output"], by_role["ground"])
