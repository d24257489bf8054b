"""Rehearse a bench run on a virtual bench: the real drivers, the channel map, simulated physics.

:func:`rehearse` builds a :class:`~hardware.virtual.VirtualBench` from a device file and a
channel map, and through the unmodified drivers and :class:`~hardware.LabDevice` it

1. checks the map against the device (every mapped electrode exists; roles and limits usable;
   the device's electrodes the map leaves out float);
2. calibrates the drive (:func:`~nwmodel.physical.calibration.calibrate_drive`, rule
   ``"response"``: electrode currents only, as on a bench) and runs a short reservoir drive
   (random series through a drawn encoding, each series after a relaxation at 0 V);
3. drives a :class:`~hardware.SimulatedDevice` of the same device, roles and limits with the same
   calibration, encoding and series, and compares the readings;
4. reports the time the run would take on the bench (the bench's simulated clock: holds,
   latencies, apertures), the peak source current against its compliance and whether the safe
   state read back as it should (outputs off, sources at 0 V, matrix open).

The readings are compared relative to each reading's spread over the drive. Two simulations of the
same drive agree to :data:`FEATURE_BOUND` of that spread; what the bench adds beyond it is its
timing (apertures, latency, the skew between instruments read one after the other), and the
report says how much.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from nwmodel._checks import check_int, check_real, make_rng
from nwmodel.errors import ExperimentError

__all__ = ["FEATURE_BOUND", "RehearsalReport", "rehearse"]

#: Largest difference, relative to each reading's spread, at which the bench's readings count as
#: those of the simulated device (the agreement of two integrations at ``rtol`` 1e-6).
FEATURE_BOUND = 1e-3
#: Physics tolerances of both sides of the comparison.
_RTOL, _ATOL = 1e-6, 1e-9


@dataclasses.dataclass(frozen=True)
class RehearsalReport:
    """What :func:`rehearse` measured.

    Attributes
    ----------
    feature_max_abs_diff : float
        Largest ``|bench - simulated|`` of any reading, relative to that reading's spread.
    feature_bound : float
        :data:`FEATURE_BOUND`; ``features_ok`` is ``feature_max_abs_diff <= feature_bound``.
    features_ok : bool
    predicted_bench_s : float
        Seconds the calibration and the drive take on the bench (simulated clock).
    peak_current_A : float
        Largest source current magnitude of the run (calibration included).
    peak_fraction_of_compliance : float
        Largest ``|I| / compliance_A`` of any source reading.
    safe_state_ok : bool
        The safe state read back outputs off, sources at 0 V and the matrix open.
    gain_bench, gain_simulated : float
        Calibrated junction volts per electrode volt on the bench and on the simulated device.
    floating_electrodes : tuple of str
        Device electrodes the channel map leaves out (they float).
    n_series, n_samples, dt_s, latency_s, nplc : int, int, float, float, float
        The drive and the bench timing.
    """

    feature_max_abs_diff: float
    feature_bound: float
    features_ok: bool
    predicted_bench_s: float
    peak_current_A: float
    peak_fraction_of_compliance: float
    safe_state_ok: bool
    gain_bench: float
    gain_simulated: float
    floating_electrodes: tuple[str, ...]
    n_series: int
    n_samples: int
    dt_s: float
    latency_s: float
    nplc: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        d = dataclasses.asdict(self)
        d["floating_electrodes"] = list(self.floating_electrodes)
        return d


class _Recording:
    """The peak source current of every measurement a device returns."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.peak_A = 0.0
        self.peak_fraction = 0.0
        limits = [e.compliance_A for e in device.electrodes if e.role in ("input", "ground")]
        self._limit_in = np.array([e.compliance_A for e in device.electrodes if e.role == "input"])
        self._limit_gnd = np.array([e.compliance_A for e in device.electrodes if e.role == "ground"])
        self._any_limit = bool(limits)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.device, name)

    @property
    def compliance_policy(self) -> str:
        return self.device.compliance_policy

    @compliance_policy.setter
    def compliance_policy(self, value: str) -> None:
        self.device.compliance_policy = value

    def _note(self, m: Any) -> Any:
        for cur, lim in ((m.input_current_A, self._limit_in), (m.ground_current_A, self._limit_gnd)):
            a = np.abs(np.asarray(cur, dtype=float))
            if a.size:
                self.peak_A = max(self.peak_A, float(a.max()))
                self.peak_fraction = max(self.peak_fraction, float((a / lim).max()))
        return m

    def apply(self, voltages_V: Any, dt_s: float) -> Any:
        return self._note(self.device.apply(voltages_V, dt_s))

    def read(self) -> Any:
        return self._note(self.device.read())


def _check_map(network: Any, channel_map: dict[str, Any]) -> tuple[str, ...]:
    """The device's electrodes the map leaves out; raise for a map that does not fit the device."""
    known = tuple(network.circuit().electrode_names)
    named = [e["name"] for e in channel_map["electrodes"]]
    missing = [n for n in named if n not in known]
    if missing:
        raise ExperimentError(
            f"channel map names electrode(s) {', '.join(map(repr, missing))} that the device does not "
            f"have; its electrodes: {', '.join(known)}")
    roles = {e["name"]: e.get("role") for e in channel_map["electrodes"]}
    if not any(r == "input" for r in roles.values()):
        raise ExperimentError("channel map has no input electrode: nothing drives the reservoir")
    if not any(r in ("output", "ground") for r in roles.values()):
        raise ExperimentError("channel map has no output or ground electrode: nothing reads the reservoir")
    # routes, shared crosspoints and limits against the instruments' ranges: load_channel_map
    return tuple(n for n in known if n not in roles or roles[n] == "floating")


def simulated_reference(network: Any, channel_map: dict[str, Any], relax_s: float) -> Any:
    """The simulated device that a rehearsal compares the bench with: the map's roles and limits on
    ``network`` (a checked ``channel_map``), integrated tightly, relaxing for ``relax_s`` seconds at
    a reset. Unmapped electrodes float (their limits are never used); a ground on the common ground
    is wiring, not a source, so it has no current limit."""
    from hardware import SimulatedDevice
    from hardware.backends.lab import is_shared_ground

    els = [e for e in channel_map["electrodes"] if e.get("role") != "floating"]
    shared = [e["name"] for e in els if is_shared_ground(e)]
    roles = {r: [e["name"] for e in els if e["role"] == r and not is_shared_ground(e)]
             for r in ("input", "output", "ground")}
    limits_V = {e["name"]: float(e.get("max_abs_V", 1.0)) for e in els}
    limits_A = {e["name"]: float(e.get("compliance_A", 1e-3)) for e in els}
    known = tuple(network.circuit().electrode_names)
    return SimulatedDevice(network, inputs=roles["input"], outputs=roles["output"],
                           ground=roles["ground"] + shared,
                           max_abs_V={n: limits_V.get(n, 1.0) for n in known},
                           compliance_A={n: 1e3 if n in shared else limits_A.get(n, 1e-3) for n in known},
                           rtol=_RTOL, atol=_ATOL, reset_mode="relax", relax_time_s=relax_s)


def rehearse(device_path: str | Path, channel_map: str | Path | dict[str, Any], *, n_series: int = 4,
             n_samples: int = 20, dt_s: float = 0.1, relax_s: float = 1.0, latency_s: float = 1e-3,
             nplc: float = 1.0, source_delay_s: float = 0.0, seed: int = 0) -> RehearsalReport:
    """Rehearse a calibration and a short reservoir drive on a virtual bench (module notes).

    Parameters
    ----------
    device_path : str or Path
        Device file (``nwhil device generate``).
    channel_map : str, Path or mapping
        The bench's channel map (:class:`~hardware.LabDevice`); its addresses are not used.
    n_series, n_samples : int
        Random series of the drive (>= 2) and their length in samples (>= 2).
    dt_s : float
        Sample period in seconds (> 0).
    relax_s : float
        Relaxation at 0 V before each series and at every reset of the calibration, in seconds
        (> 0): a bench cannot restore junction states, so both sides relax instead.
    latency_s, nplc, source_delay_s : float
        Bench timing: seconds per query round trip, the aperture in power-line cycles, and the
        least time from a level change to a reading (:class:`~hardware.virtual.VirtualBench`).
    seed : int
        Seed of the series and the encoding.

    Returns
    -------
    RehearsalReport

    Raises
    ------
    ExperimentError
        The channel map does not fit the device.
    """
    import nwphys
    from hardware.backends.lab import is_shared_ground, load_channel_map
    from hardware.errors import HardwareError
    from hardware.virtual import VirtualBench
    from nwmodel.physical._drive import Encoding, draw_encoding
    from nwmodel.physical._readout import physical_trajectories
    from nwmodel.physical.calibration import calibrate_drive
    from nwmodel.physical.mapping import DEFAULT_ENCODING, RESCALE_WINDOW_V

    n_series = check_int("n_series", n_series, low=2)
    n_samples = check_int("n_samples", n_samples, low=2)
    dt_s = check_real("dt_s", dt_s, low=0.0, low_open=True)
    relax_s = check_real("relax_s", relax_s, low=0.0, low_open=True)
    cm = load_channel_map(channel_map)
    network = nwphys.load_network(device_path)
    floating = _check_map(network, cm)
    els = [e for e in cm["electrodes"] if e.get("role") != "floating"]
    by_role = {r: [e["name"] for e in els if e["role"] == r and not is_shared_ground(e)]
               for r in ("input", "output", "ground")}

    rng = make_rng(seed, "seed")
    s_series, s_w, s_b, s_m = rng.spawn(4)
    X = s_series.uniform(-1.0, 1.0, (n_series, 1, n_samples))
    w_in, bias, mask = draw_encoding((s_w, s_b, s_m), n_inputs=len(by_role["input"]), n_channels=1,
                                     n_virtual=1, input_scaling=DEFAULT_ENCODING["input_scaling"],
                                     bias_scaling=DEFAULT_ENCODING["bias_scaling"])
    safe_ok = True
    clock_s = 0.0
    # 1. the calibration, on a bench of its own (its pulses leave the junctions changed)
    with VirtualBench(network, cm, latency_s=latency_s, nplc=nplc, source_delay_s=source_delay_s,
                      rtol=_RTOL, atol=_ATOL) as bench:
        dev = _Recording(bench.lab_device(ramp_pause_s=0.0, relax_s=relax_s))
        try:
            cal = calibrate_drive(dev, rule="response")
        finally:
            safe_ok &= _close_and_check(dev.device, bench, HardwareError)
        clock_s += bench.clock.now()
        peak_A, peak_frac = dev.peak_A, dev.peak_fraction
    lo, hi = cal.electrode_window_V(RESCALE_WINDOW_V)
    enc = Encoding(w_in=w_in, bias=bias, mask=mask, slope=DEFAULT_ENCODING["slope"], v_bias_V=lo,
                   v_scale_V=hi - lo, dt_s=dt_s, reset="relax", relax_s=relax_s)
    # 2. the drive on a fresh bench and on the simulated device, from the same junction states
    with VirtualBench(network, cm, latency_s=latency_s, nplc=nplc, source_delay_s=source_delay_s,
                      rtol=_RTOL, atol=_ATOL) as bench:
        dev = _Recording(bench.lab_device(ramp_pause_s=0.0, relax_s=relax_s))
        try:
            on_bench = physical_trajectories(dev, enc, X)
        finally:
            safe_ok &= _close_and_check(dev.device, bench, HardwareError)
        clock_s += bench.clock.now()
        peak_A, peak_frac = max(peak_A, dev.peak_A), max(peak_frac, dev.peak_fraction)
    sim = simulated_reference(network, cm, relax_s)
    try:
        reference = physical_trajectories(sim, enc, X)
        gain_sim = calibrate_drive(simulated_reference(network, cm, relax_s), rule="response").gain
    finally:
        sim.close()
    flat_b = on_bench.reshape(-1, on_bench.shape[-1])
    # the bench reads no shared ground: its currents are the reference's last columns
    flat_r = reference.reshape(-1, reference.shape[-1])[:, : flat_b.shape[1]]
    spread = np.ptp(flat_r, axis=0)
    spread = np.where(spread > 0, spread, np.max(np.abs(flat_r), axis=0) + 1e-300)
    diff = float(np.max(np.abs(flat_b - flat_r) / spread))
    return RehearsalReport(
        feature_max_abs_diff=diff, feature_bound=FEATURE_BOUND, features_ok=diff <= FEATURE_BOUND,
        predicted_bench_s=clock_s, peak_current_A=peak_A, peak_fraction_of_compliance=peak_frac,
        safe_state_ok=bool(safe_ok), gain_bench=float(cal.gain), gain_simulated=float(gain_sim),
        floating_electrodes=floating, n_series=n_series, n_samples=n_samples, dt_s=dt_s,
        latency_s=float(latency_s), nplc=float(nplc),
    )


def _close_and_check(dev: Any, bench: Any, hardware_error: type[Exception]) -> bool:
    """Close the LabDevice (its safe state reads itself back) and check the instruments agree."""
    try:
        dev.close()
    except hardware_error:
        return False
    smu_off = all(not ch.output_on and ch.level_V == 0.0
                  for inst in bench.instruments.values() for ch in inst.channels())
    return smu_off and not bench.closed
