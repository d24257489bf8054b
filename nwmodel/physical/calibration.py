"""Junction-level operating window: calibrate the electrode drive of a physical reservoir.

The abstract NW-ESN's RESCALE window, (0.35, 1.15) V, describes **junction** voltages: it brackets
the voltage ``V* = ln(kd0 / kp0) / (eta_p + eta_d)`` (0.774 V for the NW-ESN constants) at which
potentiation and depression balance. A junction inside a network sees only part of the electrode
voltage, so the window cannot be applied at the electrodes as it is. :func:`calibrate_drive` runs
a short, safe sweep through the :class:`hardware.Device` API and returns the **gain** ``k`` (junction
volts per electrode volt); the physical reservoir then drives its inputs in the electrode window
``(lo / k, hi / k)``.

Rules
-----
``"junction"`` (simulated devices: needs the oracle readout ``device.oracle()``)
    At the reset state, every input is held for ``probe_s`` (1 us: the junctions do not move) at a
    few small levels; ``k`` is the ``quantile`` (default 0.99) of the junction voltages ``|V_j|``
    per electrode volt. The network is linear at a fixed state, so the levels must agree to 1 %
    (checked). With the calibrated drive at the top of the window, 99 % of the junctions of the
    reset device are at or below 1.15 V; the most stressed 1 % reach the window first.
``"response"`` (any device, a bench included: only electrode currents are used)
    From the reset state, pulses of ``pulse_s`` (default 0.1 s) at rising levels (x 1.25 per
    step from ``start_V``); the network conductance ``G = sum(I_in) / V`` at the end of each pulse
    is compared with the first one. The onset level ``v_on``, where ``G`` has grown by ``growth``
    (default 2x, interpolated in ``log V``), is where the most stressed junctions switch, that is
    reach ``V*``: ``k = V* / v_on``. On a simulated device the two rules can be compared
    (``tests/nwmodel/test_bench_reservoir.py``); the response rule is an estimate of the junction rule.

Both rules stop before any electrode limit: a level is never above the smallest ``max_abs_V`` of
the input electrodes, and a reading flagged at compliance ends the sweep. The calibrated window
is then **verified**: from the reset state, every input is held at the window's top for
``verify_s`` (default 1 s, longer than a typical series is at its top); if an input current
reaches its compliance, :class:`CalibrationError` is raised (``on_compliance="raise"``, the
default). With ``on_compliance="scale"`` the whole drive is scaled down instead, by the largest
factor ``s < 1`` (to 2 %, in at most 12 verification holds) for which the hold stays below 95 %
of the compliance: the returned gain is ``gain / s``, so the junctions operate in ``s`` times the
window, and ``details["compliance_scale"]`` records ``s`` (1 when no scaling was needed). The
device is reset afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from nwmodel._checks import check_choice, check_real
from nwmodel.errors import ModelError
from nwmodel.physical.mapping import NWESN_JUNCTION_PARAMS, RESCALE_WINDOW_V

__all__ = [
    "CALIBRATION_RULES",
    "CalibrationError",
    "DriveCalibration",
    "calibrate_drive",
    "switching_voltage_V",
]

#: Calibration rules of :func:`calibrate_drive` ("auto" picks "junction" when the device has an oracle).
CALIBRATION_RULES: tuple[str, ...] = ("auto", "junction", "response")


class CalibrationError(ModelError):
    """The junction window cannot be reached (or held) within the device's limits."""


def switching_voltage_V(params: dict[str, float] | None = None) -> float:
    """Junction voltage where ``kp = kd`` for the rate balance: ``ln(kd0/kp0) / (eta_p + eta_d)``.

    Parameters
    ----------
    params : dict, optional
        ``kp0_per_s, kd0_per_s, eta_p_per_V, eta_d_per_V`` (default the NW-ESN constants).

    Returns
    -------
    float
        Volts (0.774 V for the NW-ESN constants).
    """
    p = dict(NWESN_JUNCTION_PARAMS if params is None else params)
    return math.log(p["kd0_per_s"] / p["kp0_per_s"]) / (p["eta_p_per_V"] + p["eta_d_per_V"])


@dataclass(frozen=True)
class DriveCalibration:
    """Result of :func:`calibrate_drive` (picklable; stored with the results).

    Attributes
    ----------
    rule : {"junction", "response"}
    gain : float
        Junction volts per electrode volt (> 0).
    details : dict
        What the sweep measured (levels, statistics, verification currents), JSON-ready.
    """

    rule: str
    gain: float
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def electrode_window_V(
        self, junction_window_V: tuple[float, float] = RESCALE_WINDOW_V
    ) -> tuple[float, float]:
        """Electrode voltages ``(lo / gain, hi / gain)`` that put the junctions in ``junction_window_V``."""
        lo, hi = junction_window_V
        return float(lo) / self.gain, float(hi) / self.gain

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"rule": self.rule, "gain": self.gain, **self.details}


def _input_limit_V(device: Any) -> float:
    els = [e for e in device.electrodes if e.role == "input"]
    return float(min(e.max_abs_V for e in els))


def _flagged(m: Any) -> bool:
    """Whether any source of ``m``, input or ground, read at its current compliance."""
    ground = getattr(m, "ground_compliance", None)
    return bool(np.any(np.asarray(m.compliance)) or (ground is not None and np.any(ground)))


def _ground_trip(device: Any, m: Any) -> str | None:
    """The first ground source of ``m`` at its compliance, described (None: none)."""
    ground = getattr(m, "ground_compliance", None)
    if ground is None or not np.any(ground):
        return None
    k, j = (int(i) for i in np.argwhere(np.asarray(ground))[0])
    limits = [e.compliance_A for e in device.electrodes if e.role == "ground"]
    return (f"ground {device.ground_names[j]!r}: {abs(float(np.asarray(m.ground_current_A)[k, j])):.3g} A >= "
            f"{limits[j]:.3g} A")


def _level(device: Any, v: float) -> np.ndarray:
    return np.full((1, len(device.input_names)), float(v))


def _junction_gain(
    device: Any, quantile: float, probe_s: float, levels_V: tuple[float, ...]
) -> tuple[float, dict]:
    ratios = []
    for v in levels_V:
        device.reset()
        m = device.apply(_level(device, v), probe_s)
        if _flagged(m):
            where = _ground_trip(device, m) or "an input"
            raise CalibrationError(f"calibration probe at {v:g} V already reaches the compliance of {where}")
        vj = np.abs(np.asarray(device.oracle().junction_voltage_V))
        ratios.append(float(np.quantile(vj, quantile)) / v)
    device.reset()
    r = np.asarray(ratios)
    if not np.all(r > 0):
        raise CalibrationError("the junction voltages do not respond to the inputs (gain 0): is an input "
                               "connected to the network?")
    if r.max() / r.min() > 1.01:
        raise CalibrationError(
            f"junction voltages are not linear in the drive at the reset state (gain "
            f"{r.min():.4g}..{r.max():.4g} V/V over {list(levels_V)} V); the probe pulses moved the "
            f"junctions")
    return float(r.mean()), {"quantile": quantile, "probe_levels_V": list(levels_V),
                             "gain_per_level": [float(x) for x in r]}


def _response_gain(device: Any, pulse_s: float, start_V: float, growth: float, v_star: float,
                   vmax: float) -> tuple[float, dict]:
    levels, cond = [], []
    v = start_V
    while v <= vmax * (1 + 1e-12):
        device.reset()
        m = device.apply(_level(device, v), pulse_s)
        if _flagged(m):
            break
        i_in = float(np.sum(np.asarray(m.input_current_A)[-1]))
        levels.append(v)
        cond.append(i_in / v)
        if len(cond) > 1 and cond[0] > 0 and cond[-1] >= growth * cond[0]:
            break
        v *= 1.25
    device.reset()
    details = {"pulse_s": pulse_s, "growth": growth, "switching_V": v_star, "levels_V": levels,
               "conductance_S": cond}
    if len(cond) < 2 or cond[0] <= 0 or cond[-1] < growth * cond[0]:
        top = levels[-1] if levels else start_V
        raise CalibrationError(
            f"no switching onset (conductance x{growth:g}) up to {top:.3g} V within the input limit "
            f"{vmax:g} V and compliance; the junction window cannot be reached on this device")
    # interpolate log V between the last two levels where G/G0 crosses `growth`
    g0 = cond[0]
    x0, x1 = math.log(levels[-2]), math.log(levels[-1])
    y0, y1 = math.log(cond[-2] / g0), math.log(cond[-1] / g0)
    yt = math.log(growth)
    v_on = math.exp(x0 + (x1 - x0) * (yt - y0) / (y1 - y0)) if y1 > y0 else levels[-1]
    details["onset_V"] = v_on
    return v_star / v_on, details


def calibrate_drive(
    device: Any,
    *,
    rule: Literal["auto", "junction", "response"] = "auto",
    junction_window_V: tuple[float, float] = RESCALE_WINDOW_V,
    quantile: float = 0.99,
    probe_s: float = 1e-6,
    probe_levels_V: tuple[float, ...] = (0.05, 0.1, 0.2),
    pulse_s: float = 0.1,
    start_V: float = 0.05,
    growth: float = 2.0,
    switching_V: float | None = None,
    verify_s: float = 1.0,
    on_compliance: Literal["raise", "scale"] = "raise",
) -> DriveCalibration:
    """Measure the electrode-to-junction voltage gain of ``device`` (see the module notes).

    Parameters
    ----------
    device : hardware.Device
        Any backend; ``rule="junction"`` needs ``device.oracle()`` (a simulated device).
    rule : {"auto", "junction", "response"}
        ``"auto"``: ``"junction"`` when the device has an oracle, else ``"response"``.
    junction_window_V : (float, float)
        Target junction window in volts, ``0 < lo < hi`` (default the RESCALE window).
    quantile : float
        Junction rule: quantile of ``|V_j|`` that spans the window, in (0, 1].
    probe_s : float
        Junction rule: hold of each probe level in seconds (> 0; short enough not to move g).
    probe_levels_V : tuple of float
        Junction rule: probe levels in volts (> 0, within the input limit).
    pulse_s, start_V, growth : float
        Response rule: pulse length (s), first level (V) and conductance growth of the onset (> 1).
    switching_V : float, optional
        Response rule: junction voltage of the onset (default :func:`switching_voltage_V`).
    verify_s : float
        Hold at the window's top, from reset, that must stay below compliance (s; 0 skips).
    on_compliance : {"raise", "scale"}
        When the verification hold reaches compliance: raise :class:`CalibrationError`, or scale
        the drive down until the hold stays below 95 % of the compliance (see the module notes).

    Returns
    -------
    DriveCalibration

    Raises
    ------
    CalibrationError
        The window's top needs more than the input limit, the verification reaches compliance, or
        (response rule) no onset is found within the limits.
    """
    rule = check_choice("rule", rule, CALIBRATION_RULES)
    lo, hi = (check_real("junction_window_V", v, low=0.0, low_open=True) for v in junction_window_V)
    if hi <= lo:
        raise CalibrationError(f"junction_window_V must have lo < hi, got {junction_window_V!r}")
    has_oracle = callable(getattr(device, "oracle", None))
    if rule == "auto":
        rule = "junction" if has_oracle else "response"
    vmax = _input_limit_V(device)
    policy = device.compliance_policy
    device.compliance_policy = "record"
    try:
        if rule == "junction":
            if not has_oracle:
                raise CalibrationError(
                    f"rule='junction' needs the oracle readout of a simulated device, got "
                    f"{type(device).__name__}; use rule='response'")
            q = check_real("quantile", quantile, low=0.0, high=1.0, low_open=True)
            ps = check_real("probe_s", probe_s, low=0.0, low_open=True)
            levels = tuple(check_real("probe_levels_V", v, low=0.0, high=vmax, low_open=True)
                           for v in probe_levels_V)
            gain, details = _junction_gain(device, q, ps, levels)
        else:
            vs = switching_voltage_V() if switching_V is None else check_real(
                "switching_V", switching_V, low=0.0, low_open=True)
            gain, details = _response_gain(
                device, check_real("pulse_s", pulse_s, low=0.0, low_open=True),
                check_real("start_V", start_V, low=0.0, high=vmax, low_open=True),
                check_real("growth", growth, low=1.0, low_open=True), vs, vmax)
        e_lo, e_hi = lo / gain, hi / gain
        if e_hi > vmax:
            raise CalibrationError(
                f"the junction window top {hi:g} V needs {e_hi:.3g} V at the inputs (gain {gain:.4g} V/V), "
                f"above the input limit max_abs_V={vmax:g} V; raise the limit or use a device with a "
                f"higher gain (fewer junctions in series)")
        vs_ = check_real("verify_s", verify_s, low=0.0)
        on_comp = check_choice("on_compliance", on_compliance, ("raise", "scale"))
        verify: dict[str, Any] = {"verify_s": vs_}
        scale = 1.0
        if vs_ > 0:
            comp = np.asarray([e.compliance_A for e in device.electrodes if e.role == "input"], float)

            trips: list[str | None] = []

            def hold(s: float) -> tuple[bool, np.ndarray, int]:
                device.reset()
                m = device.apply(_level(device, s * e_hi), vs_)
                i = np.abs(np.asarray(m.input_current_A)[-1])
                worst = int(np.argmax(i / comp))
                limit = 1.0 if on_comp == "raise" else 0.95
                trips.append(_ground_trip(device, m))
                return not _flagged(m) and i[worst] <= limit * comp[worst], i, worst

            ok, i, worst = hold(1.0)
            if not ok and on_comp == "raise":
                where = trips[-1] or (f"input {device.input_names[worst]!r}: {i[worst]:.3g} A >= "
                                      f"{comp[worst]:.3g} A")
                raise CalibrationError(
                    f"the calibrated drive ({e_hi:.3g} V at every input for {vs_:g} s) reaches the "
                    f"compliance of {where}; use a device with fewer or smaller pads, a narrower window, "
                    f"a higher compliance or on_compliance='scale'")
            if not ok:  # largest scale whose hold stays below 95 % of compliance, to 2 %
                s_fail, s_pass, i_pass, s_try = 1.0, None, i, 0.85
                for _ in range(11):
                    ok, i, worst = hold(s_try)
                    if ok:
                        s_pass, i_pass = s_try, i
                    else:
                        s_fail = s_try
                    if s_pass is not None and s_fail / s_pass < 1.02:
                        break
                    s_try = s_try * 0.85 if s_pass is None else math.sqrt(s_pass * s_fail)
                if s_pass is None:
                    raise CalibrationError(
                        f"scaling the drive down to {s_fail:.3g} x {e_hi:.3g} V still reaches 95 % of "
                        f"the compliance of input {device.input_names[worst]!r} ({i[worst]:.3g} A)")
                scale, i = s_pass, i_pass
            verify["verify_current_A"] = [float(x) for x in i]
            verify["compliance_scale"] = scale
        gain_out = gain / scale
        e_lo, e_hi = lo / gain_out, hi / gain_out
        if scale < 1.0:
            details = {**details, "measured_gain": gain,
                       "junction_window_reached_V": [lo * scale, hi * scale]}
        device.reset()
        return DriveCalibration(rule, gain_out, {**details, "junction_window_V": [lo, hi], **verify,
                                             "electrode_window_V": [e_lo, e_hi], "input_limit_V": vmax})
    finally:
        device.compliance_policy = policy
