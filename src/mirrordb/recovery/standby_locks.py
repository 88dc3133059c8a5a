"""The standby's AccessExclusiveLocks: the primary's DROP, TRUNCATE, ALTER TABLE, LOCK TABLE ...
replayed into the standby's lock manager (PostgreSQL's RecoveryLockLists in standby.c).

A primary WAL-logs the first AccessExclusiveLock a transaction takes on a relation (a standby
LOCK record, engine.py's ``Txn.log``), and the ones held by running transactions before each
RUNNING_XACTS record (recovery/checkpoint.py), so a standby starting from a checkpoint knows them
too. Replaying them makes the standby's queries, which lock what they read in AccessShareLock as
on a primary, wait for the replayed transaction: a query never reads a table whose files the
replay of a DROP or TRUNCATE is about to remove or swap.

``RecoveryLockTable`` keeps, per primary xid, the relations it locked; the locks themselves are
held by one owner, the startup thread's, whatever the xid (PostgreSQL's startup process holds
them all): a relation logged under two xids is locked once and released when the last of them
ends. They are released when

* the COMMIT or ABORT of the xid, or of its top-level transaction, is replayed
  (``release_tree``, from builtin_redo.xact_redo);
* a RUNNING_XACTS record shows the xid older than every running one: its end was never logged,
  the primary crashed (``release_older_than``);
* a shutdown checkpoint is replayed (nothing runs on the primary then), or recovery ends
  (``release_all``).

When the startup thread cannot take a lock because standby sessions hold conflicting ones, its
request waits in the queue (new sessions queue behind it) and ``StartupLockWaitHooks`` resolves
the *lock conflict* through recovery/conflicts.py: wait up to max_standby_streaming_delay, then
cancel those sessions (40001, DETAIL "User was holding a relation lock for too long."). The
startup thread never runs the deadlock check: a session in a cycle with replay finds the cycle
itself and is the victim.

Who calls it: the Standby and Transaction redo handlers (recovery/builtin_redo.py) through
``recovery_locks_for(state)``, on the startup thread only; ``Engine.finish_promotion`` releases
everything at the end of recovery.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from mirrordb.access.clog import FIRST_NORMAL_XID, XACT_ABORTED, XACT_COMMITTED
from mirrordb.access.lmgr import LockManager, LockMode, LockOwner, LockWaitHooks, RelationTag
from mirrordb.common.errors import invariant

MAX_RECOVERY_LOCKS = 1 << 20         # (xid, relation) pairs held for the primary at once
STARTUP_DEADLOCK_TIMEOUT_MS = 1 << 62   # the startup thread never runs the deadlock check


def xid_precedes(left: int, right: int) -> bool:
    """PostgreSQL's TransactionIdPrecedes for normal xids (modulo 2^32)."""
    return left != right and ((left - right) & 0xFFFFFFFF) >= 0x80000000


class StartupLockWaitHooks(LockWaitHooks):
    """How the startup thread waits for a replayed lock: it resolves the conflict with the
    sessions holding the relation (recovery/conflicts.py) instead of sleeping."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.lock_manager: LockManager | None = None
        self.owner: LockOwner | None = None
        self.tag: RelationTag | None = None       # the relation being waited for

    def deadlock_timeout_ms(self) -> int:
        return STARTUP_DEADLOCK_TIMEOUT_MS

    def wait_started(self) -> None:
        self._resolve()

    def check_for_interrupts(self) -> None:
        self._resolve()

    def _resolve(self) -> None:
        manager, owner, tag = self.lock_manager, self.owner, self.tag
        conflicts = getattr(self.state, "conflicts", None)
        if manager is None or owner is None or tag is None or conflicts is None:
            return          # nothing to resolve with: wait for the holders to finish
        from mirrordb.recovery.conflicts import RecoveryConflictReason
        conflicts.resolve(
            RecoveryConflictReason.LOCK,
            lambda: conflicts.sessions_with_procs(
                manager.conflicting_procs(tag, LockMode.ACCESS_EXCLUSIVE, owner)),
            record_end_lsn=self.state.replay_end_lsn)


class RecoveryLockTable:
    """The primary's AccessExclusiveLocks held on a standby (see the module docstring)."""

    def __init__(self, lock_manager: LockManager, proc: Any,
                 is_finished: Callable[[int], bool], hooks: StartupLockWaitHooks) -> None:
        self.is_finished = is_finished
        self.hooks = hooks
        self.owner = lock_manager.new_owner(proc, hooks)
        hooks.lock_manager, hooks.owner = lock_manager, self.owner
        self._by_xid: dict[int, set[RelationTag]] = {}
        self._holders: dict[RelationTag, int] = {}    # tag -> xids holding it
        self._count = 0

    def acquire(self, xid: int, database_oid: int, relation_oid: int) -> None:
        """A replayed LOCK record (PostgreSQL's StandbyAcquireAccessExclusiveLock); an xid
        whose end was replayed already is ignored."""
        if xid < FIRST_NORMAL_XID or self.is_finished(xid):
            return
        tag = (database_oid, relation_oid)
        tags = self._by_xid.setdefault(xid, set())
        if tag in tags:
            return
        invariant(self._count < MAX_RECOVERY_LOCKS, f"{self._count} recovery locks held")
        tags.add(tag)
        self._count += 1
        holders = self._holders.get(tag, 0)
        self._holders[tag] = holders + 1
        if not holders:
            self.hooks.tag = tag
            try:
                self.owner.acquire(tag, LockMode.ACCESS_EXCLUSIVE)
            finally:
                self.hooks.tag = None

    def release_tree(self, xid: int, subxids: Iterable[int]) -> None:
        """The COMMIT or ABORT of ``xid`` and its subtransactions was replayed."""
        for ended in (xid, *subxids):
            self._release_xid(ended)

    def release_older_than(self, oldest_running_xid: int) -> None:
        """A RUNNING_XACTS record: locks of xids before the oldest running one belong to
        transactions that ended without a record (PostgreSQL's StandbyReleaseOldLocks)."""
        for xid in [x for x in self._by_xid if xid_precedes(x, oldest_running_xid)]:
            self._release_xid(xid)

    def release_all(self) -> None:
        """A shutdown checkpoint, or the end of recovery (StandbyReleaseAllLocks)."""
        for xid in list(self._by_xid):
            self._release_xid(xid)

    def held(self) -> dict[int, frozenset[RelationTag]]:
        """xid -> relations it holds locked (tests)."""
        return {xid: frozenset(tags) for xid, tags in self._by_xid.items()}

    def _release_xid(self, xid: int) -> None:
        tags = self._by_xid.pop(xid, None)
        if not tags:
            return
        self._count -= len(tags)
        for tag in tags:
            holders = self._holders[tag] - 1
            if holders:
                self._holders[tag] = holders
            else:
                del self._holders[tag]
                self.owner.release(tag, LockMode.ACCESS_EXCLUSIVE)


_create_lock = threading.Lock()


def recovery_locks_for(state: object) -> RecoveryLockTable | None:
    """The standby lock table a redo handler should feed, or None (crash recovery, tools).

    ``state`` is the handler's ``RedoContext.state``; the startup thread's knows its engine. The
    table is made at the first record that needs it, on the startup thread (whose id pg_locks
    then shows for the replayed locks)."""
    engine: Any = getattr(state, "engine", None)
    if engine is None or not getattr(engine, "standby_mode", False):
        return None
    table: RecoveryLockTable | None = getattr(engine, "recovery_locks", None)
    if table is None:
        from mirrordb.access.xact import Proc
        with _create_lock:
            table = getattr(engine, "recovery_locks", None)
            if table is None:
                proc = Proc(pid=threading.get_native_id())
                clog = engine.clog
                table = RecoveryLockTable(
                    engine.xacts.locks, proc,
                    lambda xid: clog.status(xid) in (XACT_COMMITTED, XACT_ABORTED),
                    StartupLockWaitHooks(state))
                engine.recovery_locks = table
    return table


__all__ = ["RecoveryLockTable", "StartupLockWaitHooks", "recovery_locks_for", "xid_precedes",
           "MAX_RECOVERY_LOCKS"]
