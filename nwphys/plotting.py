"""Figures of a device (wires, junctions, electrodes and their roles) and of a simulated run.

Functions return a :class:`matplotlib.figure.Figure` and write a file only when given ``path``.
No pyplot state is used (figures are created with :class:`~matplotlib.figure.Figure`), so they are
safe in scripts, servers and tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from nwphys._checks import check_choice, check_finite_array
from nwphys._digest import sha256_of
from nwphys.circuit.circuit import Circuit
from nwphys.dynamics.drives import DC, Drive, PiecewiseLinear, Sine, parse_drive
from nwphys.errors import ValidationError
from nwphys.geometry.electrodes import RoleAssignment
from nwphys.geometry.network import NanowireNetwork

__all__ = ["ROLE_COLORS", "circuit_sha256", "plot_network", "plot_run"]

_COLOR_BY = (None, "conductance", "voltage", "current")

#: Face and edge colour of an electrode of each role (:data:`nwphys.geometry.electrodes.ROLES`).
ROLE_COLORS: dict[str, tuple[str, str]] = {
    "input": ("tab:red", "darkred"),
    "output": ("tab:green", "darkgreen"),
    "ground": ("0.55", "0.2"),
    "floating": ("gold", "darkorange"),
}


def plot_network(
    network: NanowireNetwork,
    *,
    color_by: str | None = None,
    values: Any = None,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    roles: RoleAssignment | None = None,
) -> Figure:
    """Draw a device: wires (grey when outside the electrode component), junctions, electrodes.

    A colour bar explains the colours of ``color_by``, and a legend below the axes the wires, the
    junction markers (when not coloured) and the electrodes (by role when ``roles`` is given).

    Parameters
    ----------
    network : NanowireNetwork
    color_by : {None, "conductance", "voltage", "current"}
        ``"conductance"``: junction markers coloured by ``values`` of shape (n_junctions,) in S,
        all > 0, on a logarithmic colour scale (:class:`~matplotlib.colors.LogNorm`); without
        ``values``, by ``network.state`` (dimensionless, linear scale). ``"current"``: junction
        markers coloured by ``abs(values)`` of shape (n_junctions,) in A (log scale when positive
        and spanning more than a factor 100); ``"voltage"``: wires (or wire segments for the
        multi-nodal representation) coloured by the node voltages ``values`` of shape (n_nodes,)
        of the circuit, in V.
    values : array_like, optional
        The quantity to colour by (see above).
    ax : matplotlib Axes, optional
        Draw into this axes (its figure is returned); a new figure otherwise.
    path : str or PathLike, optional
        Save the figure there (format from the suffix).
    title : str, optional
    roles : RoleAssignment, optional
        Electrode roles (e.g. from :func:`nwphys.assign_roles`): each electrode is filled in the
        colour of its role (:data:`ROLE_COLORS`; electrodes with no role float) and labelled with
        its name and role. Without it electrodes are gold and labelled with their names.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValidationError
        Unknown ``color_by``, missing or wrongly shaped ``values``, a conductance <= 0, or
        ``roles`` naming an electrode the network does not have.
    """
    check_choice("color_by", color_by, _COLOR_BY)
    names = tuple(network.electrodes.names)
    if roles is not None:
        if not isinstance(roles, RoleAssignment):
            raise ValidationError(f"roles must be a RoleAssignment or None, got {type(roles).__name__}")
        unknown = [n for n in (*roles.inputs, *roles.outputs, *roles.ground) if n not in names]
        if unknown:
            raise ValidationError(
                f"roles name electrode(s) {', '.join(map(repr, unknown))} the network does not have; "
                f"its electrodes: {', '.join(names)}"
            )
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
            raise ValidationError(
                f"values must have shape {wires.shape} (n_nodes) for color_by='voltage', got {v.shape}"
            )
        norm = Normalize(vmin=float(v.min()), vmax=float(v.max()))
        if network.representation == "junction":
            nodes = np.flatnonzero(wires >= 0)
            lc = LineCollection(
                ends[wires[nodes]], array=v[nodes], cmap="viridis", norm=norm, linewidths=1.0, zorder=2
            )
            # wires merged into an electrode node take the electrode voltage
            contact = _electrode_wires(network)
            lc_e = LineCollection(
                ends[contact >= 0],
                array=v[contact[contact >= 0]],
                cmap="viridis",
                norm=norm,
                linewidths=1.0,
                zorder=2,
            )
            ax.add_collection(lc_e)
        else:
            c = network.circuit()
            xy = network.node_positions_um()
            segs = np.stack([xy[c.fixed_edges[:, 0]], xy[c.fixed_edges[:, 1]]], axis=1)
            lc = LineCollection(
                segs, array=v[c.fixed_edges].mean(axis=1), cmap="viridis", norm=norm, linewidths=1.2, zorder=2
            )
        ax.add_collection(lc)
        fig.colorbar(lc, ax=ax, label="node voltage (V)")
        ax.scatter(jxy[:, 0], jxy[:, 1], s=3, c="k", zorder=3)
    else:
        ax.add_collection(LineCollection(ends[kept], colors="tab:blue", linewidths=0.6, zorder=2))
        if color_by is None:
            ax.scatter(jxy[:, 0], jxy[:, 1], s=3, c="k", zorder=3)
        else:
            default = network.state if color_by == "conductance" else None
            v = _values(
                "values", values, default, f"color_by={color_by!r} needs values of shape (n_junctions,)"
            )
            if v.shape != (network.n_junctions,):
                raise ValidationError(
                    f"values must have shape ({network.n_junctions},) (n_junctions) "
                    f"for color_by={color_by!r}, got {v.shape}"
                )
            norm: Normalize | None = None
            if color_by == "current":
                v = np.abs(v)
                label = "|junction current| (A)"
                if v.size and v.min() > 0 and v.max() > 100 * v.min():
                    norm = LogNorm(vmin=float(v.min()), vmax=float(v.max()))
            elif values is not None:
                if v.size and v.min() <= 0:
                    raise ValidationError(
                        "values must be > 0 for color_by='conductance' (conductances in S, on a log "
                        f"colour scale), got a minimum of {float(v.min())!r}"
                    )
                label = "junction conductance (S)"
                if v.size:
                    norm = LogNorm(vmin=float(v.min()), vmax=float(v.max()))
            else:
                label = "junction state"
            sc = ax.scatter(jxy[:, 0], jxy[:, 1], s=8, c=v, cmap="inferno", norm=norm, zorder=3)
            fig.colorbar(sc, ax=ax, label=label)

    role_of = {n: "floating" for n in names}
    if roles is not None:
        role_of.update({n: roles.role_of(n) for n in names})
    for el in network.electrodes.electrodes:
        x0, y0, x1, y1 = el.rect_um
        face, edge = ROLE_COLORS[role_of[el.name]]
        ax.add_patch(
            Rectangle(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                facecolor=face,
                edgecolor=edge,
                linewidth=2.0,
                alpha=0.7,
                zorder=4,
                gid=f"electrode:{el.name}",
            )
        )
        text = el.name if roles is None else f"{el.name}\n{role_of[el.name]}"
        ax.annotate(text, ((x0 + x1) / 2, (y0 + y1) / 2), ha="center", va="center", fontsize=7, zorder=5)
    _legend(ax, network, kept, color_by, None if roles is None else role_of)
    w, h = geo.size_um
    ax.set_xlim(-0.05 * w, 1.05 * w)
    ax.set_ylim(-0.05 * h, 1.05 * h)
    ax.set_aspect("equal")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.set_title(
        title
        if title is not None
        else f"{geo.n_wires} wires, {network.n_junctions} junctions, {network.n_electrodes} electrodes"
    )
    if path is not None:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return fig


def _legend(
    ax: Axes, network: NanowireNetwork, kept: np.ndarray, color_by: str | None, role_of: dict[str, str] | None
) -> None:
    """Legend below ``ax``: wires, uncoloured junction markers, electrodes (by role when given)."""
    handles: list[Any] = []
    if color_by != "voltage":
        handles.append(Line2D([], [], color="tab:blue", linewidth=1.0, label="wire (electrode component)"))
    if not kept.all():
        handles.append(Line2D([], [], color="0.8", linewidth=1.0, label="wire (not connected)"))
    if color_by in (None, "voltage"):
        handles.append(Line2D([], [], color="k", marker=".", linestyle="none", label="junction"))
    if role_of is None:
        face, edge = ROLE_COLORS["floating"]
        handles.append(Patch(facecolor=face, edgecolor=edge, alpha=0.7, label="electrode"))
    else:
        for role, (face, edge) in ROLE_COLORS.items():
            if role in role_of.values():
                handles.append(Patch(facecolor=face, edgecolor=edge, alpha=0.7, label=f"{role} electrode"))
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=min(3, len(handles)),
        fontsize=7,
        frameon=False,
    )


def circuit_sha256(network_or_circuit: NanowireNetwork | Circuit) -> str:
    """SHA-256 (64 hex digits) of a circuit's exact content, as a run file stores it.

    Equal to ``params["circuit_sha256"]`` of a run file (:func:`nwphys.io.runfile.read_run`) exactly
    when the run was simulated on this circuit (or the circuit of this network).

    Parameters
    ----------
    network_or_circuit : NanowireNetwork or Circuit

    Returns
    -------
    str
    """
    if isinstance(network_or_circuit, Circuit):
        return sha256_of(network_or_circuit)
    if isinstance(network_or_circuit, NanowireNetwork):
        return sha256_of(network_or_circuit.circuit())
    raise ValidationError(
        f"network_or_circuit must be a NanowireNetwork or a Circuit, got {type(network_or_circuit).__name__}"
    )


def plot_run(
    run: Mapping[str, Any],
    *,
    network: NanowireNetwork | None = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    dpi: float = 120.0,
) -> Figure:
    """Figure of a run: conductance, current and voltage versus time, an I-V view, the network.

    Each panel is an axes whose label (``ax.get_label()``) names it:

    ``"conductance"``
        Mean junction conductance in S over the junctions versus time in s, with the 5-95 %
        band, on a log scale.
    ``"current"``
        Current in A of every driven electrode versus time.
    ``"voltage"``
        Recorded voltage in V of every electrode versus time (``run["electrode_voltage_V"]``):
        the drive of the driven electrodes (less the drop over a series resistance), dashed for
        the floating ones.
    ``"iv"``
        Only for a sweep: a drive (parsed from ``params["drive"]``) with one sine or
        piecewise-linear waveform, every other driven electrode constant. Current in A of the
        swept electrode versus its recorded voltage in V.
    ``"network"``
        Only with ``network``: :func:`plot_network` coloured by the junction conductances of the
        last record (log scale), electrodes by role from the drive: a waveform that is not a
        constant 0 V makes an input, 0 V a ground, a floating electrode an output.

    The time panels are stacked in the first column; the network and the I-V view follow as
    columns. A run that is not complete (``run["complete"]`` false) is marked: its title says
    ``INCOMPLETE`` in red and the time after the last record is shaded.

    Parameters
    ----------
    run : mapping
        A run file as :func:`nwphys.io.runfile.read_run` returns it (``t_s``, ``g``,
        ``electrode_current_A``, ``electrode_voltage_V``, ``params``, ``complete``, ...).
    network : NanowireNetwork, optional
        The device of the run, for the network panel; its circuit must be the run's (checked
        against ``params["circuit_sha256"]``).
    path : str or PathLike, optional
        Save the figure there (format from the suffix).
    title : str, optional
        Title of the figure (default: method and drive).
    dpi : float
        Resolution of a raster image written to ``path``, in dots per inch.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValidationError
        If the run holds no records, or ``network`` is not the device of the run (the message
        names both circuit digests).
    """
    from nwphys.junctions import model_from_spec

    params = run["params"]
    t = np.asarray(run["t_s"], dtype=float)
    if t.size == 0:
        raise ValidationError("run holds no records yet; nothing to plot")
    if network is not None:
        have, want = circuit_sha256(network), params.get("circuit_sha256")
        if have != want:
            raise ValidationError(
                f"network is not the device of the run: circuit sha256 {have} (network) != {want} (run)"
            )
    G = model_from_spec(params["junction_model"], params["junction_params"]).conductance_S(run["g"])
    I_A = np.asarray(run["electrode_current_A"], dtype=float)
    V_V = np.asarray(run["electrode_voltage_V"], dtype=float)
    names = list(params["electrode_names"])
    drive = _drive_of(params)
    swept = _swept_electrode(drive)

    extra = [k for k, on in (("network", network is not None), ("iv", swept is not None)) if on]
    fig = Figure(figsize=(6.0 + 5.5 * len(extra), 8.5), layout="constrained")
    axd = fig.subplot_mosaic([[k, *extra] for k in ("conductance", "current", "voltage")])
    ax = axd["conductance"]
    ax.plot(t, G.mean(axis=1), label="mean")
    ax.fill_between(t, np.percentile(G, 5, axis=1), np.percentile(G, 95, axis=1), alpha=0.3, label="5-95 %")
    ax.set_yscale("log")
    ax.set_ylabel("junction conductance (S)")
    ax = axd["current"]
    for i, name in enumerate(names):
        if name in params["driven"]:
            ax.plot(t, I_A[:, i], label=name)
    ax.set_ylabel("electrode current (A)")
    ax = axd["voltage"]
    for i, name in enumerate(names):
        ax.plot(
            t,
            V_V[:, i],
            label=name if name in params["driven"] else f"{name} (floating)",
            linestyle="-" if name in params["driven"] else "--",
        )
    ax.set_ylabel("electrode voltage (V)")
    for key in ("conductance", "current"):
        axd[key].sharex(axd["voltage"])
        axd[key].tick_params(labelbottom=False)
    axd["voltage"].set_xlabel("time (s)")
    if swept is not None:
        k = names.index(swept)
        ax = axd["iv"]
        ax.plot(V_V[:, k], I_A[:, k], color="tab:purple", label=f"{swept} (sweep)")
        ax.plot(V_V[:1, k], I_A[:1, k], "o", color="tab:purple", label="start")
        ax.set_xlabel(f"voltage of {swept} (V)")
        ax.set_ylabel(f"current of {swept} (A)")
        ax.set_title("I-V")
    if network is not None:
        plot_network(
            network,
            color_by="conductance",
            values=G[-1],
            ax=axd["network"],
            title=f"t = {t[-1]:.4g} s",
            roles=_roles_of_drive(drive, names),
        )
    if title is None:
        title = f"{params['method']}, drive {params['drive']}"
    incomplete = not bool(run.get("complete", False))
    if incomplete:
        title = (
            f"INCOMPLETE (status {run.get('status')}, t = {t[-1]:.4g} of "
            f"{params['duration_s']:.4g} s): {title}"
        )
        for key in ("conductance", "current", "voltage"):
            axd[key].axvspan(t[-1], params["duration_s"], color="0.85", zorder=0, label="not simulated")
    for key in ("conductance", "current", "voltage", "iv"):
        if key in axd:
            axd[key].legend(loc="best", fontsize=7)
    fig.suptitle(title, fontsize=9, color="tab:red" if incomplete else "black")
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


def _drive_of(params: Mapping[str, Any]) -> Drive | None:
    """The drive of a run from its spec; None when the spec does not parse (a drive built in
    Python from sampled waveforms is stored by a spec that names them only)."""
    try:
        return parse_drive(str(params["drive"]))
    except (KeyError, ValidationError):
        return None


def _swept_electrode(drive: Drive | None) -> str | None:
    """The electrode a drive sweeps: the only one with a sine or piecewise-linear waveform while
    every other driven electrode is constant; None otherwise."""
    if drive is None:
        return None
    varying = [n for n, w in drive.waveforms.items() if not isinstance(w, DC)]
    if len(varying) == 1 and isinstance(drive.waveforms[varying[0]], (Sine, PiecewiseLinear)):
        return varying[0]
    return None


def _roles_of_drive(drive: Drive | None, names: list[str]) -> RoleAssignment | None:
    """Inputs (a waveform other than 0 V), grounds (0 V) and outputs (floating) of a drive."""
    if drive is None:
        return None
    ground = [n for n, w in drive.waveforms.items() if isinstance(w, DC) and w.value_V == 0.0]
    inputs = [n for n in drive.waveforms if n not in ground]
    return RoleAssignment(tuple(inputs), tuple(n for n in names if n not in drive.waveforms), tuple(ground))


def _electrode_wires(network: NanowireNetwork) -> np.ndarray:
    from nwphys.geometry.electrodes import electrode_contacts

    return electrode_contacts(network.geometry.endpoints_um, network.electrodes)


def _values(name: str, values: Any, default: Any, hint: str) -> np.ndarray:
    if values is None:
        if default is None:
            raise ValidationError(f"{name} is required: {hint}")
        values = default
    return check_finite_array(name, values, ndim=1)
