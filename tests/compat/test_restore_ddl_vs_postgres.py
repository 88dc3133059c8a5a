"""The DDL a pg_dump script is made of, side by side with a real PostgreSQL 15: CREATE/DROP/
ALTER SCHEMA and qualified names, ALTER ... OWNER TO, ALTER SEQUENCE (options, OWNED BY),
identity added by ALTER TABLE, COMMENT ON and the functions that read comments back.

Each scenario runs its statements in order on a throw-away PostgreSQL server and on a mirrordb
Session over a fresh cluster (tests/compat/differential.py); every statement must give the
same outcome (rows, or SQLSTATE, message, detail, hint and position; notices). Scenarios name
their own objects, so they may run in any order.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from differential import MARKS, Ours, Reference, differences, paired

pytestmark = MARKS

SETUP = [
    "create role r_alice",
    "create role r_bob",
    "create role r_super superuser",
]

SCENARIOS: dict[str, list[str]] = {
    "schemas": [
        "create schema s1",
        "create schema s1",
        "create schema if not exists s1",
        "create schema pg_mine",
        "create schema authorization r_alice",
        "select nspname, nspowner::regrole from pg_namespace where nspname in ('s1', 'r_alice') "
        "order by 1",
        "create schema s2 authorization nosuchrole",
        "create table nosuch.t1 (x int)",
        "create table s1.t1 (x int primary key, y text)",
        "insert into s1.t1 values (1, 'a'), (2, 'b')",
        "select * from s1.t1 order by x",
        "select * from t1",
        "select * from nosuch.t1",
        "select relname, relnamespace::regnamespace from pg_class where relname in "
        "('t1', 't1_pkey') order by 1",
        "create index t1_y on s1.t1 (y)",
        "select relnamespace::regnamespace from pg_class where relname = 't1_y'",
        "create sequence s1.sq1",
        "select nextval('s1.sq1')",
        "create view s1.v1 as select x from s1.t1",
        "select * from s1.v1 order by 1",
        "set search_path = s1, public",
        "select * from t1 order by x",
        "select current_schema(), current_schemas(false), current_schemas(true)",
        "create table t2 (a int)",
        "select relnamespace::regnamespace from pg_class where relname = 't2'",
        "select 't1'::regclass, 't2'::regclass",
        "set search_path = ''",
        "select current_schema(), current_schemas(false)",
        "create table t3 (a int)",
        "select * from t1",
        "select * from s1.t1 order by x",
        "reset search_path",
        "select 't1'::regclass::text",
        "select pg_table_is_visible('s1.t1'::regclass)",
        "alter schema s1 rename to s1b",
        "select * from s1b.t1 order by x",
        "alter schema s1b rename to pg_x",
        "alter schema nosuch rename to s9",
        "alter schema s1b owner to r_bob",
        "select nspowner::regrole from pg_namespace where nspname = 's1b'",
        "alter schema s1b owner to nosuchrole",
        "drop schema s1b",
        "drop schema s1b restrict",
        "drop schema nosuch",
        "drop schema if exists nosuch",
        "drop schema pg_catalog",
        "drop schema s1b cascade",
        "select count(*) from pg_class where relname in ('t1', 't1_pkey', 't1_y', 'sq1', 'v1', 't2')",
        "create schema s3",
        "create table s3.only1 (a int)",
        "drop schema s3 cascade",
        "drop schema r_alice",
    ],
    "owners": [
        "create table o1 (id serial primary key, v text)",
        "create index o1_v on o1 (v)",
        "create view ov as select id from o1",
        "create sequence oseq",
        "alter table o1 owner to r_alice",
        "select relname, relowner::regrole from pg_class where relname in "
        "('o1', 'o1_pkey', 'o1_v', 'o1_id_seq') order by 1",
        "alter table o1 owner to nosuchrole",
        "alter table nosuch owner to r_alice",
        "alter table if exists nosuch owner to r_alice",
        "alter index o1_v owner to r_bob",
        "alter index o1_v owner to r_alice",
        "alter sequence o1_id_seq owner to r_bob",
        "alter view ov owner to r_bob",
        "alter view o1 owner to r_bob",
        "alter sequence o1 owner to r_bob",
        "alter index o1 owner to r_bob",
        "alter table ov owner to r_alice",
        "alter sequence oseq owner to r_bob",
        "alter table oseq owner to r_alice",
        "select relname, relowner::regrole from pg_class where relname in ('ov', 'oseq') "
        "order by 1",
        "grant select on o1 to r_bob",
        "alter table o1 owner to r_bob",
        "select relacl::text from pg_class where relname = 'o1'",
        "set role r_alice",
        "alter table o1 owner to r_alice",
        "alter table ov owner to r_bob",
        "reset role",
        "set role r_bob",
        "alter table o1 owner to r_alice",
        "alter table o1 owner to r_bob",
        "reset role",
        "alter view ov add column x int",
        "alter sequence oseq add column x int",
    ],
    "alter sequence": [
        "create sequence q1",
        "select nextval('q1'), nextval('q1')",
        "alter sequence q1 increment by 10",
        "select nextval('q1')",
        "alter sequence q1 restart",
        "select nextval('q1')",
        "alter sequence q1 restart with 100",
        "select nextval('q1'), nextval('q1')",
        "alter sequence q1 start with 5 restart",
        "select nextval('q1')",
        "select seqstart, seqincrement, seqmax, seqmin, seqcache, seqcycle, seqtypid::regtype "
        "from pg_sequence where seqrelid = 'q1'::regclass",
        "alter sequence q1 maxvalue 50 cycle",
        "alter sequence q1 maxvalue 10",
        "alter sequence q1 increment 0",
        "alter sequence q1 minvalue 60 maxvalue 50",
        "alter sequence q1 cache 0",
        "alter sequence q1 restart with 1000",
        "alter sequence q1 as smallint",
        "alter sequence q1 as text",
        "alter sequence q1 increment 1 increment 2",
        "alter sequence q1 no maxvalue no cycle",
        "select seqstart, seqincrement, seqmax, seqmin, seqcache, seqcycle, seqtypid::regtype "
        "from pg_sequence where seqrelid = 'q1'::regclass",
        "create sequence q2 as integer",
        "alter sequence q2 as bigint",
        "select seqmax, seqtypid::regtype from pg_sequence where seqrelid = 'q2'::regclass",
        "alter sequence q2 increment -1",
        "select seqmax, seqmin from pg_sequence where seqrelid = 'q2'::regclass",
        "alter sequence nosuch restart",
        "alter sequence if exists nosuch restart",
        "create table qt (id int, v int)",
        "alter sequence qt restart",
        "alter sequence q1 owned by qt.id",
        "select pg_get_serial_sequence('qt', 'id')",
        "select deptype from pg_depend where objid = 'q1'::regclass and refobjid = 'qt'::regclass",
        "alter sequence q1 owned by qt.nosuch",
        "alter sequence q1 owned by nosuch.id",
        "alter sequence q1 owned by bogus",
        "alter sequence q1 owned by none",
        "select pg_get_serial_sequence('qt', 'id')",
        "alter sequence q1 owned by qt.v",
        "drop table qt",
        "select count(*) from pg_class where relname = 'q1'",
        "alter sequence q2 owner to r_alice",
        "create table qt2 (id int)",
        "alter sequence q2 owned by qt2.id",
        "create sequence q3 owned by qt2.id",
        "select pg_get_serial_sequence('qt2', 'id') is not null",
    ],
    "identity added by alter table": [
        "create table it (id integer not null, v text)",
        "alter table it alter column id add generated by default as identity "
        "(sequence name public.it_seq start with 7 increment by 2)",
        "insert into it (v) values ('a'), ('b')",
        "select * from it order by id",
        "select pg_get_serial_sequence('it', 'id')",
        "create table it2 (id integer, v text)",
        "alter table it2 alter column id add generated by default as identity",
        "create table it3 (id text not null)",
        "alter table it3 alter column id add generated always as identity",
        "alter sequence it_seq owned by none",
        "alter sequence it_seq owner to r_bob",
        "drop table it",
        "select count(*) from pg_class where relname = 'it_seq'",
    ],
    "comments": [
        "create table c1 (a int, b text)",
        "create view cv as select a from c1",
        "create sequence cs",
        "create index ci on c1 (a)",
        "create schema csch",
        "comment on table c1 is 'a table'",
        "comment on column c1.b is 'column b'",
        "comment on view cv is 'a view'",
        "comment on sequence cs is 'a sequence'",
        "comment on index ci is 'an index'",
        "comment on schema csch is 'a schema'",
        "comment on role r_alice is 'a role'",
        "select obj_description('c1'::regclass, 'pg_class'), obj_description('c1'::regclass), "
        "col_description('c1'::regclass, 2), col_description('c1'::regclass, 1)",
        "select obj_description('cv'::regclass, 'pg_class'), "
        "obj_description('cs'::regclass, 'pg_class'), obj_description('ci'::regclass, 'pg_class')",
        "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = 'csch'",
        "select shobj_description(oid, 'pg_authid') from pg_roles where rolname = 'r_alice'",
        "select shobj_description(oid, 'pg_database') from pg_database where datname = 'postgres'",
        "select objsubid, description from pg_description where objoid = 'c1'::regclass "
        "order by 1",
        "comment on table c1 is 'changed'",
        "select obj_description('c1'::regclass, 'pg_class')",
        "comment on table c1 is null",
        "comment on column c1.b is ''",
        "select count(*) from pg_description where objoid = 'c1'::regclass",
        "comment on table cv is 'x'",
        "comment on view c1 is 'x'",
        "comment on sequence c1 is 'x'",
        "comment on index c1 is 'x'",
        "comment on table nosuch is 'x'",
        "comment on column c1.nosuch is 'x'",
        "comment on column nosuch.a is 'x'",
        "comment on column cs.last_value is 'x'",
        "comment on schema nosuch is 'x'",
        "comment on role nosuch is 'x'",
        "comment on column cv.a is 'view column'",
        "select col_description('cv'::regclass, 1)",
        "set role r_bob",
        "comment on table c1 is 'x'",
        "comment on column c1.a is 'x'",
        "comment on role r_alice is 'x'",
        "comment on role r_super is 'x'",
        "comment on schema csch is 'x'",
        "reset role",
        "comment on table c1 is 'kept'",
        "drop table c1 cascade",
        "select count(*) from pg_description where description = 'kept'",
    ],
}


@pytest.fixture(scope="module")
def both(template_cluster: str, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Reference, Ours]]:
    with paired(template_cluster, str(tmp_path_factory.mktemp("restore_ddl")), SETUP,
                detailed=True) as pair:
        yield pair


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario(both: tuple[Reference, Ours], scenario: str) -> None:
    reference, ours = both
    assert differences(reference, ours, SCENARIOS[scenario]) == []
