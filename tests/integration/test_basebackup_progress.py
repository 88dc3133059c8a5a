"""pg_stat_progress_basebackup on a real server: a throttled pg_basebackup (``-r``) is watched
from another connection; its walsender's row streams a growing number of bytes, carries the
size estimate only when the client asked for one (pg_basebackup sends PROGRESS unless told
``--no-estimate-size``), and is gone once the backup ends."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.server_process import RunningServer, start_server

PG_BASEBACKUP = "/usr/lib/postgresql/15/bin/pg_basebackup"
BACKUP_SECONDS = 2            # how long the throttled backup should last, at least
MIN_RATE_KB = 32              # pg_basebackup's lowest -r
DEADLINE_S = 60.0
POLL_S = 0.05

pytestmark = pytest.mark.skipif(not os.path.exists(PG_BASEBACKUP),
                                reason="PostgreSQL 15's pg_basebackup is not installed")


@pytest.fixture
def server(cluster: str) -> Iterator[RunningServer]:
    running = start_server(cluster)
    yield running
    running.stop()


def _data_kb(datadir: str) -> int:
    total = 0
    for directory, subdirectories, files in os.walk(datadir):
        if os.path.relpath(directory, datadir).startswith("pg_wal"):
            continue
        total += sum(os.path.getsize(os.path.join(directory, name)) for name in files
                     if os.path.isfile(os.path.join(directory, name)))
    return total // 1024


def _progress_rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    cursor = conn.execute("SELECT * FROM pg_stat_progress_basebackup")
    assert cursor.description is not None
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _start_backup(server: RunningServer, target: str, *extra: str) -> subprocess.Popen[bytes]:
    rate_kb = max(MIN_RATE_KB, _data_kb(server.datadir) // BACKUP_SECONDS)
    return subprocess.Popen(
        [PG_BASEBACKUP, "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
         "-D", target, "-X", "none", "-c", "fast", "-r", f"{rate_kb}k", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _watch(conn: psycopg.Connection, backup: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
    """The backup's rows while it streams: polled until streamed bytes were seen to grow."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and backup.poll() is None:
        rows = _progress_rows(conn)
        assert len(rows) <= 1
        if rows and rows[0]["phase"] == "streaming database files":
            seen.append(rows[0])
            if len(seen) > 1 and seen[-1]["backup_streamed"] > seen[0]["backup_streamed"]:
                return seen
        time.sleep(POLL_S)
    raise AssertionError(f"no growing progress row seen: {seen}")


def _finish(conn: psycopg.Connection, backup: subprocess.Popen[bytes]) -> None:
    _, errors = backup.communicate(timeout=DEADLINE_S)
    assert backup.returncode == 0, errors.decode()
    deadline = time.monotonic() + DEADLINE_S
    while _progress_rows(conn):
        assert time.monotonic() < deadline, "the progress row outlived the backup"
        time.sleep(POLL_S)


def test_throttled_backup_with_progress(server: RunningServer, tmp_path) -> None:
    with server.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE t (a int, b text)")
        conn.execute("INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g")
        assert _progress_rows(conn) == []
        backup = _start_backup(server, str(tmp_path / "backup"), "-P")
        try:
            seen = _watch(conn, backup)
        finally:
            if backup.poll() is None:
                _finish(conn, backup)
        first, last = seen[0], seen[-1]
        walsender = conn.execute("SELECT backend_type FROM pg_stat_activity WHERE pid = %s",
                                 (last["pid"],)).fetchall()
        assert walsender in ([("walsender",)], [])   # [] if it ended meanwhile
        assert last["backup_total"] is not None
        assert first["backup_streamed"] < last["backup_streamed"] <= last["backup_total"]
        assert (last["tablespaces_total"], last["tablespaces_streamed"]) == (1, 0)
        assert _progress_rows(conn) == []
    assert os.path.exists(tmp_path / "backup" / "global" / "pg_control")


def test_backup_total_is_null_without_progress(server: RunningServer, tmp_path) -> None:
    with server.connect(autocommit=True) as conn:
        backup = _start_backup(server, str(tmp_path / "backup"), "--no-estimate-size")
        try:
            seen = _watch(conn, backup)
        finally:
            _finish(conn, backup)
        assert all(row["backup_total"] is None for row in seen)
        assert seen[-1]["backup_streamed"] > 0
