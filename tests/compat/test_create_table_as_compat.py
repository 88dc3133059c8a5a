"""CREATE TABLE AS, SELECT INTO and materialized views, side by side with a real PostgreSQL 15.

Each scenario is a list of statements run in order on a throw-away PostgreSQL server and on a
mirrordb Session over a fresh cluster (tests/compat/differential.py), with command tags and
notices compared too: the derived columns (names, type OIDs, typmods as format_type prints
them), the rows, the errors (SQLSTATE, message, detail, hint, position). Scenarios name their
own objects, so they may run in any order.
"""

from __future__ import annotations

import pytest

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table src (a int, b text, c numeric(8,2), d varchar(5))",
    "insert into src values (1, 'x', 1.5, 'ab'), (2, 'y', 2.25, 'cd'), (3, null, null, null)",
    "create schema other",
]

POPULATED = ("select relname, relkind, relispopulated from pg_class "
             "where relname in ('src', 'mv1', 'mv2') order by 1")

COLUMNS_OF = ("select attname, format_type(atttypid, atttypmod) from pg_attribute "
              "where attrelid = '{0}'::regclass and attnum > 0 order by attnum")

SCENARIOS: dict[str, list[str]] = {
    "create table as": [
        "create table t1 as select * from src",
        "select * from t1 order by a",
        COLUMNS_OF.format("t1"),
        "create table t2 (x, y) as select a, b, 'lit', 1.5, c * 2, d || 'z' from src where a > 1",
        "select * from t2 order by x",
        COLUMNS_OF.format("t2"),
        "create table t3 (p, q, r, s, t) as select 1, 2",
        "create table t4 as select 1, 2",
        "create table t1 as select 1",
        "create table if not exists t1 as select 1",
        "create table t5 as select a, count(*) as n from src group by a with no data",
        "select * from t5",
        COLUMNS_OF.format("t5"),
        "insert into t5 values (7, 8)",
        "select * from t5",
        "create table other.t6 as select a from src where a = 1",
        "select * from other.t6",
        "select relname, relkind, relnamespace::regnamespace from pg_class "
        "where relname in ('t1', 't6') order by 1",
        "create table t7 as select a from src where false",
        "select count(*) from t7",
        "create table t8 as select * from missing",
        "create table nosuch.t9 as select 1",
        "create table t10 as values (1, 'a'), (2, 'b')",
        "select * from t10 order by 1",
        COLUMNS_OF.format("t10"),
    ],
    "select into": [
        "select a, b into si1 from src where a < 3",
        "select * from si1 order by a",
        "select a * 10 as ten into table si2 from src",
        "select * from si2 order by ten",
        "select 1 into si1",
        COLUMNS_OF.format("si2"),
    ],
    "create table as execute": [
        "prepare p1 (int) as select a, b from src where a >= $1",
        "create table e1 as execute p1(2)",
        "select * from e1 order by a",
        COLUMNS_OF.format("e1"),
        "create table e2 as execute nosuch(1)",
    ],
    "materialized views": [
        "create materialized view mv1 as select a, b from src where a < 3",
        "select * from mv1 order by a",
        "insert into src values (0, 'zero')",
        "select * from mv1 order by a",
        "refresh materialized view mv1",
        "select * from mv1 order by a",
        "create materialized view mv2 (k) as select a from src with no data",
        "select * from mv2",
        POPULATED,
        "begin",
        "refresh materialized view mv2",
        POPULATED,
        "rollback",
        POPULATED,
        "refresh materialized view mv2",
        "select count(*) from mv2",
        POPULATED,
        "refresh materialized view mv2 with no data",
        "select * from mv2",
        POPULATED,
        "refresh materialized view concurrently mv2 with no data",
        "refresh materialized view mv_missing",
        "refresh materialized view src",
        "select relkind, relhasindex from pg_class where relname = 'mv1'",
        "create index mv1_a on mv1 (a)",
        "select relkind, relhasindex from pg_class where relname = 'mv1'",
        "select * from mv1 where a = 1",
        "refresh materialized view mv1",
        "select * from mv1 where a = 0",
        "select schemaname, matviewname, hasindexes, ispopulated from pg_matviews "
        "order by matviewname",
        "create materialized view mv1 as select 1",
        "create materialized view if not exists mv1 as select 1",
        "create materialized view mv3 (x, y, z) as select 1, 2",
        "drop view mv1",
        "drop table mv1",
        "drop materialized view mv1",
        "drop materialized view mv1",
        "drop materialized view if exists mv1",
        "drop materialized view src",
        "select * from mv2 order by 1",
        "drop materialized view mv2",
    ],
    "matview catalogs and refusals": [
        "create materialized view cmv (n, doubled) as select a, a * 2 from src where a > 1",
        "select matviewname, matviewowner = current_user, definition from pg_matviews "
        "where matviewname = 'cmv'",
        "select pg_get_viewdef('cmv'::regclass)",
        "select relkind, relispopulated, relpersistence from pg_class where relname = 'cmv'",
        "insert into cmv values (1, 2)",
        "update cmv set n = 1",
        "delete from cmv",
        "truncate cmv",
        COLUMNS_OF.format("cmv"),
        "begin read only",
        "create table ro1 as select 1",
        "rollback",
        "begin read only",
        "refresh materialized view cmv",
        "rollback",
        "begin read only",
        "select 1 into ro2",
        "rollback",
        "begin read only",
        "create materialized view ro3 as select 1",
        "rollback",
        "begin",
        "create table tx1 as select a from src",
        "create materialized view tx2 as select a from tx1",
        "rollback",
        "select count(*) from pg_class where relname in ('tx1', 'tx2')",
    ],
    "matview dependencies": [
        "create table dep (x int)",
        "insert into dep values (1)",
        "create materialized view dmv as select x from dep",
        "drop table dep",
        "drop table dep cascade",
        "select count(*) from pg_class where relname = 'dmv'",
    ],
}


both = pair_fixture("ctas", SETUP, with_tags=True, detailed=True)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_matches_postgres(both: tuple[Reference, Ours], scenario: str) -> None:
    assert_same(both, SCENARIOS[scenario])


PSQL_SCHEMA = ("create table base (id int primary key, name varchar(20)); "
               "insert into base values (1, 'a'), (2, 'b'); "
               "create materialized view mv (id, label) as select id, upper(name) from base; "
               "create index mv_id on mv (id)")


def _psql(host: str, port: int, command: str) -> str:
    import os
    import subprocess
    from tests.conftest import pg_tool
    result = subprocess.run([pg_tool("psql"), "-X", "-h", host, "-p", str(port), "-U",
                             "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c",
                             command], capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "PGTZ": "UTC", "PGCLIENTENCODING": "UTF8"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_psql_describes_materialized_views_as_postgresql(template_cluster: str,
                                                          tmp_path: object) -> None:
    """psql's \\dm and \\d mv print the same over mirrordb as over PostgreSQL 15."""
    import shutil
    from tests.compat.auth_pg_helpers import pg_cluster
    from tests.server_process import start_server
    path = f"{tmp_path}/data"
    shutil.copytree(template_cluster, path)
    server = start_server(path)
    try:
        _psql("127.0.0.1", server.port, PSQL_SCHEMA)
        with pg_cluster() as cluster, cluster.server() as socket_dir:
            _psql(socket_dir, 5432, PSQL_SCHEMA)
            for command in ("\\dm", "\\d mv", "\\d+ mv"):
                assert _psql("127.0.0.1", server.port, command) == \
                    _psql(socket_dir, 5432, command), command
    finally:
        server.stop()
