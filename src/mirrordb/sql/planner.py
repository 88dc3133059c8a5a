"""The planner: parse trees of queries and DML to executor plans.

Who calls it: the session (sql/session.py), once per statement, or once per prepared statement
(the plan is then reused by every Bind/Execute). A ``PlanBuilder`` plans one query level; a
subquery gets a child builder whose scope's parent is the enclosing query's, which is how
correlated references find their columns.

The shape of a SELECT plan, bottom up (PostgreSQL's order of evaluation): FROM items joined left to
right (hash join on equality conditions, nested loop otherwise) with each WHERE condition placed at
the lowest node that has its columns — a table's own conditions inside its scan, where an index
whose leading column is compared with a constant or parameter turns the scan into an index scan —
then GROUP BY/aggregates/HAVING, window functions (a WindowAgg node, sql/window.py), the select
list's set-returning functions (ProjectSet nodes, sql/set_returning.py), the target list (plus hidden sort columns), ORDER BY
(a Sort, or a B-tree read in order, sql/ordered_scans.py, which also reads min/max), DISTINCT,
LIMIT/OFFSET, and FOR UPDATE/SHARE locking. Everything above the scans runs on the rows the scans
produce; nothing here touches storage.

LATERAL: a FROM item after others is planned below a scope level holding them (visible to a
LATERAL subquery and to functions, a level of rows only for other subqueries, whose references
to it are PostgreSQL's errors). An item that referenced that level or anything above it is
joined by a LateralNestLoop, which runs it again for every row of the items before it with that
row pushed on ``ExecContext.outer``; so a reference's depth always counts the pushed rows.
Scopes count the outer references compiled into them while planning (``outer_references``),
which is how an item, a subquery or a sublink is known to read rows from beyond its own level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mirrordb.access.heapam import LockWaitPolicy
from mirrordb.access.xact import LOCK_STRENGTH, RowLockMode
from mirrordb.access.relation import (RELKIND_INDEX, RELKIND_MATVIEW, RELKIND_SEQUENCE,
                                      RELKIND_VIEW, IndexInfo, Relation)
from mirrordb.common.errors import MirrordbError, UndefinedObject, invariant
from mirrordb.sql import aggregates as aggs
from mirrordb.sql import array_dimensions
from mirrordb.sql import executor as ex
from mirrordb.sql import functions as funcs
from mirrordb.sql import grouping_sets as gsets
from mirrordb.sql import composite_types, index_expressions
from mirrordb.sql import json_set_functions
from mirrordb.sql import operators as ops
from mirrordb.sql import ordered_scans
from mirrordb.sql import ordered_set_aggregates as osa
from mirrordb.sql import qual_pushdown
from mirrordb.sql import recursive as rec
from mirrordb.sql import row_locking
from mirrordb.sql import inheritance, partitioning, persistence, roles, schemas
from mirrordb.sql import row_values
from mirrordb.sql import user_functions
from mirrordb.sql import set_returning as srf
from mirrordb.sql import types as T
from mirrordb.sql import window
from mirrordb.sql.expressions import (BOOL, INT8, NAMED_ARGUMENT_FUNCTIONS, TEXT, TID_OID,
                                      UNKNOWN, ExecContext, Expr,
                                      ExpressionCompiler, Row, Scope, ScopeColumn, coerce,
                                      coerce_to_bool, conjuncts, const, contains_node, error_at,
                                      expression_location,
                                      feature_not_supported, leftmost_location,
                                      no_such_function, node_key, referenced_names,
                                      sort_direction)
from mirrordb.sql.parser import Node, one, strings

if TYPE_CHECKING:
    from mirrordb.sql.session import Session

INDEXABLE_OPERATORS = {"=": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
COMMUTED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
INTEGER_TYPES = (T.INT2_OID, T.INT4_OID, T.INT8_OID)
WAIT_POLICIES = {"LockWaitBlock": LockWaitPolicy.BLOCK, "LockWaitSkip": LockWaitPolicy.SKIP,
                 "LockWaitError": LockWaitPolicy.ERROR}     # FOR UPDATE [NOWAIT|SKIP LOCKED]
LOCK_STRENGTHS = {"LCS_FORKEYSHARE": RowLockMode.KEY_SHARE, "LCS_FORSHARE": RowLockMode.SHARE,
                  "LCS_FORNOKEYUPDATE": RowLockMode.NO_KEY_EXCLUSIVE,
                  "LCS_FORUPDATE": RowLockMode.EXCLUSIVE}


@dataclass(eq=False)
class OutputColumn:
    """A column of a statement's result, as RowDescription describes it."""

    name: str
    type_oid: int
    typmod: int = -1
    table_oid: int = 0
    attnum: int = 0
    fields: tuple[tuple[str, int], ...] | None = None   # a row column's, when known


@dataclass(eq=False)
class QueryPlan:
    """A planned SELECT (or DML with RETURNING): the node and its visible output columns."""

    node: ex.PlanNode
    columns: list[OutputColumn]


@dataclass(eq=False)
class ViewRecording:
    """How a CREATE VIEW query's names resolved, so the stored query can spell them out:
    each ``*`` of a select list as (range alias, column) pairs, and each column reference
    (by ``id`` of its parse node) as the alias of the range entry it found."""

    stars: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    columns: dict[int, str] = field(default_factory=dict)
    # each NATURAL JOIN (by ``id`` of its JoinExpr fields) as the USING list it meant
    natural_joins: dict[int, list[str]] = field(default_factory=dict)


@dataclass(eq=False)
class _FromItem:
    node: ex.PlanNode
    scope: Scope
    base: Relation | None = None       # a plain table scan that conditions can be pushed into
    alias: str = ""
    nullable: bool = False
    # reads the row of the FROM items before it: joined by a LateralNestLoop, run per row
    lateral: bool = False
    # a table's conditions pushed into its scan so far (``_push_into_scan``)
    scan_quals: list[tuple[Node, Expr]] = field(default_factory=list)
    # a JOIN item's sides, for conditions pushed into them later (sql/qual_pushdown.py)
    join: qual_pushdown.JoinShape | None = None


@dataclass(eq=False)
class _Target:
    expr: Expr
    name: str
    node: Node | None
    table_oid: int = 0
    attnum: int = 0


class PlanBuilder:
    """Plans one query level. ``param_types`` is shared with child builders (one $n space)."""

    def __init__(self, session: Session, param_types: list[int],
                 parent: PlanBuilder | None = None, parent_scope: Scope | None = None) -> None:
        self.session = session
        self.param_types = param_types
        self.parent = parent
        self.parent_scope = parent_scope
        self.correlated = False
        self.ctes: dict[str, Node] = {}     # WITH queries defined at this level
        self.recursive_clause = False             # ... by a WITH RECURSIVE
        # a set operation's side: an untyped literal in the select list stays "unknown" and
        # takes the type the set operation resolves (SELECT 1 UNION SELECT '2' is integer)
        self.unknown_outputs = False
        # where an aggregate would be refused, when ``clause`` does not say (INSERT's VALUES,
        # which allows set-returning functions)
        self.aggregate_clause: str | None = None
        self.recursive_ctes: set[str] = set()     # ... those that refer to themselves
        # the WITH queries of the parent's level this (a WITH query's body) may not see yet:
        # itself and later ones, in a WITH without RECURSIVE
        self.invisible_ctes: frozenset[str] = frozenset()
        # the working table a recursive WITH query's self-reference reads while its recursive
        # term is planned (sql/recursive.py)
        self.worktables: dict[str, tuple[rec.WorkTable, list[OutputColumn]]] = {}
        # The clause being compiled where set-returning functions are refused ("WHERE",
        # "HAVING"...: PostgreSQL's expression kind), which their error names; None elsewhere.
        self.clause: str | None = None
        # Whose privileges the relations read here are checked with: None for the session's
        # role; a view's owner inside the view's query (PostgreSQL's checkAsUser).
        self.privilege_role: str | None = parent.privilege_role if parent else None
        # False while CREATE VIEW analyzes its query: PostgreSQL checks a view's privileges
        # when it is used, not when it is made.
        self.check_privileges: bool = parent.check_privileges if parent else True
        # CREATE VIEW's record of how names resolved (sql/views.py); shared with children.
        self.view_recording: ViewRecording | None = parent.view_recording if parent else None
        # The views whose queries this one is planned inside (a view naming itself recurses).
        self.expanding_views: tuple[int, ...] = parent.expanding_views if parent else ()

    # -- parameters and types -------------------------------------------------------------------

    @property
    def timezone(self) -> str:
        return self.session.timezone

    def param_type(self, number: int) -> int:
        if number < 1:
            raise MirrordbError(f"there is no parameter ${number}", sqlstate="42P02")
        while len(self.param_types) < number:
            self.param_types.append(UNKNOWN)
        return self.param_types[number - 1] or UNKNOWN

    def set_param_type(self, number: int, type_oid: int) -> None:
        self.param_type(number)
        if self.param_types[number - 1] in (0, UNKNOWN):
            self.param_types[number - 1] = type_oid

    def resolve_type(self, type_name: Node) -> tuple[int, int]:
        names = strings(type_name.get("names"))
        typmods = []
        for mod in type_name.get("typmods", []):
            kind, fields = one(mod)
            if kind == "A_Const" and "ival" in fields:
                typmods.append(fields["ival"].get("ival", 0))
            elif kind == "A_Const" and "sval" in fields:
                typmods.append(fields["sval"].get("sval", ""))
            else:
                raise feature_not_supported("this type modifier")
        bounds = len(type_name.get("arrayBounds", []))
        try:
            return T.resolve_type_name(names, typmods, bounds)
        except MirrordbError as error:
            location = type_name.get("location", -1)
            if location >= 0 and getattr(error, "position", None) is None:
                error.position = location + 1  # type: ignore[attr-defined]
            raise

    def child(self, scope: Scope | None) -> PlanBuilder:
        return PlanBuilder(self.session, self.param_types, self, scope)

    def mark_correlated(self, depth: int) -> None:
        builder: PlanBuilder | None = self
        for _ in range(depth):
            if builder is None:
                break
            builder.correlated = True
            builder = builder.parent

    # -- relations ------------------------------------------------------------------------------

    def relation(self, range_var: Node) -> Relation:
        name = range_var["relname"]
        schema = range_var.get("schemaname")
        relation = self.session.lookup_relation(name, schema)
        if relation is None:
            hidden = not schema and self._cte_not_visible_yet(name)
            raise error_at(f'relation "{name if not schema else schema + "." + name}" '
                           "does not exist", "42P01", range_var.get("location", -1),
                           **({"detail": f'There is a WITH item named "{name}", but it cannot '
                                         "be referenced from this part of the query.",
                               "hint": "Use WITH RECURSIVE, or re-order the WITH items to "
                                       "remove forward references."} if hidden else {}))
        return relation

    # -- SELECT ---------------------------------------------------------------------------------

    def plan_query(self, node: Node) -> QueryPlan:
        """Plan a SelectStmt node's fields (or a VALUES list)."""
        with_clause = node.get("withClause")
        if with_clause:
            self._define_ctes(with_clause)
        op = node.get("op", "SETOP_NONE")
        if op != "SETOP_NONE":
            return self._plan_set_operation(node, op)
        if node.get("valuesLists"):
            plan = self._plan_values(node["valuesLists"])
            return self._finish_simple(node, plan)
        return self._plan_select(node)

    def _plan_select(self, node: Node) -> QueryPlan:
        scope_parent = self.parent_scope
        where_parts = conjuncts(node.get("whereClause"))
        items: list[_FromItem] = []
        outer_references = _references_through(scope_parent)
        for item in node.get("fromClause", []):
            level = _lateral_level(items, scope_parent)
            items.append(self._plan_from_item(item, level or scope_parent,
                                              (level,) if level else ()))
        if _references_through(scope_parent) != outer_references:
            self.correlated = True    # an item read the enclosing query's row
        self.clause = "WHERE"
        source, scope, leftover = self._join_from_items(items, where_parts, scope_parent)
        compiler = ExpressionCompiler(self, scope)
        if leftover:
            for part in leftover:
                call = _aggregate_call(part) if contains_node(part, "FuncCall") else None
                if call is not None:
                    raise error_at("aggregate functions are not allowed in WHERE", "42803",
                                   call.get("location", -1))
            quals = [coerce_to_bool(self, compiler.compile(p), "WHERE", expression_location(p))
                     for p in leftover]
            source = ex.Filter(source, _and(quals), width=scope.width)
        self.clause = None
        targets_nodes = node.get("targetList", [])
        grouped = bool(node.get("groupClause")) or bool(node.get("havingClause")) or \
            self._has_aggregate(targets_nodes) or self._has_aggregate(node.get("sortClause")) \
            or bool(gsets.calls_in([targets_nodes, node.get("sortClause")]))
        windows = window.WindowCalls(node.get("windowClause", []))
        single = items[0] if len(items) == 1 else None
        if grouped:
            source, compiler, targets = self._plan_grouping(node, source, scope, targets_nodes,
                                                            windows)
            source = ordered_scans.min_max_result(self, node, single, source) or source
            single = None
        else:
            compiler.set_calls = srf.SetCalls()
            compiler.windows = windows
            targets = self._expand_targets(targets_nodes, compiler, scope)
        return self._finish(node, source, compiler, targets, scope, single)

    def _finish(self, node: Node, source: ex.PlanNode, compiler: ExpressionCompiler,
                targets: list[_Target], scope: Scope, item: _FromItem | None = None
                ) -> QueryPlan:
        """ORDER BY, DISTINCT, LIMIT and locking above ``source``. The select list's
        set-returning calls (``compiler.set_calls``) run just below the projection, or, with
        DISTINCT ON and an ORDER BY that does not sort on their values, after DISTINCT ON, as
        in PostgreSQL. ORDER BY over ``item``, the one table read, may be given by an index
        (sql/ordered_scans.py) instead of a Sort."""
        sort_nodes = node.get("sortClause", [])
        sort_keys, hidden = self._sort_keys(sort_nodes, targets, compiler)
        ordered = None
        if item is not None and sort_keys and node.get("distinctClause") is None and \
                not compiler.windows and not compiler.set_calls:
            ordered = self._ordered_source(node, item, source, sort_keys, sort_nodes, targets,
                                           hidden)
            source = ordered or source
        distinct = node.get("distinctClause")
        distinct_on = distinct is not None and distinct and distinct != [{}] and any(distinct)
        if distinct_on:   # before ``exprs``: may add hidden expressions
            key_positions = self._distinct_on_positions(distinct, sort_nodes, sort_keys, targets,
                                                        hidden, compiler)
        windows = compiler.windows
        if isinstance(windows, window.WindowCalls):   # after every expression that may call one
            source = windows.plan(self, compiler, source, node)
        exprs = [t.expr for t in targets] + hidden
        sets = compiler.set_calls if isinstance(compiler.set_calls, srf.SetCalls) else None
        deferred_lock: ex.LockRows | None = None
        if node.get("lockingClause"):
            strength = node["lockingClause"][0]["LockingClause"].get("strength", "")
            if sets:
                raise srf.refuse_with_locking(strength)
            if windows:
                raise window.refuse_with_locking(strength)
            lock = self._plan_locking(node["lockingClause"], source, scope,
                                      node.get("whereClause"))
            if sort_keys and distinct is None and ordered is None:   # after the sort
                deferred_lock = lock      # (an index's order: locked lazily as it is read)
            else:
                source = lock
        after_distinct = bool(distinct_on and sort_keys and sets) and \
            not _sorts_on_sets(sort_nodes, sort_keys, targets)
        if after_distinct:
            keys = {*key_positions, *(key[0] for key in sort_keys)}
            plan = srf.carry_input(source, exprs, keys)
        elif deferred_lock is not None:
            plan = row_locking.carry_input(source, exprs)
        else:
            plan = ex.Project(srf.project_set(source, sets), exprs, width=len(exprs))
        if distinct_on:
            if sort_keys:
                plan = self._sort(plan, sort_keys)
            plan = _DistinctOn(plan, key_positions, width=len(exprs))
            if after_distinct:
                plan = ex.Project(srf.project_set(srf.carried_input(plan), sets), exprs,
                                  width=len(exprs))
        elif distinct is not None:
            if hidden:
                raise MirrordbError("for SELECT DISTINCT, ORDER BY expressions must appear in "
                                    "select list", sqlstate="42P10")
            plan = ex.Unique(plan, width=len(exprs))
            if sort_keys:
                plan = self._sort(plan, sort_keys)
        elif sort_keys and ordered is None:
            plan = self._sort(plan, sort_keys)
            if deferred_lock is not None:
                plan = row_locking.lock_sorted(plan, deferred_lock, exprs)
        plan = self._limit(node, plan)
        if hidden:
            width = len(targets)
            plan = ex.Project(plan, [_column(i, t.expr.type_oid) for i, t in enumerate(targets)],
                              width=width)
        columns = [OutputColumn(t.name, t.expr.type_oid if t.expr.type_oid != UNKNOWN or
                                self.unknown_outputs else TEXT,
                                t.expr.typmod, t.table_oid, t.attnum, t.expr.fields)
                   for t in targets]
        return QueryPlan(plan, columns)

    def _finish_simple(self, node: Node, plan: QueryPlan) -> QueryPlan:
        """ORDER BY / LIMIT over a VALUES list or set operation's output columns."""
        scope = Scope(parent=self.parent_scope)
        scope.add("*SELECT*", [ScopeColumn(c.name, c.type_oid, c.typmod) for c in plan.columns])
        compiler = ExpressionCompiler(self, scope)
        targets = [_Target(_column(i, c.type_oid, c.name), c.name, None)
                   for i, c in enumerate(plan.columns)]
        sort_keys, hidden = self._sort_keys(node.get("sortClause", []), targets, compiler)
        if hidden:
            raise MirrordbError("invalid UNION/INTERSECT/EXCEPT ORDER BY clause",
                                sqlstate="0A000",
                                detail="Only result column names can be used, not expressions "
                                       "or functions.")
        result = plan.node
        if sort_keys:
            result = self._sort(result, sort_keys)
        result = self._limit(node, result)
        return QueryPlan(result, plan.columns)

    def _plan_values(self, values_lists: list[Node]) -> QueryPlan:
        compiler = ExpressionCompiler(self, Scope(parent=self.parent_scope))
        outer, self.clause = self.clause, "VALUES"
        rows = [[compiler.compile(n) for n in one(v)[1]["items"]] for v in values_lists]
        self.clause = outer
        width = len(rows[0])
        if any(len(r) != width for r in rows):
            raise MirrordbError("VALUES lists must all be the same length", sqlstate="42601")
        types = [T.common_type([r[i].type_oid for r in rows], "VALUES") for i in range(width)]
        rows = [[coerce(self, e, types[i]) for i, e in enumerate(r)] for r in rows]
        columns = [OutputColumn(f"column{i + 1}", t if t != UNKNOWN else TEXT)
                   for i, t in enumerate(types)]
        return QueryPlan(ex.ValuesScan(rows, width=width), columns)

    def _plan_set_operation(self, node: Node, op: str) -> QueryPlan:
        left = self.child(self.parent_scope)
        right = self.child(self.parent_scope)
        left.unknown_outputs = right.unknown_outputs = True
        left_plan = left.plan_query(node["larg"].get("SelectStmt", node["larg"]))
        right_plan = right.plan_query(node["rarg"].get("SelectStmt", node["rarg"]))
        self.correlated = self.correlated or left.correlated or right.correlated
        name = {"SETOP_UNION": "union", "SETOP_INTERSECT": "intersect",
                "SETOP_EXCEPT": "except"}[op]
        types = _set_operation_types(name.upper(), left_plan.columns, right_plan.columns,
                                     node["rarg"].get("SelectStmt", node["rarg"]))
        left_node = self._convert_columns(left_plan, types)
        right_node = self._convert_columns(right_plan, types)
        columns = [OutputColumn(c.name, t) for c, t in zip(left_plan.columns, types)]
        plan = ex.SetOperation(name, bool(node.get("all")), left_node, right_node,
                               width=len(types))
        return self._finish_simple(node, QueryPlan(plan, columns))

    def _convert_columns(self, plan: QueryPlan, types: list[int]) -> ex.PlanNode:
        if all(c.type_oid == t for c, t in zip(plan.columns, types)):
            return plan.node
        exprs = [coerce(self, _column(i, c.type_oid), t) for i, (c, t) in
                 enumerate(zip(plan.columns, types))]
        return ex.Project(plan.node, exprs, width=len(exprs))

    # -- FROM -----------------------------------------------------------------------------------

    def _plan_from_item(self, item: Node, chain: Scope | None,
                        levels: tuple[Scope, ...]) -> _FromItem:
        """One FROM item. ``levels``: the scope levels of the FROM items before it (of its
        FROM list, and a join's left side for its right side), innermost first, ``chain``
        their innermost (else the enclosing query's scope). A subquery or function is planned
        below them, seeing them only while it is planned if it is LATERAL (functions always
        are); it comes back ``lateral`` if it referenced them or anything above them: its
        plan then runs per row of the items before it, the row pushed where its references
        look (a LateralNestLoop), which keeps every reference's depth right."""
        kind, fields = one(item)
        if kind == "RangeVar":
            return self._plan_range_var(fields, chain)
        if kind not in ("RangeSubselect", "RangeFunction", "JoinExpr"):
            raise feature_not_supported(f"FROM item {kind}")
        visible = kind == "RangeFunction" or bool(fields.get("lateral"))
        references = _references_through(chain)
        for level in levels:
            level.lateral_only = not visible
        try:
            if kind == "RangeSubselect":
                planned = self._plan_subquery_item(fields, chain)
            elif kind == "RangeFunction":
                planned = self._plan_range_function(fields, chain)
            else:
                planned = self._plan_join_expr(fields, chain, levels)
        finally:
            for level in levels:
                level.lateral_only = True
        planned.lateral = bool(levels) and _references_through(chain) != references
        return planned

    def _plan_subquery_item(self, fields: Node, chain: Scope | None) -> _FromItem:
        """A subquery in FROM, its names resolved through ``chain`` (the earlier FROM items'
        levels, if any, then the enclosing queries)."""
        child = self.child(chain)
        plan = child.plan_query(fields["subquery"]["SelectStmt"])
        alias = fields.get("alias", {}).get("aliasname")
        if alias is None:
            raise MirrordbError("subquery in FROM must have an alias", sqlstate="42601")
        names = _alias_columns(fields.get("alias", {}), [c.name for c in plan.columns])
        scope = Scope(parent=chain)
        scope.add(alias, [ScopeColumn(n, c.type_oid, c.typmod, fields=c.fields)
                          for n, c in zip(names, plan.columns)])
        return _FromItem(plan.node, scope, alias=alias)

    def _define_ctes(self, with_clause: Node) -> None:
        ctes = []
        for cte_node in with_clause["ctes"]:
            cte = cte_node["CommonTableExpr"]
            if "SelectStmt" not in cte["ctequery"]:
                raise feature_not_supported("data-modifying statements in WITH")
            if cte["ctename"] in self.ctes:
                raise error_at(f'WITH query name "{cte["ctename"]}" specified more than once',
                               "42712", cte.get("location", -1))
            self.ctes[cte["ctename"]] = cte
            ctes.append(cte)
        if with_clause.get("recursive"):
            self.recursive_clause = True
            self.recursive_ctes = rec.check_clause(ctes)

    def _hidden_ctes(self, name: str) -> frozenset[str]:
        """What the body of this level's WITH query ``name`` may not refer to: in a WITH
        without RECURSIVE, itself and the items after it (PostgreSQL's scope of WITH names)."""
        if self.recursive_clause:
            return frozenset()
        names = list(self.ctes)
        return frozenset(names[names.index(name):])

    def _find_cte(self, name: str) -> tuple[Node, PlanBuilder] | None:
        builder: PlanBuilder | None = self
        hidden: frozenset[str] = frozenset()
        while builder is not None:
            if name in builder.ctes and name not in hidden:
                return builder.ctes[name], builder
            hidden = builder.invisible_ctes     # applies to the level above only
            builder = builder.parent
        return None

    def _cte_not_visible_yet(self, name: str) -> bool:
        """Whether ``name`` is a WITH query of an enclosing level that this part of the query
        may not see (a forward reference in a WITH without RECURSIVE)."""
        builder: PlanBuilder | None = self
        while builder is not None and builder.parent is not None:
            if name in builder.invisible_ctes and name in builder.parent.ctes:
                return True
            builder = builder.parent
        return False

    def _plan_cte(self, fields: Node, cte: Node, definer: PlanBuilder,
                  scope_parent: Scope | None) -> _FromItem:
        """A reference to a WITH query: planned where it was defined, as a subquery (PostgreSQL
        inlines a non-recursive WITH query the same way unless told to materialize it); a
        recursive one as a RecursiveUnion, and its self-reference as the scan of the working
        table."""
        name = fields["relname"]
        if name in definer.worktables:
            table, columns = definer.worktables[name]
            plan = QueryPlan(rec.WorkTableScan(table, name, width=len(columns)), columns)
        elif name in definer.recursive_ctes:
            plan = definer._plan_recursive_cte(cte)
        else:
            child = definer.child(None)
            child.invisible_ctes = definer._hidden_ctes(name)
            plan = child.plan_query(cte["ctequery"]["SelectStmt"])
        alias = fields.get("alias", {}).get("aliasname", name)
        names = strings(cte.get("aliascolnames"))
        names = names + [c.name for c in plan.columns][len(names):]
        names = _alias_columns(fields.get("alias", {}), names)
        scope = Scope(parent=scope_parent)
        scope.add(alias, [ScopeColumn(n, c.type_oid, c.typmod) for n, c in zip(names, plan.columns)])
        return _FromItem(plan.node, scope, alias=alias)

    def _plan_recursive_cte(self, cte: Node) -> QueryPlan:
        """``non-recursive-term UNION [ALL] recursive-term`` of a WITH query defined at this
        level (its form was checked by ``rec.check_clause``)."""
        name = cte["ctename"]
        query = cte["ctequery"]["SelectStmt"]
        body = self.child(None)
        if query.get("withClause"):
            body._define_ctes(query["withClause"])
        left = body.child(None)
        left_plan = left.plan_query(query["larg"].get("SelectStmt", query["larg"]))
        aliases = strings(cte.get("aliascolnames"))
        if len(aliases) > len(left_plan.columns):
            raise rec.column_count_error(name, len(left_plan.columns), len(aliases),
                                         cte.get("location", -1))
        names = aliases + [c.name for c in left_plan.columns][len(aliases):]
        columns = [OutputColumn(n, TEXT, -1) if c.type_oid == UNKNOWN else
                   OutputColumn(n, c.type_oid, c.typmod)
                   for n, c in zip(names, left_plan.columns)]
        left_node = self._convert_columns(left_plan, [c.type_oid for c in columns])
        for select in rec.levels_reading(query["rarg"], name):
            call = _aggregate_call([select.get(key) for key in
                                    ("targetList", "havingClause", "sortClause")])
            if call is not None:
                raise error_at("aggregate functions are not allowed in a recursive query's "
                               "recursive term", rec.INVALID_RECURSION, call.get("location", -1))
        table = rec.WorkTable()
        self.worktables[name] = (table, columns)
        try:
            right = body.child(None)
            right.unknown_outputs = True
            right_plan = right.plan_query(query["rarg"].get("SelectStmt", query["rarg"]))
        finally:
            del self.worktables[name]
        right_select = query["rarg"].get("SelectStmt", query["rarg"])
        types = _set_operation_types("UNION", columns, right_plan.columns, right_select)
        for number, (mine, theirs, overall) in enumerate(zip(columns, right_plan.columns, types),
                                                         1):
            typmod = mine.typmod if mine.typmod == theirs.typmod else -1
            if (overall, typmod) != (mine.type_oid, mine.typmod):
                raise error_at(
                    f'recursive query "{name}" column {number} has type '
                    f"{T.format_type(mine.type_oid, mine.typmod)} in non-recursive term but "
                    f"type {T.format_type(overall, typmod)} overall", "42804",
                    output_location(query["larg"], number - 1),
                    hint="Cast the output of the non-recursive term to the correct type.")
        right_node = self._convert_columns(right_plan, [c.type_oid for c in columns])
        node = rec.RecursiveUnion(bool(query.get("all")), left_node, right_node, table,
                                  width=len(columns))
        return QueryPlan(node, columns)

    def _plan_range_var(self, fields: Node, scope_parent: Scope | None) -> _FromItem:
        name = fields["relname"]
        if not fields.get("schemaname"):
            found = self._find_cte(name)
            if found is not None:
                return self._plan_cte(fields, found[0], found[1], scope_parent)
        alias = fields.get("alias", {}).get("aliasname", name)
        view = self.session.system_view(name, fields.get("schemaname"))
        scope = Scope(parent=scope_parent)
        if view is not None:
            columns, produce = view
            names = _alias_columns(fields.get("alias", {}), [c.name for c in columns])
            scope.add(alias, [ScopeColumn(n, c.type_oid, c.typmod)
                              for n, c in zip(names, columns)],
                      table_oid=self.session.system_catalog_oid(name, fields.get("schemaname")))
            return _FromItem(ex.MaterializedRows(name, produce, width=len(columns)), scope,
                             alias=alias)
        relation = self.relation(fields)
        if relation.kind == RELKIND_INDEX:
            raise MirrordbError(f'"{name}" is an index', sqlstate="42809")
        if relation.kind == "c":          # a composite type's relation (composite_types.py)
            raise error_at(f'"{name}" is a composite type', "42809", fields.get("location", -1))
        persistence.check_accessible(self.session, relation)
        if self.check_privileges:
            roles.check_table_privilege(self.session, relation, "SELECT", self.privilege_role)
        if relation.kind == RELKIND_SEQUENCE:
            return self._plan_sequence_scan(relation, alias, fields, scope)
        if relation.kind == RELKIND_VIEW:
            return self._plan_view(relation, alias, fields, scope)
        if relation.kind == RELKIND_MATVIEW:
            from mirrordb.sql import create_table_as
            create_table_as.check_populated(self.session.txn, relation)
        names = _alias_columns(fields.get("alias", {}), [c.name for c in relation.columns])
        columns = [ScopeColumn(n, c.type_oid, c.typmod, relation.oid, i + 1)
                   for i, (n, c) in enumerate(zip(names, relation.columns))]
        columns.append(ScopeColumn("ctid", TID_OID, -1, relation.oid, -1, hidden=True))
        scope.add(alias, columns, relation, aliased="alias" in fields, table_oid=relation.oid,
                  schema=schemas.namespace_name(self.session, relation.namespace_oid))
        if relation.kind == partitioning.RELKIND_PARTITIONED_TABLE:
            return _FromItem(partitioning.scan(self.session.txn, relation, alias, len(columns),
                                               only=not fields.get("inh")),
                             scope, relation, alias)
        if fields.get("inh") and inheritance.has_children(self.session.txn, relation):
            return _FromItem(inheritance.scan(self.session.txn, relation, alias, len(columns)),
                             scope, relation, alias)
        return _FromItem(ex.SeqScan(relation, alias, width=len(columns)), scope, relation,
                         alias)

    def _plan_view(self, view: Relation, alias: str, fields: Node, scope: Scope) -> _FromItem:
        """A view in FROM: its stored query planned as a subquery of its own (no outer
        columns, no outer WITH queries), with its owner's privileges (sql/views.py)."""
        from mirrordb.sql import views
        plan = views.plan_view_query(self, view)
        names = _alias_columns(fields.get("alias", {}), [c.name for c in view.columns])
        entry = scope.add(alias, [ScopeColumn(n, c.type_oid, c.typmod, view.oid, i + 1)
                                  for i, (n, c) in enumerate(zip(names, view.columns))])
        entry.row_type_oid = row_values.row_type_oid(view)
        return _FromItem(plan.node, scope, alias=alias)

    def _plan_sequence_scan(self, relation: Relation, alias: str, fields: Node,
                            scope: Scope) -> _FromItem:
        """SELECT * FROM a sequence: one row (last_value, log_cnt, is_called), as PostgreSQL
        shows it; the value comes from the sequence manager, which knows what it handed out."""
        names = _alias_columns(fields.get("alias", {}), ["last_value", "log_cnt", "is_called"])
        types = (T.INT8_OID, T.INT8_OID, T.BOOL_OID)
        scope.add(alias, [ScopeColumn(n, t, -1, relation.oid, i + 1)
                          for i, (n, t) in enumerate(zip(names, types))], table_oid=relation.oid)

        def produce(ctx: ExecContext) -> list[Row]:
            engine = ctx.session.engine
            params = engine.relcache.sequence_params(relation, ctx.txn.transaction)
            last_value, is_called = engine.sequences.last_value(relation.rnode, params)
            return [(last_value, 0, is_called)]
        return _FromItem(ex.MaterializedRows(relation.name, produce, width=3), scope,
                         alias=alias)

    def _plan_range_function(self, fields: Node, chain: Scope | None) -> _FromItem:
        """A function in FROM; its arguments may name the earlier FROM items (``chain``),
        as PostgreSQL's functions in FROM are always LATERAL. WITH ORDINALITY adds a bigint
        column numbering its rows from 1."""
        if len(fields["functions"]) != 1:
            raise feature_not_supported("this function call in FROM")
        call = fields["functions"][0]["List"]["items"][0]
        if "FuncCall" not in call:
            raise feature_not_supported("this function call in FROM")
        name = strings(call["FuncCall"]["funcname"])[-1]
        srf.refuse_in_from_arguments(call["FuncCall"].get("args", []))
        window.refuse(call["FuncCall"].get("args", []), "functions in FROM")
        # a builder of its own, so references to the earlier items mark it, not this level
        compiler = ExpressionCompiler(self.child(chain), Scope(parent=chain))
        args = [compiler.compile(a) for a in call["FuncCall"].get("args", [])]
        alias_node = fields.get("alias", {})
        alias = alias_node.get("aliasname", name)
        user = user_functions.rows_in_from(self, strings(call["FuncCall"]["funcname"]), args,
                                           call["FuncCall"].get("location", -1)) \
            if user_functions.has_routine(self.session, name) else None
        record = user if user is not None else self.session.record_function(self, name, args) \
            if name not in json_set_functions.RECORD_FUNCTIONS else \
            json_set_functions.record_rows_in_from(
                self, name, args, self._column_definitions(fields.get("coldeflist")),
                call["FuncCall"].get("location", -1))
        if record is not None and fields.get("ordinality") and name not in srf.ORDINALITY_NAMES \
                and user is None:
            raise feature_not_supported("this function call in FROM")
        if record is not None:   # one record: its OUT parameters are the columns
            produce_rows, columns = record
        else:
            produce_rows, type_oid = srf.function_in_from(self, name, args,
                                                          call["FuncCall"].get("location", -1))
            columns = [(alias_node.get("aliasname", name) if alias_node else name, type_oid)]
        if fields.get("ordinality"):
            produce_rows = _numbered(produce_rows)
            columns = [*columns, ("ordinality", T.INT8_OID)]
        names = _alias_columns(alias_node, [column for column, _ in columns])
        scope = Scope(parent=chain)
        scope.add(alias, [ScopeColumn(column_name, type_oid)
                          for column_name, (_, type_oid) in zip(names, columns)])
        return _FromItem(ex.FunctionScan(name, produce_rows, width=len(columns)), scope,
                         alias=alias)

    def _column_definitions(self, definitions: list[Node] | None
                            ) -> list[tuple[str, int, int]] | None:
        """A function's column definition list (``AS x(a int, b text)``): (name, type,
        typmod) of each column."""
        if not definitions:
            return None
        columns = []
        for definition in definitions:
            column = definition["ColumnDef"]
            type_oid, typmod = self.resolve_type(column["typeName"])
            columns.append((column["colname"], type_oid, typmod))
        return columns

    def _plan_join_expr(self, fields: Node, scope_parent: Scope | None,
                        levels: tuple[Scope, ...]) -> _FromItem:
        """``left JOIN right`` below ``scope_parent`` (the earlier FROM items' ``levels``,
        which LATERAL items on either side may read, then the enclosing queries); in an inner
        or left join a LATERAL right side may read the left side's row too."""
        join_type = {"JOIN_INNER": "inner", "JOIN_LEFT": "left", "JOIN_RIGHT": "right",
                     "JOIN_FULL": "full"}.get(fields.get("jointype", "JOIN_INNER"))
        if join_type is None:
            raise feature_not_supported(f"join type {fields.get('jointype')}")
        left = self._plan_from_item(fields["larg"], scope_parent, levels)
        if join_type in ("right", "full"):
            self._refuse_lateral_reference(fields["rarg"], left, scope_parent, levels)
            right = self._plan_from_item(fields["rarg"], scope_parent, levels)
            right.lateral = False     # what it reads is the earlier items', pushed above
        else:
            level = _lateral_level([left], scope_parent)
            assert level is not None
            right = self._plan_from_item(fields["rarg"], level, (level, *levels))
            right.scope.parent = scope_parent
        left.scope.check_name_conflicts(right.scope)
        scope = left.scope.merged(right.scope)
        scope.parent = scope_parent
        outer, self.clause = self.clause, "JOIN conditions"
        quals = qual_pushdown.push_join_quals(self, left, right, join_type,
                                              conjuncts(fields.get("quals")))
        using = [s["String"]["sval"] for s in fields.get("usingClause", [])]
        if fields.get("isNatural"):
            right_names = {c.name for c in right.scope.all_columns()
                           if not c.hidden and not c.merged}
            using = [c.name for c in left.scope.all_columns()
                     if not c.hidden and not c.merged and c.name in right_names]
            if self.view_recording is not None:
                self.view_recording.natural_joins[id(fields)] = using
        for name in using:
            for side, side_scope in (("left", left.scope), ("right", right.scope)):
                if side_scope.find([name], -1) is None:
                    raise MirrordbError(f'column "{name}" specified in USING clause does not '
                                        f"exist in {side} table", sqlstate="42703")
        compiler = ExpressionCompiler(self, scope)
        left_keys, right_keys, residual = [], [], []
        for name in using:
            lexpr = ExpressionCompiler(self, left.scope).compile(_colref([name]))
            rexpr = ExpressionCompiler(self, right.scope).compile(_colref([name]))
            T.common_type([lexpr.type_oid, rexpr.type_oid], "JOIN/USING")   # or 42804
            resolved = ops.resolve_operator("=", lexpr.type_oid, rexpr.type_oid)
            left_keys.append(coerce(self, lexpr, resolved.left_type))
            right_keys.append(coerce(self, rexpr, resolved.right_type))
        for part in quals:
            split = self._equi_join_key(part, left.scope, right.scope)
            if split is not None:
                left_keys.append(split[0])
                right_keys.append(split[1])
            else:
                residual.append(coerce_to_bool(self, compiler.compile(part), "JOIN/ON"))
        self.clause = outer

        def build() -> ex.PlanNode:
            joined = self._join_nodes(left, right, join_type, left_keys, right_keys, residual)
            return self._merge_using_columns(joined, left.scope, right.scope, using, join_type,
                                             scope_parent)[0] if using else joined
        node = build()
        if using:
            scope = self._merge_using_columns(node, left.scope, right.scope, using, join_type,
                                              scope_parent)[1]
        item = _FromItem(node, scope, nullable=join_type != "inner")
        if fields.get("alias"):     # its sides' names are hidden: conditions stay above it
            item.scope = _join_alias_scope(scope, fields["alias"], scope_parent)
        else:
            item.join = qual_pushdown.JoinShape(left, right, join_type, build)
        return item

    def _refuse_lateral_reference(self, right_node: Node, left: _FromItem,
                                  scope_parent: Scope | None, levels: tuple[Scope, ...]) -> None:
        """A RIGHT or FULL join's right side may not read its left side (42P10, as
        PostgreSQL): a LATERAL right side is planned once over the left side to find out."""
        kind, fields = one(right_node)
        if kind != "RangeFunction" and not fields.get("lateral"):
            return
        level = _lateral_level([left], scope_parent)
        assert level is not None
        self._plan_from_item(right_node, level, (level, *levels))
        if level.first_outer_reference is not None:
            alias, location = level.first_outer_reference
            raise error_at(f'invalid reference to FROM-clause entry for table "{alias}"',
                           "42P10", location, detail="The combining JOIN type must be INNER or "
                                                     "LEFT for a LATERAL reference.")

    def _merge_using_columns(self, node: ex.PlanNode, left: Scope, right: Scope,
                             using: list[str], join_type: str, scope_parent: Scope | None
                             ) -> tuple[ex.PlanNode, Scope]:
        """JOIN ... USING/NATURAL: one column per USING name, first in ``*``, of the two
        sides' common type: the left value (inner and left joins), the right one (right join)
        or the first non-NULL (full join). Above the join, a projection puts those columns
        before both sides' own; the sides' USING columns stay reachable only qualified."""
        lw = left.width
        merged_columns: list[ScopeColumn] = []
        exprs: list[Expr] = []
        for name in using:
            found_left, found_right = left.find([name], -1), right.find([name], -1)
            assert found_left is not None and found_right is not None
            (li, lcol), (ri, rcol) = found_left, found_right
            common = T.common_type([lcol.type_oid, rcol.type_oid], "JOIN/USING")
            lexpr = coerce(self, _column(li, lcol.type_oid, name, lcol.typmod), common)
            rexpr = coerce(self, _column(lw + ri, rcol.type_oid, name, rcol.typmod), common)
            typmod = lcol.typmod if (lcol.type_oid, lcol.typmod) == (rcol.type_oid,
                                                                     rcol.typmod) else -1
            exprs.append(lexpr if join_type in ("inner", "left") else
                         rexpr if join_type == "right" else _first_not_null(lexpr, rexpr))
            source = (_entry_alias(left, li) if join_type in ("inner", "left") else
                      _entry_alias(right, ri) if join_type == "right" else "")
            merged_columns.append(ScopeColumn(name, common, typmod, source_alias=source))
        names = set(using)
        scope = Scope(parent=scope_parent)
        scope.add("", merged_columns)
        for entry in left.entries + right.entries:
            columns = [replace(c, merged=True) if c.name in names and not c.hidden else c
                       for c in entry.columns]
            scope.add(entry.alias, columns, entry.relation, entry.aliased,
                      schema=entry.schema)
        passthrough = [_column(i, c.type_oid, c.name, c.typmod)
                       for i, c in enumerate(left.all_columns() + right.all_columns())]
        return ex.Project(node, exprs + passthrough, width=scope.width), scope

    def _join_nodes(self, left: _FromItem, right: _FromItem, join_type: str,
                    left_keys: list[Expr], right_keys: list[Expr],
                    residual: list[Expr]) -> ex.PlanNode:
        lw, rw = left.scope.width, right.scope.width
        if right.lateral:     # no hashing: the right side's rows differ per left row
            conditions = [_keys_equal(lk, rk, lw) for lk, rk in zip(left_keys, right_keys)]
            conditions += residual
            return ex.LateralNestLoop(left.node, right.node, join_type,
                                      _and(conditions) if conditions else None, lw, rw,
                                      width=lw + rw)
        qual = _and(residual) if residual else None
        if left_keys:
            return ex.HashJoin(left.node, right.node, join_type, left_keys, right_keys, qual,
                               lw, rw, width=lw + rw)
        return ex.NestLoop(left.node, right.node, join_type, qual, lw, rw, width=lw + rw)

    def _equi_join_key(self, part: Node, left: Scope, right: Scope) -> tuple[Expr, Expr] | None:
        """For ``l = r`` with l only on the left side and r only on the right: the two keys,
        compiled against their own side's row (the right one re-based to start at 0)."""
        if "A_Expr" not in part:
            return None
        fields = part["A_Expr"]
        if fields.get("kind", "AEXPR_OP") != "AEXPR_OP" or strings(fields.get("name")) != ["="]:
            return None
        if "lexpr" not in fields or contains_node(part, "SubLink"):
            return None
        sides = []
        for side in (fields["lexpr"], fields["rexpr"]):
            names = referenced_names(side)
            in_left = names and all(_resolves(left, n) for n in names)
            in_right = names and all(_resolves(right, n) for n in names)
            sides.append("l" if in_left and not in_right else "r" if in_right and not in_left
                         else None)
        if sides == ["l", "r"]:
            lnode, rnode = fields["lexpr"], fields["rexpr"]
        elif sides == ["r", "l"]:
            lnode, rnode = fields["rexpr"], fields["lexpr"]
        else:
            return None
        lexpr = ExpressionCompiler(self, left).compile(lnode)
        rexpr = ExpressionCompiler(self, right).compile(rnode)
        resolved = ops.resolve_operator("=", lexpr.type_oid, rexpr.type_oid)
        if resolved.left_type != resolved.right_type:
            return None
        return coerce(self, lexpr, resolved.left_type), coerce(self, rexpr, resolved.right_type)

    def _join_from_items(self, items: list[_FromItem], where_parts: list[Node],
                         scope_parent: Scope | None) -> tuple[ex.PlanNode, Scope, list[Node]]:
        """Join the comma-separated FROM items, placing WHERE conditions; returns the leftover
        conditions that must be applied above the joins."""
        if not items:
            return ex.Result(), Scope(parent=scope_parent), where_parts
        remaining = list(where_parts)
        for index, item in enumerate(items):
            remaining = qual_pushdown.push_into(self, item, remaining, "WHERE", len(items) == 1,
                                                constants=index == 0)
        current = items[0]
        for item in items[1:]:
            current.scope.check_name_conflicts(item.scope)
            merged = current.scope.merged(item.scope)
            merged.parent = scope_parent
            left_keys, right_keys, used = [], [], []
            for part in remaining:
                split = self._equi_join_key(part, current.scope, item.scope)
                if split is not None:
                    left_keys.append(split[0])
                    right_keys.append(split[1])
                    used.append(part)
            remaining = [p for p in remaining if p not in used]
            node = self._join_nodes(current, item, "inner", left_keys, right_keys, [])
            current = _FromItem(node, merged)
        return current.node, current.scope, remaining

    def _push_into_scan(self, item: _FromItem, parts: list[Node], only_item: bool,
                        what: str = "WHERE") -> list[Node]:
        """Move the conditions that name only this table into its scan (with those moved
        there before), choosing an index."""
        scope = item.scope
        mine, rest = [], []
        for part in parts:
            if contains_node(part, "SubLink") or self._has_aggregate(part):
                rest.append(part)
                continue
            names = referenced_names(part)
            if only_item or (names and all(_resolves(scope, n) for n in names)):
                mine.append(part)
            else:
                rest.append(part)
        if not mine:
            return rest
        compiler = ExpressionCompiler(self, scope)
        item.scan_quals.extend((p, coerce_to_bool(self, compiler.compile(p), what,
                                                  expression_location(p))) for p in mine)
        compiled = item.scan_quals
        qual = _and([c for _, c in compiled])
        scan = self._choose_index(item, compiled, qual)
        item.node = scan
        return rest

    def _choose_index(self, item: _FromItem, compiled: list[tuple[Node, Expr]],
                      qual: Expr) -> ex.PlanNode:
        relation = item.base
        assert relation is not None
        width = item.scope.width
        if isinstance(item.node, partitioning.Append):   # partitions or inheritance
            return partitioning.rescan(self, item, compiled, qual)
        best: ex.PlanNode | None = None
        best_score = 0
        resolve = index_expressions.scope_resolver(item.scope)
        for info in relation.indexes:
            if not index_expressions.usable(info, [p for p, _ in compiled], resolve):
                continue      # a partial index whose predicate the conditions do not imply
            bounds = self._bounds_for_key(item, compiled, info, 0)
            if bounds is None:
                continue
            equal, low, high, low_inc, high_inc = bounds
            score = 3 if equal is not None else (2 if low and high else 1)
            if equal is not None and len(info.key_columns) > 1:
                extra = []
                for position in range(1, len(info.key_columns)):
                    more = self._bounds_for_key(item, compiled, info, position)
                    if more is None or more[0] is None:
                        break
                    extra.append(more[0])
                equal_key = [equal] + extra
                score += len(extra)
                if info.unique and len(equal_key) == len(info.key_columns):
                    score += 10
                node = ex.IndexScan(relation, info.relation, item.alias, equal_key, equal_key,
                                    True, True, qual, width=width)
            elif equal is not None:
                score += 10 if info.unique else 0
                key = [equal]      # one list for both bounds: evaluated once per scan
                node = ex.IndexScan(relation, info.relation, item.alias, key, key, True,
                                    True, qual, width=width)
            else:
                node = ex.IndexScan(relation, info.relation, item.alias, [low] if low else [],
                                    [high] if high else [], low_inc, high_inc, qual,
                                    width=width)
            if score > best_score:
                best, best_score = node, score
        if best is not None:
            return best
        return ex.SeqScan(relation, item.alias, qual, width=width)

    def _bounds_for_key(self, item: _FromItem, compiled: list[tuple[Node, Expr]],
                        info: IndexInfo, position: int
                        ) -> tuple[Any, Any, Any, bool, bool] | None:
        """The bounds the conditions put on key column ``position`` of index ``info`` (a
        table column, or an expression the conditions must spell the same way)."""
        column = info.key_columns[position]
        column_type = info.relation.columns[position].type_oid
        expression = index_expressions.key_tree(info, position)
        equal = low = high = None
        low_inc = high_inc = True
        for part, _ in compiled:
            found = self._indexable(part, item.scope, column, column_type, expression)
            if found is None:
                continue
            op, bound = found
            if op == "=":
                equal = bound
            elif op in (">", ">="):
                low, low_inc = bound, op == ">="
            else:
                high, high_inc = bound, op == "<="
        if equal is None and low is None and high is None:
            return None
        return equal, low, high, low_inc, high_inc

    def _indexable(self, part: Node, scope: Scope, column: int, column_type: int,
                   expression: Any = None) -> tuple[str, Expr] | None:
        if "A_Expr" not in part:
            return None
        fields = part["A_Expr"]
        if fields.get("kind", "AEXPR_OP") != "AEXPR_OP" or "lexpr" not in fields:
            return None
        names = strings(fields.get("name"))
        if len(names) != 1 or names[0] not in INDEXABLE_OPERATORS:
            return None
        op = names[0]
        leading = row_values.leading_column_condition(fields, op)
        if leading is not None:         # (a, b) > (1, 2): a >= 1 bounds the scan
            return self._indexable(leading, scope, column, column_type)
        for this, other, operator in ((fields["lexpr"], fields["rexpr"], op),
                                      (fields["rexpr"], fields["lexpr"], COMMUTED[op])):
            if expression is not None:
                if index_expressions.normalized(
                        this, index_expressions.scope_resolver(scope)) != expression:
                    continue
            elif "ColumnRef" not in this:
                continue
            else:
                name = strings(this["ColumnRef"]["fields"])
                found = scope.find(name, -1) if name else None
                if found is None or found[0] != column:
                    continue
            if any(_resolves(scope, n) for n in referenced_names(other)):
                continue
            bound = ExpressionCompiler(self, Scope(parent=scope.parent)).compile(other)
            bound = self._index_bound(bound, column_type)
            if bound is None:
                continue
            return operator, bound
        return None

    def _index_bound(self, bound: Expr, column_type: int) -> Expr | None:
        """The bound converted to the column's type, or None if the types do not allow it."""
        if bound.type_oid == UNKNOWN or bound.type_oid == column_type:
            return coerce(self, bound, column_type)
        if bound.type_oid in INTEGER_TYPES and column_type in INTEGER_TYPES:
            inner, source = bound.fn, bound.type_oid
            low, high = {T.INT2_OID: (-2**15, 2**15 - 1), T.INT4_OID: (-2**31, 2**31 - 1),
                         T.INT8_OID: (-2**63, 2**63 - 1)}[column_type]

            def clamp(row: Row, ctx: ExecContext) -> Any:
                value = inner(row, ctx)
                if value is None:
                    return None
                return min(max(value, low), high)
            del source
            return Expr(column_type, clamp)
        return None

    # -- targets --------------------------------------------------------------------------------

    def _expand_targets(self, target_nodes: list[Node], compiler: ExpressionCompiler,
                        scope: Scope) -> list[_Target]:
        targets: list[_Target] = []
        for node in target_nodes:
            target = node["ResTarget"]
            value = target["val"]
            if "ColumnRef" in value and "A_Star" in value["ColumnRef"]["fields"][-1]:
                targets.extend(self._star(value["ColumnRef"], scope, compiler))
                continue
            if composite_types.is_field_star(value):           # (expr).*
                targets.extend(_Target(expr, name, None) for expr, name in
                               composite_types.expand_field_star(compiler, value))
                continue
            expr = compiler.compile(value)
            name = target.get("name") or _default_name(value, expr)
            table_oid = attnum = 0
            if expr.column is not None and "ColumnRef" in value:
                column = scope.all_columns()[expr.column] if expr.column < scope.width else None
                if column is not None:
                    table_oid, attnum = column.table_oid, column.attnum
            targets.append(_Target(expr, name, value, table_oid, attnum))
        return targets

    def _star(self, ref: Node, scope: Scope,
              compiler: ExpressionCompiler | None = None) -> list[_Target]:
        names = strings(ref["fields"][:-1])
        entries = scope.entries
        if names:
            entry = scope.entry(names[-1])
            if entry is None and compiler is not None:
                outer = _outer_star(scope, names[-1], compiler, ref.get("location", -1))
                if outer is not None:
                    return outer
            if entry is None:
                raise error_at(f'missing FROM-clause entry for table "{names[-1]}"', "42P01",
                               ref.get("location", -1))
            entries = [entry]
        if not entries:
            raise error_at("SELECT * with no tables specified is not valid", "42601",
                           ref.get("location", -1))
        targets = []
        recording = self.view_recording
        for entry in entries:
            for i, column in enumerate(entry.columns):
                # a USING column merged away counts only in its own table's ``t.*``
                if column.hidden or (column.merged and not names):
                    continue
                if recording is not None:
                    recording.stars.setdefault(id(ref), []).append(
                        (entry.alias or column.source_alias, column.name))
                index = entry.offset + i
                targets.append(_Target(_column(index, column.type_oid, column.name,
                                               column.typmod), column.name, None,
                                       column.table_oid, column.attnum))
        return targets

    # -- grouping -------------------------------------------------------------------------------

    def _has_aggregate(self, node: Any) -> bool:
        """Whether ``node`` calls an aggregate outside a subquery (only a sublink's test
        expression counts) and not as a window function."""
        return _aggregate_call(node) is not None

    def _plan_grouping(self, node: Node, source: ex.PlanNode, scope: Scope,
                       target_nodes: list[Node], windows: window.WindowCalls
                       ) -> tuple[ex.PlanNode, ExpressionCompiler, list[_Target]]:
        """The Aggregate node over ``source``, the compiler of what is computed above it (whose
        set-returning and window calls run above it) and the targets. The set-returning calls
        of GROUP BY run below it."""
        pre = ExpressionCompiler(self, scope)
        clause = gsets.analyze(node.get("groupClause", []), bool(node.get("groupDistinct")),
                               lambda g: self._resolve_group_item(g, target_nodes))
        group_nodes = list(clause.items)
        window.refuse(group_nodes, "GROUP BY")
        gsets.refuse_in_group_by(node.get("groupClause", []), group_nodes)
        pre.set_calls = group_sets = srf.SetCalls()
        outer_refusal, self.aggregate_clause = self.aggregate_clause, "GROUP BY"
        group_exprs = [pre.compile(g) for g in group_nodes]
        self.aggregate_clause = outer_refusal
        source = srf.project_set(source, group_sets)
        calls: list[ex.AggregateCall] = []
        replacements: dict[str, Expr] = {}
        group_columns: dict[int, int] = {}
        for i, (g, e) in enumerate(zip(group_nodes, group_exprs)):
            replacements[node_key(g)] = _column(i, e.type_oid, e.name, e.typmod)
            if e.column is not None:
                group_columns[e.column] = i
        common = clause.common()   # a functional dependency needs keys every set holds
        for index, column in _functionally_dependent(
                scope, {c: i for c, i in group_columns.items() if i in common}):
            if index not in group_columns:
                group_columns[index] = len(group_exprs)
                group_exprs.append(_column(index, column.type_oid, column.name, column.typmod))
        mask_index = len(group_exprs) if clause.sets is not None else None
        base = len(group_exprs) + (mask_index is not None)

        def sink(call_node: Node) -> Expr:
            call = call_node
            name = strings(call["funcname"])[-1]
            outer = self.clause   # a refusing clause around the aggregate is the one named
            if call.get("agg_within_group"):
                calls.append(self._ordered_set_call(call, name.lower(), pre, post, outer))
            else:
                calls.append(self._aggregate_call(call, name, pre, outer))
            position = base + len(calls) - 1
            return Expr(calls[-1].definition.result_type, lambda row, ctx: row[position],
                        name=name)

        post_scope = scope
        post = _GroupedCompiler(self, post_scope, replacements, sink, group_columns)
        post.grouping = _GroupingCalls(clause, group_exprs, pre, mask_index)
        post.set_calls = srf.SetCalls()
        post.windows = windows
        post.grouping.check([target_nodes, node.get("sortClause")])
        targets = self._expand_grouped_targets(target_nodes, post, scope, group_columns)
        having = None
        if node.get("havingClause"):
            post.grouping.check(node["havingClause"])
            self.clause = "HAVING"
            having = coerce_to_bool(self, post.compile(node["havingClause"]), "HAVING")
            self.clause = None
        width = base + len(calls)
        if clause.sets is None:
            return ex.Aggregate(source, group_exprs, calls, having, width=width), post, targets
        extra = tuple(range(len(clause.items), len(group_exprs)))   # functional dependencies
        sets = [members + extra for members in clause.sets]
        return (ex.GroupingSetsAggregate(source, group_exprs, calls, sets, having, width=width),
                post, targets)

    def _aggregate_call(self, call: Node, name: str, pre: ExpressionCompiler,
                        outer: str | None) -> ex.AggregateCall:
        """An ordinary aggregate call, its arguments compiled over the Aggregate's input."""
        self.clause = outer or srf.AGGREGATE_ARGUMENTS
        if call.get("agg_star"):
            args: list[Expr] = []
        else:
            args = [pre.compile(a) for a in call.get("args", [])]
        self.clause = outer
        resolved, args, filter_expr = self.resolve_aggregate_call(pre, call, name, args)
        order = self._aggregate_order(call, pre, outer)
        return ex.AggregateCall(resolved, args, bool(call.get("agg_distinct")), filter_expr,
                                order, [_comparator(e.type_oid) for e, _, _ in order])

    def _ordered_set_call(self, call: Node, name: str, pre: ExpressionCompiler,
                          post: ExpressionCompiler, outer: str | None) -> ex.AggregateCall:
        """``agg(direct arguments) WITHIN GROUP (ORDER BY x)`` (sql/ordered_set_aggregates.py):
        the ordered values, compiled over the Aggregate's input, are what it aggregates; the
        direct arguments are compiled by ``post``, above the Aggregate, so they may use only
        what a group has one value of, and are computed once per group."""
        order = self._aggregate_order(call, pre, outer)
        self.clause = outer or srf.AGGREGATE_ARGUMENTS
        direct_types = [pre.compile(argument).type_oid for argument in call.get("args", [])]
        self.clause = outer
        ordered = [expr for expr, _, _ in order]
        resolved, direct_types = osa.resolve(name, direct_types,
                                             [expr.type_oid for expr in ordered],
                                             call.get("location", -1))
        direct = [post.compile(argument) for argument in call.get("args", [])]
        args = [coerce(self, e, t) for e, t in zip(ordered, resolved.arg_types)]
        direct = [coerce(self, e, t) for e, t in zip(direct, direct_types)]
        return ex.AggregateCall(resolved, args, False, self._aggregate_filter(pre, call), order,
                                [_comparator(e.type_oid) for e, _, _ in order], direct)

    def resolve_aggregate_call(self, compiler: ExpressionCompiler, call: Node, name: str,
                               args: list[Expr]
                               ) -> tuple[aggs.ResolvedAggregate, list[Expr], Expr | None]:
        """An aggregate call's definition, its compiled ``args`` converted to the types it
        takes, and its FILTER condition (compiled by ``compiler``), if any."""
        try:
            resolved = aggs.resolve_aggregate(name, [a.type_oid for a in args])
        except MirrordbError as error:
            if getattr(error, "position", None) is None and call.get("location", -1) >= 0:
                error.position = call["location"] + 1  # type: ignore[attr-defined]
            raise
        args = [coerce(self, a, t) for a, t in zip(args, resolved.arg_types)]
        return resolved, args, self._aggregate_filter(compiler, call)

    def _aggregate_filter(self, compiler: ExpressionCompiler, call: Node) -> Expr | None:
        """An aggregate call's FILTER condition (compiled by ``compiler``), if any."""
        if not call.get("agg_filter"):
            return None
        outer, self.clause = self.clause, "FILTER"
        filter_expr = coerce_to_bool(self, compiler.compile(call["agg_filter"]), "FILTER")
        self.clause = outer
        return filter_expr

    def _resolve_group_item(self, item: Node, target_nodes: list[Node]) -> Node:
        if "A_Const" in item and "ival" in item["A_Const"]:
            position = item["A_Const"]["ival"].get("ival", 0)
            if not 1 <= position <= len(target_nodes):
                raise error_at(f"GROUP BY position {position} is not in select list", "42P10",
                               item["A_Const"].get("location", -1))
            return target_nodes[position - 1]["ResTarget"]["val"]
        if "ColumnRef" in item:
            names = strings(item["ColumnRef"]["fields"])
            if len(names) == 1:
                for t in target_nodes:
                    if t["ResTarget"].get("name") == names[0]:
                        return t["ResTarget"]["val"]
        return item

    def _expand_grouped_targets(self, target_nodes: list[Node], post: ExpressionCompiler,
                                scope: Scope, group_columns: dict[int, int]) -> list[_Target]:
        targets = []
        for node in target_nodes:
            target = node["ResTarget"]
            value = target["val"]
            if "ColumnRef" in value and "A_Star" in value["ColumnRef"]["fields"][-1]:
                for star in self._star(value["ColumnRef"], scope):
                    index = star.expr.column
                    if index not in group_columns:
                        raise MirrordbError(
                            f'column "{star.name}" must appear in the GROUP BY clause or be used '
                            "in an aggregate function", sqlstate="42803")
                    targets.append(_Target(_column(group_columns[index], star.expr.type_oid,
                                                   star.name), star.name, None))
                continue
            expr = post.compile(value)
            targets.append(_Target(expr, target.get("name") or _default_name(value, expr),
                                   value))
        return targets

    def _aggregate_order(self, call: Node, compiler: ExpressionCompiler, outer: str | None
                         ) -> list[tuple[Expr, bool, bool]]:
        """``agg(x ORDER BY y ...)``: the sort keys the call's inputs are fed in. With DISTINCT
        each key must be one of the arguments (PostgreSQL's rule: the order must be that of the
        distinct values)."""
        order: list[tuple[Expr, bool, bool]] = []
        arg_keys = {node_key(arg) for arg in call.get("args", [])}
        for sort in call.get("agg_order") or []:
            fields = sort["SortBy"]
            if fields.get("useOp"):
                raise feature_not_supported("ORDER BY USING")
            if call.get("agg_distinct") and node_key(fields["node"]) not in arg_keys:
                raise error_at("in an aggregate with DISTINCT, ORDER BY expressions must "
                               "appear in argument list", "42P10",
                               leftmost_location(fields["node"]))
            desc, nulls_first = sort_direction(fields)
            self.clause = outer or srf.AGGREGATE_ARGUMENTS
            order.append((compiler.compile(fields["node"]), desc, nulls_first))
            self.clause = outer
        return order

    # -- ORDER BY, LIMIT, locking ---------------------------------------------------------------

    def _sort_keys(self, sort_nodes: list[Node], targets: list[_Target],
                   compiler: ExpressionCompiler) -> tuple[list[tuple[int, bool, bool, int]],
                                                          list[Expr]]:
        keys: list[tuple[int, bool, bool, int]] = []
        hidden: list[Expr] = []
        for sort in sort_nodes:
            fields = sort["SortBy"]
            desc, nulls_first = sort_direction(fields)
            if fields.get("useOp"):
                raise feature_not_supported("ORDER BY USING")
            position = self._sort_target(fields["node"], targets, compiler)
            if position is None:
                expr = compiler.compile(fields["node"])
                position = len(targets) + len(hidden)
                hidden.append(expr)
                type_oid = expr.type_oid
            else:
                type_oid = targets[position].expr.type_oid
            keys.append((position, desc, nulls_first, type_oid))
        return keys, hidden

    def _sort_target(self, node: Node, targets: list[_Target],
                     compiler: ExpressionCompiler) -> int | None:
        if "A_Const" in node and "ival" in node["A_Const"]:
            position = node["A_Const"]["ival"].get("ival", 0)
            if not 1 <= position <= len(targets):
                raise error_at(f"ORDER BY position {position} is not in select list", "42P10",
                               node["A_Const"].get("location", -1))
            return position - 1
        if "ColumnRef" in node:
            names = strings(node["ColumnRef"]["fields"])
            if len(names) == 1:
                matches = [i for i, t in enumerate(targets) if t.name == names[0]]
                if matches:
                    return matches[0]
        key = node_key(node)
        for i, t in enumerate(targets):
            if t.node is not None and node_key(t.node) == key:
                return i
        return None

    def _ordered_source(self, node: Node, item: _FromItem, source: ex.PlanNode,
                        sort_keys: list[tuple[int, bool, bool, int]], sort_nodes: list[Node],
                        targets: list[_Target], hidden: list[Expr]) -> ex.PlanNode | None:
        """``source`` reading ``item`` through an index in the ORDER BY's order, or None."""
        keys = []
        for (position, descending, nulls_first, _), sort in zip(sort_keys, sort_nodes):
            if position < len(targets):
                expr, written = targets[position].expr, targets[position].node
            else:
                expr, written = hidden[position - len(targets)], sort["SortBy"]["node"]
            keys.append(ordered_scans.order_key(self, item.scope, expr, written, descending,
                                                nulls_first))
        count = node.get("limitCount")
        has_limit = count is not None and not ("A_Const" in count and
                                               count["A_Const"].get("isnull"))
        scan = ordered_scans.ordered_scan(self, item, keys, has_limit)
        return None if scan is None else ordered_scans.replace_scan(source, item.node, scan)

    def _sort(self, plan: ex.PlanNode, keys: list[tuple[int, bool, bool, int]]) -> ex.PlanNode:
        exprs = [(_column(position, type_oid), desc, nulls_first)
                 for position, desc, nulls_first, type_oid in keys]
        compares = [_comparator(type_oid) for _, _, _, type_oid in keys]
        return ex.Sort(plan, exprs, compares, width=plan.width)

    def _limit(self, node: Node, plan: ex.PlanNode) -> ex.PlanNode:
        count_node, offset_node = node.get("limitCount"), node.get("limitOffset")
        if count_node is None and offset_node is None:
            return plan
        compiler = ExpressionCompiler(self, Scope(parent=self.parent_scope))
        count = offset = None
        if count_node is not None and not ("A_Const" in count_node and
                                           count_node["A_Const"].get("isnull")):
            self.clause = "LIMIT"
            count = coerce(self, compiler.compile(count_node), INT8)
        if offset_node is not None:
            self.clause = "OFFSET"
            offset = coerce(self, compiler.compile(offset_node), INT8)
        self.clause = None
        return ex.Limit(plan, count, offset, width=plan.width)

    def _plan_locking(self, clauses: list[Node], source: ex.PlanNode,
                      scope: Scope, where: Node | None) -> ex.LockRows:
        exclusive = False
        names: set[str] = set()
        # locked name (None: all) -> the strongest (wait policy, lock strength) asked for it
        policies: dict[str | None, tuple[LockWaitPolicy, int]] = {}
        for clause in clauses:
            fields = clause["LockingClause"]
            strength = fields.get("strength", "LCS_FORUPDATE")
            exclusive = exclusive or strength in ("LCS_FORUPDATE", "LCS_FORNOKEYUPDATE")
            policy = WAIT_POLICIES[fields.get("waitPolicy", "LockWaitBlock")]
            locked = [r["RangeVar"]["relname"] for r in fields.get("lockedRels", [])]
            names.update(locked)
            for name in locked or [None]:
                policies[name] = _stronger(policies.get(name), policy, LOCK_STRENGTHS[strength])
        targets = [(e.relation, e.ctid_index, *_lock_policy(policies, e.alias, e.relation.name))
                   for e in scope.entries
                   if e.relation is not None and e.ctid_index is not None
                   and (not names or e.alias in names or e.relation.name in names)]
        recheck = None
        if where is not None:   # READ COMMITTED re-tests a row that changed while we waited
            compiler = ExpressionCompiler(self, scope)
            recheck = _and([coerce_to_bool(self, compiler.compile(part), "WHERE",
                                           expression_location(part))
                            for part in conjuncts(where)])
        return ex.LockRows(source, targets, exclusive, recheck, width=source.width)

    # -- expressions that need the session or planning ------------------------------------------

    def compile_function_call(self, compiler: ExpressionCompiler, f: Node) -> Expr:
        names = strings(f["funcname"])
        name = names[-1].lower()
        location = f.get("location", -1)
        if f.get("agg_within_group"):
            osa.check_within_group_call(name, "over" in f, location)
            if not aggs.is_aggregate(name):   # no function takes both argument lists
                raise no_such_function(name, [compiler.compile(n) for n in [
                    *f.get("args", []), *(s["SortBy"]["node"] for s in f["agg_order"])]],
                    location)
        if "over" in f:
            return window.compile_call(self, compiler, f)
        if aggs.is_aggregate(name) or f.get("agg_star"):
            if compiler.aggregate_sink is None:
                clause = self.aggregate_clause or self.clause
                if clause == srf.AGGREGATE_ARGUMENTS:
                    raise error_at("aggregate function calls cannot be nested", "42803",
                                   location)
                where = f" in {clause}" if clause in ("WHERE", "VALUES", "GROUP BY",
                                                      "MERGE WHEN conditions") else " here"
                raise error_at(f"aggregate functions are not allowed{where}", "42803", location)
            return compiler.aggregate_sink(f)
        if name in srf.SET_RETURNING_FUNCTIONS:
            if self.clause is None and isinstance(compiler.set_calls, srf.SetCalls):
                return compiler.set_calls.compile(self, compiler, f)
            raise srf.misplaced(f, self.clause)
        if user_functions.has_routine(self.session, name):
            args = [compiler.compile(a) for a in f.get("args", [])]
            if user_functions.returns_set(self, names, args, location,
                                          bool(f.get("func_variadic"))):
                if self.clause is None and isinstance(compiler.set_calls, srf.SetCalls):
                    return compiler.set_calls.compile(self, compiler, f)
                where = f"in {self.clause}" if self.clause is not None else "here"
                raise error_at(f"set-returning functions are not allowed {where}", "0A000",
                               location)
            user = user_functions.compile_call(self, names, args, location,
                                               bool(f.get("func_variadic")))
            if user is not None:
                return user
        args = self.call_arguments(compiler, f, name, location)
        if window.is_window_function(name):
            window.refuse_hypothetical_arguments(name, f)
            window.window_function_arguments(self, name, args, location, f.get("args", []))
            raise window.requires_over(name, location)
        special = self.session.special_function(self, name, args, location)
        if special is not None:
            return special
        try:
            resolved = funcs.resolve_function(name, [a.type_oid for a in args])
        except MirrordbError as error:
            if location >= 0 and getattr(error, "position", None) is None:
                error.position = location + 1  # type: ignore[attr-defined]
            raise
        definition = resolved.definition
        args = [coerce(self, a, t) for a, t in zip(args, resolved.arg_types)]
        return self.call_expr(definition, args, name)

    @staticmethod
    def call_arguments(compiler: ExpressionCompiler, f: Node, name: str,
                       location: int) -> list[Expr]:
        """A call's compiled arguments; ``name => value`` only for the functions that bind
        named arguments (42883 for any other)."""
        args = [compiler.compile(a) for a in f.get("args", [])]
        if name not in NAMED_ARGUMENT_FUNCTIONS and \
                any(a.argument_name is not None for a in args):
            raise no_such_function(name, args, location)
        return args

    def compile_record_field(self, compiler: ExpressionCompiler, f: Node, field: str) -> Expr:
        """``(f(...)).field``: one OUT parameter of a function returning a record (mirrordb
        has no composite types, so only those functions have fields)."""
        name = strings(f["funcname"])[-1].lower()
        location = f.get("location", -1)
        if user_functions.has_routine(self.session, name):
            user = user_functions.record_field(self, compiler, f, field, location)
            if user is not None:
                return user
        args = self.call_arguments(compiler, f, name, location)
        value = self.session.record_field(self, name, args, field, location)
        if value is None:
            raise feature_not_supported("this indirection (field selection or array slice)")
        return value

    def call_expr(self, definition: Any, args: list[Expr], name: str) -> Expr:
        impl, strict = definition.impl, definition.strict
        fns = [a.fn for a in args]
        needs_context = definition.needs_context
        volatile = definition.volatility == "v" or any(a.volatile for a in args)
        if (definition.volatility == "i" and not needs_context
                and all(a.constant for a in args)):
            values = [a.value for a in args]
            value = None if strict and None in values else impl(*values)
            return const(value, definition.result_type, name=name)

        if needs_context:
            def run_context(row: Row, ctx: ExecContext) -> Any:
                values = [fn(row, ctx) for fn in fns]
                if strict and None in values:
                    return None
                return impl(ctx.function_context, *values)
            return Expr(definition.result_type, run_context, name=name, volatile=volatile)

        def run(row: Row, ctx: ExecContext) -> Any:
            values = [fn(row, ctx) for fn in fns]
            if strict and None in values:
                return None
            return impl(*values)
        return Expr(definition.result_type, run, name=name, volatile=volatile)

    def compile_sql_value_function(self, f: Node) -> Expr:
        return self.session.sql_value_function(self, f["op"], f.get("typmod", -1))

    def compile_sublink(self, compiler: ExpressionCompiler, f: Node) -> Expr:
        kind = f["subLinkType"]
        child = self.child(compiler.scope)
        references = _references_through(self.parent_scope)
        plan = child.plan_query(f["subselect"]["SelectStmt"])
        if _references_through(self.parent_scope) != references:
            self.correlated = True    # something inside read a row from beyond this level
        correlated = child.correlated
        node = plan.node
        key = id(node)

        def rows_of(row: Row, ctx: ExecContext, limit: int | None = None) -> list[Row]:
            if not correlated:
                cached = ctx.cache.get(key)
                if cached is not None:
                    return cached
            ctx.outer.append(row)
            try:
                result = []
                for produced in node.rows(ctx):
                    result.append(produced)
                    if limit is not None and len(result) >= limit:
                        break
            finally:
                ctx.outer.pop()
            if not correlated:
                ctx.cache[key] = result
            return result

        if kind == "EXISTS_SUBLINK":
            return Expr(BOOL, lambda row, ctx: bool(rows_of(row, ctx, 1 if correlated else None)),
                        name="exists")
        if kind == "EXPR_SUBLINK":
            if len(plan.columns) != 1:
                raise MirrordbError("subquery must return only one column", sqlstate="42601")

            def scalar(row: Row, ctx: ExecContext) -> Any:
                found = rows_of(row, ctx, None if not correlated else 2)
                if len(found) > 1:
                    raise MirrordbError("more than one row returned by a subquery used as an "
                                        "expression", sqlstate="21000")
                return found[0][0] if found else None
            column = plan.columns[0]
            return Expr(column.type_oid, scalar, column.typmod, name=column.name)
        if kind == "ARRAY_SUBLINK":
            return _array_sublink(plan, rows_of)
        if "RowExpr" in (f.get("testexpr") or {}):
            return row_values.row_sublink(compiler, f, [c.type_oid for c in plan.columns],
                                          self.timezone, rows_of)
        if kind in ("ANY_SUBLINK", "ALL_SUBLINK"):
            if len(plan.columns) != 1:
                raise error_at("subquery has too many columns", "42601", f.get("location", -1))
            op = strings(f.get("operName")) or ["="]
            mark = compiler.set_mark()
            left = compiler.compile(f["testexpr"])
            if compiler.returned_set(mark):
                raise error_at("row comparison operator must not return a set", "42804",
                               f.get("location", -1))
            resolved = ops.resolve_operator(op[-1], left.type_oid, plan.columns[0].type_oid)
            left = coerce(self, left, resolved.left_type)
            right_type = plan.columns[0].type_oid
            impl, lf = resolved.impl, left.fn
            convert = None
            if right_type != resolved.right_type and right_type != UNKNOWN:
                target, timezone = resolved.right_type, self.timezone
                def convert(v: Any, s: int = right_type) -> Any:  # noqa: E306
                    return T.cast(v, s, target, context="implicit", timezone=timezone)
            is_all = kind == "ALL_SUBLINK"

            def any_all(row: Row, ctx: ExecContext) -> Any:
                value = lf(row, ctx)
                saw_null = False
                for (item,) in rows_of(row, ctx):
                    if convert is not None and item is not None:
                        item = convert(item)
                    result = None if value is None or item is None else impl(value, item)
                    if result is None:
                        saw_null = True
                    elif bool(result) != is_all:
                        return not is_all
                return None if saw_null else is_all
            return Expr(BOOL, any_all)
        raise feature_not_supported(f"subquery kind {kind}")

    @staticmethod
    def _same_input_column(expr: Expr, sort_positions: list[int], targets: list[_Target],
                           hidden: list[Expr]) -> int | None:
        """The position of an ORDER BY key, else a select-list item, that reads the same input
        column as ``expr`` (``x.owner`` and ``owner`` differ as text only), if ``expr`` is a
        plain column reference."""
        if expr.column is None:
            return None
        for position in [*sort_positions, *range(len(targets))]:
            other = targets[position].expr if position < len(targets) \
                else hidden[position - len(targets)]
            if other.column == expr.column:
                return position
        return None

    def _distinct_on_positions(self, distinct: list[Node], sort_nodes: list[Node],
                               sort_keys: list[tuple[int, bool, bool, int]],
                               targets: list[_Target], hidden: list[Expr],
                               compiler: ExpressionCompiler) -> list[int]:
        """Where each DISTINCT ON expression is among the projected values: a select-list item
        (by position, output name or the same expression), an ORDER BY expression outside the
        select list, or else a new hidden expression appended to ``hidden``. As PostgreSQL's
        transformDistinctOnClause (42P10): the ORDER BY items that are DISTINCT ON expressions
        come before any that is not, and once one is not, every DISTINCT ON expression must be
        in ORDER BY."""
        sort_positions = [key[0] for key in sort_keys]
        sort_by_key = {node_key(sort["SortBy"]["node"]): position
                       for sort, position in zip(sort_nodes, sort_positions)}
        positions = []
        for item in distinct:
            position = self._sort_target(item, targets, compiler)
            if position is None:
                position = sort_by_key.get(node_key(item))
            if position is None:
                expr = compiler.compile(item)
                position = self._same_input_column(expr, sort_positions, targets, hidden)
                if position is None:
                    position = len(targets) + len(hidden)
                    hidden.append(expr)
            positions.append(position)
        skipped = False
        misplaced = None
        for position in sort_positions:
            if position not in positions:
                skipped = True
            elif skipped:
                misplaced = position
                break
        if misplaced is None and skipped:   # one not in ORDER BY, after an item that is not
            misplaced = next((p for p in positions if p not in sort_positions), None)
        if misplaced is not None:   # the error points at the DISTINCT ON item, as PostgreSQL's
            raise error_at("SELECT DISTINCT ON expressions must match initial ORDER BY "
                           "expressions", "42P10", _location(distinct[positions.index(misplaced)]))
        return positions


class _GroupingCalls:
    """GROUPING(...) above an Aggregate: which grouping expressions its arguments are, and its
    value, read from the row's grouping-set mask (0 without grouping sets)."""

    def __init__(self, clause: gsets.GroupClause, group_exprs: list[Expr],
                 pre: ExpressionCompiler, mask_index: int | None) -> None:
        self.clause = clause
        self.group_exprs = group_exprs
        self.pre = pre
        self.mask_index = mask_index

    def positions(self, call: Node) -> list[int]:
        gsets.check_argument_count(call)
        return [gsets.grouping_position(self.clause, argument, self._same_column)
                for argument in call.get("args", [])]

    def check(self, tree: Any) -> None:
        """Every GROUPING call of ``tree`` names grouping expressions (PostgreSQL checks them
        before it looks for ungrouped columns)."""
        for call in gsets.calls_in(tree):
            self.positions(call)

    def _same_column(self, argument: Node, position: int) -> bool:
        if "ColumnRef" not in argument:
            return False
        column = self.group_exprs[position].column
        return column is not None and self.pre.compile(argument).column == column

    def compile(self, call: Node) -> Expr:
        positions = self.positions(call)
        if self.mask_index is None:
            return const(0, T.INT4_OID, name="grouping")
        value, index = gsets.grouping_value(positions), self.mask_index
        return Expr(T.INT4_OID, lambda row, ctx: value(row[index]), name="grouping")


class _GroupedCompiler(ExpressionCompiler):
    """Compiles expressions above an Aggregate: group keys and aggregate results only."""

    def __init__(self, builder: PlanBuilder, scope: Scope, replacements: dict[str, Expr],
                 sink: Callable[[Node], Expr], group_columns: dict[int, int]) -> None:
        super().__init__(builder, scope, replacements, sink, grouped=True)
        self.group_columns = group_columns
        self.grouping: _GroupingCalls | None = None

    def _GroupingFunc(self, f: Node) -> Expr:
        if self.grouping is None:
            return super()._GroupingFunc(f)
        return self.grouping.compile(f)

    def _column_expr(self, index: int, column: ScopeColumn, depth: int) -> Expr:
        if depth == 0 and index in self.group_columns:
            return _column(self.group_columns[index], column.type_oid, column.name,
                           column.typmod)
        return super()._column_expr(index, column, depth)

    def _ColumnRef(self, f: Node) -> Expr:
        names = strings(f["fields"])
        found = self.scope.find(names, f.get("location", -1)) if names else None
        if found is not None and found[0] in self.group_columns:
            return self._column_expr(found[0], found[1], 0)
        return super()._ColumnRef(f)


@dataclass(eq=False)
class _DistinctOn(ex.PlanNode):
    child: ex.PlanNode
    positions: list[int] = field(default_factory=list)
    width: int = 0

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        seen: set[tuple[Any, ...]] = set()
        for row in self.child.rows(ctx):
            key = tuple(row[p] for p in self.positions)
            if key not in seen:
                seen.add(key)
                yield row

    def explain(self) -> tuple[str, list[ex.PlanNode]]:
        return "Unique", [self.child]


# -- helpers ----------------------------------------------------------------------------------


def _array_sublink(plan: QueryPlan, rows_of: Callable[..., list[Row]]) -> Expr:
    """ARRAY(subquery): the subquery's single column as an array (empty when it has no rows)."""
    if len(plan.columns) != 1:
        raise MirrordbError("subquery must return only one column", sqlstate="42601")
    element = plan.columns[0].type_oid
    if T.is_array_type(element):         # arrays of arrays: one more dimension
        return Expr(element, lambda row, ctx: array_dimensions.accumulate(
            [found[0] for found in rows_of(row, ctx)]), name="array")
    array_type = T.array_type_of(element)
    if not array_type:
        raise MirrordbError(f"could not find array type for data type "
                            f"{T.format_type(element)}", sqlstate="42704")
    return Expr(array_type, lambda row, ctx: [found[0] for found in rows_of(row, ctx)],
                name="array")


def _column(index: int, type_oid: int, name: str = "?column?", typmod: int = -1) -> Expr:
    def run(row: Row, ctx: ExecContext) -> Any:
        return row[index]
    return Expr(type_oid, run, typmod, name, column=index)


def _functionally_dependent(scope: Scope, group_columns: dict[int, int]
                            ) -> list[tuple[int, ScopeColumn]]:
    """The columns a GROUP BY determines without naming them (PostgreSQL's functional
    dependency): every column of a table whose primary key columns are all grouped on. They
    become extra, hidden group keys: a group holds one row of that table, so grouping on them
    too changes no group."""
    found = []
    for entry in scope.entries:
        indexes = getattr(entry.relation, "indexes", None) or ()
        key = next((info for info in indexes if info.primary), None)
        if key is None or not all(entry.offset + i in group_columns for i in key.key_columns):
            continue
        found.extend((entry.offset + i, column) for i, column in enumerate(entry.columns)
                     if not column.hidden and entry.offset + i not in group_columns)
    return found


def _lateral_level(items: list[_FromItem], parent: Scope | None) -> Scope | None:
    """The scope level of the FROM items ``items`` (None if there are none), as a LATERAL item
    after them sees them: one row, their rows side by side. Invisible until a LATERAL item
    is planned below it (``lateral_only``)."""
    if not items:
        return None
    level = Scope(parent=parent, lateral_only=True)
    for item in items:
        for entry in item.scope.entries:
            level.add(entry.alias, entry.columns, entry.relation, entry.aliased)
    return level


def _outer_star(scope: Scope, alias: str, compiler: ExpressionCompiler,
                location: int) -> list[_Target] | None:
    """``t.*`` naming a range entry of an enclosing query (or, in a LATERAL item, of an
    earlier FROM item): a reference to each of its columns; None if no such entry."""
    outer = scope.parent
    while outer is not None and (outer.lateral_only or outer.entry(alias) is None):
        outer = outer.parent
    if outer is None:
        return None
    entry = outer.entry(alias)
    assert entry is not None
    targets = []
    for column in entry.columns:
        if column.hidden or column.merged:
            continue
        reference = {"ColumnRef": {"fields": [{"String": {"sval": alias}},
                                              {"String": {"sval": column.name}}],
                                   "location": location}}
        expr = compiler.compile(reference)
        targets.append(_Target(expr, column.name, None, column.table_oid, column.attnum))
    return targets


def _numbered(produce: Callable[[ExecContext], Iterator[Row]]
              ) -> Callable[[ExecContext], Iterator[Row]]:
    """WITH ORDINALITY: each row of a function in FROM followed by its number, from 1."""
    def rows(ctx: ExecContext) -> Iterator[Row]:
        for number, row in enumerate(produce(ctx), 1):
            yield (*row, number)
    return rows


def _keys_equal(left: Expr, right: Expr, offset: int) -> Expr:
    """``left = right`` over a joined row, for join keys of one type compiled against each
    side's own row (the right side's starts at ``offset``)."""
    impl = ops.resolve_operator("=", left.type_oid, right.type_oid).impl
    left_fn, right_fn = left.fn, right.fn

    def run(row: Row, ctx: ExecContext) -> Any:
        left_value, right_value = left_fn(row, ctx), right_fn(row[offset:], ctx)
        if left_value is None or right_value is None:
            return None
        return impl(left_value, right_value)
    return Expr(BOOL, run)


def _references_through(scope: Scope | None) -> int:
    """How many references from deeper levels the scopes from ``scope`` outwards have had
    compiled into them: a change while something was planned means it read those rows."""
    count = 0
    while scope is not None:
        count += scope.outer_references
        scope = scope.parent
    return count


def _comparator(type_oid: int) -> Callable[[Any, Any], int]:
    compare = T.compare
    return lambda a, b: compare(a, b, type_oid)


def _stronger(current: tuple[LockWaitPolicy, RowLockMode] | None, policy: LockWaitPolicy,
              mode: RowLockMode) -> tuple[LockWaitPolicy, RowLockMode]:
    """PostgreSQL's applyLockingClause: a relation named by several clauses gets the
    strongest wait policy and the strongest lock strength among them."""
    if current is None:
        return policy, mode
    stronger_mode = mode if LOCK_STRENGTH[mode] >= LOCK_STRENGTH[current[1]] else current[1]
    return max(policy, current[0]), stronger_mode


def _lock_policy(policies: dict[str | None, tuple[LockWaitPolicy, RowLockMode]],
                 alias: str | None, name: str) -> tuple[LockWaitPolicy, RowLockMode]:
    """(wait policy, lock strength) of one locked relation: the clauses naming it by alias or
    name, and those naming no relation."""
    found: tuple[LockWaitPolicy, RowLockMode] | None = None
    for key in (None, alias, name):
        if key in policies:
            found = _stronger(found, *policies[key])
    invariant(found is not None, "a locked relation matches a locking clause")
    return found or (LockWaitPolicy.BLOCK, RowLockMode.EXCLUSIVE)


def _and(exprs: list[Expr]) -> Expr:
    from mirrordb.sql.expressions import and_exprs
    return and_exprs(exprs)


def _colref(names: list[str]) -> Node:
    return {"ColumnRef": {"fields": [{"String": {"sval": n}} for n in names]}}


def _resolves(scope: Scope, names: list[str]) -> bool:
    try:
        return scope.find(names, -1) is not None
    except MirrordbError:
        return True


def _sorts_on_sets(sort_nodes: list[Node], sort_keys: list[tuple[int, bool, bool, int]],
                   targets: list[_Target]) -> bool:
    """Whether an ORDER BY key calls a set-returning function (in its own expression or in
    the select-list item it names)."""
    for sort, (position, *_) in zip(sort_nodes, sort_keys):
        tree = targets[position].node if position < len(targets) else sort["SortBy"]["node"]
        if srf.contains(tree):
            return True
    return False


def _location(node: Node) -> int:
    _, fields = one(node)
    return fields.get("location", -1) if isinstance(fields, dict) else -1


def _join_alias_scope(scope: Scope, alias: Node, scope_parent: Scope | None) -> Scope:
    """``(a JOIN b ...) AS j [(names)]``: one range entry ``j`` over the join's columns; the
    tables inside can no longer be named."""
    columns = scope.all_columns()
    visible = [c for c in columns if not c.hidden and not c.merged]
    renamed = dict(zip(map(id, visible), _alias_columns(alias, [c.name for c in visible])))
    joined = Scope(parent=scope_parent)
    joined.add(alias["aliasname"], [replace(c, name=renamed[id(c)]) if id(c) in renamed
                                    else replace(c, hidden=True) if c.merged else c
                                    for c in columns])
    return joined


def _entry_alias(scope: Scope, index: int) -> str:
    """The name a stored view qualifies the column at ``index`` of ``scope`` with."""
    for entry in scope.entries:
        if entry.offset <= index < entry.offset + len(entry.columns):
            return entry.alias or entry.columns[index - entry.offset].source_alias
    return ""


def _first_not_null(first: Expr, second: Expr) -> Expr:
    """COALESCE of two expressions of one type (a FULL JOIN's USING column)."""
    first_fn, second_fn = first.fn, second.fn

    def run(row: Row, ctx: ExecContext) -> Any:
        value = first_fn(row, ctx)
        return value if value is not None else second_fn(row, ctx)
    return Expr(first.type_oid, run, first.typmod, first.name)


def _alias_columns(alias: Node, names: list[str]) -> list[str]:
    given = strings(alias.get("colnames")) if alias else []
    return given + names[len(given):]


def _default_name(node: Node, expr: Expr) -> str:
    kind, fields = one(node)
    if kind == "ColumnRef":
        return strings(fields["fields"])[-1]
    if kind == "FuncCall":
        return strings(fields["funcname"])[-1]
    if kind == "TypeCast":
        inner = fields["arg"]
        if "ColumnRef" in inner or "FuncCall" in inner or "TypeCast" in inner or \
                "RowExpr" in inner:
            return _default_name(inner, expr)
        return expr.name
    if kind == "SubLink":
        if fields["subLinkType"] == "EXISTS_SUBLINK":
            return "exists"
        if fields["subLinkType"] == "EXPR_SUBLINK":
            return expr.name
        if fields["subLinkType"] == "ARRAY_SUBLINK":
            return "array"
        return "?column?"
    if kind == "GroupingFunc":
        return "grouping"
    if kind in ("CaseExpr", "CoalesceExpr", "MinMaxExpr", "SQLValueFunction"):
        return expr.name
    if kind == "A_Expr" and fields.get("kind") == "AEXPR_NULLIF":
        return "nullif"
    if kind == "A_ArrayExpr":
        return "array"
    if kind == "RowExpr":
        return "row"
    if kind == "A_Indirection":     # the last field selected, else the subscripted value's
        selected = [one(item)[1]["sval"] for item in fields["indirection"]
                    if one(item)[0] == "String"]
        return selected[-1] if selected else _default_name(fields["arg"], expr)
    return "?column?"


__all__ = ["PlanBuilder", "QueryPlan", "OutputColumn", "RELKIND_SEQUENCE", "UndefinedObject"]


def output_location(select: Node, index: int | None = None) -> int:
    """Where a query's ``index``-th output column (all of them: None) is written, in its
    leftmost SELECT's select list: the position PostgreSQL reports for a set operation's
    column errors; -1 when unknown (``*``, VALUES)."""
    while select.get("op", "SETOP_NONE") != "SETOP_NONE":
        select = select["larg"]
    targets = select.get("targetList") or []
    if index is None:
        return leftmost_location(targets)
    if index >= len(targets):
        return -1
    return leftmost_location(targets[index].get("ResTarget", {}).get("val"))


def _set_operation_types(context: str, left: list[OutputColumn], right: list[OutputColumn],
                         right_select: Node) -> list[int]:
    """The type each column of a set operation takes (PostgreSQL's select_common_type per
    column); errors point at the right side's select list, as PostgreSQL's do."""
    if len(left) != len(right):
        raise error_at(f"each {context} query must have the same number of columns", "42601",
                       output_location(right_select))
    types = []
    for index, (mine, theirs) in enumerate(zip(left, right)):
        try:
            types.append(T.common_type([mine.type_oid, theirs.type_oid], context))
        except MirrordbError as error:
            location = output_location(right_select, index)
            if getattr(error, "position", None) is None and location >= 0:
                error.position = location + 1  # type: ignore[attr-defined]
            raise
    return types


def _aggregate_call(node: Any) -> Node | None:
    """The first aggregate call (FuncCall fields) in ``node`` outside a subquery (only a
    sublink's test expression counts) and not as a window function; None if there is none.
    Walks with a stack, no recursion."""
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            call = item.get("FuncCall")
            if call is not None:
                name = strings(call["funcname"])[-1]
                if (aggs.is_aggregate(name) or call.get("agg_star")) and "over" not in call:
                    return call
            sublink = item.get("SubLink")
            if sublink is not None:
                pending.append(sublink.get("testexpr"))
                continue
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None
