"""Ordered index scans (sql/ordered_scans.py), side by side with a real PostgreSQL 15.

The results of ORDER BY ... LIMIT, keyset pagination, ORDER BY on an expression index, DESC and
NULLS FIRST indexes, min()/max() and a cursor whose scan sees the tree split under it must be
PostgreSQL's (tests/compat/differential.py): NULL placement, text in C order, NaN after every
number. Plans are mirrordb's own, so the plan choice (an index scan and no Sort, "Index Scan
Backward", the min/max init plans) is tested on mirrordb alone through EXPLAIN, and early
stopping by counting the heap pages a LIMIT query reads.
"""

from __future__ import annotations

from typing import Any

from differential import MARKS, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table t (id int primary key, a int, b int, name text, f float8, at timestamptz)",
    "insert into t select i, i % 10, case when i % 9 = 0 then null else i * 7 % 103 end, "
    "case when i % 11 = 0 then null else chr(65 + i % 60) || i end, "
    "case when i % 13 = 0 then 'NaN' when i % 17 = 0 then '-Infinity' else i / 7.0 end, "
    "timestamptz '2024-01-01 00:00+00' + i * interval '37 minutes' "
    "from generate_series(1, 1500) i",
    "create index t_a_b on t (a, b)",
    "create index t_b on t (b)",
    "create index t_lower on t (lower(name))",
    "create index t_name on t (name)",
    "create index t_f on t (f)",
    "create index t_at_desc on t (at desc)",
    "create table nf (k int, v text)",
    "insert into nf select case when i % 4 = 0 then null else i % 50 end, 'v' || i "
    "from generate_series(1, 400) i",
    "create index nf_k_first on nf (k nulls first)",
    "create index nf_k_desc_last on nf (k desc nulls last)",
    "create table empty (x int primary key, y int)",
    "create index empty_y on empty (y)",
    "create type mood as enum ('sad', 'ok', 'happy')",
    "alter type mood add value 'awful' before 'sad'",
    "create table moods (id int primary key, m mood)",
    "insert into moods select i, (array['sad', 'ok', 'happy', 'awful'])[1 + i % 4]::mood "
    "from generate_series(1, 100) i",
    "create index moods_m on moods (m)",
]

both = pair_fixture("ordered_index_scans", SETUP, detailed=True)


def test_order_by_limit_through_the_primary_key(both: Any) -> None:
    assert_same(both, [
        "select id, a from t order by id limit 5",
        "select id, a from t order by id desc limit 5",
        "select id from t order by id limit 3 offset 10",
        "select id from t order by id desc limit 3 offset 1497",
        "select id from t where id > 1000 order by id limit 4",
        "select id from t where id >= 10 and id < 20 order by id desc",
        "select id from t where id between 100 and 105 order by id",
        "select id from t where id < 0 order by id limit 3",
        "select id from t where id = 7 order by id limit 3",
        "select id from t order by id limit 0",
        "select id from t order by id limit null offset 1495",
        "select id from t order by id limit all offset 1497",
        "select id from t order by id fetch first 2 rows only",
        "select id, id * 2 as twice from t order by 1 desc limit 2",
        "select id as k from t order by k limit 2",
        "select t.id from t order by t.id desc limit 2",
        "select id from t where a = 4 and id > 900 order by id limit 3",
        "select id from t where name like 'B%' order by id desc limit 3",
        "select id from t where id > (select 1490) order by id limit 3",
        "select id from t order by id limit -1",
    ])


def test_nulls_and_directions(both: Any) -> None:
    """Entries are ascending with NULLs last: forward gives ASC NULLS LAST, backward DESC
    NULLS FIRST; other placements are sorted (and must still come out right)."""
    assert_same(both, [
        "select b from t order by b limit 5",
        "select b from t order by b desc limit 5",
        "select b from t order by b nulls first limit 5",
        "select b from t order by b desc nulls last limit 5",
        "select b from t order by b asc nulls last limit 5 offset 1330",
        "select b from t where b > 100 order by b desc limit 5",
        "select b from t where b is not null order by b desc limit 3",
        "select b from t where b < 3 order by b",
        "select k from nf order by k limit 5",
        "select k from nf order by k nulls first limit 5",
        "select k from nf order by k desc limit 5",
        "select k from nf order by k desc nulls last limit 5",
        "select at from t order by at desc limit 3",
        "select at from t order by at limit 3",
        "select at from t where at > '2024-01-01 12:00+00' order by at desc limit 2",
    ])


def test_multi_column_and_keyset_pagination(both: Any) -> None:
    assert_same(both, [
        "select a, b from t order by a, b limit 5",
        "select a, b from t order by a desc, b desc limit 5",
        "select a, b from t order by a, b desc limit 5",
        "select a, b from t where a = 3 order by b limit 5",
        "select a, b from t where a = 3 order by b desc limit 5",
        "select a, b from t where a = 3 order by a, b limit 4",
        "select a, b from t where a = 3 and b > 50 order by b limit 3",
        "select a, b from t where a = 3 and b <= 50 order by b desc limit 3",
        "select a, b from t where b = 5 order by a limit 5",
        "select a, b from t where (a, b) > (3, 50) order by a, b limit 5",
        "select a, b from t where (a, b) < (3, 50) order by a desc, b desc limit 5",
        "select a, b from t where (a, b) >= (9, 100) order by a, b limit 10",
        "select a, b from t where a in (2, 3) order by a, b limit 3",
        "select a from t order by a limit 3",
        "select a, count(*) from t group by a order by a limit 3",
        "select distinct a from t order by a limit 3",
    ])


def test_text_float_and_expression_keys(both: Any) -> None:
    """Text in the B-tree's (C) order, NaN after every number, -Infinity first, and an
    expression index read for ORDER BY of the same expression."""
    assert_same(both, [
        "select name from t order by name limit 6",
        "select name from t order by name desc limit 6",
        "select name from t where name > 'a' order by name limit 3",
        "select name from t where name < 'B' order by name desc limit 3",
        "select lower(name) from t order by lower(name) limit 5",
        "select lower(name) from t order by lower(name) desc limit 5",
        "select lower(name) l from t where lower(name) > 'z' order by l limit 3",
        "select upper(name) from t order by upper(name) limit 3",
        "select f from t order by f limit 3",
        "select f from t order by f desc limit 3",
        "select f from t where f < 1 order by f desc limit 3",
        "select f from t where f > 200 order by f limit 3",
    ])


def test_min_max(both: Any) -> None:
    assert_same(both, [
        "select max(id), min(id) from t",
        "select max(b), min(b), max(name), min(name), max(f), min(f) from t",
        "select min(at), max(at) from t",
        "select max(b) from t where a = 3",
        "select min(b) from t where a = 3 and b > 50",
        "select max(id) + 1 as next from t",
        "select max(id) from t having max(id) > 10",
        "select max(id) from t having max(id) > 10000",
        "select max(id), count(*) from t",
        "select max(id) from t where id < 0",
        "select max(x), min(y) from empty",
        "select max(k), min(k) from nf",
        "select max(k) from nf where k is null",
        "select max(id) from t where a = 3 group by a",
        "select max(distinct b), min(b) filter (where a = 2) from t",
        "select max(id) from t where id = 5",
        "select max(b) from t where id = 5",
        "select max(lower(name)) from t",
        "select min(m)::text, max(m)::text from moods",     # (type OIDs differ)
        "select m::text from moods order by m limit 2",
        "select m::text from moods order by m desc limit 2",
        "prepare mm(int) as select max(id) from t where a = $1",
        "execute mm(4)",
        "execute mm(11)",
        "deallocate mm",
    ])


def test_parameters_locking_and_changes(both: Any) -> None:
    """Bounds and counts from parameters, FOR UPDATE over an ordered scan, and a cursor
    whose scan sees its index split under it by its own transaction's inserts (invisible
    to it) and finds its place again."""
    assert_same(both, [
        "prepare page(int, int, int) as select a, b from t where (a, b) > ($1, $2) "
        "order by a, b limit $3",
        "execute page(3, 50, 4)",
        "execute page(9, 100, 4)",
        "deallocate page",
        "begin",
        "select id from t where a = 1 order by id desc limit 2 for update",
        "commit",
        "begin",
        "declare c cursor for select id, b from t order by id desc",
        "fetch 3 from c",
        "insert into t (id, a, b) select i, 0, i from generate_series(2000, 4000) i",
        "fetch 3 from c",
        "move 1000 in c",
        "fetch 2 from c",
        "declare d cursor for select b from t where b > 90 order by b",
        "fetch 3 from d",
        "insert into t (id, a, b) select i, 0, 95 from generate_series(5000, 6000) i",
        "fetch 5 from d",
        "commit",
        "select id, b from t order by id desc limit 3",
        "select count(*) from t where b = 95",
        "delete from t where id >= 2000",
    ])


# -- mirrordb's plans -------------------------------------------------------------------------


def plan(ours: Any, query: str) -> list[str]:
    answer = ours.run("explain " + query)
    assert answer[0] == "ok", answer
    return [line for (line,) in answer[2]]


def test_plans_read_the_index_in_order(both: Any) -> None:
    _, ours = both
    assert plan(ours, "select * from t order by id limit 10") == [
        "Limit", "  ->  Index Scan using t_pkey on t"]
    assert plan(ours, "select * from t order by id desc limit 10") == [
        "Limit", "  ->  Index Scan Backward using t_pkey on t"]
    assert plan(ours, "select a, b from t where (a, b) > (3, 5) order by a, b limit 20") == [
        "Limit", "  ->  Index Scan using t_a_b on t"]
    assert plan(ours, "select * from t where a = 3 order by b desc limit 5") == [
        "Limit", "  ->  Index Scan Backward using t_a_b on t"]
    assert plan(ours, "select * from t order by lower(name) limit 5") == [
        "Limit", "  ->  Index Scan using t_lower on t"]
    assert plan(ours, "select * from t where id > 1400 order by id desc") == [
        "Index Scan Backward using t_pkey on t"]          # the WHERE already chose it
    # a DESC index: named by its declared direction, as PostgreSQL names it
    assert plan(ours, "select * from t order by at desc limit 1") == [
        "Limit", "  ->  Index Scan using t_at_desc on t"]
    assert plan(ours, "select * from t order by at limit 1") == [
        "Limit", "  ->  Index Scan Backward using t_at_desc on t"]


def test_plans_that_sort(both: Any) -> None:
    _, ours = both
    sorted_scan = ["Sort", "  ->  Seq Scan on t"]
    assert plan(ours, "select * from t order by id") == sorted_scan      # no LIMIT
    assert plan(ours, "select * from t order by b nulls first limit 3") == \
        ["Limit", "  ->  Sort", "        ->  Seq Scan on t"]
    assert plan(ours, "select * from t order by a, b desc limit 3")[1] == "  ->  Sort"
    assert plan(ours, "select * from t order by upper(name) limit 3")[1] == "  ->  Sort"
    assert plan(ours, "select * from t where id = 5 order by b limit 3") == [
        "Limit", "  ->  Sort", "        ->  Index Scan using t_pkey on t"]
    # NULLS FIRST on an ascending index: the entries keep NULLs last, so it sorts
    assert plan(ours, "select k from nf order by k nulls first limit 3")[1] == "  ->  Sort"
    assert plan(ours, "select distinct a from t order by a limit 3")[1] == "  ->  Sort"


def test_min_max_plans(both: Any) -> None:
    _, ours = both
    assert plan(ours, "select max(id) from t") == [
        "Result",
        "  InitPlan 1 (returns $0)",
        "    ->  Limit",
        "          ->  Index Scan Backward using t_pkey on t"]
    assert plan(ours, "select min(b), max(b) from t where a = 3") == [
        "Result",
        "  InitPlan 1 (returns $0)",
        "    ->  Limit",
        "          ->  Index Scan using t_a_b on t",
        "  InitPlan 2 (returns $1)",
        "    ->  Limit",
        "          ->  Index Scan Backward using t_a_b on t"]
    assert plan(ours, "select max(id) + 1 from t having max(id) > 3") == [
        "Result",
        "  InitPlan 1 (returns $0)",
        "    ->  Limit",
        "          ->  Index Scan Backward using t_pkey on t"]
    assert plan(ours, "select max(id), count(*) from t")[0] == "Aggregate"
    assert plan(ours, "select max(name::text || '') from t")[0] == "Aggregate"
    assert plan(ours, "select max(id) from t group by a")[0] == "HashAggregate"


def test_limit_stops_the_scan_early(both: Any) -> None:
    """LIMIT 1 over 20,000 rows reads a handful of heap pages, at either end: the scan
    is pulled row by row, never read whole and sorted."""
    _, ours = both
    for statement in ("create table big (id int primary key, v int)",
                      "insert into big select i, i % 1000 from generate_series(1, 20000) i"):
        assert ours.run(statement)[0] in ("command", "ok")
    heap = ours.engine.heap
    reads: list[Any] = []
    original = heap.hot_fetch

    def counting(table: Any, *args: Any) -> Any:
        reads.append(args[-1])
        return original(table, *args)

    heap.hot_fetch = counting
    try:
        for query, expected in (("select id from big order by id limit 1", "1"),
                                ("select id from big order by id desc limit 1", "20000"),
                                ("select max(id) from big", "20000"),
                                ("select min(id) from big where id > 777", "778")):
            reads.clear()
            assert ours.run(query)[2] == [(expected,)], query
            assert 1 <= len(reads) <= 2, (query, len(reads))
    finally:
        del heap.hot_fetch
    assert ours.run("drop table big")[0] == "command"


def test_for_update_over_an_ordered_scan_locks_the_rows_it_returns(both: Any) -> None:
    """The job-queue pattern: LockRows sits on the ordered scan below the Limit, so each
    worker locks the first row nobody holds, and only that row."""
    _, ours = both
    from mirrordb.server.config import SessionSettings
    from mirrordb.sql.session import Session
    queue = "select id from t order by id for update skip locked limit 1"
    assert plan(ours, queue) == ["Limit", "  ->  LockRows",
                                 "        ->  Index Scan using t_pkey on t"]
    other = Session(ours.engine, "postgres", "postgres", SessionSettings(ours.engine.settings))
    try:
        assert ours.run("begin")[0] == "command"
        assert ours.run(queue)[2] == [("1",)]
        list(other.simple_query("begin"))
        taken = [list(result.rows) for result in other.simple_query(queue)]
        assert taken == [[(2,)]]
        list(other.simple_query("rollback"))
        assert ours.run("commit")[0] == "command"
    finally:
        other.terminate()


def test_scans_in_order_while_another_session_splits_the_index(both: Any) -> None:
    """Two cursors read the primary key in order, one from each end, while another
    session's committed inserts split every leaf under them: each returns exactly the rows
    of its snapshot, in order (the forward scan follows right-links or finds its place
    again, the backward one descends again below its last entry)."""
    _, ours = both
    from mirrordb.server.config import SessionSettings
    from mirrordb.sql.session import Session
    for statement in ("create table conc (id int primary key)",
                      "insert into conc select 2 * i from generate_series(1, 3000) i"):
        assert ours.run(statement)[0] in ("command", "ok")
    assert plan(ours, "select id from conc where id > 0 order by id desc") == [
        "Index Scan Backward using conc_pkey on conc"]
    other = Session(ours.engine, "postgres", "postgres", SessionSettings(ours.engine.settings))
    try:
        assert ours.run("begin")[0] == "command"
        for name, order in (("up", ""), ("down", " desc")):
            assert ours.run(f"declare {name} cursor for select id from conc where id > 0 "
                            f"order by id{order}")[0] == "command"
        first_up, first_down = ours.run("fetch 100 from up")[2], ours.run("fetch 100 from down")[2]
        for result in other.simple_query("insert into conc select 2 * i - 1 "
                                         "from generate_series(1, 3000) i"):
            list(result.rows or ())
        other.end_implicit()
        up = first_up + ours.run("fetch all from up")[2]
        down = first_down + ours.run("fetch all from down")[2]
        assert ours.run("commit")[0] == "command"
    finally:
        other.terminate()
    evens = [str(2 * i) for i in range(1, 3001)]
    assert [value for (value,) in up] == evens
    assert [value for (value,) in down] == evens[::-1]
    assert ours.run("select count(*) from conc")[2] == [("6000",)]
    assert ours.engine.verify_indexes("conc") > 0
    assert ours.run("drop table conc")[0] == "command"
