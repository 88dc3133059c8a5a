"""Row-lock wait policies (NOWAIT, SKIP LOCKED, lock_timeout) and LISTEN/NOTIFY, side by side
with a real PostgreSQL 15.

Single-session answers go through differential.py's paired sessions. Everything that needs two
or more sessions runs the same scenario on a throw-away PostgreSQL and on a mirrordb server
process, each with its own psycopg connections, and compares what the scenario saw; waits for
another session poll a condition with a deadline. psql itself is run against both to check the
"Asynchronous notification" lines it prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from differential import MARKS, assert_same, pair_fixture
from types_pg_server import PG_BIN, running_postgres
from tests.server_process import start_server

pytestmark = MARKS

DEADLINE_S = 20.0
NOTIFY_WAIT_S = 5.0
QUIET_S = 0.3          # how long "no notification arrives" is watched for

both = pair_fixture("lock_wait_notify", ["create table t (id int primary key, v text)",
                                         "insert into t values (1, 'a'), (2, 'b')"])


@pytest.fixture(scope="module")
def servers(template_cluster: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, str]]:
    """Connection strings of a PostgreSQL 15 and a mirrordb server, by name."""
    datadir = str(tmp_path_factory.mktemp("lock_wait_notify_server") / "data")
    shutil.copytree(template_cluster, datadir)
    ours = start_server(datadir)
    try:
        with running_postgres() as reference:
            yield {"postgres": reference.conninfo, "mirrordb": ours.dsn()}
    finally:
        ours.stop()


def on_both(servers: dict[str, str], scenario: Callable[[str], Any]) -> Any:
    """Run ``scenario`` on each server; assert both saw the same; return what they saw."""
    seen = {name: scenario(dsn) for name, dsn in servers.items()}
    assert seen["mirrordb"] == seen["postgres"]
    return seen["postgres"]


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True)


def answer(connection: psycopg.Connection, sql: str) -> Any:
    """Rows, the command tag, or (SQLSTATE, message)."""
    try:
        cursor = connection.execute(sql)
    except psycopg.Error as failure:
        return failure.sqlstate, failure.diag.message_primary
    return cursor.fetchall() if cursor.description else cursor.statusmessage


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- NOWAIT, SKIP LOCKED, lock_timeout ----------------------------------------------------------


def lock_policies(dsn: str) -> list[Any]:
    with connect(dsn) as holder, connect(dsn) as other:
        for sql in ("drop table if exists jobs", "create table jobs (id int primary key, v text)",
                    "insert into jobs select g, 'j' || g from generate_series(1, 5) g"):
            holder.execute(sql)
        seen = []
        steps = [
            (holder, "begin"),
            (holder, "select id from jobs order by id for update skip locked limit 1"),
            (other, "begin"),
            (other, "select id from jobs order by id for update skip locked limit 1"),
            (other, "select id from jobs where id = 1 for update nowait"),
            (other, "rollback"),
            (other, "begin"),
            (other, "select id from jobs where id = 1 for share nowait"),
            (other, "rollback"),
            (other, "select id from jobs for update skip locked"),
            (other, "select id from jobs j for key share of j skip locked"),
            (holder, "update jobs set v = 'x' where id = 3"),
            (other, "select id from jobs where id = 3 for update nowait"),
            (other, "select id from jobs order by id desc for no key update skip locked"),
            (other, "select * from jobs, (select 1) s where id = 1 for update of jobs nowait"),
            (other, "select * from jobs, (select 1) s where id = 1 for update of s nowait"),
            (other, "begin"),
            (other, "lock table jobs in access exclusive mode nowait"),
            (other, "rollback"),
            (other, "set lock_timeout = '50ms'"),
            (other, "select id from jobs where id = 1 for update"),
            (other, "begin"),
            (other, "lock table jobs"),
            (other, "rollback"),
            (other, "reset lock_timeout"),
            (holder, "rollback"),
            (holder, "begin"),
            (holder, "select id from jobs where id = 2 for share"),
            (other, "select id from jobs where id <= 2 order by id for share nowait"),
            (other, "select id from jobs where id <= 2 order by id for update skip locked"),
            (holder, "rollback"),
        ]
        for connection, sql in steps:
            seen.append((sql, answer(connection, sql)))
        return seen


def test_nowait_skip_locked_and_lock_timeout_match_postgres(servers: dict[str, str]) -> None:
    seen = dict(on_both(servers, lock_policies))
    # the second taker of the queue's head gets the next row: only one row was locked
    assert seen["select id from jobs order by id for update skip locked limit 1"] == [(2,)]
    assert seen["select id from jobs where id = 1 for update nowait"] == (
        "55P03", 'could not obtain lock on row in relation "jobs"')
    assert seen["select id from jobs for update skip locked"] == [(2,), (3,), (4,), (5,)]
    assert seen["select id from jobs where id = 1 for update"] == (
        "55P03", "canceling statement due to lock timeout")


STRENGTHS = ("update", "no key update", "share", "key share")


def lock_strengths(dsn: str) -> list[Any]:
    """Each strength held by one session against each asked for by another (PostgreSQL's
    row-lock conflict table), with NOWAIT and with SKIP LOCKED."""
    with connect(dsn) as holder, connect(dsn) as other:
        holder.execute("drop table if exists strengths")
        holder.execute("create table strengths (id int primary key)")
        holder.execute("insert into strengths values (1), (2)")
        seen = []
        for held in STRENGTHS:
            for asked in STRENGTHS:
                holder.execute("begin")
                holder.execute(f"select id from strengths where id = 1 for {held}")
                seen.append((held, asked,
                             answer(other, f"select id from strengths where id = 1 for {asked} "
                                           "nowait"),
                             answer(other, "select id from strengths order by id "
                                           f"for {asked} skip locked")))
                holder.execute("rollback")
        return seen


def test_lock_strengths_conflict_as_on_postgres(servers: dict[str, str]) -> None:
    seen = on_both(servers, lock_strengths)
    assert ("no key update", "key share", [(1,)], [(1,), (2,)]) in seen


def job_queue(dsn: str) -> list[int]:
    """Three workers take jobs with FOR UPDATE SKIP LOCKED LIMIT 1 until none is left; each
    job must reach exactly one worker. What each worker took, sorted, all together."""
    jobs = 30
    with connect(dsn) as setup:
        setup.execute("drop table if exists queue")
        setup.execute("create table queue (id int primary key, done_by int)")
        setup.execute(f"insert into queue select g from generate_series(1, {jobs}) g")
    taken: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker(number: int) -> None:
        try:
            with connect(dsn) as connection:
                deadline = time.monotonic() + DEADLINE_S
                while time.monotonic() < deadline:
                    with connection.transaction():
                        row = connection.execute(
                            "select id from queue where done_by is null order by id "
                            "for update skip locked limit 1").fetchone()
                        if row is None:
                            return
                        connection.execute("update queue set done_by = %s where id = %s",
                                           (number, row[0]))
                    with lock:
                        taken.append(row[0])
        except BaseException as failure:   # reported by the test's thread
            failures.append(failure)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S * 2)
    assert not failures, failures
    with connect(dsn) as check:
        assert check.execute("select count(*) from queue where done_by is null").fetchone() == (0,)
    return sorted(taken)


def test_skip_locked_job_queue_gives_each_job_to_one_worker(servers: dict[str, str]) -> None:
    assert on_both(servers, job_queue) == list(range(1, 31))


# -- LISTEN / NOTIFY ----------------------------------------------------------------------------


def test_notify_statements_and_errors_match_postgres(both: Any) -> None:
    assert_same(both, [
        "select pg_listening_channels()", "listen c", "listen c", "listen d",
        "select pg_listening_channels()", "unlisten c", "unlisten nothing",
        "select pg_listening_channels()", "unlisten *", "select pg_listening_channels()",
        "begin", "listen e", "select pg_listening_channels()", "commit",
        "select pg_listening_channels()", "begin", "unlisten *", "rollback",
        "select pg_listening_channels()", "begin", "savepoint s", "listen f",
        "rollback to s", "commit", "select pg_listening_channels()",
        "notify c", "notify c, 'payload'", "select pg_notify('c', 'x')",
        "select pg_notify('c', null)", "select pg_notify(null, 'x')", "select pg_notify('', 'x')",
        "select pg_notify(repeat('a', 63), repeat('x', 7999))",
        "select pg_notify(repeat('a', 64), 'x')", "select pg_notify('c', repeat('x', 8000))",
        "select pg_notify('c', repeat('é', 4000))",
        "select pg_notification_queue_usage()", "begin read only", "notify c", "listen g",
        "commit", "discard all", "select pg_listening_channels()",
    ])


def collect(connection: psycopg.Connection, want: int | None = None,
            timeout_s: float = NOTIFY_WAIT_S) -> list[tuple[str, str, int]]:
    """Notifications that reach the idle ``connection``: until ``want`` have come (or the
    deadline passes), or for ``timeout_s`` when ``want`` is None."""
    got: list[tuple[str, str, int]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (want is None or len(got) < want):
        for notification in connection.notifies(timeout=0.05, stop_after=1):
            got.append((notification.channel, notification.payload, notification.pid))
    return got


def notify_delivery(dsn: str) -> list[Any]:
    with connect(dsn) as a, connect(dsn) as b, connect(dsn) as c, connect(dsn) as fresh:
        who = {a.info.backend_pid: "a", b.info.backend_pid: "b", c.info.backend_pid: "c"}

        def seen(what: str, got: list[tuple[str, str, int]]) -> tuple[str, list[Any]]:
            return what, [(channel, payload, who.get(pid, "?")) for channel, payload, pid in got]

        out = []
        a.execute("listen ch")
        a.execute("listen other")
        b.execute("notify ch, 'one'")
        out.append(seen("wakes an idle listener", collect(a, want=1)))
        b.execute("begin")
        b.execute("notify ch, 'rolled back'")
        b.execute("rollback")
        b.execute("begin")
        b.execute("notify ch, 'x'")
        b.execute("savepoint s")
        b.execute("notify ch, 'y'")
        b.execute("rollback to s")
        b.execute("notify other, 'z'")
        b.execute("notify ch, 'x'")
        b.execute("commit")
        c.execute("select pg_notify('ch', 'from c')")
        out.append(seen("rollback, savepoint, folding", collect(a, want=3)))
        a.execute("begin")
        b.execute("notify ch, 'while in a transaction'")
        out.append(seen("not inside a transaction", collect(a, timeout_s=QUIET_S)))
        a.execute("commit")
        out.append(seen("after its commit", collect(a, want=1)))
        a.execute("unlisten ch")
        b.execute("notify ch, 'gone'")
        b.execute("notify other, 'still'")
        out.append(seen("after unlisten", collect(a, want=1)))
        b.execute("begin")
        b.execute("notify other, 'b first, commits second'")
        c.execute("begin")
        c.execute("notify other, 'c second, commits first'")
        c.execute("commit")
        b.execute("commit")
        out.append(seen("commit order", collect(a, want=2)))
        fresh.execute("begin")
        fresh.execute("listen late")
        fresh.execute("select 1")
        b.execute("notify late, 'before the listen committed'")
        fresh.execute("commit")
        b.execute("notify late, 'after'")
        out.append(seen("listen takes effect at commit", collect(fresh, want=1)))
        a.execute("select pg_notify('other', 'own')")
        out.append(seen("own notification", collect(a, want=1)))
        a.execute("discard all")
        b.execute("notify other, 'after discard'")
        out.append(seen("discard all unlistens", collect(a, timeout_s=QUIET_S)))
        return out


def test_notifications_reach_listeners_as_on_postgres(servers: dict[str, str]) -> None:
    seen = dict(on_both(servers, notify_delivery))
    assert seen["wakes an idle listener"] == [("ch", "one", "b")]
    assert seen["commit order"] == [("other", "c second, commits first", "c"),
                                    ("other", "b first, commits second", "b")]


def psql(dsn: str, *arguments: str, stdin: str | None = None) -> str:
    result = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-d", dsn, *arguments],
                            input=stdin, capture_output=True, text=True, timeout=DEADLINE_S,
                            check=False)
    return result.stdout + result.stderr


def without_pids(text: str, *pids: int) -> str:
    for pid in pids:
        text = text.replace(f"PID {pid}.", "PID n.")
    return text


def psql_notifications(dsn: str) -> list[str]:
    """psql's own notification, then one from another session received while psql sat idle
    reading its next command."""
    own = psql(dsn, "-c", "listen c", "-c", "notify c, 'x'", "-c", "select 1 as one")
    with connect(dsn) as other:
        pid_before = {row[0] for row in other.execute("select pid from pg_stat_activity")}
        process = subprocess.Popen([os.path.join(PG_BIN, "psql"), "-X", "-d", dsn],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            assert process.stdin is not None
            process.stdin.write("listen c;\n")
            process.stdin.flush()
            wait_until(lambda: other.execute(
                "select count(*) from pg_stat_activity where query like 'listen c%' "
                "and state = 'idle'").fetchone() == (1,), "psql to listen")
            psql_pid = next(row[0] for row in other.execute("select pid from pg_stat_activity")
                            if row[0] not in pid_before)
            other.execute("notify c, 'from another session'")
            output, _ = process.communicate("select 2 as two;\n", timeout=DEADLINE_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        other_pid = other.info.backend_pid
    own_pid = own.split("PID ")[-1].split(".")[0] if "PID " in own else "0"
    return [without_pids(own, int(own_pid)), without_pids(output, other_pid, psql_pid)]


def test_psql_prints_notifications_as_with_postgres(servers: dict[str, str]) -> None:
    own, idle = on_both(servers, psql_notifications)
    assert ('Asynchronous notification "c" with payload "x" received from server process '
            'with PID n.') in own
    assert ('Asynchronous notification "c" with payload "from another session" received '
            'from server process with PID n.') in idle
