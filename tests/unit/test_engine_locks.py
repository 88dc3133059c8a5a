"""Row locks and deadlocks through the engine API: SELECT FOR UPDATE / FOR SHARE (``Txn.lock_row``),
writers waiting for lockers, REPEATABLE READ conflicts, and deadlock detection (40P01).

Each contender runs in a ``Contender`` thread; "it is blocked" is observed, not slept on: the
transaction's proc shows ``wait_event == "transactionid"`` while it waits for another transaction
(PostgreSQL's pg_stat_activity wait event), polled with a deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from mirrordb.access import lmgr
from mirrordb.access import xact as xactlib
from mirrordb.access.clog import CommitLog
from mirrordb.access.heapam import TmResult
from mirrordb.common.errors import DeadlockDetected, MirrordbError, SerializationFailure
from mirrordb.engine import Engine, Txn
from mirrordb.storage import datum as T

DEADLINE_S = 10.0
POLL_S = 0.005


@pytest.fixture
def engine(cluster: str) -> Iterator[Engine]:
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("val", T.TEXT_OID)])
        txn.create_index("t_pkey", "t", ["id"], unique=True, primary=True)
        for key in (1, 2):
            txn.insert("t", [key, "v0"])
    yield engine
    engine.close()


def tid_of(engine: Engine, key: int) -> tuple[int, int]:
    with engine.begin() as txn:
        (tid, _), = txn.lookup("t_pkey", (key,))
    return tid


def value_of(engine: Engine, key: int) -> str:
    with engine.begin() as txn:
        (_, values), = txn.lookup("t_pkey", (key,))
    return str(values[1])


def poll_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(POLL_S)


class Contender:
    """Runs ``action`` in a thread; keeps its result or the MirrordbError it raised."""

    def __init__(self, txn: Txn, action: Callable[[], object]) -> None:
        self.txn = txn
        self.result: object = None
        self.error: MirrordbError | None = None
        self.finished_at = 0.0
        self._thread = threading.Thread(target=self._run, args=(action,), daemon=True)
        self._thread.start()

    def _run(self, action: Callable[[], object]) -> None:
        try:
            self.result = action()
        except MirrordbError as error:
            self.error = error
        finally:
            self.finished_at = time.monotonic()

    def wait_until_blocked(self) -> None:
        poll_until(lambda: self.txn.transaction.proc.wait_event == "transactionid"
                   or not self._thread.is_alive(), "the contender waits for a transaction")
        assert self._thread.is_alive(), f"did not block: {self.result!r} {self.error!r}"

    def join(self) -> object:
        self._thread.join(DEADLINE_S)
        assert not self._thread.is_alive(), "still blocked after the deadline"
        return self.result

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


# -- FOR SHARE / FOR UPDATE -------------------------------------------------------------------


def test_share_locks_do_not_conflict(engine: Engine) -> None:
    tid = tid_of(engine, 1)
    first, second = engine.begin(), engine.begin()
    assert first.lock_row("t", tid, exclusive=False) == TmResult.OK
    contender = Contender(second, lambda: second.lock_row("t", tid, exclusive=False))
    assert contender.join() == TmResult.OK
    first.commit()
    second.commit()


def test_update_waits_for_a_share_lock(engine: Engine) -> None:
    tid = tid_of(engine, 1)
    locker, writer = engine.begin(), engine.begin()
    assert locker.lock_row("t", tid, exclusive=False) == TmResult.OK
    contender = Contender(writer, lambda: writer.update("t", tid, [1, "v1"])[0])
    contender.wait_until_blocked()
    locker.commit()
    assert contender.join() == TmResult.OK
    writer.commit()
    assert value_of(engine, 1) == "v1"


def test_share_lock_waits_for_an_exclusive_lock(engine: Engine) -> None:
    tid = tid_of(engine, 1)
    locker, sharer = engine.begin(), engine.begin()
    assert locker.lock_row("t", tid, exclusive=True) == TmResult.OK
    contender = Contender(sharer, lambda: sharer.lock_row("t", tid, exclusive=False))
    contender.wait_until_blocked()
    locker.abort()
    assert contender.join() == TmResult.OK
    sharer.commit()


@pytest.mark.parametrize("end", ["commit", "abort"])
def test_update_and_delete_wait_for_an_exclusive_lock_until_it_ends(engine: Engine,
                                                                    end: str) -> None:
    tid1, tid2 = tid_of(engine, 1), tid_of(engine, 2)
    locker, writer = engine.begin(), engine.begin()
    assert locker.lock_row("t", tid1, exclusive=True) == TmResult.OK
    assert locker.lock_row("t", tid2, exclusive=True) == TmResult.OK
    updating = Contender(writer, lambda: writer.update("t", tid1, [1, "v1"])[0])
    updating.wait_until_blocked()
    getattr(locker, end)()  # a lock that changed nothing leaves the row as it was
    assert updating.join() == TmResult.OK
    writer.commit()
    assert value_of(engine, 1) == "v1"

    locker, deleter = engine.begin(), engine.begin()
    assert locker.lock_row("t", tid2, exclusive=True) == TmResult.OK
    deleting = Contender(deleter, lambda: deleter.delete("t", tid2))
    deleting.wait_until_blocked()
    getattr(locker, end)()
    assert deleting.join() == TmResult.OK
    deleter.commit()
    with engine.begin() as txn:
        assert txn.lookup("t_pkey", (2,)) == []


def test_locking_a_row_being_updated_waits_then_sees_the_update(engine: Engine) -> None:
    tid = tid_of(engine, 1)
    writer, locker = engine.begin(), engine.begin()
    assert writer.update("t", tid, [1, "v1"])[0] == TmResult.OK
    contender = Contender(locker, lambda: locker.lock_row("t", tid, exclusive=True))
    contender.wait_until_blocked()
    writer.commit()
    assert contender.join() == TmResult.UPDATED  # READ COMMITTED: caller follows the chain
    newest = locker.latest_version("t", tid)
    assert newest != tid and locker.lock_row("t", newest) == TmResult.OK
    locker.commit()


def test_own_locks_do_not_block_own_changes(engine: Engine) -> None:
    tid = tid_of(engine, 1)
    with engine.begin() as txn:
        assert txn.lock_row("t", tid, exclusive=False) == TmResult.OK
        assert txn.lock_row("t", tid, exclusive=True) == TmResult.OK
        assert txn.update("t", tid, [1, "mine"])[0] == TmResult.OK
    assert value_of(engine, 1) == "mine"


def test_repeatable_read_lock_of_a_row_updated_by_a_committed_txn_fails(engine: Engine) -> None:
    tid = tid_of(engine, 1)
    reader = engine.begin("repeatable read")
    assert [v for _, v in reader.scan("t")] == [(1, "v0"), (2, "v0")]  # snapshot taken
    with engine.begin() as writer:
        assert writer.update("t", tid, [1, "v1"])[0] == TmResult.OK
    with pytest.raises(SerializationFailure) as raised:
        reader.lock_row("t", tid, exclusive=False)
    assert raised.value.sqlstate == "40001"
    reader.abort()


@pytest.mark.parametrize("end", ["commit", "abort"])
def test_repeatable_read_lock_waits_for_an_updater_then_fails_only_if_it_committed(
        engine: Engine, end: str) -> None:
    tid = tid_of(engine, 1)
    reader = engine.begin("repeatable read")
    writer = engine.begin()
    assert writer.update("t", tid, [1, "v1"])[0] == TmResult.OK
    contender = Contender(reader, lambda: reader.lock_row("t", tid, exclusive=True))
    contender.wait_until_blocked()
    getattr(writer, end)()
    result = contender.join()
    if end == "commit":
        assert isinstance(contender.error, SerializationFailure)
        assert contender.error.sqlstate == "40001"
        reader.abort()
    else:
        assert contender.error is None and result == TmResult.OK
        reader.commit()


@pytest.mark.parametrize("savepoint_end", ["release", "rollback"])
def test_row_lock_taken_in_a_savepoint(engine: Engine, savepoint_end: str) -> None:
    """Released: the lock stays until the transaction ends. Rolled back: it goes at once."""
    tid = tid_of(engine, 1)
    locker, writer = engine.begin(), engine.begin()
    locker.savepoint("s")
    assert locker.lock_row("t", tid) == TmResult.OK
    contender = Contender(writer, lambda: writer.update("t", tid, [1, "v1"])[0])
    contender.wait_until_blocked()
    if savepoint_end == "release":
        locker.release_savepoint("s")
        assert contender.alive
        locker.commit()
    else:
        locker.rollback_to_savepoint("s")
    assert contender.join() == TmResult.OK
    writer.commit()
    locker.abort()  # no-op when already committed


# -- deadlocks --------------------------------------------------------------------------------


def _lock(txn: Txn, tid: tuple[int, int], how: str, session: str) -> object:
    if how == "lock_row":
        return txn.lock_row("t", tid, exclusive=True)
    return txn.update("t", tid, [tid_key(txn, tid), f"by {session}"])[0]


def tid_key(txn: Txn, tid: tuple[int, int]) -> int:
    values = txn.fetch("t", tid)
    assert values is not None
    return int(values[0])  # type: ignore[call-overload]


@pytest.mark.parametrize("how", ["lock_row", "update"])
def test_deadlock_exactly_one_victim_and_the_other_proceeds(engine: Engine, how: str) -> None:
    tids = [tid_of(engine, 1), tid_of(engine, 2)]
    holding = threading.Barrier(2, timeout=DEADLINE_S)
    outcome: dict[str, object] = {}
    aborted_at: dict[str, float] = {}
    done_at: dict[str, float] = {}

    def session(name: str, first: tuple[int, int], second: tuple[int, int]) -> None:
        txn = engine.begin()
        try:
            assert _lock(txn, first, how, name) == TmResult.OK
            holding.wait()
            outcome[name] = _lock(txn, second, how, name)
            done_at[name] = time.monotonic()
            txn.commit()
        except DeadlockDetected as error:
            outcome[name] = error
            txn.abort()
            aborted_at[name] = time.monotonic()
        except BaseException as error:  # pragma: no cover - reported below
            outcome[name] = error
            txn.abort()

    started = time.monotonic()
    threads = [threading.Thread(target=session, args=("a", tids[0], tids[1]), daemon=True),
               threading.Thread(target=session, args=("b", tids[1], tids[0]), daemon=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S)
    assert not any(thread.is_alive() for thread in threads), f"hung: {outcome}"
    victims = [name for name, result in outcome.items() if isinstance(result, DeadlockDetected)]
    assert len(victims) == 1, f"expected exactly one deadlock victim: {outcome}"
    victim, = victims
    survivor = "b" if victim == "a" else "a"
    error = outcome[victim]
    assert isinstance(error, DeadlockDetected) and error.sqlstate == "40P01"
    assert outcome[survivor] == TmResult.OK
    # promptly: one deadlock check interval plus scheduling slack, not a lock timeout
    assert aborted_at[victim] - started < xactlib.DEADLOCK_CHECK_INTERVAL_S + 2.0
    assert done_at[survivor] >= aborted_at[victim] - 0.05  # waited for the victim to go
    if how == "update":
        assert value_of(engine, 1) == value_of(engine, 2) == f"by {survivor}"


def test_no_deadlock_reported_for_a_plain_wait(engine: Engine, monkeypatch) -> None:
    monkeypatch.setattr(xactlib, "DEADLOCK_CHECK_INTERVAL_S", 0.05)
    checks: list[object] = []
    original = lmgr.LockManager.check_deadlock

    def counted(self: lmgr.LockManager, proc: object) -> None:
        checks.append(proc)
        original(self, proc)

    monkeypatch.setattr(lmgr.LockManager, "check_deadlock", counted)
    tid = tid_of(engine, 1)
    holder, waiter = engine.begin(), engine.begin()
    assert holder.lock_row("t", tid) == TmResult.OK
    contender = Contender(waiter, lambda: waiter.lock_row("t", tid))
    contender.wait_until_blocked()
    poll_until(lambda: bool(checks), "the waiter ran its deadlock check")
    assert contender.alive and contender.error is None
    holder.commit()
    assert contender.join() == TmResult.OK
    waiter.commit()


def test_deadlock_victim_leaves_the_wait_graph_before_anyone_else_checks(tmp_path) -> None:
    """Two waiters whose checks run back to back must not both see the cycle: the victim is
    taken out of the wait-for graph under the same lock hold that found the cycle."""
    manager = xactlib.TransactionManager(CommitLog(str(tmp_path)), None, 1000)
    first, second = xactlib.Proc(pid=1), xactlib.Proc(pid=2)
    for proc in (first, second):
        manager.register(proc)
    xid1, xid2 = manager.assign_xid(first), manager.assign_xid(second)
    manager.locks.begin_xid_wait(first, xid2)
    manager.locks.begin_xid_wait(second, xid1)
    with pytest.raises(DeadlockDetected) as raised:
        manager.locks.check_deadlock(first)
    assert raised.value.detail == (
        f"Process 1 waits for ShareLock on transaction {xid2}; blocked by process 2.\n"
        f"Process 2 waits for ShareLock on transaction {xid1}; blocked by process 1.")
    manager.locks.check_deadlock(second)  # the cycle is gone: no second victim
