"""Roles and table privileges: CREATE/ALTER/DROP ROLE, GRANT/REVOKE, and the privilege check.

Who calls it: the session (sql/session.py) delegates ``CreateRoleStmt``, ``AlterRoleStmt``,
``DropRoleStmt``, ``GrantStmt`` and ``GrantRoleStmt`` here; the planner (every table a query
reads), dml.py (the target of INSERT/UPDATE/DELETE), COPY and TRUNCATE call
``check_table_privilege``; ddl.py asks ``current_role_oid`` for the owner of a new relation;
initdb asks ``catalog_acl`` for the ACLs of the system catalogs. The backend authenticates
against the rows written here (pg_authid.rolpassword) but reads them itself.

Where things live, as in PostgreSQL:

* A role is a row of ``pg_authid`` (shared catalog): oid, rolname, rolsuper, rolinherit,
  rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit,
  rolpassword. The password is stored as ``auth.md5.encrypt_password`` makes it: a SCRAM-SHA-256
  or md5 verifier, never plain text; a value that already is a verifier is stored as given.
* A relation's privileges are ``pg_class.relacl``, PostgreSQL's ``aclitem[]`` in its text form
  (stored as text), or NULL for the default: the owner holds every privilege. The owner is
  ``pg_class.relowner``. Catalog rows change through WAL-logged heap updates like any row, so a
  standby's roles and grants are the primary's.

The ``aclitem[]`` text form, field by field::

    {item,item,...}          array_out: braces, comma-separated; an element is double-quoted
                             (with \\" and \\\\ escaped) when it is empty, is NULL, or holds
                             a brace, comma, quote, backslash or white space
    grantee=privileges/grantor
        grantee, grantor     role names; the grantee is empty for PUBLIC; a name with any
                             character other than an ASCII letter, digit or underscore is
                             double-quoted, with inner double quotes doubled
        privileges           one letter per right, in this order: a INSERT, r SELECT,
                             w UPDATE, d DELETE, D TRUNCATE, x REFERENCES, t TRIGGER,
                             X EXECUTE, U USAGE, C CREATE, T TEMPORARY, c CONNECT, s SET,
                             A ALTER SYSTEM; a "*" after a letter is its grant option

e.g. ``{postgres=arwdDxt/postgres,bob=r/postgres,=r/postgres}`` (bob and PUBLIC may SELECT).

Privilege checks follow PostgreSQL's ``pg_class_aclcheck``: superusers pass; everybody else
needs the right in the ACL (the owner's rights come from the ACL too, from the default one
while relacl is NULL), through an item for the role itself or for PUBLIC. Role membership is
not supported (no pg_auth_members), so no right is inherited from another role.

The catalogs are read through ``engine.relcache.rows`` (latest committed state plus the
asking transaction's own changes). What the checks read is cached per engine and per relation
cache generation, which advances whenever a transaction that changed a catalog ends: a GRANT,
REVOKE or ALTER ROLE by another session is seen by the next statement planned after it commits
(cached plans are re-planned on the same signal, so they are re-checked). A transaction that
changed catalogs itself reads them directly until it ends.

A role's setting defaults (ALTER ROLE ... SET) live in pg_db_role_setting: sql/role_settings.py
changes them, with the helpers here, and DROP ROLE deletes them.

Database privileges (GRANT/REVOKE ... ON DATABASE, with grant options) are
sql/database_privileges.py's, which builds on the codec here.

Not supported: role membership (GRANT role TO role, IN ROLE, ROLE, ADMIN), WITH GRANT OPTION
on tables (0A000; REVOKE GRANT OPTION FOR is accepted and, since no grant option can exist,
changes nothing), column privileges, privileges on objects other than tables, sequences and
databases, ALTER ROLE
... RENAME. ``VALID UNTIL`` is accepted and ignored (pg_authid has no rolvaliduntil
column); ``CONNECTION LIMIT`` is stored and not enforced. Two transactions that create the same
role name at the same time both succeed (no unique index on pg_authid.rolname yet).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mirrordb.access.heapam import TmResult
from mirrordb.access.relation import RELKIND_INDEX, RELKIND_SEQUENCE, Relation
from mirrordb.auth import md5 as md5lib
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.sql.expressions import error_at, feature_not_supported
from mirrordb.sql.parser import Node, one

# -- the aclitem[] text codec -------------------------------------------------------------------

# Rights as PostgreSQL numbers them (AclMode bits); the letters of ACL_ALL_RIGHTS_STR in bit order.
ACL_INSERT = 1 << 0
ACL_SELECT = 1 << 1
ACL_UPDATE = 1 << 2
ACL_DELETE = 1 << 3
ACL_TRUNCATE = 1 << 4
ACL_REFERENCES = 1 << 5
ACL_TRIGGER = 1 << 6
ACL_USAGE = 1 << 8
ACL_RIGHT_LETTERS = "arwdDxtXUCTcsA"
ACL_GRANT_OPTION_MARK = "*"
TABLE_RIGHTS = (ACL_INSERT | ACL_SELECT | ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE
                | ACL_REFERENCES | ACL_TRIGGER)
SEQUENCE_RIGHTS = ACL_USAGE | ACL_SELECT | ACL_UPDATE
PUBLIC_GRANTEE = ""
# SQL privilege names -> rights, as GRANT spells them and as the checks are asked.
PRIVILEGES = {"INSERT": ACL_INSERT, "SELECT": ACL_SELECT, "UPDATE": ACL_UPDATE,
              "DELETE": ACL_DELETE, "TRUNCATE": ACL_TRUNCATE, "REFERENCES": ACL_REFERENCES,
              "TRIGGER": ACL_TRIGGER, "USAGE": ACL_USAGE}
ACL_TEXT_MAX_ITEMS = 10_000         # items in one relacl (PostgreSQL's bound is its 1 GB datum)
_ARRAY_SPECIAL = set('{},"\\ \t\n\r\v\f')


@dataclass
class AclItem:
    """One ``grantee=privileges/grantor`` entry (grantee ``""`` is PUBLIC)."""

    grantee: str
    grantor: str
    privileges: int
    grant_options: int = 0


def _quote_name(name: str) -> str:
    """aclitem's identifier form: bare if only ASCII letters, digits and '_'."""
    if all(c == "_" or (c.isascii() and c.isalnum()) for c in name):
        return name
    return '"' + name.replace('"', '""') + '"'


def format_acl_item(item: AclItem) -> str:
    letters = []
    for bit, letter in enumerate(ACL_RIGHT_LETTERS):
        if item.privileges & (1 << bit):
            letters.append(letter)
            if item.grant_options & (1 << bit):
                letters.append(ACL_GRANT_OPTION_MARK)
    grantee = _quote_name(item.grantee) if item.grantee else ""
    return f"{grantee}={''.join(letters)}/{_quote_name(item.grantor)}"


def _array_element(text: str) -> str:
    if text and text.upper() != "NULL" and not (_ARRAY_SPECIAL & set(text)):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_acl(items: Sequence[AclItem]) -> str:
    """The text of an aclitem[] (what pg_class.relacl holds)."""
    return "{" + ",".join(_array_element(format_acl_item(item)) for item in items) + "}"


def _split_array(text: str) -> list[str]:
    """The elements of a one-dimensional array's text form (quotes and escapes undone)."""
    text = text.strip()
    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        raise _malformed_acl(text)
    body, elements, position = text[1:-1], [], 0
    while position < len(body):
        element, position = _array_token(body, position)
        elements.append(element)
        if position < len(body):
            if body[position] != "," or position + 1 == len(body):
                raise _malformed_acl(text)
            position += 1
        if len(elements) > ACL_TEXT_MAX_ITEMS:
            raise _malformed_acl(text)
    return elements


def _array_token(body: str, position: int) -> tuple[str, int]:
    """One element from ``position``: (its text, the index after it)."""
    if body[position] != '"':
        end = body.find(",", position)
        end = len(body) if end < 0 else end
        return body[position:end].strip(), end
    characters, position = [], position + 1
    while position < len(body) and body[position] != '"':
        if body[position] == "\\" and position + 1 < len(body):
            position += 1
        characters.append(body[position])
        position += 1
    if position >= len(body):
        raise _malformed_acl(body)
    return "".join(characters), position + 1


def _read_name(text: str, position: int, stop: str) -> tuple[str, int]:
    """An aclitem identifier (bare or double-quoted) up to ``stop``."""
    if position < len(text) and text[position] == '"':
        characters, position = [], position + 1
        while position < len(text):
            if text[position] == '"':
                if text[position + 1:position + 2] == '"':
                    characters.append('"')
                    position += 2
                    continue
                return "".join(characters), position + 1
            characters.append(text[position])
            position += 1
        raise _malformed_acl(text)
    end = text.find(stop, position)
    end = len(text) if end < 0 else end
    return text[position:end], end


def parse_acl_item(text: str) -> AclItem:
    grantee, position = _read_name(text, 0, "=")
    if text[position:position + 1] != "=":
        raise _malformed_acl(text)
    privileges = grant_options = 0
    position += 1
    while position < len(text) and text[position] != "/":
        bit = ACL_RIGHT_LETTERS.find(text[position])
        if bit < 0:
            raise _malformed_acl(text)
        privileges |= 1 << bit
        if text[position + 1:position + 2] == ACL_GRANT_OPTION_MARK:
            grant_options |= 1 << bit
            position += 1
        position += 1
    if position >= len(text):
        raise _malformed_acl(text)
    grantor, position = _read_name(text, position + 1, "\0")
    if position != len(text) or not grantor:
        raise _malformed_acl(text)
    return AclItem(grantee, grantor, privileges, grant_options)


def parse_acl(text: str) -> list[AclItem]:
    """The items of an aclitem[]'s text form; MirrordbError XX000 if it is not one."""
    return [parse_acl_item(element) for element in _split_array(text)]


def _malformed_acl(text: str) -> MirrordbError:
    return MirrordbError(f'malformed aclitem array in pg_class.relacl: "{text[:200]}"',
                         sqlstate="XX000")


def object_rights(relkind: str) -> int:
    """Every right the kind of relation has (PostgreSQL's ACL_ALL_RIGHTS_RELATION/SEQUENCE)."""
    return SEQUENCE_RIGHTS if relkind == RELKIND_SEQUENCE else TABLE_RIGHTS


def default_acl(owner: str, relkind: str) -> list[AclItem]:
    """What a NULL relacl means (acldefault): the owner holds everything, nobody else."""
    return [AclItem(owner, owner, object_rights(relkind))]


def acl_mask(items: Iterable[AclItem], role: str | None) -> tuple[int, int]:
    """(rights, grant options) that ``role`` holds through its own items and PUBLIC's."""
    rights = options = 0
    for item in items:
        if item.grantee == PUBLIC_GRANTEE or item.grantee == role:
            rights |= item.privileges
            options |= item.grant_options
    return rights, options


def acl_update(items: Sequence[AclItem], grantee: str, grantor: str, privileges: int, *,
               is_grant: bool, grant_option: bool = False) -> list[AclItem]:
    """aclupdate: add rights to (or remove them from) the (grantee, grantor) item.

    A grant adds to the existing item or appends a new one; a revoke removes the rights (and
    their grant options; with ``grant_option`` only the grant options) and drops an item left
    without rights. The order of the other items is kept."""
    result: list[AclItem] = []
    found = False
    for item in items:
        if item.grantee != grantee or item.grantor != grantor:
            result.append(item)
            continue
        found = True
        if is_grant:
            item = replace(item, privileges=item.privileges | privileges,
                           grant_options=item.grant_options | (privileges if grant_option
                                                               else 0))
        elif grant_option:
            item = replace(item, grant_options=item.grant_options & ~privileges)
        else:
            item = AclItem(grantee, grantor, item.privileges & ~privileges,
                           item.grant_options & ~privileges)
        if item.privileges:
            result.append(item)
    if is_grant and not found and privileges:
        result.append(AclItem(grantee, grantor, privileges,
                              privileges if grant_option else 0))
    return result


def catalog_acl(superuser: str, relation_name: str) -> str:
    """relacl of a system catalog, as PostgreSQL's initdb leaves it: readable by PUBLIC,
    except pg_authid (it holds the password verifiers)."""
    items = default_acl(superuser, "r")
    if relation_name != boot.PG_AUTHID.name:
        items.append(AclItem(PUBLIC_GRANTEE, superuser, ACL_SELECT))
    return format_acl(items)


# -- catalog rows -----------------------------------------------------------------------------


@dataclass
class Role:
    """A pg_authid row."""

    oid: int
    name: str
    superuser: bool = False
    inherit: bool = True
    createrole: bool = False
    createdb: bool = False
    canlogin: bool = False
    replication: bool = False
    bypassrls: bool = False
    connection_limit: int = -1
    password: str | None = None

    @classmethod
    def from_values(cls, values: Sequence[object]) -> Role:
        invariant(len(values) == len(boot.PG_AUTHID.columns), "pg_authid row width")
        return cls(int(values[0]), str(values[1]), *(bool(v) for v in values[2:9]),  # type: ignore
                   int(values[9]),  # type: ignore[call-overload]
                   None if values[10] is None else str(values[10]))

    def values(self) -> list[object]:
        return [self.oid, self.name, self.superuser, self.inherit, self.createrole,
                self.createdb, self.canlogin, self.replication, self.bypassrls,
                self.connection_limit, self.password]


@dataclass(eq=False)
class ClassEntry:
    """What the checks need of a pg_class row."""

    oid: int
    name: str
    namespace_oid: int
    owner: int
    kind: str
    acl: str | None


_CLASS_OID = boot.PG_CLASS.column_index("oid")
_CLASS_NAME = boot.PG_CLASS.column_index("relname")
_CLASS_NAMESPACE = boot.PG_CLASS.column_index("relnamespace")
_CLASS_OWNER = boot.PG_CLASS.column_index("relowner")
_CLASS_KIND = boot.PG_CLASS.column_index("relkind")
_CLASS_ACL = boot.PG_CLASS.column_index("relacl")
invariant(_CLASS_ACL == len(boot.PG_CLASS.columns) - 1, "relacl is pg_class's last column")


def _class_entry(values: Sequence[object]) -> ClassEntry:
    acl = values[_CLASS_ACL] if len(values) > _CLASS_ACL else None
    return ClassEntry(int(values[_CLASS_OID]), str(values[_CLASS_NAME]),  # type: ignore
                      int(values[_CLASS_NAMESPACE]), int(values[_CLASS_OWNER]),  # type: ignore
                      str(values[_CLASS_KIND]), None if acl is None else str(acl))


@dataclass(eq=False)
class _CatalogSnapshot:
    """Roles and relation ACLs of one relation-cache generation (loaded on first use)."""

    generation: int
    roles: dict[str, Role] | None = None
    classes: dict[int, ClassEntry] | None = None


_snapshots: weakref.WeakKeyDictionary[Any, _CatalogSnapshot] = weakref.WeakKeyDictionary()
_snapshots_lock = threading.Lock()


def _transaction(session: Any) -> Any:
    txn = getattr(session, "txn", None)
    return None if txn is None else txn.transaction


def _reads_own_changes(session: Any) -> bool:
    transaction = _transaction(session)
    return transaction is not None and bool(transaction.touched_catalogs)


def _snapshot(engine: Any) -> _CatalogSnapshot:
    generation = engine.relcache.generation
    with _snapshots_lock:
        snapshot = _snapshots.get(engine)
        if snapshot is None or snapshot.generation != generation:
            snapshot = _CatalogSnapshot(generation)
            _snapshots[engine] = snapshot
    return snapshot


def _read_roles(engine: Any, transaction: Any) -> dict[str, Role]:
    return {role.name: role for role in (Role.from_values(values) for _, values in
                                         engine.relcache.rows(boot.PG_AUTHID, transaction))}


def _read_classes(engine: Any, transaction: Any) -> dict[int, ClassEntry]:
    return {entry.oid: entry for entry in (_class_entry(values) for _, values in
                                           engine.relcache.rows(boot.PG_CLASS, transaction))}


def roles_by_name(session: Any) -> dict[str, Role]:
    """Every role, by name, as the session's next statement sees them."""
    if _reads_own_changes(session):
        return _read_roles(session.engine, _transaction(session))
    snapshot = _snapshot(session.engine)
    if snapshot.roles is None:
        snapshot.roles = _read_roles(session.engine, None)
    return snapshot.roles


def _classes(session: Any) -> dict[int, ClassEntry]:
    if _reads_own_changes(session):
        return _read_classes(session.engine, _transaction(session))
    snapshot = _snapshot(session.engine)
    if snapshot.classes is None:
        snapshot.classes = _read_classes(session.engine, None)
    return snapshot.classes


def current_role(session: Any) -> Role | None:
    """The current user's pg_authid row (after SET ROLE; None if the role was dropped)."""
    return roles_by_name(session).get(session.user)


def current_role_oid(session: Any) -> int:
    """The owner to record for a relation the session creates."""
    role = current_role(session)
    if role is None:
        raise role_missing(session.user)
    return role.oid


def is_superuser(session: Any) -> bool:
    """PostgreSQL's superuser(): the role's current rolsuper, read from the catalog."""
    role = current_role(session)
    return role is not None and role.superuser


def has_createrole(session: Any) -> bool:
    role = current_role(session)
    return role is not None and (role.superuser or role.createrole)


# -- privilege checks -------------------------------------------------------------------------

_KIND_WORDS = {"r": "table", RELKIND_SEQUENCE: "sequence", RELKIND_INDEX: "index", "v": "view",
               "m": "materialized view", "f": "foreign table", "p": "table"}


def _kind_word(relkind: str) -> str:
    return _KIND_WORDS.get(relkind, "relation")


def _permission_denied(entry: ClassEntry) -> MirrordbError:
    return MirrordbError(f"permission denied for {_kind_word(entry.kind)} {entry.name}",
                         sqlstate="42501")


def role_name_of(roles: dict[str, Role], oid: int) -> str:
    """A role's name from its OID; aclitem_out prints the number of a role that is gone."""
    for role in roles.values():
        if role.oid == oid:
            return role.name
    return str(oid)


def _entry_for(session: Any, relation: Relation) -> ClassEntry:
    entry = _classes(session).get(relation.oid)
    if entry is None:   # not in pg_class: treat as the bootstrap superuser's, with no grants
        entry = ClassEntry(relation.oid, relation.name, relation.namespace_oid,
                           boot.BOOTSTRAP_SUPERUSER_OID, relation.kind, None)
    return entry


def _effective_acl(roles: dict[str, Role], entry: ClassEntry) -> list[AclItem]:
    if entry.acl is None:
        return default_acl(role_name_of(roles, entry.owner), entry.kind)
    return parse_acl(entry.acl)


def check_table_privilege(session: Any, relation: Relation, privilege: str,
                          role_name: str | None = None) -> None:
    """Raise 42501 ``permission denied for table t`` unless the session's role (or
    ``role_name``: a view's owner, for the relations its query reads) may use ``privilege``
    (SELECT, INSERT, UPDATE, DELETE, TRUNCATE, ...) on ``relation``."""
    required = PRIVILEGES[privilege]
    roles = roles_by_name(session)
    role = roles.get(role_name or session.user)
    if role is not None and role.superuser:
        return
    entry = _entry_for(session, relation)
    rights, _ = acl_mask(_effective_acl(roles, entry), None if role is None else role.name)
    if not rights & required:
        raise _permission_denied(entry)


def check_table_ownership(session: Any, relation: Relation) -> None:
    """Raise 42501 ``must be owner of table t`` unless the session's role is a superuser or
    owns ``relation`` (what DROP, ALTER and CREATE INDEX ask in PostgreSQL)."""
    role = current_role(session)
    if role is not None and role.superuser:
        return
    entry = _entry_for(session, relation)
    if role is None or role.oid != entry.owner:
        raise MirrordbError(f"must be owner of {_kind_word(entry.kind)} {entry.name}",
                            sqlstate="42501")


def check_can_become(session: Any, role: Role) -> None:
    """PostgreSQL's check_is_member_of_role, for giving an object to ``role``: superusers may,
    and (without role membership in mirrordb) otherwise only the role itself."""
    current = current_role(session)
    if current is not None and (current.superuser or current.oid == role.oid):
        return
    raise MirrordbError(f'must be member of role "{role.name}"', sqlstate="42501")


# -- shared helpers for the statements ----------------------------------------------------------

Notices = list[Any]


def role_missing(name: str) -> MirrordbError:
    return MirrordbError(f'role "{name}" does not exist', sqlstate="42704")


def insufficient_privilege(message: str) -> MirrordbError:
    return MirrordbError(message, sqlstate="42501")


def check_writable(txn: Any, command: str) -> None:
    if txn.transaction.read_only:
        raise MirrordbError(f"cannot execute {command} in a read-only transaction",
                            sqlstate="25006")


def find_role(txn: Any, name: str) -> tuple[tuple[int, int], Role] | None:
    """The role's row and tid, with the transaction's own changes."""
    for tid, values in txn.engine.relcache.rows(boot.PG_AUTHID, txn.transaction):
        if values[1] == name:
            return tid, Role.from_values(values)
    return None


def _catalog_changed(txn: Any) -> None:
    txn.transaction.touched_catalogs = True


def update_catalog_row(txn: Any, catalog: Relation, tid: tuple[int, int],
                       values: list[object]) -> None:
    """Replace a catalog row; a concurrent change to the same row is an error, as in
    PostgreSQL (simple_heap_update), never a lost update."""
    _catalog_changed(txn)
    result, _ = txn.engine.heap.update(txn.engine.relcache.catalog(catalog), txn.transaction,
                                       tid, values)
    if result != TmResult.OK:
        raise MirrordbError("tuple concurrently updated", sqlstate="XX000")


def delete_catalog_row(txn: Any, catalog: Relation, tid: tuple[int, int]) -> None:
    _catalog_changed(txn)
    if txn.engine.heap.delete(txn.engine.relcache.catalog(catalog), txn.transaction,
                              tid) != TmResult.OK:
        raise MirrordbError("tuple concurrently deleted", sqlstate="XX000")


def role_spec_name(session: Any, spec: Node) -> str:
    """The role a RoleSpec names (CURRENT_USER and CURRENT_ROLE: the current user, after SET
    ROLE; SESSION_USER: the session user; PUBLIC is no role)."""
    kind = spec.get("roletype")
    if kind == "ROLESPEC_CSTRING":
        return str(spec["rolename"])
    if kind == "ROLESPEC_SESSION_USER":
        return str(getattr(session, "session_user", session.user))
    if kind in ("ROLESPEC_CURRENT_USER", "ROLESPEC_CURRENT_ROLE"):
        return str(session.user)
    raise role_missing("public")


# -- role options -------------------------------------------------------------------------------

_BOOLEAN_OPTIONS = {"superuser": "superuser", "inherit": "inherit", "createrole": "createrole",
                    "createdb": "createdb", "canlogin": "canlogin",
                    "isreplication": "replication", "bypassrls": "bypassrls"}
_MEMBERSHIP_OPTIONS = ("addroleto", "rolemembers", "adminmembers")
_CREATE_ONLY_OPTIONS = ("sysid", "addroleto", "adminmembers")
_PASSWORD = "password"
_CONNECTION_LIMIT = "connectionlimit"
_VALID_UNTIL = "validUntil"
_SYSID = "sysid"


@dataclass
class RoleOptions:
    """The options of one CREATE/ALTER ROLE, as given (absent ones are not in ``flags``)."""

    flags: dict[str, bool]
    password_given: bool = False
    password: str | None = None
    connection_limit: int | None = None
    notices: Notices | None = None


def _role_options(options: list[Node], *, creating: bool) -> RoleOptions:
    seen: set[str] = set()
    parsed = RoleOptions({}, notices=[])
    for option in options:
        fields = option["DefElem"]
        name = fields["defname"]
        if name in seen:
            raise error_at("conflicting or redundant options", "42601", fields.get("location"))
        seen.add(name)
        _apply_role_option(parsed, name, fields.get("arg"), creating)
    return parsed


def _apply_role_option(parsed: RoleOptions, name: str, arg: Node | None, creating: bool
                       ) -> None:
    if name in _MEMBERSHIP_OPTIONS or (not creating and name in _CREATE_ONLY_OPTIONS):
        raise feature_not_supported("role membership (IN ROLE, ROLE, ADMIN)")
    if name in _BOOLEAN_OPTIONS:
        parsed.flags[_BOOLEAN_OPTIONS[name]] = bool(_option_value(arg))
    elif name == _PASSWORD:
        parsed.password_given = True
        value = _option_value(arg)
        parsed.password = None if value is None else str(value)
    elif name == _CONNECTION_LIMIT:
        limit = int(_option_value(arg))  # type: ignore[arg-type]
        if limit < -1:
            raise MirrordbError(f"invalid connection limit: {limit}", sqlstate="22023")
        parsed.connection_limit = limit
    elif name == _SYSID:
        assert parsed.notices is not None
        parsed.notices.append("SYSID can no longer be specified")
    elif name != _VALID_UNTIL:   # VALID UNTIL: accepted and ignored (see the module docstring)
        raise MirrordbError(f'option "{name}" not recognized', sqlstate="42601")


def _option_value(arg: Node | None) -> object:
    if arg is None:
        return None
    kind, fields = one(arg)
    return {"Boolean": lambda: fields.get("boolval", False),
            "Integer": lambda: fields.get("ival", 0),
            "String": lambda: fields.get("sval", "")}.get(kind, lambda: None)()


def _stored_password(session: Any, role_name: str, password: str | None, notices: Notices
                     ) -> str | None:
    """What rolpassword keeps for ``PASSWORD x``: a verifier, or NULL (PASSWORD NULL, or a
    password that is empty or a verifier of the empty string, as PostgreSQL refuses those)."""
    if password is None:
        return None
    method = str(session.settings.get("password_encryption"))
    already_verifier = md5lib.password_type(password) != md5lib.PASSWORD_TYPE_PLAINTEXT
    if password == "" or (already_verifier and md5lib.password_check(password, role_name, "")):
        notices.append("empty string is not a valid password, clearing password")
        return None
    return md5lib.encrypt_password(password, role_name, password_encryption=method)


# -- CREATE ROLE / USER / GROUP ------------------------------------------------------------------

RESERVED_ROLE_PREFIX = "pg_"


def create_role(session: Any, txn: Any, node: Node) -> tuple[str, Notices]:
    """CREATE ROLE | USER | GROUP name [WITH] options; CREATE USER implies LOGIN."""
    check_writable(txn, "CREATE ROLE")
    name = str(node["role"])
    options = _role_options(node.get("options", []), creating=True)
    flags = options.flags
    _check_create_permission(session, flags)
    if name.startswith(RESERVED_ROLE_PREFIX):
        raise MirrordbError(f'role name "{name}" is reserved', sqlstate="42939",
                            detail=f'Role names starting with "{RESERVED_ROLE_PREFIX}" are '
                                   "reserved.")
    notices: Notices = list(options.notices or [])
    engine = txn.engine
    with engine._ddl_lock:
        if find_role(txn, name) is not None:
            raise MirrordbError(f'role "{name}" already exists', sqlstate="42710")
        role = Role(engine.allocate_oid(), name,
                    canlogin=node.get("stmt_type") == "ROLESTMT_USER",
                    connection_limit=-1 if options.connection_limit is None
                    else options.connection_limit,
                    password=_stored_password(session, name, options.password, notices))
        role = replace(role, **flags)
        _catalog_changed(txn)
        txn._insert_catalog(boot.PG_AUTHID, role.values())
        txn.transaction.command_counter_increment()
    return "CREATE ROLE", notices


def _check_create_permission(session: Any, flags: dict[str, bool]) -> None:
    superuser = is_superuser(session)
    if flags.get("superuser"):
        if not superuser:
            raise insufficient_privilege("must be superuser to create superusers")
    elif flags.get("replication"):
        if not superuser:
            raise insufficient_privilege("must be superuser to create replication users")
    elif flags.get("bypassrls"):
        if not superuser:
            raise insufficient_privilege("must be superuser to create bypassrls users")
    elif not has_createrole(session):
        raise insufficient_privilege("permission denied to create role")


# -- ALTER ROLE ---------------------------------------------------------------------------------


def alter_role(session: Any, txn: Any, node: Node) -> tuple[str, Notices]:
    """ALTER ROLE | USER name [WITH] options (attributes, PASSWORD, CONNECTION LIMIT)."""
    check_writable(txn, "ALTER ROLE")
    name = role_spec_name(session, node["role"])
    options = _role_options(node.get("options", []), creating=False)
    notices: Notices = list(options.notices or [])
    with txn.engine._ddl_lock:
        found = find_role(txn, name)
        if found is None:
            raise role_missing(name)
        tid, role = found
        _check_alter_permission(session, role, options)
        changed = replace(role, **options.flags)
        if options.connection_limit is not None:
            changed = replace(changed, connection_limit=options.connection_limit)
        if options.password_given:
            changed = replace(changed, password=_stored_password(session, role.name,
                                                                 options.password, notices))
        update_catalog_row(txn, boot.PG_AUTHID, tid, changed.values())
        txn.transaction.command_counter_increment()
    return "ALTER ROLE", notices


def _check_alter_permission(session: Any, role: Role, options: RoleOptions) -> None:
    """PostgreSQL 15's AlterRole checks, in its order: superuser roles and attribute,
    replication, bypassrls; without CREATEROLE a role may only change its own password."""
    flags = options.flags
    if role.superuser or "superuser" in flags:
        if not is_superuser(session):
            raise insufficient_privilege("must be superuser to alter superuser roles or change "
                                "superuser attribute")
    elif role.replication or "replication" in flags:
        if not is_superuser(session):
            raise insufficient_privilege("must be superuser to alter replication roles or change "
                                "replication attribute")
    elif "bypassrls" in flags:
        if not is_superuser(session):
            raise insufficient_privilege("must be superuser to change bypassrls attribute")
    elif not has_createrole(session):
        only_own_password = (not flags and options.connection_limit is None
                             and options.password_given and role.name == session.user)
        if not only_own_password:
            raise insufficient_privilege("permission denied")


# -- DROP ROLE ----------------------------------------------------------------------------------

DEPENDENCY_DETAIL_MAX_LINES = 100   # PostgreSQL's MAX_REPORTED_DEPS


def drop_role(session: Any, txn: Any, node: Node) -> tuple[str, Notices]:
    """DROP ROLE | USER | GROUP [IF EXISTS] name, ..."""
    check_writable(txn, "DROP ROLE")
    if not has_createrole(session):
        raise insufficient_privilege("permission denied to drop role")
    notices: Notices = []
    with txn.engine._ddl_lock:
        for spec in node.get("roles", []):
            if spec["RoleSpec"].get("roletype") != "ROLESPEC_CSTRING":
                raise MirrordbError("cannot use special role specifier in DROP ROLE",
                                    sqlstate="22023")
            name = str(spec["RoleSpec"]["rolename"])
            found = find_role(txn, name)
            if found is None:
                if not node.get("missing_ok"):
                    raise role_missing(name)
                notices.append(f'role "{name}" does not exist, skipping')
                continue
            tid, role = found
            _check_droppable(session, txn, role)
            delete_catalog_row(txn, boot.PG_AUTHID, tid)
            from mirrordb.sql import comments, role_settings   # they build on this module
            role_settings.drop_role_settings(txn, role.oid)
            comments.forget_shared_object(txn, role.oid, boot.PG_AUTHID_OID)
            txn.transaction.command_counter_increment()
    return "DROP ROLE", notices


def _check_droppable(session: Any, txn: Any, role: Role) -> None:
    if role.name == session.user:
        raise MirrordbError("current user cannot be dropped", sqlstate="55006")
    if role.superuser and not is_superuser(session):
        raise insufficient_privilege("must be superuser to drop superusers")
    if role.oid == boot.BOOTSTRAP_SUPERUSER_OID:
        raise MirrordbError(f"cannot drop role {role.name} because it is required by the "
                            "database system", sqlstate="2BP01")
    dependents = _dependents(txn, role)
    if dependents:
        shown = dependents[:DEPENDENCY_DETAIL_MAX_LINES]
        raise MirrordbError(f'role "{role.name}" cannot be dropped because some objects '
                            "depend on it", sqlstate="2BP01", detail="\n".join(shown))


def _dependents(txn: Any, role: Role) -> list[str]:
    """checkSharedDependencies: the databases, schemas and relations of this database the role
    owns (in OID order), then those it holds (or gave) privileges on; then, for each other
    database with any, how many of its objects depend on the role. Indexes are their table's,
    as in PostgreSQL."""
    databases = [(int(values[0]), str(values[1]), values[2])  # type: ignore[call-overload]
                 for _, values in txn.engine.relcache.rows(boot.PG_DATABASE, txn.transaction)]
    owned_databases = [(oid, f"owner of database {name}")
                       for oid, name, owner in databases if owner == role.oid]
    from mirrordb.sql.database_privileges import database_acl_dependents
    lines = _database_dependents(txn.engine, txn.transaction, role, owned_databases,
                                 database_acl_dependents(txn, role))
    for oid, name, _ in sorted(databases):
        if oid == txn.engine.database_oid:
            continue
        count = len(_database_dependents(txn.engine.database(oid), txn.transaction, role, []))
        if count:
            lines.append(f"{count} object{'' if count == 1 else 's'} in database {name}")
    return lines


def _database_dependents(engine: Any, transaction: Any, role: Role,
                         owned_by_oid: list[tuple[int, str]],
                         shared_privileges: Sequence[tuple[int, str]] = ()) -> list[str]:
    """The dependents of ``role`` among one database's schemas and relations, after
    ``owned_by_oid`` (shared objects it owns) and ``shared_privileges`` (shared objects it has
    privileges on), owners first in OID order."""
    entries = sorted((_class_entry(values) for _, values in
                      engine.relcache.rows(boot.PG_CLASS, transaction)),
                     key=lambda entry: entry.oid)
    owned_by_oid = owned_by_oid + [(e.oid, f"owner of {_kind_word(e.kind)} {e.name}")
                                   for e in entries
                                   if e.owner == role.oid and e.kind != RELKIND_INDEX]
    owned_by_oid += [(int(values[0]), f"owner of schema {values[1]}")  # type: ignore
                     for _, values in engine.relcache.rows(boot.PG_NAMESPACE, transaction)
                     if values[2] == role.oid]
    from mirrordb.sql import user_functions
    owned_routines, routine_privileges = user_functions.role_dependents(engine, transaction,
                                                                         role)
    owned = [text for _, text in sorted(owned_by_oid + owned_routines
                                        + list(shared_privileges))]
    privileged = [(e.oid, f"privileges for {_kind_word(e.kind)} {e.name}") for e in entries
                  if e.acl is not None and e.owner != role.oid and any(
                      role.name in (item.grantee, item.grantor) for item in parse_acl(e.acl))]
    return owned + [text for _, text in sorted(privileged + routine_privileges)]


# -- GRANT / REVOKE on tables and sequences -----------------------------------------------------

_OBJECT_WORDS = {"OBJECT_TABLE": "table", "OBJECT_SEQUENCE": "sequence"}
_TABLE_KINDS_IN_SCHEMA = ("r", "v", "m", "f", "p")
_SCHEMAS = {"public": boot.PUBLIC_NAMESPACE_OID, "pg_catalog": boot.PG_CATALOG_NAMESPACE_OID}


@dataclass(eq=False)
class _GrantRequest:
    is_grant: bool
    grant_option: bool
    object_type: str          # OBJECT_TABLE or OBJECT_SEQUENCE
    privileges: int           # the rights named (every right of the object type for ALL)
    all_privileges: bool
    grantees: tuple[str, ...]

    @property
    def command(self) -> str:
        return "GRANT" if self.is_grant else "REVOKE"


def grant(session: Any, txn: Any, node: Node) -> tuple[str, Notices]:
    """GRANT / REVOKE [GRANT OPTION FOR] privileges ON [TABLE | SEQUENCE] names | ALL TABLES
    IN SCHEMA s TO | FROM roles | PUBLIC."""
    is_grant = bool(node.get("is_grant"))
    command = "GRANT" if is_grant else "REVOKE"
    object_type = node.get("objtype", "OBJECT_TABLE")
    if object_type == "OBJECT_DATABASE":
        from mirrordb.sql import database_privileges   # it builds on this module
        return database_privileges.grant_on_databases(session, txn, node)
    if object_type in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE"):
        from mirrordb.sql import user_functions
        check_writable(txn, command)
        return user_functions.grant(session, txn, node)
    if object_type not in _OBJECT_WORDS:
        raise feature_not_supported(f"{command} on this kind of object")
    if is_grant and node.get("grant_option"):
        raise feature_not_supported("WITH GRANT OPTION")
    check_writable(txn, command)
    privileges, all_privileges = _requested_privileges(node.get("privileges"), object_type)
    request = _GrantRequest(is_grant, bool(node.get("grant_option")), object_type, privileges,
                            all_privileges,
                            tuple(grantee_name(session, txn, spec["RoleSpec"])
                                  for spec in node.get("grantees", [])))
    notices: Notices = []
    with txn.engine._ddl_lock:
        roles = _read_roles(txn.engine, txn.transaction)
        for tid, values in _grant_targets(session, txn, node, object_type):
            notices += _grant_on(session, txn, request, roles, tid, values)
        txn.transaction.command_counter_increment()
    return command, notices


def _requested_privileges(privileges: list[Node] | None, object_type: str) -> tuple[int, bool]:
    every = SEQUENCE_RIGHTS if object_type == "OBJECT_SEQUENCE" else TABLE_RIGHTS
    if not privileges:
        return every, True
    rights = 0
    for node in privileges:
        fields = node["AccessPriv"]
        if fields.get("cols"):
            raise feature_not_supported("column privileges")
        name = str(fields.get("priv_name", "")).upper()
        bit = PRIVILEGES.get(name, 0)
        if not bit & every:
            raise MirrordbError(f"invalid privilege type {name} for "
                                f"{_OBJECT_WORDS[object_type]}", sqlstate="0LP01")
        rights |= bit
    return rights, False


def grantee_name(session: Any, txn: Any, spec: Node) -> str:
    """The role a GRANT/REVOKE names (PUBLIC's marker for PUBLIC); 42704 if it does not exist."""
    if spec.get("roletype") == "ROLESPEC_PUBLIC":
        return PUBLIC_GRANTEE
    name = role_spec_name(session, spec)
    if find_role(txn, name) is None:
        raise role_missing(name)
    return name


def _grant_targets(session: Any, txn: Any, node: Node, object_type: str
                   ) -> list[tuple[tuple[int, int], tuple[object, ...]]]:
    """The pg_class rows (tid, values) the statement changes, read with its own changes."""
    rows = txn.engine.relcache.rows(boot.PG_CLASS, txn.transaction)
    if node.get("targtype", "ACL_TARGET_OBJECT") == "ACL_TARGET_ALL_IN_SCHEMA":
        return _all_in_schemas(rows, node.get("objects", []), object_type)
    if node.get("targtype", "ACL_TARGET_OBJECT") != "ACL_TARGET_OBJECT":
        raise feature_not_supported("ALTER DEFAULT PRIVILEGES")
    by_oid = {values[_CLASS_OID]: (tid, values) for tid, values in rows}
    targets = []
    for object_node in node.get("objects", []):
        range_var = object_node["RangeVar"]
        relation = session.lookup_relation(range_var["relname"], range_var.get("schemaname"))
        if relation is None or relation.oid not in by_oid:
            raise error_at(f'relation "{range_var["relname"]}" does not exist', "42P01",
                           range_var.get("location"))
        _check_target_kind(relation, object_type)
        targets.append(by_oid[relation.oid])
    return targets


def _check_target_kind(relation: Relation, object_type: str) -> None:
    if object_type == "OBJECT_SEQUENCE" and relation.kind != RELKIND_SEQUENCE:
        raise MirrordbError(f'"{relation.name}" is not a sequence', sqlstate="42809")
    if relation.kind == RELKIND_INDEX:
        raise MirrordbError(f'"{relation.name}" is an index', sqlstate="42809")


def _all_in_schemas(rows: list[tuple[tuple[int, int], tuple[object, ...]]],
                    schemas: list[Node], object_type: str
                    ) -> list[tuple[tuple[int, int], tuple[object, ...]]]:
    kinds = (RELKIND_SEQUENCE,) if object_type == "OBJECT_SEQUENCE" else _TABLE_KINDS_IN_SCHEMA
    targets = []
    for schema_node in schemas:
        schema = schema_node["String"]["sval"]
        if schema not in _SCHEMAS:
            raise MirrordbError(f'schema "{schema}" does not exist', sqlstate="3F000")
        targets += sorted(((tid, values) for tid, values in rows
                           if values[_CLASS_NAMESPACE] == _SCHEMAS[schema]
                           and values[_CLASS_KIND] in kinds),
                          key=lambda row: row[1][_CLASS_OID])  # type: ignore[arg-type,return-value]
    return targets


def _grant_on(session: Any, txn: Any, request: _GrantRequest, roles: dict[str, Role],
              tid: tuple[int, int], values: tuple[object, ...]) -> Notices:
    """Change one relation's ACL; returns the statement's warnings about it."""
    entry = _class_entry(values)
    notices: Notices = []
    privileges = _privileges_for(entry, request, notices)
    grantor = _grantor(session, roles, entry, request, notices)
    if grantor is None:
        return notices
    acl = _effective_acl(roles, entry)
    for grantee in request.grantees:
        acl = acl_update(acl, grantee, grantor, privileges, is_grant=request.is_grant,
                         grant_option=request.grant_option)
    row = list(values)
    row[_CLASS_ACL] = format_acl(acl)
    update_catalog_row(txn, boot.PG_CLASS, tid, row)
    return notices


def _privileges_for(entry: ClassEntry, request: _GrantRequest, notices: Notices) -> int:
    """The rights the request means for this relation: GRANT ... ON TABLE that names a
    sequence keeps only what a sequence has (with PostgreSQL's warning)."""
    if request.all_privileges:
        return object_rights(entry.kind)
    if entry.kind == RELKIND_SEQUENCE and request.privileges & ~SEQUENCE_RIGHTS:
        notices.append(("WARNING", f'sequence "{entry.name}" only supports USAGE, SELECT, '
                                   "and UPDATE privileges"))
        return request.privileges & SEQUENCE_RIGHTS
    return request.privileges


def _grantor(session: Any, roles: dict[str, Role], entry: ClassEntry, request: _GrantRequest,
             notices: Notices) -> str | None:
    """select_best_grantor: superusers and the owner act as the owner. Anybody else would need
    grant options, which cannot exist here: with some right on the relation they get
    PostgreSQL's warning and change nothing (None); with none, 42501."""
    role = roles.get(session.user)
    if role is not None and (role.superuser or role.oid == entry.owner):
        return role_name_of(roles, entry.owner)
    rights, options = acl_mask(_effective_acl(roles, entry), session.user)
    if not (rights | options):
        raise _permission_denied(entry)
    notices.append(("WARNING", f'no privileges were granted for "{entry.name}"'
                    if request.is_grant else
                    f'no privileges could be revoked for "{entry.name}"'))
    return None


def grant_role(session: Any, txn: Any, node: Node) -> tuple[str, Notices]:
    """GRANT role TO role / REVOKE role FROM role: role membership is not supported."""
    raise feature_not_supported("role membership (GRANT role TO role)")


__all__ = ["AclItem", "Role", "ClassEntry", "parse_acl", "parse_acl_item", "format_acl",
           "format_acl_item", "default_acl", "acl_mask", "acl_update", "catalog_acl",
           "object_rights", "roles_by_name", "current_role", "current_role_oid", "is_superuser",
           "check_table_privilege", "check_table_ownership", "create_role", "alter_role",
           "drop_role", "grant", "grant_role", "PRIVILEGES", "TABLE_RIGHTS", "SEQUENCE_RIGHTS",
           "has_createrole", "role_missing", "insufficient_privilege", "check_writable",
           "find_role", "update_catalog_row", "delete_catalog_row", "role_spec_name"]
