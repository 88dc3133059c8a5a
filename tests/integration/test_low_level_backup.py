"""PostgreSQL's low-level backup API on real servers: pg_backup_start, a file copy made by
the user while the primary keeps committing, pg_backup_stop, the returned label stored as
``backup_label``; the copy then starts and holds every row committed before the stop. The same
from a hot standby (the label says "BACKUP FROM: standby"; the copy streams from the primary).
Messages and rules as PostgreSQL 15's (read off it): one backup per session, across its
transactions; superuser only; a session that ends first abandons its backup.
"""

from __future__ import annotations

import os
import re
import shutil

import psycopg
import pytest

from mirrordb.common.lsn import parse_lsn
from tests.integration.test_standby_streaming import (execute, poll, start_standby,
                                                      streaming_pair, wait_for_replay_catchup)
from tests.server_process import RunningServer, start_server

CONTROL_FILE = os.path.join("global", "pg_control")


def copy_cluster(source: str, target: str) -> None:
    """What a user's file copy does during the backup: every file but the server's own
    runtime ones and the WAL (copied after the stop); pg_control last, as the backup of a
    standby needs (its minRecoveryPoint must cover every page copied before it)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(
        "postmaster.pid", "postmaster.opts", ".s.PGSQL.*", "pg_control", "pg_wal"))
    shutil.copy2(os.path.join(source, CONTROL_FILE), os.path.join(target, CONTROL_FILE))


def finish_copy(source: str, target: str, labelfile: str) -> None:
    """After pg_backup_stop: the WAL the backup needs, and the label."""
    shutil.copytree(os.path.join(source, "pg_wal"), os.path.join(target, "pg_wal"))
    with open(os.path.join(target, "backup_label"), "w", encoding="utf-8") as handle:
        handle.write(labelfile)


def count(server: RunningServer, table: str = "t") -> int:
    with server.connect(autocommit=True) as connection:
        row = connection.execute(f"select count(*) from {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_backup_of_a_busy_primary_restores_every_committed_row(template_cluster, tmp_path):
    source = str(tmp_path / "primary")
    shutil.copytree(template_cluster, source)
    primary = start_server(source)
    restored = None
    try:
        execute(primary, "create table t (id int primary key, val text)",
                "insert into t select g, 'before' from generate_series(1, 500) g")
        backup = primary.connect(autocommit=True)
        writer = primary.connect(autocommit=True)
        notices: list[str] = []
        backup.add_notice_handler(lambda notice: notices.append(notice.message_primary))
        start_row = backup.execute("select pg_backup_start('nightly', fast => true)").fetchone()
        assert start_row is not None
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState,
                           match="a backup is already in progress in this session"):
            backup.execute("select pg_backup_start('again')")
        target = str(tmp_path / "copy")
        writer.execute("insert into t select g, 'during' from generate_series(501, 800) g")
        copy_cluster(source, target)
        writer.execute("update t set val = 'changed' where id <= 100")
        backup.execute("begin")                       # the backup outlives transactions
        lsn, labelfile, spcmapfile = backup.execute(
            "select * from pg_backup_stop(wait_for_archive => true)").fetchone()
        backup.execute("commit")
        assert notices == ["WAL archiving is not enabled; you must ensure that all required "
                           "WAL segments are copied through other means to complete the backup"]
        assert parse_lsn(str(lsn)) > parse_lsn(str(start_row[0])) and spcmapfile == ""
        assert labelfile.startswith(f"START WAL LOCATION: {start_row[0]} (file ")
        assert "BACKUP FROM: primary\n" in labelfile and "LABEL: nightly\n" in labelfile
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState,
                           match="backup is not in progress"):
            backup.execute("select pg_backup_stop()")
        finish_copy(source, target, labelfile)
        primary.stop()
        restored = start_server(target)
        assert count(restored) == 800
        with restored.connect(autocommit=True) as connection:
            assert connection.execute("select count(*) from t where val = 'changed'"
                                      ).fetchone() == (100,)
            assert connection.execute("select pg_is_in_recovery()").fetchone() == (False,)
            connection.execute("insert into t values (801, 'after')")   # a primary now
    finally:
        if restored is not None:
            restored.stop()
        primary.stop()


def test_rules_and_an_abandoned_backup(template_cluster, tmp_path):
    source = str(tmp_path / "primary")
    shutil.copytree(template_cluster, source)
    primary = start_server(source)
    try:
        with primary.connect(autocommit=True) as connection:
            assert connection.execute("select pg_backup_start(null)").fetchone() == (None,)
            with pytest.raises(psycopg.errors.InvalidParameterValue,
                               match=r"backup label too long \(max 1024 bytes\)"):
                connection.execute("select pg_backup_start(repeat('x', 1025))")
            connection.execute("create role plain login")
            assert connection.execute("select pg_create_restore_point('before upgrade') "
                                      "is not null").fetchone() == (True,)
            with pytest.raises(psycopg.errors.InvalidParameterValue, match=re.escape(
                    "value too long for restore point (maximum 63 characters)")):
                connection.execute("select pg_create_restore_point(repeat('y', 64))")
        with psycopg.connect(primary.dsn(user="plain"), autocommit=True) as connection:
            for call in ("pg_backup_start('x')", "pg_backup_stop()",
                         "pg_create_restore_point('x')"):
                name = call.split("(")[0]
                with pytest.raises(psycopg.errors.InsufficientPrivilege,
                                   match=f"permission denied for function {name}"):
                    connection.execute(f"select {call}")
        with primary.connect(autocommit=True) as connection:
            connection.execute("select pg_backup_start('left open')")
        poll(lambda: "aborting backup due to backend exiting before pg_backup_stop was called"
             in primary.log(), "the abandoned backup is logged")
    finally:
        primary.stop()


def test_backup_of_a_standby_streams_as_a_standby(template_cluster, tmp_path):
    restored = None
    setup = ("create table t (id int primary key)",
             "insert into t select g from generate_series(1, 300) g")
    with streaming_pair(template_cluster, str(tmp_path), *setup) as (primary, standby):
        try:
            with standby.connect(autocommit=True) as connection:
                start_lsn = connection.execute("select pg_backup_start('from standby')"
                                               ).fetchone()[0]
                execute(primary, "insert into t select g from generate_series(301, 400) g")
                wait_for_replay_catchup(primary, standby)
                target = str(tmp_path / "copy")
                copy_cluster(standby.datadir, target)
                lsn, labelfile, _ = connection.execute("select * from pg_backup_stop(false)"
                                                       ).fetchone()
            assert "BACKUP FROM: standby\n" in labelfile
            assert parse_lsn(str(lsn)) >= parse_lsn(str(start_lsn))
            finish_copy(standby.datadir, target, labelfile)
            assert os.path.exists(os.path.join(target, "standby.signal"))
            restored = start_standby(target)
            assert count(restored) >= 400
            execute(primary, "insert into t select g from generate_series(401, 450) g")
            wait_for_replay_catchup(primary, restored)
            assert count(restored) == 450
        finally:
            if restored is not None:
                restored.stop()
