"""Foreign keys under concurrency, two sessions on a real mirrordb server: a referencing row is
never committed against a referenced row another transaction deletes, whichever goes first.

- The delete goes first: the insert's check meets the row being deleted, waits for the deleter
  (seen in pg_stat_activity) and, once it commits, finds the row gone (23503).
- The insert goes first: its check locks the referenced row (SHARE, mirrordb's stand-in for FOR
  KEY SHARE), so the delete waits; once the insert commits, the delete's end-of-statement check,
  with a fresh snapshot, sees the new referencing row (23503, "is still referenced").
- Two inserts referencing one row do not wait for each other (shared locks).

Waits are observed in pg_stat_activity and polled with a deadline; nothing sleeps blindly.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from tests.integration.test_relation_locks import (Background, connect, poll_until,  # noqa: F401
                                                   server)

WAITING = ("Lock", "transactionid")


def _waiting(monitor: psycopg.Connection, pid: int) -> bool:
    return monitor.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity "
                           "WHERE pid = %s", (pid,)).fetchone() == WAITING


def _tables(connection: psycopg.Connection, suffix: str) -> None:
    connection.execute(f"CREATE TABLE parent_{suffix} (id int PRIMARY KEY, note text)")
    connection.execute(f"CREATE TABLE child_{suffix} (id int, "
                       f"pid int REFERENCES parent_{suffix})")
    connection.execute(f"INSERT INTO parent_{suffix} VALUES (1, 'one'), (2, 'two')")


def test_insert_waits_for_the_delete_and_fails(
        connect: Callable[[], psycopg.Connection]) -> None:  # noqa: F811
    deleter, inserter, monitor = connect(), connect(), connect()
    _tables(deleter, "a")
    deleter.execute("BEGIN")
    deleter.execute("DELETE FROM parent_a WHERE id = 1")
    insert = Background(inserter, "INSERT INTO child_a VALUES (10, 1)")
    poll_until(lambda: _waiting(monitor, insert.pid), "the insert waits for the deleter")
    deleter.execute("COMMIT")
    insert.join()
    assert insert.error is not None and insert.error.sqlstate == "23503"
    assert insert.error.diag.message_detail == 'Key (pid)=(1) is not present in table "parent_a".'
    assert monitor.execute("SELECT count(*) FROM child_a").fetchone() == (0,)


def test_delete_waits_for_the_insert_and_fails(
        connect: Callable[[], psycopg.Connection]) -> None:  # noqa: F811
    inserter, deleter, monitor = connect(), connect(), connect()
    _tables(inserter, "b")
    inserter.execute("BEGIN")
    inserter.execute("INSERT INTO child_b VALUES (10, 1)")
    delete = Background(deleter, "DELETE FROM parent_b WHERE id = 1")
    poll_until(lambda: _waiting(monitor, delete.pid), "the delete waits for the inserter")
    inserter.execute("COMMIT")
    delete.join()
    assert delete.error is not None and delete.error.sqlstate == "23503"
    assert delete.error.diag.message_primary == (
        'update or delete on table "parent_b" violates foreign key constraint '
        '"child_b_pid_fkey" on table "child_b"')
    assert monitor.execute("SELECT count(*) FROM parent_b WHERE id = 1").fetchone() == (1,)


def test_inserts_referencing_one_row_share_it(
        connect: Callable[[], psycopg.Connection]) -> None:  # noqa: F811
    first, second, monitor = connect(), connect(), connect()
    _tables(first, "c")
    first.execute("BEGIN")
    first.execute("INSERT INTO child_c VALUES (10, 2)")
    second.execute("BEGIN")
    second.execute("INSERT INTO child_c VALUES (20, 2)")   # would hang on an exclusive lock
    first.execute("COMMIT")
    second.execute("COMMIT")
    assert monitor.execute("SELECT count(*) FROM child_c").fetchone() == (2,)
    monitor.execute("DELETE FROM child_c")
    monitor.execute("DELETE FROM parent_c WHERE id = 2")
    assert monitor.execute("SELECT count(*) FROM parent_c").fetchone() == (1,)
