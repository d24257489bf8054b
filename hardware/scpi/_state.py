"""The instrument state machine behind the SCPI emulator (sockets-free; thread-safe).

:class:`ScpiInstrument` holds the instrument state (levels, outputs, current limits, step duration,
its clock, the last reading, the error queue, the client in control), parses each message and
dispatches its commands through the tables of :mod:`hardware.scpi._commands`. The TCP server of
:mod:`hardware.scpi.emulator` feeds it messages; the command set is in that module's docstring.

Every step is run with the current limits enforced (:mod:`hardware.scpi._compliance`): a channel
whose reading would exceed its limit folds its voltage back. Readings are stamped on the
instrument's own clock at the reading point, the end of each hold (``t_s + dt_s`` of the served
device's :class:`~hardware.Measurement`); a reading without a step (``MEAS?``) at the present time.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from hardware._checks import check_int, check_real
from hardware.device import Device, Measurement
from hardware.errors import HardwareError, HardwareValidationError, LimitError
from hardware.scpi._commands import COMMANDS, COMMON, Command
from hardware.scpi._compliance import Trip, apply_limited, at_compliance, rollback_of
from hardware.scpi._parse import ERR_TEXT, ScpiError, is_query, no_args, parse_header, printable
from hardware.scpi._rows import RowLayout

__all__ = ["DEFAULT_MAX_BLOCK_VALUES", "ScpiInstrument"]

# the instrument logs as the emulator it serves
log = logging.getLogger("hardware.scpi.emulator")

#: Default of ``max_block_values``: float64 values in the reply of one BLOCK command (4 MiB binary).
DEFAULT_MAX_BLOCK_VALUES = 2**19
_QUEUE_MAX = 32
#: Parsed headers kept per instrument (the command set has a few dozen; channel numbers multiply it).
_HEADER_CACHE_MAX = 512
#: Default of ``block_chunk_s``: seconds of computing between two checks for a disconnect in a block.
_BLOCK_CHUNK_S = 0.05
#: Steps of the first chunk of a block, before the time per step is known.
_FIRST_CHUNK_STEPS = 8


class _ClientGone(Exception):
    """The client of a block in progress is gone: the block was stopped and the safe state reached."""


class ScpiInstrument:
    """The instrument state machine behind the server (sockets-free; thread-safe).

    Parameters
    ----------
    device : Device
        The served device. Its ``compliance_policy`` is set to ``"record"``: compliance travels as
        bits in every row and the client applies its own policy. A step that needs a fold-back is
        integrated more than once on it (rolled back in between), so its own clock, counters and
        read-noise draws count every trial; the instrument keeps its own clock. A device that
        cannot be rolled back (:func:`hardware.scpi._compliance.rollback_of`) trips instead: a
        step over a limit switches every output off and fails with -200.
    max_block_values : int
        Largest number of float64 values in the reply of one ``BLOCK`` command (``n_steps`` x the
        columns of a row, >= 1); larger blocks are refused with -223.
    block_chunk_s : float
        Seconds of computing (> 0) between two calls of ``cancelled`` (see :meth:`execute`) in a
        block; the chunk length in steps follows from the time per step measured so far.
    """

    def __init__(
        self,
        device: Device,
        *,
        max_block_values: int = DEFAULT_MAX_BLOCK_VALUES,
        block_chunk_s: float = _BLOCK_CHUNK_S,
    ) -> None:
        self.max_block_values = check_int("max_block_values", max_block_values, low=1)
        self.block_chunk_s = check_real("block_chunk_s", block_chunk_s, low=0.0, low_open=True)
        self.device = device
        device.compliance_policy = "record"
        self.lock = threading.RLock()
        self.errors: deque[tuple[int, str]] = deque()
        self._in_idx = [i for i, e in enumerate(device.electrodes) if e.role == "input"]
        self._in_pos = {i: j for j, i in enumerate(self._in_idx)}
        roles: dict[str, list[int]] = {}
        for i, e in enumerate(device.electrodes):
            roles.setdefault(e.role, []).append(i)
        #: position of each electrode among those of its role (the column within its block of a row)
        self._role_pos = {i: idx.index(i) for idx in roles.values() for i in idx}
        #: the compliance of each input at reset (A), the largest that ``SOUR<n>:CURR:LIM`` accepts
        self.default_comp_A = np.array([device.electrodes[i].compliance_A for i in self._in_idx])
        self._max_abs_V = np.array([device.electrodes[i].max_abs_V for i in self._in_idx])
        self._rollback = rollback_of(device)
        self.layout = RowLayout.of(device.input_names, device.output_names, device.ground_names)
        self._headers: dict[str, tuple[str, int | None]] = {}
        self._step_s: float | None = None  # computing time per step of the last block chunk
        self._owner: object | None = None  # the client in control (see the module docstring)
        self._client: object | None = None  # the client of the message being executed
        self._cancelled: Callable[[], bool] | None = None
        self._rst_state()
        self.clock_s = device.clock_s  # continues the served device's clock

    def _rst_state(self) -> None:
        k = len(self._in_idx)
        self.levels_V = np.zeros(k)
        self.output_on = np.zeros(k, dtype=bool)
        self.comp_A = self.default_comp_A.copy()
        self.dt_s = 1e-3
        self.last: Measurement | None = None
        #: instrument clock (s): the end of the last hold; steps of one duration are stamped
        #: ``t0 + dt * index`` (segment ``(t0, dt, n)``), exact for any chunking, as the device clock
        self.clock_s = 0.0
        self._seg = (0.0, 0.0, 0)

    def _tick(self, n: int, dt_s: float) -> np.ndarray:
        """Advance the clock by ``n`` steps of ``dt_s``; return their reading times (s), shape (n,)."""
        t0, seg_dt, seg_n = self._seg
        if dt_s != seg_dt:
            t0, seg_n = self.clock_s, 0
        t = t0 + dt_s * np.arange(seg_n + 1, seg_n + n + 1, dtype=float)
        self._seg = (t0, dt_s, seg_n + n)
        self.clock_s = float(t[-1])
        return t

    def reset(self) -> None:
        """``*RST``: device safe state and reset, outputs off, levels 0 V, default limits, no errors."""
        self.device_safe_state()
        try:
            self.device.reset()
        except Exception as exc:
            raise ScpiError(-200, f"{type(exc).__name__}: {exc}") from None
        self._rst_state()
        self.errors.clear()

    # ------------------------------------------------------------------ errors and channels
    def push_error(self, code: int, text: str) -> None:
        """Queue an error (the last slot becomes -350 when the queue overflows)."""
        if len(self.errors) >= _QUEUE_MAX:
            self.errors[-1] = (-350, ERR_TEXT[-350])
            return
        self.errors.append((code, printable(text)))

    def _channel(self, n: int | None, *, default: int | None = 1) -> int:
        """Electrode index of channel suffix ``n`` (``default`` when absent); -224 outside 1..N."""
        count = len(self.device.electrodes)
        if n is None:
            if default is None:
                raise ScpiError(-109, f"channel suffix 1..{count} expected")
            n = default
        if not 1 <= n <= count:
            raise ScpiError(-224, f"channel {n} not in 1..{count}")
        return n - 1

    def resolve_channel(self, kind: str | None, n: int | None) -> Any:
        """The channel that suffix ``n`` names, resolved as ``kind`` says (``CHANNEL_KINDS``).

        Returns
        -------
        int, slice or None
            ``"electrode"``, ``"read"``: electrode index; ``"input"``: position among the inputs;
            ``"inputs"``: that position, or every input when ``n`` is None; None for ``kind=None``.

        Raises
        ------
        ScpiError
            -224 for a channel outside ``1 .. N``, -109 for a missing required suffix, -221 for a
            channel of the wrong role.
        """
        if kind is None:
            return None
        if kind == "inputs" and n is None:
            return slice(None)
        i = self._channel(n, default=None if kind == "electrode" else 1)
        e = self.device.electrodes[i]
        if kind in ("input", "inputs"):
            if i not in self._in_pos:
                raise ScpiError(-221, f"channel {i + 1} ({e.name}) is not an input")
            return self._in_pos[i]
        if kind == "read" and e.role == "floating":
            raise ScpiError(-221, f"channel {i + 1} ({e.name}) is floating and not read")
        return i

    def channel_value(self, m: Measurement, i: int, quantity: str) -> float:
        """Voltage (``"VOLT"``) or current (``"CURR"``) of electrode ``i`` (validated) in ``m``."""
        role, j = self.device.electrodes[i].role, self._role_pos[i]
        if role == "input":
            return float((m.input_V if quantity == "VOLT" else m.input_current_A)[-1, j])
        if role == "output":
            return float(m.output_V[-1, j]) if quantity == "VOLT" else 0.0
        return 0.0 if quantity == "VOLT" else float(m.ground_current_A[-1, j])

    def columns(self) -> list[str]:
        """Column names of a row."""
        d = self.device
        return RowLayout.column_names(d.input_names, d.output_names, d.ground_names)

    # ------------------------------------------------------------------ device
    def check_levels(self, v: np.ndarray) -> None:
        """Check levels ``v`` (V, shape (k,) or (n_steps, k)) against the limits: -222 / -224."""
        try:
            self.device.check_voltages(np.atleast_2d(v))
        except LimitError as exc:
            raise ScpiError(-222, str(exc)) from None
        except HardwareValidationError as exc:
            raise ScpiError(-224, str(exc)) from None

    def _need_output(self) -> None:
        if not self.output_on.all():
            off = [self.device.electrodes[self._in_idx[j]].name for j in np.flatnonzero(~self.output_on)]
            raise ScpiError(-221, f"output off on {', '.join(off)}")

    @staticmethod
    def _stamped(parts: list[Measurement], t_s: np.ndarray, compliance: np.ndarray) -> Measurement:
        """The readings of ``parts`` as one measurement, stamped ``t_s`` with these compliance bits."""
        m = parts[0] if len(parts) == 1 else Measurement.concatenate(parts)
        return dataclasses.replace(m, t_s=t_s, compliance=compliance)

    def device_safe_state(self) -> None:
        """The device's safe state; -200 when it fails."""
        try:
            self.device.safe_state()
        except Exception as exc:
            raise ScpiError(-200, f"safe state failed: {type(exc).__name__}: {exc}") from None

    def _apply(self, v: np.ndarray, dt_s: float) -> Measurement:
        try:
            return self.device.apply(v, dt_s)
        except HardwareValidationError as exc:
            raise ScpiError(-224, str(exc)) from None
        except LimitError as exc:
            raise ScpiError(-222, str(exc)) from None
        except HardwareError as exc:
            raise ScpiError(-200, str(exc)) from None
        except Exception as exc:  # a physics failure is an execution error of the instrument
            raise ScpiError(-200, f"{type(exc).__name__}: {exc}") from None

    def run(self, v: np.ndarray, dt_s: float) -> Measurement:
        """Apply ``v`` (n_steps, k) with the current limits enforced; stamp each row at its reading.

        Without a ``cancelled`` callback the steps go to the device in one call; with one, in chunks
        of about ``block_chunk_s`` of computing, checking for a disconnect in between. After a step
        that hit a limit (see :meth:`_limited`) the chunks start again at one step and double.
        """
        self._need_output()
        self._owner = self._client
        # every level is checked before the first chunk touches the device (LimitError -> -222,
        # HardwareValidationError -> -224): a rejected block applies nothing
        self.check_levels(v)
        n = v.shape[0]
        cancelled = self._cancelled if n > 1 else None
        parts: list[Measurement] = []
        bits: list[np.ndarray] = []
        times: list[np.ndarray] = []
        s, cap = 0, n
        while s < n:
            steps = n
            if cancelled is not None:
                if cancelled():
                    self._stop_block(s, n)
                if self._step_s is not None:
                    steps = max(1, int(self.block_chunk_s / self._step_s))
                else:
                    steps = _FIRST_CHUNK_STEPS
            steps = min(steps, cap, n - s)
            t0 = time.perf_counter()
            m, comp, hit = self._limited(v[s : s + steps], dt_s)
            if not hit:
                self._step_s = max(time.perf_counter() - t0, 1e-9) / steps
            parts.append(m)
            bits.append(comp)
            times.append(self._tick(m.n_steps, dt_s))
            s += m.n_steps
            cap = 1 if hit else min(2 * cap, n)
        # Device.apply keeps every junction state across calls: the chunks give the numbers of one
        # call to within the integration tolerance (the compiled engine restarts its step history)
        m = self._stamped(parts, np.concatenate(times), np.concatenate(bits))
        self.levels_V = v[-1].copy()
        self.last = m
        return m

    def _limited(self, v: np.ndarray, dt_s: float) -> tuple[Measurement, np.ndarray, bool]:
        """:func:`~hardware.scpi._compliance.apply_limited` on the device; a trip switches every
        output off (the device to its safe state, levels kept) and raises -200."""
        try:
            return apply_limited(
                self._apply, v, dt_s, self.comp_A, self._max_abs_V, self.device.input_names, self._rollback
            )
        except Trip as trip:
            self._tick(trip.n_steps, dt_s)
            self.output_on[:] = False
            self.device_safe_state()
            raise ScpiError(-200, f"compliance trip: {trip}; outputs off") from None

    def _stop_block(self, done: int, n: int) -> None:
        log.warning(
            "emulator: client gone during a block after %d of %d steps: block stopped, "
            "device in its safe state, levels 0 V and outputs off", done, n,
        )  # fmt: skip
        self._owner = None
        self._safe_state_all()
        raise _ClientGone

    def _safe_state_all(self) -> None:
        """Device safe state, levels 0 V, every output off (queues -200 when the device fails)."""
        self.levels_V = np.zeros_like(self.levels_V)
        self.output_on[:] = False
        try:
            self.device_safe_state()
        except ScpiError as exc:
            log.error("emulator: %s", exc.text)
            self.push_error(exc.code, exc.text)

    def reading(self) -> Measurement:
        """One reading at the present bias (every output must be on: else -221), stamped now.

        The bias is that of the last step (folded back where it was in compliance); a limit
        lowered since is flagged by the bits but acts from the next step on.
        """
        self._need_output()
        try:
            m = self.device.read()
        except Exception as exc:
            raise ScpiError(-200, f"{type(exc).__name__}: {exc}") from None
        comp = m.compliance | at_compliance(m.input_current_A, self.comp_A)
        m = self._stamped([m], np.array([self.clock_s]), comp)
        self.last = m
        return m

    # ------------------------------------------------------------------ clients
    def client_gone(self, client: object) -> bool:
        """The connection ``client`` closed: reach the safe state if it was in control.

        Parameters
        ----------
        client : object
            The token the connection passed to :meth:`execute`.

        Returns
        -------
        bool
            Whether ``client`` was in control (then the levels are 0 V and every output is off).
        """
        with self.lock:
            if client is None or self._owner is not client:
                return False
            self._owner = None
            was_on = bool(self.output_on.any())
            self._safe_state_all()
        (log.warning if was_on else log.info)(
            "emulator: the client in control disconnected: device in its safe state, levels 0 V and "
            "outputs off"
        )
        return True

    # ------------------------------------------------------------------ dispatch
    def execute(
        self,
        line: str,
        payload: bytes | None = None,
        *,
        client: object | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> bytes | None:
        """Execute one received message; return the reply bytes (with ``\\n``) or None.

        Parameters
        ----------
        line : str
            The message text: commands separated by ``;`` (the text in front of a binary block).
        payload : bytes, optional
            The data of a binary block that follows ``line``; it belongs to the last command.
        client : object, optional
            A token of the connection; a setting command or a step makes it the one in control
            (see :meth:`client_gone`).
        cancelled : callable, optional
            Called between the chunks of a block; True stops the block, puts the instrument in its
            safe state and returns None (the client is gone).
        """
        with self.lock:
            self._client, self._cancelled = client, cancelled
            try:
                return self._execute(line, payload)
            finally:
                self._client = self._cancelled = None

    def _execute(self, line: str, payload: bytes | None) -> bytes | None:
        parts = [p.strip() for p in line.split(";") if p.strip()]
        if payload is not None and not parts:
            parts = [""]
        replies: list[str] = []
        any_query = False
        for k, part in enumerate(parts):
            query = is_query(part)
            any_query |= query
            if not query:
                self._owner = self._client
            try:
                r = self._one(part, payload if k == len(parts) - 1 else None)
            except ScpiError as exc:
                self.push_error(exc.code, exc.text)
                r = "" if query else None
                log.debug("emulator: %r -> error %s", part[:60], exc)
            except _ClientGone:
                return None
            except Exception as exc:  # a defect of the emulator: report it, keep serving
                log.error("emulator: internal error executing %r", part[:60], exc_info=True)
                self.push_error(-200, f"internal error: {type(exc).__name__}: {exc}")
                r = "" if query else None
            if r is not None:
                replies.append(r if isinstance(r, str) else r.decode("latin-1"))
        if not any_query:
            return None
        return (";".join(replies) + "\n").encode("latin-1")

    def reject(self, line: str, code: int, detail: str) -> bytes | None:
        """Refuse a message the transport could not take in (an over-long line, a malformed block).

        Nothing of it is executed; the error is queued and a query gets an empty line.

        Parameters
        ----------
        line : str
            The start of the message (its commands up to the first problem).
        code : int
            SCPI error code.
        detail : str
            What was wrong, with the limit that applies.
        """
        exc = ScpiError(code, detail)
        with self.lock:
            self.push_error(exc.code, exc.text)
        log.debug("emulator: %r -> error %s", line[:60], exc)
        return b"\n" if any(is_query(p) for p in line.split(";")) else None

    def _one(self, cmd: str, payload: bytes | None) -> str | bytes | None:
        """Check one command against its table row, resolve its channel and run its handler."""
        head, args = [*cmd.split(None, 1), ""][:2]
        head = head.upper().lstrip(":")
        query = head.endswith("?")
        if query:
            head = head[:-1]
        if not head:
            raise ScpiError(-102, f"command expected, got {cmd[:40]!r}")
        if head.startswith("*"):
            if payload is not None:
                raise ScpiError(-108, f"binary block not allowed after {cmd[:40]!r}")
            row = COMMON.get(head)
            if row is None or (row.query if query else row.set) is None:
                raise ScpiError(-113, head)
            if query:
                no_args(args, f"{head}?")
            return self._call(row, head, None, query, args, payload)
        words, n = self._header(head, cmd)
        row = COMMANDS.get(words)
        if row is None:
            raise ScpiError(-113, f"{cmd[:40]!r}")
        if payload is not None and not (query and row.query_payload):
            raise ScpiError(-108, f"binary block not allowed after {cmd[:40]!r}")
        if n is not None and row.channel is None:
            raise ScpiError(
                -113,
                f"{cmd[:40]!r} (a channel suffix is allowed on CHAN<n>:DEF, "
                "SOUR<n>:..., OUTP<n>, FETC<n>:... and MEAS<n>:... only)",
            )
        if query and not row.query_args:
            no_args(args, f"{words}?")
        if (row.query if query else row.set) is None:
            raise ScpiError(-113, f"{cmd[:40]!r} ({words} is {'not a query' if query else 'a query only'})")
        return self._call(row, words, n, query, args, payload)

    def _call(
        self, row: Command, words: str, n: int | None, query: bool, args: str, payload: bytes | None
    ) -> str | bytes | None:
        """Check the arguments of a setting form that takes none, resolve the channel, run the handler."""
        if not query and not row.set_args:
            no_args(args, words)
        handler = row.query if query else row.set
        assert handler is not None
        return handler(self, self.resolve_channel(row.channel, n), args, payload)

    def _header(self, head: str, cmd: str) -> tuple[str, int | None]:
        """Short-form keywords joined by ``:`` and the channel suffix of the first one (cached)."""
        parsed = self._headers.get(head)
        if parsed is not None:
            return parsed
        parsed = parse_header(head, cmd, len(self.device.electrodes))
        if len(self._headers) < _HEADER_CACHE_MAX:
            self._headers[head] = parsed
        return parsed
