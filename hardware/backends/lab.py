"""A bench of source-measure units and a switch matrix composed into one :class:`~hardware.Device`.

Channel map (JSON file or dict; unknown keys are an error)::

    {
      "instruments": {
        "smu1":   {"driver": "keithley2450", "address": "TCPIP::192.168.0.10::INSTR"},
        "smu2":   {"driver": "keithley2600", "address": "GPIB0::26::INSTR"},
        "matrix": {"driver": "keithley707b", "address": "GPIB0::16::INSTR"}
      },
      "electrodes": [
        {"name": "E01", "role": "input",  "smu": "smu1", "channel": null, "route": ["1A01"],
         "max_abs_V": 1.0, "compliance_A": 1e-3},
        {"name": "E02", "role": "output", "smu": "smu2", "channel": "a", "route": ["1B02"]},
        {"name": "E03", "role": "ground", "smu": "smu2", "channel": "b", "route": ["1C03"]}
      ]
    }

A ground electrode without ``smu`` (``{"name": "E16", "role": "ground"}``) is wired to the bench's
common ground, the SMUs' LO terminals: it is held at 0 V by the wiring, has no channel, and its
current is not read (it is not one of the device's electrodes; by Kirchhoff's law it carries what
the read currents do not). This is the counter electrode of list mode, and the way to ground many
electrodes with few SMU channels.

Input and ground electrodes are SMU channels sourcing voltage with current compliance; output
electrodes are SMU channels sourcing 0 A and reading voltage (a high-impedance voltmeter); the
matrix closes each electrode's ``route`` before a drive and opens everything in the safe state.
Several output electrodes may share one voltmeter channel through the matrix (each with its own
route): they are read one after another, each route closed, ``switch_settle_s`` waited, read and
opened again, after the other channels of the step, so each costs a settling time, a round trip
and an aperture, and is read that much later than the one before it. Sources never share a
channel, and no crosspoint serves two electrodes.

Sequences run in ``"step"`` mode, with the reading time of every backend (:mod:`hardware.device`):
each step's reading at the **end of its hold**. The levels of step 0 are set first; then, at the
end of each sample period (``k * dt_s`` after the start on the ``clock``), every instrument is
read (one query each, both channels of a 2600B in one TSP chunk) and only then are the next
step's levels set (one write each), so no reading sees a level of the next step. With a single
instrument the reading and the next levels share one exchange. The readings of a step take a
time ``R`` (each instrument's round trip and aperture, one instrument after another); the sample
period stays ``dt_s``, so every level is held ``dt_s`` (the first ``R`` longer) and its readings
span the last ``R`` of its hold. This is the simulated backends' reading time when ``R`` is small
against ``dt_s``; how much it moves the readings of a given bench is what ``nwhil lab rehearse``
measures (a bench that needs simultaneous readings must wire trigger lines, which is outside
this driver). ``"list"`` mode uses the instrument's buffered
sweep (per point: source, wait ``dt_s``, read: also at the end of the hold) and is allowed only
when every sourced electrode sits on one SMU channel (single-input experiments with a grounded
counter electrode on a 2450 or a 2600B).

An address ending in ``::SOCKET`` (a raw LAN socket, as the virtual bench of
:mod:`hardware.virtual` serves) is opened with ``\n`` read and write terminations, which a raw
socket needs.

Safe state: an instrument whose session is out of sync (an exchange failed or was cut) is
reconnected first and its queued errors are logged; the source levels are read back and ramped
to 0 V (:func:`hardware._instrument.ramp_to_zero`), every SMU output is switched off and every
matrix crosspoint opened; then each electrode's output state and source level are read back, and
:class:`~hardware.errors.SafeStateError` names the electrodes that disagree.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hardware._checks import check_choice, check_int, check_real
from hardware._instrument import ramp_to_zero
from hardware.clock import Clock, WallClock
from hardware.device import Device, ElectrodeChannel, Readings
from hardware.drivers import Keithley707B, Smu2450, Smu2600
from hardware.errors import (
    HardwareValidationError,
    InstrumentConnectionError,
    InstrumentError,
    SafeStateError,
)

__all__ = ["DRIVERS", "SOURCE_RANGES", "LabDevice", "is_shared_ground", "load_channel_map"]

log = logging.getLogger(__name__)

#: Driver registry of the channel map.
DRIVERS: dict[str, type] = {"keithley2450": Smu2450, "keithley2600": Smu2600, "keithley707b": Keithley707B}
_INSTR_KEYS = {"driver", "address"}
_EL_KEYS = {"name", "role", "smu", "channel", "route", "max_abs_V", "compliance_A"}


#: Largest source voltage (V) and current limit (A) of a channel of each SMU driver.
SOURCE_RANGES: dict[str, tuple[float, float]] = {
    "keithley2450": (210.0, 1.05),
    "keithley2600": (202.0, 1.515),
}


def is_shared_ground(el: Mapping[str, Any]) -> bool:
    """Whether a channel-map electrode is a ground wired to the bench's common ground (no SMU)."""
    return el.get("role") == "ground" and el.get("smu") is None


def _check_routes(cm: dict[str, Any]) -> None:
    """Routes exist exactly when the map has a matrix, and no crosspoint serves two electrodes."""
    has_matrix = any(s["driver"] == "keithley707b" for s in cm["instruments"].values())
    wired = [e for e in cm["electrodes"] if e.get("role") != "floating" and not is_shared_ground(e)]
    if not has_matrix:
        routed = [e.get("name") for e in cm["electrodes"] if e.get("route")]
        if routed:
            raise HardwareValidationError(
                f"electrode(s) {', '.join(map(repr, routed))} have a route but the map has no switch "
                "matrix (keithley707b) to close it")
        return
    owner: dict[str, str] = {}
    for e in wired:
        if not e.get("route"):
            raise HardwareValidationError(
                f"electrode {e.get('name')!r} has no route through the switch matrix: it would never be "
                "connected")
        for cp in e["route"]:
            if cp in owner:
                raise HardwareValidationError(
                    f"electrode {e.get('name')!r}: crosspoint {cp!r} is also on the route of electrode "
                    f"{owner[cp]!r}; closing it would connect the two")
            owner[cp] = e.get("name")


def load_channel_map(channel_map: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read and validate a channel map (see the module docstring)."""
    if isinstance(channel_map, (str, Path)):
        p = Path(channel_map)
        if not p.is_file():
            raise HardwareValidationError(f"channel map file {str(p)!r} not found")
        try:
            cm = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise HardwareValidationError(f"channel map {str(p)!r} is not valid JSON: {exc}") from None
    else:
        cm = dict(channel_map)
    extra = set(cm) - {"instruments", "electrodes"}
    if extra or "instruments" not in cm or "electrodes" not in cm:
        raise HardwareValidationError(
            f"channel map must have exactly the keys 'instruments' and 'electrodes', got {sorted(cm)}")
    for name, spec in cm["instruments"].items():
        bad = set(spec) - _INSTR_KEYS
        if bad or "driver" not in spec:
            raise HardwareValidationError(
                f"instrument {name!r}: keys must be {sorted(_INSTR_KEYS)}, got {sorted(spec)}")
        check_choice(f"instruments.{name}.driver", spec["driver"], DRIVERS)
    for el in cm["electrodes"]:
        bad = set(el) - _EL_KEYS
        if bad:
            raise HardwareValidationError(f"electrode {el.get('name')!r}: unknown keys {sorted(bad)}")
        smu = el.get("smu")
        if is_shared_ground(el):
            if el.get("route") or el.get("channel") is not None:
                raise HardwareValidationError(
                    f"electrode {el.get('name')!r}: a ground without an SMU channel is wired to the bench's "
                    "common ground: it takes no channel and no route")
            continue
        if el.get("role") != "floating":
            if smu not in cm["instruments"] or cm["instruments"][smu]["driver"] == "keithley707b":
                raise HardwareValidationError(
                    f"electrode {el.get('name')!r}: smu must name an SMU instrument of the map, got {smu!r}")
            drv = cm["instruments"][smu]["driver"]
            ch = el.get("channel")
            if drv == "keithley2600" and ch not in ("a", "b"):
                raise HardwareValidationError(f"electrode {el.get('name')!r}: channel must be 'a' or 'b' "
                                              f"on a keithley2600, got {ch!r}")
            if drv == "keithley2450" and ch is not None:
                raise HardwareValidationError(f"electrode {el.get('name')!r}: channel must be null on a "
                                              f"keithley2450, got {ch!r}")
    _check_routes(cm)
    for el in cm["electrodes"]:
        if el.get("role") == "floating" or is_shared_ground(el):
            continue
        drv = cm["instruments"][el["smu"]]["driver"]
        max_V, max_A = SOURCE_RANGES[drv]
        for key, top, unit in (("max_abs_V", max_V, "V"), ("compliance_A", max_A, "A")):
            value = el.get(key)
            if value is None:
                continue
            try:
                ok = not isinstance(value, bool) and 0 < float(value) <= top
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise HardwareValidationError(
                    f"electrode {el.get('name')!r}: {key} must be in (0, {top!r}] {unit} (the {drv}'s "
                    f"range), got {value!r}")
    shared: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for e in cm["electrodes"]:
        if e.get("role") != "floating" and not is_shared_ground(e):
            shared.setdefault((e["smu"], e.get("channel")), []).append(e)
    has_matrix = any(s["driver"] == "keithley707b" for s in cm["instruments"].values())
    for (smu, ch), els in shared.items():
        if len(els) > 1 and not (has_matrix and all(e["role"] == "output" for e in els)):
            raise HardwareValidationError(
                f"channel map assigns one SMU channel ({smu}{'' if ch is None else '/' + ch}) to "
                f"electrodes {', '.join(repr(e['name']) for e in els)}: only output electrodes may share "
                "one (a voltmeter multiplexed through the switch matrix)")
    return cm


class LabDevice(Device):
    """A multi-electrode device on a bench of Keithley SMUs and a 707B matrix.

    Parameters
    ----------
    channel_map : str, Path or mapping
        See the module docstring.
    adapters : mapping name -> pymeasure Adapter or address, optional
        Override the address of instruments (tests pass PyMeasure protocol adapters).
    mode : {"step", "list"}
    ramp_steps : int
        Steps of the ramp to 0 V in the safe state.
    ramp_pause_s : float
        Pause between ramp steps in seconds.
    pace : bool
        Pace steps to ``dt_s`` on ``clock`` (off for protocol tests: each hold then lasts one exchange).
    visa_library : str
        PyVISA backend for addresses (``"@py"``; a pyvisa-sim YAML path ends in ``"@sim"``).
    compliance_policy : {"raise", "record"}
    clock : Clock, optional
        What paces the steps (``now()``, ``sleep(s)``): the host's :class:`~hardware.clock.WallClock`
        by default; a virtual bench passes its :class:`~hardware.clock.SimulatedClock`.
    relax_s : float
        What :meth:`~hardware.Device.reset` does after the safe state: wait this long (s, >= 0) on
        ``clock`` for the junctions to relax at 0 V. A bench cannot restore junction states; this
        is the relaxation a ``SimulatedDevice(reset_mode="relax", relax_time_s=relax_s)`` models.
    switch_settle_s : float
        Wait after closing a multiplexed electrode's route before reading it (s, >= 0; matrix
        relays take milliseconds to settle).
    """

    _abort_on_signals = True  # SIGTERM inside apply/read reaches the safe state (hardware.device)

    def __init__(self, channel_map: str | Path | Mapping[str, Any], *,
                 adapters: Mapping[str, Any] | None = None,
                 mode: str = "step", ramp_steps: int = 10, ramp_pause_s: float = 0.01, pace: bool = True,
                 visa_library: str = "@py", compliance_policy: str = "raise",
                 clock: Clock | None = None, relax_s: float = 0.0, switch_settle_s: float = 5e-3) -> None:
        cm = load_channel_map(channel_map)
        els = [ElectrodeChannel(e["name"], e["role"], e.get("max_abs_V", 1.0), e.get("compliance_A", 1e-3))
               for e in cm["electrodes"] if not is_shared_ground(e)]
        #: Ground electrodes on the bench's common ground: held at 0 V by the wiring, not read.
        self.shared_ground = tuple(e["name"] for e in cm["electrodes"] if is_shared_ground(e))
        super().__init__(els, compliance_policy=compliance_policy)
        self.mode = check_choice("mode", mode, ("step", "list"))
        self.ramp_steps = check_int("ramp_steps", ramp_steps, low=1)
        self.ramp_pause_s = check_real("ramp_pause_s", ramp_pause_s, low=0.0)
        self.relax_s = check_real("relax_s", relax_s, low=0.0)
        self.switch_settle_s = check_real("switch_settle_s", switch_settle_s, low=0.0)
        self.pace = bool(pace)
        self.clock: Clock = WallClock() if clock is None else clock
        self.channel_map = cm
        self._spec = {e["name"]: e for e in cm["electrodes"]}
        #: The channels of every SMU that the map uses (a drive switches on those alone).
        self._used_channels: dict[str, list[str | None]] = {}
        for e in cm["electrodes"]:
            if e.get("role") != "floating" and not is_shared_ground(e):
                used = self._used_channels.setdefault(e["smu"], [])
                if e.get("channel") not in used:
                    used.append(e.get("channel"))
        self._routes_closed = False
        self._found_on: list[tuple[Any, str | None, float]] = []  # channels found on at set-up
        groups: dict[tuple[str, str | None], list[str]] = {}
        for e in cm["electrodes"]:
            if e.get("role") == "output":
                groups.setdefault((e["smu"], e.get("channel")), []).append(e["name"])
        #: Output electrodes multiplexed onto one voltmeter channel: ``(smu, channel) -> names``.
        self.multiplexed = {k: v for k, v in groups.items() if len(v) > 1}
        self._muxed = {n for names in self.multiplexed.values() for n in names}
        self.instruments: dict[str, Any] = {}
        adapters = dict(adapters or {})
        try:
            for name, spec in cm["instruments"].items():
                target = adapters.get(name, spec.get("address"))
                kwargs = {} if name in adapters else {"visa_library": visa_library}
                if isinstance(target, str) and target.upper().endswith("::SOCKET"):
                    kwargs.update(read_termination="\n", write_termination="\n", tcp_nodelay=True)
                self.instruments[name] = DRIVERS[spec["driver"]](target, **kwargs)
        except InstrumentError:
            raise
        except Exception as exc:
            raise InstrumentConnectionError(f"cannot open instrument {name!r}: {exc}") from exc
        if self.mode == "list" and (self.n_inputs != 1 or self.output_names or self.ground_names):
            raise HardwareValidationError(
                "mode='list' needs exactly one input electrode and no output/ground SMU channels (a two-"
                "terminal device with the counter electrode on the SMU's LO terminal); use mode='step'")
        try:
            self._setup()
        except BaseException:
            for inst in self.instruments.values():
                inst.session.close()
            raise

    def _smus(self) -> dict[str, Any]:
        return {k: v for k, v in self.instruments.items() if not isinstance(v, Keithley707B)}

    def _setup(self) -> None:
        for inst in self.instruments.values():
            inst.check_errors_raise()
        on, left = self._left_sourcing()
        if left:
            # configuring sets every level to 0 V at once: ramp whatever was left on down first
            log.warning("%s: found %s at set-up (left by an earlier session); ramping to 0 V and "
                        "switching off before configuring", type(self).__name__, "; ".join(left))
            self._found_on = on
            try:
                self.safe_state()  # Ctrl-C and SIGTERM wait until the bench is safe
            finally:
                self._found_on = []
        matrix = [v for v in self.instruments.values() if isinstance(v, Keithley707B)]
        for m in matrix:
            m.open_all()
        for e in self.electrodes:
            if e.role == "floating":
                continue
            spec = self._spec[e.name]
            smu = self.instruments[spec["smu"]]
            smu.configure(spec.get("channel"), "measure_v" if e.role == "output" else "source_v",
                          e.compliance_A, e.max_abs_V)
        self._connect()
        for inst in self.instruments.values():
            inst.check_errors_raise()

    def _left_sourcing(self) -> tuple[list[tuple[Any, str | None, float]], list[str]]:
        """What the instruments hold before set-up: ``(on, found)``, every channel whose output is on
        (any channel, used by the map or not, as ``(smu, channel, voltage level)``) and a
        description of it and of every source channel of the map at a level other than 0 V."""
        on, found = [], []
        for name, smu in self._smus().items():
            for ch in smu.channel_names:
                chan = smu.channel(ch)
                if chan.output_enabled:
                    label = f"{name}{'' if ch is None else '/' + ch}"
                    v = self._level(chan, label)
                    on.append((smu, ch, v))
                    found.append(f"output on at {label} ({v!r} V)")
        for e, chan, label in self._sources():
            if e.role != "output":
                v = self._level(chan, label)
                if v != 0.0:
                    found.append(f"source level {v!r} V on {label}")
        return on, found

    def _ramp_left_on(self, on: list[tuple[Any, str | None, float]]) -> None:
        """Ramp the voltage level of every channel in ``on`` to 0 V, whatever the map uses it for
        (a channel left as a current source ignores it)."""

        def set_levels(levels_V: np.ndarray) -> None:
            for (smu, ch, _), v in zip(on, levels_V, strict=True):
                smu.set_levels_raw({ch: float(v)})

        ramp_to_zero(np.array([v for _, _, v in on]), set_levels, steps=self.ramp_steps,
                     pause_s=self.ramp_pause_s, sleep=self.clock.sleep)

    def _connect(self) -> None:
        """Close every electrode's route (the safe state opens the matrix; a drive closes it again)."""
        if self._routes_closed:
            return
        routes = [c for e in self.electrodes if e.name not in self._muxed
                  for c in self._spec[e.name].get("route", [])]
        for m in self.instruments.values():
            if isinstance(m, Keithley707B):
                m.close_channels(routes)
        self._routes_closed = True

    def _levels(self, v_inputs: np.ndarray | None) -> dict[str, dict[str | None, float | None]]:
        per: dict[str, dict[str | None, float | None]] = {}
        j = 0
        for e in self.electrodes:
            if e.role == "floating" or e.name in self._muxed:  # multiplexed ones are read apart
                continue
            spec = self._spec[e.name]
            level: float | None
            if e.role == "input":
                level = 0.0 if v_inputs is None else float(v_inputs[j])
                j += 1
            elif e.role == "ground":
                level = 0.0
            else:
                level = None
            per.setdefault(spec["smu"], {})[spec.get("channel")] = level
        return per

    def _one_step(self, v: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """Set ``v`` and read at once (one set-and-measure exchange per instrument)."""
        return self._read_all(self._levels(v), "step")

    def _read_then_set(self, next_levels: dict[str, dict[str | None, float | None]]
                       ) -> tuple[np.ndarray, ...]:
        """Read every channel now, then set ``next_levels`` (one exchange per instrument)."""
        return self._read_all(next_levels, "measure")

    def _read_all(self, levels: dict[str, dict[str | None, float | None]], exchange: str
                  ) -> tuple[np.ndarray, ...]:
        """One ``exchange`` (the drivers' ``step`` or ``measure``) per instrument with ``levels``,
        then each multiplexed output electrode in turn (route closed, settled, read, opened)."""
        out: dict[str, tuple[float, float, bool]] = {}
        for smu_name, lv in levels.items():
            for ch, val in getattr(self.instruments[smu_name], exchange)(lv).items():
                out[f"{smu_name}/{ch}"] = val
        for (smu_name, ch), names in self.multiplexed.items():
            for name in names:
                out[name] = self._read_multiplexed(smu_name, ch, name)
        return self._row(out)

    def _read_multiplexed(self, smu_name: str, ch: str | None, name: str) -> tuple[float, float, bool]:
        route = list(self._spec[name]["route"])
        matrix = [m for m in self.instruments.values() if isinstance(m, Keithley707B)]
        for m in matrix:
            m.close_channels(route)
        self.clock.sleep(self.switch_settle_s)
        try:
            return self.instruments[smu_name].measure({ch: None})[ch]
        finally:
            for m in matrix:
                m.open_channels(route)

    def _set_all(self, levels: dict[str, dict[str | None, float | None]]) -> None:
        for smu_name, lv in levels.items():
            self.instruments[smu_name].set_levels(lv)

    def _row(self, out: dict[str, tuple[float, float, bool]]) -> tuple[np.ndarray, ...]:
        key = {e.name: e.name if e.name in self._muxed else
               f"{self._spec[e.name]['smu']}/{self._spec[e.name].get('channel')}"
               for e in self.electrodes if e.role != "floating"}
        vin = np.array([out[key[n]][0] for n in self.input_names])
        iin = np.array([out[key[n]][1] for n in self.input_names])
        comp = np.array([out[key[n]][2] for n in self.input_names])
        vout = np.array([out[key[n]][0] for n in self.output_names])
        ignd = np.array([out[key[n]][1] for n in self.ground_names])
        gcomp = np.array([out[key[n]][2] for n in self.ground_names], dtype=bool)
        return vin, vout, iin, ignd, comp, gcomp

    def _outputs(self, on: bool) -> None:
        if on:
            self._connect()
        for name, smu in self._smus().items():
            self._switch(smu, name, on)

    def _switch(self, smu: Any, name: str, on: bool) -> None:
        """Switch the outputs of SMU ``name``: on, only the channels the map uses; off, every one."""
        smu.outputs(on, self._used_channels.get(name, []) if on else None)

    def _apply(self, voltages_V: np.ndarray, dt_s: float) -> Readings:
        n = voltages_V.shape[0]
        self._outputs(True)
        if self.mode == "list":
            (name,) = self.input_names
            spec = self._spec[name]
            smu = self.instruments[spec["smu"]]
            args = (voltages_V[:, 0], dt_s) if spec.get("channel") is None else (
                voltages_V[:, 0], dt_s, spec["channel"])
            vi = smu.run_list(*args)
            smu.check_errors_raise()
            z = np.zeros((n, 0))
            return Readings(input_V=vi[:, :1], output_V=z, input_current_A=vi[:, 1:2], ground_current_A=z)
        rows = []
        levels = [self._levels(voltages_V[k]) for k in range(n)]
        hold = {smu: dict.fromkeys(lv) for smu, lv in levels[0].items()}  # read, set nothing
        one = len(hold) == 1  # one instrument reads and sets in one exchange
        self._set_all(levels[0])
        t_start = self.clock.now()
        for k in range(n):
            if self.pace:  # the end of hold k
                self.clock.sleep(t_start + (k + 1) * dt_s - self.clock.now())
            nxt = levels[k + 1] if k + 1 < n else None
            rows.append(self._read_then_set(nxt if one and nxt is not None else hold))
            if nxt is not None and not one:  # every instrument read before any level changes
                self._set_all(nxt)
        for smu in self._smus().values():
            smu.check_errors_raise()
        vin, vout, iin, ignd, comp, gcomp = (np.array([r[i] for r in rows]) for i in range(6))
        return Readings(input_V=vin, output_V=vout.reshape(n, -1), input_current_A=iin,
                        ground_current_A=ignd.reshape(n, -1), compliance=comp,
                        ground_compliance=gcomp.reshape(n, -1))

    def _read(self) -> Readings:
        vin, vout, iin, ignd, comp, gcomp = self._one_step(self.bias_V)
        return Readings(input_V=vin[None], output_V=vout[None], input_current_A=iin[None],
                        ground_current_A=ignd[None], compliance=comp[None], ground_compliance=gcomp[None])

    def _reset(self) -> None:
        # A bench cannot restore junction states: the safe state leaves the sources at 0 V with the
        # outputs off, and the junctions relax for relax_s (and for as long as the caller waits).
        self.safe_state()  # Ctrl-C and SIGTERM wait until it has finished
        self.clock.sleep(self.relax_s)

    @property
    def n_reconnects(self) -> int:
        """Reconnects of the instruments' sessions (made by the safe state)."""
        return sum(inst.session.n_reconnects for inst in self.instruments.values())

    def _sources(self) -> list[tuple[ElectrodeChannel, Any, str]]:
        """``(electrode, SMU channel, label)`` of every electrode on an SMU channel."""
        out = []
        for e in self.electrodes:
            if e.role == "floating":
                continue
            spec = self._spec[e.name]
            ch = spec.get("channel")
            label = f"{e.name} ({spec['smu']}{'' if ch is None else '/' + ch})"
            out.append((e, self.instruments[spec["smu"]].channel(ch), label))
        return out

    @staticmethod
    def _level(chan: Any, label: str) -> float:
        v = chan.source_voltage
        if not isinstance(v, float):
            raise InstrumentConnectionError(f"malformed source-level reply {v!r} from {label}")
        return v

    def _resync(self, failed: dict[str, Exception], names: set[str] | None = None) -> None:
        """Reconnect every instrument (of ``names``) whose session is out of sync; log the errors it had
        queued. An instrument that cannot be reached goes into ``failed`` (name: reason)."""
        for name, inst in self.instruments.items():
            if (names is not None and name not in names) or name in failed or inst.session.in_sync:
                continue
            log.warning("%s: session out of sync (an exchange failed or was cut); reconnecting for the "
                        "safe state", name)
            try:
                # the reconnect counts only once the instrument answers (a socket may open with
                # nothing behind it)
                queued = inst.session.reconnect(resume=inst.session.check_errors)
                for code, text in queued:
                    log.warning("%s: error queued before the reconnect: %d %s", name, code, text)
            except Exception as exc:  # recorded; the other instruments still go safe
                failed[name] = exc

    def _ramp_and_switch_off(self, failed: dict[str, Exception], names: set[str] | None = None) -> None:
        """Ramp every source (of the instruments ``names``) to 0 V together, switch the outputs off and
        open the matrix, handling each instrument on its own: one that fails goes into ``failed`` and
        is left out of the rest, and every other one is still ramped and switched off. An instrument
        whose ramp failed, or whose level could not be read, is still switched off."""

        def wanted(name: str) -> bool:
            return (names is None or name in names) and name not in failed

        def attempt(name: str, action: Any) -> None:
            try:
                action()
            except Exception as exc:  # recorded; the other instruments still go safe
                failed.setdefault(name, exc)

        sourced, start = [], []
        level_failed: set[str] = set()
        for e, chan, label in self._sources():
            smu = self._spec[e.name]["smu"]
            if e.role == "output" or not wanted(smu):
                continue
            try:
                start.append(self._level(chan, label))
            except Exception as exc:  # recorded; the other instruments still go safe
                failed.setdefault(smu, exc)
                level_failed.add(smu)
                continue
            sourced.append(e)
        ramped = set(failed)

        def set_levels(levels_V: np.ndarray) -> None:
            per: dict[str, dict[str | None, float]] = {}
            for e, v in zip(sourced, levels_V, strict=True):
                spec = self._spec[e.name]
                per.setdefault(spec["smu"], {})[spec.get("channel")] = float(v)
            for smu_name, levels in per.items():
                if smu_name not in failed:
                    smu = self.instruments[smu_name]
                    attempt(smu_name, lambda smu=smu, lv=levels: smu.set_levels_raw(lv))

        ramp_to_zero(np.array(start), set_levels, steps=self.ramp_steps, pause_s=self.ramp_pause_s,
                     sleep=self.clock.sleep)
        # off even where the ramp failed (an instrument that refused a ramp level may still obey this)
        ramp_failed = (set(failed) - ramped) | level_failed
        for name, smu in self._smus().items():
            if wanted(name) or name in ramp_failed:
                attempt(name, lambda smu=smu, name=name: self._switch(smu, name, False))
        for name, m in self.instruments.items():
            if isinstance(m, Keithley707B) and wanted(name):
                attempt(name, m.open_all)
        self._routes_closed = False

    def _verify_safe_state(self, failed: dict[str, Exception]) -> None:
        """Read every output state and source level back; raise SafeStateError naming what disagrees,
        and every instrument that could not be made safe or read (``failed``)."""
        on, wrong = [], []
        for e, chan, label in self._sources():
            smu = self._spec[e.name]["smu"]
            if smu in failed:
                continue
            try:
                if chan.output_enabled:
                    on.append(label)
                if e.role != "output":
                    v = self._level(chan, label)
                    if v != 0.0:
                        wrong.append(f"source level {v!r} V on {label}")
            except Exception as exc:  # reported below with the others
                failed.setdefault(smu, exc)
        for name, smu in self._smus().items():  # the channels no electrode uses are off too
            if name in failed:
                continue
            for ch in smu.channel_names:
                if ch in self._used_channels.get(name, []):
                    continue
                try:
                    if smu.channel(ch).output_enabled:
                        on.append(f"unused channel {name}{'' if ch is None else '/' + ch}")
                except Exception as exc:  # reported below with the others
                    failed.setdefault(name, exc)
        for name, m in self.instruments.items():  # the matrix's crosspoints are open
            if isinstance(m, Keithley707B) and name not in failed:
                try:
                    closed = m.closed_channels
                except Exception as exc:  # reported below with the others
                    failed.setdefault(name, exc)
                    continue
                if closed:
                    wrong.append(f"crosspoints {', '.join(closed)} still closed on {name}")
        if on:
            wrong.insert(0, f"output still ON on {', '.join(on)}")
        if not (wrong or failed):
            return
        what = []
        if wrong:
            expected = "every output off and every source at 0 V"
            if any(isinstance(m, Keithley707B) for m in self.instruments.values()):
                expected += ", every crosspoint open"
            what.append(f"read back {'; '.join(wrong)} (expected {expected})")
        if failed:
            labels = {name: [lb for e, _, lb in self._sources() if self._spec[e.name]["smu"] == name]
                      for name in failed}
            causes = [f"{name} ({', '.join(labels[name]) or 'switch matrix'}): {type(why).__name__}: {why}"
                      for name, why in failed.items()]
            what.append(f"could not make safe or read back {'; '.join(causes)} (it may still be sourcing)")
            reached = [name for name in self.instruments if name not in failed]
            if reached:
                what.append(f"the others ({', '.join(reached)}) were ramped, switched off and read back")
        lost = all(isinstance(exc, InstrumentConnectionError) for exc in failed.values())
        err = InstrumentConnectionError if failed and lost and not wrong else SafeStateError
        raise err(f"{type(self).__name__}: safe state not reached: {'; '.join(what)}")

    def _safe_state(self) -> None:
        if self._found_on:  # at set-up: the channels found on, whatever they are used for, first
            try:
                self._ramp_left_on(self._found_on)
            except Exception as exc:  # the safe state below still switches every channel off
                log.warning("%s: ramping the channels found on failed (%s: %s); switching off",
                            type(self).__name__, type(exc).__name__, exc)
        failed: dict[str, Exception] = {}
        self._resync(failed)
        self._ramp_and_switch_off(failed)
        if failed:  # once more on fresh sessions, for the instruments that failed
            log.warning("%s: safe state failed on %s; reconnecting those", type(self).__name__,
                        "; ".join(f"{k} ({v})" for k, v in failed.items()))
            retry = set(failed)
            failed = {}
            self._resync(failed, retry)  # the sessions that a failure left out of sync
            self._ramp_and_switch_off(failed, retry)
        self._verify_safe_state(failed)

    def _close(self) -> None:
        for inst in self.instruments.values():
            inst.session.close()  # a failure to close is logged by the session

    def _metadata(self) -> dict[str, Any]:
        return {"channel_map": self.channel_map, "mode": self.mode}
