"""Set-returning functions in the select list, side by side with a real PostgreSQL 15.

Each statement runs on a throw-away PostgreSQL server (tests/compat/types_pg_server.py) and on
a mirrordb Session over a fresh cluster, both holding the same rows. They must agree on the
result columns (names and type OIDs, as RowDescription gives them) and the rows as text, in
order; or on the error's SQLSTATE, message, hint and position.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from session_pair import COMPAT_MARKS, Ours, Reference, ok, session_pair

pytestmark = COMPAT_MARKS

SETUP = [
    "set timezone = 'UTC'",
    "create table t (a int, b text)",
    "insert into t values (1, 'x'), (2, 'y'), (3, null)",
    "create table few (id int, dataa text, datab text)",
    "insert into few values (1, 'a', 'foo'), (2, 'a', 'bar'), (3, 'b', 'bar')",
    "create table e (a int)",
]

VALUES = "(values (3, 2), (3, 1), (1, 1), (1, 4), (5, 3), (5, 1)) as v(a, b)"

QUERIES = [
    # plain calls, their names and types
    "select generate_series(1,3)", "select unnest(array[1,2])",
    "select generate_series(1,3) as g, 'k'", "select generate_series(1,3) as \"x y\"",
    "select pg_catalog.generate_series(1,2)", "select (generate_series(1,2))",
    "select generate_series(1::int8, 3)", "select generate_series(1.5, 3)",
    "select generate_series(1, 10, 3)", "select generate_series(1, 2, 0.5)",
    "select generate_series(1.0, 2, 0.5)", "select generate_series(1, 3, 0)",
    "select generate_series('2024-01-01'::timestamp, '2024-01-03', '1 day')",
    "select generate_series('2024-01-01'::timestamptz, '2024-01-03', '1 day')",
    "select generate_series('2024-01-01'::date, '2024-01-03', '1 day')",
    "select generate_series('2024-01-01'::timestamp, '2024-01-03')",
    "select generate_series(1)", "select unnest(array[1], array[2])", "select unnest(1)",
    "select unnest(array[1,null,3])", "select unnest(array['2024-01-01'::date])",
    "select unnest(array[1.5, 2])",
    # lockstep, padding, no rows
    "select generate_series(1,3), generate_series(1,5)",
    "select generate_series(1,3), unnest(array['a','b'])",
    "select generate_series(1,3), generate_series(1,0)", "select generate_series(1,0)",
    "select generate_series(1, null)", "select generate_series(1, 3), generate_series(1, null)",
    "select unnest(null::int[])", "select unnest(array[]::int[]), 1",
    "select generate_series(1,2) x, generate_series(1,2) y",
    # inside expressions, nested
    "select generate_series(1,3) * 2", "select generate_series(1,2) + generate_series(1,3)",
    "select -generate_series(1,2)", "select generate_series(1,2)::text",
    "select cast(generate_series(1,2) as text) as c", "select generate_series(1,2)::int8",
    "select generate_series(1,2) is null", "select upper(unnest(array['a','b']))",
    "select length(unnest(array['a','bb']))", "select array[generate_series(1,2), 5]",
    "select (array[1,2,3])[generate_series(1,2)]", "select 'x' || unnest(array['a','b']) as s",
    "select abs(generate_series(-2,2)) order by 1", "select nullif(generate_series(1,3), 2)",
    "select greatest(generate_series(1,3), 2)",
    "select greatest(1, least(2, generate_series(1,3)))",
    "select generate_series(1,3) = any(array[1,2])", "select generate_series(1,2) in (1,3)",
    "select 1 in (generate_series(1,2), 5)", "select (generate_series(1,2) > 1) = true",
    "select generate_series(1,2) is distinct from 1",
    "select (case when true then 1 end) + generate_series(1,2)",
    "select lower(case when true then 'A' end || unnest(array['B','C']))",
    "select generate_series(1, generate_series(1,3))",
    "select generate_series(generate_series(1,2), 3), generate_series(1,2)",
    "select generate_series(generate_series(1,3), generate_series(2, 4))",
    "select generate_series(1, generate_series(1, generate_series(1,2)))",
    # with FROM, WHERE, ORDER BY, LIMIT, DISTINCT, subqueries
    "select a, generate_series(1,a) from t", "select a, generate_series(a, 2) from t",
    "select a, generate_series(1,3) from t where a > 1", "select generate_series(1,3) from e",
    "select generate_series(1,2) where false", "select generate_series(1,2) from t where false",
    "select generate_series(1,5) order by 1 desc",
    "select generate_series(1,5) g order by g desc limit 2",
    "select generate_series(1,3) limit 2", "select generate_series(1,3) offset 1",
    "select generate_series(1,3) limit 0", "select generate_series(1,2) from t order by a limit 3",
    "select distinct unnest(array[1,1,2,3,3]) order by 1",
    "select distinct generate_series(1,2) from t order by 1",
    "select a from t order by generate_series(1,2), a",
    "select a, generate_series(1,a) g from t order by g, a",
    "select generate_series(1,3) g from t order by g limit 4",
    "select generate_series(1,2), * from t order by a, 1",
    "select generate_series(1,3) from generate_series(1,2)",
    "select x, generate_series(1,x) from generate_series(1,3) x",
    "select t.a, generate_series(1, t2.a) from t join t t2 on t.a = t2.a order by 1, 2",
    "select (select generate_series(1,3) limit 1)", "select array(select generate_series(1,3))",
    "select exists(select generate_series(1,3))",
    "select (select generate_series(1, t.a) limit 1 offset 1) from t order by a",
    "select a from t where a in (select generate_series(1,2)) order by a",
    "select 1 from t where exists (select generate_series(1, t.a) offset 2)",
    "select * from (select generate_series(1,3) g) s where g > 1",
    "with w as (select unnest(array['p','q']) u) select * from w",
    "select generate_series(1,2) union all select generate_series(5,6)",
    "select generate_series(1,3) union select generate_series(2,4) order by 1",
    "select case when true then (select generate_series(1,2) limit 1) end",
    "select coalesce((select generate_series(1,2) limit 1), 0)",
    "select count(*) from (select generate_series(1,1000)) s",
    "select (select generate_series(1,3) limit 1 offset g.i) from generate_series(0,3) g(i)",
    f"select distinct on (a) a, b, generate_series(1,3) g from {VALUES} order by a, b desc",
    (f"select distinct on (a) a, b, generate_series(1,3) g from {VALUES} "
     "order by a, b desc, g desc"),
    f"select distinct on (a) a, b, generate_series(1,3) g from {VALUES} order by a",
    f"select distinct on (g) a, b, generate_series(1,3) g from {VALUES} order by g, a, b",
    "select distinct on (a) a, generate_series(1,2) from t order by a, 2 desc",
    "select a, generate_series(1,2) from (values(1),(2),(3)) r(a) limit 2 offset 2",
    "select t.id, generate_series(1,3) g from (values (1),(2),(3)) t(id) order by id desc",
    "select t.id from (values (1),(2),(3)) t(id) order by id, generate_series(1,3) desc",
    # grouping and aggregates
    "select generate_series(1, count(*)) from t", "select count(*), generate_series(1,2) from t",
    "select max(a), generate_series(1, max(a)) from t",
    "select generate_series(1,2) + sum(a) from t",
    "select a, generate_series(1,2) from t group by a order by 1,2",
    "select generate_series(1, a) from t group by a order by 1",
    "select generate_series(1, a), count(*) from t group by a order by 1, 2",
    "select a from t group by generate_series(1,2), a order by 1",
    "select generate_series(1,2) from t group by 1 order by 1",
    "select unnest(array[1,2]) u, count(*) from t group by u order by u",
    "select generate_series(1,2) + 1 from t group by generate_series(1,2) order by 1",
    "select generate_series(1,2), count(*) from t group by 1 having count(*) > 0 order by 1",
    "select count(*) from t group by generate_series(1,2) having count(*) > 0",
    "select count(*) from t order by generate_series(1,2)",
    "select a from t group by a order by generate_series(1, a), a",
    "select unnest(array[1,2]) from t where a = 1 group by a",
    ("select few.dataa, count(*), min(id), max(id), unnest('{1,1,3}'::int[]) from few "
     "where few.id = 1 group by few.dataa"),
    ("select few.dataa, count(*), min(id), max(id), unnest('{1,1,3}'::int[]) from few "
     "where few.id = 1 group by few.dataa, unnest('{1,1,3}'::int[]) order by 5"),
    "select dataa, generate_series(1,1), count(*) from few group by 1 having count(*) > 1",
    ("select few.dataa, count(*) from few where dataa = 'a' "
     "group by few.dataa, unnest('{1,1,3}'::int[]) order by 2"),
    ("select few.dataa, count(*), min(id), max(id), generate_series(1,3) from few "
     "group by few.dataa order by 5, 1"),
    # refused
    "select generate_series(1,3) from t where generate_series(1,3) > 1",
    "select 1 where generate_series(1, generate_series(1,2)) > 0",
    "select 1 where generate_series(1,2) = generate_series(3,4)",
    "select 1 from t where (generate_series(1,2)) in (select 1)",
    "select count(*) from t having generate_series(1,2) > 0",
    "select count(*) filter (where generate_series(1,2) > 0) from t",
    "select generate_series(1,3) limit generate_series(1,2)",
    "select 1 offset generate_series(1,2)", "values (generate_series(1,2))",
    "select * from t join t t2 on generate_series(1,2) = t.a",
    "select * from generate_series(1, generate_series(1,2))",
    "select * from generate_series(generate_series(1,2), generate_series(1,3))",
    "select count(generate_series(1,3)) from t", "select sum(unnest(array[1,2]))",
    "select count(1 + generate_series(1,3)) from t",
    "select count(generate_series(1, generate_series(1,2))) from t",
    "select count(generate_series(1,2) + generate_series(3,5)) from t",
    "select case when true then count(generate_series(1,2)) end from t",
    "select case when true then generate_series(1,3) else 0 end",
    "select case when true then 1 + generate_series(1,3) end",
    "select case when true then generate_series(1,3) + generate_series(5,6) end",
    "select case when true then generate_series(1, generate_series(1,2)) end",
    "select case generate_series(1,2) when 1 then 'a' end",
    "select coalesce(generate_series(1,3), 0)", "select coalesce(1, 1 + generate_series(1,3))",
    "select coalesce(case when true then generate_series(1,2) end)",
    "select case when true then coalesce(generate_series(1,2)) end",
    "select case when generate_series(1,2) = 1 then 'a' end",
    "select case 1 when generate_series(1,2) then 'a' end",
    "select case when true then 'x' when generate_series(1,2) = 1 then 'a' end",
    "select not (generate_series(1,2) > 1)", "select not generate_series(1,2) = 1",
    "select generate_series(1,2) > 1 and true", "select true and (generate_series(1,2) > 1)",
    "select generate_series(1,2) > 1 or true",
    "select exists (select 1) and generate_series(1,2) > 0",
    "select not exists (select 1) = (generate_series(1,2) > 0)",
    "select generate_series(1,3) between 1 and 2", "select 1 between generate_series(1,2) and 5",
    "select generate_series(1,3) not between 1 and 2",
    "select generate_series(1,2) between symmetric 1 and 5",
    "select generate_series(1,2) is not true", "select (generate_series(1,2) > 1) is unknown",
    "select (generate_series(1,2) > 1) is true", "select generate_series(1,2) in (1)",
    "select 1 in (generate_series(1,2))", "select generate_series(1,2) in (1, a) from t",
    "select generate_series(1,2) = any (select 1)", "select generate_series(1,3) in (select 1)",
    "select generate_series(1, 3) in (1, 2), generate_series(1,3) in (select 1 where false)",
    "select 1 order by generate_series(1,2) > 1 or true",
    "select unnest(array[1,2]) from t for update", "select generate_series(1,2) from t for share",
    "select generate_series(1,2) as x, x from t",
]


@pytest.fixture(scope="module")
def both(template_cluster: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Reference, Ours]]:
    with session_pair(template_cluster, str(tmp_path_factory.mktemp("srf")), SETUP) as pair:
        yield pair


@pytest.mark.parametrize("query", QUERIES)
def test_query_matches_postgres(both: tuple[Reference, Ours], query: str) -> None:
    reference, ours = both
    assert ours.run(query) == reference.run(query)


def test_data_changes_match_postgres(both: tuple[Reference, Ours]) -> None:
    """INSERT ... SELECT and one VALUES row make a row per value; the refusals in data
    changes; then the table holds the same rows."""
    reference, ours = both
    for statement in [
            "create table fewmore (data int, note text default 'd')",
            "insert into fewmore (data) select generate_series(1,3)",
            "insert into fewmore select generate_series(4, 1000), 'x'",
            "insert into fewmore (data) values (generate_series(1001, 1002))",
            ("insert into fewmore values (generate_series(1003, 1004) * 2, default) "
             "returning data, note"),
            "insert into fewmore (data) select generate_series(1, 5) where false",
            "insert into fewmore (data) values (generate_series(6,7)), (8)",
            "update fewmore set data = generate_series(4,9)",
            "insert into fewmore (data) values (1) returning generate_series(1,3)",
            "update fewmore set data = data where generate_series(1,2) = 1",
            "delete from fewmore where generate_series(1,2) = data",
            "select count(*), sum(data), count(note), min(note), max(note) from fewmore",
            "select * from fewmore where data > 995 order by data"]:
        assert ours.run(statement) == reference.run(statement), statement
