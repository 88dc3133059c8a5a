"""The 8 kB slotted page, in PostgreSQL's layout (bufpage.h), shared by heap and B-tree pages.

Byte layout of a page (all integers little-endian)::

    0   pd_lsn         8   LSN of the end of the last WAL record that changed the page,
                           stored as PostgreSQL does: uint32 high half, then uint32 low half
    8   pd_checksum    2   always 0 (data checksums are off)
    10  pd_flags       2   PD_HAS_FREE_LINES when an unused line pointer can be reused
    12  pd_lower       2   end of the line pointer array
    14  pd_upper       2   start of tuple storage
    16  pd_special     2   start of the access method's special space (BLCKSZ if none)
    18  pd_pagesize    2   BLCKSZ | layout version 4
    20  pd_prune_xid   4   heap pages: the oldest xmax set on the page since it was last pruned
                           (0: nothing there may be prunable); the heap sets it through WAL-
                           logged operations only, so it is equal on a standby (B-tree: 0)
    24  line pointers  4 each: lp_off (15 bits) | lp_flags (2 bits) | lp_len (15 bits)
    ... free space (the "hole", always zero bytes) ...
    pd_upper .. pd_special   item storage, each item MAXALIGNed, growing downwards
    pd_special .. BLCKSZ     special space

Item storage is contiguous from pd_upper to pd_special: add_item places an item at pd_upper, and
every removal compacts at once, closing the gaps it left while keeping the items' physical order
(PostgreSQL's PageRepairFragmentation), so an item's place does not follow its offset number.

Offsets of line pointers ("offset numbers") start at 1, as in PostgreSQL.

Rule that byte-identical redo depends on: every function here is a pure function of the page and
its arguments, and the hole ``[pd_lower, pd_upper)`` is always zero, so a full-page image with the
hole left out restores exactly the page the writer had.
"""

from __future__ import annotations

import struct

from mirrordb.common.errors import DataCorrupted, invariant

BLCKSZ = 8192
MAXALIGN = 8
PAGE_LAYOUT_VERSION = 4
PAGE_HEADER_SIZE = 24
ITEM_ID_SIZE = 4
FIRST_OFFSET = 1

LP_UNUSED = 0
LP_NORMAL = 1
LP_REDIRECT = 2
LP_DEAD = 3

PD_HAS_FREE_LINES = 0x0001
PRUNE_XID_OFFSET = 20

_HEADER = struct.Struct("<IIHHHHHHI")
_ITEM_ID = struct.Struct("<I")
_LSN = struct.Struct("<II")
_LOWER_UPPER = struct.Struct("<HH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_FLAGS_LOWER_UPPER = struct.Struct("<HHH")
_LOWER_UPPER_SPECIAL = struct.Struct("<HHH")
assert _HEADER.size == PAGE_HEADER_SIZE and _ITEM_ID.size == ITEM_ID_SIZE

ZERO_PAGE = bytes(BLCKSZ)
_LP_FLAGS_MASK = 0x3 << 15
_LP_NORMAL_BITS = LP_NORMAL << 15
_LP_FLAGS_AND_LENGTH_MASK = ~0x7FFF & 0xFFFFFFFF
_LP_STORAGE_FLAG = 0x1 << 15      # the low flag bit: set in LP_NORMAL (1) and LP_DEAD (3) only


def maxalign(length: int) -> int:
    return (length + MAXALIGN - 1) & ~(MAXALIGN - 1)


def new_page() -> bytearray:
    return bytearray(BLCKSZ)


def page_init(page: bytearray, special_size: int = 0) -> None:
    """Make ``page`` an empty initialised page with ``special_size`` bytes of special space."""
    special = BLCKSZ - maxalign(special_size)
    page[:] = ZERO_PAGE
    _HEADER.pack_into(page, 0, 0, 0, 0, 0, PAGE_HEADER_SIZE, special, special,
                      BLCKSZ | PAGE_LAYOUT_VERSION, 0)


def is_new(page: bytes | bytearray) -> bool:
    """True for a never-initialised (all-zero header) page."""
    return _U16.unpack_from(page, 14)[0] == 0


def get_lsn(page: bytes | bytearray | memoryview) -> int:
    high, low = _LSN.unpack_from(page, 0)
    return (high << 32) | low


def set_lsn(page: bytearray, lsn: int) -> None:
    _LSN.pack_into(page, 0, lsn >> 32, lsn & 0xFFFFFFFF)


def get_prune_xid(page: bytes | bytearray | memoryview) -> int:
    return _U32.unpack_from(page, PRUNE_XID_OFFSET)[0]


def set_prune_xid(page: bytearray, xid: int) -> None:
    _U32.pack_into(page, PRUNE_XID_OFFSET, xid)


def lower_upper(page: bytes | bytearray | memoryview) -> tuple[int, int]:
    return _LOWER_UPPER.unpack_from(page, 12)  # type: ignore[return-value]


def special_offset(page: bytes | bytearray) -> int:
    return _U16.unpack_from(page, 16)[0]


def verify_header(page: bytes | bytearray, what: str = "page") -> None:
    """Raise DataCorrupted unless the header of an initialised page is sane."""
    (_, _, _, flags, lower, upper, special, size_version, _) = _HEADER.unpack_from(page, 0)
    if (size_version != BLCKSZ | PAGE_LAYOUT_VERSION or flags & ~PD_HAS_FREE_LINES
            or not PAGE_HEADER_SIZE <= lower <= upper <= special <= BLCKSZ
            or special != maxalign(special) or (lower - PAGE_HEADER_SIZE) % ITEM_ID_SIZE):
        raise DataCorrupted(f"invalid page header in {what}",
                            detail=f"pd_lower {lower}, pd_upper {upper}, pd_special {special}")


def max_offset(page: bytes | bytearray | memoryview) -> int:
    """Number of line pointers (the highest offset number in use, or 0)."""
    lower = _U16.unpack_from(page, 12)[0]
    return (lower - PAGE_HEADER_SIZE) // ITEM_ID_SIZE if lower >= PAGE_HEADER_SIZE else 0


def get_item_id(page: bytes | bytearray | memoryview, offnum: int) -> tuple[int, int, int]:
    """(lp_off, lp_flags, lp_len) of line pointer ``offnum``."""
    word = _ITEM_ID.unpack_from(page, PAGE_HEADER_SIZE + (offnum - 1) * ITEM_ID_SIZE)[0]
    return word & 0x7FFF, (word >> 15) & 0x3, word >> 17


def set_item_id(page: bytearray, offnum: int, lp_off: int, lp_flags: int, lp_len: int) -> None:
    _ITEM_ID.pack_into(page, PAGE_HEADER_SIZE + (offnum - 1) * ITEM_ID_SIZE,
                       lp_off | (lp_flags << 15) | (lp_len << 17))


def get_item(page: bytes | bytearray | memoryview, offnum: int) -> bytes:
    """The bytes of item ``offnum`` (which must have storage)."""
    lp_off, _, lp_len = get_item_id(page, offnum)
    return bytes(page[lp_off:lp_off + lp_len])


def item_is_normal(page: bytes | bytearray | memoryview, offnum: int) -> bool:
    return get_item_id(page, offnum)[1] == LP_NORMAL


def free_space(page: bytes | bytearray | memoryview) -> int:
    """Bytes available for one new item including its line pointer (PageGetFreeSpace)."""
    lower, upper = _LOWER_UPPER.unpack_from(page, 12)
    room = upper - lower - ITEM_ID_SIZE
    return room if room > 0 else 0


def _first_unused_line_pointer(page: bytes | bytearray) -> int:
    nline = max_offset(page)
    words = _line_pointer_words(nline).unpack_from(page, PAGE_HEADER_SIZE)
    for index, word in enumerate(words):
        if not word & _LP_FLAGS_AND_LENGTH_MASK:   # LP_UNUSED with no storage
            return index + 1
    return 0


_LINE_POINTER_WORDS: dict[int, struct.Struct] = {}


def _line_pointer_words(count: int) -> struct.Struct:
    """A precompiled Struct for ``count`` line pointers (at most a page's worth: the cache is
    bounded by BLCKSZ // ITEM_ID_SIZE entries)."""
    words = _LINE_POINTER_WORDS.get(count)
    if words is None:
        invariant(0 <= count <= BLCKSZ // ITEM_ID_SIZE, f"{count} line pointers")
        words = _LINE_POINTER_WORDS[count] = struct.Struct(f"<{count}I")
    return words


def add_item(page: bytearray, item: bytes | bytearray | memoryview, offnum: int = 0,
             shift: bool = False) -> int:
    """Store ``item`` on the page and return its offset number, or 0 if it does not fit.

    ``offnum == 0``: reuse the first unused line pointer (when the page says it has one), else
    append. ``shift``: insert at ``offnum``, moving the line pointers from there up by one (the
    B-tree's ordered insert). Otherwise ``offnum`` names an unused line pointer to fill, or the
    one just past the end.

    Hot path of both the primary and redo: the checks build their messages only on failure, the
    line pointer array is moved within the bytearray, and the header is read once and written
    once.
    """
    flags, lower, upper = _FLAGS_LOWER_UPPER.unpack_from(page, 10)
    nline = (lower - PAGE_HEADER_SIZE) >> 2
    if offnum == 0:
        offnum = _first_unused_line_pointer(page) if flags & PD_HAS_FREE_LINES else 0
        if offnum == 0:
            offnum = nline + 1
            flags &= ~PD_HAS_FREE_LINES
    if not 1 <= offnum <= nline + 1:
        invariant(False, f"add_item: offset {offnum} out of range 1..{nline + 1}")
    pointer = PAGE_HEADER_SIZE - ITEM_ID_SIZE + (offnum << 2)
    if shift or offnum == nline + 1:
        new_lower = lower + ITEM_ID_SIZE
    else:
        new_lower = lower
        if _ITEM_ID.unpack_from(page, pointer)[0] & _LP_FLAGS_MASK:
            invariant(False, f"add_item: line pointer {offnum} is in use")
    length = len(item)
    new_upper = upper - ((length + MAXALIGN - 1) & ~(MAXALIGN - 1))
    if new_upper < new_lower:
        return 0
    if shift and pointer < lower:
        page[pointer + ITEM_ID_SIZE:new_lower] = page[pointer:lower]
    page[new_upper:new_upper + length] = item
    _ITEM_ID.pack_into(page, pointer, new_upper | _LP_NORMAL_BITS | (length << 17))
    _FLAGS_LOWER_UPPER.pack_into(page, 10, flags, new_lower, new_upper)
    return offnum


def append_items(page: bytearray, items: list[bytes]) -> bool:
    """Append ``items`` after the last line pointer, in order, as successive ``add_item`` calls
    would (same bytes), in one pass. Returns False, leaving the page unchanged, if they do not
    all fit. The page must have no unused line pointers to reuse."""
    lower, upper = _LOWER_UPPER.unpack_from(page, 12)
    invariant(not _U16.unpack_from(page, 10)[0] & PD_HAS_FREE_LINES,
              "append_items: the page has unused line pointers")
    new_lower = lower + ITEM_ID_SIZE * len(items)
    if new_lower + sum(maxalign(len(item)) for item in items) > upper:
        return False
    words = []
    for item in items:
        upper -= maxalign(len(item))
        page[upper:upper + len(item)] = item
        words.append(upper | (LP_NORMAL << 15) | (len(item) << 17))
    struct.pack_into(f"<{len(words)}I", page, lower, *words)
    _LOWER_UPPER.pack_into(page, 12, new_lower, upper)
    return True


def _set_flags_lower_upper(page: bytearray, flags: int, lower: int, upper: int) -> None:
    _FLAGS_LOWER_UPPER.pack_into(page, 10, flags, lower, upper)


def overwrite_item(page: bytearray, offnum: int, item: bytes | bytearray) -> None:
    """Replace item ``offnum`` in place with bytes of exactly the same length."""
    lp_off, lp_flags, lp_len = get_item_id(page, offnum)
    invariant(lp_flags == LP_NORMAL and lp_len == len(item), "overwrite_item: length mismatch")
    page[lp_off:lp_off + lp_len] = item


def set_unused(page: bytearray, offnums: list[int]) -> None:
    """Mark line pointers unused, drop trailing unused ones and compact the page."""
    old_words = _line_pointer_words(max_offset(page)).unpack_from(page, PAGE_HEADER_SIZE)
    words = list(old_words)
    for offnum in offnums:
        words[offnum - 1] = 0
    _finish_line_pointer_edit(page, words, _removed_words(old_words, offnums))


def prune_line_pointers(page: bytearray, redirected: list[tuple[int, int]], dead: list[int],
                        unused: list[int]) -> None:
    """Heap pruning's line pointer changes, then compaction: each (from, to) in ``redirected``
    becomes LP_REDIRECT to offset ``to``, each of ``dead`` LP_DEAD without storage, each of
    ``unused`` LP_UNUSED; trailing unused pointers are dropped, PD_HAS_FREE_LINES follows."""
    old_words = _line_pointer_words(max_offset(page)).unpack_from(page, PAGE_HEADER_SIZE)
    words = list(old_words)
    for offnum, target in redirected:
        words[offnum - 1] = target | (LP_REDIRECT << 15)
    for offnum in dead:
        words[offnum - 1] = LP_DEAD << 15
    for offnum in unused:
        words[offnum - 1] = 0
    removed = None
    if len(redirected) + len(dead) + len(unused) <= FAST_PATH_MAX_REMOVED:
        removed = _removed_words(old_words, [offnum for offnum, _ in redirected] + dead + unused)
    _finish_line_pointer_edit(page, words, removed)


def _finish_line_pointer_edit(page: bytearray, words: list[int],
                              removed_words: list[int] | None) -> None:
    """After ``set_unused``'s or pruning's edit of ``words``: drop trailing unused pointers,
    set PD_HAS_FREE_LINES as an unused one remains or not, and compact (``_compact_words``)."""
    while words and words[-1] == 0:
        words.pop()
    has_free = not all(map(_LP_FLAGS_MASK.__and__, words))   # an LP_UNUSED pointer
    flags = _U16.unpack_from(page, 10)[0]
    flags = flags | PD_HAS_FREE_LINES if has_free else flags & ~PD_HAS_FREE_LINES
    _compact_words(page, flags, words, removed_words)


def delete_items(page: bytearray, offnums: list[int]) -> None:
    """Remove line pointers entirely, renumbering the ones after them (B-tree pages)."""
    doomed = set(offnums)
    old_words = _line_pointer_words(max_offset(page)).unpack_from(page, PAGE_HEADER_SIZE)
    kept = [word for index, word in enumerate(old_words, 1) if index not in doomed]
    _compact_words(page, _U16.unpack_from(page, 10)[0], kept, _removed_words(old_words, doomed))


def compact(page: bytearray) -> None:
    """Repack item storage against the special space in physical order and zero the hole
    (PageRepairFragmentation without removing anything)."""
    words = list(_line_pointer_words(max_offset(page)).unpack_from(page, PAGE_HEADER_SIZE))
    _compact_words(page, _U16.unpack_from(page, 10)[0], words, [])


# The fast path costs one pass over the line pointers per gap; past this many removed items the
# general path (one pass, then a loop over the kept items) is as cheap or cheaper.
FAST_PATH_MAX_REMOVED = 4

# MAXALIGN(lp_len & 0x7F), indexed by a line pointer's third byte (bit 16 and lp_len's low 7 bits):
# with the fourth byte (lp_len >> 7, whose multiples of 128 are already aligned) it gives an
# item's aligned length without a Python loop over the line pointers (see _storage_size).
_ALIGNED_LOW_LENGTH = bytes(maxalign(byte >> 1) for byte in range(256))


def _removed_words(old_words: tuple[int, ...], offnums: list[int] | set[int]) -> list[int] | None:
    """The old line pointers of ``offnums``, or None when there are too many for the fast path."""
    if len(offnums) > FAST_PATH_MAX_REMOVED:
        return None
    return [old_words[offnum - 1] for offnum in offnums]


def _compact_words(page: bytearray, flags: int, words: list[int],
                   removed_words: list[int] | None) -> None:
    """Make ``words`` the page's line pointer array (pd_lower follows, pd_flags is ``flags``) and
    pack the storage of its LP_NORMAL and LP_DEAD items with a length against the special space
    in physical order (the item nearest pd_special stays nearest), each MAXALIGNed, and zero the
    hole: PostgreSQL's PageRepairFragmentation (compactify_tuples), whose layout a page keeps
    through any mix of adds and removals.

    On entry the page still holds the line pointers from before the caller's edit; ``words``
    carries the kept items' old lp_off; ``removed_words`` are the old line pointers whose
    storage the edit dropped (pointers without storage among them, and repeats, are ignored),
    or None when there are more than FAST_PATH_MAX_REMOVED.
    Shared by VACUUM and pruning on the primary and by redo (heap prune, B-tree delete).

    Every removal compacts at once and items are only added at pd_upper, so the storage is
    usually contiguous from pd_upper to pd_special but for what this edit removed: then the
    fast path closes those gaps. Any other page (written by an older layout, or crafted) takes
    the general path; both give the same bytes where the fast path applies."""
    old_lower, upper, special = _LOWER_UPPER_SPECIAL.unpack_from(page, 12)
    lower = PAGE_HEADER_SIZE + len(words) * ITEM_ID_SIZE
    if removed_words is not None and _storage_size(page, old_lower) == special - upper:
        gaps = _storage_gaps(removed_words)
        words = _shift_line_pointers(words, upper, gaps)
        upper = _close_gaps(page, upper, gaps)
    else:
        upper = _pack_in_physical_order(page, words, special, lower)
    page[lower:upper] = bytes(upper - lower)
    _line_pointer_words(len(words)).pack_into(page, PAGE_HEADER_SIZE, *words)
    _FLAGS_LOWER_UPPER.pack_into(page, 10, flags, lower, upper)


def _storage_size(page: bytearray, lower: int) -> int:
    """Bytes of item storage the page's line pointers claim, each item MAXALIGNed: summed from
    the third and fourth byte of every line pointer (lp_len is 0 in a pointer without
    storage: LP_UNUSED, LP_REDIRECT, LP_DEAD without storage)."""
    high_lengths = page[PAGE_HEADER_SIZE + 3:lower:ITEM_ID_SIZE]
    low_lengths = page[PAGE_HEADER_SIZE + 2:lower:ITEM_ID_SIZE]
    return 128 * sum(high_lengths) + sum(low_lengths.translate(_ALIGNED_LOW_LENGTH))


def _storage_gaps(removed_words: list[int]) -> list[tuple[int, int]]:
    """The (start, length) stretches of storage ``removed_words`` held, MAXALIGNed, in ascending
    address order, adjacent ones joined."""
    sized = {word & 0x7FFF: ((word >> 17) + MAXALIGN - 1) & -MAXALIGN
             for word in removed_words if word >> 17 and word & _LP_STORAGE_FLAG}
    gaps: list[tuple[int, int]] = []
    for start in sorted(sized):
        length = sized[start]
        if gaps and gaps[-1][0] + gaps[-1][1] == start:
            gaps[-1] = (gaps[-1][0], gaps[-1][1] + length)
        else:
            gaps.append((start, length))
    return gaps


def _shift_line_pointers(words: list[int], upper: int, gaps: list[tuple[int, int]]) -> list[int]:
    """Fast path, line pointers: move each kept item's lp_off up by the total length of the
    ``gaps`` above it, one pass over ``words`` per gap, lowest gap first (an item moved past a
    lower gap still lies below the next one).

    A pointer without storage has lp_off 0 (LP_UNUSED, LP_DEAD) or the offset number it
    redirects to, which is below pd_lower, so ``lp_off >= upper`` picks exactly the items with
    storage."""
    for start, length in gaps:
        words = [word + length if upper <= word & 0x7FFF < start else word for word in words]
    return words


def _close_gaps(page: bytearray, upper: int, gaps: list[tuple[int, int]]) -> int:
    """Fast path, storage: for storage that was contiguous from ``upper`` to pd_special before
    the edit, slide the kept stretches below the highest gap up against it, in one join; the
    stretch above the highest gap stays put. Returns the new pd_upper."""
    if not gaps:
        return upper
    pieces = []
    below = upper
    for start, length in gaps:
        pieces.append(page[below:start])
        below = start + length
    new_upper = upper + sum([length for _, length in gaps])
    page[new_upper:below] = b"".join(pieces)
    return new_upper


def _pack_in_physical_order(page: bytearray, words: list[int], special: int, lower: int) -> int:
    """General path, for any valid page (items in any physical order, holes anywhere): place
    the items with storage from pd_special down in descending order of their current lp_off,
    copying adjacent items as one run (an item that ends where the run so far begins joins it).
    A copied padding is whatever the page held there: zeros, as add_item and compaction leave
    it. Returns the new pd_upper."""
    items = sorted([(word & 0x7FFF, index) for index, word in enumerate(words)
                    if word >> 17 and word & _LP_STORAGE_FLAG], reverse=True)
    pieces: list[bytearray] = []
    upper = special
    run_start = run_end = 0     # the run being collected: page[run_start:run_end]
    for start, index in items:
        word = words[index]
        aligned = ((word >> 17) + MAXALIGN - 1) & -MAXALIGN
        upper -= aligned
        words[index] = upper | (word & ~0x7FFF)
        if start + aligned == run_start:
            run_start = start
        else:
            if run_end:
                pieces.append(page[run_start:run_end])
            run_start, run_end = start, start + aligned
    if run_end:
        pieces.append(page[run_start:run_end])
    if upper < lower:
        invariant(False, "compact: items overflow the page")
    pieces.reverse()
    page[upper:special] = b"".join(pieces)
    return upper


def special_space(page: bytearray | bytes) -> memoryview:
    return memoryview(page)[special_offset(page):]
