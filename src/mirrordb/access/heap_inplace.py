"""In-place updates of a heap tuple: PostgreSQL's heap_inplace_update and its WAL record.

What it is for: VACUUM, ANALYZE and CREATE INDEX overwrite a pg_class row's relpages,
reltuples and relallvisible where it lies, without a new row version (so no xid, no dead
version, and the change survives an abort), as PostgreSQL does. The new row must have exactly
the old one's length and null bitmap (only fixed-width, non-null fields change).

The WAL record is PostgreSQL's own: resource manager Heap (10), info XLOG_HEAP_INPLACE (0x70),
main data xl_heap_inplace (the tuple's offset number, 2 bytes), block 0 the tuple's page
registered REGBUF_STANDARD with the new tuple data (the bytes after the tuple header) as its
block data, so pg_waldump prints it as "INPLACE off N". ``heap_inplace_redo`` replays it with
the same page function the primary ran, so a standby's page stays byte-identical.

Who calls it: catalog/relstats.py (pg_class statistics); the redo dispatch for RM_HEAP_ID.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mirrordb.access.relation import Relation
from mirrordb.common.errors import invariant
from mirrordb.recovery.redo import RedoContext, register_redo
from mirrordb.storage import page as pagelib
from mirrordb.storage import tuple as tuplelib
from mirrordb.storage.relfilenode import MAIN_FORKNUM
from mirrordb.wal.record import REGBUF_STANDARD, DecodedRecord
from mirrordb.wal.rmgr import RM_HEAP_ID
from mirrordb.wal.writer import BlockRegistration

if TYPE_CHECKING:
    from mirrordb.access.env import AccessEnv

XLOG_HEAP_INPLACE = 0x70
XLOG_HEAP_OPMASK = 0x70
_OFFNUM = struct.Struct("<H")
LP_NORMAL = 1

Tid = tuple[int, int]


def page_inplace(page: bytearray, offnum: int, data: bytes) -> None:
    """Overwrite the data part (after t_hoff) of the tuple at ``offnum`` with ``data``, which
    has the same length."""
    lp_off, lp_flags, lp_len = pagelib.get_item_id(page, offnum)
    invariant(lp_flags == LP_NORMAL, f"in-place update of line pointer {offnum} that is not "
                                     "normal")
    hoff = page[lp_off + tuplelib.HOFF_OFFSET]
    invariant(lp_len - hoff == len(data),
              f"in-place update changes the tuple's length ({lp_len - hoff} -> {len(data)})")
    page[lp_off + hoff:lp_off + lp_len] = data


def inplace_update(env: AccessEnv, rel: Relation, tid: Tid, values: Sequence[object]) -> None:
    """Overwrite the tuple at ``tid`` of ``rel`` with ``values`` (same length, same NULLs) and
    WAL-log it (XLOG_HEAP_INPLACE)."""
    data, nulls = rel.codec.encode(list(values))
    blkno, offnum = tid
    pool = env.pool
    with pool.lock:
        buffer = pool.read_buffer(rel.rnode, MAIN_FORKNUM, blkno)
        try:
            item = pagelib.get_item(buffer.page, offnum)
            _, old_nulls = tuplelib.tuple_data(item)
            invariant((old_nulls or None) == (nulls or None),
                      "in-place update changes which columns are NULL")
            page_inplace(buffer.page, offnum, bytes(data))
            env.changes.log(RM_HEAP_ID, XLOG_HEAP_INPLACE, _OFFNUM.pack(offnum),
                            [BlockRegistration(0, rel.rnode, MAIN_FORKNUM, blkno, buffer.page,
                                               bytes(data), REGBUF_STANDARD)], [buffer])
        finally:
            pool.release(buffer)


def heap_inplace_redo(context: RedoContext, record: DecodedRecord) -> None:
    """Replay a Heap record; mirrordb writes only XLOG_HEAP_INPLACE with this rmgr."""
    op = record.info & XLOG_HEAP_OPMASK
    invariant(op == XLOG_HEAP_INPLACE, f"unknown Heap record info {record.info:#x}")
    offnum = _OFFNUM.unpack_from(record.main_data, 0)[0]
    block = record.blocks[0]
    with context.pool.lock:
        buffer = context.begin_block(record, block, False)
        if buffer is not None:
            page_inplace(buffer.page, offnum, bytes(block.data))
            context.end_block(record, block, buffer)


register_redo(RM_HEAP_ID, heap_inplace_redo)

__all__ = ["XLOG_HEAP_INPLACE", "heap_inplace_redo", "inplace_update", "page_inplace"]
