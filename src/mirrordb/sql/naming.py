"""Names PostgreSQL makes up for objects a statement creates implicitly: a serial or identity
column's sequence (<table>_<column>_seq), a constraint's or an unnamed index's index
(<table>_pkey, <table>_<columns>_key, <table>_<columns>_idx). Like PostgreSQL's
makeObjectName and ChooseRelationName: the parts are shortened to fit NAMEDATALEN, and when the
name is taken in the schema a number follows the label (t_id_seq1, t_id_seq2, ...).

Who calls it: ddl.py (CREATE TABLE, CREATE INDEX, ALTER TABLE) and identity.py; the relations
are looked up through the session's transaction (ddl._exists).
"""

from __future__ import annotations

from typing import Any

NAMEDATALEN = 64


def _clip(text: str, size: int) -> str:
    """``text`` cut to at most ``size`` bytes, never inside a character."""
    return text.encode()[:size].decode(errors="ignore")


def make_object_name(name1: str, name2: str | None, label: str | None) -> str:
    """name1_name2_label, the first two shortened (the longer one first) to fit."""
    name1_size = len(name1.encode())
    name2_size = len(name2.encode()) if name2 is not None else 0
    overhead = (1 if name2 is not None else 0) + (len(label.encode()) + 1 if label else 0)
    available = NAMEDATALEN - 1 - overhead
    while name1_size + name2_size > available:
        if name1_size > name2_size:
            name1_size -= 1
        else:
            name2_size -= 1
    parts = [_clip(name1, name1_size)]
    if name2 is not None:
        parts.append(_clip(name2, name2_size))
    if label:
        parts.append(label)
    return "_".join(parts)


def index_name_addition(columns: list[str]) -> str:
    """The column part of an index's made-up name: the names joined by '_', stopping once it
    is as long as a name can be."""
    joined = ""
    for column in columns:
        if joined:
            joined += "_"
        joined += _clip(column, NAMEDATALEN - 1)
        if len(joined.encode()) >= NAMEDATALEN:
            break
    return joined


def choose_relation_name(session: Any, name1: str, name2: str | None, label: str,
                         namespace_oid: int, *, constraint: bool = False) -> str:
    """A name from ``make_object_name`` not used by a relation in the schema (nor, for the
    index of a PRIMARY KEY or UNIQUE constraint, by a constraint there): the label gets 1, 2,
    ... appended until it is free."""
    from mirrordb.sql.ddl import _exists
    taken = _constraint_names(session, namespace_oid) if constraint else set()
    attempt = 0
    while True:
        candidate = make_object_name(name1, name2, label if not attempt else f"{label}{attempt}")
        if candidate not in taken and not _exists(session, candidate, namespace_oid):
            return candidate
        attempt += 1


def _constraint_names(session: Any, namespace_oid: int) -> set[str]:
    """The names of the schema's stored constraints (CHECK, FOREIGN KEY: pg_constraint)."""
    txn = session._ensure_transaction()
    return {str(values[1]) for values in txn.constraint_rows() if values[2] == namespace_oid}
