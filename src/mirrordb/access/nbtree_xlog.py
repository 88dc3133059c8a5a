"""B-tree WAL records: what each block reference carries, and the redo routine.

The B-tree logs under our custom resource manager ``RM_MIRRORDB_BTREE_ID`` (129). ``nbtree.py``
(the primary) builds one ``BlockOp`` per page it changes, applies it to the page, and logs the
encoded op as that block's data, all under the buffer pool's lock; ``btree_redo`` (crash recovery
and the standby, through ``mirrordb.recovery.redo``) decodes the same op and applies it to the
same page. Because ``BlockOp.apply`` is the one function both sides run, and it depends only on
the page bytes and the op, redo produces byte-identical pages.

A multi-page change is one record with one block reference per page, so crash recovery replays
all of it or none of it.

Records (``xl_info`` high nibble; the main data is always empty)::

    XLOG_BTREE_INSERT_LEAF  0x00  block 0: leaf (INSERT)
    XLOG_BTREE_SPLIT        0x10  block 0: left half (SPLIT_LEFT), 1: new right half (BUILD_PAGE,
                                  will init), 2: parent (INSERT of the right half's downlink),
                                  3: old right sibling (SET_PREV), absent on a rightmost split
    XLOG_BTREE_NEWROOT      0x20  block 0: old root, now left half (SPLIT_LEFT), 1: right half
                                  (BUILD_PAGE), 2: new root (BUILD_PAGE), 3: metapage (INIT_META)
    XLOG_BTREE_VACUUM       0x30  block 0: leaf (DELETE)
    XLOG_BTREE_BUILD_EMPTY  0x40  block 0: metapage (INIT_META), 1: empty root leaf (BUILD_PAGE)

Block data (one op per block; integers little-endian)::

    0   op   u8
    INIT_META  (1)  root u32, level u32                                              will init
    BUILD_PAGE (2)  prev u32, next u32, level u32, flags u16, has_high_key u8,
                    item count u16, then per item: length u16, bytes (the high key first) will init
    INSERT     (3)  offset number u16, then the item (the rest of the data)
    SPLIT_LEFT (4)  next u32, flags u16, kept item count u16, new item index u16
                    (0xFFFF: none), high key length u16, high key, then the new item (the rest)
    SET_PREV   (5)  prev u32
    DELETE     (6)  count u16, then count offset numbers u16, ascending

Decoding garbage raises ``WalCorrupted`` only; applying an op to a page it does not fit raises
``DataCorrupted``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mirrordb.common.errors import WalCorrupted
from mirrordb.common.lsn import format_lsn
from mirrordb.access import nbtree_page as btpage
from mirrordb.access.nbtree_page import MetaData, Opaque
from mirrordb.storage import page as pagelib

if TYPE_CHECKING:
    from mirrordb.recovery.redo import RedoContext
    from mirrordb.wal.record import BlockRef, DecodedRecord

XLOG_BTREE_INSERT_LEAF = 0x00
XLOG_BTREE_SPLIT = 0x10
XLOG_BTREE_NEWROOT = 0x20
XLOG_BTREE_VACUUM = 0x30
XLOG_BTREE_BUILD_EMPTY = 0x40
RECORD_NAMES = {XLOG_BTREE_INSERT_LEAF: "INSERT_LEAF", XLOG_BTREE_SPLIT: "SPLIT",
                XLOG_BTREE_NEWROOT: "NEWROOT", XLOG_BTREE_VACUUM: "VACUUM",
                XLOG_BTREE_BUILD_EMPTY: "BUILD_EMPTY"}
XLR_RMGR_INFO_MASK = 0xF0

OP_INIT_META = 1
OP_BUILD_PAGE = 2
OP_INSERT = 3
OP_SPLIT_LEFT = 4
OP_SET_PREV = 5
OP_DELETE = 6

NO_NEW_ITEM = 0xFFFF
# Most items a BUILD_PAGE or DELETE op can name: one line pointer per 4 bytes of a page.
MAX_ITEMS_PER_OP = btpage.BTREE_USABLE_SIZE // pagelib.ITEM_ID_SIZE

_OP = struct.Struct("<B")
_INIT_META = struct.Struct("<II")
_BUILD_PAGE = struct.Struct("<IIIHBH")
_INSERT = struct.Struct("<H")
_INSERT_HEADER_SIZE = _OP.size + _INSERT.size   # op byte, then the offset number
_SPLIT_LEFT = struct.Struct("<IHHHH")
_SET_PREV = struct.Struct("<I")
_U16 = struct.Struct("<H")
assert _OP.size == 1 and _INIT_META.size == 8 and _BUILD_PAGE.size == 17
assert _INSERT.size == 2 and _SPLIT_LEFT.size == 12 and _SET_PREV.size == 4


@dataclass(frozen=True, slots=True)
class InitMeta:
    meta: MetaData
    will_init = True

    def encode(self) -> bytes:
        return _OP.pack(OP_INIT_META) + _INIT_META.pack(self.meta.root, self.meta.level)

    def apply(self, page: bytearray) -> None:
        btpage.init_meta_page(page, self.meta)


@dataclass(frozen=True, slots=True)
class BuildPage:
    opaque: Opaque
    high: bytes | None
    items: Sequence[bytes]
    will_init = True

    def encode(self) -> bytes:
        all_items = ([self.high] if self.high is not None else []) + list(self.items)
        parts = [_OP.pack(OP_BUILD_PAGE),
                 _BUILD_PAGE.pack(*self.opaque, self.high is not None, len(all_items))]
        for item in all_items:
            parts += (_U16.pack(len(item)), item)
        return b"".join(parts)

    def apply(self, page: bytearray) -> None:
        btpage.build_page(page, self.opaque, self.high, self.items)


@dataclass(frozen=True, slots=True)
class InsertItem:
    offnum: int
    item: bytes
    will_init = False

    def encode(self) -> bytes:
        return _OP.pack(OP_INSERT) + _INSERT.pack(self.offnum) + self.item

    def apply(self, page: bytearray) -> None:
        btpage.insert_item(page, self.offnum, self.item)   # checks the page itself


@dataclass(frozen=True, slots=True)
class SplitLeft:
    next_block: int
    flags: int
    high: bytes
    keep_count: int
    new_item_index: int | None
    new_item: bytes
    will_init = False

    def encode(self) -> bytes:
        index = NO_NEW_ITEM if self.new_item_index is None else self.new_item_index
        return (_OP.pack(OP_SPLIT_LEFT)
                + _SPLIT_LEFT.pack(self.next_block, self.flags, self.keep_count, index,
                                   len(self.high))
                + self.high + self.new_item)

    def apply(self, page: bytearray) -> None:
        btpage.check_btree_page(page)
        btpage.split_left(page, self.next_block, self.flags, self.high, self.keep_count,
                          self.new_item_index, self.new_item)


@dataclass(frozen=True, slots=True)
class SetPrev:
    prev: int
    will_init = False

    def encode(self) -> bytes:
        return _OP.pack(OP_SET_PREV) + _SET_PREV.pack(self.prev)

    def apply(self, page: bytearray) -> None:
        btpage.check_btree_page(page)
        btpage.set_prev(page, self.prev)


@dataclass(frozen=True, slots=True)
class DeleteItems:
    offnums: Sequence[int]
    will_init = False

    def encode(self) -> bytes:
        return (_OP.pack(OP_DELETE) + _U16.pack(len(self.offnums))
                + struct.pack(f"<{len(self.offnums)}H", *self.offnums))

    def apply(self, page: bytearray) -> None:
        btpage.check_btree_page(page)
        btpage.delete_offsets(page, self.offnums)


BlockOp = InitMeta | BuildPage | InsertItem | SplitLeft | SetPrev | DeleteItems


# ---------------------------------------------------------------------------------------------
# Decoding


class _Reader:
    """Cursor over block data; every short read is a WalCorrupted."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def unpack(self, layout: struct.Struct) -> tuple[int, ...]:
        if self.offset + layout.size > len(self.data):
            raise WalCorrupted(f"B-tree block data truncated at byte {self.offset}")
        values = layout.unpack_from(self.data, self.offset)
        self.offset += layout.size
        return values

    def take(self, length: int) -> bytes:
        if self.offset + length > len(self.data):
            raise WalCorrupted(f"B-tree block data truncated at byte {self.offset}")
        chunk = self.data[self.offset:self.offset + length]
        self.offset += length
        return chunk

    def rest(self) -> bytes:
        chunk = self.data[self.offset:]
        self.offset = len(self.data)
        return chunk

    def finish(self) -> None:
        if self.offset != len(self.data):
            raise WalCorrupted(f"B-tree block data has {len(self.data) - self.offset} "
                               "trailing bytes")


def _check_item(item: bytes) -> bytes:
    if not btpage.INDEX_TUPLE_HEADER_SIZE <= len(item) <= btpage.BTREE_MAX_PIVOT_SIZE:
        raise WalCorrupted(f"B-tree item of {len(item)} bytes in WAL")
    return item


def _check_flags(flags: int) -> int:
    if flags & ~btpage.KNOWN_FLAGS:
        raise WalCorrupted(f"unknown B-tree page flags {flags:#x} in WAL")
    return flags


def _decode_init_meta(reader: _Reader) -> BlockOp:
    root, level = reader.unpack(_INIT_META)
    return InitMeta(MetaData(root, level))


def _decode_build_page(reader: _Reader) -> BlockOp:
    prev, next_block, level, flags, has_high, count = reader.unpack(_BUILD_PAGE)
    if has_high not in (0, 1) or has_high != (next_block != btpage.P_NONE):
        raise WalCorrupted("B-tree page image: high key flag disagrees with the right-link")
    if count > MAX_ITEMS_PER_OP or count < has_high:
        raise WalCorrupted(f"B-tree page image with {count} items")
    items = [_check_item(reader.take(reader.unpack(_U16)[0])) for _ in range(count)]
    high = items.pop(0) if has_high else None
    return BuildPage(Opaque(prev, next_block, level, _check_flags(flags)), high, items)


def _decode_insert(reader: _Reader) -> BlockOp:
    (offnum,) = reader.unpack(_INSERT)
    return InsertItem(offnum, _check_item(reader.rest()))


def _decode_split_left(reader: _Reader) -> BlockOp:
    next_block, flags, keep_count, index, high_length = reader.unpack(_SPLIT_LEFT)
    if next_block == btpage.P_NONE:
        raise WalCorrupted("B-tree split without a right half")
    high = _check_item(reader.take(high_length))
    new_item = reader.rest()
    if index == NO_NEW_ITEM:
        if new_item:
            raise WalCorrupted("B-tree split carries a new item but no position for it")
        return SplitLeft(next_block, _check_flags(flags), high, keep_count, None, b"")
    return SplitLeft(next_block, _check_flags(flags), high, keep_count, index,
                     _check_item(new_item))


def _decode_set_prev(reader: _Reader) -> BlockOp:
    return SetPrev(reader.unpack(_SET_PREV)[0])


def _decode_delete(reader: _Reader) -> BlockOp:
    (count,) = reader.unpack(_U16)
    if count > MAX_ITEMS_PER_OP:
        raise WalCorrupted(f"B-tree delete of {count} items")
    offnums = struct.unpack(f"<{count}H", reader.take(2 * count))
    if list(offnums) != sorted(set(offnums)):
        raise WalCorrupted("B-tree delete offsets are not strictly ascending")
    return DeleteItems(offnums)


_DECODERS: dict[int, Callable[[_Reader], BlockOp]] = {
    OP_INIT_META: _decode_init_meta, OP_BUILD_PAGE: _decode_build_page, OP_INSERT: _decode_insert,
    OP_SPLIT_LEFT: _decode_split_left, OP_SET_PREV: _decode_set_prev, OP_DELETE: _decode_delete,
}


def decode_block_op(data: bytes | bytearray | memoryview) -> BlockOp:
    """Decode one block's data; raise WalCorrupted on anything malformed."""
    if len(data) >= _INSERT_HEADER_SIZE and data[0] == OP_INSERT:
        # The common case (one leaf insert per row) without a cursor: same checks, same result.
        item = bytes(data[_INSERT_HEADER_SIZE:])
        return InsertItem(_INSERT.unpack_from(data, _OP.size)[0], _check_item(item))
    reader = _Reader(bytes(data))
    (op,) = reader.unpack(_OP)
    decoder = _DECODERS.get(op)
    if decoder is None:
        raise WalCorrupted(f"unknown B-tree block op {op}")
    block_op = decoder(reader)
    reader.finish()
    return block_op


# ---------------------------------------------------------------------------------------------
# Redo


def btree_redo(context: RedoContext, record: DecodedRecord) -> None:
    """Replay one B-tree record: apply each block's op.

    All blocks are replayed under the pool lock, so a reader on a hot standby (which takes the
    same lock) never sees half a split: a left half pointing at a right half not yet built.
    """
    info = record.info & XLR_RMGR_INFO_MASK
    if info not in RECORD_NAMES:
        raise WalCorrupted(f"unknown B-tree record type {info:#x} at "
                           f"{format_lsn(record.start_lsn)}", record.start_lsn)
    blocks = record.blocks
    if len(blocks) == 1:
        # The most common record (a leaf INSERT, one block) replayed without building an op
        # object or a closure: the same checks and the same page function as ``InsertItem``,
        # between redo.py's begin_block and end_block. Anything else, or anything malformed,
        # takes the general path below, which reports it.
        block = blocks[0]
        data = block.data
        if len(data) >= _INSERT_HEADER_SIZE and data[0] == OP_INSERT and \
                btpage.INDEX_TUPLE_HEADER_SIZE <= len(data) - _INSERT_HEADER_SIZE \
                <= btpage.BTREE_MAX_PIVOT_SIZE:
            with context.pool.lock:
                buffer = context.begin_block(record, block, False)
                if buffer is not None:
                    btpage.insert_item(buffer.page, _INSERT.unpack_from(data, _OP.size)[0],
                                       data[_INSERT_HEADER_SIZE:])
                    context.end_block(record, block, buffer)
            return
    operations = [(block.block_id, _block_op_of(record, block, info)) for block in blocks]
    with context.pool.lock:
        for block_id, block_op in operations:
            if block_op is None:
                context.redo_block(record, block_id, None)
            else:
                context.redo_block(record, block_id, block_op.apply, init=block_op.will_init)


def _block_op_of(record: DecodedRecord, block: BlockRef, info: int) -> BlockOp | None:
    """The op a block carries; None for a block that only restores its full-page image."""
    if not block.data and block.image is not None and block.image.apply:
        return None
    try:
        return decode_block_op(block.data)
    except WalCorrupted as error:
        raise WalCorrupted(f"{error.message} in block {block.block_id} of the B-tree "
                           f"{RECORD_NAMES[info]} record at {format_lsn(record.start_lsn)}",
                           record.start_lsn) from None

