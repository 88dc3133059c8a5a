"""A streaming standby replays HOT updates, pruning of full pages and VACUUM of HOT chains into
pages byte-identical to the primary's (``mirrordb compare``), and answers index scans through the
chains while it replays."""

from __future__ import annotations

import psycopg

from tests.integration.test_standby_streaming import (basebackup, compare, execute, primary,
                                                      start_standby, wait_for_replay_catchup,
                                                      wait_for_restartpoint_at)
from mirrordb.storage.control import read_control_file

__all__ = ["primary"]     # the fixture, imported for pytest


def test_hot_updates_prunes_and_vacuum_replay_identically(primary, tmp_path):
    execute(primary, "CREATE TABLE tellers (tid int PRIMARY KEY, bid int, tbalance int, "
                     "filler char(84))",
            "INSERT INTO tellers SELECT g, g / 10, 0, '' FROM generate_series(1, 20) g")
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir)
    try:
        with psycopg.connect(primary.dsn(), autocommit=True) as connection:
            for round_number in range(400):     # about 20 page fills: HOT, then pruning
                connection.execute("UPDATE tellers SET tbalance = tbalance + 1 WHERE tid = %s",
                                   ((round_number % 20) + 1,))
            connection.execute("DELETE FROM tellers WHERE tid > 18")
            for round_number in range(200):
                connection.execute("UPDATE tellers SET tbalance = tbalance + 1 WHERE tid = %s",
                                   ((round_number % 18) + 1,))
        wait_for_replay_catchup(primary, standby)
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            assert connection.execute(
                "SELECT tbalance FROM tellers WHERE tid = 5").fetchone() == (31,)
        execute(primary, "VACUUM tellers", "UPDATE tellers SET bid = 7 WHERE tid = 1")
        wait_for_replay_catchup(primary, standby)
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            assert connection.execute(
                "SELECT count(*), sum(tbalance) FROM tellers").fetchone() == (18, 600 - 40)
        assert primary.stop() == 0
        wait_for_restartpoint_at(standby, read_control_file(primary.datadir).checkpoint.redo)
        assert standby.stop() == 0
        result = compare(primary.datadir, standby_dir)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        standby.stop()
