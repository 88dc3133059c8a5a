"""Relation locks: PostgreSQL's heavyweight lock manager for table-level locks (its lock.c,
lmgr.c, the wait queue of proc.c and deadlock.c), held in memory and shared by every session.
Advisory locks (access/advisory.py) live in the same table under four-number tags, with the
same modes, queues and deadlock detection.

What it is for. DDL must not change a table under a running query, and two sessions must be able
to say "nobody else writes this table until I commit" (LOCK TABLE). Each transaction locks the
relations it uses, in one of PostgreSQL's eight modes, and keeps them until it ends:

=====  ==========================  ===================================================
mode   name                        taken by (PostgreSQL's choices)
=====  ==========================  ===================================================
1      AccessShareLock             SELECT, COPY TO
2      RowShareLock                SELECT FOR UPDATE / FOR SHARE
3      RowExclusiveLock            INSERT, UPDATE, DELETE, COPY FROM
4      ShareUpdateExclusiveLock    VACUUM (and autovacuum)
5      ShareLock                   CREATE INDEX
6      ShareRowExclusiveLock       LOCK TABLE only
7      ExclusiveLock               LOCK TABLE only
8      AccessExclusiveLock         DROP, TRUNCATE, ALTER TABLE, a new relation, LOCK TABLE
=====  ==========================  ===================================================

``CONFLICTS[mode]`` is PostgreSQL's conflict table as a bit mask of modes. Locks of one owner
never conflict with each other (a transaction that reads a table may then drop it).

Who calls it. ``TransactionManager`` (access/xact.py) owns the server's ``LockManager``. The
engine gives every transaction a ``LockOwner`` (engine.py's ``Txn``): the SQL layer locks the
relations a statement uses before it reads their catalog entries (sql/session.py, dml.py,
ddl.py); the engine releases everything when the transaction ends, after the relation cache has
forgotten what the transaction changed, and ``release_after`` on ROLLBACK TO SAVEPOINT. VACUUM
and autovacuum lock through their own owner. A standby's startup thread holds the primary's
logged AccessExclusiveLocks through one owner (recovery/standby_locks.py).

Lifecycle of a request (``LockOwner.acquire``):

* **Fast path**: the owner already holds the mode on that relation: nothing shared is touched
  (PostgreSQL's local lock table). Otherwise, under the manager's mutex:
* **Granted** at once when no other owner holds a conflicting mode and no waiter asked for a
  conflicting one first. An owner that already holds a lock which some waiter needs released
  goes ahead of that waiter (PostgreSQL's ProcSleep rule; without it lock upgrades deadlock).
* **Waits** otherwise, in the object's FIFO queue (``dont_wait``: ``NOT_AVAILABLE`` instead).
  The waiting thread polls its request every ``WAIT_POLL_INTERVAL_S`` so cancel,
  statement_timeout and lock_timeout reach it (``LockWaitHooks``), and after deadlock_timeout
  it runs the deadlock check once. Releases wake waiters in queue order.

Deadlocks. The waits-for graph has one node per proc (the ``Proc`` of access/xact.py, or any
object with a ``pid``): a proc waiting for a relation lock points at the procs holding a
conflicting mode and at the waiters ahead of it asking for one; a proc waiting for a transaction
(a row lock, a unique key: ``begin_xid_wait``) points at the proc running that transaction. A
proc whose check finds a cycle through itself leaves its wait and gets PostgreSQL's 40P01, whose
DETAIL names every edge of the cycle ("Process 12 waits for AccessExclusiveLock on relation
16384 of database 5; blocked by process 13."). Waiting is also how an autovacuum in the way is
noticed: the check cancels it, as PostgreSQL's deadlock detector does. One difference: a cycle
that only exists through a waiter queued ahead (a "soft" edge) is reported, where PostgreSQL
would first try to reorder the queue; the holder-goes-first rule above avoids the usual case.

Entries of the shared table stay when their last holder leaves (the next transaction on the
same table reuses them); free ones are dropped when the table grows past ``KEPT_FREE_LOCKS``,
and it never holds more than ``MAX_LOCKED_OBJECTS`` (PostgreSQL's "out of shared memory").

Invariants: every shared structure is changed under ``_mutex`` only; an owner's local table
(``held``, ``acquired``) is written by its own thread, or by a releaser granting its queued
request while that thread sleeps in the wait (so it never races with itself). The mutex is never
held while waiting, and no other lock is taken under it except the transaction manager's (to
find the proc running an xid): nobody may call into the lock manager holding that one.
"""

from __future__ import annotations

import enum
import itertools
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from mirrordb.common.errors import (DeadlockDetected, InvariantViolation, MirrordbError,
                                    invariant)


class LockMode(enum.IntEnum):
    """PostgreSQL's table lock modes (lockdefs.h numbers)."""

    ACCESS_SHARE = 1
    ROW_SHARE = 2
    ROW_EXCLUSIVE = 3
    SHARE_UPDATE_EXCLUSIVE = 4
    SHARE = 5
    SHARE_ROW_EXCLUSIVE = 6
    EXCLUSIVE = 7
    ACCESS_EXCLUSIVE = 8


NO_LOCK = 0   # PostgreSQL's NoLock: a lookup that locks nothing

LOCK_MODE_NAMES: tuple[str, ...] = (
    "", "AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
    "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")


def _modes(*modes: LockMode) -> int:
    mask = 0
    for mode in modes:
        mask |= 1 << mode
    return mask


_M = LockMode
CONFLICTS: tuple[int, ...] = (
    0,
    _modes(_M.ACCESS_EXCLUSIVE),
    _modes(_M.EXCLUSIVE, _M.ACCESS_EXCLUSIVE),
    _modes(_M.SHARE, _M.SHARE_ROW_EXCLUSIVE, _M.EXCLUSIVE, _M.ACCESS_EXCLUSIVE),
    _modes(_M.SHARE_UPDATE_EXCLUSIVE, _M.SHARE, _M.SHARE_ROW_EXCLUSIVE, _M.EXCLUSIVE,
           _M.ACCESS_EXCLUSIVE),
    _modes(_M.ROW_EXCLUSIVE, _M.SHARE_UPDATE_EXCLUSIVE, _M.SHARE_ROW_EXCLUSIVE, _M.EXCLUSIVE,
           _M.ACCESS_EXCLUSIVE),
    _modes(_M.ROW_EXCLUSIVE, _M.SHARE_UPDATE_EXCLUSIVE, _M.SHARE, _M.SHARE_ROW_EXCLUSIVE,
           _M.EXCLUSIVE, _M.ACCESS_EXCLUSIVE),
    _modes(_M.ROW_SHARE, _M.ROW_EXCLUSIVE, _M.SHARE_UPDATE_EXCLUSIVE, _M.SHARE,
           _M.SHARE_ROW_EXCLUSIVE, _M.EXCLUSIVE, _M.ACCESS_EXCLUSIVE),
    _modes(*LockMode),
)
assert len(CONFLICTS) == len(LOCK_MODE_NAMES) == 9
assert all(bool(CONFLICTS[a] & (1 << b)) == bool(CONFLICTS[b] & (1 << a))
           for a in LockMode for b in LockMode), "the conflict table must be symmetric"
# Modes PostgreSQL records in its per-backend fast-path slots (pg_locks.fastpath).
WEAK_MODES = _modes(_M.ACCESS_SHARE, _M.ROW_SHARE, _M.ROW_EXCLUSIVE)

# A lock on a relation: (database OID, relation OID), PostgreSQL's LOCKTAG_RELATION. The same
# table also holds advisory locks, whose tags have four numbers (access/advisory.py); any tag
# is a tuple of ints, and its length says which kind it is.
RelationTag = tuple[int, int]
LockTag = tuple[int, ...]
ADVISORY_TAG_LENGTH = 4

WAIT_POLL_INTERVAL_S = 0.05          # a waiter looks at interrupts at least this often
DEFAULT_DEADLOCK_TIMEOUT_MS = 1000   # deadlock_timeout's default
MAX_LOCKED_OBJECTS = 1 << 20         # objects in the shared table (PostgreSQL: shared memory)
KEPT_FREE_LOCKS = 4096               # free entries are kept for reuse until the table is this big
MAX_DEADLOCK_SEARCH_PROCS = 10_000   # procs one deadlock search may visit


class AcquireResult(enum.Enum):
    ALREADY_HELD = "already held"    # the owner held the mode: nothing changed
    GRANTED = "granted"              # granted without waiting
    WAITED = "waited"                # granted after a wait: the caller re-checks what it read
    NOT_AVAILABLE = "not available"  # dont_wait and it would have had to wait


class OutOfLockMemory(MirrordbError):
    sqlstate = "53200"


class LockWaitHooks:
    """What a backend does while one of its transactions waits for a lock or for another
    transaction. The base class waits without timeouts (tools, tests, background work);
    sessions give their own (sql/session.py): interrupts, deadlock_timeout, lock_timeout."""

    def check_for_interrupts(self) -> None:
        """Raise the pending cancel/timeout/terminate, if any."""

    def deadlock_timeout_ms(self) -> int:
        return DEFAULT_DEADLOCK_TIMEOUT_MS

    def wait_started(self) -> None:
        """A wait begins (sessions arm lock_timeout here)."""

    def wait_ended(self) -> None:
        """The wait is over, however it ended (sessions disarm lock_timeout)."""


NO_HOOKS = LockWaitHooks()


class AccessExclusiveLogger(Protocol):
    """How a primary's transaction WAL-logs its AccessExclusiveLocks for standbys
    (PostgreSQL's LogAccessExclusiveLockPrepare / LogAccessExclusiveLock)."""

    def prepare(self) -> None:
        """Before the lock is taken: make sure the transaction has an xid."""

    def log(self, tag: RelationTag) -> None:
        """After it is granted: insert the standby LOCK record."""


class ProcLike(Protocol):
    """What the lock manager reads and writes on a proc (access/xact.py's ``Proc``)."""

    pid: int
    wait_event: str | None


@dataclass(eq=False)
class LockRequest:
    """One queued request; ``event`` is set once a releaser granted it."""

    owner: LockOwner
    tag: LockTag
    mode: int
    event: threading.Event
    wait_start: float                # time.time() when the wait began (pg_locks.waitstart)
    granted: bool = False


class Lock:
    """The shared state of one locked relation."""

    __slots__ = ("holders", "granted_counts", "grant_mask", "waiters")

    def __init__(self) -> None:
        self.holders: dict[LockOwner, int] = {}      # owner -> mask of the modes it holds
        self.granted_counts = [0] * len(LOCK_MODE_NAMES)   # owners holding each mode
        self.grant_mask = 0
        self.waiters: list[LockRequest] = []


@dataclass(frozen=True)
class LockStatus:
    """One row of pg_locks for a relation lock: who holds or waits for which mode."""

    tag: LockTag
    mode: int
    granted: bool
    pid: int
    virtual_transaction: str
    wait_start: float | None


@dataclass(frozen=True)
class WaitEdge:
    """``proc`` waits for ``mode_name`` on ``what``, blocked by ``blocker``."""

    proc: object
    mode_name: str
    what: str
    blocker: object


_WOULD_WAIT: LockRequest = LockRequest(None, (0, 0), 0, threading.Event(),  # type: ignore[arg-type]
                                       0.0)   # _queue_or_grant's "would have to wait"


class LockOwner:
    """The locks of one transaction (or of a VACUUM, or of a standby's replay): the local lock
    table and the order of first acquisition, for ROLLBACK TO SAVEPOINT."""

    __slots__ = ("manager", "proc", "hooks", "held", "acquired", "wal_logger", "is_autovacuum",
                 "cancel_requested")

    def __init__(self, manager: LockManager, proc: ProcLike, hooks: LockWaitHooks = NO_HOOKS,
                 wal_logger: AccessExclusiveLogger | None = None,
                 is_autovacuum: bool = False) -> None:
        self.manager = manager
        self.proc = proc
        self.hooks = hooks
        self.held: dict[LockTag, int] = {}       # tag -> mask of modes held
        self.acquired: list[tuple[LockTag, int]] = []
        self.wal_logger = wal_logger
        self.is_autovacuum = is_autovacuum
        self.cancel_requested = False                # autovacuum: a waiter needs our lock

    def acquire(self, tag: LockTag, mode: int, *, dont_wait: bool = False) -> AcquireResult:
        """Lock ``tag`` in ``mode`` until ``release_all`` (see the module docstring). The
        common cases (held already; nobody in the way) are inline: this runs for every
        relation of every statement."""
        bit = 1 << mode
        held = self.held.get(tag, 0)
        if held & bit:
            return AcquireResult.ALREADY_HELD
        if mode == LockMode.ACCESS_EXCLUSIVE and self.wal_logger is not None:
            return self._acquire_logged(tag, mode, dont_wait)
        manager = self.manager
        with manager._mutex:
            lock = manager._locks.get(tag) or manager._new_lock(tag)
            if not (CONFLICTS[mode] & lock.grant_mask) and not lock.waiters:
                holders = lock.holders
                holders[self] = holders.get(self, 0) | bit
                lock.granted_counts[mode] += 1
                lock.grant_mask |= bit
                self.held[tag] = held | bit
                self.acquired.append((tag, mode))
                return AcquireResult.GRANTED
        return manager._acquire(self, tag, mode, dont_wait)

    def _acquire_logged(self, tag: LockTag, mode: int, dont_wait: bool) -> AcquireResult:
        """An AccessExclusiveLock a standby must learn of: an xid first, the LOCK record once
        it is granted."""
        assert self.wal_logger is not None
        self.wal_logger.prepare()
        result = self.manager._acquire(self, tag, mode, dont_wait)
        if result is not AcquireResult.NOT_AVAILABLE:
            self.wal_logger.log(tag)
        return result

    def holds(self, tag: LockTag, mode: int) -> bool:
        return bool(self.held.get(tag, 0) & (1 << mode))

    def mark(self) -> int:
        """A savepoint: ``release_after(mark)`` releases what was first acquired since."""
        return len(self.acquired)

    def release_after(self, mark: int) -> None:
        if len(self.acquired) > mark:
            self.manager._release(self, self.acquired[mark:])
            del self.acquired[mark:]

    def release(self, tag: LockTag, mode: int) -> None:
        """Release one lock before the owner ends (a standby replaying a commit)."""
        if self.holds(tag, mode):
            self.acquired.remove((tag, mode))
            self.manager._release(self, [(tag, mode)])

    def release_all(self) -> None:
        """The transaction ended: every lock goes, and waiters behind them wake."""
        acquired = self.acquired
        if acquired:
            self.acquired = []
            self.held = {}
            self.manager._release_all(self, acquired)


class LockManager:
    """The server's lock table (see the module docstring).

    ``proc_holding_xid(xid)`` names the proc running transaction ``xid`` (top-level or
    subtransaction), or None once it ended: the transaction manager's half of the deadlock
    graph.
    """

    def __init__(self, proc_holding_xid: Callable[[int], object | None] = lambda xid: None
                 ) -> None:
        self.proc_holding_xid = proc_holding_xid
        self._mutex = threading.Lock()
        self._locks: dict[LockTag, Lock] = {}
        self._prune_at = KEPT_FREE_LOCKS          # table size at which free entries go
        self._lock_waits: dict[object, LockRequest] = {}    # proc -> its queued request
        self._xid_waits: dict[object, int] = {}             # proc -> the xid it waits for
        self._local_numbers: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
        self._next_local_number = itertools.count(1)
        self.deadlocks = 0                                  # pg_stat_database.deadlocks

    def new_owner(self, proc: ProcLike, hooks: LockWaitHooks = NO_HOOKS,
                  wal_logger: AccessExclusiveLogger | None = None,
                  is_autovacuum: bool = False) -> LockOwner:
        return LockOwner(self, proc, hooks, wal_logger, is_autovacuum)

    # -- acquiring ------------------------------------------------------------------------------

    def _new_lock(self, tag: LockTag) -> Lock:
        """Under the mutex: the entry of a relation nobody has locked yet. Entries stay once
        free (the next transaction on the same table reuses it); free ones are dropped when
        the table passes ``KEPT_FREE_LOCKS`` entries."""
        locks = self._locks
        if len(locks) >= self._prune_at:
            for free in [key for key, lock in locks.items()
                         if not lock.holders and not lock.waiters]:
                del locks[free]
            self._prune_at = max(KEPT_FREE_LOCKS, 2 * len(locks))  # not again at every lock
        if len(locks) >= MAX_LOCKED_OBJECTS:
            raise OutOfLockMemory("out of shared memory",
                                  hint="You might need to increase max_locks_per_transaction.")
        lock = locks[tag] = Lock()
        return lock

    def _acquire(self, owner: LockOwner, tag: LockTag, mode: int,
                 dont_wait: bool) -> AcquireResult:
        invariant(LockMode.ACCESS_SHARE <= mode <= LockMode.ACCESS_EXCLUSIVE,
                  f"invalid lock mode {mode}")
        with self._mutex:
            lock = self._locks.get(tag) or self._new_lock(tag)
            if not (CONFLICTS[mode] & lock.grant_mask) and not lock.waiters:
                self._grant(lock, owner, tag, mode)
                return AcquireResult.GRANTED
            request = self._queue_or_grant(lock, owner, tag, mode, dont_wait)
            if request is None:
                return AcquireResult.GRANTED
            if request is _WOULD_WAIT:
                return AcquireResult.NOT_AVAILABLE
            self._lock_waits[owner.proc] = request
        self._wait(request)
        return AcquireResult.WAITED

    def _queue_or_grant(self, lock: Lock, owner: LockOwner, tag: LockTag, mode: int,
                        dont_wait: bool) -> LockRequest | None:
        """Under the mutex: grant (None), or queue a request (returned), or when ``dont_wait``
        return ``_WOULD_WAIT`` instead of queueing."""
        mine = lock.holders.get(owner, 0)
        position = len(lock.waiters)
        if mine:
            # go ahead of the first waiter that needs a lock we hold (PostgreSQL's ProcSleep)
            ahead = 0
            for index, waiter in enumerate(lock.waiters):
                if mine & CONFLICTS[waiter.mode]:
                    position = index
                    break
                ahead |= 1 << waiter.mode
            else:
                ahead = -1
            if ahead >= 0 and not CONFLICTS[mode] & ahead and \
                    not self._conflicts_with_others(lock, owner, mode):
                self._grant(lock, owner, tag, mode)
                return None
        if position == len(lock.waiters) and not CONFLICTS[mode] & _wait_mask(lock.waiters) \
                and not self._conflicts_with_others(lock, owner, mode):
            self._grant(lock, owner, tag, mode)
            return None
        if dont_wait:
            return _WOULD_WAIT
        request = LockRequest(owner, tag, mode, threading.Event(), time.time())
        lock.waiters.insert(position, request)
        return request

    @staticmethod
    def _conflicts_with_others(lock: Lock, owner: LockOwner, mode: int) -> bool:
        """Whether an owner other than ``owner`` holds a mode conflicting with ``mode``."""
        conflicting = CONFLICTS[mode] & lock.grant_mask
        if not conflicting:
            return False
        mine = lock.holders.get(owner, 0)
        for held_mode in range(1, len(LOCK_MODE_NAMES)):
            bit = 1 << held_mode
            if conflicting & bit and lock.granted_counts[held_mode] > (1 if mine & bit else 0):
                return True
        return False

    @staticmethod
    def _grant(lock: Lock, owner: LockOwner, tag: LockTag, mode: int) -> None:
        bit = 1 << mode
        lock.holders[owner] = lock.holders.get(owner, 0) | bit
        lock.granted_counts[mode] += 1
        lock.grant_mask |= bit
        owner.held[tag] = owner.held.get(tag, 0) | bit
        owner.acquired.append((tag, mode))

    # -- waiting --------------------------------------------------------------------------------

    def _wait(self, request: LockRequest) -> None:
        """Sleep until ``request`` is granted; an interrupt or a deadlock leaves the queue."""
        owner = request.owner
        hooks, proc = owner.hooks, owner.proc
        proc.wait_event = "advisory" if len(request.tag) == ADVISORY_TAG_LENGTH else "relation"
        deadline = time.monotonic() + hooks.deadlock_timeout_ms() / 1000
        checked = False
        hooks.wait_started()
        try:
            while not request.event.wait(WAIT_POLL_INTERVAL_S):
                hooks.check_for_interrupts()
                if not checked and time.monotonic() >= deadline:
                    checked = True
                    self.check_deadlock(proc)
        except BaseException:
            self._leave_queue(request)
            raise
        finally:
            hooks.wait_ended()
            proc.wait_event = None

    def _leave_queue(self, request: LockRequest) -> None:
        """The waiter gives up; a request granted meanwhile is kept (released at abort)."""
        with self._mutex:
            self._lock_waits.pop(request.owner.proc, None)
            if request.granted:
                return
            lock = self._locks.get(request.tag)
            if lock is not None and request in lock.waiters:
                lock.waiters.remove(request)
                self._wake_waiters(lock)

    def _wake_waiters(self, lock: Lock) -> None:
        """Under the mutex: grant every waiter that conflicts neither with the granted modes
        nor with a waiter still ahead of it (PostgreSQL's ProcLockWakeup)."""
        ahead = 0
        for request in list(lock.waiters):
            if not CONFLICTS[request.mode] & ahead and \
                    not self._conflicts_with_others(lock, request.owner, request.mode):
                lock.waiters.remove(request)
                self._grant(lock, request.owner, request.tag, request.mode)
                request.granted = True
                self._lock_waits.pop(request.owner.proc, None)
                request.event.set()
            else:
                ahead |= 1 << request.mode

    # -- releasing ------------------------------------------------------------------------------

    def _release(self, owner: LockOwner, locks: Iterable[tuple[LockTag, int]]) -> None:
        """Under the mutex, each (tag, mode) ``owner`` holds; waiters behind them wake. The
        owner's local table is updated too (``release_all`` then simply empties it)."""
        held_by_owner = owner.held
        with self._mutex:
            table = self._locks
            for tag, mode in locks:
                bit = 1 << mode
                lock = table.get(tag)
                if lock is None or not held_by_owner.get(tag, 0) & bit:
                    raise InvariantViolation(
                        f"releasing {LOCK_MODE_NAMES[mode]} on {tag} that is not held")
                held = held_by_owner[tag] & ~bit
                if held:
                    held_by_owner[tag] = held
                    lock.holders[owner] = held
                else:
                    del held_by_owner[tag]
                    del lock.holders[owner]
                counts = lock.granted_counts
                counts[mode] -= 1
                if not counts[mode]:
                    lock.grant_mask &= ~bit
                if lock.waiters:
                    self._wake_waiters(lock)

    def _release_all(self, owner: LockOwner, acquired: list[tuple[LockTag, int]]) -> None:
        """``_release`` of everything ``owner`` held (its local table is already empty)."""
        with self._mutex:
            table = self._locks
            for tag, mode in acquired:
                lock = table[tag]
                lock.holders.pop(owner, None)
                counts = lock.granted_counts
                counts[mode] -= 1
                if not counts[mode]:
                    lock.grant_mask &= ~(1 << mode)
                if lock.waiters:
                    self._wake_waiters(lock)

    # -- what others see ------------------------------------------------------------------------

    def conflicting_procs(self, tag: LockTag, mode: int, owner: LockOwner | None = None
                          ) -> list[object]:
        """Procs holding a mode that conflicts with ``mode`` on ``tag`` (other than
        ``owner``'s): the sessions a standby's replay must wait for or cancel (PostgreSQL's
        GetLockConflicts)."""
        with self._mutex:
            lock = self._locks.get(tag)
            if lock is None:
                return []
            return [other.proc for other, held in lock.holders.items()
                    if other is not owner and held & CONFLICTS[mode]]

    def status(self) -> list[LockStatus]:
        """Every held and awaited relation lock (pg_locks)."""
        rows = []
        with self._mutex:
            for tag, lock in self._locks.items():
                for owner, held in lock.holders.items():
                    proc = owner.proc
                    for mode in range(1, len(LOCK_MODE_NAMES)):
                        if held & (1 << mode):
                            rows.append(LockStatus(tag, mode, True, proc.pid,
                                                   self._virtual_transaction(proc), None))
                for request in lock.waiters:
                    proc = request.owner.proc
                    rows.append(LockStatus(tag, request.mode, False, proc.pid,
                                           self._virtual_transaction(proc),
                                           request.wait_start))
        return rows

    def virtual_transaction(self, proc: ProcLike) -> str:
        """pg_locks' virtualtransaction of ``proc``'s transaction, "backend/local": the thread
        id's low digits stand in for PostgreSQL's backend number; the local number is given
        the first time the transaction is shown."""
        with self._mutex:
            return self._virtual_transaction(proc)

    def _virtual_transaction(self, proc: ProcLike) -> str:
        number = self._local_numbers.get(proc)
        if number is None:
            number = self._local_numbers[proc] = next(self._next_local_number)
        return f"{proc.pid % 10_000}/{number}"

    def locked_relations(self, mode: int) -> list[tuple[LockTag, object]]:
        """(tag, proc) of every granted lock in ``mode``: the AccessExclusiveLocks a
        checkpoint logs for standbys (PostgreSQL's GetRunningTransactionLocks)."""
        with self._mutex:
            return [(tag, owner.proc) for tag, lock in self._locks.items()
                    if lock.grant_mask & (1 << mode) and len(tag) != ADVISORY_TAG_LENGTH
                    for owner, held in lock.holders.items() if held & (1 << mode)]

    def waiting_for_xid(self) -> list[tuple[object, int]]:
        """(proc, xid) of every proc waiting for a transaction to end (pg_locks)."""
        with self._mutex:
            return list(self._xid_waits.items())

    # -- transaction waits (access/xact.py) and deadlock detection ------------------------------

    def begin_xid_wait(self, proc: object, xid: int) -> None:
        with self._mutex:
            self._xid_waits[proc] = xid

    def end_xid_wait(self, proc: object) -> None:
        with self._mutex:
            self._xid_waits.pop(proc, None)

    def check_deadlock(self, proc: object) -> None:
        """Raise 40P01 if ``proc``'s wait closes a cycle (it then leaves its wait, so another
        member of the cycle checking after us finds it broken: one victim). Without a cycle,
        an autovacuum holding what ``proc`` waits for is asked to stop."""
        with self._mutex:
            cycle = self._find_cycle(proc)
            if cycle is None:
                self._cancel_blocking_autovacuum(proc)
                return
            self.deadlocks += 1
            self._xid_waits.pop(proc, None)
            request = self._lock_waits.pop(proc, None)
            if request is not None and not request.granted:
                lock = self._locks[request.tag]
                lock.waiters.remove(request)
                self._wake_waiters(lock)
        raise DeadlockDetected("deadlock detected", detail=deadlock_detail(cycle),
                               hint="See server log for query details.")

    def _edges(self, proc: object) -> list[WaitEdge]:
        """Under the mutex: what ``proc`` waits for and who is in the way."""
        request = self._lock_waits.get(proc)
        if request is not None and not request.granted:
            return self._lock_edges(proc, request)
        xid = self._xid_waits.get(proc)
        if xid:
            holder = self.proc_holding_xid(xid)
            if holder is not None and holder is not proc:
                return [WaitEdge(proc, "ShareLock", f"transaction {xid}", holder)]
        return []

    def _lock_edges(self, proc: object, request: LockRequest) -> list[WaitEdge]:
        lock = self._locks.get(request.tag)
        if lock is None:
            return []
        mode_name = LOCK_MODE_NAMES[request.mode]
        what = describe_lock_tag(request.tag)
        conflicts = CONFLICTS[request.mode]
        edges = [WaitEdge(proc, mode_name, what, other.proc)
                 for other, held in lock.holders.items()
                 if other.proc is not proc and held & conflicts]
        for waiter in lock.waiters:             # soft edges: conflicting requests ahead of us
            if waiter is request:
                break
            if waiter.owner.proc is not proc and conflicts & (1 << waiter.mode):
                edges.append(WaitEdge(proc, mode_name, what, waiter.owner.proc))
        return edges

    def _find_cycle(self, start: object) -> list[WaitEdge] | None:
        """Under the mutex: a path of waits from ``start`` back to it (depth first)."""
        path: list[WaitEdge] = []
        visited: set[int] = set()

        def search(proc: object) -> bool:
            if len(visited) >= MAX_DEADLOCK_SEARCH_PROCS:
                return False
            visited.add(id(proc))
            for edge in self._edges(proc):
                path.append(edge)
                if edge.blocker is start:
                    return True
                if id(edge.blocker) not in visited and search(edge.blocker):
                    return True
                path.pop()
            return False

        return path if search(start) else None

    def _cancel_blocking_autovacuum(self, proc: object) -> None:
        request = self._lock_waits.get(proc)
        if request is None or request.granted:
            return
        lock = self._locks.get(request.tag)
        if lock is None:
            return
        for other, held in lock.holders.items():
            if other.is_autovacuum and held & CONFLICTS[request.mode]:
                other.cancel_requested = True


def _wait_mask(waiters: list[LockRequest]) -> int:
    mask = 0
    for request in waiters:
        mask |= 1 << request.mode
    return mask


def describe_lock_tag(tag: LockTag) -> str:
    """PostgreSQL's DescribeLockTag for a relation or an advisory lock."""
    if len(tag) == ADVISORY_TAG_LENGTH:
        return "advisory lock [{},{},{},{}]".format(*tag)
    return f"relation {tag[1]} of database {tag[0]}"


def deadlock_detail(cycle: list[WaitEdge]) -> str:
    """PostgreSQL's DETAIL of a deadlock: one line per wait of the cycle."""
    return "\n".join(
        f"Process {getattr(edge.proc, 'pid', 0)} waits for {edge.mode_name} on {edge.what}; "
        f"blocked by process {getattr(edge.blocker, 'pid', 0)}." for edge in cycle)


__all__ = ["LockMode", "LockManager", "LockOwner", "LockWaitHooks", "AcquireResult",
           "CONFLICTS", "LOCK_MODE_NAMES", "RelationTag", "LockTag", "ADVISORY_TAG_LENGTH",
           "LockStatus", "describe_lock_tag", "deadlock_detail", "NO_HOOKS", "WEAK_MODES",
           "NO_LOCK"]
