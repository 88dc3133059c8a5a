"""The relation lock manager (access/lmgr.py) on its own: PostgreSQL's conflict table, grants and
the wait queue, release at the end and at ROLLBACK TO SAVEPOINT, NOWAIT, interrupts during a
wait, deadlock detection (relation locks alone, and mixed with a wait for a transaction), the
autovacuum cancel, pg_locks' rows, and the standby's table of replayed locks
(recovery/standby_locks.py).

Blocked requests run in threads; "it waits" is observed in the lock table (a request not granted),
polled with a deadline, never slept on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from mirrordb.access import lmgr
from mirrordb.access.clog import CommitLog
from mirrordb.access.lmgr import (CONFLICTS, AcquireResult, LockManager, LockMode, LockOwner,
                                  LockWaitHooks)
from mirrordb.access.xact import Proc, TransactionManager
from mirrordb.common.errors import DeadlockDetected, QueryCanceled
from mirrordb.recovery.standby_locks import RecoveryLockTable, StartupLockWaitHooks, xid_precedes
from tests.unit.test_engine_locks import Contender, poll_until

T1, T2 = (5, 16384), (5, 16385)
M = LockMode

# PostgreSQL's documentation, "Conflicting Lock Modes" (explicit-locking.html), row by row:
# the modes each requested mode conflicts with.
DOCUMENTED_CONFLICTS = {
    M.ACCESS_SHARE: {M.ACCESS_EXCLUSIVE},
    M.ROW_SHARE: {M.EXCLUSIVE, M.ACCESS_EXCLUSIVE},
    M.ROW_EXCLUSIVE: {M.SHARE, M.SHARE_ROW_EXCLUSIVE, M.EXCLUSIVE, M.ACCESS_EXCLUSIVE},
    M.SHARE_UPDATE_EXCLUSIVE: {M.SHARE_UPDATE_EXCLUSIVE, M.SHARE, M.SHARE_ROW_EXCLUSIVE,
                               M.EXCLUSIVE, M.ACCESS_EXCLUSIVE},
    M.SHARE: {M.ROW_EXCLUSIVE, M.SHARE_UPDATE_EXCLUSIVE, M.SHARE_ROW_EXCLUSIVE, M.EXCLUSIVE,
              M.ACCESS_EXCLUSIVE},
    M.SHARE_ROW_EXCLUSIVE: {M.ROW_EXCLUSIVE, M.SHARE_UPDATE_EXCLUSIVE, M.SHARE,
                            M.SHARE_ROW_EXCLUSIVE, M.EXCLUSIVE, M.ACCESS_EXCLUSIVE},
    M.EXCLUSIVE: {M.ROW_SHARE, M.ROW_EXCLUSIVE, M.SHARE_UPDATE_EXCLUSIVE, M.SHARE,
                  M.SHARE_ROW_EXCLUSIVE, M.EXCLUSIVE, M.ACCESS_EXCLUSIVE},
    M.ACCESS_EXCLUSIVE: set(LockMode),
}


class FastDeadlockHooks(LockWaitHooks):
    def deadlock_timeout_ms(self) -> int:
        return 20


def owner(manager: LockManager, pid: int, hooks: LockWaitHooks | None = None) -> LockOwner:
    return manager.new_owner(Proc(pid=pid), hooks or FastDeadlockHooks())


def attempt(work: Callable[[], object]) -> Contender:
    """``work`` (a lock request) in a thread, its outcome kept (test_engine_locks' Contender,
    without a transaction of the engine)."""
    return Contender(None, work)  # type: ignore[arg-type]


def waiting(manager: LockManager, pid: int) -> bool:
    return any(not row.granted and row.pid == pid for row in manager.status())


def blocked(manager: LockManager, waiter: LockOwner, tag: tuple[int, int],
            mode: LockMode) -> Contender:
    """``waiter`` asks for ``mode`` on ``tag`` in a thread, and is seen waiting."""
    request = attempt(lambda: waiter.acquire(tag, mode))
    poll_until(lambda: waiting(manager, waiter.proc.pid), f"{waiter.proc.pid} waits")
    return request


def reader_and_waiting_dropper(manager: LockManager) -> tuple[LockOwner, LockOwner, Contender]:
    reader, dropper = owner(manager, 1), owner(manager, 2)
    reader.acquire(T1, M.ACCESS_SHARE)
    return reader, dropper, blocked(manager, dropper, T1, M.ACCESS_EXCLUSIVE)


def held_modes(manager: LockManager, tag: tuple[int, int]) -> list[tuple[int, str]]:
    return sorted((row.pid, lmgr.LOCK_MODE_NAMES[row.mode]) for row in manager.status()
                  if row.granted and row.tag == tag)


# -- the conflict table ---------------------------------------------------------------------------

def test_conflict_table_is_postgresqls() -> None:
    for mode, conflicting in DOCUMENTED_CONFLICTS.items():
        assert {other for other in LockMode if CONFLICTS[mode] & (1 << other)} == conflicting
    assert lmgr.LOCK_MODE_NAMES[M.SHARE_UPDATE_EXCLUSIVE] == "ShareUpdateExclusiveLock"


@pytest.mark.parametrize("held", list(LockMode))
@pytest.mark.parametrize("wanted", list(LockMode))
def test_nowait_grants_exactly_the_compatible_modes(held: LockMode, wanted: LockMode) -> None:
    manager = LockManager()
    first, second = owner(manager, 1), owner(manager, 2)
    assert first.acquire(T1, held) is AcquireResult.GRANTED
    result = second.acquire(T1, wanted, dont_wait=True)
    expected = AcquireResult.NOT_AVAILABLE if wanted in DOCUMENTED_CONFLICTS[held] \
        else AcquireResult.GRANTED
    assert result is expected
    first.release_all()
    second.release_all()
    assert manager.status() == []      # nothing left behind, even by a refused request


def test_own_locks_never_conflict_and_repeats_take_the_fast_path() -> None:
    manager = LockManager()
    session = owner(manager, 1)
    assert session.acquire(T1, M.ACCESS_SHARE) is AcquireResult.GRANTED
    assert session.acquire(T1, M.ACCESS_SHARE) is AcquireResult.ALREADY_HELD
    assert session.acquire(T1, M.ACCESS_EXCLUSIVE, dont_wait=True) is AcquireResult.GRANTED
    assert held_modes(manager, T1) == [(1, "AccessExclusiveLock"), (1, "AccessShareLock")]
    session.release_all()
    assert manager.status() == [] and session.held == {}


def test_free_entries_are_kept_for_reuse_but_bounded(monkeypatch) -> None:
    monkeypatch.setattr(lmgr, "KEPT_FREE_LOCKS", 8)
    manager = LockManager()
    session = owner(manager, 1)
    for relation in range(16384, 16384 + 100):
        session.acquire((5, relation), M.ACCESS_SHARE)
        session.release_all()
    assert len(manager._locks) <= 2 * 8
    held = [(5, relation) for relation in range(20000, 20030)]
    for tag in held:                     # more held than the bound: none of them may go
        session.acquire(tag, M.ROW_EXCLUSIVE)
    assert {row.tag for row in manager.status()} == set(held)
    session.release_all()


# -- the wait queue -------------------------------------------------------------------------------

def test_queue_order_a_later_reader_waits_behind_a_waiting_exclusive_request() -> None:
    manager = LockManager()
    reader, dropper, drop = reader_and_waiting_dropper(manager)
    late_reader = owner(manager, 3)
    late = blocked(manager, late_reader, T1, M.ACCESS_SHARE)   # queued behind the dropper
    reader.release_all()
    assert drop.join() is AcquireResult.WAITED
    assert late.alive and waiting(manager, 3)
    dropper.release_all()
    assert late.join() is AcquireResult.WAITED
    late_reader.release_all()


def test_a_holder_upgrading_goes_ahead_of_the_waiter_it_blocks() -> None:
    """Without this rule (PostgreSQL's ProcSleep) a reader that then writes would deadlock with
    a DROP waiting for its read lock."""
    manager = LockManager()
    session, dropper, drop = reader_and_waiting_dropper(manager)
    assert session.acquire(T1, M.ROW_EXCLUSIVE) is AcquireResult.GRANTED
    session.release_all()
    assert drop.join() is AcquireResult.WAITED
    dropper.release_all()


def test_release_after_a_savepoint_mark_keeps_the_older_locks_and_wakes_waiters() -> None:
    manager = LockManager()
    session, other = owner(manager, 1), owner(manager, 2)
    session.acquire(T1, M.ACCESS_SHARE)
    mark = session.mark()
    session.acquire(T2, M.ACCESS_EXCLUSIVE)
    session.acquire(T1, M.ROW_EXCLUSIVE)
    reader = blocked(manager, other, T2, M.ACCESS_SHARE)
    session.release_after(mark)
    assert reader.join() is AcquireResult.WAITED
    assert held_modes(manager, T1) == [(1, "AccessShareLock")]
    assert session.acquired == [(T1, M.ACCESS_SHARE)]
    session.release_all()
    other.release_all()


# -- interrupts -----------------------------------------------------------------------------------

class CancellableHooks(FastDeadlockHooks):
    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.started = self.ended = 0

    def check_for_interrupts(self) -> None:
        if self.cancel.is_set():
            raise QueryCanceled("canceling statement due to user request")

    def wait_started(self) -> None:
        self.started += 1

    def wait_ended(self) -> None:
        self.ended += 1


def test_a_cancelled_waiter_leaves_the_queue_and_those_behind_it_move_on() -> None:
    manager = LockManager()
    holder, cancelled_owner, reader = owner(manager, 1), None, owner(manager, 3)
    hooks = CancellableHooks()
    cancelled_owner = owner(manager, 2, hooks)
    holder.acquire(T1, M.SHARE)
    exclusive = blocked(manager, cancelled_owner, T1, M.ACCESS_EXCLUSIVE)
    writer = blocked(manager, reader, T1, M.ACCESS_SHARE)   # queued behind it
    hooks.cancel.set()
    exclusive.join()
    assert isinstance(exclusive.error, QueryCanceled)
    assert hooks.started == hooks.ended == 1      # lock_timeout armed and disarmed once
    assert writer.join() is AcquireResult.WAITED  # only the ShareLock is in its way: none
    assert cancelled_owner.held == {}
    holder.release_all()
    reader.release_all()


# -- deadlocks ------------------------------------------------------------------------------------

def test_two_sessions_locking_two_tables_in_opposite_order_one_victim() -> None:
    manager = LockManager()
    first, second = owner(manager, 101), owner(manager, 102)
    first.acquire(T1, M.ACCESS_EXCLUSIVE)
    second.acquire(T2, M.ACCESS_EXCLUSIVE)
    one = blocked(manager, first, T2, M.ACCESS_EXCLUSIVE)
    other = attempt(lambda: second.acquire(T1, M.ACCESS_EXCLUSIVE))
    poll_until(lambda: bool(one.error or other.error), "a deadlock is detected")
    error = one.error or other.error
    assert isinstance(error, DeadlockDetected) and error.sqlstate == "40P01"
    victim, survivor = (second, first) if other.error else (first, second)
    victim.release_all()                 # the victim's transaction aborts
    assert (one if survivor is first else other).join() is AcquireResult.WAITED
    assert error.hint == "See server log for query details."
    lines = (error.detail or "").splitlines()
    pids = [victim.proc.pid, survivor.proc.pid]
    wanted = {first: T2, second: T1}      # what each waits for
    assert lines == [
        f"Process {pids[0]} waits for AccessExclusiveLock on relation {wanted[victim][1]} of "
        f"database 5; blocked by process {pids[1]}.",
        f"Process {pids[1]} waits for AccessExclusiveLock on relation {wanted[survivor][1]} of "
        f"database 5; blocked by process {pids[0]}."]
    victim.release_all()
    survivor.release_all()
    assert manager.deadlocks == 1


def test_deadlock_through_a_relation_lock_and_a_wait_for_a_transaction(tmp_path) -> None:
    """A waits for B's row (B's xid); B waits for a table A locked: the cycle crosses the
    transaction manager's xid waits and the relation lock table."""
    xacts = TransactionManager(CommitLog(str(tmp_path)), None, 1000)
    proc_a, proc_b = Proc(pid=1), Proc(pid=2)
    for proc in (proc_a, proc_b):
        xacts.register(proc)
        proc.wait_hooks = FastDeadlockHooks()
    xacts.assign_xid(proc_a)
    xid_b = xacts.assign_xid(proc_b)
    owner_a = xacts.locks.new_owner(proc_a, FastDeadlockHooks())
    owner_b = xacts.locks.new_owner(proc_b, FastDeadlockHooks())
    owner_a.acquire(T1, M.ACCESS_EXCLUSIVE)
    row_wait = attempt(lambda: xacts.wait_for(xid_b, proc_a.xid, proc_a, lambda: None))
    poll_until(lambda: proc_a.wait_event == "transactionid", "A waits for B's transaction")
    table_wait = attempt(lambda: owner_b.acquire(T1, M.ACCESS_SHARE))
    poll_until(lambda: bool(row_wait.error or table_wait.error), "a deadlock is detected")
    error = row_wait.error or table_wait.error
    assert isinstance(error, DeadlockDetected)
    assert sorted((error.detail or "").splitlines()) == [
        "Process 1 waits for ShareLock on transaction %d; blocked by process 2." % xid_b,
        "Process 2 waits for AccessShareLock on relation 16384 of database 5; blocked by "
        "process 1."]
    if row_wait.error:                       # A gave up its row wait: B still needs A's lock
        owner_a.release_all()
        assert table_wait.join() is AcquireResult.WAITED
    else:                                    # B gave up its lock wait: end B, A's wait ends
        owner_b.release_all()
        xacts.finish(proc_b, [xid_b], 2)
        row_wait.join()
    owner_a.release_all()
    owner_b.release_all()


def test_a_deadlock_check_asks_a_blocking_autovacuum_to_stop() -> None:
    manager = LockManager()
    vacuum = manager.new_owner(Proc(pid=7), is_autovacuum=True)
    vacuum.acquire(T1, M.SHARE_UPDATE_EXCLUSIVE)
    dropper = owner(manager, 8)
    drop = blocked(manager, dropper, T1, M.ACCESS_EXCLUSIVE)
    poll_until(lambda: vacuum.cancel_requested, "the waiter asks the autovacuum to stop")
    vacuum.release_all()
    assert drop.join() is AcquireResult.WAITED
    dropper.release_all()


# -- pg_locks -------------------------------------------------------------------------------------

def test_status_rows_show_holders_and_waiters() -> None:
    manager = LockManager()
    reader, dropper, drop = reader_and_waiting_dropper(manager)
    rows = sorted(manager.status(), key=lambda row: row.pid)
    assert [(r.tag, lmgr.LOCK_MODE_NAMES[r.mode], r.granted, r.pid) for r in rows] == [
        (T1, "AccessShareLock", True, 1), (T1, "AccessExclusiveLock", False, 2)]
    assert rows[0].wait_start is None and rows[1].wait_start is not None
    assert rows[0].virtual_transaction != rows[1].virtual_transaction
    assert manager.conflicting_procs(T1, M.ACCESS_EXCLUSIVE, dropper) == [reader.proc]
    reader.release_all()
    drop.join()
    dropper.release_all()


# -- the standby's replayed locks ---------------------------------------------------------------

def recovery_table(manager: LockManager, finished: set[int]) -> RecoveryLockTable:
    return RecoveryLockTable(manager, Proc(pid=99), lambda xid: xid in finished,
                             StartupLockWaitHooks(object()))


def test_replayed_locks_are_released_by_the_end_of_their_transaction_tree() -> None:
    manager = LockManager()
    table = recovery_table(manager, finished={500})
    table.acquire(500, 5, 16384)                 # its end was replayed already: ignored
    table.acquire(600, 5, 16384)
    table.acquire(601, 5, 16385)                 # a subtransaction of 600
    table.acquire(700, 5, 16385)                 # logged again by a checkpoint, under another xid
    assert held_modes(manager, T1) == [(99, "AccessExclusiveLock")]
    assert table.held() == {600: frozenset({T1}), 601: frozenset({T2}), 700: frozenset({T2})}
    table.release_tree(600, [601])
    assert held_modes(manager, T1) == [] and held_modes(manager, T2) != []
    table.release_older_than(701)                # 700 ended without a record
    assert manager.status() == [] and table.held() == {}


def test_replayed_locks_released_all_at_once_and_xid_order_wraps() -> None:
    manager = LockManager()
    table = recovery_table(manager, finished=set())
    table.acquire(10, 5, 16384)
    table.acquire(11, 5, 16385)
    table.release_older_than(10)
    assert len(table.held()) == 2
    table.release_all()
    assert manager.status() == []
    assert xid_precedes(0xFFFFFFF0, 5) and not xid_precedes(5, 0xFFFFFFF0)
    assert not xid_precedes(7, 7)


def test_a_replayed_lock_waits_for_a_standby_reader() -> None:
    manager = LockManager()
    reader = owner(manager, 1)
    reader.acquire(T1, M.ACCESS_SHARE)
    table = recovery_table(manager, finished=set())
    replay = attempt(lambda: table.acquire(600, 5, 16384))
    poll_until(lambda: waiting(manager, 99), "replay waits for the reader")
    assert manager.conflicting_procs(T1, M.ACCESS_EXCLUSIVE, table.owner) == [reader.proc]
    reader.release_all()
    replay.join()
    assert replay.error is None and held_modes(manager, T1) == [(99, "AccessExclusiveLock")]
    table.release_all()
