"""Several databases through the engine API: each database's view (``engine.database(oid)``) has
its own catalogs and relation cache over the cluster's WAL, buffers, transactions and locks.

What a user never sees directly but everything relies on: a relation name means a different
relation in each database; the new database's files are the template's; its relations live in
its own directory; locks, commit records and autovacuum name the right database; a catalog
change empties every database's relation cache; a dropped database leaves no buffer or file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from mirrordb.access import lmgr
from mirrordb.catalog import bootstrap as boot
from mirrordb.engine import Engine
from mirrordb.storage import datum as T
from mirrordb.wal import payloads, rmgr
from mirrordb.wal.reader import SegmentFileSource, WalReader

NEW_DATABASE_OID = 20000


@pytest.fixture
def engine(cluster: str) -> Iterator[Engine]:
    engine = Engine.open(cluster)
    yield engine
    engine.close()


def create(engine: Engine, oid: int, name: str, strategy: str = "wal_log") -> Engine:
    with engine.begin() as txn:
        txn.create_database(oid, name, boot.BOOTSTRAP_SUPERUSER_OID,
                            boot.TEMPLATE1_DATABASE_OID, strategy=strategy)
    return engine.database(oid)


def database_names(engine: Engine) -> list[str]:
    return sorted(str(values[1]) for _, values in engine.relcache.rows(boot.PG_DATABASE, None))


def test_initdb_makes_the_three_databases_with_their_own_catalog_files(engine: Engine) -> None:
    assert database_names(engine) == ["postgres", "template0", "template1"]
    for oid in (boot.TEMPLATE1_DATABASE_OID, boot.TEMPLATE0_DATABASE_OID,
                boot.POSTGRES_DATABASE_OID):
        directory = engine.smgr.database_directory(oid)
        names = set(os.listdir(directory))
        assert "PG_VERSION" in names
        assert str(boot.PG_CLASS_OID) in names and str(boot.PG_DATABASE_OID) not in names
        view = engine.database(oid)
        assert view.database_oid == oid
        assert view.relcache.lookup("pg_class", None).rnode.db == oid   # type: ignore[union-attr]
    assert engine.database(boot.POSTGRES_DATABASE_OID) is engine


@pytest.mark.parametrize("strategy", ["wal_log", "file_copy"])
def test_same_name_is_a_different_relation_in_each_database(engine: Engine,
                                                            strategy: str) -> None:
    with engine.begin() as txn:
        txn.create_table("t", [("v", T.TEXT_OID)])
        txn.insert("t", ["in postgres"])
    other = create(engine, NEW_DATABASE_OID, "other", strategy)
    assert other.relcache.lookup("t", None) is None
    with other.begin() as txn:
        table = txn.create_table("t", [("v", T.TEXT_OID), ("n", T.INT4_OID)])
        txn.insert("t", ["in other", 1])
    assert table.rnode.db == NEW_DATABASE_OID
    assert os.path.exists(os.path.join(engine.smgr.database_directory(NEW_DATABASE_OID),
                                       str(table.rnode.rel)))
    with engine.begin() as txn:
        assert [values for _, values in txn.scan("t")] == [("in postgres",)]
    with other.begin() as txn:
        assert [values for _, values in txn.scan("t")] == [("in other", 1)]
    assert other.table_names() == ["t"] and engine.table_names() == ["t"]


def test_new_database_copies_the_templates_pages_and_logs_them(engine: Engine) -> None:
    start = engine.wal.insert_lsn
    template1 = engine.database(boot.TEMPLATE1_DATABASE_OID)
    with template1.begin() as txn:
        txn.create_table("from_template", [("v", T.INT4_OID)])
        txn.insert("from_template", [42])
    engine.pool.flush_all()
    copy = create(engine, NEW_DATABASE_OID, "copy")
    with copy.begin() as txn:
        assert [values for _, values in txn.scan("from_template")] == [(42,)]
    engine.checkpoint()
    source = engine.smgr.database_directory(boot.TEMPLATE1_DATABASE_OID)
    target = engine.smgr.database_directory(NEW_DATABASE_OID)
    assert sorted(os.listdir(source)) == sorted(os.listdir(target))
    kinds = set()
    segment_size = engine.control.xlog_seg_size
    source = SegmentFileSource(os.path.join(engine.datadir, "pg_wal"), 1, segment_size)
    for record in WalReader(source, segment_size).records_from(start):
        info = record.info & rmgr.XLR_RMGR_INFO_MASK
        if record.rmid == rmgr.RM_DBASE_ID:
            kinds.add(("dbase", info, payloads.DbaseCreateWalLog.decode(record.main_data).db))
        elif record.rmid == rmgr.RM_XLOG_ID and info == rmgr.XLOG_FPI:
            kinds.update(("fpi", block.rnode.db) for block in record.blocks)
        if record.end_lsn >= engine.wal.insert_lsn:
            break
    assert ("dbase", rmgr.XLOG_DBASE_CREATE_WAL_LOG, NEW_DATABASE_OID) in kinds
    assert ("fpi", NEW_DATABASE_OID) in kinds


def test_locks_and_commit_records_name_the_database(engine: Engine) -> None:
    other = create(engine, NEW_DATABASE_OID, "other")
    with other.begin() as txn:
        table = txn.create_table("t", [("v", T.INT4_OID)])
    with other.begin() as txn:
        txn.lock_relation(table.oid, lmgr.LockMode.ACCESS_EXCLUSIVE)
        assert txn.relation_tag(table.oid) == (NEW_DATABASE_OID, table.oid)
        held = engine.xacts.locks.locked_relations(lmgr.LockMode.ACCESS_EXCLUSIVE)
        assert any(tag == (NEW_DATABASE_OID, table.oid) for tag, _ in held)
        assert txn.transaction.database_oid == NEW_DATABASE_OID


def test_catalog_change_in_one_database_empties_every_relation_cache(engine: Engine) -> None:
    other = create(engine, NEW_DATABASE_OID, "other")
    before = (engine.relcache.generation, other.relcache.generation)
    with other.begin() as txn:
        txn.create_table("t", [("v", T.INT4_OID)])
    assert engine.relcache.generation > before[0] and other.relcache.generation > before[1]


def test_autovacuum_finds_a_table_in_any_database(engine: Engine) -> None:
    other = create(engine, NEW_DATABASE_OID, "other")
    with other.begin() as txn:
        table = txn.create_table("t", [("v", T.INT4_OID)])
        for value in range(50):
            txn.insert("t", [value])
    with other.begin() as txn:
        for tid, _ in list(txn.scan("t")):
            txn.delete("t", tid)
    assert engine.autovacuum_table(table.oid, threading.Event()) is True
    assert engine.autovacuum_table(424242, threading.Event()) is False


def test_drop_database_removes_its_files_buffers_and_view(engine: Engine) -> None:
    other = create(engine, NEW_DATABASE_OID, "other")
    with other.begin() as txn:
        txn.create_table("t", [("v", T.INT4_OID)])
        txn.insert("t", [1])
    directory = engine.smgr.database_directory(NEW_DATABASE_OID)
    assert os.path.isdir(directory)
    with engine.begin() as txn:
        txn.drop_database(NEW_DATABASE_OID)
    assert not os.path.exists(directory)
    assert "other" not in database_names(engine)
    assert not any(buffer.tag is not None and buffer.tag[0].db == NEW_DATABASE_OID
                   for buffer in engine.pool._buffers)
    assert engine.database(NEW_DATABASE_OID) is not other    # a new view, not the old cache
    engine.checkpoint()                                      # nothing left to write there


def test_crash_recovery_replays_create_and_drop(cluster: str) -> None:
    engine = Engine.open(cluster)
    create(engine, NEW_DATABASE_OID, "kept")
    with engine.database(NEW_DATABASE_OID).begin() as txn:
        txn.create_table("t", [("v", T.INT4_OID)])
        txn.insert("t", [7])
    create(engine, NEW_DATABASE_OID + 1, "dropped", "file_copy")
    with engine.begin() as txn:
        txn.drop_database(NEW_DATABASE_OID + 1)
    engine.wal.flush(engine.wal.insert_lsn)
    engine.crash()
    engine = Engine.open(cluster)
    try:
        assert database_names(engine) == ["kept", "postgres", "template0", "template1"]
        with engine.database(NEW_DATABASE_OID).begin() as txn:
            assert [values for _, values in txn.scan("t")] == [(7,)]
        assert not os.path.exists(engine.smgr.database_directory(NEW_DATABASE_OID + 1))
    finally:
        engine.close()


def test_vacuum_of_a_database_view_vacuums_that_databases_tables(engine: Engine) -> None:
    other = create(engine, NEW_DATABASE_OID, "other")
    with engine.begin() as txn:
        kept = txn.create_table("in_postgres", [("v", T.INT4_OID)])
    with other.begin() as txn:
        table = txn.create_table("in_other", [("v", T.INT4_OID)])
        for value in range(20):
            txn.insert(table, [value])
    with other.begin() as txn:
        for tid, _ in list(txn.scan(table)):
            txn.delete(table, tid)
    first = {stats.relation: stats.removed for stats in other.vacuum()}
    assert first["in_other"] == 20 and "in_postgres" not in first
    assert [stats.removed for stats in other.vacuum(table.oid)] == [0]   # nothing left
    assert "in_other" not in {stats.relation for stats in engine.vacuum()}
    assert kept.oid in engine.table_oids() and kept.oid not in other.table_oids()
