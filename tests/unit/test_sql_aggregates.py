"""Unit tests of sql/aggregates.py: resolution and the state machines."""

from __future__ import annotations

import decimal
from collections.abc import Sequence

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import aggregates as A
from mirrordb.sql import types as T
from mirrordb.storage.datum import Interval

D = decimal.Decimal


def aggregate(name: str, arg_types: Sequence[int], rows: Sequence[tuple[object, ...]]):
    """Run an aggregate as the executor does (strict: rows with a NULL argument skipped)."""
    resolved = A.resolve_aggregate(name, arg_types)
    definition = resolved.definition
    state = definition.initial()
    for row in rows:
        if definition.strict and any(value is None for value in row):
            continue
        state = definition.transition(state, *row)
    return resolved, definition.final(state)


def test_is_aggregate() -> None:
    assert A.is_aggregate("count") and A.is_aggregate("SUM") and A.is_aggregate("array_agg")
    assert A.is_aggregate("pg_catalog.max") and not A.is_aggregate("upper")


@pytest.mark.parametrize("name,arg_types,rows,result_type,expected", [
    ("count", [], [(), (), ()], T.INT8_OID, 3),
    ("count", [T.TEXT_OID], [("a",), (None,)], T.INT8_OID, 1),
    ("sum", [T.INT4_OID], [(1,), (2,), (None,)], T.INT8_OID, 3),
    ("sum", [T.INT8_OID], [(2**63 - 1,), (1,)], T.NUMERIC_OID, D(2**63)),
    ("sum", [T.NUMERIC_OID], [(D("1.5"),), (D("2.25"),)], T.NUMERIC_OID, D("3.75")),
    ("sum", [T.FLOAT8_OID], [(0.1,), (0.2,)], T.FLOAT8_OID, 0.30000000000000004),
    ("sum", [T.INTERVAL_OID], [(Interval(0, 1, 0),), (Interval(1, 0, 5),)], T.INTERVAL_OID,
     Interval(1, 1, 5)),
    ("sum", [T.INT4_OID], [], T.INT8_OID, None),
    ("avg", [T.INT4_OID], [(1,), (2,)], T.NUMERIC_OID, D("1.5000000000000000")),
    ("avg", [T.NUMERIC_OID], [(D("1.5"),), (D("2.25"),), (D(3),)], T.NUMERIC_OID,
     D("2.2500000000000000")),
    ("avg", [T.FLOAT8_OID], [(0.1,), (0.2,), (0.4,)], T.FLOAT8_OID, 0.23333333333333336),
    ("avg", [T.INTERVAL_OID], [(Interval(0, 1, 0),), (Interval(0, 0, 0),)], T.INTERVAL_OID,
     Interval(0, 0, 12 * 3600 * 10**6)),
    ("min", [T.INT4_OID], [(3,), (1,), (None,)], T.INT4_OID, 1),
    ("max", [T.FLOAT8_OID], [(float("inf"),), (float("nan"),)], T.FLOAT8_OID, "nan"),
    ("max", [T.TEXT_OID], [("b",), ("a",)], T.TEXT_OID, "b"),
    ("max", [T.INT4_ARRAY_OID], [([1, 2],), ([1, 3],)], T.INT4_ARRAY_OID, [1, 3]),
    ("bool_and", [T.BOOL_OID], [(True,), (False,)], T.BOOL_OID, False),
    ("bool_or", [T.BOOL_OID], [(True,), (None,)], T.BOOL_OID, True),
    ("string_agg", [T.TEXT_OID, T.TEXT_OID], [("a", ","), (None, ";"), ("b", ";"), ("c", None)],
     T.TEXT_OID, "a;bc"),
    ("array_agg", [T.INT4_OID], [(1,), (None,)], T.INT4_ARRAY_OID, [1, None]),
    ("array_agg", [T.INT4_OID], [], T.INT4_ARRAY_OID, None),
    ("stddev", [T.INT4_OID], [(1,), (2,), (3,), (4,)], T.NUMERIC_OID, D("1.2909944487358056")),
    ("var_pop", [T.INT4_OID], [(1,), (2,), (3,), (4,)], T.NUMERIC_OID, D("1.2500000000000000")),
    ("variance", [T.INT4_OID], [(5,), (5,)], T.NUMERIC_OID, D(0)),
    ("stddev", [T.INT4_OID], [(1,)], T.NUMERIC_OID, None),
    ("stddev_pop", [T.FLOAT8_OID], [(1.5,), (2.25,), (3.125,)], T.FLOAT8_OID, 0.6640573937712179),
    ("bit_or", [T.INT4_OID], [(12,), (10,)], T.INT4_OID, 14),
    ("json_agg", [T.INT4_OID], [(1,), (None,)], T.JSON_OID, "[1, null]"),
])
def test_aggregate_results(name, arg_types, rows, result_type, expected) -> None:
    resolved, result = aggregate(name, arg_types, rows)
    assert resolved.result_type == result_type
    if expected == "nan":
        assert result != result
    else:
        assert result == expected


def test_argument_types_and_errors() -> None:
    assert A.resolve_aggregate("sum", [T.INT2_OID]).arg_types == (T.INT2_OID,)
    assert A.resolve_aggregate("count", [T.UNKNOWN_OID]).arg_types == (T.UNKNOWN_OID,)
    with pytest.raises(MirrordbError) as raised:
        A.resolve_aggregate("avg", [T.UNKNOWN_OID])
    assert (raised.value.sqlstate, raised.value.message) == (
        "42725", "function avg(unknown) is not unique")
    assert A.resolve_aggregate("string_agg", [T.VARCHAR_OID, T.UNKNOWN_OID]).arg_types == \
        (T.TEXT_OID, T.TEXT_OID)
    with pytest.raises(MirrordbError) as raised:
        A.resolve_aggregate("sum", [T.TEXT_OID])
    assert (raised.value.sqlstate, raised.value.message) == (
        "42883", "function sum(text) does not exist")
    with pytest.raises(MirrordbError) as raised:
        aggregate("sum", [T.INT8_OID], [])                  # fine: NULL
        aggregate("sum", [T.FLOAT8_OID], [(1e308,), (1e308,)])
    assert raised.value.message == "value out of range: overflow"


def test_states_are_independent_per_group() -> None:
    definition = A.resolve_aggregate("array_agg", [T.TEXT_OID]).definition
    first, second = definition.initial(), definition.initial()
    first = definition.transition(first, "a")
    second = definition.transition(second, "b")
    assert definition.final(first) == ["a"] and definition.final(second) == ["b"]
