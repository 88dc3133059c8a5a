"""Timeline history files (wal/timeline.py): the bytes PostgreSQL 15 writes at each promotion,
and the lookups replay, the walsender and the walreceiver make in a history."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirrordb.common.errors import DataCorrupted, MirrordbError
from mirrordb.wal import timeline as tl

SEGMENT = 16 * 1024 * 1024

# What PostgreSQL 15 wrote for a server promoted twice: at 0/40000A0 (timeline 1 -> 2), then
# at 0/60000A0 (2 -> 3); the second file repeats the first, a blank line, then its own line.
TWO = b"1\t0/40000A0\tno recovery target specified\n"
THREE = TWO + b"\n2\t0/60000A0\tno recovery target specified\n"


def test_child_history_content_is_postgresqls_layout() -> None:
    assert tl.child_history_content(None, 1, 0x40000A0) == TWO
    assert tl.child_history_content(TWO, 2, 0x60000A0) == THREE


def test_parse_history_lists_newest_first() -> None:
    history = tl.parse_history(3, THREE)
    assert history == (tl.TimelineEntry(3, 0x60000A0, None),
                       tl.TimelineEntry(2, 0x40000A0, 0x60000A0),
                       tl.TimelineEntry(1, 0, 0x40000A0))
    assert tl.newest_tli(history) == 3
    assert tl.parse_history(1, b"") == tl.single_timeline(1)


def test_parse_history_skips_comments_and_blank_lines() -> None:
    content = b"# written by hand\n\n" + TWO + b"   \n"
    assert tl.parse_history(2, content) == (tl.TimelineEntry(2, 0x40000A0, None),
                                            tl.TimelineEntry(1, 0, 0x40000A0))


@pytest.mark.parametrize("content, message, hint", [
    (b"x\t0/1\treason\n", "syntax error in history file: x\t0/1\treason",
     "Expected a numeric timeline ID."),
    (b"1\tnowhere\n", "syntax error in history file: 1\tnowhere",
     "Expected a write-ahead log switchpoint location."),
    (b"1\n", "syntax error in history file: 1",
     "Expected a write-ahead log switchpoint location."),
    (b"2\t0/1\ta\n1\t0/2\tb\n", "invalid data in history file: 1\t0/2\tb",
     "Timeline IDs must be in increasing sequence."),
    (b"1\t0/1\ta\n3\t0/2\tb\n", 'invalid data in history file "00000003.history"',
     "Timeline IDs must be less than child timeline's ID."),
])
def test_parse_history_refuses_damaged_files(content: bytes, message: str, hint: str) -> None:
    with pytest.raises(DataCorrupted) as caught:
        tl.parse_history(3, content)
    assert caught.value.message == message
    assert caught.value.hint == hint


def test_timeline_of_gives_a_switch_point_to_the_child() -> None:
    history = tl.parse_history(3, THREE)
    assert tl.timeline_of(0, history) == 1
    assert tl.timeline_of(0x40000A0 - 1, history) == 1
    assert tl.timeline_of(0x40000A0, history) == 2
    assert tl.timeline_of(0x60000A0, history) == 3
    assert tl.timeline_of(2**63, history) == 3


def test_switch_point_names_the_following_timeline() -> None:
    history = tl.parse_history(3, THREE)
    assert tl.switch_point(1, history) == (0x40000A0, 2)
    assert tl.switch_point(2, history) == (0x60000A0, 3)
    assert tl.switch_point(3, history) == (None, 3)
    with pytest.raises(MirrordbError, match="requested timeline 4 is not in this server's"):
        tl.switch_point(4, history)
    assert tl.fork_point(1, history) == 0x40000A0
    assert tl.fork_point(5, history) is None


def test_segment_timelines_prefers_the_newest_timeline_that_had_begun() -> None:
    history = tl.parse_history(3, THREE)
    assert tl.segment_timelines(3, SEGMENT, history) == [1]
    # segment 4 holds timeline 2's switch point: the child's copy first, then the parent's
    assert tl.segment_timelines(4, SEGMENT, history) == [2, 1]
    assert tl.segment_timelines(5, SEGMENT, history) == [2]
    assert tl.segment_timelines(6, SEGMENT, history) == [3, 2]
    assert tl.segment_timelines(7, SEGMENT, history) == [3]


def test_segment_timelines_at_a_switch_on_a_segment_boundary() -> None:
    history = tl.parse_history(2, b"1\t0/5000000\tr\n")
    assert tl.segment_timelines(4, SEGMENT, history) == [1]
    assert tl.segment_timelines(5, SEGMENT, history) == [2]


def test_newest_timeline_probes_upwards() -> None:
    present = {2, 3, 5}
    assert tl.newest_timeline(1, present.__contains__) == 3
    assert tl.newest_timeline(4, present.__contains__) == 5
    assert tl.newest_timeline(6, present.__contains__) == 6


def test_files_round_trip(tmp_path) -> None:
    waldir = str(tmp_path)
    assert tl.read_history(waldir, 1) == tl.single_timeline(1)
    assert tl.read_history(waldir, 2) == tl.single_timeline(2)   # no file: no parents
    assert tl.history_exists(waldir, 1) and not tl.history_exists(waldir, 2)
    assert tl.write_history(waldir, 2, TWO) == "00000002.history"
    assert tl.read_history_content(waldir, 2) == TWO
    assert tl.read_history(waldir, 2) == tl.parse_history(2, TWO)


@given(st.lists(st.integers(1, 2**40), min_size=1, max_size=6, unique=True))
def test_a_chain_of_promotions_parses_back(points: list[int]) -> None:
    points.sort()
    content: bytes | None = None
    for parent, point in enumerate(points, start=1):
        content = tl.child_history_content(content, parent, point)
    assert content is not None
    newest = len(points) + 1
    history = tl.parse_history(newest, content)
    assert [entry.tli for entry in history] == list(range(newest, 0, -1))
    for parent, point in enumerate(points, start=1):
        assert tl.switch_point(parent, history) == (point, parent + 1)
        assert tl.timeline_of(point, history) == parent + 1
        assert tl.timeline_of(point - 1, history) == parent


def test_the_switch_segment_copy_is_the_prefix_then_zeros_owner_only(tmp_path) -> None:
    source, target = tmp_path / "000000010000000000000003", tmp_path / "000000020000000000000003"
    source.write_bytes(bytes(range(256)) * 64)
    tl.copy_segment_prefix(str(source), str(target), 1000, 16384)
    data = target.read_bytes()
    assert data[:1000] == source.read_bytes()[:1000] and data[1000:] == bytes(16384 - 1000)
    assert target.stat().st_mode & 0o777 == 0o600          # as every WAL file
    with pytest.raises(MirrordbError, match="could not read file"):
        tl.copy_segment_prefix(str(source), str(target), 20000, 32768)
