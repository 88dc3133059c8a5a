"""Unit tests of the heap tuple format (storage/tuple.py): the documented header layout, null
bitmap placement, header checks, and the in-place setters the heap and its redo use."""

from __future__ import annotations

import struct

import pytest

from mirrordb.common.errors import DataCorrupted, InvariantViolation
from mirrordb.storage import page as pagelib
from mirrordb.storage import tuple as tuplelib
from mirrordb.storage.datum import INT4_OID, TEXT_OID, RowCodec
from mirrordb.storage.tuple import (
    HEAP_COMBOCID,
    HEAP_HASNULL,
    HEAP_TUPLE_HEADER_SIZE,
    HEAP_UPDATED,
    HEAP_XMAX_LOCK_ONLY,
    INVALID_BLOCK_NUMBER,
)


def test_header_layout_without_nulls() -> None:
    item = tuplelib.form_tuple(xmin=700, cid=3, natts=2, data=b"DATA", null_bitmap=None,
                               infomask=HEAP_UPDATED)
    assert struct.unpack_from("<IIIIHHHB", item, 0) == (
        700, 0, 3, INVALID_BLOCK_NUMBER, 0, 2, HEAP_UPDATED, 24)
    assert item[23:24] == b"\x00"                       # padding up to t_hoff
    assert item[24:] == b"DATA"
    header = tuplelib.read_header(item)
    assert header == tuplelib.HeapTupleHeader(700, 0, 3, INVALID_BLOCK_NUMBER, 0, 2,
                                              HEAP_UPDATED, 24)


@pytest.mark.parametrize("natts, bitmap_length, hoff", [
    (1, 1, 24), (8, 1, 24), (9, 2, 32), (72, 9, 32), (73, 10, 40), (1600, 200, 224)])
def test_null_bitmap_sits_after_the_header(natts: int, bitmap_length: int, hoff: int) -> None:
    bitmap = bytes([0b10101010]) * bitmap_length
    item = tuplelib.form_tuple(1, 0, natts, b"xyz", bitmap)
    header = tuplelib.read_header(item)
    assert header.hoff == hoff and header.infomask & HEAP_HASNULL
    assert item[HEAP_TUPLE_HEADER_SIZE:HEAP_TUPLE_HEADER_SIZE + bitmap_length] == bitmap
    assert item[HEAP_TUPLE_HEADER_SIZE + bitmap_length:hoff] == bytes(
        hoff - HEAP_TUPLE_HEADER_SIZE - bitmap_length)
    data, read_bitmap = tuplelib.tuple_data(item)
    assert bytes(data) == b"xyz" and read_bitmap == bitmap


def test_row_codec_and_tuple_round_trip() -> None:
    codec = RowCodec([INT4_OID, TEXT_OID, INT4_OID])
    for values in [(1, "one", 2), (None, "two", None), (None, None, None)]:
        data, nulls = codec.encode(values)
        item = tuplelib.form_tuple(5, 0, 3, data, nulls)
        assert codec.decode(*tuplelib.tuple_data(item)) == values


def test_form_tuple_derives_hasnull_from_the_bitmap() -> None:
    item = tuplelib.form_tuple(1, 0, 1, b"", None, infomask=HEAP_HASNULL)
    assert not tuplelib.read_header(item).infomask & HEAP_HASNULL


def test_form_tuple_programmer_errors() -> None:
    with pytest.raises(InvariantViolation):
        tuplelib.form_tuple(1, 0, 9, b"", b"\x00")              # bitmap needs 2 bytes
    with pytest.raises(InvariantViolation):
        tuplelib.form_tuple(1, 0, 1, b"", None, infomask=0x0400)
    with pytest.raises(InvariantViolation):
        tuplelib.form_tuple(1, 0, 1601, b"", None)


def place_on_page(item: bytes) -> tuple[bytearray, int]:
    page = pagelib.new_page()
    pagelib.page_init(page)
    pagelib.add_item(page, b"first item")
    offnum = pagelib.add_item(page, item)
    return page, pagelib.get_item_id(page, offnum)[0]


def test_in_place_setters_on_a_page() -> None:
    page, lp_off = place_on_page(tuplelib.form_tuple(100, 7, 1, b"\x01\x02\x03\x04", None))
    before = bytes(page)
    tuplelib.set_ctid(page, lp_off, 3, 2)
    tuplelib.set_xmax(page, lp_off, 200, infomask_set=HEAP_COMBOCID | HEAP_XMAX_LOCK_ONLY)
    tuplelib.set_cid(page, lp_off, 9)
    assert tuplelib.get_xmin_xmax(page, lp_off) == (100, 200)
    header = tuplelib.read_header(page[lp_off:lp_off + 28])
    assert (header.ctid_block, header.ctid_offset, header.cid) == (3, 2, 9)
    assert header.infomask == HEAP_COMBOCID | HEAP_XMAX_LOCK_ONLY
    tuplelib.set_xmax(page, lp_off, 0, infomask_clear=HEAP_XMAX_LOCK_ONLY)
    tuplelib.set_infomask_flags(page, lp_off, HEAP_UPDATED, HEAP_COMBOCID)
    assert tuplelib.read_header(page[lp_off:lp_off + 28]).infomask == HEAP_UPDATED
    changed = [offset for offset in range(len(page)) if page[offset] != before[offset]]
    assert all(lp_off <= offset < lp_off + HEAP_TUPLE_HEADER_SIZE for offset in changed)


def test_setters_refuse_to_change_hasnull_or_unknown_flags() -> None:
    item = bytearray(tuplelib.form_tuple(1, 0, 1, b"", None))
    with pytest.raises(InvariantViolation):
        tuplelib.set_infomask_flags(item, 0, HEAP_HASNULL)
    with pytest.raises(InvariantViolation):
        tuplelib.set_xmax(item, 0, 5, infomask_clear=0x8000)


def corrupt(item: bytes, offset: int, fmt: str, value: int) -> bytes:
    damaged = bytearray(item)
    struct.pack_into(fmt, damaged, offset, value)
    return bytes(damaged)


GOOD = tuplelib.form_tuple(1, 0, 2, b"12345678", None)


@pytest.mark.parametrize("item", [
    GOOD[:22],                                              # shorter than the header
    corrupt(GOOD, 18, "<H", 2 | 0x0800),                    # reserved t_infomask2 bit
    corrupt(GOOD, 20, "<H", 0x0400),                        # unknown t_infomask flag
    corrupt(GOOD, 22, "<B", 32),                            # t_hoff disagrees with natts
    corrupt(tuplelib.form_tuple(1, 0, 9, b"", None), 20, "<H", HEAP_HASNULL),  # no room for it
    GOOD[:23],                                              # t_hoff past the end
])
def test_read_header_rejects_damage(item: bytes) -> None:
    with pytest.raises(DataCorrupted):
        tuplelib.read_header(item)
    with pytest.raises(DataCorrupted):
        tuplelib.tuple_data(item)
