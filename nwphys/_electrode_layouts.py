"""Named electrode layouts: edge strips, multi-electrode arrays and bench-like pad grids.

The public names are re-exported by :mod:`nwphys.electrodes`, which describes the layouts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ._electrode_geometry import Electrode, ElectrodeLayout
from ._validation import check_int, check_real
from .errors import ValidationError

__all__ = ["make_layout", "mea_grid", "pad_grid", "two_terminal"]

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
