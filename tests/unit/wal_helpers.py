"""Helpers shared by the WAL unit tests: a started writer in a temporary directory, padding the
WAL to an exact position, reading it back, and patching bytes of segment files at an LSN."""

from __future__ import annotations

import os

from mirrordb.common.crc import crc32c
from mirrordb.storage import page as pagelib
from mirrordb.storage.relfilenode import RelFileNode
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.record import BlockRef, DecodedRecord
from mirrordb.wal.rmgr import RM_XLOG_ID, XLOG_NOOP
from mirrordb.wal.segment import WAL_PAGE_SIZE, segment_name
from mirrordb.wal.writer import WalWriter

SEGMENT_SIZE = 1024 * 1024
SYSTEM_IDENTIFIER = 7710484892827747266
TIMELINE = 1
FIRST_LSN = SEGMENT_SIZE  # a fresh WAL starts at segment 1, as initdb does
RNODE = RelFileNode(1663, 5, 16384)
OTHER_RNODE = RelFileNode(1663, 5, 16385)


def new_writer(waldir: str, start_lsn: int = FIRST_LSN, prev_lsn: int = 0,
               **options: object) -> WalWriter:
    writer = WalWriter(waldir, segment_size=SEGMENT_SIZE, system_identifier=SYSTEM_IDENTIFIER,
                       timeline=TIMELINE, **options)  # type: ignore[arg-type]
    writer.start_at(start_lsn, prev_lsn)
    return writer


def noop_length_for(record_length: int) -> int:
    """Main-data length of a NOOP record that is exactly ``record_length`` (aligned) bytes."""
    assert record_length % 8 == 0 and record_length >= 24
    if record_length == 24:
        return 0
    if record_length - 26 <= 255:
        return record_length - 26
    return record_length - 29


def pad_to(writer: WalWriter, target_lsn: int) -> None:
    """Insert NOOP records until the WAL ends exactly at ``target_lsn`` (MAXALIGNed)."""
    while writer.end_lsn != target_lsn:
        start = writer.insert_lsn
        page_end = start - start % WAL_PAGE_SIZE + WAL_PAGE_SIZE
        if target_lsn <= page_end:
            assert target_lsn - start >= 24, "target too close to pad to exactly"
            length = target_lsn - start
        elif page_end - start >= 24:
            length = page_end - start  # end this page exactly
        else:
            length = 24  # only 8 or 16 bytes left: cross onto the next page
        writer.insert(RM_XLOG_ID, XLOG_NOOP, b"p" * noop_length_for(length))


def read_all(waldir: str, start_lsn: int = FIRST_LSN, expected_prev_lsn: int | None = None,
             **options: object) -> tuple[list[DecodedRecord], WalReader]:
    with SegmentFileSource(waldir, TIMELINE, SEGMENT_SIZE) as source:
        reader = WalReader(source, SEGMENT_SIZE, **options)  # type: ignore[arg-type]
        records = list(reader.records_from(start_lsn, expected_prev_lsn))
    return records, reader


def segment_file(waldir: str, lsn: int) -> str:
    return os.path.join(waldir, segment_name(TIMELINE, lsn // SEGMENT_SIZE, SEGMENT_SIZE))


def read_bytes(waldir: str, lsn: int, length: int) -> bytes:
    with open(segment_file(waldir, lsn), "rb") as handle:
        handle.seek(lsn % SEGMENT_SIZE)
        return handle.read(length)


def patch_bytes(waldir: str, lsn: int, data: bytes) -> None:
    with open(segment_file(waldir, lsn), "r+b") as handle:
        handle.seek(lsn % SEGMENT_SIZE)
        handle.write(data)


def with_fixed_crc(record: bytes | bytearray) -> bytes:
    """The record with xl_crc recomputed (for corruptions that must pass the CRC)."""
    fixed = bytearray(record)
    fixed[20:24] = crc32c(bytes(fixed[:20]), crc32c(bytes(fixed[24:]))).to_bytes(4, "little")
    return bytes(fixed)


def standard_page(items: int = 3, item_size: int = 40) -> bytearray:
    page = pagelib.new_page()
    pagelib.page_init(page)
    for number in range(items):
        assert pagelib.add_item(page, bytes([number + 1]) * item_size)
    return page


def block0(record: DecodedRecord) -> BlockRef:
    """Block reference 0 of ``record`` (which must have one)."""
    block = record.block(0)
    assert block is not None
    return block
