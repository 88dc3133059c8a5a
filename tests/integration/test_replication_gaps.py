"""Three replication rules on real processes.

* A base backup holds the WAL from its start: PostgreSQL 15's ``pg_basebackup -X fetch`` with
  MAX_RATE (so it is still copying) against a primary that meanwhile writes, switches segments
  and checkpoints with a tiny max_wal_size; the start segment survives those checkpoints, the
  restored standby reaches consistency and streams, and the segment goes once the backup ended.
* A base backup from a standby: primary -> standby1 -> ``mirrordb basebackup`` from standby1
  -> standby2 streaming from the primary; the label says "BACKUP FROM: standby", standby1 wrote
  no WAL for it, standby2 reaches consistency at the backup's end and shows the rows.
* wal_level=minimal with max_wal_senders > 0 refuses to start (PostgreSQL's FATAL); with
  max_wal_senders = 0 it starts and refuses replication connections, and a standby's walreceiver
  reports that refusal and never streams from it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import psycopg
import pytest

from mirrordb.common.lsn import parse_lsn
from mirrordb.replication.basebackup import parse_backup_label
from mirrordb.storage.control import read_control_file
from mirrordb.wal.segment import is_segment_name, parse_segment_name
from tests.conftest import pg_tool
from tests.integration.test_standby_streaming import (SEGMENT_SIZE, TOOL_TIMEOUT_S,  # noqa: F401
                                                      basebackup, current_wal_lsn, execute,
                                                      poll, primary, start_standby,
                                                      wait_for_replay_catchup,
                                                      wait_for_restartpoint_at)
from tests.server_process import start_server

STREAMING_REFUSED = ('WAL streaming (max_wal_senders > 0) requires wal_level "replica" or '
                     '"logical"')
SENDERS_EXCEEDED = "number of requested standby connections exceeds max_wal_senders (currently 0)"
DATA_COPY_SECONDS = 3        # MAX_RATE makes the copy of the data files last about this long
SEGMENTS_PAST_START = 3      # checkpoints move the REDO point this many segments past the start


def segments(datadir: str) -> set[int]:
    waldir = os.path.join(datadir, "pg_wal")
    return {parse_segment_name(name, SEGMENT_SIZE)[1] for name in os.listdir(waldir)
            if is_segment_name(name)}


def data_size_kb(datadir: str) -> int:
    total = 0
    for root, directories, files in os.walk(datadir):
        directories[:] = [name for name in directories if name != "pg_wal"]
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total // 1024


def label_of(datadir: str, name: str = "backup_label") -> dict[str, str]:
    with open(os.path.join(datadir, name), encoding="utf-8") as handle:
        return parse_backup_label(handle.read())


def count(server, table: str) -> int:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def rows(server, table: str) -> list[tuple[object, ...]]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


# -- 1. WAL retention during a base backup --------------------------------------------------------

def test_fetch_backup_of_a_busy_primary_keeps_its_wal(primary, tmp_path):  # noqa: F811
    tool = pg_tool("pg_basebackup")
    assert primary.stop() == 0
    busy = start_server(primary.datadir, primary.port, max_wal_size="2MB",
                        checkpoint_timeout="30s")
    try:
        execute(busy, "CREATE TABLE busy (id int, note text)",
                "INSERT INTO busy SELECT g, repeat('b', 300) FROM generate_series(1, 8000) g",
                "CHECKPOINT")
        target = str(tmp_path / "standby")
        rate_kb = max(32, data_size_kb(busy.datadir) // DATA_COPY_SECONDS)
        backup = subprocess.Popen(
            [tool, "-h", "127.0.0.1", "-p", str(busy.port), "-U", "postgres", "-D", target,
             "-R", "-X", "fetch", "-c", "fast", "-w", "-r", f"{rate_kb}k"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            label_path = os.path.join(target, "backup_label")
            poll(lambda: os.path.exists(label_path) and "START TIMELINE" in open(
                label_path, encoding="utf-8").read(), "the backup to start", servers=(busy,))
            start_lsn = parse_lsn(label_of(target)["START WAL LOCATION"].split()[0])
            start_segno = start_lsn // SEGMENT_SIZE

            # another client writes, switches segments and checkpoints during the copy
            round_number = 0
            while read_control_file(busy.datadir).checkpoint.redo // SEGMENT_SIZE < \
                    start_segno + SEGMENTS_PAST_START:
                round_number += 1
                assert round_number < 50, "the checkpoints do not move the REDO point"
                execute(busy, "INSERT INTO busy SELECT g, repeat('w', 200) FROM "
                              "generate_series(1, 100) g", "SELECT pg_switch_wal()",
                        "CHECKPOINT")
            assert backup.poll() is None, "the backup ended before the checkpoints: lower MAX_RATE"
            assert start_segno in segments(busy.datadir), "a checkpoint removed held WAL"
            _, errors = backup.communicate(timeout=TOOL_TIMEOUT_S)
        finally:
            if backup.poll() is None:
                backup.kill()
                backup.wait()
        assert backup.returncode == 0, errors

        os.chmod(target, 0o700)
        standby = start_standby(target)
        try:
            assert "consistent recovery state reached" in standby.log()
            wait_for_replay_catchup(busy, standby)
            assert count(standby, "busy") == count(busy, "busy")
            execute(busy, "INSERT INTO busy VALUES (0, 'after')", "SELECT pg_switch_wal()",
                    "CHECKPOINT")
            assert start_segno not in segments(busy.datadir)   # the hold ended with the backup
            wait_for_replay_catchup(busy, standby)
            assert count(standby, "busy") == count(busy, "busy")
        finally:
            standby.stop()
    finally:
        busy.stop()


# -- 2. a base backup from a standby -----------------------------------------------------------

def mirrordb_basebackup(port: int, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mirrordb.cli.main", "basebackup", "-h", "127.0.0.1", "-p",
         str(port), "-U", "postgres", "-D", target, "-R", "-X", "fetch"],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)


def point_at(datadir: str, port: int) -> None:
    """Rewrite the primary_conninfo that -R wrote (standby1's port) to name ``port``."""
    path = os.path.join(datadir, "postgresql.auto.conf")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    changed = re.sub(r"port=\d+", f"port={port}", text)
    assert changed != text
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(changed)


def test_backup_from_a_standby_feeds_a_second_standby(primary, tmp_path):  # noqa: F811
    execute(primary, "CREATE TABLE s (id int PRIMARY KEY, note text)",
            "INSERT INTO s SELECT g, 'before standby1' FROM generate_series(1, 200) g")
    standby1_dir = str(tmp_path / "standby1")
    basebackup(primary, standby1_dir)
    standby1 = start_standby(standby1_dir)
    standby2 = None
    try:
        execute(primary, "INSERT INTO s SELECT g, 'streamed' FROM generate_series(201, 300) g",
                "CHECKPOINT")
        primary_control = read_control_file(primary.datadir)
        redo = primary_control.checkpoint.redo
        wait_for_restartpoint_at(standby1, redo)
        execute(primary, "UPDATE s SET note = 'after restartpoint' WHERE id % 5 = 0",
                "INSERT INTO s SELECT g, 'late' FROM generate_series(301, 350) g")
        wait_for_replay_catchup(primary, standby1)

        standby2_dir = str(tmp_path / "standby2")
        # the primary keeps writing while standby1 is copied
        writer_errors: list[BaseException] = []
        done = threading.Event()

        def write() -> None:
            try:
                value = 1000
                while not done.is_set():
                    execute(primary, f"INSERT INTO s VALUES ({value}, 'during backup')")
                    value += 1
            except BaseException as error:  # noqa: BLE001 - reported below
                writer_errors.append(error)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            result = mirrordb_basebackup(standby1.port, standby2_dir)
        finally:
            done.set()
            writer.join(TOOL_TIMEOUT_S)
        assert result.returncode == 0, result.stderr
        assert not writer_errors, writer_errors

        label = label_of(standby2_dir)
        assert label["BACKUP FROM"] == "standby"
        assert parse_lsn(label["START WAL LOCATION"].split()[0]) == redo
        copied = read_control_file(standby2_dir)
        # the end is minRecoveryPoint: past the restartpoint, not past what standby1 replayed
        assert redo < copied.min_recovery_point <= current_wal_lsn(primary)
        # no checkpoint of its own: the label names the primary's checkpoint standby1 replayed
        assert parse_lsn(label["CHECKPOINT LOCATION"]) == primary_control.checkpoint_lsn
        assert os.path.exists(os.path.join(standby2_dir, "standby.signal"))

        point_at(standby2_dir, primary.port)
        standby2 = start_standby(standby2_dir)
        log_text = standby2.log()
        consistent = re.search(r"consistent recovery state reached at (\S+)", log_text)
        assert consistent, log_text
        assert parse_lsn(consistent.group(1)) >= copied.min_recovery_point
        control = read_control_file(standby2_dir)
        assert control.backup_start_point == 0 and control.backup_end_point == 0
        assert not control.backup_end_required

        execute(primary, "INSERT INTO s VALUES (-1, 'for standby2')")
        wait_for_replay_catchup(primary, standby2)
        expected = count(primary, "s")
        poll(lambda: count(standby2, "s") == expected, "standby2 to show every row",
             servers=(primary, standby2))
        assert rows(standby2, "s") == rows(primary, "s")
        with psycopg.connect(standby2.dsn(), autocommit=True) as connection:
            assert connection.execute(
                "SELECT count(*) FILTER (WHERE note = 'after restartpoint'), "
                "count(*) FILTER (WHERE note = 'during backup') > 0 FROM s").fetchone() == \
                (60, True)
            assert connection.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    finally:
        if standby2 is not None:
            standby2.stop()
        standby1.stop()


# -- 3. wal_level = minimal and max_wal_senders ----------------------------------------------

def test_minimal_wal_level_with_wal_senders_refuses_to_start(primary):  # noqa: F811
    assert primary.stop() == 0
    with pytest.raises(RuntimeError) as caught:
        start_server(primary.datadir, primary.port, wal_level="minimal")
    assert f"FATAL:  {STREAMING_REFUSED}" in str(caught.value)
    assert not os.path.exists(os.path.join(primary.datadir, "postmaster.pid"))


def test_minimal_wal_level_without_wal_senders_refuses_replication(primary):  # noqa: F811
    assert primary.stop() == 0
    minimal = start_server(primary.datadir, primary.port, wal_level="minimal",
                           max_wal_senders="0")
    try:
        with pytest.raises(psycopg.OperationalError) as caught:
            psycopg.connect(minimal.dsn(replication="true"), autocommit=True)
        assert SENDERS_EXCEEDED in str(caught.value)
        execute(minimal, "CREATE TABLE still_works (id int)")   # ordinary sessions are fine
    finally:
        minimal.stop()
