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

:class:`NanowireNetwork`, :class:`Junctions` and :func:`untouched_electrodes` are defined in
``nwphys._nanowire_network`` and re-exported here, where they are imported from.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ._nanowire_network import Junctions, NanowireNetwork, _check_params, untouched_electrodes
from ._validation import check_choice, check_int, check_real
from .electrodes import Electrode, ElectrodeLayout, make_layout
from .errors import BudgetError, ValidationError
from .geometry import LENGTH_DISTRIBUTIONS, _check_size, find_junctions, random_sticks, sample_lengths
from .graph import AG_RESISTIVITY_OHM_M, REPRESENTATIONS, build_circuit, wire_components
from .hdf5 import package_version
from .junctions import JUNCTION_MODELS, JUNCTION_PRESETS, make_junction_model

__all__ = [
    "DEFAULT_JUNCTION_PARAMS",
    "PRESETS",
    "Junctions",
    "NanowireNetwork",
    "estimate_generation",
    "generate",
    "untouched_electrodes",
]

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
    w, h = _check_size(p["size_um"])
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
