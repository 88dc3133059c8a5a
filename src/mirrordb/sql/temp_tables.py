"""Temporary tables: each session's own schema pg_temp_N, its ON COMMIT actions, and its end.

Who calls it: the session (sql/session.py: ``attach`` when it starts, ``pre_commit`` before
each commit, ``at_abort``, ``detach`` when the connection ends), sql/persistence.py (CREATE
TEMP TABLE / SEQUENCE: ``ensure_namespace``, ``register_on_commit``), sql/schemas.py (the
search path: ``namespace_oid``, "pg_temp") and the functions pg_my_temp_schema() and
pg_is_other_temp_schema(). The other halves: the engine creates a temporary relation's file as
``base/<db>/t<N>_<relfilenode>`` (storage/relfilenode.py ``TempRelFileNode``) and writes no
WAL for its pages (access/env.py); start-up removes the files a crash left
(storage/reinit.py).

As PostgreSQL does:

* N is the session's backend ID, the smallest free one: a PostgreSQL 15 server's autovacuum
  launcher and logical replication launcher hold 1 and 2, so the first session gets 3
  (``FIRST_SESSION_BACKEND_ID``). IDs are per server; the schemas are per database.
* The schemas pg_temp_N and pg_toast_temp_N (owned by the bootstrap superuser) are ordinary
  WAL-logged pg_namespace rows, made by the first temporary relation a session creates and
  kept afterwards for the next session with that ID. That session's first use drops whatever
  a session that crashed (or a server that crashed) left in them (RemoveTempRelations).
* pg_temp_N comes first in the search path unless search_path names "pg_temp" elsewhere; other
  sessions' temporary schemas are in nobody else's path.
* ON COMMIT DROP drops the table when its transaction commits; ON COMMIT DELETE ROWS empties it
  at every commit, in place (heap_truncate: no new file, nothing logged).
* When the session ends, its temporary relations are dropped (catalog rows WAL-logged, so a
  standby sees them go); DISCARD TEMP and DISCARD ALL drop them at once.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from mirrordb.access.relation import (RELKIND_TABLE, TEMP_NAMESPACE_PREFIX,
                                      TEMP_TOAST_NAMESPACE_PREFIX)
from mirrordb.catalog import bootstrap as boot
from mirrordb.storage.relfilenode import MAIN_FORKNUM

log = logging.getLogger(__name__)

FIRST_SESSION_BACKEND_ID = 3
ON_COMMIT_DELETE_ROWS = "ONCOMMIT_DELETE_ROWS"
ON_COMMIT_DROP = "ONCOMMIT_DROP"


class _BackendIds:
    """The backend IDs in use on one server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: set[int] = set()

    def allocate(self) -> int:
        with self._lock:
            backend_id = FIRST_SESSION_BACKEND_ID
            while backend_id in self._used:
                backend_id += 1
            self._used.add(backend_id)
            return backend_id

    def release(self, backend_id: int) -> None:
        with self._lock:
            self._used.discard(backend_id)


_servers: weakref.WeakKeyDictionary[Any, _BackendIds] = weakref.WeakKeyDictionary()
_unreferenced: dict[int, _BackendIds] = {}
_servers_lock = threading.Lock()


@dataclass(eq=False)
class TempState:
    """One session's temporary-table state. ``ready``: its pg_temp_N has been made or cleaned
    by this session (in a transaction that did not abort)."""

    backend_id: int
    ready: bool = False
    ready_in: Any = None           # the transaction that made it ready, until it commits
    on_commit: dict[int, str] = field(default_factory=dict)   # relation OID -> action


def _cluster(session: Any) -> Any:
    return getattr(session.engine, "cluster", session.engine)


def _backend_ids(session: Any) -> _BackendIds:
    cluster = _cluster(session)
    with _servers_lock:
        try:
            ids = _servers.get(cluster)
            if ids is None:
                ids = _servers[cluster] = _BackendIds()
        except TypeError:       # a stand-in engine that takes no weak reference
            ids = _unreferenced.setdefault(id(cluster), _BackendIds())
    return ids


def attach(session: Any) -> TempState:
    """A new session's backend ID."""
    return TempState(_backend_ids(session).allocate())


def state(session: Any) -> TempState | None:
    return getattr(session, "temp", None)


def namespace_name(backend_id: int) -> str:
    return f"{TEMP_NAMESPACE_PREFIX}{backend_id}"


def _find_namespace(session: Any, name: str) -> int | None:
    from mirrordb.sql import schemas
    entry = schemas.namespaces(session).get(name)
    return None if entry is None else entry.oid


def namespace_oid(session: Any) -> int | None:
    """The session's pg_temp_N, once this session has made it ready (else None)."""
    temp = state(session)
    if temp is None or not temp.ready:
        return None
    return _find_namespace(session, namespace_name(temp.backend_id))


def is_other_temp_namespace(session: Any, name: str) -> bool:
    """Whether ``name`` is a temporary schema of another session (pg_is_other_temp_schema)."""
    for prefix in (TEMP_NAMESPACE_PREFIX, TEMP_TOAST_NAMESPACE_PREFIX):
        suffix = name.removeprefix(prefix)
        if suffix != name and suffix.isdigit():
            temp = state(session)
            return temp is None or int(suffix) != temp.backend_id or not temp.ready
    return False


def ensure_namespace(session: Any, txn: Any) -> int:
    """The session's pg_temp_N, made (with pg_toast_temp_N) or cleaned of what an earlier
    session left if this session has not used it yet (PostgreSQL's InitTempTableNamespace);
    the transaction creates its relations' files with the session's backend ID."""
    temp = state(session)
    assert temp is not None, "a session without a backend ID"
    txn.temp_backend_id = temp.backend_id
    name = namespace_name(temp.backend_id)
    oid = _find_namespace(session, name)
    if oid is not None and temp.ready:
        return oid
    if oid is None:
        oid = _insert_namespace(txn, name)
        if _find_namespace(session, f"{TEMP_TOAST_NAMESPACE_PREFIX}{temp.backend_id}") is None:
            _insert_namespace(txn, f"{TEMP_TOAST_NAMESPACE_PREFIX}{temp.backend_id}")
    else:
        _drop_members(session, txn, oid, name)
    temp.ready, temp.ready_in = True, txn
    return oid


def _insert_namespace(txn: Any, name: str) -> int:
    oid = txn.engine.allocate_oid()
    txn._insert_catalog(boot.PG_NAMESPACE, [oid, name, boot.BOOTSTRAP_SUPERUSER_OID])
    txn.transaction.command_counter_increment()
    return oid


def _drop_members(session: Any, txn: Any, oid: int, name: str) -> None:
    from mirrordb.sql import ddl, schemas
    for word, relation in schemas._members(txn, oid):
        if txn.find((oid, relation)) is not None:
            ddl.drop(session, txn, schemas._drop_node(word, name, relation))


def register_on_commit(session: Any, relation_oid: int, action: str) -> None:
    temp = state(session)
    assert temp is not None, "a session without a backend ID"
    temp.on_commit[relation_oid] = action


def pre_commit(session: Any, txn: Any) -> None:
    """The ON COMMIT actions, before the commit (PostgreSQL's PreCommit_on_commit_actions)."""
    temp = state(session)
    if temp is None:
        return
    if temp.ready_in is txn:
        temp.ready_in = None
    for relation_oid, action in list(temp.on_commit.items()):
        relation = txn.find(relation_oid)
        if relation is None:
            del temp.on_commit[relation_oid]
        elif action == ON_COMMIT_DROP:
            from mirrordb.sql import ddl, schemas
            ddl.drop(session, txn, schemas._drop_node(
                "table", schemas.namespace_name(session, relation.namespace_oid),
                relation.name))
            del temp.on_commit[relation_oid]
        elif action == ON_COMMIT_DELETE_ROWS and relation.kind == RELKIND_TABLE:
            _truncate_in_place(txn, relation)


def _truncate_in_place(txn: Any, relation: Any) -> None:
    """Empty a temporary table and its indexes without new files (PostgreSQL's
    heap_truncate): only this session sees them, and nothing of them is logged."""
    engine = txn.engine
    if engine.pool.nblocks(relation.rnode, MAIN_FORKNUM) == 0:
        return
    for rel in [relation] + [info.relation for info in relation.indexes]:
        engine.pool.truncate_relation(rel.rnode, MAIN_FORKNUM, 0)
        engine.env.fsm.forget(rel.rnode)
    for info in relation.indexes:
        engine.btree(info.relation).build_empty()


def at_abort(session: Any, txn: Any) -> None:
    """An aborted transaction took back the schema it made or cleaned."""
    temp = state(session)
    if temp is not None and temp.ready_in is not None and temp.ready_in is txn:
        temp.ready, temp.ready_in = False, None


def detach(session: Any) -> None:
    """The session ends: drop its temporary relations, free its backend ID."""
    temp = state(session)
    if temp is None:
        return
    try:
        if temp.ready and not session.engine.in_recovery():
            _drop_all(session, temp)
    except Exception:     # the connection is gone either way; the next user cleans up
        log.exception("could not drop the temporary relations of backend %d", temp.backend_id)
    finally:
        temp.ready = False
        _backend_ids(session).release(temp.backend_id)


def discard(session: Any) -> None:
    """DISCARD TEMP (and DISCARD ALL): drop the session's temporary relations now, in its
    transaction (PostgreSQL's ResetTempTableNamespace); the schema stays."""
    temp = state(session)
    oid = namespace_oid(session)
    if temp is None or oid is None:
        return
    _drop_members(session, session._ensure_transaction(), oid,
                  namespace_name(temp.backend_id))
    temp.on_commit.clear()


def _drop_all(session: Any, temp: TempState) -> None:
    name = namespace_name(temp.backend_id)
    txn = session._ensure_transaction()
    oid = _find_namespace(session, name)
    if oid is not None:
        _drop_members(session, txn, oid, name)
    temp.on_commit.clear()
    session._commit()


__all__ = ["attach", "detach", "discard", "ensure_namespace", "namespace_oid", "namespace_name",
           "is_other_temp_namespace", "register_on_commit", "pre_commit", "at_abort",
           "TempState", "ON_COMMIT_DROP", "ON_COMMIT_DELETE_ROWS", "FIRST_SESSION_BACKEND_ID"]
