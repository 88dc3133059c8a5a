"""Joins, side by side with PostgreSQL 15: JOIN ... USING and NATURAL JOIN merge each USING
column into one (first in ``*``, of the sides' common type, COALESCE'd in a FULL JOIN, reachable
unqualified while each side's own stays reachable qualified); a join's alias (``(a JOIN b) AS
j(x, y)``) names the join's columns and hides the tables inside; two FROM items may not share a
name (42712); views over such joins print as pg_get_viewdef prints them. The statements run
in order on both servers."""

from __future__ import annotations

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

SETUP = [
    "create table emp (id int primary key, name text, dept int)",
    "insert into emp values (1, 'a', 10), (2, 'b', 20)",
    "create table dep (did int primary key, dname text)",
    "insert into dep values (10, 'x'), (20, 'y')",
    "create table e2 (id int primary key, x text)",
    "insert into e2 values (1, 'q')",
    "create table t_int (k int, v text)",
    "create table t_big (k bigint, w text)",
    "insert into t_int values (1, 'a'), (2, 'b')",
    "insert into t_big values (2, 'z'), (3, 'y')",
    "create table t_txt (k text)",
]

STATEMENTS = [
    "select j.name, j.dname from (emp join dep on dept = did) j order by 1",
    "select j.id from (emp a join emp b on true) j",
    "select * from (emp a join dep d on a.dept = d.did) j order by 1",
    "select j.* from (emp a join dep d on a.dept = d.did) j order by 1",
    "select j.did from (emp a join dep d on a.dept = d.did) as j(x, y, z) order by 1",
    "select j.x from (emp a join dep d on a.dept = d.did) as j(x, y, z) order by 1",
    "select name from (emp a join dep d on a.dept = d.did) j order by 1",
    "select 1 from (emp a join emp b on true) j, emp a",
    "select j.id from (emp join emp e2 using (id)) j",
    "select * from emp join e2 using (id)",
    "select id from emp join e2 using (id)",
    "select * from emp natural join e2",
    "select * from emp left join e2 using (id) order by 1",
    "select * from emp full join e2 using (id) order by 1",
    "select id from emp full join e2 using (id) order by 1",
    "select emp.*, e2.* from emp join e2 using (id)",
    "select emp.id, e2.id, id from emp left join e2 using (id) order by 1",
    "select * from emp join e2 using (nope)",
    "select * from emp join e2 using (x)",
    "select * from emp join dep on true join e2 using (id) order by 1, dname",
    "select * from emp a join emp b using (id, name) join e2 using (id) order by 1",
    "select count(*) from emp a natural join emp b",
    "select * from emp a natural join emp b natural join e2",
    "select j.* from (emp join e2 using (id)) j",
    "select * from (emp join e2 using (id)) j(k)",
    "select k from (emp join e2 using (id)) j(k)",
    "select j.id, j.x from (emp left join e2 using (id)) as j order by 1",
    "select * from emp join e2 using (id) where id = 1",
    "select id, count(*) from emp join e2 using (id) group by id",
    "select * from emp join e2 using (id) order by id",
    "select * from t_int full join t_big using (k) order by k",
    "select pg_typeof(k) from t_int join t_big using (k)",
    "select * from t_int join t_txt using (k)",
    "select * from emp, e2 as emp",
    "select * from emp e join emp e on true",
    "select id from emp, emp",
    "select 1 from emp, emp e",
    "select 1 from emp e, (select 1) e",
    "select 1 from (emp a join emp b on true), emp a",
    "select 1 from emp a join emp b using (id) join emp a on true",
    "with emp as (select 1) select 1 from emp, public.emp",
    "select count(*) from emp, generate_series(1, 2) emp",
    "select count(*) from generate_series(1, 2) g, generate_series(1, 2) g",
    "select count(*) from emp a, emp b where a.id = b.id",
    # views over joins: stored and printed as PostgreSQL's pg_get_viewdef prints them
    "create view v1 as select * from emp join e2 using (id)",
    "select * from v1",
    "select pg_get_viewdef('v1')",
    "create view v2 as select * from (emp join e2 using (id)) j",
    "select * from v2",
    "select pg_get_viewdef('v2')",
    "create view v3 as select j.id, j.x from (emp left join e2 using (id)) j",
    "select * from v3 order by 1",
    "select pg_get_viewdef('v3')",
    "create view v4 as select * from emp full join e2 using (id)",
    "select pg_get_viewdef('v4')",
    "select * from v4 order by 1",
    "create view v5 as select * from emp right join e2 using (id)",
    "select pg_get_viewdef('v5')",
    "create view v6 as select id from emp full join e2 using (id)",
    "select pg_get_viewdef('v6')",
    "select * from v6 order by 1",
    "create view v8 as select * from emp a natural join emp b",
    "select pg_get_viewdef('v8')",
    "select * from v8 order by 1",
    "create view v9 as select id, name from emp join e2 using (id)",
    "select pg_get_viewdef('v9')",
]

both = pair_fixture("joins", SETUP)


def test_statements_match_postgres(both: tuple[Reference, Ours]) -> None:
    assert_same(both, STATEMENTS)
