"""Ordered-set aggregates, side by side with PostgreSQL 15: percentile_cont (float8 and interval),
percentile_disc (any ordered type) of one fraction or an array of them, and mode(), each
``WITHIN GROUP (ORDER BY ...)``: result types, interpolation, the ORDER BY's direction, NULL
rows and NULL fractions, empty groups, FILTER, grouping sets, direct arguments per group,
PostgreSQL's errors (fractions out of range, no such signature, OVER, nesting, WITHIN GROUP on
an ordinary aggregate) and views over them as pg_get_viewdef prints them."""

from __future__ import annotations

from differential import MARKS, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table m (g int, x float8, i interval, n numeric, t text, k int, d date)",
    "insert into m values (1, 1.5, '1 day', 1.5, 'a', 1, '2020-01-01'), "
    "(1, 2.5, '3 days', 2.5, 'b', 2, '2021-05-05'), (1, null, null, null, null, null, null), "
    "(2, 10, '1 hour', 10, 'c', 3, '2019-02-03'), (1, 4, '10 days', 4, 'b', 4, '2020-01-01'), "
    "(3, 'NaN', '1 mon 2 days', 7, 'b', 7, '2022-02-02')",
]

both = pair_fixture("ordered_set_aggregates", SETUP)

RESULTS = [
    "select percentile_cont(0.5) within group (order by x) from m where g < 3",
    "select g, percentile_cont(0.25) within group (order by x), "
    "percentile_disc(0.25) within group (order by x) from m group by g order by g",
    "select percentile_cont(0.5) within group (order by i) from m",
    "select percentile_cont(0.3) within group (order by n), "
    "percentile_cont(0.3) within group (order by k) from m",
    "select percentile_cont(0.123456789) within group (order by x), "
    "percentile_cont(0.123456789) within group (order by i) from m where g < 3",
    "select percentile_cont(1) within group (order by x), "
    "percentile_disc(0) within group (order by x) from m where g < 3",
    "select percentile_disc(0.5) within group (order by t), "
    "percentile_disc(0.5) within group (order by n) from m",
    "select percentile_cont(0.5) within group (order by x desc) from m where g < 3",
    "select percentile_disc(0.5) within group (order by x desc nulls first) from m",
    "select percentile_disc(0.9) within group (order by k desc) from m",
    "select percentile_cont('0.5') within group (order by x) from m where g < 3",
    "select percentile_cont(0.5) within group (order by k::numeric) from m",
    "select pg_typeof(percentile_disc(0.5) within group (order by k)), "
    "pg_typeof(mode() within group (order by n)) from m",
    # arrays of fractions
    "select percentile_cont(array[0.25, 0.5, null, 1]) within group (order by x) from m "
    "where g < 3",
    "select g, percentile_cont(array[0, 0.1, 0.5, 0.9, 1]) within group (order by x) from m "
    "group by g order by g",
    "select g, percentile_disc(array[0, 0.1, 0.5, 0.9, 1]) within group (order by d) from m "
    "group by g order by g",
    "select percentile_disc(array[0.25, 0.5]) within group (order by t) from m",
    "select percentile_cont(array[0.1, 0.9]) within group (order by i), "
    "percentile_cont(0.77) within group (order by i) from m",
    "select percentile_cont(null::float8[]) within group (order by x) from m",
    "select percentile_cont(array[0.5]) within group (order by x) from m where false",
    "select percentile_cont(array[5]) within group (order by x) from m where false",
    # mode
    "select mode() within group (order by t), mode() within group (order by k) from m",
    "select mode() within group (order by t desc) from m",
    "select mode() within group (order by d), mode() within group (order by d desc), "
    "mode() within group (order by g) from m",
    "select g, mode() within group (order by t) from m group by g order by 1",
    # NULLs, empty groups, FILTER, grouping, direct arguments per group
    "select percentile_disc(null) within group (order by x) from m",
    "select percentile_cont(0.5) within group (order by x) from m where false",
    "select mode() within group (order by x) filter (where g = 1) from m",
    "select percentile_cont(0.5) within group (order by x) filter (where x < 100) from m",
    "select g, percentile_cont(g / 10.0) within group (order by x) from m where g < 3 "
    "group by g order by 1",
    "select percentile_cont((select 0.5)) within group (order by x) from m where g < 3",
    "select g, percentile_disc(0.5) within group (order by k), count(*) from m "
    "group by rollup (g) order by 1",
    "select g, percentile_cont(0.5) within group (order by x) from m group by g "
    "having percentile_cont(0.5) within group (order by x) > 2 order by 1",
    "select percentile_cont(0.1) within group (order by x) as p, g from m group by g order by p",
    "select sum(k), percentile_cont(0.5) within group (order by k) from m",
]

ERRORS = [
    "select percentile_cont(1.5) within group (order by x) from m",
    "select percentile_cont(-0.5) within group (order by x) from m where false",
    "select percentile_cont(array[0.5, 2]) within group (order by x) from m",
    "select percentile_cont('NaN') within group (order by x) from m",
    "select percentile_cont('Infinity') within group (order by x) from m",
    "select percentile_cont(0.5) within group (order by t) from m",
    "select percentile_cont(0.5) within group (order by x, k) from m",
    "select percentile_cont(0.5) from m",
    "select mode(x) within group (order by x) from m",
    "select percentile_disc(0.5) within group (order by 'x') from m",
    "select sum(x) within group (order by x) from m",
    "select count(*) within group (order by x) from m",
    "select lower('a') within group (order by x) from m",
    "select percentile_cont(0.5) within group (order by x) over () from m",
    "select percentile_cont(x) within group (order by x) from m",
    "select percentile_cont(0.5) within group (order by x) from m "
    "where percentile_cont(0.5) within group (order by x) > 1",
    "select percentile_cont(0.5) within group (order by x) from m "
    "group by percentile_cont(0.5) within group (order by x)",
    "select percentile_cont(0.5) within group "
    "(order by percentile_cont(0.5) within group (order by x)) from m",
    "select percentile_cont(sum(k)) within group (order by x) from m",
    "select sum(sum(k)) from m",
    "select count(*) from m group by sum(k)",
]

VIEWS = [
    "create view vp as select percentile_cont(0.5) within group (order by x) as p, "
    "mode() within group (order by t desc) as mo, "
    "percentile_disc(array[0.1, 0.2]) within group (order by k) from m",
    "select pg_get_viewdef('vp'::regclass)",
    "select * from vp",
]


def test_ordered_set_aggregate_results(both):
    assert_same(both, RESULTS)


def test_ordered_set_aggregate_errors(both):
    assert_same(both, ERRORS)


def test_views_over_ordered_set_aggregates(both):
    assert_same(both, VIEWS)
