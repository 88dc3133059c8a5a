"""MERGE, as PostgreSQL 15 has it: planning and execution.

Who calls it: ``dml.plan_dml`` (from the session, sql/session.py) plans a MergeStmt here; the
session runs the plan like any DmlPlan (``run``; a read-only transaction refuses it first).

The plan is PostgreSQL's: the target table joined with the source (a table, subquery, VALUES,
function or WITH query), RIGHT JOIN when there are WHEN NOT MATCHED clauses so every source row
comes out, INNER otherwise. Each joined row has the target's columns, its ctid (NULL when no
target row matched), then the source's columns, the layout UPDATE ... FROM uses, so the actions
reuse sql/dml.py's paths: an UPDATE or DELETE action is a DmlPlan whose ``apply_change`` changes
the version at the ctid, an INSERT action a DmlPlan whose ``insert_one`` fills in defaults and
identity values, checks and inserts. The first WHEN clause of its kind whose condition holds
acts; a row no clause takes is left alone.

Rules (PostgreSQL's ExecMerge):
- all joined rows are collected before the first change, so a statement never sees its own
  changes; a target row a second source row reaches after an action changed it is 21000
  "MERGE command cannot affect row a second time";
- under READ COMMITTED a target row changed concurrently is followed to its newest version,
  the join condition tested again and the WHEN MATCHED clauses evaluated again from the first;
  a row deleted meanwhile, or no longer matching, goes through the WHEN NOT MATCHED clauses;
  under REPEATABLE READ and SERIALIZABLE it is 40001;
- foreign keys are checked, and their actions run, at the statement's end as for INSERT,
  UPDATE and DELETE; the command tag counts the rows inserted, updated and deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mirrordb.access.heapam import TmResult
from mirrordb.access.lmgr import LockMode
from mirrordb.access.relation import RELKIND_MATVIEW, RELKIND_SEQUENCE, RELKIND_TABLE, \
    RELKIND_VIEW, Relation
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import constraints, dml, foreign_keys, generated, persistence, roles
from mirrordb.sql import triggers
from mirrordb.sql import executor as ex
from mirrordb.sql.expressions import (ExecContext, Expr, ExpressionCompiler, Row, Scope,
                                      and_exprs, coerce_to_bool, conjuncts, error_at,
                                      expression_location, referenced_names)
from mirrordb.sql.parser import Node
from mirrordb.sql.planner import PlanBuilder, _FromItem, _resolves

# PostgreSQL's errdetail_relkind_not_supported for the relations MERGE refuses
_NOT_SUPPORTED_DETAIL = {RELKIND_VIEW: "This operation is not supported for views.",
                         RELKIND_MATVIEW: "This operation is not supported for materialized "
                                          "views.",
                         RELKIND_SEQUENCE: "This operation is not supported for sequences."}
_COMMANDS = {"CMD_UPDATE": "UPDATE", "CMD_DELETE": "DELETE", "CMD_INSERT": "INSERT",
             "CMD_NOTHING": "NOTHING"}


@dataclass
class MergeAction:
    """One WHEN clause: its condition (over the joined row for MATCHED, the source's columns
    for NOT MATCHED), and for UPDATE, DELETE and INSERT the DmlPlan doing it."""

    command: str
    condition: Expr | None
    plan: dml.DmlPlan | None = None


@dataclass
class MergePlan:
    relation: Relation
    source: ex.PlanNode           # joined rows: target columns, target ctid, source columns
    join_qual: Expr               # the ON condition over a joined row, for the re-check
    matched: list[MergeAction] = field(default_factory=list)
    not_matched: list[MergeAction] = field(default_factory=list)
    ri: foreign_keys.RelationRi | None = None
    triggers: triggers.RelationTriggers | None = None
    command: str = "MERGE"
    columns: None = None

    @property
    def ctid_index(self) -> int:
        return self.relation.natts

    def explain_node(self) -> ex.PlanNode:
        return dml._Labelled(f"Merge on {self.relation.name}", [self.source])

    @property
    def trigger_events(self) -> tuple[str, ...]:
        """The statement triggers MERGE fires: one event per kind of action it has."""
        commands = {a.plan.command for a in self.matched + self.not_matched
                    if a.plan is not None}
        return tuple(c for c in ("INSERT", "UPDATE", "DELETE") if c in commands)

    def run(self, ctx: ExecContext) -> tuple[list[Row], int]:
        count = 0
        triggers.statement_start(ctx, self.triggers, self.trigger_events)
        for row in list(self.source.rows(ctx)):
            done = None
            if row[self.ctid_index] is not None:
                done = self._merge_matched(ctx, row)
            if done is None:
                done = self._merge_not_matched(ctx, row)
            count += done
        if self.ri is not None:
            foreign_keys.end_of_statement(ctx)
        if self.triggers is not None:
            triggers.statement_end(ctx, self.triggers, self.trigger_events)
        return [], count

    def _merge_matched(self, ctx: ExecContext, row: Row) -> int | None:
        """The WHEN MATCHED clauses for a joined row: how many rows they changed (0 or 1), or
        None when the target row was deleted or stopped matching under a concurrent change
        (the row then goes through the WHEN NOT MATCHED clauses)."""
        txn, ctid_index = ctx.txn, self.ctid_index
        for _ in range(dml.MAX_RECHECKS):
            action = _first_action(self.matched, row, ctx)
            if action is None or action.plan is None:
                return 0
            result, _ = action.plan.apply_change(ctx, row)
            if result == TmResult.OK:
                return 1
            if result == TmResult.SELF_MODIFIED:
                raise MirrordbError("MERGE command cannot affect row a second time",
                                    sqlstate="21000",
                                    hint="Ensure that not more than one source row matches any "
                                         "one target row.")
            if result == TmResult.INVISIBLE:
                return 0
            dml.check_concurrent_change(txn, result)
            latest = txn.fetch_latest(self.relation, row[ctid_index])
            if latest is None:
                return None
            new_tid, values = latest
            row = (*values, new_tid) + row[ctid_index + 1:]
            if self.join_qual.fn(row, ctx) is not True:
                return None
        raise MirrordbError("too many concurrent updates of one row", sqlstate="40001")

    def _merge_not_matched(self, ctx: ExecContext, row: Row) -> int:
        source_row = row[self.ctid_index + 1:]
        action = _first_action(self.not_matched, source_row, ctx)
        if action is None or action.plan is None:
            return 0
        supplied = [(dml._DEFAULT if expr is None else expr.fn(source_row, ctx))
                    for expr in action.plan.values[0]]
        return 0 if action.plan.insert_one(ctx, supplied) is None else 1


def _first_action(actions: list[MergeAction], row: Row, ctx: ExecContext
                  ) -> MergeAction | None:
    for action in actions:
        if action.condition is None or action.condition.fn(row, ctx) is True:
            return action
    return None


def plan_merge(builder: PlanBuilder, node: Node) -> MergePlan:
    clauses = [clause["MergeWhenClause"] for clause in node["mergeWhenClauses"]]
    _check_reachable(clauses)
    with_clause = node.get("withClause")
    if with_clause:
        if with_clause.get("recursive"):
            raise MirrordbError("WITH RECURSIVE is not supported for MERGE statement",
                                sqlstate="42601")
        builder._define_ctes(with_clause)
    relation = _merge_target(builder, node["relation"])
    range_var = node["relation"]
    alias = range_var.get("alias", {}).get("aliasname", relation.name)
    scope = dml._relation_scope(relation, alias, "alias" in range_var)
    target = _FromItem(ex.SeqScan(relation, alias, width=scope.width), scope, relation, alias)
    source = builder._plan_from_item(node["sourceRelation"], None, ())
    if any(entry.alias == alias for entry in source.scope.entries):
        raise MirrordbError(f'name "{alias}" specified more than once', sqlstate="42712",
                            detail="The name is used both as MERGE target table and data "
                                   "source.")
    _check_privileges(builder, relation, clauses, node, target, source)
    join_type = "right" if any(not _is_matched(c) for c in clauses) else "inner"
    joined, join_qual = _join(builder, target, source, join_type, node["joinCondition"])
    plan = MergePlan(relation, joined, join_qual)
    plan.ri = foreign_keys.for_relation(builder.session, relation)
    plan.triggers = triggers.for_relation(builder.session, relation)
    joined_scope = target.scope.merged(source.scope)
    source_scope = _source_only_scope(target, source)
    for clause in clauses:
        if _is_matched(clause):
            plan.matched.append(_matched_action(builder, plan, clause, joined_scope))
        else:
            plan.not_matched.append(_insert_action(builder, plan, clause, source_scope))
    builder.clause = None
    return plan


def _is_matched(clause: Node) -> bool:
    return clause.get("matchKind", "MERGE_WHEN_MATCHED") == "MERGE_WHEN_MATCHED"


def _check_reachable(clauses: list[Node]) -> None:
    """A WHEN clause after one of its kind without a condition can never act (42601)."""
    terminal = {True: False, False: False}
    for clause in clauses:
        matched = _is_matched(clause)
        if terminal[matched]:
            raise MirrordbError("unreachable WHEN clause specified after unconditional WHEN "
                                "clause", sqlstate="42601")
        if clause.get("condition") is None:
            terminal[matched] = True


def _merge_target(builder: PlanBuilder, range_var: Node) -> Relation:
    """The target table, locked RowExclusive before its catalog entry is read; MERGE
    changes only plain tables."""
    name, schema = range_var["relname"], range_var.get("schemaname")
    relation = builder.session.lookup_relation(name, schema, LockMode.ROW_EXCLUSIVE)
    if relation is None:
        raise error_at(f'relation "{name if not schema else schema + "." + name}" does not '
                       "exist", "42P01", range_var.get("location", -1))
    if relation.kind != RELKIND_TABLE:
        raise MirrordbError(f'cannot execute MERGE on relation "{relation.name}"',
                            sqlstate="0A000", detail=_NOT_SUPPORTED_DETAIL.get(relation.kind))
    persistence.check_accessible(builder.session, relation)
    return relation


def _check_privileges(builder: PlanBuilder, relation: Relation, clauses: list[Node],
                      node: Node, target: _FromItem, source: _FromItem) -> None:
    """The target's privileges for its actions, and SELECT when any condition or value reads
    one of its columns (the source's SELECT was checked when it was planned)."""
    commands = {_COMMANDS[c["commandType"]] for c in clauses} - {"NOTHING"}
    for command in ("INSERT", "UPDATE", "DELETE"):
        if command in commands:
            roles.check_table_privilege(builder.session, relation, command)
    reads = [node["joinCondition"]] + [
        [c.get("condition"), c.get("values"),
         [t["ResTarget"].get("val") for t in c.get("targetList", [])
          if c["commandType"] == "CMD_UPDATE"]] for c in clauses]
    for names in referenced_names(reads):
        if _resolves(target.scope, names) and not (len(names) == 1 and
                                                   _resolves(source.scope, names)):
            roles.check_table_privilege(builder.session, relation, "SELECT")
            return


def _join(builder: PlanBuilder, target: _FromItem, source: _FromItem, join_type: str,
          condition: Node) -> tuple[ex.PlanNode, Expr]:
    """The target joined with the source on the ON condition (equalities between the two
    sides become hash keys), and the whole condition for the READ COMMITTED re-check."""
    target.scope.check_name_conflicts(source.scope)
    scope = target.scope.merged(source.scope)
    compiler = ExpressionCompiler(builder, scope)
    builder.clause = "JOIN conditions"
    left_keys, right_keys, residual, whole = [], [], [], []
    for part in conjuncts(condition):
        compiled = coerce_to_bool(builder, compiler.compile(part), "JOIN/ON",
                                  expression_location(part))
        whole.append(compiled)
        split = builder._equi_join_key(part, target.scope, source.scope)
        if split is not None:
            left_keys.append(split[0])
            right_keys.append(split[1])
        else:
            residual.append(compiled)
    builder.clause = None
    node = builder._join_nodes(target, source, join_type, left_keys, right_keys, residual)
    return node, and_exprs(whole)


def _source_only_scope(target: _FromItem, source: _FromItem) -> Scope:
    """The names a WHEN NOT MATCHED clause sees: the source's, over the source's part of the
    row; the target is there only to give PostgreSQL's error for a reference to it."""
    blocked = Scope()
    for entry in target.scope.entries:
        blocked.add(entry.alias, entry.columns, entry.relation, entry.aliased,
                    entry.table_oid, entry.schema)
    blocked.lateral_only = True
    return Scope(parent=blocked).merged(source.scope)


def _condition(builder: PlanBuilder, compiler: ExpressionCompiler, clause: Node
               ) -> Expr | None:
    condition = clause.get("condition")
    if condition is None:
        return None
    builder.clause = "MERGE WHEN conditions"
    return coerce_to_bool(builder, compiler.compile(condition), "WHEN",
                          expression_location(condition))


def _matched_action(builder: PlanBuilder, plan: MergePlan, clause: Node, scope: Scope
                    ) -> MergeAction:
    """WHEN MATCHED [AND condition] THEN UPDATE SET ... | DELETE | DO NOTHING."""
    compiler = ExpressionCompiler(builder, scope)
    command = _COMMANDS[clause["commandType"]]
    action = MergeAction(command, _condition(builder, compiler, clause))
    relation = plan.relation
    if command == "UPDATE":
        builder.clause = "UPDATE"
        action.plan = dml.DmlPlan("UPDATE", relation, None, ri=plan.ri,
                                  triggers=plan.triggers)
        action.plan.assignments = dml._set_assignments(builder, relation,
                                                       clause["targetList"], compiler)
        action.plan.generated = generated.for_relation(builder, relation)
        action.plan.checks = constraints.checks_for(builder, relation)
    elif command == "DELETE":
        action.plan = dml.DmlPlan("DELETE", relation, None, ri=plan.ri,
                                  triggers=plan.triggers)
    return action


def _insert_action(builder: PlanBuilder, plan: MergePlan, clause: Node, scope: Scope
                   ) -> MergeAction:
    """WHEN NOT MATCHED [AND condition] THEN INSERT [(columns)] VALUES (...) | DEFAULT VALUES
    | DO NOTHING: the values are the source's, as INSERT ... VALUES compiles them."""
    compiler = ExpressionCompiler(builder, scope)
    command = _COMMANDS[clause["commandType"]]
    action = MergeAction(command, _condition(builder, compiler, clause))
    if command != "INSERT":
        return action
    relation = plan.relation
    values = clause.get("values")
    targets = dml.insert_target_columns(relation, clause.get("targetList"))
    insert = dml.DmlPlan("INSERT", relation, None, ri=plan.ri, triggers=plan.triggers)
    if values is None:                 # DEFAULT VALUES
        insert.values = [[]]
    else:
        if not clause.get("targetList"):
            targets = targets[:len(values)] if len(values) <= len(targets) else targets
        builder.clause = None
        _check_value_count(clause, targets, values)
        insert.values = dml._insert_values(builder, relation, targets,
                                           [{"List": {"items": values}}], compiler)
        insert.target_columns = targets
        override = clause.get("override")
        if any(relation.columns[index].identity for index in targets):
            dml._apply_identity_rules(insert, None if override == "OVERRIDING_NOT_SET"
                                      else override)
    insert.defaults = builder.session.column_defaults(relation, builder)
    insert.generated = generated.for_relation(builder, relation)
    dml.refuse_generated_values(insert)
    insert.checks = constraints.checks_for(builder, relation)
    action.plan = insert
    return action


def _check_value_count(clause: Node, targets: list[int], values: list[Node]) -> None:
    """An INSERT action with more values than columns, or fewer: 42601 at the first one
    left over, as PostgreSQL places it."""
    if len(values) > len(targets):
        raise error_at("INSERT has more expressions than target columns", "42601",
                       expression_location(values[len(targets)]))
    if len(values) < len(targets):
        extra = clause["targetList"][len(values)]["ResTarget"]
        raise error_at("INSERT has more target columns than expressions", "42601",
                       extra.get("location", -1))
