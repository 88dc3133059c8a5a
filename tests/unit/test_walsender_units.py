"""Unit tests for parts of replication/walsender.py: states, the lag tracker, sending to a slow
client."""

from __future__ import annotations

import socket
import threading

import pytest

from mirrordb.common.errors import InvariantViolation
from mirrordb.replication.walsender import (LagTracker, WalSender, WalSenderState,
                                            WalSenderStatus)


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


def test_a_full_client_buffer_is_waited_out_not_fatal() -> None:
    """A standby that reads slowly (busy replaying) fills its socket buffer: the walsender's
    send times out, checks for interrupts and sends again, as often as it takes, and the
    client gets every byte (the retry once failed on its own except clause and dropped the
    connection, making the standby wait wal_retrieve_retry_interval)."""
    ours, theirs = socket.socketpair()
    sender = object.__new__(WalSender)
    sender.sock = theirs
    retried = threading.Event()
    sender._check_interrupts = retried.set          # type: ignore[method-assign]
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    theirs.settimeout(0.01)
    data = bytes(range(256)) * 4096                  # 1 MiB: far more than the buffers hold
    received = bytearray()

    def read_after_a_retry() -> None:
        assert retried.wait(30), "the send never timed out"
        while len(received) < len(data):
            received.extend(ours.recv(65536))

    reader = threading.Thread(target=read_after_a_retry)
    reader.start()
    try:
        sender._send_all(data)
    finally:
        reader.join(30)
        ours.close()
        theirs.close()
    assert bytes(received) == data
