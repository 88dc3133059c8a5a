"""The commit log (``pg_xact``): two status bits per transaction id, in PostgreSQL's file layout.

Layout: 4 transactions per byte, 32768 per 8 kB page, 32 pages per segment file named ``%04X`` after
its segment number (``pg_xact/0000`` holds xids 0 .. 1048575). Within a byte, xid ``x`` uses the
two bits at ``(x % 4) * 2``. Status values are PostgreSQL's::

    0 IN_PROGRESS   (also: crashed, never finished; recovery marks those aborted)
    1 COMMITTED
    2 ABORTED
    3 SUB_COMMITTED (not used by mirrordb: a subtransaction is marked with its parent at commit)

Rules:
* The commit log is not WAL-logged itself: commit and abort records are, and their redo sets the
  bits, so replay rebuilds it. Pages are written only by ``flush``, which the checkpointer calls
  after the WAL is flushed up to the checkpoint's redo point's insert position (a commit bit is
  never on disk before its commit record).
* Bits 0..2 (the special xids Invalid/Bootstrap/Frozen) always read as committed for 1 and 2.
"""

from __future__ import annotations

import os
import threading

from mirrordb.common.fileio import fsync_directory, os_errors, pwrite_all

XACT_IN_PROGRESS = 0
XACT_COMMITTED = 1
XACT_ABORTED = 2
XACT_SUB_COMMITTED = 3

CLOG_PAGE_SIZE = 8192
XACTS_PER_BYTE = 4
XACTS_PER_PAGE = CLOG_PAGE_SIZE * XACTS_PER_BYTE
PAGES_PER_SEGMENT = 32

BOOTSTRAP_XID = 1
FROZEN_XID = 2
FIRST_NORMAL_XID = 3


class CommitLog:
    """In-memory pages of ``pg_xact`` with lazy loading and explicit flushing."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._pages: dict[int, bytearray] = {}
        self._dirty: set[int] = set()
        self._lock = threading.Lock()
        self._directory_unsynced = False   # a segment file was created since the last fsync

    def _page(self, pageno: int) -> bytearray:
        page = self._pages.get(pageno)
        if page is None:
            page = self._load(pageno)
            self._pages[pageno] = page
        return page

    def _path(self, segno: int) -> str:
        return os.path.join(self.directory, f"{segno:04X}")

    def _load(self, pageno: int) -> bytearray:
        path = self._path(pageno // PAGES_PER_SEGMENT)
        offset = (pageno % PAGES_PER_SEGMENT) * CLOG_PAGE_SIZE
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read(CLOG_PAGE_SIZE)
        except FileNotFoundError:
            data = b""
        except OSError as error:
            with os_errors("read", path):
                raise error
        return bytearray(data.ljust(CLOG_PAGE_SIZE, b"\0"))

    def status(self, xid: int) -> int:
        if xid < FIRST_NORMAL_XID:
            return XACT_COMMITTED if xid in (BOOTSTRAP_XID, FROZEN_XID) else XACT_ABORTED
        page = self._pages.get(xid // XACTS_PER_PAGE)
        if page is None:
            with self._lock:
                page = self._page(xid // XACTS_PER_PAGE)
        byte = page[(xid % XACTS_PER_PAGE) // XACTS_PER_BYTE]
        return (byte >> ((xid % XACTS_PER_BYTE) * 2)) & 0x3

    def is_committed(self, xid: int) -> bool:
        return self.status(xid) == XACT_COMMITTED

    def set_status(self, xids: list[int] | tuple[int, ...], status: int) -> None:
        """Set the status of several xids (a transaction and its subtransactions) at once."""
        pages = self._pages
        with self._lock:
            for xid in xids:
                pageno = xid // XACTS_PER_PAGE
                page = pages.get(pageno)    # ``_page`` without its call when cached
                if page is None:
                    page = self._page(pageno)
                index = (xid % XACTS_PER_PAGE) // XACTS_PER_BYTE
                shift = (xid % XACTS_PER_BYTE) * 2
                page[index] = (page[index] & ~(0x3 << shift)) | (status << shift)
                self._dirty.add(pageno)

    def flush(self) -> None:
        """Write every dirty page and fsync the files (the checkpointer's job). If anything
        fails (a full disk, a failed fsync) every page stays dirty, so the next flush writes
        them all again from memory: a checkpoint completes only once they are durable."""
        with self._lock:
            dirty = sorted(self._dirty)
            self._dirty.clear()
            images = {pageno: bytes(self._pages[pageno]) for pageno in dirty}
        try:
            self._write_pages(dirty, images)
        except BaseException:
            with self._lock:
                self._dirty.update(dirty)
            raise

    def _write_pages(self, pagenos: list[int], images: dict[int, bytes]) -> None:
        by_segment: dict[int, list[int]] = {}
        for pageno in pagenos:
            by_segment.setdefault(pageno // PAGES_PER_SEGMENT, []).append(pageno)
        for segno, segment_pagenos in by_segment.items():
            path = self._path(segno)
            with os_errors("write", path):
                if not os.path.exists(path):   # its name is durable once the directory is
                    self._directory_unsynced = True
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    for pageno in segment_pagenos:
                        pwrite_all(fd, images[pageno],
                                   (pageno % PAGES_PER_SEGMENT) * CLOG_PAGE_SIZE)
                    os.fsync(fd)
                finally:
                    os.close(fd)
        if self._directory_unsynced:
            fsync_directory(self.directory)
            self._directory_unsynced = False
