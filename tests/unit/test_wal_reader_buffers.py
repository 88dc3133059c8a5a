"""SegmentFileSource's reused read-ahead buffers and the reader's fast page-header check: a page
or record handed out never changes when later reads reuse a buffer, and the fast check accepts
only headers decode_page_header accepts, with the same flags and remaining length."""

from __future__ import annotations

import os
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import WalCorrupted
from mirrordb.wal.pageheader import (
    SHORT_HEADER_STRUCT,
    decode_page_header,
    plain_short_header,
)
from mirrordb.wal.reader import READ_AHEAD_BUFFERS, READ_AHEAD_BYTES, SegmentFileSource
from mirrordb.wal.segment import MIN_SEGMENT_SIZE, WAL_PAGE_SIZE, segment_name

SEGMENT_SIZE = MIN_SEGMENT_SIZE
PAGES = SEGMENT_SIZE // WAL_PAGE_SIZE


def _write_segment(waldir: str) -> None:
    """Segment 1 on timeline 1 whose every page is filled with its page number (2 bytes)."""
    with open(os.path.join(waldir, segment_name(1, 1, SEGMENT_SIZE)), "wb") as handle:
        for number in range(PAGES):
            handle.write(struct.pack("<H", number) * (WAL_PAGE_SIZE // 2))


def _page_number(page: memoryview) -> int:
    return struct.unpack_from("<H", page, 0)[0]


def test_pages_held_keep_their_bytes_while_buffers_are_reused(tmp_path) -> None:
    _write_segment(str(tmp_path))
    pages_per_window = READ_AHEAD_BYTES // WAL_PAGE_SIZE
    with SegmentFileSource(str(tmp_path), 1, SEGMENT_SIZE) as source:
        held = []
        for number in range(PAGES):
            page = source.read_page(SEGMENT_SIZE + number * WAL_PAGE_SIZE)
            assert page is not None and _page_number(page) == number
            if number % pages_per_window == pages_per_window - 1:
                held.append((number, page))     # one page of every window stays alive
            if len(held) > READ_AHEAD_BUFFERS + 2:
                held.pop(0)
            for expected, kept in held:
                assert bytes(kept) == struct.pack("<H", expected) * (WAL_PAGE_SIZE // 2)
        assert len(source._buffers) <= READ_AHEAD_BUFFERS


def test_buffers_are_reused_when_nothing_holds_them(tmp_path) -> None:
    _write_segment(str(tmp_path))
    with SegmentFileSource(str(tmp_path), 1, SEGMENT_SIZE) as source:
        for number in range(PAGES):
            assert _page_number(source.read_page(SEGMENT_SIZE + number * WAL_PAGE_SIZE)) \
                == number
        assert 1 <= len(source._buffers) <= 2


def test_a_missing_page_keeps_no_buffer_exported(tmp_path) -> None:
    with open(os.path.join(str(tmp_path), segment_name(1, 1, SEGMENT_SIZE)), "wb") as handle:
        handle.write(b"\x01" * (WAL_PAGE_SIZE // 2))      # not even one whole page
    with SegmentFileSource(str(tmp_path), 1, SEGMENT_SIZE) as source:
        assert source.read_page(SEGMENT_SIZE) is None
        assert source.read_page(SEGMENT_SIZE) is None
        assert len(source._buffers) == 1


@settings(max_examples=400, deadline=None)
@given(magic=st.sampled_from([0xD110, 0xD10F, 0]), info=st.integers(0, 0x1F),
       tli=st.sampled_from([1, 2]), pageaddr_delta=st.sampled_from([0, WAL_PAGE_SIZE]),
       rem_len=st.integers(0, 20000), page_number=st.integers(0, 2 * PAGES - 1))
def test_plain_short_header_agrees_with_decode_page_header(magic: int, info: int, tli: int,
                                                           pageaddr_delta: int, rem_len: int,
                                                           page_number: int) -> None:
    page_lsn = SEGMENT_SIZE + page_number * WAL_PAGE_SIZE
    page = bytearray(WAL_PAGE_SIZE)
    SHORT_HEADER_STRUCT.pack_into(page, 0, magic, info, tli, page_lsn + pageaddr_delta, rem_len)
    fast = plain_short_header(memoryview(page), page_lsn, SEGMENT_SIZE, 1)
    if fast is None:
        return
    header = decode_page_header(page, page_lsn=page_lsn, segment_size=SEGMENT_SIZE)
    assert (header.info, header.rem_len, header.tli, header.size) == (fast[0], fast[1], 1, 24)


def test_plain_short_header_leaves_a_segment_start_to_the_full_check() -> None:
    page = bytearray(WAL_PAGE_SIZE)
    SHORT_HEADER_STRUCT.pack_into(page, 0, 0xD110, 0x0004, 1, SEGMENT_SIZE, 0)
    assert plain_short_header(page, SEGMENT_SIZE, SEGMENT_SIZE, 1) is None
    try:
        decode_page_header(page, page_lsn=SEGMENT_SIZE, segment_size=SEGMENT_SIZE)
    except WalCorrupted as error:
        assert "invalid info bits" in error.message
    else:
        raise AssertionError("a short header on a segment's first page was accepted")
