"""Row values, side by side with PostgreSQL 15 (sql/row_values.py): ROW(...) and (a, b)
constructors and their record text, row comparisons (column by column with SQL's NULL rules,
lexical for < <= > >=), IN lists and subqueries of rows, = ANY/ALL, a row against a one-row
subquery, BETWEEN, IS [NOT] NULL and IS [NOT] DISTINCT FROM on rows, keyset pagination (with
the index bounding the scan), whole-row references with their table's row type (pg_typeof,
(t).col, record comparison, ORDER BY and DISTINCT of rows, to_json), rows in arrays, VALUES
and subqueries, views over them as pg_get_viewdef prints them, and PostgreSQL's errors; then
what a client sees over the wire: the RowDescription type (record or the table's row type)
and record_send's binary format."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table t (a int, b text)",
    "create table k (a int, b int, c text)",
    "create index k_ab on k (a, b)",
    "create schema s",
    "create table s.z (x int)",
    "insert into t values (1, 'x'), (2, null), (3, 'a b'), (null, 'q')",
    "insert into k select i / 10, i % 10, 'v' || i from generate_series(1, 100) i",
    "insert into s.z values (5)",
]

both = pair_fixture("row_values", SETUP, detailed=True)


CONSTRUCTORS = [
    "select row(1,'a')",
    "select row(1,null,'', 'a\"b', 'c,d', ' x', 'y\\z')",
    "select row(), row(null), (1, 2)",
    "select row(1, 2.5, 'x', null, true, date '2024-01-02')",
    "select row(1,2)::text, pg_typeof(row(1,2))",
    "select (select row(1,2))",
    "select array[row(1,2), row(3,4)]",
    "select array[row(1,'a b'), null]",
    "select x, pg_typeof(x) from (select row(1, 'a') x) s",
    "select x from (values (row(1,2)), (row(3,4))) v(x)",
    "select row_to_json(row(1,'a')), row_to_json(row(1, null))",
    "select (row(1,2)).f1, (row(1, 'x'::text)).f2",
    "select (x).f1, (x).f2, (s.x).f1 from (select row(1, 'a'::text) x) s",
    "select (x).a, (x).b from (select t as x from t) s order by 1",
    "select ((select row(5, 6))).f2",
    "select (x).f3 from (select row(1, 2) x) s",
    "select case when true then row(1,2) end, coalesce(null, row(1,2))",
    "select row(t.*) from t order by a",
    "select row(t.a, t.*) from t order by a",
]

COMPARISONS = [
    "select row(1,2) = row(1,2), row(1,2) = row(1,3), row(1,2) <> row(1,3)",
    "select (1,2) < (1,3), (1,null) < (2,0), (1,null) < (1,2), (1,2) <> (1,null)",
    "select (1,null) = (2,null), (1,null) = (1,null), (1,2) <> (1,null), (2,null) <> (1,null)",
    "select (1,2) <= (1,2), (1,2) >= (1,2), (1,2) < (1,2), (1,2) > (1,1), (2,0) > (1,9)",
    "select ('a', 1) < ('b', 0), ('a', 1) >= ('a', 2)",
    "select (1, 2.5) = (1, 2.5::float8), (1::int2, 2) < (1::int8, 3)",
    "select (1, 2) is distinct from (1, null), (1, null) is not distinct from (1, null)",
    "select row(1, null) is distinct from row(1, null), row(1,2) is distinct from row(1,3)",
    "select row(1,'x') is null, row(null,null) is null, row(1,null) is not null, "
    "row(null,null) is not null, row(1,1) is not null",
    "select (2,3) between (1,1) and (3,3), (2,3) not between (1,1) and (3,3), "
    "(2,3) between symmetric (3,3) and (1,1)",
    "select count(*) from t where (a, b) = (1, 'x')",
    "select * from t where (a, b) > (1, 'x') order by a, b",
    "select * from t where (a, b) <> (1, 'x') order by a, b",
    "select * from t where not (a, b) < (3, 'b') order by a, b",
    "select * from t where (a, b) = ('q', 'x')",
    "select * from t t1 join t t2 on (t1.a, t1.b) = (t2.a, t2.b) order by 1",
    "select * from t t1 left join t t2 on (t1.a, t1.b) < (t2.a, t2.b) order by 1, 3, 4",
    "update t set b = b where (a, b) = (1, 'x')",
    "delete from t where (a, b) = (7, 'none')",
]

IN_AND_SUBQUERIES = [
    "select (a,b) in ((1,'x'),(3,'a b')) from t order by a",
    "select (a,b) not in ((1,'x'),(3,'a b')) from t order by a",
    "select (1,2) not in ((1,2),(3,4)), (1,null) not in ((3,4)), (1,null) not in ((1,4)), "
    "(1,null) in ((1,2))",
    "select (a,b) in (select a,b from t) from t order by a",
    "select (a, b) not in (select a, b from t where a is not null) from t order by a",
    "select (a, b) <> all (select a, b from t where a = 1) from t order by a",
    "select (a, b) < any (select a, b from t where a = 2) from t order by a",
    "select (1,2) = any (select 1, 2), (1,2) = all (select a, 2 from t where a = 1)",
    "select (1,2) = any (select a, b from k where false), (1,2) = all (select a, b from k "
    "where false)",
    "select (1,2) = (select 1, 2), (1,2) = (select 1, 3), (1,2) <> (select 1, 3)",
    "select (1,2) < (select a, b from k where a = 0 and b = 5)",
    "select (1,2) = (select a, b from k where false)",
    "select t.a from t where (t.a, t.b) in (select k.a + 1, 'x' from k where k.a = 0) "
    "order by 1",
]

KEYSET = [
    "select a, b from k where (a, b) > (3, 7) order by a, b limit 5",
    "select a, b from k where (a, b) >= (3, 7) and (a, b) < (4, 2) order by a, b",
    "select a, b from k where (a, b) <= (0, 3) order by a, b",
    "select a, b from k where (a, b) > (3, null) order by a, b limit 3",
    "select a, b from k where (a, b) > (null, 3) order by a, b limit 3",
    "select a, b, c from k where (a, b) = (3, 7)",
    "select a, b from k where (b, a) > (8, 5) order by a, b limit 4",
    "prepare page(int, int) as select a, b from k where (a, b) > ($1, $2) "
    "order by a, b limit 3",
    "execute page(5, 8)",
    "execute page(9, 9)",
    "prepare page2 as select a, b from k where (a, b) > ($1, $2) order by a, b limit 2",
    "execute page2(2, 9)",
]

WHOLE_ROWS = [
    "select t::text from t order by a",
    "select pg_typeof(t), pg_typeof(t::text) from t limit 1",
    "select pg_typeof(z), z::text, (z).x from s.z",
    "select relname, reltype::regtype, reltype = 0 from pg_class "
    "where relname in ('t', 'k', 'k_ab', 'z') order by 1",
    "select format_type(reltype, null) from pg_class where relname = 't'",
    "select (t).a, (t).b from t order by a",
    "select (t).a from t where (t).b = 'x'",
    "select t1 = t2, t1 < t2, t1 > t2, t1 <> t2, t1 <= t2, t1 >= t2 from t t1, t t2 "
    "where t1.a = 1 and t2.a = 3",
    "select t1 = t2 from t t1, t t2 where t1.a is null and t2.a is null",
    "select t1.a, t2.a, t1 < t2 from t t1, t t2 where t1.a in (2, 3) and t2.a in (2, 3) "
    "order by 1, 2",
    "select t = row(1, 'x'::text) from t order by a",
    "select t = row(1, 2) from t order by a",
    "select t = row(1) from t order by a",
    "select t.* from t where t = row(2, null::text)::record",
    "select t is null, t is not null from t order by a",
    "select t::text from t order by t",
    "select t::text from t order by t desc",
    "select distinct t1::text from t t1, t t2 order by 1",
    "select count(t.*), count(t) from t",
    "select row_to_json(t), to_json(t) from t order by a",
    "select json_agg(t order by a) from t",
    "select s::text, pg_typeof(s) from (select 1 as p, 'z' as q) s",
]

# rows holding arrays as hash keys (DISTINCT, GROUP BY, UNION, INTERSECT, hash joins)
HASHING = [
    "create table h (a int, b text, c int[])",
    "insert into h values (1, 'x', '{1,2}'), (1, 'x', '{1,2}'), (2, null, null)",
    "select distinct row(a, c) from h order by 1",
    "select h::text, count(*) from h group by h order by 1",
    "select row(a, c) from h union select row(1, array[1,2]) order by 1",
    "select row(a, c) from h intersect select row(1, array[1,2])",
    "select c from h except select array[3] order by 1",
    "select count(distinct h) from h",
    "select h1.a from h h1 join h h2 on h1 = h2 order by 1",
    "select h1.a from h h1 join h h2 on (h1.a, h1.c) = (h2.a, h2.c) order by 1",
    "select row(1.0::numeric, 'x') = row(1.00::numeric, 'x'), row('a'::char(3)) = "
    "row('a  '::char(3))",
    "select array_agg(h order by a)::text from h",
]

VIEWS = [
    "create view v3 as select a from t where (a, b) in ((1, 'x'), (3, 'a b')) and (a, b) not in "
    "((2, 'q')) and (a, b) <> (5, 'z') and (a, 'k') <= (3, b)",
    "select pg_get_viewdef('v3'), pg_get_viewdef('v3', true)",
    "select * from v3",
    "select pg_typeof(v3), v3::text, (v3).a from v3",
    "create view v4 as select row(a, b)::text r, (a, b)::text s, (row(a, 1)).f2 f from t",
    "select pg_get_viewdef('v4'), pg_get_viewdef('v4', true)",
    "select * from v4 order by f, r",
    "create view v5 as select a from t where (a, b) is distinct from (1, 'x') "
    "and row(a, b) is not null and t is not null",
    "select pg_get_viewdef('v5'), pg_get_viewdef('v5', true)",
    "create view v7 as select t.a from t where t = row(1, 'x'::text)::record",
    "select pg_get_viewdef('v7'), pg_get_viewdef('v7', true)",
    "select * from v7",
]

ERRORS = [
    "select (1,2) = (1,2,3)",
    "select (1,2) < (1,2,3)",
    "select row(1, 'a') = row('a', 1)",
    "select row(1, 'a'::text) = row('a'::text, 1)",
    "select row(1,2) < row(1,'x'::text)",
    "select row(1,2) ~~ row(1,2)",
    "select row(1,2) + row(1,2)",
    "select ('a'::text, 1) ~~ ('b'::text, 1)",
    "select (1,2) in ((1,2,3))",
    "select (1,2) in (select 1)",
    "select (1) in (select 1, 2)",
    "select (1,2) in (select 1, 2, 3)",
    "select (1,2) = (select a, b from k)",
    "select (1, 2) between (1, 2) and (1, 2, 3)",
    "select row(1,2) is distinct from row(1,2,3)",
    "select t = 1 from t",
    "select t = row(1, 'x') from t order by a",
    "select t1 = k1 from t t1, k k1 limit 1",
    "select (t).c from t",
    "select (row(1,2)).f3",
    "select (1).x",
    "select (t.a).x from t",
    "select row(1,2) > 'x'",
]


@pytest.mark.parametrize("statements", [CONSTRUCTORS, COMPARISONS, IN_AND_SUBQUERIES, KEYSET,
                                        WHOLE_ROWS, HASHING, VIEWS, ERRORS],
                         ids=["constructors", "comparisons", "in_and_subqueries", "keyset",
                              "whole_rows", "hashing", "views", "errors"])
def test_statements_match_postgres(both: tuple[Reference, Ours], statements: list[str]) -> None:
    assert_same(both, statements)


def test_whole_row_column_has_the_row_type(both: tuple[Reference, Ours]) -> None:
    """``SELECT t FROM t``: the column is typed with the table's row type (pg_class.reltype,
    each server's own OID), an anonymous row with record."""
    for server in both:
        row_type = int(server.run("select reltype from pg_class where relname = 't'")[2][0][0])
        answer = server.run("select t, row(a, b) from t order by a")
        assert answer[1] == [("t", row_type), ("row", 2249)], answer
        assert answer[2][0] == ("(1,x)", "(1,x)")


def test_keyset_condition_bounds_an_index_scan(both: tuple[Reference, Ours]) -> None:
    """``WHERE (a, b) > (x, y)`` scans the (a, b) index from a >= x (the whole comparison is
    still checked per row: the keyset statements above compare the rows)."""
    _, ours = both
    plan = ours.run("explain select a, b from k where (a, b) > (3, 7) order by a, b limit 5")
    assert any("Index Scan using k_ab on k" in line for (line,) in plan[2]), plan


# -- over the wire ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(module_server: Any) -> Iterator[psycopg.Connection]:
    connection = module_server.connect(autocommit=True)
    connection.execute("create table w (id int, label text)")
    connection.execute("insert into w values (1, 'one'), (2, null)")
    yield connection
    connection.close()


def test_row_description_types(client: psycopg.Connection) -> None:
    """A whole-row column is described with the table's row type, ROW(...) with record."""
    row_type = client.execute("select reltype from pg_class where relname = 'w'").fetchone()
    cursor = client.execute("select w, row(id, label), (w).label from w order by id")
    assert [column.type_code for column in cursor.description] == [row_type[0], 2249, 25]
    # psycopg parses record text into a tuple of strings; a row type it has not been told
    # about stays text
    assert cursor.fetchall() == [("(1,one)", ("1", "one"), "one"), ("(2,)", ("2", None), None)]


def test_records_in_binary_format(client: psycopg.Connection) -> None:
    """record_send: psycopg's binary record loader reads an anonymous record's fields back with
    their types; a table's row type (unknown to psycopg) arrives as record_send's bytes: the
    field count, then each field's type OID, length (-1: NULL) and data."""
    cursor = client.cursor(binary=True)
    cursor.execute("select row(id, label, 2.5::numeric), w from w order by id")
    first, second = cursor.fetchall()
    assert first[0] == (1, "one", Decimal("2.5")) and second[0] == (2, None, Decimal("2.5"))
    assert first[1] == struct.pack(">iIiiIi3s", 2, 23, 4, 1, 25, 3, b"one")
    assert second[1] == struct.pack(">iIiiIi", 2, 23, 4, 2, 25, -1)


def test_keyset_pagination_with_parameters(client: psycopg.Connection) -> None:
    """The keyset idiom as a driver sends it: a prepared statement with bound parameters."""
    client.execute("create table pages (a int, b int)")
    client.execute("create index pages_ab on pages (a, b)")
    client.execute("insert into pages select i / 4, i % 4 from generate_series(0, 15) i")
    seen, last = [], (-1, -1)
    while True:
        rows = client.execute("select a, b from pages where (a, b) > (%s, %s) order by a, b "
                              "limit 5", last, prepare=True).fetchall()
        if not rows:
            break
        seen.extend(rows)
        last = rows[-1]
    assert seen == [(i // 4, i % 4) for i in range(16)]
