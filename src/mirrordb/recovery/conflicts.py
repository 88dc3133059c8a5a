"""Recovery conflicts: replay waits for, then cancels, the standby queries that stand in its way.

On a hot standby the startup thread replays changes the primary made without knowing what the
standby's queries still need. Some records cannot be replayed while a query runs: a heap PRUNE
frees row versions an older snapshot may still see (a *snapshot* conflict); a replayed
AccessExclusiveLock (DROP, TRUNCATE) cannot be taken while a query holds a lock on the relation
(a *lock* conflict). Every kind goes through ``RecoveryConflicts.resolve`` (PostgreSQL's
ResolveRecoveryConflictWithVirtualXIDs, standby.c):

1. ``find_victims()`` lists the sessions in the way (for a snapshot conflict:
   ``snapshot_victims``, the transactions whose snapshot xmin <= the record's horizon);
2. while there are any and the *standby limit* has not passed, replay waits (polling with a
   growing pause, ``WAIT_FIRST_S`` doubling up to ``WAIT_LONGEST_S``), asking again each time;
3. past the limit, each remaining victim gets a recovery-conflict interrupt with the reason
   (server/interrupts.py: a running statement fails with 40001 "canceling statement due to
   conflict with recovery" and the reason's DETAIL; a session idle in a transaction block is
   terminated, FATAL), and replay polls every ``CANCEL_POLL_S`` until every victim is gone,
   sending the interrupt again to one that is still there after acting on it.

The standby limit (PostgreSQL's GetStandbyLimitTime) is the time the WAL being replayed was
received plus ``max_standby_streaming_delay``, or, for WAL this server did not stream (read from
pg_wal, e.g. at start-up, or restored from an archive), the time replay first needed that segment
plus ``max_standby_archive_delay``; -1 waits forever, 0 cancels at once. The receipt time comes
from the walreceiver's ``WalReceiptTimes`` (a bounded history of when each flushed stretch of WAL
arrived). The settings are read at each step, so a reload applies to a wait in progress.

Who calls it: heap PRUNE redo through ``RecoveryState.resolve_snapshot_conflict`` (the startup
thread's ``EngineRecoveryState`` in recovery/startup.py forwards to ``resolve``); lock replay
(the standby lock table) calls ``resolve(RecoveryConflictReason.LOCK, ...)`` with victims from
``sessions_with_procs``. The postmaster attaches the session list, the walreceiver's receipt
times and its shutdown flag (``attach``). ``interrupt()`` (promotion) and shutdown end the
waiting for the limit: victims are cancelled at once, so the startup thread finishes the record
promptly.

Statistics: a victim counts the conflict when it acts on the interrupt (PostgreSQL's
pgstat_report_recovery_conflict), per database and reason: ``ConflictStatistics``, shown by
pg_stat_database_conflicts and pg_stat_database.conflicts (sql/sysviews.py). They live on the
engine (``conflict_statistics``), so a promoted server keeps them.

This module imports nothing above the recovery layer: a session is anything with ``pid``,
``database``, ``backend_type``, ``proc`` (its current transaction's proc entry, access/xact.py)
and ``interrupts`` (server/interrupts.py's InterruptState: ``request_recovery_conflict``).
"""

from __future__ import annotations

import bisect
import enum
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mirrordb.common.errors import invariant

log = logging.getLogger("mirrordb.recovery")

CANCEL_MESSAGE = "canceling statement due to conflict with recovery"
TERMINATE_MESSAGE = "terminating connection due to conflict with recovery"
RECONNECT_HINT = ("In a moment you should be able to reconnect to the database and repeat your "
                  "command.")
SERIALIZATION_FAILURE = "40001"       # every conflict but a dropped database: retry later
DATABASE_DROPPED = "57P04"

WAIT_FIRST_S = 0.001                  # first pause while waiting for victims to finish
WAIT_LONGEST_S = 0.05                 # the pause doubles up to this (PostgreSQL: 1 s)
CANCEL_POLL_S = 0.005                 # after cancelling, look again this often
MAX_RECEIPT_ENTRIES = 4096            # flushed stretches of WAL whose receipt time is kept
MAX_VICTIMS = 100_000                 # more sessions than any server admits: a broken finder


class RecoveryConflictReason(enum.Enum):
    """PostgreSQL's ProcSignalReason values for recovery conflicts, with their DETAIL text and
    the pg_stat_database_conflicts column that counts them (none for a dropped database)."""

    DATABASE = ("User was connected to a database that must be dropped.", None)
    TABLESPACE = ("User was or might have been using tablespace that must be dropped.",
                  "confl_tablespace")
    LOCK = ("User was holding a relation lock for too long.", "confl_lock")
    SNAPSHOT = ("User query might have needed to see row versions that must be removed.",
                "confl_snapshot")
    BUFFERPIN = ("User was holding shared buffer pin for too long.", "confl_bufferpin")
    STARTUP_DEADLOCK = ("User transaction caused buffer deadlock with recovery.",
                        "confl_deadlock")

    @property
    def detail(self) -> str:
        return self.value[0]

    @property
    def counter(self) -> str | None:
        return self.value[1]

    @property
    def sqlstate(self) -> str:
        """40001 (the transaction may be retried) except for a dropped database."""
        return DATABASE_DROPPED if self is RecoveryConflictReason.DATABASE \
            else SERIALIZATION_FAILURE


# pg_stat_database_conflicts' counters, in PostgreSQL 15's column order
COUNTER_COLUMNS = ("confl_tablespace", "confl_lock", "confl_snapshot", "confl_bufferpin",
                   "confl_deadlock")


# -- what a victim receives ------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ConflictRequest:
    """One recovery-conflict interrupt for a session (PostgreSQL's PROCSIG_RECOVERY_CONFLICT_*).

    ``still_applies`` says whether the session is still in the transaction the conflict is about
    (it is asked when the session acts on the request: one that ended meanwhile ignores it, as
    PostgreSQL's handler ignores a backend no longer in a transaction). ``report`` counts the
    conflict, once, when the session acts on it. ``terminate`` ends the session even in the
    middle of a statement (PostgreSQL's ProcDiePending path); otherwise only a session waiting
    for its client's next command is terminated, and a running statement is cancelled.
    """

    reason: RecoveryConflictReason
    still_applies: Callable[[], bool]
    report: Callable[[RecoveryConflictReason], None]
    terminate: bool = False


class ConflictTarget(Protocol):
    """What a victim's interrupt state offers (server/interrupts.py's InterruptState)."""

    def request_recovery_conflict(self, request: ConflictRequest) -> None: ...


@dataclass(frozen=True, eq=False)
class Victim:
    """A standby session in replay's way: its interrupt target and the transaction (proc entry)
    the conflict is about. Two victims are the same while pid and proc are."""

    pid: int
    database: str
    interrupts: ConflictTarget
    proc: object
    still_applies: Callable[[], bool]

    @property
    def key(self) -> tuple[int, int]:
        return self.pid, id(self.proc)


def _always() -> bool:
    return True


def transaction_open(proc: object) -> Callable[[], bool]:
    """A lock victim's ``still_applies``: its transaction has not ended (access/xact.py
    ``finish`` and ``end_without_xid`` clear ``Proc.transaction_open``)."""
    return lambda: bool(getattr(proc, "transaction_open", False))


def snapshot_held(proc: object) -> Callable[[], bool]:
    """A snapshot victim's ``still_applies``: the proc still advertises an xmin. It stops
    when its transaction ends and, under READ COMMITTED, when it holds no snapshot any more
    (between statements, without cursors): nothing it can still read needs the versions."""
    return lambda: bool(getattr(proc, "xmin", 0))


def xid_precedes_or_equals(left: int, right: int) -> bool:
    """PostgreSQL's TransactionIdPrecedesOrEquals for normal xids (modulo 2^32)."""
    difference = (left - right) & 0xFFFFFFFF
    return difference == 0 or difference >= 0x80000000


# -- statistics ------------------------------------------------------------------------------------

class ConflictStatistics:
    """Conflicts counted per database (by name) and reason; any thread may count or read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}

    def count(self, database: str, reason: RecoveryConflictReason) -> None:
        column = reason.counter
        if column is None:      # PostgreSQL does not count conflicts of a dropped database
            return
        with self._lock:
            per_database = self._counts.setdefault(database, dict.fromkeys(COUNTER_COLUMNS, 0))
            per_database[column] += 1

    def counters(self, database: str) -> tuple[int, ...]:
        """The database's counters in ``COUNTER_COLUMNS`` order."""
        with self._lock:
            per_database = self._counts.get(database, {})
            return tuple(per_database.get(column, 0) for column in COUNTER_COLUMNS)

    def total(self, database: str) -> int:
        """pg_stat_database.conflicts: every counted conflict of the database."""
        return sum(self.counters(database))

    def reset(self, database: str) -> None:
        """pg_stat_reset() in ``database``: its counters start again."""
        with self._lock:
            self._counts.pop(database, None)


def conflict_statistics(engine: Any) -> ConflictStatistics:
    """The engine's conflict counters, created on first use (they outlive recovery)."""
    statistics: ConflictStatistics | None = getattr(engine, "recovery_conflict_statistics", None)
    if statistics is None:
        statistics = ConflictStatistics()
        engine.recovery_conflict_statistics = statistics
    return statistics


# -- when WAL arrived ------------------------------------------------------------------------------

class WalReceiptTimes:
    """When each stretch of streamed WAL was flushed by the walreceiver (PostgreSQL's
    XLogReceiptTime, kept per stretch so replay far behind the stream still finds its WAL's).

    ``flushed(end_lsn, when_s)`` is called by the walreceiver thread after each flush (monotonic
    seconds); ``receipt_time(lsn)`` by the startup thread: when the WAL up to ``lsn`` was on
    disk, or None if it was not streamed by this walreceiver. At most ``MAX_RECEIPT_ENTRIES``
    stretches are kept; WAL older than the oldest kept gets the oldest time (an earlier limit,
    never a later one).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ends: list[int] = []
        self._times: list[float] = []
        self._stream_start_lsn: int | None = None

    def stream_started(self, start_lsn: int) -> None:
        """Streaming (re)started at ``start_lsn``: WAL from there on comes from the stream."""
        with self._lock:
            if self._stream_start_lsn is None or start_lsn < self._stream_start_lsn:
                self._stream_start_lsn = start_lsn

    def flushed(self, end_lsn: int, when_s: float) -> None:
        with self._lock:
            if self._ends and end_lsn <= self._ends[-1]:
                return
            if self._stream_start_lsn is None:
                self._stream_start_lsn = end_lsn
            self._ends.append(end_lsn)
            self._times.append(when_s)
            if len(self._ends) > MAX_RECEIPT_ENTRIES:
                half = MAX_RECEIPT_ENTRIES // 2
                # keep the oldest time for what is dropped: it answers for older WAL
                del self._ends[1:half]
                del self._times[1:half]

    def receipt_time(self, lsn: int) -> float | None:
        with self._lock:
            start = self._stream_start_lsn
            if start is None or lsn <= start or not self._ends or lsn > self._ends[-1]:
                return None
            return self._times[bisect.bisect_left(self._ends, lsn)]


# -- the sessions ----------------------------------------------------------------------------------

class StandbySession(Protocol):
    """A standby session as the postmaster's registry holds it (server/postmaster.BackendInfo)."""

    pid: int
    database: str
    backend_type: str
    interrupts: Any


SessionSource = Callable[[], Iterable[Any]]
ReceiptSource = Callable[[], "WalReceiptTimes | None"]


class DatabaseGate(Protocol):
    """Who may connect to which database (server/postmaster.py ``Server``): DROP DATABASE's
    redo closes the database to new sessions before it ends the connected ones, and waits for
    sessions that are connecting to it; a later CREATE DATABASE of the same OID opens it."""

    def close_database(self, oid: int) -> None: ...

    def reopen_database(self, oid: int) -> None: ...

    def database_users(self, oid: int) -> int: ...


def _no_sessions() -> list[Any]:
    return []


def _no_receipts() -> WalReceiptTimes | None:
    return None


def _never() -> bool:
    return False


@dataclass(eq=False)
class _WaitState:
    """One ``resolve`` in progress (what monitoring and tests may read)."""

    reason: RecoveryConflictReason
    started_s: float
    cancelled: int = 0          # interrupts sent


class RecoveryConflicts:
    """The standby's conflict resolution (see the module docstring); one per engine in
    recovery, used by the startup thread only (``interrupt`` and the counters by any thread).

    ``settings`` returns the server's current settings; ``segment_size`` splits WAL into the
    segments whose first use starts the archive delay; ``clock`` is monotonic seconds.
    """

    def __init__(self, settings: Callable[[], Any], segment_size: int,
                 statistics: ConflictStatistics, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.segment_size = segment_size
        self.statistics = statistics
        self.clock = clock
        self.sessions: SessionSource = _no_sessions
        self.receipts: ReceiptSource = _no_receipts
        self.stopping: Callable[[], bool] = _never
        self.databases: DatabaseGate | None = None
        self.waiting: _WaitState | None = None      # the resolve in progress, if any
        self.resolved = 0                           # resolves that found victims (tests)
        self._interrupted = threading.Event()
        self._unstreamed_segment: tuple[int, float] | None = None

    @classmethod
    def for_engine(cls, engine: Any) -> RecoveryConflicts:
        """The conflict resolution of ``engine``'s recovery: its current settings (reloads
        replace ``engine.settings``), WAL segment size and conflict counters."""
        return cls(lambda: engine.settings, int(engine.control.xlog_seg_size),
                   conflict_statistics(engine))

    def attach(self, *, sessions: SessionSource, receipts: ReceiptSource,
               stopping: Callable[[], bool], databases: DatabaseGate | None = None) -> None:
        """The server's session registry, the walreceiver's receipt times, its shutdown flag
        and its database gate (the postmaster, before the startup thread starts)."""
        self.sessions, self.receipts, self.stopping = sessions, receipts, stopping
        self.databases = databases

    def database_created(self, database_oid: int) -> None:
        """Replay created database ``database_oid``: sessions may connect to it (again, if a
        dropped database had its OID)."""
        if self.databases is not None:
            self.databases.reopen_database(database_oid)

    def interrupt(self) -> None:
        """Stop waiting for the standby limit (promotion): cancel the victims at once, now and
        in later conflicts. Any thread."""
        self._interrupted.set()

    # -- finding victims ---------------------------------------------------------------------------

    def client_sessions(self) -> list[Any]:
        """Client backends with a transaction entry (walsenders are never victims)."""
        return [session for session in self.sessions()
                if getattr(session, "backend_type", "client backend") == "client backend"
                and getattr(session, "proc", None) is not None
                and getattr(session, "interrupts", None) is not None]

    def snapshot_victims(self, limit_xid: int) -> list[Victim]:
        """Sessions whose transaction's snapshot xmin precedes or equals ``limit_xid``
        (PostgreSQL's GetConflictingVirtualXIDs). The proc's xmin is the oldest snapshot the
        transaction still holds (access/xact.py): a READ COMMITTED session idle between
        statements holds none and is nobody's victim."""
        victims = []
        for session in self.client_sessions():
            proc = session.proc
            xmin = getattr(proc, "xmin", 0)
            if xmin and xid_precedes_or_equals(xmin, limit_xid):
                victims.append(self._victim(session, proc, snapshot_held(proc)))
        return victims

    def sessions_with_procs(self, procs: Collection[object]) -> list[Victim]:
        """The sessions whose current transaction is one of ``procs`` (lock conflicts: the
        holders of a lock the startup thread needs)."""
        wanted = {id(proc) for proc in procs}
        return [self._victim(session, session.proc, transaction_open(session.proc))
                for session in self.client_sessions() if id(session.proc) in wanted]

    @staticmethod
    def _victim(session: Any, proc: object, still_applies: Callable[[], bool]) -> Victim:
        return Victim(int(session.pid), str(getattr(session, "database", "")),
                      session.interrupts, proc, still_applies)

    # -- the standby limit -------------------------------------------------------------------------

    def limit_time(self, record_end_lsn: int) -> float | None:
        """When replay of the record ending at ``record_end_lsn`` stops waiting (monotonic
        seconds), or None to wait forever (PostgreSQL's GetStandbyLimitTime)."""
        received = self._receipt(record_end_lsn)
        setting = "max_standby_streaming_delay" if received[1] else "max_standby_archive_delay"
        delay_ms = int(self.settings().get(setting))
        if delay_ms < 0:
            return None
        return received[0] + delay_ms / 1000

    def _receipt(self, lsn: int) -> tuple[float, bool]:
        """(when the WAL at ``lsn`` arrived, whether it was streamed)."""
        receipts = self.receipts()
        streamed = receipts.receipt_time(lsn) if receipts is not None else None
        if streamed is not None:
            return streamed, True
        segment = max(lsn - 1, 0) // self.segment_size
        if self._unstreamed_segment is None or self._unstreamed_segment[0] != segment:
            self._unstreamed_segment = (segment, self.clock())
        return self._unstreamed_segment[1], False

    # -- resolving ---------------------------------------------------------------------------------

    def resolve_snapshot(self, latest_removed_xid: int, record_end_lsn: int) -> None:
        """Before replay removes row versions whose newest deleter is ``latest_removed_xid``
        (PostgreSQL's ResolveRecoveryConflictWithSnapshot); 0 (only aborted versions) conflicts
        with nobody. Every session counts, whatever its database: mirrordb's databases share
        their relations."""
        if latest_removed_xid:
            self.resolve(RecoveryConflictReason.SNAPSHOT,
                         lambda: self.snapshot_victims(latest_removed_xid),
                         record_end_lsn=record_end_lsn)

    def resolve_database(self, database_oid: int) -> None:
        """Before replay removes database ``database_oid``: no new session may connect to it,
        every session connected to it is terminated at once (FATAL 57P04), and replay waits
        until all are gone, those still connecting included (PostgreSQL's
        ResolveRecoveryConflictWithDatabase under the database's lock, which does not wait
        for the standby limit)."""
        gate = self.databases
        if gate is not None:
            gate.close_database(database_oid)

        def connected() -> list[Victim]:
            return [Victim(int(session.pid), str(getattr(session, "database", "")),
                           session.interrupts, getattr(session, "proc", None), _always)
                    for session in self.sessions()
                    if getattr(session, "backend_type", "client backend") == "client backend"
                    and getattr(session, "database_oid", None) == database_oid
                    and getattr(session, "interrupts", None) is not None]

        def attached() -> int:
            return 0 if gate is None else gate.database_users(database_oid)

        victims = self._checked(connected())
        if not victims and not attached():
            return
        self.resolved += 1
        self.waiting = _WaitState(RecoveryConflictReason.DATABASE, self.clock())
        try:
            while victims or attached():
                self._cancel(RecoveryConflictReason.DATABASE, victims, terminate=True)
                self._pause(CANCEL_POLL_S)
                victims = self._checked(connected())
        finally:
            self.waiting = None

    def resolve(self, reason: RecoveryConflictReason,
                find_victims: Callable[[], Sequence[Victim]], *, record_end_lsn: int,
                terminate: bool = False) -> None:
        """Wait until ``find_victims()`` returns nobody; past the standby limit of the record
        ending at ``record_end_lsn`` (or at once after ``interrupt``/shutdown), send each victim
        the conflict interrupt and wait for it to go (see the module docstring). ``terminate``
        ends the victims' sessions rather than cancelling their statements."""
        victims = self._checked(find_victims())
        if not victims:
            return
        self.resolved += 1
        self.waiting = _WaitState(reason, self.clock())
        try:
            self._wait_out(reason, find_victims, victims, record_end_lsn, terminate)
        finally:
            self.waiting = None

    def _wait_out(self, reason: RecoveryConflictReason,
                  find_victims: Callable[[], Sequence[Victim]], victims: list[Victim],
                  record_end_lsn: int, terminate: bool) -> None:
        pause_s = WAIT_FIRST_S
        first_keys = {victim.key for victim in victims}
        while victims:
            if self._limit_passed(record_end_lsn):
                self._cancel(reason, victims, terminate)
                self._pause(CANCEL_POLL_S)
            else:
                limit = self.limit_time(record_end_lsn)
                left_s = pause_s if limit is None else max(min(pause_s, limit - self.clock()), 0)
                self._pause(left_s)
                pause_s = min(pause_s * 2, WAIT_LONGEST_S)
            # only the sessions found at first can stand in the way: a snapshot or lock taken
            # since cannot conflict with a record replayed after it (PostgreSQL waits for the
            # virtual transactions it found at first)
            victims = [victim for victim in self._checked(find_victims())
                       if victim.key in first_keys]

    def _pause(self, seconds: float) -> None:
        """Sleep, waking early when ``interrupt`` is called (once it was, a plain sleep)."""
        if self._interrupted.is_set():
            time.sleep(seconds)
        else:
            self._interrupted.wait(seconds)

    def _limit_passed(self, record_end_lsn: int) -> bool:
        if self._interrupted.is_set() or self.stopping():
            return True
        limit = self.limit_time(record_end_lsn)
        return limit is not None and self.clock() >= limit

    def _cancel(self, reason: RecoveryConflictReason, victims: list[Victim],
                terminate: bool) -> None:
        statistics = self.statistics
        for victim in victims:
            database = victim.database

            def report(reason: RecoveryConflictReason, database: str = database) -> None:
                statistics.count(database, reason)

            victim.interrupts.request_recovery_conflict(
                ConflictRequest(reason, victim.still_applies, report, terminate))
            if self.waiting is not None:
                self.waiting.cancelled += 1

    @staticmethod
    def _checked(victims: Sequence[Victim]) -> list[Victim]:
        invariant(len(victims) <= MAX_VICTIMS, f"{len(victims)} conflict victims")
        return list(victims)


__all__ = ["CANCEL_MESSAGE", "COUNTER_COLUMNS", "ConflictRequest", "ConflictStatistics",
           "DatabaseGate", "RECONNECT_HINT", "RecoveryConflictReason", "RecoveryConflicts", "TERMINATE_MESSAGE",
           "Victim", "WalReceiptTimes", "conflict_statistics", "snapshot_held",
           "transaction_open", "xid_precedes_or_equals"]
