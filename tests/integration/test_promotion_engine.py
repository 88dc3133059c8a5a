"""Promotion of a standby Engine in this process (recovery/promote.py, no server processes).

The primary is an ``Engine``; the standby a copy of its data directory opened with
``standby_mode=True``, fed by copying WAL segment files (what the walreceiver does). These
tests craft what a walreceiver can leave behind when its primary dies: a record cut in the
middle (the rest of the segment zero, as the walreceiver creates segments), and check that
promotion cuts it as crash recovery does, writes XLOG_END_OF_RECOVERY exactly there, aborts the
primary's unfinished transactions, continues xids and OIDs, and that a crash right after
promotion recovers as a primary. One test pins the OID counter a checkpoint records.
"""

from __future__ import annotations

import os
import shutil

import pytest

from mirrordb.engine import Engine
from mirrordb.recovery import promote
from mirrordb.storage import datum as T
from mirrordb.storage.control import DBState, read_control_file
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.rmgr import RM_XLOG_ID, XLOG_END_OF_RECOVERY, XLR_RMGR_INFO_MASK
from mirrordb.wal.segment import segment_path


def ship_wal(primary: Engine, standby: Engine, *, cut_last_record: bool = False) -> None:
    """Copy the primary's WAL into the standby's pg_wal; with ``cut_last_record`` only the
    first half of the last record arrives (the rest of its bytes are zero)."""
    wal = primary.wal
    wal.flush(wal.end_lsn)
    source, target = (os.path.join(engine.datadir, "pg_wal") for engine in (primary, standby))
    for name in sorted(os.listdir(source)):
        if len(name) == 24:
            shutil.copyfile(os.path.join(source, name), os.path.join(target, name))
    if cut_last_record:
        start, end = wal.last_record_start_lsn, wal.end_lsn
        zero_wal(standby, start + (end - start) // 2, end)


def zero_wal(engine: Engine, start_lsn: int, end_lsn: int) -> None:
    segment_size = engine.control.xlog_seg_size
    waldir = os.path.join(engine.datadir, "pg_wal")
    position = start_lsn
    while position < end_lsn:
        segno, offset = divmod(position, segment_size)
        length = min(end_lsn - position, segment_size - offset)
        with open(segment_path(waldir, 1, segno, segment_size), "r+b") as handle:
            handle.seek(offset)
            handle.write(bytes(length))
        position += length


def ids(engine: Engine) -> set[int]:
    with engine.begin(read_only=True) as reader:
        return {values[0] for _, values in reader.scan("t")}


def record_at(engine: Engine, lsn: int) -> tuple[int, int]:
    control = engine.control
    source = SegmentFileSource(os.path.join(engine.datadir, "pg_wal"), engine.wal.timeline,
                               control.xlog_seg_size)
    try:
        record = WalReader(source, control.xlog_seg_size, control.system_identifier) \
            .read_record(lsn, None)
    finally:
        source.close()
    return record.rmid, record.info & XLR_RMGR_INFO_MASK


@pytest.fixture
def primary_and_standby(cluster, tmp_path):
    standby_dir = str(tmp_path / "standby")
    shutil.copytree(cluster, standby_dir)
    with open(os.path.join(standby_dir, promote.STANDBY_SIGNAL_FILE), "wb"):
        pass
    primary = Engine.open(cluster, {"wal_keep_size": "1GB"})
    with primary.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("val", T.TEXT_OID)])
        txn.create_index("t_id", "t", ["id"], unique=True)
    standby = Engine.open(standby_dir, standby_mode=True)
    yield primary, standby
    standby.crash()
    primary.crash()


def test_promotion_cuts_a_torn_record_and_aborts_unfinished_transactions(primary_and_standby):
    primary, standby = primary_and_standby
    with primary.begin() as txn:
        for key in range(10):
            txn.insert("t", [key, "committed"])
    unfinished = primary.begin()
    for key in range(100, 150):
        unfinished.insert("t", [key, "never committed"])
    torn = primary.begin()
    for key in range(20, 30):
        torn.insert("t", [key, "commit record torn"])
    torn.commit()
    torn_commit_lsn = primary.wal.last_record_start_lsn
    ship_wal(primary, standby, cut_last_record=True)
    assert standby.startup is not None and standby.startup.replay_available() > 0
    assert ids(standby) == set(range(10))

    result = promote.promote(standby, standby.startup.replay_available, None)

    assert result.end_lsn == torn_commit_lsn        # the new WAL starts where the cut record did
    assert standby.wal.timeline == 2                 # on a new timeline, from the cut on
    assert record_at(standby, torn_commit_lsn) == (RM_XLOG_ID, XLOG_END_OF_RECOVERY)
    assert not standby.in_recovery() and standby.xacts.hot_standby is None
    assert not os.path.exists(os.path.join(standby.datadir, promote.STANDBY_SIGNAL_FILE))
    assert read_control_file(standby.datadir).state == DBState.DB_IN_PRODUCTION
    assert ids(standby) == set(range(10))
    with standby.begin() as txn:
        assert txn.transaction.current_xid() > unfinished.xid
        for key in list(range(20, 30)) + list(range(100, 105)):   # keys the cut rows held
            txn.insert("t", [key, "after promotion"])
    standby.crash()                                  # before the requested checkpoint, maybe
    recovered = Engine.open(standby.datadir)
    try:
        assert ids(recovered) == set(range(10)) | set(range(20, 30)) | set(range(100, 105))
        assert recovered.verify_indexes("t") >= 25
    finally:
        recovered.close()
    unfinished.abort()


def test_promotion_replays_a_received_record_that_ends_the_wal(primary_and_standby):
    primary, standby = primary_and_standby
    with primary.begin() as txn:
        txn.insert("t", [1, "whole"])
    ship_wal(primary, standby)
    assert standby.startup is not None
    result = promote.promote(standby, standby.startup.replay_available, None)
    assert result.end_lsn == primary.wal.end_lsn
    assert ids(standby) == {1}


def test_promotion_before_consistency_fails_and_leaves_a_standby(primary_and_standby):
    primary, standby = primary_and_standby
    assert standby.startup is not None
    standby.startup.state.consistent_at_lsn = 0          # as if the backup's end never came
    standby.startup.state.min_recovery_point = 1 << 40
    with pytest.raises(Exception, match="WAL ends before consistent recovery point"):
        promote.promote(standby, standby.startup.replay_available, None)
    assert os.path.exists(os.path.join(standby.datadir, promote.STANDBY_SIGNAL_FILE))
    assert standby.in_recovery()


def test_online_checkpoint_records_the_logged_oid_bound(cluster):
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        txn.create_table("a", [("id", T.INT8_OID)])
    engine.checkpoint()               # online: its REDO point follows the one NEXTOID record
    with engine.begin() as txn:
        txn.create_table("b", [("id", T.INT8_OID)])
    assert read_control_file(cluster).checkpoint.next_oid >= engine.next_oid
    engine.crash()
    engine = Engine.open(cluster)
    try:
        with engine.begin() as txn:
            txn.create_table("c", [("id", T.INT8_OID)])
        oids = [engine.relcache.lookup(name, None).oid for name in ("a", "b", "c")]
        assert len(set(oids)) == 3, oids
    finally:
        engine.close()
