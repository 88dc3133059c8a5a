"""Small differences from PostgreSQL 15, side by side with a real server: the NOTICE of
CREATE ... IF NOT EXISTS on an existing object, the names PostgreSQL picks for a serial
column's sequence and for implicit indexes when the default name is taken, the error position
of nextval/currval/setval on a missing sequence (and 42809 on a table), and jsonb strings holding \\u0000.

Each statement runs in order on a throw-away PostgreSQL server and on a mirrordb Session over
a fresh cluster (differential.py); answers (rows, errors with position, notices) must be equal.
"""

from __future__ import annotations

from typing import Any

from differential import MARKS, assert_same, pair_fixture

pytestmark = MARKS

both = pair_fixture("small_differences", [
    "create table t (id int primary key, a int)",
    "create index t_a_idx on t (a)",
    "create sequence s",
    "create schema sc",
], detailed=True)

IF_NOT_EXISTS = [
    "create table if not exists t (id int)",
    "create table if not exists t (id int primary key)",
    "create table if not exists sc.t2 (id int)",
    "create table if not exists sc.t2 (id int)",
    "create index if not exists t_a_idx on t (a)",
    "create index if not exists t_a_idx on t (id)",
    "create unique index if not exists t_pkey on t (id)",
    "create sequence if not exists s",
    "create sequence if not exists t",
    "create schema if not exists sc",
    "create schema if not exists public",
    "create table if not exists s (x int)",
]

SERIAL_NAMES = [
    "create sequence u_id_seq",
    "create table u (id serial, b int unique)",
    "select pg_get_serial_sequence('u', 'id')",
    "select relname, relkind from pg_class where relname like 'u\\_%' order by 1",
    "create table u_id_seq1 (x int)",
    "create table u2 (id serial)",
    "drop table u2",
    "create table v_pkey (x int)",
    "create table v_b_key (x int)",
    "create table v (id int primary key, b int unique)",
    "create table v_c_idx (x int)",
    "create table w (c int)",
    "create index on w (c)",
    "create index on w (c)",
    "select relname from pg_class where relname like 'v\\_%' or relname like 'w\\_%' "
    "order by 1",
    "select conname from pg_constraint where conrelid = 'v'::regclass order by 1",
    "insert into u (b) values (1), (2) returning *",
    "create table x (a int, b int)",
    "alter table x add constraint x_a_key check (a > 0)",
    "alter table x add constraint x_pkey check (b > 0)",
    "alter table x add unique (a)",
    "alter table x add primary key (b)",
    "select conname, contype from pg_constraint where conrelid = 'x'::regclass order by 1",
    "select relname from pg_class where relname like 'x\\_%' order by 1",
]

MISSING_SEQUENCE = [
    "select nextval('missing')",
    "select 1, nextval('missing')",
    "select currval('missing')",
    "select  setval('missing', 5)",
    "select setval('missing', 5, false)",
    "select nextval('sc.missing')",
    "select nextval('nosuch.missing')",
    "select nextval('t')",
    "select currval('t')",
    "select setval('t', 3)",
    "select nextval('t'::regclass)",
]

JSON_NUL = [
    "select '\"\\u0000\"'::jsonb",
    "select '{\"a\": \"x\\u0000y\"}'::jsonb",
    "select '\"\\u0000\"'::json",
    "select json_build_object('a', chr(65))",
    "select jsonb_set('{\"a\": 1}', '{a}', '\"\\u0000\"')",
    "select '\"\\u0001\"'::jsonb",
    "select '{\"a\":\"\\u0000\"}'::json->>'a'",
    "select '{\"a\":{\"b\":\"\\u0000\"}}'::json#>>'{a,b}'",
    "select json_extract_path_text('{\"a\":\"\\u0000\"}', 'a')",
    "select '[\"\\u0000\"]'::json->>0",
    "select '{\"a\":\"\\u0000\", \"b\": \"ok\"}'::json->>'b'",
    "select ('\"\\u0000\"'::json)->>0",
    "select '{\"a\":\"x\\u0000\"}'::json->'a'",
    "select '{\"a\":\"\\\\u0000\"}'::json->>'a'",
    "select * from json_each_text('{\"a\":\"\\u0000\"}')",
    "select json_array_elements_text('[\"\\u0000\"]')",
]


def test_if_not_exists_notices(both: Any) -> None:
    assert_same(both, IF_NOT_EXISTS)


def test_serial_and_index_names_pick_a_free_one(both: Any) -> None:
    assert_same(both, SERIAL_NAMES)


def test_missing_sequence_error_position(both: Any) -> None:
    assert_same(both, MISSING_SEQUENCE)


def test_jsonb_nul_strings(both: Any) -> None:
    assert_same(both, JSON_NUL)
