"""Database privileges: pg_database.datacl, GRANT / REVOKE ... ON DATABASE, and the checks
that read them (CONNECT at connection start, CREATE for CREATE SCHEMA, has_database_privilege).

Who calls it: sql/roles.py hands a ``GrantStmt`` whose object type is a database to
``grant_on_databases``; server/backend.py asks ``connect_denied`` before a session starts;
sql/schemas.py asks ``holds_database_rights`` for CREATE; sql/database_functions.py answers
has_database_privilege with it; sql/alter_database.py rewrites the ACL for a new owner with
``acl_for_new_owner``; DROP ROLE (sql/roles.py) lists ``database_acl_dependents``; initdb
stores ``template_acl`` on template1 and template0; the pg_database view shows
``acl_item_texts``.

datacl is stored as relacl is: the text form of PostgreSQL's aclitem[] (sql/roles.py documents
it field by field), grantees and grantors by role name; NULL means PostgreSQL's default for a
database (``acldefault('d', owner)``): PUBLIC holds TEMPORARY and CONNECT, the owner CREATE,
TEMPORARY and CONNECT, both granted by the owner. The first GRANT or REVOKE stores the default
with its change applied, as PostgreSQL does. Rights and the order of the checks and warnings
follow PostgreSQL 15's aclchk.c (select_best_grantor, restrict_and_check_grant,
merge_acl_with_grant) and acl.c (aclmask, aclupdate, recursive_revoke, aclnewowner). Role
membership does not exist in mirrordb, so a role's rights are its own items' and PUBLIC's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import roles
from mirrordb.sql.roles import PUBLIC_GRANTEE, AclItem

Node = dict[str, Any]
Notices = list[Any]

# AclMode bits of the database rights (their letters in roles.ACL_RIGHT_LETTERS: C, T, c).
ACL_CREATE = 1 << 9
ACL_CREATE_TEMP = 1 << 10
ACL_CONNECT = 1 << 11
DATABASE_RIGHTS = ACL_CREATE | ACL_CREATE_TEMP | ACL_CONNECT      # ACL_ALL_RIGHTS_DATABASE
PUBLIC_DEFAULT_RIGHTS = ACL_CREATE_TEMP | ACL_CONNECT
# GRANT's privilege words (string_to_privilege) and how an invalid one is spelled back.
PRIVILEGE_BITS = {"select": 1 << 1, "insert": 1 << 0, "update": 1 << 2, "delete": 1 << 3,
                  "truncate": 1 << 4, "references": 1 << 5, "trigger": 1 << 6,
                  "execute": 1 << 7, "usage": 1 << 8, "create": ACL_CREATE,
                  "temporary": ACL_CREATE_TEMP, "temp": ACL_CREATE_TEMP,
                  "connect": ACL_CONNECT, "set": 1 << 12, "alter system": 1 << 13}
PRIVILEGE_WORDS = {1 << 0: "INSERT", 1 << 1: "SELECT", 1 << 2: "UPDATE", 1 << 3: "DELETE",
                   1 << 4: "TRUNCATE", 1 << 5: "REFERENCES", 1 << 6: "TRIGGER",
                   1 << 7: "EXECUTE", 1 << 8: "USAGE", ACL_CREATE: "CREATE",
                   ACL_CREATE_TEMP: "TEMP", ACL_CONNECT: "CONNECT", 1 << 12: "SET",
                   1 << 13: "ALTER SYSTEM"}
# has_database_privilege's words.
CHECK_WORDS = {"CREATE": ACL_CREATE, "TEMPORARY": ACL_CREATE_TEMP, "TEMP": ACL_CREATE_TEMP,
               "CONNECT": ACL_CONNECT}
_DATACL = boot.PG_DATABASE.column_index("datacl")
_DATNAME = boot.PG_DATABASE.column_index("datname")
_DATDBA = boot.PG_DATABASE.column_index("datdba")
_OID = boot.PG_DATABASE.column_index("oid")


# -- the ACL and what it grants ------------------------------------------------------------------


def default_acl(owner: str) -> list[AclItem]:
    """acldefault('d', owner): PUBLIC TEMPORARY and CONNECT, the owner everything."""
    return [AclItem(PUBLIC_GRANTEE, owner, PUBLIC_DEFAULT_RIGHTS),
            AclItem(owner, owner, DATABASE_RIGHTS)]


def template_acl(superuser: str) -> str:
    """template1's and template0's datacl after initdb revokes PUBLIC's CREATE and TEMPORARY."""
    return roles.format_acl([AclItem(PUBLIC_GRANTEE, superuser, ACL_CONNECT),
                             AclItem(superuser, superuser, DATABASE_RIGHTS)])


def effective_acl(acl: str | None, owner: str) -> list[AclItem]:
    """The items a stored datacl (or its NULL default) holds."""
    return default_acl(owner) if acl is None else roles.parse_acl(acl)


def acl_item_texts(acl: str | None) -> list[str] | None:
    """datacl as the pg_database view returns it: each aclitem's text, NULL kept."""
    if acl is None:
        return None
    return [roles.format_acl_item(item) for item in roles.parse_acl(acl)]


def acl_mask(items: Sequence[AclItem], role: str, owner: str) -> tuple[int, int]:
    """aclmask: (rights, grant options) ``role`` holds through its own items and PUBLIC's;
    the owner implicitly holds every grant option."""
    rights, options = roles.acl_mask(items, role)
    return rights, options | (DATABASE_RIGHTS if role == owner else 0)


def holds_database_rights(role: roles.Role | None, acl: str | None, owner: str, rights: int,
                          grant_option: bool = False) -> bool:
    """pg_database_aclcheck: superusers hold everything; anybody else what the ACL grants
    (any of ``rights``; with ``grant_option``, their grant options)."""
    if role is None:
        return False
    if role.superuser:
        return True
    held, options = acl_mask(effective_acl(acl, owner), role.name, owner)
    return bool((options if grant_option else held) & rights)


def may_create_in_database(session: Any) -> bool:
    """Whether the session's current user holds CREATE on the database it is connected to."""
    transaction = getattr(getattr(session, "txn", None), "transaction", None)
    for _, values in session.engine.relcache.rows(boot.PG_DATABASE, transaction):
        if values[_OID] == session.engine.database_oid:
            known = roles.roles_by_name(session)
            owner = roles.role_name_of(known, int(values[_DATDBA]))   # type: ignore[call-overload]
            return holds_database_rights(known.get(session.user), values[_DATACL],  # type: ignore[arg-type]
                                         owner, ACL_CREATE)
    return False


def connect_denied(role_name: str, superuser: bool, acl: str | None, owner: str) -> bool:
    """Whether a non-superuser's connection lacks CONNECT (CheckMyDatabase)."""
    if superuser:
        return False
    held, _ = acl_mask(effective_acl(acl, owner), role_name, owner)
    return not held & ACL_CONNECT


# -- GRANT / REVOKE ... ON DATABASE -------------------------------------------------------------


@dataclass(eq=False)
class DatabaseGrant:
    """What one GRANT or REVOKE on databases asks for."""

    is_grant: bool
    grant_option: bool
    cascade: bool
    privileges: int
    all_privileges: bool
    grantees: tuple[str, ...]


def grant_on_databases(session: Any, txn: Any, node: Node) -> tuple[str, Notices]:
    """GRANT / REVOKE [GRANT OPTION FOR] privileges ON DATABASE names TO | FROM roles |
    PUBLIC [WITH GRANT OPTION] [CASCADE | RESTRICT], in ExecuteGrantStmt's order: the databases
    are found, then the grantees, then the privileges are checked."""
    is_grant = bool(node.get("is_grant"))
    command = "GRANT" if is_grant else "REVOKE"
    roles.check_writable(txn, command)
    with txn.engine._ddl_lock:
        targets = [_target_row(txn, object_node["String"]["sval"])
                   for object_node in node.get("objects", [])]
        grantees = tuple(roles.grantee_name(session, txn, spec["RoleSpec"])
                         for spec in node.get("grantees", []))
        privileges, all_privileges = _requested_privileges(node.get("privileges"))
        request = DatabaseGrant(is_grant, bool(node.get("grant_option")),
                                node.get("behavior") == "DROP_CASCADE", privileges,
                                all_privileges, grantees)
        known = roles._read_roles(txn.engine, txn.transaction)
        notices: Notices = []
        for tid, values in targets:
            notices += _grant_on_database(session, txn, request, known, tid, values)
            txn.transaction.command_counter_increment()
    return command, notices


def _target_row(txn: Any, name: str) -> tuple[tuple[int, int], tuple[object, ...]]:
    for tid, values in txn.engine.relcache.rows(boot.PG_DATABASE, txn.transaction):
        if values[_DATNAME] == name:
            return tid, values
    raise MirrordbError(f'database "{name}" does not exist', sqlstate="3D000")


def _requested_privileges(privileges: list[Node] | None) -> tuple[int, bool]:
    if not privileges:
        return DATABASE_RIGHTS, True
    rights = 0
    for node in privileges:
        fields = node["AccessPriv"]
        if fields.get("cols"):
            raise MirrordbError("column privileges are only valid for relations",
                                sqlstate="0LP01")
        name = str(fields.get("priv_name", ""))
        bit = PRIVILEGE_BITS.get(name)
        if bit is None:
            raise MirrordbError(f'unrecognized privilege type "{name}"', sqlstate="42601")
        if not bit & DATABASE_RIGHTS:
            raise MirrordbError(f"invalid privilege type {PRIVILEGE_WORDS[bit]} for database",
                                sqlstate="0LP01")
        rights |= bit
    return rights, False


def _grant_on_database(session: Any, txn: Any, request: DatabaseGrant,
                       known: dict[str, roles.Role], tid: tuple[int, int],
                       values: tuple[object, ...]) -> Notices:
    """ExecGrant_Database for one row: pick the grantor, restrict the rights to its grant
    options (warning or failing as PostgreSQL does), apply them to every grantee."""
    name = str(values[_DATNAME])
    owner = roles.role_name_of(known, int(values[_DATDBA]))            # type: ignore[call-overload]
    acl = effective_acl(values[_DATACL], owner)                # type: ignore[arg-type]
    role = known.get(session.user)
    if role is not None and (role.superuser or role.name == owner):
        grantor, available = owner, DATABASE_RIGHTS
    else:
        grantor = session.user
        held, available = acl_mask(acl, grantor, owner)
        if not available and not held:
            raise MirrordbError(f"permission denied for database {name}", sqlstate="42501")
    notices: Notices = []
    privileges = _restrict(request, available & DATABASE_RIGHTS, name, notices)
    for grantee in request.grantees:
        acl = _merge(acl, request, grantee, grantor, privileges, owner)
    row = list(values)
    row[_DATACL] = roles.format_acl(acl)
    roles.update_catalog_row(txn, boot.PG_DATABASE, tid, row)
    return notices


def _restrict(request: DatabaseGrant, available: int, name: str, notices: Notices) -> int:
    """restrict_and_check_grant: the rights the grantor may pass on, with the warnings."""
    allowed = request.privileges & available
    if allowed == request.privileges or (request.all_privileges and allowed):
        return allowed
    if request.is_grant:
        text = ("no privileges were granted" if not allowed
                else "not all privileges were granted")
    else:
        text = ("no privileges could be revoked" if not allowed
                else "not all privileges could be revoked")
    notices.append(("WARNING", f'{text} for "{name}"'))
    return allowed


def _merge(acl: list[AclItem], request: DatabaseGrant, grantee: str, grantor: str,
           privileges: int, owner: str) -> list[AclItem]:
    """merge_acl_with_grant for one grantee: a GRANT adds the rights (and with GRANT OPTION
    their options); a REVOKE removes the rights and options (GRANT OPTION FOR: only the
    options), then whatever the grantee had passed on from the lost options."""
    if request.is_grant and request.grant_option and grantee == PUBLIC_GRANTEE:
        raise MirrordbError("grant options can only be granted to roles", sqlstate="0LP01")
    before = _grant_options_of(acl, grantee, grantor)
    acl = roles.acl_update(acl, grantee, grantor, privileges, is_grant=request.is_grant,
                           grant_option=request.grant_option)
    lost = before & ~_grant_options_of(acl, grantee, grantor)
    if lost:
        acl = _recursive_revoke(acl, grantee, lost, owner, request.cascade)
    return acl


def _grant_options_of(acl: Sequence[AclItem], grantee: str, grantor: str) -> int:
    return next((item.grant_options for item in acl
                 if item.grantee == grantee and item.grantor == grantor), 0)


def _recursive_revoke(acl: list[AclItem], grantee: str, revoked: int, owner: str,
                      cascade: bool) -> list[AclItem]:
    """recursive_revoke: the rights ``grantee`` granted with options it no longer holds go
    too (CASCADE), or the REVOKE fails (RESTRICT)."""
    if grantee == owner:
        return acl
    _, still_held = acl_mask(acl, grantee, owner)
    revoked &= ~still_held
    while revoked:
        dependent = next((item for item in acl
                          if item.grantor == grantee and item.privileges & revoked), None)
        if dependent is None:
            break
        if not cascade:
            raise MirrordbError("dependent privileges exist", sqlstate="2BP01",
                                hint="Use CASCADE to revoke them too.")
        before = dependent.grant_options
        acl = roles.acl_update(acl, dependent.grantee, grantee, revoked, is_grant=False)
        lost = before & ~_grant_options_of(acl, dependent.grantee, grantee)
        if lost:
            acl = _recursive_revoke(acl, dependent.grantee, lost, owner, cascade)
    return acl


# -- ownership and dependents --------------------------------------------------------------------


def acl_for_new_owner(acl: str | None, old_owner: str, new_owner: str) -> str | None:
    """aclnewowner: the stored ACL with the old owner's name replaced by the new owner's as
    grantee and grantor; items that then coincide are merged into the first. NULL stays."""
    if acl is None:
        return None
    merged: list[AclItem] = []
    for item in roles.parse_acl(acl):
        item = replace(item, grantee=new_owner if item.grantee == old_owner else item.grantee,
                       grantor=new_owner if item.grantor == old_owner else item.grantor)
        same = next((index for index, earlier in enumerate(merged)
                     if (earlier.grantee, earlier.grantor) == (item.grantee, item.grantor)),
                    None)
        if same is None:
            merged.append(item)
        else:
            earlier = merged[same]
            merged[same] = replace(earlier, privileges=earlier.privileges | item.privileges,
                                   grant_options=earlier.grant_options | item.grant_options)
    return roles.format_acl(merged)


def database_acl_dependents(txn: Any, role: roles.Role) -> list[tuple[int, str]]:
    """(database OID, "privileges for database d") for every database whose stored ACL names
    ``role`` as grantee or grantor and that it does not own (an owner's rights are part of
    its ownership, as PostgreSQL records no ACL dependency for the owner)."""
    lines = []
    for _, values in txn.engine.relcache.rows(boot.PG_DATABASE, txn.transaction):
        acl = values[_DATACL]
        if acl is None or values[_DATDBA] == role.oid:
            continue
        if any(role.name in (item.grantee, item.grantor)
               for item in roles.parse_acl(str(acl))):
            lines.append((int(values[_OID]),               # type: ignore[call-overload]
                          f"privileges for database {values[_DATNAME]}"))
    return sorted(lines)


__all__ = ["ACL_CONNECT", "ACL_CREATE", "ACL_CREATE_TEMP", "DATABASE_RIGHTS", "CHECK_WORDS",
           "default_acl", "template_acl", "effective_acl", "acl_item_texts", "acl_mask",
           "holds_database_rights", "connect_denied", "grant_on_databases",
           "acl_for_new_owner", "database_acl_dependents"]
