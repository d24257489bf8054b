"""Electrode drives: per-electrode voltage waveforms, grounds and floating electrodes.

A :class:`Drive` maps electrode names to waveforms. An electrode named with a waveform is driven
(held at that voltage by a source); ``"gnd"`` is a waveform of 0 V; an electrode listed as floating,
or not named at all, floats (zero net current, its voltage is an output).

Waveforms are small frozen dataclasses with ``__call__(t_s) -> V`` (vectorised) and
``breakpoints(t0_s, t1_s)`` (times where the waveform or its slope jumps, used by the adaptive
reference integrator to avoid stepping across a discontinuity).

Spec strings (CLI)
------------------
``"in=pulse:amp=1,width=0.01,period=0.02;out=gnd;mid=float"``; one ``name=waveform`` per
electrode, separated by ``;``. Waveforms:

* ``0.5`` or ``dc:0.5`` or ``dc:value=0.5`` -- constant (volts);
* ``gnd`` -- 0 V; ``float`` -- floating;
* ``pulse:amp=1,width=0.01,period=0.02[,delay=0,low=0,count=N]`` -- rectangular pulse train;
* ``sine:amp=1,freq=10[,offset=0,phase=0]`` -- sinusoid (freq in Hz, phase in rad);
* ``pwl:0@0,1@0.01,0@0.02`` -- piecewise-linear, ``value@time`` pairs (held outside the knots).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from nwphys._checks import check_finite_array, check_int, check_real
from nwphys.errors import ValidationError

__all__ = [
    "DC",
    "DEFAULT_MAX_ABS_V",
    "Drive",
    "PiecewiseLinear",
    "Pulse",
    "Sampled",
    "Sine",
    "Waveform",
    "parse_drive",
]


#: Default voltage limit of a driven electrode in volts (as ``hardware.Electrode.max_abs_V``).
DEFAULT_MAX_ABS_V = 10.0


class Waveform:
    """Base class of a voltage waveform ``V(t)``."""

    def __call__(self, t_s: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def breakpoints(self, t0_s: float, t1_s: float) -> np.ndarray:
        """Discontinuities of the waveform or its slope in ``(t0_s, t1_s)``; none by default."""
        return np.zeros(0)

    def max_abs_V(self, t0_s: float, t1_s: float) -> float:
        """Largest ``|V(t)|`` in volts over ``[t0_s, t1_s]`` (the built-in waveforms give a bound
        over all times; this default samples 10,001 points and the breakpoints)."""
        t = np.concatenate([np.linspace(t0_s, t1_s, 10_001), self.breakpoints(t0_s, t1_s)])
        return float(np.max(np.abs(self(t))))


@dataclass(frozen=True)
class DC(Waveform):
    """Constant voltage ``value_V``."""

    #: Name in content digests (:func:`nwphys._digest.class_tag`): stored run files keep it.
    DIGEST_TAG: ClassVar[str] = "nwphys.drives.DC"

    value_V: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "value_V", check_real("value_V", self.value_V))

    def __call__(self, t_s: Any) -> np.ndarray:
        return np.full(np.shape(t_s), self.value_V)

    def max_abs_V(self, t0_s: float, t1_s: float) -> float:
        return abs(self.value_V)


@dataclass(frozen=True)
class Pulse(Waveform):
    """Rectangular pulse train: ``amp_V`` for ``width_s`` every ``period_s``, else ``low_V``.

    The pulse is on for ``0 <= (t - delay_s) mod period_s < width_s`` and ``t >= delay_s``
    (right-continuous edges); ``count`` limits the number of pulses (None = unlimited).
    """

    #: Name in content digests (:func:`nwphys._digest.class_tag`): stored run files keep it.
    DIGEST_TAG: ClassVar[str] = "nwphys.drives.Pulse"

    amp_V: float = 1.0
    width_s: float = 1e-3
    period_s: float = 2e-3
    delay_s: float = 0.0
    low_V: float = 0.0
    count: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "amp_V", check_real("amp_V", self.amp_V))
        object.__setattr__(self, "low_V", check_real("low_V", self.low_V))
        period = check_real("period_s", self.period_s, low=0.0, low_open=True)
        object.__setattr__(self, "period_s", period)
        object.__setattr__(
            self, "width_s", check_real("width_s", self.width_s, low=0.0, high=period, low_open=True)
        )
        object.__setattr__(self, "delay_s", check_real("delay_s", self.delay_s, low=0.0))
        if self.count is not None:
            object.__setattr__(self, "count", check_int("count", self.count, low=1))

    def __call__(self, t_s: Any) -> np.ndarray:
        t = np.asarray(t_s, dtype=float) - self.delay_s
        # tolerance so that t = k * period lands on the rising edge despite rounding of t
        eps = 1e-12 * np.maximum(self.period_s, np.abs(t))
        k = np.floor((t + eps) / self.period_s)
        phase = t - k * self.period_s
        on = (t >= -eps) & (phase < self.width_s - eps)
        if self.count is not None:
            on &= k < self.count
        return np.where(on, self.amp_V, self.low_V)

    def max_abs_V(self, t0_s: float, t1_s: float) -> float:
        return max(abs(self.amp_V), abs(self.low_V))

    def breakpoints(self, t0_s: float, t1_s: float) -> np.ndarray:
        k0 = max(0, int(np.floor((t0_s - self.delay_s) / self.period_s)))
        k1 = int(np.ceil((t1_s - self.delay_s) / self.period_s)) + 1
        if self.count is not None:
            k1 = min(k1, self.count)
        k = np.arange(k0, max(k0, k1))
        edges = np.concatenate(
            [self.delay_s + k * self.period_s, self.delay_s + k * self.period_s + self.width_s]
        )
        edges = np.sort(edges)
        return edges[(edges > t0_s) & (edges < t1_s)]


@dataclass(frozen=True)
class Sine(Waveform):
    """``offset_V + amp_V sin(2 pi freq_Hz t + phase_rad)``."""

    #: Name in content digests (:func:`nwphys._digest.class_tag`): stored run files keep it.
    DIGEST_TAG: ClassVar[str] = "nwphys.drives.Sine"

    amp_V: float = 1.0
    freq_Hz: float = 1.0
    offset_V: float = 0.0
    phase_rad: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "amp_V", check_real("amp_V", self.amp_V))
        object.__setattr__(self, "freq_Hz", check_real("freq_Hz", self.freq_Hz, low=0.0))
        object.__setattr__(self, "offset_V", check_real("offset_V", self.offset_V))
        object.__setattr__(self, "phase_rad", check_real("phase_rad", self.phase_rad))

    def __call__(self, t_s: Any) -> np.ndarray:
        t = np.asarray(t_s, dtype=float)
        return self.offset_V + self.amp_V * np.sin(2 * np.pi * self.freq_Hz * t + self.phase_rad)

    def max_abs_V(self, t0_s: float, t1_s: float) -> float:
        return abs(self.offset_V) + abs(self.amp_V)


@dataclass(frozen=True)
class PiecewiseLinear(Waveform):
    """Linear interpolation through ``(times_s[i], values_V[i])``; held constant outside."""

    #: Name in content digests (:func:`nwphys._digest.class_tag`): stored run files keep it.
    DIGEST_TAG: ClassVar[str] = "nwphys.drives.PiecewiseLinear"

    times_s: np.ndarray = field(default_factory=lambda: np.zeros(1))
    values_V: np.ndarray = field(default_factory=lambda: np.zeros(1))

    def __post_init__(self) -> None:
        t = check_finite_array("times_s", self.times_s, ndim=1)
        v = check_finite_array("values_V", self.values_V, ndim=1)
        if t.size < 1 or t.shape != v.shape:
            raise ValidationError(
                f"times_s and values_V must be non-empty and of equal length, got {t.size} and {v.size}"
            )
        if np.any(np.diff(t) <= 0):
            raise ValidationError("times_s must be strictly increasing")
        object.__setattr__(self, "times_s", t)
        object.__setattr__(self, "values_V", v)

    def __call__(self, t_s: Any) -> np.ndarray:
        return np.interp(np.asarray(t_s, dtype=float), self.times_s, self.values_V)

    def max_abs_V(self, t0_s: float, t1_s: float) -> float:
        return float(np.max(np.abs(self.values_V)))

    def breakpoints(self, t0_s: float, t1_s: float) -> np.ndarray:
        t = self.times_s
        return t[(t > t0_s) & (t < t1_s)]


@dataclass(frozen=True)
class Sampled(Waveform):
    """Arbitrary sampled voltages ``values_V[k]`` at ``t0_s + k dt_s``.

    ``hold="zoh"`` holds each sample for ``dt_s`` (a DAC); ``"linear"`` interpolates. Before the
    first sample and after the last one the end values are held.
    """

    #: Name in content digests (:func:`nwphys._digest.class_tag`): stored run files keep it.
    DIGEST_TAG: ClassVar[str] = "nwphys.drives.Sampled"

    values_V: np.ndarray = field(default_factory=lambda: np.zeros(1))
    dt_s: float = 1e-3
    t0_s: float = 0.0
    hold: str = "zoh"

    def __post_init__(self) -> None:
        v = check_finite_array("values_V", self.values_V, ndim=1)
        if v.size < 1:
            raise ValidationError("values_V must have at least one sample")
        object.__setattr__(self, "values_V", v)
        object.__setattr__(self, "dt_s", check_real("dt_s", self.dt_s, low=0.0, low_open=True))
        object.__setattr__(self, "t0_s", check_real("t0_s", self.t0_s))
        if self.hold not in ("zoh", "linear"):
            raise ValidationError(f"hold must be one of 'zoh', 'linear', got {self.hold!r}")

    def __call__(self, t_s: Any) -> np.ndarray:
        x = (np.asarray(t_s, dtype=float) - self.t0_s) / self.dt_s
        if self.hold == "linear":
            return np.interp(x, np.arange(self.values_V.size), self.values_V)
        k = np.clip(np.floor(x + 1e-9), 0, self.values_V.size - 1).astype(np.int64)
        return self.values_V[k]

    def max_abs_V(self, t0_s: float, t1_s: float) -> float:
        return float(np.max(np.abs(self.values_V)))

    def breakpoints(self, t0_s: float, t1_s: float) -> np.ndarray:
        t = self.t0_s + self.dt_s * np.arange(1, self.values_V.size)
        return t[(t > t0_s) & (t < t1_s)]


def _as_waveform(name: str, w: Any) -> Waveform | None:
    if w is None:
        return None
    if isinstance(w, Waveform):
        return w
    if isinstance(w, str):
        return _parse_waveform(name, w)
    if isinstance(w, (int, float, np.floating, np.integer)) and not isinstance(w, bool):
        return DC(float(w))
    raise ValidationError(
        f"drive for electrode {name!r} must be a Waveform, a number, a spec string or "
        f"None (floating), got {type(w).__name__}"
    )


class Drive:
    """Voltage drive of a set of electrodes.

    Parameters
    ----------
    waveforms : mapping of str to Waveform, number, spec string or None
        Electrode name -> waveform (a number is DC; ``"gnd"`` is 0 V; None or ``"float"`` floats).
    floating : sequence of str, optional
        Electrodes explicitly left floating. Electrodes of the circuit that are not named anywhere
        float as well.
    spec : str, optional
        The spec string the drive was parsed from (kept for run files).
    """

    def __init__(
        self, waveforms: Mapping[str, Any], *, floating: Sequence[str] = (), spec: str | None = None
    ):
        wf: dict[str, Waveform] = {}
        fl = [str(f) for f in floating]
        for name, w in dict(waveforms).items():
            ww = _as_waveform(str(name), w)
            if ww is None:
                fl.append(str(name))
            else:
                wf[str(name)] = ww
        both = set(wf) & set(fl)
        if both:
            raise ValidationError(f"electrode(s) {', '.join(sorted(both))} both driven and floating")
        if not wf:
            raise ValidationError("a drive must drive at least one electrode (a ground counts)")
        self.waveforms = wf
        self.floating = tuple(fl)
        self.spec = spec if spec is not None else self.to_spec()

    @property
    def driven(self) -> tuple[str, ...]:
        """Names of the driven electrodes, in the column order of :meth:`voltages`."""
        return tuple(self.waveforms)

    def voltages(self, t_s: Any) -> np.ndarray:
        """Source voltages at times ``t_s`` (shape (n_t,)): array (n_t, n_driven), volts."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        return np.stack([np.broadcast_to(w(t), t.shape) for w in self.waveforms.values()], axis=-1)

    def breakpoints(self, t0_s: float, t1_s: float) -> np.ndarray:
        """Sorted union of every waveform's breakpoints in ``(t0_s, t1_s)``."""
        bps = [w.breakpoints(t0_s, t1_s) for w in self.waveforms.values()]
        return np.unique(np.concatenate(bps)) if bps else np.zeros(0)

    def check_circuit(self, electrode_names: Sequence[str]) -> None:
        """Raise if the drive names an electrode the circuit does not have."""
        known = set(electrode_names)
        for n in (*self.waveforms, *self.floating):
            if n not in known:
                raise ValidationError(
                    f"drive names electrode {n!r}, not found; known electrodes: {', '.join(electrode_names)}"
                )

    def digest(self) -> str:
        """SHA-256 (64 hex digits) of the drive's full content.

        Covers every driven electrode in column order with its waveform's class and every
        parameter (sampled values, PWL knots and float parameters as exact binary64 bytes) and the
        floating electrodes. Two drives with equal digests apply the same voltages; the spec string
        does not identify a drive (:meth:`to_spec` prints ``<Sampled>`` for any sampled waveform).

        Raises
        ------
        ValidationError
            If a custom waveform holds a value with no exact encoding (e.g. a function).
        """
        from nwphys._digest import sha256_of

        return sha256_of("nwphys.Drive", list(self.waveforms.items()), list(self.floating))

    def to_spec(self) -> str:
        """A readable description (a parseable spec for DC/pulse/sine/pwl waveforms)."""
        parts = []
        for n, w in self.waveforms.items():
            if isinstance(w, DC):
                parts.append(f"{n}={w.value_V!r}")
            elif isinstance(w, Pulse):
                s = (
                    f"{n}=pulse:amp={w.amp_V!r},width={w.width_s!r},period={w.period_s!r},delay={w.delay_s!r},"
                    f"low={w.low_V!r}"
                )
                parts.append(s + (f",count={w.count}" if w.count is not None else ""))
            elif isinstance(w, Sine):
                parts.append(
                    f"{n}=sine:amp={w.amp_V!r},freq={w.freq_Hz!r},offset={w.offset_V!r},phase={w.phase_rad!r}"
                )
            elif isinstance(w, PiecewiseLinear):
                parts.append(
                    f"{n}=pwl:" + ",".join(f"{v!r}@{t!r}" for t, v in zip(w.times_s, w.values_V, strict=True))
                )
            else:
                parts.append(f"{n}=<{type(w).__name__}>")
        parts += [f"{n}=float" for n in self.floating]
        return ";".join(parts)

    def __repr__(self) -> str:
        return f"Drive({self.spec!r})"


_PULSE_KEYS = {
    "amp": "amp_V",
    "width": "width_s",
    "period": "period_s",
    "delay": "delay_s",
    "low": "low_V",
    "count": "count",
}
_SINE_KEYS = {"amp": "amp_V", "freq": "freq_Hz", "offset": "offset_V", "phase": "phase_rad"}


def _kv(name: str, body: str, keys: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in body.split(","))):
        if "=" not in item:
            raise ValidationError(f"drive for {name!r}: expected key=value, got {item!r}")
        k, v = (s.strip() for s in item.split("=", 1))
        if k not in keys:
            raise ValidationError(f"drive for {name!r}: unknown key {k!r}; allowed: {', '.join(keys)}")
        try:
            out[keys[k]] = int(v) if k == "count" else float(v)
        except ValueError:
            raise ValidationError(f"drive for {name!r}: {k} must be a number, got {v!r}") from None
    return out


def _parse_waveform(name: str, text: str) -> Waveform | None:
    s = text.strip()
    low = s.lower()
    if low in ("gnd", "ground"):
        return DC(0.0)
    if low in ("float", "floating", "open"):
        return None
    kind, _, body = s.partition(":")
    kind = kind.strip().lower()
    try:
        if not body:
            return DC(float(s))
    except ValueError:
        raise ValidationError(
            f"drive for {name!r}: cannot parse {text!r}; use a number, gnd, float, "
            "dc:V, pulse:..., sine:... or pwl:..."
        ) from None
    if kind == "dc":
        b = body.strip()
        if b.startswith("value="):
            b = b[6:]
        try:
            return DC(float(b))
        except ValueError:
            raise ValidationError(f"drive for {name!r}: dc value must be a number, got {body!r}") from None
    if kind == "pulse":
        return Pulse(**_kv(name, body, _PULSE_KEYS))
    if kind in ("sine", "sin"):
        return Sine(**_kv(name, body, _SINE_KEYS))
    if kind == "pwl":
        ts, vs = [], []
        for item in filter(None, (p.strip() for p in body.split(","))):
            v, sep, t = item.partition("@")
            try:
                if not sep:
                    raise ValueError
                vs.append(float(v))
                ts.append(float(t))
            except ValueError:
                raise ValidationError(
                    f"drive for {name!r}: pwl points are value@time, got {item!r}"
                ) from None
        return PiecewiseLinear(np.array(ts), np.array(vs))
    raise ValidationError(
        f"drive for {name!r}: unknown waveform {kind!r}; use dc, pulse, sine, pwl, gnd or float"
    )


def parse_drive(spec: str) -> Drive:
    """Parse a drive spec string such as ``"in=pulse:amp=1,width=0.01,period=0.02;out=gnd"``.

    Raises
    ------
    ValidationError
        Naming the electrode and the offending part of the spec.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValidationError(f"drive spec must be a non-empty string like 'in=1;out=gnd', got {spec!r}")
    waves: dict[str, Any] = {}
    floating: list[str] = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, sep, body = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValidationError(f"drive spec parts must be name=waveform, got {part!r}")
        if name in waves or name in floating:
            raise ValidationError(f"drive spec names electrode {name!r} twice")
        w = _parse_waveform(name, body)
        if w is None:
            floating.append(name)
        else:
            waves[name] = w
    return Drive(waves, floating=floating, spec=spec)
