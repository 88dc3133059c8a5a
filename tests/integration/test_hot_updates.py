"""HOT updates through the engine: no index entries for heap-only versions, index scans and
unique checks follow the chain from its root, pruning on a full page and VACUUM redirect and free
chain members, CREATE INDEX over chains, crash recovery, and UPDATE/DELETE through index tids."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mirrordb.access.heapam import chain_roots
from mirrordb.common.errors import UniqueViolation
from mirrordb.engine import Engine
from mirrordb.storage import datum as T
from mirrordb.storage import page as pagelib
from mirrordb.storage.relfilenode import MAIN_FORKNUM


def make_accounts(engine: Engine, count: int = 10) -> None:
    with engine.begin() as txn:
        txn.create_table("acc", [("id", T.INT8_OID), ("grp", T.INT4_OID),
                                 ("balance", T.INT8_OID)])
        txn.create_index("acc_pkey", "acc", ["id"], unique=True, primary=True)
        txn.create_index("acc_grp", "acc", ["grp"])
        for key in range(count):
            txn.insert("acc", [key, key % 3, 0])


@pytest.fixture
def engine(cluster: str) -> Iterator[Engine]:
    """An engine on the test cluster with ``make_accounts``' table; closed after the test."""
    opened = Engine.open(cluster)
    try:
        make_accounts(opened)
        yield opened
    finally:
        opened.close()


def entries(engine: Engine, index: str) -> list[tuple[object, ...]]:
    with engine.begin() as txn:
        return sorted(engine.btree(txn.relation(index)).all_entries())


def add(engine: Engine, key: int, amount: int) -> tuple[int, int]:
    """UPDATE acc SET balance = balance + amount WHERE id = key, through the primary key."""
    with engine.begin() as txn:
        (tid, values), = txn.lookup("acc_pkey", (key,))
        result, new_tid = txn.update("acc", tid, [values[0], values[1], values[2] + amount],
                                     values)
        assert result.name == "OK"
        return new_tid


def aborted_hot_update(engine: Engine, key: int, amount: int) -> None:
    """A HOT update of the balance (unindexed in make_accounts) whose transaction aborts."""
    txn = engine.begin()
    (tid, values), = txn.lookup("acc_pkey", (key,))
    txn.update("acc", tid, [values[0], values[1], values[2] + amount], values)
    txn.abort()


def balance(engine: Engine, key: int) -> int:
    with engine.begin() as txn:
        (_, values), = txn.lookup("acc_pkey", (key,))
        return int(values[2])  # type: ignore[call-overload]


def line_pointer_flags(engine: Engine, table: str, blkno: int = 0) -> list[int]:
    with engine.begin() as txn:
        rnode = txn.relation(table).rnode
    with engine.pool.lock:
        buffer = engine.pool.read_buffer(rnode, MAIN_FORKNUM, blkno)
        try:
            page = buffer.page
            return [pagelib.get_item_id(page, o)[1] for o in range(1, pagelib.max_offset(page) + 1)]
        finally:
            engine.pool.release(buffer)


def test_update_of_unindexed_column_adds_no_index_entries(engine: Engine) -> None:
    before = (entries(engine, "acc_pkey"), entries(engine, "acc_grp"))
    for round_number in range(5):
        add(engine, 4, 10)
    assert (entries(engine, "acc_pkey"), entries(engine, "acc_grp")) == before
    assert balance(engine, 4) == 50
    with engine.begin() as txn:
        assert [v for _, v in txn.lookup("acc_grp", (1,))] == [
            (1, 1, 0), (4, 1, 50), (7, 1, 0)]
    # an indexed column change is not HOT: the new version gets its entries
    with engine.begin() as txn:
        (tid, values), = txn.lookup("acc_pkey", (4,))
        txn.update("acc", tid, [4, 2, values[2]])
    assert len(entries(engine, "acc_grp")) == 11
    with engine.begin() as txn:
        assert sorted(v[0] for _, v in txn.lookup("acc_grp", (2,))) == [2, 4, 5, 8]
    assert engine.verify_indexes("acc") == 16     # every version on the page


def test_unique_violation_sees_the_chain(engine: Engine) -> None:
    for _ in range(3):
        add(engine, 2, 1)
    with engine.begin() as txn, pytest.raises(UniqueViolation):
        txn.insert("acc", [2, 0, 0])
    with engine.begin() as txn:
        (tid, _), = txn.lookup("acc_pkey", (2,))
        txn.delete("acc", tid)
    with engine.begin() as txn:
        txn.insert("acc", [2, 0, 7])       # the whole chain is dead: the key is free
    assert balance(engine, 2) == 7


def test_old_snapshot_reads_its_version_through_the_root(engine: Engine) -> None:
    reader = engine.begin("repeatable read")
    assert [v for _, v in reader.lookup("acc_pkey", (3,))] == [(3, 0, 0)]
    add(engine, 3, 5)
    add(engine, 3, 5)
    assert [v for _, v in reader.lookup("acc_pkey", (3,))] == [(3, 0, 0)]
    stats, = engine.vacuum("acc")
    assert stats.removed == 0 and stats.recently_dead == 2
    reader.commit()
    assert balance(engine, 3) == 10


def test_full_page_prunes_and_vacuum_frees_chains(engine: Engine) -> None:
    tids = {add(engine, key % 10, 1) for key in range(2000)}
    # pruning on the full page kept every update HOT on page 0
    assert {blkno for blkno, _ in tids} == {0}
    with engine.begin() as txn:
        assert engine.pool.nblocks(txn.relation("acc").rnode) == 1
    assert len(entries(engine, "acc_pkey")) == 10
    assert [balance(engine, key) for key in range(10)] == [200] * 10
    flags = line_pointer_flags(engine, "acc")
    assert flags[:10].count(pagelib.LP_REDIRECT) == 10
    stats, = engine.vacuum("acc")
    assert stats.index_entries_removed == 0
    assert engine.verify_indexes("acc") == 10
    # delete half: their chains die wholly, VACUUM removes their entries and roots
    with engine.begin() as txn:
        for tid, values in list(txn.scan("acc")):
            if values[0] % 2:
                txn.delete("acc", tid)
    stats, = engine.vacuum("acc")
    assert stats.index_entries_removed == 10         # 5 rows x 2 indexes
    assert len(entries(engine, "acc_pkey")) == 5
    assert engine.verify_indexes("acc") == 5
    with engine.begin() as txn:
        assert sorted(v[0] for _, v in txn.scan("acc")) == [0, 2, 4, 6, 8]


def test_aborted_hot_update_then_non_hot_update(engine: Engine) -> None:
    aborted_hot_update(engine, 5, 99)
    with engine.begin() as txn:
        (tid, values), = txn.lookup("acc_pkey", (5,))
        assert values == (5, 2, 0)
        txn.update("acc", tid, [5, 0, 1], values)     # grp changes: not HOT
    with engine.begin() as txn:
        assert sorted(v for _, v in txn.lookup("acc_grp", (0,))) == [
            (0, 0, 0), (3, 0, 0), (5, 0, 1), (6, 0, 0), (9, 0, 0)]
    engine.vacuum("acc")
    assert engine.verify_indexes("acc") == 10
    assert balance(engine, 5) == 1


def test_create_index_over_chains(engine: Engine) -> None:
    for key in range(10):
        add(engine, key, key)
    with engine.begin() as txn:
        txn.create_index("acc_balance", "acc", ["balance"])
    with engine.begin() as txn:
        assert [v[0] for _, v in txn.lookup("acc_balance", (7,))] == [7]
        assert txn.lookup("acc_balance", (0,)) == [(txn.lookup("acc_pkey", (0,))[0][0],
                                                     (0, 0, 0))]
    # every entry carries a chain root
    with engine.begin() as txn:
        rnode = txn.relation("acc").rnode
    with engine.pool.lock:
        buffer = engine.pool.read_buffer(rnode, MAIN_FORKNUM, 0)
        roots = set(chain_roots(buffer.page))
        engine.pool.release(buffer)
    assert {tid[1] for _, tid in entries(engine, "acc_balance")} <= roots
    # balance is indexed now: changing it is no longer HOT
    add(engine, 7, 1)
    with engine.begin() as txn:
        assert sorted(v[0] for _, v in txn.lookup("acc_balance", (8,))) == [7, 8]


def test_crash_recovery_replays_hot_updates_and_prunes(cluster: str) -> None:
    engine = Engine.open(cluster)
    make_accounts(engine)
    for key in range(1500):
        add(engine, key % 10, 1)
    engine.wal.flush(engine.wal.end_lsn)
    engine.crash()
    engine = Engine.open(cluster)
    try:
        assert [balance(engine, key) for key in range(10)] == [150] * 10
        engine.verify_indexes("acc")
        with engine.begin() as txn, pytest.raises(UniqueViolation):
            txn.insert("acc", [1, 0, 0])
    finally:
        engine.close()


def test_pruning_leaves_dead_roots_until_vacuum(engine: Engine) -> None:
    with engine.begin() as txn:
        (tid, _), = txn.lookup("acc_pkey", (9,))
        txn.delete("acc", tid)
    for key in range(1200):              # enough to fill the page and prune it
        add(engine, key % 9, 1)
    assert pagelib.LP_DEAD in line_pointer_flags(engine, "acc")
    engine.verify_indexes("acc")         # entries of the dead root are still there
    with engine.begin() as txn:
        assert txn.lookup("acc_pkey", (9,)) == []
        txn.insert("acc", [9, 0, 0])
    stats, = engine.vacuum("acc")
    assert stats.index_entries_removed == 2
    assert pagelib.LP_DEAD not in line_pointer_flags(engine, "acc")
    engine.verify_indexes("acc")
    assert balance(engine, 9) == 0
