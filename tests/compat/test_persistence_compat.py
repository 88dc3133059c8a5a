"""UNLOGGED (and TEMPORARY) tables side by side with a real PostgreSQL 15: relpersistence of a
table and of the indexes and sequences it makes, CREATE UNLOGGED SEQUENCE / TABLE AS, ALTER
TABLE / SEQUENCE ... SET LOGGED / SET UNLOGGED with their refusals, the foreign-key persistence
rules, and what psql's \\d prints (tests/compat/differential.py runs the statements on both).
Scenarios name their own objects, so they may run in any order."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

PERSISTENCE_OF = ("select relname, relkind, relpersistence from pg_class "
                  "where relname like '{0}%' order by 1")

SCENARIOS: dict[str, list[str]] = {
    "create unlogged": [
        "create unlogged table u1 (id serial primary key, v text unique, "
        "n int generated always as identity)",
        PERSISTENCE_OF.format("u1"),
        "insert into u1 (v) values ('a'), ('b')",
        "select id, v, n from u1 order by id",
        "update u1 set v = 'c' where id = 2",
        "delete from u1 where id = 1",
        "select id, v from u1 where id = 2",
        "truncate u1",
        "insert into u1 (v) values ('d')",
        "select id, v, n from u1",
        "create index u1_n on u1 (n)",
        PERSISTENCE_OF.format("u1"),
        "create unlogged sequence u1s start 5",
        "select nextval('u1s'), nextval('u1s')",
        PERSISTENCE_OF.format("u1s"),
        "create unlogged table u1c as select 1 as x",
        PERSISTENCE_OF.format("u1c"),
        "select * from u1c",
        "create unlogged view u1v as select 1",
        "create unlogged materialized view u1m as select 1",
    ],
    "set logged and unlogged": [
        "create table s2 (id serial primary key, v int)",
        "insert into s2 (v) values (10), (20)",
        "alter table s2 set unlogged",
        PERSISTENCE_OF.format("s2"),
        "select * from s2 where id = 2",
        "insert into s2 (v) values (30)",
        "alter table s2 set unlogged",
        "alter table s2 set logged",
        PERSISTENCE_OF.format("s2"),
        "select * from s2 order by id",
        "select nextval('s2_id_seq')",
        "create view s2v as select 1",
        "alter table s2v set logged",
        "alter table s2_pkey set unlogged",
        "alter index s2_pkey set unlogged",
        "create sequence s2q",
        "select nextval('s2q')",
        "alter sequence s2q set unlogged",
        PERSISTENCE_OF.format("s2q"),
        "select nextval('s2q')",
        "alter table s2q set logged",
        PERSISTENCE_OF.format("s2q"),
        "alter table nosuch set logged",
        "alter table if exists nosuch set logged",
    ],
    "foreign keys": [
        "create unlogged table f3u (a int primary key)",
        "create table f3p (a int primary key)",
        "create table f3x (a int references f3u)",
        "create table f3y (a int)",
        "alter table f3y add foreign key (a) references f3u",
        "create unlogged table f3r (a int references f3p)",
        "alter table f3p set unlogged",
        "alter table f3r set logged",
        "create unlogged table f3s (a int references f3u)",
        "alter table f3s set logged",
        "alter table f3u set logged",
        "alter table f3s set logged",
        PERSISTENCE_OF.format("f3"),
    ],
    "temporary tables": [
        "create temp table t4 (id serial primary key, v text)",
        "select relname, relkind, relpersistence, relnamespace::regnamespace::text "
        "from pg_class where relname like 't4%' order by 1",
        "select pg_my_temp_schema()::regnamespace::text, "
        "pg_is_other_temp_schema(pg_my_temp_schema()), "
        "pg_is_other_temp_schema('public'::regnamespace)",
        "select current_schemas(true), current_schemas(false)",
        "insert into t4 (v) select 'v' || g from generate_series(1, 200) g",
        "select id, v from t4 where id = 150",
        "update t4 set v = 'changed' where id = 3",
        "delete from t4 where id > 10",
        "select count(*), max(v) from t4",
        "vacuum t4",
        "truncate t4",
        "insert into t4 (v) values ('after truncate')",
        "select * from t4",
        "create index t4_v on t4 (v)",
        "select relpersistence from pg_class where relname = 't4_v'",
        "create table t4 (x int)",
        "insert into t4 values (42)",
        "select * from t4",
        "select * from public.t4",
        "select * from pg_temp.t4",
        "set search_path = public, pg_temp",
        "select * from t4",
        "select current_schemas(true)",
        "reset search_path",
        "create temp sequence t4s start 7",
        "select nextval('t4s'), relpersistence from pg_class where relname = 't4s'",
        "create table pg_temp.t4p (a int)",
        "select relpersistence, relnamespace::regnamespace::text from pg_class "
        "where relname = 't4p'",
        "create temp table public.t4bad (a int)",
        "create temporary table t4c as select 1 as one",
        "select relpersistence from pg_class where relname = 't4c'",
        "alter table t4c set logged",
        "alter table t4c set unlogged",
        "create table t4f (a int references t4 (id))",
        "create unlogged table t4g (a int references t4 (id))",
        "create temp table t4h (a int references public.t4 (x))",
        "begin read only",
        "insert into t4 (v) values ('read only')",
        "update t4 set v = 'read only too'",
        "select v from t4",
        "insert into public.t4 values (1)",
        "rollback",
        "begin read only",
        "create temp table t4ro (a int)",
        "rollback",
        "drop table t4",
        "select * from t4",
        "drop table t4",
    ],
    "temporary views": [
        "create temp table v6t (a int)",
        "insert into v6t values (1), (2)",
        "create temp view v6a as select a * 10 as ten from v6t",
        "create view v6b as select a from v6t where a > 1",
        "create view v6c as select 1 as one",
        "create view public.v6d as select a from v6t",
        "create or replace temp view v6a as select a * 10 as ten, a from v6t",
        "select relname, relpersistence, relnamespace::regnamespace::text from pg_class "
        "where relname like 'v6%' order by 1",
        "select * from v6a order by a",
        "select * from v6b",
        "drop table v6t",
        "drop table v6t cascade",
        "select relname from pg_class where relname like 'v6%' order by 1",
    ],
    "on commit": [
        "begin",
        "create temp table c5d (a int) on commit drop",
        "insert into c5d values (1)",
        "select * from c5d",
        "commit",
        "select * from c5d",
        "create temp table c5r (a int primary key) on commit delete rows",
        "insert into c5r values (1)",
        "select * from c5r",
        "begin",
        "insert into c5r values (2)",
        "select * from c5r",
        "commit",
        "select * from c5r",
        "create temp table c5p (a int) on commit preserve rows",
        "insert into c5p values (3)",
        "select * from c5p",
        "create table c5x (a int) on commit drop",
        "create table c5y (a int) on commit delete rows",
        "begin",
        "create temp table c5z on commit drop as select 1 as a",
        "select * from c5z",
        "rollback",
        "select * from c5z",
        "create temp table c5q (a int)",
        "discard temp",
        "select * from c5q",
        "select * from c5p",
        "create temp table c5q (a int)",
        "begin",
        "discard temp",
        "rollback",
        "select * from c5q",
        "discard all",
        "select * from c5q",
    ],
}

both = pair_fixture("persistence", [], with_tags=True, detailed=True)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_matches_postgres(both: tuple[Reference, Ours], scenario: str) -> None:
    assert_same(both, SCENARIOS[scenario])


PSQL_SCHEMA = ("create unlogged table lu (id serial primary key, name text); "
               "create index lu_name on lu (name); create table lp (id int)")


def _psql(host: str, port: int, command: str) -> str:
    from tests.conftest import pg_tool
    result = subprocess.run([pg_tool("psql"), "-X", "-h", host, "-p", str(port), "-U",
                             "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c",
                             command], capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "PGTZ": "UTC", "PGCLIENTENCODING": "UTF8"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_psql_describes_unlogged_tables_as_postgresql(template_cluster: str,
                                                      tmp_path: object) -> None:
    """psql's \\d of an unlogged table, index and sequence, and its listings, print the same
    over mirrordb as over PostgreSQL 15 ("Unlogged table", "Unlogged index", ...)."""
    from tests.compat.auth_pg_helpers import pg_cluster
    from tests.server_process import start_server
    path = f"{tmp_path}/data"
    shutil.copytree(template_cluster, path)
    server = start_server(path)
    try:
        _psql("127.0.0.1", server.port, PSQL_SCHEMA)
        with pg_cluster() as cluster, cluster.server() as socket_dir:
            _psql(socket_dir, 5432, PSQL_SCHEMA)
            for command in ("\\d lu", "\\d lu_pkey", "\\d lu_name", "\\d lu_id_seq", "\\dt",
                            "\\d"):
                ours = _psql("127.0.0.1", server.port, command)
                assert ours == _psql(socket_dir, 5432, command), command
            assert 'Unlogged table "public.lu"' in _psql("127.0.0.1", server.port, "\\d lu")
    finally:
        server.stop()
