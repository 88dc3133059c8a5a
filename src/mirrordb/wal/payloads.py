"""Main-data layouts of the PostgreSQL 15 built-in records mirrordb writes (and reads back).

Each layout is PostgreSQL's C struct, full size, little-endian, so ``pg_waldump`` (whose ``desc``
routines read fixed offsets) describes our records correctly. Offsets are from the start of the
record's main data.

XLOG (rmid 0)
    CHECKPOINT_SHUTDOWN / _ONLINE  CheckPoint, 88 bytes: see ``mirrordb.common.checkpoint``.
    NEXTOID           0  next_oid u32                                                  (4 bytes)
    BACKUP_END        0  backup start LSN u64                                          (8 bytes)
    RESTORE_POINT     xl_restore_point, 72 bytes: 0 rp_time i64 (PG timestamp)
                      8  rp_name char[64], NUL-terminated and NUL-padded
    PARAMETER_CHANGE  xl_parameter_change, 28 bytes:
                      0  max_connections i32        4  max_worker_processes i32
                      8  max_wal_senders i32        12 max_prepared_xacts i32
                      16 max_locks_per_xact i32     20 wal_level i32 (0 minimal, 1 replica, 2 logical)
                      24 wal_log_hints bool         25 track_commit_timestamp bool   26 2 pad bytes
    END_OF_RECOVERY   xl_end_of_recovery, 16 bytes:
                      0  end_time i64 (PG timestamp)  8 this_timeline u32  12 prev_timeline u32

Transaction (rmid 1)
    COMMIT / ABORT (and the _PREPARED forms), pieces in this order, no padding between them:
        xact_time i64 (PG timestamp), always
        xinfo u32                           when the info byte has XLOG_XACT_HAS_INFO (0x80)
        db_id u32, ts_id u32                xinfo HAS_DBINFO
        n i32, subxact xids u32[n]          xinfo HAS_SUBXACTS
        n i32, RelFileNode[n] (12 bytes)    xinfo HAS_RELFILENODES (info also gets 0x01)
        n i32, {kind i32, db u32, obj u32}[n]  xinfo HAS_DROPPED_STATS
        n i32, invalidation message[n] (16 bytes each)  xinfo HAS_INVALS, commit only
        twophase xid u32 [then a NUL-terminated gid when HAS_GID]  xinfo HAS_TWOPHASE
        origin_lsn u64, origin_timestamp i64   xinfo HAS_ORIGIN, always last
    ASSIGNMENT        0 xtop u32  4 nsubxacts i32  8 subxids u32[n]

Standby (rmid 8)
    RUNNING_XACTS     xl_running_xacts: 0 xcnt i32  4 subxcnt i32  8 subxid_overflow bool, 3 pad
                      bytes (zero)  12 next_xid u32  16 oldest_running_xid u32
                      20 latest_completed_xid u32  24 xids u32[xcnt + subxcnt] (top-level first)
    LOCK              0 nlocks i32, then {xid u32, db_oid u32, rel_oid u32}[nlocks]

Storage (rmid 2)
    CREATE            RelFileNode (spc, db, rel u32) + fork i32                       (16 bytes)
    TRUNCATE          blkno u32, RelFileNode, flags i32 (SMGR_TRUNCATE_*)             (20 bytes)

Database (rmid 4)
    CREATE_FILE_COPY  db u32, spc u32, src_db u32, src_spc u32                         (16 bytes)
    CREATE_WAL_LOG    db u32, spc u32                                                   (8 bytes)
    DROP              db u32, ntablespaces i32, spc u32[ntablespaces]

A "PG timestamp" is microseconds since 2000-01-01 00:00:00 UTC; ``CheckPoint.time_s`` is the one
exception (Unix seconds).

Pure codecs: the xact, checkpointer, standby-snapshot and storage code encode; redo and tools
decode. Every decoder raises ``WalCorrupted`` on short or garbled input, and nothing else.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mirrordb.common.checkpoint import CheckPoint
from mirrordb.common.errors import DataCorrupted, WalCorrupted, invariant
from mirrordb.storage.relfilenode import RelFileNode
from mirrordb.wal.rmgr import (
    XLOG_XACT_ABORT,
    XLOG_XACT_ABORT_PREPARED,
    XLOG_XACT_ASSIGNMENT,
    XLOG_XACT_COMMIT,
    XLOG_XACT_COMMIT_PREPARED,
    XLOG_XACT_HAS_INFO,
    XLOG_XACT_OPMASK,
    XLR_SPECIAL_REL_UPDATE,
)

__all__ = ["CheckPoint"]  # re-exported: the checkpoint record's payload

# -- PG timestamps ------------------------------------------------------------------------------

PG_EPOCH_UNIX_S = 946_684_800  # 2000-01-01 00:00:00 UTC in Unix seconds
USECS_PER_SEC = 1_000_000
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def pg_timestamp_now() -> int:
    """Now, as a PG timestamp (µs since 2000-01-01 UTC)."""
    return time.time_ns() // 1000 - PG_EPOCH_UNIX_S * USECS_PER_SEC


def pg_timestamp_to_datetime(pg_timestamp: int) -> datetime:
    """An aware UTC datetime (OverflowError beyond datetime's range, years 1..9999)."""
    return PG_EPOCH + timedelta(microseconds=pg_timestamp)


def datetime_to_pg_timestamp(moment: datetime) -> int:
    """PG timestamp of an aware datetime."""
    invariant(moment.tzinfo is not None, "datetime_to_pg_timestamp needs an aware datetime")
    delta = moment - PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * USECS_PER_SEC + delta.microseconds


def pg_timestamp_to_unix_s(pg_timestamp: int) -> float:
    return pg_timestamp / USECS_PER_SEC + PG_EPOCH_UNIX_S


def format_pg_timestamp(pg_timestamp: int) -> str:
    """As pg_waldump prints it: ``2026-11-21 05:04:38.719570 UTC``."""
    try:
        moment = pg_timestamp_to_datetime(pg_timestamp)
    except OverflowError:
        return f"(timestamp {pg_timestamp} out of range)"
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


# -- decoding helpers ---------------------------------------------------------------------------

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_RELFILENODE = struct.Struct("<III")
assert _RELFILENODE.size == 12


def xact_time(data: bytes | bytearray | memoryview) -> int:
    """The PG timestamp a commit or abort record's main data begins with (struct.error if it
    is shorter), read without decoding the rest."""
    return int(_I64.unpack_from(data, 0)[0])


class _Reader:
    """Sequential field reader over a payload; every overrun is a WalCorrupted naming ``what``."""

    def __init__(self, data: bytes | bytearray | memoryview, what: str) -> None:
        self.data = bytes(data)
        self.position = 0
        self.what = what

    def fail(self, problem: str) -> WalCorrupted:
        return WalCorrupted(f"invalid {self.what} record: {problem}")

    def take(self, layout: struct.Struct) -> tuple[int, ...]:
        if len(self.data) - self.position < layout.size:
            raise self.fail(f"{len(self.data)} bytes is too short")
        values = layout.unpack_from(self.data, self.position)
        self.position += layout.size
        return values

    def count(self, item_size: int) -> int:
        """An i32 item count whose items must fit in the bytes left."""
        (count,) = self.take(_I32)
        if count < 0 or count * item_size > len(self.data) - self.position:
            raise self.fail(f"invalid item count {count}")
        return count

    def array(self, layout: struct.Struct, count: int) -> list[tuple[int, ...]]:
        return [self.take(layout) for _ in range(count)]

    def finish(self) -> None:
        if self.position != len(self.data):
            raise self.fail(f"{len(self.data) - self.position} unexpected trailing bytes")


def _fixed(layout: struct.Struct, data: bytes | bytearray | memoryview,
           what: str) -> tuple[int, ...]:
    if len(data) != layout.size:
        raise WalCorrupted(f"invalid {what} record: {len(data)} bytes, wanted {layout.size}")
    return layout.unpack(data)


def _check_u32(*values: int) -> None:
    for value in values:
        invariant(0 <= value <= 0xFFFFFFFF, f"value {value} does not fit 32 bits")


# -- XLOG -----------------------------------------------------------------------------------------


def decode_checkpoint(data: bytes | bytearray | memoryview) -> CheckPoint:
    """The CheckPoint of a checkpoint record (WalCorrupted when it is not 88 bytes)."""
    if len(data) != 88:
        raise WalCorrupted(f"invalid checkpoint record: {len(data)} bytes, wanted 88")
    try:
        return CheckPoint.decode(bytes(data))
    except DataCorrupted as error:  # pragma: no cover - length already checked
        raise WalCorrupted(str(error)) from error


_NEXTOID = struct.Struct("<I")
_BACKUP_END = struct.Struct("<Q")


def encode_nextoid(next_oid: int) -> bytes:
    _check_u32(next_oid)
    return _NEXTOID.pack(next_oid)


def decode_nextoid(data: bytes | bytearray | memoryview) -> int:
    return _fixed(_NEXTOID, data, "NEXTOID")[0]


def encode_backup_end(backup_start_lsn: int) -> bytes:
    return _BACKUP_END.pack(backup_start_lsn)


def decode_backup_end(data: bytes | bytearray | memoryview) -> int:
    return _fixed(_BACKUP_END, data, "BACKUP_END")[0]


RESTORE_POINT_NAME_SIZE = 64     # PostgreSQL's MAXFNAMELEN: 63 bytes of name and its NUL
_RESTORE_POINT = struct.Struct(f"<q{RESTORE_POINT_NAME_SIZE}s")


def encode_restore_point(time_pg: int, name: str) -> bytes:
    encoded = name.encode()
    invariant(len(encoded) < RESTORE_POINT_NAME_SIZE, "restore point name too long")
    return _RESTORE_POINT.pack(time_pg, encoded)


def decode_restore_point(data: bytes | bytearray | memoryview) -> tuple[int, str]:
    """(rp_time as a PG timestamp, rp_name)."""
    if len(data) != _RESTORE_POINT.size:
        raise WalCorrupted(f"invalid RESTORE_POINT record: {len(data)} bytes, "
                           f"wanted {_RESTORE_POINT.size}")
    time_pg, name = _RESTORE_POINT.unpack(data)
    return time_pg, name.split(b"\0", 1)[0].decode(errors="replace")


END_OF_RECOVERY_STRUCT = struct.Struct("<qII")
assert END_OF_RECOVERY_STRUCT.size == 16


@dataclass
class EndOfRecovery:
    """XLOG_END_OF_RECOVERY: the first record of a timeline after promotion."""

    end_time: int  # PG timestamp
    this_timeline: int
    prev_timeline: int

    def encode(self) -> bytes:
        _check_u32(self.this_timeline, self.prev_timeline)
        return END_OF_RECOVERY_STRUCT.pack(self.end_time, self.this_timeline, self.prev_timeline)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> EndOfRecovery:
        return cls(*_fixed(END_OF_RECOVERY_STRUCT, data, "END_OF_RECOVERY"))


WAL_LEVEL_MINIMAL = 0
WAL_LEVEL_REPLICA = 1
WAL_LEVEL_LOGICAL = 2
WAL_LEVEL_NAMES = {WAL_LEVEL_MINIMAL: "minimal", WAL_LEVEL_REPLICA: "replica",
                   WAL_LEVEL_LOGICAL: "logical"}

PARAMETER_CHANGE_STRUCT = struct.Struct("<6i??2x")
assert PARAMETER_CHANGE_STRUCT.size == 28


@dataclass
class ParameterChange:
    """XLOG_PARAMETER_CHANGE: settings a standby must match or exceed."""

    max_connections: int
    max_worker_processes: int
    max_wal_senders: int
    max_prepared_xacts: int
    max_locks_per_xact: int
    wal_level: int
    wal_log_hints: bool
    track_commit_timestamp: bool

    def encode(self) -> bytes:
        return PARAMETER_CHANGE_STRUCT.pack(
            self.max_connections, self.max_worker_processes, self.max_wal_senders,
            self.max_prepared_xacts, self.max_locks_per_xact, self.wal_level,
            self.wal_log_hints, self.track_commit_timestamp)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> ParameterChange:
        fields = _fixed(PARAMETER_CHANGE_STRUCT, data, "PARAMETER_CHANGE")
        if any(byte > 1 for byte in bytes(data[24:26])):
            raise WalCorrupted("invalid PARAMETER_CHANGE record: boolean out of range")
        return cls(*fields)  # type: ignore[arg-type]


# -- Transaction ----------------------------------------------------------------------------------

XACT_XINFO_HAS_DBINFO = 1 << 0
XACT_XINFO_HAS_SUBXACTS = 1 << 1
XACT_XINFO_HAS_RELFILENODES = 1 << 2
XACT_XINFO_HAS_INVALS = 1 << 3
XACT_XINFO_HAS_TWOPHASE = 1 << 4
XACT_XINFO_HAS_ORIGIN = 1 << 5
XACT_XINFO_HAS_AE_LOCKS = 1 << 6
XACT_XINFO_HAS_GID = 1 << 7
XACT_XINFO_HAS_DROPPED_STATS = 1 << 8
XACT_COMPLETION_APPLY_FEEDBACK = 1 << 29
XACT_COMPLETION_UPDATE_RELCACHE_FILE = 1 << 30
XACT_COMPLETION_FORCE_SYNC_COMMIT = 1 << 31

# Bits that say which pieces follow; encode() derives them from the content.
XACT_XINFO_STRUCTURE_BITS = (
    XACT_XINFO_HAS_DBINFO | XACT_XINFO_HAS_SUBXACTS | XACT_XINFO_HAS_RELFILENODES
    | XACT_XINFO_HAS_INVALS | XACT_XINFO_HAS_TWOPHASE | XACT_XINFO_HAS_ORIGIN
    | XACT_XINFO_HAS_GID | XACT_XINFO_HAS_DROPPED_STATS)
# Bits that carry no data: the caller chooses them.
XACT_XINFO_FLAG_BITS = (XACT_XINFO_HAS_AE_LOCKS | XACT_COMPLETION_APPLY_FEEDBACK
                        | XACT_COMPLETION_UPDATE_RELCACHE_FILE
                        | XACT_COMPLETION_FORCE_SYNC_COMMIT)
INVALIDATION_MESSAGE_SIZE = 16  # sizeof(SharedInvalidationMessage)
GID_SIZE = 200  # GIDSIZE, including the terminating NUL

_DBINFO = struct.Struct("<II")
_STATS_ITEM = struct.Struct("<iII")
_ORIGIN = struct.Struct("<Qq")
assert _STATS_ITEM.size == 12 and _ORIGIN.size == 16


@dataclass
class _XactCompletion:
    """Fields shared by the parsed commit and abort records."""

    xact_time: int  # PG timestamp
    xinfo: int = 0
    db_id: int = 0
    ts_id: int = 0
    subxacts: tuple[int, ...] = ()
    rels: tuple[RelFileNode, ...] = ()
    dropped_stats: tuple[tuple[int, int, int], ...] = ()  # (kind, db oid, object oid)
    twophase_xid: int = 0
    twophase_gid: str = ""
    origin_lsn: int = 0
    origin_timestamp: int = 0

    _base_op = XLOG_XACT_COMMIT
    _prepared_op = XLOG_XACT_COMMIT_PREPARED

    @property
    def info(self) -> int:
        """The xl_info byte this record is written with."""
        op = self._prepared_op if self.twophase_xid else self._base_op
        has_info = XLOG_XACT_HAS_INFO if self.computed_xinfo() else 0
        return op | has_info | (XLR_SPECIAL_REL_UPDATE if self.rels else 0)

    @property
    def subxids(self) -> tuple[int, ...]:
        """Alias of ``subxacts`` (the name the transaction code uses)."""
        return self.subxacts

    def _invalidations(self) -> tuple[bytes, ...]:
        return ()

    def computed_xinfo(self) -> int:
        """The caller's flag bits plus the structure bits the content calls for."""
        xinfo = self.xinfo & XACT_XINFO_FLAG_BITS
        if self.db_id or self.ts_id or self._invalidations():
            xinfo |= XACT_XINFO_HAS_DBINFO
        if self.subxacts:
            xinfo |= XACT_XINFO_HAS_SUBXACTS
        if self.rels:
            xinfo |= XACT_XINFO_HAS_RELFILENODES
        if self.dropped_stats:
            xinfo |= XACT_XINFO_HAS_DROPPED_STATS
        if self._invalidations():
            xinfo |= XACT_XINFO_HAS_INVALS
        if self.twophase_xid:
            xinfo |= XACT_XINFO_HAS_TWOPHASE | (XACT_XINFO_HAS_GID if self.twophase_gid else 0)
        if self.origin_lsn or self.origin_timestamp:
            xinfo |= XACT_XINFO_HAS_ORIGIN
        return xinfo

    def encode(self) -> bytes:
        xinfo = self.computed_xinfo()
        parts = [_I64.pack(self.xact_time)]
        if xinfo:
            parts.append(_U32.pack(xinfo))
        if xinfo & XACT_XINFO_HAS_DBINFO:
            parts.append(_DBINFO.pack(self.db_id, self.ts_id))
        if self.subxacts:
            _check_u32(*self.subxacts)
            parts.append(struct.pack(f"<i{len(self.subxacts)}I", len(self.subxacts),
                                     *self.subxacts))
        if self.rels:
            parts.append(_I32.pack(len(self.rels)))
            parts.extend(_RELFILENODE.pack(*rel) for rel in self.rels)
        if self.dropped_stats:
            parts.append(_I32.pack(len(self.dropped_stats)))
            parts.extend(_STATS_ITEM.pack(*item) for item in self.dropped_stats)
        if self._invalidations():
            invariant(all(len(m) == INVALIDATION_MESSAGE_SIZE for m in self._invalidations()),
                      "invalidation messages are 16 bytes")
            parts.append(_I32.pack(len(self._invalidations())))
            parts.extend(self._invalidations())
        if self.twophase_xid:
            parts.append(_U32.pack(self.twophase_xid))
            if self.twophase_gid:
                gid = self.twophase_gid.encode()
                invariant(0 < len(gid) < GID_SIZE and b"\0" not in gid, "invalid gid")
                parts.append(gid + b"\0")
        if xinfo & XACT_XINFO_HAS_ORIGIN:
            parts.append(_ORIGIN.pack(self.origin_lsn, self.origin_timestamp))
        return b"".join(parts)


@dataclass
class XactCommit(_XactCompletion):
    """A parsed COMMIT / COMMIT_PREPARED record."""

    invalidations: tuple[bytes, ...] = ()  # raw 16-byte SharedInvalidationMessages

    def _invalidations(self) -> tuple[bytes, ...]:
        return self.invalidations


@dataclass
class XactAbort(_XactCompletion):
    """A parsed ABORT / ABORT_PREPARED record."""

    _base_op = XLOG_XACT_ABORT
    _prepared_op = XLOG_XACT_ABORT_PREPARED


def encode_xact_commit(*, xact_time: int, subxids: Iterable[int] = (),
                       rels: Iterable[RelFileNode] = (), db_id: int = 0, ts_id: int = 0,
                       invalidations: Sequence[bytes] = (),
                       dropped_stats: Sequence[tuple[int, int, int]] = (),
                       flags: int = 0) -> tuple[int, bytes]:
    """``(info, main data)`` of a commit record. ``flags``: XACT_XINFO_HAS_AE_LOCKS and the
    XACT_COMPLETION_* bits (apply feedback for remote_apply, forced sync commit)."""
    invariant(flags & ~XACT_XINFO_FLAG_BITS == 0, f"invalid commit flags {flags:#x}")
    record = XactCommit(xact_time, flags, db_id, ts_id, tuple(subxids), tuple(rels),
                        tuple(dropped_stats), invalidations=tuple(invalidations))
    return record.info, record.encode()


def encode_xact_abort(*, xact_time: int, subxids: Iterable[int] = (),
                      rels: Iterable[RelFileNode] = (), db_id: int = 0, ts_id: int = 0,
                      dropped_stats: Sequence[tuple[int, int, int]] = (),
                      flags: int = 0) -> tuple[int, bytes]:
    """``(info, main data)`` of an abort record (``rels``: files the transaction created)."""
    invariant(flags & ~XACT_XINFO_FLAG_BITS == 0, f"invalid abort flags {flags:#x}")
    record = XactAbort(xact_time, flags, db_id, ts_id, tuple(subxids), tuple(rels),
                       tuple(dropped_stats))
    return record.info, record.encode()


_ASSIGNMENT_HEAD = struct.Struct("<Ii")


@dataclass
class XactAssignment:
    """XLOG_XACT_ASSIGNMENT: subtransaction xids assigned to a top-level transaction."""

    xtop: int
    subxids: tuple[int, ...]

    @property
    def nsubxacts(self) -> int:
        return len(self.subxids)

    def encode(self) -> bytes:
        _check_u32(self.xtop, *self.subxids)
        return _ASSIGNMENT_HEAD.pack(self.xtop, len(self.subxids)) + struct.pack(
            f"<{len(self.subxids)}I", *self.subxids)


def decode_xact_record(info: int, data: bytes | bytearray | memoryview
                       ) -> XactCommit | XactAbort | XactAssignment:
    """Parse a Transaction record's main data given its xl_info."""
    op = info & XLOG_XACT_OPMASK
    if op in (XLOG_XACT_COMMIT, XLOG_XACT_COMMIT_PREPARED):
        return _decode_completion(info, data, commit=True)  # type: ignore[return-value]
    if op in (XLOG_XACT_ABORT, XLOG_XACT_ABORT_PREPARED):
        return _decode_completion(info, data, commit=False)  # type: ignore[return-value]
    if op == XLOG_XACT_ASSIGNMENT:
        reader = _Reader(data, "transaction assignment")
        (xtop,) = reader.take(_U32)
        count = reader.count(4)
        subxids = tuple(value for (value,) in reader.array(_U32, count))
        reader.finish()
        return XactAssignment(xtop, subxids)
    raise WalCorrupted(f"unsupported transaction record type {info & 0xF0:#04x}")


_KNOWN_XINFO_BITS = XACT_XINFO_STRUCTURE_BITS | XACT_XINFO_FLAG_BITS


def _decode_completion(info: int, data: bytes | bytearray | memoryview,
                       commit: bool) -> _XactCompletion:
    reader = _Reader(data, "commit" if commit else "abort")
    (xact_time,) = reader.take(_I64)
    xinfo = reader.take(_U32)[0] if info & XLOG_XACT_HAS_INFO else 0
    allowed = _KNOWN_XINFO_BITS if commit else _KNOWN_XINFO_BITS & ~XACT_XINFO_HAS_INVALS
    if xinfo & ~allowed or (xinfo & XACT_XINFO_HAS_GID and not xinfo & XACT_XINFO_HAS_TWOPHASE):
        raise reader.fail(f"invalid xinfo {xinfo:#x}")
    db_id, ts_id = reader.take(_DBINFO) if xinfo & XACT_XINFO_HAS_DBINFO else (0, 0)
    subxacts: tuple[int, ...] = ()
    if xinfo & XACT_XINFO_HAS_SUBXACTS:
        subxacts = tuple(value for (value,) in reader.array(_U32, reader.count(4)))
    rels: tuple[RelFileNode, ...] = ()
    if xinfo & XACT_XINFO_HAS_RELFILENODES:
        rels = tuple(RelFileNode(*fields) for fields in reader.array(_RELFILENODE,
                                                                       reader.count(12)))
    stats: tuple[tuple[int, int, int], ...] = ()
    if xinfo & XACT_XINFO_HAS_DROPPED_STATS:
        stats = tuple(reader.array(_STATS_ITEM, reader.count(_STATS_ITEM.size)))  # type: ignore[arg-type]
    invalidations: tuple[bytes, ...] = ()
    if xinfo & XACT_XINFO_HAS_INVALS:
        count = reader.count(INVALIDATION_MESSAGE_SIZE)
        start = reader.position
        invalidations = tuple(reader.data[start + i * 16:start + (i + 1) * 16]
                              for i in range(count))
        reader.position += count * INVALIDATION_MESSAGE_SIZE
    twophase_xid, gid = _decode_twophase(reader, xinfo)
    origin_lsn, origin_timestamp = (reader.take(_ORIGIN) if xinfo & XACT_XINFO_HAS_ORIGIN
                                    else (0, 0))
    reader.finish()
    fields = (xact_time, xinfo, db_id, ts_id, subxacts, rels, stats, twophase_xid, gid,
              origin_lsn, origin_timestamp)
    if commit:
        return XactCommit(*fields, invalidations=invalidations)
    return XactAbort(*fields)


def _decode_twophase(reader: _Reader, xinfo: int) -> tuple[int, str]:
    if not xinfo & XACT_XINFO_HAS_TWOPHASE:
        return 0, ""
    (xid,) = reader.take(_U32)
    if not xinfo & XACT_XINFO_HAS_GID:
        return xid, ""
    end = reader.data.find(b"\0", reader.position, reader.position + GID_SIZE)
    if end <= reader.position:
        raise reader.fail("missing or empty gid")
    try:
        gid = reader.data[reader.position:end].decode()
    except UnicodeDecodeError as error:
        raise reader.fail("gid is not valid UTF-8") from error
    reader.position = end + 1
    return xid, gid


# -- Standby --------------------------------------------------------------------------------------

RUNNING_XACTS_STRUCT = struct.Struct("<ii?3xIII")
assert RUNNING_XACTS_STRUCT.size == 24
_STANDBY_LOCK = struct.Struct("<III")


@dataclass
class RunningXacts:
    """XLOG_RUNNING_XACTS: the primary's snapshot a hot standby starts from."""

    xids: tuple[int, ...]
    subxids: tuple[int, ...]
    subxid_overflow: bool
    next_xid: int
    oldest_running_xid: int
    latest_completed_xid: int

    @property
    def xcnt(self) -> int:
        return len(self.xids)

    @property
    def subxcnt(self) -> int:
        return len(self.subxids)

    def encode(self) -> bytes:
        everything = tuple(self.xids) + tuple(self.subxids)
        _check_u32(self.next_xid, self.oldest_running_xid, self.latest_completed_xid,
                   *everything)
        return RUNNING_XACTS_STRUCT.pack(
            len(self.xids), len(self.subxids), bool(self.subxid_overflow), self.next_xid,
            self.oldest_running_xid, self.latest_completed_xid) + struct.pack(
            f"<{len(everything)}I", *everything)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> RunningXacts:
        reader = _Reader(data, "RUNNING_XACTS")
        xcnt, subxcnt, overflow, next_xid, oldest, latest = reader.take(RUNNING_XACTS_STRUCT)
        if xcnt < 0 or subxcnt < 0 or len(reader.data) != 24 + 4 * (xcnt + subxcnt):
            raise reader.fail(f"xcnt {xcnt} subxcnt {subxcnt} do not match "
                              f"{len(reader.data)} bytes")
        if reader.data[8] > 1:
            raise reader.fail("boolean out of range")
        xids = struct.unpack_from(f"<{xcnt + subxcnt}I", reader.data, 24)
        return cls(tuple(xids[:xcnt]), tuple(xids[xcnt:]), bool(overflow), next_xid, oldest,
                   latest)


@dataclass
class StandbyLocks:
    """XLOG_STANDBY_LOCK: AccessExclusiveLocks a standby must take: (xid, db oid, rel oid)."""

    locks: tuple[tuple[int, int, int], ...]

    def encode(self) -> bytes:
        for lock in self.locks:
            _check_u32(*lock)
        return _I32.pack(len(self.locks)) + b"".join(_STANDBY_LOCK.pack(*lock)
                                                     for lock in self.locks)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> StandbyLocks:
        reader = _Reader(data, "standby LOCK")
        locks = tuple(reader.array(_STANDBY_LOCK, reader.count(_STANDBY_LOCK.size)))
        reader.finish()
        return cls(locks)  # type: ignore[arg-type]


# -- Storage --------------------------------------------------------------------------------------

SMGR_CREATE_STRUCT = struct.Struct("<IIIi")
SMGR_TRUNCATE_STRUCT = struct.Struct("<IIIIi")
assert SMGR_CREATE_STRUCT.size == 16 and SMGR_TRUNCATE_STRUCT.size == 20

SMGR_TRUNCATE_HEAP = 0x0001
SMGR_TRUNCATE_VM = 0x0002
SMGR_TRUNCATE_FSM = 0x0004
SMGR_TRUNCATE_ALL = SMGR_TRUNCATE_HEAP | SMGR_TRUNCATE_VM | SMGR_TRUNCATE_FSM
MAX_FORK_NUMBER = 3


@dataclass
class SmgrCreate:
    """XLOG_SMGR_CREATE: a relation fork file was created."""

    rnode: RelFileNode
    fork: int

    def encode(self) -> bytes:
        return SMGR_CREATE_STRUCT.pack(*self.rnode, self.fork)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> SmgrCreate:
        spc, db, rel, fork = _fixed(SMGR_CREATE_STRUCT, data, "smgr CREATE")
        if not 0 <= fork <= MAX_FORK_NUMBER:
            raise WalCorrupted(f"invalid smgr CREATE record: fork number {fork}")
        return cls(RelFileNode(spc, db, rel), fork)


@dataclass
class SmgrTruncate:
    """XLOG_SMGR_TRUNCATE: forks named by ``flags`` were cut down to ``blkno`` blocks."""

    blkno: int
    rnode: RelFileNode
    flags: int

    def encode(self) -> bytes:
        return SMGR_TRUNCATE_STRUCT.pack(self.blkno, *self.rnode, self.flags)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> SmgrTruncate:
        blkno, spc, db, rel, flags = _fixed(SMGR_TRUNCATE_STRUCT, data, "smgr TRUNCATE")
        if flags & ~SMGR_TRUNCATE_ALL:
            raise WalCorrupted(f"invalid smgr TRUNCATE record: flags {flags:#x}")
        return cls(blkno, RelFileNode(spc, db, rel), flags)


# -- Database -------------------------------------------------------------------------------------

DBASE_CREATE_FILE_COPY_STRUCT = struct.Struct("<IIII")
DBASE_CREATE_WAL_LOG_STRUCT = struct.Struct("<II")
DBASE_DROP_HEADER_STRUCT = struct.Struct("<Ii")
MAX_DROP_TABLESPACES = 1024     # far more than any cluster has; a larger count is garbage


@dataclass
class DbaseCreateFileCopy:
    """XLOG_DBASE_CREATE_FILE_COPY: directory ``src_spc/src_db`` was copied to ``spc/db``."""

    db: int
    spc: int
    src_db: int
    src_spc: int

    def encode(self) -> bytes:
        return DBASE_CREATE_FILE_COPY_STRUCT.pack(self.db, self.spc, self.src_db, self.src_spc)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> DbaseCreateFileCopy:
        return cls(*_fixed(DBASE_CREATE_FILE_COPY_STRUCT, data, "dbase CREATE_FILE_COPY"))


@dataclass
class DbaseCreateWalLog:
    """XLOG_DBASE_CREATE_WAL_LOG: directory ``spc/db`` (with its PG_VERSION) was made; the
    relations' files and pages follow as their own records."""

    db: int
    spc: int

    def encode(self) -> bytes:
        return DBASE_CREATE_WAL_LOG_STRUCT.pack(self.db, self.spc)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> DbaseCreateWalLog:
        return cls(*_fixed(DBASE_CREATE_WAL_LOG_STRUCT, data, "dbase CREATE_WAL_LOG"))


@dataclass
class DbaseDrop:
    """XLOG_DBASE_DROP: database ``db``'s directory in each of ``tablespaces`` was removed."""

    db: int
    tablespaces: tuple[int, ...]

    def encode(self) -> bytes:
        return DBASE_DROP_HEADER_STRUCT.pack(self.db, len(self.tablespaces)) + b"".join(
            struct.pack("<I", spc) for spc in self.tablespaces)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> DbaseDrop:
        header = DBASE_DROP_HEADER_STRUCT.size
        if len(data) < header:
            raise WalCorrupted(f"invalid dbase DROP record: {len(data)} bytes")
        db, count = DBASE_DROP_HEADER_STRUCT.unpack_from(data, 0)
        if not 0 <= count <= MAX_DROP_TABLESPACES or len(data) != header + 4 * count:
            raise WalCorrupted(f"invalid dbase DROP record: {count} tablespaces in "
                               f"{len(data)} bytes")
        return cls(db, struct.unpack_from(f"<{count}I", data, header))
