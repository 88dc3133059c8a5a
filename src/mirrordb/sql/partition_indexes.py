"""Indexes of partitioned tables: a partitioned index (relkind 'I', no storage) on the parent
and a matching B-tree index on every partition, linked by pg_inherits rows (the partition's
index -> the parent's), as PostgreSQL keeps them.

Who calls it: ddl.py (CREATE INDEX and CREATE TABLE's PRIMARY KEY/UNIQUE on a partitioned
table: the key check, then ``cascade``) and partition_ddl.py (a new or attached partition gets
the parent's indexes, ``create_on_partition``; DETACH unlinks them). The engine makes the 'I'
relation (engine.Txn.create_index on a partitioned table); sql/partitioning.py reads the rows.
"""

from __future__ import annotations

from typing import Any

from mirrordb.access.lmgr import LockMode
from mirrordb.access.relation import (RELKIND_PARTITIONED_INDEX, RELKIND_PARTITIONED_TABLE,
                                      IndexInfo, Relation)
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import naming
from mirrordb.sql import partitioning as P
from mirrordb.sql.parser import Node


def check_unique_key(table: str, columns: list[Any], key_columns: list[str], primary: bool,
                     key: P.PartitionKey) -> None:
    """A unique index of partitioned table ``table`` must hold every partition key column
    (0A000)."""
    for index in key.columns:
        column = columns[index].name
        if column not in key_columns:
            raise MirrordbError(
                "unique constraint on partitioned table must include all partitioning columns",
                sqlstate="0A000",
                detail=f'{"PRIMARY KEY" if primary else "UNIQUE"} constraint on table '
                       f'"{table}" lacks column "{column}" which is part of the '
                       "partition key.")


def check_partitioned_unique(txn: Any, relation: Relation, keys: list[str],
                             primary: bool) -> None:
    """ALTER TABLE ... ADD PRIMARY KEY / UNIQUE of a partitioned table: the key rule."""
    if relation.kind != RELKIND_PARTITIONED_TABLE:
        return
    key = P.partition_key(txn, relation.oid)
    assert key is not None
    check_unique_key(relation.name, relation.columns, keys, primary, key)


def cascade_unless_only(session: Any, txn: Any, relation: Relation, index: Relation,
                        command: Node) -> None:
    """ALTER TABLE p ADD ... makes the partitions' indexes; ALTER TABLE ONLY p does not
    (pg_dump then attaches each partition's own with ALTER INDEX ... ATTACH PARTITION)."""
    if relation.kind == RELKIND_PARTITIONED_TABLE and command.get("recurse", True):
        cascade(session, txn, relation, index)


def attach_index(session: Any, txn: Any, parent_index: Relation, command: Node) -> list[str]:
    """ALTER INDEX parent ATTACH PARTITION child: the child must be an index of a partition
    of the parent index's table, on the same columns."""
    range_var = command["def"]["PartitionCmd"]["name"]
    child = session.lookup_relation(range_var["relname"], range_var.get("schemaname"),
                                    LockMode.ACCESS_EXCLUSIVE)
    if child is None:
        raise MirrordbError(f'relation "{range_var["relname"]}" does not exist',
                            sqlstate="42P01")
    parent_table = txn.table_of_index(parent_index)
    child_table = txn.table_of_index(child)
    found = P.parent_of(txn, child_table.oid)
    if found is None or found[0] != parent_table.oid:
        raise MirrordbError(f'cannot attach index "{child.name}" as a partition of index '
                            f'"{parent_index.name}"', sqlstate="42809",
                            detail=f'Index "{child.name}" is not an index on any partition of '
                                   f'table "{parent_table.name}".')
    if P.parent_of(txn, child.oid) is None:
        _link(txn, parent_index, child, child_table)
    return []


def _link(txn: Any, parent_index: Relation, child_index: Relation, child_table: Relation
          ) -> None:
    """pg_inherits and pg_depend rows of a partition's index, as PostgreSQL records them
    (pg_dump orders the parent's index first by the 'P' dependency)."""
    txn.add_catalog_row(boot.PG_INHERITS, [child_index.oid, parent_index.oid, 1, False, None])
    for referenced, deptype in ((parent_index.oid, "P"), (child_table.oid, "S")):
        txn.add_catalog_row(boot.PG_DEPEND, [boot.PG_CLASS_OID, child_index.oid, 0,
                                             boot.PG_CLASS_OID, referenced, 0, deptype])


def cascade(session: Any, txn: Any, relation: Relation, index: Relation) -> None:
    """A new index of partitioned table ``relation``: one on each partition."""
    info = next(i for i in txn.relation(relation.oid).indexes if i.relation.oid == index.oid)
    for oid, _ in P.children(txn, relation.oid):
        _create_matching(session, txn, info, txn.relation(oid))


def create_on_partition(session: Any, txn: Any, parent: Relation, child: Relation) -> None:
    for info in txn.relation(parent.oid).indexes:
        _create_matching(session, txn, info, child)


def _create_matching(session: Any, txn: Any, info: IndexInfo, child: Relation) -> None:
    if not info.plain:
        from mirrordb.sql.expressions import feature_not_supported
        raise feature_not_supported("expression or partial indexes on partitioned tables")
    parent_table = info.table
    assert parent_table is not None
    keys = [parent_table.columns[i].name for i in info.key_columns]
    include = [parent_table.columns[i].name for i in info.include_columns]
    suffix = "pkey" if info.primary else ("key" if info.unique else "idx")
    name = naming.choose_relation_name(
        session, child.name, None if info.primary else naming.index_name_addition(keys + include),
        suffix, child.namespace_oid, constraint=info.unique)
    index = txn.create_index(name, child.oid, keys, unique=info.unique, primary=info.primary,
                             include=include)
    _link(txn, info.relation, index, child)
    if child.kind == RELKIND_PARTITIONED_TABLE:
        cascade(session, txn, child, index)


def check_drop(txn: Any, index: Relation, dropping: set[int]) -> None:
    """DROP INDEX of a partition's index is refused while its parent index stands (2BP01);
    of a partitioned index, its partitions' indexes go first."""
    found = P.parent_of(txn, index.oid)
    if found is not None and found[0] not in dropping:
        parent = txn.relation(found[0])
        raise MirrordbError(f"cannot drop index {index.name} because index {parent.name} "
                            "requires it", sqlstate="2BP01",
                            hint=f"You can drop index {parent.name} instead.")
    if index.kind == RELKIND_PARTITIONED_INDEX:
        for oid in P.descendants(txn, index.oid):
            txn.lock_relation(txn.table_of_index(txn.relation(oid)).oid,
                              LockMode.ACCESS_EXCLUSIVE)
            txn.drop(oid)


def detach_indexes(txn: Any, parent: Relation, child: Relation) -> None:
    parents = {info.relation.oid for info in txn.relation(parent.oid).indexes}
    mine = {info.relation.oid for info in txn.relation(child.oid).indexes}
    txn.remove_catalog_rows(boot.PG_INHERITS, lambda v: v[0] in mine and v[1] in parents)
    txn.remove_catalog_rows(boot.PG_DEPEND, lambda v: v[1] in mine and v[4] in parents)
