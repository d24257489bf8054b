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

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_base": ("SMU_MODES", "SmuChannel"),
    "keithley2450": ("Smu2450", "Smu2450Channel"),
    "keithley2600": ("Smu2600", "Smu2600Channel"),
    "keithley707b": ("Keithley707B",),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
