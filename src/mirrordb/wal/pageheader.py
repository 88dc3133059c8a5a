"""The header at the start of every 8 kB WAL page (XLogPageHeaderData / XLogLongPageHeaderData).

Short header, 24 bytes, on every page but the first of a segment (little-endian)::

    0   xlp_magic      u16  0xD110 (PostgreSQL 15's XLOG_PAGE_MAGIC)
    2   xlp_info       u16  XLP_* flags below; no other bit may be set
    4   xlp_tli        u32  timeline of the first record on the page
    8   xlp_pageaddr   u64  LSN of the page's first byte
    16  xlp_rem_len    u32  bytes of a record continued from the previous page still to come
    20  (padding)      4    zero

Long header, 40 bytes, on the first page of every segment: the short header (with
XLP_LONG_HEADER set), then::

    24  xlp_sysid        u64  system identifier of the cluster (IDENTIFY_SYSTEM's systemid)
    32  xlp_seg_size     u32  segment size in bytes
    36  xlp_xlog_blcksz  u32  WAL page size, 8192

Flags: XLP_FIRST_IS_CONTRECORD (the page starts with the rest of a record), XLP_LONG_HEADER,
XLP_BKP_REMOVABLE (set whenever no base backup is running), XLP_FIRST_IS_OVERWRITE_CONTRECORD (an
aborted continuation was replaced; we never write it).

Pure codec. The writer encodes a header for each page it starts; the reader validates every page
it reads, the common short header with ``plain_short_header`` and any other with
``decode_page_header``, whose messages are PostgreSQL 15's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mirrordb.common.errors import WalCorrupted, invariant
from mirrordb.common.lsn import format_lsn
from mirrordb.wal.segment import WAL_PAGE_SIZE, is_valid_segment_size, segment_name

XLOG_PAGE_MAGIC = 0xD110

XLP_FIRST_IS_CONTRECORD = 0x0001
XLP_LONG_HEADER = 0x0002
XLP_BKP_REMOVABLE = 0x0004
XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008
XLP_ALL_FLAGS = 0x000F

SHORT_PAGE_HEADER_SIZE = 24  # SizeOfXLogShortPHD
LONG_PAGE_HEADER_SIZE = 40  # SizeOfXLogLongPHD

SHORT_HEADER_STRUCT = struct.Struct("<HHIQI4x")
LONG_HEADER_EXTRA_STRUCT = struct.Struct("<QII")
assert SHORT_HEADER_STRUCT.size == SHORT_PAGE_HEADER_SIZE
assert SHORT_PAGE_HEADER_SIZE + LONG_HEADER_EXTRA_STRUCT.size == LONG_PAGE_HEADER_SIZE


@dataclass(frozen=True)
class WalPageHeader:
    """A decoded page header; the last three fields are 0 in a short header."""

    magic: int
    info: int
    tli: int
    pageaddr: int
    rem_len: int
    system_identifier: int = 0
    segment_size: int = 0
    xlog_blcksz: int = 0

    @property
    def is_long(self) -> bool:
        return bool(self.info & XLP_LONG_HEADER)

    @property
    def size(self) -> int:
        """Bytes the header occupies; the page's first record byte follows."""
        return LONG_PAGE_HEADER_SIZE if self.is_long else SHORT_PAGE_HEADER_SIZE

    @property
    def is_contrecord(self) -> bool:
        return bool(self.info & XLP_FIRST_IS_CONTRECORD)


def page_header_size(page_lsn: int, segment_size: int) -> int:
    """Header size of the page starting at ``page_lsn``: long on a segment's first page."""
    return LONG_PAGE_HEADER_SIZE if page_lsn % segment_size == 0 else SHORT_PAGE_HEADER_SIZE


def build_page_header(page_lsn: int, *, tli: int, rem_len: int, segment_size: int,
                      system_identifier: int) -> WalPageHeader:
    """The header our writer puts on the page at ``page_lsn``.

    ``rem_len`` > 0 means the page starts with the rest of a record. XLP_BKP_REMOVABLE is set, as
    PostgreSQL does outside base backups (0x0004, 0x0005 on continuation pages, 0x0006 first page).
    """
    invariant(page_lsn % WAL_PAGE_SIZE == 0, f"page LSN {format_lsn(page_lsn)} is not aligned")
    info = XLP_BKP_REMOVABLE | (XLP_FIRST_IS_CONTRECORD if rem_len else 0)
    if page_lsn % segment_size == 0:
        return WalPageHeader(XLOG_PAGE_MAGIC, info | XLP_LONG_HEADER, tli, page_lsn, rem_len,
                             system_identifier, segment_size, WAL_PAGE_SIZE)
    return WalPageHeader(XLOG_PAGE_MAGIC, info, tli, page_lsn, rem_len)


def encode_page_header(header: WalPageHeader) -> bytes:
    """24 bytes, or 40 when XLP_LONG_HEADER is set."""
    short = SHORT_HEADER_STRUCT.pack(header.magic, header.info, header.tli, header.pageaddr,
                                     header.rem_len)
    if not header.is_long:
        return short
    return short + LONG_HEADER_EXTRA_STRUCT.pack(header.system_identifier, header.segment_size,
                                                 header.xlog_blcksz)


def _where(page_lsn: int | None, segment_size: int | None, file_timeline: int | None,
           tli: int) -> str:
    """PostgreSQL's ``in log segment NAME, offset N`` (or a plainer form without context)."""
    if page_lsn is None:
        return "in WAL page"
    if segment_size is None or not is_valid_segment_size(segment_size):
        return f"in WAL page at {format_lsn(page_lsn)}"
    timeline = file_timeline if file_timeline else (tli or 1)
    name = segment_name(timeline, page_lsn // segment_size, segment_size)
    return f"in log segment {name}, offset {page_lsn % segment_size}"


def decode_page_header(page: bytes | bytearray | memoryview, *, page_lsn: int | None = None,
                       segment_size: int | None = None, system_identifier: int | None = None,
                       file_timeline: int | None = None) -> WalPageHeader:
    """Decode and validate the header of a WAL page; WalCorrupted on anything invalid.

    With ``page_lsn`` the page address and the long-header rule are checked too; with
    ``segment_size`` / ``system_identifier`` the long header must match them. ``file_timeline``
    only names the segment file in messages (defaults to the header's own timeline).
    """
    if len(page) < SHORT_PAGE_HEADER_SIZE:
        raise WalCorrupted(f"WAL page too short: {len(page)} bytes", page_lsn or 0)
    magic, info, tli, pageaddr, rem_len = SHORT_HEADER_STRUCT.unpack_from(page, 0)
    lsn = page_lsn or 0
    # the place is named only in messages: built when a check fails (every WAL page read
    # passes here)
    if magic != XLOG_PAGE_MAGIC:
        where = _where(page_lsn, segment_size, file_timeline, tli)
        raise WalCorrupted(f"invalid magic number {magic:04X} {where}", lsn)
    if info & ~XLP_ALL_FLAGS:
        where = _where(page_lsn, segment_size, file_timeline, tli)
        raise WalCorrupted(f"invalid info bits {info:04X} {where}", lsn)
    header = WalPageHeader(magic, info, tli, pageaddr, rem_len)
    if info & XLP_LONG_HEADER:
        header = _decode_long_part(page, header, segment_size, system_identifier, lsn)
    if page_lsn is not None:
        if segment_size is not None and (page_lsn % segment_size == 0) != header.is_long:
            where = _where(page_lsn, segment_size, file_timeline, tli)
            raise WalCorrupted(f"invalid info bits {info:04X} {where}", lsn)
        if pageaddr != page_lsn:
            where = _where(page_lsn, segment_size, file_timeline, tli)
            raise WalCorrupted(f"unexpected pageaddr {format_lsn(pageaddr)} {where}", lsn)
    return header


# The flags a short header of a valid page may carry (a long header or an overwritten
# continuation goes through ``decode_page_header``).
_PLAIN_SHORT_FLAGS = XLP_FIRST_IS_CONTRECORD | XLP_BKP_REMOVABLE
_SHORT_HEADER_UNPACK_FROM = SHORT_HEADER_STRUCT.unpack_from


def plain_short_header(page: bytes | bytearray | memoryview, page_lsn: int, segment_size: int,
                       tli: int) -> tuple[int, int] | None:
    """``(xlp_info, xlp_rem_len)`` of the page at ``page_lsn`` when its header is the common
    valid case, else None (then ``decode_page_header`` decides, with the message).

    The reader's fast path for the page of every record that crosses a page boundary: one
    unpack and five compares instead of a decoded ``WalPageHeader``. The common case is a short
    header (not a segment's first page) with the right magic, no flag but
    XLP_FIRST_IS_CONTRECORD / XLP_BKP_REMOVABLE, ``xlp_pageaddr == page_lsn`` and timeline
    ``tli`` (the previous page's). Everything it accepts ``decode_page_header`` accepts too.
    """
    magic, info, page_tli, pageaddr, rem_len = _SHORT_HEADER_UNPACK_FROM(page, 0)
    if magic == XLOG_PAGE_MAGIC and info | _PLAIN_SHORT_FLAGS == _PLAIN_SHORT_FLAGS \
            and pageaddr == page_lsn and page_tli == tli and page_lsn % segment_size:
        return info, rem_len
    return None


def _decode_long_part(page: bytes | bytearray | memoryview, header: WalPageHeader,
                      segment_size: int | None, system_identifier: int | None,
                      lsn: int) -> WalPageHeader:
    if len(page) < LONG_PAGE_HEADER_SIZE:
        raise WalCorrupted(f"WAL page too short for a long header: {len(page)} bytes", lsn)
    sysid, seg_size, blcksz = LONG_HEADER_EXTRA_STRUCT.unpack_from(page, SHORT_PAGE_HEADER_SIZE)
    if system_identifier and sysid != system_identifier:
        raise WalCorrupted(
            "WAL file is from different database system: WAL file database system identifier "
            f"is {sysid}, pg_control database system identifier is {system_identifier}", lsn)
    if not is_valid_segment_size(seg_size) or (segment_size is not None
                                               and seg_size != segment_size):
        raise WalCorrupted("WAL file is from different database system: incorrect segment size "
                           "in page header", lsn)
    if blcksz != WAL_PAGE_SIZE:
        raise WalCorrupted("WAL file is from different database system: incorrect XLOG_BLCKSZ "
                           "in page header", lsn)
    return WalPageHeader(header.magic, header.info, header.tli, header.pageaddr, header.rem_len,
                         sysid, seg_size, blcksz)
