"""UPDATE ... FROM and DELETE ... USING, side by side with PostgreSQL 15: the target joined with
the other FROM items (a target row that several rows join is changed once), SET values, WHERE
and RETURNING reading the other items' columns, subqueries and joins among the items, and
PostgreSQL's errors (a missing relation or column, the target named twice). The statements run
in order on both servers."""

from __future__ import annotations

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table acct (id int primary key, bal int, region text)",
    "create table adj (acct_id int, delta int)",
    "create table reg (name text primary key, bonus int)",
    "insert into acct values (1, 100, 'n'), (2, 200, 's'), (3, 300, 'n')",
    "insert into adj values (1, 10), (2, -5), (2, 7), (9, 1)",
    "insert into reg values ('n', 1000)",
]

STATEMENTS = [
    "update acct set bal = bal + adj.delta from adj where adj.acct_id = acct.id",
    "select * from acct order by id",
    ("update acct a set bal = a.bal + r.bonus from reg r where r.name = a.region returning "
     "a.id, a.bal, r.bonus"),
    "update acct set bal = 0 from acct where true",
    "update acct set bal = acct.bal + 1 from acct b where b.id = acct.id and b.id = 1 returning *",
    ("delete from acct using adj where adj.acct_id = acct.id and adj.delta < 0 returning "
     "acct.*, adj.delta"),
    "select * from acct order by id",
    ("update acct set bal = x.s from (select acct_id, sum(delta) s from adj group by acct_id) "
     "x where x.acct_id = acct.id returning acct.id, bal"),
    ("delete from acct a using reg r, adj d where r.name = a.region and d.acct_id = a.id "
     "returning a.id"),
    "select * from acct order by id",
    "update acct set bal = 1 from nosuch where true",
    "update acct set bal = adj.nope from adj",
    "delete from acct using acct",
    "update acct set bal = bal from adj join reg on true where adj.acct_id = acct.id",
]

both = pair_fixture("update_from", SETUP)


def test_statements_match_postgres(both: tuple[Reference, Ours]) -> None:
    assert_same(both, STATEMENTS)
