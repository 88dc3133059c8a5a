"""MinRecoveryPoint.flush, PostgreSQL's UpdateMinRecoveryPoint, against a stub engine.

It advances pg_control's minRecoveryPoint to the end of the record being replayed (not merely to
the page LSN asked for, and not only to the last completed record), writes pg_control only when the
value grows, warns about a request past the replay position, and does nothing in crash recovery.
"""

from __future__ import annotations

import dataclasses
import logging

from mirrordb.recovery.redo import RecoveryState
from mirrordb.recovery.startup import MinRecoveryPoint
from mirrordb.storage.control import ControlFile


class StubEngine:
    def __init__(self, min_recovery_point: int) -> None:
        self.control = dataclasses.replace(ControlFile.initial(system_identifier=1),
                                           min_recovery_point=min_recovery_point)
        self.writes: list[int] = []

    def update_control(self, *, min_recovery_point_at_least: int | None = None,
                       **changes: object) -> ControlFile:
        """Engine.update_control's rule: the minimum only grows."""
        if min_recovery_point_at_least is not None \
                and self.control.min_recovery_point < min_recovery_point_at_least:
            changes["min_recovery_point"] = min_recovery_point_at_least
        self.control = dataclasses.replace(self.control, **changes)  # type: ignore[arg-type]
        self.writes.append(self.control.min_recovery_point)
        return self.control


def test_advances_to_the_end_of_the_record_being_replayed():
    engine = StubEngine(0x1000000)
    state = RecoveryState()
    tracker = MinRecoveryPoint(engine, state)  # type: ignore[arg-type]
    state.last_replayed_end_lsn = 0x1002000
    state.replay_end_lsn = 0x1003000           # a page changed by the record now being replayed
    tracker.flush(0x0FFF800)                   # below the stored value: nothing to do
    assert engine.writes == []
    tracker.flush(0x1003000)
    assert engine.writes == [0x1003000]
    tracker.flush(0x1002000)                   # covered already, even without reading pg_control
    assert engine.writes == [0x1003000] and tracker.updates == 1


def test_warns_about_a_request_past_the_replay_position(caplog):
    engine = StubEngine(0x1000000)
    state = RecoveryState()
    state.replay_end_lsn = state.last_replayed_end_lsn = 0x1002000
    tracker = MinRecoveryPoint(engine, state)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="mirrordb.recovery"):
        tracker.flush(0x5000000)               # a bogus page LSN: never accepted as the minimum
    assert engine.control.min_recovery_point == 0x1002000
    assert "is past current point" in caplog.text


def test_crash_recovery_never_updates_it():
    engine = StubEngine(0)
    state = RecoveryState()
    state.replay_end_lsn = 0x1003000
    tracker = MinRecoveryPoint(engine, state)  # type: ignore[arg-type]
    tracker.flush(0x1003000)
    assert engine.writes == [] and engine.control.min_recovery_point == 0
    tracker.start_at_least_at(0x1001000, 1)    # archive recovery starts at the REDO point
    assert engine.control.min_recovery_point == 0x1001000
    tracker.flush(0x1003000)
    assert engine.control.min_recovery_point == 0x1003000


def test_consistency_check():
    state = RecoveryState()
    state.last_replayed_end_lsn = 0x2000
    assert not state.check_consistency()       # no minimum: crash recovery, not before the end
    state.min_recovery_point = 0x3000
    assert not state.check_consistency() and not state.consistent
    state.last_replayed_end_lsn = 0x3008
    state.backup_pending = True
    assert not state.check_consistency()
    state.backup_pending = False
    assert state.check_consistency() and state.consistent_at_lsn == 0x3008
    assert not state.check_consistency()       # reported once
