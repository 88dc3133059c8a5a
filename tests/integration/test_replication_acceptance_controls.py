"""Replay controls and walreceiver refusals on real processes.

* pg_wal_replay_pause()/pg_wal_replay_resume()/pg_get_wal_replay_pause_state()/
  pg_is_wal_replay_paused() on a streaming standby: while paused, rows committed on the primary
  are received (pg_last_wal_receive_lsn moves) but not replayed (not visible, replay LSN still);
  after resume they appear. On a primary the four fail with 55000 "recovery is not in progress".
* A primary restarted with wal_level=minimal (which PostgreSQL 15 allows only with
  max_wal_senders=0) refuses the standby's walreceiver, which reports it and never streams; the
  walreceiver's own ``SHOW wal_level`` check is unit-tested against a fake primary
  (tests/unit/test_replication_gaps.py).
* A primary that stops answering (SIGSTOP) makes the walreceiver give up after
  wal_receiver_timeout; after SIGCONT it reconnects and streams again.
"""

from __future__ import annotations

import os
import signal

import psycopg
import pytest

from mirrordb.common.lsn import parse_lsn
from tests.integration.test_standby_streaming import (basebackup, current_wal_lsn,  # noqa: F401
                                                      execute, poll, primary, start_standby,
                                                      wait_for_replay_catchup)
from tests.server_process import start_server

RECOVERY_CONTROL_HINT = "Recovery control functions can only be executed during recovery."
RECOVERY_CONTROL_FUNCTIONS = ("pg_wal_replay_pause()", "pg_wal_replay_resume()",
                              "pg_get_wal_replay_pause_state()", "pg_is_wal_replay_paused()")


def one(server, sql: str) -> object:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute(sql).fetchone()
    assert row is not None
    return row[0]


def pause_state(standby) -> tuple[str, bool]:
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        row = connection.execute(
            "SELECT pg_get_wal_replay_pause_state(), pg_is_wal_replay_paused()").fetchone()
    assert row is not None
    return str(row[0]), bool(row[1])


@pytest.mark.parametrize("call", RECOVERY_CONTROL_FUNCTIONS)
def test_recovery_control_refused_on_a_primary(primary, call):
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        with pytest.raises(psycopg.Error) as caught:
            connection.execute(f"SELECT {call}")
    assert caught.value.sqlstate == "55000"
    assert caught.value.diag.message_primary == "recovery is not in progress"
    assert caught.value.diag.message_hint == RECOVERY_CONTROL_HINT


def test_pause_keeps_receiving_without_replaying_then_resume(primary, tmp_path):
    execute(primary, "CREATE TABLE p (id int)", "INSERT INTO p VALUES (1)",
            "CREATE ROLE plain LOGIN")
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir)
    try:
        execute(primary, "INSERT INTO p VALUES (0)")
        wait_for_replay_catchup(primary, standby)
        assert pause_state(standby) == ("not paused", False)

        # only superusers may pause, as PostgreSQL revokes the function from PUBLIC
        with psycopg.connect(standby.dsn(user="plain"), autocommit=True) as connection:
            with pytest.raises(psycopg.Error) as caught:
                connection.execute("SELECT pg_wal_replay_pause()")
            assert caught.value.sqlstate == "42501"
            assert connection.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() == \
                ("not paused",)

        assert one(standby, "SELECT pg_wal_replay_pause()") in ("", None)
        state = poll(lambda: pause_state(standby)[0] == "paused" and pause_state(standby),
                     "the standby to confirm the pause", servers=(standby,))
        assert state == ("paused", True)
        assert "recovery has paused" in standby.log()
        replay_before = parse_lsn(str(one(standby, "SELECT pg_last_wal_replay_lsn()")))

        execute(primary, "INSERT INTO p SELECT g FROM generate_series(2, 500) g", "CHECKPOINT")
        target = current_wal_lsn(primary)
        poll(lambda: parse_lsn(str(one(standby, "SELECT pg_last_wal_receive_lsn()"))) >= target,
             "the walreceiver to receive while replay is paused", servers=(primary, standby))
        assert one(standby, "SELECT count(*) FROM p") == 2
        assert parse_lsn(str(one(standby, "SELECT pg_last_wal_replay_lsn()"))) == replay_before
        assert pause_state(standby) == ("paused", True)
        # pausing again is harmless
        one(standby, "SELECT pg_wal_replay_pause()")
        assert pause_state(standby) == ("paused", True)

        one(standby, "SELECT pg_wal_replay_resume()")
        assert pause_state(standby) == ("not paused", False)
        poll(lambda: one(standby, "SELECT count(*) FROM p") == 501,
             "replay to go on after resume", servers=(primary, standby))
        wait_for_replay_catchup(primary, standby)

        # a pause requested and a clean stop while paused: the restarted standby replays on
        one(standby, "SELECT pg_wal_replay_pause()")
        poll(lambda: pause_state(standby)[0] == "paused", "the second pause", servers=(standby,))
        execute(primary, "INSERT INTO p VALUES (501)")
        target = current_wal_lsn(primary)
        poll(lambda: parse_lsn(str(one(standby, "SELECT pg_last_wal_receive_lsn()"))) >= target,
             "the walreceiver to receive while paused", servers=(primary, standby))
        assert standby.stop() == 0
        standby = start_standby(standby_dir, standby.port)
        assert pause_state(standby) == ("not paused", False)
        poll(lambda: one(standby, "SELECT count(*) FROM p") == 502,
             "the restarted standby to replay what it received while paused",
             servers=(primary, standby))
    finally:
        standby.stop()


def test_primary_with_wal_level_minimal_is_refused(primary, tmp_path):
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    assert primary.stop() == 0
    minimal = start_server(primary.datadir, primary.port, wal_level="minimal",
                           max_wal_senders="0")
    standby = None
    try:
        standby = start_standby(standby_dir)
        refusal = ("number of requested standby connections exceeds max_wal_senders "
                   "(currently 0)")
        poll(lambda: refusal in standby.log(),
             "the walreceiver to be refused by a wal_level=minimal primary", servers=(standby,))
        log_text = standby.log()
        assert f"FATAL:  could not connect to the primary server: {refusal}" in log_text
        assert "started streaming WAL from primary" not in log_text
        assert one(standby, "SELECT pg_is_in_recovery()") is True
    finally:
        if standby is not None:
            standby.stop()
        minimal.stop()


def test_walreceiver_timeout_then_reconnect(primary, tmp_path):
    execute(primary, "CREATE TABLE w (id int)")
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir, wal_receiver_timeout="1s")
    stopped = False
    try:
        execute(primary, "INSERT INTO w VALUES (1)")
        wait_for_replay_catchup(primary, standby)
        assert standby.log().count("started streaming WAL from primary") == 1
        os.kill(primary.pid, signal.SIGSTOP)      # the primary process this test started
        stopped = True
        poll(lambda: "terminating walreceiver due to timeout" in standby.log(),
             "the walreceiver to give up on a silent primary", servers=(standby,))
        os.kill(primary.pid, signal.SIGCONT)
        stopped = False
        execute(primary, "INSERT INTO w VALUES (2)")
        poll(lambda: standby.log().count("started streaming WAL from primary") >= 2,
             "the walreceiver to reconnect", servers=(primary, standby))
        wait_for_replay_catchup(primary, standby)
        assert one(standby, "SELECT count(*) FROM w") == 2
    finally:
        if stopped:
            os.kill(primary.pid, signal.SIGCONT)
        standby.stop()
