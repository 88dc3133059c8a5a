"""Promotion: a standby ends recovery and becomes a primary that accepts writes.

The promoted server starts a new timeline, as PostgreSQL's does, after "redo done" and before
the first record it writes (``Startup.end_archive_recovery``: the history file, the switch
segment under the new ID, XLOG_END_OF_RECOVERY naming both timelines; wal/timeline.py).

Triggers, as PostgreSQL's:

* ``pg_ctl promote -D DIR`` and ``mirrordb promote -D DIR`` (cli/ctl.py) create the file
  ``promote`` in the data directory, send SIGUSR1 to the postmaster, and, unless told not to
  wait, watch pg_control until it says "in production".
* ``SELECT pg_promote(wait => true, wait_seconds => 60)`` (sql/replication_functions.py)
  creates the same file and calls the postmaster's ``request_promote`` (what its SIGUSR1
  handler calls), then polls ``pg_is_in_recovery()``.
* ``promote_trigger_file``: the startup thread looks for that file between rounds of replay.

The postmaster (server/postmaster.py) passes a promote signal on to the startup thread
(``StandbyReplay.request_promote``, recovery/standby.py) when the ``promote`` file exists. The
startup thread finishes the round of replay it is in, then ``promotion_triggered`` (PostgreSQL's
CheckForStandbyTrigger) consumes the file or the trigger file and logs why, and the thread runs
``promote``, then ends.

What promotion does, in PostgreSQL's order, and what a crash after each step leaves:

====  ===============================================  =====================================
step  what (who)                                       a crash after it restarts as
====  ===============================================  =====================================
1     stop the walreceiver; fsync what it wrote but    a standby (standby.signal remains)
      had not flushed yet (postmaster, ``promote``)
2     replay every complete record left in pg_wal      a standby
      (``promote``); "redo done at X"
3     the primary's unfinished xids marked aborted     a standby
      (``Startup.end_archive_recovery``)
3a    "selected new timeline ID: N"; the switch        a standby (the ID stays unused; the
      segment copied under N; N.history written        next promotion takes the one after)
4     standby.signal (recovery.signal) removed         a primary, after crash recovery from
      durably; "archive recovery complete"             the last restartpoint, on the old
                                                       timeline
5     WAL continues on timeline N at the end of the    a primary on timeline N (pg_control's
      last valid record: a torn tail is zeroed, later  minRecoveryPointTLI leads crash
      segments removed; XLOG_END_OF_RECOVERY (N, and   recovery there); the torn tail is
      the old timeline) written and flushed; older     cut again
      timelines' segments past the switch segment
      removed (unless ``.ready``); with archiving
      the old timeline's cut segment renamed
      ``.partial``
6     hot-standby state released, the engine accepts   a primary (its new WAL is replayed)
      writes, checkpointer started
      (``Engine.finish_promotion``)
7     pg_control "in production" (what pg_ctl waits    a primary
      for); a checkpoint requested
8     postmaster.pid "ready", autovacuum, "database    a primary
      system is ready to accept connections"
      (postmaster's ``on_promoted``)
====  ===============================================  =====================================

Sessions connected during promotion keep working: a transaction that began in recovery stays
read-only, the next one may write, and each session reports ``in_hot_standby = off`` at its next
ReadyForQuery (server/backend.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mirrordb.common.fileio import fsync_directory, fsync_file, os_errors
from mirrordb.common.lsn import format_lsn
from mirrordb.wal.segment import segment_path

if TYPE_CHECKING:
    from mirrordb.engine import Engine
    from mirrordb.recovery.startup import RecoveryResult

log = logging.getLogger("mirrordb.startup")

PROMOTE_SIGNAL_FILE = "promote"          # PostgreSQL's PROMOTE_SIGNAL_FILE, in the data directory
STANDBY_SIGNAL_FILE = "standby.signal"   # its presence at start makes the server a standby
# without standby.signal, makes it recover from the archive, then end recovery (recovery/target.py)
RECOVERY_SIGNAL_FILE = "recovery.signal"


@dataclass(frozen=True)
class ReceivedWal:
    """How far the stopped walreceiver wrote (``written_lsn``) and fsynced (``flushed_lsn``)
    WAL into pg_wal; both are end positions (last byte + 1), in segment files of
    ``timeline`` (0: pg_control's checkpoint's)."""

    flushed_lsn: int
    written_lsn: int
    timeline: int = 0


# -- the promote signal file ------------------------------------------------------------------


def promote_signal_path(datadir: str) -> str:
    return os.path.join(datadir, PROMOTE_SIGNAL_FILE)


def write_promote_signal_file(datadir: str) -> None:
    """Create the empty ``promote`` file (pg_ctl and pg_promote do this before signalling)."""
    path = promote_signal_path(datadir)
    with os_errors("create", path), open(path, "wb"):
        pass


def promote_signal_file_exists(datadir: str) -> bool:
    """PostgreSQL's CheckPromoteSignal."""
    return os.path.exists(promote_signal_path(datadir))


def remove_promote_signal_file(datadir: str) -> None:
    """PostgreSQL's RemovePromoteSignalFiles: at server start (a stale request must not
    promote the next standby run) and when the startup thread acts on it."""
    try:
        os.unlink(promote_signal_path(datadir))
    except FileNotFoundError:
        pass


def promotion_triggered(datadir: str, signaled: bool, trigger_file: str) -> bool:
    """PostgreSQL's CheckForStandbyTrigger: a promote signal with its file present, or the
    ``promote_trigger_file`` setting's file present. The file is removed and the reason
    logged; True means promote now."""
    if signaled and promote_signal_file_exists(datadir):
        log.info("received promote request")
        remove_promote_signal_file(datadir)
        return True
    if trigger_file and os.path.exists(trigger_file):
        log.info("promote trigger file found: %s", trigger_file)
        try:
            os.unlink(trigger_file)
        except OSError as error:
            log.warning('could not remove promote trigger file "%s": %s', trigger_file,
                        error.strerror)
        return True
    return False


# -- the promotion itself ---------------------------------------------------------------------


def sync_received_wal(engine: Engine, received: ReceivedWal) -> int:
    """fsync the segment files holding WAL the walreceiver wrote but had not fsynced when it
    stopped (PostgreSQL's walreceiver flushes on its way out; ours may be stopped between a
    write and its flush). Replay is about to treat those bytes as history the new WAL follows,
    so they must be as durable as the WAL written after them. Returns the files synced."""
    if received.written_lsn <= received.flushed_lsn:
        return 0
    control = engine.control
    segment_size = control.xlog_seg_size
    waldir = os.path.join(engine.datadir, "pg_wal")
    synced = 0
    for segno in range(received.flushed_lsn // segment_size,
                       (received.written_lsn - 1) // segment_size + 1):
        path = segment_path(waldir, received.timeline or control.checkpoint.this_timeline,
                            segno, segment_size)
        if not os.path.exists(path):
            continue
        fsync_file(path)
        synced += 1
    return synced


def remove_signal_files(datadir: str) -> None:
    """Step 4: standby.signal and recovery.signal go, durably, so a crash from now on
    restarts the server as a primary."""
    removed = False
    for name in (STANDBY_SIGNAL_FILE, RECOVERY_SIGNAL_FILE):
        path = os.path.join(datadir, name)
        if os.path.exists(path):
            with os_errors("remove", path):
                os.unlink(path)
            removed = True
    if removed:
        fsync_directory(datadir)


def promote(engine: Engine, replay_rest: Callable[[], int],
            received: ReceivedWal | None) -> RecoveryResult:
    """Steps 1 (its second half) to 7, in the startup thread, once the walreceiver has stopped
    (``received`` says how far it wrote; None if none ran). ``replay_rest`` replays every
    complete record left in pg_wal (the startup thread's own loop, so its counters stay
    true). Raises what ending recovery raises (e.g. WAL ending before a consistent state):
    the startup thread then fails and the postmaster stops, as PostgreSQL's does."""
    if received is not None:
        synced = sync_received_wal(engine, received)
        if synced:
            log.debug("synced %d WAL segment(s) the walreceiver wrote up to %s", synced,
                      format_lsn(received.written_lsn))
    replay_rest()
    return engine.finish_promotion()


__all__ = ["PROMOTE_SIGNAL_FILE", "RECOVERY_SIGNAL_FILE", "STANDBY_SIGNAL_FILE", "ReceivedWal",
           "promote", "promote_signal_file_exists", "promotion_triggered",
           "remove_promote_signal_file", "remove_signal_files", "sync_received_wal",
           "write_promote_signal_file"]
