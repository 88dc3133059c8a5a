"""Unit tests of the buffer pool (storage/bufmgr.py): pinning, clock-sweep eviction, WAL before
data (a fake flush_wal records what it was asked for and every file write is checked against it),
extension, redo's zero_if_missing reads, dropping and truncating relations, page verification."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirrordb.common.errors import DataCorrupted, InvariantViolation, IoError, MirrordbError
from mirrordb.storage import page as pagelib
from mirrordb.storage.bufmgr import Buffer, BufferPool
from mirrordb.storage.page import BLCKSZ
from mirrordb.storage.relfilenode import MAIN_FORKNUM, RelFileNode
from mirrordb.storage.smgr import StorageManager

REL = RelFileNode(1663, 5, 16384)
OTHER = RelFileNode(1663, 5, 16385)


class FakeWal:
    """Records flush requests; a page write is legal only at or below ``flushed_lsn``."""

    def __init__(self) -> None:
        self.requests: list[int] = []
        self.flushed_lsn = 0
        self.fail = False

    def flush(self, lsn: int) -> None:
        if self.fail:
            raise IoError("WAL flush failed")
        self.requests.append(lsn)
        self.flushed_lsn = max(self.flushed_lsn, lsn)


class CheckingStorage(StorageManager):
    """A StorageManager that asserts WAL-before-data on every page write and logs the writes."""

    def __init__(self, datadir: str, wal: FakeWal) -> None:
        super().__init__(datadir, relseg_size_blocks=8)
        self.wal = wal
        self.writes: list[tuple[RelFileNode, int, int, int]] = []

    def write(self, rnode: RelFileNode, fork: int, blkno: int,
              page: bytes | bytearray | memoryview) -> None:
        page_lsn = pagelib.get_lsn(page)
        assert page_lsn <= self.wal.flushed_lsn, \
            f"block {blkno} written with LSN {page_lsn:X} beyond flushed {self.wal.flushed_lsn:X}"
        self.writes.append((rnode, fork, blkno, page_lsn))
        super().write(rnode, fork, blkno, page)


@pytest.fixture
def wal() -> FakeWal:
    return FakeWal()


@pytest.fixture
def storage(tmp_path: Path, wal: FakeWal) -> Iterator[CheckingStorage]:
    manager = CheckingStorage(str(tmp_path), wal)
    manager.create(REL)
    manager.create(OTHER)
    yield manager
    manager.close_all()


def make_pool(storage: CheckingStorage, wal: FakeWal, nbuffers: int = 4) -> BufferPool:
    return BufferPool(storage, nbuffers, wal.flush)


def fill_page(buffer: Buffer, tag: int, lsn: int) -> None:
    pagelib.page_init(buffer.page)
    pagelib.add_item(buffer.page, bytes([tag]) * 40)
    pagelib.set_lsn(buffer.page, lsn)


def write_new_pages(pool: BufferPool, rnode: RelFileNode, count: int, first_lsn: int = 0x100
                    ) -> None:
    for index in range(count):
        with pool.lock:
            buffer = pool.extend(rnode)
            fill_page(buffer, index, first_lsn + index * 0x100)
            pool.mark_dirty(buffer)
            pool.release(buffer)


def read_tag(pool: BufferPool, rnode: RelFileNode, blkno: int) -> tuple[int, int]:
    buffer = pool.read_buffer(rnode, MAIN_FORKNUM, blkno)
    try:
        return pagelib.get_item(buffer.page, 1)[0], pagelib.get_lsn(buffer.page)
    finally:
        pool.release(buffer)


def test_extend_hands_out_distinct_blocks_and_grows_the_file_on_write(
        storage: CheckingStorage, wal: FakeWal) -> None:
    pool = make_pool(storage, wal)
    first, second = pool.extend(REL), pool.extend(REL)
    assert (first.tag, second.tag) == ((REL, 0, 0), (REL, 0, 1))
    assert first.dirty and first.pin_count == 1 and bytes(first.page) == bytes(BLCKSZ)
    assert pool.nblocks(REL) == 2 and storage.nblocks(REL) == 0
    pool.release(first)
    pool.release(second)
    assert pool.flush_all() == 2
    assert storage.nblocks(REL) == 2
    assert pool.pinned_count() == 0


def test_read_buffer_hits_the_cached_buffer(storage: CheckingStorage, wal: FakeWal) -> None:
    pool = make_pool(storage, wal)
    write_new_pages(pool, REL, 1)
    first = pool.read_buffer(REL, MAIN_FORKNUM, 0)
    again = pool.read_buffer(REL, MAIN_FORKNUM, 0)
    assert first is again and first.pin_count == 2
    pool.release(first)
    pool.release(again)
    assert pool.stats.hits == 2 and pool.stats.reads == 0


def test_eviction_writes_wal_first_and_pages_come_back(storage: CheckingStorage,
                                                       wal: FakeWal) -> None:
    pool = make_pool(storage, wal, nbuffers=3)
    write_new_pages(pool, REL, 12)
    assert pool.stats.evictions >= 9
    assert storage.writes, "evicting dirty pages must write them"
    for blkno in range(12):
        assert read_tag(pool, REL, blkno) == (blkno, 0x100 + blkno * 0x100)
    assert pool.pinned_count() == 0


def test_flush_all_flushes_wal_once_up_to_the_highest_lsn(storage: CheckingStorage,
                                                         wal: FakeWal) -> None:
    pool = make_pool(storage, wal, nbuffers=8)
    write_new_pages(pool, REL, 5)
    assert wal.requests == []
    assert pool.flush_all() == 5
    assert wal.requests == [0x500]
    assert [write[2] for write in storage.writes] == [0, 1, 2, 3, 4]
    assert pool.flush_all() == 0 and pool.dirty_snapshot() == []


def test_pages_below_the_flushed_lsn_need_no_new_wal_flush(storage: CheckingStorage,
                                                           wal: FakeWal) -> None:
    pool = make_pool(storage, wal, nbuffers=8)
    write_new_pages(pool, REL, 2)
    pool.flush_all()
    with pool.lock:
        buffer = pool.read_buffer(REL, MAIN_FORKNUM, 0)
        pagelib.set_lsn(buffer.page, 0x80)
        pool.mark_dirty(buffer)
        pool.release(buffer)
    assert pool.flush_buffer(buffer)
    assert wal.requests == [0x200]
    assert not pool.flush_buffer(buffer)


def test_failed_wal_flush_writes_nothing(storage: CheckingStorage, wal: FakeWal) -> None:
    pool = make_pool(storage, wal, nbuffers=2)
    write_new_pages(pool, REL, 2)
    wal.fail = True
    with pytest.raises(IoError):
        pool.read_buffer(OTHER, MAIN_FORKNUM, 0, zero_if_missing=True)   # needs an eviction
    with pytest.raises(IoError):
        pool.flush_all()
    assert storage.writes == [] and len(pool.dirty_snapshot()) == 2
    wal.fail = False
    assert pool.flush_all() == 2


def test_all_buffers_pinned_is_an_operating_error(storage: CheckingStorage,
                                                  wal: FakeWal) -> None:
    pool = make_pool(storage, wal, nbuffers=2)
    pinned = [pool.extend(REL), pool.extend(REL)]
    with pytest.raises(MirrordbError, match="no unpinned buffers available") as raised:
        pool.extend(REL)
    assert raised.value.sqlstate == "53000"
    assert pool.nblocks(REL) == 2
    for buffer in pinned:
        pool.release(buffer)
    pool.release(pool.extend(REL))


def test_clock_sweep_keeps_the_frequently_used_page(storage: CheckingStorage,
                                                    wal: FakeWal) -> None:
    pool = make_pool(storage, wal, nbuffers=8)
    write_new_pages(pool, REL, 3)
    pool.flush_all()
    small = make_pool(storage, wal, nbuffers=2)
    for _ in range(4):
        read_tag(small, REL, 0)
    read_tag(small, REL, 1)
    read_tag(small, REL, 2)                            # evicts block 1, not the busy block 0
    hits = small.stats.hits
    read_tag(small, REL, 0)
    assert small.stats.hits == hits + 1


def test_zero_if_missing_creates_and_extends_like_redo(storage: CheckingStorage, wal: FakeWal,
                                                       tmp_path: Path) -> None:
    pool = make_pool(storage, wal)
    missing = RelFileNode(1663, 6, 30000)
    with pool.lock:
        buffer = pool.read_buffer(missing, MAIN_FORKNUM, 5, zero_if_missing=True)
        assert bytes(buffer.page) == bytes(BLCKSZ)
        fill_page(buffer, 5, 0x10)
        pool.mark_dirty(buffer)
        pool.release(buffer)
    assert storage.exists(missing) and pool.nblocks(missing) == 6
    gap = pool.read_buffer(missing, MAIN_FORKNUM, 3)          # skipped over: reads as zeros
    assert bytes(gap.page) == bytes(BLCKSZ)
    pool.release(gap)
    pool.flush_all()
    assert storage.nblocks(missing) == 6
    assert storage.read(missing, MAIN_FORKNUM, 2) == bytes(BLCKSZ)


def test_reading_past_the_end_without_zero_if_missing_fails(storage: CheckingStorage,
                                                            wal: FakeWal) -> None:
    pool = make_pool(storage, wal)
    with pytest.raises(IoError, match="block 0 in file"):
        pool.read_buffer(REL, MAIN_FORKNUM, 0)
    assert pool.pinned_count() == 0
    with pytest.raises(IoError, match="No such file"):
        pool.read_buffer(RelFileNode(1663, 6, 1), MAIN_FORKNUM, 0)


def test_torn_final_block_reads_as_zeros_only_in_redo(storage: CheckingStorage, wal: FakeWal,
                                                      tmp_path: Path) -> None:
    first_pool = make_pool(storage, wal)
    write_new_pages(first_pool, REL, 1)
    first_pool.flush_all()
    with open(tmp_path / "base" / "5" / "16384", "ab") as handle:
        handle.write(b"\x01" * 1000)
    pool = make_pool(storage, wal)
    with pytest.raises(DataCorrupted):
        pool.read_buffer(REL, MAIN_FORKNUM, 1)
    buffer = pool.read_buffer(REL, MAIN_FORKNUM, 1, zero_if_missing=True)
    assert bytes(buffer.page) == bytes(BLCKSZ)
    pool.release(buffer)


def test_damaged_pages_are_detected_on_read(storage: CheckingStorage, wal: FakeWal) -> None:
    pool = make_pool(storage, wal)
    storage.write(REL, MAIN_FORKNUM, 0, bytes(BLCKSZ))                  # all zeros: fine
    garbage = bytearray(b"\x07" * BLCKSZ)
    StorageManager.write(storage, REL, MAIN_FORKNUM, 1, garbage)
    not_new = bytearray(BLCKSZ)
    not_new[100] = 1                                                    # pd_upper 0, not zero
    StorageManager.write(storage, REL, MAIN_FORKNUM, 2, not_new)
    pool.release(pool.read_buffer(REL, MAIN_FORKNUM, 0))
    with pytest.raises(DataCorrupted, match="block 1 of relation base/5/16384"):
        pool.read_buffer(REL, MAIN_FORKNUM, 1)
    with pytest.raises(DataCorrupted, match="invalid page in block 2"):
        pool.read_buffer(REL, MAIN_FORKNUM, 2)
    assert pool.pinned_count() == 0


def test_drop_relation_forgets_dirty_buffers_unwritten(storage: CheckingStorage,
                                                       wal: FakeWal) -> None:
    pool = make_pool(storage, wal, nbuffers=8)
    write_new_pages(pool, REL, 3)
    write_new_pages(pool, OTHER, 1)
    pool.drop_relation(REL)
    assert pool.flush_all() == 1
    assert {write[0] for write in storage.writes} == {OTHER}
    assert pool.nblocks(REL) == 0                     # forgotten length re-read from disk


def test_drop_relation_of_a_pinned_buffer_is_a_programmer_error(storage: CheckingStorage,
                                                                wal: FakeWal) -> None:
    pool = make_pool(storage, wal)
    buffer = pool.extend(REL)
    with pytest.raises(InvariantViolation):
        pool.drop_relation(REL)
    pool.release(buffer)


def test_truncate_relation_keeps_the_head(storage: CheckingStorage, wal: FakeWal) -> None:
    pool = make_pool(storage, wal, nbuffers=16)
    write_new_pages(pool, REL, 6)
    pool.flush_all()
    write_new_pages(pool, REL, 4, first_lsn=0x1000)       # blocks 6..9 dirty, unwritten
    with pool.lock:
        buffer = pool.read_buffer(REL, MAIN_FORKNUM, 1)
        pagelib.set_lsn(buffer.page, 0x2000)
        pool.mark_dirty(buffer)
        pool.release(buffer)
    pool.truncate_relation(REL, MAIN_FORKNUM, 3)
    assert pool.nblocks(REL) == 3
    pool.flush_all()
    assert storage.nblocks(REL) == 3
    assert read_tag(pool, REL, 1) == (1, 0x2000)           # dirty head page survived


def test_flush_relation_writes_only_that_relation(storage: CheckingStorage,
                                                  wal: FakeWal) -> None:
    pool = make_pool(storage, wal, nbuffers=8)
    write_new_pages(pool, REL, 2)
    write_new_pages(pool, OTHER, 2)
    assert pool.flush_relation(OTHER) == 2
    assert {write[0] for write in storage.writes} == {OTHER}
    assert {buffer.tag[0] for buffer in pool.dirty_snapshot()} == {REL}  # type: ignore[index]


def test_release_and_mark_dirty_require_a_pin(storage: CheckingStorage, wal: FakeWal) -> None:
    pool = make_pool(storage, wal)
    buffer = pool.extend(REL)
    pool.release(buffer)
    with pytest.raises(InvariantViolation):
        pool.release(buffer)
    with pytest.raises(InvariantViolation):
        pool.mark_dirty(buffer)


def test_concurrent_extenders_get_distinct_blocks(storage: CheckingStorage,
                                                  wal: FakeWal) -> None:
    pool = make_pool(storage, wal, nbuffers=6)
    per_thread = 40
    errors: list[BaseException] = []

    def extender(thread_index: int) -> None:
        try:
            for index in range(per_thread):
                with pool.lock:
                    buffer = pool.extend(REL)
                    pagelib.page_init(buffer.page)
                    pagelib.add_item(buffer.page, struct.pack("<HH", thread_index, index))
                    pool.mark_dirty(buffer)
                    pool.release(buffer)
        except Exception as error:  # noqa: BLE001 (reported by the assertion below)
            errors.append(error)

    threads = [threading.Thread(target=extender, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and not any(thread.is_alive() for thread in threads)
    pool.flush_all()
    assert storage.nblocks(REL) == 4 * per_thread
    seen = set()
    for blkno in range(4 * per_thread):
        buffer = pool.read_buffer(REL, MAIN_FORKNUM, blkno)
        seen.add(struct.unpack("<HH", pagelib.get_item(buffer.page, 1)))
        pool.release(buffer)
    assert seen == {(t, i) for t in range(4) for i in range(per_thread)}
