"""Unit tests of sql/types.py: the type table, type names, text/binary I/O, casts, common types
and comparison. (tests/compat/test_types_vs_postgres.py checks the same against PostgreSQL.)"""

from __future__ import annotations

import datetime
import decimal
import threading
import uuid

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T
from mirrordb.storage import datum
from mirrordb.storage.datum import Interval


def error_of(function, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(MirrordbError) as raised:
        function(*args, **kwargs)
    return raised.value.sqlstate, raised.value.message


# -- the type table ----------------------------------------------------------------------------


def test_every_storage_type_and_catalog_type_is_described() -> None:
    for oid in datum.SUPPORTED_TYPE_OIDS:
        assert oid in T.TYPES
    for oid in (705, 19, 18, 2205, 24, 2206, 22, 30, 1007, 1009, 2276, 2283, 2277):
        assert oid in T.TYPES
    int4 = T.TYPES[T.INT4_OID]
    assert (int4.name, int4.sql_name, int4.length, int4.by_value, int4.category, int4.preferred,
            int4.array_oid, int4.alignment, int4.input_name, int4.output_name) == \
        ("int4", "integer", 4, True, "N", False, 1007, "i", "int4in", "int4out")
    assert T.TYPES[T.UNKNOWN_OID].length == -2 and T.TYPES[T.UNKNOWN_OID].category == "X"


def test_array_types_point_back_to_their_elements() -> None:
    for info in T.TYPES.values():
        if info.array_oid and info.type_type == "b":
            array = T.TYPES[info.array_oid]
            assert array.element_oid == info.oid and array.category == "A"
            assert array.sql_name == info.sql_name + "[]"


# -- type names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("names,typmods,bounds,expected", [
    (["int"], [], 0, (23, -1)), (["integer"], [], 0, (23, -1)),
    (["pg_catalog", "int4"], [], 0, (23, -1)), (["bigint"], [], 0, (20, -1)),
    (["serial"], [], 0, (23, -1)), (["bigserial"], [], 0, (20, -1)),
    (["smallserial"], [], 0, (21, -1)), (["varchar"], [10], 0, (1043, 14)),
    (["character varying"], [10], 0, (1043, 14)), (["varchar"], [], 0, (1043, -1)),
    (["character"], [], 0, (1042, 5)), (["pg_catalog", "bpchar"], [3], 0, (1042, 7)),
    (["double precision"], [], 0, (701, -1)), (["float"], [], 0, (701, -1)),
    (["float"], [24], 0, (700, -1)), (["float"], [25], 0, (701, -1)), (["real"], [], 0, (700, -1)),
    (["decimal"], [10, 2], 0, (1700, (10 << 16 | 2) + 4)), (["numeric"], [5], 0, (1700, (5 << 16) + 4)),
    (["bool"], [], 0, (16, -1)), (["timestamp with time zone"], [], 0, (1184, -1)),
    (["timestamptz"], [3], 0, (1184, 3)), (["timestamp"], [9], 0, (1114, 6)),
    (["uuid"], [], 0, (2950, -1)), (["jsonb"], [], 0, (3802, -1)), (["text"], [], 1, (1009, -1)),
    (["int4"], [], 2, (1007, -1)), (["varchar"], [5], 1, (1015, 9)), (["regclass"], [], 0, (2205, -1)),
    (["oid"], [], 0, (26, -1)), (["name"], [], 0, (19, -1)), (['"char"'], [], 0, (18, -1)),
    (["char"], [], 0, (18, -1)), (["interval"], [], 0, (1186, -1)),
    (["interval"], [32767, 3], 0, (1186, (32767 << 16) | 3)), (["date"], [], 0, (1082, -1)),
    (["time"], [], 0, (1083, -1)), (["bytea"], [], 0, (17, -1)), (["json"], [], 0, (114, -1)),
])
def test_resolve_type_name(names, typmods, bounds, expected) -> None:
    assert T.resolve_type_name(names, typmods, bounds) == expected


@pytest.mark.parametrize("names,typmods,sqlstate,message", [
    (["foo"], [], "42704", 'type "foo" does not exist'),
    (["myschema", "int4"], [], "42704", 'type "myschema.int4" does not exist'),
    (["varchar"], [0], "22023", "length for type varchar must be at least 1"),
    (["bpchar"], [10485761], "22023", "length for type char cannot exceed 10485760"),
    (["numeric"], [0], "22023", "NUMERIC precision 0 must be between 1 and 1000"),
    (["numeric"], [5, 1001], "22023", "NUMERIC scale 1001 must be between -1000 and 1000"),
    (["float"], [0], "22023", "precision for type float must be at least 1 bit"),
    (["float"], [54], "22023", "precision for type float must be less than 54 bits"),
    (["int4"], [5], "42601", 'type modifier is not allowed for type "int4"'),
])
def test_resolve_type_name_errors(names, typmods, sqlstate, message) -> None:
    assert error_of(T.resolve_type_name, names, typmods) == (sqlstate, message)


@pytest.mark.parametrize("oid,typmod,given,expected", [
    (23, -1, False, "integer"), (1043, 14, False, "character varying(10)"),
    (1043, -1, False, "character varying"), (1042, 5, False, "character(1)"),
    (1042, -1, False, "character"), (1042, -1, True, "bpchar"),
    (1700, (10 << 16 | 2) + 4, False, "numeric(10,2)"), (1114, 3, False, "timestamp(3) without time zone"),
    (1184, -1, False, "timestamp with time zone"), (1007, -1, False, "integer[]"),
    (1015, 14, False, "character varying(10)[]"), (18, -1, False, '"char"'),
    (2276, -1, False, '"any"'), (0, -1, False, "-"), (999999, -1, False, "???"),
    (1186, (32767 << 16) | 3, False, "interval(3)"),
    (1186, ((1 << 3) | (1 << 10)) << 16 | 0xFFFF, False, "interval day to hour"),
])
def test_format_type(oid, typmod, given, expected) -> None:
    assert T.format_type(oid, typmod, typmod_given=given) == expected


# -- text input and output -------------------------------------------------------------------------


@pytest.mark.parametrize("oid,text,value", [
    (T.BOOL_OID, "t", True), (T.BOOL_OID, " TRUE ", True), (T.BOOL_OID, "ye", True),
    (T.BOOL_OID, "of", False), (T.BOOL_OID, "0", False), (T.INT4_OID, " -12 ", -12),
    (T.INT8_OID, "9223372036854775807", 2**63 - 1), (T.OID_OID, "-1", 2**32 - 1),
    (T.NUMERIC_OID, "1.50", decimal.Decimal("1.50")), (T.FLOAT8_OID, "-inf", float("-inf")),
    (T.FLOAT8_OID, "0x1p3", 8.0), (T.BYTEA_OID, "\\x0aff", b"\n\xff"), (T.BYTEA_OID, "a\\\\b", b"a\\b"),
    (T.UUID_OID, "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
     uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
    (T.DATE_OID, "Jan 8 1999", datetime.date(1999, 1, 8)),
    (T.TIMESTAMP_OID, "2024-01-15T12:34:56.5", datetime.datetime(2024, 1, 15, 12, 34, 56, 500000)),
    (T.TIMESTAMPTZ_OID, "2024-01-15 12:00+05:30",
     datetime.datetime(2024, 1, 15, 6, 30, tzinfo=datetime.UTC)),
    (T.INTERVAL_OID, "1 year 2 mons 3 days 04:05:06.5", Interval(14, 3, 14_706_500_000)),
    (T.INTERVAL_OID, "P1D", Interval(0, 1, 0)), (T.INT4_ARRAY_OID, "{1, NULL ,3}", [1, None, 3]),
    (T.TEXT_ARRAY_OID, '{"a,b",c\\"d,""}', ["a,b", 'c"d', ""]), (T.INT2VECTOR_OID, "1 2", [1, 2]),
    (T.NAME_OID, "x" * 70, "x" * 63), (T.CHAR_OID, "xyz", "x"), (T.PG_LSN_OID, "1/A", 2**32 + 10),
    (T.JSONB_OID, '{"b":1,"a":2,"a":3}', '{"a": 3, "b": 1}'), (T.REGTYPE_OID, "integer", 23),
    (T.REGTYPE_OID, "character varying(10)[]", 1015),
])
def test_parse_text(oid, text, value) -> None:
    assert T.parse_text(oid, text) == value


@pytest.mark.parametrize("oid,text,sqlstate,message", [
    (T.INT4_OID, "x", "22P02", 'invalid input syntax for type integer: "x"'),
    (T.INT4_OID, "9999999999", "22003", 'value "9999999999" is out of range for type integer'),
    (T.INT2_OID, "1.5", "22P02", 'invalid input syntax for type smallint: "1.5"'),
    (T.BOOL_OID, "o", "22P02", 'invalid input syntax for type boolean: "o"'),
    (T.FLOAT4_OID, "1e40", "22003", '"1e40" is out of range for type real'),
    (T.NUMERIC_OID, "1e1000000", "22003", "value overflows numeric format"),
    (T.DATE_OID, "2024-02-30", "22008", 'date/time field value out of range: "2024-02-30"'),
    (T.DATE_OID, "abc", "22007", 'invalid input syntax for type date: "abc"'),
    (T.DATE_OID, "infinity", "0A000", "infinite date values are not supported"),
    (T.TIMESTAMP_OID, "10000-01-01", "22008", 'timestamp out of range: "10000-01-01"'),
    (T.DATE_OID, "2024-01-01 BC", "22008", 'date out of range: "2024-01-01 BC"'),
    (T.TIME_OID, "24:00:00", "0A000", "time 24:00:00 is not supported"),
    (T.INTERVAL_OID, "1-13", "22015", 'interval field value out of range: "1-13"'),
    (T.BYTEA_OID, "\\x1", "22023", "invalid hexadecimal data: odd number of digits"),
    (T.UUID_OID, "x", "22P02", 'invalid input syntax for type uuid: "x"'),
    (T.INT4_ARRAY_OID, "{1", "22P02", 'malformed array literal: "{1"'),
    (T.INT4_ARRAY_OID, "[0:1]={1,2}", "0A000",
     "arrays with a lower bound other than 1 are not supported"),
    (T.JSON_OID, "x", "22P02", "invalid input syntax for type json"),
    (T.TEXT_OID, "a\x00b", "22021", 'invalid byte sequence for encoding "UTF8": 0x00'),
    (T.VARCHAR_OID, "abc", "22001", "value too long for type character varying(2)"),
    (T.REGCLASS_OID, "nosuch", "42P01", 'relation "nosuch" does not exist'),
    (T.REGTYPE_OID, "nosuchtype", "42704", 'type "nosuchtype" does not exist'),
])
def test_parse_text_errors(oid, text, sqlstate, message) -> None:
    typmod = 6 if oid == T.VARCHAR_OID else -1
    assert error_of(T.parse_text, oid, text, typmod) == (sqlstate, message)


@pytest.mark.parametrize("oid,value,text", [
    (T.BOOL_OID, False, "f"), (T.FLOAT8_OID, 1e20, "1e+20"), (T.FLOAT8_OID, 0.1, "0.1"),
    (T.FLOAT8_OID, -0.0, "-0"), (T.FLOAT8_OID, float("nan"), "NaN"), (T.FLOAT8_OID, 1e15, "1e+15"),
    (T.FLOAT8_OID, 1e14, "100000000000000"), (T.FLOAT8_OID, 1e-5, "1e-05"),
    (T.FLOAT4_OID, T.parse_text(T.FLOAT4_OID, "0.1"), "0.1"), (T.FLOAT4_OID, 1e6, "1e+06"),
    (T.NUMERIC_OID, decimal.Decimal("1.500"), "1.500"), (T.NUMERIC_OID, decimal.Decimal("1E+3"), "1000"),
    (T.NUMERIC_OID, decimal.Decimal("-0.00"), "0.00"), (T.BYTEA_OID, b"\x01\xab", "\\x01ab"),
    (T.TIMESTAMP_OID, datetime.datetime(2024, 1, 2, 3, 4, 5, 60000), "2024-01-02 03:04:05.06"),
    (T.INTERVAL_OID, Interval(0, -1, 7_200_000_000), "-1 days +02:00:00"),
    (T.INTERVAL_OID, Interval(0, 0, 0), "00:00:00"), (T.INTERVAL_OID, Interval(13, 0, 0), "1 year 1 mon"),
    (T.TIME_OID, datetime.time(1, 2, 3, 400), "01:02:03.0004"),
    (T.TEXT_ARRAY_OID, ["a b", None, "NULL", "", 'q"'], '{"a b",NULL,"NULL","","q\\""}'),
    (T.OIDVECTOR_OID, [23, 25], "23 25"), (T.PG_LSN_OID, 0x16_B374D848, "16/B374D848"),
    (T.REGTYPE_OID, 1043, "character varying"), (T.REGCLASS_OID, 1259, "1259"), (T.VOID_OID, None, ""),
])
def test_format_text(oid, value, text) -> None:
    assert T.format_text(oid, value) == text


def test_timestamptz_output_follows_the_zone() -> None:
    value = datetime.datetime(2024, 1, 15, 12, 0, tzinfo=datetime.UTC)
    assert T.format_text(T.TIMESTAMPTZ_OID, value, timezone="Asia/Kolkata") == \
        "2024-01-15 17:30:00+05:30"
    assert T.format_text(T.TIMESTAMPTZ_OID, value, timezone="America/New_York") == \
        "2024-01-15 07:00:00-05"
    assert T.output_function(T.TIMESTAMPTZ_OID, "UTC")(value) == "2024-01-15 12:00:00+00"
    assert error_of(T.format_text, T.TIMESTAMPTZ_OID, value, timezone="Nowhere/Land") == \
        ("22023", 'time zone "Nowhere/Land" not recognized')


# -- binary I/O ------------------------------------------------------------------------------------


@pytest.mark.parametrize("oid,value,data", [
    (T.INT4_OID, -2, b"\xff\xff\xff\xfe"), (T.BOOL_OID, True, b"\x01"),
    (T.FLOAT8_OID, 1.0, b"?\xf0\x00\x00\x00\x00\x00\x00"),
    (T.NUMERIC_OID, decimal.Decimal("-12345.678"),
     b"\x00\x03\x00\x01\x40\x00\x00\x03\x00\x01\x09\x29\x1a\x7c"),
    (T.DATE_OID, datetime.date(2000, 1, 2), b"\x00\x00\x00\x01"),
    (T.INTERVAL_OID, Interval(1, 2, 3), b"\x00" * 7 + b"\x03" + b"\x00\x00\x00\x02\x00\x00\x00\x01"),
    (T.JSONB_OID, "{}", b"\x01{}"), (T.TEXT_OID, "é", "é".encode()),
    (T.INT4_ARRAY_OID, [7, None], b"\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x17"
     b"\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x04\x00\x00\x00\x07\xff\xff\xff\xff"),
])
def test_binary_round_trip(oid, value, data) -> None:
    assert T.format_binary(oid, value) == data
    assert T.parse_binary(oid, data) == value


@pytest.mark.parametrize("oid,data,sqlstate", [
    (T.INT4_OID, b"\x00\x01", "22P03"), (T.BOOL_OID, b"", "22P03"), (T.TEXT_OID, b"\xff", "22021"),
    (T.NUMERIC_OID, b"\x00\x01\x00\x00\x00\x00\x00\x00\x27\x10", "22P03"),
    (T.JSONB_OID, b"\x02{}", "22P03"), (T.INT4_ARRAY_OID, b"\x00\x00\x00\x01", "22P03"),
    (T.UUID_OID, b"\x00" * 15, "22P03"), (T.TIME_OID, b"\x7f" + b"\xff" * 7, "22008"),
])
def test_parse_binary_rejects_bad_data(oid, data, sqlstate) -> None:
    assert error_of(T.parse_binary, oid, data)[0] == sqlstate


# -- casts -----------------------------------------------------------------------------------------


def test_cast_contexts_follow_pg_cast() -> None:
    assert T.cast_context(T.INT4_OID, T.INT8_OID) == "implicit"
    assert T.cast_context(T.INT8_OID, T.INT4_OID) == "assignment"
    assert T.cast_context(T.INT4_OID, T.BOOL_OID) == "explicit"
    assert T.cast_context(T.TEXT_OID, T.INT4_OID) == "explicit"        # I/O cast from a string
    assert T.cast_context(T.INT4_OID, T.TEXT_OID) == "assignment"      # I/O cast to a string
    assert T.cast_context(T.NAME_OID, T.TEXT_OID) == "implicit"
    assert T.cast_context(T.UNKNOWN_OID, T.DATE_OID) == "implicit"
    assert T.cast_context(T.DATE_OID, T.INT4_OID) is None
    assert T.cast_context(T.INT4_ARRAY_OID, T.INT8_ARRAY_OID) == "implicit"
    assert T.cast_context(T.DATE_OID, T.TIMESTAMPTZ_OID) == "implicit"
    assert T.cast_context(T.TIMESTAMPTZ_OID, T.DATE_OID) == "assignment"


def test_string_length_casts() -> None:
    assert T.cast("abcdef", T.TEXT_OID, T.VARCHAR_OID, 7, context="explicit") == "abc"
    assert error_of(T.cast, "abcdef", T.TEXT_OID, T.VARCHAR_OID, 7, context="assignment") == \
        ("22001", "value too long for type character varying(3)")
    assert T.cast("abc   ", T.TEXT_OID, T.VARCHAR_OID, 7, context="assignment") == "abc"
    assert T.cast("ab", T.TEXT_OID, T.BPCHAR_OID, 8, context="assignment") == "ab  "
    assert error_of(T.cast, "abcde", T.UNKNOWN_OID, T.BPCHAR_OID, 7, context="assignment") == \
        ("22001", "value too long for type character(3)")
    assert T.cast("ab  ", T.BPCHAR_OID, T.TEXT_OID) == "ab"


def test_numeric_and_integer_casts() -> None:
    typmod = T.resolve_type_name(["numeric"], [5, 2])[1]
    assert T.cast(decimal.Decimal("1.005"), T.NUMERIC_OID, T.NUMERIC_OID, typmod) == \
        decimal.Decimal("1.01")
    with pytest.raises(MirrordbError) as raised:
        T.cast(decimal.Decimal("1000"), T.NUMERIC_OID, T.NUMERIC_OID, typmod)
    assert (raised.value.sqlstate, raised.value.message, raised.value.detail) == \
        ("22003", "numeric field overflow",
         "A field with precision 5, scale 2 must round to an absolute value less than 10^3.")
    assert T.cast(2.5, T.FLOAT8_OID, T.INT4_OID) == 2 and T.cast(3.5, T.FLOAT8_OID, T.INT4_OID) == 4
    assert T.cast(decimal.Decimal("2.5"), T.NUMERIC_OID, T.INT4_OID) == 3
    assert error_of(T.cast, 2**40, T.INT8_OID, T.INT4_OID) == ("22003", "integer out of range")
    assert error_of(T.cast, 70000, T.INT4_OID, T.INT2_OID) == ("22003", "smallint out of range")
    assert T.cast(True, T.BOOL_OID, T.INT4_OID) == 1 and T.cast(0, T.INT4_OID, T.BOOL_OID) is False
    assert T.cast(True, T.BOOL_OID, T.TEXT_OID) == "true"
    assert T.cast(0.1, T.FLOAT8_OID, T.NUMERIC_OID) == decimal.Decimal("0.1")
    assert error_of(T.cast, datetime.date(2024, 1, 1), T.DATE_OID, T.INT4_OID) == \
        ("42846", "cannot cast type date to integer")


def test_date_and_zone_casts() -> None:
    stamp = datetime.datetime(2024, 7, 1, 12, 0)
    zoned = T.cast(stamp, T.TIMESTAMP_OID, T.TIMESTAMPTZ_OID, timezone="Europe/Paris")
    assert zoned == datetime.datetime(2024, 7, 1, 10, 0, tzinfo=datetime.UTC)
    assert T.cast(zoned, T.TIMESTAMPTZ_OID, T.TIMESTAMP_OID, timezone="Asia/Tokyo") == \
        datetime.datetime(2024, 7, 1, 19, 0)
    assert T.cast(zoned, T.TIMESTAMPTZ_OID, T.DATE_OID, timezone="Pacific/Auckland") == \
        datetime.date(2024, 7, 1)
    assert T.cast("1 day", T.UNKNOWN_OID, T.INTERVAL_OID) == Interval(0, 1, 0)
    assert T.cast([1, None], T.INT4_ARRAY_OID, T.TEXT_ARRAY_OID) == ["1", None]
    assert T.cast(["1.5"], T.TEXT_ARRAY_OID, T.NUMERIC_ARRAY_OID) == [decimal.Decimal("1.5")]


# -- common types and comparison -------------------------------------------------------------------


def test_common_type() -> None:
    assert T.common_type([T.UNKNOWN_OID, T.UNKNOWN_OID], "CASE") == T.TEXT_OID
    assert T.common_type([T.INT4_OID, T.UNKNOWN_OID], "CASE") == T.INT4_OID
    assert T.common_type([T.INT4_OID, T.NUMERIC_OID, T.INT8_OID], "UNION") == T.NUMERIC_OID
    assert T.common_type([T.INT4_OID, T.FLOAT8_OID], "VALUES") == T.FLOAT8_OID
    assert T.common_type([T.DATE_OID, T.TIMESTAMPTZ_OID], "COALESCE") == T.TIMESTAMPTZ_OID
    assert T.common_type([T.VARCHAR_OID, T.TEXT_OID], "UNION") == T.VARCHAR_OID
    assert T.common_type([T.TEXT_OID, T.VARCHAR_OID], "CASE") == T.TEXT_OID
    assert error_of(T.common_type, [T.INT4_OID, T.TEXT_OID], "CASE") == \
        ("42804", "CASE types integer and text cannot be matched")


def test_compare_and_sort_keys_follow_btree_order() -> None:
    nan = float("nan")
    assert sorted([None, nan, 1.0, -1.0], key=T.sort_key(T.FLOAT8_OID))[:2] == [-1.0, 1.0]
    assert T.compare(nan, nan, T.FLOAT8_OID) == 0 and T.compare(nan, 1e308, T.FLOAT8_OID) == 1
    assert T.compare(decimal.Decimal("NaN"), decimal.Decimal(5), T.NUMERIC_OID) == 1
    assert T.compare("ab  ", "ab", T.BPCHAR_OID) == 0
    assert T.compare(Interval(1, 0, 0), Interval(0, 30, 0), T.INTERVAL_OID) == 0
    assert T.compare(None, 5, T.INT4_OID) == 1
    assert T.compare([1, 2], [1, 2, 0], T.INT4_ARRAY_OID) == -1
    assert T.compare("a", "B", T.TEXT_OID) == 1                     # C collation: bytes


# -- session state ---------------------------------------------------------------------------------


class _Catalog:
    def oid_of(self, type_oid: int, name: str) -> int:
        if name == "pg_class":
            return 1259
        raise MirrordbError(f'relation "{name}" does not exist', sqlstate="42P01")

    def name_of(self, type_oid: int, oid: int) -> str | None:
        return "pg_class" if oid == 1259 else None


def test_catalog_lookup_hook_serves_regclass() -> None:
    T.set_catalog_lookup(_Catalog())
    try:
        assert T.parse_text(T.REGCLASS_OID, "pg_class") == 1259
        assert T.format_text(T.REGCLASS_OID, 1259) == "pg_class"
        assert T.format_text(T.REGCLASS_OID, 99) == "99"
    finally:
        T.set_catalog_lookup(None)


def test_session_timezone_is_per_thread() -> None:
    T.set_session_timezone("Asia/Tokyo")
    seen: list[str] = []
    worker = threading.Thread(target=lambda: seen.append(T.session_timezone()))
    worker.start()
    worker.join()
    try:
        assert seen == ["UTC"] and T.session_timezone() == "Asia/Tokyo"
        assert error_of(T.set_session_timezone, "Mars/Base")[0] == "22023"
    finally:
        T.set_session_timezone("UTC")
