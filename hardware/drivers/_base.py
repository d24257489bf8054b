"""What the drivers share: the session they hold, channel configuration, exact numbers.

Each instrument has its own module (:mod:`~hardware.drivers.keithley2450`,
:mod:`~hardware.drivers.keithley2600`, :mod:`~hardware.drivers.keithley707b`); see
:mod:`hardware.drivers` for what they have in common.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pymeasure.instruments import Channel
from pymeasure.instruments.validators import strict_discrete_set

from hardware._session import InstrumentSession
from hardware.errors import InstrumentConnectionError, LimitError

__all__ = ["SMU_MODES", "SmuChannel"]

#: Channel modes: a voltage source with current compliance, or a voltmeter (sourcing 0 A).
SMU_MODES: tuple[str, ...] = ("source_v", "measure_v")


def _exact(value: Any) -> str:
    """A number as exact float64 text (``repr``; ``0.0``, never ``-0.0``)."""
    return repr(float(value) + 0.0)


def _within(value: Any, values: tuple[float, float]) -> float:
    """PyMeasure validator: ``value`` in volts inside ``[min, max]`` of ``values``, else LimitError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LimitError(f"source_voltage must be a number of volts, got {value!r}") from None
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


class SmuChannel(Channel):
    """One SMU channel used as an input/ground source (``source_v``) or a voltmeter (``measure_v``).

    Subclasses declare ``source_voltage`` and ``output_enabled`` (``Instrument.control``) and
    write :meth:`_configure`.
    """

    mode = "source_v"
    #: ``(min, max)`` source level in volts that the driver's methods send: the instrument's range,
    #: then ``(-max_abs_V, max_abs_V)`` once :meth:`configure` has run (the same range that
    #: ``source_voltage`` validates against; PyMeasure does not let that one be read).
    source_range_V: tuple[float, float] = (-210.0, 210.0)

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
        self.source_range_V = (-float(max_abs_V), float(max_abs_V))
        self.mode = mode

    def _configure(self, mode: str, compliance_A: float, max_abs_V: float) -> None:
        raise NotImplementedError


class _Smu:
    """What :class:`~hardware.backends.lab.LabDevice` uses of an SMU, in terms of its channels."""

    def channel(self, channel: str | None) -> SmuChannel:
        """The channel ``channel`` (``None`` on a single-channel instrument)."""
        raise NotImplementedError

    def configure(self, channel: str | None, mode: str, compliance_A: float, max_abs_V: float) -> None:
        """Configure one channel; see :meth:`SmuChannel.configure`."""
        self.channel(channel).configure(mode, compliance_A, max_abs_V)

    def checked_level(self, channel: str | None, level: Any) -> float:
        """``level`` in volts if it lies in the range of ``channel`` (its configured ``max_abs_V``, else
        the instrument's), else :class:`~hardware.errors.LimitError` (NaN and infinities included).
        Every method that sends a source level goes through it."""
        return _within(level, self.channel(channel).source_range_V)

    def checked_levels(self, channel: str | None, levels_V: Any) -> list[float]:
        """Every level of a list sweep checked as :meth:`checked_level` does (the first one out of range,
        with its index, raises)."""
        values = self.channel(channel).source_range_V
        out = []
        for k, x in enumerate(levels_V):
            try:
                out.append(_within(x, values))
            except LimitError as exc:
                raise LimitError(f"list point {k}: {exc}") from None
        return out

    def set_levels_raw(self, levels: dict[str | None, float]) -> None:
        """Set source levels in volts without reading (used by the ramp to 0 V)."""
        for ch, v in sorted(levels.items(), key=lambda kv: str(kv[0])):
            self.channel(ch).source_voltage = v
