"""Unit tests of the B-tree page layout and the WAL block ops (no buffer pool, no WAL writer)."""

from __future__ import annotations

import pytest

from mirrordb.access import nbtree_page as btpage
from mirrordb.access import nbtree_xlog as btxlog
from mirrordb.access.nbtree_page import BTP_LEAF, BTP_ROOT, MetaData, Opaque
from mirrordb.common.errors import DataCorrupted, WalCorrupted
from mirrordb.storage import page as pagelib


def leaf(block: int, offset: int, payload: bytes = b"k", has_nulls: bool = False) -> bytes:
    return btpage.make_leaf_tuple((block, offset), has_nulls, payload)


def assert_hole_zero(page: bytearray) -> None:
    lower, upper = pagelib.lower_upper(page)
    assert page[lower:upper] == bytes(upper - lower)


def new_leaf_page(items: list[bytes], next_block: int = 0, high: bytes | None = None) -> bytearray:
    page = pagelib.new_page()
    btpage.build_page(page, Opaque(0, next_block, 0, BTP_LEAF), high, items)
    return page


def test_limits_match_postgresql() -> None:
    assert btpage.BTREE_MAX_ITEM_SIZE == 2704
    assert btpage.BTREE_MAX_PIVOT_SIZE == 2712
    assert btpage.BT_META_LOWER == 72


def test_metapage_round_trip_and_layout() -> None:
    page = pagelib.new_page()
    btpage.init_meta_page(page, MetaData(root=7, level=2))
    assert btpage.read_meta(page) == MetaData(7, 2)
    assert pagelib.lower_upper(page) == (72, btpage.BT_SPECIAL_OFFSET)
    assert btpage.get_opaque(page) == Opaque(0, 0, 0, btpage.BTP_META)
    assert page[24:28] == (0x053162).to_bytes(4, "little")
    assert_hole_zero(page)
    pagelib.verify_header(page)


def test_read_meta_rejects_garbage() -> None:
    with pytest.raises(DataCorrupted, match="unexpected zero page"):
        btpage.read_meta(pagelib.new_page(), "idx")
    page = pagelib.new_page()
    btpage.init_meta_page(page, MetaData(1, 0))
    page[24] ^= 0xFF
    with pytest.raises(DataCorrupted, match='index "idx" is not a btree'):
        btpage.read_meta(page, "idx")
    btpage.init_meta_page(page, MetaData(1, 0))
    page[28] = 3
    with pytest.raises(DataCorrupted, match="version mismatch"):
        btpage.read_meta(page, "idx")


def test_tuples_round_trip() -> None:
    item = leaf(70000, 5, b"\x02\x03", has_nulls=False)
    parsed = btpage.parse_tuple(item)
    assert (parsed.block, parsed.posid, parsed.is_pivot) == (70000, 5, False)
    assert parsed.heap_tid == (70000, 5) and parsed.payload == b"\x02\x03"

    pivot = btpage.pivot_from_leaf(item, natts=1, child=9)
    assert len(pivot) == len(item) + btpage.HEAP_TID_SIZE
    parsed_pivot = btpage.parse_tuple(pivot)
    assert parsed_pivot.is_pivot and parsed_pivot.block == 9
    assert parsed_pivot.heap_tid == (70000, 5) and parsed_pivot.payload == b"\x02\x03"
    assert btpage.parse_tuple(btpage.with_child(pivot, 12)).block == 12

    minus_infinity = btpage.parse_tuple(btpage.make_minus_infinity(3))
    assert minus_infinity.is_pivot and minus_infinity.posid == 0 and minus_infinity.block == 3
    assert minus_infinity.heap_tid is None


def test_payload_with_nulls() -> None:
    has_nulls, payload = btpage.make_payload(b"data", b"\x01")
    assert has_nulls and payload == b"\x01\0\0\0data"
    assert btpage.split_payload(payload, True) == (b"data", b"\x01\0\0\0")
    assert btpage.make_payload(b"data", None) == (False, b"data")


@pytest.mark.parametrize("garbage", [b"", b"\0" * 7, b"\0\0\0\0\0\0\x05\0",
                                     b"\0\0\0\0\0\0\x08\x60", b"\0\0\0\0\0\0\x09\x20\0",
                                     b"\0\0\0\0\x01\x10\x08\x20", b"\0\0\0\0\0\0\x09\x80\0"])
def test_parse_tuple_rejects_garbage(garbage: bytes) -> None:
    with pytest.raises(DataCorrupted):
        btpage.parse_tuple(garbage)


def test_build_insert_delete_keep_order_and_zero_hole() -> None:
    items = [leaf(1, n) for n in range(1, 6)]
    page = new_leaf_page(items)
    assert btpage.data_items(page) == items
    assert btpage.first_data_offset(page) == 1 and btpage.high_key(page) is None
    extra = leaf(9, 9, b"longer payload")
    btpage.insert_item(page, 3, extra)
    assert btpage.data_items(page) == items[:2] + [extra] + items[2:]
    btpage.delete_offsets(page, [1, 3])
    assert btpage.data_items(page) == [items[1]] + items[2:]
    assert_hole_zero(page)
    pagelib.verify_header(page)


def test_high_key_occupies_offset_one() -> None:
    high = btpage.pivot_from_leaf(leaf(5, 5), 1)
    page = new_leaf_page([leaf(1, 1)], next_block=4, high=high)
    assert btpage.first_data_offset(page) == 2
    assert btpage.high_key(page) == high
    with pytest.raises(DataCorrupted):
        btpage.insert_item(page, 1, leaf(0, 1))      # cannot go before the high key
    with pytest.raises(DataCorrupted):
        btpage.delete_offsets(page, [1])             # the high key is not a data item


def test_split_left_keeps_prefix_and_inserts_new_item() -> None:
    items = [leaf(1, n) for n in range(1, 9)]
    page = pagelib.new_page()
    btpage.build_page(page, Opaque(3, 0, 0, BTP_LEAF | BTP_ROOT), None, items)
    high = btpage.pivot_from_leaf(items[5], 1)
    new = leaf(2, 2)
    btpage.split_left(page, 11, BTP_LEAF, high, 4, 1, new)
    assert btpage.get_opaque(page) == Opaque(3, 11, 0, BTP_LEAF)
    assert btpage.high_key(page) == high
    assert btpage.data_items(page) == [items[0], new] + items[1:4]
    assert_hole_zero(page)


def test_insert_reports_a_full_page() -> None:
    big = leaf(1, 1, b"x" * 2600)
    page = new_leaf_page([big, big, big])
    with pytest.raises(DataCorrupted, match="no room"):
        btpage.insert_item(page, 4, big)
    assert not btpage.fits(page, len(big))


def test_choose_split_balances_and_is_deterministic() -> None:
    lengths = [16] * 300
    point = btpage.choose_split(lengths, is_leaf=True, is_rightmost=False, old_high_length=16)
    assert point.first_right == 150
    assert point == btpage.choose_split(lengths, is_leaf=True, is_rightmost=False,
                                        old_high_length=16)
    rightmost = btpage.choose_split(lengths, is_leaf=True, is_rightmost=True,
                                    old_high_length=None)
    assert rightmost.first_right > 250                  # ascending inserts: left stays 90% full
    assert rightmost.left_used <= btpage.BTREE_USABLE_SIZE


def test_choose_split_of_maximum_size_items() -> None:
    size = btpage.BTREE_MAX_ITEM_SIZE
    for rightmost in (False, True):
        point = btpage.choose_split([size] * 3, is_leaf=True, is_rightmost=rightmost,
                                    old_high_length=None if rightmost else size + 8)
        assert point.left_used <= btpage.BTREE_USABLE_SIZE
        assert point.right_used <= btpage.BTREE_USABLE_SIZE
    internal = btpage.choose_split([8, size + 8, size + 8], is_leaf=False, is_rightmost=False,
                                   old_high_length=size + 8)
    assert internal.first_right in (1, 2)


# -- WAL block ops -----------------------------------------------------------------------------


def all_ops() -> list[btxlog.BlockOp]:
    item = leaf(1, 2, b"abc")
    high = btpage.pivot_from_leaf(item, 1)
    return [
        btxlog.InitMeta(MetaData(3, 1)),
        btxlog.BuildPage(Opaque(1, 2, 0, BTP_LEAF), high, [item, item]),
        btxlog.BuildPage(Opaque(0, 0, 1, BTP_ROOT), None,
                         [btpage.make_minus_infinity(1), btpage.with_child(high, 2)]),
        btxlog.InsertItem(3, item),
        btxlog.SplitLeft(9, BTP_LEAF, high, 4, 2, item),
        btxlog.SplitLeft(9, 0, high, 4, None, b""),
        btxlog.SetPrev(77),
        btxlog.DeleteItems((2, 5, 9)),
    ]


@pytest.mark.parametrize("block_op", all_ops(), ids=lambda op: type(op).__name__)
def test_block_op_round_trip(block_op: btxlog.BlockOp) -> None:
    decoded = btxlog.decode_block_op(block_op.encode())
    assert decoded.encode() == block_op.encode()
    assert type(decoded) is type(block_op)


@pytest.mark.parametrize("block_op", all_ops(), ids=lambda op: type(op).__name__)
def test_truncated_block_op_is_wal_corrupted(block_op: btxlog.BlockOp) -> None:
    data = block_op.encode()
    for cut in range(len(data)):
        try:
            btxlog.decode_block_op(data[:cut])
        except WalCorrupted:
            continue
        # A shorter INSERT or SPLIT_LEFT can still be well formed (its item is "the rest").


def test_unknown_op_is_wal_corrupted() -> None:
    with pytest.raises(WalCorrupted, match="unknown B-tree block op"):
        btxlog.decode_block_op(b"\x63")
    with pytest.raises(WalCorrupted, match="trailing"):
        btxlog.decode_block_op(btxlog.SetPrev(1).encode() + b"\0")


def test_ops_on_an_uninitialised_page_are_data_corrupted() -> None:
    for block_op in all_ops():
        if block_op.will_init:
            continue
        with pytest.raises(DataCorrupted):
            block_op.apply(pagelib.new_page())


def test_append_items_equals_successive_add_item() -> None:
    items = [bytes([n]) * (n * 7 % 40 + 1) for n in range(1, 60)]
    one_by_one, batched = pagelib.new_page(), pagelib.new_page()
    pagelib.page_init(one_by_one, btpage.BT_OPAQUE_SIZE)
    pagelib.page_init(batched, btpage.BT_OPAQUE_SIZE)
    pagelib.add_item(one_by_one, b"first")
    pagelib.add_item(batched, b"first")
    for item in items:
        pagelib.add_item(one_by_one, item)
    assert pagelib.append_items(batched, items)
    assert batched == one_by_one
    too_many = [b"x" * 2000] * 5
    before = bytes(batched)
    assert not pagelib.append_items(batched, too_many)
    assert batched == before
