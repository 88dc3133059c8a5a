"""The WAL of a running server: insert records, write pages to segment files, flush them.

Who calls it: every code path that changes a page or commits (through ``insert``), commit and the
buffer manager (``flush``: WAL before data), the checkpointer (``set_redo_lsn``,
``switch_segment``, ``remove_old_segments``), the WAL writer thread (``write_some`` or the
background flusher) and startup (``start_at``, once, where recovery found the end of valid WAL).

Lifecycle::

    writer = WalWriter(waldir, segment_size=..., system_identifier=..., timeline=...)
    writer.start_at(end_of_wal_lsn, prev_record_lsn)     # exactly once, before anything else
    end_lsn = writer.insert(rmid, info, main_data, blocks, xid=xid)
    writer.flush(end_lsn)                                # durable once this returns
    writer.close()

How a record travels:

1. ``insert`` turns each ``BlockRegistration`` into a block reference, deciding (PostgreSQL's rule)
   whether it carries a full-page image: always with REGBUF_FORCE_IMAGE, never with
   REGBUF_NO_IMAGE, otherwise when full_page_writes is on, the page is not being re-initialised
   (REGBUF_WILL_INIT) and its pd_lsn is at or before the redo pointer (the first change to the page
   since the checkpoint started: a torn write of it could not be repaired by replay otherwise).
   With wal_consistency_checking every other block with a page gets a non-applied image and the
   record gets XLR_CHECK_CONSISTENCY. Block data is always kept, even next to an image.
2. Under the insert lock the record gets xl_prev (the previous record's start) and its CRC, and is
   copied into in-memory 8 kB pages ("WAL buffers"), starting at the next MAXALIGNed position;
   a new page gets its header (the long one at a segment start) with XLP_FIRST_IS_CONTRECORD and
   xlp_rem_len when a record continues onto it. ``insert`` returns the record's MAXALIGNed end,
   which the caller stores in pd_lsn.
3. ``write_some`` / ``flush`` write buffered pages to the segment files with positioned writes;
   a page still being filled is written whole (its unused tail zero) and kept. ``flush`` then
   fdatasyncs. Completed pages leave the buffers once written.

Locks, always taken in this order: flush lock -> write lock -> insert lock.

* insert lock: the insert position, the previous record, the buffered pages and the full-page
  settings. Held only for in-memory work.
* write lock: the open segment file and ``write_lsn``; held across write() and fdatasync() calls
  (which release the GIL), so inserts continue meanwhile.
* flush lock: group commit. Whoever holds it writes and syncs everything inserted so far; the
  callers queued behind it then find ``flush_lsn`` already past their LSN and return at once.

Segment files are created full size and zero-filled under a temporary name, fsynced, renamed into
place and the directory fsynced, so a crash never leaves a short or half-initialised segment with a
real name. A full disk raises ``DiskFull``: if it happens while ``insert`` makes room in the
buffers, the record is not inserted at all; if it happens during ``flush``, nothing past the last
successful flush is reported durable, and a record whose tail could not be written fails the
reader's checks (missing continuation or CRC), so it is never taken as valid. A failed fdatasync
is not retried (the kernel may have dropped the dirty pages): the writer refuses all further work.

Statistics (pg_stat_wal, ``statistics()``): plain integers bumped under the lock that already
guards the event, so the insert path pays two additions per record (and one more for a record
with full-page images); write and fdatasync times are measured only while ``track_io_timing``
is on (track_wal_io_timing), as PostgreSQL's. They count from the server's start or the last
``reset_statistics()``.

What survives a crash: everything up to ``flush_lsn``. Recovery then finds the end of valid WAL
with the reader and calls ``start_at``, which keeps the valid bytes of the last page, zeroes the
rest of that segment and deletes later segment files of the timeline, so stale bytes of a torn
tail can never look valid again.
"""

from __future__ import annotations

import logging
import datetime
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Self

from mirrordb.common.crc import crc32c
from mirrordb.common.errors import InvalidParameterValue, IoError, MirrordbError, invariant
from mirrordb.common.fileio import fsync_directory, os_errors
from mirrordb.common.lsn import format_lsn
from mirrordb.common.role_thread import RoleThread
from mirrordb.storage.page import get_lsn, maxalign
from mirrordb.storage.relfilenode import RelFileNode
from mirrordb.wal.pageheader import build_page_header, encode_page_header, page_header_size
from mirrordb.wal.record import (
    REGBUF_FORCE_IMAGE,
    REGBUF_NO_IMAGE,
    REGBUF_STANDARD,
    REGBUF_WILL_INIT,
    BlockImage,
    BlockRef,
    RECORD_HEADER_SIZE,
    encode_record_body,
    make_image,
    record_header,
)
from mirrordb.wal.rmgr import (
    RM_XLOG_ID,
    XLOG_SWITCH,
    XLR_CHECK_CONSISTENCY,
    XLR_RMGR_INFO_MASK,
    XLR_SPECIAL_REL_UPDATE,
    is_valid_rmid,
    is_xlog_switch,
)
from mirrordb.wal.segment import (
    WAL_PAGE_SIZE,
    is_segment_name,
    is_valid_segment_size,
    parse_segment_name,
    segment_name,
    segment_path,
)

logger = logging.getLogger(__name__)

DEFAULT_WAL_BUFFERS_BYTES = 16 * 1024 * 1024
MIN_WAL_BUFFERS_BYTES = 4 * WAL_PAGE_SIZE
ZERO_FILL_CHUNK_BYTES = 1024 * 1024  # size of each write when zero-filling a segment
MAX_RECYCLED_SEGMENTS = 4  # future segment files kept ready by remove_old_segments
MAX_BUFFER_WAITS_PER_INSERT = 8  # times an insert writes buffers out before it overfills them
MAX_PAGES_PER_WRITE_CALL = 512  # buffers handed to one pwritev()
WAL_WRITER_THREAD_NAME = "walwriter"
TEMPORARY_SEGMENT_PREFIX = "xlogtemp."

_ZERO_CHUNK = bytes(ZERO_FILL_CHUNK_BYTES)


@dataclass(frozen=True)
class BlockRegistration:
    """A page a record changes (PostgreSQL's XLogRegisterBuffer).

    ``page``: the page as the caller left it after changing it (its pd_lsn still the old one),
    or None for a reference without a page at hand. ``data``: what redo needs to redo the change.
    ``flags``: REGBUF_* bits.
    """

    block_id: int
    rnode: RelFileNode
    fork: int
    blkno: int
    page: bytearray | None
    data: bytes
    flags: int


@dataclass(frozen=True)
class _FullPageSettings:
    """What decides full-page images; replaced as a whole so an insert can tell it changed."""

    redo_lsn: int
    full_page_writes: bool
    consistency_checking: bool


def write_zeros(fd: int, path: str, start: int, end: int) -> None:
    """Write zero bytes over ``[start, end)`` of an open file (DiskFull / IoError on failure)."""
    with os_errors("write", path):
        position = start
        while position < end:
            written = os.pwrite(fd, memoryview(_ZERO_CHUNK)[:min(end - position,
                                                                  ZERO_FILL_CHUNK_BYTES)],
                                position)
            position += written


class WalWriter:
    """Appends records to the WAL of one timeline in ``waldir`` (see the module docstring)."""

    def __init__(self, waldir: str, *, segment_size: int, system_identifier: int, timeline: int,
                 wal_buffers_bytes: int = DEFAULT_WAL_BUFFERS_BYTES,
                 full_page_writes: bool = True, consistency_checking: bool = False) -> None:
        invariant(is_valid_segment_size(segment_size), f"invalid segment size {segment_size}")
        invariant(wal_buffers_bytes >= MIN_WAL_BUFFERS_BYTES,
                  f"wal_buffers_bytes must be at least {MIN_WAL_BUFFERS_BYTES}")
        invariant(0 < timeline <= 0xFFFFFFFF, f"invalid timeline {timeline}")
        self.waldir = waldir
        self.segment_size = segment_size
        self.system_identifier = system_identifier
        self.timeline = timeline
        self.wal_buffers_bytes = wal_buffers_bytes
        self.fdatasync_count = 0  # every fdatasync issued (observable for group-commit tests)
        self.background_error: MirrordbError | None = None
        self._insert_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._settings = _FullPageSettings(0, full_page_writes, consistency_checking)
        self._started = False
        self._broken: str | None = None
        # insert lock: pages not yet written completely, in LSN order; end of inserted WAL
        self._pages: dict[int, bytearray] = {}
        self._end_lsn = 0
        self._prev_record_lsn = 0
        self._last_important_lsn = 0    # start of the newest important record (0: none yet)
        self._zero_ranges: list[tuple[int, int]] = []  # left after switches; bounded by switches
        # write lock
        self._write_lsn = 0
        self._open_segno: int | None = None
        self._open_fd: int | None = None
        self._open_fresh = False
        self._open_dirty = False
        # flush lock
        self._flush_lsn = 0
        self._flusher: RoleThread | None = None
        self._flusher_stop = threading.Event()
        # flush listeners (walsenders): called with the new flush_lsn after every flush
        self._flush_listeners: tuple[Callable[[int], None], ...] = ()
        # Called (write lock held) with the name of each segment file once it is completely
        # written and fsynced: the archiver's "ready" marker (wal/archive.py). Segments
        # before the one ``start_at`` continues were finished by an earlier run.
        self.on_segment_finished: Callable[[str], None] | None = None
        self._unfinished_segno = 0     # write lock: the first segment not reported finished
        # Asked before a past segment is removed or recycled (its name): False keeps it (not
        # archived yet: wal/archive.py's ``may_remove``). None removes every one.
        self.may_remove: Callable[[str], bool] | None = None
        # pg_stat_wal: records, full-page images and record bytes (insert lock); the inserts
        # that had to write buffers out (insert path); writes, fdatasyncs and their times in
        # microseconds (write lock)
        self.track_io_timing = False
        self._stat_records = self._stat_fpi = self._stat_bytes = 0
        self._stat_buffers_full = self._stat_writes = 0
        self._syncs_before_reset = 0    # fdatasync_count at the last reset
        self._stat_write_us = self._stat_sync_us = 0
        self._stats_reset = datetime.datetime.now(datetime.timezone.utc)

    # -- positions ----------------------------------------------------------------------------------

    @property
    def insert_lsn(self) -> int:
        """Where the next record would start (past the page header when at a page boundary)."""
        end = self._end_lsn
        if end % WAL_PAGE_SIZE == 0:
            return end + page_header_size(end, self.segment_size)
        return end

    @property
    def end_lsn(self) -> int:
        """End of the inserted WAL: the last record's MAXALIGNed end (a segment start after a
        switch); what ``flush(writer.end_lsn)`` makes durable."""
        return self._end_lsn

    @property
    def last_record_start_lsn(self) -> int:
        return self._prev_record_lsn

    @property
    def last_important_lsn(self) -> int:
        """Where the newest record inserted as important starts; 0 before the first since
        the server started (PostgreSQL's GetLastImportantRecPtr)."""
        return self._last_important_lsn

    @property
    def write_lsn(self) -> int:
        return self._write_lsn

    @property
    def flush_lsn(self) -> int:
        return self._flush_lsn

    @property
    def redo_lsn(self) -> int:
        return self._settings.redo_lsn

    # -- start --------------------------------------------------------------------------------------

    def start_at(self, end_of_wal_lsn: int, prev_record_lsn: int, *,
                 redo_lsn: int | None = None) -> None:
        """Continue the WAL after the last valid record, as recovery found it.

        ``end_of_wal_lsn`` is a MAXALIGNed position: the end of the last valid record, or the
        start of the first invalid one (a brand-new WAL starts at a segment start with
        ``prev_record_lsn`` 0). The valid bytes of its page are kept; the rest of the segment is
        zeroed and later segment files of this timeline are deleted.

        ``redo_lsn`` is the last checkpoint's REDO point (PostgreSQL starts RedoRecPtr there).
        Left out, it defaults to ``end_of_wal_lsn``: the first change to any existing page then
        carries a full-page image, which is never too few.
        """
        invariant(not self._started, "start_at called twice")
        invariant(end_of_wal_lsn % 8 == 0, f"unaligned end of WAL {format_lsn(end_of_wal_lsn)}")
        with self._write_lock, self._insert_lock:
            segno = end_of_wal_lsn // self.segment_size
            page_lsn = end_of_wal_lsn - end_of_wal_lsn % WAL_PAGE_SIZE
            self._delete_segments_after(segno)
            if end_of_wal_lsn - page_lsn > page_header_size(page_lsn, self.segment_size):
                self._pages[page_lsn] = self._read_valid_part(page_lsn, end_of_wal_lsn)
                self._end_lsn = end_of_wal_lsn
            else:
                self._end_lsn = page_lsn
            if self._end_lsn % self.segment_size == 0:
                self._delete_segment_file(segno)
            else:
                self._zero_segment_tail(segno, self._end_lsn)
            self._prev_record_lsn = prev_record_lsn
            self._replace_settings(redo_lsn=end_of_wal_lsn if redo_lsn is None else redo_lsn)
            self._write_lsn = end_of_wal_lsn
            self._flush_lsn = end_of_wal_lsn
            self._unfinished_segno = segno
            self._started = True

    def _read_valid_part(self, page_lsn: int, end_lsn: int) -> bytearray:
        path = segment_path(self.waldir, self.timeline, page_lsn // self.segment_size,
                            self.segment_size)
        with os_errors("read", path), open(path, "rb") as handle:
            handle.seek(page_lsn % self.segment_size)
            valid = handle.read(end_lsn - page_lsn)
        if len(valid) != end_lsn - page_lsn:
            raise IoError(f'could not read file "{path}": the end of WAL '
                          f"{format_lsn(end_lsn)} is past the end of the file")
        page = bytearray(WAL_PAGE_SIZE)
        page[:len(valid)] = valid
        return page

    def _zero_segment_tail(self, segno: int, from_lsn: int) -> None:
        path = segment_path(self.waldir, self.timeline, segno, self.segment_size)
        if not os.path.exists(path):
            invariant(from_lsn % WAL_PAGE_SIZE == 0, "valid WAL kept from a missing segment")
            return
        fd = self._segment_fd(segno)
        write_zeros(fd, path, from_lsn % self.segment_size, self.segment_size)
        self._open_dirty = True
        self._sync_open_segment()

    def _delete_segment_file(self, segno: int) -> None:
        path = segment_path(self.waldir, self.timeline, segno, self.segment_size)
        if os.path.exists(path):
            with os_errors("remove", path):
                os.unlink(path)
            fsync_directory(self.waldir)

    def _delete_segments_after(self, segno: int) -> None:
        doomed = [name for name, (tli, number) in self._segment_files()
                  if tli == self.timeline and number > segno]
        for name in doomed:
            path = os.path.join(self.waldir, name)
            with os_errors("remove", path):
                os.unlink(path)
        if doomed:
            logger.info("removed %d WAL segment(s) past the end of WAL", len(doomed))
            fsync_directory(self.waldir)

    def _segment_files(self) -> list[tuple[str, tuple[int, int]]]:
        """``(name, (tli, segno))`` of every segment file in the directory, in name order."""
        with os_errors("read directory", self.waldir):
            names = sorted(os.listdir(self.waldir))
        files = []
        for name in names:
            if is_segment_name(name):
                try:
                    files.append((name, parse_segment_name(name, self.segment_size)))
                except InvalidParameterValue:
                    continue  # 24 hex digits but not a segment of this size: not ours
        return files

    # -- settings -----------------------------------------------------------------------------------

    def set_redo_lsn(self, redo_lsn: int) -> None:
        """RedoRecPtr: a record inserted after this call changing a page whose pd_lsn <= redo_lsn
        attaches a full-page image of it. (A checkpointer should prefer
        ``set_redo_lsn_to_insert_lsn``, which cannot race with concurrent inserts.)"""
        with self._insert_lock:
            self._replace_settings(redo_lsn=redo_lsn)

    def set_redo_lsn_to_insert_lsn(self) -> int:
        """Atomically make the next record's start the redo pointer and return it: the REDO
        point of an online checkpoint, as PostgreSQL takes it at checkpoint start."""
        with self._insert_lock:
            redo_lsn = self.insert_lsn
            self._replace_settings(redo_lsn=redo_lsn)
            return redo_lsn

    def set_full_page_writes(self, on: bool) -> None:
        with self._insert_lock:
            self._replace_settings(full_page_writes=on)

    def set_consistency_checking(self, on: bool) -> None:
        with self._insert_lock:
            self._replace_settings(consistency_checking=on)

    def _replace_settings(self, **changes: object) -> None:
        current = self._settings
        values = {"redo_lsn": current.redo_lsn, "full_page_writes": current.full_page_writes,
                  "consistency_checking": current.consistency_checking, **changes}
        self._settings = _FullPageSettings(**values)  # type: ignore[arg-type]

    # -- insertion ----------------------------------------------------------------------------------

    def insert(self, rmid: int, info: int, main_data: bytes | bytearray | memoryview,
               blocks: Sequence[BlockRegistration] = (), xid: int = 0,
               important: bool = True) -> int:
        """Append one record; returns its MAXALIGNed end LSN (for pd_lsn and ``flush``)."""
        return self.insert_with_start(rmid, info, main_data, blocks, xid, important)[1]

    def insert_with_start(self, rmid: int, info: int, main_data: bytes | bytearray | memoryview,
                          blocks: Sequence[BlockRegistration] = (), xid: int = 0,
                          important: bool = True) -> tuple[int, int]:
        """``insert`` that also returns where the record starts: ``(start_lsn, end_lsn)``
        (a checkpoint record's start goes into pg_control). ``important=False`` (PostgreSQL's
        XLOG_MARK_UNIMPORTANT) for housekeeping records that must not count as activity:
        ``last_important_lsn`` does not move, so an idle server logging only those skips its
        timed checkpoints, standby snapshots and archive_timeout switches."""
        self._check_usable()
        # Checked on every record: the messages are formatted only when a check fails.
        if not is_valid_rmid(rmid):
            invariant(False, f"invalid resource manager id {rmid}")
        if info & ~(XLR_RMGR_INFO_MASK | XLR_SPECIAL_REL_UPDATE):
            invariant(False, f"invalid xlog info mask {info:#04x}")
        invariant(not is_xlog_switch(rmid, info), "use switch_segment() for XLOG_SWITCH")
        settings: _FullPageSettings | None = None
        body, record_info, body_crc, images = b"", info, 0, 0
        buffer_waits = 0
        while True:
            if settings is not self._settings:
                settings = self._settings
                record_info, body, images = self._assemble(info, main_data, blocks, settings)
                body_crc = crc32c(body)
            with self._insert_lock:
                if settings is self._settings:
                    if (buffer_waits >= MAX_BUFFER_WAITS_PER_INSERT
                            or not self._buffers_too_full(len(body))):
                        placed = self._place_record(rmid, record_info, xid, body, body_crc)
                        if important:
                            self._last_important_lsn = placed[0]
                        self._stat_records += 1
                        self._stat_bytes += RECORD_HEADER_SIZE + len(body)
                        if images:
                            self._stat_fpi += images
                        return placed
                    must_write = True
                else:
                    must_write = False
            if must_write:
                buffer_waits += 1
                self._stat_buffers_full += 1
                self._write(full=False, sync=False)

    def _assemble(self, info: int, main_data: bytes | bytearray | memoryview,
                  blocks: Sequence[BlockRegistration], settings: _FullPageSettings
                  ) -> tuple[int, bytes, int]:
        """The record's info, body and number of full-page images replay applies."""
        references = [self._block_reference(block, settings) for block in blocks]
        if settings.consistency_checking:
            info |= XLR_CHECK_CONSISTENCY
        images = sum(1 for reference in references
                     if reference.image is not None and reference.image.apply)
        return info, encode_record_body(references, main_data), images

    @staticmethod
    def _block_reference(block: BlockRegistration, settings: _FullPageSettings) -> BlockRef:
        flags = block.flags
        invariant(not (flags & REGBUF_FORCE_IMAGE and flags & REGBUF_NO_IMAGE),
                  "REGBUF_FORCE_IMAGE and REGBUF_NO_IMAGE together")
        image: BlockImage | None = None
        if block.page is not None:
            standard = bool(flags & REGBUF_STANDARD)
            if _needs_full_page_image(block.page, flags, settings):
                image = make_image(block.page, standard, apply=True)
            elif settings.consistency_checking:
                image = make_image(block.page, standard, apply=False)
        return BlockRef(block.block_id, block.rnode, block.fork, block.blkno, bytes(block.data),
                        image, bool(flags & REGBUF_WILL_INIT))

    def _buffers_too_full(self, body_length: int) -> bool:
        """Whether the record would push the buffers past their limit while written-out-able
        pages could make room (a record bigger than the buffers still goes in, alone)."""
        pages = self._pages
        if not pages:
            return False
        first_page_lsn = next(iter(pages))
        if first_page_lsn + WAL_PAGE_SIZE > self._end_lsn:
            return False  # only the page being filled is buffered
        pages_needed = body_length // (WAL_PAGE_SIZE - 40) + 2
        return (len(pages) + pages_needed) * WAL_PAGE_SIZE > self.wal_buffers_bytes

    def _place_record(self, rmid: int, info: int, xid: int, body: bytes, body_crc: int
                      ) -> tuple[int, int]:
        header = record_header(rmid, info, xid, self._prev_record_lsn, len(body), body_crc)
        self._prev_record_lsn = self._copy_into_pages((header, body))
        return self._prev_record_lsn, self._end_lsn

    def _copy_into_pages(self, pieces: tuple[bytes, ...]) -> int:
        """Copy a record into the buffers at the next record position; returns its start LSN."""
        position = self._end_lsn
        offset = position % WAL_PAGE_SIZE
        total = sum(map(len, pieces))
        if offset and offset + total <= WAL_PAGE_SIZE:
            # The common case: the record fits in the page being filled.
            page = self._pages.get(position - offset)
            if page is None:
                invariant(False, f"WAL page {format_lsn(position - offset)} not buffered")
            assert page is not None
            for piece in pieces:
                end = offset + len(piece)
                page[offset:end] = piece
                offset = end
            self._end_lsn = maxalign(position + total)
            return position
        return self._copy_across_pages(pieces, total)

    def _copy_across_pages(self, pieces: tuple[bytes, ...], total: int) -> int:
        """``_copy_into_pages`` for a record that starts a page or continues onto the next."""
        views = [memoryview(piece) for piece in pieces]
        remaining = total
        position = self._end_lsn
        start_lsn = -1
        for piece in views:
            while piece:
                if position % WAL_PAGE_SIZE == 0:
                    self._start_page(position, remaining if start_lsn >= 0 else 0)
                    position += page_header_size(position, self.segment_size)
                if start_lsn < 0:
                    start_lsn = position
                page_lsn = position - position % WAL_PAGE_SIZE
                page = self._pages.get(page_lsn)
                if page is None:
                    invariant(False, f"WAL page {format_lsn(page_lsn)} not buffered")
                assert page is not None
                offset = position % WAL_PAGE_SIZE
                length = min(len(piece), WAL_PAGE_SIZE - offset)
                page[offset:offset + length] = piece[:length]
                piece = piece[length:]
                position += length
                remaining -= length
        self._end_lsn = maxalign(position)
        return start_lsn

    def _start_page(self, page_lsn: int, rem_len: int) -> None:
        if page_lsn in self._pages:
            invariant(False, f"WAL page {format_lsn(page_lsn)} started twice")
        header = encode_page_header(build_page_header(
            page_lsn, tli=self.timeline, rem_len=rem_len, segment_size=self.segment_size,
            system_identifier=self.system_identifier))
        page = bytearray(WAL_PAGE_SIZE)
        page[:len(header)] = header
        self._pages[page_lsn] = page

    def switch_segment(self, important: bool = True) -> int:
        """Insert XLOG_SWITCH: the rest of the segment stays unused (zero) and the next record
        starts after the next segment's long header. Returns the switch record's end, or the
        current position (a segment start) when nothing was inserted since the last switch.
        ``important=False``: archive_timeout's switch, which is no activity of its own."""
        self._check_usable()
        with self._insert_lock:
            if self._end_lsn % self.segment_size == 0:
                return self._end_lsn
            header = record_header(RM_XLOG_ID, XLOG_SWITCH, 0, self._prev_record_lsn, 0,
                                   crc32c(b""))
            self._prev_record_lsn = self._copy_into_pages((header,))
            if important:
                self._last_important_lsn = self._prev_record_lsn
            self._stat_records += 1
            self._stat_bytes += RECORD_HEADER_SIZE
            switch_end_lsn = self._end_lsn
            segment_end_lsn = _round_up(switch_end_lsn, self.segment_size)
            zero_from_lsn = _round_up(switch_end_lsn, WAL_PAGE_SIZE)
            if zero_from_lsn < segment_end_lsn:
                self._zero_ranges.append((zero_from_lsn, segment_end_lsn))
            self._end_lsn = segment_end_lsn
            return switch_end_lsn

    # -- writing and flushing -----------------------------------------------------------------------

    def write_some(self) -> None:
        """Write the completed pages (no fsync): the WAL writer's periodic job."""
        self._check_usable()
        self._write(full=False, sync=False)

    def flush(self, upto_lsn: int) -> None:
        """Make the WAL durable up to at least ``upto_lsn`` (write + fdatasync), sharing the
        fdatasync with concurrent callers (group commit)."""
        if upto_lsn <= self._flush_lsn:
            return
        self._check_usable()
        if upto_lsn > self.insert_lsn:
            invariant(False, f"WAL flush request {format_lsn(upto_lsn)} is past the inserted "
                             f"WAL {format_lsn(self._end_lsn)}")
        upto_lsn = min(upto_lsn, self._end_lsn)  # a position past a page header holds no WAL
        if upto_lsn <= self._flush_lsn:
            return
        with self._flush_lock:
            if upto_lsn <= self._flush_lsn:
                return
            written_lsn = self._write(full=True, sync=True)
            self._flush_lsn = max(self._flush_lsn, written_lsn)
        self.notify_flush_listeners()

    def _write(self, *, full: bool, sync: bool) -> int:
        """Write buffered pages (all of them, or only completed ones) and optionally fdatasync;
        returns the LSN the file now holds WAL up to."""
        with self._write_lock:
            self._check_usable()
            with self._insert_lock:
                target_lsn = self._end_lsn
                batch = [(page_lsn, page if page_lsn + WAL_PAGE_SIZE <= target_lsn
                          else bytes(page))
                         for page_lsn, page in self._pages.items()
                         if full or page_lsn + WAL_PAGE_SIZE <= target_lsn]
                zero_ranges = list(self._zero_ranges)
            self._write_pages(batch, zero_ranges)
            if sync:
                self._sync_open_segment()
            with self._insert_lock:
                for page_lsn, _ in batch:
                    if page_lsn + WAL_PAGE_SIZE <= target_lsn:
                        del self._pages[page_lsn]
                del self._zero_ranges[:len(zero_ranges)]
            if full:
                written_lsn = target_lsn
            elif batch:
                written_lsn = min(batch[-1][0] + WAL_PAGE_SIZE, target_lsn)
            else:
                written_lsn = self._write_lsn
            if zero_ranges and not full:
                written_lsn = max(written_lsn, min(zero_ranges[-1][1], target_lsn))
            self._write_lsn = max(self._write_lsn, written_lsn)
            if self._write_lsn // self.segment_size > self._unfinished_segno:
                self._segments_finished()
            return self._write_lsn

    def _segments_finished(self) -> None:
        """The write position passed the end of one or more segments: the one still open is
        fsynced and closed (the others were when the next was opened), then each is reported
        (PostgreSQL's XLogWrite does the same before XLogArchiveNotifySeg). Write lock held."""
        finished = self._write_lsn // self.segment_size
        if self._open_segno is not None and self._open_segno < finished:
            self._close_open_segment()
        first, self._unfinished_segno = self._unfinished_segno, finished
        if self.on_segment_finished is not None:
            for segno in range(first, finished):
                self.on_segment_finished(segment_name(self.timeline, segno, self.segment_size))

    def _write_pages(self, batch: list[tuple[int, bytes | bytearray]],
                     zero_ranges: list[tuple[int, int]]) -> None:
        """Positioned writes of runs of consecutive pages and, in LSN order with them, of the
        zero ranges left by switches (only needed in a reused segment file: a fresh one is zero
        already)."""
        pending_zero_ranges = list(zero_ranges)
        for run_start_lsn, buffers in _runs(batch, self.segment_size):
            while pending_zero_ranges and pending_zero_ranges[0][0] < run_start_lsn:
                self._write_zero_range(*pending_zero_ranges.pop(0))
            fd = self._segment_fd(run_start_lsn // self.segment_size)
            started = time.perf_counter_ns() if self.track_io_timing else 0
            with os_errors("write", self._open_path()):
                _pwritev_all(fd, buffers, run_start_lsn % self.segment_size)
            if started:
                self._stat_write_us += (time.perf_counter_ns() - started) // 1000
            self._stat_writes += 1
            self._open_dirty = True
        for start_lsn, end_lsn in pending_zero_ranges:
            self._write_zero_range(start_lsn, end_lsn)

    def _write_zero_range(self, start_lsn: int, end_lsn: int) -> None:
        fd = self._segment_fd(start_lsn // self.segment_size)
        if not self._open_fresh:
            write_zeros(fd, self._open_path(), start_lsn % self.segment_size,
                        (end_lsn - 1) % self.segment_size + 1)
            self._open_dirty = True

    def _open_path(self) -> str:
        invariant(self._open_segno is not None, "no WAL segment is open")
        return segment_path(self.waldir, self.timeline, self._open_segno,  # type: ignore[arg-type]
                            self.segment_size)

    def _segment_fd(self, segno: int) -> int:
        """The file descriptor of segment ``segno``, opening (or creating) it and closing, after
        syncing, the previously open one. Caller holds the write lock."""
        if self._open_segno == segno and self._open_fd is not None:
            return self._open_fd
        self._close_open_segment()
        path = segment_path(self.waldir, self.timeline, segno, self.segment_size)
        fresh = False
        if not os.path.exists(path):
            self._create_segment_file(path)
            fresh = True
        with os_errors("open", path):
            fd = os.open(path, os.O_RDWR)
        try:
            with os_errors("stat", path):
                size = os.fstat(fd).st_size
            if size < self.segment_size:  # e.g. copied from a .partial file: complete it
                write_zeros(fd, path, size, self.segment_size)
        except BaseException:
            os.close(fd)
            raise
        self._open_segno, self._open_fd = segno, fd
        self._open_fresh, self._open_dirty = fresh, size < self.segment_size
        return fd

    def _create_segment_file(self, path: str) -> None:
        """Create a zero-filled segment under a temporary name, fsync, rename, fsync the dir."""
        temporary = os.path.join(self.waldir, f"{TEMPORARY_SEGMENT_PREFIX}{os.getpid()}")
        try:
            with os_errors("create", temporary):
                fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                write_zeros(fd, temporary, 0, self.segment_size)
                with os_errors("fsync", temporary):
                    os.fsync(fd)
            finally:
                os.close(fd)
            with os_errors("rename", temporary):
                os.rename(temporary, path)
        except BaseException:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass
            raise
        fsync_directory(self.waldir)

    def _sync_open_segment(self) -> None:
        if self._open_fd is None or not self._open_dirty:
            return
        path = self._open_path()
        started = time.perf_counter_ns() if self.track_io_timing else 0
        try:
            os.fdatasync(self._open_fd)
        except OSError as error:
            self._broken = f'could not fdatasync file "{path}": {error.strerror or error}'
            raise IoError(self._broken) from error
        if started:
            self._stat_sync_us += (time.perf_counter_ns() - started) // 1000
        self.fdatasync_count += 1
        self._open_dirty = False

    def _close_open_segment(self) -> None:
        if self._open_fd is None:
            return
        try:
            self._sync_open_segment()
        finally:
            os.close(self._open_fd)
            self._open_fd = None
            self._open_segno = None

    def _check_usable(self) -> None:
        invariant(self._started, "WalWriter used before start_at()")
        if self._broken is not None:
            raise IoError(f"WAL writer stopped: {self._broken}")

    # -- statistics -------------------------------------------------------------------------------

    def statistics(self) -> tuple[Any, ...]:
        """pg_stat_wal's row: wal_records, wal_fpi, wal_bytes, wal_buffers_full, wal_write,
        wal_sync, wal_write_time and wal_sync_time (milliseconds), stats_reset."""
        return (self._stat_records, self._stat_fpi, self._stat_bytes, self._stat_buffers_full,
                self._stat_writes, self.fdatasync_count - self._syncs_before_reset,
                self._stat_write_us / 1000.0,
                self._stat_sync_us / 1000.0, self._stats_reset)

    def reset_statistics(self) -> None:
        """pg_stat_reset_shared('wal'): the counters start again from zero."""
        with self._write_lock, self._insert_lock:
            self._stat_records = self._stat_fpi = self._stat_bytes = 0
            self._stat_buffers_full = self._stat_writes = 0
            self._syncs_before_reset = self.fdatasync_count
            self._stat_write_us = self._stat_sync_us = 0
            self._stats_reset = datetime.datetime.now(datetime.timezone.utc)

    # -- flush notification (walsenders wait on it) -------------------------------------------------

    def add_flush_listener(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(flush_lsn)`` after every flush that may have moved ``flush_lsn``.
        Listeners run on the flushing thread (a committing backend): they must only wake
        someone (set an event, write a byte to a non-blocking socket) and never raise."""
        with self._insert_lock:
            self._flush_listeners = (*self._flush_listeners, listener)

    def remove_flush_listener(self, listener: Callable[[int], None]) -> None:
        with self._insert_lock:
            self._flush_listeners = tuple(item for item in self._flush_listeners
                                          if item is not listener)

    def notify_flush_listeners(self) -> None:
        """Call the listeners (the writer does after each flush; on a standby, whose writer
        is idle, the walreceiver does after each flush of received WAL: cascading
        walsenders wait on it)."""
        flush_lsn = self._flush_lsn
        for listener in self._flush_listeners:
            listener(flush_lsn)

    # -- background flusher -------------------------------------------------------------------------

    def start_background_flusher(self, interval_ms: int) -> None:
        """Start the "walwriter" thread, which flushes every ``interval_ms`` whatever was
        inserted (what makes synchronous_commit=off commits durable soon after)."""
        invariant(self._flusher is None, "background flusher already running")
        invariant(interval_ms > 0, f"invalid flusher interval {interval_ms} ms")
        self._flusher_stop = threading.Event()
        self._flusher = RoleThread(self._flusher_loop, WAL_WRITER_THREAD_NAME,
                                   args=(interval_ms / 1000, self._flusher_stop))
        self._flusher.start()

    @property
    def flusher_thread(self) -> RoleThread | None:
        """The "walwriter" thread while started, else None (pg_stat_activity's row)."""
        return self._flusher

    def stop_background_flusher(self) -> None:
        flusher = self._flusher
        if flusher is None:
            return
        self._flusher_stop.set()
        flusher.join()
        self._flusher = None

    def _flusher_loop(self, interval_s: float, stop: threading.Event) -> None:
        while not stop.wait(interval_s):
            try:
                if self._flush_lsn < self._end_lsn:
                    self.flush(self._end_lsn)
            except MirrordbError as error:  # keep trying; the next flush reports it too
                if self.background_error is None or str(self.background_error) != str(error):
                    logger.warning("WAL writer could not flush: %s", error)
                self.background_error = error

    # -- segment housekeeping -----------------------------------------------------------------------

    def remove_old_segments(self, keep_from_lsn: int) -> int:
        """Remove the segment files wholly before ``keep_from_lsn``'s segment (never one still
        being written): rename up to MAX_RECYCLED_SEGMENTS of them to future segment names for
        reuse, delete the rest. Returns how many were removed from the past."""
        self._check_usable()
        with self._write_lock:
            with self._insert_lock:
                oldest_unwritten_lsn = next(iter(self._pages), self._end_lsn)
                insert_segno = self._end_lsn // self.segment_size
            limit_segno = min(keep_from_lsn, oldest_unwritten_lsn) // self.segment_size
            if self._open_segno is not None:
                limit_segno = min(limit_segno, self._open_segno)
            files = self._segment_files()
            future = {number for _, (tli, number) in files
                      if tli == self.timeline and number > insert_segno}
            removed = 0
            may_remove = self.may_remove
            for name, (_, number) in files:
                if number < limit_segno and (may_remove is None or may_remove(name)):
                    self._recycle_or_delete(name, insert_segno, future)
                    removed += 1
            if removed:
                fsync_directory(self.waldir)
            return removed

    def _recycle_or_delete(self, name: str, insert_segno: int, future: set[int]) -> None:
        path = os.path.join(self.waldir, name)
        free = [number for number in range(insert_segno + 1,
                                           insert_segno + 1 + MAX_RECYCLED_SEGMENTS)
                if number not in future]
        with os_errors("remove", path):
            if free and len(future) < MAX_RECYCLED_SEGMENTS and \
                    os.stat(path).st_size == self.segment_size:
                target = segment_path(self.waldir, self.timeline, free[0], self.segment_size)
                os.rename(path, target)
                future.add(free[0])
            else:
                os.unlink(path)
        for suffix in (".ready", ".done"):
            status = os.path.join(self.waldir, "archive_status", name + suffix)
            if os.path.exists(status):
                with os_errors("remove", status):
                    os.unlink(status)

    # -- shutdown -----------------------------------------------------------------------------------

    def close(self, *, flush: bool = True) -> None:
        """Stop the background flusher, flush everything inserted (unless ``flush`` is False:
        a simulated crash, where WAL past ``flush_lsn`` is lost), close the segment file."""
        self.stop_background_flusher()
        if not self._started:
            return
        try:
            if flush and self._broken is None:
                self.flush(self._end_lsn)
        finally:
            with self._write_lock:
                if self._open_fd is not None:
                    os.close(self._open_fd)
                    self._open_fd = None
                    self._open_segno = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _needs_full_page_image(page: bytearray, flags: int, settings: _FullPageSettings) -> bool:
    if flags & REGBUF_NO_IMAGE:
        return False
    if flags & REGBUF_FORCE_IMAGE:
        return True
    return (settings.full_page_writes and not flags & REGBUF_WILL_INIT
            and get_lsn(page) <= settings.redo_lsn)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _runs(batch: list[tuple[int, bytes | bytearray]], segment_size: int
          ) -> Iterable[tuple[int, list[bytes | bytearray]]]:
    """Group pages into runs that are consecutive, inside one segment, and not too long."""
    run_start = -1
    buffers: list[bytes | bytearray] = []
    for page_lsn, page in batch:
        continues = (bool(buffers) and page_lsn == run_start + len(buffers) * WAL_PAGE_SIZE
                     and page_lsn % segment_size != 0
                     and len(buffers) < MAX_PAGES_PER_WRITE_CALL)
        if not continues:
            if buffers:
                yield run_start, buffers
            run_start, buffers = page_lsn, []
        buffers.append(page)
    if buffers:
        yield run_start, buffers


def _pwritev_all(fd: int, buffers: list[bytes | bytearray], offset: int) -> None:
    """pwritev that carries on after a short write."""
    views = [memoryview(buffer) for buffer in buffers]
    while views:
        written = os.pwritev(fd, views, offset)
        offset += written
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]
