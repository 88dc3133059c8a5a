"""Property test of WalReceiptTimes (recovery/conflicts.py): for any run of flushes, WAL gets the
time of the flush that completed it, or an earlier one once the history was trimmed; never a
later one (which would let replay wait past max_standby_streaming_delay)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.recovery.conflicts import WalReceiptTimes

steps = st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=9000)


@settings(max_examples=60, deadline=None)
@given(steps=steps, start=st.integers(min_value=0, max_value=1 << 40), probe=st.data())
def test_receipt_time_is_never_later_than_the_flush_that_brought_the_wal(
        steps: list[int], start: int, probe: st.DataObject) -> None:
    receipts = WalReceiptTimes()
    receipts.stream_started(start)
    ends, end = [], start
    for index, step in enumerate(steps):
        end += step
        ends.append(end)
        receipts.flushed(end, float(index))
    lsn = probe.draw(st.integers(min_value=0, max_value=end + 10))
    answer = receipts.receipt_time(lsn)
    if lsn <= start or lsn > end:
        assert answer is None
        return
    first_covering = next(index for index, flushed in enumerate(ends) if flushed >= lsn)
    assert answer is not None and answer <= first_covering
