"""Autovacuum on a real engine: the launcher thread vacuums a table once its dead row versions pass
autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor * live rows (woken early, or at the
naptime after a reload changed the limit), does nothing while autovacuum is off or on a standby,
pgbench-like concurrent updates and unique-key churn running beside it leave every index
consistent with its table (Engine.verify_indexes), and a VACUUM waits for a transaction that
built an index, then cleans that index too."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from mirrordb.access.heapam import TmResult
from mirrordb.common.errors import DeadlockDetected, UniqueViolation
from mirrordb.engine import Engine, Txn
from mirrordb.settings import Settings
from mirrordb.storage import datum as T

DEADLINE_S = 30.0
POLL_S = 0.01


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def make_items(engine: Engine, count: int) -> int:
    with engine.begin() as txn:
        txn.create_table("items", [("id", T.INT4_OID), ("n", T.INT4_OID)])
        txn.create_index("items_pkey", "items", ["id"], unique=True, primary=True)
        for i in range(count):
            txn.insert("items", [i, 0])
        return txn.relation("items").oid


def update_all(engine: Engine, rounds: int = 1) -> None:
    for _ in range(rounds):
        with engine.begin() as txn:
            for tid, values in list(txn.scan("items")):
                txn.update("items", tid, [values[0], values[1] + 1], values)


def test_launcher_vacuums_a_table_past_its_limit(cluster: str) -> None:
    engine = Engine.open(cluster)          # naptime 1min: only the early wake-up can do it
    try:
        engine.start_autovacuum()
        relid = make_items(engine, 100)
        update_all(engine)                 # 100 dead > 50 + 0.2 * 100
        wait_until(lambda: (engine.table_stats.entry(relid) or object()).__dict__.get(
            "autovacuum_count", 0) >= 1, "an autovacuum of items")
        entry = engine.table_stats.entry(relid)
        assert entry is not None and entry.last_autovacuum is not None
        assert (entry.n_live_tup, entry.n_dead_tup, entry.vacuum_count) == (100, 0, 0)
        assert engine.verify_indexes("items") == 100   # dead versions and entries are gone
        stats, = engine.vacuum("items")
        assert stats.removed == 0
    finally:
        engine.close()
    assert engine.autovacuum is not None and not engine.autovacuum.running


def test_a_reload_that_lowers_the_limit_applies_at_the_next_naptime(cluster: str) -> None:
    engine = Engine.open(cluster, {"autovacuum_vacuum_threshold": "1000",
                                   "autovacuum_naptime": "1"})
    try:
        engine.start_autovacuum()
        relid = make_items(engine, 50)
        update_all(engine, rounds=2)       # 100 dead, below 1000: nothing wakes the launcher
        assert engine.autovacuum is not None
        rounds = engine.autovacuum.rounds
        wait_until(lambda: engine.autovacuum.rounds >= rounds + 1, "a naptime")  # type: ignore
        assert engine.table_stats.entry(relid).autovacuum_count == 0  # type: ignore[union-attr]
        engine.settings = Settings({"autovacuum_naptime": "1"}, cluster)   # SIGHUP: default 50
        wait_until(lambda: engine.table_stats.entry(relid).autovacuum_count >= 1,  # type: ignore
                   "the periodic check")
        assert engine.verify_indexes("items") == 50
    finally:
        engine.close()


def test_autovacuum_off_vacuums_nothing(cluster: str) -> None:
    engine = Engine.open(cluster, {"autovacuum": "off", "autovacuum_naptime": "1"})
    try:
        engine.start_autovacuum()
        relid = make_items(engine, 100)
        update_all(engine, rounds=2)
        assert engine.autovacuum is not None
        rounds = engine.autovacuum.rounds
        wait_until(lambda: engine.autovacuum.rounds >= rounds + 2, "two naptimes")  # type: ignore
        entry = engine.table_stats.entry(relid)
        assert entry is not None and (entry.autovacuum_count, entry.n_dead_tup) == (0, 200)
    finally:
        engine.close()


def test_no_launcher_on_a_standby(cluster: str) -> None:
    engine = Engine.open(cluster)
    make_items(engine, 10)
    engine.close()
    standby = Engine.open(cluster, standby_mode=True)
    try:
        standby.start_autovacuum()
        assert standby.autovacuum is None
        assert not [t for t in threading.enumerate() if t.name == "autovacuum launcher"]
    finally:
        standby.close()


# -- concurrency ------------------------------------------------------------------------------

BRANCHES, TELLERS, ACCOUNTS, KEYS = 1, 10, 200, 20
TRANSACTIONS_PER_CLIENT = 120
CLIENTS = 3


def make_bank(engine: Engine) -> None:
    with engine.begin() as txn:
        for name, count in (("branches", BRANCHES), ("tellers", TELLERS),
                            ("accounts", ACCOUNTS)):
            txn.create_table(name, [("id", T.INT4_OID), ("balance", T.INT8_OID)])
            txn.create_index(f"{name}_pkey", name, ["id"], unique=True, primary=True)
            for i in range(1, count + 1):
                txn.insert(name, [i, 0])
        txn.create_table("history", [("aid", T.INT4_OID), ("delta", T.INT8_OID)])
        txn.create_table("churn", [("k", T.INT4_OID), ("v", T.INT4_OID)])
        txn.create_index("churn_k", "churn", ["k"], unique=True)


def add_to(txn: Txn, table: str, key: int, delta: int) -> None:
    """UPDATE table SET balance = balance + delta WHERE id = key, retrying after a concurrent
    update as READ COMMITTED does."""
    while True:
        (tid, values), = txn.lookup(f"{table}_pkey", (key,))
        result, _ = txn.update(table, tid, [key, values[1] + delta], values)
        if result == TmResult.OK:
            return
        assert result == TmResult.UPDATED
        txn.new_statement()


def pgbench_client(engine: Engine, seed: int, errors: list[BaseException]) -> None:
    rng = random.Random(seed)
    try:
        for _ in range(TRANSACTIONS_PER_CLIENT):
            delta = rng.randint(-5000, 5000)
            with engine.begin() as txn:
                add_to(txn, "accounts", rng.randint(1, ACCOUNTS), delta)
                txn.new_statement()
                add_to(txn, "tellers", rng.randint(1, TELLERS), delta)
                txn.new_statement()
                add_to(txn, "branches", rng.randint(1, BRANCHES), delta)
                txn.new_statement()
                txn.insert("history", [0, delta])
    except BaseException as error:  # reported by the test
        errors.append(error)


def churn_client(engine: Engine, seed: int, errors: list[BaseException]) -> None:
    """Insert and delete rows of a small unique key space: unique checks meet dead versions
    whose line pointers autovacuum frees and inserts reuse."""
    rng = random.Random(seed)
    try:
        for _ in range(TRANSACTIONS_PER_CLIENT * 2):
            key = rng.randint(1, KEYS)
            with engine.begin() as txn:
                found = txn.lookup("churn_k", (key,))
                if found:
                    txn.delete("churn", found[0][0])
                else:
                    try:
                        txn.insert("churn", [key, seed])
                    except UniqueViolation:
                        txn.abort()   # another client inserted it first
    except DeadlockDetected:
        pass
    except BaseException as error:
        errors.append(error)


def test_concurrent_updates_with_autovacuum_keep_indexes_consistent(cluster: str) -> None:
    engine = Engine.open(cluster, {"autovacuum_vacuum_threshold": "5"})
    try:
        make_bank(engine)
        engine.start_autovacuum()
        errors: list[BaseException] = []
        threads = [threading.Thread(target=pgbench_client, args=(engine, seed, errors))
                   for seed in range(CLIENTS)]
        threads.append(threading.Thread(target=churn_client, args=(engine, 99, errors)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        with engine.begin() as txn:
            relids = {name: txn.relation(name).oid for name in ("branches", "tellers")}
            sums = {name: sum(values[1] for _, values in txn.scan(name))
                    for name in ("accounts", "tellers", "branches", "history")}
        assert len(set(sums.values())) == 1, sums
        for name, relid in relids.items():
            entry = engine.table_stats.entry(relid)
            assert entry is not None and entry.autovacuum_count >= 1, name
        engine.stop_autovacuum()
        for table in ("branches", "tellers", "accounts", "churn"):
            engine.verify_indexes(table)
    finally:
        engine.close()


@pytest.mark.parametrize("automatic", [False, True])
def test_vacuum_after_a_drop_commits_skips_the_table(cluster: str, automatic: bool) -> None:
    engine = Engine.open(cluster)
    try:
        relid = make_items(engine, 10)
        with engine.begin() as txn:
            relation = txn.relation("items")
            txn.drop("items")
        assert engine._vacuum_table(relation, automatic=automatic) is None
        assert not engine.autovacuum_table(relid, threading.Event())
        assert engine.table_stats.entry(relid) is None
    finally:
        engine.close()


def test_vacuum_waits_for_the_transaction_building_an_index_then_cleans_it(
        cluster: str) -> None:
    """CREATE INDEX holds ShareLock on the table until its transaction ends; VACUUM's
    ShareUpdateExclusiveLock waits for it, then cleans the new index with the others."""
    engine = Engine.open(cluster)
    try:
        make_items(engine, 100)
        with engine.begin() as txn:
            for tid, _ in list(txn.scan("items")):
                txn.delete("items", tid)
        builder = engine.begin()
        builder.create_index("items_n", "items", ["n"])      # indexes the dead versions too
        results: list[object] = []
        vacuum = threading.Thread(target=lambda: results.extend(engine.vacuum("items")),
                                  daemon=True)
        vacuum.start()
        wait_until(lambda: any(not row.granted for row in engine.xacts.locks.status()),
                   "the vacuum to wait for the index builder's lock")
        assert not results
        builder.commit()
        vacuum.join(DEADLINE_S)
        stats, = results                                    # frees their line pointers
        assert stats.removed == 100 and stats.index_entries_removed == 200  # type: ignore
        assert engine.verify_indexes("items") == 0
        with engine.begin() as txn:
            for i in range(100):                            # reuse the freed line pointers
                txn.insert("items", [i, i])
        assert engine.verify_indexes("items") == 100
        with engine.begin() as txn:
            assert [values for _, values in txn.lookup("items_n", (7,))] == [(7, 7)]
    finally:
        engine.close()


def test_unique_check_ignores_an_entry_whose_line_pointer_now_holds_another_key(
        cluster: str) -> None:
    """A stale entry (5 -> a line pointer now holding key 1), as a reused line pointer would
    leave if VACUUM and a unique check ever interleaved: the check reads the version, sees
    that it no longer carries the key, and does not report a duplicate."""
    engine = Engine.open(cluster)
    try:
        make_items(engine, 0)
        with engine.begin() as txn:
            tid = txn.insert("items", [1, 0])
            index = txn.relation("items_pkey")
        with engine.pool.lock:
            engine.btree(index).insert((5,), tid)
        with engine.begin() as txn:
            txn.insert("items", [5, 0])
            with pytest.raises(UniqueViolation):
                txn.insert("items", [1, 0])
    finally:
        engine.close()
