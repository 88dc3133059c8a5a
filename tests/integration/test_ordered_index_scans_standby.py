"""Ordered index scans on a streaming hot standby: the standby's B-tree pages are the
primary's (replayed WAL), so it answers ORDER BY ... LIMIT and max() through the same index,
read in the same direction, with the same rows, also after rows inserted on the primary
split the leaves it reads."""

from __future__ import annotations

import psycopg

from tests.integration.test_standby_streaming import (execute, streaming_pair,
                                                      wait_for_replay_catchup)

SETUP = ("CREATE TABLE events (id int PRIMARY KEY, created_at int, note text)",
         "CREATE INDEX events_created ON events (created_at)",
         "INSERT INTO events SELECT g, g * 7 % 1009, 'e' || g FROM generate_series(1, 2000) g")
NEWEST = "SELECT id FROM events ORDER BY id DESC LIMIT 3"


def query(server, sql: str) -> list[tuple]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return connection.execute(sql).fetchall()


def test_standby_answers_order_by_limit_through_the_index(template_cluster, tmp_path):
    with streaming_pair(template_cluster, str(tmp_path), *SETUP) as (primary, standby):
        execute(primary, "INSERT INTO events SELECT g, 5000, 'late' FROM "
                         "generate_series(2001, 2600) g")
        wait_for_replay_catchup(primary, standby)
        assert query(standby, NEWEST) == query(primary, NEWEST) == [(2600,), (2599,), (2598,)]
        assert query(standby, "EXPLAIN " + NEWEST) == [
            ("Limit",), ("  ->  Index Scan Backward using events_pkey on events",)]
        latest = "SELECT created_at FROM events ORDER BY created_at DESC LIMIT 2"
        assert query(standby, latest) == query(primary, latest) == [(5000,), (5000,)]
        assert query(standby, "EXPLAIN " + latest)[1] == (
            "  ->  Index Scan Backward using events_created on events",)
        maximum = "SELECT max(created_at), min(id) FROM events"
        assert query(standby, maximum) == query(primary, maximum) == [(5000, 1)]
        assert query(standby, "EXPLAIN " + maximum)[0] == ("Result",)
