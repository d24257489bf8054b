"""Figures of a device: wires, junctions and electrodes, optionally coloured by a quantity.

Functions return a :class:`matplotlib.figure.Figure` and write a file only when given ``path``.
No pyplot state is used (figures are created with :class:`~matplotlib.figure.Figure`), so they are
safe in scripts, servers and tests.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ._validation import check_choice, check_finite_array
from .errors import ValidationError
from .network import NanowireNetwork

__all__ = ["plot_network"]

_COLOR_BY = (None, "conductance", "voltage", "current")


def plot_network(
    network: NanowireNetwork,
    *,
    color_by: str | None = None,
    values: Any = None,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw a device: wires (grey when outside the electrode component), junctions, electrodes.

    Parameters
    ----------
    network : NanowireNetwork
    color_by : {None, "conductance", "voltage", "current"}
        ``"conductance"``: junction markers coloured by ``values`` of shape (n_junctions,) in S
        (default: ``network.state``, labelled as the state); ``"current"``: junction markers
        coloured by ``abs(values)`` of shape (n_junctions,) in A; ``"voltage"``: wires (or wire
        segments for the multi-nodal representation) coloured by the node voltages ``values`` of
        shape (n_nodes,) of the circuit, in V.
    values : array_like, optional
        The quantity to colour by (see above).
    ax : matplotlib Axes, optional
        Draw into this axes (its figure is returned); a new figure otherwise.
    path : str or PathLike, optional
        Save the figure there (format from the suffix).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValidationError
        Unknown ``color_by``, missing or wrongly shaped ``values``.
    """
    check_choice("color_by", color_by, _COLOR_BY)
    if ax is None:
        fig = Figure(figsize=(6.4, 6.4 * min(2.0, network.geometry.size_um[1] / network.geometry.size_um[0])))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    geo = network.geometry
    ends = geo.endpoints_um
    kept = np.zeros(geo.n_wires, dtype=bool)
    kept[network.junctions.wires.ravel()] = True
    ax.add_collection(LineCollection(ends[~kept], colors="0.8", linewidths=0.5, zorder=1))
    jxy = network.junctions.xy_um

    if color_by == "voltage":
        v = _values("values", values, None, "voltage needs node voltages values of shape (n_nodes,)")
        wires = network.node_wires()
        if v.shape != wires.shape:
            raise ValidationError(f"values must have shape {wires.shape} (n_nodes) for color_by='voltage', "
                                  f"got {v.shape}")
        norm = Normalize(vmin=float(v.min()), vmax=float(v.max()))
        if network.representation == "junction":
            nodes = np.flatnonzero(wires >= 0)
            lc = LineCollection(ends[wires[nodes]], array=v[nodes], cmap="viridis", norm=norm,
                                linewidths=1.0, zorder=2)
            # wires merged into an electrode node take the electrode voltage
            contact = _electrode_wires(network)
            lc_e = LineCollection(ends[contact >= 0], array=v[contact[contact >= 0]], cmap="viridis",
                                  norm=norm, linewidths=1.0, zorder=2)
            ax.add_collection(lc_e)
        else:
            c = network.circuit()
            xy = network.node_positions_um()
            segs = np.stack([xy[c.fixed_edges[:, 0]], xy[c.fixed_edges[:, 1]]], axis=1)
            lc = LineCollection(segs, array=v[c.fixed_edges].mean(axis=1), cmap="viridis", norm=norm,
                                linewidths=1.2, zorder=2)
        ax.add_collection(lc)
        fig.colorbar(lc, ax=ax, label="node voltage (V)")
        ax.scatter(jxy[:, 0], jxy[:, 1], s=3, c="k", zorder=3)
    else:
        ax.add_collection(LineCollection(ends[kept], colors="tab:blue", linewidths=0.6, zorder=2))
        if color_by is None:
            ax.scatter(jxy[:, 0], jxy[:, 1], s=3, c="k", zorder=3)
        else:
            default = network.state if color_by == "conductance" else None
            v = _values("values", values, default,
                        f"color_by={color_by!r} needs values of shape (n_junctions,)")
            if v.shape != (network.n_junctions,):
                raise ValidationError(f"values must have shape ({network.n_junctions},) (n_junctions) "
                                      f"for color_by={color_by!r}, got {v.shape}")
            if color_by == "current":
                v = np.abs(v)
                label = "|junction current| (A)"
            else:
                label = "junction conductance (S)" if values is not None else "junction state"
            norm = (LogNorm(vmin=float(v.min()), vmax=float(v.max()))
                    if v.size and v.min() > 0 and v.max() > 100 * v.min() else None)
            sc = ax.scatter(jxy[:, 0], jxy[:, 1], s=8, c=v, cmap="inferno", norm=norm, zorder=3)
            fig.colorbar(sc, ax=ax, label=label)

    for el in network.electrodes.electrodes:
        x0, y0, x1, y1 = el.rect_um
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="gold", edgecolor="darkorange",
                               linewidth=2.0, alpha=0.7, zorder=4))
        ax.annotate(el.name, ((x0 + x1) / 2, (y0 + y1) / 2), ha="center", va="center", fontsize=7,
                    zorder=5)
    w, h = geo.size_um
    ax.set_xlim(-0.05 * w, 1.05 * w)
    ax.set_ylim(-0.05 * h, 1.05 * h)
    ax.set_aspect("equal")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.set_title(title if title is not None else
                 f"{geo.n_wires} wires, {network.n_junctions} junctions, {network.n_electrodes} electrodes")
    if path is not None:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return fig


def _electrode_wires(network: NanowireNetwork) -> np.ndarray:
    from .electrodes import electrode_contacts

    return electrode_contacts(network.geometry.endpoints_um, network.electrodes)


def _values(name: str, values: Any, default: Any, hint: str) -> np.ndarray:
    if values is None:
        if default is None:
            raise ValidationError(f"{name} is required: {hint}")
        values = default
    return check_finite_array(name, values, ndim=1)
