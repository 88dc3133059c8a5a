"""A standby fed from the WAL archive (restore_command), on real processes: MISSION.md's
file-based delivery, and the way both deliveries work together.

* Archive only (no primary_conninfo): the standby replays each segment the primary archives,
  runs archive_cleanup_command at its restartpoints with the oldest segment it still needs (%r)
  and recovery_end_command when promoted.
* Streaming with the archive behind it: a standby that was down while the primary recycled the
  WAL it needs cannot stream it ("requested WAL segment ... has already been removed"), so it
  restores those segments from the archive, then returns to streaming.
* A restore_command the shell cannot run stops the standby with PostgreSQL's FATAL, rather
  than take the failure for the end of the archive.
"""

from __future__ import annotations

import os
import shutil

import psycopg
import pytest

from mirrordb.wal.segment import segment_name
from tests.integration.test_standby_streaming import (SEGMENT_SIZE, basebackup, current_wal_lsn,
                                                      execute, poll, start_standby,
                                                      wait_for_replay_catchup)
from tests.server_process import start_server

ROWS_PER_SEGMENT = 2000     # rows whose insert fills about a 1 MB test segment


def count(server, table: str = "r") -> int:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def archive_dir(tmp_path) -> str:
    path = str(tmp_path / "archive")
    os.makedirs(path)
    return path


@pytest.fixture
def primary(template_cluster, tmp_path, archive_dir):
    datadir = str(tmp_path / "primary")
    shutil.copytree(template_cluster, datadir)
    server = start_server(datadir, archive_mode="on", wal_keep_size="0",
                          archive_command=f"test ! -f {archive_dir}/%f && cp %p {archive_dir}/%f")
    execute(server, "CREATE TABLE r (id int, filler text)")
    yield server
    server.stop()


def insert_rows(server, first: int, rows: int) -> None:
    execute(server, f"INSERT INTO r SELECT g, repeat('x', 200) FROM generate_series({first}, "
                    f"{first + rows - 1}) g")


def test_a_standby_fed_by_the_archive_alone(primary, archive_dir, tmp_path):
    insert_rows(primary, 1, 10)
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    cleanup_log, end_log = str(tmp_path / "cleanup.log"), str(tmp_path / "end.log")
    standby = start_standby(standby_dir, primary_conninfo="",
                            restore_command=f"cp {archive_dir}/%f %p",
                            archive_cleanup_command=f"echo %r >> {cleanup_log}",
                            recovery_end_command=f"echo %r > {end_log}")
    try:
        insert_rows(primary, 11, ROWS_PER_SEGMENT)
        execute(primary, "CHECKPOINT", "SELECT pg_switch_wal()")
        poll(lambda: count(standby) == ROWS_PER_SEGMENT + 10,
             "the standby to replay what the primary archived", servers=(primary, standby))
        log = standby.log()
        assert 'restored log file "' in log and '" from archive' in log
        assert "started streaming" not in log
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            assert connection.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            # nothing streamed: the walreceiver's position is unknown
            assert connection.execute("SELECT pg_last_wal_receive_lsn()").fetchone() == (None,)

        # a restartpoint hands the oldest segment still needed to archive_cleanup_command
        execute(standby, "CHECKPOINT")
        poll(lambda: os.path.exists(cleanup_log), "archive_cleanup_command to run",
             servers=(standby,))
        with open(cleanup_log, encoding="utf-8") as handle:
            needed = handle.read().split()[-1]
        assert len(needed) == 24 and needed in os.listdir(archive_dir)

        # promotion: what was restored is replayed, recovery_end_command runs
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            assert connection.execute("SELECT pg_promote()").fetchone() == (True,)
        assert os.path.exists(end_log)
        insert_rows(standby, 100_000, 1)
        assert count(standby) == ROWS_PER_SEGMENT + 11
    finally:
        standby.stop()


def test_streaming_falls_back_to_the_archive_and_returns(primary, archive_dir, tmp_path):
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir, restore_command=f"cp {archive_dir}/%f %p")
    wait_for_replay_catchup(primary, standby)
    assert standby.stop() == 0
    # the segment holding the first byte the standby lacks
    needed = segment_name(1, current_wal_lsn(primary) // SEGMENT_SIZE, SEGMENT_SIZE)
    # while the standby is down the primary moves on and recycles what the standby needs
    for round_ in range(3):
        insert_rows(primary, 1 + round_ * ROWS_PER_SEGMENT, ROWS_PER_SEGMENT)
        execute(primary, "SELECT pg_switch_wal()", "CHECKPOINT")
    poll(lambda: needed in os.listdir(archive_dir), "the needed segment to be archived",
         servers=(primary,))
    assert needed not in os.listdir(os.path.join(primary.datadir, "pg_wal"))

    standby = start_standby(standby_dir, standby.port,
                            restore_command=f"cp {archive_dir}/%f %p")
    try:
        poll(lambda: count(standby) == 3 * ROWS_PER_SEGMENT,
             "the standby to catch up from the archive", servers=(primary, standby))
        log = standby.log()
        assert f"requested WAL segment {needed} has already been removed" in log
        assert f'restored log file "{needed}" from archive' in log
        # rows committed now are not in any archived segment: they can only stream
        insert_rows(primary, 10 * ROWS_PER_SEGMENT, 5)
        poll(lambda: count(standby) == 3 * ROWS_PER_SEGMENT + 5,
             "streaming to resume after the archive", servers=(primary, standby))
        assert "started streaming WAL from primary" in standby.log()
        wait_for_replay_catchup(primary, standby)
    finally:
        standby.stop()


def test_a_restore_command_that_cannot_run_stops_the_standby(primary, archive_dir, tmp_path):
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    try:
        standby = start_standby(standby_dir, primary_conninfo="",
                                restore_command="no-such-restore-program %f %p")
    except RuntimeError as error:        # it stopped before it was ready
        log = str(error)
    else:                                # or right after
        try:
            assert standby.process.wait(60) != 0
        finally:
            standby.stop()
        log = standby.log()
    assert 'FATAL:  could not restore file "' in log
    assert '" from archive: command not found' in log


def archive_settings(directory: str) -> dict[str, str]:
    os.makedirs(directory)
    return {"archive_command": f"test ! -f {directory}/%f && cp %p {directory}/%f"}


def status_files(server) -> list[str]:
    return sorted(os.listdir(os.path.join(server.datadir, "pg_wal", "archive_status")))


def switch_after_rows(primary) -> str:
    """Insert rows and switch segments on the primary: the name of the segment finished."""
    insert_rows(primary, 1, 10)
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        name = str(connection.execute(
            "SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0])
        connection.execute("SELECT pg_switch_wal()")
    return name


def archiving_standby(primary, tmp_path, mode: str):
    """A streaming standby with ``archive_mode = mode`` and its own archive directory."""
    standby_dir, own_archive = str(tmp_path / "standby"), str(tmp_path / "standby_archive")
    basebackup(primary, standby_dir)
    return start_standby(standby_dir, archive_mode=mode, **archive_settings(own_archive)), \
        own_archive


def test_a_standby_with_archive_mode_always_archives_what_it_receives(primary, tmp_path):
    standby, own_archive = archiving_standby(primary, tmp_path, "always")
    try:
        name = switch_after_rows(primary)
        poll(lambda: name in os.listdir(own_archive), "the standby to archive the segment",
             servers=(primary, standby))
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            archived = connection.execute("SELECT archived_count FROM pg_stat_archiver").fetchone()
        assert archived is not None and archived[0] >= 1
    finally:
        standby.stop()


def test_a_promoted_standby_archives_its_own_wal_not_the_primarys(primary, tmp_path):
    standby, own_archive = archiving_standby(primary, tmp_path, "on")
    try:
        streamed = switch_after_rows(primary)
        insert_rows(primary, 11, 1)
        wait_for_replay_catchup(primary, standby)
        # received, so marked done: the primary archives it, the standby never will
        poll(lambda: f"{streamed}.done" in status_files(standby),
             "the streamed segment to be marked done", servers=(primary, standby))
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            assert connection.execute("SELECT pg_promote()").fetchone() == (True,)
            own = str(connection.execute(
                "SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0])
            connection.execute("INSERT INTO r VALUES (0, 'promoted')")
            connection.execute("SELECT pg_switch_wal()")
        poll(lambda: own in os.listdir(own_archive), "the promoted server to archive",
             servers=(standby,))
        archived = os.listdir(own_archive)
        assert streamed not in archived
        # its own timeline: the history file, segments named with it, and the old timeline's
        # segment cut at the switch under a name of its own
        assert own.startswith("00000002") and "00000002.history" in archived
        cut = "00000001" + own[8:]
        assert f"{cut}.partial" in archived and cut not in archived
    finally:
        standby.stop()


def test_an_archive_fed_standby_follows_a_promotion_through_the_archive(
        template_cluster, tmp_path, archive_dir):
    """A primary and its streaming standby archive into one archive; a third server replays
    from that archive alone. The primary stops, the standby is promoted: the third server
    finds timeline 2's history file in the archive, then the promoted server's segments, and
    replays on across the switch (the last segment of timeline 1 was never complete, so never
    archived: it continues from timeline 2's copy of it)."""
    shared = {"archive_mode": "on", "wal_keep_size": "0",
              "archive_command": f"test ! -f {archive_dir}/%f && cp %p {archive_dir}/%f"}
    primary_dir = str(tmp_path / "primary")
    shutil.copytree(template_cluster, primary_dir)
    primary = start_server(primary_dir, **shared)
    standby = follower = None
    try:
        execute(primary, "CREATE TABLE r (id int, filler text)")
        insert_rows(primary, 1, 10)
        basebackup(primary, str(tmp_path / "standby"))
        basebackup(primary, str(tmp_path / "follower"))
        standby = start_standby(str(tmp_path / "standby"), **shared)
        follower = start_standby(str(tmp_path / "follower"), primary_conninfo="",
                                 restore_command=f"cp {archive_dir}/%f %p")
        insert_rows(primary, 11, ROWS_PER_SEGMENT)
        execute(primary, "SELECT pg_switch_wal()")
        insert_rows(primary, 3000, 5)
        wait_for_replay_catchup(primary, standby)
        assert primary.stop() == 0
        poll(lambda: count(standby) == ROWS_PER_SEGMENT + 15, "the standby to replay all",
             servers=(standby,))
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            assert connection.execute("SELECT pg_promote()").fetchone() == (True,)
            connection.execute("INSERT INTO r VALUES (0, 'timeline 2')")
            connection.execute("SELECT pg_switch_wal()")
        poll(lambda: count(follower) == ROWS_PER_SEGMENT + 16,
             "the archive-fed standby to follow timeline 2", servers=(standby, follower))
        log = follower.log()
        assert 'restored log file "00000002.history" from archive' in log
        assert "new target timeline is 2" in log
    finally:
        for server in (follower, standby, primary):
            if server is not None:
                server.stop()


def test_a_file_copy_backup_without_its_wal_restores_from_the_archive(primary, archive_dir,
                                                                      tmp_path):
    """PostgreSQL's classic continuous archiving setup: pg_backup_start, a copy of the data
    directory without pg_wal, pg_backup_stop; the copy finds every WAL file in the archive,
    beginning with the one holding the backup's checkpoint."""
    from tests.integration.test_low_level_backup import copy_cluster
    insert_rows(primary, 1, 100)
    copy = str(tmp_path / "copy")
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        connection.execute("SELECT pg_backup_start('from the archive', true)")
        copy_cluster(primary.datadir, copy)
        insert_rows(primary, 101, 100)          # during the copy
        labelfile = str(connection.execute("SELECT labelfile FROM pg_backup_stop()")
                        .fetchone()[0])
    os.makedirs(os.path.join(copy, "pg_wal", "archive_status"))
    with open(os.path.join(copy, "backup_label"), "w", encoding="utf-8") as handle:
        handle.write(labelfile)
    open(os.path.join(copy, "standby.signal"), "w").close()
    insert_rows(primary, 201, 100)              # after the backup, archived later
    execute(primary, "SELECT pg_switch_wal()")
    restored = start_standby(copy, primary_conninfo="", restore_command=f"cp {archive_dir}/%f %p")
    try:
        poll(lambda: count(restored) == 300, "the copy to replay the archive",
             servers=(primary, restored))
        checkpoint_segment = labelfile.splitlines()[0].rsplit("(file ", 1)[1].rstrip(")")
        assert f'restored log file "{checkpoint_segment}" from archive' in restored.log()
    finally:
        restored.stop()
