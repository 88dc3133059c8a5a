"""Unit tests of the window frame machinery (sql/window_agg.py): frame bounds in ROWS, RANGE and
GROUPS mode, EXCLUDE, RANGE offsets found by bisection, and the incremental aggregation over
frames checked against recomputing every frame from scratch."""

from __future__ import annotations

import decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import aggregates as aggs
from mirrordb.sql import types as T
from mirrordb.sql import window_agg as wa

MODES = (wa.ROWS, wa.RANGE, wa.GROUPS)
STARTS = (wa.UNBOUNDED_PRECEDING, wa.OFFSET_PRECEDING, wa.CURRENT_ROW, wa.OFFSET_FOLLOWING)
ENDS = (wa.OFFSET_PRECEDING, wa.CURRENT_ROW, wa.OFFSET_FOLLOWING, wa.UNBOUNDED_FOLLOWING)
EXCLUSIONS = (wa.EXCLUDE_NO_OTHERS, wa.EXCLUDE_CURRENT_ROW, wa.EXCLUDE_GROUP, wa.EXCLUDE_TIES)


def _frames(frame: wa.Frame, keys: list[int], start_offset: int = 0, end_offset: int = 0
            ) -> list[tuple[tuple[int, int], ...]]:
    partition = wa.Partition.from_keys(keys)
    search = wa.range_search(keys, False, False, wa.in_range(T.INT4_OID, "UTC"),
                             start_offset, end_offset, frame)
    result = []
    for position in range(len(keys)):
        start, end = wa.frame_bounds(frame, partition, position, start_offset, end_offset,
                                     search)
        result.append(wa.frame_ranges(frame, partition, position, start, end))
    return result


def _members(ranges: tuple[tuple[int, int], ...]) -> list[int]:
    return [p for start, end in ranges for p in range(start, end)]


def test_peer_groups_split_on_key_changes() -> None:
    partition = wa.Partition.from_keys([1, 1, 2, 3, 3, 3])
    assert partition.group_of == [0, 0, 1, 2, 2, 2]
    assert partition.group_starts == [0, 2, 3, 6]
    assert (partition.group_start(4), partition.group_end(4)) == (3, 6)


def test_the_default_frame_ends_with_the_current_rows_peers() -> None:
    frames = _frames(wa.Frame(), [1, 1, 2, 3, 3])
    assert [_members(f) for f in frames] == [[0, 1], [0, 1], [0, 1, 2], [0, 1, 2, 3, 4],
                                             [0, 1, 2, 3, 4]]


def test_rows_offsets_count_rows_and_clip_at_the_partition() -> None:
    frame = wa.Frame(wa.ROWS, wa.OFFSET_PRECEDING, wa.OFFSET_FOLLOWING)
    frames = _frames(frame, [5, 5, 5, 5], 1, 2)
    assert [_members(f) for f in frames] == [[0, 1, 2], [0, 1, 2, 3], [1, 2, 3], [2, 3]]


def test_a_frame_that_ends_before_it_starts_is_empty() -> None:
    frame = wa.Frame(wa.ROWS, wa.OFFSET_FOLLOWING, wa.OFFSET_FOLLOWING)
    assert _frames(frame, [1, 2, 3], 2, 1) == [(), (), ()]


def test_groups_offsets_count_peer_groups() -> None:
    frame = wa.Frame(wa.GROUPS, wa.OFFSET_PRECEDING, wa.CURRENT_ROW)
    frames = _frames(frame, [1, 1, 2, 3, 3], 1)
    assert [_members(f) for f in frames] == [[0, 1], [0, 1], [0, 1, 2], [2, 3, 4], [2, 3, 4]]


def test_range_offsets_compare_values() -> None:
    frame = wa.Frame(wa.RANGE, wa.OFFSET_PRECEDING, wa.OFFSET_FOLLOWING)
    frames = _frames(frame, [1, 2, 4, 7, 8], 2, 1)
    assert [_members(f) for f in frames] == [[0, 1], [0, 1], [1, 2], [3, 4], [3, 4]]


def test_exclusions() -> None:
    keys = [1, 2, 2, 2, 3]
    whole = (wa.RANGE, wa.UNBOUNDED_PRECEDING, wa.UNBOUNDED_FOLLOWING)
    current, group, ties = (_frames(wa.Frame(*whole, exclude), keys)[2]
                            for exclude in EXCLUSIONS[1:])
    assert _members(current) == [0, 1, 3, 4]
    assert _members(group) == [0, 4]
    assert _members(ties) == [0, 2, 4]


def test_range_search_keeps_nulls_with_nulls() -> None:
    frame = wa.Frame(wa.RANGE, wa.OFFSET_PRECEDING, wa.OFFSET_FOLLOWING)
    values = [1, 3, None, None]
    search = wa.range_search(values, False, False, wa.in_range(T.INT4_OID, "UTC"), 5, 5, frame)
    assert [(search(p, True), search(p, False)) for p in range(4)] == \
        [(0, 2), (0, 2), (2, 4), (2, 4)]
    first = wa.range_search([None, 1, 3], False, True, wa.in_range(T.INT4_OID, "UTC"), 1, 0,
                            frame)
    assert [(first(p, True), first(p, False)) for p in range(3)] == [(0, 1), (1, 2), (2, 3)]


def test_range_search_descending() -> None:
    frame = wa.Frame(wa.RANGE, wa.OFFSET_PRECEDING, wa.CURRENT_ROW)
    values = [9, 7, 4, 3]
    search = wa.range_search(values, True, False, wa.in_range(T.INT4_OID, "UTC"), 2, 0, frame)
    assert [search(p, True) for p in range(4)] == [0, 0, 2, 2]


@pytest.mark.parametrize("column_type, value, base, offset", [
    (T.INT4_OID, 1, 1, -1),
    (T.FLOAT8_OID, 1.0, 1.0, float("nan")),
    (T.NUMERIC_OID, decimal.Decimal(1), decimal.Decimal(1), decimal.Decimal(-1)),
    (T.INTERVAL_OID, T.Interval(0, 1, 0), T.Interval(0, 1, 0), T.Interval(0, -1, 0)),
])
def test_negative_range_offsets_are_refused(column_type: int, value: Any, base: Any,
                                            offset: Any) -> None:
    with pytest.raises(MirrordbError) as failure:
        wa.in_range(column_type, "UTC")(value, base, offset, True, True)
    assert failure.value.sqlstate == "22013"


def test_float_in_range_treats_nan_as_largest_and_infinite_offsets() -> None:
    check = wa.in_range(T.FLOAT8_OID, "UTC")
    nan, inf = float("nan"), float("inf")
    assert check(nan, nan, 1.0, True, True)
    assert not check(nan, 1.0, 1.0, False, True)
    assert check(5.0, nan, 1.0, True, True)
    assert check(-inf, -inf, inf, True, False)


@st.composite
def _frame_cases(draw: st.DrawFn) -> tuple[wa.Frame, list[int], int, int]:
    mode = draw(st.sampled_from(MODES))
    start = draw(st.sampled_from(STARTS))
    ends = ENDS[ENDS.index(wa.CURRENT_ROW):] if start == wa.CURRENT_ROW else \
        ENDS[ENDS.index(wa.OFFSET_FOLLOWING):] if start == wa.OFFSET_FOLLOWING else ENDS
    end = draw(st.sampled_from(ends))
    exclude = draw(st.sampled_from(EXCLUSIONS))
    keys = sorted(draw(st.lists(st.integers(0, 6), max_size=14)))
    return (wa.Frame(mode, start, end, exclude), keys, draw(st.integers(0, 4)),
            draw(st.integers(0, 4)))


@settings(max_examples=300, deadline=None)
@given(_frame_cases(), st.data())
def test_incremental_aggregation_equals_recomputing_each_frame(
        case: tuple[wa.Frame, list[int], int, int], data: st.DataObject) -> None:
    frame, keys, start_offset, end_offset = case
    frames = _frames(frame, keys, start_offset, end_offset)
    values = data.draw(st.lists(st.one_of(st.none(), st.integers(-50, 50)),
                                min_size=len(keys), max_size=len(keys)))
    passes = data.draw(st.lists(st.booleans(), min_size=len(keys), max_size=len(keys)))
    for name, strict in (("sum", True), ("array_agg", False), ("count", True)):
        definition = aggs.resolve_aggregate(name, [T.INT4_OID]).definition
        inputs = wa.AggregateInputs(definition, [(v,) for v in values], passes)
        expected = []
        for ranges in frames:
            state = definition.initial()
            for position in _members(ranges):
                if passes[position] and not (strict and values[position] is None):
                    state = definition.transition(state, values[position])
            expected.append(definition.final(state))
        assert wa.aggregate_over_frames(inputs, frames) == expected, name


@settings(max_examples=200, deadline=None)
@given(_frame_cases())
def test_frames_hold_the_rows_their_bounds_describe(
        case: tuple[wa.Frame, list[int], int, int]) -> None:
    """Each frame, checked row by row against the definition of its bounds."""
    frame, keys, start_offset, end_offset = case
    partition = wa.Partition.from_keys(keys)
    for position, ranges in enumerate(_frames(frame, keys, start_offset, end_offset)):
        expected = [other for other in range(len(keys))
                    if _after_start(frame, partition, keys, position, other, start_offset)
                    and _before_end(frame, partition, keys, position, other, end_offset)
                    and not _excluded(frame, keys, position, other)]
        assert _members(ranges) == expected


def _distance(frame: wa.Frame, partition: wa.Partition, keys: list[int], position: int,
              other: int) -> int:
    if frame.mode == wa.ROWS:
        return other - position
    if frame.mode == wa.GROUPS:
        return partition.group_of[other] - partition.group_of[position]
    return keys[other] - keys[position]


def _after_start(frame: wa.Frame, partition: wa.Partition, keys: list[int], position: int,
                 other: int, offset: int) -> bool:
    distance = _distance(frame, partition, keys, position, other)
    return {wa.UNBOUNDED_PRECEDING: True, wa.OFFSET_PRECEDING: distance >= -offset,
            wa.CURRENT_ROW: distance >= 0, wa.OFFSET_FOLLOWING: distance >= offset}[frame.start]


def _before_end(frame: wa.Frame, partition: wa.Partition, keys: list[int], position: int,
                other: int, offset: int) -> bool:
    distance = _distance(frame, partition, keys, position, other)
    return {wa.UNBOUNDED_FOLLOWING: True, wa.OFFSET_FOLLOWING: distance <= offset,
            wa.CURRENT_ROW: distance <= 0, wa.OFFSET_PRECEDING: distance <= -offset}[frame.end]


def _excluded(frame: wa.Frame, keys: list[int], position: int, other: int) -> bool:
    peer = keys[other] == keys[position]
    return {wa.EXCLUDE_NO_OTHERS: False, wa.EXCLUDE_CURRENT_ROW: other == position,
            wa.EXCLUDE_GROUP: peer, wa.EXCLUDE_TIES: peer and other != position}[frame.exclude]


def test_a_running_total_feeds_each_row_once() -> None:
    """A frame that starts at the partition's first row and grows is aggregated incrementally:
    one transition per row, not one per row and frame member."""
    size = 5000
    frames = _frames(wa.Frame(wa.ROWS, wa.UNBOUNDED_PRECEDING, wa.CURRENT_ROW), [0] * size)
    sum_int4 = aggs.resolve_aggregate("sum", [T.INT4_OID]).definition
    calls = []

    def counting(state: Any, value: int) -> Any:
        calls.append(value)
        return sum_int4.transition(state, value)
    counted = aggs.AggregateDef("sum", sum_int4.arg_types, sum_int4.result_type,
                                sum_int4.initial, counting, sum_int4.final)
    inputs = wa.AggregateInputs(counted, [(1,)] * size, [True] * size)
    assert wa.aggregate_over_frames(inputs, frames) == list(range(1, size + 1))
    assert len(calls) == size


def test_peers_share_one_result() -> None:
    """The default frame of peers is the same range: computed once for them all."""
    frames = _frames(wa.Frame(), [1] * 100)
    count = aggs.resolve_aggregate("count", []).definition
    finals = []

    def final(state: Any) -> Any:
        finals.append(state)
        return state
    counted = aggs.AggregateDef("count", (), count.result_type, count.initial, count.transition,
                                final)
    inputs = wa.AggregateInputs(counted, [()] * 100, [True] * 100)
    assert wa.aggregate_over_frames(inputs, frames) == [100] * 100
    assert finals == [100]
