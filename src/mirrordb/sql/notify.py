"""LISTEN, UNLISTEN, NOTIFY and pg_notify(), pg_listening_channels(),
pg_notification_queue_usage(): one session's side of PostgreSQL's asynchronous notifications
(async.c), with PostgreSQL 15's rules and words.

Who calls it: ``Session`` (sql/session.py) runs the three statements through ``execute`` and
calls the transaction hooks (``pre_commit`` before its commit, ``transaction_ended`` after the
commit or rollback, the savepoint hooks through ``_follow_savepoints``); the planner finds the
functions in ``SPECIAL_HANDLERS`` (merged by sql/session_functions.py) and
``listening_channels_values`` (sql/set_returning.py). The shared queue is
access/async_notify.py; the backend (server/backend.py) sends what ``take_notifications``
returns while the session is idle.

Rules:

* Nothing happens before commit. LISTEN/UNLISTEN are actions applied in order when the
  transaction commits; NOTIFY's notifications are queued after the commit, in commit order;
  a rollback (or ROLLBACK TO a savepoint made before them) forgets both.
* A transaction's notifications with the same channel and payload are sent once, in the order
  of their first NOTIFY, as PostgreSQL folds them.
* The channel is a name: empty (or NULL, for pg_notify) or 64 bytes and longer is 22023; the
  payload must be shorter than 8000 bytes (22023 "payload string too long").
* A listener also gets its own notifications. Delivery waits until the session is idle
  outside a transaction block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mirrordb.access.async_notify import Notification, NotifyQueue
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T
from mirrordb.sql.expressions import TEXT, ExecContext, Expr, Row, check_arity, coerce

NAMEDATALEN = 64
NOTIFY_PAYLOAD_MAX_LENGTH = 8192 - NAMEDATALEN - 128     # PostgreSQL's: BLCKSZ - NAMEDATALEN - 128

LISTEN, UNLISTEN, UNLISTEN_ALL = "listen", "unlisten", "unlisten *"
COMMIT_LOCK_POLL_S = 0.1


def check_channel(channel: str | None) -> str:
    if not channel:
        raise MirrordbError("channel name cannot be empty", sqlstate="22023")
    if len(channel.encode()) >= NAMEDATALEN:
        raise MirrordbError("channel name too long", sqlstate="22023")
    return channel


def check_payload(payload: str | None) -> str:
    payload = payload or ""
    if len(payload.encode()) >= NOTIFY_PAYLOAD_MAX_LENGTH:
        raise MirrordbError("payload string too long", sqlstate="22023")
    return payload


class SessionNotify:
    """One session's listened channels and its transaction's pending actions and
    notifications (see the module docstring)."""

    def __init__(self, queue: NotifyQueue, pid: int, database_oid: int,
                 wake: Callable[[], None], check_for_interrupts: Callable[[], None]) -> None:
        self.queue = queue
        self.pid = pid
        self.database_oid = database_oid
        self.wake = wake
        self.check_for_interrupts = check_for_interrupts
        self.channels: list[str] = []           # committed LISTENs, in order
        self._actions: list[tuple[str, str]] = []
        self._notifications: list[tuple[str, str]] = []
        self._marks: list[tuple[int, int]] = []  # lengths of both lists at each savepoint
        self._holding_commit_lock = False

    # -- statements -----------------------------------------------------------------------------

    def listen(self, channel: str) -> None:
        self._actions.append((LISTEN, channel))

    def unlisten(self, channel: str | None) -> None:
        self._actions.append((UNLISTEN_ALL, "") if channel is None else (UNLISTEN, channel))

    def notify(self, channel: str | None, payload: str | None) -> None:
        self._notifications.append((check_channel(channel), check_payload(payload)))

    # -- the transaction ------------------------------------------------------------------------

    def pre_commit(self) -> None:
        """Before the commit: queue order is commit order, and a first LISTEN reads from
        here on (PostgreSQL registers the listener before its commit too)."""
        if self._notifications and not self._holding_commit_lock:
            # another notifying commit may wait for synchronous replication: cancel and
            # shutdown still reach this wait
            while not self.queue.commit_lock.acquire(timeout=COMMIT_LOCK_POLL_S):
                self.check_for_interrupts()
            self._holding_commit_lock = True
            self.queue.check_room()
        if any(action == LISTEN for action, _ in self._actions):
            self.queue.register(self.pid, self.database_oid, self.wake)

    def transaction_ended(self, committed: bool) -> None:
        """After the commit (apply and send) or the rollback (forget)."""
        try:
            if committed:
                self._apply_actions()
                self.queue.append(self.database_oid, self._folded())
        finally:
            if self._holding_commit_lock:
                self._holding_commit_lock = False
                self.queue.commit_lock.release()
            self._actions.clear()
            self._notifications.clear()
            self._marks.clear()
            if not self.channels:
                self.queue.unregister(self.pid)

    def _apply_actions(self) -> None:
        for action, channel in self._actions:
            if action == LISTEN and channel not in self.channels:
                self.channels.append(channel)
            elif action == UNLISTEN and channel in self.channels:
                self.channels.remove(channel)
            elif action == UNLISTEN_ALL:
                self.channels.clear()

    def _folded(self) -> list[Notification]:
        seen: dict[tuple[str, str], None] = dict.fromkeys(self._notifications)
        return [Notification(self.pid, channel, payload) for channel, payload in seen]

    def savepoint(self) -> None:
        self._marks.append((len(self._actions), len(self._notifications)))

    def release_savepoint(self, level: int) -> None:
        del self._marks[level - 1:]

    def rollback_to_savepoint(self, depth: int) -> None:
        del self._marks[depth:]
        if self._marks:
            actions, notifications = self._marks[-1]
            del self._actions[actions:]
            del self._notifications[notifications:]

    # -- delivery -------------------------------------------------------------------------------

    def take_notifications(self) -> list[Notification]:
        if not self.channels:
            return []
        return self.queue.read(self.pid, set(self.channels))

    def close(self) -> None:
        """The session ends: it stops listening."""
        self.transaction_ended(False)
        self.channels.clear()
        self.queue.unregister(self.pid)


def session_state(session: Any) -> SessionNotify:
    """The session's notification state, made at its first use."""
    state = session.notify
    if state is None:
        interrupts = session.interrupts
        wake = getattr(interrupts, "request_notify", None) or (lambda: None)
        state = session.notify = SessionNotify(session.engine.notify_queue, session.process_id,
                                               session.engine.database_oid, wake,
                                               session.check_for_interrupts)
        txn = session.txn
        for _ in (txn.transaction.subtransactions if txn is not None else ()):
            state.savepoint()        # savepoints opened before the first use
    return state


def execute(session: Any, node_type: str, node: dict[str, Any]) -> str:
    """LISTEN / UNLISTEN / NOTIFY inside the session's transaction; the command tag."""
    session._ensure_transaction()
    state = session_state(session)
    if node_type == "ListenStmt":
        state.listen(node["conditionname"])
        return "LISTEN"
    if node_type == "UnlistenStmt":
        state.unlisten(node.get("conditionname"))
        return "UNLISTEN"
    state.notify(node.get("conditionname"), node.get("payload"))
    return "NOTIFY"


# -- functions ----------------------------------------------------------------------------------


def _pg_notify(session: Any, builder: Any, name: str, args: list[Expr], location: int) -> Expr:
    check_arity(name, args, (2,), location)
    channel_fn, payload_fn = (coerce(builder, arg, TEXT).fn for arg in args)

    def run(row: Row, ctx: ExecContext) -> Any:
        current = ctx.session
        if current.engine.in_recovery():
            from mirrordb.sql.read_only import refuse_during_recovery
            raise refuse_during_recovery("NOTIFY")
        session_state(current).notify(channel_fn(row, ctx), payload_fn(row, ctx))
        return ""     # void shows as an empty string
    return Expr(T.VOID_OID, run, name=name, volatile=True)


def _queue_usage(session: Any, builder: Any, name: str, args: list[Expr],
                 location: int) -> Expr:
    check_arity(name, args, (0,), location)
    return Expr(T.FLOAT8_OID, lambda row, ctx: ctx.session.engine.notify_queue.usage(),
                name=name, volatile=True)


def listening_channels_values(row: Row, ctx: ExecContext) -> Iterable[Any]:
    """pg_listening_channels(): the channels the session listens on (committed LISTENs)."""
    state = ctx.session.notify
    return list(state.channels) if state is not None else []


SPECIAL_HANDLERS: dict[str, Callable[..., Expr]] = {
    "pg_notify": _pg_notify, "pg_notification_queue_usage": _queue_usage,
}

__all__ = ["SessionNotify", "SPECIAL_HANDLERS", "check_channel", "check_payload", "execute",
           "listening_channels_values", "session_state"]
