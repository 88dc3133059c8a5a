"""The walsender against PostgreSQL 15's own tools: psql on a replication connection,
pg_receivewal archiving the stream (then pg_waldump reading what it saved), and
pg_stat_replication while it streams."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import pg_tool
from tests.server_process import RunningServer

DEADLINE_S = 30.0
POLL_S = 0.05


@pytest.fixture
def server(module_server: RunningServer) -> Iterator[RunningServer]:
    yield module_server


def replication_dsn(server: RunningServer) -> str:
    return f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres replication=true"


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(POLL_S)
    raise AssertionError(f"timed out waiting for {what}")


def test_psql_identify_system_shows_postgresql_columns(server: RunningServer) -> None:
    result = subprocess.run([pg_tool("psql"), replication_dsn(server), "-A", "-c",
                             "IDENTIFY_SYSTEM"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()[:2]
    assert header == "systemid|timeline|xlogpos|dbname"
    systemid, timeline, xlogpos, dbname = row.split("|")
    assert systemid.isdigit() and timeline == "1" and "/" in xlogpos and dbname == ""


def test_sql_is_refused_on_a_replication_connection(server: RunningServer) -> None:
    result = subprocess.run([pg_tool("psql"), replication_dsn(server), "-c", "SELECT 1"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "cannot execute SQL commands in WAL sender for physical replication" in result.stderr


def generate_wal(server: RunningServer, megabytes: int) -> None:
    with server.connect(autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS walsender_fill (payload text)")
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO walsender_fill VALUES (%s)",
                               [("x" * 4000,)] * (megabytes * 256))


def test_pg_receivewal_archives_what_pg_waldump_reads(server: RunningServer,
                                                      tmp_path: object) -> None:
    archive = os.path.join(str(tmp_path), "archive")
    os.mkdir(archive)
    receiver = subprocess.Popen(
        [pg_tool("pg_receivewal"), "-D", archive, "-s", "1", "--no-loop",
         "-d", f"host=127.0.0.1 port={server.port} user=postgres"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: any(name.endswith(".partial") for name in os.listdir(archive)),
                 "pg_receivewal to open a segment")
        with server.connect(autocommit=True) as connection:
            wait_for(lambda: connection.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' "
                "AND application_name = 'pg_receivewal'").fetchone()[0] == 1,
                "pg_stat_replication to show the stream")
        generate_wal(server, 3)
        wait_for(lambda: any(len(name) == 24 for name in os.listdir(archive)),
                 "a complete segment in the archive")
    finally:
        receiver.send_signal(signal.SIGINT)   # pg_receivewal sends CopyDone and exits
        output = receiver.communicate(timeout=30)[0].decode()
    assert receiver.returncode == 0, output
    complete = sorted(name for name in os.listdir(archive) if len(name) == 24)
    dump = subprocess.run([pg_tool("pg_waldump"), "-p", archive, complete[0]],
                          capture_output=True, text=True, timeout=60)
    assert dump.returncode == 0, dump.stderr
    assert "rmgr:" in dump.stdout
    assert os.path.getsize(os.path.join(archive, complete[0])) == 1024 * 1024
    source = os.path.join(server.datadir, "pg_wal", complete[0])
    if os.path.exists(source):   # not yet recycled: the archived copy is byte-for-byte the same
        with open(source, "rb") as original, \
                open(os.path.join(archive, complete[0]), "rb") as copy:
            assert original.read() == copy.read()
