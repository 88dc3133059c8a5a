"""DROP DATABASE's replay on a hot standby (recovery/conflicts.py ``resolve_database``): the
database is closed to new sessions first, every session connected to it is terminated, and
replay waits for the sessions still connecting; a later CREATE DATABASE of the OID opens it
again (``database_created``). The server's half is server/postmaster.py ``Server``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from mirrordb.recovery.conflicts import (ConflictRequest, ConflictStatistics,
                                         RecoveryConflictReason, RecoveryConflicts)

DROPPED, OTHER = 16384, 5


@dataclass
class Gate:
    """A Server's database gate: attached counts sessions that connected but are not listed
    as backends yet; ``events`` records the order of the calls."""

    attached: dict[int, int] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)
    events: list[str] = field(default_factory=list)

    def close_database(self, oid: int) -> None:
        self.closed.add(oid)
        self.events.append(f"close {oid}")

    def reopen_database(self, oid: int) -> None:
        self.closed.discard(oid)
        self.events.append(f"reopen {oid}")

    def database_users(self, oid: int) -> int:
        return self.attached.get(oid, 0)


@dataclass(eq=False)
class Backend:
    pid: int
    database_oid: int
    gate: Gate
    database: str = "db"
    backend_type: str = "client backend"
    proc: object = None
    gone: bool = False
    requests: list[ConflictRequest] = field(default_factory=list)

    @property
    def interrupts(self) -> Backend:
        return self

    def request_recovery_conflict(self, request: ConflictRequest) -> None:
        self.gate.events.append(f"terminate {self.pid}")
        self.requests.append(request)
        self.gone = True


def make(gate: Gate, backends: list[Backend]) -> RecoveryConflicts:
    conflicts = RecoveryConflicts(lambda: {}, 1 << 20, ConflictStatistics())
    conflicts.attach(sessions=lambda: [b for b in backends if not b.gone],
                     receipts=lambda: None, stopping=lambda: False, databases=gate)
    return conflicts


def test_drop_closes_then_terminates_only_that_database() -> None:
    gate = Gate()
    backends = [Backend(101, DROPPED, gate), Backend(102, OTHER, gate)]
    conflicts = make(gate, backends)
    conflicts.resolve_database(DROPPED)
    assert gate.events == ["close 16384", "terminate 101"]
    request, = backends[0].requests
    assert (request.reason, request.terminate) == (RecoveryConflictReason.DATABASE, True)
    assert not backends[1].requests and conflicts.resolved == 1
    conflicts.database_created(DROPPED)
    assert gate.closed == set()


def test_replay_waits_for_a_session_still_connecting() -> None:
    gate = Gate(attached={DROPPED: 1})
    conflicts = make(gate, [])
    done = threading.Event()
    worker = threading.Thread(target=lambda: (conflicts.resolve_database(DROPPED), done.set()),
                              daemon=True)
    worker.start()
    assert not done.wait(0.1)                   # the connecting session holds replay back
    gate.attached[DROPPED] = 0                  # ... until it has gone
    assert done.wait(5.0)
    assert gate.closed == {DROPPED}


def test_without_a_server_nothing_is_closed() -> None:
    conflicts = RecoveryConflicts(lambda: {}, 1 << 20, ConflictStatistics())
    conflicts.resolve_database(DROPPED)
    conflicts.database_created(DROPPED)
    assert conflicts.resolved == 0
