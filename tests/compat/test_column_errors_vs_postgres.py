"""Names that resolve to nothing, side by side with PostgreSQL 15: the error, its position and
PostgreSQL's hint naming the nearest column ("Perhaps you meant to reference the column
"emp.name"."; two when two are equally near, none when more are or the nearest is too far),
the qualifier counting towards the distance; a table named by its name after an alias.
The statements run in order on both servers."""

from __future__ import annotations

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table emp (id int primary key, name text, dept int)",
    "create table dep (did int primary key, dname text, name text)",
]

STATEMENTS = [
    "select nmae from emp",
    "select e.nmae from emp e",
    "select x.name from emp e",
    "select nam from emp, dep",
    "select e.nme from emp e, dep d",
    "select emp.dnam from emp, dep",
    "select id from emp e where exists (select 1 from dep where dep.did = e.idd)",
    "select zzz from emp",
    "select nm from emp",
    "select ide from emp",
    "select e.id from emp",
    "select emp.id from emp e",
    "select * from emp join dep on emp.name = dep.dnmae",
    "update emp set nmae = 1",
    "insert into emp (nmae) values (1)",
    "select nmae from emp order by 1",
    "select id from emp order by nmae",
    "select count(*) from emp group by nmae",
    "select nme from emp, dep",
    "select i from emp",
    "select nm from emp",
    "select (select nmae from dep) from emp",
    "select dnam from emp",
    "select e.dnmae from emp e join dep d on true",
    "select * from emp join dep using (id)",
    "select nam from emp join dep using (name)",
]

both = pair_fixture("column_errors", SETUP)


def test_statements_match_postgres(both: tuple[Reference, Ours]) -> None:
    assert_same(both, STATEMENTS)
