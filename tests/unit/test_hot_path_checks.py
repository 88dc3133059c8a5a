"""Invariant checks on the row-change hot path cost nothing when they pass.

``BufferPool.release``/``mark_dirty`` and the WAL writer's per-record checks used to build their
failure messages (``repr`` of a buffer, formatted LSNs) on every call, a quarter of a B-tree
insert's time. Here the message builders raise if they are called at all while a workload runs;
misuse must still be reported with its message.
"""

from __future__ import annotations

import os

import pytest

from mirrordb.common.errors import InvariantViolation
from mirrordb.storage import bufmgr
from mirrordb.storage import page as pagelib
from mirrordb.storage.bufmgr import Buffer, BufferPool
from mirrordb.storage.relfilenode import MAIN_FORKNUM, RelFileNode
from mirrordb.storage.smgr import StorageManager
from mirrordb.wal import writer as writer_module
from mirrordb.wal.rmgr import RM_XLOG_ID, XLOG_NOOP
from mirrordb.wal.writer import WalWriter

REL = RelFileNode(1663, 5, 16384)
SEGMENT_SIZE = 1024 * 1024


def forbidden(*args: object) -> str:
    raise AssertionError("a check formatted its message although it passed")


def test_buffer_pool_checks_are_free_when_they_pass(tmp_path, monkeypatch):
    smgr = StorageManager(str(tmp_path))
    smgr.create(REL, MAIN_FORKNUM)
    pool = BufferPool(smgr, 16, lambda lsn: None)
    monkeypatch.setattr(Buffer, "__repr__", forbidden)
    for _ in range(40):                       # more blocks than buffers: evictions write pages
        buffer = pool.extend(REL, MAIN_FORKNUM)
        pagelib.page_init(buffer.page)
        pool.mark_dirty(buffer)
        pool.release(buffer)
    for blkno in range(40):
        buffer = pool.read_buffer(REL, MAIN_FORKNUM, blkno)
        pool.mark_dirty(buffer)
        pool.release(buffer)
    pool.flush_all()
    assert pool.stats.evictions > 0
    monkeypatch.undo()
    with pytest.raises(InvariantViolation, match="release of unpinned Buffer"):
        pool.release(buffer)
    with pytest.raises(InvariantViolation, match="mark_dirty of unpinned Buffer"):
        pool.mark_dirty(buffer)
    assert bufmgr.MAX_USAGE_COUNT                # the module under test, not a copy


def test_wal_writer_checks_are_free_when_they_pass(tmp_path, monkeypatch):
    waldir = str(tmp_path / "pg_wal")
    os.makedirs(waldir)
    wal = WalWriter(waldir, segment_size=SEGMENT_SIZE, system_identifier=1, timeline=1)
    wal.start_at(SEGMENT_SIZE, 0)
    monkeypatch.setattr(writer_module, "format_lsn", forbidden)
    for size in range(0, 3000, 7):            # records within a page and across pages
        end_lsn = wal.insert(RM_XLOG_ID, XLOG_NOOP, bytes(size))
        if size % 70 == 0:
            wal.flush(end_lsn)
    wal.flush(wal.end_lsn)
    monkeypatch.undo()
    with pytest.raises(InvariantViolation, match="past the inserted WAL"):
        wal.flush(wal.insert_lsn + 4096)
    with pytest.raises(InvariantViolation, match="invalid resource manager id 99"):
        wal.insert(99, 0, b"")
    wal.close()
