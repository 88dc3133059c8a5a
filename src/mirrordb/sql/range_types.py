"""The built-in range types: int4range, int8range, numrange, daterange, tsrange, tstzrange.

Who calls it: sql/types.py imports it at its end, and this module registers each range type and
its array type there (pg_type rows with PostgreSQL's OIDs, range_in/range_out,
range_recv/range_send, text casts); sql/range_functions.py builds the operators and functions
on ``make_range`` and the bound comparisons here. Values are storage/range_format.py's
``Range`` (stored as PostgreSQL's range_serialize bytes by the row codec).

Semantics follow rangetypes.c: a range is made by ``make_range`` (range_serialize then the
type's canonical function): lower above upper is 22000, equal bounds not both inclusive make
the empty range, infinite bounds are never inclusive; the discrete types (int4, int8, date)
are canonicalised to ``[lower, upper)``.

Text form (range_in/range_out): ``empty`` or ``[``/``(`` lower ``,`` upper ``]``/``)``; a
missing bound is infinite; a bound may be double-quoted (``""`` is the empty string, a doubled
quote inside quotes is a quote) and backslash escapes the next character. Output quotes a bound
that is empty or holds ``"\\()[],`` or white space.

Binary form (range_send): the flags byte (range_format.py's values), then for each finite
bound an int32 length and the subtype's binary form.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.sql import numeric as num
from mirrordb.sql import types as T
from mirrordb.storage import datum
from mirrordb.storage.range_format import (RANGE_EMPTY, RANGE_LB_INC, RANGE_LB_INF, RANGE_UB_INC,
                                           RANGE_UB_INF, Range)

INT4RANGE_OID = 3904
INT8RANGE_OID = 3926
NUMRANGE_OID = 3906
DATERANGE_OID = 3912
TSRANGE_OID = 3908
TSTZRANGE_OID = 3910
_RECEIVE_FLAGS = RANGE_EMPTY | RANGE_LB_INC | RANGE_UB_INC | RANGE_LB_INF | RANGE_UB_INF
_INT4 = struct.Struct(">i")
_WHITESPACE = " \t\n\r\v\f"
_BOUND_SPECIALS = frozenset('"\\()[],' + _WHITESPACE)


def _next_int4(value: int) -> int:
    return num.check_int4(value + 1)


def _next_int8(value: int) -> int:
    return num.check_int8(value + 1)


def _next_date(value: datetime.date) -> datetime.date:
    try:
        return value + datetime.timedelta(days=1)
    except OverflowError:
        raise MirrordbError("date out of range", sqlstate="22008") from None


@dataclass(frozen=True, slots=True)
class RangeType:
    """One range type: its OID, name, subtype, array type, typalign and (discrete types) the
    step its canonical function takes."""

    oid: int
    name: str
    subtype: int
    array_oid: int
    alignment: str
    next_value: Callable[[Any], Any] | None = None


RANGE_TYPES: dict[int, RangeType] = {info.oid: info for info in (
    RangeType(INT4RANGE_OID, "int4range", T.INT4_OID, 3905, "i", _next_int4),
    RangeType(NUMRANGE_OID, "numrange", T.NUMERIC_OID, 3907, "i"),
    RangeType(TSRANGE_OID, "tsrange", T.TIMESTAMP_OID, 3909, "d"),
    RangeType(TSTZRANGE_OID, "tstzrange", T.TIMESTAMPTZ_OID, 3911, "d"),
    RangeType(DATERANGE_OID, "daterange", T.DATE_OID, 3913, "i", _next_date),
    RangeType(INT8RANGE_OID, "int8range", T.INT8_OID, 3927, "d", _next_int8),
)}
RANGE_OID_BY_SUBTYPE = {info.subtype: info.oid for info in RANGE_TYPES.values()}


def range_subtype(range_oid: int) -> int:
    return RANGE_TYPES[range_oid].subtype


# -- bounds and making ranges ---------------------------------------------------------------------


def compare_bounds(left: tuple[Any, ...], right: tuple[Any, ...]) -> int:
    """range_cmp_bounds over ``Range.lower_key``/``upper_key`` keys: -1, 0 or 1."""
    return -1 if left < right else (1 if left > right else 0)


def make_range(range_oid: int, lower: Any, upper: Any, lower_inc: bool, upper_inc: bool,
               empty: bool = False) -> Range:
    """make_range: check and normalise the bounds (None: infinite), then canonicalise."""
    if empty:
        return Range.empty_range()
    lower_inc = lower_inc and lower is not None
    upper_inc = upper_inc and upper is not None
    if lower is not None and upper is not None:
        if lower > upper:
            raise MirrordbError("range lower bound must be less than or equal to range upper "
                                "bound", sqlstate="22000")
        if lower == upper and not (lower_inc and upper_inc):
            return Range.empty_range()
    range_type = RANGE_TYPES.get(range_oid)       # 0: bounds already canonical
    next_value = range_type.next_value if range_type is not None else None
    if next_value is None:
        return Range(lower, upper, lower_inc, upper_inc)
    if lower is not None and not lower_inc:
        lower, lower_inc = next_value(lower), True
    if upper is not None and upper_inc:
        upper, upper_inc = next_value(upper), False
    if lower is not None and upper is not None and lower >= upper:
        return Range.empty_range()
    return Range(lower, upper, lower_inc, upper_inc)


def parse_bound_flags(text: str) -> tuple[bool, bool]:
    """range_parse_flags: '[]', '[)', '(]' or '()'."""
    if len(text) != 2 or text[0] not in "[(" or text[1] not in "])":
        raise MirrordbError("invalid range bound flags", sqlstate="42601",
                            hint='Valid values are "[]", "[)", "(]", and "()".')
    return text[0] == "[", text[1] == "]"


# -- text I/O -------------------------------------------------------------------------------------


def _malformed(text: str, detail: str) -> MirrordbError:
    return MirrordbError(f'malformed range literal: "{text}"', sqlstate="22P02", detail=detail)


def _parse_bound(text: str, position: int) -> tuple[str | None, int]:
    """range_parse_bound: the bound's text (None: infinite) and the position after it."""
    if position < len(text) and text[position] in ",)]":
        return None, position
    chars: list[str] = []
    in_quote = False
    while in_quote or position >= len(text) or text[position] not in ",)]":
        if position >= len(text):
            raise _malformed(text, "Unexpected end of input.")
        char = text[position]
        position += 1
        if char == "\\":
            if position >= len(text):
                raise _malformed(text, "Unexpected end of input.")
            chars.append(text[position])
            position += 1
        elif char == '"':
            if not in_quote:
                in_quote = True
            elif position < len(text) and text[position] == '"':
                chars.append('"')
                position += 1
            else:
                in_quote = False
        else:
            chars.append(char)
    return "".join(chars), position


def parse_range_text(text: str) -> tuple[str | None, str | None, bool, bool, bool]:
    """range_parse: (lower text, upper text, lower inclusive, upper inclusive, empty)."""
    body = text.lstrip(_WHITESPACE)
    if body[:5].lower() == "empty":
        if body[5:].strip(_WHITESPACE):
            raise _malformed(text, 'Junk after "empty" key word.')
        return None, None, False, False, True
    if not body or body[0] not in "[(":
        raise _malformed(text, "Missing left parenthesis or bracket.")
    lower, position = _parse_bound(body, 1)
    if position >= len(body) or body[position] != ",":
        raise _malformed(text, "Missing comma after lower bound.")
    upper, position = _parse_bound(body, position + 1)
    if position >= len(body) or body[position] not in ")]":
        raise _malformed(text, "Too many commas.")
    if body[position + 1:].strip(_WHITESPACE):
        raise _malformed(text, "Junk after right parenthesis or bracket.")
    return lower, upper, body[0] == "[", body[position] == "]", False


def _range_in(range_oid: int) -> Callable[[str, int, str], Range]:
    subtype = range_subtype(range_oid)

    def parse(text: str, typmod: int, timezone: str) -> Range:
        lower_text, upper_text, lower_inc, upper_inc, empty = parse_range_text(text)
        if empty:
            return Range.empty_range()
        lower = None if lower_text is None else T.parse_text(subtype, lower_text,
                                                             timezone=timezone)
        upper = None if upper_text is None else T.parse_text(subtype, upper_text,
                                                             timezone=timezone)
        return make_range(range_oid, lower, upper, lower_inc, upper_inc)
    return parse


def _escape_bound(text: str) -> str:
    """range_bound_escape: quote when needed, doubling quotes and backslashes."""
    if text and not any(char in _BOUND_SPECIALS for char in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '""') + '"'


def _range_out(range_oid: int) -> Callable[[Range, str], str]:
    subtype = range_subtype(range_oid)

    def output(value: Range, timezone: str) -> str:
        if value.empty:
            return "empty"
        lower = ("" if value.lower is None
                 else _escape_bound(T.format_text(subtype, value.lower, timezone=timezone)))
        upper = ("" if value.upper is None
                 else _escape_bound(T.format_text(subtype, value.upper, timezone=timezone)))
        return (("[" if value.lower_inc else "(") + lower + "," + upper
                + ("]" if value.upper_inc else ")"))
    return output


# -- binary I/O ---------------------------------------------------------------------------------


def _range_receive(range_oid: int) -> Callable[[bytes], Range]:
    subtype = range_subtype(range_oid)

    def receive(data: bytes) -> Range:
        if not data:
            raise T.bad_binary()
        flags = data[0]
        if flags & ~_RECEIVE_FLAGS:
            raise MirrordbError("invalid range flags", sqlstate="22P03")
        position = 1
        bounds: list[Any] = []
        for present in (not flags & (RANGE_EMPTY | RANGE_LB_INF),
                        not flags & (RANGE_EMPTY | RANGE_UB_INF)):
            if not present:
                bounds.append(None)
                continue
            (length,) = _INT4.unpack_from(data, position)
            position += 4
            if length < 0 or position + length > len(data):
                raise T.bad_binary()
            bounds.append(T.parse_binary(subtype, data[position:position + length]))
            position += length
        if position != len(data):
            raise T.bad_binary()
        return make_range(range_oid, bounds[0], bounds[1], bool(flags & RANGE_LB_INC),
                          bool(flags & RANGE_UB_INC), bool(flags & RANGE_EMPTY))
    return receive


def _range_send(range_oid: int) -> Callable[[Range], bytes]:
    subtype = range_subtype(range_oid)

    def send(value: Range) -> bytes:
        parts = [bytes((value.flags,))]
        if not value.empty:
            for bound in (value.lower, value.upper):
                if bound is not None:
                    encoded = T.format_binary(subtype, bound)
                    parts.append(_INT4.pack(len(encoded)) + encoded)
        return b"".join(parts)
    return send


# pg_type facts catalog_functions.py shows (oid:typstorage:typcollation:typmodin:typmodout:
# typanalyze:typsubscript, from a PostgreSQL 15 catalog) and the I/O functions' pg_proc OIDs.
TYPE_FACTS = """
3904:x:0:0:0:3916:0 3905:x:0:0:0:3816:6179 3906:x:0:0:0:3916:0 3907:x:0:0:0:3816:6179
3908:x:0:0:0:3916:0 3909:x:0:0:0:3816:6179 3910:x:0:0:0:3916:0 3911:x:0:0:0:3816:6179
3912:x:0:0:0:3916:0 3913:x:0:0:0:3816:6179 3926:x:0:0:0:3916:0 3927:x:0:0:0:3816:6179
"""
TYPE_PROCEDURES = """
3834:range_in 3835:range_out 3836:range_recv 3837:range_send 3916:range_typanalyze
"""
# The B-tree operator class of every range type (range_ops over anyrange 3831, family 3901),
# as pg_opclass/pg_opfamily and pg_index.indclass show it.
BTREE_OPERATOR_CLASSES = {10076: ("range_ops", 3901, 3831, 0)}
BTREE_OPERATOR_FAMILIES = {3901: "range_ops"}
DEFAULT_BTREE_OPCLASSES = {oid: 10076 for oid in RANGE_TYPES}


# -- registration -------------------------------------------------------------------------------


def _type_info(range_type: RangeType) -> T.TypeInfo:
    return T.TypeInfo(range_type.oid, range_type.name, range_type.name, -1, False, "R", False,
                      range_type.array_oid, 0, range_type.alignment, "range_in", "range_out",
                      "r", "range_recv", "range_send")


def _register() -> None:
    for range_type in RANGE_TYPES.values():
        T.register_builtin_type(T.BuiltinType(
            _type_info(range_type), _range_in(range_type.oid), _range_out(range_type.oid),
            _range_receive(range_type.oid), _range_send(range_type.oid), {},
            zoned_output=range_type.subtype == T.TIMESTAMPTZ_OID))
        datum_subtype, _ = datum.RANGE_TYPES[range_type.oid]
        invariant(datum_subtype == range_type.subtype,
                  f"{range_type.name}: the row codec stores another subtype")


_register()

__all__ = ["RANGE_TYPES", "RangeType", "Range", "make_range", "compare_bounds",
           "parse_bound_flags", "parse_range_text"]
