"""Names of relation files: a RelFileNode and a fork number locate every data page.

A relation's main fork lives at ``base/<db>/<rel>`` (or ``global/<rel>`` for shared catalogs,
tablespace 1664 with db 0; a temporary table's at ``base/<db>/t<backend>_<rel>``), as in
PostgreSQL. WAL block references name pages by
(RelFileNode, fork, block number), 12 + 4 + 4 bytes on disk.
"""

from __future__ import annotations

from typing import NamedTuple

DEFAULT_TABLESPACE_OID = 1663
GLOBAL_TABLESPACE_OID = 1664

MAIN_FORKNUM = 0
FSM_FORKNUM = 1
VISIBILITYMAP_FORKNUM = 2
INIT_FORKNUM = 3
INVALID_BACKEND_ID = -1     # PostgreSQL's InvalidBackendId: not a temporary relation's file
FORK_NAMES = {MAIN_FORKNUM: "main", FSM_FORKNUM: "fsm", VISIBILITYMAP_FORKNUM: "vm",
              INIT_FORKNUM: "init"}


class RelFileNode(NamedTuple):
    spc: int
    db: int
    rel: int

    def relative_path(self, fork: int = MAIN_FORKNUM) -> str:
        """Path of the fork's first segment file, relative to the data directory."""
        if self.spc == GLOBAL_TABLESPACE_OID:
            base = f"global/{self.rel}"
        else:
            base = f"base/{self.db}/{self.rel}"
        return base if fork == MAIN_FORKNUM else f"{base}_{FORK_NAMES[fork]}"

    def __str__(self) -> str:
        return f"{self.spc}/{self.db}/{self.rel}"


class TempRelFileNode(RelFileNode):
    """A temporary relation's file (PostgreSQL's RelFileNodeBackend with a backend ID):
    ``base/<db>/t<backend>_<rel>``, of the session with that backend ID. Equal to the
    plain RelFileNode with the same numbers (relfilenodes are OIDs, unique in a database), so
    it keys the buffer pool and the storage manager like any other; it is never WAL-logged."""

    backend: int

    def __new__(cls, spc: int, db: int, rel: int, backend: int) -> TempRelFileNode:
        self = super().__new__(cls, spc, db, rel)
        self.backend = backend
        return self

    def relative_path(self, fork: int = MAIN_FORKNUM) -> str:
        base = f"base/{self.db}/t{self.backend}_{self.rel}"
        return base if fork == MAIN_FORKNUM else f"{base}_{FORK_NAMES[fork]}"

    def __getnewargs__(self) -> tuple[int, int, int, int]:  # type: ignore[override]
        return (self.spc, self.db, self.rel, self.backend)
