"""Ordered index scans: a B-tree read in key order instead of a Sort, and min()/max() read
from one end of an index (PostgreSQL's index pathkeys and its MinMaxAgg rewrite).

Who calls it: the planner (sql/planner.py). ``PlanBuilder._finish`` asks ``ordered_scan``
whether an index of the one table a query reads gives its ORDER BY, and drops the Sort when
one does; ``_plan_select`` asks ``min_max_result`` to replace an Aggregate whose calls are all
min/max of indexed columns. The other half is the executor's IndexScan (``backward``,
``skip_nulls``) over the engine's ``index_scan_relation`` and the B-tree's forward and
backward cursors (access/nbtree.py): they read the index leaf by leaf and fetch each heap row
only when the node above asks for it, so a Limit stops the scan after the rows it needs.

Which order an index gives. The entries are kept ascending, NULLs last, in every key column,
whatever pg_index.indoption says; so a forward scan gives ``ASC NULLS LAST`` in every column
and a backward scan ``DESC NULLS FIRST``. An ORDER BY is given by an index when, after
dropping the keys the WHERE fixes to one value (``col = constant`` on an index column),
its keys are in order the index's key columns that remain after those fixed ones, each
``ASC NULLS LAST`` (forward) or each ``DESC NULLS FIRST`` (backward), and each as the
index's declared options or all as their reverse (PostgreSQL would not use the index
otherwise; EXPLAIN names the scan by that declared direction: a DESC index read for ORDER BY
x DESC is "Index Scan", though its entries are read from the high end). An index key
matches a plain column reference, or an expression written as the index's expression
(``ORDER BY lower(name)``). Key types whose B-tree order is not the sort's (bpchar, jsonb,
arrays, records, and user types: an enum's entries are not in its sort order) never give an
order.

When it is used (mirrordb has no costs). With a LIMIT, the ordered index with the most
WHERE bounds is read in order, unless the WHERE already picked a full unique key lookup
(one row: a Sort costs nothing). Without a LIMIT, only when the WHERE already chose that
index for its bounds (reading it in order costs nothing more); otherwise the table is read
and sorted, which is cheaper than a heap fetch per row on a large unselective scan.

min()/max(): when the query has no GROUP BY and every aggregate is a plain min or max of a
column some index gives in order, each call becomes an init plan reading the first row of
``WHERE <the query's conditions> AND col IS NOT NULL ORDER BY col [DESC] LIMIT 1`` (a
backward scan starts before the NULLs); EXPLAIN shows PostgreSQL's shape with mirrordb's
scan names: ``Result / InitPlan 1 (returns $0) / -> Limit / -> Index Scan Backward ...``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mirrordb.access.relation import EXPRESSION_COLUMN, IndexInfo
from mirrordb.sql import executor as ex
from mirrordb.sql import index_expressions
from mirrordb.sql import types as T
from mirrordb.sql.expressions import BOOL, INT8, ExecContext, Expr, Row, Scope, and_exprs, const
from mirrordb.sql.parser import Node

if TYPE_CHECKING:
    from mirrordb.sql.planner import PlanBuilder, _FromItem

INDOPTION_DESC = 1
INDOPTION_NULLS_FIRST = 2
# A unique index's every key column bound by equality: one row at most, sorting is free.
UNIQUE_LOOKUP_SCORE = 1000


@dataclass(frozen=True)
class OrderKey:
    """One ORDER BY key as an index can give it: a column of the scan's row or an expression
    (normalized as index_expressions does), its type and direction. ``nulls_matter`` is False
    for min/max, whose scans skip NULLs."""

    column: int | None
    tree: Any
    type_oid: int
    descending: bool
    nulls_first: bool
    nulls_matter: bool = True


def order_key(builder: PlanBuilder, scope: Scope, expr: Expr, node: Node | None,
              descending: bool, nulls_first: bool) -> OrderKey:
    """The ORDER BY key of compiled ``expr`` (written as ``node``, when known)."""
    tree = None
    if expr.column is None and node is not None:
        tree = index_expressions.normalized(node, index_expressions.scope_resolver(scope))
    return OrderKey(expr.column, tree, expr.type_oid, descending, nulls_first)


@dataclass
class _Candidate:
    """An index that gives the wanted order, with the scan that reads it so."""

    info: IndexInfo
    score: int
    low: list[Expr]
    high: list[Expr]
    low_inclusive: bool
    high_inclusive: bool
    backward: bool
    declared_backward: bool
    skip_nulls: bool


def ordered_scan(builder: PlanBuilder, item: _FromItem, keys: list[OrderKey],
                 has_limit: bool) -> ex.PlanNode | None:
    """The scan of ``item`` (one table's, conditions pushed in) that gives ``keys``' order,
    when the rules above choose one; None to sort."""
    current = item.node
    if item.base is None or not isinstance(current, (ex.SeqScan, ex.IndexScan)):
        return None
    candidates = _candidates(builder, item, keys)
    if not candidates:
        return None
    if isinstance(current, ex.IndexScan):
        chosen = [c for c in candidates if c.info.relation.oid == current.index.oid]
        if chosen and (not has_limit or chosen[0].score >= UNIQUE_LOOKUP_SCORE):
            return _scan(item, chosen[0], current.qual)
        if _unique_lookup(builder, item, current):
            return None
    if not has_limit:
        return None
    best = max(candidates, key=lambda c: c.score)    # the first of equals: lowest OID
    return _scan(item, best, current.qual)


def _unique_lookup(builder: PlanBuilder, item: _FromItem, scan: ex.IndexScan) -> bool:
    info = next(i for i in item.base.indexes if i.relation.oid == scan.index.oid)  # type: ignore
    if not info.unique:
        return False
    return all(_equal_bound(builder, item, info, p) is not None
               for p in range(len(info.key_columns)))


def _candidates(builder: PlanBuilder, item: _FromItem, keys: list[OrderKey]
                ) -> list[_Candidate]:
    assert item.base is not None
    if any(_unordered_type(key.type_oid) for key in keys):
        return []
    resolve = index_expressions.scope_resolver(item.scope)
    conditions = [part for part, _ in item.scan_quals]
    found = []
    for info in item.base.indexes:
        if index_expressions.usable(info, conditions, resolve):
            candidate = _match(builder, item, info, keys)
            if candidate is not None:
                found.append(candidate)
    return found


def _unordered_type(type_oid: int) -> bool:
    """Types whose B-tree entries sort otherwise than ORDER BY sorts their values (or may:
    an enum's entries are not in its labels' sort order; domains and composites follow)."""
    return type_oid in (T.BPCHAR_OID, T.JSONB_OID) or bool(T.element_type_of(type_oid)) \
        or T.is_row_type(type_oid) or type_oid >= T.FIRST_USER_TYPE_OID


def _match(builder: PlanBuilder, item: _FromItem, info: IndexInfo, keys: list[OrderKey]
           ) -> _Candidate | None:
    """The scan of ``info`` giving ``keys``' order, or None."""
    count = len(info.key_columns)
    equal = [_equal_bound(builder, item, info, p) for p in range(count)]
    trees = [index_expressions.key_tree(info, p) for p in range(count)]
    wanted = [k for k in keys if not any(
        e is not None and _matches(info, p, trees[p], k) for p, e in enumerate(equal))]
    directions: set[tuple[bool, bool]] = set()
    position = 0
    for key in wanted:
        while position < count and equal[position] is not None:
            position += 1
        if position == count or not _matches(info, position, trees[position], key):
            return None
        direction = _direction(info, position, key)
        if direction is None:
            return None
        directions.add(direction)
        position += 1
    if len(directions) > 1:
        return None
    backward, declared_backward = directions.pop() if directions else (False, False)
    return _bounded(builder, item, info, equal, wanted, backward, declared_backward)


def _matches(info: IndexInfo, position: int, tree: Any, key: OrderKey) -> bool:
    if info.relation.columns[position].type_oid != key.type_oid:
        return False
    column = info.key_columns[position]
    if column == EXPRESSION_COLUMN:
        return key.tree is not None and key.tree == tree
    return key.column == column


def _direction(info: IndexInfo, position: int, key: OrderKey) -> tuple[bool, bool] | None:
    """(read backward, backward by the declared options) for ``key`` on this column; None
    when neither the entries' order nor the declared one gives it."""
    backward = key.descending
    if key.nulls_matter and key.nulls_first != backward:
        return None           # the entries give ASC NULLS LAST or DESC NULLS FIRST only
    options = info.options[position] if position < len(info.options) else 0
    declared_descending = bool(options & INDOPTION_DESC)
    declared_nulls_first = bool(options & INDOPTION_NULLS_FIRST)
    if key.nulls_matter and declared_descending != declared_nulls_first:
        return None           # PostgreSQL would sort: not the declared order nor its reverse
    return backward, key.descending != declared_descending


def _equal_bound(builder: PlanBuilder, item: _FromItem, info: IndexInfo,
                 position: int) -> Expr | None:
    bounds = builder._bounds_for_key(item, item.scan_quals, info, position)
    return None if bounds is None else bounds[0]


def _bounded(builder: PlanBuilder, item: _FromItem, info: IndexInfo,
             equal: list[Expr | None], wanted: list[OrderKey], backward: bool,
             declared_backward: bool) -> _Candidate:
    """The bounds of the scan: the leading columns fixed by equalities, then the range the
    conditions put on the next column."""
    prefix: list[Expr] = []
    for bound in equal:
        if bound is None:
            break
        prefix.append(bound)
    count = len(info.key_columns)
    score = 2 * len(prefix)
    if len(prefix) == count:
        if info.unique:
            score += UNIQUE_LOOKUP_SCORE
        return _Candidate(info, score, prefix, prefix, True, True, backward, declared_backward,
                          False)
    low, high = list(prefix), list(prefix)
    low_inclusive = high_inclusive = True
    bounds = builder._bounds_for_key(item, item.scan_quals, info, len(prefix))
    if bounds is not None:
        _, low_bound, high_bound, low_inclusive, high_inclusive = bounds
        if low_bound is not None:
            low.append(low_bound)
            score += 1
        else:
            low_inclusive = True
        if high_bound is not None:
            high.append(high_bound)
            score += 1
        else:
            high_inclusive = True
    skip_nulls = bool(wanted) and not wanted[0].nulls_matter and len(high) == len(prefix)
    return _Candidate(info, score, low, high, low_inclusive, high_inclusive, backward,
                      declared_backward, skip_nulls)


def _scan(item: _FromItem, candidate: _Candidate, qual: Expr | None) -> ex.IndexScan:
    assert item.base is not None
    return OrderedIndexScan(item.base, candidate.info.relation, item.alias, candidate.low,
                            candidate.high, candidate.low_inclusive, candidate.high_inclusive,
                            qual, width=item.scope.width, backward=candidate.backward,
                            skip_nulls=candidate.skip_nulls,
                            declared_backward=candidate.declared_backward)


def replace_scan(source: ex.PlanNode, old: ex.PlanNode, new: ex.PlanNode) -> ex.PlanNode | None:
    """``source`` with its scan ``old`` replaced by ``new`` (directly, or under the Filter of
    the conditions a scan cannot evaluate); None for another shape."""
    if source is old:
        return new
    if isinstance(source, ex.Filter) and source.child is old:
        return replace(source, child=new)
    return None


@dataclass(eq=False)
class OrderedIndexScan(ex.IndexScan):
    """An IndexScan planned for its order: EXPLAIN names the direction by the index's
    declared options (PostgreSQL's), which a DESC index reverses."""

    declared_backward: bool = False

    def explain(self) -> tuple[str, list[ex.PlanNode]]:
        label, children = super().explain()
        if self.declared_backward:
            label = label.replace("Index Scan", "Index Scan Backward", 1)
        return label, children


# -- min() and max() -----------------------------------------------------------------------------


def min_max_result(builder: PlanBuilder, node: Node, item: _FromItem | None,
                   aggregate: ex.PlanNode) -> ex.PlanNode | None:
    """PostgreSQL's MinMaxAgg: ``aggregate`` (no GROUP BY) replaced by one row whose values
    are read from one end of an index each; None when a call is not such a min/max."""
    if item is None or item.base is None or node.get("groupClause") or \
            node.get("lockingClause") or \
            type(aggregate) is not ex.Aggregate or aggregate.group_keys or not aggregate.calls:
        return None
    old = item.node
    if not isinstance(old, (ex.SeqScan, ex.IndexScan)) or \
            replace_scan(aggregate.child, old, old) is None:
        return None
    plans: list[tuple[ex.PlanNode, Expr]] = []
    positions: list[int] = []
    seen: dict[tuple[str, int | None], int] = {}      # max(id) twice: one init plan
    for call in aggregate.calls:
        same = (call.definition.definition.name, call.args[0].column if call.args else None)
        if same not in seen:
            plan = _first_value_plan(builder, item, aggregate.child, call)
            if plan is None:
                return None
            seen[same] = len(plans)
            plans.append(plan)
        positions.append(seen[same])
    return MinMaxResult(plans, positions, aggregate.having, width=aggregate.width)


def _first_value_plan(builder: PlanBuilder, item: _FromItem, source: ex.PlanNode,
                      call: ex.AggregateCall) -> tuple[ex.PlanNode, Expr] | None:
    name = call.definition.definition.name
    if name not in ("min", "max") or call.distinct or call.filter is not None or call.order \
            or len(call.args) != 1 or call.args[0].column is None:
        return None
    argument = call.args[0]
    key = OrderKey(argument.column, None, argument.type_oid, name == "max", name == "max",
                   nulls_matter=False)
    candidates = _candidates(builder, item, [key])
    old = item.node
    assert isinstance(old, (ex.SeqScan, ex.IndexScan))
    if not candidates or (isinstance(old, ex.IndexScan) and _unique_lookup(builder, item, old)
                          and all(c.info.relation.oid != old.index.oid for c in candidates)):
        return None       # none gives the order, or the WHERE already finds the one row
    not_null = Expr(BOOL, lambda row, ctx: argument.fn(row, ctx) is not None)
    qual = not_null if old.qual is None else and_exprs([old.qual, not_null])
    scan = _scan(item, max(candidates, key=lambda c: c.score), qual)
    first = replace_scan(source, old, scan)
    assert first is not None
    return ex.Limit(first, const(1, INT8), None, width=first.width), argument


@dataclass(eq=False)
class MinMaxResult(ex.PlanNode):
    """One row of the aggregate's values, each the first value its init plan reads (NULL
    when it reads none), in the Aggregate's output layout (no group keys); call i's value is
    plan ``positions[i]``'s. HAVING is PostgreSQL's One-Time Filter on that row."""

    plans: list[tuple[ex.PlanNode, Expr]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    having: Expr | None = None
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        values = [_first_value(plan, argument, ctx) for plan, argument in self.plans]
        row = tuple(values[position] for position in self.positions)
        if self.having is None or self.having.fn(row, ctx) is True:
            yield row

    def explain(self) -> tuple[str, list[ex.PlanNode]]:
        return "Result", []

    @property
    def init_plans(self) -> list[tuple[str, ex.PlanNode]]:
        """PostgreSQL's EXPLAIN lines for the init plans (executor.explain_lines)."""
        return [(f"InitPlan {n} (returns ${n - 1})", plan)
                for n, (plan, _) in enumerate(self.plans, start=1)]


def _first_value(plan: ex.PlanNode, argument: Expr, ctx: ExecContext) -> Any:
    for row in plan.rows(ctx):
        return argument.fn(row, ctx)
    return None
