"""The minimum recovery point, and the startup process's other duties during replay.

A standby (``Engine.open(..., standby_mode=True)``: archive recovery, replaying the WAL in its
pg_wal and staying in recovery) must never write a data page whose LSN is beyond the
minRecoveryPoint stored in pg_control; it advances that point durably first. It is consistent once
replay passes the value pg_control had when replay began. Crash recovery of a primary never uses
it and clears it at its end. Also: redo of a truncation keeps dirty pages below the cut; the WAL
writer's redo pointer starts at the checkpoint's REDO point; the checkpointer takes its REDO point
atomically.
"""

from __future__ import annotations

import os
import shutil

import pytest

from mirrordb.cli.compare import compare_clusters
from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.storage import datum as T
from mirrordb.storage import page as pagelib
from mirrordb.storage.control import DBState, read_control_file, write_control_file
from mirrordb.storage.relfilenode import MAIN_FORKNUM
from mirrordb.storage.smgr import StorageManager
from mirrordb.wal import payloads
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.rmgr import RM_SMGR_ID, XLOG_SMGR_TRUNCATE

SMALL_POOL = {"shared_buffers": "128kB"}        # 16 buffers: replay must evict
KEEP_WAL = {"wal_keep_size": "1GB"}


def load(engine: Engine, first: int, count: int) -> None:
    with engine.begin() as txn:
        for key in range(first, first + count):
            txn.insert("t", [key, f"value {key:06d} " + "x" * 40])


def primary_workload(primary: str) -> int:
    """Run a workload on ``primary`` and stop it cleanly; returns an LSN in its middle."""
    engine = Engine.open(primary, KEEP_WAL)
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("val", T.TEXT_OID)])
        txn.create_index("t_pkey", "t", ["id"], unique=True)
    load(engine, 0, 1500)
    middle_lsn = engine.wal.insert_lsn
    engine.checkpoint()
    load(engine, 1500, 1500)
    with engine.begin() as txn:
        for tid, values in list(txn.scan("t")):
            if values[0] % 7 == 0:
                txn.update("t", tid, [values[0], "updated"])
    engine.close()
    return middle_lsn


def make_standby(primary: str, base: str, standby: str) -> None:
    """``base`` is a copy of the primary taken before its workload; give it the primary's WAL."""
    shutil.copytree(base, standby)
    shutil.rmtree(os.path.join(standby, "pg_wal"))
    shutil.copytree(os.path.join(primary, "pg_wal"), os.path.join(standby, "pg_wal"))


@pytest.fixture
def clusters(cluster, tmp_path):
    base = str(tmp_path / "base")
    shutil.copytree(cluster, base)
    middle_lsn = primary_workload(cluster)
    standby = str(tmp_path / "standby")
    make_standby(cluster, base, standby)
    return cluster, standby, middle_lsn


def record_ends(datadir: str, start_lsn: int) -> list[int]:
    control = read_control_file(datadir)
    with SegmentFileSource(os.path.join(datadir, "pg_wal"), 1, control.xlog_seg_size) as source:
        return [r.end_lsn for r in WalReader(source, control.xlog_seg_size).records_from(start_lsn)]


def test_standby_never_writes_a_page_past_the_stored_min_recovery_point(clusters, monkeypatch):
    primary, standby, _ = clusters
    violations: list[tuple[int, int]] = []
    written: list[int] = []
    original_write = StorageManager.write

    def checked_write(self, rnode, fork, blkno, page):  # type: ignore[no-untyped-def]
        if self.datadir == standby:
            stored = read_control_file(standby).min_recovery_point
            lsn = pagelib.get_lsn(page)
            written.append(lsn)
            if lsn > stored:
                violations.append((lsn, stored))
        return original_write(self, rnode, fork, blkno, page)

    monkeypatch.setattr(StorageManager, "write", checked_write)
    engine = Engine.open(standby, SMALL_POOL, standby_mode=True)
    startup = engine.startup
    assert startup is not None and startup.in_recovery
    assert engine.pool.stats.evictions > 0 and written
    assert violations == []
    control = read_control_file(standby)
    assert control.state == DBState.DB_IN_ARCHIVE_RECOVERY
    assert startup.min_recovery_point.updates > 0
    assert control.min_recovery_point == engine.control.min_recovery_point
    assert control.min_recovery_point <= startup.state.last_replayed_end_lsn
    assert startup.state.consistent
    assert engine.wal.flush_lsn == 0                  # a standby writes no WAL of its own

    engine.close()
    assert violations == []
    assert read_control_file(standby).state == DBState.DB_SHUTDOWNED_IN_RECOVERY
    comparisons, only_one_side = compare_clusters(primary, standby)
    assert not only_one_side
    assert all(c.identical for c in comparisons), [c.path for c in comparisons
                                                   if not c.identical]


def test_consistency_is_reached_past_the_min_recovery_point(clusters):
    primary, standby, middle_lsn = clusters
    control = read_control_file(standby)
    write_control_file(standby, control.__class__(**{**control.__dict__,
                                                     "min_recovery_point": middle_lsn,
                                                     "min_recovery_point_tli": 1}))
    engine = Engine.open(standby, SMALL_POOL, standby_mode=True)
    state = engine.startup.state  # type: ignore[union-attr]
    ends = record_ends(standby, control.checkpoint.redo)
    assert state.consistent_at_lsn == min(end for end in ends if end >= middle_lsn)
    assert state.min_recovery_point == middle_lsn
    engine.close()


def test_wal_ending_before_the_min_recovery_point_is_not_consistent(clusters):
    primary, standby, _ = clusters
    control = read_control_file(standby)
    beyond = record_ends(standby, control.checkpoint.redo)[-1] + 1024 * 1024
    write_control_file(standby, control.__class__(**{**control.__dict__,
                                                     "min_recovery_point": beyond,
                                                     "min_recovery_point_tli": 1}))
    engine = Engine.open(standby, SMALL_POOL, standby_mode=True)
    startup = engine.startup
    assert startup is not None and not startup.state.consistent
    assert read_control_file(standby).min_recovery_point == beyond   # never moved back
    with pytest.raises(MirrordbError, match="WAL ends before consistent recovery point"):
        startup.finish()
    engine.crash()


def test_crash_recovery_replays_to_the_end_and_clears_min_recovery_point(clusters):
    primary, standby, _ = clusters
    engine = Engine.open(standby, SMALL_POOL, standby_mode=True)
    engine.close()
    assert read_control_file(standby).min_recovery_point != 0
    engine = Engine.open(standby, SMALL_POOL)          # crash recovery, e.g. without a signal
    assert engine.recovery is not None and engine.recovery.needed
    control = read_control_file(standby)
    assert (control.min_recovery_point, control.min_recovery_point_tli) == (0, 0)
    assert control.state == DBState.DB_IN_PRODUCTION
    with engine.begin() as txn:
        assert len(list(txn.scan("t"))) == 3000
    assert engine.verify_indexes("t") > 3000
    engine.close()


def test_crash_recovery_with_a_small_buffer_pool(cluster):
    """Replay evicts dirty pages; a primary's crash recovery has no minRecoveryPoint to keep."""
    engine = Engine.open(cluster, KEEP_WAL)
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("val", T.TEXT_OID)])
        txn.create_index("t_pkey", "t", ["id"], unique=True)
    load(engine, 0, 3000)
    engine.crash()
    engine = Engine.open(cluster, SMALL_POOL)
    assert engine.pool.stats.evictions > 0
    assert read_control_file(cluster).min_recovery_point == 0
    with engine.begin() as txn:
        assert len(list(txn.scan("t"))) == 3000
    assert engine.verify_indexes("t") == 3000
    engine.close()


def test_redo_of_a_truncation_keeps_dirty_pages_below_the_cut(cluster):
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("val", T.TEXT_OID)])
    load(engine, 0, 600)
    engine.checkpoint()
    rnode = engine.relcache.lookup("t", None).rnode
    nblocks = engine.pool.nblocks(rnode, MAIN_FORKNUM)
    assert nblocks >= 3
    with engine.begin() as txn:                       # dirties block 0 after the checkpoint
        tid = next(tid for tid, values in txn.scan("t") if tid[0] == 0)
        txn.update("t", tid, [-1, "changed on block 0"])
    with engine.pool.lock:                            # what a VACUUM truncation would log
        engine.pool.truncate_relation(rnode, MAIN_FORKNUM, 1)
        end_lsn = engine.wal.insert(RM_SMGR_ID, XLOG_SMGR_TRUNCATE, payloads.SmgrTruncate(
            1, rnode, payloads.SMGR_TRUNCATE_ALL).encode())
    engine.wal.flush(end_lsn)
    with engine.begin() as txn:
        expected = sorted(values for _, values in txn.scan("t"))
    assert (-1, "changed on block 0") in expected
    engine.crash()

    engine = Engine.open(cluster)
    assert engine.pool.nblocks(rnode, MAIN_FORKNUM) == 1
    with engine.begin() as txn:
        assert sorted(values for _, values in txn.scan("t")) == expected
    engine.close()


def test_wal_writer_redo_pointer_starts_at_the_checkpoint_redo(cluster):
    engine = Engine.open(cluster)
    engine.close()
    engine = Engine.open(cluster)
    assert engine.recovery is not None and not engine.recovery.needed
    assert engine.wal.redo_lsn == engine.control.checkpoint.redo
    assert engine.wal.redo_lsn < engine.wal.insert_lsn
    engine.close()


def test_checkpointer_takes_its_redo_point_atomically(cluster, monkeypatch):
    engine = Engine.open(cluster)

    def racy(redo_lsn: int) -> None:
        raise AssertionError("the checkpointer must use set_redo_lsn_to_insert_lsn()")

    monkeypatch.setattr(engine.wal, "set_redo_lsn", racy)
    load_lsn = engine.wal.insert_lsn
    engine.checkpoint()
    assert engine.wal.redo_lsn == engine.control.checkpoint.redo >= load_lsn
    engine.close()
