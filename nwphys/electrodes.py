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

A wire touching two electrodes would short them. :func:`electrode_contacts` raises
:class:`~nwphys.errors.ValidationError` naming the wire and both electrodes in that case (use
smaller pads, shorter wires or another seed) instead of silently choosing one of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._validation import check_int, check_real
from .errors import ValidationError

__all__ = [
    "Electrode",
    "ElectrodeLayout",
    "electrode_contacts",
    "make_layout",
    "mea_grid",
    "two_terminal",
]

_MEA = re.compile(r"^mea(\d+)x(\d+)$")


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
        rs = check_real(f"series_resistance_ohm of electrode {self.name!r}", self.series_resistance_ohm,
                        low=0.0)
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
        (Electrode("in", (0.0, 0.0, sw, h), series_resistance_ohm),
         Electrode("out", (w - sw, 0.0, w, h), series_resistance_ohm)),
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
            name = f"E{r}_{c}" if wide else f"E{r}{c}"
            els.append(Electrode(name, (xc - side / 2, yc - side / 2, xc + side / 2, yc + side / 2),
                                 series_resistance_ohm))
    return ElectrodeLayout(tuple(els), name=f"mea{rows}x{cols}")


def make_layout(
    electrodes: str | ElectrodeLayout | Sequence[Electrode],
    size_um: tuple[float, float],
    *,
    series_resistance_ohm: float = 0.0,
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

    Raises
    ------
    ValidationError
        Unknown layout name or an electrode outside the area.
    """
    if isinstance(electrodes, str):
        m = _MEA.match(electrodes)
        if electrodes == "two-terminal":
            layout = two_terminal(size_um, series_resistance_ohm=series_resistance_ohm)
        elif m:
            layout = mea_grid(size_um, int(m.group(1)), int(m.group(2)),
                              series_resistance_ohm=series_resistance_ohm)
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
