"""The storage engine's library API: what the SQL layer calls, and what tests drive directly.

``Engine.open(datadir)`` assembles the subsystems of one server (relation files, buffer pool, WAL,
commit log, transactions, access methods, catalogs), runs crash recovery, and starts the WAL
writer and checkpointer threads. ``engine.begin()`` returns a ``Txn`` whose methods are the data
operations: DDL (create/drop table, index, sequence; truncate; reindex), DML (insert, update,
delete, lock), reads (fetch, scan, index lookups), savepoints, commit and abort.
``engine.close()`` writes a shutdown checkpoint; ``engine.crash()`` (tests only) drops
everything without one.
``Engine.open(datadir, standby_mode=True)`` instead replays the WAL in pg_wal in archive recovery
and stays in recovery (``engine.startup``: replay more with ``replay_available()``, consistency in
``startup.state``); no WAL is written, and of the background threads only the checkpointer runs,
making restartpoints beside replay (recovery/checkpoint.py), until the startup thread promotes the
server (recovery/promote.py): ``finish_promotion()`` ends recovery and the engine becomes a
primary's. pg_control changes go through ``update_control``.

Table statistics and autovacuum: every ``Txn`` counts its inserts, updates and deletes per table
and reports them to ``engine.table_stats`` (access/pgstat.py) when it ends.
``engine.start_autovacuum()`` starts the "autovacuum launcher" thread (access/autovacuum.py),
which vacuums tables whose dead row versions pass the autovacuum settings' limit; the server
calls it once it serves clients (a bare ``Engine.open``, as tests use, runs no launcher, so
explicit ``vacuum()`` calls see every dead version). ``close()`` and ``crash()`` stop it.

Relation locks (access/lmgr.py): every ``Txn`` has a lock owner; the DDL methods lock what they
change (AccessExclusiveLock; ShareLock on the table for ``create_index`` and the reindexes,
which lock each index AccessExclusive; new relations are locked before their file exists)
and ``nextval`` its sequence, the SQL layer locks what its statements use (a table's indexes
with it: ``open_relation(lock_indexes=True)``); all of it is released when the transaction
ends, after the relation cache forgot its catalog changes. The first AccessExclusiveLock on a
relation is WAL-logged for standbys (``Txn.log``); ``running_access_exclusive_locks`` is what a
checkpoint logs.

VACUUM beside running sessions: a vacuum holds its table's ShareUpdateExclusiveLock, so the
table's files cannot be dropped or swapped (DROP, TRUNCATE, a rewrite) and no index can be built
on it (CREATE INDEX's ShareLock) while the vacuum works, and it never meets an index whose
building transaction is still open: the commit or abort record that drops a table's files lies
wholly after the vacuum's WAL for it, as a standby unlinking the files at that record needs.
Autovacuum does not wait for the lock (it skips the table) and stops early when a session waits
for it. Vacuums run one at a time under ``_vacuum_lock``, taken after the relation lock. Why
scans and unique checks stay correct while line pointers are freed and reused is written in
access/vacuum.py.

Databases: the cluster has several (template1, template0, postgres and those CREATE DATABASE
makes, catalog/database.py), each with its own catalog files and relation cache. ``Engine`` is
the cluster, and it is also the ``postgres`` database's view of it; ``engine.database(oid)``
gives another database's view (``DatabaseEngine``): the same cluster-wide WAL, buffers,
transactions and locks, with that database's ``relcache`` and ``database_oid``. A ``Txn`` begun
from a view reads and writes that database's catalogs and creates relations in its directory.
Relation names are unique within a schema, as in PostgreSQL: a Txn method that names a
relation takes a ``RelationRef`` (a Relation or an OID, found by OID, or a (schema OID, name)
pair); re-lookups after a lock wait or a DDL change go by OID or by that pair. A bare name
means the only relation of that name (public's first), for engine-level tests and tools; the
SQL layer resolves names through the search path and never passes one.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mirrordb.access import clog as cloglib
from mirrordb.access.async_notify import NotifyQueue
from mirrordb.access.autovacuum import AutovacuumLauncher
from mirrordb.access.env import AccessEnv
from mirrordb.access.heapam import HeapAccess, LockWaitPolicy, Tid, TmResult, transaction_fate
from mirrordb.access.lmgr import (LOCK_MODE_NAMES, NO_HOOKS, AcquireResult, LockMode, LockOwner,
                                  LockWaitHooks, RelationTag)
from mirrordb.access.nbtree import BTree
from mirrordb.access.pgstat import AutovacuumPolicy, TableStatistics, TransactionCounts
from mirrordb.access.relation import (RELKIND_INDEX, RELKIND_PARTITIONED_INDEX,
                                      RELKIND_PARTITIONED_TABLE, RELKIND_SEQUENCE, RELKIND_TABLE,
                                      RELKIND_MATVIEW, RELKIND_VIEW, EXPRESSION_COLUMN,
                                      RELPERSISTENCE_PERMANENT, RELPERSISTENCE_TEMP,
                                      RELPERSISTENCE_UNLOGGED, Column, IndexInfo, Relation)
from mirrordb.access import unlogged
from mirrordb.access.sequence import SequenceAccess, SequenceParams
from mirrordb.access.vacuum import Vacuum, VacuumStats
from mirrordb.access.xact import (IsolationLevel, Proc, RowLockMode, Transaction,
                                  TransactionManager, TransactionState)
from mirrordb.access import heap_inplace  # noqa: F401  (registers the Heap rmgr's redo)
from mirrordb.catalog import bootstrap as boot
from mirrordb.catalog import relstats
from mirrordb.catalog.relcache import RelationCache
from mirrordb.common.errors import (DuplicateObject, LockNotAvailable, MirrordbError,
                                    ObjectNotInPrerequisiteState, UndefinedObject,
                                    UniqueViolation, WalCorrupted, invariant)
from mirrordb.settings import Settings
from mirrordb.storage import datum
from mirrordb.storage.bufmgr import BufferPool
from mirrordb.storage.control import ControlFile, read_control_file, write_control_file
from mirrordb.storage.relfilenode import (DEFAULT_TABLESPACE_OID, INVALID_BACKEND_ID,
                                          MAIN_FORKNUM, RelFileNode, TempRelFileNode)
from mirrordb.storage.smgr import StorageManager
from mirrordb.wal import archive, payloads
from mirrordb.wal.archiver import Archiver, ArchiverStatistics
from mirrordb.wal.rmgr import (RM_DBASE_ID, RM_SMGR_ID, RM_STANDBY_ID, RM_XLOG_ID,
                               XLOG_DBASE_CREATE_FILE_COPY, XLOG_DBASE_CREATE_WAL_LOG,
                               XLOG_DBASE_DROP, XLOG_NEXTOID, XLOG_SMGR_CREATE,
                               XLOG_STANDBY_LOCK, XLR_SPECIAL_REL_UPDATE)
from mirrordb.wal.writer import WalWriter

if TYPE_CHECKING:
    from mirrordb.recovery.standby_locks import RecoveryLockTable
    from mirrordb.recovery.startup import RecoveryResult
    from mirrordb.storage.tuple import HeapTupleHeader

log = logging.getLogger("mirrordb")

OID_PREFETCH = 8192
# READ COMMITTED re-check: how often fetch_latest restarts along a row whose updaters keep
# committing while it follows the chain before it gives up with a serialization failure
MAX_CHAIN_RESTARTS = 1000
_ISOLATION_LEVELS = {level.value: level for level in IsolationLevel}
_ISOLATION_LEVELS["serializable"] = IsolationLevel.REPEATABLE_READ
BTREE_HANDLES_CACHED = 1024
DATABASE_ENCODING_UTF8 = 6      # pg_database.encoding: PG_UTF8, the only server encoding


VIEW_RULE_NAME = "_RETURN"          # pg_rewrite.rulename of a view's query, as PostgreSQL's
VIEW_RULE_EVENT_SELECT = "1"        # pg_rewrite.ev_type: CMD_SELECT


# How a unique violation's DETAIL writes a key value (type OID, value -> text): the SQL layer
# installs its output functions (sql/user_types.py: enums by label, records as record_out);
# an engine used without it writes str(value).
KEY_VALUE_OUTPUT: list[Callable[[int, object], str]] = [lambda type_oid, value: str(value)]


def key_text(info: IndexInfo, key: Sequence[object]) -> str:
    """A unique index's key values as PostgreSQL's DETAIL lists them."""
    output = KEY_VALUE_OUTPUT[0]
    return ", ".join("null" if value is None else output(column.type_oid, value)
                     for column, value in zip(info.relation.columns, key))


@dataclass(eq=False)
class EngineServices:
    """Everything recovery and the checkpointer need (the engine's internals, by name)."""

    datadir: str
    settings: Settings
    smgr: StorageManager
    pool: BufferPool
    wal: WalWriter
    clog: cloglib.CommitLog
    xacts: TransactionManager
    env: AccessEnv


class Engine:
    """One running server's storage engine (see the module docstring)."""

    def __init__(self, datadir: str, settings: Settings, *, standby_mode: bool = False) -> None:
        from mirrordb.recovery import startup
        self.datadir = os.path.abspath(datadir)
        self.settings = settings
        self.control_lock = threading.Lock()
        self.control = read_control_file(self.datadir)
        self._build_services()
        self.database_oid = boot.POSTGRES_DATABASE_OID
        self.relcache = RelationCache(self.heap, self.database_oid)
        self._database_views: dict[int, DatabaseEngine] = {}
        self._database_views_lock = threading.Lock()
        self._oid_lock = threading.Lock()
        self.next_oid = self.control.checkpoint.next_oid
        self._oid_logged_until = self.next_oid
        # Held while a name is checked and the new catalog rows go in (two sessions creating
        # the same name in the same instant); never held while waiting for a relation lock.
        self._ddl_lock = threading.RLock()
        # One vacuum at a time (tables and catalogs share the vacuum runner); taken after the
        # table's relation lock, never before.
        self._vacuum_lock = threading.RLock()
        self._btrees: dict[tuple[RelFileNode, tuple[int, ...]], BTree] = {}
        self.table_stats = TableStatistics()
        self.table_stats.policy = self.autovacuum_policy
        self.notify_queue = NotifyQueue()    # LISTEN/NOTIFY of every database (in memory)
        self.autovacuum: AutovacuumLauncher | None = None
        self._autovacuum_start_lock = threading.Lock()
        self._autovacuum_policy_cache: tuple[object, AutovacuumPolicy] | None = None
        self.standby_mode = standby_mode
        self.startup: startup.Startup | None = None
        # the primary's AccessExclusiveLocks while this is a standby (recovery/standby_locks.py)
        self.recovery_locks: RecoveryLockTable | None = None
        self.recovery: startup.RecoveryResult | None = None
        if standby_mode:
            self._start_archive_recovery()
        else:
            self.recovery = startup.recover(self)
            self._start_background()

    # -- assembly -----------------------------------------------------------------------------

    def _build_services(self) -> None:
        control, settings = self.control, self.settings
        self.smgr = StorageManager(self.datadir)
        self.wal = WalWriter(
            os.path.join(self.datadir, "pg_wal"), segment_size=control.xlog_seg_size,
            system_identifier=control.system_identifier,
            timeline=control.checkpoint.this_timeline,
            wal_buffers_bytes=max(int(settings.get("wal_buffers")), 64 * 1024),  # type: ignore
            full_page_writes=bool(settings.get("full_page_writes")),
            consistency_checking=self.consistency_checking)
        self.wal.track_io_timing = bool(settings.get("track_wal_io_timing"))
        nbuffers = max(int(settings.get("shared_buffers")) // 8192, 16)  # type: ignore
        self.pool = BufferPool(self.smgr, nbuffers, self.wal.flush)
        self.clog = cloglib.CommitLog(os.path.join(self.datadir, "pg_xact"))
        self.xacts = TransactionManager(self.clog, self.wal, control.checkpoint.next_full_xid)
        self.xacts.synchronous_commit = settings.get("synchronous_commit") != "off"
        self._wal_writer_lock = threading.Lock()
        self._wal_writer_started = False
        self.xacts.wake_wal_writer = self._start_wal_writer   # a session's synchronous_commit=off
        self.xacts.drop_relation_files = self.drop_relation_files
        self.env = AccessEnv(self.pool, self.wal, self.xacts, self.smgr,
                             wal_level=str(settings.get("wal_level")),
                             wal_skip_threshold_bytes=int(
                                 settings.get("wal_skip_threshold")))  # type: ignore[call-overload]
        self.xacts.sync_relation_files = self.env.changes.sync_at_commit
        self.heap = HeapAccess(self.env)
        self.sequences = SequenceAccess(self.env)
        self.vacuum_runner = Vacuum(self.env, self.heap)
        from mirrordb.recovery.checkpoint import Checkpointer
        self.checkpointer = Checkpointer(self)
        self.archiver_statistics = ArchiverStatistics()   # pg_stat_archiver
        self.archiver: Archiver | None = None
        self.wal.on_segment_finished = self._segment_finished
        self.wal.may_remove = self.may_remove_wal_file

    # -- WAL archiving (wal/archive.py, wal/archiver.py) ----------------------------------------

    @property
    def archive_mode(self) -> str:
        return self.settings.get_str("archive_mode")

    def archiving(self) -> bool:
        """Whether this server archives the WAL files it finishes now: a primary with
        archive_mode on or always, a standby only with always (PostgreSQL's
        XLogArchivingActive / XLogArchivingAlways)."""
        mode = self.archive_mode
        return mode == "always" or (mode == "on" and not self.in_recovery())

    @property
    def waldir(self) -> str:
        return os.path.join(self.datadir, "pg_wal")

    def _segment_finished(self, name: str) -> None:
        self.checkpointer.last_segment_switch_time = time.monotonic()   # archive_timeout
        if self.archiving():
            archive.notify(self.waldir, name)
            self.wake_archiver()

    def segment_received(self, name: str) -> None:
        """The walreceiver (or a restore from the archive) completed ``pg_wal/NAME`` on this
        standby: archived again here only with archive_mode = always, else marked done so a
        promotion does not archive what the primary archives (PostgreSQL's walreceiver)."""
        if self.archive_mode != "always":
            archive.mark_done(self.waldir, name)
        elif not os.path.exists(archive.status_path(self.waldir, name, archive.DONE)):
            archive.notify(self.waldir, name)
            self.wake_archiver()

    def may_remove_wal_file(self, name: str) -> bool:
        """Whether a checkpoint or restartpoint may remove or recycle ``pg_wal/NAME``: not
        while it waits to be archived."""
        return archive.may_remove(self.waldir, name, self.archiving())

    def wake_archiver(self) -> None:
        if self.archiver is not None:
            self.archiver.wake()

    def _start_archiver(self) -> None:
        if not self.archiving():
            return
        if self.archiver is None:
            self.archiver = Archiver(self.datadir, lambda: self.settings,
                                     self.archiver_statistics)
        self.archiver.start()

    def _stop_archiver(self, *, final_pass: bool) -> None:
        if self.archiver is not None:
            self.archiver.stop(final_pass=final_pass)

    @property
    def consistency_checking(self) -> bool:
        value = str(self.settings.get("wal_consistency_checking")).strip().lower()
        return value not in ("", "off", "none", "false")

    def _start_background(self) -> None:
        if self.xacts.synchronous_commit is False:
            self._start_wal_writer()
        self.checkpointer.start()
        self._start_archiver()

    def _start_wal_writer(self) -> None:
        """Start the "walwriter" thread once: commits under synchronous_commit = off (the
        server's setting, or a session's) leave their flush to it."""
        with self._wal_writer_lock:
            if not self._wal_writer_started:
                self._wal_writer_started = True
                delay_ms = self.settings.get_int("wal_writer_delay")
                self.wal.start_background_flusher(delay_ms)

    def _start_archive_recovery(self) -> None:
        """Standby mode: replay the WAL in pg_wal and stay in recovery (no WAL is written; the
        checkpointer thread makes restartpoints while replay goes on); whoever delivers more WAL
        calls ``startup.replay_available()``. Hot standby queries may start once
        ``startup.state.consistent``."""
        from mirrordb.recovery.startup import Startup
        self.startup = Startup(self, archive_recovery=True)
        self.startup.begin()
        self.startup.replay_available()
        self.checkpointer.start()
        self._start_archiver()     # archive_mode = always

    def finish_promotion(self) -> RecoveryResult:
        """Promotion (recovery/promote.py): the standby's startup thread has replayed pg_wal to
        its end; recovery ends (``Startup.end_archive_recovery``: redo done, standby.signal
        removed, XLOG_END_OF_RECOVERY), the hot-standby state goes (snapshots come from this
        server's own transactions; the primary's unfinished ones are aborted already), the
        checkpointer and WAL writer start, new transactions may write, and only then does
        pg_control say "in production" (what ``pg_ctl promote`` waits for) and a checkpoint
        is requested. Sessions' open transactions stay read-only."""
        startup = self.startup
        invariant(self.standby_mode and startup is not None and startup.in_recovery,
                  "finish_promotion of an engine that is not a standby")
        assert startup is not None
        with self.checkpointer.exclusive():   # no restartpoint meanwhile; none after it
            self.recovery = startup.end_archive_recovery()
        self.xacts.leave_hot_standby()
        self.invalidate_relcaches()
        if self.recovery_locks is not None:    # the primary's locks end with recovery
            self.recovery_locks.release_all()
            self.recovery_locks = None
        self._start_background()
        self.standby_mode = False
        self._start_archiver()     # archive_mode = on archives from now on
        self.checkpointer.mark_in_production()
        self.checkpointer.request()
        return self.recovery

    @classmethod
    def open(cls, datadir: str, overrides: dict[str, str] | None = None, *,
             standby_mode: bool = False) -> Engine:
        return cls(datadir, Settings(overrides, datadir), standby_mode=standby_mode)

    def update_control(self, *, min_recovery_point_at_least: int | None = None,
                       **changes: object) -> ControlFile:
        """Change fields of pg_control and rewrite it durably (PostgreSQL's UpdateControlFile
        under ControlFileLock: read-modify-write under ``control_lock``; the time is updated).

        ``min_recovery_point_at_least``: raise minRecoveryPoint (on this timeline) to that LSN
        unless it is already there, decided under the lock: in recovery the startup thread and
        the checkpointer's restartpoint both raise it, and neither may lower what the other
        stored (a page written past the minimum would then not be waited for after a crash)."""
        with self.control_lock:
            if min_recovery_point_at_least is not None \
                    and self.control.min_recovery_point < min_recovery_point_at_least:
                changes["min_recovery_point"] = min_recovery_point_at_least
                changes["min_recovery_point_tli"] = self.wal.timeline   # replay's timeline
            self.control = dataclasses.replace(self.control, time_s=int(time.time()),
                                               **changes)  # type: ignore[arg-type]
            write_control_file(self.datadir, self.control)
            return self.control

    def close(self) -> None:
        """Clean shutdown: stop background threads, shutdown checkpoint, close files. In
        standby mode: write the replayed pages and leave pg_control "shut down in recovery"."""
        self.stop_autovacuum()
        self.checkpointer.stop()   # a restartpoint under way finishes first
        if self.startup is not None and self.startup.in_recovery:
            self.startup.shutdown()
            self._stop_archiver(final_pass=True)
            self._close_files()
            return
        self.wal.stop_background_flusher()
        self.checkpointer.checkpoint(shutdown=True)
        self._stop_archiver(final_pass=True)   # what the shutdown finished is archived too
        self._close_files()

    def crash(self) -> None:
        """Tests only: stop as if the process died (nothing flushed, no checkpoint): WAL
        inserted past ``wal.flush_lsn`` and dirty buffers are lost."""
        self.stop_autovacuum()
        self.checkpointer.stop()
        self._stop_archiver(final_pass=False)
        self.wal.stop_background_flusher()
        self.wal.close(flush=False)
        self.smgr.close_all()

    def _close_files(self) -> None:
        self.wal.close()
        self.smgr.close_all()

    def checkpoint(self) -> None:
        """CHECKPOINT: a checkpoint, or in recovery a restartpoint at the last checkpoint
        record replayed (none if there is no newer one), as PostgreSQL's standby does."""
        if self.in_recovery():
            self.checkpointer.restartpoint()
        else:
            self.checkpointer.checkpoint()

    # -- services used by the layers ----------------------------------------------------------

    def allocate_oid(self) -> int:
        with self._oid_lock:
            oid = self.next_oid
            self.next_oid += 1
            if self.next_oid > self._oid_logged_until:
                self._oid_logged_until = oid + OID_PREFETCH
                self.wal.insert(RM_XLOG_ID, XLOG_NEXTOID,
                                payloads.encode_nextoid(self._oid_logged_until))
            return oid

    def logged_next_oid(self) -> int:
        """An OID no restart may hand out again: past every OID allocated and every NEXTOID
        record logged (PostgreSQL's nextOid + oidCount, what an online checkpoint records, so
        recovery starting at its REDO point never reuses an OID allocated after it)."""
        with self._oid_lock:
            return max(self.next_oid, self._oid_logged_until)

    def drop_relation_files(self, relations: list[RelFileNode]) -> None:
        """Remove the files (at commit of DROP/TRUNCATE, abort of CREATE). No vacuum works on
        them: the transaction holds the relations' AccessExclusiveLock (or created them)."""
        if relations:
            self.env.changes.forget(relations)
            for key in [key for key in list(self._btrees) if key[0] in relations]:
                self._btrees.pop(key, None)
            for rnode in relations:
                self.pool.drop_relation(rnode)
                self.env.fsm.forget(rnode)
                self.sequences.forget(rnode)
                self.smgr.unlink(rnode)

    def btree(self, index: Relation) -> BTree:
        """The B-tree handle of ``index`` (handles keep no per-operation state, so one per
        relation file is shared by every session; ``_btrees`` holds at most
        ``BTREE_HANDLES_CACHED`` of them)."""
        key = (index.rnode, index.key_column_types)
        tree = self._btrees.get(key)
        if tree is None:
            tree = BTree(self.pool, self.wal, index.rnode, key[1], unique=False,
                         change_logger=self.env.changes)
            if len(self._btrees) >= BTREE_HANDLES_CACHED:
                self._btrees.clear()
            self._btrees[key] = tree
        return tree

    # -- databases --------------------------------------------------------------------------------

    def database(self, oid: int) -> Engine:
        """The engine as database ``oid``'s sessions see it (this object for ``postgres``)."""
        if oid == self.database_oid:
            return self
        with self._database_views_lock:
            view = self._database_views.get(oid)
            if view is None:
                view = self._database_views[oid] = DatabaseEngine(self, oid)
        return view  # type: ignore[return-value]

    def databases(self) -> list[Engine]:
        """A view of every database pg_database lists now, in OID order."""
        oids = sorted(int(values[0])  # type: ignore[call-overload]
                      for _, values in self.relcache.rows(boot.PG_DATABASE, None))
        return [self.database(oid) for oid in oids]

    def invalidate_relcaches(self) -> None:
        """Catalogs changed: every database's relation cache starts a new generation."""
        self.relcache.invalidate()
        with self._database_views_lock:
            views = list(self._database_views.values())
        for view in views:
            view.relcache.invalidate()

    def forget_database(self, oid: int) -> None:
        """Database ``oid`` was dropped: its view (and relation cache) goes."""
        with self._database_views_lock:
            self._database_views.pop(oid, None)

    def drop_database_storage(self, oid: int) -> None:
        """Log a DBASE DROP record for database ``oid``, flush it, then remove its files
        (PostgreSQL's remove_dbtablespaces)."""
        lsn = self.wal.insert(RM_DBASE_ID, XLOG_DBASE_DROP | XLR_SPECIAL_REL_UPDATE,
                              payloads.DbaseDrop(oid, (DEFAULT_TABLESPACE_OID,)).encode())
        self.wal.flush(lsn)
        self.remove_database_files(oid)

    def remove_database_files(self, oid: int) -> None:
        """Database ``oid``'s directory goes, with every trace of its relations in the buffer
        pool and the caches: DROP DATABASE after its WAL record, and that record's redo."""
        self.forget_database(oid)
        self.pool.drop_database(oid)
        directory = self.smgr.database_directory(oid)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            names = []
        # a file name is the relfilenode, then "_fsm"/"_vm"/"_init" or ".<segment>"
        rnodes = {RelFileNode(DEFAULT_TABLESPACE_OID, oid, int(name.split("_")[0].split(".")[0]))
                  for name in names if name[:1].isdigit()}
        self.env.changes.forget(rnodes)
        for key in [key for key in list(self._btrees) if key[0].db == oid]:
            self._btrees.pop(key, None)
        for rnode in rnodes:
            self.env.fsm.forget(rnode)
            self.sequences.forget(rnode)
        self.smgr.remove_database_directory(oid)

    def in_recovery(self) -> bool:
        """Whether this server is replaying WAL (a standby): then only reads are allowed."""
        return bool(getattr(self, "standby_mode", False))

    def begin(self, isolation: str = "read committed", read_only: bool = False,
              check_for_interrupts: Callable[[], None] | None = None,
              wait_hooks: LockWaitHooks | None = None, pid: int = 0) -> Txn:
        """A new transaction. ``wait_hooks``: what its lock waits do about interrupts and
        timeouts (a session's); by default they only call ``check_for_interrupts``. ``pid``:
        the backend's process id (pg_locks, deadlock reports); the calling thread's id when 0."""
        level = _ISOLATION_LEVELS.get(isolation) or IsolationLevel(isolation)
        transaction = Transaction(self.xacts, level, read_only, check_for_interrupts)
        if wait_hooks is None and check_for_interrupts is not None:
            wait_hooks = InterruptCheckHooks(check_for_interrupts)
        transaction.proc.pid = pid or threading.get_native_id()
        return Txn(self, transaction, wait_hooks)

    def running_access_exclusive_locks(self) -> list[tuple[int, int, int]]:
        """(xid, database OID, relation OID) of every AccessExclusiveLock a transaction with an
        xid holds: what a checkpoint logs before RUNNING_XACTS (PostgreSQL's
        GetRunningTransactionLocks; the top-level xid, as PostgreSQL records)."""
        held = self.xacts.locks.locked_relations(LockMode.ACCESS_EXCLUSIVE)
        return [(xid, tag[0], tag[1]) for tag, proc in held
                if (xid := getattr(proc, "xid", 0))]

    def vacuum(self, table: str | int | None = None,
               wait_hooks: LockWaitHooks = NO_HOOKS) -> list[VacuumStats]:
        """VACUUM one table, or every table (outside a transaction block, as in PostgreSQL).
        Each table is locked in ShareUpdateExclusiveLock while it is vacuumed (waiting for
        conflicting locks as ``wait_hooks`` allow). ``table``: its OID (the SQL layer's), or a
        bare name (the only table of that name, for engine-level callers)."""
        names: list[str | int] = [table] if table else self.table_oids()
        results = []
        for name in names:
            stats = self._vacuum_locked(name, None, wait_hooks, automatic=False)
            if stats is None and table is not None:
                raise UndefinedObject(f'relation "{name}" does not exist')
            if stats is not None:
                results.append(stats)
        with self._vacuum_lock:
            for catalog in boot.CATALOGS if table is None else ():
                results.append(self.vacuum_runner.vacuum_relation(
                    self.relcache.catalog(catalog), []))
        return results

    def _vacuum_locked(self, name: str | int, relid: int | None, wait_hooks: LockWaitHooks, *,
                       automatic: bool, stopping: threading.Event | None = None
                       ) -> VacuumStats | None | bool:
        """Lock table ``name`` (which must still have OID ``relid``, when given) in
        ShareUpdateExclusiveLock and vacuum it; None if it does not exist (anymore). An
        autovacuum does not wait: it returns False when the lock is taken (PostgreSQL's
        autovacuum skips such a table), and stops early when a waiter needs the lock."""
        proc = Proc(pid=threading.get_native_id())
        owner = self.xacts.locks.new_owner(proc, wait_hooks, is_autovacuum=automatic)
        try:
            relation = self._lookup_for_vacuum(name)
            if relation is None or relation.kind != RELKIND_TABLE or \
                    (relid is not None and relation.oid != relid):
                return None
            tag = (self.database_oid, relation.oid)
            result = owner.acquire(tag, LockMode.SHARE_UPDATE_EXCLUSIVE, dont_wait=automatic)
            if result is AcquireResult.NOT_AVAILABLE:
                log.info('skipping vacuum of "%s" --- lock not available', relation.name)
                return False
            # looked up again under the lock, waited or not: a TRUNCATE or REINDEX that
            # committed since the first lookup gave the table or an index a new file
            relation = self.relcache.lookup_oid(tag[1], None)
            if relation is None or relation.oid != tag[1]:
                return None
            if automatic:
                stopping = _AutovacuumStop(stopping, owner)
            return self._vacuum_table(relation, automatic, stopping)
        finally:
            owner.release_all()

    def _lookup_for_vacuum(self, name: str | int) -> Relation | None:
        if isinstance(name, int):
            return self.relcache.lookup_oid(name, None)
        return self.relcache.lookup(name, None)

    def _vacuum_table(self, relation: Relation, automatic: bool,
                      stopping: threading.Event | None = None) -> VacuumStats | None:
        """VACUUM one table and its indexes, which the caller has locked (None if its files
        are gone). Vacuums run one at a time (``_vacuum_lock``)."""
        with self._vacuum_lock:
            if relation.kind != RELKIND_TABLE or not self.smgr.exists(relation.rnode):
                return None
            trees = [self.btree(info.relation) for info in relation.indexes]
            indexes = list({tree.rnode: tree for tree in trees
                            if self.smgr.exists(tree.rnode)}.values())
            stats = self.vacuum_runner.vacuum_relation(relation, indexes, stopping)
        if not stats.interrupted:
            relstats.vacuumed(self, relation, stats)
            self.table_stats.report_vacuum(relation.oid, stats.live, stats.recently_dead,
                                           automatic, datetime.datetime.now(datetime.UTC))
        return stats

    # -- autovacuum (access/autovacuum.py) -------------------------------------------------------

    def start_autovacuum(self) -> None:
        """Start the autovacuum launcher thread (once; never on a standby)."""
        with self._autovacuum_start_lock:   # two sessions logging in at once start one
            if self.in_recovery() or (self.autovacuum is not None and self.autovacuum.running):
                return
            launcher = AutovacuumLauncher(self, self.table_stats)
            self.autovacuum = launcher
            self.table_stats.changed = launcher.wake
            launcher.start()

    def stop_autovacuum(self) -> None:
        launcher = self.autovacuum
        if launcher is not None:
            self.table_stats.changed = lambda: None
            launcher.stop()

    def autovacuum_policy(self) -> AutovacuumPolicy:
        """The autovacuum settings, read again when the settings object is replaced (reload)."""
        settings = self.settings
        cached = self._autovacuum_policy_cache
        if cached is None or cached[0] is not settings:
            cached = (settings, AutovacuumPolicy(
                enabled=bool(settings.get("autovacuum")),
                threshold=int(settings.get("autovacuum_vacuum_threshold")),  # type: ignore
                scale_factor=float(settings.get("autovacuum_vacuum_scale_factor"))))  # type: ignore
            self._autovacuum_policy_cache = cached
        return cached[1]

    def autovacuum_naptime_ms(self) -> int:
        return int(self.settings.get("autovacuum_naptime"))  # type: ignore[call-overload]

    def autovacuum_allowed(self) -> bool:
        return not self.in_recovery()

    def autovacuum_table(self, relid: int, stopping: threading.Event) -> bool | None:
        """VACUUM the table with OID ``relid`` (of whichever database holds it: OIDs are
        unique in the cluster) as autovacuum; False if it no longer exists, None if it was
        skipped (another transaction holds a conflicting lock)."""
        for database in self.databases():
            found = any(values[0] == relid and values[4] == RELKIND_TABLE
                        for _, values in database.relcache.rows(boot.PG_CLASS, None))
            if found:
                stats = Engine._vacuum_locked(database, relid, relid, NO_HOOKS,  # type: ignore
                                              automatic=True, stopping=stopping)
                return None if stats is False else stats is not None
        return False

    def table_oids(self) -> list[int]:
        """Every ordinary table of this database, in every schema (VACUUM without a table)."""
        return sorted(int(values[0]) for _, values in  # type: ignore[call-overload]
                      self.relcache.rows(boot.PG_CLASS, None) if values[4] == RELKIND_TABLE)

    def table_names(self) -> list[str]:
        return sorted(str(values[1]) for _, values in self.relcache.rows(boot.PG_CLASS, None)
                      if values[4] == RELKIND_TABLE and values[2] == boot.PUBLIC_NAMESPACE_OID)

    def verify_indexes(self, table: str) -> int:
        """amcheck-style (bt_index_check with heapallindexed): every index is well-formed; each
        heap version that is still live (inserter committed, deleter not) has exactly one entry
        with its key; a version whose inserter aborted or whose deleter committed has at most one
        (a crash may fall between a heap record and its index records, and VACUUM removes index
        entries before the heap line pointers); no other entry exists. With HOT, a version's
        entry carries its chain's root, and entries may point at LP_DEAD roots (pruned, awaiting
        VACUUM). Returns the number of versions checked."""
        from collections import Counter
        relation = self.relcache.lookup(table, None)
        if relation is None:
            raise UndefinedObject(f'relation "{table}" does not exist')
        with self.pool.lock:
            versions = self._all_versions(relation)
            live = {tid for tid, _ in versions if self._version_must_be_indexed(relation, tid)}
            root_of, pruned_roots = self._chain_roots(relation)
            for info in relation.indexes:
                tree = self.btree(info.relation)
                tree.check()
                entries = Counter((tid, tuple(key)) for key, tid in tree.all_entries())
                # HOT: a chain's versions are indexed at its root, each distinct key once
                keyed = [(tid, (root_of.get(tid), key)) for tid, key in
                         ((tid, info.key_of(values)) for tid, values in versions)
                         if key is not None]
                expected = {entry for _, entry in keyed}
                missing = sorted({entry for tid, entry in keyed
                                  if tid in live and entries[entry] == 0}, key=repr)
                extra = sorted(entry for entry, count in entries.items()
                               if (entry not in expected and entry[0] not in pruned_roots)
                               or count > 1)
                if missing or extra:
                    raise MirrordbError(
                        f'index "{info.relation.name}" does not match table "{table}"',
                        detail=f"missing {missing[:5]}, extra {extra[:5]}", sqlstate="XX002")
        return len(versions)

    def _version_must_be_indexed(self, relation: Relation, tid: Tid) -> bool:
        """Inserted by a committed transaction and not deleted by one: must be indexed."""
        from mirrordb.storage import tuple as tuplelib
        item = self.heap._read_item(relation, tid)
        if item is None:
            return False
        header = tuplelib.read_header(item)
        return self.xacts.did_commit(header.xmin) and not (
            header.xmax and self.xacts.did_commit(header.xmax))

    def _chain_roots(self, relation: Relation) -> tuple[dict[Tid, Tid], set[Tid]]:
        """Each version's HOT chain root (the tid index entries carry; orphans are absent),
        and the pruned roots: LP_DEAD line pointers (entries VACUUM has yet to remove) and
        LP_REDIRECT ones (entries of keys that only pruned members carried, which CREATE INDEX
        made over a chain; they stay until the root dies). The caller holds the pool lock."""
        from mirrordb.access.heapam import chain_roots
        from mirrordb.storage import page as pagelib
        found: dict[Tid, Tid] = {}
        dead: set[Tid] = set()
        for blkno in range(self.pool.nblocks(relation.rnode, MAIN_FORKNUM)):
            buffer = self.pool.read_buffer(relation.rnode, MAIN_FORKNUM, blkno)
            try:
                page = buffer.page
                for root, members in chain_roots(page).items():
                    for offnum in members:
                        found[(blkno, offnum)] = (blkno, root)
                if not pagelib.is_new(page):
                    dead.update((blkno, offnum) for offnum in range(1, pagelib.max_offset(page) + 1)
                                if pagelib.get_item_id(page, offnum)[1] in (pagelib.LP_DEAD,
                                                                          pagelib.LP_REDIRECT))
            finally:
                self.pool.release(buffer)
        return found, dead

    def _all_versions(self, relation: Relation) -> list[tuple[Tid, tuple[object, ...]]]:
        from mirrordb.storage import page as pagelib
        from mirrordb.storage import tuple as tuplelib
        found = []
        for blkno in range(self.pool.nblocks(relation.rnode, MAIN_FORKNUM)):
            buffer = self.pool.read_buffer(relation.rnode, MAIN_FORKNUM, blkno)
            try:
                page = buffer.page
                if pagelib.is_new(page):
                    continue
                for offnum in range(1, pagelib.max_offset(page) + 1):
                    if pagelib.item_is_normal(page, offnum):
                        item = pagelib.get_item(page, offnum)
                        found.append(((blkno, offnum),
                                      relation.codec.decode(*tuplelib.tuple_data(item))))
            finally:
                self.pool.release(buffer)
        return found


class DatabaseEngine:
    """The engine as the sessions of one database other than ``postgres`` see it: that
    database's ``database_oid`` and relation cache (its catalog files), over the cluster-wide
    rest (WAL, buffers, transactions, locks, settings), which every other attribute reads from
    the cluster's ``Engine``. The engine methods that depend on the database are the
    ``Engine``'s own functions, run with this view as ``self``; nothing here is written to
    the cluster's attributes."""

    # The cluster's services and methods that stay the same for its whole life, read directly
    # (an attribute the view lacks costs a __getattr__ call on every use, several per row);
    # what the cluster replaces (settings on reload, control, standby_mode) is forwarded.
    FIXED = ("datadir", "smgr", "pool", "wal", "clog", "xacts", "env", "heap", "sequences",
             "vacuum_runner", "table_stats", "_ddl_lock", "_vacuum_lock", "btree",
             "allocate_oid", "in_recovery")

    def __init__(self, cluster: Engine, database_oid: int) -> None:
        self.cluster = cluster
        self.database_oid = database_oid
        self.relcache = RelationCache(cluster.heap, database_oid)
        for name in self.FIXED:
            setattr(self, name, getattr(cluster, name))

    def __getattr__(self, name: str) -> object:
        return getattr(self.cluster, name)

    def database(self, oid: int) -> Engine:
        return self.cluster.database(oid)

    begin = Engine.begin
    vacuum = Engine.vacuum
    _vacuum_locked = Engine._vacuum_locked
    _lookup_for_vacuum = Engine._lookup_for_vacuum
    table_oids = Engine.table_oids
    table_names = Engine.table_names
    verify_indexes = Engine.verify_indexes


RelationRef = Relation | int | tuple[int, str] | str
"""What a Txn method accepts to name a relation: see ``Txn.find``."""


_RELACL = boot.PG_CLASS.column_index("relacl")


def _shown(ref: RelationRef) -> str:
    """How an error message names the relation ``ref``."""
    if isinstance(ref, Relation):
        return ref.name
    if isinstance(ref, int):
        return str(ref)
    if isinstance(ref, tuple):
        return ref[1]
    return ref


def _missing(ref: RelationRef) -> UndefinedObject:
    """42P01 for ``ref``, worded as PostgreSQL words it for a name or an OID."""
    if isinstance(ref, int):
        return UndefinedObject(f"could not open relation with OID {ref}")
    return UndefinedObject(f'relation "{_shown(ref)}" does not exist')


def _index_info(table: Relation, index: Relation) -> IndexInfo | None:
    """``index`` among the table's indexes (None: not among them)."""
    return next((info for info in table.indexes if info.relation.oid == index.oid), None)


def _same_indexes(current: Relation, before: Relation) -> bool:
    """Whether two descriptors of one table name the same index files."""
    return [info.relation.rnode for info in current.indexes] == \
        [info.relation.rnode for info in before.indexes]


def _entry_matches(found: tuple[Tid, tuple[object, ...], bool], entry_key: tuple[object, ...],
                   info: IndexInfo | None) -> bool:
    """Whether the chain member ``hot_fetch`` found carries the index entry's key. A chain that
    CREATE INDEX met may hold versions with other keys, each indexed at the same root (see
    access/README.md "HOT"): a snapshot must reach its version through that version's own key
    only, or a scan would return it under a key it does not have, or once per key in a range.
    A chain that is just the version at the entry's tid needs no check (the entry was made
    from it); one behind a redirect does (the entry may be an older member's key)."""
    if not found[2] or info is None:
        return True
    key = info.key_of(found[1])
    return key is not None and datum.sort_key(list(key)) == datum.sort_key(list(entry_key))


@dataclass(frozen=True)
class ConflictingVersion:
    """The row version an INSERT ... ON CONFLICT met, read whatever the snapshot."""

    values: tuple[object, ...]
    inserted_by_us: bool          # by this transaction
    inserted_by_this_command: bool
    visible: bool                 # to the statement's snapshot


class InterruptCheckHooks(LockWaitHooks):
    """Lock waits of a transaction begun with only a ``check_for_interrupts`` callable."""

    def __init__(self, check_for_interrupts: Callable[[], None]) -> None:
        self.check_for_interrupts = check_for_interrupts  # type: ignore[method-assign]


class _AutovacuumStop(threading.Event):
    """What an autovacuum's vacuum polls: the launcher stopping, or a session waiting for the
    table's lock (the deadlock check asks the autovacuum to stop, as PostgreSQL cancels it)."""

    def __init__(self, stopping: threading.Event | None, owner: LockOwner) -> None:
        super().__init__()
        self._stopping = stopping
        self._owner = owner
        self._cancelled = False

    def is_set(self) -> bool:
        if self._owner.cancel_requested:
            if not self._cancelled:
                self._cancelled = True
                log.info("canceling autovacuum task")
            return True
        return self._stopping is not None and self._stopping.is_set()


MAX_LOCK_RETRIES = 100   # a relation dropped and re-created under us this often: give up


class Txn:
    """A transaction with the engine's data operations (see the module docstring).

    Relation locks (access/lmgr.py): ``locks`` is the transaction's lock owner. The SQL layer
    locks what a statement uses (``open_relation`` by name, ``lock_relation`` by OID); the
    DDL methods here lock what they change themselves. Everything is released when the
    transaction ends, after the relation cache forgot the transaction's catalog changes (a
    session woken by the release must find the new catalog state), and by ROLLBACK TO
    SAVEPOINT for what was locked since the savepoint. On a primary with wal_level replica,
    the first AccessExclusiveLock on a relation is WAL-logged (``prepare``/``log``: this
    object is the lock owner's ``AccessExclusiveLogger``).
    """

    def __init__(self, engine: Engine, transaction: Transaction,
                 wait_hooks: LockWaitHooks | None = None) -> None:
        self.engine = engine
        self.transaction = transaction
        transaction.database_oid = engine.database_oid
        self._counts: TransactionCounts | None = None   # made at the first counted change
        proc = transaction.proc
        if not proc.pid:
            proc.pid = threading.get_native_id()
        proc.wait_hooks = wait_hooks
        # AccessExclusiveLocks are WAL-logged for standbys (PostgreSQL's XLogStandbyInfoActive:
        # wal_level replica or higher, not in recovery)
        logs = not engine.standby_mode and engine.env.wal_level != "minimal"
        self.locks = LockOwner(engine.xacts.locks, proc, wait_hooks or NO_HOOKS,
                               self if logs else None)
        self._lock_marks: list[int] = []   # locks.mark() at each open savepoint
        # relpersistence of the tables and sequences created now (creating_persistence)
        self.new_persistence = RELPERSISTENCE_PERMANENT
        # the backend ID of the session's temporary tables (sql/temp_tables.py sets it)
        self.temp_backend_id = INVALID_BACKEND_ID

    @contextmanager
    def creating_persistence(self, persistence: str) -> Iterator[None]:
        """Tables and sequences created inside get ``persistence`` (CREATE UNLOGGED TABLE and
        its sequences); indexes always take their table's."""
        saved, self.new_persistence = self.new_persistence, persistence
        try:
            yield
        finally:
            self.new_persistence = saved

    # -- transaction control --------------------------------------------------------------------

    @property
    def xid(self) -> int:
        return self.transaction.xid

    def new_statement(self) -> None:
        self.transaction.new_statement()

    def commit(self) -> int:
        try:
            return self.transaction.commit()
        finally:
            self._after_end()

    def abort(self) -> None:
        try:
            self.transaction.abort()
        finally:
            self._after_end()

    def _after_end(self) -> None:
        if self.transaction.touched_catalogs:
            self.engine.invalidate_relcaches()
        locks = self.locks
        locks.release_all()
        locks.wal_logger = None       # the owner pointed back at us: no cycle left to collect
        counts = self._counts
        if counts is not None:
            self._counts = None
            if counts.empty:
                return
            if self.transaction.state == TransactionState.COMMITTED:
                self.engine.table_stats.report_commit(counts)
            else:
                self.engine.table_stats.report_abort(counts)

    def _table_counts(self) -> TransactionCounts:
        counts = self._counts
        if counts is None:
            counts = self._counts = TransactionCounts()
            for _ in self.transaction.subtransactions:
                counts.savepoint()
        return counts

    def savepoint(self, name: str) -> None:
        self.transaction.savepoint(name)
        self._lock_marks.append(self.locks.mark())
        if self._counts is not None:
            self._counts.savepoint()

    def release_savepoint(self, name: str) -> None:
        self.transaction.release_savepoint(name)
        del self._lock_marks[len(self.transaction.subtransactions):]
        if self._counts is not None:
            self._counts.release_to(len(self.transaction.subtransactions) + 1)

    def rollback_to_savepoint(self, name: str) -> None:
        self.transaction.rollback_to_savepoint(name)
        if self.transaction.touched_catalogs:
            self.engine.invalidate_relcaches()
        depth = len(self.transaction.subtransactions)     # the kept savepoint is the last
        invariant(len(self._lock_marks) >= depth, "savepoints and lock marks out of step")
        del self._lock_marks[depth:]
        self.locks.release_after(self._lock_marks[-1])
        if self._counts is not None:
            depth = len(self.transaction.subtransactions)   # the kept savepoint is new again
            self.engine.table_stats.report_aborted(self._counts.rollback_to(depth))
            self._counts.savepoint()

    def __enter__(self) -> Txn:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        from mirrordb.access.xact import TransactionState
        if self.transaction.state in (TransactionState.COMMITTED, TransactionState.ABORTED):
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    # -- relation locks (access/lmgr.py) ---------------------------------------------------------

    def lock_relation(self, oid: int, mode: int, *, dont_wait: bool = False) -> AcquireResult:
        """Lock the relation with OID ``oid`` in ``mode`` until the transaction ends. After a
        wait, a statement snapshot taken before it is taken again (PostgreSQL takes it once
        the statement's locks are held), so the statement sees what it waited for. System
        catalogs are not locked: nothing takes a conflicting lock on them."""
        if oid < boot.FIRST_NORMAL_OBJECT_ID:
            return AcquireResult.ALREADY_HELD
        if mode > LockMode.ROW_EXCLUSIVE and self.engine.in_recovery():
            raise ObjectNotInPrerequisiteState(
                f"cannot acquire lock mode {LOCK_MODE_NAMES[mode]} on database objects while "
                "recovery is in progress",
                hint="Only RowExclusiveLock or less can be acquired on database objects "
                     "during recovery.")
        result = self.locks.acquire((self.engine.database_oid, oid), mode,
                                    dont_wait=dont_wait)
        if result is AcquireResult.WAITED:
            self.transaction.refresh_statement_snapshot()
        return result

    def lock_relations(self, locks: Iterable[tuple[RelationTag, int]]) -> None:
        """Each (tag, mode) that ``lock_relation`` took for a plan, again before the cached
        plan runs (the checks were made then)."""
        acquire = self.locks.acquire
        for tag, mode in locks:
            if acquire(tag, mode) is AcquireResult.WAITED:
                self.transaction.refresh_statement_snapshot()

    def relation_tag(self, oid: int) -> RelationTag | None:
        """The lock tag of relation ``oid``; None for a system catalog (never locked)."""
        return None if oid < boot.FIRST_NORMAL_OBJECT_ID else (self.engine.database_oid, oid)

    def find(self, ref: RelationRef) -> Relation | None:
        """The relation ``ref`` means as this transaction sees the catalogs now: a Relation or
        an OID by OID, a (schema OID, name) pair in that schema, a bare name the only one of
        that name (engine-level callers only: the SQL layer never passes one)."""
        relcache = self.engine.relcache
        if isinstance(ref, Relation):
            return relcache.lookup_oid(ref.oid, self.transaction)
        if isinstance(ref, int):
            return relcache.lookup_oid(ref, self.transaction)
        if isinstance(ref, tuple):
            return relcache.lookup(ref[1], self.transaction, ref[0])
        return relcache.lookup(ref, self.transaction)

    def open_relation(self, name: RelationRef, mode: int, *, dont_wait: bool = False,
                      shown_name: str | None = None,
                      lock_indexes: bool = False) -> Relation | None:
        """Find relation ``name`` and lock it in ``mode``; if the lock had to wait, or the
        catalogs changed between the lookup and the lock, look again, since what we waited for
        may have dropped or replaced it (PostgreSQL's RangeVarGetRelidExtended, which takes
        the invalidations that came with the lock). None if it does not exist (any more).
        ``dont_wait`` (NOWAIT) raises 55P03 naming ``shown_name`` instead of waiting.

        ``lock_indexes``: a table's indexes are locked in ``mode`` too, after the table, as
        PostgreSQL's planner and executor open them: a REINDEX holds its index
        AccessExclusive while it builds the new file, under a table lock that readers pass,
        and a query must not read an index file the REINDEX's commit removes."""
        relcache = self.engine.relcache
        generation = relcache.generation
        relation = self.find(name)
        for _ in range(MAX_LOCK_RETRIES):
            if relation is None:
                return None
            result = self.lock_relation(relation.oid, mode, dont_wait=dont_wait)
            if result is AcquireResult.NOT_AVAILABLE:
                raise LockNotAvailable(
                    f'could not obtain lock on relation "{shown_name or _shown(name)}"')
            waited = result is AcquireResult.WAITED
            if lock_indexes and relation.kind == RELKIND_TABLE:
                waited = self._lock_indexes(relation, mode) or waited
            if not waited and relcache.generation == generation:
                return relation
            generation = relcache.generation
            current = self.find(name)
            if current is not None and current.oid == relation.oid and (
                    not lock_indexes or _same_indexes(current, relation)):
                return current
            if current is None or current.oid != relation.oid:
                self.locks.release((self.engine.database_oid, relation.oid), mode)
            relation = current
        raise MirrordbError(f'relation "{_shown(name)}" kept changing while we waited for its '
                            'lock',
                            sqlstate="55006")

    def _lock_indexes(self, table: Relation, mode: int) -> bool:
        """Lock every index of ``table`` in ``mode``; whether any of the locks had to wait."""
        waited = False
        for info in table.indexes:
            waited = self.lock_relation(info.relation.oid, mode) is AcquireResult.WAITED \
                or waited
        return waited

    def _open(self, name: RelationRef, mode: int, kind: str | None = None) -> Relation:
        """``open_relation`` for the DDL methods: 42P01 if it does not exist."""
        relation = self.open_relation(name, mode)
        if relation is None or (kind is not None and relation.kind != kind):
            raise _missing(name)
        return relation

    def prepare(self) -> None:
        """AccessExclusiveLogger: an xid before the lock is taken (PostgreSQL's
        LogAccessExclusiveLockPrepare), so a checkpoint logging the held locks names it."""
        self.transaction.xid_for_lock_record()

    def log(self, tag: RelationTag) -> None:
        """AccessExclusiveLogger: the standby LOCK record of a new AccessExclusiveLock, under
        the current (sub)transaction's xid (PostgreSQL's LogAccessExclusiveLock)."""
        xid = self.transaction.xid_for_lock_record()
        record = payloads.StandbyLocks(((xid, tag[0], tag[1]),))
        self.engine.wal.insert(RM_STANDBY_ID, XLOG_STANDBY_LOCK, record.encode(), xid=xid)

    # -- relations ------------------------------------------------------------------------------

    def relation(self, name: RelationRef, kind: str | None = None) -> Relation:
        """The relation ``name`` means (see ``find``); 42P01 if none (of ``kind``)."""
        relation = self.find(name)
        if relation is None or (kind is not None and relation.kind != kind):
            raise _missing(name)
        return relation

    def _insert_catalog(self, catalog: Relation, values: Sequence[object]) -> None:
        self.transaction.touched_catalogs = True
        self.engine.heap.insert(self.engine.relcache.catalog(catalog), self.transaction,
                                list(values))

    def _new_relation_file(self, oid: int, persistence: str = RELPERSISTENCE_PERMANENT,
                           backend: int = INVALID_BACKEND_ID) -> RelFileNode:
        """A new relation file; an unlogged relation's main fork is created without WAL and
        gets an init fork (access/unlogged.py), a temporary one's (of the session with
        ``backend``, its backend ID) is only a file, as PostgreSQL's RelationCreateStorage
        does."""
        engine = self.engine
        rnode = RelFileNode(DEFAULT_TABLESPACE_OID, engine.database_oid, oid)
        if persistence == RELPERSISTENCE_TEMP:
            rnode = TempRelFileNode(*rnode, backend)
        self.transaction.current_xid()
        if persistence == RELPERSISTENCE_PERMANENT:
            engine.wal.insert(RM_SMGR_ID, XLOG_SMGR_CREATE,
                              payloads.SmgrCreate(rnode, MAIN_FORKNUM).encode())
        engine.smgr.create(rnode, MAIN_FORKNUM, exist_ok=True)
        self.transaction.current_subtransaction.created_relations.append(rnode)
        if persistence == RELPERSISTENCE_UNLOGGED:
            unlogged.create_init_fork(engine.env.changes, rnode)
        elif persistence == RELPERSISTENCE_PERMANENT:
            engine.env.changes.relation_created(rnode)
        return rnode

    def _add_class(self, oid: int, name: str, kind: str, rnode: RelFileNode,
                   columns: Sequence[Column],
                   owner: int = boot.BOOTSTRAP_SUPERUSER_OID,
                   namespace_oid: int = boot.PUBLIC_NAMESPACE_OID,
                   persistence: str = RELPERSISTENCE_PERMANENT) -> None:
        """The pg_class and pg_attribute rows; relacl NULL (only the owner has rights)."""
        self._insert_catalog(boot.PG_CLASS, [oid, name, namespace_oid,
                                             owner, kind, rnode.rel, rnode.spc, persistence,
                                             len(columns), False, False, None, 0, -1.0, 0])
        for number, column in enumerate(columns, start=1):
            self._insert_catalog(boot.PG_ATTRIBUTE, [oid, column.name, column.type_oid, number,
                                                     column.not_null, column.typmod, False,
                                                     column.identity, column.generated])

    def _owner_of(self, relation: Relation) -> int:
        """pg_class.relowner of ``relation`` (an index belongs to its table's owner)."""
        for _, values in self.engine.relcache.rows(boot.PG_CLASS, self.transaction):
            if values[0] == relation.oid:
                return int(values[3])  # type: ignore[call-overload]
        return boot.BOOTSTRAP_SUPERUSER_OID

    def _check_new_name(self, name: str, namespace_oid: int) -> None:
        """42P07 if schema ``namespace_oid`` has a relation ``name`` (pg_class's unique
        (relname, relnamespace))."""
        if self.engine.relcache.lookup(name, self.transaction, namespace_oid) is not None:
            raise DuplicateObject(f'relation "{name}" already exists')

    def _check_no_type_named(self, name: str, namespace_oid: int) -> None:
        """42710 if the schema has a user-defined type ``name``: in PostgreSQL a table's or
        view's row type would take that name."""
        if any(values[1] == name and values[2] == namespace_oid
               for _, values in self.engine.relcache.rows(boot.PG_TYPE, self.transaction)):
            raise MirrordbError(f'type "{name}" already exists', sqlstate="42710",
                                hint="A relation has an associated type of the same name, so "
                                     "you must use a name that doesn't conflict with any "
                                     "existing type.")

    def create_table(self, name: str, columns: Sequence[Column | tuple[str, int]],
                     owner: int = boot.BOOTSTRAP_SUPERUSER_OID,
                     namespace_oid: int = boot.PUBLIC_NAMESPACE_OID,
                     kind: str = RELKIND_TABLE) -> Relation:
        """CREATE TABLE; ``owner`` is the creating role's OID (pg_class.relowner),
        ``namespace_oid`` its schema (pg_class.relnamespace). A partitioned table (``kind``
        'p', sql/partitioning.py) has no relation file (relfilenode 0), as a view."""
        cols = [c if isinstance(c, Column) else Column(c[0], c[1]) for c in columns]
        with self.engine._ddl_lock:
            self._check_new_name(name, namespace_oid)
            self._check_no_type_named(name, namespace_oid)
            oid = self._new_locked_oid()
            rnode = (self._new_relation_file(oid, self.new_persistence, self.temp_backend_id)
                     if kind == RELKIND_TABLE else RelFileNode(0, self.engine.database_oid, 0))
            self._add_class(oid, name, kind, rnode, cols, owner, namespace_oid,
                            self.new_persistence)
            self.transaction.command_counter_increment()
        return self.relation(oid)

    def _new_locked_oid(self) -> int:
        """The OID of a relation being created, locked AccessExclusive before its file exists
        (PostgreSQL does the same, so a standby learns of the new relation's lock first)."""
        oid = self.engine.allocate_oid()
        self.lock_relation(oid, LockMode.ACCESS_EXCLUSIVE)
        return oid

    def create_index(self, name: str, table: RelationRef, column_names: Sequence[str | Column],
                     unique: bool = False, primary: bool = False, *,
                     expressions: str | None = None, predicate: str | None = None,
                     options: str | None = None, include: Sequence[str] = ()) -> Relation:
        """CREATE INDEX: the table is locked in ShareLock (no writer, no vacuum meanwhile).
        The index goes into its table's schema. A ``Column`` among ``column_names`` is an
        expression column (its index attribute's name and type; indkey 0), computed by the
        next tree of ``expressions``; ``predicate`` makes a partial index (pg_index's
        indexprs and indpred, sql/index_expressions.py); ``options`` is indoption's text.
        Entries are kept in ascending order whatever the options say: an ordered scan of a
        DESC column reads the index backward (sql/ordered_scans.py). The
        ``include`` columns (INCLUDE) are the index's last attributes and in indkey after the
        keys (indnkeyatts counts the keys), but not in its entries: no scan reads them."""
        relation = self._open(table, LockMode.SHARE)
        if relation.kind not in (RELKIND_TABLE, RELKIND_MATVIEW, RELKIND_PARTITIONED_TABLE):
            raise _missing(table)
        partitioned = relation.kind == RELKIND_PARTITIONED_TABLE  # its index: 'I', no file
        with self.engine._ddl_lock:
            self._check_new_name(name, relation.namespace_oid)
            keys = [EXPRESSION_COLUMN if isinstance(c, Column) else relation.column_index(c)
                    for c in column_names]
            key_columns = [c if isinstance(c, Column) else relation.columns[k]
                           for c, k in zip(column_names, keys)]
            included = [relation.column_index(c) for c in include]
            oid = self._new_locked_oid()
            rnode = RelFileNode(0, self.engine.database_oid, 0) if partitioned else \
                self._new_relation_file(oid, relation.persistence,
                                        getattr(relation.rnode, "backend", INVALID_BACKEND_ID))
            self._add_class(oid, name,
                            RELKIND_PARTITIONED_INDEX if partitioned else RELKIND_INDEX, rnode,
                            key_columns + [relation.columns[k] for k in included],
                            self._owner_of(relation), relation.namespace_oid,
                            relation.persistence)
            self._insert_catalog(boot.PG_INDEX, [
                oid, relation.oid, len(keys) + len(included), unique, primary,
                " ".join(str(k + 1) for k in keys + included), expressions, predicate, options,
                len(keys), False])
            self.transaction.command_counter_increment()
            index = self.relation(oid)
            if partitioned:
                return index
            tree = self.engine.btree(index)
            tree.build_empty()
            self._build_index(relation, IndexInfo(index, tuple(keys), unique, primary,
                                                  expressions, predicate, relation,
                                                  tuple(included)), tree)
        return index

    def _build_index(self, table: Relation, info: IndexInfo, tree: BTree) -> None:
        """Index every version with storage; unique indexes check the live ones."""
        engine = self.engine
        live_keys: dict[tuple[object, ...], Tid] = {}
        with engine.pool.lock:
            versions = engine._all_versions(table)
            root_of, _ = engine._chain_roots(table)
        snapshot = engine.xacts.take_snapshot(None)
        indexed: set[tuple[Tid, tuple[object, ...]]] = set()
        heap_tuples = index_tuples = 0
        for tid, values in versions:
            live = self._version_is_live(table, tid, snapshot)
            heap_tuples += live
            key = info.key_of(values)
            if key is None:           # left out by a partial index's predicate
                continue
            index_tuples += live
            hashable = datum.hashable_key(key)
            if info.unique and None not in key and live:
                if hashable in live_keys:
                    raise UniqueViolation(
                        f'could not create unique index "{info.relation.name}"',
                        detail=f"Key ({', '.join(info.key_labels(table))})"
                               f"=({key_text(info, key)}) is duplicated.")
                live_keys[hashable] = tid
            root = root_of.get(tid)
            if root is None or (root, hashable) in indexed:   # an orphan is dead: skipped
                continue
            if root != tid and self._inserter_aborted(table, tid):
                continue      # a member no snapshot sees: its key would stay after pruning
            indexed.add((root, hashable))
            tree.insert(key, root)
        relstats.index_built(engine, self.transaction, table, info.relation, heap_tuples,
                             index_tuples)

    def _inserter_aborted(self, table: Relation, tid: Tid) -> bool:
        from mirrordb.storage import tuple as tuplelib
        item = self.engine.heap._read_item(table, tid)
        return item is None or transaction_fate(
            self.engine.xacts, tuplelib.read_header(item).xmin) == cloglib.XACT_ABORTED

    def _version_is_live(self, table: Relation, tid: Tid, snapshot: object) -> bool:
        return self.engine.heap.fetch(table, self.transaction, self.transaction.snapshot
                                      or snapshot, tid) is not None  # type: ignore[arg-type]

    def create_sequence(self, name: str, params: SequenceParams | None = None,
                        owner: int = boot.BOOTSTRAP_SUPERUSER_OID,
                        type_oid: int = datum.INT8_OID,
                        namespace_oid: int = boot.PUBLIC_NAMESPACE_OID) -> Relation:
        """CREATE SEQUENCE; ``type_oid`` is pg_sequence.seqtypid (the AS type, or a serial
        column's type)."""
        params = params or SequenceParams()
        with self.engine._ddl_lock:
            self._check_new_name(name, namespace_oid)
            self._check_no_type_named(name, namespace_oid)
            oid = self._new_locked_oid()
            rnode = self._new_relation_file(oid, self.new_persistence, self.temp_backend_id)
            self._add_class(oid, name, RELKIND_SEQUENCE, rnode,
                            [Column("last_value", datum.INT8_OID), Column("is_called", datum.BOOL_OID)],
                            owner, namespace_oid, self.new_persistence)
            self._insert_catalog(boot.PG_SEQUENCE, [oid, type_oid, params.start,
                                                    params.increment, params.max_value,
                                                    params.min_value, 1, params.cycle])
            self.engine.sequences.create(rnode, params)
            self.transaction.command_counter_increment()
        return self.relation(oid)

    def create_view(self, name: str, columns: Sequence[Column], action: str,
                    owner: int = boot.BOOTSTRAP_SUPERUSER_OID,
                    namespace_oid: int = boot.PUBLIC_NAMESPACE_OID) -> Relation:
        """CREATE VIEW: a pg_class row of relkind 'v' without storage (relfilenode 0, no
        file, as PostgreSQL's), its columns, and the "_RETURN" rule in pg_rewrite holding
        ``action`` (sql/views.py's stored query)."""
        with self.engine._ddl_lock:
            self._check_new_name(name, namespace_oid)
            self._check_no_type_named(name, namespace_oid)
            oid = self._new_locked_oid()
            self._add_class(oid, name, RELKIND_VIEW, RelFileNode(0, self.engine.database_oid, 0),
                            columns, owner, namespace_oid,     # a view has no relation file
                            self.new_persistence)
            self._insert_catalog(boot.PG_REWRITE, [self.engine.allocate_oid(), VIEW_RULE_NAME,
                                                   oid, VIEW_RULE_EVENT_SELECT, "O", True, None,
                                                   action])
            self.transaction.command_counter_increment()
        return self.relation(oid, RELKIND_VIEW)

    def create_matview(self, name: str, columns: Sequence[Column], action: str,
                       owner: int = boot.BOOTSTRAP_SUPERUSER_OID,
                       namespace_oid: int = boot.PUBLIC_NAMESPACE_OID) -> Relation:
        """CREATE MATERIALIZED VIEW: a pg_class row of relkind 'm' with a relation file (its
        rows are stored like a table's), its columns, and the "_RETURN" rule holding
        ``action`` (sql/create_table_as.py's stored query)."""
        with self.engine._ddl_lock:
            self._check_new_name(name, namespace_oid)
            self._check_no_type_named(name, namespace_oid)
            oid = self._new_locked_oid()
            rnode = self._new_relation_file(oid)
            self._add_class(oid, name, RELKIND_MATVIEW, rnode, columns, owner, namespace_oid)
            self._insert_catalog(boot.PG_REWRITE, [self.engine.allocate_oid(), VIEW_RULE_NAME,
                                                   oid, VIEW_RULE_EVENT_SELECT, "O", True, None,
                                                   action])
            self.transaction.command_counter_increment()
        return self.relation(oid, RELKIND_MATVIEW)

    def set_view_action(self, view: Relation, action: str) -> None:
        """A new pg_rewrite.ev_action for ``view``'s rule (REFRESH MATERIALIZED VIEW records
        whether it is populated there); the caller holds the view's lock."""
        with self.engine._ddl_lock:
            self._update_catalog_rows(boot.PG_REWRITE, lambda v: v[2] == view.oid,
                                      lambda v: tuple(v[:7]) + (action,))
            self.transaction.command_counter_increment()

    def replace_view(self, view: Relation, added: Sequence[Column], action: str) -> Relation:
        """CREATE OR REPLACE VIEW: a new stored query, and ``added`` columns after the
        existing ones (the caller has checked that those keep their names and types)."""
        self.lock_relation(view.oid, LockMode.ACCESS_EXCLUSIVE)
        with self.engine._ddl_lock:
            self._update_catalog_rows(boot.PG_REWRITE, lambda v: v[2] == view.oid,
                                      lambda v: tuple(v[:7]) + (action,))
            for number, column in enumerate(added, start=view.natts + 1):
                self._insert_catalog(boot.PG_ATTRIBUTE, [view.oid, column.name,
                                                         column.type_oid, number,
                                                         column.not_null, column.typmod, False,
                                                         column.identity, column.generated])
            natts = view.natts + len(added)
            self._update_catalog_rows(boot.PG_CLASS, lambda v: v[0] == view.oid,
                                      lambda v: tuple(v[:8]) + (natts,) + tuple(v[9:]))
            self.transaction.command_counter_increment()
        return self.relation(view.oid, RELKIND_VIEW)

    def view_rules(self) -> dict[int, str]:
        """Every view's stored query (pg_rewrite.ev_action) by the view's OID, as this
        transaction sees the catalogs now."""
        return {int(values[2]): str(values[7])  # type: ignore[call-overload]
                for _, values in self.engine.relcache.rows(boot.PG_REWRITE, self.transaction)
                if values[1] == VIEW_RULE_NAME}

    # -- databases (CREATE/DROP DATABASE: sql/databases.py checks the request) -----------------

    def create_database(self, oid: int, name: str, owner: int, source_oid: int, *,
                        strategy: str = "wal_log", is_template: bool = False,
                        allow_connections: bool = True, connection_limit: int = -1,
                        acl: str | None = None) -> None:
        """CREATE DATABASE: database ``oid`` as a copy of database ``source_oid`` (which no
        session may be changing: the caller checked that none is connected), and its
        pg_database row in this transaction (``acl``: its datacl, NULL for the default).

        ``wal_log`` (PostgreSQL 15's default strategy): a DBASE CREATE_WAL_LOG record makes
        the directory, then every relation of the source is created (SMGR CREATE) and copied
        page by page as full-page images (XLOG_FPI), so a standby builds the same files from
        the WAL alone. ``file_copy``: a checkpoint, a file-level copy of the source's
        directory and one DBASE CREATE_FILE_COPY record (whose redo copies the standby's own
        source directory), and a checkpoint after it, so crash recovery never replays the
        source's older WAL into the copy. Whatever fails part way removes the new directory."""
        engine = self.engine
        self.transaction.current_xid()
        try:
            if strategy == "file_copy":
                self._copy_database_files(source_oid, oid)
            else:
                self._copy_database_logged(source_oid, oid)
            self._insert_catalog(boot.PG_DATABASE, [oid, name, owner, DATABASE_ENCODING_UTF8,
                                                    is_template, allow_connections,
                                                    connection_limit, acl])
            if strategy == "file_copy":
                engine.checkpoint()
        except BaseException:
            engine.drop_database_storage(oid)
            raise

    def _copy_database_logged(self, source_oid: int, oid: int) -> None:
        engine = self.engine
        engine.smgr.create_database_directory(oid)
        engine.wal.insert(RM_DBASE_ID, XLOG_DBASE_CREATE_WAL_LOG,
                          payloads.DbaseCreateWalLog(oid, DEFAULT_TABLESPACE_OID).encode())
        source = engine.database(source_oid)
        for values in sorted((values for _, values in
                              source.relcache.rows(boot.PG_CLASS, self.transaction)),
                             key=lambda values: int(values[5])):  # type: ignore[arg-type]
            relfilenode, tablespace = int(values[5]), int(values[6])  # type: ignore[arg-type]
            if relfilenode == 0 or tablespace != DEFAULT_TABLESPACE_OID:
                continue      # a view (no file), or a shared catalog (in global/)
            self._copy_relation_logged(RelFileNode(tablespace, source_oid, relfilenode),
                                       RelFileNode(tablespace, oid, relfilenode))

    def _copy_relation_logged(self, source: RelFileNode, target: RelFileNode) -> None:
        """Create ``target`` (SMGR CREATE) and copy ``source``'s pages into it as full-page
        images (the page-change logger's ``copy_relation_logged``)."""
        engine = self.engine
        engine.wal.insert(RM_SMGR_ID, XLOG_SMGR_CREATE,
                          payloads.SmgrCreate(target, MAIN_FORKNUM).encode())
        engine.smgr.create(target, MAIN_FORKNUM, exist_ok=True)
        engine.env.changes.copy_relation_logged(source, target)

    def _copy_database_files(self, source_oid: int, oid: int) -> None:
        engine = self.engine
        engine.checkpoint()      # the source's pages on disk, and no older WAL replayed later
        engine.smgr.copy_database_directory(source_oid, oid)
        record = payloads.DbaseCreateFileCopy(oid, DEFAULT_TABLESPACE_OID, source_oid,
                                              DEFAULT_TABLESPACE_OID)
        lsn = engine.wal.insert(RM_DBASE_ID, XLOG_DBASE_CREATE_FILE_COPY | XLR_SPECIAL_REL_UPDATE,
                                record.encode())     # PostgreSQL's flags: files change unlogged
        engine.wal.flush(lsn)

    def drop_database(self, oid: int) -> None:
        """DROP DATABASE (the caller checked that no session uses it): its pg_database row
        goes in this transaction, and its files at once, after a DBASE DROP record, as
        PostgreSQL does (the statement cannot run in a transaction block and commits right
        after)."""
        self._delete_catalog_rows(boot.PG_DATABASE, lambda v: v[0] == oid)
        self.transaction.current_xid()
        self.engine.drop_database_storage(oid)

    # -- pg_constraint: CHECK and FOREIGN KEY constraints (sql/constraints.py) ----------------

    def create_constraint(self, values: Sequence[object]) -> int:
        """Insert a pg_constraint row: ``values`` are its columns after the OID, in the
        catalog's order (catalog/bootstrap.py). Returns the new constraint's OID."""
        with self.engine._ddl_lock:
            oid = self.engine.allocate_oid()
            self._insert_catalog(boot.PG_CONSTRAINT, [oid, *values])
            self.transaction.command_counter_increment()
        return oid

    def add_catalog_row(self, catalog: Relation, values: Sequence[object]) -> None:
        """Insert one row into catalog ``catalog`` (a bootstrap descriptor), for catalogs
        the SQL layer owns (pg_inherits, pg_partitioned_table: sql/partitioning.py)."""
        with self.engine._ddl_lock:
            self._insert_catalog(catalog, values)
            self.transaction.command_counter_increment()

    def remove_catalog_rows(self, catalog: Relation,
                            match: Callable[[tuple[object, ...]], bool]) -> None:
        with self.engine._ddl_lock:
            self._delete_catalog_rows(catalog, match)
            self.transaction.command_counter_increment()

    def change_catalog_rows(self, catalog: Relation,
                            match: Callable[[tuple[object, ...]], bool],
                            change: Callable[[tuple[object, ...]], tuple[object, ...]]) -> None:
        with self.engine._ddl_lock:
            self._update_catalog_rows(catalog, match, change)
            self.transaction.command_counter_increment()

    def constraint_rows(self) -> list[tuple[object, ...]]:
        """Every pg_constraint row as this transaction sees the catalogs now."""
        return [values for _, values in self.engine.relcache.rows(boot.PG_CONSTRAINT,
                                                                  self.transaction)]

    def update_constraint(self, oid: int, values: Sequence[object]) -> None:
        """Replace constraint ``oid``'s row by ``values`` (all columns, OID first)."""
        with self.engine._ddl_lock:
            self._update_catalog_rows(boot.PG_CONSTRAINT, lambda v: v[0] == oid,
                                      lambda v: tuple(values))
            self.transaction.command_counter_increment()

    def drop_constraint(self, oid: int) -> None:
        with self.engine._ddl_lock:
            self._delete_catalog_rows(boot.PG_CONSTRAINT, lambda v: v[0] == oid)
            self.transaction.command_counter_increment()

    def set_index_expressions(self, index_oid: int, expressions: str | None,
                              predicate: str | None) -> None:
        """Replace pg_index.indexprs and indpred of an index (a renamed column's new name)."""
        with self.engine._ddl_lock:
            self._update_catalog_rows(boot.PG_INDEX, lambda v: v[0] == index_oid,
                                      lambda v: (*v[:6], expressions, predicate, *v[8:]))
            self.transaction.command_counter_increment()

    def drop(self, name: RelationRef) -> None:
        """DROP TABLE / INDEX / SEQUENCE / VIEW: catalog rows go now, files at commit. Everything
        dropped is locked AccessExclusive first; an index's table too, before the index
        (PostgreSQL's order)."""
        relation = self.relation(name)
        if relation.kind == RELKIND_INDEX:
            self.lock_relation(self.table_of_index(relation).oid, LockMode.ACCESS_EXCLUSIVE)
        relation = self._open(relation.oid, LockMode.ACCESS_EXCLUSIVE)
        doomed = [relation] + [info.relation for info in relation.indexes]
        for index in doomed[1:]:
            self.lock_relation(index.oid, LockMode.ACCESS_EXCLUSIVE)
        with self.engine._ddl_lock:
            oids = {r.oid for r in doomed}
            self._delete_catalog_rows(boot.PG_CLASS, lambda v: v[0] in oids)
            self._delete_catalog_rows(boot.PG_ATTRIBUTE, lambda v: v[0] in oids)
            self._delete_catalog_rows(boot.PG_INDEX, lambda v: v[0] in oids or v[1] in oids)
            self._delete_catalog_rows(boot.PG_SEQUENCE, lambda v: v[0] in oids)
            self._delete_catalog_rows(boot.PG_REWRITE, lambda v: v[2] in oids)
            self._delete_catalog_rows(boot.PG_CONSTRAINT, lambda v: v[7] in oids)
            self._delete_catalog_rows(boot.PG_STATISTIC, lambda v: v[0] in oids)
            self._delete_catalog_rows(boot.PG_TRIGGER, lambda v: v[1] in oids)
            self._delete_catalog_rows(boot.PG_DESCRIPTION, lambda v: v[0] in oids
                                      and v[1] == boot.PG_CLASS_OID)
            self._delete_catalog_rows(boot.PG_DEPEND, lambda v: v[0] == boot.PG_CLASS_OID
                                      and (v[1] in oids or v[4] in oids))
            self._delete_catalog_rows(boot.PG_INHERITS, lambda v: v[0] in oids)
            self._delete_catalog_rows(boot.PG_PARTITIONED_TABLE, lambda v: v[0] in oids)
            self.transaction.current_subtransaction.dropped_relations += [
                r.rnode for r in doomed if r.rnode.rel != 0]
            self.transaction.command_counter_increment()
            if relation.kind == RELKIND_TABLE:
                self._table_counts().count_drop(relation.oid)

    def truncate(self, name: RelationRef) -> None:
        """TRUNCATE: new, empty files for the table and its indexes, swapped in transactionally
        (all of them locked AccessExclusive)."""
        relation = self._open(name, LockMode.ACCESS_EXCLUSIVE)
        if relation.kind not in (RELKIND_TABLE, RELKIND_MATVIEW):
            raise _missing(name)
        for info in relation.indexes:
            self.lock_relation(info.relation.oid, LockMode.ACCESS_EXCLUSIVE)
        with self.engine._ddl_lock:
            for rel in [relation] + [info.relation for info in relation.indexes]:
                self._swap_relation_file(rel)
            self.transaction.command_counter_increment()
            for info in self.relation(relation.oid).indexes:
                self.engine.btree(info.relation).build_empty()
            self._table_counts().count_truncate(relation.oid)

    def _swap_relation_file(self, relation: Relation, persistence: str | None = None
                            ) -> RelFileNode:
        """Give ``relation`` a new, empty file: a new relfilenode in its pg_class row; the old
        file is removed when the transaction commits, the new one when it aborts (TRUNCATE,
        REINDEX; with a new ``persistence``, SET LOGGED / UNLOGGED). The caller holds the
        relation's AccessExclusiveLock."""
        persistence = persistence or relation.persistence
        new_rnode = self._new_relation_file(self.engine.allocate_oid(), persistence,
                                            getattr(relation.rnode, "backend",
                                                    INVALID_BACKEND_ID))
        fresh = relstats.new_file_stats if relation.kind != RELKIND_SEQUENCE else tuple
        self._update_catalog_rows(boot.PG_CLASS, lambda v: v[0] == relation.oid,
                                  lambda v: fresh(v[:5] + (new_rnode.rel, v[6], persistence)
                                                  + v[8:]))
        self.transaction.current_subtransaction.dropped_relations.append(relation.rnode)
        return new_rnode

    def set_persistence(self, table: Relation, persistence: str,
                        sequences: Sequence[Relation] = ()) -> None:
        """ALTER TABLE ... SET LOGGED / SET UNLOGGED (and ALTER SEQUENCE): the table (locked
        AccessExclusive by the caller), its indexes and ``sequences`` get new files of the
        new persistence, as PostgreSQL rewrites them: the table's pages are copied (WAL-logged
        as full-page images when it becomes logged), sequences keep their values, indexes
        are rebuilt."""
        engine = self.engine
        for info in table.indexes:
            self.lock_relation(info.relation.oid, LockMode.ACCESS_EXCLUSIVE)
        with engine._ddl_lock:
            if table.kind == RELKIND_SEQUENCE:
                sequences = [table, *sequences]
            else:
                new_rnode = self._swap_relation_file(table, persistence)
                unlogged.copy_relation(engine.env.changes, table.rnode, new_rnode)
            for sequence in sequences:
                self._swap_sequence_file(sequence, persistence)
            for info in table.indexes:
                self._swap_relation_file(info.relation, persistence)
            self.transaction.command_counter_increment()
            current = self.relation(table.oid)
            for info in current.indexes:
                tree = engine.btree(info.relation)
                tree.build_empty()
                self._build_index(current, info, tree)

    def _swap_sequence_file(self, sequence: Relation, persistence: str) -> None:
        engine = self.engine
        params = engine.relcache.sequence_params(sequence, self.transaction)
        value, is_called = engine.sequences.last_value(sequence.rnode, params)
        new_rnode = self._swap_relation_file(sequence, persistence)
        engine.sequences.setval(new_rnode, params, value, is_called)
        if persistence == RELPERSISTENCE_UNLOGGED:
            unlogged.copy_to_init_fork(engine.env.changes, new_rnode)

    def reindex_index(self, name: RelationRef) -> Relation:
        """REINDEX INDEX: rebuild one index from its table into a new relation file (see
        ``_reindex``). Its table is locked ShareLock first, then the index AccessExclusive,
        PostgreSQL's order. Returns the index as it now is."""
        index = self.relation(name, RELKIND_INDEX)
        table = self._open(self.table_of_index(index).oid, LockMode.SHARE, RELKIND_TABLE)
        return self._reindex(table, index.oid)

    def reindex_table(self, name: RelationRef,
                      rebuilt: Callable[[Relation], None] | None = None) -> list[Relation]:
        """REINDEX TABLE: rebuild each index of the table in turn, as ``reindex_index`` does,
        under one ShareLock on the table; ``rebuilt`` is called after each index (VERBOSE
        reports it). Returns the indexes (none: the table has no index)."""
        table = self._open(name, LockMode.SHARE, RELKIND_TABLE)
        indexes = []
        for info in table.indexes:
            indexes.append(self._reindex(table, info.relation.oid))
            if rebuilt is not None:
                rebuilt(indexes[-1])
        return indexes

    def _reindex(self, table: Relation, index_oid: int) -> Relation:
        """Rebuild index ``index_oid`` of ``table`` (held in ShareLock, so nobody writes it and
        no vacuum runs): the index is locked AccessExclusive (WAL-logged for standbys, whose
        queries lock the indexes they use), gets a new file as TRUNCATE gives one, and is
        built from the table as CREATE INDEX builds it; a unique index reports a duplicate key
        as CREATE UNIQUE INDEX does. Everything written goes through the WAL: the new file's
        SMGR create, the pg_class row, the index pages; the old file goes at commit.

        REINDEX is allowed in a read-only transaction, as in PostgreSQL (maintenance: no
        row a query sees changes), so the transaction may take an xid for it."""
        self.lock_relation(index_oid, LockMode.ACCESS_EXCLUSIVE)
        # looked up under the lock: a REINDEX that committed while we waited gave it a new file
        _, info = self._index_of(table.oid, index_oid)
        transaction = self.transaction
        read_only, transaction.read_only = transaction.read_only, False
        try:
            with self.engine._ddl_lock:
                self._swap_relation_file(info.relation)
                transaction.command_counter_increment()
            current, info = self._index_of(table.oid, index_oid)
            tree = self.engine.btree(info.relation)
            tree.build_empty()
            self._build_index(current, info, tree)
        finally:
            transaction.read_only = read_only
        return info.relation

    def _index_of(self, table_oid: int, index_oid: int) -> tuple[Relation, IndexInfo]:
        """Table ``table_oid`` and its index ``index_oid`` as this transaction sees them now
        (42P01 if a DROP INDEX committed before our lock)."""
        table = self.relation(table_oid, RELKIND_TABLE)
        for info in table.indexes:
            if info.relation.oid == index_oid:
                return table, info
        raise UndefinedObject(f"could not open relation with OID {index_oid}")

    def _delete_catalog_rows(self, catalog: Relation, match: object) -> None:
        self.transaction.touched_catalogs = True
        catalog = self.engine.relcache.catalog(catalog)
        for tid, values in self.engine.relcache.rows(catalog, self.transaction):
            if match(values):  # type: ignore[operator]
                self.engine.heap.delete(catalog, self.transaction, tid)

    def _update_catalog_rows(self, catalog: Relation, match: object, change: object) -> None:
        self.transaction.touched_catalogs = True
        catalog = self.engine.relcache.catalog(catalog)
        for tid, values in self.engine.relcache.rows(catalog, self.transaction):
            if match(values):  # type: ignore[operator]
                self.engine.heap.update(catalog, self.transaction, tid,
                                        list(change(values)))  # type: ignore[operator]

    # -- data -------------------------------------------------------------------------------------

    def insert(self, table: RelationRef, values: Sequence[object]) -> Tid:
        relation = table if isinstance(table, Relation) else self.relation(table, RELKIND_TABLE)
        self.check_not_null(relation, values)
        tid = self.engine.heap.insert(relation, self.transaction, list(values))
        self._table_counts().count_insert(relation.oid)
        self._insert_index_entries(relation, values, tid)
        return tid

    @staticmethod
    def check_not_null(relation: Relation, values: Sequence[object]) -> None:
        """23502 for a NULL in a NOT NULL column (sql/constraints.py checks it before CHECK
        constraints, in PostgreSQL's order)."""
        for column, value in zip(relation.columns, values):
            if value is None and column.not_null:
                raise MirrordbError(
                    f'null value in column "{column.name}" of relation "{relation.name}" '
                    "violates not-null constraint", sqlstate="23502")

    def _insert_index_entries(self, relation: Relation, values: Sequence[object], tid: Tid,
                              old_values: Sequence[object] | None = None,
                              done: Sequence[IndexInfo] = ()) -> None:
        """Index a new row version. An update that keeps a unique key needs no uniqueness check:
        the old version, which this transaction now holds, already owned that key. ``done``:
        indexes that already have the version's entry (``insert_unless_conflict``'s)."""
        for info in relation.indexes:
            if any(info is arbiter for arbiter in done):
                continue
            key = info.key_of(values)
            if key is None:           # a partial index's predicate leaves the version out
                continue
            tree = self.engine.btree(info.relation)
            key_kept = old_values is not None and (
                all(old_values[i] == values[i] for i in info.key_columns) if info.plain
                else info.key_of(old_values) == key)
            if info.unique and None not in key and not key_kept:
                self._insert_unique(relation, info, tree, key, tid)
            else:
                with self.engine.pool.lock:
                    tree.insert(key, tid)

    def _insert_unique(self, relation: Relation, info: IndexInfo, tree: BTree,
                       key: tuple[object, ...], tid: Tid) -> None:
        engine = self.engine
        while True:
            with engine.pool.lock:
                verdict, wait_xid, _ = self._key_holder(relation, info, tree, key)
                if verdict == "live":
                    columns = ", ".join(info.key_labels(relation))
                    raise UniqueViolation(
                        f'duplicate key value violates unique constraint '
                        f'"{info.relation.name}"',
                        detail=f"Key ({columns})=({key_text(info, key)}) "
                               "already exists.")
                if verdict == "dead":
                    tree.insert(key, tid)
                    return
            self._wait_for(wait_xid)

    def _wait_for(self, xid: int) -> None:
        """Block until transaction ``xid`` ends (a unique check met its key in progress)."""
        transaction = self.transaction
        self.engine.xacts.wait_for(xid, transaction.current_xid(), transaction.proc,
                                   transaction.check_for_interrupts)

    def _key_holder(self, relation: Relation, info: IndexInfo, tree: BTree,
                    key: tuple[object, ...]) -> tuple[str, int, Tid | None]:
        """Who holds ``key`` in unique index ``info`` now: ("live", 0, the live version's tid),
        ("wait", xid to wait for, None) or ("dead", 0, None) when nobody does. The caller holds
        the pool lock."""
        for other in tree.find_equal(key):
            verdict, xid, member = self._liveness(relation, info, key, other)
            if verdict != "dead":
                return verdict, xid, member
        return "dead", 0, None

    def insert_unless_conflict(self, relation: Relation, values: Sequence[object],
                               arbiters: Sequence[IndexInfo]) -> tuple[Tid | None, Tid | None]:
        """INSERT ... ON CONFLICT's insertion: (the new version's tid, None), or (None, the
        live version that already holds the key of an arbiter index). The arbiter keys are
        checked, and the row and its arbiter entries inserted, under one hold of the pool
        lock, the lock every unique insertion checks under: no equal key can be inserted
        between the check and the insertion. An in-progress inserter or deleter of an equal
        key is waited for, then the check starts over (PostgreSQL's pre-check; the single
        lock hold stands in for its speculative insertion). The other indexes get their
        entries afterwards, unique ones with the usual check (a violation there is 23505)."""
        self.check_not_null(relation, values)
        self.transaction.current_xid()     # assigned before the pool lock is taken
        engine = self.engine
        while True:
            with engine.pool.lock:
                wait_xid = 0
                keys = [info.key_of(values) for info in arbiters]
                for info, key in zip(arbiters, keys):
                    if key is None or None in key:   # NULLs (and left-out rows) never conflict
                        continue
                    verdict, xid, member = self._key_holder(relation, info,
                                                            engine.btree(info.relation), key)
                    if verdict == "live":
                        return None, member
                    wait_xid = wait_xid or xid
                if not wait_xid:
                    tid = engine.heap.insert(relation, self.transaction, list(values))
                    for info, key in zip(arbiters, keys):
                        if key is not None:
                            engine.btree(info.relation).insert(key, tid)
                    break
            self._wait_for(wait_xid)
        self._table_counts().count_insert(relation.oid)
        self._insert_index_entries(relation, values, tid, done=arbiters)
        return tid, None

    def conflicting_version(self, relation: Relation, tid: Tid) -> ConflictingVersion | None:
        """Version ``tid`` whatever the snapshot (INSERT ... ON CONFLICT's conflicting row);
        None if its line pointer is gone."""
        from mirrordb.storage import tuple as tuplelib
        transaction = self.transaction
        snapshot = transaction.snapshot
        assert snapshot is not None
        found = self.engine.heap.fetch_any(relation, transaction, snapshot, tid)
        if found is None:
            return None
        values, header, visible = found
        own = transaction.own
        inserted_by_us = header.xmin in own.xids
        this_command = inserted_by_us and own.cmin(
            header.cid, bool(header.infomask & tuplelib.HEAP_COMBOCID)) >= own.command_id
        return ConflictingVersion(values, inserted_by_us, this_command, visible)

    def _liveness(self, relation: Relation, info: IndexInfo, key: tuple[object, ...],
                  tid: Tid) -> tuple[str, int, Tid | None]:
        """Whether the HOT chain rooted at ``tid`` (a plain version is a chain of one) has a
        member that blocks a new equal key: live (with that member's tid), dead, or wait for
        xid. The caller holds the pool lock from the index lookup on, so VACUUM cannot have
        freed ``tid`` in between."""
        waiting: tuple[str, int, Tid | None] = ("dead", 0, None)
        for member, item in self.engine.heap.chain_items(relation, tid):
            verdict, xid = self._member_liveness(relation, info, key, item)
            if verdict == "live":
                return verdict, xid, member
            if verdict == "wait" and waiting[0] == "dead":
                waiting = (verdict, xid, None)
        return waiting

    def _member_liveness(self, relation: Relation, info: IndexInfo, key: tuple[object, ...],
                         item: bytes) -> tuple[str, int]:
        """``_liveness`` of one version; one that does not carry ``key`` is dead for it."""
        from mirrordb.storage import tuple as tuplelib
        values = relation.codec.decode(*tuplelib.tuple_data(item))
        own_key = info.key_of(values)
        if own_key is None or datum.sort_key(list(own_key)) != datum.sort_key(list(key)):
            return "dead", 0
        header = tuplelib.read_header(item)
        xacts, own = self.engine.xacts, self.transaction.own.xids
        if header.xmin not in own:
            if xacts.is_running(header.xmin):
                return "wait", header.xmin
            if not xacts.did_commit(header.xmin):
                return "dead", 0
        if not header.xmax:
            return "live", 0
        if header.xmax in own:
            return "dead", 0
        if xacts.is_running(header.xmax):
            return "wait", header.xmax
        return ("dead", 0) if xacts.did_commit(header.xmax) else ("live", 0)

    def update(self, table: RelationRef, tid: Tid, values: Sequence[object],
               old_values: Sequence[object] | None = None) -> tuple[TmResult, Tid]:
        """Replace version ``tid``. ``old_values``, when the caller knows them, are the values of
        the version being replaced (lets unchanged unique keys skip their uniqueness check)."""
        relation = table if isinstance(table, Relation) else self.relation(table, RELKIND_TABLE)
        self.check_not_null(relation, values)
        result, new_tid, hot = self.engine.heap.update_row(relation, self.transaction, tid,
                                                           list(values))
        if result == TmResult.OK:
            self._table_counts().count_update(relation.oid, hot)
            if not hot:      # a heap-only version is reached through its chain's root
                self._insert_index_entries(relation, values, new_tid, old_values)
        return result, new_tid

    def delete(self, table: RelationRef, tid: Tid) -> TmResult:
        relation = table if isinstance(table, Relation) else self.relation(table, RELKIND_TABLE)
        result = self.engine.heap.delete(relation, self.transaction, tid)
        if result == TmResult.OK:
            self._table_counts().count_delete(relation.oid)
        return result

    def lock_row(self, table: RelationRef, tid: Tid, exclusive: bool = True,
                 wait_policy: LockWaitPolicy = LockWaitPolicy.BLOCK,
                 mode: RowLockMode | None = None) -> TmResult:
        """Lock one row version: FOR UPDATE (``exclusive``) or FOR SHARE, or ``mode``."""
        relation = table if isinstance(table, Relation) else self.relation(table, RELKIND_TABLE)
        if mode is None:
            mode = RowLockMode.EXCLUSIVE if exclusive else RowLockMode.SHARE
        return self.engine.heap.lock_tuple(relation, self.transaction, tid, mode, wait_policy)

    def latest_version(self, table: RelationRef, tid: Tid) -> Tid:
        relation = table if isinstance(table, Relation) else self.relation(table, RELKIND_TABLE)
        return self.engine.heap.latest_version(relation, tid)

    def fetch(self, table: RelationRef, tid: Tid) -> tuple[object, ...] | None:
        relation = table if isinstance(table, Relation) else self.relation(table, RELKIND_TABLE)
        if relation.oid < boot.FIRST_NORMAL_OBJECT_ID:
            relation = self.engine.relcache.catalog(relation)
        snapshot = self.transaction.snapshot
        assert snapshot is not None
        return self.engine.heap.fetch(relation, self.transaction, snapshot, tid)

    def scan(self, table: RelationRef) -> Iterator[tuple[Tid, tuple[object, ...]]]:
        """The rows of ``table`` this statement's snapshot sees (a system catalog's in this
        transaction's database, whichever database's descriptor names it)."""
        if isinstance(table, Relation):
            relation = table if table.oid >= boot.FIRST_NORMAL_OBJECT_ID \
                else self.engine.relcache.catalog(table)
        else:
            relation = self.relation(table)
        snapshot = self.transaction.snapshot
        assert snapshot is not None
        return self.engine.heap.scan(relation, self.transaction, snapshot)

    def index_scan(self, index: RelationRef, low: tuple[object, ...] | None = None,
                   high: tuple[object, ...] | None = None, low_inclusive: bool = True,
                   high_inclusive: bool = True) -> Iterator[tuple[Tid, tuple[object, ...]]]:
        """Visible rows of the index's table whose key lies in the range, in key order."""
        index_relation = self.relation(index, RELKIND_INDEX)
        table = self.table_of_index(index_relation)
        tree = self.engine.btree(index_relation)
        snapshot = self.transaction.snapshot
        assert snapshot is not None
        info = _index_info(table, index_relation)
        for key, tid in tree.scan(low, high, low_inclusive, high_inclusive):
            found = self.engine.heap.hot_fetch(table, self.transaction, snapshot, tid)
            if found is not None and _entry_matches(found, key, info):
                yield found[0], found[1]

    def lookup(self, index: RelationRef, key: tuple[object, ...]) -> list[tuple[Tid, tuple[object, ...]]]:
        return list(self.index_scan(index, key, key))

    def table_of_index(self, index_relation: Relation) -> Relation:
        row = next(values for _, values in self.engine.relcache.rows(boot.PG_INDEX,
                                                                     self.transaction)
                   if values[0] == index_relation.oid)
        return self.relation(int(row[1]))  # type: ignore[call-overload]

    def nextval(self, name: RelationRef) -> int:
        """nextval(): the sequence is locked RowExclusive (as PostgreSQL does), so it cannot be
        dropped while this transaction may still log changes to it."""
        relation = self._open(name, LockMode.ROW_EXCLUSIVE, RELKIND_SEQUENCE)
        if self.transaction.read_only:
            self.transaction.current_xid()
        params = self.engine.relcache.sequence_params(relation, self.transaction)
        return self.engine.sequences.nextval(relation.rnode, relation.name, params)

    def setval(self, name: RelationRef, value: int, is_called: bool = True) -> None:
        relation = self._open(name, LockMode.ROW_EXCLUSIVE, RELKIND_SEQUENCE)
        params = self.engine.relcache.sequence_params(relation, self.transaction)
        self.engine.sequences.setval(relation.rnode, params, value, is_called)

    # -- used by the SQL layer ------------------------------------------------------------------

    def index_scan_relation(self, index: Relation, table: Relation,
                            low: tuple[object, ...] | None, high: tuple[object, ...] | None,
                            low_inclusive: bool = True, high_inclusive: bool = True,
                            backward: bool = False) -> Iterator[tuple[Tid, tuple[object, ...]]]:
        """``index_scan`` for a planner that already holds both descriptors, in index order
        (highest first when ``backward``). An equality on every key column (a primary key
        lookup) takes the tree's one-descent ``find_equal``."""
        tree = self.engine.btree(index)
        heap, transaction = self.engine.heap, self.transaction
        snapshot = transaction.snapshot
        assert snapshot is not None
        if low is not None and low_inclusive and high_inclusive and len(low) == tree.natts \
                and low == high:
            equal = low
            entries: Iterable[tuple[tuple[object, ...], Tid]] = (
                (equal, tid) for tid in tree.find_equal(equal))
        else:
            entries = tree.scan(low, high, low_inclusive, high_inclusive, backward=backward)
        info = _index_info(table, index)
        for key, tid in entries:      # HOT: the member the snapshot sees, with its own tid
            found = heap.hot_fetch(table, transaction, snapshot, tid)
            if found is not None and _entry_matches(found, key, info):
                yield found[0], found[1]

    def tuple_header(self, table: Relation, tid: Tid) -> HeapTupleHeader | None:
        """The header of version ``tid`` (storage/tuple.py's HeapTupleHeader), whatever the
        snapshot, or None when its line pointer holds no tuple: what the xmin, xmax, cmin and
        cmax system columns read (sql/system_columns.py)."""
        from mirrordb.storage import tuple as tuplelib
        relation = table if table.oid >= boot.FIRST_NORMAL_OBJECT_ID \
            else self.engine.relcache.catalog(table)
        item = self.engine.heap.read_item(relation, tid)
        return None if item is None else tuplelib.read_header(item)

    def fetch_latest(self, table: Relation, tid: Tid) -> tuple[Tid, tuple[object, ...]] | None:
        """The newest committed version of the row that ``tid`` was a version of, or None if the
        row was deleted: what READ COMMITTED re-checks after waiting for a concurrent update."""
        from mirrordb.storage import tuple as tuplelib
        heap, xacts, own = self.engine.heap, self.engine.xacts, self.transaction.own.xids
        for _ in range(MAX_CHAIN_RESTARTS):
            latest, item = heap.latest_version_item(table, tid)
            if item is None:
                return None
            header = tuplelib.read_header(item)
            xmax = header.xmax
            if not xmax or xmax in own or not xacts.did_commit(xmax):
                return latest, table.codec.decode(*tuplelib.tuple_data(item))
            successor = (header.ctid_block, header.ctid_offset)
            if successor == latest:
                return None      # deleted
            # its updater committed after latest_version looked at it: the row lives on in
            # the successor (reading the commit as a delete lost that update)
            tid = successor
        raise MirrordbError("too many concurrent updates of one row", sqlstate="40001")

    def set_column_default(self, table: Relation, attnum: int, expression: str) -> None:
        """Record a column default in pg_attrdef (``expression`` is the planner's stored form)."""
        self.lock_relation(table.oid, LockMode.ACCESS_EXCLUSIVE)
        self._insert_catalog(boot.PG_ATTRDEF, [table.oid, attnum, expression])
        self.transaction.command_counter_increment()

    def drop_column_default(self, table: Relation, attnum: int) -> None:
        self.lock_relation(table.oid, LockMode.ACCESS_EXCLUSIVE)
        self._delete_catalog_rows(boot.PG_ATTRDEF,
                                  lambda v: v[0] == table.oid and v[1] == attnum)
        self.transaction.command_counter_increment()

    def rename_relation(self, table: Relation, new_name: str) -> None:
        """ALTER TABLE/INDEX/SEQUENCE ... RENAME TO: the pg_class row's name."""
        self.lock_relation(table.oid, LockMode.ACCESS_EXCLUSIVE)
        with self.engine._ddl_lock:
            self._check_new_name(new_name, table.namespace_oid)
            self._update_catalog_rows(boot.PG_CLASS, lambda v: v[0] == table.oid,
                                      lambda v: (v[0], new_name) + tuple(v[2:]))
            self.transaction.command_counter_increment()

    def set_relation_owner(self, relation: Relation, owner: int, acl: str | None) -> None:
        """ALTER ... OWNER TO: pg_class.relowner and relacl (the ACL with the old owner's
        entries moved to the new one) of one relation, locked AccessExclusive."""
        self.lock_relation(relation.oid, LockMode.ACCESS_EXCLUSIVE)
        self._update_catalog_rows(boot.PG_CLASS, lambda v: v[0] == relation.oid,
                                  lambda v: tuple(v[:3]) + (owner,) + tuple(v[4:_RELACL])
                                  + (acl,) + tuple(v[_RELACL + 1:]))
        self.transaction.command_counter_increment()

    def alter_sequence(self, sequence: Relation, params: SequenceParams, type_oid: int,
                       cache: int, restart: int | None) -> None:
        """ALTER SEQUENCE: the pg_sequence row (a WAL-logged catalog update) and, for RESTART,
        the sequence's page (its next value is ``restart``; like setval, not undone by an
        abort)."""
        self.lock_relation(sequence.oid, LockMode.ACCESS_EXCLUSIVE)
        self._update_catalog_rows(boot.PG_SEQUENCE, lambda v: v[0] == sequence.oid,
                                  lambda v: (v[0], type_oid, params.start, params.increment,
                                             params.max_value, params.min_value, cache,
                                             params.cycle))
        self.transaction.command_counter_increment()
        if restart is not None:
            self.engine.sequences.setval(sequence.rnode, params, restart, False)

    def alter_column(self, table: Relation, attnum: int, *, name: str | None = None,
                     not_null: bool | None = None, identity: str | None = None,
                     generated: str | None = None) -> None:
        """Rename a column or change its NOT NULL flag, identity or generated kind
        (pg_attribute)."""
        self.lock_relation(table.oid, LockMode.ACCESS_EXCLUSIVE)
        def change(values: tuple[object, ...]) -> tuple[object, ...]:
            row = list(values)
            if name is not None:
                row[1] = name
            if not_null is not None:
                row[4] = not_null
            if identity is not None:
                row[7] = identity
            if generated is not None:
                row[8] = generated
            return tuple(row)
        self._update_catalog_rows(boot.PG_ATTRIBUTE,
                                  lambda v: v[0] == table.oid and v[3] == attnum, change)
        self.transaction.command_counter_increment()

    def rewrite_table(self, table: Relation, columns: Sequence[Column],
                      transform: Callable[[tuple[object, ...]], Sequence[object]],
                      defaults: dict[int, str]) -> Relation:
        """Give ``table`` a new column list (ALTER TABLE ADD/DROP COLUMN): its visible rows are
        read, the table and its indexes get new empty files (as TRUNCATE does), pg_attribute and
        pg_attrdef are replaced, and every row is inserted again through ``transform``. Indexes
        on dropped columns must have been dropped by the caller."""
        rows = [values for _, values in self.scan(table)]
        self.truncate(table.oid)
        oid = table.oid
        self._delete_catalog_rows(boot.PG_ATTRIBUTE, lambda v: v[0] == oid)
        self._delete_catalog_rows(boot.PG_ATTRDEF, lambda v: v[0] == oid)
        relstats.renumber_statistics(self, table, columns)
        for number, column in enumerate(columns, start=1):
            self._insert_catalog(boot.PG_ATTRIBUTE, [oid, column.name, column.type_oid, number,
                                                     column.not_null, column.typmod, False,
                                                     column.identity, column.generated])
        for attnum, expression in defaults.items():
            self._insert_catalog(boot.PG_ATTRDEF, [oid, attnum, expression])
        self._update_catalog_rows(boot.PG_CLASS, lambda v: v[0] == oid,
                                  lambda v: tuple(v[:8]) + (len(columns),) + tuple(v[9:]))
        self.transaction.command_counter_increment()
        rebuilt = self.relation(oid, RELKIND_TABLE)
        for values in rows:
            self.insert(rebuilt, list(transform(values)))
        self.transaction.command_counter_increment()
        return rebuilt

    def column_defaults(self, table: Relation) -> dict[int, str]:
        """attnum -> stored default expression, for the table's columns that have one."""
        return {int(values[1]): str(values[2])  # type: ignore[call-overload]
                for _, values in self.engine.relcache.rows(boot.PG_ATTRDEF, self.transaction)
                if values[0] == table.oid}


__all__ = ["Engine", "Txn", "Column", "SequenceParams", "WalCorrupted"]
