"""Heap redo (access/heapam.py ``heap_redo``), which calls RedoContext.begin_block/end_block itself
with the page functions in between: each block of a record follows redo's rules on its own (an
UPDATE's new page may need the change while its old page already has it), replaying a record
again changes nothing, and redo produces the bytes the primary's page functions do."""

from __future__ import annotations

from mirrordb.access import heapam
from mirrordb.recovery.redo import RedoContext
from mirrordb.storage import page as pagelib
from mirrordb.storage.bufmgr import BufferPool
from mirrordb.storage.page import BLCKSZ
from mirrordb.storage.relfilenode import MAIN_FORKNUM
from mirrordb.storage.smgr import StorageManager
from mirrordb.storage.tuple import HEAP_TUPLE_HEADER_SIZE
from mirrordb.wal.record import BlockRef, DecodedRecord
from mirrordb.wal.rmgr import RM_MIRRORDB_HEAP_ID
from test_replay_fast_paths import REL, storage  # noqa: F401 (the storage fixture, on REL)

BEFORE_LSN = 0x2000000
RECORD_END_LSN = 0x2000100
OLD_TUPLE = bytes(HEAP_TUPLE_HEADER_SIZE) + b"old version"
NEW_TUPLE = bytes(HEAP_TUPLE_HEADER_SIZE) + b"new version!"
XMAX, CID = 731, 0


def heap_page(lsn: int) -> bytearray:
    page = bytearray(BLCKSZ)
    pagelib.page_init(page)
    pagelib.add_item(page, OLD_TUPLE)
    pagelib.set_lsn(page, lsn)
    return page


def update_record(new_blkno: int, old_blkno: int | None) -> DecodedRecord:
    blocks = [BlockRef(0, REL, MAIN_FORKNUM, new_blkno, NEW_TUPLE, None, False)]
    if old_blkno is not None:
        blocks.append(BlockRef(1, REL, MAIN_FORKNUM, old_blkno, b"", None, False))
    main = heapam._UPDATE_MAIN.pack(1, XMAX, CID, 0, 2)   # old version 1, new version 2
    return DecodedRecord(RECORD_END_LSN - 0x100, RECORD_END_LSN, 0x100, XMAX, 0,
                         heapam.XLOG_HEAP_UPDATE, RM_MIRRORDB_HEAP_ID, tuple(blocks), main, 0)


def page_of(pool: BufferPool, blkno: int) -> bytes:
    buffer = pool.read_buffer(REL, MAIN_FORKNUM, blkno)
    try:
        return bytes(buffer.page)
    finally:
        pool.release(buffer)


def expected_page(*, insert: bool, set_xmax: bool, new_blkno: int) -> bytes:
    """What the primary's page functions make of ``heap_page`` (pd_lsn: the record's end)."""
    page = heap_page(BEFORE_LSN)
    if insert:
        heapam.page_insert(page, 2, NEW_TUPLE, False)
    if set_xmax:
        heapam.page_set_xmax(page, 1, XMAX, CID, 0, (new_blkno, 2))
    pagelib.set_lsn(page, RECORD_END_LSN)
    return bytes(page)


def test_update_on_one_page_is_replayed_once(storage: StorageManager) -> None:
    storage.write(REL, MAIN_FORKNUM, 0, heap_page(BEFORE_LSN))
    pool = BufferPool(storage, 8, lambda lsn: None)
    context = RedoContext(pool)
    record = update_record(0, None)
    heapam.heap_redo(context, record)
    expected = expected_page(insert=True, set_xmax=True, new_blkno=0)
    assert page_of(pool, 0) == expected
    heapam.heap_redo(context, record)   # the page's LSN says the change is there
    assert page_of(pool, 0) == expected


def test_update_across_pages_redoes_only_the_page_that_lacks_it(
        storage: StorageManager) -> None:
    storage.write(REL, MAIN_FORKNUM, 0, heap_page(BEFORE_LSN))       # new page: needs the insert
    already = heap_page(BEFORE_LSN)
    heapam.page_set_xmax(already, 1, XMAX, CID, 0, (0, 2))
    pagelib.set_lsn(already, RECORD_END_LSN + 0x100)                # old page: written later
    storage.write(REL, MAIN_FORKNUM, 1, already)
    pool = BufferPool(storage, 8, lambda lsn: None)
    heapam.heap_redo(RedoContext(pool), update_record(0, 1))
    assert page_of(pool, 0) == expected_page(insert=True, set_xmax=False, new_blkno=0)
    assert page_of(pool, 1) == bytes(already)
    assert [buffer.tag[2] for buffer in pool.dirty_snapshot()] == [0]  # type: ignore[index]
