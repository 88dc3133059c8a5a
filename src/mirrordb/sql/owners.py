"""ALTER ... OWNER TO: giving a relation or a schema to another role.

Who calls it: ddl.alter_table for ``ALTER TABLE | VIEW | SEQUENCE | INDEX name OWNER TO
role`` (the AT_ChangeOwner command, which pg_dump writes after every object it creates), and
the session for ``AlterOwnerStmt`` (``ALTER SCHEMA name OWNER TO role``; schemas.py holds the
schema half).

PostgreSQL's rules (tablecmds.c ATExecChangeOwner), as a user sees them:

* the role must exist (42704); giving an object to its current owner changes nothing;
* an index belongs to its table's owner: ALTER INDEX ... OWNER TO another role only warns
  (pg_dump of old versions wrote it) and changes nothing;
* a sequence a column owns (serial, identity, OWNED BY) follows its table: 0A000;
* otherwise a non-superuser must own the relation (checked when it is looked up) and be able
  to become the new owner (without role membership in mirrordb: be that role);
* the table's indexes and the sequences its columns own change owner with it;
* the ACL follows the owner: entries naming the old owner (as grantee or grantor) name the
  new one, merged with any the new owner already had (PostgreSQL's aclnewowner).

The change is a WAL-logged update of the pg_class rows (relowner, relacl), so a standby sees
the new owner when the transaction's commit is replayed.
"""

from __future__ import annotations

from typing import Any

from mirrordb.access.relation import RELKIND_INDEX, RELKIND_SEQUENCE, RELKIND_TABLE, Relation
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import roles, schemas
from mirrordb.sql.expressions import feature_not_supported
from mirrordb.sql.parser import Node

Notices = list[Any]


def alter_owner(session: Any, txn: Any, node: Node) -> str:
    """AlterOwnerStmt: ALTER SCHEMA name OWNER TO role; the command tag."""
    if node.get("objectType") != "OBJECT_SCHEMA":
        kind = str(node.get("objectType", "")).removeprefix("OBJECT_")
        raise feature_not_supported(f"ALTER {kind} ... OWNER TO")
    schemas.alter_schema_owner(session, txn, node["object"]["String"]["sval"],
                               node["newowner"])
    return "ALTER SCHEMA"


def change_relation_owner(session: Any, txn: Any, relation: Relation, spec: Node) -> Notices:
    """ALTER TABLE/VIEW/SEQUENCE/INDEX ... OWNER TO: the notices (an index's warning)."""
    owner_name = roles.role_spec_name(session, spec)
    owner = roles.roles_by_name(session).get(owner_name)
    if owner is None:
        raise roles.role_missing(owner_name)
    current_owner = _owner(txn, relation.oid)
    if relation.kind == RELKIND_INDEX:
        if current_owner == owner.oid:
            return []
        return [MirrordbError(f'cannot change owner of index "{relation.name}"',
                              sqlstate="42809",
                              hint="Change the ownership of the index's table, instead.")]
    if current_owner == owner.oid:
        return []
    if relation.kind == RELKIND_SEQUENCE:
        table_oid = owning_table(txn, relation.oid)
        if table_oid is not None:
            raise MirrordbError(f'cannot change owner of sequence "{relation.name}"',
                                sqlstate="0A000",
                                detail=f'Sequence "{relation.name}" is linked to table '
                                       f'"{_relation_name(txn, table_oid)}".')
    roles.check_can_become(session, owner)
    _give(session, txn, relation, owner)
    if relation.kind == RELKIND_TABLE:
        for info in relation.indexes:
            _give(session, txn, info.relation, owner)
        for sequence_oid in owned_sequences(txn, relation.oid):
            _give(session, txn, txn.relation(sequence_oid), owner)
    return []


def _give(session: Any, txn: Any, relation: Relation, owner: roles.Role) -> None:
    row = _class_row(txn, relation.oid)
    old_owner = int(row[3])  # type: ignore[call-overload]
    acl = row[boot.PG_CLASS.column_index("relacl")]
    if acl is not None:
        roles_by_oid = {role.oid: role.name for role in roles.roles_by_name(session).values()}
        acl = acl_new_owner(str(acl), roles_by_oid.get(old_owner, str(old_owner)), owner.name)
    txn.set_relation_owner(relation, owner.oid, acl)


def acl_new_owner(acl: str, old_owner: str, new_owner: str) -> str:
    """The ACL with ``old_owner`` replaced by ``new_owner`` as grantee and grantor, entries
    that then name the same grantee and grantor merged (PostgreSQL's aclnewowner)."""
    merged: dict[tuple[str, str], roles.AclItem] = {}
    for item in roles.parse_acl(acl):
        grantee = new_owner if item.grantee == old_owner else item.grantee
        grantor = new_owner if item.grantor == old_owner else item.grantor
        known = merged.get((grantee, grantor))
        if known is None:
            merged[(grantee, grantor)] = roles.AclItem(grantee, grantor, item.privileges,
                                                       item.grant_options)
        else:
            known.privileges |= item.privileges
            known.grant_options |= item.grant_options
    return roles.format_acl(list(merged.values()))


# -- catalog reads --------------------------------------------------------------------------------


def _class_row(txn: Any, oid: int) -> tuple[object, ...]:
    return next(values for _, values in txn.engine.relcache.rows(boot.PG_CLASS, txn.transaction)
                if values[0] == oid)


def _owner(txn: Any, oid: int) -> int:
    return int(_class_row(txn, oid)[3])  # type: ignore[call-overload]


def _relation_name(txn: Any, oid: int) -> str:
    return str(_class_row(txn, oid)[1])


def _ownership_rows(txn: Any) -> list[tuple[object, ...]]:
    """pg_depend rows of sequences owned by columns ('a': serial, OWNED BY; 'i': identity)."""
    return [values for _, values in txn.engine.relcache.rows(boot.PG_DEPEND, txn.transaction)
            if values[0] == boot.PG_CLASS_OID and values[3] == boot.PG_CLASS_OID
            and values[6] in ("a", "i")]


def owning_table(txn: Any, sequence_oid: int) -> int | None:
    """The table whose column owns the sequence, if one does."""
    return next((int(v[4]) for v in _ownership_rows(txn) if v[1] == sequence_oid),  # type: ignore
                None)


def owned_sequences(txn: Any, table_oid: int) -> list[int]:
    """The sequences the table's columns own, in OID order."""
    return sorted(int(v[1]) for v in _ownership_rows(txn) if v[4] == table_oid)  # type: ignore
