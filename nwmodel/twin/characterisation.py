"""A characterisation drive for fitting junction parameters, run through any :class:`hardware.Device`.

:class:`Characterisation` is one voltage sequence on one input electrode (every other input held
at 0 V, the ground electrodes grounded), built from the protocols of
:mod:`nwmodel.experiments.measurements`, at one step ``dt_s``:

1. for each amplitude of ``amplitudes_V``: a pulse of ``pulse_s`` (potentiation at that junction
   voltage), then ``relax_s`` at ``read_V`` (the decay, depression near 0 V);
2. a triangular I-V sweep to ``iv_amplitude_V`` over ``iv_s`` (0 -> +A -> -A -> 0);
3. ``noise_s`` at ``read_V`` after a pulse of the largest amplitude (the fluctuations of a state
   that relaxes: read noise and junction noise).

Every edge is ramped by at most ``max_step_V`` per step, the sequence starts and ends at 0 V, and
it is checked against the device's limits before anything is applied. :func:`characterise` records
it to a measurement file in flushed chunks (:func:`hardware.h5io.record`) with the plan and the
device file's digest, which :func:`nwmodel.twin.fit.fit_junctions` checks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from nwmodel._checks import check_real
from nwmodel.errors import ModelValidationError
from nwmodel.experiments.measurements import ramped

__all__ = ["CHARACTERISATION_FORMAT", "Characterisation", "characterise", "geometry_sha256"]

#: ``characterisation`` entry of a measurement file's metadata: the format tag of the plan.
CHARACTERISATION_FORMAT = "nanowire-hil/characterisation"


@dataclasses.dataclass(frozen=True)
class Characterisation:
    """The characterisation drive: pulses, relaxations, an I-V sweep and a noise hold.

    Parameters
    ----------
    amplitudes_V : tuple of float
        Pulse levels in volts (at least two distinct nonzero levels separate ``kp0`` from
        ``eta_p``; the largest should switch junctions fully on, so that ``G_max`` shows).
    pulse_s : float
        Pulse length in seconds.
    relax_s : float
        Time read at ``read_V`` after each pulse, in seconds (several ``1 / kd0``).
    read_V : float
        Read level in volts (small: the junctions barely move).
    iv_amplitude_V : float
        Peak of the I-V sweep in volts (0 disables it).
    iv_s : float
        Duration of one I-V cycle in seconds.
    noise_s : float
        Duration of the noise hold at ``read_V`` in seconds (0 disables it).
    dt_s : float
        Step in seconds: one reading per step, at the end of its hold.
    max_step_V : float
        Largest level change per step in volts (edges are ramped).
    """

    amplitudes_V: tuple[float, ...] = (2.0, 4.0, 6.0)
    pulse_s: float = 0.5
    relax_s: float = 3.0
    read_V: float = 0.05
    iv_amplitude_V: float = 6.0
    iv_s: float = 2.0
    noise_s: float = 10.0
    dt_s: float = 0.01
    max_step_V: float = 0.5

    def __post_init__(self) -> None:
        amps = tuple(float(check_real("amplitudes_V", a)) for a in np.atleast_1d(self.amplitudes_V))
        if not amps or not any(a != 0.0 for a in amps):
            raise ModelValidationError(f"amplitudes_V must hold at least one nonzero level, got {amps}")
        object.__setattr__(self, "amplitudes_V", amps)
        dt = check_real("dt_s", self.dt_s, low=0.0, low_open=True)
        check_real("pulse_s", self.pulse_s, low=dt)
        check_real("relax_s", self.relax_s, low=dt)
        check_real("read_V", self.read_V)
        check_real("iv_amplitude_V", self.iv_amplitude_V, low=0.0)
        if self.iv_amplitude_V > 0:
            check_real("iv_s", self.iv_s, low=8 * dt)
        check_real("noise_s", self.noise_s, low=0.0)
        check_real("max_step_V", self.max_step_V, low=0.0, low_open=True)

    def _n(self, seconds: float) -> int:
        return max(1, round(seconds / self.dt_s))

    def segments(self) -> list[tuple[str, np.ndarray]]:
        """The named parts of the drive, each ramped from and back to 0 V.

        Returns
        -------
        list of (str, ndarray of shape (n_k,))
            ``("pulse:<A>", levels)`` per amplitude, ``("iv", levels)`` and ``("noise", levels)``.
        """
        out: list[tuple[str, np.ndarray]] = []
        for a in self.amplitudes_V:
            lv = np.r_[np.full(self._n(self.pulse_s), a), np.full(self._n(self.relax_s), self.read_V)]
            out.append((f"pulse:{a:g}", ramped(lv, self.max_step_V)))
        if self.iv_amplitude_V > 0:
            q = max(2, self._n(self.iv_s) // 4)
            up = np.arange(1, q + 1) / q * self.iv_amplitude_V
            cycle = np.r_[up, up[::-1][1:], 0.0, -up, -up[::-1][1:]]
            out.append(("iv", ramped(cycle, self.max_step_V)))
        if self.noise_s > 0:
            big = max(self.amplitudes_V, key=abs)
            lv = np.r_[np.full(self._n(self.pulse_s), big), np.full(self._n(self.noise_s), self.read_V)]
            out.append(("noise", ramped(lv, self.max_step_V)))
        return out

    def levels(self) -> np.ndarray:
        """The whole drive on the driven electrode, shape (n_steps,), in volts."""
        return np.concatenate([lv for _, lv in self.segments()])

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values (with :data:`CHARACTERISATION_FORMAT`)."""
        d = dataclasses.asdict(self)
        d["amplitudes_V"] = list(self.amplitudes_V)
        return {"format": CHARACTERISATION_FORMAT, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Characterisation:
        """The plan stored by :meth:`to_dict`."""
        if d.get("format") != CHARACTERISATION_FORMAT:
            raise ModelValidationError(f"not a characterisation plan (format {d.get('format')!r})")
        kw = {k: v for k, v in d.items() if k != "format"}
        kw["amplitudes_V"] = tuple(kw.get("amplitudes_V", ()))
        return cls(**kw)


def geometry_sha256(network: Any) -> str:
    """SHA-256 of a network's circuit: wires, junctions, electrodes and their resistances.

    The junction parameters are not part of it: a fit changes them, not the device.
    """
    import hashlib
    import json

    c = network.circuit()
    h = hashlib.sha256(json.dumps([int(c.n_nodes), list(c.electrode_names)]).encode())
    for a in (c.edges, c.electrode_node, c.fixed_edges, c.fixed_conductance_S, c.series_resistance_ohm):
        a = np.ascontiguousarray(np.zeros(0) if a is None else a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def characterise(
    device: Any,
    plan: Characterisation | None = None,
    *,
    electrode: str | None = None,
    path: str | Path | None = None,
    network: Any = None,
    device_file: str | Path | None = None,
    force: bool = False,
    progress: Any = None,
) -> Any:
    """Apply the characterisation drive to ``device`` and return its :class:`~hardware.Measurement`.

    Parameters
    ----------
    device : hardware.Device
        A simulated device, the emulator or a bench (its limits and compliance apply).
    plan : Characterisation, optional
        The drive (default: ``Characterisation()``).
    electrode : str, optional
        The input electrode to drive (default: the first input); the other inputs stay at 0 V.
    path : str or Path, optional
        Measurement file to stream the readings to (flushed chunk by chunk; never overwritten
        without ``force``).
    network : nwphys.NanowireNetwork, optional
        The device's network (default: ``device.network`` where the device has one, as a
        :class:`~hardware.SimulatedDevice` does): its geometry digest
        (:func:`geometry_sha256`) is stored with the readings, and the fit refuses a network of
        another geometry.
    device_file : str or Path, optional
        The device file of ``device``: its absolute path is stored with the plan, and ``nwhil
        device fit MEAS.h5`` fits on it when no ``--device`` is given (the digest still decides).
    force : bool
        Overwrite ``path``.
    progress : callable(done, total), optional

    Returns
    -------
    hardware.Measurement
        One reading per step; its ``metadata["characterisation"]`` holds the plan and the driven
        electrode.
    """
    plan = Characterisation() if plan is None else plan
    names = list(device.input_names)
    if electrode is None:
        electrode = names[0]
    if electrode not in names:
        raise ModelValidationError(f"electrode must be one of the device's inputs {names}, got {electrode!r}")
    k = names.index(electrode)
    lv = plan.levels()
    v = np.zeros((lv.size, len(names)))
    v[:, k] = lv
    v = device.check_voltages(v)  # LimitError naming the electrode and the step; nothing is sent
    info = {**plan.to_dict(), "electrode": electrode}
    network = getattr(device, "network", None) if network is None else network
    if network is not None:
        info["geometry_sha256"] = geometry_sha256(network)
    if device_file is not None:
        info["device_file"] = str(Path(device_file).resolve())
    if path is None:
        m = device.apply(v, plan.dt_s)
    else:
        from hardware.h5io import record

        m = record(device, v, plan.dt_s, path, force=force, progress=progress,
                   metadata={"characterisation": info})
    m.metadata["characterisation"] = info
    return m
