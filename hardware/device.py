"""The one Device abstraction: named electrodes, strict limits, sequences in, measurements out.

Every backend (in-process simulation, the SCPI emulator over TCP, a bench of source-measure units)
subclasses :class:`Device`. The public methods validate, log, count and keep the device clock; a
backend implements only the private hooks. The records it takes and returns
(:class:`ElectrodeChannel`, :class:`Readings`, :class:`Measurement`) live in
:mod:`hardware._device_types` and are importable from here.


1. ``_apply(voltages_V, dt_s) -> Readings`` : apply a validated sequence (one row per step, one
   column per input electrode, in :attr:`Device.input_names` order) and return the readings.
2. ``_read() -> Readings`` : one reading at the present bias, without advancing time.
3. ``_reset()`` : restore the initial state (or run a documented relaxation protocol).
4. ``_safe_state()`` : bring every source to 0 V (ramped where the hardware needs it) and switch
   outputs off. Must be idempotent and safe to call after a failure (a backend with a connection
   starts from a clean one when the last exchange was cut, and reads the state back); runs with
   SIGINT and SIGTERM deferred.
5. ``_close()`` : release connections (called once; :meth:`Device.close` runs ``_safe_state`` first).
6. optionally ``_metadata() -> dict`` : backend provenance merged into :attr:`Device.metadata`.
7. optionally the class attribute ``_abort_on_signals = True`` (backends that drive an instrument):
   see the signal convention below.

Conventions
-----------
* Roles: ``input`` electrodes are driven by a voltage source (their current is measured);
  ``ground`` electrodes are held at 0 V (their current is measured); ``output`` electrodes float
  (zero net current) and their voltage is measured; ``floating`` electrodes are neither driven nor
  read.
* Reading time: row ``k`` of a measurement holds the step's voltages over
  ``[t_s[k], t_s[k] + dt_s)`` and is read at the **end of that hold**, after the step has acted
  on the device (as a source-measure unit reads at the end of its aperture). The simulated
  device, the SCPI emulator (which serves one) and everything built on them read at that point,
  through :class:`nwphys.Stepper`. :class:`~hardware.LabDevice` reads there too: at the end of
  each hold it reads and sets the next step's levels in one exchange per instrument (its reading
  then integrates over the instrument's aperture, which starts at the end of the hold).
* Currents flow from the source INTO the network (positive when the source delivers power).
* Limits are strict: a requested voltage beyond an input electrode's ``max_abs_V`` raises
  :class:`~hardware.errors.LimitError` naming the electrode, the step, the value and the limit;
  nothing is ever clipped.
* Compliance: each reading carries a flag per input electrode (``|I| >= compliance_A`` or the
  instrument's own compliance bit). With ``compliance_policy="raise"`` a flagged batch puts the
  device in its safe state and raises :class:`~hardware.errors.ComplianceError`; with ``"record"``
  the flags are returned and the run continues.
* On any exception (including ``KeyboardInterrupt``) inside :meth:`Device.apply` the device is put
  in its safe state before the exception propagates; the context manager does the same on exit and
  closes the device. When the safe state itself fails, its error is logged and added as a note to
  the propagating exception.
* Signals (:mod:`hardware._interrupts`): in a backend with ``_abort_on_signals`` (the emulated
  client, the bench), inside :meth:`Device.apply` and :meth:`Device.read` SIGINT raises
  :class:`KeyboardInterrupt` and SIGTERM (default disposition) raises
  :class:`~hardware.errors.SignalTerminated` (a :class:`SystemExit`, exit status 143), so both reach
  the safe state; such backends defer both while one instrument transaction is in flight. In every
  backend :meth:`Device.safe_state` defers both until it has finished (a second Ctrl-C does not
  cut it).
"""

from __future__ import annotations

import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from hardware._checks import check_choice, check_real
from hardware._device_types import ElectrodeChannel, Measurement, Readings
from hardware._interrupts import abort_on_signals, defer_signals
from hardware.errors import (
    ComplianceError,
    DeviceClosedError,
    HardwareValidationError,
    InstrumentError,
    LimitError,
)
from nwutil.vocabulary import ROLES

__all__ = ["COMPLIANCE_POLICIES", "ROLES", "Device", "ElectrodeChannel", "Measurement", "Readings"]

log = logging.getLogger(__name__)

#: Allowed compliance policies.
COMPLIANCE_POLICIES: tuple[str, ...] = ("raise", "record")
_NO_GUARD = contextlib.nullcontext()


class Device(ABC):
    """Abstract multi-electrode device: validate, log and count here; backends write the hooks.

    Parameters
    ----------
    electrodes : sequence of ElectrodeChannel
        All electrodes; names must be unique and there must be at least one input electrode.
    compliance_policy : {"raise", "record"}
        What a compliance hit does (see the module conventions).
    """

    #: Inside apply/read, raise on SIGINT and SIGTERM at once so that both reach the safe state
    #: (backends that drive an instrument; in-process backends keep the default dispositions).
    _abort_on_signals: ClassVar[bool] = False

    def __init__(self, electrodes: Sequence[ElectrodeChannel], *, compliance_policy: str = "raise") -> None:
        electrodes = tuple(electrodes)
        if not all(isinstance(e, ElectrodeChannel) for e in electrodes):
            raise HardwareValidationError("electrodes must be a sequence of hardware.ElectrodeChannel")
        names = [e.name for e in electrodes]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise HardwareValidationError(f"electrode names must be unique, repeated: {dup}")
        if not any(e.role == "input" for e in electrodes):
            raise HardwareValidationError("electrodes must include at least one 'input' electrode")
        self._electrodes = electrodes
        self.compliance_policy = compliance_policy
        self._inputs = tuple(e for e in electrodes if e.role == "input")
        # electrodes are immutable: the per-role names are computed once (read on every step)
        self._role_names = {r: tuple(e.name for e in electrodes if e.role == r) for r in ROLES}
        self._max_abs_V = np.array([e.max_abs_V for e in self._inputs])
        self._compliance_A = np.array([e.compliance_A for e in self._inputs])
        self._ground_compliance_A = np.array([e.compliance_A for e in electrodes if e.role == "ground"])
        self._bias_V = np.zeros(len(self._inputs))
        self._clock_s = 0.0
        self._seg = (0.0, 0.0, 0)  # (t0_s, dt_s, n): t = t0 + dt * index, exact for any chunking
        self._closed = False
        self.n_apply = 0
        self.n_steps_total = 0
        self.n_compliance = 0

    # ------------------------------------------------------------------ properties
    @property
    def compliance_policy(self) -> str:
        """``"raise"`` or ``"record"``."""
        return self._compliance_policy

    @compliance_policy.setter
    def compliance_policy(self, value: str) -> None:
        self._compliance_policy = check_choice("compliance_policy", value, COMPLIANCE_POLICIES)

    @property
    def electrodes(self) -> tuple[ElectrodeChannel, ...]:
        """All electrodes in construction order."""
        return self._electrodes

    def _names(self, role: str) -> tuple[str, ...]:
        return self._role_names[role]

    @property
    def input_names(self) -> tuple[str, ...]:
        """Names of the input electrodes (the column order of ``apply``)."""
        return self._names("input")

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the output electrodes (the column order of ``Measurement.output_V``)."""
        return self._names("output")

    @property
    def ground_names(self) -> tuple[str, ...]:
        """Names of the ground electrodes (the column order of ``Measurement.ground_current_A``)."""
        return self._names("ground")

    @property
    def n_inputs(self) -> int:
        """Number of input electrodes."""
        return len(self._inputs)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def clock_s(self) -> float:
        """Device clock in seconds (advanced by every applied step, reset by :meth:`reset`)."""
        return self._clock_s

    @property
    def bias_V(self) -> np.ndarray:
        """The input voltages of the last applied step (0 after reset/safe state), shape (n_inputs,)."""
        return self._bias_V.copy()

    @property
    def metadata(self) -> dict[str, Any]:
        """Provenance: backend, electrodes, counters and backend specifics."""
        md: dict[str, Any] = {
            "backend": type(self).__name__,
            "electrodes": [
                {"name": e.name, "role": e.role, "max_abs_V": e.max_abs_V, "compliance_A": e.compliance_A}
                for e in self._electrodes
            ],
            "compliance_policy": self._compliance_policy,
            "n_apply": self.n_apply,
            "n_steps_total": self.n_steps_total,
            "n_compliance": self.n_compliance,
        }
        md.update(self._metadata())
        return md

    # ------------------------------------------------------------------ validation
    def _check_open(self) -> None:
        if self._closed:
            raise DeviceClosedError(f"{type(self).__name__} is closed")

    def check_voltages(self, voltages_V: Any) -> np.ndarray:
        """Validate a drive against shape and the strict per-electrode limits; return it as float64.

        Parameters
        ----------
        voltages_V : array_like, shape (n_steps, n_inputs)

        Raises
        ------
        HardwareValidationError
            Wrong shape, empty, or non-finite values.
        LimitError
            A value beyond an electrode's ``max_abs_V`` (named with step and limit).
        """
        try:
            v = np.asarray(voltages_V, dtype=np.float64)
        except (TypeError, ValueError):
            raise HardwareValidationError(f"voltages_V must be a numeric array, got {voltages_V!r}") from None
        if v.ndim != 2 or v.shape[1] != self.n_inputs or v.shape[0] < 1:
            raise HardwareValidationError(
                f"voltages_V must have shape (n_steps >= 1, n_inputs={self.n_inputs}) with columns "
                f"{list(self.input_names)}, got shape {v.shape}")
        # one vectorised test on the hot path (NaN compares False, so it fails it too);
        # the diagnosis below only runs for a rejected drive
        if (np.abs(v) <= self._max_abs_V).all():
            return np.ascontiguousarray(v)
        if not np.isfinite(v).all():
            k, j = (int(i) for i in np.argwhere(~np.isfinite(v))[0])
            raise HardwareValidationError(
                f"voltages_V must be finite, got {float(v[k, j])!r} at step {k} "
                f"on electrode {self.input_names[j]!r}")
        over = np.abs(v) > self._max_abs_V
        if over.any():
            k, j = (int(i) for i in np.argwhere(over)[0])
            raise LimitError(
                f"voltage {float(v[k, j])!r} V at step {k} on electrode {self.input_names[j]!r} "
                f"exceeds its limit "
                f"max_abs_V={float(self._max_abs_V[j])!r} V (limits are strict, nothing is clipped)")
        return np.ascontiguousarray(v)

    def _check_readings(self, r: Readings) -> None:
        """Raise :class:`InstrumentError` for a reading that is not a finite number (an invalid
        measurement is never passed on as data, nor as a reading within compliance)."""
        names = {"input_V": self.input_names, "output_V": self.output_names,
                 "input_current_A": self.input_names, "ground_current_A": self.ground_names}
        for field, electrodes in names.items():
            a = np.asarray(getattr(r, field), dtype=float)
            if a.size and not np.isfinite(a).all():
                k, j = (int(i) for i in np.argwhere(~np.isfinite(a))[0])
                where = electrodes[j] if j < len(electrodes) else f"column {j}"
                raise InstrumentError(
                    f"{type(self).__name__}: invalid reading {float(a[k, j])!r} in {field} at step {k} on "
                    f"electrode {where!r} (NaN or infinite); nothing is taken from this batch, and the "
                    "device goes to its safe state")

    @staticmethod
    def _compliance_flags(current_A: np.ndarray, limit_A: np.ndarray, bits: np.ndarray | None) -> np.ndarray:
        """Flag readings with ``|I| >= compliance_A`` per electrode (columns of ``current_A``), or where
        the instrument's compliance ``bits`` say so."""
        flags = np.abs(np.asarray(current_A, dtype=float)) >= limit_A
        return flags if bits is None else flags | np.asarray(bits, dtype=bool)

    def _measurement(self, r: Readings, dt_s: float, t_s: np.ndarray, kind: str) -> Measurement:
        t = np.asarray(r.t_s, dtype=float) if r.t_s is not None else t_s
        comp = self._compliance_flags(r.input_current_A, self._compliance_A, r.compliance)
        gcomp = self._compliance_flags(r.ground_current_A, self._ground_compliance_A, r.ground_compliance)
        return Measurement(
            t_s=t, input_V=r.input_V, output_V=r.output_V, input_current_A=r.input_current_A,
            ground_current_A=r.ground_current_A, compliance=comp, node_voltage_V=r.node_voltage_V,
            ground_compliance=gcomp,
            metadata={"kind": kind, "dt_s": dt_s, "input_names": list(self.input_names),
                      "output_names": list(self.output_names), "ground_names": list(self.ground_names),
                      "backend": type(self).__name__},
        )

    def _handle_compliance(self, m: Measurement) -> None:
        gcomp = m.ground_compliance if m.ground_compliance is not None else np.zeros((m.n_steps, 0), bool)
        n_hits = int(np.count_nonzero(m.compliance)) + int(np.count_nonzero(gcomp))
        if not n_hits:
            return
        self.n_compliance += n_hits
        if self._compliance_policy == "raise":
            if m.compliance.any():
                k, j = (int(i) for i in np.argwhere(m.compliance)[0])
                what = (f"electrode {self.input_names[j]!r} at step {k} "
                        f"(I={float(m.input_current_A[k, j])!r} A, "
                        f"compliance_A={float(self._compliance_A[j])!r} A)")
            else:
                k, j = (int(i) for i in np.argwhere(gcomp)[0])
                what = (f"ground electrode {self.ground_names[j]!r} at step {k} "
                        f"(I={float(m.ground_current_A[k, j])!r} A, "
                        f"compliance_A={float(self._ground_compliance_A[j])!r} A: it was not held at 0 V)")
            self.safe_state()
            raise ComplianceError(
                f"compliance hit on {what}; sources ramped to 0 V and outputs off (use "
                "compliance_policy='record' to continue)")
        log.warning("%s: %d compliance hit(s) recorded", type(self).__name__, n_hits)

    # ------------------------------------------------------------------ public API
    def apply(self, voltages_V: Any, dt_s: float) -> Measurement:
        """Apply a voltage sequence to the input electrodes and return the readings.

        Parameters
        ----------
        voltages_V : array_like, shape (n_steps, n_inputs)
            Voltage of each input electrode (columns in :attr:`input_names` order) for each step.
        dt_s : float
            Step duration in seconds (> 0).

        Returns
        -------
        Measurement
            ``n_steps`` readings; ``t_s`` continues the device clock.

        Raises
        ------
        LimitError, HardwareValidationError, ComplianceError, InstrumentError,
        InstrumentConnectionError
            After putting the device in its safe state where it applied anything.
        KeyboardInterrupt, SignalTerminated
            On SIGINT / SIGTERM (see the module conventions), after the safe state.
        """
        self._check_open()
        v = self.check_voltages(voltages_V)
        dt = check_real("dt_s", dt_s, low=0.0, low_open=True)
        t0, seg_dt, seg_n = self._seg
        if dt != seg_dt:
            t0, seg_dt, seg_n = self._clock_s, dt, 0
        t = t0 + dt * np.arange(seg_n, seg_n + v.shape[0], dtype=float)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s.apply: %d steps x %d inputs, dt=%g s", type(self).__name__, v.shape[0], v.shape[1],
                      dt)
        try:
            with abort_on_signals() if self._abort_on_signals else _NO_GUARD:
                r = self._apply(v, dt)
            self._check_readings(r)
        except BaseException as exc:
            self._safe_state_quietly(exc)
            raise
        self._seg = (t0, dt, seg_n + v.shape[0])
        self._clock_s = t0 + dt * (seg_n + v.shape[0])
        self._bias_V = v[-1].copy()
        self.n_apply += 1
        self.n_steps_total += v.shape[0]
        m = self._measurement(r, dt, t, "apply")
        self._handle_compliance(m)
        return m

    def read(self) -> Measurement:
        """One reading at the present bias (time does not advance; ``dt_s`` is 0 in metadata)."""
        self._check_open()
        try:
            with abort_on_signals() if self._abort_on_signals else _NO_GUARD:
                r = self._read()
            self._check_readings(r)
        except BaseException as exc:
            self._safe_state_quietly(exc)
            raise
        m = self._measurement(r, 0.0, np.array([self._clock_s]), "read")
        self._handle_compliance(m)
        return m

    def reset(self) -> None:
        """Restore the initial state (backend specific; see the backend docs) and zero the clock."""
        self._check_open()
        try:
            self._reset()
        except BaseException as exc:  # an error or Ctrl-C half way: the sources still go to 0 V
            self._safe_state_quietly(exc)
            raise
        self._bias_V = np.zeros(self.n_inputs)
        self._clock_s = 0.0
        self._seg = (0.0, 0.0, 0)
        log.info("%s: reset", type(self).__name__)

    def safe_state(self) -> None:
        """Ramp every source to 0 V and switch outputs off (idempotent).

        SIGINT and SIGTERM received meanwhile are delivered once it has finished.

        Raises
        ------
        InstrumentConnectionError
            No clean connection to the instrument could be made.
        SafeStateError
            The read-back disagrees (an output still on or a source not at 0 V; backends that read
            the state back).
        """
        if self._closed:
            return
        with defer_signals():
            self._safe_state()
            self._bias_V = np.zeros(self.n_inputs)
        log.info("%s: safe state (sources at 0 V, outputs off)", type(self).__name__)

    def _safe_state_quietly(self, cause: BaseException | None = None) -> None:
        try:
            self.safe_state()
        except Exception as exc:  # the original error matters more: log this one and note it on it
            log.error("%s: could not reach the safe state after a failure: %s", type(self).__name__, exc)
            add_note = getattr(cause, "add_note", None)  # Python >= 3.11
            if add_note is not None:
                add_note(f"{type(self).__name__}: could not reach the safe state after this error: "
                         f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Put the device in its safe state and release it (idempotent).

        The device is released even when the safe state fails, and then the failure is raised: a
        caller that closes a device must learn that its outputs may still be on.

        Raises
        ------
        InstrumentConnectionError, SafeStateError
            As :meth:`safe_state`.
        """
        self._close_after(None)

    def _close_after(self, cause: BaseException | None) -> None:
        """:meth:`close`; while ``cause`` propagates, a failed safe state is logged and noted on it
        instead of raised."""
        if self._closed:
            return
        try:
            if cause is None:
                self.safe_state()
            else:
                self._safe_state_quietly(cause)
        finally:
            self._closed = True
            self._close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._close_after(exc)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(inputs={list(self.input_names)}, outputs={list(self.output_names)}, "
                f"ground={list(self.ground_names)})")

    # ------------------------------------------------------------------ backend hooks
    @abstractmethod
    def _apply(self, voltages_V: np.ndarray, dt_s: float) -> Readings:
        """Apply a validated sequence; return the readings."""

    @abstractmethod
    def _read(self) -> Readings:
        """One reading at the present bias :attr:`bias_V` without advancing time."""

    @abstractmethod
    def _reset(self) -> None:
        """Restore the initial state."""

    @abstractmethod
    def _safe_state(self) -> None:
        """Sources to 0 V, outputs off."""

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    def _metadata(self) -> dict[str, Any]:
        """Backend provenance merged into :attr:`metadata`."""
        return {}
