"""PageChangeLogger: the one decision "does this change need WAL" (wal_level=minimal skipping).

With a real buffer pool, WAL writer and B-tree in tmp_path: a skipped index takes thousands of
inserts (splits included) without a single WAL record, every change stamps a new fake LSN below
any real WAL position, and ``sync_at_commit`` then logs full-page images whose replay into an empty
directory reproduces the pages byte for byte.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from mirrordb.access.env import FAKE_LSN_LIMIT, WAL_LEVEL_MINIMAL, PageChangeLogger
from mirrordb.access.nbtree import BTree
from mirrordb.recovery.redo import RedoContext, dispatch
from mirrordb.recovery import builtin_redo  # noqa: F401  (registers XLOG_FPI redo)
from mirrordb.storage import datum
from mirrordb.storage import page as pagelib
from mirrordb.storage.bufmgr import BufferPool
from mirrordb.storage.relfilenode import MAIN_FORKNUM, RelFileNode
from mirrordb.storage.smgr import StorageManager
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.rmgr import RM_XLOG_ID, XLOG_FPI
from mirrordb.wal.writer import WalWriter

SEGMENT_SIZE = 1024 * 1024
INDEX = RelFileNode(1663, 5, 16384)
OTHER = RelFileNode(1663, 5, 16390)
NBUFFERS = 16                      # fewer than the index has pages: evictions write fake LSNs


def setup(directory: Path, wal_level: str = WAL_LEVEL_MINIMAL
          ) -> tuple[StorageManager, BufferPool, WalWriter, PageChangeLogger]:
    waldir = str(directory / "pg_wal")
    os.makedirs(waldir)
    smgr = StorageManager(str(directory))
    wal = WalWriter(waldir, segment_size=SEGMENT_SIZE, system_identifier=1, timeline=1)
    wal.start_at(SEGMENT_SIZE, 0)
    pool = BufferPool(smgr, NBUFFERS, wal.flush)
    return smgr, pool, wal, PageChangeLogger(pool, wal, wal_level=wal_level, smgr=smgr,
                                             wal_skip_threshold_bytes=1 << 30)


def make_index(smgr: StorageManager, pool: BufferPool, wal: WalWriter,
               logger: PageChangeLogger, rnode: RelFileNode = INDEX) -> BTree:
    smgr.create(rnode, MAIN_FORKNUM)
    logger.relation_created(rnode)
    tree = BTree(pool, wal, rnode, [datum.INT8_OID], unique=False, change_logger=logger)
    tree.build_empty()
    return tree


def page_lsns(pool: BufferPool, rnode: RelFileNode) -> list[int]:
    lsns = []
    for blkno in range(pool.nblocks(rnode, MAIN_FORKNUM)):
        buffer = pool.read_buffer(rnode, MAIN_FORKNUM, blkno)
        lsns.append(pagelib.get_lsn(buffer.page))
        pool.release(buffer)
    return lsns


def test_replica_never_skips(tmp_path):
    smgr, pool, wal, logger = setup(tmp_path, "replica")
    assert logger.relation_created(INDEX) is False
    assert logger.needs_wal(INDEX)


def test_skipped_index_writes_no_wal_and_images_replay_exactly(tmp_path):
    smgr, pool, wal, logger = setup(tmp_path / "primary")
    tree = make_index(smgr, pool, wal, logger)
    assert not logger.needs_wal(INDEX) and logger.needs_wal(OTHER)
    keys = list(range(4000))
    random.Random(3).shuffle(keys)
    start_lsn = wal.insert_lsn
    for key in keys:
        tree.insert((key,), (key // 100, key % 100 + 1))
    assert wal.insert_lsn == start_lsn
    assert [key for (key,), _ in tree.all_entries()] == sorted(keys)
    assert tree.check() == len(keys)
    nblocks = pool.nblocks(INDEX, MAIN_FORKNUM)
    assert nblocks > NBUFFERS and pool.stats.evictions
    assert all(0 < lsn < FAKE_LSN_LIMIT for lsn in page_lsns(pool, INDEX))

    logger.sync_at_commit([INDEX])
    assert logger.needs_wal(INDEX) and logger.skipped_relations() == []
    wal.flush(wal.end_lsn)
    assert all(lsn > start_lsn for lsn in page_lsns(pool, INDEX))
    with SegmentFileSource(str(tmp_path / "primary" / "pg_wal"), 1, SEGMENT_SIZE) as source:
        records = list(WalReader(source, SEGMENT_SIZE).records_from(start_lsn))
    assert records and all(r.rmid == RM_XLOG_ID and r.info & 0xF0 == XLOG_FPI for r in records)
    assert sum(len(r.blocks) for r in records) == nblocks

    replica_smgr = StorageManager(str(tmp_path / "replica"))
    replica_pool = BufferPool(replica_smgr, 64, lambda lsn: None)
    context = RedoContext(replica_pool)
    for record in records:
        dispatch(context, record)
    for blkno in range(nblocks):
        mine = pool.read_buffer(INDEX, MAIN_FORKNUM, blkno)
        theirs = replica_pool.read_buffer(INDEX, MAIN_FORKNUM, blkno)
        assert bytes(mine.page) == bytes(theirs.page), blkno
        pool.release(mine)
        replica_pool.release(theirs)

    tree.insert((5000,), (99, 1))                   # logged again from now on
    assert wal.insert_lsn > records[-1].end_lsn


def test_fake_lsns_are_new_for_every_change_and_wrap_below_real_wal(tmp_path):
    smgr, pool, wal, logger = setup(tmp_path)
    tree = make_index(smgr, pool, wal, logger)
    logger._skipped[INDEX] = FAKE_LSN_LIMIT - 3        # as after a million changes
    seen = []
    for key in range(4):
        tree.insert((key,), (0, key + 1))
        seen.append(page_lsns(pool, INDEX)[1])       # the root leaf
    assert seen == [FAKE_LSN_LIMIT - 2, FAKE_LSN_LIMIT - 1, 1, 2]
    assert tree.check() == 4


def test_forget_stops_skipping_and_large_relations_are_fsynced(tmp_path):
    smgr, pool, wal, logger = setup(tmp_path)
    make_index(smgr, pool, wal, logger)
    logger.forget([INDEX])
    assert logger.needs_wal(INDEX)
    logger.wal_skip_threshold_bytes = 0
    tree = make_index(smgr, pool, wal, logger, OTHER)
    tree.insert((1,), (0, 1))
    start_lsn = wal.insert_lsn
    logger.sync_at_commit([OTHER])
    assert wal.insert_lsn == start_lsn
    assert pool.dirty_snapshot() == [] or all(b.tag[0] != OTHER for b in pool.dirty_snapshot())
    assert smgr.nblocks(OTHER) == 2
