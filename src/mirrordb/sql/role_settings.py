"""Per-role and per-database setting defaults: ALTER ROLE/DATABASE ... SET, and what a new
session starts with.

Who calls it: the session (sql/session.py) delegates ``AlterRoleSetStmt`` and
``AlterDatabaseSetStmt`` here (``alter_role_set``, ``alter_database_set``); ``roles.drop_role``
calls ``drop_role_settings``; the backend (server/backend.py) asks ``connection_settings`` for a
new session's defaults and hands them to ``SessionSettings.apply_role_settings``
(server/config.py, the other half: priorities, sources, and the checks ``check_stored_setting``
makes before a value is stored); sysviews.py shows the rows (pg_db_role_setting,
pg_roles.rolconfig, pg_user.useconfig) through ``setting_rows``.

The catalog, as PostgreSQL's: ``pg_db_role_setting`` (shared, OID 2964, catalog/bootstrap.py),
one row per (database, role) pair that has settings, changed by WAL-logged heap inserts,
updates and deletes, so a standby's sessions get the primary's defaults::

    setdatabase  oid    the database the settings apply in; 0: every database
    setrole      oid    the role they apply to; 0: every role (ALTER ROLE ALL)
    setconfig    text[] one "name=value" element per setting, in the order first set; stored
                        in the array's text form (array_out: braces, commas, an element
                        double-quoted with \\" and \\\\ escaped when it holds a brace, comma,
                        quote, backslash or white space), e.g.
                        {synchronous_commit=off,"search_path=a, \\"B c\\", public"}

``name`` is the setting's canonical spelling (``DateStyle``, custom ``prefix.name`` settings in
lower case); ``value`` is the text SET would be given: the statement's arguments flattened as
SET flattens them (list settings joined with ", ", search_path's elements quoted as
identifiers), or SHOW's text for ``FROM CURRENT``. A row left without settings is deleted.

At connection start (not for physical replication connections, as in PostgreSQL) the rows of
the session's database and role apply in this order, each only where no source of higher
priority already set the setting: (database, role) as source ``database user``, (0, role) as
``user``, (database, 0) as ``database``, (0, 0) as ``global``; the start-up packet's options
(``client``) override them all. pg_settings.source and reset_val show the outcome.

Who may change what (PostgreSQL 15's AlterRoleSet, AlterDatabaseSet, in its order): a role
name starting with ``pg_`` is reserved (42939); a superuser role's settings need a superuser;
another role's need CREATEROLE, a role's own are its own to change; ``ALTER DATABASE d`` and
``ALTER ROLE ALL IN DATABASE d`` need the database's owner (or a superuser); ``ALTER ROLE ALL``
needs a superuser. Each setting is then checked as SET checks it, with the session's rights
(unknown names 42704, postmaster/sighup/backend/internal ones 55P02, superuser-only ones and
custom ones 42501 without a superuser, bad values 22023); RESET ALL by a non-superuser keeps the
settings it could not have set. DROP ROLE deletes the role's rows.

Not enforced: two transactions that insert the first row of the same pair at the same time both
succeed (no unique index yet); the session applies both rows, the later one winning. A cluster
made before this catalog existed has no file for it: it reads as empty (logins and views work)
and ALTER ... SET says the cluster needs a new initdb (55000).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.settings import Setting, find_setting, placeholder_setting
from mirrordb.sql import roles
from mirrordb.sql import types as T

# ALTER ... SET kinds (pglast's VariableSetStmt.kind)
VAR_SET_VALUE = "VAR_SET_VALUE"
VAR_SET_CURRENT = "VAR_SET_CURRENT"
VAR_SET_DEFAULT = "VAR_SET_DEFAULT"
VAR_RESET = "VAR_RESET"
VAR_RESET_ALL = "VAR_RESET_ALL"
SETCONFIG_MAX_ENTRIES = 10_000      # settings in one row (PostgreSQL's bound is its 1 GB datum)
INVALID_OID = 0

# pg_settings.source of each kind of row, highest priority first (the order they apply in)
SOURCE_DATABASE_USER = "database user"
SOURCE_USER = "user"
SOURCE_DATABASE = "database"
SOURCE_GLOBAL = "global"

_DATABASE_OID = boot.PG_DATABASE.column_index("oid")
_DATABASE_NAME = boot.PG_DATABASE.column_index("datname")
_DATABASE_OWNER = boot.PG_DATABASE.column_index("datdba")


@dataclass(frozen=True)
class DbRoleSetting:
    """One pg_db_role_setting row."""

    database_oid: int
    role_oid: int
    config: tuple[str, ...]          # "name=value" elements, in order

    @classmethod
    def from_values(cls, values: Sequence[object]) -> DbRoleSetting:
        return cls(int(values[0]), int(values[1]),  # type: ignore[call-overload]
                   tuple(parse_setconfig(values[2])))  # type: ignore[arg-type]

    def values(self) -> list[object]:
        return [self.database_oid, self.role_oid, format_setconfig(self.config)]


@dataclass(frozen=True)
class SettingChange:
    """What one ALTER ROLE/DATABASE ... SET | RESET asks (the session builds it from the
    statement's VariableSetStmt: ``values`` are its arguments as text)."""

    kind: str
    name: str = ""
    values: tuple[str, ...] = ()


# -- the setconfig text form -----------------------------------------------------------------------


def parse_setconfig(text: str | None) -> list[str]:
    """setconfig's elements from its stored text (NULL: none)."""
    if text is None:
        return []
    return [str(element) for element in T.parse_text(T.TEXT_ARRAY_OID, text)]


def format_setconfig(config: Sequence[str]) -> str:
    """The stored text of setconfig's elements."""
    return str(T.format_text(T.TEXT_ARRAY_OID, list(config)))


def split_entry(entry: str) -> tuple[str, str | None]:
    """("name", "value") of a "name=value" element; value None when there is no "="."""
    name, equals, value = entry.partition("=")
    return name, (value if equals else None)


# -- reading ---------------------------------------------------------------------------------------


def setting_rows(rows: Iterable[tuple[object, Sequence[object]]]) -> list[DbRoleSetting]:
    """The rows of pg_db_role_setting from (tid, values) pairs, as a catalog read yields them."""
    return [DbRoleSetting.from_values(values) for _, values in rows]


def catalog_exists(engine: Any) -> bool:
    """Whether the cluster has pg_db_role_setting's file (initdb made it, since this catalog
    exists)."""
    return bool(engine.smgr.exists(boot.PG_DB_ROLE_SETTING.rnode))


def catalog_rows(engine: Any, transaction: Any) -> list[tuple[Any, tuple[object, ...]]]:
    """(tid, values) of pg_db_role_setting: the latest committed state plus ``transaction``'s
    own changes (None: none)."""
    if not catalog_exists(engine):
        return []
    return list(engine.relcache.rows(boot.PG_DB_ROLE_SETTING, transaction))


def statement_rows(txn: Any) -> list[DbRoleSetting]:
    """pg_db_role_setting's rows as the running statement's snapshot sees them (the views)."""
    if not catalog_exists(txn.engine):
        return []
    return setting_rows(txn.scan(boot.PG_DB_ROLE_SETTING))


def _database_oid(engine: Any, transaction: Any, name: str) -> tuple[int, int] | None:
    """(OID, owner OID) of database ``name``, or None."""
    for _, values in engine.relcache.rows(boot.PG_DATABASE, transaction):
        if values[_DATABASE_NAME] == name:
            return int(values[_DATABASE_OID]), int(values[_DATABASE_OWNER])  # type: ignore
    return None


def connection_settings(engine: Any, database: str, role_oid: int
                        ) -> list[tuple[str, str | None, str]]:
    """(name, value, source) of every stored default for a new session of role ``role_oid``
    in database ``database``, highest priority first (the module docstring's order); value
    None for an element without "=" (the session warns about it). A database without a
    pg_database row (template1) has only the role's and the global defaults."""
    found = _database_oid(engine, None, database)
    rows = {(row.database_oid, row.role_oid): row
            for row in setting_rows(catalog_rows(engine, None))}
    order = [((INVALID_OID, role_oid), SOURCE_USER), ((INVALID_OID, INVALID_OID), SOURCE_GLOBAL)]
    if found is not None:
        database_oid = found[0]
        order = [((database_oid, role_oid), SOURCE_DATABASE_USER), order[0],
                 ((database_oid, INVALID_OID), SOURCE_DATABASE), order[1]]
    settings: list[tuple[str, str | None, str]] = []
    for key, source in order:
        row = rows.get(key)
        for entry in row.config if row is not None else ():
            name, value = split_entry(entry)
            settings.append((name, value, source))
    return settings


# -- ALTER ROLE / ALTER DATABASE ... SET -----------------------------------------------------------


def alter_role_set(session: Any, txn: Any, node: dict[str, Any], change: SettingChange
                   ) -> tuple[str, list[Any]]:
    """ALTER ROLE | USER name | ALL [IN DATABASE d] SET ... | RESET ... (AlterRoleSetStmt)."""
    roles.check_writable(txn, "ALTER ROLE")
    spec = node.get("role")
    database = node.get("database")
    with txn.engine._ddl_lock:
        role_oid = INVALID_OID
        if spec is not None:
            role_oid = _target_role(session, txn, spec).oid
        database_oid = INVALID_OID
        if database is not None:
            database_oid, owner_oid = _find_database(txn, str(database))
            if spec is None:
                check_database_owner(session, str(database), owner_oid)
        if spec is None and database is None and not roles.is_superuser(session):
            raise roles.insufficient_privilege("must be superuser to alter settings globally")
        _alter_setting(session, txn, database_oid, role_oid, change)
    return "ALTER ROLE", []


def alter_database_set(session: Any, txn: Any, node: dict[str, Any], change: SettingChange
                       ) -> tuple[str, list[Any]]:
    """ALTER DATABASE d SET ... | RESET ... (AlterDatabaseSetStmt)."""
    roles.check_writable(txn, "ALTER DATABASE")
    name = str(node["dbname"])
    with txn.engine._ddl_lock:
        database_oid, owner_oid = _find_database(txn, name)
        check_database_owner(session, name, owner_oid)
        _alter_setting(session, txn, database_oid, INVALID_OID, change)
    return "ALTER DATABASE", []


def drop_role_settings(txn: Any, role_oid: int) -> None:
    """DROP ROLE: the role's rows in every database go with it."""
    for tid, values in catalog_rows(txn.engine, txn.transaction):
        if int(values[1]) == role_oid:  # type: ignore[call-overload]
            roles.delete_catalog_row(txn, boot.PG_DB_ROLE_SETTING, tid)


def _target_role(session: Any, txn: Any, spec: dict[str, Any]) -> roles.Role:
    """The role ALTER ROLE names, with PostgreSQL's checks in its order: reserved name,
    existence, then the rights to change its settings."""
    name = str(spec.get("rolename", ""))
    if spec.get("roletype") == "ROLESPEC_CSTRING" and name.startswith(roles.RESERVED_ROLE_PREFIX):
        raise MirrordbError(f'role name "{name}" is reserved', sqlstate="42939",
                            detail="Cannot alter reserved roles.")
    found = roles.find_role(txn, roles.role_spec_name(session, spec))
    if found is None:
        raise roles.role_missing(roles.role_spec_name(session, spec))
    role = found[1]
    if role.superuser:
        if not roles.is_superuser(session):
            raise roles.insufficient_privilege("must be superuser to alter superusers")
    elif not roles.has_createrole(session) and role.name != session.user:
        raise roles.insufficient_privilege("permission denied")
    return role


def _find_database(txn: Any, name: str) -> tuple[int, int]:
    found = _database_oid(txn.engine, txn.transaction, name)
    if found is None:
        raise MirrordbError(f'database "{name}" does not exist', sqlstate="3D000")
    return found


def check_database_owner(session: Any, name: str, owner_oid: int) -> roles.Role:
    """The current role, if it owns database ``name`` or is a superuser; else 42501."""
    role = roles.current_role(session)
    if role is None or not (role.superuser or role.oid == owner_oid):
        raise roles.insufficient_privilege(f"must be owner of database {name}")
    return role


def _find_row(txn: Any, database_oid: int, role_oid: int
              ) -> tuple[tuple[int, int], DbRoleSetting] | None:
    for tid, values in catalog_rows(txn.engine, txn.transaction):
        row = DbRoleSetting.from_values(values)
        if row.database_oid == database_oid and row.role_oid == role_oid:
            return tid, row  # type: ignore[return-value]
    return None


def _alter_setting(session: Any, txn: Any, database_oid: int, role_oid: int,
                   change: SettingChange) -> None:
    """PostgreSQL's AlterSetting: add to, remove from or reset the pair's row, inserting it
    for a first setting and deleting it once empty. A RESET where there is no row checks
    nothing and changes nothing, as in PostgreSQL."""
    if not catalog_exists(txn.engine):
        raise MirrordbError("this cluster has no pg_db_role_setting catalog", sqlstate="55000",
                            hint="It was made by an older mirrordb initdb: per-role and "
                                 "per-database settings need a cluster made by a new one.")
    value = _value_text(session, change)
    found = _find_row(txn, database_oid, role_oid)
    if found is None:
        if value is not None:
            config = config_add((), session.settings, change.name, value)
            txn._insert_catalog(boot.PG_DB_ROLE_SETTING,
                                DbRoleSetting(database_oid, role_oid, tuple(config)).values())
            txn.transaction.command_counter_increment()
        return
    tid, row = found
    if change.kind == VAR_RESET_ALL:
        config = config_reset(row.config, session.settings)
    elif value is not None:
        config = config_add(row.config, session.settings, change.name, value)
    else:
        config = config_delete(row.config, session.settings, change.name)
    if config:
        roles.update_catalog_row(txn, boot.PG_DB_ROLE_SETTING, tid,
                                 DbRoleSetting(database_oid, role_oid, tuple(config)).values())
    else:
        roles.delete_catalog_row(txn, boot.PG_DB_ROLE_SETTING, tid)
    txn.transaction.command_counter_increment()


def _value_text(session: Any, change: SettingChange) -> str | None:
    """The value to store (PostgreSQL's ExtractSetVariableArgs): the arguments flattened as
    SET flattens them, SHOW's text for FROM CURRENT, None for RESET and SET ... TO DEFAULT."""
    if change.kind == VAR_SET_VALUE:
        from mirrordb.server.config import flatten_arguments
        return flatten_arguments(_flattening_setting(change.name), change.values, change.name)
    if change.kind == VAR_SET_CURRENT:
        return str(session.settings.show(change.name))
    return None


def _flattening_setting(name: str) -> Setting:
    """The setting whose flags say how to flatten a SET argument list (an unknown name
    flattens as a plain list; it is refused later, by the check)."""
    setting = find_setting(name)
    return setting if setting is not None else placeholder_setting(name)


# -- setconfig arrays (PostgreSQL's GUCArrayAdd, GUCArrayDelete, GUCArrayReset) --------------------


def config_add(config: Sequence[str], checker: Any, name: str, value: str) -> list[str]:
    """``config`` with name=value set: checked with ``checker.check_stored_setting`` (a
    SessionSettings), the name in its canonical spelling, replacing the element of the same
    setting in place or appended."""
    setting = checker.check_stored_setting(name, value)
    canonical = setting.name
    entry = f"{canonical}={value}"
    result = list(config)
    for index, existing in enumerate(result):
        if split_entry(existing)[0] == canonical:
            result[index] = entry
            return result
    if len(result) >= SETCONFIG_MAX_ENTRIES:
        raise MirrordbError(f"too many settings in one pg_db_role_setting row (at most "
                            f"{SETCONFIG_MAX_ENTRIES})", sqlstate="54000")
    result.append(entry)
    return result


def config_delete(config: Sequence[str], checker: Any, name: str) -> list[str]:
    """``config`` without the setting ``name`` (which must be one this session may set)."""
    setting = checker.check_stored_setting(name, None)
    return [entry for entry in config if split_entry(entry)[0] != setting.name]


def config_reset(config: Sequence[str], checker: Any) -> list[str]:
    """RESET ALL: a superuser empties the row; anybody else keeps the settings they could
    not have set (superuser-only and custom ones)."""
    if checker.superuser:
        return []
    return [entry for entry in config
            if checker.check_stored_setting(split_entry(entry)[0], None,
                                            skip_if_no_permission=True) is None]


__all__ = ["DbRoleSetting", "SettingChange", "alter_role_set", "alter_database_set",
           "drop_role_settings", "connection_settings", "setting_rows", "catalog_exists",
           "catalog_rows", "statement_rows", "parse_setconfig",
           "format_setconfig", "split_entry", "config_add", "config_delete", "config_reset",
           "SETCONFIG_MAX_ENTRIES"]
