"""CREATE DATABASE and DROP DATABASE (``CreatedbStmt``, ``DropdbStmt``).

A database is a directory ``base/<oid>/`` of its own catalogs and relations, plus a row in the
shared catalog pg_database (catalog/bootstrap.py). CREATE DATABASE copies a template database
(``template1`` unless TEMPLATE names another) with the engine's ``Txn.create_database``:
PostgreSQL 15's default strategy WAL_LOG logs every copied page, so a standby builds the new
database from the WAL; FILE_COPY copies the files and logs one record. DROP DATABASE removes
the row and the directory (``Txn.drop_database``, after a DBASE DROP record whose redo ends the
standby's sessions in that database first).

Neither runs in a transaction block, and each commits before it returns, as PostgreSQL's do.
Who is connected where is the server's to say (server/postmaster.py: ``database_users``,
``claim_database_for_drop``): a template being copied and a database being dropped must have no
other session; once DROP DATABASE has claimed a database no session can connect to it.
Checks and messages follow PostgreSQL 15's dbcommands.c.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import roles
from mirrordb.sql.role_settings import catalog_rows as setting_catalog_rows
from mirrordb.sql.role_settings import check_database_owner

Node = dict[str, Any]

STRATEGIES = ("wal_log", "file_copy")
FORCE_WAIT_S = 5.0            # DROP DATABASE ... WITH (FORCE) waits this long for sessions
FORCE_POLL_S = 0.01
OTHER_SESSIONS_WAIT_S = 5.0   # how long a database's other sessions get to go, as PostgreSQL's
OTHER_SESSIONS_POLL_S = 0.1   # CountOtherDBBackends waits (50 looks 100 ms apart)


class DatabaseRow:
    """A pg_database row."""

    def __init__(self, tid: tuple[int, int], values: tuple[object, ...]) -> None:
        self.tid = tid
        self.values = values
        self.oid = int(values[0])                       # type: ignore[call-overload]
        self.name = str(values[1])
        self.owner_oid = int(values[2])                 # type: ignore[call-overload]
        self.is_template = bool(values[4])
        self.allow_connections = bool(values[5])
        self.connection_limit = int(values[6])          # type: ignore[call-overload]


def database_rows(txn: Any) -> list[DatabaseRow]:
    """pg_database as the transaction's catalog snapshot sees it."""
    return [DatabaseRow(tid, values)
            for tid, values in txn.engine.relcache.rows(boot.PG_DATABASE, txn.transaction)]


def find_database(txn: Any, name: str) -> DatabaseRow | None:
    return next((row for row in database_rows(txn) if row.name == name), None)


def outside_block(session: Any, command: str) -> None:
    if session.in_block:
        raise MirrordbError(f"{command} cannot run inside a transaction block", sqlstate="25001")


def other_sessions(count: int) -> str:
    return (f"There is {count} other session using the database." if count == 1
            else f"There are {count} other sessions using the database.")


def option_text(arg: Node | None) -> str | None:
    if arg is None:
        return None
    if "String" in arg:
        return str(arg["String"].get("sval", ""))
    if "Integer" in arg:
        return str(arg["Integer"].get("ival", 0))
    if "Boolean" in arg:
        return "true" if arg["Boolean"].get("boolval") else "false"
    if "TypeName" in arg:
        return ".".join(part["String"]["sval"] for part in arg["TypeName"]["names"])
    return None


def option_bool(name: str, arg: Node | None) -> bool:
    text = option_text(arg)
    if text is None:
        return True
    folded = text.lower()
    if folded in ("true", "on", "yes", "1", "t", "y"):
        return True
    if folded in ("false", "off", "no", "0", "f", "n"):
        return False
    raise MirrordbError(f"{name} requires a Boolean value", sqlstate="42601")


def option_int(name: str, arg: Node | None) -> int:
    if arg is not None and "Float" in arg:
        raise MirrordbError(f"{name} requires an integer value", sqlstate="42601")
    text = option_text(arg)
    try:
        return int(text) if text is not None else 0
    except ValueError:
        raise MirrordbError(f"{name} requires an integer value", sqlstate="42601") from None


def option_arguments(node: Node) -> tuple[dict[str, Node | None], dict[str, int | None]]:
    """The DefElem options of a CREATE/ALTER DATABASE by name (each at most once), and the
    1-based position of each for the errors that point at it."""
    options: dict[str, Node | None] = {}
    positions: dict[str, int | None] = {}
    for element in node.get("options", []):
        definition = element["DefElem"]
        option = definition["defname"]
        location = int(definition.get("location", -1)) + 1
        if option in options:
            raise MirrordbError("conflicting or redundant options", sqlstate="42601",
                                position=location or None)
        options[option] = definition.get("arg")
        positions[option] = location or None
    return options, positions


# -- CREATE DATABASE -------------------------------------------------------------------------------


def create_database(session: Any, node: Node) -> None:
    """CREATE DATABASE name [WITH] [OWNER role] [TEMPLATE db] [STRATEGY s] [CONNECTION LIMIT n]
    [IS_TEMPLATE b] [ALLOW_CONNECTIONS b] [OID n] [ENCODING/LOCALE ... as the server's]."""
    outside_block(session, "CREATE DATABASE")
    name = str(node["dbname"])
    options, positions = option_arguments(node)
    txn = session._ensure_transaction()
    roles.check_writable(txn, "CREATE DATABASE")
    role = roles.current_role(session)
    if role is None or not (role.superuser or role.createdb):
        raise roles.insufficient_privilege("permission denied to create database")
    owner_oid = role.oid
    if "owner" in options:
        owner_name = option_text(options.pop("owner"))
        owner = roles.roles_by_name(session).get(str(owner_name))
        if owner is None:
            raise MirrordbError(f'role "{owner_name}" does not exist', sqlstate="42704")
        roles.check_can_become(session, owner)
        owner_oid = owner.oid
    template_name = option_text(options.pop("template", None)) or "template1"
    strategy = (option_text(options.pop("strategy", None)) or "wal_log").lower()
    if strategy not in STRATEGIES:
        raise MirrordbError(f'invalid create database strategy "{strategy}"', sqlstate="22023",
                            hint='Valid strategies are "wal_log" and "file_copy".')
    limit = option_int("connection_limit", options.pop("connection_limit", None)) \
        if "connection_limit" in options else -1
    if limit < -1:
        raise MirrordbError(f"invalid connection limit: {limit}", sqlstate="22023")
    is_template = option_bool("is_template", options.pop("is_template")) \
        if "is_template" in options else False
    allow_connections = option_bool("allow_connections", options.pop("allow_connections")) \
        if "allow_connections" in options else True
    wanted_oid = option_int("oid", options.pop("oid")) if "oid" in options else None
    if wanted_oid is not None and wanted_oid < boot.FIRST_NORMAL_OBJECT_ID:
        raise MirrordbError(f"OIDs less than {boot.FIRST_NORMAL_OBJECT_ID} are reserved for "
                            "system objects", sqlstate="22023")
    engine = session.engine
    with engine._ddl_lock:
        rows = database_rows(txn)
        if any(row.name == name for row in rows):
            raise MirrordbError(f'database "{name}" already exists', sqlstate="42P04")
        template = next((row for row in rows if row.name == template_name), None)
        if template is None:
            raise MirrordbError(f'template database "{template_name}" does not exist',
                                sqlstate="3D000")
        _check_locale_options(options, positions, template.name)
        if not template.is_template and not role.superuser and role.oid != template.owner_oid:
            raise MirrordbError(f'permission denied to copy database "{template_name}"',
                                sqlstate="42501")
        if wanted_oid is not None and any(row.oid == wanted_oid for row in rows):
            raise MirrordbError(f"database OID {wanted_oid} is already in use by database "
                                f'"{next(r.name for r in rows if r.oid == wanted_oid)}"',
                                sqlstate="22023")
        users = wait_for_other_sessions(lambda: database_users(session, template.oid))
        if users:
            raise MirrordbError(f'source database "{template_name}" is being accessed by other '
                                "users", sqlstate="55006", detail=other_sessions(users))
        oid = wanted_oid if wanted_oid is not None else engine.allocate_oid()
        txn.create_database(oid, name, owner_oid, template.oid, strategy=strategy,
                            is_template=is_template, allow_connections=allow_connections,
                            connection_limit=limit)
        session._commit()
        reopen = getattr(session.server, "reopen_database", None)
        if reopen is not None:        # the OID of a dropped database may come back (OID n)
            reopen(oid)


def _check_locale_options(options: dict[str, Node | None], positions: dict[str, int | None],
                          template_name: str) -> None:
    """ENCODING, LOCALE and friends may only name what the server has (UTF8, C)."""
    for option, arg in options.items():
        text = option_text(arg)
        if option == "encoding":
            if text is not None and text.upper().replace("-", "").replace("_", "") not in (
                    "UTF8", "6", "UNICODE"):
                if template_name != "template0":
                    raise MirrordbError(
                        f"new encoding ({text.upper()}) is incompatible with the encoding of "
                        "the template database (UTF8)", sqlstate="22023",
                        hint="Use the same encoding as in the template database, or use "
                             "template0 as template.")
                raise MirrordbError(f"encoding {text} is not supported: mirrordb's databases "
                                    "are UTF8", sqlstate="0A000")
        elif option in ("locale", "lc_collate", "lc_ctype"):
            if text is not None and text not in ("C", "POSIX", "C.UTF-8", "C.utf8"):
                raise MirrordbError(f'locale "{text}" is not supported: mirrordb sorts as the '
                                    '"C" locale', sqlstate="0A000")
        elif option == "locale_provider":
            if text is not None and text.lower() != "libc":
                raise MirrordbError(f'locale provider "{text}" is not supported',
                                    sqlstate="0A000")
        elif option == "tablespace":
            if text not in (None, "pg_default"):
                raise MirrordbError(f'tablespace "{text}" does not exist', sqlstate="42704")
        elif option in ("icu_locale", "collation_version"):
            raise MirrordbError(f"option {option} is not supported", sqlstate="0A000")
        else:
            raise MirrordbError(f'option "{option}" not recognized', sqlstate="42601",
                                position=positions.get(option))


def wait_for_other_sessions(count: Callable[[], int]) -> int:
    """Ask ``count`` (how many other sessions use a database) until it says none or
    OTHER_SESSIONS_WAIT_S have passed; the last answer (a session ending just now, such as
    psql's after ``\\c``, does not make the command fail)."""
    deadline = time.monotonic() + OTHER_SESSIONS_WAIT_S
    users = count()
    while users and time.monotonic() < deadline:
        time.sleep(OTHER_SESSIONS_POLL_S)
        users = count()
    return users


def database_users(session: Any, oid: int) -> int:
    users = getattr(session.server, "database_users", None)
    return int(users(oid)) if users is not None else 0


# -- DROP DATABASE ---------------------------------------------------------------------------------


def drop_database(session: Any, node: Node) -> list[Any]:
    """DROP DATABASE [IF EXISTS] name [[WITH] (FORCE)]; returns the notices."""
    outside_block(session, "DROP DATABASE")
    name = str(node["dbname"])
    force = any(option["DefElem"]["defname"] == "force" for option in node.get("options", []))
    txn = session._ensure_transaction()
    roles.check_writable(txn, "DROP DATABASE")
    engine = session.engine
    server = session.server
    with engine._ddl_lock:
        row = find_database(txn, name)
        if row is None:
            if node.get("missing_ok"):
                session._commit()
                return [("NOTICE", f'database "{name}" does not exist, skipping')]
            raise MirrordbError(f'database "{name}" does not exist', sqlstate="3D000")
        check_database_owner(session, name, row.owner_oid)
        if row.is_template:
            raise MirrordbError("cannot drop a template database", sqlstate="42809")
        if row.oid == engine.database_oid:
            raise MirrordbError("cannot drop the currently open database", sqlstate="55006")
        if force:
            _terminate_users(session, row.oid)
        claim = getattr(server, "claim_database_for_drop", None)
        users = wait_for_other_sessions(lambda: int(claim(row.oid))) if claim is not None else 0
        if users:
            raise MirrordbError(f'database "{name}" is being accessed by other users',
                                sqlstate="55006", detail=other_sessions(users))
        try:
            for tid, values in setting_catalog_rows(engine, txn.transaction):
                if int(values[0]) == row.oid:                # type: ignore[call-overload]
                    roles.delete_catalog_row(txn, boot.PG_DB_ROLE_SETTING, tid)
            for tid, values in engine.relcache.rows(boot.PG_SHDESCRIPTION, txn.transaction):
                if values[0] == row.oid and values[1] == boot.PG_DATABASE_OID:
                    roles.delete_catalog_row(txn, boot.PG_SHDESCRIPTION, tid)
        except BaseException:
            release = getattr(server, "release_dropped_database", None)
            if release is not None:
                release(row.oid)
            raise
        txn.drop_database(row.oid)
        session._commit()
    return []


def _check_may_terminate(session: Any, info: Any) -> None:
    """PostgreSQL's rule for WITH (FORCE): a superuser's session only by a superuser, another's
    only by a member of its role (mirrordb: the role itself) or of pg_signal_backend."""
    role = roles.current_role(session)
    if role is not None and role.superuser:
        return
    target = roles.roles_by_name(session).get(str(getattr(info, "user", "")))
    if target is not None and target.superuser:
        raise roles.insufficient_privilege("must be a superuser to terminate superuser process")
    if role is None or target is None or target.oid != role.oid:
        raise roles.insufficient_privilege("must be a member of the role whose process is being "
                                           "terminated or member of pg_signal_backend")


def _terminate_users(session: Any, oid: int) -> None:
    """WITH (FORCE): end every other session connected to database ``oid`` (as
    pg_terminate_backend does) and wait for them to go."""
    server = session.server
    backends = getattr(server, "backends", None)
    if backends is None:
        return
    targets = [info for info in backends()
               if getattr(info, "database_oid", 0) == oid and info.pid != session.process_id]
    for info in targets:
        _check_may_terminate(session, info)
    for info in targets:
        info.interrupts.request_terminate()
    deadline = time.monotonic() + FORCE_WAIT_S
    while database_users(session, oid) and time.monotonic() < deadline:
        time.sleep(FORCE_POLL_S)
