"""Cascading replication on real processes (MISSION.md): a standby relays the WAL it receives
to a standby of its own, which ends up identical to the primary page for page; when the
middle standby is promoted, the one below it follows onto the new timeline without being
reconfigured (its upstream ends the old timeline at the switch point and goes on with the
new one)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import psycopg

from mirrordb.common.lsn import parse_lsn
from mirrordb.storage.control import read_control_file
from tests.integration.test_hot_standby_feedback import backend_xmin, vacuum_verbose
from tests.integration.test_standby_streaming import (basebackup, execute, poll, start_standby,
                                                      wait_for_replay_catchup)
from tests.integration.test_switchover import assert_identical
from tests.integration.test_timelines import conninfo, promote
from tests.integration.test_wal_archiving import one
from tests.server_process import start_server


def replayed_past(server, lsn: int) -> bool:
    return parse_lsn(str(one(server, "SELECT pg_last_wal_replay_lsn()"))) > lsn


@contextlib.contextmanager
def chain(template_cluster: str, tmp_path, **standby_settings: str) -> Iterator[tuple]:
    """A primary with table t (100 rows), a standby of it ("middle") and a standby of that
    one ("last"), both made from base backups of the primary; all stopped afterwards."""
    primary_dir = str(tmp_path / "primary")
    shutil.copytree(template_cluster, primary_dir)
    primary = start_server(primary_dir)
    middle = last = None
    try:
        execute(primary, "CREATE TABLE t (id int PRIMARY KEY, note text)",
                "INSERT INTO t SELECT g, 'first' FROM generate_series(1, 100) g")
        basebackup(primary, str(tmp_path / "middle"))
        basebackup(primary, str(tmp_path / "last"))
        middle = start_standby(str(tmp_path / "middle"), **standby_settings)
        last = start_standby(str(tmp_path / "last"), primary_conninfo=conninfo(middle, "last"),
                             **standby_settings)
        yield primary, middle, last
    finally:
        for server in (last, middle, primary):
            if server is not None:
                server.stop()


def test_a_standby_relays_to_a_standby_of_its_own(template_cluster, tmp_path):
    with chain(template_cluster, tmp_path) as (primary, middle, last):
        execute(primary, "INSERT INTO t SELECT g, 'relayed' FROM generate_series(101, 400) g",
                "UPDATE t SET note = 'changed' WHERE id % 3 = 0", "VACUUM t")
        poll(lambda: one(last, "SELECT count(*) FROM t WHERE note = 'relayed'") == 200,
             "the last standby to replay what the middle one relays",
             servers=(primary, middle, last))
        with psycopg.connect(middle.dsn(), autocommit=True) as connection:
            assert connection.execute("SELECT application_name, state FROM "
                                      "pg_stat_replication").fetchall() == [("last", "streaming")]
        with psycopg.connect(primary.dsn(), autocommit=True) as connection:
            assert [row[0] for row in connection.execute(
                "SELECT application_name FROM pg_stat_replication").fetchall()] == ["walreceiver"]

        # the primary goes; the middle standby is promoted; the last one follows it
        wait_for_replay_catchup(primary, middle)
        assert primary.stop() == 0
        shutdown_lsn = read_control_file(primary.datadir).checkpoint_lsn
        poll(lambda: replayed_past(last, shutdown_lsn), "the shutdown checkpoint to arrive",
             servers=(middle, last))
        promote(middle)
        execute(middle, "INSERT INTO t SELECT g, 'timeline 2' FROM generate_series(401, 450) g")
        poll(lambda: one(last, "SELECT count(*) FROM t WHERE note = 'timeline 2'") == 50,
             "the last standby to follow its upstream's promotion", servers=(middle, last))
        log = last.log()
        assert "new target timeline is 2" in log
        assert "restarted WAL streaming at " in log and "on timeline 2" in log
        assert_identical(middle, last)


def test_hot_standby_feedback_comes_up_the_cascade(template_cluster, tmp_path):
    """A query on the last standby of a chain holds back VACUUM on the primary: its xmin goes
    to the middle standby's walsender, which counts it in the middle standby's own feedback
    (MISSION.md: the primary gets feedback from the whole cascade)."""
    with chain(template_cluster, tmp_path, hot_standby_feedback="on") as (primary, middle, last):
        poll(lambda: one(last, "SELECT count(*) FROM t") == 100, "the chain to replay",
             servers=(primary, middle, last))
        with psycopg.connect(last.dsn()) as reader:
            reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            assert reader.execute("SELECT count(*) FROM t").fetchone() == (100,)
            held = poll(lambda: one(middle, "SELECT max(backend_xmin::text) FROM "
                                            "pg_stat_replication"),
                        "the last standby's xmin at the middle one", servers=(middle, last))
            poll(lambda: backend_xmin(primary) == held, "that xmin at the primary",
                 servers=(primary, middle, last))
            execute(primary, "DELETE FROM t WHERE id <= 40")
            assert vacuum_verbose(primary, "t") == (0, 100, 40)
            assert reader.execute("SELECT count(*) FROM t").fetchone() == (100,)
        removed: list[tuple[int, int, int]] = []
        poll(lambda: removed.append(vacuum_verbose(primary, "t")) or removed[-1][0] > 0,
             "VACUUM to remove the rows once the query ended", servers=(primary, middle, last))
        assert removed[-1] == (40, 60, 0)
