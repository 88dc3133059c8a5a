"""WAL page header codec: PostgreSQL's exact bytes, and every rejection with its message."""

from __future__ import annotations

import struct

import pytest

from mirrordb.common.errors import WalCorrupted
from mirrordb.wal.pageheader import (
    LONG_PAGE_HEADER_SIZE,
    SHORT_PAGE_HEADER_SIZE,
    XLOG_PAGE_MAGIC,
    WalPageHeader,
    build_page_header,
    decode_page_header,
    encode_page_header,
)

MB = 1024 * 1024
SEG16 = 16 * MB
SYSID = 0x6B0125287B0383C2

# The first 40 bytes of a real PostgreSQL 15 segment, 00000001000000000000000F (spec §5.2).
REAL_FIRST_PAGE_HEADER = bytes.fromhex(
    "10d1 0600 0100 0000 0000 000f 0000 0000"
    "0000 0000 0000 0000 c283 037b 2825 016b"
    "0000 0001 0020 0000".replace(" ", ""))


def test_first_page_header_matches_postgresql_bytes() -> None:
    header = build_page_header(0x0F000000, tli=1, rem_len=0, segment_size=SEG16,
                               system_identifier=SYSID)
    assert header.info == 0x0006
    assert encode_page_header(header) == REAL_FIRST_PAGE_HEADER
    decoded = decode_page_header(REAL_FIRST_PAGE_HEADER, page_lsn=0x0F000000,
                                 segment_size=SEG16, system_identifier=SYSID)
    assert decoded == header and decoded.size == LONG_PAGE_HEADER_SIZE


def test_continuation_page_header() -> None:
    header = build_page_header(0x0F002000, tli=1, rem_len=123, segment_size=SEG16,
                               system_identifier=SYSID)
    data = encode_page_header(header)
    assert len(data) == SHORT_PAGE_HEADER_SIZE
    assert struct.unpack("<HHIQI4x", data) == (XLOG_PAGE_MAGIC, 0x0005, 1, 0x0F002000, 123)
    assert decode_page_header(data, page_lsn=0x0F002000, segment_size=SEG16) == header
    plain = build_page_header(0x0F004000, tli=3, rem_len=0, segment_size=SEG16,
                              system_identifier=SYSID)
    assert plain.info == 0x0004 and not plain.is_contrecord and plain.size == 24


def page_with(**changes: int) -> bytearray:
    header = build_page_header(MB, tli=1, rem_len=0, segment_size=MB, system_identifier=SYSID)
    page = bytearray(8192)
    page[:40] = encode_page_header(header)
    layout = {"magic": (0, "<H"), "info": (2, "<H"), "tli": (4, "<I"), "pageaddr": (8, "<Q"),
              "sysid": (24, "<Q"), "seg_size": (32, "<I"), "blcksz": (36, "<I")}
    for name, value in changes.items():
        offset, fmt = layout[name]
        struct.pack_into(fmt, page, offset, value)
    return page


SEGMENT = "log segment 000000010000000000000001"
OTHER_SYSTEM = "WAL file is from different database system:"


@pytest.mark.parametrize("changes, page_lsn, message", [
    ({"magic": 0}, MB, f"invalid magic number 0000 in {SEGMENT}, offset 0"),
    ({"info": 0x0016}, MB, f"invalid info bits 0016 in {SEGMENT}, offset 0"),
    ({"info": 0x0004}, MB, f"invalid info bits 0004 in {SEGMENT}, offset 0"),
    ({"pageaddr": 2 * MB}, MB, f"unexpected pageaddr 0/200000 in {SEGMENT}, offset 0"),
    ({"sysid": 42}, MB, (f"{OTHER_SYSTEM} WAL file database system identifier is 42, "
                        f"pg_control database system identifier is {SYSID}")),
    ({"seg_size": 2 * MB}, MB, f"{OTHER_SYSTEM} incorrect segment size in page header"),
    ({"blcksz": 4096}, MB, f"{OTHER_SYSTEM} incorrect XLOG_BLCKSZ in page header"),
    ({"pageaddr": MB + 8192}, MB + 8192, f"invalid info bits 0006 in {SEGMENT}, offset 8192"),
])
def test_page_header_rejections(changes: dict[str, int], page_lsn: int, message: str) -> None:
    with pytest.raises(WalCorrupted) as caught:
        decode_page_header(page_with(**changes), page_lsn=page_lsn, segment_size=MB,
                           system_identifier=SYSID, file_timeline=1)
    assert str(caught.value) == message
    assert caught.value.lsn == page_lsn


def test_short_input_and_context_free_decoding() -> None:
    with pytest.raises(WalCorrupted, match="too short"):
        decode_page_header(b"\x10\xd1\x06\x00")
    with pytest.raises(WalCorrupted, match="too short for a long header"):
        decode_page_header(bytes(page_with())[:30])
    decoded = decode_page_header(page_with())
    assert isinstance(decoded, WalPageHeader) and decoded.segment_size == MB
    with pytest.raises(WalCorrupted, match="invalid magic number 0000 in WAL page"):
        decode_page_header(bytes(24))
