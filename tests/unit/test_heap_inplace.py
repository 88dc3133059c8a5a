"""In-place updates (access/heap_inplace.py, catalog/relstats.py): the page function overwrites
only a tuple's data, refuses a change of length; VACUUM's and ANALYZE-like statistics updates of
a pg_class row write PostgreSQL's XLOG_HEAP_INPLACE record (rmgr Heap, offnum main data, the
new tuple data as block 0's data), leave no new row version, and crash recovery rebuilds the
pg_class page byte for byte from them."""

from __future__ import annotations

import pytest

from mirrordb.access import heap_inplace
from mirrordb.catalog import bootstrap as boot
from mirrordb.catalog import relstats
from mirrordb.common.errors import InvariantViolation
from mirrordb.engine import Engine
from mirrordb.storage import page as pagelib
from mirrordb.storage import tuple as tuplelib
from mirrordb.storage.relfilenode import MAIN_FORKNUM
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.rmgr import RM_HEAP_ID


def _page_with_tuple(data: bytes) -> bytearray:
    page = pagelib.new_page()
    pagelib.page_init(page)
    pagelib.add_item(page, tuplelib.form_tuple(5, 0, 2, data, None), 1)
    return page


def test_page_inplace_overwrites_only_the_data() -> None:
    page = _page_with_tuple(b"\x01\x00\x00\x00\x02\x00\x00\x00")
    before = bytes(page)
    heap_inplace.page_inplace(page, 1, b"\x07\x00\x00\x00\x08\x00\x00\x00")
    item = pagelib.get_item(page, 1)
    assert bytes(tuplelib.tuple_data(item)[0]) == b"\x07\x00\x00\x00\x08\x00\x00\x00"
    assert tuplelib.read_header(item) == tuplelib.read_header(pagelib.get_item(before, 1))
    changed = [i for i in range(len(page)) if page[i] != before[i]]
    assert len(changed) == 2


def test_page_inplace_refuses_another_length() -> None:
    page = _page_with_tuple(b"\x01\x00\x00\x00\x02\x00\x00\x00")
    with pytest.raises(InvariantViolation):
        heap_inplace.page_inplace(page, 1, b"\x01\x00\x00\x00")


def _class_page(engine: Engine, blkno: int) -> bytes:
    catalog = engine.relcache.catalog(boot.PG_CLASS)
    with engine.pool.lock:
        buffer = engine.pool.read_buffer(catalog.rnode, MAIN_FORKNUM, blkno)
        try:
            return bytes(buffer.page)
        finally:
            engine.pool.release(buffer)


def _class_row(engine: Engine, oid: int) -> tuple[tuple[int, int], tuple[object, ...]]:
    return next((tid, values) for tid, values in engine.relcache.rows(boot.PG_CLASS, None)
                if values[0] == oid)


CHECKED = {"wal_consistency_checking": "all"}   # replay compares each page with its image


def test_statistics_are_written_in_place_and_replayed(cluster: str) -> None:
    engine = Engine.open(cluster, CHECKED)
    with engine.begin() as txn:
        txn.create_table("t", [("a", 23)])
        for value in range(300):
            txn.insert("t", [value])
    oid = engine.relcache.lookup("t", None).oid
    engine.checkpoint()
    start = engine.wal.end_lsn
    tid, before = _class_row(engine, oid)
    engine.vacuum("t")                                  # the record with a full-page image
    relstats.update_class_stats(engine, oid, None, tuples=299.0)   # replayed by page function
    tid_after, after = _class_row(engine, oid)
    assert tid_after == tid                             # no new version
    assert after[-3:] == (2, 299.0, 2) and before[-3:] == (0, -1.0, 0)
    assert not relstats.update_class_stats(engine, oid, None, tuples=299.0)   # nothing to do
    page = _class_page(engine, tid[0])
    engine.wal.flush(engine.wal.end_lsn)
    segment_size = engine.control.xlog_seg_size
    engine.crash()
    with SegmentFileSource(f"{cluster}/pg_wal", 1, segment_size) as source:
        records = [r for r in WalReader(source, segment_size).records_from(start)
                   if r.rmid == RM_HEAP_ID]
    assert [r.info & 0x70 for r in records] == [heap_inplace.XLOG_HEAP_INPLACE] * 2
    assert all(r.main_data == tid[1].to_bytes(2, "little") for r in records)
    assert records[1].blocks[0].image is not None and not records[1].blocks[0].image.apply
    assert bytes(records[1].blocks[0].data) == \
        bytes(tuplelib.tuple_data(pagelib.get_item(page, tid[1]))[0])
    engine = Engine.open(cluster, CHECKED)
    try:
        assert _class_page(engine, tid[0]) == page
        assert _class_row(engine, oid)[1][-3:] == (2, 299.0, 2)
    finally:
        engine.close()
