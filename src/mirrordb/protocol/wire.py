"""Primitive fields of the frontend/backend protocol v3: integers, strings, framing.

Every protocol integer is big-endian (network order). The field kinds, as the protocol documents
them, and how this module reads each one:

    Int8 / Int16 / Int32   signed; counts written as Int16 are read unsigned (0..65535), as
                           PostgreSQL's ``pq_getmsgint(msg, 2)`` does
    Oid                    unsigned 32-bit
    String                 bytes ended by one NUL; the text is UTF-8 (the only encoding we speak)
    Byte n                 n raw bytes
    Byten / -1             an Int32 length then that many bytes; -1 means NULL (no bytes follow)

A typed message is ``Byte1 type | Int32 length | body``; ``length`` counts itself and the body but
not the type byte. An untyped startup packet is ``Int32 length | body`` (``length`` counts itself).

``BodyReader`` walks one complete message body. When the body is short, has no terminator where a
string should end, or has bytes left over, it raises ``MalformedBody`` carrying PostgreSQL's
message text; the decoders in ``messages.py`` turn that into a ``ProtocolViolation`` worded for
the side that received it (the server's text or libpq's). Pure code: no I/O, no state beyond the
cursor of the body being read.
"""

from __future__ import annotations

import struct

from mirrordb.common.errors import invariant

# -- struct formats (all network order) ------------------------------------------------------------

INT16 = struct.Struct("!h")
UINT16 = struct.Struct("!H")
INT32 = struct.Struct("!i")
UINT32 = struct.Struct("!I")
MESSAGE_HEADER = struct.Struct("!cI")  # Byte1 type | Int32 length (counts itself, not the type)
LENGTH_WORD = struct.Struct("!I")  # startup packets, and the length half of a typed header
assert INT16.size == 2 and UINT16.size == 2 and INT32.size == 4 and UINT32.size == 4
assert MESSAGE_HEADER.size == 5 and LENGTH_WORD.size == 4

MESSAGE_HEADER_SIZE = MESSAGE_HEADER.size
LENGTH_WORD_SIZE = LENGTH_WORD.size
NUL = b"\x00"
NULL_VALUE_LENGTH = -1  # a Byten field whose Int32 length is -1 is SQL NULL
NULL_VALUE_FIELD = INT32.pack(NULL_VALUE_LENGTH)
MAX_INT16_COUNT = 0xFFFF  # largest count an Int16 count field can carry
SERVER_ENCODING_NAME = "UTF8"

# -- PostgreSQL's texts for a malformed body (pqformat.c) -------------------------------------------

NO_DATA_LEFT = "no data left in message"
INSUFFICIENT_DATA_LEFT = "insufficient data left in message"
INVALID_STRING = "invalid string in message"
INVALID_MESSAGE_FORMAT = "invalid message format"
CHARACTER_NOT_IN_REPERTOIRE = "22021"


class MalformedBody(Exception):
    """A body that does not parse; ``text`` is PostgreSQL's wording, ``sqlstate`` its code.

    Internal to the protocol package: ``messages.py`` converts it into a ``ProtocolViolation``.
    """

    def __init__(self, text: str, sqlstate: str = "08P01") -> None:
        super().__init__(text)
        self.text = text
        self.sqlstate = sqlstate


def invalid_encoding_text(raw: bytes, error: UnicodeDecodeError) -> str:
    """PostgreSQL's report for bytes that are not UTF-8: the offending bytes in hex."""
    bad = raw[error.start:min(error.end, error.start + 4)] or raw[error.start:error.start + 1]
    shown = " ".join(f"0x{byte:02x}" for byte in bad)
    return f'invalid byte sequence for encoding "{SERVER_ENCODING_NAME}": {shown}'


def decode_text(raw: bytes) -> str:
    """UTF-8 text of a protocol string, or ``MalformedBody`` (22021) as PostgreSQL reports it."""
    try:
        return raw.decode()
    except UnicodeDecodeError as error:
        raise MalformedBody(invalid_encoding_text(raw, error), CHARACTER_NOT_IN_REPERTOIRE) from None


def encode_string(text: str) -> bytes:
    """A protocol String: UTF-8 bytes and the NUL that ends them. NUL inside is a programmer error."""
    encoded = text.encode()
    invariant(NUL not in encoded, f"protocol string contains a NUL byte: {text!r}")
    return encoded + NUL


def frame(type_byte: bytes, body: bytes) -> bytes:
    """``type | Int32 length | body`` for a typed message."""
    return MESSAGE_HEADER.pack(type_byte, len(body) + LENGTH_WORD_SIZE) + body


class BodyReader:
    """A cursor over one complete message body, reading fields as PostgreSQL's pqformat does."""

    __slots__ = ("_body", "_cursor")

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._cursor = 0

    @property
    def remaining(self) -> int:
        return len(self._body) - self._cursor

    def byte(self) -> int:
        if self._cursor >= len(self._body):
            raise MalformedBody(NO_DATA_LEFT)
        value = self._body[self._cursor]
        self._cursor += 1
        return value

    def _fixed(self, layout: struct.Struct) -> int:
        if self.remaining < layout.size:
            raise MalformedBody(INSUFFICIENT_DATA_LEFT)
        (value,) = layout.unpack_from(self._body, self._cursor)
        self._cursor += layout.size
        return int(value)

    def int16(self) -> int:
        return self._fixed(INT16)

    def count16(self) -> int:
        """An Int16 count, read unsigned as PostgreSQL reads it."""
        return self._fixed(UINT16)

    def int32(self) -> int:
        return self._fixed(INT32)

    def uint32(self) -> int:
        return self._fixed(UINT32)

    def _array(self, item: struct.Struct, item_code: str) -> tuple[int, ...]:
        """An Int16 count, then that many items of one fixed-size kind (0 and 1 items, the usual
        cases, without building a format)."""
        body = self._body
        cursor = self._cursor + UINT16.size
        if cursor > len(body):
            raise MalformedBody(INSUFFICIENT_DATA_LEFT)
        count = (body[cursor - 2] << 8) | body[cursor - 1]
        end = cursor + count * item.size
        if end > len(body):
            raise MalformedBody(INSUFFICIENT_DATA_LEFT)
        self._cursor = end
        if count == 0:
            return ()
        if count == 1:
            return item.unpack_from(body, cursor)
        return struct.unpack_from(f"!{count}{item_code}", body, cursor)

    def int16_array(self) -> tuple[int, ...]:
        """Int16 count, then that many Int16 (format codes)."""
        return self._array(INT16, "h")

    def oid_array(self) -> tuple[int, ...]:
        """Int16 count, then that many Oids."""
        return self._array(UINT32, "I")

    def nullable_array(self) -> tuple[bytes | None, ...]:
        """Int16 count, then that many Byten values (None for length -1)."""
        return self.nullable_values(self._fixed(UINT16))

    def nullable_values(self, count: int) -> tuple[bytes | None, ...]:
        """``count`` Byten values (None for length -1)."""
        body = self._body
        cursor = self._cursor
        values: list[bytes | None] = []
        for _ in range(count):
            if cursor + INT32.size > len(body):
                raise MalformedBody(INSUFFICIENT_DATA_LEFT)
            (length,) = INT32.unpack_from(body, cursor)
            cursor += INT32.size
            if length == NULL_VALUE_LENGTH:
                values.append(None)
                continue
            if length < 0 or cursor + length > len(body):
                raise MalformedBody(INSUFFICIENT_DATA_LEFT)
            values.append(body[cursor:cursor + length])
            cursor += length
        self._cursor = cursor
        return tuple(values)

    def raw(self, length: int) -> bytes:
        if length < 0 or length > self.remaining:
            raise MalformedBody(INSUFFICIENT_DATA_LEFT)
        value = self._body[self._cursor:self._cursor + length]
        self._cursor += length
        return value

    def nullable(self) -> bytes | None:
        """A Byten value: Int32 length (-1 for NULL) then the bytes."""
        length = self.int32()
        return None if length == NULL_VALUE_LENGTH else self.raw(length)

    def raw_string(self) -> bytes:
        end = self._body.find(NUL, self._cursor)
        if end < 0:
            raise MalformedBody(INVALID_STRING)
        value = self._body[self._cursor:end]
        self._cursor = end + 1
        return value

    def string(self) -> str:
        return decode_text(self.raw_string())

    def rest(self) -> bytes:
        value = self._body[self._cursor:]
        self._cursor = len(self._body)
        return value

    def end(self) -> None:
        """The body must be used up exactly (PostgreSQL's ``pq_getmsgend``)."""
        if self._cursor != len(self._body):
            raise MalformedBody(INVALID_MESSAGE_FORMAT)
