"""Unit tests for the pure parts of replication/walsender.py: states and the lag tracker."""

from __future__ import annotations

import pytest

from mirrordb.common.errors import InvariantViolation
from mirrordb.replication.walsender import LagTracker, WalSenderState, WalSenderStatus


def test_state_transitions_follow_the_table() -> None:
    status = WalSenderStatus()
    status.move_to(WalSenderState.CATCHUP)
    status.move_to(WalSenderState.STREAMING)
    status.move_to(WalSenderState.STOPPING)
    with pytest.raises(InvariantViolation, match="STOPPING -> STARTUP"):
        status.move_to(WalSenderState.STARTUP)


def test_lag_is_time_since_the_position_was_sent() -> None:
    lag = LagTracker()
    lag.sent(100, now=10.0)
    lag.sent(200, now=11.0)
    assert lag.reply("write", 150, now=12.0) == pytest.approx(2.0)
    assert lag.reply("write", 200, now=12.5) == pytest.approx(1.5)
    assert lag.reply("flush", 0, now=13.0) is None
    assert lag.reply("flush", 200, now=13.0) == pytest.approx(2.0)
    lag.reset()
    assert lag.reply("apply", 0, now=14.0) is None
