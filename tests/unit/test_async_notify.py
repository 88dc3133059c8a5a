"""The notification queue (access/async_notify.py) and one session's LISTEN/NOTIFY state
(sql/notify.py), without a server: commit-time effects, folding, savepoints, positions, usage."""

from __future__ import annotations

import pytest

from mirrordb.access.async_notify import (QUEUE_PAGE_SIZE, Notification, NotifyQueue, advance,
                                          entry_size)
from mirrordb.common.errors import MirrordbError
from mirrordb.sql.notify import SessionNotify

DATABASE = 5


def session(queue: NotifyQueue, pid: int, woken: list[int] | None = None) -> SessionNotify:
    def wake() -> None:
        if woken is not None:
            woken.append(pid)
    return SessionNotify(queue, pid, DATABASE, wake, lambda: None)


def commit(state: SessionNotify) -> None:
    state.pre_commit()
    state.transaction_ended(True)


def test_notifications_reach_listeners_after_commit_folded_in_first_order() -> None:
    queue = NotifyQueue()
    woken: list[int] = []
    listener, sender = session(queue, 1, woken), session(queue, 2)
    listener.listen("c")
    assert listener.take_notifications() == []          # not before its commit
    commit(listener)
    for payload in ("1", "1", "2", "1"):
        sender.notify("c", payload)
    sender.notify("other", "x")
    assert listener.take_notifications() == []          # nothing queued before the commit
    commit(sender)
    assert woken == [1]
    assert listener.take_notifications() == [Notification(2, "c", "1"), Notification(2, "c", "2")]
    assert listener.take_notifications() == []


def test_rollback_and_rollback_to_savepoint_forget_what_they_cover() -> None:
    queue = NotifyQueue()
    listener, sender = session(queue, 1), session(queue, 2)
    listener.listen("c")
    commit(listener)
    sender.notify("c", "dropped")
    sender.transaction_ended(False)
    sender.notify("c", "kept")
    sender.savepoint()
    sender.notify("c", "inside")
    sender.listen("never")
    sender.rollback_to_savepoint(1)
    sender.savepoint()
    sender.notify("c", "released")
    sender.release_savepoint(2)
    commit(sender)
    assert [n.payload for n in listener.take_notifications()] == ["kept", "released"]
    assert sender.channels == []


def test_a_new_listener_reads_from_the_head_and_unlisten_stops_it() -> None:
    queue = NotifyQueue()
    early, late, sender = session(queue, 1), session(queue, 2), session(queue, 3)
    early.listen("c")
    commit(early)
    sender.notify("c", "before")
    commit(sender)
    late.listen("c")
    commit(late)
    sender.notify("c", "after")
    commit(sender)
    assert [n.payload for n in late.take_notifications()] == ["after"]
    assert [n.payload for n in early.take_notifications()] == ["before", "after"]
    late.unlisten(None)
    commit(late)
    assert not queue.is_listener(2) and late.channels == []


def test_channel_and_payload_limits() -> None:
    state = session(NotifyQueue(), 1)
    with pytest.raises(MirrordbError, match="channel name cannot be empty"):
        state.notify(None, "x")
    with pytest.raises(MirrordbError, match="channel name too long"):
        state.notify("a" * 64, "x")
    with pytest.raises(MirrordbError, match="payload string too long"):
        state.notify("c", "x" * 8000)
    state.notify("a" * 63, "x" * 7999)


def test_positions_follow_postgres_queue_pages_and_usage() -> None:
    assert entry_size("c", "") == 20
    assert advance(0, 7020) == 7020
    assert advance(7020, 7020) == QUEUE_PAGE_SIZE + 7020        # no entry spans pages
    assert advance(QUEUE_PAGE_SIZE - 40, 24) == QUEUE_PAGE_SIZE  # no room left for an empty one
    queue = NotifyQueue()
    reader, sender = session(queue, 1), session(queue, 2)
    reader.listen("c")
    commit(reader)
    for letter in "xyz":            # one page each: the head ends on the third page
        sender.notify("c", letter * 7000)
        commit(sender)
    assert queue.usage() == 2 / (32 * 0x10000 // 2)
    reader.take_notifications()
    assert queue.usage() == 0.0
