"""The engine API end to end: DDL, DML, MVCC, savepoints, conflicts, sequences, VACUUM, restart."""

from __future__ import annotations

import os
import threading

import pytest

from mirrordb.access.heapam import TmResult
from mirrordb.cli.initdb import initdb
from mirrordb.common.errors import (MirrordbError, SerializationFailure, UndefinedObject,
                                    UniqueViolation)
from mirrordb.engine import Engine
from mirrordb.storage import datum as T


def rows(txn, table):
    return sorted(values for _, values in txn.scan(table))


def make_table(engine):
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("val", T.TEXT_OID)])
        txn.create_index("t_pkey", "t", ["id"], unique=True, primary=True)


def test_initdb_refuses_non_empty_directory(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "something").write_text("x")
    with pytest.raises(MirrordbError, match="exists but is not empty"):
        initdb(str(target))


def test_rows_survive_clean_restart(cluster):
    engine = Engine.open(cluster)
    make_table(engine)
    with engine.begin() as txn:
        for i in range(500):
            txn.insert("t", [i, f"row {i}"])
    engine.close()
    engine = Engine.open(cluster)
    assert not engine.recovery.needed
    txn = engine.begin()
    assert rows(txn, "t") == [(i, f"row {i}") for i in range(500)]
    assert txn.lookup("t_pkey", (42,))[0][1] == (42, "row 42")
    txn.commit()
    assert engine.verify_indexes("t") == 500
    engine.close()


def test_snapshots_and_isolation(cluster):
    engine = Engine.open(cluster)
    make_table(engine)
    writer = engine.begin()
    writer.insert("t", [1, "uncommitted"])
    reader_rc = engine.begin()
    reader_rr = engine.begin("repeatable read")
    assert rows(reader_rc, "t") == [] and rows(reader_rr, "t") == []
    assert rows(writer, "t") == []  # not even to itself, within the inserting command
    writer.new_statement()
    assert rows(writer, "t") == [(1, "uncommitted")]
    writer.commit()
    reader_rc.new_statement()
    reader_rr.new_statement()
    assert rows(reader_rc, "t") == [(1, "uncommitted")]
    assert rows(reader_rr, "t") == []
    reader_rc.commit()
    reader_rr.commit()
    engine.close()


def test_savepoints(cluster):
    engine = Engine.open(cluster)
    make_table(engine)
    with engine.begin() as txn:
        txn.insert("t", [1, "kept"])
        txn.savepoint("a")
        txn.insert("t", [2, "rolled back"])
        txn.savepoint("b")
        txn.insert("t", [3, "rolled back too"])
        txn.rollback_to_savepoint("a")
        txn.new_statement()
        assert rows(txn, "t") == [(1, "kept")]
        txn.insert("t", [2, "again"])
        txn.release_savepoint("a")
    txn = engine.begin()
    assert rows(txn, "t") == [(1, "kept"), (2, "again")]
    txn.commit()
    engine.close()


def test_unique_violation_and_reuse_after_delete(cluster):
    engine = Engine.open(cluster)
    make_table(engine)
    with engine.begin() as txn:
        txn.insert("t", [1, "a"])
    txn = engine.begin()
    with pytest.raises(UniqueViolation) as info:
        txn.insert("t", [1, "b"])
    assert info.value.sqlstate == "23505" and "Key (id)=(1) already exists." in info.value.detail
    txn.abort()
    with engine.begin() as txn:
        (tid, _), = txn.lookup("t_pkey", (1,))
        assert txn.delete("t", tid) == TmResult.OK
        txn.insert("t", [1, "c"])
    with engine.begin() as txn:
        assert rows(txn, "t") == [(1, "c")]
    engine.close()


def test_concurrent_update_waits_then_serialization_failure(cluster):
    engine = Engine.open(cluster)
    make_table(engine)
    with engine.begin() as txn:
        txn.insert("t", [1, "v0"])
    first = engine.begin()
    (tid, _), = first.lookup("t_pkey", (1,))
    assert first.update("t", tid, [1, "v1"])[0] == TmResult.OK
    second = engine.begin("repeatable read")
    (tid2, _), = second.lookup("t_pkey", (1,))
    outcome: list[object] = []
    started = threading.Event()

    def contender():
        started.set()
        try:
            outcome.append(second.update("t", tid2, [1, "v2"]))
        except SerializationFailure as error:
            outcome.append(error)

    thread = threading.Thread(target=contender)
    thread.start()
    started.wait(5)
    assert not outcome  # blocked behind the first writer
    first.commit()
    thread.join(10)
    assert isinstance(outcome[0], SerializationFailure)
    assert outcome[0].sqlstate == "40001"
    second.abort()
    engine.close()


def test_read_committed_update_follows_chain(cluster):
    engine = Engine.open(cluster)
    make_table(engine)
    with engine.begin() as txn:
        txn.insert("t", [1, "v0"])
    first = engine.begin()
    (tid, _), = first.lookup("t_pkey", (1,))
    first.update("t", tid, [1, "v1"])
    first.commit()
    second = engine.begin()
    result, _ = second.update("t", tid, [1, "v2"])
    assert result == TmResult.UPDATED
    latest = second.latest_version("t", tid)
    assert second.update("t", latest, [1, "v2"])[0] == TmResult.OK
    second.commit()
    with engine.begin() as txn:
        assert rows(txn, "t") == [(1, "v2")]
    engine.close()


def test_sequences_never_repeat_after_crash(cluster):
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        txn.create_sequence("s")
    with engine.begin() as txn:
        values = [txn.nextval("s") for _ in range(40)]
    assert values == list(range(1, 41))
    engine.crash()
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        after = txn.nextval("s")
    assert after > 40
    engine.close()


def test_vacuum_removes_dead_versions_and_reuses_space(cluster):
    engine = Engine.open(cluster)
    make_table(engine)
    with engine.begin() as txn:
        for i in range(300):
            txn.insert("t", [i, "x" * 100])
    with engine.begin() as txn:
        rnode = txn.relation("t").rnode
    pages_before = engine.pool.nblocks(rnode)
    with engine.begin() as txn:
        for tid, values in list(txn.scan("t")):
            if values[0] % 2 == 0:
                txn.delete("t", tid)
    stats, = engine.vacuum("t")
    assert stats.removed == 150 and stats.recently_dead == 0
    assert stats.index_entries_removed == 150
    with engine.begin() as txn:
        for i in range(1000, 1150):
            txn.insert("t", [i, "x" * 100])
    assert engine.pool.nblocks(rnode) <= pages_before + 1
    assert engine.verify_indexes("t") == 300
    engine.close()


def test_vacuum_keeps_versions_a_snapshot_needs(cluster):
    engine = Engine.open(cluster)
    make_table(engine)
    with engine.begin() as txn:
        txn.insert("t", [1, "a"])
    old_reader = engine.begin("repeatable read")
    assert rows(old_reader, "t") == [(1, "a")]
    with engine.begin() as txn:
        (tid, _), = txn.lookup("t_pkey", (1,))
        txn.delete("t", tid)
    stats, = engine.vacuum("t")
    assert stats.removed == 0 and stats.recently_dead == 1
    assert rows(old_reader, "t") == [(1, "a")]
    old_reader.commit()
    stats, = engine.vacuum("t")
    assert stats.removed == 1
    engine.close()


def test_drop_and_aborted_create_remove_files(cluster):
    engine = Engine.open(cluster)
    make_table(engine)
    txn = engine.begin()
    table = txn.relation("t")
    txn.commit()
    path = os.path.join(cluster, table.rnode.relative_path())
    assert os.path.exists(path)
    txn = engine.begin()
    txn.drop("t")
    assert os.path.exists(path)
    txn.commit()
    assert not os.path.exists(path)
    txn = engine.begin()
    created = txn.create_table("u", [("a", T.INT4_OID)])
    created_path = os.path.join(cluster, created.rnode.relative_path())
    txn.abort()
    assert not os.path.exists(created_path)
    txn = engine.begin()
    with pytest.raises(UndefinedObject):
        txn.relation("u")
    txn.abort()
    engine.close()


def test_truncate_is_transactional(cluster):
    engine = Engine.open(cluster)
    make_table(engine)
    with engine.begin() as txn:
        for i in range(10):
            txn.insert("t", [i, "a"])
    txn = engine.begin()
    txn.truncate("t")
    txn.new_statement()
    assert rows(txn, "t") == []
    txn.abort()
    with engine.begin() as txn:
        assert len(rows(txn, "t")) == 10
        txn.truncate("t")
    with engine.begin() as txn:
        assert rows(txn, "t") == []
        txn.insert("t", [1, "after"])
    assert engine.verify_indexes("t") == 1
    engine.close()
