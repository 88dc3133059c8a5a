"""Ordered-set aggregates: ``percentile_cont``, ``percentile_disc`` (of one fraction or of an
array of them) and ``mode``, called as ``agg(direct arguments) WITHIN GROUP (ORDER BY x)``, with
PostgreSQL 15's signatures, result types, NULL handling and errors.

Who calls it: the planner's grouping (sql/planner.py ``_plan_grouping``), for a call written
with WITHIN GROUP: ``resolve`` chooses the signature from the direct arguments' types and the
ORDER BY expression's, as PostgreSQL resolves an ordered-set aggregate over both lists. The
answer is an ordinary ``aggregates.AggregateDef`` whose state gathers the group's non-NULL
values; the executor (sql/executor.py ``_AggState``) feeds them in the call's ORDER BY order,
as it does for ``agg(x ORDER BY y)``, and passes the direct arguments, evaluated once per group
over the group's keys, to ``final``. aggregates.py knows these names (``is_aggregate``), so a
query calling one is grouped.

The answers (PostgreSQL's orderedsetaggs.c): with n sorted values, percentile_disc(f) is value
number ceil(f * n) (the first for f = 0); percentile_cont(f) interpolates linearly between values
floor(f * (n - 1)) and ceil(f * (n - 1)) (counting from 0), as float8 or interval arithmetic
does; mode() is the most frequent value, the first in sort order among equally frequent ones.
No rows (NULLs are not rows here) give NULL, and so does a NULL fraction (a NULL element of a
fraction array gives a NULL element). A fraction outside [0, 1] is 22003, checked even when the
group has no rows, except for the array forms, which check only when there are rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import datetime as dt
from mirrordb.sql import types as T
from mirrordb.sql.aggregates import (ORDERED_SET_AGGREGATES, AggregateDef, ResolvedAggregate,
                                     resolve_aggregate)
from mirrordb.sql.expressions import error_at
from mirrordb.sql.functions import AmbiguousCandidates, Candidate, NoCandidate, select_candidate
# PostgreSQL's hypothetical-set aggregates, which mirrordb does not have
HYPOTHETICAL_SET_AGGREGATES = frozenset({"rank", "dense_rank", "percent_rank", "cume_dist"})

FLOAT8_ARRAY_OID = T.array_type_of(T.FLOAT8_OID)

Values = list[Any]       # a group's non-NULL values, in the call's ORDER BY order


@dataclass(frozen=True, slots=True)
class _Signature:
    """One ordered-set aggregate: its direct argument types, the type of what it orders
    (``ANYELEMENT_OID``: whatever is ordered), and the definition for the actual ordered type."""

    direct: tuple[int, ...]
    ordered: int
    make: Callable[[int], AggregateDef]


# -- the answers -----------------------------------------------------------------------------------


def _check_fraction(fraction: float) -> None:
    if math.isnan(fraction) or not 0.0 <= fraction <= 1.0:
        raise MirrordbError(f"percentile value {_printf_g(fraction)} is not between 0 and 1",
                            sqlstate="22003")


def _printf_g(value: float) -> str:
    """``%g`` as PostgreSQL's own snprintf prints it (NaN and infinities spelled its way)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return f"{value:g}"


def _discrete(values: Values, fraction: float) -> Any:
    row_number = math.ceil(fraction * len(values))
    return values[max(row_number, 1) - 1]


def _float_lerp(low: float, high: float, proportion: float) -> float:
    return low + proportion * (high - low)


def _interval_lerp(low: dt.Interval, high: dt.Interval, proportion: float) -> dt.Interval:
    difference = dt.interval_minus_interval(high, low)
    return dt.interval_plus_interval(low, dt.interval_multiply(difference, proportion))


def _continuous(lerp: Callable[[Any, Any, float], Any]) -> Callable[[Values, float], Any]:
    def value(values: Values, fraction: float) -> Any:
        position = fraction * (len(values) - 1)
        first_row, second_row = math.floor(position), math.ceil(position)
        if second_row == first_row:
            return values[first_row]
        return lerp(values[first_row], values[second_row], position - first_row)
    return value


def _single(pick: Callable[[Values, float], Any]) -> Callable[[Values, Any], Any]:
    """The final function of a one-fraction form."""
    def final(values: Values, fraction: float | None) -> Any:
        if fraction is None:
            return None
        _check_fraction(fraction)
        return pick(values, fraction) if values else None
    return final


def _multiple(pick: Callable[[Values, float], Any]) -> Callable[[Values, Any], Any]:
    """The final function of an array-of-fractions form: an array of the same shape."""
    def final(values: Values, fractions: list[Any] | None) -> Any:
        if not values or fractions is None:
            return None
        for fraction in _flattened(fractions):
            if fraction is not None:
                _check_fraction(fraction)
        return _mapped(fractions, lambda fraction: pick(values, fraction))
    return final


def _flattened(array: list[Any]) -> list[Any]:
    return [leaf for item in array
            for leaf in (_flattened(item) if isinstance(item, list) else [item])]


def _mapped(array: list[Any], pick: Callable[[float], Any]) -> list[Any]:
    return [_mapped(item, pick) if isinstance(item, list) else
            None if item is None else pick(item) for item in array]


def _mode(type_oid: int) -> Callable[[Values], Any]:
    compare = T.compare

    def final(values: Values) -> Any:
        best, best_count = None, 0
        run_value, run_count = None, 0
        for value in values:
            if run_count and compare(value, run_value, type_oid) == 0:
                run_count += 1
            else:
                run_value, run_count = value, 1
            if run_count > best_count:
                best, best_count = run_value, run_count
        return best
    return final


# -- definitions -----------------------------------------------------------------------------------


def _gather(state: Values, value: Any) -> Values:
    state.append(value)
    return state


def _definition(name: str, ordered: int, result: int, final: Callable[..., Any]) -> AggregateDef:
    return AggregateDef(name, (ordered,), result, list, _gather, final, strict=True)


def _percentile_cont(ordered: int, array: bool) -> _Signature:
    lerp = _interval_lerp if ordered == T.INTERVAL_OID else _float_lerp
    pick = _continuous(lerp)
    if array:
        return _Signature((FLOAT8_ARRAY_OID,), ordered, lambda actual: _definition(
            "percentile_cont", actual, T.array_type_of(actual), _multiple(pick)))
    return _Signature((T.FLOAT8_OID,), ordered, lambda actual: _definition(
        "percentile_cont", actual, actual, _single(pick)))


def _percentile_disc(array: bool) -> _Signature:
    if array:
        return _Signature((FLOAT8_ARRAY_OID,), T.ANYELEMENT_OID, lambda actual: _definition(
            "percentile_disc", actual, T.array_type_of(actual), _multiple(_discrete)))
    return _Signature((T.FLOAT8_OID,), T.ANYELEMENT_OID, lambda actual: _definition(
        "percentile_disc", actual, actual, _single(_discrete)))


_SIGNATURES: dict[str, list[_Signature]] = {
    "percentile_cont": [_percentile_cont(ordered, array) for array in (False, True)
                        for ordered in (T.FLOAT8_OID, T.INTERVAL_OID)],
    "percentile_disc": [_percentile_disc(False), _percentile_disc(True)],
    "mode": [_Signature((), T.ANYELEMENT_OID,
                        lambda actual: _definition("mode", actual, actual, _mode(actual)))],
}


def resolve(name: str, direct_types: Sequence[int], ordered_types: Sequence[int],
            location: int) -> tuple[ResolvedAggregate, tuple[int, ...]]:
    """The ordered-set aggregate ``name`` for direct arguments and ORDER BY expressions of
    these types: the resolved aggregate (over the ordered value, cast to its ``arg_types``)
    and the types to cast the direct arguments to. For an ordinary aggregate, 42809 when it
    takes the arguments together, else 42883, as for any signature that matches none; these
    errors point at ``location``, the call."""
    inputs = [*direct_types, *ordered_types]
    if name not in ORDERED_SET_AGGREGATES:
        try:
            resolve_aggregate(name, inputs)
        except MirrordbError as error:
            error.position = location + 1  # type: ignore[attr-defined]
            raise
        raise error_at(f"{name} is not an ordered-set aggregate, so it cannot have WITHIN "
                       "GROUP", "42809", location)
    candidates = [Candidate((*signature.direct, signature.ordered), signature)
                  for signature in _SIGNATURES[name]]
    try:
        chosen = select_candidate(inputs, candidates)
    except NoCandidate:
        raise error_at(f"function {_signature_text(name, inputs)} does not exist", "42883",
                       location, hint="No function matches the given name and argument "
                                      "types. You might need to add explicit type casts.") from None
    except AmbiguousCandidates:
        raise error_at(f"function {_signature_text(name, inputs)} is not unique", "42725",
                       location, hint="Could not choose a best candidate function. You might "
                                      "need to add explicit type casts.") from None
    signature: _Signature = chosen.payload
    actual = signature.ordered
    if actual == T.ANYELEMENT_OID:
        actual = ordered_types[0]
        if actual == T.UNKNOWN_OID:
            raise MirrordbError("could not determine polymorphic type because input has type "
                                "unknown", sqlstate="42804")
    definition = signature.make(actual)
    return ResolvedAggregate(definition, (actual,)), signature.direct


def check_within_group_call(name: str, has_over: bool, location: int) -> None:
    """PostgreSQL's refusals of a WITHIN GROUP call before its arguments are looked at: OVER
    on an ordered-set aggregate (0A000), a hypothetical-set aggregate (which mirrordb lacks)."""
    if name in ORDERED_SET_AGGREGATES and has_over:
        raise error_at(f"OVER is not supported for ordered-set aggregate {name}", "0A000",
                       location)
    if name in HYPOTHETICAL_SET_AGGREGATES:
        raise error_at("hypothetical-set aggregates are not supported", "0A000", location)


def _signature_text(name: str, input_types: Sequence[int]) -> str:
    return f"{name}({', '.join(T.format_type(oid) for oid in input_types)})"


__all__ = ["HYPOTHETICAL_SET_AGGREGATES", "ORDERED_SET_AGGREGATES", "check_within_group_call",
           "resolve"]
