"""Instrument drivers for the bench: Keithley 2450 (SCPI), 2600B (TSP, two channels), 707B matrix.

The drivers are PyMeasure instruments. :class:`Smu2450` and :class:`Smu2600` subclass
:class:`~pymeasure.instruments.keithley.Keithley2450` and
:class:`~pymeasure.instruments.keithley.Keithley2600` (``id``, ``reset``, ``clear`` and the
other inherited settings); :class:`Keithley707B` (PyMeasure has no
707B driver) subclasses :class:`~pymeasure.instruments.Instrument`.

Declared with PyMeasure's property factories:

* each SMU channel is a :class:`~pymeasure.instruments.Channel` (:class:`Smu2450Channel`, made
  by ``Instrument.ChannelCreator``; :class:`Smu2600Channel` ``ch_a`` / ``ch_b``, made by
  ``Instrument.MultiChannelCreator``) with ``Instrument.control`` properties for its source level
  (``source_voltage``, sent exactly; the validator raises :class:`~hardware.errors.LimitError`
  outside the channel's configured range instead of clipping) and its output state
  (``output_enabled``, read back by the safe state);
* the 707B identification and closed crosspoints (``Instrument.measurement``).

Written as methods, because one PyMeasure property is one command and these are not:

* one *set-and-measure* exchange per instrument per step (:meth:`Smu2450.step`; both channels of
  a 2600B in one TSP chunk, :meth:`Smu2600.step`), so a step costs one round trip per
  instrument, not one per sample per channel;
* buffered list sweeps (2450 ``:SOUR:LIST:VOLT`` + ``:SOUR:SWE:VOLT:LIST``; 2600B
  ``smuX.trigger.source.listv`` into ``nvbuffer1/2``) for whole sequences on one instrument;
* the configuration of a channel as a source or a voltmeter (one message of several settings);
* opening and closing lists of 707B crosspoints.

Numbers are sent with ``repr`` (exact float64) rather than PyMeasure's ``%g``/``%f`` (6 digits).
Client-side limits are checked by :class:`~hardware.Device` before any of this runs; PyMeasure's
``truncated_range`` validators are never relied on for protection.

Each driver holds an :class:`~hardware._session.InstrumentSession` (``session``), which holds the
PyMeasure adapter (``adapter`` is the session's) and runs every exchange: PyMeasure's
communication methods (``write``, ``read``, ``ask`` and the ``values`` behind every property)
delegate to it. So every write, read and query runs with SIGINT and SIGTERM deferred: a query is
one transaction, Ctrl-C arrives after its reply was read and the session stays in sync for the
safe state. A buffered list sweep's data query waits for the whole sweep. A transaction that fails
(timeout, dropped connection, malformed reply) marks the session out of sync (``in_sync`` False;
raised as :class:`~hardware.errors.InstrumentConnectionError`); ``session.reconnect()`` opens a
fresh one to the same address. The error queue (``next_error``, :meth:`check_errors`) is read by
the session in the instrument's dialect: ``SYST:ERR?`` on the 2450, ``errorqueue.count`` /
``errorqueue.next()`` on the TSP instruments.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.keithley import Keithley2450, Keithley2600
from pymeasure.instruments.validators import strict_discrete_set

from ._session import InstrumentSession
from .errors import InstrumentConnectionError, LimitError

__all__ = ["Keithley707B", "Smu2450", "Smu2450Channel", "Smu2600", "Smu2600Channel", "SmuChannel"]

#: Channel modes: a voltage source with current compliance, or a voltmeter (sourcing 0 A).
SMU_MODES: tuple[str, ...] = ("source_v", "measure_v")


def _exact(value: Any) -> str:
    """A number as exact float64 text (``repr``; ``0.0``, never ``-0.0``)."""
    return repr(float(value) + 0.0)


def _within(value: Any, values: tuple[float, float]) -> float:
    """PyMeasure validator: ``value`` in volts inside ``[min, max]`` of ``values``, else LimitError."""
    v = float(value)
    lo, hi = min(values), max(values)
    if not lo <= v <= hi:  # NaN fails too
        raise LimitError(f"source_voltage must be in [{lo!r}, {hi!r}] V (the channel's range), got {value!r} "
                         "(nothing is clipped)")
    return v


def _on_off(reply: str) -> bool:
    """An output-state reply (``1``/``0``, ``1.00000e+00``, ``ON``/``OFF``) as a bool."""
    s = str(reply).strip().upper()
    if s in ("ON", "OFF"):
        return s == "ON"
    try:
        x = float(s)
    except ValueError:
        x = float("nan")
    if x not in (0.0, 1.0):
        raise InstrumentConnectionError(f"malformed output-state reply {str(reply)[:60]!r} (expected 0 or 1)")
    return x == 1.0


class _SessionDriver:
    """A PyMeasure instrument that holds an :class:`~hardware._session.InstrumentSession`.

    PyMeasure's communication methods delegate to :attr:`session`, which opens the address (or
    holds the adapter object) given to the constructor; :attr:`adapter` is the session's.
    """

    #: Dialect of the instrument's error queue (:data:`hardware._session.ERROR_QUEUES`).
    error_queue: ClassVar[str] = "scpi"
    session: InstrumentSession

    def __init__(self, adapter: Any, name: str, **kwargs: Any) -> None:
        visa_kwargs = {k: v for k, v in kwargs.items() if k != "includeSCPI"}
        self.session = InstrumentSession(adapter, name=name, error_queue=self.error_queue, **visa_kwargs)
        super().__init__(self.session.adapter, name, **kwargs)

    @property
    def adapter(self) -> Any:
        """The session's adapter (the transport)."""
        return self.session.adapter

    @adapter.setter
    def adapter(self, adapter: Any) -> None:
        if adapter is not self.session.adapter:
            raise AttributeError(f"{self.name}: the adapter is the session's (reopen it with "
                                 "session.reconnect())")

    @property
    def in_sync(self) -> bool:
        """Whether no exchange of the open session failed or was cut."""
        return self.session.in_sync

    def write(self, command: str, **kwargs: Any) -> None:
        """Write ``command`` (one transaction of the session)."""
        self.session.write(command, **kwargs)

    def write_bytes(self, content: bytes, **kwargs: Any) -> None:
        """Write raw bytes (one transaction of the session)."""
        self.session.write_bytes(content, **kwargs)

    def read(self, **kwargs: Any) -> str:
        """Read one reply (one transaction of the session)."""
        return self.session.read(**kwargs)

    def read_bytes(self, count: int, **kwargs: Any) -> bytes:
        """Read ``count`` bytes (one transaction of the session)."""
        return self.session.read_bytes(count, **kwargs)

    def ask(self, command: str, query_delay: float | None = None) -> str:
        """Write ``command`` and read its reply (one transaction of the session)."""
        return self.session.query(command, query_delay)

    def write_binary_values(self, command: str, values: Any, **kwargs: Any) -> None:
        """Write ``command`` and a binary block of ``values`` (one transaction of the session)."""
        self.session.write_binary_values(command, values, **kwargs)

    def read_binary_values(self, **kwargs: Any) -> Any:
        """Read a binary reply (one transaction of the session)."""
        return self.session.read_binary_values(**kwargs)

    def binary_values(self, command: str, query_delay: float | None = None, **kwargs: Any) -> Any:
        """Query binary values (one transaction of the session)."""
        return self.session.query_binary_values(command, query_delay, **kwargs)

    @property
    def next_error(self) -> tuple[int, str]:
        """``(code, text)`` of the next queued error; ``(0, "")`` when the queue is empty."""
        return self.session.next_error()

    def check_errors(self) -> list[tuple[int, str]]:
        """Drain the error queue; return ``[(code, text), ...]`` (empty when there were none)."""
        return self.session.check_errors()

    def check_errors_raise(self) -> None:
        """Drain the error queue; raise :class:`~hardware.errors.InstrumentError` with code and text."""
        self.session.raise_errors()


class Keithley707B(_SessionDriver, Instrument):
    """Keithley 707B switching matrix (TSP).

    Parameters
    ----------
    adapter : str or pymeasure Adapter
        VISA address or adapter.
    """

    error_queue = "tsp"

    def __init__(self, adapter: Any, name: str = "Keithley 707B Switch Matrix", **kwargs: Any) -> None:
        super().__init__(adapter, name, includeSCPI=False, **kwargs)

    id = Instrument.measurement("*IDN?", """Get the identification string.""", cast=str, maxsplit=0)

    closed_channels = Instrument.measurement(
        'print(channel.getclose("allslots"))', """Get the closed crosspoints (list of str).""",
        cast=str, maxsplit=0, get_process=lambda r: [] if r in ("", "nil") else r.split(";"))

    def open_all(self) -> None:
        """Open every crosspoint."""
        self.write('channel.open("allslots")')

    def close_channels(self, channels: Sequence[str]) -> None:
        """Close the crosspoints ``channels`` (e.g. ``["1A01", "1B02"]``)."""
        if channels:
            self.write(f'channel.close("{",".join(channels)}")')


class SmuChannel(Channel):
    """One SMU channel used as an input/ground source (``source_v``) or a voltmeter (``measure_v``).

    Subclasses declare ``source_voltage`` and ``output_enabled`` (``Instrument.control``) and
    write :meth:`_configure`.
    """

    mode = "source_v"

    def ask(self, command: str, query_delay: float | None = None) -> str:
        """Query through the instrument as one transaction (the id inserted into ``command``)."""
        return self.parent.ask(self.insert_id(command), query_delay)

    def configure(self, mode: str, compliance_A: float, max_abs_V: float) -> None:
        """Source voltage with current compliance (``source_v``) or source 0 A and read V (``measure_v``).

        Parameters
        ----------
        mode : {"source_v", "measure_v"}
        compliance_A : float
            Current compliance of a source in amperes.
        max_abs_V : float
            Source range (``source_v``) or voltage limit (``measure_v``) in volts; also the range
            of :attr:`source_voltage`.
        """
        strict_discrete_set(mode, SMU_MODES)
        self._configure(mode, float(compliance_A), float(max_abs_V))
        self.source_voltage_values = (-float(max_abs_V), float(max_abs_V))
        self.mode = mode

    def _configure(self, mode: str, compliance_A: float, max_abs_V: float) -> None:
        raise NotImplementedError


class Smu2450Channel(SmuChannel):
    """The one channel of a Keithley 2450."""

    source_voltage = Channel.control(
        ":SOUR:VOLT:LEV?", ":SOUR:VOLT:LEV %s",
        """Control the voltage source level in volts (sent exactly; LimitError outside the range).""",
        validator=_within, values=(-210.0, 210.0), set_process=_exact, dynamic=True)

    output_enabled = Channel.control(
        "OUTP?", "OUTP %s", """Control whether the output is on (bool).""",
        validator=strict_discrete_set, values=(True, False), set_process=lambda on: "ON" if on else "OFF",
        cast=str, get_process=_on_off)

    def _configure(self, mode: str, compliance_A: float, max_abs_V: float) -> None:
        if mode == "source_v":
            self.write(":SOUR:FUNC VOLT;:SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;"
                       f":SOUR:VOLT:RANG {max_abs_V!r};:SOUR:VOLT:ILIM {compliance_A!r};:SOUR:VOLT:LEV 0")
        else:
            self.write(":SOUR:FUNC CURR;:SENS:FUNC 'VOLT';:SENS:VOLT:RANG:AUTO 1;"
                       f":SOUR:CURR:VLIM {max_abs_V!r};:SOUR:CURR:LEV 0")


class Smu2600Channel(SmuChannel):
    """Channel ``a`` or ``b`` of a Keithley 2600B (TSP; ``{ch}`` is the channel letter)."""

    source_voltage = Channel.control(
        "print(smu{ch}.source.levelv)", "smu{ch}.source.levelv=%s",
        """Control the voltage source level in volts (sent exactly; LimitError outside the range).""",
        validator=_within, values=(-200.0, 200.0), set_process=_exact, dynamic=True)

    output_enabled = Channel.control(
        "print(smu{ch}.source.output)", "smu{ch}.source.output=%d",
        """Control whether the output is on (bool).""",
        validator=strict_discrete_set, values=(True, False), set_process=int, cast=str, get_process=_on_off)

    def _configure(self, mode: str, compliance_A: float, max_abs_V: float) -> None:
        if mode == "source_v":
            self.write("smu{ch}.source.func=smu{ch}.OUTPUT_DCVOLTS "
                       f"smu{{ch}}.source.rangev={max_abs_V!r} smu{{ch}}.source.limiti={compliance_A!r} "
                       "smu{ch}.measure.autorangei=smu{ch}.AUTORANGE_ON smu{ch}.source.levelv=0")
        else:
            self.write("smu{ch}.source.func=smu{ch}.OUTPUT_DCAMPS smu{ch}.source.leveli=0 "
                       f"smu{{ch}}.source.limitv={max_abs_V!r} "
                       "smu{ch}.measure.autorangev=smu{ch}.AUTORANGE_ON")


class _Smu:
    """What :class:`~hardware.lab.LabDevice` uses of an SMU, in terms of its channels."""

    def channel(self, channel: str | None) -> SmuChannel:
        """The channel ``channel`` (``None`` on a single-channel instrument)."""
        raise NotImplementedError

    def configure(self, channel: str | None, mode: str, compliance_A: float, max_abs_V: float) -> None:
        """Configure one channel; see :meth:`SmuChannel.configure`."""
        self.channel(channel).configure(mode, compliance_A, max_abs_V)

    def set_levels_raw(self, levels: dict[str | None, float]) -> None:
        """Set source levels in volts without reading (used by the ramp to 0 V)."""
        for ch, v in sorted(levels.items(), key=lambda kv: str(kv[0])):
            self.channel(ch).source_voltage = v


class Smu2450(_Smu, _SessionDriver, Keithley2450):
    """Keithley 2450 with exact set-and-measure and a buffered list sweep."""

    n_channels = 1

    ch = Instrument.ChannelCreator(Smu2450Channel)

    def __init__(self, adapter: Any, name: str = "Keithley 2450 SourceMeter", **kwargs: Any) -> None:
        super().__init__(adapter, name, **kwargs)

    def channel(self, channel: str | None) -> SmuChannel:
        """The one channel (``channel`` must be None)."""
        if channel is not None:
            raise LookupError(f"a keithley2450 has one channel (None), got {channel!r}")
        return self.ch

    def step(self, levels: dict[str | None, float | None]) -> dict[str | None, tuple[float, float, bool]]:
        """Set the level (None = voltmeter) and read; returns ``{channel: (V, I, compliance)}``."""
        level = levels[None]
        if level is None:
            v = self.session.query_floats(':READ? "defbuffer1",READ', 1, "READ?")[0]
            return {None: (v, 0.0, False)}
        reply = self.ask(f':SOUR:VOLT:LEV {level!r};:READ? "defbuffer1",SOUR,READ;:SOUR:VOLT:ILIM:TRIP?')
        v, i, trip = self.session.floats(reply.replace(";", ","), 3, "READ?")
        return {None: (v, i, bool(trip))}

    def run_list(self, levels_V: np.ndarray, dt_s: float) -> np.ndarray:
        """Buffered list sweep; returns ``(n_steps, 2)`` of (source V, measured I)."""
        n = len(levels_V)
        self.write(":TRAC:CLE \"defbuffer1\";:SOUR:LIST:VOLT " + ",".join(repr(float(x)) for x in levels_V))
        self.write(f":SOUR:SWE:VOLT:LIST 1,{dt_s!r}")
        self.write(":INIT;*WAI")
        data = self.session.query_floats(f':TRAC:DATA? 1,{n},"defbuffer1",SOUR,READ', 2 * n, "TRAC:DATA?")
        return data.reshape(n, 2)

    def outputs(self, on: bool) -> None:
        """Switch the output on or off."""
        self.ch.output_enabled = bool(on)


class Smu2600(_Smu, _SessionDriver, Keithley2600):
    """Keithley 2600B (channels ``a``, ``b``) with one TSP exchange per step for both channels."""

    n_channels = 2
    error_queue = "tsp"

    channels = Instrument.MultiChannelCreator(Smu2600Channel, ("a", "b"))

    def __init__(self, adapter: Any, name: str = "Keithley 2600 SourceMeter", **kwargs: Any) -> None:
        # PyMeasure marks the 2600 series as "SCPI support unknown" and warns on every construction.
        # This driver speaks TSP only (every command above is a TSP chunk), so there is nothing to act on.
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="It is not known whether this device support SCPI", category=FutureWarning
            )
            super().__init__(adapter, name, **kwargs)

    def channel(self, channel: str | None) -> SmuChannel:
        """Channel ``"a"`` or ``"b"``."""
        if channel not in ("a", "b"):
            raise LookupError(f"a keithley2600 has channels 'a' and 'b', got {channel!r}")
        return self.channels[channel]

    def step(self, levels: dict[str | None, float | None]) -> dict[str | None, tuple[float, float, bool]]:
        """One TSP chunk: set every sourcing channel, measure every channel, one reply line."""
        chans = sorted(levels)
        cmd = []
        for c in chans:
            if levels[c] is not None:
                cmd.append(f"smu{c}.source.levelv={levels[c]!r}")
        for c in chans:
            cmd.append(f"i{c},v{c}=smu{c}.measure.iv() c{c}=smu{c}.source.compliance and 1 or 0")
        cmd.append("print(" + ",".join(f"v{c},i{c},c{c}" for c in chans) + ")")
        vals = self.session.query_floats(" ".join(cmd), 3 * len(chans), "measure.iv()")
        return {c: (vals[3 * k], vals[3 * k + 1] if levels[c] is not None else 0.0, bool(vals[3 * k + 2]))
                for k, c in enumerate(chans)}

    def run_list(self, levels_V: np.ndarray, dt_s: float, channel: str = "a") -> np.ndarray:
        """Buffered list sweep on one channel; returns ``(n_steps, 2)`` of (V, I)."""
        c = f"smu{channel}"
        n = len(levels_V)
        self.write(f"{c}.nvbuffer1.clear() {c}.nvbuffer2.clear() "
                   f"{c}.trigger.source.listv({{{','.join(repr(float(x)) for x in levels_V)}}}) "
                   f"{c}.trigger.source.action={c}.ENABLE "
                   f"{c}.trigger.measure.iv({c}.nvbuffer1,{c}.nvbuffer2) "
                   f"{c}.trigger.measure.action={c}.ENABLE {c}.trigger.count={n} "
                   f"trigger.timer[1].delay={dt_s!r} {c}.trigger.initiate() waitcomplete()")
        data = self.session.query_floats(
            f"printbuffer(1,{n},{c}.nvbuffer2.readings,{c}.nvbuffer1.readings)", 2 * n, "printbuffer")
        return data.reshape(n, 2)

    def outputs(self, on: bool) -> None:
        """Switch both outputs on or off (one message per channel)."""
        for ch in self.channels.values():
            ch.output_enabled = bool(on)
