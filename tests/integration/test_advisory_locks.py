"""Advisory locks on a running server, through psycopg as a user's sessions.

Every expectation was read off PostgreSQL 15 with the same statements: the lifetimes
(session-level holds survive a rollback and are counted, transaction-level ones end with the
transaction or a rolled-back savepoint), unlock's false with its WARNING, the key's fields in
pg_locks, waits (pg_stat_activity's Lock/advisory), lock_timeout, cancel, 40P01 with
PostgreSQL's DETAIL, and a deadlock through an advisory lock and a table lock together.
Waits are observed and polled with a deadline; nothing sleeps blindly.
"""

from __future__ import annotations

import re
import psycopg
import pytest

# the relation lock tests' sessions: ``connect`` opens one on the module's server
from tests.integration.test_relation_locks import (Background, connect, poll_until,  # noqa: F401
                                                   server)


def one(connection: psycopg.Connection, sql: str) -> object:
    row = connection.execute(sql).fetchone()
    assert row is not None
    return row[0]


def advisory_locks(connection: psycopg.Connection) -> list[tuple[object, ...]]:
    """(classid, objid, objsubid, mode, granted) of the session's advisory locks."""
    return connection.execute(
        "select classid, objid, objsubid, mode, granted from pg_locks "
        "where locktype = 'advisory' and pid = pg_backend_pid() "
        "order by objid, mode").fetchall()


def waiting_for_advisory(monitor: psycopg.Connection, pid: int) -> bool:
    return monitor.execute("select wait_event_type, wait_event from pg_stat_activity "
                           "where pid = %s", (pid,)).fetchone() == ("Lock", "advisory")


def test_session_and_transaction_lifetimes(connect) -> None:
    session = connect()
    warnings: list[str] = []
    session.add_notice_handler(lambda notice: warnings.append(
        f"{notice.severity}: {notice.message_primary}"))
    assert one(session, "select pg_advisory_lock(4)") == ""
    assert one(session, "select pg_advisory_lock(4)") == ""           # counted: twice held
    assert one(session, "select pg_advisory_unlock(4)") is True
    assert advisory_locks(session) == [(0, 4, 1, "ExclusiveLock", True)]
    assert one(session, "select pg_advisory_unlock(4)") is True
    assert one(session, "select pg_advisory_unlock(4)") is False
    assert warnings == ["WARNING: you don't own a lock of type ExclusiveLock"]
    assert advisory_locks(session) == []

    with session.transaction(force_rollback=True):   # a rollback keeps session-level holds
        session.execute("select pg_advisory_xact_lock(3)")
        assert one(session, "select pg_advisory_unlock(3)") is False   # not session-level
        session.execute("select pg_advisory_lock(3)")
        assert advisory_locks(session) == [(0, 3, 1, "ExclusiveLock", True)]   # one row
    assert advisory_locks(session) == [(0, 3, 1, "ExclusiveLock", True)]
    assert one(session, "select pg_advisory_unlock(3)") is True

    with session.transaction():
        session.execute("savepoint a")
        session.execute("select pg_advisory_xact_lock(13)")
        session.execute("select pg_advisory_lock(14)")
        session.execute("rollback to savepoint a")   # the transaction-level one goes
        assert [row[1] for row in advisory_locks(session)] == [14]
        session.execute("select pg_advisory_xact_lock(9)")
        session.execute("select pg_advisory_unlock_all()")   # session-level only
        assert [row[1] for row in advisory_locks(session)] == [9]
    assert advisory_locks(session) == []

    session.execute("select pg_advisory_lock(5), pg_advisory_lock_shared(5)")
    assert advisory_locks(session) == [(0, 5, 1, "ExclusiveLock", True),
                                       (0, 5, 1, "ShareLock", True)]
    session.execute("discard all")                  # includes pg_advisory_unlock_all()
    assert advisory_locks(session) == []


def test_keys_nulls_and_types(connect) -> None:
    session = connect()
    session.execute("select pg_advisory_lock(-1), pg_advisory_lock(4294967296 + 7), "
                    "pg_advisory_lock(1::smallint, 2), pg_advisory_lock('12')")
    assert sorted(advisory_locks(session)) == [
        (0, 12, 1, "ExclusiveLock", True), (1, 2, 2, "ExclusiveLock", True),
        (1, 7, 1, "ExclusiveLock", True), (4294967295, 4294967295, 1, "ExclusiveLock", True)]
    database = one(session, "select oid from pg_database where datname = current_database()")
    assert session.execute("select distinct database from pg_locks "
                           "where locktype = 'advisory'").fetchall() == [(database,)]
    session.execute("select pg_advisory_unlock_all()")
    assert session.execute("select pg_advisory_lock(null), pg_try_advisory_lock(1, null), "
                           "pg_advisory_unlock(null)").fetchone() == (None, None, None)
    assert one(session, "select pg_typeof(pg_advisory_lock(11))") == "void"
    with pytest.raises(psycopg.errors.UndefinedFunction,
                       match=re.escape("function pg_advisory_lock(numeric) does not exist")):
        session.execute("select pg_advisory_lock(1.5)")
    with pytest.raises(psycopg.errors.UndefinedFunction,
                       match=re.escape("function pg_advisory_lock(bigint, integer)")):
        session.execute("select pg_advisory_lock(1::bigint, 2)")
    session.execute("select pg_advisory_unlock_all()")


def test_a_second_session_tries_waits_and_gets_the_lock(connect) -> None:
    holder, other, monitor = connect(), connect(), connect()
    holder.execute("select pg_advisory_lock(1), pg_advisory_lock_shared(2)")
    assert one(other, "select pg_try_advisory_lock(1)") is False
    assert one(other, "select pg_try_advisory_lock_shared(1)") is False
    assert one(other, "select pg_try_advisory_lock_shared(2)") is True   # shared with shared
    assert one(other, "select pg_try_advisory_xact_lock(2)") is False

    other.execute("set lock_timeout = '100ms'")
    with pytest.raises(psycopg.errors.LockNotAvailable,
                       match="canceling statement due to lock timeout"):
        other.execute("select pg_advisory_lock(1)")
    other.execute("reset lock_timeout")

    waiter = Background(other, "select pg_advisory_lock(1)")
    poll_until(lambda: waiting_for_advisory(monitor, waiter.pid), "the second session waits")
    assert monitor.execute("select mode, granted from pg_locks where locktype = 'advisory' "
                           "and pid = %s order by granted", (waiter.pid,)).fetchall() == \
        [("ExclusiveLock", False), ("ShareLock", True)]
    assert waiter.rows is None
    holder.execute("select pg_advisory_unlock(1)")
    waiter.join()
    assert waiter.error is None and waiter.rows == [("",)]

    cancelled = Background(holder, "select pg_advisory_lock(1)")
    poll_until(lambda: waiting_for_advisory(monitor, cancelled.pid), "the holder waits")
    holder.cancel()
    cancelled.join()
    assert isinstance(cancelled.error, psycopg.errors.QueryCanceled)

    other.close()                                  # the session's locks end with it
    poll_until(lambda: one(holder, "select pg_try_advisory_lock(1)"), "the lock is free")


def deadlock_detail(error: psycopg.Error | None) -> str:
    assert isinstance(error, psycopg.errors.DeadlockDetected), error
    return re.sub(r"process \d+|Process \d+", "process N", error.diag.message_detail or "")


def test_deadlock_between_two_sessions(connect) -> None:
    first, second, monitor = connect(), connect(), connect()
    database = one(monitor, "select oid from pg_database where datname = current_database()")
    first.execute("select pg_advisory_lock(10)")
    second.execute("select pg_advisory_lock(20)")
    second.execute("set deadlock_timeout = '60s'")     # the first session is the one to check
    blocked = Background(second, "select pg_advisory_lock(10)")
    poll_until(lambda: waiting_for_advisory(monitor, blocked.pid), "the second session waits")
    first.execute("set deadlock_timeout = '50ms'")
    with pytest.raises(psycopg.errors.DeadlockDetected) as caught:
        first.execute("select pg_advisory_lock(20)")
    assert deadlock_detail(caught.value) == (
        f"process N waits for ExclusiveLock on advisory lock [{database},0,20,1]; blocked by "
        f"process N.\nprocess N waits for ExclusiveLock on advisory lock [{database},0,10,1]; "
        "blocked by process N.")
    first.execute("select pg_advisory_unlock_all()")   # a session-level hold outlives the error
    blocked.join()
    assert blocked.error is None
    second.execute("select pg_advisory_unlock_all()")


def test_deadlock_through_an_advisory_lock_and_a_table_lock(connect) -> None:
    """The session-level lock was taken in an earlier transaction: the waits-for graph still
    reaches the session through its current transaction."""
    first, second, monitor = connect(), connect(), connect()
    first.execute("create table if not exists advisory_t (id int)")
    first.execute("select pg_advisory_lock(30)")
    second.execute("begin")
    second.execute("lock table advisory_t in access exclusive mode")
    waiter = Background(second, "select pg_advisory_lock(30)")
    poll_until(lambda: waiting_for_advisory(monitor, waiter.pid), "the second session waits")
    first.execute("set deadlock_timeout = '50ms'")
    with pytest.raises(psycopg.errors.DeadlockDetected) as caught:
        first.execute("select count(*) from advisory_t")
    assert "waits for AccessShareLock on relation" in (caught.value.diag.message_detail or "")
    first.execute("select pg_advisory_unlock(30)")
    waiter.join()
    assert waiter.error is None
    second.execute("rollback")
    second.execute("select pg_advisory_unlock_all()")
