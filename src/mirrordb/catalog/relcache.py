"""The relation cache: relation descriptors built by reading the catalog heap relations.

Lookups read pg_class, pg_attribute, pg_index and pg_sequence with a catalog snapshot (the latest
committed state plus the asking transaction's own changes). Each database has its own cache
(``database_oid``), reading that database's catalog files (``catalog``). Results are cached per
catalog generation: the generation advances whenever a transaction that changed catalogs commits
or aborts (and, on a standby, when a commit is replayed), which empties the cache; the engine
advances every database's cache then (``Engine.invalidate_relcaches``), since a change to a
shared catalog (a role) matters to all of them. A transaction that changed catalogs itself
bypasses the cache until it ends.

Relations are found by (schema OID, name), as pg_class's unique index on (relname,
relnamespace) finds them, or by OID (``lookup_oid``); a name without a schema means the only
relation of that name (public's first), for engine-level tests and tools only.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable

from mirrordb.access.relation import (RELKIND_INDEX, RELKIND_SEQUENCE, RELPERSISTENCE_TEMP,
                                      TEMP_NAMESPACE_PREFIX, Column, IndexInfo, Relation)
from mirrordb.access.sequence import SequenceParams
from mirrordb.catalog import bootstrap as boot
from mirrordb.storage.relfilenode import RelFileNode, TempRelFileNode

if TYPE_CHECKING:
    from mirrordb.access.heapam import HeapAccess
    from mirrordb.access.snapshot import Snapshot
    from mirrordb.access.xact import Transaction


class RelationCache:
    def __init__(self, heap: HeapAccess, database_oid: int = boot.POSTGRES_DATABASE_OID) -> None:
        self.heap = heap
        self.database_oid = database_oid
        self.generation = 0
        self._cache: dict[tuple[int | None, str], Relation | None] = {}
        self._by_oid: dict[int, Relation | None] = {}
        self._sequence_params: dict[int, SequenceParams] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._cache.clear()
            self._by_oid.clear()
            self._sequence_params.clear()

    def catalog(self, catalog: Relation) -> Relation:
        """This database's descriptor of system catalog ``catalog`` (bootstrap.in_database)."""
        return boot.in_database(catalog, self.database_oid)

    def _snapshot(self, txn: Transaction | None) -> Snapshot:
        return self.heap.env.xacts.take_snapshot(None)

    def rows(self, catalog: Relation, txn: Transaction | None
             ) -> list[tuple[tuple[int, int], tuple[object, ...]]]:
        """Every row of this database's ``catalog`` (any database's descriptor of it, such as
        bootstrap's, names the catalog) that a catalog snapshot sees."""
        return list(self.heap.scan(self.catalog(catalog), txn, self._snapshot(txn)))

    def lookup(self, name: str, txn: Transaction | None,
               namespace_oid: int | None = None) -> Relation | None:
        """Relation ``name`` of schema ``namespace_oid``. Without a schema: the only one of
        that name (public's first), for engine-level callers; the SQL layer always names the
        schema (it resolves names through the search path first)."""
        catalog = boot.CATALOGS_BY_NAME.get(name)
        if catalog is not None and namespace_oid in (None, boot.PG_CATALOG_NAMESPACE_OID):
            return boot.in_database(catalog, self.database_oid)
        return self._cached(self._cache, (namespace_oid, name), txn,
                            lambda: self._load(name, namespace_oid, txn))

    def lookup_oid(self, oid: int, txn: Transaction | None) -> Relation | None:
        """The relation with OID ``oid`` (a system catalog's descriptor in this database)."""
        catalog = next((c for c in boot.CATALOGS if c.oid == oid), None)
        if catalog is not None:
            return boot.in_database(catalog, self.database_oid)
        return self._cached(self._by_oid, oid, txn, lambda: self._load_oid(oid, txn))

    def _cached(self, cache: dict, key: object, txn: Transaction | None,  # type: ignore[type-arg]
                load: Callable[[], Relation | None]) -> Relation | None:
        use_cache = txn is None or not txn.touched_catalogs
        if use_cache:
            with self._lock:
                if key in cache:
                    return cache[key]  # type: ignore[no-any-return]
            generation = self.generation
        relation = load()
        if use_cache:
            with self._lock:
                if generation == self.generation:
                    cache[key] = relation
        return relation

    def _load(self, name: str, namespace_oid: int | None,
              txn: Transaction | None) -> Relation | None:
        rows = [values for _, values in self.rows(boot.PG_CLASS, txn) if values[1] == name
                and (namespace_oid is None or values[2] == namespace_oid)]
        if not rows:
            return None
        rows.sort(key=lambda v: (v[2] != boot.PUBLIC_NAMESPACE_OID, v[0]))  # type: ignore
        return self._complete(rows[0], txn)

    def _load_oid(self, oid: int, txn: Transaction | None) -> Relation | None:
        row = next((values for _, values in self.rows(boot.PG_CLASS, txn) if values[0] == oid),
                   None)
        return None if row is None else self._complete(row, txn)

    def _complete(self, row: tuple[object, ...], txn: Transaction | None) -> Relation:
        relation = self._describe(row, txn)
        if relation.kind not in (RELKIND_INDEX, RELKIND_SEQUENCE):
            relation.indexes = self._indexes_of(relation, txn)
        return relation

    def _describe(self, row: tuple[object, ...], txn: Transaction | None,
                  index_row: tuple[object, ...] | None = None) -> Relation:
        """The descriptor of pg_class row ``row``; an index's key count comes from its
        pg_index row (``index_row`` when the caller has it)."""
        oid, relname, namespace, _, relkind, relfilenode, tablespace = row[:7]
        attributes = sorted((values for _, values in self.rows(boot.PG_ATTRIBUTE, txn)
                             if values[0] == oid), key=lambda values: values[3])  # type: ignore
        columns = [Column(str(a[1]), int(a[2]), bool(a[4]), int(a[5]),  # type: ignore[arg-type]
                          str(a[7] or ""), str(a[8] or "")) for a in attributes]
        key_count = -1
        if relkind == RELKIND_INDEX:
            if index_row is None:
                index_row = next((values for _, values in self.rows(boot.PG_INDEX, txn)
                                  if values[0] == oid), None)
            key_count = -1 if index_row is None else _key_count(index_row)
        persistence = str(row[7] or "p")
        rnode = RelFileNode(int(tablespace), self.database_oid,  # type: ignore[arg-type]
                            int(relfilenode))  # type: ignore[arg-type]
        if persistence == RELPERSISTENCE_TEMP:
            backend = self._temp_backend_id(int(namespace), txn)  # type: ignore[call-overload]
            rnode = TempRelFileNode(*rnode, backend)
        return Relation(oid=int(oid), name=str(relname), kind=str(relkind),  # type: ignore
                        rnode=rnode, columns=columns,
                        namespace_oid=int(namespace),  # type: ignore[arg-type]
                        key_count=key_count, persistence=persistence)

    def _temp_backend_id(self, namespace_oid: int, txn: Transaction | None) -> int:
        """The backend ID a temporary relation's schema is named after (pg_temp_N)."""
        name = next((str(values[1]) for _, values in self.rows(boot.PG_NAMESPACE, txn)
                     if values[0] == namespace_oid), "")
        return int(name.removeprefix(TEMP_NAMESPACE_PREFIX) or "-1")

    def _indexes_of(self, table: Relation, txn: Transaction | None) -> list[IndexInfo]:
        index_rows = [values for _, values in self.rows(boot.PG_INDEX, txn)
                      if values[1] == table.oid]
        if not index_rows:
            return []
        classes = {values[0]: values for _, values in self.rows(boot.PG_CLASS, txn)}
        indexes = []
        for values in sorted(index_rows, key=lambda v: v[0]):  # type: ignore[arg-type,return-value]
            index_relation = self._describe(classes[values[0]], txn, values)
            numbers = tuple(int(part) - 1 for part in str(values[5]).split())
            key_count = _key_count(values)
            indexes.append(IndexInfo(index_relation, numbers[:key_count], bool(values[3]),
                                     bool(values[4]), _text_or_none(values[6]),
                                     _text_or_none(values[7]), table, numbers[key_count:],
                                     tuple(int(part) for part in str(values[8] or "").split())))
        return indexes

    def sequence_params(self, relation: Relation, txn: Transaction | None) -> SequenceParams:
        with self._lock:
            params = self._sequence_params.get(relation.oid)
        if params is None or (txn is not None and txn.touched_catalogs):
            row = next(values for _, values in self.rows(boot.PG_SEQUENCE, txn)
                       if values[0] == relation.oid)
            params = SequenceParams(start=int(row[2]), increment=int(row[3]),  # type: ignore
                                    max_value=int(row[4]), min_value=int(row[5]),  # type: ignore
                                    cycle=bool(row[7]))
            with self._lock:
                self._sequence_params[relation.oid] = params
        return params


def _key_count(index_row: tuple[object, ...]) -> int:
    """pg_index.indnkeyatts (indnatts when NULL)."""
    count = index_row[9] if index_row[9] is not None else index_row[2]
    return int(count)  # type: ignore[call-overload]


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)
