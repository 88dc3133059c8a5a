"""The real pg_waldump 15 reads every segment WalWriter writes, record for record.

One WAL (1 MiB segments) holds every record kind mirrordb emits: checkpoints, NEXTOID,
PARAMETER_CHANGE, END_OF_RECOVERY, BACKUP_END, FPI, commits and aborts with subtransactions,
dropped relations and invalidations, assignments, running-xacts, locks, smgr create/truncate, our
custom resource managers 128..130 with block data, full-page images with holes and
consistency-check images, a 20 kB record, a header split across pages, a record ending exactly
at a page end, a segment crossing and a switch. pg_waldump must decode all of it, list the same
records (LSN, prev-link, length) as our reader, and count the same total in --stats.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from mirrordb.common.checkpoint import CheckPoint
from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.storage import page as pagelib
from mirrordb.storage.relfilenode import RelFileNode
from mirrordb.wal import payloads as P
from mirrordb.wal import rmgr
from mirrordb.wal.reader import SegmentFileSource, WalReader, count_records
from mirrordb.wal.record import REGBUF_FORCE_IMAGE, REGBUF_STANDARD, REGBUF_WILL_INIT
from mirrordb.wal.segment import WAL_PAGE_SIZE
from mirrordb.wal.writer import BlockRegistration, WalWriter

PG_WALDUMP = "/usr/lib/postgresql/15/bin/pg_waldump"
SEGMENT_SIZE = 1024 * 1024
FIRST_LSN = SEGMENT_SIZE
REL = RelFileNode(1663, 5, 16429)
LINE = re.compile(r"^rmgr: (\S+)\s+len \(rec/tot\):\s*(\d+)/\s*(\d+), tx:\s*(\d+), "
                  r"lsn: ([0-9A-F]+/[0-9A-F]+), prev ([0-9A-F]+/[0-9A-F]+), desc: (.*)$")

pytestmark = [pytest.mark.compat, pytest.mark.skipif(
    not os.path.exists(PG_WALDUMP), reason=f"PostgreSQL 15 pg_waldump not installed at "
                                           f"{PG_WALDUMP}")]


def heap_page(fill: int) -> bytearray:
    page = pagelib.new_page()
    pagelib.page_init(page)
    for number in range(fill):
        pagelib.add_item(page, bytes([number + 1]) * 60)
    return page


def checkpoint(redo: int, online: bool) -> bytes:
    return CheckPoint(redo, 1, 1, True, 757, 24576, 1, 0, 716, 1, 1, 1, 1_763_700_000, 0, 0,
                      757 if online else 0).encode()


def pad_to_page_offset(writer: WalWriter, offset: int) -> None:
    """NOOPs until the WAL ends at ``offset`` within a page (offset 0: a page end)."""
    while writer.end_lsn % WAL_PAGE_SIZE != offset:
        room = (offset - writer.insert_lsn % WAL_PAGE_SIZE) % WAL_PAGE_SIZE or WAL_PAGE_SIZE
        length = max(room, 24)
        if length == 24:
            main = b""
        elif length - 26 <= 255:
            main = b"o" * (length - 26)
        else:
            main = b"o" * (length - 29)
        writer.insert(rmgr.RM_XLOG_ID, rmgr.XLOG_NOOP, main)


def write_every_record_kind(writer: WalWriter) -> None:
    X = rmgr
    writer.insert(X.RM_XLOG_ID, X.XLOG_CHECKPOINT_SHUTDOWN, checkpoint(writer.insert_lsn, False))
    writer.insert(X.RM_XLOG_ID, X.XLOG_PARAMETER_CHANGE,
                  P.ParameterChange(100, 8, 10, 0, 64, P.WAL_LEVEL_REPLICA, False, False).encode())
    writer.insert(X.RM_XLOG_ID, X.XLOG_NEXTOID, P.encode_nextoid(24576))
    writer.insert(X.RM_XLOG_ID, X.XLOG_END_OF_RECOVERY,
                  P.EndOfRecovery(P.pg_timestamp_now(), 1, 1).encode())
    writer.insert(X.RM_XLOG_ID, X.XLOG_BACKUP_END, P.encode_backup_end(FIRST_LSN + 40))
    writer.insert(X.RM_SMGR_ID, X.XLOG_SMGR_CREATE, P.SmgrCreate(REL, 0).encode())
    writer.insert(X.RM_SMGR_ID, X.XLOG_SMGR_TRUNCATE,
                  P.SmgrTruncate(3, REL, P.SMGR_TRUNCATE_ALL).encode())
    writer.insert(X.RM_STANDBY_ID, X.XLOG_RUNNING_XACTS,
                  P.RunningXacts((764, 770), (771,), False, 772, 764, 763).encode())
    writer.insert(X.RM_STANDBY_ID, X.XLOG_STANDBY_LOCK, P.StandbyLocks(((745, 5, 16406),))
                  .encode(), xid=745)
    writer.insert(X.RM_XACT_ID, X.XLOG_XACT_ASSIGNMENT, P.XactAssignment(764, (765, 766))
                  .encode(), xid=764)
    now = P.pg_timestamp_now()
    for info, data in (
            P.encode_xact_commit(xact_time=now),
            P.encode_xact_commit(xact_time=now, subxids=[750, 751], rels=[REL]),
            P.encode_xact_commit(xact_time=now, db_id=5, ts_id=1663, invalidations=[
                bytes.fromhex("37000000 05000000 00000000 00000000")],
                flags=P.XACT_XINFO_HAS_AE_LOCKS | P.XACT_COMPLETION_APPLY_FEEDBACK),
            P.encode_xact_abort(xact_time=now, subxids=[752], rels=[REL])):
        writer.insert(X.RM_XACT_ID, info, data, xid=749)
    page = heap_page(5)
    writer.set_redo_lsn_to_insert_lsn()
    writer.insert(X.RM_XLOG_ID, X.XLOG_FPI, b"", [BlockRegistration(
        0, REL, 0, 1, page, b"", REGBUF_STANDARD | REGBUF_FORCE_IMAGE)])
    for rmid in (X.RM_MIRRORDB_HEAP_ID, X.RM_MIRRORDB_BTREE_ID, X.RM_MIRRORDB_SEQUENCE_ID):
        for blkno in range(4):
            first = heap_page(blkno + 1)
            second = heap_page(2)
            end = writer.insert(rmid, 0x10 * blkno, b"main" * blkno, [
                BlockRegistration(0, REL, 0, blkno, first, b"tuple" * (blkno + 1),
                                  REGBUF_STANDARD),
                BlockRegistration(1, REL, 0, blkno + 100, second, b"",
                                  REGBUF_STANDARD | REGBUF_WILL_INIT),
                BlockRegistration(2, RelFileNode(1663, 5, 16500), 2, 0, None, b"vm", 0),
            ], xid=800 + blkno)
            pagelib.set_lsn(first, end)
    writer.set_consistency_checking(True)
    writer.insert(X.RM_MIRRORDB_HEAP_ID, 0x20, b"checked", [BlockRegistration(
        0, REL, 0, 7, heap_page(3), b"x", REGBUF_STANDARD)], xid=900)
    writer.set_consistency_checking(False)
    writer.insert(X.RM_XLOG_ID, X.XLOG_NOOP, b"big" * 7000)  # over 20 kB, across 3 pages
    pad_to_page_offset(writer, WAL_PAGE_SIZE - 8)
    writer.insert(X.RM_XACT_ID, *P.encode_xact_commit(xact_time=now), xid=901)  # header split
    pad_to_page_offset(writer, 0)
    writer.insert(X.RM_XLOG_ID, X.XLOG_CHECKPOINT_ONLINE, checkpoint(writer.insert_lsn, True))


def write_wal(waldir: str) -> int:
    """Write the WAL; returns how many segments it spans."""
    writer = WalWriter(waldir, segment_size=SEGMENT_SIZE, system_identifier=7310000000000000001,
                       timeline=1)
    writer.start_at(FIRST_LSN, 0)
    write_every_record_kind(writer)
    writer.switch_segment()
    write_every_record_kind(writer)
    while writer.end_lsn < 3 * SEGMENT_SIZE + 5000:  # cross two more segment boundaries
        writer.insert(rmgr.RM_MIRRORDB_HEAP_ID, 0, b"filler" * 5000)
    write_every_record_kind(writer)
    writer.close()
    return writer.end_lsn // SEGMENT_SIZE


def run_waldump(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PG_WALDUMP, *arguments], capture_output=True, text=True, timeout=120,
                          check=False)


def check_exit(result: subprocess.CompletedProcess[str], end_lsn: int) -> None:
    """Exit 0, or 1 with only the normal end-of-WAL message at our end of WAL."""
    if result.returncode == 0:
        return
    assert result.returncode == 1, result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert re.fullmatch(r"pg_waldump: error: error in WAL record at \S+: invalid record length "
                        rf"at {re.escape(format_lsn(end_lsn))}: wanted 24, got 0", errors[0]), \
        result.stderr


def test_pg_waldump_reads_every_record_we_write(tmp_path) -> None:
    waldir = str(tmp_path)
    assert write_wal(waldir) >= 3
    count, end_lsn = count_records(waldir, 1, SEGMENT_SIZE, FIRST_LSN)
    with SegmentFileSource(waldir, 1, SEGMENT_SIZE) as source:
        ours = list(WalReader(source, SEGMENT_SIZE).records_from(FIRST_LSN))
    assert len(ours) == count

    listing = run_waldump("-p", waldir, "-s", format_lsn(FIRST_LSN))
    check_exit(listing, end_lsn)
    theirs = []
    for line in listing.stdout.splitlines():
        match = LINE.match(line)
        assert match is not None, line
        theirs.append((parse_lsn(match.group(5)), parse_lsn(match.group(6)),
                       int(match.group(3)), int(match.group(4))))
    assert theirs == [(r.start_lsn, r.prev_lsn, r.tot_len, r.xid) for r in ours]
    text = listing.stdout
    for expected in ("CHECKPOINT_SHUTDOWN redo", "CHECKPOINT_ONLINE redo", "PARAMETER_CHANGE",
                     "NEXTOID 24576", "END_OF_RECOVERY tli 1; prev tli 1", "BACKUP_END",
                     "CREATE base/5/16429", "TRUNCATE base/5/16429 to 3 blocks",
                     ("RUNNING_XACTS nextXid 772 latestCompletedXid 763 oldestRunningXid 764; "
                      "2 xacts: 764 770"),
                     "LOCK xid 745 db 5 rel 16406", "ASSIGNMENT xtop 764: subxacts: 765 766",
                     "; rels: base/5/16429; subxacts: 750 751",
                     "ABORT", "; rels: base/5/16429; subxacts: 752",
                     "; inval msgs: catcache 55; apply_feedback",
                     "FPI , blkref #0: rel 1663/5/16429 blk 1 FPW", "SWITCH",
                     "rmgr: custom128", "rmgr: custom129", "rmgr: custom130"):
        assert expected in text, expected

    stats = run_waldump("-p", waldir, "-s", format_lsn(FIRST_LSN), "--stats")
    check_exit(stats, end_lsn)
    total = re.search(r"^Total\s+(\d+)", stats.stdout, re.MULTILINE)
    assert total is not None, stats.stdout
    assert int(total.group(1)) == count


def test_pg_waldump_reads_a_single_segment_ending_in_a_switch(tmp_path) -> None:
    waldir = str(tmp_path)
    writer = WalWriter(waldir, segment_size=SEGMENT_SIZE, system_identifier=1, timeline=1)
    writer.start_at(FIRST_LSN, 0)
    write_every_record_kind(writer)
    writer.switch_segment()
    writer.close()
    result = run_waldump(os.path.join(waldir, "000000010000000000000001"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith("desc: SWITCH")
