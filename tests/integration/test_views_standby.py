"""Views on a hot standby: a report view made on a real primary reaches a real streaming standby
with the catalog rows that define it (pg_class, pg_attribute, pg_rewrite), where it can be
queried and is described as on the primary; the standby refuses to make, replace or drop one
with PostgreSQL 15's read-only error; later changes of the view on the primary follow."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.test_standby_streaming import (assert_read_only_refusal, poll,
                                                      streaming_pair, wait_for_replay_catchup)

REPORT_QUERY = "SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY region"
SETUP = ("CREATE TABLE sales (id int PRIMARY KEY, region text, amount int)",
         "INSERT INTO sales VALUES (1, 'north', 10), (2, 'south', 5), (3, 'north', 7)",
         f"CREATE VIEW report AS {REPORT_QUERY}",
         "CREATE VIEW big_regions AS SELECT region FROM report WHERE total > 6")


@pytest.fixture(scope="module")
def servers(tmp_path_factory, template_cluster):
    with streaming_pair(template_cluster, str(tmp_path_factory.mktemp("views_standby")),
                        *SETUP) as pair:
        yield pair


def query(server, sql: str) -> list[tuple]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return connection.execute(sql).fetchall()


def test_view_made_on_the_primary_is_queried_on_the_standby(servers):
    primary, standby = servers
    assert query(standby, "SELECT * FROM report") == [("north", 17), ("south", 5)]
    assert query(standby, "SELECT * FROM big_regions") == [("north",)]
    assert query(standby, "SELECT s.id FROM sales s JOIN report r ON r.region = s.region "
                          "WHERE r.total < 10") == [(2,)]
    described = ("SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' "
                 "ORDER BY viewname")
    assert query(standby, described) == query(primary, described)
    assert query(standby, "SELECT relkind, relfilenode FROM pg_class "
                          "WHERE relname = 'report'") == [("v", 0)]


@pytest.mark.parametrize(("sql", "command"), [
    ("CREATE VIEW on_standby AS SELECT 1", "CREATE VIEW"),
    (f"CREATE OR REPLACE VIEW report AS {REPORT_QUERY}", "CREATE VIEW"),
    ("DROP VIEW big_regions", "DROP VIEW"),
    ("ALTER VIEW report RENAME TO renamed", "ALTER VIEW"),
])
def test_standby_refuses_view_ddl(servers, sql, command):
    assert_read_only_refusal(servers[1], sql, command)


def test_changes_of_the_view_follow_on_the_standby(servers):
    primary, standby = servers
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        connection.execute("CREATE OR REPLACE VIEW report AS SELECT region, sum(amount) AS "
                           "total, count(*) AS sales FROM sales GROUP BY region "
                           "ORDER BY region")
        connection.execute("INSERT INTO sales VALUES (4, 'east', 1)")
        connection.execute("CREATE VIEW east AS SELECT id FROM sales WHERE region = 'east'")
    wait_for_replay_catchup(primary, standby)
    assert query(standby, "SELECT * FROM report") == [("east", 1, 1), ("north", 17, 2),
                                                      ("south", 5, 1)]
    assert query(standby, "SELECT * FROM east") == [(4,)]
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        connection.execute("DROP VIEW east")

    def dropped() -> bool:
        return not query(standby, "SELECT 1 FROM pg_class WHERE relname = 'east'")
    poll(dropped, "the standby to lose view east", servers=(primary, standby))
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        with pytest.raises(psycopg.Error) as caught:
            connection.execute("SELECT * FROM east")
    assert caught.value.sqlstate == "42P01"
