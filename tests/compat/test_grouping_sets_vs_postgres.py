"""Grouping sets, side by side with PostgreSQL 15: GROUP BY ROLLUP, CUBE, GROUPING SETS and
``()``, mixed with plain grouping columns and with each other (the cross product of their sets),
GROUP BY DISTINCT, the GROUPING() function, HAVING and ORDER BY over the sets, the NULLs of the
columns a set leaves out, functional dependencies (only on keys every set holds), PostgreSQL's
errors and limits, and views over such queries as pg_get_viewdef prints them. Every query with
more than one row sorts them completely."""

from __future__ import annotations

from differential import MARKS, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table s (a int, b text, c int, d numeric)",
    "insert into s values (1, 'x', 10, 1.5), (1, 'y', 20, 2.5), (2, 'x', 30, null), "
    "(2, null, 40, 4), (null, 'z', 50, 5)",
    "create table k (id int primary key, v int)",
    "insert into k values (1, 5), (2, 6)",
    "create table empty_s (a int, c int)",
]

both = pair_fixture("grouping_sets", SETUP)

RESULTS = [
    "select a, b, sum(c) from s group by rollup (a, b) order by 1, 2, 3",
    "select a, b, sum(c), grouping(a, b) from s group by cube (a, b) order by 1, 2, 4",
    "select a, b, count(*) from s group by grouping sets ((a), (a, b), ()) order by 1, 2, 3",
    "select a, b, sum(c) from s group by a, rollup (b) order by 1, 2, 3",
    "select a, b from s group by grouping sets (a, b) order by 1, 2",
    "select a, b, sum(c) from s group by rollup (a), cube (b) order by 1, 2, 3",
    "select a, b, sum(c) from s group by grouping sets (rollup (a, b), (b)) order by 1, 2, 3",
    "select a, b, count(*) from s group by grouping sets (a, b), grouping sets (a, ()) "
    "order by 1, 2, 3",
    "select a, b, count(*) from s group by rollup ((a, b), c) order by 1, 2, 3",
    "select b, count(*) from s group by rollup ((a, b)) order by 1, 2",
    "select a, count(*) from s group by rollup (a), rollup (a) order by 1, 2",
    "select a, count(*) from s group by distinct rollup (a), rollup (a) order by 1, 2",
    "select a, count(*) from s group by distinct a order by 1",
    "select count(*) from s group by (a, b)",
    "select sum(c) from s group by ()",
    "select sum(c) from s group by grouping sets (())",
    "select a, count(*) from s group by (), a order by 1",
    "select count(*) from s where false group by rollup (a)",
    "select count(*) from s where false group by grouping sets ((), ())",
    "select a, count(*) from empty_s group by cube (a)",
    "select a + 1, sum(c) from s group by rollup (a + 1) order by 1, 2",
    "select a as g, count(*) from s group by rollup (g) order by 1, 2",
    "select a, count(*) from s group by rollup (1) order by 1, 2",
    "select a, sum(d), avg(c), max(b), count(distinct b) from s group by rollup (a) "
    "order by 1, 2",
    "select b, string_agg(a::text, ',' order by a) from s group by rollup (b) order by 1, 2",
    "select * from (values (1)) v(x) group by rollup (x) order by 1",
    "with w as (select a, sum(c) s from s group by rollup (a)) select * from w order by 1, 2",
    # GROUPING
    "select grouping(a, b, a) from s group by rollup (a, b) order by 1",
    "select a, grouping(a) from s group by a order by 1",
    "select a, pg_typeof(grouping(a)) from s group by rollup (a) order by 1",
    "select grouping(a + 1) from s group by rollup (a + 1) order by 1",
    "select grouping(s.a) from s group by rollup (a) order by 1",
    "select grouping(a) from s group by rollup (s.a) order by 1",
    "select a, b, grouping(b, a) from s group by grouping sets ((a), (b)) order by 1, 2, 3",
    "select distinct grouping(a) from s group by rollup (a) order by 1",
    "select a from s group by rollup (a) order by grouping(a), a",
    "select a, rank() over (order by grouping(a)) from s group by rollup (a) order by 1, 2",
    "select a, generate_series(1, grouping(a) + 1) from s group by rollup (a) order by 1, 2",
    # HAVING
    "select a, sum(c) from s group by rollup (a) having grouping(a) = 1 or sum(c) > 30 "
    "order by 1, 2",
    "select a, b, count(*) from s group by grouping sets (a, (a, b), ()) having b is null "
    "order by 1, 2, 3",
    "select 1 from s group by grouping sets (a) having grouping(a) = 0 order by 1",
    "select a, count(*) from s group by cube (a) having a > 1 or a is null order by 1, 2",
    # functional dependencies hold on keys every set holds
    "select id, v from k group by id, rollup (v) order by 1, 2",
    "select k.*, count(*) from k group by grouping sets ((id)) order by 1",
]

ERRORS = [
    "select grouping(a) from s",
    "select a, grouping(c) from s group by rollup (a)",
    "select c, grouping(d) from s group by a",
    "select a from s group by rollup (a) order by grouping(b)",
    "select 1 from s having grouping(a) = 0",
    "select 1 from s where grouping(a) = 0",
    "select 1 from s join s s2 on grouping(s.a) = 0",
    "select count(*) from s group by grouping(a)",
    "select grouping(a) as g from s group by g",
    "select sum(grouping(a)) from s group by a",
    "select count(*) filter (where grouping(a) = 0) from s group by a",
    "select grouping(a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a) "
    "from s group by a",
    "select count(*) from s group by cube (a,a,a,a,a,a,a,a,a,a,a,a,a)",
    "select count(*) from s group by cube (a,a,a,a,a,a,a,a,a,a,a,a), cube (a,a)",
    "select a, b, c from s group by rollup (a, b)",
    "select id, v, grouping(id) from k group by rollup (id)",
]

VIEWS = [
    "create view vr as select a, b, sum(c) as total, grouping(a, b) as g from s "
    "group by rollup (a, b)",
    "select * from vr order by 1, 2, 3",
    "select pg_get_viewdef('vr'::regclass)",
    "select pg_get_viewdef('vr'::regclass, true)",
    "create view vc as select a, count(*) from s group by cube (a, b), grouping sets ((), (c)), ()",
    "select pg_get_viewdef('vc'::regclass)",
    "create view vd as select a, count(*) from s group by distinct rollup ((a, b), c), "
    "grouping sets (a, grouping sets (b, (c, d)), cube (a, (b, c)), ()), a + 1",
    "select pg_get_viewdef('vd'::regclass)",
    "create view ve as select count(*) from s group by ()",
    "select pg_get_viewdef('ve'::regclass)",
    "create view vf as select a, b from s group by 1, rollup (2)",
    "select pg_get_viewdef('vf'::regclass)",
]


def test_grouping_sets_results(both):
    assert_same(both, RESULTS)


def test_grouping_errors(both):
    assert_same(both, ERRORS)


def test_views_over_grouping_sets(both):
    assert_same(both, VIEWS)
