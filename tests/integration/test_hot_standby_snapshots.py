"""Hot standby snapshots on a standby Engine fed with a running primary's WAL.

The primary is an ``Engine`` in this process; the standby is a copy of its data directory opened
with ``standby_mode=True``. Shipping WAL = flushing the primary's WAL and copying its segment
files into the standby's pg_wal, then ``startup.replay_available()`` (what the walreceiver and
the startup thread do continuously on a real standby).
"""

from __future__ import annotations

import os
import shutil

import pytest

from mirrordb.access.xact import IsolationLevel
from mirrordb.engine import Engine
from mirrordb.recovery.hot_standby import can_accept_read_only_connections
from mirrordb.storage import datum as T


def ship_wal(primary: Engine, standby: Engine) -> int:
    """Copy the primary's flushed WAL to the standby and replay it; returns records replayed."""
    primary.wal.flush(primary.wal.insert_lsn)
    source = os.path.join(primary.datadir, "pg_wal")
    target = os.path.join(standby.datadir, "pg_wal")
    for name in sorted(os.listdir(source)):
        if len(name) == 24:
            shutil.copyfile(os.path.join(source, name), os.path.join(target, name))
    assert standby.startup is not None
    return standby.startup.replay_available()


def ids(engine: Engine, txn=None) -> set[int]:
    if txn is not None:
        txn.new_statement()
        return {values[0] for _, values in txn.scan("t")}
    with engine.begin(read_only=True) as reader:
        return {values[0] for _, values in reader.scan("t")}


@pytest.fixture
def primary_and_standby(cluster, tmp_path):
    """A standby copied from a cleanly stopped primary (it starts at a shutdown checkpoint)."""
    standby_dir = str(tmp_path / "standby")
    shutil.copytree(cluster, standby_dir)
    primary = Engine.open(cluster, {"wal_keep_size": "1GB"})
    standby = Engine.open(standby_dir, standby_mode=True)
    try:
        yield primary, standby
    finally:
        standby.close()
        primary.close()


def test_standby_sees_committed_rows_and_never_uncommitted(primary_and_standby):
    primary, standby = primary_and_standby
    assert can_accept_read_only_connections(standby)      # shutdown checkpoint: ready at once
    with primary.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("val", T.TEXT_OID)])
        txn.create_index("t_id", "t", ["id"])
        for key in range(5):
            txn.insert("t", [key, "committed"])
    open_txn = primary.begin()
    for key in range(100, 300):                        # several pages, an index split or two
        open_txn.insert("t", [key, "not yet"])
    with primary.begin() as txn:
        txn.delete("t", next(tid for tid, values in txn.scan("t") if values[0] == 0))
    ship_wal(primary, standby)
    assert ids(standby) == {1, 2, 3, 4}                # DDL replicated, relcache refreshed
    tracker = standby.xacts.hot_standby
    assert tracker is not None and open_txn.xid in tracker.running()

    repeatable = standby.begin("repeatable read", read_only=True)
    committed_before = ids(standby, repeatable)
    open_txn.commit()
    ship_wal(primary, standby)
    assert ids(standby) == {1, 2, 3, 4} | set(range(100, 300))
    assert ids(standby, repeatable) == committed_before   # its snapshot predates the commit
    repeatable.commit()


def test_aborted_and_savepoint_rows_stay_invisible(primary_and_standby):
    primary, standby = primary_and_standby
    with primary.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID)])
    txn = primary.begin()
    txn.insert("t", [1])
    txn.savepoint("a")
    txn.insert("t", [2])
    txn.rollback_to_savepoint("a")
    txn.insert("t", [3])
    ship_wal(primary, standby)
    assert ids(standby) == set()
    txn.commit()
    aborted = primary.begin()
    aborted.insert("t", [4])
    aborted.abort()
    ship_wal(primary, standby)
    assert ids(standby) == {1, 3}
    assert standby.xacts.hot_standby is not None
    assert standby.xacts.hot_standby.running() == frozenset()


def test_standby_from_an_online_checkpoint_waits_for_running_xacts(cluster, tmp_path):
    """A copy taken at an online checkpoint while a transaction is open: the RUNNING_XACTS
    record after the REDO point lists it, so a snapshot keeps its rows out even after they
    reach the data files, and a REPEATABLE READ snapshot stays stable across its commit."""
    primary = Engine.open(cluster, {"wal_keep_size": "1GB"})
    standby = None
    try:
        with primary.begin() as txn:
            txn.create_table("t", [("id", T.INT8_OID)])
            txn.insert("t", [1])
        open_txn = primary.begin()
        open_txn.insert("t", [2])
        primary.checkpoint()
        standby_dir = str(tmp_path / "standby")
        shutil.copytree(cluster, standby_dir)
        standby = Engine.open(standby_dir, standby_mode=True)
        assert can_accept_read_only_connections(standby)
        tracker = standby.xacts.hot_standby
        assert tracker is not None and tracker.running() == frozenset({open_txn.xid})
        assert ids(standby) == {1}
        reader = standby.begin("repeatable read", read_only=True)
        assert reader.transaction.isolation == IsolationLevel.REPEATABLE_READ
        assert ids(standby, reader) == {1}
        open_txn.commit()
        ship_wal(primary, standby)
        assert ids(standby) == {1, 2}
        assert ids(standby, reader) == {1}
        reader.commit()
    finally:
        if standby is not None:
            standby.close()
        primary.close()
