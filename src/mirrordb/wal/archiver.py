"""The archiver: the thread that runs ``archive_command`` for every WAL file marked ready
(PostgreSQL's archiver process, pgarch.c).

Who runs it: the engine, on a primary with ``archive_mode`` on or always (and on a standby with
``archive_mode = always``): started with the other background threads, woken by whoever marks
a file ready (wal/archive.py's ``notify``: the WAL writer when it finishes a segment, a backup's
history file), and stopped after the shutdown checkpoint, with one last pass over what is ready.

One pass (``archive_ready``): the files marked ready, history files first, then in WAL order;
for each, ``archive_command`` with ``%p`` and ``%f`` filled in, run in the data directory. Exit
status 0: the marker becomes ``.done`` and ``pg_stat_archiver`` counts it archived. Otherwise
the failure is logged with PostgreSQL's words and counted, and the same file is tried again
after a second, three times in all; then the pass ends ("failed too many times, will try again
later") and the next one starts at the next wake-up or after ``AUTOWAKE_S``. A file is never
skipped: the archive gets segments in order, and pg_wal keeps them until they are archived.
An empty ``archive_command`` archives nothing (a warning each pass, as PostgreSQL's).

``ArchiverStatistics`` is ``pg_stat_archiver``'s one row; it lives on the engine, so it survives
a promotion, and starts empty at each server start.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from collections.abc import Callable

from mirrordb.common.role_thread import RoleThread
from mirrordb.wal import archive

log = logging.getLogger("mirrordb.archiver")

ARCHIVER_THREAD_NAME = "archiver"
AUTOWAKE_S = 60.0          # a pass at least this often without a wake-up (PGARCH_AUTOWAKE_INTERVAL)
RETRIES = 3                # attempts per file in one pass (NUM_ARCHIVE_RETRIES)
RETRY_WAIT_S = 1.0         # between two attempts
STOP_TIMEOUT_S = 60.0


class ArchiverStatistics:
    """pg_stat_archiver's counters (thread-safe; written by the archiver thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.archived_count = 0
        self.last_archived_wal: str | None = None
        self.last_archived_time: datetime.datetime | None = None
        self.failed_count = 0
        self.last_failed_wal: str | None = None
        self.last_failed_time: datetime.datetime | None = None
        self.stats_reset = _now()    # counters are kept from the server's start

    def count_archived(self, name: str) -> None:
        with self._lock:
            self.archived_count += 1
            self.last_archived_wal, self.last_archived_time = name, _now()

    def count_failed(self, name: str) -> None:
        with self._lock:
            self.failed_count += 1
            self.last_failed_wal, self.last_failed_time = name, _now()

    def reset(self) -> None:
        """pg_stat_reset_shared('archiver')."""
        with self._lock:
            self.archived_count = self.failed_count = 0
            self.last_archived_wal = self.last_failed_wal = None
            self.last_archived_time = self.last_failed_time = None
            self.stats_reset = _now()

    def row(self) -> tuple[object, ...]:
        with self._lock:
            return (self.archived_count, self.last_archived_wal, self.last_archived_time,
                    self.failed_count, self.last_failed_wal, self.last_failed_time,
                    self.stats_reset)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class Archiver:
    """The archiver thread of one server (see the module docstring).

    ``settings`` returns the current settings (a reload replaces them): ``archive_command`` is
    read at every attempt."""

    def __init__(self, datadir: str, settings: Callable[[], object],
                 statistics: ArchiverStatistics) -> None:
        self.datadir = datadir
        self.waldir = os.path.join(datadir, "pg_wal")
        self._settings = settings
        self.statistics = statistics
        self._wakeup = threading.Condition()
        self._woken = True          # the first pass at once: files left ready by the last run
        self._stopping = False
        self._final_pass = False
        self._thread: RoleThread | None = None

    def start(self) -> None:
        """Start the thread; a no-op while it runs (a promoted standby's starts again)."""
        if self._thread is not None and self._thread.is_alive():
            return
        with self._wakeup:
            self._stopping = self._final_pass = False
        thread = RoleThread(self._run, ARCHIVER_THREAD_NAME)
        self._thread = thread
        thread.start()

    @property
    def thread(self) -> RoleThread | None:
        """The thread last started, None after ``stop`` (pg_stat_activity's row)."""
        return self._thread

    def wake(self) -> None:
        """A file was marked ready: start a pass now."""
        with self._wakeup:
            self._woken = True
            self._wakeup.notify_all()

    def stop(self, *, final_pass: bool = True) -> None:
        """End the thread; with ``final_pass`` after one more pass over what is ready (a clean
        shutdown, after its checkpoint: PostgreSQL's archiver too archives what it can before it
        exits). A pass under way ends at its next file."""
        with self._wakeup:
            self._stopping = True
            self._final_pass = final_pass
            self._wakeup.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_TIMEOUT_S)

    def _run(self) -> None:
        while True:
            with self._wakeup:
                if not self._woken and not self._stopping:
                    self._wakeup.wait(AUTOWAKE_S)
                self._woken = False
                stopping, final_pass = self._stopping, self._final_pass
            if stopping and not final_pass:
                return
            try:
                self.archive_ready()
            except Exception:   # noqa: BLE001 - logged; the next pass tries again
                log.exception("archiver pass failed")
            if stopping:
                return

    def archive_ready(self) -> int:
        """One pass (module docstring); returns how many files it archived."""
        command = str(self._setting("archive_command"))
        if not command:
            if archive.ready_files(self.waldir):
                log.warning("archive_mode enabled, yet archive_command is not set")
            return 0
        done = 0
        for name in archive.ready_files(self.waldir):
            if self._interrupted():
                break
            if not os.path.exists(os.path.join(self.waldir, name)):
                # its file went (a history file removed by hand): nothing to archive
                log.warning('removed orphan archive status file "%s"',
                            archive.status_path(self.waldir, name, archive.READY))
                archive.forget(self.waldir, name)
                continue
            if not self._archive_with_retries(name):
                break
            done += 1
        return done

    def _archive_with_retries(self, name: str) -> bool:
        for attempt in range(RETRIES):
            status = self._archive_one(name)
            if status == 0:
                archive.archived(self.waldir, name)
                self.statistics.count_archived(name)
                log.debug('archived write-ahead log file "%s"', name)
                return True
            self.statistics.count_failed(name)
            if archive.is_fatal_status(status) or attempt == RETRIES - 1 or \
                    self._wait_before_retry():
                break
        if not archive.is_fatal_status(status):
            log.warning('archiving write-ahead log file "%s" failed too many times, will try '
                        'again later', name)
        return False

    def _archive_one(self, name: str) -> int:
        """Run archive_command for ``name``: its wait status (0 is success), the failure logged
        as PostgreSQL's archiver logs it (FATAL for a signal or command not found)."""
        command = archive.format_command(str(self._setting("archive_command")),
                                         p=os.path.join("pg_wal", name), f=name)
        try:
            status = archive.run_command(command, self.datadir)
        except OSError as error:
            log.warning("could not run archive command: %s", error)
            return 1
        if status != 0:
            level = "FATAL" if archive.is_fatal_status(status) else "LOG"
            log.log(logging.CRITICAL if level == "FATAL" else logging.INFO,
                    "%s", archive.describe_failure("archive command", status),
                    extra={"pg_level": level})
            log.info("The failed archive command was: %s", command, extra={"pg_level": "DETAIL"})
        return status

    def _wait_before_retry(self) -> bool:
        """Wait RETRY_WAIT_S; True if the thread is to stop meanwhile (then no retry)."""
        deadline = time.monotonic() + RETRY_WAIT_S
        with self._wakeup:
            while not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wakeup.wait(remaining)
            return True

    def _interrupted(self) -> bool:
        with self._wakeup:
            return self._stopping and not self._final_pass

    def _setting(self, name: str) -> object:
        return self._settings().get(name)  # type: ignore[attr-defined]


__all__ = ["ARCHIVER_THREAD_NAME", "Archiver", "ArchiverStatistics"]
