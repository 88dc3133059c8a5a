"""Recovery targets (recovery/target.py): the settings' checks and where each kind of target
stops replay, record by record, with PostgreSQL's messages and history-file reasons."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirrordb.common.errors import InvalidParameterValue
from mirrordb.recovery import target as targets
from mirrordb.recovery.target import RecoveryTarget, TargetCheck
from mirrordb.settings import Settings
from mirrordb.wal import payloads
from mirrordb.wal.record import DecodedRecord
from mirrordb.wal.rmgr import RM_HEAP_ID, RM_XACT_ID, RM_XLOG_ID, XLOG_RESTORE_POINT

# 2026-11-21 20:24:57.400871 UTC as a PG timestamp, and one second later
NOON = payloads.datetime_to_pg_timestamp(
    payloads.pg_timestamp_to_datetime(0).replace(year=2026, month=11, day=21, hour=20,
                                                 minute=24, second=57, microsecond=400871))
SECOND = 1_000_000


def record(rmid: int, info: int, data: bytes, *, xid: int = 0, start: int = 0x3000000
           ) -> DecodedRecord:
    return DecodedRecord(start_lsn=start, end_lsn=start + 64, tot_len=64, xid=xid, prev_lsn=0,
                         info=info, rmid=rmid, blocks=(), main_data=data, toplevel_xid=0)


def commit(xid: int, time: int, start: int = 0x3000000) -> DecodedRecord:
    info, data = payloads.encode_xact_commit(xact_time=time)
    return record(RM_XACT_ID, info, data, xid=xid, start=start)


def abort(xid: int, time: int) -> DecodedRecord:
    info, data = payloads.encode_xact_abort(xact_time=time)
    return record(RM_XACT_ID, info, data, xid=xid)


def heap(start: int = 0x3000000) -> DecodedRecord:
    return record(RM_HEAP_ID, 0, b"", xid=9, start=start)


def restore_point(name: str, time: int = NOON) -> DecodedRecord:
    return record(RM_XLOG_ID, XLOG_RESTORE_POINT, payloads.encode_restore_point(time, name))


def check(kind: str, inclusive: bool = True, **fields: object) -> TargetCheck:
    return TargetCheck(RecoveryTarget(kind, inclusive=inclusive, **fields))  # type: ignore


# -- settings -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value, detail", [
    ("recovery_target", "latest", 'The only allowed value is "immediate".'),
    ("recovery_target_lsn", "0/zz", None),
    ("recovery_target_xid", "abc", None),
    ("recovery_target_xid", "-1", None),
    ("recovery_target_time", "now", None),
    ("recovery_target_time", "tomorrow", None),
    ("recovery_target_time", "not a time", None),
    ("recovery_target_name", "x" * 64,
     "recovery_target_name is too long (maximum 63 characters)."),
])
def test_bad_values_are_refused_with_postgresqls_words(name, value, detail):
    with pytest.raises(InvalidParameterValue) as raised:
        Settings({name: value})
    assert raised.value.message == f'invalid value for parameter "{name}": "{value}"'
    assert raised.value.detail == detail


def test_a_target_from_the_settings():
    assert targets.target_from_settings(Settings()) is None
    settings = Settings({"recovery_target_xid": str((3 << 32) | 726),   # with an epoch: its xid
                         "recovery_target_inclusive": "off"})
    target = targets.target_from_settings(settings)
    assert target == RecoveryTarget("xid", xid=726, inclusive=False, action="pause",
                                    timezone=settings.get_str("TimeZone"))
    assert target.starting_message() == "starting point-in-time recovery to XID 726"


def test_a_time_without_a_zone_is_in_the_servers_time_zone():
    settings = Settings({"TimeZone": "Europe/Paris",
                         "recovery_target_time": "2026-11-21 21:24:57.400871"})
    target = targets.target_from_settings(settings)
    assert target is not None and target.time == NOON
    assert target.starting_message() == \
        "starting point-in-time recovery to 2026-11-21 21:24:57.400871+01"


def test_two_targets_are_refused():
    settings = Settings({"recovery_target_name": "before", "recovery_target": "immediate"})
    with pytest.raises(InvalidParameterValue, match="multiple recovery targets specified"):
        targets.target_from_settings(settings)


# -- where each target stops --------------------------------------------------------------------

def test_xid_inclusive_stops_after_its_commit_and_exclusive_before_it():
    inclusive, exclusive = check("xid", xid=726), check("xid", False, xid=726)
    assert inclusive.stops_before(commit(726, NOON), True) is None
    assert inclusive.stops_after(commit(725, NOON), True) is None
    stop = inclusive.stops_after(commit(726, NOON), True)
    assert stop is not None and stop.after
    assert stop.message == ("recovery stopping after commit of transaction 726, time "
                            "2026-11-21 20:24:57.400871+00")
    assert stop.history_reason == "after transaction 726"
    stop = exclusive.stops_before(abort(726, NOON), True)
    assert stop is not None and not stop.after
    assert stop.message.startswith("recovery stopping before abort of transaction 726, time ")
    assert stop.history_reason == "before transaction 726"
    assert exclusive.stops_after(commit(726, NOON), True) is None


def test_time_target_stops_before_the_first_later_transaction():
    inclusive, exclusive = check("time", time=NOON), check("time", False, time=NOON)
    assert inclusive.stops_before(commit(5, NOON), True) is None      # at the time: replayed
    assert exclusive.stops_before(commit(5, NOON), True) is not None  # ... or not
    stop = inclusive.stops_before(commit(6, NOON + 1), True)
    assert stop is not None and stop.history_reason == "before 2026-11-21 20:24:57.400872+00\n"
    assert inclusive.stops_before(heap(), True) is None
    assert inclusive.stops_after(commit(6, NOON + SECOND), True) is None


def test_restore_point_target_stops_after_the_first_of_that_name():
    by_name = check("name", name="before_three")
    assert by_name.stops_after(restore_point("other"), True) is None
    assert by_name.stops_before(restore_point("before_three"), True) is None
    stop = by_name.stops_after(restore_point("before_three"), True)
    assert stop is not None and stop.after
    assert stop.message == ('recovery stopping at restore point "before_three", time '
                            '2026-11-21 20:24:57.400871+00')
    assert stop.history_reason == 'at restore point "before_three"'


def test_lsn_target_compares_where_records_start():
    inclusive = check("lsn", lsn=0x3016168)
    exclusive = check("lsn", False, lsn=0x3016168)
    assert inclusive.stops_after(heap(0x3016100), True) is None
    stop = inclusive.stops_after(heap(0x3016168), True)
    assert stop is not None and stop.message == \
        'recovery stopping after WAL location (LSN) "0/3016168"'
    assert stop.history_reason == "after LSN 0/3016168\n"
    assert exclusive.stops_before(heap(0x3016100), True) is None
    stop = exclusive.stops_before(heap(0x30161A0), True)
    assert stop is not None and stop.history_reason == "before LSN 0/30161A0\n"
    assert stop.record_start_lsn == 0x30161A0


def test_immediate_stops_once_consistent():
    immediate = check("immediate")
    assert immediate.stops_before(heap(), False) is None
    assert immediate.stops_after(heap(), False) is None
    stop = immediate.stops_after(heap(), True)
    assert stop is not None and stop.message == "recovery stopping after reaching consistency"
    assert stop.history_reason == "reached consistency"
    assert immediate.stops_before(heap(), True) is not None


@given(times=st.lists(st.integers(NOON - 10, NOON + 10), min_size=1, max_size=30),
       target=st.integers(NOON - 12, NOON + 12), inclusive=st.booleans())
def test_a_time_target_replays_a_prefix_of_commits_at_or_before_it(times, target, inclusive):
    """Replay of commits in WAL order stops at the first one past the target: every commit
    replayed is within it (inclusive: at or before; exclusive: before), and the one that
    stopped replay is not."""
    stop_check = check("time", inclusive, time=target)
    replayed = []
    for xid, time in enumerate(times, start=3):
        if stop_check.stops_before(commit(xid, time), True) is not None:
            assert time > target or (not inclusive and time == target)
            break
        replayed.append(time)
        assert stop_check.stops_after(commit(xid, time), True) is None
    assert all(time <= target if inclusive else time < target for time in replayed)
