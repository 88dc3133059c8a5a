"""Set-returning functions (generate_series, unnest): in FROM, and in the select list.

Who calls it: the planner (sql/planner.py) and INSERT's planning (sql/dml.py), once per
statement plan. In FROM a set-returning function is a ``FunctionScan`` (``function_in_from``).
In a select list it works as in PostgreSQL 10 and later, whose planner gives such a list a
ProjectSet node: the expression compiler hands every set-returning call it meets in a select
list (or its ORDER BY, DISTINCT ON, GROUP BY, or a one-row INSERT VALUES) to that list's
``SetCalls``, which compiles the call once and gives back a reference to the column that will
hold its value; ``project_set`` then puts the ``executor.ProjectSet`` nodes that compute those
columns under the projection. Everything else in the list is an ordinary expression over the
input row and those columns. Nothing here walks a statement that calls no such function: a
statement without them pays nothing for them.

The rules, PostgreSQL's:

- Each input row gives one output row per row of its functions. The functions of one node run
  in lockstep; one that has ended gives NULL until the last one ends; an input row for which
  every function returns no row gives no output row.
- A call whose arguments hold another set-returning call runs in a node above that call's
  node (``generate_series(1, generate_series(1, 3))`` gives 1, 1, 2, 1, 2, 3): a call's level
  is one more than the highest level among the calls in its arguments.
- Identical calls (the same parse tree) are one call, evaluated once per input row.
- The calls are refused in WHERE, HAVING, JOIN conditions, LIMIT, OFFSET, VALUES of more than
  one row, UPDATE's SET, RETURNING, aggregate FILTERs and aggregate arguments: the planner
  names the clause it compiles (``PlanBuilder.clause``, PostgreSQL's expression kind) and a
  call compiled there gets ``misplaced``'s error. Also in the arguments of a function in FROM
  (``refuse_in_from_arguments``); and, counting the calls compiled while a part of an
  expression is (PostgreSQL's p_last_srf), the expression compiler refuses them inside CASE
  and COALESCE and as an argument of AND, OR, NOT, IS [NOT] TRUE/FALSE/UNKNOWN, a CASE WHEN
  condition, IN or a subquery comparison. Each error points where PostgreSQL's does: at a
  call, or for an argument at the start of the argument.
- With DISTINCT ON and an ORDER BY that does not sort on the calls' values, DISTINCT ON is
  applied before the calls run (``carry_input``), as PostgreSQL plans it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.sql import array_dimensions
from mirrordb.sql import executor as ex
from mirrordb.sql import json_set_functions, notify
from mirrordb.sql import operators as ops
from mirrordb.sql import string_functions
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (INT4, INT8, LATERAL_HINT, TEXT, UNKNOWN, ExecContext,
                                      Expr, ExpressionCompiler, Row, coerce, error_at,
                                      feature_not_supported,
                                      no_such_function, node_key)
from mirrordb.sql.monitoring_functions import RECORD_SET_FUNCTION_NAMES, record_set_as_text
from mirrordb.sql.parser import Node, strings

if TYPE_CHECKING:
    from mirrordb.sql.planner import PlanBuilder

# The values of one call for one input row (its arguments are evaluated on that row).
ValuesFn = Callable[[Row, ExecContext], Iterable[Any]]

# generate_series and unnest, the functions returning a set of records
# (sql/monitoring_functions.py), whose records a select list shows as text, and the json ones
# (sql/json_set_functions.py).
SET_RETURNING_FUNCTIONS = frozenset({"generate_series", "unnest", "pg_listening_channels"}) \
    | RECORD_SET_FUNCTION_NAMES | json_set_functions.NAMES | string_functions.SET_NAMES
JSON_SET_NAMES = json_set_functions.NAMES   # with OUT parameters, WITH ORDINALITY in FROM
# record functions that may be called WITH ORDINALITY in FROM (psql's \d asks
# pg_partition_ancestors(...) WITH ORDINALITY)
ORDINALITY_NAMES = JSON_SET_NAMES | frozenset({"pg_partition_ancestors", "pg_partition_tree"})


# -- the functions ----------------------------------------------------------------------------


def compile_call(builder: PlanBuilder, name: str, args: list[Expr],
                 location: int = -1) -> tuple[ValuesFn, int]:
    """Set-returning function ``name`` over compiled ``args``: its values per input row and
    their type."""
    if name == "generate_series" and len(args) in (2, 3):
        return _generate_series(builder, args, location)
    if name == "unnest" and len(args) == 1:
        return _unnest(args[0], location)
    if name in RECORD_SET_FUNCTION_NAMES:
        return record_set_as_text(builder, name, args, location)
    if name in json_set_functions.NAMES:
        return json_set_functions.values_in_select_list(builder, name, args, location)
    if name == "pg_listening_channels" and not args:
        return notify.listening_channels_values, TEXT
    if name in string_functions.SET_NAMES:
        return string_functions.compile_set_call(builder, name, args, location)
    raise no_such_function(name, args, location)


def _unnest(array: Expr, location: int) -> tuple[ValuesFn, int]:
    element = T.element_type_of(array.type_oid)
    if not element:
        raise no_such_function("unnest", [array], location)
    fn = array.fn

    def values(row: Row, ctx: ExecContext) -> Iterable[Any]:
        return array_dimensions.flatten(fn(row, ctx) or [])   # every element, in storage order
    return values, element


def _generate_series(builder: PlanBuilder, args: list[Expr],
                     location: int) -> tuple[ValuesFn, int]:
    types = [a.type_oid for a in args[:2]]
    if any(t in (T.TIMESTAMP_OID, T.TIMESTAMPTZ_OID, T.DATE_OID) for t in types):
        if len(args) != 3:
            raise no_such_function("generate_series", args, location)
        return _timestamp_series(builder, args, types)
    result = T.common_type([a.type_oid for a in args], "generate_series")
    if result in (UNKNOWN, TEXT, T.INT2_OID):
        result = INT4
    if result not in (INT4, INT8, T.NUMERIC_OID):
        result = T.NUMERIC_OID if result in (T.FLOAT4_OID, T.FLOAT8_OID) else INT8
    fns = [coerce(builder, a, result).fn for a in args]

    def numbers(row: Row, ctx: ExecContext) -> Iterator[Any]:
        bounds = [fn(row, ctx) for fn in fns]
        if any(v is None for v in bounds):
            return
        value, stop = bounds[0], bounds[1]
        step = bounds[2] if len(bounds) == 3 else 1
        if step == 0:
            raise MirrordbError("step size cannot equal zero", sqlstate="22023")
        while (value <= stop) if step > 0 else (value >= stop):
            yield value
            value += step
    return numbers, result


def _timestamp_series(builder: PlanBuilder, args: list[Expr],
                      types: list[int]) -> tuple[ValuesFn, int]:
    """The timestamp form, or the timestamptz one (the preferred type: dates go to it)."""
    known = [t for t in types if t != UNKNOWN]
    result = T.TIMESTAMP_OID if all(t == T.TIMESTAMP_OID for t in known) else T.TIMESTAMPTZ_OID
    start = coerce(builder, args[0], result).fn
    stop = coerce(builder, args[1], result).fn
    step = coerce(builder, args[2], T.INTERVAL_OID).fn
    add = ops.resolve_operator("+", result, T.INTERVAL_OID).impl

    def timestamps(row: Row, ctx: ExecContext) -> Iterator[Any]:
        value, end, by = start(row, ctx), stop(row, ctx), step(row, ctx)
        if value is None or end is None or by is None:
            return
        following = add(value, by)
        if following == value:
            raise MirrordbError("step size cannot equal zero", sqlstate="22023")
        forward = following > value
        while (value <= end) if forward else (value >= end):
            yield value
            value = add(value, by)
    return timestamps, result


def function_in_from(builder: PlanBuilder, name: str, args: list[Expr], location: int = -1
                     ) -> tuple[Callable[[ExecContext], Iterator[Row]], int]:
    """A function called in FROM: its rows (one column) and their type. A function that does
    not return a set gives one row, its value."""
    if name in SET_RETURNING_FUNCTIONS:
        values, type_oid = compile_call(builder, name, args, location)
        return (lambda ctx: ((value,) for value in values((), ctx))), type_oid
    from mirrordb.sql import functions as funcs
    resolved = funcs.resolve_function(name, [a.type_oid for a in args])
    args = [coerce(builder, a, t) for a, t in zip(args, resolved.arg_types)]
    single = builder.call_expr(resolved.definition, args, name).fn
    return (lambda ctx: iter([(single((), ctx),)])), resolved.definition.result_type


# -- the select list's calls --------------------------------------------------------------------


@dataclass(eq=False)
class _Call:
    values: ValuesFn
    level: int
    reference: Expr
    slot: list[int]      # its column's index, from the end of the rows the projection reads


class SetCalls:
    """The set-returning calls of one select list (with its ORDER BY and DISTINCT ON), of a
    GROUP BY, or of a one-row VALUES: the planner hands each call the expression compiler
    meets there to ``compile``, which compiles it once (identical calls are one) and gives
    back a reference to the column that will hold its value. Once the list is compiled,
    ``layout`` places those columns: ProjectSet nodes append them to the input row, a level
    at a time, and each reference reads its column counting from the end of the row (so the
    width of the input, which may still grow while aggregates are being compiled, does not
    matter)."""

    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}
        self._level = 0             # the highest level among the calls met in the arguments
        self._layout: list[tuple[list[ValuesFn], int]] | None = None
        self.finished = 0           # calls compiled so far (an identical call counts again)
        self.last_location = -1     # where the last one is written

    def __bool__(self) -> bool:
        return bool(self._calls)

    def compile(self, builder: PlanBuilder, compiler: ExpressionCompiler, call: Node) -> Expr:
        """The reference to the value of set-returning call ``call`` (a FuncCall's fields)."""
        invariant(self._layout is None, "a set-returning call compiled after the layout")
        name = strings(call["funcname"])[-1].lower()
        location = call.get("location", -1)
        key = node_key(call)
        found = self._calls.get(key)
        if found is None:
            outer, self._level = self._level, 0
            from mirrordb.sql import user_functions
            user = user_functions.set_values(builder, compiler, call, location)
            if user is not None:
                values, type_oid = user
            else:
                args = builder.call_arguments(compiler, call, name, location)
                values, type_oid = compile_call(builder, name, args, location)
            slot = [0]

            def run(row: Row, ctx: ExecContext) -> Any:
                return row[slot[0]]
            found = _Call(values, self._level + 1, Expr(type_oid, run, name=name), slot)
            self._calls[key] = found
            self._level = outer
        self._level = max(self._level, found.level)
        self.finished += 1
        self.last_location = location
        return found.reference

    def layout(self) -> list[tuple[list[ValuesFn], int]]:
        """The functions of each level, bottom up, with the NULL padding their rows get (a
        call above the first level reads the columns below it counting from the end of the
        final row); fixes every reference's column."""
        if self._layout is None:
            ordered = sorted(self._calls.values(), key=lambda call: call.level)
            for offset, call in enumerate(ordered):
                call.slot[0] = offset - len(ordered)
            self._layout = []
            below = 0
            for level in range(1, ordered[-1].level + 1 if ordered else 1):
                functions = [call.values for call in ordered if call.level == level]
                self._layout.append((functions, 0 if level == 1 else len(ordered) - below))
                below += len(functions)
        return self._layout


def project_set(source: ex.PlanNode, calls: SetCalls | None) -> ex.PlanNode:
    """``source`` under the ProjectSet nodes that compute ``calls``."""
    for functions, padding in calls.layout() if calls else ():
        source = ex.ProjectSet(source, functions, padding, width=source.width + len(functions))
    return source


# -- where calls are refused ----------------------------------------------------------------------


AGGREGATE_ARGUMENTS = "aggregate arguments"   # the clause of an aggregate's arguments
WINDOW_ARGUMENTS = "window function arguments"   # the clause of a window call's arguments
WINDOW_DEFINITIONS = "window definitions"   # a window's PARTITION BY and ORDER BY


def misplaced(call: Node, clause: str | None) -> MirrordbError:
    """The error for set-returning call ``call`` (a FuncCall's fields) met while compiling
    ``clause``, where such calls are not allowed (None: no clause named). A clause's error
    points at the first call PostgreSQL's parser finishes (the innermost of ``call``'s first
    ones); an aggregate's at the outermost, leftmost call of its arguments, the first that the
    compiler meets."""
    if clause in (AGGREGATE_ARGUMENTS, WINDOW_ARGUMENTS):
        kind = "aggregate" if clause == AGGREGATE_ARGUMENTS else "window"
        return error_at(f"{kind} function calls cannot contain set-returning function calls",
                        "0A000", call.get("location", -1), hint=LATERAL_HINT)
    if clause == WINDOW_DEFINITIONS:
        return feature_not_supported("set-returning functions in window definitions")
    first = next(_calls_bottom_up({"FuncCall": call}))
    where = f"in {clause}" if clause is not None else "here"
    return error_at(f"set-returning functions are not allowed {where}", "0A000",
                    _location_of(first))


def refuse_in_from_arguments(args: list[Node]) -> None:
    """A function in FROM is itself the set; its arguments may not return sets (the error
    names the last call PostgreSQL's parser finishes)."""
    found = list(_calls_bottom_up(args))
    if found:
        raise error_at("set-returning functions must appear at top level of FROM", "0A000",
                       _location_of(found[-1]))


def refuse_with_locking(strength: str) -> MirrordbError:
    """SELECT ... FOR UPDATE/SHARE whose select list returns sets."""
    clause = {"LCS_FORKEYSHARE": "FOR KEY SHARE", "LCS_FORSHARE": "FOR SHARE",
              "LCS_FORNOKEYUPDATE": "FOR NO KEY UPDATE"}.get(strength, "FOR UPDATE")
    return MirrordbError(f"{clause} is not allowed with set-returning functions in the target "
                         "list", sqlstate="0A000")


def contains(tree: Any) -> bool:
    """Whether a parse (sub)tree calls a set-returning function at this query level."""
    return next(_calls_bottom_up(tree), None) is not None


def _calls_bottom_up(tree: Any) -> Iterator[Node]:
    """The set-returning calls of a parse tree at this query level (a sublink's query is not
    entered, its test expression is), each after the calls in its arguments: the order in
    which a parser finishes them."""
    if isinstance(tree, list):
        for item in tree:
            yield from _calls_bottom_up(item)
    elif isinstance(tree, dict):
        sublink = tree.get("SubLink")
        for child in tree.values() if sublink is None else (sublink.get("testexpr"),):
            yield from _calls_bottom_up(child)
        call = tree.get("FuncCall")
        if call is not None and "over" not in call and \
                strings(call["funcname"])[-1].lower() in SET_RETURNING_FUNCTIONS:
            yield tree


def _location_of(call: Node) -> int:
    return int(call["FuncCall"].get("location", -1))


# -- DISTINCT ON before the functions -------------------------------------------------------------
# When ORDER BY does not sort on the functions' values, PostgreSQL sorts and applies DISTINCT ON
# before it runs them. The rows sorted are then the keys, followed by the input row itself,
# which ``carried_input`` takes back out for the functions and the projection.


def carry_input(source: ex.PlanNode, exprs: list[Expr], keys: set[int]) -> ex.PlanNode:
    """Rows of ``exprs`` in which only positions ``keys`` are computed (the others NULL),
    then the input row."""
    def whole_row(row: Row, ctx: ExecContext) -> Any:
        return row
    computed = [e if position in keys else Expr(e.type_oid, _null)
                for position, e in enumerate(exprs)]
    return ex.Project(source, [*computed, Expr(UNKNOWN, whole_row)], width=len(exprs) + 1)


def _null(row: Row, ctx: ExecContext) -> Any:
    return None


def carried_input(child: ex.PlanNode) -> ex.PlanNode:
    return _CarriedInput(child)


@dataclass(eq=False)
class _CarriedInput(ex.PlanNode):
    """The input rows ``carry_input`` put at the end of its rows."""

    child: ex.PlanNode
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        for row in self.child.rows(ctx):
            yield row[-1]

    def explain(self) -> tuple[str, list[ex.PlanNode]]:
        return self.child.explain()


__all__ = ["AGGREGATE_ARGUMENTS", "JSON_SET_NAMES", "SET_RETURNING_FUNCTIONS", "SetCalls", "WINDOW_ARGUMENTS",
           "WINDOW_DEFINITIONS", "carried_input",
           "carry_input", "compile_call", "contains", "function_in_from", "misplaced",
           "project_set", "refuse_in_from_arguments", "refuse_with_locking"]
