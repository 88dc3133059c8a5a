"""Recovery: the startup process's replay of WAL, when a server opens its data directory.

Crash recovery (``recover``, what ``Engine.open`` runs):

1. Read ``global/pg_control`` and the checkpoint record it points to (refuse to start without it).
2. Replay every record from the checkpoint's REDO point through ``redo.dispatch`` (one handler per
   resource manager; the same code a standby runs forever), in order, until the reader finds the
   first invalid record: that is the end of WAL. The reason and LSN are logged, e.g.
   ``invalid record length at 0/1005298: wanted 24, got 0``.
3. Transactions that wrote WAL but have no commit or abort record are marked aborted.
4. The WAL writer continues right after the last valid record (overwriting any torn tail), its
   redo pointer at the checkpoint's REDO point, and an end-of-recovery checkpoint makes the
   replayed state durable (and clears minRecoveryPoint in pg_control).
5. If wal_level or another setting a standby must match changed since pg_control recorded it,
   XLOG_PARAMETER_CHANGE is logged and pg_control updated (``report_parameters``).

Archive recovery (a standby: ``Startup(engine, archive_recovery=True)``, which
``Engine.open(..., standby_mode=True)`` drives): the same replay, but pg_control says
DB_IN_ARCHIVE_RECOVERY, WAL is replayed as it becomes available (``replay_available`` may be
called again and again), and the server stays in recovery until ``finish``, or until it is
promoted (recovery/promote.py): ``end_archive_recovery`` then ends redo as ``finish`` does,
removes standby.signal, and instead of an end-of-recovery checkpoint writes PostgreSQL's
XLOG_END_OF_RECOVERY record (the engine requests the checkpoint once it accepts writes).

The minimum recovery point (``MinRecoveryPoint``, PostgreSQL's UpdateMinRecoveryPoint). Replay
writes data pages through the buffer pool in any order, so a data directory whose replay stopped
at X is consistent only once replay has again passed every page LSN already on disk. pg_control's
``minRecoveryPoint`` records that bound, durably, *before* any such page is written: while in
recovery the pool's WAL-before-data hook is ``MinRecoveryPoint.flush``, which advances it to the
end of the record being replayed when a page's LSN is beyond it. Archive recovery starts it at the
checkpoint's REDO point at least; it is consistent (``RecoveryState.consistent``, what hot standby
waits for) once replay passes the value pg_control had when replay began. Crash recovery of a
primary has no minRecoveryPoint (INVALID_LSN), never updates it and is consistent only at the end
of WAL; its end-of-recovery checkpoint writes INVALID_LSN again.

Starting from a base backup (PostgreSQL's read_backup_label): when ``backup_label`` exists,
``begin`` takes the checkpoint named by its CHECKPOINT LOCATION (not pg_control's, which the
backup copied from a running primary), records its REDO point in pg_control as
``backupStartPoint`` with ``backupEndRequired``, and renames the file to ``backup_label.old``
(pg_control first: a crash in between restarts from pg_control, which now names the same
checkpoint). Replay is not consistent until the XLOG_BACKUP_END record whose start LSN equals
``backupStartPoint``; that record clears both fields and raises minRecoveryPoint to its end.
A backup taken from a standby ("BACKUP FROM: standby") has no such record: its end is the
minRecoveryPoint of the pg_control it copied last, which ``begin`` stores as
``backupEndPoint`` (that pg_control must say "in archive recovery"); replay past it ends the
backup the same way (PostgreSQL's CheckRecoveryConsistency and ReachedEndOfBackup).

Restartpoints (a standby's checkpoints, PostgreSQL's CreateRestartPoint): ``replay_available``
remembers the last checkpoint record replayed; ``restartpoint()`` writes every dirty page, the
commit log and fsyncs, then points pg_control at that checkpoint (minRecoveryPoint raised to at
least the record's end, state still "in archive recovery"), and only then removes WAL segments
before its REDO point (less ``wal_keep_size``). A standby restarted later replays from there.
The checkpointer thread calls it while this thread goes on replaying (recovery/checkpoint.py):
every change before the checkpoint's REDO point is in a page that was dirty when the
restartpoint began, or already on disk; pages changed since are written with minRecoveryPoint
raised first, as every page written in recovery is.

Redo is idempotent (a page whose LSN is at or past a record's end is skipped), so a crash during
recovery simply restarts it.
"""

from __future__ import annotations

import datetime
import logging
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mirrordb.access.clog import XACT_ABORTED, XACT_IN_PROGRESS
from mirrordb.common.checkpoint import CheckPoint
from mirrordb.common.errors import DataCorrupted, MirrordbError, WalCorrupted, invariant
from mirrordb.common.fileio import fsync_directory
from mirrordb.common.lsn import INVALID_LSN, format_lsn, parse_lsn
from mirrordb.recovery import builtin_redo  # noqa: F401  (registers the builtin handlers)
from mirrordb.recovery.conflicts import RecoveryConflicts
from mirrordb.recovery.promote import remove_signal_files
from mirrordb.recovery.redo import RecoveryState, RedoContext, dispatch, redo_handlers
from mirrordb.recovery.restore import ArchiveRestore
from mirrordb.recovery.target import (RecoveryTarget, StopPoint, TargetCheck, format_time,
                                      target_from_settings)
from mirrordb.storage import reinit
from mirrordb.storage.control import DBState
from mirrordb.storage.relfilenode import MAIN_FORKNUM, RelFileNode
from mirrordb.wal import archive, payloads
from mirrordb.wal.payloads import xact_time
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.record import DecodedRecord
from mirrordb.wal.rmgr import (RM_MIRRORDB_BTREE_ID, RM_MIRRORDB_HEAP_ID,
                               RM_MIRRORDB_SEQUENCE_ID, RM_XACT_ID, RM_XLOG_ID, XLOG_BACKUP_END,
                               XLOG_CHECKPOINT_ONLINE, XLOG_CHECKPOINT_SHUTDOWN, XLOG_END_OF_RECOVERY,
                               XACT_END_OPS, XLOG_PARAMETER_CHANGE, XLOG_XACT_OPMASK,
                               XLR_RMGR_INFO_MASK)
from mirrordb.wal.rmgr import is_xlog_switch, rmgr_name
from mirrordb.wal.segment import (PARTIAL_SUFFIX, history_file_name, is_segment_name,
                                  parse_segment_name, segment_name, segment_path)
from mirrordb.wal.timeline import (DEFAULT_REASON, MAX_TIMELINE, History,
                                   child_history_content, copy_segment_prefix, fork_point,
                                   history_exists, in_history, newest_timeline, newest_tli,
                                   read_history, read_history_content, segment_file,
                                   write_history)

assert INVALID_LSN == 0   # replay tests positions for truth: "no LSN" is falsy

if TYPE_CHECKING:
    from mirrordb.engine import Engine

log = logging.getLogger("mirrordb.recovery")

BACKUP_LABEL_FILE = "backup_label"
BACKUP_LABEL_OLD_FILE = "backup_label.old"
# xids seen in replayed records are kept until the end of recovery marks the unfinished ones
# aborted; past this many, the finished ones are dropped (a standby replays for months)
SEEN_XIDS_PRUNE_AT = 65536
# Resource managers whose redo changes pages only, never the hot-standby set of running xids
# nor the next xid: a record of theirs without an xid (mirrordb writes B-tree inserts so)
# leaves ``replay_available``'s noted xid in place. A new resource manager joins only if that holds.
PAGE_ONLY_RMIDS = frozenset((RM_MIRRORDB_HEAP_ID, RM_MIRRORDB_BTREE_ID,
                             RM_MIRRORDB_SEQUENCE_ID))
# The standby thread's hook between records (``Startup.replay_available``): called with
# whether a record follows; False stops replay before it.
Interruption = Callable[[bool], bool]
# most xids ``replay_available`` remembers as noted (concurrent transactions interleave; a
# commit clears them); past it the set starts again, which only costs noting an xid a second time
OBSERVED_XIDS_LIMIT = 64


@dataclass(eq=False)
class RecoveryResult:
    needed: bool
    redo_start_lsn: int
    end_lsn: int
    end_reason: str
    records_replayed: int
    seconds: float


class MinRecoveryPoint:
    """Keeps pg_control's minRecoveryPoint ahead of every page replay writes (module docstring).

    ``flush`` is the buffer pool's WAL-before-data hook while the server is in recovery; it may
    run in any thread that writes a page (the startup thread evicting, a restartpoint), always
    before that page's ``pwrite``. ``enabled`` is False in crash recovery of a primary.
    """

    def __init__(self, engine: Engine, state: RecoveryState) -> None:
        self.engine = engine
        self.state = state
        self.enabled = engine.control.min_recovery_point != INVALID_LSN
        self._local_lsn = engine.control.min_recovery_point    # a copy, to skip the lock
        self._lock = threading.Lock()
        self.updates = 0                                       # control file writes (tests)

    def start_at_least_at(self, lsn: int, timeline: int) -> None:
        """Archive recovery begins: the minimum is at least ``lsn`` (the REDO point)."""
        control = self.engine.control
        if control.min_recovery_point < lsn:
            self.engine.update_control(min_recovery_point=lsn, min_recovery_point_tli=timeline)
        self._local_lsn = self.engine.control.min_recovery_point
        self.enabled = True

    def flush(self, lsn: int) -> None:
        """Make sure pg_control's minRecoveryPoint is at least ``lsn`` before a page with that
        LSN is written: advance it to the end of the record being replayed, durably."""
        if not self.enabled or lsn <= self._local_lsn:
            return
        with self._lock:
            stored = self.engine.control.min_recovery_point
            if lsn <= stored:
                self._local_lsn = stored
                return
            target = max(self.state.replay_end_lsn, self.state.last_replayed_end_lsn)
            if target < lsn:
                log.warning("xlog min recovery request %s is past current point %s",
                            format_lsn(lsn), format_lsn(target))
            if target > stored:
                self.engine.update_control(min_recovery_point_at_least=target)
                self.updates += 1
                log.debug("updated min recovery point to %s", format_lsn(target))
            self._local_lsn = max(stored, target)


class EngineRecoveryState(RecoveryState):
    """Redo of non-page records, wired to the engine's commit log and relation files."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.min_recovery_point_tracker: MinRecoveryPoint | None = None
        self._conflicts: RecoveryConflicts | None = None
        # Something to do between two records (``Startup.replay_available``): a walreceiver
        # reply was requested, or (set by another thread) a pause. Cleared by whoever handles it.
        self.interrupt_pending = False

    @property
    def conflicts(self) -> RecoveryConflicts:
        """The hot standby's conflict resolution (recovery/conflicts.py), made on first use."""
        if self._conflicts is None:
            self._conflicts = RecoveryConflicts.for_engine(self.engine)
        return self._conflicts

    def resolve_snapshot_conflict(self, latest_removed_xid: int, rnode: object) -> None:
        """On a standby, queries that may still see the versions being removed go first."""
        if self.engine.standby_mode:
            self.conflicts.resolve_snapshot(latest_removed_xid, self.replay_end_lsn)

    def set_fate(self, xids: list[int], status: int) -> None:
        self.engine.clog.set_status(xids, status)

    def request_walreceiver_reply(self) -> None:
        super().request_walreceiver_reply()
        self.interrupt_pending = True

    def flush_to(self, lsn: int) -> None:
        if self.min_recovery_point_tracker is not None:
            self.min_recovery_point_tracker.flush(lsn)

    def drop_relations(self, relations: list[object]) -> None:
        self.engine.drop_relation_files(relations)  # type: ignore[arg-type]

    def create_relation(self, rnode: object, fork: int) -> None:
        self.engine.smgr.create(rnode, fork, exist_ok=True)  # type: ignore[arg-type]

    def create_database_directory(self, database_oid: int) -> None:
        self.engine.smgr.create_database_directory(database_oid)
        self.conflicts.database_created(database_oid)

    def copy_database_directory(self, source_oid: int, database_oid: int) -> None:
        """As PostgreSQL's redo: whatever is there goes first, and the source's replayed pages
        reach its files before they are copied."""
        engine = self.engine
        engine.remove_database_files(database_oid)
        engine.pool.flush_database(source_oid)
        engine.smgr.copy_database_directory(source_oid, database_oid)
        self.conflicts.database_created(database_oid)

    def drop_database(self, database_oid: int) -> None:
        if self.engine.standby_mode:
            self.conflicts.resolve_database(database_oid)
        self.engine.remove_database_files(database_oid)

    def truncate_relation(self, rnode: object, nblocks: int) -> None:
        """Through the buffer pool, which drops only the buffers past the cut (the dirty ones
        below it hold replayed changes) and forgets the cached length. A missing file is
        created first, as PostgreSQL does: a later record will drop it."""
        invariant(isinstance(rnode, RelFileNode), f"truncate of {rnode!r}")
        assert isinstance(rnode, RelFileNode)
        self.engine.smgr.create(rnode, MAIN_FORKNUM, exist_ok=True)
        self.engine.pool.truncate_relation(rnode, MAIN_FORKNUM, nblocks)


def read_checkpoint(engine: Engine, reader: WalReader,
                    checkpoint_lsn: int | None = None) -> CheckPoint:
    """The checkpoint record at ``checkpoint_lsn`` (default: pg_control's)."""
    lsn = engine.control.checkpoint_lsn if checkpoint_lsn is None else checkpoint_lsn
    try:
        record = reader.read_record(lsn, None)
    except WalCorrupted as error:
        raise DataCorrupted(
            f"could not locate a valid checkpoint record at {format_lsn(lsn)}",
            detail=str(error)) from error
    kind = record.info & 0xF0
    if record.rmid != RM_XLOG_ID or kind not in (XLOG_CHECKPOINT_SHUTDOWN,
                                                 XLOG_CHECKPOINT_ONLINE):
        raise DataCorrupted(f"invalid checkpoint record at {format_lsn(lsn)}")
    return CheckPoint.decode(record.main_data)


@dataclass(frozen=True)
class BackupLabel:
    """What recovery needs from a ``backup_label`` file."""

    start_lsn: int
    checkpoint_lsn: int
    from_standby: bool
    timeline: int = 1        # START TIMELINE: the timeline of the backup's checkpoint


def read_backup_label(datadir: str) -> BackupLabel | None:
    """The data directory's ``backup_label``, or None if there is none; a file without the two
    locations is PostgreSQL's "invalid data in file" error."""
    path = os.path.join(datadir, BACKUP_LABEL_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    # the base backup module (~2 ms of imports) only for the first start of a backup
    from mirrordb.replication.basebackup import parse_backup_label
    fields = parse_backup_label(text)
    try:
        start_lsn = parse_lsn(fields["START WAL LOCATION"].split()[0])
        checkpoint_lsn = parse_lsn(fields["CHECKPOINT LOCATION"].split()[0])
        timeline = int(fields.get("START TIMELINE", "1").split()[0])
    except (KeyError, IndexError, ValueError, MirrordbError):
        raise DataCorrupted(f'invalid data in file "{BACKUP_LABEL_FILE}"') from None
    if not 0 < timeline <= MAX_TIMELINE:
        raise DataCorrupted(f'invalid data in file "{BACKUP_LABEL_FILE}"')
    return BackupLabel(start_lsn, checkpoint_lsn,
                       fields.get("BACKUP FROM", "primary").strip() == "standby", timeline)


def malformed_record(record: DecodedRecord, error: Exception) -> WalCorrupted:
    """A record whose CRC is right but whose body its redo routine cannot read (a payload
    shorter than its counts say, or WAL of another mirrordb version with another layout):
    replay stops with the record's position instead of a bare struct or index error."""
    return WalCorrupted(f"invalid {rmgr_name(record.rmid)} record (info {record.info:#04x}) at "
                        f"{format_lsn(record.start_lsn)}: {error}", record.start_lsn)


class Startup:
    """One replay of WAL, from the checkpoint in pg_control (see the module docstring).

    Lifecycle: ``begin()`` once (reads the checkpoint, marks pg_control, installs the
    minimum-recovery-point hook), ``replay_available()`` once in crash recovery and as often as
    new WAL arrives in archive recovery, then ``finish()`` (end of recovery: the server writes
    WAL from then on) or, for a standby that stops, ``shutdown()``.
    """

    def __init__(self, engine: Engine, *, archive_recovery: bool = False) -> None:
        self.engine = engine
        self.archive_recovery = archive_recovery
        self.state = EngineRecoveryState(engine)
        self.min_recovery_point = MinRecoveryPoint(engine, self.state)
        self.state.min_recovery_point_tracker = self.min_recovery_point
        control = engine.control
        self._source = SegmentFileSource(os.path.join(engine.datadir, "pg_wal"),
                                         control.checkpoint.this_timeline, control.xlog_seg_size)
        self.reader = WalReader(self._source, control.xlog_seg_size, control.system_identifier)
        self.context = RedoContext(engine.pool, consistency_checking=engine.consistency_checking,
                                   state=self.state)
        self.checkpoint: CheckPoint | None = None
        # Timelines (wal/timeline.py): the history recovery reads by (``history``, kept by the
        # file source; its newest timeline is the target) and the timeline the last record
        # replayed was on; a standby may adopt a newer target while it runs
        # (``rescan_timelines``).
        self.replay_tli = control.checkpoint.this_timeline
        self._refused_tli = 0      # a newer timeline found forked off before replay's point
        self.clean_shutdown = control.state == DBState.DB_SHUTDOWNED
        self.next_lsn = INVALID_LSN                 # where the next record starts
        self.last_record_start_lsn = control.checkpoint_lsn
        self.end_reason = ""
        self.records_replayed = 0
        self.in_recovery = False
        self._seen_xids: set[int] = set()
        self._seen_xids_limit = SEEN_XIDS_PRUNE_AT
        self._observed_xid = 0     # xid of the record before, if it had one (``replay_available``)
        # xids noted since the last clearing, ``_observed_xid`` among them (empty when it is 0)
        self._observed_xids: set[int] = set()
        self._handlers = redo_handlers()
        self._started = time.monotonic()
        # the last checkpoint record replayed: (start LSN, end LSN, contents); a restartpoint
        # may be made there (``restartpoint``)
        self.last_checkpoint_replayed: tuple[int, int, CheckPoint] | None = None
        self.restartpoints_done = 0
        self.last_commit_time: int | None = None   # PG timestamp of the last commit/abort replayed
        # a base backup taken from a standby ends here (pg_control's backupEndPoint)
        self.backup_end_point = INVALID_LSN
        # restore_command and the other recovery commands (archive recovery only)
        self.restore = ArchiveRestore(engine) if archive_recovery else None
        self._last_restored_segno = -1
        # The standby's hook before a transaction record is replayed (recovery_min_apply_delay:
        # recovery/standby.py); False stops replay before the record, as a stop while paused.
        self.before_xact_record: Callable[[DecodedRecord], bool] | None = None
        # Point-in-time recovery (recovery/target.py): archive recovery stops at the target the
        # settings name, if any; ``stop_point`` says where once it has.
        target = target_from_settings(engine.settings) if archive_recovery else None
        self.target: RecoveryTarget | None = target
        self.target_check = TargetCheck(target) if target is not None else None
        self.stop_point: StopPoint | None = None

    # -- beginning ------------------------------------------------------------------------------

    def begin(self) -> CheckPoint:
        invariant(self.checkpoint is None, "Startup.begin called twice")
        engine = self.engine
        label = read_backup_label(engine.datadir)
        if label is not None:
            self._choose_timeline(label.checkpoint_lsn, label.timeline)
            self._start_from_backup_label(label)
        else:
            self._choose_timeline(engine.control.checkpoint_lsn,
                                  engine.control.checkpoint.this_timeline)
        self._fetch_if_missing(engine.control.checkpoint_lsn)
        checkpoint = self.checkpoint = read_checkpoint(engine, self.reader)
        self.state.observe_next_full_xid(checkpoint.next_full_xid)
        self.state.observe_next_oid(checkpoint.next_oid)
        if self.archive_recovery:
            engine.update_control(state=DBState.DB_IN_ARCHIVE_RECOVERY)
            self.min_recovery_point.start_at_least_at(checkpoint.redo,
                                                      checkpoint.this_timeline)
        elif not self.clean_shutdown:
            log.info("database system was not properly shut down; automatic recovery in "
                     "progress")
            engine.update_control(state=DBState.DB_IN_CRASH_RECOVERY)
        control = engine.control
        self.state.min_recovery_point = control.min_recovery_point if self.archive_recovery \
            else INVALID_LSN
        self.state.backup_pending = control.backup_end_required or \
            control.backup_start_point != INVALID_LSN
        self.backup_end_point = control.backup_end_point if self.state.backup_pending \
            else INVALID_LSN
        self.state.replay_end_lsn = self.state.last_replayed_end_lsn = checkpoint.redo
        engine.pool.set_flush_wal(self.min_recovery_point.flush)
        self.in_recovery = True
        self.next_lsn = checkpoint.redo
        reinit.remove_temp_relation_files(engine.datadir)
        if self.archive_recovery or not self.clean_shutdown:
            # before redo (and before a standby's queries): unlogged data may be trashed
            reinit.reset_unlogged_relations(engine.pool, reinit.CLEANUP)
        if self.clean_shutdown and not self.archive_recovery:
            # only the shutdown checkpoint record itself is read again: nothing to redo
            shut_down_at = datetime.datetime.fromtimestamp(checkpoint.time_s,
                                                           datetime.timezone.utc)
            log.info("database system was shut down at %s",
                     shut_down_at.strftime("%Y-%m-%d %H:%M:%S UTC"))
        else:
            log.info("redo starts at %s", format_lsn(checkpoint.redo))
        self._check_consistency()
        return checkpoint

    def _choose_timeline(self, checkpoint_lsn: int, checkpoint_tli: int) -> None:
        """The timeline recovery heads for and its history, before the first record is read.

        Archive recovery follows ``recovery_target_timeline``: ``latest`` (the newest timeline
        whose history file pg_wal has), ``current`` (the checkpoint's) or a number. Crash
        recovery goes to the checkpoint's timeline, or to pg_control's minimum recovery point
        timeline when that is newer: a promotion writes XLOG_END_OF_RECOVERY on its new
        timeline and says so there before its first checkpoint. The checkpoint must lie on the
        target's history before the point where it left the checkpoint's timeline."""
        engine = self.engine
        waldir = engine.waldir
        control = engine.control
        target = checkpoint_tli
        if self.archive_recovery:
            wanted = engine.settings.get_str("recovery_target_timeline").strip().lower()
            if wanted == "latest":
                target = newest_timeline(checkpoint_tli, self._timeline_exists)
            elif wanted != "current":
                try:
                    target = int(wanted, 0)
                except ValueError:
                    target = 0
                if not 0 < target <= MAX_TIMELINE:
                    raise MirrordbError('invalid value for parameter "recovery_target_timeline":'
                                        f' "{wanted}"', sqlstate="22023",
                                        detail="recovery_target_timeline is not a valid number.")
                if not self._timeline_exists(target):
                    raise MirrordbError(f"recovery target timeline {target} does not exist",
                                        sqlstate="XX000")
        elif control.min_recovery_point != INVALID_LSN and \
                control.min_recovery_point_tli > target:
            target = control.min_recovery_point_tli
        history = read_history(waldir, target)
        forked_at = fork_point(checkpoint_tli, history)
        if not in_history(checkpoint_tli, history) or \
                (forked_at is not None and checkpoint_lsn >= forked_at):
            detail = None if forked_at is None else (
                f"Latest checkpoint is at {format_lsn(checkpoint_lsn)} on timeline "
                f"{checkpoint_tli}, but in the history of the requested timeline, the server "
                f"forked off from that timeline at {format_lsn(forked_at)}.")
            raise MirrordbError(f"requested timeline {target} is not a child of this server's "
                                "history", detail=detail, sqlstate="XX000")
        self.replay_tli = checkpoint_tli
        self._source.set_history(history)
        engine.wal.timeline = checkpoint_tli

    @property
    def history(self) -> History:
        """The history of the timeline recovery heads for (newest first)."""
        return self._source.history

    @property
    def target_tli(self) -> int:
        return newest_tli(self._source.history)

    def _timeline_exists(self, tli: int, archive: bool = True) -> bool:
        """Whether timeline ``tli``'s history file is in pg_wal, or (``archive``) could be
        restored from the archive into it."""
        if history_exists(self.engine.waldir, tli):
            return True
        restore = self.restore
        return archive and restore is not None and restore.configured and \
            restore.restore(history_file_name(tli))

    def rescan_timelines(self, *, archive: bool = False) -> bool:
        """A standby that ran out of WAL looks for a newer timeline (``latest`` only): one whose
        history contains the timeline replay is on, forking off it at or after the point
        replayed, becomes the target (PostgreSQL's rescanLatestTimeLine and its log lines;
        each refused timeline is logged once). ``archive``: ask the archive too (the standby's
        thread does after a fetch from it found nothing). True when the target changed."""
        engine = self.engine
        if engine.settings.get_str("recovery_target_timeline").strip().lower() != "latest":
            return False
        newest = newest_timeline(self.target_tli,
                                 lambda tli: self._timeline_exists(tli, archive))
        if newest == self.target_tli or newest == self._refused_tli:
            return False
        history = read_history(engine.waldir, newest)
        replayed = self.state.last_replayed_end_lsn
        if not in_history(self.replay_tli, history):
            self._refused_tli = newest
            log.info("new timeline %d is not a child of database system timeline %d",
                     newest, self.replay_tli)
            return False
        forked_at = fork_point(self.replay_tli, history)
        if forked_at is not None and forked_at < replayed:
            self._refused_tli = newest
            log.info("new timeline %d forked off current database system timeline %d before "
                     "current recovery point %s", newest, self.replay_tli, format_lsn(replayed))
            return False
        self._source.set_history(history)   # the reader forgot its pages at the end of WAL
        log.info("new target timeline is %d", newest)
        return True

    def _switch_timeline(self, record: DecodedRecord, new_tli: int, prev_tli: int) -> None:
        """A shutdown checkpoint or XLOG_END_OF_RECOVERY on another timeline: replay crosses
        a promotion's switch point (PostgreSQL's checkTimeLineSwitch). The record must come
        from the timeline replay is on, lead to a timeline of the target's history, and not
        leave before the minimum recovery point; any other is WAL that does not belong here."""
        where = "checkpoint record"
        if prev_tli != self.replay_tli:
            raise WalCorrupted(f"unexpected previous timeline ID {prev_tli} (current timeline "
                               f"ID {self.replay_tli}) in {where}", record.start_lsn)
        if new_tli < self.replay_tli or not in_history(new_tli, self.history):
            raise WalCorrupted(f"unexpected timeline ID {new_tli} (after {self.replay_tli}) in "
                               f"{where}", record.start_lsn)
        control = self.engine.control
        if self.archive_recovery and not self.state.consistent and \
                control.min_recovery_point != INVALID_LSN and \
                new_tli > control.min_recovery_point_tli:
            raise WalCorrupted(f"unexpected timeline ID {new_tli} in {where}, before reaching "
                               f"minimum recovery point {format_lsn(control.min_recovery_point)}"
                               f" on timeline {control.min_recovery_point_tli}",
                               record.start_lsn)
        self.replay_tli = new_tli
        self.engine.wal.timeline = new_tli

    def _start_from_backup_label(self, label: BackupLabel) -> None:
        """A restored base backup: recovery starts at the label's checkpoint, and the backup's
        end must be replayed before the data files are consistent (module docstring)."""
        engine = self.engine
        self._fetch_if_missing(label.checkpoint_lsn)
        checkpoint = read_checkpoint(engine, self.reader, label.checkpoint_lsn)
        log.info("starting backup recovery with redo LSN %s, checkpoint LSN %s, on timeline "
                 "ID %d", format_lsn(checkpoint.redo), format_lsn(label.checkpoint_lsn),
                 checkpoint.this_timeline)
        state = DBState.DB_IN_ARCHIVE_RECOVERY if self.archive_recovery \
            else DBState.DB_IN_CRASH_RECOVERY
        changes: dict[str, object] = {}
        if label.from_standby:
            # the backup's end is the minRecoveryPoint of the pg_control copied last
            if engine.control.state not in (DBState.DB_IN_ARCHIVE_RECOVERY,
                                            DBState.DB_SHUTDOWNED_IN_RECOVERY):
                raise DataCorrupted(
                    "backup_label contains data inconsistent with control file",
                    hint="This means that the backup is corrupted and you will have to use "
                         "another backup for recovery.")
            changes["backup_end_point"] = engine.control.min_recovery_point
        engine.update_control(checkpoint_lsn=label.checkpoint_lsn, checkpoint=checkpoint,
                              state=state, backup_start_point=checkpoint.redo,
                              backup_end_required=True, **changes)
        self.clean_shutdown = False
        self.last_record_start_lsn = label.checkpoint_lsn
        os.replace(os.path.join(engine.datadir, BACKUP_LABEL_FILE),
                   os.path.join(engine.datadir, BACKUP_LABEL_OLD_FILE))
        fsync_directory(engine.datadir)

    # -- replaying ------------------------------------------------------------------------------

    def replay_available(self, interruption: Interruption | None = None) -> int:
        """Replay every valid record from where replay stands to the current end of WAL, in
        LSN order; returns how many. ``end_reason`` says why it stopped; calling again
        continues there.

        ``interruption`` is the standby startup thread's hook (recovery/standby.py), called
        only while ``state.interrupt_pending`` is set (a pause was requested, a replayed commit
        asked for a walreceiver reply): ``interruption(True)`` before the next record, which is
        not replayed if it returns False (replay stops there: a stop while paused);
        ``interruption(False)`` once the WAL available is replayed. Without a hook the flag is
        only cleared. ``before_xact_record`` (when set) sees each transaction record before it
        is replayed, and stops replay there the same way by returning False.

        This loop is the hot path of replay: one record's work is written out in it, not in a
        method per record, with what every record touches in locals; the counters only this
        thread reads (``records_replayed``, ``last_record_start_lsn``, ``_observed_xid``) are
        stored once per call. What other threads and redo read is stored at every record:
        ``state.replay_end_lsn`` before the handler, ``state.last_replayed_end_lsn`` after it
        (pg_last_wal_replay_lsn), then the backup-end and consistency checks.

        A record whose xid was already noted skips the xid bookkeeping (``_note_xid``), which an
        earlier record did: the same xid as the record before (``observed_xid``; most of a
        transaction's records follow each other) or one of ``_observed_xids`` (concurrent
        transactions interleave). Both are cleared by a record without an xid (RUNNING_XACTS
        and checkpoints reset the hot-standby set, and the hot-standby tracker is made at such
        a record or a transaction record) unless its resource manager is in PAGE_ONLY_RMIDS,
        and after a transaction record (a commit removes its xids from the set): only records
        that never remove from that set come between the noting and the skip."""
        invariant(self.in_recovery, "replay outside recovery")
        if self.stop_point is not None:
            return 0           # the recovery target is reached: nothing more is replayed
        target_check = self.target_check
        state, context, handlers = self.state, self.context, self._handlers
        observed_xids = self._observed_xids
        observed_xid = self._observed_xid
        last_start_lsn = self.last_record_start_lsn
        replayed = 0
        expected_prev = None if self.records_replayed == 0 else last_start_lsn
        before_xact_record = self.before_xact_record
        try:
            for record in self.reader.records_from(self.next_lsn, expected_prev):
                rmid = record.rmid
                if (state.interrupt_pending and not self._interrupt(interruption, True)) or \
                        (target_check is not None and self._stops(
                            target_check.stops_before(record, state.consistent))) or \
                        (rmid == RM_XACT_ID and before_xact_record is not None
                         and not before_xact_record(record)):
                    if replayed:    # where the record after the last one replayed starts
                        self.next_lsn = state.last_replayed_end_lsn
                    return replayed
                xid = record.xid
                if xid != observed_xid:   # a new xid to note, or none (0) after one
                    if xid:
                        if xid not in observed_xids:
                            self._note_xid(xid)
                        observed_xid = xid
                    elif rmid not in PAGE_ONLY_RMIDS:
                        observed_xid = 0
                        observed_xids.clear()
                state.replay_end_lsn = replayed_end_lsn = record.end_lsn
                handler = handlers.get(rmid)
                try:
                    if handler is None:
                        dispatch(context, record)     # raises: no redo routine
                    else:
                        handler(context, record)
                except (struct.error, IndexError) as error:
                    raise malformed_record(record, error) from error
                last_start_lsn = record.start_lsn
                replayed += 1
                if rmid == RM_XLOG_ID:   # only an XLOG record can be a segment switch
                    state.last_replayed_end_lsn = replayed_end_lsn = self._replayed_end(record)
                    self._replayed_xlog_record(record)
                else:
                    state.last_replayed_end_lsn = replayed_end_lsn
                    if rmid == RM_XACT_ID:
                        observed_xid = 0
                        observed_xids.clear()
                        if record.info & XLOG_XACT_OPMASK in XACT_END_OPS:
                            # xact_redo has just decoded and validated the whole record: read
                            # only xact_time, its first field, instead of decoding it again;
                            # each sets pg_last_xact_replay_timestamp()
                            self.last_commit_time = xact_time(record.main_data)
                backup_end_point = self.backup_end_point    # INVALID_LSN (0): none awaited
                if backup_end_point and replayed_end_lsn >= backup_end_point:
                    self._reached_end_of_backup(replayed_end_lsn)
                if not state.consistent_at_lsn:    # RecoveryState.consistent, inlined
                    self._check_consistency()
                if target_check is not None and self._stops(
                        target_check.stops_after(record, state.consistent)):
                    self.next_lsn = replayed_end_lsn
                    return replayed
        finally:
            self.records_replayed += replayed
            self.last_record_start_lsn = last_start_lsn
            self._observed_xid = observed_xid
        if state.interrupt_pending:
            self._interrupt(interruption, False)
        self.next_lsn = self.reader.end_lsn  # type: ignore[assignment]
        self.end_reason = self.reader.end_reason  # type: ignore[assignment]
        return replayed

    # -- WAL from the archive (recovery/restore.py) -----------------------------------------------

    def _segment_name(self, segno: int) -> str:
        """The file the archive is asked for: the segment on the likeliest timeline."""
        tli = self._source.segment_candidates(segno)[0]
        return segment_name(tli, segno, self.engine.control.xlog_seg_size)

    def _fetch_if_missing(self, lsn: int) -> None:
        """A segment recovery must start in is not in pg_wal: ask the archive for it."""
        name = self._segment_name(lsn // self.engine.control.xlog_seg_size)
        if self.restore is not None and \
                not os.path.exists(os.path.join(self.engine.waldir, name)) and \
                self.restore.restore(name):
            self._source.close()

    def restore_from_archive(self) -> bool:
        """Replay stopped at the end of pg_wal: fetch the segment it needs next, the one it
        stopped in unless that came from the archive already (then the record there goes on
        in the following one, which is fetched instead). True if a segment came, and replay
        may go on; False when the archive has nothing more (or no restore_command is set)."""
        if self.restore is None or not self.restore.configured:
            return False
        segment_size = self.engine.control.xlog_seg_size
        stopped_in = self.next_lsn // segment_size
        segno = max(stopped_in, self._last_restored_segno + 1)
        if segno > stopped_in + 1 or not any(
                self.restore.restore(segment_name(tli, segno, segment_size))
                for tli in self._source.segment_candidates(segno)):
            return False
        self._last_restored_segno = segno
        self._source.close()        # the file it had open, if any, was replaced
        return True

    # -- the recovery target (recovery/target.py) -------------------------------------------------

    def _stops(self, stop: StopPoint | None) -> bool:
        """A target test's answer for a record: True at the target, where replay stops for
        good (later calls replay nothing: ``stop_point``)."""
        if stop is None:
            return False
        self.stop_point = stop
        self.end_reason = ""
        log.info("%s", stop.message)
        return True

    def _interrupt(self, interruption: Interruption | None, more: bool) -> bool:
        if interruption is None:
            self.state.interrupt_pending = False
            return True
        return interruption(more)

    def _note_xid(self, xid: int) -> None:
        """A record's xid not noted since the last clearing (``replay_available``): the seen
        set, the next xid and the hot-standby set learn it."""
        observed = self._observed_xids
        if len(observed) >= OBSERVED_XIDS_LIMIT:
            observed.clear()
        observed.add(xid)
        seen = self._seen_xids
        seen.add(xid)
        if len(seen) > self._seen_xids_limit:
            self._prune_seen_xids()
        self.engine.xacts.observe_xid(xid)

    def _replayed_xlog_record(self, record: DecodedRecord) -> None:
        info = record.info & XLR_RMGR_INFO_MASK
        if info in (XLOG_CHECKPOINT_ONLINE, XLOG_CHECKPOINT_SHUTDOWN):
            checkpoint = CheckPoint.decode(record.main_data)
            self.last_checkpoint_replayed = (record.start_lsn, record.end_lsn, checkpoint)
            if info == XLOG_CHECKPOINT_SHUTDOWN and \
                    checkpoint.this_timeline != self.replay_tli:
                self._switch_timeline(record, checkpoint.this_timeline,
                                      checkpoint.prev_timeline)
        elif info == XLOG_END_OF_RECOVERY:
            end = payloads.EndOfRecovery.decode(record.main_data)
            if end.this_timeline != self.replay_tli:
                self._switch_timeline(record, end.this_timeline, end.prev_timeline)
        elif info == XLOG_BACKUP_END:
            self._replayed_backup_end(record)

    def _replayed_backup_end(self, record: DecodedRecord) -> None:
        """XLOG_BACKUP_END of the backup this data directory was restored from: the data files
        are complete once replay is past it (PostgreSQL's xlog_redo for BACKUP_END)."""
        control = self.engine.control
        start_lsn = payloads.decode_backup_end(record.main_data)
        if control.backup_start_point == INVALID_LSN or start_lsn != control.backup_start_point:
            return
        self._reached_end_of_backup(record.end_lsn)

    def _reached_end_of_backup(self, end_lsn: int) -> None:
        """PostgreSQL's ReachedEndOfBackup: the backup's end is replayed (its XLOG_BACKUP_END,
        or for a backup from a standby the backupEndPoint); pg_control forgets the backup and
        minRecoveryPoint is at least ``end_lsn``."""
        log.debug("end of backup reached")
        redo_lsn = self.engine.control.backup_start_point
        if redo_lsn != INVALID_LSN:
            log.info("completed backup recovery with redo LSN %s and end LSN %s",
                     format_lsn(redo_lsn), format_lsn(self.backup_end_point or end_lsn))
        self.engine.update_control(backup_start_point=INVALID_LSN,
                                   backup_end_point=INVALID_LSN, backup_end_required=False,
                                   min_recovery_point_at_least=end_lsn)
        self.state.min_recovery_point = max(self.state.min_recovery_point, end_lsn)
        self.state.backup_pending = False
        self.backup_end_point = INVALID_LSN

    # -- restartpoints --------------------------------------------------------------------------

    def restartpoint_possible(self) -> bool:
        """Whether a checkpoint record newer than pg_control's has been replayed."""
        replayed = self.last_checkpoint_replayed
        return replayed is not None and replayed[2].redo > self.engine.control.checkpoint.redo

    def restartpoint(self) -> bool:
        """PostgreSQL's CreateRestartPoint at the last checkpoint record replayed (module
        docstring); False when there is none newer than pg_control's. Called by the
        checkpointer while replay goes on (its lock keeps two from overlapping), and by
        ``shutdown`` once replay has stopped."""
        invariant(self.in_recovery and self.archive_recovery, "restartpoint outside a standby")
        if not self.restartpoint_possible():
            return False
        replayed = self.last_checkpoint_replayed   # replay may replace it, only by a newer one
        assert replayed is not None
        checkpoint_lsn, checkpoint_end_lsn, checkpoint = replayed
        engine = self.engine
        engine.checkpointer.write_everything()
        engine.update_control(checkpoint_lsn=checkpoint_lsn, checkpoint=checkpoint,
                              min_recovery_point_at_least=checkpoint_end_lsn)
        removed = self._remove_old_segments(checkpoint.redo)
        self.restartpoints_done += 1
        log.info("restartpoint complete: %d WAL file(s) removed; redo lsn=%s",
                 removed, format_lsn(checkpoint.redo))
        log.info("recovery restart point at %s", format_lsn(checkpoint.redo))
        if self.restore is not None:
            self.restore.run_cleanup()       # archive_cleanup_command
        return True

    def _remove_old_segments(self, redo_lsn: int) -> int:
        """Unlink the segments (of every timeline) wholly before the REDO point's segment, less
        ``wal_keep_size`` and what a base backup taken from this standby still needs (the
        segment being replayed is never before the REDO point)."""
        segment_size = self.engine.control.xlog_seg_size
        keep_bytes = int(self.engine.settings.get("wal_keep_size"))  # type: ignore[arg-type]
        keep_segno = max(0, redo_lsn // segment_size - -(-keep_bytes // segment_size))
        held = self.engine.checkpointer.wal_holds.oldest()   # a base backup from this standby
        if held is not None:
            keep_segno = min(keep_segno, held // segment_size)
        return _remove_segments(
            self.engine.waldir, segment_size,
            lambda name, _, segno: segno < keep_segno and self.engine.may_remove_wal_file(name))

    def _replayed_end(self, record: DecodedRecord) -> int:
        """Where replay stands after ``record``: its end, or for XLOG_SWITCH the end of its
        segment (the rest of the segment is part of the switch, as PostgreSQL counts it)."""
        if is_xlog_switch(record.rmid, record.info):
            segment_size = self.engine.control.xlog_seg_size
            return -(-record.end_lsn // segment_size) * segment_size
        return record.end_lsn

    def _check_consistency(self) -> None:
        if self.state.check_consistency():
            log.info("consistent recovery state reached at %s",
                     format_lsn(self.state.consistent_at_lsn))

    # -- the end --------------------------------------------------------------------------------

    def finish(self) -> RecoveryResult:
        """End recovery at the end of the WAL replayed so far: from now on the server writes
        WAL. Archive recovery must have reached consistency first."""
        needed = self.archive_recovery or not self.clean_shutdown or self.records_replayed > 1
        self._end_redo(log_redo_done=needed)
        engine = self.engine
        if self.archive_recovery or not self.clean_shutdown:
            reinit.reset_unlogged_relations(engine.pool, reinit.INIT)
        self._start_writing_wal()
        if needed:
            engine.checkpointer.checkpoint(shutdown=True, end_of_recovery=True)
        else:
            engine.checkpointer.mark_in_production()
        report_parameters(engine)
        return self._result(needed)

    def end_archive_recovery(self) -> RecoveryResult:
        """Promotion's end of recovery (recovery/promote.py, steps 3 to 5), once replay has
        reached the end of pg_wal: the primary's unfinished transactions end aborted,
        standby.signal goes, WAL continues after the last valid record with an
        XLOG_END_OF_RECOVERY record (PostgreSQL's fast promotion: the checkpoint is requested
        afterwards, by ``Engine.finish_promotion``). pg_control keeps saying "in archive
        recovery" until the engine accepts writes."""
        invariant(self.archive_recovery, "end_archive_recovery outside archive recovery")
        self._end_redo(log_redo_done=True)
        reinit.reset_unlogged_relations(self.engine.pool, reinit.INIT)
        old_tli, switch_lsn = self.replay_tli, self.next_lsn
        self._start_new_timeline()
        remove_signal_files(self.engine.datadir)
        log.info("archive recovery complete")
        self._start_writing_wal()
        self._log_end_of_recovery(prev_timeline=old_tli)
        self._remove_non_parent_segments(switch_lsn)
        self._keep_old_timeline_tail(old_tli, switch_lsn)
        if self.restore is not None:
            self.restore.run_end_command()   # recovery_end_command
        report_parameters(self.engine)
        return self._result(True)

    def _end_redo(self, *, log_redo_done: bool) -> None:
        """Redo is over: check it may end here, log where, hand the replayed counters to the
        engine and mark the transactions that never ended aborted."""
        invariant(self.in_recovery and self.checkpoint is not None, "finish outside recovery")
        if self.state.backup_pending:
            raise MirrordbError("WAL ends before end of online backup", sqlstate="XX000",
                                hint="All WAL generated while online backup was taken must be "
                                     "available at recovery.")
        if self.archive_recovery and not self.state.consistent:
            raise MirrordbError("requested recovery stop point is before consistent recovery "
                                "point" if self.stop_point is not None else
                                "WAL ends before consistent recovery point", sqlstate="XX000")
        if log_redo_done:
            if self.end_reason:
                log.info("%s", self.end_reason)
            # the record replay ended at: at a recovery target, the one it stopped before or after
            stop = self.stop_point
            done_at = stop.record_start_lsn if stop is not None else self.last_record_start_lsn
            log.info("redo done at %s", format_lsn(done_at))
            if self.archive_recovery and self.last_commit_time is not None:
                log.info("last completed transaction was at log time %s", format_time(
                    self.last_commit_time, self.engine.settings.get_str("TimeZone") or "UTC"))
        if self.target is not None and self.stop_point is None:
            # before anything is marked aborted: a restart with other settings goes on from here
            raise MirrordbError("recovery ended before configured recovery target was reached",
                                sqlstate="XX000")
        if not self.state.consistent:
            self.state.consistent_at_lsn = self.next_lsn
        self._finish_counters()
        self._abort_unfinished()

    def _start_writing_wal(self) -> None:
        """The WAL writer continues right after the last valid record (a torn tail is zeroed),
        its REDO pointer at pg_control's checkpoint (the last restartpoint on a standby: crash
        recovery would start there, so the first change to a page after it needs a full-page
        image); from then on a page write first flushes the WAL up to the page's LSN."""
        engine = self.engine
        engine.wal.start_at(self.next_lsn, self.last_record_start_lsn,
                            redo_lsn=engine.control.checkpoint.redo)
        engine.pool.set_flush_wal(engine.wal.flush)
        self.in_recovery = False
        self._source.close()

    def _start_new_timeline(self) -> None:
        """Promotion's new timeline, before the first record the promoted server writes
        (PostgreSQL's "selected new timeline ID" and XLogInitNewTimeline): the next ID after
        every timeline pg_wal has a history file for, the segment holding the switch point
        copied under the new ID (the old timeline's bytes up to the switch, zeros after: the
        new WAL goes on in it), then the new history file, durably, and marked for the
        archive. A crash before XLOG_END_OF_RECOVERY is flushed leaves the old timeline's
        files as they were: the next start recovers on it (the ID is simply not used)."""
        engine = self.engine
        waldir = engine.waldir
        segment_size = engine.control.xlog_seg_size
        switch_lsn = self.next_lsn
        new_tli = newest_timeline(self.target_tli, self._timeline_exists) + 1
        log.info("selected new timeline ID: %d", new_tli)
        segno = switch_lsn // segment_size
        if switch_lsn % segment_size:
            _, source, exists = segment_file(waldir, segno, segment_size, self.history)
            invariant(exists, "the segment of the end of WAL is not in pg_wal")
            copy_segment_prefix(os.path.join(waldir, source),
                                segment_path(waldir, new_tli, segno, segment_size),
                                switch_lsn % segment_size, segment_size)
        reason = DEFAULT_REASON if self.stop_point is None else self.stop_point.history_reason
        content = child_history_content(read_history_content(waldir, self.target_tli),
                                        self.target_tli, switch_lsn, reason)
        name = write_history(waldir, new_tli, content)
        if engine.archive_mode in ("on", "always"):
            archive.notify(waldir, name)
        engine.wal.timeline = new_tli

    def _remove_non_parent_segments(self, switch_lsn: int) -> int:
        """PostgreSQL's RemoveNonParentXlogFiles: segments of older timelines after the one
        holding the switch point are no part of the new timeline's history (WAL past a recovery
        target, restored or streamed, or files made in advance), so they go now rather than at
        some later checkpoint; one still waiting for the archive (``.ready``) stays until it is
        archived. Returns how many were removed."""
        engine = self.engine
        waldir = engine.waldir
        segment_size = engine.control.xlog_seg_size
        new_tli = engine.wal.timeline
        last_parent_segno = (switch_lsn - 1) // segment_size
        removed = _remove_segments(
            waldir, segment_size,
            lambda name, tli, segno: tli < new_tli and segno > last_parent_segno and
            not os.path.exists(archive.status_path(waldir, name, archive.READY)))
        if removed:
            log.debug("removed %d segment(s) of older timelines past the switch point", removed)
        return removed

    def _keep_old_timeline_tail(self, old_tli: int, switch_lsn: int) -> None:
        """With archiving, the old timeline's last segment (cut by the switch) becomes
        ``NAME.partial`` and is archived under that name: the new timeline's copy is the one
        archived whole, and a server still on the old timeline may archive the real segment
        (PostgreSQL's CleanupAfterArchiveRecovery)."""
        engine = self.engine
        segment_size = engine.control.xlog_seg_size
        if not switch_lsn % segment_size or engine.archive_mode not in ("on", "always"):
            return
        waldir = engine.waldir
        name = segment_name(old_tli, switch_lsn // segment_size, segment_size)
        path = os.path.join(waldir, name)
        if not os.path.exists(path) or \
                os.path.exists(archive.status_path(waldir, name, archive.READY)) or \
                os.path.exists(archive.status_path(waldir, name, archive.DONE)):
            return
        partial = name + PARTIAL_SUFFIX
        os.replace(path, os.path.join(waldir, partial))
        fsync_directory(waldir)
        archive.notify(waldir, partial)
        engine.wake_archiver()

    def _log_end_of_recovery(self, prev_timeline: int) -> None:
        """PostgreSQL's CreateEndOfRecoveryRecord: XLOG_END_OF_RECOVERY, the first record of the
        new timeline (naming the one it leaves), flushed; minRecoveryPoint moves to its end on
        the new timeline, as PostgreSQL's does (crash recovery before the first checkpoint then
        follows the new timeline), and the next checkpoint clears it."""
        engine = self.engine
        timeline = engine.wal.timeline
        record = payloads.EndOfRecovery(end_time=payloads.pg_timestamp_now(),
                                        this_timeline=timeline, prev_timeline=prev_timeline)
        end_lsn = engine.wal.insert(RM_XLOG_ID, XLOG_END_OF_RECOVERY, record.encode())
        engine.wal.flush(end_lsn)
        engine.update_control(min_recovery_point=end_lsn, min_recovery_point_tli=timeline)

    def _result(self, needed: bool) -> RecoveryResult:
        assert self.checkpoint is not None
        return RecoveryResult(needed, self.checkpoint.redo, self.next_lsn, self.end_reason,
                              self.records_replayed, time.monotonic() - self._started)

    def shutdown(self) -> None:
        """A server in archive recovery stops: a restartpoint at the last checkpoint replayed,
        write every page replay changed (each write advances minRecoveryPoint as needed),
        fsync, and leave pg_control saying DB_SHUTDOWNED_IN_RECOVERY. The next start replays
        from that restartpoint."""
        invariant(self.in_recovery, "shutdown of a startup process that is not in recovery")
        engine = self.engine
        if self.archive_recovery:
            self.restartpoint()
        engine.pool.flush_all()
        engine.smgr.sync_all()
        engine.clog.flush()
        engine.update_control(state=DBState.DB_SHUTDOWNED_IN_RECOVERY)
        self.in_recovery = False
        self._source.close()

    def _finish_counters(self) -> None:
        engine, state = self.engine, self.state
        if state.next_full_xid > engine.xacts.next_full_xid:
            engine.xacts.next_full_xid = state.next_full_xid
        engine.next_oid = max(engine.next_oid, state.next_oid)
        engine._oid_logged_until = engine.next_oid

    def _prune_seen_xids(self) -> None:
        """Forget the seen xids whose commit or abort was replayed (only the unfinished ones
        matter at the end of recovery); the next prune waits until the set doubles."""
        status = self.engine.clog.status
        self._seen_xids = {x for x in self._seen_xids if status(x) == XACT_IN_PROGRESS}
        self._seen_xids_limit = max(SEEN_XIDS_PRUNE_AT, 2 * len(self._seen_xids))

    def _abort_unfinished(self) -> None:
        """Transactions without a commit or abort record end aborted."""
        engine, checkpoint = self.engine, self.checkpoint
        assert checkpoint is not None
        candidates = set(self._seen_xids)
        if checkpoint.oldest_active_xid:
            candidates.update(range(checkpoint.oldest_active_xid, checkpoint.next_xid))
        unfinished = sorted(x for x in candidates
                            if x >= 3 and engine.clog.status(x) == XACT_IN_PROGRESS)
        if unfinished:
            engine.clog.set_status(unfinished, XACT_ABORTED)
            log.info("marked %d unfinished transactions aborted", len(unfinished))


# pg_control field -> the setting it records (PostgreSQL's XLogReportParameters list);
# max_worker_processes has no setting here and keeps its value.
REPORTED_PARAMETERS = (
    ("max_connections", "max_connections"),
    ("max_wal_senders", "max_wal_senders"),
    ("max_prepared_xacts", "max_prepared_transactions"),
    ("max_locks_per_xact", "max_locks_per_transaction"),
    ("wal_log_hints", "wal_log_hints"),
    ("track_commit_timestamp", "track_commit_timestamp"),
)
WAL_LEVEL_NUMBERS = {name: number for number, name in payloads.WAL_LEVEL_NAMES.items()}


def report_parameters(engine: Engine) -> bool:
    """PostgreSQL's XLogReportParameters, when the server starts writing WAL: if wal_level or a
    setting a standby must match differs from what pg_control records, log XLOG_PARAMETER_CHANGE
    (when wal_level changed or is above minimal) and update pg_control. Returns whether it did."""
    control = engine.control
    wanted: dict[str, object] = {"wal_level": WAL_LEVEL_NUMBERS[str(
        engine.settings.get("wal_level"))]}
    for field_name, setting_name in REPORTED_PARAMETERS:
        try:
            value = engine.settings.get(setting_name)
        except KeyError:
            continue
        wanted[field_name] = type(getattr(control, field_name))(value)  # type: ignore[call-arg]
    if all(getattr(control, name) == value for name, value in wanted.items()):
        return False
    if wanted["wal_level"] != control.wal_level or \
            wanted["wal_level"] != payloads.WAL_LEVEL_MINIMAL:
        values = {name: wanted.get(name, getattr(control, name)) for name in (
            "max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_xacts",
            "max_locks_per_xact", "wal_level", "wal_log_hints", "track_commit_timestamp")}
        record = payloads.ParameterChange(**values)  # type: ignore[arg-type]
        end_lsn = engine.wal.insert(RM_XLOG_ID, XLOG_PARAMETER_CHANGE, record.encode())
        engine.wal.flush(end_lsn)
    engine.update_control(**wanted)
    return True


def recover(engine: Engine) -> RecoveryResult:
    """Crash recovery (or the replay of a cleanly shut down server's last checkpoint record)."""
    startup = Startup(engine)
    startup.begin()
    startup.replay_available()
    return startup.finish()


def _remove_segments(waldir: str, segment_size: int,
                     doomed: Callable[[str, int, int], bool]) -> int:
    """Unlink the segment files of ``waldir`` for which ``doomed(name, timeline, segno)``
    holds (and forget their archive status), then make the removals durable; how many went."""
    removed = 0
    for name in sorted(os.listdir(waldir)):
        if not is_segment_name(name):
            continue
        tli, segno = parse_segment_name(name, segment_size)
        if not doomed(name, tli, segno):
            continue
        try:
            os.unlink(os.path.join(waldir, name))
        except FileNotFoundError:
            continue
        archive.forget(waldir, name)
        removed += 1
    if removed:
        fsync_directory(waldir)
    return removed
