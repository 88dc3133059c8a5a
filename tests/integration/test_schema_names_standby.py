"""Relations of the same name in two schemas on a streaming standby: a.t and b.t made on the
primary reach the standby as two relations (their pg_class rows are ordinary WAL-logged
rows), each read there through its qualified name and through the search path, and dropping
one on the primary leaves the other, with its rows, on the standby."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.test_standby_streaming import poll, streaming_pair, wait_for_replay_catchup

SETUP = ("CREATE SCHEMA a", "CREATE SCHEMA b",
         "CREATE TABLE a.t (id serial PRIMARY KEY, v text)",
         "CREATE TABLE b.t (id serial PRIMARY KEY, v text)",
         "INSERT INTO a.t (v) VALUES ('a1'), ('a2')",
         "INSERT INTO b.t (v) VALUES ('b1')")


@pytest.fixture(scope="module")
def servers(tmp_path_factory, template_cluster):
    with streaming_pair(template_cluster, str(tmp_path_factory.mktemp("nsnames_standby")),
                        *SETUP) as pair:
        yield pair


def query(server, sql: str, search_path: str | None = None) -> list[tuple]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        if search_path is not None:
            connection.execute(f"SET search_path = {search_path}")
        return connection.execute(sql).fetchall()


def test_same_names_in_two_schemas_on_the_standby(servers):
    primary, standby = servers
    wait_for_replay_catchup(primary, standby)
    assert query(standby, "SELECT v FROM a.t ORDER BY id") == [("a1",), ("a2",)]
    assert query(standby, "SELECT v FROM b.t ORDER BY id") == [("b1",)]
    assert query(standby, "SELECT v FROM t ORDER BY id", "b, a") == [("b1",)]
    assert query(standby, "SELECT v FROM t WHERE id = 2", "a, b") == [("a2",)]
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        connection.execute("DROP TABLE b.t")

    def dropped() -> bool:
        return not query(standby, "SELECT 1 FROM pg_class c JOIN pg_namespace n "
                                  "ON n.oid = c.relnamespace WHERE n.nspname = 'b'")
    poll(dropped, "the standby to lose b.t", servers=(primary, standby))
    assert query(standby, "SELECT v FROM t ORDER BY id", "b, a") == [("a1",), ("a2",)]
    assert query(standby, "SELECT count(*) FROM pg_class WHERE relname = 't_id_seq'") == [(1,)]
