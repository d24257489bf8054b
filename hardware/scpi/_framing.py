"""Framing of the emulator's byte stream into messages (sockets-free).

A message is a line ending in ``\\n`` or the text in front of an IEEE 488.2 definite-length binary
block, with the block's data; :class:`Framer` stores at most one message and refuses what is over
the line or block limit (see *Limits and safety* in :mod:`hardware.scpi.emulator`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

__all__ = ["Framer", "Message"]


@dataclass(frozen=True)
class Message:
    """One framed message: its text, the data of a binary block, or the error that refuses it."""

    line: str
    payload: bytes | None = None
    error: tuple[int, str] | None = None


class Framer:
    """Split a received byte stream into messages, storing at most one message (sockets-free).

    A message is a line ending in ``\\n`` (a trailing ``\\r`` is dropped), or the text in front of
    an IEEE 488.2 definite-length block ``#<d><d digits: length><length bytes>`` and the ``\\n``
    right after the block. A line longer than ``max_line_bytes``, a malformed block header, a block
    declared longer than ``max_block_bytes`` (skipped as it arrives) and a block not followed by
    ``\\n`` each give one message with an ``error``; the rest of that line is dropped.

    Parameters
    ----------
    max_line_bytes : int
        Longest text of a message in bytes.
    max_block_bytes : int
        Longest binary block in bytes.
    """

    _SPECIAL = re.compile(rb"[\n#]")
    #: Bytes of a refused line kept for its error message and to tell whether it was a query.
    _PREFIX_BYTES = 256

    def __init__(self, max_line_bytes: int, max_block_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.max_block_bytes = max_block_bytes
        self.buf = bytearray()
        self._state = "text"  # text | block | skip | term (the newline after a block) | discard
        self._scan = 0  # text state: buf[:_scan] holds no newline and no '#'
        self._need = 0  # block and skip states: bytes of block data still to come
        self._declared = 0  # block length declared by the header
        self._pending: Message | None = None  # the message a block, skip or discard completes

    @property
    def in_block(self) -> bool:
        """Whether a binary block is being received (its data or the newline after it)."""
        return self._state in ("block", "skip", "term")

    def feed(self, data: bytes) -> None:
        """Take received bytes (bytes that are discarded or skipped are never stored)."""
        if self._state == "discard" and not self.buf:
            nl = data.find(b"\n")
            if nl == -1:
                return
            data = data[nl:]
        elif self._state == "skip" and not self.buf:
            k = min(self._need, len(data))
            self._need -= k
            data = data[k:]
        self.buf += data

    def next_message(self) -> Message | None:
        """The next complete message, or None until more bytes are fed."""
        buf = self.buf
        while True:
            if self._state == "text":
                m = self._SPECIAL.search(buf, self._scan)
                end = len(buf) if m is None else m.start()
                if end > self.max_line_bytes:
                    self._refuse(
                        -223,
                        f"line longer than max_line_bytes={self.max_line_bytes} bytes, "
                        f"discarded up to its newline: {self._text(buf[:60])!r}...",
                        self.max_line_bytes,
                    )
                    continue
                if m is None:
                    self._scan = len(buf)
                    return None
                if buf[end] == 0x0A:
                    line = self._text(buf[:end]).rstrip("\r")
                    del buf[: end + 1]
                    self._scan = 0
                    return Message(line)
                if not self._block_header(end):
                    self._scan = end
                    return None
            elif self._state == "block":
                n = self._need
                if len(buf) < n + 1:
                    return None
                assert self._pending is not None
                if buf[n] == 0x0A:
                    msg = replace(self._pending, payload=bytes(buf[:n]))
                    del buf[: n + 1]
                    return self._done(msg)
                del buf[:n]
                self._pending = replace(
                    self._pending,
                    error=(
                        -102,
                        f"binary block of {n} bytes not followed by the newline terminator "
                        "(the data is longer than its header says)",
                    ),
                )
                self._state = "discard"
            elif self._state == "skip":
                k = min(self._need, len(buf))
                del buf[:k]
                self._need -= k
                if self._need:
                    return None
                self._state = "term"
            elif self._state == "term":
                if not buf:
                    return None
                self._state = "discard"  # the newline, or the rest of the line, goes
            else:  # discard up to the newline
                nl = buf.find(b"\n")
                if nl == -1:
                    buf.clear()
                    return None
                del buf[: nl + 1]
                assert self._pending is not None
                return self._done(self._pending)

    def abandon_block(self, idle_s: float) -> Message:
        """End an incomplete block after ``idle_s`` seconds without data; return its message."""
        assert self._pending is not None and self.in_block
        msg = self._pending
        if msg.error is None:
            got = self._declared - self._need + (len(self.buf) if self._state == "block" else 0)
            msg = replace(
                msg,
                error=(
                    -102,
                    f"incomplete binary block: {self._declared} bytes declared, "
                    f"{min(got, self._declared)} received, then no data for {idle_s:g} s",
                ),
            )
        self.buf.clear()
        return self._done(msg)

    @staticmethod
    def _text(data: bytes | bytearray) -> str:
        return bytes(data).decode("latin-1")

    def _done(self, msg: Message) -> Message:
        self._state, self._scan, self._need, self._pending = "text", 0, 0, None
        return msg

    def _refuse(self, code: int, detail: str, end: int) -> None:
        """Refuse the message now in ``buf`` (its text is ``buf[:end]``) and drop its line."""
        self._pending = Message(self._text(self.buf[: min(self._PREFIX_BYTES, end)]), None, (code, detail))
        self._state = "discard"

    def _block_header(self, at: int) -> bool:
        """Parse the block header at ``buf[at] == '#'``; False when more bytes are needed."""
        buf = self.buf
        if len(buf) < at + 2:
            return False
        d = buf[at + 1] - 48
        if not 1 <= d <= 9:
            self._refuse(
                -102,
                f"malformed binary block header {bytes(buf[at : at + 2])!r}: '#' must be "
                "followed by the digit count 1..9 (indefinite-length blocks are not "
                "supported)",
                at,
            )
            return True
        if len(buf) < at + 2 + d:
            return False
        digits = bytes(buf[at + 2 : at + 2 + d])
        if not digits.isdigit():
            self._refuse(
                -102,
                f"malformed binary block header {bytes(buf[at : at + 2 + d])!r}: {d} length "
                "digit(s) expected",
                at,
            )
            return True
        n = int(digits)
        pending = Message(self._text(buf[:at]))
        del buf[: at + 2 + d]
        self._scan, self._need, self._declared = 0, n, n
        if n > self.max_block_bytes:
            self._pending = replace(
                pending,
                error=(
                    -223,
                    f"binary block of {n} bytes exceeds {self.max_block_bytes} bytes "
                    "(8 x max_block_values); skipped",
                ),
            )
            self._state = "skip"
            k = min(n, len(buf))
            del buf[:k]
            self._need -= k
        else:
            self._pending = pending
            self._state = "block"
        return True
