"""Hot standby end to end: a real primary and a real streaming standby (``mirrordb basebackup -R``
then ``mirrordb server``), psycopg on the standby. Every refused statement of MISSION.md fails
with PostgreSQL 15's SQLSTATE and words; every allowed one works; committed rows appear, rows of
a transaction still open on the primary never do."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.test_hot_standby_statements import ALLOWED, REFUSED
from tests.integration.test_standby_streaming import poll, streaming_pair, wait_for_replay_catchup


@pytest.fixture(scope="module")
def servers(tmp_path_factory, template_cluster):
    with streaming_pair(template_cluster, str(tmp_path_factory.mktemp("hot_standby_server")),
                        "CREATE TABLE t (id int PRIMARY KEY, val text)",
                        "INSERT INTO t VALUES (1, 'one'), (2, 'two')", "CREATE SEQUENCE s",
                        wal_keep_size="256MB") as pair:
        yield pair


def run_script(connection: psycopg.Connection, sql: str) -> list[tuple]:
    rows: list[tuple] = []
    with connection.cursor() as cursor:
        for statement in sql.split("; "):
            cursor.execute(statement.encode())   # bytes: no client-side parameter parsing
            if cursor.description is not None:
                rows = cursor.fetchall()
    return rows


@pytest.mark.parametrize(("sql", "sqlstate", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused(servers, sql, sqlstate, message):
    _, standby = servers
    if "copy t from" in sql:
        pytest.skip("COPY FROM STDIN needs a copy-in exchange; covered without the wire")
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        with pytest.raises(psycopg.Error) as caught:
            run_script(connection, sql)
    assert (caught.value.sqlstate, caught.value.diag.message_primary) == (sqlstate, message)


@pytest.mark.parametrize(("sql", "expected"), ALLOWED, ids=[a[0] for a in ALLOWED])
def test_allowed(servers, sql, expected):
    _, standby = servers
    if sql.startswith("copy"):
        pytest.skip("COPY TO STDOUT needs a copy-out reader; covered without the wire")
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        rows = run_script(connection, sql)
    if expected is not None:
        assert rows == expected


def test_in_hot_standby_reported_and_uncommitted_rows_invisible(servers):
    primary, standby = servers
    with psycopg.connect(standby.dsn()) as reader:
        assert reader.info.parameter_status("in_hot_standby") == "on"
    with psycopg.connect(primary.dsn()) as writer:
        writer.execute("INSERT INTO t VALUES (100, 'open')")
        with psycopg.connect(primary.dsn(), autocommit=True) as other:
            other.execute("INSERT INTO t VALUES (101, 'committed')")
        wait_for_replay_catchup(primary, standby)
        with psycopg.connect(standby.dsn(), autocommit=True) as reader:
            ids = {row[0] for row in reader.execute("SELECT id FROM t")}
        assert 101 in ids and 100 not in ids
        writer.commit()

    def sees_both() -> bool:
        with psycopg.connect(standby.dsn(), autocommit=True) as reader:
            return {100, 101} <= {row[0] for row in reader.execute("SELECT id FROM t")}
    poll(sees_both, "the standby to show the committed row 100", servers=(primary, standby))


def test_window_functions_on_the_standby(servers):
    """A report on the standby: window functions over replicated rows, through the extended
    protocol with parameters in a window function's arguments and in a frame offset."""
    primary, standby = servers
    with psycopg.connect(primary.dsn(), autocommit=True) as writer:
        writer.execute("CREATE TABLE sales (region text, day int, amount int)")
        writer.execute("INSERT INTO sales SELECT CASE WHEN g % 2 = 0 THEN 'east' ELSE 'west' "
                       "END, g, g * 10 FROM generate_series(1, 6) g")
    wait_for_replay_catchup(primary, standby)
    with psycopg.connect(standby.dsn(), autocommit=True) as reader:
        rows = reader.execute(
            "SELECT region, day, row_number() OVER w, "
            "sum(amount) OVER (w ROWS BETWEEN %s PRECEDING AND CURRENT ROW), "
            "lag(amount, %s, 0) OVER w, sum(count(*)) OVER () FROM sales "
            "GROUP BY region, day, amount "
            "WINDOW w AS (PARTITION BY region ORDER BY day) ORDER BY region, day",
            (1, 2)).fetchall()
    assert rows == [("east", 2, 1, 20, 0, 6), ("east", 4, 2, 60, 0, 6),
                    ("east", 6, 3, 100, 20, 6), ("west", 1, 1, 10, 0, 6),
                    ("west", 3, 2, 40, 0, 6), ("west", 5, 3, 80, 10, 6)]
