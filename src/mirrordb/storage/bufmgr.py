"""The buffer pool: a fixed set of 8 kB page buffers caching relation blocks, with WAL-before-data.

Who calls it: every access method (heap, B-tree, sequences) to read and change pages, redo
(recovery/redo.py, through ``buffer_for_redo``: unpinned, lock held), and the checkpointer
(``dirty_snapshot``/``flush_all`` followed by ``StorageManager.sync_all``). One pool exists per
server, built at startup over the server's StorageManager; the other half, the files, is
storage/smgr.py.

Locking. ``pool.lock`` (a re-entrant lock) is THE page content lock: whoever reads or changes page
bytes holds it, and a change holds it from the page function through the WAL insertion to
``set_lsn`` and ``mark_dirty`` (the WAL-logging recipe in access/README.md). The pool's own methods
take it too, so they may be called with or without it held. One lock for the whole pool is simple
and correct under the GIL; pins (``read_buffer``/``extend`` ... ``release``) only keep a buffer from
being evicted while the caller uses it across calls.

WAL before data. A dirty page is written only after ``flush_wal(page_lsn)`` has returned, so the WAL
describing its last change is durable first (``flush_wal`` is the WAL writer's flush, or in recovery
the startup process's minimum-recovery-point update, installed with ``set_flush_wal``). The pool remembers the highest LSN it has seen
flushed and skips the call for pages at or below it. ``flush_buffer``/``flush_all``/
``flush_relation`` flush the WAL outside the lock when their caller does not hold it; the page's
``pwrite`` into the OS cache happens under the lock, so no older copy of a page can ever land on
disk after a newer one (the slow parts, WAL fsync and data fsync, stay outside).

Eviction. Clock sweep over unpinned buffers (usage count up to ``MAX_USAGE_COUNT``); a dirty
victim is written first. If every buffer is pinned the request fails with an operating error.

Relation length. The pool tracks each fork's length including extensions not yet written:
``extend`` hands out block ``nblocks`` as a pinned, dirty, zeroed page, so two extenders get
different blocks and the file grows when the page is written. ``read_buffer(zero_if_missing=True)``
(redo) returns a zeroed page for a block past the end, creating the file and extending the length
as PostgreSQL's XLogReadBufferExtended does; blocks skipped over read back as zeros. A torn final
block also reads as zeros in that mode (recovery rebuilds it from WAL). Anything that changes
relation files behind the pool's back (truncate, unlink) goes through ``truncate_relation`` or
calls ``drop_relation`` so the cached length and buffers are forgotten.

Every page read from disk is checked: all zeros, or a valid page header (page.verify_header);
anything else is ``DataCorrupted`` naming the block and relation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from mirrordb.common.errors import DataCorrupted, IoError, MirrordbError, invariant
from mirrordb.common.lsn import INVALID_LSN
from mirrordb.storage import page as pagelib
from mirrordb.storage.page import BLCKSZ, ZERO_PAGE
from mirrordb.storage.relfilenode import MAIN_FORKNUM, RelFileNode
from mirrordb.storage.smgr import MAX_BLOCK_NUMBER, StorageManager

MAX_USAGE_COUNT = 5                 # PostgreSQL's BM_MAX_USAGE_COUNT
MAX_BUFFERS = 1 << 20               # 8 GB of pages

BufferTag = tuple[RelFileNode, int, int]    # (relation, fork, block number)
RelationForkKey = tuple[RelFileNode, int]


class Buffer:
    """One page slot. ``tag`` is None while the buffer is free."""

    __slots__ = ("buffer_id", "dirty", "page", "pin_count", "tag", "usage_count")

    def __init__(self, buffer_id: int) -> None:
        self.buffer_id = buffer_id
        self.tag: BufferTag | None = None
        self.page = bytearray(BLCKSZ)
        self.dirty = False
        self.pin_count = 0
        self.usage_count = 0

    def __repr__(self) -> str:
        return (f"Buffer({self.buffer_id}, tag={self.tag}, dirty={self.dirty}, "
                f"pin_count={self.pin_count})")


@dataclass
class BufferPoolStats:
    hits: int = 0
    reads: int = 0
    writes: int = 0
    evictions: int = 0
    allocations: int = 0     # buffers claimed for a page not in the pool (buffers_alloc)


class BufferPool:
    """``nbuffers`` page buffers over one StorageManager."""

    def __init__(self, smgr: StorageManager, nbuffers: int,
                 flush_wal: Callable[[int], None]) -> None:
        invariant(1 <= nbuffers <= MAX_BUFFERS, f"nbuffers {nbuffers} out of range")
        self.smgr = smgr
        self.nbuffers = nbuffers
        self.flush_wal = flush_wal
        self.lock = threading.RLock()
        self.stats = BufferPoolStats()
        # Buffers are created on first use (``_claim_buffer``), up to ``nbuffers``: a server
        # does not pay for 128 MB of zeroed pages before it can start.
        self._buffers: list[Buffer] = []
        self._free: list[Buffer] = []
        self._table: dict[BufferTag, Buffer] = {}
        self._clock_hand = 0
        self._nblocks: dict[RelationForkKey, int] = {}
        self._wal_flushed_lsn = INVALID_LSN

    def set_flush_wal(self, flush_wal: Callable[[int], None]) -> None:
        """Replace the WAL-before-data hook: recovery installs its minimum-recovery-point
        update (PostgreSQL's XLogFlush in recovery) and puts the WAL writer's flush back at its
        end. The remembered flushed LSN is forgotten, so the new hook sees every later write."""
        with self.lock:
            self.flush_wal = flush_wal
            self._wal_flushed_lsn = INVALID_LSN

    # pinning -------------------------------------------------------------------------------

    def read_buffer(self, rnode: RelFileNode, fork: int, blkno: int, *,
                    zero_if_missing: bool = False) -> Buffer:
        """The pinned buffer of block ``blkno``, read from disk if it is not cached."""
        tag = (rnode, fork, blkno)
        with self.lock:
            buffer = self._table.get(tag)
            if buffer is not None:
                buffer.pin_count += 1
                if buffer.usage_count < MAX_USAGE_COUNT:
                    buffer.usage_count += 1
                self.stats.hits += 1
                return buffer
            nblocks = self._relation_nblocks(rnode, fork, create=zero_if_missing)
            buffer = self._claim_buffer()
            try:
                self._load(buffer, tag, nblocks, zero_if_missing)
            except BaseException:
                self._free.append(buffer)
                raise
            self._install(buffer, tag)
            self.stats.reads += 1
            return buffer

    def buffer_for_redo(self, tag: BufferTag, overwrite: bool) -> Buffer:
        """Redo's buffer for block ``tag`` (recovery/redo.py's ``begin_block``): as
        ``read_buffer(..., zero_if_missing=True)``, a hit counted the same way (usage count,
        ``stats.hits``), but NOT pinned, so the caller must hold ``lock`` from this call until
        it is done with the page (nothing can evict it then).

        ``overwrite``: the caller replaces all 8192 bytes (a full-page image, or a record that
        re-initialises the page), so a block not cached is not read from disk, and the
        relation's length grows to cover it (PostgreSQL's RBM_ZERO_AND_LOCK); its page is not
        zeroed first either (the bytes of a free or evicted buffer are left for the caller to
        overwrite: one 8 kB write less per full-page image of a block not cached)."""
        buffer = self._table.get(tag)
        if buffer is not None:
            if buffer.usage_count < MAX_USAGE_COUNT:
                buffer.usage_count += 1
            self.stats.hits += 1
            return buffer
        return self._redo_miss(tag, overwrite)

    def _redo_miss(self, tag: BufferTag, overwrite: bool) -> Buffer:
        rnode, fork, blkno = tag
        nblocks = self._relation_nblocks(rnode, fork, create=True)
        buffer = self._claim_buffer()
        if overwrite:
            if blkno >= nblocks:
                self._nblocks[(rnode, fork)] = blkno + 1
        else:
            try:
                self._load(buffer, tag, nblocks, True)
            except BaseException:
                self._free.append(buffer)
                raise
            self.stats.reads += 1
        self._install(buffer, tag)
        buffer.pin_count = 0
        return buffer

    def extend(self, rnode: RelFileNode, fork: int = MAIN_FORKNUM) -> Buffer:
        """A pinned, dirty, zeroed buffer for the block just past the fork's current end."""
        with self.lock:
            blkno = self._relation_nblocks(rnode, fork)
            if blkno > MAX_BLOCK_NUMBER:
                invariant(False, f"relation {rnode} cannot grow past {MAX_BLOCK_NUMBER} blocks")
            tag = (rnode, fork, blkno)
            if tag in self._table:
                invariant(False, f"extend: block {blkno} of {rnode} is cached past the "
                                 "relation's end")
            buffer = self._claim_buffer()
            buffer.page[:] = ZERO_PAGE
            self._install(buffer, tag)
            buffer.dirty = True
            self._nblocks[(rnode, fork)] = blkno + 1
            return buffer

    # The per-call checks below format their messages only when they fail: release and
    # mark_dirty run several times per row change.

    def release(self, buffer: Buffer) -> None:
        with self.lock:
            if buffer.pin_count <= 0:
                invariant(False, f"release of unpinned {buffer!r}")
            buffer.pin_count -= 1

    def mark_dirty(self, buffer: Buffer) -> None:
        with self.lock:
            if buffer.pin_count <= 0 or buffer.tag is None:
                invariant(False, f"mark_dirty of unpinned {buffer!r}")
            buffer.dirty = True

    def pinned_count(self) -> int:
        """How many buffers are pinned now (tests use it to find pin leaks)."""
        with self.lock:
            return sum(1 for buffer in self._buffers if buffer.pin_count)

    # relation length -----------------------------------------------------------------------

    def nblocks(self, rnode: RelFileNode, fork: int = MAIN_FORKNUM) -> int:
        """The fork's length in blocks, counting extensions not yet written."""
        with self.lock:
            return self._relation_nblocks(rnode, fork)

    def _relation_nblocks(self, rnode: RelFileNode, fork: int, create: bool = False) -> int:
        key = (rnode, fork)
        nblocks = self._nblocks.get(key)
        if nblocks is None:
            if create and not self.smgr.exists(rnode, fork):
                self.smgr.create(rnode, fork, exist_ok=True)
            nblocks = self.smgr.nblocks(rnode, fork)
            self._nblocks[key] = nblocks
        return nblocks

    # writing -------------------------------------------------------------------------------

    def flush_buffer(self, buffer: Buffer) -> bool:
        """Write ``buffer`` if it is dirty (no fsync); True if it was written."""
        with self.lock:
            if not buffer.dirty:
                return False
            page_lsn = pagelib.get_lsn(buffer.page)
        self._flush_wal_to(page_lsn)
        with self.lock:
            if not buffer.dirty:
                return False
            self._write_buffer(buffer)
            return True

    def flush_all(self) -> int:
        """Write every dirty buffer (no fsync); returns how many were written."""
        return self._flush_matching(lambda tag: True)

    def flush_relation(self, rnode: RelFileNode) -> int:
        """Write every dirty buffer of one relation (all forks); returns how many."""
        return self._flush_matching(lambda tag: tag[0] == rnode)

    def flush_database(self, database_oid: int) -> int:
        """Write every dirty buffer of one database's relations; returns how many."""
        return self._flush_matching(lambda tag: tag[0].db == database_oid)

    def _flush_matching(self, wanted: Callable[[BufferTag], bool]) -> int:
        with self.lock:
            dirty = [buffer for buffer in self._buffers
                     if buffer.dirty and wanted(buffer.tag)]  # type: ignore[arg-type]
            highest_lsn = max((pagelib.get_lsn(buffer.page) for buffer in dirty),
                              default=INVALID_LSN)
        self._flush_wal_to(highest_lsn)
        written = 0
        for buffer in dirty:
            with self.lock:
                if buffer.dirty and wanted(buffer.tag):  # type: ignore[arg-type]
                    self._write_buffer(buffer)
                    written += 1
        return written

    def dirty_snapshot(self) -> list[Buffer]:
        """The buffers dirty right now (a checkpoint writes them with ``flush_buffer``)."""
        with self.lock:
            return [buffer for buffer in self._buffers if buffer.dirty]

    def _flush_wal_to(self, lsn: int) -> None:
        if lsn <= self._wal_flushed_lsn:
            return
        self.flush_wal(lsn)
        with self.lock:
            self._wal_flushed_lsn = max(self._wal_flushed_lsn, lsn)

    def _write_buffer(self, buffer: Buffer) -> None:
        """Write a dirty buffer, WAL first (lock held)."""
        if buffer.tag is None or not buffer.dirty:
            invariant(False, f"_write_buffer of {buffer!r}")
        assert buffer.tag is not None
        page_lsn = pagelib.get_lsn(buffer.page)
        if page_lsn > self._wal_flushed_lsn:
            self.flush_wal(page_lsn)
            self._wal_flushed_lsn = page_lsn
        rnode, fork, blkno = buffer.tag
        self.smgr.write(rnode, fork, blkno, buffer.page)
        buffer.dirty = False
        self.stats.writes += 1

    # forgetting ----------------------------------------------------------------------------

    def drop_relation(self, rnode: RelFileNode, fork: int | None = None,
                      from_blkno: int = 0) -> None:
        """Forget buffers of ``rnode`` (one fork or all) from ``from_blkno`` on, unwritten.

        For DROP and TRUNCATE, just before the files are removed or cut: the cached length is
        forgotten too (or capped at ``from_blkno``). None of the buffers may be pinned.
        """
        with self.lock:
            self._forget_matching(lambda tag: tag[0] == rnode and (fork is None or tag[1] == fork)
                                  and tag[2] >= from_blkno, "drop_relation")
            for key in [key for key in self._nblocks
                        if key[0] == rnode and (fork is None or key[1] == fork)]:
                if from_blkno == 0:
                    del self._nblocks[key]
                else:
                    self._nblocks[key] = min(self._nblocks[key], from_blkno)

    def drop_database(self, database_oid: int) -> None:
        """Forget every buffer of database ``database_oid``'s relations, unwritten, and their
        cached lengths: DROP DATABASE (and its redo), just before the directory goes."""
        with self.lock:
            self._forget_matching(lambda tag: tag[0].db == database_oid, "drop_database")
            for key in [key for key in self._nblocks if key[0].db == database_oid]:
                del self._nblocks[key]

    def _forget_matching(self, wanted: Callable[[BufferTag], bool], caller: str) -> None:
        """Free every buffer whose tag is ``wanted``, unwritten (lock held; none pinned)."""
        for tag, buffer in list(self._table.items()):
            if not wanted(tag):
                continue
            invariant(buffer.pin_count == 0, f"{caller}: {buffer!r} is pinned")
            del self._table[tag]
            buffer.tag = None
            buffer.dirty = False
            buffer.usage_count = 0
            self._free.append(buffer)

    def truncate_relation(self, rnode: RelFileNode, fork: int, nblocks: int) -> None:
        """Cut a fork to ``nblocks`` blocks: drop the buffers past it, then the file's tail."""
        with self.lock:
            current = self._relation_nblocks(rnode, fork)
            self.drop_relation(rnode, fork, nblocks)
            self.smgr.truncate(rnode, fork, nblocks)
            self._nblocks[(rnode, fork)] = min(current, nblocks)

    # internals (lock held) -----------------------------------------------------------------

    def _claim_buffer(self) -> Buffer:
        """A buffer with no tag: a free one, a new one while fewer than ``nbuffers`` exist, or
        a clock-sweep victim (written first if dirty)."""
        self.stats.allocations += 1
        if self._free:
            return self._free.pop()
        if len(self._buffers) < self.nbuffers:
            buffer = Buffer(len(self._buffers))
            self._buffers.append(buffer)
            return buffer
        victim = self._clock_sweep()
        if victim.dirty:
            self._write_buffer(victim)
        del self._table[victim.tag]  # type: ignore[arg-type]
        victim.tag = None
        self.stats.evictions += 1
        return victim

    def _clock_sweep(self) -> Buffer:
        for _ in range(self.nbuffers * (MAX_USAGE_COUNT + 1)):
            buffer = self._buffers[self._clock_hand]
            self._clock_hand = (self._clock_hand + 1) % self.nbuffers
            if buffer.pin_count:
                continue
            if buffer.usage_count:
                buffer.usage_count -= 1
                continue
            return buffer
        raise MirrordbError("no unpinned buffers available", sqlstate="53000",
                            hint=f"All {self.nbuffers} buffers are pinned.")

    def _install(self, buffer: Buffer, tag: BufferTag) -> None:
        buffer.tag = tag
        buffer.pin_count = 1
        buffer.usage_count = 1
        buffer.dirty = False
        self._table[tag] = buffer

    def _load(self, buffer: Buffer, tag: BufferTag, nblocks: int, zero_if_missing: bool) -> None:
        rnode, fork, blkno = tag
        if zero_if_missing and blkno >= nblocks:
            buffer.page[:] = ZERO_PAGE
            self._nblocks[(rnode, fork)] = blkno + 1
            return
        # A torn final block is past ``nblocks`` (whole blocks only): redo zeroes it above,
        # any other reader gets DataCorrupted from the storage manager.
        if self.smgr.read_into(rnode, fork, blkno, buffer.page):
            _verify_page(buffer.page, tag)
            if blkno >= nblocks:
                self._nblocks[(rnode, fork)] = blkno + 1
        elif blkno < nblocks or zero_if_missing:
            buffer.page[:] = ZERO_PAGE  # skipped over by an extension, never written
        else:
            path = self.smgr.segment_path(rnode, fork, blkno // self.smgr.relseg_size_blocks)
            raise IoError(f'could not read block {blkno} in file "{path}": read only 0 of '
                          f"{BLCKSZ} bytes",
                          detail=f"The relation has {nblocks} blocks.")


def _verify_page(page: bytearray, tag: BufferTag) -> None:
    rnode, fork, blkno = tag
    where = f"block {blkno} of relation {rnode.relative_path(fork)}"
    if pagelib.is_new(page):
        if page != ZERO_PAGE:
            raise DataCorrupted(f"invalid page in {where}",
                                detail="pd_upper is zero but the page is not all zeros")
        return
    pagelib.verify_header(page, where)
