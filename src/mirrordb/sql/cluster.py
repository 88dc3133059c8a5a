"""CLUSTER and ALTER TABLE ... CLUSTER ON / SET WITHOUT CLUSTER, as PostgreSQL 15 has them.

Who calls it: sql/session.py (ClusterStmt) and sql/ddl.py's ALTER TABLE handlers
(AT_ClusterOn, AT_DropCluster). The other half: pg_index.indisclustered
(catalog/bootstrap.py), shown by the pg_index view and psql's \\d.

CLUSTER table [USING index] locks the table AccessExclusive, reads its visible rows in the
index's order, gives the table and its indexes new relation files (new relfilenodes, the old
files removed at commit, as TRUNCATE and REINDEX swap them) and inserts the rows again in that
order, rebuilding the indexes; the index becomes the table's clustered one, and relpages and
reltuples are set as PostgreSQL's rewrite sets them. All of it is WAL-logged catalog rows and
pages, so a standby follows. CLUSTER without a table clusters every table of the database that
has a clustered index and that the user owns, outside a transaction block. VACUUM FULL
(``vacuum_full``) is the same rewrite in the table's physical order.

Rows are written again as new versions of this transaction (PostgreSQL copies the versions with
their xmin): a concurrent snapshot older than the CLUSTER sees the table as empty, where
PostgreSQL's sees it as it was.
"""

from __future__ import annotations

from typing import Any

from mirrordb.access.lmgr import LockMode
from mirrordb.access.relation import RELKIND_TABLE, IndexInfo, Relation
from mirrordb.catalog import bootstrap as boot
from mirrordb.catalog import relstats
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import roles
from mirrordb.sql.analyze import another_sessions_temp, maintenance_writes

Node = dict[str, Any]
_INDISCLUSTERED = boot.PG_INDEX.column_index("indisclustered")


def cluster(session: Any, node: Node) -> list[tuple[str, str, str | None]]:
    """CLUSTER [VERBOSE] [table [USING index]]; returns VERBOSE's notices."""
    verbose = any(p["DefElem"]["defname"] == "verbose" for p in node.get("params", []))
    ref = node.get("relation")
    if ref is None:
        return _cluster_all(session, verbose)
    relation = session.lookup_relation(ref["relname"], ref.get("schemaname"),
                                       LockMode.ACCESS_EXCLUSIVE)
    if relation is None:
        raise MirrordbError(f'relation "{ref["relname"]}" does not exist', sqlstate="42P01")
    roles.check_table_ownership(session, relation)
    txn = session._ensure_transaction()
    index_name = node.get("indexname")
    info = (_named_index(relation, index_name) if index_name
            else _clustered_index(txn, relation))
    return _reported(session, txn, relation, info, verbose)


def _cluster_all(session: Any, verbose: bool) -> list[tuple[str, str, str | None]]:
    if session.in_block:
        raise MirrordbError("CLUSTER cannot run inside a transaction block", sqlstate="25001")
    txn = session._ensure_transaction()
    notices = []
    for index_oid, table_oid in _marked(txn):
        relation = txn.engine.relcache.lookup_oid(table_oid, txn.transaction)
        if relation is None or not _owns(session, relation) or \
                another_sessions_temp(session, relation):
            continue
        txn.lock_relation(table_oid, LockMode.ACCESS_EXCLUSIVE)
        relation = txn.relation(table_oid)
        info = next((i for i in relation.indexes if i.relation.oid == index_oid), None)
        if info is not None:
            notices += _reported(session, txn, relation, info, verbose)
    return notices


def _reported(session: Any, txn: Any, relation: Relation, info: IndexInfo | None,
              verbose: bool) -> list[tuple[str, str, str | None]]:
    """``rewrite``, with VERBOSE's INFO messages as PostgreSQL words them (the CPU usage in
    the DETAIL is not measured: zeros). mirrordb reads the rows through the index; the
    message names the sequential scan and sort PostgreSQL's planner picks for small tables."""
    if not verbose:
        with maintenance_writes(txn):
            rewrite(txn, relation, info)
        return []
    from mirrordb.sql import schemas
    engine = txn.engine
    pages = relstats.nblocks(engine, relation)
    removable = relstats.dead_versions(engine, relation, dead_pointers=False)
    with maintenance_writes(txn):
        kept = rewrite(txn, relation, info)
    name = f'"{schemas.namespace_name(session, relation.namespace_oid)}.{relation.name}"'
    first = (f"vacuuming {name}" if info is None
             else f"clustering {name} using sequential scan and sort")
    return [("INFO", first, None),
            ("INFO", f'{name}: found {removable} removable, {kept} nonremovable '
                     f"row versions in {pages} pages",
             "0 dead row versions cannot be removed yet.\n"
             "CPU: user: 0.00 s, system: 0.00 s, elapsed: 0.00 s.")]


def _owns(session: Any, relation: Relation) -> bool:
    try:
        roles.check_table_ownership(session, relation)
    except MirrordbError:
        return False
    return True


def _marked(txn: Any) -> list[tuple[int, int]]:
    """(index, table) of every clustered index."""
    return sorted((int(v[0]), int(v[1]))  # type: ignore[call-overload]
                  for _, v in txn.engine.relcache.rows(boot.PG_INDEX, txn.transaction)
                  if v[_INDISCLUSTERED])


def _named_index(relation: Relation, name: str) -> IndexInfo:
    for info in relation.indexes:
        if info.relation.name == name:
            return info
    raise MirrordbError(f'index "{name}" for table "{relation.name}" does not exist',
                        sqlstate="42704")


def _clustered_index(txn: Any, relation: Relation) -> IndexInfo:
    marked = {index for index, table in _marked(txn) if table == relation.oid}
    for info in relation.indexes:
        if info.relation.oid in marked:
            return info
    raise MirrordbError(f'there is no previously clustered index for table "{relation.name}"',
                        sqlstate="42704")


def rewrite(txn: Any, relation: Relation, info: IndexInfo | None) -> int:
    """Write ``relation`` again in ``info``'s order (None: in its physical order, VACUUM
    FULL) into new files (see the module docstring); returns how many rows it kept."""
    if relation.kind != RELKIND_TABLE:
        raise MirrordbError(f'"{relation.name}" is not a table', sqlstate="42809")
    if info is not None and info.predicate is not None:
        raise MirrordbError(f'cannot cluster on partial index "{info.relation.name}"',
                            sqlstate="0A000")
    if info is None:
        rows = [values for _, values in txn.scan(relation)]
    else:
        mark_clustered(txn, relation, info.relation.oid)
        rows = [values for _, values in txn.index_scan(info.relation.oid)]
    engine = txn.engine
    for index in relation.indexes:
        txn.lock_relation(index.relation.oid, LockMode.ACCESS_EXCLUSIVE)
    with engine._ddl_lock:
        for rel in [relation] + [index.relation for index in relation.indexes]:
            txn._swap_relation_file(rel)
        txn.transaction.command_counter_increment()
        rebuilt = txn.relation(relation.oid)
        for index in rebuilt.indexes:
            engine.btree(index.relation).build_empty()
    for values in rows:
        tid = engine.heap.insert(rebuilt, txn.transaction, list(values))
        txn._insert_index_entries(rebuilt, values, tid)
    relstats.update_class_stats(engine, rebuilt.oid, txn.transaction,
                                pages=relstats.nblocks(engine, rebuilt), tuples=len(rows),
                                allvisible=0)
    for index in rebuilt.indexes:
        relstats.update_class_stats(engine, index.relation.oid, txn.transaction,
                                    pages=relstats.nblocks(engine, index.relation),
                                    tuples=sum(1 for values in rows
                                               if index.key_of(values) is not None))
    return len(rows)


def vacuum_full(session: Any, relation: Relation | None, verbose: bool = False
                ) -> list[tuple[str, str, str | None]]:
    """VACUUM FULL of one table, or of every table of the database, each in a transaction of
    its own: the table is rewritten as CLUSTER rewrites it, in its physical order, dead
    versions left behind."""
    oids = [relation.oid] if relation is not None else session.engine.table_oids()
    notices = []
    for oid in oids:
        if oid < boot.FIRST_NORMAL_OBJECT_ID:
            continue
        txn = session._ensure_transaction()
        found = txn.engine.relcache.lookup_oid(oid, txn.transaction)
        if found is not None and another_sessions_temp(session, found):
            continue
        txn.lock_relation(oid, LockMode.ACCESS_EXCLUSIVE)
        current = txn.engine.relcache.lookup_oid(oid, txn.transaction)
        if current is not None and current.kind == RELKIND_TABLE:
            notices += _reported(session, txn, txn.relation(oid), None, verbose)
        session._commit()
    return notices


def mark_clustered(txn: Any, relation: Relation, index_oid: int | None) -> None:
    """Make ``index_oid`` the table's clustered index (None: none), as PostgreSQL's
    mark_index_clustered: a transactional update of the pg_index rows that change."""
    oids = {info.relation.oid for info in relation.indexes}

    def differs(values: tuple[object, ...]) -> bool:
        return values[0] in oids and bool(values[_INDISCLUSTERED]) != (values[0] == index_oid)
    txn._update_catalog_rows(boot.PG_INDEX, differs, lambda v: (
        *v[:_INDISCLUSTERED], v[0] == index_oid, *v[_INDISCLUSTERED + 1:]))
    txn.transaction.command_counter_increment()


def alter_cluster_on(session: Any, txn: Any, relation: Relation, command: Node) -> list[Any]:
    """ALTER TABLE ... CLUSTER ON index."""
    mark_clustered(txn, relation, _named_index(relation, command["name"]).relation.oid)
    return []


def alter_without_cluster(session: Any, txn: Any, relation: Relation, command: Node
                          ) -> list[Any]:
    """ALTER TABLE ... SET WITHOUT CLUSTER."""
    mark_clustered(txn, relation, None)
    return []


ALTER_HANDLERS = {"AT_ClusterOn": alter_cluster_on, "AT_DropCluster": alter_without_cluster}

__all__ = ["ALTER_HANDLERS", "cluster", "mark_clustered", "rewrite", "vacuum_full"]
