"""KnownAssignedXids (recovery/hot_standby.py) against sequences of replayed records.

A tiny fake commit log stands in for pg_xact: the redo handlers set the fate of an xid before
they call ``complete``, and these tests do the same.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.common.errors import InvariantViolation
from mirrordb.recovery.hot_standby import KnownAssignedXids, StandbyState
from mirrordb.wal.payloads import RunningXacts


class FakeClog:
    def __init__(self) -> None:
        self.finished: set[int] = set()

    def end(self, tracker: KnownAssignedXids, xid: int, *subxids: int) -> None:
        self.finished.update((xid, *subxids))
        tracker.complete(xid, subxids)


def make() -> tuple[KnownAssignedXids, FakeClog]:
    clog = FakeClog()
    return KnownAssignedXids(clog.finished.__contains__), clog


def running(xids=(), subxids=(), next_xid=100, oldest=None, latest=None, overflow=False):
    return RunningXacts(tuple(xids), tuple(subxids), overflow, next_xid,
                        oldest if oldest is not None else min(xids, default=next_xid),
                        latest if latest is not None else next_xid - 1)


def test_no_snapshot_before_running_xacts_and_records_are_ignored():
    tracker, _ = make()
    tracker.record_xid(50)
    assert tracker.snapshot() is None
    assert tracker.running() == frozenset()
    assert tracker.state == StandbyState.INITIALIZED


def test_running_xacts_starts_snapshots():
    tracker, _ = make()
    tracker.apply_running_xacts(running([90, 95], [96], next_xid=100, latest=99))
    snapshot = tracker.snapshot()
    assert snapshot is not None and tracker.ready and tracker.ready_event.is_set()
    assert (snapshot.xmin, snapshot.xmax, snapshot.xip) == (90, 100, frozenset({90, 95, 96}))
    assert snapshot.in_progress(95) and snapshot.in_progress(100)
    assert not snapshot.in_progress(91)


def test_xids_that_ended_before_the_record_are_not_running():
    """The primary takes its list, then inserts the record: a commit may fall in between."""
    tracker, clog = make()
    clog.finished.add(95)
    tracker.apply_running_xacts(running([90, 95], next_xid=100))
    assert tracker.running() == frozenset({90})


def test_new_xids_and_gaps_are_running_until_they_end():
    tracker, clog = make()
    tracker.apply_running_xacts(running([], next_xid=100, latest=99))
    tracker.record_xid(103)            # 100..102 were assigned too (maybe to subtransactions)
    assert tracker.running() == frozenset({100, 101, 102, 103})
    snapshot = tracker.snapshot()
    assert snapshot is not None and snapshot.xmax == 100   # latest completed + 1
    clog.end(tracker, 103, 101)
    assert tracker.running() == frozenset({100, 102})
    snapshot = tracker.snapshot()
    assert snapshot is not None
    assert (snapshot.xmin, snapshot.xmax, snapshot.xip) == (100, 104, frozenset({100, 102}))
    assert not snapshot.in_progress(103) and snapshot.in_progress(102)


def test_commit_of_unseen_subtransactions_fills_the_gap_then_removes_it():
    tracker, clog = make()
    tracker.apply_running_xacts(running([], next_xid=10, latest=9))
    tracker.record_xid(10)
    clog.end(tracker, 10, 11, 12)      # subxids 11, 12 never wrote a record
    assert tracker.running() == frozenset()
    assert tracker.latest_observed_xid == 12 and tracker.latest_completed_xid == 12


def test_abort_of_a_savepoint_keeps_the_parent_running():
    tracker, clog = make()
    tracker.apply_running_xacts(running([], next_xid=10, latest=9))
    tracker.record_xid(10)
    tracker.record_xid(11)
    clog.end(tracker, 11)              # ROLLBACK TO SAVEPOINT: abort record of xid 11
    assert tracker.running() == frozenset({10})


def test_assignment_records_subtransactions():
    tracker, _ = make()
    tracker.apply_running_xacts(running([], next_xid=10, latest=9))
    tracker.assign(10, [11, 12, 13])
    assert tracker.running() == frozenset({10, 11, 12, 13})


def test_later_running_xacts_expire_transactions_that_vanished():
    """A primary that crashed never wrote an abort record for its open transactions."""
    tracker, _ = make()
    tracker.apply_running_xacts(running([20], next_xid=25, latest=24))
    tracker.record_xid(26)
    tracker.apply_running_xacts(running([], next_xid=40, oldest=40, latest=39))
    assert tracker.running() == frozenset()
    snapshot = tracker.snapshot()
    assert snapshot is not None and snapshot.xmax == 40


def test_overflowed_list_waits_for_a_complete_one():
    tracker, _ = make()
    tracker.apply_running_xacts(running([20], next_xid=25, overflow=True))
    assert tracker.state == StandbyState.SNAPSHOT_PENDING and tracker.snapshot() is None
    tracker.apply_running_xacts(running([21], next_xid=26))
    assert tracker.ready and tracker.running() == frozenset({21})


def test_shutdown_checkpoint_means_nothing_runs():
    tracker, _ = make()
    tracker.apply_shutdown_checkpoint(next_xid=500)
    snapshot = tracker.snapshot()
    assert snapshot is not None
    assert (snapshot.xmin, snapshot.xmax, snapshot.xip) == (500, 500, frozenset())
    tracker.record_xid(500)
    tracker.record_xid(501)
    tracker.apply_shutdown_checkpoint(next_xid=502)
    assert tracker.running() == frozenset()


def test_xid_the_list_missed_is_running_when_its_first_record_arrives():
    """Assigned after the primary took its list but before it read next_xid."""
    tracker, _ = make()
    tracker.apply_running_xacts(running([], next_xid=30, latest=28))
    tracker.record_xid(29)
    assert tracker.running() == frozenset({29})


def test_absurd_xid_gap_is_a_broken_invariant():
    tracker, _ = make()
    tracker.apply_running_xacts(running([], next_xid=10))
    with pytest.raises(InvariantViolation):
        tracker.record_xid(10 + (1 << 21))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["begin", "sub", "commit", "abort"]),
                          st.integers(0, 5)), max_size=60))
def test_snapshot_matches_a_model_of_the_primary(steps):
    """Replay random primary histories: the standby snapshot's in-progress set is exactly the
    primary's running xids, and every ended xid below xmax is left to the commit log."""
    tracker, clog = make()
    next_xid = 3
    tracker.apply_shutdown_checkpoint(next_xid)
    open_trees: list[list[int]] = []
    for action, pick in steps:
        if action == "begin":
            open_trees.append([next_xid])
            tracker.record_xid(next_xid)
            next_xid += 1
        elif open_trees:
            tree = open_trees[pick % len(open_trees)]
            if action == "sub":
                tree.append(next_xid)
                next_xid += 1           # a subtransaction that writes nothing yet
            else:
                open_trees.remove(tree)
                clog.end(tracker, tree[0], *tree[1:])
        primary_running = {x for tree in open_trees for x in tree}
        snapshot = tracker.snapshot()
        assert snapshot is not None
        for xid in range(3, next_xid):
            assert snapshot.in_progress(xid) == (xid in primary_running or
                                                 xid >= snapshot.xmax), xid
            if xid >= snapshot.xmax:
                assert xid not in clog.finished
