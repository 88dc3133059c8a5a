"""Lock files: ``postmaster.pid`` in the data directory and ``.s.PGSQL.<port>.lock`` beside each
Unix-domain socket, in PostgreSQL 15's format.

The postmaster (``server/postmaster.py``) creates the data directory lock first thing at start,
fills in lines as it opens sockets, sets the status line as it changes state, and removes every
lock file when it exits. ``mirrordb start/stop/status`` (``cli/ctl.py``) only read them, as pg_ctl
does. A lock file whose process is gone (a crash, ``kill -9``) is stale and replaced.

Layout (PostgreSQL's pidfile.h), one value per line, each ending with a newline:

====  ==================================================================================
line  value
====  ==================================================================================
1     postmaster process id
2     data directory (absolute path)
3     postmaster start time, seconds since the Unix epoch
4     port number
5     first Unix-domain socket directory (empty if none)
6     first ``listen_addresses`` entry that was bound (``*``, a host or an IP; empty if no
      TCP socket)
7     shared memory key, ``%9lu %9lu``; mirrordb has no System V segment: ``        0         0``
8     status: ``starting``, ``stopping``, ``ready   `` or ``standby `` (padded to 8 chars)
====  ==================================================================================

A socket lock file holds lines 1-5 with line 5 naming its own directory. Creation is exclusive
(``O_CREAT | O_EXCL``); later updates replace the whole file atomically (write, fsync, rename),
so a reader never sees half a file.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, replace

from mirrordb.common.errors import LockFileExists, MirrordbError
from mirrordb.common.fileio import write_file_atomic

LOCK_FILE_NAME = "postmaster.pid"
OPTIONS_FILE_NAME = "postmaster.opts"
LOCK_FILE_LINES = 8
SOCKET_LOCK_FILE_LINES = 5
LOCK_FILE_MAX_BYTES = 8192          # a longer file is not ours
LOCK_CREATE_ATTEMPTS = 100          # PostgreSQL's bound on remove-stale-and-retry rounds
SHMEM_KEY_LINE = f"{0:9d} {0:9d}"

PM_STATUS_STARTING = "starting"
PM_STATUS_STOPPING = "stopping"
PM_STATUS_READY = "ready   "
PM_STATUS_STANDBY = "standby "
PM_STATUSES = (PM_STATUS_STARTING, PM_STATUS_STOPPING, PM_STATUS_READY, PM_STATUS_STANDBY)


@dataclass(frozen=True)
class LockFileContents:
    """The values of a lock file (see the module docstring for the line layout)."""

    pid: int
    data_directory: str
    start_time_s: int
    port: int
    socket_directory: str = ""
    listen_address: str | None = None   # None: line 6 not written yet
    shmem_key: str | None = None
    status: str | None = None

    def render(self, lines: int = LOCK_FILE_LINES) -> str:
        values = [str(self.pid), self.data_directory, str(self.start_time_s), str(self.port),
                  self.socket_directory]
        if lines > SOCKET_LOCK_FILE_LINES:
            values += [self.listen_address or "", self.shmem_key or SHMEM_KEY_LINE,
                       self.status or PM_STATUS_STARTING]
        return "".join(value + "\n" for value in values)

    @classmethod
    def parse(cls, text: str) -> LockFileContents:
        """Read a lock file; missing trailing lines stay unset. Raises on a malformed pid."""
        lines = text.split("\n")
        try:
            pid = int(lines[0])
        except ValueError:
            raise MirrordbError(f'bogus data in lock file: "{lines[0]}"',
                                sqlstate="F0001") from None

        def line(number: int) -> str | None:
            return lines[number - 1] if len(lines) > number else None

        return cls(pid=pid, data_directory=line(2) or "",
                   start_time_s=_int_or_zero(line(3)), port=_int_or_zero(line(4)),
                   socket_directory=line(5) or "", listen_address=line(6),
                   shmem_key=line(7), status=line(8))

    @property
    def is_ready(self) -> bool:
        return self.status in (PM_STATUS_READY, PM_STATUS_STANDBY)


def _int_or_zero(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def process_is_alive(pid: int) -> bool:
    """PostgreSQL's test: alive unless kill(pid, 0) fails with ESRCH or EPERM (a process of
    another user cannot be our postmaster); a zombie counts as dead."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as error:
        return error.errno not in (errno.ESRCH, errno.EPERM)
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed process nobody has reaped yet is dead for our purposes (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except OSError:
        return False
    return bool(fields) and fields[0] in ("Z", "X")


def _our_ancestors() -> set[int]:
    """Our own pid and our parent's: a lock file naming them is stale (a container restart
    can reuse the pid of the server that wrote it)."""
    return {os.getpid(), os.getppid()}


def read_lock_file(path: str) -> LockFileContents | None:
    """The contents of the lock file at ``path``, or None if it is absent, empty or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(LOCK_FILE_MAX_BYTES)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    if not text.strip():
        return None
    try:
        return LockFileContents.parse(text)
    except MirrordbError:
        return None


class LockFile:
    """One lock file this process owns (the data directory's or a socket's)."""

    def __init__(self, path: str, contents: LockFileContents, lines: int) -> None:
        self.path = path
        self.contents = contents
        self._lines = lines

    @classmethod
    def acquire(cls, path: str, contents: LockFileContents, *, reference: str,
                is_data_directory: bool) -> LockFile:
        """Create ``path`` exclusively, replacing a stale one; refuse if a live process owns it.

        ``reference`` is the data directory or socket path the HINT names.
        """
        lines = LOCK_FILE_LINES if is_data_directory else SOCKET_LOCK_FILE_LINES
        name = os.path.basename(path)
        for _ in range(LOCK_CREATE_ATTEMPTS):
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                cls._remove_if_stale(path, name, reference, is_data_directory)
                continue
            except OSError as error:
                raise MirrordbError(f'could not create lock file "{path}": {error.strerror}',
                                    sqlstate="58P01") from None
            try:
                os.write(descriptor, contents.render(lines).encode("utf-8"))
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            return cls(path, contents, lines)
        raise LockFileExists(f'could not create lock file "{path}"')

    @staticmethod
    def _remove_if_stale(path: str, name: str, reference: str, is_data_directory: bool) -> None:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(LOCK_FILE_MAX_BYTES)
        except FileNotFoundError:
            return   # removed meanwhile: try to create it again
        if not text:
            raise LockFileExists(
                f'lock file "{name}" is empty',
                hint="Either another server is starting, or the lock file is the remnant of a "
                     "previous server startup crash.")
        other = LockFileContents.parse(text).pid
        if other not in _our_ancestors() and process_is_alive(other):
            place = (f'running in data directory "{reference}"' if is_data_directory
                     else f'using socket file "{reference}"')
            raise LockFileExists(f'lock file "{name}" already exists',
                                 hint=f"Is another postmaster (PID {other}) {place}?")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def update(self, **changes: object) -> None:
        """Change some values and rewrite the file atomically."""
        self.contents = replace(self.contents, **changes)  # type: ignore[arg-type]
        write_file_atomic(self.path, self.contents.render(self._lines).encode("utf-8"))

    def release(self) -> None:
        """Remove the file (at exit)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def data_directory_lock_path(datadir: str) -> str:
    return os.path.join(datadir, LOCK_FILE_NAME)


def acquire_data_directory_lock(datadir: str, port: int, start_time_s: int) -> LockFile:
    """postmaster.pid for a starting server (status ``starting``)."""
    directory = os.path.abspath(datadir)
    contents = LockFileContents(pid=os.getpid(), data_directory=directory,
                                start_time_s=start_time_s, port=port)
    return LockFile.acquire(data_directory_lock_path(directory), contents, reference=directory,
                            is_data_directory=True)


def acquire_socket_lock(socket_path: str, directory: str, datadir: str, port: int,
                        start_time_s: int) -> LockFile:
    """``<socket>.lock`` beside a Unix-domain socket."""
    contents = LockFileContents(pid=os.getpid(), data_directory=os.path.abspath(datadir),
                                start_time_s=start_time_s, port=port,
                                socket_directory=directory)
    return LockFile.acquire(socket_path + ".lock", contents, reference=socket_path,
                            is_data_directory=False)
