"""What each synchronous_commit level waits for, and which standbys are synchronous, on a real
mirrordb primary.

Standbys s1, s2, s3 here are replication clients that stream and report the write, flush and
apply positions the test chooses (as pg_receivewal or a walreceiver would), so each level can be
shown to wait for exactly its own position: remote_write for write, on for flush, remote_apply
for apply. With three of them, pg_stat_replication's sync_priority / sync_state for every form of
synchronous_standby_names are PostgreSQL 15's (tests/syncrep_table.py); when the synchronous
standby disconnects, the potential one that already confirmed releases the commit. Last, a real
mirrordb standby: a remote_apply commit is visible on the standby the moment COMMIT returns, and
waits while the standby's replay is paused (an 'on' commit does not).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import psycopg
import pytest

from mirrordb.cli.basebackup import ConnectionSettings, ReplicationClient
from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.protocol.messages import CopyBothResponse, CopyData, Query
from mirrordb.replication.messages import (StandbyStatusUpdate, XLogData,
                                           decode_primary_message, pg_timestamp_now)
from tests.integration.test_standby_streaming import (basebackup, poll,  # noqa: F401
                                                      primary, start_standby)
from tests.server_process import RunningServer
from tests.syncrep_table import STANDBY_NAMES, SYNC_STATE_TABLE

SEGMENT_SIZE = 1024 * 1024        # the test template's
STILL_WAITING_WINDOW_S = 0.5      # a commit that must keep waiting is watched this long
WATCH_POLL_S = 0.05
DEADLINE_S = 30.0


class FakeStandby:
    """A replication connection named ``name`` that streams from the primary and reports the
    positions it is told to (``reply``). ``received`` is the end of the WAL it has been sent."""

    def __init__(self, primary: RunningServer, name: str) -> None:
        self.client = ReplicationClient(ConnectionSettings("127.0.0.1", primary.port,
                                                           "postgres", None, name))
        start = current_lsn(primary)
        self.client.send(Query(f"START_REPLICATION PHYSICAL "
                               f"{format_lsn(start - start % SEGMENT_SIZE)} TIMELINE 1"))
        while not isinstance(self.client.next_message(), CopyBothResponse):
            pass
        self.received = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                message = self.client.next_message()
                if isinstance(message, CopyData):
                    decoded = decode_primary_message(message.data)
                    if isinstance(decoded, XLogData):
                        self.received = decoded.data_start_lsn + len(decoded.data)
        except (OSError, Exception):   # the connection closed: the reader ends
            return

    def reply(self, write: int, flush: int, apply: int) -> None:
        self.client.send(CopyData(StandbyStatusUpdate(write, flush, apply, pg_timestamp_now(),
                                                      False).encode()))

    def confirm(self, lsn: int) -> None:
        """Written, flushed and applied up to ``lsn``, once it has been sent that far."""
        poll(lambda: self.received >= lsn, f"WAL up to {format_lsn(lsn)} to be streamed")
        self.reply(lsn, lsn, lsn)

    def close(self) -> None:
        """Drop the connection (as a standby that stops); again is harmless."""
        try:
            self.client.sock.shutdown(socket.SHUT_RDWR)   # also wakes the reader's recv()
        except OSError:
            pass
        self._reader.join(DEADLINE_S)
        self.client.sock.close()


def current_lsn(primary: RunningServer) -> int:
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        return parse_lsn(str(connection.execute("SELECT pg_current_wal_lsn()").fetchone()[0]))


def sql(server: RunningServer, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def set_standby_names(primary: RunningServer, value: str) -> None:
    sql(primary, f"ALTER SYSTEM SET synchronous_standby_names = '{value}'")
    sql(primary, "SELECT pg_reload_conf()")


class Commit:
    """An autocommit INSERT under ``level`` in its own thread, as a client would send it."""

    def __init__(self, server: RunningServer, level: str, value: int) -> None:
        self.error: BaseException | None = None
        self.returned_at: float | None = None
        self._thread = threading.Thread(target=self._run, args=(server, level, value),
                                        daemon=True)
        self._thread.start()

    def _run(self, server: RunningServer, level: str, value: int) -> None:
        try:
            with psycopg.connect(server.dsn(), autocommit=True) as connection:
                connection.execute(f"SET synchronous_commit = {level}")
                connection.execute(f"INSERT INTO t VALUES ({value})")
                self.returned_at = time.monotonic()
        except BaseException as error:   # reported by finished()
            self.error = error

    def finished(self) -> bool:
        self._thread.join(DEADLINE_S)
        assert self.error is None, self.error
        return not self._thread.is_alive()


def waiting_commits(primary: RunningServer) -> int:
    return len(sql(primary, "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep' "
                            "AND wait_event_type = 'IPC'"))


def assert_keeps_waiting(primary: RunningServer, commit: Commit) -> None:
    deadline = time.monotonic() + STILL_WAITING_WINDOW_S
    while time.monotonic() < deadline:
        assert commit.returned_at is None and commit.error is None
        assert waiting_commits(primary) == 1
        time.sleep(WATCH_POLL_S)


@pytest.fixture(autouse=True)
def table_t(primary):
    sql(primary, "CREATE TABLE t (id int)")


@pytest.fixture
def standbys(primary):
    """s1, s2, s3 connected in that order, each having confirmed what was there."""
    connected: list[FakeStandby] = []
    try:
        for name in STANDBY_NAMES:
            standby = FakeStandby(primary, name)
            standby.confirm(current_lsn(primary))
            connected.append(standby)
        yield connected
    finally:
        for standby in connected:
            standby.close()


@pytest.mark.parametrize(("level", "awaited"), [("remote_write", 0), ("on", 1),
                                                ("remote_apply", 2)])
def test_each_level_waits_for_its_own_position(primary, standbys, level, awaited):
    s1 = standbys[0]
    set_standby_names(primary, "s1")
    before = current_lsn(primary)
    commit = Commit(primary, level, 1)
    poll(lambda: waiting_commits(primary) == 1, "the commit to wait", servers=(primary,))
    end = current_lsn(primary)
    poll(lambda: s1.received >= end, "the commit record to be streamed")
    positions = [end, end, end]
    positions[awaited] = before            # everything confirmed but the position it needs
    s1.reply(*positions)
    assert_keeps_waiting(primary, commit)
    positions[awaited] = end
    s1.reply(*positions)
    assert commit.finished()
    for other in ("off", "local"):
        assert Commit(primary, other, 2).finished()     # never wait


def test_sync_state_of_three_standbys_for_every_form(primary, standbys):
    for names, expected in SYNC_STATE_TABLE:
        set_standby_names(primary, names.replace("'", "''"))
        wanted = [(name, *state) for name, state in zip(STANDBY_NAMES, expected)]
        poll(lambda: sql(primary, "SELECT application_name, sync_priority, sync_state FROM "
                                  "pg_stat_replication ORDER BY application_name") == wanted,
             f"sync states {wanted} for {names!r}", servers=(primary,))


def test_the_potential_standby_takes_over_when_the_sync_one_leaves(primary, standbys):
    s1, s2 = standbys[0], standbys[1]
    set_standby_names(primary, "s1, s2")
    commit = Commit(primary, "on", 3)
    poll(lambda: waiting_commits(primary) == 1, "the commit to wait", servers=(primary,))
    s2.confirm(current_lsn(primary))       # potential: releases nothing yet
    assert_keeps_waiting(primary, commit)
    s1.close()
    assert commit.finished()
    poll(lambda: sql(primary, "SELECT application_name, sync_state FROM pg_stat_replication "
                              "WHERE application_name = 's2'") == [("s2", "sync")],
         "s2 to become the synchronous standby", servers=(primary,))


def test_remote_apply_is_visible_on_the_standby_when_commit_returns(primary, tmp_path):
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir, primary_conninfo=f"host=127.0.0.1 port={primary.port} "
                                                          "user=postgres application_name=s1")
    try:
        set_standby_names(primary, "s1")
        poll(lambda: sql(primary, "SELECT sync_state FROM pg_stat_replication") == [("sync",)],
             "s1 to be synchronous", servers=(primary, standby))
        with psycopg.connect(primary.dsn(), autocommit=True) as writer, \
                psycopg.connect(standby.dsn(), autocommit=True) as reader:
            writer.execute("SET synchronous_commit = remote_apply")
            for value in range(10, 20):
                writer.execute(f"INSERT INTO t VALUES ({value})")
                assert reader.execute(f"SELECT count(*) FROM t WHERE id = {value}"
                                      ).fetchone() == (1,)
            reader.execute("SELECT pg_wal_replay_pause()")
            commit = Commit(primary, "remote_apply", 20)
            poll(lambda: waiting_commits(primary) == 1, "the remote_apply commit to wait",
                 servers=(primary, standby))
            assert Commit(primary, "on", 21).finished()     # flushed there: not waiting
            assert_keeps_waiting(primary, commit)
            reader.execute("SELECT pg_wal_replay_resume()")
            assert commit.finished()
            assert reader.execute("SELECT count(*) FROM t WHERE id = 20").fetchone() == (1,)
    finally:
        standby.stop()
