"""Units behind three replication rules: a base backup holds the WAL from its start (WalHolds,
the checkpointer's and a restartpoint's removal), MAX_RATE throttles the archive, and the
walreceiver refuses a primary that answers ``SHOW wal_level`` with ``minimal``."""

from __future__ import annotations

import os
import time

import pytest

from mirrordb.common.errors import InvariantViolation, MirrordbError
from mirrordb.engine import Engine
from mirrordb.recovery.checkpoint import MAX_WAL_HOLDS, WalHolds
from mirrordb.replication.basebackup import THROTTLING_FREQUENCY, ArchiveStream
from mirrordb.replication.walreceiver import StandbyIdentity, WalReceiver, WalReceiverError
from mirrordb.wal.segment import is_segment_name, parse_segment_name


def test_wal_holds_oldest_move_release():
    holds = WalHolds()
    assert holds.oldest() is None
    first = holds.hold(0)
    second = holds.hold(5000)
    assert holds.oldest() == 0
    holds.move(first, 9000)
    assert holds.oldest() == 5000
    holds.release(second)
    assert holds.oldest() == 9000
    holds.release(first)
    holds.release(first)                    # releasing twice is harmless (finally blocks)
    assert holds.oldest() is None
    with pytest.raises(InvariantViolation):
        holds.move(first, 1)


def test_wal_holds_are_bounded():
    holds = WalHolds()
    for _ in range(MAX_WAL_HOLDS):
        holds.hold(1)
    with pytest.raises(MirrordbError) as caught:
        holds.hold(1)
    assert caught.value.sqlstate == "53400"


def segment_numbers(datadir: str, segment_size: int) -> set[int]:
    return {parse_segment_name(name, segment_size)[1]
            for name in os.listdir(os.path.join(datadir, "pg_wal")) if is_segment_name(name)}


def test_checkpoints_keep_the_segments_a_backup_holds(cluster):
    engine = Engine.open(cluster)
    try:
        segment_size = engine.wal.segment_size
        held_lsn = engine.wal.insert_lsn
        held_segno = held_lsn // segment_size
        token = engine.checkpointer.wal_holds.hold(held_lsn)
        for _ in range(3):
            engine.wal.switch_segment()
            engine.checkpointer.checkpoint()
        assert engine.control.checkpoint.redo // segment_size >= held_segno + 3
        assert held_segno in segment_numbers(cluster, segment_size)

        engine.checkpointer.wal_holds.release(token)
        engine.wal.switch_segment()
        engine.checkpointer.checkpoint()
        assert held_segno not in segment_numbers(cluster, segment_size)   # the hold mattered
    finally:
        engine.close()


def test_max_rate_throttles_the_archive():
    sent: list[bytes] = []
    max_rate_kb = 256
    stream = ArchiveStream(sent.append, None, max_rate_kb=max_rate_kb)
    payload = bytes(max_rate_kb * 1024 // 2)          # half a second's worth
    started = time.monotonic()
    stream._data(payload)
    elapsed_s = time.monotonic() - started
    assert b"".join(piece[1:] for piece in sent) == payload
    assert all(piece[:1] == b"d" for piece in sent)
    assert len(sent) == THROTTLING_FREQUENCY // 2
    assert elapsed_s >= 0.4
    assert stream.bytes_done == len(payload)


def test_unthrottled_archive_is_one_message():
    sent: list[bytes] = []
    ArchiveStream(sent.append, None)._data(bytes(100000))
    assert len(sent) == 1


class FakePrimary:
    """Answers the walreceiver's queries as a primary would (result sets of text rows)."""

    def __init__(self, wal_level: str) -> None:
        self.wal_level = wal_level
        self.queries: list[str] = []

    def query(self, sql: str) -> list[list[tuple[str | None, ...]]]:
        self.queries.append(sql)
        if sql == "SHOW wal_level":
            return [[(self.wal_level,)]]
        raise AssertionError(sql)


def receiver_for(tmp_path, wal_level: str) -> WalReceiver:
    os.makedirs(tmp_path / "pg_wal", exist_ok=True)
    receiver = WalReceiver(StandbyIdentity(str(tmp_path), 1, 1, 1024 * 1024), lambda: {},
                           start_lsn=lambda: 0, applied_lsn=lambda: 0,
                           wake_startup=lambda: None)
    receiver._client = FakePrimary(wal_level)
    return receiver


def test_walreceiver_refuses_a_minimal_primary(tmp_path):
    receiver = receiver_for(tmp_path, "minimal")
    with pytest.raises(WalReceiverError) as caught:
        receiver._check_wal_level()
    assert caught.value.message == \
        'the primary runs with wal_level "minimal", which cannot feed a standby'
    assert caught.value.hint == 'Set wal_level to "replica" on the primary and restart it.'


@pytest.mark.parametrize("wal_level", ["replica", "logical"])
def test_walreceiver_accepts_replica_and_logical(tmp_path, wal_level):
    receiver = receiver_for(tmp_path, wal_level)
    receiver._check_wal_level()
    assert receiver._client.queries == ["SHOW wal_level"]
