"""Catalog functions about partitioning: pg_get_partkeydef and pg_partition_root.

Who calls it: catalog_functions.py registers them (``define``) with the other catalog functions;
they read the statement's CatalogSnapshot (its pg_partitioned_table and pg_inherits rows, which
sql/partitioning.py writes). sysviews.py shows the same rows as pg_partitioned_table,
pg_inherits and pg_class's relispartition / relpartbound / relhassubclass.
"""

from __future__ import annotations

import functools
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
    register("pg_get_partition_constraintdef", [T.OID_OID], T.TEXT_OID,
             lambda ctx, oid: partition_constraint(_snapshot(ctx), oid))


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


# -- pg_get_partition_constraintdef --------------------------------------------------------------


def _const(value: Any, type_oid: int) -> str:
    """A constant as ruleutils' get_const_expr prints it in an expression."""
    if type_oid == T.BOOL_OID:
        return "true" if value else "false"
    text = T.format_text(type_oid, value)
    if type_oid == T.INT4_OID and not text.startswith("-"):
        return text
    if type_oid == T.NUMERIC_OID and text[:1].isdigit() and "." in text:
        return text
    return "'" + text.replace("'", "''") + "'::" + T.format_type(type_oid)


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _or(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _list_condition(column: str, values: list[Any], type_oid: int) -> list[str]:
    finite = [v for v in values if v is not None]
    shown = [_const(v, type_oid) for v in finite]
    test = (f"({column} = {shown[0]})" if len(shown) == 1 else
            f"({column} = ANY (ARRAY[{', '.join(shown)}]))") if shown else ""
    if None in values:
        return [_or([f"({column} IS NULL)"] + ([test] if test else []))]
    return [f"({column} IS NOT NULL)", test]


def _range_side(names: list[str], values: tuple[Any, ...], types: tuple[int, ...],
                lower: bool) -> str | None:
    """One bound of a range partition: ``a >= 1`` or the OR of its column-by-column arms."""
    from mirrordb.sql.partitioning import MAXVALUE, _Infinite
    finite = [v for v in values if not isinstance(v, _Infinite)]
    if not finite:
        return None
    trailing = values[len(finite)] if len(finite) < len(values) else None
    if lower:
        last = ">" if trailing == MAXVALUE else ">="
        strict = ">"
    else:
        last = "<=" if trailing == MAXVALUE else "<"
        strict = "<"
    arms = []
    for i in range(len(finite)):
        op = last if i == len(finite) - 1 else strict
        equal = [f"({names[j]} = {_const(finite[j], types[j])})" for j in range(i)]
        arms.append(_and(equal + [f"({names[i]} {op} {_const(finite[i], types[i])})"]))
    return _or(arms)


def _range_conditions(names: list[str], bound: Any) -> list[str]:
    return [f"({name} IS NOT NULL)" for name in names] + _range_bound_conditions(names, bound)


def _range_bound_conditions(names: list[str], bound: Any) -> list[str]:
    from mirrordb.sql.partitioning import _Infinite
    parts: list[str] = []
    lower, upper, types = list(bound.lower), list(bound.upper), list(bound.types)
    while len(lower) > 1 and not isinstance(lower[0], _Infinite) and lower[0] == upper[0]:
        parts.append(f"({names[0]} = {_const(lower[0], types[0])})")
        names, types, lower, upper = names[1:], types[1:], lower[1:], upper[1:]
    for side in (_range_side(names, tuple(lower), tuple(types), True),
                 _range_side(names, tuple(upper), tuple(types), False)):
        if side is not None:
            parts.append(side)
    return parts


def _own_conditions(snapshot: Any, parent: int, oid: int) -> list[str]:
    """The conditions partition ``oid``'s own bound puts on its parent's key."""
    from mirrordb.sql.functions import quote_ident
    from mirrordb.sql.partitioning import DEFAULT, STRATEGY_HASH, STRATEGY_LIST, Bound
    record = snapshot.partitioned_tables.get(parent)
    text = partition_bound(snapshot, oid)
    if record is None or text is None:
        return []
    attrs = [int(n) for n in str(record["partattrs"]).split()]
    column_names = {a.number: a.name for a in snapshot.attributes.get(parent, [])}
    names = [quote_ident(column_names.get(n, "?")) for n in attrs]
    bound = Bound.from_json(text)
    if bound.kind == STRATEGY_HASH:
        return [f"satisfies_hash_partition('{parent}'::oid, {bound.modulus}, "
                f"{bound.remainder}, {', '.join(names)})"]
    if bound.kind == STRATEGY_LIST:
        return _list_condition(names[0], list(bound.values), bound.types[0])
    if bound.kind != DEFAULT:
        return _range_conditions(names, bound)
    siblings = [Bound.from_json(str(r["inhpartbound"])) for r in snapshot.inherits
                if int(r["inhparent"]) == parent and r["inhpartbound"] is not None
                and int(r["inhrelid"]) != oid]
    siblings = [b for b in siblings if b.kind != DEFAULT]
    if not siblings:
        return []
    if str(record["partstrat"]) == STRATEGY_LIST:
        values = sorted({v for b in siblings for v in b.values if v is not None})
        if any(None in b.values for b in siblings):
            values.append(None)
        return [f"(NOT {_and(_list_condition(names[0], values, bound.types[0]))})"]
    from mirrordb.sql.partitioning import _compare_bounds
    in_order = sorted(siblings, key=functools.cmp_to_key(
        lambda x, y: _compare_bounds(x.lower, y.lower, True, True)))
    arms = [_and(_range_bound_conditions(names, b)) for b in in_order]
    return [f"(NOT {_and([f'({name} IS NOT NULL)' for name in names] + [_or(arms)])})"]


def partition_constraint(snapshot: Any, oid: int) -> str | None:
    """pg_get_partition_constraintdef: the conditions its bound and its ancestors' put on a
    partition's rows, as PostgreSQL prints them; NULL for a relation that is no partition."""
    if not is_partition(snapshot, oid):
        return None
    chain = []
    while is_partition(snapshot, oid):
        parent = parent_of(snapshot, oid)
        assert parent is not None
        chain.append((parent, oid))
        oid = parent
    parts = [part for parent, child in reversed(chain)
             for part in _own_conditions(snapshot, parent, child)]
    return _and(parts) if parts else None
