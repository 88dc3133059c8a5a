"""Recovery conflicts (recovery/conflicts.py) and the interrupt they send (server/interrupts.py):
who is a victim, the standby limit, waiting then cancelling, counting, and what the victim's
session raises (ERROR while a statement runs, FATAL while it waits for its client)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from mirrordb.common.errors import RecoveryConflict, RecoveryConflictTermination
from mirrordb.recovery.conflicts import (MAX_RECEIPT_ENTRIES, ConflictRequest,
                                         ConflictStatistics, RecoveryConflictReason,
                                         RecoveryConflicts, WalReceiptTimes,
                                         xid_precedes_or_equals)
from mirrordb.server.interrupts import InterruptState
from tests.unit.test_server_interrupts import raised_by

DEADLINE_S = 5.0
SEGMENT_SIZE = 1024 * 1024
SNAPSHOT = RecoveryConflictReason.SNAPSHOT


@dataclass(eq=False)
class Proc:
    xmin: int = 0


@dataclass(eq=False)
class Session:
    """A BackendInfo as the conflict code reads it."""

    pid: int
    proc: Proc
    database: str = "postgres"
    backend_type: str = "client backend"
    interrupts: Any = None


@dataclass
class RecordingTarget:
    """An interrupt target that records requests and, if told to, acts on them at once (the
    transaction ends, as a cancelled statement in a failed block ends it)."""

    proc: Proc
    obey: bool = True
    requests: list[ConflictRequest] = field(default_factory=list)

    def request_recovery_conflict(self, request: ConflictRequest) -> None:
        self.requests.append(request)
        if self.obey and request.still_applies():
            request.report(request.reason)
            self.proc.xmin = 0


class Settings(dict):
    def get(self, name: str) -> object:   # type: ignore[override]
        return self[name]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(streaming_delay_ms: int = 30_000, archive_delay_ms: int = 30_000,
         sessions: list[Session] | None = None,
         receipts: WalReceiptTimes | None = None) -> tuple[RecoveryConflicts, Settings, Clock]:
    settings = Settings(max_standby_streaming_delay=streaming_delay_ms,
                        max_standby_archive_delay=archive_delay_ms)
    clock = Clock()
    conflicts = RecoveryConflicts(lambda: settings, SEGMENT_SIZE, ConflictStatistics(),
                                  clock=clock)
    listed = sessions if sessions is not None else []
    conflicts.attach(sessions=lambda: listed, receipts=lambda: receipts,
                     stopping=lambda: False)
    return conflicts, settings, clock


def session(pid: int, xmin: int, **kwargs: Any) -> Session:
    proc = Proc(xmin)
    return Session(pid, proc, interrupts=RecordingTarget(proc, **kwargs))


def in_thread(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


# -- the pure parts --------------------------------------------------------------------------------


def test_reasons_carry_postgresql_details_and_sqlstates() -> None:
    assert SNAPSHOT.detail == \
        "User query might have needed to see row versions that must be removed."
    assert RecoveryConflictReason.LOCK.detail == "User was holding a relation lock for too long."
    assert RecoveryConflictReason.BUFFERPIN.detail == \
        "User was holding shared buffer pin for too long."
    assert {reason.sqlstate for reason in RecoveryConflictReason} == {"40001", "57P04"}
    assert RecoveryConflictReason.DATABASE.sqlstate == "57P04"
    assert RecoveryConflictReason.DATABASE.counter is None


def test_xid_comparison_wraps_around() -> None:
    assert xid_precedes_or_equals(100, 100) and xid_precedes_or_equals(99, 100)
    assert not xid_precedes_or_equals(101, 100)
    assert xid_precedes_or_equals(0xFFFFFFF0, 5)       # just before a wraparound
    assert not xid_precedes_or_equals(5, 0xFFFFFFF0)


def test_statistics_count_per_database_and_skip_dropped_databases() -> None:
    statistics = ConflictStatistics()
    statistics.count("postgres", SNAPSHOT)
    statistics.count("postgres", SNAPSHOT)
    statistics.count("postgres", RecoveryConflictReason.LOCK)
    statistics.count("postgres", RecoveryConflictReason.DATABASE)
    assert statistics.counters("postgres") == (0, 1, 2, 0, 0)
    assert statistics.total("postgres") == 3
    assert statistics.counters("template1") == (0, 0, 0, 0, 0)


def test_receipt_times_answer_for_streamed_wal_only() -> None:
    receipts = WalReceiptTimes()
    assert receipts.receipt_time(100) is None
    receipts.stream_started(1000)
    receipts.flushed(2000, 1.0)
    receipts.flushed(3000, 2.0)
    assert receipts.receipt_time(900) is None           # before the stream: from pg_wal
    assert receipts.receipt_time(1500) == 1.0
    assert receipts.receipt_time(2000) == 1.0
    assert receipts.receipt_time(2001) == 2.0
    assert receipts.receipt_time(3001) is None          # not received yet


def test_receipt_history_is_bounded_and_keeps_the_oldest_time() -> None:
    receipts = WalReceiptTimes()
    receipts.stream_started(0)
    for index in range(1, 3 * MAX_RECEIPT_ENTRIES):
        receipts.flushed(index * 10, float(index))
    assert len(receipts._ends) <= MAX_RECEIPT_ENTRIES
    assert receipts.receipt_time(5) == 1.0              # older than kept: the oldest time
    last = 3 * MAX_RECEIPT_ENTRIES - 1
    assert receipts.receipt_time(last * 10) == float(last)


def test_limit_is_receipt_plus_delay_and_minus_one_waits_forever() -> None:
    receipts = WalReceiptTimes()
    receipts.stream_started(0)
    receipts.flushed(5000, 50.0)
    conflicts, settings, clock = make(2000, 7000, receipts=receipts)
    assert conflicts.limit_time(4000) == pytest.approx(52.0)
    settings["max_standby_streaming_delay"] = -1        # a reload applies at once
    assert conflicts.limit_time(4000) is None
    # WAL not streamed (pg_wal at start-up): the archive delay, from the segment's first use
    first = conflicts.limit_time(SEGMENT_SIZE * 3 + 100)
    clock.now += 5
    assert conflicts.limit_time(SEGMENT_SIZE * 3 + 900) == first == clock.now - 5 + 7.0


# -- victims -------------------------------------------------------------------------------------


def test_snapshot_victims_are_transactions_with_an_old_enough_xmin() -> None:
    old, equal, young, idle = session(1, 90), session(2, 100), session(3, 101), session(4, 0)
    walsender = session(5, 50)
    walsender.backend_type = "walsender"
    conflicts, _, _ = make(sessions=[old, equal, young, idle, walsender])
    assert [victim.pid for victim in conflicts.snapshot_victims(100)] == [1, 2]
    assert [victim.pid for victim in conflicts.sessions_with_procs([young.proc])] == [3]


def test_no_victim_means_no_wait() -> None:
    conflicts, _, _ = make(sessions=[session(1, 200)])
    conflicts.resolve_snapshot(100, record_end_lsn=10)
    conflicts.resolve_snapshot(0, record_end_lsn=10)    # only aborted versions removed
    assert conflicts.resolved == 0


def test_delay_zero_cancels_at_once_and_the_victim_counts_it() -> None:
    victim = session(1, 50)
    conflicts, _, _ = make(streaming_delay_ms=0, archive_delay_ms=0, sessions=[victim])
    conflicts.resolve_snapshot(100, record_end_lsn=10)
    requests = victim.interrupts.requests
    assert [request.reason for request in requests] == [SNAPSHOT]
    assert not requests[0].terminate
    assert conflicts.statistics.counters("postgres") == (0, 0, 1, 0, 0)


def test_a_victim_that_ends_within_the_delay_is_never_cancelled() -> None:
    victim = session(1, 50)
    conflicts, _, _ = make(sessions=[victim])         # 30 s from a clock that stands still
    thread = in_thread(lambda: conflicts.resolve_snapshot(100, record_end_lsn=10))
    wait_for(lambda: conflicts.waiting is not None, "the wait to begin")
    assert thread.is_alive()
    victim.proc.xmin = 0                                # the query's transaction ends
    thread.join(DEADLINE_S)
    assert not thread.is_alive() and victim.interrupts.requests == []


def test_the_limit_passing_while_waiting_cancels() -> None:
    victim = session(1, 50)
    conflicts, _, clock = make(streaming_delay_ms=3000, archive_delay_ms=3000,
                               sessions=[victim])
    thread = in_thread(lambda: conflicts.resolve_snapshot(100, record_end_lsn=10))
    wait_for(lambda: conflicts.waiting is not None, "the wait to begin")
    assert victim.interrupts.requests == []
    clock.now += 3.0
    thread.join(DEADLINE_S)
    assert not thread.is_alive() and len(victim.interrupts.requests) == 1


def test_waiting_forever_ends_with_interrupt() -> None:
    victim = session(1, 50)
    conflicts, _, clock = make(streaming_delay_ms=-1, archive_delay_ms=-1, sessions=[victim])
    thread = in_thread(lambda: conflicts.resolve_snapshot(100, record_end_lsn=10))
    wait_for(lambda: conflicts.waiting is not None, "the wait to begin")
    clock.now += 10_000
    time.sleep(0.05)
    assert thread.is_alive() and victim.interrupts.requests == []
    conflicts.interrupt()                               # promotion, shutdown
    thread.join(DEADLINE_S)
    assert not thread.is_alive() and len(victim.interrupts.requests) == 1


def test_a_victim_still_there_after_acting_is_cancelled_again() -> None:
    victim = session(1, 50, obey=False)
    conflicts, _, _ = make(streaming_delay_ms=0, archive_delay_ms=0, sessions=[victim])
    thread = in_thread(lambda: conflicts.resolve_snapshot(100, record_end_lsn=10))
    wait_for(lambda: len(victim.interrupts.requests) >= 3, "repeated cancels")
    victim.proc.xmin = 0
    thread.join(DEADLINE_S)
    assert not thread.is_alive()


def test_sessions_that_arrive_later_are_not_waited_for() -> None:
    first = session(1, 50)
    sessions = [first]
    conflicts, _, _ = make(sessions=sessions)
    thread = in_thread(lambda: conflicts.resolve_snapshot(100, record_end_lsn=10))
    wait_for(lambda: conflicts.waiting is not None, "the wait to begin")
    sessions.append(session(2, 60))
    first.proc = Proc(70)     # the same session in a new transaction: not the one found
    thread.join(DEADLINE_S)
    assert not thread.is_alive()


# -- what the victim's session raises -------------------------------------------------------------


def request(proc: Proc, reports: list[RecoveryConflictReason], *, terminate: bool = False,
            reason: RecoveryConflictReason = SNAPSHOT) -> ConflictRequest:
    return ConflictRequest(reason, lambda: bool(proc.xmin), reports.append, terminate)


def test_a_running_statement_is_cancelled_with_40001_and_the_detail() -> None:
    state, proc, reports = InterruptState(), Proc(10), []
    state.request_recovery_conflict(request(proc, reports))
    assert state.wakeup.is_set()          # pg_sleep's wait ends at once
    error = raised_by(state)
    assert isinstance(error, RecoveryConflict)
    assert (error.sqlstate, error.message, error.detail, error.hint) == (
        "40001", "canceling statement due to conflict with recovery",
        "User query might have needed to see row versions that must be removed.", None)
    assert reports == [SNAPSHOT]
    assert raised_by(state) is None and not state.pending


def test_a_conflict_wins_over_a_user_cancel_and_consumes_it() -> None:
    state, proc = InterruptState(), Proc(10)
    state.request_cancel()
    state.request_recovery_conflict(request(proc, []))
    assert isinstance(raised_by(state), RecoveryConflict)
    assert raised_by(state) is None


def test_a_conflict_for_a_transaction_that_ended_is_dropped() -> None:
    state, proc, reports = InterruptState(), Proc(10), []
    state.request_recovery_conflict(request(proc, reports))
    proc.xmin = 0
    assert raised_by(state) is None
    assert reports == [] and not state.pending


def test_idle_in_transaction_is_terminated_with_the_hint() -> None:
    state, proc, reports = InterruptState(), Proc(10), []
    left, right = socket.socketpair()
    try:
        waiter: list[bool] = []
        thread = in_thread(lambda: waiter.append(state.wait_readable(left, DEADLINE_S)))
        wait_for(lambda: state.reading_from_client, "the client wait")
        state.request_recovery_conflict(request(proc, reports))
        thread.join(DEADLINE_S)
        assert waiter == [False]            # woken by the interrupt, not by the client
        error = raised_by(state)
        assert isinstance(error, RecoveryConflictTermination)
        assert (error.sqlstate, error.message, error.detail, error.hint) == (
            "40001", "terminating connection due to conflict with recovery",
            "User query might have needed to see row versions that must be removed.",
            "In a moment you should be able to reconnect to the database and repeat your "
            "command.")
        assert raised_by(state) is error and reports == [SNAPSHOT]   # stays pending
        state.close()
    finally:
        left.close()
        right.close()


def test_client_bytes_end_the_command_read() -> None:
    state = InterruptState()
    left, right = socket.socketpair()
    try:
        right.send(b"Q")
        assert state.wait_readable(left, DEADLINE_S)
        assert not state.reading_from_client
        state.request_recovery_conflict(request(Proc(10), []))
        assert isinstance(raised_by(state), RecoveryConflict)     # a statement runs: ERROR
        state.close()
    finally:
        left.close()
        right.close()


def test_a_terminating_request_ends_the_session_mid_statement_without_hint() -> None:
    state, proc, reports = InterruptState(), Proc(10), []
    state.request_recovery_conflict(request(proc, reports, terminate=True,
                                            reason=RecoveryConflictReason.DATABASE))
    state.request_recovery_conflict(request(proc, reports))       # milder: does not replace
    error = raised_by(state)
    assert isinstance(error, RecoveryConflictTermination)
    assert (error.sqlstate, error.hint) == ("57P04", None)
    assert error.detail == "User was connected to a database that must be dropped."


def test_held_interrupts_delay_the_conflict() -> None:
    state = InterruptState()
    with state.hold_interrupts():
        state.request_recovery_conflict(request(Proc(10), []))
        assert raised_by(state) is None
    assert isinstance(raised_by(state), RecoveryConflict)


def test_resolve_against_real_interrupt_states() -> None:
    """A session sleeping in a statement: the startup thread's cancel ends the sleep, the
    statement fails, the transaction ends and replay goes on."""
    proc, state = Proc(50), InterruptState()
    victim = Session(7, proc, interrupts=state)
    conflicts, _, _ = make(streaming_delay_ms=0, archive_delay_ms=0, sessions=[victim])
    outcome: list[Exception | None] = []

    def statement() -> None:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and not state.wait(0.01):
            pass
        outcome.append(raised_by(state))
        proc.xmin = 0                       # the failed statement ends the transaction

    sleeper = in_thread(statement)
    conflicts.resolve_snapshot(100, record_end_lsn=10)
    sleeper.join(DEADLINE_S)
    assert isinstance(outcome[0], RecoveryConflict)
    assert conflicts.statistics.counters("postgres") == (0, 0, 1, 0, 0)
