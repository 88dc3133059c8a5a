"""CHECK constraints, and the pg_constraint rows they share with FOREIGN KEY constraints.

Who calls it: ddl.py (CREATE TABLE's column and table CHECK constraints; ALTER TABLE ADD
CONSTRAINT ... CHECK [NOT VALID], VALIDATE CONSTRAINT, DROP CONSTRAINT [IF EXISTS]); dml.py and
the session's COPY FROM (``checks_for`` compiles a table's CHECK constraints once per plan and
``RelationChecks.verify`` tests each new row version); sysviews.py and catalog_functions.py
(pg_constraint's rows, pg_class.relchecks, pg_get_constraintdef). FOREIGN KEY constraints are
sql/foreign_keys.py, which stores its rows through ``StoredConstraint`` as well.

Where the constraint lives: a row of the pg_constraint heap catalog (catalog/bootstrap.py), an
ordinary WAL-logged catalog row, so a standby has it. A CHECK constraint's ``conbin`` is its raw
parse tree as JSON, as pg_attrdef.adbin holds a default: it is compiled against the table's
columns whenever a statement that writes the table is planned, and printed by the expression
deparser for pg_get_constraintdef. PRIMARY KEY and UNIQUE constraints are not stored here; they
are derived from their indexes (catalog_functions.py).

PostgreSQL's rules kept here:
- a new row version is checked after its NOT NULL columns (ExecConstraints' order), against
  every CHECK constraint of the table in name order, NOT VALID ones too; a NULL result passes;
- a check may not contain subqueries, aggregates, window functions, set-returning functions or
  parameters, and must be boolean; volatile functions are allowed;
- names: ``<table>_<column>_check`` when the expression reads exactly one column, else
  ``<table>_check``, with 1, 2... appended until no constraint of the schema has the name
  (ChooseConstraintName), shortened to fit NAMEDATALEN as makeObjectName does;
- ALTER TABLE ADD CHECK scans the existing rows unless NOT VALID; VALIDATE CONSTRAINT scans
  them and marks the constraint valid.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from mirrordb.access.relation import Relation
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Txn
from mirrordb.sql import aggregates as aggs
from mirrordb.sql import set_returning as srf
from mirrordb.sql import types as T
from mirrordb.sql import user_types
from mirrordb.sql import window
from mirrordb.sql.expressions import (ExecContext, Expr, ExpressionCompiler, Scope, ScopeColumn,
                                      coerce_to_bool, error_at, expression_location)
from mirrordb.sql.parser import Node

NAMEDATALEN = 64
MAX_FAILING_VALUE_BYTES = 64        # ExecBuildSlotValueDescription's maxfieldlen
CONTYPE_CHECK = "c"
CONTYPE_FOREIGN = "f"
NO_ACTION = " "                     # confupdtype/confdeltype/confmatchtype of a CHECK
CHECK_CLAUSE = "check constraints"  # how PostgreSQL's messages name the place
MAX_CACHED_RELATIONS = 256
Cached = TypeVar("Cached")


# -- the stored row -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredConstraint:
    """One pg_constraint row, columns in the catalog's order (catalog/bootstrap.py)."""

    oid: int
    name: str
    namespace_oid: int
    contype: str
    deferrable: bool
    deferred: bool
    validated: bool
    relation_oid: int
    index_oid: int
    referenced_oid: int
    update_action: str
    delete_action: str
    match_type: str
    no_inherit: bool
    keys: tuple[int, ...]
    referenced_keys: tuple[int, ...]
    expression: str | None
    type_oid: int = 0          # contypid: the domain a domain constraint belongs to

    @staticmethod
    def from_row(values: Sequence[object]) -> StoredConstraint:
        return StoredConstraint(
            int(values[0]), str(values[1]), int(values[2]), str(values[3]),  # type: ignore
            bool(values[4]), bool(values[5]), bool(values[6]), int(values[7]),  # type: ignore
            int(values[8]), int(values[9]), str(values[10]), str(values[11]),  # type: ignore
            str(values[12]), bool(values[13]), _numbers(values[14]), _numbers(values[15]),
            None if values[16] is None else str(values[16]),
            int(values[17] or 0) if len(values) > 17 else 0)  # type: ignore[arg-type]

    def row(self) -> list[object]:
        return [self.oid, self.name, self.namespace_oid, self.contype, self.deferrable,
                self.deferred, self.validated, self.relation_oid, self.index_oid,
                self.referenced_oid, self.update_action, self.delete_action, self.match_type,
                self.no_inherit, " ".join(map(str, self.keys)),
                " ".join(map(str, self.referenced_keys)), self.expression, self.type_oid]


def _numbers(text: object) -> tuple[int, ...]:
    return tuple(int(part) for part in str(text or "").split())


def create(txn: Txn, constraint: StoredConstraint) -> int:
    """Store ``constraint`` (its OID field is ignored); the new OID."""
    return txn.create_constraint(constraint.row()[1:])


def stored_constraints(txn: Txn) -> list[StoredConstraint]:
    """Every pg_constraint row this transaction sees now, by OID."""
    return sorted((StoredConstraint.from_row(values) for values in txn.constraint_rows()),
                  key=lambda c: c.oid)


def of_relation(txn: Txn, relation_oid: int) -> list[StoredConstraint]:
    return [c for c in stored_constraints(txn) if c.relation_oid == relation_oid]


# -- names ----------------------------------------------------------------------------------------


def make_object_name(name1: str, name2: str | None, label: str) -> str:
    """PostgreSQL's makeObjectName: ``name1_name2_label`` cut to NAMEDATALEN - 1 bytes by
    shortening the longer of the two names first."""
    first, second = name1.encode(), (name2 or "").encode()
    overhead = len(label.encode()) + 1 + (1 if name2 is not None else 0)
    available = NAMEDATALEN - 1 - overhead
    first_length, second_length = len(first), len(second)
    while first_length + second_length > available:
        if first_length > second_length:
            first_length -= 1
        else:
            second_length -= 1
    parts = [first[:first_length].decode(errors="ignore")]
    if name2 is not None:
        parts.append(second[:second_length].decode(errors="ignore"))
    return "_".join(parts + [label])


def choose_constraint_name(name1: str, name2: str | None, label: str,
                           taken: set[str]) -> str:
    """ChooseConstraintName: the first of label, label1, label2... giving a free name."""
    attempt = 0
    modified = label
    while True:
        name = make_object_name(name1, name2, modified)
        if name not in taken:
            return name
        attempt += 1
        modified = f"{label}{attempt}"


def names_in_use(txn: Txn) -> set[str]:
    """Constraint names of the schema: stored ones and those of PRIMARY KEY/UNIQUE indexes."""
    names = {c.name for c in stored_constraints(txn)}
    unique_indexes = {int(values[0]) for _, values in  # type: ignore[call-overload]
                      txn.engine.relcache.rows(boot.PG_INDEX, txn.transaction) if values[3]}
    names |= {str(values[1]) for _, values in
              txn.engine.relcache.rows(boot.PG_CLASS, txn.transaction)
              if values[0] in unique_indexes}
    return names


# -- compiling a CHECK expression -----------------------------------------------------------------


def relation_scope(relation: Relation) -> Scope:
    """The table's columns by name, as a check (or a foreign key's key) reads them."""
    scope = Scope()
    scope.add(relation.name, [ScopeColumn(c.name, c.type_oid, c.typmod, relation.oid, i + 1)
                              for i, c in enumerate(relation.columns)], relation)
    return scope


def compile_check(builder: Any, relation: Relation, tree: Node) -> Expr:
    """The boolean expression of a CHECK constraint over ``relation``'s row values, after
    PostgreSQL's restrictions (errors point where the parser's do)."""
    _refuse_forbidden(tree)
    compiler = ExpressionCompiler(builder, relation_scope(relation))
    expr = compiler.compile(tree)
    return coerce_to_bool(builder, expr, "CHECK", expression_location(tree))


def _refuse_forbidden(tree: Node) -> None:
    for kind, fields in _nodes(tree):
        location = fields.get("location", -1)
        if kind == "SubLink":
            raise error_at("cannot use subquery in check constraint", "0A000", location)
        if kind == "ParamRef":
            raise error_at(f"there is no parameter ${fields.get('number', 0)}", "42P02",
                           location)
        if kind == "FuncCall":
            refuse_misplaced_call(fields, CHECK_CLAUSE)


def refuse_misplaced_call(fields: dict[str, Any], clause: str) -> None:
    """A FuncCall that ``clause`` (a check constraint, a generation expression) may not hold:
    a window function, an aggregate or a set-returning function."""
    location = fields.get("location", -1)
    name = str(fields["funcname"][-1]["String"]["sval"]).lower()
    if "over" in fields:
        window.refuse({"FuncCall": fields}, clause)
    if aggs.is_aggregate(name) or fields.get("agg_star"):
        raise error_at(f"aggregate functions are not allowed in {clause}", "42803", location)
    if name in srf.SET_RETURNING_FUNCTIONS:
        raise error_at(f"set-returning functions are not allowed in {clause}", "0A000",
                       location)


def _nodes(tree: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node of a raw parse tree, in the order the text has them (a node before what it
    contains); a subquery's insides are not visited."""
    if isinstance(tree, list):
        for item in tree:
            yield from _nodes(item)
        return
    if not isinstance(tree, dict):
        return
    for key, value in tree.items():
        if isinstance(value, dict) and key[:1].isupper():
            yield key, value
            if key == "SubLink":
                continue
            yield from _nodes(value)
        elif isinstance(value, (dict, list)):
            yield from _nodes(value)


def referenced_columns(relation: Relation, tree: Node) -> list[int]:
    """Column numbers the expression reads, first appearance first (pull_var_clause)."""
    numbers: list[int] = []
    for kind, fields in _nodes(tree):
        if kind != "ColumnRef":
            continue
        names = [item["String"]["sval"] for item in fields["fields"] if "String" in item]
        if not names or len(names) != len(fields["fields"]):
            continue
        try:
            number = relation.column_index(names[-1]) + 1
        except KeyError:
            continue
        if number not in numbers:
            numbers.append(number)
    return numbers


# -- adding, validating, dropping -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingCheck:
    """A CHECK constraint as CREATE TABLE or ALTER TABLE wrote it."""

    name: str | None
    tree: Node
    no_inherit: bool
    skip_validation: bool

    @staticmethod
    def of(constraint: Node) -> PendingCheck:
        return PendingCheck(constraint.get("conname"), constraint["raw_expr"],
                            bool(constraint.get("is_no_inherit")),
                            bool(constraint.get("skip_validation")))


def add_checks(session: Any, txn: Txn, relation: Relation, pending: Sequence[PendingCheck],
               creating: bool) -> None:
    """Store CHECK constraints on ``relation``. A new table has no rows to check (and its
    constraints are valid even when written NOT VALID, as in PostgreSQL); otherwise the rows
    are checked unless NOT VALID."""
    from mirrordb.sql.planner import PlanBuilder   # the planner imports the session layer
    builder = PlanBuilder(session, [])
    existing = {c.name for c in of_relation(txn, relation.oid)}
    taken = names_in_use(txn)
    chosen: list[str] = []
    for check in pending:
        expr = compile_check(builder, relation, check.tree)
        columns = referenced_columns(relation, check.tree)
        if check.name is not None:
            name = check.name
            if name in existing:
                raise MirrordbError(f'constraint "{name}" for relation "{relation.name}" '
                                    "already exists", sqlstate="42710")
            if name in chosen:
                raise MirrordbError(f'check constraint "{name}" already exists',
                                    sqlstate="42710")
        else:
            column = relation.columns[columns[0] - 1].name if len(columns) == 1 else None
            name = choose_constraint_name(relation.name, column, "check", taken | set(chosen))
        chosen.append(name)
        validate = not creating and not check.skip_validation
        if validate:
            _scan_for_violation(session, txn, relation, name, expr)
        create(txn, StoredConstraint(
            0, name, relation.namespace_oid, CONTYPE_CHECK, False, False,
            creating or not check.skip_validation, relation.oid, 0, 0, NO_ACTION, NO_ACTION,
            NO_ACTION, check.no_inherit, tuple(columns), (), json.dumps(check.tree)))


def _scan_for_violation(session: Any, txn: Txn, relation: Relation, name: str,
                        expr: Expr) -> None:
    ctx = session._context([])
    for _, values in txn.scan(relation):
        if expr.fn(tuple(values), ctx) is False:
            raise MirrordbError(f'check constraint "{name}" of relation "{relation.name}" is '
                                "violated by some row", sqlstate="23514")


def find(txn: Txn, relation: Relation, name: str) -> StoredConstraint | None:
    return next((c for c in of_relation(txn, relation.oid) if c.name == name), None)


def _missing(relation: Relation, name: str) -> MirrordbError:
    return MirrordbError(f'constraint "{name}" of relation "{relation.name}" does not exist',
                         sqlstate="42704")


def validate_constraint(session: Any, txn: Txn, relation: Relation, command: Node
                        ) -> list[str]:
    """ALTER TABLE ... VALIDATE CONSTRAINT: check the rows, then mark it valid."""
    name = command["name"]
    stored = find(txn, relation, name)
    if stored is None:
        raise _missing(relation, name)
    if stored.validated:
        return []
    if stored.contype == CONTYPE_CHECK:
        from mirrordb.sql.planner import PlanBuilder
        expr = compile_check(PlanBuilder(session, []), relation,
                             json.loads(stored.expression or "null"))
        _scan_for_violation(session, txn, relation, stored.name, expr)
    elif stored.contype == CONTYPE_FOREIGN:
        from mirrordb.sql import foreign_keys
        foreign_keys.validate_existing_rows(session, txn, relation, stored)
    txn.update_constraint(stored.oid, replace(stored, validated=True).row())
    return []


def drop_constraint(session: Any, txn: Txn, relation: Relation, command: Node) -> list[Any]:
    """ALTER TABLE ... DROP CONSTRAINT [IF EXISTS] name: a stored constraint, or the index
    of a PRIMARY KEY/UNIQUE constraint."""
    name = command["name"]
    stored = find(txn, relation, name)
    if stored is not None:
        txn.drop_constraint(stored.oid)
        return []
    for info in relation.indexes:
        if info.relation.name == name and _backs_constraint(relation, info):
            from mirrordb.sql import foreign_keys
            notices = foreign_keys.check_index_unreferenced(
                session, txn, relation, info, command.get("behavior") == "DROP_CASCADE")
            txn.drop(info.relation.oid)
            return notices
    if command.get("missing_ok"):
        return [f'constraint "{name}" of relation "{relation.name}" does not exist, skipping']
    raise _missing(relation, name)


def _backs_constraint(relation: Relation, info: Any) -> bool:
    """The PRIMARY KEY index, or a unique one named as ddl.py names a UNIQUE constraint's."""
    if info.primary:
        return True
    if not info.plain:
        return False
    columns = "_".join(relation.columns[i].name
                       for i in (*info.key_columns, *info.include_columns))
    return bool(info.unique) and info.relation.name == make_object_name(relation.name,
                                                                        columns, "key")


# -- checking new row versions --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledCheck:
    name: str
    expr: Expr


@dataclass(frozen=True, slots=True)
class RelationChecks:
    """A table's CHECK constraints compiled for one plan, in the order PostgreSQL tests them."""

    relation: Relation
    checks: tuple[CompiledCheck, ...]
    # (column index, domain name) of the columns of a NOT NULL domain (sql/user_types.py)
    domain_not_null: tuple[tuple[int, str], ...] = ()

    def verify(self, values: Sequence[object], ctx: ExecContext) -> None:
        """23502 or 23514 unless the new row version ``values`` satisfies the table's NOT NULL
        columns and CHECK constraints (and its columns' NOT NULL domains, first)."""
        for index, domain_name in self.domain_not_null:
            if values[index] is None:
                error = user_types.domain_null_error(domain_name)
                error.null_input_column = self.relation.columns[index].name  # type: ignore
                raise error
        try:
            Txn.check_not_null(self.relation, values)
        except MirrordbError as error:
            error.detail = failing_row_detail(self.relation, values, _timezone(ctx))
            raise
        row = tuple(values)
        for check in self.checks:
            if check.expr.fn(row, ctx) is False:
                raise MirrordbError(
                    f'new row for relation "{self.relation.name}" violates check constraint '
                    f'"{check.name}"', sqlstate="23514",
                    detail=failing_row_detail(self.relation, values, _timezone(ctx)))


class SessionCache(Generic[Cached]):
    """What a session made for a relation from its constraints, kept until the catalogs
    change (the relation cache's generation), and never while the session's transaction has
    changed them itself (its own changes are not in the generation)."""

    def __init__(self) -> None:
        self._caches: weakref.WeakKeyDictionary[Any, dict[tuple[int, int], Cached]] = \
            weakref.WeakKeyDictionary()

    def get(self, session: Any, relation: Relation, make: Callable[[], Cached]) -> Cached:
        if getattr(session.txn.transaction, "touched_catalogs", False):
            return make()
        key = (relation.oid, session._catalog_generation())
        cache = self._caches.setdefault(session, {})
        if key not in cache:
            if len(cache) > MAX_CACHED_RELATIONS:
                cache.clear()
            cache[key] = make()
        return cache[key]


_CHECKS: SessionCache[RelationChecks | None] = SessionCache()


def checks_for(builder: Any, relation: Relation) -> RelationChecks | None:
    """``relation``'s CHECK constraints compiled (None when it has none and no NOT NULL
    column, whose violation's DETAIL is made here too), cached per session."""
    return _CHECKS.get(builder.session, relation, lambda: _compile_checks(builder, relation))


def _compile_checks(builder: Any, relation: Relation) -> RelationChecks | None:
    txn = builder.session.txn
    stored = sorted((c for c in of_relation(txn, relation.oid) if c.contype == CONTYPE_CHECK),
                    key=lambda c: c.name)
    compiled = tuple(CompiledCheck(c.name, compile_check(builder, relation,
                                                         json.loads(c.expression or "null")))
                     for c in stored)
    has_not_null = any(column.not_null for column in relation.columns)
    domain_not_null = tuple(user_types.domain_not_null_columns(
        [column.type_oid for column in relation.columns]))
    return (RelationChecks(relation, compiled, domain_not_null)
            if compiled or has_not_null or domain_not_null else None)


def _timezone(ctx: ExecContext) -> str:
    return str(getattr(ctx.session, "timezone", None) or "UTC")


def failing_row_detail(relation: Relation, values: Sequence[object], timezone: str) -> str:
    """"Failing row contains (...)": each value as its output function prints it, NULL as
    null, a value longer than 64 bytes cut there with "..." after it."""
    shown = []
    for column, value in zip(relation.columns, values):
        if value is None:
            shown.append("null")
            continue
        text = T.format_text(column.type_oid, value, timezone=timezone)
        encoded = text.encode()
        if len(encoded) > MAX_FAILING_VALUE_BYTES:
            text = encoded[:MAX_FAILING_VALUE_BYTES].decode(errors="ignore") + "..."
        shown.append(text)
    return f"Failing row contains ({', '.join(shown)})."


# -- what clients read: pg_constraint, relchecks, pg_get_constraintdef ---------------------------


def catalog_records(snapshot: Any) -> list[StoredConstraint]:
    """The stored constraints a catalog snapshot (catalog_functions.py) sees."""
    cached = snapshot.view_rows.get(_SNAPSHOT_KEY)
    if cached is None:
        cached = sorted((StoredConstraint.from_row([record[c.name] for c in
                                                    boot.PG_CONSTRAINT.columns])
                         for record in snapshot._read(boot.PG_CONSTRAINT)),
                        key=lambda c: c.oid)
        snapshot.view_rows[_SNAPSHOT_KEY] = cached
    return cached  # type: ignore[no-any-return]


_SNAPSHOT_KEY = "mirrordb.stored_constraints"


def pg_constraint_rows(snapshot: Any) -> list[tuple[object, ...]]:
    """pg_constraint's rows (PostgreSQL's columns) for the stored constraints."""
    rows = []
    for c in catalog_records(snapshot):
        foreign = c.contype == CONTYPE_FOREIGN
        rows.append((
            c.oid, c.name, c.namespace_oid, c.contype, c.deferrable, c.deferred, c.validated,
            c.relation_oid, c.type_oid, c.index_oid, 0, c.referenced_oid, c.update_action,
            c.delete_action, c.match_type, True, 0, c.no_inherit, list(c.keys),
            list(c.referenced_keys) if foreign else None, None, None, None, None, None,
            c.expression))
    return rows


def check_count(snapshot: Any, relation_oid: int) -> int:
    """pg_class.relchecks."""
    return sum(1 for c in catalog_records(snapshot)
               if c.relation_oid == relation_oid and c.contype == CONTYPE_CHECK)


def has_triggers(snapshot: Any, relation_oid: int) -> bool:
    """pg_class.relhastriggers: a foreign key's triggers sit on both of its tables."""
    return any(c.contype == CONTYPE_FOREIGN and relation_oid in (c.relation_oid,
                                                                 c.referenced_oid)
               for c in catalog_records(snapshot))


def constraint_definition(ctx: ExecContext, snapshot: Any, constraint_oid: int,
                          pretty: bool) -> str | None:
    """pg_get_constraintdef for a stored constraint: ``CHECK (expr)`` or the foreign key's
    clause, `` NOT VALID`` / `` NO INHERIT`` after it as PostgreSQL prints them."""
    stored = next((c for c in catalog_records(snapshot) if c.oid == constraint_oid), None)
    if stored is None:
        return None
    if stored.contype == CONTYPE_FOREIGN:
        from mirrordb.sql import foreign_keys
        text = foreign_keys.definition(snapshot, stored)
    else:
        from mirrordb.sql.catalog_functions import ExpressionDeparser
        tree = json.loads(stored.expression or "null")
        value_type = T.base_type(stored.type_oid) if stored.type_oid else None
        deparsed = ExpressionDeparser(ctx.session, snapshot, stored.relation_oid,
                                      pretty, value_type).deparse(tree)
        text = f"CHECK ({deparsed})" + (" NO INHERIT" if stored.no_inherit else "")
    return text + ("" if stored.validated else " NOT VALID")


def column_renamed(txn: Txn, relation: Relation, old: str, new: str) -> None:
    """ALTER TABLE RENAME COLUMN: the stored CHECK expressions name the column anew."""
    for stored in of_relation(txn, relation.oid):
        if stored.contype != CONTYPE_CHECK or stored.expression is None:
            continue
        tree = json.loads(stored.expression)
        if rename_references(tree, old, new):
            txn.update_constraint(stored.oid, replace(stored, expression=json.dumps(tree))
                                  .row())


def rename_references(tree: Any, old: str, new: str) -> bool:
    changed = False
    for kind, fields in list(_nodes(tree)):
        if kind == "ColumnRef":
            last = fields["fields"][-1]
            if "String" in last and last["String"]["sval"] == old:
                last["String"]["sval"] = new
                changed = True
    return changed


def column_dropped(txn: Txn, relation: Relation, number: int) -> None:
    """ALTER TABLE DROP COLUMN: a CHECK constraint reading the column goes with it (its
    dependency is automatic in PostgreSQL); the others' column numbers close the gap."""
    for stored in of_relation(txn, relation.oid):
        if stored.contype != CONTYPE_CHECK:
            continue
        if number in stored.keys:
            txn.drop_constraint(stored.oid)
            continue
        keys = tuple(k - 1 if k > number else k for k in stored.keys)
        if keys != stored.keys:
            txn.update_constraint(stored.oid, replace(stored, keys=keys).row())


__all__ = ["StoredConstraint", "PendingCheck", "RelationChecks", "add_checks", "checks_for",
           "choose_constraint_name", "constraint_definition", "drop_constraint",
           "failing_row_detail", "pg_constraint_rows", "validate_constraint"]
