"""Crash test: kill -9 a busy engine over and over; every acknowledged commit must survive.

Each round starts ``crash_workload.py`` on the same cluster, waits until it has acknowledged a
random number of new commits, kills it with SIGKILL, then opens the cluster here (crash recovery)
and checks: every acknowledged transaction's effects are present (the one in flight may or may not
be), no row from an aborted transaction or rolled-back savepoint is visible, every index matches
its heap, and a new transaction works. ``MIRRORDB_CRASH_ROUNDS`` sets the number of rounds
(default 50, the bound for ``make test``; raise it for soak runs).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from mirrordb.engine import Engine

ROUNDS = int(os.environ.get("MIRRORDB_CRASH_ROUNDS", "50"))
WORKLOAD = os.path.join(os.path.dirname(__file__), "crash_workload.py")
ROUND_DEADLINE_S = 60.0


def read_acks(path: str) -> tuple[list[list[list[object]]], list[list[object]] | None]:
    """(acknowledged transactions' ops in order, ops of the one in flight or None)."""
    begun: dict[int, list[list[object]]] = {}
    acknowledged: list[list[list[object]]] = []
    last_begun: int | None = None
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # torn last line: the write itself was cut by the kill
            kind, number, *rest = line.rstrip("\n").split(" ", 2)
            if kind == "B":
                begun[int(number)] = json.loads(rest[0])
                last_begun = int(number)
            elif kind == "C":
                acknowledged.append(begun.pop(int(number)))
    in_flight = begun.get(last_begun) if last_begun is not None else None
    return acknowledged, in_flight


def apply(state: dict[int, str], ops: list[list[object]]) -> dict[int, str]:
    state = dict(state)
    for op in ops:
        if op[0] == "put":
            state[int(op[1])] = str(op[2])  # type: ignore[arg-type]
        else:
            state.pop(int(op[1]), None)  # type: ignore[arg-type]
    return state


def count_lines(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.startswith("C "))


def run_round(cluster: str, ackfile: str, seed: int, rng: random.Random) -> None:
    target = count_lines(ackfile) + rng.randint(1, 25)
    child = subprocess.Popen([sys.executable, WORKLOAD, cluster, ackfile, str(seed)],
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + ROUND_DEADLINE_S
    try:
        while count_lines(ackfile) < target:
            if child.poll() is not None:
                raise AssertionError(f"workload exited early: {child.stderr.read().decode()}")
            if time.monotonic() > deadline:
                raise AssertionError("workload made no progress before the deadline")
            time.sleep(0.005)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stderr.close()


def check_cluster(cluster: str, ackfile: str) -> None:
    acknowledged, in_flight = read_acks(ackfile)
    expected: dict[int, str] = {}
    for ops in acknowledged:
        expected = apply(expected, ops)
    engine = Engine.open(cluster)
    try:
        with engine.begin() as txn:
            if engine.relcache.lookup("items", txn.transaction) is None:
                assert not acknowledged
                return
            actual = {values[0]: values[1] for _, values in txn.scan("items")}
        assert all(key > 0 for key in actual), "a row of an aborted transaction is visible"
        allowed = [expected] + ([apply(expected, in_flight)] if in_flight else [])
        assert actual in allowed, _describe(actual, expected)
        engine.verify_indexes("items")
        with engine.begin() as txn:
            txn.insert("items", [10**15 + len(acknowledged), "probe", 0])
            txn.abort()
    finally:
        engine.close()


def _describe(actual: dict[int, str], expected: dict[int, str]) -> str:
    missing = {k: v for k, v in expected.items() if actual.get(k) != v}
    extra = {k: v for k, v in actual.items() if k not in expected}
    return f"lost or wrong: {dict(list(missing.items())[:5])}, unexpected: {dict(list(extra.items())[:5])}"


@pytest.mark.soak
def test_kill_minus_nine_loses_no_acknowledged_commit(cluster, tmp_path):
    ackfile = str(tmp_path / "acks.log")
    rng = random.Random(int(os.environ.get("MIRRORDB_CRASH_SEED", "20261121")))
    for round_number in range(ROUNDS):
        run_round(cluster, ackfile, round_number + 1, rng)
        check_cluster(cluster, ackfile)
