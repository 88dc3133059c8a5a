"""Predicate implication for partial indexes (sql/index_expressions.py), on parse trees:
which query conditions let the planner use an index whose predicate is given."""

from __future__ import annotations

import pytest

from mirrordb.sql import index_expressions as ix
from mirrordb.sql.parser import parse


def _where(sql: str) -> object:
    statement = parse(f"select * from t where {sql}")[0]
    return statement.node["whereClause"]


def _resolve(names: list[str]) -> int | None:
    return {"a": 0, "b": 1, "c": 2}.get(names[-1])


def _implied(predicate: str, query: str) -> bool:
    given = ix._conjuncts(ix.normalized(_where(query), _resolve))
    return ix.implied(ix.normalized(_where(predicate), _resolve), given)


@pytest.mark.parametrize(("predicate", "query"), [
    ("a > 0", "a > 0"), ("a > 0", "a > 5"), ("a > 0", "a = 1"), ("a >= 0", "a = 0"),
    ("a > 0", "5 < a"), ("a < 10", "a <= 9"), ("a is not null", "a = 3"),
    ("c is null", "c is null and a = 1"), ("a > 0 and b < 3", "b < 1 and a > 2 and c = 'x'"),
    ("lower(c) = 'x'", "LOWER(t.c) = 'x'"), ("c > 'm'", "c > 'm'"), ("a > 1.5", "a > 2"),
])
def test_implied(predicate: str, query: str) -> None:
    assert _implied(predicate, query)


@pytest.mark.parametrize(("predicate", "query"), [
    ("a > 0", "a > -1"), ("a > 0", "a >= 0"), ("a > 0", "b > 5"), ("a = 1", "a > 0"),
    ("a is not null", "b = 3"), ("c is null", "c is not null"), ("a > 0 and b < 3", "a > 1"),
    ("c > '2020-10-01'", "c > '2020-9-1'"), ("c > 'm'", "c = 'q'"),
    ("a > 0", "a > 0 or b = 1"), ("a < 10", "a > 2"), ("a > 0", "a > 'x'"),
])
def test_not_implied(predicate: str, query: str) -> None:
    assert not _implied(predicate, query)
