"""WalReader: every corruption crafted into the tail of a real written segment makes the reader
stop exactly at the last valid record, with PostgreSQL's message naming the LSN."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import pytest
from wal_helpers import (
    FIRST_LSN,
    RNODE,
    SEGMENT_SIZE,
    TIMELINE,
    new_writer,
    pad_to,
    patch_bytes,
    read_all,
    read_bytes,
    segment_file,
    standard_page,
    with_fixed_crc,
)

from mirrordb.common.lsn import format_lsn
from mirrordb.wal.reader import EndOfWal, SegmentFileSource, WalReader
from mirrordb.wal.record import REGBUF_NO_IMAGE, REGBUF_STANDARD, DecodedRecord
from mirrordb.wal.rmgr import RM_MIRRORDB_HEAP_ID, RM_XLOG_ID, XLOG_NOOP
from mirrordb.wal.segment import WAL_PAGE_SIZE
from mirrordb.wal.writer import BlockRegistration, WalWriter

PAGE = WAL_PAGE_SIZE
SECOND_PAGE = FIRST_LSN + PAGE  # where the crossing victim continues
SEGMENT_NAME = "000000010000000000000001"


@dataclass
class Wal:
    waldir: str
    good: list[DecodedRecord]  # the records before the victims
    single: DecodedRecord  # a heap record inside one page, with block data
    crossing: DecodedRecord  # a record continuing on SECOND_PAGE
    after: DecodedRecord  # one more record after the crossing one
    everything: list[DecodedRecord]  # all records as written


def heap_record(writer: WalWriter, data: bytes) -> int:
    block = BlockRegistration(0, RNODE, 0, 4, standard_page(), data,
                              REGBUF_STANDARD | REGBUF_NO_IMAGE)
    return writer.insert(RM_MIRRORDB_HEAP_ID, 0x20, b"heap main", [block], xid=901)


@pytest.fixture
def wal(tmp_path) -> Wal:
    waldir = str(tmp_path)
    writer = new_writer(waldir)
    for length in (10, 20, 30):
        writer.insert(RM_XLOG_ID, XLOG_NOOP, b"g" * length)
    heap_record(writer, b"tuple bytes " * 10)
    pad_to(writer, SECOND_PAGE - 200)
    writer.insert(RM_XLOG_ID, XLOG_NOOP, b"c" * 600)
    writer.insert(RM_XLOG_ID, XLOG_NOOP, b"after")
    writer.close()
    records, _ = read_all(waldir)
    crossing_index = next(i for i, r in enumerate(records) if r.start_lsn == SECOND_PAGE - 200)
    return Wal(waldir, records[:3], records[3], records[crossing_index],
               records[crossing_index + 1], records)


def assert_stops(wal: Wal, stop: DecodedRecord, reason: str, *, page_missing: bool = False
                 ) -> None:
    """The reader returns exactly the records before ``stop`` and ends at its start."""
    records, reader = read_all(wal.waldir)
    assert reader.end_reason == reason
    assert reader.end_lsn == stop.start_lsn
    assert [r.start_lsn for r in records] == [r.start_lsn for r in wal.everything
                                              if r.start_lsn < stop.start_lsn]
    assert reader.end_error is not None and reader.end_error.page_missing == page_missing


def test_clean_end_of_wal(wal: Wal) -> None:
    records, reader = read_all(wal.waldir)
    assert records[-1].start_lsn == wal.after.start_lsn
    assert reader.end_lsn == wal.after.end_lsn
    assert reader.end_reason == (f"invalid record length at {format_lsn(wal.after.end_lsn)}: "
                                 "wanted 24, got 0")


def test_zero_length(wal: Wal) -> None:
    patch_bytes(wal.waldir, wal.single.start_lsn, bytes(4))
    assert_stops(wal, wal.single, f"invalid record length at {format_lsn(wal.single.start_lsn)}:"
                                  " wanted 24, got 0")


def test_bad_crc(wal: Wal) -> None:
    position = wal.single.start_lsn + 40
    patch_bytes(wal.waldir, position, bytes([read_bytes(wal.waldir, position, 1)[0] ^ 0x10]))
    assert_stops(wal, wal.single, "incorrect resource manager data checksum in record at "
                                  f"{format_lsn(wal.single.start_lsn)}")


def test_bad_prev_link(wal: Wal) -> None:
    patch_bytes(wal.waldir, wal.crossing.start_lsn + 8, struct.pack("<Q", 0xDEAD))
    assert_stops(wal, wal.crossing, "record with incorrect prev-link 0/DEAD at "
                                    f"{format_lsn(wal.crossing.start_lsn)}")


def test_prev_link_not_below_the_record_when_reading_at_random(wal: Wal) -> None:
    patch_bytes(wal.waldir, wal.good[0].start_lsn + 8, struct.pack("<Q", 2**40))
    records, reader = read_all(wal.waldir)
    assert records == [] and reader.end_lsn == wal.good[0].start_lsn
    assert reader.end_reason == (f"record with incorrect prev-link 100/0 at "
                                 f"{format_lsn(wal.good[0].start_lsn)}")


def test_bad_resource_manager(wal: Wal) -> None:
    record = read_bytes(wal.waldir, wal.single.start_lsn, wal.single.tot_len)
    patch_bytes(wal.waldir, wal.single.start_lsn, with_fixed_crc(
        record[:17] + b"\x16" + record[18:]))
    assert_stops(wal, wal.single, "invalid resource manager ID 22 at "
                                  f"{format_lsn(wal.single.start_lsn)}")


def test_bad_block_header(wal: Wal) -> None:
    record = bytearray(read_bytes(wal.waldir, wal.single.start_lsn, wal.single.tot_len))
    assert record[24] == 0 and record[25] & 0x20  # block 0 with BKPBLOCK_HAS_DATA
    record[25] &= ~0x20
    patch_bytes(wal.waldir, wal.single.start_lsn, with_fixed_crc(record))
    length = len(wal.single.block(0).data)  # type: ignore[union-attr]
    assert_stops(wal, wal.single, f"BKPBLOCK_HAS_DATA not set, but data length is {length} at "
                                  f"{format_lsn(wal.single.start_lsn)}")


def test_bad_page_magic(wal: Wal) -> None:
    patch_bytes(wal.waldir, SECOND_PAGE, b"\0\0")
    assert_stops(wal, wal.crossing, f"invalid magic number 0000 in log segment {SEGMENT_NAME}, "
                                    f"offset {PAGE}")


def test_bad_page_address(wal: Wal) -> None:
    patch_bytes(wal.waldir, SECOND_PAGE + 8, struct.pack("<Q", SECOND_PAGE + SEGMENT_SIZE))
    assert_stops(wal, wal.crossing, f"unexpected pageaddr {format_lsn(SECOND_PAGE + SEGMENT_SIZE)}"
                                    f" in log segment {SEGMENT_NAME}, offset {PAGE}")


def test_no_contrecord_flag(wal: Wal) -> None:
    patch_bytes(wal.waldir, SECOND_PAGE + 2, struct.pack("<H", 0x0004))
    assert_stops(wal, wal.crossing, "there is no contrecord flag at "
                                    f"{format_lsn(wal.crossing.start_lsn)}")


def test_wrong_contrecord_length(wal: Wal) -> None:
    rem_len = struct.unpack("<I", read_bytes(wal.waldir, SECOND_PAGE + 16, 4))[0]
    patch_bytes(wal.waldir, SECOND_PAGE + 16, struct.pack("<I", rem_len + 8))
    assert_stops(wal, wal.crossing, f"invalid contrecord length {rem_len + 8} (expected "
                                    f"{rem_len}) at {format_lsn(wal.crossing.start_lsn)}")


def test_torn_continuation(wal: Wal) -> None:
    patch_bytes(wal.waldir, SECOND_PAGE + 24, bytes(100))
    assert_stops(wal, wal.crossing, "incorrect resource manager data checksum in record at "
                                    f"{format_lsn(wal.crossing.start_lsn)}")


def test_missing_continuation(wal: Wal) -> None:
    os.truncate(segment_file(wal.waldir, FIRST_LSN), PAGE)
    assert_stops(wal, wal.crossing,
                 f"missing continuation of the record at {format_lsn(wal.crossing.start_lsn)}: "
                 f"no WAL page at {format_lsn(SECOND_PAGE)} (log segment {SEGMENT_NAME}, offset "
                 f"{PAGE}, is missing or too short)", page_missing=True)


def test_timeline_going_backwards(wal: Wal) -> None:
    patch_bytes(wal.waldir, SECOND_PAGE + 4, struct.pack("<I", 0))
    assert_stops(wal, wal.crossing, f"out-of-sequence timeline ID 0 (after 1) in log segment "
                                    f"{SEGMENT_NAME}, offset {PAGE}")


def test_other_database_system(wal: Wal) -> None:
    with SegmentFileSource(wal.waldir, TIMELINE, SEGMENT_SIZE) as source:
        reader = WalReader(source, SEGMENT_SIZE, system_identifier=12345)
        with pytest.raises(EndOfWal) as caught:
            reader.read_record(wal.good[0].start_lsn, None)
    assert caught.value.reason.startswith("WAL file is from different database system: WAL file "
                                          "database system identifier is 7710484892827747266")


def test_header_split_across_pages_is_checked_once_complete(tmp_path) -> None:
    waldir = str(tmp_path)
    writer = new_writer(waldir)
    pad_to(writer, SECOND_PAGE - 8)
    split_start = writer.insert_lsn
    writer.insert(RM_XLOG_ID, XLOG_NOOP, b"s" * 40)
    writer.close()
    # xl_prev lies in the second page, after its header.
    patch_bytes(waldir, SECOND_PAGE + 24, struct.pack("<Q", 0xBAD))
    records, reader = read_all(waldir)
    assert reader.end_lsn == split_start and records[-1].end_lsn == split_start
    assert reader.end_reason == f"record with incorrect prev-link 0/BAD at " \
                                f"{format_lsn(split_start)}"


def test_reading_at_a_continuation_or_inside_a_header(wal: Wal) -> None:
    with SegmentFileSource(wal.waldir, TIMELINE, SEGMENT_SIZE) as source:
        reader = WalReader(source, SEGMENT_SIZE)
        with pytest.raises(EndOfWal, match=f"contrecord is requested by "
                                           f"{format_lsn(SECOND_PAGE + 24)}"):
            reader.read_record(SECOND_PAGE, None)
        with pytest.raises(EndOfWal, match="invalid record offset at 0/100004"):
            reader.read_record(FIRST_LSN + 4, None)
        with pytest.raises(EndOfWal, match="invalid record offset at 0/100010"):
            reader.read_record(FIRST_LSN + 16, None)
        with pytest.raises(EndOfWal, match="incorrect prev-link"):
            reader.read_record(wal.good[1].start_lsn, wal.good[1].start_lsn)
        record = reader.read_record(wal.good[1].start_lsn, wal.good[0].start_lsn)
        assert record.start_lsn == wal.good[1].start_lsn
        assert reader.read_record(FIRST_LSN, None).start_lsn == FIRST_LSN + 40


def test_missing_segment(tmp_path) -> None:
    with SegmentFileSource(str(tmp_path), TIMELINE, SEGMENT_SIZE) as source:
        reader = WalReader(source, SEGMENT_SIZE)
        assert list(reader.records_from(FIRST_LSN)) == []
    assert reader.end_lsn == FIRST_LSN and reader.end_error is not None
    assert reader.end_error.page_missing
    assert reader.end_reason == (f"no WAL page at {format_lsn(FIRST_LSN)} (log segment "
                                 f"{SEGMENT_NAME}, offset 0, is missing or too short)")


def test_a_reader_can_follow_a_growing_wal(tmp_path) -> None:
    waldir = str(tmp_path)
    writer = new_writer(waldir)
    first_end = writer.insert(RM_XLOG_ID, XLOG_NOOP, b"1")
    writer.flush(first_end)
    with SegmentFileSource(waldir, TIMELINE, SEGMENT_SIZE) as source:
        reader = WalReader(source, SEGMENT_SIZE)
        assert len(list(reader.records_from(FIRST_LSN))) == 1
        assert reader.end_lsn == first_end
        second_end = writer.insert(RM_XLOG_ID, XLOG_NOOP, b"2" * 9000)
        writer.flush(second_end)
        more = list(reader.records_from(reader.end_lsn, FIRST_LSN + 40))
        assert [r.main_data for r in more] == [b"2" * 9000] and reader.end_lsn == second_end
    writer.close()
