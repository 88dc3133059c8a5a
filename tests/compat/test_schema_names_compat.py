"""Relation names unique per schema, side by side with a real PostgreSQL 15: two schemas each
with a table ``t`` (with an index, a serial column's sequence, a sequence ``s`` and a view
``v`` of the same names), reached through qualified names and through search_path changes.

Every statement must give the same outcome on both (rows, errors, notices), and the
statements check which relation each one read or changed: DROP b.t leaves a.t and its data;
TRUNCATE, ALTER, RENAME, nextval, INSERT/UPDATE/DELETE, foreign keys between the schemas;
42P07 for a real duplicate in one schema. A pg_dump of such a database restored into
mirrordb is checked at the end.
"""

from __future__ import annotations

import subprocess
import pytest

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

PG_BIN = "/usr/lib/postgresql/15/bin"

SETUP = [
    "create schema a",
    "create schema b",
    "create table a.t (id serial primary key, v text)",
    "create table b.t (id serial primary key, v text, n int)",
    "create index t_v on a.t (v)",
    "create index t_v on b.t (v)",
    "create sequence a.s",
    "create sequence b.s start 100",
    "insert into a.t (v) values ('a1'), ('a2')",
    "insert into b.t (v, n) values ('b1', 1), ('b2', 2), ('b3', 3)",
    "create view a.v as select id, v from a.t",
    "create view b.v as select id, v, n from b.t",
]

SCENARIOS: dict[str, list[str]] = {
    "qualified reads": [
        "select * from a.t order by id",
        "select * from b.t order by id",
        "select * from a.v order by id",
        "select * from b.v order by id",
        "select count(*) from a.t x join b.t y on x.id = y.id",
        "select a.t.v, b.t.v from a.t join b.t on a.t.id = b.t.id order by 1",
        "select b.t.n from a.t, b.t where a.t.id = 1 and b.t.id = 3",
        "select c.relname, n.nspname from pg_class c join pg_namespace n "
        "on n.oid = c.relnamespace where c.relname in ('t', 't_v', 't_pkey', 's', 'v', "
        "'t_id_seq') order by 2, 1",
        "select 'a.t'::regclass::oid = 'b.t'::regclass::oid",
        "select pg_get_serial_sequence('b.t', 'id')",
    ],
    "search path": [
        "set search_path = b, public",
        "select * from t order by id",
        "select * from v order by id",
        "select nextval('s')",
        "set search_path = a, b",
        "select * from t order by id",
        "select nextval('s')",
        "select nextval('b.s')",
        "select currval('s'), currval('b.s')",
        "set search_path = public",
        "select * from t",
        "select count(*) from pg_class where relname = 's' and pg_table_is_visible(oid)",
        "reset search_path",
    ],
    "dml through each": [
        "insert into a.t (v) values ('a3') returning id, v",
        "insert into b.t (v, n) values ('b4', 4) returning id, v, n",
        "update b.t set v = 'B2' where id = 2",
        "delete from a.t where id = 1",
        "select * from a.t order by id",
        "select * from b.t order by id",
        "set search_path = b",
        "update t set n = n * 10 where id = 3",
        "delete from t where id = 4",
        "insert into t (v, n) values ('b5', 5) returning id",
        "select * from b.t order by id",
        "select * from a.t order by id",
        "reset search_path",
        "select nextval('a.t_id_seq'), nextval('b.t_id_seq')",
    ],
    "ddl on one": [
        "create table a.d (x int)",
        "create table b.d (y int)",
        "create table a.d (z int)",
        "insert into a.d values (1)",
        "insert into b.d values (2), (3)",
        "alter table b.d add column w text default 'w'",
        "select * from a.d",
        "select * from b.d order by y",
        "alter table a.d rename to d2",
        "select * from a.d2",
        "select * from b.d order by y",
        "alter table b.d rename column y to yy",
        "select yy from b.d order by yy",
        "create index d_i on a.d2 (x)",
        "create index d_i on b.d (yy)",
        "create index d_i on b.d (w)",
        "alter index b.d_i rename to d_j",
        "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where nspname = 'b' and relname like 'd%' order by 1",
        "truncate b.d",
        "select count(*) from b.d",
        "select count(*) from a.d2",
        "comment on table a.d2 is 'in a'",
        "comment on table b.d is 'in b'",
        "select obj_description('a.d2'::regclass), obj_description('b.d'::regclass)",
        "create role schema_names_owner",
        "alter table b.d owner to schema_names_owner",
        "select tableowner from pg_tables where schemaname = 'a' and tablename = 'd2'",
        "select tableowner from pg_tables where schemaname = 'b' and tablename = 'd'",
        "reindex table b.d",
        "reindex index a.d_i",
        "vacuum b.d",
        "analyze a.d2",
        "lock table b.d in access exclusive mode",
        "drop table b.d",
        "select * from a.d2",
        "drop table a.d2",
        "alter table b.d owner to postgres",
        "drop role schema_names_owner",
    ],
    "sequences of the same name": [
        "create sequence a.q",
        "create sequence b.q increment 5 start 50",
        "create sequence a.q",
        "select nextval('a.q'), nextval('b.q'), nextval('a.q'), nextval('b.q')",
        "select setval('b.q', 500)",
        "select nextval('a.q'), nextval('b.q')",
        "alter sequence b.q increment 10",
        "select nextval('a.q'), nextval('b.q')",
        "select schemaname, sequencename, last_value from pg_sequences "
        "where sequencename = 'q' order by 1",
        "drop sequence a.q",
        "select nextval('b.q')",
        "select count(*) from pg_class where relname = 'q'",
        "drop sequence b.q",
    ],
    "views and matviews": [
        "create table a.w (x int)",
        "create table b.w (x int)",
        "insert into a.w values (1)",
        "insert into b.w values (2)",
        "set search_path = b",
        "create view wv as select x from w",
        "set search_path = a",
        "create view wv as select x from w",
        "select * from wv",
        "select * from b.wv",
        "reset search_path",
        "create materialized view a.m as select x from a.w",
        "create materialized view b.m as select x from b.w",
        "insert into b.w values (3)",
        "refresh materialized view b.m",
        "select * from a.m",
        "select * from b.m order by x",
        "drop table b.w",
        "drop table b.w cascade",
        "select * from a.wv",
        "select * from a.m",
        "set search_path = a",
        "drop table w cascade",
        "reset search_path",
    ],
    "foreign keys between schemas": [
        "create table a.p (id int primary key)",
        "create table b.p (id int primary key)",
        "create table b.c (pid int references a.p)",
        "insert into a.p values (1)",
        "insert into b.p values (2)",
        "insert into b.c values (1)",
        "insert into b.c values (2)",
        "delete from b.p",
        "delete from a.p",
        "truncate a.p",
        "truncate a.p cascade",
        "select count(*) from b.c",
        "select count(*) from b.p",
        "drop table a.p",
        "drop table a.p cascade",
        "insert into b.c values (7)",
        "drop table b.c, b.p",
    ],
    "drop one of two": [
        "create table a.x (id serial, v text)",
        "create table b.x (id serial, v text)",
        "insert into a.x (v) values ('keep')",
        "insert into b.x (v) values ('gone')",
        "drop table b.x",
        "select * from a.x",
        "select nextval('a.x_id_seq')",
        "select count(*) from pg_class where relname = 'x_id_seq'",
        "set search_path = b, a",
        "select * from x",
        "reset search_path",
        "drop table a.x",
    ],
    "drop schema cascade": [
        "create schema c",
        "create table c.t (id int)",
        "create sequence c.s",
        "create table c.only_c (id int)",
        "drop schema c cascade",
        "select count(*) from a.t",
        "select count(*) from b.t",
        "select nextval('a.s') > 0, nextval('b.s') >= 100",
    ],
    "unqualified create goes to the first schema": [
        "set search_path = b, a",
        "create table y (id int)",
        "set search_path = a, b",
        "create table y (id int)",
        "create table y (id int)",
        "select nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where relname = 'y' order by 1",
        "insert into y values (1)",
        "select (select count(*) from a.y), (select count(*) from b.y)",
        "drop table y",
        "drop table y",
        "drop table y",
        "reset search_path",
    ],
}


both = pair_fixture("nsnames", SETUP, detailed=True)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario(both: tuple[Reference, Ours], scenario: str) -> None:
    assert_same(both, SCENARIOS[scenario])


def test_pg_dump_of_same_names_restores(both: tuple[Reference, Ours]) -> None:
    """pg_dump of a PostgreSQL database with a.log and public.log (and their serial
    sequences and indexes), restored into mirrordb: each table gets its own rows."""
    reference, ours = both
    for statement in ["create schema audit",
                      "create table audit.log (id serial primary key, what text)",
                      "create table public.log (id serial primary key, what text, n int)",
                      "create index log_what on audit.log (what)",
                      "create index log_what on public.log (what)",
                      "insert into audit.log (what) values ('audited')",
                      "insert into public.log (what, n) values ('p1', 1), ('p2', 2)"]:
        assert reference.run(statement)[0] == "command", statement
    info = reference.connection.info
    dump = subprocess.run([f"{PG_BIN}/pg_dump", "-h", info.host, "-p", str(info.port),
                           "-U", info.user, "-d", info.dbname, "-t", "audit.log",
                           "-t", "public.log", "--no-owner"],
                          capture_output=True, text=True, check=True, timeout=60).stdout
    statements = ["create schema audit"]   # pg_dump -t leaves the schema out
    statements += [s for s in _statements(dump) if not s.startswith("COPY ")]
    for statement in statements:
        result = ours.run(statement)
        assert result[0] != "error", (statement, result)
    _restore_rows(ours, dump)
    checks = ["select * from audit.log order by id", "select * from public.log order by id",
              "select nextval('audit.log_id_seq'), nextval('public.log_id_seq')",
              "select indexrelid::regclass::text from pg_index "
              "where indrelid = 'audit.log'::regclass order by 1"]
    for statement in checks:
        assert ours.run(statement) == reference.run(statement), statement


def _statements(dump: str) -> list[str]:
    """The SQL statements of a plain dump, without its COPY data and comments."""
    statements, current, in_copy = [], [], False
    for line in dump.splitlines():
        if in_copy:
            in_copy = line != "\\."
            continue
        if line.startswith("COPY "):
            in_copy = True
            statements.append(line)
            continue
        if line.startswith(("--", "\\")) or not line.strip():
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current))
            current = []
    return statements


def _restore_rows(ours: Ours, dump: str) -> None:
    """The dump's COPY data as INSERTs (``Ours`` is a session without COPY's messages)."""
    lines = dump.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.startswith("COPY "):
            continue
        head = line[len("COPY "):line.index(" FROM stdin")]
        while lines[index] != "\\.":
            values = ", ".join("NULL" if field == "\\N" else "'" + field.replace("'", "''") + "'"
                               for field in lines[index].split("\t"))
            result = ours.run(f"insert into {head} values ({values})")
            assert result[0] != "error", (head, result)
            index += 1
