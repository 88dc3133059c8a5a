"""Unit tests of sql/functions.py: resolution (overloads, variadics, polymorphism, function-style
casts) and the function library."""

from __future__ import annotations

import datetime
import decimal
import re
import uuid

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import functions as F
from mirrordb.sql import types as T
from mirrordb.storage.datum import Interval

D = decimal.Decimal
NOW = datetime.datetime(2024, 5, 17, 12, 34, 56, tzinfo=datetime.UTC)
CONTEXT = F.FunctionContext("America/New_York", NOW, NOW)


def call(name: str, *arguments: tuple[int, object]):
    resolved = F.resolve_function(name, [oid for oid, _ in arguments])
    definition = resolved.definition
    values = [T.cast(value, oid, target, context="implicit")
              for (oid, value), target in zip(arguments, resolved.arg_types)]
    if definition.strict and any(value is None for value in values):
        return None
    if definition.needs_context:
        return definition.impl(CONTEXT, *values)
    return definition.impl(*values)


def text(value: str) -> tuple[int, str]:
    return T.TEXT_OID, value


def integer(value: int) -> tuple[int, int]:
    return T.INT4_OID, value


def unknown(value: str) -> tuple[int, str]:
    return T.UNKNOWN_OID, value


def error_of(function, *args) -> tuple[str, str]:
    with pytest.raises(MirrordbError) as raised:
        function(*args)
    return raised.value.sqlstate, raised.value.message


# -- resolution ------------------------------------------------------------------------------------


def test_overload_resolution_prefers_exact_then_preferred_types() -> None:
    assert F.resolve_function("abs", [T.INT2_OID]).arg_types == (T.INT2_OID,)
    assert F.resolve_function("abs", [T.UNKNOWN_OID]).arg_types == (T.FLOAT8_OID,)
    assert F.resolve_function("round", [T.INT4_OID]).arg_types == (T.FLOAT8_OID,)
    assert F.resolve_function("round", [T.NUMERIC_OID, T.INT4_OID]).arg_types == (1700, 23)
    assert F.resolve_function("length", [T.UNKNOWN_OID]).arg_types == (T.TEXT_OID,)
    assert F.resolve_function("length", [T.VARCHAR_OID]).arg_types == (T.TEXT_OID,)
    assert F.resolve_function("pg_catalog.upper", [T.TEXT_OID]).definition.result_type == 25


def test_resolution_errors_carry_postgres_hints() -> None:
    with pytest.raises(MirrordbError) as raised:
        F.resolve_function("foo", [T.INT4_OID])
    assert (raised.value.sqlstate, raised.value.message, raised.value.hint) == (
        "42883", "function foo(integer) does not exist", "No function matches the given name "
        "and argument types. You might need to add explicit type casts.")
    assert error_of(F.resolve_function, "concat", [])[0] == "42883"
    assert error_of(F.resolve_function, "length", [T.INT4_OID]) == (
        "42883", "function length(integer) does not exist")


def test_variadic_and_polymorphic_functions_are_specialised() -> None:
    resolved = F.resolve_function("concat", [T.TEXT_OID, T.INT4_OID, T.BOOL_OID])
    assert resolved.arg_types == (25, 23, 16)
    assert resolved.definition.impl("a", 1, True) == "a1t"
    appended = F.resolve_function("array_append", [T.INT4_ARRAY_OID, T.INT8_OID])
    assert appended.arg_types == (T.INT8_ARRAY_OID, T.INT8_OID)
    assert appended.definition.result_type == T.INT8_ARRAY_OID
    to_json = F.resolve_function("to_json", [T.TIMESTAMP_OID]).definition
    assert to_json.impl(datetime.datetime(2024, 1, 2, 3, 4)) == '"2024-01-02T03:04:00"'


def test_function_style_casts() -> None:
    resolved = F.resolve_function("int4", [T.FLOAT8_OID])
    assert resolved.definition.result_type == T.INT4_OID
    assert call("int4", (T.FLOAT8_OID, 2.5)) == 2
    assert call("text", (T.INT4_OID, 12)) == "12"
    assert call("date", (T.TIMESTAMP_OID, datetime.datetime(2024, 1, 2, 3))) == \
        datetime.date(2024, 1, 2)


# -- library ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,arguments,expected", [
    ("length", [text("héllo")], 5), ("octet_length", [text("é")], 2),
    ("length", [(T.BPCHAR_OID, "ab  ")], 2), ("upper", [text("abc é")], "ABC é"),
    ("initcap", [text("hello wORLD")], "Hello World"), ("substr", [text("hello"), integer(0),
                                                                 integer(3)], "he"),
    ("strpos", [text("hello"), text("l")], 3), ("btrim", [text("xxaxx"), text("x")], "a"),
    ("replace", [text("aaa"), text("a"), text("b")], "bbb"),
    ("concat_ws", [text("-"), text("a"), (T.INT4_OID, None), integer(2)], "a-2"),
    ("left", [text("hello"), integer(-2)], "hel"), ("right", [text("hello"), integer(2)], "lo"),
    ("lpad", [text("hi"), integer(5), text("xy")], "xyxhi"), ("rpad", [text("hello"), integer(2)],
                                                              "he"),
    ("split_part", [text("a,b,c"), text(","), integer(-1)], "c"),
    ("md5", [text("abc")], "900150983cd24fb0d6963f7d28e17f72"), ("to_hex", [integer(-1)],
                                                                   "ffffffff"),
    ("chr", [integer(233)], "é"), ("ascii", [text("A")], 65),
    ("quote_ident", [text("My Table")], '"My Table"'), ("quote_ident", [text("select")],
                                                        '"select"'),
    ("quote_literal", [text("it's")], "'it''s'"), ("quote_literal", [text("a\\b")], "E'a\\\\b'"),
    ("quote_nullable", [(T.TEXT_OID, None)], "NULL"),
    ("format", [text("%s|%I|%L|%%|%3s|%-3s|"), text("a"), text("B c"), (T.TEXT_OID, None),
                text("x"), text("y")], 'a|"B c"|NULL|%|  x|y  |'),
    ("regexp_replace", [text("hello"), text("(l+)"), text("[\\1]")], "he[ll]o"),
    ("regexp_match", [text("foobar"), text("o(b)")], ["b"]),
    ("translate", [text("hello"), text("lo"), text("x")], "hexx"),
    ("string_to_array", [text("a,,b"), text(","), text("")], ["a", None, "b"]),
    ("array_to_string", [(T.INT4_ARRAY_OID, [1, None, 3]), text(","), text("*")], "1,*,3"),
    ("array_length", [(T.INT4_ARRAY_OID, []), integer(1)], None),
    ("abs", [integer(-5)], 5), ("round", [(T.NUMERIC_OID, D("2.345")), integer(2)], D("2.35")),
    ("round", [(T.FLOAT8_OID, 2.5)], 2.0), ("trunc", [(T.NUMERIC_OID, D("-2.789")), integer(1)],
                                             D("-2.7")),
    ("sqrt", [(T.NUMERIC_OID, D(2))], D("1.414213562373095")),
    ("power", [(T.NUMERIC_OID, D(2)), (T.NUMERIC_OID, D("0.5"))], D("1.4142135623730950")),
    ("ln", [(T.NUMERIC_OID, D(2))], D("0.6931471805599453")),
    ("log", [(T.NUMERIC_OID, D(2)), (T.NUMERIC_OID, D(8))], D("3.0000000000000000")),
    ("mod", [integer(-7), integer(3)], -1), ("div", [(T.NUMERIC_OID, D("-7.5")),
                                                     (T.NUMERIC_OID, D(2))], D(-3)),
    ("gcd", [integer(12), integer(18)], 6), ("lcm", [integer(4), integer(6)], 12),
    ("width_bucket", [(T.FLOAT8_OID, 5.35), (T.FLOAT8_OID, 0.024), (T.FLOAT8_OID, 10.06),
                      integer(5)], 3),
    ("degrees", [(T.FLOAT8_OID, 1.0)], 57.29577951308232), ("pi", [], 3.141592653589793),
    ("num_nulls", [integer(1), (T.TEXT_OID, None)], 1), ("num_nonnulls", [(T.INT4_OID, None)], 0),
    ("format_type", [(T.OID_OID, 1043), integer(14)], "character varying(10)"),
    ("format_type", [(T.OID_OID, 1042), (T.INT4_OID, None)], "character"),
    ("jsonb_typeof", [(T.JSONB_OID, "[1]")], "array"),
    ("jsonb_build_object", [text("b"), integer(1), text("a"), (T.BOOL_OID, True)],
     '{"a": true, "b": 1}'),
    ("json_build_array", [integer(1), text("x")], '[1, "x"]'),
    ("to_jsonb", [(T.NUMERIC_OID, D("1.50"))], "1.50"),
])
def test_function_results(name, arguments, expected) -> None:
    assert call(name, *arguments) == expected


@pytest.mark.parametrize("name,arguments,sqlstate,message", [
    ("substr", [text("abc"), integer(1), integer(-1)], "22011",
     "negative substring length not allowed"),
    ("split_part", [text("a"), text(","), integer(0)], "22023", "field position must not be zero"),
    ("chr", [integer(0)], "54000", "null character not permitted"),
    ("format", [text("%s")], "22023", "too few arguments for format()"),
    ("sqrt", [(T.FLOAT8_OID, -1.0)], "2201F", "cannot take square root of a negative number"),
    ("ln", [(T.FLOAT8_OID, 0.0)], "2201E", "cannot take logarithm of zero"),
    ("exp", [(T.FLOAT8_OID, 1000.0)], "22003", "value out of range: overflow"),
    ("width_bucket", [(T.FLOAT8_OID, 1.0), (T.FLOAT8_OID, 0.0), (T.FLOAT8_OID, 1.0),
                      integer(0)], "2201G", "count must be greater than zero"),
    ("make_date", [integer(2023), integer(2), integer(29)], "22008",
     "date field value out of range: 2023-02-29"),
    ("date_trunc", [text("bogus"), (T.TIMESTAMP_OID, datetime.datetime(2024, 1, 1))], "22023",
     'unit "bogus" not recognized for type timestamp without time zone'),
    ("extract", [text("hour"), (T.DATE_OID, datetime.date(2024, 1, 1))], "0A000",
     'unit "hour" not supported for type date'),
    ("json_array_length", [(T.JSON_OID, "{}")], "22023", "cannot get array length of a non-array"),
])
def test_function_errors(name, arguments, sqlstate, message) -> None:
    assert error_of(call, name, *arguments) == (sqlstate, message)


def test_date_and_time_functions() -> None:
    stamp = datetime.datetime(2024, 5, 17, 12, 34, 56, 500000)
    assert call("date_trunc", text("month"), (T.TIMESTAMP_OID, stamp)) == \
        datetime.datetime(2024, 5, 1)
    assert call("extract", text("second"), (T.TIMESTAMP_OID, stamp)) == D("56.500000")
    assert call("date_part", text("epoch"), (T.TIMESTAMP_OID, stamp)) == 1715949296.5
    assert call("age", (T.TIMESTAMP_OID, datetime.datetime(2024, 3, 1)),
                (T.TIMESTAMP_OID, datetime.datetime(2023, 1, 31))) == Interval(13, 1, 0)
    assert call("make_interval", integer(1), integer(2)) == Interval(14, 0, 0)
    assert call("justify_interval", (T.INTERVAL_OID, Interval(1, 0, -3600 * 10**6))) == \
        Interval(0, 29, 23 * 3600 * 10**6)
    assert call("to_char", (T.TIMESTAMP_OID, stamp), text("FMDay, DDth FMMonth YYYY HH12:MI AM")) \
        == "Friday, 17th May 2024 12:34 PM"
    assert call("to_char", (T.NUMERIC_OID, D("1234.5")), text("9G999D99")) == " 1,234.50"
    assert call("to_date", text("05 Mar 2024"), text("DD Mon YYYY")) == datetime.date(2024, 3, 5)
    assert call("to_timestamp", (T.FLOAT8_OID, 0.0)) == \
        datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def test_context_functions_read_the_statement_context() -> None:
    assert call("now") == NOW
    assert call("statement_timestamp") == NOW
    assert call("date_trunc", text("day"), (T.TIMESTAMPTZ_OID, NOW)) == \
        datetime.datetime(2024, 5, 17, 4, 0, tzinfo=datetime.UTC)           # New York midnight
    assert call("age", (T.TIMESTAMP_OID, datetime.datetime(2024, 5, 16))) == Interval(0, 1, 0)
    now = F.resolve_function("now", [])
    assert now.definition.volatility == "s" and now.definition.needs_context
    assert F.resolve_function("random", []).definition.volatility == "v"
    assert F.resolve_function("clock_timestamp", []).definition.volatility == "v"


def test_volatile_functions() -> None:
    value = call("random")
    assert 0.0 <= value < 1.0
    assert isinstance(call("gen_random_uuid"), uuid.UUID)
    assert call("setseed", (T.FLOAT8_OID, 0.5)) is None
    first = call("random")
    call("setseed", (T.FLOAT8_OID, 0.5))
    assert call("random") == first
    assert error_of(call, "setseed", (T.FLOAT8_OID, 2.0))[0] == "22003"
    assert re.fullmatch(r"\w{3} \w{3} \d\d \d\d:\d\d:\d\d\.\d{6} \d{4} E[SD]T", call("timeofday"))
