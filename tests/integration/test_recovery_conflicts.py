"""Acceptance: recovery conflicts on a hot standby (issue 5, MISSION.md exercise 2, first half).

One primary and one streaming standby (``mirrordb basebackup -R``) serve the whole module; each
test makes its own table and sets ``max_standby_streaming_delay`` on the standby with ALTER SYSTEM
and ``pg_reload_conf()``, as a user would. A standby query keeps a REPEATABLE READ snapshot that
still sees rows the primary then deletes and VACUUMs:

* delay 0 (exercise 2, step by step with psql): the query, sleeping in pg_sleep(), is cancelled
  at once with 40001 "canceling statement due to conflict with recovery" and PostgreSQL's DETAIL;
  pg_stat_database_conflicts.confl_snapshot and pg_stat_database.conflicts count it;
* a session idle in its transaction block is terminated (FATAL, with the reconnect hint);
* a delay of a few seconds: a query that ends within it survives while replay waits (the standby
  lags meanwhile); one that does not is cancelled, not before the delay;
* -1: replay waits as long as the query runs.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mirrordb.common.lsn import parse_lsn
from tests.conftest import pg_tool
from tests.integration.test_standby_streaming import (basebackup, current_wal_lsn, execute, poll,
                                                      start_standby, wait_for_replay_catchup)
from tests.server_process import RunningServer, start_server

SNAPSHOT_DETAIL = "User query might have needed to see row versions that must be removed."
CANCEL_MESSAGE = "canceling statement due to conflict with recovery"
TERMINATE_MESSAGE = "terminating connection due to conflict with recovery"
RECONNECT_HINT = ("In a moment you should be able to reconnect to the database and repeat your "
                  "command.")
ROWS = 1000
DELETED = 500
SESSION_DEADLINE_S = 60.0


@contextlib.contextmanager
def running_pair(base: Path, template: str, primary_settings: dict[str, str] | None = None,
                 **standby_settings: str) -> Iterator[tuple[RunningServer, RunningServer]]:
    """A primary copied from the template and a standby made from it by basebackup -R; both
    stopped at the end."""
    shutil.copytree(template, str(base / "primary"))
    primary = start_server(str(base / "primary"), **(primary_settings or {}))
    standby = None
    try:
        basebackup(primary, str(base / "standby"))
        standby = start_standby(str(base / "standby"), **standby_settings)
        yield primary, standby
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory, template_cluster) -> Iterator[tuple[RunningServer, RunningServer]]:
    with running_pair(tmp_path_factory.mktemp("conflicts"), template_cluster) as servers:
        yield servers


def psql_command(server: RunningServer) -> list[str]:
    return [pg_tool("psql"), "-X", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
            "-d", "postgres"]


def psql(server: RunningServer, *commands: str) -> str:
    """Run each command with ``psql -c`` (one per call, as typed); returns stdout."""
    output = []
    for command in commands:
        result = subprocess.run(psql_command(server) + ["-v", "ON_ERROR_STOP=1", "-c", command],
                                capture_output=True, text=True, timeout=SESSION_DEADLINE_S,
                                check=False)
        assert result.returncode == 0, (command, result.stderr)
        output.append(result.stdout)
    return "".join(output)


class PsqlSession:
    """An interactive psql on the standby, fed a script on stdin (as a user types it)."""

    def __init__(self, server: RunningServer, script: str) -> None:
        self.process = subprocess.Popen(psql_command(server) + ["-f", "-"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        assert self.process.stdin is not None
        self.process.stdin.write("\\set VERBOSITY verbose\n" + script)
        self.process.stdin.close()

    def finish(self) -> tuple[int, str, str]:
        try:
            self.process.wait(SESSION_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        assert self.process.stdout is not None and self.process.stderr is not None
        return self.process.returncode, self.process.stdout.read(), self.process.stderr.read()

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def one(server: RunningServer, sql: str) -> object:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute(sql).fetchone()
    assert row is not None
    return row[0]


def set_delay(standby: RunningServer, value: str, shown: str) -> None:
    execute(standby, f"ALTER SYSTEM SET max_standby_streaming_delay = '{value}'",
            "SELECT pg_reload_conf()")
    poll(lambda: one(standby, "SHOW max_standby_streaming_delay") == shown,
         f"max_standby_streaming_delay to become {shown}", servers=(standby,))


def make_table(primary: RunningServer, standby: RunningServer, name: str) -> None:
    execute(primary, f"CREATE TABLE {name} (id int, note text)",
            f"INSERT INTO {name} SELECT g, 'row ' || g FROM generate_series(1, {ROWS}) g")
    wait_for_replay_catchup(primary, standby)


def sleeping_sessions(standby: RunningServer) -> int:
    return int(one(standby, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"))


def reader(standby: RunningServer, table: str, sleep_s: float) -> PsqlSession:
    """A standby query that read ``table`` in a REPEATABLE READ snapshot and now sleeps."""
    session = PsqlSession(standby, f"BEGIN ISOLATION LEVEL REPEATABLE READ;\n"
                                   f"SELECT count(*) FROM {table};\n"
                                   f"SELECT pg_sleep({sleep_s});\n"
                                   "COMMIT;\n")
    poll(lambda: sleeping_sessions(standby) >= 1 or not session.running(),
         "the standby query to sleep", servers=(standby,))
    return session


def delete_and_vacuum(primary: RunningServer, table: str) -> int:
    """DELETE half the rows and VACUUM; the WAL position after it."""
    execute(primary, f"DELETE FROM {table} WHERE id <= {DELETED}", f"VACUUM {table}")
    return current_wal_lsn(primary)


def replay_lsn(standby: RunningServer) -> int:
    return parse_lsn(str(one(standby, "SELECT pg_last_wal_replay_lsn()")))


def receive_lsn(standby: RunningServer) -> int:
    return parse_lsn(str(one(standby, "SELECT pg_last_wal_receive_lsn()")))


def conflict_counters(standby: RunningServer) -> tuple[int, int]:
    """(confl_snapshot, pg_stat_database.conflicts) of database postgres on the standby."""
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        snapshot = connection.execute("SELECT confl_snapshot FROM pg_stat_database_conflicts "
                                      "WHERE datname = 'postgres'").fetchone()
        total = connection.execute("SELECT conflicts FROM pg_stat_database "
                                   "WHERE datname = 'postgres'").fetchone()
    assert snapshot is not None and total is not None
    return int(snapshot[0]), int(total[0])


def test_exercise_2_delay_zero_cancels_the_sleeping_query(pair):
    primary, standby = pair
    before = conflict_counters(standby)
    psql(standby, "ALTER SYSTEM SET max_standby_streaming_delay = 0", "SELECT pg_reload_conf()")
    poll(lambda: one(standby, "SHOW max_standby_streaming_delay") == "0",
         "the reload", servers=(standby,))
    psql(primary, "CREATE TABLE exercise2 (id int, note text)",
         f"INSERT INTO exercise2 SELECT g, 'row ' || g FROM generate_series(1, {ROWS}) g")
    wait_for_replay_catchup(primary, standby)
    session = reader(standby, "exercise2", 60)
    try:
        started = time.monotonic()
        psql(primary, f"DELETE FROM exercise2 WHERE id <= {DELETED}", "VACUUM exercise2")
        returncode, output, errors = session.finish()
    finally:
        session.kill()
    assert time.monotonic() - started < 30, "cancelled at once, not after the sleep"
    assert f"ERROR:  40001: {CANCEL_MESSAGE}" in errors, errors
    assert f"DETAIL:  {SNAPSHOT_DETAIL}" in errors
    assert str(ROWS) in output                    # the snapshot saw every row
    assert "ROLLBACK" in output                   # COMMIT of the failed block rolls back
    assert returncode == 0
    after = conflict_counters(standby)
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1
    wait_for_replay_catchup(primary, standby)
    assert one(standby, "SELECT count(*) FROM exercise2") == ROWS - DELETED


def test_idle_in_transaction_is_terminated(pair):
    primary, standby = pair
    set_delay(standby, "0", "0")
    make_table(primary, standby, "idle_reader")
    before = conflict_counters(standby)
    with psycopg.connect(standby.dsn()) as connection:
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        assert connection.execute("SELECT count(*) FROM idle_reader").fetchone() == (ROWS,)
        delete_and_vacuum(primary, "idle_reader")
        poll(lambda: conflict_counters(standby)[0] > before[0],
             "the idle session to act on the conflict", servers=(standby,))
        with pytest.raises(psycopg.OperationalError) as caught:
            connection.execute("SELECT count(*) FROM idle_reader")
    diag = caught.value.diag
    assert (diag.severity, diag.sqlstate, diag.message_primary) == \
        ("FATAL", "40001", TERMINATE_MESSAGE)
    assert (diag.message_detail, diag.message_hint) == (SNAPSHOT_DETAIL, RECONNECT_HINT)


def outlast_replay(primary: RunningServer, standby: RunningServer, table: str,
                   sleep_s: float) -> None:
    """A standby query that ends by itself while replay waits for it: it succeeds, replay stays
    before the row removal while it runs, then catches up."""
    make_table(primary, standby, table)
    session = reader(standby, table, sleep_s)
    try:
        target = delete_and_vacuum(primary, table)
        poll(lambda: receive_lsn(standby) >= target, "the standby to receive the VACUUM",
             servers=(standby,))
        held_back = replay_lsn(standby) < target
        still_running = session.running()
        returncode, output, errors = session.finish()
    finally:
        session.kill()
    assert returncode == 0 and "ERROR" not in errors, errors
    assert "COMMIT" in output and str(ROWS) in output
    if still_running:       # the usual case: the VACUUM arrived while the query slept
        assert held_back, "replay went past the row removal while the query still ran"
    wait_for_replay_catchup(primary, standby)
    assert one(standby, f"SELECT count(*) FROM {table}") == ROWS - DELETED


def test_a_query_within_the_delay_survives_while_replay_waits(pair):
    primary, standby = pair
    set_delay(standby, "4s", "4s")
    outlast_replay(primary, standby, "patient", 2)


def test_minus_one_waits_for_the_query(pair):
    primary, standby = pair
    set_delay(standby, "-1", "-1")
    try:
        outlast_replay(primary, standby, "forever", 3)
    finally:
        set_delay(standby, "30s", "30s")


def test_a_query_longer_than_the_delay_is_cancelled_after_it(pair):
    primary, standby = pair
    set_delay(standby, "2s", "2s")
    make_table(primary, standby, "impatient")
    session = reader(standby, "impatient", 60)
    try:
        target = delete_and_vacuum(primary, "impatient")
        vacuumed = time.monotonic()
        poll(lambda: not session.running(), "the standby query to be cancelled",
             servers=(standby,))
        waited_s = time.monotonic() - vacuumed
        _, _, errors = session.finish()
    finally:
        session.kill()
    assert f"ERROR:  40001: {CANCEL_MESSAGE}" in errors, errors
    assert waited_s >= 1.0, f"cancelled {waited_s:.2f} s after the VACUUM, before the delay"
    poll(lambda: replay_lsn(standby) >= target, "replay to go on", servers=(standby,))


def test_conflict_view_has_postgresql_columns_and_one_row_per_database(pair):
    _, standby = pair
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        rows = connection.execute("SELECT datname, confl_tablespace, confl_lock, "
                                  "confl_bufferpin, confl_deadlock "
                                  "FROM pg_stat_database_conflicts ORDER BY datid").fetchall()
        columns = [column.name for column in connection.execute(
            "SELECT * FROM pg_stat_database_conflicts").description]
    assert columns == ["datid", "datname", "confl_tablespace", "confl_lock", "confl_snapshot",
                       "confl_bufferpin", "confl_deadlock"]
    assert "postgres" in {row[0] for row in rows}
    assert all(row[1:] == (0, 0, 0, 0) for row in rows)


def test_promotion_ends_a_wait_that_would_last_forever(template_cluster, tmp_path):
    """With -1 replay would wait for the query as long as it runs; pg_promote() cancels it, so
    promotion finishes replaying and the server becomes a primary."""
    with running_pair(tmp_path, template_cluster, max_standby_streaming_delay="-1") as (
            primary, standby):
        make_table(primary, standby, "promoted")
        session = reader(standby, "promoted", 60)
        try:
            target = delete_and_vacuum(primary, "promoted")
            poll(lambda: receive_lsn(standby) >= target, "the standby to receive the VACUUM",
                 servers=(standby,))
            assert replay_lsn(standby) < target and session.running()
            assert one(standby, "SELECT pg_promote()") is True
            _, _, errors = session.finish()
        finally:
            session.kill()
        assert f"ERROR:  40001: {CANCEL_MESSAGE}" in errors, errors
        assert one(standby, "SELECT pg_is_in_recovery()") is False
        assert one(standby, "SELECT count(*) FROM promoted") == ROWS - DELETED
