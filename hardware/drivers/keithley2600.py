"""Keithley 2600B SourceMeter (TSP, channels ``a`` and ``b``): one exchange per step for both."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.keithley import Keithley2600
from pymeasure.instruments.validators import strict_discrete_set

from hardware.drivers._base import SmuChannel, _exact, _on_off, _SessionDriver, _Smu, _within

__all__ = ["Smu2600", "Smu2600Channel"]


class Smu2600Channel(SmuChannel):
    """Channel ``a`` or ``b`` of a Keithley 2600B (TSP; ``{ch}`` is the channel letter)."""

    source_range_V = (-200.0, 200.0)

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


class Smu2600(_Smu, _SessionDriver, Keithley2600):
    """Keithley 2600B (channels ``a``, ``b``) with one TSP exchange per step for both channels."""

    n_channels = 2
    channel_names: tuple[str | None, ...] = ("a", "b")
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
                cmd.append(f"smu{c}.source.levelv={self.checked_level(c, levels[c])!r}")
        for c in chans:
            cmd.append(f"i{c},v{c}=smu{c}.measure.iv() c{c}=smu{c}.source.compliance and 1 or 0")
        cmd.append("print(" + ",".join(f"v{c},i{c},c{c}" for c in chans) + ")")
        vals = self.session.query_floats(" ".join(cmd), 3 * len(chans), "measure.iv()")
        return {c: (vals[3 * k], vals[3 * k + 1] if levels[c] is not None else 0.0, bool(vals[3 * k + 2]))
                for k, c in enumerate(chans)}

    def set_levels(self, levels: dict[str | None, float | None]) -> None:
        """Set the source level of every sourcing channel in one TSP chunk; no reading."""
        cmd = [f"smu{c}.source.levelv={self.checked_level(c, levels[c])!r}" for c in sorted(levels)
               if levels[c] is not None]
        if cmd:
            self.write(" ".join(cmd))

    def measure(self, next_levels: dict[str | None, float | None] | None = None
                ) -> dict[str | None, tuple[float, float, bool]]:
        """Read every used channel now, then set ``next_levels`` (if given), in one TSP chunk.

        The readings are of the levels held until now (a step's reading at the end of its hold).
        ``next_levels`` names the channels to read (``{channel: level or None}``); without it, both.
        """
        chans = sorted(next_levels) if next_levels is not None else ["a", "b"]
        cmd = [f"i{c},v{c}=smu{c}.measure.iv() c{c}=smu{c}.source.compliance and 1 or 0" for c in chans]
        if next_levels is not None:
            cmd += [f"smu{c}.source.levelv={self.checked_level(c, next_levels[c])!r}" for c in chans
                    if next_levels[c] is not None]
        cmd.append("print(" + ",".join(f"v{c},i{c},c{c}" for c in chans) + ")")
        vals = self.session.query_floats(" ".join(cmd), 3 * len(chans), "measure.iv()")
        return {c: (vals[3 * k], 0.0 if self.channels[c].mode == "measure_v" else vals[3 * k + 1],
                    bool(vals[3 * k + 2])) for k, c in enumerate(chans)}

    def run_list(self, levels_V: np.ndarray, dt_s: float, channel: str = "a") -> np.ndarray:
        """Buffered list sweep on one channel; returns ``(n_steps, 2)`` of (V, I).

        Each point is read ``dt_s`` after its source level is set: timer 1 starts on the channel's
        source-complete event and the measurement waits for the timer (2600BS-901-01 Rev. F,
        pp. 9-267 and 9-277; without that routing the measurement would not wait at all).
        """
        text = [repr(x) for x in self.checked_levels(channel, levels_V)]
        c = f"smu{channel}"
        n = len(levels_V)
        self.write(f"{c}.nvbuffer1.clear() {c}.nvbuffer2.clear() "
                   f"{c}.trigger.source.listv({{{','.join(text)}}}) "
                   f"{c}.trigger.source.action={c}.ENABLE "
                   f"{c}.trigger.measure.iv({c}.nvbuffer1,{c}.nvbuffer2) "
                   f"{c}.trigger.measure.action={c}.ENABLE {c}.trigger.count={n} "
                   f"trigger.timer[1].delay={dt_s!r} trigger.timer[1].count=1 "
                   f"trigger.timer[1].stimulus={c}.trigger.SOURCE_COMPLETE_EVENT_ID "
                   f"{c}.trigger.measure.stimulus=trigger.timer[1].EVENT_ID "
                   f"{c}.trigger.initiate() waitcomplete()")
        data = self.session.query_floats(
            f"printbuffer(1,{n},{c}.nvbuffer2.readings,{c}.nvbuffer1.readings)", 2 * n, "printbuffer")
        return data.reshape(n, 2)

    def outputs(self, on: bool, channels: Sequence[str | None] | None = None) -> None:
        """Switch the outputs of ``channels`` (default: both) on or off (one message per channel).

        A drive switches on only the channels it uses: a channel that it has not configured would
        source whatever level it was left at."""
        for c in (("a", "b") if channels is None else channels):
            self.channel(c).output_enabled = bool(on)
