"""Hypothesis fuzz tests of the storage codecs: the row codec round-trips every type with NULLs,
sort keys form a total order, and every decoder (rows, heap tuple headers, control file, page
header) fed garbage raises DataCorrupted and nothing else."""

from __future__ import annotations

import datetime
import decimal
import itertools
import math
import struct
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrordb.common.crc import crc32c
from mirrordb.common.errors import DataCorrupted
from mirrordb.storage import datum
from mirrordb.storage import page as pagelib
from mirrordb.storage import tuple as tuplelib
from mirrordb.storage.control import CRC_OFFSET, decode_control_file
from mirrordb.storage.datum import Interval, RowCodec, sort_key

FUZZ_SETTINGS = settings(max_examples=300, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])

INT32 = st.integers(-2**31, 2**31 - 1)
TEXT = st.text(max_size=300)
AWARE_TIMEZONES = st.builds(
    datetime.timezone,
    st.integers(-23 * 60 + 1, 23 * 60 - 1).map(lambda minutes: datetime.timedelta(minutes=minutes)))

VALUES: dict[int, st.SearchStrategy[Any]] = {
    datum.BOOL_OID: st.booleans(),
    datum.INT2_OID: st.integers(-2**15, 2**15 - 1),
    datum.INT4_OID: INT32,
    datum.INT8_OID: st.integers(-2**63, 2**63 - 1),
    datum.OID_OID: st.integers(0, 2**32 - 1),
    datum.XID_OID: st.integers(0, 2**32 - 1),
    datum.PG_LSN_OID: st.integers(0, 2**64 - 1),
    datum.FLOAT4_OID: st.floats(width=32),
    datum.FLOAT8_OID: st.floats(),
    datum.DATE_OID: st.dates(),
    datum.TIME_OID: st.times(),
    datum.TIMESTAMP_OID: st.datetimes(),
    datum.TIMESTAMPTZ_OID: st.datetimes(min_value=datetime.datetime(2, 1, 1),
                                        max_value=datetime.datetime(9998, 12, 31),
                                        timezones=AWARE_TIMEZONES),
    datum.INTERVAL_OID: st.builds(Interval, INT32, INT32, st.integers(-2**63, 2**63 - 1)),
    datum.UUID_OID: st.uuids(),
    datum.BYTEA_OID: st.binary(max_size=300),
    datum.NAME_OID: TEXT.filter(lambda text: len(text.encode("utf-8")) <= 63),
    datum.TEXT_OID: TEXT,
    datum.JSON_OID: TEXT,
    datum.JSONB_OID: TEXT,
    datum.BPCHAR_OID: TEXT,
    datum.VARCHAR_OID: TEXT,
    datum.NUMERIC_OID: st.decimals(allow_nan=True, allow_infinity=True).filter(
        lambda value: not value.is_snan()),
}
TYPE_OIDS = sorted(VALUES)


@st.composite
def rows(draw: Callable[..., Any]) -> tuple[list[int], list[object]]:
    type_oids = draw(st.lists(st.sampled_from(TYPE_OIDS), max_size=20))
    values = [draw(st.none() | VALUES[oid]) for oid in type_oids]
    return type_oids, values


def same_value(written: object, read: object) -> bool:
    if isinstance(written, float) and math.isnan(written):
        return isinstance(read, float) and math.isnan(read)
    if isinstance(written, decimal.Decimal):
        if written.is_nan():
            return isinstance(read, decimal.Decimal) and read.is_nan()
        return str(written) == str(read)
    if isinstance(written, datetime.datetime) and written.utcoffset() is not None:
        return isinstance(read, datetime.datetime) and read == written \
            and read.tzinfo is datetime.UTC
    return type(written) is type(read) and written == read


@FUZZ_SETTINGS
@given(rows())
def test_row_round_trip(row: tuple[list[int], list[object]]) -> None:
    type_oids, values = row
    codec = RowCodec(type_oids)
    data, nulls = codec.encode(values)
    assert (nulls is None) == all(value is not None for value in values)
    decoded = codec.decode(data, nulls)
    assert len(decoded) == len(values)
    for written, read in zip(values, decoded):
        assert (written is None and read is None) or same_value(written, read), (written, read)
    assert codec.encode(decoded) == (data, nulls)


@FUZZ_SETTINGS
@given(rows(), st.data())
def test_damaged_rows_raise_only_data_corrupted(row: tuple[list[int], list[object]],
                                                data_strategy: st.DataObject) -> None:
    type_oids, values = row
    codec = RowCodec(type_oids)
    data, nulls = codec.encode(values)
    damaged = bytearray(data)
    for _ in range(data_strategy.draw(st.integers(0, 4))):
        action = data_strategy.draw(st.sampled_from(["flip", "cut", "grow"]))
        if action == "flip" and damaged:
            index = data_strategy.draw(st.integers(0, len(damaged) - 1))
            damaged[index] ^= data_strategy.draw(st.integers(1, 255))
        elif action == "cut":
            del damaged[data_strategy.draw(st.integers(0, len(damaged))):]
        else:
            damaged += data_strategy.draw(st.binary(min_size=1, max_size=8))
    damaged_nulls = data_strategy.draw(st.none() | st.just(nulls) | st.binary(max_size=4))
    try:
        codec.decode(bytes(damaged), damaged_nulls)
    except DataCorrupted:
        pass


@FUZZ_SETTINGS
@given(st.lists(st.sampled_from(TYPE_OIDS), max_size=12), st.binary(max_size=200),
       st.none() | st.binary(max_size=3))
def test_garbage_rows_raise_only_data_corrupted(type_oids: list[int], data: bytes,
                                                nulls: bytes | None) -> None:
    try:
        decoded = RowCodec(type_oids).decode(data, nulls)
    except DataCorrupted:
        return
    assert len(decoded) == len(type_oids)


@st.composite
def comparable_values(draw: Callable[..., Any]) -> tuple[int, list[object]]:
    type_oid = draw(st.sampled_from(TYPE_OIDS))
    return type_oid, draw(st.lists(st.none() | VALUES[type_oid], min_size=2, max_size=8))


@FUZZ_SETTINGS
@given(comparable_values())
def test_sort_keys_are_a_total_order(case: tuple[int, list[object]]) -> None:
    """Exactly one of a < b, a == b, b < a; and the order is transitive (sorting is stable)."""
    _, values = case
    keys = [sort_key((value,)) for value in values]
    for left in keys:
        for right in keys:
            assert [left < right, left == right, right < left].count(True) == 1
    ordered = sorted(keys)
    assert all(not later < earlier for earlier, later in itertools.pairwise(ordered))
    assert all(key[0] is datum.NULL_SORT_KEY for key in ordered[len(ordered) - sum(
        value is None for value in values):])


@FUZZ_SETTINGS
@given(st.binary(max_size=120))
def test_garbage_tuple_headers_raise_only_data_corrupted(item: bytes) -> None:
    try:
        header = tuplelib.read_header(item)
    except DataCorrupted:
        return
    assert header.hoff <= len(item)
    data, bitmap = tuplelib.tuple_data(item)
    assert len(data) == len(item) - header.hoff
    assert bitmap is None or len(bitmap) == tuplelib.null_bitmap_length(header.natts)


@FUZZ_SETTINGS
@given(st.binary(min_size=0, max_size=400), st.booleans())
def test_garbage_control_files_raise_only_data_corrupted(data: bytes, plausible: bool) -> None:
    damaged = bytearray(data)
    if plausible and len(damaged) >= 296:
        struct.pack_into("<I", damaged, 8, 1300)        # get past the version check
        struct.pack_into("<I", damaged, CRC_OFFSET, crc32c(bytes(damaged[:CRC_OFFSET])))
    try:
        decode_control_file(bytes(damaged))
    except DataCorrupted:
        pass


@FUZZ_SETTINGS
@given(st.binary(min_size=pagelib.PAGE_HEADER_SIZE, max_size=pagelib.PAGE_HEADER_SIZE))
def test_garbage_page_headers_raise_only_data_corrupted(header: bytes) -> None:
    page = header + bytes(pagelib.BLCKSZ - len(header))
    try:
        pagelib.verify_header(page)
    except DataCorrupted:
        pass
