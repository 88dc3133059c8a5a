"""Enums and domains side by side with a real PostgreSQL 15: CREATE TYPE ... AS ENUM and its
errors, enum input (22P02 with position), comparisons and ORDER BY by the labels' sort order,
casts to and from text, arrays of enums, ALTER TYPE ADD VALUE (BEFORE/AFTER, IF NOT EXISTS,
pg_enum's fractional sort orders), RENAME VALUE, RENAME TO, enum_range/enum_first/enum_last,
B-tree range scans in label order after labels were added BEFORE others;
CREATE DOMAIN with DEFAULT, NOT NULL and CHECK (VALUE ...), the checks on INSERT, UPDATE and
casts (23514, 23502), ALTER DOMAIN's forms with their checks of existing rows, the catalog rows
clients read (pg_type, pg_enum, pg_constraint.contypid, format_type, pg_typeof, psql's \\dT and
\\dD queries) and DROP TYPE / DROP DOMAIN [IF EXISTS] [CASCADE] (2BP01 while a column uses it).
Then pg_dump of such a database (from a mirrordb primary and its streaming standby) equal to
PostgreSQL's, the standby's rows and its 25006 refusals, and PostgreSQL's dump restored.

Each scenario runs its statements in order on both servers (tests/compat/differential.py); every
answer must match: rows, or SQLSTATE, message, DETAIL, hint and position, and notices.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from differential import MARKS, assert_same, copy_in_error, paired
from tests.compat.test_pg_dump import Endpoint, _assert_same, _comparable, _dump, _tool
from tests.compat.types_pg_server import running_postgres
from tests.integration.test_standby_streaming import (execute, streaming_pair,
                                                      wait_for_replay_catchup)

pytestmark = MARKS

# psql 15's \dT query (without its pattern), and \dD's
DESCRIBE_TYPES = (
    "SELECT n.nspname as \"Schema\", pg_catalog.format_type(t.oid, NULL) AS \"Name\", "
    "pg_catalog.obj_description(t.oid, 'pg_type') as \"Description\" "
    "FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
    "WHERE (t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c "
    "WHERE c.oid = t.typrelid)) AND NOT EXISTS(SELECT 1 FROM pg_catalog.pg_type el "
    "WHERE el.oid = t.typelem AND el.typarray = t.oid) AND n.nspname <> 'pg_catalog' "
    "AND n.nspname <> 'information_schema' AND pg_catalog.pg_type_is_visible(t.oid) "
    "ORDER BY 1, 2")
DESCRIBE_DOMAINS = (
    "SELECT n.nspname as \"Schema\", t.typname as \"Name\", "
    "pg_catalog.format_type(t.typbasetype, t.typtypmod) as \"Type\", "
    "(SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type bt "
    "WHERE c.oid = t.typcollation AND bt.oid = t.typbasetype "
    "AND t.typcollation <> bt.typcollation) as \"Collation\", "
    "CASE WHEN t.typnotnull THEN 'not null' END as \"Nullable\", t.typdefault as \"Default\", "
    "pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.pg_get_constraintdef(r.oid, true) "
    "FROM pg_catalog.pg_constraint r WHERE t.oid = r.contypid), ' ') as \"Check\" "
    "FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
    "WHERE t.typtype = 'd' AND n.nspname <> 'pg_catalog' "
    "AND n.nspname <> 'information_schema' AND pg_catalog.pg_type_is_visible(t.oid) "
    "ORDER BY 1, 2")
ENUM_ROWS = ("select enumlabel, enumsortorder from pg_enum where enumtypid = '{name}'::regtype "
             "order by enumsortorder")
TYPE_ROWS = ("select t.typname, t.typtype, t.typcategory, t.typlen, t.typbyval, t.typalign, "
             "t.typstorage, t.typnotnull, format_type(t.typbasetype, t.typtypmod), "
             "t.typdefault, a.typname as array_name, a.typcategory, a.typalign, "
             "format_type(a.oid, null), a.typelem = t.oid, t.typcollation, "
             "t.typinput::text, t.typoutput::text "
             "from pg_type t join pg_type a on a.oid = t.typarray "
             "where t.typname = '{name}'")

SCENARIOS: dict[str, list[str]] = {
    "enum basics": [
        "create type mood as enum ('sad', 'ok', 'happy')",
        "create type mood as enum ('x')",
        "create type empty as enum ()",
        "select 'ok'::mood, 'happy'::mood::text, pg_typeof('ok'::mood)",
        "select 'x'::mood",
        "select cast('Sad' as mood)",
        "select 'sad'::mood < 'happy'::mood, 'ok'::mood = 'ok', 'ok'::mood <> 'sad'",
        "select 'sad'::mood > 'happy'",
        "create table person (name text, current_mood mood, history mood[])",
        "insert into person values ('a', 'happy', '{sad,ok}'), ('b', 'sad', null), "
        "('c', 'ok', '{}'), ('d', null, '{happy,null}')",
        "insert into person values ('e', 'angry')",
        "select * from person order by current_mood, name",
        "select * from person order by current_mood desc nulls last, name",
        "select name from person where current_mood > 'sad' order by 1",
        "select name from person where current_mood in ('ok', 'happy') order by 1",
        "select current_mood, count(*) from person group by 1 order by 1",
        "select max(current_mood), min(current_mood) from person",
        "select current_mood::text || '!' from person order by name",
        "select history, history[1] from person order by name",
        "select 'ok'::text::mood, 'ok'::varchar::mood",
        "select enum_range(null::mood), enum_first(null::mood), enum_last(null::mood)",
        "select enum_range('ok'::mood, null), enum_range(null, 'ok'::mood), "
        "enum_range('sad'::mood, 'ok'::mood)",
        "select unnest(enum_range(null::mood)) order by 1 desc",
        "select format_type('mood'::regtype, null), format_type('_mood'::regtype, null), "
        "'mood[]'::regtype, 'mood'::regtype::oid = (select oid from pg_type "
        "where typname = 'mood')",
        TYPE_ROWS.format(name="mood"),
        ENUM_ROWS.format(name="mood"),
        "update person set current_mood = 'ok' where name = 'b'",
        "update person set current_mood = 'nope' where name = 'b'",
        "select name, current_mood from person order by name",
        "select pg_typeof(current_mood), pg_typeof(history) from person limit 1",
        "create type public.mood2 as enum ('x')",
        "select 1::mood",
        "select 'ok'::mood = 'x'::mood2",
    ],
    "alter enum": [
        "create type colour as enum ('red', 'green', 'blue')",
        "alter type colour add value 'yellow'",
        "alter type colour add value 'orange' before 'green'",
        "alter type colour add value 'cyan' after 'green'",
        "alter type colour add value 'first' before 'red'",
        "alter type colour add value 'red'",
        "alter type colour add value if not exists 'red'",
        "alter type colour add value 'x' before 'nothere'",
        ENUM_ROWS.format(name="colour"),
        "alter type colour add value 'a1' after 'red'",
        "alter type colour add value 'a2' after 'red'",
        "alter type colour add value 'a3' after 'red'",
        ENUM_ROWS.format(name="colour"),
        "select enum_range(null::colour)",
        "alter type colour rename value 'cyan' to 'teal'",
        "alter type colour rename value 'nothere' to 'x'",
        "alter type colour rename value 'teal' to 'red'",
        "select 'teal'::colour < 'blue'::colour",
        "alter type colour rename to color",
        "select 'red'::color, format_type('_color'::regtype, null)",
        "select 'red'::colour",
        "alter type color rename to color",
        "alter type nothere rename to x",
        "alter type color add value 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
        "create domain dm as int",
        "alter type dm add value 'x'",
        "alter type color owner to postgres",
        "select typowner::regrole from pg_type where typname in ('color', '_color')",
    ],
    "domains": [
        "create domain posint as integer check (value > 0)",
        "create domain posint as integer",
        "create domain us_zip as text constraint zip_format "
        "check (value ~ '^[0-9]{5}$' or value ~ '^[0-9]{5}-[0-9]{4}$')",
        "create domain nn as text not null default 'dflt'",
        "create domain small as numeric(5, 2) default 1.5 check (value < 100) "
        "check (value > -100)",
        "create domain bad as int null not null",
        "create domain bad as int primary key",
        "create domain bad as int check (value > (select 1))",
        "create domain bad as int check (nothere > 1)",
        "create domain bad as nothere",
        "create table orders (id int, qty posint, zip us_zip, note nn, price small)",
        "insert into orders (id, qty, zip) values (1, 5, '12345')",
        "insert into orders (id, qty) values (2, -1)",
        "insert into orders (id, qty, zip) values (3, 1, 'abc')",
        "insert into orders (id, qty, note) values (4, 1, null)",
        "insert into orders (id, price) values (5, 123.4)",
        "insert into orders (id, price) values (6, 12.345)",
        "select id, qty, zip, note, price from orders order by id",
        "update orders set qty = 0 where id = 1",
        "update orders set qty = qty + 1 where id = 1",
        "select qty + 1, qty * 2.5, pg_typeof(qty), pg_typeof(qty + 1), -qty, "
        "upper(note), length(zip) from orders order by id",
        "select 5::posint, pg_typeof(5::posint)",
        "select (-5)::posint",
        "select '0'::posint",
        "select cast(null as nn)",
        "select 'x'::nn, 1::small, 99.999::small",
        "select format_type('posint'::regtype, null), format_type('small'::regtype, null)",
        TYPE_ROWS.format(name="posint"),
        TYPE_ROWS.format(name="small"),
        TYPE_ROWS.format(name="nn"),
        "select conname, contype, conrelid, contypid = 'posint'::regtype, convalidated, "
        "pg_get_constraintdef(oid) from pg_constraint where contypid <> 0 "
        "and connamespace = 'public'::regnamespace order by conname",
        DESCRIBE_DOMAINS,
        "select array[1, 2]::posint[], '{3,4}'::posint[]",
        "select '{3,-4}'::posint[]",
    ],
    "alter domain": [
        "create domain d as int",
        "create table t (a d, b int)",
        "insert into t values (1, 1), (-1, 2), (null, 3)",
        "alter domain d add constraint pos check (value > 0)",
        "alter domain d add constraint pos check (value > 0) not valid",
        "insert into t values (-2, 4)",
        "alter domain d validate constraint pos",
        "delete from t where a < 0",
        "alter domain d validate constraint pos",
        "select conname, convalidated from pg_constraint where contypid = 'd'::regtype",
        "alter domain d add check (value < 1000)",
        "alter domain d add constraint pos check (value <> 5)",
        "select conname, pg_get_constraintdef(oid, true) from pg_constraint "
        "where contypid = 'd'::regtype order by 1",
        "alter domain d set not null",
        "delete from t where a is null",
        "alter domain d set not null",
        "insert into t values (null, 5)",
        "insert into t (b) values (6)",
        "alter domain d drop not null",
        "insert into t values (null, 7)",
        "alter domain d set default 42",
        "insert into t (b) values (8)",
        "select typdefault from pg_type where typname = 'd'",
        "alter domain d drop default",
        "insert into t (b) values (9)",
        "select a, b from t order by b",
        "alter domain d drop constraint pos",
        "alter domain d drop constraint pos",
        "alter domain d drop constraint if exists pos",
        "insert into t values (-3, 10)",
        "alter domain d rename constraint d_check to upper_bound",
        "select conname from pg_constraint where contypid = 'd'::regtype",
        "alter domain d rename to d2",
        "select format_type(atttypid, atttypmod) from pg_attribute "
        "where attrelid = 't'::regclass and attnum = 1",
        "alter domain nothere set not null",
        "create type e as enum ('x')",
        "alter domain e set not null",
        DESCRIBE_DOMAINS,
    ],
    "drop": [
        "create type e1 as enum ('a', 'b')",
        "create domain d1 as int check (value > 0)",
        "create domain d2 as d1",
        "create table t (id int, x e1, y d1, z e1[])",
        "insert into t values (1, 'a', 1, '{b}')",
        "drop type e1",
        "drop domain d1",
        "drop type nothere",
        "drop type if exists nothere",
        "drop domain if exists nothere, alsonot",
        "drop domain e1",
        "drop type d2",
        "select typname from pg_type where typname in ('d2', '_d2')",
        "drop type e1 cascade",
        "select * from t",
        "drop domain d1 cascade",
        "select * from t",
        "select count(*) from pg_type where typname in ('e1', '_e1', 'd1', '_d1')",
        "select count(*) from pg_enum",
        "select count(*) from pg_constraint where contypid <> 0 "
        "and connamespace = 'public'::regnamespace",
        "create type e1 as enum ('c')",
        "select enum_range(null::e1)::text",
    ],
    "transactions, comments, names": [
        "create type mood as enum ('a', 'b')",
        "begin",
        "alter type mood add value 'c'",
        "select 'c'::mood",
        "rollback",
        "begin",
        "create type m2 as enum ('x')",
        "alter type m2 add value 'y'",
        "select 'x'::m2::text",
        "select 'y'::m2",
        "commit",
        "select 'y'::m2::text",
        "comment on type mood is 'feelings'",
        "select obj_description('mood'::regtype, 'pg_type')",
        "create domain d as int",
        "comment on domain d is 'dd'",
        "select obj_description('d'::regtype, 'pg_type')",
        "comment on domain mood is 'x'",
        "alter domain mood set not null",
        "alter domain mood owner to postgres",
        "drop domain mood",
        "create table mood (a int)",
        "create view mood as select 1",
        "create sequence mood",
        "select 1::d::mood",
        "create type e3 as enum ()",
        "select enum_range(null::e3)::text",
        "select enum_first(null::e3)",
    ],
    "records and json": [
        "create type mood as enum ('a', 'b')",
        "create domain d as int check (value > 0)",
        "create domain j as jsonb",
        "create table t (m mood, x d)",
        "insert into t values ('b', 2), ('a', 1)",
        "select row('a'::mood)::text, row(1::d, 'b'::mood)::text",
        "select t::text from t order by m",
        "select row_to_json(t) from t order by m",
        "select to_jsonb(t) from t order by x",
        "select to_json(5::d), to_json('{\"a\":1}'::j), json_build_object('k', 3::d), "
        "json_agg(x order by x), jsonb_agg(m order by m desc) from t",
        "select m::text, x from t where (m, x) = ('a', 1)",
        "select m::text from t order by (m, x) desc",
    ],
    "enum index order": [
        # the index's range scans must follow enumsortorder, also for labels added BEFORE
        # (odd OIDs) and after a renumbering of the sort orders
        "create type level as enum ('low', 'high')",
        "create table task (id int, lvl level)",
        "create index task_lvl on task (lvl)",
        "insert into task select g, case g % 2 when 0 then 'low'::level else 'high' end "
        "from generate_series(1, 40) g",
        "alter type level add value 'mid' before 'high'",
        "alter type level add value 'lowest' before 'low'",
        "insert into task select g, case g % 2 when 0 then 'mid'::level else 'lowest' end "
        "from generate_series(41, 80) g",
        "select lvl, count(*) from task where lvl > 'low' group by lvl order by lvl",
        "select count(*) from task where lvl < 'high'",
        "select count(*) from task where lvl between 'lowest' and 'mid'",
        "select id, lvl from task where lvl >= 'mid' order by lvl, id limit 5",
        "select id from task where lvl = 'mid' and id < 46 order by id",
        "alter type level add value 'm1' after 'mid'",
        "alter type level add value 'm2' after 'mid'",
        "alter type level add value 'm3' after 'mid'",
        "alter type level add value 'm4' after 'mid'",
        "insert into task values (81, 'm1'), (82, 'm2'), (83, 'm3'), (84, 'm4')",
        "select id, lvl from task where lvl > 'mid' and lvl < 'high' order by lvl",
        "select count(*) from task where lvl <= 'm2'",
        "create table tagged (id int primary key, lvls level[])",
        "create index tagged_lvls on tagged (lvls)",
        "insert into tagged values (1, '{high}'), (2, '{mid,low}'), (3, '{lowest}'), "
        "(4, '{m4}')",
        "select id from tagged where lvls > '{mid}' order by lvls",
        # ORDER BY ... LIMIT and min/max read the index in order (sql/ordered_scans.py)
        "select lvl::text as label from task order by lvl limit 3",
        "select lvl::text as label from task order by lvl desc limit 6",
        "select lvl::text as label from task where lvl > 'lowest' order by lvl limit 2",
        "select min(lvl)::text, max(lvl)::text from task",
        "create unique index task_id_lvl on task (id, lvl)",
        "insert into task values (1, 'high')",
    ],
    "catalog listings": [
        "create type mood as enum ('sad', 'ok')",
        "create domain posint as int not null check (value > 0)",
        "create schema s",
        "create type s.hidden as enum ('h')",
        "create domain s.hd as text",
        DESCRIBE_TYPES,
        DESCRIBE_DOMAINS,
        "select 'h'::s.hidden, format_type('s.hidden'::regtype, null), pg_typeof('h'::s.hidden)",
        "select 'h'::hidden",
        "set search_path = s, public",
        DESCRIBE_TYPES,
        "select format_type('s.hidden'::regtype, null), format_type('s.hd'::regtype, null)",
        "reset search_path",
        "select typname, typtype, typcategory from pg_type where typnamespace = "
        "'s'::regnamespace order by 1",
    ],
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_enum_and_domain_scenarios_match_postgres(scenario: str, template_cluster: str,
                                                  tmp_path_factory: pytest.TempPathFactory
                                                  ) -> None:
    with paired(template_cluster, str(tmp_path_factory.mktemp(scenario.replace(" ", "_"))),
                [], detailed=True) as pair:
        assert_same(pair, SCENARIOS[scenario])


# -- pg_dump, a streaming standby, restore ---------------------------------------------------------

DUMP_SETUP = [
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
    "ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok'",
    "CREATE DOMAIN posint AS integer DEFAULT 1 CONSTRAINT posint_positive CHECK (VALUE > 0)",
    "CREATE DOMAIN code AS varchar(5) NOT NULL CHECK (VALUE ~ '^[A-Z]+$')",
    "CREATE DOMAIN small AS numeric(6,2) CHECK (VALUE < 1000) CHECK (VALUE > -1000)",
    "CREATE SCHEMA s",
    "CREATE TYPE s.colour AS ENUM ('red', 'green')",
    "CREATE TABLE person (id int PRIMARY KEY, m mood, ms mood[], qty posint, c code, "
    "price small, col s.colour)",
    "INSERT INTO person VALUES (1, 'happy', '{sad,meh}', 5, 'AB', 1.5, 'green'), "
    "(2, NULL, NULL, DEFAULT, 'X', NULL, NULL)",
]


@pytest.fixture(scope="module")
def dump_servers(template_cluster: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    directory = str(tmp_path_factory.mktemp("enum_domain_dump"))
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


def test_pg_dump_of_enums_and_domains_matches_postgres(dump_servers: tuple[Any, ...]) -> None:
    postgres, primary, standby = dump_servers[:3]
    expected = _dump(postgres)
    assert any("CREATE TYPE public.mood AS ENUM" in line for line in expected)
    assert any("CREATE DOMAIN public.posint" in line for line in expected)
    _assert_same(expected, _dump(primary))
    _assert_same(expected, _dump(standby))


def test_standby_has_the_types_and_refuses_type_ddl(dump_servers: tuple[Any, ...]) -> None:
    standby = dump_servers[4]
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        rows = connection.execute("SELECT m::text, ms::text, qty, c, col::text FROM person "
                                  "ORDER BY m").fetchall()
        assert rows == [("happy", "{sad,meh}", 5, "AB", "green"), (None, None, 1, "X", None)]
        assert connection.execute("SELECT enum_range(NULL::mood)::text").fetchone() == \
            ("{sad,meh,ok,happy}",)
        for statement in ("CREATE TYPE t2 AS ENUM ('a')", "CREATE DOMAIN d2 AS int",
                          "ALTER TYPE mood ADD VALUE 'x'", "DROP TYPE mood CASCADE",
                          "ALTER DOMAIN posint DROP DEFAULT"):
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as failure:
                connection.execute(statement)
            verb = statement.split()[0] + " " + statement.split()[1]
            assert failure.value.diag.message_primary == \
                f"cannot execute {verb} in a read-only transaction"


def test_postgres_dump_restores_into_mirrordb(dump_servers: tuple[Any, ...],
                                              tmp_path: Any) -> None:
    """pg_dump's script from PostgreSQL loads into a new mirrordb database with psql
    (ON_ERROR_STOP), and then dumps as PostgreSQL dumped it."""
    postgres, primary = dump_servers[:2]
    script = os.path.join(str(tmp_path), "dump.sql")
    _tool("pg_dump", *postgres.arguments(), "-f", script, "postgres")
    _tool("psql", *primary.arguments(), "-d", "postgres", "-c", "CREATE DATABASE restored")
    _tool("psql", *primary.arguments(), "-d", "restored", "-X", "-q", "-v", "ON_ERROR_STOP=1",
          "-f", script)
    restored = _comparable(_tool("pg_dump", *primary.arguments(), "restored"))
    _assert_same(_dump(postgres), restored)


@pytest.mark.parametrize("command", ["\\dT", "\\dT+", "\\dD", "\\dD+", "\\dT s.*",
                                     "\\d person"])
def test_psql_describe_types_matches_postgres(dump_servers: tuple[Any, ...],
                                              command: str) -> None:
    postgres, primary = dump_servers[:2]
    expected = _tool("psql", *postgres.arguments(), "-X", "-d", "postgres", "-c", command)
    assert _tool("psql", *primary.arguments(), "-X", "-d", "postgres", "-c", command) == \
        expected


@pytest.mark.parametrize("data", ["3\tok\t{sad}\t-1\tAB\t1\tred\n", "3\tnope\t\\N\t1\tAB\t1\t\\N\n",
                                  "3\tok\t{sad,nope}\t1\tAB\t1\t\\N\n",
                                  "3\tok\t\\N\t1\tab\t1\t\\N\n", "3\tok\t\\N\t1\t\\N\t1\t\\N\n",
                                  "3\tok\t\\N\t1\tABCDEF\t1\t\\N\n",
                                  "3\tok\t\\N\t1\tA\t999.999\t\\N\n"],
                         ids=["check", "label", "array label", "regex", "not null", "length",
                              "typmod then check"])
def test_copy_into_enum_and_domain_columns_matches_postgres(dump_servers: tuple[Any, ...],
                                                            data: str) -> None:
    postgres, primary = dump_servers[:2]
    statement = "COPY person FROM STDIN"
    with psycopg.connect(f"host={postgres.host} port={postgres.port} user={postgres.user} "
                         f"dbname=postgres") as reference, \
            psycopg.connect(f"host={primary.host} port={primary.port} user={primary.user} "
                            f"dbname=postgres") as ours:
        expected = copy_in_error(reference, statement, data, with_context=True)
        assert expected[0] is not None
        assert copy_in_error(ours, statement, data, with_context=True) == expected
