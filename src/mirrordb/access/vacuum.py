"""VACUUM: remove row versions no snapshot can see any more, and reuse their space.

Order of work for one table (what survives a crash at each step is safe):

1. Read the horizon ``OldestXmin`` from the transaction manager (its ``horizon_hooks`` let
   replication slots and standby feedback hold it back later).
2. Scan the heap: a version is *dead* if its inserter aborted, or its deleter committed before the
   horizon; *recently dead* if the deleter committed but some snapshot may still see it.
   Each page gets a prune plan (heapam.plan_prune, README "HOT"): dead HOT chain prefixes
   become redirects, dead heap-only members unused, wholly dead chains' roots dead.
3. Remove the index entries of the dead versions (each index, WAL-logged per page). When the
   table has indexes, a PRUNE record that frees nothing comes first, carrying the
   snapshot-conflict horizon (what PostgreSQL's XLOG_HEAP2_CLEANUP_INFO did before its index
   pass): a standby resolves the conflict before replaying the index deletions, so none of its
   index scans can miss a version its snapshot still sees.
4. Prune each page again under its lock with the same horizon and free the dead roots whose
   index entries went in 3, with a PRUNE record per page that carries the snapshot-conflict
   horizon: the newest xid among the removed deleters. A standby replaying it must first cancel
   (or wait for) queries whose snapshot might still see those versions
   (recovery/conflicts.py).

``VacuumStats`` carries what VACUUM VERBOSE reports (sql/ddl.py words it as PostgreSQL 15):
versions removed, kept and kept although dead ("dead but not yet removable": a snapshot here,
or a standby's through hot_standby_feedback, may still see them), the horizon and how old it
was when the vacuum ended, the index pass and each index's size.

A crash after 3 and before 4 leaves dead heap versions without index entries: harmless, the next
VACUUM frees them. The reverse order could let a reused line pointer be reached through a stale
index entry, which is why indexes always go first.

Running beside live sessions (the engine serializes vacuums and keeps the table's files, and
every index of it, from being dropped or built while one runs: ``Engine.vacuum``):

* An index scan copies a leaf's TIDs, releases the lock, then fetches each heap version. Between
  the two, step 3 may remove the entry and step 4 free the line pointer, and an insert may reuse
  it for an unrelated row. That row is never visible to the scan's snapshot: its inserter began
  after the entry was read, so after the snapshot was taken (PostgreSQL relies on the same
  argument to drop leaf pins early). Scans also re-check their conditions on the row.
* A unique check (``Txn._insert_unique``) looks up the key and reads the versions it finds under
  one hold of the pool lock, so no vacuum step can fall between; it also re-checks the key of
  the version it reads.
* A ctid chain (READ COMMITTED's re-check after a concurrent update) starts at a version the
  statement's snapshot sees; every newer version of that row was deleted, if at all, by a
  transaction that is not older than the snapshot, so none of them is past the horizon.
* ``stopping`` (the autovacuum launcher's shutdown) is checked between heap pages and between
  indexes; stopping after step 3 began leaves the state of a crash between 3 and 4.
"""

from __future__ import annotations

import resource
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mirrordb.access.heapam import HeapAccess, PrunePlan, plan_prune, version_status
from mirrordb.access.relation import Relation
from mirrordb.storage.relfilenode import MAIN_FORKNUM

if TYPE_CHECKING:
    from mirrordb.access.env import AccessEnv
    from mirrordb.access.nbtree import BTree



@dataclass
class VacuumStats:
    relation: str
    namespace_oid: int = 2200      # the relation's schema (pg_namespace OID)
    pages_scanned: int = 0
    removed: int = 0
    recently_dead: int = 0
    remaining: int = 0
    index_entries_removed: int = 0
    oldest_xmin: int = 0
    latest_removed_xid: int = 0
    pages_pruned: list[int] = field(default_factory=list)
    inserting: int = 0             # kept: their inserter is still running
    interrupted: bool = False      # stopped early; nothing was pruned
    next_xid_at_end: int = 0       # the next xid when the vacuum ended (the horizon's age)
    index_scans: int = 0           # passes over the indexes (0 or 1)
    index_pages: list[tuple[str, int]] = field(default_factory=list)   # (index, pages)
    elapsed_s: float = 0.0
    cpu_user_s: float = 0.0
    cpu_system_s: float = 0.0

    @property
    def pages_with_dead_items(self) -> int:
        return len(self.pages_pruned)

    @property
    def horizon_age(self) -> int:
        """How many xids old the horizon was when the vacuum ended."""
        return (self.next_xid_at_end - self.oldest_xmin) & 0xFFFFFFFF

    @property
    def live(self) -> int:
        """Versions kept that are neither recently dead nor still being inserted (n_live_tup
        after this vacuum, counted as PostgreSQL's VACUUM counts it)."""
        return self.remaining - self.recently_dead - self.inserting


class Vacuum:
    def __init__(self, env: AccessEnv, heap: HeapAccess) -> None:
        self.env = env
        self.heap = heap

    def vacuum_relation(self, rel: Relation, indexes: list[BTree],
                        stopping: threading.Event | None = None) -> VacuumStats:
        started = ResourceUsage.now()
        stats = self._vacuum(rel, indexes, stopping)
        if stats.pages_pruned or stats.index_entries_removed:
            # PostgreSQL's WAL writer flushes VACUUM's records within wal_writer_delay; here
            # nothing else would until the next commit, and a standby must see them (and its
            # hot_standby_feedback must meet them) without waiting for unrelated work
            wal = self.env.wal
            wal.flush(wal.end_lsn)
        started.finish(stats)
        stats.next_xid_at_end = self.env.xacts.next_xid
        names = {info.relation.rnode: info.relation.name for info in rel.indexes}
        pool = self.env.pool
        with pool.lock:
            stats.index_pages = [(names.get(index.rnode, index.name),
                                  pool.nblocks(index.rnode, MAIN_FORKNUM)) for index in indexes]
        return stats

    def _vacuum(self, rel: Relation, indexes: list[BTree],
                stopping: threading.Event | None) -> VacuumStats:
        horizon = self.env.xacts.oldest_xmin()
        stats = VacuumStats(relation=rel.name, namespace_oid=rel.namespace_oid,
                            oldest_xmin=horizon)
        dead_by_page: dict[int, list[int]] = {}     # chain roots whose index entries must go
        pages_to_prune: list[int] = []
        pool = self.env.pool
        blkno = 0
        while True:
            if stopping is not None and stopping.is_set():
                stats.interrupted = True
                return stats
            with pool.lock:
                if blkno >= pool.nblocks(rel.rnode, MAIN_FORKNUM):
                    break
                buffer = pool.read_buffer(rel.rnode, MAIN_FORKNUM, blkno)
                try:
                    plan = plan_prune(buffer.page, lambda xmin, xmax: version_status(
                        self.env.xacts, xmin, xmax, horizon))
                finally:
                    pool.release(buffer)
            self._count(plan, blkno, stats, dead_by_page, pages_to_prune)
            stats.pages_scanned += 1
            blkno += 1
        dead = {(b, o) for b, offs in dead_by_page.items() for o in offs}
        if dead:
            if indexes and stats.latest_removed_xid:
                self.heap.prune(rel, min(dead_by_page), [], stats.latest_removed_xid)
            stats.index_scans = 1 if indexes else 0
            for index in indexes:
                if stopping is not None and stopping.is_set():
                    stats.interrupted = True
                    return stats
                stats.index_entries_removed += index.bulk_delete(lambda tid: tid in dead)
        for page_blkno in pages_to_prune:
            self.heap.vacuum_page(rel, page_blkno, horizon, set(dead_by_page.get(page_blkno, ())))
            stats.pages_pruned.append(page_blkno)
        return stats

    @staticmethod
    def _count(plan: PrunePlan, blkno: int, stats: VacuumStats,
               dead_by_page: dict[int, list[int]], pages_to_prune: list[int]) -> None:
        """Add one page's first-pass plan to the stats and the work lists."""
        stats.removed += plan.removed
        stats.recently_dead += plan.recently_dead
        stats.remaining += plan.remaining
        stats.inserting += plan.inserting
        stats.latest_removed_xid = max(stats.latest_removed_xid, plan.latest_removed_xid)
        roots = plan.dead + plan.already_dead
        if roots:
            dead_by_page[blkno] = roots
        if roots or plan.changes_page():
            pages_to_prune.append(blkno)


@dataclass(frozen=True)
class ResourceUsage:
    """Wall clock and this thread's CPU time at the start of a vacuum or of an index rebuild
    (the system usage that VACUUM VERBOSE and REINDEX VERBOSE report)."""

    wall_s: float
    user_s: float
    system_s: float

    @classmethod
    def now(cls) -> ResourceUsage:
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        return cls(time.monotonic(), usage.ru_utime, usage.ru_stime)

    def finish(self, stats: VacuumStats) -> None:
        end = ResourceUsage.now()
        stats.elapsed_s = end.wall_s - self.wall_s
        stats.cpu_user_s = end.user_s - self.user_s
        stats.cpu_system_s = end.system_s - self.system_s

    def show(self) -> str:
        """The usage since this one in PostgreSQL's words (pg_rusage_show)."""
        end = ResourceUsage.now()
        return (f"CPU: user: {end.user_s - self.user_s:.2f} s, "
                f"system: {end.system_s - self.system_s:.2f} s, "
                f"elapsed: {end.wall_s - self.wall_s:.2f} s")
