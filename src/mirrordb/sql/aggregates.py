"""Built-in aggregate functions: count, sum, avg, min/max, bool_and/or, string_agg, array_agg,
json_agg, the variance family and the bitwise aggregates, with PostgreSQL 15's result types and
arithmetic.

Who calls it: the planner resolves an aggregate call once with ``resolve_aggregate(name, argument
types)`` (``is_aggregate(name)`` tells it a call is one); it casts the arguments to the answer's
``arg_types``. The executor then runs, per group: ``state = initial()``, for each input row
``state = transition(state, *args)`` (for a strict aggregate only when no argument is NULL;
otherwise with the NULLs), and at the end ``final(state)`` (an ordered-set aggregate's
``final(state, *direct arguments)``, sql/ordered_set_aggregates.py). States are private to one
group; a definition is shared and holds no state of its own.

The arithmetic is PostgreSQL's: integer sums are exact (int2/int4 -> int8 with overflow check,
int8 -> numeric), numeric averages divide with select_div_scale, float averages and variances use
the Youngs-Cramer accumulation of float8_accum (so results agree to the last bit), numeric
variances use exact sums then PostgreSQL's division and square-root scales.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import array_dimensions
from mirrordb.sql import datetime as dt
from mirrordb.sql import numeric as num
from mirrordb.sql import types as T
from mirrordb.sql.functions import AmbiguousCandidates, Candidate, NoCandidate, select_candidate
from mirrordb.sql.types import (ANY_OID, ANYARRAY_OID, ANYNONARRAY_OID, BOOL_OID, BYTEA_OID,
                                FLOAT4_OID, FLOAT8_OID, INT2_OID, INT4_OID, INT8_OID,
                                INTERVAL_OID, JSON_OID, JSONB_OID, NUMERIC_OID, TEXT_OID,
                                Interval)

MAX_STRING_AGG_CHARS = 1 << 30              # PostgreSQL's 1 GB limit on one value
# called with WITHIN GROUP; their definitions are in sql/ordered_set_aggregates.py
ORDERED_SET_AGGREGATES = frozenset({"percentile_cont", "percentile_disc", "mode"})


@dataclass(frozen=True, slots=True)
class AggregateDef:
    """One aggregate: a state machine over the group's rows."""

    name: str
    arg_types: tuple[int, ...]
    result_type: int
    initial: Callable[[], Any]
    transition: Callable[..., Any]
    final: Callable[[Any], Any]
    strict: bool = True
    oid: int = 0


@dataclass(frozen=True, slots=True)
class ResolvedAggregate:
    """A resolved aggregate call: the definition and the types to cast the arguments to."""

    definition: AggregateDef
    arg_types: tuple[int, ...]

    @property
    def result_type(self) -> int:
        return self.definition.result_type


# -- building blocks -------------------------------------------------------------------------------


def _none() -> None:
    return None


def _identity(state: Any) -> Any:
    return state


def _first_or(combine: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A transition whose state starts as the first value."""
    return lambda state, value: value if state is None else combine(state, value)


class _List(list):  # type: ignore[type-arg]
    """A growing list state (one per group)."""


# -- count -----------------------------------------------------------------------------------------


def _count_star() -> AggregateDef:
    return AggregateDef("count", (), INT8_OID, lambda: 0, lambda state: state + 1, _identity,
                        strict=True, oid=2803)


def _count_any() -> AggregateDef:
    return AggregateDef("count", (ANY_OID,), INT8_OID, lambda: 0,
                        lambda state, value: state + 1, _identity, strict=True, oid=2147)


# -- sum and avg -----------------------------------------------------------------------------------


def _int_sum(result_type: int) -> AggregateDef:
    check = num.check_int8 if result_type == INT8_OID else (lambda value: value)

    def final(state: int | None) -> Any:
        if state is None:
            return None
        return decimal.Decimal(state) if result_type == NUMERIC_OID else check(state)
    return AggregateDef("sum", (), result_type, _none, _first_or(lambda a, b: a + b), final)


def _float_sum(single: bool) -> AggregateDef:
    check = num.check_float4 if single else num.check_float8
    oid = FLOAT4_OID if single else FLOAT8_OID
    return AggregateDef("sum", (oid,), oid, _none,
                        _first_or(lambda state, value: check(state + value, state, value)),
                        _identity)


def _numeric_sum() -> AggregateDef:
    return AggregateDef("sum", (NUMERIC_OID,), NUMERIC_OID, _none,
                        _first_or(num.numeric_add), _identity)


def _interval_sum() -> AggregateDef:
    return AggregateDef("sum", (INTERVAL_OID,), INTERVAL_OID, _none,
                        _first_or(dt.interval_plus_interval), _identity)


def _exact_average(argument: int) -> AggregateDef:
    """avg of integers or numerics: exact sum and count, numeric division at the end."""
    def transition(state: list[Any], value: Any) -> list[Any]:
        if state[1] is None:
            state[1] = decimal.Decimal(value)
        else:
            state[1] = num.numeric_add(state[1], decimal.Decimal(value))
        state[0] += 1
        return state

    def final(state: list[Any]) -> decimal.Decimal | None:
        count, total = state
        if count == 0:
            return None
        return num.numeric_div(total, decimal.Decimal(count))
    return AggregateDef("avg", (argument,), NUMERIC_OID, lambda: [0, None], transition, final)


def _youngs_cramer(state: list[float], value: float) -> list[float]:
    """float8_accum: count, sum and sum of squared deviations, updated as PostgreSQL does."""
    old_count, total, squares = state
    count = old_count + 1.0
    new_total = total + value
    if old_count > 0.0:
        deviation = value * count - new_total
        squares = squares + deviation * deviation / (count * old_count)
        if math.isinf(new_total) or math.isinf(squares):
            if not math.isinf(total) and not math.isinf(value):
                raise num.float_overflow()
            squares = math.nan
    elif math.isnan(value) or math.isinf(value):
        squares = math.nan
    state[0], state[1], state[2] = count, new_total, squares
    return state


def _float_state() -> list[float]:
    return [0.0, 0.0, 0.0]


def _float_average(argument: int) -> AggregateDef:
    def final(state: list[float]) -> float | None:
        count, total, _ = state
        return None if count == 0.0 else total / count
    return AggregateDef("avg", (argument,), FLOAT8_OID, _float_state,
                        lambda state, value: _youngs_cramer(state, float(value)), final)


def _interval_average() -> AggregateDef:
    def transition(state: list[Any], value: Interval) -> list[Any]:
        state[0] += 1
        state[1] = value if state[1] is None else dt.interval_plus_interval(state[1], value)
        return state

    def final(state: list[Any]) -> Interval | None:
        count, total = state
        return None if count == 0 else dt.interval_divide(total, float(count))
    return AggregateDef("avg", (INTERVAL_OID,), INTERVAL_OID, lambda: [0, None], transition,
                        final)


# -- variance and standard deviation ------------------------------------------------------------


def _float_variance(name: str, argument: int, sample: bool, root: bool) -> AggregateDef:
    def final(state: list[float]) -> float | None:
        count, _, squares = state
        if count == 0.0 or (sample and count <= 1.0):
            return None
        result = squares / (count - 1.0 if sample else count)
        return math.sqrt(result) if root else result
    return AggregateDef(name, (argument,), FLOAT8_OID, _float_state,
                        lambda state, value: _youngs_cramer(state, float(value)), final)


def _numeric_variance(name: str, argument: int, sample: bool, root: bool) -> AggregateDef:
    def transition(state: list[Any], value: Any) -> list[Any]:
        number = decimal.Decimal(value)
        state[0] += 1
        state[1] = num.EXACT.add(state[1], number)
        state[2] = num.EXACT.add(state[2], num.EXACT.multiply(number, number))
        return state

    def final(state: list[Any]) -> decimal.Decimal | None:
        count, total, squares = state
        if count == 0 or (sample and count <= 1):
            return None
        return _numeric_variance_result(decimal.Decimal(count), total, squares, sample, root)
    return AggregateDef(name, (argument,), NUMERIC_OID,
                        lambda: [0, decimal.Decimal(0), decimal.Decimal(0)], transition, final)


def _numeric_variance_result(count: decimal.Decimal, total: decimal.Decimal,
                             squares: decimal.Decimal, sample: bool,
                             root: bool) -> decimal.Decimal:
    numerator = num.EXACT.subtract(num.EXACT.multiply(count, squares),
                                   num.EXACT.multiply(total, total))
    if numerator <= 0:
        return decimal.Decimal(0)
    denominator = num.EXACT.multiply(count, count - 1 if sample else count)
    scale = num.select_div_scale(numerator, denominator)
    variance = num.divide_to_scale(numerator, denominator, scale)
    if not root:
        return variance
    context = decimal.Context(prec=max(variance.adjusted(), 0) // 2 + scale + num.GUARD_DIGITS,
                              rounding=decimal.ROUND_HALF_EVEN)
    return num.round_numeric(variance.sqrt(context), scale)


_VARIANCE_NAMES = {
    "variance": (True, False), "var_samp": (True, False), "var_pop": (False, False),
    "stddev": (True, True), "stddev_samp": (True, True), "stddev_pop": (False, True),
}

# -- min and max -----------------------------------------------------------------------------------

_ORDERED_TYPES = (INT2_OID, INT4_OID, INT8_OID, FLOAT4_OID, FLOAT8_OID, NUMERIC_OID, TEXT_OID,
                  T.BPCHAR_OID, T.DATE_OID, T.TIME_OID, T.TIMESTAMP_OID, T.TIMESTAMPTZ_OID,
                  INTERVAL_OID, T.OID_OID, T.PG_LSN_OID, T.UUID_OID, BYTEA_OID, BOOL_OID,
                  JSONB_OID, T.NAME_OID, T.CHAR_OID, T.XID_OID)


def _extreme(name: str, argument: int, pick_larger: bool) -> AggregateDef:
    key = T.sort_key(argument)

    def better(state: Any, value: Any) -> Any:
        if pick_larger:
            return value if key(value) > key(state) else state
        return value if key(value) < key(state) else state
    return AggregateDef(name, (argument,), argument, _none, _first_or(better), _identity)


# -- booleans, strings, arrays, json, bits ---------------------------------------------------------


def _bool_aggregate(name: str, want_all: bool) -> AggregateDef:
    combine = (lambda state, value: state and value) if want_all else \
        (lambda state, value: state or value)
    return AggregateDef(name, (BOOL_OID,), BOOL_OID, _none, _first_or(combine), _identity)


def _string_agg(kind: int) -> AggregateDef:
    def transition(state: _List | None, value: Any, delimiter: Any) -> _List | None:
        if value is None:
            return state
        if state is None:
            state = _List()
        elif delimiter is not None:
            state.append(delimiter)
        state.append(value)
        return state

    def final(state: _List | None) -> Any:
        if state is None:
            return None
        result = (b"" if kind == BYTEA_OID else "").join(state)
        if len(result) > MAX_STRING_AGG_CHARS:
            raise MirrordbError("out of memory", sqlstate="54000",
                                detail="string_agg result exceeds 1 GB")
        return result
    return AggregateDef("string_agg", (kind, kind), kind, _none, transition, final,
                        strict=False)


def _collect(state: _List | None, value: Any) -> _List:
    """array_agg's transition: every input value, NULLs included, in order."""
    if state is None:
        state = _List()
    state.append(value)
    return state


def _array_agg(element: int) -> AggregateDef:
    return AggregateDef("array_agg", (element,), T.array_type_of(element), _none, _collect,
                        lambda state: None if state is None else list(state), strict=False)


def _array_agg_arrays(array_type: int) -> AggregateDef:
    """array_agg(anyarray): the arrays as one array of one more dimension."""
    return AggregateDef("array_agg", (array_type,), array_type, _none, _collect,
                        lambda state: None if state is None else
                        array_dimensions.accumulate(list(state)), strict=False)


def _json_agg(name: str, element: int, normalize: bool) -> AggregateDef:
    from mirrordb.sql.functions import _json_scalar_text
    text = _json_scalar_text(element)
    # PostgreSQL starts each array or record after the first on a line of its own
    separator = ", \n " if T.is_row_type(element) or T.is_array_type(element) else ", "

    def transition(state: _List | None, value: Any) -> _List:
        if state is None:
            state = _List()
        state.append("null" if value is None else text(value))
        return state

    def final(state: _List | None) -> str | None:
        if state is None:
            return None
        document = "[" + separator.join(state) + "]"
        return T.parse_jsonb(document) if normalize else document
    return AggregateDef(name, (element,), JSONB_OID if normalize else JSON_OID, _none,
                        transition, final, strict=False)


def _json_object_agg(name: str, key_type: int, value_type: int, normalize: bool
                     ) -> AggregateDef:
    """json(b)_object_agg(key, value): NULL for no rows; a NULL key is an error."""
    from mirrordb.sql.functions import _json_scalar_text, _text_of
    key_text, value_text = _text_of(key_type), _json_scalar_text(value_type)

    def transition(state: _List | None, key: Any, value: Any) -> _List:
        if key is None:
            raise MirrordbError("field name must not be null", sqlstate="22023")
        if state is None:
            state = _List()
        state.append(f"{T.json_quote(key_text(key))} : "
                     f"{'null' if value is None else value_text(value)}")
        return state

    def final(state: _List | None) -> str | None:
        if state is None:
            return None
        if normalize:
            return T.parse_jsonb("{" + ", ".join(state) + "}")
        return "{ " + ", ".join(state) + " }"
    return AggregateDef(name, (key_type, value_type), JSONB_OID if normalize else JSON_OID,
                        _none, transition, final, strict=False)


def _bit_aggregate(name: str, argument: int, combine: Callable[[int, int], int]) -> AggregateDef:
    return AggregateDef(name, (argument,), argument, _none, _first_or(combine), _identity)


# -- the registry ----------------------------------------------------------------------------------

_AGGREGATES: dict[str, list[AggregateDef]] = {}
_POLYMORPHIC: dict[str, list[tuple[tuple[int, ...], Callable[[int], AggregateDef]]]] = {}


def _add(definition: AggregateDef, arg_types: Sequence[int] | None = None) -> None:
    if arg_types is not None:
        definition = AggregateDef(definition.name, tuple(arg_types), definition.result_type,
                                  definition.initial, definition.transition, definition.final,
                                  definition.strict, definition.oid)
    _AGGREGATES.setdefault(definition.name, []).append(definition)


def _register_all() -> None:
    _add(_count_star())
    _add(_count_any())
    for argument in (INT2_OID, INT4_OID):
        _add(_int_sum(INT8_OID), (argument,))
    _add(_int_sum(NUMERIC_OID), (INT8_OID,))
    _add(_float_sum(True))
    _add(_float_sum(False))
    _add(_numeric_sum())
    _add(_interval_sum())
    for argument in (INT2_OID, INT4_OID, INT8_OID, NUMERIC_OID):
        _add(_exact_average(argument))
        for name, (sample, root) in _VARIANCE_NAMES.items():
            _add(_numeric_variance(name, argument, sample, root))
    for argument in (FLOAT4_OID, FLOAT8_OID):
        _add(_float_average(argument))
        for name, (sample, root) in _VARIANCE_NAMES.items():
            _add(_float_variance(name, argument, sample, root))
    _add(_interval_average())
    for argument in _ORDERED_TYPES:
        _add(_extreme("min", argument, False))
        _add(_extreme("max", argument, True))
    for name, want_all in (("bool_and", True), ("every", True), ("bool_or", False)):
        _add(_bool_aggregate(name, want_all))
    _add(_string_agg(TEXT_OID))
    _add(_string_agg(BYTEA_OID))
    for argument in (INT2_OID, INT4_OID, INT8_OID):
        _add(_bit_aggregate("bit_and", argument, lambda a, b: a & b))
        _add(_bit_aggregate("bit_or", argument, lambda a, b: a | b))
        _add(_bit_aggregate("bit_xor", argument, lambda a, b: a ^ b))
    _POLYMORPHIC["array_agg"] = [((ANYNONARRAY_OID,), _array_agg),
                                 ((T.ANYARRAY_OID,), _array_agg_arrays)]
    _POLYMORPHIC["json_agg"] = [((ANYNONARRAY_OID,), lambda e: _json_agg("json_agg", e, False))]
    _POLYMORPHIC["jsonb_agg"] = [((ANYNONARRAY_OID,), lambda e: _json_agg("jsonb_agg", e,
                                                                          True))]
    for name, normalize in (("json_object_agg", False), ("jsonb_object_agg", True)):
        _POLYMORPHIC[name] = [((ANY_OID, ANY_OID), lambda key, value, name=name,
                               normalize=normalize: _json_object_agg(name, key, value,
                                                                     normalize))]
    _POLYMORPHIC["min"] = [((ANYARRAY_OID,), lambda e: _extreme("min", e, False))]
    _POLYMORPHIC["max"] = [((ANYARRAY_OID,), lambda e: _extreme("max", e, True))]


_register_all()


def is_aggregate(name: str) -> bool:
    lowered = name.lower()
    if lowered.startswith("pg_catalog."):
        lowered = lowered[len("pg_catalog."):]
    return lowered in _AGGREGATES or lowered in _POLYMORPHIC or lowered in ORDERED_SET_AGGREGATES


def _signature(name: str, arg_types: Sequence[int]) -> str:
    return f"{name}({', '.join(T.format_type(oid) for oid in arg_types)})"


def resolve_aggregate(name: str, arg_types: Sequence[int]) -> ResolvedAggregate:
    """The aggregate ``name`` for arguments of ``arg_types`` (count(*) has no arguments)."""
    lowered = name.lower()
    if lowered.startswith("pg_catalog."):
        lowered = lowered[len("pg_catalog."):]
    if any(oid >= T.FIRST_USER_TYPE_OID for oid in arg_types):
        if lowered in ("min", "max") and len(arg_types) == 1 and \
                T.type_category(arg_types[0]) == "E":     # min(anyenum), max(anyenum)
            return ResolvedAggregate(_extreme(lowered, arg_types[0], lowered == "max"),
                                     tuple(arg_types))
        arg_types = [T.base_type(oid) for oid in arg_types]
    candidates = [Candidate(definition.arg_types, definition)
                  for definition in _AGGREGATES.get(lowered, [])
                  if len(definition.arg_types) == len(arg_types)]
    candidates += [Candidate(declared, factory) for declared, factory
                   in _POLYMORPHIC.get(lowered, []) if len(declared) == len(arg_types)]
    try:
        chosen = select_candidate(arg_types, candidates)
    except NoCandidate:
        raise MirrordbError(f"function {_signature(lowered, arg_types)} does not exist",
                            sqlstate="42883",
                            hint="No function matches the given name and argument types. "
                                 "You might need to add explicit type casts.") from None
    except AmbiguousCandidates:
        raise MirrordbError(f"function {_signature(lowered, arg_types)} is not unique",
                            sqlstate="42725",
                            hint="Could not choose a best candidate function. You might need "
                                 "to add explicit type casts.") from None
    if isinstance(chosen.payload, AggregateDef):
        definition = chosen.payload
        if definition.arg_types == (ANY_OID,):
            return ResolvedAggregate(definition, tuple(arg_types))
        return ResolvedAggregate(definition, definition.arg_types)
    return _specialise(chosen, arg_types)


def _specialise(chosen: Candidate, arg_types: Sequence[int]) -> ResolvedAggregate:
    if len(chosen.arg_types) > 1:     # json(b)_object_agg("any", "any")
        actual_types = tuple(T.TEXT_OID if t == T.UNKNOWN_OID else t for t in arg_types)
        return ResolvedAggregate(chosen.payload(*actual_types), actual_types)
    actual = arg_types[0]
    declared = chosen.arg_types[0]
    if actual == T.UNKNOWN_OID:
        actual = T.TEXT_OID
    if declared == ANYARRAY_OID:
        definition = chosen.payload(actual)
    else:
        if T.is_array_type(actual):
            raise MirrordbError("arrays of arrays are not supported", sqlstate="0A000")
        definition = chosen.payload(actual)
    return ResolvedAggregate(definition, (actual,))
