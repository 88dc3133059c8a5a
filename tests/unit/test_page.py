"""Unit tests of the slotted page (storage/page.py): layout, item operations, free space, and the
invariant byte-identical redo depends on: the hole between pd_lower and pd_upper is always zero."""

from __future__ import annotations

import random
import struct

import pytest

from mirrordb.common.errors import DataCorrupted, InvariantViolation
from mirrordb.storage import page as pagelib
from mirrordb.storage.page import (
    BLCKSZ,
    ITEM_ID_SIZE,
    LP_DEAD,
    LP_NORMAL,
    LP_UNUSED,
    PAGE_HEADER_SIZE,
    PD_HAS_FREE_LINES,
    maxalign,
)


def new_initialised_page(special_size: int = 0) -> bytearray:
    page = pagelib.new_page()
    pagelib.page_init(page, special_size)
    return page


def flags_of(page: bytearray) -> int:
    return struct.unpack_from("<H", page, 10)[0]


def assert_hole_zero(page: bytearray) -> None:
    lower, upper = pagelib.lower_upper(page)
    assert lower <= upper
    assert page[lower:upper] == bytes(upper - lower)


def assert_storage_is_exactly_the_items(page: bytearray) -> None:
    """Item storage holds the live items packed against pd_special (in whatever order they lie),
    padding zero, nothing stale."""
    _, upper = pagelib.lower_upper(page)
    special = pagelib.special_offset(page)
    expected = bytearray()
    for offnum in storage_in_physical_order(page):
        lp_off, _, lp_len = pagelib.get_item_id(page, offnum)
        item = bytes(page[lp_off:lp_off + lp_len])
        expected[0:0] = item + bytes(maxalign(lp_len) - lp_len)
    assert bytes(page[upper:special]) == bytes(expected)


def storage_in_physical_order(page: bytearray) -> list[int]:
    """Offset numbers of the items with storage, the one nearest pd_special first."""
    with_storage = []
    for offnum in range(1, pagelib.max_offset(page) + 1):
        lp_off, lp_flags, lp_len = pagelib.get_item_id(page, offnum)
        if lp_flags in (LP_NORMAL, LP_DEAD) and lp_len:
            with_storage.append((lp_off, offnum))
    return [offnum for _, offnum in sorted(with_storage, reverse=True)]


def item_bytes(tag: int, length: int) -> bytes:
    return bytes((tag + index) % 251 + 1 for index in range(length))


def test_page_init_writes_postgres_header() -> None:
    page = new_initialised_page(special_size=10)
    lsn_high, lsn_low, checksum, flags, lower, upper, special, size_version, prune_xid = \
        struct.unpack_from("<IIHHHHHHI", page, 0)
    assert (lsn_high, lsn_low, checksum, flags, prune_xid) == (0, 0, 0, 0, 0)
    assert lower == PAGE_HEADER_SIZE
    assert upper == special == BLCKSZ - 16          # special size is MAXALIGNed
    assert size_version == BLCKSZ | 4
    assert len(pagelib.special_space(page)) == 16
    pagelib.verify_header(page)
    assert not pagelib.is_new(page)
    assert pagelib.is_new(pagelib.ZERO_PAGE)


def test_lsn_is_stored_high_half_first() -> None:
    page = new_initialised_page()
    pagelib.set_lsn(page, 0x0000000A_12345678)
    assert struct.unpack_from("<II", page, 0) == (0xA, 0x12345678)
    assert pagelib.get_lsn(page) == 0x0000000A_12345678


def test_add_item_appends_and_accounts_free_space() -> None:
    page = new_initialised_page()
    free_before = pagelib.free_space(page)
    assert free_before == BLCKSZ - PAGE_HEADER_SIZE - ITEM_ID_SIZE
    lengths = [1, 8, 13, 100]
    for index, length in enumerate(lengths, start=1):
        assert pagelib.add_item(page, item_bytes(index, length)) == index
    lower, upper = pagelib.lower_upper(page)
    assert lower == PAGE_HEADER_SIZE + len(lengths) * ITEM_ID_SIZE
    assert upper == BLCKSZ - sum(maxalign(length) for length in lengths)
    assert pagelib.free_space(page) == upper - lower - ITEM_ID_SIZE
    for index, length in enumerate(lengths, start=1):
        assert pagelib.get_item(page, index) == item_bytes(index, length)
        assert pagelib.get_item_id(page, index)[1:] == (LP_NORMAL, length)
    assert pagelib.max_offset(page) == len(lengths)
    assert_hole_zero(page)
    assert_storage_is_exactly_the_items(page)
    pagelib.verify_header(page)


def test_add_item_that_does_not_fit_returns_zero_and_leaves_page_alone() -> None:
    page = new_initialised_page()
    big = bytes(4000)
    assert pagelib.add_item(page, big) == 1
    assert pagelib.add_item(page, big) == 2
    before = bytes(page)
    assert pagelib.add_item(page, big) == 0
    assert bytes(page) == before


def test_item_filling_the_page_exactly_fits() -> None:
    page = new_initialised_page()
    largest = (BLCKSZ - PAGE_HEADER_SIZE - ITEM_ID_SIZE) // 8 * 8    # items are MAXALIGNed
    assert pagelib.add_item(page, bytes(largest + 1)) == 0
    assert pagelib.add_item(page, bytes(largest)) == 1
    assert pagelib.free_space(page) == 0
    assert pagelib.add_item(page, b"x") == 0


def test_overwrite_item_in_place() -> None:
    page = new_initialised_page()
    pagelib.add_item(page, b"abcdefgh")
    pagelib.overwrite_item(page, 1, bytearray(b"ABCDEFGH"))
    assert pagelib.get_item(page, 1) == b"ABCDEFGH"
    with pytest.raises(InvariantViolation):
        pagelib.overwrite_item(page, 1, bytearray(b"short"))


def test_set_unused_trims_trailing_pointers_and_compacts() -> None:
    page = new_initialised_page()
    for index in range(1, 6):
        pagelib.add_item(page, item_bytes(index, 10 * index))
    pagelib.set_unused(page, [2, 5])
    assert pagelib.max_offset(page) == 4                      # 5 was trailing: trimmed
    assert pagelib.get_item_id(page, 2) == (0, LP_UNUSED, 0)
    assert flags_of(page) & PD_HAS_FREE_LINES
    for index in (1, 3, 4):
        assert pagelib.get_item(page, index) == item_bytes(index, 10 * index)
    _, upper = pagelib.lower_upper(page)
    assert upper == BLCKSZ - sum(maxalign(10 * index) for index in (1, 3, 4))
    assert_hole_zero(page)
    assert_storage_is_exactly_the_items(page)
    pagelib.verify_header(page)


def test_free_line_pointer_is_reused_then_flag_cleared() -> None:
    page = new_initialised_page()
    for index in range(1, 4):
        pagelib.add_item(page, item_bytes(index, 16))
    pagelib.set_unused(page, [2])
    assert pagelib.add_item(page, b"reused!!") == 2
    assert pagelib.get_item(page, 2) == b"reused!!"
    assert pagelib.add_item(page, b"appended") == 4
    assert not flags_of(page) & PD_HAS_FREE_LINES
    assert_hole_zero(page)


def test_set_unused_of_everything_empties_the_page() -> None:
    page = new_initialised_page()
    for index in range(1, 4):
        pagelib.add_item(page, item_bytes(index, 24))
    pagelib.set_unused(page, [1, 2, 3])
    fresh = new_initialised_page()
    assert bytes(page) == bytes(fresh)


def test_shift_insert_moves_line_pointers_up() -> None:
    page = new_initialised_page()
    pagelib.add_item(page, b"b" * 8)
    pagelib.add_item(page, b"c" * 8)
    assert pagelib.add_item(page, b"a" * 8, offnum=1, shift=True) == 1
    assert [pagelib.get_item(page, n) for n in (1, 2, 3)] == [b"a" * 8, b"b" * 8, b"c" * 8]
    assert pagelib.add_item(page, b"d" * 8, offnum=4, shift=True) == 4
    assert pagelib.get_item(page, 4) == b"d" * 8
    assert_hole_zero(page)


def test_delete_items_renumbers_and_compacts() -> None:
    page = new_initialised_page(special_size=16)
    for index in range(1, 6):
        pagelib.add_item(page, item_bytes(index, 9))
    pagelib.delete_items(page, [1, 3])
    assert pagelib.max_offset(page) == 3
    assert [pagelib.get_item(page, n) for n in (1, 2, 3)] == \
        [item_bytes(index, 9) for index in (2, 4, 5)]
    assert_hole_zero(page)
    assert_storage_is_exactly_the_items(page)
    assert pagelib.lower_upper(page)[1] == BLCKSZ - 16 - 3 * maxalign(9)


def test_compact_keeps_dead_items_storage() -> None:
    page = new_initialised_page()
    for index in range(1, 4):
        pagelib.add_item(page, item_bytes(index, 12))
    lp_off, _, lp_len = pagelib.get_item_id(page, 2)
    pagelib.set_item_id(page, 2, lp_off, LP_DEAD, lp_len)
    pagelib.set_unused(page, [1])
    assert pagelib.get_item_id(page, 2)[1] == LP_DEAD
    assert pagelib.get_item(page, 2) == item_bytes(2, 12)
    assert_storage_is_exactly_the_items(page)


def test_compaction_keeps_the_physical_order_of_the_items() -> None:
    """As PostgreSQL's PageRepairFragmentation: an item reusing a line pointer lies below the
    others and stays there; compaction closes gaps, it does not sort by offset number."""
    page = new_initialised_page()
    for index in range(1, 5):
        pagelib.add_item(page, item_bytes(index, 10))
    pagelib.set_unused(page, [2])
    assert pagelib.add_item(page, item_bytes(9, 20)) == 2            # lowest in the page now
    assert storage_in_physical_order(page) == [1, 3, 4, 2]
    pagelib.set_unused(page, [3])
    assert storage_in_physical_order(page) == [1, 4, 2]
    assert pagelib.get_item(page, 2) == item_bytes(9, 20)
    assert pagelib.get_item(page, 4) == item_bytes(4, 10)
    assert pagelib.lower_upper(page)[1] == BLCKSZ - 3 * maxalign(10) - maxalign(20) + maxalign(10)
    assert_storage_is_exactly_the_items(page)
    assert_hole_zero(page)


def test_compact_closes_holes_left_anywhere() -> None:
    """The general path: storage that is not contiguous (a pointer dropped without compaction,
    as no function here does but an older or foreign page may have) is packed in physical
    order."""
    page = new_initialised_page(special_size=16)
    for index in range(1, 6):
        pagelib.add_item(page, item_bytes(index, 8 * index + 3))
    pagelib.set_item_id(page, 2, 0, LP_UNUSED, 0)                   # storage of 2 left behind
    pagelib.set_item_id(page, 4, 0, LP_UNUSED, 0)
    pagelib.compact(page)
    assert storage_in_physical_order(page) == [1, 3, 5]
    for index in (1, 3, 5):
        assert pagelib.get_item(page, index) == item_bytes(index, 8 * index + 3)
    assert pagelib.lower_upper(page)[1] == \
        BLCKSZ - 16 - sum(maxalign(8 * index + 3) for index in (1, 3, 5))
    assert_storage_is_exactly_the_items(page)
    assert_hole_zero(page)


def test_add_item_into_a_used_pointer_is_a_programmer_error() -> None:
    page = new_initialised_page()
    pagelib.add_item(page, b"x")
    pagelib.add_item(page, b"y")
    with pytest.raises(InvariantViolation):
        pagelib.add_item(page, b"z", offnum=1)
    with pytest.raises(InvariantViolation):
        pagelib.add_item(page, b"z", offnum=5)


@pytest.mark.parametrize("field_offset, value", [
    (18, 8192),                       # layout version missing
    (12, 20),                         # pd_lower inside the header
    (14, 16),                         # pd_upper below pd_lower
    (14, 8200),                       # pd_upper past pd_special
    (16, 8190),                       # special not MAXALIGNed
    (10, 0x0002),                     # unknown flag
    (12, 26),                         # pd_lower not on a line pointer boundary
])
def test_verify_header_rejects_damaged_headers(field_offset: int, value: int) -> None:
    page = new_initialised_page()
    struct.pack_into("<H", page, field_offset, value)
    with pytest.raises(DataCorrupted):
        pagelib.verify_header(page, "test page")


def test_random_operations_keep_invariants_and_are_deterministic() -> None:
    """The same operations on two pages give the same bytes; the hole stays zero throughout."""
    rng = random.Random(1234)
    first, second = new_initialised_page(), new_initialised_page()
    live: dict[int, bytes] = {}
    for step in range(2000):
        if live and rng.random() < 0.35:
            doomed = rng.sample(sorted(live), k=min(len(live), rng.randint(1, 3)))
            for page in (first, second):
                pagelib.set_unused(page, doomed)
            for offnum in doomed:
                del live[offnum]
        else:
            item = item_bytes(step, rng.randint(1, 300))
            placed = pagelib.add_item(first, item)
            assert pagelib.add_item(second, item) == placed
            if placed:
                live[placed] = item
        assert bytes(first) == bytes(second)
        assert_hole_zero(first)
        pagelib.verify_header(first)
        for offnum, item in live.items():
            assert pagelib.get_item(first, offnum) == item
    assert_storage_is_exactly_the_items(first)
