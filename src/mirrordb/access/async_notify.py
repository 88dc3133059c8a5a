"""The server's notification queue: what NOTIFY sends and LISTEN receives (PostgreSQL's
async.c shared queue, kept in memory).

Who uses it: the engine makes one ``NotifyQueue`` per server (``Engine.notify_queue``, shared
by every database's view); each session's LISTEN/NOTIFY state (sql/notify.py) appends to it
when a notifying transaction commits and reads from it; the backend (server/backend.py) hands
what a session reads to its client as NotificationResponse messages while the session is idle.

Rules, as PostgreSQL's:

* Entries go in at commit only, in commit order: a notifying transaction takes
  ``commit_lock`` before its commit and appends its notifications after it (``append``), so
  two notifying transactions' batches are queued in the order they committed; nothing of a
  rolled-back transaction is ever queued.
* A session is a listener from the commit of its first LISTEN until its last UNLISTEN (or its
  end): ``register`` gives it a read position at the queue's head, so it receives what commits
  from then on; ``read`` returns the entries of its database past its position on channels it
  listens to, and moves the position to the head. Entries every listener has read are dropped.
* ``append`` wakes each listener of the database (its ``wake`` callable, the backend's
  interrupt state), which reads once it is idle.
* The queue is bounded as PostgreSQL's: a commit that finds it full (``check_room``) fails
  with 54000 before it commits.
* Positions count bytes as PostgreSQL lays entries out on 8 kB queue pages (a 16-byte header,
  channel and payload with their terminators, 4-byte aligned; an entry never spans pages), so
  ``usage()`` is pg_notification_queue_usage(): the pages between the slowest listener and the
  head over half the queue's page numbers.

Nothing here is WAL-logged: notifications are lost on a crash and never replayed, and a hot
standby refuses LISTEN and NOTIFY (sql/read_only.py).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Container
from dataclasses import dataclass

from mirrordb.common.errors import MirrordbError

QUEUE_PAGE_SIZE = 8192                   # PostgreSQL's QUEUE_PAGESIZE (BLCKSZ)
ENTRY_HEADER_SIZE = 16                   # length, database OID, xid, sender pid
EMPTY_ENTRY_SIZE = 20                    # QUEUEALIGN(header + two terminators)
QUEUE_HALF_PAGES = (32 * 0x10000) // 2   # (QUEUE_MAX_PAGE + 1) / 2 in PostgreSQL 15


@dataclass(frozen=True)
class Notification:
    """One delivered notification: the sender's pid, the channel and the payload."""

    pid: int
    channel: str
    payload: str


@dataclass(eq=False)
class _Listener:
    database_oid: int
    position: int
    wake: Callable[[], None]


def entry_size(channel: str, payload: str) -> int:
    """The queue bytes one notification takes (4-byte aligned, as PostgreSQL's QUEUEALIGN)."""
    size = ENTRY_HEADER_SIZE + len(channel.encode()) + 1 + len(payload.encode()) + 1
    return (size + 3) & ~3


def advance(position: int, size: int) -> int:
    """The head after an entry of ``size`` bytes: a page whose rest cannot hold it is filled
    with a dummy entry first, and a page whose rest cannot hold even an empty entry is left."""
    offset = position % QUEUE_PAGE_SIZE
    if offset + size > QUEUE_PAGE_SIZE:
        position += QUEUE_PAGE_SIZE - offset
    position += size
    if position % QUEUE_PAGE_SIZE + EMPTY_ENTRY_SIZE > QUEUE_PAGE_SIZE:
        position += QUEUE_PAGE_SIZE - position % QUEUE_PAGE_SIZE
    return position


class NotifyQueue:
    """The server-wide queue (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.commit_lock = threading.Lock()    # held from before a notifying commit to append
        # (end position, database OID, notification), oldest first
        self._entries: deque[tuple[int, int, Notification]] = deque()
        self._head = 0
        self._listeners: dict[int, _Listener] = {}

    def register(self, pid: int, database_oid: int, wake: Callable[[], None]) -> None:
        """Make ``pid`` a listener reading from the head on (no change if it is one)."""
        with self._lock:
            if pid not in self._listeners:
                self._listeners[pid] = _Listener(database_oid, self._head, wake)

    def unregister(self, pid: int) -> None:
        with self._lock:
            if self._listeners.pop(pid, None) is not None:
                self._trim()

    def is_listener(self, pid: int) -> bool:
        return pid in self._listeners

    def append(self, database_oid: int, notifications: list[Notification]) -> None:
        """Queue one committed transaction's notifications and wake the database's
        listeners. The caller holds ``commit_lock``."""
        if not notifications:
            return
        with self._lock:
            for notification in notifications:
                self._head = advance(self._head, entry_size(notification.channel,
                                                            notification.payload))
                self._entries.append((self._head, database_oid, notification))
            woken = [listener.wake for listener in self._listeners.values()
                     if listener.database_oid == database_oid]
            self._trim()
        for wake in woken:
            wake()

    def read(self, pid: int, channels: Container[str]) -> list[Notification]:
        """The listener's notifications past its position on ``channels``; it has read up
        to the head."""
        with self._lock:
            listener = self._listeners.get(pid)
            if listener is None or listener.position == self._head:
                return []
            found = [notification for end, database_oid, notification in self._entries
                     if end > listener.position and database_oid == listener.database_oid
                     and notification.channel in channels]
            listener.position = self._head
            self._trim()
        return found

    def check_room(self) -> None:
        """Before a notifying commit: 54000 when the queue is full (the slowest listener is
        half the queue's page numbers behind), as PostgreSQL's asyncQueueIsFull."""
        if self.usage() >= 1.0:
            raise MirrordbError("too many notifications in the NOTIFY queue", sqlstate="54000")

    def usage(self) -> float:
        """pg_notification_queue_usage(): the fraction of the queue's pages in use."""
        with self._lock:
            tail = min((lst.position for lst in self._listeners.values()), default=self._head)
            occupied = self._head // QUEUE_PAGE_SIZE - tail // QUEUE_PAGE_SIZE
        return occupied / QUEUE_HALF_PAGES if occupied else 0.0

    def _trim(self) -> None:
        """Under ``_lock``: drop the entries every listener has read."""
        tail = min((lst.position for lst in self._listeners.values()), default=self._head)
        entries = self._entries
        while entries and entries[0][0] <= tail:
            entries.popleft()


__all__ = ["Notification", "NotifyQueue", "advance", "entry_size"]
