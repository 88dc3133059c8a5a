"""CREATE TABLE AS, SELECT INTO and materialized views (CREATE, REFRESH, reading one).

Who calls it: the session (sql/session.py) for CreateTableAsStmt, a SelectStmt with an
intoClause and RefreshMatViewStmt; the planner (``check_populated``) when a FROM item is a
materialized view; sysviews for pg_matviews. Catalog rows and files are the engine's
(``Txn.create_table``, ``Txn.create_matview``, ``Txn.truncate``, ``Txn.set_view_action``), so
everything here is WAL-logged and reaches a standby like any table's rows.

A new table's columns are the query's result columns, as PostgreSQL derives them: names from
the select list (or the column name list, which renames the first ones), types and typmods
from the expressions, an unknown-typed literal becoming text.

A materialized view is a pg_class row of relkind 'm' with a relation file holding its rows,
and a "_RETURN" rule in pg_rewrite holding its query in views.py's stored form, plus
``"populated": false`` while it has never been filled (pg_class.relispopulated, which
sql/sysviews.py shows from it). REFRESH gives it a new, empty file as TRUNCATE does and
inserts the query's rows, all in the refreshing transaction.
"""

from __future__ import annotations

import json
from typing import Any

from mirrordb.access.lmgr import NO_LOCK, LockMode
from mirrordb.access.relation import RELKIND_MATVIEW, Column, Relation
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import persistence, roles, schemas, system_columns, views
from mirrordb.sql import types as T
from mirrordb.sql.expressions import feature_not_supported
from mirrordb.sql.parser import Node, one, strings
from mirrordb.sql.planner import OutputColumn, PlanBuilder, QueryPlan

OBJECT_NOT_IN_PREREQUISITE_STATE = "55000"


# -- CREATE TABLE AS / SELECT INTO / CREATE MATERIALIZED VIEW -----------------------------------


def create_table_as(session: Any, node: Node, params: list[Any]) -> tuple[str, list[Any]]:
    """CreateTableAsStmt: the command tag and notices."""
    into = node["into"]
    matview = node.get("objtype") == "OBJECT_MATVIEW"
    query_kind, query = one(node["query"])
    if query_kind == "ExecuteStmt":
        if matview:
            raise MirrordbError("materialized views may not be defined using bound parameters",
                                sqlstate="0A000")
        query = _prepared_query(session, query)
    tag = "CREATE MATERIALIZED VIEW" if matview else "CREATE TABLE AS"
    txn = session._ensure_transaction()
    range_var = into["rel"]
    name = range_var["relname"]
    relpersistence, range_var = persistence.creating_relation(session, txn, range_var)
    persistence.check_on_commit(relpersistence, into.get("onCommit"))
    if matview and range_var.get("relpersistence", "p") == "u":
        raise MirrordbError("materialized views cannot be unlogged", sqlstate="0A000")
    namespace = schemas.creation_namespace(session, range_var.get("schemaname"), name)
    if node.get("if_not_exists") and _exists(txn, name, namespace):
        return tag, [f'relation "{name}" already exists, skipping']
    if matview:
        return _create_matview(session, txn, name, namespace, into, query, tag)
    builder = PlanBuilder(session, [])
    plan = builder.plan_query(query)
    columns = _columns(plan.columns, strings(into.get("colNames")))
    if _exists(txn, name, namespace):
        raise MirrordbError(f'relation "{name}" already exists', sqlstate="42P07")
    with txn.creating_persistence(relpersistence):
        relation = txn.create_table(name, columns, owner=roles.current_role_oid(session),
                                    namespace_oid=namespace)
    persistence.register_on_commit(session, txn, range_var, into.get("onCommit"))
    if into.get("skipData"):
        return tag, []
    count = _fill(session, txn, relation, plan, params)
    return f"SELECT {count}", []


def select_into(session: Any, node: Node, params: list[Any]) -> tuple[str, list[Any]]:
    """SELECT ... INTO [TABLE] name: CREATE TABLE name AS SELECT ... without the INTO."""
    select = {k: v for k, v in node.items() if k != "intoClause"}
    statement = {"query": {"SelectStmt": select}, "into": node["intoClause"],
                 "objtype": "OBJECT_TABLE"}
    return create_table_as(session, statement, params)


def _prepared_query(session: Any, execute: Node) -> Node:
    """CREATE TABLE AS EXECUTE name: the prepared SELECT, its parameters written in as the
    EXECUTE's argument expressions (they are planned and typed with the query)."""
    target = session.prepared.get(execute["name"])
    if target is None:
        raise MirrordbError(f'prepared statement "{execute["name"]}" does not exist',
                            sqlstate="26000")
    statement = target.statement
    if statement is None or statement.node_type != "SelectStmt":
        raise MirrordbError("prepared statement is not a SELECT", sqlstate="42809")
    arguments = execute.get("params", [])
    if len(arguments) != len(target.param_types):
        raise MirrordbError(f'wrong number of parameters for prepared statement '
                            f'"{execute["name"]}"', sqlstate="42601",
                            detail=f"Expected {len(target.param_types)} parameters but got "
                                   f"{len(arguments)}.")
    return _substitute(statement.node, arguments, target.param_types)


def _substitute(tree: Any, arguments: list[Node], types: list[int]) -> Any:
    if isinstance(tree, list):
        return [_substitute(item, arguments, types) for item in tree]
    if not isinstance(tree, dict):
        return tree
    if "ParamRef" in tree:
        number = int(tree["ParamRef"].get("number", 0))
        argument = arguments[number - 1]
        type_oid = types[number - 1]
        if type_oid in (0, T.UNKNOWN_OID):
            return argument
        return {"TypeCast": {"arg": argument, "typeName": {
            "names": [{"String": {"sval": T.format_type(type_oid, -1)}}], "typemod": -1}}}
    return {key: _substitute(value, arguments, types) for key, value in tree.items()}


def _columns(output: list[OutputColumn], names: list[str]) -> list[Column]:
    """The new relation's columns from the query's: the name list renames the first ones;
    unknown becomes text."""
    if len(names) > len(output):
        raise MirrordbError("too many column names were specified", sqlstate="42601")
    columns: list[Column] = []
    for index, column in enumerate(output):
        name = names[index] if index < len(names) else column.name
        if any(c.name == name for c in columns):
            raise MirrordbError(f'column "{name}" specified more than once', sqlstate="42701")
        system_columns.check_column_name(name)
        type_oid = T.TEXT_OID if column.type_oid == T.UNKNOWN_OID else column.type_oid
        columns.append(Column(name, type_oid, False, column.typmod))
    return columns


def _fill(session: Any, txn: Any, relation: Relation, plan: QueryPlan,
          params: list[Any]) -> int:
    """Insert the rows of ``plan`` into ``relation``; their number."""
    ctx = session._context(params)
    width = relation.natts
    count = 0
    for row in plan.node.rows(ctx):
        txn.insert(relation, tuple(row[:width]))
        count += 1
    txn.transaction.command_counter_increment()
    return count


def _exists(txn: Any, name: str, namespace: int) -> bool:
    """Whether schema ``namespace`` has a relation ``name`` (names are unique per schema)."""
    return txn.find((namespace, name)) is not None


# -- materialized views ----------------------------------------------------------------------------


def _create_matview(session: Any, txn: Any, name: str, namespace: int, into: Node,
                    query: Node, tag: str) -> tuple[str, list[Any]]:
    select = query
    if _nodes_of(select, "ParamRef"):
        raise MirrordbError("materialized views may not be defined using bound parameters",
                            sqlstate="0A000")
    aliases = strings(into.get("colNames"))
    plan = PlanBuilder(session, []).plan_query(select)
    _columns(plan.columns, aliases)            # the name list's errors, as CREATE TABLE AS
    columns, stored = views._analyze(session, select, aliases)
    if persistence.uses_temp_relation(txn, stored.relations):
        raise MirrordbError("materialized views must not use temporary tables or views",
                            sqlstate="0A000")
    populated = not into.get("skipData")
    if _exists(txn, name, namespace):
        raise MirrordbError(f'relation "{name}" already exists', sqlstate="42P07")
    matview = txn.create_matview(name, columns, _encode(stored, populated),
                                 owner=roles.current_role_oid(session), namespace_oid=namespace)
    if not populated:
        return tag, []
    count = _fill(session, txn, matview, plan, [])
    return f"SELECT {count}", []


def _encode(stored: views.StoredQuery, populated: bool) -> str:
    value = json.loads(stored.encode())
    value["populated"] = populated
    return json.dumps(value, separators=(",", ":"))


def is_populated(rule_text: str | None) -> bool:
    """Whether a materialized view's stored rule says it holds its query's rows."""
    return rule_text is None or bool(json.loads(rule_text).get("populated", True))


def refresh(session: Any, node: Node) -> str:
    """REFRESH MATERIALIZED VIEW [CONCURRENTLY] name [WITH [NO] DATA]."""
    range_var = node["relation"]
    name, schema = range_var["relname"], range_var.get("schemaname")
    txn = session._ensure_transaction()
    found = session.lookup_relation(name, schema, NO_LOCK)
    if found is None:
        raise MirrordbError(f'relation "{name if not schema else schema + "." + name}" does '
                            "not exist", sqlstate="42P01")
    if found.kind != RELKIND_MATVIEW:
        raise MirrordbError(f'"{name}" is not a materialized view', sqlstate="0A000")
    roles.check_table_ownership(session, found)
    matview = session.lookup_relation(name, schema, LockMode.ACCESS_EXCLUSIVE)
    stored = views.stored_query(txn, matview)
    if node.get("concurrent"):
        if not is_populated(txn.view_rules().get(matview.oid)):
            raise MirrordbError("CONCURRENTLY cannot be used when the materialized view is not "
                                "populated", sqlstate="0A000")
        if node.get("skipData"):
            raise MirrordbError("REFRESH options CONCURRENTLY and WITH NO DATA cannot be used "
                                "together", sqlstate="42601")
        raise feature_not_supported("REFRESH MATERIALIZED VIEW CONCURRENTLY")
    populated = not node.get("skipData")
    plan = None
    if populated:
        builder = PlanBuilder(session, [])
        plan = views.plan_view_query(builder, matview)
    txn.truncate(matview.oid)
    txn.set_view_action(matview, _encode(stored, populated))
    if plan is not None:
        _fill(session, txn, txn.relation(matview.oid), plan, [])
    return "REFRESH MATERIALIZED VIEW"


def check_populated(txn: Any, matview: Relation) -> None:
    """Reading a materialized view created or refreshed WITH NO DATA: 55000."""
    if not is_populated(txn.view_rules().get(matview.oid)):
        raise MirrordbError(f'materialized view "{matview.name}" has not been populated',
                            sqlstate=OBJECT_NOT_IN_PREREQUISITE_STATE,
                            hint="Use the REFRESH MATERIALIZED VIEW command.")


def pg_matviews_rows(snapshot: Any, owner_name: Any) -> list[tuple[Any, ...]]:
    """pg_matviews: one row per materialized view; ``owner_name`` maps a role OID to its
    name (sysviews' helper)."""
    from mirrordb.sql import catalog_functions as cat
    rows = []
    for entry in sorted(snapshot.classes.values(), key=lambda e: e.name):
        if entry.kind != RELKIND_MATVIEW:
            continue
        rows.append((snapshot.namespace_name(entry.namespace_oid), entry.name,
                     owner_name(snapshot, entry.owner_oid), None,
                     bool(snapshot.indexes_of_table.get(entry.oid)),
                     is_populated(snapshot.view_queries.get(entry.oid)),
                     cat.view_definition(snapshot, entry.oid, pretty=False)))
    return rows


def _nodes_of(tree: Any, node_type: str) -> list[Node]:
    return list(views._nodes(tree, node_type))


__all__ = ["create_table_as", "select_into", "refresh", "check_populated", "is_populated"]
