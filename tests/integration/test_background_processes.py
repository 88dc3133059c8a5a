"""pg_stat_activity's rows for the background threads (server/background.py), on real processes,
checked against what a PostgreSQL 15 primary and streaming standby show:

* a primary with archive_mode = on: autovacuum launcher, archiver, checkpointer, and walwriter
  once a commit under synchronous_commit = off starts it; no database, user, state or query;
  PostgreSQL's idle wait events; pids stable and distinct. They do not count as connections
  (max_connections, pg_stat_database.numbackends). pg_cancel_backend and pg_terminate_backend
  answer as PostgreSQL's: a WARNING for the checkpointer's pid from anyone, 42501 for a
  non-superuser signalling the launcher, and a terminated launcher comes back with a new pid;
  with autovacuum turned off its row goes.
* a streaming standby (archive_mode = on archives nothing there): checkpointer, startup and
  walreceiver (the pid of pg_stat_wal_receiver); the startup row shows a pause. After
  promotion the startup and walreceiver rows are gone, the launcher and archiver are there,
  and the checkpointer keeps its pid, as PostgreSQL's does.
* a standby without primary_conninfo and with archive_mode = always: no walreceiver, the
  startup waits to retry, the archiver runs.

Every change is polled for with a deadline.
"""

from __future__ import annotations

import os
import shutil

import psycopg
import pytest

from tests.integration.test_standby_streaming import (basebackup, execute, poll, start_standby,
                                                      wait_for_replay_catchup)
from tests.server_process import RunningServer, start_server

ACTIVITY = ("SELECT pid, backend_type, datid, datname, usesysid, usename, application_name, "
            "client_addr, client_hostname, client_port, backend_start IS NOT NULL, xact_start, "
            "query_start, state_change, wait_event_type, wait_event, state, backend_xid, "
            "backend_xmin, query FROM pg_stat_activity WHERE backend_type NOT IN "
            "('client backend', 'walsender')")
# what PostgreSQL 15 shows for a background process between backend_type and wait_event_type
NO_SESSION = (None, None, None, None, "", None, None, None, True, None, None, None)
NOT_A_BACKEND = "PID {} is not a PostgreSQL backend process"
ARCHIVING = {"archive_mode": "on", "archive_command": "true"}


def background(server: RunningServer) -> dict[str, tuple[object, ...]]:
    """backend_type -> (pid, wait_event_type, wait_event) of each background row, after
    checking that its other columns are PostgreSQL's for a background process."""
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        rows = connection.execute(ACTIVITY).fetchall()
    found = {}
    for pid, backend_type, *session, wait_type, wait_event, state, xid, xmin, query in rows:
        assert tuple(session) == NO_SESSION, backend_type
        assert (state, xid, xmin, query) == (None, None, None, ""), backend_type
        assert backend_type not in found, f"two {backend_type} rows"
        found[backend_type] = (pid, wait_type, wait_event)
    assert len({pid for pid, _, _ in found.values()}) == len(found), "pids must differ"
    return found


def roles(server: RunningServer) -> set[str]:
    return set(background(server))


def one(server: RunningServer, sql: str, user: str = "postgres") -> object:
    with psycopg.connect(server.dsn(user=user), autocommit=True) as connection:
        row = connection.execute(sql).fetchone()
    assert row is not None
    return row[0]


def signal(server: RunningServer, function: str, pid: object,
           user: str = "postgres") -> tuple[object, list[str]]:
    """``SELECT function(pid)``: its value and the WARNINGs it sent."""
    warnings: list[str] = []
    with psycopg.connect(server.dsn(user=user), autocommit=True) as connection:
        connection.add_notice_handler(
            lambda notice: warnings.append(f"{notice.severity}: {notice.message_primary}"))
        row = connection.execute(f"SELECT {function}({pid})").fetchone()
    assert row is not None
    return row[0], warnings


def launcher_pid(server: RunningServer) -> object:
    return background(server).get("autovacuum launcher", (None,))[0]


def client_backends(connection: psycopg.Connection) -> object:
    return connection.execute("SELECT count(*) FROM pg_stat_activity "
                              "WHERE backend_type = 'client backend'").fetchone()


def start_primary(template_cluster: str, tmp_path, **settings: str) -> RunningServer:
    datadir = str(tmp_path / "primary")
    shutil.copytree(template_cluster, datadir)
    return start_server(datadir, **ARCHIVING, **settings)


@pytest.fixture
def archiving_primary(template_cluster, tmp_path):
    server = start_primary(template_cluster, tmp_path)
    yield server
    server.stop()


@pytest.fixture
def two_connection_primary(template_cluster, tmp_path):
    server = start_primary(template_cluster, tmp_path, max_connections="2",
                           superuser_reserved_connections="0")
    yield server
    server.stop()


def test_a_primary_lists_its_background_threads(two_connection_primary):
    primary = two_connection_primary
    rows = background(primary)
    assert {role: rows[role][1:] for role in rows} == {
        "autovacuum launcher": ("Activity", "AutoVacuumMain"),
        "archiver": ("Activity", "ArchiverMain"),
        "checkpointer": ("Activity", "CheckpointerMain"),
    }
    assert primary.pid not in {pid for pid, _, _ in rows.values()}
    execute(primary, "SET synchronous_commit = off", "CREATE TABLE t (id int)")
    poll(lambda: "walwriter" in roles(primary), "a walwriter row", servers=(primary,))
    again = background(primary)
    assert again["walwriter"][1:] == ("Activity", "WalWriterMain")
    assert {role: again[role] for role in rows} == rows, "pids and waits stay as they were"
    # two sessions fill max_connections = 2: background threads take no connection slot
    with primary.connect(autocommit=True) as first:
        poll(lambda: client_backends(first) == (1,), "earlier sessions to end",
             servers=(primary,))
        with primary.connect(autocommit=True):
            assert first.execute("SELECT numbackends FROM pg_stat_database "
                                 "WHERE datname = 'postgres'").fetchone() == (2,)
            with pytest.raises(psycopg.OperationalError, match="too many clients already"):
                primary.connect()


def test_signals_to_background_pids_answer_as_postgresql(archiving_primary):
    primary = archiving_primary
    execute(primary, "CREATE ROLE alice LOGIN")
    checkpointer = background(primary)["checkpointer"][0]
    for user in ("postgres", "alice"):
        for function in ("pg_cancel_backend", "pg_terminate_backend"):
            assert signal(primary, function, checkpointer, user) == \
                (False, ["WARNING: " + NOT_A_BACKEND.format(checkpointer)])
    launcher = background(primary)["autovacuum launcher"][0]
    for function, message in (("pg_cancel_backend", "cancel superuser query"),
                              ("pg_terminate_backend", "terminate superuser process")):
        with pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match=f"^must be a superuser to {message}$"):
            signal(primary, function, launcher, "alice")
    assert signal(primary, "pg_cancel_backend", launcher) == (True, [])
    assert background(primary)["autovacuum launcher"][0] == launcher
    assert signal(primary, "pg_terminate_backend", launcher) == (True, [])
    restarted = poll(lambda: (pid := launcher_pid(primary)) not in (None, launcher) and pid,
                     "a new autovacuum launcher", servers=(primary,))
    assert background(primary)["checkpointer"][0] == checkpointer
    execute(primary, "ALTER SYSTEM SET autovacuum = off", "SELECT pg_reload_conf()")
    poll(lambda: "autovacuum launcher" not in roles(primary), "the launcher row to go",
         servers=(primary,))
    assert signal(primary, "pg_terminate_backend", restarted) == \
        (False, ["WARNING: " + NOT_A_BACKEND.format(restarted)])


def test_a_standby_lists_startup_and_walreceiver_until_promotion(archiving_primary, tmp_path):
    primary = archiving_primary
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir, **ARCHIVING)
    try:
        wait_for_replay_catchup(primary, standby)
        rows = background(standby)
        assert {role: rows[role][1:] for role in rows} == {
            "checkpointer": ("Activity", "CheckpointerMain"),
            "startup": ("Activity", "RecoveryWalStream"),
            "walreceiver": ("Activity", "WalReceiverMain"),
        }
        walreceiver = rows["walreceiver"][0]
        assert one(standby, "SELECT pid FROM pg_stat_wal_receiver") == walreceiver
        assert f"[{walreceiver}] LOG:  started streaming WAL from primary" in standby.log()
        execute(standby, "SELECT pg_wal_replay_pause()")
        poll(lambda: background(standby)["startup"][1:] == ("IPC", "RecoveryPause"),
             "the startup row to show the pause", servers=(standby,))
        execute(standby, "SELECT pg_wal_replay_resume()")
        assert one(standby, "SELECT pg_promote(true, 60)") is True
        poll(lambda: roles(standby) == {"autovacuum launcher", "archiver", "checkpointer"},
             "the rows of a primary", servers=(standby,))
        assert background(standby)["checkpointer"][0] == rows["checkpointer"][0]
        gone = {rows["startup"][0], rows["walreceiver"][0]}
        assert not gone & {pid for pid, _, _ in background(standby).values()}
    finally:
        standby.stop()


def test_a_standby_without_walreceiver_archiving_always(archiving_primary, tmp_path):
    primary = archiving_primary
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir, primary_conninfo="", archive_mode="always",
                            archive_command="true")
    try:
        assert one(standby, "SELECT pg_is_in_recovery()") is True
        rows = background(standby)
        assert {role: rows[role][1:] for role in rows} == {
            "archiver": ("Activity", "ArchiverMain"),
            "checkpointer": ("Activity", "CheckpointerMain"),
            "startup": ("Timeout", "RecoveryRetrieveRetryInterval"),
        }
        assert os.path.exists(os.path.join(standby_dir, "standby.signal"))
    finally:
        standby.stop()
