"""Startup.replay_available's hook between records (the standby thread's pause point and
walreceiver reply): called only while ``state.interrupt_pending`` is set; False stops replay
before the next record, and a later call replays from there, every record once.

A standby Engine in this process is fed the WAL of a primary Engine (copied segment files), as
in test_hot_standby_snapshots.py.
"""

from __future__ import annotations

import struct

import pytest

from mirrordb.common.errors import WalCorrupted
from mirrordb.common.lsn import format_lsn
from mirrordb.engine import Engine
from mirrordb.recovery.startup import Startup
from mirrordb.storage import datum as T
from mirrordb.wal.rmgr import RM_MIRRORDB_HEAP_ID, rmgr_name
from tests.integration.test_hot_standby_snapshots import (  # noqa: F401  (a fixture)
    primary_and_standby, ship_wal)


def copy_wal(primary: Engine, standby: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ship_wal`` without its replay: the test replays itself."""
    assert standby.startup is not None
    with monkeypatch.context() as patch:
        patch.setattr(standby.startup, "replay_available", lambda: 0)
        ship_wal(primary, standby)


def with_rows(primary: Engine, standby: Engine, monkeypatch: pytest.MonkeyPatch,
              rows: int) -> Startup:
    """A table of ``rows`` rows on the primary, its WAL in the standby's pg_wal, not replayed."""
    with primary.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID)])
        for key in range(rows):
            txn.insert("t", [key])
    copy_wal(primary, standby, monkeypatch)
    assert standby.startup is not None
    return standby.startup


def test_a_stop_before_a_record_leaves_it_for_the_next_call(primary_and_standby,  # noqa: F811
                                                              monkeypatch):
    primary, standby = primary_and_standby
    startup = with_rows(primary, standby, monkeypatch, 50)
    calls: list[bool] = []

    def stop_at_once(more: bool) -> bool:
        calls.append(more)
        return False

    state = startup.state
    start = startup.next_lsn
    state.interrupt_pending = True
    assert startup.replay_available(stop_at_once) == 0
    assert calls == [True] and startup.next_lsn == start and state.interrupt_pending

    stopped_after: list[int] = []

    def stop_after_three(more: bool) -> bool:
        stopped_after.append(startup.records_replayed)
        state.interrupt_pending = True          # look again before the next record
        return len(stopped_after) <= 3

    before = startup.records_replayed
    assert startup.replay_available(stop_after_three) == 3
    assert startup.next_lsn == state.last_replayed_end_lsn
    assert startup.records_replayed == before + 3

    def go_on(more: bool) -> bool:
        state.interrupt_pending = False
        return True

    rest = startup.replay_available(go_on)
    assert rest > 3 and not state.interrupt_pending
    assert startup.end_reason                       # stopped at the end of WAL this time
    with standby.begin(read_only=True) as reader:
        assert sorted(values[0] for _, values in reader.scan("t")) == list(range(50))


def test_without_a_hook_the_flag_is_cleared_and_replay_goes_on(primary_and_standby,  # noqa: F811
                                                                monkeypatch):
    primary, standby = primary_and_standby
    startup = with_rows(primary, standby, monkeypatch, 1)
    startup.state.interrupt_pending = True
    assert startup.replay_available() > 0
    assert not startup.state.interrupt_pending


def test_a_body_its_redo_routine_cannot_read_stops_replay_with_its_position(
        primary_and_standby, monkeypatch):  # noqa: F811
    """A record with a right CRC whose payload a redo routine finds too short (as WAL of
    another mirrordb version with another layout would be) is reported as corrupt WAL at that
    record, not as a bare struct error."""
    primary, standby = primary_and_standby
    startup = with_rows(primary, standby, monkeypatch, 5)
    heap = RM_MIRRORDB_HEAP_ID

    failed_at: list[int] = []

    def short_payload(context, record):
        failed_at.append(record.start_lsn)
        struct.unpack_from("<IHHI", b"\0\0\0\0", 0)    # a 12-byte layout read from 4 bytes

    monkeypatch.setitem(startup._handlers, heap, short_payload)
    with pytest.raises(WalCorrupted) as raised:
        startup.replay_available()
    assert failed_at and raised.value.lsn == failed_at[0]
    assert f"invalid {rmgr_name(heap)} record" in str(raised.value)
    assert format_lsn(failed_at[0]) in str(raised.value)
    assert "unpack_from requires a buffer" in str(raised.value)
