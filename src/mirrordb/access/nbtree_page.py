"""B-tree page layout: metapage, special space, index tuples, and the pure page changes.

This module is the byte-level half of the B-tree access method. ``nbtree.py`` (the tree algorithms,
run by backends) decides *what* to change; the functions here *make* the change on a page, and the
WAL redo routine in ``nbtree_xlog.py`` calls the very same functions on the standby or in crash
recovery. Every function that changes a page is a pure function of (page bytes, arguments) and
leaves the page hole zero, so the primary and the replayer produce byte-identical pages.

The tree is a Lehman & Yao B-link tree laid out like PostgreSQL's nbtree (version 4):

* block 0 is the **metapage**; it names the root and the tree height;
* every other page is a slotted page (``mirrordb.storage.page``) with 16 bytes of special space;
* each level is a doubly linked list of pages, left to right;
* every page except the rightmost of its level starts with a **high key** (offset 1): an upper
  bound (exclusive) on the entries of the page, equal to the first entry of its right sibling when
  the page was split;
* leaf pages (level 0) hold one **leaf tuple** per heap tuple; internal pages hold **pivot
  tuples** (separator key, child block); the first data item of an internal page is the
  "minus infinity" pivot, which has no key.

Entries are totally ordered by (key, heap TID). The heap TID is a tie-breaker, and pivots carry it
too, so a page full of duplicates can be split anywhere.

Special space (``BTPageOpaqueData``, the last 16 bytes of every page)::

    0   btpo_prev     u32   left sibling block, 0 (P_NONE) on the leftmost page of a level
    4   btpo_next     u32   right sibling block, 0 (P_NONE) on the rightmost page of a level
    8   btpo_level    u32   0 for leaves, parent level = child level + 1
    12  btpo_flags    u16   BTP_LEAF 0x01, BTP_ROOT 0x02, BTP_META 0x08
    14  btpo_cycleid  u16   always 0 (no vacuum cycle ids: page deletion is not implemented)

Metapage contents (``BTMetaPageData``, at offset 24 right after the page header; pd_lower points
just past it, at 72, so a full-page image keeps it)::

    24  btm_magic                          u32   0x053162
    28  btm_version                        u32   4
    32  btm_root                           u32   block of the root page
    36  btm_level                          u32   level of the root (tree height - 1)
    40  btm_fastroot                       u32   = btm_root (no fast root)
    44  btm_fastlevel                      u32   = btm_level
    48  btm_last_cleanup_num_delpages      u32   0
    52  (padding)                          4
    56  btm_last_cleanup_num_heap_tuples   f64   -1.0
    64  btm_allequalimage                  u8    0 (no deduplication)
    65  (padding)                          7

Index tuple (both kinds; ``IndexTupleData`` plus our key encoding; integers little-endian)::

    0   t_tid.bi_hi   u16   leaf: heap block, high half       pivot: child block, high half
    2   t_tid.bi_lo   u16   leaf: heap block, low half        pivot: child block, low half
    4   t_tid.posid   u16   leaf: heap line pointer number    pivot: key attribute count, with
                                                                     0x1000 when a heap TID ends it
    6   t_info        u16   bits 0-12 tuple length in bytes; 0x2000 INDEX_ALT_TID_MASK (a pivot);
                            0x8000 INDEX_NULL_MASK (a null bitmap follows)
    8   null bitmap   4     only with INDEX_NULL_MASK: the row codec's null bitmap, zero padded
                            to INDEX_MAX_KEYS / 8 bytes
    ..  key data            the row codec's encoding of the key columns (``storage/datum.py``)
    -6  heap TID      6     pivots with a key only: the tie-breaker heap TID (bi_hi, bi_lo, posid)

The "payload" of a tuple below means everything between the 8-byte header and the pivot's heap TID
(the null bitmap if any, then the key data): a leaf tuple and the pivot made from it share it.
The minus-infinity pivot and a high key carry child block 0 and, for minus infinity, no payload.

Size limit: a leaf tuple may take at most BTREE_MAX_ITEM_SIZE (2704) bytes once MAXALIGNed, so
that three pivots made from such tuples (each 8 bytes longer, BTREE_MAX_PIVOT_SIZE) plus their
line pointers fit on one page: a split always succeeds.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

from mirrordb.common.errors import DataCorrupted, invariant
from mirrordb.storage import page as pagelib
from mirrordb.storage.page import BLCKSZ, ITEM_ID_SIZE, PAGE_HEADER_SIZE, maxalign

BTREE_METAPAGE = 0
BTREE_MAGIC = 0x053162
BTREE_VERSION = 4
P_NONE = 0
P_HIKEY = 1
P_FIRSTKEY = 2

BTP_LEAF = 0x0001
BTP_ROOT = 0x0002
BTP_META = 0x0008
KNOWN_FLAGS = BTP_LEAF | BTP_ROOT | BTP_META

INDEX_SIZE_MASK = 0x1FFF
INDEX_ALT_TID_MASK = 0x2000
INDEX_NULL_MASK = 0x8000
BT_PIVOT_HEAP_TID_ATTR = 0x1000
BT_OFFSET_MASK = 0x0FFF

INDEX_MAX_KEYS = 32
NULL_BITMAP_SIZE = INDEX_MAX_KEYS // 8

BT_OPAQUE = struct.Struct("<IIIHH")
BT_OPAQUE_SIZE = 16
BT_META = struct.Struct("<IIIIIII4xd?7x")
BT_META_SIZE = 48
BT_META_OFFSET = PAGE_HEADER_SIZE
BT_META_LOWER = BT_META_OFFSET + BT_META_SIZE
INDEX_TUPLE_HEADER = struct.Struct("<HHHH")
INDEX_TUPLE_HEADER_SIZE = 8
HEAP_TID = struct.Struct("<HHH")
HEAP_TID_SIZE = 6
assert BT_OPAQUE.size == BT_OPAQUE_SIZE and BT_META.size == BT_META_SIZE
assert INDEX_TUPLE_HEADER.size == INDEX_TUPLE_HEADER_SIZE and HEAP_TID.size == HEAP_TID_SIZE

BT_SPECIAL_OFFSET = BLCKSZ - BT_OPAQUE_SIZE
# What insert_item reads, in one unpack: the page header's pd_flags, pd_lower, pd_upper,
# pd_special and pd_pagesize_version (storage/page.py documents them), then btpo_next, the second
# u32 of the special space where a B-tree page has it.
_INSERT_FIELDS = struct.Struct(f"<10xHHHHH{BT_SPECIAL_OFFSET + 4 - 20}xI")
_PAGE_SIZE_VERSION = BLCKSZ | pagelib.PAGE_LAYOUT_VERSION
_UNKNOWN_PAGE_FLAGS = ~pagelib.PD_HAS_FREE_LINES
assert _INSERT_FIELDS.size == BT_SPECIAL_OFFSET + 8
# Bytes of a B-tree page available to items and their line pointers.
BTREE_USABLE_SIZE = BT_SPECIAL_OFFSET - PAGE_HEADER_SIZE
# PostgreSQL's BTMaxItemSize: a third of a page, after reserving room for three heap TIDs.
BTREE_MAX_ITEM_SIZE = (BLCKSZ - maxalign(PAGE_HEADER_SIZE + 3 * ITEM_ID_SIZE + 3 * HEAP_TID_SIZE)
                       - maxalign(BT_OPAQUE_SIZE)) // 3 // 8 * 8
BTREE_MAX_PIVOT_SIZE = BTREE_MAX_ITEM_SIZE + maxalign(HEAP_TID_SIZE)
MINUS_INFINITY_SIZE = INDEX_TUPLE_HEADER_SIZE
assert BTREE_MAX_ITEM_SIZE == 2704
assert 3 * (BTREE_MAX_PIVOT_SIZE + ITEM_ID_SIZE) <= BTREE_USABLE_SIZE

HeapTid = tuple[int, int]


class Opaque(NamedTuple):
    """The special space of a B-tree page."""

    prev: int
    next: int
    level: int
    flags: int


class MetaData(NamedTuple):
    root: int
    level: int


class IndexTuple(NamedTuple):
    """A parsed index tuple (see the module docstring for the byte layout)."""

    block: int          # heap block (leaf) or child block (pivot)
    posid: int          # heap offset (leaf) or attribute count | BT_PIVOT_HEAP_TID_ATTR (pivot)
    is_pivot: bool
    has_nulls: bool
    payload: bytes      # null bitmap (if has_nulls) + key data
    heap_tid: HeapTid | None   # leaf: (block, posid); pivot with a key: the tie-breaker


# ---------------------------------------------------------------------------------------------
# Special space and metapage


def get_opaque(page: bytes | bytearray | memoryview) -> Opaque:
    return Opaque._make(BT_OPAQUE.unpack_from(page, BT_SPECIAL_OFFSET)[:4])


def set_opaque(page: bytearray, opaque: Opaque) -> None:
    BT_OPAQUE.pack_into(page, BT_SPECIAL_OFFSET, opaque.prev, opaque.next, opaque.level,
                        opaque.flags, 0)


def init_btree_page(page: bytearray, opaque: Opaque) -> None:
    """Make ``page`` an empty B-tree page with the given special space."""
    pagelib.page_init(page, BT_OPAQUE_SIZE)
    set_opaque(page, opaque)


def set_prev(page: bytearray, prev: int) -> None:
    """Point the page's left-link at ``prev`` (the right sibling's half of a split)."""
    set_opaque(page, get_opaque(page)._replace(prev=prev))


def init_meta_page(page: bytearray, meta: MetaData) -> None:
    """Rebuild the metapage from scratch naming ``meta.root`` at ``meta.level``."""
    init_btree_page(page, Opaque(P_NONE, P_NONE, 0, BTP_META))
    BT_META.pack_into(page, BT_META_OFFSET, BTREE_MAGIC, BTREE_VERSION, meta.root, meta.level,
                      meta.root, meta.level, 0, -1.0, False)
    struct.pack_into("<H", page, 12, BT_META_LOWER)


def read_meta(page: bytes | bytearray | memoryview, what: str = "index") -> MetaData:
    """Decode the metapage; raise DataCorrupted unless it is a version 4 B-tree metapage."""
    if pagelib.is_new(page):
        raise DataCorrupted(f'index "{what}" contains unexpected zero page at block 0',
                            hint="Please REINDEX it.")
    magic, version, root, level = struct.unpack_from("<IIII", page, BT_META_OFFSET)
    if magic != BTREE_MAGIC or not get_opaque(page).flags & BTP_META:
        raise DataCorrupted(f'index "{what}" is not a btree')
    if version != BTREE_VERSION:
        raise DataCorrupted(f'version mismatch in index "{what}": file version {version}, '
                            f"current version {BTREE_VERSION}")
    return MetaData(root, level)


# ---------------------------------------------------------------------------------------------
# Index tuples


def _tuple_header(block: int, posid: int, info_flags: int, length: int) -> bytes:
    invariant(length <= INDEX_SIZE_MASK, f"index tuple of {length} bytes is too long")
    return INDEX_TUPLE_HEADER.pack(block >> 16, block & 0xFFFF, posid, info_flags | length)


def make_leaf_tuple(heap_tid: HeapTid, has_nulls: bool, payload: bytes) -> bytes:
    """A leaf tuple pointing at ``heap_tid`` with the given payload."""
    length = INDEX_TUPLE_HEADER_SIZE + len(payload)
    flags = INDEX_NULL_MASK if has_nulls else 0
    return _tuple_header(heap_tid[0], heap_tid[1], flags, length) + payload


def make_pivot(child: int, natts: int, has_nulls: bool, payload: bytes,
               heap_tid: HeapTid) -> bytes:
    """A pivot with a key (``natts`` > 0), its tie-breaker heap TID, pointing at ``child``."""
    invariant(0 < natts <= BT_OFFSET_MASK, f"pivot with {natts} attributes")
    length = INDEX_TUPLE_HEADER_SIZE + len(payload) + HEAP_TID_SIZE
    flags = INDEX_ALT_TID_MASK | (INDEX_NULL_MASK if has_nulls else 0)
    return (_tuple_header(child, natts | BT_PIVOT_HEAP_TID_ATTR, flags, length) + payload
            + HEAP_TID.pack(heap_tid[0] >> 16, heap_tid[0] & 0xFFFF, heap_tid[1]))


def make_minus_infinity(child: int) -> bytes:
    """The keyless first pivot of an internal page."""
    return _tuple_header(child, 0, INDEX_ALT_TID_MASK, MINUS_INFINITY_SIZE)


def pivot_from_leaf(leaf_tuple: bytes, natts: int, child: int = P_NONE) -> bytes:
    """The pivot (separator or high key) made from a leaf tuple: its key, its TID as tie-breaker."""
    parsed = parse_tuple(leaf_tuple)
    assert parsed.heap_tid is not None
    return make_pivot(child, natts, parsed.has_nulls, parsed.payload, parsed.heap_tid)


def with_child(pivot: bytes, child: int) -> bytes:
    """A copy of ``pivot`` pointing at ``child`` instead."""
    return struct.pack("<HH", child >> 16, child & 0xFFFF) + pivot[4:]


def parse_tuple(data: bytes | bytearray | memoryview) -> IndexTuple:
    """Parse an index tuple; raise DataCorrupted if its header does not match its bytes."""
    if len(data) < INDEX_TUPLE_HEADER_SIZE:
        raise DataCorrupted(f"index tuple of {len(data)} bytes is shorter than its header")
    bi_hi, bi_lo, posid, info = INDEX_TUPLE_HEADER.unpack_from(data, 0)
    block = bi_hi << 16 | bi_lo
    if info & INDEX_SIZE_MASK != len(data) or info & 0x4000:
        raise DataCorrupted(f"index tuple length {info & INDEX_SIZE_MASK} does not match its "
                            f"{len(data)} bytes")
    has_nulls = bool(info & INDEX_NULL_MASK)
    start = INDEX_TUPLE_HEADER_SIZE
    if not info & INDEX_ALT_TID_MASK:
        _check_payload(data, start, len(data), has_nulls)
        return IndexTuple(block, posid, False, has_nulls, bytes(data[start:]), (block, posid))
    if posid == 0:
        if len(data) != MINUS_INFINITY_SIZE or has_nulls:
            raise DataCorrupted("keyless pivot tuple carries key bytes")
        return IndexTuple(block, 0, True, False, b"", None)
    end = len(data) - HEAP_TID_SIZE
    if not posid & BT_PIVOT_HEAP_TID_ATTR or end < start:
        raise DataCorrupted(f"pivot tuple with attribute word {posid:#x} lacks its heap TID")
    _check_payload(data, start, end, has_nulls)
    tid_hi, tid_lo, tid_offset = HEAP_TID.unpack_from(data, end)
    return IndexTuple(block, posid, True, has_nulls, bytes(data[start:end]),
                      (tid_hi << 16 | tid_lo, tid_offset))


def _check_payload(data: bytes | bytearray | memoryview, start: int, end: int,
                   has_nulls: bool) -> None:
    if has_nulls and end - start < NULL_BITMAP_SIZE:
        raise DataCorrupted("index tuple too short for its null bitmap")


def split_payload(payload: bytes, has_nulls: bool) -> tuple[bytes, bytes | None]:
    """(key data, null bitmap or None) of a payload."""
    if has_nulls:
        return payload[NULL_BITMAP_SIZE:], payload[:NULL_BITMAP_SIZE]
    return payload, None


def make_payload(key_data: bytes, null_bitmap: bytes | None) -> tuple[bool, bytes]:
    """(has_nulls, payload) from a row codec's output."""
    if null_bitmap is None:
        return False, key_data
    invariant(len(null_bitmap) <= NULL_BITMAP_SIZE, "null bitmap longer than INDEX_MAX_KEYS")
    return True, bytes(null_bitmap).ljust(NULL_BITMAP_SIZE, b"\0") + key_data


# ---------------------------------------------------------------------------------------------
# Reading pages


def first_data_offset(page: bytes | bytearray | memoryview) -> int:
    """P_FIRSTDATAKEY: offset 1 on a rightmost page, 2 after the high key otherwise."""
    return P_HIKEY if get_opaque(page).next == P_NONE else P_FIRSTKEY


def high_key(page: bytes | bytearray | memoryview) -> bytes | None:
    if get_opaque(page).next == P_NONE:
        return None
    return pagelib.get_item(page, P_HIKEY)


def data_items(page: bytes | bytearray | memoryview) -> list[bytes]:
    """The page's items after the high key, in offset order."""
    return [pagelib.get_item(page, offnum)
            for offnum in range(first_data_offset(page), pagelib.max_offset(page) + 1)]


def item_space(item_length: int) -> int:
    """Bytes an item of ``item_length`` takes on a page, line pointer included."""
    return maxalign(item_length) + ITEM_ID_SIZE


# ---------------------------------------------------------------------------------------------
# Page changes (shared by the primary and redo)


def build_page(page: bytearray, opaque: Opaque, high: bytes | None,
               items: Sequence[bytes]) -> None:
    """Rebuild ``page`` from scratch: special space, then the high key (if any), then ``items``."""
    invariant((high is None) == (opaque.next == P_NONE),
              "a page has a high key exactly when it has a right sibling")
    init_btree_page(page, opaque)
    all_items = ([high] if high is not None else []) + list(items)
    if not pagelib.append_items(page, all_items):
        raise DataCorrupted(f"B-tree page overflow: {len(all_items)} items of "
                            f"{sum(len(item) for item in all_items)} bytes do not fit")


def insert_item(page: bytearray, offnum: int, item: bytes | memoryview) -> None:
    """Insert ``item`` at ``offnum``, shifting the items from there up by one; DataCorrupted
    unless ``page`` is an initialised B-tree page with room for it and ``offnum`` is a data
    item's place (redo runs it on pages read from disk).

    Hot path of both sides (every index entry): the header fields the checks need and the
    right-link come from one unpack; the sane page passes one chained test, anything else
    goes through ``check_btree_page``, which names what is wrong."""
    flags, lower, upper, special, size_version, right_link = _INSERT_FIELDS.unpack_from(page, 0)
    if not (special == BT_SPECIAL_OFFSET and size_version == _PAGE_SIZE_VERSION
            and not flags & _UNKNOWN_PAGE_FLAGS and PAGE_HEADER_SIZE <= lower <= upper <= special
            and not (lower - PAGE_HEADER_SIZE) & (ITEM_ID_SIZE - 1)):
        check_btree_page(page)
    first = P_HIKEY if right_link == P_NONE else P_FIRSTKEY
    if not first <= offnum <= ((lower - PAGE_HEADER_SIZE) >> 2) + 1:
        raise DataCorrupted(f"B-tree insert at offset {offnum} outside the page's data items")
    if pagelib.add_item(page, item, offnum, shift=True) == 0:
        raise DataCorrupted(f"B-tree page has no room for an item of {len(item)} bytes")


def check_btree_page(page: bytes | bytearray) -> None:
    """DataCorrupted unless ``page`` is an initialised page with B-tree special space, naming
    what is wrong (the slow path of the checks that redo and ``insert_item`` make in one test)."""
    if pagelib.is_new(page):
        raise DataCorrupted("B-tree redo found an uninitialised page")
    pagelib.verify_header(page, "B-tree page")
    if pagelib.special_offset(page) != BT_SPECIAL_OFFSET:
        raise DataCorrupted("B-tree redo found a page without B-tree special space")


def split_left(page: bytearray, next_block: int, flags: int, high: bytes, keep_count: int,
               new_item_index: int | None, new_item: bytes) -> None:
    """Turn ``page`` into the left half of a split.

    It keeps its left-link and level and its first ``keep_count`` data items, gains ``new_item``
    at data index ``new_item_index`` (when not None), the new high key ``high``, the right-link
    ``next_block`` and ``flags`` (BTP_ROOT drops off when the root splits).
    """
    old = get_opaque(page)
    old_items = data_items(page)
    if not 0 <= keep_count <= len(old_items):
        raise DataCorrupted(f"split keeps {keep_count} of {len(old_items)} items")
    kept = old_items[:keep_count]
    if new_item_index is not None:
        if new_item_index > keep_count:
            raise DataCorrupted(f"split puts the new item at {new_item_index} past {keep_count}")
        kept.insert(new_item_index, new_item)
    build_page(page, Opaque(old.prev, next_block, old.level, flags), high, kept)


def delete_offsets(page: bytearray, offnums: Sequence[int]) -> None:
    """Remove the data items at ``offnums`` (VACUUM), renumbering the rest."""
    first, last = first_data_offset(page), pagelib.max_offset(page)
    if any(not first <= offnum <= last for offnum in offnums) or len(set(offnums)) != len(offnums):
        raise DataCorrupted(f"B-tree delete of offsets {list(offnums)} outside {first}..{last}")
    pagelib.delete_items(page, list(offnums))


# ---------------------------------------------------------------------------------------------
# Choosing a split point


class SplitPoint(NamedTuple):
    """Items ``[0, first_right)`` stay left, ``[first_right, n)`` go right."""

    first_right: int
    left_used: int
    right_used: int


# How full the left half of a split of the rightmost page is left (PostgreSQL's BTREE_DEFAULT_
# FILLFACTOR and BTREE_NONLEAF_FILLFACTOR): ascending inserts then leave pages nearly full.
RIGHTMOST_LEAF_FILL_FRACTION = 0.9
RIGHTMOST_INTERNAL_FILL_FRACTION = 0.7
# Split points this close (in bytes) to the best balance compete on separator size instead.
SPLIT_TOLERANCE_BYTES = BTREE_USABLE_SIZE // 16


def choose_split(lengths: Sequence[int], *, is_leaf: bool, is_rightmost: bool,
                 old_high_length: int | None) -> SplitPoint:
    """Pick where to split a page whose items (new item included) have ``lengths``.

    The left page gets a new high key made from the first right item (a leaf tuple grows by a
    heap TID to become a pivot; an internal pivot is copied), the right page keeps the old high
    key (``old_high_length``, None on the rightmost page) and, on internal levels, turns its first
    item into the keyless minus-infinity pivot. Among the split points where both halves fit,
    the target is half the bytes, or on the rightmost page of a level (ascending inserts) a left
    page 90% full (leaves) or 70% full (internal pages). Of the points within
    SPLIT_TOLERANCE_BYTES of the best distance to the target, the one with the shortest
    separator wins (short separators keep the upper levels wide, as PostgreSQL's
    _bt_findsplitloc does), then the closer one, then the leftmost: deterministic.
    """
    count = len(lengths)
    invariant(count >= 2, f"cannot split a page of {count} items")
    spaces = [item_space(length) for length in lengths]
    total = sum(spaces)
    old_high_space = item_space(old_high_length) if old_high_length is not None else 0
    candidates: list[tuple[float, int, SplitPoint]] = []
    left_items = 0
    for first_right in range(1, count):
        left_items += spaces[first_right - 1]
        separator = lengths[first_right] + (HEAP_TID_SIZE if is_leaf else 0)
        left_used = left_items + item_space(separator)
        right_used = total - left_items + old_high_space
        if not is_leaf:
            right_used += item_space(MINUS_INFINITY_SIZE) - spaces[first_right]
        if left_used > BTREE_USABLE_SIZE or right_used > BTREE_USABLE_SIZE:
            continue
        distance = abs(left_used - _split_target(left_used + right_used, is_leaf, is_rightmost))
        candidates.append((distance, separator, SplitPoint(first_right, left_used, right_used)))
    invariant(bool(candidates), f"no split point fits items of lengths {list(lengths)}")
    best_distance = min(candidate[0] for candidate in candidates)
    near = [candidate for candidate in candidates
            if candidate[0] <= best_distance + SPLIT_TOLERANCE_BYTES]
    return min(near, key=lambda candidate: (candidate[1], candidate[0],
                                            candidate[2].first_right))[2]


def _split_target(total_used: int, is_leaf: bool, is_rightmost: bool) -> float:
    if not is_rightmost:
        return total_used / 2
    if is_leaf:
        return BTREE_USABLE_SIZE * RIGHTMOST_LEAF_FILL_FRACTION
    return BTREE_USABLE_SIZE * RIGHTMOST_INTERNAL_FILL_FRACTION


def fits(page: bytes | bytearray | memoryview, item_length: int) -> bool:
    return pagelib.free_space(page) >= maxalign(item_length)
