"""A prepared statement's cached plan follows search_path: with a.t and b.t, the same
prepared ``SELECT ... FROM t`` (and INSERT INTO t) reads and writes b.t after SET
search_path = b, as PostgreSQL's plan cache replans when the search path changes."""

from __future__ import annotations

import psycopg


def test_cached_plan_follows_search_path(module_server):
    with psycopg.connect(module_server.dsn(), autocommit=True) as connection:
        for statement in ("CREATE SCHEMA a", "CREATE SCHEMA b",
                          "CREATE TABLE a.t (v text)", "CREATE TABLE b.t (v text)",
                          "INSERT INTO a.t VALUES ('in a')", "INSERT INTO b.t VALUES ('in b')"):
            connection.execute(statement)
        seen = []
        for path in ("a", "b", "a", "b"):
            connection.execute(f"SET search_path = {path}")
            connection.execute("INSERT INTO t VALUES (%s)", (f"added {path}",), prepare=True)
            seen.append(connection.execute("SELECT v FROM t ORDER BY v", prepare=True)
                        .fetchall())
        assert seen[2] == [("added a",), ("added a",), ("in a",)]
        assert seen[3] == [("added b",), ("added b",), ("in b",)]
        connection.execute("RESET search_path")
        assert connection.execute("SELECT count(*) FROM a.t").fetchone() == (3,)
