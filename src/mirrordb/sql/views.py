"""Views: CREATE [OR REPLACE] VIEW, DROP VIEW, their dependencies, and planning a view's query.

Who calls it: ddl.py for the statements, the planner (``PlanBuilder._plan_view``) when a FROM
item names a view, catalog_functions for pg_get_viewdef. The catalog rows are written by the
engine's ``Txn.create_view``/``replace_view``/``drop``, so a view is WAL-logged catalog rows like
a table and reaches a standby with them.

A view is a pg_class row of relkind 'v' without a relation file, pg_attribute rows for its
columns (names and types fixed when it is created, as PostgreSQL's), and a "_RETURN" row in
pg_rewrite whose ev_action holds the stored query, a JSON object::

    {"query": <SelectStmt>,          the parse tree (libpg_query JSON, locations removed),
                                     with names resolved at CREATE time written out:
                                       - each ``*`` of the top select list becomes the
                                         columns it stood for, as alias.column
                                       - each column reference becomes alias.column
                                       - each relation in FROM carries "relid" (its OID) and
                                         an alias (its name then, when it had none)
     "relations": [oid, ...]}        the relations the query reads: the view's dependencies

A relation reference is planned by its OID (its current name is put in when the query is
loaded), so renaming a table a view reads keeps the view working, as in PostgreSQL, whose rule
holds the analyzed query with OIDs. A column is still referred to by name: renaming or dropping
a column a view uses is refused (PostgreSQL allows the rename; this is the difference).

Dependencies are read from the "relations" lists (pg_depend's normal dependencies of the rule
on the relations). DROP of a relation that views depend on is refused with PostgreSQL's
2BP01 error listing them, or, with CASCADE, drops them first with its NOTICE.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mirrordb.access.lmgr import NO_LOCK
from mirrordb.access.relation import RELKIND_VIEW, Column, Relation
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import executor as ex
from mirrordb.sql import persistence, roles, schemas
from mirrordb.sql import types as T
from mirrordb.sql.expressions import coerce, error_at, feature_not_supported
from mirrordb.sql.parser import Node, one, strings
from mirrordb.sql.planner import PlanBuilder, QueryPlan, ViewRecording, _column

MAX_VIEW_NESTING = 100      # views expanded inside one another before we call it recursion
INVALID_TABLE_DEFINITION = "42P16"
DEPENDENT_OBJECTS_STILL_EXIST = "2BP01"
KIND_WORDS = {"r": "table", "v": "view", "i": "index", "S": "sequence", "m": "materialized view"}


@dataclass(frozen=True)
class StoredQuery:
    """A view's pg_rewrite.ev_action, decoded."""

    query: Node
    relations: tuple[int, ...]

    @staticmethod
    def decode(text: str) -> StoredQuery:
        stored = json.loads(text)
        return StoredQuery(stored["query"], tuple(int(oid) for oid in stored["relations"]))

    def encode(self) -> str:
        return json.dumps({"query": self.query, "relations": list(self.relations)},
                          separators=(",", ":"))


# -- CREATE [OR REPLACE] VIEW ----------------------------------------------------------------------


def create_view(session: Any, txn: Any, node: Node) -> list[Any]:
    """CREATE [OR REPLACE] [TEMP] VIEW; its notices (a view reading a temporary relation
    is temporary itself, as PostgreSQL's isQueryUsingTempRelation makes it)."""
    range_var = node["view"]
    name = range_var["relname"]
    if range_var.get("relpersistence", "p") == "u":
        raise MirrordbError("views cannot be unlogged because they do not have storage",
                            sqlstate="42601")
    if node.get("options") or node.get("withCheckOption", "NO_CHECK_OPTION") != \
            "NO_CHECK_OPTION":
        raise feature_not_supported("view options and WITH CHECK OPTION")
    select = node["query"]["SelectStmt"]
    columns, stored = _analyze(session, select, strings(node.get("aliases")))
    notices: list[Any] = []
    if range_var.get("relpersistence", "p") != "t" and \
            persistence.uses_temp_relation(txn, stored.relations):
        notices.append(("NOTICE", f'view "{name}" will be a temporary view'))
        range_var = {**range_var, "relpersistence": "t", "location": -1}   # no position
    relpersistence, range_var = persistence.creating_relation(session, txn, range_var)
    namespace = schemas.creation_namespace(session, range_var.get("schemaname"), name,
                                           range_var.get("location"))
    existing = txn.find((namespace, name))
    if existing is not None and node.get("replace"):
        if existing.kind != RELKIND_VIEW:
            raise MirrordbError(f'"{name}" is not a view', sqlstate="42809")
        roles.check_table_ownership(session, existing)
        _check_replacement(existing, columns)
        txn.replace_view(existing, columns[existing.natts:], stored.encode())
        return notices
    if existing is not None:
        raise MirrordbError(f'relation "{name}" already exists', sqlstate="42P07")
    with txn.creating_persistence(relpersistence):
        txn.create_view(name, columns, stored.encode(), owner=roles.current_role_oid(session),
                        namespace_oid=namespace)
    return notices


def _analyze(session: Any, select: Node, aliases: list[str]
             ) -> tuple[list[Column], StoredQuery]:
    """Plan the query once (which checks it; privileges are checked when the view is used)
    and turn it into the columns and stored form of the view."""
    builder = PlanBuilder(session, [])
    builder.check_privileges = False
    recording = builder.view_recording = ViewRecording()
    plan = builder.plan_query(select)
    if builder.param_types:
        parameter = next(_nodes(select, "ParamRef"), {})
        raise error_at(f"there is no parameter ${parameter.get('number', 1)}", "42P02",
                       parameter.get("location"))
    if len(aliases) > len(plan.columns):
        raise MirrordbError("CREATE VIEW specifies more column names than columns",
                            sqlstate="42601")
    names = aliases + [c.name for c in plan.columns][len(aliases):]
    columns = []
    for name, column in zip(names, plan.columns):
        if any(c.name == name for c in columns):
            raise MirrordbError(f'column "{name}" specified more than once', sqlstate="42701")
        type_oid = T.TEXT_OID if column.type_oid == T.UNKNOWN_OID else column.type_oid
        columns.append(Column(name, type_oid, False, column.typmod))
    query = _spell_out(session, select, recording)
    relations = tuple(dict.fromkeys(_relation_ids(query)))
    return columns, StoredQuery(query, relations)


def _check_replacement(view: Relation, columns: list[Column]) -> None:
    """CREATE OR REPLACE VIEW may only add columns at the end (PostgreSQL's checkViewColumns)."""
    if len(columns) < view.natts:
        raise MirrordbError("cannot drop columns from view", sqlstate=INVALID_TABLE_DEFINITION)
    for old, new in zip(view.columns, columns):
        if old.name != new.name:
            raise MirrordbError(
                f'cannot change name of view column "{old.name}" to "{new.name}"',
                sqlstate=INVALID_TABLE_DEFINITION,
                hint="Use ALTER VIEW ... RENAME COLUMN ... to change name of view column "
                     "instead.")
        if (old.type_oid, old.typmod) != (new.type_oid, new.typmod):
            raise MirrordbError(
                f'cannot change data type of view column "{old.name}" from '
                f"{T.format_type(old.type_oid, old.typmod)} to "
                f"{T.format_type(new.type_oid, new.typmod)}",
                sqlstate=INVALID_TABLE_DEFINITION)


def _spell_out(session: Any, select: Node, recording: ViewRecording) -> Node:
    """The stored tree: stars expanded, column references qualified, relations by OID."""
    qualified_by_names: dict[tuple[str, ...], set[str]] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "ColumnRef" in node:
            return {"ColumnRef": _qualified(node["ColumnRef"])}
        if "RangeVar" in node:
            return {"RangeVar": _with_relid(node["RangeVar"])}
        if "JoinExpr" in node and id(node["JoinExpr"]) in recording.natural_joins:
            # stored as the USING list it meant, as PostgreSQL prints a NATURAL JOIN
            join = {k: v for k, v in node["JoinExpr"].items() if k != "isNatural"}
            join["usingClause"] = [{"String": {"sval": name}}
                                   for name in recording.natural_joins[id(node["JoinExpr"])]]
            return {"JoinExpr": walk(join)}
        result: dict[str, Any] = {}
        targets = walk(_expanded_targets(node["targetList"])) if "targetList" in node else []
        for key, value in node.items():
            if key == "location":
                continue
            if key == "targetList":
                result[key] = targets
            elif key == "sortClause":
                result[key] = [{"SortBy": {**walk({k: v for k, v in item["SortBy"].items()
                                                   if k != "node"}),
                                           "node": _output_or_input(item["SortBy"]["node"],
                                                                    targets, True)}}
                               for item in value]
            elif key == "groupClause":
                result[key] = [_output_or_input(item, targets, False) for item in value]
            else:
                result[key] = walk(value)
        return result

    def _output_or_input(item: Node, targets: list[Node], output_first: bool) -> Any:
        """A bare name in ORDER BY (output names first) or GROUP BY (input columns first)
        that names a select list item becomes that item's expression, as PostgreSQL
        stores the reference."""
        ref = item.get("ColumnRef")
        if ref is None or len(ref["fields"]) != 1 or "A_Star" in ref["fields"][0]:
            return walk(item)
        name = strings(ref["fields"])[0]
        output = next((t["ResTarget"]["val"] for t in targets
                       if _output_name(t["ResTarget"]) == name), None)
        if output is not None and (output_first or id(ref) not in recording.columns):
            return output
        return walk(item)

    def _qualified(ref: Node) -> Node:
        fields = ref["fields"]
        alias = recording.columns.get(id(ref))
        names = tuple(strings(fields)) if "A_Star" not in fields[-1] else ()
        if alias is None and len(names) == 1:
            candidates = qualified_by_names.get(names[-1:], set())
            alias = next(iter(candidates)) if len(candidates) == 1 else None
        if not alias or not names:      # "": a FULL JOIN's USING column, named bare
            return {"fields": fields if alias != "" else fields[-1:]}
        return {"fields": [{"String": {"sval": alias}}, {"String": {"sval": names[-1]}}]}

    def _expanded_targets(targets: list[Node]) -> list[Node]:
        result = []
        for target in targets:
            value = target["ResTarget"].get("val", {})
            ref = value.get("ColumnRef")
            if ref is not None and "A_Star" in ref["fields"][-1]:
                for alias, column in recording.stars.get(id(ref), []):
                    result.append(_target(alias, column))
                    recording.columns[id(result[-1]["ResTarget"]["val"]["ColumnRef"])] = alias
            else:
                result.append(target)
        return result

    def _with_relid(range_var: Node) -> Node:
        fields = {k: v for k, v in range_var.items() if k != "location"}
        name = fields["relname"]
        if fields.get("schemaname") is None and _is_cte_name(select, name):
            return fields
        if session.system_view(name, fields.get("schemaname")) is not None:
            return fields
        relation = session.lookup_relation(name, fields.get("schemaname"), NO_LOCK)
        if relation is None:
            return fields
        fields["relid"] = relation.oid
        fields.setdefault("alias", {"aliasname": name})
        fields.pop("schemaname", None)
        return fields

    _collect_qualifications(select, recording, qualified_by_names)
    return walk(select)  # type: ignore[no-any-return]


def _collect_qualifications(node: Any, recording: ViewRecording,
                            into: dict[tuple[str, ...], set[str]]) -> None:
    """For each column name resolved while planning, the aliases it resolved to: a reference
    the planner matched without resolving it (a grouped select list item equal to a GROUP BY
    expression) is qualified as its namesake was."""
    for ref in _nodes(node, "ColumnRef"):
        if id(ref) in recording.columns:
            names = strings(ref["fields"])
            into.setdefault((names[-1],), set()).add(recording.columns[id(ref)])


def _nodes(tree: Any, node_type: str) -> Iterator[Node]:
    """The fields of every ``node_type`` node in ``tree``, in document order."""
    pending: list[Any] = [tree]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(reversed(item))
        elif isinstance(item, dict):
            if node_type in item and isinstance(item[node_type], dict):
                yield item[node_type]
            pending.extend(reversed(list(item.values())))


def _output_name(target: Node) -> str | None:
    value = target["val"]
    if target.get("name"):
        return str(target["name"])
    if "ColumnRef" in value and "A_Star" not in value["ColumnRef"]["fields"][-1]:
        return strings(value["ColumnRef"]["fields"])[-1]
    return None


def _target(alias: str, column: str) -> Node:
    names = [alias, column] if alias else [column]     # "": a FULL JOIN's USING column
    return {"ResTarget": {"val": {"ColumnRef": {"fields": [{"String": {"sval": name}}
                                                           for name in names]}}}}


def _is_cte_name(select: Node, name: str) -> bool:
    return any(cte.get("ctename") == name for cte in _nodes(select, "CommonTableExpr"))


def _relation_ids(query: Node) -> list[int]:
    return [int(range_var["relid"]) for range_var in _nodes(query, "RangeVar")
            if "relid" in range_var]


# -- loading and planning ------------------------------------------------------------------------


def stored_query(txn: Any, view: Relation) -> StoredQuery:
    text = txn.view_rules().get(view.oid)
    if text is None:
        raise MirrordbError(f'could not find the query of view "{view.name}"', sqlstate="XX000")
    return StoredQuery.decode(text)


def with_current_names(query: Node, names_by_oid: dict[int, str],
                       schemas_by_oid: dict[int, str] | None = None) -> Node:
    """The stored tree with each relation's current name (it may have been renamed) and,
    given ``schemas_by_oid``, its schema (so the search path does not matter)."""
    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "RangeVar" in node and "relid" in node["RangeVar"]:
            fields = dict(node["RangeVar"])
            fields["relname"] = names_by_oid.get(int(fields["relid"]), fields["relname"])
            if schemas_by_oid and int(fields["relid"]) in schemas_by_oid:
                fields["schemaname"] = schemas_by_oid[int(fields["relid"])]
            return {"RangeVar": fields}
        return {key: walk(value) for key, value in node.items()}
    return walk(query)  # type: ignore[no-any-return]


def relation_names(txn: Any, oids: tuple[int, ...]) -> dict[int, str]:
    wanted = set(oids)
    return {int(values[0]): str(values[1])  # type: ignore[call-overload]
            for _, values in txn.engine.relcache.rows(boot.PG_CLASS, txn.transaction)
            if values[0] in wanted}


def _relation_schemas(session: Any, txn: Any, oids: tuple[int, ...]) -> dict[int, str]:
    wanted = set(oids)
    return {int(values[0]): schemas.namespace_name(session, int(values[2]))  # type: ignore
            for _, values in txn.engine.relcache.rows(boot.PG_CLASS, txn.transaction)
            if values[0] in wanted}


def plan_view_query(builder: PlanBuilder, view: Relation) -> QueryPlan:
    """Plan ``view``'s query for a FROM item: on its own (no outer columns, no outer WITH
    queries), checking the privileges of the view's owner on what it reads, its result
    converted to the view's column types."""
    session = builder.session
    if view.oid in builder.expanding_views or len(builder.expanding_views) >= MAX_VIEW_NESTING:
        raise MirrordbError(f'infinite recursion detected in rules for relation "{view.name}"',
                            sqlstate="42P17")
    txn = session.txn
    stored = stored_query(txn, view)
    query = with_current_names(stored.query, relation_names(txn, stored.relations),
                               _relation_schemas(session, txn, stored.relations))
    child = PlanBuilder(session, [])
    child.privilege_role = _owner_name(session, view)
    child.expanding_views = builder.expanding_views + (view.oid,)
    child.check_privileges = builder.check_privileges
    plan = child.plan_query(query)
    return _as_view_columns(child, plan, view)


def _owner_name(session: Any, view: Relation) -> str | None:
    entry = roles._entry_for(session, view)
    for role in roles.roles_by_name(session).values():
        if role.oid == entry.owner:
            return str(role.name)
    return None


def _as_view_columns(builder: PlanBuilder, plan: QueryPlan, view: Relation) -> QueryPlan:
    if len(plan.columns) < view.natts:
        raise MirrordbError(f'view "{view.name}" has fewer columns than its query gives',
                            sqlstate="XX000")
    same = len(plan.columns) == view.natts and all(
        c.type_oid == v.type_oid for c, v in zip(plan.columns, view.columns))
    if same:
        return plan
    exprs = [coerce(builder, _column(i, c.type_oid, c.name, c.typmod), v.type_oid, v.typmod,
                    "assignment")
             for i, (c, v) in enumerate(zip(plan.columns, view.columns))]
    return QueryPlan(ex.Project(plan.node, exprs, width=len(exprs)), plan.columns[:view.natts])


# -- dependencies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dependent:
    """A view that reads ``referenced`` (a relation OID), found while walking dependencies."""

    view_oid: int
    view_name: str
    referenced_oid: int
    kind: str = RELKIND_VIEW     # 'm' for a materialized view


def dependents(txn: Any, relation_oid: int) -> list[Dependent]:
    """Every view that depends on ``relation_oid``, directly or through other views, in the
    order PostgreSQL reports them (each object before the ones that depend on it)."""
    rules = {oid: StoredQuery.decode(text).relations for oid, text in txn.view_rules().items()}
    names, kinds = {}, {}
    for _, values in txn.engine.relcache.rows(boot.PG_CLASS, txn.transaction):
        if values[0] in rules:
            names[int(values[0])] = str(values[1])  # type: ignore[call-overload]
            kinds[int(values[0])] = str(values[4])
    found: list[Dependent] = []
    seen = {relation_oid}
    pending = [(relation_oid, view_oid) for view_oid in sorted(rules, reverse=True)]
    while pending:     # depth first: a view, then what depends on it
        referenced, view_oid = pending.pop()
        if referenced not in rules[view_oid] or view_oid in seen:
            continue
        seen.add(view_oid)
        found.append(Dependent(view_oid, names.get(view_oid, str(view_oid)), referenced,
                               kinds.get(view_oid, RELKIND_VIEW)))
        pending += [(view_oid, other) for other in sorted(rules, reverse=True)]
    return found


def check_drop(session: Any, txn: Any, relation: Relation, cascade: bool,
               dropping: set[int]) -> tuple[list[int], list[tuple[str, ...]]]:
    """Before ``relation`` is dropped: the views (OIDs) to drop first (most dependent first), the
    NOTICE of a CASCADE; 2BP01 if views depend on it and CASCADE was not given. Views in
    ``dropping`` (named by the same DROP) do not count against it."""
    found = [d for d in dependents(txn, relation.oid) if d.view_oid not in dropping]
    if not found:
        return [], []
    names = {oid: schemas.shown_name(session, txn, oid)
             for oid in [relation.oid, *(d.view_oid for d in found)]}
    kinds = {relation.oid: relation.kind, **{d.view_oid: d.kind for d in found}}
    lines = [f"{KIND_WORDS.get(kinds[d.view_oid], 'view')} {names[d.view_oid]} depends on "
             f"{KIND_WORDS.get(kinds.get(d.referenced_oid, 'v'), 'view')} "
             f"{names[d.referenced_oid]}" for d in found]
    noun = KIND_WORDS.get(relation.kind, "relation")
    if not cascade:
        raise MirrordbError(f"cannot drop {noun} {names[relation.oid]} because other objects "
                            "depend on it", sqlstate=DEPENDENT_OBJECTS_STILL_EXIST,
                            detail="\n".join(lines),
                            hint="Use DROP ... CASCADE to drop the dependent objects too.")
    cascades = [f"drop cascades to {KIND_WORDS.get(d.kind, 'view')} {names[d.view_oid]}"
                for d in found]
    if len(cascades) == 1:
        notice = ("NOTICE", cascades[0])
    else:
        notice = ("NOTICE", f"drop cascades to {len(cascades)} other objects",
                  "\n".join(cascades))
    return [d.view_oid for d in reversed(found)], [notice]


def check_column_unused(txn: Any, table: Relation, column: str, action: str) -> None:
    """ALTER TABLE DROP/RENAME COLUMN: refused while a view's query names the column (views
    refer to columns by name, see the module docstring)."""
    for dependent in dependents(txn, table.oid):
        if dependent.referenced_oid != table.oid:
            continue
        stored = StoredQuery.decode(txn.view_rules()[dependent.view_oid])
        if column in _column_names(stored.query):
            if action == "drop":
                raise MirrordbError(
                    f"cannot drop column {column} of table {table.name} because other objects "
                    "depend on it", sqlstate=DEPENDENT_OBJECTS_STILL_EXIST,
                    detail=f"view {dependent.view_name} depends on column {column} of table "
                           f"{table.name}",
                    hint="Use DROP ... CASCADE to drop the dependent objects too.")
            raise feature_not_supported(
                f'renaming column "{column}" of table "{table.name}", which view '
                f'"{dependent.view_name}" uses,')


def _column_names(query: Node) -> set[str]:
    return {strings(ref["fields"])[-1] for ref in _nodes(query, "ColumnRef")
            if "A_Star" not in ref["fields"][-1]}


def refuse_change(relation: Relation, command: str) -> MirrordbError:
    """INSERT/UPDATE/DELETE on a view: mirrordb does not update views automatically."""
    verb = {"INSERT": "insert into", "UPDATE": "update", "DELETE": "delete from"}[command]
    return MirrordbError(f'cannot {verb} view "{relation.name}"', sqlstate="0A000",
                         detail="mirrordb does not update views automatically.",
                         hint=f"{command} into the view's tables instead." if command == "INSERT"
                         else f"{command} the view's tables instead.")


__all__ = ["create_view", "plan_view_query", "stored_query", "with_current_names",
           "relation_names", "dependents", "check_drop", "check_column_unused",
           "refuse_change", "StoredQuery"]
