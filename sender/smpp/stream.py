"""Reading SMPP frames from a byte stream: a sans-I/O splitter and an asyncio reader."""

from __future__ import annotations

import asyncio
import struct
from typing import Final

from sender.smpp.codes import HEADER_LENGTH, MAX_PDU_LENGTH, CommandStatus, PduError

LENGTH_PREFIX: Final = 4
"""command_length leads every frame and counts itself."""
_LENGTH: Final = struct.Struct("!I")


def _check_length(length: int, max_length: int) -> None:
    if not HEADER_LENGTH <= length <= max_length:
        raise PduError(f"command_length {length} is outside {HEADER_LENGTH}..{max_length}",
                       CommandStatus.ESME_RINVCMDLEN)


class FrameBuffer:
    """Splits a byte stream into frames, without I/O: feed it what the socket gave.

    A bad command_length raises PduError; the stream cannot be resynchronised after it,
    so the connection should be closed.
    """

    __slots__ = ("_buffer", "_max_length")

    def __init__(self, max_length: int = MAX_PDU_LENGTH) -> None:
        self._buffer = b""
        self._max_length = max_length

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data if self._buffer else data
        frames: list[bytes] = []
        offset, size, max_length = 0, len(buffer), self._max_length
        length_at = _LENGTH.unpack_from  # a frame a message each way: no slice, no call
        while size - offset >= LENGTH_PREFIX:
            (length,) = length_at(buffer, offset)
            if not HEADER_LENGTH <= length <= max_length:
                _check_length(length, max_length)
            if size - offset < length:
                break
            frames.append(buffer[offset:offset + length])
            offset += length
        self._buffer = buffer[offset:] if offset < size else b""
        return frames

    @property
    def pending(self) -> int:
        """Bytes held back: the start of a frame not yet complete."""
        return len(self._buffer)


async def read_frame(reader: asyncio.StreamReader, max_length: int = MAX_PDU_LENGTH) -> bytes:
    """The next whole frame from a stream. Raises asyncio.IncompleteReadError at EOF."""
    head = await reader.readexactly(LENGTH_PREFIX)
    length = int.from_bytes(head, "big")
    _check_length(length, max_length)
    return head + await reader.readexactly(length - LENGTH_PREFIX)
