"""INSERT ... ON CONFLICT between concurrent sessions on a real server, as PostgreSQL's READ
COMMITTED and REPEATABLE READ behave: an upsert that meets a key inserted (or a row changed) by
a transaction still in progress waits for it, then skips, updates the now-committed row (which
its snapshot predates), or inserts after an abort; several sessions hammering one counter
never raise a unique violation and never lose an increment."""

from __future__ import annotations

import threading

import psycopg
import pytest

from tests.integration.test_relation_locks import Background, connect, poll_until, server

__all__ = ["connect", "server"]     # fixtures, imported for pytest

SESSIONS = 4
UPSERTS_PER_SESSION = 60
KEYS = 3


def waiting_for_transaction(monitor: psycopg.Connection, pid: int) -> bool:
    row = monitor.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity "
                          "WHERE pid = %s", (pid,)).fetchone()
    return row == ("Lock", "transactionid")


def _table(session: psycopg.Connection, name: str) -> None:
    session.execute(f"DROP TABLE IF EXISTS {name}; "
                    f"CREATE TABLE {name} (k int PRIMARY KEY, v text)")


@pytest.mark.parametrize("outcome, action, expected_rows, expected_table", [
    ("COMMIT", "DO NOTHING RETURNING k, v", [], [(1, "first")]),
    ("COMMIT", "DO UPDATE SET v = t.v || '+' || excluded.v RETURNING k, v",
     [(1, "first+second")], [(1, "first+second")]),
    ("ROLLBACK", "DO NOTHING RETURNING k, v", [(1, "second")], [(1, "second")]),
    ("ROLLBACK", "DO UPDATE SET v = 'updated' RETURNING k, v", [(1, "second")],
     [(1, "second")]),
])
def test_an_upsert_waits_for_the_inserter_of_its_key(connect, outcome: str, action: str,
                                                      expected_rows: list[tuple[object, ...]],
                                                      expected_table: list[tuple[object, ...]]
                                                      ) -> None:
    first, second, monitor = connect(), connect(), connect()
    _table(first, "t")
    first.execute("BEGIN")
    first.execute("INSERT INTO t VALUES (1, 'first')")
    upsert = Background(second, f"INSERT INTO t AS t VALUES (1, 'second') ON CONFLICT (k) "
                                f"{action}")
    poll_until(lambda: waiting_for_transaction(monitor, upsert.pid),
               "the upsert waits for the inserter")
    first.execute(outcome)
    upsert.join()
    assert upsert.error is None and upsert.rows == expected_rows
    assert monitor.execute("SELECT k, v FROM t").fetchall() == expected_table


@pytest.mark.parametrize("hold, then, expected", [
    ("UPDATE t SET v = 'changed' WHERE k = 1", None, [(1, "changed+")]),
    ("SELECT * FROM t WHERE k = 1 FOR UPDATE", "UPDATE t SET v = 'locked' WHERE k = 1",
     [(1, "locked+")]),
    ("SELECT * FROM t WHERE k = 1 FOR SHARE", None, [(1, "old+")]),
    ("DELETE FROM t WHERE k = 1", None, [(1, "x")]),
])
def test_an_upsert_meets_the_newest_version_of_a_row_changed_meanwhile(
        connect, hold: str, then: str | None, expected: list[tuple[object, ...]]) -> None:
    """It waits for the transaction holding the conflicting row, then updates its newest
    version (or inserts when that transaction deleted it): no lost update."""
    first, second, monitor = connect(), connect(), connect()
    _table(first, "t")
    first.execute("INSERT INTO t VALUES (1, 'old')")
    first.execute("BEGIN")
    first.execute(hold)
    upsert = Background(second, "INSERT INTO t VALUES (1, 'x') ON CONFLICT (k) "
                                "DO UPDATE SET v = t.v || '+' RETURNING k, v")
    poll_until(lambda: waiting_for_transaction(monitor, upsert.pid),
               "the upsert waits for the transaction holding the row")
    if then is not None:
        first.execute(then)
    first.execute("COMMIT")
    upsert.join()
    assert upsert.error is None and upsert.rows == expected


@pytest.mark.parametrize("action", ["DO NOTHING", "DO UPDATE SET v = 'u'"])
def test_repeatable_read_cannot_resolve_a_conflict_its_snapshot_does_not_see(
        connect, action: str) -> None:
    first, second = connect(), connect()
    _table(first, "t")
    first.execute("INSERT INTO t VALUES (2, 'seen')")
    second.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    assert second.execute("SELECT count(*) FROM t").fetchone() == (1,)
    first.execute("INSERT INTO t VALUES (1, 'later')")
    with pytest.raises(psycopg.errors.SerializationFailure,
                       match="could not serialize access due to concurrent update"):
        second.execute(f"INSERT INTO t VALUES (1, 'x') ON CONFLICT (k) {action}")
    second.execute("ROLLBACK")
    second.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")   # a row it sees is fine
    second.execute(f"INSERT INTO t VALUES (2, 'x') ON CONFLICT (k) {action}")
    second.execute("INSERT INTO t VALUES (3, 'mine')")
    second.execute(f"INSERT INTO t VALUES (3, 'x') ON CONFLICT (k) {action}")
    second.execute("COMMIT")
    assert first.execute("SELECT count(*) FROM t").fetchone() == (3,)


def test_sessions_hammering_counters_lose_no_increment(connect) -> None:
    setup = connect()
    setup.execute("DROP TABLE IF EXISTS hits; "
                  "CREATE TABLE hits (k int PRIMARY KEY, n int NOT NULL, last int)")
    sessions = [connect() for _ in range(SESSIONS)]
    errors: list[BaseException] = []
    start = threading.Barrier(SESSIONS)

    def hammer(session: psycopg.Connection, number: int) -> None:
        try:
            start.wait()
            for i in range(UPSERTS_PER_SESSION):
                statement = ("INSERT INTO hits AS h VALUES (%s, 1, %s) ON CONFLICT (k) "
                             "DO UPDATE SET n = h.n + 1, last = excluded.last")
                if i % 4 == 3:      # a transaction of two: others meet its keys in progress
                    with session.transaction():
                        session.execute(statement, (i % KEYS, number))
                        session.execute("INSERT INTO hits VALUES (%s, 1, %s) ON CONFLICT "
                                        "(k) DO NOTHING", (100 + i % KEYS, number))
                else:
                    session.execute(statement, (i % KEYS, number))
        except BaseException as error:     # reported by the test below
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(session, number), daemon=True)
               for number, session in enumerate(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
        assert not thread.is_alive(), "a session never finished"
    assert errors == []
    per_key = [sum(1 for i in range(UPSERTS_PER_SESSION) if i % KEYS == key) * SESSIONS
               for key in range(KEYS)]
    assert setup.execute("SELECT k, n FROM hits WHERE k < 100 ORDER BY k").fetchall() == \
        list(enumerate(per_key))
    assert setup.execute("SELECT k, n FROM hits WHERE k >= 100 ORDER BY k").fetchall() == [
        (100 + key, 1) for key in range(KEYS)]
