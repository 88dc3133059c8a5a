"""REINDEX: PostgreSQL 15's statement over mirrordb's B-tree indexes.

Who calls it: the session (sql/session.py ``_exec_ReindexStmt``). The work is the engine's
(``Txn.reindex_index``, ``Txn.reindex_table``): each index gets a new relation file, built from
its table as CREATE INDEX builds one and swapped in as TRUNCATE swaps files (the old file goes
at commit, the new one at abort), all of it through the WAL, so a streaming standby replays the
rebuild page for page. A hot standby refuses the statement before it gets here (sql/read_only.py:
25006 "cannot execute REINDEX during recovery", whatever the rest of the statement says).

What each form does, in PostgreSQL 15's words (checked against a real 15 server):

* ``REINDEX INDEX name`` and ``REINDEX TABLE name`` run in the current transaction (a
  transaction block, even a read-only one, is fine). ShareLock on the table (writers and vacuum
  wait, readers do not), then AccessExclusiveLock on each index while it is rebuilt (queries,
  which lock the indexes of the tables they read, wait for that one). The relation must be an
  index (``"t" is not an index``) or a table (``"i" is not a table or materialized view``), 42809,
  owned by the current role unless it is a superuser (``must be owner of index i``, 42501). A
  table without indexes gets the NOTICE ``table "t" has no indexes to reindex``.
* ``REINDEX SCHEMA name``, ``REINDEX DATABASE name``, ``REINDEX SYSTEM name`` take every table of
  the schema, of the database, or the system catalogs, each in a transaction of its own, so they
  may not run in a transaction block (25001). DATABASE and SYSTEM must name the current
  database (``can only reindex the currently open database``, 0A000); PostgreSQL 15's DATABASE
  covers the system catalogs too (16 leaves them out). mirrordb's catalogs have no indexes, so
  SYSTEM rebuilds nothing. The schema's or database's owner (or a superuser) may run them.
* ``(VERBOSE)``: an INFO per rebuilt index (``index "i" was reindexed``, DETAIL with the CPU
  time) and, for the forms over many tables, one per table (``table "public.t" was reindexed``).
* ``CONCURRENTLY`` is refused where PostgreSQL refuses it (in a transaction block; on system
  catalogs, which SCHEMA and DATABASE skip with a WARNING), and otherwise done as a plain
  rebuild under the plain form's locks: writers to the table wait for the whole rebuild, where
  PostgreSQL's concurrent build would let them in. Its VERBOSE lines are the concurrent ones.
* ``(TABLESPACE name)``: mirrordb has the two built-in tablespaces only and keeps every
  relation in pg_default, so ``pg_default`` is accepted and moves nothing (the forms over many
  tables skip the system catalogs with PostgreSQL's WARNING), ``pg_global`` is refused as
  PostgreSQL refuses non-shared relations there, and any other name does not exist (42704).

Not reproduced: ``REINDEX DATABASE`` / ``SYSTEM`` without a name is PostgreSQL 16 syntax that
the parser (libpg_query) accepts; it is refused here as 15's grammar refuses it, but without
the error position. The INFO lines of a SCHEMA or DATABASE run that fails part way are sent
with the statement's result, so the error replaces them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mirrordb.access.lmgr import NO_LOCK
from mirrordb.access.relation import RELKIND_INDEX, RELKIND_TABLE, Relation
from mirrordb.access.vacuum import ResourceUsage
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError, UndefinedObject
from mirrordb.sql import roles
from mirrordb.sql.catalog_functions import CatalogSnapshot, ClassEntry
from mirrordb.sql.expressions import error_at
from mirrordb.sql.parser import Node, one

RELKIND_MATVIEW = "m"
TABLESPACES = ("pg_default", "pg_global")
MULTIPLE_TABLE_WORDS = {"REINDEX_OBJECT_SCHEMA": "SCHEMA", "REINDEX_OBJECT_SYSTEM": "SYSTEM",
                        "REINDEX_OBJECT_DATABASE": "DATABASE"}

Notices = list[Any]


@dataclass(frozen=True)
class ReindexOptions:
    verbose: bool = False
    concurrently: bool = False
    tablespace: str | None = None


def reindex(session: Any, node: Node) -> Notices:
    """Run one ReindexStmt; returns its notices (the tag is always ``REINDEX``). The checks
    come in PostgreSQL's order: the options, CONCURRENTLY in a transaction block, the
    tablespace, then the object."""
    options = _options(node.get("params", []))
    if options.concurrently and session.in_block:
        raise _in_transaction_block("REINDEX CONCURRENTLY")
    _check_tablespace(session, options.tablespace)
    kind = node["kind"]
    if kind == "REINDEX_OBJECT_INDEX":
        return _reindex_index(session, node["relation"], options)
    if kind == "REINDEX_OBJECT_TABLE":
        return _reindex_table(session, node["relation"], options)
    return _reindex_multiple(session, kind, node.get("name"), options)


# -- options ------------------------------------------------------------------------------------


def _options(params: list[Node]) -> ReindexOptions:
    verbose = concurrently = False
    tablespace = None
    for param in params:
        element = param["DefElem"]
        name = element["defname"]
        if name == "verbose":
            verbose = _boolean(element)
        elif name == "concurrently":
            concurrently = _boolean(element)
        elif name == "tablespace":
            tablespace = _string(element)
        else:
            raise error_at(f'unrecognized REINDEX option "{name}"', "42601",
                           element.get("location"))
    return ReindexOptions(verbose, concurrently, tablespace)


def _boolean(element: Node) -> bool:
    """PostgreSQL's defGetBoolean: no argument is true; 0 and 1; true/false/on/off."""
    argument = element.get("arg")
    if argument is None:
        return True
    kind, fields = one(argument)
    if kind == "Integer":
        value = fields.get("ival", 0)
        if value in (0, 1):
            return bool(value)
    elif kind == "String":
        word = str(fields.get("sval", "")).lower()
        if word in ("true", "on", "false", "off"):
            return word in ("true", "on")
    raise MirrordbError(f"{element['defname']} requires a Boolean value", sqlstate="42601")


def _string(element: Node) -> str:
    """PostgreSQL's defGetString of a name or number."""
    argument = element.get("arg")
    if argument is None:
        raise MirrordbError(f"{element['defname']} requires a parameter", sqlstate="42601")
    kind, fields = one(argument)
    return str(fields.get({"Integer": "ival", "Float": "fval"}.get(kind, "sval"), 0))


def _check_tablespace(session: Any, tablespace: str | None) -> None:
    """The tablespace must exist; pg_default, the database's own, needs no privilege."""
    if tablespace is None:
        return
    if tablespace not in TABLESPACES:
        raise MirrordbError(f'tablespace "{tablespace}" does not exist', sqlstate="42704")
    if tablespace == "pg_global" and not roles.is_superuser(session):
        raise roles.insufficient_privilege("permission denied for tablespace pg_global")


def _refuse_global_tablespace(options: ReindexOptions) -> None:
    """Only shared catalogs may live in pg_global, and none of them has an index here."""
    if options.tablespace != "pg_global":
        return
    if options.concurrently:
        raise MirrordbError('cannot move non-shared relation to tablespace "pg_global"',
                            sqlstate="0A000")
    raise MirrordbError("only shared relations can be placed in pg_global tablespace",
                        sqlstate="22023")


# -- INDEX and TABLE ----------------------------------------------------------------------------


def _reindex_index(session: Any, range_var: Node, options: ReindexOptions) -> Notices:
    snapshot = CatalogSnapshot.for_session(session)
    entry = _find(snapshot, range_var)
    if entry.kind != RELKIND_INDEX:
        raise MirrordbError(f'"{range_var["relname"]}" is not an index', sqlstate="42809")
    _check_owner(session, entry.owner_oid, f"index {range_var['relname']}")
    _refuse_global_tablespace(options)
    txn = session._ensure_transaction()
    usage = ResourceUsage.now()
    index = txn.reindex_index(entry.oid)
    if not options.verbose:
        return []
    if options.concurrently:
        return [("INFO", f'index "{_qualified(snapshot, index)}" was reindexed',
                 usage.show() + ".")]
    return [("INFO", f'index "{index.name}" was reindexed', usage.show())]


def _reindex_table(session: Any, range_var: Node, options: ReindexOptions) -> Notices:
    snapshot = CatalogSnapshot.for_session(session)
    entry = _find(snapshot, range_var)
    if entry.kind not in (RELKIND_TABLE, RELKIND_MATVIEW):
        raise MirrordbError(f'"{range_var["relname"]}" is not a table or materialized view',
                            sqlstate="42809")
    _check_owner(session, entry.owner_oid, f"table {range_var['relname']}")
    if options.concurrently and _is_system_relation(entry):
        raise MirrordbError("cannot reindex system catalogs concurrently", sqlstate="0A000")
    notices: Notices = []
    table = _rebuild_table(session, snapshot, entry, options, notices)
    if table is None:
        reason = "that can be reindexed concurrently" if options.concurrently else "to reindex"
        notices.append(f'table "{range_var["relname"]}" has no indexes {reason}')
    return notices


def _rebuild_table(session: Any, snapshot: CatalogSnapshot, entry: ClassEntry,
                   options: ReindexOptions, notices: Notices) -> Relation | None:
    """Rebuild every index of the table ``entry`` in the session's transaction, adding the
    VERBOSE lines; the table, or None when it has no index (or is gone)."""
    txn = session._ensure_transaction()
    if entry.virtual:
        return None     # a catalog served as a view: no file, no index
    table = txn.relation(entry.oid, RELKIND_TABLE)
    if not table.indexes:
        return None
    _refuse_global_tablespace(options)
    started = lap = ResourceUsage.now()

    def rebuilt(index: Relation) -> None:
        nonlocal lap
        if options.concurrently:
            notices.append(("INFO", f'index "{_qualified(snapshot, index)}" was reindexed'))
        else:
            notices.append(("INFO", f'index "{index.name}" was reindexed', lap.show()))
            lap = ResourceUsage.now()
    txn.reindex_table(entry.oid, rebuilt if options.verbose else None)
    if options.verbose and options.concurrently:
        notices.append(("INFO", f'table "{_qualified(snapshot, table)}" was reindexed',
                        started.show() + "."))
    return table


# -- SCHEMA, DATABASE, SYSTEM -------------------------------------------------------------------


def _reindex_multiple(session: Any, kind: str, name: str | None,
                      options: ReindexOptions) -> Notices:
    """Every table of a schema, of the database, or the system catalogs, one transaction each
    (PostgreSQL's ReindexMultipleTables). pg_class comes first, then pg_class's order."""
    word = MULTIPLE_TABLE_WORDS[kind]
    if session.in_block:
        raise _in_transaction_block(f"REINDEX {word}")
    if kind == "REINDEX_OBJECT_SYSTEM" and options.concurrently:
        raise MirrordbError("cannot reindex system catalogs concurrently", sqlstate="0A000")
    snapshot = CatalogSnapshot.for_session(session)
    wanted = _target(session, snapshot, kind, name)
    if session.txn is not None:
        session._commit()
    notices: Notices = []
    warned: set[str] = set()
    for entry in _tables(snapshot, wanted):
        if _skipped(entry, options, warned, notices):
            continue
        current = session._ensure_transaction().find(entry.oid)
        if current is None:
            session._abort()
            continue       # dropped since the list was made
        table = _rebuild_table(session, snapshot, entry, options, notices)
        session._commit()
        if table is not None and options.verbose and not options.concurrently:
            notices.append(("INFO", f'table "{_qualified(snapshot, table)}" was reindexed'))
    return notices


def _target(session: Any, snapshot: CatalogSnapshot, kind: str,
            name: str | None) -> Callable[[ClassEntry], bool]:
    """Check the schema or database named and the right to reindex it; which tables it
    covers."""
    if kind == "REINDEX_OBJECT_SCHEMA":
        assert name is not None
        namespace = snapshot.namespace_oid(name)
        if namespace is None:
            raise MirrordbError(f'schema "{name}" does not exist', sqlstate="3F000")
        _check_owner(session, snapshot.namespaces[namespace].owner_oid, f"schema {name}")
        return lambda entry: entry.namespace_oid == namespace
    if name is None:   # PostgreSQL 16's grammar makes the name optional; 15's requires it
        raise MirrordbError("syntax error at end of input", sqlstate="42601")
    if name != session.database:
        raise MirrordbError("can only reindex the currently open database", sqlstate="0A000")
    database_oid = snapshot.database_oid(name)
    owner = snapshot.databases[database_oid].owner_oid if database_oid is not None \
        else boot.BOOTSTRAP_SUPERUSER_OID
    _check_owner(session, owner, f"database {name}")
    if kind == "REINDEX_OBJECT_SYSTEM":
        return _is_system_relation
    return lambda entry: True


def _tables(snapshot: CatalogSnapshot, wanted: Callable[[ClassEntry], bool]) -> list[ClassEntry]:
    tables = [entry for entry in snapshot.classes.values()
              if not entry.virtual and entry.kind in (RELKIND_TABLE, RELKIND_MATVIEW)
              and wanted(entry)]
    return sorted(tables, key=lambda entry: entry.oid != boot.PG_CLASS_OID)   # stable


def _skipped(entry: ClassEntry, options: ReindexOptions, warned: set[str],
             notices: Notices) -> bool:
    """The system catalogs that CONCURRENTLY or a TABLESPACE leave out, with PostgreSQL's one
    WARNING for all of them."""
    if not _is_system_relation(entry):
        return False
    if options.concurrently:
        _warn_once(warned, notices, MirrordbError(
            "cannot reindex system catalogs concurrently, skipping all", sqlstate="0A000"))
        return True
    if options.tablespace is not None:
        _warn_once(warned, notices, MirrordbError(
            "cannot move system relations, skipping all", sqlstate="42501"))
        return True
    return False


def _warn_once(warned: set[str], notices: Notices, warning: MirrordbError) -> None:
    if warning.message not in warned:
        warned.add(warning.message)
        notices.append(warning)


# -- helpers ------------------------------------------------------------------------------------


def _find(snapshot: CatalogSnapshot, range_var: Node) -> ClassEntry:
    """The relation a RangeVar names (PostgreSQL's messages for a missing schema or relation)."""
    name, schema = range_var["relname"], range_var.get("schemaname")
    namespace = None
    if schema is not None:
        namespace = snapshot.namespace_oid(schema)
        if namespace is None:
            raise MirrordbError(f'schema "{schema}" does not exist', sqlstate="3F000")
    entry = snapshot.find_relation(name, namespace)
    if entry is None:
        shown = f"{schema}.{name}" if schema is not None else name
        raise UndefinedObject(f'relation "{shown}" does not exist')
    return entry


def _check_owner(session: Any, owner_oid: int, what: str) -> None:
    """PostgreSQL's ownership check: a superuser, or the owner itself."""
    role = roles.current_role(session)
    if role is None or not (role.superuser or role.oid == owner_oid):
        raise roles.insufficient_privilege(f"must be owner of {what}")


def _is_system_relation(entry: ClassEntry) -> bool:
    """A system catalog (PostgreSQL's IsSystemClass): created by initdb, below the first
    normal OID."""
    return entry.oid < boot.FIRST_NORMAL_OBJECT_ID


def _qualified(snapshot: CatalogSnapshot, relation: Relation) -> str:
    return f"{snapshot.namespace_name(relation.namespace_oid)}.{relation.name}"


def _in_transaction_block(command: str) -> MirrordbError:
    return MirrordbError(f"{command} cannot run inside a transaction block", sqlstate="25001")


__all__ = ["reindex", "ReindexOptions"]
