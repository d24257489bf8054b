"""Electrode types and wire contacts: closed axis-aligned rectangles and which wires touch them.

The public names are re-exported by :mod:`nwphys.electrodes`, which describes the conventions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._validation import check_real
from .errors import ValidationError

__all__ = ["Electrode", "ElectrodeLayout", "clip_intervals", "electrode_contacts"]


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
