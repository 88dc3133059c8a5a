"""INSERT ... ON CONFLICT on a primary with a streaming standby: the standby replays the
inserts and updates the upserts made (plain, HOT and key-changing updates, skipped rows, an
aborted upsert), answers with the same rows, refuses an upsert itself as a read-only
transaction (25006), and ends page for page equal to its primary (``mirrordb compare``)."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.test_standby_streaming import (execute, stop_pair_and_compare,
                                                      streaming_pair, wait_for_replay_catchup)
from tests.server_process import RunningServer

UPSERTS = (
    "INSERT INTO u SELECT g, g % 10, 'v' || g FROM generate_series(1, 500) g "
    "ON CONFLICT DO NOTHING",
    "INSERT INTO u SELECT g, 0, 'again' FROM generate_series(250, 750) g "
    "ON CONFLICT (id) DO NOTHING",
    "INSERT INTO u AS x SELECT g, g % 3, 'upd' FROM generate_series(1, 900, 7) g "
    "ON CONFLICT (id) DO UPDATE SET note = x.note || '+' || excluded.note",
    "INSERT INTO u SELECT g, 99, 'grp' FROM generate_series(1, 300, 11) g "
    "ON CONFLICT (id) DO UPDATE SET grp = excluded.grp WHERE u.id % 2 = 0",
    "INSERT INTO u VALUES (5, 1, 'x') ON CONFLICT (id) DO UPDATE SET id = 5005",
    "BEGIN", "INSERT INTO u VALUES (6, 1, 'gone') ON CONFLICT (id) DO UPDATE SET note = 'gone'",
    "INSERT INTO u VALUES (9001, 1, 'gone') ON CONFLICT DO NOTHING", "ROLLBACK",
    "INSERT INTO u VALUES (7, 1, 'x') ON CONFLICT ON CONSTRAINT u_pkey DO NOTHING",
)


def test_standby_replays_upserts_page_for_page(template_cluster, tmp_path) -> None:
    setup = ("CREATE TABLE u (id int PRIMARY KEY, grp int, note text)",
             "CREATE INDEX u_grp ON u (grp)")
    with streaming_pair(template_cluster, str(tmp_path), *setup) as (primary, standby):
        execute(primary, *UPSERTS)
        wait_for_replay_catchup(primary, standby)
        expected = _answers(primary)
        assert _answers(standby) == expected
        # ids 1..750, and 751..900 step 7 inserted by the third upsert; grp 99 on the even
        # ids of 1..300 step 11
        assert expected[0] == (750 + 21, 99 * 14)
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction,
                               match="cannot execute INSERT in a read-only transaction"):
                connection.execute("INSERT INTO u VALUES (1, 1, 'x') ON CONFLICT DO NOTHING")

        # the same position on both sides, then a page-for-page comparison
        stop_pair_and_compare(primary, standby)


def _answers(server: RunningServer) -> tuple[tuple[object, ...], list[tuple[object, ...]]]:
    """A summary of the table, and rows read through each index."""
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        summary = connection.execute(
            "SELECT count(*), sum(grp) FILTER (WHERE grp = 99) FROM u").fetchone()
        rows = connection.execute(
            "SELECT id, grp, note FROM u WHERE id IN (1, 5, 6, 7, 8, 5005, 9001) OR grp = 99 "
            "ORDER BY id").fetchall()
    return summary, rows
