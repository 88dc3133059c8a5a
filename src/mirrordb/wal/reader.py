"""Reading WAL back: reassemble records from 8 kB pages, validate them, decode them.

``WalReader`` is a pure decoder over a ``WalPageSource`` (anything that returns the 8192 bytes of
a page given its LSN, or None when that page is not there), so crash recovery (segment files),
a standby (streamed WAL) and tools share it. It follows PostgreSQL 15's xlogreader:

* a record starts at a MAXALIGNed position; at a page start the page header is skipped;
* the 24-byte header is checked as soon as it is complete (length >= 24, valid rmid, and
  ``xl_prev`` equal to the previous record's start, or merely below the record when the caller
  does not know the previous record);
* a record longer than the rest of its page continues after the next page's header, which must
  carry XLP_FIRST_IS_CONTRECORD and an ``xlp_rem_len`` equal to the bytes still missing;
* every page header is validated (magic, flags, long header on a segment's first page and the
  system identifier / segment size in it, ``xlp_pageaddr``, timelines never decreasing);
* the CRC covers the whole record, so a record is never accepted unless all its bytes are
  present and intact; then the block headers are checked while decoding;
* after XLOG_SWITCH the next record is at the start of the next segment.

The first failure ends the valid WAL: ``read_record`` raises ``EndOfWal`` carrying the LSN where
the invalid record starts and PostgreSQL's message ("invalid record length at 0/1005298: wanted
24, got 0"). ``records_from`` turns that into a clean stop and leaves ``end_lsn`` / ``end_reason``.

Lifecycle: one reader per sequential scan (recovery, a walsender, a tool). It caches the last
page it read and forgets it at every failure, so a caller may poll a growing WAL by retrying
(the long header of the segment being read is checked once per segment entered).
``SegmentFileSource`` is the I/O edge for segment files in ``pg_wal``; the writer is the other
half (writer.py).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import Protocol, Self

from mirrordb.common.errors import WalCorrupted, invariant
from mirrordb.common.fileio import translate_os_error
from mirrordb.common.lsn import format_lsn
from mirrordb.storage.page import MAXALIGN
from mirrordb.wal.pageheader import (
    XLP_FIRST_IS_CONTRECORD,
    XLP_FIRST_IS_OVERWRITE_CONTRECORD,
    SHORT_PAGE_HEADER_SIZE,
    decode_page_header,
    plain_short_header,
)
from mirrordb.wal.record import (
    MAX_RECORD_TOTAL_LENGTH,
    RECORD_HEADER_SIZE,
    RECORD_HEADER_STRUCT,
    DecodedRecord,
    decode_checked_record,
)
from mirrordb.wal.rmgr import RM_MAX_BUILTIN_ID, RM_MIN_CUSTOM_ID, RM_XLOG_ID
from mirrordb.wal.segment import WAL_PAGE_SIZE, is_valid_segment_size, segment_name, segment_path
from mirrordb.wal.timeline import History, segment_file, segment_timelines, single_timeline

_U32 = struct.Struct("<I")
READ_AHEAD_BYTES = 128 * 1024    # most a SegmentFileSource reads from a segment file at once
READ_AHEAD_BUFFERS = 4           # read-ahead buffers a SegmentFileSource keeps for reuse
_MAXALIGN_MASK = MAXALIGN - 1   # storage/page.py's maxalign, inlined on the per-record path
_RECORD_HEADER_UNPACK_FROM = RECORD_HEADER_STRUCT.unpack_from   # once per record
_NOTHING_AHEAD = memoryview(b"")


class EndOfWal(WalCorrupted):
    """The record at ``lsn`` is invalid or incomplete: valid WAL ends there.

    ``page_missing`` is True when the cause is only that a page is not available (yet): a
    standby may wait for more WAL, crash recovery stops.
    """

    def __init__(self, lsn: int, reason: str, *, page_missing: bool = False) -> None:
        super().__init__(reason, lsn)
        self.reason = reason
        self.page_missing = page_missing


class WalPageSource(Protocol):
    """Where a ``WalReader`` gets pages. A source that caches pages it read ahead may also
    have ``forget_cached()``: the reader calls it whenever it stops at the end of valid WAL,
    since pages read before the end may be rewritten later (a standby's growing WAL)."""

    def read_page(self, page_lsn: int) -> bytes | memoryview | None:
        """The 8192 bytes of the WAL page starting at ``page_lsn``, or None if absent."""


class SegmentFileSource:
    """Pages from the segment files in a directory (``pg_wal``), of one timeline or of the
    timelines of a history (``set_history``): a segment is read from the file of the newest
    timeline of the history that may hold it and exists (wal/timeline.py
    ``segment_timelines``), so replay goes on across a promotion's switch point.

    Keeps the current segment file open; ``close()`` (or ``with``) releases it. Reads up to
    ``READ_AHEAD_BYTES`` of the segment at a time and serves the following pages from that
    copy (one system call, and on a standby one GIL hand-off, per 16 pages instead of per
    page), as views of it: no page is copied; ``forget_cached()`` drops the copy.

    The copies are read into at most ``READ_AHEAD_BUFFERS`` bytearrays that are reused, rather
    than a new 128 kB object per read: fresh memory costs page faults on every read (measured:
    75 us per read against 25 us into a reused buffer). A buffer is reused only when no view
    of it is left anywhere (``_unexported``), so a page handed out, a record decoded from it
    or the pieces of a record being assembled never change under their holder.
    """

    def __init__(self, waldir: str, timeline: int, segment_size: int) -> None:
        invariant(is_valid_segment_size(segment_size), f"invalid segment size {segment_size}")
        self.waldir = waldir
        self.segment_size = segment_size
        self.history: History = single_timeline(timeline)
        self.file_timeline = timeline  # the timeline of the file open (or last opened)
        self._segno: int | None = None
        self._fd: int | None = None
        self._ahead_lsn = 0              # LSN of the first byte of ``_ahead``
        self._ahead = _NOTHING_AHEAD     # a view of the bytes read ahead, whole pages only
        self._buffers: list[bytearray] = []   # for reuse, at most READ_AHEAD_BUFFERS

    def read_page(self, page_lsn: int) -> memoryview | None:
        if page_lsn % WAL_PAGE_SIZE:   # the message is built only on failure (every page)
            invariant(False, f"unaligned page {format_lsn(page_lsn)}")
        offset = page_lsn - self._ahead_lsn
        if 0 <= offset < len(self._ahead):
            return self._ahead[offset:offset + WAL_PAGE_SIZE]
        segno = page_lsn // self.segment_size
        if segno != self._segno:
            self.close()
            self._open(segno)
        if self._fd is None:
            return None
        segment_offset = page_lsn % self.segment_size
        length = min(READ_AHEAD_BYTES, self.segment_size - segment_offset)
        self._ahead = _NOTHING_AHEAD     # our own view no longer holds its buffer
        buffer = memoryview(self._free_buffer())
        try:
            got = os.preadv(self._fd, [buffer[:length]], segment_offset)
        except OSError as error:
            path = segment_path(self.waldir, self.file_timeline, segno, self.segment_size)
            raise translate_os_error(error, "read", path) from error
        whole = got - got % WAL_PAGE_SIZE
        if not whole:    # not even one page yet: keep no view, the buffer stays reusable
            return None
        self._ahead_lsn, self._ahead = page_lsn, buffer[:whole]
        return self._ahead[:WAL_PAGE_SIZE]

    def _free_buffer(self) -> bytearray:
        """A read-ahead buffer no view refers to: a kept one, or a new one (kept while fewer
        than READ_AHEAD_BUFFERS are)."""
        for buffer in self._buffers:
            if _unexported(buffer):
                return buffer
        buffer = bytearray(READ_AHEAD_BYTES)
        if len(self._buffers) < READ_AHEAD_BUFFERS:
            self._buffers.append(buffer)
        return buffer

    def forget_cached(self) -> None:
        """Forget the pages read ahead: the next read goes to the file again (and, when the
        file open is not the first choice for its segment, looks for that file again: a
        standby receives the new timeline's copy of a switch segment after the old one)."""
        self._ahead_lsn, self._ahead = 0, _NOTHING_AHEAD
        if self._segno is not None and len(self.history) > 1 and \
                self.file_timeline != self.segment_candidates(self._segno)[0]:
            self.close()

    @property
    def timeline(self) -> int:
        """The history's newest timeline (names files in messages)."""
        return self.history[0].tli

    def set_history(self, history: History) -> None:
        """Read by this history from now on (a standby that adopted a new timeline)."""
        self.close()
        self.history = history

    def segment_candidates(self, segno: int) -> list[int]:
        """The timelines whose file for ``segno`` may be read, in the order tried."""
        return segment_timelines(segno, self.segment_size, self.history)

    def _open(self, segno: int) -> None:
        self._fd = None
        tli, name, exists = segment_file(self.waldir, segno, self.segment_size, self.history)
        if not exists:
            return  # not remembered: the file may appear later
        path = os.path.join(self.waldir, name)
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return
        except OSError as error:
            raise translate_os_error(error, "open", path) from error
        self._segno, self.file_timeline = segno, tli

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._segno = None
        self.forget_cached()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# ``WalReader._cached``: (page LSN, a view of the page, xlp_info, header size, xlp_rem_len)
_CachedPage = tuple[int, memoryview, int, int, int]
# xlp_info of a page whose first bytes continue a record, masked with the two contrecord flags
_CONTINUATION_FLAGS = XLP_FIRST_IS_CONTRECORD | XLP_FIRST_IS_OVERWRITE_CONTRECORD


def _unexported(buffer: bytearray) -> bool:
    """Whether no memoryview of ``buffer`` is alive. CPython refuses to change the size of a
    bytearray while a buffer export of it exists (BufferError), and a memoryview and every
    slice of it hold one export until the last of them is gone: growing it by a byte and
    back succeeds exactly when nothing can see its bytes."""
    try:
        buffer.append(0)
    except BufferError:
        return False
    del buffer[-1]
    return True


class WalReader:
    """Sequential validating reader of WAL records (see the module docstring)."""

    def __init__(self, source: WalPageSource, segment_size: int,
                 system_identifier: int | None = None, *, timeline: int | None = None) -> None:
        invariant(is_valid_segment_size(segment_size), f"invalid segment size {segment_size}")
        self.source = source
        self.segment_size = segment_size
        self.system_identifier = system_identifier
        # Only names segment files in messages; defaults to the source's timeline.
        self.timeline: int | None = timeline or getattr(source, "timeline", None)
        self.end_lsn: int | None = None
        self.end_reason: str | None = None
        self.end_error: EndOfWal | None = None
        self._latest_page_lsn = 0
        self._latest_page_tli = 0
        self._checked_segno: int | None = None
        # The page records are being read from and what every record on it needs from its
        # header: (page LSN, a view of the page, xlp_info, the header's size, xlp_rem_len).
        self._cached: _CachedPage | None = None
        self._forget_source_cache = getattr(source, "forget_cached", None)

    # -- public -----------------------------------------------------------------------------------

    def read_record(self, start_lsn: int, expected_prev_lsn: int | None) -> DecodedRecord:
        """The valid record at ``start_lsn`` (or after the page header if it is a page start).

        ``expected_prev_lsn``: the previous record's start, which xl_prev must equal; None when
        unknown (then xl_prev must only lie before the record). Raises EndOfWal.
        """
        try:
            return self._read_record(start_lsn, expected_prev_lsn)
        except EndOfWal:
            self._forget_pages()
            raise

    def records_from(self, start_lsn: int, expected_prev_lsn: int | None = None
                     ) -> Iterator[DecodedRecord]:
        """Yield valid records from ``start_lsn`` until the end of valid WAL, then set
        ``end_lsn`` (where the first invalid record starts) and ``end_reason``."""
        self.end_lsn = self.end_reason = self.end_error = None
        position, prev_lsn = start_lsn, expected_prev_lsn
        read_record = self._read_record     # read_record without its call: once per record
        while True:
            try:
                record = read_record(position, prev_lsn)
            except EndOfWal as end:
                self._forget_pages()
                self.end_lsn, self.end_reason, self.end_error = end.lsn, end.reason, end
                return
            yield record
            prev_lsn = record.start_lsn
            # Only an XLOG record can be a segment switch: skip the check for the others.
            position = (record.end_lsn if record.rmid != RM_XLOG_ID
                        else self.next_record_lsn(record))

    def _forget_pages(self) -> None:
        """After a failure: the pages read so far may change (a growing WAL), read them again.
        The long header of the segment being read stays checked: a segment's first page is
        complete before any later page of it is written, and every page read again still has
        its own header checked (magic, flags, xlp_pageaddr, timeline). A standby polls its
        growing WAL this way after every flush of the walreceiver; checking that page again
        would cost a second read each time."""
        self._cached = None
        if self._forget_source_cache is not None:
            self._forget_source_cache()

    def next_record_lsn(self, record: DecodedRecord) -> int:
        """Where the record after ``record`` starts (page header not yet skipped)."""
        if record.is_switch:
            return -(-record.end_lsn // self.segment_size) * self.segment_size
        return record.end_lsn

    # -- record assembly --------------------------------------------------------------------------

    def _read_record(self, start_lsn: int, expected_prev_lsn: int | None) -> DecodedRecord:
        offset = start_lsn % WAL_PAGE_SIZE
        page_lsn = start_lsn - offset
        if offset % 8:
            raise EndOfWal(start_lsn, f"invalid record offset at {format_lsn(start_lsn)}")
        cached = self._cached
        if cached is None or cached[0] != page_lsn:
            cached = self._read_page(page_lsn, start_lsn, None)
        _, page, info, header_size, _ = cached
        if offset == 0:
            offset = header_size
        elif offset < header_size:
            raise EndOfWal(start_lsn, f"invalid record offset at {format_lsn(start_lsn)}")
        record_lsn = page_lsn + offset
        if offset == header_size and info & XLP_FIRST_IS_CONTRECORD:
            raise EndOfWal(record_lsn, f"contrecord is requested by {format_lsn(record_lsn)}")
        if offset + RECORD_HEADER_SIZE <= WAL_PAGE_SIZE:
            # ``_check_header`` inlined as one test; it runs only to raise with the message
            record_header = _RECORD_HEADER_UNPACK_FROM(page, offset)
            tot_len, _, prev_lsn, _, rmid, _ = record_header
            if tot_len < RECORD_HEADER_SIZE or tot_len > MAX_RECORD_TOTAL_LENGTH \
                    or RM_MAX_BUILTIN_ID < rmid < RM_MIN_CUSTOM_ID \
                    or (prev_lsn != expected_prev_lsn and (expected_prev_lsn is not None
                                                           or prev_lsn >= record_lsn)):
                self._check_header(page, offset, record_lsn, expected_prev_lsn)
            if offset + tot_len <= WAL_PAGE_SIZE:   # the whole record is on this page: no copy
                try:   # ``_decode`` inlined: this is most records
                    return decode_checked_record(
                        page[offset:offset + tot_len], record_lsn,
                        (record_lsn + tot_len + _MAXALIGN_MASK) & ~_MAXALIGN_MASK, record_header)
                except WalCorrupted as error:
                    raise EndOfWal(record_lsn, error.message) from error
            return self._assemble(page[offset:], tot_len, page_lsn, record_lsn,
                                  expected_prev_lsn, record_header)
        tot_len = _U32.unpack_from(page, offset)[0]
        self._check_length(tot_len, record_lsn)
        return self._assemble(page[offset:], tot_len, page_lsn, record_lsn, expected_prev_lsn,
                              None)

    def _assemble(self, first: memoryview, tot_len: int, page_lsn: int, record_lsn: int,
                  expected_prev_lsn: int | None,
                  record_header: tuple[int, int, int, int, int, int] | None) -> DecodedRecord:
        """Collect the continuation of a record from the following pages; ``record_header`` is
        its checked header, or None when the header itself continues on the next page. The
        pieces are views of the pages: the record's bytes are copied once, by the join."""
        pieces = [first]
        got = len(first)
        end_unaligned = record_lsn + got
        read_page = self._read_page
        while got < tot_len:
            page_lsn += WAL_PAGE_SIZE
            _, page, info, header_size, rem_len = read_page(page_lsn, record_lsn, record_lsn)
            # the continuation rules in one test; ``_check_continuation`` only raises
            if info & _CONTINUATION_FLAGS != XLP_FIRST_IS_CONTRECORD or rem_len != tot_len - got:
                self._check_continuation(info, rem_len, tot_len, got, record_lsn, page_lsn)
            length = min(rem_len, WAL_PAGE_SIZE - header_size)
            pieces.append(page[header_size:header_size + length])
            got += length
            end_unaligned = page_lsn + header_size + length
            if record_header is None and got >= RECORD_HEADER_SIZE:
                record_header = self._check_header(b"".join(pieces)[:RECORD_HEADER_SIZE], 0,
                                                   record_lsn, expected_prev_lsn)
        invariant(record_header is not None, "record assembled without its header")
        assert record_header is not None
        return self._decode(memoryview(b"".join(pieces)), record_lsn, end_unaligned,
                            record_header)

    @staticmethod
    def _check_continuation(info: int, rem_len: int, tot_len: int, got: int, record_lsn: int,
                            page_lsn: int) -> None:
        """Raise EndOfWal unless the page at ``page_lsn`` (``xlp_info``, ``xlp_rem_len``) goes
        on with the record at ``record_lsn``, of which ``got`` of ``tot_len`` bytes are read."""
        if info & XLP_FIRST_IS_OVERWRITE_CONTRECORD:
            raise EndOfWal(record_lsn, f"the continuation of the record at "
                                       f"{format_lsn(record_lsn)} was overwritten (page "
                                       f"{format_lsn(page_lsn)})")
        if not info & XLP_FIRST_IS_CONTRECORD:
            raise EndOfWal(record_lsn, "there is no contrecord flag at "
                                       f"{format_lsn(record_lsn)}")
        if rem_len == 0 or tot_len != rem_len + got:
            raise EndOfWal(record_lsn, f"invalid contrecord length {rem_len} "
                                       f"(expected {tot_len - got}) at {format_lsn(record_lsn)}")

    @staticmethod
    def _check_length(tot_len: int, record_lsn: int) -> None:
        if tot_len < RECORD_HEADER_SIZE:
            raise EndOfWal(record_lsn, f"invalid record length at {format_lsn(record_lsn)}: "
                                       f"wanted {RECORD_HEADER_SIZE}, got {tot_len}")
        if tot_len > MAX_RECORD_TOTAL_LENGTH:
            raise EndOfWal(record_lsn, f"record length {tot_len} at {format_lsn(record_lsn)} "
                                       "too long")

    def _check_header(self, buffer: bytes, offset: int, record_lsn: int,
                      expected_prev_lsn: int | None) -> tuple[int, int, int, int, int, int]:
        """Check the record header at ``buffer[offset:offset + RECORD_HEADER_SIZE]``; returns
        it unpacked (RECORD_HEADER_STRUCT's fields)."""
        record_header = RECORD_HEADER_STRUCT.unpack_from(buffer, offset)
        tot_len, _, prev_lsn, _, rmid, _ = record_header
        if tot_len < RECORD_HEADER_SIZE or tot_len > MAX_RECORD_TOTAL_LENGTH:
            self._check_length(tot_len, record_lsn)
        if not (rmid <= RM_MAX_BUILTIN_ID or rmid >= RM_MIN_CUSTOM_ID):
            raise EndOfWal(record_lsn, f"invalid resource manager ID {rmid} at "
                                       f"{format_lsn(record_lsn)}")
        if prev_lsn != expected_prev_lsn and (expected_prev_lsn is not None
                                              or prev_lsn >= record_lsn):
            raise EndOfWal(record_lsn, f"record with incorrect prev-link {format_lsn(prev_lsn)} "
                                       f"at {format_lsn(record_lsn)}")
        return record_header

    @staticmethod
    def _decode(view: memoryview, record_lsn: int, end_unaligned: int,
                record_header: tuple[int, int, int, int, int, int]) -> DecodedRecord:
        try:
            end_lsn = (end_unaligned + _MAXALIGN_MASK) & ~_MAXALIGN_MASK
            return decode_checked_record(view, record_lsn, end_lsn, record_header)
        except EndOfWal:
            raise
        except WalCorrupted as error:
            raise EndOfWal(record_lsn, error.message) from error

    # -- pages ------------------------------------------------------------------------------------

    def _read_page(self, page_lsn: int, record_lsn: int, continued_lsn: int | None
                   ) -> _CachedPage:
        """Fetch and validate a page and make it the cached one; the first time a segment is
        entered its first page (with the long header) is validated too, as PostgreSQL does."""
        cached = self._cached
        if cached is not None and cached[0] == page_lsn:
            return cached
        segno = page_lsn // self.segment_size
        if segno != self._checked_segno and page_lsn % self.segment_size:
            segment_lsn = segno * self.segment_size
            self._validate(memoryview(self._fetch(segment_lsn, record_lsn, continued_lsn)),
                           segment_lsn, record_lsn)
        page = memoryview(self._fetch(page_lsn, record_lsn, continued_lsn))
        cached = self._cached = self._validate(page, page_lsn, record_lsn)
        self._checked_segno = segno
        return cached

    def _fetch(self, page_lsn: int, record_lsn: int, continued_lsn: int | None
               ) -> bytes | memoryview:
        page = self.source.read_page(page_lsn)
        if page is not None and len(page) == WAL_PAGE_SIZE:
            return page
        name = segment_name(self._file_timeline(), page_lsn // self.segment_size,
                            self.segment_size)
        missing = (f"no WAL page at {format_lsn(page_lsn)} (log segment {name}, offset "
                   f"{page_lsn % self.segment_size}, is missing or too short)")
        if continued_lsn is not None:
            missing = f"missing continuation of the record at {format_lsn(continued_lsn)}: " \
                      + missing
        raise EndOfWal(record_lsn, missing, page_missing=True)

    def _file_timeline(self) -> int:
        """The timeline that names the segment file in messages: the file the source read."""
        return int(getattr(self.source, "file_timeline", None) or self.timeline or 1)

    def _validate(self, page: memoryview, page_lsn: int, record_lsn: int) -> _CachedPage:
        """The cache entry of the page at ``page_lsn`` once its header is valid and its
        timeline is not older than the pages' before it; EndOfWal otherwise."""
        plain = plain_short_header(page, page_lsn, self.segment_size, self._latest_page_tli)
        if plain is not None:   # the common page, on the timeline of the page before: fast path
            if page_lsn > self._latest_page_lsn:
                self._latest_page_lsn = page_lsn
            return page_lsn, page, plain[0], SHORT_PAGE_HEADER_SIZE, plain[1]
        try:
            header = decode_page_header(page, page_lsn=page_lsn, segment_size=self.segment_size,
                                        system_identifier=self.system_identifier,
                                        file_timeline=self._file_timeline())
        except WalCorrupted as error:
            raise EndOfWal(record_lsn, error.message) from error
        if page_lsn > self._latest_page_lsn:
            if header.tli < self._latest_page_tli:
                name = segment_name(self._file_timeline() or header.tli,
                                    page_lsn // self.segment_size, self.segment_size)
                raise EndOfWal(record_lsn, f"out-of-sequence timeline ID {header.tli} (after "
                                           f"{self._latest_page_tli}) in log segment {name}, "
                                           f"offset {page_lsn % self.segment_size}")
            self._latest_page_lsn, self._latest_page_tli = page_lsn, header.tli
        return page_lsn, page, header.info, header.size, header.rem_len


def count_records(waldir: str, timeline: int, segment_size: int, start_lsn: int
                  ) -> tuple[int, int]:
    """``(number of valid records from start_lsn, end_lsn where valid WAL ends)``; used to check
    ``pg_waldump --stats`` totals."""
    with SegmentFileSource(waldir, timeline, segment_size) as source:
        reader = WalReader(source, segment_size)
        count = sum(1 for _ in reader.records_from(start_lsn))
    invariant(reader.end_lsn is not None, "records_from ended without an end position")
    return count, reader.end_lsn  # type: ignore[return-value]
