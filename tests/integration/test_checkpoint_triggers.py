"""The checkpointer thread starts checkpoints on its own: when ``checkpoint_timeout`` has passed and
when the WAL written since the last REDO point grows past its share of ``max_wal_size``.

A checkpoint is observed the way pg_controldata would: ``global/pg_control`` on disk points at a new
checkpoint record. Every wait polls that file with a deadline. After the triggered checkpoint a
crash must start recovery at (or after) its REDO point and lose nothing committed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from mirrordb.engine import Engine
from mirrordb.recovery import checkpoint as checkpointlib
from mirrordb.storage import datum as T
from mirrordb.storage.control import ControlFile, DBState, read_control_file
from mirrordb.wal import payloads
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.record import DecodedRecord
from mirrordb.wal.rmgr import RM_STANDBY_ID, XLOG_RUNNING_XACTS
from mirrordb.wal.segment import is_segment_name, parse_segment_name
from mirrordb.wal.writer import MAX_RECYCLED_SEGMENTS

DEADLINE_S = 20.0
POLL_S = 0.02
MAX_WAL_SIZE_MB = 2


def make_table(engine: Engine) -> None:
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("payload", T.TEXT_OID)])
        txn.create_index("t_pkey", "t", ["id"], unique=True, primary=True)


def insert_rows(engine: Engine, first: int, count: int, width: int = 400) -> None:
    with engine.begin() as txn:
        for key in range(first, first + count):
            txn.insert("t", [key, "x" * width])


def wait_for_new_checkpoint(datadir: str, previous_lsn: int,
                            between_polls: Callable[[], None] = lambda: None) -> ControlFile:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        control = read_control_file(datadir)
        if control.checkpoint_lsn != previous_lsn:
            return control
        if time.monotonic() > deadline:
            raise AssertionError("no checkpoint before the deadline")
        between_polls()
        time.sleep(POLL_S)


def keys(engine: Engine) -> list[int]:
    with engine.begin() as txn:
        return sorted(int(values[0]) for _, values in txn.scan("t"))  # type: ignore[call-overload]


def recover_and_check(cluster: str, redo_lsn: int, expected_keys: list[int]) -> None:
    engine = Engine.open(cluster)
    try:
        assert engine.recovery.needed
        assert engine.recovery.redo_start_lsn >= redo_lsn
        assert keys(engine) == expected_keys
        engine.verify_indexes("t")
    finally:
        engine.close()


def test_checkpoint_timeout_starts_checkpoints(cluster: str) -> None:
    before_open = time.monotonic()  # the checkpointer's clock starts inside Engine.open
    engine = Engine.open(cluster, {"checkpoint_timeout": "1s"})
    try:
        make_table(engine)
        insert_rows(engine, 0, 50)
        written_lsn = engine.wal.insert_lsn
        before = read_control_file(cluster)
        first = wait_for_new_checkpoint(cluster, before.checkpoint_lsn)
        first_seen = time.monotonic()
        assert first_seen - before_open >= 0.99, "checkpoint before checkpoint_timeout elapsed"
        assert first.checkpoint.redo >= written_lsn
        assert first.checkpoint_lsn >= first.checkpoint.redo
        assert first.state == DBState.DB_IN_PRODUCTION  # online, not a shutdown checkpoint
        assert first.checkpoint.oldest_active_xid != 0
        insert_rows(engine, 50, 5)    # activity since: the next timed checkpoint is not skipped
        second = wait_for_new_checkpoint(cluster, first.checkpoint_lsn)  # and again, periodically
        assert second.checkpoint.redo > first.checkpoint.redo
        # pg_control is written before the checkpoint is counted: wait for it to finish
        deadline = time.monotonic() + DEADLINE_S
        while engine.checkpointer.checkpoints_done < 2 and time.monotonic() < deadline:
            time.sleep(POLL_S)
        assert engine.checkpointer.checkpoints_done >= 2
        insert_rows(engine, 55, 5)
    except BaseException:
        engine.close()
        raise
    engine.crash()
    recover_and_check(cluster, second.checkpoint.redo, list(range(60)))


def test_idle_server_skips_timed_checkpoints_and_writes_no_wal(cluster: str) -> None:
    """PostgreSQL's rule: a timed checkpoint with nothing important logged since the last
    checkpoint record is skipped, so an idle server writes no WAL (its own checkpoint's standby
    snapshot does not count as activity)."""
    engine = Engine.open(cluster, {"checkpoint_timeout": "1s"})
    try:
        make_table(engine)
        before = read_control_file(cluster)
        after_write = wait_for_new_checkpoint(cluster, before.checkpoint_lsn)
        deadline = time.monotonic() + DEADLINE_S
        while engine.checkpointer.checkpoints_done < 1 and time.monotonic() < deadline:
            time.sleep(POLL_S)
        idle_from_lsn = engine.wal.insert_lsn
        done = engine.checkpointer.checkpoints_done
        # three more checkpoint_timeouts pass with nothing written: no checkpoint, no WAL
        idle_until = time.monotonic() + 3.2
        while time.monotonic() < idle_until:
            time.sleep(0.1)
        assert engine.checkpointer.checkpoints_done == done
        assert read_control_file(cluster).checkpoint_lsn == after_write.checkpoint_lsn
        assert engine.wal.insert_lsn == idle_from_lsn
        # activity again: the next timed checkpoint runs
        insert_rows(engine, 0, 3)
        wait_for_new_checkpoint(cluster, after_write.checkpoint_lsn)
    finally:
        engine.close()


def _segment_numbers(cluster: str, segment_size: int) -> list[int]:
    names = [n for n in os.listdir(os.path.join(cluster, "pg_wal")) if is_segment_name(n)]
    return sorted(parse_segment_name(name, segment_size)[1] for name in names)


def test_max_wal_size_starts_a_checkpoint(cluster: str) -> None:
    max_wal_bytes = MAX_WAL_SIZE_MB * 1024 * 1024
    engine = Engine.open(cluster, {"max_wal_size": f"{MAX_WAL_SIZE_MB}MB"})
    next_key = 0
    try:
        make_table(engine)
        before = read_control_file(cluster)
        segment_size = before.xlog_seg_size

        def write_until_past_max_wal_size() -> None:
            nonlocal next_key
            if engine.wal.insert_lsn - before.checkpoint.redo < max_wal_bytes:
                insert_rows(engine, next_key, 40)
                next_key += 40

        # checkpoint_timeout is 5 minutes: only the WAL volume can start this checkpoint
        after = wait_for_new_checkpoint(cluster, before.checkpoint_lsn,
                                        write_until_past_max_wal_size)
        distance = after.checkpoint.redo - before.checkpoint.redo
        assert distance >= max_wal_bytes // 3, f"checkpoint after only {distance} bytes of WAL"
        # pg_control is written before old segments go and the checkpoint is counted: wait for
        # the checkpoint to finish before looking at either
        deadline = time.monotonic() + DEADLINE_S
        while engine.checkpointer.checkpoints_done < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.checkpointer.checkpoints_done >= 1
        # the segments wholly before the new REDO point were recycled or removed
        present = _segment_numbers(cluster, segment_size)
        redo_segno = after.checkpoint.redo // segment_size
        insert_segno = engine.wal.insert_lsn // segment_size
        assert all(segno >= redo_segno for segno in present), (present, redo_segno)
        assert len(present) <= insert_segno - redo_segno + 1 + MAX_RECYCLED_SEGMENTS
        insert_rows(engine, next_key, 5)
        next_key += 5
    except BaseException:
        engine.close()
        raise
    engine.crash()
    recover_and_check(cluster, after.checkpoint.redo, list(range(next_key)))


def test_no_checkpoint_below_max_wal_size_or_timeout(cluster: str) -> None:
    """Control: with a big max_wal_size and a long timeout, the same writes start none."""
    engine = Engine.open(cluster, {"max_wal_size": "1GB", "checkpoint_timeout": "5min"})
    try:
        make_table(engine)
        before = read_control_file(cluster)
        started = time.monotonic()
        key = 0
        # at least two checkpointer polls with WAL being written
        while time.monotonic() - started < 2.5 * checkpointlib.CHECKPOINTER_POLL_S:
            insert_rows(engine, key, 40)
            key += 40
        assert read_control_file(cluster).checkpoint_lsn == before.checkpoint_lsn
        assert engine.checkpointer.checkpoints_done == 0
    finally:
        engine.close()


def _records_between(engine: Engine, start_lsn: int, end_lsn: int) -> list[DecodedRecord]:
    waldir = os.path.join(engine.datadir, "pg_wal")
    with SegmentFileSource(waldir, engine.wal.timeline, engine.wal.segment_size) as source:
        reader = WalReader(source, engine.wal.segment_size)
        records = []
        for record in reader.records_from(start_lsn):
            records.append(record)
            if record.end_lsn >= end_lsn:
                return records
    raise AssertionError("the WAL ended before the expected record")


def test_standby_snapshot_logged_periodically_after_activity(
        cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's background writer logs RUNNING_XACTS every LOG_SNAPSHOT_INTERVAL_MS when
    important WAL came since the last one, and never on an idle server."""
    monkeypatch.setattr(checkpointlib, "CHECKPOINTER_POLL_S", 0.05)
    monkeypatch.setattr(checkpointlib, "LOG_SNAPSHOT_INTERVAL_S", 0.3)
    engine = Engine.open(cluster, {"checkpoint_timeout": "5min"})
    checkpointer = engine.checkpointer

    def snapshot_after(lsn: int) -> int:
        deadline = time.monotonic() + DEADLINE_S
        while checkpointer.last_snapshot_lsn <= lsn:
            assert time.monotonic() < deadline, "no standby snapshot before the deadline"
            time.sleep(POLL_S)
        return checkpointer.last_snapshot_lsn

    try:
        make_table(engine)
        activity_lsn = engine.wal.insert_lsn
        first_end = snapshot_after(activity_lsn)
        last = _records_between(engine, activity_lsn, first_end)[-1]
        assert (last.rmid, last.rmgr_info) == (RM_STANDBY_ID, XLOG_RUNNING_XACTS)
        assert payloads.RunningXacts.decode(last.main_data).xids == ()
        # idle: several intervals pass, nothing more is logged
        idle_until = time.monotonic() + 4 * checkpointlib.LOG_SNAPSHOT_INTERVAL_S
        while time.monotonic() < idle_until:
            time.sleep(POLL_S)
        assert checkpointer.last_snapshot_lsn == first_end
        assert engine.wal.insert_lsn == first_end
        # a transaction in progress is listed by the next snapshot
        txn = engine.begin()
        try:
            txn.insert("t", [1, "open"])
            xid = txn.xid
            busy_lsn = engine.wal.insert_lsn
            second_end = snapshot_after(busy_lsn)
            last = _records_between(engine, busy_lsn, second_end)[-1]
            assert (last.rmid, last.rmgr_info) == (RM_STANDBY_ID, XLOG_RUNNING_XACTS)
            assert payloads.RunningXacts.decode(last.main_data).xids == (xid,)
        finally:
            txn.abort()
    finally:
        engine.close()


def test_archive_timeout_ignores_housekeeping_records(cluster: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """archive_timeout switches a segment only when important WAL waits in it: a standby
    snapshot alone (housekeeping) does not make an idle server archive a segment."""
    monkeypatch.setattr(checkpointlib, "CHECKPOINTER_POLL_S", 0.05)
    engine = Engine.open(cluster, {"archive_timeout": "1s", "checkpoint_timeout": "5min"})
    segment_size = engine.wal.segment_size
    try:
        make_table(engine)
        written_segment = engine.wal.insert_lsn // segment_size
        deadline = time.monotonic() + DEADLINE_S
        while engine.wal.insert_lsn // segment_size == written_segment:
            assert time.monotonic() < deadline, "archive_timeout did not switch the segment"
            time.sleep(POLL_S)
        snapshot_end = engine.checkpointer.log_standby_snapshot()
        assert snapshot_end // segment_size == written_segment + 1
        idle_until = time.monotonic() + 2.5    # more than two archive_timeouts
        while time.monotonic() < idle_until:
            time.sleep(POLL_S)
        assert engine.wal.insert_lsn == snapshot_end   # no switch for the snapshot alone
        insert_rows(engine, 0, 2)                      # important WAL: switched again
        while engine.wal.insert_lsn // segment_size == written_segment + 1:
            assert time.monotonic() < deadline + 5, "no switch after important WAL"
            time.sleep(POLL_S)
    finally:
        engine.close()
