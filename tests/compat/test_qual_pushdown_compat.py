"""Where WHERE and ON conditions run, side by side with PostgreSQL 15: a condition naming only
one FROM item is applied to that item's rows before a LATERAL function or subquery runs for
them, and before they are joined, as PostgreSQL's planner pushes quals down. Every query here
has an answer that depends on it: run late, the filter would let a function see (and fail on)
a row the condition excludes. Conditions naming the nullable side of an outer join, and a LEFT
JOIN's ON conditions on its preserved side, must not be pushed (rows would change): those
queries are here too."""

from __future__ import annotations

from differential import MARKS, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table t (id int primary key, kind text, s text)",
    "insert into t values (1, 'json', '{\"a\": 1, \"b\": 2}'), (2, 'text', ''), "
    "(3, 'json', '{\"c\": 3}'), (4, 'num', '')",
    "create table u (id int, n text)",
    "insert into u values (1, '10'), (2, 'ten'), (3, '30'), (4, '40')",
    "create table plain (id int, s text)",   # no index: a sequential scan with a filter
    "insert into plain select id, s from t",
]

both = pair_fixture("qual_pushdown", SETUP, detailed=True)

LATERAL_FUNCTIONS = [
    # the query: json_each only for the row WHERE keeps
    "select * from t cross join lateral json_each(t.s::json) where t.id = 1 order by key",
    "select t.id, j.key from t cross join lateral json_each(t.s::json) j where t.kind = 'json' "
    "order by 1, 2",
    "select t.id, j.key from t join lateral json_each(t.s::json) j on true where t.kind = 'json' "
    "order by 1, 2",
    "select t.id, j.key from t join lateral json_each(t.s::json) j on t.kind = 'json' "
    "order by 1, 2",
    "select p.id, j.key from plain p cross join lateral json_object_keys(p.s::json) j(key) "
    "where p.s like '{%' order by 1, 2",
    "select p.id, j.key from plain p, lateral json_each(p.s::json) j where p.id in (1, 3) "
    "order by 1, 2",
    "select s.id, j.key from (select * from t) s cross join lateral json_each(s.s::json) j "
    "where s.kind = 'json' order by 1, 2",
    "select s.id, j.key from (select * from t) s, lateral json_each(s.s::json) j "
    "where s.kind = 'json' order by 1, 2",
    "select t.id, x.v from t cross join lateral (select t.s::json -> 'a' as v) x "
    "where t.id = 1",
    # through a nested join: the condition reaches t below two joins
    "select t.id, u.n, j.key from t join u on u.id = t.id "
    "cross join lateral json_each(t.s::json) j "
    "where t.kind = 'json' order by 1, 3",
    "select t.id, j.key from t left join u on u.id = t.id "
    "cross join lateral json_each(t.s::json) j "
    "where t.kind = 'json' order by 1, 2",
    # the condition is on the lateral side's own output: fine either way
    "select t.id, j.key from t cross join lateral json_each(t.s::json) j where t.id = 1 "
    "and j.key = 'b'",
    # conditions naming no column gate the whole join: nothing runs
    "select * from t cross join lateral json_each(t.s::json) where false",
    "select count(*) from t cross join lateral json_each(t.s::json) where 1 = 2",
    "select t.id, j.key from t left join lateral json_each(t.s::json) j on 1 = 0 "
    "where t.id < 3 order by 1",
    "select t.id, j.key from t join lateral json_each(t.s::json) j on false order by 1",
    # not pushed: the filter names both sides, so json_each fails on row 2
    "select t.id, j.key from t cross join lateral json_each(t.s::json) j where t.id + 0 = "
    "length(j.key) order by 1",
]

INNER_JOINS = [
    # a WHERE on one side of an inner join runs on that side before the join condition
    "select t.id, u.n from t join u on u.n::int > t.id where u.n <> 'ten' order by 1, 2",
    "select t.id, u.n from u join t on t.id < u.n::int where u.n <> 'ten' order by 1, 2",
    "select t.id, u.n from t join u on u.n::int > t.id and u.n <> 'ten' order by 1, 2",
    "select t.id, u.n from t join u on u.id = t.id and u.n <> 'ten' where u.n::int > 0 "
    "order by 1",
    "select t.id from t, u where u.id = t.id and u.n <> 'ten' and u.n::int > 5 order by 1",
    "select t.id from t join u on u.id = t.id and u.n <> 'ten' where u.n::int > 5 order by 1",
    "select count(*) from t join (select * from u) s on s.n::int > t.id where s.n <> 'ten'",
]

OUTER_JOINS = [
    # the nullable side of an outer join keeps its WHERE above the join
    "select t.id, u.n from t left join u on u.id = t.id and u.n <> 'ten' "
    "where u.n is null order by 1",
    "select t.id, u.n from u right join t on u.id = t.id and u.n <> 'ten' "
    "where u.n is null order by 1",
    "select t.id, u.n from t full join u on u.id = t.id and u.n <> 'ten' "
    "where t.kind = 'json' order by 1",
    # a LEFT JOIN's ON condition on its preserved side only decides matches
    "select t.id, u.n from t left join u on u.id = t.id and t.kind = 'json' order by 1",
    # ... and one on its nullable side filters that side first
    "select t.id, u.n from t left join u on u.id = t.id and u.n <> 'ten' and u.n::int > 5 "
    "order by 1",
    "select t.id, j.key from t left join lateral json_each(t.s::json) j on true "
    "where t.kind = 'json' order by 1, 2",
    # USING: the merged column is compared above the join
    "select id, n from t join u using (id) where id < 3 and kind <> 'num' order by 1",
]

ERRORS = [
    # PostgreSQL errors too: the rows the filter drops are not the failing ones
    "select * from t cross join lateral json_each(t.s::json) where t.id = 2",
    "select * from t cross join lateral json_each(t.s::json)",
    "select t.id from t join u on u.id = t.id where u.n::int > 5",
]


def test_lateral_functions_see_only_filtered_rows(both):
    assert_same(both, LATERAL_FUNCTIONS)


def test_inner_join_sides_filtered_first(both):
    assert_same(both, INNER_JOINS)


def test_outer_joins_keep_their_rows(both):
    assert_same(both, OUTER_JOINS)


def test_errors_that_postgres_also_raises(both):
    assert_same(both, ERRORS)
