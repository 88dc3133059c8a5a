"""Plan nodes: the executor's iterators (PostgreSQL's executor nodes, as Python generators).

Who calls it: the planner builds a tree of these once per statement (cached for prepared
statements); the session runs ``node.rows(ctx)`` per execution. Every node is immutable after
planning and keeps no per-execution state on itself, so one plan can serve many executions and
cursors at once; what varies per execution lives in the ``ExecContext``.

Rows are tuples. A scan of a table yields the table's values followed by the row's ``ctid`` (a
(block, offset) tuple), hidden from ``*`` but used by UPDATE, DELETE and FOR UPDATE. Loops that can
run long call ``ctx.check_interrupts()`` every ``INTERRUPT_CHECK_ROWS`` rows so query cancel and
statement_timeout stop a statement promptly.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.storage.datum import hashable_key
from mirrordb.sql.expressions import ExecContext, Expr, Row

INTERRUPT_CHECK_ROWS = 256


class PlanNode:
    """Base of the executor nodes: ``rows(ctx)`` and an EXPLAIN description."""

    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        raise NotImplementedError

    def explain(self) -> tuple[str, list[PlanNode]]:
        return type(self).__name__, []


@dataclass(eq=False)
class Result(PlanNode):
    """One empty row (SELECT without FROM)."""

    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        yield ()

    def explain(self) -> tuple[str, list[PlanNode]]:
        return "Result", []


@dataclass(eq=False)
class SeqScan(PlanNode):
    relation: Any
    alias: str
    qual: Expr | None = None
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        qual = self.qual.fn if self.qual is not None else None
        count = 0
        check = ctx.check_interrupts
        for tid, values in ctx.txn.scan(self.relation):
            count += 1
            if count % INTERRUPT_CHECK_ROWS == 0:
                check()
            row = (*values, tid)
            if qual is None or qual(row, ctx) is True:
                yield row

    def explain(self) -> tuple[str, list[PlanNode]]:
        name = self.relation.name
        label = f"Seq Scan on {name}" + (f" {self.alias}" if self.alias != name else "")
        return label + (" (filtered)" if self.qual is not None else ""), []


@dataclass(eq=False)
class IndexScan(PlanNode):
    """Rows whose leading index key lies between bounds evaluated at run time, in index
    order (highest first when ``backward``: sql/ordered_scans.py plans those)."""

    relation: Any
    index: Any
    alias: str
    low: list[Expr]
    high: list[Expr]
    low_inclusive: bool
    high_inclusive: bool
    qual: Expr | None = None
    width: int = 0
    backward: bool = False
    skip_nulls: bool = False     # IS NOT NULL on the key column after the high bound's

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        low = self._bound(self.low, ctx)
        high = low if self.high is self.low else self._bound(self.high, ctx)   # equality
        if low is False or high is False:
            return
        high_inclusive = self.high_inclusive
        if self.skip_nulls:      # NULLs sort last: stop before them
            high, high_inclusive = (*(high or ()), None), False
        qual = self.qual.fn if self.qual is not None else None
        count = 0
        check = ctx.check_interrupts
        for tid, values in ctx.txn.index_scan_relation(self.index, self.relation, low, high,
                                                       self.low_inclusive, high_inclusive,
                                                       self.backward):
            count += 1
            if count % INTERRUPT_CHECK_ROWS == 0:
                check()
            row = (*values, tid)
            if qual is None or qual(row, ctx) is True:
                yield row

    @staticmethod
    def _bound(exprs: list[Expr], ctx: ExecContext) -> tuple[Any, ...] | None | bool:
        """The bound's key values; None if unbounded, False if a value is NULL (no row)."""
        if not exprs:
            return None
        if len(exprs) == 1:
            value = exprs[0].fn((), ctx)
            return False if value is None else (value,)
        values = tuple([e.fn((), ctx) for e in exprs])
        return False if any(value is None for value in values) else values

    def explain(self) -> tuple[str, list[PlanNode]]:
        return f"Index Scan using {self.index.name} on {self.relation.name}", []


@dataclass(eq=False)
class ValuesScan(PlanNode):
    rows_exprs: list[list[Expr]]
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        for exprs in self.rows_exprs:
            yield tuple(e.fn((), ctx) for e in exprs)

    def explain(self) -> tuple[str, list[PlanNode]]:
        return "Values Scan", []


@dataclass(eq=False)
class FunctionScan(PlanNode):
    """A set-returning function in FROM: ``produce(ctx)`` yields its rows."""

    name: str
    produce: Callable[[ExecContext], Iterator[Row]]
    width: int = 1

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        check = ctx.check_interrupts
        for count, row in enumerate(self.produce(ctx)):
            if count % INTERRUPT_CHECK_ROWS == 0:
                check()
            yield row

    def explain(self) -> tuple[str, list[PlanNode]]:
        return f"Function Scan on {self.name}", []


@dataclass(eq=False)
class MaterializedRows(PlanNode):
    """Rows computed by Python code at execution time (system views)."""

    name: str
    produce: Callable[[ExecContext], list[Row]]
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        yield from self.produce(ctx)

    def explain(self) -> tuple[str, list[PlanNode]]:
        return f"Scan on {self.name}", []


@dataclass(eq=False)
class Filter(PlanNode):
    child: PlanNode
    qual: Expr
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        qual = self.qual.fn
        for row in self.child.rows(ctx):
            if qual(row, ctx) is True:
                yield row

    def explain(self) -> tuple[str, list[PlanNode]]:
        return "Filter", [self.child]


@dataclass(eq=False)
class NestLoop(PlanNode):
    """Joins by rescanning the inner side for every outer row (inner side materialized)."""

    left: PlanNode
    right: PlanNode
    join_type: str                 # inner | left | right | full
    qual: Expr | None
    left_width: int
    right_width: int
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        inner = list(self.right.rows(ctx))
        qual = self.qual.fn if self.qual is not None else None
        matched_inner = [False] * len(inner)
        null_right = (None,) * self.right_width
        check = ctx.check_interrupts
        for outer in self.left.rows(ctx):
            check()
            matched = False
            for i, right in enumerate(inner):
                row = outer + right
                if qual is None or qual(row, ctx) is True:
                    matched = True
                    matched_inner[i] = True
                    yield row
            if not matched and self.join_type in ("left", "full"):
                yield outer + null_right
        yield from _unmatched_inner(self.join_type, self.left_width, inner, matched_inner)

    def explain(self) -> tuple[str, list[PlanNode]]:
        kind = "" if self.join_type == "inner" else f" {self.join_type.capitalize()} Join"
        return "Nested Loop" + kind, [self.left, self.right]


@dataclass(eq=False)
class LateralNestLoop(PlanNode):
    """A join whose inner side reads the outer row (LATERAL, or a function in FROM over
    earlier items): the inner plan runs again for every outer row, with that row pushed on
    ``ctx.outer`` where its references find it. The inner rows of one outer row are gathered
    before any is passed up, so the nodes above never run with the row still pushed. Only
    inner and left joins can be lateral (PostgreSQL refuses the others at planning)."""

    left: PlanNode
    right: PlanNode
    join_type: str                 # inner | left
    qual: Expr | None
    left_width: int
    right_width: int
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        qual = self.qual.fn if self.qual is not None else None
        null_right = (None,) * self.right_width
        check = ctx.check_interrupts
        for outer in self.left.rows(ctx):
            check()
            ctx.outer.append(outer)
            try:
                inner = list(self.right.rows(ctx))
            finally:
                ctx.outer.pop()
            matched = False
            for right in inner:
                row = outer + right
                if qual is None or qual(row, ctx) is True:
                    matched = True
                    yield row
            if not matched and self.join_type == "left":
                yield outer + null_right

    def explain(self) -> tuple[str, list[PlanNode]]:
        kind = "" if self.join_type == "inner" else " Left Join"
        return "Nested Loop" + kind, [self.left, self.right]


@dataclass(eq=False)
class HashJoin(PlanNode):
    """Equi-join: hashes the inner side on its keys, probes with the outer side's."""

    left: PlanNode
    right: PlanNode
    join_type: str
    left_keys: list[Expr]
    right_keys: list[Expr]
    qual: Expr | None
    left_width: int
    right_width: int
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        table: dict[tuple[Any, ...], list[int]] = {}
        inner = list(self.right.rows(ctx))
        right_keys = [k.fn for k in self.right_keys]
        for i, right in enumerate(inner):
            key = hashable_key(tuple(fn(right, ctx) for fn in right_keys))
            if None not in key:
                table.setdefault(key, []).append(i)
        left_keys = [k.fn for k in self.left_keys]
        qual = self.qual.fn if self.qual is not None else None
        matched_inner = [False] * len(inner)
        null_right = (None,) * self.right_width
        count = 0
        for outer in self.left.rows(ctx):
            count += 1
            if count % INTERRUPT_CHECK_ROWS == 0:
                ctx.check_interrupts()
            key = hashable_key(tuple(fn(outer, ctx) for fn in left_keys))
            matched = False
            for i in table.get(key, ()) if None not in key else ():
                row = outer + inner[i]
                if qual is None or qual(row, ctx) is True:
                    matched = True
                    matched_inner[i] = True
                    yield row
            if not matched and self.join_type in ("left", "full"):
                yield outer + null_right
        yield from _unmatched_inner(self.join_type, self.left_width, inner, matched_inner)

    def explain(self) -> tuple[str, list[PlanNode]]:
        kind = "" if self.join_type == "inner" else f" {self.join_type.capitalize()}"
        return f"Hash{kind} Join", [self.left, self.right]


def _unmatched_inner(join_type: str, left_width: int, inner: list[Row],
                     matched: list[bool]) -> Iterator[Row]:
    """RIGHT and FULL joins: the inner rows no outer row matched, with NULLs on the left."""
    if join_type in ("right", "full"):
        null_left = (None,) * left_width
        for i, right in enumerate(inner):
            if not matched[i]:
                yield null_left + right


@dataclass(eq=False)
class Project(PlanNode):
    child: PlanNode
    exprs: list[Expr]
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        fns = [e.fn for e in self.exprs]
        if len(fns) == 1:
            fn = fns[0]
            for row in self.child.rows(ctx):
                yield (fn(row, ctx),)
            return
        for row in self.child.rows(ctx):
            yield tuple([fn(row, ctx) for fn in fns])

    def explain(self) -> tuple[str, list[PlanNode]]:
        return self.child.explain()


@dataclass(eq=False)
class ProjectSet(PlanNode):
    """Set-returning functions of a select list (PostgreSQL's ProjectSet): each input row
    followed by one value per function, one output row per row of the functions. They run in
    lockstep; one that has ended gives NULL until the last one ends, and an input row for which
    none returns a row gives none (sql/set_returning.py plans them)."""

    child: PlanNode
    functions: list[Callable[[Row, ExecContext], Iterable[Any]]]
    padding: int = 0     # NULLs after the row the functions see (read from the row's end)
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        functions = self.functions
        check = ctx.check_interrupts
        count = 0
        nulls = (None,) * self.padding
        for row in self.child.rows(ctx):
            seen = row + nulls if nulls else row
            for values in itertools.zip_longest(*[function(seen, ctx) for function in functions]):
                count += 1
                if count % INTERRUPT_CHECK_ROWS == 0:
                    check()
                yield row + values

    def explain(self) -> tuple[str, list[PlanNode]]:
        return "ProjectSet", [self.child]


@dataclass(eq=False)
class AggregateCall:
    definition: Any            # aggregates.ResolvedAggregate
    args: list[Expr]
    distinct: bool = False
    filter: Expr | None = None
    # ORDER BY inside the call: (expression, descending, nulls first) and each key's comparator
    order: list[tuple[Expr, bool, bool]] = field(default_factory=list)
    order_compare: list[Callable[[Any, Any], int]] = field(default_factory=list)
    # an ordered-set aggregate's direct arguments, evaluated once per group over its output
    # row's group keys (sql/ordered_set_aggregates.py)
    direct_args: list[Expr] = field(default_factory=list)


@dataclass(eq=False)
class Aggregate(PlanNode):
    """GROUP BY and aggregates: output rows are (group keys..., aggregate results...)."""

    child: PlanNode
    group_keys: list[Expr]
    calls: list[AggregateCall]
    having: Expr | None = None
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        key_fns = [k.fn for k in self.group_keys]
        groups: dict[tuple[Any, ...], list[Any]] = {}
        first_keys: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        count = 0
        for row in self.child.rows(ctx):
            count += 1
            if count % INTERRUPT_CHECK_ROWS == 0:
                ctx.check_interrupts()
            key = tuple([fn(row, ctx) for fn in key_fns])
            hashable = hashable_key(key)
            states = groups.get(hashable)
            if states is None:
                states = groups[hashable] = [_AggState(call) for call in self.calls]
                first_keys[hashable] = key
            for state in states:
                state.add(row, ctx)
        if not groups and not self.group_keys:
            groups[()] = [_AggState(call) for call in self.calls]
            first_keys[()] = ()
        having = self.having.fn if self.having is not None else None
        for hashable, states in groups.items():
            key = first_keys[hashable]
            out = key + tuple(state.result(key, ctx) for state in states)
            if having is None or having(out, ctx) is True:
                yield out

    def explain(self) -> tuple[str, list[PlanNode]]:
        return ("HashAggregate" if self.group_keys else "Aggregate"), [self.child]


@dataclass(eq=False)
class GroupingSetsAggregate(PlanNode):
    """GROUP BY with grouping sets (ROLLUP, CUBE, GROUPING SETS; sql/grouping_sets.py): the
    input grouped once per set. Output rows are (group keys..., mask, aggregate results...):
    a key outside the row's set is NULL, and bit ``k`` of ``mask`` is set when group key ``k``
    is not in it (what GROUPING() reads). An empty set makes one row even from no input."""

    child: PlanNode
    group_keys: list[Expr]
    calls: list[AggregateCall]
    sets: list[tuple[int, ...]]
    having: Expr | None = None
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        key_fns = [k.fn for k in self.group_keys]
        masks = [self._mask(members) for members in self.sets]
        groups: dict[tuple[int, tuple[Any, ...]], list[_AggState]] = {}
        count = 0
        for row in self.child.rows(ctx):
            count += 1
            if count % INTERRUPT_CHECK_ROWS == 0:
                ctx.check_interrupts()
            values = [fn(row, ctx) for fn in key_fns]
            for number, members in enumerate(self.sets):
                key = (number, tuple([values[k] for k in members]))
                states = groups.get(key)
                if states is None:
                    states = groups[key] = [_AggState(call) for call in self.calls]
                for state in states:
                    state.add(row, ctx)
        for number, members in enumerate(self.sets):
            if not members and (number, ()) not in groups:
                groups[(number, ())] = [_AggState(call) for call in self.calls]
        having = self.having.fn if self.having is not None else None
        for (number, values), states in groups.items():
            keys: list[Any] = [None] * len(key_fns)
            for position, value in zip(self.sets[number], values):
                keys[position] = value
            key_row = (*keys, masks[number])
            out = (*key_row, *(state.result(key_row, ctx) for state in states))
            if having is None or having(out, ctx) is True:
                yield out

    def _mask(self, members: tuple[int, ...]) -> int:
        return sum(1 << k for k in range(len(self.group_keys)) if k not in members)

    def explain(self) -> tuple[str, list[PlanNode]]:
        return "MixedAggregate", [self.child]


class _AggState:
    """One aggregate call's state in one group. With ORDER BY in the call, the inputs are kept
    (with their sort keys) and fed to the transition in that order when the result is asked
    for; FILTER applies as they come, strictness and DISTINCT as they are fed."""

    __slots__ = ("call", "state", "seen", "args", "strict", "ordered")

    def __init__(self, call: AggregateCall) -> None:
        self.call = call
        self.state = call.definition.definition.initial()
        self.seen: set[Any] | None = set() if call.distinct else None
        self.args = [a.fn for a in call.args]
        self.strict = call.definition.definition.strict
        self.ordered: list[tuple[tuple[Any, ...], list[Any]]] | None = \
            [] if call.order else None

    def add(self, row: Row, ctx: ExecContext) -> None:
        call = self.call
        if call.filter is not None and call.filter.fn(row, ctx) is not True:
            return
        values = [fn(row, ctx) for fn in self.args]
        if self.ordered is not None:
            self.ordered.append((tuple(key.fn(row, ctx) for key, _, _ in call.order), values))
            return
        self._feed(values)

    def _feed(self, values: list[Any]) -> None:
        if self.strict and None in values:
            return
        if self.seen is not None:
            key = hashable_key(tuple(values))
            if key in self.seen:
                return
            self.seen.add(key)
        self.state = self.call.definition.definition.transition(self.state, *values)

    def result(self, key_row: Row, ctx: ExecContext) -> Any:
        """The group's value; ``key_row`` (the group keys) is what direct arguments read."""
        if self.ordered:
            call = self.call
            directions = [(desc, nulls_first) for _, desc, nulls_first in call.order]
            self.ordered.sort(key=functools.cmp_to_key(
                lambda a, b: compare_sort_keys(a[0], b[0], directions, call.order_compare)))
            for _, values in self.ordered:
                self._feed(values)
            self.ordered = []
        final = self.call.definition.definition.final
        if self.call.direct_args:
            return final(self.state, *(arg.fn(key_row, ctx) for arg in self.call.direct_args))
        return final(self.state)


def compare_sort_keys(left: tuple[Any, ...], right: tuple[Any, ...],
                      directions: list[tuple[bool, bool]],
                      compares: list[Callable[[Any, Any], int]]) -> int:
    """ORDER BY's comparison of two rows' keys: each key in turn, with its direction and where
    its NULLs go."""
    for x, y, (desc, nulls_first), cmp in zip(left, right, directions, compares):
        if x is None or y is None:
            if x is None and y is None:
                continue
            return (1 if x is None else -1) * (-1 if nulls_first else 1)
        result = cmp(x, y)
        if result:
            return -result if desc else result
    return 0


@dataclass(eq=False)
class Sort(PlanNode):
    """Sorts on keys: (expression, descending, nulls_first)."""

    child: PlanNode
    keys: list[tuple[Expr, bool, bool]]
    compare: list[Callable[[Any, Any], int]]
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        rows = list(self.child.rows(ctx))
        ctx.check_interrupts()
        decorated = [(tuple(k.fn(row, ctx) for k, _, _ in self.keys), row) for row in rows]
        directions = [(desc, nulls_first) for _, desc, nulls_first in self.keys]
        compares = self.compare

        def order(a: tuple[tuple[Any, ...], Row], b: tuple[tuple[Any, ...], Row]) -> int:
            return compare_sort_keys(a[0], b[0], directions, compares)
        decorated.sort(key=functools.cmp_to_key(order))
        for _, row in decorated:
            yield row

    def explain(self) -> tuple[str, list[PlanNode]]:
        return "Sort", [self.child]


@dataclass(eq=False)
class Unique(PlanNode):
    """DISTINCT (all columns) or DISTINCT ON (the first ``key_count`` columns)."""

    child: PlanNode
    key_count: int | None = None
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        seen: set[tuple[Any, ...]] = set()
        for row in self.child.rows(ctx):
            key = row if self.key_count is None else row[:self.key_count]
            hashable = hashable_key(key)
            if hashable not in seen:
                seen.add(hashable)
                yield row

    def explain(self) -> tuple[str, list[PlanNode]]:
        return "Unique", [self.child]


@dataclass(eq=False)
class Limit(PlanNode):
    child: PlanNode
    count: Expr | None
    offset: Expr | None
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        count = self.count.fn((), ctx) if self.count is not None else None
        offset = self.offset.fn((), ctx) if self.offset is not None else 0
        if count is not None and count < 0:
            raise MirrordbError("LIMIT must not be negative", sqlstate="2201W")
        if offset is not None and offset < 0:
            raise MirrordbError("OFFSET must not be negative", sqlstate="2201X")
        offset = offset or 0
        if count == 0:
            return
        produced = 0
        for index, row in enumerate(self.child.rows(ctx)):
            if index < offset:
                continue
            yield row
            produced += 1
            if count is not None and produced >= count:
                return

    def explain(self) -> tuple[str, list[PlanNode]]:
        return "Limit", [self.child]


@dataclass(eq=False)
class SetOperation(PlanNode):
    """UNION / INTERSECT / EXCEPT, with or without ALL."""

    op: str
    all: bool
    left: PlanNode
    right: PlanNode
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        if self.op == "union":
            if self.all:
                yield from self.left.rows(ctx)
                yield from self.right.rows(ctx)
                return
            seen: set[Row] = set()
            for source in (self.left, self.right):
                for row in source.rows(ctx):
                    key = hashable_key(row)
                    if key not in seen:
                        seen.add(key)
                        yield row
            return
        right_counts: dict[Row, int] = {}
        for row in self.right.rows(ctx):
            key = hashable_key(row)
            right_counts[key] = right_counts.get(key, 0) + 1
        emitted: set[Row] = set()
        for row in self.left.rows(ctx):
            key = hashable_key(row)
            present = right_counts.get(key, 0) > 0
            if self.op == "intersect" and present:
                if self.all:
                    right_counts[key] -= 1
                    yield row
                elif key not in emitted:
                    emitted.add(key)
                    yield row
            elif self.op == "except":
                if self.all:
                    if present:
                        right_counts[key] -= 1
                    else:
                        yield row
                elif not present and key not in emitted:
                    emitted.add(key)
                    yield row

    def explain(self) -> tuple[str, list[PlanNode]]:
        return self.op.capitalize() + (" All" if self.all else ""), [self.left, self.right]


@dataclass(eq=False)
class LockRows(PlanNode):
    """SELECT ... FOR UPDATE/SHARE: locks each emitted row's table versions, rechecking under RC."""

    child: PlanNode
    # (relation, ctid column index, LockWaitPolicy, RowLockMode)
    targets: list[tuple[Any, int, int, int]]
    exclusive: bool
    recheck: Expr | None = None      # the WHERE clause, re-tested on a newer version
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        for row in self.child.rows(ctx):
            locked = ctx.session.lock_row_versions(ctx, self.targets, row, self.exclusive,
                                                   self.recheck)
            if locked is not None:
                yield locked

    def explain(self) -> tuple[str, list[PlanNode]]:
        return "LockRows", [self.child]


def explain_lines(node: PlanNode, indent: int = 0) -> list[str]:
    while isinstance(node, Project):    # shown as its input, init plans included
        node = node.child
    label, children = node.explain()
    prefix = "" if indent == 0 else " " * (indent * 6 - 4) + "->  "
    lines = [prefix + label]
    for init_label, plan in getattr(node, "init_plans", ()):   # "InitPlan 1 (returns $0)"
        lines.append(" " * (indent * 6 + 2) + init_label)
        lines.extend("  " + line for line in explain_lines(plan, indent + 1))
    for child in children:
        lines.extend(explain_lines(child, indent + 1))
    return lines


def run_to_list(node: PlanNode, ctx: ExecContext) -> list[Row]:
    return list(node.rows(ctx))


__all__ = ["PlanNode", "Result", "SeqScan", "IndexScan", "ValuesScan", "FunctionScan", "Filter",
           "NestLoop", "HashJoin", "Project", "ProjectSet", "Aggregate", "AggregateCall", "Sort",
           "Unique", "Limit", "SetOperation", "LockRows", "MaterializedRows", "explain_lines",
           "run_to_list", "Sequence"]
