"""Continuous archiving on a primary (archive_mode, archive_command), real processes.

* Every finished segment (filled, or ended by pg_switch_wal()) is given to archive_command, in
  order; the archive holds byte-identical copies, pg_wal/archive_status marks them done, and
  pg_stat_archiver counts them; pg_stat_reset_shared('archiver') starts the counters again.
* A failing archive_command is logged with PostgreSQL's words, tried three times, counted as
  failed, and tried again later; meanwhile the segment stays in pg_wal (a checkpoint keeps it)
  and pg_backup_stop() waits for it (a statement timeout ends that wait); once the command
  succeeds everything is archived in order.
* archive_timeout switches segments by itself, so what was written reaches the archive.
* pg_backup_stop() waits until the backup's last segment and its history file are archived.
* archive_mode with wal_level = minimal refuses to start, as PostgreSQL does.
"""

from __future__ import annotations

import filecmp
import os
import shutil

import psycopg
import pytest

from tests.integration.test_standby_streaming import execute, poll
from tests.server_process import start_server

SEGMENT_NAME_LENGTH = 24


def archiving_primary(template_cluster: str, tmp_path, **settings: str):
    """A primary archiving into ``tmp_path/archive`` with a command that refuses to overwrite
    (PostgreSQL's documented example)."""
    datadir = str(tmp_path / "primary")
    shutil.copytree(template_cluster, datadir)
    archive_dir = str(tmp_path / "archive")
    os.makedirs(archive_dir)
    settings.setdefault("archive_mode", "on")
    settings.setdefault("archive_command",
                        f"test ! -f {archive_dir}/%f && cp %p {archive_dir}/%f")
    return start_server(datadir, **settings), archive_dir


@pytest.fixture
def archiving(template_cluster, tmp_path):
    server, archive_dir = archiving_primary(template_cluster, tmp_path)
    yield server, archive_dir
    server.stop()


def one(server, sql: str) -> object:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute(sql).fetchone()
    assert row is not None
    return row[0]


def stats(server) -> tuple:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute(
            "SELECT archived_count, last_archived_wal, failed_count, last_failed_wal "
            "FROM pg_stat_archiver").fetchone()
    assert row is not None
    return tuple(row)


def finish_segment(server) -> str:
    """Write something and switch: the name of the segment that was finished."""
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS a (id int)")
        connection.execute("INSERT INTO a SELECT g FROM generate_series(1, 100) g")
        name = connection.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
        connection.execute("SELECT pg_switch_wal()")
    return str(name)


def status_files(server) -> list[str]:
    return sorted(os.listdir(os.path.join(server.datadir, "pg_wal", "archive_status")))


def segments_in(directory: str) -> list[str]:
    return sorted(name for name in os.listdir(directory) if len(name) == SEGMENT_NAME_LENGTH)


def test_finished_segments_are_archived_in_order(archiving):
    server, archive_dir = archiving
    assert stats(server) == (0, None, 0, None)
    first, second = finish_segment(server), finish_segment(server)
    poll(lambda: stats(server)[:2] == (2, second), "both segments archived", servers=(server,))
    assert segments_in(archive_dir) == [first, second]
    for name in (first, second):
        assert filecmp.cmp(os.path.join(archive_dir, name),
                           os.path.join(server.datadir, "pg_wal", name), shallow=False)
        assert f"{name}.done" in status_files(server)
    assert not [name for name in status_files(server) if name.endswith(".ready")]

    assert one(server, "SELECT pg_stat_reset_shared('archiver')") == ""
    assert stats(server) == (0, None, 0, None)
    assert one(server, "SELECT stats_reset IS NOT NULL FROM pg_stat_archiver") is True
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        with pytest.raises(psycopg.Error) as caught:
            connection.execute("SELECT pg_stat_reset_shared('bogus')")
        assert caught.value.sqlstate == "22023"
        assert caught.value.diag.message_primary == 'unrecognized reset target: "bogus"'
        connection.execute("CREATE ROLE plain LOGIN")
    with psycopg.connect(server.dsn(user="plain"), autocommit=True) as connection:
        with pytest.raises(psycopg.Error) as caught:
            connection.execute("SELECT pg_stat_reset_shared('archiver')")
        assert caught.value.sqlstate == "42501"


def test_a_failing_command_keeps_the_segment_until_it_succeeds(archiving):
    server, archive_dir = archiving
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.execute("CREATE TABLE a (id int)")
        blocked = str(connection.execute(
            "SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0])
        # the archive already holds a file of that name: the command refuses to overwrite it
        open(os.path.join(archive_dir, blocked), "wb").close()
        connection.execute("SELECT pg_switch_wal()")
    poll(lambda: stats(server)[2] >= 3, "three failed attempts", servers=(server,))
    assert stats(server)[:1] == (0,) and stats(server)[3] == blocked
    log = server.log()
    assert "LOG:  archive command failed with exit code 1" in log
    assert f"DETAIL:  The failed archive command was: test ! -f {archive_dir}/{blocked}" in log
    assert (f'WARNING:  archiving write-ahead log file "{blocked}" failed too many times, '
            "will try again later") in log
    assert f"{blocked}.ready" in status_files(server)
    execute(server, "CHECKPOINT", "CHECKPOINT")
    assert os.path.exists(os.path.join(server.datadir, "pg_wal", blocked))

    # a backup's stop waits for its WAL to be archived; a statement timeout ends the wait
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.execute("SELECT pg_backup_start('waits')")
        connection.execute("SET statement_timeout = '1500ms'")
        with pytest.raises(psycopg.Error) as caught:
            connection.execute("SELECT pg_backup_stop()")
        assert caught.value.sqlstate == "57014"

    os.unlink(os.path.join(archive_dir, blocked))
    later = finish_segment(server)         # its .ready wakes the archiver
    poll(lambda: stats(server)[1] == later, "the blocked segment and the later ones archived",
         servers=(server,))
    archived = segments_in(archive_dir)
    assert archived[0] == blocked and archived[-1] == later and archived == sorted(archived)
    assert not [name for name in status_files(server) if name.endswith(".ready")]
    execute(server, "CHECKPOINT")
    assert not os.path.exists(os.path.join(server.datadir, "pg_wal", blocked))


def test_archive_timeout_switches_segments(template_cluster, tmp_path):
    server, archive_dir = archiving_primary(template_cluster, tmp_path, archive_timeout="1")
    try:
        assert one(server, "SHOW archive_timeout") == "1s"
        with psycopg.connect(server.dsn(), autocommit=True) as connection:
            connection.execute("CREATE TABLE a (id int)")
            connection.execute("INSERT INTO a VALUES (1)")
            written = str(connection.execute(
                "SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0])
        poll(lambda: written in segments_in(archive_dir),
             "archive_timeout to finish the segment with the row", servers=(server,))
    finally:
        server.stop()


def test_pg_backup_stop_waits_for_its_wal_to_be_archived(archiving):
    server, archive_dir = archiving
    notices: list[str] = []
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.add_notice_handler(lambda notice: notices.append(notice.message_primary))
        connection.execute("SELECT pg_backup_start('nightly', fast => true)")
        connection.execute("CREATE TABLE during (id int)")
        label = str(connection.execute("SELECT labelfile FROM pg_backup_stop()").fetchone()[0])
    assert notices == ["all required WAL segments have been archived"]
    start_line = label.splitlines()[0]       # START WAL LOCATION: 0/X (file NAME)
    start_segment = start_line.rsplit("(file ", 1)[1].rstrip(")")
    histories = [name for name in os.listdir(archive_dir) if name.endswith(".backup")]
    assert len(histories) == 1 and histories[0].startswith(start_segment + ".")
    with open(os.path.join(archive_dir, histories[0]), encoding="utf-8") as handle:
        history = handle.read().splitlines()
    assert history[0] == start_line
    assert history[1].startswith("STOP WAL LOCATION: ")
    assert "LABEL: nightly" in history and history[-1] == "STOP TIMELINE: 1"
    stop_segment = history[1].rsplit("(file ", 1)[1].rstrip(")")
    assert stop_segment in segments_in(archive_dir)


def test_archive_mode_needs_more_than_minimal_wal(template_cluster, tmp_path):
    datadir = str(tmp_path / "minimal")
    shutil.copytree(template_cluster, datadir)
    with pytest.raises(RuntimeError) as caught:
        start_server(datadir, wal_level="minimal", max_wal_senders="0", archive_mode="on")
    assert 'FATAL:  WAL archival cannot be enabled when wal_level is "minimal"' in \
        str(caught.value)
