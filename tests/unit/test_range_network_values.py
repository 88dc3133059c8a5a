"""Range and network values and multidimensional array shapes without a server: make_range's
canonical forms and refusals, range_cmp's order against a brute-force model, the stored range
and inet bytes round-tripping, inet_net_ntop's IPv6 text, and the array shape helpers.
(Behaviour against a real PostgreSQL is tests/compat/test_range_network_types_compat.py.)"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import array_dimensions as dims
from mirrordb.sql import types as T
from mirrordb.sql.network_types import address_text, parse_inet
from mirrordb.sql.range_functions import contains_element
from mirrordb.sql.range_types import INT4RANGE_OID, NUMRANGE_OID, make_range
from mirrordb.storage.datum import RowCodec
from mirrordb.storage.network_format import Inet
from mirrordb.storage.range_format import Range

BOUNDS = st.one_of(st.none(), st.integers(-20, 20))


@st.composite
def int4ranges(draw: st.DrawFn) -> Range:
    lower, upper = draw(BOUNDS), draw(BOUNDS)
    if lower is not None and upper is not None and lower > upper:
        lower, upper = upper, lower
    return make_range(INT4RANGE_OID, lower, upper, draw(st.booleans()), draw(st.booleans()))


def _points(value: Range) -> frozenset[int]:
    return frozenset(point for point in range(-30, 31) if contains_element(value, point))


def test_make_range_canonical_forms_and_refusal() -> None:
    assert make_range(INT4RANGE_OID, 1, 5, True, True) == Range(1, 6, True, False)
    assert make_range(INT4RANGE_OID, 1, 2, False, False).empty
    assert make_range(INT4RANGE_OID, None, 3, True, True) == Range(None, 4, False, False)
    assert make_range(NUMRANGE_OID, 1, 1, True, True) == Range(1, 1, True, True)
    assert make_range(NUMRANGE_OID, 1, 1, True, False).empty
    with pytest.raises(MirrordbError) as refused:
        make_range(INT4RANGE_OID, 5, 1, True, False)
    assert refused.value.sqlstate == "22000"
    with pytest.raises(MirrordbError) as overflow:
        make_range(INT4RANGE_OID, 1, 2**31 - 1, True, True)
    assert overflow.value.sqlstate == "22003"


@settings(max_examples=200, deadline=None)
@given(int4ranges(), int4ranges())
def test_canonical_int_ranges_are_equal_exactly_when_they_hold_the_same_points(
        left: Range, right: Range) -> None:
    finite = all(bound is not None for value in (left, right)
                 for bound in (value.lower, value.upper))
    if finite:
        assert (left == right) == (_points(left) == _points(right))
    assert (left < right) + (left == right) + (left > right) == 1


@settings(max_examples=100, deadline=None)
@given(int4ranges())
def test_stored_ranges_round_trip(value: Range) -> None:
    codec = RowCodec([INT4RANGE_OID, T.TEXT_OID])
    assert codec.decode(*codec.encode([value, "x"])) == (value, "x")
    assert T.parse_binary(INT4RANGE_OID, T.format_binary(INT4RANGE_OID, value)) == value
    assert T.parse_text(INT4RANGE_OID, T.format_text(INT4RANGE_OID, value)) == value


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**128 - 1), st.integers(0, 128))
def test_ipv6_text_reads_back_and_stores(address: int, bits: int) -> None:
    value = Inet(6, address, bits)
    text = address_text(value)
    assert int(ipaddress.IPv6Address(text)) == address
    assert parse_inet(f"{text}/{bits}", False) == value
    codec = RowCodec([869])
    assert codec.decode(*codec.encode([value])) == (value,)


def test_network_order_and_cidr_refusal() -> None:
    ordered = [parse_inet(text, False) for text in
               ("9.255.0.0/16", "10.0.0.0/8", "10.0.0.0/16", "10.0.0.1", "::1")]
    assert sorted(reversed(ordered)) == ordered
    with pytest.raises(MirrordbError) as refused:
        parse_inet("10.1.2.3/8", True)
    assert refused.value.detail == "Value has bits set to right of mask."


def test_array_shapes() -> None:
    grid = [[1, 2, 3], [4, None, 6]]
    assert dims.dimensions(grid) == [2, 3] and dims.array_dims(grid) == "[1:2][1:3]"
    assert dims.reshape(dims.flatten(grid), [2, 3]) == grid
    assert dims.subscript(grid, [2, 3]) == 6 and dims.subscript(grid, [2]) is None
    assert dims.slice_array(grid, [(2, None), (None, 2)]) == [[4, None]]
    assert dims.concatenate(grid, [7, 8, 9]) == grid + [[7, 8, 9]]
    with pytest.raises(MirrordbError) as mismatched:
        dims.array_of_arrays([[1, 2], [3]])
    assert mismatched.value.sqlstate == "2202E"
    assert not dims.is_rectangular([[1], [2, 3]])
