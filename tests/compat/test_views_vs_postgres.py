"""Views, side by side with a real PostgreSQL 15: CREATE [OR REPLACE] VIEW, DROP VIEW, ALTER
VIEW, dependencies, queries through views, privileges, pg_views and pg_get_viewdef.

Each scenario is a list of statements run in order on a throw-away PostgreSQL server
(tests/compat/types_pg_server.py) and on a mirrordb Session over a fresh cluster. Every
statement must give the same outcome: result columns (names and type OIDs) and rows as text;
or the same error (SQLSTATE, message, detail, hint, position); and the same notices. Scenarios
name their own objects, so they may run in any order and on any worker.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mirrordb.sql import types as T

from differential import MARKS, Ours, Reference, assert_same, ok, paired

pytestmark = MARKS

SETUP = [
    "create table t (a int, b text)",
    "insert into t values (1, 'x'), (2, 'y'), (3, null)",
    "create table u (id int, t_a int, note varchar(10))",
    "insert into u values (10, 1, 'one'), (20, 2, 'two'), (30, 9, 'nine')",
]

SCENARIOS: dict[str, list[str]] = {
    "create and query": [
        "create view v1 as select * from t",
        "select * from v1 order by a",
        "select a, b from v1 where b = 'y'",
        "select count(*), max(a) from v1",
        "create view v2 as select a, b from t where a > 1",
        "select * from v2 order by 1",
        "select v2.a, u.note from v2 join u on u.t_a = v2.a order by 1",
        "select * from (select a from v2) s where s.a < 3",
        "select a from t where a in (select a from v2) order by a",
        "select (select count(*) from v2) as n",
        "create view v3 (x, y) as select t.a + 1, upper(b) from t",
        "select * from v3 order by x",
        "select x from v3 where y is null",
        "create view v4 as select t.a, u.note from t join u on u.t_a = t.a",
        "select * from v4 order by a",
        "create view v5 as select b, count(*) as n, sum(a) from t group by b having count(*) >= 1",
        "select * from v5 order by b nulls first",
        "create view v6 as select distinct a from t left join u on t.a = u.id",
        "select * from v6 order by a",
        "create view v7 as select a, 'lit' as c, 1.5 as d from v1 where b is not null",
        "select * from v7 order by a",
        "create view v8 as select * from (select a from t) s where s.a in (1, 2)",
        "select * from v8 order by a",
        "create view v9 as select a from t where exists (select 1 from u where u.id = t.a)",
        "select * from v9",
        "create view v10 as select a, b from t order by a desc limit 2",
        "select * from v10",
        "create view v11 as select v3.x, v4.note from v3, v4 where v3.x = v4.a + 1",
        "select * from v11 order by x",
        "select schemaname, viewname, viewowner, definition from pg_views "
        "where schemaname = 'public' order by viewname",
        "select pg_get_viewdef('v2'::regclass, true)",
        "select pg_get_viewdef('v4'::regclass, true)",
        "select pg_get_viewdef('v5'::regclass)",
        "select pg_get_viewdef('v2')",
        "select pg_get_viewdef('t'::regclass)",
        "select relname, relkind, relnatts from pg_class where relname in ('v1', 'v3') "
        "order by 1",
        "select attname, atttypid::regtype, attnum from pg_attribute "
        "where attrelid = 'v3'::regclass order by attnum",
        "select table_name, table_type from information_schema.tables "
        "where table_name in ('t', 'v1') order by 1",
        "select count(*) from pg_rewrite where ev_class = 'v1'::regclass "
        "and rulename = '_RETURN'",
    ],
    "errors": [
        "create view e1 as select a from t",
        "create view e1 as select a from t",
        "create view t as select 1",
        "create view e2 (x, y, z) as select a, b from t",
        "create view e3 as select a, a from t",
        "create view e4 as select nosuch from t",
        "create view e5 as select * from nosuch",
        "drop view t",
        "drop table e1",
        "drop view nosuch",
        "drop view if exists nosuch",
        "drop view if exists e1, nosuch",
        "select * from e1",
        "drop index e1",
        "alter view t rename to t2",
        "create view e7 as select a from t",
        "copy e7 to stdout",
        "truncate e7",
        "create index on e7 (a)",
        "alter table e7 add column b int",
        "alter view e7 drop column a",
        "select * from e7 for update",
        "vacuum e7",
        "drop view e7 restrict",
    ],
    "replace": [
        "create view r1 as select a, b from t",
        "create or replace view r1 as select a, b, a * 2 as c from t",
        "select * from r1 order by a",
        "create or replace view r1 as select a from t",
        "create or replace view r1 as select b, a, a * 2 as c from t",
        "create or replace view r1 as select a, b::varchar, a * 2 as c from t",
        "create or replace view r1 as select a, b, a * 3 as c from t where a > 1",
        "select * from r1 order by a",
        "create or replace view t as select 1 as a",
        "create or replace view r2 as select 1 as one",
        "select * from r2",
        "select definition from pg_views where viewname = 'r1'",
    ],
    "dependencies": [
        "create table d (k int, w text)",
        "insert into d values (1, 'p')",
        "create view dv1 as select k, w from d",
        "create view dv2 as select k from dv1 where k > 0",
        "create view dv3 as select w from d",
        "drop table d",
        "drop view dv1",
        "drop view dv1, dv2",
        "select * from dv3",
        "alter table d drop column w",
        "drop table d cascade",
        "select * from dv3",
        "create table d2 (k int)",
        "create view dv4 as select k from d2",
        "drop table d2 cascade",
        "select count(*) from pg_views where viewname like 'dv%'",
    ],
    "rename": [
        "create table rt (a int, b int)",
        "insert into rt values (1, 2)",
        "create view rv as select a, b from rt",
        "alter view rv rename to rv2",
        "select * from rv2",
        "select * from rv",
        "alter view rv2 rename column a to aa",
        "select aa, b from rv2",
        "select pg_get_viewdef('rv2'::regclass, true)",
        "alter table rt rename to rt2",
        "select * from rv2",
        "alter view nosuch rename to x",
        "alter view if exists nosuch rename to x",
    ],
    "shapes": [
        "create table s (a int, b text)",
        "insert into s values (1, 'x'), (2, 'y')",
        "create view sw as with w(x) as (select a from s), z as (select 1) select * from w",
        "select * from sw order by x",
        "select pg_get_viewdef('sw')",
        "create view su as select a from s union all select a + 10 from s",
        "select * from su order by a",
        "select pg_get_viewdef('su', true)",
        "create view so as select a + 1, lower(b) from s order by a + 1, lower(b), a",
        "select * from so",
        "select pg_get_viewdef('so')",
        "select pg_get_viewdef('so', true)",
        "create view sr as select a as b, b as a from s order by a",
        "select * from sr",
        "select pg_get_viewdef('sr', true)",
        "create view sq as select a from s where b = 'x' or a between 1 and 3",
        "select pg_get_viewdef('sq', true)",
        "create view sp as select $1",
        "create view sa as select s.*, 1 as one from s",
        "alter table s add column c int",
        "select * from sa order by a",
        "create or replace view sx as select 1 as x",
        "create or replace view sx as select x from sx",
        "select * from sx",
        "select table_name, view_definition, check_option from information_schema.views "
        "where table_name in ('sw', 'su', 'so') order by table_name",
        "select pg_get_viewdef('sa'::regclass, 0)",
    ],
    "privileges": [
        "create role viewer",
        "create table secret (s int)",
        "insert into secret values (42)",
        "create view open_secret as select s from secret",
        "grant select on open_secret to viewer",
        "set role viewer",
        "select * from open_secret",
        "select * from secret",
        "reset role",
        "revoke select on open_secret from viewer",
        "set role viewer",
        "select * from open_secret",
        "reset role",
        "select relacl is null from pg_class where relname = 'open_secret'",
    ],
}


@pytest.fixture(scope="module")
def both(template_cluster: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Reference, Ours]]:
    with paired(template_cluster, str(tmp_path_factory.mktemp("views")), SETUP,
                detailed=True) as pair:
        yield pair


def test_scenarios_cover_sixty_statements() -> None:
    assert sum(len(statements) for statements in SCENARIOS.values()) >= 60


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_matches_postgres(both: tuple[Reference, Ours], scenario: str) -> None:
    """Every statement of the scenario, in order; all differences are reported at once."""
    assert_same(both, SCENARIOS[scenario])


@pytest.mark.parametrize(("statement", "message"), [
    ("insert into refused values (5)", 'cannot insert into view "refused"'),
    ("update refused set a = 1", 'cannot update view "refused"'),
    ("delete from refused", 'cannot delete from view "refused"'),
])
def test_what_mirrordb_refuses(both: tuple[Reference, Ours], statement: str,
                               message: str) -> None:
    """Where mirrordb differs on purpose: changes through a view (PostgreSQL updates simple
    views automatically), refused with 0A000 and no change (temporary views:
    test_persistence_compat.py)."""
    _, ours = both
    ours.run("create view refused as select a from t")
    try:
        outcome = ours.run(statement)
        assert outcome[:3] == ("error", "0A000", message)
        assert ours.run("select count(*) from t") == ok([("count", T.INT8_OID)], [("3",)])
    finally:
        ours.run("drop view refused")


OWNER_PRIVILEGES = [
    "create role vowner",
    "create role vreader",
    "create table owned_secret (s int)",
    "insert into owned_secret values (7)",
    "set role vowner",
    "create view vowned as select s from owned_secret",
    "reset role",
    "grant select on owned_secret to vowner",
    "set role vowner",
    "create view vowned as select s from owned_secret",
    "grant select on vowned to vreader",
    "reset role",
    "set role vreader",
    "select * from vowned",
    "select * from owned_secret",
    "reset role",
    "revoke select on owned_secret from vowner",
    "set role vreader",
    "select * from vowned",
    "reset role",
    "select * from vowned",
    "select viewname, viewowner from pg_views where viewname = 'vowned'",
]


def test_view_reads_with_its_owners_privileges(both: tuple[Reference, Ours]) -> None:
    """The relations a view reads are checked against the view's owner, not the user asking:
    a reader granted the view alone reads through it; once the owner loses the table, nobody
    does, superusers included. (PostgreSQL 15's public schema needs CREATE granted first;
    mirrordb has no schema privileges.)"""
    reference, ours = both
    differences = []
    for statement in OWNER_PRIVILEGES:
        expected, got = reference.run(statement), ours.run(statement)
        if expected != got:
            differences.append(f"{statement}\n  postgres: {expected}\n  mirrordb: {got}")
        if statement == "create role vowner":
            reference.run("grant create on schema public to vowner")
    assert not differences, "\n".join(differences)
