"""Hot-standby feedback without a primary: what the standby reports (recovery/hot_standby.py),
when the walreceiver sends it (``FeedbackSchedule``) and what the walsender does with it
(``WalSender.on_feedback``, ``WalSenderHorizon``, ``xid_in_recent_past``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mirrordb.recovery.hot_standby import (FeedbackHorizon, KnownAssignedXids, feedback_horizon,
                                           xid_epoch)
from mirrordb.replication.messages import HotStandbyFeedback
from mirrordb.replication.walreceiver import FEEDBACK_CHANGE_INTERVAL_S, FeedbackSchedule
from mirrordb.replication.walsender import (WalSender, WalSenderHorizon, WalSenderStatus,
                                            xid_in_recent_past)
from mirrordb.wal.payloads import RunningXacts

INTERVAL_MS = 10_000
EPOCH = 1 << 32


def horizon(xmin: int, epoch: int = 0) -> FeedbackHorizon:
    return FeedbackHorizon(xmin, epoch, epoch)


# -- what the standby reports ----------------------------------------------------------------------


def ready_tracker(running: tuple[int, ...], next_xid: int) -> KnownAssignedXids:
    tracker = KnownAssignedXids(lambda xid: False)
    tracker.apply_running_xacts(RunningXacts(running, (), False, next_xid,
                                             min(running, default=next_xid), next_xid - 1))
    return tracker


def test_oldest_xmin_is_the_oldest_running_xid_or_the_next_one() -> None:
    assert ready_tracker((), 750).oldest_xmin() == 750
    assert ready_tracker((740, 745), 750).oldest_xmin() == 740


def test_epoch_of_an_xid_before_the_wraparound() -> None:
    assert xid_epoch(744, 3 * EPOCH + 800) == 3
    assert xid_epoch(0xFFFFFF00, 3 * EPOCH + 5) == 2


def standby_engine(*, sessions_xmin: int = 0, consistent: bool = True) -> Any:
    tracker = ready_tracker((740,), 750)
    xacts = SimpleNamespace(hot_standby=tracker, next_full_xid=750,
                            oldest_xmin=lambda: min(750, sessions_xmin or 750))
    startup = SimpleNamespace(state=SimpleNamespace(consistent=consistent))
    return SimpleNamespace(settings={"hot_standby": True}, xacts=xacts, startup=startup)


def test_feedback_horizon_takes_the_oldest_of_replay_and_sessions() -> None:
    assert feedback_horizon(standby_engine()) == FeedbackHorizon(740, 0, 0)
    assert feedback_horizon(standby_engine(sessions_xmin=730)) == FeedbackHorizon(730, 0, 0)
    assert feedback_horizon(standby_engine(consistent=False)) is None


# -- when the walreceiver sends it -----------------------------------------------------------------


def due(schedule: FeedbackSchedule, xmin: int, now_s: float, *, enabled: bool = True,
        interval_ms: int = INTERVAL_MS, epoch: int = 0, immediate: bool = False) -> object:
    return schedule.due(enabled=enabled, interval_ms=interval_ms,
                        horizon=horizon(xmin, epoch) if xmin else None, now_s=now_s,
                        immediate=immediate)


def test_first_message_then_every_interval() -> None:
    schedule = FeedbackSchedule()
    assert due(schedule, 740, 0.0, immediate=True) == (740, 0, 0)
    assert due(schedule, 740, 5.0) is None
    assert due(schedule, 740, 10.0) == (740, 0, 0)


def test_a_moved_xmin_goes_out_soon_but_not_more_often_than_the_change_interval() -> None:
    schedule = FeedbackSchedule()
    due(schedule, 740, 0.0)
    assert due(schedule, 741, FEEDBACK_CHANGE_INTERVAL_S / 2) is None
    assert due(schedule, 741, FEEDBACK_CHANGE_INTERVAL_S) == (741, 0, 0)


def test_turning_feedback_off_sends_one_message_with_xmin_zero() -> None:
    schedule = FeedbackSchedule()
    due(schedule, 740, 0.0, epoch=2)
    assert due(schedule, 740, 0.5, enabled=False, epoch=2) == (0, 2, 2)
    for now_s in (1.0, 20.0, 40.0):
        assert due(schedule, 740, now_s, enabled=False) is None
    assert due(schedule, 745, 40.01) == (745, 0, 0)          # on again: at once


def test_off_from_the_start_still_says_so_once() -> None:
    schedule = FeedbackSchedule()
    assert due(schedule, 740, 0.0, enabled=False, immediate=True) == (0, 0, 0)
    assert due(schedule, 740, 30.0, enabled=False) is None


def test_nothing_before_hot_standby_is_active_and_interval_zero_means_off() -> None:
    schedule = FeedbackSchedule()
    assert due(schedule, 0, 0.0, immediate=True) is None     # no horizon yet
    assert due(schedule, 740, 0.1) == (740, 0, 0)
    assert due(schedule, 740, 0.2, interval_ms=0) == (0, 0, 0)


# -- what the walsender does with it ---------------------------------------------------------------


def test_recent_past_check_is_postgresqls() -> None:
    next_full = 5 * EPOCH + 1000
    assert xid_in_recent_past(900, 5, next_full)
    assert xid_in_recent_past(1000, 5, next_full)
    assert not xid_in_recent_past(1001, 5, next_full)        # the future
    assert not xid_in_recent_past(900, 4, next_full)         # wrong epoch
    assert xid_in_recent_past(0xFFFFFF00, 4, next_full)      # just before the wraparound
    assert not xid_in_recent_past(2, 5, next_full)           # not a normal xid


class FakeSlots:
    def __init__(self) -> None:
        self.xmins: dict[str, int] = {}

    def update_xmin(self, name: str, xmin: int) -> None:
        self.xmins[name] = xmin


def fake_walsender(slot_name: str | None = None) -> Any:
    status = WalSenderStatus()
    server = SimpleNamespace(backends=lambda: [SimpleNamespace(walsender=status)])
    engine = SimpleNamespace(xacts=SimpleNamespace(next_full_xid=EPOCH + 800,
                                                   horizon_hooks=[]))
    return SimpleNamespace(engine=engine, server=server, slots=FakeSlots(),
                           _slot_name=slot_name, status=status)


def feed(sender: Any, xmin: int, epoch: int = 1) -> None:
    WalSender.on_feedback(sender, HotStandbyFeedback(0, xmin, epoch, 0, epoch))


def test_feedback_without_a_slot_holds_vacuum_through_the_walsender() -> None:
    sender = fake_walsender()
    feed(sender, 744)
    feed(sender, 750)
    hooks = sender.engine.xacts.horizon_hooks
    assert sender.status.backend_xmin == 750
    assert hooks == [WalSenderHorizon(sender.server)] and hooks[0]() == 750
    feed(sender, 0)
    assert sender.status.backend_xmin == 0 and hooks[0]() == 0


def test_feedback_with_a_slot_sets_the_slot_xmin() -> None:
    sender = fake_walsender("standby1")
    feed(sender, 744)
    assert sender.slots.xmins == {"standby1": 744}
    assert sender.status.backend_xmin == 0 and sender.engine.xacts.horizon_hooks == []
    feed(sender, 0)
    assert sender.slots.xmins == {"standby1": 0}


def test_implausible_feedback_is_ignored() -> None:
    sender = fake_walsender("standby1")
    feed(sender, 900)            # past the next xid
    feed(sender, 744, epoch=7)
    feed(sender, 1)
    assert sender.slots.xmins == {}
