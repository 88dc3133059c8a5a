"""GROUP BY on a primary key and the errors of WHERE, side by side with PostgreSQL 15.

Grouping on a table's primary key makes its other columns usable ungrouped (PostgreSQL's
functional dependency), through joins too; a non-boolean WHERE and an aggregate in WHERE (of
SELECT, UPDATE, DELETE) fail with PostgreSQL's message and position."""

from __future__ import annotations

import pytest

from differential import MARKS, Ours, Reference, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table emp (id int primary key, name text, dept int)",
    "create table dept (id int primary key, title text)",
    "create table loose (id int, note text)",
    "insert into emp values (1, 'a', 10), (2, 'b', 10), (3, 'c', 20)",
    "insert into dept values (10, 'x'), (20, 'y')",
    "insert into loose values (1, 'p'), (1, 'q')",
]

QUERIES = [
    "select e.id, e.name, count(*) from emp e group by e.id order by e.id",
    "select id, name from emp group by id having name > 'a' order by id",
    ("select d.id, d.title, count(e.id) from dept d left join emp e on e.dept = d.id "
     "group by d.id order by d.id"),
    "select d.title, count(*) from dept d join emp e on e.dept = d.id group by d.id order by 1",
    "select e.name, d.title from emp e join dept d on d.id = e.dept group by e.id order by 1",
    ("select e.name, d.title from emp e join dept d on d.id = e.dept group by e.id, d.id "
     "order by 1"),
    "select name from emp group by dept",
    "select * from emp group by id order by id",
    "select emp.* from emp group by id order by id",
    "select id, name, sum(dept) over () from emp group by id order by id",
    "select note from loose group by id",
    "select * from emp where name",
    "select * from emp where length(name)",
    "select * from emp e join dept d on d.id = e.dept where e.id",
    "select * from emp where count(*) > 1",
    "update emp set dept = 1 where count(*) > 1",
    "delete from emp where sum(dept) > 1",
    "update emp set dept = 1 where dept",
    "delete from emp where name",
    "insert into emp values (count(*), 'z', 1)",
]

both = pair_fixture("grouping", SETUP)


@pytest.mark.parametrize("query", QUERIES)
def test_query_matches_postgres(both: tuple[Reference, Ours], query: str) -> None:
    reference, ours = both
    assert ours.run(query) == reference.run(query)
