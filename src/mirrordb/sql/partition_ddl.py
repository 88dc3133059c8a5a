"""The DDL of declarative partitioning: CREATE TABLE ... PARTITION OF, ALTER TABLE ... ATTACH /
DETACH PARTITION, DROP TABLE of a partitioned table and TRUNCATE of one.

Who calls it: ddl.py (CREATE TABLE, ALTER TABLE's handlers, DROP TABLE) and the session's
TRUNCATE. The bounds, trees and catalog rows are sql/partitioning.py's; CREATE TABLE ...
PARTITION BY itself stays in ddl.py, which records the key through ``partitioning.record_key``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mirrordb.access.lmgr import LockMode
from mirrordb.access.relation import RELKIND_TABLE, Relation
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import partitioning as P
from mirrordb.sql import roles, schemas
from mirrordb.sql.expressions import feature_not_supported
from mirrordb.sql.parser import Node, one


def _not_partitioned(name: str) -> MirrordbError:
    return MirrordbError(f'table "{name}" is not partitioned', sqlstate="42P17")


def _parent(session: Any, range_var: Node) -> Relation:
    name, schema = range_var["relname"], range_var.get("schemaname")
    parent = session.lookup_relation(name, schema, LockMode.ACCESS_EXCLUSIVE)
    if parent is None:
        shown = f"{schema}.{name}" if schema else name
        raise MirrordbError(f'relation "{shown}" does not exist', sqlstate="42P01")
    return parent  # type: ignore[no-any-return]


def create_partition_of(session: Any, txn: Any, node: Node) -> list[str]:
    """CREATE TABLE c PARTITION OF p FOR VALUES ... | DEFAULT [PARTITION BY ...]: the
    parent's columns (and defaults), the bound checked against the other partitions."""
    relation_node = node["relation"]
    name = relation_node["relname"]
    parent = _parent(session, node["inhRelations"][0]["RangeVar"])
    if not P.is_partitioned(parent):
        raise MirrordbError(f'"{parent.name}" is not partitioned', sqlstate="42P17")
    roles.check_table_ownership(session, parent)
    namespace = schemas.creation_namespace(session, relation_node.get("schemaname"), name,
                                           relation_node.get("location"))
    if node.get("if_not_exists") and txn.find((namespace, name)) is not None:
        return [f'relation "{name}" already exists, skipping']
    for element in node.get("tableElts", []):
        kind, _ = one(element)
        if kind != "ColumnDef" or _.get("typeName") is not None:
            raise feature_not_supported("column definitions in CREATE TABLE ... PARTITION OF")
    key = P.partition_key(txn, parent.oid)
    assert key is not None
    spec = node["partbound"]
    bound = P.transform_bound(session, parent, key, spec)
    P.check_hash_moduli(txn, parent, bound)
    P.check_overlap(txn, parent, key, name, bound, spec)
    P.check_default_rows(txn, parent, key, bound)
    columns = [dataclasses.replace(c, identity="") for c in parent.columns]
    sub_key = (P.key_of_spec(columns, node["partspec"], name) if node.get("partspec")
               else None)
    owner = roles.current_role_oid(session)
    child = txn.create_table(name, columns, owner=owner, namespace_oid=namespace,
                             kind=P.RELKIND_PARTITIONED_TABLE if sub_key else RELKIND_TABLE)
    for attnum, text in txn.column_defaults(parent).items():
        txn.set_column_default(child, attnum, text)
    if sub_key is not None:
        P.record_key(txn, child, sub_key)
    P.attach(txn, parent, child, bound)
    copy_indexes(session, txn, parent, txn.relation(child.oid))
    txn.transaction.command_counter_increment()
    return []


def copy_indexes(session: Any, txn: Any, parent: Relation, child: Relation) -> None:
    """A new partition gets the parent's indexes (sql/partition_indexes.py), if it has any."""
    from mirrordb.sql import partition_indexes
    partition_indexes.create_on_partition(session, txn, parent, child)


def attach_partition(session: Any, txn: Any, parent: Relation, command: Node) -> list[str]:
    """ALTER TABLE p ATTACH PARTITION c FOR VALUES ...: c's rows must fit the bound."""
    if not P.is_partitioned(parent):
        raise _not_partitioned(parent.name)
    spec = command["def"]["PartitionCmd"]
    range_var = spec["name"]
    child = session.lookup_relation(range_var["relname"], range_var.get("schemaname"),
                                    LockMode.ACCESS_EXCLUSIVE)
    if child is None:
        raise MirrordbError(f'relation "{range_var["relname"]}" does not exist',
                            sqlstate="42P01")
    roles.check_table_ownership(session, child)
    if P.parent_of(txn, child.oid) is not None:
        raise MirrordbError(f'"{child.name}" is already a partition', sqlstate="42809")
    if child.oid == parent.oid or child.oid in P.descendants(txn, parent.oid) or \
            parent.oid in P.descendants(txn, child.oid):
        raise MirrordbError(f'circular inheritance not allowed', sqlstate="42P07",
                            detail=f'"{parent.name}" is already a child of "{child.name}".')
    P.check_same_columns(parent, child)
    key = P.partition_key(txn, parent.oid)
    assert key is not None
    bound_spec = spec["bound"]
    bound = P.transform_bound(session, parent, key, bound_spec)
    P.check_hash_moduli(txn, parent, bound)
    P.check_overlap(txn, parent, key, child.name, bound, bound_spec)
    P.check_rows_fit(session, txn, parent, key, child, bound)
    P.check_default_rows(txn, parent, key, bound)
    P.attach(txn, parent, child, bound)
    copy_indexes(session, txn, parent, child)
    return []


def detach_partition(session: Any, txn: Any, parent: Relation, command: Node) -> list[str]:
    spec = command["def"]["PartitionCmd"]
    if spec.get("concurrent"):
        raise feature_not_supported("DETACH PARTITION CONCURRENTLY")
    if not P.is_partitioned(parent):
        raise _not_partitioned(parent.name)
    range_var = spec["name"]
    child = session.lookup_relation(range_var["relname"], range_var.get("schemaname"),
                                    LockMode.ACCESS_EXCLUSIVE)
    if child is None:
        raise MirrordbError(f'relation "{range_var["relname"]}" does not exist',
                            sqlstate="42P01")
    found = P.parent_of(txn, child.oid)
    if found is None or found[0] != parent.oid:
        raise MirrordbError(f'relation "{child.name}" is not a partition of relation '
                            f'"{parent.name}"', sqlstate="42P01")
    P.detach(txn, parent, child)
    from mirrordb.sql import partition_indexes
    partition_indexes.detach_indexes(txn, parent, child)
    return []


def _attach(session: Any, txn: Any, relation: Relation, command: Node) -> list[str]:
    """ATTACH PARTITION: of a table to a partitioned table, or of an index to a partitioned
    index (ALTER INDEX ... ATTACH PARTITION, which pg_dump writes)."""
    if relation.kind == P.RELKIND_PARTITIONED_INDEX:
        from mirrordb.sql import partition_indexes
        return partition_indexes.attach_index(session, txn, relation, command)
    return attach_partition(session, txn, relation, command)


ALTER_HANDLERS = {"AT_AttachPartition": _attach, "AT_DetachPartition": detach_partition}

# What ALTER TABLE may do to a partitioned table (ALTER INDEX to a partitioned index)
_PARTITIONED_TABLE_ALTERATIONS = frozenset({*ALTER_HANDLERS, "AT_AddConstraint",
                                            "AT_ChangeOwner", "AT_SetNotNull"})
_PARTITIONED_INDEX_ALTERATIONS = frozenset({"AT_AttachPartition", "AT_ChangeOwner"})


def alteration_allowed(relation: Relation, commands: list[Node]) -> bool:
    """Whether ALTER TABLE's check passes a partitioned table or index (ddl.py's own rules
    are for plain tables); 0A000 for what mirrordb does not do to them."""
    allowed = {P.RELKIND_PARTITIONED_TABLE: _PARTITIONED_TABLE_ALTERATIONS,
               P.RELKIND_PARTITIONED_INDEX: _PARTITIONED_INDEX_ALTERATIONS}.get(relation.kind)
    if allowed is None:
        return False
    if any(c["AlterTableCmd"]["subtype"] not in allowed for c in commands):
        raise feature_not_supported("this ALTER of a partitioned "
                                    + ("table" if relation.kind == "p" else "index"))
    return True


def drop_partitions(session: Any, txn: Any, relation: Relation) -> None:
    """DROP TABLE of a partitioned table drops its partitions first (deepest first)."""
    for oid in P.descendants(txn, relation.oid):
        txn.lock_relation(oid, LockMode.ACCESS_EXCLUSIVE)
        txn.drop(oid)


def leaves_to_truncate(txn: Any, relation: Relation, inherited: bool) -> list[Relation]:
    """TRUNCATE of a partitioned table empties its leaf partitions; of an inheritance
    parent, its children too unless ONLY."""
    if P.is_partitioned(relation):
        return list(P.tree(txn, relation).leaves())
    if inherited and relation.kind == RELKIND_TABLE:
        from mirrordb.sql import inheritance
        return [relation, *inheritance.descendants(txn, relation.oid)]
    return [relation]


