"""ALTER DATABASE: RENAME TO (``RenameStmt`` OBJECT_DATABASE), OWNER TO (``AlterOwnerStmt``
OBJECT_DATABASE) and the options CONNECTION LIMIT, ALLOW_CONNECTIONS and IS_TEMPLATE
(``AlterDatabaseStmt``).

Each rewrites the database's pg_database row (a shared catalog, so the change is an ordinary
WAL-logged heap update a standby replays) inside the caller's transaction; unlike CREATE and DROP
DATABASE (sql/databases.py) they may run in a transaction block. ALTER DATABASE ... SET lives in
sql/role_settings.py. Who is connected where is the server's to say (server/postmaster.py,
``database_users``); the connection checks that read these columns are server/backend.py's
``_find_database``. Checks, their order and messages follow PostgreSQL 15's dbcommands.c.
"""

from __future__ import annotations

from typing import Any

from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import roles
from mirrordb.sql.database_privileges import acl_for_new_owner
from mirrordb.sql.databases import (DatabaseRow, database_users, find_database, option_arguments,
                                    option_bool, option_int, option_text, other_sessions,
                                    outside_block, wait_for_other_sessions)
from mirrordb.sql.role_settings import check_database_owner

Node = dict[str, Any]

DEFAULT_TABLESPACE = "pg_default"
ALTER_DATABASE_OPTIONS = ("is_template", "allow_connections", "connection_limit", "tablespace")
_COLUMN = {column.name: index for index, column in enumerate(boot.PG_DATABASE.columns)}


def _target(txn: Any, name: str) -> DatabaseRow:
    row = find_database(txn, name)
    if row is None:
        raise MirrordbError(f'database "{name}" does not exist', sqlstate="3D000")
    return row


def _check_owner(session: Any, row: DatabaseRow) -> roles.Role:
    return check_database_owner(session, row.name, row.owner_oid)


def _has_createdb(role: roles.Role) -> bool:
    return role.superuser or role.createdb


def _rewrite(txn: Any, row: DatabaseRow, changes: dict[str, object]) -> None:
    values = list(row.values)
    for column, value in changes.items():
        values[_COLUMN[column]] = value
    roles.update_catalog_row(txn, boot.PG_DATABASE, row.tid, values)


def alter_database(session: Any, txn: Any, node: Node) -> str:
    """ALTER DATABASE name [WITH] CONNECTION LIMIT n | ALLOW_CONNECTIONS b | IS_TEMPLATE b."""
    options, positions = option_arguments(node)
    for option in options:
        if option not in ALTER_DATABASE_OPTIONS:
            raise MirrordbError(f'option "{option}" not recognized', sqlstate="42601",
                                position=positions.get(option))
    if "tablespace" in options and len(options) > 1:
        raise MirrordbError('option "tablespace" cannot be specified with other options',
                            sqlstate="0A000", position=positions.get("tablespace"))
    if "tablespace" in options:
        return _move_database(session, txn, str(node["dbname"]), options["tablespace"])
    changes: dict[str, object] = {}
    if options.get("is_template") is not None:
        changes["datistemplate"] = option_bool("is_template", options["is_template"])
    if options.get("allow_connections") is not None:
        changes["datallowconn"] = option_bool("allow_connections", options["allow_connections"])
    if options.get("connection_limit") is not None:
        limit = option_int("connection_limit", options["connection_limit"])
        if limit < -1:
            raise MirrordbError(f"invalid connection limit: {limit}", sqlstate="22023")
        changes["datconnlimit"] = limit
    roles.check_writable(txn, "ALTER DATABASE")
    name = str(node["dbname"])
    with txn.engine._ddl_lock:
        row = _target(txn, name)
        _check_owner(session, row)
        if changes.get("datallowconn") is False and row.oid == session.engine.database_oid:
            raise MirrordbError("cannot disallow connections for current database",
                                sqlstate="22023")
        _rewrite(txn, row, changes)
    return "ALTER DATABASE"


def _move_database(session: Any, txn: Any, name: str, tablespace: Node | None) -> str:
    """ALTER DATABASE name SET TABLESPACE t: mirrordb has only pg_default, where every database
    already is, so after PostgreSQL's checks there is nothing to move."""
    outside_block(session, "ALTER DATABASE SET TABLESPACE")
    row = _target(txn, name)
    _check_owner(session, row)
    if row.oid == session.engine.database_oid:
        raise MirrordbError("cannot change the tablespace of the currently open database",
                            sqlstate="55006")
    tablespace_name = option_text(tablespace)
    if tablespace_name != DEFAULT_TABLESPACE:
        raise MirrordbError(f'tablespace "{tablespace_name}" does not exist', sqlstate="42704")
    return "ALTER DATABASE"


def rename_database(session: Any, txn: Any, node: Node) -> str:
    """ALTER DATABASE name RENAME TO newname."""
    roles.check_writable(txn, "ALTER DATABASE")
    old_name, new_name = str(node["subname"]), str(node["newname"])
    with txn.engine._ddl_lock:
        row = _target(txn, old_name)
        role = _check_owner(session, row)
        if not _has_createdb(role):
            raise roles.insufficient_privilege("permission denied to rename database")
        if find_database(txn, new_name) is not None:
            raise MirrordbError(f'database "{new_name}" already exists', sqlstate="42P04")
        if row.oid == session.engine.database_oid:
            raise MirrordbError("current database cannot be renamed", sqlstate="0A000")
        users = wait_for_other_sessions(lambda: database_users(session, row.oid))
        if users:
            raise MirrordbError(f'database "{old_name}" is being accessed by other users',
                                sqlstate="55006", detail=other_sessions(users))
        _rewrite(txn, row, {"datname": new_name})
    return "ALTER DATABASE"


def alter_database_owner(session: Any, txn: Any, node: Node) -> str:
    """ALTER DATABASE name OWNER TO role."""
    roles.check_writable(txn, "ALTER DATABASE")
    name = str(node["object"]["String"]["sval"])
    owner_name = roles.role_spec_name(session, node["newowner"])
    owner = roles.roles_by_name(session).get(owner_name)
    if owner is None:
        raise roles.role_missing(owner_name)
    with txn.engine._ddl_lock:
        row = _target(txn, name)
        if owner.oid == row.owner_oid:
            return "ALTER DATABASE"
        role = _check_owner(session, row)
        roles.check_can_become(session, owner)
        if not _has_createdb(role):
            raise roles.insufficient_privilege("permission denied to change owner of database")
        old_owner = next((r.name for r in roles.roles_by_name(session).values()
                          if r.oid == row.owner_oid), str(row.owner_oid))
        _rewrite(txn, row, {"datdba": owner.oid,
                            "datacl": acl_for_new_owner(row.values[_COLUMN["datacl"]],  # type: ignore[arg-type]
                                                        old_owner, owner.name)})
    return "ALTER DATABASE"
