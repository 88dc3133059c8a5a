"""Window functions at run time: the WindowAgg plan node, window frames and the window functions.

Who calls it: the planner's window part (sql/window.py) builds one ``WindowAgg`` per query level
that calls window functions, above the grouping and below the select list's set-returning
functions and projection (PostgreSQL's order of evaluation). ``WindowAgg.rows`` reads all its
input rows, and for each distinct window ordering (partition keys, then the window's ORDER BY)
sorts them once, splits them into partitions and peer groups, and computes every window call that
uses that ordering; each output row is the input row followed by one value per window call, in
the order of the last ordering sorted (PostgreSQL's output order: that of its topmost WindowAgg).

Frames are computed per row as half-open position ranges within the partition
(``frame_bounds``), less the rows EXCLUDE removes (``frame_ranges``). A window aggregate keeps
its transition state from one row to the next while the frame's start stays put and its end
only grows (``aggregate_over_frames``), so running totals are linear; a moving frame start
restarts the aggregation from the frame's first row, as PostgreSQL does for aggregates without
an inverse transition. The RANGE offset comparisons are PostgreSQL's in_range support functions
(``in_range``), including their NaN, infinity and overflow rules.
"""

from __future__ import annotations

import decimal
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.sql import datetime as dt
from mirrordb.sql import types as T
from mirrordb.sql.executor import INTERRUPT_CHECK_ROWS, PlanNode, compare_sort_keys
from mirrordb.sql.expressions import ExecContext, Expr, Row

# Frame modes and bounds (PostgreSQL's FRAMEOPTION_* bits, decoded by the planner).
ROWS, RANGE, GROUPS = "ROWS", "RANGE", "GROUPS"
UNBOUNDED_PRECEDING = "unbounded preceding"
OFFSET_PRECEDING = "offset preceding"
CURRENT_ROW = "current row"
OFFSET_FOLLOWING = "offset following"
UNBOUNDED_FOLLOWING = "unbounded following"
EXCLUDE_NO_OTHERS, EXCLUDE_CURRENT_ROW, EXCLUDE_GROUP, EXCLUDE_TIES = \
    "no others", "current row", "group", "ties"


@dataclass(frozen=True)
class Frame:
    """A window's frame clause: its mode, where it starts and ends, what it excludes."""

    mode: str = RANGE
    start: str = UNBOUNDED_PRECEDING
    end: str = CURRENT_ROW
    exclude: str = EXCLUDE_NO_OTHERS


# -- partitions and frames -----------------------------------------------------------------------


@dataclass
class Partition:
    """One partition's rows in window order, split into peer groups (rows equal on the window's
    ORDER BY; without one, the whole partition is one group). ``group_starts`` has one entry per
    group and a last one equal to the partition's size."""

    size: int
    group_of: list[int]
    group_starts: list[int]

    @classmethod
    def from_keys(cls, keys: Sequence[Any]) -> Partition:
        """The partition whose rows have the ORDER BY keys ``keys`` (comparable for equality)."""
        group_of: list[int] = []
        group_starts: list[int] = []
        previous: Any = object()
        for position, key in enumerate(keys):
            if not group_starts or key != previous:
                group_starts.append(position)
            group_of.append(len(group_starts) - 1)
            previous = key
        group_starts.append(len(keys))
        return cls(len(keys), group_of, group_starts)

    def group_start(self, position: int) -> int:
        return self.group_starts[self.group_of[position]]

    def group_end(self, position: int) -> int:
        return self.group_starts[self.group_of[position] + 1]


# Finds a RANGE offset bound: (position, is_start) -> the frame's first or end position.
RangeSearch = Callable[[int, bool], int]


def frame_bounds(frame: Frame, partition: Partition, position: int, start_offset: int | None,
                 end_offset: int | None, range_search: RangeSearch | None = None
                 ) -> tuple[int, int]:
    """The frame of the row at ``position`` as a half-open range of positions (before
    EXCLUDE). ROWS and GROUPS offsets are counts; RANGE offsets are found by ``range_search``."""
    start = _bound(frame, frame.start, True, partition, position, start_offset, range_search)
    end = _bound(frame, frame.end, False, partition, position, end_offset, range_search)
    return start, max(start, end)


def _bound(frame: Frame, bound: str, is_start: bool, partition: Partition, position: int,
           offset: int | None, range_search: RangeSearch | None) -> int:
    size = partition.size
    if bound == UNBOUNDED_PRECEDING:
        return 0
    if bound == UNBOUNDED_FOLLOWING:
        return size
    if bound == CURRENT_ROW:
        if frame.mode == ROWS:
            return position if is_start else position + 1
        return partition.group_start(position) if is_start else partition.group_end(position)
    if frame.mode == RANGE:
        invariant(range_search is not None, "a RANGE offset bound without its search")
        assert range_search is not None
        return range_search(position, is_start)
    invariant(offset is not None, "a frame offset bound without its offset")
    assert offset is not None
    step = -offset if bound == OFFSET_PRECEDING else offset
    if frame.mode == ROWS:
        target = position + step
        return min(max(target if is_start else target + 1, 0), size)
    invariant(frame.mode == GROUPS, f"unknown frame mode {frame.mode}")
    group = partition.group_of[position] + step
    groups = len(partition.group_starts) - 1
    if group < 0:
        return 0
    if group >= groups:
        return size
    return partition.group_starts[group if is_start else group + 1]


def frame_ranges(frame: Frame, partition: Partition, position: int, start: int,
                 end: int) -> tuple[tuple[int, int], ...]:
    """The frame ``[start, end)`` of the row at ``position`` less what EXCLUDE removes, as
    non-empty half-open ranges in order."""
    if frame.exclude == EXCLUDE_NO_OTHERS:
        return ((start, end),) if start < end else ()
    if frame.exclude == EXCLUDE_CURRENT_ROW:
        pieces = [(start, min(end, position)), (max(start, position + 1), end)]
    else:
        group_start, group_end = partition.group_start(position), partition.group_end(position)
        pieces = [(start, min(end, group_start))]
        if frame.exclude == EXCLUDE_TIES and start <= position < end:
            pieces.append((position, position + 1))
        pieces.append((max(start, group_end), end))
    return tuple((a, b) for a, b in pieces if a < b)


# -- RANGE offsets: PostgreSQL's in_range ------------------------------------------------------


def invalid_offset_size() -> MirrordbError:
    return MirrordbError("invalid preceding or following size in window function",
                         sqlstate="22013")


InRange = Callable[[Any, Any, Any, bool, bool], bool]


def in_range(column_type: int, timezone: str) -> InRange:
    """in_range(value, base, offset, subtract, less) for an ORDER BY column of
    ``column_type``: whether ``value`` is at most (``less``) or at least ``base`` minus
    (``subtract``) or plus ``offset``."""
    if column_type in (T.INT2_OID, T.INT4_OID, T.INT8_OID):
        return _in_range_exact
    if column_type in (T.FLOAT4_OID, T.FLOAT8_OID):
        return _in_range_float
    if column_type == T.NUMERIC_OID:
        return _in_range_numeric
    if column_type == T.INTERVAL_OID:
        return _in_range_interval
    if column_type == T.DATE_OID:
        timestamp = _in_range_timestamp(dt.timestamp_plus_interval, dt.timestamp_minus_interval)
        return lambda value, base, offset, subtract, less: timestamp(
            dt.date_to_timestamp(value), dt.date_to_timestamp(base), offset, subtract, less)
    if column_type == T.TIMESTAMP_OID:
        return _in_range_timestamp(dt.timestamp_plus_interval, dt.timestamp_minus_interval)
    invariant(column_type == T.TIMESTAMPTZ_OID, f"no in_range for type {column_type}")
    return _in_range_timestamp(
        lambda value, span: dt.timestamptz_plus_interval(value, span, timezone),
        lambda value, span: dt.timestamptz_minus_interval(value, span, timezone))


def _compare_bound(value: Any, bound: Any, less: bool) -> bool:
    return value <= bound if less else value >= bound


def _in_range_exact(value: int, base: int, offset: int, subtract: bool, less: bool) -> bool:
    if offset < 0:
        raise invalid_offset_size()
    return _compare_bound(value, base - offset if subtract else base + offset, less)


def _in_range_float(value: float, base: float, offset: float, subtract: bool,
                    less: bool) -> bool:
    if math.isnan(offset) or offset < 0:
        raise invalid_offset_size()
    if math.isnan(value):
        return True if math.isnan(base) else not less
    if math.isnan(base):
        return less
    if math.isinf(offset) and math.isinf(base) and (base > 0 if subtract else base < 0):
        return True     # base minus infinity of the same sign: every value is in range
    return _compare_bound(value, base - offset if subtract else base + offset, less)


def _in_range_numeric(value: decimal.Decimal, base: decimal.Decimal, offset: decimal.Decimal,
                      subtract: bool, less: bool) -> bool:
    if offset.is_nan() or offset < 0:
        raise invalid_offset_size()
    if value.is_nan():
        return True if base.is_nan() else not less
    if base.is_nan():
        return less
    if offset.is_infinite() and base.is_infinite() and (base > 0 if subtract else base < 0):
        return True
    with decimal.localcontext(decimal.Context(prec=decimal.MAX_PREC)):
        bound = base - offset if subtract else base + offset
    return _compare_bound(value, bound, less)


_ZERO_INTERVAL = T.Interval(0, 0, 0)


def _check_interval_offset(offset: T.Interval) -> None:
    if T.compare(offset, _ZERO_INTERVAL, T.INTERVAL_OID) < 0:
        raise invalid_offset_size()


def _in_range_interval(value: T.Interval, base: T.Interval, offset: T.Interval,
                       subtract: bool, less: bool) -> bool:
    _check_interval_offset(offset)
    bound = dt.interval_minus_interval(base, offset) if subtract else \
        dt.interval_plus_interval(base, offset)
    order = T.compare(value, bound, T.INTERVAL_OID)
    return order <= 0 if less else order >= 0


def _in_range_timestamp(plus: Callable[[Any, T.Interval], Any],
                        minus: Callable[[Any, T.Interval], Any]) -> InRange:
    def check(value: Any, base: Any, offset: T.Interval, subtract: bool, less: bool) -> bool:
        _check_interval_offset(offset)
        try:
            bound = minus(base, offset) if subtract else plus(base, offset)
        except MirrordbError:   # out of range: beyond every value in that direction
            return subtract != less
        return _compare_bound(value, bound, less)
    return check


def range_search(values: Sequence[Any], descending: bool, nulls_first: bool,
                 check: InRange, start_offset: Any, end_offset: Any, frame: Frame
                 ) -> RangeSearch:
    """The RANGE offset bounds of a partition whose single ORDER BY key has ``values`` (in
    window order). NULLs are peers of each other and in no non-NULL row's offset range: a NULL
    row's offset frame is its NULL peers. Within the non-NULL rows the bound is found by
    bisection (in_range is monotonic along the window order)."""
    size = len(values)
    nulls = sum(1 for value in values if value is None)
    first, last = (nulls, size) if nulls_first else (0, size - nulls)

    def search(position: int, is_start: bool) -> int:
        base = values[position]
        if base is None:
            return (0 if nulls_first else last) if is_start else (nulls if nulls_first else size)
        bound = frame.start if is_start else frame.end
        subtract = bound == OFFSET_PRECEDING
        offset = start_offset if is_start else end_offset
        if descending:
            subtract = not subtract
        # the start is the first row at or after the lower bound; the end is one past the last
        # row at or before the upper bound (lower and upper in window order)
        less = descending if is_start else not descending
        low, high = first, last
        while low < high:
            middle = (low + high) // 2
            inside = check(values[middle], base, offset, subtract, less)
            if inside != is_start:
                low = middle + 1
            else:
                high = middle
        return low
    return search


# -- aggregates over frames -------------------------------------------------------------------


@dataclass
class AggregateInputs:
    """One window aggregate's inputs in a partition: the argument values of each row (in window
    order) and whether the row passes the call's FILTER."""

    definition: Any            # aggregates.AggregateDef
    arguments: list[tuple[Any, ...]]
    passes: list[bool]


def aggregate_over_frames(inputs: AggregateInputs,
                          frames: Sequence[tuple[tuple[int, int], ...]]) -> list[Any]:
    """The aggregate's result for each row's frame (its ranges of positions). The transition
    state carries from one row to the next while the frame is one range with the same start
    and an end that has not moved back; otherwise it restarts at the frame's first row. A frame
    equal to the previous row's gives the previous result."""
    definition = inputs.definition
    transition, strict = definition.transition, definition.strict
    arguments, passes = inputs.arguments, inputs.passes
    state: Any = None
    fed_start, fed_end = -1, -1
    previous: tuple[tuple[int, int], ...] | None = None
    result: Any = None
    results: list[Any] = []

    def feed(state: Any, start: int, end: int) -> Any:
        for position in range(start, end):
            if not passes[position]:
                continue
            values = arguments[position]
            if strict and None in values:
                continue
            state = transition(state, *values)
        return state

    for ranges in frames:
        if ranges != previous:
            if len(ranges) == 1 and ranges[0][0] == fed_start and ranges[0][1] >= fed_end:
                state = feed(state, fed_end, ranges[0][1])
                fed_end = ranges[0][1]
            else:
                state = definition.initial()
                for start, end in ranges:
                    state = feed(state, start, end)
                fed_start, fed_end = (ranges[0] if len(ranges) == 1 else (-1, -1))
            result = definition.final(state)
            previous = ranges
        results.append(result)
    return results


# -- the window functions ---------------------------------------------------------------------


@dataclass
class CallInputs:
    """What a window function sees of one partition: the partition, each row's argument values
    and frame ranges (in window order)."""

    partition: Partition
    arguments: list[tuple[Any, ...]]
    frames: list[tuple[tuple[int, int], ...]]


def _row_number(inputs: CallInputs) -> list[Any]:
    return list(range(1, inputs.partition.size + 1))


def _rank(inputs: CallInputs) -> list[Any]:
    partition = inputs.partition
    return [partition.group_start(p) + 1 for p in range(partition.size)]


def _dense_rank(inputs: CallInputs) -> list[Any]:
    return [group + 1 for group in inputs.partition.group_of]


def _percent_rank(inputs: CallInputs) -> list[Any]:
    partition = inputs.partition
    if partition.size <= 1:
        return [0.0] * partition.size
    return [partition.group_start(p) / (partition.size - 1) for p in range(partition.size)]


def _cume_dist(inputs: CallInputs) -> list[Any]:
    partition = inputs.partition
    return [partition.group_end(p) / partition.size for p in range(partition.size)]


def _ntile(inputs: CallInputs) -> list[Any]:
    """The bucket of each row: the first size % buckets buckets hold one row more. The bucket
    count is read at the partition's first row where it is not NULL."""
    size = inputs.partition.size
    results: list[Any] = []
    buckets: int | None = None
    for position in range(size):
        if buckets is None:
            value = inputs.arguments[position][0]
            if value is None:
                results.append(None)
                continue
            if value <= 0:
                raise MirrordbError("argument of ntile must be greater than zero",
                                    sqlstate="22014")
            buckets = value
        per_bucket, larger = divmod(size, buckets)
        in_larger = larger * (per_bucket + 1)
        if position < in_larger:
            results.append(position // (per_bucket + 1) + 1)
        else:
            results.append(larger + (position - in_larger) // per_bucket + 1)
    return results


def _shifted(direction: int) -> Callable[[CallInputs], list[Any]]:
    """lag (-1) and lead (+1): the value ``offset`` rows away in the partition, else the
    default."""
    def values(inputs: CallInputs) -> list[Any]:
        arguments = inputs.arguments
        size = inputs.partition.size
        results: list[Any] = []
        for position, row in enumerate(arguments):
            offset = row[1] if len(row) > 1 else 1
            if offset is None:
                results.append(None)
                continue
            target = position + direction * offset
            if 0 <= target < size:
                results.append(arguments[target][0])
            else:
                results.append(row[2] if len(row) > 2 else None)
        return results
    return values


def _frame_row(pick: Callable[[list[int], tuple[Any, ...]], int | None]
               ) -> Callable[[CallInputs], list[Any]]:
    """first_value, last_value, nth_value: the value at one row of the frame (NULL when the
    frame has no such row)."""
    def values(inputs: CallInputs) -> list[Any]:
        arguments = inputs.arguments
        results: list[Any] = []
        for row, ranges in zip(arguments, inputs.frames):
            positions = [p for start, end in ranges for p in range(start, end)] \
                if len(ranges) != 1 else range(*ranges[0])
            chosen = pick(positions, row)  # type: ignore[arg-type]
            results.append(None if chosen is None else arguments[chosen][0])
        return results
    return values


def _first(positions: Sequence[int], row: tuple[Any, ...]) -> int | None:
    return positions[0] if positions else None


def _last(positions: Sequence[int], row: tuple[Any, ...]) -> int | None:
    return positions[-1] if positions else None


def _nth(positions: Sequence[int], row: tuple[Any, ...]) -> int | None:
    wanted = row[1]
    if wanted is None:
        return None
    if wanted <= 0:
        raise MirrordbError("argument of nth_value must be greater than zero", sqlstate="22016")
    return positions[wanted - 1] if wanted <= len(positions) else None


WINDOW_FUNCTIONS: dict[str, Callable[[CallInputs], list[Any]]] = {
    "row_number": _row_number, "rank": _rank, "dense_rank": _dense_rank,
    "percent_rank": _percent_rank, "cume_dist": _cume_dist, "ntile": _ntile,
    "lag": _shifted(-1), "lead": _shifted(1), "first_value": _frame_row(_first),
    "last_value": _frame_row(_last), "nth_value": _frame_row(_nth),
}


# -- the plan node -------------------------------------------------------------------------------


@dataclass(eq=False)
class WindowCall:
    """One window function call: either a window function (``function``) or an aggregate
    (``aggregate``, an AggregateDef, with its FILTER), its arguments, its frame and offsets."""

    name: str
    args: list[Expr]
    frame: Frame
    function: Callable[[CallInputs], list[Any]] | None = None
    aggregate: Any = None
    filter: Expr | None = None
    start_offset: Expr | None = None
    end_offset: Expr | None = None
    in_range: Callable[[str], InRange] | None = None   # RANGE offsets: by session time zone
    uses_frame: bool = True


@dataclass(eq=False)
class WindowOrdering:
    """The calls sharing one sort: partition keys (sorted ascending), then the window's ORDER
    BY keys; each call with the position of its value after the input row."""

    partition_keys: list[Expr]
    order_keys: list[tuple[Expr, bool, bool]]   # expression, descending, nulls first
    calls: list[tuple[WindowCall, int]] = field(default_factory=list)


@dataclass(eq=False)
class WindowAgg(PlanNode):
    """Computes the window calls over all input rows; rows come out as the input row followed
    by each call's value, in the order of the last ordering."""

    child: PlanNode
    orderings: list[WindowOrdering]
    call_count: int = 0
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        rows = list(self.child.rows(ctx))
        values: list[list[Any]] = [[None] * len(rows) for _ in range(self.call_count)]
        order = list(range(len(rows)))
        for ordering in self.orderings:
            ctx.check_interrupts()
            order = _evaluate_ordering(ordering, rows, values, ctx)
        for index in order:
            yield rows[index] + tuple(column[index] for column in values)

    def explain(self) -> tuple[str, list[PlanNode]]:
        return "WindowAgg", [self.child]


def _evaluate_ordering(ordering: WindowOrdering, rows: list[Row], values: list[list[Any]],
                       ctx: ExecContext) -> list[int]:
    """Sort the rows for ``ordering``, compute its calls into ``values``; the sorted order."""
    partition_fns = [e.fn for e in ordering.partition_keys]
    partition_types = [e.type_oid for e in ordering.partition_keys]
    order_fns = [e.fn for e, _, _ in ordering.order_keys]
    order_types = [e.type_oid for e, _, _ in ordering.order_keys]
    keys = [tuple(fn(row, ctx) for fn in partition_fns) for row in rows]
    order_values = [tuple(fn(row, ctx) for fn in order_fns) for row in rows]
    directions = [(False, False)] * len(partition_fns) + \
        [(desc, nulls_first) for _, desc, nulls_first in ordering.order_keys]
    compares = [_comparator(t) for t in partition_types + order_types]
    order = list(range(len(rows)))
    if directions:
        order.sort(key=functools.cmp_to_key(lambda a, b: compare_sort_keys(
            keys[a] + order_values[a], keys[b] + order_values[b], directions, compares)))
    partition_key = [T.sort_key(t) for t in partition_types]
    peer_key = [T.sort_key(t) for t in order_types]
    start = 0
    while start < len(order):
        end = start + 1
        first = tuple(k(v) for k, v in zip(partition_key, keys[order[start]]))
        while end < len(order) and \
                tuple(k(v) for k, v in zip(partition_key, keys[order[end]])) == first:
            end += 1
        members = order[start:end]
        peers = [tuple(k(v) for k, v in zip(peer_key, order_values[i])) for i in members]
        partition = Partition.from_keys(peers)
        for call, column in ordering.calls:
            results = _evaluate_call(call, ordering, partition, members, rows, order_values,
                                     ctx)
            for index, value in zip(members, results):
                values[column][index] = value
        if end - start > INTERRUPT_CHECK_ROWS:
            ctx.check_interrupts()
        start = end
    return order


def _comparator(type_oid: int) -> Callable[[Any, Any], int]:
    return lambda a, b: T.compare(a, b, type_oid)


def _offset(expr: Expr | None, which: str, mode: str, ctx: ExecContext) -> Any:
    """A frame offset's value, checked as PostgreSQL checks it when a partition starts."""
    if expr is None:
        return None
    value = expr.fn((), ctx)
    if value is None:
        raise MirrordbError(f"frame {which} offset must not be null", sqlstate="22004")
    if mode != RANGE and value < 0:
        raise MirrordbError(f"frame {which} offset must not be negative", sqlstate="22013")
    return value


def _evaluate_call(call: WindowCall, ordering: WindowOrdering, partition: Partition,
                   members: list[int], rows: list[Row], order_values: list[tuple[Any, ...]],
                   ctx: ExecContext) -> list[Any]:
    frame = call.frame
    arg_fns = [a.fn for a in call.args]
    arguments = [tuple(fn(rows[i], ctx) for fn in arg_fns) for i in members]
    frames: list[tuple[tuple[int, int], ...]] = []
    if call.uses_frame:
        start_offset = _offset(call.start_offset, "starting", frame.mode, ctx)
        end_offset = _offset(call.end_offset, "ending", frame.mode, ctx)
        search = None
        if call.in_range is not None:
            _, descending, nulls_first = ordering.order_keys[0]
            check = call.in_range(ctx.function_context.timezone)
            search = range_search([order_values[i][0] for i in members], descending,
                                  nulls_first, check, start_offset, end_offset, frame)
        for position in range(partition.size):
            start, end = frame_bounds(frame, partition, position, start_offset, end_offset,
                                      search)
            frames.append(frame_ranges(frame, partition, position, start, end))
    if call.aggregate is not None:
        passes = [True] * len(members) if call.filter is None else \
            [call.filter.fn(rows[i], ctx) is True for i in members]
        return aggregate_over_frames(AggregateInputs(call.aggregate, arguments, passes), frames)
    assert call.function is not None
    return call.function(CallInputs(partition, arguments, frames))


__all__ = ["CURRENT_ROW", "EXCLUDE_CURRENT_ROW", "EXCLUDE_GROUP", "EXCLUDE_NO_OTHERS",
           "EXCLUDE_TIES", "GROUPS", "OFFSET_FOLLOWING", "OFFSET_PRECEDING", "RANGE", "ROWS",
           "UNBOUNDED_FOLLOWING", "UNBOUNDED_PRECEDING", "WINDOW_FUNCTIONS", "AggregateInputs",
           "CallInputs", "Frame", "Partition", "WindowAgg", "WindowCall", "WindowOrdering",
           "aggregate_over_frames", "frame_bounds", "frame_ranges", "in_range",
           "range_search"]
