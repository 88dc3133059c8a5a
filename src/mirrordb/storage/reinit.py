"""Resetting unlogged relations after a crash: PostgreSQL's ResetUnloggedRelations (reinit.c).

An unlogged relation's pages are never WAL-logged, so after a crash (or on a standby, which never
received them) its main fork cannot be trusted. What is logged is its *init fork*,
``<relfilenode>_init``: the relation as it was when created (empty heap, empty B-tree with its
metapage, a sequence's first page), written with SMGR CREATE and full-page images at creation
(access/unlogged.py). Who calls this module: recovery/startup.py, in two passes, as PostgreSQL's
StartupXLOG does:

* ``CLEANUP`` before redo: every fork but the init fork of each relation that has one is removed
  (its main fork, free space map, visibility map, and their later segments);
* ``INIT`` when recovery ends (crash recovery, or a standby's promotion): each init fork's
  segments are copied to the main fork's names and fsynced, so the relation starts empty.

A clean shutdown runs neither (no recovery), so unlogged data survives a restart. Temporary
relations' files (``t<backend>_<relfilenode>``), which no session outlives, are removed at every
start-up (``remove_temp_relation_files``). The passes find
the unlogged relations by file name, under ``base/<db>/`` (``global/`` holds no unlogged
relation): the catalogs are not readable before redo. They change the files through the storage
manager and the buffer pool, which forget what they cached of the removed forks.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from mirrordb.storage.relfilenode import (DEFAULT_TABLESPACE_OID, FSM_FORKNUM, INIT_FORKNUM,
                                          MAIN_FORKNUM, VISIBILITYMAP_FORKNUM, RelFileNode)

if TYPE_CHECKING:
    from mirrordb.storage.bufmgr import BufferPool
    from mirrordb.storage.smgr import StorageManager

CLEANUP = "cleanup"       # PostgreSQL's UNLOGGED_RELATION_CLEANUP
INIT = "init"             # PostgreSQL's UNLOGGED_RELATION_INIT

# <relfilenode>[_<fork>][.<segment>], as smgr names a relation's files
_FILE_NAME = re.compile(r"^(\d+)(?:_(fsm|vm|init))?(?:\.(\d+))?$")
# t<backend ID>_<relfilenode>[_<fork>][.<segment>]: a temporary relation's files
_TEMP_FILE_NAME = re.compile(r"^t\d+_\d+(?:_(?:fsm|vm|init))?(?:\.\d+)?$")


def _database_directories(datadir: str) -> list[tuple[int, str]]:
    base = os.path.join(datadir, "base")
    if not os.path.isdir(base):
        return []
    return [(int(name), os.path.join(base, name)) for name in sorted(os.listdir(base))
            if name.isdigit()]


def unlogged_relations_in(directory: str) -> set[int]:
    """The relfilenodes in a database directory that have an init fork."""
    found = set()
    for name in os.listdir(directory):
        match = _FILE_NAME.match(name)
        if match and match.group(2) == "init":
            found.add(int(match.group(1)))
    return found


def is_unlogged_data_file(name: str, unlogged: set[int]) -> bool:
    """Whether file ``name`` of a database directory is a fork other than the init fork of a
    relation in ``unlogged`` (what a base backup skips and ``mirrordb compare`` ignores)."""
    match = _FILE_NAME.match(name)
    return bool(match) and int(match.group(1)) in unlogged and match.group(2) != "init"


def is_temp_relation_file(name: str) -> bool:
    """PostgreSQL's looks_like_temp_rel_name: a temporary relation's file."""
    return bool(_TEMP_FILE_NAME.match(name))


def remove_temp_relation_files(datadir: str) -> int:
    """Remove the temporary relations' files a crash left (PostgreSQL's
    RemovePgTempRelationFiles, at every start-up: no session survives a restart); how many."""
    removed = 0
    for _, directory in _database_directories(datadir):
        for name in os.listdir(directory):
            if is_temp_relation_file(name):
                os.unlink(os.path.join(directory, name))
                removed += 1
    return removed


def reset_unlogged_relations(pool: BufferPool, op: str) -> list[RelFileNode]:
    """Run one pass (``CLEANUP`` or ``INIT``) over every database directory of the pool's data
    directory; returns the relations it reset. The pool forgets their non-init forks' pages;
    the init pass first writes the init forks' pages redo left in the pool (PostgreSQL's redo
    writes them at once)."""
    smgr = pool.smgr
    relations = [RelFileNode(DEFAULT_TABLESPACE_OID, database_oid, rel)
                 for database_oid, directory in _database_directories(smgr.datadir)
                 for rel in sorted(unlogged_relations_in(directory))]
    for rnode in relations:
        if op == INIT:
            pool.flush_relation(rnode)
        for fork in (MAIN_FORKNUM, FSM_FORKNUM, VISIBILITYMAP_FORKNUM):
            pool.drop_relation(rnode, fork)
            smgr.unlink(rnode, fork)
        if op == INIT:
            _copy_init_fork(smgr, rnode)
    return relations


def _copy_init_fork(smgr: StorageManager, rnode: RelFileNode) -> None:
    smgr.create(rnode, MAIN_FORKNUM, exist_ok=True)
    for blkno in range(smgr.nblocks(rnode, INIT_FORKNUM)):
        smgr.write(rnode, MAIN_FORKNUM, blkno, smgr.read(rnode, INIT_FORKNUM, blkno))
    smgr.sync(rnode, MAIN_FORKNUM)


__all__ = ["CLEANUP", "INIT", "reset_unlogged_relations", "unlogged_relations_in",
           "is_unlogged_data_file", "is_temp_relation_file", "remove_temp_relation_files"]
