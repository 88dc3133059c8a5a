"""The range operators and functions of PostgreSQL 15 (rangetypes.c), for the built-in range
types of sql/range_types.py.

Who calls it: sql/operators.py adds ``OPERATOR_ROWS`` and ``operator_implementations()`` to its
table when it loads (importing this module, which adds the functions below to sql/functions.py's
registry). PostgreSQL declares these over anyrange/anyelement; here each is listed once per
range type with its concrete types, which resolves the same calls (an unknown literal beside a
range is read as that range type, an element is cast to the subtype).

Operators: = <> < <= > >= (range_cmp: empty first, then lower, then upper bound), @> and <@
(range or element), && << >> &< &> -|-, + (union; 22000 when not contiguous), * (intersection),
- (difference; 22000 when it would split). Functions: the constructors (two bounds, or two
bounds and '[)'-style flags; a NULL bound is infinite), lower, upper, isempty, lower_inc,
upper_inc, lower_inf, upper_inf, range_merge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import functions as funcs
from mirrordb.sql import types as T
from mirrordb.sql.range_types import RANGE_TYPES, make_range, parse_bound_flags
from mirrordb.storage.range_format import Range

_NON_DISCRETE = 0                           # make_range without a canonical step


def _compare(left: tuple[Any, ...], right: tuple[Any, ...]) -> int:
    return -1 if left < right else (1 if left > right else 0)


def contains_element(value: Range, element: Any) -> bool:
    """range_contains_elem."""
    if value.empty:
        return False
    if value.lower is not None:
        if value.lower > element or (value.lower == element and not value.lower_inc):
            return False
    if value.upper is not None:
        if value.upper < element or (value.upper == element and not value.upper_inc):
            return False
    return True


def contains(left: Range, right: Range) -> bool:
    """range_contains: every point of ``right`` is in ``left`` (the empty range is in all)."""
    if right.empty:
        return True
    if left.empty:
        return False
    return left.lower_key() <= right.lower_key() and left.upper_key() >= right.upper_key()


def overlaps(left: Range, right: Range) -> bool:
    if left.empty or right.empty:
        return False
    if left.lower_key() >= right.lower_key() and left.lower_key() <= right.upper_key():
        return True
    return right.lower_key() >= left.lower_key() and right.lower_key() <= left.upper_key()


def before(left: Range, right: Range) -> bool:
    return not (left.empty or right.empty) and left.upper_key() < right.lower_key()


def after(left: Range, right: Range) -> bool:
    return not (left.empty or right.empty) and left.lower_key() > right.upper_key()


def over_left(left: Range, right: Range) -> bool:
    return not (left.empty or right.empty) and left.upper_key() <= right.upper_key()


def over_right(left: Range, right: Range) -> bool:
    return not (left.empty or right.empty) and left.lower_key() >= right.lower_key()


def _bounds_adjacent(upper: Range, lower: Range) -> bool:
    """The upper bound of one and the lower bound of the other touch with no gap (for the
    canonical discrete forms and for continuous types: equal values, one side inclusive)."""
    if upper.upper is None or lower.lower is None:
        return False
    return upper.upper == lower.lower and upper.upper_inc != lower.lower_inc


def adjacent(left: Range, right: Range) -> bool:
    if left.empty or right.empty:
        return False
    return _bounds_adjacent(left, right) or _bounds_adjacent(right, left)


def _spanning(first: Range, second: Range) -> Range:
    """The range from the lower of the two lower bounds to the higher upper bound."""
    low = first if first.lower_key() <= second.lower_key() else second
    high = first if first.upper_key() >= second.upper_key() else second
    return make_range(_NON_DISCRETE, low.lower, high.upper, low.lower_inc, high.upper_inc)


def union(left: Range, right: Range) -> Range:
    if left.empty:
        return right
    if right.empty:
        return left
    if not overlaps(left, right) and not adjacent(left, right):
        raise MirrordbError("result of range union would not be contiguous", sqlstate="22000")
    return _spanning(left, right)


def merge(left: Range, right: Range) -> Range:
    """range_merge: the smallest range containing both."""
    if left.empty:
        return right
    if right.empty:
        return left
    return _spanning(left, right)


def intersection(left: Range, right: Range) -> Range:
    if left.empty or right.empty or not overlaps(left, right):
        return Range.empty_range()
    low = left if left.lower_key() >= right.lower_key() else right
    high = left if left.upper_key() <= right.upper_key() else right
    return make_range(_NON_DISCRETE, low.lower, high.upper, low.lower_inc, high.upper_inc)


def difference(left: Range, right: Range) -> Range:
    """range_minus: the part of ``left`` outside ``right``."""
    if left.empty or right.empty:
        return left
    lower_lower = _compare(left.lower_key(), right.lower_key())
    lower_upper = _compare(left.lower_key(), right.upper_key())
    upper_lower = _compare(left.upper_key(), right.lower_key())
    upper_upper = _compare(left.upper_key(), right.upper_key())
    if lower_lower < 0 and upper_upper > 0:
        raise MirrordbError("result of range difference would not be contiguous",
                            sqlstate="22000")
    if lower_upper > 0 or upper_lower < 0:
        return left
    if lower_lower >= 0 and upper_upper <= 0:
        return Range.empty_range()
    if lower_lower <= 0 and upper_lower >= 0 and upper_upper <= 0:
        return make_range(_NON_DISCRETE, left.lower, right.lower, left.lower_inc,
                          not right.lower_inc)
    return make_range(_NON_DISCRETE, right.upper, left.upper, not right.upper_inc,
                      left.upper_inc)


# -- the pg_operator facts ----------------------------------------------------------------------

_OPERATORS_ON_TWO_RANGES = [
    (3882, "=", "range_eq"), (3883, "<>", "range_ne"), (3884, "<", "range_lt"),
    (3885, "<=", "range_le"), (3886, ">=", "range_ge"), (3887, ">", "range_gt"),
    (3888, "&&", "range_overlaps"), (3890, "@>", "range_contains"),
    (3892, "<@", "range_contained_by"), (3893, "<<", "range_before"),
    (3894, ">>", "range_after"), (3895, "&<", "range_overleft"),
    (3896, "&>", "range_overright"), (3897, "-|-", "range_adjacent"),
]
_RANGE_RESULT_OPERATORS = [(3898, "+", "range_union"), (3900, "*", "range_intersect"),
                           (3899, "-", "range_minus")]


def _operator_rows() -> list[tuple[int, str, int, int, int, str]]:
    rows: list[tuple[int, str, int, int, int, str]] = []
    for oid, info in RANGE_TYPES.items():
        rows.extend((operator_oid, name, oid, oid, T.BOOL_OID, code)
                    for operator_oid, name, code in _OPERATORS_ON_TWO_RANGES)
        rows.extend((operator_oid, name, oid, oid, oid, code)
                    for operator_oid, name, code in _RANGE_RESULT_OPERATORS)
        rows.append((3889, "@>", oid, info.subtype, T.BOOL_OID, "range_contains_elem"))
        rows.append((3891, "<@", info.subtype, oid, T.BOOL_OID, "elem_contained_by_range"))
    return rows


OPERATOR_ROWS = _operator_rows()


def element_operand_mismatch(name: str, left_oid: int | None, right_oid: int) -> bool:
    """Whether ``range @> element`` / ``element <@ range`` has an element of another type than
    the range's subtype: PostgreSQL declares these over (anyrange, anyelement), and a
    polymorphic argument takes no implicit cast, so ``numrange @> 3`` is 42883 there while
    the concrete rows here would cast 3 to numeric."""
    if name not in ("@>", "<@") or left_oid is None:
        return False
    range_oid, element_oid = (left_oid, right_oid) if name == "@>" else (right_oid, left_oid)
    info = RANGE_TYPES.get(range_oid)
    if info is None or element_oid in (T.UNKNOWN_OID, range_oid):
        return False
    return T.base_type(element_oid) != info.subtype


def operator_implementations() -> dict[str, Callable[..., Any]]:
    """The implementations of ``OPERATOR_ROWS`` by oprcode (comparisons are operators.py's,
    over Range's own B-tree order)."""
    return {
        "range_overlaps": overlaps, "range_contains": contains,
        "range_contained_by": lambda left, right: contains(right, left),
        "range_before": before, "range_after": after, "range_overleft": over_left,
        "range_overright": over_right, "range_adjacent": adjacent, "range_union": union,
        "range_intersect": intersection, "range_minus": difference,
        "range_contains_elem": contains_element,
        "elem_contained_by_range": lambda element, value: contains_element(value, element),
    }


# -- functions ------------------------------------------------------------------------------------


def _constructor(range_oid: int) -> Callable[..., Range]:
    def construct(lower: Any, upper: Any, flags: str | None = "[)") -> Range:
        if flags is None:
            raise MirrordbError("range constructor flags argument must not be null",
                                sqlstate="22000")
        lower_inc, upper_inc = parse_bound_flags(flags)
        return make_range(range_oid, lower, upper, lower_inc, upper_inc)
    return construct


def _lower(value: Range) -> Any:
    return None if value.empty else value.lower


def _upper(value: Range) -> Any:
    return None if value.empty else value.upper


def _define() -> None:
    define = funcs.define
    for oid, info in RANGE_TYPES.items():
        construct = _constructor(oid)
        define(info.name, [info.subtype, info.subtype], oid, construct, strict=False)
        define(info.name, [info.subtype, info.subtype, T.TEXT_OID], oid, construct,
               strict=False)
        define("lower", [oid], info.subtype, _lower, strict=True)
        define("upper", [oid], info.subtype, _upper, strict=True)
        define("isempty", [oid], T.BOOL_OID, lambda value: value.empty)
        define("lower_inc", [oid], T.BOOL_OID, lambda value: value.lower_inc)
        define("upper_inc", [oid], T.BOOL_OID, lambda value: value.upper_inc)
        define("lower_inf", [oid], T.BOOL_OID,
               lambda value: not value.empty and value.lower is None)
        define("upper_inf", [oid], T.BOOL_OID,
               lambda value: not value.empty and value.upper is None)
        define("range_merge", [oid, oid], oid, merge)


_define()
