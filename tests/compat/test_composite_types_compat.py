"""Composite types side by side with a real PostgreSQL 15: CREATE TYPE ... AS (...) and its
errors, columns of composite type (input '(1,abc)', ROW(...)::type, output, NULLs and quoting),
``(col).field`` and ``(col).*`` in the select list and WHERE, UPDATE ... SET col.field,
comparisons, arrays of composites, composite types inside composite types, SQL functions
taking and returning them (also SETOF, in FROM), record input compared with a table's whole
row, the catalog rows clients read (pg_type, pg_class relkind 'c', pg_attribute, psql's \\dT
and \\d), ALTER TYPE ADD/DROP/RENAME ATTRIBUTE, DROP TYPE with dependents (2BP01, CASCADE),
the stored datum byte for byte (pageinspect), and pg_dump of such a database from a mirrordb
primary and its streaming standby equal to PostgreSQL's.

Each scenario runs its statements in order on both servers (tests/compat/differential.py); every
answer must match: rows, or SQLSTATE, message, DETAIL, hint and position, and notices.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from differential import MARKS, assert_same, paired
from tests.compat.test_enum_domain_compat import DESCRIBE_TYPES
from tests.compat.test_pg_dump import Endpoint, _assert_same, _dump, _tool
from tests.compat.types_pg_server import running_postgres
from tests.integration.test_standby_streaming import (execute, streaming_pair,
                                                      wait_for_replay_catchup)

pytestmark = MARKS

SCENARIOS: dict[str, list[str]] = {
    "create and use": [
        "create type pair as (a int, b text)",
        "create type pair as (x int)",
        "create type dup as (a int, a text)",
        "create type bad as (a nosuchtype)",
        "select '(1,abc)'::pair, pg_typeof('(1,abc)'::pair)",
        "select ROW(1, 'abc')::pair, (ROW(2, 'x')::pair).b",
        "select '(1,\"a b\")'::pair, '(,)'::pair, '(1,\"\")'::pair",
        "select '(1,abc'::pair",
        "select '1,abc)'::pair",
        "select '(1,abc,3)'::pair",
        "select '(1)'::pair",
        "select '(1,abc) x'::pair",
        "select '(x,abc)'::pair",
        "select ROW(1, 2, 3)::pair",
        "create table t (id int, p pair, ps pair[])",
        "insert into t values (1, '(1,one)', '{\"(1,a)\",\"(2,b)\"}'), "
        "(2, ROW(2, 'two'), null), (3, null, '{}'), (4, '(,)', '{NULL,\"(3,)\"}')",
        "insert into t values (5, ROW(5, 'five', 6))",
        "select * from t order by id",
        "select id, (p).a, (p).b, p is null from t order by id",
        "select id from t where (p).a > 1 order by id",
        "select id from t where (p).b = 'one'",
        "select (p).nothere from t",
        "select p.a from t",
        "select id, p::text from t order by id",
        "select ps[1], (ps[2]).a from t order by id",
        "select id from t where p = ROW(2, 'two')::pair",
        "select id from t where p = '(1,one)'",
        "select id from t where p < '(2,a)' order by id",
        "select p from t order by p",
        "select count(*) from t where p is not null",
        "update t set p = ROW((p).a + 10, (p).b) where id = 1",
        "select p from t where id = 1",
        "update t set p.b = 'changed', p.a = (p).a + 1 where id in (1, 3)",
        "select id, p from t where id in (1, 3) order by id",
        "update t set p.nothere = 1",
        "update t set id.a = 1",
        "update t set p.a = 1, p = null",
        "select * from pair",
        "select pair.a from pair",
    ],
    "nested and catalog": [
        "create type inner_t as (x int, y numeric)",
        "create type outer_t as (name text, i inner_t, tags text[])",
        "select ROW('n', ROW(1, 2.5)::inner_t, ARRAY['a', 'b'])::outer_t",
        "create type money_t as (amount numeric(6,2), code varchar(3))",
        "select ROW(2.555, 'EUR')::money_t, '(3.14159,USD)'::money_t",
        "select ROW(2.5, 'EURO')::money_t",
        "select '(2.5,EURO)'::money_t",
        "select ROW(123456.7, 'X')::money_t",
        "select '(n,\"(1,2.5)\",\"{a,b}\")'::outer_t",
        "select (('(n,\"(1,2.5)\",{a})'::outer_t).i).y",
        "create table nest (o outer_t)",
        "insert into nest values ('(n,\"(1,2.5)\",\"{a,b}\")'), (ROW('m', null, null))",
        "select o, (o).name, ((o).i).x from nest order by (o).name",
        "select t.typname, t.typtype, t.typcategory, t.typlen, t.typbyval, t.typalign, "
        "t.typstorage, t.typinput::text, t.typoutput::text, t.typreceive::text, "
        "t.typsend::text, c.relname, c.relkind, c.relnatts, c.relfilenode, "
        "c.reltype = t.oid, a.typname, a.typelem = t.oid, a.typalign "
        "from pg_type t join pg_class c on c.oid = t.typrelid "
        "join pg_type a on a.oid = t.typarray where t.typname = 'outer_t'",
        "select attname, format_type(atttypid, atttypmod), attnum from pg_attribute "
        "where attrelid = 'inner_t'::regclass order by attnum",
        DESCRIBE_TYPES,
        "select format_type('outer_t'::regtype, null), format_type('_outer_t'::regtype, null)",
    ],
    "drop": [
        "create type pair as (a int, b text)",
        "create type holder as (p pair)",
        "create table uses (id int, p pair)",
        "drop type pair",
        "drop type pair cascade",
        "select * from uses",
        "drop type holder",
        "select 'x'::holder",
        "drop type if exists holder",
        "create type again as (a int)",
        "drop type again",
        "select '(1)'::again",
    ],
    "alter type attributes": [
        "create type pair as (a int, b text)",
        "create table t (p pair)",
        "insert into t values ('(1,one)'), ('(2,)')",
        "alter type pair add attribute c numeric",
        "select p, (p).c from t order by (p).a",
        "insert into t values (ROW(3, 'three', 3.5))",
        "select p from t order by (p).a",
        "alter type pair add attribute a int",
        "alter type pair drop attribute b",
        "select p, (p).a from t order by (p).a",
        "select (p).b from t",
        "insert into t values ('(4,4.5)')",
        "select p from t order by (p).a",
        "alter type pair drop attribute nothere",
        "alter type pair drop attribute if exists nothere",
        "alter type pair rename attribute c to amount",
        "alter type pair rename attribute nothere to x",
        "alter type pair rename attribute a to amount",
        "select (p).amount from t order by 1",
        "select attname, attnum, attisdropped from pg_attribute "
        "where attrelid = (select typrelid from pg_type where typname = 'pair') order by attnum",
        "select relnatts from pg_class where relname = 'pair'",
        "alter type pair rename to couple",
        "select relname, relkind from pg_class where oid = "
        "(select typrelid from pg_type where typname = 'couple')",
        "select p::text from t order by (p).amount",
        "create role someone",
        "alter type couple owner to someone",
        "select relowner::regrole from pg_class where relname = 'couple'",
        "alter type couple owner to postgres",
        "drop role someone",
        "create type mood as enum ('x')",
        "alter type mood add attribute y int",
        "alter type nothere add attribute y int",
    ],
    "functions and field stars": [
        "create type pair as (a int, b text)",
        "create function mk(x int) returns pair language sql as $$ select x, 'v' || x $$",
        "select mk(3), (mk(3)).b, pg_typeof(mk(3))",
        "select * from mk(4)",
        "create function mk2(x int) returns pair language sql "
        "as $$ select ROW(x, 'w')::pair $$",
        "select mk2(5), (mk2(5)).a",
        "create function takes(p pair) returns int language sql as $$ select (p).a * 2 $$",
        "select takes('(4,x)'), takes(ROW(4, 'y'))",
        "create function pairs() returns setof pair language sql "
        "as $$ select 1, 'a' union all select 2, 'b' $$",
        "select * from pairs()",
        "select pairs()",
        "create function bad() returns pair language sql as $$ select 1 $$",
        "create function bad() returns pair language sql as $$ select 1, 2, 3 $$",
        "create table t (p pair)",
        "insert into t values ('(1,a)'), (null)",
        "select (p).* from t order by 1",
        "select ('(1,a)'::pair).*, (mk(7)).*",
        "select array_agg(p order by p) from t",
        "select row_to_json(p) from t order by (p).a",
    ],
    "indexes": [
        # B-tree keys of a composite column sort as record_cmp (an enum field by its labels'
        # order, NULL fields last), so range and equality scans find what a scan would
        "create type mood as enum ('sad', 'happy')",
        "alter type mood add value 'ok' before 'happy'",
        "create type pair as (a int, b text, m mood)",
        "create table t (id int, p pair)",
        "create index t_p on t (p)",
        "insert into t select g, ROW(g % 3, case when g % 2 = 0 then null else 'x' || g end, "
        "(array['sad', 'ok', 'happy'])[1 + g % 3])::pair from generate_series(1, 30) g",
        "select id, p from t where p > ROW(1, 'x1', 'ok')::pair order by id",
        "select id from t where p = ROW(2, null, 'happy')::pair order by id",
        "select count(*) from t where p < ROW(1, null, null)::pair",
        "create unique index t_id_p on t (id, p)",
        "insert into t values (4, ROW(1, null, 'ok'))",
        "select p from t where id = 4 order by p",
    ],
    "record input against a table": [
        "create table person (id int, name text)",
        "insert into person values (1, 'ann'), (2, 'bob')",
        "select id from person p where p = '(1,ann)'",
        "select p from person p where p > '(1,ann)'",
        "select '(3,cy)'::person::text",
        "select ('(3,cy)'::person).name",
    ],
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_composite_type_scenarios_match_postgres(scenario: str, template_cluster: str,
                                                 tmp_path_factory: pytest.TempPathFactory
                                                 ) -> None:
    with paired(template_cluster, str(tmp_path_factory.mktemp(scenario.replace(" ", "_"))),
                [], detailed=True) as pair:
        assert_same(pair, SCENARIOS[scenario])


# -- the stored datum, byte for byte ------------------------------------------------------------

STORED_VALUES = [
    "(1,abc,2.50,t,9000000000,,)",
    "(-7,\"\",NaN,f,0,\"{x,NULL,yy}\",\"(1,2.5)\")",
    "(,,,,,,)",
    "(3," + "long text " * 20 + ",123456789.000001,t,-1,{},\"(,)\")",
]


def _payload(stored: bytes, one_byte_header: bool) -> bytes:
    """A varlena's bytes after its header (PostgreSQL's 1-byte header has the low bit set,
    mirrordb's row codec's has it clear)."""
    if (stored[0] & 1) == one_byte_header:
        return stored[1:]
    return stored[4:]


def test_stored_composite_datums_equal_postgres(template_cluster: str,
                                                tmp_path_factory: pytest.TempPathFactory
                                                ) -> None:
    """A composite column's value is stored as PostgreSQL stores it: the datum after the
    varlena header equals the bytes pageinspect shows in PostgreSQL's heap (same type OID,
    header, NULL bitmap, alignment, short and long varlena headers, numeric's format, an
    array and a nested composite inside)."""
    from mirrordb.sql import types as T
    from mirrordb.storage import datum
    setup = ["create type inner_t as (x int, y numeric)",
             "create type pair as (a int, b text, c numeric, d bool, e int8, f text[], "
             "g inner_t)",
             "create table t (id int, p pair)"]
    with paired(template_cluster, str(tmp_path_factory.mktemp("datums")), setup) as pair:
        reference, ours = pair
        assert reference.run("create extension pageinspect")[0] == "command"
        for number, text in enumerate(STORED_VALUES):
            statement = f"insert into t values ({number}, '{text}')"
            assert reference.run(statement) == ours.run(statement)
        pages = reference.run("select encode(t_data, 'hex') from "
                              "heap_page_items(get_raw_page('t', 0)) order by lp")
        type_oid = int(reference.run("select 'pair'::regtype::oid")[2][0][0])
        values = [row[1] for row in ours.session.simple_query(
            "select id, p from t order by id").__next__().rows]
        codec = datum.RowCodec([type_oid])
        for (hex_data,), value in zip(pages[2], values):
            theirs = bytes.fromhex(hex_data)[4:]               # after the id column
            if theirs[0] == 0:                                 # a 4-byte header: aligned
                theirs = theirs[4:]
            mine = codec.encode([value])[0]
            assert _payload(mine, False) == _payload(theirs, True), (theirs.hex(), mine.hex())
        assert T.format_text(type_oid, values[1]) == \
            '(-7,"",NaN,f,0,"{x,NULL,yy}","(1,2.5)")'


# -- pg_dump, psql, a streaming standby ----------------------------------------------------------

DUMP_SETUP = [
    "CREATE TYPE inner_t AS (x integer, y numeric(6,2))",
    "CREATE TYPE pair AS (a integer, b text, i inner_t, tags text[])",
    "CREATE TYPE gone AS (a integer, b text)",
    "ALTER TYPE gone DROP ATTRIBUTE b",
    "ALTER TYPE gone ADD ATTRIBUTE c date",
    "CREATE TABLE holder (id integer PRIMARY KEY, p pair, ps pair[], g gone)",
    "INSERT INTO holder VALUES (1, '(1,one,\"(2,3.50)\",\"{a,b}\")', "
    "ARRAY[ROW(2, 'two', NULL, NULL)::pair], '(5,2024-01-02)'), (2, NULL, '{}', NULL)",
    # enum keys in a B-tree after ADD VALUE BEFORE (an odd label OID), read on the standby
    "CREATE TYPE level AS ENUM ('low', 'high')",
    "ALTER TYPE level ADD VALUE 'mid' BEFORE 'high'",
    "CREATE TABLE task (id integer, lvl level)",
    "CREATE INDEX task_lvl ON task (lvl)",
    "INSERT INTO task SELECT g, (ARRAY['low', 'mid', 'high'])[1 + g % 3]::level "
    "FROM generate_series(1, 60) g",
]


@pytest.fixture(scope="module")
def dump_servers(template_cluster: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    directory = str(tmp_path_factory.mktemp("composite_dump"))
    with running_postgres() as postgres:
        with psycopg.connect(postgres.conninfo, autocommit=True) as connection:
            for statement in DUMP_SETUP:
                connection.execute(statement)
        with streaming_pair(template_cluster, directory) as (primary, standby):
            execute(primary, *DUMP_SETUP)
            wait_for_replay_catchup(primary, standby)
            yield (Endpoint(postgres.host, postgres.port, postgres.user),
                   Endpoint("127.0.0.1", primary.port), Endpoint("127.0.0.1", standby.port),
                   primary, standby)


def test_pg_dump_of_composite_types_matches_postgres(dump_servers: tuple[Any, ...]) -> None:
    postgres, primary, standby = dump_servers[:3]
    expected = _dump(postgres)
    assert any("CREATE TYPE public.pair AS (" in line for line in expected)
    _assert_same(expected, _dump(primary))
    _assert_same(expected, _dump(standby))


def test_standby_reads_composite_values(dump_servers: tuple[Any, ...]) -> None:
    standby = dump_servers[4]
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        rows = connection.execute("SELECT p::text, ((p).i).y::text, ps::text, g::text "
                                  "FROM holder ORDER BY id").fetchall()
        assert rows == [('(1,one,"(2,3.50)","{a,b}")', "3.50", '{"(2,two,,)"}',
                         "(5,2024-01-02)"), (None, None, "{}", None)]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            connection.execute("CREATE TYPE t2 AS (a int)")


def test_standby_index_scans_follow_enum_order(dump_servers: tuple[Any, ...]) -> None:
    """The standby's hot-standby queries read the replayed index in the labels' order."""
    standby = dump_servers[4]
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        assert connection.execute("SELECT count(*) FROM task WHERE lvl > 'low' AND "
                                  "lvl < 'high'").fetchone() == (20,)
        assert connection.execute("SELECT lvl::text AS label FROM task ORDER BY lvl DESC "
                                  "LIMIT 1").fetchone() == ("high",)
        assert connection.execute("SELECT min(lvl)::text FROM task WHERE lvl >= 'mid'"
                                  ).fetchone() == ("mid",)


@pytest.mark.parametrize("command", ["\\dT", "\\d pair", "\\d gone", "\\d holder"])
def test_psql_describe_composite_types_matches_postgres(dump_servers: tuple[Any, ...],
                                                        command: str) -> None:
    postgres, primary = dump_servers[:2]
    expected = _tool("psql", *postgres.arguments(), "-X", "-d", "postgres", "-c", command)
    assert _tool("psql", *primary.arguments(), "-X", "-d", "postgres", "-c", command) == \
        expected
