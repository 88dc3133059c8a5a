"""Window functions side by side with a real PostgreSQL 15.

Each statement runs on a throw-away PostgreSQL server (tests/compat/types_pg_server.py) and on
a mirrordb Session over a fresh cluster, both holding the same rows. They must agree on the
result columns (names and type OIDs, as RowDescription gives them) and the rows as text, in
order; or on the error's SQLSTATE, message, hint and position. Statements whose row order
PostgreSQL does not fix end in an ORDER BY that does.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T
from differential import MARKS, Ours, Reference, pair_fixture

pytestmark = MARKS

SETUP = [
    "set timezone = 'UTC'",
    ("create table emp (id int, dept text, salary int, bonus numeric, score float8, "
     "hired date, seen timestamp, span interval)"),
    ("insert into emp values "
     "(1, 'eng', 100, 1.5, 0.5, '2020-01-01', '2020-01-01 10:00', '1 day'), "
     "(2, 'eng', 200, 2.25, 1.5, '2020-01-03', '2020-01-01 12:00', '2 days'), "
     "(3, 'eng', 200, null, 2.5, '2020-01-04', '2020-01-02 09:30', '3 days'), "
     "(4, 'eng', 300, 4, null, '2020-02-01', null, null), "
     "(5, 'ops', 150, 5, 3, null, '2020-01-05 00:00', '1 hour'), "
     "(6, 'ops', null, 6.75, 3, '2020-03-01', '2020-01-05 00:00', '5 hours'), "
     "(7, 'ops', 150, 0, -1, '2020-03-02', '2020-01-06 08:00', '1 day'), "
     "(8, 'hr', 90, null, 'NaN', '2020-04-01', '2020-02-01 00:00', '1 mon'), "
     "(9, null, 90, 1, 'Infinity', '2020-04-01', '2020-02-02 00:00', '2 mons'), "
     "(10, null, null, null, null, null, null, null)"),
    "create table empty (id int, v int)",
    "create table nums (x int)",
    "insert into nums select generate_series(1, 12)",
    "create table words (k int, w text)",
    "insert into words values (1, 'b'), (1, 'a'), (2, 'c'), (2, null), (3, 'd')",
]

EMP = "from emp order by id"
W = "window w as (order by salary)"

QUERIES = [
    # ranking functions, result names and types
    f"select id, row_number() over () {EMP}",
    f"select id, row_number() over (order by id desc) {EMP}",
    f"select id, row_number() over (partition by dept order by id) {EMP}",
    f"select id, rank() over (order by salary) {EMP}",
    f"select id, dense_rank() over (order by salary desc) {EMP}",
    f"select id, rank() over (order by salary nulls first) {EMP}",
    f"select id, rank() over (partition by dept order by salary desc nulls last) {EMP}",
    f"select id, percent_rank() over (order by salary) {EMP}",
    f"select id, percent_rank() over (partition by dept order by salary) {EMP}",
    f"select id, cume_dist() over (order by salary) {EMP}",
    f"select id, cume_dist() over (partition by dept order by id) {EMP}",
    f"select id, rank() over () , dense_rank() over (), percent_rank() over () {EMP}",
    f"select id, ntile(3) over (order by id) {EMP}",
    f"select id, ntile(4) over (partition by dept order by id) {EMP}",
    f"select id, ntile(20) over (order by id) {EMP}",
    f"select id, ntile(1) over (order by id) {EMP}",
    f"select id, ntile(null) over (order by id) {EMP}",
    f"select id, ntile(2::int2) over (order by id) as tile {EMP}",
    "select x, ntile(5) over (order by x) from nums order by x",
    "select row_number() over (), rank() over () from empty",
    "select count(*) over () from empty",
    "select row_number() over ()",
    "select row_number() over () as rn, 1 as one",
    # lag and lead
    f"select id, lag(salary) over (order by id) {EMP}",
    f"select id, lead(salary) over (order by id) {EMP}",
    f"select id, lag(salary, 2) over (order by id) {EMP}",
    f"select id, lead(salary, 3, 0) over (order by id) {EMP}",
    f"select id, lag(salary, 1, -1) over (partition by dept order by id) {EMP}",
    f"select id, lag(bonus, 1, 0) over (order by id) {EMP}",
    f"select id, lag(salary, 1, 0.5) over (order by id) {EMP}",
    f"select id, lag(salary, -1) over (order by id) {EMP}",
    f"select id, lead(salary, 0) over (order by id) {EMP}",
    f"select id, lag(salary, null) over (order by id) {EMP}",
    f"select id, lag(dept, 1, 'none') over (order by id) {EMP}",
    f"select id, lag('x') over (order by id) {EMP}",
    f"select id, lead(hired, 1) over (order by id), lag(span) over (order by id) {EMP}",
    f"select id, lag(salary, id % 3) over (order by id) {EMP}",
    f"select id, lag(salary, 1, id * 10) over (order by id) {EMP}",
    "select lag(x, 1, 'a') over () from nums",
    "select lag(x, 1::int8) over () from nums",
    "select lag(x, 1, 'a'::text) over () from nums",
    "select lag() over () from nums",
    # first_value, last_value, nth_value and frames
    f"select id, first_value(salary) over (order by id) {EMP}",
    f"select id, last_value(salary) over (order by salary) {EMP}",
    ("select id, last_value(id) over (order by salary, id rows between unbounded preceding "
     f"and unbounded following) {EMP}"),
    f"select id, nth_value(id, 2) over (order by id) {EMP}",
    ("select id, nth_value(id, 3) over (partition by dept order by id rows between "
     f"unbounded preceding and unbounded following) {EMP}"),
    f"select id, nth_value(id, 0) over (order by id) {EMP}",
    f"select id, nth_value(id, null) over (order by id) {EMP}",
    f"select id, first_value(id) over (order by id rows between 2 following and 3 following) {EMP}",
    f"select id, last_value(id) over (order by id rows between 3 preceding and 2 preceding) {EMP}",
    ("select id, first_value(id) over (order by id rows between current row and current row "
     f"exclude current row) {EMP}"),
    # aggregates as window functions
    f"select id, sum(salary) over (order by id) {EMP}",
    f"select id, sum(salary) over (partition by dept) {EMP}",
    f"select id, sum(salary) over (order by salary) {EMP}",
    f"select id, count(*) over (order by salary), count(salary) over (order by salary) {EMP}",
    f"select id, avg(salary) over (partition by dept order by id) {EMP}",
    f"select id, avg(score) over (order by id) {EMP}",
    f"select id, sum(bonus) over (order by id), avg(bonus) over (order by id) {EMP}",
    f"select id, min(salary) over (order by id), max(dept) over (order by id) {EMP}",
    f"select id, string_agg(dept, ',') over (order by id) {EMP}",
    f"select id, array_agg(salary) over (partition by dept order by id) {EMP}",
    ("select id, bool_and(salary > 100) over (order by id), bool_or(salary > 250) over "
     f"(order by id) {EMP}"),
    f"select id, stddev(salary) over (order by id), var_pop(score) over (order by id) {EMP}",
    f"select id, sum(span) over (order by id), max(hired) over (order by id) {EMP}",
    f"select id, count(*) filter (where salary > 100) over (order by id) {EMP}",
    f"select id, sum(salary) filter (where dept = 'eng') over () {EMP}",
    f"select id, json_agg(id) over (order by id rows 1 preceding) {EMP}",
    f"select id, sum(salary) over (order by id rows between 1 preceding and 1 following) {EMP}",
    ("select id, sum(salary) over (order by id rows between current row and unbounded "
     f"following) {EMP}"),
    ("select id, sum(salary) over (order by id rows between unbounded preceding and 1 "
     f"preceding) {EMP}"),
    ("select id, sum(salary) over (order by id rows between 2 following and unbounded "
     f"following) {EMP}"),
    f"select id, sum(salary) over (order by id rows 2 preceding) {EMP}",
    f"select id, sum(salary) over (order by id rows unbounded preceding) {EMP}",
    f"select id, sum(salary) over (order by id rows current row) {EMP}",
    f"select id, count(*) over (order by id rows between 1 following and 3 following) {EMP}",
    f"select id, sum(salary) over (order by id rows between 5 preceding and 3 preceding) {EMP}",
    f"select id, sum(salary) over (order by id rows between 0 preceding and 0 following) {EMP}",
    # RANGE frames
    ("select id, sum(salary) over (order by salary range between unbounded preceding and "
     f"current row) {EMP}"),
    ("select id, sum(salary) over (order by salary range between current row and unbounded "
     f"following) {EMP}"),
    f"select id, count(*) over (order by salary range between current row and current row) {EMP}",
    ("select id, sum(salary) over (order by salary range between 50 preceding and 50 "
     f"following) {EMP}"),
    ("select id, sum(salary) over (order by salary desc range between 50 preceding and 10 "
     f"following) {EMP}"),
    ("select id, sum(salary) over (order by salary nulls first range between 100 preceding "
     f"and current row) {EMP}"),
    ("select id, count(*) over (order by salary range between 100 following and 200 "
     f"following) {EMP}"),
    ("select id, count(*) over (order by salary desc nulls last range between 0 preceding "
     f"and 100 following) {EMP}"),
    ("select id, count(*) over (order by salary range between unbounded preceding and 60 "
     f"preceding) {EMP}"),
    f"select id, sum(id) over (order by bonus range between 1 preceding and 1.5 following) {EMP}",
    ("select id, sum(id) over (order by bonus desc range between 2.5 preceding and current "
     f"row) {EMP}"),
    f"select id, sum(id) over (order by score range between 1 preceding and 1 following) {EMP}",
    ("select id, sum(id) over (order by score range between 'Infinity' preceding and 0.5 "
     f"following) {EMP}"),
    ("select id, count(*) over (order by hired range between '2 days' preceding and current "
     f"row) {EMP}"),
    ("select id, count(*) over (order by hired desc range between '1 month' preceding and "
     f"'1 day' following) {EMP}"),
    ("select id, count(*) over (order by seen range between interval '1 day' preceding and "
     f"current row) {EMP}"),
    ("select id, count(*) over (order by seen::timestamptz range between '12 hours' "
     f"preceding and '12 hours' following) {EMP}"),
    ("select id, count(*) over (order by span range between '1 day' preceding and '1 day' "
     f"following) {EMP}"),
    ("select id, count(*) over (order by salary::int8 range between 1::int2 preceding and "
     f"50 following) {EMP}"),
    f"select id, count(*) over (order by salary::int2 range 10 preceding) {EMP}",
    ("select id, sum(salary) over (order by salary range between -1 preceding and current "
     f"row) {EMP}"),
    ("select id, sum(salary) over (order by salary range between null preceding and current "
     f"row) {EMP}"),
    f"select id, count(*) over (order by dept range between 1 preceding and current row) {EMP}",
    f"select id, count(*) over (order by hired range between 1 preceding and current row) {EMP}",
    f"select id, count(*) over (order by salary range between 1.5 preceding and current row) {EMP}",
    f"select id, count(*) over (range between 1 preceding and current row) {EMP}",
    ("select id, count(*) over (order by salary, id range between 1 preceding and current "
     f"row) {EMP}"),
    f"select id, count(*) over (order by score range between -1 preceding and current row) {EMP}",
    ("select id, count(*) over (order by span range between '-1 day' preceding and current "
     f"row) {EMP}"),
    # GROUPS frames
    ("select id, sum(salary) over (order by salary groups between 1 preceding and 1 "
     f"following) {EMP}"),
    ("select id, sum(salary) over (order by salary groups between current row and 2 "
     f"following) {EMP}"),
    f"select id, count(*) over (order by salary groups between 2 preceding and 1 preceding) {EMP}",
    f"select id, count(*) over (order by salary desc groups unbounded preceding) {EMP}",
    ("select id, count(*) over (partition by dept order by salary groups between 1 "
     f"following and unbounded following) {EMP}"),
    f"select id, count(*) over (groups between 1 preceding and current row) {EMP}",
    f"select id, count(*) over (order by salary groups between -1 preceding and current row) {EMP}",
    f"select id, count(*) over (order by salary rows between -1 preceding and current row) {EMP}",
    f"select id, count(*) over (order by salary rows between current row and null following) {EMP}",
    f"select id, count(*) over (order by salary rows between 'a' preceding and current row) {EMP}",
    ("select id, count(*) over (order by salary, id rows between 1.5 preceding and current "
     f"row) {EMP}"),
    f"select id, count(*) over (order by salary rows between id preceding and current row) {EMP}",
    ("select id, count(*) over (order by salary groups between salary preceding and current "
     f"row) {EMP}"),
    # EXCLUDE
    ("select id, sum(salary) over (order by salary rows between unbounded preceding and "
     f"unbounded following exclude current row) {EMP}"),
    ("select id, sum(salary) over (order by salary range between unbounded preceding and "
     f"unbounded following exclude group) {EMP}"),
    ("select id, sum(salary) over (order by salary range between unbounded preceding and "
     f"current row exclude ties) {EMP}"),
    ("select id, sum(id) over (order by salary groups between 1 preceding and 1 following "
     f"exclude ties) {EMP}"),
    ("select id, sum(id) over (order by salary groups between 1 preceding and 1 following "
     f"exclude group) {EMP}"),
    f"select id, sum(salary) over (order by salary exclude no others) {EMP}",
    ("select id, first_value(id) over (order by salary, id rows between unbounded preceding "
     f"and current row exclude current row) {EMP}"),
    ("select id, last_value(id) over (order by salary, id desc range between current row "
     f"and unbounded following exclude ties) {EMP}"),
    ("select id, nth_value(id, 2) over (order by salary, id groups between 1 preceding and "
     f"1 following exclude current row) {EMP}"),
    f"select id, count(*) over (exclude current row) {EMP}",
    # named windows, copying and overriding
    f"select id, sum(salary) over w, rank() over w from emp {W} order by id",
    f"select id, sum(salary) over (w) from emp {W} order by id",
    ("select id, sum(salary) over (w rows 1 preceding) from emp window w as (order by "
     "salary, id) order by id"),
    ("select id, sum(salary) over (p order by id) from emp window p as (partition by dept) "
     "order by id"),
    ("select id, count(*) over w2 from emp window w1 as (partition by dept), "
     "w2 as (w1 order by salary) order by id"),
    ("select id, count(*) over w2 from emp window w2 as (w1 order by salary), "
     "w1 as (partition by dept) order by id"),
    "select id from emp window w as (order by id), w as (order by salary)",
    "select id, count(*) over (w order by id) from emp window w as (order by salary)",
    "select id, count(*) over (w partition by dept) from emp window w as (order by salary)",
    "select id, count(*) over (w) from emp window w as (order by salary rows 1 preceding)",
    ("select id, count(*) over (w rows 2 preceding) from emp window w as (order by salary "
     "rows 1 preceding)"),
    ("select id from emp window w1 as (order by salary rows 1 preceding), "
     "w2 as (w1)"),
    "select id, count(*) over nosuch from emp",
    "select id, count(*) over (nosuch order by id) from emp",
    "select id from emp window w as (partition by nosuch)",
    "select id from emp window w as (order by id) order by id limit 2",
    ("select id, count(*) over w from emp window w as (rows between 1 preceding and current "
     "row) order by id"),
    # several windows, windows and ORDER BY, DISTINCT, LIMIT, subqueries
    ("select id, row_number() over (order by salary, id), row_number() over (order by id "
     f"desc), sum(id) over (partition by dept) {EMP}"),
    "select id, rank() over (order by salary) from emp order by rank() over (order by salary), id",
    "select id from emp order by row_number() over (order by id desc)",
    "select id, salary from emp order by sum(salary) over (partition by dept), id",
    "select distinct dept, count(*) over (partition by dept) from emp order by 1",
    ("select distinct on (dept) dept, id, row_number() over (partition by dept order by id "
     "desc) from emp order by dept, id"),
    "select id, row_number() over (order by id) from emp order by id limit 3 offset 2",
    ("select * from (select id, rank() over (partition by dept order by salary desc) r from "
     "emp) s where r = 1 order by id"),
    "select id, (select count(*) over () from nums limit 1) from emp order by id",
    "select id from emp where id in (select row_number() over () from nums) order by id",
    ("select id, row_number() over (order by id) * 10 + 1 as x, -rank() over (order by "
     "salary) from emp order by id"),
    ("select id, case when row_number() over (order by id) % 2 = 0 then 'even' else 'odd' "
     "end from emp order by id"),
    "select id, sum(salary) over (order by id) - salary as before from emp order by id",
    "select id, coalesce(lag(salary) over (order by id), 0) from emp order by id",
    "select k, w, row_number() over (partition by k order by w) from words order by k, w",
    ("select k, string_agg(w, '-') over (partition by k order by w nulls first) from words "
     "order by k, w nulls first"),
    ("select x, sum(x) over (order by x rows between 2 preceding and 2 following) from nums "
     "order by x"),
    "select x, avg(x) over (order by x rows 3 preceding)::numeric(10,2) from nums order by x",
    "select x % 3 as m, sum(x) over (partition by x % 3 order by x) from nums order by x",
    "select x, first_value(x) over (partition by x % 4 order by x desc) from nums order by x",
    "select generate_series(1, 3) as g, row_number() over () from nums where x < 3 order by 1, 2",
    # without ORDER BY, rows come in the order of the window PostgreSQL computes last
    "select id, row_number() over (order by salary desc, id) from emp",
    "select id, row_number() over (partition by dept order by id) from emp",
    "select id, row_number() over (order by id), rank() over (order by id desc) from emp",
    ("select id, rank() over (partition by dept order by id), "
     "row_number() over (order by id desc) from emp"),
    "select id, rank() over (order by id desc), row_number() over (order by id) from emp",
    "select id, rank() over (order by salary, id), row_number() over (order by id) from emp",
    ("select id, rank() over (order by id), "
     "row_number() over (order by salary nulls first, id) from emp"),
    ("select id, salary, rank() over (order by id), "
     "row_number() over (order by salary desc nulls last, id) from emp"),
    ("select id, rank() over w2, row_number() over w1 from emp "
     "window w1 as (order by id), w2 as (order by id desc)"),
    ("select id, sum(id) over (partition by dept order by id), "
     "sum(id) over (order by dept, id desc) from emp"),
    "select a, row_number() over (order by a desc) from (values (2), (1), (null)) v(a)",
    ("select id, sum(id) over (order by id rows 1 preceding), sum(id) over (), "
     "count(*) over (order by id rows between current row and 1 following), "
     "sum(id) over (partition by dept), min(id) over (order by id desc groups 2 preceding), "
     "max(id) over (order by id range between 1 following and 3 following) from emp "
     "order by id"),
    # more frames, types and edge values
    ("select x, sum(x) over (order by x::float4 range between 1 preceding and 1 following) "
     "from nums order by x"),
    ("select x, sum(x) over (order by x::numeric / 3 range between 0.5 preceding and "
     "0.5 following) from nums order by x"),
    ("select x, sum(x) over (order by x::int8 range between 9223372036854775807 preceding "
     "and 9223372036854775807 following) from nums order by x"),
    ("select x, count(*) over (order by x rows between 9223372036854775807 preceding and "
     "9223372036854775807 following) from nums order by x"),
    ("select x, count(*) over (order by x groups between 9223372036854775807 preceding and "
     "9223372036854775807 following) from nums order by x"),
    "select x, count(*) over (order by x range between 2 following and 1 following) from nums",
    ("select a, sum(a) over (order by a range between 1 preceding and current row) "
     "from (values (2), (1), (null), (null)) v(a) order by a"),
    ("select a, sum(a) over (order by a nulls first range between current row and "
     "1 following) from (values (2), (1), (null), (null)) v(a) order by a nulls first"),
    ("select a, count(*) over (order by a desc range between 1 following and 2 following) "
     "from (values (3), (2), (1), (null)) v(a) order by a"),
    ("select id, count(*) over (partition by dept order by seen range between '1 day' "
     "preceding and '1 day' following exclude current row) from emp order by id"),
    "select lag(x, 2147483647) over () from nums limit 1",
    "select lead(x, -2147483648) over () from nums limit 1",
    "select ntile(2147483647) over (order by x) from nums order by x limit 2",
    ("select x, bit_or(x) over (order by x), every(x > 2) over (order by x), "
     "jsonb_agg(x) over (order by x rows 1 preceding) from nums order by x"),
    "select id, lead(id, 1, 2::int8) over (order by id) from emp order by id",
    ("select id, sum((select count(*) from nums where x < id)) over (order by id) "
     "from emp order by id"),
    "select id, (select sum(e.id) over () from nums limit 1) from emp e order by id",
    "select count(*) from (select row_number() over () from nums) s",
    "select max(row_number() over ()) from emp",
    # window functions over grouping and aggregates
    "select dept, count(*), sum(count(*)) over () from emp group by dept order by dept",
    ("select dept, sum(salary), rank() over (order by sum(salary) desc) from emp group by "
     "dept order by dept"),
    "select dept, avg(salary), avg(avg(salary)) over () from emp group by dept order by dept",
    "select dept, max(id), lag(max(id)) over (order by dept) from emp group by dept order by dept",
    ("select dept, count(*) from emp group by dept having count(*) > 1 order by "
     "row_number() over (order by dept desc)"),
    "select count(*) over (), count(*) from emp",
    ("select sum(sum(salary)) over (order by dept rows unbounded preceding) from emp group "
     "by dept order by dept"),
    ("select dept, row_number() over (partition by count(*) order by dept) from emp group "
     "by dept order by dept"),
    "select dept, sum(salary) over () from emp group by dept",
    "select dept, count(*) over (order by salary) from emp group by dept",
    "select row_number() over (order by x) from nums group by x having x < 3 order by 1",
    # where window functions are refused
    "select id from emp where row_number() over () > 1",
    "select id from emp where id = (row_number() over ())",
    "select count(*) from emp group by row_number() over ()",
    "select dept from emp group by dept having row_number() over () > 0",
    "select sum(row_number() over ()) from emp",
    "select count(*) filter (where row_number() over () > 1) from emp",
    "select sum(row_number() over ()) over () from emp",
    "select row_number() over (partition by rank() over ()) from emp",
    "select row_number() over (order by rank() over ()) from emp",
    "select * from emp e join nums n on row_number() over () = n.x",
    "select id from emp limit row_number() over ()",
    "select id from emp order by id offset count(*) over ()",
    "values (row_number() over ())",
    "select * from generate_series(1, row_number() over ())",
    "select id, row_number() over () from emp for update",
    "select sum(generate_series(1, 3)) over () from emp",
    "select dept, salary from emp group by dept", "select e.id from emp e group by dept",
    "select rank(1) over () from emp", "select percent_rank(1) from emp",
    "select first_value('x') over ()", "select nth_value('x', 1) over ()",
    "select lag('x', 1, 'y') over ()", "select lag(1, 1, 'y') over ()",
    "select lead(1, 1, 2.5) over ()", "select ntile(1.5) over ()",
    "select nth_value(1, 1.5) over ()",
    "select count(*) over (rows between 'a'::text preceding and current row) from emp",
    # data changes: allowed in INSERT ... SELECT only
    "update words set k = row_number() over ()",
    "delete from words where k = row_number() over ()",
    "insert into words values (row_number() over (), 'z')",
    "insert into words (k) values (1) returning row_number() over ()",
    # misuse of OVER and of window functions
    "select row_number() from emp",
    "select rank(id) from emp",
    "select ntile(2) from emp",
    "select lag(id) from emp",
    "select lower(dept) over () from emp",
    "select nosuch(id) over () from emp",
    "select row_number(1) over () from emp",
    "select ntile() over () from emp",
    "select ntile('2') over () from emp",
    "select ntile(2.5) over () from emp",
    "select ntile(-1) over () from emp",
    "select nth_value(id) over () from emp",
    "select first_value() over () from emp",
    "select row_number() filter (where id > 1) over () from emp",
    "select count(distinct id) over () from emp",
    "select array_agg(id order by id) over () from emp",
    "select sum(dept) over () from emp",
    "select generate_series(1, 2) over () from emp",
    "select row_number() over (order by nosuch) from emp",
    ("select count(*) over (partition by id rows between current row and unbounded "
     "preceding) from emp"),
    "select count(*) over (rows between unbounded following and current row) from emp",
    "select count(*) over (rows between 1 following and current row) from emp",
    "select count(*) over (rows between 1 following and 1 preceding) from emp",
    "select count(*) over (rows between current row and 1 preceding) from emp",
    "select count(*) over (rows unbounded following) from emp",
]


both = pair_fixture("window", SETUP)


def test_statement_list_is_broad() -> None:
    assert len(QUERIES) >= 100 and len(set(QUERIES)) == len(QUERIES)


@pytest.mark.parametrize("query", QUERIES)
def test_query_matches_postgres(both: tuple[Reference, Ours], query: str) -> None:
    reference, ours = both
    result: Any = ours.run(query)
    assert result == reference.run(query)


# Statements with parameters, run through the extended protocol (Parse/Bind/Execute) with the
# parameters sent as text of unspecified type, as psql's \bind and most drivers send them.
PARAMETERIZED = [
    ("select id, lag(salary, $1) over (order by id) from emp order by id", ["2"]),
    ("select id, lead(salary, 1, $1) over (order by id) from emp order by id", ["-5"]),
    ("select id, ntile($1) over (order by id) from emp order by id", ["3"]),
    ("select id, nth_value(id, $1) over (order by id) from emp order by id", ["2"]),
    ("select id, sum(salary) over (order by id rows between $1 preceding and $2 following) "
     "from emp order by id", ["1", "2"]),
    ("select id, count(*) over (order by salary groups between $1 preceding and current row) "
     "from emp order by id", ["1"]),
    ("select id, count(*) over (order by salary range between $1::int preceding and current "
     "row) from emp order by id", ["50"]),
    ("select id, count(*) over (order by hired range between $1::interval preceding and "
     "current row) from emp order by id", ["3 days"]),
    ("select id, sum(salary) filter (where salary > $1) over (order by id) from emp "
     "order by id", ["100"]),
    ("select id, sum(salary + $1) over (partition by dept) from emp order by id", ["1"]),
    ("select id, sum(salary) over (order by id rows between $1 preceding and current row) "
     "from emp order by id", ["-1"]),
]


def _extended_reference(reference: Reference, sql: str, params: list[str]) -> tuple[Any, ...]:
    result = reference.connection.pgconn.exec_params(sql.encode(),
                                                     [p.encode() for p in params])
    if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
        def field(code: int) -> str | None:
            value = result.error_field(code)
            return value.decode() if value is not None else None
        position = field(psycopg.pq.DiagnosticField.STATEMENT_POSITION)
        return ("error", field(psycopg.pq.DiagnosticField.SQLSTATE),
                field(psycopg.pq.DiagnosticField.MESSAGE_PRIMARY),
                field(psycopg.pq.DiagnosticField.MESSAGE_HINT),
                int(position) if position else None)
    columns = [(result.fname(i).decode(), result.ftype(i)) for i in range(result.nfields)]
    rows = [tuple(None if result.get_value(r, i) is None
                  else bytes(result.get_value(r, i)).decode() for i in range(result.nfields))
            for r in range(result.ntuples)]
    return ("ok", columns, rows)


def _extended_ours(ours: Ours, sql: str, params: list[str]) -> tuple[Any, ...]:
    session = ours.session
    try:
        session.parse_message("", sql, [])
        session.bind("", "", [], [p.encode() for p in params], [])
        result, rows, _ = session.execute_portal("", 0)
    except MirrordbError as failure:
        session.on_error()
        session.sync()
        return ("error", failure.sqlstate, failure.message, failure.hint,
                getattr(failure, "position", None))
    session.sync()
    assert result.columns is not None
    columns = [(c.name, c.type_oid) for c in result.columns]
    text = [tuple(None if value is None else T.format_text(c.type_oid, value, timezone="UTC")
                  for value, c in zip(row, result.columns)) for row in rows]
    return ("ok", columns, text)


@pytest.mark.parametrize("sql, params", PARAMETERIZED)
def test_parameters_match_postgres(both: tuple[Reference, Ours], sql: str,
                                   params: list[str]) -> None:
    reference, ours = both
    assert _extended_ours(ours, sql, params) == _extended_reference(reference, sql, params)
