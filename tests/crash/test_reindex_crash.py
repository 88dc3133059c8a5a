"""kill -9 of the server while a REINDEX's transaction is open: its rebuild reached the WAL on disk
(a later commit flushed it), its commit did not. Crash recovery replays the new index files and
the pg_class change, finds no commit, and the indexes keep their old files, which queries use;
a REINDEX after the restart works."""

from __future__ import annotations

import psycopg

from tests.server_process import start_server

RELFILENODES = ("SELECT relname, relfilenode FROM pg_class WHERE relname IN ('c_pkey', 'c_v') "
                "ORDER BY relname")


def test_kill_before_the_commit_keeps_the_old_indexes(cluster):
    server = start_server(cluster)
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as connection:
            connection.execute("CREATE TABLE c (id int PRIMARY KEY, v int)")
            connection.execute("CREATE INDEX c_v ON c (v)")
            connection.execute("INSERT INTO c SELECT g, g % 10 FROM generate_series(1, 1000) g")
            old_files = connection.execute(RELFILENODES).fetchall()
        rebuilding = psycopg.connect(server.dsn(), autocommit=True)
        rebuilding.execute("BEGIN")
        rebuilding.execute("REINDEX TABLE c")
        rebuilding.execute("INSERT INTO c VALUES (1001, 1)")
        with psycopg.connect(server.dsn(), autocommit=True) as connection:
            # a commit after the rebuild: its flush puts the rebuild's WAL on disk too
            connection.execute("CREATE TABLE marker (id int)")
            connection.execute("INSERT INTO marker VALUES (1)")
        server.kill()
        rebuilding.close()
        server = start_server(cluster, server.port)
        with psycopg.connect(server.dsn(), autocommit=True) as connection:
            assert connection.execute("SELECT count(*) FROM marker").fetchone() == (1,)
            assert connection.execute(RELFILENODES).fetchall() == old_files
            assert connection.execute("EXPLAIN SELECT v FROM c WHERE id = 42").fetchall() == [
                ("Index Scan using c_pkey on c",)]
            assert connection.execute("SELECT v FROM c WHERE id = 42").fetchall() == [(2,)]
            assert connection.execute("SELECT count(*) FROM c WHERE v = 1").fetchone() == (100,)
            assert connection.execute("SELECT id FROM c WHERE id = 1001").fetchall() == []
            connection.execute("REINDEX TABLE c")
            connection.execute("INSERT INTO c VALUES (1001, 1)")
            assert connection.execute("SELECT count(*) FROM c WHERE v = 1").fetchone() == (101,)
            new_files = connection.execute(RELFILENODES).fetchall()
            assert all(new != old for new, old in zip(new_files, old_files))
    finally:
        server.stop()
