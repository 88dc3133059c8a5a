"""The real pg_waldump 15 reads the WAL of a HOT workload: HOT_UPDATE records and PRUNE records
that carry redirects, dead and unused line pointers and the page's new pd_prune_xid (heapam.py's
record formats) decode as custom resource manager 128 records, as many as our reader finds."""

from __future__ import annotations

import os
import re
import subprocess

from conftest import pg_tool

from mirrordb.access import heapam
from mirrordb.common.lsn import format_lsn
from mirrordb.engine import Engine
from mirrordb.wal.reader import SegmentFileSource, WalReader
from tests.integration.test_hot_updates import add, make_accounts

HEAP_RMGR_ID = 128


def test_pg_waldump_reads_hot_update_and_prune_records(cluster: str) -> None:
    pg_waldump = pg_tool("pg_waldump")
    engine = Engine.open(cluster, {"wal_keep_size": "1GB"})
    start_lsn = engine.control.checkpoint.redo
    make_accounts(engine)
    with engine.begin() as txn:              # a wholly dead chain: pruning leaves LP_DEAD
        (tid, _), = txn.lookup("acc_pkey", (9,))
        txn.delete("acc", tid)
    for step in range(1200):                 # fills page 0: opportunistic pruning redirects
        add(engine, step % 9, 1)
    with engine.begin() as txn:
        for tid, values in list(txn.scan("acc")):
            if values[0] % 2:
                txn.delete("acc", tid)
    engine.vacuum("acc")                     # dead roots, then freed after the index pass
    segment_size = engine.control.xlog_seg_size
    engine.close()
    waldir = os.path.join(cluster, "pg_wal")
    with SegmentFileSource(waldir, 1, segment_size) as source:
        reader = WalReader(source, segment_size)
        records = list(reader.records_from(start_lsn))
        end_lsn = reader.end_lsn
    assert end_lsn is not None
    heap = [r for r in records if r.rmid == HEAP_RMGR_ID]
    ops = [r.rmgr_info & heapam.XLOG_HEAP_OPMASK for r in heap]
    assert ops.count(heapam.XLOG_HEAP_HOT_UPDATE) > 1000
    prunes = [heapam.decode_prune(r.main_data, r.blocks[0].data) for r in heap
              if r.rmgr_info & heapam.XLOG_HEAP_OPMASK == heapam.XLOG_HEAP_PRUNE]
    assert any(redirected for _, redirected, _, _, _ in prunes)
    assert any(dead for _, _, dead, _, _ in prunes)
    assert any(prune_xid for _, _, _, _, prune_xid in prunes)
    listing = subprocess.run([pg_waldump, "-p", waldir, "-s", format_lsn(start_lsn),
                              "-e", format_lsn(end_lsn)],
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert len(lines) == len(records)
    assert sum(1 for line in lines if re.match(r"rmgr: custom128\s", line)) == len(heap)
