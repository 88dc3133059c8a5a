"""Schemas: pg_namespace rows, the search path, and CREATE/DROP/ALTER SCHEMA.

Who calls it: the session (``lookup_relation`` asks ``relation_namespace`` which schema a
name reaches; ``CreateSchemaStmt`` and the schema forms of ``DropStmt``, ``RenameStmt``
and ``AlterOwnerStmt`` come here), ddl.py and views.py (``creation_namespace``: where a new
relation goes), catalog_functions.py (``search_path_oids``: pg_table_is_visible, regclass
input, current_schemas()).

A schema is a pg_namespace row (oid, nspname, nspowner), changed by ordinary WAL-logged heap
inserts, updates and deletes, so a standby has the primary's schemas. A relation's schema is
its pg_class.relnamespace.

Name resolution follows PostgreSQL's namespace.c: a qualified name looks in that schema only
(a missing schema means the relation does not exist, except where something is created:
3F000); an unqualified name looks through pg_catalog (first, unless search_path names it) and
then the schemas search_path lists that exist ("$user" is the schema named after the current
role). A new relation without a schema goes into the first existing schema of search_path
(3F000 "no schema has been selected to create in" if none).

Relation names are unique per schema, as in PostgreSQL: ``relation_namespace`` finds the
schema a name means, and everything after works on the relation found there (by OID, or by
(schema OID, name): engine.py's ``RelationRef``), so a.t and b.t are different relations.

The schemas are cached per engine and relation-cache generation (which advances whenever a
transaction that changed a catalog ends); a transaction that changed catalogs reads them
afresh, with its own changes.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

from mirrordb.access.lmgr import NO_LOCK
from mirrordb.access.relation import RELKIND_INDEX, RELKIND_SEQUENCE, RELKIND_TABLE
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import roles, temp_tables
from mirrordb.sql.expressions import feature_not_supported
from mirrordb.sql.parser import Node

USER_PLACEHOLDER = "$user"
TEMP_ALIAS = "pg_temp"        # the session's temporary schema, in search_path and names
RESERVED_PREFIX = "pg_"
SYSTEM_SCHEMAS = ("pg_catalog", "pg_toast", "information_schema")
MAX_CACHED_SEARCH_PATHS = 64


@dataclass(frozen=True)
class Namespace:
    """A pg_namespace row."""

    oid: int
    name: str
    owner: int


_cache: weakref.WeakKeyDictionary[Any, tuple[int, dict[str, Namespace]]] = \
    weakref.WeakKeyDictionary()
_paths: dict[tuple[int, int, str, str, int | None], tuple[int, ...]] = {}
_cache_lock = threading.Lock()


def _transaction(session: Any) -> Any:
    txn = getattr(session, "txn", None)
    return None if txn is None else txn.transaction


def _read(engine: Any, transaction: Any) -> dict[str, Namespace]:
    return {str(values[1]): Namespace(int(values[0]), str(values[1]), int(values[2]))  # type: ignore
            for _, values in engine.relcache.rows(boot.PG_NAMESPACE, transaction)}


def namespaces(session: Any) -> dict[str, Namespace]:
    """Every schema by name, as the session's statement sees them."""
    transaction = _transaction(session)
    if transaction is not None and transaction.touched_catalogs:
        return _read(session.engine, transaction)
    generation = session.engine.relcache.generation
    with _cache_lock:
        cached = _cache.get(session.engine)
    if cached is not None and cached[0] == generation:
        return cached[1]
    found = _read(session.engine, None)
    with _cache_lock:
        _cache[session.engine] = (generation, found)
    return found


def namespace_name(session: Any, oid: int) -> str:
    return next((n.name for n in namespaces(session).values() if n.oid == oid), str(oid))


# -- the search path ----------------------------------------------------------------------------


def parse_search_path(text: str) -> list[str]:
    """The schema names of a search_path value: comma-separated identifiers, double-quoted
    ones kept as written (with "" for a quote), the others folded to lower case."""
    names: list[str] = []
    position, length = 0, len(text)
    while position < length:
        while position < length and text[position] in " \t\n\r,":
            position += 1
        if position >= length:
            break
        if text[position] == '"':
            position += 1
            name = []
            while position < length:
                if text[position] == '"':
                    if text[position + 1:position + 2] == '"':
                        name.append('"')
                        position += 2
                        continue
                    position += 1
                    break
                name.append(text[position])
                position += 1
            names.append("".join(name))
        else:
            end = position
            while end < length and text[end] != ",":
                end += 1
            names.append(text[position:end].strip().lower())
            position = end
    return names


def _listed_oids(session: Any) -> list[int]:
    """The schemas search_path lists that exist, in order ("$user" resolved, "pg_temp" the
    session's temporary schema once it has one)."""
    known = namespaces(session)
    oids = []
    for name in parse_search_path(session.setting("search_path")):
        if name == USER_PLACEHOLDER:
            name = str(session.user)
        if name == TEMP_ALIAS:
            oid = temp_tables.namespace_oid(session)
        else:
            entry = known.get(name)
            oid = None if entry is None else entry.oid
        if oid is not None and oid not in oids:
            oids.append(oid)
    return oids


def search_path_oids(session: Any) -> tuple[int, ...]:
    """The schemas an unqualified name is looked up in, in order: pg_catalog first unless
    search_path places it, then search_path's existing schemas."""
    transaction = _transaction(session)
    temp_oid = temp_tables.namespace_oid(session)
    key = (id(session.engine), session.engine.relcache.generation,
           session.setting("search_path"), str(session.user), temp_oid)
    if transaction is None or not transaction.touched_catalogs:
        with _cache_lock:
            cached = _paths.get(key)
        if cached is not None:
            return cached
    listed = _listed_oids(session)
    path = tuple(listed if boot.PG_CATALOG_NAMESPACE_OID in listed
                 else [boot.PG_CATALOG_NAMESPACE_OID, *listed])
    if temp_oid is not None and temp_oid not in path:   # first, unless "pg_temp" places it
        path = (temp_oid, *path)
    if transaction is None or not transaction.touched_catalogs:
        with _cache_lock:
            if len(_paths) >= MAX_CACHED_SEARCH_PATHS:
                _paths.clear()
            _paths[key] = path
    return path


def explicit_search_path(session: Any) -> list[str]:
    """current_schemas(false): the names of the existing schemas search_path lists."""
    return [namespace_name(session, oid) for oid in _listed_oids(session)]


def relation_namespace(session: Any, txn: Any, name: str, schema: str | None) -> int | None:
    """The schema (OID) in which a name reaches a relation (PostgreSQL's
    RangeVarGetRelid): a qualified name's schema if it exists, else the first schema of the
    search path (pg_catalog first) holding a relation ``name``; None if there is none."""
    if schema == TEMP_ALIAS:
        return temp_tables.namespace_oid(session)
    if schema is not None:
        entry = namespaces(session).get(schema)
        return None if entry is None else entry.oid
    relcache, transaction = txn.engine.relcache, txn.transaction
    return next((oid for oid in search_path_oids(session)
                 if relcache.lookup(name, transaction, oid) is not None), None)


def shown_name(session: Any, txn: Any, relation_oid: int) -> str:
    """How PostgreSQL's object descriptions name a relation: bare when the search path
    reaches it by that name, else schema-qualified."""
    relation = txn.find(relation_oid)
    if relation is None:
        return str(relation_oid)
    if relation_namespace(session, txn, relation.name, None) == relation.namespace_oid:
        return str(relation.name)
    return f"{namespace_name(session, relation.namespace_oid)}.{relation.name}"


def schema_missing(name: str) -> MirrordbError:
    return MirrordbError(f'schema "{name}" does not exist', sqlstate="3F000")


def lookup_namespace(session: Any, name: str) -> Namespace:
    """The schema ``name``; 3F000 if there is none."""
    entry = namespaces(session).get(name)
    if entry is None:
        raise schema_missing(name)
    return entry


def creation_namespace(session: Any, schema: str | None, relation_name: str,
                       location: int | None = None) -> int:
    """Where CREATE puts a new relation (PostgreSQL's RangeVarGetCreationNamespace), with the
    checks it makes: the schema exists, the role may create in it, not in pg_catalog.
    ``location``: the name's offset in the statement, for the error's position."""
    position = None if location is None or location < 0 else location + 1
    if schema is not None:
        entry = namespaces(session).get(schema)
        if entry is None:
            raise MirrordbError(f'schema "{schema}" does not exist', sqlstate="3F000",
                                position=position)
    else:
        listed = _listed_oids(session)
        if not listed:
            raise MirrordbError("no schema has been selected to create in", sqlstate="3F000",
                                position=position)
        entry = next(n for n in namespaces(session).values() if n.oid == listed[0])
    if entry.oid == boot.PG_CATALOG_NAMESPACE_OID:
        raise MirrordbError(f'permission denied to create "{entry.name}.{relation_name}"',
                            sqlstate="42501",
                            detail="System catalog modifications are currently disallowed.")
    check_create_privilege(session, entry)
    return entry.oid


def check_create_privilege(session: Any, entry: Namespace) -> None:
    """CREATE on a schema: its owner and superusers have it (schemas carry no ACL in
    mirrordb; public keeps the permissive behaviour mirrordb had before schemas existed)."""
    if entry.oid in (boot.PUBLIC_NAMESPACE_OID, temp_tables.namespace_oid(session)) or \
            roles.is_superuser(session):
        return
    role = roles.current_role(session)
    if role is None or role.oid != entry.owner:
        raise MirrordbError(f"permission denied for schema {entry.name}", sqlstate="42501")


# -- CREATE / ALTER / DROP SCHEMA ---------------------------------------------------------------


def _check_name_allowed(name: str) -> None:
    if name.startswith(RESERVED_PREFIX):
        raise MirrordbError(f'unacceptable schema name "{name}"', sqlstate="42939",
                            detail='The prefix "pg_" is reserved for system schemas.')


def _check_database_create(session: Any) -> None:
    """CREATE on the database (CREATE SCHEMA, ALTER SCHEMA RENAME/OWNER), as its datacl
    grants it (sql/database_privileges.py)."""
    from mirrordb.sql import database_privileges
    if not database_privileges.may_create_in_database(session):
        raise MirrordbError(f"permission denied for database {session.database}",
                            sqlstate="42501")


def create_schema(session: Any, txn: Any, node: Node) -> list[Any]:
    """CREATE SCHEMA [IF NOT EXISTS] [name] [AUTHORIZATION role]; the notices."""
    owner_spec = node.get("authrole")
    owner_name = roles.role_spec_name(session, owner_spec) \
        if owner_spec else str(session.user)
    name = node.get("schemaname") or owner_name
    owner = roles.roles_by_name(session).get(owner_name)
    if owner is None:
        raise roles.role_missing(owner_name)
    _check_database_create(session)
    roles.check_can_become(session, owner)
    if node.get("schemaElts"):
        raise feature_not_supported("CREATE SCHEMA with schema elements")
    if name in namespaces(session):
        if node.get("if_not_exists"):
            return [f'schema "{name}" already exists, skipping']
        raise MirrordbError(f'schema "{name}" already exists', sqlstate="42P06")
    _check_name_allowed(name)
    txn._insert_catalog(boot.PG_NAMESPACE, [session.engine.allocate_oid(), name, owner.oid])
    txn.transaction.command_counter_increment()
    return []


def _owned_schema(session: Any, txn: Any, name: str) -> tuple[tuple[int, int], Namespace]:
    """The schema's row (tid, entry), checked to be the current role's (42501 otherwise)."""
    for tid, values in txn.engine.relcache.rows(boot.PG_NAMESPACE, txn.transaction):
        if values[1] == name:
            entry = Namespace(int(values[0]), str(values[1]), int(values[2]))  # type: ignore
            _check_schema_owner(session, entry)
            return tid, entry
    raise schema_missing(name)


def _check_schema_owner(session: Any, entry: Namespace) -> None:
    role = roles.current_role(session)
    if role is not None and (role.superuser or role.oid == entry.owner):
        return
    raise MirrordbError(f"must be owner of schema {entry.name}", sqlstate="42501")


def rename_schema(session: Any, txn: Any, node: Node) -> None:
    """ALTER SCHEMA name RENAME TO new_name."""
    old, new = node["subname"], node["newname"]
    tid, entry = _owned_schema(session, txn, old)
    if new in namespaces(session):
        raise MirrordbError(f'schema "{new}" already exists', sqlstate="42P06")
    _check_database_create(session)
    _check_name_allowed(new)
    roles.update_catalog_row(txn, boot.PG_NAMESPACE, tid, [entry.oid, new, entry.owner])
    txn.transaction.command_counter_increment()


def alter_schema_owner(session: Any, txn: Any, name: str, spec: Node) -> None:
    """ALTER SCHEMA name OWNER TO role (PostgreSQL's AlterSchemaOwner_internal checks)."""
    owner_name = roles.role_spec_name(session, spec)
    owner = roles.roles_by_name(session).get(owner_name)
    if owner is None:
        raise roles.role_missing(owner_name)
    tid, entry = _owned_schema(session, txn, name)
    if entry.owner == owner.oid:
        return
    if not roles.is_superuser(session):
        roles.check_can_become(session, owner)
        _check_database_create(session)
    roles.update_catalog_row(txn, boot.PG_NAMESPACE, tid, [entry.oid, entry.name, owner.oid])
    txn.transaction.command_counter_increment()


_KIND_WORDS = {RELKIND_TABLE: "table", RELKIND_SEQUENCE: "sequence", "v": "view"}


def drop_schemas(session: Any, txn: Any, node: Node) -> list[Any]:
    """DROP SCHEMA [IF EXISTS] name [, ...] [CASCADE | RESTRICT]; the notices. Indexes and
    the sequences columns own go with their tables and are not listed, as in PostgreSQL."""
    from mirrordb.sql import ddl, user_functions
    cascade = node.get("behavior") == "DROP_CASCADE"
    notices: list[Any] = []
    for item in node["objects"]:
        name = item["String"]["sval"]
        if name not in namespaces(session):
            if node.get("missing_ok"):
                notices.append(f'schema "{name}" does not exist, skipping')
                continue
            raise schema_missing(name)
        _, entry = _owned_schema(session, txn, name)
        if name in SYSTEM_SCHEMAS:
            raise MirrordbError(f"cannot drop schema {name} because it is required by the "
                                "database system", sqlstate="2BP01")
        members = _members(txn, entry.oid)
        if members and not cascade:
            raise MirrordbError(
                f"cannot drop schema {name} because other objects depend on it",
                sqlstate="2BP01",
                detail="\n".join(f"{word} {name}.{relation} depends on schema {name}"
                                 for word, relation in members),
                hint="Use DROP ... CASCADE to drop the dependent objects too.")
        notices += _cascade_notices(name, members)
        for word, relation in members:
            if session.lookup_relation(relation, name, NO_LOCK) is not None:
                ddl.drop(session, txn, _drop_node(word, name, relation))
        user_functions.drop_schema_routines(txn, entry.oid)
        _delete_namespace(txn, entry.oid)
    return notices


def _members(txn: Any, namespace_oid: int) -> list[tuple[str, str]]:
    """(kind word, name) of the objects in the schema that a DROP lists: tables, views
    and sequences no column owns, functions and procedures (``f(integer)``), in OID order."""
    owned = {int(values[1]) for _, values in txn.engine.relcache.rows(boot.PG_DEPEND,
                                                                       txn.transaction)
             if values[0] == boot.PG_CLASS_OID and values[6] in ("a", "i")}
    rows = sorted((values for _, values in txn.engine.relcache.rows(boot.PG_CLASS,
                                                                     txn.transaction)
                   if values[2] == namespace_oid and values[4] != RELKIND_INDEX
                   and values[0] not in owned), key=lambda v: int(v[0]))  # type: ignore
    from mirrordb.sql import user_functions
    members = [(int(v[0]), _KIND_WORDS.get(str(v[4]), "relation"), str(v[1]))  # type: ignore
               for v in rows] + user_functions.schema_members(txn, namespace_oid)
    return [(word, name) for _, word, name in sorted(members)]


def _drop_node(word: str, schema: str, relation: str) -> Node:
    """The DropStmt ``DROP <word> schema.relation CASCADE``, to drop one member the way DROP
    does (views that read it, sequences its columns own)."""
    return {"removeType": f"OBJECT_{word.upper()}", "behavior": "DROP_CASCADE",
            "objects": [{"List": {"items": [{"String": {"sval": schema}},
                                            {"String": {"sval": relation}}]}}]}


def _cascade_notices(schema: str, members: list[tuple[str, str]]) -> list[Any]:
    if not members:
        return []
    lines = [f"drop cascades to {word} {schema}.{relation}" for word, relation in members]
    if len(lines) == 1:
        return [("NOTICE", lines[0])]
    return [("NOTICE", f"drop cascades to {len(lines)} other objects", "\n".join(lines))]


def _delete_namespace(txn: Any, oid: int) -> None:
    from mirrordb.sql import comments
    for tid, values in txn.engine.relcache.rows(boot.PG_NAMESPACE, txn.transaction):
        if values[0] == oid:
            roles.delete_catalog_row(txn, boot.PG_NAMESPACE, tid)
    comments.forget_object(txn, oid, boot.PG_NAMESPACE_OID)
    txn.transaction.command_counter_increment()
