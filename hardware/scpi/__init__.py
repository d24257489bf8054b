"""The SCPI emulator: any :class:`~hardware.Device` served as a multichannel source-measure unit.

:mod:`~hardware.scpi.emulator` is the public module (:func:`~hardware.serve_emulator`, its command
set and limits). Its private modules are the parts of one instrument: the byte stream framed
into messages (``_framing``), the TCP server (``_tcp``), the command table (``_commands``), SCPI
text (``_parse``), the instrument state machine (``_state``), compliance fold-back
(``_compliance``) and the rows of a measurement reply (``_rows``, shared with the client).
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "emulator": ("EmulatorServer", "Faults", "serve_emulator"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
