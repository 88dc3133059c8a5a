"""PostgreSQL's on-disk array (``ArrayType`` of array.h), byte for byte, for array columns.

Who calls it: ``datum.py`` builds one ``ElementFormat`` per element type it stores (how one
element becomes bytes and back) and stores an array column's value, a Python list, with
``encode_array``/``decode_array``. The SQL layer's text and binary array forms live in
``sql/types.py``; this module is only the stored form.

The row codec gives every variable-width column its own length header (see ``datum.py``), so the
stored bytes are PostgreSQL's array *after* its 4-byte varlena header. Offsets below count from
the start of PostgreSQL's array, header included, because alignment does; all integers are
little-endian::

    offset  size             field
    0       4                (varlena header: not stored here, the row codec's header stands in)
    4       int32            ndim: 0 for an empty array, else 1 to 6
    8       int32            dataoffset: 0 when no element is NULL, else where the data starts
    12      uint32           element type OID
    16      int32[ndim]      the length of each dimension
    ..      int32[ndim]      the lower bound of each dimension (always 1 here)
                             (elements are stored in row-major order, the last subscript
                             varying fastest; a Python value of N > 1 dimensions is a list of
                             equally shaped N-1-dimensional lists)
    ..      (n + 7) // 8     NULL bitmap, only when some element is NULL: bit i % 8 of byte
                             i // 8 is 1 when element i is NOT NULL
    ..      pad              zeros up to a multiple of 8 (MAXALIGN); data starts there
    ..      elements         each non-NULL element, preceded by zeros that align it to its type's
                             typalign and followed by zeros that align the end likewise

An element of a fixed-width type is its ``typlen`` bytes; a variable-width element is a 4-byte
varlena header (``total length << 2``, total including the header) then its bytes (elements in an
array never use the 1-byte short header). NULL elements take no data bytes. An empty array is the
12 bytes ndim = 0, dataoffset = 0, element type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mirrordb.common.errors import invariant

VARHDRSZ = 4                            # PostgreSQL's 4-byte varlena header
MAXIMUM_ALIGNOF = 8
ARRAY_HEADER_BYTES = 16                 # sizeof(ArrayType): varlena header, ndim, dataoffset, type
DIMENSION_BYTES = 8                     # one int32 length and one int32 lower bound
LOWER_BOUND = 1
VARLENA_LENGTH_LIMIT = 0x3FFFFFFF       # what a 4-byte header can describe

MAX_DIMENSIONS = 6                      # PostgreSQL's MAXDIM

_ZEROS = bytes(MAXIMUM_ALIGNOF)


def array_shape(values: list[Any]) -> list[int] | None:
    """The length of each dimension of a (nested) list value; [] for the empty array; None
    when its sub-lists differ in shape, a level is empty or it has more than MAX_DIMENSIONS."""
    lengths: list[int] = []
    level: Any = values
    while isinstance(level, list) and level:
        lengths.append(len(level))
        level = level[0]
    if len(lengths) > MAX_DIMENSIONS or not _has_shape(values, lengths):
        return None
    return lengths


def _has_shape(values: Any, lengths: list[int]) -> bool:
    if not lengths:
        return not isinstance(values, list)
    if not isinstance(values, list) or len(values) != lengths[0]:
        return False
    return all(_has_shape(sub, lengths[1:]) for sub in values)


def flat_elements(values: list[Any]) -> list[Any]:
    """The elements of a (nested) list value in storage order."""
    if not values or not isinstance(values[0], list):
        return values
    return [item for sub in values for item in flat_elements(sub)]


def nest_elements(flat: list[Any], lengths: Sequence[int]) -> list[Any]:
    """``flat`` as nested lists of the given dimensions (the inverse of flat_elements)."""
    if len(lengths) <= 1:
        return flat
    step = len(flat) // lengths[0]
    return [nest_elements(flat[index * step:(index + 1) * step], lengths[1:])
            for index in range(lengths[0])]


@dataclass(frozen=True, slots=True)
class ElementFormat:
    """How one element type is laid out in an array (typlen, typalign) and converted."""

    type_oid: int
    length: int                          # typlen: the fixed size, or -1 for a varlena
    alignment: int                       # typalign in bytes: 1, 2, 4 or 8
    encode: Callable[[Any], bytes]       # checked element value -> its bytes (varlena: no header)
    decode: Callable[[bytes], Any]       # the reverse; bad bytes raise ValueError/struct.error

    def __post_init__(self) -> None:
        invariant(self.alignment in (1, 2, 4, 8), f"bad typalign {self.alignment}")
        invariant(self.length == -1 or self.length > 0, f"bad typlen {self.length}")


def _align(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) & -alignment


def _int32(value: int) -> bytes:
    return value.to_bytes(4, "little", signed=True)


def encode_array(values: Sequence[Any], element: ElementFormat) -> bytes:
    """The stored bytes (after the varlena header) of an array (nested lists for more than one
    dimension, already checked rectangular); None elements are NULL."""
    if not values:
        return _int32(0) + _int32(0) + element.type_oid.to_bytes(4, "little")
    lengths = array_shape(list(values))
    if lengths is None:
        raise ValueError("array sub-lists of different shapes")
    values = flat_elements(list(values))
    count = len(values)
    has_nulls = any(value is None for value in values)
    bitmap = _null_bitmap(values) if has_nulls else b""
    overhead = ARRAY_HEADER_BYTES + DIMENSION_BYTES * len(lengths) + len(bitmap)
    data_start = _align(overhead, MAXIMUM_ALIGNOF)
    parts = [_int32(len(lengths)), _int32(data_start if has_nulls else 0),
             element.type_oid.to_bytes(4, "little"), *map(_int32, lengths),
             *[_int32(LOWER_BOUND)] * len(lengths), bitmap, _ZEROS[:data_start - overhead]]
    offset = 0                               # relative to data_start, which is MAXALIGNed
    for value in values:
        if value is None:
            continue
        stored = element.encode(value)
        if element.length == -1:
            if len(stored) + VARHDRSZ > VARLENA_LENGTH_LIMIT:
                raise ValueError("array element too long")
            stored = ((len(stored) + VARHDRSZ) << 2).to_bytes(4, "little") + stored
        else:
            invariant(len(stored) == element.length,
                      f"element of type {element.type_oid} encoded to {len(stored)} bytes")
        parts.append(stored)
        offset += len(stored)
        padded = _align(offset, element.alignment)
        parts.append(_ZEROS[:padded - offset])
        offset = padded
    return b"".join(parts)


def _null_bitmap(values: Sequence[Any]) -> bytes:
    bitmap = bytearray((len(values) + 7) // 8)
    for index, value in enumerate(values):
        if value is not None:
            bitmap[index >> 3] |= 1 << (index & 7)
    return bytes(bitmap)


def decode_array(stored: bytes, element: ElementFormat) -> list[Any]:
    """The list stored in ``stored``. Malformed bytes raise ValueError (the row codec turns it
    into DataCorrupted)."""
    ndim, dataoffset, type_oid = _header(stored)
    if type_oid != element.type_oid:
        raise ValueError(f"array of element type {type_oid} where {element.type_oid} belongs")
    if ndim == 0:
        if dataoffset != 0 or len(stored) != ARRAY_HEADER_BYTES - VARHDRSZ:
            raise ValueError("malformed empty array")
        return []
    if not 0 < ndim <= MAX_DIMENSIONS:
        raise ValueError(f"array with {ndim} dimensions")
    lengths = [_read_int32(stored, ARRAY_HEADER_BYTES - VARHDRSZ + 4 * index)
               for index in range(ndim)]
    count = 1
    for index, length in enumerate(lengths):
        lower_bound = _read_int32(stored, ARRAY_HEADER_BYTES - VARHDRSZ + 4 * (ndim + index))
        if lower_bound != LOWER_BOUND or not 0 < length <= 8 * len(stored):
            raise ValueError(f"array dimension [{lower_bound}:{lower_bound + length - 1}]")
        count *= length
    if count > 8 * len(stored):
        raise ValueError(f"array of {count} elements in {len(stored)} bytes")
    overhead = ARRAY_HEADER_BYTES + DIMENSION_BYTES * ndim
    bitmap = None
    if dataoffset:
        bitmap = stored[overhead - VARHDRSZ:overhead - VARHDRSZ + (count + 7) // 8]
        overhead += (count + 7) // 8
        if dataoffset != _align(overhead, MAXIMUM_ALIGNOF) or len(bitmap) != (count + 7) // 8:
            raise ValueError(f"array data offset {dataoffset}")
    data_start = _align(overhead, MAXIMUM_ALIGNOF) - VARHDRSZ
    return nest_elements(_decode_elements(stored, data_start, count, bitmap, element), lengths)


def _header(stored: bytes) -> tuple[int, int, int]:
    if len(stored) < ARRAY_HEADER_BYTES - VARHDRSZ:
        raise ValueError(f"array of {len(stored)} bytes is shorter than its header")
    return (_read_int32(stored, 0), _read_int32(stored, 4),
            int.from_bytes(stored[8:12], "little"))


def _read_int32(stored: bytes, position: int) -> int:
    if position + 4 > len(stored):
        raise ValueError("array header runs past the end of the value")
    return int.from_bytes(stored[position:position + 4], "little", signed=True)


def _decode_elements(stored: bytes, position: int, count: int, bitmap: bytes | None,
                     element: ElementFormat) -> list[Any]:
    values: list[Any] = []
    data_start = position
    for index in range(count):
        if bitmap is not None and not bitmap[index >> 3] & (1 << (index & 7)):
            values.append(None)
            continue
        if element.length == -1:
            total = _read_int32(stored, position)
            if total & 3 or total >> 2 < VARHDRSZ:
                raise ValueError(f"array element with varlena header {total:#x}")
            start, end = position + VARHDRSZ, position + (total >> 2)
        else:
            start, end = position, position + element.length
        if end > len(stored):
            raise ValueError("array element runs past the end of the value")
        values.append(element.decode(stored[start:end]))
        position = data_start + _align(end - data_start, element.alignment)
    if position != len(stored) or (bitmap is not None and any(
            bitmap[index >> 3] & (1 << (index & 7)) for index in range(count, 8 * len(bitmap)))):
        raise ValueError("array has bytes or bitmap bits past its last element")
    return values
