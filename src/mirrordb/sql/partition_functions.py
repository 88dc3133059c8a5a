"""Catalog functions about partitioning: pg_get_partkeydef and pg_partition_root.

Who calls it: catalog_functions.py registers them (``define``) with the other catalog functions;
they read the statement's CatalogSnapshot (its pg_partitioned_table and pg_inherits rows, which
sql/partitioning.py writes). sysviews.py shows the same rows as pg_partitioned_table,
pg_inherits and pg_class's relispartition / relpartbound / relhassubclass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mirrordb.sql import types as T
from mirrordb.sql.expressions import ExecContext
from mirrordb.sql.partitioning import STRATEGY_WORDS


def _snapshot(ctx: ExecContext) -> Any:
    from mirrordb.sql.catalog_functions import CatalogSnapshot
    return CatalogSnapshot.of(ctx)


def partition_key_definition(snapshot: Any, oid: int) -> str | None:
    """pg_get_partkeydef: "RANGE (a, b)"; NULL for a relation that is not partitioned."""
    from mirrordb.sql.functions import quote_ident
    record = snapshot.partitioned_tables.get(oid)
    if record is None:
        return None
    names = {a.number: a.name for a in snapshot.attributes.get(oid, [])}
    columns = [quote_ident(names.get(int(n), "?")) for n in str(record["partattrs"]).split()]
    return f"{STRATEGY_WORDS[str(record['partstrat'])]} ({', '.join(columns)})"


def _partkeydef(ctx: ExecContext, oid: int) -> str | None:
    return partition_key_definition(_snapshot(ctx), oid)


def parent_of(snapshot: Any, oid: int) -> int | None:
    """The partitioned table a partition (or partition index) belongs to."""
    for record in snapshot.inherits:
        if int(record["inhrelid"]) == oid:
            return int(record["inhparent"])
    return None


def is_partition(snapshot: Any, oid: int) -> bool:
    """pg_class.relispartition: a child of a partitioned table or partitioned index."""
    parent = parent_of(snapshot, oid)
    if parent is None:
        return False
    entry = snapshot.classes.get(parent)
    return entry is not None and entry.kind in ("p", "I")


def partition_bound(snapshot: Any, oid: int) -> str | None:
    """pg_class.relpartbound: the bound as stored (pg_get_expr prints it)."""
    for record in snapshot.inherits:
        if int(record["inhrelid"]) == oid:
            bound = record["inhpartbound"]
            return None if bound is None else str(bound)
    return None


def has_subclass(snapshot: Any, oid: int) -> bool:
    return any(int(record["inhparent"]) == oid for record in snapshot.inherits)


def _partition_root(ctx: ExecContext, oid: int) -> int | None:
    """pg_partition_root(regclass): the top of the tree (NULL outside partitioning)."""
    snapshot = _snapshot(ctx)
    entry = snapshot.classes.get(oid)
    if entry is None or (entry.kind not in ("p", "I") and not is_partition(snapshot, oid)):
        return None
    while is_partition(snapshot, oid):
        parent = parent_of(snapshot, oid)
        assert parent is not None
        oid = parent
    return oid


def define(register: Callable[..., None]) -> None:
    register("pg_get_partkeydef", [T.OID_OID], T.TEXT_OID, _partkeydef)
    register("pg_partition_root", [T.REGCLASS_OID], T.REGCLASS_OID, _partition_root)


# -- set-returning: pg_partition_ancestors, pg_partition_tree (in FROM, monitoring_functions) --


def _can_be_partition(snapshot: Any, oid: int) -> bool:
    """PostgreSQL's check_rel_can_be_partition: a partitioned relation or a partition."""
    entry = snapshot.classes.get(oid)
    return entry is not None and (entry.kind in ("p", "I") or is_partition(snapshot, oid))


def _oid_argument(builder: Any, name: str, args: list[Any], location: int) -> Any:
    from mirrordb.sql.expressions import check_arity, coerce
    check_arity(name, args, (1,), location)
    return coerce(builder, args[0], T.REGCLASS_OID).fn


def _ancestors(session: Any, builder: Any, name: str, args: list[Any],
               location: int) -> Callable[[Any, ExecContext], list[tuple[Any, ...]]]:
    argument = _oid_argument(builder, name, args, location)

    def rows(row: Any, ctx: ExecContext) -> list[tuple[Any, ...]]:
        oid = argument(row, ctx)
        snapshot = _snapshot(ctx)
        if oid is None or not _can_be_partition(snapshot, oid):
            return []
        found = [(oid,)]
        while is_partition(snapshot, oid):
            oid = parent_of(snapshot, oid)
            found.append((oid,))
        return found
    return rows


def _tree(session: Any, builder: Any, name: str, args: list[Any],
          location: int) -> Callable[[Any, ExecContext], list[tuple[Any, ...]]]:
    argument = _oid_argument(builder, name, args, location)

    def rows(row: Any, ctx: ExecContext) -> list[tuple[Any, ...]]:
        top = argument(row, ctx)
        snapshot = _snapshot(ctx)
        if top is None or not _can_be_partition(snapshot, top):
            return []
        found = []
        level = [(top, parent_of(snapshot, top) if is_partition(snapshot, top) else None)]
        depth = 0
        while level:
            following = []
            for oid, parent in level:
                entry = snapshot.classes.get(oid)
                found.append((oid, parent, entry is None or entry.kind not in ("p", "I"),
                              depth))
                following += [(int(r["inhrelid"]), oid) for r in snapshot.inherits
                              if int(r["inhparent"]) == oid]
            level = sorted(following)
            depth += 1
        return found
    return rows


RECORD_SET_FUNCTIONS = {
    "pg_partition_ancestors": (_ancestors, (("relid", T.REGCLASS_OID),)),
    "pg_partition_tree": (_tree, (("relid", T.REGCLASS_OID), ("parentrelid", T.REGCLASS_OID),
                                  ("isleaf", T.BOOL_OID), ("level", T.INT4_OID))),
}
