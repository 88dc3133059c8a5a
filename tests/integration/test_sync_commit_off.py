"""synchronous_commit = off: COMMIT returns once its record is inserted, before the WAL flush; the
background WAL writer ("walwriter" thread) flushes within wal_writer_delay; a crash keeps every
commit older than the last flush and may lose the ones after it (PostgreSQL's asynchronous commit).

Waits poll ``engine.wal.flush_lsn`` with a deadline; ``Engine.crash()`` drops unflushed WAL.
"""

from __future__ import annotations

import threading
import time

from mirrordb.engine import Engine
from mirrordb.storage import datum as T
from mirrordb.wal.writer import WAL_WRITER_THREAD_NAME

POLL_S = 0.005
WAL_WRITER_DELAY_MS = 200
SCHEDULING_SLACK_S = 2.0  # a busy 2-core machine can starve the walwriter thread


def make_table_synchronously(cluster: str) -> None:
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID)])
        txn.create_index("t_pkey", "t", ["id"], unique=True, primary=True)
    engine.close()


def commit_row(engine: Engine, key: int) -> int:
    txn = engine.begin()
    txn.insert("t", [key])
    return txn.commit()


def keys(engine: Engine) -> list[int]:
    with engine.begin() as txn:
        return sorted(int(values[0]) for _, values in txn.scan("t"))  # type: ignore[call-overload]


def walwriter_running() -> bool:
    return any(thread.name == WAL_WRITER_THREAD_NAME for thread in threading.enumerate())


def test_commit_returns_before_the_flush(cluster: str) -> None:
    make_table_synchronously(cluster)
    # a delay far longer than the test: only a commit could flush, and it must not
    engine = Engine.open(cluster, {"synchronous_commit": "off", "wal_writer_delay": "60s"})
    try:
        assert walwriter_running()
        syncs_before = engine.wal.fdatasync_count
        end_lsns = [commit_row(engine, key) for key in range(5)]
        assert all(end_lsn > engine.wal.flush_lsn for end_lsn in end_lsns)
        assert engine.wal.fdatasync_count == syncs_before
        assert keys(engine) == list(range(5))  # acknowledged: visible to everyone at once
    except BaseException:
        engine.close()
        raise
    engine.crash()  # nothing flushed them: they are gone, which asynchronous commit allows
    engine = Engine.open(cluster)
    try:
        assert keys(engine) == []
        engine.verify_indexes("t")
    finally:
        engine.close()


def test_wal_writer_flushes_within_its_delay_and_the_commit_survives_a_crash(
        cluster: str) -> None:
    make_table_synchronously(cluster)
    engine = Engine.open(cluster, {"synchronous_commit": "off",
                                   "wal_writer_delay": f"{WAL_WRITER_DELAY_MS}ms"})
    try:
        end_lsn = commit_row(engine, 1)
        committed_at = time.monotonic()
        deadline = committed_at + WAL_WRITER_DELAY_MS / 1000 + SCHEDULING_SLACK_S
        while engine.wal.flush_lsn < end_lsn:  # no other commit or checkpoint will flush it
            assert time.monotonic() < deadline, "the WAL writer did not flush within its delay"
            time.sleep(POLL_S)
        flushed_after_s = time.monotonic() - committed_at
        assert engine.wal.background_error is None
    except BaseException:
        engine.close()
        raise
    engine.crash()
    engine = Engine.open(cluster)
    try:
        assert engine.recovery.needed
        assert keys(engine) == [1], f"flushed after {flushed_after_s:.3f}s"
        engine.verify_indexes("t")
    finally:
        engine.close()


def test_synchronous_commit_flushes_earlier_asynchronous_ones(cluster: str) -> None:
    """A synchronous commit's flush covers every record before it, async commits included."""
    make_table_synchronously(cluster)
    engine = Engine.open(cluster, {"synchronous_commit": "off", "wal_writer_delay": "60s"})
    try:
        commit_row(engine, 1)
        engine.xacts.synchronous_commit = True  # SET synchronous_commit = on for one commit
        end_lsn = commit_row(engine, 2)
        assert engine.wal.flush_lsn >= end_lsn
        engine.xacts.synchronous_commit = False
        commit_row(engine, 3)  # after the last flush: may be lost
    except BaseException:
        engine.close()
        raise
    engine.crash()
    engine = Engine.open(cluster)
    try:
        assert keys(engine) == [1, 2]
    finally:
        engine.close()
