"""Crash test: kill -9 a busy engine over and over; every acknowledged commit must survive.

Each round starts ``crash_workload.py`` on the same cluster, waits until it has acknowledged a
random number of new commits, kills it with SIGKILL, then opens the cluster here (crash recovery)
and checks: every acknowledged transaction's effects are present (the one in flight may or may not
be), no row from an aborted transaction or rolled-back savepoint is visible, every index matches
its heap, and a new transaction works; at the end, HOT chains must exist (updates of the
unindexed val are heap-only). ``MIRRORDB_CRASH_ROUNDS`` sets the number of rounds
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


def read_acks(path: str) -> list[tuple[str, list[list[object]], bool]]:
    """Every transaction that reached COMMIT, in order: (id, ops, acknowledged)."""
    transactions: dict[str, tuple[list[list[object]], bool]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # torn last line: the write itself was cut by the kill
            kind, name, *rest = line.rstrip("\n").split(" ", 2)
            if kind == "B":
                transactions[name] = (json.loads(rest[0]), False)
            elif kind == "C":
                transactions[name] = (transactions[name][0], True)
    return [(name, ops, acked) for name, (ops, acked) in transactions.items()]


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


def check_cluster(cluster: str, ackfile: str, decided: dict[str, bool]) -> None:
    """Compare the recovered table with the model. ``decided`` remembers, for transactions cut
    off between COMMIT and its acknowledgement in earlier rounds, whether they committed."""
    expected: dict[int, str] = {}
    in_flight: tuple[str, list[list[object]]] | None = None
    transactions = read_acks(ackfile)
    for name, ops, acked in transactions:
        if acked or decided.get(name):
            expected = apply(expected, ops)
        elif name not in decided:
            assert in_flight is None, "two transactions in flight at once"
            in_flight = (name, ops)
    engine = Engine.open(cluster)
    try:
        with engine.begin() as txn:
            if engine.relcache.lookup("items", txn.transaction) is None:
                assert not transactions
                return
            actual = {values[0]: values[1] for _, values in txn.scan("items")}
        assert all(key > 0 for key in actual), "a row of an aborted transaction is visible"
        if in_flight is not None:
            committed = actual == apply(expected, in_flight[1])
            decided[in_flight[0]] = committed
            if committed:
                expected = actual
        assert actual == expected, _describe(actual, expected)
        engine.verify_indexes("items")
        with engine.begin() as txn:
            txn.insert("items", [10**15, "probe", 0])
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
    decided: dict[str, bool] = {}
    for round_number in range(ROUNDS):
        run_round(cluster, ackfile, round_number + 1, rng)
        check_cluster(cluster, ackfile, decided)
    assert hot_traces(cluster) > 0, "the workload's updates of val made no HOT chain"


def hot_traces(cluster: str) -> int:
    """Heap-only versions and redirected roots in ``items``: what HOT updates leave (the
    workload updates the unindexed val), replayed by every recovery above."""
    from mirrordb.access.heapam import chain_roots
    from mirrordb.storage import page as pagelib
    from mirrordb.storage.relfilenode import MAIN_FORKNUM
    engine = Engine.open(cluster)
    try:
        with engine.begin() as txn:
            rnode = txn.relation("items").rnode
        found = 0
        with engine.pool.lock:
            for blkno in range(engine.pool.nblocks(rnode, MAIN_FORKNUM)):
                buffer = engine.pool.read_buffer(rnode, MAIN_FORKNUM, blkno)
                try:
                    for root, members in chain_roots(buffer.page).items():
                        redirected = pagelib.get_item_id(buffer.page, root)[1] == \
                            pagelib.LP_REDIRECT
                        found += redirected + len(members) - 1
                finally:
                    engine.pool.release(buffer)
        return found
    finally:
        engine.close()
