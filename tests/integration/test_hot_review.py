"""HOT review findings (task H9): each test failed before its fix. Index scans over chains that
CREATE INDEX met, with snapshots older than the index."""

from __future__ import annotations

from mirrordb.engine import Engine
from tests.integration.test_hot_updates import add, make_accounts


def test_old_snapshot_does_not_match_a_stale_key_of_its_chain(cluster: str) -> None:
    """A chain built before the index holds balance 0 (root) and 5 (heap-only): a snapshot that
    sees the root version must not find it under 5, nor twice in a range over both keys."""
    engine = Engine.open(cluster)
    try:
        make_accounts(engine)
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
    finally:
        engine.close()
