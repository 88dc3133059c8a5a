"""Synchronous replication on the primary: which standbys are synchronous, and the commits that
wait for them (PostgreSQL's syncrep.c).

Who uses it:

* The postmaster (server/postmaster.py) makes one ``SyncRep`` per server once the engine is open
  (``SyncRep.attach``: it installs ``wait_for_commit`` as the engine's
  ``xacts.wait_for_sync_rep``) and calls ``configure(settings)`` at start and after every reload.
* A committing backend (access/xact.py ``Transaction.commit``), after flushing its commit record
  and before making it visible, calls ``wait_for_commit(end_lsn, synchronous_commit, proc)``.
* Each walsender (replication/walsender.py) registers its ``WalSenderStatus`` for the life of the
  connection, sets its priority at START_REPLICATION and after each configuration change
  (``standby_priority``), and calls ``release_waiters(status)`` after every standby status update,
  and when it catches up.
* pg_stat_replication reads ``standby_states()`` (sync_priority, sync_state per walsender).

The other half is the standby's walreceiver (replication/walreceiver.py), which reports its write,
flush and apply positions after each write/flush and right after replaying a commit record that
asks for it (remote_apply: XACT_COMPLETION_APPLY_FEEDBACK).

Rules (PostgreSQL's):

* Levels: ``remote_write`` waits until the synchronous standbys report **write** >= the commit
  record's end, ``on`` **flush**, ``remote_apply`` **apply**; ``local`` and ``off`` never wait,
  nor does any level while synchronous_standby_names is empty or max_wal_senders is 0. With no
  standby connected a commit waits indefinitely.
* Candidates: walsenders in state streaming or stopping, with a priority (listed in
  synchronous_standby_names, not cascading from a standby) and a valid flush position.
  Priority mode (``FIRST n``, a plain list, ``n (...)``): the n candidates with the lowest
  priority numbers (ties: the lower walsender slot, i.e. earlier connection) are ``sync``, the
  other candidates ``potential``; synced positions are the minimum of each position among the
  sync ones. Quorum mode (``ANY n``): every candidate is ``quorum``; the synced positions are the
  n-th highest of each position. Fewer candidates than n: nothing is released.
* Only a sync standby's own reply releases waiters (and a sync standby announces itself in the
  log once); in addition, mirrordb releases with the current sync standbys' last positions when a
  walsender leaves, when one catches up and when the configuration changes, so the next
  potential standby takes over at once instead of at its next status update. Released positions
  only grow.
* Emptying synchronous_standby_names (then reload) releases every waiter; a waiter cancelled
  (CancelRequest, pg_cancel_backend) returns with PostgreSQL's WARNING and the commit stands; a
  terminated one (pg_terminate_backend, fast shutdown) gets the other WARNING and its session
  ends without COMMIT being acknowledged.

Concurrency: one lock guards the configuration, the walsender slots, the released positions and
the queues. Each waiter sleeps on its own ``threading.Event`` in ``WAIT_POLL_INTERVAL_S`` slices
(checking its interrupts between them: the commit holds interrupts off, so the flags are read
directly); a release sets the events of the waiters it takes off the queue. A walsender's
positions are plain attributes written by its own thread; readers take each value as it is.
"""

from __future__ import annotations

import bisect
import enum
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mirrordb.access.xact import CommitWaitOutcome, Proc, TransactionManager
from mirrordb.common.errors import CommitNotAcknowledged, MirrordbError, invariant
from mirrordb.replication.syncrep_gram import (MATCH_ANY_STANDBY, SyncRepConfig,
                                               SyncRepMethod, parse_standby_names,
                                               standby_priority)

log = logging.getLogger("mirrordb")

WAIT_POLL_INTERVAL_S = 0.05       # a waiter looks at its interrupts this often
WALSENDER_SLOTS_LIMIT = 262143    # max_wal_senders' maximum: slots the registry may hold
WAITERS_LIMIT = 2 * 2 * 262143    # per queue: more than the server can have sessions
RELEASING_STATES = ("streaming", "stopping")   # walsender states whose replies count
WAIT_EVENT_TYPE, WAIT_EVENT = "IPC", "SyncRep"  # pg_stat_activity while a commit waits

COMMITTED_LOCALLY_DETAIL = ("The transaction has already committed locally, but might not have "
                            "been replicated to the standby.")
CANCEL_WARNING_MESSAGE = "canceling wait for synchronous replication due to user request"
TERMINATE_WARNING_MESSAGE = ("canceling the wait for synchronous replication and terminating "
                             "connection due to administrator command")
ADMIN_SHUTDOWN_MESSAGE = "terminating connection due to administrator command"


class SyncRepWaitMode(enum.IntEnum):
    """Which standby position a commit waits for (PostgreSQL's SYNC_REP_WAIT_*)."""

    WRITE = 0
    FLUSH = 1
    APPLY = 2


WAIT_MODES: dict[str, SyncRepWaitMode] = {
    "remote_write": SyncRepWaitMode.WRITE,
    "on": SyncRepWaitMode.FLUSH,
    "remote_apply": SyncRepWaitMode.APPLY,
}


class SyncState(enum.Enum):
    """pg_stat_replication.sync_state."""

    ASYNC = "async"
    POTENTIAL = "potential"
    SYNC = "sync"
    QUORUM = "quorum"


class WalSenderView(Protocol):
    """What syncrep reads of a walsender (replication/walsender.py's ``WalSenderStatus``)."""

    state: Any                     # an enum whose ``value`` is pg_stat_replication.state
    write_lsn: int
    flush_lsn: int
    apply_lsn: int
    sync_standby_priority: int
    announce_next_takeover: bool
    application_name: str


class WaitInterrupts(Protocol):
    """What a waiting commit reads of its backend's interrupts (server/interrupts.py)."""

    cancel_pending: bool
    terminate_pending: bool

    def clear_cancel(self) -> None: ...


@dataclass(frozen=True)
class StandbySnapshot:
    """One walsender's values at one moment (PostgreSQL's SyncRepStandbyData)."""

    slot: int
    state: str
    priority: int
    write_lsn: int
    flush_lsn: int
    apply_lsn: int


@dataclass(frozen=True)
class SyncedPositions:
    write_lsn: int
    flush_lsn: int
    apply_lsn: int

    def of(self, mode: SyncRepWaitMode) -> int:
        return (self.write_lsn, self.flush_lsn, self.apply_lsn)[mode]


# -- choosing the synchronous standbys (pure) ---------------------------------------------------

def is_candidate(standby: StandbySnapshot) -> bool:
    return standby.state in RELEASING_STATES and standby.priority != 0 and standby.flush_lsn != 0


def sync_standbys(config: SyncRepConfig | None,
                  standbys: Sequence[StandbySnapshot]) -> list[StandbySnapshot]:
    """The standbys considered synchronous now (PostgreSQL's SyncRepGetCandidateStandbys):
    every candidate in quorum mode, the ``num_sync`` best by (priority, slot) in priority
    mode. ``standbys`` in any order; the result is in slot order unless truncated."""
    if config is None:
        return []
    candidates = sorted((s for s in standbys if is_candidate(s)), key=lambda s: s.slot)
    if config.method is SyncRepMethod.PRIORITY and len(candidates) > config.num_sync:
        candidates.sort(key=lambda s: (s.priority, s.slot))
        del candidates[config.num_sync:]
    return candidates


def synced_positions(config: SyncRepConfig | None,
                     chosen: Sequence[StandbySnapshot]) -> SyncedPositions | None:
    """What the synchronous standbys have confirmed together, or None if there are fewer of
    them than ``num_sync``: the oldest of each position (priority) or the num_sync-th newest
    (quorum)."""
    if config is None or not chosen or len(chosen) < config.num_sync:
        return None
    if config.method is SyncRepMethod.PRIORITY:
        return SyncedPositions(min(s.write_lsn for s in chosen),
                               min(s.flush_lsn for s in chosen),
                               min(s.apply_lsn for s in chosen))
    nth = config.num_sync - 1
    return SyncedPositions(sorted((s.write_lsn for s in chosen), reverse=True)[nth],
                           sorted((s.flush_lsn for s in chosen), reverse=True)[nth],
                           sorted((s.apply_lsn for s in chosen), reverse=True)[nth])


def sync_state(config: SyncRepConfig | None, standby: StandbySnapshot,
               chosen_slots: set[int]) -> tuple[int, SyncState]:
    """(sync_priority, sync_state) as pg_stat_replication shows them: a standby that has not
    reported a flush position yet (pg_basebackup's streamer never does) is async, priority 0."""
    priority = standby.priority if standby.flush_lsn else 0
    if priority == 0:
        return 0, SyncState.ASYNC
    if standby.slot in chosen_slots and config is not None:
        return priority, (SyncState.SYNC if config.method is SyncRepMethod.PRIORITY
                          else SyncState.QUORUM)
    return priority, SyncState.POTENTIAL


# -- the shared state ---------------------------------------------------------------------------

@dataclass(eq=False)
class _Waiter:
    lsn: int
    released: threading.Event = field(default_factory=threading.Event)


class SyncRep:
    """Synchronous replication state of one server (see the module docstring)."""

    def __init__(self, interrupts: Callable[[], WaitInterrupts | None] = lambda: None) -> None:
        self._interrupts = interrupts
        self._lock = threading.Lock()
        self._config: SyncRepConfig | None = None
        self._requested = True                   # max_wal_senders > 0
        self._standbys_defined = False           # accept new waiters only while True
        self._generation = 0                     # grows with each configuration change
        self._walsenders: list[WalSenderView | None] = []
        self._released = [0, 0, 0]               # per SyncRepWaitMode
        self._queues: list[list[_Waiter]] = [[], [], []]

    @classmethod
    def attach(cls, xacts: TransactionManager, settings: Any,
               interrupts: Callable[[], WaitInterrupts | None]) -> SyncRep:
        """A SyncRep configured from ``settings`` whose waits the engine's commits use."""
        sync_rep = cls(interrupts)
        sync_rep.configure(settings)
        xacts.wait_for_sync_rep = sync_rep.wait_for_commit
        return sync_rep

    # -- configuration (the postmaster) --------------------------------------------------------

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def config(self) -> SyncRepConfig | None:
        return self._config

    def configure(self, settings: Any) -> None:
        """Take synchronous_standby_names and max_wal_senders from ``settings`` (start, reload).
        An emptied setting releases every waiter."""
        text = str(settings.get("synchronous_standby_names"))
        try:
            config = parse_standby_names(text)
        except MirrordbError as error:   # the setting's check refuses such values: not reached
            log.warning("%s", error.message)
            config = None
        with self._lock:
            if config != self._config:
                self._generation += 1
                _warn_unreachable(config)
            self._config = config
            self._requested = int(settings.get("max_wal_senders")) > 0
            defined = config is not None
            if self._standbys_defined and not defined:
                for mode in SyncRepWaitMode:
                    self._wake_locked(mode, everyone=True)
            self._standbys_defined = defined
            self._release_confirmed_locked()

    def standby_priority(self, application_name: str, *, cascading: bool = False) -> int:
        """The priority of a standby called ``application_name`` now (0: asynchronous; a
        cascading walsender, serving from a standby, is never synchronous)."""
        return 0 if cascading else standby_priority(self._config, application_name)

    # -- walsender slots -------------------------------------------------------------------------

    def register_walsender(self, status: WalSenderView) -> int:
        """Give a new walsender the lowest free slot (its tie-breaker between equal priorities,
        as PostgreSQL's WalSnd array index)."""
        with self._lock:
            for slot, occupant in enumerate(self._walsenders):
                if occupant is None:
                    self._walsenders[slot] = status
                    return slot
            invariant(len(self._walsenders) < WALSENDER_SLOTS_LIMIT, "too many walsenders")
            self._walsenders.append(status)
            return len(self._walsenders) - 1

    def unregister_walsender(self, status: WalSenderView) -> None:
        """The walsender ends: free its slot; the next potential standby takes over."""
        with self._lock:
            for slot, occupant in enumerate(self._walsenders):
                if occupant is status:
                    self._walsenders[slot] = None
            while self._walsenders and self._walsenders[-1] is None:
                self._walsenders.pop()
            self._release_confirmed_locked()

    # -- releasing waiters (walsenders) ----------------------------------------------------------

    def release_waiters(self, status: WalSenderView) -> None:
        """After a status update from ``status``'s standby (PostgreSQL's SyncRepReleaseWaiters):
        if it is a synchronous standby and enough of them are connected, wake every commit the
        synced positions cover."""
        if status.sync_standby_priority == 0 or status.flush_lsn == 0 or \
                _state_name(status) not in RELEASING_STATES:
            status.announce_next_takeover = True
            return
        with self._lock:
            slots = self._slots_of(status)
            chosen = sync_standbys(self._config, self._snapshots_locked())
            am_sync = any(standby.slot in slots for standby in chosen)
            if am_sync and status.announce_next_takeover:
                status.announce_next_takeover = False
                self._announce(status)
            if not am_sync:
                status.announce_next_takeover = True
                return
            self._advance_locked(synced_positions(self._config, chosen))

    def release_confirmed(self) -> None:
        """Release what the current synchronous standbys have already confirmed (a walsender
        caught up, or its priority changed)."""
        with self._lock:
            self._release_confirmed_locked()

    def _release_confirmed_locked(self) -> None:
        chosen = sync_standbys(self._config, self._snapshots_locked())
        self._advance_locked(synced_positions(self._config, chosen))

    def _advance_locked(self, positions: SyncedPositions | None) -> None:
        if positions is None:
            return
        for mode in SyncRepWaitMode:
            if self._released[mode] < positions.of(mode):
                self._released[mode] = positions.of(mode)
                self._wake_locked(mode)

    def _wake_locked(self, mode: SyncRepWaitMode, everyone: bool = False) -> None:
        queue = self._queues[mode]
        count = len(queue) if everyone else bisect.bisect_right(
            queue, self._released[mode], key=lambda waiter: waiter.lsn)
        for waiter in queue[:count]:
            waiter.released.set()
        del queue[:count]

    def _announce(self, status: WalSenderView) -> None:
        config = self._config
        if config is not None and config.method is SyncRepMethod.PRIORITY:
            log.info('standby "%s" is now a synchronous standby with priority %d',
                     status.application_name, status.sync_standby_priority)
        else:
            log.info('standby "%s" is now a candidate for quorum synchronous standby',
                     status.application_name)

    # -- what pg_stat_replication shows ----------------------------------------------------------

    def standby_states(self) -> dict[int, tuple[int, str]]:
        """slot -> (sync_priority, sync_state) of every registered walsender."""
        with self._lock:
            snapshots = self._snapshots_locked()
            config = self._config
        chosen = {standby.slot for standby in sync_standbys(config, snapshots)}
        result = {}
        for standby in snapshots:
            priority, state = sync_state(config, standby, chosen)
            result[standby.slot] = (priority, state.value)
        return result

    def _snapshots_locked(self) -> list[StandbySnapshot]:
        return [StandbySnapshot(slot, _state_name(status), status.sync_standby_priority,
                                status.write_lsn, status.flush_lsn, status.apply_lsn)
                for slot, status in enumerate(self._walsenders) if status is not None]

    def _slots_of(self, status: WalSenderView) -> set[int]:
        return {slot for slot, occupant in enumerate(self._walsenders) if occupant is status}

    def released_lsn(self, mode: SyncRepWaitMode) -> int:
        """The position up to which commits waiting in ``mode`` have been released."""
        return self._released[mode]

    def waiting(self, mode: SyncRepWaitMode) -> int:
        """How many commits wait in ``mode`` now."""
        return len(self._queues[mode])

    # -- waiting (committing backends) -----------------------------------------------------------

    def wait_for_commit(self, lsn: int, level: str, proc: Proc) -> CommitWaitOutcome | None:
        """``xacts.wait_for_sync_rep``: wait for a commit record ending at ``lsn`` under
        synchronous_commit ``level``. None when released (or no wait was needed)."""
        mode = WAIT_MODES.get(level)
        if mode is None:
            return None
        return self.wait_for_lsn(lsn, mode, proc)

    def wait_for_lsn(self, lsn: int, mode: SyncRepWaitMode,
                     proc: Proc | None = None) -> CommitWaitOutcome | None:
        """PostgreSQL's SyncRepWaitForLSN (see the module docstring)."""
        waiter = self._enqueue(lsn, mode)
        if waiter is None:
            return None
        interrupts = self._interrupts()
        if proc is not None:
            proc.wait_event = WAIT_EVENT
        try:
            while not waiter.released.wait(WAIT_POLL_INTERVAL_S):
                outcome = self._interrupted(waiter, mode, interrupts)
                if outcome is not None:
                    return outcome
            return None
        finally:
            if proc is not None:
                proc.wait_event = None

    def _enqueue(self, lsn: int, mode: SyncRepWaitMode) -> _Waiter | None:
        with self._lock:
            if not self._requested or not self._standbys_defined or \
                    lsn <= self._released[mode]:
                return None
            queue = self._queues[mode]
            invariant(len(queue) < WAITERS_LIMIT, "too many commits waiting for sync rep")
            waiter = _Waiter(lsn)
            bisect.insort_right(queue, waiter, key=lambda queued: queued.lsn)
            return waiter

    def _interrupted(self, waiter: _Waiter, mode: SyncRepWaitMode,
                     interrupts: WaitInterrupts | None) -> CommitWaitOutcome | None:
        """The outcome if a terminate or cancel ends the wait now; None to keep waiting."""
        if interrupts is None:
            return None
        if interrupts.terminate_pending:
            if not self._cancel(waiter, mode):
                return None
            warning = MirrordbError(TERMINATE_WARNING_MESSAGE, detail=COMMITTED_LOCALLY_DETAIL,
                                    sqlstate="57P01")
            _log_warning(warning)
            message = getattr(interrupts, "terminate_message", ADMIN_SHUTDOWN_MESSAGE)
            sqlstate = getattr(interrupts, "terminate_sqlstate", "57P01")
            return CommitWaitOutcome(warning, CommitNotAcknowledged(message, sqlstate=sqlstate))
        if interrupts.cancel_pending:
            interrupts.clear_cancel()
            if not self._cancel(waiter, mode):
                return None
            warning = MirrordbError(CANCEL_WARNING_MESSAGE, detail=COMMITTED_LOCALLY_DETAIL,
                                    sqlstate="01000")
            _log_warning(warning)
            return CommitWaitOutcome(warning)
        return None

    def _cancel(self, waiter: _Waiter, mode: SyncRepWaitMode) -> bool:
        """Take ``waiter`` off its queue; False if a release got there first."""
        with self._lock:
            if waiter.released.is_set():
                return False
            self._queues[mode].remove(waiter)
            return True


def _state_name(status: WalSenderView) -> str:
    state = status.state
    return str(getattr(state, "value", state))


def _log_warning(warning: MirrordbError) -> None:
    log.warning("%s", warning.message)
    log.warning("%s", warning.detail, extra={"pg_level": "DETAIL"})


def _warn_unreachable(config: SyncRepConfig | None) -> None:
    """PostgreSQL's postmaster warning for a count no set of listed standbys can reach."""
    if config is None or config.num_sync <= len(config.member_names) or \
            MATCH_ANY_STANDBY in config.member_names:
        return
    log.warning("The configured number of synchronous standbys (%d) exceeds the number of names "
                "of potential synchronous ones (%d)", config.num_sync, len(config.member_names))
    log.warning("Specify more names of potential synchronous standbys in "
                "synchronous_standby_names.", extra={"pg_level": "HINT"})


__all__ = ["SyncRep", "SyncRepWaitMode", "SyncState", "StandbySnapshot", "SyncedPositions",
           "WAIT_MODES", "sync_standbys", "sync_state", "synced_positions"]
