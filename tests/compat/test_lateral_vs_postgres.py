"""LATERAL, side by side with PostgreSQL 15: subqueries and functions in FROM that read the
FROM items before them (comma lists, the left side of an inner or left join, several levels,
inside subqueries), LEFT JOIN LATERAL ... ON, USING and NATURAL over a lateral side,
set-returning functions over earlier items with and without WITH ORDINALITY, correlated
subqueries in FROM that read an enclosing query, views over them as pg_get_viewdef prints
them, and PostgreSQL's errors (with their DETAIL and HINT) for references a FROM item may not
make."""

from __future__ import annotations

from differential import MARKS, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table t (k int, n int)",
    "create table u (k int, v text)",
    "create table w (id int primary key, k int)",
    "insert into t values (1, 2), (2, 3), (3, 0), (4, 1)",
    "insert into u values (1, 'a'), (1, 'b'), (2, 'c'), (5, 'z')",
    "insert into w values (1, 1), (2, 2), (3, 9)",
]


# detailed: the errors' DETAIL is compared too
both = pair_fixture("lateral", SETUP, detailed=True)


SUBQUERIES = [
    "select t.k, x.v from t, lateral (select v from u where u.k = t.k) x order by 1, 2",
    "select t.k, x.v from t left join lateral (select v from u where u.k = t.k) x on true "
    "order by 1, 2",
    "select t.k, x.c from t, lateral (select count(*) c from u where u.k = t.k) x order by 1",
    "select * from t join lateral (select v from u where u.k = t.k limit 1) x on x.v <> 'q' "
    "order by 1",
    "select t.k, x.* from t cross join lateral (select u.v, t.n from u where u.k <= t.k "
    "order by u.v desc limit 2) x order by 1, 2",
    "select t.k, x.m from t, lateral (select max(u.v) m from u where u.k < t.k group by u.k "
    "having count(*) > 0 order by 1 limit 1) x order by 1",
    "select * from t a, lateral (select * from t b where b.k = a.k + 1) x order by 1",
    "select a.k, x from t a, lateral (select a.k + 1) as x(x) order by 1",
    "select count(*) from t, lateral (select t.k) x where x.k > 1",
    "select t.k, x.v from t, lateral (select v from u where u.k = t.k union all select 'none' "
    "where not exists (select 1 from u where u.k = t.k)) x order by 1, 2",
    "select * from t, lateral (select t.k) x, lateral (select x.k + t.n) y order by 1",
    "select t.k, y.s from t, lateral (select t.n * 10 as s) y, lateral (select y.s + 1) z "
    "order by 1",
    "select * from t join lateral (select t.k) x on true join u on u.k = x.k order by 1, u.v",
    "select * from t join u on u.k = t.k, lateral (select t.n + u.k as s) x order by 1, 4",
    "select * from t, u join lateral (select t.k + u.k as s) x on true order by 1, 3, 4",
    "select * from t, lateral (select t.k) x right join u on true order by 1, 3, 4, 5",
    "select * from t left join lateral (select t.k as kk) x on true right join u on true "
    "order by 1, 4, 5",
    "select x.* from t, lateral (select t.*) x order by 1",
    "select * from t, lateral (select * from w where w.id = t.k) x order by 1",
    "select * from t, lateral (select t.k union select t.n) x(y) order by 1, 3",
    "select * from t, lateral (values (t.k), (t.n * 100)) v(x) order by 1, 3",
    "select * from t left join lateral (select v from u where u.k = t.k) x on x.v = 'b' "
    "order by 1",
    "select * from t join lateral (select v, k from u) x using (k) order by 1, 3",
    "select * from t left join lateral (select v, k from u where u.k <= t.k) x using (k) "
    "order by 1, 3",
    "select * from t natural join lateral (select k, t.n from u) x order by 1",
    "with c as (select k from t where k < 3) select * from c, lateral (select c.k * 2 as d) x "
    "order by 1",
    "select t.k, x.a from t, lateral (select (select t.n + 1) as a) x order by 1",
    "select * from lateral (select 1) x",
    "select * from t, lateral (select t.k limit 0) x",
    "select * from t join u on true, lateral (select t.k) x order by 1, 4",
]

IN_SUBQUERIES = [
    "select k, (select x.c from lateral (select t.n + 1 as c) x) from t order by 1",
    "select t.k, (select string_agg(x.v, ',' order by x.v) from lateral "
    "(select v from u where u.k = t.k) x) from t order by 1",
    "select t.k, (select count(*) from t t2, lateral (select t2.k + t.k as s) y "
    "where y.s > 4) from t order by 1",
    "select t.k from t where exists (select 1 from u, lateral (select u.k + t.k as s) x "
    "where x.s = 3) order by 1",
    # a subquery in FROM that reads the enclosing query (no LATERAL needed)
    "select k, (select s.v from (select t.n * 10 as v) s) from t order by 1",
    "select t.k, (select count(*) from (select t.n) s) from t order by 1",
    "select t.k, (select count(*) from u, (select t.n as m) s where s.m > u.k) from t "
    "order by 1",
    # a sublink inside a sublink reads the outermost row (each is evaluated per row)
    "select k, (select (select t.n + 100)) from t order by 1",
]

FUNCTIONS = [
    "select t.k, g from t, generate_series(1, t.n) g order by 1, 2",
    "select t.k, g from t, lateral generate_series(1, t.n) g where g > 1 order by 1, 2",
    "select t.k, g from t left join generate_series(1, t.n) g on true order by 1, 2",
    "select t.k, e from t, unnest(array[t.k, t.n, null]) e order by 1, 2",
    "select t.k, z from t, lateral (select t.n * 10 as s) y, "
    "lateral generate_series(y.s, y.s + 1) z order by 1, 2",
    "select * from t, lateral (select g from generate_series(1, t.n) g where g < t.k) x "
    "order by 1, 3",
    "select t.k, g from t, generate_series(t.n, t.k) g order by 1, 2",
    "select sum(g) from t, generate_series(1, t.k) g",
    "select t.k, count(g) from t left join generate_series(1, t.n) g on true group by t.k "
    "order by 1",
    "select (select sum(g) from generate_series(1, t.n) g) from t order by 1",
    "select * from lateral generate_series(1, 2) g",
    "select t.k, e, o from t, unnest(array[t.k, t.n, null]) with ordinality as z(e, o) "
    "order by 1, 2",
    "select * from generate_series(5, 7) with ordinality",
    "select * from generate_series(5, 7) with ordinality g",
    "select * from generate_series(5, 6) with ordinality g(a)",
    "select * from unnest(array['a', 'b']) with ordinality",
    "select z.* from t, unnest(array[t.k]) with ordinality z order by 1",
]

ERRORS = [
    "select * from t full join lateral (select t.k) x on true",
    "select * from t right join lateral (select t.k as kk) x on true",
    "select * from t full join generate_series(1, t.n) g on true",
    "select t.k, x.v from t, (select v from u where u.k = t.k) x",
    "select * from t, (select n) x",
    "select * from t, (select t.nope) x",
    "select * from t, u join (select t.k) x on true",
    "select * from t, u join u u2 on u2.k = t.k",
    "select * from (select t.k) x, t",
    "select * from t, lateral (select nope) x",
]

VIEWS = [
    "create view lv as select t.k, x.v from t cross join lateral "
    "(select v from u where u.k = t.k) x",
    "select * from lv order by 1, 2",
    "select pg_get_viewdef('lv'::regclass)",
    "create view lv2 as select t.k, x.v from t, lateral (select v from u where u.k = t.k) x",
    "select pg_get_viewdef('lv2'::regclass)",
    "create view lv3 as select t.k, g from t, generate_series(1, t.n) g",
    "select pg_get_viewdef('lv3'::regclass)",
    "select * from lv3 order by 1, 2",
    "create view lv4 as select * from generate_series(1, 3)",
    "select pg_get_viewdef('lv4'::regclass)",
    "create view lv5 as select s.x from t, lateral generate_series(t.k, 2) as s(x)",
    "select pg_get_viewdef('lv5'::regclass)",
]


def test_lateral_subqueries(both):
    assert_same(both, SUBQUERIES)


def test_lateral_inside_subqueries(both):
    assert_same(both, IN_SUBQUERIES)


def test_functions_over_earlier_items(both):
    assert_same(both, FUNCTIONS)


def test_references_refused(both):
    assert_same(both, ERRORS)


def test_views_over_lateral(both):
    assert_same(both, VIEWS)
