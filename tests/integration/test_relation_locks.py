"""Relation locks on a running server, through psycopg as a user's sessions: DROP waits for a
reader's transaction (seen in pg_stat_activity and pg_locks) and the reader then finds the table
gone; the mode each statement takes (pg_locks); LOCK TABLE's rules and NOWAIT; lock_timeout;
ROLLBACK TO SAVEPOINT releasing; a deadlock between two sessions locking two tables in opposite
order (PostgreSQL's 40P01 with its DETAIL); a cached plan whose table was altered while it waited.

Waits are observed (pg_locks, pg_stat_activity), polled with a deadline; nothing sleeps blindly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.server_process import RunningServer

DEADLINE_S = 20.0
POLL_S = 0.01


@pytest.fixture
def server(module_server: RunningServer) -> RunningServer:
    return module_server


@pytest.fixture
def connect(server: RunningServer) -> Iterator[Callable[[], psycopg.Connection]]:
    opened: list[psycopg.Connection] = []

    def new() -> psycopg.Connection:
        connection = psycopg.connect(server.dsn(), autocommit=True)
        opened.append(connection)
        return connection
    yield new
    for connection in opened:
        connection.close()


def poll_until(condition: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(POLL_S)


class Background:
    """One statement run on its own connection in a thread; the outcome is kept."""

    def __init__(self, connection: psycopg.Connection, sql: str) -> None:
        self.rows: list[tuple[object, ...]] | None = None
        self.error: psycopg.Error | None = None
        self.pid = connection.info.backend_pid
        self._thread = threading.Thread(target=self._run, args=(connection, sql), daemon=True)
        self._thread.start()

    def _run(self, connection: psycopg.Connection, sql: str) -> None:
        try:
            cursor = connection.execute(sql)
            self.rows = cursor.fetchall() if cursor.description else []
        except psycopg.Error as error:
            self.error = error

    def join(self) -> None:
        self._thread.join(DEADLINE_S)
        assert not self._thread.is_alive(), "the statement never finished"


def waiting_for_lock(monitor: psycopg.Connection, pid: int) -> bool:
    row = monitor.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity "
                          "WHERE pid = %s", (pid,)).fetchone()
    return row == ("Lock", "relation")


def relation_locks(monitor: psycopg.Connection, table: str) -> list[tuple[object, ...]]:
    return monitor.execute(
        "SELECT pid, mode, granted FROM pg_locks WHERE locktype = 'relation' AND "
        "relation = %s::regclass ORDER BY granted DESC, mode", (table,)).fetchall()


def test_drop_waits_for_a_readers_transaction(connect) -> None:
    reader, dropper, monitor = connect(), connect(), connect()
    reader.execute("CREATE TABLE drop_me (id int); INSERT INTO drop_me VALUES (1)")
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM drop_me").fetchone() == (1,)
    drop = Background(dropper, "DROP TABLE drop_me")
    poll_until(lambda: waiting_for_lock(monitor, drop.pid), "DROP waits for the reader")
    assert relation_locks(monitor, "drop_me") == [
        (reader.info.backend_pid, "AccessShareLock", True),
        (drop.pid, "AccessExclusiveLock", False)]
    assert reader.execute("SELECT count(*) FROM drop_me").fetchone() == (1,)
    reader.execute("COMMIT")
    drop.join()
    assert drop.error is None
    with pytest.raises(psycopg.errors.UndefinedTable, match='relation "drop_me" does not exist'):
        reader.execute("SELECT * FROM drop_me")


def test_a_reader_waiting_for_truncate_sees_its_result(connect) -> None:
    writer, reader, monitor = connect(), connect(), connect()
    writer.execute("CREATE TABLE swap (id int); INSERT INTO swap VALUES (1), (2)")
    writer.execute("BEGIN")
    writer.execute("TRUNCATE swap")
    writer.execute("INSERT INTO swap VALUES (3)")
    read = Background(reader, "SELECT id FROM swap")
    poll_until(lambda: waiting_for_lock(monitor, read.pid), "the reader waits for TRUNCATE")
    writer.execute("COMMIT")
    read.join()
    assert read.error is None and read.rows == [(3,)]


@pytest.mark.parametrize("statement, mode", [
    ("SELECT * FROM modes", "AccessShareLock"),
    ("SELECT * FROM modes FOR UPDATE", "RowShareLock"),
    ("UPDATE modes SET id = id", "RowExclusiveLock"),
    ("INSERT INTO modes VALUES (2)", "RowExclusiveLock"),
    ("DELETE FROM modes WHERE id = 5", "RowExclusiveLock"),
    ("CREATE INDEX modes_id ON modes (id)", "ShareLock"),
    ("LOCK TABLE modes IN SHARE ROW EXCLUSIVE MODE", "ShareRowExclusiveLock"),
    ("LOCK modes", "AccessExclusiveLock"),
    ("TRUNCATE modes", "AccessExclusiveLock"),
    ("ALTER TABLE modes ALTER COLUMN id SET DEFAULT 7", "AccessExclusiveLock"),
])
def test_each_statement_takes_postgresqls_mode(connect, statement: str, mode: str) -> None:
    session = connect()
    session.execute("DROP TABLE IF EXISTS modes; CREATE TABLE modes (id int)")
    oid = session.execute("SELECT 'modes'::regclass::oid").fetchone()[0]
    session.execute("BEGIN")
    session.execute(statement)
    rows = session.execute("SELECT mode, granted, fastpath FROM pg_locks WHERE locktype = "
                           "'relation' AND relation = %s AND pid = pg_backend_pid()",
                           (oid,)).fetchall()
    session.execute("ROLLBACK")
    assert rows == [(mode, True, mode in ("AccessShareLock", "RowShareLock",
                                          "RowExclusiveLock"))]


def test_a_row_lock_wait_shows_as_a_wait_for_the_other_transaction(connect) -> None:
    first, second, monitor = connect(), connect(), connect()
    first.execute("CREATE TABLE rows_t (id int); INSERT INTO rows_t VALUES (1)")
    first.execute("BEGIN")
    first.execute("UPDATE rows_t SET id = 2")
    xid = int(first.execute("SELECT transactionid::text::int FROM pg_locks WHERE locktype = "
                            "'transactionid' AND pid = pg_backend_pid()").fetchone()[0])
    update = Background(second, "UPDATE rows_t SET id = 3")
    poll_until(lambda: monitor.execute("SELECT wait_event_type, wait_event FROM "
                                       "pg_stat_activity WHERE pid = %s", (update.pid,)
                                       ).fetchone() == ("Lock", "transactionid"),
               "the second update waits for the first transaction")
    assert monitor.execute("SELECT mode, granted FROM pg_locks WHERE locktype = "
                           "'transactionid' AND transactionid::text::int = %s "
                           "ORDER BY granted DESC",
                           (xid,)).fetchall() == [("ExclusiveLock", True), ("ShareLock", False)]
    first.execute("COMMIT")
    update.join()
    assert update.error is None


def test_lock_table_rules(connect) -> None:
    session, holder = connect(), connect()
    session.execute("CREATE TABLE lockable (id int PRIMARY KEY)")
    with pytest.raises(psycopg.errors.NoActiveSqlTransaction,
                       match="LOCK TABLE can only be used in transaction blocks"):
        session.execute("LOCK TABLE lockable")
    session.execute("BEGIN")
    with pytest.raises(psycopg.errors.WrongObjectType) as raised:
        session.execute("LOCK TABLE lockable_pkey")
    assert raised.value.diag.message_detail == "This operation is not supported for indexes."
    session.execute("ROLLBACK")
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE lockable IN EXCLUSIVE MODE")
    session.execute("BEGIN")
    session.execute("LOCK TABLE lockable IN ACCESS SHARE MODE NOWAIT")  # compatible
    with pytest.raises(psycopg.errors.LockNotAvailable,
                       match='could not obtain lock on relation "public.lockable"'):
        session.execute("LOCK TABLE public.lockable IN ROW SHARE MODE NOWAIT")
    session.execute("ROLLBACK")
    session.execute("SET lock_timeout = '100ms'")
    started = time.monotonic()
    with pytest.raises(psycopg.errors.LockNotAvailable,
                       match="canceling statement due to lock timeout"):
        session.execute("INSERT INTO lockable VALUES (1)")
    assert time.monotonic() - started < DEADLINE_S / 2
    session.execute("RESET lock_timeout")
    holder.execute("ROLLBACK")


def test_rollback_to_savepoint_releases_what_was_locked_since(connect) -> None:
    session, other = connect(), connect()
    session.execute("CREATE TABLE kept (id int); CREATE TABLE released (id int)")
    session.execute("BEGIN")
    session.execute("LOCK TABLE kept")
    session.execute("SAVEPOINT s")
    session.execute("LOCK TABLE released")
    session.execute("ROLLBACK TO SAVEPOINT s")
    other.execute("BEGIN")
    other.execute("LOCK TABLE released NOWAIT")
    with pytest.raises(psycopg.errors.LockNotAvailable):
        other.execute("LOCK TABLE kept NOWAIT")
    other.execute("ROLLBACK")
    session.execute("COMMIT")


def test_deadlock_between_two_sessions_locking_tables_in_opposite_order(connect) -> None:
    first, second = connect(), connect()
    first.execute("CREATE TABLE left_t (id int); CREATE TABLE right_t (id int)")
    oids = dict(first.execute("SELECT relname, oid FROM pg_class WHERE relname IN "
                              "('left_t', 'right_t')").fetchall())
    for session in (first, second):
        session.execute("SET deadlock_timeout = '100ms'")
        session.execute("BEGIN")
    first.execute("LOCK TABLE left_t")
    second.execute("LOCK TABLE right_t")
    one = Background(first, "LOCK TABLE right_t")
    poll_until(lambda: waiting_for_lock(second, one.pid) or one.error, "the first waits")
    two = Background(second, "LOCK TABLE left_t")
    poll_until(lambda: one.error or two.error, "a deadlock is detected")
    victim, survivor = (one, two) if one.error else (two, one)
    (first if victim is one else second).execute("ROLLBACK")
    survivor.join()
    victim.join()
    assert survivor.error is None
    error = victim.error
    assert isinstance(error, psycopg.errors.DeadlockDetected)
    assert error.diag.message_primary == "deadlock detected"
    assert error.diag.message_hint == "See server log for query details."
    waits_for = {one.pid: oids["right_t"], two.pid: oids["left_t"]}
    other = survivor.pid
    assert error.diag.message_detail == (
        f"Process {victim.pid} waits for AccessExclusiveLock on relation "
        f"{waits_for[victim.pid]} of database 5; blocked by process {other}.\n"
        f"Process {other} waits for AccessExclusiveLock on relation {waits_for[other]} of "
        f"database 5; blocked by process {victim.pid}.")
    (second if victim is one else first).execute("COMMIT")


def test_a_prepared_statement_whose_table_changed_while_it_waited(connect) -> None:
    reader, changer, monitor = connect(), connect(), connect()
    reader.execute("CREATE TABLE shape (id int); INSERT INTO shape VALUES (1)")
    for _ in range(3):
        reader.execute("SELECT * FROM shape WHERE id > %s", (0,), prepare=True).fetchall()
    changer.execute("BEGIN")
    changer.execute("ALTER TABLE shape ADD COLUMN extra int DEFAULT 2")
    read = Background(reader, "SELECT 1")   # the connection is free; the next call waits
    read.join()
    result: dict[str, object] = {}

    def execute_prepared() -> None:
        try:
            reader.execute("SELECT * FROM shape WHERE id > %s", (0,), prepare=True).fetchall()
        except psycopg.Error as error:
            result["error"] = error
    thread = threading.Thread(target=execute_prepared, daemon=True)
    thread.start()
    poll_until(lambda: waiting_for_lock(monitor, reader.info.backend_pid),
               "the prepared statement waits for ALTER TABLE")
    changer.execute("COMMIT")
    thread.join(DEADLINE_S)
    error = result.get("error")
    assert isinstance(error, psycopg.errors.FeatureNotSupported)
    assert error.diag.message_primary == "cached plan must not change result type"
    assert reader.execute("SELECT * FROM shape").fetchall() == [(1, 2)]
