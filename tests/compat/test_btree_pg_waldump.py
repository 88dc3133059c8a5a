"""The real pg_waldump 15 reads the B-tree's WAL: inserts, four-block splits and new roots with
large block data, full-page images after a checkpoint, and VACUUM records."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

from conftest import pg_tool

from mirrordb.access.nbtree import BTree
from mirrordb.common.lsn import format_lsn
from mirrordb.storage import datum
from mirrordb.storage.bufmgr import BufferPool
from mirrordb.storage.relfilenode import MAIN_FORKNUM, RelFileNode
from mirrordb.storage.smgr import StorageManager
from mirrordb.wal.reader import count_records
from mirrordb.wal.writer import WalWriter

SEGMENT_SIZE = 1024 * 1024
FIRST_LSN = SEGMENT_SIZE
INDEX = RelFileNode(1663, 5, 16384)


def write_btree_wal(directory: Path) -> tuple[str, int]:
    waldir = directory / "pg_wal"
    waldir.mkdir(parents=True)
    smgr = StorageManager(str(directory))
    with WalWriter(str(waldir), segment_size=SEGMENT_SIZE, system_identifier=1,
                   timeline=1) as wal:
        wal.start_at(FIRST_LSN, 0)
        pool = BufferPool(smgr, 128, wal.flush)
        smgr.create(INDEX, MAIN_FORKNUM)
        tree = BTree(pool, wal, INDEX, [datum.TEXT_OID, datum.INT4_OID], unique=False)
        tree.build_empty()
        rng = random.Random(1)
        for serial in range(1500):
            if serial == 700:
                wal.set_redo_lsn_to_insert_lsn()
            text = f"{rng.randrange(10**5):05d}" + "z" * rng.choice([0, 50, 2000])
            tree.insert((text, rng.choice([None, serial])), (serial, 1))
        tree.bulk_delete(lambda tid: tid[0] % 3 == 0)
        wal.flush(wal.end_lsn)
        end_lsn = wal.end_lsn
    smgr.close_all()
    return str(waldir), end_lsn


def test_pg_waldump_reads_btree_records(tmp_path: Path) -> None:
    pg_waldump = pg_tool("pg_waldump")
    waldir, end_lsn = write_btree_wal(tmp_path)
    ours, _ = count_records(waldir, 1, SEGMENT_SIZE, FIRST_LSN)
    listing = subprocess.run([pg_waldump, "-p", waldir, "-s", format_lsn(FIRST_LSN),
                              "-e", format_lsn(end_lsn)],
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert len(lines) == ours
    assert all(line.startswith("rmgr: custom129") for line in lines)
    splits = [line for line in lines if "blkref #3" in line]
    assert splits, "expected four-block split records"
    assert any("FPW" in line for line in lines), "expected full-page images after the redo point"
    record_lengths = [int(match.group(1)) for match in
                      re.finditer(r"len \(rec/tot\):\s*(\d+)/", listing.stdout)]
    assert max(record_lengths) > 4000, "a split logs its right page's items as block data"
