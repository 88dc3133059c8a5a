"""Unit tests of the row codec (storage/datum.py): the documented byte format, every type's round
trip, NULL handling, operating errors for bad values, DataCorrupted for bad bytes, sort keys."""

from __future__ import annotations

import datetime
import decimal
import math
import struct
import uuid

import pytest

from mirrordb.common.errors import DataCorrupted, InvariantViolation, MirrordbError
from mirrordb.storage import datum
from mirrordb.storage.datum import (
    BOOL_OID,
    BPCHAR_OID,
    BYTEA_OID,
    DATE_OID,
    FLOAT4_OID,
    FLOAT8_OID,
    INT2_OID,
    INT4_OID,
    INT8_OID,
    INTERVAL_OID,
    JSON_OID,
    JSONB_OID,
    NAME_OID,
    NAN_SORT_KEY,
    NULL_SORT_KEY,
    NUMERIC_OID,
    OID_OID,
    PG_LSN_OID,
    TEXT_OID,
    TIME_OID,
    TIMESTAMP_OID,
    TIMESTAMPTZ_OID,
    UUID_OID,
    VARCHAR_OID,
    XID_OID,
    Interval,
    RowCodec,
    sort_key,
)

UTC = datetime.UTC

SAMPLES: dict[int, list[object]] = {
    BOOL_OID: [False, True],
    INT2_OID: [0, -32768, 32767],
    INT4_OID: [0, -2**31, 2**31 - 1],
    INT8_OID: [0, -2**63, 2**63 - 1],
    OID_OID: [0, 2**32 - 1],
    XID_OID: [3, 2**32 - 1],
    PG_LSN_OID: [0, 2**64 - 1],
    FLOAT4_OID: [0.0, -1.5, float("inf"), float("-inf"), 3.4028234663852886e38],
    FLOAT8_OID: [0.0, -0.0, 1e308, 5e-324, float("inf")],
    DATE_OID: [datetime.date(2000, 1, 1), datetime.date(1, 1, 1), datetime.date(9999, 12, 31)],
    TIME_OID: [datetime.time(0, 0), datetime.time(23, 59, 59, 999999)],
    TIMESTAMP_OID: [datetime.datetime(2000, 1, 1), datetime.datetime(1, 1, 1),
                    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
                    datetime.datetime(1999, 12, 31, 23, 59, 59, 999999)],
    TIMESTAMPTZ_OID: [datetime.datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
                      datetime.datetime(1970, 1, 1, tzinfo=UTC)],
    INTERVAL_OID: [Interval(0, 0, 0), Interval(-14, 3, -1), Interval(2**31 - 1, -2**31, 2**63 - 1)],
    UUID_OID: [uuid.UUID(int=0), uuid.UUID("12345678-1234-5678-1234-567812345678")],
    BYTEA_OID: [b"", b"\x00\xff", bytes(range(256)) * 3],
    NAME_OID: ["", "pg_class", "x" * 63],
    TEXT_OID: ["", "héllo wörld ✓ 𝄞", "a" * 127, "b" * 128, "c" * 100_000],
    JSON_OID: ['{"a": [1, 2]}'],
    JSONB_OID: ['{"b": null}'],
    BPCHAR_OID: ["abc  "],
    VARCHAR_OID: ["varchar"],
    NUMERIC_OID: [decimal.Decimal(0), decimal.Decimal("-12.3400"), decimal.Decimal("1E+30"),
                  decimal.Decimal("Infinity"), decimal.Decimal("-Infinity"),
                  decimal.Decimal("-0"), decimal.Decimal("3.14159265358979323846264338327950")],
}


def same_value(left: object, right: object) -> bool:
    if isinstance(left, float) and math.isnan(left):
        return isinstance(right, float) and math.isnan(right)
    if isinstance(left, decimal.Decimal):
        return isinstance(right, decimal.Decimal) and str(left) == str(right)
    return type(left) is type(right) and left == right


@pytest.mark.parametrize("type_oid", sorted(SAMPLES))
def test_each_type_round_trips(type_oid: int) -> None:
    codec = RowCodec([type_oid])
    for value in SAMPLES[type_oid]:
        data, nulls = codec.encode([value])
        assert nulls is None
        decoded = codec.decode(data, None)
        assert len(decoded) == 1 and same_value(value, decoded[0]), (value, decoded)
        assert codec.encode(decoded)[0] == data


def test_every_type_together_with_and_without_nulls() -> None:
    type_oids = sorted(SAMPLES)
    codec = RowCodec(type_oids)
    row = [SAMPLES[oid][-1] for oid in type_oids]
    data, nulls = codec.encode(row)
    assert nulls is None
    assert all(same_value(a, b) for a, b in zip(row, codec.decode(memoryview(data), None)))
    for null_column in range(len(type_oids)):
        with_null = list(row)
        with_null[null_column] = None
        data, nulls = codec.encode(with_null)
        assert nulls is not None
        decoded = codec.decode(data, nulls)
        assert decoded[null_column] is None
        assert all(same_value(a, b) for a, b in zip(with_null, decoded) if a is not None)


def test_documented_layout() -> None:
    codec = RowCodec([INT4_OID, TEXT_OID, BOOL_OID, DATE_OID, TIMESTAMP_OID])
    data, nulls = codec.encode([1, "ab", True, datetime.date(2000, 1, 3),
                                datetime.datetime(2000, 1, 1, 0, 0, 1)])
    assert nulls is None
    assert data == (struct.pack("<i", 1) + bytes([2 << 1]) + b"ab" + b"\x01"
                    + struct.pack("<i", 2) + struct.pack("<q", 1_000_000))


def test_long_values_get_a_four_byte_header() -> None:
    codec = RowCodec([BYTEA_OID])
    data, _ = codec.encode([b"x" * 128])
    assert data[:4] == struct.pack("<I", (128 << 1) | 1) and data[4:] == b"x" * 128
    data, _ = codec.encode([b"y" * 127])
    assert data[0] == 127 << 1 and len(data) == 128


def test_interval_and_uuid_layout() -> None:
    codec = RowCodec([INTERVAL_OID, UUID_OID])
    value = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
    data, _ = codec.encode([Interval(months=2, days=3, microseconds=4), value])
    assert data == struct.pack("<qii", 4, 3, 2) + value.bytes


def test_null_bitmap_follows_postgres_convention() -> None:
    codec = RowCodec([INT4_OID] * 10)
    values: list[object] = list(range(10))
    values[1] = values[8] = None
    data, nulls = codec.encode(values)
    # bit set = NOT NULL; column 1 and 8 clear; bits past column 9 zero
    assert nulls == bytes([0b11111101, 0b00000010])
    assert len(data) == 8 * 4                       # NULLs take no bytes
    assert codec.decode(data, nulls) == tuple(values)


def test_all_null_row_has_no_data() -> None:
    codec = RowCodec([TEXT_OID, INT8_OID, NUMERIC_OID])
    data, nulls = codec.encode([None, None, None])
    assert data == b"" and nulls == b"\x00"
    assert codec.decode(data, nulls) == (None, None, None)


def test_zero_columns() -> None:
    codec = RowCodec([])
    assert codec.encode([]) == (b"", None)
    assert codec.decode(b"", None) == ()


def test_timestamptz_is_stored_as_utc() -> None:
    codec = RowCodec([TIMESTAMPTZ_OID])
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    local = datetime.datetime(2000, 1, 1, 2, 0, tzinfo=plus_two)
    data, _ = codec.encode([local])
    assert data == struct.pack("<q", 0)
    (decoded,) = codec.decode(data, None)
    assert decoded == local and decoded.tzinfo is UTC


def test_numeric_nan_is_stored_as_text() -> None:
    codec = RowCodec([NUMERIC_OID])
    data, _ = codec.encode([decimal.Decimal("-NaN")])
    assert data == bytes([3 << 1]) + b"NaN"
    assert codec.decode(data, None)[0].is_nan()


@pytest.mark.parametrize("type_oid, value, expected", [
    (FLOAT8_OID, 3, 3.0),
    (FLOAT4_OID, 2, 2.0),
    (NUMERIC_OID, 7, decimal.Decimal(7)),
    (BYTEA_OID, bytearray(b"ab"), b"ab"),
    (BYTEA_OID, memoryview(b"cd"), b"cd"),
    (INTERVAL_OID, datetime.timedelta(days=2, seconds=3, microseconds=4),
     Interval(0, 2, 3_000_004)),
])
def test_lenient_conversions(type_oid: int, value: object, expected: object) -> None:
    codec = RowCodec([type_oid])
    assert same_value(codec.decode(*codec.encode([value]))[0], expected)


class MyInt(int):
    pass


class MyStr(str):
    pass


def test_subclasses_are_accepted_and_decoded_as_base_types() -> None:
    codec = RowCodec([INT4_OID, TEXT_OID])
    assert codec.decode(*codec.encode([MyInt(5), MyStr("s")])) == (5, "s")


@pytest.mark.parametrize("type_oid, value, sqlstate", [
    (INT4_OID, "1", "22P02"),
    (INT4_OID, True, "22P02"),
    (INT4_OID, 1.0, "22P02"),
    (BOOL_OID, 1, "22P02"),
    (TEXT_OID, b"bytes", "22P02"),
    (BYTEA_OID, "text", "22P02"),
    (FLOAT8_OID, decimal.Decimal(1), "22P02"),
    (NUMERIC_OID, 1.5, "22P02"),
    (NUMERIC_OID, decimal.Decimal("sNaN"), "22P02"),
    (DATE_OID, datetime.datetime(2020, 1, 1), "22P02"),
    (TIME_OID, datetime.time(1, 2, tzinfo=UTC), "22P02"),
    (TIMESTAMP_OID, datetime.datetime(2020, 1, 1, tzinfo=UTC), "22P02"),
    (TIMESTAMPTZ_OID, datetime.datetime(2020, 1, 1), "22P02"),
    (TIMESTAMPTZ_OID, datetime.date(2020, 1, 1), "22P02"),
    (INTERVAL_OID, 5, "22P02"),
    (INTERVAL_OID, Interval(1.5, 0, 0), "22P02"),      # type: ignore[arg-type]
    (UUID_OID, "12345678-1234-5678-1234-567812345678", "22P02"),
    (INT2_OID, 32768, "22003"),
    (INT2_OID, -32769, "22003"),
    (INT4_OID, 2**31, "22003"),
    (INT8_OID, -2**63 - 1, "22003"),
    (OID_OID, -1, "22003"),
    (XID_OID, 2**32, "22003"),
    (PG_LSN_OID, 2**64, "22003"),
    (FLOAT4_OID, 1e39, "22003"),
    (INTERVAL_OID, Interval(2**31, 0, 0), "22003"),
    (NAME_OID, "n" * 64, "22001"),
    (TEXT_OID, "lone \ud800 surrogate", "22021"),
])
def test_bad_values_raise_operating_errors(type_oid: int, value: object, sqlstate: str) -> None:
    codec = RowCodec([INT4_OID, type_oid])
    with pytest.raises(MirrordbError) as raised:
        codec.encode([1, value])
    assert raised.value.sqlstate == sqlstate
    assert not isinstance(raised.value, DataCorrupted)


def test_wrong_arity_and_unknown_types_are_programmer_errors() -> None:
    with pytest.raises(InvariantViolation):
        RowCodec([INT4_OID]).encode([1, 2])
    with pytest.raises(InvariantViolation):
        RowCodec([12345])


@pytest.mark.parametrize("type_oids, data, nulls", [
    ([INT4_OID], b"\x01\x00\x00", None),                       # truncated fixed value
    ([INT4_OID], b"\x01\x00\x00\x00\x00", None),               # trailing byte
    ([TEXT_OID], b"\x08ab", None),                             # length past the end
    ([TEXT_OID], b"", None),                                   # missing header
    ([TEXT_OID], b"\x01\x00\x00", None),                       # truncated long header
    ([TEXT_OID], b"\x04\xff\xfe", None),                       # invalid UTF-8
    ([NUMERIC_OID], b"\x06abc", None),                         # not a number
    ([NUMERIC_OID], b"\x08sNaN", None),                        # signalling NaN
    ([DATE_OID], struct.pack("<i", 2**31 - 1), None),          # outside Python's dates
    ([TIMESTAMP_OID], struct.pack("<q", 2**63 - 1), None),
    ([TIME_OID], struct.pack("<q", -1), None),
    ([INT4_OID, INT4_OID], b"\x01\x00\x00\x00", b"\x01\x01"),  # bitmap too long
    ([INT4_OID, INT4_OID], b"\x01\x00\x00\x00", b""),          # bitmap too short
    ([INT4_OID, INT4_OID], b"\x01\x00\x00\x00", b"\x05"),      # bit past the last column
])
def test_malformed_rows_raise_data_corrupted(type_oids: list[int], data: bytes,
                                             nulls: bytes | None) -> None:
    with pytest.raises(DataCorrupted):
        RowCodec(type_oids).decode(data, nulls)


def test_plan_cache_is_bounded_and_stays_correct() -> None:
    codec = RowCodec([INT2_OID] * 12)
    for pattern in range(datum.MAX_CACHED_NULL_PATTERNS + 50):
        values = [None if pattern >> column & 1 else column for column in range(12)]
        assert codec.decode(*codec.encode(values)) == tuple(values)
    assert len(codec._plans_by_bitmap) <= datum.MAX_CACHED_NULL_PATTERNS


def test_sort_key_orders_nulls_last_and_nan_after_numbers() -> None:
    floats = [3.0, None, float("nan"), float("-inf"), -1.0, float("inf")]
    ordered = sorted(floats, key=lambda value: sort_key((value,)))
    assert ordered[:4] == [float("-inf"), -1.0, 3.0, float("inf")]
    assert math.isnan(ordered[4]) and ordered[5] is None
    numerics = [decimal.Decimal("NaN"), None, decimal.Decimal(2), decimal.Decimal("-Infinity")]
    keys = sorted(sort_key((value,)) for value in numerics)
    assert keys == [(decimal.Decimal("-Infinity"),), (decimal.Decimal(2),), (NAN_SORT_KEY,),
                    (NULL_SORT_KEY,)]


def test_sort_key_compares_composite_keys_and_equal_nulls() -> None:
    assert sort_key((1, None)) > sort_key((1, 5))
    assert sort_key((1, None)) < sort_key((2, 0))
    assert sort_key((None, "a")) == sort_key((None, "a"))
    assert sort_key((None, "a")) < sort_key((None, "b"))
    assert not sort_key((None,)) < sort_key((None,))
    assert sort_key(("a",)) < sort_key(("b",)) < sort_key((None,))
    assert NAN_SORT_KEY < NULL_SORT_KEY and not NULL_SORT_KEY < NAN_SORT_KEY
    assert NAN_SORT_KEY >= NAN_SORT_KEY and NAN_SORT_KEY <= NAN_SORT_KEY  # noqa: PLR0124


def test_sort_key_compares_intervals_by_span() -> None:
    month, thirty_days, day = Interval(1, 0, 0), Interval(0, 30, 0), Interval(0, 1, 0)
    assert sort_key((month,)) == sort_key((thirty_days,))
    assert sort_key((day,)) < sort_key((month,))
    assert sort_key((Interval(0, 0, -1),)) < sort_key((Interval(0, 0, 0),))


def test_sort_key_text_order_is_byte_order() -> None:
    words = ["b", "a", "é", "Z", "", "aa", "𝄞"]
    by_key = sorted(words, key=lambda word: sort_key((word,)))
    assert by_key == sorted(words, key=lambda word: word.encode("utf-8"))
