"""Unlogged and temporary relations below SQL: an unlogged B-tree writes its init fork once
(WAL-logged) and then no WAL for thousands of inserts; a temporary relation's file name and
identity; the reset passes over a database directory (storage/reinit.py) and the start-up
removal of temporary files."""

from __future__ import annotations

import os
from pathlib import Path

from mirrordb.access.nbtree import BTree
from mirrordb.access.unlogged import create_init_fork
from mirrordb.storage import datum, reinit
from mirrordb.storage.relfilenode import INIT_FORKNUM, MAIN_FORKNUM, RelFileNode, TempRelFileNode
from tests.unit.test_page_change_logger import setup

UNLOGGED = RelFileNode(1663, 5, 16384)
PERMANENT = RelFileNode(1663, 5, 16390)


def test_unlogged_btree_logs_its_init_fork_and_nothing_else(tmp_path: Path) -> None:
    smgr, pool, wal, logger = setup(tmp_path, "replica")
    smgr.create(UNLOGGED, MAIN_FORKNUM)
    create_init_fork(logger, UNLOGGED)
    tree = BTree(pool, wal, UNLOGGED, [datum.INT8_OID], unique=False, change_logger=logger)
    tree.build_empty()
    after_creation = wal.insert_lsn
    assert smgr.nblocks(UNLOGGED, INIT_FORKNUM) == 2           # metapage and empty root
    for key in range(3000):
        tree.insert((key,), (key // 100, key % 100 + 1))
    assert wal.insert_lsn == after_creation                    # no WAL for the data
    assert pool.nblocks(UNLOGGED, MAIN_FORKNUM) > 2
    assert logger.never_logged(UNLOGGED) and not logger.needs_wal(UNLOGGED)
    assert logger.needs_wal(PERMANENT) and not logger.is_unlogged(PERMANENT)


def test_temp_relation_file_names(tmp_path: Path) -> None:
    temp = TempRelFileNode(1663, 5, 16400, 3)
    assert temp.relative_path() == "base/5/t3_16400"
    assert temp.relative_path(INIT_FORKNUM) == "base/5/t3_16400_init"
    assert temp == RelFileNode(1663, 5, 16400) and hash(temp) == hash(RelFileNode(1663, 5, 16400))
    _, _, _, logger = setup(tmp_path, "replica")
    assert logger.never_logged(temp) and not logger.is_unlogged(temp)
    assert reinit.is_temp_relation_file("t3_16400") and reinit.is_temp_relation_file("t12_5_fsm")
    assert not reinit.is_temp_relation_file("16400") and not reinit.is_temp_relation_file("t3")


def _files(directory: Path, names: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in names.items():
        (directory / name).write_bytes(content)


def test_reset_passes_and_temp_file_removal(tmp_path: Path) -> None:
    smgr, pool, _, _ = setup(tmp_path, "replica")
    database = tmp_path / "base" / "5"
    page = bytes(8192)
    _files(database, {"16384": page * 3, "16384_init": page, "16384_fsm": page,
                      "16384.1": page, "16390": page * 2, "16390_fsm": page,
                      "t3_16400": page, "t3_16400_fsm": page, "PG_VERSION": b"15\n"})
    assert reinit.unlogged_relations_in(str(database)) == {16384}
    assert reinit.remove_temp_relation_files(str(tmp_path)) == 2
    assert reinit.reset_unlogged_relations(pool, reinit.CLEANUP) == [UNLOGGED]
    assert sorted(os.listdir(database)) == ["16384_init", "16390", "16390_fsm", "PG_VERSION"]
    assert reinit.reset_unlogged_relations(pool, reinit.INIT) == [UNLOGGED]
    assert (database / "16384").read_bytes() == page              # the init fork's copy
    assert (database / "16390").read_bytes() == page * 2          # a logged relation: kept
    assert reinit.is_unlogged_data_file("16384_vm", {16384})
    assert not reinit.is_unlogged_data_file("16384_init", {16384})
    assert not reinit.is_unlogged_data_file("16390", {16384})
