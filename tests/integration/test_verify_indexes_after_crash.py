"""``Engine.verify_indexes`` after crashes that fall between WAL records of one operation.

The crash soak (tests/crash) once reported ``index "items_pkey" does not match table "items"``:
the checkpointer's WAL flush landed between a row's heap INSERT record and its B-tree record, and
the kill came before the B-tree record reached disk. Recovery then holds a heap version of an
aborted transaction with no index entry, a state PostgreSQL also leaves behind (amcheck's
heapallindexed only requires entries for versions that are not dead). The same holds for VACUUM
between its index pass and its heap pass. These tests stage both crashes deterministically (a hook
flushes the WAL and "dies" at that point) and also check that the checker still catches a live
version without its entry and an entry pointing at the wrong row.
"""

from __future__ import annotations

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Engine, Txn
from mirrordb.storage import datum as T


class Died(Exception):
    """The simulated process death, raised where the real one would strike."""


def make_items(engine: Engine, keys: range) -> None:
    with engine.begin() as txn:
        txn.create_table("items", [("id", T.INT8_OID), ("grp", T.INT4_OID)])
        txn.create_index("items_pkey", "items", ["id"], unique=True, primary=True)
        txn.create_index("items_grp", "items", ["grp"])
        for key in keys:
            txn.insert("items", [key, key % 3])


def visible(engine: Engine) -> list[int]:
    with engine.begin() as txn:
        return sorted(int(str(values[0])) for _, values in txn.scan("items"))


def reopen(cluster: str) -> Engine:
    engine = Engine.open(cluster)
    assert engine.recovery.needed
    return engine


@pytest.mark.parametrize("operation", ["insert", "update"])
def test_crash_after_the_heap_record_before_the_index_records(
        cluster: str, monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
    engine = Engine.open(cluster)
    make_items(engine, range(10))

    def flush_then_die(self: Txn, relation: object, values: object, tid: object,
                       old_values: object = None) -> None:
        engine.wal.flush(engine.wal.end_lsn)  # e.g. the checkpointer's flush, right here
        raise Died()

    monkeypatch.setattr(Txn, "_insert_index_entries", flush_then_die)
    txn = engine.begin()
    with pytest.raises(Died):
        if operation == "insert":
            txn.insert("items", [99, 0])
        else:
            (tid, _), = txn.lookup("items_pkey", (4,))
            txn.update("items", tid, [4, 0])    # grp changes: not HOT, index entries follow
    monkeypatch.undo()
    engine.crash()
    engine = reopen(cluster)
    try:
        assert visible(engine) == list(range(10))
        assert engine.verify_indexes("items") == 11  # the aborted version is still on its page
        with engine.begin() as txn:
            txn.insert("items", [99, 2])  # its key is free again: the aborted version is dead
            (tid, _), = txn.lookup("items_pkey", (4,))
            txn.update("items", tid, [4, 2])
        engine.vacuum("items")
        assert engine.verify_indexes("items") == 11
    finally:
        engine.close()


def test_crash_between_the_vacuum_index_pass_and_the_heap_pass(
        cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine.open(cluster)
    make_items(engine, range(30))
    with engine.begin() as txn:
        for tid, values in list(txn.scan("items")):
            if int(values[0]) % 2:  # type: ignore[call-overload]
                txn.delete("items", tid)

    def flush_then_die(*args: object) -> None:
        engine.wal.flush(engine.wal.end_lsn)
        raise Died()

    monkeypatch.setattr(engine.heap, "prune", flush_then_die)
    with pytest.raises(Died):
        engine.vacuum("items")
    monkeypatch.undo()
    engine.crash()
    engine = reopen(cluster)
    try:
        assert visible(engine) == list(range(0, 30, 2))
        assert engine.verify_indexes("items") == 30  # dead versions kept, entries gone
        stats, = engine.vacuum("items")
        assert stats.removed == 15
        assert engine.verify_indexes("items") == 15
    finally:
        engine.close()


def test_a_live_version_without_its_entry_is_still_reported(cluster: str) -> None:
    engine = Engine.open(cluster)
    try:
        make_items(engine, range(5))
        with engine.begin() as txn:  # heap only, bypassing the indexes
            engine.heap.insert(txn.relation("items"), txn.transaction, [7, 1])
        with pytest.raises(MirrordbError, match='index "items_pkey" does not match') as raised:
            engine.verify_indexes("items")
        assert raised.value.sqlstate == "XX002" and "(7,)" in str(raised.value.detail)
    finally:
        engine.close()


def test_an_entry_pointing_at_the_wrong_row_is_reported(cluster: str) -> None:
    engine = Engine.open(cluster)
    try:
        make_items(engine, range(5))
        with engine.begin() as txn:
            (tid, _), = txn.lookup("items_pkey", (3,))
            index = txn.relation("items_pkey")
        with engine.pool.lock:
            engine.btree(index).insert((42,), tid)
        with pytest.raises(MirrordbError, match='index "items_pkey" does not match') as raised:
            engine.verify_indexes("items")
        assert "(42,)" in str(raised.value.detail)
    finally:
        engine.close()
