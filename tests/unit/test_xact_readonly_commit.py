"""Ending a transaction that never took an xid (the read-only fast path of ``commit``).

It must leave the running set exactly as ``finish`` + ``unregister`` did, remove only its own
proc (procs are compared by identity), and keep visibility for the others unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mirrordb.access.xact import Proc, TransactionState
from mirrordb.engine import Engine
from mirrordb.storage import datum as T


@pytest.fixture
def engine(cluster: str) -> Iterator[Engine]:
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("val", T.TEXT_OID)])
        txn.insert("t", [1, "v0"])
    yield engine
    engine.close()


def test_procs_with_equal_fields_are_distinct() -> None:
    assert Proc() != Proc()
    assert len({id(p) for p in [Proc(), Proc()]}) == 2


def test_read_only_commit_removes_only_its_own_proc(engine: Engine) -> None:
    first = engine.begin("read committed", True)
    second = engine.begin("read committed", True)
    second.transaction.proc.xmin = 0          # fields now equal to first's after it ends
    assert first.commit() == 0
    assert first.transaction.state is TransactionState.COMMITTED
    running = engine.xacts.activity()
    assert any(proc is second.transaction.proc for proc in running)
    assert not any(proc is first.transaction.proc for proc in running)
    assert first.transaction.proc.xmin == 0 and first.transaction.proc.xid == 0
    second.commit()
    assert not any(proc is second.transaction.proc for proc in engine.xacts.activity())


def test_reader_still_sees_rows_and_writer_still_commits(engine: Engine) -> None:
    reader = engine.begin("repeatable read", True)
    with engine.begin() as writer:
        writer.insert("t", [2, "v1"])
    assert reader.commit() == 0
    with engine.begin() as txn:
        assert sorted(values[0] for _, values in txn.scan("t")) == [1, 2]
