"""Per-role and per-database setting defaults on a real server, with psql and psycopg as clients.

* ALTER ROLE r SET synchronous_commit = off: r's next session shows it (SHOW, pg_settings
  source "user"), a session already open does not change, the superuser's does not either;
  IN DATABASE wins over the role's own ("database user"), ALTER DATABASE and ALTER ROLE ALL
  are below it ("database", "global"); the start-up packet's options win over all ("client");
  RESET and DROP ROLE take them away.
* Permission errors reach the client with PostgreSQL's SQLSTATE and message.
* psql's \\drds prints exactly what PostgreSQL 15 printed for the same statements.
* With synchronous replication to a standby that never comes (synchronous_standby_names names
  one that is not connected), a role whose synchronous_commit is ``local`` commits at once
  while a role left at ``on`` waits in SyncRep until its wait is cancelled.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator

import psycopg
import pytest

from tests.integration.test_standby_streaming import poll
from tests.server_process import RunningServer

PG_BIN = "/usr/lib/postgresql/15/bin"
PSQL = os.path.join(PG_BIN, "psql")
PSQL_TIMEOUT_S = 60
THREAD_JOIN_S = 60.0

# psql's \drds, \drds alice and \drds bob after SETUP, as PostgreSQL 15 printed them
SETUP = ["CREATE ROLE alice LOGIN", "CREATE ROLE bob LOGIN",
         "ALTER ROLE alice SET synchronous_commit = off",
         "ALTER ROLE alice SET search_path = app, public",
         "ALTER ROLE alice IN DATABASE postgres SET work_mem = '8MB'",
         "ALTER DATABASE postgres SET lock_timeout = '2s'",
         "ALTER ROLE ALL SET statement_timeout = '1min'"]
POSTGRES_DRDS = """\
              List of settings
 Role  | Database |        Settings         
-------+----------+-------------------------
 alice | postgres | work_mem=8MB
 alice |          | synchronous_commit=off +
       |          | search_path=app, public
       | postgres | lock_timeout=2s
       |          | statement_timeout=1min
(4 rows)

              List of settings
 Role  | Database |        Settings         
-------+----------+-------------------------
 alice | postgres | work_mem=8MB
 alice |          | synchronous_commit=off +
       |          | search_path=app, public
(2 rows)

"""
POSTGRES_DRDS_STDERR = 'Did not find any settings for role "bob".\n'
UNDO_SETUP = ["DROP ROLE alice", "DROP ROLE bob", "ALTER DATABASE postgres RESET ALL",
              "ALTER ROLE ALL RESET ALL"]


@pytest.fixture
def server(module_server: RunningServer) -> Iterator[RunningServer]:
    yield module_server


def execute(server: RunningServer, *statements: str, user: str = "postgres") -> None:
    with psycopg.connect(server.dsn(user=user), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def settings_of(server: RunningServer, user: str, *names: str, options: str = ""
                ) -> dict[str, tuple[str, str]]:
    """name -> (setting, source) as a new session of ``user`` sees them."""
    extra = {"options": options} if options else {}
    with psycopg.connect(server.dsn(user=user), autocommit=True, **extra) as connection:
        rows = connection.execute("SELECT name, setting, source FROM pg_settings "
                                  "WHERE name = ANY(%s)", [list(names)]).fetchall()
    return {name: (setting, source) for name, setting, source in rows}


def test_a_new_session_starts_with_its_role_and_database_defaults(server: RunningServer
                                                                   ) -> None:
    execute(server, "CREATE ROLE r LOGIN")
    try:
        with psycopg.connect(server.dsn(user="r"), autocommit=True) as earlier:
            execute(server, "ALTER ROLE r SET synchronous_commit = off",
                    "ALTER ROLE r SET work_mem = '3MB'")
            assert earlier.execute("SHOW synchronous_commit").fetchone() == ("on",)
        names = ("synchronous_commit", "work_mem", "lock_timeout", "statement_timeout")
        assert settings_of(server, "r", *names) == {
            "synchronous_commit": ("off", "user"), "work_mem": ("3072", "user"),
            "lock_timeout": ("0", "default"), "statement_timeout": ("0", "default")}
        assert settings_of(server, "postgres", "synchronous_commit") == {
            "synchronous_commit": ("on", "default")}
        execute(server, "ALTER ROLE r IN DATABASE postgres SET synchronous_commit = local",
                "ALTER DATABASE postgres SET lock_timeout = 1000",
                "ALTER ROLE ALL SET statement_timeout = '5s'",
                "ALTER ROLE ALL SET lock_timeout = 2000")
        assert settings_of(server, "r", *names) == {
            "synchronous_commit": ("local", "database user"), "work_mem": ("3072", "user"),
            "lock_timeout": ("1000", "database"), "statement_timeout": ("5000", "global")}
        assert settings_of(server, "r", *names, options="-c synchronous_commit=remote_write "
                                                        "-c work_mem=5MB") == {
            "synchronous_commit": ("remote_write", "client"), "work_mem": ("5120", "client"),
            "lock_timeout": ("1000", "database"), "statement_timeout": ("5000", "global")}
        execute(server, "ALTER ROLE r IN DATABASE postgres RESET ALL",
                "ALTER ROLE r RESET synchronous_commit")
        assert settings_of(server, "r", "synchronous_commit", "work_mem") == {
            "synchronous_commit": ("on", "default"), "work_mem": ("3072", "user")}
        execute(server, "DROP ROLE r", "CREATE ROLE r LOGIN")
        assert settings_of(server, "r", "work_mem") == {"work_mem": ("4096", "default")}
    finally:
        execute(server, "DROP ROLE IF EXISTS r", "ALTER DATABASE postgres RESET ALL",
                "ALTER ROLE ALL RESET ALL")


@pytest.mark.parametrize(("user", "statement", "sqlstate", "message"), [
    ("plain", "ALTER ROLE other SET work_mem = '1MB'", "42501", "permission denied"),
    ("plain", "ALTER ROLE plain SET log_min_duration_statement = 10", "42501",
     'permission denied to set parameter "log_min_duration_statement"'),
    ("postgres", "ALTER ROLE plain SET shared_buffers = '1MB'", "55P02",
     'parameter "shared_buffers" cannot be changed without restarting the server'),
])
def test_permission_errors_reach_the_client(server: RunningServer, user: str, statement: str,
                                            sqlstate: str, message: str) -> None:
    execute(server, "CREATE ROLE plain LOGIN", "CREATE ROLE other")
    try:
        with psycopg.connect(server.dsn(user=user), autocommit=True) as connection:
            with pytest.raises(psycopg.Error) as caught:
                connection.execute(statement)
        assert (caught.value.sqlstate, caught.value.diag.message_primary) == (sqlstate, message)
    finally:
        execute(server, "DROP ROLE plain", "DROP ROLE other")


@pytest.mark.skipif(not os.path.exists(PSQL), reason=f"PostgreSQL 15's psql is not in {PG_BIN}")
def test_psql_drds_prints_what_postgres_prints(server: RunningServer) -> None:
    execute(server, *SETUP)
    try:
        result = subprocess.run(
            [PSQL, "-X", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
             "-d", "postgres", "-c", "\\drds", "-c", "\\drds alice", "-c", "\\drds bob"],
            capture_output=True, text=True, timeout=PSQL_TIMEOUT_S, check=False)
    finally:
        execute(server, *UNDO_SETUP)
    assert result.returncode == 0, result.stderr
    assert result.stdout == POSTGRES_DRDS
    assert result.stderr == POSTGRES_DRDS_STDERR


def sync_rep_wait_of(server: RunningServer, user: str) -> list[tuple[int, str | None]]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return connection.execute(  # type: ignore[return-value]
            "SELECT pid, wait_event FROM pg_stat_activity WHERE usename = %s", [user]
        ).fetchall()


class CommitInThread:
    """An autocommit INSERT by ``user`` in a thread; ``notices`` once it has returned."""

    def __init__(self, server: RunningServer, user: str) -> None:
        self.notices: list[str] | None = None
        self.thread = threading.Thread(target=self._run, args=(server, user))
        self.thread.start()

    def _run(self, server: RunningServer, user: str) -> None:
        notices: list[str] = []
        with psycopg.connect(server.dsn(user=user), autocommit=True) as connection:
            connection.add_notice_handler(lambda d: notices.append(str(d.message_primary)))
            connection.execute("INSERT INTO sync_t VALUES (%s)", [user])
        self.notices = notices

    def returned(self) -> bool:
        return self.notices is not None


def test_a_role_at_local_does_not_wait_for_an_unreachable_synchronous_standby(
        server: RunningServer) -> None:
    execute(server, "CREATE ROLE quick LOGIN", "CREATE ROLE careful LOGIN",
            "ALTER ROLE quick SET synchronous_commit = local", "CREATE TABLE sync_t (who text)",
            "GRANT INSERT ON sync_t TO quick, careful",
            "ALTER SYSTEM SET synchronous_standby_names = 'never_connects'",
            "SELECT pg_reload_conf()")
    commits: list[CommitInThread] = []
    try:
        poll(lambda: settings_of(server, "careful", "synchronous_standby_names") ==
             {"synchronous_standby_names": ("never_connects", "configuration file")},
             "the reload to reach new sessions", servers=(server,))
        commits.append(CommitInThread(server, "quick"))
        poll(commits[0].returned, "quick's commit to return", servers=(server,))
        assert commits[0].notices == []
        commits.append(CommitInThread(server, "careful"))
        pid = poll(lambda: next((p for p, event in sync_rep_wait_of(server, "careful")
                                 if event == "SyncRep"), None),
                   "careful's commit to wait in SyncRep", servers=(server,))
        assert not commits[1].returned()
        execute(server, f"SELECT pg_cancel_backend({pid})")
        poll(commits[1].returned, "careful's cancelled commit to return", servers=(server,))
        assert commits[1].notices == [
            "canceling wait for synchronous replication due to user request"]
    finally:   # emptying synchronous_standby_names releases any commit still waiting
        execute(server, "ALTER SYSTEM RESET synchronous_standby_names", "SELECT pg_reload_conf()")
        for commit in commits:
            commit.thread.join(THREAD_JOIN_S)
        execute(server, "DROP TABLE sync_t", "DROP ROLE quick", "DROP ROLE careful")
