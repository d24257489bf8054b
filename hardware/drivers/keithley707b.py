"""Keithley 707B switching matrix (TSP): PyMeasure has no driver for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymeasure.instruments import Instrument

from hardware.drivers._base import _SessionDriver

__all__ = ["Keithley707B"]


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

    def open_channels(self, channels: Sequence[str]) -> None:
        """Open the crosspoints ``channels``."""
        if channels:
            self.write(f'channel.open("{",".join(channels)}")')

    def close_channels(self, channels: Sequence[str]) -> None:
        """Close the crosspoints ``channels`` (e.g. ``["1A01", "1B02"]``)."""
        if channels:
            self.write(f'channel.close("{",".join(channels)}")')
