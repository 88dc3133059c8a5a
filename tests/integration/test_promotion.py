"""Promotion on real processes (recovery/promote.py): a streaming standby made with
``mirrordb basebackup -R`` is promoted with each trigger and becomes a primary.

* ``SELECT pg_promote(wait => true, wait_seconds => 60)``: a session connected before the
  promotion keeps working, sees ``in_hot_standby`` go off and writes in its next transaction;
  the rows replayed before promotion are there; standby.signal is gone, pg_control says "in
  production", the log has PostgreSQL's lines; a restart keeps it a primary.
* ``mirrordb promote -D DIR`` (pg_ctl's protocol): xids, OIDs and sequences continue from the
  replayed counters; a SIGKILL right after promotion recovers as a primary.
* ``promote_trigger_file``, while replay is paused: the pause ends and the server promotes.
* pg_promote on a primary fails with PostgreSQL's error; ``mirrordb promote`` on a primary says
  it is not in standby mode.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psycopg
import pytest

from mirrordb.storage.control import DBState, read_control_file
from tests.integration.test_standby_streaming import (basebackup, execute, poll,  # noqa: F401
                                                      primary, start_standby,
                                                      wait_for_replay_catchup)
from tests.server_process import RunningServer, start_server

TOOL_TIMEOUT_S = 120
RECOVERY_CONTROL_HINT = "Recovery control functions can only be executed during recovery."
PROMOTION_LOG_LINES = ("received promote request", "redo done at", "archive recovery complete",
                       "database system is ready to accept connections")


def one(server: RunningServer, sql: str) -> object:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute(sql).fetchone()
    assert row is not None
    return row[0]


def in_recovery(server: RunningServer) -> bool:
    return bool(one(server, "SELECT pg_is_in_recovery()"))


def mirrordb(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mirrordb.cli.main", *arguments],
                          capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)


def make_standby(primary: RunningServer, tmp_path, name: str = "standby",
                 **settings: str) -> RunningServer:
    """A streaming standby of ``primary`` that has replayed everything committed so far."""
    datadir = str(tmp_path / name)
    basebackup(primary, datadir)
    standby = start_standby(datadir, **settings)
    wait_for_replay_catchup(primary, standby)
    return standby


def assert_is_primary(server: RunningServer) -> None:
    assert not in_recovery(server)
    assert not os.path.exists(os.path.join(server.datadir, "standby.signal"))
    assert read_control_file(server.datadir).state == DBState.DB_IN_PRODUCTION


def test_pg_promote_on_a_primary_is_refused(primary):
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        for call in ("pg_promote()", "pg_promote(wait => false)", "pg_promote(true, 5)"):
            with pytest.raises(psycopg.Error) as caught:
                connection.execute(f"SELECT {call}")
            assert caught.value.sqlstate == "55000"
            assert caught.value.diag.message_primary == "recovery is not in progress"
            assert caught.value.diag.message_hint == RECOVERY_CONTROL_HINT
        with pytest.raises(psycopg.Error) as caught:
            connection.execute("SELECT pg_promote(wait_time => 5)")
        assert caught.value.sqlstate == "42883"
        assert caught.value.diag.message_primary == \
            "function pg_promote(wait_time => integer) does not exist"
        with pytest.raises(psycopg.Error) as caught:
            connection.execute("SELECT pg_sleep(seconds => 0)")
        assert caught.value.sqlstate == "42883"
    result = mirrordb("promote", "-D", primary.datadir)
    assert result.returncode == 1
    assert "cannot promote server; server is not in standby mode" in result.stderr
    assert not os.path.exists(os.path.join(primary.datadir, "promote"))


def test_pg_promote_keeps_sessions_and_a_restart_keeps_it_a_primary(primary, tmp_path):
    execute(primary, "CREATE TABLE t (id int PRIMARY KEY, note text)",
            "INSERT INTO t SELECT g, 'before backup' FROM generate_series(1, 50) g")
    standby = make_standby(primary, tmp_path)
    try:
        execute(primary, "INSERT INTO t SELECT g, 'streamed' FROM generate_series(51, 80) g")
        wait_for_replay_catchup(primary, standby)
        primary.stop()
        bystander = psycopg.connect(standby.dsn(), autocommit=True)
        assert bystander.info.parameter_status("in_hot_standby") == "on"
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            with pytest.raises(psycopg.Error) as caught:
                connection.execute("SELECT pg_promote(wait_seconds => 0)")
            assert caught.value.sqlstate == "22023"
            assert caught.value.diag.message_primary == \
                '"wait_seconds" must not be negative or zero'
            row = connection.execute(
                "SELECT pg_promote(wait => true, wait_seconds => 60)").fetchone()
        assert row == (True,)
        assert_is_primary(standby)
        assert bystander.execute("SELECT count(*) FROM t").fetchone() == (80,)
        assert bystander.info.parameter_status("in_hot_standby") == "off"
        bystander.execute("INSERT INTO t VALUES (81, 'after promotion')")
        bystander.close()
        log = standby.log()
        positions = [log.find(line) for line in PROMOTION_LOG_LINES]
        assert -1 not in positions and positions == sorted(positions), log[-3000:]
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            with pytest.raises(psycopg.Error) as caught:
                connection.execute("SELECT pg_wal_replay_pause()")
            assert caught.value.sqlstate == "55000"
        standby.stop()
        standby = start_server(standby.datadir, standby.port)
        assert_is_primary(standby)
        assert one(standby, "SELECT count(*) FROM t") == 81
        assert "entering standby mode" not in standby.log().split("received promote request")[-1]
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            with pytest.raises(psycopg.Error) as caught:
                connection.execute("SELECT pg_promote()")
            assert caught.value.sqlstate == "55000"
    finally:
        standby.stop()


def test_cli_promote_continues_counters_and_survives_a_kill(primary, tmp_path):
    execute(primary, "CREATE TABLE t (id int PRIMARY KEY)", "CREATE SEQUENCE s",
            "SELECT nextval('s')", "SELECT nextval('s')")
    standby = make_standby(primary, tmp_path)
    try:
        execute(primary, "INSERT INTO t SELECT g FROM generate_series(1, 20) g",
                "CREATE TABLE before_promotion (id int)")
        last_xid = int(str(one(primary, "SELECT txid_current()")))
        sequence_value = int(str(one(primary, "SELECT nextval('s')")))
        wait_for_replay_catchup(primary, standby)
        primary.kill()
        result = mirrordb("promote", "-D", standby.datadir)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("waiting for server to promote...")
        assert result.stdout.rstrip().endswith("server promoted")
        assert_is_primary(standby)
        assert int(str(one(standby, "SELECT txid_current()"))) > last_xid
        assert int(str(one(standby, "SELECT nextval('s')"))) > sequence_value
        execute(standby, "CREATE TABLE after_promotion (id int PRIMARY KEY)",
                "INSERT INTO after_promotion VALUES (1)", "INSERT INTO t VALUES (21)")
        oids = one(standby, "SELECT count(DISTINCT oid) = count(*) FROM pg_class")
        assert oids is True
        standby.kill()   # SIGKILL right after promotion: no checkpoint need have finished
        standby = start_server(standby.datadir, standby.port)
        assert_is_primary(standby)
        assert one(standby, "SELECT count(*) FROM t") == 21
        assert one(standby, "SELECT count(*) FROM after_promotion") == 1
        execute(standby, "INSERT INTO t VALUES (22)")
    finally:
        standby.stop()


def test_trigger_file_promotes_a_paused_standby(primary, tmp_path):
    trigger = str(tmp_path / "promote.trigger")
    execute(primary, "CREATE TABLE t (id int)")
    standby = make_standby(primary, tmp_path, promote_trigger_file=trigger)
    try:
        execute(standby, "SELECT pg_wal_replay_pause()")
        poll(lambda: one(standby, "SELECT pg_is_wal_replay_paused()"), "replay paused",
             servers=(standby,))
        execute(primary, "INSERT INTO t SELECT g FROM generate_series(1, 10) g")
        poll(lambda: one(primary, "SELECT flush_lsn >= pg_current_wal_lsn() "
                                  "FROM pg_stat_replication"),
             "the standby to receive the rows", servers=(primary, standby))
        assert one(standby, "SELECT count(*) FROM t") == 0
        with open(trigger, "w", encoding="utf-8"):
            pass
        poll(lambda: not in_recovery(standby), "promotion by the trigger file",
             servers=(standby,))
        assert not os.path.exists(trigger)
        assert f"promote trigger file found: {trigger}" in standby.log()
        assert one(standby, "SELECT count(*) FROM t") == 10    # received while paused
        execute(standby, "INSERT INTO t VALUES (11)")
        assert_is_primary(standby)
    finally:
        standby.stop()


def test_promote_without_waiting(primary, tmp_path):
    standby = make_standby(primary, tmp_path)
    try:
        result = mirrordb("promote", "-D", standby.datadir, "-W")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "server promoting"
        poll(lambda: not in_recovery(standby), "promotion", servers=(standby,))
        assert_is_primary(standby)
        standby.process.send_signal(signal.SIGUSR1)   # a stray signal without the file
        execute(standby, "SELECT 1")
    finally:
        standby.stop()
