"""File helpers with the durability rules the server relies on.

* ``write_file_atomic`` replaces a file so that after a crash either the old or the new content is
  there, never a mix: write a temporary sibling, fsync it, rename over the target, fsync the directory.
* ``fsync_directory`` makes a create, rename or unlink in a directory durable; ``fsync_file`` and
  ``fsync_tree`` (every file, then every directory, of a tree) make written files durable.
* ``pwrite_all`` writes all of its bytes or raises: a write the kernel cut short (a disk
  filling up part way) is continued, never taken for complete.
* OS errors become ``MirrordbError`` with PostgreSQL's wording: ENOSPC is ``DiskFull`` (53100), any
  other is ``IoError`` (58030), both naming the file.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from mirrordb.common.errors import DiskFull, IoError, MirrordbError


def translate_os_error(error: OSError, action: str, path: str) -> MirrordbError:
    """Turn an OSError into the operating error a client should see."""
    message = f'could not {action} file "{path}": {error.strerror or error}'
    if error.errno == errno.ENOSPC:
        return DiskFull(message, hint="Check free disk space.")
    return IoError(message)


@contextmanager
def os_errors(action: str, path: str) -> Iterator[None]:
    """Run a block, translating OSError into a ``MirrordbError`` naming ``action`` and ``path``."""
    try:
        yield
    except OSError as error:
        raise translate_os_error(error, action, path) from error


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """All of ``data`` at ``offset``: a write cut short (the disk filling up part way) goes on
    until the kernel reports why it cannot (OSError, for the caller to translate)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:      # a regular file never does this: fail rather than spin
            raise OSError(errno.EIO, "pwrite wrote nothing")
        view, offset = view[written:], offset + written


def fsync_directory(path: str) -> None:
    _fsync_path(path, os.O_RDONLY | os.O_DIRECTORY)


def fsync_file(path: str) -> None:
    """fsync the regular file ``path`` (Linux lets a read-only descriptor do it)."""
    _fsync_path(path, os.O_RDONLY)


def _fsync_path(path: str, flags: int) -> None:
    with os_errors("fsync", path):
        fd = os.open(path, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_tree(root: str) -> None:
    """fsync every file under ``root``, then every directory from the deepest up to ``root``
    itself (PostgreSQL's fsync_pgdata: what a base backup or initdb leaves is durable once this
    returns). Symbolic links are not followed."""
    directories: list[str] = []
    for directory, _, files in os.walk(root):
        directories.append(directory)
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                fsync_file(path)
    for directory in reversed(directories):
        fsync_directory(directory)


def write_file_atomic(path: str, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` durably and atomically."""
    temporary = path + ".tmp"
    with os_errors("write", temporary):
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
    with os_errors("rename", temporary):
        os.replace(temporary, path)
    fsync_directory(os.path.dirname(os.path.abspath(path)))


def read_file(path: str) -> bytes:
    with os_errors("read", path):
        with open(path, "rb") as handle:
            return handle.read()
