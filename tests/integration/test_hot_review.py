"""HOT review findings (task H9): each test failed before its fix. Index scans over chains that
CREATE INDEX met, with snapshots older than the index."""

from __future__ import annotations

from mirrordb.engine import Engine
from tests.integration.test_hot_updates import (  # noqa: F401  (engine: a fixture)
    aborted_hot_update, add, balance, engine)


def test_old_snapshot_does_not_match_a_stale_key_of_its_chain(engine: Engine) -> None:
    """A chain built before the index holds balance 0 (root) and 5 (heap-only): a snapshot that
    sees the root version must not find it under 5, nor twice in a range over both keys."""
    reader = engine.begin("repeatable read")
    assert [v for _, v in reader.lookup("acc_pkey", (3,))] == [(3, 0, 0)]
    add(engine, 3, 5)
    reader.create_index("acc_balance", "acc", ["balance"])
    assert reader.lookup("acc_balance", (5,)) == []
    found = [v[0] for _, v in reader.index_scan("acc_balance", (0,), (5,))]
    assert sorted(found) == list(range(10))
    reader.commit()
    with engine.begin() as txn:
        assert [v for _, v in txn.lookup("acc_balance", (5,))] == [(3, 0, 5)]
        assert [v[0] for _, v in txn.index_scan("acc_balance", (0,), (5,))].count(3) == 1


def test_savepoint_rollback_of_hot_updates_and_row_locks_through_the_root(engine: Engine) -> None:
    """A HOT update rolled back to a savepoint leaves the root's HEAP_HOT_UPDATED and ctid
    behind: the same transaction updates again, locks and deletes through the index, VACUUM
    frees the orphan, and every reader sees the right version."""
    with engine.begin() as txn:
        (tid, values), = txn.lookup("acc_pkey", (2,))
        txn.savepoint("s")
        txn.update("acc", tid, [2, 2, 50], values)
        txn.transaction.command_counter_increment()
        assert [v for _, v in txn.lookup("acc_pkey", (2,))] == [(2, 2, 50)]
        txn.rollback_to_savepoint("s")
        assert [v for _, v in txn.lookup("acc_pkey", (2,))] == [(2, 2, 0)]
        txn.update("acc", tid, [2, 2, 7], values)
        txn.transaction.command_counter_increment()
        (member, values), = txn.lookup("acc_pkey", (2,))
        assert values == (2, 2, 7) and member != tid
        assert txn.lock_row("acc", member).name == "OK"
    assert balance(engine, 2) == 7
    stats, = engine.vacuum("acc")
    assert stats.removed == 2 and stats.index_entries_removed == 0
    assert engine.verify_indexes("acc") == 10
    with engine.begin() as txn:
        (member, _), = txn.lookup("acc_pkey", (2,))
        assert txn.delete("acc", member).name == "OK"
        txn.insert("acc", [2, 0, 1])                 # the deleted key is free again
    assert balance(engine, 2) == 1
    engine.vacuum("acc")
    assert engine.verify_indexes("acc") == 10


def test_stale_key_entry_after_the_root_is_redirected(engine: Engine) -> None:
    """After pruning leaves only the newest member behind a redirect, an entry CREATE INDEX
    made for an older member's key must not find it."""
    add(engine, 3, 5)
    with engine.begin() as txn:
        txn.create_index("acc_balance", "acc", ["balance"])
    engine.vacuum("acc")                              # root 3 -> redirect to balance 5
    with engine.begin() as txn:
        assert [v for _, v in txn.lookup("acc_balance", (5,))] == [(3, 0, 5)]
        assert sorted(v[0] for _, v in txn.lookup("acc_balance", (0,))) == [
            0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert engine.verify_indexes("acc") == 10


def test_create_index_skips_an_aborted_heap_only_member(engine: Engine) -> None:
    """An aborted HOT update's version is still reached from its root until pruned: CREATE
    INDEX must not index it, or its key would stay at a root that no longer reaches it."""
    aborted_hot_update(engine, 4, 77)
    with engine.begin() as txn:
        txn.create_index("acc_balance", "acc", ["balance"])
    assert not [key for key, _ in engine.btree(
        engine.relcache.lookup("acc_balance", None)).all_entries() if key == (77,)]
    engine.vacuum("acc")                               # frees the aborted member
    assert engine.verify_indexes("acc") == 10
