"""WalWriter: record placement across pages and segments, XLOG_SWITCH, full-page images, group
commit, buffers, start after a torn tail, recycling, a full disk and the background flusher.

Every test writes real segment files in tmp_path and reads them back with WalReader.
"""

from __future__ import annotations

import errno
import itertools
import os
import struct
import threading
import time

import pytest
from wal_helpers import (
    FIRST_LSN,
    RNODE,
    SEGMENT_SIZE,
    block0,
    new_writer,
    pad_to,
    read_all,
    read_bytes,
    segment_file,
    standard_page,
)

from mirrordb.common.errors import DiskFull, InvariantViolation
from mirrordb.storage import page as pagelib
from mirrordb.wal import writer as writer_module
from mirrordb.wal.pageheader import (
    XLP_BKP_REMOVABLE,
    XLP_FIRST_IS_CONTRECORD,
    XLP_LONG_HEADER,
    decode_page_header,
)
from mirrordb.wal.record import (
    REGBUF_FORCE_IMAGE,
    REGBUF_NO_IMAGE,
    REGBUF_STANDARD,
    REGBUF_WILL_INIT,
)
from mirrordb.wal.rmgr import (
    RM_MIRRORDB_HEAP_ID,
    RM_XLOG_ID,
    XLOG_NOOP,
    XLOG_SWITCH,
    XLR_CHECK_CONSISTENCY,
)
from mirrordb.wal.segment import WAL_PAGE_SIZE
from mirrordb.wal.writer import BlockRegistration

PAGE = WAL_PAGE_SIZE


def page_header_at(waldir: str, page_lsn: int) -> tuple[int, int, int, int, int]:
    """(magic, info, tli, pageaddr, rem_len) of the page at ``page_lsn`` on disk."""
    return struct.unpack("<HHIQI", read_bytes(waldir, page_lsn, 20))


def noop(writer: writer_module.WalWriter, length: int) -> int:
    return writer.insert(RM_XLOG_ID, XLOG_NOOP, b"n" * length)


# -- placement ---------------------------------------------------------------------------------------


def test_first_record_of_a_fresh_wal(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    assert writer.insert_lsn == FIRST_LSN + 40 and writer.end_lsn == FIRST_LSN
    end = noop(writer, 10)
    assert end == FIRST_LSN + 40 + 40  # 24 + 2 + 10 = 36, MAXALIGNed to 40
    assert writer.last_record_start_lsn == FIRST_LSN + 40
    writer.flush(end)
    assert writer.flush_lsn == writer.write_lsn == end
    magic, info, tli, pageaddr, rem_len = page_header_at(str(tmp_path), FIRST_LSN)
    assert (magic, info, tli, pageaddr, rem_len) == (0xD110, 0x0006, 1, FIRST_LSN, 0)
    assert os.path.getsize(segment_file(str(tmp_path), FIRST_LSN)) == SEGMENT_SIZE
    records, reader = read_all(str(tmp_path))
    assert [(r.start_lsn, r.end_lsn, r.prev_lsn) for r in records] == [(FIRST_LSN + 40, end, 0)]
    assert reader.end_lsn == end
    assert reader.end_reason == "invalid record length at 0/100050: wanted 24, got 0"
    writer.close()


def test_record_spanning_three_pages(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    noop(writer, 100)
    start = writer.insert_lsn
    end = noop(writer, 20000)
    writer.close()
    total = 24 + 5 + 20000
    first_part = PAGE - start % PAGE
    second_page = start - start % PAGE + PAGE
    assert page_header_at(str(tmp_path), second_page)[1:] == (
        XLP_BKP_REMOVABLE | XLP_FIRST_IS_CONTRECORD, 1, second_page, total - first_part)
    third = page_header_at(str(tmp_path), second_page + PAGE)
    assert third[4] == total - first_part - (PAGE - 24)
    assert third[1] == 0x0005
    assert end == second_page + PAGE + 24 + (third[4] + 7) // 8 * 8
    records, _ = read_all(str(tmp_path))
    assert records[-1].start_lsn == start and records[-1].main_data == b"n" * 20000
    assert records[-1].end_lsn == end


def test_record_header_split_across_pages(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    page_end = FIRST_LSN + 2 * PAGE
    pad_to(writer, page_end - 8)
    assert writer.insert_lsn == page_end - 8
    end = noop(writer, 50)  # only xl_tot_len and xl_xid fit on the first page
    writer.close()
    assert page_header_at(str(tmp_path), page_end)[4] == 24 + 2 + 50 - 8
    assert end == page_end + 24 + 72
    records, reader = read_all(str(tmp_path))
    assert records[-1].start_lsn == page_end - 8 and records[-1].main_data == b"n" * 50
    assert reader.end_lsn == end


def test_record_ending_exactly_at_a_page_end(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    page_end = FIRST_LSN + PAGE
    pad_to(writer, page_end)
    assert writer.end_lsn == page_end and writer.insert_lsn == page_end + 24
    end = noop(writer, 0)
    writer.close()
    assert page_header_at(str(tmp_path), page_end)[1:] == (XLP_BKP_REMOVABLE, 1, page_end, 0)
    records, _ = read_all(str(tmp_path))
    assert records[-2].end_lsn == page_end
    assert records[-1].start_lsn == page_end + 24 and records[-1].end_lsn == end
    assert records[-1].prev_lsn == records[-2].start_lsn


def test_record_crossing_into_a_new_segment(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    boundary = 2 * SEGMENT_SIZE
    pad_to(writer, boundary - 16)
    start = writer.insert_lsn
    end = noop(writer, 100)
    writer.close()
    _, info, _, pageaddr, rem_len = page_header_at(str(tmp_path), boundary)
    assert info == XLP_LONG_HEADER | XLP_BKP_REMOVABLE | XLP_FIRST_IS_CONTRECORD
    assert (pageaddr, rem_len) == (boundary, 24 + 2 + 100 - 16)
    assert end == boundary + 40 + 112
    records, _ = read_all(str(tmp_path))
    assert records[-1].start_lsn == start and records[-1].end_lsn == end
    assert sorted(os.listdir(tmp_path)) == ["000000010000000000000001",
                                            "000000010000000000000002"]


def test_every_page_has_a_valid_header(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    for length in range(0, 3000, 7):
        noop(writer, length)
    writer.close()
    for page_lsn in range(FIRST_LSN, writer.end_lsn, PAGE):
        page = read_bytes(str(tmp_path), page_lsn, PAGE)
        header = decode_page_header(page, page_lsn=page_lsn, segment_size=SEGMENT_SIZE)
        assert header.tli == 1 and header.info & XLP_BKP_REMOVABLE


# -- XLOG_SWITCH -----------------------------------------------------------------------------------


def test_switch_layout(tmp_path) -> None:
    waldir = str(tmp_path)
    writer = new_writer(waldir)
    noop(writer, 5000)
    switch_start = writer.insert_lsn
    switch_end = writer.switch_segment()
    assert switch_end == switch_start + 24
    assert writer.end_lsn == 2 * SEGMENT_SIZE and writer.insert_lsn == 2 * SEGMENT_SIZE + 40
    assert writer.switch_segment() == 2 * SEGMENT_SIZE  # nothing since: no second switch
    after = noop(writer, 8)
    before = writer.fdatasync_count
    writer.flush(after)
    assert writer.fdatasync_count == before + 2  # each segment synced once, in LSN order
    writer.close()
    tail_start = switch_end - FIRST_LSN
    with open(segment_file(waldir, FIRST_LSN), "rb") as handle:
        segment = handle.read()
    assert segment[tail_start:] == bytes(SEGMENT_SIZE - tail_start)
    records, reader = read_all(waldir)
    assert records[-2].rmid == RM_XLOG_ID and records[-2].info == XLOG_SWITCH
    assert (records[-2].start_lsn, records[-2].end_lsn, records[-2].tot_len) == (
        switch_start, switch_end, 24)
    assert records[-1].start_lsn == 2 * SEGMENT_SIZE + 40 and records[-1].end_lsn == after
    assert records[-1].prev_lsn == switch_start
    assert reader.end_lsn == after


def test_switch_in_a_recycled_segment_zeroes_the_rest(tmp_path) -> None:
    waldir = str(tmp_path)
    garbage = b"\xAB" * SEGMENT_SIZE
    with open(segment_file(waldir, FIRST_LSN), "wb") as handle:
        handle.write(garbage)  # a recycled file full of stale bytes
    writer = new_writer(waldir, start_lsn=FIRST_LSN)
    assert not os.path.exists(segment_file(waldir, FIRST_LSN))  # nothing valid: deleted
    with open(segment_file(waldir, 2 * SEGMENT_SIZE), "wb") as handle:
        handle.write(garbage)
    pad_to(writer, 2 * SEGMENT_SIZE - 1000)
    noop(writer, 10)
    noop(writer, 1500)  # into segment 2, a stale file
    switch_end = writer.switch_segment()
    writer.close()
    with open(segment_file(waldir, 2 * SEGMENT_SIZE), "rb") as handle:
        segment = handle.read()
    page_end = (switch_end - 2 * SEGMENT_SIZE + PAGE - 1) // PAGE * PAGE
    assert segment[page_end:] == bytes(SEGMENT_SIZE - page_end)
    records, reader = read_all(waldir)
    assert records[-1].info == XLOG_SWITCH and reader.end_lsn == 3 * SEGMENT_SIZE


# -- full-page images --------------------------------------------------------------------------------


def insert_block(writer: writer_module.WalWriter, page: bytearray, flags: int,
                 data: bytes = b"change") -> int:
    return writer.insert(RM_MIRRORDB_HEAP_ID, 0x10, b"main",
                         [BlockRegistration(0, RNODE, 0, 3, page, data, flags)], xid=800)


def block_of_last_record(waldir: str):
    records, _ = read_all(waldir)
    return records[-1], block0(records[-1])


def test_first_change_after_redo_gets_an_image_with_a_hole(tmp_path) -> None:
    waldir = str(tmp_path)
    writer = new_writer(waldir)
    page = standard_page()
    pagelib.set_lsn(page, writer.end_lsn)
    writer.set_redo_lsn(writer.end_lsn)
    end = insert_block(writer, page, REGBUF_STANDARD)
    pagelib.set_lsn(page, end)
    insert_block(writer, page, REGBUF_STANDARD)  # pd_lsn now past redo: no image
    writer.close()
    records, _ = read_all(waldir)
    lower, upper = pagelib.lower_upper(page)
    image = block0(records[-2]).image
    assert image is not None and image.apply
    assert (image.hole_offset, image.hole_length) == (lower, upper - lower)
    restored = bytearray(image.page())
    pagelib.set_lsn(restored, end)
    assert restored == page
    assert block0(records[-2]).data == b"change"  # data kept next to the image
    assert block0(records[-1]).image is None


@pytest.mark.parametrize("flags, full_page_writes, wanted", [
    (REGBUF_STANDARD | REGBUF_WILL_INIT, True, None),
    (REGBUF_STANDARD | REGBUF_NO_IMAGE, True, None),
    (REGBUF_STANDARD, False, None),
    (REGBUF_STANDARD | REGBUF_FORCE_IMAGE, False, "hole"),
    (REGBUF_FORCE_IMAGE, False, "full"),
    (0, True, "full"),
])
def test_image_rules(tmp_path, flags: int, full_page_writes: bool, wanted: str | None) -> None:
    waldir = str(tmp_path)
    writer = new_writer(waldir, full_page_writes=full_page_writes)
    writer.set_redo_lsn(writer.insert_lsn)
    page = standard_page()
    insert_block(writer, page, flags)
    writer.close()
    record, block = block_of_last_record(waldir)
    if wanted is None:
        assert block.image is None
    else:
        assert block.image is not None and block.image.apply
        assert (block.image.hole_length > 0) == (wanted == "hole")
    assert block.will_init == bool(flags & REGBUF_WILL_INIT)
    assert not record.info & XLR_CHECK_CONSISTENCY


def test_consistency_checking_attaches_check_images(tmp_path) -> None:
    waldir = str(tmp_path)
    writer = new_writer(waldir, consistency_checking=True)
    page = standard_page()
    pagelib.set_lsn(page, writer.end_lsn)
    writer.set_redo_lsn(0)
    insert_block(writer, page, REGBUF_STANDARD)
    insert_block(writer, page, REGBUF_STANDARD | REGBUF_NO_IMAGE)
    writer.set_consistency_checking(False)
    insert_block(writer, page, REGBUF_STANDARD)
    writer.close()
    records, _ = read_all(waldir)
    for record in records[-3:-1]:
        image = block0(record).image
        assert record.info & XLR_CHECK_CONSISTENCY and record.rmgr_info == 0x10
        assert image is not None and not image.apply and image.page() == bytes(page)
    assert block0(records[-1]).image is None and not records[-1].info & XLR_CHECK_CONSISTENCY


def test_redo_pointer_taken_at_the_insert_position(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    noop(writer, 100)
    redo = writer.set_redo_lsn_to_insert_lsn()
    assert redo == writer.insert_lsn == writer.redo_lsn
    page = standard_page()
    pagelib.set_lsn(page, redo - 8)
    insert_block(writer, page, REGBUF_STANDARD)
    writer.close()
    assert block_of_last_record(str(tmp_path))[1].image is not None


def test_start_at_defaults_the_redo_pointer_to_the_end_of_wal(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    assert writer.redo_lsn == FIRST_LSN
    writer.close()


# -- writing, buffers, flushing --------------------------------------------------------------------


def test_group_commit_shares_one_fdatasync(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    ends = [noop(writer, 100 + i) for i in range(12)]
    before = writer.fdatasync_count
    barrier = threading.Barrier(len(ends))

    def commit(end: int) -> None:
        barrier.wait()
        writer.flush(end)
        assert writer.flush_lsn >= end

    threads = [threading.Thread(target=commit, args=(end,)) for end in ends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The first caller to take the flush lock writes and syncs everything inserted; every other
    # caller then finds flush_lsn already past its LSN.
    assert writer.fdatasync_count - before == 1 < len(ends)
    assert writer.flush_lsn == max(ends)
    writer.close()


def test_concurrent_inserts_and_flushes(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    before = writer.fdatasync_count
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        try:
            for i in range(25):
                end = writer.insert(RM_MIRRORDB_HEAP_ID, 0, bytes([number]) * (i * 37 % 900))
                writer.flush(end)
                assert writer.flush_lsn >= end
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert writer.fdatasync_count - before <= 8 * 25
    writer.close()
    records, _ = read_all(str(tmp_path), expected_prev_lsn=0)
    assert len(records) == 8 * 25
    assert all(b.prev_lsn == a.start_lsn for a, b in itertools.pairwise(records))


def test_write_some_writes_only_completed_pages(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    noop(writer, 10000)
    end = noop(writer, 10)
    writer.write_some()
    assert writer.write_lsn == FIRST_LSN + PAGE  # the page being filled is not written
    assert writer.flush_lsn == FIRST_LSN
    writer.flush(end)
    assert writer.write_lsn == writer.flush_lsn == end
    writer.close()


def test_small_buffers_are_written_out_while_inserting(tmp_path) -> None:
    writer = new_writer(str(tmp_path), wal_buffers_bytes=4 * PAGE)
    for _ in range(40):
        noop(writer, 4000)
    assert writer.write_lsn >= FIRST_LSN + 15 * PAGE  # written without any flush
    assert len(writer._pages) <= 4
    big = noop(writer, 60000)  # bigger than the buffers: goes in alone
    writer.close()
    records, reader = read_all(str(tmp_path))
    assert len(records) == 41 and reader.end_lsn == big


def test_flush_past_the_inserted_wal_is_a_programming_error(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    with pytest.raises(InvariantViolation):
        writer.flush(writer.insert_lsn + 8)
    before = writer.fdatasync_count
    writer.flush(writer.insert_lsn)  # the next record's start (past a header) is fine
    pad_to(writer, FIRST_LSN + PAGE)
    writer.flush(writer.insert_lsn)
    assert writer.flush_lsn == FIRST_LSN + PAGE
    writer.flush(writer.insert_lsn)  # nothing new: no second fdatasync
    assert writer.fdatasync_count == before + 1
    writer.close()


def test_insert_rejects_switch_and_bad_info(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    with pytest.raises(InvariantViolation):
        writer.insert(RM_XLOG_ID, XLOG_SWITCH, b"")
    with pytest.raises(InvariantViolation):
        writer.insert(RM_XLOG_ID, XLOG_NOOP | 0x04, b"")
    with pytest.raises(InvariantViolation):
        writer.insert(22, 0, b"")
    writer.close()


# -- start after a crash -----------------------------------------------------------------------------


def test_start_at_after_a_torn_tail(tmp_path) -> None:
    waldir = str(tmp_path)
    writer = new_writer(waldir)
    ends = [noop(writer, 3000) for _ in range(8)]  # about three pages
    writer.close()
    records, _ = read_all(waldir)
    torn = records[3]
    # A torn write: the middle record lost its bytes; the ones after it are intact on disk.
    with open(segment_file(waldir, torn.start_lsn), "r+b") as handle:
        handle.seek(torn.start_lsn % SEGMENT_SIZE + 40)
        handle.write(b"\xFF" * 50)
    records, reader = read_all(waldir)
    assert len(records) == 3 and reader.end_lsn == torn.start_lsn
    assert "incorrect resource manager data checksum" in str(reader.end_reason)
    writer = new_writer(waldir, start_lsn=reader.end_lsn, prev_lsn=records[-1].start_lsn)
    assert writer.insert_lsn == torn.start_lsn
    new_end = noop(writer, 20)  # much shorter than the torn record
    writer.close()
    records, reader = read_all(waldir)
    assert [r.end_lsn for r in records] == ends[:3] + [new_end]
    assert reader.end_lsn == new_end
    tail = read_bytes(waldir, new_end, SEGMENT_SIZE - new_end % SEGMENT_SIZE)
    assert tail == bytes(len(tail))  # the stale records 4..7 can never come back


def test_start_at_in_the_middle_of_a_page_keeps_the_valid_bytes(tmp_path) -> None:
    waldir = str(tmp_path)
    writer = new_writer(waldir)
    first = noop(writer, 10)
    writer.close()
    writer = new_writer(waldir, start_lsn=first, prev_lsn=FIRST_LSN + 40)
    second = noop(writer, 20)
    writer.close()
    records, _ = read_all(waldir)
    assert [r.end_lsn for r in records] == [first, second]


def test_start_at_a_page_boundary_and_later_segments_deleted(tmp_path) -> None:
    waldir = str(tmp_path)
    writer = new_writer(waldir)
    pad_to(writer, FIRST_LSN + PAGE)
    noop(writer, 2 * SEGMENT_SIZE)  # through segment 2 into segment 3
    writer.close()
    assert len(os.listdir(waldir)) == 3
    records, _ = read_all(waldir)
    writer = new_writer(waldir, start_lsn=FIRST_LSN + PAGE,
                        prev_lsn=records[-2].start_lsn)
    assert os.listdir(waldir) == ["000000010000000000000001"]
    end = noop(writer, 1)
    writer.close()
    records, reader = read_all(waldir)
    assert records[-1].start_lsn == FIRST_LSN + PAGE + 24 and reader.end_lsn == end


# -- segment recycling -------------------------------------------------------------------------------


def test_remove_old_segments_recycles_a_few_and_deletes_the_rest(tmp_path) -> None:
    waldir = str(tmp_path)
    os.mkdir(os.path.join(waldir, "archive_status"))
    writer = new_writer(waldir)
    pad_to(writer, 8 * SEGMENT_SIZE - 4096)  # segments 1..7
    writer.flush(writer.end_lsn)
    open(os.path.join(waldir, "archive_status", "000000010000000000000001.done"), "w").close()
    removed = writer.remove_old_segments(7 * SEGMENT_SIZE + 100)
    assert removed == 6  # segments 1..6: four recycled as 8..11, two deleted
    names = sorted(name for name in os.listdir(waldir) if len(name) == 24)
    assert names == [f"0000000100000000000000{n:02X}" for n in (7, 8, 9, 10, 11)]
    assert os.listdir(os.path.join(waldir, "archive_status")) == []
    assert writer.remove_old_segments(7 * SEGMENT_SIZE + 100) == 0
    pad_to(writer, 11 * SEGMENT_SIZE + 5000)  # through the recycled files
    end = writer.end_lsn
    writer.close()
    records, reader = read_all(waldir, start_lsn=records_start(waldir))
    assert records[-1].end_lsn == end == reader.end_lsn
    assert reader.end_reason == "invalid record length at 0/B01388: wanted 24, got 0"


def records_start(waldir: str) -> int:
    """Start of the first record wholly in the oldest remaining segment."""
    oldest = min(int(name[16:], 16) for name in os.listdir(waldir) if len(name) == 24)
    page = read_bytes(waldir, oldest * SEGMENT_SIZE, PAGE)
    rem_len = struct.unpack_from("<I", page, 16)[0]
    position = oldest * SEGMENT_SIZE + 40
    while rem_len:  # skip the continuation of a record from the previous segment
        take = min(rem_len, PAGE - (position % PAGE))
        position += take
        rem_len -= take
        if rem_len:
            position += 24
    return (position + 7) // 8 * 8


def test_remove_old_segments_never_touches_unwritten_segments(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    noop(writer, SEGMENT_SIZE)  # buffered, partly unwritten
    assert writer.remove_old_segments(writer.end_lsn) == 0
    writer.close()
    assert len(read_all(str(tmp_path))[0]) == 1


# -- a full disk -------------------------------------------------------------------------------------


def fail_new_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    real = writer_module.write_zeros

    def write_zeros(fd: int, path: str, start: int, end: int) -> None:
        if "xlogtemp" in path:
            raise DiskFull(f'could not write file "{path}": {os.strerror(errno.ENOSPC)}')
        real(fd, path, start, end)

    monkeypatch.setattr(writer_module, "write_zeros", write_zeros)


def test_disk_full_at_flush_never_exposes_a_torn_record(tmp_path, monkeypatch) -> None:
    waldir = str(tmp_path)
    writer = new_writer(waldir)
    pad_to(writer, 2 * SEGMENT_SIZE - 1000)
    durable = writer.end_lsn
    writer.flush(durable)
    fail_new_segments(monkeypatch)
    crossing_start = writer.insert_lsn
    crossing_end = noop(writer, 3000)
    with pytest.raises(DiskFull):
        writer.flush(crossing_end)
    assert writer.flush_lsn == durable
    assert [name for name in os.listdir(waldir) if "xlogtemp" in name] == []
    records, reader = read_all(waldir)
    assert reader.end_lsn == crossing_start and records[-1].end_lsn == durable
    assert reader.end_error is not None and reader.end_error.page_missing
    monkeypatch.undo()
    writer.flush(crossing_end)
    writer.close()
    records, reader = read_all(waldir)
    assert records[-1].end_lsn == crossing_end == reader.end_lsn


def test_disk_full_while_making_room_inserts_nothing(tmp_path, monkeypatch) -> None:
    waldir = str(tmp_path)
    writer = new_writer(waldir, wal_buffers_bytes=4 * PAGE)
    pad_to(writer, 2 * SEGMENT_SIZE - 1000)
    fail_new_segments(monkeypatch)
    with pytest.raises(DiskFull):
        for _ in range(20):
            noop(writer, 3000)
    position = writer.insert_lsn, writer.last_record_start_lsn
    with pytest.raises(DiskFull):
        noop(writer, 3000)
    assert (writer.insert_lsn, writer.last_record_start_lsn) == position
    monkeypatch.undo()
    end = noop(writer, 10)
    writer.close()
    records, reader = read_all(waldir)
    assert reader.end_lsn == end
    assert all(b.prev_lsn == a.start_lsn for a, b in itertools.pairwise(records))


# -- background flusher and close -------------------------------------------------------------------


def wait_until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


def test_background_flusher(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    writer.start_background_flusher(5)
    assert any(t.name == "walwriter" for t in threading.enumerate())
    end = noop(writer, 100)
    wait_until(lambda: writer.flush_lsn >= end)
    writer.stop_background_flusher()
    assert not any(t.name == "walwriter" for t in threading.enumerate())
    writer.stop_background_flusher()  # idempotent
    writer.close()


def test_close_flushes_everything(tmp_path) -> None:
    writer = new_writer(str(tmp_path))
    end = noop(writer, 100)
    writer.close()
    assert writer.flush_lsn == end
    assert read_all(str(tmp_path))[1].end_lsn == end
