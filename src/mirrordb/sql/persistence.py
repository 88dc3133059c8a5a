"""Relation persistence in SQL: UNLOGGED and TEMPORARY relations as the statements see them.

Who calls it: sql/ddl.py, views.py and create_table_as.py (CREATE [UNLOGGED | TEMP] TABLE /
SEQUENCE / VIEW / TABLE AS choose the persistence their relations get and, for a temporary one,
the session's schema: ``creating``, ``creating_relation``; ALTER TABLE's added columns' sequences
follow the table, ``like``; ALTER TABLE ... SET LOGGED / SET UNLOGGED, ``set_persistence``),
sql/foreign_keys.py (which tables a foreign key may join, ``check_reference``), the planner and
dml.py (``check_accessible``: a query on a standby may not read an unlogged or temporary
relation, whose pages a standby never receives, nor a session another session's temporary
table) and the session (``changes_only_temp_table``: what a read-only transaction may still
change). The other halves: the engine gives a relation file its persistence (engine.py
``Txn.creating_persistence``, access/unlogged.py), the access methods write no WAL for such a
file (access/env.py), recovery resets unlogged relations from their init forks
(storage/reinit.py), and sql/temp_tables.py keeps each session's temporary schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mirrordb.access.relation import (RELKIND_INDEX, RELKIND_MATVIEW, RELKIND_SEQUENCE,
                                      RELKIND_TABLE, RELKIND_VIEW, RELPERSISTENCE_PERMANENT,
                                      RELPERSISTENCE_TEMP, RELPERSISTENCE_UNLOGGED, Relation)
from mirrordb.access.lmgr import NO_LOCK
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import constraints, owners, schemas, temp_tables
from mirrordb.sql.expressions import feature_not_supported
from mirrordb.sql.parser import Node


def creating_relation(session: Any, txn: Any, range_var: Node) -> tuple[str, Node]:
    """The pg_class.relpersistence of the relation a CREATE statement names, and its name
    with the session's temporary schema filled in for a temporary one (made if needed): as
    PostgreSQL's RangeVarAdjustRelationPersistence, a relation created in pg_temp (or in
    pg_temp_N by its session) is temporary, and a temporary one may not name another
    schema."""
    persistence = str(range_var.get("relpersistence", RELPERSISTENCE_PERMANENT))
    schema = range_var.get("schemaname")
    location = range_var.get("location")
    position = None if location is None or location < 0 else location + 1
    temp = temp_tables.state(session)
    mine = temp_tables.namespace_name(temp.backend_id) if temp is not None else None
    if schema is not None and temp_tables.is_other_temp_namespace(session, schema) and \
            schema != mine:
        raise MirrordbError("cannot create relations in temporary schemas of other sessions",
                            sqlstate="42P16", position=position)
    if schema is not None and schema in ("pg_temp", mine):
        persistence = RELPERSISTENCE_TEMP
    elif persistence == RELPERSISTENCE_TEMP and schema is not None:
        raise MirrordbError("cannot create temporary relation in non-temporary schema",
                            sqlstate="42P16", position=position)
    if persistence != RELPERSISTENCE_TEMP:
        return persistence, range_var
    if temp is None:
        raise feature_not_supported("temporary tables outside a session")
    temp_tables.ensure_namespace(session, txn)
    return persistence, {**range_var, "schemaname": mine, "relpersistence": persistence}


@contextmanager
def like(txn: Any, relation: Relation) -> Iterator[None]:
    """Relations created inside (an added column's sequence) get ``relation``'s persistence
    (and, if temporary, its session's files)."""
    saved = txn.temp_backend_id
    txn.temp_backend_id = getattr(relation.rnode, "backend", saved)
    try:
        with txn.creating_persistence(relation.persistence):
            yield
    finally:
        txn.temp_backend_id = saved


def creating(session: Any, txn: Any, node: Node, key: str) -> tuple[str, Node]:
    """``creating_relation`` for the statement ``node`` whose ``key`` names the relation:
    the persistence and the statement naming its schema."""
    persistence, range_var = creating_relation(session, txn, node[key])
    return persistence, {**node, key: range_var}


def uses_temp_relation(txn: Any, relation_oids: tuple[int, ...]) -> bool:
    """Whether a view's query reads a temporary relation."""
    for oid in relation_oids:
        relation = txn.find(oid)
        if relation is not None and relation.persistence == RELPERSISTENCE_TEMP:
            return True
    return False


_DML_TARGETS = {"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"}


def changes_only_temp_table(session: Any, node_type: str, node: Node) -> bool:
    """Whether an INSERT, UPDATE, DELETE or MERGE changes one of the session's temporary tables,
    which a read-only transaction may do (PostgreSQL's ExecCheckXactReadOnly skips them)."""
    if node_type not in _DML_TARGETS or node.get("withClause"):
        return False
    range_var = node.get("relation", {})
    relation = session.lookup_relation(range_var.get("relname", ""),
                                       range_var.get("schemaname"), NO_LOCK)
    return relation is not None and relation.persistence == RELPERSISTENCE_TEMP and \
        relation.namespace_oid == temp_tables.namespace_oid(session)


def check_on_commit(persistence: str, on_commit: str | None) -> None:
    """ON COMMIT DELETE ROWS / DROP are for temporary tables only (PostgreSQL's heap.c)."""
    if on_commit in (None, "ONCOMMIT_NOOP", "ONCOMMIT_PRESERVE_ROWS"):
        return
    if persistence != RELPERSISTENCE_TEMP:
        raise MirrordbError("ON COMMIT can only be used on temporary tables", sqlstate="42P16")


def register_on_commit(session: Any, txn: Any, range_var: Node, on_commit: str | None) -> None:
    """A new temporary table's ON COMMIT DELETE ROWS or DROP, remembered by its session."""
    if on_commit in (temp_tables.ON_COMMIT_DROP, temp_tables.ON_COMMIT_DELETE_ROWS):
        namespace = schemas.lookup_namespace(session, range_var["schemaname"]).oid
        relation = txn.find((namespace, range_var["relname"]))
        if relation is not None:
            temp_tables.register_on_commit(session, relation.oid, str(on_commit))


def check_accessible(session: Any, relation: Relation) -> None:
    """PostgreSQL's planner (get_relation_info) refuses, during recovery, a relation whose
    pages are not WAL-logged; and nobody reads another session's temporary table (its
    pages are that session's)."""
    if relation.persistence == RELPERSISTENCE_PERMANENT:
        return
    if session.engine.in_recovery():
        raise MirrordbError("cannot access temporary or unlogged relations during recovery",
                            sqlstate="0A000")
    if relation.persistence == RELPERSISTENCE_TEMP and \
            relation.namespace_oid != temp_tables.namespace_oid(session):
        raise MirrordbError("cannot access temporary tables of other sessions",
                            sqlstate="0A000")


_TARGETS = {"AT_SetLogged": RELPERSISTENCE_PERMANENT, "AT_SetUnLogged": RELPERSISTENCE_UNLOGGED}


def set_persistence(session: Any, txn: Any, relation: Relation, command: Node) -> None:
    """ALTER TABLE ... SET LOGGED / SET UNLOGGED, also ALTER SEQUENCE (PostgreSQL's
    ATPrepChangePersistence): nothing to do when the relation already has that persistence;
    otherwise the foreign keys must allow it, and the table, its indexes and its sequences
    are rewritten (``Txn.set_persistence``)."""
    persistence = _TARGETS[command["subtype"]]
    if relation.persistence == RELPERSISTENCE_TEMP:
        raise MirrordbError(f'cannot change logged status of table "{relation.name}" because '
                            "it is temporary", sqlstate="42P16")
    if relation.persistence == persistence:
        return
    if relation.kind != RELKIND_SEQUENCE:
        _check_foreign_keys(txn, relation, persistence)
    sequences = [txn.relation(oid) for oid in owners.owned_sequences(txn, relation.oid)]
    txn.set_persistence(relation, persistence,
                        [s for s in sequences if s.persistence != persistence])


def _check_foreign_keys(txn: Any, relation: Relation, persistence: str) -> None:
    """A logged table may not reference an unlogged one: SET LOGGED looks at the tables this
    one references, SET UNLOGGED at those referencing it (PostgreSQL's words for both)."""
    to_logged = persistence == RELPERSISTENCE_PERMANENT
    for stored in constraints.stored_constraints(txn):
        if stored.contype != constraints.CONTYPE_FOREIGN:
            continue
        mine, other_oid = ((stored.relation_oid, stored.referenced_oid) if to_logged
                           else (stored.referenced_oid, stored.relation_oid))
        if mine != relation.oid or other_oid == relation.oid:
            continue
        other = txn.relation(other_oid)
        if to_logged and other.persistence != RELPERSISTENCE_PERMANENT:
            raise MirrordbError(f'could not change table "{relation.name}" to logged because '
                                f'it references unlogged table "{other.name}"',
                                sqlstate="42P16")
        if not to_logged and other.persistence == RELPERSISTENCE_PERMANENT:
            raise MirrordbError(f'could not change table "{relation.name}" to unlogged because '
                                f'it references logged table "{other.name}"',
                                sqlstate="42P16")


def check_reference(child: Relation, parent: Relation) -> None:
    """A foreign key's tables: a permanent table may reference only permanent ones, an
    unlogged one permanent or unlogged ones (PostgreSQL's ATAddForeignKeyConstraint)."""
    if child.persistence == RELPERSISTENCE_PERMANENT and \
            parent.persistence != RELPERSISTENCE_PERMANENT:
        raise MirrordbError("constraints on permanent tables may reference only permanent "
                            "tables", sqlstate="42P16")
    if child.persistence == RELPERSISTENCE_UNLOGGED and parent.persistence == RELPERSISTENCE_TEMP:
        raise MirrordbError("constraints on unlogged tables may reference only permanent or "
                            "unlogged tables", sqlstate="42P16")
    if child.persistence == RELPERSISTENCE_TEMP and parent.persistence != RELPERSISTENCE_TEMP:
        raise MirrordbError("constraints on temporary tables may reference only temporary "
                            "tables", sqlstate="42P16")


def refuse_alteration(relation: Relation, commands: list[Node]) -> bool:
    """Whether every command is SET LOGGED / UNLOGGED, which ALTER may do to a table or a
    sequence; on a view, materialized view or index they fail with PostgreSQL's words."""
    wanted = [c["AlterTableCmd"]["subtype"] for c in commands]
    if not any(subtype in _TARGETS for subtype in wanted):
        return False
    if relation.kind not in (RELKIND_TABLE, RELKIND_SEQUENCE):
        action = "SET LOGGED" if "AT_SetLogged" in wanted else "SET UNLOGGED"
        raise MirrordbError(f'ALTER action {action} cannot be performed on relation '
                            f'"{relation.name}"', sqlstate="42809",
                            detail="This operation is not supported for "
                                   f"{_PLURALS[relation.kind]}.")
    return all(subtype in _TARGETS for subtype in wanted)


_PLURALS = {RELKIND_VIEW: "views", RELKIND_MATVIEW: "materialized views",
            RELKIND_INDEX: "indexes"}

ALTER_HANDLERS = {"AT_SetLogged": set_persistence, "AT_SetUnLogged": set_persistence}

__all__ = ["creating_relation", "creating", "like", "uses_temp_relation",
           "changes_only_temp_table", "check_on_commit", "register_on_commit",
           "check_accessible", "set_persistence", "check_reference", "refuse_alteration",
           "ALTER_HANDLERS"]
