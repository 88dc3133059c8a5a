"""Report queries on a hot standby: GROUP BY ROLLUP with GROUPING(), ordered-set aggregates
(percentile_cont, percentile_disc, mode) and LATERAL, run on a real streaming standby over
rows and a report view made on the primary, answer as on the primary; rows the primary adds
later show in the rolled-up totals once replayed."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.test_standby_streaming import streaming_pair, wait_for_replay_catchup
from tests.integration.test_views_standby import query

SETUP = ("CREATE TABLE sales (id int PRIMARY KEY, region text, rep text, amount float8)",
         "INSERT INTO sales VALUES (1, 'north', 'ann', 10), (2, 'north', 'bob', 20), "
         "(3, 'south', 'ann', 5), (4, 'north', 'ann', 30)",
         "CREATE VIEW region_report AS SELECT region, rep, sum(amount) AS total, "
         "grouping(region, rep) AS level FROM sales GROUP BY ROLLUP (region, rep)")

ROLLUP = "SELECT * FROM region_report ORDER BY level, region, rep"
PERCENTILES = ("SELECT region, percentile_cont(0.5) WITHIN GROUP (ORDER BY amount), "
               "percentile_disc(array[0.25, 0.75]) WITHIN GROUP (ORDER BY amount), "
               "mode() WITHIN GROUP (ORDER BY rep) FROM sales GROUP BY region ORDER BY region")
TOP_SALE = ("SELECT r.region, top.id, top.amount FROM (SELECT DISTINCT region FROM sales) r, "
            "LATERAL (SELECT id, amount FROM sales s WHERE s.region = r.region "
            "ORDER BY amount DESC LIMIT 1) top ORDER BY 1")


@pytest.fixture(scope="module")
def servers(tmp_path_factory, template_cluster):
    with streaming_pair(template_cluster, str(tmp_path_factory.mktemp("reports_standby")),
                        *SETUP) as pair:
        yield pair


def test_report_queries_answer_on_the_standby_as_on_the_primary(servers):
    primary, standby = servers
    assert query(standby, ROLLUP) == [
        ("north", "ann", 40.0, 0), ("north", "bob", 20.0, 0), ("south", "ann", 5.0, 0),
        ("north", None, 60.0, 1), ("south", None, 5.0, 1), (None, None, 65.0, 3)]
    assert query(standby, PERCENTILES) == [("north", 20.0, [10.0, 30.0], "ann"),
                                           ("south", 5.0, [5.0, 5.0], "ann")]
    assert query(standby, TOP_SALE) == [("north", 4, 30.0), ("south", 3, 5.0)]
    for sql in (ROLLUP, PERCENTILES, TOP_SALE):
        assert query(standby, sql) == query(primary, sql)


def test_rows_added_on_the_primary_reach_the_standby_report(servers):
    primary, standby = servers
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        connection.execute("INSERT INTO sales VALUES (5, 'east', 'cy', 7)")
    wait_for_replay_catchup(primary, standby)
    rows = query(standby, ROLLUP)
    assert ("east", "cy", 7.0, 0) in rows and ("east", None, 7.0, 1) in rows
    assert rows[-1] == (None, None, 72.0, 3)
    assert query(standby, TOP_SALE)[0] == ("east", 5, 7.0)
