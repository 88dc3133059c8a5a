"""WAL archiving's file protocol and shell commands (PostgreSQL 15's xlogarchive.c conventions).

Which WAL files still need archiving is kept as empty marker files in ``pg_wal/archive_status``:
``NAME.ready`` once the file ``pg_wal/NAME`` is complete and should be archived, renamed to
``NAME.done`` once ``archive_command`` has stored it (or once nothing needs to: a standby
that is not archiving marks what it received as done, so that its promotion does not archive
the old primary's WAL again). The rules the rest of the server follows:

- a finished segment is marked ready only after its bytes are fsynced (``notify``), by whoever
  finished it: the WAL writer on a primary, the walreceiver on an ``archive_mode = always``
  standby (which otherwise marks it done: ``mark_done``);
- a segment is removed or recycled only when ``may_remove`` says so: archiving off, or its
  ``.done`` exists. A segment without either marker (a crash came between the fsync and the
  marker) is marked ready there and kept: nothing complete is ever skipped;
- removing a segment removes its markers (``forget``).

The commands: ``archive_command`` with ``%p`` (the file's path, relative to the data directory,
where the command runs), ``%f`` (its name) and ``%%``; ``restore_command`` with ``%f`` (the
file wanted), ``%p`` (where to copy it), ``%r`` (the oldest file a restart still needs) and
``%%``; ``archive_cleanup_command`` and ``recovery_end_command`` with ``%r``. Other ``%``
sequences are kept as they are, as PostgreSQL keeps them. A command runs under ``/bin/sh``;
its exit status 0 means success.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess

from mirrordb.common.fileio import fsync_directory, os_errors

log = logging.getLogger("mirrordb.archive")

STATUS_DIRECTORY = "archive_status"
READY = ".ready"
DONE = ".done"
HISTORY_SUFFIX = ".history"
BACKUP_HISTORY_SUFFIX = ".backup"


def status_path(waldir: str, name: str, suffix: str) -> str:
    return os.path.join(waldir, STATUS_DIRECTORY, name + suffix)


def _touch(path: str) -> None:
    with os_errors("create archive status file", path):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)


def notify(waldir: str, name: str) -> None:
    """``NAME.ready``: the complete file ``pg_wal/NAME`` is to be archived (XLogArchiveNotify)."""
    _touch(status_path(waldir, name, READY))


def mark_done(waldir: str, name: str) -> None:
    """``NAME.done`` without archiving it here (XLogArchiveForceDone): a ``.ready`` is renamed,
    else the marker is created."""
    done = status_path(waldir, name, DONE)
    if os.path.exists(done):
        return
    ready = status_path(waldir, name, READY)
    try:
        os.rename(ready, done)
        return
    except FileNotFoundError:
        pass
    except OSError as error:
        log.warning('could not rename file "%s" to "%s": %s', ready, done, error.strerror)
    _touch(done)


def archived(waldir: str, name: str) -> None:
    """The archiver stored ``name``: ``.ready`` becomes ``.done``, durably (a crash must not
    make the archiver store it again, though ``archive_command`` must allow that)."""
    ready, done = status_path(waldir, name, READY), status_path(waldir, name, DONE)
    with os_errors("rename", ready):
        os.rename(ready, done)
    fsync_directory(os.path.dirname(done))


def may_remove(waldir: str, name: str, archiving: bool) -> bool:
    """Whether ``pg_wal/NAME`` may be removed or recycled (XLogArchiveCheckDone): always when
    ``archiving`` is off, else only once it is ``.done``. A file with no marker at all is
    marked ready now (its marker was lost) and kept."""
    if not archiving or os.path.exists(status_path(waldir, name, DONE)):
        return True
    if os.path.exists(status_path(waldir, name, READY)):
        return False
    notify(waldir, name)
    return False


def is_busy(waldir: str, name: str) -> bool:
    """Whether ``name`` still waits to be archived (XLogArchiveIsBusy): not once it is done or
    gone from pg_wal (it can only have gone after being archived)."""
    if os.path.exists(status_path(waldir, name, DONE)):
        return False
    if os.path.exists(status_path(waldir, name, READY)):
        return True
    return os.path.exists(os.path.join(waldir, name))


def forget(waldir: str, name: str) -> None:
    """Remove both markers of ``name`` (XLogArchiveCleanup), with the file itself gone."""
    for suffix in (READY, DONE):
        path = status_path(waldir, name, suffix)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def ready_files(waldir: str) -> list[str]:
    """Names marked ready, in the order the archiver takes them: timeline history files first
    (a standby following a new timeline needs them before its segments), then by name, which
    for segments of one timeline is WAL order."""
    try:
        entries = os.listdir(os.path.join(waldir, STATUS_DIRECTORY))
    except FileNotFoundError:
        return []
    names = [entry[:-len(READY)] for entry in entries if entry.endswith(READY)]
    return sorted(names, key=lambda name: (not name.endswith(HISTORY_SUFFIX), name))


def format_command(template: str, **values: str) -> str:
    """``template`` with ``%x`` replaced by ``values["x"]`` for the letters given and ``%%`` by
    ``%``; any other ``%`` is kept (PostgreSQL's placeholder rule)."""
    out: list[str] = []
    position = 0
    while position < len(template):
        char = template[position]
        if char == "%" and position + 1 < len(template):
            following = template[position + 1]
            if following == "%":
                out.append("%")
                position += 2
                continue
            if following in values:
                out.append(values[following])
                position += 2
                continue
        out.append(char)
        position += 1
    return "".join(out)


def run_command(command: str, cwd: str) -> int:
    """Run ``command`` under ``/bin/sh`` in ``cwd``; its wait status in PostgreSQL's terms: the
    exit code, or minus the number of the signal that ended it."""
    completed = subprocess.run(command, shell=True, cwd=cwd, check=False,
                               stdin=subprocess.DEVNULL)
    return completed.returncode


def describe_failure(what: str, status: int) -> str:
    """PostgreSQL's wording for a failed command: "archive command failed with exit code 1",
    "... was terminated by signal 9: Killed"."""
    if status < 0:
        number = -status
        try:
            description = signal.strsignal(number) or ""
        except ValueError:
            description = ""
        return f"{what} was terminated by signal {number}: {description}"
    return f"{what} failed with exit code {status}"


def is_fatal_status(status: int) -> bool:
    """A signal, a shell killed by one (exit code above 128) or a command not found (127):
    PostgreSQL's wait_result_is_any_signal, after which its archiver exits and is restarted."""
    return status < 0 or status > 128 or status == 127


__all__ = ["DONE", "READY", "STATUS_DIRECTORY", "archived", "describe_failure",
           "format_command", "forget", "is_busy", "is_fatal_status", "mark_done",
           "may_remove", "notify", "ready_files", "run_command", "status_path"]
