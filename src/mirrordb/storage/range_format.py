"""Range values (int4range, numrange, daterange, ...): their Python form and PostgreSQL's on-disk
bytes (rangetypes.c's range_serialize), for range columns.

Who calls it: ``datum.py`` stores a range column's value with ``encode_range``/``decode_range``
(giving the subtype's element format: typlen, typalign, bytes); sql/range_types.py builds,
compares and prints ``Range`` values (canonical forms, operators, text and binary I/O).

The row codec gives every variable-width column its own length header, so the stored bytes are
PostgreSQL's range *after* its 4-byte varlena header. Offsets count from the start of
PostgreSQL's value, header included, because alignment does; integers are little-endian::

    offset  size      field
    0       4         (varlena header: the row codec's header stands in)
    4       uint32    the range type's OID (3904 int4range, 3926 int8range, ...)
    8       ..        the lower bound, when the range has one (offset 8 is always aligned)
    ..      ..        zeros up to the subtype's typalign, then the upper bound, when present
    ..      1         flags: 0x01 empty, 0x02 lower inclusive, 0x04 upper inclusive,
                      0x08 lower infinite, 0x10 upper infinite (0x20/0x40 NULL bounds and 0x80
                      contain-empty are GiST's and never stored here)

A fixed-width bound is its typlen bytes. A varlena bound (numeric) of at most 126 data bytes
takes the 1-byte short header ``(total << 1) | 1`` and no alignment, as PostgreSQL packs it;
a longer one is 4-byte aligned with the 4-byte header ``total << 2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mirrordb.storage.array_format import ElementFormat

RANGE_EMPTY = 0x01
RANGE_LB_INC = 0x02
RANGE_UB_INC = 0x04
RANGE_LB_INF = 0x08
RANGE_UB_INF = 0x10
_STORED_FLAGS = RANGE_EMPTY | RANGE_LB_INC | RANGE_UB_INC | RANGE_LB_INF | RANGE_UB_INF
RANGE_HEADER_BYTES = 8                    # varlena header and range type OID
VARHDRSZ = 4
SHORT_VARLENA_MAX_BYTES = 127             # VARATT_SHORT_MAX: a 1-byte header's largest total


@dataclass(frozen=True, slots=True, eq=False)
class Range:
    """One range value. An infinite bound is None; an empty range has both None and
    ``empty``. Values order and compare as range_cmp (B-tree order): empty first, then by
    lower bound, then by upper bound."""

    lower: Any
    upper: Any
    lower_inc: bool
    upper_inc: bool
    empty: bool = False

    @staticmethod
    def empty_range() -> Range:
        return Range(None, None, False, False, True)

    @property
    def flags(self) -> int:
        if self.empty:
            return RANGE_EMPTY
        return ((RANGE_LB_INC if self.lower_inc else 0) | (RANGE_UB_INC if self.upper_inc else 0)
                | (RANGE_LB_INF if self.lower is None else 0)
                | (RANGE_UB_INF if self.upper is None else 0))

    def lower_key(self) -> tuple[Any, ...]:
        """This range's lower bound as a key comparable with any bound's (range_cmp_bounds):
        (0,) minus infinity; (1, value, 0) inclusive; (1, value, 1) exclusive."""
        if self.lower is None:
            return (0,)
        return (1, self.lower, 0 if self.lower_inc else 1)

    def upper_key(self) -> tuple[Any, ...]:
        """The upper bound's key: (2,) plus infinity; (1, value, 0) inclusive; (1, value, -1)
        exclusive."""
        if self.upper is None:
            return (2,)
        return (1, self.upper, 0 if self.upper_inc else -1)

    def sort_key(self) -> tuple[Any, ...]:
        if self.empty:
            return (0,)
        return (1, self.lower_key(), self.upper_key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Range) and self.sort_key() == other.sort_key()

    def __hash__(self) -> int:
        return hash(self.sort_key())

    def __lt__(self, other: Range) -> bool:
        return self.sort_key() < other.sort_key()

    def __le__(self, other: Range) -> bool:
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: Range) -> bool:
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: Range) -> bool:
        return self.sort_key() >= other.sort_key()


def _align(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) & -alignment


def _bound_bytes(value: Any, offset: int, subtype: ElementFormat) -> tuple[bytes, int]:
    """The bytes of one bound written at ``offset`` (padding included) and the new offset."""
    data = subtype.encode(value)
    if subtype.length == -1:
        if len(data) + 1 <= SHORT_VARLENA_MAX_BYTES:
            stored = bytes((((len(data) + 1) << 1) | 1,)) + data
            return stored, offset + len(stored)
        data = ((len(data) + VARHDRSZ) << 2).to_bytes(4, "little") + data
    start = _align(offset, subtype.alignment)
    return bytes(start - offset) + data, start + len(data)


def encode_range(value: Range, type_oid: int, subtype: ElementFormat) -> bytes:
    """The stored bytes (after the varlena header) of ``value``, a range of type ``type_oid``."""
    parts = [type_oid.to_bytes(4, "little")]
    offset = RANGE_HEADER_BYTES
    if not value.empty:
        for bound in (value.lower, value.upper):
            if bound is not None:
                stored, offset = _bound_bytes(bound, offset, subtype)
                parts.append(stored)
    parts.append(bytes((value.flags,)))
    return b"".join(parts)


def _read_bound(stored: bytes, offset: int, subtype: ElementFormat) -> tuple[Any, int]:
    """One bound at ``offset`` (counted with the varlena header) and the offset after it."""
    if subtype.length == -1:
        first = stored[offset - VARHDRSZ]
        if first & 1:
            total = first >> 1
            data = stored[offset - VARHDRSZ + 1:offset - VARHDRSZ + total]
            if total < 1 or len(data) != total - 1:
                raise ValueError("truncated range bound")
            return subtype.decode(data), offset + total
        offset = _align(offset, subtype.alignment)
        total = int.from_bytes(stored[offset - VARHDRSZ:offset], "little") >> 2
        data = stored[offset:offset - VARHDRSZ + total]
        if total < VARHDRSZ or len(data) != total - VARHDRSZ:
            raise ValueError("truncated range bound")
        return subtype.decode(data), offset + total
    offset = _align(offset, subtype.alignment)
    data = stored[offset - VARHDRSZ:offset - VARHDRSZ + subtype.length]
    if len(data) != subtype.length:
        raise ValueError("truncated range bound")
    return subtype.decode(data), offset + subtype.length


def decode_range(stored: bytes, type_oid: int, subtype: ElementFormat) -> Range:
    """The range stored in ``stored``; malformed bytes raise ValueError."""
    if len(stored) < RANGE_HEADER_BYTES - VARHDRSZ + 1:
        raise ValueError("range shorter than its header")
    stored_type = int.from_bytes(stored[:4], "little")
    if stored_type != type_oid:
        raise ValueError(f"range of type {stored_type} where {type_oid} belongs")
    flags = stored[-1]
    if flags & ~_STORED_FLAGS:
        raise ValueError(f"range flags {flags:#x}")
    if flags & RANGE_EMPTY:
        if len(stored) != RANGE_HEADER_BYTES - VARHDRSZ + 1:
            raise ValueError("empty range with bounds")
        return Range.empty_range()
    offset = RANGE_HEADER_BYTES
    lower = upper = None
    if not flags & RANGE_LB_INF:
        lower, offset = _read_bound(stored, offset, subtype)
    if not flags & RANGE_UB_INF:
        upper, offset = _read_bound(stored, offset, subtype)
    if offset - VARHDRSZ != len(stored) - 1:
        raise ValueError("range bounds do not fill the value")
    return Range(lower, upper, bool(flags & RANGE_LB_INC), bool(flags & RANGE_UB_INC))
