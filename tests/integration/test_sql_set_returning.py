"""Set-returning functions in the select list (PostgreSQL 10's ProjectSet), end to end without
the wire: a Session over a real engine on a fresh cluster.

Every expected result, column name, type, error message, hint and position below is what a
PostgreSQL 15 server answered to the same statement over the same rows (checked again, on a
wider set of statements, by tests/compat/test_set_returning_vs_postgres.py).
"""

from __future__ import annotations

import datetime
import decimal

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.sql import types as T
from mirrordb.sql.session import Session

from sql_session_driver import run_statements

D = decimal.Decimal
INT4, INT8, TEXT = T.INT4_OID, T.INT8_OID, T.TEXT_OID
LATERAL = "You might be able to move the set-returning function into a LATERAL FROM item."


@pytest.fixture
def session(cluster):
    engine = Engine.open(str(cluster))
    s = Session(engine, "postgres", "postgres", SessionSettings(engine.settings))
    run(s, "create table t (a int, b text); insert into t values (1, 'x'), (2, 'y'), (3, null)")
    yield s
    s.terminate()
    engine.close()


def run(session: Session, sql: str) -> list[tuple[str, list[tuple], list[tuple[str, int]]]]:
    """Every statement's (tag, rows, (column name, type) pairs)."""
    return [(o.tag, o.rows, o.columns) for o in run_statements(session, sql)]


def rows(session: Session, sql: str) -> list[tuple]:
    return run(session, sql)[-1][1]


def columns(session: Session, sql: str) -> list[tuple[str, int]]:
    return run(session, sql)[-1][2]


def error(session: Session, sql: str) -> tuple[str, str, str | None, int | None]:
    """(SQLSTATE, message, hint, 1-based position) of the statement's error."""
    with pytest.raises(MirrordbError) as caught:
        run(session, sql)
    found = caught.value
    return found.sqlstate, found.message, found.hint, getattr(found, "position", None)


# -- results ----------------------------------------------------------------------------------


def test_a_call_in_the_select_list_gives_a_row_per_value(session):
    assert rows(session, "select generate_series(1, 3)") == [(1,), (2,), (3,)]
    assert columns(session, "select generate_series(1, 3)") == [("generate_series", INT4)]
    assert rows(session, "select unnest(array[1, 2])") == [(1,), (2,)]
    assert columns(session, "select unnest(array['a'])") == [("unnest", TEXT)]
    assert run(session, "select generate_series(1, 3) as g, 'k'")[0][1:] == (
        [(1, "k"), (2, "k"), (3, "k")], [("g", INT4), ("?column?", TEXT)])
    assert rows(session, "select generate_series(1, 10, 3)") == [(1,), (4,), (7,), (10,)]
    assert rows(session, "select unnest(array[1, null, 3])") == [(1,), (None,), (3,)]


def test_every_form_of_generate_series_and_its_type(session):
    assert run(session, "select generate_series(1::int8, 3)")[0][1:] == (
        [(1,), (2,), (3,)], [("generate_series", INT8)])
    assert run(session, "select generate_series(1.5, 3)")[0][1:] == (
        [(D("1.5"),), (D("2.5"),)], [("generate_series", T.NUMERIC_OID)])
    assert rows(session, "select generate_series(1, 2, 0.5)") == [(D(1),), (D("1.5"),),
                                                                  (D("2.0"),)]
    day = datetime.datetime(2024, 1, 1)
    assert run(session, "select generate_series('2024-01-01'::timestamp, '2024-01-02', "
                        "'1 day')")[0][1:] == (
        [(day,), (day + datetime.timedelta(days=1),)], [("generate_series", T.TIMESTAMP_OID)])
    assert columns(session, "select generate_series('2024-01-01'::timestamptz, "
                            "'2024-01-02', '1 day')") == [("generate_series",
                                                           T.TIMESTAMPTZ_OID)]
    # a date goes to the timestamptz form, the preferred type (in FROM too)
    assert columns(session, "select generate_series('2024-01-01'::date, '2024-01-03', "
                            "'1 day')") == [("generate_series", T.TIMESTAMPTZ_OID)]
    assert columns(session, "select * from generate_series('2024-01-01'::date, "
                            "'2024-01-03', '1 day')") == [("generate_series",
                                                           T.TIMESTAMPTZ_OID)]
    assert error(session, "select generate_series(1, 3, 0)") == (
        "22023", "step size cannot equal zero", None, None)
    assert error(session, "select generate_series(1)") == (
        "42883", "function generate_series(integer) does not exist",
        ("No function matches the given name and argument types. You might need to add "
         "explicit type casts."), 8)
    assert error(session, "select unnest(array[1], array[2])")[:2] == (
        "42883", "function unnest(integer[], integer[]) does not exist")


def test_calls_run_in_lockstep_the_shorter_padded_with_null(session):
    assert rows(session, "select generate_series(1, 3), generate_series(1, 5)") == [
        (1, 1), (2, 2), (3, 3), (None, 4), (None, 5)]
    assert rows(session, "select generate_series(1, 3), unnest(array['a', 'b'])") == [
        (1, "a"), (2, "b"), (3, None)]
    assert rows(session, "select generate_series(1, 3), generate_series(1, 0)") == [
        (1, None), (2, None), (3, None)]
    assert rows(session, "select generate_series(1, 2) x, generate_series(1, 2) y") == [
        (1, 1), (2, 2)]


def test_a_call_inside_an_expression(session):
    assert run(session, "select generate_series(1, 3) * 2")[0][1:] == (
        [(2,), (4,), (6,)], [("?column?", INT4)])
    assert rows(session, "select generate_series(1, 2) + generate_series(1, 3)") == [
        (2,), (4,), (None,)]
    assert rows(session, "select upper(unnest(array['a', 'b']))") == [("A",), ("B",)]
    assert columns(session, "select upper(unnest(array['a']))") == [("upper", TEXT)]
    assert run(session, "select generate_series(1, 2)::text")[0][1:] == (
        [("1",), ("2",)], [("generate_series", TEXT)])
    assert rows(session, "select nullif(generate_series(1, 3), 2)") == [(1,), (None,), (3,)]
    assert rows(session, "select greatest(generate_series(1, 3), 2)") == [(2,), (2,), (3,)]
    assert rows(session, "select generate_series(1, 2) in (1, 3)") == [(True,), (False,)]
    assert rows(session, "select array[generate_series(1, 2), 5]") == [([1, 5],), ([2, 5],)]
    assert rows(session, "select (case when true then 1 end) + generate_series(1, 2)") == [
        (2,), (3,)]


def test_a_call_whose_arguments_return_a_set_runs_above_them(session):
    assert rows(session, "select generate_series(1, generate_series(1, 3))") == [
        (1,), (1,), (2,), (1,), (2,), (3,)]
    assert rows(session, "select generate_series(generate_series(1, 2), 3), "
                         "generate_series(1, 2)") == [(1, 1), (2, 1), (3, 1), (2, 2), (3, 2)]
    assert rows(session, "select generate_series(generate_series(1, 3), "
                         "generate_series(2, 4))") == [(1,), (2,), (2,), (3,), (3,), (4,)]
    assert rows(session, "select generate_series(1, generate_series(1, "
                         "generate_series(1, 2)))") == [(1,), (1,), (1,), (2,)]


def test_a_call_without_rows_gives_no_row(session):
    assert run(session, "select generate_series(1, 0)")[0][1:] == (
        [], [("generate_series", INT4)])
    assert rows(session, "select unnest(null::int[])") == []
    assert rows(session, "select unnest(array[]::int[]), 1") == []
    assert rows(session, "select generate_series(1, null)") == []
    assert rows(session, "select a, generate_series(a, 2) from t") == [(1, 1), (1, 2), (2, 2)]


def test_from_where_order_by_limit_and_distinct(session):
    assert rows(session, "select a, generate_series(1, a) from t") == [
        (1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3)]
    assert rows(session, "select a, generate_series(1, 2) from t where a > 1") == [
        (2, 1), (2, 2), (3, 1), (3, 2)]
    assert rows(session, "select generate_series(1, 5) g order by g desc limit 2") == [
        (5,), (4,)]
    assert rows(session, "select generate_series(1, 3) offset 1") == [(2,), (3,)]
    assert rows(session, "select distinct unnest(array[1, 1, 2, 3, 3]) order by 1") == [
        (1,), (2,), (3,)]
    assert rows(session, "select a from t order by generate_series(1, 2), a") == [
        (1,), (2,), (3,), (1,), (2,), (3,)]
    assert rows(session, "select a, generate_series(1, a) g from t order by g, a") == [
        (1, 1), (2, 1), (3, 1), (2, 2), (3, 2), (3, 3)]
    assert rows(session, "select x, generate_series(1, x) from generate_series(1, 2) x") == [
        (1, 1), (2, 1), (2, 2)]
    assert rows(session, "select generate_series(1, 2), * from t where a = 2") == [
        (1, 2, "y"), (2, 2, "y")]
    assert rows(session, "select (select generate_series(1, t.a) limit 1 offset 1) from t "
                         "order by a") == [(None,), (2,), (2,)]
    assert rows(session, "select generate_series(1, 2) union all "
                         "select generate_series(5, 6)") == [(1,), (2,), (5,), (6,)]


def test_distinct_on_runs_before_calls_that_order_by_does_not_sort_on(session):
    values = "(values (3, 2), (3, 1), (1, 1), (1, 4), (5, 3), (5, 1)) as v(a, b)"
    assert rows(session, f"select distinct on (a) a, b, generate_series(1, 2) g from {values} "
                         "order by a, b desc") == [
        (1, 4, 1), (1, 4, 2), (3, 2, 1), (3, 2, 2), (5, 3, 1), (5, 3, 2)]
    assert rows(session, f"select distinct on (a) a, b, generate_series(1, 3) g from {values} "
                         "order by a, b desc, g desc") == [(1, 4, 3), (3, 2, 3), (5, 3, 3)]


def test_grouping_and_aggregates(session):
    assert run(session, "select generate_series(1, count(*)) from t")[0][1:] == (
        [(1,), (2,), (3,)], [("generate_series", INT8)])
    assert rows(session, "select count(*), generate_series(1, 2) from t") == [(3, 1), (3, 2)]
    assert rows(session, "select max(a), generate_series(1, max(a)) from t") == [
        (3, 1), (3, 2), (3, 3)]
    assert rows(session, "select a, generate_series(1, 2) from t group by a "
                         "order by 1, 2") == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)]
    assert rows(session, "select generate_series(1, a), count(*) from t group by a "
                         "order by 1, 2") == [(1, 1), (1, 1), (1, 1), (2, 1), (2, 1), (3, 1)]
    # in GROUP BY the calls run below the aggregation
    assert rows(session, "select generate_series(1, 2) from t group by 1 order by 1") == [
        (1,), (2,)]
    assert rows(session, "select unnest(array[1, 2]) u, count(*) from t group by u "
                         "order by u") == [(1, 3), (2, 3)]
    assert rows(session, "select generate_series(1, 2) + 1 from t "
                         "group by generate_series(1, 2) order by 1") == [(2,), (3,)]
    assert rows(session, "select count(*) from t group by generate_series(1, 2) "
                         "having count(*) > 0") == [(3,), (3,)]
    assert rows(session, "select count(*) from t order by generate_series(1, 2)") == [
        (3,), (3,)]


def test_insert_select_and_a_single_values_row(session):
    run(session, "create table n (v int, note text default 'd')")
    assert run(session, "insert into n (v) select generate_series(1, 1000)")[0][0] == \
        "INSERT 0 1000"
    assert rows(session, "select count(*), sum(v), min(note) from n") == [(1000, 500500, "d")]
    assert run(session, "insert into n values (generate_series(1, 2) * 10, default) "
                        "returning v, note")[0][:2] == ("INSERT 0 2", [(10, "d"), (20, "d")])
    assert run(session, "insert into n select generate_series(1, 5), 'x' where false")[0][0] \
        == "INSERT 0 0"
    assert error(session, "insert into n (v) values (generate_series(6, 7)), (8)") == (
        "0A000", "set-returning functions are not allowed in VALUES", None, 27)


def test_describe_gives_postgres_types(session):
    session.parse_message("s", "select generate_series(1, $1), unnest(array['a']), "
                               "generate_series(1, 3) * 2.5", [])
    described = session.describe_statement("s")
    assert described.param_types == [INT4]
    assert [(c.name, c.type_oid) for c in described.columns] == [
        ("generate_series", INT4), ("unnest", TEXT), ("?column?", T.NUMERIC_OID)]
    session.bind("p", "s", [], [b"2"], [])
    _result, batch, finished = session.execute_portal("p", 0)
    assert finished and batch == [(1, "a", D("2.5")), (2, None, D("5.0")),
                                  (None, None, D("7.5"))]
    session.sync()


# -- where PostgreSQL refuses them ----------------------------------------------------------------


@pytest.mark.parametrize("sql, clause, position", [
    ("select a from t where generate_series(1, 3) > a", "WHERE", 23),
    ("select 1 where generate_series(1, generate_series(1, 2)) > 0", "WHERE", 35),
    ("select count(*) from t having generate_series(1, 2) > 0", "HAVING", 31),
    ("select count(*) filter (where generate_series(1, 2) > 0) from t", "FILTER", 31),
    ("select * from t join t t2 on generate_series(1, 2) = t.a", "JOIN conditions", 30),
    ("select generate_series(1, 3) limit generate_series(1, 2)", "LIMIT", 36),
    ("select 1 offset generate_series(1, 2)", "OFFSET", 17),
    ("values (generate_series(1, 2))", "VALUES", 9),
    ("update t set a = generate_series(1, 2)", "UPDATE", 18),
    ("delete from t where generate_series(1, 2) = a", "WHERE", 21),
    ("insert into t values (5, 'r') returning generate_series(1, 2)", "RETURNING", 41),
])
def test_refused_in_clauses(session, sql, clause, position):
    assert error(session, sql) == (
        "0A000", f"set-returning functions are not allowed in {clause}", None, position)


@pytest.mark.parametrize("sql, message, position", [
    ("select count(generate_series(1, 3)) from t",
     "aggregate function calls cannot contain set-returning function calls", 14),
    ("select sum(1 + unnest(array[1, 2]))",
     "aggregate function calls cannot contain set-returning function calls", 16),
    ("select count(generate_series(1, 2) + generate_series(3, 5)) from t",
     "aggregate function calls cannot contain set-returning function calls", 14),
    ("select case when true then generate_series(1, 3) else 0 end",
     "set-returning functions are not allowed in CASE", 28),
    ("select case when true then generate_series(1, 3) + generate_series(5, 6) end",
     "set-returning functions are not allowed in CASE", 52),
    ("select case generate_series(1, 2) when 1 then 'a' end",
     "set-returning functions are not allowed in CASE", 13),
    ("select coalesce(generate_series(1, 3), 0)",
     "set-returning functions are not allowed in COALESCE", 17),
    ("select coalesce(case when true then generate_series(1, 2) end)",
     "set-returning functions are not allowed in CASE", 37),
])
def test_refused_in_aggregates_case_and_coalesce(session, sql, message, position):
    assert error(session, sql) == ("0A000", message, LATERAL, position)


@pytest.mark.parametrize("sql, message, position", [
    ("select generate_series(1, 2) > 1 or true", "argument of OR must not return a set", 8),
    ("select true and (generate_series(1, 2) > 1)", "argument of AND must not return a set",
     18),
    ("select not (generate_series(1, 2) > 1)", "argument of NOT must not return a set", 13),
    ("select (generate_series(1, 2) > 1) is unknown",
     "argument of IS UNKNOWN must not return a set", 9),
    ("select generate_series(1, 3) between 1 and 2", "argument of AND must not return a set",
     8),
    ("select case when generate_series(1, 2) = 1 then 'a' end",
     "argument of CASE/WHEN must not return a set", 18),
    ("select case 1 when generate_series(1, 2) then 'a' end",
     "argument of CASE/WHEN must not return a set", 15),
    ("select generate_series(1, 2) in (1, a) from t", "argument of IN must not return a set",
     8),
    ("select generate_series(1, 2) = any (select 1)",
     "row comparison operator must not return a set", 30),
    ("select generate_series(1, 2) is not true",
     "argument of IS NOT TRUE must be type boolean, not type integer", 8),
])
def test_refused_as_arguments(session, sql, message, position):
    assert error(session, sql) == ("42804", message, None, position)


def test_other_refusals(session):
    assert error(session, "select * from generate_series(1, generate_series(1, 2))") == (
        "0A000", "set-returning functions must appear at top level of FROM", None, 34)
    assert error(session, "select unnest(array[1, 2]) from t for update") == (
        "0A000", "FOR UPDATE is not allowed with set-returning functions in the target list",
        None, None)
    assert error(session, "select generate_series(1, 2) from t for share")[1] == \
        "FOR SHARE is not allowed with set-returning functions in the target list"
    # allowed where PostgreSQL allows them: a subquery's own select list, IN lists of constants
    assert rows(session, "select a from t where a in (select generate_series(1, 2)) "
                         "order by a") == [(1,), (2,)]
    assert rows(session, "select 1 in (generate_series(1, 2), 5)") == [(True,), (False,)]
    assert rows(session, "select coalesce((select generate_series(1, 2) limit 1), 0)") == [
        (1,)]
