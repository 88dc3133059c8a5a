"""Interrupts (server/interrupts.py): flags, precedence, waits that wake, the shared timer heap."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from mirrordb.common.errors import (AdminShutdown, IdleInTransactionSessionTimeout,
                                    IdleSessionTimeout, InvariantViolation, LockNotAvailable,
                                    QueryCanceled)
from mirrordb.server.interrupts import (TIMER_COMPACT_SLACK, InterruptState, TimerService,
                                        bind_interrupts, check_for_interrupts,
                                        current_interrupts)

DEADLINE_S = 5.0


@pytest.fixture
def timers() -> Iterator[TimerService]:
    service = TimerService()
    yield service
    service.stop()


def raised_by(state: InterruptState) -> Exception | None:
    try:
        state.check_for_interrupts()
    except Exception as error:  # noqa: BLE001 - the test inspects it
        return error
    return None


def test_nothing_pending_is_a_no_op_even_unbound() -> None:
    assert current_interrupts() is None
    check_for_interrupts()
    state = InterruptState()
    with bind_interrupts(state):
        assert current_interrupts() is state
        check_for_interrupts()
    assert current_interrupts() is None


def test_cancel_raises_once_with_postgresql_message() -> None:
    state = InterruptState()
    state.request_cancel()
    assert state.wakeup.is_set()
    with bind_interrupts(state):
        with pytest.raises(QueryCanceled) as caught:
            check_for_interrupts()
        assert (caught.value.sqlstate, caught.value.message) == \
            ("57014", "canceling statement due to user request")
        check_for_interrupts()
    assert not state.pending and not state.wakeup.is_set()


def test_terminate_wins_and_stays_pending() -> None:
    state = InterruptState()
    state.request_cancel()
    state.request_terminate()
    for _ in range(2):
        error = raised_by(state)
        assert isinstance(error, AdminShutdown)
        assert (error.sqlstate, error.message) == \
            ("57P01", "terminating connection due to administrator command")


def test_first_terminate_reason_is_kept() -> None:
    state = InterruptState()
    state.request_terminate("terminating connection due to idle-in-transaction timeout", "25P03")
    state.request_terminate()
    assert isinstance(raised_by(state), IdleInTransactionSessionTimeout)


def test_held_interrupts_wait_for_the_end_of_the_section() -> None:
    state = InterruptState()
    with state.hold_interrupts():
        state.request_cancel()
        state.check_for_interrupts()
    assert isinstance(raised_by(state), QueryCanceled)


def test_clear_cancel_forgets_a_cancel_that_arrived_while_idle() -> None:
    state = InterruptState()
    state.request_cancel()
    state.clear_cancel()
    assert raised_by(state) is None and not state.wakeup.is_set()


def test_binding_a_second_state_is_a_programmer_error() -> None:
    with bind_interrupts(InterruptState()), pytest.raises(InvariantViolation), \
            bind_interrupts(InterruptState()):
        pass


def test_statement_timeout_fires_and_disarm_drops_it(timers: TimerService) -> None:
    state = InterruptState(timers)
    started = time.monotonic()
    state.arm_statement_timeout(30)
    assert state.wait(DEADLINE_S)
    assert time.monotonic() - started < DEADLINE_S
    error = raised_by(state)
    assert isinstance(error, QueryCanceled)
    assert error.message == "canceling statement due to statement timeout"
    state.arm_statement_timeout(20)
    assert state.wait(DEADLINE_S)
    state.disarm_statement_timeout()      # fired but not yet checked: dropped
    assert raised_by(state) is None


def test_disarmed_timeout_never_fires(timers: TimerService) -> None:
    state = InterruptState(timers)
    state.arm_statement_timeout(30)
    state.disarm_statement_timeout()
    other = InterruptState(timers)
    other.arm_statement_timeout(80)       # a later deadline that does fire
    assert other.wait(DEADLINE_S)
    assert not state.pending


def test_lock_timeout_and_idle_timeouts(timers: TimerService) -> None:
    state = InterruptState(timers)
    state.arm_lock_timeout(10)
    assert state.wait(DEADLINE_S)
    error = raised_by(state)
    assert isinstance(error, LockNotAvailable)
    assert (error.sqlstate, error.message) == ("55P03", "canceling statement due to lock timeout")
    state.arm_idle_session_timeout(10)
    assert state.wait(DEADLINE_S)
    error = raised_by(state)
    assert isinstance(error, IdleSessionTimeout) and error.sqlstate == "57P05"
    assert error.message == "terminating connection due to idle-session timeout"


def test_idle_in_transaction_timeout_wakes_a_socket_wait(timers: TimerService) -> None:
    state = InterruptState(timers)
    client, server = socket.socketpair()
    try:
        state.arm_idle_in_transaction_timeout(20)
        started = time.monotonic()
        assert state.wait_readable(server, DEADLINE_S) is False
        assert time.monotonic() - started < DEADLINE_S
        error = raised_by(state)
        assert isinstance(error, IdleInTransactionSessionTimeout)
        assert (error.sqlstate, error.message) == \
            ("25P03", "terminating connection due to idle-in-transaction timeout")
    finally:
        client.close()
        server.close()
        state.close()


def test_socket_wait_returns_for_data_and_for_a_cancel_from_another_thread() -> None:
    state = InterruptState()
    client, server = socket.socketpair()
    try:
        client.send(b"Q")
        assert state.wait_readable(server, DEADLINE_S) is True
        server.recv(1)
        canceller = threading.Thread(target=state.request_cancel)
        canceller.start()
        assert state.wait_readable(server, DEADLINE_S) is False
        canceller.join()
        assert isinstance(raised_by(state), QueryCanceled)
        client.send(b"X")
        assert state.wait_readable(server, DEADLINE_S) is True   # wake-up pair drained
    finally:
        client.close()
        server.close()
        state.close()


def test_rearming_many_times_keeps_the_heap_bounded(timers: TimerService) -> None:
    states = [InterruptState(timers) for _ in range(4)]
    for _ in range(3 * TIMER_COMPACT_SLACK):
        for state in states:
            state.arm_statement_timeout(3_600_000)
            state.disarm_statement_timeout()
    assert timers.heap_size() <= 2 * len(states) + TIMER_COMPACT_SLACK + 1
    for state in states:
        state.arm_statement_timeout(3_600_000)
    assert timers.heap_size() >= len(states)


def test_timers_fire_in_deadline_order(timers: TimerService) -> None:
    fired: list[int] = []
    states = [InterruptState(timers) for _ in range(3)]
    for index, delay_ms in enumerate((60, 20, 40)):
        states[index].arm_statement_timeout(delay_ms)
    deadline = time.monotonic() + DEADLINE_S
    while len(fired) < 3 and time.monotonic() < deadline:
        for index, state in enumerate(states):
            if state.pending and index not in fired:
                fired.append(index)
        time.sleep(0.001)
    assert fired == [1, 2, 0]
