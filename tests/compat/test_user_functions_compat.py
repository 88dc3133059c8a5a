"""User-defined SQL functions and procedures, side by side with a real PostgreSQL 15.

The statements run in order on a throw-away PostgreSQL server and on a mirrordb Session over a
fresh cluster: CREATE [OR REPLACE] FUNCTION/PROCEDURE LANGUAGE sql with string and
SQL-standard bodies, parameter modes, DEFAULTs and VARIADIC, with PostgreSQL's definition
errors (42P13, 42723, 42704); calls in select lists and FROM (named notation, overloading,
STRICT, SETOF and TABLE results, data-modifying bodies), CALL, the 42883/42809 errors with
their hints; DROP and ALTER FUNCTION; and what psql and pg_dump read (pg_proc's columns,
regproc/regprocedure, pg_get_function_arguments/identity_arguments/result,
pg_get_functiondef, psql's \\df query). Answers (rows, command tags, errors with DETAIL and
HINT, notices) must be equal.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from differential import MARKS, assert_same, pair_fixture
from tests.compat.test_pg_dump import Endpoint, _assert_same, _comparable, _tool
from tests.compat.types_pg_server import running_postgres
from tests.integration.test_standby_streaming import (assert_read_only_refusal, execute,
                                                      streaming_pair,
                                                      wait_for_replay_catchup)
from tests.server_process import RunningServer

pytestmark = MARKS

SETUP = [
    "create table t (id int primary key, v text)",
    "insert into t values (1, 'one'), (2, 'two'), (3, 'three')",
]

# psql 15's \df query (describe.c describeFunctions, no pattern, no system objects)
DESCRIBE_FUNCTIONS = (
    "SELECT n.nspname as \"Schema\", p.proname as \"Name\", "
    "pg_catalog.pg_get_function_result(p.oid) as \"Result data type\", "
    "pg_catalog.pg_get_function_arguments(p.oid) as \"Argument data types\", "
    "CASE p.prokind WHEN 'a' THEN 'agg' WHEN 'w' THEN 'window' WHEN 'p' THEN 'proc' "
    "ELSE 'func' END as \"Type\" FROM pg_catalog.pg_proc p "
    "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
    "WHERE pg_catalog.pg_function_is_visible(p.oid) AND n.nspname <> 'pg_catalog' "
    "AND n.nspname <> 'information_schema' ORDER BY 1, 2, 4")
PG_PROC = ("select proname, prokind, prolang, prosecdef, proisstrict, proretset, provolatile, "
           "pronargs, pronargdefaults, prorettype::regtype, proargtypes, proallargtypes, "
           "proargmodes, proargnames, provariadic, prosrc, prosqlbody is not null, procost, "
           "prorows, proacl is null from pg_proc where pronamespace = 'public'::regnamespace "
           "order by proname, proargtypes::text")

DEFINITIONS = [
    "create function add_one(a int) returns int language sql immutable strict "
    "as 'select a + 1'",
    "create function add_one(a int) returns int language sql as 'select a + 2'",
    "create or replace function add_one(a int) returns int language sql immutable strict "
    "as $$ select a + 1 $$",
    "create function add_one(a text) returns text language sql as $$ select a || '+1' $$",
    "create function add(a int, b int default 10, c int default 100) returns int "
    "language sql as 'select a + b + c'",
    "create function ret(int) returns int return $1 * 2",
    "create function sq(x numeric) returns numeric language sql begin atomic select x * x; end",
    "create function pair(a int, out doubled int, out label text) language sql "
    "as 'select a * 2, ''n'' || a'",
    "create function rows_of(lo int) returns table(id int, v text) language sql stable "
    "as 'select id, v from t where id >= lo order by id'",
    "create function ids() returns setof int language sql as 'select id from t order by id'",
    "create function total(variadic xs int[]) returns int language sql "
    "as 'select sum(x)::int from unnest(xs) x'",
    "create function put(i int, s text) returns int language sql "
    "as $$ insert into t values (i, s); select count(*)::int from t $$",
    "create procedure put_proc(i int, s text) language sql "
    "as $$ insert into t values (i, s) $$",
    "create procedure get_proc(i int, inout s text) language sql "
    "as $$ select v from t where id = i $$",
    "create function nothing() returns void language sql as 'select 1'",
    "create function named_s(s text) returns text language sql "
    "as 'select upper(named_s.s)'",
]
DEFINITION_ERRORS_WITHOUT_POSITION = [
    "create function e12(a int) returns int language sql as 'select a +'",
]

DEFINITION_ERRORS = [
    "create function e1() language sql as 'select 1'",
    "create function e2(out a int, out b text) returns int language sql as 'select 1, ''x'''",
    "create function e3(a int) returns int as 'select 1'",
    "create function e4(a int) returns int language nosuchlang as 'select 1'",
    "create function e5(a int) returns int language sql as 'select ''x''::text'",
    "create function e6(a int default 1, b int) returns int language sql as 'select 1'",
    "create function e7(a int, a int) returns int language sql as 'select 1'",
    "create function e8(variadic a int) returns int language sql as 'select 1'",
    "create function e9(a int) returns int language sql as 'select 1, 2'",
    "create function e10(a int) returns int language sql as 'insert into t values (9, ''x'')'",
    "create function e11(a int) returns int language sql as 'select * from nosuch'",
    "create or replace function add_one(a int) returns text language sql as 'select ''x'''",
    "create or replace function add_one(b int) returns int language sql as 'select 1'",
    "create or replace procedure add_one(a int) language sql as 'select 1'",
    "create function add_one(a int) returns int language sql as 'select nosuch'",
    "create procedure add_one(a int) language sql as 'select 1'",
]

CALLS = [
    "select add_one(1), add_one('a'::text), add_one(a => 5), add_one(null::int)",
    "select add(1), add(1, 2), add(1, 2, 3), add(1, c => 0), add(a => 1, b => 0, c => 0)",
    "select ret(21), sq(1.5), total(1, 2, 3), total(variadic array[4, 5])",
    "select pair(3)",
    "select (pair(3)).label, (pair(4)).doubled + 1",
    "select (pair(3)).nosuch",
    "select * from pair(4)",
    "select * from rows_of(2)",
    "select r.v from rows_of(1) r where r.id < 3",
    "select * from rows_of(2) with ordinality",
    "select * from ids()",
    "select ids(), 'x'",
    "select ids(), generate_series(1, 2)",
    "select rows_of(2)",
    "select id from t where id in (select ids())",
    "select 1 where ids() = 1",
    "select * from add_one(7)",
    "select * from add_one(7) as x(y)",
    "select id, add_one(id) from t order by id",
    "select named_s('abc')",
    "select nothing()",
    "select add_one(1, 2)",
    "select nosuch_fn(1)",
    "select add(b => 1)",
    "select put_proc(1, 'x')",
    "call put_proc(10, 'ten')",
    "call get_proc(10, null)",
    "call add_one(1)",
    "call nosuch_proc(1)",
    "select put(11, 'eleven')",
    "select count(*) from t",
    "select public.add_one(2)",
    # polymorphic parameters take the actual types
    "create function fnn(a anyelement, b anyelement) returns anyelement language sql "
    "as 'select coalesce(a, b)'",
    "select fnn(null::int, 3), fnn('a'::text, 'b'), pg_typeof(fnn(1.5, 2.5))",
    "create function arr_first(a anyarray) returns anyelement language sql as 'select a[1]'",
    "select arr_first(array[3, 4]), arr_first(array['x'])",
    "select fnn(1, 'x'::text)",
    "create function poly_bad(a int) returns anyelement language sql as 'select 1'",
    "create function plpoly(a anyelement) returns anyelement language plpgsql "
    "as $$ begin return a; end $$",
    "select plpoly(7), plpoly('t'::text), pg_typeof(plpoly(1.5)), plpoly(1.5) + 1",
    # user functions compete with the built-ins of the name; pg_catalog's come first
    "create function length(a int) returns int language sql as 'select a * 100'",
    "select length('abc'), length(5), length('ab'::text)",
    "create function upper(a int, b int) returns int language sql as 'select a + b'",
    "select upper('x'), upper(1, 2)",
    "create function abs(a int) returns int language sql as 'select 999'",
    "select abs(-3), public.abs(-3)",
    "drop function public.length(int), public.upper(int, int), public.abs(int)",
]

CATALOG = [
    PG_PROC,
    DESCRIBE_FUNCTIONS,
    "select 'ret'::regproc, 'add(integer,integer,integer)'::regprocedure, "
    "'add_one(text)'::regprocedure::oid = (select oid from pg_proc where proname = 'add_one' "
    "and proargtypes::text = '25')",
    "select 'add_one'::regproc",
    "select p.oid::regprocedure::text, pg_get_function_arguments(p.oid), "
    "pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid) "
    "from pg_proc p where pronamespace = 'public'::regnamespace order by 1",
    "select pg_get_functiondef('add'::regproc)",
    "select pg_get_functiondef('ret'::regproc)",
    "select pg_get_functiondef('pair'::regproc)",
    "select pg_get_functiondef('rows_of'::regproc)",
    "select pg_get_functiondef('put_proc'::regproc)",
    "select pg_get_functiondef('get_proc'::regproc)",
]

ALTER_AND_DROP = [
    "alter function ret(int) rename to twice",
    "select twice(4)",
    "select ret(4)",
    "alter function twice(int) rename to add_one",
    "alter function nosuch(int) rename to x",
    "alter procedure twice(int) rename to x",
    "create role fn_owner",
    "alter function twice owner to fn_owner",
    "drop routine twice",
    "create function twice(int) returns int return $1 * 2",
    "select proname, proowner::regrole from pg_proc where proname = 'twice'",
    "drop function add_one",
    "drop function add_one(text)",
    "drop function add_one(text)",
    "drop function if exists add_one(text), nosuch(int), nosuch2",
    "drop function put_proc(int, text)",
    "drop procedure put_proc",
    "drop procedure if exists put_proc(int, text)",
    "drop routine get_proc",
    "select proname from pg_proc where pronamespace = 'public'::regnamespace order by 1",
    "comment on function twice(int) is 'doubles'",
    "comment on function nosuch(int) is 'x'",
    "select obj_description('twice'::regproc, 'pg_proc'), "
    "(select description from pg_description where objoid = 'twice'::regproc "
    "and classoid = 'pg_proc'::regclass)",
    "create function gf(a int) returns int language sql as 'select a'",
    "create procedure gp() language sql as 'select 1'",
    "create role fn_user",
    "grant execute on function gf(int) to fn_user",
    "select proacl::text from pg_proc where proname = 'gf'",
    "revoke execute on function gf from public",
    "revoke execute on procedure gp from public",
    "select proname, proacl::text from pg_proc where proname in ('gf', 'gp') order by 1",
    "set role fn_user",
    "select gf(1)",
    "grant execute on function gf(int) to fn_owner",
    "reset role",
    "revoke all on function gf from fn_user",
    "set role fn_user",
    "select gf(1)",
    "select * from gf(1)",
    "call gp()",
    "grant execute on function gf(int) to fn_user",
    "reset role",
    "grant all on function gf(int) to fn_user with grant option",
    "select proacl::text from pg_proc where proname = 'gf'",
    "grant select on function gf(int) to fn_user",
    "grant execute on function gf(int) to public with grant option",
    "alter function gf owner to fn_owner",
    "select proacl::text, proowner::regrole from pg_proc where proname = 'gf'",
    "drop role fn_user",
    "drop role fn_owner",
    "drop function gf",
    "drop procedure gp",
    # SECURITY DEFINER runs as the owner: current_user and the privilege checks
    "create role sd_owner",
    "create role sd_user",
    "create table secret (x int)",
    "insert into secret values (42)",
    "alter table secret owner to sd_owner",
    "create function peek() returns int language sql security definer "
    "as 'select x from secret'",
    "alter function peek() owner to sd_owner",
    "create function peek_invoker() returns int language sql as 'select x from secret'",
    "create function who() returns text language sql security definer "
    "as 'select current_user::text'",
    "alter function who() owner to sd_owner",
    "set role sd_user",
    "select peek(), who(), current_user",
    "select peek_invoker()",
    "reset role",
    "create schema s2",
    "create function af(a int) returns int language sql as 'select a'",
    "alter function af(int) immutable strict security definer",
    "select provolatile, proisstrict, prosecdef from pg_proc where proname = 'af'",
    "alter function af set schema s2",
    "select s2.af(1)",
    "select af(1)",
    "alter function s2.af(int) set schema nosuch",
    "alter procedure s2.af(int) stable",
    "alter routine s2.af(int) volatile called on null input security invoker cost 5",
    "select provolatile, proisstrict, prosecdef from pg_proc where proname = 'af'",
    "drop schema s2 cascade",
    # SET clauses: the settings while the function runs, undone when it returns
    "create function fs1() returns text language sql set search_path = public, pg_temp "
    "set work_mem to '64MB' as 'select current_setting(''work_mem'')'",
    "select fs1(), current_setting('work_mem'), proconfig from pg_proc where proname = 'fs1'",
    "select pg_get_functiondef('fs1'::regproc)",
    "create function fs2() returns int language sql set nosuch_setting = 1 as 'select 1'",
    "alter function fs1() set work_mem = '1MB'",
    "alter function fs1() set datestyle = 'ISO, DMY'",
    "select fs1(), proconfig from pg_proc where proname = 'fs1'",
    "alter function fs1() reset search_path",
    "select proconfig from pg_proc where proname = 'fs1'",
    "alter function fs1() reset all",
    "select proconfig from pg_proc where proname = 'fs1'",
    "create schema fs",
    "create table fs.t (a int)",
    "create function fs.f(a int, b text) returns int language sql as 'select 1'",
    "create procedure fs.p() language sql as 'select 1'",
    "select fs.f(1, 'x')",
    "drop schema fs",
    "drop schema fs cascade",
    "select count(*) from pg_proc where proname in ('f', 'p')",
]

both = pair_fixture("both", SETUP, with_tags=True, detailed=True)


def test_definitions_and_their_errors(both) -> None:
    assert_same(both, DEFINITIONS + DEFINITION_ERRORS + DEFINITION_ERRORS_WITHOUT_POSITION)


def test_calls(both) -> None:
    assert_same(both, CALLS)


def test_catalog(both) -> None:
    assert_same(both, CATALOG)


def test_alter_and_drop(both) -> None:
    assert_same(both, ALTER_AND_DROP)


# -- pg_dump, restore, and a streaming standby ---------------------------------------------------

# What pg_dump must print as PostgreSQL does (a BEGIN ATOMIC body is printed by pglast's
# deparser, not PostgreSQL's ruleutils, so it is left out).
DUMPED = [
    "create table t (id int primary key, v text)",
    "create function add_one(a int) returns int language sql immutable strict "
    "as 'select a + 1'",
    "create function add(a int, b int default 10, c text default 'x') returns text "
    "language sql as 'select a + b || c'",
    "create function ret(int) returns int return $1 * 2",
    "create function pair(a int, out doubled int, out label text) language sql "
    "as 'select a * 2, ''n'' || a'",
    "create function rows_of(lo int) returns table(id int, v text) language sql stable "
    "security definer as 'select id, v from t where id >= lo order by id'",
    "create procedure put_proc(i int, s text) language sql "
    "as $$ insert into t values (i, s) $$",
    "create function plf(a int) returns int language plpgsql stable as $$\n"
    "begin\n  return a + 1;\nend\n$$",
    "create role fn_owner",
    "alter function add_one(int) owner to fn_owner",
    "comment on function add(int, int, text) is 'adds up'",
    "create function configured() returns int language sql security definer "
    "set search_path = public, pg_temp set work_mem = '8MB' as 'select 1'",
    "revoke execute on function add(int, int, text) from public",
    "grant execute on function add(int, int, text) to fn_owner",
]


@pytest.fixture(scope="module")
def dumped(template_cluster: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Endpoint, RunningServer, RunningServer]]:
    directory = str(tmp_path_factory.mktemp("functions_dump"))
    with running_postgres() as postgres:
        with psycopg.connect(postgres.conninfo, autocommit=True) as connection:
            for statement in DUMPED:
                connection.execute(statement)
        with streaming_pair(template_cluster, directory, *DUMPED) as (primary, standby):
            yield Endpoint(postgres.host, postgres.port, postgres.user), primary, standby


def _endpoint(server: RunningServer) -> Endpoint:
    return Endpoint("127.0.0.1", server.port)


def test_pg_dump_of_functions_matches_postgres(dumped) -> None:
    postgres, primary, standby = dumped
    expected = _comparable(_tool("pg_dump", *postgres.arguments(), "postgres"))
    _assert_same(expected, _comparable(_tool("pg_dump", *_endpoint(primary).arguments(),
                                             "postgres")))
    wait_for_replay_catchup(primary, standby)
    _assert_same(expected, _comparable(_tool("pg_dump", *_endpoint(standby).arguments(),
                                             "postgres")))


def test_postgres_dump_restores_into_mirrordb(dumped, tmp_path) -> None:
    postgres, primary, _ = dumped
    script = tmp_path / "dump.sql"
    script.write_text(_tool("pg_dump", *postgres.arguments(), "postgres"))
    execute(primary, "create database restored")
    _tool("psql", *_endpoint(primary).arguments(), "-X", "-q", "-v", "ON_ERROR_STOP=1",
          "-d", "restored", "-f", str(script))
    expected = _comparable(_tool("pg_dump", *postgres.arguments(), "postgres"))
    _assert_same(expected, _comparable(_tool("pg_dump", *_endpoint(primary).arguments(),
                                             "restored")))
    with psycopg.connect(primary.dsn().replace("dbname=postgres", "dbname=restored"),
                         autocommit=True) as connection:
        assert connection.execute("select add(1), ret(2), * from pair(3)").fetchall() == \
            [("11x", 4, 6, "n3")]


def test_psql_describes_functions_as_postgres(dumped) -> None:
    """psql's own \\df, \\df+ and \\sf[+] output (its catalog queries, formatted by psql)."""
    postgres, primary, _ = dumped
    commands = ["-c", "\\df", "-c", "\\df+ add*", "-c", "\\sf add", "-c", "\\sf+ pair",
                "-c", "\\sf plf", "-c", "\\df put_proc"]
    expected = _tool("psql", *postgres.arguments(), "-X", "-d", "postgres", *commands)
    assert _tool("psql", *_endpoint(primary).arguments(), "-X", "-d", "postgres",
                 *commands) == expected



def test_call_with_parameters_and_commits_over_the_extended_protocol(dumped) -> None:
    """CALL with $n parameters (psycopg's extended protocol) of a procedure that commits."""
    _, primary, _ = dumped
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        connection.execute("create procedure batches(n int, s text) language plpgsql as $$ "
                           "begin for i in 1..n loop insert into t values (1000 + i, s); "
                           "commit; end loop; insert into t values (2000, s); rollback; end $$")
        connection.execute("call batches(%s, %s)", (3, "b"))
        assert connection.execute("select count(*), min(v) from t where id > 1000"
                                  ).fetchone() == (3, "b")
        connection.execute("delete from t where id > 1000")
        connection.execute("drop procedure batches")

def test_standby_calls_functions_and_refuses_to_create_them(dumped) -> None:
    _, primary, standby = dumped
    execute(primary, "create function on_primary(x int) returns int language sql "
                     "as 'select x * 10'", "call put_proc(1, 'one')")
    wait_for_replay_catchup(primary, standby)
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        assert connection.execute("select * from rows_of(0)").fetchall() == [(1, "one")]
        assert connection.execute("select on_primary(4), add_one(1), plf(1)").fetchall() == \
            [(40, 2, 2)]
    assert_read_only_refusal(standby, "create function f() returns int language sql "
                                      "as 'select 1'", "CREATE FUNCTION")
    assert_read_only_refusal(standby, "create procedure p() language sql as 'select 1'",
                             "CREATE PROCEDURE")
    assert_read_only_refusal(standby, "call put_proc(1, 'x')", "INSERT")
    assert_read_only_refusal(standby, "do $$ begin insert into t values (7, 'x'); end $$",
                             "INSERT")
