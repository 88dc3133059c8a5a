"""Expression and partial B-tree indexes: definition, evaluation, planning and printing.

Who calls it: ddl.create_index (``define`` turns CREATE INDEX's column list and WHERE clause
into the index's columns and stored trees, with PostgreSQL's refusals), the access layer through
``IndexInfo.key_of`` (``_Evaluator``, installed below as access/relation.py's evaluator
factory: the engine computes an entry's key and tests the predicate whenever it indexes a row
version, builds or rebuilds an index, or checks a unique key), planner._choose_index
(``usable``: a partial index only when the query's WHERE implies its predicate; ``key_tree``:
an expression key column matched by the same expression in WHERE), dml.py's ON CONFLICT
inference (``arbiter_matches``) and catalog_functions.index_definition (``printed_column``,
``printed_predicate``: pg_get_indexdef, pg_indexes, psql's \\d, pg_dump).

What is stored: pg_index.indexprs is a JSON list of the raw parse trees of the expression key
columns, in key order (their indkey entries are 0); pg_index.indpred is the predicate's raw
parse tree as JSON, as pg_attrdef.adbin and pg_constraint.conbin hold theirs. Column
references are by name; trees are compiled against the table's columns when first needed and
kept with the relation cache's index descriptor (they are immutable by construction: a
function that is not IMMUTABLE is refused at CREATE INDEX, 42P17, as PostgreSQL does).

Predicate implication (PostgreSQL's predtest.c, much simplified): each AND-ed part of the
predicate must be implied by one AND-ed condition of the query: the same expression, ``col IS
NOT NULL`` by any comparison of ``col`` with a constant, or a comparison of a column with a
constant by a narrower one (``v > 5`` implies ``v > 0``; ``v = 3`` implies ``v >= 0``; numbers
only: a quoted literal is ordered by its column's type, which the parse tree does not tell).
"""

from __future__ import annotations

import datetime
import decimal
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mirrordb.access.relation import (EXPRESSION_COLUMN, Column, IndexInfo, Relation,
                                      install_index_evaluator_factory)
from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.sql import aggregates as aggs
from mirrordb.sql import functions as funcs
from mirrordb.sql import set_returning as srf
from mirrordb.sql.constraints import rename_references
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (ExecContext, Expr, ExpressionCompiler, Scope, ScopeColumn,
                                      coerce_to_bool, error_at, expression_location)
from mirrordb.sql.parser import Node, one, strings

EXPRESSION_WHAT = "index expression"
PREDICATE_WHAT = "index predicate"
COMPARISONS = ("<", "<=", "=", ">=", ">")
COMMUTED = {"<": ">", "<=": ">=", "=": "=", ">=": "<=", ">": "<"}
INDOPTION_DESC = 0x0001
INDOPTION_NULLS_FIRST = 0x0002
# FigureColname's names of expression nodes that are not function calls or casts
_NODE_NAMES = {"CoalesceExpr": "coalesce", "CaseExpr": "case", "A_ArrayExpr": "array",
               "RowExpr": "row"}


# -- compiling ------------------------------------------------------------------------------------


def _table_scope(relation: Relation) -> Scope:
    scope = Scope()
    scope.add(relation.name, [ScopeColumn(c.name, c.type_oid, c.typmod, relation.oid, i + 1)
                              for i, c in enumerate(relation.columns)], relation)
    return scope


def _not_immutable(what: str) -> MirrordbError:
    return MirrordbError(f"functions in {what} must be marked IMMUTABLE", sqlstate="42P17")


# What PostgreSQL 15 marks STABLE among what mirrordb has (its pg_proc): the date and time
# types' input (and, but for time, output) functions, which I/O casts to and from text run;
# the casts between timestamptz and the zone-less types; timestamptz plus or minus an
# interval; comparisons of timestamptz with date or timestamp. (text || a non-text value is
# STABLE too, but PostgreSQL inlines it into an immutable cast and concatenation.)
_TEXT_TYPES = frozenset({T.TEXT_OID, T.VARCHAR_OID, T.BPCHAR_OID, T.NAME_OID})
_STABLE_OUTPUT = frozenset({T.DATE_OID, T.INTERVAL_OID, T.TIMESTAMP_OID, T.TIMESTAMPTZ_OID,
                            T.REGCLASS_OID, T.REGTYPE_OID, T.REGPROC_OID, T.REGROLE_OID,
                            T.REGNAMESPACE_OID, T.REGPROCEDURE_OID})
_STABLE_INPUT = _STABLE_OUTPUT | {T.TIME_OID}
_STABLE_CASTS = frozenset({(T.DATE_OID, T.TIMESTAMPTZ_OID), (T.TIMESTAMP_OID, T.TIMESTAMPTZ_OID),
                           (T.TIMESTAMPTZ_OID, T.DATE_OID), (T.TIMESTAMPTZ_OID, T.TIME_OID),
                           (T.TIMESTAMPTZ_OID, T.TIMESTAMP_OID)})


def _cast_is_stable(source: int, target: int) -> bool:
    if source == target or source == T.UNKNOWN_OID:     # a literal is read at CREATE INDEX
        return False
    if source in _TEXT_TYPES and target in _STABLE_INPUT:
        return True
    if target in _TEXT_TYPES and source in _STABLE_OUTPUT:
        return True
    return (source, target) in _STABLE_CASTS


def _operator_is_stable(name: str, left: int, right: int) -> bool:
    pair = {left, right}
    if T.TIMESTAMPTZ_OID in pair:
        if name in ("+", "-") and (T.INTERVAL_OID in pair or
                                   (name == "+" and T.UNKNOWN_OID in pair)):
            return True
        if name in COMPARISONS + ("<>",) and pair & {T.DATE_OID, T.TIMESTAMP_OID}:
            return True
    return False


class _ImmutableCompiler(ExpressionCompiler):
    """Refuses the STABLE casts and operators above, as PostgreSQL's check of an index
    expression's functions does (the builder refuses the functions)."""

    what = EXPRESSION_WHAT

    def binary_operator(self, name: str, left: Expr, right: Expr, location: int = -1) -> Expr:
        if _operator_is_stable(name, left.type_oid, right.type_oid):
            raise _not_immutable(self.what)
        return super().binary_operator(name, left, right, location)

    def _TypeCast(self, f: Node) -> Expr:
        result = super()._TypeCast(f)
        if _cast_is_stable(self.compile(f["arg"]).type_oid, result.type_oid):
            raise _not_immutable(self.what)
        return result


def immutable_compiler(session: Any, relation: Relation, what: str) -> ExpressionCompiler:
    """A compiler over ``relation``'s columns refusing whatever is not IMMUTABLE (42P17
    "functions in <what> must be marked IMMUTABLE"); sql/generated.py checks a generation
    expression with it too."""
    compiler = _ImmutableCompiler(_immutable_builder(session, what), _table_scope(relation))
    compiler.what = what
    return compiler


def _immutable_builder(session: Any, what: str) -> Any:
    """A PlanBuilder that refuses every function that is not IMMUTABLE (42P17)."""
    from mirrordb.sql.planner import PlanBuilder   # the planner imports the session layer
    from mirrordb.sql.session_functions import SPECIAL

    def refuse() -> MirrordbError:
        return _not_immutable(what)

    class ImmutableOnly(PlanBuilder):
        def compile_function_call(self, compiler: ExpressionCompiler, f: Node) -> Expr:
            if strings(f["funcname"])[-1].lower() in SPECIAL:
                raise refuse()
            return super().compile_function_call(compiler, f)

        def call_expr(self, definition: Any, args: list[Expr], name: str) -> Expr:
            if definition.volatility != "i":
                raise refuse()
            return super().call_expr(definition, args, name)

        def compile_sql_value_function(self, f: Node) -> Expr:
            raise refuse()
    return ImmutableOnly(session, [])


def _refuse_forbidden(tree: Node, what: str) -> None:
    """PostgreSQL's refusals of subqueries, parameters, aggregates, window and set-returning
    functions in an index expression or predicate ("index expressions"/"index predicates")."""
    plural = what + "s"
    for kind, fields in _nodes(tree):
        location = fields.get("location", -1)
        if kind == "SubLink":
            raise error_at(f"cannot use subquery in {what}", "0A000", location)
        if kind == "ParamRef":
            raise error_at(f"there is no parameter ${fields.get('number', 0)}", "42P02",
                           location)
        if kind != "FuncCall":
            continue
        name = str(strings(fields["funcname"])[-1]).lower()
        if "over" in fields:
            raise error_at(f"window functions are not allowed in {plural}", "42P20", location)
        if aggs.is_aggregate(name) or fields.get("agg_star"):
            raise error_at(f"aggregate functions are not allowed in {plural}", "42803",
                           location)
        if name in srf.SET_RETURNING_FUNCTIONS:
            raise error_at(f"set-returning functions are not allowed in {plural}", "0A000",
                           location)


def _nodes(tree: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node of a raw parse tree, outer before inner."""
    if isinstance(tree, list):
        for item in tree:
            yield from _nodes(item)
    elif isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(value, dict) and key[:1].isupper():
                yield key, value
            if isinstance(value, (dict, list)):
                yield from _nodes(value)


def _columns_read(relation: Relation, tree: Any) -> set[int]:
    found = set()
    for kind, fields in _nodes(tree):
        if kind == "ColumnRef":
            names = strings(fields["fields"])
            try:
                found.add(relation.column_index(names[-1]))
            except (KeyError, IndexError):
                pass
    return found


# -- CREATE INDEX ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexDefinition:
    """What CREATE INDEX's column list and WHERE clause define: each key column as a table
    column name or an expression column (``Column``: the index attribute's name and type),
    the JSON of pg_index.indexprs and indpred, and the names a made-up index name joins."""

    columns: list[str | Column]
    expressions: str | None
    predicate: str | None
    name_parts: list[str]
    options: str | None = None      # pg_index.indoption's text, None when all are 0
    include: list[str] = field(default_factory=list)    # INCLUDE columns


def define(session: Any, relation: Relation, params: list[Node], where: Node | None,
           including: list[Node]) -> IndexDefinition:
    """CREATE INDEX's key columns, INCLUDE columns and predicate, checked as PostgreSQL
    checks them."""
    columns: list[str | Column] = []
    trees: list[Node] = []
    taken: set[str] = set()
    options = [_option_bits(param["IndexElem"]) for param in params]
    for param in params:
        fields = param["IndexElem"]
        tree = fields.get("expr")
        name = fields.get("name")
        if tree is not None and "ColumnRef" in tree and len(tree["ColumnRef"]["fields"]) == 1:
            name = strings(tree["ColumnRef"]["fields"])[0]     # ((v)) is the column v
            tree = None
        if tree is None:
            try:
                relation.column_index(str(name))
            except KeyError:
                raise MirrordbError(f'column "{name}" does not exist', sqlstate="42703") \
                    from None
            columns.append(str(name))
            taken.add(str(name))
            continue
        expr = compile_expression(session, relation, tree)
        if expr.type_oid == T.UNKNOWN_OID:
            expr = Expr(T.TEXT_OID, expr.fn)
        label = _unique_label(_figure_name(tree), taken)
        taken.add(label)
        columns.append(Column(label, expr.type_oid, False, expr.typmod))
        trees.append(tree)
    predicate = None
    if where is not None:
        compile_predicate(session, relation, where)
        predicate = json.dumps(where)
    include = [_included_column(relation, param["IndexElem"]) for param in including]
    names = [c if isinstance(c, str) else c.name for c in columns] + include
    return IndexDefinition(columns, json.dumps(trees) if trees else None, predicate, names,
                           " ".join(map(str, options)) if any(options) else None, include)


def _included_column(relation: Relation, fields: Node) -> str:
    """An INCLUDE column: a plain column without ordering options (PostgreSQL's refusals)."""
    if "name" not in fields:
        raise MirrordbError("expressions are not supported in included columns",
                            sqlstate="0A000")
    if fields.get("ordering", "SORTBY_DEFAULT") != "SORTBY_DEFAULT":
        raise MirrordbError("including column does not support ASC/DESC options",
                            sqlstate="42P17")
    if fields.get("nulls_ordering", "SORTBY_NULLS_DEFAULT") != "SORTBY_NULLS_DEFAULT":
        raise MirrordbError("including column does not support NULLS FIRST/LAST options",
                            sqlstate="42P17")
    name = str(fields["name"])
    try:
        relation.column_index(name)
    except KeyError:
        raise MirrordbError(f'column "{name}" does not exist', sqlstate="42703") from None
    return name


def _option_bits(fields: Node) -> int:
    """PostgreSQL's indoption bits of a key column: DESC, and NULLS FIRST (DESC's default)."""
    descending = fields.get("ordering", "SORTBY_DEFAULT") == "SORTBY_DESC"
    nulls = fields.get("nulls_ordering", "SORTBY_NULLS_DEFAULT")
    nulls_first = nulls == "SORTBY_NULLS_FIRST" or (descending and nulls != "SORTBY_NULLS_LAST")
    return (INDOPTION_DESC if descending else 0) | (INDOPTION_NULLS_FIRST if nulls_first else 0)


def option_suffix(bits: int) -> str:
    """How pg_get_indexdef prints a key column's ordering: nothing for the default."""
    descending, nulls_first = bits & INDOPTION_DESC, bits & INDOPTION_NULLS_FIRST
    suffix = " DESC" if descending else ""
    if nulls_first and not descending:
        suffix += " NULLS FIRST"
    elif descending and not nulls_first:
        suffix += " NULLS LAST"
    return suffix


def compile_expression(session: Any, relation: Relation, tree: Node) -> Expr:
    _refuse_forbidden(tree, EXPRESSION_WHAT)
    return immutable_compiler(session, relation, EXPRESSION_WHAT).compile(tree)


def compile_predicate(session: Any, relation: Relation, tree: Node) -> Expr:
    _refuse_forbidden(tree, PREDICATE_WHAT)
    compiler = immutable_compiler(session, relation, PREDICATE_WHAT)
    expr = compiler.compile(tree)
    return coerce_to_bool(compiler.builder, expr, "WHERE", expression_location(tree))


def _figure_name(tree: Node) -> str:
    """An expression column's attribute name, as PostgreSQL's FigureIndexColname: a function
    call's name, a cast's inner name or type, else "expr"."""
    kind, fields = one(tree)
    if kind == "FuncCall":
        return str(strings(fields["funcname"])[-1])
    if kind == "TypeCast":
        inner = _figure_name(fields["arg"])
        if inner != "expr":
            return inner
        return str(strings(fields["typeName"]["names"])[-1])
    if kind == "ColumnRef":
        return str(strings(fields["fields"])[-1])
    if kind == "MinMaxExpr":
        return "greatest" if fields.get("op") == "IS_GREATEST" else "least"
    if kind == "A_Expr" and fields.get("kind") == "AEXPR_NULLIF":
        return "nullif"
    return _NODE_NAMES.get(kind, "expr")


def _unique_label(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    number = 1
    while f"{name}{number}" in taken:
        number += 1
    return f"{name}{number}"


# -- evaluating (the access layer's IndexEvaluator) ---------------------------------------------


class _CompileOnlySession:
    """What compiling a stored (immutable) index expression needs of a session: nothing that
    depends on one, so the engine can compute keys in any thread."""

    timezone = "UTC"

    def special_function(self, builder: Any, name: str, args: list[Expr], location: int
                         ) -> Expr | None:
        return None

    def record_field(self, builder: Any, name: str, args: list[Expr], field: str,
                     location: int) -> Expr | None:
        return None

    def sql_value_function(self, builder: Any, op: str, typmod: int) -> Expr:
        invariant(False, "an SQL value function in a stored index expression")
        raise AssertionError


_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
_CONTEXT = ExecContext(None, (), None, funcs.FunctionContext("UTC", _EPOCH, _EPOCH),
                       lambda: None)


class _Evaluator:
    """An index's compiled key expressions and predicate, for ``IndexInfo.key_of``."""

    def __init__(self, info: IndexInfo) -> None:
        from mirrordb.sql.planner import PlanBuilder
        table = info.table
        invariant(table is not None, "an index descriptor without its table")
        assert table is not None
        compiler = ExpressionCompiler(PlanBuilder(_CompileOnlySession(), []),  # type: ignore
                                      _table_scope(table))
        self.trees: list[Node] = json.loads(info.expressions) if info.expressions else []
        expressions = iter([compiler.compile(tree).fn for tree in self.trees])
        self.parts: list[tuple[int, Callable[..., Any] | None]] = [
            (column, next(expressions) if column == EXPRESSION_COLUMN else None)
            for column in info.key_columns]
        self.predicate_tree = json.loads(info.predicate) if info.predicate else None
        self.predicate = None if self.predicate_tree is None else \
            compiler.compile(self.predicate_tree).fn
        used = {c for c in info.key_columns if c != EXPRESSION_COLUMN}
        used |= _columns_read(table, self.trees) | _columns_read(table, self.predicate_tree)
        self.columns_used = frozenset(used)
        self.table = table

    def qualifies(self, values: Sequence[object]) -> bool:
        return self.predicate is None or self.predicate(tuple(values), _CONTEXT) is True

    def key(self, values: Sequence[object]) -> tuple[object, ...]:
        row = tuple(values)
        return tuple([row[column] if fn is None else fn(row, _CONTEXT)
                      for column, fn in self.parts])

    def labels(self) -> list[str]:
        trees = iter(self.trees)
        return [self.table.columns[column].name if column != EXPRESSION_COLUMN
                else _label(next(trees)) for column, _ in self.parts]


install_index_evaluator_factory(_Evaluator)


def _label(tree: Node) -> str:
    """An expression key column as a unique violation's DETAIL names it: a function call as
    written, anything else in parentheses (pg_get_indexdef_columns)."""
    text = _plain_text(tree)
    return text if _looks_like_function(tree) else f"({text})"


def _plain_text(tree: Node) -> str:
    """A short printing of the common expression forms (DETAIL only; the catalog's printing
    is catalog_functions.ExpressionDeparser's)."""
    kind, fields = one(tree)
    if kind == "ColumnRef":
        return str(strings(fields["fields"])[-1])
    if kind == "FuncCall":
        return f"{strings(fields['funcname'])[-1]}(" + \
            ", ".join(_plain_text(a) for a in fields.get("args", [])) + ")"
    if kind == "A_Expr" and fields.get("kind", "AEXPR_OP") == "AEXPR_OP" and "lexpr" in fields:
        return f"({_plain_text(fields['lexpr'])} {strings(fields['name'])[-1]} " \
               f"{_plain_text(fields['rexpr'])})"
    if kind == "A_Const":
        value = _constant(fields)
        return "NULL" if value is None else (f"'{value}'" if isinstance(value, str)
                                             else str(value))
    if kind == "TypeCast":
        return f"({_plain_text(fields['arg'])})::{strings(fields['typeName']['names'])[-1]}"
    return "expr"


# -- planning: matching expressions, implied predicates ------------------------------------------


Resolver = Callable[[list[str]], int | None]


def normalized(tree: Any, resolve: Resolver) -> Any:
    """A parse tree without locations, its column references replaced by column numbers, so
    a query's expression compares equal to a stored one however each was spelled."""
    if isinstance(tree, list):
        return [normalized(item, resolve) for item in tree]
    if not isinstance(tree, dict):
        return tree
    if "ColumnRef" in tree and set(tree) == {"ColumnRef"}:
        names = strings(tree["ColumnRef"]["fields"])
        return {"Column": resolve(names) if names else None}
    if "FuncCall" in tree and set(tree) == {"FuncCall"}:
        fields = dict(tree["FuncCall"])
        fields["funcname"] = [{"String": {"sval": strings(fields["funcname"])[-1].lower()}}]
        return {"FuncCall": normalized(fields, resolve)}
    return {key: normalized(value, resolve) for key, value in tree.items()
            if key != "location"}


def table_resolver(relation: Relation) -> Resolver:
    def resolve(names: list[str]) -> int | None:
        try:
            return relation.column_index(names[-1])
        except KeyError:
            return None
    return resolve


def scope_resolver(scope: Scope) -> Resolver:
    def resolve(names: list[str]) -> int | None:
        try:
            found = scope.find(names, -1)
        except MirrordbError:
            return None
        return None if found is None else found[0]
    return resolve


def key_tree(info: IndexInfo, position: int) -> Any:
    """The normalized expression of key column ``position`` (None for a plain column)."""
    if info.key_columns[position] != EXPRESSION_COLUMN:
        return None
    trees = json.loads(info.expressions or "[]")
    index = sum(1 for c in info.key_columns[:position] if c == EXPRESSION_COLUMN)
    invariant(info.table is not None, "an index descriptor without its table")
    return normalized(trees[index], table_resolver(info.table))  # type: ignore[arg-type]


def usable(info: IndexInfo, conditions: Sequence[Node], resolve: Resolver) -> bool:
    """Whether the conditions a scan applies imply the index's predicate (a total index is
    always usable)."""
    if info.predicate is None:
        return True
    invariant(info.table is not None, "an index descriptor without its table")
    stored = normalized(json.loads(info.predicate), table_resolver(info.table))  # type: ignore
    given = [c for condition in conditions for c in _conjuncts(normalized(condition, resolve))]
    return implied(stored, given)


def implied(predicate: Any, given: Sequence[Any]) -> bool:
    """Whether the normalized conditions ``given`` (AND-ed) imply ``predicate``."""
    return all(any(_implies(condition, part) for condition in given)
               for part in _conjuncts(predicate))


def _conjuncts(tree: Any) -> list[Any]:
    if isinstance(tree, dict) and "BoolExpr" in tree and \
            tree["BoolExpr"].get("boolop") == "AND_EXPR":
        return [part for arg in tree["BoolExpr"]["args"] for part in _conjuncts(arg)]
    return [tree]


def _implies(condition: Any, part: Any) -> bool:
    if condition == part:
        return True
    given = _comparison(condition)
    if given is None:
        return False
    if isinstance(part, dict) and "NullTest" in part:
        test = part["NullTest"]
        return test.get("nulltesttype") == "IS_NOT_NULL" and test.get("arg") == given[0]
    wanted = _comparison(part)
    if wanted is None or wanted[0] != given[0]:
        return False
    if not (isinstance(given[2], decimal.Decimal) and isinstance(wanted[2], decimal.Decimal)):
        return False    # a quoted literal's order is its type's (dates), not the text's
    return _range_within(given[1], given[2], wanted[1], wanted[2])


def _comparison(tree: Any) -> tuple[Any, str, Any] | None:
    """(column, operator, constant) of ``column op constant`` or ``constant op column``."""
    if not isinstance(tree, dict) or "A_Expr" not in tree:
        return None
    fields = tree["A_Expr"]
    if fields.get("kind", "AEXPR_OP") != "AEXPR_OP" or "lexpr" not in fields:
        return None
    op = strings(fields.get("name", []))[-1:]
    if not op or op[0] not in COMPARISONS:
        return None
    left, right = fields["lexpr"], fields["rexpr"]
    if "Column" in left and "A_Const" in right:
        value = _constant(right["A_Const"])
        return None if value is None else (left, op[0], value)
    if "Column" in right and "A_Const" in left:
        value = _constant(left["A_Const"])
        return None if value is None else (right, COMMUTED[op[0]], value)
    return None


def _constant(fields: dict[str, Any]) -> Any:
    if "ival" in fields:
        return decimal.Decimal(fields["ival"].get("ival", 0))
    if "fval" in fields:
        return decimal.Decimal(fields["fval"]["fval"])
    if "sval" in fields:
        return fields["sval"].get("sval", "")
    if "boolval" in fields:
        return bool(fields["boolval"].get("boolval"))
    return None


def _range_within(op: str, value: Any, wanted_op: str, bound: Any) -> bool:
    """Whether every x with ``x op value`` has ``x wanted_op bound``."""
    if wanted_op == "=":
        return op == "=" and value == bound
    if op == "=":
        return {"<": value < bound, "<=": value <= bound, ">": value > bound,
                ">=": value >= bound}[wanted_op]
    if wanted_op in (">", ">=") and op in (">", ">="):
        return value > bound or (value == bound and (wanted_op == ">=" or op == ">"))
    if wanted_op in ("<", "<=") and op in ("<", "<="):
        return value < bound or (value == bound and (wanted_op == "<=" or op == "<"))
    return False


# -- ON CONFLICT inference ------------------------------------------------------------------------


def arbiter_matches(info: IndexInfo, columns: set[int], expressions: list[Any],
                    where: Node | None, resolve: Resolver) -> bool:
    """PostgreSQL's infer_arbiter_indexes for one unique index: its plain key columns are the
    inference's columns, its expressions the inference's expressions, and a partial index's
    predicate is implied by the inference's WHERE."""
    plain = {c for c in info.key_columns if c != EXPRESSION_COLUMN}
    if plain != columns:
        return False
    mine = [key_tree(info, i) for i, c in enumerate(info.key_columns) if c == EXPRESSION_COLUMN]
    if any(tree not in expressions for tree in mine) or \
            any(tree not in mine for tree in expressions):
        return False
    if info.predicate is None:
        return True
    return where is not None and usable(info, [where], resolve)


# -- ALTER TABLE RENAME COLUMN -------------------------------------------------------------------


def column_renamed(txn: Any, relation: Relation, old: str, new: str) -> None:
    """The stored expressions and predicates that name column ``old`` name ``new``."""
    for info in relation.indexes:
        if info.plain:
            continue
        trees = stored_trees(info.expressions)
        predicate = stored_predicate(info.predicate)
        if rename_references(trees, old, new) | rename_references(predicate, old, new):
            txn.set_index_expressions(info.relation.oid,
                                      json.dumps(trees) if trees else None,
                                      None if predicate is None else json.dumps(predicate))


# -- printing (pg_get_indexdef) -------------------------------------------------------------------


def printed_column(deparse: Callable[[Node], str], tree: Node) -> str:
    """An expression key column as pg_get_indexdef prints it: what looks like a function
    call (a call, COALESCE, GREATEST/LEAST, NULLIF) bare, anything else in parentheses."""
    text = deparse(tree)
    return text if _looks_like_function(tree) else f"({text})"


def _looks_like_function(tree: Node) -> bool:
    kind, fields = one(tree)
    return kind in ("FuncCall", "CoalesceExpr", "MinMaxExpr", "SQLValueFunction") or (
        kind == "A_Expr" and fields.get("kind") == "AEXPR_NULLIF")


def stored_trees(text: str | None) -> list[Node]:
    return json.loads(text) if text else []


def stored_predicate(text: str | None) -> Node | None:
    return json.loads(text) if text else None


__all__ = ["IndexDefinition", "arbiter_matches", "define", "implied", "key_tree", "normalized",
           "printed_column", "scope_resolver", "table_resolver", "usable"]
