"""Redo of PostgreSQL's builtin resource managers that mirrordb writes: XLOG, Transaction,
Storage, Database, Standby and CLOG.

* XLOG: checkpoints and NEXTOID advance the counters recovery hands to the running server; FPI
  restores a page; SWITCH, NOOP, END_OF_RECOVERY, PARAMETER_CHANGE change no page.
* Transaction: COMMIT/ABORT set the commit log bits of the xid and its subxids, and unlink the files
  of relations the transaction dropped (commit) or created (abort).
* Storage: CREATE makes the relation file; TRUNCATE cuts its main fork (through the buffer pool).
  Unlinks and cuts bypass the buffer pool's WAL-before-data rule, so, as PostgreSQL does, the
  minimum recovery point is first advanced past the record (``RecoveryState.flush_to``).
* Database: CREATE_WAL_LOG makes a database's directory, CREATE_FILE_COPY copies one, DROP
  removes one (on a hot standby after terminating the sessions connected to it).
* Standby: RUNNING_XACTS and LOCK matter to a hot standby only; crash recovery skips them.

On a hot standby (recovery/hot_standby.py) these handlers also keep the standby's view of the
primary's running transactions: COMMIT/ABORT end an xid tree (after its commit log bits are
set, so no snapshot sees half of it), ASSIGNMENT announces subtransactions, RUNNING_XACTS and a
shutdown checkpoint make snapshots possible. A commit carrying invalidation messages (it
changed catalogs) empties the relation cache after the transaction is visible. LOCK records take
the primary's AccessExclusiveLocks in the standby's lock manager (recovery/standby_locks.py,
which may have to wait for, then cancel, queries holding the relation); the COMMIT or ABORT of
the locking transaction releases them once its files are dropped and the caches forgot it, a
RUNNING_XACTS record releases those of transactions that ended unlogged, a shutdown checkpoint
all of them.
"""

from __future__ import annotations

from mirrordb.access.clog import XACT_ABORTED, XACT_COMMITTED
from mirrordb.common.checkpoint import CheckPoint
from mirrordb.recovery import hot_standby, standby_locks
from mirrordb.recovery.redo import RedoContext, register_redo
from mirrordb.wal import payloads, rmgr
from mirrordb.wal.record import DecodedRecord


def xlog_redo(context: RedoContext, record: DecodedRecord) -> None:
    info = record.info & rmgr.XLR_RMGR_INFO_MASK
    state = context.state
    if info in (rmgr.XLOG_CHECKPOINT_SHUTDOWN, rmgr.XLOG_CHECKPOINT_ONLINE):
        checkpoint = CheckPoint.decode(record.main_data)
        state.observe_next_full_xid(checkpoint.next_full_xid)
        state.observe_next_oid(checkpoint.next_oid)
        tracker = hot_standby.tracker_for(state)
        if tracker is not None and info == rmgr.XLOG_CHECKPOINT_SHUTDOWN:
            tracker.apply_shutdown_checkpoint(checkpoint.next_xid)
        locks = standby_locks.recovery_locks_for(state)
        if locks is not None and info == rmgr.XLOG_CHECKPOINT_SHUTDOWN:
            locks.release_all()
    elif info == rmgr.XLOG_NEXTOID:
        state.observe_next_oid(payloads.decode_nextoid(record.main_data))
    elif info in (rmgr.XLOG_FPI, rmgr.XLOG_FPI_FOR_HINT):
        for block in record.blocks:
            context.redo_block(record, block.block_id, None)


# A COMMIT whose main data is xact_time alone (no XLOG_XACT_HAS_INFO, so no subtransactions,
# files, invalidations or flags): nearly every commit of a busy primary.
PLAIN_COMMIT_SIZE = 8


def xact_redo(context: RedoContext, record: DecodedRecord) -> None:
    info = record.info
    if info & (rmgr.XLOG_XACT_OPMASK | rmgr.XLOG_XACT_HAS_INFO) == rmgr.XLOG_XACT_COMMIT \
            and len(record.main_data) == PLAIN_COMMIT_SIZE:
        _redo_plain_commit(context, record.xid)
        return
    parsed = payloads.decode_xact_record(record.info, record.main_data)
    op = record.info & rmgr.XLOG_XACT_OPMASK
    tracker = hot_standby.tracker_for(context.state)
    if isinstance(parsed, payloads.XactAssignment):
        if tracker is not None:
            tracker.assign(parsed.xtop, parsed.subxids)
        return
    xids = [record.xid, *parsed.subxids]
    if op not in (rmgr.XLOG_XACT_COMMIT, rmgr.XLOG_XACT_ABORT):
        return
    context.state.set_fate(xids, XACT_COMMITTED if op == rmgr.XLOG_XACT_COMMIT else XACT_ABORTED)
    if tracker is not None:
        tracker.complete(record.xid, parsed.subxids)
    if isinstance(parsed, payloads.XactCommit) and parsed.invalidations:
        hot_standby.invalidate_caches(context.state)
    if parsed.xinfo & payloads.XACT_COMPLETION_APPLY_FEEDBACK:
        context.state.request_walreceiver_reply()
    if parsed.rels:
        context.state.flush_to(record.end_lsn)      # an unlink cannot be undone: cover it first
        context.state.drop_relations(list(parsed.rels))
    locks = standby_locks.recovery_locks_for(context.state)
    if locks is not None:      # last: a query woken by the release finds the new state
        locks.release_tree(record.xid, parsed.subxids)


def _redo_plain_commit(context: RedoContext, xid: int) -> None:
    """``xact_redo`` of a commit with nothing but its time: the same steps, without decoding
    (the record's length was checked; xact_time is read by the startup loop)."""
    context.state.set_fate([xid], XACT_COMMITTED)
    tracker = hot_standby.tracker_for(context.state)
    if tracker is not None:
        tracker.complete(xid, ())
    locks = standby_locks.recovery_locks_for(context.state)
    if locks is not None:
        locks.release_tree(xid, ())


def smgr_redo(context: RedoContext, record: DecodedRecord) -> None:
    info = record.info & rmgr.XLR_RMGR_INFO_MASK
    if info == rmgr.XLOG_SMGR_CREATE:
        create = payloads.SmgrCreate.decode(record.main_data)
        context.state.create_relation(create.rnode, create.fork)
    elif info == rmgr.XLOG_SMGR_TRUNCATE:
        truncate = payloads.SmgrTruncate.decode(record.main_data)
        if truncate.flags & payloads.SMGR_TRUNCATE_HEAP:
            context.state.flush_to(record.end_lsn)  # a cut cannot be undone: cover it first
            context.state.truncate_relation(truncate.rnode, truncate.blkno)


def dbase_redo(context: RedoContext, record: DecodedRecord) -> None:
    """CREATE DATABASE: the WAL_LOG strategy's record makes the directory (its files and
    pages come as SMGR CREATE and XLOG_FPI records); FILE_COPY's copies the source directory.
    DROP DATABASE ends the sessions connected to it on a hot standby, then removes it."""
    info = record.info & rmgr.XLR_RMGR_INFO_MASK
    state = context.state
    if info == rmgr.XLOG_DBASE_CREATE_WAL_LOG:
        created = payloads.DbaseCreateWalLog.decode(record.main_data)
        state.create_database_directory(created.db)
    elif info == rmgr.XLOG_DBASE_CREATE_FILE_COPY:
        copied = payloads.DbaseCreateFileCopy.decode(record.main_data)
        state.flush_to(record.end_lsn)
        state.copy_database_directory(copied.src_db, copied.db)
    elif info == rmgr.XLOG_DBASE_DROP:
        dropped = payloads.DbaseDrop.decode(record.main_data)
        state.flush_to(record.end_lsn)      # a removal cannot be undone: cover it first
        state.drop_database(dropped.db)


def standby_redo(context: RedoContext, record: DecodedRecord) -> None:
    """RUNNING_XACTS feeds a hot standby's snapshots and releases the locks of transactions
    that ended unlogged; LOCK takes the primary's AccessExclusiveLocks."""
    info = record.info & rmgr.XLR_RMGR_INFO_MASK
    tracker = hot_standby.tracker_for(context.state)
    locks = standby_locks.recovery_locks_for(context.state)
    if info == rmgr.XLOG_RUNNING_XACTS:
        running = payloads.RunningXacts.decode(record.main_data)
        if tracker is not None:
            tracker.apply_running_xacts(running)
        if locks is not None:
            locks.release_older_than(running.oldest_running_xid)
    elif info == rmgr.XLOG_STANDBY_LOCK and locks is not None:
        for xid, database_oid, relation_oid in payloads.StandbyLocks.decode(
                record.main_data).locks:
            locks.acquire(xid, database_oid, relation_oid)


def nothing_to_redo(context: RedoContext, record: DecodedRecord) -> None:
    """Records that change no page in crash recovery."""


register_redo(rmgr.RM_XLOG_ID, xlog_redo)
register_redo(rmgr.RM_XACT_ID, xact_redo)
register_redo(rmgr.RM_SMGR_ID, smgr_redo)
register_redo(rmgr.RM_DBASE_ID, dbase_redo)
register_redo(rmgr.RM_STANDBY_ID, standby_redo)
register_redo(rmgr.RM_CLOG_ID, nothing_to_redo)
