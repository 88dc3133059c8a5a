"""Storing a value in a column, side by side with PostgreSQL 15: INSERT ... VALUES, INSERT ...
SELECT and UPDATE ... SET convert it only through an implicit or assignment cast (a number into
a narrower number, anything into text), refuse the others with 42804 and PostgreSQL's hint
(text into an integer, date or boolean column, an integer into a boolean one), and give an
untyped literal the column's type. The statements run in order on both servers."""

from __future__ import annotations

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table kv (k int primary key, v int, note text, f float8, n numeric, vc varchar(3), "
    "b bool, d date)",
    "insert into kv values (1, 10, '5', 1.5, 2.5, 'abc', true, '2024-01-01')",
]

STATEMENTS = [
    "update kv set v = note",
    "insert into kv (k, v) select 2, note from kv",
    "insert into kv (k, v) values (3, '7'::text)",
    "update kv set note = v",
    "update kv set note = d",
    "update kv set vc = v",
    "update kv set v = f",
    "update kv set v = n",
    "update kv set f = note",
    "update kv set b = note",
    "update kv set b = v",
    "update kv set d = note",
    "update kv set v = b",
    "update kv set n = f",
    "update kv set vc = note",
    "insert into kv (k, v, note) select 4, '7', 'x'",
    "insert into kv (k, d) select 6, '2024-02-02'",
    "insert into kv (k, v) select 7, 2.7",
    "insert into kv (k, note) select 8, 42",
    "insert into kv (k, v) values (9, 3.5)",
    "insert into kv (k, v) values (10, '4')",
    "update kv set v = '12' where k = 1",
    "insert into kv (k, v) values (11, 2147483648)",
    "insert into kv (k, vc) values (12, 'abcd')",
    "insert into kv (k, vc) values (12, 'abcd'::text)",
    "select k, v, note, f, n, vc, b, d from kv order by k",
]

both = pair_fixture("assignment", SETUP, with_tags=True)


def test_statements_match_postgres(both: tuple[Reference, Ours]) -> None:
    assert_same(both, STATEMENTS)
