"""Table inheritance (CREATE TABLE c (...) INHERITS (p)): the child's columns, its pg_inherits
row, and a parent read with its children (FROM p; FROM ONLY p reads the parent alone).

Who calls it: ddl.py (CREATE TABLE ... INHERITS, DROP of a parent), the planner and dml.py (a
parent in FROM or as an UPDATE/DELETE target is sql/partitioning.py's ``Append`` over the parent
and its descendants, each child's row cut down to the parent's columns), the session's
TRUNCATE. The pg_inherits row is the one partitions have, without a bound (inhpartbound NULL);
sysviews.py derives attinhcount/attislocal from it.

A child's inherited columns come first, in the parent's order, then its own; INSERT into the
parent stores the row in the parent. One parent per child (several are 0A000); ALTER TABLE
ADD/DROP/RENAME COLUMN of a parent or a child is 0A000 (PostgreSQL would change them all).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mirrordb.access.lmgr import LockMode
from mirrordb.access.relation import RELKIND_TABLE, Column, Relation
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import partitioning as P
from mirrordb.sql import types as T
from mirrordb.sql.expressions import feature_not_supported
from mirrordb.sql.parser import Node, one

def parent_table(session: Any, node: Node) -> Relation:
    """The one table CREATE TABLE ... INHERITS names (locked against concurrent DDL)."""
    parents = node["inhRelations"]
    if len(parents) != 1:
        raise feature_not_supported("inheriting from more than one table")
    range_var = parents[0]["RangeVar"]
    name, schema = range_var["relname"], range_var.get("schemaname")
    parent = session.lookup_relation(name, schema, LockMode.SHARE_UPDATE_EXCLUSIVE)
    if parent is None:
        shown = f"{schema}.{name}" if schema else name
        raise MirrordbError(f'relation "{shown}" does not exist', sqlstate="42P01")
    if parent.kind == P.RELKIND_PARTITIONED_TABLE:
        raise MirrordbError(f'cannot inherit from partitioned table "{parent.name}"',
                            sqlstate="42809")
    if parent.kind != RELKIND_TABLE:
        raise MirrordbError(f'inherited relation "{parent.name}" is not a table or foreign '
                            "table", sqlstate="42809")
    if P.parent_of(session.txn, parent.oid) is not None and \
            P.parent_of(session.txn, parent.oid)[1] is not None:  # type: ignore[index]
        raise MirrordbError(f'cannot inherit from partition "{parent.name}"',
                            sqlstate="42809")
    return parent  # type: ignore[no-any-return]


def inherited_columns(builder: Any, parent: Relation, elements: list[Node]
                      ) -> tuple[list[Column], list[Node], list[str]]:
    """The parent's columns (NOT NULL kept, identity not), the table elements left to define
    (a column the parent has is merged: same type, its NOT NULL added) and the notices."""
    columns = [dataclasses.replace(c, identity="", generated="") for c in parent.columns]
    remaining, notices = [], []
    for element in elements:
        kind, fields = one(element)
        index = next((i for i, c in enumerate(columns) if kind == "ColumnDef"
                      and c.name == fields["colname"]), None)
        if index is None:
            remaining.append(element)
            continue
        name = fields["colname"]
        notices.append(f'merging column "{name}" with inherited definition')
        type_oid, typmod = builder.resolve_type(fields["typeName"])
        mine = columns[index]
        if (type_oid, typmod) != (mine.type_oid, mine.typmod):
            raise MirrordbError(f'column "{name}" has a type conflict', sqlstate="42804",
                                detail=f"{T.format_type(mine.type_oid, mine.typmod)} versus "
                                       f"{T.format_type(type_oid, typmod)}")
        for constraint in fields.get("constraints", []):
            contype = constraint["Constraint"]["contype"]
            if contype == "CONSTR_NOTNULL":
                columns[index] = dataclasses.replace(columns[index], not_null=True)
            elif contype != "CONSTR_NULL":
                raise feature_not_supported("constraints on a merged inherited column")
    return columns, remaining, notices


def record(txn: Any, parent: Relation, child: Relation) -> None:
    """The child's pg_inherits row, and the parent's defaults on its inherited columns."""
    txn.add_catalog_row(boot.PG_INHERITS, [child.oid, parent.oid, 1, False, None])
    for attnum, text in txn.column_defaults(parent).items():
        if attnum not in txn.column_defaults(child):
            txn.set_column_default(child, attnum, text)


def children_of(txn: Any, oid: int) -> list[int]:
    """The plain inheritance children of ``oid`` (no partitions), by OID."""
    return [child for child, bound in P.children(txn, oid) if bound is None]


def has_children(txn: Any, relation: Relation) -> bool:
    """Whether a plain table has inheritance children: cached per catalog generation (every
    FROM item asks), read afresh by a transaction that changed the catalogs."""
    return relation.kind == RELKIND_TABLE and \
        relation.oid in P.inherits_summary(txn).plain_parents


def descendants(txn: Any, oid: int) -> list[Relation]:
    """The children, theirs, ... (breadth first, as PostgreSQL's find_all_inheritors)."""
    found: list[Relation] = []
    level = children_of(txn, oid)
    while level:
        following: list[int] = []
        for child in level:
            found.append(txn.relation(child))
            following += children_of(txn, child)
        level = following
    return found


def _depth_first(txn: Any, oid: int) -> list[Relation]:
    found: list[Relation] = []
    for child in children_of(txn, oid):
        found.append(txn.relation(child))
        found += _depth_first(txn, child)
    return found


def column_mapping(parent: Relation, child: Relation) -> tuple[int, ...] | None:
    """Where each of the parent's columns is in the child's rows (None: the same places)."""
    if [c.name for c in child.columns] == [c.name for c in parent.columns]:
        return None
    return tuple(child.column_index(c.name) for c in parent.columns)


def scan(txn: Any, relation: Relation, alias: str, width: int) -> P.Append:
    """FROM p for a parent: its own rows, then each descendant's in the parent's columns."""
    members = [relation, *descendants(txn, relation.oid)]
    return P.Append(relation, alias, members, None, width=width,
                    mappings=[column_mapping(relation, m) for m in members])


def check_drop(session: Any, txn: Any, relation: Relation, cascade: bool,
               dropping: set[int]) -> list[Any]:
    """DROP TABLE of a parent: 2BP01 while it has children the statement does not drop too,
    unless CASCADE drops them (their NOTICE lines)."""
    doomed = _depth_first(txn, relation.oid)      # the order PostgreSQL reports them in
    if not doomed or all(child.oid in dropping for child in doomed):
        return []
    if not cascade:
        detail = "\n".join(f"table {child.name} depends on table {relation.name}"
                           for child in doomed[:1]) if len(doomed) == 1 else "\n".join(
            f"table {child.name} depends on table "
            f"{txn.relation(P.parent_of(txn, child.oid)[0]).name}"  # type: ignore[index]
            for child in doomed)
        raise MirrordbError(f"cannot drop table {relation.name} because other objects depend "
                            "on it", sqlstate="2BP01", detail=detail,
                            hint="Use DROP ... CASCADE to drop the dependent objects too.")
    for child in reversed(doomed):
        txn.lock_relation(child.oid, LockMode.ACCESS_EXCLUSIVE)
        txn.drop(child.oid)
    lines = [f"drop cascades to table {child.name}" for child in doomed]
    if len(lines) == 1:
        return [("NOTICE", lines[0])]
    return [("NOTICE", f"drop cascades to {len(lines)} other objects", "\n".join(lines))]


def refuse_column_change(txn: Any, relation: Relation, subtype: str) -> None:
    """ALTER TABLE ADD/DROP/ALTER/RENAME COLUMN of a parent or child: not done yet."""
    if relation.kind == RELKIND_TABLE and (P.children(txn, relation.oid) or (
            P.parent_of(txn, relation.oid) or (0, 1))[1] is None):
        raise feature_not_supported(f"ALTER TABLE {subtype} of a table in an inheritance "
                                    "hierarchy")


def attribute_inheritance(snapshot: Any) -> dict[tuple[int, str], int]:
    """(child OID, column name) -> how many parents have it (pg_attribute.attinhcount)."""
    counts: dict[tuple[int, str], int] = {}
    for record_ in snapshot.inherits:
        if record_["inhpartbound"] is not None:
            continue          # partitions: their columns are inherited too, see below
        parent, child = int(record_["inhparent"]), int(record_["inhrelid"])
        for attribute in snapshot.attributes.get(parent, []):
            key = (child, attribute.name)
            counts[key] = counts.get(key, 0) + 1
    return counts
