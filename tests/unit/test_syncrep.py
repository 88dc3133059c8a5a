"""replication/syncrep.py without a server: which standbys are synchronous for each form of
synchronous_standby_names (PostgreSQL 15's table), the synced positions, and commits waiting in
the queues (released by the right position, by an emptied setting, by a takeover; ended by a
cancel or a terminate with PostgreSQL's warnings). Walsenders and interrupts are small stubs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from mirrordb.access.xact import CommitWaitOutcome, Proc
from mirrordb.common.errors import CommitNotAcknowledged
from mirrordb.replication.syncrep import (StandbySnapshot, SyncedPositions, SyncRep,
                                          SyncRepWaitMode, sync_standbys, synced_positions)
from mirrordb.replication.syncrep_gram import parse_standby_names
from tests.syncrep_table import STANDBY_NAMES, SYNC_STATE_TABLE

DEADLINE_S = 10.0
POLL_S = 0.01
WRITE, FLUSH, APPLY = SyncRepWaitMode.WRITE, SyncRepWaitMode.FLUSH, SyncRepWaitMode.APPLY


@dataclass
class _State:
    value: str


@dataclass
class Sender:
    """What a walsender's WalSenderStatus offers syncrep."""

    application_name: str
    state: _State
    write_lsn: int = 0
    flush_lsn: int = 0
    apply_lsn: int = 0
    sync_standby_priority: int = 0
    announce_next_takeover: bool = True

    def reply(self, sync_rep: SyncRep, write: int, flush: int, apply: int) -> None:
        self.write_lsn, self.flush_lsn, self.apply_lsn = write, flush, apply
        sync_rep.release_waiters(self)


class Interrupts:
    def __init__(self) -> None:
        self.cancel_pending = False
        self.terminate_pending = False
        self.terminate_message = "terminating connection due to administrator command"
        self.terminate_sqlstate = "57P01"

    def clear_cancel(self) -> None:
        self.cancel_pending = False


class Settings(dict[str, Any]):
    def get(self, name: str) -> Any:   # type: ignore[override]
        return self[name]


def settings(names: str, max_wal_senders: int = 10) -> Settings:
    return Settings(synchronous_standby_names=names, max_wal_senders=max_wal_senders)


def configure(sync_rep: SyncRep, names: str, senders: list[Sender]) -> None:
    """Reload: the new setting, then each walsender's new priority (as walsenders do)."""
    sync_rep.configure(settings(names))
    for sender in senders:
        sender.sync_standby_priority = sync_rep.standby_priority(sender.application_name)
        sync_rep.release_waiters(sender)


def connect(sync_rep: SyncRep, name: str, lsn: int = 100, state: str = "streaming") -> Sender:
    sender = Sender(name, _State(state), lsn, lsn, lsn)
    sync_rep.register_walsender(sender)
    sender.sync_standby_priority = sync_rep.standby_priority(name)
    return sender


class Commit:
    """A commit waiting in its own thread, as a backend would."""

    def __init__(self, sync_rep: SyncRep, lsn: int, mode: SyncRepWaitMode) -> None:
        self.proc = Proc()
        self.outcome: CommitWaitOutcome | None = None
        self._thread = threading.Thread(target=self._run, args=(sync_rep, lsn, mode),
                                        daemon=True)   # a failed test leaves no thread behind
        self._thread.start()

    def _run(self, sync_rep: SyncRep, lsn: int, mode: SyncRepWaitMode) -> None:
        self.outcome = sync_rep.wait_for_lsn(lsn, mode, self.proc)

    def finished(self) -> bool:
        self._thread.join(DEADLINE_S)
        return not self._thread.is_alive()


def poll(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_S)


def waiting(sync_rep: SyncRep, mode: SyncRepWaitMode, count: int = 1) -> None:
    poll(lambda: sync_rep.waiting(mode) == count, f"{count} waiter(s) in {mode.name}")


@pytest.fixture
def sync_rep() -> SyncRep:
    return SyncRep()


# -- which standbys are synchronous -----------------------------------------------------------

@pytest.mark.parametrize(("names", "expected"), SYNC_STATE_TABLE)
def test_sync_state_of_three_standbys_is_postgresqls(sync_rep, names, expected):
    senders = [connect(sync_rep, name) for name in STANDBY_NAMES]
    configure(sync_rep, names, senders)
    states = sync_rep.standby_states()
    assert tuple(states[slot] for slot in range(3)) == expected


def test_a_standby_without_a_flush_position_or_not_streaming_is_not_a_candidate(sync_rep):
    streamer = connect(sync_rep, "s1", lsn=0)             # pg_basebackup's streamer
    catching_up = connect(sync_rep, "s2", state="catchup")
    healthy = connect(sync_rep, "s3")
    configure(sync_rep, "*", [streamer, catching_up, healthy])
    assert sync_rep.standby_states() == {0: (0, "async"), 1: (1, "potential"), 2: (1, "sync")}


def test_a_freed_slot_is_reused_first(sync_rep):
    senders = [connect(sync_rep, name) for name in STANDBY_NAMES]
    sync_rep.unregister_walsender(senders[0])
    newcomer = connect(sync_rep, "s4")
    configure(sync_rep, "*", senders[1:] + [newcomer])
    assert sync_rep.standby_states()[0] == (1, "sync")   # the newcomer took slot 0


def test_synced_positions_priority_takes_the_oldest_quorum_the_nth_newest():
    standbys = [StandbySnapshot(0, "streaming", 1, 50, 40, 30),
                StandbySnapshot(1, "streaming", 1, 90, 70, 10),
                StandbySnapshot(2, "streaming", 1, 60, 80, 20)]
    first_two = parse_standby_names("FIRST 2 (*)")
    chosen = sync_standbys(first_two, standbys)
    assert [s.slot for s in chosen] == [0, 1]
    assert synced_positions(first_two, chosen) == SyncedPositions(50, 40, 10)
    any_two = parse_standby_names("ANY 2 (*)")
    positions = synced_positions(any_two, sync_standbys(any_two, standbys))
    assert (positions.write_lsn, positions.flush_lsn, positions.apply_lsn) == (60, 70, 20)
    assert synced_positions(parse_standby_names("ANY 4 (*)"), standbys) is None


# -- waiting and releasing ----------------------------------------------------------------------

def test_no_wait_without_standby_names_or_below_remote_levels(sync_rep):
    assert sync_rep.wait_for_lsn(500, FLUSH) is None               # setting empty
    sync_rep.configure(settings("s1"))
    assert sync_rep.wait_for_commit(500, "local", Proc()) is None
    assert sync_rep.wait_for_commit(500, "off", Proc()) is None
    sync_rep.configure(settings("s1", max_wal_senders=0))
    assert sync_rep.wait_for_lsn(500, FLUSH) is None
    assert sync_rep.waiting(FLUSH) == 0


@pytest.mark.parametrize("mode", list(SyncRepWaitMode))
def test_each_level_waits_for_its_own_position(sync_rep, mode):
    s1 = connect(sync_rep, "s1")
    configure(sync_rep, "s1", [s1])
    commit = Commit(sync_rep, 500, mode)
    waiting(sync_rep, mode)
    assert commit.proc.wait_event == "SyncRep"
    positions = [500, 500, 500]
    positions[mode] = 499                      # every position but the one it waits for
    s1.reply(sync_rep, *positions)
    assert sync_rep.waiting(mode) == 1
    s1.reply(sync_rep, 500, 500, 500)
    assert commit.finished() and commit.outcome is None
    assert commit.proc.wait_event is None


def test_waiters_are_released_in_lsn_order(sync_rep):
    s1 = connect(sync_rep, "s1", lsn=10)
    configure(sync_rep, "s1", [s1])
    commits = [Commit(sync_rep, lsn, FLUSH) for lsn in (300, 100, 200)]
    waiting(sync_rep, FLUSH, 3)
    s1.reply(sync_rep, 250, 250, 250)
    assert commits[1].finished() and commits[2].finished()
    assert sync_rep.waiting(FLUSH) == 1
    s1.reply(sync_rep, 300, 300, 300)
    assert commits[0].finished()


def test_a_commit_already_confirmed_does_not_wait(sync_rep):
    s1 = connect(sync_rep, "s1")
    configure(sync_rep, "s1", [s1])
    s1.reply(sync_rep, 800, 800, 800)
    assert sync_rep.wait_for_lsn(700, APPLY) is None
    assert sync_rep.released_lsn(APPLY) == 800


def test_only_a_synchronous_standby_releases(sync_rep):
    s1, s2 = connect(sync_rep, "s1", lsn=10), connect(sync_rep, "s2", lsn=10)
    configure(sync_rep, "s1, s2", [s1, s2])
    commit = Commit(sync_rep, 500, FLUSH)
    waiting(sync_rep, FLUSH)
    s2.reply(sync_rep, 600, 600, 600)          # potential: confirms nothing
    assert sync_rep.waiting(FLUSH) == 1
    sync_rep.unregister_walsender(s1)          # the sync standby goes: s2 takes over at once
    assert commit.finished() and commit.outcome is None


def test_quorum_needs_the_nth_standby(sync_rep):
    senders = [connect(sync_rep, name, lsn=10) for name in STANDBY_NAMES]
    configure(sync_rep, "ANY 2 (s1, s2, s3)", senders)
    commit = Commit(sync_rep, 500, FLUSH)
    waiting(sync_rep, FLUSH)
    senders[0].reply(sync_rep, 500, 500, 500)
    assert sync_rep.waiting(FLUSH) == 1
    senders[2].reply(sync_rep, 500, 500, 500)
    assert commit.finished()


def test_emptying_the_setting_releases_every_waiter(sync_rep):
    configure(sync_rep, '"16/replica"', [])     # no standby connected: wait indefinitely
    commits = [Commit(sync_rep, 100, mode) for mode in SyncRepWaitMode]
    for mode in SyncRepWaitMode:
        waiting(sync_rep, mode)
    configure(sync_rep, "", [])
    assert all(commit.finished() and commit.outcome is None for commit in commits)
    assert sync_rep.wait_for_lsn(200, FLUSH) is None


def interrupted_wait(mode: SyncRepWaitMode, flag: str) -> tuple[Interrupts, Commit]:
    """A commit waiting in ``mode`` with no standby, then ``flag`` raised on its interrupts."""
    interrupts = Interrupts()
    sync_rep = SyncRep(lambda: interrupts)
    configure(sync_rep, "s1", [])
    commit = Commit(sync_rep, 100, mode)
    waiting(sync_rep, mode)
    setattr(interrupts, flag, True)
    assert commit.finished()
    assert sync_rep.waiting(mode) == 0
    return interrupts, commit


def test_cancel_ends_the_wait_with_postgresqls_warning():
    interrupts, commit = interrupted_wait(FLUSH, "cancel_pending")
    warning = commit.outcome.warning
    assert (warning.sqlstate, warning.message, warning.detail) == (
        "01000", "canceling wait for synchronous replication due to user request",
        "The transaction has already committed locally, but might not have been replicated "
        "to the standby.")
    assert commit.outcome.error is None and not interrupts.cancel_pending


def test_terminate_ends_the_wait_and_the_session():
    interrupts, commit = interrupted_wait(APPLY, "terminate_pending")
    assert commit.outcome.warning.message == ("canceling the wait for synchronous replication "
                                              "and terminating connection due to "
                                              "administrator command")
    assert commit.outcome.warning.sqlstate == "57P01"
    assert isinstance(commit.outcome.error, CommitNotAcknowledged)
    assert interrupts.terminate_pending     # the session still ends


def test_released_positions_never_go_back(sync_rep):
    s1, s2 = connect(sync_rep, "s1", lsn=900), connect(sync_rep, "s2", lsn=100)
    configure(sync_rep, "s1", [s1, s2])
    s1.reply(sync_rep, 900, 900, 900)
    configure(sync_rep, "s2", [s1, s2])
    s2.reply(sync_rep, 100, 100, 100)
    assert sync_rep.released_lsn(FLUSH) == 900
