"""Array columns side by side with a real PostgreSQL 15 (storage/array_format.py, datum.py).

Each statement runs on a throw-away PostgreSQL server and on a mirrordb Session over a fresh
cluster; the statements run in order (later ones see earlier ones' rows) and must agree on the
result columns, the rows as text, or the error's SQLSTATE, message, hint and position: INSERT,
UPDATE, COPY and SELECT of array columns of many element types, element access, array functions
and operators over stored arrays, WHERE/ORDER BY/GROUP BY/DISTINCT on array columns, defaults,
catalog views (format_type, attndims, information_schema) and the refusals.
"""

from __future__ import annotations

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table arr (id int, c int[], t text[], n numeric[])",
]

STATEMENTS = [
    # storing and reading back, NULL elements, empty and NULL arrays
    "insert into arr values (1, array[1], array['a'], array[1.5])",
    r"""insert into arr values (2, '{1,2,NULL}', '{"a b","",NULL,"NULL","x\"y","c,d",\\}', """
    "'{NaN,-0.00,Infinity}')",
    "select '{1}' || null::int[], null::int[] || null::int[], null::int || array[1], "
    "array[1] || null::int",
    "insert into arr values (3, '{}', '{}', '{}')",
    "insert into arr values (4, null, null, null)",
    "insert into arr values (5, array[3,1,2], array['z','y'], array[100, 0.001])",
    "insert into arr values (6, array[1,2], array['a'], null)",
    "select * from arr order by id",
    "select id, c[1], c[2], c[5], t[1], n[1] from arr order by id",
    "select id, array_length(c, 1), cardinality(c), array_upper(c, 1), array_lower(c, 1) "
    "from arr order by id",
    "select id, unnest(c) from arr order by id, 2",
    "select id from arr where 3 = any(c) order by id",
    "select id from arr where 1 = all(c) order by id",
    "select id from arr where c @> '{1}' order by id",
    "select id from arr where c <@ '{1,2,3}' order by id",
    "select id from arr where c && array[2] order by id",
    "select id from arr where c = '{1,2}' order by id",
    "select id from arr where c is null order by id",
    "select id, c from arr order by c, id",
    "select id, c from arr order by c desc, id",
    "select id, t from arr order by t nulls first, id",
    "select c, count(*) from arr group by c order by c",
    "select distinct c from arr order by c",
    "select id, c || 9, array_append(c, 7), array_cat(c, c) from arr order by id",
    "select id, array_to_string(t, '|', '*') from arr order by id",
    "select id, c < array[2], c > array[1, 2] from arr order by id",
    # UPDATE of array columns and of elements
    "update arr set c = c || 4 where id = 1",
    "update arr set t = array['q', null] where id = 3",
    "select id, c, t from arr where id in (1, 3) order by id",
    # other element types
    ("create table kinds (b bool[], s smallint[], l bigint[], r real[], d float8[], "
     "v varchar(3)[], ch char(2)[], nm name[], by bytea[], o oid[], dt date[], tm time[], "
     "ts timestamp[], tz timestamptz[], iv interval[], u uuid[], j json[], jb jsonb[], "
     "num numeric(5,2)[])"),
    ("insert into kinds values ('{t,NULL,f}', '{1,-2}', '{9223372036854775807}', "
     "'{1.5,NaN}', '{-0.5,Infinity}', '{ab,NULL}', '{a,bc}', '{pg_class}', '{\"\\\\\\\\x01ff\"}', "
     "'{4000000000}', '{2000-01-01,NULL}', '{12:34:56.5}', '{\"2001-02-03 04:05:06\"}', "
     "'{\"2001-02-03 04:05:06+00\"}', '{\"1 day\",\"-2 mons 3 hours\"}', "
     "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', array['{\"a\": 1}'::json], "
     "array['{\"b\": [1, 2]}'::jsonb], '{1.5,NULL,-3}')"),
    "insert into kinds (b) values ('{}')",
    "select * from kinds",
    "select ch[1] || '|', v[2] is null, num[1], iv[2] from kinds where b <> '{}'",
    "insert into kinds (v) values ('{abcd}')",
    "insert into kinds (num) values ('{1234.5}')",
    # catalogs: format_type, attndims, information_schema
    ("select attname, format_type(atttypid, atttypmod), attndims from pg_attribute "
     "where attrelid = 'kinds'::regclass and attnum > 0 order by attnum"),
    ("select column_name, data_type, udt_name from information_schema.columns "
     "where table_name = 'arr' order by ordinal_position"),
    "select pg_typeof(c), pg_typeof(t) from arr where id = 1",
    # defaults
    "create table defs (id int, tags text[] default '{}', xs int[] default array[1, 2])",
    "insert into defs (id) values (1)",
    "select * from defs",
    "alter table defs add column ys bigint[] default '{7}'",
    "select * from defs",
    # input errors and multi-dimensional arrays
    "insert into arr (c) values ('{1,x}')",
    "insert into arr (c) values ('{1,2')",
    "insert into arr (c) values (array['a'])",
    "select cardinality(c) from arr where id = 99",
    # B-tree indexes on array columns
    "create index arr_c on arr (c)",
    "select id from arr where c = '{1,2}' order by id",
    "create unique index arr_t on arr (t)",
    "delete from arr where id = 6",
    "create unique index arr_t on arr (t)",
    "select id, t from arr where t = '{z,y}'",
    "update arr set t = '{z,y,x}' where id = 5",
    "select id, t from arr where t > '{y}' order by t",
    # other column types the row codec stores; pseudo-types are refused
    "create table misc (ch \"char\", rc regclass, rt regtype[], ci cid, chs \"char\"[])",
    "insert into misc values ('a', 'pg_class', '{int4,text}', '7', '{x,NULL}')",
    "select * from misc",
    "create table bad (c record)",
    "create table bad (c anyarray)",
    "create table bad (c cstring)",
    "alter table misc add column v void",
    "select array[[1, 2], [3, 4]]",
    "insert into arr (c) values ('{{1,2},{3,4}}')",
]

# PostgreSQL accepts these; mirrordb's arrays have lower bound 1, so it refuses them with
# 0A000 where the user makes one.
REFUSED = [
    "select '[0:1]={1,2}'::int[]",
    "create table vectors (v int2vector)",
]


both = pair_fixture("arrays", SETUP)


def test_statements_match_postgres(both: tuple[Reference, Ours]) -> None:
    assert_same(both, STATEMENTS)


def test_what_mirrordb_cannot_represent_is_refused(both: tuple[Reference, Ours]) -> None:
    reference, ours = both
    for statement in REFUSED:
        assert reference.run(statement)[0] != "error", statement
        answer = ours.run(statement)
        assert answer[:2] == ("error", "0A000"), (statement, answer)
