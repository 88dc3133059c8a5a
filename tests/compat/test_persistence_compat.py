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
