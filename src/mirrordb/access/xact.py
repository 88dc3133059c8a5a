"""Transactions: xid assignment, the running-transaction table, snapshots, commit and abort.

``TransactionManager`` is shared by every session of a server. It owns

* ``next_full_xid`` (epoch << 32 | xid), advanced when a transaction first writes;
* the proc array: one ``Proc`` per open transaction with its xid, subtransaction xids and the
  xmin of its snapshot; snapshots and the VACUUM horizon are computed from it;
* one ``threading.Event`` per running xid (PostgreSQL's xid lock), set when the xid ends, so a
  writer that meets a row changed by a running transaction can wait for it; such waits join the
  relation lock manager's deadlock detection (``locks``, access/lmgr.py, which also holds the
  table-level locks), and an in-memory row lock table (``SELECT FOR UPDATE/SHARE``; row locks
  end with their transaction, so a crash loses nothing by not logging them).

``Transaction`` is one session's transaction: isolation level, snapshot per statement (READ
COMMITTED) or per transaction (REPEATABLE READ), the savepoint stack, command ids.

The proc's advertised ``xmin`` (what VACUUM's horizon, hot-standby feedback and a standby's
snapshot conflicts read) follows the oldest snapshot the transaction still holds, as
PostgreSQL's MyProc->xmin does: the running statement's (REPEATABLE READ: the transaction's, held
to the end) and the registered ones (``register_snapshot``: a cursor or a suspended portal keeps
reading with the snapshot it started with). The session says when a READ COMMITTED statement is
over (``release_statement_snapshot``): then ``snapshot`` is None until the next statement takes
one, and a transaction idle between statements, holding no cursor, advertises no xmin at all. A
new snapshot's xmin is published under the manager's lock while the proc advertises none; moving
an advertised xmin forward needs no lock (every snapshot still held is at least as new).

Commit protocol (synchronous): make the relations the transaction created durable if their changes
skipped WAL (wal_level=minimal, ``sync_relation_files``), insert the commit record, flush the WAL
up to its end, then under the manager's lock mark the xid and its subxids committed in the commit
log and remove the proc (so a snapshot never sees a half-committed transaction). With ``synchronous_commit = off`` the flush is
left to the WAL writer. Abort: insert an abort record (no flush needed), mark aborted, remove.
Transactions that never wrote have no xid and write no WAL.

Synchronous replication: a session's commit carries its ``synchronous_commit`` level
(``Transaction.synchronous_commit``, one of ``SYNCHRONOUS_COMMIT_LEVELS``). After the local flush
and before the commit log and the proc array change, ``manager.wait_for_sync_rep(end_lsn, level,
proc)`` (installed by replication/syncrep.py; a no-op otherwise) waits until the synchronous
standbys confirm the record, so other sessions cannot see the changes meanwhile, as in PostgreSQL.
Its ``CommitWaitOutcome`` says what the client is told: a warning when a cancel ended the wait
(``commit_warning``, the commit stands), and an error raised once the commit is complete when a
terminate ended it (the session ends without acknowledging COMMIT). Under ``remote_apply`` the
commit record carries XACT_COMPLETION_APPLY_FEEDBACK, so the standby replies once it replays it.

On a hot standby (``enter_hot_standby``) the running transactions that matter are the
primary's: snapshots come from recovery/hot_standby.py's ``KnownAssignedXids``, which replay
feeds (``observe_xid`` and the Transaction/Standby redo handlers). A commit that changed
catalogs carries a relcache invalidation message so the standby's relation cache forgets them.
"""

from __future__ import annotations

import enum
import logging
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mirrordb.access.clog import (FIRST_NORMAL_XID, XACT_ABORTED, XACT_COMMITTED, CommitLog)
from mirrordb.access.lmgr import NO_HOOKS, LockManager, LockWaitHooks
from mirrordb.access.snapshot import OwnChanges, Snapshot
from mirrordb.common.errors import (InvalidTransactionState, InvariantViolation,
                                    MirrordbError, ReadOnlyTransaction, invariant)
from mirrordb.storage.relfilenode import DEFAULT_TABLESPACE_OID, RelFileNode, TempRelFileNode
from mirrordb.wal import payloads
from mirrordb.wal.rmgr import RM_XACT_ID

if TYPE_CHECKING:
    from mirrordb.recovery.hot_standby import KnownAssignedXids
    from mirrordb.wal.writer import WalWriter

log = logging.getLogger(__name__)

SYNCHRONOUS_COMMIT_LEVELS = ("off", "local", "remote_write", "on", "remote_apply")
# Transaction ID wraparound. Tuples keep 32-bit xids and mirrordb does not freeze them (no VACUUM
# FREEZE yet), so the oldest xid that may be on disk stays FIRST_NORMAL_XID for a cluster's
# life, and xids compare correctly only within half the xid space of it. As PostgreSQL stops
# at its xidStopLimit (computed from the oldest datfrozenxid, which never moves here), no xid
# is assigned from XID_STOP_LIMIT on: the server keeps answering reads, and nothing already
# committed can turn invisible. From XID_WARN_LIMIT the server log warns every
# XID_WARN_INTERVAL xids.
XID_WRAP_LIMIT = FIRST_NORMAL_XID + (0xFFFFFFFF >> 1)
XID_STOP_LIMIT = XID_WRAP_LIMIT - 3_000_000
XID_WARN_LIMIT = XID_WRAP_LIMIT - 40_000_000
XID_WARN_INTERVAL = 1_000_000
OLDEST_XID_DATABASE = "template1"   # the database PostgreSQL would name: the first, as old as any
WRAPAROUND_HINT = ("mirrordb does not freeze transaction IDs, so VACUUM cannot move this limit: "
                   "copy the data into a new cluster.")
DEADLOCK_CHECK_INTERVAL_S = 1.0   # deadlock_timeout of a proc without wait hooks
MAX_REGISTERED_SNAPSHOTS = 10_000  # snapshots one transaction's cursors and portals may hold
POSTGRES_DATABASE_OID = 5   # catalog/bootstrap.py (not imported: catalog sits above access)

# A SharedInvalidationMessage (16 bytes) of kind SHAREDINVALRELCACHE_ID (-2): i8 id, 3 pad
# bytes, u32 database oid, u32 relation oid (0: every relation of the database), 4 pad bytes.
# The commit of a transaction that changed catalogs carries one, as PostgreSQL's commit records
# carry theirs; a hot standby replaying it empties its relation cache.
RELCACHE_INVALIDATION_STRUCT = struct.Struct("<b3xII4x")
assert RELCACHE_INVALIDATION_STRUCT.size == payloads.INVALIDATION_MESSAGE_SIZE
SHAREDINVALRELCACHE_ID = -2
WAIT_POLL_INTERVAL_S = 0.05


@dataclass(frozen=True)
class CommitWaitOutcome:
    """How a wait for synchronous replication ended early (``wait_for_sync_rep``)."""

    warning: MirrordbError | None = None    # a WARNING for the client; the commit stands
    error: MirrordbError | None = None      # raised once the commit is complete (terminate)


class IsolationLevel(enum.Enum):
    READ_COMMITTED = "read committed"
    REPEATABLE_READ = "repeatable read"


# PostgreSQL's four level names: READ UNCOMMITTED behaves as READ COMMITTED there too;
# SERIALIZABLE runs as REPEATABLE READ (snapshot isolation; no predicate locks yet).
ISOLATION_LEVEL_NAMES = {"read uncommitted": IsolationLevel.READ_COMMITTED,
                         "read committed": IsolationLevel.READ_COMMITTED,
                         "repeatable read": IsolationLevel.REPEATABLE_READ,
                         "serializable": IsolationLevel.REPEATABLE_READ}


class RowLockMode(enum.IntEnum):
    """Row lock strengths, weakest first (PostgreSQL's LockTupleMode): FOR KEY SHARE, FOR
    SHARE, FOR NO KEY UPDATE, FOR UPDATE (also what UPDATE and DELETE take here). A stronger
    mode conflicts with everything a weaker one does, so a holder keeps only its strongest."""

    KEY_SHARE = 0
    SHARE = 1
    EXCLUSIVE = 2
    NO_KEY_EXCLUSIVE = 3


# the strength order of RowLockMode (its values keep their first meanings: SHARE 1, EXCLUSIVE 2)
LOCK_STRENGTH = {RowLockMode.KEY_SHARE: 0, RowLockMode.SHARE: 1, RowLockMode.NO_KEY_EXCLUSIVE: 2,
                 RowLockMode.EXCLUSIVE: 3}
# which held modes each requested mode conflicts with (PostgreSQL's tupleLockExtraInfo table)
_ROW_LOCK_CONFLICTS = {
    RowLockMode.KEY_SHARE: frozenset({RowLockMode.EXCLUSIVE}),
    RowLockMode.SHARE: frozenset({RowLockMode.NO_KEY_EXCLUSIVE, RowLockMode.EXCLUSIVE}),
    RowLockMode.NO_KEY_EXCLUSIVE: frozenset({RowLockMode.SHARE, RowLockMode.NO_KEY_EXCLUSIVE,
                                             RowLockMode.EXCLUSIVE}),
    RowLockMode.EXCLUSIVE: frozenset(RowLockMode),
}


def row_locks_conflict(requested: RowLockMode, held: RowLockMode) -> bool:
    return held in _ROW_LOCK_CONFLICTS[requested]


@dataclass(eq=False)
class Proc:
    """One open transaction as other sessions see it (compared by identity: two sessions'
    procs with equal fields are still two entries of the running set)."""

    xid: int = 0
    subxids: list[int] = field(default_factory=list)
    xmin: int = 0          # the oldest snapshot the transaction holds (0: none)
    transaction_open: bool = True   # False once its transaction has ended
    wait_event: str | None = None
    pid: int = 0                                # the backend's process id (deadlock reports)
    wait_hooks: LockWaitHooks | None = None     # interrupts and timeouts while it waits


@dataclass(eq=False)
class SubTransaction:
    name: str
    xid: int = 0
    created_relations: list[RelFileNode] = field(default_factory=list)
    dropped_relations: list[RelFileNode] = field(default_factory=list)
    child_xids: list[int] = field(default_factory=list)


class TransactionManager:
    """Shared transaction state of one server (see the module docstring)."""

    def __init__(self, clog: CommitLog, wal: WalWriter | None, next_full_xid: int) -> None:
        self.clog = clog
        self.wal = wal
        self.next_full_xid = max(next_full_xid, FIRST_NORMAL_XID)
        self.synchronous_commit = True
        self.latest_completed_xid = self.next_full_xid - 1
        self._lock = threading.Lock()
        self._procs_list: list[Proc] = []
        self._xid_events: dict[int, threading.Event] = {}
        self._parent_of: dict[int, int] = {}
        self.locks = LockManager(self.proc_holding_xid)
        self._row_locks: dict[tuple[RelFileNode, int, int], dict[int, RowLockMode]] = {}
        self.horizon_hooks: list[Callable[[], int | None]] = []
        self.drop_relation_files: Callable[[list[RelFileNode]], None] = lambda relations: None
        # Makes relations created by a committing transaction durable before its commit record
        # (under wal_level=minimal their changes skipped WAL: access/env.py).
        self.sync_relation_files: Callable[[list[RelFileNode]], None] = lambda relations: None
        # Synchronous replication (replication/syncrep.py): waits, after the commit record at
        # end_lsn is flushed, until the synchronous standbys confirm it at the level's position.
        self.wait_for_sync_rep: Callable[[int, str, Proc], CommitWaitOutcome | None] = \
            lambda end_lsn, level, proc: None
        # A commit that left its flush to the WAL writer (synchronous_commit = off): make sure
        # the WAL writer runs (PostgreSQL's XLogSetAsyncXactLSN wakes it).
        self.wake_wal_writer: Callable[[], None] = lambda: None
        # The primary's running xids as replayed WAL shows them, while this server is a standby.
        self.hot_standby: KnownAssignedXids | None = None

    # -- procs and xids ---------------------------------------------------------------------

    def register(self, proc: Proc) -> None:
        with self._lock:
            self._procs_list.append(proc)

    def unregister(self, proc: Proc) -> None:
        with self._lock:
            if proc in self._procs_list:
                self._procs_list.remove(proc)

    def end_without_xid(self, proc: Proc) -> None:
        """``finish(proc, [], ...)`` then ``unregister(proc)`` in one critical section: the end
        of a transaction that never took an xid (nothing to record, no row locks to release)."""
        with self._lock:
            proc.xid = 0
            proc.subxids = []
            proc.xmin = 0
            proc.transaction_open = False
            if proc in self._procs_list:
                self._procs_list.remove(proc)

    def assign_xid(self, proc: Proc, parent_xid: int = 0) -> int:
        """Give ``proc`` (or one of its subtransactions, when ``parent_xid``) a new xid; past
        XID_STOP_LIMIT refuse, with PostgreSQL's error (54000)."""
        with self._lock:
            if self.next_full_xid >= XID_WARN_LIMIT:
                self._check_wraparound()
            xid = self.next_full_xid & 0xFFFFFFFF
            if xid < FIRST_NORMAL_XID:
                self.next_full_xid += FIRST_NORMAL_XID - xid
                xid = FIRST_NORMAL_XID
            self.next_full_xid += 1
            self._xid_events[xid] = threading.Event()
            if parent_xid:
                proc.subxids.append(xid)
                self._parent_of[xid] = parent_xid
            else:
                proc.xid = xid
            return xid

    def _check_wraparound(self) -> None:
        """The xid about to be assigned is at or past XID_WARN_LIMIT (under ``_lock``)."""
        next_xid = self.next_full_xid      # epoch included: any epoch is past the limits
        if next_xid >= XID_STOP_LIMIT:
            raise MirrordbError("database is not accepting commands to avoid wraparound data "
                                f'loss in database "{OLDEST_XID_DATABASE}"', sqlstate="54000",
                                hint=WRAPAROUND_HINT)
        if (next_xid - XID_WARN_LIMIT) % XID_WARN_INTERVAL == 0:
            log.warning('database "%s" must be vacuumed within %d transactions',
                        OLDEST_XID_DATABASE, XID_WRAP_LIMIT - next_xid)
            log.warning("%s", WRAPAROUND_HINT, extra={"pg_level": "HINT"})

    def observe_xid(self, xid: int) -> None:
        """Recovery saw ``xid`` in the WAL: the next xid must be beyond it."""
        if xid and xid >= (self.next_full_xid & 0xFFFFFFFF):
            self.next_full_xid = (self.next_full_xid & ~0xFFFFFFFF) | (xid + 1)
        if self.hot_standby is not None:
            self.hot_standby.record_xid(xid)

    # -- hot standby (recovery/hot_standby.py) ----------------------------------------------

    def enter_hot_standby(self) -> KnownAssignedXids:
        """This server replays WAL as a standby: snapshots follow the primary's transactions
        (idempotent; returns the tracker). Redo asks at every transaction record: an
        existing tracker is returned without the lock or the import."""
        tracker = self.hot_standby
        if tracker is not None:
            return tracker
        from mirrordb.recovery.hot_standby import KnownAssignedXids
        with self._lock:
            if self.hot_standby is None:
                self.hot_standby = KnownAssignedXids(self._xid_finished)
            return self.hot_standby

    def leave_hot_standby(self) -> None:
        """Promotion: from now on this server's own transactions are the running ones (the
        startup process has marked the primary's unfinished xids aborted first)."""
        with self._lock:
            tracker, self.hot_standby = self.hot_standby, None
            if tracker is not None:
                self.latest_completed_xid = max(self.latest_completed_xid,
                                                tracker.latest_completed_xid)

    def _xid_finished(self, xid: int) -> bool:
        return self.clog.status(xid) in (XACT_COMMITTED, XACT_ABORTED)

    @property
    def next_xid(self) -> int:
        return self.next_full_xid & 0xFFFFFFFF

    def take_snapshot(self, proc: Proc | None) -> Snapshot:
        tracker = self.hot_standby
        if tracker is not None:
            snapshot = tracker.snapshot()
            if snapshot is not None:
                if proc is not None and not proc.xmin:
                    proc.xmin = snapshot.xmin    # hot_standby_feedback reads oldest_xmin()
                return snapshot
            # before SNAPSHOT_READY (no client is admitted yet): the commit log alone
        with self._lock:
            xmax = self.next_xid
            xip: set[int] = set()
            xmin = xmax
            for other in self._procs_list:
                if other.xid:
                    xip.add(other.xid)
                    xip.update(other.subxids)
                    xmin = min(xmin, other.xid)
            if proc is not None and not proc.xmin:
                proc.xmin = xmin
            return Snapshot(xmin, xmax, frozenset(xip))

    def running_xids(self) -> tuple[list[int], list[int]]:
        """(top-level xids, subxids) of running transactions, for RUNNING_XACTS records."""
        with self._lock:
            tops = sorted(p.xid for p in self._procs_list if p.xid)
            subs = sorted(s for p in self._procs_list for s in p.subxids)
            return tops, subs

    def oldest_xmin(self) -> int:
        """The VACUUM horizon: no snapshot now or later can see a version deleted before it."""
        with self._lock:
            horizon = self.next_xid
            for proc in self._procs_list:
                for candidate in (proc.xid, proc.xmin):
                    if candidate:
                        horizon = min(horizon, candidate)
        for hook in self.horizon_hooks:
            held = hook()
            if held:
                horizon = min(horizon, held)
        return horizon

    def is_running(self, xid: int) -> bool:
        event = self._xid_events.get(xid)
        return event is not None and not event.is_set()

    def did_commit(self, xid: int) -> bool:
        return self.clog.status(xid) == XACT_COMMITTED

    # -- ending transactions ----------------------------------------------------------------

    def finish(self, proc: Proc, xids: list[int], status: int) -> None:
        """Record the fate of ``xids`` and take ``proc``'s xids out of the running set."""
        with self._lock:
            if xids:
                self.clog.set_status(xids, status)
            for xid in xids:
                self._parent_of.pop(xid, None)
                event = self._xid_events.pop(xid, None)
                if event is not None:
                    event.set()
                if xid > self.latest_completed_xid:
                    self.latest_completed_xid = xid
            if status == XACT_ABORTED and proc.xid not in xids:
                proc.subxids = [s for s in proc.subxids if s not in xids]
            else:
                proc.xid = 0
                proc.subxids = []
                proc.xmin = 0
                proc.transaction_open = False
            self._release_row_locks(xids)

    # -- waiting for other transactions -----------------------------------------------------

    def top_level_of(self, xid: int) -> int:
        while xid in self._parent_of:
            xid = self._parent_of[xid]
        return xid

    def proc_holding_xid(self, xid: int) -> Proc | None:
        """The proc running ``xid`` (or the transaction it is a subtransaction of), if any."""
        if not self.is_running(xid):
            return None
        top = self.top_level_of(xid)
        with self._lock:
            for proc in self._procs_list:
                if proc.xid == top or xid in proc.subxids:
                    return proc
        return None

    def wait_for(self, xid: int, waiter_xid: int, proc: Proc,
                 check_for_interrupts: Callable[[], None]) -> None:
        """Block until ``xid`` ends (PostgreSQL's XactLockTableWait), detecting deadlocks."""
        event = self._xid_events.get(xid)
        if event is None:
            return
        hooks = proc.wait_hooks or NO_HOOKS
        timeout_s = (hooks.deadlock_timeout_ms() / 1000 if proc.wait_hooks is not None
                     else DEADLOCK_CHECK_INTERVAL_S)
        proc.wait_event = "transactionid"
        self.locks.begin_xid_wait(proc, xid)
        started = time.monotonic()
        checked = False
        hooks.wait_started()
        try:
            while not event.wait(WAIT_POLL_INTERVAL_S):
                check_for_interrupts()
                if not checked and time.monotonic() - started >= timeout_s:
                    checked = True
                    self.locks.check_deadlock(proc)
        finally:
            hooks.wait_ended()
            self.locks.end_xid_wait(proc)
            proc.wait_event = None
        if xid in self._parent_of:  # a subtransaction that committed into its parent
            self.wait_for(self._parent_of[xid], waiter_xid, proc, check_for_interrupts)

    # -- row locks (in memory) --------------------------------------------------------------

    def row_lock_conflict(self, key: tuple[RelFileNode, int, int], my_xids: set[int],
                          mode: RowLockMode) -> int:
        """An xid holding a lock on the row that conflicts with ``mode``, or 0."""
        with self._lock:
            holders = self._row_locks.get(key)
            if not holders:
                return 0
            for xid, held in holders.items():
                if xid in my_xids:
                    continue
                if row_locks_conflict(mode, held):
                    return xid
            return 0

    def add_row_lock(self, key: tuple[RelFileNode, int, int], xid: int, mode: RowLockMode) -> None:
        with self._lock:
            holders = self._row_locks.setdefault(key, {})
            held = holders.get(xid, mode)
            holders[xid] = mode if LOCK_STRENGTH[mode] >= LOCK_STRENGTH[held] else held

    def _release_row_locks(self, xids: list[int]) -> None:
        if not self._row_locks or not xids:
            return
        ending = set(xids)
        for key in [k for k, holders in self._row_locks.items() if ending & holders.keys()]:
            holders = self._row_locks[key]
            for xid in ending & holders.keys():
                del holders[xid]
            if not holders:
                del self._row_locks[key]

    def activity(self) -> list[Proc]:
        with self._lock:
            return list(self._procs_list)


class TransactionState(enum.Enum):
    IN_PROGRESS = "in progress"
    FAILED = "failed"
    COMMITTED = "committed"
    ABORTED = "aborted"


class Transaction:
    """One session's transaction. The engine layer wraps it with the data operations."""

    def __init__(self, manager: TransactionManager, isolation: IsolationLevel,
                 read_only: bool = False,
                 check_for_interrupts: Callable[[], None] | None = None) -> None:
        self.manager = manager
        self.isolation = isolation
        self.read_only = read_only
        self.state = TransactionState.IN_PROGRESS
        self.proc = Proc()
        self.own = OwnChanges()
        self.check_for_interrupts = check_for_interrupts or (lambda: None)
        self.top = SubTransaction(name="")
        self.subtransactions: list[SubTransaction] = []
        self.snapshot: Snapshot | None = None        # what reads use now (None: between
        self.statement_took_snapshot = False         # READ COMMITTED statements)
        self._snapshot_held = False                  # ``snapshot`` counts in proc.xmin
        self._registered: list[Snapshot] = []        # held by cursors and suspended portals
        self.touched_catalogs = False
        # the database whose catalogs the commit record's invalidation names (the engine's
        # Txn sets it: the session's database)
        self.database_oid = POSTGRES_DATABASE_OID
        # took an AccessExclusiveLock a standby must know of: commit and abort records say so
        # (XACT_XINFO_HAS_AE_LOCKS), as PostgreSQL's XACT_FLAGS_ACQUIREDACCESSEXCLUSIVELOCK
        self.logged_access_exclusive_lock = False
        # The session's synchronous_commit, set just before commit (None: "local", or "off"
        # when the server runs with synchronous_commit = off); see the module docstring.
        self.synchronous_commit: str | None = None
        self.commit_warning: MirrordbError | None = None
        manager.register(self.proc)
        self.new_statement()

    # -- statements, snapshots, command ids -------------------------------------------------

    def new_statement(self) -> Snapshot:
        """Start a statement: advance the command id, and in READ COMMITTED take a new snapshot."""
        self._require_open()
        if self.snapshot is not None or self.statement_took_snapshot:
            self.own.command_id += 1
        self.statement_took_snapshot = (self.snapshot is None or
                                        self.isolation == IsolationLevel.READ_COMMITTED)
        if self.statement_took_snapshot:
            self._take_snapshot()
        assert self.snapshot is not None
        return self.snapshot

    @property
    def first_snapshot_taken(self) -> bool:
        """Whether a statement of this transaction has read (PostgreSQL's FirstSnapshotSet):
        its isolation level is fixed from then on."""
        return self.snapshot is not None or self.statement_took_snapshot

    def drop_unused_snapshot(self) -> None:
        """The BEGIN that started this transaction read nothing: the snapshot taken with it
        goes, so the first statement takes the first one (REPEATABLE READ's transaction
        snapshot, as PostgreSQL takes it at the first query, not at BEGIN)."""
        if self.state == TransactionState.IN_PROGRESS and self._snapshot_held:
            self.snapshot = None
            self._snapshot_held = False
            self.statement_took_snapshot = False
            self._advertise_xmin()

    def set_isolation(self, name: str) -> None:
        """SET TRANSACTION ISOLATION LEVEL inside the transaction block (before any query)."""
        isolation = ISOLATION_LEVEL_NAMES[name.lower()]
        if isolation is not self.isolation and self.first_snapshot_taken:
            raise InvalidTransactionState("SET TRANSACTION ISOLATION LEVEL must be called "
                                          "before any query", sqlstate="25001")
        self.isolation = isolation

    def set_read_only(self, read_only: bool) -> None:
        """SET TRANSACTION READ ONLY | READ WRITE inside the transaction block: read-write
        only before any query."""
        if self.read_only and not read_only and self.first_snapshot_taken:
            raise InvalidTransactionState("transaction read-write mode must be set before any "
                                          "query", sqlstate="25001")
        self.read_only = read_only

    def take_statement_snapshot(self) -> None:
        """Work between statements (planning a Parse message) reads with a snapshot of its
        own when the last statement's was released: taken here, held until the next release."""
        if self.snapshot is None and self.state == TransactionState.IN_PROGRESS:
            self._take_snapshot()

    def refresh_statement_snapshot(self) -> None:
        """The statement waited for a relation lock before reading anything: if it took its
        snapshot, take it again, so it sees what the lock holder committed (PostgreSQL takes
        the snapshot once the statement's locks are held)."""
        if self.statement_took_snapshot and self._snapshot_held and \
                self.state == TransactionState.IN_PROGRESS:
            self._take_snapshot()

    def _take_snapshot(self) -> None:
        """A new statement (or transaction) snapshot, held: the manager publishes its xmin if
        the proc advertised none; otherwise the advertised one moves to the oldest held."""
        snapshot = self.manager.take_snapshot(self.proc)
        self.snapshot = snapshot
        self._snapshot_held = True
        if self.proc.xmin != snapshot.xmin:
            self._advertise_xmin()

    def release_statement_snapshot(self) -> None:
        """The session's READ COMMITTED statement is over and the transaction stays open: its
        snapshot is no longer held (cursors keep their own). REPEATABLE READ keeps its one."""
        if self._snapshot_held and self.isolation == IsolationLevel.READ_COMMITTED:
            self._snapshot_held = False
            self.snapshot = None
            self._advertise_xmin()

    def register_snapshot(self, snapshot: Snapshot) -> None:
        """A cursor or a suspended portal goes on reading with ``snapshot``: it stays in
        proc.xmin until ``unregister_snapshot``, or the end of the transaction."""
        if len(self._registered) >= MAX_REGISTERED_SNAPSHOTS:
            raise MirrordbError(f"too many open cursors in one transaction (at most "
                                f"{MAX_REGISTERED_SNAPSHOTS})", sqlstate="54000")
        self._registered.append(snapshot)

    def unregister_snapshot(self, snapshot: Snapshot) -> None:
        """The cursor or portal that registered ``snapshot`` is gone."""
        for index, held in enumerate(self._registered):
            if held is snapshot:
                del self._registered[index]
                if self.state != TransactionState.COMMITTED and \
                        self.state != TransactionState.ABORTED:
                    self._advertise_xmin()
                return
        invariant(False, "unregister_snapshot of a snapshot that is not registered")

    def _advertise_xmin(self) -> None:
        """proc.xmin := the oldest xmin of the snapshots held (0: none). Only ever moves it
        forward or clears it: each held snapshot was published when it was taken."""
        current = self.snapshot
        xmin = current.xmin if self._snapshot_held and current is not None else 0
        for held in self._registered:
            if not xmin or held.xmin < xmin:
                xmin = held.xmin
        self.proc.xmin = xmin

    def command_counter_increment(self) -> None:
        self.own.command_id += 1

    @property
    def current_subtransaction(self) -> SubTransaction:
        return self.subtransactions[-1] if self.subtransactions else self.top

    def current_xid(self) -> int:
        """The xid that owns new changes, assigning the top-level and subtransaction xids lazily."""
        self._require_open()
        if self.read_only:
            raise ReadOnlyTransaction("cannot execute this statement in a read-only transaction")
        return self._assign_xids()

    def xid_for_lock_record(self) -> int:
        """The current (sub)transaction's xid, assigned if need be even in a read-only
        transaction: an AccessExclusiveLock (LOCK TABLE is allowed there) is WAL-logged under
        it, and its commit or abort record tells a standby when to release it."""
        self._require_open()
        self.logged_access_exclusive_lock = True
        return self._assign_xids()

    def _assign_xids(self) -> int:
        if not self.top.xid:
            self.top.xid = self.manager.assign_xid(self.proc)
            self.own.xids.add(self.top.xid)
        parent = self.top.xid
        for sub in self.subtransactions:
            if not sub.xid:
                sub.xid = self.manager.assign_xid(self.proc, parent_xid=parent)
                self.own.xids.add(sub.xid)
            parent = sub.xid
        return self.current_subtransaction.xid

    @property
    def xid(self) -> int:
        return self.top.xid

    def _require_open(self) -> None:
        if self.state == TransactionState.FAILED:
            raise InvalidTransactionState(
                "current transaction is aborted, commands ignored until end of transaction block",
                sqlstate="25P02")
        if self.state != TransactionState.IN_PROGRESS:
            raise InvalidTransactionState("transaction is no longer open")

    def mark_failed(self) -> None:
        if self.state == TransactionState.IN_PROGRESS:
            self.state = TransactionState.FAILED

    # -- savepoints -------------------------------------------------------------------------

    def savepoint(self, name: str) -> None:
        self._require_open()
        self.subtransactions.append(SubTransaction(name=name))

    def _find_savepoint(self, name: str) -> int:
        for index in range(len(self.subtransactions) - 1, -1, -1):
            if self.subtransactions[index].name == name:
                return index
        raise MirrordbError(f'savepoint "{name}" does not exist', sqlstate="3B001")

    def release_savepoint(self, name: str) -> None:
        self._require_open()
        index = self._find_savepoint(name)
        while len(self.subtransactions) > index:
            child = self.subtransactions.pop()
            parent = self.current_subtransaction
            parent.created_relations += child.created_relations
            parent.dropped_relations += child.dropped_relations
            if child.xid:
                parent.child_xids.append(child.xid)
            parent.child_xids += child.child_xids

    def rollback_to_savepoint(self, name: str) -> None:
        """Undo everything since the savepoint, which stays defined (ROLLBACK TO SAVEPOINT)."""
        if self.state not in (TransactionState.IN_PROGRESS, TransactionState.FAILED):
            self._require_open()
        index = self._find_savepoint(name)
        doomed = self.subtransactions[index:]
        del self.subtransactions[index:]
        xids = [x for sub in doomed for x in ([sub.xid] if sub.xid else []) + sub.child_xids]
        created = [r for sub in doomed for r in sub.created_relations]
        if xids:
            self._write_abort_record(xids[0], xids[1:], created)
            self.manager.finish(self.proc, xids, XACT_ABORTED)
            self.own.xids.difference_update(xids)
        self._drop_files(created)
        self.state = TransactionState.IN_PROGRESS
        self.subtransactions.append(SubTransaction(name=name))
        self.command_counter_increment()

    # -- the end ----------------------------------------------------------------------------

    def all_xids(self) -> list[int]:
        subs = [self.top] + self.subtransactions
        xids = [s.xid for s in subs if s.xid]
        return xids + [x for s in subs for x in s.child_xids]

    def commit(self) -> int:
        """Commit; returns the commit record's end LSN (0 when the transaction wrote nothing)."""
        if self.state == TransactionState.FAILED:
            self.abort()
            return 0
        self._require_open()
        while self.subtransactions:
            self.release_savepoint(self.subtransactions[-1].name)
        top = self.top
        if not top.xid and not top.child_xids and not top.dropped_relations:
            # never took an xid (every read-only statement): no commit record, no clog entry
            self.state = TransactionState.COMMITTED
            self.manager.end_without_xid(self.proc)
            return 0
        outcome: CommitWaitOutcome | None = None
        end_lsn = 0
        xids = self.all_xids()
        if self.top.xid:
            level = self.commit_level()
            self._sync_created_relations()
            end_lsn = self._write_commit_record(xids[1:], self.top.dropped_relations, level)
            outcome = self._make_durable(end_lsn, level)
        self.manager.finish(self.proc, xids, XACT_COMMITTED)
        self.state = TransactionState.COMMITTED
        self.manager.unregister(self.proc)
        self._drop_files(self.top.dropped_relations)
        if outcome is not None:
            self.commit_warning = outcome.warning
            if outcome.error is not None:
                raise outcome.error
        return end_lsn

    def commit_level(self) -> str:
        """The synchronous_commit level this commit runs under."""
        invariant(self.synchronous_commit in (None, *SYNCHRONOUS_COMMIT_LEVELS),
                  f"unknown synchronous_commit level {self.synchronous_commit!r}")
        if self.synchronous_commit is not None:
            return self.synchronous_commit
        return "local" if self.manager.synchronous_commit else "off"

    def _make_durable(self, end_lsn: int, level: str) -> CommitWaitOutcome | None:
        """Flush the commit record (unless ``off``), then wait for synchronous replication."""
        manager = self.manager
        if manager.wal is None:
            return None
        if level == "off":
            manager.wake_wal_writer()
            return None
        self._flush_commit_record(end_lsn)
        return manager.wait_for_sync_rep(end_lsn, level, self.proc)

    def _flush_commit_record(self, end_lsn: int) -> None:
        """Make the commit record durable. Once it is in the WAL buffers the transaction can no
        longer be aborted (a later flush would write the commit anyway, after the abort), so a
        failure here stops the server, as PostgreSQL PANICs; crash recovery then decides from
        what reached the disk. The client is never told COMMIT."""
        try:
            self.manager.wal.flush(end_lsn)
        except BaseException as error:
            raise InvariantViolation(
                f"could not flush the commit record of transaction {self.top.xid}: {error}; "
                "the server must stop") from error

    def abort(self) -> None:
        if self.state in (TransactionState.COMMITTED, TransactionState.ABORTED):
            return
        created = self.top.created_relations + [
            r for s in self.subtransactions for r in s.created_relations]
        xids = self.all_xids()
        if xids:
            try:
                self._write_abort_record(xids[0], xids[1:], created)
            except BaseException as error:   # PostgreSQL's abort is a critical section too
                raise InvariantViolation(
                    f"could not write the abort record of transaction {xids[0]}: {error}; "
                    "the server must stop") from error
            self.manager.finish(self.proc, xids, XACT_ABORTED)
            self.manager.unregister(self.proc)
        else:   # never took an xid: the proc ends like a read-only commit's (its xmin too)
            self.manager.end_without_xid(self.proc)
        self.state = TransactionState.ABORTED
        self.subtransactions.clear()
        self._drop_files(created)

    def _sync_created_relations(self) -> None:
        """Relations this transaction created and keeps must be durable before its commit
        record (PostgreSQL's smgrDoPendingSyncs); those it also dropped are not synced."""
        dropped = set(self.top.dropped_relations)
        kept = [rnode for rnode in self.top.created_relations if rnode not in dropped]
        if kept:
            self.manager.sync_relation_files(kept)

    def _write_commit_record(self, subxids: list[int], dropped: list[RelFileNode],
                             level: str) -> int:
        manager = self.manager
        invariant(manager.wal is not None, "commit with an xid needs a WAL")
        assert manager.wal is not None
        database = self.database_oid
        invalidations = (RELCACHE_INVALIDATION_STRUCT.pack(SHAREDINVALRELCACHE_ID, database, 0),
                         ) if self.touched_catalogs else ()
        info, data = payloads.encode_xact_commit(
            xact_time=payloads.pg_timestamp_now(), subxids=subxids, rels=_logged(dropped),
            db_id=database if invalidations else 0,
            ts_id=DEFAULT_TABLESPACE_OID if invalidations else 0,
            invalidations=invalidations,
            flags=self._record_flags() | _completion_flags(level))
        return manager.wal.insert(RM_XACT_ID, info, data, xid=self.top.xid)

    def _write_abort_record(self, xid: int, subxids: list[int], created: list[RelFileNode]) -> None:
        wal = self.manager.wal
        if wal is None:
            return
        info, data = payloads.encode_xact_abort(
            xact_time=payloads.pg_timestamp_now(), subxids=subxids, rels=_logged(created),
            flags=self._record_flags())
        wal.insert(RM_XACT_ID, info, data, xid=xid)

    def _record_flags(self) -> int:
        return payloads.XACT_XINFO_HAS_AE_LOCKS if self.logged_access_exclusive_lock else 0

    def _drop_files(self, relations: list[RelFileNode]) -> None:
        if relations:
            self.manager.drop_relation_files(relations)


def _logged(relations: list[RelFileNode]) -> list[RelFileNode]:
    """The relation files a commit or abort record names: a temporary table's never (only
    its session has them, PostgreSQL's smgrGetPendingDeletes)."""
    return [rnode for rnode in relations if not isinstance(rnode, TempRelFileNode)]


def _completion_flags(level: str) -> int:
    """Commit record flags for a synchronous_commit level: remote_apply asks the standbys to
    reply as soon as they have replayed the record."""
    return payloads.XACT_COMPLETION_APPLY_FEEDBACK if level == "remote_apply" else 0
