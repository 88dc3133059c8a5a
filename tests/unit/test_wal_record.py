"""XLogRecord codec: round trips, PostgreSQL's byte layout and CRC order, images with holes, and
every rejection of a malformed record with PostgreSQL's message."""

from __future__ import annotations

import struct

import pytest
from wal_helpers import OTHER_RNODE, RNODE, standard_page, with_fixed_crc

from mirrordb.common.crc import crc32c
from mirrordb.common.errors import ProgramLimitExceeded, WalCorrupted
from mirrordb.storage import page as pagelib
from mirrordb.storage.relfilenode import RelFileNode
from mirrordb.wal import record as record_module
from mirrordb.wal.record import (
    BKPBLOCK_HAS_DATA,
    BKPBLOCK_HAS_IMAGE,
    BKPBLOCK_SAME_REL,
    BKPBLOCK_WILL_INIT,
    BKPIMAGE_APPLY,
    BKPIMAGE_COMPRESS_PGLZ,
    BKPIMAGE_HAS_HOLE,
    MAX_RECORD_TOTAL_LENGTH,
    BlockImage,
    BlockRef,
    decode_record,
    encode_record,
    make_image,
    record_header,
)
from mirrordb.wal.rmgr import RM_MIRRORDB_HEAP_ID, RM_XACT_ID, RM_XLOG_ID, XLOG_SWITCH

LSN = 0x1000028


def wrap(body: bytes, rmid: int = RM_MIRRORDB_HEAP_ID, info: int = 0) -> bytes:
    """A record with a valid header and CRC around a hand-made body."""
    return record_header(rmid, info, 0, 0x1000000, len(body), crc32c(body)) + body


def block_header(block_id: int, fork_flags: int, data_length: int) -> bytes:
    return struct.pack("<BBH", block_id, fork_flags, data_length)


def relfilenode(rnode: RelFileNode = RNODE) -> bytes:
    return struct.pack("<III", *rnode)


def test_switch_record_bytes_and_crc_order() -> None:
    record = encode_record(RM_XLOG_ID, XLOG_SWITCH, 0, 0x0E000128 - 0x100, [], b"")
    assert len(record) == 24
    tot_len, xid, prev, info, rmid = struct.unpack_from("<IIQBB", record)
    assert (tot_len, xid, prev, info, rmid) == (24, 0, 0x0E000028, XLOG_SWITCH, RM_XLOG_ID)
    assert record[18:20] == b"\0\0"
    assert struct.unpack_from("<I", record, 20)[0] == crc32c(record[:20])


def test_crc_covers_payload_first_then_header() -> None:
    record = encode_record(RM_XACT_ID, 0, 749, 0x1000000, [], b"\x01" * 8)
    assert len(record) == 34
    assert record[24:26] == b"\xff\x08"  # XLR_BLOCK_ID_DATA_SHORT, 8 bytes
    expected = crc32c(record[:20], crc32c(record[24:]))
    assert struct.unpack_from("<I", record, 20)[0] == expected


def test_round_trip_with_blocks_images_and_main_data() -> None:
    page = standard_page()
    lower, upper = pagelib.lower_upper(page)
    image = make_image(page, standard=True, apply=True)
    blocks = [
        BlockRef(0, RNODE, 0, 7, b"data zero", image, False),
        BlockRef(1, RNODE, 1, 8, b"", None, True),
        BlockRef(3, OTHER_RNODE, 0, 9, b"x" * 300, make_image(page, False, False), False),
    ]
    record = encode_record(RM_MIRRORDB_HEAP_ID, 0x30, 1234, 0x1000000, blocks, b"m" * 256,
                           toplevel_xid=99)
    decoded = decode_record(record, LSN, LSN + 8 * 999)
    assert decoded.tot_len == len(record) and decoded.xid == 1234 and decoded.info == 0x30
    assert decoded.rmgr_info == 0x30 and decoded.rmid == RM_MIRRORDB_HEAP_ID
    assert decoded.prev_lsn == 0x1000000 and decoded.toplevel_xid == 99
    assert decoded.start_lsn == LSN and decoded.end_lsn == LSN + 8 * 999
    assert decoded.blocks == tuple(blocks) and decoded.main_data == b"m" * 256
    assert decoded.block(1) == blocks[1] and decoded.block(2) is None
    assert decoded.block(0).image.hole_offset == lower  # type: ignore[union-attr]
    assert decoded.block(0).image.hole_length == upper - lower  # type: ignore[union-attr]
    assert decoded.block(0).image.page() == bytes(page)  # type: ignore[union-attr]
    assert decoded.block(3).image.page() == bytes(page)  # type: ignore[union-attr]


def test_block_header_layout_and_same_rel() -> None:
    blocks = [BlockRef(0, RNODE, 0, 1, b"ab", None, False),
              BlockRef(1, RNODE, 2, 2, b"", None, True)]
    record = encode_record(RM_MIRRORDB_HEAP_ID, 0, 0, 0, blocks, b"")
    body = record[24:]
    assert body[:4] == block_header(0, BKPBLOCK_HAS_DATA, 2)
    assert body[4:16] == relfilenode() and body[16:20] == struct.pack("<I", 1)
    assert body[20:24] == block_header(1, 2 | BKPBLOCK_WILL_INIT | BKPBLOCK_SAME_REL, 0)
    assert body[24:28] == struct.pack("<I", 2)  # no RelFileNode: same as block 0's
    assert body[28:] == b"ab"


def test_main_data_header_sizes() -> None:
    short = encode_record(RM_XLOG_ID, 0x20, 0, 0, [], b"a" * 255)
    long = encode_record(RM_XLOG_ID, 0x20, 0, 0, [], b"a" * 256)
    assert short[24:26] == b"\xff\xff" and len(short) == 24 + 2 + 255
    assert long[24:29] == b"\xfe" + struct.pack("<I", 256) and len(long) == 24 + 5 + 256
    assert decode_record(long).main_data == b"a" * 256
    assert len(encode_record(RM_XLOG_ID, 0x20, 0, 0, [], b"")) == 24


def test_make_image_leaves_out_the_hole() -> None:
    page = standard_page(items=2)
    lower, upper = pagelib.lower_upper(page)
    image = make_image(page, standard=True, apply=True)
    assert (image.hole_offset, image.hole_length) == (lower, upper - lower)
    assert len(image.stored) == 8192 - (upper - lower) and image.page() == bytes(page)
    full = make_image(page, standard=False, apply=False)
    assert (full.hole_offset, full.hole_length, full.stored) == (0, 0, bytes(page))
    assert make_image(bytes(8192), standard=True, apply=True).hole_length == 0
    packed = pagelib.new_page()
    pagelib.page_init(packed)
    assert pagelib.add_item(packed, b"z" * 4080) and pagelib.add_item(packed, b"y" * 4080)
    assert pagelib.lower_upper(packed) == (32, 32)  # no gap
    assert make_image(packed, standard=True, apply=True).hole_length == 0


def test_record_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(record_module, "MAX_RECORD_TOTAL_LENGTH", 1000)
    assert len(encode_record(RM_XLOG_ID, 0x20, 0, 0, [], bytes(1000 - 29))) == 1000
    with pytest.raises(ProgramLimitExceeded):
        encode_record(RM_XLOG_ID, 0x20, 0, 0, [], bytes(1000 - 28))
    assert MAX_RECORD_TOTAL_LENGTH == 1020 * 1024 * 1024


def image_header(length: int, hole_offset: int, bimg_info: int) -> bytes:
    return struct.pack("<HHB", length, hole_offset, bimg_info)


REJECTIONS = [
    ("short", b"\x30\x00\x00\x00" + bytes(10),
     "invalid record length at 0/1000028: wanted 24, got 48"),
    ("zero length", bytes(24), "invalid record length at 0/1000028: wanted 24, got 0"),
    ("length mismatch", wrap(b"\xff\x02ab")[:-1], "record with invalid length at 0/1000028"),
    ("bad rmid", with_fixed_crc(wrap(b"")[:17] + b"\x16" + wrap(b"")[18:]),
     "invalid resource manager ID 22 at 0/1000028"),
    ("has data, no length", wrap(block_header(0, BKPBLOCK_HAS_DATA, 0) + relfilenode()
                                 + b"\0\0\0\0"),
     "BKPBLOCK_HAS_DATA set, but no data included at 0/1000028"),
    ("length, no has data", wrap(block_header(0, 0, 2) + relfilenode() + b"\0\0\0\0" + b"xy"),
     "BKPBLOCK_HAS_DATA not set, but data length is 2 at 0/1000028"),
    ("out of order", wrap(block_header(1, 0, 0) + relfilenode() + b"\0" * 4
                          + block_header(1, 0, 0) + relfilenode() + b"\0" * 4),
     "out-of-order block_id 1 at 0/1000028"),
    ("invalid block id", wrap(b"\x21" + bytes(19)), "invalid block_id 33 at 0/1000028"),
    ("same rel first", wrap(block_header(0, BKPBLOCK_SAME_REL, 0) + b"\0" * 4),
     "BKPBLOCK_SAME_REL set but no previous rel at 0/1000028"),
    ("hole at 0", wrap(block_header(0, BKPBLOCK_HAS_IMAGE, 0)
                       + image_header(8000, 0, BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY) + relfilenode()
                       + b"\0" * 4 + bytes(8000)),
     "BKPIMAGE_HAS_HOLE set, but hole offset 0 length 192 block image length 8000 at 0/1000028"),
    ("hole past the page", wrap(block_header(0, BKPBLOCK_HAS_IMAGE, 0)
                                + image_header(100, 200, BKPIMAGE_HAS_HOLE) + relfilenode()
                                + b"\0" * 4 + bytes(100)),
     ("BKPIMAGE_HAS_HOLE set, but hole offset 200 length 8092 block image length 100 at "
      "0/1000028")),
    ("offset without hole", wrap(block_header(0, BKPBLOCK_HAS_IMAGE, 0)
                                 + image_header(8192, 24, 0) + relfilenode() + b"\0" * 4
                                 + bytes(8192)),
     "BKPIMAGE_HAS_HOLE not set, but hole offset 24 length 0 at 0/1000028"),
    ("short image", wrap(block_header(0, BKPBLOCK_HAS_IMAGE, 0) + image_header(100, 0, 0)
                         + relfilenode() + b"\0" * 4 + bytes(100)),
     "BKPIMAGE_HAS_HOLE not set, but hole offset 0 length 8092 at 0/1000028"),
    ("compressed full length", wrap(block_header(0, BKPBLOCK_HAS_IMAGE, 0)
                                    + image_header(8192, 0, BKPIMAGE_COMPRESS_PGLZ)
                                    + relfilenode() + b"\0" * 4 + bytes(8192)),
     "BKPIMAGE_COMPRESSED set, but block image length 8192 at 0/1000028"),
    ("compressed", wrap(block_header(0, BKPBLOCK_HAS_IMAGE, 0)
                        + image_header(50, 0, BKPIMAGE_COMPRESS_PGLZ) + relfilenode()
                        + b"\0" * 4 + bytes(50)),
     "could not restore image compressed with an unsupported method, block 0 at 0/1000028"),
    ("truncated header", wrap(block_header(0, 0, 0) + b"\0\0"),
     "record with invalid length at 0/1000028"),
    ("payload missing", wrap(b"\xff\x10abc"), "record with invalid length at 0/1000028"),
    ("payload too long", wrap(b"\xff\x01abc"), "record with invalid length at 0/1000028"),
]


@pytest.mark.parametrize("record, message", [(r, m) for _, r, m in REJECTIONS],
                         ids=[name for name, _, _ in REJECTIONS])
def test_decode_rejections(record: bytes, message: str) -> None:
    with pytest.raises(WalCorrupted) as caught:
        decode_record(record, LSN)
    assert str(caught.value) == message
    assert caught.value.lsn == LSN


def test_bad_crc_is_rejected_before_block_headers() -> None:
    record = bytearray(encode_record(RM_XACT_ID, 0, 5, 0, [], b"payload"))
    record[-1] ^= 0x01
    with pytest.raises(WalCorrupted, match="incorrect resource manager data checksum in record "
                                           "at 0/1000028"):
        decode_record(bytes(record), LSN)


def test_origin_and_toplevel_xid_headers_are_read() -> None:
    body = b"\xfd\x07\x00" + b"\xfc" + struct.pack("<I", 77) + b"\xff\x01z"
    decoded = decode_record(wrap(body), LSN)
    assert decoded.toplevel_xid == 77 and decoded.main_data == b"z" and decoded.blocks == ()


def test_block_image_page_restores_hole_as_zeros() -> None:
    image = BlockImage(b"a" * 100 + b"b" * 92, 100, 8000, True)
    page = image.page()
    assert len(page) == 8192 and page[:100] == b"a" * 100 and page[8100:] == b"b" * 92
    assert page[100:8100] == bytes(8000)
