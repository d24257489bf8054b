"""Checks shared by :func:`~nwphys.simulate` and :class:`~nwphys.dynamics.stepper.Stepper`: arguments
(junction model, state, node indices), physical limits of a drive, budgets of a run, and the
finite-and-positive checks of the values inside the integration loops.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nwphys._checks import check_finite_array, check_int, check_real
from nwphys.circuit.circuit import Circuit
from nwphys.dynamics.drives import DEFAULT_MAX_ABS_V, Drive, parse_drive
from nwphys.dynamics.implicit import DEFAULT_ATOL, DEFAULT_RTOL
from nwphys.errors import BudgetError, IntegrationError, ValidationError
from nwphys.junctions import JunctionModel, make_junction_model, model_from_spec

__all__ = [
    "check_conductance",
    "check_drive_physics",
    "check_nodes",
    "check_record_budget",
    "check_state",
    "check_step_budget",
    "check_time_grid",
    "check_tolerances",
    "first_bad",
    "resolve_circuit",
    "resolve_drive",
    "resolve_model",
]


def resolve_model(model: JunctionModel | str | None, network: Any, n_junctions: int) -> JunctionModel:
    """A junction model from an instance, a registry name or (None) the network's own."""
    if model is None:
        if network is not None:
            return model_from_spec(network.junction_model, network.junction_params)
        model = "rate_balance"
    if isinstance(model, str):
        model = make_junction_model(model)
    if not isinstance(model, JunctionModel):
        raise ValidationError(f"model must be a JunctionModel or a registry name, got {type(model).__name__}")
    model.check_n_junctions(n_junctions)
    return model


def check_state(name: str, g: Any, model: JunctionModel, n: int) -> np.ndarray:
    """Validate a junction state against the model's bounds; returns a copy."""
    arr = check_finite_array(name, g, ndim=1)
    if arr.shape != (n,):
        raise ValidationError(f"{name} must have shape ({n},), got {arr.shape}")
    lo, hi = model.state_bounds
    bad = np.flatnonzero((arr < lo) | (arr > hi))
    if bad.size:
        j = int(bad[0])
        raise ValidationError(
            f"{name} must be in [{lo}, {hi}] for model {model.name!r}, got {float(arr[j])!r} at junction {j}"
        )
    return arr.copy()


def check_nodes(nodes: Any, n_nodes: int) -> np.ndarray | None:
    """Validate node indices (None, ``"all"`` or a 1-D integer array)."""
    if nodes is None:
        return None
    if isinstance(nodes, str):
        if nodes == "all":
            return np.arange(n_nodes)
        raise ValidationError(f"record_nodes must be None, 'all' or node indices, got {nodes!r}")
    arr = np.asarray(nodes)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValidationError(f"node indices must be a 1-D integer array, got {nodes!r}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_nodes):
        raise ValidationError(
            f"node indices must be in [0, {n_nodes - 1}], got range [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.int64)


def first_bad(x: np.ndarray) -> int:
    """Index of the first non-finite entry of ``x`` (which must have one)."""
    return int(np.flatnonzero(~np.isfinite(x))[0])


def check_conductance(G: np.ndarray, t_s: float) -> None:
    """Raise :class:`IntegrationError` naming the time and junction of a conductance (siemens)
    that is not finite and positive."""
    ok = np.isfinite(G) & (G > 0)
    if not ok.all():
        j = int(np.flatnonzero(~ok)[0])
        raise IntegrationError(
            f"junction conductance {float(G[j])!r} S is not finite and positive at t={t_s:.9g} s, "
            f"junction {j}"
        )


def check_drive_physics(drive: Drive, duration_s: float, max_abs_V: Any) -> None:
    """Refuse a drive with no reference or beyond the electrodes' voltage limits."""
    if len(drive.driven) < 2:
        raise ValidationError(
            f"drive {drive.spec!r} drives only electrode {drive.driven[0]!r} and leaves every other one "
            f"floating: no current can flow without a reference; ground another electrode "
            f"(e.g. '...;out=gnd') or drive it"
        )
    if isinstance(max_abs_V, Mapping):
        unknown = sorted(set(max_abs_V) - set(drive.driven) - set(drive.floating))
        limits = {
            n: check_real(f"max_abs_V[{n!r}]", max_abs_V.get(n, DEFAULT_MAX_ABS_V), low=0.0, low_open=True)
            for n in drive.driven
        }
        if unknown:
            raise ValidationError(f"max_abs_V names electrode(s) {unknown} that the drive does not drive")
    else:
        lim = check_real("max_abs_V", max_abs_V, low=0.0, low_open=True)
        limits = dict.fromkeys(drive.driven, lim)
    for name, w in drive.waveforms.items():
        v = float(w.max_abs_V(0.0, duration_s))
        if not v <= limits[name]:
            raise ValidationError(
                f"the drive of electrode {name!r} reaches {v:.4g} V, above its limit max_abs_V="
                f"{limits[name]:g} V; lower the drive or raise max_abs_V (as on a device's electrode)"
            )


def check_record_budget(
    n_rows: int, n_junctions: int, n_electrodes: int, n_probe: int, out_path: Any, memory_limit: Any
) -> None:
    """Refuse a run whose records would not fit in memory or on the output's disk."""
    from nwphys.geometry.network import physical_memory_bytes

    need = 8.0 * n_rows * (1 + n_junctions + 2 * n_electrodes + n_probe)
    limit = (
        physical_memory_bytes() / 2
        if memory_limit is None
        else check_real("memory_limit_bytes", memory_limit, low=0.0, low_open=True)
    )
    if need > limit:
        raise BudgetError(
            f"{n_rows} records of {n_junctions} junctions need {need / 2**30:.3g} GiB in memory, above "
            f"the budget memory_limit_bytes={limit / 2**30:.3g} GiB; record less often (record_every), "
            f"shorten the run or raise the budget"
        )
    if out_path is not None:
        parent = Path(out_path).expanduser().resolve().parent
        if parent.is_dir():
            free = shutil.disk_usage(parent).free
            if 2 * need > 0.9 * free:
                raise BudgetError(
                    f"the run file {str(out_path)!r} and its chunks need about {2 * need / 2**30:.3g} GiB, "
                    f"more than 90 % of the {free / 2**30:.3g} GiB free in {str(parent)!r}; record less "
                    f"often (record_every), shorten the run or free space"
                )


def resolve_circuit(circuit_or_network: Any) -> tuple[Circuit, Any]:
    """The circuit of a :class:`Circuit` or of a network (which is returned too, else None)."""
    if isinstance(circuit_or_network, Circuit):
        return circuit_or_network, None
    if hasattr(circuit_or_network, "circuit"):
        return circuit_or_network.circuit(), circuit_or_network
    raise ValidationError(
        f"circuit_or_network must be a Circuit or a NanowireNetwork, got {type(circuit_or_network).__name__}"
    )


def resolve_drive(drive: Drive | str | Mapping[str, Any], electrode_names: tuple[str, ...]) -> Drive:
    """A :class:`Drive` from a drive, a spec string or a mapping, checked against the electrodes."""
    if isinstance(drive, str):
        drive = parse_drive(drive)
    elif not isinstance(drive, Drive):
        if not isinstance(drive, Mapping):
            raise ValidationError(
                f"drive must be a Drive, a spec string or a mapping, got {type(drive).__name__}"
            )
        drive = Drive(drive)
    drive.check_circuit(electrode_names)
    return drive


def check_time_grid(duration_s: Any, dt_s: Any) -> tuple[float, float, int]:
    """``(duration_s, dt_s, n_steps)`` for a duration that is a whole number of steps (rtol 1e-9)."""
    duration = check_real("duration_s", duration_s, low=0.0, low_open=True)
    dt = check_real("dt_s", dt_s, low=0.0, low_open=True, high=duration)
    n_steps = round(duration / dt)
    if abs(n_steps * dt - duration) > 1e-9 * duration:
        raise ValidationError(
            f"duration_s must be a whole number of steps dt_s, got duration_s={duration_s!r}, "
            f"dt_s={dt_s!r} ({duration / dt:.6g} steps)"
        )
    return duration, dt, n_steps


def check_step_budget(n_steps: int, duration: float, dt: float, max_steps: Any) -> None:
    """Refuse a run of more than ``max_steps`` steps of ``dt`` seconds."""
    budget = check_int("max_steps", max_steps, low=1)
    if n_steps > budget:
        raise BudgetError(
            f"duration_s={duration:g} s at dt_s={dt:g} s is {n_steps:.3g} steps, above the budget "
            f"max_steps={budget}; use a longer dt_s, a shorter duration or raise max_steps"
        )


def check_tolerances(rtol: Any, atol: Any, *, sdirk2: bool) -> tuple[float, float]:
    """Checked ``(rtol, atol)``; None selects the default of ``"sdirk2"`` (``DEFAULT_RTOL``,
    ``DEFAULT_ATOL``) or of solve_ivp (1e-6, 1e-9)."""
    if rtol is None:
        rtol = DEFAULT_RTOL if sdirk2 else 1e-6
    if atol is None:
        atol = DEFAULT_ATOL if sdirk2 else 1e-9
    rtol = check_real("rtol", rtol, low=0.0, low_open=True, high=1.0)
    atol = check_real("atol", atol, low=0.0, low_open=True)
    return rtol, atol
