"""Declarative partitioning: partitioned tables, their partitions' bounds, routing and pruning.

Who calls it: ddl.py (CREATE TABLE ... PARTITION BY / PARTITION OF, ALTER TABLE ATTACH/DETACH
PARTITION, DROP TABLE of a partitioned table), the planner (a partitioned table in FROM becomes
an ``Append`` of its leaf partitions' scans, pruned by the constant conditions on the key),
dml.py (INSERT routes each row to its leaf, UPDATE moves a row across partitions as a delete
and an insert, as PostgreSQL 15 does), the session's TRUNCATE, sysviews.py and
catalog_functions.py (pg_partitioned_table, pg_inherits, relispartition, relpartbound,
pg_get_partkeydef, pg_get_expr of a bound, pg_partition_root/tree).

Where the other half lives: the catalog rows are catalog/bootstrap.py's PG_PARTITIONED_TABLE
(strategy, key columns, default partition) and PG_INHERITS (one row per partition; its
``inhpartbound`` is the bound as JSON, documented at ``Bound.to_json``). A partitioned table is a
pg_class row of relkind 'p' with no relation file (engine.Txn.create_table's ``kind``); its
partitions are ordinary tables (or partitioned tables: sub-partitioning) with the parent's
columns in the parent's order.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from typing import Any, Iterator

from mirrordb.access.lmgr import LockMode
from mirrordb.access.relation import (RELKIND_PARTITIONED_INDEX,  # noqa: F401 (for callers)
                                      RELKIND_PARTITIONED_TABLE, Relation)
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import executor as ex
from mirrordb.sql import types as T
from mirrordb.sql.expressions import ExecContext, Expr, Row, error_at, feature_not_supported
from mirrordb.sql.parser import Node, one


STRATEGY_RANGE, STRATEGY_LIST, STRATEGY_HASH = "r", "l", "h"
DEFAULT = "d"
STRATEGIES = {"PARTITION_STRATEGY_RANGE": STRATEGY_RANGE, "PARTITION_STRATEGY_LIST": STRATEGY_LIST,
              "PARTITION_STRATEGY_HASH": STRATEGY_HASH, "range": STRATEGY_RANGE,
              "list": STRATEGY_LIST, "hash": STRATEGY_HASH}
STRATEGY_WORDS = {STRATEGY_RANGE: "RANGE", STRATEGY_LIST: "LIST", STRATEGY_HASH: "HASH"}
MINVALUE, MAXVALUE = "MINVALUE", "MAXVALUE"


class PartitionTid(tuple):  # type: ignore[type-arg]
    """A leaf partition's row's ctid as a partitioned table's scan yields it: prints as the
    ctid it is, and knows the leaf (``relation``) UPDATE and DELETE must change."""

    relation: Relation

    def __new__(cls, tid: tuple[int, int], relation: Relation) -> PartitionTid:
        made = super().__new__(cls, tid)
        made.relation = relation
        return made


# -- the catalog's form ------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionKey:
    """A partitioned table's pg_partitioned_table row: strategy and key columns (0-based)."""

    strategy: str
    columns: tuple[int, ...]
    default_oid: int = 0


@dataclass(frozen=True)
class Bound:
    """A partition's bound. ``lower``/``upper`` (range) hold values or MINVALUE/MAXVALUE,
    ``values`` (list) the values (None: NULL), hash its modulus and remainder."""

    kind: str
    types: tuple[int, ...] = ()
    lower: tuple[Any, ...] = ()
    upper: tuple[Any, ...] = ()
    values: tuple[Any, ...] = ()
    modulus: int = 0
    remainder: int = 0

    def to_json(self) -> str:
        """pg_inherits.inhpartbound: {"kind": "r"|"l"|"h"|"d", "types": [key type OIDs],
        "lower"/"upper": [text or "MINVALUE"/"MAXVALUE" as {"m": ...}], "values": [text or
        null], "modulus", "remainder"}; values in their type's text form."""
        def datum(value: Any, type_oid: int) -> Any:
            if isinstance(value, _Infinite):
                return {"m": str(value)}
            return None if value is None else T.format_text(type_oid, value)
        body: dict[str, Any] = {"kind": self.kind, "types": list(self.types)}
        if self.kind == STRATEGY_RANGE:
            body["lower"] = [datum(v, t) for v, t in zip(self.lower, self.types)]
            body["upper"] = [datum(v, t) for v, t in zip(self.upper, self.types)]
        elif self.kind == STRATEGY_LIST:
            body["values"] = [datum(v, self.types[0]) for v in self.values]
        elif self.kind == STRATEGY_HASH:
            body["modulus"], body["remainder"] = self.modulus, self.remainder
        return json.dumps(body)

    @staticmethod
    def from_json(text: str) -> Bound:
        body = json.loads(text)
        types = tuple(body.get("types", ()))

        def datum(value: Any, type_oid: int) -> Any:
            if isinstance(value, dict):
                return _Infinite(value["m"])
            return None if value is None else T.parse_text(type_oid, value)
        kind = body["kind"]
        if kind == STRATEGY_RANGE:
            return Bound(kind, types, tuple(datum(v, t) for v, t in zip(body["lower"], types)),
                         tuple(datum(v, t) for v, t in zip(body["upper"], types)))
        if kind == STRATEGY_LIST:
            return Bound(kind, types, values=tuple(datum(v, types[0]) for v in body["values"]))
        if kind == STRATEGY_HASH:
            return Bound(kind, types, modulus=body["modulus"], remainder=body["remainder"])
        return Bound(DEFAULT, types)

    def text(self) -> str:
        """pg_get_expr(relpartbound): PostgreSQL's words for the bound."""
        if self.kind == DEFAULT:
            return "DEFAULT"
        if self.kind == STRATEGY_HASH:
            return f"FOR VALUES WITH (modulus {self.modulus}, remainder {self.remainder})"
        if self.kind == STRATEGY_LIST:
            return "FOR VALUES IN (" + ", ".join(
                _literal(v, self.types[0]) for v in self.values) + ")"
        return (f"FOR VALUES FROM ({_datums(self.lower, self.types)}) "
                f"TO ({_datums(self.upper, self.types)})")


def bound_text(stored: str) -> str | None:
    """pg_get_expr of a relpartbound (a ``Bound.to_json`` text); None for other texts."""
    if not stored.startswith('{"kind": '):
        return None
    return Bound.from_json(stored).text()


class _Infinite(str):
    """MINVALUE or MAXVALUE in a range bound."""


def _datums(values: tuple[Any, ...], types: tuple[int, ...]) -> str:
    return ", ".join(_literal(v, t) for v, t in zip(values, types))


_UNQUOTED = {T.INT2_OID, T.INT4_OID, T.INT8_OID, T.NUMERIC_OID, T.FLOAT4_OID, T.FLOAT8_OID,
             T.OID_OID}


def _literal(value: Any, type_oid: int) -> str:
    """A bound value as PostgreSQL's ruleutils prints a constant without its type."""
    if isinstance(value, _Infinite):
        return str(value)
    if value is None:
        return "NULL"
    text = T.format_text(type_oid, value)
    if type_oid == T.BOOL_OID:
        return "true" if value else "false"
    if type_oid in _UNQUOTED and text.lstrip("-").replace(".", "", 1).isdigit():
        return text
    return "'" + text.replace("'", "''") + "'"


# -- reading the catalogs --------------------------------------------------------------------


def _rows(txn: Any, catalog: Relation) -> list[tuple[Any, ...]]:
    return [values for _, values in txn.engine.relcache.rows(catalog, txn.transaction)]


def partition_key(txn: Any, oid: int) -> PartitionKey | None:
    for values in _rows(txn, boot.PG_PARTITIONED_TABLE):
        if values[0] == oid:
            return PartitionKey(str(values[1]), tuple(int(n) - 1 for n in str(values[4]).split()),
                                int(values[3]))
    return None


def children(txn: Any, parent_oid: int) -> list[tuple[int, Bound | None]]:
    """The direct partitions (or inheritance children) of ``parent_oid``, by OID."""
    return sorted((int(v[0]), None if v[4] is None else Bound.from_json(str(v[4])))
                  for v in _rows(txn, boot.PG_INHERITS) if v[1] == parent_oid)


@dataclass(frozen=True)
class InheritsSummary:
    """Who inherits from whom, as the planner asks for every table it reads or writes."""

    partitions: frozenset[int]             # relations with a bound (partitions)
    plain_parents: frozenset[int]          # parents of children without one (inheritance)


_SUMMARY_CACHE: dict[tuple[int, int, int], InheritsSummary] = {}


def inherits_summary(txn: Any) -> InheritsSummary:
    """pg_inherits summed up, cached per catalog generation; read afresh by a transaction
    that changed the catalogs (its own changes count)."""
    relcache = txn.engine.relcache
    key = (id(relcache), relcache.database_oid, relcache.generation)
    if not txn.transaction.touched_catalogs:
        found = _SUMMARY_CACHE.get(key)
        if found is not None:
            return found
    rows = _rows(txn, boot.PG_INHERITS)
    summary = InheritsSummary(frozenset(int(v[0]) for v in rows if v[4] is not None),
                              frozenset(int(v[1]) for v in rows if v[4] is None))
    if not txn.transaction.touched_catalogs:
        _SUMMARY_CACHE.clear()
        _SUMMARY_CACHE[key] = summary
    return summary


def parent_of(txn: Any, oid: int) -> tuple[int, Bound | None] | None:
    for values in _rows(txn, boot.PG_INHERITS):
        if values[0] == oid:
            return int(values[1]), None if values[4] is None else Bound.from_json(str(values[4]))
    return None


# -- the tree a statement routes rows through and scans ------------------------------------------


@dataclass
class PartitionTree:
    """A partitioned table with its key and its partitions, each a leaf or a tree."""

    relation: Relation
    key: PartitionKey
    parts: list[tuple[Bound, Relation, PartitionTree | None]] = field(default_factory=list)

    def leaves(self) -> Iterator[Relation]:
        for _, relation, sub in self.parts:
            if sub is None:
                yield relation
            else:
                yield from sub.leaves()

    def route(self, values: list[Any] | tuple[Any, ...]) -> Relation:
        """The leaf partition a row belongs in; 23514 when none accepts it."""
        key = tuple(values[i] for i in self.key.columns)
        chosen = None
        for bound, relation, sub in self.parts:
            if bound.kind != DEFAULT and accepts(bound, key):
                chosen = (relation, sub)
                break
        if chosen is None:
            chosen = next(((r, s) for b, r, s in self.parts if b.kind == DEFAULT), None)
        if chosen is None:
            names = ", ".join(self.relation.columns[i].name for i in self.key.columns)
            shown = ", ".join("null" if v is None else T.format_text(
                self.relation.columns[i].type_oid, v) for v, i in zip(key, self.key.columns))
            raise MirrordbError(f'no partition of relation "{self.relation.name}" found for row',
                                sqlstate="23514",
                                detail=f"Partition key of the failing row contains ({names}) "
                                       f"= ({shown}).")
        relation, sub = chosen
        return relation if sub is None else sub.route(values)


def tree(txn: Any, relation: Relation) -> PartitionTree:
    """``relation``'s partition tree as the transaction's catalogs say now."""
    key = partition_key(txn, relation.oid)
    assert key is not None
    built = PartitionTree(relation, key)
    for oid, bound in children(txn, relation.oid):
        child = txn.relation(oid)
        sub = tree(txn, child) if child.kind == RELKIND_PARTITIONED_TABLE else None
        built.parts.append((bound or Bound(DEFAULT), child, sub))
    return built


def statement_tree(ctx: ExecContext, relation: Relation) -> PartitionTree:
    """The tree once per statement execution."""
    key = ("partition tree", relation.oid)
    found = ctx.cache.get(key)
    if found is None:
        found = ctx.cache[key] = tree(ctx.txn, relation)
    return found  # type: ignore[no-any-return]


def _compare(a: Any, b: Any) -> int:
    return -1 if a < b else (1 if a > b else 0)


def _compare_to_bound(key: tuple[Any, ...], bound: tuple[Any, ...]) -> int:
    """A key's order against a range bound (PostgreSQL's partition_rbound_datum_cmp)."""
    for value, limit in zip(key, bound):
        if isinstance(limit, _Infinite):
            return 1 if limit == MINVALUE else -1
        order = _compare(value, limit)
        if order:
            return order
    return 0


def _compare_bounds(a: tuple[Any, ...], b: tuple[Any, ...], a_lower: bool, b_lower: bool
                    ) -> int:
    """Two range bounds' order (a lower bound is inclusive, an upper one exclusive)."""
    for x, y in zip(a, b):
        x_inf, y_inf = isinstance(x, _Infinite), isinstance(y, _Infinite)
        if x_inf or y_inf:
            xv = (-1 if x == MINVALUE else 1) if x_inf else 0
            yv = (-1 if y == MINVALUE else 1) if y_inf else 0
            if xv != yv:
                return _compare(xv, yv)
            if x_inf:
                return 0
            continue
        order = _compare(x, y)
        if order:
            return order
    if a_lower == b_lower:
        return 0
    return 1 if not a_lower else -1


def accepts(bound: Bound, key: tuple[Any, ...]) -> bool:
    if bound.kind == STRATEGY_LIST:
        return key[0] in bound.values if key[0] is not None else None in bound.values
    if bound.kind == STRATEGY_RANGE:
        if any(v is None for v in key):
            return False
        return _compare_to_bound(key, bound.lower) >= 0 and _compare_to_bound(key,
                                                                              bound.upper) < 0
    if bound.kind == STRATEGY_HASH:
        from mirrordb.sql import partition_hash
        return partition_hash.row_hash(key, bound.types) % bound.modulus == bound.remainder
    return False


# -- DDL -------------------------------------------------------------------------------------


def key_of_spec(relation_columns: list[Any], spec: Node, name: str) -> PartitionKey:
    """A PARTITION BY clause's key (columns only); PostgreSQL's refusals."""
    strategy = STRATEGIES[spec["strategy"]]
    columns = []
    params = spec.get("partParams", [])
    if strategy == STRATEGY_LIST and len(params) > 1:
        raise MirrordbError('cannot use "list" partition strategy with more than one column',
                            sqlstate="42P17")
    for param in params:
        elem = param["PartitionElem"]
        if elem.get("expr") is not None:
            raise feature_not_supported("partition key expressions")
        column = elem["name"]
        index = next((i for i, c in enumerate(relation_columns) if c.name == column), None)
        if index is None:
            raise error_at(f'column "{column}" named in partition key does not exist',
                           "42703", elem.get("location", -1))
        columns.append(index)
    return PartitionKey(strategy, tuple(columns))


def record_key(txn: Any, relation: Relation, key: PartitionKey) -> None:
    txn.add_catalog_row(boot.PG_PARTITIONED_TABLE, [
        relation.oid, key.strategy, len(key.columns), 0,
        " ".join(str(c + 1) for c in key.columns)])


def _strategy_error(strategy: str, location: int) -> MirrordbError:
    word = {STRATEGY_RANGE: "range", STRATEGY_LIST: "list", STRATEGY_HASH: "hash"}[strategy]
    return error_at(f"invalid bound specification for a {word} partition", "42P16", location)


def transform_bound(session: Any, parent: Relation, key: PartitionKey, spec: Node) -> Bound:
    """A FOR VALUES clause (``PartitionBoundSpec``) checked against the key and evaluated."""
    types = tuple(parent.columns[i].type_oid for i in key.columns)
    location = spec.get("location", -1)
    if spec.get("is_default"):
        if key.strategy == STRATEGY_HASH:
            raise MirrordbError("a hash-partitioned table may not have a default partition",
                                sqlstate="42P16")
        return Bound(DEFAULT, types)
    if spec.get("strategy") != key.strategy:
        raise _strategy_error(key.strategy, location)
    if key.strategy == STRATEGY_HASH:
        modulus, remainder = int(spec.get("modulus", 0)), int(spec.get("remainder", 0))
        if modulus <= 0:
            raise MirrordbError("modulus for hash partition must be an integer value greater "
                                "than zero", sqlstate="42P16")
        if remainder >= modulus:
            raise MirrordbError("remainder for hash partition must be less than modulus",
                                sqlstate="42P16")
        return Bound(STRATEGY_HASH, types, modulus=modulus, remainder=remainder)
    if key.strategy == STRATEGY_LIST:
        values: list[Any] = []
        for datum in spec.get("listdatums", []):
            value = _value(session, parent, key.columns[0], datum)
            if value not in values:
                values.append(value)
        return Bound(STRATEGY_LIST, types, values=tuple(values))
    lower = _range_datums(session, parent, key, spec.get("lowerdatums", []), "FROM")
    upper = _range_datums(session, parent, key, spec.get("upperdatums", []), "TO")
    return Bound(STRATEGY_RANGE, types, lower, upper)


def _range_datums(session: Any, parent: Relation, key: PartitionKey, datums: list[Node],
                  word: str) -> tuple[Any, ...]:
    if len(datums) != len(key.columns):
        raise MirrordbError(f"{word} must specify exactly one value per partitioning column",
                            sqlstate="42P16")
    values: list[Any] = []
    for column, datum in zip(key.columns, datums):
        name = _infinite_name(datum)
        values.append(_Infinite(name) if name else _value(session, parent, column, datum))
    seen = None        # after MINVALUE or MAXVALUE only the same may follow
    for value in values:
        if seen is not None and value != seen:
            raise error_at("every bound following MAXVALUE must also be MAXVALUE" if
                           seen == MAXVALUE else
                           "every bound following MINVALUE must also be MINVALUE", "42P16", -1)
        if isinstance(value, _Infinite):
            seen = value
    return tuple(values)


def _infinite_name(datum: Node) -> str | None:
    if "ColumnRef" in datum:
        fields = datum["ColumnRef"]["fields"]
        if len(fields) == 1 and "String" in fields[0]:
            word = fields[0]["String"]["sval"].upper()
            if word in (MINVALUE, MAXVALUE):
                return word
    return None


def _value(session: Any, parent: Relation, column: int, datum: Node) -> Any:
    """A bound's value: a constant expression coerced to the key column's type."""
    from mirrordb.sql.expressions import ExpressionCompiler, Scope, coerce
    from mirrordb.sql.planner import PlanBuilder
    builder = PlanBuilder(session, [])
    target = parent.columns[column]
    if "ColumnRef" in datum:
        raise error_at("cannot use column reference in partition bound expression", "0A000",
                       datum["ColumnRef"].get("location", -1))
    expr = ExpressionCompiler(builder, Scope()).compile(datum)
    expr = coerce(builder, expr, target.type_oid, target.typmod, "assignment")
    return expr.fn((), session._context(()))


def _datum_location(datum: Node) -> int:
    return int(one(datum)[1].get("location", -1))


def _overlap_location(bound: Bound, other: Bound, spec: Node) -> int:
    """Where PostgreSQL's overlap error points: a range's lower bound, a list's first value
    the other partition has too, a hash bound's clause."""
    if bound.kind == STRATEGY_RANGE and spec.get("lowerdatums"):
        return _datum_location(spec["lowerdatums"][0])
    if bound.kind == STRATEGY_LIST:
        for value, datum in zip(bound.values, spec.get("listdatums", [])):
            if value in other.values:
                return _datum_location(datum)
    return int(spec.get("location", -1))


def check_overlap(txn: Any, parent: Relation, key: PartitionKey, name: str, bound: Bound,
                  spec: Node) -> None:
    """42P17 when the new partition's bound overlaps an existing partition's."""
    location = int(spec.get("location", -1))
    for oid, other in children(txn, parent.oid):
        if other is None:
            continue
        other_name = txn.relation(oid).name
        if bound.kind == DEFAULT or other.kind == DEFAULT:
            if bound.kind == DEFAULT and other.kind == DEFAULT:
                raise error_at(f'partition "{name}" conflicts with existing default partition '
                               f'"{other_name}"', "42P17", location)
            continue
        if _overlaps(bound, other):
            raise error_at(f'partition "{name}" would overlap partition "{other_name}"',
                           "42P17", _overlap_location(bound, other, spec))
    if bound.kind == STRATEGY_RANGE and _compare_bounds(bound.lower, bound.upper, True,
                                                        True) >= 0:
        raise error_at(f'empty range bound specified for partition "{name}"', "42P17",
                       _datum_location(spec["lowerdatums"][0]),
                       detail=f"Specified lower bound ({_datums(bound.lower, bound.types)}) is "
                              "greater than or equal to upper bound "
                              f"({_datums(bound.upper, bound.types)}).")


def _overlaps(a: Bound, b: Bound) -> bool:
    if a.kind == STRATEGY_LIST:
        return any(v in b.values for v in a.values)
    if a.kind == STRATEGY_RANGE:
        return (_compare_bounds(a.lower, b.upper, True, True) < 0
                and _compare_bounds(b.lower, a.upper, True, True) < 0)
    if a.kind == STRATEGY_HASH:
        small, large = sorted((a, b), key=lambda x: x.modulus)
        return large.remainder % small.modulus == small.remainder
    return False


def check_hash_moduli(txn: Any, parent: Relation, bound: Bound) -> None:
    """PostgreSQL's rule that every hash modulus divides the next larger one."""
    if bound.kind != STRATEGY_HASH:
        return
    for oid, other in children(txn, parent.oid):
        if other is None or other.kind != STRATEGY_HASH:
            continue
        small, large = sorted((bound.modulus, other.modulus))
        if large % small:
            if bound.modulus > other.modulus:
                raise MirrordbError("every hash partition modulus must be a factor of the "
                                    "next larger modulus", sqlstate="42P17",
                               detail=f'The new modulus {bound.modulus} is not divisible by '
                                      f'{other.modulus}, the modulus of existing partition '
                                      f'"{txn.relation(oid).name}".')
            raise MirrordbError("every hash partition modulus must be a factor of the next "
                                "larger modulus", sqlstate="42P17",
                           detail=f'The new modulus {bound.modulus} is not a factor of '
                                  f'{other.modulus}, the modulus of existing partition '
                                  f'"{txn.relation(oid).name}".')


def attach(txn: Any, parent: Relation, child: Relation, bound: Bound) -> None:
    """The pg_inherits row (and a default partition's pg_partitioned_table.partdefid)."""
    txn.add_catalog_row(boot.PG_INHERITS, [child.oid, parent.oid, 1, False, bound.to_json()])
    if bound.kind == DEFAULT:
        txn.change_catalog_rows(boot.PG_PARTITIONED_TABLE, lambda v: v[0] == parent.oid,
                                lambda v: (*v[:3], child.oid, *v[4:]))


def detach(txn: Any, parent: Relation, child: Relation) -> None:
    txn.remove_catalog_rows(boot.PG_INHERITS,
                            lambda v: v[0] == child.oid and v[1] == parent.oid)
    txn.change_catalog_rows(boot.PG_PARTITIONED_TABLE,
                            lambda v: v[0] == parent.oid and v[3] == child.oid,
                            lambda v: (*v[:3], 0, *v[4:]))


def check_rows_fit(session: Any, txn: Any, parent: Relation, key: PartitionKey, child: Relation,
                   bound: Bound) -> None:
    """ATTACH PARTITION: every row of the table must satisfy its new bound (23514)."""
    if bound.kind == DEFAULT:
        others = [b for _, b in children(txn, parent.oid) if b is not None]
        for relation in _leaves_of(txn, child):
            for _, values in txn.scan(relation):
                row_key = tuple(values[i] for i in key.columns)
                if any(accepts(b, row_key) for b in others):
                    raise MirrordbError(f'partition constraint of relation "{child.name}" is '
                                        "violated by some row", sqlstate="23514")
        return
    for relation in _leaves_of(txn, child):
        for _, values in txn.scan(relation):
            if not accepts(bound, tuple(values[i] for i in key.columns)):
                raise MirrordbError(f'partition constraint of relation "{relation.name}" is '
                                    "violated by some row", sqlstate="23514")


def check_default_rows(txn: Any, parent: Relation, key: PartitionKey, bound: Bound) -> None:
    """A new partition must not take rows the default partition holds."""
    if bound.kind == DEFAULT:
        return
    default = next((oid for oid, b in children(txn, parent.oid)
                    if b is not None and b.kind == DEFAULT), None)
    if default is None:
        return
    default_relation = txn.relation(default)
    for relation in _leaves_of(txn, default_relation):
        for _, values in txn.scan(relation):
            if accepts(bound, tuple(values[i] for i in key.columns)):
                raise MirrordbError(f'updated partition constraint for default partition '
                                    f'"{default_relation.name}" would be violated by some row',
                                    sqlstate="23514")


def _leaves_of(txn: Any, relation: Relation) -> list[Relation]:
    if relation.kind != RELKIND_PARTITIONED_TABLE:
        return [relation]
    return list(tree(txn, relation).leaves())


def check_same_columns(parent: Relation, child: Relation) -> None:
    """ATTACH PARTITION of a table whose columns are not the parent's (mirrordb keeps a
    partition's columns in its parent's order)."""
    for column in child.columns:
        if not any(c.name == column.name for c in parent.columns):
            raise MirrordbError(f'table "{child.name}" contains column "{column.name}" not '
                                f'found in parent "{parent.name}"', sqlstate="42804",
                                detail="The new partition may contain only the columns present "
                                       "in parent.")
    for column in parent.columns:
        mine = next((c for c in child.columns if c.name == column.name), None)
        if mine is None:
            raise MirrordbError(f'child table is missing column "{column.name}"',
                                sqlstate="42804")
        if (mine.type_oid, mine.typmod) != (column.type_oid, column.typmod):
            raise MirrordbError(f'child table "{child.name}" has different type for column '
                                f'"{column.name}"', sqlstate="42804")
    if [c.name for c in child.columns] != [c.name for c in parent.columns]:
        raise feature_not_supported("partitions whose columns are in another order than "
                                    "their parent's")


def descendants(txn: Any, oid: int) -> list[int]:
    """Every partition below ``oid``, deepest first (the order DROP removes them in)."""
    found: list[int] = []
    for child, _ in children(txn, oid):
        found += descendants(txn, child)
        found.append(child)
    return found


# -- scans -----------------------------------------------------------------------------------


@dataclass(eq=False)
class Append(ex.PlanNode):
    """A partitioned table's scan: each remaining leaf partition's rows (with their ctid as a
    ``PartitionTid``), the conditions checked in each."""

    relation: Relation
    alias: str
    leaves: list[Relation]
    qual: Expr | None = None
    width: int = 0
    only: bool = False          # FROM ONLY p: the parent's own rows, which are none
    # an inheritance parent's scan (sql/inheritance.py): where each of the parent's columns
    # is in each member's rows (None: the same places)
    mappings: list[tuple[int, ...] | None] | None = None
    # a partitioned table's: each leaf's own scan with the conditions (an index scan where
    # one of its indexes serves them, as the planner chooses for a table); None: seq scans
    children: list[ex.PlanNode] | None = None

    def rows(self, ctx: ExecContext) -> Iterator[Row]:
        if self.children is not None:
            yield from self._children_rows(ctx)
            return
        qual = self.qual.fn if self.qual is not None else None
        count = 0
        check = ctx.check_interrupts
        mappings = self.mappings or [None] * len(self.leaves)
        for leaf, mapping in zip(self.leaves, mappings):
            ctx.txn.lock_relation(leaf.oid, LockMode.ACCESS_SHARE)
            for tid, values in ctx.txn.scan(leaf):
                count += 1
                if count % ex.INTERRUPT_CHECK_ROWS == 0:
                    check()
                if mapping is not None:
                    values = tuple([values[i] for i in mapping])
                row = (*values, PartitionTid(tid, leaf))
                if qual is None or qual(row, ctx) is True:
                    yield row

    def _children_rows(self, ctx: ExecContext) -> Iterator[Row]:
        assert self.children is not None
        for leaf, child in zip(self.leaves, self.children):
            ctx.txn.lock_relation(leaf.oid, LockMode.ACCESS_SHARE)
            for row in child.rows(ctx):
                yield (*row[:-1], PartitionTid(row[-1], leaf))

    def explain(self) -> tuple[str, list[ex.PlanNode]]:
        filtered = " (filtered)" if self.qual is not None else ""
        if self.children is not None:
            if len(self.children) == 1:
                return self.children[0].explain()
            return "Append", list(self.children)
        if not self.leaves:
            return "Result (One-Time Filter: false)", []
        if len(self.leaves) == 1:
            return f"Seq Scan on {self.leaves[0].name} {self.alias}{filtered}", []
        return "Append", [_Labelled(f"Seq Scan on {leaf.name} {self.alias}_{n}{filtered}")
                          for n, leaf in enumerate(self.leaves, start=1)]


@dataclass(eq=False)
class _Labelled(ex.PlanNode):
    label: str

    def explain(self) -> tuple[str, list[ex.PlanNode]]:
        return self.label, []


def scan(txn: Any, relation: Relation, alias: str, width: int, qual: Expr | None = None,
         conditions: list[tuple[str, int, Any]] | None = None, only: bool = False) -> Append:
    """The Append over ``relation``'s leaves that ``conditions`` ((operator, key column,
    constant value) triples) leave (PostgreSQL's plan-time pruning)."""
    leaves = [] if only else list(_pruned(tree(txn, relation), conditions or []))
    return Append(relation, alias, leaves, qual, width=width, only=only)


def rescan(builder: Any, item: Any, compiled: list[tuple[Node, Expr]], qual: Expr) -> Append:
    """The planner's scan with its conditions: a partitioned table's pruned by them, an
    inheritance parent's with them checked in each member."""
    node = item.node
    if node.relation.kind != RELKIND_PARTITIONED_TABLE:
        return dataclasses.replace(node, qual=qual)
    appended = scan(builder.session.txn, node.relation, node.alias, node.width, qual,
                    pruning_conditions(builder, item, compiled, node.relation), only=node.only)
    from mirrordb.sql.planner import _FromItem
    children = [builder._choose_index(_FromItem(ex.SeqScan(leaf, node.alias, width=node.width),
                                                item.scope, leaf, node.alias), compiled, qual)
                for leaf in appended.leaves]
    if any(isinstance(child, ex.IndexScan) for child in children):
        return dataclasses.replace(appended, children=children)
    return appended


def _pruned(node: PartitionTree, conditions: list[tuple[str, int, Any]]) -> Iterator[Relation]:
    for bound, relation, sub in node.parts:
        if not _may_hold(node, bound, conditions):
            continue
        if sub is None:
            yield relation
        else:
            yield from _pruned(sub, conditions)


def _may_hold(node: PartitionTree, bound: Bound, conditions: list[tuple[str, int, Any]]) -> bool:
    """False when the conditions on the key exclude every row ``bound`` admits."""
    if not conditions or bound.kind in (DEFAULT, STRATEGY_HASH):
        if bound.kind == DEFAULT and conditions:
            return _default_may_hold(node, conditions)
        return True
    first = node.key.columns[0]
    for op, column, value in conditions:
        if column != first or value is None:
            continue
        if bound.kind == STRATEGY_LIST:
            if not any(v is not None and _holds(op, v, value) for v in bound.values):
                return False
            continue
        low, high = bound.lower[0], bound.upper[0]
        # the bound admits first-column values in [low, high] (high itself only with more
        # columns after it)
        high_inclusive = len(bound.upper) > 1 and not isinstance(high, _Infinite)
        if op == "=":
            if _below(value, low) or _above(value, high, high_inclusive):
                return False
        elif op in ("<", "<="):
            if not isinstance(low, _Infinite) and (value < low or (op == "<" and value == low)):
                return False
        elif op in (">", ">="):
            if not isinstance(high, _Infinite) and (value > high or (
                    value == high and (op == ">" or not high_inclusive))):
                return False
    return True


def _default_may_hold(node: PartitionTree, conditions: list[tuple[str, int, Any]]) -> bool:
    """The default partition is pruned when an equality picks a value another partition
    takes, or (range) when the conditions' interval lies within the other partitions'
    (a single-column key)."""
    if len(node.key.columns) != 1:
        return True
    column = node.key.columns[0]
    mine = [(op, value) for op, c, value in conditions if c == column and value is not None]
    for op, value in mine:
        if op == "=" and any(b.kind not in (DEFAULT, STRATEGY_HASH) and accepts(b, (value,))
                             for b, _, _ in node.parts):
            return False
    if node.key.strategy != STRATEGY_RANGE:
        return True
    low = high = None             # the conditions' interval
    high_inclusive = True
    for op, value in mine:
        if op in (">", ">=") and (low is None or value > low):
            low = value
        elif op in ("<", "<=") and (high is None or value < high or (
                value == high and op == "<")):
            high, high_inclusive = value, op == "<="
    return not _covered(node, low, high, high_inclusive)


def _covered(node: PartitionTree, low: Any, high: Any, high_inclusive: bool) -> bool:
    """Whether the non-default range partitions together hold every value from ``low`` to
    ``high`` (None: unbounded)."""
    spans = sorted(((b.lower[0], b.upper[0]) for b, _, _ in node.parts
                    if b.kind == STRATEGY_RANGE and len(b.lower) == 1),
                   key=functools.cmp_to_key(lambda x, y: _compare_bounds(
                       (x[0],), (y[0],), True, True)))
    reach: Any = None         # the end of the run of adjacent partitions holding ``low``
    for start, end in spans:
        starts_run = isinstance(start, _Infinite) or (low is not None and start <= low)
        if reach is None or isinstance(start, _Infinite) or reach != start:
            if not starts_run:
                continue
        reach = end
        if isinstance(end, _Infinite) or (high is not None and (
                high < end or (high == end and not high_inclusive))):
            return True
    return False


def _below(value: Any, low: Any) -> bool:
    return not isinstance(low, _Infinite) and value < low


def _above(value: Any, high: Any, inclusive: bool) -> bool:
    if isinstance(high, _Infinite):
        return False
    return value > high or (value == high and not inclusive)


def _holds(op: str, left: Any, right: Any) -> bool:
    return {"=": left == right, "<": left < right, "<=": left <= right, ">": left > right,
            ">=": left >= right}.get(op, True)


def pruning_conditions(builder: Any, item: Any, compiled: list[tuple[Node, Expr]],
                       relation: Relation) -> list[tuple[str, int, Any]]:
    """The (operator, column, constant) conditions on the key columns the planner can use at
    plan time; parameters and other expressions prune nothing."""
    found = []
    key_columns: set[int] = set()
    pending = [tree(builder.session.txn, relation)]
    while pending:
        node = pending.pop()
        key_columns.update(node.key.columns)
        pending += [sub for _, _, sub in node.parts if sub is not None]
    for column in sorted(key_columns):
        column_type = relation.columns[column].type_oid
        for part, _ in compiled:
            hit = builder._indexable(part, item.scope, column, column_type)
            if hit is None or not hit[1].constant:
                continue
            found.append((hit[0], column, hit[1].value))
    return found


# -- DML -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionCheck:
    """A partition's constraint for rows written to it directly: its bound, and each
    ancestor's (ExecPartitionCheck). ``steps``: (key columns, bound, the siblings' bounds
    for a default partition)."""

    relation: Relation
    steps: tuple[tuple[tuple[int, ...], Bound, tuple[Bound, ...]], ...]

    def verify(self, values: list[Any] | tuple[Any, ...], ctx: ExecContext) -> None:
        for columns, bound, siblings in self.steps:
            key = tuple(values[i] for i in columns)
            fits = (not any(accepts(b, key) for b in siblings)) if bound.kind == DEFAULT \
                else accepts(bound, key)
            if not fits:
                from mirrordb.sql.constraints import failing_row_detail
                raise MirrordbError(f'new row for relation "{self.relation.name}" violates '
                                    "partition constraint", sqlstate="23514",
                                    detail=failing_row_detail(self.relation, values,
                                                              ctx.session.timezone))


def partition_check(txn: Any, relation: Relation) -> PartitionCheck | None:
    """The check of rows INSERT, UPDATE or COPY write into ``relation`` itself when it is a
    partition; None for other tables (a plain table costs one look at pg_inherits)."""
    if relation.oid not in inherits_summary(txn).partitions:
        return None
    steps = []
    oid = relation.oid
    while True:
        found = parent_of(txn, oid)
        if found is None or found[1] is None:
            break
        parent, bound = found
        key = partition_key(txn, parent)
        if key is None:
            break
        siblings = tuple(b for child, b in children(txn, parent)
                         if child != oid and b is not None and b.kind != DEFAULT)
        steps.append((key.columns, bound, siblings if bound.kind == DEFAULT else ()))
        oid = parent
    return PartitionCheck(relation, tuple(steps)) if steps else None



def insert(ctx: ExecContext, relation: Relation, values: list[Any]) -> PartitionTid:
    """INSERT into a partitioned table: the row goes to its leaf."""
    leaf = statement_tree(ctx, relation).route(values)
    ctx.txn.lock_relation(leaf.oid, LockMode.ROW_EXCLUSIVE)
    return PartitionTid(ctx.txn.insert(leaf, values), leaf)


def upsert_target(ctx: ExecContext, relation: Relation, values: list[Any],
                  arbiters: list[Any]) -> tuple[Relation, list[Any]]:
    """INSERT ... ON CONFLICT into a partitioned table: the leaf the row goes to and, for
    each arbiter (an index of the partitioned table), the leaf's index under it."""
    if not is_partitioned(relation):
        return relation, arbiters
    leaf = statement_tree(ctx, relation).route(values)
    ctx.txn.lock_relation(leaf.oid, LockMode.ROW_EXCLUSIVE)
    mapped = []
    for arbiter in arbiters:
        below = set(descendants(ctx.txn, arbiter.relation.oid))
        mine = next((info for info in leaf.indexes if info.relation.oid in below), None)
        if mine is None:
            raise MirrordbError(f'there is no unique or exclusion constraint matching the ON '
                                f'CONFLICT specification', sqlstate="42P10")
        mapped.append(mine)
    return leaf, mapped


def leaf_tid(relation: Relation, leaf: Relation, tid: Any) -> Any:
    """A leaf's ctid as a partitioned table's statement carries it."""
    return tid if leaf is relation or tid is None else PartitionTid(tid, leaf)


def check_stays(ctx: ExecContext, relation: Relation, leaf: Relation, values: list[Any]) -> None:
    """ON CONFLICT DO UPDATE may not move the row to another partition (PostgreSQL's 0A000)."""
    if leaf is relation or statement_tree(ctx, relation).route(values).oid == leaf.oid:
        return
    raise MirrordbError("invalid ON UPDATE specification", sqlstate="0A000",
                        detail="The result tuple would appear in a different partition than "
                               "the original tuple.")


def target(relation: Relation, tid: Any) -> tuple[Relation, Any]:
    """The relation and plain ctid an UPDATE or DELETE changes."""
    if isinstance(tid, PartitionTid):
        return tid.relation, tuple(tid)
    return relation, tid


def update(ctx: ExecContext, relation: Relation, tid: Any, values: list[Any],
           old: tuple[Any, ...]) -> tuple[Any, Any]:
    """UPDATE of a partitioned table's row: in place when it stays in its leaf, else deleted
    there and inserted where it now belongs (PostgreSQL 15's cross-partition UPDATE)."""
    from mirrordb.access.heapam import TmResult
    leaf, plain = target(relation, tid)
    if not is_partitioned(relation):        # an inheritance parent's row or a child's
        return _update_member(ctx, relation, leaf, plain, values, old)
    new_leaf = statement_tree(ctx, relation).route(values)
    if new_leaf.oid == leaf.oid:
        result, new_tid = ctx.txn.update(leaf, plain, values, old)
        return result, PartitionTid(new_tid, leaf) if new_tid is not None else None
    result = ctx.txn.delete(leaf, plain)
    if result != TmResult.OK:
        return result, None
    ctx.txn.lock_relation(new_leaf.oid, LockMode.ROW_EXCLUSIVE)
    return result, PartitionTid(ctx.txn.insert(new_leaf, values), new_leaf)


def _update_member(ctx: ExecContext, relation: Relation, member: Relation, tid: Any,
                   values: list[Any], old: tuple[Any, ...]) -> tuple[Any, Any]:
    """UPDATE through an inheritance parent: the member's own columns stay as they are."""
    if member.oid == relation.oid:
        result, new_tid = ctx.txn.update(member, tid, values, old)
    else:
        from mirrordb.sql.inheritance import column_mapping
        full_old = ctx.txn.fetch(member, tid) or ()
        full = list(full_old)
        for value, index in zip(values, column_mapping(relation, member) or
                                range(len(values))):
            full[index] = value
        result, new_tid = ctx.txn.update(member, tid, full, full_old)
    return result, PartitionTid(new_tid, member) if new_tid is not None else None


def fetch_latest(txn: Any, relation: Relation, tid: Any) -> tuple[Any, Any] | None:
    leaf, plain = target(relation, tid)
    latest = txn.fetch_latest(leaf, plain)
    if latest is None or leaf is relation:
        return latest
    values = latest[1]
    if leaf.natts != relation.natts:            # an inheritance child's row
        from mirrordb.sql.inheritance import column_mapping
        mapping = column_mapping(relation, leaf)
        if mapping is not None:
            values = tuple(values[i] for i in mapping)
    return PartitionTid(latest[0], leaf), values


def tid_key(tid: Any) -> Any:
    """What tells two target rows apart: the ctid, with the leaf's OID for a partition's."""
    return (tid.relation.oid, *tid) if isinstance(tid, PartitionTid) else tid


def is_partitioned(relation: Relation | None) -> bool:
    return relation is not None and relation.kind == RELKIND_PARTITIONED_TABLE
