"""Placing WHERE and ON conditions at the FROM item whose columns they name (PostgreSQL's qual
pushdown), so a FROM item's rows are filtered before a LATERAL function or subquery runs for
them and before they are joined: a condition on rows the query excludes is never evaluated
against the other side, and a function never sees (nor fails on) such a row.

Who calls it: the planner (sql/planner.py): ``_join_from_items`` for the WHERE conjuncts over
the comma-separated FROM items, ``_plan_join_expr`` for a join's ON conjuncts. The other half,
a table's own conditions turned into its scan's qual or an index scan, is the planner's
``_push_into_scan``/``_choose_index``.

A condition goes down only into a side whose rows it may drop: both sides of an inner join,
the preserved side of an outer join for WHERE (never the nullable side, whose NULL-extended rows
the condition must see), the nullable side for an outer join's ON (an ON condition on the
preserved side only decides which rows match). It must name columns of that side only; one
naming both sides of a USING join's merged column, a sublink or an aggregate stays where it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import executor as ex
from mirrordb.sql.expressions import (ExecContext, Expr, ExpressionCompiler, Row, Scope,
                                      and_exprs, coerce_to_bool, contains_node,
                                      expression_location, referenced_names)
from mirrordb.sql.parser import Node

if TYPE_CHECKING:
    from mirrordb.sql.planner import PlanBuilder, _FromItem

# which sides of a join its WHERE (outer) and ON conditions may filter first: (left, right)
WHERE_SIDES = {"inner": (True, True), "left": (True, False), "right": (False, True),
               "full": (False, False)}
ON_SIDES = {"inner": (True, True), "left": (False, True), "right": (True, False),
            "full": (False, False)}


@dataclass(eq=False)
class JoinShape:
    """A JOIN item's two sides, kept so conditions pushed into them later can rebuild it:
    ``build`` makes the join's plan from the sides' current nodes; ``filters`` are
    conditions on the join's own rows (naming both sides) applied above it."""

    left: _FromItem
    right: _FromItem
    join_type: str
    build: Callable[[], ex.PlanNode]
    filters: list[Expr] = field(default_factory=list)


@dataclass(eq=False)
class OneTimeFilter(ex.PlanNode):
    """Rows of ``child`` if ``qual`` (naming no column) holds, checked once before the child
    runs: a function or subquery below never runs when it does not (PostgreSQL's One-Time
    Filter)."""

    child: ex.PlanNode
    qual: Expr
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        if self.qual.fn((), ctx) is True:
            yield from self.child.rows(ctx)

    def explain(self) -> tuple[str, list[ex.PlanNode]]:
        return "Result", [self.child]


def push_into(builder: PlanBuilder, item: _FromItem, parts: list[Node], what: str,
              only_item: bool = False, constants: bool = False) -> list[Node]:
    """Place inside ``item`` the conditions of ``parts`` that name only its columns (a lone
    table takes every one it can evaluate: ``only_item``); returns the others, in order.
    ``constants``: also take those naming no column and calling no function (PostgreSQL's
    pseudoconstant conditions, which gate the whole join: given to its first item, ``WHERE
    false`` runs no LATERAL function). ``what``: the clause, for a condition that is not
    boolean ("WHERE", "JOIN/ON")."""
    gates = [p for p in parts if constants and _constant(p)]
    parts = [p for p in parts if not any(p is g for g in gates)]
    if item.base is not None:
        if gates:
            builder._push_into_scan(item, gates, True, what)
        return builder._push_into_scan(item, parts, only_item, what)
    mine, rest = list(gates), []
    for part in parts:
        (mine if _may_push(builder, part) and _names_only(item.scope, part) else rest
         ).append(part)
    if mine:
        _place(builder, item, mine, what)
    return rest


def push_join_quals(builder: PlanBuilder, left: _FromItem, right: _FromItem, join_type: str,
                    parts: list[Node]) -> list[Node]:
    """A join's ON conditions that name one side only, placed in that side where the join
    type allows; returns the rest (join conditions proper)."""
    return _push_to_sides(builder, left, right, ON_SIDES[join_type], parts, "JOIN/ON")


def _place(builder: PlanBuilder, item: _FromItem, parts: list[Node], what: str) -> None:
    """Apply ``parts`` (naming only ``item``'s columns) to ``item``'s rows: inside a join's
    sides where allowed, else as a filter over its plan."""
    shape = item.join
    if shape is not None:
        parts = _push_to_sides(builder, shape.left, shape.right,
                               WHERE_SIDES[shape.join_type], parts, what)
        shape.filters.extend(_compile(builder, item.scope, parts, what))
        node = shape.build()
        if shape.filters:
            node = ex.Filter(node, and_exprs(shape.filters), width=item.scope.width)
        item.node = node
        return
    gates = [p for p in parts if _constant(p)]
    parts = [p for p in parts if not any(p is g for g in gates)]
    if parts:
        item.node = ex.Filter(item.node, and_exprs(_compile(builder, item.scope, parts, what)),
                              width=item.scope.width)
    if gates:
        item.node = OneTimeFilter(item.node, and_exprs(_compile(builder, item.scope, gates,
                                                                what)), width=item.scope.width)


def _push_to_sides(builder: PlanBuilder, left: _FromItem, right: _FromItem,
                   allowed: tuple[bool, bool], parts: list[Node], what: str) -> list[Node]:
    for side, other, ok in ((left, right, allowed[0]), (right, left, allowed[1])):
        if not ok or not parts:
            continue
        mine = [p for p in parts if _constant(p) or _may_push(builder, p) and
                _names_only(side.scope, p) and not _names_any(other.scope, p)]
        if mine:
            push_into(builder, side, mine, what, constants=True)
            parts = [p for p in parts if not any(p is m for m in mine)]
    return parts


def _compile(builder: PlanBuilder, scope: Scope, parts: list[Node], what: str) -> list[Expr]:
    compiler = ExpressionCompiler(builder, scope)
    return [coerce_to_bool(builder, compiler.compile(p), what, expression_location(p))
            for p in parts]


def _constant(part: Node) -> bool:
    """A condition naming no column, calling no function and holding no sublink: the same
    for every row (a constant or a parameter compared), so it may gate any side."""
    return not referenced_names(part) and not contains_node(part, "FuncCall") and \
        not contains_node(part, "SubLink")


def _may_push(builder: PlanBuilder, part: Node) -> bool:
    return not contains_node(part, "SubLink") and not builder._has_aggregate(part)


def _names_only(scope: Scope, part: Node) -> bool:
    """Whether ``part`` names columns, all of them found in ``scope`` itself."""
    names = referenced_names(part)
    return bool(names) and all(_found(scope, n) for n in names)


def _names_any(scope: Scope, part: Node) -> bool:
    return any(_found(scope, n) for n in referenced_names(part))


def _found(scope: Scope, names: list[str]) -> bool:
    try:
        return scope.find(names, -1) is not None
    except MirrordbError:     # ambiguous or no such column: found, for the error to come
        return True
