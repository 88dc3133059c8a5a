"""A streaming standby on real processes: ``mirrordb basebackup -R`` from a running primary, then
``mirrordb server`` on the copy replays and streams. Positions are polled with deadlines: the
primary's pg_stat_replication.replay_lsn, and the standby's log line for a restartpoint (made by
CHECKPOINT on the standby)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest

from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.storage.control import DBState, read_control_file
from mirrordb.wal.segment import WAL_PAGE_SIZE, is_segment_name, parse_segment_name, segno_of
from tests.server_process import RunningServer, free_port, start_server

DEADLINE_S = 60.0
POLL_S = 0.05
TOOL_TIMEOUT_S = 120
SEGMENT_SIZE = 1024 * 1024      # the test template's (conftest SEGMENT_SIZE_MB)


def poll(condition, what: str, deadline_s: float = DEADLINE_S, servers=()) -> object:
    """Call ``condition`` until it returns a true value; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + deadline_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (psycopg.Error, OSError) as error:
            last_error = error
        time.sleep(POLL_S)
    logs = "\n".join(f"--- {server.datadir}\n{server.log()[-4000:]}" for server in servers)
    raise AssertionError(f"timed out waiting for {what} ({last_error})\n{logs}")


def basebackup(primary: RunningServer, target: str, *extra: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mirrordb.cli.main", "basebackup", "-h", "127.0.0.1", "-p",
         str(primary.port), "-U", "postgres", "-D", target, "-R", "-X", "fetch", *extra],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr


def execute(server: RunningServer, *statements: str) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def assert_read_only_refusal(server: RunningServer, sql: str, command: str) -> None:
    """``sql`` fails on ``server`` (a standby) with PostgreSQL's 25006 for ``command``."""
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        with pytest.raises(psycopg.Error) as caught:
            connection.execute(sql)
    assert caught.value.sqlstate == "25006"
    assert caught.value.diag.message_primary == \
        f"cannot execute {command} in a read-only transaction"


def current_wal_lsn(primary: RunningServer) -> int:
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        return parse_lsn(str(connection.execute("SELECT pg_current_wal_lsn()").fetchone()[0]))


def replayed_by_standby(primary: RunningServer) -> int:
    """The first walsender's replay position as the primary sees it (0 if none)."""
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        rows = connection.execute("SELECT replay_lsn FROM pg_stat_replication").fetchall()
    return max((parse_lsn(str(row[0])) for row in rows if row[0] is not None), default=0)


def wait_for_replay_catchup(primary: RunningServer, standby: RunningServer) -> None:
    target = current_wal_lsn(primary)
    poll(lambda: replayed_by_standby(primary) >= target,
         f"standby replay to reach {format_lsn(target)}", servers=(primary, standby))


def start_standby(datadir: str, port: int | None = None, **settings: str) -> RunningServer:
    settings.setdefault("wal_retrieve_retry_interval", "100ms")
    settings.setdefault("wal_receiver_status_interval", "1s")
    return start_server(datadir, port, **settings)


@contextlib.contextmanager
def streaming_pair(template_cluster: str, directory: str, *setup: str,
                   **primary_settings: str) -> Iterator[tuple[RunningServer, RunningServer]]:
    """A primary on a copy of the template (``setup`` statements run on it) and a streaming
    standby made from it by ``mirrordb basebackup``, caught up; both stopped afterwards."""
    primary_dir, standby_dir = os.path.join(directory, "primary"), os.path.join(directory,
                                                                                "standby")
    shutil.copytree(template_cluster, primary_dir)
    primary = start_server(primary_dir, **primary_settings)
    standby = None
    try:
        execute(primary, *setup)
        basebackup(primary, standby_dir)
        standby = start_standby(standby_dir)
        wait_for_replay_catchup(primary, standby)
        yield primary, standby
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()


def wait_for_restartpoint_at(standby: RunningServer, redo_lsn: int) -> None:
    """CHECKPOINT on the standby (a restartpoint at the last checkpoint record it replayed)
    until its log shows one at ``redo_lsn``: its own schedule (checkpoint_timeout) is minutes
    away, as a PostgreSQL standby's."""
    line = f"recovery restart point at {format_lsn(redo_lsn)}"

    def made() -> bool:
        execute(standby, "CHECKPOINT")
        return line in standby.log()

    poll(made, line, servers=(standby,))


def oldest_segment(datadir: str) -> int:
    """The lowest segment number in pg_wal (restartpoints remove the ones before their REDO)."""
    waldir = os.path.join(datadir, "pg_wal")
    return min(parse_segment_name(name, SEGMENT_SIZE)[1] for name in os.listdir(waldir)
               if is_segment_name(name))


def compare(left: str, right: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mirrordb.cli.main", "compare", left, right],
                          capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)


def stop_pair_and_compare(primary: RunningServer, standby: RunningServer) -> None:
    """Bring both to the same position (a checkpoint on the primary, the standby's restartpoint
    at it, again after the primary's shutdown checkpoint), stop both, and require ``mirrordb
    compare`` to find their data files equal page for page."""
    execute(primary, "CHECKPOINT")
    wait_for_restartpoint_at(standby, read_control_file(primary.datadir).checkpoint.redo)
    assert primary.stop() == 0
    wait_for_restartpoint_at(standby, read_control_file(primary.datadir).checkpoint.redo)
    assert standby.stop() == 0
    result = compare(primary.datadir, standby.datadir)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr


@pytest.fixture
def primary(template_cluster, tmp_path):
    datadir = str(tmp_path / "primary")
    shutil.copytree(template_cluster, datadir)
    server = start_server(datadir)
    yield server
    server.stop()


def test_rows_stream_restart_resumes_and_pages_match(primary, tmp_path):
    execute(primary, "CREATE TABLE t (id int PRIMARY KEY, note text)",
            "INSERT INTO t SELECT g, 'before backup' FROM generate_series(1, 200) g")
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir)
    try:
        assert not os.path.exists(os.path.join(standby_dir, "backup_label"))
        assert os.path.exists(os.path.join(standby_dir, "backup_label.old"))
        execute(primary, "INSERT INTO t SELECT g, 'streamed' FROM generate_series(201, 400) g",
                "UPDATE t SET note = 'updated' WHERE id % 7 = 0", "DELETE FROM t WHERE id < 20",
                "CHECKPOINT")
        wait_for_replay_catchup(primary, standby)
        assert "started streaming WAL from primary" in standby.log()
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            assert connection.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            replayed, received, replay_time = connection.execute(
                "SELECT pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn(), "
                "pg_last_xact_replay_timestamp()").fetchone()
            assert parse_lsn(str(replayed)) >= replayed_by_standby(primary)
            assert received is not None and replay_time is not None
            receiver = connection.execute(
                "SELECT status, sender_port FROM pg_stat_wal_receiver").fetchall()
            assert receiver == [("streaming", primary.port)]
            assert connection.execute(
                "SELECT count(*), count(*) FILTER (WHERE note = 'updated') FROM t"
            ).fetchone() == (381, 55)

        # a clean restart of the standby resumes from its restartpoint, then streams again
        assert standby.stop() == 0
        control = read_control_file(standby_dir)
        assert control.state == DBState.DB_SHUTDOWNED_IN_RECOVERY
        assert control.backup_start_point == 0 and not control.backup_end_required
        resumed_redo = control.checkpoint.redo
        execute(primary, "INSERT INTO t SELECT g, 'while down' FROM generate_series(401, 500) g")
        standby = start_standby(standby_dir, standby.port)
        assert f"redo starts at {format_lsn(resumed_redo)}" in standby.log()
        execute(primary, "VACUUM t", "INSERT INTO t VALUES (501, 'after restart')")
        wait_for_replay_catchup(primary, standby)
        # streaming resumed at a WAL page inside the segment the standby already had, not at
        # that segment's start
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            (start_text,) = connection.execute(
                "SELECT receive_start_lsn FROM pg_stat_wal_receiver").fetchone()
        receive_start = parse_lsn(str(start_text))
        assert receive_start % WAL_PAGE_SIZE == 0
        assert receive_start >= resumed_redo - resumed_redo % WAL_PAGE_SIZE
        if resumed_redo % SEGMENT_SIZE >= WAL_PAGE_SIZE:
            assert receive_start > resumed_redo - resumed_redo % SEGMENT_SIZE

        # a clean stop of the primary ships its shutdown checkpoint; the standby makes a
        # restartpoint there, so both data directories stop at the same position
        assert primary.stop() == 0
        shutdown_checkpoint = read_control_file(primary.datadir).checkpoint
        wait_for_restartpoint_at(standby, shutdown_checkpoint.redo)
        assert standby.stop() == 0
        assert oldest_segment(standby_dir) == segno_of(shutdown_checkpoint.redo, SEGMENT_SIZE)
        result = compare(primary.datadir, standby_dir)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        standby.stop()


def test_standby_reconnects_after_primary_restart_and_survives_kill(primary, tmp_path):
    execute(primary, "CREATE TABLE k (id int)")
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir)
    try:
        execute(primary, "INSERT INTO k SELECT g FROM generate_series(1, 100) g")
        wait_for_replay_catchup(primary, standby)
        assert primary.stop() == 0
        primary = start_server(primary.datadir, primary.port)
        execute(primary, "INSERT INTO k SELECT g FROM generate_series(101, 200) g")
        wait_for_replay_catchup(primary, standby)
        assert standby.log().count("started streaming WAL from primary") >= 2

        # kill -9 of the standby mid-stream: it recovers from its last restartpoint and goes on
        execute(primary, "INSERT INTO k SELECT g FROM generate_series(201, 5000) g")
        standby.kill()
        execute(primary, "INSERT INTO k SELECT g FROM generate_series(5001, 5100) g", "CHECKPOINT")
        standby = start_standby(standby_dir, standby.port)
        wait_for_replay_catchup(primary, standby)
    finally:
        standby.stop()
        primary.stop()


def test_different_system_identifier_is_refused(primary, tmp_path, template_cluster):
    from mirrordb.cli.initdb import initdb
    other_dir = str(tmp_path / "other")
    initdb(other_dir, segment_size_mb=1)
    with open(os.path.join(other_dir, "standby.signal"), "wb"):
        pass
    with open(os.path.join(other_dir, "postgresql.auto.conf"), "a", encoding="utf-8") as handle:
        handle.write(f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres'\n")
    standby = start_standby(other_dir)
    try:
        poll(lambda: "database system identifier differs" in standby.log(),
             "the system identifier error", servers=(standby,))
        log_text = standby.log()
        ours = read_control_file(other_dir).system_identifier
        # the DETAIL names both identifiers
        theirs = read_control_file(primary.datadir).system_identifier
        assert re.search(rf"The primary's identifier is {theirs}, the standby's identifier is "
                         rf"{ours}\.", log_text), log_text
    finally:
        standby.stop()


def test_hot_standby_off_refuses_connections(primary, tmp_path):
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    port = free_port()
    args = [sys.executable, "-m", "mirrordb.cli.main", "server", "-D", standby_dir,
            "-c", f"port={port}", "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={standby_dir}", "-c", "hot_standby=off"]
    log_path = str(tmp_path / "standby.log")
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    standby = RunningServer(standby_dir, port, process, log_path)
    try:
        def refused() -> str:
            try:
                psycopg.connect(standby.dsn(), connect_timeout=5).close()
            except psycopg.OperationalError as error:
                return str(error)
            return ""
        message = poll(lambda: "not accepting connections" in refused() and refused(),
                       "the hot_standby=off refusal", servers=(standby,))
        assert "the database system is not accepting connections" in str(message)
        assert "Hot standby mode is disabled." in str(message)
    finally:
        standby.stop()
