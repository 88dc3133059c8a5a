"""Hot standby: the standby's view of the primary's running transactions (PostgreSQL's
KnownAssignedXids and the recovery half of procarray.c).

On a standby no local transaction ever writes, so the transactions that matter to a query's
snapshot are the *primary's*, and the standby only learns about them from the WAL it replays:

* a RUNNING_XACTS record (written by the primary's checkpointer after each checkpoint's REDO
  point) lists the top-level and subtransaction xids running on the primary, the next xid, the
  oldest running xid and the latest completed xid: the starting point;
* every record carrying an xid proves that xid (and every xid between the newest one seen so far
  and it: xids are handed out in order) was assigned: it is running until it ends;
* COMMIT and ABORT records end an xid and its subtransactions (``complete``); ASSIGNMENT records
  announce subtransaction xids (``assign``);
* a shutdown checkpoint means nothing is running at all (``apply_shutdown_checkpoint``).

``KnownAssignedXids`` keeps that set. A standby snapshot is PostgreSQL's: ``xmax`` = latest
completed xid + 1, ``xip`` = the known running xids below ``xmax``, ``xmin`` = the smallest of
them (or ``xmax``). Everything else in ``[xmin, xmax)`` has ended and its fate is in the commit
log; everything at or past ``xmax`` is invisible. Because commit redo sets the commit log bits
*before* it removes the xids from the set, and both happen under one lock against snapshot
taking, a query never sees half of a transaction, nor one that committed after its snapshot.

States (PostgreSQL's ``standbyState``), the transition table is ``_TRANSITIONS``:

=================  ====================================================================
INITIALIZED        archive recovery began; no snapshot is possible yet (records are ignored)
SNAPSHOT_PENDING   a RUNNING_XACTS record said its subtransaction list overflowed: wait for
                   one that did not (mirrordb's primary never overflows; PostgreSQL's might)
SNAPSHOT_READY     snapshots are exact: hot standby queries may start (once the data files are
                   consistent too: ``can_accept_read_only_connections``)
=================  ====================================================================

Who calls what: ``TransactionManager`` (access/xact.py) owns one ``KnownAssignedXids`` while the
server is a standby (``enter_hot_standby``/``leave_hot_standby``), feeds it every replayed
record's xid (``observe_xid``) and asks it for snapshots (``take_snapshot``); the Transaction and
Standby redo handlers (recovery/builtin_redo.py) call ``complete``, ``assign``,
``apply_running_xacts`` and ``apply_shutdown_checkpoint`` through ``tracker_for``. The startup
thread (recovery/startup.py) is the only writer; backends only read snapshots.

Hot-standby feedback (PostgreSQL's GetReplicationHorizons, walreceiver.c's
XLogWalRcvSendHSFeedback): ``feedback_horizon(engine)`` is the xmin the walreceiver reports to
the primary in its 'h' message: the oldest of the primary's transactions still running as replay
shows them (``KnownAssignedXids.oldest_xmin``, the latest completed xid + 1 when none is), the
snapshots of this server's sessions and whatever else holds its own horizon back (its
replication slots and the feedback of standbys streaming from it: ``xacts.horizon_hooks``), with
the epoch of the next xid (one less when the xmin is from before a wraparound). Nothing is
reported before hot standby is active (consistent, snapshots ready, ``hot_standby = on``).

Recovery conflicts (replay waiting for, then cancelling, queries whose snapshot it would
invalidate) are recovery/conflicts.py's; the proc entries they look at are the sessions'.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mirrordb.access.clog import FIRST_NORMAL_XID
from mirrordb.access.snapshot import Snapshot
from mirrordb.common.errors import invariant

if TYPE_CHECKING:
    from mirrordb.wal.payloads import RunningXacts

log = logging.getLogger("mirrordb.recovery")

# PostgreSQL sizes KnownAssignedXids as TOTAL_MAX_CACHED_SUBXIDS (max backends x 65); one
# fixed bound here, far above any primary's max_connections x (1 + 64 subtransactions).
MAX_KNOWN_ASSIGNED_XIDS = 1 << 20
# A gap of more xids than this between the newest xid seen and a record's xid means the WAL
# (or this code) is broken: no primary assigns that many xids without logging one.
MAX_XID_GAP = MAX_KNOWN_ASSIGNED_XIDS

XidFinished = Callable[[int], bool]


class StandbyState(enum.Enum):
    INITIALIZED = "initialized"
    SNAPSHOT_PENDING = "snapshot pending"
    SNAPSHOT_READY = "snapshot ready"


_TRANSITIONS: dict[StandbyState, frozenset[StandbyState]] = {
    StandbyState.INITIALIZED: frozenset({StandbyState.SNAPSHOT_PENDING,
                                         StandbyState.SNAPSHOT_READY}),
    StandbyState.SNAPSHOT_PENDING: frozenset({StandbyState.SNAPSHOT_READY}),
    StandbyState.SNAPSHOT_READY: frozenset(),
}


class KnownAssignedXids:
    """The primary's running xids as the replayed WAL shows them (module docstring).

    ``is_finished(xid)`` reads the commit log (committed or aborted); it is how a RUNNING_XACTS
    record's list is corrected for transactions whose end was replayed before the record
    (the primary takes the list, then inserts the record: commits may fall in between).
    """

    def __init__(self, is_finished: XidFinished) -> None:
        self.is_finished = is_finished
        self.state = StandbyState.INITIALIZED
        self.latest_observed_xid = 0      # newest xid known to be assigned (0: none yet)
        self.latest_completed_xid = 0     # newest xid known to have ended
        self._xids: set[int] = set()
        self._lock = threading.Lock()
        self.ready_event = threading.Event()

    # -- state ------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.state == StandbyState.SNAPSHOT_READY

    def _move_to(self, new_state: StandbyState) -> None:
        invariant(new_state in _TRANSITIONS[self.state],
                  f"hot standby state {self.state.value} cannot become {new_state.value}")
        self.state = new_state
        if new_state == StandbyState.SNAPSHOT_READY:
            log.info("recovery snapshots are now enabled")
            self.ready_event.set()

    def running(self) -> frozenset[int]:
        """The known running xids (tests, monitoring)."""
        with self._lock:
            return frozenset(self._xids)

    # -- feeding it -------------------------------------------------------------------------

    def record_xid(self, xid: int) -> None:
        """A replayed record carries ``xid``: it and every xid assigned before it and not seen
        yet are running (PostgreSQL's RecordKnownAssignedTransactionIds). An xid already in
        the set needs nothing and is checked without the lock: the startup thread, the caller,
        is the only one that changes the set."""
        if xid in self._xids:
            return
        if xid < FIRST_NORMAL_XID or self.state == StandbyState.INITIALIZED:
            return
        with self._lock:
            self._record_locked(xid)

    def _record_locked(self, xid: int) -> None:
        latest = self.latest_observed_xid
        if xid == latest + 1 and latest >= FIRST_NORMAL_XID:
            # the xid assigned right after the newest one seen (most new xids): no gap to fill
            self._add((xid,))
            self.latest_observed_xid = xid
        elif xid > latest:
            first = max(latest + 1, FIRST_NORMAL_XID)
            if xid - first >= MAX_XID_GAP:   # the message is built only on failure
                invariant(False, f"xid {xid} is {xid - first} past the newest xid seen "
                                 f"{self.latest_observed_xid}")
            self._add(range(first, xid + 1))
            self.latest_observed_xid = xid
        elif xid not in self._xids and not self.is_finished(xid):
            # assigned on the primary after its RUNNING_XACTS list was taken but before the
            # record's next xid was read: running, though the list missed it
            self._add((xid,))

    def _add(self, xids: Iterable[int]) -> None:
        self._xids.update(xids)
        if len(self._xids) > MAX_KNOWN_ASSIGNED_XIDS:   # the message is built only on failure
            invariant(False, f"too many KnownAssignedXids ({len(self._xids)})")

    def assign(self, top_xid: int, subxids: Iterable[int]) -> None:
        """XLOG_XACT_ASSIGNMENT: subtransactions of ``top_xid``. They stay in the running set
        (the snapshot lists subtransactions too, so no parent map is needed) until the top
        transaction's commit or abort record lists them."""
        newest = max([top_xid, *subxids])
        self.record_xid(newest)

    def complete(self, xid: int, subxids: Iterable[int]) -> None:
        """A COMMIT or ABORT record of ``xid`` and ``subxids`` was replayed; the caller has set
        their commit log bits already (PostgreSQL's ExpireTreeKnownAssignedTransactionIds)."""
        if not subxids and xid in self._xids:
            # Nearly every commit: one xid that an earlier record showed running. Being in the
            # set, it is a normal xid at or below latest_observed_xid (no gap to fill) and the
            # state is past INITIALIZED: only the removal is left.
            with self._lock:
                self._xids.discard(xid)
                if xid > self.latest_completed_xid:
                    self.latest_completed_xid = xid
            return
        ended = [x for x in (xid, *subxids) if x >= FIRST_NORMAL_XID]
        if not ended or self.state == StandbyState.INITIALIZED:
            self.latest_completed_xid = max([self.latest_completed_xid, *ended])
            return
        with self._lock:
            self._record_locked(max(ended))   # fills the gap up to subxids never seen
            self._xids.difference_update(ended)
            self.latest_completed_xid = max([self.latest_completed_xid, *ended])

    def apply_running_xacts(self, running: RunningXacts) -> None:
        """A RUNNING_XACTS record: the first one (without overflow) makes snapshots possible;
        later ones forget xids older than the oldest running one (transactions that ended
        without a record: the primary crashed)."""
        with self._lock:
            if self.state == StandbyState.SNAPSHOT_READY:
                self._expire_older_than(running.oldest_running_xid)
                self.latest_completed_xid = max(self.latest_completed_xid,
                                                running.latest_completed_xid)
                return
            if running.subxid_overflow:
                if self.state == StandbyState.INITIALIZED:
                    self._move_to(StandbyState.SNAPSHOT_PENDING)
                return
            candidates = (*running.xids, *running.subxids)
            self._xids = {x for x in candidates
                          if x >= FIRST_NORMAL_XID and not self.is_finished(x)}
            self.latest_observed_xid = max(self.latest_observed_xid, running.next_xid - 1)
            self.latest_completed_xid = max(self.latest_completed_xid,
                                            running.latest_completed_xid)
            self._move_to(StandbyState.SNAPSHOT_READY)

    def apply_shutdown_checkpoint(self, next_xid: int) -> None:
        """A shutdown checkpoint: nothing runs on the primary. Snapshots become possible at
        once (PostgreSQL does the same with an empty RUNNING_XACTS built from the record)."""
        with self._lock:
            self._xids.clear()
            self.latest_observed_xid = max(self.latest_observed_xid, next_xid - 1)
            self.latest_completed_xid = max(self.latest_completed_xid, next_xid - 1)
            if self.state != StandbyState.SNAPSHOT_READY:
                self._move_to(StandbyState.SNAPSHOT_READY)

    def _expire_older_than(self, oldest_running_xid: int) -> None:
        self._xids = {x for x in self._xids if x >= oldest_running_xid}

    # -- reading it -------------------------------------------------------------------------

    def oldest_xmin(self) -> int:
        """The oldest xid a snapshot taken now could see as running: the smallest known running
        xid, else the latest completed xid + 1 (PostgreSQL's KnownAssignedXidsGetOldestXmin
        within ComputeXidHorizons)."""
        with self._lock:
            floor = max(self.latest_completed_xid + 1, FIRST_NORMAL_XID)
            return min(min(self._xids, default=floor), floor)

    def snapshot(self) -> Snapshot | None:
        """The standby snapshot, or None before SNAPSHOT_READY."""
        with self._lock:
            if self.state != StandbyState.SNAPSHOT_READY:
                return None
            xmax = max(self.latest_completed_xid + 1, FIRST_NORMAL_XID)
            xip = frozenset(x for x in self._xids if x < xmax)
            return Snapshot(min(xip, default=xmax), xmax, xip)


def tracker_for(state: object) -> KnownAssignedXids | None:
    """The hot-standby tracker a redo handler should feed, or None (crash recovery, tools).

    ``state`` is the handler's ``RedoContext.state``; the startup process's one knows its
    engine. An engine opened in standby mode gets its tracker here at the first record that
    needs it (``TransactionManager.enter_hot_standby`` is idempotent)."""
    engine = getattr(state, "engine", None)
    if engine is None or not getattr(engine, "standby_mode", False):
        return None
    xacts = getattr(engine, "xacts", None)
    if xacts is None:
        return None
    return xacts.enter_hot_standby()  # type: ignore[no-any-return]


def invalidate_caches(state: object) -> None:
    """A replayed commit changed catalogs: the standby's relation caches (every database's)
    must forget them."""
    engine = getattr(state, "engine", None)
    invalidate = getattr(engine, "invalidate_relcaches", None)
    if invalidate is not None:
        invalidate()


@dataclass(frozen=True)
class FeedbackHorizon:
    """What one hot-standby feedback message reports (catalog_xmin is always 0 here)."""

    xmin: int
    epoch: int
    next_epoch: int     # the next xid's epoch (what a message clearing the xmin carries)


def feedback_horizon(engine: Any) -> FeedbackHorizon | None:
    """The xmin (and its epoch) the walreceiver reports with hot_standby_feedback on (module
    docstring); None while hot standby is not active (PostgreSQL sends nothing then)."""
    if not bool(engine.settings.get("hot_standby")) or \
            not can_accept_read_only_connections(engine):
        return None
    xacts = engine.xacts
    tracker = xacts.hot_standby
    xmin = min(tracker.oldest_xmin(), xacts.oldest_xmin())
    next_full_xid = xacts.next_full_xid
    return FeedbackHorizon(xmin, xid_epoch(xmin, next_full_xid), next_full_xid >> 32)


def xid_epoch(xid: int, next_full_xid: int) -> int:
    """The epoch of ``xid``, a recent xid no newer than the next one: the next xid's epoch, or
    the one before when ``xid`` is from before the last wraparound."""
    epoch = next_full_xid >> 32
    if (next_full_xid & 0xFFFFFFFF) < xid and epoch > 0:
        epoch -= 1
    return epoch


def can_accept_read_only_connections(engine: object) -> bool:
    """Whether a standby may let clients in: the data files are consistent and snapshots are
    exact (PostgreSQL: reachedConsistency and standbyState == STANDBY_SNAPSHOT_READY; the
    postmaster then logs "database system is ready to accept read-only connections")."""
    startup = getattr(engine, "startup", None)
    if startup is None or not startup.state.consistent:
        return False
    tracker = getattr(getattr(engine, "xacts", None), "hot_standby", None)
    return tracker is not None and tracker.ready
