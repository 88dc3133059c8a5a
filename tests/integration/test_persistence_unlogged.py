"""UNLOGGED tables on real processes: their data survives a clean restart but not a crash
(kill -9), a streaming standby has their catalog rows and init forks but refuses to read them
(PostgreSQL's 0A000), ``mirrordb compare`` finds primary and standby equal, and a promoted
standby finds them empty and usable (storage/reinit.py)."""

from __future__ import annotations

import os
import shutil

import psycopg
import pytest

from tests.integration.test_standby_streaming import (execute, poll, stop_pair_and_compare,
                                                       streaming_pair, wait_for_replay_catchup)
from tests.server_process import RunningServer, start_server

SETUP = ("CREATE UNLOGGED TABLE u (id serial PRIMARY KEY, v text)",
         "INSERT INTO u (v) SELECT 'row ' || g FROM generate_series(1, 300) g",
         "CREATE TABLE p (id int PRIMARY KEY)",
         "INSERT INTO p VALUES (1), (2)")


def rows(server: RunningServer, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return connection.execute(sql).fetchall()


def relation_path(server: RunningServer, name: str) -> str:
    [(path,)] = rows(server, f"SELECT pg_relation_filepath('{name}')")
    return os.path.join(server.datadir, str(path))


def test_unlogged_data_survives_a_clean_restart_and_not_a_crash(template_cluster, tmp_path):
    datadir = str(tmp_path / "data")
    shutil.copytree(template_cluster, datadir)
    server = start_server(datadir)
    try:
        execute(server, *SETUP)
        table_file = relation_path(server, "u")
        assert os.path.exists(table_file + "_init") and os.path.getsize(table_file + "_init") == 0
        assert os.path.getsize(relation_path(server, "u_pkey") + "_init") > 0
        assert server.stop() == 0
        server = start_server(datadir)
        assert rows(server, "SELECT count(*) FROM u") == [(300,)]
        execute(server, "INSERT INTO u (v) VALUES ('after restart')", "CHECKPOINT",
                "INSERT INTO u (v) VALUES ('after checkpoint')")
        server.kill()
        server = start_server(datadir)
        assert rows(server, "SELECT count(*) FROM u") == [(0,)]
        assert rows(server, "SELECT count(*) FROM p") == [(2,)]
        # the sequence was reset too, the index works
        execute(server, "INSERT INTO u (v) VALUES ('again')")
        assert rows(server, "SELECT id, v FROM u WHERE id = 1") == [(1, "again")]
    finally:
        server.stop()


def test_standby_refuses_unlogged_tables_compares_equal_and_promotes_them_empty(
        template_cluster, tmp_path):
    with streaming_pair(template_cluster, str(tmp_path), *SETUP) as (primary, standby):
        assert rows(standby, "SELECT relname, relpersistence FROM pg_class WHERE relname "
                             "IN ('u', 'u_pkey', 'u_id_seq', 'p') ORDER BY 1") == \
            [("p", "p"), ("u", "u"), ("u_id_seq", "u"), ("u_pkey", "u")]
        for sql in ("SELECT * FROM u", "SELECT count(*) FROM u WHERE id = 3"):
            with psycopg.connect(standby.dsn(), autocommit=True) as connection:
                with pytest.raises(psycopg.Error) as caught:
                    connection.execute(sql)
            assert caught.value.sqlstate == "0A000"
            assert caught.value.diag.message_primary == \
                "cannot access temporary or unlogged relations during recovery"
        assert rows(standby, "SELECT count(*) FROM p") == [(2,)]
        # the standby has the init forks, not the data
        table_file = relation_path(standby, "u")
        assert os.path.exists(table_file + "_init") and not os.path.exists(table_file)
        standby_dir = standby.datadir
        stop_pair_and_compare(primary, standby)

        standby = start_server(standby_dir)
        try:
            assert rows(standby, "SELECT pg_promote(wait => true, wait_seconds => 60)") == \
                [(True,)]
            assert rows(standby, "SELECT count(*) FROM u") == [(0,)]
            execute(standby, "INSERT INTO u (v) VALUES ('promoted')")
            assert rows(standby, "SELECT id, v FROM u WHERE id = 1") == [(1, "promoted")]
            assert rows(standby, "SELECT count(*) FROM p") == [(2,)]
        finally:
            standby.stop()


def test_unlogged_data_changes_write_no_wal(template_cluster, tmp_path):
    with streaming_pair(template_cluster, str(tmp_path), *SETUP[:1]) as (primary, standby):
        [(before,)] = rows(primary, "SELECT pg_current_wal_insert_lsn()")
        execute(primary, "INSERT INTO u (v) SELECT repeat('x', 500) FROM "
                         "generate_series(1, 2000)")
        [(grown,)] = rows(primary, f"SELECT pg_current_wal_insert_lsn() - '{before}'")
        assert grown < 20000, grown     # a commit record and sequence records, not 1 MB of rows
        wait_for_replay_catchup(primary, standby)
        poll(lambda: rows(standby, "SELECT count(*) FROM pg_class WHERE relname = 'u'") ==
             [(1,)], "the standby to see the table")
        # SET LOGGED logs the contents: the standby reads them; SET UNLOGGED: refused again
        execute(primary, "ALTER TABLE u SET LOGGED")
        wait_for_replay_catchup(primary, standby)
        assert rows(standby, "SELECT count(*), count(DISTINCT id) FROM u WHERE id > 0") == \
            [(2000, 2000)]
        assert rows(standby, "SELECT id FROM u WHERE id = 1999") == [(1999,)]
        execute(primary, "ALTER TABLE u SET UNLOGGED")
        wait_for_replay_catchup(primary, standby)
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            with pytest.raises(psycopg.Error) as caught:
                connection.execute("SELECT count(*) FROM u")
        assert caught.value.sqlstate == "0A000"
