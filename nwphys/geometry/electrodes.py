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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nwphys._checks import check_choice, check_int, check_real
from nwphys.errors import ValidationError
from nwutil.vocabulary import ROLES

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


# --------------------------------------------------------------------------------------- electrodes
@dataclass(frozen=True)
class Electrode:
    """One electrode: a closed axis-aligned rectangle in micrometres.

    Parameters
    ----------
    name : str
        Unique, non-empty name.
    rect_um : tuple of float
        ``(x_min, y_min, x_max, y_max)`` in micrometres; ``x_min == x_max`` (or ``y_min == y_max``)
        is a line.
    series_resistance_ohm : float
        Contact/load resistance between the electrode and its source in ohms (>= 0).
    """

    name: str
    rect_um: tuple[float, float, float, float]
    series_resistance_ohm: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError(f"electrode name must be a non-empty string, got {self.name!r}")
        try:
            x0, y0, x1, y1 = (float(v) for v in self.rect_um)
        except (TypeError, ValueError):
            raise ValidationError(
                f"rect_um of electrode {self.name!r} must be (x_min, y_min, x_max, y_max), "
                f"got {self.rect_um!r}"
            ) from None
        for label, v in (("x_min", x0), ("y_min", y0), ("x_max", x1), ("y_max", y1)):
            check_real(f"rect_um {label} of electrode {self.name!r}", v)
        if x1 < x0 or y1 < y0:
            raise ValidationError(
                f"rect_um of electrode {self.name!r} must have x_min <= x_max and y_min <= y_max, "
                f"got {self.rect_um!r}"
            )
        rs = check_real(
            f"series_resistance_ohm of electrode {self.name!r}", self.series_resistance_ohm, low=0.0
        )
        object.__setattr__(self, "rect_um", (x0, y0, x1, y1))
        object.__setattr__(self, "series_resistance_ohm", rs)


@dataclass(frozen=True)
class ElectrodeLayout:
    """An ordered set of electrodes with unique names.

    Parameters
    ----------
    electrodes : tuple of Electrode
    name : str
        Layout label (``"two-terminal"``, ``"mea4x4"``, ``"custom"``...), informative only.
    """

    electrodes: tuple[Electrode, ...]
    name: str = "custom"

    def __post_init__(self) -> None:
        els = tuple(self.electrodes)
        if not els:
            raise ValidationError("electrodes must contain at least one electrode, got none")
        for e in els:
            if not isinstance(e, Electrode):
                raise ValidationError(f"electrodes must be Electrode objects, got {type(e).__name__}")
        names = [e.name for e in els]
        if len(set(names)) != len(names):
            raise ValidationError(f"electrode names must be unique, got {names!r}")
        _check_disjoint(els)
        object.__setattr__(self, "electrodes", els)

    @property
    def names(self) -> tuple[str, ...]:
        """Electrode names, in order."""
        return tuple(e.name for e in self.electrodes)

    @property
    def rects_um(self) -> np.ndarray:
        """Rectangles, shape (n_electrodes, 4): ``x_min, y_min, x_max, y_max`` in micrometres."""
        return np.array([e.rect_um for e in self.electrodes], dtype=float).reshape(-1, 4)

    @property
    def series_resistance_ohm(self) -> np.ndarray:
        """Series resistance of each electrode in ohms, shape (n_electrodes,)."""
        return np.array([e.series_resistance_ohm for e in self.electrodes], dtype=float)

    def __len__(self) -> int:
        return len(self.electrodes)

    def check_inside(self, size_um: tuple[float, float]) -> None:
        """Raise :class:`ValidationError` if an electrode leaves the ``W x H`` area."""
        w, h = size_um
        for e in self.electrodes:
            x0, y0, x1, y1 = e.rect_um
            if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
                raise ValidationError(
                    f"electrodes: electrode {e.name!r} rect_um {e.rect_um!r} must lie inside the "
                    f"area [0, {w!r}] x [0, {h!r}] um"
                )


def _check_disjoint(electrodes: Sequence[Electrode]) -> None:
    """Raise :class:`ValidationError` if two closed rectangles intersect or touch."""
    r = np.array([e.rect_um for e in electrodes], dtype=float).reshape(-1, 4)
    meet = (
        (r[:, None, 0] <= r[None, :, 2])
        & (r[None, :, 0] <= r[:, None, 2])
        & (r[:, None, 1] <= r[None, :, 3])
        & (r[None, :, 1] <= r[:, None, 3])
    )
    i, j = np.nonzero(np.triu(meet, k=1))
    if i.size:
        a, b = electrodes[int(i[0])], electrodes[int(j[0])]
        raise ValidationError(
            f"electrodes {a.name!r} and {b.name!r} overlap (rect_um {a.rect_um!r} and {b.rect_um!r} "
            f"intersect or touch); electrodes must be disjoint"
        )


def clip_intervals(
    endpoints_um: np.ndarray, rects_um: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Liang-Barsky clipping of every wire against every rectangle.

    Parameters
    ----------
    endpoints_um : ndarray, shape (n_wires, 2, 2)
        Wire start and end points.
    rects_um : ndarray, shape (n_electrodes, 4)
        ``x_min, y_min, x_max, y_max``.

    Returns
    -------
    touch : ndarray of bool, shape (n_wires, n_electrodes)
        Whether the wire segment meets the closed rectangle.
    t0, t1 : ndarray of float, shape (n_wires, n_electrodes)
        Parameter interval ``[t0, t1]`` (0 = start, 1 = end) of the wire inside the rectangle.
    """
    p = endpoints_um[:, 0][:, None, :]  # (n, 1, 2)
    d = (endpoints_um[:, 1] - endpoints_um[:, 0])[:, None, :]
    lo = rects_um[None, :, :2]
    hi = rects_um[None, :, 2:]
    n, k = endpoints_um.shape[0], rects_um.shape[0]
    t0 = np.zeros((n, k))
    t1 = np.ones((n, k))
    ok = np.ones((n, k), dtype=bool)
    for ax in range(2):
        da = np.broadcast_to(d[..., ax], (n, k))
        pa = np.broadcast_to(p[..., ax], (n, k))
        la, ha = lo[..., ax], hi[..., ax]
        par = da == 0
        ok &= ~par | ((pa >= la) & (pa <= ha))
        with np.errstate(divide="ignore", invalid="ignore"):
            ta = (la - pa) / da
            tb = (ha - pa) / da
        tmin = np.where(par, -np.inf, np.minimum(ta, tb))
        tmax = np.where(par, np.inf, np.maximum(ta, tb))
        t0 = np.maximum(t0, tmin)
        t1 = np.minimum(t1, tmax)
    touch = ok & (t0 <= t1)
    return touch, t0, t1


def electrode_contacts(endpoints_um: np.ndarray, layout: ElectrodeLayout) -> np.ndarray:
    """Index of the electrode each wire touches, or -1.

    Parameters
    ----------
    endpoints_um : ndarray, shape (n_wires, 2, 2)
    layout : ElectrodeLayout

    Returns
    -------
    ndarray of int64, shape (n_wires,)

    Raises
    ------
    ValidationError
        A wire touches two electrodes (it would short them).
    """
    touch, _, _ = clip_intervals(endpoints_um, layout.rects_um)
    count = touch.sum(axis=1)
    if np.any(count > 1):
        w = int(np.flatnonzero(count > 1)[0])
        a, b = np.flatnonzero(touch[w])[:2]
        raise ValidationError(
            f"electrodes: wire {w} touches both electrode {layout.names[a]!r} and {layout.names[b]!r} "
            f"(a short circuit); use smaller pads, shorter wires or another seed"
        )
    out = np.full(endpoints_um.shape[0], -1, dtype=np.int64)
    rows, cols = np.nonzero(touch)
    out[rows] = cols
    return out


# --------------------------------------------------------------------------------------- layouts
_MEA = re.compile(r"^mea(\d+)x(\d+)$")
#: Largest number of rows (and of columns) of :func:`pad_grid`.
_MAX_GRID = 16


def _grid_name(r: int, c: int, wide: bool) -> str:
    """Name of pad ``(r, c)`` of a grid: ``"E{r}{c}"``, or ``"E{r}_{c}"`` when ``wide``."""
    return f"E{r}_{c}" if wide else f"E{r}{c}"


def two_terminal(
    size_um: tuple[float, float], *, strip_width_um: float = 0.0, series_resistance_ohm: float = 0.0
) -> ElectrodeLayout:
    """Left (``"in"``) and right (``"out"``) edge electrodes spanning the full height.

    Parameters
    ----------
    size_um : (float, float)
        Area ``(W, H)`` in micrometres.
    strip_width_um : float
        Width of each strip in micrometres, in ``[0, W/2)``; 0 gives edge lines at ``x = 0`` and
        ``x = W`` (the spanning criterion of percolation studies).
    series_resistance_ohm : float
        Series resistance of each electrode in ohms (>= 0).
    """
    w, h = (float(v) for v in size_um)
    sw = check_real("strip_width_um", strip_width_um, low=0.0, high=w / 2, high_open=True)
    return ElectrodeLayout(
        (
            Electrode("in", (0.0, 0.0, sw, h), series_resistance_ohm),
            Electrode("out", (w - sw, 0.0, w, h), series_resistance_ohm),
        ),
        name="two-terminal",
    )


def mea_grid(
    size_um: tuple[float, float],
    rows: int,
    cols: int,
    *,
    pad_fraction: float = 0.2,
    series_resistance_ohm: float = 0.0,
) -> ElectrodeLayout:
    """A ``rows x cols`` multi-electrode array of square pads.

    Parameters
    ----------
    size_um : (float, float)
        Area ``(W, H)`` in micrometres.
    rows, cols : int
        Grid shape (>= 1 each, at least 2 pads in total).
    pad_fraction : float
        Pad side as a fraction of the smaller pitch ``min(W/cols, H/rows)``, in ``(0, 1)``.
    series_resistance_ohm : float
        Series resistance of each pad in ohms (>= 0).
    """
    w, h = (float(v) for v in size_um)
    rows = check_int("rows", rows, low=1)
    cols = check_int("cols", cols, low=1)
    if rows * cols < 2:
        raise ValidationError(f"rows * cols must be >= 2 electrodes, got {rows} x {cols}")
    frac = check_real("pad_fraction", pad_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    side = frac * min(w / cols, h / rows)
    wide = rows > 10 or cols > 10
    els = []
    for r in range(rows):
        for c in range(cols):
            xc, yc = (c + 0.5) * w / cols, (r + 0.5) * h / rows
            els.append(
                Electrode(
                    _grid_name(r, c, wide),
                    (xc - side / 2, yc - side / 2, xc + side / 2, yc + side / 2),
                    series_resistance_ohm,
                )
            )
    return ElectrodeLayout(tuple(els), name=f"mea{rows}x{cols}")


def pad_grid(
    size_um: tuple[float, float],
    rows: int,
    cols: int,
    *,
    pitch_um: float | None = None,
    pad_um: float | None = None,
    series_resistance_ohm: float = 0.0,
) -> ElectrodeLayout:
    """A ``rows x cols`` grid of square pads on a square pitch, centred in the area.

    Pad ``(r, c)`` (row ``r`` at increasing y, column ``c`` at increasing x) is centred at
    ``(W/2 + (c - (cols - 1)/2) p, H/2 + (r - (rows - 1)/2) p)`` for pitch ``p``, with side ``pad_um``.
    Names are those of :func:`mea_grid`: ``"E{r}{c}"``, or ``"E{r}_{c}"`` when rows or cols exceed 10.
    Bench examples: the 14 x 14 pad grid of Milano et al. (Nature Materials 2022) or a
    16-electrode 4 x 4 array.

    Parameters
    ----------
    size_um : (float, float)
        Area ``(W, H)`` in micrometres (> 0 each).
    rows, cols : int
        Grid shape, in ``[1, 16]`` each, at least 2 pads in total.
    pitch_um : float, optional
        Centre-to-centre distance of neighbouring pads in micrometres (> 0). Default
        ``min(W/cols, H/rows)``, which fills the area along its tighter side as :func:`mea_grid`.
    pad_um : float, optional
        Pad side in micrometres, in ``(0, pitch_um)``. Default ``0.2 * pitch_um``.
    series_resistance_ohm : float
        Series resistance of each pad in ohms (>= 0).

    Returns
    -------
    ElectrodeLayout
        ``rows * cols`` pads in row-major order, named ``"pads{rows}x{cols}"``.

    Raises
    ------
    ValidationError
        A value out of range, pads that would overlap or touch (``pad_um >= pitch_um``), or a
        grid whose extent ``(cols - 1) pitch + pad`` (resp. rows) exceeds the area.
    """
    try:
        w_in, h_in = size_um
    except (TypeError, ValueError):
        raise ValidationError(f"size_um must be a pair (W, H) in micrometres, got {size_um!r}") from None
    w = check_real("size_um[0] (width)", w_in, low=0.0, low_open=True)
    h = check_real("size_um[1] (height)", h_in, low=0.0, low_open=True)
    rows = check_int("rows", rows, low=1, high=_MAX_GRID)
    cols = check_int("cols", cols, low=1, high=_MAX_GRID)
    if rows * cols < 2:
        raise ValidationError(f"rows * cols must be >= 2 electrodes, got {rows} x {cols}")
    pitch = (
        min(w / cols, h / rows)
        if pitch_um is None
        else check_real("pitch_um", pitch_um, low=0.0, low_open=True)
    )
    pad = 0.2 * pitch if pad_um is None else check_real("pad_um", pad_um, low=0.0, low_open=True)
    if pad >= pitch:
        raise ValidationError(
            f"pad_um must be < pitch_um (pads would overlap or touch), got pad_um={pad!r} um and "
            f"pitch_um={pitch!r} um"
        )
    for axis, n, length in (("cols", cols, w), ("rows", rows, h)):
        extent = (n - 1) * pitch + pad
        if extent > length * (1.0 + 1e-12):
            raise ValidationError(
                f"pad grid does not fit: {axis}={n} pads of {pad!r} um on a {pitch!r} um pitch span "
                f"{extent!r} um, more than the area's {'width' if axis == 'cols' else 'height'} "
                f"{length!r} um; use fewer pads, a smaller pitch_um or pad_um, or a larger area"
            )
    xc = w / 2 + (np.arange(cols) - (cols - 1) / 2) * pitch
    yc = h / 2 + (np.arange(rows) - (rows - 1) / 2) * pitch
    # the extent was checked above; clipping only removes rounding at an exactly filled side
    x0, x1 = np.clip(xc - pad / 2, 0.0, w), np.clip(xc + pad / 2, 0.0, w)
    y0, y1 = np.clip(yc - pad / 2, 0.0, h), np.clip(yc + pad / 2, 0.0, h)
    wide = rows > 10 or cols > 10
    els = tuple(
        Electrode(
            _grid_name(r, c, wide),
            (float(x0[c]), float(y0[r]), float(x1[c]), float(y1[r])),
            series_resistance_ohm,
        )
        for r in range(rows)
        for c in range(cols)
    )
    return ElectrodeLayout(els, name=f"pads{rows}x{cols}")


def make_layout(
    electrodes: str | ElectrodeLayout | Sequence[Electrode],
    size_um: tuple[float, float],
    *,
    series_resistance_ohm: float = 0.0,
    pitch_um: float | None = None,
    pad_um: float | None = None,
) -> ElectrodeLayout:
    """Resolve a layout name, an :class:`ElectrodeLayout` or a list of electrodes; check it fits.

    Parameters
    ----------
    electrodes : str, ElectrodeLayout or sequence of Electrode
        ``"two-terminal"``, ``"meaRxC"`` (e.g. ``"mea4x4"``), or explicit electrodes.
    size_um : (float, float)
        Area ``(W, H)`` in micrometres; every electrode must lie inside it.
    series_resistance_ohm : float
        Series resistance applied to every electrode of a named layout (>= 0 ohm).
    pitch_um, pad_um : float, optional
        Pitch and pad side in micrometres of a ``"meaRxC"`` grid. When either is given the grid
        is :func:`pad_grid` (square pitch, centred); when both are None it is :func:`mea_grid`.
        Only for ``"meaRxC"`` names.

    Raises
    ------
    ValidationError
        Unknown layout name, ``pitch_um``/``pad_um`` with another layout, or an electrode outside
        the area.
    """
    if (pitch_um is not None or pad_um is not None) and not (
        isinstance(electrodes, str) and _MEA.match(electrodes)
    ):
        shown = electrodes if isinstance(electrodes, str) else type(electrodes).__name__
        raise ValidationError(
            f"pitch_um and pad_um apply only to 'meaRxC' layouts, got electrodes={shown!r} with "
            f"pitch_um={pitch_um!r}, pad_um={pad_um!r}"
        )
    if isinstance(electrodes, str):
        m = _MEA.match(electrodes)
        if electrodes == "two-terminal":
            layout = two_terminal(size_um, series_resistance_ohm=series_resistance_ohm)
        elif m and (pitch_um is not None or pad_um is not None):
            layout = pad_grid(
                size_um,
                int(m.group(1)),
                int(m.group(2)),
                pitch_um=pitch_um,
                pad_um=pad_um,
                series_resistance_ohm=series_resistance_ohm,
            )
        elif m:
            layout = mea_grid(
                size_um, int(m.group(1)), int(m.group(2)), series_resistance_ohm=series_resistance_ohm
            )
        else:
            raise ValidationError(
                f"electrodes must be 'two-terminal', 'meaRxC' (e.g. 'mea4x4'), an ElectrodeLayout or a "
                f"list of Electrode, got {electrodes!r}"
            )
    elif isinstance(electrodes, ElectrodeLayout):
        layout = electrodes
    elif isinstance(electrodes, Sequence):
        layout = ElectrodeLayout(tuple(electrodes))
    else:
        raise ValidationError(
            f"electrodes must be a layout name, an ElectrodeLayout or a list of Electrode, got "
            f"{type(electrodes).__name__}"
        )
    layout.check_inside(size_um)
    return layout


# --------------------------------------------------------------------------------------- roles

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
