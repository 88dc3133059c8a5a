"""TEMPORARY tables on real processes: a streaming standby sees a session's temporary table's
catalog rows (ordinary WAL-logged rows) but not its data, and sees them go when the session
ends; CREATE TEMP TABLE on a standby is PostgreSQL's 25006; another session cannot read the
table; the files a crash (kill -9) left are removed at start-up and the catalog rows when the
schema is used again; psql's \\dt lists the table as PostgreSQL's does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import psycopg
import pytest

from tests.conftest import pg_tool
from tests.integration.test_standby_streaming import (assert_read_only_refusal, execute, poll,
                                                       stop_pair_and_compare, streaming_pair,
                                                       wait_for_replay_catchup)
from tests.server_process import RunningServer, start_server

TEMP_ROWS = ("SELECT c.relname, c.relpersistence, n.nspname FROM pg_class c "
             "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relpersistence = 't' "
             "ORDER BY 1")


def rows(server: RunningServer, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return connection.execute(sql).fetchall()


def temp_files(server: RunningServer) -> list[str]:
    directory = os.path.join(server.datadir, "base", "5")
    return sorted(name for name in os.listdir(directory) if name.startswith("t"))


def test_standby_sees_temp_catalog_rows_until_the_session_ends(template_cluster, tmp_path):
    with streaming_pair(template_cluster, str(tmp_path)) as (primary, standby):
        with psycopg.connect(primary.dsn(), autocommit=True) as session:
            session.execute("CREATE TEMP TABLE tt (id int PRIMARY KEY, v text)")
            session.execute("INSERT INTO tt SELECT g, 'x' FROM generate_series(1, 500) g")
            [(path, schema)] = session.execute(
                "SELECT pg_relation_filepath('tt'), pg_my_temp_schema()::regnamespace::text"
            ).fetchall()
            backend_id = str(schema).removeprefix("pg_temp_")   # the walsender holds one too
            assert str(path).startswith(f"base/5/t{backend_id}_")
            assert os.path.exists(os.path.join(primary.datadir, str(path)))
            wait_for_replay_catchup(primary, standby)
            assert rows(standby, TEMP_ROWS) == [("tt", "t", schema), ("tt_pkey", "t", schema)]
            assert not temp_files(standby)        # data files never reach a standby
            with psycopg.connect(standby.dsn(), autocommit=True) as reader:
                with pytest.raises(psycopg.Error) as caught:
                    reader.execute(f"SELECT * FROM {schema}.tt")
            assert caught.value.sqlstate == "0A000"
            assert caught.value.diag.message_primary == \
                "cannot access temporary or unlogged relations during recovery"
            assert_read_only_refusal(standby, "CREATE TEMP TABLE x (a int)", "CREATE TABLE")
            with psycopg.connect(primary.dsn(), autocommit=True) as other:
                with pytest.raises(psycopg.Error) as caught:
                    other.execute(f"SELECT * FROM {schema}.tt")
                assert caught.value.sqlstate == "0A000"
                assert caught.value.diag.message_primary == \
                    "cannot access temporary tables of other sessions"
                assert other.execute("SELECT to_regclass('tt')").fetchone() == (None,)
        # the session ended: its table is dropped, on both sides
        poll(lambda: rows(primary, TEMP_ROWS) == [], "the temporary table to be dropped",
             servers=(primary,))
        assert not temp_files(primary)
        wait_for_replay_catchup(primary, standby)
        assert rows(standby, TEMP_ROWS) == []
        stop_pair_and_compare(primary, standby)


def test_crash_leftovers_are_removed(template_cluster, tmp_path):
    datadir = str(tmp_path / "data")
    shutil.copytree(template_cluster, datadir)
    server = start_server(datadir)
    try:
        session = psycopg.connect(server.dsn(), autocommit=True)
        session.execute("CREATE TEMP TABLE left_behind (a int)")
        session.execute("INSERT INTO left_behind VALUES (1)")
        session.execute("CHECKPOINT")
        [(schema,)] = session.execute(
            "SELECT pg_my_temp_schema()::regnamespace::text").fetchall()
        assert temp_files(server)
        server.kill()
        session.close()
        server = start_server(datadir)
        assert not temp_files(server)                          # files: at start-up
        assert rows(server, TEMP_ROWS) == [("left_behind", "t", schema)]

        def reuse() -> list[tuple[object, ...]] | None:
            """A session with the same backend ID (another connection may hold it for a
            moment) drops the rows when it first uses the schema."""
            with psycopg.connect(server.dsn(), autocommit=True) as again:
                again.execute("CREATE TEMP TABLE fresh (a int)")
                found = again.execute(TEMP_ROWS).fetchall()
                return found if ("fresh", "t", schema) in found else None
        assert poll(reuse, f"a session with {schema}", servers=(server,)) == \
            [("fresh", "t", schema)]
    finally:
        server.stop()


def _psql(host: str, port: int, *commands: str) -> str:
    args = [pg_tool("psql"), "-X", "-h", host, "-p", str(port), "-U", "postgres", "-d",
            "postgres", "-v", "ON_ERROR_STOP=1"]
    for command in commands:
        args += ["-c", command]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "PGTZ": "UTC", "PGCLIENTENCODING": "UTF8"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_psql_lists_temp_tables_as_postgresql(template_cluster, tmp_path):
    from tests.compat.auth_pg_helpers import pg_available, pg_cluster
    if not pg_available():
        pytest.skip("PostgreSQL 15 is not available")
    datadir = str(tmp_path / "data")
    shutil.copytree(template_cluster, datadir)
    server = start_server(datadir)
    commands = ("CREATE TEMP TABLE tmp1 (id serial PRIMARY KEY, v text)",
                "CREATE TABLE perm (a int)", "\\dt", "\\d tmp1", "\\d")
    def same_schema_number(text: str) -> str:
        """N depends on the connections open at the time (a readiness probe's may linger)."""
        return re.sub(r"pg_temp_\d+", "pg_temp_N", text)
    try:
        ours = same_schema_number(_psql("127.0.0.1", server.port, *commands))
        with pg_cluster() as cluster, cluster.server() as socket_dir:
            assert ours == same_schema_number(_psql(socket_dir, 5432, *commands))
        assert "pg_temp_N | tmp1" in ours
    finally:
        server.stop()
