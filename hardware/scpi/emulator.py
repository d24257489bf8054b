"""SCPI emulator: serve any :class:`~hardware.Device` as a multichannel source-measure instrument.

The server is a threaded :mod:`socketserver` on a loopback address only (one thread per connection,
at most ``max_clients`` of them); every connection talks to the same instrument state. Levels,
limits and the error queue survive a disconnect; the outputs survive it unless the connection that
closed was in control (see *Limits and safety*): a client that reconnects must read the state back,
not assume the output is off.
Messages end with ``\\n``; several commands may share a line separated by ``;`` (their replies are
joined by ``;``). Keywords are case-insensitive, a leading ``:`` is optional, and the long forms
(``SOURce``, ``OUTPut``, ``MEASure``, ``SYSTem``, ``ERRor``, ``CHANnel``, ``VOLTage``, ``CURRent``,
``LIMit``, ``COUNt``, ``TRIGger``, ``FETCh``, ``INITiate``, ``FORMat``, ``COLumns``) are accepted.

Channels ``n = 1 .. N`` are the device electrodes in :attr:`~hardware.Device.electrodes` order; a
channel suffix is accepted only where the table shows ``<n>`` (elsewhere -113), and a channel
outside ``1 .. N`` is -224. Numbers travel as Python ``repr`` of float64 (shortest exact round trip)
or as binary float64; a number is decimal (``[+-]digits[.digits][e[+-]digits]``, ``inf`` or ``nan``).

Command set
-----------
========================================  ==============================================================
``*IDN?``                                 ``nanowire-hil,NWHIL-EMU,<backend>-<N>ch,<version>``
``*RST``                                  reset the device state (``Device.reset``), outputs off,
                                          levels 0 V, limits to defaults, step 1 ms, clear errors
``*CLS``                                  clear the error queue
``*OPC?``                                 ``1``
``SYST:ERR?``                             next error ``<code>,"<text>"``; ``0,"No error"`` when empty
``SYST:ERR:COUN?``                        number of queued errors (queue holds 32; then -350)
``CHAN:COUN?``                            N
``CHAN<n>:DEF?``                          ``<name>,<role>,<max_abs_V>,<compliance_A>``
``SOUR<n>:VOLT <V>`` / ``SOUR<n>:VOLT?``  level of input channel n (|V| <= max_abs_V else -222)
``SOUR:VOLT:ALL <V1>,...`` / ``?``        levels of all input channels at once
``SOUR<n>:VOLT:LIM?``                     max |V| of channel n (read only)
``SOUR<n>:CURR:LIM <A>`` / ``?``          current limit of input channel n, in (0, default]; enforced
                                          (see *Compliance*)
``OUTP[<n>] ON|OFF|1|0`` / ``OUTP[<n>]?`` output state of one or all input channels; ``OUTP?`` is 1
                                          when any is on. ``OFF`` puts the device in its safe state
                                          (levels stay as set)
``TRIG:DT <s>`` / ``TRIG:DT?``            step duration used by ``INIT``
``INIT``                                  apply one step of ``TRIG:DT`` at the present levels
``FETC<n>:VOLT?`` / ``FETC<n>:CURR?``     voltage/current of channel n from the last step or reading
``FETC:TIME?`` / ``FETC:COMP?``           time stamp (the reading point: end of the last step's
                                          hold) / compliance bit mask of the last step or reading
``MEAS?``                                 one reading at the present bias, as one row (see below)
``MEAS<n>:VOLT?`` / ``MEAS<n>:CURR?``     one reading, value of channel n
``LIST:STEP? <dt>,<V1>,...,<Vk>``         LIST mode: one step of all k input channels, one row back
``BLOCK:ASC? <dt>,<n>,<V...>``            BLOCK mode, ascii: n steps row-major, n rows back on one line
``BLOCK:BIN? <dt>,<n>,#<block>``          BLOCK mode, binary: IEEE 488.2 definite-length block of
                                          n*k little-endian float64; the reply is such a block
``FORM:COL?``                             the column names of a row
========================================  ==============================================================

A row is ``t_s, input_V (k), output_V (n_out), input_current_A (k), ground_current_A (n_gnd),
compliance_mask`` (bit j set when input j was at compliance). ``t_s`` is the time of the reading
on the instrument clock: a step holding over ``[t, t + dt)`` is read, and stamped, at ``t + dt``
(the end of its hold, as the served device reads it); ``MEAS?`` reads without a step and is stamped
with the present time. The clock starts at the served device's clock and restarts at 0 on
``*RST``. ``input_V`` holds the voltages sourced, which differ from the levels on a channel in
compliance.

Stepping commands need every input output on (else -221). A query that fails answers an empty
line (so a client never waits for its timeout) and queues the error: read ``SYST:ERR?``. A message
with an error is never partly applied: a command's arguments are all checked before it acts (a
block's levels all before its first step).

Error codes: -102 syntax error (also a malformed or incomplete binary block), -104 data type error
(not a number, not an integer), -108 parameter not allowed (too many values, arguments on a
command that takes none, a block where none is expected), -109 missing parameter, -113 undefined
header, -200 execution error (text of the device exception), -221 settings conflict, -222 data out
of range, -223 too much data (line or block over its limit), -224 illegal parameter value, -350
queue overflow. Error texts are printable ASCII.

Compliance
----------
Each input channel limits its current as a source-measure unit does: when the reading of a step
would exceed the channel's limit (``SOUR<n>:CURR:LIM``, default the electrode's ``compliance_A``),
the channel sources over that step the voltage at which its reading is at the limit (the voltage
folds back toward the channel's open-circuit voltage; ``SOUR<n>:VOLT?`` still answers the
programmed level). The served device integrates that voltage, the row reports it, and the
channel's compliance bit is set (a bit is set when ``|I| >= limit``). The folded current lies in
``limit <= |I| <= limit * (1 + FOLD_RTOL)``, ``FOLD_RTOL`` = 1e-6. The fold-back integrates
trial steps from the state at the start of the step (method and tolerance:
:mod:`hardware.scpi._compliance`), so the served device must be one that can be rolled back (a
:class:`~hardware.SimulatedDevice` without source settling, or a :class:`~hardware.StarDevice`).
With any other device a step over a limit trips the instrument: every output off (the device in
its safe state, levels kept) and -200 naming the channel, its current and its limit; so does a
fold-back that needs a voltage beyond ``max_abs_V`` or does not converge. ``MEAS?`` reads at the
bias of the last step; a limit lowered since acts from the next step on.

Limits and safety
-----------------
* Block size: a ``BLOCK`` command whose reply holds more than ``max_block_values`` float64 values
  (``n_steps`` x the columns of a row; default :data:`DEFAULT_MAX_BLOCK_VALUES` = 2**19 = 524 288,
  4 MiB in binary) is refused with -223 before anything is applied. A binary block declared longer
  than ``8 * max_block_values`` bytes is skipped as it arrives (never stored) and refused with -223.
* Line cap: a line longer than ``max_line_bytes`` bytes (the text of a message without its
  ``\\n``, or the text in front of a binary block) is discarded up to its newline without being
  stored or executed, and -223 is queued (a query among its first 256 bytes gets an empty line).
  The default is :func:`max_line_bytes_for` ``(max_block_values)``: 25 bytes per value (the longest
  ``repr`` of a float64 has 24 characters, plus its comma) for the largest ASCII block, plus 4 KiB
  for the command header: 13 111 296 bytes (12.5 MiB) for the default block limit.
* Block data: a binary block whose data stop arriving for ``block_timeout_s`` seconds (default
  2 s) before it is complete is abandoned with -102 (a query gets an empty line).
* Memory per connection is therefore bounded by about ``max_line_bytes + 8 * max_block_values``
  bytes plus one 64 KiB receive chunk (about 17 MiB with the defaults), and the reply of one block.
* Clients: at most ``max_clients`` connections (default :data:`DEFAULT_MAX_CLIENTS` = 8) are served
  at once; one beyond them gets the single line
  ``-200,"Execution error; connection refused: ... max_clients=<m> ..."`` and is closed at once.
  A client that takes no reply for 10 s is disconnected.
* Disconnect: the connection that last sent a setting command (one without ``?``) or a stepping
  query (``LIST:STEP?``, ``BLOCK:...?``) is in control. When it closes, cleanly or by a reset, the
  instrument reaches its safe state as soon as the server sees the connection end: every level
  0 V, every output off, and the device in its safe state (``Device.safe_state``: sources at 0 V,
  ramped where the backend needs it), as after ``SOUR:VOLT:ALL 0,...;OUTP OFF``. A block is computed
  in chunks of about ``block_chunk_s`` seconds of computing time (default 0.05 s); between chunks
  the server checks whether its client is still connected, and when it is not, stops the block and
  reaches the same safe state.
  A client that only queries never takes control, so its disconnect changes nothing. A connection
  dropped by :class:`Faults` (a lost link) and :meth:`EmulatorServer.stop` leave the outputs as
  they are, except that a block in progress at ``stop`` is stopped and reaches the safe state.

Code
----
This module holds the public entry points (:class:`EmulatorServer`, :func:`serve_emulator`,
:class:`Faults`, the limits). The instrument state machine is :class:`ScpiInstrument`
(:mod:`hardware.scpi._state`, no sockets); the command set is one table, header -> handlers, in
:mod:`hardware.scpi._commands` (a new command is one handler and one row); argument and header
parsing is :mod:`hardware.scpi._parse`; the row layout, shared with the client
:class:`~hardware.EmulatedDevice`, is :class:`hardware.scpi._rows.RowLayout`. The sockets, threads
and the client limit are :mod:`hardware.scpi._tcp`; the framing of the byte stream into
messages is :mod:`hardware.scpi._framing`.
"""

from __future__ import annotations

import logging

from hardware._checks import check_int
from hardware.device import Device
from hardware.scpi._parse import ScpiError
from hardware.scpi._rows import rows_from_measurement
from hardware.scpi._state import DEFAULT_MAX_BLOCK_VALUES, ScpiInstrument
from hardware.scpi._tcp import Faults, InstrumentServer

__all__ = [
    "DEFAULT_BLOCK_TIMEOUT_S",
    "DEFAULT_MAX_BLOCK_VALUES",
    "DEFAULT_MAX_CLIENTS",
    "DEFAULT_MAX_LINE_BYTES",
    "EmulatorServer",
    "Faults",
    "ScpiError",
    "ScpiInstrument",
    "max_line_bytes_for",
    "rows_from_measurement",
    "serve_emulator",
]

log = logging.getLogger(__name__)

#: Bytes of one value in an ASCII block: the longest ``repr`` of a float64 (24) and its comma.
_ASCII_VALUE_BYTES = 25
#: Room on a BLOCK:ASC line for its header ``BLOCK:ASC? <dt>,<n_steps>,`` and commands before it.
_LINE_HEADER_BYTES = 4096
#: Default of ``max_clients``: connections served at once.
DEFAULT_MAX_CLIENTS = 8
#: Default of ``block_timeout_s``: seconds without data after which an incomplete block is abandoned.
DEFAULT_BLOCK_TIMEOUT_S = 2.0


def max_line_bytes_for(max_block_values: int) -> int:
    """The line cap that admits the ASCII form of the largest block, in bytes.

    Parameters
    ----------
    max_block_values : int
        Largest number of float64 values of one block (>= 1).

    Returns
    -------
    int
        ``25 * max_block_values + 4096``: 24 characters for the longest ``repr`` of a float64 and
        its comma per value, and 4 KiB for the command header.
    """
    n = check_int("max_block_values", max_block_values, low=1)
    return _ASCII_VALUE_BYTES * n + _LINE_HEADER_BYTES


#: Default of ``max_line_bytes``: :func:`max_line_bytes_for` of the default block limit, 13 111 296 bytes
#: (12.5 MiB).
DEFAULT_MAX_LINE_BYTES = max_line_bytes_for(DEFAULT_MAX_BLOCK_VALUES)


class EmulatorServer(InstrumentServer):
    """Handle of a running SCPI emulator.

    Parameters
    ----------
    device : Device
        The device to serve (any backend).
    host : str
        IPv4 loopback address (``127.0.0.1``); anything else raises.
    port : int
        TCP port; 0 lets the system choose (read it back from :attr:`port`).
    max_clients : int
        Connections served at once (>= 1); one more is refused with one error line and closed.
    max_line_bytes : int, optional
        Longest message line in bytes (>= 1024); longer lines are discarded with -223. Default
        :func:`max_line_bytes_for` ``(max_block_values)``, which admits the largest ASCII block.
    max_block_values : int
        Largest number of float64 values in the reply of one ``BLOCK`` command (>= 1).
    block_timeout_s : float
        Seconds (> 0) without data after which an incomplete binary block is abandoned with -102.

    See the module docstring (*Limits and safety*) for what each limit does.
    """

    def __init__(
        self,
        device: Device,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        max_line_bytes: int | None = None,
        max_block_values: int = DEFAULT_MAX_BLOCK_VALUES,
        block_timeout_s: float = DEFAULT_BLOCK_TIMEOUT_S,
    ) -> None:
        super().__init__(
            ScpiInstrument(device, max_block_values=max_block_values),
            host,
            port,
            max_clients=max_clients,
            max_line_bytes=max_line_bytes_for(max_block_values) if max_line_bytes is None else max_line_bytes,
            block_timeout_s=block_timeout_s,
            name=f"emulator of {type(device).__name__}",
        )

    @property
    def device(self) -> Device:
        """The served device."""
        return self.instrument.device


def serve_emulator(device: Device, host: str = "127.0.0.1", port: int = 0, *,
                   max_clients: int = DEFAULT_MAX_CLIENTS, max_line_bytes: int | None = None,
                   max_block_values: int = DEFAULT_MAX_BLOCK_VALUES,
                   block_timeout_s: float = DEFAULT_BLOCK_TIMEOUT_S) -> EmulatorServer:  # fmt: skip
    """Serve ``device`` as a SCPI instrument on ``host:port`` (started; call ``.stop()``).

    Parameters
    ----------
    device : Device
        Any backend.
    host : str
        IPv4 loopback address only.
    port : int
        0 = chosen by the system; see :attr:`EmulatorServer.port`.
    max_clients, max_line_bytes, max_block_values, block_timeout_s
        Limits; see :class:`EmulatorServer`.
    """
    return EmulatorServer(device, host=host, port=port, max_clients=max_clients,
                          max_line_bytes=max_line_bytes, max_block_values=max_block_values,
                          block_timeout_s=block_timeout_s).start()  # fmt: skip
