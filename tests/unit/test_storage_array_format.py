"""Unit tests of array columns in the row codec (storage/array_format.py, numeric_format.py and
the array entries of datum.py): the stored bytes equal PostgreSQL 15's, round trips over every
element type and NULL pattern (hypothesis), operating errors for bad values, DataCorrupted for
bad bytes, sort keys.

The expected bytes were read from a PostgreSQL 15 heap page (the same values inserted into a
one-column table, the page read from the data file after CHECKPOINT): the array varlena after
its length header, which is what the row codec stores under its own header.
"""

from __future__ import annotations

import datetime
import decimal
import math
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import DataCorrupted, MirrordbError
from mirrordb.storage import datum
from mirrordb.storage.network_format import Inet
from mirrordb.storage.range_format import Range
from mirrordb.storage.datum import Interval, RowCodec
from mirrordb.storage.numeric_format import decode_numeric, encode_numeric

D = decimal.Decimal

# (array type OID, value, PostgreSQL's stored bytes after the varlena header, in hex)
POSTGRES_BYTES = [
    (1007, [1, 2, 3], "0100000000000000170000000300000001000000010000000200000003000000"),
    (1007, [1, None, 3],
     "010000002000000017000000030000000100000005000000000000000100000003000000"),
    (1007, [], "000000000000000017000000"),
    (1009, ["a", "bc", None],
     "0100000020000000190000000300000001000000030000000000000014000000610000001800000062630000"),
    (1009, ["x"], "01000000000000001900000001000000010000001400000078000000"),
    (1016, [1, None, 2], "0100000020000000140000000300000001000000050000000000000001000000"
                         "000000000200000000000000"),
    (1005, [1, 2, 3], "0100000000000000150000000300000001000000010002000300"),
    (1231, [D("1.5"), None, D("NaN"), D("-12345.678"), D(0), D("Infinity")],
     "0100000020000000a406000006000000010000003d000000000000002800000080800100881300001800000000"
     "c000003000000081a1010029097c1a18000000008000001800000000d00000"),
    (1231, [D(x) for x in ("0.0001 123456789012345678901234567890.5 1e300 1e-200 -0.00 "
                           "1.000000000000000000000000000000000000000000000000000000000000000000001"
                           " 100").split()],
     "0100000000000000a40600000700000001000000200000007f8201006000000087800c00800dd21ed2042e16"
     "3423800dd21e88132800000000004b000100000028000000c800ceff010000001800000000810000b8000000"
     "45000000010000000000000000000000000000000000000000000000000000000000000000000000e8030000"
     "2000000000806400"),
    (1003, ["ab"], "0100000000000000130000000100000001000000" + "6162" + "00" * 62),
    (1000, [True, None, False], "010000002000000010000000030000000100000005000000000000000100"),
    (2951, [uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")],
     "0100000000000000860b00000100000001000000a0eebc999c0b4ef8bb6d6bb9bd380a11"),
    (1187, [Interval(0, 1, 2 * 3600 * 10**6)],
     "0100000000000000a20400000100000001000000004827ad010000000100000000000000"),
    (1014, ["a  ", "bcd"],
     "01000000000000001204000002000000010000001c000000612020001c00000062636400"),
    (1015, ["ab"], "01000000000000001304000001000000010000001800000061620000"),
    (1185, [datetime.datetime(2000, 1, 2, tzinfo=datetime.UTC)],
     "0100000000000000a004000001000000010000000060d71d14000000"),
    (1022, [1.5, None], "0100000020000000bd0200000200000001000000010000000000000000000000"
                        "0000f83f"),
    (1001, [b"\x01\x02"], "01000000000000001100000001000000010000001800000001020000"),
    (1182, [datetime.date(2000, 1, 3), None],
     "01000000200000003a0400000200000001000000010000000000000002000000"),
    (1183, [datetime.time(12, 34, 56, 789000)],
     "01000000000000003b04000001000000010000000826e68b0a000000"),
    (1115, [datetime.datetime(1999, 12, 31, 23, 59, 59)],
     "01000000000000005a0400000100000001000000c0bdf0ffffffffff"),
    (1028, [4000000000], "01000000000000001a000000010000000100000000286bee"),
    (199, ["[1, 2]"], "0100000000000000720000000100000001000000280000005b312c20325d0000"),
    (1021, [1.5], "0100000000000000bc02000001000000010000000000c03f"),
    (3221, [(1 << 32) + 2], "0100000000000000940c000001000000010000000200000001000000"),
    (2210, [1259], "01000000000000009d0800000100000001000000eb040000"),
    # a two-dimensional array, ranges and network addresses (read with pageinspect)
    (1007, [[1, 2], [3, None]], "0200000028000000170000000200000002000000010000000100000007"
                                "00000000000000010000000200000003000000"),
    (3904, Range(1, 5, True, False), "400f0000010000000500000002"),
    (3926, Range(None, 11, False, False), "560f00000b0000000000000008"),
    (3906, Range(D("1.5"), None, True, False), "420f00000f80800100881312"),
    (3912, Range.empty_range(), "480f000001"),
    (3910, Range(datetime.datetime(2000, 1, 2, tzinfo=datetime.UTC),
                 datetime.datetime(2000, 1, 3, tzinfo=datetime.UTC), True, False),
     "460f00000060d71d1400000000c0ae3b2800000002"),
    (869, Inet(4, 0xC0A80001, 24), "0218c0a80001"),
    (650, Inet(6, 0x20010DB8 << 96, 32), "032020010db8" + "00" * 12),
]


def stored_value(codec: RowCodec, value: object) -> bytes:
    """The bytes of a one-column row's value, without the row codec's length header."""
    data, _ = codec.encode([value])
    return data[4:] if data[0] & 1 else data[1:]


@pytest.mark.parametrize(("array_oid", "value", "expected"), POSTGRES_BYTES)
def test_stored_bytes_are_postgresqls(array_oid: int, value: list[object],
                                      expected: str) -> None:
    codec = RowCodec([array_oid])
    assert stored_value(codec, value).hex() == expected
    data, bitmap = codec.encode([value])
    assert _same(list(codec.decode(data, bitmap)), [value])


def test_hand_computed_layout_with_nulls_and_alignment() -> None:
    # int8[] {NULL, 7}: header, dims, bitmap 0b10, padding to MAXALIGN (offset 32), one element
    expected = (b"\x01\x00\x00\x00" + (32).to_bytes(4, "little") + (20).to_bytes(4, "little")
                + (2).to_bytes(4, "little") + (1).to_bytes(4, "little") + b"\x02" + bytes(7)
                + (7).to_bytes(8, "little"))
    assert stored_value(RowCodec([1016]), [None, 7]) == expected


# -- round trips ------------------------------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_ELEMENTS: dict[int, st.SearchStrategy[object]] = {
    1000: st.booleans(),
    1005: st.integers(-2**15, 2**15 - 1),
    1007: st.integers(-2**31, 2**31 - 1),
    1016: st.integers(-2**63, 2**63 - 1),
    1028: st.integers(0, 2**32 - 1),
    1021: st.floats(width=32, allow_nan=False),
    1022: st.floats(allow_nan=False),
    1231: st.decimals(allow_nan=False, allow_infinity=False, places=None,
                      min_value=D("-1e40"), max_value=D("1e40"))
    | st.sampled_from([D("NaN"), D("Infinity"), D("-Infinity")]),
    1009: _TEXT, 1015: _TEXT, 1014: _TEXT, 199: _TEXT, 3807: _TEXT,
    1003: st.text(st.characters(blacklist_categories=("Cs",), min_codepoint=1), max_size=15),
    1001: st.binary(max_size=20),
    1182: st.dates(),
    1183: st.times(),
    1115: st.datetimes(),
    1185: st.datetimes(timezones=st.just(datetime.UTC)),
    1187: st.builds(Interval, st.integers(-2**31, 2**31 - 1), st.integers(-2**31, 2**31 - 1),
                    st.integers(-2**63, 2**63 - 1)),
    2951: st.uuids(),
    1002: st.text(st.characters(max_codepoint=0xFF, min_codepoint=1), max_size=1),
}


@st.composite
def array_rows(draw: st.DrawFn) -> tuple[list[int], list[object]]:
    oids = draw(st.lists(st.sampled_from(sorted(_ELEMENTS)), min_size=1, max_size=4))
    values = [draw(st.none() | st.lists(st.none() | _ELEMENTS[oid], max_size=12))
              for oid in oids]
    return oids, values


def _same(left: object, right: object) -> bool:
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, decimal.Decimal) and left.is_nan():
        return isinstance(right, decimal.Decimal) and right.is_nan()
    if isinstance(left, float) and math.isnan(left):
        return isinstance(right, float) and math.isnan(right)
    if isinstance(left, datetime.datetime):
        return left == right and left.utcoffset() == right.utcoffset()   # type: ignore[union-attr]
    return type(left) is type(right) and left == right


@settings(max_examples=300, deadline=None)
@given(array_rows())
def test_arrays_round_trip(row: tuple[list[int], list[object]]) -> None:
    oids, values = row
    codec = RowCodec(oids)
    data, bitmap = codec.encode(values)
    decoded = codec.decode(data, bitmap)
    assert all(_same(value, back) for value, back in zip(values, decoded)), (values, decoded)


@settings(max_examples=300, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_numeric_format_round_trips_value_and_scale(value: decimal.Decimal) -> None:
    back = decode_numeric(encode_numeric(value))
    assert back == value and _display_scale(back) == _display_scale(value)


def _display_scale(value: decimal.Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


# -- errors --------------------------------------------------------------------------------------


def test_bad_values_are_operating_errors() -> None:
    codec = RowCodec([1007])
    with pytest.raises(MirrordbError) as wrong:
        codec.encode(["{1}"])
    assert wrong.value.sqlstate == "22P02"
    with pytest.raises(MirrordbError) as element:
        codec.encode([[1, "x"]])
    assert element.value.sqlstate == "22P02"
    with pytest.raises(MirrordbError) as nested:
        codec.encode([[[1], [2, 3]]])          # sub-arrays of different lengths
    assert nested.value.sqlstate == "2202E"
    assert codec.decode(*codec.encode([[[1, None], [2, 3]]])) == ([[1, None], [2, 3]],)
    with pytest.raises(MirrordbError) as too_big:
        codec.encode([[2**31]])
    assert too_big.value.sqlstate == "22003"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_garbage_raises_only_data_corrupted(garbage: bytes) -> None:
    codec = RowCodec([1009, 1231])
    header = bytes([len(garbage) << 1]) if len(garbage) < 128 else b""
    for data in (header + garbage + bytes([len(garbage) << 1]) + garbage if header else b"",
                 garbage):
        try:
            codec.decode(data, None)
        except DataCorrupted:
            pass


def test_truncated_and_mislabelled_arrays_are_corrupt() -> None:
    codec = RowCodec([1007])
    data, _ = codec.encode([[1, 2, 3]])
    with pytest.raises(DataCorrupted):
        codec.decode(bytes([(len(data) - 2) << 1]) + data[1:-1], None)
    with pytest.raises(DataCorrupted):
        RowCodec([1016]).decode(data, None)          # stored element type int4, not int8


# -- sort keys -------------------------------------------------------------------------------------


def test_sort_keys_order_arrays_as_postgresql() -> None:
    arrays = [[1, None], [1, 2], [], [1], [0, 5], None, [1, 2, 0]]
    ordered = sorted(arrays, key=lambda value: datum.sort_key([value]))
    assert ordered == [[], [0, 5], [1], [1, 2], [1, 2, 0], [1, None], None]
