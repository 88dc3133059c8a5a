"""GROUP BY's grouping sets: ROLLUP, CUBE, GROUPING SETS, ``()``, GROUP BY DISTINCT, and the
GROUPING(...) function, as PostgreSQL 15 expands and checks them.

Who calls it: the planner's grouping (sql/planner.py ``_plan_grouping``) calls ``analyze`` on a
SELECT's GROUP BY list once per plan; it gets the distinct grouping expressions and, when the
clause has grouping sets, each set as the positions of its expressions. The executor's
``GroupingSetsAggregate`` (sql/executor.py) groups the input once per set and appends to each
output row a mask of the expressions the row's set leaves out, which ``grouping_value`` turns
into GROUPING's answer. Where GROUPING is refused (WHERE, GROUP BY...) is ``misplaced``.

How a clause expands (PostgreSQL's expand_grouping_sets): each top-level item stands for a list
of sets — a plain expression for the one set holding it, ``()`` for the empty set, ``ROLLUP(e1,
..., en)`` for its n+1 prefixes longest first, ``CUBE(e1, ..., en)`` for all 2^n subsets,
``GROUPING SETS (...)`` for its items' sets one after another — where a parenthesised list
``(a, b)`` inside them is one element. The clause's sets are the cross product of its items'
lists, each set's union taken; GROUP BY DISTINCT drops repeated sets. A clause that expands to a
single non-empty set is an ordinary GROUP BY.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql.expressions import error_at, leftmost_location, node_key, nodes_at_level
from mirrordb.sql.parser import Node, one
from mirrordb.sql.set_returning import AGGREGATE_ARGUMENTS

MAX_GROUPING_SETS = 4096          # PostgreSQL's limit on the expanded sets of one clause
MAX_CUBE_ELEMENTS = 12            # ... on the elements of one CUBE
MAX_GROUPING_ARGUMENTS = 31       # GROUPING's answer is an int4 bit mask

# the clauses PostgreSQL names when it refuses GROUPING there (the planner's ``clause``)
_NAMED_CLAUSES = frozenset({"WHERE", "JOIN conditions", "GROUP BY", "FILTER", "VALUES", "LIMIT",
                            "OFFSET", "window PARTITION BY", "window ORDER BY"})


@dataclass(frozen=True, slots=True)
class GroupClause:
    """An analysed GROUP BY: its distinct expressions (after positions and output names were
    resolved) and, with grouping sets, each set as sorted positions into ``items``."""

    items: tuple[Node, ...]
    sets: tuple[tuple[int, ...], ...] | None

    def common(self) -> frozenset[int]:
        """The positions of the expressions every set holds (all of them without sets)."""
        if self.sets is None:
            return frozenset(range(len(self.items)))
        found = set(self.sets[0]) if self.sets else set()
        for members in self.sets[1:]:
            found &= set(members)
        return frozenset(found)


class _Expander:
    """Numbers the grouping expressions and expands the items into sets of positions."""

    def __init__(self, resolve: Callable[[Node], Node]) -> None:
        self.resolve = resolve
        self.items: list[Node] = []
        self.positions: dict[str, int] = {}

    def position(self, node: Node) -> int:
        resolved = self.resolve(node)
        key = node_key(resolved)
        if key not in self.positions:
            self.positions[key] = len(self.items)
            self.items.append(resolved)
        return self.positions[key]

    def element(self, node: Node) -> list[int]:
        """One element of a ROLLUP or CUBE: an expression, or a parenthesised list of them."""
        kind, fields = one(node)
        if kind == "RowExpr" and fields.get("row_format") == "COERCE_IMPLICIT_CAST":
            return [self.position(arg) for arg in fields.get("args", [])]
        return [self.position(node)]

    def sets_of(self, node: Node) -> list[list[int]]:
        """The sets one item of a GROUP BY (or of a GROUPING SETS list) stands for."""
        kind, fields = one(node)
        if kind != "GroupingSet":
            return [self.element(node)]
        grouping = fields.get("kind")
        content = fields.get("content", [])
        if grouping == "GROUPING_SET_EMPTY":
            return [[]]
        if grouping == "GROUPING_SET_ROLLUP":
            elements = [self.element(item) for item in content]
            return [[p for element in elements[:size] for p in element]
                    for size in range(len(elements), -1, -1)]
        if grouping == "GROUPING_SET_CUBE":
            if len(content) > MAX_CUBE_ELEMENTS:
                raise error_at(f"CUBE is limited to {MAX_CUBE_ELEMENTS} elements", "54011",
                               fields.get("location", -1))
            elements = [self.element(item) for item in content]
            return [[p for bit, element in enumerate(elements) if not chosen & (1 << bit)
                     for p in element] for chosen in range(1 << len(elements))]
        return [members for item in content for members in self.sets_of(item)]


def analyze(group_clause: list[Node], distinct: bool,
            resolve: Callable[[Node], Node]) -> GroupClause:
    """The expressions and sets of a GROUP BY list; ``resolve`` turns an item into the
    expression it means (a select-list position or output name into that item)."""
    expander = _Expander(resolve)
    if not any("GroupingSet" in item for item in group_clause):
        for item in group_clause:   # ``GROUP BY (a, b)`` groups by a and b
            expander.element(item)
        return GroupClause(tuple(expander.items), None)
    product: list[tuple[int, ...]] = [()]
    for item in group_clause:
        choices = expander.sets_of(item)
        if len(product) * len(choices) > MAX_GROUPING_SETS:
            raise MirrordbError(f"too many grouping sets present (maximum {MAX_GROUPING_SETS})",
                                sqlstate="54001")
        product = [(*done, *more) for done in product for more in choices]
    sets = [tuple(sorted(set(members))) for members in product]
    if distinct:
        sets = list(dict.fromkeys(sets))
    items = tuple(expander.items)
    if len(sets) == 1 and sets[0]:
        return GroupClause(tuple(items[p] for p in sets[0]), None)
    return GroupClause(items, tuple(sets))


def grouping_position(clause: GroupClause, argument: Node,
                      same_column: Callable[[Node, int], bool]) -> int:
    """Which grouping expression a GROUPING argument is: the same parse tree, or a reference
    to the same column (``same_column(argument, position)``); 42803 if none."""
    key = node_key(argument)
    for position, item in enumerate(clause.items):
        if node_key(item) == key or same_column(argument, position):
            return position
    raise error_at("arguments to GROUPING must be grouping expressions of the associated "
                   "query level", "42803", leftmost_location(argument))


def check_argument_count(call: Node) -> None:
    """54023 for a GROUPING call with more arguments than an int4 mask has bits."""
    if len(call.get("args", [])) > MAX_GROUPING_ARGUMENTS:
        raise error_at(f"GROUPING must have fewer than {MAX_GROUPING_ARGUMENTS + 1} arguments",
                       "54023", call.get("location", -1))


def grouping_value(positions: list[int]) -> Callable[[int], int]:
    """GROUPING's answer from a row's mask: one bit per argument, the first the most
    significant, set when that argument's expression is not in the row's grouping set."""
    def value(mask: int) -> int:
        result = 0
        for position in positions:
            result = (result << 1) | ((mask >> position) & 1)
        return result
    return value


def misplaced(call: Node, clause: str | None) -> MirrordbError:
    """The error for a GROUPING call where none may be (outside a grouped query's select list,
    HAVING and ORDER BY); inside an aggregate's arguments it is a nested aggregate."""
    location = call.get("location", -1)
    if clause == AGGREGATE_ARGUMENTS:
        return error_at("aggregate function calls cannot be nested", "42803", location)
    where = f"in {clause}" if clause in _NAMED_CLAUSES else "here"
    return error_at(f"grouping operations are not allowed {where}", "42803", location)


def refuse_in_group_by(written: list[Node], resolved: list[Node]) -> None:
    """42803 for GROUPING in GROUP BY: written there, or in a select-list item GROUP BY names
    by position or output name (which PostgreSQL refuses as an aggregate)."""
    found = calls_in(written)
    if found:
        raise misplaced(found[0], "GROUP BY")
    found = calls_in(resolved)
    if found:
        raise error_at("aggregate functions are not allowed in GROUP BY", "42803",
                       found[0].get("location", -1))


def calls_in(tree: Any) -> list[Node]:
    """The GROUPING calls (GroupingFunc fields) of a parse tree at its own query level, in
    written order."""
    return list(nodes_at_level(tree, lambda node: node.get("GroupingFunc")))


__all__ = ["GroupClause", "MAX_GROUPING_SETS", "analyze", "calls_in", "check_argument_count",
           "grouping_position", "grouping_value", "misplaced", "refuse_in_group_by"]
