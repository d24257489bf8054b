"""The device object :class:`NanowireNetwork`, its :class:`Junctions` and electrode diagnostics.

The public names are re-exported by :mod:`nwphys.network`, which describes which junctions a
network stores and how :func:`~nwphys.network.generate` creates one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from ._validation import check_choice, check_finite_array, check_real
from .circuit import Circuit
from .electrodes import ElectrodeLayout, clip_intervals
from .errors import PercolationError, ValidationError
from .geometry import Geometry
from .graph import (
    AG_RESISTIVITY_OHM_M,
    REPRESENTATIONS,
    STICK_PERCOLATION_NC_L2,
    CircuitBuild,
    build_circuit,
    percolation_ratio,
    wire_components,
    wire_graph,
)

__all__ = ["Junctions", "NanowireNetwork", "untouched_electrodes"]


@dataclass(frozen=True, eq=False)
class Junctions:
    """Junction wire pairs and positions.

    Parameters
    ----------
    wires : ndarray of int64, shape (n_junctions, 2)
        Wire indices of each junction.
    xy_um : ndarray of float, shape (n_junctions, 2)
        Junction positions in micrometres.
    """

    wires: np.ndarray
    xy_um: np.ndarray

    def __post_init__(self) -> None:
        w = np.asarray(self.wires, dtype=np.int64).reshape(-1, 2)
        xy = check_finite_array("junction xy_um", np.asarray(self.xy_um, dtype=float).reshape(-1, 2))
        if w.shape != xy.shape:
            raise ValidationError(
                f"junction wires and xy_um must have the same shape, got {w.shape}, {xy.shape}"
            )
        object.__setattr__(self, "wires", w)
        object.__setattr__(self, "xy_um", xy)

    def __len__(self) -> int:
        return int(self.wires.shape[0])


def _check_params(params: Mapping[str, Any] | None) -> dict[str, float]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ValidationError(f"junction_params must be a dict of name -> float, got {type(params).__name__}")
    out = {}
    for k, v in params.items():
        if not isinstance(k, str) or not k:
            raise ValidationError(f"junction_params keys must be non-empty strings, got {k!r}")
        out[k] = check_real(f"junction_params[{k!r}]", v)
    return out


@dataclass(frozen=True, eq=False)
class NanowireNetwork:
    """A virtual Ag nanowire device.

    Parameters
    ----------
    geometry : Geometry
        All deposited wires (including those in clusters that touch no electrode).
    junctions : Junctions
        The electrically relevant junctions (see the module docstring), in circuit edge order.
    electrodes : ElectrodeLayout
    representation : {"junction", "multinodal"}
        Graph representation used by :meth:`circuit`.
    junction_model : str
        Name of the junction model (registry of :mod:`nwphys.junctions`).
    junction_params : dict of str to float
        Parameters of the junction model.
    state : ndarray of float, shape (n_junctions,), or None
        Junction state (None = the model's resting state).
    metadata : dict
        Creation parameters, seed, versions; JSON-compatible values.
    resistivity_ohm_m : float
        Wire resistivity for the multi-nodal representation (> 0).
    wire_component : ndarray of int, shape (n_wires,), or None
        Cluster of each wire in the full geometry (0 = largest); computed from ``junctions``
        when None.
    """

    geometry: Geometry
    junctions: Junctions
    electrodes: ElectrodeLayout
    representation: str = "junction"
    junction_model: str = "rate_balance"
    junction_params: dict[str, float] = field(default_factory=dict)
    state: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    resistivity_ohm_m: float = AG_RESISTIVITY_OHM_M
    wire_component: np.ndarray | None = None
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        check_choice("representation", self.representation, REPRESENTATIONS)
        if not isinstance(self.junction_model, str) or not self.junction_model:
            raise ValidationError(f"junction_model must be a non-empty string, got {self.junction_model!r}")
        object.__setattr__(self, "junction_params", _check_params(self.junction_params))
        object.__setattr__(
            self,
            "resistivity_ohm_m",
            check_real("resistivity_ohm_m", self.resistivity_ohm_m, low=0.0, low_open=True),
        )
        jw = self.junctions.wires
        if jw.size and (jw.min() < 0 or jw.max() >= self.geometry.n_wires):
            raise ValidationError(f"junction wires must index wires in [0, {self.geometry.n_wires - 1}]")
        self.electrodes.check_inside(self.geometry.size_um)
        if self.state is not None:
            object.__setattr__(self, "state", self._check_state(self.state))
        if self.wire_component is None:
            object.__setattr__(self, "wire_component", wire_components(self.geometry.n_wires, jw)[0])
        else:
            wc = np.asarray(self.wire_component, dtype=np.int64)
            if wc.shape != (self.geometry.n_wires,):
                raise ValidationError(
                    f"wire_component must have shape ({self.geometry.n_wires},), got {wc.shape}"
                )
            object.__setattr__(self, "wire_component", wc)
        object.__setattr__(self, "metadata", dict(self.metadata))

    def _check_state(self, g: Any) -> np.ndarray:
        arr = check_finite_array("state", g, ndim=1)
        if arr.shape != (self.n_junctions,):
            raise ValidationError(
                f"state must have shape ({self.n_junctions},) (n_junctions), got {arr.shape}"
            )
        return arr.copy()

    # -- sizes -------------------------------------------------------------------------------
    @property
    def n_wires(self) -> int:
        """Number of deposited wires."""
        return self.geometry.n_wires

    @property
    def n_junctions(self) -> int:
        """Number of electrically relevant junctions (= circuit edges)."""
        return len(self.junctions)

    @property
    def n_electrodes(self) -> int:
        """Number of electrodes."""
        return len(self.electrodes)

    @property
    def n_components(self) -> int:
        """Number of wire clusters of the full geometry (isolated wires count)."""
        return int(self.wire_component.max()) + 1 if self.n_wires else 0

    @property
    def component_sizes(self) -> np.ndarray:
        """Wires per cluster, decreasing, shape (n_components,)."""
        return np.bincount(self.wire_component)

    @property
    def density_per_um2(self) -> float:
        """Wire number density in wires per square micrometre."""
        return self.geometry.density_per_um2

    @property
    def percolation_ratio(self) -> float:
        """Density relative to the stick percolation threshold, ``n <L^2> / 5.63726``."""
        return percolation_ratio(self.density_per_um2, float(np.mean(self.geometry.lengths_um**2)))

    @property
    def connected(self) -> bool:
        """Whether every electrode is connected to every other through the network."""
        return self._build().connected

    # -- circuit -----------------------------------------------------------------------------
    def _build(self) -> CircuitBuild:
        """The circuit build of this network, computed on first use and kept."""
        if "build" not in self._cache:
            self._cache["build"] = build_circuit(
                self.geometry,
                self.junctions.wires,
                self.junctions.xy_um,
                self.electrodes,
                representation=self.representation,
                resistivity_ohm_m=self.resistivity_ohm_m,
            )
        return self._cache["build"]

    def reuse_circuit_build(self, build: CircuitBuild) -> None:
        """Keep an already computed circuit build of this network instead of building it again.

        :func:`~nwphys.network.generate` builds the circuit of the geometry once to find the
        relevant junctions and hands that build to the network it returns, so the first
        :meth:`circuit` call does not repeat the work. The network stays immutable: the build is
        a cache of what :meth:`circuit` would compute.

        Parameters
        ----------
        build : CircuitBuild
            The build of exactly this network's geometry, junctions, electrodes, representation
            and resistivity (:func:`~nwphys.graph.build_circuit`), with ``junction_kept`` of shape
            (n_junctions,) and all True.

        Raises
        ------
        ValidationError
            ``build`` does not match the network's junctions or electrodes, or the network already
            holds a circuit build.
        """
        if not isinstance(build, CircuitBuild):
            raise ValidationError(f"build must be a CircuitBuild, got {type(build).__name__}")
        kept = np.asarray(build.junction_kept)
        if (
            kept.shape != (self.n_junctions,)
            or not np.all(kept)
            or build.circuit.n_junctions != self.n_junctions
        ):
            raise ValidationError(
                f"build must keep all {self.n_junctions} junctions of the network as circuit edges, "
                f"got junction_kept of shape {kept.shape} with {int(np.count_nonzero(kept))} kept and "
                f"a circuit of {build.circuit.n_junctions} junctions"
            )
        if tuple(build.circuit.electrode_names) != self.electrodes.names:
            raise ValidationError(
                f"build electrodes {tuple(build.circuit.electrode_names)!r} must be the network's "
                f"{self.electrodes.names!r}"
            )
        if "build" in self._cache:
            raise ValidationError("the network already holds a circuit build; it is never replaced")
        self._cache["build"] = build

    def circuit(self) -> Circuit:
        """The electrical circuit of the device (see :mod:`nwphys.graph` for the conventions).

        Circuit edge ``k`` is junction ``k`` of the network.

        Raises
        ------
        PercolationError
            The electrodes are not all connected (density below percolation, or an electrode
            touching no wire; the message names such electrodes first, see
            :func:`untouched_electrodes`).
        ValidationError
            The network holds junctions that cannot be circuit edges (build it with
            :func:`generate`, which keeps only the relevant junctions).
        """
        b = self._build()
        if not b.connected:
            lonely = untouched_electrodes(self)
            groups: dict[int, list[str]] = {}
            for name, comp in zip(self.electrodes.names, b.electrode_component.tolist(), strict=True):
                groups.setdefault(comp, []).append(name)
            desc = " | ".join("{" + ", ".join(v) + "}" for v in groups.values())
            l2 = float(np.mean(self.geometry.lengths_um**2))
            raise PercolationError(
                f"{_untouched_text(self.electrodes, lonely)}"
                f"electrodes are not all connected through the network (connected groups: {desc}); "
                f"wire density {self.density_per_um2:.4g} um^-2 is {self.percolation_ratio:.3g} x the "
                f"stick percolation threshold n_c = {STICK_PERCOLATION_NC_L2}/<L^2> = "
                f"{STICK_PERCOLATION_NC_L2 / l2:.4g} um^-2; raise the density or the wire length"
            )
        if not np.all(b.junction_kept):
            raise ValidationError(
                f"junctions: {int((~b.junction_kept).sum())} of {self.n_junctions} junctions are not "
                f"circuit edges (outside the electrode component or shorted by an electrode)"
            )
        return b.circuit

    def node_positions_um(self) -> np.ndarray:
        """Position of each circuit node in micrometres, shape (n_nodes, 2) (see :class:`CircuitBuild`)."""
        return self._build().node_xy_um

    def node_wires(self) -> np.ndarray:
        """Wire of each circuit node, shape (n_nodes,) (-1 for electrode nodes)."""
        return self._build().node_wire

    def with_state(self, g: Any) -> NanowireNetwork:
        """Return a copy with junction state ``g`` of shape (n_junctions,) (finite).

        ``g=None`` returns a copy without a stored state (the model's resting state).
        """
        return dataclasses.replace(self, state=None if g is None else self._check_state(g))

    def to_networkx(self) -> nx.Graph:
        """Physical graph: wires and electrodes as nodes, junctions and contacts as edges.

        See :func:`nwphys.graph.wire_graph` for the node and edge attributes; the graph also has
        ``graph["representation"]``, ``graph["junction_model"]`` and ``graph["junction_params"]``.
        """
        g = wire_graph(
            self.geometry, self.junctions.wires, self.junctions.xy_um, self.electrodes, state=self.state
        )
        g.graph.update(
            representation=self.representation,
            junction_model=self.junction_model,
            junction_params=dict(self.junction_params),
            size_um=self.geometry.size_um,
        )
        for i, comp in enumerate(self.wire_component.tolist()):
            g.nodes[i]["component"] = comp
        return g

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NanowireNetwork):
            return NotImplemented
        same_state = (self.state is None and other.state is None) or (
            self.state is not None and other.state is not None and np.array_equal(self.state, other.state)
        )
        return (
            self.geometry == other.geometry
            and np.array_equal(self.junctions.wires, other.junctions.wires)
            and np.array_equal(self.junctions.xy_um, other.junctions.xy_um)
            and self.electrodes == other.electrodes
            and self.representation == other.representation
            and self.junction_model == other.junction_model
            and self.junction_params == other.junction_params
            and same_state
            and self.metadata == other.metadata
            and self.resistivity_ohm_m == other.resistivity_ohm_m
            and np.array_equal(self.wire_component, other.wire_component)
        )

    __hash__ = None  # type: ignore[assignment]


def untouched_electrodes(network: NanowireNetwork) -> tuple[str, ...]:
    """Electrodes that no wire segment of the network touches (closed rectangles), in layout order.

    Such an electrode is disconnected whatever the density elsewhere; enlarge the pads, raise the
    density or use another seed.

    Parameters
    ----------
    network : NanowireNetwork

    Returns
    -------
    tuple of str
    """
    touch, _, _ = clip_intervals(network.geometry.endpoints_um, network.electrodes.rects_um)
    hit = touch.any(axis=0)
    return tuple(n for n, h in zip(network.electrodes.names, hit.tolist(), strict=True) if not h)


def _untouched_text(layout: ElectrodeLayout, names: tuple[str, ...]) -> str:
    """Leading sentence of the percolation error for electrodes touching no wire ('' if none)."""
    if not names:
        return ""
    rects = {e.name: e.rect_um for e in layout.electrodes}
    dims = [(f"{r[2] - r[0]:.3g}", f"{r[3] - r[1]:.3g}") for r in (rects[n] for n in names)]
    sizes = list(dict.fromkeys(dims))
    if all(w == h for w, h in sizes):
        size = f"pad side {', '.join(w for w, _ in sizes)} um"
    else:
        size = "pad size " + ", ".join(f"{w} x {h} um" for w, h in sizes)
    return (
        f"electrode(s) {', '.join(repr(n) for n in names)} touch no wire ({size}; enlarge the "
        f"pads, raise the density or use another seed); "
    )
