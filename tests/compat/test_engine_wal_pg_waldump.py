"""The real pg_waldump 15 reads every segment a mixed engine workload writes.

A workload (DDL, inserts with index splits, updates, deletes, savepoints, aborts, VACUUM,
sequences, checkpoints with full-page images, a segment switch) runs across several 1 MB segments;
pg_waldump must decode all of them with exit status 0 and count as many records as our reader.
"""

from __future__ import annotations

import os
import re
import subprocess

from conftest import pg_tool

from mirrordb.common.lsn import format_lsn
from mirrordb.engine import Engine
from mirrordb.storage import datum as T
from mirrordb.wal.reader import count_records


def run_workload(engine: Engine) -> None:
    with engine.begin() as txn:
        txn.create_table("t", [("id", T.INT8_OID), ("body", T.TEXT_OID)])
        txn.create_index("t_pkey", "t", ["id"], unique=True)
        txn.create_sequence("s")
    for batch in range(12):
        with engine.begin() as txn:
            for _ in range(200):
                key = txn.nextval("s")
                txn.insert("t", [key, f"body {key} " * 40])
            txn.savepoint("p")
            txn.insert("t", [-1, "rolled back"])
            txn.rollback_to_savepoint("p")
        with engine.begin() as txn:
            for tid, values in list(txn.scan("t"))[::7]:
                txn.update("t", tid, [values[0], "changed"])
        aborted = engine.begin()
        aborted.insert("t", [-2, "aborted"])
        aborted.abort()
        if batch == 3:
            engine.checkpoint()
            engine.wal.switch_segment()
        if batch % 3 == 2:
            engine.vacuum("t")


def test_pg_waldump_reads_every_segment(cluster):
    pg_waldump = pg_tool("pg_waldump")
    engine = Engine.open(cluster, {"wal_keep_size": "1GB"})
    start_lsn = engine.control.checkpoint.redo
    run_workload(engine)
    segment_size = engine.control.xlog_seg_size
    engine.close()
    waldir = os.path.join(cluster, "pg_wal")
    segments = sorted(name for name in os.listdir(waldir) if len(name) == 24)
    assert len(segments) >= 3
    ours, end_lsn = count_records(waldir, 1, segment_size, start_lsn)
    result = subprocess.run(
        [pg_waldump, "-p", waldir, "-s", format_lsn(start_lsn), "-e", format_lsn(end_lsn),
         "--stats"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    total = re.search(r"^Total\s+(\d+)", result.stdout, re.MULTILINE)
    assert total is not None, result.stdout
    assert int(total.group(1)) == ours
    listing = subprocess.run([pg_waldump, "-p", waldir, "-s", format_lsn(start_lsn),
                              "-e", format_lsn(end_lsn)],
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert "COMMIT" in listing.stdout and "CHECKPOINT_ONLINE" in listing.stdout
    assert "custom128" in listing.stdout or "UNKNOWN" in listing.stdout
