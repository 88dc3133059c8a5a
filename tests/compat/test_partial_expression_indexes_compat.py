"""Partial and expression B-tree indexes, side by side with a real PostgreSQL 15.

The same statements run on a throw-away PostgreSQL server and on a mirrordb Session
(tests/compat/differential.py): results, errors (SQLSTATE, message, DETAIL, position), and the
catalog's view of the indexes (pg_get_indexdef, pg_indexes, pg_index) must agree. Plans are
mirrordb's own, so index use is tested separately, on mirrordb alone, through EXPLAIN.
"""

from __future__ import annotations

from typing import Any

from differential import MARKS, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table users (id int primary key, email text, name text, deleted_at int)",
    "insert into users values (1, 'A@x.org', 'Ann', null), (2, 'b@x.org', 'Bob', null), "
    "(3, 'a@x.org', 'Ann2', 7)",
    "create unique index users_live_email on users (email) where deleted_at is null",
    "create unique index users_lower_email on users (lower(email)) where deleted_at is null",
    "create index on users (lower(name))",
    "create table m (k int, v int, w text)",
    "insert into m select g, g % 7 - 3, 'w' || g from generate_series(1, 60) g",
    "create index m_pos on m (v) where v > 0",
    "create index on m ((k + v), w)",
    "create index m_w on m ((w || '!')) where k < 30 and v is not null",
    "create index on m (v desc, w nulls first, k desc nulls last, lower(w) asc nulls last)",
    "create index on m ((coalesce(w, 'x')), (greatest(v, k)), (w::varchar), (case when v > 0 "
    "then 1 end), (nullif(v, 0)), (v * 2), (v * 3))",
    "create unique index m_k_incl on m (k) include (w, v)",
    "create index on m (lower(w)) include (k) where v < 0",
]

both = pair_fixture("partial_expression_indexes", SETUP, detailed=True)

INDEXDEFS = ("select indexname, indexdef from pg_indexes where schemaname = 'public' "
             "order by indexname")


def test_catalog_shows_the_definitions_as_postgres(both: Any) -> None:
    assert_same(both, [
        INDEXDEFS,
        "select c.relname, pg_get_indexdef(i.indexrelid, 0, true), "
        "pg_get_indexdef(i.indexrelid, 1, true), i.indkey, i.indnatts, "
        "i.indpred is not null, i.indexprs is not null "
        "from pg_index i join pg_class c on c.oid = i.indexrelid "
        "where i.indrelid in ('users'::regclass, 'm'::regclass) order by c.relname",
        "select attname, atttypid::regtype from pg_attribute where attrelid = "
        "'users_lower_email'::regclass",
        "select c.relname, i.indnatts, i.indnkeyatts, i.indkey, i.indclass, i.indoption, "
        "pg_get_indexdef(i.indexrelid, 2, false), pg_get_indexdef(i.indexrelid, 3, true) "
        "from pg_index i join pg_class c on c.oid = i.indexrelid "
        "where i.indrelid = 'm'::regclass order by c.relname",
        "select c.relname, pg_get_expr(i.indpred, i.indrelid), "
        "pg_get_expr(i.indexprs, i.indrelid), pg_get_expr(i.indpred, i.indrelid, true), "
        "pg_get_expr(i.indexprs, i.indrelid, true) from pg_index i "
        "join pg_class c on c.oid = i.indexrelid where i.indrelid = 'm'::regclass "
        "order by c.relname",
        "select c.relname, i.indoption, a.attname, a.atttypid::regtype "
        "from pg_index i join pg_class c on c.oid = i.indexrelid "
        "join pg_attribute a on a.attrelid = i.indexrelid "
        "where i.indrelid = 'm'::regclass order by c.relname, a.attnum",
    ])


def test_unique_partial_and_expression_indexes_enforce_among_their_rows(both: Any) -> None:
    assert_same(both, [
        "insert into users values (4, 'b@x.org', 'dup', null)",
        "insert into users values (5, 'B@X.org', 'dup', null)",
        "insert into users values (6, 'b@x.org', 'gone', 5)",
        "update users set deleted_at = null where id = 3",
        "update users set deleted_at = 9 where id = 1",
        "update users set deleted_at = null where id = 3",
        "create unique index users_name_bad on users (lower(email))",
        "select * from users order by id",
        "select id from users where lower(email) = 'b@x.org' order by id",
        "select id from users where email = 'b@x.org' and deleted_at is null",
    ])


def test_queries_return_the_same_rows(both: Any) -> None:
    assert_same(both, [
        "select k, v from m where v > 2 order by k",
        "select k, v from m where v > -2 and v < 1 order by k",
        "select k from m where v = 3 order by k",
        "select k from m where k + v = 10 order by k",
        "select k from m where (k + v) >= 50 and w > 'w5' order by k",
        "select k from m where w || '!' = 'w7!' and k < 30 and v is not null",
        "select k from m where w || '!' = 'w37!'",
        "update m set v = 3 where k = 4",
        "delete from m where k = 5",
        "select k, v from m where v > 2 order by k",
        "select count(*) from m where v > 0",
        "create table days (d date)",
        "insert into days select date '2020-08-20' + g from generate_series(1, 60) g",
        "create index days_late on days (d) where d > '2020-10-01'",
        "select count(*) from days where d > '2020-9-1'",
        "select count(*) from days where d > '2020-10-5'",
    ])


def test_refusals_match(both: Any) -> None:
    assert_same(both, [
        "create index on m (random())",
        "create index on m ((k + random()::int))",
        "create index on m (k) where random() > 0.5",
        "create index on m (now())",
        "create index on m ((select 1))",
        "create index on m (k) where k > (select 1)",
        "create index on m (count(k))",
        "create index on m (k) where count(k) > 1",
        "create index on m (nosuch(k))",
        "create index on m ((nosuch + 1))",
        "create index on m (k) where nosuch > 1",
        "create index on m (k) where k + 1",
        "create table dt (d date, ts timestamp, tz timestamptz, t text, i interval, n int)",
        "create index on dt ((t::date))", "create index on dt ((d::text))",
        "create index on dt ((tz::date))", "create index on dt ((ts::timestamptz))",
        "create index on dt ((tz + i))", "create index on dt ((tz + '1 day'))",
        "create index on dt (ts) where ts > tz", "create index on dt ((t || n))",
        "create index on dt ((t::time))", "create index on dt (n) where d > '2020-01-01'",
        "create index on dt ((ts + i), (d + 1), (t || 'x'), (n::text), (d::timestamp))",
        "create index on dt ((tz - tz))", "create index on dt ((tz::text))",
        "create index on m (k) include ((k + 1))",
        "create index on m (k) include (v desc)",
        "create index on m (k) include (v nulls first)",
        "create index on m (k) include (nosuch)",
        "insert into m values (1, 5, 'dup')",
    ])


def test_on_conflict_inference(both: Any) -> None:
    assert_same(both, [
        "insert into users values (10, 'b@x.org', 'x', null) on conflict (email) "
        "where deleted_at is null do nothing",
        "insert into users values (10, 'b@x.org', 'x', null) on conflict (email) do nothing",
        "insert into users values (10, 'B@x.org', 'x', null) on conflict (lower(email)) "
        "where deleted_at is null do update set name = excluded.name returning id, name",
        "insert into users values (11, 'c@x.org', 'y', null) on conflict (lower(email)) "
        "do nothing",
        "insert into users values (11, 'c@x.org', 'y', null) on conflict (upper(email)) "
        "where deleted_at is null do nothing",
        "insert into users values (11, 'c@x.org', 'y', null) on conflict (lower(email)) "
        "where deleted_at is null do nothing returning id",
        "select * from users order by id",
    ])


def test_index_use(both: Any) -> None:
    """mirrordb's plans: a partial index only when WHERE implies its predicate; an
    expression index when WHERE names the same expression."""
    _, ours = both
    plans = {query: ours.run("explain " + query)[2][0][0] for query in (
        "select * from m where v > 2", "select * from m where v > -1",
        "select * from m where v = 1", "select * from m where k + v = 3",
        "select * from m where w || '!' = 'w1!' and k < 20 and v is not null",
        "select * from m where w || '!' = 'w1!'",
        "select * from users where lower(email) = 'x' and deleted_at is null",
        "select * from users where lower(name) = 'ann'")}
    assert plans == {
        "select * from m where v > 2": "Index Scan using m_pos on m",
        "select * from m where v > -1": "Index Scan using m_v_w_k_lower_idx on m",  # total
        "select * from m where v = 1": "Index Scan using m_pos on m",
        "select * from m where k + v = 3": "Index Scan using m_expr_w_idx on m",
        "select * from m where w || '!' = 'w1!' and k < 20 and v is not null":
            "Index Scan using m_w on m",
        "select * from m where w || '!' = 'w1!'": "Seq Scan on m (filtered)",
        "select * from users where lower(email) = 'x' and deleted_at is null":
            "Index Scan using users_lower_email on users",
        "select * from users where lower(name) = 'ann'":
            "Index Scan using users_lower_idx on users",
    }


def test_indexes_match_the_table_after_changes(both: Any) -> None:
    _, ours = both
    assert ours.run("reindex table m")[0] == "command"
    assert ours.run("vacuum m")[0] == "command"
    for table in ("m", "users"):
        assert ours.engine.verify_indexes(table) > 0


def test_constraints_with_include_columns(both: Any) -> None:
    assert_same(both, [
        "create table inc (a int, b int, c int, unique (a) include (b), "
        "primary key (c) include (a))",
        "select pg_get_indexdef(indexrelid) from pg_index where indrelid = 'inc'::regclass "
        "order by 1",
        "select conname, pg_get_constraintdef(oid) from pg_constraint "
        "where conrelid = 'inc'::regclass order by 1",
        "alter table inc add unique (b) include (c)",
        "alter table inc add unique (b) include (nosuch)",
        "alter table inc add unique (nosuch)",
        "create table inc2 (a int, unique (a) include (nosuch))",
        "insert into inc values (1, 1, 1), (2, 1, 2)",
        "insert into inc values (1, 2, 3)",
        "alter table inc drop constraint inc_b_c_key",
        "insert into inc values (3, 1, 3)",
        "select conname, pg_get_constraintdef(oid) from pg_constraint "
        "where conrelid = 'inc'::regclass order by 1",
        "drop table inc",
    ])


def test_hot_updates_count_expression_and_predicate_columns(both: Any) -> None:
    """An update is heap-only only when no column an index's key, expressions or predicate
    read changes (mirrordb's decision; PostgreSQL's statistics arrive late, so not compared)."""
    _, ours = both
    for statement in ("create table h (k int, a text, p int, free int)",
                      "create index on h (lower(a))", "create index on h (k) where p > 0",
                      "insert into h values (1, 'x', 1, 0)"):
        assert ours.run(statement)[0] == "command"
    hot = "select n_tup_upd, n_tup_hot_upd from pg_stat_user_tables where relname = 'h'"
    expected = []
    for statement, heap_only in (("update h set free = 1", True), ("update h set a = 'y'", False),
                                 ("update h set p = 0", False), ("update h set free = 2", True),
                                 ("update h set p = 5", False)):
        assert ours.run(statement)[0] == "command"
        expected.append(heap_only)
        assert ours.run(hot)[2] == [(str(len(expected)), str(sum(expected)))], statement
    assert ours.run("select k from h where p > 3")[2] == [("1",)]
    assert ours.engine.verify_indexes("h") > 0
