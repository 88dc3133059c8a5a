"""Payload codecs of the built-in records: PostgreSQL's sizes and bytes, round trips, and
rejection of short or garbled input."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from mirrordb.common.checkpoint import CheckPoint
from mirrordb.common.errors import WalCorrupted
from mirrordb.storage.relfilenode import RelFileNode
from mirrordb.wal import payloads as P
from mirrordb.wal.record import encode_record
from mirrordb.wal.rmgr import (
    RM_SMGR_ID,
    RM_STANDBY_ID,
    RM_XACT_ID,
    RM_XLOG_ID,
    XLOG_CHECKPOINT_ONLINE,
    XLOG_END_OF_RECOVERY,
    XLOG_RUNNING_XACTS,
    XLOG_SMGR_CREATE,
    XLOG_STANDBY_LOCK,
    XLOG_XACT_ABORT,
    XLOG_XACT_COMMIT,
    XLOG_XACT_COMMIT_PREPARED,
    XLOG_XACT_HAS_INFO,
    XLR_SPECIAL_REL_UPDATE,
)

REL = RelFileNode(1663, 5, 16429)
TIME = 817_621_478_719_570  # 2025-11-28-ish, a PG timestamp


def record_size(rmid: int, info: int, data: bytes) -> int:
    return len(encode_record(rmid, info, 0, 0, [], data))


def test_record_sizes_match_postgresql() -> None:
    checkpoint = CheckPoint(0x1000028, 1, 1, True, 757, 24576, 1, 0, 716, 1, 1, 1, 1_700_000_000,
                            0, 0, 757)
    assert record_size(RM_XLOG_ID, XLOG_CHECKPOINT_ONLINE, checkpoint.encode()) == 114
    assert P.decode_checkpoint(checkpoint.encode()) == checkpoint
    end = P.EndOfRecovery(TIME, 2, 1)
    assert record_size(RM_XLOG_ID, XLOG_END_OF_RECOVERY, end.encode()) == 42
    running = P.RunningXacts((), (), False, 744, 744, 743)
    assert record_size(RM_STANDBY_ID, XLOG_RUNNING_XACTS, running.encode()) == 50
    locks = P.StandbyLocks(((745, 5, 16406),))
    assert record_size(RM_STANDBY_ID, XLOG_STANDBY_LOCK, locks.encode()) == 42
    create = P.SmgrCreate(RelFileNode(1663, 5, 16406), 0)
    assert record_size(RM_SMGR_ID, XLOG_SMGR_CREATE, create.encode()) == 42
    assert len(P.SmgrTruncate(3, REL, P.SMGR_TRUNCATE_ALL).encode()) == 20
    assert len(P.ParameterChange(100, 8, 10, 0, 64, 1, False, False).encode()) == 28


def test_plain_commit_and_abort() -> None:
    info, data = P.encode_xact_commit(xact_time=TIME)
    assert info == XLOG_XACT_COMMIT and data == struct.pack("<q", TIME)
    assert record_size(RM_XACT_ID, info, data) == 34
    assert P.decode_xact_record(info, data) == P.XactCommit(TIME)
    info, data = P.encode_xact_abort(xact_time=TIME)
    assert info == XLOG_XACT_ABORT and len(data) == 8
    assert isinstance(P.decode_xact_record(info, data), P.XactAbort)


def test_commit_with_subxact_matches_captured_bytes() -> None:
    info, data = P.encode_xact_commit(xact_time=TIME, subxids=[750])
    assert info == XLOG_XACT_HAS_INFO
    assert data[8:] == bytes.fromhex("02000000" "01000000" "ee020000")
    assert record_size(RM_XACT_ID, info, data) == 46
    parsed = P.decode_xact_record(info, data)
    assert isinstance(parsed, P.XactCommit)
    assert parsed.subxacts == parsed.subxids == (750,)


def test_remote_apply_commit() -> None:
    info, data = P.encode_xact_commit(xact_time=TIME, flags=P.XACT_COMPLETION_APPLY_FEEDBACK)
    assert info == XLOG_XACT_HAS_INFO and data[8:] == struct.pack("<I", 0x20000000)
    assert record_size(RM_XACT_ID, info, data) == 38


def test_commit_dropping_relations_with_invalidations() -> None:
    message = bytes(range(16))
    info, data = P.encode_xact_commit(xact_time=TIME, rels=[REL], db_id=5, ts_id=1663,
                                      invalidations=[message],
                                      flags=P.XACT_XINFO_HAS_AE_LOCKS)
    assert info == XLOG_XACT_HAS_INFO | XLR_SPECIAL_REL_UPDATE == 0x81
    parsed = P.decode_xact_record(info, data)
    assert isinstance(parsed, P.XactCommit)
    assert parsed.xinfo == 0x4D  # DBINFO | RELFILENODES | INVALS | AE_LOCKS, as captured
    assert (parsed.db_id, parsed.ts_id, parsed.rels, parsed.invalidations) == (
        5, 1663, (REL,), (message,))


def test_every_commit_piece_round_trips() -> None:
    record = P.XactCommit(TIME, P.XACT_COMPLETION_FORCE_SYNC_COMMIT, 5, 1663, (800, 801),
                          (REL, RelFileNode(1663, 5, 1)), ((1, 5, 16400),), 790, "gid-1",
                          0x1234_5678_9ABC, TIME - 5, invalidations=(bytes(16),))
    assert record.info == XLOG_XACT_COMMIT_PREPARED | XLOG_XACT_HAS_INFO | XLR_SPECIAL_REL_UPDATE
    decoded = P.decode_xact_record(record.info, record.encode())
    assert decoded == P.XactCommit(TIME, record.computed_xinfo(), 5, 1663, (800, 801),
                                   record.rels, ((1, 5, 16400),), 790, "gid-1", 0x1234_5678_9ABC,
                                   TIME - 5, invalidations=(bytes(16),))
    abort = P.XactAbort(TIME, 0, 0, 0, (9,), (REL,), (), 0, "", 0, 0)
    assert P.decode_xact_record(abort.info, abort.encode()) == P.XactAbort(
        TIME, abort.computed_xinfo(), 0, 0, (9,), (REL,))


def test_assignment_running_xacts_locks_smgr_round_trip() -> None:
    assignment = P.XactAssignment(700, (701, 702))
    assert assignment.nsubxacts == 2
    assert P.decode_xact_record(0x50, assignment.encode()) == assignment
    running = P.RunningXacts((764, 765), (766,), False, 767, 764, 763)
    encoded = running.encode()
    assert encoded[9:12] == b"\0\0\0" and len(encoded) == 24 + 12
    assert P.RunningXacts.decode(encoded) == running and running.xcnt == 2
    locks = P.StandbyLocks(((1, 2, 3), (4, 5, 6)))
    assert P.StandbyLocks.decode(locks.encode()) == locks
    create = P.SmgrCreate(REL, 2)
    assert P.SmgrCreate.decode(create.encode()) == create
    truncate = P.SmgrTruncate(17, REL, P.SMGR_TRUNCATE_HEAP)
    assert P.SmgrTruncate.decode(truncate.encode()) == truncate
    change = P.ParameterChange(100, 8, 10, 0, 64, P.WAL_LEVEL_REPLICA, True, False)
    assert P.ParameterChange.decode(change.encode()) == change
    end = P.EndOfRecovery(TIME, 2, 1)
    assert P.EndOfRecovery.decode(end.encode()) == end
    assert P.decode_nextoid(P.encode_nextoid(24576)) == 24576
    assert P.decode_backup_end(P.encode_backup_end(0xC000028)) == 0xC000028


@pytest.mark.parametrize("decode, data", [
    (lambda d: P.decode_xact_record(XLOG_XACT_COMMIT, d), b"\0" * 7),
    (lambda d: P.decode_xact_record(XLOG_XACT_COMMIT, d), b"\0" * 9),
    (lambda d: P.decode_xact_record(0x80, d), bytes(8) + struct.pack("<I", 2) + b"\xff" * 4),
    (lambda d: P.decode_xact_record(0x80, d), bytes(8) + struct.pack("<I", 1 << 20)),
    (lambda d: P.decode_xact_record(0xA0, d), bytes(8) + struct.pack("<Ii", 8, 0)),
    (lambda d: P.decode_xact_record(0x80, d), bytes(8) + struct.pack("<II", 0x90, 7)),
    (lambda d: P.decode_xact_record(0x10, d), bytes(8)),
    (lambda d: P.decode_xact_record(0x50, d), struct.pack("<Ii", 1, 3) + bytes(8)),
    (P.RunningXacts.decode, bytes(23)),
    (P.RunningXacts.decode, struct.pack("<ii?3xIII", 1, 0, False, 1, 1, 1)),
    (P.RunningXacts.decode, struct.pack("<ii", 0, 0) + b"\x07" + bytes(15)),
    (P.StandbyLocks.decode, struct.pack("<i", 2) + bytes(12)),
    (P.StandbyLocks.decode, struct.pack("<i", -1)),
    (P.SmgrCreate.decode, bytes(15)),
    (P.SmgrCreate.decode, struct.pack("<IIIi", 1, 2, 3, 9)),
    (P.SmgrTruncate.decode, struct.pack("<IIIIi", 1, 2, 3, 4, 0x10)),
    (P.ParameterChange.decode, bytes(27)),
    (P.ParameterChange.decode, bytes(24) + b"\x02\x00\x00\x00"),
    (P.EndOfRecovery.decode, bytes(17)),
    (P.decode_nextoid, bytes(3)),
    (P.decode_checkpoint, bytes(87)),
])
def test_garbled_payloads_are_rejected(decode: object, data: bytes) -> None:
    with pytest.raises(WalCorrupted):
        decode(data)  # type: ignore[operator]


def test_pg_timestamps() -> None:
    assert P.datetime_to_pg_timestamp(datetime(2000, 1, 1, tzinfo=UTC)) == 0
    moment = datetime(2026, 11, 21, 5, 4, 38, 719570, tzinfo=UTC)
    stamp = P.datetime_to_pg_timestamp(moment)
    assert P.pg_timestamp_to_datetime(stamp) == moment
    assert P.format_pg_timestamp(stamp) == "2026-11-21 05:04:38.719570 UTC"
    assert P.pg_timestamp_to_unix_s(0) == 946_684_800
    now = P.pg_timestamp_now()
    assert abs(P.pg_timestamp_to_datetime(now) - datetime.now(UTC)).total_seconds() < 60
