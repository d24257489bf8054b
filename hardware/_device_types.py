"""The records a :class:`~hardware.Device` takes and returns: electrode channels, readings, measurements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from hardware._checks import check_choice, check_real
from hardware.errors import HardwareValidationError
from nwutil.vocabulary import ROLES

__all__ = ["ElectrodeChannel", "Measurement", "Readings"]


@dataclass(frozen=True)
class ElectrodeChannel:
    """One named electrode of a :class:`~hardware.Device`: its role and its limits.

    Not to be confused with :class:`nwphys.geometry.electrodes.Electrode` (the geometry of a pad): an
    ``ElectrodeChannel`` is the instrument-side view, the source or voltmeter behind a pad.

    Parameters
    ----------
    name : str
        Unique electrode name (non-empty, no comma, colon or whitespace: it travels in SCPI).
    role : {"input", "output", "ground", "floating"}
        See the module conventions.
    max_abs_V : float
        Largest allowed ``|V|`` on this electrode in volts (> 0). Requests beyond it raise.
    compliance_A : float
        Current compliance in amperes (> 0); readings at or beyond it are flagged.
    """

    name: str
    role: str
    max_abs_V: float = 10.0
    compliance_A: float = 0.1

    def __post_init__(self) -> None:
        name = str(self.name)
        if not name or any(c in name for c in ",: \t\n;\"'"):
            raise HardwareValidationError(
                "ElectrodeChannel name must be non-empty without comma, colon, quote or whitespace, "
                f"got {name!r}")
        check_choice("role", self.role, ROLES)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "max_abs_V", check_real("max_abs_V", self.max_abs_V, low=0.0, low_open=True))
        object.__setattr__(self, "compliance_A",
                           check_real("compliance_A", self.compliance_A, low=0.0, low_open=True))


class Readings(NamedTuple):
    """What a backend hook returns (the base class adds time stamps and metadata).

    Attributes
    ----------
    input_V : ndarray, shape (n_steps, n_inputs)
        Voltages actually applied to the input electrodes (after source settling).
    output_V : ndarray, shape (n_steps, n_outputs)
    input_current_A : ndarray, shape (n_steps, n_inputs)
    ground_current_A : ndarray, shape (n_steps, n_ground)
    compliance : ndarray of bool, shape (n_steps, n_inputs) or None
        Instrument compliance bits; None lets the base class flag ``|I| >= compliance_A``.
    node_voltage_V : ndarray, shape (n_steps, n_probe) or None
    t_s : ndarray, shape (n_steps,) or None
        Instrument time stamps; None lets the base class use the device clock.
    ground_compliance : ndarray of bool, shape (n_steps, n_ground) or None
        Compliance bits of the ground sources; the base class also flags ``|I| >= compliance_A``.
    """

    input_V: np.ndarray
    output_V: np.ndarray
    input_current_A: np.ndarray
    ground_current_A: np.ndarray
    compliance: np.ndarray | None = None
    node_voltage_V: np.ndarray | None = None
    t_s: np.ndarray | None = None
    ground_compliance: np.ndarray | None = None


@dataclass(frozen=True)
class Measurement:
    """Readings of a sequence of steps (frozen; arrays are read-only).

    Attributes
    ----------
    t_s : ndarray, shape (n_steps,)
        Start time of each step on the device clock in seconds (the reading of a simulated or
        emulated device is taken at ``t_s + dt_s``, the end of the step's hold).
    input_V : ndarray, shape (n_steps, n_inputs)
        Voltages applied to the input electrodes.
    output_V : ndarray, shape (n_steps, n_outputs)
        Voltages of the output (floating, read) electrodes.
    input_current_A : ndarray, shape (n_steps, n_inputs)
        Currents from the input sources into the network.
    ground_current_A : ndarray, shape (n_steps, n_ground)
        Currents from the ground sources into the network (negative when current sinks to ground).
    compliance : ndarray of bool, shape (n_steps, n_inputs)
        True where a reading was at the input electrode's current compliance.
    node_voltage_V : ndarray, shape (n_steps, n_probe) or None
        Internal node voltages (simulation only).
    ground_compliance : ndarray of bool, shape (n_steps, n_ground) or None
        True where a ground source was at its current compliance (so it no longer held its
        electrode at 0 V). Every :class:`~hardware.Device` fills it; None only in measurements
        read from files written before it was recorded.
    metadata : dict
        Electrode names, ``dt_s`` and provenance.
    """

    t_s: np.ndarray
    input_V: np.ndarray
    output_V: np.ndarray
    input_current_A: np.ndarray
    ground_current_A: np.ndarray
    compliance: np.ndarray
    node_voltage_V: np.ndarray | None = None
    ground_compliance: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = np.array(self.t_s, dtype=float).reshape(-1)
        n = t.size
        arrays: dict[str, np.ndarray] = {"t_s": t}
        for name in ("input_V", "output_V", "input_current_A", "ground_current_A"):
            a = np.array(getattr(self, name), dtype=float)
            if a.ndim != 2 or a.shape[0] != n:
                raise HardwareValidationError(f"{name} must have shape ({n}, k), got {a.shape}")
            arrays[name] = a
        comp = np.array(self.compliance, dtype=bool)
        if comp.shape != arrays["input_V"].shape:
            raise HardwareValidationError(
                f"compliance must have shape {arrays['input_V'].shape}, got {comp.shape}")
        arrays["compliance"] = comp
        if arrays["input_current_A"].shape != arrays["input_V"].shape:
            raise HardwareValidationError(
                f"input_current_A must have shape {arrays['input_V'].shape}, "
                f"got {arrays['input_current_A'].shape}")
        if self.ground_compliance is not None:
            gc = np.array(self.ground_compliance, dtype=bool)
            if gc.shape != arrays["ground_current_A"].shape:
                raise HardwareValidationError(
                    f"ground_compliance must have shape {arrays['ground_current_A'].shape}, got {gc.shape}")
            arrays["ground_compliance"] = gc
        if self.node_voltage_V is not None:
            nv = np.array(self.node_voltage_V, dtype=float)
            if nv.ndim != 2 or nv.shape[0] != n:
                raise HardwareValidationError(f"node_voltage_V must have shape ({n}, k), got {nv.shape}")
            arrays["node_voltage_V"] = nv
        for name, a in arrays.items():
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        object.__setattr__(self, "metadata", dict(self.metadata))

    @property
    def n_steps(self) -> int:
        """Number of steps."""
        return int(self.t_s.size)

    @classmethod
    def concatenate(cls, parts: Sequence[Measurement]) -> Measurement:
        """Join measurements of consecutive batches along time (metadata of the first)."""
        if not parts:
            raise HardwareValidationError("parts must hold at least one Measurement, got none")
        nv = gc = None
        if all(p.node_voltage_V is not None for p in parts):
            nv = np.concatenate([p.node_voltage_V for p in parts])
        if all(p.ground_compliance is not None for p in parts):
            gc = np.concatenate([p.ground_compliance for p in parts])
        return cls(
            t_s=np.concatenate([p.t_s for p in parts]),
            input_V=np.concatenate([p.input_V for p in parts]),
            output_V=np.concatenate([p.output_V for p in parts]),
            input_current_A=np.concatenate([p.input_current_A for p in parts]),
            ground_current_A=np.concatenate([p.ground_current_A for p in parts]),
            compliance=np.concatenate([p.compliance for p in parts]),
            node_voltage_V=nv,
            ground_compliance=gc,
            metadata=parts[0].metadata,
        )
