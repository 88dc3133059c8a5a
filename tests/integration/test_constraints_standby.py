"""CHECK and FOREIGN KEY constraints on a streaming standby: they are pg_constraint rows,
WAL-logged like any catalog change, so a constraint added on the primary (at CREATE TABLE and by
ALTER TABLE) shows on the standby with the same definition, and one dropped there goes; the rows a
cascade deleted on the primary are gone on the standby too."""

from __future__ import annotations

import psycopg

from tests.integration.test_standby_streaming import (execute, streaming_pair,
                                                      wait_for_replay_catchup)

SETUP = ("CREATE TABLE stock (id int PRIMARY KEY, qty int CHECK (qty >= 0), "
         "price numeric, CHECK (price > 0 OR qty = 0))",
         "INSERT INTO stock VALUES (1, 5, 2.5), (2, 0, NULL)",
         "CREATE TABLE moves (id int, stock_id int REFERENCES stock ON DELETE CASCADE)",
         "INSERT INTO moves VALUES (10, 1), (11, 1), (12, 2)")
FOREIGN_KEYS = ("SELECT conname, conrelid::regclass::text, confrelid::regclass::text, "
                "pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f'")
DESCRIBED = ("SELECT conname, contype, convalidated, pg_get_constraintdef(oid, true) "
             "FROM pg_constraint WHERE conrelid = 'stock'::regclass AND contype = 'c' "
             "ORDER BY conname")


def query(server, sql: str) -> list[tuple]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return connection.execute(sql).fetchall()


def test_check_constraints_reach_the_standby(template_cluster, tmp_path):
    with streaming_pair(template_cluster, str(tmp_path), *SETUP) as (primary, standby):
        expected = [("stock_check", "c", True, "CHECK (price > 0::numeric OR qty = 0)"),
                    ("stock_qty_check", "c", True, "CHECK (qty >= 0)")]
        assert query(standby, DESCRIBED) == query(primary, DESCRIBED) == expected
        execute(primary, "ALTER TABLE stock ADD CONSTRAINT small CHECK (qty < 100) NOT VALID",
                "ALTER TABLE stock DROP CONSTRAINT stock_check")
        wait_for_replay_catchup(primary, standby)
        assert query(standby, DESCRIBED) == query(primary, DESCRIBED) == [
            ("small", "c", False, "CHECK (qty < 100) NOT VALID"),
            ("stock_qty_check", "c", True, "CHECK (qty >= 0)")]
        assert query(standby, "SELECT relchecks FROM pg_class WHERE relname = 'stock'") == \
            [(2,)]


def test_foreign_keys_reach_the_standby(template_cluster, tmp_path):
    with streaming_pair(template_cluster, str(tmp_path), *SETUP) as (primary, standby):
        assert query(standby, FOREIGN_KEYS) == query(primary, FOREIGN_KEYS) == [
            ("moves_stock_id_fkey", "moves", "stock",
             "FOREIGN KEY (stock_id) REFERENCES stock(id) ON DELETE CASCADE")]
        execute(primary, "DELETE FROM stock WHERE id = 1")
        wait_for_replay_catchup(primary, standby)
        assert query(standby, "SELECT id FROM moves ORDER BY id") == [(12,)]
