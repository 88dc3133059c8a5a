"""SELECT ... FOR UPDATE/SHARE with ORDER BY: rows are locked after they are sorted, so that a
LIMIT above locks only the rows it returns (PostgreSQL puts LockRows between Sort and Limit).

Who calls it: ``planner.PlanBuilder`` when a locking clause meets an ORDER BY (without
DISTINCT) that a Sort gives. Without ORDER BY, or when an index read in order gives it
(sql/ordered_scans.py), the lock sits directly on the scan (``executor.LockRows``) and the
pipeline is lazy anyway. The lock itself is ``Session.lock_row_versions`` (sql/session.py), over
``Txn.lock_row`` and the heap's ``lock_tuple`` (access/heapam.py), which apply NOWAIT and SKIP
LOCKED.

Why it matters: the job-queue pattern ``SELECT ... ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1``
must lock one job, not every job the sort saw, or concurrent workers would find nothing left.

How: ``CarryInput`` projects the select list and carries the scan row (with its ctid columns)
as one extra column through the sort; ``LockSortedRows`` locks that row's versions, drops the
carried column, and computes the select list again when READ COMMITTED moved to a newer version.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mirrordb.sql import executor as ex
from mirrordb.sql.expressions import Expr

Row = tuple[Any, ...]


@dataclass(eq=False)
class CarryInput(ex.PlanNode):
    """The select list's values followed by the input row they came from."""

    child: ex.PlanNode
    exprs: list[Expr]
    width: int = 0

    def rows(self, ctx: Any) -> Iterator[Row]:
        fns = [e.fn for e in self.exprs]
        for row in self.child.rows(ctx):
            yield tuple([fn(row, ctx) for fn in fns]) + (row,)

    def explain(self) -> tuple[str, list[ex.PlanNode]]:
        return self.child.explain()


@dataclass(eq=False)
class LockSortedRows(ex.PlanNode):
    """Locks the carried input row of each sorted row (``lock``'s targets, strength and
    recheck); emits the select list's values, recomputed on a newer version if one was
    locked, and skips rows the lock gave up on (deleted, or SKIP LOCKED)."""

    child: ex.PlanNode
    lock: ex.LockRows
    exprs: list[Expr]
    width: int = 0

    def rows(self, ctx: Any) -> Iterator[Row]:
        lock = self.lock
        for row in self.child.rows(ctx):
            carried = row[-1]
            locked = ctx.session.lock_row_versions(ctx, lock.targets, carried, lock.exclusive,
                                                   lock.recheck)
            if locked is None:
                continue
            if locked is carried:
                yield row[:-1]
            else:
                yield tuple([e.fn(locked, ctx) for e in self.exprs])

    def explain(self) -> tuple[str, list[ex.PlanNode]]:
        return "LockRows", [self.child]


def carry_input(source: ex.PlanNode, exprs: list[Expr]) -> CarryInput:
    return CarryInput(source, exprs, width=len(exprs) + 1)


def lock_sorted(sorted_plan: ex.PlanNode, lock: ex.LockRows, exprs: list[Expr]
                ) -> LockSortedRows:
    return LockSortedRows(sorted_plan, lock, exprs, width=len(exprs))


__all__ = ["CarryInput", "LockSortedRows", "carry_input", "lock_sorted"]
