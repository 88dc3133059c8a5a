"""The commit path of synchronous replication in an in-process engine (access/xact.py): the wait
comes after the local flush and before the commit becomes visible; the session's level reaches
the hook; remote_apply commit records carry XACT_COMPLETION_APPLY_FEEDBACK; a cancelled wait's
warning stays with the transaction and a terminated one raises once the commit is complete;
a session's synchronous_commit = off starts the WAL writer that flushes its commit."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from mirrordb.access.xact import CommitWaitOutcome, Proc
from mirrordb.common.errors import AdminShutdown, MirrordbError
from mirrordb.engine import Engine
from mirrordb.storage import datum as T
from mirrordb.wal import payloads
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.rmgr import RM_XACT_ID
from mirrordb.wal.writer import WAL_WRITER_THREAD_NAME

DEADLINE_S = 10.0
POLL_S = 0.01


@pytest.fixture
def engine(cluster: str) -> Any:
    engine = Engine.open(cluster, {"wal_writer_delay": "10ms"})
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID)])
    yield engine
    engine.close()


def insert(engine: Engine, key: int, level: str | None) -> Any:
    txn = engine.begin()
    txn.insert("t", [key])
    txn.transaction.synchronous_commit = level
    return txn


def keys(engine: Engine) -> list[int]:
    with engine.begin() as txn:
        return sorted(int(values[0]) for _, values in txn.scan("t"))  # type: ignore[call-overload]


def poll(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_S)


class BlockingHook:
    """Stands for SyncRep.wait_for_commit: records each call, waits until told to finish."""

    def __init__(self, engine: Engine, outcome: CommitWaitOutcome | None = None) -> None:
        self.engine = engine
        self.outcome = outcome
        self.calls: list[tuple[int, str, bool]] = []
        self.release = threading.Event()

    def __call__(self, end_lsn: int, level: str, proc: Proc) -> CommitWaitOutcome | None:
        self.calls.append((end_lsn, level, self.engine.wal.flush_lsn >= end_lsn))
        self.release.wait(DEADLINE_S)
        return self.outcome


def test_the_wait_comes_after_the_flush_and_before_visibility(engine):
    hook = BlockingHook(engine)
    engine.xacts.wait_for_sync_rep = hook
    txn = insert(engine, 1, "on")
    committer = threading.Thread(target=txn.commit)
    committer.start()
    poll(lambda: hook.calls, "the commit to reach the wait")
    end_lsn, level, flushed = hook.calls[0]
    assert level == "on" and flushed              # durable locally already
    assert keys(engine) == []                     # not visible while it waits
    hook.release.set()
    committer.join(DEADLINE_S)
    assert keys(engine) == [1]


@pytest.mark.parametrize(("level", "flag"), [
    ("remote_apply", payloads.XACT_COMPLETION_APPLY_FEEDBACK), ("on", 0), ("remote_write", 0),
    ("local", 0)])
def test_only_remote_apply_asks_the_standby_for_apply_feedback(engine, level, flag):
    start_lsn = engine.wal.insert_lsn
    insert(engine, 2, level).commit()
    engine.wal.flush(engine.wal.insert_lsn)
    wal = engine.wal
    with SegmentFileSource(wal.waldir, wal.timeline, wal.segment_size) as source:
        commits = [payloads.decode_xact_record(record.info, record.main_data)
                   for record in WalReader(source, wal.segment_size).records_from(start_lsn)
                   if record.rmid == RM_XACT_ID]
    assert len(commits) == 1
    assert commits[0].xinfo & payloads.XACT_COMPLETION_APPLY_FEEDBACK == flag


def test_a_cancelled_wait_leaves_a_warning_and_the_commit(engine):
    warning = MirrordbError("canceling wait", sqlstate="01000")
    hook = BlockingHook(engine, CommitWaitOutcome(warning))
    hook.release.set()
    engine.xacts.wait_for_sync_rep = hook
    txn = insert(engine, 3, "remote_write")
    txn.commit()
    assert txn.transaction.commit_warning is warning
    assert keys(engine) == [3]


def test_a_terminated_wait_raises_after_the_commit(engine):
    hook = BlockingHook(engine, CommitWaitOutcome(MirrordbError("w"), AdminShutdown("bye")))
    hook.release.set()
    engine.xacts.wait_for_sync_rep = hook
    with pytest.raises(AdminShutdown):
        insert(engine, 4, "on").commit()
    assert keys(engine) == [4]                    # committed locally all the same


def test_off_and_local_flush_as_before_and_off_starts_the_wal_writer(engine):
    hook = BlockingHook(engine)
    hook.release.set()
    engine.xacts.wait_for_sync_rep = hook
    local_end = insert(engine, 5, "local").commit()
    assert engine.wal.flush_lsn >= local_end
    assert not any(t.name == WAL_WRITER_THREAD_NAME for t in threading.enumerate())
    off_end = insert(engine, 6, "off").commit()
    assert any(t.name == WAL_WRITER_THREAD_NAME for t in threading.enumerate())
    poll(lambda: engine.wal.flush_lsn >= off_end, "the WAL writer to flush the off commit")
    assert [call[1] for call in hook.calls] == ["local"]   # off never reaches the hook


def test_a_transaction_without_a_session_level_never_waits(engine):
    hook = BlockingHook(engine)
    engine.xacts.wait_for_sync_rep = hook
    hook.release.set()
    insert(engine, 7, None).commit()
    assert [call[1] for call in hook.calls] == ["local"]
