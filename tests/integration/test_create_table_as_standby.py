"""CREATE TABLE AS, SELECT INTO and materialized views on a streaming standby: tables and
materialized views made (and refreshed) on a real primary reach a real standby as their
catalog rows and relation files, where their rows are read and psql's \\d describes them as on
the primary; pg_class.relispopulated follows REFRESH ... WITH NO DATA; the standby refuses to
make or refresh one with PostgreSQL 15's read-only error (25006)."""

from __future__ import annotations

import os
import subprocess

import psycopg
import pytest

from tests.conftest import pg_tool
from tests.integration.test_standby_streaming import (assert_read_only_refusal, streaming_pair,
                                                      wait_for_replay_catchup)
from tests.server_process import RunningServer

SETUP = ("CREATE TABLE src (id int PRIMARY KEY, name varchar(10), amount numeric(6,2))",
         "INSERT INTO src VALUES (1, 'a', 1.50), (2, 'b', 2.25), (3, 'c', 3.00)",
         "CREATE TABLE copied AS SELECT id, upper(name) AS label FROM src WHERE id < 3",
         "SELECT id, amount * 2 AS doubled INTO selected FROM src",
         "CREATE MATERIALIZED VIEW totals (n, total) AS SELECT count(*), sum(amount) FROM src",
         "CREATE MATERIALIZED VIEW later AS SELECT id FROM src WITH NO DATA",
         "CREATE INDEX later_id ON later (id)")


@pytest.fixture(scope="module")
def servers(tmp_path_factory, template_cluster):
    with streaming_pair(template_cluster, str(tmp_path_factory.mktemp("ctas_standby")),
                        *SETUP) as pair:
        yield pair


def query(server: RunningServer, sql: str) -> list[tuple]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return connection.execute(sql).fetchall()


def describe(server: RunningServer, command: str) -> str:
    result = subprocess.run([pg_tool("psql"), "-X", "-h", "127.0.0.1", "-p", str(server.port),
                             "-U", "postgres", "-d", "postgres", "-c", command],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "PGCLIENTENCODING": "UTF8"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def populated(server: RunningServer) -> list[tuple]:
    return query(server, "SELECT relname, relispopulated FROM pg_class "
                         "WHERE relname IN ('totals', 'later') ORDER BY 1")


def test_rows_reach_the_standby(servers):
    _, standby = servers
    assert query(standby, "SELECT * FROM copied ORDER BY id") == [(1, "A"), (2, "B")]
    assert [(i, str(d)) for i, d in query(standby, "SELECT * FROM selected ORDER BY id")] == \
        [(1, "3.00"), (2, "4.50"), (3, "6.00")]
    assert [(n, str(t)) for n, t in query(standby, "SELECT * FROM totals")] == [(3, "6.75")]
    assert populated(standby) == [("later", False), ("totals", True)]
    with pytest.raises(psycopg.Error) as caught:
        query(standby, "SELECT * FROM later")
    assert caught.value.sqlstate == "55000"
    assert caught.value.diag.message_primary == \
        'materialized view "later" has not been populated'


@pytest.mark.parametrize("command", ["\\d copied", "\\d selected", "\\d totals",
                                     "\\d+ later", "\\dm"])
def test_standby_describes_them_as_the_primary(servers, command):
    primary, standby = servers
    assert describe(standby, command) == describe(primary, command)


@pytest.mark.parametrize(("sql", "command"), [
    ("CREATE TABLE on_standby AS SELECT 1", "CREATE TABLE AS"),
    ("SELECT 1 AS one INTO on_standby", "SELECT INTO"),
    ("CREATE MATERIALIZED VIEW on_standby AS SELECT 1", "CREATE MATERIALIZED VIEW"),
    ("REFRESH MATERIALIZED VIEW totals", "REFRESH MATERIALIZED VIEW"),
    ("REFRESH MATERIALIZED VIEW later WITH NO DATA", "REFRESH MATERIALIZED VIEW"),
])
def test_standby_refuses_to_make_or_refresh(servers, sql, command):
    assert_read_only_refusal(servers[1], sql, command)


def test_refresh_on_the_primary_follows(servers):
    primary, standby = servers
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        connection.execute("INSERT INTO src VALUES (4, 'd', 10.00)")
        connection.execute("REFRESH MATERIALIZED VIEW totals")
        connection.execute("REFRESH MATERIALIZED VIEW later")
    wait_for_replay_catchup(primary, standby)
    assert [(n, str(t)) for n, t in query(standby, "SELECT * FROM totals")] == [(4, "16.75")]
    assert query(standby, "SELECT id FROM later WHERE id > 2 ORDER BY id") == [(3,), (4,)]
    assert populated(standby) == [("later", True), ("totals", True)]
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        connection.execute("REFRESH MATERIALIZED VIEW totals WITH NO DATA")
    wait_for_replay_catchup(primary, standby)
    assert populated(standby) == [("later", True), ("totals", False)]
    assert describe(standby, "\\d+ totals") == describe(primary, "\\d+ totals")
