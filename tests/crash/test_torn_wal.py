"""Torn and corrupt WAL: recovery stops at the last valid record, names why, and loses nothing
before it.

Each case commits transaction A (acknowledged), then transaction B whose records are large enough
to span WAL pages, crashes, damages B's records in the segment file as the case says, and reopens:
recovery must end exactly where B's first record starts, log the reason with that LSN, keep A's
rows and show none of B's.
"""

from __future__ import annotations

import logging
import os
import struct

import pytest

from mirrordb.common.crc import crc32c
from mirrordb.common.lsn import format_lsn
from mirrordb.engine import Engine
from mirrordb.storage import datum as T
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.segment import segment_name

WAL_PAGE = 8192


def build(cluster: str) -> tuple[int, int, list[tuple[int, int]]]:
    """Commit A, then B; crash. Returns (segment size, B's first record start, B's records)."""
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("payload", T.TEXT_OID)])
    with engine.begin() as txn:
        for i in range(20):
            txn.insert("t", [i, "a" * 50])
    engine.checkpoint()
    start_b = engine.wal.insert_lsn
    with engine.begin() as txn:
        for i in range(100, 106):
            txn.insert("t", [i, "b" * 3000])
    segment_size = engine.control.xlog_seg_size
    engine.crash()
    source = SegmentFileSource(os.path.join(cluster, "pg_wal"), 1, segment_size)
    reader = WalReader(source, segment_size)
    records = [(r.start_lsn, r.end_lsn) for r in reader.records_from(start_b)]
    assert len(records) >= 7
    return segment_size, records[0][0], records


def segment_path(cluster: str, lsn: int, segment_size: int) -> tuple[str, int]:
    name = segment_name(1, lsn // segment_size, segment_size)
    return os.path.join(cluster, "pg_wal", name), lsn % segment_size


def patch(cluster: str, lsn: int, data: bytes, segment_size: int) -> None:
    path, offset = segment_path(cluster, lsn, segment_size)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def read(cluster: str, lsn: int, length: int, segment_size: int) -> bytes:
    path, offset = segment_path(cluster, lsn, segment_size)
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def first_page_crossing(records: list[tuple[int, int]]) -> tuple[int, int]:
    for start, end in records:
        if start // WAL_PAGE != (end - 1) // WAL_PAGE:
            return start, (start // WAL_PAGE + 1) * WAL_PAGE
    raise AssertionError("no record crosses a page")


def corrupt_zero_length(cluster, seg, start, records):
    patch(cluster, start, b"\0\0\0\0", seg)
    return "invalid record length"


def corrupt_crc(cluster, seg, start, records):
    byte = read(cluster, start + 30, 1, seg)
    patch(cluster, start + 30, bytes([byte[0] ^ 0xFF]), seg)
    return "incorrect resource manager data checksum"


def corrupt_prev_link(cluster, seg, start, records):
    header = bytearray(read(cluster, start, 24, seg))
    struct.pack_into("<Q", header, 8, 0x12345678)
    total = struct.unpack_from("<I", header, 0)[0]
    body = read(cluster, start + 24, total - 24, seg) if start % WAL_PAGE + total <= WAL_PAGE \
        else None
    if body is not None:
        struct.pack_into("<I", header, 20, crc32c(bytes(header[:20]), crc32c(body)))
    patch(cluster, start, bytes(header), seg)
    return "incorrect prev-link"  # the header is checked before the CRC, as PostgreSQL does


def corrupt_page_magic(cluster, seg, start, records):
    _, page = first_page_crossing(records)
    patch(cluster, page, b"\x00\x00", seg)
    return "invalid magic number"


def corrupt_page_address(cluster, seg, start, records):
    _, page = first_page_crossing(records)
    patch(cluster, page + 8, struct.pack("<Q", page + 3 * WAL_PAGE), seg)
    return "unexpected pageaddr"


def corrupt_missing_continuation(cluster, seg, start, records):
    _, page = first_page_crossing(records)
    patch(cluster, page, bytes(WAL_PAGE), seg)
    return ""


def corrupt_torn_tail(cluster, seg, start, records):
    crossing, page = first_page_crossing(records)
    patch(cluster, page + 100, bytes(WAL_PAGE - 100), seg)
    return ""


def corrupt_contrecord_flag(cluster, seg, start, records):
    _, page = first_page_crossing(records)
    info = struct.unpack("<H", read(cluster, page + 2, 2, seg))[0]
    patch(cluster, page + 2, struct.pack("<H", info & ~0x0001), seg)
    return "contrecord"


CASES = [corrupt_zero_length, corrupt_crc, corrupt_prev_link, corrupt_page_magic,
         corrupt_page_address, corrupt_missing_continuation, corrupt_torn_tail,
         corrupt_contrecord_flag]


@pytest.mark.parametrize("corrupt", CASES, ids=[c.__name__ for c in CASES])
def test_recovery_stops_at_last_valid_record(cluster, corrupt, caplog):
    segment_size, start_b, records = build(cluster)
    crossing_start = first_page_crossing(records)[0]
    expected_text = corrupt(cluster, segment_size, start_b, records)
    page_damage = corrupt.__name__ in ("corrupt_page_magic", "corrupt_page_address",
                                       "corrupt_missing_continuation", "corrupt_torn_tail",
                                       "corrupt_contrecord_flag")
    stop_at = crossing_start if page_damage else start_b
    with caplog.at_level(logging.INFO, logger="mirrordb"):
        engine = Engine.open(cluster)
    try:
        assert engine.recovery.end_lsn == stop_at, (
            f"stopped at {format_lsn(engine.recovery.end_lsn)}, wanted {format_lsn(stop_at)}: "
            f"{engine.recovery.end_reason}")
        assert expected_text in engine.recovery.end_reason
        assert any(engine.recovery.end_reason in message for message in caplog.messages)
        with engine.begin() as txn:
            ids = sorted(values[0] for _, values in txn.scan("t"))
        assert ids[:20] == list(range(20))
        assert all(i < 100 for i in ids), "rows of the damaged transaction are visible"
        with engine.begin() as txn:
            txn.insert("t", [999, "after recovery"])
    finally:
        engine.close()
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        assert 999 in {values[0] for _, values in txn.scan("t")}
    engine.close()
