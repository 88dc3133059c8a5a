"""Stored generated columns: ``GENERATED ALWAYS AS (expr) STORED``, as PostgreSQL 15 has them.

Who calls it: ddl.py (CREATE TABLE: ``definition_error`` for the column's clauses, then
``add_expressions`` once the table exists; ALTER TABLE ADD COLUMN: ``added_column_values``;
RENAME and DROP COLUMN), dml.py and merge.py (``for_relation`` when a
statement writing the table is planned, ``RelationGenerated.compute`` on each new row version,
the 428C9 refusals of explicit values), and copy.py (the columns COPY leaves out or refuses).

Where it lives: pg_attribute.attgenerated is 's' (a catalog column added with this feature, so
older clusters need a fresh initdb) and the expression is the column's pg_attrdef row, its raw
parse tree as JSON as a default's is: atthasdef is true, pg_get_expr prints it, so psql's \\d
and pg_dump read it as they read PostgreSQL's. It is never used as a default
(Session.column_defaults leaves it out): the value is computed from the row's other columns
after defaults, before NOT NULL and CHECK constraints, on every INSERT, UPDATE, COPY FROM and
MERGE action, as PostgreSQL's ExecComputeStoredGenerated does.

PostgreSQL's checks of the expression (cookDefault, checkGeneratedColumn): no subqueries,
aggregates, window or set-returning functions; no system column but tableoid (42P10); no
other generated column (42P17); only immutable functions (42P17); a result assignable to the
column's type (42804).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mirrordb.access.relation import Relation
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import constraints, index_expressions
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (UNKNOWN, ExecContext, Expr, ExpressionCompiler, coerce,
                                      error_at)
from mirrordb.sql.parser import Node

STORED = "s"
CLAUSE = "column generation expressions"     # how PostgreSQL's messages name the place
_SYSTEM_COLUMNS = ("ctid", "xmin", "cmin", "xmax", "cmax")    # tableoid is allowed


def definition_error(column: str, table: str, constraint: Node, has_default: bool,
                     identity_kind: str, generated: bool) -> MirrordbError | None:
    """A column definition whose GENERATED ... STORED clause clashes with its other clauses
    (PostgreSQL's grammar-level checks in transformColumnDefinition), or None."""
    location = constraint.get("location", -1)
    if generated:
        return error_at(f'multiple generation clauses specified for column "{column}" of '
                        f'table "{table}"', "42601", location)
    if has_default:
        return error_at(f'both default and generation expression specified for column '
                        f'"{column}" of table "{table}"', "42601", location)
    if identity_kind:
        return error_at(f'both identity and generation expression specified for column '
                        f'"{column}" of table "{table}"', "42601", location)
    return None


def default_error(column: str, table: str, constraint: Node) -> MirrordbError:
    """A DEFAULT after GENERATED ... STORED on one column."""
    return error_at(f'both default and generation expression specified for column "{column}" '
                    f'of table "{table}"', "42601", constraint.get("location", -1))


def add_expressions(builder: Any, txn: Any, relation: Relation,
                    expressions: list[tuple[int, Node]]) -> None:
    """Check each generated column's expression (attnum, raw tree) against the new table and
    store it as the column's pg_attrdef row."""
    for attnum, tree in expressions:
        compile_expression(builder, relation, attnum - 1, tree, defining=True)
        txn.set_column_default(relation, attnum, json.dumps(tree))


def added_column_values(session: Any, builder: Any, relation: Relation, columns: list[Any],
                        tree: Node) -> Callable[[tuple[object, ...]], object]:
    """ALTER TABLE ADD COLUMN ... GENERATED: the checked expression, as a function from an
    existing row's values to the new column's value (the table is rewritten with it)."""
    widened = dataclasses.replace(relation, columns=columns)
    try:
        expr = compile_expression(builder, widened, len(columns) - 1, tree, defining=True)
    except MirrordbError as error:      # ALTER TABLE's errors here carry no position
        error.__dict__.pop("position", None)
        raise
    ctx = session._context([])
    return lambda values: expr.fn((*values, None), ctx)


def compile_expression(builder: Any, relation: Relation, index: int, tree: Node,
                       defining: bool = False) -> Expr:
    """Column ``index``'s generation expression over the table's row values, after
    PostgreSQL's checks, cast to the column's type. ``defining``: CREATE TABLE or ADD COLUMN,
    where what is not IMMUTABLE is refused (sql/index_expressions.py's checker, which an index
    expression goes through too); a stored expression passed it."""
    _refuse_forbidden(relation, tree)
    column = relation.columns[index]
    if defining:
        compiler = index_expressions.immutable_compiler(builder.session, relation, CLAUSE)
        builder = compiler.builder
    else:
        compiler = ExpressionCompiler(builder, constraints.relation_scope(relation))
    outer_clause, builder.clause = builder.clause, CLAUSE
    try:
        expr = compiler.compile(tree)
    except MirrordbError as error:
        if error.sqlstate == "42P17" and error.message.startswith("functions in "):
            raise MirrordbError("generation expression is not immutable",
                                sqlstate="42P17") from None
        raise
    finally:
        builder.clause = outer_clause
    if expr.type_oid != UNKNOWN and not T.can_coerce(expr.type_oid, column.type_oid,
                                                     T.ASSIGNMENT):
        raise MirrordbError(
            f'column "{column.name}" is of type {T.format_type(column.type_oid, column.typmod)}'
            f" but default expression is of type {T.format_type(expr.type_oid, expr.typmod)}",
            sqlstate="42804", hint="You will need to rewrite or cast the expression.")
    return coerce(builder, expr, column.type_oid, column.typmod, "assignment")


def _refuse_forbidden(relation: Relation, tree: Node) -> None:
    for kind, fields in constraints._nodes(tree):
        location = fields.get("location", -1)
        if kind == "SubLink":
            raise error_at("cannot use subquery in column generation expression", "0A000",
                           location)
        if kind == "ColumnRef":
            _check_reference(relation, fields, location)
        if kind == "FuncCall":
            constraints.refuse_misplaced_call(fields, CLAUSE)


def _check_reference(relation: Relation, fields: Node, location: int) -> None:
    """A column reference may name neither a system column (but tableoid) nor another
    generated column."""
    names = [item["String"]["sval"] for item in fields["fields"] if "String" in item]
    if not names or len(names) != len(fields["fields"]):
        return
    name = names[-1]
    if name in _SYSTEM_COLUMNS:
        raise error_at(f'cannot use system column "{name}" in column generation expression',
                       "42P10", location)
    try:
        column = relation.columns[relation.column_index(name)]
    except KeyError:
        return
    if column.generated:
        raise error_at(f'cannot use generated column "{name}" in column generation '
                       "expression", "42P17", location,
                       detail="A generated column cannot reference another generated column.")


# -- computing the values -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelationGenerated:
    """A table's generated columns compiled for one plan: (column index, expression)."""

    columns: tuple[tuple[int, Expr], ...]

    def compute(self, values: list[Any], ctx: ExecContext) -> None:
        """Set each generated column of the new row version ``values`` from its other
        columns."""
        row = tuple(values)
        for index, expr in self.columns:
            values[index] = expr.fn(row, ctx)


_COMPILED: constraints.SessionCache[RelationGenerated | None] = constraints.SessionCache()


def for_relation(builder: Any, relation: Relation) -> RelationGenerated | None:
    """``relation``'s generated columns compiled (None when it has none), cached per
    session."""
    if not any(column.generated for column in relation.columns):
        return None
    return _COMPILED.get(builder.session, relation, lambda: _compile(builder, relation))


def _compile(builder: Any, relation: Relation) -> RelationGenerated:
    stored = builder.session.txn.column_defaults(relation)
    return RelationGenerated(tuple(
        (attnum - 1, compile_expression(builder, relation, attnum - 1, json.loads(text)))
        for attnum, text in sorted(stored.items())
        if relation.columns[attnum - 1].generated))


# -- ALTER TABLE: the columns an expression reads ------------------------------------------------


def _expressions(txn: Any, relation: Relation) -> dict[int, Node]:
    """attnum -> the raw tree of each generated column's expression."""
    return {attnum: json.loads(text) for attnum, text in txn.column_defaults(relation).items()
            if relation.columns[attnum - 1].generated}


def column_renamed(txn: Any, relation: Relation, old: str, new: str) -> None:
    """ALTER TABLE RENAME COLUMN: the stored expressions name the column anew."""
    for attnum, tree in _expressions(txn, relation).items():
        if constraints.rename_references(tree, old, new):
            txn.drop_column_default(relation, attnum)
            txn.set_column_default(relation, attnum, json.dumps(tree))


def dependent_columns(txn: Any, relation: Relation, name: str) -> list[str]:
    """The generated columns whose expression reads column ``name`` (PostgreSQL records
    them as depending on it)."""
    number = relation.column_index(name) + 1
    return [relation.columns[attnum - 1].name
            for attnum, tree in sorted(_expressions(txn, relation).items())
            if attnum != number and number in constraints.referenced_columns(relation, tree)]


def drop_dependents_notices(relation: Relation, name: str, dependents: list[str],
                            cascade: bool) -> list[tuple[str, ...]]:
    """DROP COLUMN of a column generated columns read: 2BP01 without CASCADE; with it, the
    notice that they go too."""
    if not dependents:
        return []
    lines = [f"column {dependent} of table {relation.name} depends on column {name} of table "
             f"{relation.name}" for dependent in dependents]
    if not cascade:
        raise MirrordbError(f"cannot drop column {name} of table {relation.name} because "
                            "other objects depend on it", sqlstate="2BP01",
                            detail="\n".join(lines),
                            hint="Use DROP ... CASCADE to drop the dependent objects too.")
    dropped = [f"drop cascades to column {dependent} of table {relation.name}"
               for dependent in dependents]
    if len(dropped) == 1:
        return [("NOTICE", dropped[0])]
    return [("NOTICE", f"drop cascades to {len(dropped)} other objects", "\n".join(dropped))]


def drop_expression(session: Any, txn: Any, relation: Relation, command: Node) -> list[Any]:
    """ALTER COLUMN ... DROP EXPRESSION [IF EXISTS]: the column keeps its values and becomes
    an ordinary one."""
    name = command["name"]
    try:
        attnum = relation.column_index(name) + 1
    except KeyError:
        raise MirrordbError(f'column "{name}" of relation "{relation.name}" does not exist',
                            sqlstate="42703") from None
    if not relation.columns[attnum - 1].generated:
        if command.get("missing_ok"):
            return [("NOTICE", f'column "{name}" of relation "{relation.name}" is not a '
                               "stored generated column, skipping")]
        raise MirrordbError(f'column "{name}" of relation "{relation.name}" is not a stored '
                            "generated column", sqlstate="55000")
    txn.alter_column(relation, attnum, generated="")
    txn.drop_column_default(relation, attnum)
    return []


# -- the refusals of explicit values --------------------------------------------------------------


def refuse_insert(relation: Relation, index: int) -> None:
    """A value (not DEFAULT) given for generated column ``index`` by INSERT or MERGE."""
    column = relation.columns[index]
    if column.generated:
        raise MirrordbError(f'cannot insert a non-DEFAULT value into column "{column.name}"',
                            sqlstate="428C9",
                            detail=f'Column "{column.name}" is a generated column.')


def refuse_update(relation: Relation, index: int) -> None:
    """UPDATE (and ON CONFLICT DO UPDATE, MERGE) may set a generated column only to
    DEFAULT."""
    column = relation.columns[index]
    if column.generated:
        raise MirrordbError(f'column "{column.name}" can only be updated to DEFAULT',
                            sqlstate="428C9",
                            detail=f'Column "{column.name}" is a generated column.')


def copy_column_names(relation: Relation) -> list[str]:
    """The columns COPY without a column list reads or writes: all but generated ones."""
    return [column.name for column in relation.columns if not column.generated]


def refuse_copy(relation: Relation, indexes: list[int]) -> None:
    """COPY naming a generated column, either way."""
    for index in indexes:
        column = relation.columns[index]
        if column.generated:
            raise MirrordbError(f'column "{column.name}" is a generated column',
                                sqlstate="42P10",
                                detail="Generated columns cannot be used in COPY.")
