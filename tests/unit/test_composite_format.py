"""Unit tests of PostgreSQL's composite datum (storage/composite_format.py) through the row
codec (storage/datum.py ``register_composite``): the documented header, alignment and varlena
headers, round trips with NULLs, dropped attributes, fewer stored fields than the type has,
arrays of composites, and DataCorrupted (never another exception) for garbage."""

from __future__ import annotations

import decimal
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import DataCorrupted, MirrordbError
from mirrordb.storage import datum
from mirrordb.storage.composite_format import (
    HEAP_HASNULL, HEAP_HASVARWIDTH, decode_composite, encode_composite,
)

PAIR_OID, PAIR_ARRAY_OID = 700_001, 700_000          # OIDs no test cluster hands out
WIDE_OID, WIDE_ARRAY_OID = 700_003, 700_002


class Record(tuple):  # type: ignore[type-arg]
    """A record value as the SQL layer's RowRecord is: a tuple subclass (so an array of them
    is one-dimensional)."""


def _register() -> None:
    datum.register_composite(PAIR_OID, "pair", [(datum.INT4_OID, False),
                                                (datum.TEXT_OID, False)],
                             PAIR_ARRAY_OID, Record)
    datum.register_composite(WIDE_OID, "wide", [(datum.INT8_OID, False),
                                                (datum.TEXT_OID, True),     # dropped
                                                (datum.NUMERIC_OID, False),
                                                (PAIR_OID, False)],
                             WIDE_ARRAY_OID, Record)


def _stored(type_oid: int, value: object) -> bytes:
    """The composite datum after its varlena header (the row codec's header stripped)."""
    data, _ = datum.RowCodec([type_oid]).encode([value])
    return data[1:] if data[0] & 1 == 0 else data[4:]


def test_header_alignment_and_short_varlena() -> None:
    _register()
    stored = _stored(PAIR_OID, (7, "ab"))
    typmod, typeid, hi, lo, posid, natts, infomask, hoff = struct.unpack_from("<iIHHHHHB",
                                                                             stored)
    assert (typmod, typeid, hi, lo, posid, natts) == (-1, PAIR_OID, 0xFFFF, 0xFFFF, 0, 2)
    assert infomask == HEAP_HASVARWIDTH and hoff == 24
    # data at offset 24 of the datum (20 after the varlena header): int4, then "ab" with a
    # one-byte header ((1 + 2) << 1 | 1) and no alignment
    assert stored[20:] == struct.pack("<i", 7) + bytes([(3 << 1) | 1]) + b"ab"


def test_nulls_long_text_and_round_trip() -> None:
    _register()
    codec = datum.RowCodec([PAIR_OID])
    long_text = "x" * 300
    for value in [(1, None), (None, None), (None, long_text), (-5, "")]:
        data, bitmap = codec.encode([value])
        assert codec.decode(data, bitmap) == (value,)
    stored = _stored(PAIR_OID, (None, long_text))
    assert stored[16] & HEAP_HASNULL and stored[19] == 0b10     # bitmap: only field 2
    # a long value: 4-byte header ((4 + 300) << 2), aligned to 4 (offset 24 is)
    assert struct.unpack_from("<I", stored, 20)[0] == (304 << 2)


def test_dropped_attributes_keep_their_place_and_nest() -> None:
    _register()
    codec = datum.RowCodec([WIDE_OID, WIDE_ARRAY_OID])
    value = Record((9, decimal.Decimal("1.50"), Record((3, "in"))))
    data, bitmap = codec.encode([value, [value, None]])
    assert codec.decode(data, bitmap) == (value, [value, None])
    stored = _stored(WIDE_OID, value)
    assert struct.unpack_from("<H", stored, 14)[0] == 4          # natts counts the dropped one
    assert stored[19] == 0b1101                                  # ... which is NULL


def test_a_datum_with_fewer_fields_reads_missing_ones_as_null() -> None:
    _register()
    one_field = datum._field_format(datum.INT4_OID)
    stored = encode_composite(PAIR_OID, [42], [one_field])
    fields = [one_field, datum._field_format(datum.TEXT_OID)]
    assert decode_composite(stored, fields, tuple) == (42, None)


def test_wrong_values_are_operating_errors() -> None:
    _register()
    codec = datum.RowCodec([PAIR_OID])
    with pytest.raises(MirrordbError):
        codec.encode([(1, "a", 3)])
    with pytest.raises(MirrordbError):
        codec.encode([(1, 2)])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_garbage_is_data_corrupted(garbage: bytes) -> None:
    _register()
    codec = datum.RowCodec([WIDE_OID])
    header = bytes([(len(garbage) << 1)]) if len(garbage) < 128 else \
        struct.pack("<I", (len(garbage) << 1) | 1)
    try:
        codec.decode(header + garbage, None)
    except DataCorrupted:
        pass
