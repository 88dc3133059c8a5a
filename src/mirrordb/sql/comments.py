"""COMMENT ON and the functions that read comments back.

Who calls it: the session (``CommentStmt``); catalog_functions.py defines obj_description,
col_description and shobj_description with the readers here (psql's ``\\d+``, ``\\dt+``,
``\\dn+``, ``\\du+`` and ``\\l+`` call them); sysviews.py serves pg_description and
pg_shdescription from the same heap catalogs; the engine's DROP removes a relation's rows.

Where comments live, as in PostgreSQL: pg_description (objoid, classoid, objsubid,
description) for objects of the database (relations: classoid pg_class, objsubid the column
number or 0; schemas: classoid pg_namespace), pg_shdescription (objoid, classoid,
description) for shared objects (roles: pg_authid; databases: pg_database). Setting a comment
replaces the object's row; ``IS NULL`` or ``IS ''`` removes it. The rows are ordinary
WAL-logged catalog rows, so a standby shows the primary's comments.

Checks and messages are PostgreSQL's (comment.c CommentObject, objectaddress.c): the object
must exist and be of the kind named, and the role must own it (roles: superusers for
superusers, CREATEROLE for the others); a missing database is only a WARNING.
"""

from __future__ import annotations

from typing import Any

from mirrordb.access.lmgr import NO_LOCK
from mirrordb.access.relation import (RELKIND_INDEX, RELKIND_SEQUENCE, RELKIND_TABLE,
                                      RELKIND_VIEW, Relation)
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import roles, schemas
from mirrordb.sql.databases import find_database
from mirrordb.sql.ddl import column_number
from mirrordb.sql.role_settings import check_database_owner
from mirrordb.sql.expressions import ExecContext, feature_not_supported
from mirrordb.sql.parser import Node, strings

_RELATION_KINDS = {"OBJECT_TABLE": (RELKIND_TABLE, "table"),
                   "OBJECT_VIEW": (RELKIND_VIEW, "view"),
                   "OBJECT_SEQUENCE": (RELKIND_SEQUENCE, "sequence"),
                   "OBJECT_INDEX": (RELKIND_INDEX, "index")}
_COLUMN_KINDS = (RELKIND_TABLE, RELKIND_VIEW, "p")      # 'p': a partitioned table
_PLURALS = {RELKIND_SEQUENCE: "sequences", RELKIND_INDEX: "indexes"}
_CATALOG_OIDS = {"pg_class": boot.PG_CLASS_OID, "pg_namespace": boot.PG_NAMESPACE_OID,
                 "pg_authid": boot.PG_AUTHID_OID, "pg_database": boot.PG_DATABASE_OID,
                 "pg_proc": boot.PG_PROC_OID, "pg_type": boot.PG_TYPE_OID}
_CACHE_KEY = "comments:"


def comment(session: Any, txn: Any, node: Node) -> list[Any]:
    """COMMENT ON <object> IS 'text' | NULL; the notices."""
    objtype = node["objtype"]
    text = node.get("comment") or None
    if objtype in _RELATION_KINDS:
        relation = _relation(session, strings(node["object"]["List"]["items"]), objtype)
        set_description(txn, relation.oid, boot.PG_CLASS_OID, 0, text)
    elif objtype == "OBJECT_COLUMN":
        relation, attnum = _column(session, strings(node["object"]["List"]["items"]))
        set_description(txn, relation.oid, boot.PG_CLASS_OID, attnum, text)
    elif objtype in ("OBJECT_TYPE", "OBJECT_DOMAIN"):
        from mirrordb.sql import type_ddl
        set_description(txn, type_ddl.comment_target(session, node), boot.PG_TYPE_OID, 0, text)
    elif objtype == "OBJECT_SCHEMA":
        entry = schemas.lookup_namespace(session, node["object"]["String"]["sval"])
        schemas._check_schema_owner(session, entry)
        set_description(txn, entry.oid, boot.PG_NAMESPACE_OID, 0, text)
    elif objtype in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE"):
        from mirrordb.sql import user_functions
        routine = user_functions.lookup_object(session, node["object"]["ObjectWithArgs"],
                                               objtype)
        assert routine is not None
        user_functions.check_owner(session, routine)
        set_description(txn, routine.oid, boot.PG_PROC_OID, 0, text)
    elif objtype == "OBJECT_ROLE":
        role = _role(session, node["object"]["String"]["sval"])
        set_shared_description(txn, role.oid, boot.PG_AUTHID_OID, text)
    elif objtype == "OBJECT_DATABASE":
        name = node["object"]["String"]["sval"]
        database = find_database(txn, name)
        if database is None:
            return [MirrordbError(f'database "{name}" does not exist', sqlstate="3D000")]
        check_database_owner(session, name, database.owner_oid)
        set_shared_description(txn, database.oid, boot.PG_DATABASE_OID, text)
    else:
        raise feature_not_supported(f"COMMENT ON {objtype.removeprefix('OBJECT_')}")
    return []


def _relation(session: Any, names: list[str], objtype: str) -> Relation:
    kind, word = _RELATION_KINDS[objtype]
    schema = names[-2] if len(names) > 1 else None
    relation = session.lookup_relation(names[-1], schema, NO_LOCK)
    if relation is None:
        raise MirrordbError(f'relation "{".".join(names)}" does not exist', sqlstate="42P01")
    if relation.kind != kind and (kind, relation.kind) not in (("r", "p"), ("i", "I")):
        article = "an" if word == "index" else "a"     # 'p', 'I': partitioned
        raise MirrordbError(f'"{names[-1]}" is not {article} {word}', sqlstate="42809")
    _check_owner(session, relation, word)
    return relation


def _check_owner(session: Any, relation: Relation, word: str) -> None:
    """check_object_ownership: named by the kind the statement gave."""
    try:
        roles.check_table_ownership(session, relation)
    except MirrordbError:
        raise MirrordbError(f"must be owner of {word} {relation.name}",
                            sqlstate="42501") from None


def _column(session: Any, names: list[str]) -> tuple[Relation, int]:
    if len(names) < 2:
        raise MirrordbError("column name must be qualified", sqlstate="42601")
    *relation_names, column = names
    schema = relation_names[-2] if len(relation_names) > 1 else None
    relation = session.lookup_relation(relation_names[-1], schema, NO_LOCK)
    if relation is None:
        raise MirrordbError(f'relation "{".".join(relation_names)}" does not exist',
                            sqlstate="42P01")
    attnum = column_number(relation, column)
    if relation.kind not in _COLUMN_KINDS:
        raise MirrordbError(f'cannot set comment on relation "{relation.name}"',
                            sqlstate="42809",
                            detail=f"This operation is not supported for "
                                   f"{_PLURALS.get(relation.kind, 'relations')}.")
    _check_owner(session, relation, "relation")
    return relation, attnum


def _role(session: Any, name: str) -> roles.Role:
    role = roles.roles_by_name(session).get(name)
    if role is None:
        raise roles.role_missing(name)
    if role.superuser:
        if not roles.is_superuser(session):
            raise MirrordbError("must be superuser", sqlstate="42501")
    elif not roles.has_createrole(session):
        raise MirrordbError("must have CREATEROLE privilege", sqlstate="42501")
    return role


# -- the catalog rows -----------------------------------------------------------------------------


def set_description(txn: Any, objoid: int, classoid: int, objsubid: int,
                    text: str | None) -> None:
    """Replace the object's pg_description row (none when ``text`` is None)."""
    txn._delete_catalog_rows(boot.PG_DESCRIPTION, lambda v: v[0] == objoid
                             and v[1] == classoid and v[2] == objsubid)
    if text is not None:
        txn._insert_catalog(boot.PG_DESCRIPTION, [objoid, classoid, objsubid, text])
    txn.transaction.command_counter_increment()


def set_shared_description(txn: Any, objoid: int, classoid: int, text: str | None) -> None:
    """Replace the shared object's pg_shdescription row (none when ``text`` is None)."""
    txn._delete_catalog_rows(boot.PG_SHDESCRIPTION,
                             lambda v: v[0] == objoid and v[1] == classoid)
    if text is not None:
        txn._insert_catalog(boot.PG_SHDESCRIPTION, [objoid, classoid, text])
    txn.transaction.command_counter_increment()


def forget_object(txn: Any, objoid: int, classoid: int) -> None:
    """An object is dropped: its comments (and its columns') go too."""
    txn._delete_catalog_rows(boot.PG_DESCRIPTION,
                             lambda v: v[0] == objoid and v[1] == classoid)


def forget_shared_object(txn: Any, objoid: int, classoid: int) -> None:
    txn._delete_catalog_rows(boot.PG_SHDESCRIPTION,
                             lambda v: v[0] == objoid and v[1] == classoid)


# -- reading them back ----------------------------------------------------------------------------


def _rows(ctx: ExecContext, catalog: Any) -> list[Any]:
    """The catalog's rows as the statement sees them (read once per statement)."""
    from mirrordb.sql.catalog_functions import CatalogSnapshot
    snapshot = CatalogSnapshot.of(ctx)
    key = _CACHE_KEY + catalog.name
    rows = snapshot.view_rows.get(key)
    if rows is None:
        rows = list(snapshot._read(catalog))
        snapshot.view_rows[key] = rows
    return rows


def object_description(ctx: ExecContext, oid: int, catalog: str | None = None) -> str | None:
    """obj_description(oid [, catalog name]): the object's own comment (not a column's)."""
    classoid = None if catalog is None else _CATALOG_OIDS.get(catalog)
    if catalog is not None and classoid is None:
        return None
    return next((str(r["description"]) for r in _rows(ctx, boot.PG_DESCRIPTION)
                 if r["objoid"] == oid and r["objsubid"] == 0
                 and (classoid is None or r["classoid"] == classoid)), None)


def column_description(ctx: ExecContext, table_oid: int, attnum: int) -> str | None:
    """col_description(table, column number)."""
    return next((str(r["description"]) for r in _rows(ctx, boot.PG_DESCRIPTION)
                 if r["objoid"] == table_oid and r["classoid"] == boot.PG_CLASS_OID
                 and r["objsubid"] == attnum), None)


def shared_description(ctx: ExecContext, oid: int, catalog: str) -> str | None:
    """shobj_description(oid, catalog name)."""
    classoid = _CATALOG_OIDS.get(catalog)
    return next((str(r["description"]) for r in _rows(ctx, boot.PG_SHDESCRIPTION)
                 if r["objoid"] == oid and r["classoid"] == classoid), None)
