"""WITH RECURSIVE side by side with a real PostgreSQL 15 (sql/recursive.py).

Each statement runs on a throw-away PostgreSQL server and on a mirrordb Session over a fresh
cluster holding the same rows; they must agree on the result columns (names, type OIDs) and the
rows as text, in order, or on the error's SQLSTATE, message, hint and position. Also here: set
operations over untyped literals (``SELECT 1 UNION SELECT '2'``), which a recursive query's
terms resolve the same way.
"""

from __future__ import annotations

import pytest

from differential import MARKS, Ours, Reference, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table emp (id int primary key, boss int, name text)",
    "insert into emp values (1, null, 'ceo'), (2, 1, 'cto'), (3, 1, 'cfo'), (4, 2, 'dev'), "
    "(5, 4, 'intern'), (6, 3, 'clerk')",
    "create table edge (a int, b int)",
    "insert into edge values (1, 2), (2, 3), (3, 1), (3, 4)",
]

QUERIES = [
    # counting, sums, strings, arrays, numeric
    "with recursive t(n) as (select 1 union all select n+1 from t where n < 5) select * from t",
    "with recursive t(n) as (select 1 union select n+1 from t where n < 5) select sum(n) from t",
    ("with recursive t as (select 1 as n, 'a'::text as s union all "
     "select n+1, s || 'b' from t where n < 4) select * from t"),
    "with recursive t(n) as (values (1) union all select n+1 from t where n < 3) select * from t",
    ("with recursive t(s) as (select 'a' union all select s || 'a' from t where length(s) < 3) "
     "select * from t"),
    ("with recursive t(i, p) as (select 1, array[1] union all select i+1, p || (i+1) from t "
     "where i < 4) select i, p from t"),
    ("with recursive fib(a, b) as (select 0::numeric, 1::numeric union all "
     "select b, a + b from fib where a < 100) select a from fib"),
    "with recursive t(n) as (select 1::bigint union all select n+1 from t where n < 3) "
    "select * from t",
    # trees and graphs over tables
    ("with recursive chain as (select id, boss, name, 1 as depth from emp where id = 5 "
     "union all select e.id, e.boss, e.name, c.depth + 1 from emp e join chain c "
     "on e.id = c.boss) select name, depth from chain"),
    ("with recursive sub(id, name, path) as (select id, name, name from emp where boss is null "
     "union all select e.id, e.name, sub.path || '/' || e.name from emp e, sub "
     "where e.boss = sub.id) select path from sub order by path"),
    ("with recursive reach(n) as (select 1 union select b from edge join reach on a = n) "
     "select n from reach order by n"),
    ("with recursive walk(n, steps) as (select 1, 0 union all select b, steps + 1 "
     "from edge join walk on a = n where steps < 4) select n, steps from walk order by 2, 1"),
    # the union of duplicates, termination by UNION, LIMIT over an endless query
    "with recursive t(n) as (select 1 union select n from t) select * from t",
    "with recursive t(n) as (select 1 union all select n from t) select * from t limit 3",
    "with recursive t(n) as (select 1 union all select n+1 from t) select * from t limit 4",
    ("with recursive t(n) as (select 1 union all select 1 union select n + 1 from t "
     "where n < 3) select * from t"),
    # references: twice from outside, from a subquery, inside FROM subqueries, with other items
    ("with recursive t(n) as (select 1 union all select n+1 from t where n < 3) "
     "select * from t a, t b order by 1, 2"),
    ("with recursive t(n) as (select 1 union all select n+1 from t where n < 3) "
     "select count(*) from t where n in (select n from t)"),
    ("with recursive t(n) as (select 1 union all select n+1 from (select * from t) s "
     "where n < 3) select * from t"),
    ("with recursive r as (select 1 as x), t(n) as (select x from r union all "
     "select n+1 from t where n < 2) select * from t"),
    ("with recursive t(n) as (select m from u union all select n+1 from t where n < 3), "
     "u(m) as (select 10) select * from t"),
    ("with recursive a as (select * from b), b as (select 1 as x) select * from a"),
    ("with recursive t(n) as (select 1 union all select n+1 from t where n < 3) "
     "select (select max(n) from t)"),
    ("with recursive t(n) as (with s as (select 2) select * from s union all "
     "select n+1 from t where n < 4) select * from t"),
    # types
    "with recursive t(n) as (select 1 union all select n+1::bigint from t where n < 3) "
    "select * from t",
    "with recursive t(n) as (select 1 union all select '7' from t where n < 7) select * from t",
    "with recursive t(n) as (select 1 union all select 'x'::text from t) select * from t",
    "with recursive t(n) as (select 1.5 union all select n + 1 from t where n < 3) "
    "select * from t",
    "with recursive t(n) as (select null union all select n from t) select * from t limit 2",
    # refused shapes
    "with recursive t(n) as (select 1 from t union all select 2) select * from t",
    "with recursive t(n) as (select n from t) select * from t",
    "with recursive t(n) as (select 1 union all select n+1 from t, t t2 where n < 3) "
    "select * from t",
    ("with recursive t(n) as (select 1 union all select n+1 from t where n < "
     "(select max(n) from t)) select * from t"),
    ("with recursive t(n) as (select 1 union all select t.n+1 from (select 1 as x) s "
     "left join t on true where n < 3) select * from t"),
    ("with recursive t(n) as (select 1 union all select t.n+1 from t full join "
     "(select 1 as x) s on true where n < 3) select * from t"),
    ("with recursive t(n) as (select 1 union all (select 5 except all select n from t)) "
     "select * from t"),
    ("with recursive t(n) as (select 1 union all (select n+1 from t where n < 3 "
     "intersect all select 2)) select * from t"),
    ("with recursive t(n) as (select 1 union all (select n+1 from t where n < 3 "
     "except select 2)) select * from t"),
    "with recursive t(n) as (select 1 union all select n+1 from t where n < 3 order by 1) "
    "select * from t",
    "with recursive t(n) as (select 1 union all select n+1 from t where n < 3 limit 2) "
    "select * from t",
    "with recursive t(n) as (select 1 union all select n+1 from t where n < 3 offset 1) "
    "select * from t",
    "with recursive t(n) as (select 1 union all select count(*) from t) select * from t",
    "with recursive t(n) as (select 1 intersect select n from t) select * from t",
    "with recursive a as (select * from b), b as (select * from a) select * from a",
    "with recursive t(n, m) as (select 1 union all select n+1 from t where n < 3) "
    "select * from t",
    "with recursive t(n) as (select 1, 2 union all select n+1 from t where n < 3) "
    "select * from t",
    "with recursive t(n) as (select 1 union all select n+1, 2 from t where n < 3) "
    "select * from t",
    # WITH without RECURSIVE: forward and self references are relations, not WITH items
    "with a as (select * from b), b as (select 1 as x) select * from a",
    "with a as (select * from a) select * from a",
    "with a as (select 1 as x), b as (select x + 1 as y from a) select * from b",
    # set operations over untyped literals
    "select 1 union all select '2'",
    "select 'x' union select 'y' order by 1",
    "select '1' union all select 2.5",
    "select 1, 'a' union select 2, 'b' order by 1",
    "select * from (select 'a' as c union all select 'b') s where c > 'a'",
    "select 1 intersect select '1'",
    "select null union select 1 order by 1",
    "select 1 union select 2, 3",
    "select 1 union select 'a'::text",
    "select 1, 2 except select 1, 'a'::text",
    "select 'x' union all select 'y' union all select 1",
]


# A literal that does not convert fails alike, without a position here: mirrordb converts a
# set operation's untyped literals when the rows flow, PostgreSQL while it plans (it points at
# the literal). The same holds wherever mirrordb converts such literals (VALUES, SET).
WITHOUT_POSITION = [
    "with recursive t(n) as (select 1 union all select 'x' from t) select * from t",
    "select 1 union all select 'x'",
]


both = pair_fixture("recursive", SETUP)


@pytest.mark.parametrize("query", QUERIES)
def test_query_matches_postgres(both: tuple[Reference, Ours], query: str) -> None:
    reference, ours = both
    assert ours.run(query) == reference.run(query)


@pytest.mark.parametrize("query", WITHOUT_POSITION)
def test_unconvertible_literal_fails_as_in_postgres(both: tuple[Reference, Ours],
                                                    query: str) -> None:
    reference, ours = both
    expected = reference.run(query)
    assert expected[0] == "error" and expected[4] is not None
    assert ours.run(query) == (*expected[:4], None)
