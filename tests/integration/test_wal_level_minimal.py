"""wal_level = minimal: changes to relations created by their running transaction skip WAL.

A CREATE TABLE (or INDEX, SEQUENCE, or the new file of a TRUNCATE) followed by changes in the same
transaction writes no heap, B-tree or sequence records; the commit makes the relation durable first
(full-page images below wal_skip_threshold, an fsync above it), so the rows survive a crash right
after the commit (``Engine.crash()``: dirty buffers are lost). An aborted one leaves no file. Under
wal_level = replica nothing changes.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter

import pytest

from mirrordb.engine import Engine
from mirrordb.storage import datum as T
from mirrordb.storage.control import WAL_LEVEL_MINIMAL, WAL_LEVEL_REPLICA, read_control_file
from mirrordb.storage.relfilenode import MAIN_FORKNUM
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal import payloads
from mirrordb.wal.rmgr import (RM_MIRRORDB_BTREE_ID, RM_MIRRORDB_HEAP_ID,
                               RM_MIRRORDB_SEQUENCE_ID, RM_XLOG_ID, XLOG_FPI,
                               XLOG_PARAMETER_CHANGE)

PG_CONTROLDATA = "/usr/lib/postgresql/15/bin/pg_controldata"

MINIMAL = {"wal_level": "minimal"}
ROWS = 600


def records_since(engine: Engine, start_lsn: int) -> list:
    """The valid records from ``start_lsn`` in the engine's pg_wal (after a flush)."""
    engine.wal.flush(engine.wal.end_lsn)
    control = engine.control
    with SegmentFileSource(os.path.join(engine.datadir, "pg_wal"),
                           control.checkpoint.this_timeline, control.xlog_seg_size) as source:
        reader = WalReader(source, control.xlog_seg_size)
        return list(reader.records_from(start_lsn))


def by_resource_manager(records: list) -> Counter:
    return Counter(record.rmid for record in records)


def fpi_blocks(records: list, rel: int) -> int:
    return sum(1 for record in records if record.rmid == RM_XLOG_ID
               and record.info & 0xF0 == XLOG_FPI for block in record.blocks
               if block.rnode.rel == rel)


def create_and_load(engine: Engine, rows: int = ROWS) -> int:
    """CREATE TABLE + index + sequence and fill them, all in one transaction; returns the
    table's relfilenode."""
    with engine.begin() as txn:
        txn.create_table("items", [("id", T.INT8_OID), ("name", T.TEXT_OID)])
        txn.create_index("items_pkey", "items", ["id"], unique=True, primary=True)
        txn.create_sequence("items_id")
        for _ in range(rows):
            key = txn.nextval("items_id")
            txn.insert("items", [key, f"item number {key:05d}"])
        txn.new_statement()
        assert len(txn.lookup("items_pkey", (rows // 2,))) == 1
        rel = txn.relation("items").rnode.rel
    return rel


def check_items(engine: Engine, rows: int = ROWS, versions: int = ROWS) -> None:
    with engine.begin() as txn:
        found = sorted(values for _, values in txn.scan("items"))
        assert found == [(key, f"item number {key:05d}") for key in range(1, rows + 1)]
        assert [v for _, v in txn.index_scan("items_pkey", (10,), (12,))] == [
            (key, f"item number {key:05d}") for key in (10, 11, 12)]
    assert engine.verify_indexes("items") == versions


def test_create_and_load_skips_wal_and_survives_a_crash(cluster):
    engine = Engine.open(cluster, MINIMAL)
    start_lsn = engine.wal.insert_lsn
    rel = create_and_load(engine)
    records = records_since(engine, start_lsn)
    counts = by_resource_manager(records)
    heap_records = [r for r in records if r.rmid == RM_MIRRORDB_HEAP_ID
                    and r.blocks[0].rnode.rel == rel]
    assert heap_records == []
    assert counts[RM_MIRRORDB_BTREE_ID] == 0 and counts[RM_MIRRORDB_SEQUENCE_ID] == 0
    assert fpi_blocks(records, rel) == engine.pool.nblocks(
        engine.relcache.lookup("items", None).rnode, MAIN_FORKNUM)
    assert engine.env.changes.skipped_relations() == []
    engine.crash()

    engine = Engine.open(cluster, MINIMAL)
    assert engine.recovery.needed
    check_items(engine)
    with engine.begin() as txn:
        assert txn.nextval("items_id") > ROWS
    engine.close()


def test_the_same_transaction_under_replica_logs_every_change(cluster):
    engine = Engine.open(cluster)
    start_lsn = engine.wal.insert_lsn
    rel = create_and_load(engine)
    records = records_since(engine, start_lsn)
    assert sum(1 for r in records if r.rmid == RM_MIRRORDB_HEAP_ID
               and r.blocks[0].rnode.rel == rel) == ROWS
    assert by_resource_manager(records)[RM_MIRRORDB_BTREE_ID] > ROWS
    assert fpi_blocks(records, rel) == 0
    engine.crash()
    engine = Engine.open(cluster)
    check_items(engine)
    engine.close()


def test_large_relations_are_fsynced_instead(cluster):
    """Above wal_skip_threshold no images are logged; the data files themselves are durable,
    and the first change after the commit carries a full-page image (fake LSNs are old)."""
    settings = {**MINIMAL, "wal_skip_threshold": "8kB"}
    engine = Engine.open(cluster, settings)
    start_lsn = engine.wal.insert_lsn
    rel = create_and_load(engine)
    records = records_since(engine, start_lsn)
    assert fpi_blocks(records, rel) == 0
    assert not [r for r in records if r.rmid == RM_MIRRORDB_HEAP_ID
                and r.blocks[0].rnode.rel == rel]

    start_lsn = engine.wal.insert_lsn
    with engine.begin() as txn:
        tid = txn.lookup("items_pkey", (7,))[0][0]
        txn.update("items", tid, [7, "item number 00007"])
    updates = [r for r in records_since(engine, start_lsn) if r.rmid == RM_MIRRORDB_HEAP_ID]
    assert updates and all(block.image is not None for block in updates[0].blocks)
    engine.crash()

    engine = Engine.open(cluster, settings)
    check_items(engine, versions=ROWS + 1)
    engine.close()


def test_an_aborted_create_leaves_nothing(cluster):
    engine = Engine.open(cluster, MINIMAL)
    txn = engine.begin()
    txn.create_table("doomed", [("a", T.INT4_OID)])
    txn.create_index("doomed_a", "doomed", ["a"])
    for i in range(300):
        txn.insert("doomed", [i])
    rnodes = [txn.relation("doomed").rnode, txn.relation("doomed_a").rnode]
    txn.abort()
    assert not any(engine.smgr.exists(rnode) for rnode in rnodes)
    assert engine.env.changes.skipped_relations() == []
    assert "doomed" not in engine.table_names()
    engine.crash()
    engine = Engine.open(cluster, MINIMAL)
    assert "doomed" not in engine.table_names()
    assert not any(engine.smgr.exists(rnode) for rnode in rnodes)
    engine.close()


def test_savepoints_truncate_and_later_transactions(cluster):
    engine = Engine.open(cluster, MINIMAL)
    with engine.begin() as txn:
        txn.create_table("kept", [("a", T.INT4_OID)])
        txn.savepoint("s1")
        txn.create_table("rolled_back", [("a", T.INT4_OID)])
        txn.insert("rolled_back", [1])
        rolled_back = txn.relation("rolled_back").rnode
        txn.rollback_to_savepoint("s1")
        txn.savepoint("s2")
        for i in range(50):
            txn.insert("kept", [i])
        txn.release_savepoint("s2")
    assert not engine.smgr.exists(rolled_back)
    assert engine.env.changes.skipped_relations() == []

    start_lsn = engine.wal.insert_lsn
    with engine.begin() as txn:                # not created here: logged as usual
        txn.insert("kept", [50])
    assert by_resource_manager(records_since(engine, start_lsn))[RM_MIRRORDB_HEAP_ID] == 1

    start_lsn = engine.wal.insert_lsn
    with engine.begin() as txn:                # TRUNCATE gives a new file: skipped again
        old = txn.relation("kept").rnode
        txn.truncate("kept")
        for i in range(100, 120):
            txn.insert("kept", [i])
        new = txn.relation("kept").rnode
    assert not [r for r in records_since(engine, start_lsn)
                if r.rmid == RM_MIRRORDB_HEAP_ID and r.blocks[0].rnode == new]
    assert not engine.smgr.exists(old)
    engine.crash()

    engine = Engine.open(cluster, MINIMAL)
    with engine.begin() as txn:
        assert sorted(v[0] for _, v in txn.scan("kept")) == list(range(100, 120))
    assert "rolled_back" not in engine.table_names()
    engine.close()


def test_create_and_drop_in_one_transaction_syncs_nothing(cluster):
    engine = Engine.open(cluster, MINIMAL)
    start_lsn = engine.wal.insert_lsn
    with engine.begin() as txn:
        txn.create_table("brief", [("a", T.INT4_OID)])
        txn.insert("brief", [1])
        rel = txn.relation("brief").rnode.rel
        txn.drop("brief")
    assert fpi_blocks(records_since(engine, start_lsn), rel) == 0
    assert engine.env.changes.skipped_relations() == []
    engine.close()


def parameter_changes(engine: Engine, start_lsn: int) -> list[payloads.ParameterChange]:
    return [payloads.ParameterChange.decode(r.main_data) for r in records_since(engine, start_lsn)
            if r.rmid == RM_XLOG_ID and r.info & 0xF0 == XLOG_PARAMETER_CHANGE]


def test_a_wal_level_change_is_logged_and_recorded_in_pg_control(cluster):
    start_lsn = read_control_file(cluster).checkpoint.redo
    engine = Engine.open(cluster, MINIMAL)
    assert engine.control.wal_level == read_control_file(cluster).wal_level == WAL_LEVEL_MINIMAL
    assert [c.wal_level for c in parameter_changes(engine, start_lsn)] == [WAL_LEVEL_MINIMAL]
    engine.close()
    if os.path.exists(PG_CONTROLDATA):
        output = subprocess.run([PG_CONTROLDATA, cluster], capture_output=True, text=True,
                                check=True).stdout
        assert "wal_level setting:                    minimal" in output
    engine = Engine.open(cluster, MINIMAL)          # unchanged: nothing logged
    assert parameter_changes(engine, engine.wal.insert_lsn) == []
    start_lsn = engine.wal.insert_lsn
    engine.close()
    engine = Engine.open(cluster, {"max_connections": "50"})
    changes = parameter_changes(engine, start_lsn)
    assert [(c.wal_level, c.max_connections) for c in changes] == [(WAL_LEVEL_REPLICA, 50)]
    assert read_control_file(cluster).max_connections == 50
    engine.close()


@pytest.mark.parametrize("level", ["minimal", "replica"])
def test_an_unchanged_wal_level_logs_nothing(cluster, level):
    engine = Engine.open(cluster, {"wal_level": level})
    engine.close()
    engine = Engine.open(cluster, {"wal_level": level})
    start_lsn = read_control_file(cluster).checkpoint.redo
    assert parameter_changes(engine, start_lsn) == []
    engine.close()
