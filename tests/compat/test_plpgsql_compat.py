"""PL/pgSQL functions, procedures and DO blocks, side by side with a real PostgreSQL 15.

The statements run in order on a throw-away PostgreSQL server and on a mirrordb Session over a
fresh cluster: DO blocks with RAISE (levels, % parameters, USING options, condition names),
loops (LOOP/EXIT/CONTINUE WHEN, WHILE, integer FOR with REVERSE and BY, query FOR over a
record), SELECT INTO [STRICT] and FOUND, data-modifying statements, nested blocks with
EXCEPTION WHEN handlers whose savepoint undoes the block's changes, RETURN NEXT and RETURN
QUERY in set-returning functions, OUT parameters, procedures, and PL/pgSQL's errors. Answers
(rows, command tags, errors with DETAIL and HINT, notices of commands) must be equal.
"""

from __future__ import annotations

from differential import MARKS, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table t (id int primary key, v text)",
    "insert into t values (1, 'one'), (2, 'two')",
]

DO_BLOCKS = [
    "do $$ declare x int := 1; begin raise notice 'x is % and %%', x; "
    "raise warning 'careful'; raise info 'null is %', null; end $$",
    "do $$ begin raise exception 'bad %', 1 using hint = 'h', errcode = '22012'; end $$",
    "do $$ begin raise division_by_zero; end $$",
    "do $$ begin raise exception using message = 'just a message', detail = 'd'; end $$",
    "do $$ begin raise 'plain %', 'text'; end $$",
    "do $$ declare i int; begin loop i := coalesce(i, 0) + 1; exit when i > 4; "
    "continue when i = 2; raise notice 'i=%', i; end loop; end $$",
    "do $$ begin for i in reverse 10..1 by 4 loop raise notice '%', i; end loop; end $$",
    "do $$ declare i int := 100; begin for i in 1..2 loop raise notice 'inner %', i; "
    "end loop; raise notice 'outer %', i; end $$",
    "do $$ declare r record; n int := 0; begin for r in select id, v from t order by id loop "
    "raise notice '% %', r.id, r.v; n := n + 1; end loop; raise notice 'found % n %', found, n; "
    "end $$",
    "do $$ declare s text; begin select v into s from t where id = 2; "
    "raise notice '% %', s, found; select v into s from t where id = 9; "
    "raise notice '% %', s, found; end $$",
    "do $$ declare s text; begin select v into strict s from t where id = 9; end $$",
    "do $$ declare s text; begin select v into strict s from t; end $$",
    "do $$ begin insert into t values (50, 'x'); begin insert into t values (51, 'y'); "
    "insert into t values (1, 'dup'); exception when unique_violation then "
    "raise notice 'caught %: %', sqlstate, sqlerrm; end; end $$",
    "select id, v from t order by id",
    "do $$ begin begin perform 1 / 0; exception when others then raise notice 'others %', "
    "sqlstate; raise; end; end $$",
    "do $$ begin update t set v = upper(v) where id < 3; raise notice 'updated %', found; "
    "delete from t where id > 100; raise notice 'deleted %', found; end $$",
    "select id, v from t order by id",
    "do $$ declare n int := 0; begin while n < 3 loop n := n + 1; end loop; "
    "raise notice 'n=%', n; end $$",
    "do $$ begin if 1 > 2 then raise notice 'a'; elsif 2 > 1 then raise notice 'b'; "
    "else raise notice 'c'; end if; end $$",
    "do $$ begin raise; end $$",
    "do language plpgsql $$ begin perform pg_sleep(0); end $$",
    "do $$ begin raise debug 'd'; raise log 'l'; raise info 'i'; raise notice 'n'; "
    "raise warning 'w'; end $$",
    "set client_min_messages = warning",
    "do $$ begin raise debug 'd'; raise log 'l'; raise info 'i'; raise notice 'n'; "
    "raise warning 'w'; end $$",
    "set client_min_messages = debug1",
    "do $$ begin raise debug 'd'; raise log 'l'; end $$",
    "reset client_min_messages",
    "do $$ declare n bigint; begin execute format('insert into %I values ($1, $2)', 't') "
    "using 60, 'sixty'; get diagnostics n = row_count; raise notice 'rows %', n; "
    "execute 'select count(*) from t where id > $1' into n using 10; "
    "raise notice 'count %', n; execute 'create table made_by_do (a int)'; end $$",
    "select count(*) from made_by_do",
    "do $$ declare n int := 2; s text; begin case n when 1, 2 then s := 'low'; "
    "else s := 'high'; end case; raise notice '%', s; case when n > 5 then s := 'big'; "
    "end case; end $$",
    "do $$ declare x int; total int := 0; begin foreach x in array array[1, 2, 3] loop "
    "total := total + x; end loop; raise notice 'total %', total; "
    "foreach x in array null::int[] loop end loop; end $$",
    "do $$ begin update t set v = v where id < 3; declare c int; begin "
    "get diagnostics c = row_count; raise notice 'updated %', c; end; end $$",
]

FUNCTIONS = [
    "create function fact(n int) returns bigint language plpgsql as $$ declare r bigint := 1; "
    "begin for i in 1..n loop r := r * i; end loop; return r; end $$",
    "select fact(5), fact(0), fact(null)",
    "create function fib(n int) returns setof int language plpgsql as $$ declare a int := 0; "
    "b int := 1; t int; begin while a < n loop return next a; t := a + b; a := b; b := t; "
    "end loop; end $$",
    "select * from fib(20)",
    "select fib(5)",
    "create function safe_div(a int, b int) returns int language plpgsql as $$ begin "
    "return a / b; exception when division_by_zero then return null; end $$",
    "select safe_div(6, 3), safe_div(1, 0)",
    "create function get_v(i int) returns text language plpgsql as $$ declare res text; "
    "begin select v into res from t where id = i; if not found then "
    "raise exception 'no row %', i using errcode = 'no_data_found'; end if; return res; end $$",
    "select get_v(1)",
    "select get_v(5)",
    "create function add_row(i int, s text) returns bigint language plpgsql as $$ begin "
    "insert into t values (i, s); return (select count(*) from t); end $$",
    "select add_row(3, 'three')",
    "create function tq(lo int) returns table(id int, v text) language plpgsql as $$ begin "
    "return query select t.id, t.v from t where t.id >= lo order by t.id; end $$",
    "select * from tq(3)",
    "create function outp(a int, out b int, out c text) language plpgsql as $$ begin "
    "b := a * 2; c := 'c' || a; end $$",
    "select * from outp(3)",
    "create function noret() returns int language plpgsql as $$ begin perform 1; end $$",
    "select noret()",
    "create procedure pr(n int) language plpgsql as $$ begin insert into t values (n, 'p'); "
    "if n > 100 then raise exception 'too big: %', n; end if; end $$",
    "call pr(10)",
    "call pr(1000)",
    "select count(*) from t",
    "create function bad() returns int language plpgsql as $$ begin retrun 1; end $$",
    "create function bad2() returns int language plpgsql as $$ begin return next 1; end $$",
    # transaction control in procedures and DO outside a transaction block
    "create table tc (a int)",
    "create procedure ptc() language plpgsql as $$ begin insert into tc values (1); commit; "
    "insert into tc values (2); rollback; insert into tc values (3); end $$",
    "call ptc()",
    "select a from tc order by a",
    "begin",
    "call ptc()",
    "rollback",
    "create function ftc() returns int language plpgsql as $$ begin commit; return 1; end $$",
    "select ftc()",
    "do $$ begin insert into tc values (9); commit; insert into tc values (10); rollback; end $$",
    "create procedure ptc2() language plpgsql as $$ begin begin commit; "
    "exception when others then raise; end; end $$",
    "call ptc2()",
    "select a from tc order by a",
    "create function fibr(n int) returns int language plpgsql as $$ begin if n < 2 then "
    "return n; end if; return fibr(n - 1) + fibr(n - 2); end $$",
    "select fibr(12)",
    "create function forever(n int) returns int language plpgsql as $$ begin "
    "return forever(n + 1); end $$",
    "select forever(1) is null",
    "select pg_get_functiondef('fact'::regproc)",
    "select lanname, lanispl, lanpltrusted from pg_language l join pg_proc p "
    "on p.prolang = l.oid where proname = 'fact'",
]

# The CONTEXT lines of errors raised inside functions and DO blocks
CONTEXTS = [
    "create function e1(a int) returns int language sql as 'select 1; select a / 0'",
    "select e1(1)",
    "create function e2(a int, b text) returns int language plpgsql as $$\nbegin\n"
    "  if a > 0 then\n    raise exception 'boom %', a;\n  end if;\n  return 1 / a;\nend $$",
    "select e2(1, 'x')",
    "select e2(0, 'x')",
    "do $$ begin perform 1/0; end $$",
    "create function e3() returns int language plpgsql as $$ declare x int; begin "
    "select 1/0 into x from pg_class limit 1; return x; end $$",
    "select e3()",
    "select noret()",
    "do $$\ndeclare i int;\nbegin\n  for i in 1..3 loop\n    if i = 2 then\n"
    "      raise division_by_zero;\n    end if;\n  end loop;\nend $$",
]

both = pair_fixture("plpgsql", SETUP, with_tags=False, detailed=True)
with_context = pair_fixture("plpgsql_context", SETUP + [
    "create function noret() returns int language plpgsql as $$ begin perform 1; end $$"],
    detailed=True, with_context=True)


def test_do_blocks(both) -> None:
    assert_same(both, DO_BLOCKS)


def test_functions_and_procedures(both) -> None:
    assert_same(both, FUNCTIONS)


def test_error_contexts(with_context) -> None:
    assert_same(with_context, CONTEXTS)
