"""PostgreSQL's composite datum (a heap tuple as a value, htup_details.h), byte for byte.

Who calls it: ``datum.py`` stores a column (or array element, or field) of a composite type
(CREATE TYPE ... AS (...)) with ``encode_composite``/``decode_composite``, given one
``ElementFormat`` per field (how the field's type is laid out and converted, the same
descriptions arrays use). The SQL layer's text and binary forms (record_out, record_send) live
in sql/types.py; the catalog side (which fields a type has) in sql/user_types.py.

As for arrays, the row codec gives the value its own length header, so the stored bytes are
PostgreSQL's datum *after* its 4-byte varlena header (which is the tuple header's
``datum_len_``). Offsets count from the start of PostgreSQL's datum, header included, because
alignment does; integers are little-endian::

    offset  size          field
    0       4             datum_len_ (the varlena header: not stored here)
    4       int32         datum_typmod: -1
    8       uint32        datum_typeid: the composite type's OID
    12      6             t_ctid: invalid (block 0xFFFFFFFF as two uint16 halves, offset 0)
    18      uint16        t_infomask2: the number of fields
    20      uint16        t_infomask: HEAP_HASNULL (0x0001) when a field is NULL,
                          HEAP_HASVARWIDTH (0x0002) when a non-NULL field is variable-width
    22      uint8         t_hoff: where the data starts (a multiple of 8)
    23      (n + 7) // 8  NULL bitmap, only with HEAP_HASNULL: bit i % 8 of byte i // 8 is 1 when
                          field i is NOT NULL
    ..      pad           zeros up to t_hoff
    t_hoff  fields        each non-NULL field as heap_fill_tuple lays it out: a fixed-width one
                          aligned to its typalign; a variable-width one of at most 126 bytes
                          with a 1-byte header (``(1 + length) << 1 | 1``) and no alignment,
                          a longer one aligned to its typalign with a 4-byte header
                          (``(4 + length) << 2``). Padding bytes are zero.

A datum may hold fewer fields than the type has now (ALTER TYPE ... ADD ATTRIBUTE came later):
the missing ones read as NULL, as PostgreSQL reads them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from mirrordb.common.errors import invariant
from mirrordb.storage.array_format import ElementFormat

VARHDRSZ = 4
MAXIMUM_ALIGNOF = 8
HEAP_TUPLE_HEADER_BYTES = 23            # offsetof(HeapTupleHeaderData, t_bits)
HEAP_HASNULL = 0x0001
HEAP_HASVARWIDTH = 0x0002
HEAP_NATTS_MASK = 0x07FF
VARATT_SHORT_MAX = 0x7F                 # a 1-byte header describes at most 127 bytes
INVALID_BLOCK_HALF = 0xFFFF
_HEADER = struct.Struct("<iIHHHHHB")    # typmod, typeid, ctid (hi, lo, posid), mask2, mask, hoff
assert _HEADER.size == HEAP_TUPLE_HEADER_BYTES - VARHDRSZ
_SHORT_HEADER_LIMIT = VARATT_SHORT_MAX - 1   # payload bytes a 1-byte header can take
_LONG_HEADER = struct.Struct("<I")

Fields = Sequence[ElementFormat]


def _align(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) // alignment * alignment


def encode_composite(type_oid: int, values: Sequence[Any], fields: Fields) -> bytes:
    """The stored bytes (after the varlena header) of one composite value."""
    invariant(len(values) == len(fields), "a composite value has one value per field")
    has_null = any(value is None for value in values)
    bitmap = _null_bitmap(values) if has_null else b""
    hoff = _align(HEAP_TUPLE_HEADER_BYTES + len(bitmap), MAXIMUM_ALIGNOF)
    data = bytearray()
    for value, field in zip(values, fields):
        if value is None:
            continue
        _append_field(data, hoff, field, value)
    infomask = (HEAP_HASNULL if has_null else 0) | \
        (HEAP_HASVARWIDTH if any(field.length == -1 and value is not None
                                 for value, field in zip(values, fields)) else 0)
    header = _HEADER.pack(-1, type_oid, INVALID_BLOCK_HALF, INVALID_BLOCK_HALF, 0,
                          len(fields) & HEAP_NATTS_MASK, infomask, hoff)
    padding = bytes(hoff - HEAP_TUPLE_HEADER_BYTES - len(bitmap))
    return header + bitmap + padding + bytes(data)


def _append_field(data: bytearray, hoff: int, field: ElementFormat, value: Any) -> None:
    stored = field.encode(value)
    if field.length != -1:
        data.extend(bytes(_align(hoff + len(data), field.alignment) - hoff - len(data)))
        data.extend(stored)
    elif len(stored) <= _SHORT_HEADER_LIMIT:
        data.append(((len(stored) + 1) << 1) | 1)
        data.extend(stored)
    else:
        data.extend(bytes(_align(hoff + len(data), field.alignment) - hoff - len(data)))
        data.extend(_LONG_HEADER.pack((len(stored) + VARHDRSZ) << 2))
        data.extend(stored)


def _null_bitmap(values: Sequence[Any]) -> bytes:
    bitmap = bytearray((len(values) + 7) // 8)
    for index, value in enumerate(values):
        if value is not None:
            bitmap[index >> 3] |= 1 << (index & 7)
    return bytes(bitmap)


def decode_composite(stored: bytes, fields: Fields,
                     make: Callable[[list[Any]], Any]) -> Any:
    """One composite value from its stored bytes (``make`` builds the value from the fields'
    values); malformed bytes raise ValueError or struct.error."""
    if len(stored) < _HEADER.size:
        raise ValueError("composite datum shorter than its header")
    _, _, _, _, _, infomask2, infomask, hoff = _HEADER.unpack_from(stored, 0)
    natts = infomask2 & HEAP_NATTS_MASK
    if natts > len(fields):
        raise ValueError(f"composite datum has {natts} fields, its type {len(fields)}")
    bitmap = None
    if infomask & HEAP_HASNULL:
        start = HEAP_TUPLE_HEADER_BYTES - VARHDRSZ
        bitmap = stored[start:start + (natts + 7) // 8]
    position = hoff - VARHDRSZ
    values: list[Any] = []
    for index, field in enumerate(fields[:natts]):
        if bitmap is not None and not bitmap[index >> 3] & (1 << (index & 7)):
            values.append(None)
            continue
        value, position = _read_field(stored, position, field)
        values.append(value)
    if position != len(stored):
        raise ValueError("bytes left over after a composite datum's last field")
    return make(values + [None] * (len(fields) - natts))


def _read_field(stored: bytes, position: int, field: ElementFormat) -> tuple[Any, int]:
    """(value, next position) of one field; ``position`` counts from after the header."""
    absolute = position + VARHDRSZ
    if field.length != -1:
        start = _align(absolute, field.alignment) - VARHDRSZ
        end = start + field.length
        if end > len(stored):
            raise ValueError("a composite datum's field runs past its end")
        return field.decode(stored[start:end]), end
    first = stored[position]
    if first & 1:                                    # 1-byte header, no alignment
        length = (first >> 1) - 1
        start = position + 1
    else:
        position = _align(absolute, field.alignment) - VARHDRSZ
        length = (_LONG_HEADER.unpack_from(stored, position)[0] >> 2) - VARHDRSZ
        start = position + VARHDRSZ
    end = start + length
    if length < 0 or end > len(stored):
        raise ValueError("a composite datum's field runs past its end")
    return field.decode(stored[start:end]), end
