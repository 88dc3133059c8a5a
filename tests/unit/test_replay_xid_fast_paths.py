"""The replay fast paths of the xid bookkeeping give what the general paths give:
KnownAssignedXids.record_xid of the xid right after the newest one seen (no gap to fill), and
the commit log's set_status on a page already cached or read from its file."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.access.clog import XACT_ABORTED, XACT_COMMITTED, XACT_IN_PROGRESS, CommitLog
from mirrordb.recovery.hot_standby import KnownAssignedXids
from mirrordb.wal.payloads import RunningXacts


def ready_tracker(next_xid: int) -> KnownAssignedXids:
    tracker = KnownAssignedXids(lambda xid: False)
    tracker.apply_running_xacts(RunningXacts((), (), False, next_xid, next_xid, next_xid - 1))
    return tracker


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=30))
def test_recording_xids_one_by_one_or_with_gaps_gives_every_xid_up_to_the_newest(steps):
    tracker = ready_tracker(100)
    xid = 99
    for step in steps:
        xid += step
        tracker.record_xid(xid)
        assert tracker.latest_observed_xid == xid
    assert tracker.running() == frozenset(range(100, xid + 1))


def test_the_next_xid_before_any_is_seen_takes_the_general_path():
    tracker = ready_tracker(3)    # latest observed is 2: below the first normal xid
    tracker.record_xid(3)
    tracker.record_xid(4)
    assert tracker.running() == frozenset((3, 4))


def test_set_status_on_cached_and_uncached_pages(tmp_path: Path) -> None:
    clog = CommitLog(str(tmp_path))
    clog.set_status([5000], XACT_COMMITTED)          # page read (absent file: zeroes)
    clog.set_status([5001, 5002], XACT_ABORTED)      # page cached
    clog.flush()
    again = CommitLog(str(tmp_path))
    assert [again.status(x) for x in (4999, 5000, 5001, 5002)] == [
        XACT_IN_PROGRESS, XACT_COMMITTED, XACT_ABORTED, XACT_ABORTED]
