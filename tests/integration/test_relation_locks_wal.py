"""AccessExclusiveLocks in the WAL, through the engine API: the first one a (sub)transaction takes
on a relation is a standby LOCK record under the xid that holds it, and its commit or abort record
says XACT_XINFO_HAS_AE_LOCKS; a checkpoint logs the held ones before RUNNING_XACTS; nothing is
logged under wal_level = minimal. pg_waldump 15 describes the records as PostgreSQL's
("LOCK xid N db 5 rel N"). Also the engine's side of autovacuum and the locks: it skips a table
another transaction holds.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading

from mirrordb.access.lmgr import LockMode
from mirrordb.common.lsn import format_lsn
from mirrordb.engine import Engine
from mirrordb.storage import datum as T
from mirrordb.wal import payloads, rmgr
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.record import DecodedRecord
from tests.conftest import pg_tool


def records(engine: Engine, start_lsn: int) -> list[DecodedRecord]:
    engine.wal.flush(engine.wal.insert_lsn)
    segment_size = engine.control.xlog_seg_size
    with SegmentFileSource(os.path.join(engine.datadir, "pg_wal"), 1, segment_size) as source:
        return list(WalReader(source, segment_size).records_from(start_lsn))


def lock_records(found: list[DecodedRecord]) -> list[tuple[int, tuple[tuple[int, int, int], ...]]]:
    """(record xid, its locks) of every standby LOCK record."""
    return [(record.xid, payloads.StandbyLocks.decode(record.main_data).locks)
            for record in found if record.rmid == rmgr.RM_STANDBY_ID and
            record.info & rmgr.XLR_RMGR_INFO_MASK == rmgr.XLOG_STANDBY_LOCK]


def xact_flags(found: list[DecodedRecord], xid: int) -> int:
    record, = [r for r in found if r.rmid == rmgr.RM_XACT_ID and r.xid == xid]
    return payloads.decode_xact_record(record.info, record.main_data).xinfo


def test_lock_records_commit_flags_and_checkpoint(cluster) -> None:
    engine = Engine.open(cluster)
    try:
        start = engine.wal.insert_lsn
        with engine.begin() as txn:
            table = txn.create_table("t", [("id", T.INT4_OID)])
            created_by = txn.xid
        found = records(engine, start)
        assert lock_records(found) == [(created_by, ((created_by, 5, table.oid),))]
        assert xact_flags(found, created_by) & payloads.XACT_XINFO_HAS_AE_LOCKS

        start = engine.wal.insert_lsn
        txn = engine.begin(read_only=True)        # LOCK TABLE is allowed there: it gets an xid
        txn.lock_relation(table.oid, LockMode.SHARE)
        txn.savepoint("s")
        txn.lock_relation(table.oid, LockMode.ACCESS_EXCLUSIVE)
        txn.lock_relation(table.oid, LockMode.ACCESS_EXCLUSIVE)   # held: logged once
        top, sub = txn.transaction.all_xids()
        checkpoint_lsn = engine.wal.insert_lsn
        engine.checkpoint()
        txn.rollback_to_savepoint("s")
        txn.commit()
        found = records(engine, start)
        assert lock_records(found) == [
            (sub, ((sub, 5, table.oid),)),
            (0, ((top, 5, table.oid),))]           # the checkpoint's: under the top-level xid
        after_checkpoint = [r for r in found if r.start_lsn >= checkpoint_lsn]
        kinds = [(r.rmid, r.info & rmgr.XLR_RMGR_INFO_MASK) for r in after_checkpoint]
        assert kinds[:2] == [(rmgr.RM_STANDBY_ID, rmgr.XLOG_STANDBY_LOCK),
                             (rmgr.RM_STANDBY_ID, rmgr.XLOG_RUNNING_XACTS)]
        assert xact_flags(found, sub) & payloads.XACT_XINFO_HAS_AE_LOCKS   # subxact abort
        assert xact_flags(found, top) & payloads.XACT_XINFO_HAS_AE_LOCKS
        end = engine.wal.insert_lsn
    finally:
        engine.close()
    pg_waldump = pg_tool("pg_waldump")
    result = subprocess.run([pg_waldump, "-p", os.path.join(cluster, "pg_wal"), "-s",
                             format_lsn(start), "-e", format_lsn(end), "-r", "Standby"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    described = re.findall(r"desc: (LOCK .*?)\s*$", result.stdout, re.MULTILINE)
    assert described == [f"LOCK xid {sub} db 5 rel {table.oid}",
                         f"LOCK xid {top} db 5 rel {table.oid}"]


def test_wal_level_minimal_logs_no_locks(cluster) -> None:
    engine = Engine.open(cluster, {"wal_level": "minimal", "max_wal_senders": "0"})
    try:
        start = engine.wal.insert_lsn
        with engine.begin() as txn:
            txn.create_table("t", [("id", T.INT4_OID)])
        with engine.begin() as txn:
            txn.truncate("t")
        assert lock_records(records(engine, start)) == []
    finally:
        engine.close()


def test_autovacuum_skips_a_table_another_transaction_locked(cluster) -> None:
    engine = Engine.open(cluster)
    try:
        with engine.begin() as txn:
            relid = txn.create_table("t", [("id", T.INT4_OID)]).oid
        holder = engine.begin()
        holder.lock_relation(relid, LockMode.SHARE_ROW_EXCLUSIVE)
        assert engine.autovacuum_table(relid, threading.Event()) is None
        holder.commit()
        assert engine.autovacuum_table(relid, threading.Event()) is True
    finally:
        engine.close()
