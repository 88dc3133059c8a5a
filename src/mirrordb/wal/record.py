"""The WAL record codec: XLogRecord header, block references, full-page images, main data.

A record is laid out exactly as PostgreSQL 15 writes it (little-endian, no padding anywhere)::

    XLogRecord, 24 bytes
        0   xl_tot_len  u32  whole record including this header
        4   xl_xid      u32  transaction id, 0 for none
        8   xl_prev     u64  start LSN of the previous record
        16  xl_info     u8   high nibble: the resource manager's record type; low nibble: XLR_* flags
        17  xl_rmid     u8   resource manager id
        18  (padding)   2    zero
        20  xl_crc      u32  CRC-32C of bytes [24, tot_len) followed by bytes [0, 20)

    then the headers, in this order:
        per block reference (ids strictly increasing, 0..32):
            XLogRecordBlockHeader, 4 bytes: u8 id | u8 fork_flags | u16 data_length
                fork_flags: fork number (low 4 bits) | BKPBLOCK_HAS_IMAGE 0x10 |
                BKPBLOCK_HAS_DATA 0x20 (exactly when data_length > 0) | BKPBLOCK_WILL_INIT 0x40 |
                BKPBLOCK_SAME_REL 0x80 (RelFileNode left out: same as the previous block's)
            if HAS_IMAGE: XLogRecordBlockImageHeader, 5 bytes:
                u16 length (image bytes stored) | u16 hole_offset | u8 bimg_info
                (bimg_info: BKPIMAGE_HAS_HOLE 0x01, BKPIMAGE_APPLY 0x02; we never compress, so the
                hole length is implied: 8192 - length)
            unless SAME_REL: RelFileNode, 12 bytes: u32 spc | u32 db | u32 rel
            u32 block number
        optional u8 252 | u32 toplevel xid          (XLR_BLOCK_ID_TOPLEVEL_XID)
        optional u8 253 | u16 replication origin    (XLR_BLOCK_ID_ORIGIN; read, never written)
        main data header, when there is main data:
            u8 255 | u8 length   (XLR_BLOCK_ID_DATA_SHORT, length < 256)
            u8 254 | u32 length  (XLR_BLOCK_ID_DATA_LONG)
    then the payloads: for each block its image (if any) then its data (if any); then main data.

A full-page image leaves out the page's "hole", the zero gap ``[pd_lower, pd_upper)`` of a
standard page; replay zero-fills it again.

Pure codec. The writer encodes (``encode_record_body`` + ``record_header`` so it can fill xl_prev
under its lock), the reader and recovery decode. ``decode_record`` raises only ``WalCorrupted``,
with PostgreSQL 15's messages.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from mirrordb.common.crc import crc32c
from mirrordb.common.errors import ProgramLimitExceeded, WalCorrupted, invariant
from mirrordb.common.lsn import format_lsn
from mirrordb.storage.page import BLCKSZ, PAGE_HEADER_SIZE, lower_upper
from mirrordb.storage.relfilenode import RelFileNode
from mirrordb.wal.rmgr import XLR_RMGR_INFO_MASK, is_valid_rmid, is_xlog_switch

# -- in-memory registration flags (what the caller asks for; never on disk) -------------------------

REGBUF_STANDARD = 0x01  # the page has a standard layout: leave the pd_lower..pd_upper hole out
REGBUF_WILL_INIT = 0x02  # redo rebuilds the page from scratch: no image needed
REGBUF_FORCE_IMAGE = 0x04  # always attach an image
REGBUF_NO_IMAGE = 0x08  # never attach an image (except a consistency-check one)

# -- on-disk constants --------------------------------------------------------------------------

RECORD_HEADER_SIZE = 24  # SizeOfXLogRecord
RECORD_CRC_OFFSET = 20  # offsetof(XLogRecord, xl_crc)
XLR_MAX_BLOCK_ID = 32
XLR_BLOCK_ID_DATA_SHORT = 255
XLR_BLOCK_ID_DATA_LONG = 254
XLR_BLOCK_ID_ORIGIN = 253
XLR_BLOCK_ID_TOPLEVEL_XID = 252

BKPBLOCK_FORK_MASK = 0x0F
BKPBLOCK_HAS_IMAGE = 0x10
BKPBLOCK_HAS_DATA = 0x20
BKPBLOCK_WILL_INIT = 0x40
BKPBLOCK_SAME_REL = 0x80

BKPIMAGE_HAS_HOLE = 0x01
BKPIMAGE_APPLY = 0x02
BKPIMAGE_COMPRESS_PGLZ = 0x04
BKPIMAGE_COMPRESS_LZ4 = 0x08
BKPIMAGE_COMPRESS_ZSTD = 0x10
BKPIMAGE_COMPRESSED_MASK = BKPIMAGE_COMPRESS_PGLZ | BKPIMAGE_COMPRESS_LZ4 | BKPIMAGE_COMPRESS_ZSTD

MAX_BLOCK_DATA_LENGTH = 0xFFFF  # u16 data_length
MAX_SHORT_MAIN_DATA_LENGTH = 0xFF
# Largest record we write or accept (PostgreSQL 16's XLogRecordMaxSize): bounds a reader's buffer.
MAX_RECORD_TOTAL_LENGTH = 1020 * 1024 * 1024

RECORD_HEADER_STRUCT = struct.Struct("<IIQBB2xI")
RECORD_HEADER_NO_CRC_STRUCT = struct.Struct("<IIQBB2x")
BLOCK_HEADER_STRUCT = struct.Struct("<BBH")
IMAGE_HEADER_STRUCT = struct.Struct("<HHB")
HOLE_LENGTH_STRUCT = struct.Struct("<H")
RELFILENODE_STRUCT = struct.Struct("<III")
BLOCK_NUMBER_STRUCT = struct.Struct("<I")
DATA_SHORT_STRUCT = struct.Struct("<BB")
DATA_LONG_STRUCT = struct.Struct("<BI")
TOPLEVEL_XID_STRUCT = struct.Struct("<BI")
ORIGIN_STRUCT = struct.Struct("<BH")
_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_FORK_FLAGS_AND_LENGTH = struct.Struct("<BH")
assert RECORD_HEADER_STRUCT.size == RECORD_HEADER_SIZE
assert RECORD_HEADER_NO_CRC_STRUCT.size == RECORD_CRC_OFFSET
assert BLOCK_HEADER_STRUCT.size == 4 and IMAGE_HEADER_STRUCT.size == 5
assert RELFILENODE_STRUCT.size == 12 and BLOCK_NUMBER_STRUCT.size == 4
assert DATA_SHORT_STRUCT.size == 2 and DATA_LONG_STRUCT.size == 5
assert TOPLEVEL_XID_STRUCT.size == 5 and ORIGIN_STRUCT.size == 3


@dataclass(frozen=True)
class BlockImage:
    """A full-page image as stored: the page without its hole ``[hole_offset, +hole_length)``.

    ``apply`` is BKPIMAGE_APPLY: replay restores the page from it. Without it the image is only
    for ``wal_consistency_checking``, to compare with the page replay produced.
    """

    stored: bytes
    hole_offset: int
    hole_length: int
    apply: bool

    def page(self) -> bytes:
        """The restored 8192-byte page, hole zero-filled."""
        if not self.hole_length:
            return self.stored
        return (self.stored[:self.hole_offset] + bytes(self.hole_length)
                + self.stored[self.hole_offset:])


@dataclass(frozen=True)
class BlockRef:
    """One block reference of a record: which page, its data, and maybe its image."""

    block_id: int
    rnode: RelFileNode
    fork: int
    blkno: int
    data: bytes
    image: BlockImage | None
    will_init: bool


@dataclass(frozen=True)
class DecodedRecord:
    """A validated record. ``end_lsn`` is where the record ends, MAXALIGNed, as PostgreSQL's
    EndRecPtr (the value redo stores in pd_lsn); ``start_lsn`` is its first header byte."""

    start_lsn: int
    end_lsn: int
    tot_len: int
    xid: int
    prev_lsn: int
    info: int
    rmid: int
    blocks: tuple[BlockRef, ...]
    main_data: bytes
    toplevel_xid: int

    @property
    def rmgr_info(self) -> int:
        return self.info & XLR_RMGR_INFO_MASK

    @property
    def is_switch(self) -> bool:
        return is_xlog_switch(self.rmid, self.info)

    def block(self, block_id: int) -> BlockRef | None:
        for block in self.blocks:
            if block.block_id == block_id:
                return block
        return None


# -- images -------------------------------------------------------------------------------------


def make_image(page: bytes | bytearray | memoryview, standard: bool, apply: bool) -> BlockImage:
    """Image of ``page``; a standard page leaves out its ``[pd_lower, pd_upper)`` gap when that is
    a valid non-empty gap (which page.py keeps zero), otherwise the whole page is stored."""
    invariant(len(page) == BLCKSZ, f"page image of {len(page)} bytes")
    if standard:
        lower, upper = lower_upper(page)
        if PAGE_HEADER_SIZE <= lower < upper <= BLCKSZ:
            return BlockImage(bytes(page[:lower]) + bytes(page[upper:]), lower, upper - lower,
                              apply)
    return BlockImage(bytes(page), 0, 0, apply)


# -- encoding -----------------------------------------------------------------------------------


def _check_block(block: BlockRef, previous_id: int) -> None:
    invariant(previous_id < block.block_id <= XLR_MAX_BLOCK_ID,
              f"block ids must increase within 0..{XLR_MAX_BLOCK_ID}: {block.block_id}")
    invariant(0 <= block.fork <= BKPBLOCK_FORK_MASK, f"invalid fork number {block.fork}")
    invariant(0 <= block.blkno <= 0xFFFFFFFF, f"invalid block number {block.blkno}")
    invariant(len(block.data) <= MAX_BLOCK_DATA_LENGTH,
              f"block data of {len(block.data)} bytes exceeds {MAX_BLOCK_DATA_LENGTH}")
    image = block.image
    if image is not None:
        invariant(len(image.stored) + image.hole_length == BLCKSZ
                  and (image.hole_length == 0) == (image.hole_offset == 0)
                  and 0 <= image.hole_offset <= len(image.stored),
                  f"malformed image for block {block.block_id}")


def _block_header(block: BlockRef, same_rel: bool) -> bytes:
    image = block.image
    fork_flags = block.fork
    if image is not None:
        fork_flags |= BKPBLOCK_HAS_IMAGE
    if block.data:
        fork_flags |= BKPBLOCK_HAS_DATA
    if block.will_init:
        fork_flags |= BKPBLOCK_WILL_INIT
    if same_rel:
        fork_flags |= BKPBLOCK_SAME_REL
    parts = [BLOCK_HEADER_STRUCT.pack(block.block_id, fork_flags, len(block.data))]
    if image is not None:
        bimg_info = (BKPIMAGE_HAS_HOLE if image.hole_length else 0) | (
            BKPIMAGE_APPLY if image.apply else 0)
        parts.append(IMAGE_HEADER_STRUCT.pack(len(image.stored), image.hole_offset, bimg_info))
    if not same_rel:
        parts.append(RELFILENODE_STRUCT.pack(*block.rnode))
    parts.append(BLOCK_NUMBER_STRUCT.pack(block.blkno))
    return b"".join(parts)


def encode_record_body(blocks: Sequence[BlockRef], main_data: bytes | bytearray | memoryview,
                       *, toplevel_xid: int = 0) -> bytes:
    """Everything after the 24-byte XLogRecord header: block/data headers, then payloads."""
    headers: list[bytes] = []
    payloads: list[bytes | bytearray | memoryview] = []
    previous_id = -1
    previous_rnode: RelFileNode | None = None
    for block in blocks:
        _check_block(block, previous_id)
        previous_id = block.block_id
        headers.append(_block_header(block, block.rnode == previous_rnode))
        previous_rnode = block.rnode
        if block.image is not None:
            payloads.append(block.image.stored)
        payloads.append(block.data)
    if toplevel_xid:
        headers.append(TOPLEVEL_XID_STRUCT.pack(XLR_BLOCK_ID_TOPLEVEL_XID, toplevel_xid))
    if len(main_data) > MAX_SHORT_MAIN_DATA_LENGTH:
        headers.append(DATA_LONG_STRUCT.pack(XLR_BLOCK_ID_DATA_LONG, len(main_data)))
    elif main_data:
        headers.append(DATA_SHORT_STRUCT.pack(XLR_BLOCK_ID_DATA_SHORT, len(main_data)))
    payloads.append(main_data)
    total = RECORD_HEADER_SIZE + sum(map(len, headers)) + sum(map(len, payloads))
    if total > MAX_RECORD_TOTAL_LENGTH:
        raise ProgramLimitExceeded(f"WAL record would be {total} bytes, more than the maximum "
                                   f"{MAX_RECORD_TOTAL_LENGTH}")
    return b"".join(headers) + b"".join(payloads)


def record_header(rmid: int, info: int, xid: int, prev_lsn: int, body_length: int,
                  body_crc: int) -> bytes:
    """The 24-byte XLogRecord header of a body whose CRC-32C (alone) is ``body_crc``."""
    invariant(is_valid_rmid(rmid), f"invalid resource manager id {rmid}")
    invariant(0 <= info <= 0xFF and 0 <= xid <= 0xFFFFFFFF and 0 <= prev_lsn < 2**64,
              "record header field out of range")
    first_part = RECORD_HEADER_NO_CRC_STRUCT.pack(RECORD_HEADER_SIZE + body_length, xid,
                                                  prev_lsn, info, rmid)
    return first_part + _U32.pack(crc32c(first_part, body_crc))


def encode_record(rmid: int, info: int, xid: int, prev_lsn: int, blocks: Sequence[BlockRef],
                  main_data: bytes | bytearray | memoryview, *, toplevel_xid: int = 0) -> bytes:
    """A complete record, CRC included."""
    body = encode_record_body(blocks, main_data, toplevel_xid=toplevel_xid)
    return record_header(rmid, info, xid, prev_lsn, len(body), crc32c(body)) + body


# -- decoding -----------------------------------------------------------------------------------


class _Cursor:
    """Reads header fields from the record, failing like PostgreSQL on a short record."""

    def __init__(self, data: memoryview, start_lsn: int) -> None:
        self.data = data
        self.position = RECORD_HEADER_SIZE
        self.start_lsn = start_lsn

    @property
    def remaining(self) -> int:
        return len(self.data) - self.position

    def take(self, layout: struct.Struct) -> tuple[int, ...]:
        if self.remaining < layout.size:
            raise short_record(self.start_lsn)
        values = layout.unpack_from(self.data, self.position)
        self.position += layout.size
        return values

    def take_bytes(self, length: int) -> bytes:
        invariant(self.remaining >= length, "payload lengths were checked against the record")
        chunk = bytes(self.data[self.position:self.position + length])
        self.position += length
        return chunk


def short_record(start_lsn: int) -> WalCorrupted:
    return WalCorrupted(f"record with invalid length at {format_lsn(start_lsn)}", start_lsn)


def check_record_crc(data: bytes | bytearray | memoryview, start_lsn: int) -> None:
    """WalCorrupted unless xl_crc matches (``data`` is exactly the record's tot_len bytes)."""
    stored = _U32.unpack_from(data, RECORD_CRC_OFFSET)[0]
    view = memoryview(data)
    if crc32c(view[:RECORD_CRC_OFFSET], crc32c(view[RECORD_HEADER_SIZE:])) != stored:
        raise WalCorrupted("incorrect resource manager data checksum in record at "
                           f"{format_lsn(start_lsn)}", start_lsn)


@dataclass
class _BlockHeader:
    block_id: int
    fork_flags: int
    data_length: int
    image_length: int
    hole_offset: int
    hole_length: int
    bimg_info: int
    rnode: RelFileNode
    blkno: int


def decode_record(data: bytes | bytearray | memoryview, start_lsn: int = 0,
                  end_lsn: int = 0) -> DecodedRecord:
    """Validate and decode one complete record (``data`` is exactly its xl_tot_len bytes).

    Checks, in PostgreSQL's order: the length, the resource manager id, the CRC, then every
    block header. Raises WalCorrupted only.
    """
    view = memoryview(data).cast("B") if isinstance(data, memoryview) else memoryview(data)
    if len(view) < RECORD_HEADER_SIZE:
        got = _U32.unpack_from(view, 0)[0] if len(view) >= 4 else len(view)
        raise WalCorrupted(f"invalid record length at {format_lsn(start_lsn)}: wanted "
                           f"{RECORD_HEADER_SIZE}, got {got}", start_lsn)
    tot_len, xid, prev_lsn, info, rmid, _ = RECORD_HEADER_STRUCT.unpack_from(view, 0)
    if tot_len < RECORD_HEADER_SIZE:
        raise WalCorrupted(f"invalid record length at {format_lsn(start_lsn)}: wanted "
                           f"{RECORD_HEADER_SIZE}, got {tot_len}", start_lsn)
    if tot_len != len(view):
        raise short_record(start_lsn)
    if not is_valid_rmid(rmid):
        raise WalCorrupted(f"invalid resource manager ID {rmid} at {format_lsn(start_lsn)}",
                           start_lsn)
    check_record_crc(view, start_lsn)
    cursor = _Cursor(view, start_lsn)
    headers, main_length, toplevel_xid = _decode_headers(cursor)
    blocks = tuple(_block_ref(header, cursor) for header in headers)
    main_data = cursor.take_bytes(main_length)
    return DecodedRecord(start_lsn, end_lsn, tot_len, xid, prev_lsn, info, rmid, blocks,
                         main_data, toplevel_xid)


def _decode_headers(cursor: _Cursor) -> tuple[list[_BlockHeader], int, int]:
    """Parse headers while the bytes left exceed the payload lengths declared so far."""
    headers: list[_BlockHeader] = []
    payload_total = 0
    main_length = 0
    toplevel_xid = 0
    previous_rnode: RelFileNode | None = None
    while cursor.remaining > payload_total:
        (block_id,) = cursor.take(_U8)
        if block_id == XLR_BLOCK_ID_DATA_SHORT:
            (main_length,) = cursor.take(_U8)
            payload_total += main_length
            break
        if block_id == XLR_BLOCK_ID_DATA_LONG:
            (main_length,) = cursor.take(_U32)
            payload_total += main_length
            break
        if block_id == XLR_BLOCK_ID_ORIGIN:
            cursor.take(_U16)
        elif block_id == XLR_BLOCK_ID_TOPLEVEL_XID:
            (toplevel_xid,) = cursor.take(_U32)
        elif block_id <= XLR_MAX_BLOCK_ID:
            header = _decode_block_header(cursor, block_id, headers, previous_rnode)
            previous_rnode = header.rnode
            payload_total += header.data_length + header.image_length
            headers.append(header)
        else:
            raise _bad(cursor, f"invalid block_id {block_id}")
    if cursor.remaining != payload_total:
        raise short_record(cursor.start_lsn)
    return headers, main_length, toplevel_xid


def _bad(cursor: _Cursor, what: str) -> WalCorrupted:
    return WalCorrupted(f"{what} at {format_lsn(cursor.start_lsn)}", cursor.start_lsn)


def _decode_block_header(cursor: _Cursor, block_id: int, previous: list[_BlockHeader],
                         previous_rnode: RelFileNode | None) -> _BlockHeader:
    if previous and block_id <= previous[-1].block_id:
        raise _bad(cursor, f"out-of-order block_id {block_id}")
    fork_flags, data_length = cursor.take(_FORK_FLAGS_AND_LENGTH)
    has_data = bool(fork_flags & BKPBLOCK_HAS_DATA)
    if has_data and data_length == 0:
        raise _bad(cursor, "BKPBLOCK_HAS_DATA set, but no data included")
    if not has_data and data_length != 0:
        raise _bad(cursor, f"BKPBLOCK_HAS_DATA not set, but data length is {data_length}")
    image_length = hole_offset = hole_length = bimg_info = 0
    if fork_flags & BKPBLOCK_HAS_IMAGE:
        image_length, hole_offset, bimg_info = cursor.take(IMAGE_HEADER_STRUCT)
        hole_length = _image_hole_length(cursor, image_length, hole_offset, bimg_info)
    if fork_flags & BKPBLOCK_SAME_REL:
        if previous_rnode is None:
            raise _bad(cursor, "BKPBLOCK_SAME_REL set but no previous rel")
        rnode = previous_rnode
    else:
        rnode = RelFileNode(*cursor.take(RELFILENODE_STRUCT))
    (blkno,) = cursor.take(BLOCK_NUMBER_STRUCT)
    return _BlockHeader(block_id, fork_flags, data_length, image_length, hole_offset,
                        hole_length, bimg_info, rnode, blkno)


def _image_hole_length(cursor: _Cursor, image_length: int, hole_offset: int,
                       bimg_info: int) -> int:
    """The hole length of an image header, after PostgreSQL's cross-checks (and ours: the hole
    must lie inside the page)."""
    compressed = bool(bimg_info & BKPIMAGE_COMPRESSED_MASK)
    has_hole = bool(bimg_info & BKPIMAGE_HAS_HOLE)
    if compressed:
        hole_length = cursor.take(HOLE_LENGTH_STRUCT)[0] if has_hole else 0
    else:
        hole_length = BLCKSZ - image_length
    if has_hole and (hole_offset == 0 or hole_length <= 0 or image_length >= BLCKSZ
                     or hole_offset + hole_length > BLCKSZ):
        raise _bad(cursor, f"BKPIMAGE_HAS_HOLE set, but hole offset {hole_offset} length "
                           f"{hole_length} block image length {image_length}")
    if not has_hole and (hole_offset != 0 or hole_length != 0):
        raise _bad(cursor, f"BKPIMAGE_HAS_HOLE not set, but hole offset {hole_offset} length "
                           f"{hole_length}")
    if compressed and image_length == BLCKSZ:
        raise _bad(cursor, f"BKPIMAGE_COMPRESSED set, but block image length {image_length}")
    if not has_hole and not compressed and image_length != BLCKSZ:
        raise _bad(cursor, "neither BKPIMAGE_HAS_HOLE nor BKPIMAGE_COMPRESSED set, but block "
                           f"image length is {image_length}")
    return hole_length


def _block_ref(header: _BlockHeader, cursor: _Cursor) -> BlockRef:
    image = None
    if header.fork_flags & BKPBLOCK_HAS_IMAGE:
        if header.bimg_info & BKPIMAGE_COMPRESSED_MASK:
            raise _bad(cursor, f"could not restore image compressed with an unsupported method, "
                               f"block {header.block_id}")
        stored = cursor.take_bytes(header.image_length)
        hole_length = header.hole_length if header.bimg_info & BKPIMAGE_HAS_HOLE else 0
        image = BlockImage(stored, header.hole_offset, hole_length,
                           bool(header.bimg_info & BKPIMAGE_APPLY))
    data = cursor.take_bytes(header.data_length)
    return BlockRef(header.block_id, header.rnode, header.fork_flags & BKPBLOCK_FORK_MASK,
                    header.blkno, data, image, bool(header.fork_flags & BKPBLOCK_WILL_INIT))
