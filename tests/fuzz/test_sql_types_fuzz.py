"""Hypothesis fuzzing of the type system's codecs: every value survives a text and a binary round
trip, and garbage handed to parse_text/parse_binary raises only MirrordbError."""

from __future__ import annotations

import datetime
import decimal
import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import numeric as num
from mirrordb.sql import types as T
from mirrordb.storage.datum import Interval

FUZZ = settings(max_examples=200, deadline=None)

texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=40)
numerics = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda value: -10**30 < value < 10**30 and -30 < value.as_tuple().exponent <= 5
    if value.is_finite() else False).map(num.normalize_numeric)
timestamps = st.datetimes(min_value=datetime.datetime(1, 1, 1),
                          max_value=datetime.datetime(9999, 12, 31, 23, 59, 59))
intervals = st.builds(Interval, st.integers(-2**31, 2**31 - 1), st.integers(-2**31, 2**31 - 1),
                      st.integers(-2**63, 2**63 - 1))
singles = st.floats(width=32, allow_nan=False)

VALUES = {
    T.BOOL_OID: st.booleans(),
    T.INT2_OID: st.integers(-2**15, 2**15 - 1),
    T.INT4_OID: st.integers(-2**31, 2**31 - 1),
    T.INT8_OID: st.integers(-2**63, 2**63 - 1),
    T.OID_OID: st.integers(0, 2**32 - 1),
    T.FLOAT8_OID: st.floats(allow_nan=False),
    T.FLOAT4_OID: singles,
    T.NUMERIC_OID: numerics,
    T.TEXT_OID: texts,
    T.VARCHAR_OID: texts,
    T.BYTEA_OID: st.binary(max_size=40),
    T.DATE_OID: st.dates(),
    T.TIME_OID: st.times(),
    T.TIMESTAMP_OID: timestamps,
    T.TIMESTAMPTZ_OID: timestamps.map(lambda value: value.replace(tzinfo=datetime.UTC)),
    T.INTERVAL_OID: intervals,
    T.UUID_OID: st.uuids(),
    T.PG_LSN_OID: st.integers(0, 2**64 - 1),
    T.INT4_ARRAY_OID: st.lists(st.none() | st.integers(-2**31, 2**31 - 1), max_size=8),
    T.TEXT_ARRAY_OID: st.lists(st.none() | texts, max_size=8),
    T.NUMERIC_ARRAY_OID: st.lists(numerics, max_size=5),
}


def _same(oid: int, left: object, right: object) -> bool:
    if oid in (T.FLOAT4_OID, T.FLOAT8_OID):
        return struct.pack("<d", left) == struct.pack("<d", right)  # type: ignore[arg-type]
    if oid == T.NUMERIC_OID:
        return str(left) == str(right)
    return left == right


@FUZZ
@given(st.sampled_from(sorted(VALUES)).flatmap(lambda oid: st.tuples(st.just(oid),
                                                                      VALUES[oid])))
def test_text_round_trip(case: tuple[int, object]) -> None:
    oid, value = case
    text = T.format_text(oid, value, timezone="Europe/Paris")
    assert _same(oid, T.parse_text(oid, text, timezone="Europe/Paris"), value)


@FUZZ
@given(st.sampled_from(sorted(VALUES)).flatmap(lambda oid: st.tuples(st.just(oid),
                                                                      VALUES[oid])))
def test_binary_round_trip(case: tuple[int, object]) -> None:
    oid, value = case
    assert _same(oid, T.parse_binary(oid, T.format_binary(oid, value)), value)


@FUZZ
@given(st.floats(allow_nan=False))
def test_float8_output_is_shortest_round_trip(value: float) -> None:
    text = num.format_float8(value)
    assert float(text.replace("Infinity", "inf")) == value
    if math.isfinite(value) and value != 0:
        digits = text.lstrip("-").split("e")[0].replace(".", "").strip("0")
        assert len(digits) <= len(repr(abs(value)).split("e")[0].replace(".", "").strip("0"))


@FUZZ
@given(numerics, numerics)
def test_numeric_arithmetic_is_exact_where_postgres_is(left: decimal.Decimal,
                                                       right: decimal.Decimal) -> None:
    total = num.numeric_add(left, right)
    assert total == num.EXACT.add(left, right) and num.dscale(total) == max(num.dscale(left),
                                                              num.dscale(right))
    product = num.numeric_mul(left, right)
    assert product == num.EXACT.multiply(left, right)
    if not right.is_zero():
        quotient = num.numeric_div(left, right)
        assert num.dscale(quotient) == num.select_div_scale(left, right)
        precise = decimal.Context(prec=200).divide(left, right)
        assert abs(quotient - precise) <= decimal.Decimal(1).scaleb(-num.dscale(quotient))


ALL_INPUT_TYPES = sorted(oid for oid in T.TYPES
                         if oid not in (T.RECORD_OID, T.RECORD_ARRAY_OID, T.ANY_OID,
                                        T.ANYARRAY_OID, T.ANYELEMENT_OID, T.ANYNONARRAY_OID,
                                        T.ANYCOMPATIBLE_OID, T.ANYCOMPATIBLEARRAY_OID))
garbage_text = st.text(max_size=60) | st.sampled_from([
    "{", "{1,{2}}", "[1:2]={", "\\x", "1e999999999", "P", "@", "--", "12:", "2024-", "P1Y2",
    "+", "NaN", "{\"a\":", "1-1-1-1", "T12", "2024-01-01 25:61", "allballs", "epoch today"])


@FUZZ
@given(st.sampled_from(ALL_INPUT_TYPES), garbage_text)
def test_garbage_text_raises_only_operating_errors(oid: int, text: str) -> None:
    try:
        T.parse_text(oid, text, timezone="America/New_York")
    except MirrordbError:
        pass


BINARY_TYPES = sorted(oid for oid in ALL_INPUT_TYPES if oid not in (T.CSTRING_ARRAY_OID,))


@FUZZ
@given(st.sampled_from(BINARY_TYPES), st.binary(max_size=64))
def test_garbage_binary_raises_only_operating_errors(oid: int, data: bytes) -> None:
    try:
        T.parse_binary(oid, data)
    except MirrordbError:
        pass


@FUZZ
@given(st.sampled_from(sorted(T.INTEGER_OIDS | {T.FLOAT8_OID, T.NUMERIC_OID, T.TEXT_OID,
                                                 T.DATE_OID, T.INTERVAL_OID, T.BOOL_OID})),
       st.sampled_from(sorted(T.INTEGER_OIDS | {T.FLOAT4_OID, T.NUMERIC_OID, T.TEXT_OID,
                                                 T.VARCHAR_OID, T.TIMESTAMP_OID, T.BOOL_OID})),
       garbage_text)
def test_casts_of_parsed_text_raise_only_operating_errors(source: int, target: int,
                                                          text: str) -> None:
    try:
        value = T.parse_text(source, text)
        T.cast(value, source, target, 8, context="assignment")
    except MirrordbError:
        pass
