"""Acceptance: a physical slot keeps WAL for a standby that is down, and the standby catches up
when it returns; with ``max_slot_wal_keep_size`` the slot is lost instead and the returning
standby's walreceiver reports PostgreSQL's "requested WAL segment ... has already been removed".

The slot is created with SQL on the primary, the standby made by ``mirrordb basebackup -R
--slot``. While the standby is stopped, the primary writes several segments (a row and
pg_switch_wal() each) with checkpoints in between.
"""

from __future__ import annotations

import os
import shutil

import psycopg
import pytest

from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.wal.segment import segment_name
from tests.integration.test_standby_streaming import (basebackup, current_wal_lsn, execute, poll,
                                                      replayed_by_standby, start_standby)
from tests.server_process import RunningServer, start_server

SLOT_NAME = "standby1"
SEGMENT_SIZE = 1024 * 1024      # the test template's (conftest SEGMENT_SIZE_MB)
SEGMENTS_WHILE_DOWN = 6
CHECKPOINTS_WHILE_DOWN = 3


@pytest.fixture
def primary_datadir(template_cluster, tmp_path) -> str:
    datadir = str(tmp_path / "primary")
    shutil.copytree(template_cluster, datadir)
    return datadir


def slot_state(primary: RunningServer) -> tuple[int | None, str | None, bool]:
    """(restart_lsn, wal_status, active) of the standby's slot."""
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        row = connection.execute(
            "SELECT restart_lsn::text, wal_status, active FROM pg_replication_slots "
            "WHERE slot_name = %s", (SLOT_NAME,)).fetchone()
    assert row is not None, "the slot is gone"
    restart_lsn = None if row[0] is None else parse_lsn(str(row[0]))
    return restart_lsn, row[1], bool(row[2])


def segment_exists(datadir: str, lsn: int) -> bool:
    name = segment_name(1, lsn // SEGMENT_SIZE, SEGMENT_SIZE)
    return os.path.exists(os.path.join(datadir, "pg_wal", name))


def write_segments_with_checkpoints(primary: RunningServer) -> int:
    """Rows in ``SEGMENTS_WHILE_DOWN`` new segments, checkpoints between; returns the row
    count written."""
    rows = 0
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        for number in range(SEGMENTS_WHILE_DOWN):
            connection.execute("INSERT INTO r SELECT g FROM generate_series(1, 100) g")
            rows += 100
            connection.execute("SELECT pg_switch_wal()")
            if number % (SEGMENTS_WHILE_DOWN // CHECKPOINTS_WHILE_DOWN) == 0:
                connection.execute("CHECKPOINT")
        connection.execute("CHECKPOINT")
    return rows


def standby_count(standby: RunningServer) -> int:
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        row = connection.execute("SELECT count(*) FROM r").fetchone()
    return int(row[0]) if row else -1


def set_up(primary: RunningServer, standby_dir: str) -> RunningServer:
    execute(primary, f"SELECT pg_create_physical_replication_slot('{SLOT_NAME}')",
            "CREATE TABLE r (id int)", "INSERT INTO r VALUES (0)")
    basebackup(primary, standby_dir, f"--slot={SLOT_NAME}")
    standby = start_standby(standby_dir)
    execute(primary, "INSERT INTO r VALUES (1)")
    target = current_wal_lsn(primary)
    poll(lambda: replayed_by_standby(primary) >= target and slot_state(primary)[2],
         "the standby to stream through its slot", servers=(primary, standby))
    poll(lambda: (slot_state(primary)[0] or 0) >= target,
         "the slot's restart_lsn to follow the standby", servers=(primary, standby))
    return standby


def test_slot_keeps_wal_while_the_standby_is_down(primary_datadir, tmp_path):
    primary = start_server(primary_datadir)
    standby = None
    try:
        standby = set_up(primary, str(tmp_path / "standby"))
        assert standby.stop() == 0
        poll(lambda: not slot_state(primary)[2], "the slot to become inactive",
             servers=(primary,))
        held_lsn, status, _ = slot_state(primary)
        assert held_lsn is not None and status == "reserved"
        written = write_segments_with_checkpoints(primary)
        assert current_wal_lsn(primary) // SEGMENT_SIZE >= held_lsn // SEGMENT_SIZE + \
            SEGMENTS_WHILE_DOWN
        restart_lsn, status, active = slot_state(primary)
        assert (restart_lsn, active) == (held_lsn, False), \
            f"restart_lsn moved from {format_lsn(held_lsn)} while the standby was down"
        assert status in ("reserved", "extended")
        for segno in range(held_lsn // SEGMENT_SIZE, current_wal_lsn(primary) // SEGMENT_SIZE):
            assert segment_exists(primary.datadir, segno * SEGMENT_SIZE), \
                f"segment {segno} the slot needs was removed"

        standby = start_standby(standby.datadir, standby.port)
        poll(lambda: standby_count(standby) == written + 2,
             "the restarted standby to catch up through the slot", servers=(primary, standby))
        target = current_wal_lsn(primary)
        poll(lambda: replayed_by_standby(primary) >= target,
             "pg_stat_replication.replay_lsn to reach the primary", servers=(primary, standby))
        poll(lambda: (slot_state(primary)[0] or 0) > held_lsn,
             "the slot's restart_lsn to move on", servers=(primary, standby))
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()


def test_slot_lost_past_max_slot_wal_keep_size(primary_datadir, tmp_path):
    primary = start_server(primary_datadir, max_slot_wal_keep_size="2MB")
    standby = None
    try:
        standby = set_up(primary, str(tmp_path / "standby"))
        assert standby.stop() == 0
        poll(lambda: not slot_state(primary)[2], "the slot to become inactive",
             servers=(primary,))
        held_lsn = slot_state(primary)[0]
        assert held_lsn is not None
        write_segments_with_checkpoints(primary)
        assert slot_state(primary) == (None, "lost", False)
        assert not segment_exists(primary.datadir, held_lsn)

        standby = start_standby(standby.datadir, standby.port)
        missing = segment_name(1, held_lsn // SEGMENT_SIZE, SEGMENT_SIZE)
        expected = f"requested WAL segment {missing} has already been removed"
        poll(lambda: expected in standby.log(),
             "the walreceiver to report the removed segment", servers=(primary, standby))
        # still in recovery, still refusing to skip the gap
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            assert connection.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            assert connection.execute("SELECT count(*) FROM r").fetchone() == (2,)
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()
