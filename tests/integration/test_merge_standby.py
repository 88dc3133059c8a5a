"""MERGE and stored generated columns on a primary with a streaming standby: the standby
replays what MERGE's actions wrote (inserts, updates, deletes, generated values), shows the
same rows and system columns (xmin is the primary's, the page being a copy), knows the column
is generated (pg_attribute.attgenerated, replayed as any catalog row), refuses MERGE itself as
a read-only transaction (25006), and ends page for page equal to its primary."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.test_standby_streaming import (execute, stop_pair_and_compare,
                                                      streaming_pair, wait_for_replay_catchup)
from tests.server_process import RunningServer

SETUP = ("CREATE TABLE item (id int PRIMARY KEY, qty int, "
         "total int GENERATED ALWAYS AS (qty * 10) STORED)",
         "INSERT INTO item (id, qty) SELECT g, g FROM generate_series(1, 50) g")
MERGES = (
    "MERGE INTO item i USING generate_series(40, 80) g ON i.id = g "
    "WHEN MATCHED AND g % 2 = 0 THEN UPDATE SET qty = i.qty + 1 "
    "WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT (id, qty) VALUES (g, 0)",
)
ANSWERS = ("SELECT count(*), sum(qty), sum(total) FROM item",
           "SELECT id, qty, total, xmin::text, cmin::text FROM item WHERE id % 9 = 0 "
           "ORDER BY id",
           "SELECT attname, attgenerated FROM pg_attribute WHERE attrelid = 'item'::regclass "
           "AND attnum > 0 ORDER BY attnum")


def test_standby_replays_merge_and_generated_columns(template_cluster, tmp_path) -> None:
    with streaming_pair(template_cluster, str(tmp_path), *SETUP) as (primary, standby):
        execute(primary, *MERGES)
        wait_for_replay_catchup(primary, standby)
        expected = _answers(primary)
        assert _answers(standby) == expected
        # 1..39 untouched, 40..50 even ones updated and odd ones deleted, 51..80 inserted
        assert expected[0] == [(39 + 6 + 30, sum(range(1, 40)) + sum(
            g + 1 for g in range(40, 51, 2)), 10 * (sum(range(1, 40)) + sum(
                g + 1 for g in range(40, 51, 2))))]
        assert expected[2] == [("id", ""), ("qty", ""), ("total", "s")]
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction,
                               match="cannot execute MERGE in a read-only transaction"):
                connection.execute(MERGES[0])
        stop_pair_and_compare(primary, standby)


def _answers(server: RunningServer) -> list[list[tuple[object, ...]]]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return [connection.execute(query).fetchall() for query in ANSWERS]
