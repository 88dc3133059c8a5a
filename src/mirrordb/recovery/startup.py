"""Crash recovery: the startup process's redo loop, run when a server opens its data directory.

1. Read ``global/pg_control`` and the checkpoint record it points to (refuse to start without it).
2. Replay every record from the checkpoint's REDO point through ``redo.dispatch`` (one handler per
   resource manager; the same code a standby will run forever), in order, until the reader finds
   the first invalid record: that is the end of WAL. The reason and LSN are logged, e.g.
   ``invalid record length at 0/1005298: wanted 24, got 0``.
3. Transactions that wrote WAL but have no commit or abort record are marked aborted.
4. The WAL writer continues right after the last valid record (overwriting any torn tail), and an
   end-of-recovery checkpoint makes the replayed state durable.

Redo is idempotent (a page whose LSN is at or past a record's end is skipped), so a crash during
recovery simply restarts it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mirrordb.access.clog import XACT_ABORTED, XACT_IN_PROGRESS
from mirrordb.common.checkpoint import CheckPoint
from mirrordb.common.errors import DataCorrupted, WalCorrupted
from mirrordb.common.lsn import format_lsn
from mirrordb.recovery import builtin_redo  # noqa: F401  (registers the builtin handlers)
from mirrordb.recovery.redo import RecoveryState, RedoContext, dispatch
from mirrordb.storage.control import ControlFile, DBState, write_control_file
from mirrordb.storage.relfilenode import RelFileNode
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.rmgr import RM_XLOG_ID, XLOG_CHECKPOINT_ONLINE, XLOG_CHECKPOINT_SHUTDOWN

if TYPE_CHECKING:
    from mirrordb.engine import Engine

log = logging.getLogger("mirrordb.recovery")


@dataclass
class RecoveryResult:
    needed: bool
    redo_start_lsn: int
    end_lsn: int
    end_reason: str
    records_replayed: int
    seconds: float


class EngineRecoveryState(RecoveryState):
    """Redo of non-page records, wired to the engine's commit log and relation files."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    def set_fate(self, xids: list[int], status: int) -> None:
        self.engine.clog.set_status(xids, status)

    def drop_relations(self, relations: list[object]) -> None:
        self.engine.drop_relation_files(relations)  # type: ignore[arg-type]

    def create_relation(self, rnode: object, fork: int) -> None:
        self.engine.smgr.create(rnode, fork, exist_ok=True)  # type: ignore[arg-type]

    def truncate_relation(self, rnode: object, nblocks: int) -> None:
        assert isinstance(rnode, RelFileNode)
        self.engine.pool.drop_relation(rnode)
        if self.engine.smgr.exists(rnode):
            self.engine.smgr.truncate(rnode, 0, nblocks)


def read_checkpoint(engine: Engine, reader: WalReader) -> CheckPoint:
    control = engine.control
    try:
        record = reader.read_record(control.checkpoint_lsn, None)
    except WalCorrupted as error:
        raise DataCorrupted(
            f"could not locate a valid checkpoint record at {format_lsn(control.checkpoint_lsn)}",
            detail=str(error)) from error
    kind = record.info & 0xF0
    if record.rmid != RM_XLOG_ID or kind not in (XLOG_CHECKPOINT_SHUTDOWN,
                                                 XLOG_CHECKPOINT_ONLINE):
        raise DataCorrupted(f"invalid checkpoint record at {format_lsn(control.checkpoint_lsn)}")
    return CheckPoint.decode(record.main_data)


def recover(engine: Engine) -> RecoveryResult:
    started = time.monotonic()
    control = engine.control
    seg_size = control.xlog_seg_size
    source = SegmentFileSource(os.path.join(engine.datadir, "pg_wal"),
                               control.checkpoint.this_timeline, seg_size)
    reader = WalReader(source, seg_size, control.system_identifier)
    checkpoint = read_checkpoint(engine, reader)
    state = EngineRecoveryState(engine)
    state.observe_next_full_xid(checkpoint.next_full_xid)
    state.observe_next_oid(checkpoint.next_oid)
    context = RedoContext(engine.pool, consistency_checking=engine.consistency_checking,
                          state=state)
    clean = control.state == DBState.DB_SHUTDOWNED
    if not clean:
        log.info("database system was not properly shut down; automatic recovery in progress")
        engine.control = control = _with_state(control, DBState.DB_IN_CRASH_RECOVERY)
        write_control_file(engine.datadir, control)
    seen_xids: set[int] = set()
    replayed = 0
    last_start = control.checkpoint_lsn
    log.info("redo starts at %s", format_lsn(checkpoint.redo))
    for record in reader.records_from(checkpoint.redo, None):
        if record.xid:
            seen_xids.add(record.xid)
            engine.xacts.observe_xid(record.xid)
        dispatch(context, record)
        last_start = record.start_lsn
        replayed += 1
    end_lsn, reason = reader.end_lsn, reader.end_reason
    log.info("%s", reason)
    needed = not clean or replayed > 1
    if needed:
        log.info("redo done at %s", format_lsn(last_start))
    _finish_counters(engine, state)
    _abort_unfinished(engine, seen_xids, checkpoint)
    engine.wal.start_at(end_lsn, last_start)
    result = RecoveryResult(needed, checkpoint.redo, end_lsn, reason, replayed,
                            time.monotonic() - started)
    if needed:
        engine.checkpointer.checkpoint(shutdown=True, end_of_recovery=True)
    else:
        engine.checkpointer.mark_in_production()
    return result


def _with_state(control: ControlFile, state: DBState) -> ControlFile:
    return dataclasses.replace(control, state=state, time_s=int(time.time()))


def _finish_counters(engine: Engine, state: RecoveryState) -> None:
    if state.next_full_xid > engine.xacts.next_full_xid:
        engine.xacts.next_full_xid = state.next_full_xid
    engine.next_oid = max(engine.next_oid, state.next_oid)
    engine._oid_logged_until = engine.next_oid


def _abort_unfinished(engine: Engine, seen_xids: set[int], checkpoint: CheckPoint) -> None:
    """Transactions without a commit or abort record end aborted."""
    candidates = set(seen_xids)
    if checkpoint.oldest_active_xid:
        candidates.update(range(checkpoint.oldest_active_xid, checkpoint.next_xid))
    unfinished = sorted(x for x in candidates
                        if x >= 3 and engine.clog.status(x) == XACT_IN_PROGRESS)
    if unfinished:
        engine.clog.set_status(unfinished, XACT_ABORTED)
        log.info("marked %d unfinished transactions aborted", len(unfinished))
