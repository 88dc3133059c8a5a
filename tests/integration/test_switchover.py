"""A planned switchover by hand, as MISSION.md's use case and README describe it, on real
processes: the primary is stopped cleanly (its walsender ships everything up to the shutdown
checkpoint), the standby is promoted, and the old primary comes back as a standby of the new
one (standby.signal and primary_conninfo), streaming from where its own WAL ends. Then the
roles are switched back the same way. After each reversal the two data directories are
identical page for page (``mirrordb compare``).
"""

from __future__ import annotations

import os

import psycopg

from mirrordb.common.lsn import parse_lsn
from mirrordb.storage.control import read_control_file
from tests.integration.test_standby_streaming import (compare, execute, poll, start_standby,
                                                      streaming_pair, wait_for_replay_catchup,
                                                      wait_for_restartpoint_at)


def count(server) -> int:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute("SELECT count(*) FROM t").fetchone()
    assert row is not None
    return int(row[0])


def replayed_past(standby, lsn: int) -> bool:
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        row = connection.execute("SELECT pg_last_wal_replay_lsn()").fetchone()
    return row is not None and parse_lsn(str(row[0])) > lsn


def switch_over(primary, standby):
    """Stop ``primary`` cleanly, promote ``standby`` once it has the shutdown checkpoint,
    restart the old primary as the new one's standby: (new primary, new standby)."""
    assert primary.stop() == 0
    shutdown_lsn = read_control_file(primary.datadir).checkpoint_lsn
    poll(lambda: replayed_past(standby, shutdown_lsn),
         "the standby to replay the primary's shutdown checkpoint", servers=(standby,))
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        assert connection.execute("SELECT pg_promote()").fetchone() == (True,)
    open(os.path.join(primary.datadir, "standby.signal"), "w").close()
    follower = start_standby(primary.datadir, primary.port,
                             primary_conninfo=f"host=127.0.0.1 port={standby.port} "
                                              "user=postgres application_name=follower")
    return standby, follower


def assert_identical(primary, standby):
    """A checkpoint on the primary, the standby's restartpoint at it, both stopped: the data
    directories match page for page."""
    execute(primary, "CHECKPOINT")
    wait_for_replay_catchup(primary, standby)
    assert primary.stop() == 0
    wait_for_restartpoint_at(standby, read_control_file(primary.datadir).checkpoint.redo)
    assert standby.stop() == 0
    result = compare(primary.datadir, standby.datadir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_planned_switchover_and_back(template_cluster, tmp_path):
    with streaming_pair(template_cluster, str(tmp_path),
                        "CREATE TABLE t (id int PRIMARY KEY, note text)",
                        "INSERT INTO t SELECT g, 'first' FROM generate_series(1, 100) g"
                        ) as (first, second):
        execute(first, "INSERT INTO t SELECT g, 'before' FROM generate_series(101, 200) g")
        wait_for_replay_catchup(first, second)

        primary, follower = switch_over(first, second)
        try:
            execute(primary, "INSERT INTO t SELECT g, 'after' FROM generate_series(201, 300) g",
                    "UPDATE t SET note = 'changed' WHERE id % 10 = 0", "VACUUM t")
            poll(lambda: count(follower) == 300, "the old primary to follow the new one",
                 servers=(primary, follower))
            with psycopg.connect(primary.dsn(), autocommit=True) as connection:
                assert connection.execute(
                    "SELECT application_name, state FROM pg_stat_replication").fetchall() == \
                    [("follower", "streaming")]
            # and back: the old primary is the primary again, the old standby its standby
            primary, follower = switch_over(primary, follower)
            execute(primary, "DELETE FROM t WHERE id > 250")
            poll(lambda: count(follower) == 250, "the second reversal to stream",
                 servers=(primary, follower))
            assert_identical(primary, follower)
        finally:
            follower.stop()
            primary.stop()
