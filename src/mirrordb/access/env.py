"""The shared services an access method works with, and the one place that decides whether a page
change is WAL-logged.

Who uses it: the engine builds one ``AccessEnv`` per server (engine.py) and hands it to the heap,
sequences and VACUUM; the engine's B-tree handles get its ``PageChangeLogger``. Transactions call
back into the logger at commit (``sync_at_commit``) and when relation files are dropped
(``forget``); the other half of skipped WAL, the commit record, is access/xact.py.

**wal_level = minimal** (PostgreSQL's "WAL skipping", storage.c's pending syncs). A relation file
created by a running transaction (CREATE TABLE / INDEX / SEQUENCE, or the new file of a TRUNCATE)
is invisible to every other transaction until that transaction commits, and is unlinked if it
aborts. So under ``wal_level = minimal`` its page changes need no WAL: a crash before the commit
loses the relation anyway. ``PageChangeLogger.needs_wal`` is PostgreSQL's RelationNeedsWAL; every
page change of the heap, B-tree and sequences goes through ``PageChangeLogger.log``, which either
inserts the record (the WAL-logging recipe) or skips it. At commit, before the commit record,
``sync_at_commit`` makes each such relation durable as PostgreSQL 15 does:

* smaller than ``wal_skip_threshold``: one XLOG_FPI record per ``FPI_BLOCKS_PER_RECORD`` blocks
  carries a full-page image of every initialised block (log_newpage_range), stamped into pd_lsn;
  the commit's WAL flush makes them durable with the commit record;
* otherwise: every dirty buffer of the relation is written and the file fsynced.

Either way, from then on the relation's changes are WAL-logged like any other.

**Unlogged relations** (relpersistence 'u', PostgreSQL's RELPERSISTENCE_UNLOGGED). Their page
changes never write WAL, at any wal_level: ``log`` stamps fake LSNs as for skipped changes. A
relation file's persistence never changes (SET LOGGED / SET UNLOGGED and TRUNCATE give the
relation a new file), so the logger keeps it per file: ``mark_unlogged`` at creation, else the
presence of the file's init fork (``<relfilenode>_init``, storage/reinit.py), looked up once.
A temporary relation's file (``TempRelFileNode``) never writes WAL either, and has no init fork.

Fake LSNs. A skipped change cannot stamp a real record's end into pd_lsn, but pages must still get
a new LSN per change: the B-tree's decoded-page cache and scans detect changes by LSN. So a
skipped change stamps a per-relation counter, wrapping within ``[1, FAKE_LSN_LIMIT)``, below every
real WAL position (WAL starts in segment 1, at least 1 MB in). Such an LSN is always "already
flushed" for the buffer pool's WAL-before-data rule, never makes redo skip a later record, and is
at or below every checkpoint's REDO point, so the first logged change after the commit attaches a
full-page image (pages of a relation made durable by fsync keep their fake LSNs).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mirrordb.common.errors import InvariantViolation, invariant
from mirrordb.common.lsn import INVALID_LSN
from mirrordb.storage import page as pagelib
from mirrordb.storage.relfilenode import INIT_FORKNUM, MAIN_FORKNUM, RelFileNode, TempRelFileNode
from mirrordb.wal.record import REGBUF_FORCE_IMAGE, REGBUF_STANDARD, XLR_MAX_BLOCK_ID
from mirrordb.wal.rmgr import RM_XLOG_ID, XLOG_FPI
from mirrordb.wal.writer import BlockRegistration

if TYPE_CHECKING:
    from mirrordb.access.xact import TransactionManager
    from mirrordb.storage.bufmgr import Buffer, BufferPool
    from mirrordb.storage.smgr import StorageManager
    from mirrordb.wal.writer import WalWriter

WAL_LEVEL_MINIMAL = "minimal"
WAL_LEVEL_REPLICA = "replica"

DEFAULT_WAL_SKIP_THRESHOLD_BYTES = 2 * 1024 * 1024     # PostgreSQL's wal_skip_threshold, 2MB
# Fake LSNs of skipped changes stay below this: the smallest possible first real WAL position
# (segment 1 of 1 MB segments).
FAKE_LSN_LIMIT = 1 << 20
# Full-page images per XLOG_FPI record at commit (PostgreSQL's log_newpage_range uses
# XLR_MAX_BLOCK_ID), fewer when the buffer pool is small: they are pinned together.
FPI_BLOCKS_PER_RECORD = XLR_MAX_BLOCK_ID


@dataclass(eq=False)
class FreeSpaceMap:
    """In-memory hints of heap pages with room (PostgreSQL's FSM is a hint too; lost on restart,
    rebuilt by the next VACUUM). ``target`` is the page each relation currently fills."""

    target: dict[RelFileNode, int] = field(default_factory=dict)
    free_pages: dict[RelFileNode, set[int]] = field(default_factory=dict)

    def forget(self, rnode: RelFileNode) -> None:
        self.target.pop(rnode, None)
        self.free_pages.pop(rnode, None)


class PageChangeLogger:
    """The end of the WAL-logging recipe for every access method (see the module docstring).

    ``log`` is called under ``pool.lock`` with the pages already changed; it inserts the record
    and stamps its end LSN into every changed page, or skips the record for a relation created
    by its still-running transaction under ``wal_level = minimal``; either way it marks the
    buffers dirty. The skipped set is read by every session and changed only by the
    transaction that owns the relations (under ``_lock``).
    """

    def __init__(self, pool: BufferPool, wal: WalWriter, *, wal_level: str = WAL_LEVEL_REPLICA,
                 smgr: StorageManager | None = None,
                 wal_skip_threshold_bytes: int = DEFAULT_WAL_SKIP_THRESHOLD_BYTES) -> None:
        invariant(wal_level != WAL_LEVEL_MINIMAL or smgr is not None,
                  "wal_level=minimal needs the storage manager to fsync skipped relations")
        self.pool = pool
        self.wal = wal
        self.wal_level = wal_level
        self.smgr = smgr
        self.wal_skip_threshold_bytes = wal_skip_threshold_bytes
        self._lock = threading.Lock()
        self._skipped: dict[RelFileNode, int] = {}      # relation -> last fake LSN stamped
        self._unlogged: dict[RelFileNode, bool] = {}    # relation file -> has an init fork
        self._unlogged_lsns: dict[RelFileNode, int] = {}   # unlogged file -> last fake LSN

    # -- the decision -----------------------------------------------------------------------

    def needs_wal(self, rnode: RelFileNode) -> bool:
        """PostgreSQL's RelationNeedsWAL: False for a relation whose WAL is skipped and for an
        unlogged relation."""
        return rnode not in self._skipped and not self.never_logged(rnode)

    def mark_unlogged(self, rnode: RelFileNode) -> None:
        """``rnode`` is a new unlogged relation file: its page changes never write WAL."""
        with self._lock:
            self._unlogged[rnode] = True

    def never_logged(self, rnode: RelFileNode) -> bool:
        """Whether ``rnode``'s page changes never write WAL: an unlogged relation's file or a
        temporary relation's."""
        return isinstance(rnode, TempRelFileNode) or self.is_unlogged(rnode)

    def is_unlogged(self, rnode: RelFileNode) -> bool:
        """Whether ``rnode`` is an unlogged relation's file (it has an init fork)."""
        if isinstance(rnode, TempRelFileNode):
            return False
        known = self._unlogged.get(rnode)
        if known is None:
            known = self.smgr is not None and self.smgr.exists(rnode, INIT_FORKNUM)
            with self._lock:
                self._unlogged[rnode] = known
        return known

    def relation_created(self, rnode: RelFileNode) -> bool:
        """A transaction created ``rnode``'s file: under wal_level=minimal its changes skip WAL
        until ``sync_at_commit`` (or ``forget``). Returns whether they do."""
        if self.wal_level != WAL_LEVEL_MINIMAL:
            return False
        with self._lock:
            self._skipped.setdefault(rnode, 0)
        return True

    def skipped_relations(self) -> list[RelFileNode]:
        with self._lock:
            return list(self._skipped)

    # -- the recipe's end -------------------------------------------------------------------

    def log(self, rmid: int, info: int, main_data: bytes, blocks: Sequence[BlockRegistration],
            buffers: Sequence[Buffer], xid: int = 0) -> int:
        """Insert the record of a change to ``buffers`` (all of one relation, as ``blocks`` say)
        and stamp its end LSN into them, or skip it; then mark them dirty. Returns the record's
        end LSN, or INVALID_LSN when the record was skipped (nothing to flush).

        The pages are already changed, so failing to insert the record (a full disk while the
        WAL buffers make room) would leave them changed without WAL: that is an invariant
        violation, PostgreSQL's PANIC in a critical section."""
        if blocks and blocks[0].rnode in self._skipped:
            self._stamp_skipped_change(blocks[0].rnode, buffers)
            return INVALID_LSN
        if blocks and self.never_logged(blocks[0].rnode):
            self._stamp_unlogged_change(blocks[0].rnode, buffers)
            return INVALID_LSN
        try:
            end_lsn = self.wal.insert(rmid, info, main_data, blocks, xid=xid)
        except BaseException as error:
            raise InvariantViolation(
                f"resource manager {rmid}: failure inside a WAL critical section; pages may be "
                "changed without WAL, the server must stop") from error
        mark_dirty = self.pool.mark_dirty
        for buffer in buffers:
            pagelib.set_lsn(buffer.page, end_lsn)
            mark_dirty(buffer)
        return end_lsn

    def _stamp_skipped_change(self, rnode: RelFileNode, buffers: Sequence[Buffer]) -> None:
        fake_lsn = self._skipped[rnode] % (FAKE_LSN_LIMIT - 1) + 1
        self._skipped[rnode] = fake_lsn
        self._stamp(rnode, buffers, fake_lsn)

    def _stamp_unlogged_change(self, rnode: RelFileNode, buffers: Sequence[Buffer]) -> None:
        fake_lsn = self._unlogged_lsns.get(rnode, 0) % (FAKE_LSN_LIMIT - 1) + 1
        self._unlogged_lsns[rnode] = fake_lsn
        self._stamp(rnode, buffers, fake_lsn)

    def _stamp(self, rnode: RelFileNode, buffers: Sequence[Buffer], fake_lsn: int) -> None:
        for buffer in buffers:
            if buffer.tag is None or buffer.tag[0] != rnode:
                invariant(False, f"a skipped change of {rnode} also touches {buffer!r}")
            pagelib.set_lsn(buffer.page, fake_lsn)
            self.pool.mark_dirty(buffer)

    # -- transaction end --------------------------------------------------------------------

    def sync_at_commit(self, relations: Iterable[RelFileNode]) -> None:
        """Make the skipped relations among ``relations`` durable, before the commit record
        (PostgreSQL's smgrDoPendingSyncs): WAL images for small ones, fsync for the others."""
        to_fsync = []
        for rnode in relations:
            if rnode not in self._skipped:
                continue
            nblocks = self.pool.nblocks(rnode, MAIN_FORKNUM)
            if nblocks * pagelib.BLCKSZ >= self.wal_skip_threshold_bytes:
                to_fsync.append(rnode)
            else:
                self._log_images(rnode, nblocks)
            with self._lock:
                del self._skipped[rnode]
        for rnode in to_fsync:
            self._flush_and_fsync(rnode)

    def forget(self, relations: Iterable[RelFileNode]) -> None:
        """The relations' files are being dropped (abort, or DROP at commit): stop tracking."""
        with self._lock:
            for rnode in relations:
                self._skipped.pop(rnode, None)
                self._unlogged.pop(rnode, None)
                self._unlogged_lsns.pop(rnode, None)

    def _images_per_record(self) -> int:
        return max(1, min(FPI_BLOCKS_PER_RECORD, self.pool.nbuffers // 4))

    def _log_images(self, rnode: RelFileNode, nblocks: int) -> None:
        """XLOG_FPI records with a full-page image of every initialised block
        (PostgreSQL's log_newpage_range)."""
        pool = self.pool
        per_record = self._images_per_record()
        for first in range(0, nblocks, per_record):
            with pool.lock:
                buffers = []
                try:
                    for blkno in range(first, min(first + per_record, nblocks)):
                        buffers.append(pool.read_buffer(rnode, MAIN_FORKNUM, blkno))
                    self._log_image_batch(rnode, [b for b in buffers
                                                  if not pagelib.is_new(b.page)])
                finally:
                    for buffer in buffers:
                        pool.release(buffer)

    def copy_relation_logged(self, source: RelFileNode, target: RelFileNode,
                             source_fork: int = MAIN_FORKNUM,
                             target_fork: int = MAIN_FORKNUM) -> None:
        """Fill the new, empty ``target`` with ``source``'s pages through the buffer pool, each
        WAL-logged as a full-page image, new (zero) pages too, so a standby's copy has the same
        length (PostgreSQL's RelationCopyStorageUsingBuffer: CREATE DATABASE's WAL_LOG
        strategy; also an unlogged relation's init fork, and ALTER TABLE SET LOGGED)."""
        pool = self.pool
        nblocks = pool.nblocks(source, source_fork)
        per_record = self._images_per_record()
        for first in range(0, nblocks, per_record):
            with pool.lock:
                copies: list[Buffer] = []
                try:
                    for blkno in range(first, min(first + per_record, nblocks)):
                        original = pool.read_buffer(source, source_fork, blkno)
                        try:
                            copies.append(pool.extend(target, target_fork))
                            copies[-1].page[:] = original.page
                        finally:
                            pool.release(original)
                    self._log_image_batch(target, copies, target_fork)
                finally:
                    for copy in copies:
                        pool.release(copy)

    def _log_image_batch(self, rnode: RelFileNode, buffers: list[Buffer],
                         fork: int = MAIN_FORKNUM) -> None:
        if not buffers:
            return
        blocks = []
        for block_id, buffer in enumerate(buffers):
            assert buffer.tag is not None           # pinned
            blocks.append(BlockRegistration(block_id, rnode, fork, buffer.tag[2],
                                            buffer.page, b"", REGBUF_FORCE_IMAGE | REGBUF_STANDARD))
        end_lsn = self.wal.insert(RM_XLOG_ID, XLOG_FPI, b"", blocks)
        for buffer in buffers:
            pagelib.set_lsn(buffer.page, end_lsn)
            self.pool.mark_dirty(buffer)

    def _flush_and_fsync(self, rnode: RelFileNode) -> None:
        assert self.smgr is not None
        self.pool.flush_relation(rnode)
        if self.smgr.exists(rnode, MAIN_FORKNUM):
            self.smgr.sync(rnode, MAIN_FORKNUM)


@dataclass(eq=False)
class AccessEnv:
    pool: BufferPool
    wal: WalWriter
    xacts: TransactionManager
    smgr: StorageManager
    wal_level: str = WAL_LEVEL_REPLICA
    fsm: FreeSpaceMap = field(default_factory=FreeSpaceMap)
    wal_skip_threshold_bytes: int = DEFAULT_WAL_SKIP_THRESHOLD_BYTES
    changes: PageChangeLogger = field(init=False)

    def __post_init__(self) -> None:
        self.changes = PageChangeLogger(self.pool, self.wal, wal_level=self.wal_level,
                                        smgr=self.smgr,
                                        wal_skip_threshold_bytes=self.wal_skip_threshold_bytes)
