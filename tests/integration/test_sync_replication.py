"""Synchronous replication on real processes, driven with psql as a user would.

* Exercise 1 of MISSION.md step by step: a primary and a standby whose primary_conninfo says
  application_name=16/replica; ALTER SYSTEM SET synchronous_standby_names = '"16/replica"' and
  pg_reload_conf(); replication verified (sync_state 'sync', a row on the standby); the standby
  stopped; a COMMIT on the primary does not return (watched for several seconds, seen as
  IPC/SyncRep in pg_stat_activity, its row invisible to other sessions); the standby started
  again; the COMMIT returns and the row is on the standby.
* Cancelling a waiting commit (pg_cancel_backend) gives PostgreSQL's WARNING and DETAIL and the
  commit stands; terminating it gives the other WARNING and the connection ends without COMMIT;
  emptying synchronous_standby_names and reloading releases every waiter; synchronous_commit
  local and off (SET, SET LOCAL) never wait.

Waits poll a condition with a deadline; "does not return" is watched over a fixed window.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time

import psycopg
import pytest

from tests.integration.test_standby_streaming import (basebackup, poll,  # noqa: F401
                                                      primary, start_standby)
from tests.server_process import RunningServer

PG_BIN = "/usr/lib/postgresql/15/bin"
PSQL = os.path.join(PG_BIN, "psql")
PSQL_TIMEOUT_S = 60
STILL_WAITING_WINDOW_S = 3.0     # "the COMMIT does not return", watched this long
WATCH_POLL_S = 0.1
COMMITTED_LOCALLY = ("DETAIL:  The transaction has already committed locally, but might not "
                     "have been replicated to the standby.")

pytestmark = pytest.mark.skipif(not os.path.exists(PSQL),
                                reason=f"PostgreSQL 15's psql is not installed in {PG_BIN}")


def psql_args(server: RunningServer, *commands: str) -> list[str]:
    args = [PSQL, "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
            "-d", "postgres"]
    for command in commands:
        args += ["-c", command]
    return args


def psql(server: RunningServer, *commands: str) -> str:
    """Run the commands (one ``-c`` each, as typed); the output, which must be a success."""
    result = subprocess.run(psql_args(server, *commands), capture_output=True, text=True,
                            timeout=PSQL_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class BackgroundPsql:
    """A psql whose commands may not return: started, watched, then collected."""

    def __init__(self, server: RunningServer, *commands: str) -> None:
        self.process = subprocess.Popen(psql_args(server, *commands), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)

    def running(self) -> bool:
        return self.process.poll() is None

    def finish(self) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) once it ends (killed at the deadline)."""
        try:
            out, err = self.process.communicate(timeout=PSQL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            raise AssertionError(f"psql did not finish: {out} {err}") from None
        return self.process.returncode, out, err


def sync_rep_waiters(primary: RunningServer, query: str) -> list[str]:
    """The pids of sessions running ``query`` while waiting for synchronous replication."""
    rows = psql(primary, "SELECT pid, wait_event_type, wait_event FROM pg_stat_activity "
                         f"WHERE query = '{query}'")
    return [line.split("|")[0] for line in rows.splitlines() if line.endswith("|IPC|SyncRep")]


def wait_until_waiting(primary: RunningServer, query: str, count: int = 1) -> list[str]:
    return poll(lambda: len(sync_rep_waiters(primary, query)) == count and
                sync_rep_waiters(primary, query),
                f"{count} session(s) waiting in SyncRep", servers=(primary,))


def assert_keeps_waiting(primary: RunningServer, background: BackgroundPsql, query: str,
                         table: str, value: int) -> None:
    """For the whole window: psql has not returned, its session waits in SyncRep, and no
    other session can see its row."""
    deadline = time.monotonic() + STILL_WAITING_WINDOW_S
    while time.monotonic() < deadline:
        assert background.running(), background.finish()
        assert sync_rep_waiters(primary, query)
        assert psql(primary, f"SELECT count(*) FROM {table} WHERE id = {value}") == "0"
        time.sleep(WATCH_POLL_S)


def set_standby_names(primary: RunningServer, value: str) -> None:
    psql(primary, f"ALTER SYSTEM SET synchronous_standby_names = '{value}'",
         "SELECT pg_reload_conf()")


def add_application_name(datadir: str, name: str) -> None:
    """Append ``application_name`` to the primary_conninfo basebackup -R wrote, as a user edits
    postgresql.auto.conf."""
    path = os.path.join(datadir, "postgresql.auto.conf")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    text, count = re.subn(r"^(primary_conninfo = '.*)'$", rf"\1 application_name={name}'", text,
                          flags=re.MULTILINE)
    assert count == 1, text
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def test_exercise_1_commit_waits_for_the_stopped_standby(primary, tmp_path):
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    add_application_name(standby_dir, "16/replica")
    standby = start_standby(standby_dir)
    try:
        psql(primary, "ALTER SYSTEM SET synchronous_commit = on",
             "ALTER SYSTEM SET synchronous_standby_names = '\"16/replica\"'",
             "SELECT pg_reload_conf()")
        poll(lambda: psql(primary, "SELECT application_name, sync_priority, sync_state FROM "
                                   "pg_stat_replication") == "16/replica|1|sync",
             "the standby to be the synchronous one", servers=(primary, standby))
        psql(primary, "CREATE TABLE exercise (id int PRIMARY KEY)",
             "INSERT INTO exercise VALUES (1)")
        poll(lambda: psql(standby, "SELECT id FROM exercise") == "1",
             "the first row on the standby", servers=(primary, standby))

        standby.stop()
        insert = "INSERT INTO exercise VALUES (2)"
        background = BackgroundPsql(primary, insert)
        wait_until_waiting(primary, insert)
        assert_keeps_waiting(primary, background, insert, "exercise", 2)

        standby = start_standby(standby_dir, port=standby.port)
        code, out, err = background.finish()
        assert (code, out.strip(), err) == (0, "INSERT 0 1", "")
        poll(lambda: psql(standby, "SELECT id FROM exercise ORDER BY id") == "1\n2",
             "the second row on the standby", servers=(primary, standby))
    finally:
        standby.stop()


def test_cancel_terminate_and_an_emptied_setting(primary):
    psql(primary, "CREATE TABLE waits (id int PRIMARY KEY)")
    set_standby_names(primary, "nobody")     # never connects: commits wait indefinitely

    cancelled = BackgroundPsql(primary, "INSERT INTO waits VALUES (1)")
    [pid] = wait_until_waiting(primary, "INSERT INTO waits VALUES (1)")
    assert psql(primary, f"SELECT pg_cancel_backend({pid})") == "t"
    code, out, err = cancelled.finish()
    assert code == 0 and out.strip() == "INSERT 0 1"
    assert err.splitlines() == ["WARNING:  canceling wait for synchronous replication due to "
                                "user request", COMMITTED_LOCALLY]

    terminated = BackgroundPsql(primary, "BEGIN", "INSERT INTO waits VALUES (2)", "COMMIT")
    [pid] = wait_until_waiting(primary, "COMMIT")
    assert psql(primary, f"SELECT pg_terminate_backend({pid})") == "t"
    code, out, err = terminated.finish()
    assert code != 0 and "COMMIT" not in out          # never acknowledged
    assert err.splitlines()[:2] == [
        "WARNING:  canceling the wait for synchronous replication and terminating connection "
        "due to administrator command", COMMITTED_LOCALLY]

    with psycopg.connect(primary.dsn(), autocommit=True) as client:   # a CancelRequest
        notices: list[str] = []
        client.add_notice_handler(lambda notice: notices.append(notice.message_primary))
        canceller = threading.Timer(0, lambda: wait_until_waiting(primary, "INSERT INTO waits "
                                                                           "VALUES (3)")
                                    and client.cancel())
        canceller.start()
        client.execute("INSERT INTO waits VALUES (3)")
        canceller.join()
        assert notices == ["canceling wait for synchronous replication due to user request"]

    waiters = [BackgroundPsql(primary, f"INSERT INTO waits VALUES ({key})") for key in (4, 5)]
    for key in (4, 5):
        wait_until_waiting(primary, f"INSERT INTO waits VALUES ({key})")
    psql(primary, "ALTER SYSTEM RESET synchronous_standby_names", "SELECT pg_reload_conf()")
    assert [waiter.finish() for waiter in waiters] == [(0, "INSERT 0 1\n", "")] * 2
    assert psql(primary, "SELECT id FROM waits ORDER BY id") == "1\n2\n3\n4\n5"


def test_fast_shutdown_ends_a_waiting_commit_with_the_terminate_warning(primary):
    psql(primary, "CREATE TABLE waits (id int PRIMARY KEY)")
    set_standby_names(primary, "nobody")
    waiting = BackgroundPsql(primary, "INSERT INTO waits VALUES (1)")
    wait_until_waiting(primary, "INSERT INTO waits VALUES (1)")
    assert primary.stop() == 0                        # SIGINT: fast shutdown
    code, out, err = waiting.finish()
    assert code != 0 and "INSERT" not in out
    assert err.splitlines()[:2] == [
        "WARNING:  canceling the wait for synchronous replication and terminating connection "
        "due to administrator command", COMMITTED_LOCALLY]


def test_local_and_off_never_wait(primary):
    psql(primary, "CREATE TABLE quick (id int PRIMARY KEY)")
    set_standby_names(primary, "nobody")
    psql(primary, "SET synchronous_commit = local", "INSERT INTO quick VALUES (1)")
    psql(primary, "SET synchronous_commit = off", "INSERT INTO quick VALUES (2)")
    psql(primary, "BEGIN", "SET LOCAL synchronous_commit = local",
         "INSERT INTO quick VALUES (3)", "COMMIT")
    psql(primary, "ALTER SYSTEM SET synchronous_commit = local", "SELECT pg_reload_conf()")
    psql(primary, "INSERT INTO quick VALUES (4)")
    assert psql(primary, "SELECT id FROM quick ORDER BY id") == "1\n2\n3\n4"
    psql(primary, "ALTER SYSTEM RESET synchronous_commit",
         "ALTER SYSTEM RESET synchronous_standby_names", "SELECT pg_reload_conf()")


def test_a_bad_standby_names_value_is_refused(primary):
    result = subprocess.run(psql_args(primary, "ALTER SYSTEM SET synchronous_standby_names = "
                                               "'16/replica'"),
                            capture_output=True, text=True, timeout=PSQL_TIMEOUT_S, check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'ERROR:  invalid value for parameter "synchronous_standby_names": "16/replica"',
        'DETAIL:  syntax error at or near "/"']
    refused = subprocess.run(psql_args(primary, "SET synchronous_standby_names = 's1'"),
                             capture_output=True, text=True, timeout=PSQL_TIMEOUT_S, check=False)
    assert refused.stderr.strip() == \
        'ERROR:  parameter "synchronous_standby_names" cannot be changed now'
