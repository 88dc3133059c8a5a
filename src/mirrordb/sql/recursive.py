"""WITH RECURSIVE: which WITH queries refer to themselves, PostgreSQL's well-formedness rules,
and the executor nodes that evaluate one.

A recursive WITH query has the form ``non-recursive-term UNION [ALL] recursive-term``; the
recursive term names the query once, and that reference reads the *working table*: the rows the
previous round produced. Evaluation (PostgreSQL's RecursiveUnion):

1. the non-recursive term's rows are emitted (with UNION, duplicates dropped) and become the
   working table;
2. the recursive term runs over the working table; its new rows (with UNION, those never emitted
   before) are emitted and become the next working table;
3. step 2 repeats until a round produces nothing.

A query that never stops producing rows runs until it is cancelled (statement_timeout, a cancel
request), as in PostgreSQL; the loop checks for interrupts.

Rules checked before planning, with PostgreSQL's SQLSTATEs and messages (``check_clause``):
the items of a WITH RECURSIVE clause may refer to each other in any order, but not in a cycle
("mutual recursion between WITH items is not implemented"); a self-referring item must be a
UNION whose left side does not refer to it, whose right side refers to it exactly once and not
inside a sublink, the nullable side of an outer join, INTERSECT ALL or EXCEPT; and the UNION
carries no ORDER BY, OFFSET, LIMIT or FOR UPDATE. Its output types are the non-recursive
term's (an untyped literal is text); the whole UNION must keep them (42804 otherwise). Reading
the working table inside a FROM subquery of the recursive term is allowed, as in PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql.executor import INTERRUPT_CHECK_ROWS, PlanNode
from mirrordb.sql.expressions import ExecContext, Row, error_at, leftmost_location
from mirrordb.sql.parser import Node

INVALID_RECURSION = "42P19"
FEATURE_NOT_SUPPORTED = "0A000"

# where a self-reference is refused, and PostgreSQL's words for it
_OK, _NON_RECURSIVE, _SUBLINK, _OUTER_JOIN, _INTERSECT, _EXCEPT = range(6)
_REFUSALS = {
    _NON_RECURSIVE: "must not appear within its non-recursive term",
    _SUBLINK: "must not appear within a subquery",
    _OUTER_JOIN: "must not appear within an outer join",
    _INTERSECT: "must not appear within INTERSECT",
    _EXCEPT: "must not appear within EXCEPT",
}


# -- the rules ---------------------------------------------------------------------------------

def check_clause(ctes: list[Node]) -> set[str]:
    """Check the items (``CommonTableExpr`` fields) of one WITH RECURSIVE clause; return the
    names of those that refer to themselves."""
    names = [cte["ctename"] for cte in ctes]
    depends: list[set[int]] = []
    recursive: set[str] = set()
    for index, cte in enumerate(ctes):
        found = _References(set(names))
        found.walk(cte["ctequery"])
        own = cte["ctename"]
        if own in found.names:
            recursive.add(own)
        depends.append({names.index(n) for n in found.names if n != own})
    _check_no_cycle(ctes, depends)
    for cte in ctes:
        if cte["ctename"] in recursive:
            _check_well_formed(cte)
    return recursive


def _check_no_cycle(ctes: list[Node], depends: list[set[int]]) -> None:
    """PostgreSQL's order of WITH RECURSIVE items (a topological sort); a cycle between
    different items is refused, at the first item the sort could not place."""
    order = list(range(len(ctes)))
    remaining = [set(d) for d in depends]
    for position in range(len(order)):
        free = next((j for j in range(position, len(order)) if not remaining[order[j]]), None)
        if free is None:
            raise error_at("mutual recursion between WITH items is not implemented",
                           FEATURE_NOT_SUPPORTED, ctes[order[position]].get("location", -1))
        order[position], order[free] = order[free], order[position]
        placed = order[position]
        for later in order[position + 1:]:
            remaining[later].discard(placed)


def _check_well_formed(cte: Node) -> None:
    name = cte["ctename"]
    query = cte["ctequery"].get("SelectStmt", {})
    if query.get("op", "SETOP_NONE") != "SETOP_UNION":
        raise error_at(f'recursive query "{name}" does not have the form non-recursive-term '
                       "UNION [ALL] recursive-term", INVALID_RECURSION, cte.get("location", -1))
    _SelfReferences(name).select_part(query["larg"], _NON_RECURSIVE, frozenset())
    _SelfReferences(name).select_part(query["rarg"], _OK, frozenset())
    for key, what in (("sortClause", "ORDER BY"), ("limitOffset", "OFFSET"),
                      ("limitCount", "LIMIT"), ("lockingClause", "FOR UPDATE/SHARE")):
        if query.get(key):
            raise error_at(f"{what} in a recursive query is not implemented",
                           FEATURE_NOT_SUPPORTED, leftmost_location(query[key]))


class _References:
    """The names of ``candidates`` a query refers to (unqualified, not shadowed by a WITH
    inside it)."""

    def __init__(self, candidates: set[str]) -> None:
        self.candidates = candidates
        self.names: set[str] = set()

    def walk(self, node: Any, shadowed: frozenset[str] = frozenset()) -> None:
        pending: list[tuple[Any, frozenset[str]]] = [(node, shadowed)]
        while pending:
            item, hidden = pending.pop()
            if isinstance(item, list):
                pending.extend((element, hidden) for element in item)
                continue
            if not isinstance(item, dict):
                continue
            range_var = item.get("RangeVar")
            if range_var is not None:
                name = range_var.get("relname")
                if not range_var.get("schemaname") and name in self.candidates and \
                        name not in hidden:
                    self.names.add(name)
                continue
            select = item.get("SelectStmt", item)    # a set operation's sides are bare
            if isinstance(select, dict) and select.get("withClause"):
                inner = frozenset(c["CommonTableExpr"]["ctename"]
                                  for c in select["withClause"]["ctes"])
                pending.append(({k: v for k, v in select.items() if k != "withClause"},
                                hidden | inner))
                pending.extend((c["CommonTableExpr"]["ctequery"], hidden | inner)
                               for c in select["withClause"]["ctes"])
                continue
            pending.extend((value, hidden) for value in item.values())


class _SelfReferences:
    """PostgreSQL's walk of a recursive query's terms: every self-reference must be where the
    context allows it, and the recursive term holds exactly one."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    def walk(self, node: Any, context: int, shadowed: frozenset[str]) -> None:
        if isinstance(node, list):
            for element in node:
                self.walk(element, context, shadowed)
            return
        if not isinstance(node, dict):
            return
        if "RangeVar" in node:
            self._reference(node["RangeVar"], context, shadowed)
            return
        if "SelectStmt" in node:
            self._select(node["SelectStmt"], context, shadowed)
            return
        if "JoinExpr" in node:
            self._join(node["JoinExpr"], context, shadowed)
            return
        if "SubLink" in node:
            sublink = node["SubLink"]
            self.walk(sublink.get("subselect"), _SUBLINK, shadowed)
            self.walk(sublink.get("testexpr"), context, shadowed)
            return
        if "WithClause" in node:
            return
        for value in node.values():
            self.walk(value, context, shadowed)

    def _reference(self, range_var: Node, context: int, shadowed: frozenset[str]) -> None:
        if range_var.get("schemaname") or range_var.get("relname") != self.name or \
                self.name in shadowed:
            return
        location = range_var.get("location", -1)
        if context != _OK:
            raise error_at(f'recursive reference to query "{self.name}" {_REFUSALS[context]}',
                           INVALID_RECURSION, location)
        self.count += 1
        if self.count > 1:
            raise error_at(f'recursive reference to query "{self.name}" must not appear more '
                           "than once", INVALID_RECURSION, location)

    def _select(self, select: Node, context: int, shadowed: frozenset[str]) -> None:
        with_clause = select.get("withClause")
        if with_clause:
            inner = frozenset(c["CommonTableExpr"]["ctename"] for c in with_clause["ctes"])
            if with_clause.get("recursive"):
                shadowed = shadowed | inner
                for cte in with_clause["ctes"]:
                    self.walk(cte["CommonTableExpr"]["ctequery"], context, shadowed)
            else:   # each item sees only the ones before it
                seen: frozenset[str] = frozenset()
                for cte in with_clause["ctes"]:
                    self.walk(cte["CommonTableExpr"]["ctequery"], context, shadowed | seen)
                    seen = seen | {cte["CommonTableExpr"]["ctename"]}
                shadowed = shadowed | inner
        op = select.get("op", "SETOP_NONE")
        rest = {k: v for k, v in select.items() if k not in ("withClause", "larg", "rarg")}
        if context != _OK or op in ("SETOP_NONE", "SETOP_UNION"):
            self.select_part(select.get("larg"), context, shadowed)
            self.select_part(select.get("rarg"), context, shadowed)
            self.walk(rest, context, shadowed)
            return
        if op == "SETOP_INTERSECT":
            inside = _INTERSECT if select.get("all") else context
            self.select_part(select.get("larg"), inside, shadowed)
            self.select_part(select.get("rarg"), inside, shadowed)
        else:   # EXCEPT: never on its right; on its left only without ALL
            self.select_part(select.get("larg"), _EXCEPT if select.get("all") else context,
                             shadowed)
            self.select_part(select.get("rarg"), _EXCEPT, shadowed)
        self.walk(rest, context, shadowed)

    def select_part(self, part: Node | None, context: int, shadowed: frozenset[str]) -> None:
        """A side of a set operation (bare SelectStmt fields in the parse tree)."""
        if part is not None:
            self._select(part.get("SelectStmt", part), context, shadowed)

    def _join(self, join: Node, context: int, shadowed: frozenset[str]) -> None:
        kind = join.get("jointype", "JOIN_INNER")
        nullable = _OUTER_JOIN if context == _OK else context
        left = nullable if kind in ("JOIN_FULL", "JOIN_RIGHT") else context
        right = nullable if kind in ("JOIN_FULL", "JOIN_LEFT") else context
        self.walk(join.get("larg"), left, shadowed)
        self.walk(join.get("rarg"), right, shadowed)
        self.walk(join.get("quals"), context, shadowed)


def levels_reading(select: Node, name: str) -> list[Node]:
    """The query levels (SELECT fields) of a recursive term that read the working table
    ``name`` in their own FROM list (PostgreSQL refuses aggregates there)."""
    found: list[Node] = []
    pending = [select.get("SelectStmt", select)]
    while pending:
        level = pending.pop()
        if level.get("op", "SETOP_NONE") != "SETOP_NONE":
            pending.extend(side.get("SelectStmt", side) for side in
                           (level.get("larg"), level.get("rarg")) if side)
            continue
        items = list(level.get("fromClause") or [])
        reads = False
        while items:
            item = items.pop()
            if "RangeVar" in item:
                range_var = item["RangeVar"]
                reads = reads or (not range_var.get("schemaname") and
                                  range_var.get("relname") == name)
            elif "JoinExpr" in item:
                items.extend(side for side in (item["JoinExpr"].get("larg"),
                                               item["JoinExpr"].get("rarg")) if side)
            elif "RangeSubselect" in item:
                pending.append(item["RangeSubselect"]["subquery"]["SelectStmt"])
        if reads:
            found.append(level)
    return found


# -- execution ---------------------------------------------------------------------------------

@dataclass(eq=False)
class WorkTable:
    """The rows of the previous round, shared by a RecursiveUnion and the scan of its
    recursive term's self-reference."""

    rows: list[Row] = field(default_factory=list)


@dataclass(eq=False)
class WorkTableScan(PlanNode):
    table: WorkTable
    name: str
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        yield from self.table.rows

    def explain(self) -> tuple[str, list[PlanNode]]:
        return f"WorkTable Scan on {self.name}", []


@dataclass(eq=False)
class RecursiveUnion(PlanNode):
    """The non-recursive term, then rounds of the recursive term over the previous round's
    rows until a round adds none. Each round is computed whole before its rows are emitted,
    so the working table never changes under a running scan."""

    all: bool
    left: PlanNode
    right: PlanNode
    table: WorkTable
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        seen: set[Row] | None = None if self.all else set()
        check = ctx.check_interrupts
        working = self._new_rows(self.left.rows(ctx), seen, check)
        while working:
            yield from working
            self.table.rows = working
            try:
                working = self._new_rows(self.right.rows(ctx), seen, check)
            finally:
                self.table.rows = []

    @staticmethod
    def _new_rows(source: Iterator[Row], seen: set[Row] | None,
                  check: Any) -> list[Row]:
        produced: list[Row] = []
        for row in source:
            if seen is not None:
                if row in seen:
                    continue
                seen.add(row)
            produced.append(row)
            if len(produced) % INTERRUPT_CHECK_ROWS == 0:
                check()
        check()
        return produced

    def explain(self) -> tuple[str, list[PlanNode]]:
        return "Recursive Union", [self.left, self.right]


def column_count_error(name: str, available: int, given: int, location: int) -> MirrordbError:
    return error_at(f'WITH query "{name}" has {available} columns available but {given} '
                    "columns specified", "42P10", location)
