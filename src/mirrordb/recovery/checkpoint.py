"""Checkpoints and the checkpointer thread.

A checkpoint makes every change before its REDO point durable in the data files, so recovery can
start there. Steps (an online checkpoint):

1. Under the page lock, take the REDO point (where the next WAL record will start) and tell the WAL
   writer, atomically with respect to inserts (``set_redo_lsn_to_insert_lsn``): from now on, the
   first change to each page gets a full-page image.
2. Log the running transactions (wal_level replica), flush the WAL, write the commit log, write
   every dirty buffer (the buffer pool flushes WAL up to each page's LSN first), fsync all files.
3. Insert the checkpoint record (redo point, next xid and oid, oldest running xid) and flush it.
4. Rewrite ``pg_control`` atomically to point at it (and clear minRecoveryPoint: crash recovery
   from a primary's checkpoint always replays to the end of WAL); only then may old WAL segments
   be recycled: those before the REDO point, ``wal_keep_size`` and every replication slot's
   ``restart_lsn`` (capped by ``max_slot_wal_keep_size``: a slot further behind is invalidated
   first, PostgreSQL's KeepLogSeg and InvalidateObsoleteReplicationSlots), and every base
   backup in progress (``wal_holds``: from BASE_BACKUP's start to its end no segment at or
   after the backup's start LSN goes, so ``-X fetch`` finds them all). Dirty slots are
   written in step 2 (PostgreSQL's CheckPointReplicationSlots).

A crash anywhere before step 4 leaves the previous checkpoint in charge: nothing is lost. A
shutdown checkpoint runs with no concurrent activity, so its REDO point is the record itself.

The checkpointer thread (named ``checkpointer``) starts a checkpoint when ``checkpoint_timeout``
has passed since the last one, or when the WAL written since the last REDO point exceeds the share
of ``max_wal_size`` PostgreSQL uses, or when asked (``request``). A timed checkpoint is skipped
when nothing important was logged since the last checkpoint record. "Important" is PostgreSQL's
notion (the WAL writer's ``last_important_lsn``): every record except housekeeping that an idle
server would otherwise write forever (the standby snapshot's LOCK and RUNNING_XACTS,
archive_timeout's segment switch). So an idle primary writes no WAL at all: no segment for the
archive, no wake-up for the standbys.

The same thread does two more periodic jobs of PostgreSQL's: ``archive_timeout`` (switch to a new
segment when important WAL waits in the current one that long) and, what PostgreSQL's background
writer does, a standby snapshot (LOCK + RUNNING_XACTS) every ``LOG_SNAPSHOT_INTERVAL_S`` when
important WAL came since the last one, so a standby need not wait for a checkpoint to learn the
running transactions.

On a standby the same thread makes restartpoints (PostgreSQL's CreateRestartPoint, in
``Startup.restartpoint``) while the startup thread goes on replaying: by the same schedule, the
WAL measured as replayed since pg_control's REDO point, and only once a checkpoint record newer
than pg_control's has been replayed (a restartpoint restarts from one). CHECKPOINT on a standby
makes one at once (``restartpoint``). pg_stat_bgwriter counts restartpoints with the
checkpoints, as PostgreSQL 15 does: a round that ``checkpoint_timeout`` started as timed (even
when there is nothing to restart from yet: then it tries again ``RESTARTPOINT_RETRY_S`` later),
the others as requested; their buffers and write and sync times with the checkpoints'. Replay
never waits for the pages a restartpoint writes; a page it writes first raises minRecoveryPoint to where replay stands, as any page written in
recovery does (recovery/startup.py's MinRecoveryPoint). Whatever ends recovery (promotion's
``Engine.finish_promotion``, a clean stop's ``Engine.close``) first waits for a restartpoint
under way (``exclusive``, ``stop``), so pg_control never goes back to a restartpoint after it.
After promotion the thread makes checkpoints.
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mirrordb.common.checkpoint import CheckPoint
from mirrordb.common.errors import InvariantViolation, MirrordbError, invariant
from mirrordb.common.lsn import INVALID_LSN, format_lsn
from mirrordb.common.role_thread import RoleThread
from mirrordb.storage.control import DBState
from mirrordb.wal import payloads
from mirrordb.wal.rmgr import (RM_STANDBY_ID, RM_XLOG_ID, XLOG_CHECKPOINT_ONLINE,
                               XLOG_CHECKPOINT_SHUTDOWN, XLOG_RUNNING_XACTS,
                               XLOG_STANDBY_LOCK)

if TYPE_CHECKING:
    from mirrordb.engine import Engine
    from mirrordb.recovery.startup import Startup
    from mirrordb.replication.slots import SlotManager

log = logging.getLogger("mirrordb.checkpointer")

CHECKPOINTER_POLL_S = 1.0
LOG_SNAPSHOT_INTERVAL_S = 15.0    # PostgreSQL's LOG_SNAPSHOT_INTERVAL_MS
RESTARTPOINT_RETRY_S = 15.0       # a timed restartpoint with nothing to restart from retries
MAX_WAL_HOLDS = 64    # base backups in progress at once (max_wal_senders is far below this)


class DueCause(enum.Enum):
    """Why the checkpointer's round owes a checkpoint or restartpoint (``_due``)."""

    TIME = "checkpoint_timeout"
    WAL_VOLUME = "max_wal_size"


class WalHolds:
    """WAL positions that running base backups still need: no checkpoint (here) and no
    restartpoint (recovery/startup.py) removes a segment at or after the oldest of them.

    Lifecycle: ``hold(lsn)`` before the backup reads where it starts (any position not after
    the start), ``move(token, start_lsn)`` once it knows, ``release(token)`` when the backup
    ends or fails. Any thread; a lock guards the table.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: dict[int, int] = {}
        self._next_token = 1

    def hold(self, lsn: int) -> int:
        with self._lock:
            if len(self._holds) >= MAX_WAL_HOLDS:
                raise MirrordbError("too many base backups in progress", sqlstate="53400")
            token, self._next_token = self._next_token, self._next_token + 1
            self._holds[token] = lsn
            return token

    def move(self, token: int, lsn: int) -> None:
        with self._lock:
            invariant(token in self._holds, f"unknown WAL hold {token}")
            self._holds[token] = lsn

    def release(self, token: int) -> None:
        with self._lock:
            self._holds.pop(token, None)

    def oldest(self) -> int | None:
        """The oldest position held, or None when no backup runs."""
        with self._lock:
            return min(self._holds.values(), default=None)


@dataclass
class CheckpointerStatistics:
    """pg_stat_bgwriter's checkpoint counters since the start or the last reset. The
    backends' writes are the buffer pool's writes that no checkpoint made: ``buffers_total``
    counts every buffer a checkpoint wrote since the server started; the bases are where the
    pool's counters stood at the last reset."""

    timed: int = 0
    requested: int = 0
    write_ms: float = 0.0
    sync_ms: float = 0.0
    buffers: int = 0
    buffers_total: int = 0
    backend_writes_base: int = 0
    allocations_base: int = 0
    reset_at: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))

    def count_writes(self, buffers: int, write_ms: float, sync_ms: float) -> None:
        self.buffers += buffers
        self.buffers_total += buffers
        self.write_ms += write_ms
        self.sync_ms += sync_ms


class Checkpointer:
    """The checkpointer thread and ``checkpoint`` itself (see the module docstring).

    A failed checkpoint is logged and the next round tries again (what it left undone stays
    undone: the commit log's and the buffers' pages stay dirty, a failed data fsync refuses
    every later one), except a broken invariant: then ``on_panic`` is called (the server stops,
    as PostgreSQL PANICs) and the thread ends."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.on_panic: Callable[[BaseException], None] = lambda error: None
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._requested = False
        self._stopping = False
        self._thread: RoleThread | None = None
        self.last_checkpoint_time = time.monotonic()
        self.checkpoints_done = 0
        self.statistics = CheckpointerStatistics()
        self.wal_holds = WalHolds()
        # when a WAL segment was last finished, or a switch last tried (archive_timeout)
        self.last_segment_switch_time = time.monotonic()
        # the last periodic standby snapshot: when, and where it ended (0: none yet)
        self.last_snapshot_time = time.monotonic()
        self.last_snapshot_lsn = 0

    # -- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; a no-op while it runs (a standby's goes on after promotion)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping = False
        self._thread = RoleThread(self._run, "checkpointer")
        self._thread.start()

    @property
    def thread(self) -> RoleThread | None:
        """The thread last started, None after ``stop`` (pg_stat_activity's row)."""
        return self._thread

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def request(self) -> None:
        with self._wake:
            self._requested = True
            self._wake.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold off checkpoints and restartpoints (one under way finishes first)."""
        with self._lock:
            yield

    def _timeout_s(self) -> float:
        return int(self.engine.settings.get("checkpoint_timeout")) / 1000  # type: ignore[arg-type]

    def _due(self, wal_position: int) -> DueCause | None:
        """Why a checkpoint (or restartpoint) is due, if it is: ``checkpoint_timeout`` has
        passed since the last one (TIME), or the WAL from pg_control's REDO point to
        ``wal_position`` (inserted on a primary, replayed on a standby) exceeds PostgreSQL's
        CheckPointSegments share of ``max_wal_size`` (WAL_VOLUME: PostgreSQL's backends and
        startup process request those, so pg_stat_bgwriter counts them as requested)."""
        settings = self.engine.settings
        max_wal = int(settings.get("max_wal_size"))  # type: ignore[arg-type]
        distance = wal_position - self.engine.control.checkpoint.redo
        target = float(settings.get("checkpoint_completion_target"))  # type: ignore[arg-type]
        if distance >= max_wal / (1.0 + target):    # PostgreSQL's CheckPointSegments
            return DueCause.WAL_VOLUME
        if time.monotonic() - self.last_checkpoint_time >= self._timeout_s():
            return DueCause.TIME
        return None

    def _recovering(self) -> Startup | None:
        """The standby's startup process while archive recovery goes on, else None."""
        startup = self.engine.startup
        if startup is not None and startup.in_recovery and startup.archive_recovery:
            return startup
        return None

    def _work_due(self, requested: bool) -> Callable[[], object] | None:
        """This round's work: a restartpoint in recovery once a newer checkpoint record was
        replayed, else a checkpoint; None when nothing is due."""
        startup = self._recovering()
        if startup is None:
            if requested:
                return self.checkpoint
            cause = self._due(self.engine.wal.insert_lsn)
            if cause is DueCause.TIME:
                return self._timed_checkpoint
            return self.checkpoint if cause is DueCause.WAL_VOLUME else None
        if requested:
            return self.restartpoint
        cause = self._due(startup.state.last_replayed_end_lsn)
        if cause is DueCause.TIME:
            return self._timed_restartpoint
        if cause is DueCause.WAL_VOLUME and startup.restartpoint_possible():
            return self.restartpoint
        return None

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._requested and not self._stopping:
                    self._wake.wait(CHECKPOINTER_POLL_S)
                if self._stopping:
                    return
                requested, self._requested = self._requested, False
            self._check_archive_timeout()
            work = self._work_due(requested)
            if work is None:
                work = self._standby_snapshot_due()
            if work is not None:
                try:
                    work()
                except InvariantViolation as error:   # never carried on from (errors.py)
                    log.critical("checkpointer hit a broken invariant; stopping the server",
                                 exc_info=True, extra={"pg_level": "PANIC"})
                    self.on_panic(error)
                    return
                except Exception:  # noqa: BLE001 - logged; the next round retries
                    log.exception("restartpoint failed" if work in (
                        self.restartpoint, self._timed_restartpoint) else "checkpoint failed")

    def statistics_row(self) -> tuple[Any, ...]:
        """pg_stat_bgwriter's row. mirrordb has no background writer: buffers_clean and
        maxwritten_clean stay 0, every write outside a checkpoint is a backend's (eviction,
        relation flush, replay), and backends never fsync a relation themselves."""
        statistics, pool = self.statistics, self.engine.pool.stats
        return (statistics.timed, statistics.requested, statistics.write_ms,
                statistics.sync_ms, statistics.buffers,
                0, 0, pool.writes - statistics.buffers_total - statistics.backend_writes_base,
                0, pool.allocations - statistics.allocations_base, statistics.reset_at)

    def reset_statistics(self) -> None:
        """pg_stat_reset_shared('bgwriter')."""
        pool = self.engine.pool.stats
        with self._lock:
            statistics = self.statistics
            self.statistics = CheckpointerStatistics(
                buffers_total=statistics.buffers_total,
                backend_writes_base=pool.writes - statistics.buffers_total,
                allocations_base=pool.allocations)

    def _timed_checkpoint(self) -> None:
        """A checkpoint that ``checkpoint_timeout`` asked for, skipped when nothing but
        housekeeping was logged since the last checkpoint record (PostgreSQL's
        "checkpoint skipped because system is idle"): an idle server writes no WAL, so it
        archives no segments and wakes no standby. The clock restarts either way."""
        engine = self.engine
        self.statistics.timed += 1     # skipped or not, as PostgreSQL counts it
        if engine.wal.last_important_lsn == engine.control.checkpoint_lsn:
            self.last_checkpoint_time = time.monotonic()
            log.debug("checkpoint skipped because system is idle")
            return
        self.checkpoint(timed=True)

    def _standby_snapshot_due(self) -> Callable[[], object] | None:
        """PostgreSQL's background writer logs the running transactions every
        ``LOG_SNAPSHOT_INTERVAL_S`` on a primary, when important WAL came since the last
        snapshot: a standby starting between two checkpoints (or one whose snapshot overflowed)
        reaches a consistent hot-standby snapshot without waiting for the next checkpoint, and
        a WAL consumer sees the stream advance."""
        engine = self.engine
        if engine.env.wal_level == "minimal" or engine.in_recovery():
            return None
        if time.monotonic() - self.last_snapshot_time < LOG_SNAPSHOT_INTERVAL_S:
            return None
        # <=: the important position is a record's start, ours the snapshot's end
        if self.last_snapshot_lsn > engine.wal.last_important_lsn:
            return None
        return self.log_standby_snapshot

    def log_standby_snapshot(self) -> int:
        """Log the running transactions now (LOCK + RUNNING_XACTS) and flush them; returns the
        end of the RUNNING_XACTS record."""
        engine = self.engine
        with self._lock:
            tops, subs = engine.xacts.running_xids()
            end_lsn = self._log_running_xacts(tops, subs)
            engine.wal.flush(end_lsn)
        self.last_snapshot_time = time.monotonic()
        self.last_snapshot_lsn = end_lsn
        return end_lsn

    def _check_archive_timeout(self) -> None:
        """archive_timeout (PostgreSQL's CheckArchiveTimeout): on a primary, once that long
        has passed since a segment was last finished, switch to a new one so that the archiver
        gets what was written meanwhile; nothing happens when nothing was written since the
        last switch (the position is at a segment start). The clock restarts either way, so an
        idle server does not try every round."""
        engine = self.engine
        timeout_ms = engine.settings.get_int("archive_timeout")
        if timeout_ms <= 0 or engine.in_recovery():
            return
        now = time.monotonic()
        if now - self.last_segment_switch_time < timeout_ms / 1000:
            return
        wal = engine.wal
        self.last_segment_switch_time = now
        segment_start = wal.end_lsn - wal.end_lsn % wal.segment_size
        if wal.last_important_lsn <= segment_start:
            return    # only housekeeping (or nothing) since the last switch
        try:
            switch_end_lsn = wal.switch_segment(important=False)
            if switch_end_lsn % wal.segment_size:
                wal.flush(wal.end_lsn)
                log.debug("write-ahead log switch forced (archive_timeout=%d)",
                          timeout_ms // 1000)
        except MirrordbError as error:    # the WAL writer reports it to the sessions too
            log.warning("could not switch WAL segment for archive_timeout: %s", error.message)

    # -- the work -----------------------------------------------------------------------------

    def restartpoint(self, *, timed: bool = False) -> bool:
        """A standby's restartpoint now, in the calling thread (the checkpointer's, a
        session's CHECKPOINT, a base backup's start): ``Startup.restartpoint`` under the lock.
        False when there is nothing to restart from (no checkpoint record replayed since
        pg_control's) or recovery has ended. PostgreSQL 15's pg_stat_bgwriter counts it as a
        checkpoint, requested unless ``timed``, whether or not it could be made."""
        with self._lock:
            startup = self._recovering()
            if startup is None:
                return False
            if timed:
                self.statistics.timed += 1
            else:
                self.statistics.requested += 1
            if not startup.restartpoint():
                return False
            self.last_checkpoint_time = time.monotonic()
            return True

    def _timed_restartpoint(self) -> None:
        """``checkpoint_timeout`` passed on a standby: a restartpoint if a newer checkpoint
        record was replayed; without one, PostgreSQL's checkpointer tries again
        ``RESTARTPOINT_RETRY_S`` later (and counts each try as a timed checkpoint)."""
        if not self.restartpoint(timed=True):
            self.last_checkpoint_time = \
                time.monotonic() - self._timeout_s() + RESTARTPOINT_RETRY_S

    def write_everything(self) -> None:
        """A checkpoint's or restartpoint's writes: the commit log, every dirty buffer, then
        an fsync of every file written; pg_stat_bgwriter counts the buffers and times."""
        engine = self.engine
        engine.clog.flush()
        started = time.perf_counter()
        written = engine.pool.flush_all()
        written_at = time.perf_counter()
        engine.smgr.sync_all()
        self.statistics.count_writes(written, (written_at - started) * 1000,
                                     (time.perf_counter() - written_at) * 1000)

    def mark_in_production(self) -> None:
        self.engine.update_control(state=DBState.DB_IN_PRODUCTION)

    def checkpoint(self, shutdown: bool = False, end_of_recovery: bool = False, *,
                   timed: bool = False) -> int:
        """Run one checkpoint; returns the checkpoint record's LSN. One that is neither timed
        nor the shutdown's or end of recovery's counts as requested (pg_stat_bgwriter)."""
        engine = self.engine
        wal = engine.wal
        with self._lock:
            with engine.pool.lock:
                redo = wal.set_redo_lsn_to_insert_lsn()
                next_full_xid = engine.xacts.next_full_xid
                next_oid = engine.next_oid
            if not shutdown:   # OIDs used after the REDO point may be covered by a NEXTOID
                next_oid = engine.logged_next_oid()   # record before it: record its bound
            tops, subs = engine.xacts.running_xids()
            if not shutdown and engine.env.wal_level != "minimal":
                self._log_running_xacts(tops, subs)
            wal.flush(wal.insert_lsn)
            self.write_everything()
            if not (timed or shutdown or end_of_recovery):
                self.statistics.requested += 1
            slots = slot_manager(engine)
            slots.checkpoint()
            timeline = wal.timeline     # after a promotion, the new one
            checkpoint = CheckPoint(
                redo=redo, this_timeline=timeline, prev_timeline=timeline,
                full_page_writes=bool(engine.settings.get("full_page_writes")),
                next_full_xid=next_full_xid, next_oid=next_oid, next_multi=1,
                next_multi_offset=0, oldest_xid=3, oldest_xid_db=1, oldest_multi=1,
                oldest_multi_db=1, time_s=int(time.time()), oldest_commit_ts_xid=0,
                newest_commit_ts_xid=0,
                oldest_active_xid=0 if shutdown else (min(tops) if tops else next_full_xid
                                                      & 0xFFFFFFFF))
            with engine.pool.lock:
                info = XLOG_CHECKPOINT_SHUTDOWN if shutdown else XLOG_CHECKPOINT_ONLINE
                start_lsn, end_lsn = wal.insert_with_start(RM_XLOG_ID, info, checkpoint.encode())
            wal.flush(end_lsn)
            state = (DBState.DB_SHUTDOWNED if shutdown and not end_of_recovery
                     else DBState.DB_IN_PRODUCTION)
            engine.update_control(state=state, checkpoint_lsn=start_lsn, checkpoint=checkpoint,
                                  min_recovery_point=INVALID_LSN, min_recovery_point_tli=0)
            removed = wal.remove_old_segments(self._keep_from(redo, end_lsn, slots))
            self.last_checkpoint_time = time.monotonic()
            self.checkpoints_done += 1
            log.debug("checkpoint complete at %s (redo %s, %d segments removed)",
                      format_lsn(start_lsn), format_lsn(redo), removed)
            return start_lsn

    def _keep_from(self, redo: int, checkpoint_end_lsn: int, slots: SlotManager) -> int:
        """The oldest WAL position still needed: the REDO point's segment, or older for
        ``wal_keep_size``, the replication slots (capped by ``max_slot_wal_keep_size``;
        slots behind the cap are invalidated, then no longer count) and the base backups in
        progress (never capped)."""
        from mirrordb.replication.slots import keep_log_segment
        settings = self.engine.settings
        segment_size = self.engine.wal.segment_size
        slot_cap_bytes = int(settings.get("max_slot_wal_keep_size"))  # type: ignore[arg-type]
        keep_bytes = int(settings.get("wal_keep_size"))  # type: ignore[arg-type]

        def oldest_kept_segment() -> int:
            demand = keep_log_segment(checkpoint_end_lsn, slots.required_lsn(), segment_size,
                                      slot_cap_bytes, keep_bytes)
            segment = redo // segment_size
            return segment if demand is None else min(segment, demand)

        segment = oldest_kept_segment()
        if slots.invalidate_obsolete(segment * segment_size):
            segment = oldest_kept_segment()
        held = self.wal_holds.oldest()
        if held is not None:
            segment = min(segment, held // segment_size)
        return segment * segment_size

    def _log_running_xacts(self, tops: list[int], subs: list[int]) -> int:
        """PostgreSQL's LogStandbySnapshot: the AccessExclusiveLocks running transactions hold
        (a LOCK record), then RUNNING_XACTS, so a standby starting here knows both. Both are
        housekeeping (not important). Returns the end of RUNNING_XACTS."""
        engine = self.engine
        locks = engine.running_access_exclusive_locks()
        if locks:
            engine.wal.insert(RM_STANDBY_ID, XLOG_STANDBY_LOCK,
                              payloads.StandbyLocks(tuple(locks)).encode(), important=False)
        running = payloads.RunningXacts(
            xids=tops, subxids=subs, subxid_overflow=False, next_xid=engine.xacts.next_xid,
            oldest_running_xid=min(tops) if tops else engine.xacts.next_xid,
            latest_completed_xid=engine.xacts.latest_completed_xid)
        return engine.wal.insert(RM_STANDBY_ID, XLOG_RUNNING_XACTS, running.encode(),
                                 important=False)


def slot_manager(engine: Engine) -> SlotManager:
    """The engine's replication slots: the server attaches its ``SlotManager`` as
    ``engine.slots``; an engine opened without one (crash recovery's checkpoint before the
    postmaster attaches it, tools, tests) reads pg_replslot itself, so no checkpoint ever
    removes WAL a slot still needs."""
    slots: SlotManager | None = getattr(engine, "slots", None)
    if slots is None:
        from mirrordb.replication.slots import SlotManager
        slots = SlotManager(engine.datadir,
                            int(engine.settings.get("max_replication_slots")))  # type: ignore
        slots.load(wal_level=str(engine.settings.get("wal_level")))
        engine.slots = slots  # type: ignore[attr-defined]
    if slots.required_xmin not in engine.xacts.horizon_hooks:   # VACUUM keeps the slots' xmin
        engine.xacts.horizon_hooks.append(slots.required_xmin)
    return slots
