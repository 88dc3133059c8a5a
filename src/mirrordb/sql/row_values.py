"""Row values: ROW(...) constructors, whole-row references' row types, row comparisons.

Who calls it: the expression compiler (sql/expressions.py) for ``ROW(a, b)`` and ``(a, b)``,
for operators, IN lists, IS [NOT] DISTINCT FROM and IS [NOT] NULL whose operands are rows, for
``(expr).field``; the planner (sql/planner.py) for subqueries compared with a row
(``(a, b) IN (SELECT ...)``, ``= ANY/ALL``, ``(a, b) = (SELECT ...)``). The values themselves
are ``types.RowRecord`` (a tuple carrying its fields' (name, type OID) pairs), written by
``types.record_out`` / record_send; sql/types.py also knows which OIDs are tables' row types
(``register_row_type``) for output, casts to text and ``record``, and B-tree order.

PostgreSQL's two kinds of row comparison, kept apart as it keeps them:

* Written rows on both sides (``ROW(a, b) < ROW(1, 2)``, ``(a, b) IN ((1, 2), ...)``) compare
  column by column with each pair's own operator, in SQL's NULL rules: ``=`` is the AND of the
  columns' ``=``, ``<>`` their OR, and ``<``, ``<=``, ``>``, ``>=`` are lexical: the first pair
  that is not equal decides, a NULL met before that makes the answer NULL (make_row_comparison_op,
  RowCompareExpr). IS DISTINCT FROM is the OR of the columns' IS DISTINCT FROM.
* Record values (``t1 = t2``, ``t = ROW(...)``, a record from a subquery) compare with the
  record operators (record_eq, record_lt...): same column count and types, else 42804; NULL
  equals NULL and sorts after any value, so the answer is never NULL unless a side is.

A table's row type: its ``pg_type`` OID is ``row_type_oid`` (the one place that decides it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mirrordb.catalog.bootstrap import FIRST_NORMAL_OBJECT_ID
from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.sql import operators as ops
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (BOOL, UNKNOWN, ExecContext, Expr, Row, _locate, coerce,
                                      const, error_at)
from mirrordb.sql.parser import Node, one, strings

if TYPE_CHECKING:
    from mirrordb.sql.expressions import ExpressionCompiler, RangeEntry

Fields = tuple[tuple[str, int], ...]
# (left value, right value) -> True, False or None: one column pair's operator, NULLs handled
PairTest = Callable[[Any, Any], Any]

EQUALITY, INEQUALITY = "=", "<>"
ORDERING_OPERATORS = frozenset({"<", "<=", ">", ">="})
_NEGATED_OPERATORS = {"=": "<>", "<>": "="}


# -- a table's row type ---------------------------------------------------------------------------


def row_type_oid(relation: Any) -> int:
    """The pg_type OID of ``relation``'s row type: pg_class.reltype when the catalog keeps one,
    else the relation's own OID (pg_type and pg_class OIDs are both drawn from the cluster's
    one OID counter, so no other type has it). 0 for a system catalog: its rows stay
    ``record`` here."""
    oid = getattr(relation, "reltype", 0) or relation.oid
    return oid if relation.oid >= FIRST_NORMAL_OBJECT_ID else 0


# Relation kinds with a row type (pg_class.reltype): tables, views, materialized views,
# sequences, as in PostgreSQL; an index has none.
ROW_TYPE_RELKINDS = frozenset({"r", "v", "m", "S"})


def reltype(entry: Any) -> int:
    """pg_class.reltype of a relation (its catalog entry or Relation); a composite type's
    relation (relkind 'c') has the type's own OID (sql/composite_types.py)."""
    if entry.kind == "c":
        from mirrordb.sql.composite_types import type_of_relation
        return type_of_relation(entry.oid)
    return row_type_oid(entry) if entry.kind in ROW_TYPE_RELKINDS else 0


def row_type_name(snapshot: Any, oid: int) -> str | None:
    """regtype output of a table's row type (the table's display name), None if ``oid`` is
    none; ``snapshot``: the statement's catalog snapshot (sql/catalog_functions.py)."""
    entry = snapshot.classes.get(oid)
    if entry is None or reltype(entry) != oid:
        return None
    name: str | None = snapshot.relation_display_name(oid)
    return name


def whole_row_type(entry: RangeEntry) -> int:
    """The type of a whole-row reference to ``entry``: its table's or view's row type, else
    record (a subquery, a function, a system catalog)."""
    oid = row_type_oid(entry.relation) if entry.relation is not None else entry.row_type_oid
    if not oid:
        return T.RECORD_OID
    T.register_row_type(oid)
    return oid


# -- ROW(...) as a value --------------------------------------------------------------------------


def anonymous_fields(types: Sequence[int]) -> Fields:
    """An anonymous record's fields: f1, f2, ... (the names row_to_json shows)."""
    return tuple((f"f{i + 1}", type_oid) for i, type_oid in enumerate(types))


def compile_row(compiler: ExpressionCompiler, f: Node) -> Expr:
    """``ROW(a, b)`` / ``(a, b)`` as a value of type record (``t.*`` in it stands for the
    row's columns; an unknown literal stays unknown, as in PostgreSQL)."""
    args = [field for a in f.get("args", []) for field in _row_arguments(compiler, a)]
    fields = anonymous_fields([a.type_oid for a in args])
    fns = [a.fn for a in args]
    if all(a.constant and not a.volatile for a in args):
        value = T.RowRecord.of([a.value for a in args], fields)
        return Expr(T.RECORD_OID, lambda row, ctx: value, name="row", constant=True,
                    value=value, fields=fields)

    def run(row: Row, ctx: ExecContext) -> Any:
        return T.RowRecord.of([fn(row, ctx) for fn in fns], fields)
    return Expr(T.RECORD_OID, run, name="row", volatile=any(a.volatile for a in args),
                fields=fields)


def _row_arguments(compiler: ExpressionCompiler, node: Node) -> list[Expr]:
    """One item of ROW(...): its value, or each column of ``t.*``."""
    value = compiler.compile(node)
    column_ref = node.get("ColumnRef")
    if column_ref is None or "A_Star" not in column_ref["fields"][-1] or value.fields is None:
        return [value]
    return [select_field(value, name, -1) for name, _ in value.fields]


def is_row_node(node: Node | None) -> bool:
    return node is not None and "RowExpr" in node


def row_items(node: Node) -> list[Node]:
    return list(node["RowExpr"].get("args", []))


# -- comparisons of written rows ------------------------------------------------------------------


def unequal_entries(location: int) -> MirrordbError:
    return error_at("unequal number of entries in row expressions", "42601", location)


def check_row_operator(name: str, location: int) -> None:
    """PostgreSQL compares rows only with operators a B-tree family interprets."""
    if name not in ORDERING_OPERATORS and name not in _NEGATED_OPERATORS:
        raise error_at(f"could not determine interpretation of row comparison operator {name}",
                       "42883", location, hint="Row comparison operators must be associated "
                       "with btree operator families.")


def _pair_tests(compiler: ExpressionCompiler, name: str, left: list[Expr], right: list[Expr],
                location: int) -> tuple[list[Expr], list[Expr], list[PairTest],
                                        list[PairTest] | None]:
    """Each column pair coerced to its operator's types, the operator (and ``=``, for a
    lexical comparison) as a test of two non-NULL values."""
    lefts, rights, tests, equals = [], [], [], []
    if name not in ORDERING_OPERATORS and name not in _NEGATED_OPERATORS:
        for lexpr, rexpr in zip(left, right):     # a missing operator is the first error
            result_type = _resolve(name, lexpr, rexpr, location).result_type
            if result_type != BOOL:
                raise error_at("row comparison operator must yield type boolean, not type "
                               f"{T.format_type(result_type)}", "42804", location)
        check_row_operator(name, location)
    for lexpr, rexpr in zip(left, right):
        resolved = _resolve(name, lexpr, rexpr, location)
        lefts.append(coerce(compiler.builder, lexpr, resolved.left_type))
        rights.append(coerce(compiler.builder, rexpr, resolved.right_type))
        tests.append(resolved.impl)
        if name in ORDERING_OPERATORS:
            equals.append(ops.resolve_operator("=", resolved.left_type,
                                               resolved.right_type).impl)
    return lefts, rights, tests, equals if name in ORDERING_OPERATORS else None


def _resolve(name: str, left: Expr, right: Expr, location: int) -> Any:
    try:
        return ops.resolve_operator(name, left.type_oid, right.type_oid)
    except MirrordbError as error:
        _locate(error, location)
        raise


def row_tester(name: str, tests: list[PairTest], equals: list[PairTest] | None
               ) -> Callable[[Sequence[Any], Sequence[Any]], Any]:
    """Compare two rows' values (already of the operators' types) as ``name`` does."""
    pairs = list(zip(tests, equals)) if equals is not None else []

    def conjunction(lvals: Sequence[Any], rvals: Sequence[Any]) -> Any:
        saw_null = False
        for test, lv, rv in zip(tests, lvals, rvals):
            result = None if lv is None or rv is None else test(lv, rv)
            if result is None:
                saw_null = True
            elif bool(result) == deciding:
                return deciding
        return None if saw_null else not deciding

    def lexical(lvals: Sequence[Any], rvals: Sequence[Any]) -> Any:
        for (test, equal), lv, rv in zip(pairs, lvals, rvals):
            if lv is None or rv is None:
                return None
            if not equal(lv, rv):
                return bool(test(lv, rv))
        return name in ("<=", ">=")
    if equals is not None:
        return lexical
    deciding = name == INEQUALITY      # = : a False decides; <> : a True decides
    return conjunction


def written_row_comparison(compiler: ExpressionCompiler, f: Node, name: str,
                           location: int) -> Expr | None:
    """``ROW(...) op ROW(...)`` and ``ROW(...) op (SELECT ...)``; None for anything else
    (a row against a record value is a record operator)."""
    right = f["rexpr"]
    if is_row_node(right):
        return compare_rows(compiler, name, f["lexpr"], right, location)
    literal = right.get("A_Const")
    if literal is not None and "sval" in literal:     # the literal would be read as a record
        raise error_at("input of anonymous composite types is not implemented", "0A000",
                       literal.get("location", -1))
    sublink = right.get("SubLink")
    if sublink is not None and sublink["subLinkType"] == "EXPR_SUBLINK":
        compare = {**sublink, "subLinkType": "ROWCOMPARE_SUBLINK", "testexpr": f["lexpr"],
                   "operName": f["name"], "location": location}
        return compiler.builder.compile_sublink(compiler, compare)
    return None


def compare_rows(compiler: ExpressionCompiler, name: str, left_node: Node, right_node: Node,
                 location: int) -> Expr:
    """``ROW(...) op ROW(...)``, both rows written out."""
    left_items, right_items = row_items(left_node), row_items(right_node)
    if len(left_items) != len(right_items):
        raise unequal_entries(location)
    left = [compiler.compile(n) for n in left_items]
    right = [compiler.compile(n) for n in right_items]
    lefts, rights, tests, equals = _pair_tests(compiler, name, left, right, location)
    tester = row_tester(name, tests, equals)
    left_fns, right_fns = [e.fn for e in lefts], [e.fn for e in rights]

    def run(row: Row, ctx: ExecContext) -> Any:
        return tester([fn(row, ctx) for fn in left_fns], [fn(row, ctx) for fn in right_fns])
    return Expr(BOOL, run, volatile=any(e.volatile for e in lefts + rights))


def distinct_rows(compiler: ExpressionCompiler, left_node: Node, right_node: Node,
                  not_distinct: bool, location: int) -> Expr:
    """``ROW(...) IS [NOT] DISTINCT FROM ROW(...)``: the OR of the columns' DISTINCT."""
    left_items, right_items = row_items(left_node), row_items(right_node)
    if len(left_items) != len(right_items):
        raise unequal_entries(location)
    left = [compiler.compile(n) for n in left_items]
    right = [compiler.compile(n) for n in right_items]
    lefts, rights, tests, _ = _pair_tests(compiler, EQUALITY, left, right, location)
    columns = [(lexpr.fn, rexpr.fn, test) for lexpr, rexpr, test in zip(lefts, rights, tests)]

    def run(row: Row, ctx: ExecContext) -> bool:
        for lf, rf, test in columns:
            lv, rv = lf(row, ctx), rf(row, ctx)
            if lv is None or rv is None:
                if (lv is None) != (rv is None):
                    return not not_distinct
            elif not test(lv, rv):
                return not not_distinct
        return not_distinct
    return Expr(BOOL, run)


def in_list(compiler: ExpressionCompiler, f: Node, negate: bool, location: int) -> Expr:
    """``(a, b) [NOT] IN ((1, 2), (3, 4))``: a row equality per item, ORed (NOT IN negates
    the whole, which in three-valued logic is the AND of the items' ``<>``)."""
    left_node = f["lexpr"]
    comparisons = []
    for item in one(f["rexpr"])[1]["items"]:
        if is_row_node(item):
            comparisons.append(compare_rows(compiler, EQUALITY, left_node, item, location))
        else:
            comparisons.append(compiler.binary_operator(
                EQUALITY, compile_row(compiler, left_node["RowExpr"]), compiler.compile(item),
                location))
    return compiler._any_of(comparisons, negate)


# -- rows against a subquery's rows ---------------------------------------------------------------


def sublink_tester(compiler: ExpressionCompiler, f: Node, column_types: list[int],
                   timezone: str) -> tuple[list[Expr], Callable[[Sequence[Any], Row], Any]]:
    """For ``(a, b) op ANY/ALL (SELECT x, y ...)`` and ``(a, b) op (SELECT x, y)``: the left
    row's compiled items and a test of their values against one subquery row."""
    name = (strings(f.get("operName")) or [EQUALITY])[-1]
    location = f.get("location", -1)
    items = row_items(f["testexpr"])
    if len(items) < len(column_types):
        raise error_at("subquery has too many columns", "42601", location)
    if len(items) > len(column_types):
        raise error_at("subquery has too few columns", "42601", location)
    left = [compiler.compile(n) for n in items]
    placeholders = [Expr(t, _never) for t in column_types]
    lefts, rights, tests, equals = _pair_tests(compiler, name, left, placeholders, location)
    tester = row_tester(name, tests, equals)
    converts = [None if r.type_oid == t or t == UNKNOWN else T.caster(t, r.type_oid,
                                                                      context="implicit")
                for r, t in zip(rights, column_types)]

    def test(lvals: Sequence[Any], produced: Row) -> Any:
        rvals = [value if convert is None or value is None else convert(value, timezone)
                 for value, convert in zip(produced, converts)]
        return tester(lvals, rvals)
    return lefts, test


def _never(row: Row, ctx: ExecContext) -> Any:
    invariant(False, "a subquery column's placeholder is never evaluated")


def any_all_sublink(compiler: ExpressionCompiler, f: Node, column_types: list[int],
                    timezone: str, rows_of: Callable[[Row, ExecContext], list[Row]],
                    is_all: bool) -> Expr:
    """``(a, b) op ANY|ALL (SELECT ...)`` (IN and NOT IN are = ANY and <> ALL)."""
    lefts, test = sublink_tester(compiler, f, column_types, timezone)
    left_fns = [e.fn for e in lefts]

    def run(row: Row, ctx: ExecContext) -> Any:
        lvals = [fn(row, ctx) for fn in left_fns]
        saw_null = False
        for produced in rows_of(row, ctx):
            result = test(lvals, produced)
            if result is None:
                saw_null = True
            elif bool(result) != is_all:
                return not is_all
        return None if saw_null else is_all
    return Expr(BOOL, run)


def row_compare_sublink(compiler: ExpressionCompiler, f: Node, column_types: list[int],
                        timezone: str, rows_of: Callable[..., list[Row]]) -> Expr:
    """``(a, b) op (SELECT x, y)``: NULL without a row, 21000 with more than one."""
    lefts, test = sublink_tester(compiler, f, column_types, timezone)
    left_fns = [e.fn for e in lefts]

    def run(row: Row, ctx: ExecContext) -> Any:
        found = rows_of(row, ctx, 2)
        if len(found) > 1:
            raise MirrordbError("more than one row returned by a subquery used as an "
                                "expression", sqlstate="21000")
        if not found:
            return None
        return test([fn(row, ctx) for fn in left_fns], found[0])
    return Expr(BOOL, run)


def row_sublink(compiler: ExpressionCompiler, f: Node, column_types: list[int], timezone: str,
                rows_of: Callable[..., list[Row]]) -> Expr:
    """A subquery compared with a written row: ANY/ALL (IN, NOT IN) or a single row."""
    kind = f["subLinkType"]
    if kind == "ROWCOMPARE_SUBLINK":
        return row_compare_sublink(compiler, f, column_types, timezone, rows_of)
    if kind not in ("ANY_SUBLINK", "ALL_SUBLINK"):
        raise error_at("subquery kind with a row is not supported", "0A000",
                       f.get("location", -1))
    return any_all_sublink(compiler, f, column_types, timezone, rows_of,
                           kind == "ALL_SUBLINK")


# -- record values ---------------------------------------------------------------------------------


def record_operator(name: str, left: Expr, right: Expr, location: int) -> Expr:
    """record = <> < <= > >= record (a side that is no record: 42883, as PostgreSQL has no
    operator for it)."""
    if name not in ORDERING_OPERATORS and name not in _NEGATED_OPERATORS or \
            not (_is_record_operand(left) and _is_record_operand(right)):
        raise error_at(f"operator does not exist: {T.format_type(left.type_oid)} {name} "
                       f"{T.format_type(right.type_oid)}", "42883", location,
                       hint="No operator matches the given name and argument types. You "
                            "might need to add explicit type casts.")
    accept = _ORDER_RESULTS[name]
    left, right = _unknown_as_record(left, right), _unknown_as_record(right, left)
    lf, rf = left.fn, right.fn

    def run(row: Row, ctx: ExecContext) -> Any:
        lv, rv = lf(row, ctx), rf(row, ctx)
        if lv is None or rv is None:
            return None
        return record_compare(lv, rv) in accept
    return Expr(BOOL, run, volatile=left.volatile or right.volatile)


def _is_record_operand(value: Expr) -> bool:
    return T.is_row_type(value.type_oid) or value.type_oid == UNKNOWN


def _unknown_as_record(value: Expr, other: Expr) -> Expr:
    """An unknown literal compared with a record becomes ``record``, whose input PostgreSQL
    refuses (0A000 at the literal) even when the other side has a named row type."""
    if value.type_oid != UNKNOWN:
        return value
    if other.type_oid == UNKNOWN:
        raise error_at("operator is not unique: unknown = unknown", "42725", value.location)
    raise error_at("input of anonymous composite types is not implemented", "0A000",
                   value.location)


_ORDER_RESULTS = {"=": (0,), "<>": (-1, 1), "<": (-1,), "<=": (-1, 0), ">": (1,),
                  ">=": (0, 1)}


def record_compare(left: Any, right: Any) -> int:
    """record_cmp: -1, 0 or 1; fields compared in order by their types' B-tree order, NULL
    equal to NULL and after any value; different shapes are 42804 as in PostgreSQL."""
    left_fields, right_fields = _fields_of(left), _fields_of(right)
    for number, (lv, rv, (_, ltype), (_, rtype)) in enumerate(
            zip(left, right, left_fields, right_fields), start=1):
        if ltype != rtype:
            raise MirrordbError(f"cannot compare dissimilar column types "
                                f"{T.format_type(ltype)} and {T.format_type(rtype)} at record "
                                f"column {number}", sqlstate="42804")
        order = T.compare(lv, rv, ltype)
        if order:
            return order
    if len(left_fields) != len(right_fields):
        raise MirrordbError("cannot compare record types with different numbers of columns",
                            sqlstate="42804")
    return 0


def _fields_of(record: Any) -> Fields:
    columns: Fields = getattr(record, "columns", ())
    return columns


def null_test(arg: Expr, is_not: bool) -> Expr:
    """``row IS [NOT] NULL``: IS NULL when every field is NULL, IS NOT NULL when none is (so a
    row with some NULLs is neither); a NULL record is NULL."""
    inner = arg.fn

    def run(row: Row, ctx: ExecContext) -> bool:
        value = inner(row, ctx)
        if value is None:
            return not is_not
        if isinstance(value, str):          # a record known by its text only
            return is_not
        if is_not:
            return all(item is not None for item in value)
        return all(item is None for item in value)
    return Expr(BOOL, run)


# -- (expr).field ----------------------------------------------------------------------------------


def select_field(value: Expr, name: str, location: int) -> Expr:
    """``(expr).name``: a field of a row whose fields are known when planning (``location``:
    where ``expr`` starts, which PostgreSQL's errors point at)."""
    if not T.is_row_type(value.type_oid):
        raise error_at(f"column notation .{name} applied to type "
                       f"{T.format_type(value.type_oid)}, which is not a composite type",
                       "42809", location)
    fields = value.fields or _type_fields(value.type_oid)
    index = next((i for i, (field, _) in enumerate(fields) if field == name), None)
    if index is None and value.fields is None and fields:
        raise error_at(f'column "{name}" not found in data type '
                       f"{T.format_type(value.type_oid)}", "42703", location)
    if index is None and value.type_oid == T.RECORD_OID:
        raise error_at(f'could not identify column "{name}" in record data type', "42703",
                       location)
    if index is None:
        raise error_at(f"column {value.name}.{name} does not exist", "42703", location)
    inner, type_oid = value.fn, fields[index][1]
    if value.constant:
        return const(None if value.value is None else value.value[index], type_oid, name=name)

    def run(row: Row, ctx: ExecContext) -> Any:
        record = inner(row, ctx)
        return None if record is None else record[index]
    return Expr(type_oid, run, name=name, volatile=value.volatile)


def _type_fields(type_oid: int) -> Fields:
    """The fields a composite type (or a table's row type) gives its values."""
    found = T.composite_fields(type_oid)
    return found[0] if found is not None else ()


# -- index bounds ----------------------------------------------------------------------------------

# What a row comparison implies of its first columns: (a, b) > (1, 2) holds only where a >= 1.
_LEADING_OPERATORS = {"=": "=", "<": "<=", "<=": "<=", ">": ">=", ">=": ">="}


def leading_column_condition(fields: Node, name: str) -> Node | None:
    """For the planner's index choice: a comparison of the first items of two written rows
    that every row satisfying ``ROW(...) name ROW(...)`` satisfies (the scan re-checks the
    whole comparison, so the bound may be looser), or None."""
    left, right = fields.get("lexpr"), fields.get("rexpr")
    if not (is_row_node(left) and is_row_node(right)) or name not in _LEADING_OPERATORS:
        return None
    left_items, right_items = row_items(left), row_items(right)
    if not left_items or len(left_items) != len(right_items):
        return None
    return {"A_Expr": {"kind": "AEXPR_OP", "name": [{"String": {"sval": _LEADING_OPERATORS[name]}}],
                       "lexpr": left_items[0], "rexpr": right_items[0],
                       "location": fields.get("location", -1)}}


def equality_conjuncts(node: Node) -> list[Node]:
    """``ROW(a, b) = ROW(1, 2)`` as the ``a = 1`` and ``b = 2`` it means (PostgreSQL's parser
    makes the same AND), so each column can bound an index scan; [] for anything else."""
    fields = node.get("A_Expr")
    if fields is None or fields.get("kind") != "AEXPR_OP" or "lexpr" not in fields:
        return []
    left, right = fields["lexpr"], fields.get("rexpr")
    if strings(fields.get("name")) != [EQUALITY] or not (is_row_node(left) and
                                                         is_row_node(right)):
        return []
    left_items, right_items = row_items(left), row_items(right)
    if len(left_items) != len(right_items) or len(left_items) < 2:
        return []
    return [{"A_Expr": {**fields, "lexpr": l_item, "rexpr": r_item}}
            for l_item, r_item in zip(left_items, right_items)]
