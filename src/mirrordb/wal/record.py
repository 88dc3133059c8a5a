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

from mirrordb.common.crc import crc32c, crc32c_function
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
_ZERO_VIEW = memoryview(bytes(BLCKSZ))   # zeros for an image's hole, sliced without a copy


# The three record classes are plain (not frozen) dataclasses because every replayed record builds
# them: a frozen dataclass's __init__ costs ~6x more. Treat them as read-only all the same;
# ``unsafe_hash`` keeps them hashable from their fields, as frozen ones are.


@dataclass(unsafe_hash=True)
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

    def restore_into(self, page: bytearray) -> None:
        """Overwrite the 8192 bytes of ``page`` with the image (the hole zero-filled), copying
        each byte once."""
        stored, hole_offset, hole_length = self.stored, self.hole_offset, self.hole_length
        if not hole_length:
            page[:] = stored
            return
        hole_end = hole_offset + hole_length
        view = memoryview(stored)
        page[:hole_offset] = view[:hole_offset]
        page[hole_offset:hole_end] = _ZERO_VIEW[:hole_length]
        page[hole_end:] = view[hole_offset:]


@dataclass(unsafe_hash=True)
class BlockRef:
    """One block reference of a record: which page, its data, and maybe its image."""

    block_id: int
    rnode: RelFileNode
    fork: int
    blkno: int
    data: bytes
    image: BlockImage | None
    will_init: bool


@dataclass(unsafe_hash=True)
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


# Decoding is the replay hot path (every record of crash recovery and of a standby goes through
# it), so it walks the record with a plain integer position and precompiled structs instead of a
# cursor object, describes block headers with tuples, and lets ``struct`` and indexing find a
# field that runs past the record's end (``struct.error`` / ``IndexError`` become "record with
# invalid length") instead of checking every field's bounds first.

# One parsed block header: (block_id, fork_flags, data_length, image_length, hole_offset,
# hole_length, bimg_info, rnode, blkno).
_BlockHeader = tuple[int, int, int, int, int, int, int, RelFileNode, int]
_FORK_FLAGS_AND_LENGTH_SIZE = _FORK_FLAGS_AND_LENGTH.size
_IMAGE_HEADER_SIZE = IMAGE_HEADER_STRUCT.size
_RELFILENODE_SIZE = RELFILENODE_STRUCT.size
_BLOCK_NUMBER_SIZE = BLOCK_NUMBER_STRUCT.size
_crc32c = crc32c_function    # common/crc.py's function without its wrapper call
# The common one-block shape (``decode_checked_record``), after block id 0: fork_flags,
# data_length, RelFileNode (spc, db, rel), block number, in one unpack.
_COMMON_BLOCK_HEADER = struct.Struct("<BHIIII")
_BLOCK_HEADER_END = RECORD_HEADER_SIZE + 1              # after the block id: fork_flags, length
_COMMON_BLOCK_HEADERS_END = _BLOCK_HEADER_END + _COMMON_BLOCK_HEADER.size
_NOT_COMMON_BLOCK_FLAGS = BKPBLOCK_HAS_IMAGE | BKPBLOCK_SAME_REL
_new_relfilenode = tuple.__new__    # RelFileNode from its unpacked fields, in one C call


def short_record(start_lsn: int) -> WalCorrupted:
    return WalCorrupted(f"record with invalid length at {format_lsn(start_lsn)}", start_lsn)


def check_record_crc(data: bytes | bytearray | memoryview, start_lsn: int) -> None:
    """WalCorrupted unless xl_crc matches (``data`` is exactly the record's tot_len bytes)."""
    stored = _U32.unpack_from(data, RECORD_CRC_OFFSET)[0]
    view = memoryview(data)
    if crc32c(view[:RECORD_CRC_OFFSET], crc32c(view[RECORD_HEADER_SIZE:])) != stored:
        raise WalCorrupted("incorrect resource manager data checksum in record at "
                           f"{format_lsn(start_lsn)}", start_lsn)


def decode_record(data: bytes | bytearray | memoryview, start_lsn: int = 0,
                  end_lsn: int = 0) -> DecodedRecord:
    """Validate and decode one complete record (``data`` is exactly its xl_tot_len bytes).

    Checks, in PostgreSQL's order: the length, the resource manager id, the CRC, then every
    block header. Raises WalCorrupted only.
    """
    view = memoryview(data).cast("B") if isinstance(data, memoryview) else memoryview(data)
    length = len(view)
    if length < RECORD_HEADER_SIZE:
        got = _U32.unpack_from(view, 0)[0] if length >= 4 else length
        raise WalCorrupted(f"invalid record length at {format_lsn(start_lsn)}: wanted "
                           f"{RECORD_HEADER_SIZE}, got {got}", start_lsn)
    header = RECORD_HEADER_STRUCT.unpack_from(view, 0)
    tot_len, rmid = header[0], header[4]
    if tot_len < RECORD_HEADER_SIZE:
        raise WalCorrupted(f"invalid record length at {format_lsn(start_lsn)}: wanted "
                           f"{RECORD_HEADER_SIZE}, got {tot_len}", start_lsn)
    if tot_len != length:
        raise short_record(start_lsn)
    if not is_valid_rmid(rmid):
        raise WalCorrupted(f"invalid resource manager ID {rmid} at {format_lsn(start_lsn)}",
                           start_lsn)
    return decode_checked_record(view, start_lsn, end_lsn, header)


def decode_checked_record(view: memoryview, start_lsn: int, end_lsn: int,
                          header: tuple[int, int, int, int, int, int]) -> DecodedRecord:
    """``decode_record`` after its header checks: ``view`` (format "B") is exactly the
    record's xl_tot_len bytes and ``header`` its unpacked RECORD_HEADER_STRUCT, whose length
    and resource manager id the caller (the WAL reader) has checked. Checks the CRC, then
    decodes the body."""
    tot_len, xid, prev_lsn, info, rmid, stored_crc = header
    if _crc32c(view[:RECORD_CRC_OFFSET], _crc32c(view[RECORD_HEADER_SIZE:])) != stored_crc:
        raise WalCorrupted("incorrect resource manager data checksum in record at "
                           f"{format_lsn(start_lsn)}", start_lsn)
    if tot_len == RECORD_HEADER_SIZE:
        return DecodedRecord(start_lsn, end_lsn, tot_len, xid, prev_lsn, info, rmid, (), b"", 0)
    # The two most common body shapes, decoded here without further calls (most records):
    # * block 0 only, with data, no image, its own RelFileNode; then maybe main data (heap and
    #   B-tree row changes);
    # * main data only (commit records).
    # The checks are the general path's for these shapes; any other shape, and anything
    # malformed (struct.error, IndexError), falls through to the general path, which decodes
    # it or says what is wrong.
    try:
        first_id = view[RECORD_HEADER_SIZE]
        if first_id == 0:
            fork_flags, data_length, spc, db, rel, blkno = _COMMON_BLOCK_HEADER.unpack_from(
                view, _BLOCK_HEADER_END)
            if not fork_flags & _NOT_COMMON_BLOCK_FLAGS and fork_flags & BKPBLOCK_HAS_DATA \
                    and data_length:
                position = _COMMON_BLOCK_HEADERS_END
                main_length = 0
                if tot_len - position > data_length:
                    marker = view[position]
                    if marker == XLR_BLOCK_ID_DATA_SHORT:
                        main_length = view[position + 1]
                        position += 2
                    elif marker == XLR_BLOCK_ID_DATA_LONG:
                        (main_length,) = _U32.unpack_from(view, position + 1)
                        position += 5
                    else:
                        main_length = -1    # not the common shape
                if main_length >= 0 and tot_len - position == data_length + main_length:
                    data_end = position + data_length
                    return DecodedRecord(
                        start_lsn, end_lsn, tot_len, xid, prev_lsn, info, rmid,
                        (BlockRef(0, _new_relfilenode(RelFileNode, (spc, db, rel)),
                                  fork_flags & BKPBLOCK_FORK_MASK, blkno,
                                  view[position:data_end].tobytes(), None,
                                  bool(fork_flags & BKPBLOCK_WILL_INIT)),),
                        view[data_end:].tobytes() if main_length else b"", 0)
        elif first_id == XLR_BLOCK_ID_DATA_SHORT and \
                tot_len - RECORD_HEADER_SIZE - 2 == view[RECORD_HEADER_SIZE + 1]:
            return DecodedRecord(start_lsn, end_lsn, tot_len, xid, prev_lsn, info, rmid, (),
                                 view[RECORD_HEADER_SIZE + 2:].tobytes(), 0)
    except (struct.error, IndexError):
        pass    # malformed: the general path below says how
    try:
        headers, position, main_length, toplevel_xid = _decode_headers(view, tot_len,
                                                                       start_lsn)
    except (struct.error, IndexError):
        raise short_record(start_lsn) from None
    blocks: tuple[BlockRef, ...] = ()
    if headers:
        blocks, position = _block_refs(headers, view, position, start_lsn)
    main_data = view[position:position + main_length].tobytes() if main_length else b""
    return DecodedRecord(start_lsn, end_lsn, tot_len, xid, prev_lsn, info, rmid, blocks,
                         main_data, toplevel_xid)


def _decode_headers(view: memoryview, length: int, start_lsn: int
                    ) -> tuple[list[_BlockHeader], int, int, int]:
    """Parse headers while the bytes left exceed the payload lengths declared so far; returns
    ``(block headers, position of the first payload, main data length, toplevel xid)``. A field
    past the end raises struct.error or IndexError (the caller's "invalid length")."""
    headers: list[_BlockHeader] = []
    position = RECORD_HEADER_SIZE
    payload_total = 0
    main_length = 0
    toplevel_xid = 0
    previous_rnode: RelFileNode | None = None
    previous_id = -1
    while length - position > payload_total:
        block_id = view[position]
        position += 1
        if block_id <= XLR_MAX_BLOCK_ID:
            if block_id <= previous_id:
                raise _bad(start_lsn, f"out-of-order block_id {block_id}")
            header, position = _decode_block_header(view, position, start_lsn, block_id,
                                                    previous_rnode)
            previous_rnode = header[7]
            payload_total += header[2] + header[3]
            previous_id = block_id
            headers.append(header)
        elif block_id == XLR_BLOCK_ID_DATA_SHORT:
            main_length = view[position]
            position += 1
            payload_total += main_length
            break
        elif block_id == XLR_BLOCK_ID_DATA_LONG:
            (main_length,) = _U32.unpack_from(view, position)
            position += 4
            payload_total += main_length
            break
        elif block_id == XLR_BLOCK_ID_ORIGIN:
            if position + 2 > length:
                raise short_record(start_lsn)
            position += 2
        elif block_id == XLR_BLOCK_ID_TOPLEVEL_XID:
            (toplevel_xid,) = _U32.unpack_from(view, position)
            position += 4
        else:
            raise _bad(start_lsn, f"invalid block_id {block_id}")
    if length - position != payload_total:
        raise short_record(start_lsn)
    return headers, position, main_length, toplevel_xid


def _bad(start_lsn: int, what: str) -> WalCorrupted:
    return WalCorrupted(f"{what} at {format_lsn(start_lsn)}", start_lsn)


def _decode_block_header(view: memoryview, position: int, start_lsn: int, block_id: int,
                         previous_rnode: RelFileNode | None) -> tuple[_BlockHeader, int]:
    fork_flags, data_length = _FORK_FLAGS_AND_LENGTH.unpack_from(view, position)
    position += _FORK_FLAGS_AND_LENGTH_SIZE
    if fork_flags & BKPBLOCK_HAS_DATA:
        if data_length == 0:
            raise _bad(start_lsn, "BKPBLOCK_HAS_DATA set, but no data included")
    elif data_length != 0:
        raise _bad(start_lsn, f"BKPBLOCK_HAS_DATA not set, but data length is {data_length}")
    image_length = hole_offset = hole_length = bimg_info = 0
    if fork_flags & BKPBLOCK_HAS_IMAGE:
        image_length, hole_offset, bimg_info = IMAGE_HEADER_STRUCT.unpack_from(view, position)
        position += _IMAGE_HEADER_SIZE
        if bimg_info & BKPIMAGE_HAS_HOLE and not bimg_info & BKPIMAGE_COMPRESSED_MASK \
                and hole_offset and image_length < BLCKSZ \
                and hole_offset + BLCKSZ - image_length <= BLCKSZ:
            hole_length = BLCKSZ - image_length    # the usual image: checked inline
        else:
            hole_length, position = _image_hole_length(view, position, start_lsn, image_length,
                                                       hole_offset, bimg_info)
    if fork_flags & BKPBLOCK_SAME_REL:
        if previous_rnode is None:
            raise _bad(start_lsn, "BKPBLOCK_SAME_REL set but no previous rel")
        rnode = previous_rnode
        (blkno,) = BLOCK_NUMBER_STRUCT.unpack_from(view, position)
        position += _BLOCK_NUMBER_SIZE
    else:
        rnode = _new_relfilenode(RelFileNode, RELFILENODE_STRUCT.unpack_from(view, position))
        (blkno,) = BLOCK_NUMBER_STRUCT.unpack_from(view, position + _RELFILENODE_SIZE)
        position += _RELFILENODE_SIZE + _BLOCK_NUMBER_SIZE
    return (block_id, fork_flags, data_length, image_length, hole_offset, hole_length,
            bimg_info, rnode, blkno), position


def _image_hole_length(view: memoryview, position: int, start_lsn: int, image_length: int,
                       hole_offset: int, bimg_info: int) -> tuple[int, int]:
    """The hole length of an image header, after PostgreSQL's cross-checks (and ours: the hole
    must lie inside the page), and the position after it."""
    compressed = bool(bimg_info & BKPIMAGE_COMPRESSED_MASK)
    has_hole = bool(bimg_info & BKPIMAGE_HAS_HOLE)
    if compressed:
        hole_length = 0
        if has_hole:
            if position + HOLE_LENGTH_STRUCT.size > len(view):
                raise short_record(start_lsn)
            hole_length = HOLE_LENGTH_STRUCT.unpack_from(view, position)[0]
            position += HOLE_LENGTH_STRUCT.size
    else:
        hole_length = BLCKSZ - image_length
    if has_hole and (hole_offset == 0 or hole_length <= 0 or image_length >= BLCKSZ
                     or hole_offset + hole_length > BLCKSZ):
        raise _bad(start_lsn, f"BKPIMAGE_HAS_HOLE set, but hole offset {hole_offset} length "
                              f"{hole_length} block image length {image_length}")
    if not has_hole and (hole_offset != 0 or hole_length != 0):
        raise _bad(start_lsn, f"BKPIMAGE_HAS_HOLE not set, but hole offset {hole_offset} "
                              f"length {hole_length}")
    if compressed and image_length == BLCKSZ:
        raise _bad(start_lsn, f"BKPIMAGE_COMPRESSED set, but block image length {image_length}")
    if not has_hole and not compressed and image_length != BLCKSZ:
        raise _bad(start_lsn, "neither BKPIMAGE_HAS_HOLE nor BKPIMAGE_COMPRESSED set, but "
                              f"block image length is {image_length}")
    return hole_length, position


def _block_refs(headers: list[_BlockHeader], view: memoryview, position: int, start_lsn: int
                ) -> tuple[tuple[BlockRef, ...], int]:
    """The block references of ``headers`` with their payloads from ``position`` on (lengths
    were checked against the record), and the position after them."""
    refs = []
    for (block_id, fork_flags, data_length, image_length, hole_offset, hole_length, bimg_info,
         rnode, blkno) in headers:
        image = None
        if fork_flags & BKPBLOCK_HAS_IMAGE:
            if bimg_info & BKPIMAGE_COMPRESSED_MASK:
                raise _bad(start_lsn, f"could not restore image compressed with an unsupported "
                                      f"method, block {block_id}")
            end = position + image_length
            image = BlockImage(view[position:end].tobytes(), hole_offset,
                               hole_length if bimg_info & BKPIMAGE_HAS_HOLE else 0,
                               bool(bimg_info & BKPIMAGE_APPLY))
            position = end
        if data_length:
            end = position + data_length
            data = view[position:end].tobytes()
            position = end
        else:
            data = b""
        refs.append(BlockRef(block_id, rnode, fork_flags & BKPBLOCK_FORK_MASK, blkno, data,
                             image, bool(fork_flags & BKPBLOCK_WILL_INIT)))
    return tuple(refs), position
