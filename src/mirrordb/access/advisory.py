"""Advisory locks: locks on numbers an application chooses (PostgreSQL's pg_advisory_lock
family), kept in the server's lock table (access/lmgr.py) beside the relation locks.

What they mean. Nothing in the server takes them; two sessions that agree on a number use it as
a mutex ("only one worker runs the nightly job"). A key is one bigint or two ints; the tag is
PostgreSQL's LOCKTAG_ADVISORY: (database OID, high 32 bits, low 32 bits, 1) for a bigint,
(database OID, first, second, 2) for two ints, each field unsigned as pg_locks shows it. The
modes are ExclusiveLock and ShareLock, with the lock table's conflicts, queues, lock_timeout,
cancel and deadlock detection.

Two lifetimes, as in PostgreSQL:

* **session level** (``pg_advisory_lock``): held until unlocked or the session ends, whatever
  becomes of the transaction that took it (a rollback does not release it). Taken twice, it
  must be unlocked twice.
* **transaction level** (``pg_advisory_xact_lock``): released when the transaction ends, and
  by ROLLBACK TO SAVEPOINT when taken after the savepoint; it cannot be unlocked early.

One session's locks never conflict with each other (it may hold a key exclusively at both
levels, or in both modes), so all of them are one lock owner's, and this object counts how
often each (tag, mode) is held at each level: the lock table holds it while either count is
above zero. The owner's proc is the session's current transaction's (``attach``), so a wait
for an advisory lock is a node of the same waits-for graph as its relation-lock waits.

Advisory locks are never WAL-logged and work on a hot standby as on a primary.

Invariants: ``_session`` and ``_transaction`` hold only positive counts, of what the owner
holds; ``_taken`` lists the transaction's holds in order (its length is their total); everything
is called by the session's own thread.
"""

from __future__ import annotations

from collections import Counter

from mirrordb.access.lmgr import (ADVISORY_TAG_LENGTH, AcquireResult, LockManager, LockMode,
                                  LockOwner, LockTag, LockWaitHooks, ProcLike)

EXCLUSIVE = LockMode.EXCLUSIVE      # pg_advisory_lock
SHARE = LockMode.SHARE              # pg_advisory_lock_shared
UINT32 = 0xFFFFFFFF


def bigint_tag(database: int, key: int) -> LockTag:
    """The tag of ``pg_advisory_lock(key bigint)``."""
    return (database, (key >> 32) & UINT32, key & UINT32, 1)


def int_pair_tag(database: int, key1: int, key2: int) -> LockTag:
    """The tag of ``pg_advisory_lock(key1 int, key2 int)``."""
    return (database, key1 & UINT32, key2 & UINT32, 2)


class AdvisoryLocks:
    """One session's advisory locks (see the module docstring)."""

    def __init__(self, manager: LockManager, proc: ProcLike, hooks: LockWaitHooks) -> None:
        self._owner = LockOwner(manager, proc, hooks)
        self._session: Counter[tuple[LockTag, int]] = Counter()
        self._transaction: Counter[tuple[LockTag, int]] = Counter()
        self._taken: list[tuple[LockTag, int]] = []   # transaction holds in order, for savepoints
        self._marks: list[int] = []      # len(_taken) at each open savepoint

    def attach(self, proc: ProcLike) -> None:
        """The session's transaction is now ``proc``'s: waits and pg_locks name it."""
        self._owner.proc = proc

    def lock(self, tag: LockTag, mode: int, *, session_level: bool, wait: bool) -> bool:
        """Take (tag, mode) once more at one level; False if ``wait`` is off and another
        session is in the way. A wait ends as lock waits do (cancel, lock_timeout, 40P01)."""
        assert len(tag) == ADVISORY_TAG_LENGTH
        key = (tag, mode)
        if not self._owner.holds(tag, mode):
            result = self._owner.acquire(tag, mode, dont_wait=not wait)
            if result is AcquireResult.NOT_AVAILABLE:
                return False
        if session_level:
            self._session[key] += 1
        else:
            self._transaction[key] += 1
            self._taken.append(key)
        return True

    def unlock(self, tag: LockTag, mode: int) -> bool:
        """Release one session-level hold of (tag, mode); False when there is none (a
        transaction-level hold cannot be released early)."""
        key = (tag, mode)
        if not self._session[key]:
            return False
        self._session[key] -= 1
        if not self._session[key]:
            del self._session[key]
            self._release_if_unused(key)
        return True

    def unlock_all_session(self) -> None:
        """``pg_advisory_unlock_all``: every session-level hold; the transaction's stay."""
        keys = list(self._session)
        self._session.clear()
        for key in keys:
            self._release_if_unused(key)

    # -- the session's transaction --------------------------------------------------------------

    def transaction_ended(self) -> None:
        self._marks.clear()
        if not self._session:         # the common case, however many keys: one release
            self._transaction.clear()
            self._taken.clear()
            self._owner.release_all()
            return
        self._release_transaction_holds(0)

    def savepoint(self) -> None:
        self._marks.append(len(self._taken))

    def release_savepoint(self, level: int) -> None:
        """Savepoint number ``level`` (1: the outermost) was released: its holds now belong
        to its parent."""
        del self._marks[level - 1:]

    def rollback_to_savepoint(self, depth: int) -> None:
        """Back to savepoint number ``depth``, which stays open: what the transaction took
        since is released."""
        del self._marks[depth:]
        if self._marks:
            self._release_transaction_holds(self._marks[-1])

    def close(self) -> None:
        """The session ends: everything goes."""
        self._session.clear()
        self._transaction.clear()
        self._taken.clear()
        self._marks.clear()
        self._owner.release_all()

    # -- internals ------------------------------------------------------------------------------

    def _release_transaction_holds(self, start: int) -> None:
        released = self._taken[start:]
        del self._taken[start:]
        counts = self._transaction
        for key in released:
            counts[key] -= 1
            if not counts[key]:
                del counts[key]
                self._release_if_unused(key)

    def _release_if_unused(self, key: tuple[LockTag, int]) -> None:
        if key not in self._session and key not in self._transaction and \
                self._owner.holds(*key):
            self._owner.release(*key)

    @property
    def empty(self) -> bool:
        return not self._session and not self._transaction


__all__ = ["AdvisoryLocks", "bigint_tag", "int_pair_tag", "EXCLUSIVE", "SHARE"]
