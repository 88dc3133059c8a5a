"""The standby's startup thread: continuous recovery while ``standby.signal`` exists.

Who runs it: server/postmaster.py, for a data directory with ``standby.signal``, opens the engine
with ``Engine.open(..., standby_mode=True)`` (which begins archive recovery and replays the WAL
already in ``pg_wal``) and then starts ``StandbyReplay(engine).start()``. The other half is the
walreceiver (replication/walreceiver.py), which writes streamed WAL into ``pg_wal`` and calls
``wake()`` after each flush.

What the thread does (PostgreSQL's startup process in standby mode, never finishing):

1. ``startup.replay_available()``: every valid record from where replay stands to the current
   end of WAL in ``pg_wal`` (whatever put it there: the walreceiver, or a person copying
   segments).
2. Wait for ``wake()`` or ``POLL_INTERVAL_S`` (the poll re-reads ``pg_wal``), then go to 1.

Restartpoints are not this thread's: the checkpointer makes them beside replay
(recovery/checkpoint.py), as PostgreSQL's does, so replay never stops while pages are written.

It stops at ``stop()`` (the postmaster's shutdown; the engine's ``close()`` then makes the last
restartpoint and leaves pg_control "shut down in recovery"), or when replay fails: the error is
logged as FATAL and ``failure`` set, and the postmaster stops the server, as PostgreSQL's
postmaster does when the startup process dies.

Shared state read by other threads (plain attribute reads; written by this thread only):
``replayed_lsn`` (pg_last_wal_replay_lsn), ``last_commit_time`` (PG timestamp of the last commit
or abort replayed: pg_last_xact_replay_timestamp), ``consistent``.

Pausing replay (PostgreSQL's recovery pause; the SQL functions pg_wal_replay_pause(),
pg_wal_replay_resume(), pg_get_wal_replay_pause_state() and pg_is_wal_replay_paused() in
sql/replication_functions.py call ``request_pause``/``resume``/``pause_state``). The state is
"not paused", "pause requested" (set by another thread) or "paused" (set by this thread when it
notices the request: between two records, or while it waits for WAL). While paused the thread
waits before the next record; the walreceiver keeps receiving and flushing into pg_wal.
``resume`` or ``stop`` ends the wait. The pause is not persisted: a restarted standby replays
again.

Delayed replay (``recovery_min_apply_delay``, PostgreSQL's recoveryApplyDelay): once the standby
is consistent, replay stops before each commit record until the commit's time plus the delay by
this server's clock (``_delay_commit``, Startup's ``before_xact_record`` hook, installed for
each round of replay while a delay is set); the walreceiver
goes on receiving and flushing meanwhile, so only the replay position lags. A reload wakes the
wait (the new value applies), a promotion trigger ends it for good.

Archive recovery that ends (``standby_mode=False``: ``recovery.signal`` without
``standby.signal``): the same thread, without a walreceiver; at the end of pg_wal it fetches the
next segment from the archive at once, and when the archive has none it ends recovery exactly as
a promotion does. A recovery target (recovery/target.py) stops replay in either mode; the
thread then runs ``recovery_target_action`` (``_act_at_target``): ``pause`` (paused until
pg_wal_replay_resume() or a promotion, then promote), ``promote``, or ``shutdown`` (the
postmaster stops the server, still in recovery).

Promotion (recovery/promote.py): ``request_promote`` (the postmaster, on a promote signal) ends a
pause and wakes the thread. After each round the thread checks for a trigger
(``promote.promotion_triggered``: the signal with its ``promote`` file, or
``promote_trigger_file``; a paused thread looks too, and the pause ends); on one it calls ``on_promotion_start`` (the postmaster stops the
walreceiver and says how far it wrote), replays what is left in pg_wal, ends recovery
(``Engine.finish_promotion``), sets ``promoted``, calls ``on_promoted`` and ends. A failure on
the way is a startup failure like any other.
"""

from __future__ import annotations

import enum
import logging
import struct
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mirrordb.common.errors import MirrordbError, ObjectNotInPrerequisiteState, invariant
from mirrordb.common.role_thread import RoleThread
from mirrordb.recovery import promote
from mirrordb.wal.payloads import pg_timestamp_to_unix_s, xact_time
from mirrordb.wal.record import DecodedRecord
from mirrordb.wal.rmgr import XACT_COMMIT_OPS, XLOG_XACT_OPMASK

if TYPE_CHECKING:
    from mirrordb.engine import Engine
    from mirrordb.recovery.startup import Startup

log = logging.getLogger("mirrordb.startup")

STARTUP_THREAD_NAME = "startup"
POLL_INTERVAL_S = 0.5                # re-read pg_wal at least this often without a wake-up
STOP_TIMEOUT_S = 60.0                # longest wait for the thread to finish the record it is on


class RecoveryPauseState(enum.Enum):
    """PostgreSQL's RecoveryPauseState; the values are pg_get_wal_replay_pause_state()'s."""

    NOT_PAUSED = "not paused"
    PAUSE_REQUESTED = "pause requested"
    PAUSED = "paused"


class StandbyReplay:
    """The startup thread of a standby (see the module docstring)."""

    def __init__(self, engine: Engine, *, standby_mode: bool = True,
                 on_failure: Callable[[BaseException], None] | None = None,
                 on_consistent: Callable[[], None] | None = None,
                 on_promotion_start: Callable[[], promote.ReceivedWal | None] | None = None,
                 on_promoted: Callable[[], None] | None = None,
                 on_target_shutdown: Callable[[], None] | None = None) -> None:
        invariant(engine.startup is not None and engine.startup.in_recovery,
                  "StandbyReplay needs an engine opened in standby mode")
        assert engine.startup is not None
        self.engine = engine
        self.startup: Startup = engine.startup
        # standby.signal: wait for more WAL forever; recovery.signal (False): recover what the
        # archive has, then end recovery
        self.standby_mode = standby_mode
        self._on_target_shutdown = on_target_shutdown
        self.failure: BaseException | None = None
        self._on_failure = on_failure
        self._on_consistent = on_consistent
        self._on_promotion_start = on_promotion_start
        self._on_promoted = on_promoted
        self._wakeup = threading.Condition()
        self._woken = False
        self._stopping = False
        self._thread: RoleThread | None = None
        self._consistent_reported = False
        self._pause_state = RecoveryPauseState.NOT_PAUSED    # guarded by _wakeup
        self._promote_signaled = False                        # guarded by _wakeup
        self._promoting = False                               # guarded by _wakeup
        self.promoted = False    # recovery ended by promotion (the thread has ended)
        # Sends a walreceiver status update now (set by the postmaster when a walreceiver
        # runs): called right after a commit record that asks for apply feedback is replayed.
        self.request_walreceiver_reply: Callable[[], None] | None = None
        # Held by the walreceiver while it streams into pg_wal; the archive is read only
        # without it (recovery/restore.py). Passed to the walreceiver by the postmaster.
        self.wal_source_lock = threading.Lock()
        self._next_archive_try = 0.0       # monotonic time; after a miss, the retry interval

    # -- what other threads read ----------------------------------------------------------------

    @property
    def replayed_lsn(self) -> int:
        """End of the last record replayed (pg_last_wal_replay_lsn)."""
        return self.startup.state.last_replayed_end_lsn

    @property
    def last_commit_time(self) -> int | None:
        return self.startup.last_commit_time

    @property
    def consistent(self) -> bool:
        return self.startup.state.consistent

    @property
    def end_of_wal_lsn(self) -> int:
        """Where the next record to replay starts: the walreceiver streams from its segment."""
        return self.startup.next_lsn

    # -- control ----------------------------------------------------------------------------------

    def start(self) -> None:
        invariant(self._thread is None, "startup thread started twice")
        self._report_consistency()
        self._thread = RoleThread(self._run, STARTUP_THREAD_NAME)
        self._thread.start()

    def wake(self) -> None:
        """New WAL was flushed into pg_wal (the walreceiver calls this)."""
        with self._wakeup:
            self._woken = True
            self._wakeup.notify_all()

    def stop(self) -> None:
        """Finish the batch in progress and end the thread (the engine stays in recovery)."""
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(STOP_TIMEOUT_S)
            invariant(not self._thread.is_alive(), "startup thread did not stop")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self) -> RoleThread | None:
        """The thread, once started (pg_stat_activity's "startup" row while it runs)."""
        return self._thread

    # -- pausing (any thread) ----------------------------------------------------------------------

    @property
    def pause_state(self) -> RecoveryPauseState:
        return self._pause_state

    def request_pause(self) -> None:
        """pg_wal_replay_pause(): replay stops before its next record (or while it waits)."""
        with self._wakeup:
            self._refuse_after_promotion_trigger("pg_wal_replay_pause()")
            if self._pause_state is RecoveryPauseState.NOT_PAUSED:
                self._pause_state = RecoveryPauseState.PAUSE_REQUESTED
                self.startup.state.interrupt_pending = True    # replay looks before a record
            self._wakeup.notify_all()

    def resume(self) -> None:
        """pg_wal_replay_resume(): a request or a pause ends; replay goes on."""
        with self._wakeup:
            self._refuse_after_promotion_trigger("pg_wal_replay_resume()")
            self._pause_state = RecoveryPauseState.NOT_PAUSED
            self._woken = True
            self._wakeup.notify_all()

    def _refuse_after_promotion_trigger(self, function: str) -> None:
        """With ``_wakeup`` held: pausing or resuming is an error once promotion is under way
        (PostgreSQL's words)."""
        if self._promoting:
            raise ObjectNotInPrerequisiteState(
                "standby promotion is ongoing",
                hint=f"{function} cannot be executed after promotion is triggered.")

    # -- promotion (any thread asks; this thread acts) --------------------------------------

    def request_promote(self) -> None:
        """A promote signal (PostgreSQL's SIGUSR2 to the startup process): a pause ends, the
        thread wakes and promotes once the ``promote`` file is there. A wait for conflicting
        standby queries stops waiting: they are cancelled at once (recovery/conflicts.py)."""
        with self._wakeup:
            self._promote_signaled = True
            self._pause_state = RecoveryPauseState.NOT_PAUSED
            self._woken = True
            self._wakeup.notify_all()
        self.startup.state.conflicts.interrupt()

    def _promotion_triggered(self) -> bool:
        with self._wakeup:
            signaled, self._promote_signaled = self._promote_signaled, False
        trigger_file = str(self.engine.settings.get("promote_trigger_file") or "")
        if not promote.promotion_triggered(self.engine.datadir, signaled, trigger_file):
            return False
        with self._wakeup:
            self._promoting = True
            self._pause_state = RecoveryPauseState.NOT_PAUSED
        return True

    def _promote(self) -> None:
        received = self._on_promotion_start() if self._on_promotion_start is not None else None
        promote.promote(self.engine, self._replay_available, received)
        self.promoted = True
        if self._on_promoted is not None:
            self._on_promoted()

    # -- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping:
                self.replay_once()
                if self.startup.stop_point is not None:
                    self._act_at_target()
                    return
                if self._promoting or self._promotion_triggered():
                    self._promote()
                    return
                if self.startup.rescan_timelines():
                    continue       # a newer timeline: its WAL may be in pg_wal already
                if not self.standby_mode:
                    if not self._archive_has_more():
                        self._promote()     # the end of the archive ends archive recovery
                        return
                elif not self._fetch_from_archive():
                    self._wait()
        except (MirrordbError, OSError) as error:
            self._fail(error)
        except Exception as error:  # a bug in redo: stop the server rather than go on
            log.critical("startup process failed", exc_info=True)
            self._fail(error)

    def replay_once(self) -> int:
        """One round: replay what is available. Returns records replayed."""
        replayed = self._replay_available()
        self._report_consistency()
        return replayed

    def _replay_available(self) -> int:
        """``Startup.replay_available`` with this thread's hook between records: a pause point
        before each record, the walreceiver reply after a commit that asks for one. A stop
        while paused leaves the records not yet replayed for the next start."""
        delayed = self.engine.settings.get_int("recovery_min_apply_delay") > 0
        # the delay's hook only while a delay is set: a round without one pays nothing per
        # transaction record (a reload setting one applies from the next round)
        self.startup.before_xact_record = self._delay_commit if delayed else None
        return self.startup.replay_available(self._between_records)

    def _between_records(self, more: bool) -> bool:
        """``Startup``'s hook, called while ``interrupt_pending`` is set (``request_pause``
        and the replay of a commit that asks for apply feedback set it). Sends the reply, then,
        with a record to replay next (``more``), stops there while paused: False when ``stop``
        ends the pause. The flag stays set while a pause is requested or under way, so the
        next record (maybe of the next round) stops too."""
        self._refresh_interrupt_pending()
        state = self.startup.state
        if state.walreceiver_reply_requested:
            self._reply_to_primary()
        if not more or not state.interrupt_pending:
            return True
        go_on = self._wait_while_paused()
        self._refresh_interrupt_pending()
        return go_on

    def _refresh_interrupt_pending(self) -> None:
        """The flag stays set exactly while a pause is requested or under way (``request_pause``
        sets it under ``_wakeup`` too: no request is lost)."""
        with self._wakeup:
            self.startup.state.interrupt_pending = \
                self._pause_state is not RecoveryPauseState.NOT_PAUSED

    def _reply_to_primary(self) -> None:
        """A replayed commit's writer waits for it (remote_apply): tell the primary now."""
        self.startup.state.walreceiver_reply_requested = False
        if self.request_walreceiver_reply is not None:
            self.request_walreceiver_reply()

    def _wait_while_paused(self) -> bool:
        """A pause point: confirm a requested pause, then wait for ``resume`` or a promotion
        trigger (True: replay goes on) or ``stop`` (False)."""
        with self._wakeup:
            self._confirm_pause()
        while True:
            with self._wakeup:
                if self._stopping or self._pause_state is not RecoveryPauseState.PAUSED:
                    return not self._stopping
                self._wakeup.wait(POLL_INTERVAL_S)
            if self._promoting or self._promotion_triggered():
                return True

    def _confirm_pause(self) -> None:
        """With ``_wakeup`` held: a requested pause becomes a pause (PostgreSQL's
        ConfirmRecoveryPaused and its log line)."""
        if self._pause_state is RecoveryPauseState.PAUSE_REQUESTED:
            self._pause_state = RecoveryPauseState.PAUSED
            log.info("recovery has paused")
            log.info("Execute pg_wal_replay_resume() to continue.", extra={"pg_level": "HINT"})

    def _delay_commit(self, record: DecodedRecord) -> bool:
        """``recovery_min_apply_delay`` (PostgreSQL's recoveryApplyDelay), before a transaction
        record is replayed: a commit waits until its commit time plus the delay, by this
        server's clock. Aborts and other records are not delayed (they change nothing a query
        sees), nor is anything before the standby is consistent. The setting is read again on
        every wake-up (a reload wakes the thread), and a promotion trigger ends the wait and
        every later one: what is left is replayed at once. A pause requested meanwhile takes
        effect before the commit. False: ``stop`` ended the wait, replay stops before it."""
        if self.engine.settings.get_int("recovery_min_apply_delay") <= 0 \
                or record.info & XLOG_XACT_OPMASK not in XACT_COMMIT_OPS \
                or not self.startup.state.consistent:
            return True
        try:
            committed_at = pg_timestamp_to_unix_s(xact_time(record.main_data))
        except struct.error:
            return True      # a malformed record: its redo reports it
        waited = False
        while not (self._promoting or self._promotion_triggered()):
            delay_s = self.engine.settings.get_int("recovery_min_apply_delay") / 1000
            remaining_s = committed_at + delay_s - time.time()
            if remaining_s <= 0:
                break
            with self._wakeup:
                if self._stopping:
                    return False
                waited = True
                self._wakeup.wait(min(remaining_s, POLL_INTERVAL_S))
        if waited and self._pause_state is not RecoveryPauseState.NOT_PAUSED:
            return self._wait_while_paused()
        return True

    # -- the end of archive recovery (recovery.signal) and recovery targets ---------------------

    def _archive_has_more(self) -> bool:
        """recovery.signal: replay is at the end of pg_wal; False when the archive has no next
        segment (nor a newer timeline), which ends recovery. While paused, replay waits."""
        if self._pause_state is not RecoveryPauseState.NOT_PAUSED:
            self._wait()
            return True
        return self.startup.restore_from_archive() or \
            self.startup.rescan_timelines(archive=True)

    def _act_at_target(self) -> None:
        """Replay stopped at the recovery target (recovery/target.py): then
        ``recovery_target_action`` (PostgreSQL's order: consistency checked first; ``pause``
        without hot standby is ``shutdown``, since nobody could resume it)."""
        target = self.startup.target
        assert target is not None
        if not self.consistent:
            raise MirrordbError("requested recovery stop point is before consistent recovery "
                                "point", sqlstate="XX000")
        action = target.action
        if action == "pause" and not self.engine.settings.get_bool("hot_standby"):
            action = "shutdown"
        if action == "shutdown":
            if self._on_target_shutdown is not None:
                self._on_target_shutdown()
            return
        if action == "pause" and not self._pause_at_end_of_recovery():
            return        # stopped while paused: still in recovery, at the target
        with self._wakeup:
            self._promoting = True
        promote.remove_promote_signal_file(self.engine.datadir)
        self._promote()

    def _pause_at_end_of_recovery(self) -> bool:
        """``pause``: hot standby queries see the state at the target until
        pg_wal_replay_resume() or a promotion (True: recovery ends) or ``stop`` (False)."""
        with self._wakeup:
            if self._promoting or self._promote_signaled:
                return True
            self._pause_state = RecoveryPauseState.PAUSED
        log.info("pausing at the end of recovery")
        log.info("Execute pg_wal_replay_resume() to promote.", extra={"pg_level": "HINT"})
        return self._wait_while_paused()

    def _fetch_from_archive(self) -> bool:
        """Replay is at the end of pg_wal: when the walreceiver is not streaming (none is
        configured, or it lost its primary) and no pause holds replay, ask the archive for the
        next segment (``Startup.restore_from_archive``). True when one came (replay goes on at
        once); after a miss the archive is asked again only after wal_retrieve_retry_interval,
        as PostgreSQL's standby alternates between its WAL sources."""
        if self.startup.restore is None or not self.startup.restore.configured or \
                self._pause_state is not RecoveryPauseState.NOT_PAUSED or \
                time.monotonic() < self._next_archive_try:
            return False
        if not self.wal_source_lock.acquire(blocking=False):
            return False      # streaming: the primary is the source
        try:
            fetched = self.startup.restore_from_archive()
        finally:
            self.wal_source_lock.release()
        if not fetched:
            retry_ms = self.engine.settings.get_int("wal_retrieve_retry_interval")
            self._next_archive_try = time.monotonic() + retry_ms / 1000
            # nothing more on this timeline: the archive may hold a newer one's history
            return self.startup.rescan_timelines(archive=True)
        return fetched

    def _wait(self) -> None:
        with self._wakeup:
            self._confirm_pause()
            if not self._woken and not self._stopping:
                self._wakeup.wait(POLL_INTERVAL_S)
            self._woken = False

    def _report_consistency(self) -> None:
        if self._consistent_reported or not self.consistent:
            return
        self._consistent_reported = True
        if self._on_consistent is not None:
            self._on_consistent()

    def _fail(self, error: BaseException) -> None:
        self.failure = error
        if isinstance(error, MirrordbError):
            log.critical("%s", error.message, extra={"pg_level": "FATAL"})
            if error.detail:
                log.critical("%s", error.detail, extra={"pg_level": "DETAIL"})
        else:
            log.critical("startup process failed: %s", error, extra={"pg_level": "FATAL"})
        if self._on_failure is not None:
            self._on_failure(error)


__all__ = ["RecoveryPauseState", "StandbyReplay", "STARTUP_THREAD_NAME"]
