"""MVCC snapshots and the visibility rules for heap tuples.

A snapshot is PostgreSQL's triple: ``xmin`` (every xid below it had finished when the snapshot was
taken), ``xmax`` (every xid at or above it had not started) and ``xip`` (the xids in between that
were still running, subtransactions included). A transaction id is "in progress for the snapshot"
if it is ``>= xmax`` or in ``xip``; otherwise its fate is read from the commit log.

``TupleVisibility`` decides whether a tuple version (xmin, xmax, cid, lock-only flag) is visible to
a snapshot taken by a transaction, honouring the transaction's own changes by command id
(PostgreSQL's HeapTupleSatisfiesMVCC without hint bits: mirrordb never writes unlogged bits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Snapshot:
    xmin: int
    xmax: int
    xip: frozenset[int]

    def in_progress(self, xid: int) -> bool:
        return xid >= self.xmax or (xid >= self.xmin and xid in self.xip)


class OwnChanges:
    """What a transaction knows about its own writes: its live xids and command ids.

    ``xids`` holds the top-level xid and the xids of subtransactions not rolled back.
    A tuple's ``t_cid`` is the inserting or deleting command id, or a combo id (flag
    HEAP_COMBOCID) mapping to (cmin, cmax) when the transaction both inserted and deleted it.
    """

    def __init__(self) -> None:
        self.xids: set[int] = set()
        self.command_id = 0
        self._combos: list[tuple[int, int]] = []
        self._combo_index: dict[tuple[int, int], int] = {}

    def combo_id(self, cmin: int, cmax: int) -> int:
        key = (cmin, cmax)
        index = self._combo_index.get(key)
        if index is None:
            index = len(self._combos)
            self._combos.append(key)
            self._combo_index[key] = index
        return index

    def cmin(self, cid: int, is_combo: bool) -> int:
        return self._combos[cid][0] if is_combo else cid

    def cmax(self, cid: int, is_combo: bool) -> int:
        return self._combos[cid][1] if is_combo else cid


def tuple_visible(xmin: int, xmax: int, cid: int, is_combo: bool, xmax_is_lock_only: bool,
                  snapshot: Snapshot, own: OwnChanges | None,
                  committed: Callable[[int], bool]) -> bool:
    """MVCC visibility of one tuple version (see the module docstring)."""
    own_xids = own.xids if own is not None else ()
    if xmin in own_xids:
        assert own is not None
        if own.cmin(cid, is_combo) >= own.command_id:
            return False
    elif snapshot.in_progress(xmin) or not committed(xmin):
        return False
    if xmax == 0 or xmax_is_lock_only:
        return True
    if xmax in own_xids:
        assert own is not None
        return own.cmax(cid, is_combo) >= own.command_id
    if snapshot.in_progress(xmax):
        return True
    return not committed(xmax)
