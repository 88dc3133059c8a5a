"""Tests of the B-tree access method with a real buffer pool and WAL writer in tmp_path.

Random workloads are checked against a sorted Python list; the WAL they produce is read back
with the real reader and replayed through ``RedoContext`` + ``dispatch`` into a second, empty data
directory, whose pages must equal the primary's byte for byte (also with consistency checking).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mirrordb.access import nbtree_page as btpage
from mirrordb.access import nbtree_xlog as btxlog
from mirrordb.access.nbtree import BTree
from mirrordb.common.errors import (
    DataCorrupted, InvariantViolation, ProgramLimitExceeded, WalCorrupted,
)
from mirrordb.recovery.redo import RedoContext, dispatch
from mirrordb.storage import datum
from mirrordb.storage import page as pagelib
from mirrordb.storage.bufmgr import BufferPool
from mirrordb.storage.relfilenode import MAIN_FORKNUM, RelFileNode
from mirrordb.storage.smgr import StorageManager
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.record import DecodedRecord
from mirrordb.wal.rmgr import RM_MIRRORDB_BTREE_ID
from mirrordb.wal.writer import WalWriter

SEGMENT_SIZE = 1024 * 1024
FIRST_LSN = SEGMENT_SIZE
TIMELINE = 1
INDEX = RelFileNode(1663, 5, 16384)
NBUFFERS = 256

Key = tuple[Any, ...]
Tid = tuple[int, int]


class Cluster:
    """A data directory with its own buffer pool, and (on the primary) a WAL writer."""

    def __init__(self, directory: Path, *, consistency_checking: bool = False,
                 with_wal: bool = True) -> None:
        self.waldir = str(directory / "pg_wal")
        os.makedirs(self.waldir, exist_ok=True)
        self.smgr = StorageManager(str(directory))
        self.wal: WalWriter | None = None
        if with_wal:
            self.wal = WalWriter(self.waldir, segment_size=SEGMENT_SIZE, system_identifier=1,
                                 timeline=TIMELINE, consistency_checking=consistency_checking)
            self.wal.start_at(FIRST_LSN, 0)
        self.pool = BufferPool(self.smgr, NBUFFERS,
                               self.wal.flush if self.wal else lambda lsn: None)

    def tree(self, key_types: list[int], rnode: RelFileNode = INDEX) -> BTree:
        return BTree(self.pool, self.wal, rnode, key_types, unique=False,  # type: ignore[arg-type]
                     name="test_index")

    def create_index(self, key_types: list[int], rnode: RelFileNode = INDEX) -> BTree:
        self.smgr.create(rnode, MAIN_FORKNUM)
        tree = self.tree(key_types, rnode)
        tree.build_empty()
        return tree

    def records(self) -> list[DecodedRecord]:
        assert self.wal is not None
        self.wal.flush(self.wal.end_lsn)
        with SegmentFileSource(self.waldir, TIMELINE, SEGMENT_SIZE) as source:
            return list(WalReader(source, SEGMENT_SIZE).records_from(FIRST_LSN))

    def page(self, blkno: int, rnode: RelFileNode = INDEX) -> bytes:
        buffer = self.pool.read_buffer(rnode, MAIN_FORKNUM, blkno)
        try:
            return bytes(buffer.page)
        finally:
            self.pool.release(buffer)

    def close(self) -> None:
        if self.wal is not None:
            self.wal.close()
        self.smgr.close_all()


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path / "primary")
    yield cluster
    assert cluster.pool.pinned_count() == 0, "a B-tree operation leaked a buffer pin"
    cluster.close()


def replay_into(records: list[DecodedRecord], directory: Path, *,
                consistency_checking: bool = False) -> Cluster:
    standby = Cluster(directory, with_wal=False)
    context = RedoContext(standby.pool, consistency_checking=consistency_checking)
    for record in records:
        dispatch(context, record)
    return standby


def assert_identical(primary: Cluster, standby: Cluster, rnode: RelFileNode = INDEX) -> None:
    nblocks = primary.pool.nblocks(rnode)
    assert standby.pool.nblocks(rnode) == nblocks
    for blkno in range(nblocks):
        assert standby.page(blkno, rnode) == primary.page(blkno, rnode), f"block {blkno} differs"


def entry_order(entry: tuple[Key, Tid]) -> tuple[Any, ...]:
    return datum.sort_key(entry[0]), entry[1]


def normalized(entries: list[tuple[Key, Tid]]) -> list[tuple[Any, ...]]:
    """Entries as (sort key, TID): NaN keys compare equal this way, as in the index."""
    return [entry_order(entry) for entry in entries]


def reference_scan(model: list[tuple[Key, Tid]], low: Key | None, high: Key | None,
                   low_inclusive: bool, high_inclusive: bool,
                   prefix_len: int | None) -> list[tuple[Key, Tid]]:
    def width(bound: Key) -> int:
        return len(bound) if prefix_len is None else min(prefix_len, len(bound))

    result = []
    for key, tid in sorted(model, key=entry_order):
        sort_key = datum.sort_key(key)
        if low is not None:
            bound = datum.sort_key(low[:width(low)])
            prefix = sort_key[:len(bound)]
            if prefix < bound or (prefix == bound and not low_inclusive):
                continue
        if high is not None:
            bound = datum.sort_key(high[:width(high)])
            prefix = sort_key[:len(bound)]
            if prefix > bound or (prefix == bound and not high_inclusive):
                continue
        result.append((key, tid))
    return result


# -- key generators -----------------------------------------------------------------------------

KeyMaker = Callable[[random.Random], Key]

SHAPES: dict[str, tuple[list[int], KeyMaker]] = {
    "int4": ([datum.INT4_OID], lambda rng: (rng.randrange(-5000, 5000),)),
    "text": ([datum.TEXT_OID],
             lambda rng: ("".join(rng.choice("abcé") for _ in range(rng.randrange(0, 40))),)),
    "composite_with_nulls": (
        [datum.INT4_OID, datum.TEXT_OID, datum.FLOAT8_OID],
        lambda rng: (rng.choice([None, *range(12)]), rng.choice([None, "a", "bb", "c" * 30]),
                     rng.choice([None, 0.5, -1.0, float("nan"), float("inf")]))),
    "duplicates": ([datum.INT8_OID, datum.BOOL_OID],
                   lambda rng: (rng.choice([1, 2, None]), rng.choice([True, False, None]))),
}


def fill(cluster: Cluster, key_types: list[int], make_key: KeyMaker, count: int,
         rng: random.Random, first_block: int = 0) -> list[tuple[Key, Tid]]:
    """Insert ``count`` random entries, each through a fresh handle as the engine does."""
    model = []
    for serial in range(count):
        key = make_key(rng)
        tid = (first_block + serial // 50, serial % 50 + 1)
        with cluster.pool.lock:
            cluster.tree(key_types).insert(key, tid)
        model.append((key, tid))
    return model


def random_bound(rng: random.Random, make_key: KeyMaker) -> Key | None:
    if rng.random() < 0.15:
        return None
    key = make_key(rng)
    return key[:rng.randint(1, len(key))]


# -- tests -----------------------------------------------------------------------------------------


def test_build_empty_writes_metapage_and_root_leaf(primary: Cluster) -> None:
    tree = primary.create_index([datum.INT4_OID])
    assert primary.pool.nblocks(INDEX) == 2
    assert btpage.read_meta(primary.page(0)) == btpage.MetaData(root=1, level=0)
    root = primary.page(1)
    assert btpage.get_opaque(root) == btpage.Opaque(0, 0, 0, btpage.BTP_LEAF | btpage.BTP_ROOT)
    assert tree.check() == 0 and tree.all_entries() == [] and tree.find_equal((1,)) == []
    (record,) = primary.records()
    assert record.rmid == RM_MIRRORDB_BTREE_ID
    assert record.rmgr_info == btxlog.XLOG_BTREE_BUILD_EMPTY
    assert [(block.blkno, block.will_init) for block in record.blocks] == [(0, True), (1, True)]
    assert pagelib.get_lsn(root) == record.end_lsn == pagelib.get_lsn(primary.page(0))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_random_inserts_scans_and_lookups_match_a_sorted_list(primary: Cluster,
                                                              shape: str) -> None:
    key_types, make_key = SHAPES[shape]
    rng = random.Random(shape)
    tree = primary.create_index(key_types)
    model = fill(primary, key_types, make_key, 3000, rng)
    assert tree.check() == len(model)
    assert normalized(tree.all_entries()) == sorted(map(entry_order, model))
    for key, _ in rng.sample(model, 40):
        expected = sorted(tid for other, tid in model
                          if datum.sort_key(other) == datum.sort_key(key))
        assert tree.find_equal(key) == expected
    for _ in range(60):
        low, high = random_bound(rng, make_key), random_bound(rng, make_key)
        flags = (rng.random() < 0.5, rng.random() < 0.5, rng.choice([None, 1, 2]))
        assert normalized(list(tree.scan(low, high, *flags))) == normalized(
            reference_scan(model, low, high, *flags)), (low, high, flags)


@pytest.mark.parametrize("shape", ["int4", "duplicates"])
def test_backward_scans_return_the_forward_entries_reversed(primary: Cluster,
                                                             shape: str) -> None:
    key_types, make_key = SHAPES[shape]
    rng = random.Random("backward " + shape)
    tree = primary.create_index(key_types)
    model = fill(primary, key_types, make_key, 3000, rng)
    assert normalized(list(tree.scan(backward=True))) == sorted(map(entry_order, model))[::-1]
    for _ in range(60):
        low, high = random_bound(rng, make_key), random_bound(rng, make_key)
        flags = (rng.random() < 0.5, rng.random() < 0.5, rng.choice([None, 1, 2]))
        assert normalized(list(tree.scan(low, high, *flags, backward=True))) == normalized(
            reference_scan(model, low, high, *flags))[::-1], (low, high, flags)


def test_backward_scan_is_safe_when_the_tree_changes_between_items(primary: Cluster) -> None:
    key_types, make_key = SHAPES["int4"]
    rng = random.Random(11)
    tree = primary.create_index(key_types)
    model = fill(primary, key_types, make_key, 2500, rng)
    new_tids = iter((100_000 + serial, 1) for serial in range(10**6))
    seen = []
    for entry in tree.scan(None, (3000,), backward=True):
        seen.append(entry)
        if len(seen) % 5 == 1:              # 25 new entries: splits pages under the scan
            [tree.insert(make_key(rng), next(new_tids)) for _ in range(25)]
    inserted = next(new_tids)[0] - 100_000
    order = normalized(seen)
    assert order == sorted(set(order), reverse=True), "entries in reverse order, each once"
    stable = reference_scan(model, None, (3000,), True, True, None)
    assert set(normalized(stable)) <= set(order), "a scan must not miss entries that stayed"
    tree.bulk_delete(lambda tid: tid[0] < 100_000)      # empty leaves: walked past
    assert len(list(tree.scan(backward=True))) == inserted


def test_scan_bound_of_null_excludes_null_keys(primary: Cluster) -> None:
    tree = primary.create_index([datum.INT4_OID])
    for serial, value in enumerate([3, None, 1, None, 2]):
        tree.insert((value,), (0, serial + 1))
    assert [key for key, _ in tree.scan(high=(None,), high_inclusive=False)] == [(1,), (2,), (3,)]
    assert [tid for _, tid in tree.scan(low=(None,))] == [(0, 2), (0, 4)]
    assert tree.find_equal((None,)) == [(0, 2), (0, 4)]


def test_scan_is_safe_when_the_tree_changes_between_items(primary: Cluster) -> None:
    key_types, make_key = SHAPES["int4"]
    rng = random.Random(7)
    tree = primary.create_index(key_types)
    model = fill(primary, key_types, make_key, 2500, rng)
    seen: list[tuple[Key, Tid]] = []
    inserted = 0
    removed: set[Tid] = set()
    for position, entry in enumerate(tree.scan((-1000,), (3000,))):
        seen.append(entry)
        if position % 5 == 0:
            for _ in range(25):             # splits pages under the scan
                inserted += 1
                tree.insert(make_key(rng), (100_000 + inserted, 1))
        if position == 300:
            tree.bulk_delete(lambda tid: tid[0] % 7 == 0 and tid[0] < 100_000)
            removed = {tid for _, tid in model if tid[0] % 7 == 0}
    order = normalized(seen)
    assert order == sorted(set(order)), "a scan must return entries in order, each once"
    stable = [entry for entry in reference_scan(model, (-1000,), (3000,), True, True, None)
              if entry[1] not in removed]
    assert set(normalized(stable)) <= set(order), "a scan must not miss entries that stayed"
    assert tree.check() == len(model) - len(removed) + inserted


def test_bulk_delete_removes_dead_entries_one_record_per_leaf(primary: Cluster) -> None:
    key_types, make_key = SHAPES["duplicates"]
    rng = random.Random(3)
    tree = primary.create_index(key_types)
    model = fill(primary, key_types, make_key, 4000, rng)
    records_before = len(primary.records())
    leaves_before = leaf_count(primary)

    def is_dead(tid: Tid) -> bool:
        return tid[1] % 3 == 0
    removed = tree.bulk_delete(is_dead)
    survivors = [entry for entry in model if not is_dead(entry[1])]
    assert removed == len(model) - len(survivors)
    assert normalized(tree.all_entries()) == sorted(map(entry_order, survivors))
    vacuum_records = primary.records()[records_before:]
    assert {record.rmgr_info for record in vacuum_records} == {btxlog.XLOG_BTREE_VACUUM}
    assert len(vacuum_records) == leaves_before     # every leaf had a dead entry
    assert tree.bulk_delete(is_dead) == 0
    more = fill(primary, key_types, make_key, 1000, rng, first_block=10_000)
    assert tree.check() == len(survivors) + len(more)


def leaf_count(cluster: Cluster) -> int:
    count = 0
    for blkno in range(1, cluster.pool.nblocks(INDEX)):
        if btpage.get_opaque(cluster.page(blkno)).flags & btpage.BTP_LEAF:
            count += 1
    return count


def test_key_size_limit_is_a_third_of_a_page(primary: Cluster) -> None:
    tree = primary.create_index([datum.TEXT_OID])
    tree.insert(("x" * 2690,), (1, 1))
    with pytest.raises(ProgramLimitExceeded) as raised:
        tree.insert(("x" * 2700,), (1, 2))
    assert raised.value.sqlstate == "54000"
    assert raised.value.message == ('index row size 2712 exceeds btree version 4 maximum 2704 '
                                    'for index "test_index"')
    assert raised.value.detail == "Index row references tuple (1,2)."
    assert tree.check() == 1


def test_big_keys_make_a_deep_tree_with_one_record_per_split(primary: Cluster) -> None:
    tree = primary.create_index([datum.TEXT_OID])
    rng = random.Random(11)
    model = []
    for serial in range(600):
        key = (f"{rng.randrange(10**6):06d}" + "y" * rng.choice([5, 900, 2600]),)
        tree.insert(key, (serial, 1))
        model.append((key, (serial, 1)))
    assert tree.all_entries() == sorted(model, key=entry_order)
    assert tree.check() == len(model)
    meta = btpage.read_meta(primary.page(0))
    assert meta.level >= 3
    records = primary.records()
    kinds = {record.rmgr_info for record in records}
    assert {btxlog.XLOG_BTREE_SPLIT, btxlog.XLOG_BTREE_NEWROOT} <= kinds
    for record in records:
        assert len(record.blocks) <= 4
        if record.rmgr_info == btxlog.XLOG_BTREE_NEWROOT:
            assert record.blocks[3].blkno == 0         # the metapage changes with the new root
    assert sum(record.rmgr_info == btxlog.XLOG_BTREE_NEWROOT for record in records) == meta.level


def test_ascending_inserts_leave_leaves_nearly_full(primary: Cluster) -> None:
    tree = primary.create_index([datum.INT8_OID])
    for serial in range(12_000):
        tree.insert((serial,), (serial // 100, serial % 100 + 1))
    fills = []
    for blkno in range(1, primary.pool.nblocks(INDEX)):
        page = primary.page(blkno)
        opaque = btpage.get_opaque(page)
        if opaque.flags & btpage.BTP_LEAF and opaque.next != btpage.P_NONE:
            fills.append(1 - pagelib.free_space(page) / btpage.BTREE_USABLE_SIZE)
    assert len(fills) > 20 and sum(fills) / len(fills) > 0.85
    assert tree.check() == 12_000


def test_inserting_the_same_entry_twice_is_a_programmer_error(primary: Cluster) -> None:
    tree = primary.create_index([datum.INT4_OID])
    tree.insert((5,), (1, 1))
    tree.insert((5,), (1, 2))
    with pytest.raises(InvariantViolation):
        tree.insert((5,), (1, 1))


@pytest.mark.parametrize("consistency_checking", [False, True])
def test_redo_reproduces_every_page_byte_for_byte(tmp_path: Path,
                                                  consistency_checking: bool) -> None:
    primary = Cluster(tmp_path / "primary", consistency_checking=consistency_checking)
    key_types, make_key = SHAPES["composite_with_nulls"]
    rng = random.Random(5)
    tree = primary.create_index(key_types)
    model = fill(primary, key_types, make_key, 1500, rng)
    assert primary.wal is not None
    primary.wal.set_redo_lsn_to_insert_lsn()        # a checkpoint: next changes carry images
    model += fill(primary, key_types, make_key, 1500, rng, first_block=1000)
    tree.bulk_delete(lambda tid: tid[0] % 4 == 0)
    model = [entry for entry in model if entry[1][0] % 4]
    records = primary.records()
    assert any(block.image is not None and block.image.apply
               for record in records for block in record.blocks)
    standby = replay_into(records, tmp_path / "standby",
                          consistency_checking=consistency_checking)
    assert_identical(primary, standby)
    replica_tree = standby.tree(key_types)             # reads on the standby see the same tree
    assert replica_tree.check() == len(model)
    assert normalized(replica_tree.all_entries()) == normalized(tree.all_entries())
    standby.close()
    primary.close()


def test_replaying_twice_changes_nothing(tmp_path: Path) -> None:
    primary = Cluster(tmp_path / "primary")
    key_types, make_key = SHAPES["text"]
    primary.create_index(key_types)
    fill(primary, key_types, make_key, 1500, random.Random(9))
    records = primary.records()
    standby = replay_into(records, tmp_path / "standby")
    context = RedoContext(standby.pool)
    for record in records:                             # crash recovery replays from a redo point
        dispatch(context, record)
    assert_identical(primary, standby)
    standby.close()
    primary.close()


def test_cached_pages_always_equal_a_fresh_decode(primary: Cluster) -> None:
    key_types, make_key = SHAPES["composite_with_nulls"]
    rng = random.Random(13)
    tree = primary.create_index(key_types)
    fill(primary, key_types, make_key, 2500, rng)
    tree.bulk_delete(lambda tid: tid[1] % 4 == 0)
    fill(primary, key_types, make_key, 500, rng, first_block=5000)
    compared = 0
    for (rnode, blkno), view in list(tree._cache.views.items()):
        page = bytearray(primary.page(blkno, rnode))
        if rnode != INDEX or blkno == 0 or pagelib.get_lsn(page) != view.lsn:
            continue
        fresh = tree._decode_page(page, view.lsn)
        assert (fresh.opaque, fresh.high, fresh.entries, fresh.children) == \
            (view.opaque, view.high, view.entries, view.children), f"block {blkno}"
        assert [datum.sort_key(values) for values in fresh.values] == \
            [datum.sort_key(values) for values in view.values], f"block {blkno}"
        compared += 1
    assert compared >= primary.pool.nblocks(INDEX) // 2     # most pages were checked


def corrupt(cluster: Cluster, blkno: int, change: Callable[[bytearray], None]) -> None:
    buffer = cluster.pool.read_buffer(INDEX, MAIN_FORKNUM, blkno)
    try:
        change(buffer.page)
        pagelib.set_lsn(buffer.page, pagelib.get_lsn(buffer.page) + 8)   # invalidates caches
    finally:
        cluster.pool.release(buffer)


def first_leaf_with_items(cluster: Cluster) -> int:
    for blkno in range(1, cluster.pool.nblocks(INDEX)):
        page = cluster.page(blkno)
        opaque = btpage.get_opaque(page)
        if opaque.flags & btpage.BTP_LEAF and opaque.next and len(btpage.data_items(page)) > 3:
            return blkno
    raise AssertionError("no leaf")


def swap_first_items(page: bytearray) -> None:
    first = btpage.first_data_offset(page)
    word_a = page[24 + (first - 1) * 4:24 + first * 4]
    word_b = page[24 + first * 4:24 + (first + 1) * 4]
    page[24 + (first - 1) * 4:24 + first * 4] = word_b
    page[24 + first * 4:24 + (first + 1) * 4] = word_a


def break_left_link(page: bytearray) -> None:
    btpage.set_prev(page, btpage.get_opaque(page).prev + 1)


def drop_high_key(page: bytearray) -> None:
    pagelib.delete_items(page, [btpage.P_HIKEY])


@pytest.mark.parametrize("damage", [swap_first_items, break_left_link, drop_high_key],
                         ids=lambda damage: damage.__name__)
def test_check_names_the_damaged_block(primary: Cluster,
                                       damage: Callable[[bytearray], None]) -> None:
    key_types, make_key = SHAPES["int4"]
    tree = primary.create_index(key_types)
    fill(primary, key_types, make_key, 2000, random.Random(2))
    victim = first_leaf_with_items(primary)
    corrupt(primary, victim, damage)
    with pytest.raises(DataCorrupted, match=f'index "test_index" block {victim}: '):
        tree.check()


def test_check_detects_a_wrong_downlink(primary: Cluster) -> None:
    key_types, make_key = SHAPES["int4"]
    tree = primary.create_index(key_types)
    fill(primary, key_types, make_key, 2000, random.Random(4))
    root = btpage.read_meta(primary.page(0)).root

    def point_second_child_at_first(page: bytearray) -> None:
        first_child = btpage.parse_tuple(pagelib.get_item(page, 1)).block
        second = pagelib.get_item(page, 2)
        pagelib.overwrite_item(page, 2, btpage.with_child(second, first_child))
    corrupt(primary, root, point_second_child_at_first)
    with pytest.raises(DataCorrupted, match="does not match the downlinks"):
        tree.check()


def test_redo_rejects_unknown_record_types_and_garbage_block_data(tmp_path: Path) -> None:
    primary = Cluster(tmp_path / "primary")
    primary.create_index([datum.INT4_OID])
    (record,) = primary.records()
    standby = Cluster(tmp_path / "standby", with_wal=False)
    context = RedoContext(standby.pool)
    bad_info = DecodedRecord(**{**record.__dict__, "info": 0x70})
    with pytest.raises(WalCorrupted, match="unknown B-tree record type"):
        dispatch(context, bad_info)
    garbage_block = record.blocks[0].__class__(**{**record.blocks[0].__dict__,
                                                  "data": b"\x09garbage"})
    bad_data = DecodedRecord(**{**record.__dict__, "blocks": (garbage_block,)})
    with pytest.raises(WalCorrupted, match="unknown B-tree block op 9 in block 0"):
        dispatch(context, bad_data)
    standby.close()
    primary.close()


def test_too_many_key_columns_is_an_error(primary: Cluster) -> None:
    with pytest.raises(ProgramLimitExceeded, match="more than 32 columns") as raised:
        primary.tree([datum.INT4_OID] * 33)
    assert raised.value.sqlstate == "54011"


def test_a_bad_block_leaves_the_whole_record_unapplied(tmp_path: Path) -> None:
    primary = Cluster(tmp_path / "primary")
    key_types, make_key = SHAPES["int4"]
    primary.create_index(key_types)
    fill(primary, key_types, make_key, 1000, random.Random(1))
    records = primary.records()
    split_at = next(index for index, record in enumerate(records)
                    if record.rmgr_info == btxlog.XLOG_BTREE_SPLIT)
    standby = replay_into(records[:split_at], tmp_path / "standby")
    split = records[split_at]
    left_before = standby.page(split.blocks[0].blkno)
    damaged_parent = split.blocks[2].__class__(**{**split.blocks[2].__dict__, "data": b"\x03"})
    damaged = DecodedRecord(**{**split.__dict__,
                               "blocks": (*split.blocks[:2], damaged_parent, *split.blocks[3:])})
    with pytest.raises(WalCorrupted, match="in block 2 of the B-tree SPLIT record"):
        dispatch(RedoContext(standby.pool), damaged)
    assert standby.page(split.blocks[0].blkno) == left_before
    standby.close()
    primary.close()
