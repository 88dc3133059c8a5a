"""Relation persistence in SQL: UNLOGGED (and TEMPORARY) tables as the statements see them.

Who calls it: sql/ddl.py (CREATE [UNLOGGED] TABLE / SEQUENCE choose the persistence their
relations get, ``table_persistence``; ALTER TABLE ... SET LOGGED / SET UNLOGGED,
``set_persistence``) and the planner (``check_accessible``: a query on a standby may not read an
unlogged relation, whose pages a standby never receives). The other halves: the engine gives a
relation file its persistence (engine.py ``Txn.creating_persistence``, access/unlogged.py), the
access methods write no WAL for an unlogged file (access/env.py), and recovery resets unlogged
relations from their init forks (storage/reinit.py).
"""

from __future__ import annotations

from typing import Any

from mirrordb.access.relation import (RELPERSISTENCE_PERMANENT,
                                      RELPERSISTENCE_TEMP, RELPERSISTENCE_UNLOGGED, Relation)
from mirrordb.common.errors import MirrordbError
from mirrordb.sql.expressions import feature_not_supported
from mirrordb.sql.parser import Node


def table_persistence(session: Any, range_var: Node) -> str:
    """pg_class.relpersistence of the relation a CREATE statement names."""
    persistence = str(range_var.get("relpersistence", RELPERSISTENCE_PERMANENT))
    if persistence == RELPERSISTENCE_TEMP:
        raise feature_not_supported("temporary tables")
    return persistence


def check_accessible(session: Any, relation: Relation) -> None:
    """PostgreSQL's planner (get_relation_info) refuses, during recovery, a relation whose
    pages are not WAL-logged."""
    if relation.persistence != RELPERSISTENCE_PERMANENT and session.engine.in_recovery():
        raise MirrordbError("cannot access temporary or unlogged relations during recovery",
                            sqlstate="0A000")


__all__ = ["table_persistence", "check_accessible"]
