"""Progress of one running BASE_BACKUP, as ``pg_stat_progress_basebackup`` shows it.

Who uses it: the walsender (replication/walsender.py) makes a ``BaseBackupProgress`` when a
BASE_BACKUP command starts, hangs it on its ``BackendInfo`` (server/postmaster.py) for as long
as the command runs, and hands it to ``run_base_backup`` (replication/basebackup.py), which
moves it through the phases and counts the archive bytes as they are sent. sql/sysviews.py
reads every backend's progress for the view; a backend without one has no row, so the row
disappears when the command ends, however it ends.

The phases, in the order a backup goes through them (PostgreSQL 15's numbers and names):

    0 initializing                         the command was accepted
    1 waiting for checkpoint to finish     the start checkpoint (a standby: restartpoint)
    2 estimating backup size               only with PROGRESS: the data directory is sized
    3 streaming database files             the archive of the data directory is being sent
    4 waiting for wal archiving to finish  the backup-end WAL (every tablespace counted done)
    5 transferring wal files               only with WAL: the backup's segments are sent

``backup_total`` is the PROGRESS estimate in bytes, NULL without PROGRESS; once more bytes
than that have been streamed it follows ``backup_streamed``, so the done part never passes
the whole (as PostgreSQL's basebackup_progress.c keeps it). mirrordb has one tablespace (the
main directory), so ``tablespaces_total`` is 1 from the streaming phase on.

One thread writes (the walsender's), any session thread reads: the counters change under a
lock so a reader sees one moment's values.
"""

from __future__ import annotations

import threading
from enum import IntEnum

from mirrordb.common.errors import invariant


class BaseBackupPhase(IntEnum):
    INITIALIZING = 0
    WAIT_CHECKPOINT = 1
    ESTIMATE_BACKUP_SIZE = 2
    STREAM_BACKUP = 3
    WAIT_WAL_ARCHIVE = 4
    TRANSFER_WAL = 5


PHASE_NAMES: dict[BaseBackupPhase, str] = {
    BaseBackupPhase.INITIALIZING: "initializing",
    BaseBackupPhase.WAIT_CHECKPOINT: "waiting for checkpoint to finish",
    BaseBackupPhase.ESTIMATE_BACKUP_SIZE: "estimating backup size",
    BaseBackupPhase.STREAM_BACKUP: "streaming database files",
    BaseBackupPhase.WAIT_WAL_ARCHIVE: "waiting for wal archiving to finish",
    BaseBackupPhase.TRANSFER_WAL: "transferring wal files",
}
invariant(set(PHASE_NAMES) == set(BaseBackupPhase), "every phase has its name")


class BaseBackupProgress:
    """The counters of one BASE_BACKUP command (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phase = BaseBackupPhase.INITIALIZING
        self.backup_total: int | None = None      # bytes; None without PROGRESS
        self.backup_streamed = 0                   # archive bytes sent so far
        self.tablespaces_total = 0
        self.tablespaces_streamed = 0

    def _enter(self, phase: BaseBackupPhase) -> None:
        with self._lock:
            self.phase = phase

    def wait_checkpoint(self) -> None:
        self._enter(BaseBackupPhase.WAIT_CHECKPOINT)

    def estimate_backup_size(self) -> None:
        self._enter(BaseBackupPhase.ESTIMATE_BACKUP_SIZE)

    def begin_streaming(self, total_bytes: int | None, tablespaces: int) -> None:
        """The archive starts: the estimate (None without PROGRESS) and the tablespace count."""
        with self._lock:
            self.phase = BaseBackupPhase.STREAM_BACKUP
            self.backup_total = total_bytes
            self.tablespaces_total = tablespaces

    def streamed(self, size_bytes: int) -> None:
        """``size_bytes`` more archive bytes were sent."""
        with self._lock:
            self.backup_streamed += size_bytes
            if self.backup_total is not None and self.backup_streamed > self.backup_total:
                self.backup_total = self.backup_streamed

    def wait_wal_archive(self) -> None:
        """The data directory is sent: every tablespace counts as done (WAL may follow)."""
        with self._lock:
            self.phase = BaseBackupPhase.WAIT_WAL_ARCHIVE
            self.tablespaces_streamed = self.tablespaces_total

    def transfer_wal(self) -> None:
        self._enter(BaseBackupPhase.TRANSFER_WAL)

    def values(self) -> tuple[str, int | None, int, int, int]:
        """(phase, backup_total, backup_streamed, tablespaces_total, tablespaces_streamed)."""
        with self._lock:
            return (PHASE_NAMES[self.phase], self.backup_total, self.backup_streamed,
                    self.tablespaces_total, self.tablespaces_streamed)


__all__ = ["PHASE_NAMES", "BaseBackupPhase", "BaseBackupProgress"]
