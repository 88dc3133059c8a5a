"""Redo dispatch: one handler per resource manager, shared by crash recovery and (later) the standby.

Every access method registers ``handler(context, record)`` for its resource manager id with
``register_redo``. The startup loop decodes a record and calls the handler, which changes each
block the record names with the very function the primary used to change the page. That is how
redo produces byte-identical pages: the writer and the replayer run the same pure page function
on the same bytes.

A handler changes a block in one of two ways, both under ``pool.lock``:

* ``context.redo_block(record, block_id, change)``, passing the page change as a function: the
  general form;
* ``buffer = context.begin_block(record, block, init)``; when it is not None, run the page
  functions on ``buffer.page`` and call ``context.end_block(record, block, buffer)``: the same
  rules, without a closure and a call through it; the hot handlers (heap row changes, the
  B-tree leaf insert) use it. ``redo_block`` is these two calls around ``change``.

Both follow PostgreSQL's XLogReadBufferForRedo rules (``begin_block`` and ``end_block`` hold them):

* the block carries an image marked "apply": restore it (the change is already in it);
* else the page's LSN is at or past the record's end: the change is already there, skip it;
* else apply the change (on a zeroed page when the record re-initialises it);

then set pd_lsn to the record's end LSN and mark the buffer dirty. With ``consistency_checking`` on,
a block that carries a check image is compared with the page redo produced, and a mismatch stops
replay with an error naming the relation, block and LSN.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from mirrordb.common.errors import DataCorrupted, invariant
from mirrordb.common.lsn import INVALID_LSN, format_lsn
from mirrordb.storage import page as pagelib

if TYPE_CHECKING:
    from mirrordb.storage.bufmgr import Buffer, BufferPool
    from mirrordb.wal.record import BlockRef, DecodedRecord

# pd_lsn (xlogid, xrecoff) and, 14 bytes into the page, pd_upper, which is 0 only on a page never
# initialised (storage/page.py documents the page header); one unpack per block in redo.
_PAGE_LSN = struct.Struct("<II")
_PAGE_LSN_AND_UPPER = struct.Struct("<II6xH")
assert _PAGE_LSN_AND_UPPER.size == 16

RedoHandler = Callable[["RedoContext", "DecodedRecord"], None]
PageChange = Callable[[bytearray], None]

_handlers: dict[int, RedoHandler] = {}


def register_redo(rmid: int, handler: RedoHandler) -> None:
    """Install the redo handler of resource manager ``rmid`` (at import of its access module)."""
    invariant(_handlers.get(rmid, handler) is handler, f"two redo handlers for rmgr {rmid}")
    _handlers[rmid] = handler


def handler_for(rmid: int) -> RedoHandler | None:
    return _handlers.get(rmid)


def redo_handlers() -> Mapping[int, RedoHandler]:
    """The live table of handlers by resource manager id (read-only; handlers registered later
    appear in it): the startup loop looks up each record's handler here without ``dispatch``'s
    call."""
    return _handlers


class RedoContext:
    """What a redo handler may touch: the buffer pool, and the rules for changing a page in redo."""

    def __init__(self, pool: BufferPool, *, consistency_checking: bool = False,
                 state: RecoveryState | None = None) -> None:
        self.pool = pool
        self.consistency_checking = consistency_checking
        self.state: RecoveryState = state if state is not None else RecoveryState()

    def redo_block(self, record: DecodedRecord, block_id: int, change: PageChange | None,
                   *, init: bool = False) -> None:
        """Bring block ``block_id`` of ``record`` up to date (see the module docstring).

        ``change`` may be None for a record that only carries an image for this block.
        ``init`` zeroes the page before ``change`` runs (records that rebuild a page).

        The general form, for records of any shape: ``begin_block``, the change, ``end_block``
        under the pool lock. The hot handlers (heap, B-tree leaf insert) make those two calls
        themselves and run their page functions in between, without a closure per block.
        """
        blocks = record.blocks   # nearly always block 0 first: skip the search
        block = blocks[0] if blocks and blocks[0].block_id == block_id else \
            record.block(block_id)
        if block is None:   # the message is built only on failure: this runs for every block
            invariant(False, f"record at {format_lsn(record.start_lsn)} has no block {block_id}")
        assert block is not None
        with self.pool.lock:
            buffer = self.begin_block(record, block, init)
            if buffer is None:
                return
            if change is None:   # the message is built only on failure (hot path)
                invariant(False, f"record at {format_lsn(record.start_lsn)} needs a page "
                                 f"change for block {block_id}")
            assert change is not None
            change(buffer.page)
            self.end_block(record, block, buffer)

    def begin_block(self, record: DecodedRecord, block: BlockRef, init: bool) -> Buffer | None:
        """First half of redoing ``block`` (PostgreSQL's XLogReadBufferForRedo); the caller holds
        ``pool.lock`` until ``end_block``.

        Returns the buffer whose page the caller must change, then pass to ``end_block``; or
        None when there is nothing to change: the block was restored from its image (which
        holds the change; its LSN is set and the buffer marked dirty here), or the page's LSN
        is at or past the record's end (the change is already there). ``init``: the record
        rebuilds the page, which is zeroed here (never read from disk first).

        One buffer lookup (``BufferPool.buffer_for_redo``), no pin (the lock keeps the buffer
        from being evicted); a block that is restored or rebuilt is never read from disk.
        """
        image = block.image
        restore = image is not None and image.apply
        buffer = self.pool.buffer_for_redo((block.rnode, block.fork, block.blkno),
                                           restore or init)
        page = buffer.page
        if restore:
            image.restore_into(page)   # type: ignore[union-attr]
            self.end_block(record, block, buffer)
            return None
        if init:
            page[:] = pagelib.ZERO_PAGE
        else:
            high, low, upper = _PAGE_LSN_AND_UPPER.unpack_from(page, 0)
            if upper and (high << 32) | low >= record.end_lsn:
                return None   # the change is already on the page (upper 0: a new page)
        return buffer

    def end_block(self, record: DecodedRecord, block: BlockRef, buffer: Buffer) -> None:
        """Second half: the page of ``buffer`` now holds ``record``'s change to ``block``.
        With ``consistency_checking`` on, a block carrying a check image (not one to apply) is
        compared with the page; then pd_lsn becomes the record's end and the buffer is dirty."""
        page = buffer.page
        if self.consistency_checking and block.image is not None and not block.image.apply:
            self._check_consistency(record, block, page)
        end_lsn = record.end_lsn
        _PAGE_LSN.pack_into(page, 0, end_lsn >> 32, end_lsn & 0xFFFFFFFF)
        buffer.dirty = True

    @staticmethod
    def _check_consistency(record: DecodedRecord, block: BlockRef, page: bytearray) -> None:
        assert block.image is not None
        expected = block.image.page()
        produced = bytearray(page)
        pagelib.set_lsn(produced, pagelib.get_lsn(expected))
        if bytes(produced) != expected:
            raise DataCorrupted(
                f"inconsistent page found, rel {block.rnode}, forknum {block.fork}, "
                f"blkno {block.blkno}",
                detail=f"redo of the record at {format_lsn(record.start_lsn)} produced a page "
                       "that differs from the full-page image the writer attached")


class RecoveryState:
    """What redo of non-page records updates: counters, the commit log, relation files; and
    where replay stands, for the consistency check a standby needs.

    The base class only remembers counters and positions; the startup process
    (recovery/startup.py) passes one wired to the server's commit log, storage manager and
    minimum recovery point, and keeps the positions up to date:

    * ``replay_end_lsn``: end of the record being replayed (PostgreSQL's replayEndRecPtr), or of
      the last one between records: what minRecoveryPoint advances to;
    * ``last_replayed_end_lsn``: end of the last record fully replayed;
    * ``min_recovery_point``: how far replay must get before the data files are consistent
      (pg_control's value when replay began; INVALID_LSN in crash recovery, which is consistent
      only at the end of WAL); ``backup_pending``: a base backup's end has not been replayed yet;
    * ``consistent_at_lsn``: where consistency was reached (INVALID_LSN: not yet).
    """

    def __init__(self) -> None:
        self.next_full_xid = 0
        self.next_oid = 0
        self.replay_end_lsn = INVALID_LSN
        self.last_replayed_end_lsn = INVALID_LSN
        self.min_recovery_point = INVALID_LSN
        self.backup_pending = False
        self.consistent_at_lsn = INVALID_LSN
        self.walreceiver_reply_requested = False

    @property
    def consistent(self) -> bool:
        """Whether the data files are consistent: hot standby queries may start."""
        return self.consistent_at_lsn != INVALID_LSN

    def check_consistency(self) -> bool:
        """PostgreSQL's CheckRecoveryConsistency: True the first time replay has passed the
        minimum recovery point (archive recovery only)."""
        if self.consistent or self.min_recovery_point == INVALID_LSN or self.backup_pending:
            return False
        if self.last_replayed_end_lsn < self.min_recovery_point:
            return False
        self.consistent_at_lsn = self.last_replayed_end_lsn
        return True

    def flush_to(self, lsn: int) -> None:
        """XLogFlush during recovery: before redo changes files irreversibly (truncate, unlink)
        bypassing the buffer pool, the minimum recovery point must cover the record at ``lsn``."""

    def request_walreceiver_reply(self) -> None:
        """PostgreSQL's XLogRequestWalReceiverReply: the record being replayed is a commit whose
        writer waits for it to be applied (remote_apply). The standby's startup thread sees
        ``walreceiver_reply_requested`` once the record is replayed and has the walreceiver send
        a status update at once; crash recovery ignores it."""
        self.walreceiver_reply_requested = True

    def observe_next_full_xid(self, next_full_xid: int) -> None:
        self.next_full_xid = max(self.next_full_xid, next_full_xid)

    def observe_next_oid(self, next_oid: int) -> None:
        self.next_oid = max(self.next_oid, next_oid)

    def set_fate(self, xids: list[int], status: int) -> None:
        """Record commit or abort of ``xids`` in the commit log."""

    def resolve_snapshot_conflict(self, latest_removed_xid: int, rnode: object) -> None:
        """Before redo removes row versions of ``rnode`` whose newest deleter is
        ``latest_removed_xid``: a hot standby waits for, then cancels, the queries whose
        snapshot could still see them (PostgreSQL's ResolveRecoveryConflictWithSnapshot).
        Crash recovery has no queries: nothing to do."""

    def drop_relations(self, relations: list[object]) -> None:
        """Unlink the files of relations a transaction dropped (or created, then aborted)."""

    def create_relation(self, rnode: object, fork: int) -> None:
        """Create a relation file (idempotent)."""

    def truncate_relation(self, rnode: object, nblocks: int) -> None:
        """Cut a relation's main fork to ``nblocks`` (creating it if it is missing)."""

    def create_database_directory(self, database_oid: int) -> None:
        """Make a database's directory and its PG_VERSION (idempotent)."""

    def copy_database_directory(self, source_oid: int, database_oid: int) -> None:
        """Replace a database's directory by a copy of another's (FILE_COPY strategy)."""

    def drop_database(self, database_oid: int) -> None:
        """Remove a database's directory (after ending the sessions connected to it)."""


def dispatch(context: RedoContext, record: DecodedRecord) -> None:
    """Replay one record through its resource manager's handler."""
    handler = _handlers.get(record.rmid)
    if handler is None:
        raise DataCorrupted(f"no redo routine for resource manager {record.rmid} in record at "
                            f"{format_lsn(record.start_lsn)}")
    handler(context, record)
