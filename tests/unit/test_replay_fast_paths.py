"""Unit tests of replay's fast paths (issue 4's catch-up work): redo's buffer lookup without a
read for pages it overwrites (recovery/redo.py, storage/bufmgr.py ``buffer_for_redo``), and the
segment reader's read-ahead on a WAL that grows after the reader stopped at its end (what a
standby's startup thread does after each walreceiver flush)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mirrordb.common.errors import DataCorrupted
from mirrordb.recovery.redo import RedoContext
from mirrordb.storage import page as pagelib
from mirrordb.storage.bufmgr import BufferPool
from mirrordb.storage.page import BLCKSZ
from mirrordb.storage.relfilenode import MAIN_FORKNUM, RelFileNode
from mirrordb.storage.smgr import StorageManager
from mirrordb.wal.reader import READ_AHEAD_BYTES, SegmentFileSource, WalReader
from mirrordb.wal.record import BlockRef, DecodedRecord, make_image
from mirrordb.wal.rmgr import RM_XLOG_ID, XLOG_NOOP
from mirrordb.wal.segment import WAL_PAGE_SIZE
from wal_helpers import FIRST_LSN, SEGMENT_SIZE, TIMELINE, new_writer

REL = RelFileNode(1663, 5, 16384)
RECORD_END_LSN = 0x2000100


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[StorageManager]:
    manager = StorageManager(str(tmp_path))
    manager.create(REL)
    yield manager
    manager.close_all()


def make_pool(storage: StorageManager) -> BufferPool:
    return BufferPool(storage, 8, lambda lsn: None)


def valid_page(tag: int, lsn: int) -> bytearray:
    page = bytearray(BLCKSZ)
    pagelib.page_init(page)
    pagelib.add_item(page, bytes([tag]) * 40)
    pagelib.set_lsn(page, lsn)
    return page


def record_for(blkno: int, *, image: bytes | None = None) -> DecodedRecord:
    block_image = make_image(image, standard=True, apply=True) if image is not None else None
    block = BlockRef(0, REL, MAIN_FORKNUM, blkno, b"", block_image, False)
    return DecodedRecord(RECORD_END_LSN - 0x100, RECORD_END_LSN, 0x100, 0, 0, 0, RM_XLOG_ID,
                         (block,), b"", 0)


def damage_block(storage: StorageManager, blkno: int) -> None:
    storage.write(REL, MAIN_FORKNUM, blkno, b"\x07" * BLCKSZ)


def test_an_image_is_restored_without_reading_the_page_on_disk(storage: StorageManager) -> None:
    """PostgreSQL's RBM_ZERO_AND_LOCK: the damaged block is replaced, never read."""
    damage_block(storage, 0)
    pool = make_pool(storage)
    image = bytes(valid_page(7, 0x1000))
    RedoContext(pool).redo_block(record_for(0, image=image), 0, None)
    buffer = pool.read_buffer(REL, MAIN_FORKNUM, 0)
    try:
        assert pagelib.get_lsn(buffer.page) == RECORD_END_LSN
        assert buffer.page[8:] == image[8:] and buffer.dirty
    finally:
        pool.release(buffer)
    assert pool.pinned_count() == 0


def test_a_change_without_an_image_still_reads_and_checks_the_page(
        storage: StorageManager) -> None:
    damage_block(storage, 0)
    pool = make_pool(storage)
    with pytest.raises(DataCorrupted, match="block 0 of relation base/5/16384"):
        RedoContext(pool).redo_block(record_for(0), 0, lambda page: None)
    assert pool.pinned_count() == 0


def test_a_rebuilt_page_past_the_end_extends_the_relation(storage: StorageManager) -> None:
    pool = make_pool(storage)
    RedoContext(pool).redo_block(record_for(5), 0, pagelib.page_init, init=True)
    assert pool.nblocks(REL) == 6
    buffer = pool.read_buffer(REL, MAIN_FORKNUM, 5)
    try:
        assert not pagelib.is_new(buffer.page)
        assert pagelib.get_lsn(buffer.page) == RECORD_END_LSN and buffer.dirty
    finally:
        pool.release(buffer)


def test_a_change_already_on_the_page_leaves_it_clean(storage: StorageManager) -> None:
    storage.write(REL, MAIN_FORKNUM, 0, valid_page(3, RECORD_END_LSN))
    pool = make_pool(storage)
    changes: list[int] = []
    RedoContext(pool).redo_block(record_for(0), 0, lambda page: changes.append(1))
    assert changes == []
    assert pool.dirty_snapshot() == []


def test_records_written_after_the_reader_stopped_are_read(tmp_path: Path) -> None:
    """The read-ahead copy holds the pages as they were (zeros past the end): stopping at the
    end of valid WAL must drop it, or a standby would never see the WAL flushed next."""
    waldir = str(tmp_path)
    writer = new_writer(waldir)
    first_end = 0
    for _ in range(3):
        first_end = writer.insert(RM_XLOG_ID, XLOG_NOOP, b"a" * 100)
    writer.flush(first_end)
    assert first_end - FIRST_LSN < READ_AHEAD_BYTES   # the next records land in the copy
    with SegmentFileSource(waldir, TIMELINE, SEGMENT_SIZE) as source:
        reader = WalReader(source, SEGMENT_SIZE)
        first = list(reader.records_from(FIRST_LSN))
        assert len(first) == 3 and reader.end_lsn == first_end
        second_end = 0
        for _ in range(40):   # past the page the reader stopped on, still inside the copy
            second_end = writer.insert(RM_XLOG_ID, XLOG_NOOP, b"b" * 300)
        writer.flush(second_end)
        assert second_end // WAL_PAGE_SIZE > first_end // WAL_PAGE_SIZE
        more = list(reader.records_from(first_end, first[-1].start_lsn))
    writer.close()
    assert len(more) == 40 and more[-1].end_lsn == second_end
    assert all(record.main_data == b"b" * 300 for record in more)
