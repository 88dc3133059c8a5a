"""CHECK constraints side by side with a real PostgreSQL 15: CREATE TABLE's column and table
constraints and their default names, the expressions PostgreSQL refuses, the checks on INSERT,
UPDATE, INSERT ... ON CONFLICT DO UPDATE and COPY FROM (23514 with its DETAIL), ALTER TABLE ADD
[NOT VALID], VALIDATE and DROP CONSTRAINT [IF EXISTS], and what clients read (pg_constraint,
pg_class.relchecks, pg_get_constraintdef, the query psql's \\d sends).

Each scenario runs its statements in order on both servers (tests/compat/differential.py); every
answer must match: rows, or SQLSTATE, message, DETAIL, hint and position, and notices.
"""

from __future__ import annotations

import psycopg
import pytest

from differential import MARKS, Ours, Reference, assert_same, copy_in_error, pair_fixture

pytestmark = MARKS

DESCRIBE_CHECKS = ("select r.conname, pg_catalog.pg_get_constraintdef(r.oid, true) "
                   "from pg_catalog.pg_constraint r where r.conrelid = '{table}'::regclass "
                   "and r.contype = 'c' order by 1")
CATALOG_ROWS = ("select conname, contype, condeferrable, convalidated, conkey, confkey, "
                "connoinherit, conislocal, pg_get_constraintdef(oid), "
                "pg_get_expr(conbin, conrelid, true) from pg_constraint "
                "where conrelid = '{table}'::regclass order by conname")

SCENARIOS: dict[str, list[str]] = {
    "names and catalog rows": [
        "create table t (id int, qty int check (qty > 0), a int, b int check (a > b), "
        "constraint named check (a < 100), check (b <> 1), check (id > 0 and qty < 1000), "
        "check (a > 0))",
        CATALOG_ROWS.format(table="t"),
        DESCRIBE_CHECKS.format(table="t"),
        "select relchecks from pg_class where relname = 't'",
        "create table x (a int check (a > 0), check (a > 0), check (a < 5))",
        CATALOG_ROWS.format(table="x"),
        "create table y (a int constraint x_a_check check (a > 0))",
        "create table c (a int, check (a > 0) no inherit)",
        DESCRIBE_CHECKS.format(table="c"),
        "create table z (a text check (a <> ''), c numeric check (c between 1 and 5), "
        "d date check (d > '2020-01-01'), e bool check (e), f int check (f is not null), "
        "g int check (g in (1, 2) or g is null), h float8 check (h <> 0.5))",
        DESCRIBE_CHECKS.format(table="z"),
        "select pg_get_constraintdef(oid) from pg_constraint where conname = 'z_c_check'",
        "create table r (a int check (random() > 2 or a is null))",
        "create table long_table_name_abcdefghijklmnopqrstuvwxyz_0123456789 "
        "(long_column_name_abcdefghijklmnopqrstuvwxyz int check "
        "(long_column_name_abcdefghijklmnopqrstuvwxyz > 0))",
        "select conname from pg_constraint where contype = 'c' and conname like 'long%'",
        "select count(*) from pg_constraint where conrelid = 'y'::regclass and contype = 'c'",
        "drop table y",
        "select count(*) from pg_constraint where conname = 'x_a_check'",
    ],
    "refused expressions": [
        "create table bad (a int check ((select 1) = 1))",
        "create table bad (a int check (a in (select 1)))",
        "create table bad (a int check (sum(a) > 1))",
        "create table bad (a int check (row_number() over () > 1))",
        "create table bad (a int check (generate_series(1, 2) > 1))",
        "create table bad (a int check (a))",
        "create table bad (a int check (a + 1))",
        "create table bad (a int check ($1 > 0))",
        "create table bad (a int check (other.a > 0))",
        "create table bad (a int check (b > 0))",
        "create table bad (a int constraint c1 check (a > 0), constraint c1 check (a < 5))",
        "select count(*) from pg_class where relname = 'bad'",
    ],
    "checked on insert and update": [
        "create table k (id int, qty int check (qty > 0), note text check (note <> ''), "
        "f bool not null default true check (f))",
        "insert into k values (1, 5, 'x')",
        "insert into k values (2, -1, 'x')",
        "insert into k values (2, null, null)",
        "insert into k values (3, 0, '')",
        "insert into k (id, qty) values (4, 1), (5, -5)",
        "insert into k values (6, 1, 'x', null)",
        "insert into k values (6, -1, 'x', false)",
        "insert into k values (7, 1, repeat('y', 80), false)",
        "insert into k select 8, 0, 'z'",
        "update k set qty = qty - 5 where id = 1",
        "update k set note = '' where id = 2",
        "update k set qty = 10 where id = 1 returning *",
        "select * from k order by id",
        "create table kk (a int, b text check (length(b) < 3 or a > 10), "
        "c timestamptz check (c > '2000-01-01'))",
        "insert into kk values (1, 'abcd', '2020-01-02 03:04:05+00')",
        "insert into kk values (1, 'ab', '1999-01-02 03:04:05+00')",
    ],
    "on conflict": [
        "create table up (k int primary key, v int check (v < 10))",
        "insert into up values (1, 1)",
        "insert into up values (1, 20) on conflict (k) do update set v = excluded.v",
        "insert into up values (1, 5) on conflict (k) do update set v = up.v + 100",
        "insert into up values (2, 50) on conflict (k) do nothing",
        "insert into up values (1, 5) on conflict (k) do update set v = excluded.v returning *",
        "select * from up order by k",
    ],
    "alter table": [
        "create table a (n int)",
        "insert into a values (1), (2), (3)",
        "alter table a add check (n > 2)",
        "alter table a add constraint big check (n > 2)",
        "alter table a add constraint big check (n > 2) not valid",
        CATALOG_ROWS.format(table="a"),
        DESCRIBE_CHECKS.format(table="a"),
        "insert into a values (1)",
        "alter table a validate constraint big",
        "alter table a validate constraint nope",
        "delete from a where n < 3",
        "alter table a validate constraint big",
        "alter table a validate constraint big",
        "select conname, convalidated from pg_constraint where conrelid = 'a'::regclass",
        "alter table a add check (n > 0)",
        "alter table a add constraint big check (n > 10)",
        "alter table a add constraint c9 check (n > 0), add constraint c9 check (n > 0)",
        "alter table a drop constraint nope",
        "alter table a drop constraint if exists nope",
        "alter table a drop constraint big",
        "alter table a drop constraint a_n_check",
        "insert into a values (-1)",
        "alter table a add check (n < 100), add check (n <> 50)",
        DESCRIBE_CHECKS.format(table="a"),
        "alter table a rename column n to m",
        DESCRIBE_CHECKS.format(table="a"),
        "insert into a values (100)",
        "alter table a add column o int check (o > 0)",
        "alter table a add column p int, add constraint p_pos check (p > 0 and m > 0)",
        "alter table a drop column p",
        DESCRIBE_CHECKS.format(table="a"),
        "alter table if exists missing_table add check (x > 0)",
        "begin",
        "alter table a add constraint in_block check (m <> 7)",
        "insert into a values (7)",
        "rollback",
        "insert into a values (7)",
        "select count(*) from pg_constraint where conname = 'in_block'",
    ],
}


both = pair_fixture("checks", [], detailed=True)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_matches_postgres(both: tuple[Reference, Ours], scenario: str) -> None:
    assert_same(both, SCENARIOS[scenario])


def test_copy_from_checks_rows(both: tuple[Reference, Ours], module_server: object) -> None:
    """COPY FROM tests each row (a real mirrordb server: COPY needs the wire protocol)."""
    reference, _ = both
    statements = ["create table cp (a int check (a > 0), b text check (b <> 'no'))"]
    with psycopg.connect(module_server.dsn(), autocommit=True) as mine:  # type: ignore[attr-defined]
        for statement in statements:
            reference.connection.execute(statement)
            mine.execute(statement)
        for data in ["1\tyes\n2\tok\n", "3\tyes\n-4\tyes\n", "5\tno\n", "\\N\t\\N\n"]:
            assert copy_in_error(mine, "copy cp from stdin", data) == \
                copy_in_error(reference.connection, "copy cp from stdin", data), data
        counted = "select count(*), sum(a) from cp"
        assert mine.execute(counted).fetchall() == \
            reference.connection.execute(counted).fetchall()
