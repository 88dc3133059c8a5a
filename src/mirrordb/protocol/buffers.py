"""Byte buffers of a protocol connection: what was received and not yet decoded, what waits to go.

Used by ``ServerConnection`` and ``ClientConnection``; the caller owning the socket feeds received
bytes in (``receive_data``) and writes ``data_to_send()`` out. Neither buffer does I/O.

Bounds. The input buffer holds at most one partial message plus what the last ``receive_data``
added, provided the caller drains ``next_event()`` until it returns None before feeding more, as
every event loop does. Oversized messages are refused from their length word, before their body is
buffered, so one partial message is at most the largest message the phase allows. A caller that
keeps feeding without draining trips ``INPUT_BUFFER_LIMIT_BYTES`` (an invariant: that is a bug in
the caller, not the peer's doing). One ``receive_data`` call takes at most
``RECEIVE_CHUNK_LIMIT_BYTES``. The output buffer holds what the owner chose to send and is emptied
by every ``data_to_send()``; ``pending_bytes`` lets the owner flush before it grows large.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mirrordb.common.errors import invariant

RECEIVE_CHUNK_LIMIT_BYTES = 16 * 1024 * 1024  # largest single receive_data() argument
LARGEST_MESSAGE_BYTES = 0x3FFFFFFE + 1  # PostgreSQL's large message limit plus the type byte
INPUT_BUFFER_LIMIT_BYTES = LARGEST_MESSAGE_BYTES + RECEIVE_CHUNK_LIMIT_BYTES
COMPACT_AFTER_BYTES = 64 * 1024  # consumed prefix size that makes the input buffer shift
TYPED_HEADER = struct.Struct("!BI")  # type byte | Int32 length
assert TYPED_HEADER.size == 5


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """Event: the peer closed its side cleanly, at a message boundary (``receive_data(b"")``)."""


class InputBuffer:
    """Received bytes not yet decoded, with a read offset (compacted now and then)."""

    __slots__ = ("_data", "_start", "end_of_input")

    def __init__(self) -> None:
        self._data = bytearray()
        self._start = 0
        self.end_of_input = False  # the peer closed its side: no byte will follow

    @property
    def available(self) -> int:
        return len(self._data) - self._start

    def feed(self, data: bytes) -> None:
        """Append ``data``; an empty ``data`` means the peer closed its side."""
        invariant(not self.end_of_input or not data, "receive_data after end of input")
        invariant(len(data) <= RECEIVE_CHUNK_LIMIT_BYTES,
                  f"receive_data chunk of {len(data)} bytes exceeds {RECEIVE_CHUNK_LIMIT_BYTES}")
        if not data:
            self.end_of_input = True
            return
        invariant(self.available + len(data) <= INPUT_BUFFER_LIMIT_BYTES,
                  "input buffer over its limit: drain next_event() before receive_data()")
        self._data += data

    def byte_at(self, index: int) -> int:
        """The byte ``index`` positions past the read offset (the caller checked ``available``)."""
        return self._data[self._start + index]

    def header(self) -> tuple[int, int]:
        """(type byte, Int32 length) of the typed message at the read offset (5 bytes buffered)."""
        type_byte, length = TYPED_HEADER.unpack_from(self._data, self._start)
        return int(type_byte), int(length)

    def peek(self, count: int) -> bytes:
        return bytes(self._data[self._start:self._start + count])

    def take(self, count: int) -> bytes:
        invariant(count <= self.available, f"take({count}) with {self.available} bytes buffered")
        value = bytes(self._data[self._start:self._start + count])
        self._start += count
        self._compact()
        return value

    def take_after(self, skip_count: int, count: int) -> bytes:
        """Skip ``skip_count`` bytes (a header), then take ``count`` (its body)."""
        start = self._start + skip_count
        invariant(start + count <= len(self._data), "take_after beyond the buffered bytes")
        value = bytes(self._data[start:start + count])
        self._start = start + count
        self._compact()
        return value

    def skip(self, count: int) -> None:
        invariant(count <= self.available, f"skip({count}) with {self.available} bytes buffered")
        self._start += count
        self._compact()

    def _compact(self) -> None:
        if self._start == len(self._data):
            self._data.clear()
            self._start = 0
        elif self._start >= COMPACT_AFTER_BYTES and self._start * 2 >= len(self._data):
            del self._data[:self._start]
            self._start = 0


class OutputBuffer:
    """Encoded messages waiting for the owner to write them."""

    __slots__ = ("_chunks", "pending_bytes")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.pending_bytes = 0

    def append(self, data: bytes) -> None:
        self._chunks.append(data)
        self.pending_bytes += len(data)

    def drain(self) -> bytes:
        if not self._chunks:
            return b""
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self.pending_bytes = 0
        return data
