"""pg_class's planner statistics (relpages, reltuples, relallvisible), kept up to date in place.

Who calls it: the engine's VACUUM (engine.py ``_vacuum_table``), index builds
(``_build_index``), new relation files (``_swap_relation_file``), column changes
(``rewrite_table``), ANALYZE (sql/analyze.py) and CLUSTER / VACUUM FULL (sql/cluster.py). As
PostgreSQL's vac_update_relstats and index_update_stats do, the relation's pg_class row is
overwritten where it lies (access/heap_inplace.py writes the XLOG_HEAP_INPLACE record): no new
row version, no xid, and the change stays if the transaction aborts. Only the three fixed-width
statistics columns change, so the tuple keeps its length. A new relation file resets them in
the row's new version instead (``new_file_stats``), as RelationSetNewRelfilenode does.

``all_visible_pages`` counts the pages a VACUUM leaves all-visible (mirrordb keeps no
visibility map; PostgreSQL's relallvisible is the map's count of set bits): pages whose every
version is committed, not deleted and older than every snapshot.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mirrordb.access import heap_inplace
from mirrordb.catalog import bootstrap as boot
from mirrordb.storage import page as pagelib
from mirrordb.storage import tuple as tuplelib
from mirrordb.storage.relfilenode import MAIN_FORKNUM

if TYPE_CHECKING:
    from mirrordb.access.relation import Relation
    from mirrordb.access.xact import Transaction

_RELPAGES = boot.PG_CLASS.column_index("relpages")
_RELTUPLES = boot.PG_CLASS.column_index("reltuples")
_RELALLVISIBLE = boot.PG_CLASS.column_index("relallvisible")
LP_NORMAL = 1
LP_DEAD = 3
_FLOAT4 = struct.Struct("<f")


def class_stats(engine: Any, oid: int, txn: Transaction | None) -> tuple[int, float, int] | None:
    """(relpages, reltuples, relallvisible) of relation ``oid`` as its pg_class row holds them."""
    for _, values in engine.relcache.rows(boot.PG_CLASS, txn):
        if values[0] == oid:
            return (int(values[_RELPAGES]), float(values[_RELTUPLES]),
                    int(values[_RELALLVISIBLE]))
    return None


def update_class_stats(engine: Any, oid: int, txn: Transaction | None, *,
                       pages: int | None = None, tuples: float | None = None,
                       allvisible: int | None = None) -> bool:
    """Overwrite the statistics given (None: keep) in relation ``oid``'s pg_class row, in
    place; nothing is written when they are already so. True if the row changed."""
    catalog = engine.relcache.catalog(boot.PG_CLASS)
    for tid, values in engine.relcache.rows(catalog, txn):
        if values[0] != oid:
            continue
        row = list(values)
        for index, value in ((_RELPAGES, pages), (_RELTUPLES, tuples),
                             (_RELALLVISIBLE, allvisible)):
            if value is not None:
                row[index] = float(value) if index == _RELTUPLES else int(value)
        if _float4(row[_RELTUPLES]) == _float4(values[_RELTUPLES]) and \
                row[_RELPAGES] == values[_RELPAGES] and \
                row[_RELALLVISIBLE] == values[_RELALLVISIBLE]:
            return False
        heap_inplace.inplace_update(engine.heap.env, catalog, tid, row)
        engine.invalidate_relcaches()
        return True
    return False


def new_file_stats(values: tuple[object, ...]) -> tuple[object, ...]:
    """A pg_class row whose relation got a new, empty file (TRUNCATE, REINDEX, CLUSTER, SET
    LOGGED): relpages 0, reltuples -1, relallvisible 0, as PostgreSQL's
    RelationSetNewRelfilenode sets them (in the row's new version, not in place)."""
    row = list(values)
    row[_RELPAGES], row[_RELTUPLES], row[_RELALLVISIBLE] = 0, -1.0, 0
    return tuple(row)


def _float4(value: object) -> float:
    """``value`` rounded to float4, as the column stores it."""
    return float(_FLOAT4.unpack(_FLOAT4.pack(float(value)))[0])  # type: ignore[arg-type]


def nblocks(engine: Any, relation: Relation) -> int:
    """RelationGetNumberOfBlocks: the relation's main fork length in pages."""
    if not engine.smgr.exists(relation.rnode):
        return 0
    return int(engine.pool.nblocks(relation.rnode, MAIN_FORKNUM))


def _pages(engine: Any, relation: Relation) -> Iterator[bytes]:
    """A copy of each of the relation's pages, in order."""
    pool = engine.pool
    for blkno in range(nblocks(engine, relation)):
        with pool.lock:
            buffer = pool.read_buffer(relation.rnode, MAIN_FORKNUM, blkno)
            try:
                page = bytes(buffer.page)
            finally:
                pool.release(buffer)
        yield page


def dead_versions(engine: Any, relation: Relation, dead_pointers: bool = True) -> int:
    """The dead row versions ANALYZE reports (its "dead rows"): dead line pointers (unless
    not ``dead_pointers``: CLUSTER counts versions only), versions whose inserter aborted and
    versions whose deleter committed."""
    xacts = engine.xacts
    did_commit = functools.lru_cache(maxsize=4096)(xacts.did_commit)
    dead = 0
    for page in _pages(engine, relation):
        if pagelib.is_new(page):
            continue
        for offnum in range(1, pagelib.max_offset(page) + 1):
            lp_off, lp_flags, _ = pagelib.get_item_id(page, offnum)
            if lp_flags == LP_DEAD:
                dead += dead_pointers
            elif lp_flags == LP_NORMAL:
                xmin, xmax = tuplelib.get_xmin_xmax(page, lp_off)
                if _aborted(xacts, xmin) or (xmax != 0 and did_commit(xmin)
                                             and _xmax_counts(page, lp_off, xmax, did_commit)):
                    dead += 1
    return dead


def _aborted(xacts: Any, xid: int) -> bool:
    from mirrordb.access.clog import XACT_ABORTED
    from mirrordb.access.heapam import transaction_fate
    return bool(transaction_fate(xacts, xid) == XACT_ABORTED)


def all_visible_pages(engine: Any, relation: Relation, horizon: int) -> int:
    """How many of the relation's pages hold only versions every snapshot sees (see the module
    docstring); an empty page counts, as VACUUM marks it all-visible."""
    did_commit = functools.lru_cache(maxsize=4096)(engine.xacts.did_commit)
    return sum(1 for page in _pages(engine, relation)
               if pagelib.is_new(page) or _page_all_visible(page, horizon, did_commit))


def _page_all_visible(page: bytes, horizon: int, did_commit: Any) -> bool:
    for offnum in range(1, pagelib.max_offset(page) + 1):
        lp_off, lp_flags, _ = pagelib.get_item_id(page, offnum)
        if lp_flags == LP_DEAD:
            return False
        if lp_flags != LP_NORMAL:
            continue
        xmin, xmax = tuplelib.get_xmin_xmax(page, lp_off)
        if xmax != 0 and _xmax_counts(page, lp_off, xmax, did_commit):
            return False
        if not did_commit(xmin) or not _precedes(xmin, horizon):
            return False
    return True


def _xmax_counts(page: bytes, lp_off: int, xmax: int, did_commit: Any) -> bool:
    """An xmax that deleted or updated the version (not a lock, not aborted)."""
    infomask = int.from_bytes(page[lp_off + tuplelib.INFOMASK_OFFSET:
                                   lp_off + tuplelib.INFOMASK_OFFSET + 2], "little")
    if infomask & tuplelib.HEAP_XMAX_LOCK_ONLY:
        return False
    return bool(did_commit(xmax))


def _precedes(xid: int, horizon: int) -> bool:
    return xid < horizon or xid <= 2





def index_built(engine: Any, txn: Transaction | None, table: Relation, index: Relation,
                heap_tuples: int, index_tuples: int) -> None:
    """PostgreSQL's index_update_stats after an index build, for the table and the index: the
    tuple counts the build saw and the relations' lengths; a count of 0 leaves a reltuples of
    -1 alone (an index made with its empty table does not make it look analyzed)."""
    for relation, tuples in ((table, heap_tuples), (index, index_tuples)):
        current = class_stats(engine, relation.oid, txn)
        if current is None:
            continue
        if tuples == 0 and current[1] < 0 and relation is table:
            update_class_stats(engine, relation.oid, txn, pages=nblocks(engine, relation))
            continue
        update_class_stats(engine, relation.oid, txn, pages=nblocks(engine, relation),
                           tuples=tuples)


def vacuumed(engine: Any, table: Relation, stats: Any) -> None:
    """vac_update_relstats after a VACUUM of ``table``: its length, live versions and
    all-visible pages; its indexes' lengths and entries when the vacuum passed over them."""
    update_class_stats(engine, table.oid, None, pages=nblocks(engine, table),
                       tuples=stats.live,
                       allvisible=all_visible_pages(engine, table, stats.oldest_xmin))
    if stats.index_scans:
        for info in table.indexes:
            update_class_stats(engine, info.relation.oid, None,
                               pages=nblocks(engine, info.relation), tuples=stats.live)

def renumber_statistics(txn: Any, table: Relation, columns: Sequence[Any]) -> None:
    """A table rewritten with a new column list (ALTER TABLE ADD/DROP COLUMN): each
    pg_statistic row follows its column to its new number; a dropped column's rows go."""
    new_numbers = {column.name: number for number, column in enumerate(columns, start=1)}
    renumbered = {number: new_numbers.get(column.name)
                  for number, column in enumerate(table.columns, start=1)}
    if all(old == new for old, new in renumbered.items()):
        return
    oid = table.oid
    txn._delete_catalog_rows(boot.PG_STATISTIC,
                             lambda v: v[0] == oid and renumbered.get(v[1]) is None)
    txn._update_catalog_rows(boot.PG_STATISTIC,
                             lambda v: v[0] == oid and renumbered.get(v[1]) not in (None, v[1]),
                             lambda v: (v[0], renumbered[v[1]], *v[2:]))


__all__ = ["all_visible_pages", "class_stats", "dead_versions", "index_built", "nblocks",
           "new_file_stats", "renumber_statistics", "update_class_stats", "vacuumed"]
