"""Measurement protocols that characterise a device through the :class:`hardware.Device` API.

:func:`iv_sweep`, :func:`pulse_train` and :func:`relaxation` build a voltage sequence on one input
electrode (the others held at 0 V), check it against the device before any step is sent, apply it
and return the sequence with its :class:`~hardware.Measurement`. They run unchanged on a
:class:`~hardware.SimulatedDevice`, the SCPI emulator, the virtual bench and a bench.

Safety, the same in every protocol:

* every sequence starts and ends at 0 V, and no step changes a level by more than ``max_step_V``
  (edges are ramped linearly over as many steps as that takes);
* every level is checked against the electrode's ``max_abs_V`` before anything is applied
  (:class:`~hardware.errors.LimitError` naming the electrode, the step and the limit);
* compliance is the device's (``compliance_policy``): ``"raise"`` stops in the safe state with
  :class:`~hardware.errors.ComplianceError`, ``"record"`` returns the flags per reading.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from nwmodel._checks import check_choice, check_int, check_real
from nwmodel.errors import ModelValidationError

__all__ = ["ProtocolRun", "iv_sweep", "pulse_train", "ramped", "relaxation"]


@dataclasses.dataclass(frozen=True)
class ProtocolRun:
    """One protocol applied to a device.

    Attributes
    ----------
    name : str
        ``"iv_sweep"``, ``"pulse_train"`` or ``"relaxation"``.
    electrode : str
        The input electrode driven (the other inputs are held at 0 V).
    input_index : int
        Its column in the measurement's input arrays.
    params : dict
        The protocol's arguments (volts, seconds).
    levels_V : ndarray, shape (n_steps,)
        The level applied to ``electrode`` at each step.
    dt_s : float
        Step duration in seconds.
    measurement : hardware.Measurement
        The readings, one per step at the end of its hold.
    """

    name: str
    electrode: str
    input_index: int
    params: dict[str, Any]
    levels_V: np.ndarray
    dt_s: float
    measurement: Any

    @property
    def current_A(self) -> np.ndarray:
        """Current into the driven electrode at each step (A)."""
        return np.asarray(self.measurement.input_current_A[:, self.input_index], dtype=float)


def ramped(levels_V: Any, max_step_V: float) -> np.ndarray:
    """``levels_V`` from 0 V back to 0 V with every jump larger than ``max_step_V`` ramped linearly.

    Parameters
    ----------
    levels_V : array_like, shape (n,)
        The levels wanted, one per step, in volts.
    max_step_V : float
        Largest change between consecutive steps, in volts (> 0).

    Returns
    -------
    ndarray, shape (m,)
        The levels with ramp steps inserted before each large jump and at both ends (0 V first and
        last).
    """
    step = check_real("max_step_V", max_step_V, low=0.0, low_open=True)
    wanted = np.asarray(levels_V, dtype=float).reshape(-1)
    out: list[float] = [0.0]
    for v in [*wanted, 0.0]:
        gap = v - out[-1]
        n = int(np.ceil(abs(gap) / step - 1e-12))
        if n > 1:
            out.extend(out[-1] + gap * np.arange(1, n) / n)
        out.append(float(v))
    return np.asarray(out)


def _input(device: Any, electrode: str | None) -> tuple[str, int]:
    names = list(device.input_names)
    if not names:
        raise ModelValidationError("the device has no input electrode to drive")
    name = names[0] if electrode is None else check_choice("electrode", electrode, names)
    return name, names.index(name)


def _run(device: Any, name: str, electrode: str | None, levels_V: np.ndarray, dt_s: float,
         params: dict[str, Any]) -> ProtocolRun:
    el, k = _input(device, electrode)
    v = np.zeros((levels_V.size, len(device.input_names)))
    v[:, k] = levels_V
    checked = device.check_voltages(v)  # LimitError naming the electrode and the step, nothing sent
    m = device.apply(checked, dt_s)
    return ProtocolRun(name, el, k, params, levels_V, float(dt_s), m)


def iv_sweep(device: Any, amplitude_V: float, *, electrode: str | None = None, n_steps: int = 200,
             dt_s: float = 1e-3, cycles: int = 1) -> ProtocolRun:
    """A triangular I-V sweep: 0 -> +A -> -A -> 0, ``cycles`` times.

    Parameters
    ----------
    device : hardware.Device
    amplitude_V : float
        Peak voltage (> 0), within the electrode's limit.
    electrode : str, optional
        The input electrode to sweep (default: the first input).
    n_steps : int
        Steps per cycle (>= 8, a multiple of 4).
    dt_s : float
        Step duration in seconds (> 0).
    cycles : int
        Number of cycles (>= 1).
    """
    a = check_real("amplitude_V", amplitude_V, low=0.0, low_open=True)
    n = check_int("n_steps", n_steps, low=8)
    if n % 4:
        raise ModelValidationError(f"n_steps must be a multiple of 4, got {n}")
    q = n // 4
    up, down = np.arange(1, q + 1), q - np.arange(1, 2 * q + 1)
    cycle = np.concatenate([up, down, -q + up]) / q * a
    levels = np.tile(cycle, check_int("cycles", cycles, low=1))
    return _run(device, "iv_sweep", electrode, levels, check_real("dt_s", dt_s, low=0.0, low_open=True),
                {"amplitude_V": a, "n_steps": n, "cycles": int(cycles)})


def pulse_train(device: Any, amplitude_V: float, *, electrode: str | None = None, n_pulses: int = 10,
                width_s: float = 0.01, period_s: float = 0.02, read_V: float = 0.05, dt_s: float = 1e-3,
                max_step_V: float = 0.5) -> ProtocolRun:
    """``n_pulses`` pulses of ``amplitude_V`` and ``width_s``, at ``read_V`` between them.

    Parameters
    ----------
    device : hardware.Device
    amplitude_V : float
        Pulse level in volts (its sign is the polarity).
    electrode : str, optional
        The input electrode to drive (default: the first input).
    n_pulses : int
        Number of pulses (>= 1).
    width_s, period_s : float
        Pulse width and period in seconds (``dt_s <= width_s < period_s``).
    read_V : float
        Level between pulses (a small read voltage), in volts.
    dt_s : float
        Step duration in seconds (> 0).
    max_step_V : float
        Largest change of level per step (> 0): edges are ramped over the steps it takes.
    """
    dt = check_real("dt_s", dt_s, low=0.0, low_open=True)
    a = check_real("amplitude_V", amplitude_V)
    width = check_real("width_s", width_s, low=dt)
    period = check_real("period_s", period_s, low=width, low_open=True)
    n_on, n_per = round(width / dt), round(period / dt)
    one = np.full(n_per, check_real("read_V", read_V))
    one[:n_on] = a
    levels = ramped(np.tile(one, check_int("n_pulses", n_pulses, low=1)), max_step_V)
    return _run(device, "pulse_train", electrode, levels, dt,
                {"amplitude_V": a, "n_pulses": int(n_pulses), "width_s": width, "period_s": period,
                 "read_V": float(read_V), "max_step_V": float(max_step_V)})


def relaxation(device: Any, amplitude_V: float, *, electrode: str | None = None, pulse_s: float = 0.05,
               read_V: float = 0.05, duration_s: float = 1.0, dt_s: float = 1e-3,
               max_step_V: float = 0.5) -> ProtocolRun:
    """One pulse of ``amplitude_V`` and ``pulse_s``, then ``read_V`` for ``duration_s``: the decay.

    Parameters
    ----------
    device : hardware.Device
    amplitude_V : float
        Pulse level in volts.
    electrode : str, optional
        The input electrode to drive (default: the first input).
    pulse_s, duration_s : float
        Pulse length and the time read after it, in seconds (each at least one step).
    read_V : float
        Read level after the pulse, in volts.
    dt_s : float
        Step duration in seconds (> 0).
    max_step_V : float
        Largest change of level per step (> 0).
    """
    dt = check_real("dt_s", dt_s, low=0.0, low_open=True)
    a = check_real("amplitude_V", amplitude_V)
    n_on = round(check_real("pulse_s", pulse_s, low=dt) / dt)
    n_off = round(check_real("duration_s", duration_s, low=dt) / dt)
    levels = ramped(np.concatenate([np.full(n_on, a), np.full(n_off, check_real("read_V", read_V))]),
                    max_step_V)
    return _run(device, "relaxation", electrode, levels, dt,
                {"amplitude_V": a, "pulse_s": float(pulse_s), "read_V": float(read_V),
                 "duration_s": float(duration_s), "max_step_V": float(max_step_V)})
