"""psql 15's meta-commands against a mirrordb server: \\dt, \\d TABLE, \\d, \\di, \\ds, \\dv,
\\l, \\du, \\dn, \\x and \\timing, each the catalog queries psql sends (psql's own startup
sends none).

The schema has what psql's describe code paths branch on: a serial primary key (sequence, default
``nextval``, "Owned by"), a UNIQUE constraint, a NOT NULL column with a default, an extra index,
a table of column defaults that exercises pg_get_expr, and a view ("View definition:"). Outputs are asserted literally where
they are mirrordb's alone; where PostgreSQL 15 can run here (as an unprivileged user) the same
commands and catalog queries run against it too and must print the same text, except where the
two clusters differ by construction (sizes, template databases, the owner of schema public).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from tests.compat.auth_pg_helpers import pg_available, pg_cluster, unavailable_reason
from tests.conftest import pg_tool
from tests.server_process import RunningServer, start_server

PSQL_TIMEOUT_S = 60

SCHEMA = """
create table t (id serial primary key, name text unique, qty int not null default 0,
                note varchar(20) default 'x', created timestamptz default now());
create index t_qty_idx on t (qty);
create table d (a int default -1, b bigint default 0, c numeric default 0,
                d numeric(10,2) default 1.5, f float8 default 1.5, g float4 default 2,
                h text default 'abc', i varchar(5) default 'x', j char(3) default 'y',
                k boolean default true, l date default current_date,
                m timestamptz default current_timestamp, o int default (1 + 2) * 3,
                p text default 'a' || 'b', q bigint default -5, v text default lower('X'),
                w interval default '1 day', z int[] default '{1,2}',
                aa timestamptz default '2020-01-01');
create view tv as select distinct id, name as label from t where qty > 0;
"""

DESCRIBE_T = """\
                                     Table "public.t"
 Column  |           Type           | Collation | Nullable |            Default            
---------+--------------------------+-----------+----------+-------------------------------
 id      | integer                  |           | not null | nextval('t_id_seq'::regclass)
 name    | text                     |           |          | 
 qty     | integer                  |           | not null | 0
 note    | character varying(20)    |           |          | 'x'::character varying
 created | timestamp with time zone |           |          | now()
Indexes:
    "t_pkey" PRIMARY KEY, btree (id)
    "t_name_key" UNIQUE CONSTRAINT, btree (name)
    "t_qty_idx" btree (qty)

"""

LIST_TABLES = """\
        List of relations
 Schema | Name | Type  |  Owner   
--------+------+-------+----------
 public | d    | table | postgres
 public | t    | table | postgres
(2 rows)

"""

LIST_ROLES = """\
                                   List of roles
 Role name |                         Attributes                         | Member of 
-----------+------------------------------------------------------------+-----------
 postgres  | Superuser, Create role, Create DB, Replication, Bypass RLS | {}

"""

# Printed the same by both servers, character for character.
SAME_AS_POSTGRESQL = ["\\dt", "\\d", "\\d t", "\\d+ t", "\\di", "\\ds", "\\du", "\\d t_pkey",
                      "\\d t_name_key", "\\d t_qty_idx", "\\d d", "\\dv", "\\dm", "\\d tv",
                      "\\d+ tv", "\\dv+"]
SAME_QUERIES = [
    ("select * from information_schema.columns where table_schema = 'public' "
     "order by table_name, ordinal_position"),
    "select * from information_schema.tables where table_schema = 'public' order by table_name",
    ("select c.relname, pg_get_expr(d.adbin, d.adrelid, true), pg_get_expr(d.adbin, d.adrelid) "
     "from pg_attrdef d join pg_class c on c.oid = d.adrelid order by c.relname, d.adnum"),
    ("select conname, contype, conkey, pg_get_constraintdef(oid, true) from pg_constraint "
     "where conrelid = 't'::regclass order by conname"),
    ("select pg_get_indexdef(indexrelid), pg_get_indexdef(indexrelid, 0, true), indkey, indclass, "
     "indcollation from pg_index where indrelid = 't'::regclass "
     "order by indexrelid::regclass::text"),
    ("select attname, atttypid, attlen, attnum, attndims, atttypmod, attbyval, attalign, "
     "attstorage, attnotnull, atthasdef, attcollation from pg_attribute "
     "where attrelid = 'd'::regclass and attnum > 0 order by attnum"),
    ("select pg_get_serial_sequence('t', 'id'), pg_get_serial_sequence('public.t', 'name'), "
     "has_table_privilege('t', 'select'), pg_table_is_visible('t'::regclass), "
     "'pg_catalog.pg_class'::regclass::oid, 't'::regclass, format_type(1043, 24), "
     "format_type(1042, -1), pg_encoding_to_char(6)"),
    ("select pg_size_pretty(v::bigint) from unnest(array[0, 10239, 10240, -10240, 20971519, "
     "20971520, 1073741824]) v"),
    ("select typname, typlen, typbyval, typtype, typcategory, typelem, typarray, typinput, "
     "typoutput, typreceive, typsend, typmodin, typalign, typstorage, typcollation from pg_type "
     "where oid in (16, 19, 22, 23, 25, 1007, 1043, 1184, 1700, 2205, 3802) order by oid"),
    ("select rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, "
     "rolreplication, rolconnlimit, rolpassword, rolbypassrls from pg_roles "
     "where rolname = 'postgres'"),
]


def psql(host: str, port: int, *commands: str) -> subprocess.CompletedProcess[str]:
    args = [pg_tool("psql"), "-X", "-h", host, "-p", str(port), "-U", "postgres", "-d",
            "postgres", "-v", "ON_ERROR_STOP=1"]
    for command in commands:
        args += ["-c", command]
    return subprocess.run(args, capture_output=True, text=True, timeout=PSQL_TIMEOUT_S,
                          check=False,
                          env={**os.environ, "PGTZ": "UTC", "PGCLIENTENCODING": "UTF8"})


def output(host: str, port: int, *commands: str) -> str:
    result = psql(host, port, *commands)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def ours(template_cluster: str, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[RunningServer]:
    pg_tool("psql")
    path = str(tmp_path_factory.mktemp("psql-meta") / "data")
    shutil.copytree(template_cluster, path)
    server = start_server(path)
    try:
        output("127.0.0.1", server.port, SCHEMA)
        yield server
    finally:
        server.stop()


def ask(server: RunningServer, *commands: str) -> str:
    return output("127.0.0.1", server.port, *commands)


@pytest.fixture(scope="module")
def postgresql() -> Iterator[str]:
    """A PostgreSQL 15 server with the same schema; yields its socket directory."""
    if not pg_available():
        pytest.skip(unavailable_reason())
    with pg_cluster() as cluster, cluster.server() as socket_dir:
        output(socket_dir, 5432, SCHEMA)
        yield socket_dir


def test_list_tables(ours):
    assert ask(ours, "\\dt") == LIST_TABLES


def test_describe_table(ours):
    assert ask(ours, "\\d t") == DESCRIBE_T


def test_describe_table_verbose(ours):
    text = ask(ours, "\\d+ t")
    assert " id      | integer                  |           | not null | " \
           "nextval('t_id_seq'::regclass) | plain    |" in text
    assert '    "t_pkey" PRIMARY KEY, btree (id)\n' in text
    assert text.endswith("Access method: heap\n\n")


def test_list_relations_indexes_and_sequences(ours):
    assert " public | t_id_seq | sequence | postgres\n" in ask(ours, "\\d")
    indexes = ask(ours, "\\di")
    for name in ("t_name_key", "t_pkey", "t_qty_idx"):
        assert f" public | {name:<10} | index | postgres | t\n" in indexes
    assert " public | t_id_seq | sequence | postgres\n(1 row)" in ask(ours, "\\ds")


def test_describe_index_and_sequence(ours):
    index = ask(ours, "\\d t_pkey")
    assert index.startswith('        Index "public.t_pkey"\n')
    assert " id     | integer | yes  | id\n" in index
    assert 'primary key, btree, for table "public.t"' in index
    sequence = ask(ours, "\\d t_id_seq")
    assert "|     1 |       1 | 2147483647 |         1 | no      |     1\n" in sequence
    assert "Owned by: public.t.id\n" in sequence


def test_list_databases_roles_and_schemas(ours):
    databases = ask(ours, "\\l")
    assert "List of databases" in databases
    assert " postgres  | postgres | UTF8     | C       | C     |            | libc            |" \
        in databases
    assert " template1 | postgres | UTF8     | C       | C     |            | libc            |" \
        in databases
    assert ask(ours, "\\du") == LIST_ROLES
    assert " public | pg_database_owner\n(1 row)" in ask(ours, "\\dn")


def test_sizes_in_verbose_listings(ours):
    ask(ours, "insert into t (name) select 'n' || g from generate_series(1, 100) g")
    tables = ask(ours, "\\dt+ t")
    assert " public | t    | table | postgres | permanent   | heap          | 8192 bytes |" \
        in tables
    assert "| 16 kB |" in ask(ours, "\\di+ t_pkey")
    assert "| pg_default | default administrative connection database" in ask(ours, "\\l+")


def test_expanded_display(ours):
    text = ask(ours, "\\x", "select relname, relkind from pg_class where relname = 't'")
    assert text == "Expanded display is on.\n-[ RECORD 1 ]\nrelname | t\nrelkind | r\n\n"


def test_timing(ours):
    text = ask(ours, "\\timing", "select 1 as one")
    assert text.startswith("Timing is on.\n one \n-----\n   1\n(1 row)\n\nTime: ")
    assert text.rstrip().endswith(" ms")


def test_unknown_relation(ours):
    result = psql("127.0.0.1", ours.port, "\\d nosuch")
    assert result.returncode != 0
    assert 'Did not find any relation named "nosuch".' in result.stderr


@pytest.mark.parametrize("command", SAME_AS_POSTGRESQL)
def test_same_output_as_postgresql(ours, postgresql, command):
    assert ask(ours, command) == output(postgresql, 5432, command)


@pytest.mark.parametrize("query", SAME_QUERIES, ids=range(len(SAME_QUERIES)))
def test_same_catalog_answers_as_postgresql(ours, postgresql, query):
    assert ask(ours, query) == output(postgresql, 5432, query)


def test_same_database_row_as_postgresql(ours, postgresql):
    """PostgreSQL lists template0 and template1 too (so its columns are wider)."""
    def postgres_row(text: str) -> list[str]:
        line = next(line for line in text.splitlines() if line.startswith(" postgres "))
        return [cell.strip() for cell in line.split("|")]
    assert postgres_row(ask(ours, "\\l")) == postgres_row(output(postgresql, 5432, "\\l"))


def test_pg_stat_activity_shows_wait_events(ours):
    """A backend sleeping in pg_sleep shows as active, waiting on Timeout/PgSleep, with its
    database and role OIDs; psql sees it while it lasts (polled, never a fixed pause)."""
    with ours.connect(autocommit=True) as sleeper:
        pid = sleeper.execute("select pg_backend_pid()").fetchone()[0]
        thread = threading.Thread(target=sleeper.execute, args=("select pg_sleep(2)",))
        thread.start()
        try:
            query = ("select datid, datname, usesysid, usename, state, wait_event_type, "
                     f"wait_event, backend_type from pg_stat_activity where pid = {pid}")
            deadline = time.monotonic() + PSQL_TIMEOUT_S
            seen = ""
            while time.monotonic() < deadline and "PgSleep" not in seen:
                seen = output("127.0.0.1", ours.port, "\\pset format unaligned", query)
            assert "5|postgres|10|postgres|active|Timeout|PgSleep|client backend" in seen
        finally:
            thread.join(PSQL_TIMEOUT_S)
