"""Real clients against a real mirrordb server: psql and psycopg 3 (simple and extended protocol,
binary parameters and results, COPY, server-side cursors, transactions, errors, cancel)."""

from __future__ import annotations

import decimal
import subprocess
import threading
import time

import psycopg
import pytest

from tests.conftest import pg_tool
from tests.server_process import start_server


@pytest.fixture
def server(cluster):
    running = start_server(cluster)
    yield running
    running.stop()


def psql(server, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([pg_tool("psql"), "-X", "-h", "127.0.0.1", "-p", str(server.port),
                           "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", *args],
                          input=input_text, capture_output=True, text=True, timeout=60)


def test_psql_runs_statements(server):
    result = psql(server, "-c", "create table t (id int primary key, name text)",
                  "-c", "insert into t values (1, 'one'), (2, 'two')",
                  "-c", "select name from t order by id")
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE" in result.stdout and "INSERT 0 2" in result.stdout
    assert " one\n two\n(2 rows)" in result.stdout


def test_psql_reports_errors_with_sqlstate(server):
    result = psql(server, "-c", "select * from missing")
    assert result.returncode != 0
    assert 'relation "missing" does not exist' in result.stderr
    assert "LINE 1: select * from missing" in result.stderr


def test_psql_over_unix_socket(server):
    result = subprocess.run([pg_tool("psql"), "-X", "-h", server.datadir, "-p", str(server.port),
                             "-U", "postgres", "-d", "postgres", "-Atc", "select 40 + 2"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


def test_psycopg_simple_and_extended(server):
    with server.connect(autocommit=True) as conn:
        conn.execute("create table items (id serial primary key, name text, price numeric(8,2),"
                     " qty int)")
        with conn.cursor() as cur:
            cur.execute("insert into items (name, price, qty) values (%s, %s, %s) returning id",
                        ("apple", decimal.Decimal("1.25"), 3))
            assert cur.fetchone() == (1,)
            cur.executemany("insert into items (name, price, qty) values (%s, %s, %s)",
                            [("pear", decimal.Decimal("2.50"), 1), ("fig", None, 7)])
            cur.execute("select name, price, qty from items where qty > %s order by id", (2,))
            assert cur.fetchall() == [("apple", decimal.Decimal("1.25"), 3), ("fig", None, 7)]
        with conn.cursor(binary=True) as cur:
            cur.execute("select id, name, price from items where name = %s", ("pear",))
            assert cur.fetchone() == (2, "pear", decimal.Decimal("2.50"))
        conn.execute("select 1; select 2")  # several statements in one simple Query


def test_psycopg_transactions(server):
    with server.connect() as conn:
        conn.execute("create table t (v int)")
        conn.commit()
        conn.execute("insert into t values (1)")
        conn.rollback()
        with conn.transaction():
            conn.execute("insert into t values (2)")
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("select 1/0")
        conn.rollback()
        assert conn.execute("select v from t").fetchall() == [(2,)]


def test_psycopg_copy(server):
    with server.connect(autocommit=True) as conn:
        conn.execute("create table c (id int, name text)")
        with conn.cursor() as cur:
            with cur.copy("copy c (id, name) from stdin") as copy:
                for row in [(1, "a\tb"), (2, None), (3, "x")]:
                    copy.write_row(row)
            assert cur.rowcount == 3
            with cur.copy("copy c to stdout with (format csv)") as copy:
                lines = b"".join(bytes(chunk) for chunk in copy).decode()
        assert lines == '1,a\tb\n2,\n3,x\n'


def test_psycopg_server_side_cursor(server):
    with server.connect() as conn:
        with conn.cursor(name="big") as cur:
            cur.itersize = 7
            cur.execute("select g from generate_series(1, 50) g")
            assert [r[0] for r in cur] == list(range(1, 51))


def test_cancel_stops_a_running_statement(server):
    with server.connect(autocommit=True) as conn:
        def cancel_soon() -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with server.connect(autocommit=True) as other:
                    active = other.execute("select count(*) from pg_stat_activity where "
                                           "query like 'select pg_sleep%'").fetchone()[0]
                if active:
                    conn.cancel()
                    return
                time.sleep(0.05)
        thread = threading.Thread(target=cancel_soon)
        thread.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("select pg_sleep(30)")
        thread.join()
        assert time.monotonic() - started < 20
        assert conn.execute("select 1").fetchone() == (1,)


def wait_for_waiting_backend(server, pid: int) -> None:
    deadline = time.monotonic() + 30
    with server.connect(autocommit=True) as watcher:
        while time.monotonic() < deadline:
            row = watcher.execute("select wait_event from pg_stat_activity where pid = %s",
                                  (pid,)).fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the second transaction never waited")


def test_select_for_update_waits_and_rc_sees_new_value(server):
    with server.connect(autocommit=True) as setup:
        setup.execute("create table acct (id int primary key, balance int)")
        setup.execute("insert into acct values (1, 100)")
    first, second = server.connect(), server.connect()
    try:
        first.execute("select balance from acct where id = 1 for update")
        second_pid = second.execute("select pg_backend_pid()").fetchone()[0]
        second.commit()
        result: list[object] = []

        def locker() -> None:
            result.append(second.execute(
                "select balance from acct where id = 1 for update").fetchone())
            second.execute("update acct set balance = balance + 1 where id = 1")
            second.commit()
        thread = threading.Thread(target=locker)
        thread.start()
        wait_for_waiting_backend(server, second_pid)
        first.execute("update acct set balance = 50 where id = 1")
        first.commit()
        thread.join(30)
        assert result == [(50,)]
        assert first.execute("select balance from acct").fetchone() == (51,)
    finally:
        first.close()
        second.close()


def test_repeatable_read_serialization_failure(server):
    with server.connect(autocommit=True) as setup:
        setup.execute("create table rr (id int primary key, v int)")
        setup.execute("insert into rr values (1, 0)")
    with server.connect(autocommit=True) as a, server.connect(autocommit=True) as b:
        a.execute("begin isolation level repeatable read")
        assert a.execute("select v from rr").fetchone() == (0,)
        b.execute("update rr set v = 1 where id = 1")
        with pytest.raises(psycopg.errors.SerializationFailure):
            a.execute("update rr set v = 2 where id = 1")
        a.execute("rollback")
        assert a.execute("select v from rr").fetchone() == (1,)
