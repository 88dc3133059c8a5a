"""Unlogged relations' init forks: what an unlogged table, index or sequence is reset to.

Who calls it: the engine's DDL (engine.py ``Txn``) when it creates the file of an unlogged
relation (CREATE UNLOGGED TABLE, its indexes and sequences, TRUNCATE, ALTER TABLE ... SET
UNLOGGED), the B-tree's ``build_empty`` and the sequences' ``create``.
The other halves: access/env.py writes no WAL for an unlogged file's page changes, and
storage/reinit.py copies each init fork over its main fork when recovery ends.

As PostgreSQL does (heapam_relation_set_new_filenode, btbuildempty, fill_seq_with_data): the main
fork's creation is not WAL-logged; the init fork's is (SMGR CREATE for INIT_FORKNUM), and so are
its pages (full-page images: the empty B-tree's metapage and root, a sequence's first page; an
empty heap has none), so a standby and a crashed primary have it. The init fork is fsynced at
once: a later checkpoint may not cover it before a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mirrordb.common.errors import invariant
from mirrordb.storage.relfilenode import INIT_FORKNUM, MAIN_FORKNUM, RelFileNode
from mirrordb.wal import payloads
from mirrordb.wal.rmgr import RM_SMGR_ID, XLOG_SMGR_CREATE

if TYPE_CHECKING:
    from mirrordb.access.env import PageChangeLogger


def create_init_fork(changes: PageChangeLogger, rnode: RelFileNode) -> None:
    """``rnode``'s main fork was just created (not WAL-logged) for an unlogged relation: from
    now on its page changes write no WAL; create its empty init fork, WAL-logged and fsynced
    (all an unlogged heap's init fork ever holds)."""
    changes.mark_unlogged(rnode)
    changes.wal.insert(RM_SMGR_ID, XLOG_SMGR_CREATE,
                       payloads.SmgrCreate(rnode, INIT_FORKNUM).encode())
    smgr = changes.smgr
    invariant(smgr is not None, "an unlogged relation needs the storage manager")
    smgr.create(rnode, INIT_FORKNUM, exist_ok=True)


def copy_to_init_fork(changes: PageChangeLogger, rnode: RelFileNode) -> None:
    """An index or sequence of an unlogged relation has just written its empty state into its
    main fork: copy those pages into its (empty) init fork as full-page images, and fsync it."""
    changes.copy_relation_logged(rnode, rnode, MAIN_FORKNUM, INIT_FORKNUM)
    changes.pool.flush_relation(rnode)
    assert changes.smgr is not None
    changes.smgr.sync(rnode, INIT_FORKNUM)


def copy_relation(changes: PageChangeLogger, source: RelFileNode, target: RelFileNode) -> None:
    """Copy a table's pages into its new, empty file of another persistence (SET LOGGED /
    SET UNLOGGED): WAL-logged as full-page images into a logged file, without WAL into an
    unlogged one."""
    if not changes.never_logged(target):
        changes.copy_relation_logged(source, target)
        return
    pool = changes.pool
    with pool.lock:
        for blkno in range(pool.nblocks(source, MAIN_FORKNUM)):
            original = pool.read_buffer(source, MAIN_FORKNUM, blkno)
            try:
                copy = pool.extend(target, MAIN_FORKNUM)
                copy.page[:] = original.page
                pool.mark_dirty(copy)
                pool.release(copy)
            finally:
                pool.release(original)


__all__ = ["create_init_fork", "copy_to_init_fork", "copy_relation"]
