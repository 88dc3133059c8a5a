"""The shared services an access method works with, bundled so they are passed as one value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mirrordb.storage.relfilenode import RelFileNode

if TYPE_CHECKING:
    from mirrordb.access.xact import TransactionManager
    from mirrordb.storage.bufmgr import BufferPool
    from mirrordb.storage.smgr import StorageManager
    from mirrordb.wal.writer import WalWriter

WAL_LEVEL_MINIMAL = "minimal"
WAL_LEVEL_REPLICA = "replica"


@dataclass
class FreeSpaceMap:
    """In-memory hints of heap pages with room (PostgreSQL's FSM is a hint too; lost on restart,
    rebuilt by the next VACUUM). ``target`` is the page each relation currently fills."""

    target: dict[RelFileNode, int] = field(default_factory=dict)
    free_pages: dict[RelFileNode, set[int]] = field(default_factory=dict)

    def forget(self, rnode: RelFileNode) -> None:
        self.target.pop(rnode, None)
        self.free_pages.pop(rnode, None)


@dataclass
class AccessEnv:
    pool: BufferPool
    wal: WalWriter
    xacts: TransactionManager
    smgr: StorageManager
    wal_level: str = WAL_LEVEL_REPLICA
    fsm: FreeSpaceMap = field(default_factory=FreeSpaceMap)
