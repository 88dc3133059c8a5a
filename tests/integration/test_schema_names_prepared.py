"""Names through the protocol with same-named tables in two schemas: a prepared statement's
cached plan follows search_path (the same prepared SELECT/INSERT on ``t`` reads and writes
b.t after SET search_path = b, as PostgreSQL's plan cache replans when the path changes),
and COPY FROM/TO reaches the table of the schema named or found on the path."""

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


def test_copy_reaches_the_named_schema(module_server):
    with psycopg.connect(module_server.dsn(), autocommit=True) as connection:
        for statement in ("CREATE SCHEMA ca", "CREATE SCHEMA cb",
                          "CREATE TABLE ca.log (n int)", "CREATE TABLE cb.log (n int, m int)"):
            connection.execute(statement)
        with connection.cursor() as cursor:
            with cursor.copy("COPY cb.log FROM STDIN") as copy:
                copy.write("1\t2\n3\t4\n")
            connection.execute("SET search_path = ca")
            with cursor.copy("COPY log FROM STDIN") as copy:
                copy.write("7\n")
            connection.execute("RESET search_path")
            with cursor.copy("COPY cb.log TO STDOUT") as copy:
                out = b"".join(bytes(chunk) for chunk in copy)
        assert out == b"1\t2\n3\t4\n"
        assert connection.execute("SELECT n FROM ca.log").fetchall() == [(7,)]
