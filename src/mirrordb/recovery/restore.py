"""A standby's WAL from the archive: ``restore_command``, ``archive_cleanup_command`` and
``recovery_end_command`` (PostgreSQL's xlogarchive.c RestoreArchivedFile and
ExecuteRecoveryCommand).

Who uses it: ``Startup`` (recovery/startup.py) when a segment its replay starts in is missing
from pg_wal, and the standby's startup thread (recovery/standby.py) when replay has reached the
end of pg_wal and the walreceiver is not streaming: it asks for the next segment
(``restore``), replays it, and asks for the next, until the archive has no more; then streaming
(or the next try, after ``wal_retrieve_retry_interval``) takes over again. A restartpoint runs
``archive_cleanup_command``; promotion runs ``recovery_end_command``.

A restore, step by step: ``restore_command`` with ``%f`` (the file wanted), ``%p``
(``pg_wal/RECOVERYXLOG``) and ``%r`` (the segment of the last restartpoint's REDO point: the
oldest the standby still needs) runs in the data directory. Exit status 0 and a file of exactly
a segment's size: it is fsynced and renamed over ``pg_wal/NAME`` (PostgreSQL keeps restored
files under their own names too, so a later restart or a cascaded standby finds them), marked
done for the archiver (or ready, with ``archive_mode = always``), and logged ("restored log
file ... from archive"). Any other exit status means the archive does not have it, which is the
normal end of the archive, except for a signal or a shell that could not run the command (exit
status above 125 or 127: PostgreSQL's wait_result_is_any_signal), which stops recovery: going
on would take a broken command for the end of the WAL. A shorter file is taken for one still
being copied (not there yet); a longer one is an error.

Timeline history files come the same way (``%p`` is then ``pg_wal/RECOVERYHISTORY``, and any
size will do): the startup thread asks for the next timeline's file when it looks for a newer
timeline (a standby fed by the archive follows a promotion), and a promotion asks before it
picks its new timeline ID, so it never takes one another server already used.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from mirrordb.common.errors import DataCorrupted, MirrordbError
from mirrordb.common.fileio import fsync_directory, fsync_file
from mirrordb.wal import archive
from mirrordb.wal.segment import segment_name

if TYPE_CHECKING:
    from mirrordb.engine import Engine

log = logging.getLogger("mirrordb.startup")

RECOVERY_FILE = "RECOVERYXLOG"      # where restore_command puts the file it fetches (%p)
RECOVERY_HISTORY_FILE = "RECOVERYHISTORY"   # the same for a timeline history file


def wait_status_text(status: int) -> str:
    """PostgreSQL's wait_result_to_str."""
    if status < 0:
        return archive.describe_failure("child process", status)
    if status == 127:
        return "command not found"
    if status == 126:
        return "command not executable"
    return f"child process exited with exit code {status}"


class ArchiveRestore:
    """The recovery commands of one standby (see the module docstring); settings are read at
    each use, so a reload applies."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.waldir = os.path.join(engine.datadir, "pg_wal")
        self.restored = 0          # files restored by this server run

    def _setting(self, name: str) -> str:
        return self.engine.settings.get_str(name).strip()

    @property
    def configured(self) -> bool:
        return bool(self._setting("restore_command"))

    def restart_file_name(self) -> str:
        """``%r``: the segment of pg_control's REDO point, the oldest file recovery still
        needs after a restart."""
        control = self.engine.control
        segment_size = control.xlog_seg_size
        return segment_name(control.checkpoint.this_timeline,
                            control.checkpoint.redo // segment_size, segment_size)

    def restore(self, name: str) -> bool:
        """Fetch ``name`` from the archive into pg_wal (module docstring); False when the
        archive does not have it (or no restore_command is set)."""
        command = self._setting("restore_command")
        if not command:
            return False
        history = name.endswith(archive.HISTORY_SUFFIX)
        recovery_file = RECOVERY_HISTORY_FILE if history else RECOVERY_FILE
        temporary = os.path.join(self.waldir, recovery_file)
        _remove(temporary)
        formatted = archive.format_command(command, f=name,
                                           p=os.path.join("pg_wal", recovery_file),
                                           r=self.restart_file_name())
        log.debug('executing restore command "%s"', formatted)
        status = archive.run_command(formatted, self.engine.datadir)
        if status != 0:
            _remove(temporary)
            if archive.is_fatal_status(status):
                raise MirrordbError(f'could not restore file "{name}" from archive: '
                                    f"{wait_status_text(status)}", sqlstate="XX000")
            log.debug('could not restore file "%s" from archive: %s', name,
                      wait_status_text(status))
            return False
        if not (os.path.exists(temporary) if history else self._complete(name, temporary)):
            return False
        fsync_file(temporary)
        os.replace(temporary, os.path.join(self.waldir, name))
        fsync_directory(self.waldir)
        self.engine.segment_received(name)
        self.restored += 1
        log.info('restored log file "%s" from archive', name)
        return True

    def _complete(self, name: str, path: str) -> bool:
        """Whether the fetched file is there with a segment's size; a shorter one may still be
        being copied into the archive (not there yet), a longer one is damaged."""
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            log.debug('could not restore file "%s" from archive: the command made no file', name)
            return False
        expected = self.engine.control.xlog_seg_size
        if size == expected:
            return True
        _remove(path)
        if size < expected:
            log.debug('archive file "%s" has wrong size: %d instead of %d', name, size, expected)
            return False
        raise DataCorrupted(f'archive file "{name}" has wrong size: {size} instead of '
                            f"{expected}")

    def run_cleanup(self) -> None:
        """After a restartpoint: ``archive_cleanup_command`` with %r (pg_archivecleanup's
        job: the archive may drop what comes before)."""
        self._run_recovery_command("archive_cleanup_command")

    def run_end_command(self) -> None:
        """At the end of recovery (promotion): ``recovery_end_command`` with %r."""
        self._run_recovery_command("recovery_end_command")

    def _run_recovery_command(self, setting: str) -> None:
        """PostgreSQL's ExecuteRecoveryCommand: a failure is a WARNING and recovery goes on."""
        command = self._setting(setting)
        if not command:
            return
        formatted = archive.format_command(command, r=self.restart_file_name())
        log.debug("executing %s \"%s\"", setting, formatted)
        try:
            status = archive.run_command(formatted, self.engine.datadir)
        except OSError as error:
            log.warning('%s "%s": %s', setting, formatted, error)
            return
        if status != 0:
            log.warning('%s "%s": %s', setting, formatted, wait_status_text(status))


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


__all__ = ["ArchiveRestore", "RECOVERY_FILE", "wait_status_text"]
