"""A virtual bench: the instruments of a channel map, in their own dialects, wired to a simulated device.

:class:`VirtualBench` builds, from a device file (or an :class:`nwphys.NanowireNetwork`) and a
channel map of :class:`~hardware.LabDevice`, one virtual instrument per instrument of the map
(Keithley 2450, 2600B, 707B; :mod:`hardware.virtual`), serves each on its own loopback TCP port and
rewrites the map's addresses to them (``TCPIP::127.0.0.1::<port>::SOCKET``). The unmodified
drivers and :class:`~hardware.LabDevice` then run the experiment, through pyvisa-py, against
:class:`~hardware.SimulatedDevice` physics.

Wiring. Each electrode of the map is wired to its SMU channel, through the matrix crosspoints of
its ``route`` when the map has a 707B. An electrode with role ``input`` or ``ground`` is a source
in the physics (a ground without an SMU, on the bench's common ground, always at 0 V); one with
role ``output`` is read as a voltmeter (no current); ``floating`` electrodes and electrodes the
map does not name float.

Time. The bench has one :class:`~hardware.clock.SimulatedClock`, shared by the host
(``LabDevice(clock=bench.clock)``, what :meth:`VirtualBench.lab_device` builds) and the
instruments. Every query costs its instrument's ``latency_s`` (the round trip the host waits
for); every reading costs its aperture, ``nplc / line_hz``, and starts no earlier than
``source_delay_s`` after its channel's level changed; the host's pacing waits advance it
too. A message without a reply takes effect at the time it was sent: before the clock moves (a
wait, or a query to any instrument) the bench lets every instrument execute what it was sent, so
the order of events on the clock is the order in which the host sent them. The physics advances by
exactly the time that passed on that clock, with the levels in effect over it, so host pacing,
the skew between instruments and the reading time show up in the data as they would on a bench.
:attr:`VirtualBench.clock` then reads the time the run would take on the bench (host computation
excepted: fold it into ``latency_s``).

Simplifications, each exact in the case named:

* a source whose output is off, or whose route is open, holds its electrode at 0 V (exact when
  every source of the bench is off, since no current can flow); a voltmeter reads the electrode
  whose route is closed (several output electrodes may share one through the matrix) and draws
  no current, so what it is connected to never changes the physics;
* a reading is the state at the end of its aperture, not its average over it (exact as the
  aperture goes to 0);
* compliance is flagged (``|I| >= limit``), not folded back (exact below the limit; the SCPI
  emulator, :mod:`hardware.scpi`, folds back).
"""

from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from hardware._checks import check_real
from hardware.backends.lab import is_shared_ground, load_channel_map
from hardware.clock import SimulatedClock
from hardware.errors import HardwareError, HardwareValidationError
from hardware.scpi._tcp import InstrumentServer
from hardware.virtual._instrument import SmuChannelState, VirtualInstrument

__all__ = ["DEFAULT_LATENCY_S", "DEFAULT_NPLC", "INSTRUMENTS", "VirtualBench"]

#: The virtual instrument of each driver of a channel map: ``driver -> (module, class)``.
INSTRUMENTS: dict[str, tuple[str, str]] = {
    "keithley2450": ("hardware.virtual.keithley2450", "Virtual2450"),
    "keithley2600": ("hardware.virtual.keithley2600", "Virtual2600"),
    "keithley707b": ("hardware.virtual.keithley707b", "Virtual707B"),
}

#: Default simulated cost of one message (s): a LAN round trip and the instrument's parsing.
DEFAULT_LATENCY_S = 1e-3
#: Default aperture of a reading in power-line cycles (the 2450's and the 2600B's default).
DEFAULT_NPLC = 1.0
#: The largest voltage the physics accepts on a source (V): the 2450's range; the drivers and
#: :class:`~hardware.LabDevice` enforce the electrodes' own limits before anything is sent.
_PHYSICS_MAX_ABS_V = 210.0


class VirtualBench:
    """The instruments of a channel map, served on loopback, wired to one simulated device.

    Parameters
    ----------
    network_or_path : NanowireNetwork or str or Path
        The device (an :mod:`nwphys` network or its device file).
    channel_map : str or Path or mapping
        A :class:`~hardware.LabDevice` channel map; its addresses are ignored (the bench serves its
        own). Electrode names must be electrodes of the device.
    latency_s : float
        Simulated time each message costs (>= 0), default :data:`DEFAULT_LATENCY_S`.
    nplc : float
        Aperture of a reading in power-line cycles (0.001 to 25), default :data:`DEFAULT_NPLC`.
    line_hz : float
        Power-line frequency (50 to 60).
    source_delay_s : float
        Source delay (>= 0): a reading never starts earlier than this after its channel's level
        changed (the instrument waits for the source to settle; a sweep's delay is its own).
    rtol, atol : float, optional
        Tolerances of the physics (:class:`~hardware.SimulatedDevice`; its defaults when None).

    Examples
    --------
    >>> with VirtualBench("device.h5", "bench.json") as bench:        # doctest: +SKIP
    ...     with bench.lab_device() as dev:
    ...         m = dev.apply(v, 0.1)
    ...     print(bench.clock.now(), "s on the bench")
    """

    def __init__(self, network_or_path: Any, channel_map: str | Path | dict[str, Any], *,
                 latency_s: float = DEFAULT_LATENCY_S, nplc: float = DEFAULT_NPLC, line_hz: float = 50.0,
                 source_delay_s: float = 0.0, rtol: float | None = None, atol: float | None = None) -> None:
        from hardware.backends.simulated import SimulatedDevice

        self.source_map = load_channel_map(channel_map)
        self.latency_s = check_real("latency_s", latency_s, low=0.0)
        self.nplc = check_real("nplc", nplc, low=1e-3, high=25.0)
        self.clock = SimulatedClock()
        self.clock.before_sleep = self.sync
        self.lock = threading.RLock()
        els = [e for e in self.source_map["electrodes"] if e.get("role", "floating") != "floating"]
        self._sourced = [e["name"] for e in els if e["role"] in ("input", "ground")]
        self._read = [e["name"] for e in els if e["role"] == "output"]
        if not self._sourced:
            raise HardwareValidationError(
                "channel map has no input or ground electrode: nothing drives the device")
        self.physics = SimulatedDevice(
            network_or_path, inputs=self._sourced, outputs=self._read, ground=(),
            max_abs_V=_PHYSICS_MAX_ABS_V, compliance_A=1e3, compliance_policy="record", rtol=rtol, atol=atol,
        )
        self._t_physics = 0.0
        self._last: dict[str, float] = {}
        self._levels = np.zeros(len(self._sourced))
        #: Closed matrix crosspoints (the 707B writes them).
        self.closed: set[str] = set()
        #: ``(time_s, channel key)`` of every reading taken, in order (the end of its aperture).
        self.reading_log: list[tuple[float, str]] = []
        self.instruments: dict[str, VirtualInstrument] = {}
        for name, spec in self.source_map["instruments"].items():
            if spec["driver"] not in INSTRUMENTS:
                raise HardwareValidationError(
                    f"instrument {name!r}: the virtual bench has no {spec['driver']!r}; it has "
                    f"{', '.join(sorted(INSTRUMENTS))}")
            module, cls_name = INSTRUMENTS[spec["driver"]]
            cls = getattr(importlib.import_module(module), cls_name)
            self.instruments[name] = cls(self, name, latency_s=self.latency_s, nplc=self.nplc,
                                         line_hz=line_hz, source_delay_s=source_delay_s)
        #: Ground electrodes on the bench's common ground (no SMU): always at 0 V.
        self.shared_ground = tuple(e["name"] for e in els if is_shared_ground(e))
        for e in els:
            if is_shared_ground(e):
                continue
            ch = self.instruments[e["smu"]].channel(e.get("channel"))
            ch.electrode = e["name"]
            ch.route = tuple(e.get("route", ()))
            ch.wiring.append((ch.electrode, ch.route))
        #: The channel of every sourced electrode that has one.
        self._source_channel = {
            e["name"]: self.instruments[e["smu"]].channel(e.get("channel"))
            for e in els if e["name"] in self._sourced and not is_shared_ground(e)
        }
        self.servers: dict[str, InstrumentServer] = {}

    # ------------------------------------------------------------------ serving
    def start(self) -> VirtualBench:
        """Serve every instrument on its own loopback port; returns self."""
        for name, inst in self.instruments.items():
            if name not in self.servers:
                driver = self.source_map["instruments"][name]["driver"]
                srv = InstrumentServer(inst, max_clients=2, max_line_bytes=1 << 20, block_timeout_s=2.0,
                                       name=f"virtual {driver} {name!r}")
                self.servers[name] = srv.start()
        return self

    def stop(self) -> None:
        """Stop every server (the instruments keep their state)."""
        for srv in self.servers.values():
            srv.stop()
        self.servers.clear()

    def __enter__(self) -> VirtualBench:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def channel_map(self) -> dict[str, Any]:
        """The channel map with each address replaced by its virtual instrument's (after :meth:`start`)."""
        if len(self.servers) != len(self.instruments):
            raise HardwareValidationError(
                "the virtual bench is not started: call start() or use it in a with block")
        cm = {"instruments": {}, "electrodes": [dict(e) for e in self.source_map["electrodes"]]}
        for name, spec in self.source_map["instruments"].items():
            cm["instruments"][name] = {"driver": spec["driver"], "address": self.servers[name].resource_name}
        return cm

    def sync(self, exclude: VirtualInstrument | None = None, timeout_s: float = 10.0) -> None:
        """Wait until every instrument (but ``exclude``) has executed every byte sent to it.

        Raises
        ------
        HardwareError
            Still busy after ``timeout_s`` seconds of real time.
        """
        deadline = time.monotonic() + timeout_s
        servers = [s for n, s in self.servers.items() if self.instruments[n] is not exclude]
        while not all(s.idle() for s in servers):
            if time.monotonic() > deadline:
                raise HardwareError(f"virtual bench: instruments still busy after {timeout_s} s")
            time.sleep(1e-4)

    def lab_device(self, **kwargs: Any) -> Any:
        """A :class:`~hardware.LabDevice` on this bench, paced by its simulated clock.

        Parameters
        ----------
        **kwargs
            Further :class:`~hardware.LabDevice` arguments (``mode``, ``ramp_steps``, ...).
        """
        from hardware.backends.lab import LabDevice

        kwargs.setdefault("clock", self.clock)
        return LabDevice(self.channel_map, **kwargs)

    # ------------------------------------------------------------------ physics, for the instruments
    def _routed(self, route: tuple[str, ...]) -> bool:
        """Whether every crosspoint of ``route`` is closed (an empty route always is)."""
        return self.closed.issuperset(route)


    def effective_levels(self) -> np.ndarray:
        """Voltage on every sourced electrode now (V): its level when sourcing, on and routed; else 0."""
        out = np.zeros(len(self._sourced))
        for k, name in enumerate(self._sourced):
            if name in self.shared_ground:
                continue
            ch = self._source_channel[name]
            if ch.function == "VOLT" and ch.output_on and self._routed(ch.route):
                out[k] = ch.level_V
        return out

    def advance(self) -> None:
        """Bring the physics to the clock's time under the levels in effect since it was last brought
        there (every instrument calls this before it changes a level, an output or a route)."""
        t = self.clock.now()
        dt = t - self._t_physics
        if dt <= 0.0:
            return
        m = self.physics.apply(self._levels[None, :], dt)
        self._t_physics = t
        self._last = {n: float(m.input_current_A[0, k]) for k, n in enumerate(self._sourced)}
        self._last.update({n: float(m.output_V[0, k]) for k, n in enumerate(self._read)})

    def levels_changed(self) -> None:
        """Take the instruments' present settings as the levels from now on (and note, per source
        channel, when its level last changed: its next reading waits out the source delay)."""
        new = self.effective_levels()
        now = self.clock.now()
        for k in np.flatnonzero(new != self._levels):
            name = self._sourced[k]
            if name not in self.shared_ground:
                self._source_channel[name].extra["changed_s"] = now
        self._levels = new

    def measure(self, ch: SmuChannelState) -> tuple[float, float]:
        """``(V, I)`` of channel ``ch`` at the clock's time (the physics brought there first).

        A source reads its programmed level and the current into its electrode; a voltmeter reads
        its electrode's voltage and 0 A. A channel whose output is off or whose route is open
        reads 0 A (a source) or 0 V (a voltmeter). The caller has taken changed settings in
        (:meth:`levels_changed`).
        """
        self.advance()
        self.reading_log.append((self.clock.now(), ch.key))
        live = ch.output_on and ch.electrode is not None and self._routed(ch.route)
        if ch.function == "VOLT":
            i = self._last.get(ch.electrode, 0.0) if live and ch.electrode in self._sourced else 0.0
            ch.tripped = bool(live and abs(i) >= ch.ilim_A)
            return ch.level_V, i
        connected = [name for name, route in ch.wiring if self._routed(route)]
        live = ch.output_on and bool(connected)
        # a voltmeter draws no current: which electrode it reads does not change the physics
        v = self._last.get(connected[0], 0.0) if live and connected[0] in self._read else 0.0
        ch.tripped = bool(live and abs(v) >= ch.vlim_V)
        return v, 0.0
