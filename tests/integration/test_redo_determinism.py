"""Redo determinism: replaying the primary's WAL on a copy produces byte-identical data files.

Copy a stopped cluster, run a workload on the original (splits, updates, deletes, VACUUM,
sequences, DDL, checkpoints with full-page images), stop it, give the copy the original's WAL and
let crash recovery replay it; ``mirrordb compare`` must find every page identical. Run again with
``wal_consistency_checking = on`` on both sides, where replay checks each page against the image
the writer attached.
"""

from __future__ import annotations

import os
import random
import shutil

import pytest

from mirrordb.cli.compare import compare_clusters, run
from mirrordb.engine import Engine
from mirrordb.storage import datum as T


def workload(engine: Engine, seed: int) -> None:
    rng = random.Random(seed)
    with engine.begin() as txn:
        txn.create_table("accounts", [("id", T.INT8_OID), ("owner", T.TEXT_OID), ("balance", T.NUMERIC_OID)])
        txn.create_index("accounts_pkey", "accounts", ["id"], unique=True)
        txn.create_index("accounts_owner", "accounts", ["owner"])
        txn.create_sequence("ids")
        txn.create_table("scratch", [("a", T.INT4_OID)])
    from decimal import Decimal
    for round_number in range(6):
        with engine.begin() as txn:
            for _ in range(150):
                key = txn.nextval("ids")
                txn.insert("accounts", [key, f"owner{rng.randint(0, 50):03d}",
                                        Decimal(rng.randint(0, 10**6)) / 100])
        with engine.begin() as txn:
            for tid, values in list(txn.scan("accounts")):
                if rng.random() < 0.2:
                    txn.update("accounts", tid, [values[0], values[1], values[2] + 1])
                elif rng.random() < 0.1:
                    txn.delete("accounts", tid)
        txn = engine.begin()
        txn.insert("accounts", [-round_number - 1, "aborted", 0])
        txn.abort()
        if round_number == 2:
            engine.checkpoint()
            with engine.begin() as txn:
                txn.drop("scratch")
        if round_number % 2:
            engine.vacuum("accounts")


@pytest.mark.parametrize("consistency_checking", ["off", "on"])
def test_replayed_copy_is_byte_identical(cluster, tmp_path, consistency_checking):
    overrides = {"wal_consistency_checking": consistency_checking, "wal_keep_size": "1GB"}
    copy = str(tmp_path / "copy")
    shutil.copytree(cluster, copy)
    engine = Engine.open(cluster, overrides)
    workload(engine, seed=7)
    engine.close()
    shutil.rmtree(os.path.join(copy, "pg_wal"))
    shutil.copytree(os.path.join(cluster, "pg_wal"), os.path.join(copy, "pg_wal"))
    replica = Engine.open(copy, overrides)
    assert replica.recovery.records_replayed > 1000
    replica.close()
    comparisons, only_one_side = compare_clusters(cluster, copy)
    assert not only_one_side
    assert comparisons and all(c.identical for c in comparisons), [
        (c.path, c.differing_pages) for c in comparisons if not c.identical]
    assert run(cluster, copy, verbose=False) == 0


def test_compare_reports_a_differing_page(cluster, tmp_path, capsys):
    copy = str(tmp_path / "copy")
    shutil.copytree(cluster, copy)
    target = os.path.join(copy, "global", "1262")
    with open(target, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\xff")
    assert run(cluster, copy, verbose=False) == 1
    assert "global/1262: DIFFERENT" in capsys.readouterr().out
