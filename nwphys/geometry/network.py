"""The virtual device object (:class:`NanowireNetwork`) and its generator (:func:`generate`).

A network bundles a random-stick geometry, the junctions that matter electrically, an electrode
layout, a graph representation, the junction model name, its parameters and the junction state.
It is immutable: :meth:`NanowireNetwork.with_state` returns a copy with a new state.

Which junctions are stored
--------------------------
:func:`generate` finds every wire-wire intersection, then keeps only the junctions that become
memristive edges of the circuit: those in the connected component(s) that touch an electrode and
not shorted by an electrode (both wires merged into the same electrode node). Hence
``network.n_junctions == network.circuit().n_junctions`` and ``state[k]`` is the state of circuit
edge ``k``. The total number of intersections is kept in ``metadata["n_junctions_total"]`` and the
wire clusters of the full geometry in ``wire_component``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from nwphys._checks import check_choice, check_finite_array, check_int, check_real
from nwphys.circuit.circuit import Circuit
from nwphys.errors import BudgetError, PercolationError, ValidationError
from nwphys.geometry.electrodes import Electrode, ElectrodeLayout, clip_intervals, make_layout
from nwphys.geometry.graph import (
    AG_RESISTIVITY_OHM_M,
    REPRESENTATIONS,
    STICK_PERCOLATION_NC_L2,
    CircuitBuild,
    build_circuit,
    percolation_ratio,
    wire_components,
    wire_graph,
)
from nwphys.geometry.sticks import (
    LENGTH_DISTRIBUTIONS,
    Geometry,
    check_size,
    find_junctions,
    random_sticks,
    sample_lengths,
)
from nwphys.junctions import JUNCTION_MODELS, JUNCTION_PRESETS, make_junction_model
from nwutil.hdf5 import package_version

__all__ = [
    "DEFAULT_JUNCTION_PARAMS",
    "PRESETS",
    "Junctions",
    "NanowireNetwork",
    "estimate_generation",
    "generate",
    "untouched_electrodes",
]


# ---------------------------------------------------------------------------- the device object
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

        :func:`~nwphys.geometry.network.generate` builds the circuit of the geometry once to find the
        relevant junctions and hands that build to the network it returns, so the first
        :meth:`circuit` call does not repeat the work. The network stays immutable: the build is
        a cache of what :meth:`circuit` would compute.

        Parameters
        ----------
        build : CircuitBuild
            The build of exactly this network's geometry, junctions, electrodes, representation
            and resistivity (:func:`~nwphys.geometry.graph.build_circuit`), with ``junction_kept`` of shape
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
        """The electrical circuit of the device (see :mod:`nwphys.geometry.graph` for the conventions).

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

    def with_junctions(self, junction_model: str, junction_params: Mapping[str, Any]) -> NanowireNetwork:
        """Return a copy with another junction model and parameters, at that model's resting state.

        The copy shares this network's circuit build (the wires, junctions and electrodes are the
        same), so trying many junction parameters on one device (a fit) builds the circuit once.

        Parameters
        ----------
        junction_model : str
            Registry name of the junction model (:data:`nwphys.junctions.JUNCTION_MODELS`).
        junction_params : mapping of str to float
            Its parameters (validated by the model).
        """
        from nwphys.junctions import model_from_spec

        model_from_spec(junction_model, junction_params)  # ValidationError naming a bad parameter
        net = dataclasses.replace(
            self, junction_model=junction_model, junction_params=dict(junction_params), state=None
        )
        net._cache["build"] = self._build()
        return net

    def to_networkx(self) -> nx.Graph:
        """Physical graph: wires and electrodes as nodes, junctions and contacts as edges.

        See :func:`nwphys.geometry.graph.wire_graph` for the node and edge attributes; the graph also has
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


# ---------------------------------------------------------------------------- generation
#: Published device models. Lengths in um, densities in wires/um^2.
#: ``torino``: Milano, Miranda, Ricciardi, Neural Networks 2022 (random-stick model, ~1500 wires).
#: ``sydney``: Hochstetter et al., Nat. Commun. 2021 (gamma lengths, densities 0.06-0.14 um^-2; we
#: pick 100 x 100 um at 0.1 um^-2). The wire diameter (60 nm) is our default, not the papers'.
PRESETS: dict[str, dict[str, Any]] = {
    "torino": {
        "size_um": (500.0, 500.0),
        "density_per_um2": 0.006,
        "length_dist": "normal",
        "length_mean_um": 40.0,
        "length_std_um": 14.0,
        "diameter_nm": 60.0,
    },
    "sydney": {
        "size_um": (100.0, 100.0),
        "density_per_um2": 0.1,
        "length_dist": "gamma",
        "length_mean_um": 10.0,
        "length_std_um": 1.0,
        "diameter_nm": 60.0,
    },
}

#: Default parameters of the junction models when ``junction_params`` is not given. The
#: ``rate_balance`` values are the NW-ESN preset (a copy of ``JUNCTION_PRESETS["nwesn"]`` of
#: :mod:`nwphys.junctions`); other models use their own defaults (empty dict).
DEFAULT_JUNCTION_PARAMS: dict[str, dict[str, float]] = {
    "rate_balance": dict(JUNCTION_PRESETS["nwesn"][1]),
    "filament_gap": {},
}

#: Peak memory of :func:`generate` per junction found and per wire, in bytes (about 820 B per
#: junction measured with tracemalloc at 5k and 20k wires, junction representation; with margin).
GENERATE_BYTES_PER_JUNCTION = 1000
GENERATE_BYTES_PER_WIRE = 1000
#: Expected junction count above which :func:`generate` reports progress (about 1 s of work).
PROGRESS_JUNCTIONS = 1e5


def physical_memory_bytes() -> int:
    """Physical memory of this machine in bytes (8 GiB when the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # pragma: no cover - non-POSIX
        return 8 * 2**30


def estimate_generation(
    n_wires: int,
    size_um: tuple[float, float],
    length_mean_um: float,
    representation: str = "junction",
) -> dict[str, float]:
    """Expected junction count and peak memory of :func:`generate`, before it runs.

    Two isotropic sticks of lengths ``L1, L2`` with centres uniform in an area ``A`` cross with
    probability ``2 L1 L2 / (pi A)`` (boundary effects neglected, an overestimate), so the expected
    number of junctions is ``n (n - 1) L^2 / (pi A)`` for independent lengths of mean ``L``
    (an upper bound: within 3 % of the count found on 140 um for 5k wires, 8 % on 60 um for 2k).

    Parameters
    ----------
    n_wires : int
    size_um : (float, float)
        Area in micrometres.
    length_mean_um : float
        Mean wire length in micrometres.
    representation : {"junction", "multinodal"}
        The multi-nodal graph holds about twice the nodes; its memory estimate is doubled.

    Returns
    -------
    dict
        ``n_junctions`` (expected count) and ``memory_bytes`` (peak, estimated).
    """
    area = float(size_um[0]) * float(size_um[1])
    n = float(n_wires)
    n_j = n * (n - 1.0) * float(length_mean_um) ** 2 / (math.pi * area)
    factor = 2.0 if representation == "multinodal" else 1.0
    mem = factor * (n_j * GENERATE_BYTES_PER_JUNCTION + n * GENERATE_BYTES_PER_WIRE)
    return {"n_junctions": n_j, "memory_bytes": mem}


_DEFAULTS: dict[str, Any] = {
    "size_um": (100.0, 100.0),
    "length_dist": "normal",
    "length_mean_um": 10.0,
    "length_std_um": 1.0,
    "diameter_nm": 60.0,
    "electrodes": "two-terminal",
    "representation": "junction",
    "junction_model": "rate_balance",
    "series_resistance_ohm": 0.0,
    "resistivity_ohm_m": AG_RESISTIVITY_OHM_M,
}


def _known_models() -> tuple[str, ...]:
    return tuple(JUNCTION_MODELS)


def generate(
    preset: str | None = None,
    *,
    n_wires: int | None = None,
    density_per_um2: float | None = None,
    size_um: tuple[float, float] | None = None,
    length_dist: str | None = None,
    length_mean_um: float | None = None,
    length_std_um: float | None = None,
    diameter_nm: float | None = None,
    electrodes: str | ElectrodeLayout | Sequence[Electrode] | None = None,
    representation: str | None = None,
    junction_model: str | None = None,
    junction_params: Mapping[str, float] | None = None,
    series_resistance_ohm: float | None = None,
    resistivity_ohm_m: float | None = None,
    seed: int | np.random.Generator | None = None,
    memory_limit_bytes: float | None = None,
    progress: Callable[[str], None] | None = None,
    dry_run: bool = False,
) -> NanowireNetwork | None:
    """Generate a virtual nanowire device.

    Every argument left as None takes the preset's value, else the default: ``size_um=(100, 100)``,
    ``length_dist="normal"``, ``length_mean_um=10``, ``length_std_um=1``, ``diameter_nm=60``,
    ``electrodes="two-terminal"``, ``representation="junction"``, ``junction_model="rate_balance"``
    (NW-ESN parameters), ``series_resistance_ohm=0``, ``resistivity_ohm_m=1.6e-8`` (bulk Ag).

    Parameters
    ----------
    preset : {"torino", "sydney"} or None
        Published device model, see :data:`PRESETS`.
    n_wires : int
        Number of wires (>= 1). Exclusive with ``density_per_um2`` (an explicit ``n_wires``
        overrides a preset's density).
    density_per_um2 : float
        Wire number density in wires per square micrometre (> 0); the count is
        ``round(density * W * H)``.
    size_um : (float, float)
        Area ``(W, H)`` in micrometres (> 0).
    length_dist : {"normal", "gamma", "fixed"}
    length_mean_um, length_std_um : float
        Wire length mean (> 0) and standard deviation (>= 0) in micrometres.
    diameter_nm : float
        Wire diameter in nanometres (> 0).
    electrodes : str, ElectrodeLayout or list of Electrode
        ``"two-terminal"``, ``"meaRxC"`` (e.g. ``"mea4x4"``) or explicit electrodes inside the area.
    representation : {"junction", "multinodal"}
    junction_model : str
        ``"rate_balance"`` or ``"filament_gap"`` (or any registered model).
    junction_params : dict of str to float, optional
        Model parameters (default: :data:`DEFAULT_JUNCTION_PARAMS` of the model).
    series_resistance_ohm : float
        Series resistance of every electrode of a named layout in ohms (>= 0).
    resistivity_ohm_m : float
        Wire resistivity in ohm metres for the multi-nodal representation (> 0).
    seed : int, Generator or None
        Random source. With None a fresh seed is drawn and recorded in ``metadata["seed"]``, so
        the device can always be regenerated (except from a Generator).
    memory_limit_bytes : float, optional
        Budget for the estimated peak memory (:func:`estimate_generation`), checked before any
        work; default half of the machine's physical memory.
    progress : callable, optional
        Called with a one-line message before each stage (sticks, junctions, circuit) when more
        than :data:`PROGRESS_JUNCTIONS` junctions are expected (about a second of work).
    dry_run : bool
        Check every parameter, the junction parameters against the model and the memory budget,
        then return None without drawing anything (a command checks its arguments this way
        before it looks at its output).

    Returns
    -------
    NanowireNetwork or None
        None for ``dry_run``; else with ``state=None`` (the model's resting state). A device
        whose electrodes are not connected is returned (``connected`` is False); its
        :meth:`~NanowireNetwork.circuit` raises :class:`PercolationError`.

    Raises
    ------
    ValidationError
        A parameter is out of range (the message names it), an electrode lies outside the area,
        or a wire touches two electrodes.
    BudgetError
        The estimated peak memory exceeds ``memory_limit_bytes``.
    """
    if preset is not None:
        check_choice("preset", preset, PRESETS)
    given = {
        k: v
        for k, v in {
            "size_um": size_um,
            "length_dist": length_dist,
            "length_mean_um": length_mean_um,
            "length_std_um": length_std_um,
            "diameter_nm": diameter_nm,
            "electrodes": electrodes,
            "representation": representation,
            "junction_model": junction_model,
            "series_resistance_ohm": series_resistance_ohm,
            "resistivity_ohm_m": resistivity_ohm_m,
        }.items()
        if v is not None
    }
    if n_wires is not None and density_per_um2 is not None:
        raise ValidationError(
            f"give n_wires or density_per_um2, not both (got n_wires={n_wires!r}, "
            f"density_per_um2={density_per_um2!r})"
        )
    p: dict[str, Any] = {**_DEFAULTS, **(PRESETS[preset] if preset else {}), **given}
    if n_wires is not None:
        p.pop("density_per_um2", None)
        p["n_wires"] = check_int("n_wires", n_wires, low=1)
    elif density_per_um2 is not None:
        p["density_per_um2"] = density_per_um2
    w, h = check_size(p["size_um"])
    if "n_wires" not in p:
        if "density_per_um2" not in p:
            raise ValidationError("give n_wires or density_per_um2 (or a preset), got neither")
        dens = check_real("density_per_um2", p["density_per_um2"], low=0.0, low_open=True)
        n = round(dens * w * h)
        if n < 1:
            raise ValidationError(
                f"density_per_um2 must give at least 1 wire in {w!r} x {h!r} um, got {dens!r} "
                f"({dens * w * h:.3g} wires)"
            )
        p["n_wires"] = n
    check_choice("length_dist", p["length_dist"], LENGTH_DISTRIBUTIONS)
    check_choice("representation", p["representation"], REPRESENTATIONS)
    model = check_choice("junction_model", p["junction_model"], _known_models())
    params = _check_params(
        junction_params if junction_params is not None else DEFAULT_JUNCTION_PARAMS.get(model, {})
    )
    rs = check_real("series_resistance_ohm", p["series_resistance_ohm"], low=0.0)
    layout = make_layout(p["electrodes"], (w, h), series_resistance_ohm=rs)

    est = estimate_generation(
        p["n_wires"],
        (w, h),
        check_real("length_mean_um", p["length_mean_um"], low=0.0, low_open=True),
        p["representation"],
    )
    limit = (
        physical_memory_bytes() / 2
        if memory_limit_bytes is None
        else check_real("memory_limit_bytes", memory_limit_bytes, low=0.0, low_open=True)
    )
    if est["memory_bytes"] > limit:
        raise BudgetError(
            f"generating {p['n_wires']} wires on {w:g} x {h:g} um needs about {est['n_junctions']:.3g} "
            f"junctions and {est['memory_bytes'] / 2**30:.3g} GiB, above the budget of "
            f"{limit / 2**30:.3g} GiB (memory_limit_bytes); use fewer wires or a larger area, or "
            f"raise memory_limit_bytes"
        )
    if dry_run:
        if seed is not None and not isinstance(seed, np.random.Generator):
            check_int("seed", seed, low=0)
        sample_lengths(0, p["length_dist"], p["length_mean_um"], p["length_std_um"], seed=0)
        check_real("diameter_nm", p["diameter_nm"], low=0.0, low_open=True)
        make_junction_model(model, **params)
        return None
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    seed_rec = None if isinstance(seed, np.random.Generator) else check_int("seed", seed, low=0)
    if est["n_junctions"] <= PROGRESS_JUNCTIONS:
        progress = None
    if progress is not None:
        progress(f"depositing {p['n_wires']} wires (about {est['n_junctions']:.3g} junctions expected)")
    geometry = random_sticks(
        p["n_wires"],
        (w, h),
        length_dist=p["length_dist"],
        length_mean_um=p["length_mean_um"],
        length_std_um=p["length_std_um"],
        diameter_nm=p["diameter_nm"],
        seed=seed,
    )
    if progress is not None:
        progress("finding junctions")
    jw, jxy = find_junctions(geometry)
    if progress is not None:
        progress(f"building the {p['representation']} circuit of {jw.shape[0]} junctions")
    build = build_circuit(
        geometry,
        jw,
        jxy,
        layout,
        representation=p["representation"],
        resistivity_ohm_m=p["resistivity_ohm_m"],
    )
    keep = build.junction_kept
    labels, _ = wire_components(geometry.n_wires, jw)
    creation = {
        "preset": preset,
        "n_wires": int(p["n_wires"]),
        "density_per_um2": None if "density_per_um2" not in p else float(p["density_per_um2"]),
        "size_um": [w, h],
        "length_dist": p["length_dist"],
        "length_mean_um": float(p["length_mean_um"]),
        "length_std_um": float(p["length_std_um"]),
        "diameter_nm": float(p["diameter_nm"]),
        "electrodes": layout.name,
        "representation": p["representation"],
        "junction_model": model,
        "series_resistance_ohm": rs,
        "resistivity_ohm_m": float(p["resistivity_ohm_m"]),
    }
    metadata = {
        "creation_params": creation,
        "seed": seed_rec,
        "package_version": package_version(),
        "numpy_version": np.__version__,
        "n_junctions_total": int(jw.shape[0]),
        "connected": build.connected,
    }
    net = NanowireNetwork(
        geometry=geometry,
        junctions=Junctions(jw[keep], jxy[keep]),
        electrodes=layout,
        representation=p["representation"],
        junction_model=model,
        junction_params=params,
        state=None,
        metadata=metadata,
        resistivity_ohm_m=p["resistivity_ohm_m"],
        wire_component=labels,
    )
    net.reuse_circuit_build(dataclasses.replace(build, junction_kept=np.ones(int(keep.sum()), dtype=bool)))
    return net
