"""Hypothesis tests of the WAL codecs and reader.

Round trips: any record (blocks with and without images, shared relations, data, main data of
both header sizes) and every payload decode to what was encoded. Garbage: every decoder fed
random or mutated bytes raises only WalCorrupted (or succeeds); the reader over damaged pages of
a real WAL stops with EndOfWal and never returns a record that was not written.
"""

from __future__ import annotations

import struct
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrordb.common.crc import crc32c
from mirrordb.common.errors import DataCorrupted, WalCorrupted
from mirrordb.storage import page as pagelib
from mirrordb.storage.relfilenode import RelFileNode
from mirrordb.wal import payloads as P
from mirrordb.wal.pageheader import decode_page_header
from mirrordb.wal.reader import SegmentFileSource, WalReader
from mirrordb.wal.record import (
    BlockRef,
    DecodedRecord,
    decode_record,
    encode_record,
    make_image,
    record_header,
)
from mirrordb.wal.rmgr import RM_MIRRORDB_HEAP_ID, RM_XLOG_ID, XLOG_NOOP
from mirrordb.wal.segment import WAL_PAGE_SIZE
from mirrordb.wal.writer import BlockRegistration, WalWriter

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SEGMENT_SIZE = 1024 * 1024
FIRST_LSN = SEGMENT_SIZE

u32 = st.integers(0, 2**32 - 1)
rnodes = st.builds(RelFileNode, st.sampled_from([1663, 1664]), st.integers(0, 3), u32)


@st.composite
def pages(draw: st.DrawFn) -> bytearray:
    page = pagelib.new_page()
    pagelib.page_init(page, draw(st.sampled_from([0, 16])))
    for item in draw(st.lists(st.binary(min_size=1, max_size=400), max_size=8)):
        pagelib.add_item(page, item)
    return page


@st.composite
def block_lists(draw: st.DrawFn) -> list[BlockRef]:
    ids = sorted(draw(st.sets(st.integers(0, 32), max_size=5)))
    blocks: list[BlockRef] = []
    for block_id in ids:
        same = blocks and draw(st.booleans())
        rnode = blocks[-1].rnode if same else draw(rnodes)
        image = None
        if draw(st.booleans()):
            image = make_image(draw(pages()), draw(st.booleans()), draw(st.booleans()))
        blocks.append(BlockRef(block_id, rnode, draw(st.integers(0, 15)), draw(u32),
                               draw(st.binary(max_size=300)), image, draw(st.booleans())))
    return blocks


@FAST
@given(blocks=block_lists(), main_data=st.binary(max_size=600), xid=u32,
       prev=st.integers(0, 2**64 - 1), info=st.integers(0, 255), toplevel=u32,
       rmid=st.one_of(st.integers(0, 21), st.integers(128, 255)))
def test_record_round_trip(blocks: list[BlockRef], main_data: bytes, xid: int, prev: int,
                           info: int, toplevel: int, rmid: int) -> None:
    record = encode_record(rmid, info, xid, prev, blocks, main_data, toplevel_xid=toplevel)
    decoded = decode_record(record, 0x1000028, 0x2000000)
    assert decoded == DecodedRecord(0x1000028, 0x2000000, len(record), xid, prev, info, rmid,
                                    tuple(blocks), main_data, toplevel)


def only_corruption(function, *args, **kwargs) -> None:
    try:
        function(*args, **kwargs)
    except WalCorrupted:
        pass
    except DataCorrupted as error:  # pragma: no cover - a decoder broke its contract
        raise AssertionError(f"{function} raised DataCorrupted, not WalCorrupted") from error


@FAST
@given(data=st.binary(max_size=400))
def test_record_decoder_on_garbage(data: bytes) -> None:
    only_corruption(decode_record, data, 0x1000028)


@FAST
@given(body=st.binary(max_size=300), rmid=st.one_of(st.integers(0, 21), st.integers(128, 255)))
def test_record_decoder_on_garbage_with_a_valid_crc(body: bytes, rmid: int) -> None:
    record = record_header(rmid, 0, 0, 0, len(body), crc32c(body)) + body
    only_corruption(decode_record, record, 0x1000028)


@FAST
@given(blocks=block_lists(), main_data=st.binary(max_size=300),
       flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1,
                      max_size=4))
def test_record_decoder_on_mutated_records_with_fixed_crc(
        blocks: list[BlockRef], main_data: bytes, flips: list[tuple[int, int]]) -> None:
    record = bytearray(encode_record(RM_MIRRORDB_HEAP_ID, 0, 1, 0, blocks, main_data))
    for position, mask in flips:
        index = 24 + position % max(1, len(record) - 24) if len(record) > 24 else 0
        record[index] ^= mask
    record[20:24] = struct.pack("<I", crc32c(bytes(record[:20]), crc32c(bytes(record[24:]))))
    only_corruption(decode_record, bytes(record), 0x1000028)


@FAST
@given(data=st.binary(min_size=0, max_size=64),
       page_lsn=st.one_of(st.none(), st.integers(0, 2**40).map(lambda n: n * WAL_PAGE_SIZE)),
       segment_size=st.sampled_from([None, SEGMENT_SIZE, 16 * SEGMENT_SIZE]),
       system_identifier=st.one_of(st.none(), u32))
def test_page_header_decoder_on_garbage(data: bytes, page_lsn: int | None,
                                        segment_size: int | None,
                                        system_identifier: int | None) -> None:
    if data[:2] != b"\x10\xd1" and len(data) > 2:
        data = b"\x10\xd1" + data[2:]  # mostly past the magic check
    only_corruption(decode_page_header, data, page_lsn=page_lsn, segment_size=segment_size,
                    system_identifier=system_identifier)


PAYLOAD_DECODERS = [
    P.decode_checkpoint, P.decode_nextoid, P.decode_backup_end, P.EndOfRecovery.decode,
    P.ParameterChange.decode, P.RunningXacts.decode, P.StandbyLocks.decode, P.SmgrCreate.decode,
    P.SmgrTruncate.decode,
]


@FAST
@given(data=st.binary(max_size=120), which=st.integers(0, len(PAYLOAD_DECODERS) - 1),
       info=st.integers(0, 255))
def test_payload_decoders_on_garbage(data: bytes, which: int, info: int) -> None:
    only_corruption(PAYLOAD_DECODERS[which], data)
    only_corruption(P.decode_xact_record, info, data)
    only_corruption(P.decode_xact_record, info | 0x80, data[:8] + struct.pack("<I", 0x1FF)
                    + data[8:])


@FAST
@given(time=st.integers(-2**63, 2**63 - 1), subxids=st.lists(u32, max_size=5),
       rels=st.lists(rnodes, max_size=3), db=u32, ts=u32,
       invalidations=st.lists(st.binary(min_size=16, max_size=16), max_size=3),
       stats=st.lists(st.tuples(st.integers(-2**31, 2**31 - 1), u32, u32), max_size=2),
       flags=st.sampled_from([0, P.XACT_XINFO_HAS_AE_LOCKS, P.XACT_COMPLETION_APPLY_FEEDBACK,
                              P.XACT_COMPLETION_FORCE_SYNC_COMMIT]))
def test_xact_round_trips(time: int, subxids: list[int], rels: list[RelFileNode], db: int,
                          ts: int, invalidations: list[bytes],
                          stats: list[tuple[int, int, int]], flags: int) -> None:
    info, data = P.encode_xact_commit(xact_time=time, subxids=subxids, rels=rels, db_id=db,
                                      ts_id=ts, invalidations=invalidations,
                                      dropped_stats=stats, flags=flags)
    commit = P.decode_xact_record(info, data)
    assert isinstance(commit, P.XactCommit) and commit.info == info
    assert (commit.xact_time, commit.subxacts, commit.rels, commit.invalidations,
            commit.dropped_stats) == (time, tuple(subxids), tuple(rels), tuple(invalidations),
                                      tuple(stats))
    assert commit.encode() == data
    info, data = P.encode_xact_abort(xact_time=time, subxids=subxids, rels=rels, flags=flags)
    abort = P.decode_xact_record(info, data)
    assert isinstance(abort, P.XactAbort) and abort.encode() == data and abort.info == info


@FAST
@given(xids=st.lists(u32, max_size=6), subxids=st.lists(u32, max_size=6),
       overflow=st.booleans(), fields=st.tuples(u32, u32, u32),
       locks=st.lists(st.tuples(u32, u32, u32), max_size=4), rnode=rnodes,
       fork=st.integers(0, 3), blkno=u32, flags=st.integers(0, 7))
def test_other_payload_round_trips(xids: list[int], subxids: list[int], overflow: bool,
                                   fields: tuple[int, int, int],
                                   locks: list[tuple[int, int, int]], rnode: RelFileNode,
                                   fork: int, blkno: int, flags: int) -> None:
    running = P.RunningXacts(tuple(xids), tuple(subxids), overflow, *fields)
    assert P.RunningXacts.decode(running.encode()) == running
    assert P.StandbyLocks.decode(P.StandbyLocks(tuple(locks)).encode()).locks == tuple(locks)
    assert P.SmgrCreate.decode(P.SmgrCreate(rnode, fork).encode()) == P.SmgrCreate(rnode, fork)
    truncate = P.SmgrTruncate(blkno, rnode, flags)
    assert P.SmgrTruncate.decode(truncate.encode()) == truncate
    assignment = P.XactAssignment(fields[0], tuple(xids))
    assert P.decode_xact_record(0x50, assignment.encode()) == assignment


# -- the reader over damaged pages of a real WAL --------------------------------------------------


class DictSource:
    def __init__(self, pages: dict[int, bytes]) -> None:
        self.pages = pages

    def read_page(self, page_lsn: int) -> bytes | None:
        return self.pages.get(page_lsn)


def written_wal() -> tuple[dict[int, bytes], list[DecodedRecord]]:
    """A small real WAL (records crossing pages, block images), as a page dictionary."""
    with tempfile.TemporaryDirectory() as waldir:
        writer = WalWriter(waldir, segment_size=SEGMENT_SIZE, system_identifier=1, timeline=1)
        writer.start_at(FIRST_LSN, 0)
        page = pagelib.new_page()
        pagelib.page_init(page)
        pagelib.add_item(page, b"tuple" * 30)
        for number in range(30):
            writer.insert(RM_XLOG_ID, XLOG_NOOP, bytes([number]) * (number * 97 % 1500))
            writer.insert(RM_MIRRORDB_HEAP_ID, 0, b"main", [BlockRegistration(
                0, RelFileNode(1663, 5, 16384), 0, number, page, b"d" * number, 0x01)])
        writer.close()
        with SegmentFileSource(waldir, 1, SEGMENT_SIZE) as source:
            pages = {lsn: source.read_page(lsn) for lsn in
                     range(FIRST_LSN, writer.end_lsn + WAL_PAGE_SIZE, WAL_PAGE_SIZE)}
            records = list(WalReader(source, SEGMENT_SIZE).records_from(FIRST_LSN))
    return {lsn: page for lsn, page in pages.items() if page is not None}, records


WAL_PAGES, WAL_RECORDS = written_wal()
BY_START = {record.start_lsn: record for record in WAL_RECORDS}


@FAST
@given(damage=st.lists(st.tuples(st.integers(0, len(WAL_PAGES) - 1), st.integers(0, 8191),
                                 st.integers(1, 255)), min_size=1, max_size=6),
       drop=st.one_of(st.none(), st.integers(0, len(WAL_PAGES) - 1)))
def test_reader_on_damaged_wal(damage: list[tuple[int, int, int]], drop: int | None) -> None:
    pages = {lsn: bytearray(page) for lsn, page in WAL_PAGES.items()}
    lsns = sorted(pages)
    for index, offset, mask in damage:
        pages[lsns[index]][offset] ^= mask
    if drop is not None:
        del pages[lsns[drop]]
    reader = WalReader(DictSource({k: bytes(v) for k, v in pages.items()}), SEGMENT_SIZE, 1)
    returned = list(reader.records_from(FIRST_LSN))
    assert reader.end_lsn is not None and reader.end_reason
    for record in returned:
        assert record == BY_START[record.start_lsn]  # nothing that was not written


@FAST
@given(pages=st.dictionaries(st.integers(0, 8).map(lambda n: FIRST_LSN + n * WAL_PAGE_SIZE),
                             st.binary(min_size=WAL_PAGE_SIZE, max_size=WAL_PAGE_SIZE)
                             .map(lambda b: b"\x10\xd1" + b[2:]), max_size=9),
       start=st.integers(0, 8 * WAL_PAGE_SIZE // 8).map(lambda n: FIRST_LSN + n * 8))
def test_reader_on_garbage_pages(pages: dict[int, bytes], start: int) -> None:
    reader = WalReader(DictSource(pages), SEGMENT_SIZE)
    assert list(reader.records_from(start)) == []
    assert reader.end_lsn is not None and reader.end_reason
