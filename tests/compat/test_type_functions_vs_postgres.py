"""Functions about types, side by side with PostgreSQL 15: ``pg_typeof`` answers a regtype (shown
by name, compared with other regtypes, cast to oid or text), ``format_type``, regtype and
regclass input and output, ``to_regclass``/``to_regtype``. The statements run in order on both."""

from __future__ import annotations

from differential import MARKS, Ours, Reference, assert_same, pair_fixture

pytestmark = MARKS

SETUP = ["create table typed (a varchar(3), b numeric(5, 2), c int)",
         "insert into typed values ('x', 1.5, 1)"]

STATEMENTS = [
    "select pg_typeof(1)", "select pg_typeof('abc')", "select pg_typeof(null)",
    "select pg_typeof(1)::text, pg_typeof('a'::text) = 'text'::regtype",
    "select pg_typeof(1)::oid", "select pg_typeof(now())", "select pg_typeof(1.5)",
    "select pg_typeof(a), pg_typeof(b), pg_typeof(c) from typed",
    "select pg_typeof(array[1, 2]), pg_typeof(1) in ('integer'::regtype, 'text'::regtype)",
    "select case when pg_typeof(1) = 'int4'::regtype then 'yes' end",
    "select pg_typeof(1) || 'x'", "select pg_typeof(pg_typeof(1))",
    "select pg_typeof()", "select pg_typeof(1, 2)",
    "select 'integer'::regtype, 'int4'::regtype::oid, 23::regtype",
    "select format_type(23, null), format_type(1043, 14), format_type(1700, 327686)",
    "select 'pg_class'::regclass, 'pg_class'::regclass::oid",
    "select to_regclass('pg_class'), to_regclass('nope'), to_regtype('int')",
]

both = pair_fixture("type_functions", SETUP)


def test_statements_match_postgres(both: tuple[Reference, Ours]) -> None:
    assert_same(both, STATEMENTS)
