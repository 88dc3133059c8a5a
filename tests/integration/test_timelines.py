"""Timelines on real processes: a promotion starts a new timeline (history file, segment names,
XLOG_END_OF_RECOVERY naming both timelines, as PostgreSQL 15 writes them), a second standby of
the lost primary follows the promoted one across the switch, and an old primary that wrote WAL
the promoted standby never received is told its history forked (it does not replay the new
timeline over its own)."""

from __future__ import annotations

import os
import shutil
import subprocess

import psycopg
import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.engine import Engine
from mirrordb.storage.control import read_control_file
from tests.integration.test_standby_streaming import (basebackup, execute, poll, start_standby,
                                                      streaming_pair, wait_for_replay_catchup)
from tests.integration.test_switchover import assert_identical
from tests.integration.test_wal_archiving import one
from tests.server_process import start_server

PG_WALDUMP = "/usr/lib/postgresql/15/bin/pg_waldump"


def promote(server) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        assert connection.execute("SELECT pg_promote()").fetchone() == (True,)


def conninfo(server, name: str) -> str:
    return f"host=127.0.0.1 port={server.port} user=postgres application_name={name}"


def test_promotion_starts_timeline_2_and_a_second_standby_follows(template_cluster, tmp_path):
    primary_dir = str(tmp_path / "primary")
    shutil.copytree(template_cluster, primary_dir)
    primary = start_server(primary_dir)
    first = second = None
    try:
        execute(primary, "CREATE TABLE t (id int PRIMARY KEY, note text)",
                "INSERT INTO t SELECT g, 'timeline 1' FROM generate_series(1, 200) g")
        basebackup(primary, str(tmp_path / "first"))
        basebackup(primary, str(tmp_path / "second"))
        first = start_standby(str(tmp_path / "first"))
        second = start_standby(str(tmp_path / "second"))
        execute(primary, "UPDATE t SET note = 'still 1' WHERE id <= 50")
        wait_for_replay_catchup(primary, first)
        wait_for_replay_catchup(primary, second)
        assert primary.stop() == 0
        shutdown = read_control_file(primary_dir)
        for standby in (first, second):
            poll(lambda s=standby: parse_lsn(str(one(s, "SELECT pg_last_wal_replay_lsn()")))
                 > shutdown.checkpoint_lsn, "replay of the shutdown checkpoint",
                 servers=(standby,))

        promote(first)
        switch = parse_lsn(str(one(first, "SELECT pg_current_wal_insert_lsn()")))
        assert "selected new timeline ID: 2" in first.log()
        waldir = os.path.join(first.datadir, "pg_wal")
        with open(os.path.join(waldir, "00000002.history"), "rb") as handle:
            content = handle.read()
        forked = parse_lsn(content.split(b"\t")[1].decode())
        assert content == f"1\t{format_lsn(forked)}\tno recovery target specified\n".encode()
        assert forked <= switch
        assert str(one(first, "SELECT pg_walfile_name(pg_current_wal_lsn())")).startswith(
            "00000002")
        execute(first, "CHECKPOINT")
        assert one(first, "SELECT timeline_id FROM pg_control_checkpoint()") == 2
        # PostgreSQL's own reader sees the new timeline's first record where the old one ends
        dump = subprocess.run([PG_WALDUMP, "-p", waldir, "-t", "2", "-s", format_lsn(forked),
                               "-n", "1"], capture_output=True, text=True, check=False)
        assert "END_OF_RECOVERY tli 2; prev tli 1" in dump.stdout, dump.stdout + dump.stderr

        # the other standby of the lost primary now streams from the promoted one
        execute(second, f"ALTER SYSTEM SET primary_conninfo = '{conninfo(first, 'second')}'",
                "SELECT pg_reload_conf()")
        execute(first, "INSERT INTO t SELECT g, 'timeline 2' FROM generate_series(201, 300) g",
                "DELETE FROM t WHERE id % 7 = 0", "VACUUM t")
        poll(lambda: one(second, "SELECT count(*) FROM t WHERE note = 'timeline 2'") == 86,
             "the second standby to follow timeline 2", servers=(first, second))
        assert "new target timeline is 2" in second.log()
        assert one(second, "SELECT received_tli FROM pg_stat_wal_receiver") == 2
        assert_identical(first, second)
    finally:
        for server in (second, first, primary):
            if server is not None:
                server.stop()


def test_an_old_primary_with_wal_of_its_own_does_not_follow(template_cluster, tmp_path):
    """Emergency failover: the standby is promoted while the primary still wrote WAL it never
    received. Restarted as a standby of the promoted server, the old primary replays its own
    WAL, then finds that the new timeline forked off before that point: it says so and stays
    on its own history (it must be rebuilt) instead of replaying timeline 2 over it."""
    with streaming_pair(template_cluster, str(tmp_path),
                        "CREATE TABLE t (id int PRIMARY KEY, note text)",
                        "INSERT INTO t SELECT g, 'shared' FROM generate_series(1, 100) g"
                        ) as (primary, first_run):
        assert first_run.stop() == 0          # the standby misses what comes next
        execute(primary, "INSERT INTO t SELECT g, 'lost' FROM generate_series(101, 150) g")
        primary.kill()                        # the primary fails

        standby = start_standby(first_run.datadir, first_run.port)
        old = None
        try:
            promote(standby)
            execute(standby, "INSERT INTO t SELECT g, 'new' FROM generate_series(101, 120) g")
            open(os.path.join(primary.datadir, "standby.signal"), "w").close()
            old = start_standby(primary.datadir, primary.port,
                                primary_conninfo=conninfo(standby, "old"))
            poll(lambda: "forked off current database system timeline 1 before current "
                         "recovery point" in old.log(),
                 "the old primary to see the fork", servers=(old, standby))
            assert "new timeline 2 forked off" in old.log()
            # its walreceiver asks for timeline 1 past the fork: the new primary refuses
            poll(lambda: "could not start WAL streaming: ERROR:  requested starting point "
                         in old.log(), "the walsender's refusal", servers=(old, standby))
            assert "on timeline 1 is not in this server's history" in old.log()
            assert "This server's history forked from timeline 1 at " in old.log()
            assert "new target timeline is 2" not in old.log()
            assert one(old, "SELECT count(*) FROM t WHERE note = 'lost'") == 50
            assert one(old, "SELECT count(*) FROM t WHERE note = 'new'") == 0
        finally:
            if old is not None:
                old.stop()
            standby.stop()


@pytest.mark.parametrize("value, message", [
    ("7", "recovery target timeline 7 does not exist"),
    ("seven", 'invalid value for parameter "recovery_target_timeline": "seven"'),
])
def test_a_recovery_target_timeline_that_cannot_be_followed(template_cluster, tmp_path, value,
                                                             message):
    datadir = str(tmp_path / "standby")
    shutil.copytree(template_cluster, datadir)
    open(os.path.join(datadir, "standby.signal"), "w").close()
    with pytest.raises(MirrordbError) as caught:
        Engine.open(datadir, {"recovery_target_timeline": value}, standby_mode=True)
    assert caught.value.message == message
