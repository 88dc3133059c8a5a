"""Expression compilation: parse-tree expressions to typed Python closures.

Who calls it: the planner (sql/planner.py), once per statement plan; the closures then run once per
row in the executor (sql/executor.py). Plans are cached per prepared statement, so a closure never
captures a per-execution value: parameters, the outer rows of correlated subqueries and the session
come from the ``ExecContext`` passed on every call, ``fn(row, ctx)``.

Typing follows PostgreSQL: integer literals are int4 (int8, numeric when larger), decimal literals
numeric, quoted literals and untyped parameters ``unknown`` until an operator, function, cast or
target column gives them a type (``coerce``). Operators, functions and casts come from the type
system (sql/types.py, operators.py, functions.py, aggregates.py); the special forms SQL has apart
from operators (AND/OR/NOT with three-valued logic, CASE, COALESCE, IN, BETWEEN, IS [NOT] NULL,
sublinks) are built here; row values (ROW(...), row comparisons, ``(expr).field``) in
sql/row_values.py, which this module calls.

Rows are flat tuples: the FROM clause's range entries side by side, each followed by a hidden
``ctid`` column when it is a table (see ``Scope``). The ``tableoid`` system column takes no place
in the row: a range entry of a table, sequence or system catalog knows its relation's OID, and a
reference to ``tableoid`` compiles to that constant.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.sql import array_dimensions
from mirrordb.sql import functions as funcs
from mirrordb.sql import operators as ops
from mirrordb.sql import system_columns
from mirrordb.sql import types as T
from mirrordb.sql.parser import Node, one, strings

if TYPE_CHECKING:
    from mirrordb.sql.planner import PlanBuilder

Row = tuple[Any, ...]
EvalFn = Callable[[Row, "ExecContext"], Any]

BOOL = T.BOOL_OID
UNKNOWN = T.UNKNOWN_OID
INT4, INT8, NUMERIC, TEXT = T.INT4_OID, T.INT8_OID, T.NUMERIC_OID, T.TEXT_OID
TID_OID = 27
NAMEDATALEN = 64          # bytes of a name, its terminating zero included
TABLEOID_ATTNUM = -6      # PostgreSQL's TableOidAttributeNumber
TABLEOID = "tableoid"


def feature_not_supported(what: str) -> MirrordbError:
    return MirrordbError(f"{what} is not supported", sqlstate="0A000")


def error_at(message: str, sqlstate: str, location: int | None, **kwargs: Any) -> MirrordbError:
    error = MirrordbError(message, sqlstate=sqlstate, **kwargs)
    if location is not None and location >= 0:
        error.position = location + 1  # type: ignore[attr-defined]
    return error


class ExecContext:
    """Everything a running plan needs besides the row: the transaction, parameters, session."""

    __slots__ = ("txn", "params", "outer", "session", "function_context", "cache",
                 "check_interrupts")

    def __init__(self, txn: Any, params: Sequence[Any], session: Any,
                 function_context: Any, check_interrupts: Callable[[], None]) -> None:
        self.txn = txn
        self.params = params
        self.outer: list[Row] = []
        self.session = session
        self.function_context = function_context
        self.cache: dict[int, Any] = {}
        self.check_interrupts = check_interrupts


@dataclass(eq=False)
class Expr:
    """A compiled expression: its type, its closure, and what the planner may want to know."""

    type_oid: int
    fn: EvalFn
    typmod: int = -1
    name: str = "?column?"
    constant: bool = False
    value: Any = None
    column: int | None = None          # plain reference to input column ``column``
    param: int | None = None           # plain reference to parameter $param (1-based)
    volatile: bool = False
    location: int = -1
    argument_name: str | None = None   # a function argument given as ``name => value``
    fields: tuple[tuple[str, int], ...] | None = None   # a row value's (name, type) pairs


# Functions whose compilers bind ``name => value`` arguments to their parameters
# (sql/replication_functions.py); a named argument to any other function is refused.
NAMED_ARGUMENT_FUNCTIONS = frozenset({"pg_promote", "pg_backup_start", "pg_backup_stop"})


def format_arguments(args: Sequence[Expr]) -> str:
    """A call's argument types as PostgreSQL's "function ... does not exist" shows them
    (``name => type`` for a named argument)."""
    return ", ".join((f"{a.argument_name} => " if a.argument_name is not None else "")
                     + T.format_type(a.type_oid, -1) for a in args)


def no_such_function(name: str, args: Sequence[Expr], location: int) -> MirrordbError:
    """PostgreSQL's 42883 for a call no function of that name accepts."""
    return error_at(f"function {name}({format_arguments(args)}) does not exist", "42883",
                    location, hint="No function matches the given name and argument types. "
                                   "You might need to add explicit type casts.")


def check_arity(name: str, args: Sequence[Expr], counts: tuple[int, ...], location: int) -> None:
    """42883 unless the call passes one of ``counts`` arguments (functions without overloads)."""
    if len(args) not in counts:
        raise no_such_function(name, args, location)


def const(value: Any, type_oid: int, typmod: int = -1, name: str = "?column?") -> Expr:
    return Expr(type_oid, lambda row, ctx: value, typmod, name, constant=True, value=value)


# -- scopes ---------------------------------------------------------------------------------------


@dataclass(eq=False)
class ScopeColumn:
    name: str
    type_oid: int
    typmod: int = -1
    table_oid: int = 0
    attnum: int = 0
    hidden: bool = False
    # A column of a JOIN ... USING (or NATURAL) side, merged into the join's own column: left
    # out of ``*`` and of unqualified names, still reachable qualified (``a.id``).
    merged: bool = False
    # A join's USING column: the range entry a stored view names it by (the side whose value it
    # is; "" for a FULL JOIN's, which only its bare name reaches).
    source_alias: str = ""
    fields: tuple[tuple[str, int], ...] | None = None   # a row column's (sql/row_values.py)
    # xmin, xmax, cmin, cmax: read from the header of the version at the row's ctid (``index``
    # is then the ctid's position; sql/system_columns.py)
    header: system_columns.HeaderColumn | None = None


@dataclass(eq=False)
class RangeEntry:
    alias: str
    columns: list[ScopeColumn]
    offset: int
    relation: Any = None                  # access.relation.Relation for base tables
    ctid_index: int | None = None         # position of the hidden ctid column in the row
    aliased: bool = True                  # False: a table named by its own name, no alias
    table_oid: int | None = None          # the tableoid system column's value (None: no such)
    schema: str | None = None             # a table's schema name (``schema.table.column``)
    row_type_oid: int = 0                 # a view's row type (a table's comes from relation)


@dataclass(eq=False)
class Scope:
    """The columns an expression can name: range entries, and the scopes of enclosing queries
    (or, for a LATERAL item, of the FROM items before it: each such level is a row the
    executor pushes on ``ExecContext.outer`` while the item runs)."""

    entries: list[RangeEntry] = field(default_factory=list)
    parent: Scope | None = None
    width: int = 0
    # References compiled into this scope from a deeper one, counted while planning (how the
    # planner tells which subqueries and LATERAL items read an outer row), and the first one
    # as (range entry's alias, location).
    outer_references: int = 0
    first_outer_reference: tuple[str, int] | None = None
    # The FROM items before a subquery in FROM that is not LATERAL: a level of rows like any
    # other, but its names cannot be referenced (PostgreSQL's 42P01 with a hint if tried).
    lateral_only: bool = False

    def note_outer_reference(self, index: int, location: int) -> None:
        self.outer_references += 1
        if self.first_outer_reference is None:
            alias = next((e.alias for e in self.entries
                          if e.offset <= index < e.offset + len(e.columns)), "")
            self.first_outer_reference = (alias, location)

    def add(self, alias: str, columns: list[ScopeColumn], relation: Any = None,
            aliased: bool = True, table_oid: int | None = None,
            schema: str | None = None) -> RangeEntry:
        entry = RangeEntry(alias, columns, self.width, relation, aliased=aliased,
                           table_oid=table_oid, schema=schema)
        for i, column in enumerate(columns):
            if column.name == "ctid" and column.hidden:
                entry.ctid_index = self.width + i
        self.entries.append(entry)
        self.width += len(columns)
        return entry

    def merged(self, other: Scope) -> Scope:
        scope = Scope(parent=self.parent)
        for entry in self.entries + other.entries:
            scope.add(entry.alias, entry.columns, entry.relation, entry.aliased,
                      entry.table_oid, entry.schema)
        return scope

    def check_name_conflicts(self, other: Scope) -> None:
        """Two items of one FROM clause may not share a name (42712), except two tables
        named by their own names, without aliases, that are different tables (``s1.t, s2.t``),
        as the SQL standard and PostgreSQL allow."""
        for mine in self.entries:
            for theirs in other.entries:
                if mine.alias != theirs.alias or not mine.alias:   # "": a join's own columns
                    continue
                if not mine.aliased and not theirs.aliased and mine.relation is not None \
                        and theirs.relation is not None \
                        and mine.relation.oid != theirs.relation.oid:
                    continue
                raise MirrordbError(f'table name "{mine.alias}" specified more than once',
                                    sqlstate="42712")

    def all_columns(self) -> list[ScopeColumn]:
        return [c for e in self.entries for c in e.columns]

    def find(self, names: list[str], location: int) -> tuple[int, ScopeColumn] | None:
        """(row index, column) of a column reference in this scope, or None if absent here."""
        if len(names) == 1:
            found = [(e.offset + i, c) for e in self.entries for i, c in enumerate(e.columns)
                     if c.name == names[0] and not c.merged]
            if not found and names[0] == TABLEOID:
                found = [_tableoid_column(e) for e in self.entries if e.table_oid is not None]
            if not found and names[0] in system_columns.SYSTEM_COLUMNS:
                found = [_header_column(e, names[0]) for e in self.entries
                         if e.ctid_index is not None and e.relation is not None]
            if len(found) > 1:
                raise error_at(f'column reference "{names[0]}" is ambiguous', "42702", location)
            return found[0] if found else None
        alias, column = names[-2], names[-1]
        entries = [e for e in self.entries if e.alias == alias and
                   (len(names) < 3 or (not e.aliased and e.schema == names[-3]))]
        if not entries:
            return None
        entry = entries[0]
        matches = [(entry.offset + i, c) for i, c in enumerate(entry.columns) if c.name == column]
        unmerged = [match for match in matches if not match[1].merged]
        if len(unmerged) > 1:      # a join's alias over two columns of one name
            raise error_at(f'column reference "{column}" is ambiguous', "42702", location)
        if unmerged or matches:
            return (unmerged or matches)[0]
        if column == TABLEOID and entry.table_oid is not None:
            return _tableoid_column(entry)
        if column in system_columns.SYSTEM_COLUMNS and entry.ctid_index is not None \
                and entry.relation is not None:
            return _header_column(entry, column)
        raise error_at(f"column {alias}.{column} does not exist", "42703", location)

    def entry(self, alias: str) -> RangeEntry | None:
        return next((e for e in self.entries if e.alias == alias), None)


MAX_FUZZY_DISTANCE = 3    # the most edits a suggested column name may be away (PostgreSQL's)


def column_hint(scope: Scope | None, alias: str | None, name: str) -> str | None:
    """PostgreSQL's hint for a column reference that names no column: the column of the FROM
    items (at any query level) nearest to ``name`` in edits, counting the edits between
    ``alias`` and an item's name too when the reference was qualified; none when the nearest
    is more than MAX_FUZZY_DISTANCE away or changes more than half of ``name``; two when two
    tie, none when more do."""
    best = MAX_FUZZY_DISTANCE + 1
    found: list[tuple[str, str]] = []
    tied_out = False
    while scope is not None:
        for entry in scope.entries:
            if not entry.alias:        # a join's merged USING columns: their tables count
                continue
            penalty = 0 if alias is None else min(_edit_distance(alias, entry.alias),
                                                  MAX_FUZZY_DISTANCE + 1)
            for column in entry.columns:
                if column.hidden or penalty > best:
                    continue
                distance = _edit_distance(column.name, name)
                if distance > len(name) // 2:
                    continue
                distance += penalty
                if distance < best:
                    best, found, tied_out = distance, [(entry.alias, column.name)], False
                elif distance == best and not tied_out and found:
                    if len(found) == 2:     # too many at this distance: none of them
                        found, tied_out = [], True
                    else:
                        found.append((entry.alias, column.name))
        scope = scope.parent
    if not found:
        return None
    first = f'the column "{found[0][0]}.{found[0][1]}"'
    if len(found) == 1:
        return f"Perhaps you meant to reference {first}."
    return f'Perhaps you meant to reference {first} or the column "{found[1][0]}.{found[1][1]}".'


def _edit_distance(left: str, right: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions, each costing one."""
    previous = list(range(len(right) + 1))
    for i, left_char in enumerate(left, 1):
        current = [i]
        for j, right_char in enumerate(right, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (left_char != right_char)))
        previous = current
    return previous[-1]


def _tableoid_column(entry: RangeEntry) -> tuple[int, ScopeColumn]:
    """The tableoid system column of ``entry``: no row position (-1); its value is the
    column's table_oid."""
    invariant(entry.table_oid is not None, "tableoid of a range entry without one")
    # a row of a partitioned table or of an inheritance parent read with its children is a
    # leaf's or child's: its ctid knows which (sql/partitioning.py's PartitionTid)
    by_row = getattr(entry.relation, "kind", None) in ("p", "r") and entry.ctid_index is not None
    return (entry.ctid_index if by_row else -1), ScopeColumn(  # type: ignore[return-value]
        TABLEOID, T.OID_OID, -1, entry.table_oid or 0, TABLEOID_ATTNUM, hidden=True)


def _header_column(entry: RangeEntry, name: str) -> tuple[int, ScopeColumn]:
    """System column ``name`` (xmin, xmax, cmin, cmax) of table ``entry``: at the row position
    of its ctid, which the compiled reference reads the version's header through."""
    invariant(entry.ctid_index is not None, "header column of a range entry without ctid")
    attnum, type_oid = system_columns.SYSTEM_COLUMNS[name]
    return entry.ctid_index or 0, ScopeColumn(
        name, type_oid, -1, entry.relation.oid, attnum, hidden=True,
        header=system_columns.HeaderColumn(entry.relation, attnum))


# -- coercion -------------------------------------------------------------------------------------


def coerce(builder: PlanBuilder, expr: Expr, target_oid: int, target_typmod: int = -1,
           context: str = "implicit") -> Expr:
    """``expr`` converted to ``target_oid`` (unknown literals and parameters take the type);
    converted to a NOT NULL domain, a NULL is an error when the expression runs."""
    converted = _coerce(builder, expr, target_oid, target_typmod, context)
    if target_oid >= T.FIRST_USER_TYPE_OID and converted is not expr:
        from mirrordb.sql import user_types
        return user_types.enforce_domain_not_null(converted, target_oid)
    return converted


def _coerce(builder: PlanBuilder, expr: Expr, target_oid: int, target_typmod: int,
            context: str) -> Expr:
    same_type = expr.type_oid == target_oid
    if same_type and (target_typmod < 0 or expr.typmod == target_typmod):
        return expr
    if expr.param is not None and expr.type_oid == UNKNOWN:
        builder.set_param_type(expr.param, target_oid)
        return Expr(target_oid, expr.fn, target_typmod if context != "implicit" else -1,
                    expr.name, param=expr.param, location=expr.location)
    if target_oid == UNKNOWN:
        return expr
    if same_type and target_typmod >= 0 and context == "implicit":
        return expr
    source = expr.type_oid
    timezone = builder.timezone
    if expr.constant:
        value = expr.value
        if value is not None:
            # a conversion error points at the literal, as PostgreSQL's; a length or precision
            # error (the typmod, applied afterwards) does not
            typmod_later = target_typmod >= 0 and target_oid != T.INTERVAL_OID
            try:
                value = T.cast(value, source, target_oid, -1 if typmod_later else target_typmod,
                               context=context, timezone=timezone)
            except MirrordbError as error:
                _locate(error, expr.location)
                raise
            if typmod_later:
                value = T.apply_typmod(value, target_oid, target_typmod,
                                       explicit=context == "explicit")
        return const(value, target_oid, target_typmod, expr.name)
    inner = expr.fn
    convert = T.caster(source, target_oid, target_typmod, context=context)

    def run(row: Row, ctx: ExecContext) -> Any:
        value = inner(row, ctx)
        if value is None:
            return None
        return convert(value, ctx.function_context.timezone)
    return Expr(target_oid, run, target_typmod, expr.name, volatile=expr.volatile)


def coerce_to_bool(builder: PlanBuilder, expr: Expr, what: str, location: int = -1) -> Expr:
    """``expr`` as a condition; ``location``: where it starts, for an error when the compiled
    expression does not know."""
    if expr.type_oid == BOOL:
        return expr
    if expr.type_oid == UNKNOWN:
        return coerce(builder, expr, BOOL)
    raise error_at(f"argument of {what} must be type boolean, not type "
                   f"{T.format_type(expr.type_oid, -1)}", "42804",
                   expr.location if expr.location >= 0 else location)


def expression_location(node: Node) -> int:
    """Where an expression starts in the statement (PostgreSQL's exprLocation for errors about
    the whole value): an operator's or a cast's left operand starts it."""
    kind, fields = one(node)
    if not isinstance(fields, dict):
        return -1
    location = fields.get("location", -1)
    left = fields.get("lexpr") if kind == "A_Expr" else fields.get("arg") \
        if kind == "TypeCast" else None
    if isinstance(left, dict) and left:
        start = expression_location(left)
        if start >= 0 and (location < 0 or start < location):
            return start
    return location


# -- the compiler ---------------------------------------------------------------------------------


LATERAL_HINT = "You might be able to move the set-returning function into a LATERAL FROM item."


class SetCallSink(Protocol):
    """Where set-returning functions may be called (a select list), what collects the calls
    as the planner compiles them (sql/set_returning.SetCalls). ``finished`` counts the calls
    compiled and ``last_location`` is where the last one is written (PostgreSQL's
    p_last_srf): a part of an expression returns a set when the count moved while it was
    compiled, which is how the places that may not return one are checked."""

    finished: int
    last_location: int


class ExpressionCompiler:
    """Compiles expressions of one query level against its scope."""

    def __init__(self, builder: PlanBuilder, scope: Scope,
                 replacements: dict[str, Expr] | None = None,
                 aggregate_sink: Callable[[Node], Expr] | None = None,
                 grouped: bool = False) -> None:
        self.builder = builder
        self.scope = scope
        self.replacements = replacements or {}
        self.aggregate_sink = aggregate_sink
        self.grouped = grouped
        # set by the planner where the expressions compiled may call set-returning functions
        self.set_calls: SetCallSink | None = None
        # set by the planner where they may call window functions (sql/window.WindowCalls)
        self.windows: Any = None

    def set_mark(self) -> int:
        """Where the count of set-returning calls compiled stands (see ``returned_set``)."""
        return self.set_calls.finished if self.set_calls is not None else 0

    def returned_set(self, mark: int) -> bool:
        """Whether a set-returning call was compiled since ``set_mark`` gave ``mark``."""
        return self.set_calls is not None and self.set_calls.finished != mark

    def _refuse_set_argument(self, mark: int, what: str, where: Node | int) -> None:
        """42804 if what was compiled since ``mark``, an argument of ``what`` written at
        ``where`` (its parse tree, or a location), returns a set."""
        if self.returned_set(mark):
            location = where if isinstance(where, int) else leftmost_location(where)
            raise error_at(f"argument of {what} must not return a set", "42804", location)

    def _refuse_set_construct(self, mark: int, what: str) -> None:
        """0A000 if a set-returning call was compiled since ``mark`` inside ``what``."""
        if self.set_calls is not None and self.returned_set(mark):
            raise error_at(f"set-returning functions are not allowed in {what}", "0A000",
                           self.set_calls.last_location, hint=LATERAL_HINT)

    def compile(self, node: Node) -> Expr:
        if self.replacements:
            key = node_key(node)
            replaced = self.replacements.get(key)
            if replaced is not None:
                return replaced
        node_type, fields = one(node)
        method = getattr(self, "_" + node_type, None)
        if method is None:
            raise feature_not_supported(f"expression {node_type}")
        return method(fields)

    # constants and references

    def _A_Const(self, f: Node) -> Expr:
        if f.get("isnull"):
            return const(None, UNKNOWN, name="?column?")
        if "ival" in f:
            value = f["ival"].get("ival", 0)
            return const(value, INT4 if -2**31 <= value < 2**31 else INT8)
        if "fval" in f:
            text = f["fval"]["fval"]
            if text.lstrip("-").isdigit():
                value = int(text)
                if -2**31 <= value < 2**31:
                    return const(value, INT4)
                return const(value, INT8) if -2**63 <= value < 2**63 else \
                    const(T.parse_text(NUMERIC, text), NUMERIC)
            return const(T.parse_text(NUMERIC, text), NUMERIC)
        if "sval" in f:     # an untyped literal: its conversion errors point at it
            literal = const(f["sval"].get("sval", ""), UNKNOWN)
            literal.location = f.get("location", -1)
            return literal
        if "boolval" in f:
            return const(bool(f["boolval"].get("boolval", False)), BOOL, name="bool")
        if "bsval" in f:
            text = f["bsval"]["bsval"]
            return const(text, UNKNOWN)
        raise feature_not_supported("this constant")

    def _ParamRef(self, f: Node) -> Expr:
        number = f.get("number", 0)
        type_oid = self.builder.param_type(number)
        index = number - 1

        def run(row: Row, ctx: ExecContext) -> Any:
            return ctx.params[index]
        return Expr(type_oid, run, name="?column?", param=number, location=f.get("location", -1))

    def _ColumnRef(self, f: Node) -> Expr:
        location = f.get("location", -1)
        fields = f["fields"]
        if "A_Star" in fields[-1]:
            qualifier = strings(fields[:-1])
            whole = self._whole_row(qualifier[-1], location) if len(qualifier) == 1 else None
            if whole is not None:       # t.* inside an expression: t's row as a record
                return whole
            raise error_at("row expansion via \"*\" is not supported here", "0A000", location)
        names = strings(fields)
        scope, depth = self.scope, 0
        while scope is not None:
            try:
                found = scope.find(names, location) if not scope.lateral_only else None
            except MirrordbError as error:
                if error.sqlstate == "42703":     # t.x with no x in t: suggest a column
                    error.hint = column_hint(self.scope, names[-2], names[-1])
                raise
            if found is not None:
                index, column = found
                recording = getattr(self.builder, "view_recording", None)
                if recording is not None:
                    recording.columns[id(f)] = next(
                        e.alias or column.source_alias for e in scope.entries
                        if e.offset <= index < e.offset + len(e.columns)
                        or (index < 0 and e.table_oid == column.table_oid))
                if self.grouped and depth == 0:
                    raise error_at(
                        f'column "{self._qualified_name(index, column)}" must appear in the '
                        "GROUP BY clause or be used in an aggregate function", "42803", location)
                if depth:
                    scope.note_outer_reference(index, location)
                return self._column_expr(index, column, depth)
            scope, depth = scope.parent, depth + 1
        from mirrordb.sql.user_functions import parameter_reference
        parameter = parameter_reference(self.builder, names, location)
        if parameter is not None:     # a SQL function's parameter, named in its body
            return parameter
        if len(names) == 1:
            whole = self._whole_row(names[0], location)
            if whole is not None:
                return whole
        _refuse_lateral_only(self.scope, names, location)
        if len(names) >= 2 and self.scope.entry(names[-2]) is None and not any(
                s.entry(names[-2]) for s in _parents(self.scope)):
            aliased = self._aliased_table(names[-2])
            if aliased is not None:
                raise error_at(f'invalid reference to FROM-clause entry for table "{names[-2]}"',
                               "42P01", location, hint="Perhaps you meant to reference the "
                               f'table alias "{aliased.alias}".')
            raise error_at(f'missing FROM-clause entry for table "{names[-2]}"', "42P01",
                           location)
        raise error_at(f'column "{names[-1]}" does not exist', "42703", location,
                       hint=column_hint(self.scope, None, names[-1]))

    def _whole_row(self, alias: str, location: int) -> Expr | None:
        """A name that is no column but a FROM item: its row as a record (PostgreSQL's
        whole-row reference), its visible columns with their names."""
        scope, depth = self.scope, 0
        while scope is not None:
            entry = scope.entry(alias) if not scope.lateral_only else None
            if entry is not None:
                break
            scope, depth = scope.parent, depth + 1
        if scope is None or entry is None:
            return None
        visible = [(entry.offset + i, c) for i, c in enumerate(entry.columns)
                   if not c.hidden and not c.merged]
        if self.grouped and depth == 0 and visible:
            raise error_at(f'column "{alias}.*" must appear in the GROUP BY clause or be used '
                           "in an aggregate function", "42803", location)
        indexes = [index for index, _ in visible]
        columns = tuple((c.name, c.type_oid) for _, c in visible)
        if depth:
            scope.note_outer_reference(indexes[0] if indexes else 0, location)
            self.builder.correlated = True

        def run(row: Row, ctx: ExecContext) -> Any:
            source = ctx.outer[-depth] if depth else row
            return T.RowRecord.of([source[index] for index in indexes], columns)
        return Expr(row_values.whole_row_type(entry), run, name=alias, fields=columns)

    def _qualified_name(self, index: int, column: ScopeColumn) -> str:
        """``alias.column`` of the column at row ``index``, as PostgreSQL names it in errors."""
        for entry in self.scope.entries:
            if entry.alias and entry.offset <= index < entry.offset + len(entry.columns):
                return f"{entry.alias}.{column.name}"
        return column.name

    def _aliased_table(self, name: str) -> RangeEntry | None:
        """The range entry of table ``name`` when the query gave it another alias (its own
        name is then no longer a valid qualifier)."""
        scope: Scope | None = self.scope
        while scope is not None:
            for entry in scope.entries:
                if entry.relation is not None and getattr(entry.relation, "name", None) == name:
                    return entry
            scope = scope.parent
        return None

    def _column_expr(self, index: int, column: ScopeColumn, depth: int) -> Expr:
        if column.attnum == TABLEOID_ATTNUM:
            value = column.table_oid
            if index >= 0:      # the leaf's or child's OID when the ctid carries it
                if depth:
                    self.builder.correlated = True

                def by_row(row: Row, ctx: ExecContext) -> Any:
                    tid = (ctx.outer[-depth] if depth else row)[index]
                    leaf = getattr(tid, "relation", None)
                    return value if leaf is None else leaf.oid
                return Expr(column.type_oid, by_row, column.typmod, column.name)
            return Expr(column.type_oid, lambda row, ctx: value, column.typmod, column.name)
        if column.header is not None:
            if depth:
                self.builder.correlated = True
            return _header_expr(column, column.header, index, depth)
        if depth == 0:
            def run(row: Row, ctx: ExecContext) -> Any:
                return row[index]
            return Expr(column.type_oid, run, column.typmod, column.name, column=index,
                        fields=column.fields)
        self.builder.correlated = True

        def outer(row: Row, ctx: ExecContext) -> Any:
            return ctx.outer[-depth][index]
        return Expr(column.type_oid, outer, column.typmod, column.name, fields=column.fields)

    # operators

    def _A_Expr(self, f: Node) -> Expr:
        kind = f.get("kind", "AEXPR_OP")
        name = strings(f.get("name"))[-1] if f.get("name") else ""
        location = f.get("location", -1)
        if kind == "AEXPR_OP":
            if "lexpr" not in f:
                return self.prefix_operator(name, self.compile(f["rexpr"]), location)
            if "RowExpr" in f["lexpr"]:
                written = row_values.written_row_comparison(self, f, name, location)
                if written is not None:
                    return written
            return self.binary_operator(name, self.compile(f["lexpr"]),
                                        self.compile(f["rexpr"]), location)
        if kind in ("AEXPR_LIKE", "AEXPR_ILIKE"):
            return self._like(f, name, location)
        if kind == "AEXPR_IN":
            return self._in_list(f, name, location)
        if kind in ("AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN", "AEXPR_BETWEEN_SYM",
                    "AEXPR_NOT_BETWEEN_SYM"):
            return self._between(f, kind, location)
        if kind == "AEXPR_DISTINCT" or kind == "AEXPR_NOT_DISTINCT":
            return self._distinct(f, kind == "AEXPR_NOT_DISTINCT", location)
        if kind == "AEXPR_NULLIF":
            return self._nullif(f, location)
        if kind == "AEXPR_OP_ANY" or kind == "AEXPR_OP_ALL":
            return self._op_any_all(f, name, kind == "AEXPR_OP_ALL", location)
        if kind == "AEXPR_SIMILAR":      # x ~ similar_to_escape(pattern, escape)
            return self.binary_operator(name, self.compile(f["lexpr"]), self.compile(f["rexpr"]),
                                        location)
        raise feature_not_supported(f"operator kind {kind}")

    def binary_operator(self, name: str, left: Expr, right: Expr, location: int = -1) -> Expr:
        if T.is_row_type(left.type_oid) or T.is_row_type(right.type_oid):
            return row_values.record_operator(name, left, right, location)
        try:
            resolved = ops.resolve_operator(name, left.type_oid, right.type_oid)
        except MirrordbError as error:
            _locate(error, location)
            raise
        left = coerce(self.builder, left, resolved.left_type)
        right = coerce(self.builder, right, resolved.right_type)
        impl = resolved.impl
        if not resolved.strict:
            return _non_strict_binary(resolved, left, right)
        if left.constant and right.constant and not left.volatile and not right.volatile:
            value = None if left.value is None or right.value is None else \
                impl(left.value, right.value)
            return const(value, resolved.result_type, name="?column?")
        lf, rf = left.fn, right.fn
        if right.constant:
            rv = right.value
            if rv is None:
                return const(None, resolved.result_type)

            def run_const(row: Row, ctx: ExecContext) -> Any:
                lv = lf(row, ctx)
                return None if lv is None else impl(lv, rv)
            return Expr(resolved.result_type, run_const, volatile=left.volatile)

        def run(row: Row, ctx: ExecContext) -> Any:
            lv = lf(row, ctx)
            if lv is None:
                return None
            rv = rf(row, ctx)
            return None if rv is None else impl(lv, rv)
        return Expr(resolved.result_type, run, volatile=left.volatile or right.volatile)

    def prefix_operator(self, name: str, operand: Expr, location: int = -1) -> Expr:
        try:
            resolved = ops.resolve_operator(name, None, operand.type_oid)
        except MirrordbError as error:
            _locate(error, location)
            raise
        operand = coerce(self.builder, operand, resolved.right_type)
        impl, inner = resolved.impl, operand.fn
        if operand.constant:
            return const(None if operand.value is None else impl(operand.value),
                         resolved.result_type)

        def run(row: Row, ctx: ExecContext) -> Any:
            value = inner(row, ctx)
            return None if value is None else impl(value)
        return Expr(resolved.result_type, run)

    def _like(self, f: Node, name: str, location: int) -> Expr:
        right_node = f["rexpr"]
        if "FuncCall" in right_node and strings(right_node["FuncCall"]["funcname"])[-1] == \
                "like_escape":
            pass  # the function exists in functions.py; compiled as a normal call below
        return self.binary_operator(name, self.compile(f["lexpr"]), self.compile(right_node),
                                    location)

    def _in_list(self, f: Node, name: str, location: int) -> Expr:
        if "RowExpr" in f["lexpr"] and "List" in f["rexpr"]:
            return row_values.in_list(self, f, name == "<>", location)
        mark = self.set_mark()
        left = self.compile(f["lexpr"])
        sets = [self.returned_set(mark)]        # the left side's, then each item's
        if "List" not in f["rexpr"]:
            raise feature_not_supported("IN with this right-hand side")
        nodes = one(f["rexpr"])[1]["items"]
        items = []
        for node in nodes:
            mark = self.set_mark()
            items.append(self.compile(node))
            sets.append(self.returned_set(mark))
        if any(sets):
            self._refuse_set_in_list(f["lexpr"], nodes, sets)
        negate = name == "<>"
        comparisons = [self.binary_operator("=", left, item, location) for item in items]
        return self._any_of(comparisons, negate)

    @staticmethod
    def _refuse_set_in_list(left: Node, nodes: list[Node], sets: list[bool]) -> None:
        """PostgreSQL compares ``x IN (...)`` as one ``x = ANY (array)`` made of the items
        that name no column when there are two or more of them, the other items one by one;
        a comparison made alone is an argument of IN, which may not return a set."""
        constants = [not contains_node(node, "ColumnRef") for node in nodes]
        in_array = sum(constants) >= 2
        for constant, item_set in zip(constants, sets[1:]):
            if not (in_array and constant) and (sets[0] or item_set):
                raise error_at("argument of IN must not return a set", "42804",
                               leftmost_location(left))

    @staticmethod
    def _any_of(comparisons: list[Expr], negate: bool) -> Expr:
        fns = [c.fn for c in comparisons]

        def run(row: Row, ctx: ExecContext) -> Any:
            saw_null = False
            for fn in fns:
                result = fn(row, ctx)
                if result is True:
                    return not negate
                if result is None:
                    saw_null = True
            return None if saw_null else negate
        return Expr(BOOL, run)

    def _between(self, f: Node, kind: str, location: int) -> Expr:
        mark = self.set_mark()
        low_node, high_node = one(f["rexpr"])[1]["items"]
        value, low, high = self.compile(f["lexpr"]), self.compile(low_node), \
            self.compile(high_node)
        # PostgreSQL rewrites it as comparisons under AND (NOT BETWEEN: OR)
        self._refuse_set_argument(mark, "OR" if "NOT" in kind else "AND", f["lexpr"])

        def compare(name: str, left: Expr, left_node: Node, right: Expr,
                    right_node: Node) -> Expr:
            if "RowExpr" in left_node and "RowExpr" in right_node:
                return row_values.compare_rows(self, name, left_node, right_node, location)
            return self.binary_operator(name, left, right, location)
        value_node = f["lexpr"]
        ge = compare(">=", value, value_node, low, low_node)
        le = compare("<=", value, value_node, high, high_node)
        result = and_exprs([ge, le])
        if kind.endswith("_SYM"):
            ge2 = compare(">=", value, value_node, high, high_node)
            le2 = compare("<=", value, value_node, low, low_node)
            result = or_exprs([result, and_exprs([ge2, le2])])
        return not_expr(result) if "NOT" in kind else result

    def _distinct(self, f: Node, not_distinct: bool, location: int) -> Expr:
        if "RowExpr" in f["lexpr"] and "RowExpr" in f["rexpr"]:
            return row_values.distinct_rows(self, f["lexpr"], f["rexpr"], not_distinct,
                                            location)
        left, right = self.compile(f["lexpr"]), self.compile(f["rexpr"])
        equal = self.binary_operator("=", left, right, location).fn
        lf, rf = left.fn, right.fn

        def run(row: Row, ctx: ExecContext) -> Any:
            lv, rv = lf(row, ctx), rf(row, ctx)
            if lv is None or rv is None:
                same = lv is None and rv is None
            else:
                same = bool(equal(row, ctx))
            return same if not_distinct else not same
        return Expr(BOOL, run)

    def _nullif(self, f: Node, location: int) -> Expr:
        left, right = self.compile(f["lexpr"]), self.compile(f["rexpr"])
        equal = self.binary_operator("=", left, right, location).fn
        lf = left.fn

        def run(row: Row, ctx: ExecContext) -> Any:
            return None if equal(row, ctx) is True else lf(row, ctx)
        return Expr(left.type_oid if left.type_oid != UNKNOWN else TEXT, run)

    def _op_any_all(self, f: Node, name: str, all_: bool, location: int) -> Expr:
        right = f["rexpr"]
        if "A_ArrayExpr" in right and not any(   # x = ANY(ARRAY[a, b]): x = a OR x = b
                "A_ArrayExpr" in item for item in right["A_ArrayExpr"].get("elements", [])):
            left = self.compile(f["lexpr"])
            comparisons = [self.binary_operator(name, left, self.compile(n), location)
                           for n in right["A_ArrayExpr"].get("elements", [])]
            if not all_:
                return self._any_of(comparisons, False)
            return and_exprs(comparisons)
        left = self.compile(f["lexpr"])
        array = self.compile(right)
        if array.type_oid == UNKNOWN:
            array = coerce(self.builder, array, T.TYPES[left.type_oid].array_oid
                           if left.type_oid in T.TYPES and T.TYPES[left.type_oid].array_oid
                           else T.TYPES[TEXT].array_oid)
        element = T.TYPES[array.type_oid].element_oid if array.type_oid in T.TYPES else 0
        if not element:
            raise error_at("op ANY/ALL (array) requires array on right side", "42809", location)
        resolved = ops.resolve_operator(name, left.type_oid, element)
        left = coerce(self.builder, left, resolved.left_type)
        impl, lf, af = resolved.impl, left.fn, array.fn

        def run(row: Row, ctx: ExecContext) -> Any:
            lv, items = lf(row, ctx), af(row, ctx)
            if items is None:
                return None
            saw_null = False
            for item in array_dimensions.flatten(items):
                result = None if lv is None or item is None else impl(lv, item)
                if result is None:
                    saw_null = True
                elif bool(result) != all_:
                    return not all_
            return None if saw_null else all_
        return Expr(BOOL, run)

    # boolean logic

    def _BoolExpr(self, f: Node) -> Expr:
        op = f["boolop"]
        what = {"AND_EXPR": "AND", "OR_EXPR": "OR", "NOT_EXPR": "NOT"}[op]
        args = [self._condition(a, what) for a in f["args"]]
        if op == "AND_EXPR":
            return and_exprs(args)
        if op == "OR_EXPR":
            return or_exprs(args)
        return not_expr(args[0])

    def _condition(self, node: Node, what: str) -> Expr:
        """``node`` compiled as a boolean argument of ``what`` (which may not return a set)."""
        mark = self.set_mark()
        compiled = self.compile(node)
        try:
            condition = coerce_to_bool(self.builder, compiled, what)
        except MirrordbError as error:
            _locate(error, leftmost_location(node))
            raise
        self._refuse_set_argument(mark, what, node)
        return condition

    def _NullTest(self, f: Node) -> Expr:
        arg = self.compile(f["arg"])
        if T.is_row_type(arg.type_oid):
            return row_values.null_test(arg, f.get("nulltesttype") == "IS_NOT_NULL")
        inner = arg.fn
        if f.get("nulltesttype") == "IS_NOT_NULL":
            return Expr(BOOL, lambda row, ctx: inner(row, ctx) is not None)
        return Expr(BOOL, lambda row, ctx: inner(row, ctx) is None)

    def _BooleanTest(self, f: Node) -> Expr:
        test = f["booltesttype"]
        arg = self._condition(f["arg"], test.replace("_", " "))
        inner = arg.fn
        wanted = {"IS_TRUE": True, "IS_NOT_TRUE": True, "IS_FALSE": False,
                  "IS_NOT_FALSE": False, "IS_UNKNOWN": None, "IS_NOT_UNKNOWN": None}[test]
        negate = "_NOT_" in test
        return Expr(BOOL, lambda row, ctx: (inner(row, ctx) is wanted) != negate)

    # conditional forms

    def _CaseExpr(self, f: Node) -> Expr:
        mark = self.set_mark()
        subject = self.compile(f["arg"]) if f.get("arg") else None
        conditions, results = [], []
        for when_node in f["args"]:
            when = when_node["CaseWhen"]
            when_mark = self.set_mark()
            condition = self.compile(when["expr"])
            if subject is not None:
                condition = self.binary_operator("=", subject, condition)
            conditions.append(coerce_to_bool(self.builder, condition, "CASE/WHEN"))
            self._refuse_set_argument(when_mark, "CASE/WHEN", when["expr"] if subject is None
                                      else when.get("location", -1))   # ``subject = value``
            results.append(self.compile(when["result"]))
        default = self.compile(f["defresult"]) if f.get("defresult") else const(None, UNKNOWN)
        self._refuse_set_construct(mark, "CASE")
        result_type = T.common_type([default.type_oid] + [r.type_oid for r in results], "CASE")
        results = [coerce(self.builder, r, result_type) for r in results]
        default = coerce(self.builder, default, result_type)
        pairs = [(c.fn, r.fn) for c, r in zip(conditions, results)]
        default_fn = default.fn

        def run(row: Row, ctx: ExecContext) -> Any:
            for condition, result in pairs:
                if condition(row, ctx) is True:
                    return result(row, ctx)
            return default_fn(row, ctx)
        return Expr(result_type, run, name="case")

    def _CoalesceExpr(self, f: Node) -> Expr:
        mark = self.set_mark()
        args = [self.compile(a) for a in f["args"]]
        self._refuse_set_construct(mark, "COALESCE")
        result_type = T.common_type([a.type_oid for a in args], "COALESCE")
        fns = [coerce(self.builder, a, result_type).fn for a in args]

        def run(row: Row, ctx: ExecContext) -> Any:
            for fn in fns:
                value = fn(row, ctx)
                if value is not None:
                    return value
            return None
        return Expr(result_type, run, name="coalesce")

    def _MinMaxExpr(self, f: Node) -> Expr:
        greatest = f.get("op") == "IS_GREATEST"
        name = "greatest" if greatest else "least"
        args = [self.compile(a) for a in f["args"]]
        result_type = T.common_type([a.type_oid for a in args], name.upper())
        args = [coerce(self.builder, a, result_type) for a in args]
        better = ops.resolve_operator(">" if greatest else "<", result_type, result_type).impl
        fns = [a.fn for a in args]

        def run(row: Row, ctx: ExecContext) -> Any:
            best = None
            for fn in fns:
                value = fn(row, ctx)
                if value is not None and (best is None or better(value, best)):
                    best = value
            return best
        return Expr(result_type, run, name=name)

    # casts

    def _TypeCast(self, f: Node) -> Expr:
        type_oid, typmod = self.builder.resolve_type(f["typeName"])
        arg = self.compile(f["arg"])
        location = f.get("location", -1)
        try:
            result = coerce(self.builder, arg, type_oid, typmod, context="explicit")
        except MirrordbError as error:
            _locate(error, location)
            raise
        if arg.name != "?column?" and arg.column is not None:
            result.name = arg.name
        elif type_oid >= T.FIRST_USER_TYPE_OID:   # FigureColname: ARRAY[...] wins, else as written
            result.name = arg.name if arg.name == "array" else \
                str(f["typeName"]["names"][-1]["String"]["sval"])
        elif T.is_array_type(type_oid):   # ARRAY[...] wins, else the element type (int4[]: int4)
            element_oid = T.element_type_of(type_oid)
            result.name = "array" if arg.name == "array" else T.TYPES[element_oid].name
        else:
            result.name = T.TYPES[type_oid].name if type_oid in T.TYPES else result.name
        return result

    def _CollateClause(self, f: Node) -> Expr:
        return self.compile(f["arg"])

    # functions

    def _FuncCall(self, f: Node) -> Expr:
        return self.builder.compile_function_call(self, f)

    def _NamedArgExpr(self, f: Node) -> Expr:
        """``name => value`` in a function call: the value, carrying the name (only functions
        that declare argument names accept it: the planner refuses it elsewhere)."""
        return dataclasses.replace(self.compile(f["arg"]), argument_name=f["name"])

    def _SQLValueFunction(self, f: Node) -> Expr:
        return self.builder.compile_sql_value_function(f)

    def _SubLink(self, f: Node) -> Expr:
        return self.builder.compile_sublink(self, f)

    def _A_ArrayExpr(self, f: Node) -> Expr:
        elements = [self.compile(e) for e in f.get("elements", [])]
        element_type = T.common_type([e.type_oid for e in elements], "ARRAY") if elements \
            else TEXT
        fns = [coerce(self.builder, e, element_type).fn for e in elements]
        if T.is_array_type(element_type):     # ARRAY[[1, 2], [3, 4]]: one more dimension
            return Expr(element_type, lambda row, ctx: array_dimensions.array_of_arrays(
                [fn(row, ctx) for fn in fns]), name="array")
        array_type = T.TYPES[element_type].array_oid if element_type in T.TYPES else 0
        if not array_type:
            raise feature_not_supported(f"arrays of {T.format_type(element_type, -1)}")
        return Expr(array_type, lambda row, ctx: [fn(row, ctx) for fn in fns], name="array")

    def _A_Indirection(self, f: Node) -> Expr:
        indirection = f["indirection"]
        first_kind, first = one(indirection[0])
        if first_kind == "String" and "FuncCall" in f["arg"]:   # (f(...)).field
            value = self.builder.compile_record_field(self, f["arg"]["FuncCall"], first["sval"])
            indirection = indirection[1:]
        else:
            value = self.compile(f["arg"])
        subscripts: list[Node] = []
        for index, item in enumerate(indirection):
            kind, fields = one(item)
            if kind == "String":
                value = row_values.select_field(value, fields["sval"],
                                                leftmost_location(f["arg"]))
                continue
            if kind != "A_Indices":
                raise feature_not_supported("this indirection (field selection)")
            subscripts.append(fields)
            if index + 1 < len(indirection) and "A_Indices" in indirection[index + 1]:
                continue
            value = self._subscripts(value, subscripts)
            subscripts = []
        return value

    def _subscripts(self, array: Expr, subscripts: list[Node]) -> Expr:
        """``a[i]``, ``a[i][j]...`` (one per dimension, else NULL) and slices ``a[l:u]...`` (a
        plain subscript among slices means ``1:i``): array_dimensions.py's rules."""
        if not T.element_type_of(array.type_oid) or array.type_oid in (T.INT2VECTOR_OID,
                                                                        T.OIDVECTOR_OID):
            return self._subscript(array, subscripts[0])
        slicing = any(item.get("is_slice") for item in subscripts)
        bound_fns = [[None if item.get(side) is None else
                      coerce(self.builder, self.compile(item[side]), INT4).fn
                      for side in ("lidx", "uidx")] for item in subscripts]
        array_fn = array.fn

        def run(row: Row, ctx: ExecContext) -> Any:
            values = array_fn(row, ctx)
            bounds = [tuple(None if fn is None else fn(row, ctx) for fn in pair)
                      for pair in bound_fns]
            if values is None or any(item.get("is_slice") is not True and pair[1] is None
                                     for item, pair in zip(subscripts, bounds)):
                return None
            if not slicing:
                return array_dimensions.subscript(values, [pair[1] for pair in bounds])
            return array_dimensions.slice_array(values, [
                pair if item.get("is_slice") else (1, pair[1])
                for item, pair in zip(subscripts, bounds)])
        return Expr(array.type_oid if slicing else T.element_type_of(array.type_oid), run)

    def _subscript(self, array: Expr, f: Node) -> Expr:
        """``array[i]``: NULL outside the bounds; int2vector and oidvector count from 0, as in
        PostgreSQL, arrays from 1."""
        element = T.element_type_of(array.type_oid)
        location = f.get("location", array.location)
        if array.type_oid == T.NAME_OID:
            return self._name_subscript(array, f)
        if not element:
            raise error_at(f"cannot subscript type {T.format_type(array.type_oid)} because it "
                           "does not support subscripting", "42804", location)
        index = coerce(self.builder, self.compile(f["uidx"]), INT4)
        lower = 0 if array.type_oid in (T.INT2VECTOR_OID, T.OIDVECTOR_OID) else 1
        array_fn, index_fn = array.fn, index.fn

        def run(row: Row, ctx: ExecContext) -> Any:
            values, position = array_fn(row, ctx), index_fn(row, ctx)
            if values is None or position is None:
                return None
            offset = position - getattr(values, "lower_bound", lower)   # TG_ARGV counts from 0
            return values[offset] if 0 <= offset < len(values) else None
        return Expr(element, run)

    def _name_subscript(self, name: Expr, f: Node) -> Expr:
        """``name[i]``: the i-th byte (from 0) of the fixed-length name as a "char", as
        PostgreSQL subscripts name like an array of NAMEDATALEN chars (pg_dump tests
        ``typname[0] = '_'``); past the name's end a zero byte ("char" ''), NULL outside."""
        index_fn = coerce(self.builder, self.compile(f["uidx"]), INT4).fn
        name_fn = name.fn

        def run(row: Row, ctx: ExecContext) -> Any:
            value, position = name_fn(row, ctx), index_fn(row, ctx)
            if value is None or position is None or not 0 <= position < NAMEDATALEN:
                return None
            data = value.encode()
            return chr(data[position]) if position < len(data) else ""
        return Expr(T.CHAR_OID, run)

    def _RowExpr(self, f: Node) -> Expr:
        return row_values.compile_row(self, f)

    def _GroupingFunc(self, f: Node) -> Expr:
        """GROUPING(...) outside a grouped query's select list, HAVING and ORDER BY (those
        compile it in the planner's grouped compiler): PostgreSQL's error for the place."""
        from mirrordb.sql import grouping_sets   # it imports this module
        grouping_sets.check_argument_count(f)
        builder = self.builder
        raise grouping_sets.misplaced(f, builder.aggregate_clause or builder.clause)


def _header_expr(column: ScopeColumn, header: system_columns.HeaderColumn, ctid_index: int,
                 depth: int) -> Expr:
    """A reference to xmin/xmax/cmin/cmax: the header field of the version at the row's
    ctid (of the outer row ``depth`` levels up, when the reference is correlated)."""
    def run(row: Row, ctx: ExecContext) -> Any:
        source = ctx.outer[-depth] if depth else row
        return header.value(ctx.txn, source[ctid_index])
    return Expr(column.type_oid, run, column.typmod, column.name)


def _refuse_lateral_only(scope: Scope | None, names: list[str], location: int) -> None:
    """For a reference found nowhere: PostgreSQL's error when it names an earlier FROM item
    that a subquery without LATERAL may not see."""
    while scope is not None:
        if scope.lateral_only:
            if len(names) >= 2 and scope.entry(names[-2]) is not None:
                raise error_at(f'invalid reference to FROM-clause entry for table "{names[-2]}"',
                               "42P01", location, hint=f'There is an entry for table '
                               f'"{names[-2]}", but it cannot be referenced from this part of '
                               "the query.")
            owner = next((e.alias for e in scope.entries
                          if any(c.name == names[-1] and not c.hidden for c in e.columns)), None)
            if len(names) == 1 and owner is not None:
                raise error_at(f'column "{names[0]}" does not exist', "42703", location,
                               hint=f'There is a column named "{names[0]}" in table "{owner}", '
                                    "but it cannot be referenced from this part of the query.")
        scope = scope.parent


def _parents(scope: Scope) -> list[Scope]:
    result = []
    parent = scope.parent
    while parent is not None:
        result.append(parent)
        parent = parent.parent
    return result


def _non_strict_binary(resolved: Any, left: Expr, right: Expr) -> Expr:
    """A binary operator whose function takes NULL operands too (the array || operators)."""
    impl = resolved.impl
    if left.constant and right.constant and not left.volatile and not right.volatile:
        return const(impl(left.value, right.value), resolved.result_type)
    lf, rf = left.fn, right.fn
    return Expr(resolved.result_type, lambda row, ctx: impl(lf(row, ctx), rf(row, ctx)),
                volatile=left.volatile or right.volatile)


def _locate(error: MirrordbError, location: int) -> None:
    if location >= 0 and getattr(error, "position", None) is None:
        error.position = location + 1  # type: ignore[attr-defined]


def sort_direction(fields: Node) -> tuple[bool, bool]:
    """(descending, nulls first) of a SortBy: NULLs sort as if larger than any value."""
    desc = fields.get("sortby_dir") == "SORTBY_DESC"
    nulls = fields.get("sortby_nulls", "SORTBY_NULLS_DEFAULT")
    return desc, desc if nulls == "SORTBY_NULLS_DEFAULT" else nulls == "SORTBY_NULLS_FIRST"


def node_key(node: Node) -> str:
    """A canonical text of an expression node, ignoring source locations (GROUP BY matching)."""
    return json.dumps(_strip_locations(node), sort_keys=True)


def _strip_locations(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_locations(v) for k, v in node.items() if k != "location"}
    if isinstance(node, list):
        return [_strip_locations(v) for v in node]
    return node


def and_exprs(args: list[Expr]) -> Expr:
    return _short_circuit(args, False)


def or_exprs(args: list[Expr]) -> Expr:
    return _short_circuit(args, True)


def _short_circuit(args: list[Expr], deciding: bool) -> Expr:
    """AND (``deciding`` False) or OR (True) in three-valued logic: the first argument equal to
    ``deciding`` decides; otherwise NULL if any argument was NULL, else ``not deciding``."""
    if len(args) == 1:
        return args[0]
    fns = [a.fn for a in args]

    def run(row: Row, ctx: ExecContext) -> Any:
        saw_null = False
        for fn in fns:
            value = fn(row, ctx)
            if value is deciding:
                return deciding
            if value is None:
                saw_null = True
        return None if saw_null else not deciding
    return Expr(BOOL, run)


def not_expr(arg: Expr) -> Expr:
    inner = arg.fn

    def run(row: Row, ctx: ExecContext) -> Any:
        value = inner(row, ctx)
        return None if value is None else not value
    return Expr(BOOL, run)


def conjuncts(node: Node | None) -> list[Node]:
    """The AND-ed parts of a WHERE/ON clause, so each can be placed where it applies."""
    if node is None:
        return []
    if "BoolExpr" in node and node["BoolExpr"]["boolop"] == "AND_EXPR":
        return [part for arg in node["BoolExpr"]["args"] for part in conjuncts(arg)]
    return row_values.equality_conjuncts(node) or [node]


def referenced_names(node: Any) -> list[list[str]]:
    """Every column reference's name list inside a parse tree (sublinks included)."""
    found: list[list[str]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "ColumnRef" in value:
                fields = value["ColumnRef"]["fields"]
                if fields and "A_Star" not in fields[-1]:
                    found.append(strings(fields))
                return
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)
    walk(node)
    return found


def leftmost_location(node: Any) -> int:
    """Where an expression starts in the statement text: the smallest location in its parse
    tree (-1 if none is known). A stack, no recursion."""
    found = -1
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "location" and isinstance(value, int) and value >= 0:
                    found = value if found < 0 else min(found, value)
                elif isinstance(value, (dict, list)):
                    pending.append(value)
        elif isinstance(item, list):
            pending.extend(item)
    return found


def contains_node(node: Any, node_type: str) -> bool:
    """Whether a parse (sub)tree has a node of ``node_type`` anywhere (a stack, no recursion)."""
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if node_type in item:
                return True
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def nodes_at_level(tree: Any, pick: Callable[[Node], Node | None]) -> Iterator[Node]:
    """What ``pick`` picks from the nodes of a parse tree at its own query level (a sublink's
    query is another level; its test expression is not), in written order, not looking inside
    the nodes picked. A stack, no recursion."""
    pending = [tree]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found = pick(item)
            if found is not None:
                yield found
                continue
            sublink = item.get("SubLink")
            if sublink is not None:
                pending.append(sublink.get("testexpr"))
                continue
            pending.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            pending.extend(reversed(item))


__all__ = ["Expr", "ExecContext", "Scope", "ScopeColumn", "RangeEntry", "ExpressionCompiler",
           "coerce", "const", "conjuncts", "node_key", "funcs"]

# Row values build on this module's compiler; imported last, as it imports this module.
from mirrordb.sql import row_values  # noqa: E402

