"""The SQL layer end to end without the wire: a Session over a real engine on a fresh cluster."""

from __future__ import annotations

import decimal

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine
from mirrordb.server.config import SessionSettings
from mirrordb.sql.session import Session

from sql_session_driver import run_statements


@pytest.fixture
def session(cluster):
    engine = Engine.open(str(cluster))
    s = Session(engine, "postgres", "postgres", SessionSettings(engine.settings))
    yield s
    s.terminate()
    engine.close()


def run(session: Session, sql: str) -> list[tuple[str, list[tuple]]]:
    """Every statement's (tag, rows) as a simple Query message would produce them."""
    return [(outcome.tag, outcome.rows) for outcome in run_statements(session, sql)]


def rows(session: Session, sql: str) -> list[tuple]:
    return run(session, sql)[-1][1]


def error(session: Session, sql: str) -> MirrordbError:
    with pytest.raises(MirrordbError) as caught:
        run(session, sql)
    return caught.value


def test_create_insert_select(session):
    run(session, "create table items (id serial primary key, name text not null, "
                 "price numeric(10,2) default 1.5, qty int)")
    result = run(session, "insert into items (name, qty) values ('a', 3), ('b', 5) "
                          "returning id, price")
    assert result == [("INSERT 0 2", [(1, decimal.Decimal("1.50")), (2, decimal.Decimal("1.50"))])]
    assert rows(session, "select name, qty * 2 from items where id = 2") == [("b", 10)]
    assert rows(session, "select count(*), sum(qty), max(name) from items") == [(2, 8, "b")]
    assert run(session, "update items set qty = qty + 1 where name = 'a'")[0][0] == "UPDATE 1"
    assert rows(session, "select qty from items order by id") == [(4,), (5,)]
    assert run(session, "delete from items where qty > 4")[0][0] == "DELETE 1"
    assert rows(session, "select id, name from items") == [(1, "a")]


def test_insert_values_without_a_column_list_fills_the_first_columns(session):
    """As PostgreSQL: VALUES shorter than the table gives the first columns, the rest their
    defaults; rows of different lengths, or a column list longer than the values, are refused."""
    run(session, "create table w (a int, b text default 'x', c int)")
    run(session, "insert into w values (8)")
    run(session, "insert into w values (9, 'y'), (10, 'z')")
    assert rows(session, "select a, b, c from w order by a") == \
        [(8, "x", None), (9, "y", None), (10, "z", None)]
    refused = error(session, "insert into w values (11, 'y'), (12)")
    assert (refused.sqlstate, refused.message) == ("42601",
                                                   "VALUES lists must all be the same length")
    refused = error(session, "insert into w (a, b) values (11)")
    assert refused.message == "INSERT has more target columns than expressions"
    refused = error(session, "insert into w values (1, 'a', 2, 3)")
    assert refused.message == "INSERT has more expressions than target columns"


def test_errors_have_postgres_codes(session):
    run(session, "create table t (id int primary key, v text)")
    run(session, "insert into t values (1, 'x')")
    assert error(session, "insert into t values (1, 'y')").sqlstate == "23505"
    assert error(session, "insert into t values (null, 'y')").sqlstate == "23502"
    assert error(session, "select nope from t").sqlstate == "42703"
    assert error(session, "select * from missing").sqlstate == "42P01"
    assert error(session, "selec 1").sqlstate == "42601"
    assert error(session, "select 1/0").sqlstate == "22012"
    assert error(session, "create table t (a int)").sqlstate == "42P07"


def test_transaction_blocks(session):
    run(session, "create table t (id int)")
    run(session, "begin; insert into t values (1); rollback")
    assert rows(session, "select count(*) from t") == [(0,)]
    run(session, "begin")
    run(session, "insert into t values (2)")
    assert session.transaction_status == "T"
    with pytest.raises(MirrordbError):
        run(session, "select 1/0")
    assert session.transaction_status == "E"
    assert error(session, "select 1").sqlstate == "25P02"
    assert run(session, "commit")[0][0] == "ROLLBACK"
    assert rows(session, "select count(*) from t") == [(0,)]
    run(session, "begin; insert into t values (3); savepoint s; insert into t values (4); "
                 "rollback to savepoint s; commit")
    assert rows(session, "select id from t") == [(3,)]


def test_joins_subqueries_grouping(session):
    run(session, "create table a (id int primary key, g text); "
                 "create table b (a_id int, amount int)")
    run(session, "insert into a values (1, 'x'), (2, 'x'), (3, 'y')")
    run(session, "insert into b values (1, 10), (1, 5), (2, 7)")
    assert rows(session, "select a.id, sum(b.amount) from a join b on a.id = b.a_id "
                         "group by a.id order by a.id") == [(1, 15), (2, 7)]
    assert rows(session, "select a.id, b.amount from a left join b on a.id = b.a_id "
                         "where a.id = 3") == [(3, None)]
    run(session, "insert into b values (9, 1)")
    assert rows(session, "select a.id, b.a_id from a right join b on a.id = b.a_id "
                         "where b.a_id = 9") == [(None, 9)]
    assert sorted(rows(session, "select a.id, b.a_id from a full join b on a.id = b.a_id "
                                "where a.id is null or b.a_id is null"),
                  key=str) == [(3, None), (None, 9)]
    assert rows(session, "select count(*) from a, b where a.id < b.a_id and b.a_id = 9") == \
        [(3,)]
    run(session, "delete from b where a_id = 9")
    assert rows(session, "select id from a where id in (select a_id from b) order by 1") == \
        [(1,), (2,)]
    assert rows(session, "select id from a where not exists (select 1 from b where "
                         "b.a_id = a.id)") == [(3,)]
    assert rows(session, "select g, count(*) from a group by g having count(*) > 1") == \
        [("x", 2)]
    assert rows(session, "select (select max(amount) from b), coalesce(null, 'z'), "
                         "case when 1 > 2 then 'no' else 'yes' end") == [(10, "z", "yes")]
    assert rows(session, "select distinct g from a order by g desc") == [("y",), ("x",)]
    assert rows(session, "select id from a union select a_id from b order by 1 limit 2 "
                         "offset 1") == [(2,), (3,)]


def test_distinct_on(session):
    """PostgreSQL's DISTINCT ON: the first row of each group in ORDER BY order; the expressions
    need not be in the select list, match ORDER BY items however spelled, and must lead it
    (42P10 otherwise, as PostgreSQL's transformDistinctOnClause decides)."""
    run(session, "create table acc (id int primary key, owner text, balance numeric(12,2)); "
                 "insert into acc values (1, 'ann', 10.5), (2, 'bob', 20), (3, 'cy', null), "
                 "(4, 'ann', 3), (5, 'bob', null)")
    assert rows(session, "select distinct on (balance is null) id from acc "
                         "order by balance is null, id desc") == [(4,), (5,)]
    assert rows(session, "select distinct on (owner) id from acc order by owner, id desc") == \
        [(4,), (5,), (3,)]
    assert rows(session, "select distinct on (a.owner) a.id from acc a "
                         "order by owner, balance desc nulls last") == [(1,), (2,), (3,)]
    assert rows(session, "select distinct on (id % 2) id from acc order by id % 2, id") == \
        [(2,), (1,)]
    assert rows(session, "select distinct on (balance, owner) id from acc "
                         "order by owner, balance, id") == [(4,), (1,), (2,), (5,), (3,)]
    for wrong in ("select distinct on (owner) id from acc order by id",
                  "select distinct on (owner) id from acc order by id, owner",
                  "select distinct on (owner, balance) id from acc order by owner, id"):
        caught = error(session, wrong)
        assert caught.sqlstate == "42P10"
        assert caught.message == \
            "SELECT DISTINCT ON expressions must match initial ORDER BY expressions"


def test_index_scan_is_chosen_and_correct(session):
    run(session, "create table t (id int primary key, v int)")
    run(session, "insert into t select g, g * 10 from generate_series(1, 200) g")
    plan = [r[0] for r in rows(session, "explain select v from t where id = 42")]
    assert any("Index Scan" in line for line in plan), plan
    assert rows(session, "select v from t where id = 42") == [(420,)]
    assert rows(session, "select count(*) from t where id between 10 and 19") == [(10,)]
    assert rows(session, "select count(*) from t where id > 195") == [(5,)]


def test_extended_protocol_with_parameters(session):
    run(session, "create table t (id int primary key, name text)")
    session.parse_message("ins", "insert into t values ($1, $2)", [])
    assert session.prepared["ins"].param_types == [23, 25]
    session.bind("", "ins", [0], [b"7", b"seven"], [])
    result, batch, finished = session.execute_portal("", 0)
    assert finished and result.tag(0) == "INSERT 0 1"
    session.sync()
    session.parse_message("sel", "select name from t where id = $1", [])
    session.bind("p", "sel", [], [b"7"], [])
    result, batch, finished = session.execute_portal("p", 0)
    assert batch == [("seven",)]
    session.sync()


def test_on_conflict_and_sequences(session):
    run(session, "create table t (id int primary key)")
    run(session, "insert into t values (1)")
    assert run(session, "insert into t values (1), (2) on conflict do nothing")[0][0] == \
        "INSERT 0 1"
    run(session, "create sequence s")
    assert rows(session, "select nextval('s'), nextval('s'), currval('s')") == [(1, 2, 2)]
    assert error(session, "select foo from (select 1) x").sqlstate == "42703"


def test_alter_table(session):
    run(session, "create table t (id int primary key, a text)")
    run(session, "insert into t values (1, 'x'), (2, null)")
    run(session, "alter table t add column n int default 7")
    assert rows(session, "select id, a, n from t order by id") == [(1, "x", 7), (2, None, 7)]
    run(session, "insert into t (id) values (3)")
    assert rows(session, "select n from t where id = 3") == [(7,)]
    assert error(session, "alter table t alter column a set not null").sqlstate == "23502"
    run(session, "alter table t alter column n set not null")
    assert error(session, "insert into t values (4, 'y', null)").sqlstate == "23502"
    run(session, "alter table t drop column a")
    assert rows(session, "select * from t where id = 1") == [(1, 7)]
    run(session, "alter table t rename column n to m")
    run(session, "alter table t rename to u")
    assert rows(session, "select m from u where id = 2") == [(7,)]
    assert error(session, "insert into u values (1, 1)").sqlstate == "23505"
    run(session, "alter table u alter column m drop default")
    run(session, "alter table u alter column m drop not null")
    run(session, "insert into u (id) values (9)")
    assert rows(session, "select m from u where id = 9") == [(None,)]


def test_regclass_and_serial_default(session):
    run(session, "create table r (id serial primary key)")
    oid = rows(session, "select 'r'::regclass::oid")[0][0]
    assert rows(session, "select %d::regclass::text" % oid) == [("r",)]
    assert rows(session, "select nextval('r_id_seq'::regclass)") == [(1,)]
    assert error(session, "select 'nope'::regclass").sqlstate == "42P01"


def test_with_queries(session):
    run(session, "create table w (id int, g text)")
    run(session, "insert into w values (1, 'a'), (2, 'a'), (3, 'b')")
    assert rows(session, "with c as (select g, count(*) as n from w group by g), "
                         "big(name) as (select g from c where n > 1) "
                         "select name from big") == [("a",)]
    assert rows(session, "with t as (select 5 as v) select v + 1 from t") == [(6,)]
    assert rows(session, "with recursive r as (select 1) select * from r") == [(1,)]
    assert rows(session, "with recursive r(n) as (select 1 union all select n + 1 from r "
                         "where n < 3) select sum(n) from r") == [(6,)]


def test_select_from_sequence(session):
    run(session, "create sequence sq start 5")
    assert rows(session, "select last_value, is_called from sq") == [(5, False)]
    run(session, "select nextval('sq')")
    run(session, "select nextval('sq')")
    assert rows(session, "select * from sq") == [(6, 0, True)]

# -- cursors and savepoints, as PostgreSQL runs them: a cursor reads as of the command that
# declared it, ROLLBACK TO SAVEPOINT closes the cursors opened inside the savepoint and reopens
# a block that an error failed


def make_cursor_table(session: Session) -> None:
    run(session, "create table t (id int primary key, v int)")
    run(session, "insert into t values (1, 1), (2, 2)")


def test_a_cursor_does_not_see_its_transactions_later_changes(session):
    make_cursor_table(session)
    run(session, "begin; declare c cursor for select id, v from t order by id")
    run(session, "insert into t values (3, 3); update t set v = 20 where id = 2; "
                 "delete from t where id = 1")
    assert rows(session, "fetch all from c") == [(1, 1), (2, 2)]
    # a cursor declared now sees them, as any later statement does
    run(session, "declare d cursor for select id, v from t order by id")
    assert rows(session, "fetch all from d") == [(2, 20), (3, 3)]
    run(session, "commit")


def test_updating_the_rows_a_cursor_walks_does_not_feed_them_back(session):
    # rows of ~2 kB, four to a page: an updated row's new version does not fit on its full
    # page and goes to a later one, which the cursor's scan has yet to reach
    run(session, "create table wide (id int, pad text)")
    run(session, "insert into wide select g, repeat('x', 2000) from generate_series(1, 8) g")
    run(session, "begin; declare c cursor for select id from wide")   # a scan, not a sort
    seen = []
    while True:
        batch = rows(session, "fetch 1 from c")
        if not batch:
            break
        seen.append(batch[0][0])
        run(session, f"update wide set id = id + 100 where id = {batch[0][0]}")
        assert len(seen) <= 8, seen     # new versions would come round again without end
    run(session, "commit")
    assert sorted(seen) == list(range(1, 9))
    assert rows(session, "select min(id), max(id), count(*) from wide") == [(101, 108, 8)]


def test_rollback_to_savepoint_closes_the_cursors_opened_inside_it(session):
    make_cursor_table(session)
    run(session, "begin; declare outer_cursor cursor for select 1")
    run(session, "savepoint s; declare d cursor for select 2")
    run(session, "savepoint s2; declare e cursor for select 3; release savepoint s2")
    run(session, "rollback to savepoint s")
    for name in ("d", "e"):
        assert error(session, f"fetch all from {name}").sqlstate == "34000"
        run(session, "rollback to savepoint s")
    assert rows(session, "fetch all from outer_cursor") == [(1,)]
    # a cursor from a released savepoint belongs to the parent: a later savepoint's rollback
    # leaves it open
    run(session, "savepoint s3; declare f cursor for select 4; release savepoint s3")
    run(session, "savepoint s4; rollback to savepoint s4")
    assert rows(session, "fetch all from f") == [(4,)]
    run(session, "commit")


def test_rollback_to_savepoint_reopens_a_failed_block(session):
    make_cursor_table(session)
    run(session, "begin; insert into t values (3, 3); savepoint s")
    run(session, "insert into t values (4, 4)")
    # fails half way: (5, 5) is written before the duplicate key of (1, 1) stops it
    assert error(session, "insert into t values (5, 5), (1, 1)").sqlstate == "23505"
    assert session.transaction_status == "E"
    assert error(session, "select 1").sqlstate == "25P02"
    run(session, "rollback to savepoint s")
    assert session.transaction_status == "T"
    assert rows(session, "select id from t order by id") == [(1,), (2,), (3,)]
    run(session, "insert into t values (6, 6); commit")
    assert rows(session, "select id from t order by id") == [(1,), (2,), (3,), (6,)]


def test_a_failed_block_without_that_savepoint_stays_failed(session):
    make_cursor_table(session)
    run(session, "begin; insert into t values (3, 3)")
    assert error(session, "select 1/0").sqlstate == "22012"
    assert error(session, "rollback to savepoint nowhere").sqlstate == "3B001"
    assert session.transaction_status == "E"
    assert error(session, "release savepoint nowhere").sqlstate == "25P02"
    run(session, "commit")      # rolls back
    assert rows(session, "select id from t order by id") == [(1,), (2,)]


def test_an_error_releases_the_locks_of_what_it_undid(session):
    make_cursor_table(session)
    other = Session(session.engine, "postgres", "postgres",
                    SessionSettings(session.engine.settings))
    try:
        take_lock = "begin; lock table t in access exclusive mode nowait"
        # inside a savepoint: its subtransaction's lock goes with the error, the block waits
        run(session, "begin; savepoint s; lock table t in access exclusive mode")
        assert error(session, "select 1/0").sqlstate == "22012"
        run(other, take_lock)
        run(other, "rollback")
        run(session, "rollback to savepoint s; commit")
        # outside any savepoint: the whole transaction is undone at the error
        run(session, "begin; lock table t in access exclusive mode")
        assert error(session, "select 1/0").sqlstate == "22012"
        run(other, take_lock)
        run(other, "rollback")
        run(session, "rollback")
    finally:
        other.terminate()


def test_rolling_back_a_savepoint_undoes_its_sets(session):
    def timezone() -> str:
        return rows(session, "show timezone")[0][0]

    run(session, "set timezone = 'UTC'; begin; set timezone = 'Europe/Paris'; savepoint s")
    run(session, "set timezone = 'Asia/Tokyo'; savepoint s2; set timezone = 'America/Lima'")
    run(session, "rollback to savepoint s2")
    assert timezone() == "Asia/Tokyo"
    run(session, "rollback to savepoint s")
    assert timezone() == "Europe/Paris"
    # released: the value belongs to the parent, which keeps it at COMMIT
    run(session, "savepoint s3; set timezone = 'Asia/Tokyo'; release savepoint s3")
    assert timezone() == "Asia/Tokyo"
    # an error inside a savepoint undoes that savepoint's SET at once
    run(session, "savepoint s4; set timezone = 'America/Lima'")
    assert error(session, "select 1/0").sqlstate == "22012"
    run(session, "rollback to savepoint s4")
    assert timezone() == "Asia/Tokyo"
    run(session, "commit")
    assert timezone() == "Asia/Tokyo"


def test_order_by_inside_aggregate_calls(session):
    """PostgreSQL's results (checked on PostgreSQL 15): inputs fed in the call's order, FILTER
    before it, DISTINCT keys only from the arguments."""
    run(session, "create table v (i int, j int, k text)")
    run(session, "insert into v values (1, 3, 'a'), (3, 1, 'a'), (2, 2, 'b'), (0, 4, 'a'), "
                 "(null, 5, 'a'), (3, 0, 'a')")
    assert rows(session, "select array_agg(i order by i desc) from v") == \
        [([None, 3, 3, 2, 1, 0],)]
    assert rows(session, "select string_agg(i::text, ',' order by i desc nulls last) from v") \
        == [("3,3,2,1,0",)]
    assert rows(session, "select array_agg(distinct i order by i) from v") == \
        [([0, 1, 2, 3, None],)]
    assert rows(session, "select array_agg(i order by j) filter (where i > 1) from v") == \
        [([3, 3, 2],)]
    assert rows(session, "select k, array_agg(i order by j desc) from v group by k "
                         "order by k") == [("a", [None, 0, 1, 3, 3]), ("b", [2])]
    refused = error(session, "select array_agg(distinct i order by j) from v")
    assert (refused.sqlstate, refused.message) == (
        "42P10", "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument "
                 "list")
