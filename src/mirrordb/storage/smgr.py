"""Relation files: reading, writing, extending, truncating and syncing the blocks of a relation.

PostgreSQL's storage manager (smgr/md.c) in mirrordb's terms. Who calls it: the buffer pool
(storage/bufmgr.py) reads and writes blocks; the checkpointer calls ``sync_all``; DDL and its redo
(SMGR create/truncate records, DROP) call ``create``, ``truncate`` and ``unlink``. One
``StorageManager`` exists per server, created at startup and closed (``close_all``) at shutdown.

Files. A relation fork is a sequence of 8 kB blocks stored in segment files of
``relseg_size_blocks`` blocks each (1 GB by default), named as PostgreSQL names them:
``base/<db>/<rel>`` (main fork) or ``base/<db>/<rel>_fsm`` etc. for segment 0, then
``<name>.1``, ``<name>.2``... Every segment but the last is exactly full; the relation's length is
the full segments plus the whole blocks of the last one. Segment 0 exists from ``create`` until
``unlink``; later segments appear as blocks are written into them.

Rules and invariants:

* Reading a block wholly past the end is an operating error naming the file (``read``) or a
  ``False`` return (``read_into``, used by the buffer pool); a block that is only partly there (a
  torn extension) is damage: ``DataCorrupted``.
* Writing a block past the end grows the file; a gap left behind reads back as zeros. Writing into
  a later segment first makes every earlier segment full-length, so the length rule above holds.
* ``write`` does not fsync. Every file written since the last sync is remembered, and ``sync_all``
  (the checkpointer) fsyncs them all, even those whose descriptor was closed meanwhile. A failed
  fsync raises ``IoError``, and so does every later ``sync``/``sync_all``: the kernel may have
  dropped the dirty pages it could not write, so a retry could succeed without them and a
  checkpoint would then count changes as durable that are on no disk. PostgreSQL PANICs; here no
  checkpoint or restartpoint completes until the server restarts, and crash recovery writes the
  changes again from WAL, which the last good checkpoint kept.
* ``create``, ``truncate`` and ``unlink`` are durable when they return (file and directory
  fsynced). ``truncate`` and ``unlink`` remove segments from the highest down, so a crash part way
  leaves a shorter but well-formed relation, and the WAL record that caused them is replayed.
* Open descriptors are kept in a bounded LRU cache (``MAX_OPEN_FILES``). A mutex guards the cache;
  reads and writes (``pread``/``pwrite`` of one block, no fsync) run under it so that a descriptor
  is never closed under an I/O call. fsyncs run outside it on a duplicated descriptor.
* OS errors become ``IoError`` naming the file; ENOSPC becomes ``DiskFull``.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable

from mirrordb.common.errors import DataCorrupted, IoError, MirrordbError, invariant
from mirrordb.common.fileio import fsync_directory, os_errors, pwrite_all, translate_os_error
from mirrordb.storage.page import BLCKSZ
from mirrordb.storage.relfilenode import FORK_NAMES, MAIN_FORKNUM, RelFileNode

DEFAULT_RELSEG_SIZE_BLOCKS = 131072       # 1 GB segment files, PostgreSQL's RELSEG_SIZE
MAX_OPEN_FILES = 128                      # segment file descriptors cached per StorageManager
MAX_BLOCK_NUMBER = 0xFFFFFFFE             # block numbers are u32; 0xFFFFFFFF means "invalid"
FILE_MODE = 0o600
PG_VERSION_TEXT = b"15\n"     # a database directory's PG_VERSION, as PostgreSQL 15 writes it
DIRECTORY_MODE = 0o700

SegmentKey = tuple[RelFileNode, int, int]  # (relation, fork, segment number)


class StorageManager:
    """The relation files of one data directory."""

    def __init__(self, datadir: str, relseg_size_blocks: int = DEFAULT_RELSEG_SIZE_BLOCKS
                 ) -> None:
        invariant(1 <= relseg_size_blocks <= DEFAULT_RELSEG_SIZE_BLOCKS * 8,
                  f"relseg_size_blocks {relseg_size_blocks} out of range")
        self.datadir = datadir
        self.relseg_size_blocks = relseg_size_blocks
        self._segment_bytes = relseg_size_blocks * BLCKSZ
        self._max_segments = MAX_BLOCK_NUMBER // relseg_size_blocks + 1
        self._mutex = threading.Lock()
        self._open_files: OrderedDict[SegmentKey, int] = OrderedDict()
        self._unsynced: set[SegmentKey] = set()
        self._fsync_failure: MirrordbError | None = None   # the first failed fsync, kept

    # names ---------------------------------------------------------------------------------

    def segment_path(self, rnode: RelFileNode, fork: int, segno: int) -> str:
        base = os.path.join(self.datadir, rnode.relative_path(fork))
        return base if segno == 0 else f"{base}.{segno}"

    def _locate(self, blkno: int) -> tuple[int, int]:
        """(segment number, byte offset in it) of block ``blkno``."""
        invariant(0 <= blkno <= MAX_BLOCK_NUMBER, f"block number {blkno} out of range")
        segno, block_in_segment = divmod(blkno, self.relseg_size_blocks)
        return segno, block_in_segment * BLCKSZ

    # descriptors (call with the mutex held) ------------------------------------------------

    def _cached_fd(self, key: SegmentKey) -> int | None:
        fd = self._open_files.get(key)
        if fd is not None:
            self._open_files.move_to_end(key)
        return fd

    def _remember(self, key: SegmentKey, fd: int) -> None:
        while len(self._open_files) >= MAX_OPEN_FILES:
            _, oldest = self._open_files.popitem(last=False)
            os.close(oldest)
        self._open_files[key] = fd

    def _forget(self, key: SegmentKey) -> None:
        fd = self._open_files.pop(key, None)
        if fd is not None:
            os.close(fd)

    def _open_existing(self, key: SegmentKey) -> int | None:
        """The descriptor of an existing segment file, or None if the file is missing."""
        fd = self._cached_fd(key)
        if fd is not None:
            return fd
        path = self.segment_path(*key)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise translate_os_error(error, "open", path) from error
        self._remember(key, fd)
        return fd

    def _open_first_segment(self, rnode: RelFileNode, fork: int) -> int:
        fd = self._open_existing((rnode, fork, 0))
        if fd is None:
            path = self.segment_path(rnode, fork, 0)
            raise IoError(f'could not open file "{path}": No such file or directory')
        return fd

    def _open_for_write(self, rnode: RelFileNode, fork: int, segno: int) -> int:
        """The descriptor of segment ``segno``, creating it (and filling earlier ones) if needed."""
        key = (rnode, fork, segno)
        fd = self._cached_fd(key)
        if fd is not None:
            return fd
        if segno == 0:
            return self._open_first_segment(rnode, fork)
        for earlier in range(segno):
            self._make_full_length(rnode, fork, earlier)
        fd = self._open_existing(key)
        if fd is None:
            fd = self._create_segment(key)
        return fd

    def _make_full_length(self, rnode: RelFileNode, fork: int, segno: int) -> None:
        key = (rnode, fork, segno)
        fd = self._open_first_segment(rnode, fork) if segno == 0 else self._open_existing(key)
        if fd is None:
            fd = self._create_segment(key)
        path = self.segment_path(*key)
        with os_errors("extend", path):
            if os.fstat(fd).st_size < self._segment_bytes:
                os.ftruncate(fd, self._segment_bytes)
                self._unsynced.add(key)

    def _create_segment(self, key: SegmentKey) -> int:
        path = self.segment_path(*key)
        with os_errors("create", path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
        self._remember(key, fd)
        fsync_directory(os.path.dirname(path))
        return fd

    def _existing_segments(self, rnode: RelFileNode, fork: int) -> list[int]:
        """Segment numbers whose files exist, from 0 up to the first missing one."""
        found = []
        for segno in range(self._max_segments + 1):
            key = (rnode, fork, segno)
            if key not in self._open_files and not os.path.exists(self.segment_path(*key)):
                break
            found.append(segno)
        return found

    # creating and removing -----------------------------------------------------------------

    def create(self, rnode: RelFileNode, fork: int = MAIN_FORKNUM, *,
               exist_ok: bool = False) -> None:
        """Create the fork's (empty) first segment file, durably."""
        key = (rnode, fork, 0)
        path = self.segment_path(*key)
        directory = os.path.dirname(path)
        with self._mutex:
            _make_directories(directory)
            if self._cached_fd(key) is not None and exist_ok:
                return
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
            except FileExistsError as error:
                if not exist_ok:
                    raise translate_os_error(error, "create", path) from error
                fd = self._open_first_segment(rnode, fork)
            except OSError as error:
                raise translate_os_error(error, "create", path) from error
            if key not in self._open_files:
                self._remember(key, fd)
        fsync_directory(directory)

    def exists(self, rnode: RelFileNode, fork: int = MAIN_FORKNUM) -> bool:
        key = (rnode, fork, 0)
        with self._mutex:
            return key in self._open_files or os.path.exists(self.segment_path(*key))

    def unlink(self, rnode: RelFileNode, fork: int | None = None) -> None:
        """Remove every segment of one fork, or of all forks when ``fork`` is None."""
        forks: Iterable[int] = FORK_NAMES if fork is None else (fork,)
        directories: set[str] = set()
        with self._mutex:
            for each_fork in forks:
                for segno in reversed(self._existing_segments(rnode, each_fork)):
                    key = (rnode, each_fork, segno)
                    self._remove_segment(key)
                    directories.add(os.path.dirname(self.segment_path(*key)))
        for directory in directories:
            fsync_directory(directory)

    def _remove_segment(self, key: SegmentKey) -> None:
        self._forget(key)
        self._unsynced.discard(key)
        path = self.segment_path(*key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise translate_os_error(error, "remove", path) from error

    # size ----------------------------------------------------------------------------------

    def nblocks(self, rnode: RelFileNode, fork: int = MAIN_FORKNUM) -> int:
        """Number of whole blocks in the fork (a torn final block is not counted)."""
        with self._mutex:
            return self._nblocks(rnode, fork)

    def _nblocks(self, rnode: RelFileNode, fork: int) -> int:
        fd = self._open_first_segment(rnode, fork)
        segno = 0
        while True:
            path = self.segment_path(rnode, fork, segno)
            with os_errors("stat", path):
                size = os.fstat(fd).st_size
            if size > self._segment_bytes:
                raise DataCorrupted(f'segment file "{path}" is larger than a segment '
                                    f"({size} bytes, at most {self._segment_bytes})")
            if size < self._segment_bytes:
                return segno * self.relseg_size_blocks + size // BLCKSZ
            segno += 1
            next_fd = self._open_existing((rnode, fork, segno)) \
                if segno < self._max_segments else None
            if next_fd is None:
                return segno * self.relseg_size_blocks
            fd = next_fd

    def truncate(self, rnode: RelFileNode, fork: int, nblocks: int) -> None:
        """Cut the fork to ``nblocks`` blocks, durably; nothing happens if it is not longer."""
        invariant(nblocks >= 0, f"truncate to {nblocks} blocks")
        with self._mutex:
            if nblocks >= self._nblocks(rnode, fork):
                return
            last_segno = (nblocks - 1) // self.relseg_size_blocks if nblocks else 0
            removed = False
            for segno in reversed(self._existing_segments(rnode, fork)):
                if segno > last_segno:
                    self._remove_segment((rnode, fork, segno))
                    removed = True
            key = (rnode, fork, last_segno)
            path = self.segment_path(*key)
            fd = self._open_existing(key)
            invariant(fd is not None, f'truncate: "{path}" vanished')
            assert fd is not None
            with os_errors("truncate", path):
                os.ftruncate(fd, (nblocks - last_segno * self.relseg_size_blocks) * BLCKSZ)
                os.fsync(fd)
            self._unsynced.discard(key)
        if removed:
            fsync_directory(os.path.dirname(path))

    # blocks --------------------------------------------------------------------------------

    def read_into(self, rnode: RelFileNode, fork: int, blkno: int,
                  target: bytearray | memoryview) -> bool:
        """Read block ``blkno`` into ``target``; False if the block lies wholly past the end."""
        invariant(len(target) == BLCKSZ, f"read_into: target of {len(target)} bytes")
        segno, offset = self._locate(blkno)
        path = self.segment_path(rnode, fork, segno)
        with self._mutex:
            fd = self._open_first_segment(rnode, fork) if segno == 0 else \
                self._open_existing((rnode, fork, segno))
            if fd is None:
                return False
            with os_errors(f"read block {blkno} in", path):
                count = os.preadv(fd, [target], offset)
        if count == BLCKSZ:
            return True
        if count == 0:
            return False
        raise DataCorrupted(f'could not read block {blkno} in file "{path}": read only {count} '
                            f"of {BLCKSZ} bytes")

    def read(self, rnode: RelFileNode, fork: int, blkno: int) -> bytes:
        """Block ``blkno``; an operating error naming the file if it is past the end."""
        page = bytearray(BLCKSZ)
        if not self.read_into(rnode, fork, blkno, page):
            path = self.segment_path(rnode, fork, self._locate(blkno)[0])
            raise IoError(f'could not read block {blkno} in file "{path}": read only 0 of '
                          f"{BLCKSZ} bytes", detail="The block is past the end of the relation.")
        return bytes(page)

    def write(self, rnode: RelFileNode, fork: int, blkno: int,
              page: bytes | bytearray | memoryview) -> None:
        """Write block ``blkno`` (no fsync; ``sync_all`` makes it durable)."""
        invariant(len(page) == BLCKSZ, f"write: page of {len(page)} bytes")
        segno, offset = self._locate(blkno)
        key = (rnode, fork, segno)
        path = self.segment_path(*key)
        with self._mutex:
            fd = self._open_for_write(rnode, fork, segno)
            with os_errors(f"write block {blkno} in", path):
                pwrite_all(fd, page, offset)
            self._unsynced.add(key)

    def extend(self, rnode: RelFileNode, fork: int, blkno: int,
               page: bytes | bytearray | memoryview) -> None:
        """Write a new block at or past the current end."""
        current = self.nblocks(rnode, fork)
        invariant(blkno >= current, f"extend: block {blkno} is inside the relation "
                                    f"({current} blocks)")
        self.write(rnode, fork, blkno, page)

    # durability ----------------------------------------------------------------------------

    def sync(self, rnode: RelFileNode, fork: int = MAIN_FORKNUM) -> None:
        """fsync every segment file of one fork."""
        self._refuse_after_failed_fsync()
        with self._mutex:
            keys = [(rnode, fork, segno) for segno in self._existing_segments(rnode, fork)]
            self._unsynced.difference_update(keys)
            handles = self._duplicate_descriptors(keys)
        self._fsync_all(handles)

    def sync_all(self) -> int:
        """fsync every file written since the last sync; returns how many were synced."""
        self._refuse_after_failed_fsync()
        with self._mutex:
            keys = list(self._unsynced)
            self._unsynced.clear()
            handles = self._duplicate_descriptors(keys)
        return self._fsync_all(handles)

    def _duplicate_descriptors(self, keys: list[SegmentKey]) -> list[tuple[SegmentKey, int | None]]:
        handles: list[tuple[SegmentKey, int | None]] = []
        for key in keys:
            fd = self._open_files.get(key)
            handles.append((key, None if fd is None else os.dup(fd)))
        return handles

    def _fsync_all(self, handles: list[tuple[SegmentKey, int | None]]) -> int:
        synced = 0
        failures: list[tuple[SegmentKey, OSError]] = []
        for key, fd in handles:
            try:
                if _fsync_segment(self.segment_path(*key), fd):
                    synced += 1
            except OSError as error:
                failures.append((key, error))
        if failures:
            with self._mutex:
                self._unsynced.update(key for key, _ in failures)
            first_key, first_error = failures[0]
            error = translate_os_error(first_error, "fsync", self.segment_path(*first_key))
            self._fsync_failure = error
            raise error from first_error
        return synced

    def _refuse_after_failed_fsync(self) -> None:
        failure = self._fsync_failure
        if failure is not None:
            raise IoError(f"data files cannot be made durable since an fsync failed "
                          f"({failure.message})",
                          hint="Restart the server: crash recovery writes the changes again "
                               "from WAL.")

    # database directories (CREATE/DROP DATABASE and their redo) ----------------------------

    def database_directory(self, database_oid: int) -> str:
        return os.path.join(self.datadir, "base", str(database_oid))

    def create_database_directory(self, database_oid: int) -> None:
        """``base/<oid>/`` with its PG_VERSION file, durably; what is there already stays (redo
        of a creation that reached the disk before a crash)."""
        directory = self.database_directory(database_oid)
        with self._mutex:
            _make_directories(directory)
        version = os.path.join(directory, "PG_VERSION")
        try:
            fd = os.open(version, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            try:
                pwrite_all(fd, PG_VERSION_TEXT, 0)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            raise translate_os_error(error, "write", version) from error
        fsync_directory(directory)

    def copy_database_directory(self, source_oid: int, target_oid: int) -> None:
        """Copy every file of ``base/<source>/`` into ``base/<target>/`` and fsync them (the
        FILE_COPY strategy; the caller has written the source's dirty buffers)."""
        source, target = (self.database_directory(source_oid),
                          self.database_directory(target_oid))
        with self._mutex:
            _make_directories(target)
        try:
            for name in sorted(os.listdir(source)):
                from_path, to_path = os.path.join(source, name), os.path.join(target, name)
                if not os.path.isfile(from_path):
                    continue
                with open(from_path, "rb") as reader, open(to_path, "wb") as writer:
                    while chunk := reader.read(1 << 20):
                        writer.write(chunk)
                    writer.flush()
                    os.fsync(writer.fileno())
                os.chmod(to_path, FILE_MODE)
        except OSError as error:
            raise translate_os_error(error, "copy", source) from error
        fsync_directory(target)

    def remove_database_directory(self, database_oid: int) -> None:
        """Remove ``base/<oid>/`` and everything in it, forgetting its open files and pending
        fsyncs (a missing directory is not an error: redo may meet it twice)."""
        directory = self.database_directory(database_oid)
        with self._mutex:
            for key in [key for key in self._open_files if key[0].db == database_oid]:
                self._forget(key)
            self._unsynced = {key for key in self._unsynced if key[0].db != database_oid}
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                return
            except OSError as error:
                raise translate_os_error(error, "open", directory) from error
            try:
                for name in names:
                    path = os.path.join(directory, name)
                    if os.path.isdir(path) and not os.path.islink(path):
                        invariant(False, f"unexpected directory {path} in a database directory")
                    os.unlink(path)
                os.rmdir(directory)
            except OSError as error:
                raise translate_os_error(error, "remove", directory) from error
        fsync_directory(os.path.dirname(directory))

    def close_all(self) -> None:
        """Close every cached descriptor (unsynced files stay remembered for ``sync_all``)."""
        with self._mutex:
            while self._open_files:
                _, fd = self._open_files.popitem()
                os.close(fd)


def _fsync_segment(path: str, fd: int | None) -> bool:
    """fsync one file through ``fd`` (closed afterwards) or by path; False if it is gone."""
    if fd is None:
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def _make_directories(directory: str) -> None:
    """Create ``directory`` and missing parents, fsyncing each parent that gained an entry."""
    if os.path.isdir(directory):
        return
    parent = os.path.dirname(directory)
    if parent and parent != directory:
        _make_directories(parent)
    try:
        os.mkdir(directory, DIRECTORY_MODE)
    except FileExistsError:
        return
    except OSError as error:
        failure = translate_os_error(error, "create", directory)
        raise type(failure)(f'could not create directory "{directory}": {error.strerror}',
                            hint=failure.hint) from error
    fsync_directory(parent or ".")
