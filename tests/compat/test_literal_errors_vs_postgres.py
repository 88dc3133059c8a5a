"""An untyped literal that does not convert to the type its place needs fails as in PostgreSQL
15, with the error pointing at the literal (its position), wherever it is written: VALUES,
SET, comparisons, operators, casts in either spelling; out-of-range date fields carry
PostgreSQL's DateStyle hint where it gives one."""

from __future__ import annotations

import pytest

from differential import MARKS, Ours, Reference, pair_fixture

pytestmark = MARKS

SETUP = ["create table pt (a int, b int, d date)"]

QUERIES = [
    "insert into pt values (1, 'x')",
    "insert into pt (b) values ('1.5')",
    "insert into pt (d) values ('2024-13-01')",
    "update pt set a = 'zz'",
    "select 1 + 'x'",
    "select 'x' = 1",
    "select * from pt where a = 'q'",
    "select 'abc'::int",
    "select cast('x' as int)",
    "select int4 'x'",
    "values (1), ('y')",
    "select 'maybe'::boolean",
    "select '1e400'::float8",
    "select '99999999999'::int4",
    "insert into pt values (1, 2, 'yesterday-ish')",
    # out-of-range date fields: a month or day outside any calendar hints at DateStyle
    "select '2024-01-32'::date", "select '2024-02-30'::date", "select '2024-00-10'::date",
    "select '2024-13-01 10:00'::timestamp", "select '01/32/2024'::date",
    "select '2024-01-01 25:00'::timestamp",
]

both = pair_fixture("literals", SETUP)


@pytest.mark.parametrize("query", QUERIES)
def test_query_matches_postgres(both: tuple[Reference, Ours], query: str) -> None:
    reference, ours = both
    assert ours.run(query) == reference.run(query)
