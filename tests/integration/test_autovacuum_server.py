"""Autovacuum in a running server, seen through SQL: pg_stat_user_tables counts live and dead
rows, the launcher vacuums a table whose dead rows pass the limit (last_autovacuum,
autovacuum_count), VACUUM shows as last_vacuum/vacuum_count, and SHOW gives the settings."""

from __future__ import annotations

import time

import psycopg
import pytest

DEADLINE_S = 30.0
POLL_S = 0.05

# PostgreSQL 15's pg_stat_user_tables, in order (select * from pg_stat_user_tables limit 0)
PG15_COLUMNS = [
    "relid", "schemaname", "relname", "seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch",
    "n_tup_ins", "n_tup_upd", "n_tup_del", "n_tup_hot_upd", "n_live_tup", "n_dead_tup",
    "n_mod_since_analyze", "n_ins_since_vacuum", "last_vacuum", "last_autovacuum",
    "last_analyze", "last_autoanalyze", "vacuum_count", "autovacuum_count", "analyze_count",
    "autoanalyze_count"]


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


def table_stats(conn, name: str) -> dict[str, object]:
    cursor = conn.execute("select * from pg_stat_user_tables where relname = %s", (name,))
    row = cursor.fetchone()
    assert row is not None, name
    return dict(zip([c.name for c in cursor.description], row))


def test_settings_and_view_columns(server):
    with server.connect(autocommit=True) as conn:
        shown = [conn.execute(f"show {name}").fetchone()[0] for name in (
            "autovacuum", "autovacuum_naptime", "autovacuum_vacuum_threshold",
            "autovacuum_vacuum_scale_factor")]
        assert shown == ["on", "1min", "50", "0.2"]
        cursor = conn.execute("select * from pg_stat_user_tables limit 0")
        assert [c.name for c in cursor.description] == PG15_COLUMNS
        cursor = conn.execute("select * from pg_stat_all_tables where relname = 'pg_class'")
        assert cursor.fetchone()[1] == "pg_catalog"


def test_launcher_vacuums_a_table_past_its_limit(server):
    with server.connect(autocommit=True) as conn:
        conn.execute("create table av (id int primary key, n int)")
        conn.execute("insert into av select g, 0 from generate_series(1, 100) g")
        stats = table_stats(conn, "av")
        assert (stats["n_live_tup"], stats["n_dead_tup"], stats["n_tup_ins"]) == (100, 0, 100)
        conn.execute("update av set n = n + 1")          # 100 dead > 50 + 0.2 * 100
        deadline = time.monotonic() + DEADLINE_S
        while table_stats(conn, "av")["autovacuum_count"] == 0:
            assert time.monotonic() < deadline, "autovacuum did not run"
            time.sleep(POLL_S)
        stats = table_stats(conn, "av")
        assert stats["last_autovacuum"] is not None and stats["n_live_tup"] == 100
        assert stats["n_tup_upd"] == 100
        conn.execute("vacuum av")
        stats = table_stats(conn, "av")
        assert stats["vacuum_count"] == 1 and stats["last_vacuum"] is not None


def test_aborted_inserts_count_as_dead(server):
    with server.connect(autocommit=True) as conn:
        conn.execute("create table ab (id int)")
        with pytest.raises(RuntimeError):
            with conn.transaction():
                conn.execute("insert into ab select g from generate_series(1, 10) g")
                raise RuntimeError("roll back")
        stats = table_stats(conn, "ab")
        assert (stats["n_live_tup"], stats["n_dead_tup"]) == (0, 10)


def test_pg_stat_reset_and_single_table_reset(server):
    with server.connect(autocommit=True) as conn:
        conn.execute("create table rs1 (id int)")
        conn.execute("create table rs2 (id int)")
        conn.execute("insert into rs1 values (1), (2)")
        conn.execute("insert into rs2 values (1), (2), (3)")
        conn.execute("select pg_stat_reset_single_table_counters('rs1'::regclass)")
        assert table_stats(conn, "rs1")["n_tup_ins"] == 0
        assert table_stats(conn, "rs2")["n_tup_ins"] == 3
        conn.execute("insert into rs1 values (3)")
        assert table_stats(conn, "rs1")["n_tup_ins"] == 1
        assert conn.execute("select pg_stat_reset()").fetchone() == ("",)
        for name in ("rs1", "rs2"):
            assert conn.execute("select count(*) from pg_stat_user_tables where relname = %s "
                                "and n_tup_ins > 0", (name,)).fetchone() == (0,)
        assert conn.execute("select stats_reset is not null from pg_stat_database "
                            "where datname = current_database()").fetchone() == (True,)
        conn.execute("create role stats_plain login")
    with psycopg.connect(server.dsn(user="stats_plain"), autocommit=True) as conn:
        for call in ("pg_stat_reset()", "pg_stat_reset_single_table_counters(1259)"):
            with pytest.raises(psycopg.Error) as caught:
                conn.execute(f"select {call}")
            assert caught.value.sqlstate == "42501"
