"""INSERT, UPDATE and DELETE: planning and execution.

Who calls it: the session (sql/session.py), through ``plan_dml`` once per statement (cached for
prepared statements) and ``DmlPlan.run`` per execution. The row-finding part of UPDATE and DELETE
is an ordinary scan plan from the planner (so WHERE uses indexes); this module adds what PostgreSQL's
ModifyTable node does: new row values (defaults, assignment casts, NOT NULL), the engine calls, the
READ COMMITTED re-check after a concurrent update (PostgreSQL's EvalPlanQual: follow the row to its
newest version, re-test WHERE, retry), ON CONFLICT (DO NOTHING and DO UPDATE), and RETURNING.

INSERT ... ON CONFLICT (README "Upsert" has the rules): each proposed row is inserted by
``Txn.insert_unless_conflict``, which checks the arbiter indexes and inserts under one hold of
the lock every unique check takes, waiting for in-progress holders of the key first; a conflict
comes back as the live version holding the key, which DO NOTHING skips and DO UPDATE locks,
re-reads whatever the snapshot, and updates (or, if it changed meanwhile, starts over).

MERGE (sql/merge.py) plans its actions as DmlPlans and runs them through ``insert_one`` and
``apply_change``, the steps INSERT and UPDATE/DELETE take per row here. Stored generated
columns (sql/generated.py) are computed on each new row version before its constraints are
checked.

The target rows of UPDATE/DELETE are collected before the first change, so a statement never sees
its own new versions. The target table is locked in RowExclusiveLock when the statement is
planned (the session takes the lock again before a cached plan runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mirrordb.access.heapam import TmResult
from mirrordb.access.lmgr import LockMode
from mirrordb.access.relation import (RELKIND_MATVIEW, RELKIND_TABLE, RELKIND_VIEW, IndexInfo,
                                      Relation)
from mirrordb.common.errors import MirrordbError, SerializationFailure, UniqueViolation
from mirrordb.engine import ConflictingVersion
from mirrordb.sql import composite_types, constraints
from mirrordb.sql import executor as ex
from mirrordb.sql import foreign_keys, generated, identity, index_expressions
from mirrordb.sql import inheritance, partitioning, persistence, roles, triggers
from mirrordb.sql import set_returning as srf
from mirrordb.sql import types as T
from mirrordb.sql import window
from mirrordb.sql.expressions import (UNKNOWN, ExecContext, Expr, ExpressionCompiler, Row, Scope,
                                      ScopeColumn, TID_OID, coerce, coerce_to_bool, conjuncts,
                                      const, contains_node, error_at, expression_location,
                                      feature_not_supported)
from mirrordb.sql.parser import Node, one, strings
from mirrordb.sql.planner import (OutputColumn, PlanBuilder, _FromItem, _lateral_level,
                                   output_location)

MAX_RECHECKS = 1000


@dataclass
class OnConflict:
    """An INSERT's ON CONFLICT clause, planned. DO UPDATE's SET and WHERE expressions read a
    row made of the conflicting version's values, its ctid, then the proposed row (EXCLUDED)."""

    arbiters: list[IndexInfo]
    update: bool
    assignments: list[tuple[int, Expr]] = field(default_factory=list)
    qual: Expr | None = None


@dataclass
class DmlPlan:
    command: str
    relation: Relation
    columns: list[OutputColumn] | None
    returning: list[Expr] = field(default_factory=list)
    source: ex.PlanNode | None = None           # INSERT ... SELECT / UPDATE-DELETE scan
    values: list[list[Expr | None]] = field(default_factory=list)   # INSERT VALUES rows
    target_columns: list[int] = field(default_factory=list)
    defaults: dict[int, Expr] = field(default_factory=dict)
    assignments: list[tuple[int, Expr]] = field(default_factory=list)
    qual: Expr | None = None
    on_conflict: OnConflict | None = None
    width: int = 0
    checks: constraints.RelationChecks | None = None    # NOT NULL and CHECK of new versions
    ri: foreign_keys.RelationRi | None = None     # foreign keys to check and act on
    generated: generated.RelationGenerated | None = None    # stored generated columns
    triggers: triggers.RelationTriggers | None = None      # the table's enabled triggers
    partition: partitioning.PartitionCheck | None = None   # a partition's bound, written directly

    @property
    def updated_columns(self) -> frozenset[int]:
        """UPDATE's SET columns (numbers from 1), for UPDATE OF triggers."""
        return frozenset(index + 1 for index, _ in self.assignments)

    @property
    def trigger_events(self) -> tuple[str, ...]:
        """The events whose statement triggers this statement fires."""
        if self.on_conflict is not None and self.on_conflict.update:
            return ("INSERT", "UPDATE")
        return (self.command,)

    def explain_node(self) -> ex.PlanNode:
        label = {"INSERT": "Insert on", "UPDATE": "Update on", "DELETE": "Delete on"}[
            self.command]
        return _Labelled(f"{label} {self.relation.name}",
                         [self.source] if self.source is not None else [])

    def run(self, ctx: ExecContext) -> tuple[list[Row], int]:
        if self.command == "INSERT":
            return self._run_insert(ctx)
        return self._run_update_delete(ctx)

    # INSERT

    def _run_insert(self, ctx: ExecContext) -> tuple[list[Row], int]:
        returned: list[Row] = []
        count = 0
        triggers.statement_start(ctx, self.triggers, self.trigger_events)
        for supplied in self._insert_rows(ctx):
            row = self.insert_one(ctx, supplied)
            if row is None:
                continue
            count += 1
            if self.returning:
                returned.append(tuple(e.fn(row, ctx) for e in self.returning))
        if self.ri is not None:
            foreign_keys.end_of_statement(ctx)
        if self.triggers is not None:
            triggers.statement_end(ctx, self.triggers, self.trigger_events)
        return returned, count

    def insert_one(self, ctx: ExecContext, supplied: list[Any]) -> Row | None:
        """Insert one row given as values for ``target_columns`` (the DEFAULT marker where
        DEFAULT was written): defaults filled in, checked, inserted (or its conflict resolved);
        the row with its ctid, or None when ON CONFLICT skipped it. MERGE's INSERT action
        (sql/merge.py) comes here too."""
        relation, txn = self.relation, ctx.txn
        defaults = self.defaults
        values: list[Any] = [None] * relation.natts
        given = dict(zip(self.target_columns, supplied))
        for index in range(relation.natts):
            if index in given and given[index] is not _DEFAULT:
                values[index] = given[index]
            elif index in defaults:
                values[index] = defaults[index].fn((), ctx)
        if self.triggers is not None:
            if relation.kind == RELKIND_VIEW:
                done = triggers.instead_of_row(ctx, self.triggers, "INSERT", None, values)
                return None if done is None else (*done, None)
            go, changed = triggers.before_row(ctx, self.triggers, "INSERT", None, values)
            if not go or changed is None:
                return None
            values = changed
        if self.generated is not None:
            self.generated.compute(values, ctx)
        if self.checks is not None:
            self.checks.verify(values, ctx)
        if self.partition is not None:
            self.partition.verify(values, ctx)
        if self.on_conflict is not None:
            return self._upsert_one(ctx, values, self.on_conflict)
        tid = (partitioning.insert(ctx, relation, values) if partitioning.is_partitioned(relation)
               else txn.insert(relation, values))
        row = (*values, tid)
        if self.ri is not None:
            foreign_keys.row_inserted(ctx, self.ri, values)
        triggers.after_row(ctx, self.triggers, "INSERT", None, values)
        return row

    def _insert_rows(self, ctx: ExecContext) -> Iterator[list[Any]]:
        if self.source is not None:
            for row in list(self.source.rows(ctx)):
                yield [self._assign(i, row[n], ctx) for n, i in enumerate(self.target_columns)]
            return
        for exprs in self.values:
            yield [(_DEFAULT if e is None else e.fn((), ctx)) for e in exprs]

    def _assign(self, index: int, value: Any, ctx: ExecContext) -> Any:
        return value

    def _upsert_one(self, ctx: ExecContext, values: list[Any], clause: OnConflict
                    ) -> Row | None:
        """Insert one proposed row or resolve its conflict: the row inserted or updated (with
        its ctid, as RETURNING reads it), or None when it was skipped."""
        txn = ctx.txn
        # a partitioned table's row: its leaf, and the leaf's indexes under the arbiters
        relation, arbiters = partitioning.upsert_target(ctx, self.relation, values,
                                                        clause.arbiters)
        for _ in range(MAX_RECHECKS):
            tid, conflict = txn.insert_unless_conflict(relation, values, arbiters)
            if tid is not None:
                if self.ri is not None:
                    foreign_keys.row_inserted(ctx, self.ri, values)
                triggers.after_row(ctx, self.triggers, "INSERT", None, values)
                return (*values, partitioning.leaf_tid(self.relation, relation, tid))
            assert conflict is not None
            if not clause.update:
                if txn.transaction.isolation.value != "read committed":
                    _check_conflict_visible(txn.conflicting_version(relation, conflict))
                return None
            done, row = self._conflict_update(ctx, values, clause, conflict, relation)
            if done:
                return row
        raise MirrordbError("too many concurrent updates of one row", sqlstate="40001")

    def _conflict_update(self, ctx: ExecContext, proposed: list[Any], clause: OnConflict,
                         tid: tuple[int, int], relation: Relation) -> tuple[bool, Row | None]:
        """DO UPDATE of conflicting version ``tid`` of ``relation`` (the target, or the leaf
        partition the row went to): (False, None) when it changed before it could be locked
        (the caller starts over), else (True, the updated row or None when the WHERE
        condition skipped it). The version stays locked either way."""
        txn = ctx.txn
        result = txn.lock_row(relation, tid)
        if result != TmResult.OK:
            return False, None
        found = txn.conflicting_version(relation, tid)
        if found is None:
            return False, None
        if found.inserted_by_this_command:
            raise MirrordbError(
                "ON CONFLICT DO UPDATE command cannot affect row a second time",
                sqlstate="21000",
                hint="Ensure that no rows proposed for insertion within the same command "
                     "have duplicate constrained values.")
        if txn.transaction.isolation.value != "read committed":
            _check_conflict_visible(found)
        existing = found.values
        row = (*existing, tid, *proposed)
        if clause.qual is not None and clause.qual.fn(row, ctx) is not True:
            return True, None
        values = list(existing)
        for index, expr in clause.assignments:
            values[index] = expr.fn(row, ctx)
        updated = frozenset(index + 1 for index, _ in clause.assignments)
        if self.triggers is not None:
            go, changed = triggers.before_row(ctx, self.triggers, "UPDATE", existing, values,
                                              updated)
            if not go or changed is None:
                return True, None
            values = changed
        if self.generated is not None:
            self.generated.compute(values, ctx)
        if self.checks is not None:
            self.checks.verify(values, ctx)
        partitioning.check_stays(ctx, self.relation, relation, values)
        result, new_tid = txn.update(relation, tid, values, existing)
        if result != TmResult.OK:
            return False, None
        if self.ri is not None:
            foreign_keys.row_updated(ctx, self.ri, existing, values)
        triggers.after_row(ctx, self.triggers, "UPDATE", existing, values, updated)
        return True, (*values, partitioning.leaf_tid(self.relation, relation, new_tid))

    # UPDATE / DELETE

    def _run_update_delete(self, ctx: ExecContext) -> tuple[list[Row], int]:
        assert self.source is not None
        relation, txn = self.relation, ctx.txn
        ctid_index = relation.natts
        triggers.statement_start(ctx, self.triggers, self.trigger_events, self.updated_columns)
        targets = [row for row in self.source.rows(ctx)]
        returned: list[Row] = []
        count = 0
        seen: set[Any] = set()
        for row in targets:
            tid = row[ctid_index]
            seen_key = partitioning.tid_key(tid)
            if seen_key in seen:
                continue
            if tid is not None:            # a view's rows have none
                seen.add(seen_key)
            done_row = self._change(ctx, txn, relation, row)
            if done_row is None:
                continue
            count += 1
            if self.returning:
                returned.append(tuple(e.fn(done_row, ctx) for e in self.returning))
        if self.ri is not None:
            foreign_keys.end_of_statement(ctx)
        if self.triggers is not None:
            triggers.statement_end(ctx, self.triggers, self.trigger_events, self.updated_columns)
        return returned, count

    def _change(self, ctx: ExecContext, txn: Any, relation: Relation, row: Row) -> Row | None:
        """Apply the change to the row, re-checking after concurrent updates; the row as
        RETURNING sees it (new values for UPDATE, old for DELETE), or None if skipped."""
        ctid_index = relation.natts
        for _ in range(MAX_RECHECKS):
            tid = row[ctid_index]
            result, new_row = self.apply_change(ctx, row)
            if result == TmResult.OK:
                return new_row
            if result in (TmResult.SELF_MODIFIED, TmResult.INVISIBLE):
                return None
            check_concurrent_change(txn, result)
            latest = partitioning.fetch_latest(txn, relation, tid)
            if latest is None:
                return None
            new_tid, values = latest
            row = (*values, new_tid) + row[ctid_index + 1:]
            if self.qual is not None and self.qual.fn(row, ctx) is not True:
                return None
        raise MirrordbError("too many concurrent updates of one row", sqlstate="40001")

    def apply_change(self, ctx: ExecContext, row: Row) -> tuple[TmResult, Row]:
        """One try at this UPDATE's or DELETE's change of the version at the row's ctid (the
        target's columns, its ctid, then any other FROM items' columns): the heap's answer and
        the row as RETURNING sees it. MERGE's UPDATE and DELETE actions come here too."""
        relation, txn = self.relation, ctx.txn
        ctid_index = relation.natts
        tid = row[ctid_index]
        if relation.kind == RELKIND_VIEW:
            return self._instead_of(ctx, row)
        if self.command == "DELETE":
            if not triggers.before_row(ctx, self.triggers, "DELETE", row, None)[0]:
                return TmResult.INVISIBLE, row      # a BEFORE trigger skipped the row
            result = txn.delete(*partitioning.target(relation, tid))
            new_row = row
        else:
            values = list(row[:ctid_index])
            for index, expr in self.assignments:
                values[index] = expr.fn(row, ctx)
            if self.triggers is not None:
                go, changed = triggers.before_row(ctx, self.triggers, "UPDATE", row, values,
                                                  self.updated_columns)
                if not go or changed is None:
                    return TmResult.INVISIBLE, row
                values = changed
            if self.generated is not None:
                self.generated.compute(values, ctx)
            if self.checks is not None:
                self.checks.verify(values, ctx)
            if self.partition is not None:
                self.partition.verify(values, ctx)
            if isinstance(tid, partitioning.PartitionTid):   # a leaf's or child's row
                result, new_tid = partitioning.update(ctx, relation, tid, values,
                                                      row[:ctid_index])
            else:
                result, new_tid = txn.update(relation, tid, values, row[:ctid_index])
            new_row = (*values, new_tid, *row[ctid_index + 1:])   # FROM items' columns too
        if result == TmResult.OK and self.ri is not None:
            self._queue_change(ctx, row[:ctid_index], new_row[:ctid_index])
        if result == TmResult.OK and self.triggers is not None:
            triggers.after_row(ctx, self.triggers, self.command, row,
                               None if self.command == "DELETE" else new_row,
                               self.updated_columns)
        return result, new_row

    def _instead_of(self, ctx: ExecContext, row: Row) -> tuple[TmResult, Row]:
        """UPDATE or DELETE of a view's row: its INSTEAD OF triggers do the change."""
        width = self.relation.natts
        old = row[:width]
        new = None
        if self.command == "UPDATE":
            values = list(old)
            for index, expr in self.assignments:
                values[index] = expr.fn(row, ctx)
            new = tuple(values)
        done = triggers.instead_of_row(ctx, self.triggers, self.command, old, new)
        if done is None:
            return TmResult.INVISIBLE, row
        return TmResult.OK, (*done, None, *row[width + 1:])

    def _queue_change(self, ctx: ExecContext, old: Row, new: Row) -> None:
        """A changed row for the foreign keys' end-of-statement checks and actions."""
        assert self.ri is not None
        if self.command == "DELETE":
            foreign_keys.row_deleted(ctx, self.ri, old)
        else:
            foreign_keys.row_updated(ctx, self.ri, old, new)


def check_concurrent_change(txn: Any, result: TmResult) -> None:
    """After a concurrent update or delete of a target row: under REPEATABLE READ or
    SERIALIZABLE a serialization failure; READ COMMITTED goes on to re-check."""
    if txn.transaction.isolation.value != "read committed":
        raise SerializationFailure("could not serialize access due to concurrent "
                                   + ("delete" if result == TmResult.DELETED else "update"))


def _check_conflict_visible(found: ConflictingVersion | None) -> None:
    """Under REPEATABLE READ a conflict with a row the transaction's snapshot does not see
    (and that it did not insert itself) is a serialization failure."""
    if found is not None and not found.visible and not found.inserted_by_us:
        raise SerializationFailure("could not serialize access due to concurrent update")


class _DefaultMarker:
    def __repr__(self) -> str:
        return "DEFAULT"


_DEFAULT = _DefaultMarker()
_DEFAULT_VALUE = Expr(UNKNOWN, lambda row, ctx: _DEFAULT, name="default")


@dataclass
class _Labelled(ex.PlanNode):
    label: str
    children: list[ex.PlanNode]

    def explain(self) -> tuple[str, list[ex.PlanNode]]:
        return self.label, self.children


def plan_dml(builder: PlanBuilder, node_type: str, node: Node) -> Any:
    if node_type == "MergeStmt":
        from mirrordb.sql import merge
        return merge.plan_merge(builder, node)
    if node.get("withClause"):
        raise feature_not_supported("WITH in data-modifying statements")
    if node_type == "InsertStmt":
        return _plan_insert(builder, node)
    return _plan_update_delete(builder, node_type, node)


def _target_relation(builder: PlanBuilder, range_var: Node, command: str,
                     reads: list[Any]) -> Relation:
    """The table a DML statement changes, after PostgreSQL's privilege check: the command's
    own privilege, and SELECT too when ``reads`` (its WHERE, SET values, RETURNING) refer to
    columns. It is locked in RowExclusiveLock before its catalog entry is read."""
    name, schema = range_var["relname"], range_var.get("schemaname")
    relation = builder.session.lookup_relation(name, schema, LockMode.ROW_EXCLUSIVE)
    if relation is None:
        raise error_at(f'relation "{name if not schema else schema + "." + name}" does not '
                       "exist", "42P01", range_var.get("location", -1))
    if relation.kind == RELKIND_VIEW and not triggers.has_instead_of(builder.session, relation,
                                                                     command):
        from mirrordb.sql import views
        raise views.refuse_change(relation, command)
    if relation.kind == RELKIND_MATVIEW:
        raise MirrordbError(f'cannot change materialized view "{relation.name}"',
                            sqlstate="42809")
    if relation.kind not in (RELKIND_TABLE, RELKIND_VIEW, partitioning.RELKIND_PARTITIONED_TABLE):
        raise error_at(f'cannot change relation "{relation.name}"', "42809",
                       range_var.get("location", -1))
    persistence.check_accessible(builder.session, relation)
    roles.check_table_privilege(builder.session, relation, command)
    if contains_node(reads, "ColumnRef"):
        roles.check_table_privilege(builder.session, relation, "SELECT")
    return relation


def _relation_scope(relation: Relation, alias: str, aliased: bool = True) -> Scope:
    scope = Scope()
    columns = [ScopeColumn(c.name, c.type_oid, c.typmod, relation.oid, i + 1)
               for i, c in enumerate(relation.columns)]
    columns.append(ScopeColumn("ctid", TID_OID, -1, relation.oid, -1, hidden=True))
    scope.add(alias, columns, relation, aliased, table_oid=relation.oid)
    return scope


def _returning(builder: PlanBuilder, node: Node, scope: Scope
               ) -> tuple[list[Expr], list[OutputColumn] | None]:
    clause = node.get("returningList") or (node.get("returningClause") or {}).get("exprs")
    if not clause:
        return [], None
    compiler = ExpressionCompiler(builder, scope)
    builder.clause = "RETURNING"
    targets = builder._expand_targets(clause, compiler, scope)
    builder.clause = None
    columns = [OutputColumn(t.name, t.expr.type_oid if t.expr.type_oid != UNKNOWN else 25,
                            t.expr.typmod) for t in targets]
    return [t.expr for t in targets], columns


def _plan_insert(builder: PlanBuilder, node: Node) -> DmlPlan:
    range_var = node["relation"]
    conflict = node.get("onConflictClause") or {}
    relation = _target_relation(builder, range_var, "INSERT",
                                [node.get("returningList"), node.get("returningClause"),
                                 conflict.get("whereClause"),
                                 [t["ResTarget"].get("val") for t in
                                  conflict.get("targetList", [])]])
    alias = range_var.get("alias", {}).get("aliasname", relation.name)
    targets = insert_target_columns(relation, node.get("cols"))
    plan = DmlPlan("INSERT", relation, None, target_columns=targets)
    if node.get("onConflictClause") is not None:
        plan.on_conflict = _plan_on_conflict(builder, node["onConflictClause"], relation, alias)
    plan.defaults = builder.session.column_defaults(relation, builder)
    plan.generated = generated.for_relation(builder, relation)
    plan.checks = constraints.checks_for(builder, relation)
    plan.partition = partitioning.partition_check(builder.session.txn, relation)
    plan.ri = foreign_keys.for_relation(builder.session, relation)
    plan.triggers = triggers.for_relation(builder.session, relation)
    select = node.get("selectStmt")
    if select is None:
        plan.values = [[None] * len(targets)]
    else:
        select_fields = select["SelectStmt"]
        values_lists = select_fields.get("valuesLists")
        if values_lists and not select_fields.get("sortClause") and \
                not select_fields.get("limitCount"):
            if not node.get("cols"):     # no column list: the first columns, as many as given
                plan.target_columns = targets[:_values_width(values_lists)]
            _plan_insert_values(builder, plan, relation, values_lists)
        else:
            query_builder = builder.child(None)
            query_builder.unknown_outputs = True     # an untyped literal takes the column's type
            query = query_builder.plan_query(select_fields)
            if len(query.columns) > len(targets):
                raise MirrordbError("INSERT has more expressions than target columns",
                                    sqlstate="42601")
            if len(query.columns) < len(targets):
                targets = targets[:len(query.columns)]
                plan.target_columns = targets
            exprs = []
            for i, (column, index) in enumerate(zip(query.columns, targets)):
                source = Expr(column.type_oid, _getter(i), column.typmod)
                exprs.append(_assignment(builder, source, relation, index,
                                         output_location(select_fields, i)))
            plan.source = ex.Project(query.node, exprs, width=len(exprs))
    if any(relation.columns[index].identity for index in plan.target_columns):
        _apply_identity_rules(plan, node.get("override"))
    refuse_generated_values(plan)
    scope = _relation_scope(relation, alias)
    plan.returning, plan.columns = _returning(builder, node, scope)
    return plan


def insert_target_columns(relation: Relation, cols: list[Node] | None) -> list[int]:
    """The column indexes an INSERT's column list names (every column without one)."""
    if not cols:
        return list(range(relation.natts))
    targets: list[int] = []
    for col in cols:
        target = col["ResTarget"]
        if target.get("indirection"):
            raise feature_not_supported("INSERT into subfields or array elements")
        try:
            index = relation.column_index(target["name"])
        except KeyError:
            raise error_at(f'column "{target["name"]}" of relation "{relation.name}" does '
                           "not exist", "42703", target.get("location", -1)) from None
        if index in targets:
            raise error_at(f'column "{target["name"]}" specified more than once', "42701",
                           target.get("location", -1))
        targets.append(index)
    return targets


def refuse_generated_values(plan: DmlPlan) -> None:
    """A value (not DEFAULT) for a generated column, in any row, is 428C9."""
    if plan.generated is None:
        return
    for position, index in enumerate(plan.target_columns):
        if plan.source is not None:
            given = plan.source.exprs[position] is not _DEFAULT_VALUE  # type: ignore[attr-defined]
        else:
            given = any(row[position] is not None for row in plan.values)
        if given:
            generated.refuse_insert(plan.relation, index)


def _apply_identity_rules(plan: DmlPlan, override: str | None) -> None:
    """Identity columns given a value (not DEFAULT): refused for GENERATED ALWAYS without
    OVERRIDING SYSTEM VALUE; replaced by the default under OVERRIDING USER VALUE."""
    source = plan.source
    for position, index in enumerate(plan.target_columns):
        if source is not None:
            given = source.exprs[position] is not _DEFAULT_VALUE  # type: ignore[attr-defined]
        else:
            given = any(row[position] is not None for row in plan.values)
        if given and identity.check_insert(plan.relation, index, override):
            if source is not None:
                source.exprs[position] = _DEFAULT_VALUE  # type: ignore[attr-defined]
            for row in plan.values or []:
                row[position] = None


def _values_width(values_lists: list[Node]) -> int:
    """How many items each VALUES row has; every row must have as many."""
    widths = {len(values["List"]["items"]) for values in values_lists}
    if len(widths) > 1:
        raise MirrordbError("VALUES lists must all be the same length", sqlstate="42601")
    return widths.pop()


def _getter(i: int) -> Any:
    return lambda row, ctx: row[i]


def _plan_insert_values(builder: PlanBuilder, plan: DmlPlan, relation: Relation,
                        values_lists: list[Node]) -> None:
    """INSERT ... VALUES. One row may call set-returning functions (PostgreSQL plans it as a
    select list): it then inserts a row per row of the functions, computed by a ProjectSet,
    a DEFAULT item giving the marker that has the column's default used. Several rows may
    not."""
    window.refuse(values_lists, "VALUES")
    compiler = ExpressionCompiler(builder, Scope())
    sets = srf.SetCalls()
    if len(values_lists) == 1:
        compiler.set_calls = sets
    else:
        builder.clause = "VALUES"
    rows = _insert_values(builder, relation, plan.target_columns, values_lists, compiler)
    builder.clause = None
    if not sets:
        plan.values = rows
        return
    exprs = [_DEFAULT_VALUE if expr is None else expr for expr in rows[0]]
    plan.source = ex.Project(srf.project_set(ex.Result(), sets), exprs, width=len(exprs))


def _insert_values(builder: PlanBuilder, relation: Relation, targets: list[int],
                   values_lists: list[Node], compiler: ExpressionCompiler
                   ) -> list[list[Expr | None]]:
    rows: list[list[Expr | None]] = []
    for values in values_lists:
        items = values["List"]["items"]
        if len(items) > len(targets):
            raise MirrordbError("INSERT has more expressions than target columns",
                                sqlstate="42601")
        if len(items) < len(targets):
            raise MirrordbError("INSERT has more target columns than expressions",
                                sqlstate="42601")
        row: list[Expr | None] = []
        for item, index in zip(items, targets):
            if "SetToDefault" in item:
                row.append(None)
                continue
            builder.aggregate_clause = "VALUES"
            try:
                expr = compiler.compile(item)
            finally:
                builder.aggregate_clause = None
            row.append(_assignment(builder, expr, relation, index, expression_location(item)))
        rows.append(row)
    return rows


def _assignment(builder: PlanBuilder, expr: Expr, relation: Relation, index: int,
                location: int = -1) -> Expr:
    """``expr`` cast for storing in column ``index``; ``location``: where the value starts in
    the statement, for the error when it cannot be."""
    column = relation.columns[index]

    def refused() -> MirrordbError:
        return error_at(
            f'column "{column.name}" is of type {T.format_type(column.type_oid, column.typmod)}'
            f" but expression is of type {T.format_type(expr.type_oid, expr.typmod)}",
            "42804", location, hint="You will need to rewrite or cast the expression.")
    # PostgreSQL stores a value only through an implicit or assignment cast (text into an
    # integer column needs an explicit one); untyped literals and parameters take the type
    if expr.type_oid != UNKNOWN and expr.param is None and \
            not T.can_coerce(expr.type_oid, column.type_oid, T.ASSIGNMENT):
        raise refused()
    try:
        return coerce(builder, expr, column.type_oid, column.typmod, "assignment")
    except MirrordbError as error:
        if error.sqlstate == "42846" and error.detail is not None:
            if error.position is None and location >= 0:   # a record of the wrong width
                error.position = location + 1
            raise
        if error.sqlstate == "42846" or "cannot cast" in error.message:
            raise refused() from None
        raise


def _plan_update_delete(builder: PlanBuilder, node_type: str, node: Node) -> DmlPlan:
    range_var = node["relation"]
    relation = _target_relation(builder, range_var,
                                "UPDATE" if node_type == "UpdateStmt" else "DELETE",
                                [node.get("whereClause"), node.get("returningList"),
                                 node.get("returningClause"),
                                 [t["ResTarget"].get("val") for t in node.get("targetList", [])]])
    alias = range_var.get("alias", {}).get("aliasname", relation.name)
    scope = _relation_scope(relation, alias, "alias" in range_var)
    txn = builder.session.txn
    scan: ex.PlanNode = (partitioning.scan(txn, relation, alias, scope.width)
                         if partitioning.is_partitioned(relation) else
                         inheritance.scan(txn, relation, alias, scope.width)
                         if range_var.get("inh") and inheritance.has_children(txn, relation) else
                         ex.SeqScan(relation, alias, width=scope.width))
    if relation.kind == RELKIND_VIEW:      # its INSTEAD OF triggers change the rows
        scan = triggers.ViewTargetRows(builder._plan_from_item(
            {"RangeVar": range_var}, None, ()).node, width=scope.width)
    item = _FromItem(scan, scope, relation, alias)
    where = node.get("whereClause")
    if where is not None and "CurrentOfExpr" in where:
        raise feature_not_supported("WHERE CURRENT OF")
    parts = conjuncts(where)
    others = node.get("fromClause") or node.get("usingClause")
    if others:
        # UPDATE ... FROM / DELETE ... USING: the target joined with the other items, target
        # first, so its columns and ctid keep their places at the start of each row; a target
        # row several rows join stays changed once (_run_update_delete skips a ctid seen)
        planned: list[_FromItem] = []
        for other in others:       # as a SELECT's FROM list: LATERAL sees the items before
            level = _lateral_level(planned, None)
            planned.append(builder._plan_from_item(other, level, (level,) if level else ()))
        items = [item] + planned
        builder.clause = "WHERE"
        source, scope, rest = builder._join_from_items(items, parts, None)
    else:
        builder.clause = "WHERE"
        rest = parts if relation.kind == RELKIND_VIEW else \
            builder._push_into_scan(item, parts, True)
        source = item.node
    compiler = ExpressionCompiler(builder, scope)
    if rest:
        extra = [coerce_to_bool(builder, compiler.compile(p), "WHERE", expression_location(p))
                 for p in rest]
        from mirrordb.sql.expressions import and_exprs
        source = ex.Filter(source, and_exprs(extra), width=scope.width)
    qual = None
    if parts:
        qual = _and_all(builder, compiler, parts)
    command = "UPDATE" if node_type == "UpdateStmt" else "DELETE"
    builder.clause = command
    plan = DmlPlan(command, relation, None, source=source, qual=qual)
    if command == "UPDATE":
        plan.assignments = _set_assignments(builder, relation, node["targetList"], compiler)
        plan.generated = generated.for_relation(builder, relation)
        plan.checks = constraints.checks_for(builder, relation)
        plan.partition = partitioning.partition_check(builder.session.txn, relation)
    plan.ri = foreign_keys.for_relation(builder.session, relation)
    plan.triggers = triggers.for_relation(builder.session, relation)
    builder.clause = None
    plan.returning, plan.columns = _returning(builder, node, scope)
    return plan


def _set_assignments(builder: PlanBuilder, relation: Relation, target_list: list[Node],
                     compiler: ExpressionCompiler) -> list[tuple[int, Expr]]:
    """UPDATE's (and DO UPDATE's) SET list: (column index, value assigned to it)."""
    assignments: list[tuple[int, Expr]] = []
    seen = set()
    field_stores: dict[int, list[Node]] = {}      # SET col.field = ... (composite_types.py)
    for target_node in target_list:
        target = target_node["ResTarget"]
        if target.get("indirection"):
            if not composite_types.is_field_store(target):
                raise feature_not_supported("UPDATE of subfields or array elements")
            index = composite_types.field_store_column(relation, target)
            field_stores.setdefault(index, []).append(target)
            continue
        name = target["name"]
        try:
            index = relation.column_index(name)
        except KeyError:
            raise error_at(f'column "{name}" of relation "{relation.name}" does not exist',
                           "42703", target.get("location", -1)) from None
        if index in seen:     # PostgreSQL's rewriter finds it, with no position
            raise MirrordbError(f'multiple assignments to same column "{name}"',
                                sqlstate="42601")
        seen.add(index)
        value = target["val"]
        if "SetToDefault" in value:
            defaults = builder.session.column_defaults(relation, builder)
            expr = defaults.get(index) or const(None, relation.columns[index].type_oid)
        elif "MultiAssignRef" in value:
            raise feature_not_supported("multiple-column UPDATE assignments")
        else:
            expr = _assignment(builder, compiler.compile(value), relation, index,
                               expression_location(value))
            identity.check_update(relation, index)
            generated.refuse_update(relation, index)
        assignments.append((index, expr))
    for index, targets in field_stores.items():
        if index in seen:
            raise MirrordbError(f'multiple assignments to same column '
                                f'"{relation.columns[index].name}"', sqlstate="42601")
        assignments.append((index, composite_types.field_store(builder, compiler, relation,
                                                               index, targets)))
    return assignments


def _plan_on_conflict(builder: PlanBuilder, clause: Node, relation: Relation, alias: str
                      ) -> OnConflict:
    """ON CONFLICT: its arbiter indexes (those its target names, every unique index when it
    names none), and for DO UPDATE the SET list and WHERE condition over the conflicting row
    (the table's name or alias) and the proposed one (EXCLUDED)."""
    update = clause.get("action") == "ONCONFLICT_UPDATE"
    infer = clause.get("infer")
    if update and infer is None:
        raise error_at("ON CONFLICT DO UPDATE requires inference specification or constraint "
                       "name", "42601", clause.get("location", -1),
                       hint="For example, ON CONFLICT (column_name).")
    table_scope = _relation_scope(relation, alias)
    arbiters = _arbiter_indexes(builder, infer, relation, table_scope)
    on_conflict = OnConflict(arbiters, update)
    if not update:
        return on_conflict
    roles.check_table_privilege(builder.session, relation, "UPDATE")
    scope = _relation_scope(relation, alias)
    scope.add("excluded", [ScopeColumn(c.name, c.type_oid, c.typmod, relation.oid, i + 1)
                           for i, c in enumerate(relation.columns)])
    compiler = ExpressionCompiler(builder, scope)
    builder.clause = "UPDATE"
    on_conflict.assignments = _set_assignments(builder, relation, clause["targetList"],
                                               compiler)
    where = clause.get("whereClause")
    if where is not None:
        builder.clause = "WHERE"
        on_conflict.qual = coerce_to_bool(builder, compiler.compile(where), "WHERE",
                                          expression_location(where))
    builder.clause = None
    return on_conflict


def _arbiter_indexes(builder: PlanBuilder, infer: Node | None, relation: Relation,
                     scope: Scope) -> list[IndexInfo]:
    """The unique indexes an ON CONFLICT target names (PostgreSQL's inference: every unique
    index whose key columns are exactly the columns listed; or the constraint named)."""
    unique = [info for info in relation.indexes if info.unique]
    if infer is None:
        return unique
    name = infer.get("conname")
    if name is not None:
        named = [info for info in unique if info.relation.name == name]
        if not named:
            raise MirrordbError(f'constraint "{name}" for table "{relation.name}" does not '
                                "exist", sqlstate="42704")
        return named
    roles.check_table_privilege(builder.session, relation, "SELECT")   # reads the columns
    compiler = ExpressionCompiler(builder, scope)
    resolve = index_expressions.table_resolver(relation)
    columns: set[int] = set()
    expressions: list[Any] = []
    for element in infer.get("indexElems", []):
        index_elem = element["IndexElem"]
        column_name = index_elem.get("name")
        expr_node = index_elem.get("expr")
        if column_name is None and "ColumnRef" in expr_node and \
                len(expr_node["ColumnRef"]["fields"]) == 1:      # ((k)): the column itself
            column_name = strings(expr_node["ColumnRef"]["fields"])[0]
            compiler.compile(expr_node)
        if column_name is None:           # an expression: matched against expression indexes
            compiler.compile(index_elem["expr"])
            expressions.append(index_expressions.normalized(index_elem["expr"], resolve))
            continue
        try:
            columns.add(relation.column_index(column_name))
        except KeyError:
            raise error_at(f'column "{column_name}" does not exist', "42703",
                           infer.get("location", -1)) from None
    where = infer.get("whereClause")
    if where is not None:
        builder.clause = "WHERE"
        coerce_to_bool(builder, compiler.compile(where), "WHERE", expression_location(where))
        builder.clause = None
    arbiters = [info for info in unique
                if index_expressions.arbiter_matches(info, columns, expressions, where, resolve)]
    if not arbiters:
        raise MirrordbError("there is no unique or exclusion constraint matching the ON "
                            "CONFLICT specification", sqlstate="42P10")
    return arbiters


def _and_all(builder: PlanBuilder, compiler: ExpressionCompiler, parts: list[Node]) -> Expr:
    from mirrordb.sql.expressions import and_exprs
    return and_exprs([coerce_to_bool(builder, compiler.compile(p), "WHERE",
                                     expression_location(p)) for p in parts])


__all__ = ["DmlPlan", "plan_dml", "one", "strings"]
