"""Unit tests of sql/operators.py: resolution, errors, and the implementations."""

from __future__ import annotations

import datetime
import decimal

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import operators as O
from mirrordb.sql import types as T
from mirrordb.storage.datum import Interval

D = decimal.Decimal


def run(name: str, left_type: int | None, right_type: int, left, right=None):
    resolved = O.resolve_operator(name, left_type, right_type)
    if left_type is None:
        return resolved.impl(T.cast(left, right_type, resolved.right_type))
    return resolved.impl(T.cast(left, left_type, resolved.left_type or 0),
                         T.cast(right, right_type, resolved.right_type))


def error_of(function, *args) -> tuple[str, str]:
    with pytest.raises(MirrordbError) as raised:
        function(*args)
    return raised.value.sqlstate, raised.value.message


@pytest.mark.parametrize("name,left,right,expected", [
    ("+", T.INT4_OID, T.INT4_OID, (551, 23, 23, 23)),
    ("+", T.INT4_OID, T.UNKNOWN_OID, (551, 23, 23, 23)),
    ("+", T.INT2_OID, T.INT8_OID, (822, 21, 20, 20)),
    ("=", T.INT4_OID, T.NUMERIC_OID, (1752, 1700, 1700, 16)),
    ("/", T.INT4_OID, T.FLOAT8_OID, (593, 701, 701, 701)),
    ("<", T.DATE_OID, T.TIMESTAMPTZ_OID, (2358, 1082, 1184, 16)),
    ("||", T.TEXT_OID, T.INT4_OID, (2779, 25, 23, 25)),
    ("||", T.INT4_ARRAY_OID, T.INT4_OID, (349, 1007, 23, 1007)),
    ("||", T.INT4_OID, T.INT4_ARRAY_OID, (374, 23, 1007, 1007)),
    ("~~", T.TEXT_OID, T.UNKNOWN_OID, (1209, 25, 25, 16)),
    ("=", T.VARCHAR_OID, T.UNKNOWN_OID, (98, 25, 25, 16)),
    ("->>", T.JSONB_OID, T.UNKNOWN_OID, (3477, 3802, 25, 25)),
    ("-", T.TIMESTAMPTZ_OID, T.TIMESTAMPTZ_OID, (1328, 1184, 1184, 1186)),
])
def test_binary_resolution(name, left, right, expected) -> None:
    resolved = O.resolve_operator(name, left, right)
    assert (resolved.oid, resolved.left_type, resolved.right_type, resolved.result_type) == \
        expected


def test_prefix_resolution_and_errors() -> None:
    resolved = O.resolve_operator("-", None, T.INT2_OID)
    assert (resolved.oid, resolved.left_type, resolved.right_type) == (559, None, 21)
    with pytest.raises(MirrordbError) as raised:
        O.resolve_operator("-", None, T.TEXT_OID)
    assert (raised.value.sqlstate, raised.value.message, raised.value.hint) == (
        "42883", "operator does not exist: - text", "No operator matches the given name and "
        "argument type. You might need to add an explicit type cast.")
    with pytest.raises(MirrordbError) as raised:
        O.resolve_operator("+", T.INT4_OID, T.TEXT_OID)
    assert (raised.value.sqlstate, raised.value.message) == (
        "42883", "operator does not exist: integer + text")
    assert raised.value.hint is not None and "explicit type casts" in raised.value.hint
    assert error_of(O.resolve_operator, "+", T.UNKNOWN_OID, T.UNKNOWN_OID) == (
        "42725", "operator is not unique: unknown + unknown")


def test_resolution_is_cached() -> None:
    first = O.resolve_operator("*", T.INT8_OID, T.INT4_OID)
    assert O.resolve_operator("*", T.INT8_OID, T.INT4_OID) is first


@pytest.mark.parametrize("name,left_type,right_type,left,right,expected", [
    ("/", T.INT4_OID, T.INT4_OID, -7, 2, -3), ("%", T.INT4_OID, T.INT4_OID, -7, 3, -1),
    ("%", T.INT4_OID, T.INT4_OID, -2**31, -1, 0), ("<<", T.INT4_OID, T.INT4_OID, 1, 31, -2**31),
    ("<<", T.INT4_OID, T.INT4_OID, 1, 32, 1), (">>", T.INT8_OID, T.INT4_OID, -8, 1, -4),
    ("#", T.INT2_OID, T.INT2_OID, 12, 10, 6), ("^", T.FLOAT8_OID, T.FLOAT8_OID, 2.0, 10.0, 1024.0),
    ("/", T.NUMERIC_OID, T.NUMERIC_OID, D(1), D(3), D("0.33333333333333333333")),
    ("*", T.NUMERIC_OID, T.NUMERIC_OID, D("1.10"), D("2.200"), D("2.42000")),
    ("^", T.NUMERIC_OID, T.NUMERIC_OID, D(2), D(10), D("1024.0000000000000000")),
    ("=", T.FLOAT8_OID, T.FLOAT8_OID, float("nan"), float("nan"), True),
    ("<", T.FLOAT8_OID, T.FLOAT8_OID, float("nan"), 1.0, False),
    ("=", T.BPCHAR_OID, T.BPCHAR_OID, "ab  ", "ab", True),
    ("=", T.INTERVAL_OID, T.INTERVAL_OID, Interval(1, 0, 0), Interval(0, 30, 0), True),
    ("||", T.TEXT_OID, T.BOOL_OID, "x", True, "xtrue"),
    ("~~", T.TEXT_OID, T.TEXT_OID, "a%c", "a\\%c", True),
    ("~~*", T.TEXT_OID, T.TEXT_OID, "ABC", "a_c", True),
    ("~~*", T.TEXT_OID, T.TEXT_OID, "É", "é", False),
    ("~", T.TEXT_OID, T.TEXT_OID, "pg_class", "^(pg_class)$", True),
    ("~", T.TEXT_OID, T.TEXT_OID, "a1", "^[[:alpha:]][[:digit:]]$", True),
    ("!~*", T.TEXT_OID, T.TEXT_OID, "ABC", "b", False),
    ("->", T.JSON_OID, T.TEXT_OID, '{"a": [1,  2]}', "a", "[1,  2]"),
    ("->>", T.JSONB_OID, T.INT4_OID, '["x", "y"]', -1, "y"),
    ("->>", T.JSONB_OID, T.TEXT_OID, '{"a": null}', "a", None),
    ("@>", T.JSONB_OID, T.JSONB_OID, '{"a": {"b": 1}, "c": 2}', '{"a": {}}', True),
    ("?", T.JSONB_OID, T.TEXT_OID, '["a", "b"]', "b", True),
    ("@>", T.INT4_ARRAY_OID, T.INT4_ARRAY_OID, [1, 2, 3], [3, 1], True),
    ("-", T.DATE_OID, T.DATE_OID, datetime.date(2024, 3, 1), datetime.date(2024, 2, 1), 29),
    ("+", T.DATE_OID, T.INTERVAL_OID, datetime.date(2024, 1, 31), Interval(1, 0, 0),
     datetime.datetime(2024, 2, 29)),
    ("-", T.TIMESTAMP_OID, T.TIMESTAMP_OID, datetime.datetime(2024, 3, 31, 10),
     datetime.datetime(2024, 1, 1, 12), Interval(0, 89, 22 * 3600 * 10**6)),
    ("*", T.INTERVAL_OID, T.FLOAT8_OID, Interval(1, 0, 0), 1.5, Interval(1, 15, 0)),
    ("/", T.INTERVAL_OID, T.FLOAT8_OID, Interval(0, 0, 3600 * 10**6), 3.0,
     Interval(0, 0, 1200 * 10**6)),
    ("-", T.TIME_OID, T.INTERVAL_OID, datetime.time(0, 30), Interval(0, 0, 3600 * 10**6),
     datetime.time(23, 30)),
])
def test_operator_results(name, left_type, right_type, left, right, expected) -> None:
    assert run(name, left_type, right_type, left, right) == expected


@pytest.mark.parametrize("name,left_type,right_type,left,right,sqlstate,message", [
    ("+", T.INT4_OID, T.INT4_OID, 2**31 - 1, 1, "22003", "integer out of range"),
    ("*", T.INT2_OID, T.INT2_OID, 200, 200, "22003", "smallint out of range"),
    ("-", T.INT8_OID, T.INT8_OID, -2**63, 1, "22003", "bigint out of range"),
    ("/", T.INT4_OID, T.INT4_OID, 1, 0, "22012", "division by zero"),
    ("/", T.INT4_OID, T.INT4_OID, -2**31, -1, "22003", "integer out of range"),
    ("/", T.NUMERIC_OID, T.NUMERIC_OID, D(1), D(0), "22012", "division by zero"),
    ("*", T.FLOAT8_OID, T.FLOAT8_OID, 1e300, 1e10, "22003", "value out of range: overflow"),
    ("*", T.FLOAT8_OID, T.FLOAT8_OID, 1e-300, 1e-300, "22003", "value out of range: underflow"),
    ("^", T.FLOAT8_OID, T.FLOAT8_OID, 0.0, -1.0, "2201F",
     "zero raised to a negative power is undefined"),
    ("~~", T.TEXT_OID, T.TEXT_OID, "abc", "a\\", "22025",
     "LIKE pattern must not end with escape character"),
    ("~", T.TEXT_OID, T.TEXT_OID, "abc", "(", "2201B",
     "invalid regular expression: parentheses () not balanced"),
    ("+", T.DATE_OID, T.INT4_OID, datetime.date(9999, 12, 31), 1, "22008", "date out of range"),
])
def test_operator_errors(name, left_type, right_type, left, right, sqlstate, message) -> None:
    assert error_of(run, name, left_type, right_type, left, right) == (sqlstate, message)


def test_prefix_operators() -> None:
    assert run("-", None, T.INT4_OID, 5) == -5
    assert error_of(run, "-", None, T.INT4_OID, -2**31) == ("22003", "integer out of range")
    assert run("@", None, T.NUMERIC_OID, D("-1.5")) == D("1.5")
    assert run("~", None, T.INT8_OID, 0) == -1
    assert run("|/", None, T.FLOAT8_OID, 16.0) == 4.0
    assert run("-", None, T.INTERVAL_OID, Interval(1, 2, 3)) == Interval(-1, -2, -3)


def test_like_escape_rewrites_patterns() -> None:
    assert O.like_escape("a#%b", "#") == "a\\%b"
    assert O.like_escape("a\\b", "") == "a\\\\b"
    assert O.like("a%b", O.like_escape("a#%b", "#"))
    assert error_of(O.like_escape, "ab", "##")[0] == "22025"


def test_timestamptz_operators_use_the_session_zone() -> None:
    start = datetime.datetime(2024, 3, 9, 17, 0, tzinfo=datetime.UTC)     # noon in New York
    add = O.resolve_operator("+", T.TIMESTAMPTZ_OID, T.INTERVAL_OID).impl
    T.set_session_timezone("America/New_York")
    try:
        assert add(start, Interval(0, 1, 0)) == start + datetime.timedelta(hours=23)
    finally:
        T.set_session_timezone("UTC")
    assert add(start, Interval(0, 1, 0)) == start + datetime.timedelta(hours=24)
    equal = O.resolve_operator("=", T.DATE_OID, T.TIMESTAMPTZ_OID).impl
    assert equal(datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
