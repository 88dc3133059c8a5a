"""Window function calls: planning (``OVER``, the ``WINDOW`` clause, frames, the rules of where
window functions may be called).

Who calls it: the planner (sql/planner.py). A query level whose select list or ORDER BY calls a
window function gives its expression compiler a ``WindowCalls``; the compiler hands every call
with ``OVER`` to ``compile_call``, which checks where it stands, resolves the function (one of
``window_agg.WINDOW_FUNCTIONS`` or any aggregate of sql/aggregates.py), compiles its arguments
and FILTER, and gives back a reference to the column that will hold its value. Once the select
list, ORDER BY and DISTINCT ON are compiled, ``WindowCalls.plan`` resolves the windows (the WINDOW
clause's, in order, then each OVER clause's), compiles their PARTITION BY, ORDER BY and frame
offsets, groups the calls by ordering and puts the ``window_agg.WindowAgg`` node over the rows of
the FROM/WHERE/GROUP BY/HAVING part, where each reference finds its column. A statement without
window calls pays nothing for them.

The rules, PostgreSQL 15's (parse_agg.c, parse_clause.c, parse_func.c):

- Window calls are allowed in the select list and ORDER BY only: anywhere else the clause is
  named (42P20); inside an aggregate's arguments 42803; inside another window call's arguments
  they "cannot be nested"; in a window's PARTITION BY/ORDER BY they are not allowed "in window
  definitions".
- A window function (row_number...) needs OVER (42809); OVER on a function that is neither a
  window function nor an aggregate is 42809; FILTER only for aggregates, no DISTINCT or ORDER BY
  inside a window aggregate (0A000).
- ``OVER name`` uses the named window as it is; ``OVER (name ...)`` and ``WINDOW w2 AS (w ...)``
  copy it: they may add ORDER BY where it has none and a frame, never PARTITION BY, and the
  window copied must not have a frame clause (42P20).
- A frame offset may not read the query's columns; ROWS and GROUPS offsets are bigint, RANGE
  offsets need exactly one ORDER BY column of a type with an in_range rule, and GROUPS needs ORDER
  BY (42P20).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import aggregates as aggs
from mirrordb.sql import executor as ex
from mirrordb.sql import functions as funcs
from mirrordb.sql import set_returning as srf
from mirrordb.sql import types as T
from mirrordb.sql import window_agg as wa
from mirrordb.sql.expressions import (INT4, INT8, UNKNOWN, ExecContext, Expr, ExpressionCompiler,
                                      Row, coerce, error_at, leftmost_location,
                                      no_such_function, node_key, nodes_at_level,
                                      referenced_names, sort_direction)
from mirrordb.sql.parser import Node, strings

if TYPE_CHECKING:
    from mirrordb.sql.planner import PlanBuilder

WINDOW_ARGUMENTS = srf.WINDOW_ARGUMENTS   # the clause of a window call's arguments
WINDOW_DEFINITIONS = srf.WINDOW_DEFINITIONS     # PARTITION BY and ORDER BY of a window

# PostgreSQL's FRAMEOPTION_* bits (nodes/parsenodes.h), as libpg_query reports them.
FRAME_RANGE, FRAME_ROWS, FRAME_GROUPS = 0x2, 0x4, 0x8
FRAME_START_UNBOUNDED_PRECEDING, FRAME_END_UNBOUNDED_PRECEDING = 0x20, 0x40
FRAME_START_UNBOUNDED_FOLLOWING, FRAME_END_UNBOUNDED_FOLLOWING = 0x80, 0x100
FRAME_START_CURRENT_ROW, FRAME_END_CURRENT_ROW = 0x200, 0x400
FRAME_START_OFFSET_PRECEDING, FRAME_END_OFFSET_PRECEDING = 0x800, 0x1000
FRAME_START_OFFSET_FOLLOWING, FRAME_END_OFFSET_FOLLOWING = 0x2000, 0x4000
FRAME_EXCLUDE_CURRENT_ROW, FRAME_EXCLUDE_GROUP, FRAME_EXCLUDE_TIES = 0x8000, 0x10000, 0x20000
FRAME_DEFAULTS = FRAME_RANGE | FRAME_START_UNBOUNDED_PRECEDING | FRAME_END_CURRENT_ROW
FRAME_NONDEFAULT = 0x1

# The result types of the window functions that do not return their first argument's type.
_RANKING = {"row_number": INT8, "rank": INT8, "dense_rank": INT8,
            "percent_rank": T.FLOAT8_OID, "cume_dist": T.FLOAT8_OID}
_HYPOTHETICAL = frozenset({"rank", "dense_rank", "percent_rank", "cume_dist"})
_FRAME_FUNCTIONS = frozenset({"first_value", "last_value", "nth_value"})

# The column types RANGE offsets work with, and the offset type each takes.
_RANGE_OFFSET_TYPES = {T.INT2_OID: None, T.INT4_OID: None, T.INT8_OID: None,
                       T.FLOAT4_OID: T.FLOAT8_OID, T.FLOAT8_OID: T.FLOAT8_OID,
                       T.NUMERIC_OID: T.NUMERIC_OID, T.DATE_OID: T.INTERVAL_OID,
                       T.TIMESTAMP_OID: T.INTERVAL_OID, T.TIMESTAMPTZ_OID: T.INTERVAL_OID,
                       T.INTERVAL_OID: T.INTERVAL_OID}


def is_window_function(name: str) -> bool:
    return name in wa.WINDOW_FUNCTIONS


def requires_over(name: str, location: int) -> MirrordbError:
    return error_at(f"window function {name} requires an OVER clause", "42809", location)


# -- where window calls may stand ---------------------------------------------------------------


def refuse(tree: Any, clause: str) -> None:
    """42P20 if parse tree ``tree`` calls a window function at this query level (a sublink's
    query is its own level), naming ``clause``; the error points at the first call."""
    found = _first_window_call(tree)
    if found is not None:
        raise error_at(f"window functions are not allowed in {clause}", "42P20",
                       found.get("location", -1))


def _first_window_call(tree: Any) -> Node | None:
    def window_call(node: Node) -> Node | None:
        call = node.get("FuncCall")
        return call if call is not None and "over" in call else None
    return next(nodes_at_level(tree, window_call), None)


def compile_call(builder: PlanBuilder, compiler: ExpressionCompiler, call: Node) -> Expr:
    """A call with OVER met by ``compiler``: the reference to its value, or the error for
    where it stands or what it calls."""
    location = call.get("location", -1)
    clause = builder.clause
    if clause == WINDOW_ARGUMENTS:
        raise error_at("window function calls cannot be nested", "42P20", location)
    if clause == srf.AGGREGATE_ARGUMENTS:
        raise error_at("aggregate function calls cannot contain window function calls",
                       "42803", location)
    windows = compiler.windows
    if clause is not None or windows is None:
        where = f"in {clause}" if clause is not None else "here"
        raise error_at(f"window functions are not allowed {where}", "42P20", location)
    return windows.add(builder, compiler, call)


# -- windows -----------------------------------------------------------------------------------


@dataclass(eq=False)
class _Window:
    """A window as resolved from the WINDOW clause and OVER: parse trees, and where it is
    written (errors about it point there)."""

    partition: list[Node]
    order: list[Node]
    options: int
    start_offset: Node | None
    end_offset: Node | None
    location: int


@dataclass(eq=False)
class _PendingCall:
    """A compiled call waiting for its window: the OVER clause, the call's column among the
    window values, and the slot its reference reads (set once the input's width is known)."""

    call: wa.WindowCall
    over: Node
    column: int
    slot: list[int] = field(default_factory=lambda: [0])


class WindowCalls:
    """The window calls of one query level and its WINDOW clause."""

    def __init__(self, definitions: list[Node]) -> None:
        self.definitions = [d["WindowDef"] for d in definitions]
        self._calls: list[_PendingCall] = []
        self._compiled: dict[_Window, tuple[Any, ...]] = {}   # each window compiled once

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, builder: PlanBuilder, compiler: ExpressionCompiler, call: Node) -> Expr:
        name = strings(call["funcname"])[-1].lower()
        location = call.get("location", -1)
        over = call["over"]
        window_call = _resolve(builder, compiler, call, name, location)
        if over.get("name") and not any(d.get("name") == over["name"]
                                        for d in self.definitions):
            raise error_at(f'window "{over["name"]}" does not exist', "42704",
                           over.get("location", -1))
        pending = _PendingCall(window_call, over, len(self._calls))
        self._calls.append(pending)
        slot = pending.slot

        def run(row: Row, ctx: ExecContext) -> Any:
            return row[slot[0]]
        result_type = window_call.aggregate.result_type if window_call.aggregate is not None \
            else _result_type(name, window_call.args)
        return Expr(result_type, run, name=name)

    def plan(self, builder: PlanBuilder, compiler: ExpressionCompiler, source: ex.PlanNode,
             query: Node) -> ex.PlanNode:
        """The WindowAgg over ``source`` computing the calls compiled for SelectStmt
        ``query``; ``source`` itself when there are none, after checking the WINDOW
        clause."""
        named = self._named_windows()
        for window in named.values():
            self._compile_window(builder, compiler, window)
        if not self._calls:
            return source
        orderings: dict[str, wa.WindowOrdering] = {}
        sort_refs = _SortReferences(query)
        for window in named.values():
            sort_refs.add_window(window)
        unique_orders: dict[str, list[tuple[int, bool, bool]]] = {}
        placed = []
        for pending in self._calls:
            over = pending.over
            if over.get("name"):
                window = named[over["name"]]
            else:
                window = self._copy(over, named)
            partition, order, frame, offsets = self._compile_window(builder, compiler, window)
            key = node_key({"p": window.partition, "o": window.order})
            ordering = orderings.get(key)
            if ordering is None:
                ordering = orderings[key] = wa.WindowOrdering(partition, order)
                unique_orders[key] = sort_refs.add_window(window)
            call = pending.call
            call.frame = frame
            call.start_offset, call.end_offset, call.in_range = offsets
            ordering.calls.append((call, pending.column))
            placed.append(pending)
        # the windows' expressions may have added aggregates: the input's width is known now
        input_width = _row_width(source)
        for pending in placed:
            pending.slot[0] = input_width + pending.column
        keys = sorted(orderings, key=functools.cmp_to_key(
            lambda a, b: _common_prefix_compare(unique_orders[a], unique_orders[b])))
        return wa.WindowAgg(source, [orderings[key] for key in keys], len(self._calls),
                            width=input_width + len(self._calls))

    def _named_windows(self) -> dict[str, _Window]:
        """The WINDOW clause's windows by name, each completed from the one it copies."""
        named: dict[str, _Window] = {}
        for definition in self.definitions:
            name = definition["name"]
            if name in named:
                raise error_at(f'window "{name}" is already defined', "42P20",
                               definition.get("location", -1))
            named[name] = self._copy(definition, named)
        return named

    @staticmethod
    def _copy(definition: Node, named: dict[str, _Window]) -> _Window:
        """A window definition, completed from the window it names (PostgreSQL's rules for
        what a copy may add)."""
        location = definition.get("location", -1)
        options = definition.get("frameOptions", FRAME_DEFAULTS)
        partition = definition.get("partitionClause", [])
        order = definition.get("orderClause", [])
        reference = definition.get("refname")
        if reference is None:
            return _Window(partition, order, options, definition.get("startOffset"),
                           definition.get("endOffset"), location)
        base = named.get(reference)
        if base is None:
            raise error_at(f'window "{reference}" does not exist', "42704", location)
        if partition:
            raise error_at(f'cannot override PARTITION BY clause of window "{reference}"',
                           "42P20", location)
        if order and base.order:
            raise error_at(f'cannot override ORDER BY clause of window "{reference}"',
                           "42P20", location)
        if base.options & ~FRAME_NONDEFAULT != FRAME_DEFAULTS:
            bare = not definition.get("name") and not order and options == FRAME_DEFAULTS
            raise error_at(f'cannot copy window "{reference}" because it has a frame clause',
                           "42P20", location,
                           hint="Omit the parentheses in this OVER clause." if bare else None)
        return _Window(base.partition, order or base.order, options,
                       definition.get("startOffset"), definition.get("endOffset"), location)

    def _compile_window(self, builder: PlanBuilder, compiler: ExpressionCompiler,
                        window: _Window) -> tuple[list[Expr], list[tuple[Expr, bool, bool]],
                                                  wa.Frame, tuple[Any, Any, Any]]:
        compiled = self._compiled.get(window)
        if compiled is None:
            compiled = self._compiled[window] = \
                self._compile_window_once(builder, compiler, window)
        return compiled  # type: ignore[return-value]

    @staticmethod
    def _compile_window_once(builder: PlanBuilder, compiler: ExpressionCompiler,
                             window: _Window) -> tuple[Any, ...]:
        outer, builder.clause = builder.clause, WINDOW_DEFINITIONS
        partition = [compiler.compile(node) for node in window.partition]
        order = []
        for sort in window.order:
            fields = sort["SortBy"]
            desc, nulls_first = sort_direction(fields)
            order.append((compiler.compile(fields["node"]), desc, nulls_first))
        builder.clause = outer
        frame = _frame(window.options)
        if frame.mode == wa.GROUPS and not order:
            raise error_at("GROUPS mode requires an ORDER BY clause", "42P20", window.location)
        offsets = _offsets(builder, compiler, window, frame, order)
        return partition, order, frame, offsets


class _SortReferences:
    """PostgreSQL's numbering of the expressions a query sorts or groups on (a target's
    ressortgroupref): ORDER BY's first, then GROUP BY's, then each window's ORDER BY and
    PARTITION BY as the windows are defined. The numbers decide in which order the windows are
    computed, and so the order of the rows of a query that has no ORDER BY."""

    def __init__(self, query: Node) -> None:
        self.targets = [t["ResTarget"] for t in query.get("targetList", [])]
        self.numbers: dict[str, int] = {}
        for sort in query.get("sortClause", []):
            self.number(sort["SortBy"]["node"])
        for item in query.get("groupClause", []):
            self.number(item)

    def number(self, node: Node) -> int:
        """The number of an expression (a select-list position or name stands for its
        item)."""
        if "A_Const" in node and "ival" in node["A_Const"]:
            position = node["A_Const"]["ival"].get("ival", 0)
            if 1 <= position <= len(self.targets):
                node = self.targets[position - 1]["val"]
        elif "ColumnRef" in node:
            names = strings(node["ColumnRef"]["fields"])
            named = [t["val"] for t in self.targets if len(names) == 1 and
                     t.get("name") == names[0]]
            node = named[0] if named else node
        return self.numbers.setdefault(node_key(node), len(self.numbers) + 1)

    def add_window(self, window: _Window) -> list[tuple[int, bool, bool]]:
        """Numbers the window's keys; its sort as (number, descending, nulls first) with each
        number once."""
        order = []
        for sort in window.order:   # numbered before PARTITION BY, as PostgreSQL does
            fields = sort["SortBy"]
            order.append((self.number(fields["node"]), *sort_direction(fields)))
        keys = [(self.number(node), False, False) for node in window.partition] + order
        unique: list[tuple[int, bool, bool]] = []
        for key in keys:
            if all(key[0] != seen[0] for seen in unique):
                unique.append(key)
        return unique


def _common_prefix_compare(left: list[tuple[int, bool, bool]],
                           right: list[tuple[int, bool, bool]]) -> int:
    """PostgreSQL's order of computing windows (planner.c's common_prefix_cmp): higher
    numbers first, descending before ascending, NULLS FIRST before NULLS LAST, and of two
    sorts one of which begins the other, the longer first. The last window computed gives
    the rows their order."""
    for (number_a, desc_a, nulls_a), (number_b, desc_b, nulls_b) in zip(left, right):
        if number_a != number_b:
            return -1 if number_a > number_b else 1
        if desc_a != desc_b:
            return -1 if desc_a else 1
        if nulls_a != nulls_b:
            return -1 if nulls_a else 1
    if len(left) != len(right):
        return -1 if len(left) > len(right) else 1
    return 0


def _row_width(source: ex.PlanNode) -> int:
    """The number of values in ``source``'s rows (an Aggregate's grow with every aggregate
    call compiled above it)."""
    if isinstance(source, ex.Aggregate):
        return len(source.group_keys) + len(source.calls)
    return source.width


def refuse_with_locking(strength: str) -> MirrordbError:
    """SELECT ... FOR UPDATE/SHARE of a query level that calls window functions."""
    clause = {"LCS_FORKEYSHARE": "FOR KEY SHARE", "LCS_FORSHARE": "FOR SHARE",
              "LCS_FORNOKEYUPDATE": "FOR NO KEY UPDATE"}.get(strength, "FOR UPDATE")
    return MirrordbError(f"{clause} is not allowed with window functions", sqlstate="0A000")


def _frame(options: int) -> wa.Frame:
    mode = wa.ROWS if options & FRAME_ROWS else wa.GROUPS if options & FRAME_GROUPS \
        else wa.RANGE
    start = wa.UNBOUNDED_PRECEDING if options & FRAME_START_UNBOUNDED_PRECEDING else \
        wa.CURRENT_ROW if options & FRAME_START_CURRENT_ROW else \
        wa.OFFSET_PRECEDING if options & FRAME_START_OFFSET_PRECEDING else \
        wa.OFFSET_FOLLOWING if options & FRAME_START_OFFSET_FOLLOWING else \
        wa.UNBOUNDED_FOLLOWING
    end = wa.UNBOUNDED_FOLLOWING if options & FRAME_END_UNBOUNDED_FOLLOWING else \
        wa.CURRENT_ROW if options & FRAME_END_CURRENT_ROW else \
        wa.OFFSET_PRECEDING if options & FRAME_END_OFFSET_PRECEDING else \
        wa.OFFSET_FOLLOWING if options & FRAME_END_OFFSET_FOLLOWING else \
        wa.UNBOUNDED_PRECEDING
    exclude = wa.EXCLUDE_CURRENT_ROW if options & FRAME_EXCLUDE_CURRENT_ROW else \
        wa.EXCLUDE_GROUP if options & FRAME_EXCLUDE_GROUP else \
        wa.EXCLUDE_TIES if options & FRAME_EXCLUDE_TIES else wa.EXCLUDE_NO_OTHERS
    return wa.Frame(mode, start, end, exclude)


def _offsets(builder: PlanBuilder, compiler: ExpressionCompiler, window: _Window,
             frame: wa.Frame, order: list[tuple[Expr, bool, bool]]) -> tuple[Any, Any, Any]:
    """The frame's start and end offsets, compiled and converted, and for RANGE offsets the
    in_range rule of the ORDER BY column's type."""
    if window.start_offset is None and window.end_offset is None:
        return None, None, None
    column_type = None
    if frame.mode == wa.RANGE:
        if len(order) != 1:
            raise error_at("RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY "
                           "column", "42P20", window.location)
        column_type = order[0][0].type_oid
    compiled = []
    for node in (window.start_offset, window.end_offset):
        if node is None:
            compiled.append(None)
            continue
        compiled.append(_offset(builder, compiler, node, frame.mode, column_type))
    check = None
    if column_type is not None:
        def check(timezone: str, column_type: int = column_type) -> wa.InRange:
            return wa.in_range(column_type, timezone)
    return compiled[0], compiled[1], check


def _offset(builder: PlanBuilder, compiler: ExpressionCompiler, node: Node, mode: str,
            column_type: int | None) -> Expr:
    for names in referenced_names(node):
        try:
            found = compiler.scope.find(names, -1)
        except MirrordbError:
            found = None
        if found is not None:
            raise error_at(f"argument of {mode} must not contain variables", "42P10",
                           leftmost_location(node))
    outer, builder.clause = builder.clause, f"window {mode}"
    expr = compiler.compile(node)
    builder.clause = outer
    if column_type is None:
        if T.cast_context(expr.type_oid, INT8) not in ("implicit", "assignment"):
            raise error_at(f"argument of {mode} must be type bigint, not type "
                           f"{T.format_type(expr.type_oid)}", "42804", leftmost_location(node))
        return _coerce_at(builder, expr, INT8, node, "assignment")
    wanted = _RANGE_OFFSET_TYPES.get(column_type, -1)
    if wanted is None:      # integer columns take integer offsets
        wanted = expr.type_oid if expr.type_oid in (T.INT2_OID, T.INT4_OID, T.INT8_OID) else \
            column_type if expr.type_oid == UNKNOWN else -1
    if wanted == -1 or not T.can_coerce(expr.type_oid, wanted):
        hint = None if wanted == -1 and column_type not in _RANGE_OFFSET_TYPES else \
            "Cast the offset value to an appropriate type."
        detail = "" if hint is None else f" and offset type {T.format_type(expr.type_oid)}"
        raise error_at("RANGE with offset PRECEDING/FOLLOWING is not supported for column type "
                       f"{T.format_type(column_type)}{detail}", "0A000",
                       leftmost_location(node), hint=hint)
    return _coerce_at(builder, expr, wanted, node)


def _coerce_at(builder: PlanBuilder, expr: Expr, type_oid: int, node: Node,
               context: str = "implicit") -> Expr:
    """``coerce``, an error converting a constant pointing at where it is written."""
    try:
        return coerce(builder, expr, type_oid, context=context)
    except MirrordbError as error:
        if getattr(error, "position", None) is None:
            error.position = leftmost_location(node) + 1  # type: ignore[attr-defined]
        raise


# -- the functions ---------------------------------------------------------------------------


def _resolve(builder: PlanBuilder, compiler: ExpressionCompiler, call: Node, name: str,
             location: int) -> wa.WindowCall:
    """The window function or window aggregate a call with OVER names, its arguments compiled
    and converted."""
    refuse_hypothetical_arguments(name, call)
    window_function = is_window_function(name)
    aggregate = not window_function and (aggs.is_aggregate(name) or bool(call.get("agg_star")))
    outer, builder.clause = builder.clause, WINDOW_ARGUMENTS
    args = [] if call.get("agg_star") else \
        builder.call_arguments(compiler, call, name, location)
    builder.clause = outer
    if not window_function and not aggregate:
        funcs_resolved = _plain_function(name, args, location)
        raise error_at(f"OVER specified, but {funcs_resolved} is not a window function nor an "
                       "aggregate function", "42809", location)
    if call.get("agg_distinct"):
        raise error_at("DISTINCT is not implemented for window functions", "0A000", location)
    if call.get("agg_order"):
        raise error_at("aggregate ORDER BY is not implemented for window functions", "0A000",
                       location)
    if window_function:
        if call.get("agg_filter"):
            raise error_at("FILTER is not implemented for non-aggregate window functions",
                           "0A000", location)
        args = window_function_arguments(builder, name, args, location, call.get("args", []))
        return wa.WindowCall(name, args, wa.Frame(), function=wa.WINDOW_FUNCTIONS[name],
                             uses_frame=name in _FRAME_FUNCTIONS)
    resolved, args, filter_expr = builder.resolve_aggregate_call(compiler, call, name, args)
    return wa.WindowCall(name, args, wa.Frame(), aggregate=resolved.definition,
                         filter=filter_expr)


def _plain_function(name: str, args: list[Expr], location: int) -> str:
    """The name of the ordinary function a call resolves to (its 42883 when none does)."""
    if name in srf.SET_RETURNING_FUNCTIONS:
        return name
    try:
        funcs.resolve_function(name, [a.type_oid for a in args])
    except MirrordbError as error:
        if getattr(error, "position", None) is None and location >= 0:
            error.position = location + 1  # type: ignore[attr-defined]
        raise
    return name


def refuse_hypothetical_arguments(name: str, call: Node) -> None:
    """rank(x) and its kin with arguments are PostgreSQL's hypothetical-set aggregates, which
    need WITHIN GROUP (mirrordb has none)."""
    if name in _HYPOTHETICAL and call.get("args"):
        raise error_at(f"WITHIN GROUP is required for ordered-set aggregate {name}", "42809",
                       call.get("location", -1))


def window_function_arguments(builder: PlanBuilder, name: str, args: list[Expr],
                              location: int, nodes: list[Node]) -> list[Expr]:
    """The arguments of window function ``name`` converted to its signature (pg_proc's:
    ntile(int4), lag/lead(anyelement [, int4 [, anycompatible]]), nth_value(anyelement,
    int4), first/last_value(anyelement)); 42883 when they do not fit it."""
    counts = {"ntile": (1,), "lag": (1, 2, 3), "lead": (1, 2, 3), "nth_value": (2,),
              "first_value": (1,), "last_value": (1,)}.get(name, (0,))
    if len(args) not in counts:
        raise no_such_function(name, args, location)
    if name == "ntile":
        return [_integer_argument(builder, name, args, 0, location)]
    if not args:
        return args
    value = args[0]
    if name in ("lag", "lead") and len(args) == 3:
        try:
            common = T.common_type([value.type_oid, args[2].type_oid], name)
        except MirrordbError:
            raise no_such_function(name, args, location) from None
        return [coerce(builder, value, common),
                _integer_argument(builder, name, args, 1, location),
                _coerce_at(builder, args[2], common, nodes[2])]
    if value.type_oid == UNKNOWN:
        raise MirrordbError("could not determine polymorphic type because input has type "
                            "unknown", sqlstate="42804")
    rest = [_integer_argument(builder, name, args, i, location) for i in range(1, len(args))]
    return [value, *rest]


def _integer_argument(builder: PlanBuilder, name: str, args: list[Expr], index: int,
                      location: int) -> Expr:
    if not T.can_coerce(args[index].type_oid, INT4):
        raise no_such_function(name, args, location)
    return coerce(builder, args[index], INT4)


def _result_type(name: str, args: list[Expr]) -> int:
    if name in _RANKING:
        return _RANKING[name]
    if name == "ntile":
        return INT4
    return args[0].type_oid


__all__ = ["WINDOW_ARGUMENTS", "WINDOW_DEFINITIONS", "WindowCalls", "compile_call",
           "is_window_function", "refuse", "refuse_hypothetical_arguments",
           "refuse_with_locking", "requires_over",
           "window_function_arguments"]
