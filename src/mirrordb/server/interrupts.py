"""Interrupts: how query cancel, timeouts and shutdown reach a backend thread.

PostgreSQL signals a backend process; the signal handler only sets flags, and the backend acts on
them at safe places by calling CHECK_FOR_INTERRUPTS(). mirrordb does the same with threads:

* ``InterruptState`` is one backend's set of flags. Other threads set them: the postmaster
  (CancelRequest, shutdown), SQL functions of other sessions (``pg_cancel_backend``,
  ``pg_terminate_backend``), the shared timer thread (statement_timeout, lock_timeout,
  idle_in_transaction_session_timeout, idle_session_timeout) and, on a hot standby, the startup
  thread (recovery conflicts: ``request_recovery_conflict``, recovery/conflicts.py).
* The backend thread binds its state (``bind_interrupts``) for the life of the connection;
  deep code (executor loops, lock waits) then calls the module-level ``check_for_interrupts()``,
  which raises the pending interrupt as an exception, and is a no-op costing one thread-local
  lookup when nothing is pending or no state is bound (tools, tests, recovery).

What ``check_for_interrupts`` raises, in PostgreSQL's order of precedence:

====================================  ======================================================
terminate requested                    ``AdminShutdown`` 57P01 (or the subclass carrying the
                                       reason: 25P03 idle-in-transaction, 57P05 idle-session)
recovery conflict, while the session   ``RecoveryConflictTermination`` 40001 "terminating
waits for its client's next command,   connection due to conflict with recovery", DETAIL of
or one asking to terminate             the reason (and, while waiting for the client, the hint
                                       to reconnect); 57P04 for a dropped database
lock_timeout fired                     ``LockNotAvailable`` 55P03 "canceling statement due to
                                       lock timeout"
statement_timeout fired                ``QueryCanceled`` 57014 "canceling statement due to
                                       statement timeout"
recovery conflict (a statement runs)   ``RecoveryConflict`` 40001 "canceling statement due to
                                       conflict with recovery", DETAIL of the reason
cancel requested                       ``QueryCanceled`` 57014 "canceling statement due to
                                       user request"
====================================  ======================================================

A terminate stays pending (the session is ending; every later check raises it again); a cancel
or timeout is cleared when raised. A recovery conflict carries the transaction it is about
(``ConflictRequest.still_applies``): one whose transaction ended before the session acted on
it is dropped, as PostgreSQL ignores a conflict signal outside a transaction; the conflict is
counted (``ConflictRequest.report``) when the session acts on it. "Waiting for its client" is
PostgreSQL's DoingCommandRead: ``wait_readable`` marks it (``reading_from_client``) until
the client's bytes arrive. While interrupts are held (``hold_interrupts()``, PostgreSQL's
HOLD_INTERRUPTS around commit), checks do nothing and flags wait.

Waiting: a thread that blocks must wake up for an interrupt.

* Sleeping or waiting for nothing else: ``state.wait(timeout_s)`` returns early when an
  interrupt arrives (it waits on ``state.wakeup``, a ``threading.Event`` set by every request).
* Waiting for the client: ``state.wait_readable(sock, timeout_s)`` selects on the socket and on
  the state's wake-up socket pair, so a terminate or timeout ends the wait at once.
* A queued notification for a listening session (``request_notify``, sql/notify.py) only
  ends ``wait_readable``: it is no interrupt (``pending`` stays as it is, statements never see
  it); the backend calls ``take_notify`` and sends the notifications if the session is idle.
* Waiting on another event (``access/xact.py``'s row-lock wait): poll it in short slices and
  check in between: ``while not event.wait(WAIT_POLL_INTERVAL_S): check_for_interrupts()``.

Timers: one daemon thread named "timer" keeps a heap of deadlines for every backend (not a
``threading.Timer`` per statement). Arming pushes an entry; disarming bumps the entry's
generation so the stale one is skipped when it surfaces; the heap is rebuilt once stale entries
outnumber live ones, so its size stays within 2 x live entries + ``TIMER_COMPACT_SLACK`` (and live
entries are at most one per kind per backend).
"""

from __future__ import annotations

import contextlib
import enum
import heapq
import itertools
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mirrordb.common.errors import (AdminShutdown, IdleInTransactionSessionTimeout,
                                    IdleSessionTimeout, LockNotAvailable, MirrordbError,
                                    QueryCanceled, RecoveryConflict, RecoveryConflictTermination,
                                    invariant)
from mirrordb.recovery.conflicts import (CANCEL_MESSAGE, RECONNECT_HINT, TERMINATE_MESSAGE,
                                         ConflictRequest)

TIMER_COMPACT_SLACK = 1024      # stale heap entries tolerated before any rebuild
TIMER_THREAD_NAME = "timer"

ADMIN_SHUTDOWN_MESSAGE = "terminating connection due to administrator command"
ADMIN_SHUTDOWN_SQLSTATE = "57P01"
USER_CANCEL_MESSAGE = "canceling statement due to user request"
STATEMENT_TIMEOUT_MESSAGE = "canceling statement due to statement timeout"
LOCK_TIMEOUT_MESSAGE = "canceling statement due to lock timeout"
IDLE_IN_TRANSACTION_MESSAGE = "terminating connection due to idle-in-transaction timeout"
IDLE_SESSION_MESSAGE = "terminating connection due to idle-session timeout"

_TERMINATE_CLASSES: dict[str, type[AdminShutdown]] = {
    "25P03": IdleInTransactionSessionTimeout,
    "57P05": IdleSessionTimeout,
}


class TimeoutKind(enum.Enum):
    """PostgreSQL's session timeouts (timeout.h's ids for these)."""

    STATEMENT_TIMEOUT = "statement_timeout"
    LOCK_TIMEOUT = "lock_timeout"
    IDLE_IN_TRANSACTION_SESSION_TIMEOUT = "idle_in_transaction_session_timeout"
    IDLE_SESSION_TIMEOUT = "idle_session_timeout"


class InterruptState:
    """One backend's pending interrupts (see the module docstring).

    Flags are plain attributes written by other threads under ``_lock`` and read by the owner;
    ``pending`` is their summary, read without the lock on the fast path.
    """

    def __init__(self, timers: TimerService | None = None) -> None:
        self._lock = threading.Lock()
        self._timers = timers
        self.pending = False
        self.cancel_pending = False
        self.timeout_pending = False
        self.lock_timeout_pending = False
        self.terminate_pending = False
        self.terminate_message = ADMIN_SHUTDOWN_MESSAGE
        self.terminate_sqlstate = ADMIN_SHUTDOWN_SQLSTATE
        self.recovery_conflict: ConflictRequest | None = None
        self.recovery_conflict_fatal: RecoveryConflictTermination | None = None
        self.reading_from_client = False     # in wait_readable, until the client's bytes come
        # a notification was queued for this listening session (sql/notify.py): wakes only
        # the wait for the client, never a statement (pending stays as it is)
        self.notify_pending = False
        self.holdoff_count = 0
        self.wakeup = threading.Event()
        self._wake_pair: tuple[socket.socket, socket.socket] | None = None
        self._armed: dict[TimeoutKind, int] = {}   # kind -> generation of its live timer
        # wait_readable's poll object, kept across calls: (it, the client descriptor it watches)
        self._poller: tuple[Any, int] | None = None

    # -- requests from other threads -----------------------------------------------------------

    def request_cancel(self) -> None:
        """CancelRequest / pg_cancel_backend: cancel the running statement, if any."""
        with self._lock:
            self.cancel_pending = True
            self._raise_flag()

    def request_terminate(self, message: str = ADMIN_SHUTDOWN_MESSAGE,
                          sqlstate: str = ADMIN_SHUTDOWN_SQLSTATE) -> None:
        """Shutdown / pg_terminate_backend / idle timeouts: end the session (FATAL).

        The first reason wins: a session being shut down is not re-described by a timeout.
        """
        with self._lock:
            if not self.terminate_pending:
                self.terminate_pending = True
                self.terminate_message = message
                self.terminate_sqlstate = sqlstate
            self._raise_flag()

    def request_recovery_conflict(self, request: ConflictRequest) -> None:
        """The startup thread needs this session out of the way (recovery/conflicts.py): cancel
        its statement, or end it (see the module docstring). A request to terminate is not
        replaced by a milder one."""
        with self._lock:
            current = self.recovery_conflict
            if current is None or request.terminate or not current.terminate:
                self.recovery_conflict = request
            self._raise_flag()

    def request_notify(self) -> None:
        """A transaction queued notifications this listening session may want: wake its wait
        for the client's next message, which sends them if the session is idle."""
        with self._lock:
            self.notify_pending = True
            self._write_wake_byte()

    def take_notify(self) -> bool:
        """Whether ``request_notify`` was called since the last call (the backend reads the
        queue then); the wake-up byte goes unless another interrupt is pending."""
        if not self.notify_pending:
            return False
        with self._lock:
            self.notify_pending = False
            if not self.pending:
                self._drain_wake_pair()
        return True

    def timer_is_current(self, kind: TimeoutKind, generation: int) -> bool:
        """Whether the timer entry ``generation`` is still the armed one for ``kind``."""
        return self._armed.get(kind) == generation

    def _timeout_fired(self, kind: TimeoutKind, generation: int) -> bool:
        """Called by the timer thread; False (ignored) if the timeout was disarmed meanwhile."""
        with self._lock:
            if self._armed.get(kind) != generation:
                return False
            del self._armed[kind]
        if kind is TimeoutKind.STATEMENT_TIMEOUT:
            self._set_timeout_flag("timeout_pending")
        elif kind is TimeoutKind.LOCK_TIMEOUT:
            self._set_timeout_flag("lock_timeout_pending")
        elif kind is TimeoutKind.IDLE_IN_TRANSACTION_SESSION_TIMEOUT:
            self.request_terminate(IDLE_IN_TRANSACTION_MESSAGE, "25P03")
        else:
            self.request_terminate(IDLE_SESSION_MESSAGE, "57P05")
        return True

    def _set_timeout_flag(self, flag: str) -> None:
        with self._lock:
            setattr(self, flag, True)
            self._raise_flag()

    def _raise_flag(self) -> None:
        """Under ``_lock``: mark pending and wake whatever the backend is waiting in."""
        self.pending = True
        self.wakeup.set()
        self._write_wake_byte()

    def _write_wake_byte(self) -> None:
        """Under ``_lock``: end the backend's ``wait_readable``."""
        if self._wake_pair is not None:
            try:
                self._wake_pair[1].send(b"\0")
            except (BlockingIOError, OSError):
                pass   # the pair already holds a wake-up byte (or is closed)

    # -- the owner's side ------------------------------------------------------------------------

    def check_for_interrupts(self) -> None:
        """Raise the most important pending interrupt (see the module docstring)."""
        if not self.pending or self.holdoff_count:
            return
        with self._lock:
            error = self._take_pending()
        if error is not None:
            raise error

    def _take_pending(self) -> MirrordbError | None:
        """Under ``_lock``: the exception to raise, clearing the flag it consumes."""
        error = self._take_termination()
        if error is None:
            error = self._take_cancellation()
        self._settle()
        return error

    def _take_termination(self) -> MirrordbError | None:
        """Under ``_lock``: the FATAL error ending the session, if one is due."""
        if self.terminate_pending:
            error_class = _TERMINATE_CLASSES.get(self.terminate_sqlstate, AdminShutdown)
            return error_class(self.terminate_message, sqlstate=self.terminate_sqlstate)
        if self.recovery_conflict_fatal is not None:
            return self.recovery_conflict_fatal
        request = self.recovery_conflict
        if request is None or not (request.terminate or self.reading_from_client):
            return None
        self.recovery_conflict = None
        if not request.still_applies():
            return None
        reason = request.reason
        self.recovery_conflict_fatal = RecoveryConflictTermination(
            TERMINATE_MESSAGE, detail=reason.detail, sqlstate=reason.sqlstate,
            hint=RECONNECT_HINT if self.reading_from_client and not request.terminate else None)
        request.report(reason)
        return self.recovery_conflict_fatal

    def _take_cancellation(self) -> MirrordbError | None:
        """Under ``_lock``: the ERROR cancelling the running statement, if one is due."""
        error: MirrordbError | None = None
        if self.lock_timeout_pending:
            self.lock_timeout_pending = self.cancel_pending = self.timeout_pending = False
            error = LockNotAvailable(LOCK_TIMEOUT_MESSAGE)
        elif self.timeout_pending:
            self.timeout_pending = self.cancel_pending = False
            error = QueryCanceled(STATEMENT_TIMEOUT_MESSAGE)
        elif self.recovery_conflict is not None:
            error = self._take_conflict_cancel(self.recovery_conflict)
        elif self.cancel_pending:
            self.cancel_pending = False
            error = QueryCanceled(USER_CANCEL_MESSAGE)
        return error

    def _take_conflict_cancel(self, request: ConflictRequest) -> MirrordbError | None:
        """Under ``_lock``: a recovery conflict cancels the statement (and any user cancel with
        it); dropped if its transaction has ended."""
        self.recovery_conflict = None
        if not request.still_applies():
            return None
        self.cancel_pending = False
        reason = request.reason
        request.report(reason)
        return RecoveryConflict(CANCEL_MESSAGE, detail=reason.detail, sqlstate=reason.sqlstate)

    def _settle(self) -> None:
        """Under ``_lock``: recompute ``pending`` and drop the wake-ups once nothing is left."""
        self.pending = (self.terminate_pending or self.cancel_pending or self.timeout_pending
                        or self.lock_timeout_pending or self.recovery_conflict is not None
                        or self.recovery_conflict_fatal is not None)
        if not self.pending:
            self.wakeup.clear()
            self._drain_wake_pair()

    def _drain_wake_pair(self) -> None:
        if self._wake_pair is None:
            return
        try:
            while self._wake_pair[0].recv(64):
                pass
        except (BlockingIOError, OSError):
            pass

    def clear_cancel(self) -> None:
        """Forget a cancel that arrived while idle (PostgreSQL drops those too). The backend
        calls this when it starts reading the next command."""
        with self._lock:
            self.cancel_pending = False
            self._settle()

    @contextlib.contextmanager
    def hold_interrupts(self) -> Iterator[None]:
        """Delay interrupts across a section that must not be abandoned half way (commit)."""
        self.holdoff_count += 1
        try:
            yield
        finally:
            self.holdoff_count -= 1

    # -- waiting -------------------------------------------------------------------------------------

    def wait(self, timeout_s: float | None) -> bool:
        """Sleep up to ``timeout_s``; True if woken early by an interrupt (then check)."""
        return self.wakeup.wait(timeout_s)

    def wait_readable(self, sock: socket.socket, timeout_s: float | None = None) -> bool:
        """Wait until ``sock`` has data (True) or an interrupt or the timeout comes (False).

        The first call creates the state's wake-up socket pair (two descriptors, closed by
        ``close()``); later requests write one byte to it. The poll object watching the pair
        and ``sock`` is built once and kept while ``sock``'s descriptor stays the same (one
        backend thread waits on one socket; ``close()`` drops it with the pair).
        """
        self.reading_from_client = True
        with self._lock:
            if self._wake_pair is None:
                self._wake_pair = _nonblocking_pair()
            if (self.pending or self.notify_pending) and not self.holdoff_count:
                return False
            wake_reader = self._wake_pair[0]
        fd = sock.fileno()
        kept = self._poller
        if kept is None or kept[1] != fd:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            poller.register(wake_reader, select.POLLIN)
            self._poller = kept = (poller, fd)
        timeout_ms = None if timeout_s is None else max(int(timeout_s * 1000), 0)
        ready = kept[0].poll(timeout_ms)
        readable = any(ready_fd == fd for ready_fd, _ in ready)
        if readable:
            self.reading_from_client = False
        return readable

    def close(self) -> None:
        """The session ended: disarm its timers, close the wake-up pair."""
        for kind in list(self._armed):
            self.disarm(kind)
        with self._lock:
            pair, self._wake_pair = self._wake_pair, None
            self._poller = None
        if pair is not None:
            for end in pair:
                end.close()

    # -- timers ----------------------------------------------------------------------------------------

    def arm(self, kind: TimeoutKind, timeout_ms: int) -> None:
        """Start (or restart) a timeout; ``timeout_ms`` <= 0 means none (disarms)."""
        if timeout_ms <= 0:
            self.disarm(kind)
            return
        timers = self._timer_service()
        generation = timers.next_generation()
        with self._lock:
            replaced = self._armed.get(kind) is not None
            self._armed[kind] = generation
        if replaced:
            timers.forget_one()
        timers.schedule(time.monotonic() + timeout_ms / 1000, self, kind, generation)

    def disarm(self, kind: TimeoutKind) -> None:
        """Stop a timeout; one that already fired but was not yet checked is dropped too."""
        with self._lock:
            was_armed = self._armed.pop(kind, None) is not None
            if kind is TimeoutKind.STATEMENT_TIMEOUT and self.timeout_pending:
                self.timeout_pending = False
                self._settle()
            elif kind is TimeoutKind.LOCK_TIMEOUT and self.lock_timeout_pending:
                self.lock_timeout_pending = False
                self._settle()
        if was_armed:
            self._timer_service().forget_one()

    def _timer_service(self) -> TimerService:
        return self._timers if self._timers is not None else shared_timers()

    def arm_statement_timeout(self, timeout_ms: int) -> None:
        self.arm(TimeoutKind.STATEMENT_TIMEOUT, timeout_ms)

    def disarm_statement_timeout(self) -> None:
        self.disarm(TimeoutKind.STATEMENT_TIMEOUT)

    def arm_lock_timeout(self, timeout_ms: int) -> None:
        self.arm(TimeoutKind.LOCK_TIMEOUT, timeout_ms)

    def disarm_lock_timeout(self) -> None:
        self.disarm(TimeoutKind.LOCK_TIMEOUT)

    def arm_idle_in_transaction_timeout(self, timeout_ms: int) -> None:
        self.arm(TimeoutKind.IDLE_IN_TRANSACTION_SESSION_TIMEOUT, timeout_ms)

    def disarm_idle_in_transaction_timeout(self) -> None:
        self.disarm(TimeoutKind.IDLE_IN_TRANSACTION_SESSION_TIMEOUT)

    def arm_idle_session_timeout(self, timeout_ms: int) -> None:
        self.arm(TimeoutKind.IDLE_SESSION_TIMEOUT, timeout_ms)

    def disarm_idle_session_timeout(self) -> None:
        self.disarm(TimeoutKind.IDLE_SESSION_TIMEOUT)


def _nonblocking_pair() -> tuple[socket.socket, socket.socket]:
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    return reader, writer


# -- the shared timer thread ---------------------------------------------------------------------------

@dataclass(order=True)
class _TimerEntry:
    deadline: float                        # time.monotonic() seconds
    sequence: int
    state: InterruptState = field(compare=False)
    kind: TimeoutKind = field(compare=False)
    generation: int = field(compare=False)


class TimerService:
    """One thread firing every backend's timeouts from a heap of deadlines.

    Started on first use; a daemon thread, so it never keeps the process alive. ``stop()`` is
    for tests that make their own service.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._heap: list[_TimerEntry] = []
        self._live = 0
        self._sequence = itertools.count()
        self._generation = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._stopping = False

    def next_generation(self) -> int:
        return next(self._generation)

    def schedule(self, deadline: float, state: InterruptState, kind: TimeoutKind,
                 generation: int) -> None:
        entry = _TimerEntry(deadline, next(self._sequence), state, kind, generation)
        with self._condition:
            self._start_locked()
            earliest = self._heap[0].deadline if self._heap else None
            heapq.heappush(self._heap, entry)
            self._live += 1
            if earliest is None or deadline < earliest:
                self._condition.notify()

    def forget_one(self) -> None:
        """A live entry went stale (disarmed): compact the heap if stale ones dominate."""
        with self._condition:
            self._live = max(self._live - 1, 0)
            if len(self._heap) > 2 * self._live + TIMER_COMPACT_SLACK:
                self._heap = [entry for entry in self._heap
                              if entry.state.timer_is_current(entry.kind, entry.generation)]
                heapq.heapify(self._heap)
                self._live = len(self._heap)

    def heap_size(self) -> int:
        with self._condition:
            return len(self._heap)

    def _start_locked(self) -> None:
        if self._thread is None and not self._stopping:
            self._thread = threading.Thread(target=self._run, name=TIMER_THREAD_NAME,
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._condition:
                due = self._wait_for_due_locked()
                if due is None:
                    return
            if due.state._timeout_fired(due.kind, due.generation):
                with self._condition:
                    self._live = max(self._live - 1, 0)

    def _wait_for_due_locked(self) -> _TimerEntry | None:
        while not self._stopping:
            if not self._heap:
                self._condition.wait()
                continue
            delay = self._heap[0].deadline - time.monotonic()
            if delay <= 0:
                return heapq.heappop(self._heap)
            self._condition.wait(delay)
        return None

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join()


_shared_timers: TimerService | None = None
_shared_timers_lock = threading.Lock()


def shared_timers() -> TimerService:
    """The process's timer service (created on first use)."""
    global _shared_timers
    with _shared_timers_lock:
        if _shared_timers is None:
            _shared_timers = TimerService()
        return _shared_timers


# -- the thread-local binding ---------------------------------------------------------------------------

class _Bound(threading.local):
    state: InterruptState | None = None


_bound = _Bound()


def current_interrupts() -> InterruptState | None:
    """The InterruptState bound to this thread, or None."""
    return _bound.state


@contextlib.contextmanager
def bind_interrupts(state: InterruptState) -> Iterator[InterruptState]:
    """Bind ``state`` to the calling thread for the duration of the block."""
    invariant(_bound.state is None or _bound.state is state,
              "another InterruptState is already bound to this thread")
    previous = _bound.state
    _bound.state = state
    try:
        yield state
    finally:
        _bound.state = previous


def check_for_interrupts() -> None:
    """CHECK_FOR_INTERRUPTS(): raise this thread's pending interrupt; cheap when none."""
    state = _bound.state
    if state is not None and state.pending:
        state.check_for_interrupts()
