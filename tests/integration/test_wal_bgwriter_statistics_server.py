"""pg_stat_wal and pg_stat_bgwriter on a real server: the WAL writer's counters move with
writes (full-page images after a checkpoint, fdatasyncs at commit, times only with
track_wal_io_timing), the checkpointer's with CHECKPOINT, and pg_stat_reset_shared starts
them again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.server_process import RunningServer, start_server


@pytest.fixture
def server(cluster: str) -> Iterator[RunningServer]:
    running = start_server(cluster, track_wal_io_timing="on")
    yield running
    running.stop()


def _view_row(conn: psycopg.Connection, view: str) -> dict[str, Any]:
    cursor = conn.execute(f"SELECT * FROM {view}")
    row = cursor.fetchone()
    assert row is not None and cursor.description is not None
    return {column.name: value for column, value in zip(cursor.description, row)}


def _wal(conn: psycopg.Connection) -> dict[str, Any]:
    return _view_row(conn, "pg_stat_wal")


def _bgwriter(conn: psycopg.Connection) -> dict[str, Any]:
    return _view_row(conn, "pg_stat_bgwriter")


def test_wal_counters_move_with_writes_and_reset(server: RunningServer) -> None:
    with server.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE t (a int, b text)")
        conn.execute("INSERT INTO t SELECT g, 'x' FROM generate_series(1, 200) g")
        conn.execute("CHECKPOINT")
        before = _wal(conn)
        conn.execute("UPDATE t SET b = 'y'")      # first change after the checkpoint: images
        after = _wal(conn)
        assert after["wal_records"] > before["wal_records"]
        assert after["wal_fpi"] > before["wal_fpi"]
        assert after["wal_bytes"] > before["wal_bytes"]
        assert after["wal_write"] > before["wal_write"]
        assert after["wal_sync"] > before["wal_sync"]
        assert after["wal_sync_time"] > 0           # track_wal_io_timing is on
        conn.execute("SELECT pg_stat_reset_shared('wal')")
        reset = _wal(conn)
        assert reset["wal_records"] < after["wal_records"] - before["wal_records"]
        assert reset["stats_reset"] > after["stats_reset"]


def test_bgwriter_counts_checkpoints(server: RunningServer) -> None:
    with server.connect(autocommit=True) as conn:
        start = _bgwriter(conn)
        conn.execute("CREATE TABLE u (a int)")
        conn.execute("INSERT INTO u SELECT generate_series(1, 1000)")
        conn.execute("CHECKPOINT")
        after = _bgwriter(conn)
        assert after["checkpoints_req"] == start["checkpoints_req"] + 1
        assert after["buffers_checkpoint"] > start["buffers_checkpoint"]
        assert after["buffers_alloc"] > start["buffers_alloc"]
        assert after["buffers_clean"] == after["maxwritten_clean"] == 0
        conn.execute("SELECT pg_stat_reset_shared('bgwriter')")
        reset = _bgwriter(conn)
        assert (reset["checkpoints_req"], reset["buffers_checkpoint"]) == (0, 0)
        assert reset["stats_reset"] > after["stats_reset"]


def test_idle_timed_checkpoint_counts(cluster: str) -> None:
    """A timed checkpoint skipped because nothing happened still counts as timed."""
    server = start_server(cluster, checkpoint_timeout="1s")
    try:
        with server.connect(autocommit=True) as conn:
            first = _bgwriter(conn)["checkpoints_timed"]
            deadline = time.monotonic() + 30
            while _bgwriter(conn)["checkpoints_timed"] < first + 2:
                assert time.monotonic() < deadline, "no timed checkpoint was counted"
                time.sleep(0.1)
    finally:
        server.stop()
