"""The heap tuple: a row version as stored in a heap page item.

Who calls it: the heap access method (access/heapam.py) forms tuples on insert and update, reads
their headers for visibility, and changes headers in place (xmax, cid, ctid) both on the primary and
in redo; VACUUM reads xmin/xmax. The data part is a row encoded by storage/datum.py.

Layout (little-endian), PostgreSQL's HeapTupleHeaderData with our own field widths::

    0   t_xmin        u32  inserting transaction
    4   t_xmax        u32  deleting, updating or locking transaction (0 = none)
    8   t_cid         u32  command id of the inserting or deleting command (or a combo id,
                           when HEAP_COMBOCID is set; the heap owns combo ids)
    12  t_ctid_block  u32  block of this version's successor (itself if there is none)
    16  t_ctid_offset u16  line pointer offset of the successor
    18  t_infomask2   u16  bits 0..10: number of attributes; bits 11..13 reserved (zero);
                           0x4000 HEAP_HOT_UPDATED (updated by a heap-only successor on this
                           page), 0x8000 HEAP_ONLY_TUPLE (no index entry of its own: reached
                           through its HOT chain's root, see access/README.md "HOT")
    20  t_infomask    u16  flags below
    22  t_hoff        u8   offset of the data: MAXALIGN(23 + null bitmap length)
    23  t_bits             null bitmap, (natts + 7) // 8 bytes, present iff HEAP_HASNULL
                           (bit set = attribute NOT NULL, as datum.py encodes it)
    ... zero padding up to t_hoff
    t_hoff  data           the row's non-NULL values (datum.py's format)

Flags in t_infomask (the values PostgreSQL uses for the same ideas):

    HEAP_HASNULL        0x0001  the null bitmap is present
    HEAP_COMBOCID       0x0020  t_cid is a combo command id (inserted and deleted by one xact)
    HEAP_XMAX_LOCK_ONLY 0x0080  reserved: xmax only locks the row (SELECT ... FOR UPDATE)
    HEAP_UPDATED        0x2000  this version was created by an UPDATE

There are no hint bits (xmin committed/invalid...): every byte of a page changes only through a
WAL-logged operation, so a standby's page equals the primary's (DESIGN decision 3). A tuple is
formed with an invalid ctid; the heap sets it (``set_ctid``) to the item's own TID before placing
it, on the primary and in redo alike.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mirrordb.common.errors import DataCorrupted, invariant
from mirrordb.storage.page import maxalign

HEAP_TUPLE_HEADER_SIZE = 23               # SizeofHeapTupleHeader: header bytes before t_bits
_HEADER = struct.Struct("<IIIIHHHB")
_XMIN_XMAX = struct.Struct("<II")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_CTID = struct.Struct("<IH")
assert _HEADER.size == HEAP_TUPLE_HEADER_SIZE and _XMIN_XMAX.size == 8 and _CTID.size == 6

XMIN_OFFSET = 0
XMAX_OFFSET = 4
CID_OFFSET = 8
CTID_OFFSET = 12
INFOMASK2_OFFSET = 18
INFOMASK_OFFSET = 20
HOFF_OFFSET = 22

HEAP_HASNULL = 0x0001
HEAP_COMBOCID = 0x0020
HEAP_XMAX_LOCK_ONLY = 0x0080
HEAP_UPDATED = 0x2000
KNOWN_INFOMASK_FLAGS = HEAP_HASNULL | HEAP_COMBOCID | HEAP_XMAX_LOCK_ONLY | HEAP_UPDATED

HEAP_NATTS_MASK = 0x07FF                  # t_infomask2 bits holding the attribute count
HEAP_HOT_UPDATED = 0x4000                 # t_infomask2: the successor is heap-only
HEAP_ONLY_TUPLE = 0x8000                  # t_infomask2: this version is heap-only
HEAP2_HOT_FLAGS = HEAP_HOT_UPDATED | HEAP_ONLY_TUPLE
MAX_HEAP_ATTRIBUTE_NUMBER = 1600          # PostgreSQL's MaxHeapAttributeNumber

INVALID_BLOCK_NUMBER = 0xFFFFFFFF
INVALID_OFFSET_NUMBER = 0


@dataclass(slots=True)
class HeapTupleHeader:
    xmin: int
    xmax: int
    cid: int
    ctid_block: int
    ctid_offset: int
    natts: int
    infomask: int
    hoff: int
    infomask2_flags: int = 0              # HEAP_HOT_UPDATED / HEAP_ONLY_TUPLE bits of t_infomask2


def null_bitmap_length(natts: int) -> int:
    return (natts + 7) // 8


def data_offset(natts: int, has_nulls: bool) -> int:
    """t_hoff of a tuple with ``natts`` attributes, with or without a null bitmap."""
    return maxalign(HEAP_TUPLE_HEADER_SIZE + (null_bitmap_length(natts) if has_nulls else 0))


def form_tuple(xmin: int, cid: int, natts: int, data: bytes | bytearray | memoryview,
               null_bitmap: bytes | None, infomask: int = 0) -> bytes:
    """A new tuple version: xmax 0, ctid invalid (the heap sets it once the TID is chosen)."""
    invariant(0 <= natts <= MAX_HEAP_ATTRIBUTE_NUMBER, f"form_tuple: {natts} attributes")
    invariant(not infomask & ~KNOWN_INFOMASK_FLAGS,
              f"form_tuple: infomask {infomask:#06x} has unknown flags")
    infomask &= ~HEAP_HASNULL                 # derived from null_bitmap below
    has_nulls = null_bitmap is not None
    hoff = data_offset(natts, has_nulls)
    if has_nulls:
        invariant(len(null_bitmap) == null_bitmap_length(natts),  # type: ignore[arg-type]
                  f"form_tuple: null bitmap of {len(null_bitmap)} bytes for {natts} attributes")  # type: ignore[arg-type]
        infomask |= HEAP_HASNULL
    header = _HEADER.pack(xmin, 0, cid, INVALID_BLOCK_NUMBER, INVALID_OFFSET_NUMBER, natts,
                          infomask, hoff)
    bitmap = null_bitmap or b""
    padding = bytes(hoff - HEAP_TUPLE_HEADER_SIZE - len(bitmap))
    return b"".join((header, bitmap, padding, bytes(data)))


def read_header(item: bytes | bytearray | memoryview) -> HeapTupleHeader:
    """Decode and check the header of a tuple; DataCorrupted if it cannot be one."""
    if len(item) < HEAP_TUPLE_HEADER_SIZE:
        raise DataCorrupted(f"heap tuple of {len(item)} bytes is shorter than its header")
    (xmin, xmax, cid, ctid_block, ctid_offset, infomask2, infomask,
     hoff) = _HEADER.unpack_from(item, 0)
    natts = infomask2 & HEAP_NATTS_MASK
    if infomask2 & ~(HEAP_NATTS_MASK | HEAP2_HOT_FLAGS) or natts > MAX_HEAP_ATTRIBUTE_NUMBER:
        raise DataCorrupted(f"heap tuple has invalid t_infomask2 {infomask2:#06x}")
    if infomask & ~KNOWN_INFOMASK_FLAGS:
        raise DataCorrupted(f"heap tuple has unknown t_infomask flags {infomask:#06x}")
    if hoff != data_offset(natts, bool(infomask & HEAP_HASNULL)) or hoff > len(item):
        raise DataCorrupted(f"heap tuple has invalid t_hoff {hoff} (length {len(item)}, "
                            f"{natts} attributes)")
    return HeapTupleHeader(xmin, xmax, cid, ctid_block, ctid_offset, natts, infomask, hoff,
                           infomask2 & HEAP2_HOT_FLAGS)


def tuple_data(item: bytes | bytearray | memoryview) -> tuple[memoryview, bytes | None]:
    """(data, null bitmap or None) of a tuple, ready for ``RowCodec.decode``."""
    header = read_header(item)
    view = memoryview(item)
    bitmap = None
    if header.infomask & HEAP_HASNULL:
        start = HEAP_TUPLE_HEADER_SIZE
        bitmap = bytes(view[start:start + null_bitmap_length(header.natts)])
    return view[header.hoff:], bitmap


# -- in-place changes on a page (or a lone item at offset 0), used by the heap and its redo --------


def get_xmin_xmax(page: bytes | bytearray | memoryview, lp_off: int) -> tuple[int, int]:
    """(xmin, xmax) of the tuple stored at ``lp_off``."""
    return _XMIN_XMAX.unpack_from(page, lp_off + XMIN_OFFSET)


def set_xmax(page: bytearray, lp_off: int, xmax: int, infomask_set: int = 0,
             infomask_clear: int = 0) -> None:
    """Store ``xmax`` and adjust t_infomask: set ``infomask_set``, then clear ``infomask_clear``."""
    _U32.pack_into(page, lp_off + XMAX_OFFSET, xmax)
    set_infomask_flags(page, lp_off, infomask_set, infomask_clear)


def set_cid(page: bytearray, lp_off: int, cid: int) -> None:
    _U32.pack_into(page, lp_off + CID_OFFSET, cid)


def set_ctid(page: bytearray, lp_off: int, blkno: int, offnum: int) -> None:
    _CTID.pack_into(page, lp_off + CTID_OFFSET, blkno, offnum)


def set_infomask_flags(page: bytearray, lp_off: int, infomask_set: int = 0,
                       infomask_clear: int = 0) -> None:
    """Set then clear t_infomask flags; only the flags this module knows may change."""
    changed = infomask_set | infomask_clear
    invariant(not changed & ~KNOWN_INFOMASK_FLAGS and not changed & HEAP_HASNULL,
              f"set_infomask_flags: cannot change flags {changed:#06x}")
    infomask = _U16.unpack_from(page, lp_off + INFOMASK_OFFSET)[0]
    _U16.pack_into(page, lp_off + INFOMASK_OFFSET, (infomask | infomask_set) & ~infomask_clear)


def get_infomask2(page: bytes | bytearray | memoryview, lp_off: int) -> int:
    """t_infomask2 of the tuple stored at ``lp_off`` (attribute count and HOT bits)."""
    return _U16.unpack_from(page, lp_off + INFOMASK2_OFFSET)[0]


def set_hot_flags(page: bytearray, lp_off: int, flags_set: int = 0, flags_clear: int = 0) -> None:
    """Set then clear t_infomask2's HOT bits (only those may change this way)."""
    changed = flags_set | flags_clear
    invariant(not changed & ~HEAP2_HOT_FLAGS, f"set_hot_flags: cannot change bits {changed:#06x}")
    infomask2 = _U16.unpack_from(page, lp_off + INFOMASK2_OFFSET)[0]
    _U16.pack_into(page, lp_off + INFOMASK2_OFFSET, (infomask2 | flags_set) & ~flags_clear)
