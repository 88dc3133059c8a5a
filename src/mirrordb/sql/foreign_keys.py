"""FOREIGN KEY constraints: defining them, and PostgreSQL's referential actions.

Who calls it: ddl.py (``REFERENCES`` on a column and ``FOREIGN KEY (...) REFERENCES`` in CREATE
TABLE and ALTER TABLE ADD [COLUMN | CONSTRAINT], NOT VALID and VALIDATE, DROP TABLE of a
referenced table), dml.py and the session's COPY FROM (``for_relation`` at planning, then
``row_inserted``/``row_updated``/``row_deleted`` per changed row and ``end_of_statement``),
constraints.py (DROP CONSTRAINT, pg_get_constraintdef). The constraint is a pg_constraint row
(contype 'f', constraints.StoredConstraint): conrelid the referencing table, confrelid the
referenced one, conkey/confkey their columns, conindid the referenced table's unique index,
confupdtype/confdeltype the actions ('a' NO ACTION, 'r' RESTRICT, 'c' CASCADE, 'n' SET NULL,
'd' SET DEFAULT), confmatchtype 's' SIMPLE or 'f' FULL. DEFERRABLE is refused (0A000).

When the checks run: as PostgreSQL's RI triggers, after the statement's rows are changed (its
AFTER ROW triggers fire at the end of the statement): the changed rows are queued, the command
counter advances so the statement's own rows are seen, and then, with a snapshot taken at that
moment (PostgreSQL's RI queries in READ COMMITTED use a fresh one; here REPEATABLE READ does
too, which is where we differ: PostgreSQL raises a serialization failure in some of those
cases), each queued row is checked. A referencing row needs its referenced row to exist; a
deleted or key-changing referenced row has its action applied. A cascaded change is itself a
statement with its own queue, fired when it ends (PostgreSQL's nested trigger level), so
cascades run depth first.

Concurrency: PostgreSQL locks the referenced row FOR KEY SHARE. mirrordb has shared and
exclusive row locks (access/heapam.py ``lock_tuple``) but no key-share mode, so the referenced
row is locked SHARE: a concurrent DELETE of it (or UPDATE, which takes the row exclusively)
waits until the referencing transaction ends, and then its own check, with a fresh snapshot,
sees the new referencing row. The cost: an UPDATE of a referenced row's non-key columns also
waits for transactions that inserted rows referencing it, which FOR KEY SHARE would not make
wait. The other way round, a referencing insert that meets a referenced row being deleted
waits for the deleter and then finds the row gone (23503).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mirrordb.access.heapam import TmResult
from mirrordb.access.lmgr import NO_LOCK, LockMode
from mirrordb.access.relation import RELKIND_TABLE, IndexInfo, Relation
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.engine import Txn
from mirrordb.sql import constraints, persistence, schemas
from mirrordb.sql import functions as funcs
from mirrordb.sql import types as T
from mirrordb.sql.expressions import ExecContext, feature_not_supported
from mirrordb.sql.parser import Node, strings

ACTION_WORDS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL",
                "d": "SET DEFAULT"}
NO_ACTION, RESTRICT, CASCADE, SET_NULL, SET_DEFAULT = "a", "r", "c", "n", "d"
MATCH_SIMPLE, MATCH_FULL, MATCH_PARTIAL = "s", "f", "p"
MAX_CASCADE_DEPTH = 100             # nested cascades before we call it a cycle
MAX_ROW_RETRIES = 1000              # concurrent updates followed for one row
_PENDING_KEY = "mirrordb.foreign_keys.pending"


# -- defining ------------------------------------------------------------------------------------


def pending_of(constraint: Node, column: str | None = None) -> Node:
    """A FOREIGN KEY constraint node; a column's ``REFERENCES`` names that column."""
    if column is not None:
        return {**constraint, "fk_attrs": [{"String": {"sval": column}}]}
    return constraint


def add_foreign_keys(session: Any, txn: Txn, relation: Relation, pending: Sequence[Node],
                     creating: bool) -> None:
    """Store the foreign keys of ``relation`` (the referencing table); existing rows are
    checked unless the table is new or the constraint NOT VALID."""
    existing = {c.name for c in constraints.of_relation(txn, relation.oid)}
    taken = constraints.names_in_use(txn)
    for node in pending:
        stored = _define(session, txn, relation, node, existing, taken)
        existing.add(stored.name)
        taken.add(stored.name)
        if not stored.validated or creating:
            constraints.create(txn, stored)
            continue
        validate_existing_rows(session, txn, relation, stored)
        constraints.create(txn, stored)


def _define(session: Any, txn: Txn, relation: Relation, node: Node, existing: set[str],
            taken: set[str]) -> constraints.StoredConstraint:
    if node.get("deferrable") or node.get("initdeferred"):
        raise feature_not_supported("DEFERRABLE foreign key constraints")
    if node.get("fk_matchtype", MATCH_SIMPLE) == MATCH_PARTIAL:
        raise MirrordbError("MATCH PARTIAL not yet implemented", sqlstate="0A000")
    if node.get("fk_del_set_cols"):
        raise feature_not_supported("column lists in ON DELETE SET NULL/SET DEFAULT")
    child_names = strings(node.get("fk_attrs"))
    name = node.get("conname")
    if name is not None and name in existing:
        raise MirrordbError(f'constraint "{name}" for relation "{relation.name}" already exists',
                            sqlstate="42710")
    if name is None:
        name = constraints.choose_constraint_name(relation.name, _name_addition(child_names),
                                                  "fkey", taken)
    child_keys = [_referenced_column(relation, column) for column in child_names]
    parent = _referenced_table(session, relation, node["pktable"])
    if "p" in (relation.kind, parent.kind):    # a partitioned table (sql/partitioning.py)
        raise feature_not_supported("foreign keys from or to partitioned tables")
    persistence.check_reference(relation, parent)
    parent_names = strings(node.get("pk_attrs"))
    if parent_names:
        parent_keys = [_referenced_column(parent, column) for column in parent_names]
        index = _unique_index_for(parent, parent_keys)
    else:
        index = next((info for info in parent.indexes if info.primary), None)
        if index is None:
            raise MirrordbError(f'there is no primary key for referenced table "{parent.name}"',
                                sqlstate="42704")
        parent_keys = [number + 1 for number in index.key_columns]
    if len(child_keys) != len(parent_keys):
        raise MirrordbError("number of referencing and referenced columns for foreign key "
                            "disagree", sqlstate="42830")
    for child_number, parent_number in zip(child_keys, parent_keys):
        _check_types(name, relation.columns[child_number - 1], parent.columns[parent_number - 1])
    return constraints.StoredConstraint(
        0, name, relation.namespace_oid, constraints.CONTYPE_FOREIGN, False, False,
        not node.get("skip_validation"), relation.oid, index.relation.oid, parent.oid,
        node.get("fk_upd_action", NO_ACTION), node.get("fk_del_action", NO_ACTION),
        node.get("fk_matchtype", MATCH_SIMPLE), False, tuple(child_keys), tuple(parent_keys),
        None)


def _name_addition(columns: list[str]) -> str:
    """ChooseForeignKeyConstraintNameAddition: the column names joined by "_", cut short."""
    joined = ""
    for column in columns:
        joined = column if not joined else f"{joined}_{column}"
        if len(joined.encode()) >= constraints.NAMEDATALEN:
            break
    return joined


def _referenced_column(relation: Relation, column: str) -> int:
    try:
        return relation.column_index(column) + 1
    except KeyError:
        raise MirrordbError(f'column "{column}" referenced in foreign key constraint does not '
                            "exist", sqlstate="42703") from None


def _referenced_table(session: Any, relation: Relation, range_var: Node) -> Relation:
    name, schema = range_var["relname"], range_var.get("schemaname")
    if name == relation.name and schema in (None, "public"):
        found = session.lookup_relation(name, schema, NO_LOCK)
    else:
        found = session.lookup_relation(name, schema, LockMode.SHARE_ROW_EXCLUSIVE)
    if found is None:
        raise MirrordbError(f'relation "{name}" does not exist', sqlstate="42P01")
    if found.kind != RELKIND_TABLE:
        raise MirrordbError(f'referenced relation "{name}" is not a table', sqlstate="42809")
    return found  # type: ignore[no-any-return]


def _unique_index_for(parent: Relation, numbers: list[int]) -> IndexInfo:
    wanted = sorted(number - 1 for number in numbers)
    for info in parent.indexes:
        if info.unique and info.plain and sorted(info.key_columns) == wanted and \
                len(set(wanted)) == len(wanted):
            return info
    raise MirrordbError("there is no unique constraint matching given keys for referenced "
                        f'table "{parent.name}"', sqlstate="42830")


def _check_types(name: str, child: Any, parent: Any) -> None:
    if T.can_coerce(child.type_oid, parent.type_oid) or \
            T.can_coerce(parent.type_oid, child.type_oid):
        return
    raise MirrordbError(
        f'foreign key constraint "{name}" cannot be implemented', sqlstate="42804",
        detail=f'Key columns "{child.name}" and "{parent.name}" are of incompatible types: '
               f"{T.format_type(child.type_oid, -1)} and {T.format_type(parent.type_oid, -1)}.")


def validate_existing_rows(session: Any, txn: Txn, relation: Relation,
                           stored: constraints.StoredConstraint) -> None:
    """ALTER TABLE ADD (without NOT VALID) and VALIDATE CONSTRAINT: every existing row must
    reference an existing row (PostgreSQL's RI_Initial_Check, with its message)."""
    fk = _resolve(txn, stored)
    if fk is None:
        return
    for _, values in list(txn.scan(relation)):
        _check_reference(txn, fk, tuple(values), lock=False)


# -- DROP TABLE, DROP CONSTRAINT ---------------------------------------------------------------


def _referencing(txn: Txn, parent_oid: int, ignore: set[int]) -> list[constraints.StoredConstraint]:
    return [c for c in constraints.stored_constraints(txn)
            if c.contype == constraints.CONTYPE_FOREIGN and c.referenced_oid == parent_oid
            and c.relation_oid not in ignore]


def check_drop(session: Any, txn: Txn, relation: Relation, cascade: bool,
               dropping: set[int]) -> list[Any]:
    """DROP TABLE of a referenced table: 2BP01 naming the foreign keys of other tables, or
    with CASCADE those constraints go (the notices PostgreSQL gives)."""
    dependents = _referencing(txn, relation.oid, dropping | {relation.oid})
    if not dependents:
        return []
    names = {oid: schemas.shown_name(session, txn, oid)
             for oid in {relation.oid, *(c.relation_oid for c in dependents)}}
    lines = [f"constraint {c.name} on table {names[c.relation_oid]} depends on "
             f"table {names[relation.oid]}" for c in dependents]
    if not cascade:
        raise MirrordbError(f"cannot drop table {names[relation.oid]} because other objects "
                            "depend on it", sqlstate="2BP01", detail="\n".join(lines),
                            hint="Use DROP ... CASCADE to drop the dependent objects too.")
    for stored in dependents:
        txn.drop_constraint(stored.oid)
    return _cascade_notices([f"constraint {c.name} on table {names[c.relation_oid]}"
                             for c in dependents])


def check_index_unreferenced(session: Any, txn: Txn, relation: Relation, info: IndexInfo,
                             cascade: bool) -> list[Any]:
    """DROP CONSTRAINT of a PRIMARY KEY/UNIQUE constraint a foreign key relies on."""
    dependents = [c for c in _referencing(txn, relation.oid, set())
                  if c.index_oid == info.relation.oid]
    if not dependents:
        return []
    names = _class_names(txn)
    index = info.relation.name
    if not cascade:
        raise MirrordbError(
            f"cannot drop constraint {index} on table {relation.name} because other objects "
            "depend on it", sqlstate="2BP01",
            detail="\n".join(f"constraint {c.name} on table {names.get(c.relation_oid, '?')} "
                             f"depends on index {index}" for c in dependents),
            hint="Use DROP ... CASCADE to drop the dependent objects too.")
    for stored in dependents:
        txn.drop_constraint(stored.oid)
    return _cascade_notices([f"constraint {c.name} on table {names.get(c.relation_oid, '?')}"
                             for c in dependents])


def _cascade_notices(objects: list[str]) -> list[Any]:
    """The NOTICE of a DROP ... CASCADE, as views.check_drop words its own."""
    if len(objects) == 1:
        return [("NOTICE", f"drop cascades to {objects[0]}")]
    return [("NOTICE", f"drop cascades to {len(objects)} other objects",
             "\n".join(f"drop cascades to {o}" for o in objects))]


def _class_names(txn: Txn) -> dict[int, str]:
    return {int(values[0]): str(values[1])  # type: ignore[call-overload]
            for _, values in txn.engine.relcache.rows(boot.PG_CLASS, txn.transaction)}


def column_dropped(txn: Txn, relation: Relation, number: int) -> None:
    """ALTER TABLE DROP COLUMN: a foreign key on the column (either end) goes; the others'
    column numbers close the gap."""
    for stored in constraints.stored_constraints(txn):
        if stored.contype != constraints.CONTYPE_FOREIGN:
            continue
        own, referenced = stored.relation_oid == relation.oid, \
            stored.referenced_oid == relation.oid
        if (own and number in stored.keys) or (referenced and number in stored.referenced_keys):
            txn.drop_constraint(stored.oid)
            continue
        keys = tuple(k - 1 if own and k > number else k for k in stored.keys)
        referenced_keys = tuple(k - 1 if referenced and k > number else k
                                for k in stored.referenced_keys)
        if (keys, referenced_keys) != (stored.keys, stored.referenced_keys):
            txn.update_constraint(stored.oid, replace(stored, keys=keys,
                                                      referenced_keys=referenced_keys).row())


def truncate_cascade(txn: Txn, relations: Sequence[Relation]) -> tuple[list[int], list[str]]:
    """TRUNCATE ... CASCADE: the tables (OIDs) referencing the truncated ones, found a round
    at a time (each round in OID order, as PostgreSQL's heap_truncate_find_FKs), and the
    notices naming them."""
    truncated = {r.oid for r in relations}
    names = _class_names(txn)
    added: list[int] = []
    while True:
        found = sorted({c.relation_oid for c in constraints.stored_constraints(txn)
                        if c.contype == constraints.CONTYPE_FOREIGN
                        and c.referenced_oid in truncated and c.relation_oid not in truncated})
        if not found:
            return added, [f'truncate cascades to table "{names[oid]}"' for oid in added]
        truncated.update(found)
        added += found


def refuse_truncate(txn: Txn, relations: Sequence[Relation]) -> None:
    """TRUNCATE of a table another table (not truncated with it) references: 0A000."""
    truncated = {r.oid for r in relations}
    names = _class_names(txn)
    for relation in relations:
        for stored in sorted(_referencing(txn, relation.oid, truncated),
                             key=lambda c: c.relation_oid):
            child = names.get(stored.relation_oid, "?")
            raise MirrordbError("cannot truncate a table referenced in a foreign key constraint",
                                sqlstate="0A000",
                                detail=f'Table "{child}" references "{relation.name}".',
                                hint=f'Truncate table "{child}" at the same time, or use '
                                     "TRUNCATE ... CASCADE.")


# -- pg_get_constraintdef -----------------------------------------------------------------------


def definition(snapshot: Any, stored: constraints.StoredConstraint) -> str:
    """``FOREIGN KEY (cols) REFERENCES table(cols) [MATCH FULL] [ON UPDATE ..] [ON DELETE ..]``
    as ruleutils prints it (the table schema-qualified only when not visible)."""
    child = ", ".join(funcs.quote_ident(snapshot._column_name(stored.relation_oid, number))
                      for number in stored.keys)
    parent_columns = ", ".join(funcs.quote_ident(snapshot._column_name(stored.referenced_oid,
                                                                       number))
                               for number in stored.referenced_keys)
    entry = snapshot.classes.get(stored.referenced_oid)
    parent = funcs.quote_ident(entry.name) if entry is not None and \
        snapshot.relation_is_visible(entry) else snapshot.qualified_name(stored.referenced_oid)
    text = f"FOREIGN KEY ({child}) REFERENCES {parent}({parent_columns})"
    if stored.match_type == MATCH_FULL:
        text += " MATCH FULL"
    if stored.update_action != NO_ACTION:
        text += f" ON UPDATE {ACTION_WORDS[stored.update_action]}"
    if stored.delete_action != NO_ACTION:
        text += f" ON DELETE {ACTION_WORDS[stored.delete_action]}"
    return text


# -- the runtime ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key resolved for checking: both tables' descriptors, 0-based columns."""

    stored: constraints.StoredConstraint
    child: Relation
    parent: Relation
    child_columns: tuple[int, ...]
    parent_columns: tuple[int, ...]
    index: IndexInfo

    @property
    def name(self) -> str:
        return self.stored.name

    def index_key(self, parent_key: tuple[object, ...]) -> tuple[object, ...]:
        """A key in the referenced columns' order put in the unique index's column order."""
        by_column = dict(zip(self.parent_columns, parent_key))
        return tuple(by_column[column] for column in self.index.key_columns)


@dataclass(frozen=True)
class RelationRi:
    """A table's foreign keys: those it holds (outgoing) and those referencing it (incoming),
    each in creation (OID) order, the order PostgreSQL's RI triggers fire in."""

    relation: Relation
    outgoing: tuple[ForeignKey, ...]
    incoming: tuple[ForeignKey, ...]


_RI: constraints.SessionCache[RelationRi | None] = constraints.SessionCache()


def for_relation(session: Any, relation: Relation) -> RelationRi | None:
    """``relation``'s foreign keys (None: no foreign key involves it), cached per session."""
    return _RI.get(session, relation, lambda: _load(session.txn, relation))


def _load(txn: Txn, relation: Relation) -> RelationRi | None:
    stored = [c for c in constraints.stored_constraints(txn)
              if c.contype == constraints.CONTYPE_FOREIGN
              and relation.oid in (c.relation_oid, c.referenced_oid)]
    if not stored:
        return None
    resolved = [fk for fk in (_resolve(txn, c) for c in stored) if fk is not None]
    return RelationRi(relation, tuple(fk for fk in resolved if fk.child.oid == relation.oid),
                      tuple(fk for fk in resolved if fk.parent.oid == relation.oid))


def _resolve(txn: Txn, stored: constraints.StoredConstraint) -> ForeignKey | None:
    child = txn.engine.relcache.lookup_oid(stored.relation_oid, txn.transaction)
    parent = txn.engine.relcache.lookup_oid(stored.referenced_oid, txn.transaction)
    if child is None or parent is None:
        return None
    index = next((info for info in parent.indexes if info.relation.oid == stored.index_oid),
                 None)
    if index is None:
        return None
    return ForeignKey(stored, child, parent, tuple(k - 1 for k in stored.keys),
                      tuple(k - 1 for k in stored.referenced_keys), index)


@dataclass
class _Event:
    ri: RelationRi
    old: tuple[object, ...] | None
    new: tuple[object, ...] | None


@dataclass
class _Pending:
    events: list[_Event] = field(default_factory=list)
    depth: int = 0


def _pending(ctx: ExecContext) -> _Pending:
    pending = ctx.cache.get(_PENDING_KEY)
    if pending is None:
        pending = ctx.cache[_PENDING_KEY] = _Pending()
    return pending  # type: ignore[no-any-return]


def row_inserted(ctx: ExecContext, ri: RelationRi, new: Sequence[object]) -> None:
    if ri.outgoing:
        _pending(ctx).events.append(_Event(ri, None, tuple(new)))


def row_updated(ctx: ExecContext, ri: RelationRi, old: Sequence[object],
                new: Sequence[object]) -> None:
    _pending(ctx).events.append(_Event(ri, tuple(old), tuple(new)))


def row_deleted(ctx: ExecContext, ri: RelationRi, old: Sequence[object]) -> None:
    if ri.incoming:
        _pending(ctx).events.append(_Event(ri, tuple(old), None))


def end_of_statement(ctx: ExecContext) -> None:
    """Fire the statement's queued checks and actions (PostgreSQL's AfterTriggerEndQuery)."""
    pending = ctx.cache.pop(_PENDING_KEY, None)
    if pending is None or not pending.events:
        return
    _fire(ctx, pending.events, 0)


def _fire(ctx: ExecContext, events: list[_Event], depth: int) -> None:
    if depth > MAX_CASCADE_DEPTH:
        raise MirrordbError("foreign key cascades nest too deeply", sqlstate="54001")
    txn = ctx.txn
    transaction = txn.transaction
    transaction.command_counter_increment()
    saved = transaction.snapshot
    transaction.snapshot = transaction.manager.take_snapshot(transaction.proc)
    try:
        for event in events:
            _fire_one(ctx, event, depth)
    finally:
        transaction.snapshot = saved


def _fire_one(ctx: ExecContext, event: _Event, depth: int) -> None:
    """One changed row: the actions of the keys referencing its table, then the checks of
    its own keys (PostgreSQL's trigger names, RI_ConstraintTrigger_a_ before _c_, order
    them so)."""
    txn = ctx.txn
    for fk in event.ri.incoming if event.old is not None else ():
        old_key = _key(event.old, fk.parent_columns)
        if event.new is not None and old_key == _key(event.new, fk.parent_columns):
            continue
        if None in old_key:
            continue
        new_key = None if event.new is None else _key(event.new, fk.parent_columns)
        _referenced_row_gone(ctx, fk, old_key, new_key, depth)
    for fk in event.ri.outgoing if event.new is not None else ():
        if event.old is not None and _key(event.old, fk.child_columns) == \
                _key(event.new, fk.child_columns):
            continue
        txn.lock_relation(fk.parent.oid, LockMode.ROW_SHARE)
        _check_reference(txn, fk, event.new, lock=True)


def _key(values: Sequence[object], columns: tuple[int, ...]) -> tuple[object, ...]:
    return tuple(values[i] for i in columns)


def _check_reference(txn: Txn, fk: ForeignKey, values: tuple[object, ...], lock: bool) -> None:
    """23503 unless the referencing row ``values`` references an existing row (or, by its
    match type, references nothing)."""
    key = _key(values, fk.child_columns)
    if None in key:
        if fk.stored.match_type == MATCH_FULL and any(v is not None for v in key):
            raise _insert_violation(fk, detail="MATCH FULL does not allow mixing of null and "
                                               "nonnull key values.")
        return
    if not _referenced_row_exists(txn, fk, key, lock):
        columns = ", ".join(fk.child.columns[i].name for i in fk.child_columns)
        shown = _show(fk.child, fk.child_columns, key)
        raise _insert_violation(fk, detail=f"Key ({columns})=({shown}) is not present in "
                                           f'table "{fk.parent.name}".')


def _insert_violation(fk: ForeignKey, detail: str) -> MirrordbError:
    return MirrordbError(f'insert or update on table "{fk.child.name}" violates foreign key '
                         f'constraint "{fk.name}"', sqlstate="23503", detail=detail)


def _show(relation: Relation, columns: tuple[int, ...], key: tuple[object, ...]) -> str:
    return ", ".join("null" if value is None else
                     T.format_text(relation.columns[column].type_oid, value)
                     for column, value in zip(columns, key))


def _referenced_row_exists(txn: Txn, fk: ForeignKey, key: tuple[object, ...],
                           lock: bool) -> bool:
    """Whether the referenced table has a row with ``key``, locked SHARE when ``lock`` (the
    stand-in for FOR KEY SHARE): a row deleted by a transaction we waited for is gone; one
    updated is followed to its newest version."""
    index_key = fk.index_key(key)
    for tid, _ in list(txn.index_scan_relation(fk.index.relation, fk.parent, index_key,
                                               index_key)):
        if not lock:
            return True
        for _ in range(MAX_ROW_RETRIES):
            if txn.lock_row(fk.parent, tid, exclusive=False) == TmResult.OK:
                return True
            latest = txn.fetch_latest(fk.parent, tid)
            if latest is None or _key(latest[1], fk.parent_columns) != key:
                break
            tid = latest[0]
    return False


def _referencing_rows(txn: Txn, fk: ForeignKey, key: tuple[object, ...]
                      ) -> list[tuple[tuple[int, int], tuple[object, ...]]]:
    """The referencing table's rows whose key is ``key`` (through an index on exactly the
    key's columns when there is one)."""
    for info in fk.child.indexes:
        if info.plain and info.key_columns == fk.child_columns:
            return list(txn.index_scan_relation(info.relation, fk.child, key, key))
    return [(tid, values) for tid, values in txn.scan(fk.child)
            if _key(values, fk.child_columns) == key]


def _referenced_row_gone(ctx: ExecContext, fk: ForeignKey, old_key: tuple[object, ...],
                         new_key: tuple[object, ...] | None, depth: int) -> None:
    """The referenced key ``old_key`` was deleted or changed: the constraint's action."""
    txn = ctx.txn
    action = fk.stored.delete_action if new_key is None else fk.stored.update_action
    if action in (NO_ACTION, RESTRICT):
        _restrict(txn, fk, old_key, no_action=action == NO_ACTION)
        return
    txn.lock_relation(fk.child.oid, LockMode.ROW_EXCLUSIVE)
    rows = _referencing_rows(txn, fk, old_key)
    if rows:
        _apply_action(ctx, fk, action, rows, new_key, depth)
    if action == SET_DEFAULT:    # the default may be the very key that went (ri_restrict)
        _restrict(txn, fk, old_key, no_action=True)


def _restrict(txn: Txn, fk: ForeignKey, old_key: tuple[object, ...], no_action: bool) -> None:
    """23503 while a row still references ``old_key``; NO ACTION is content when another
    referenced row has that key now (ri_Check_Pk_Match)."""
    if no_action and _referenced_row_exists(txn, fk, old_key, lock=True):
        return
    txn.lock_relation(fk.child.oid, LockMode.ROW_SHARE)
    if not _referencing_rows(txn, fk, old_key):
        return
    columns = ", ".join(fk.parent.columns[i].name for i in fk.parent_columns)
    raise MirrordbError(
        f'update or delete on table "{fk.parent.name}" violates foreign key constraint '
        f'"{fk.name}" on table "{fk.child.name}"', sqlstate="23503",
        detail=f"Key ({columns})=({_show(fk.parent, fk.parent_columns, old_key)}) is still "
               f'referenced from table "{fk.child.name}".')


def _apply_action(ctx: ExecContext, fk: ForeignKey, action: str,
                  rows: list[tuple[tuple[int, int], tuple[object, ...]]],
                  new_key: tuple[object, ...] | None, depth: int) -> None:
    """CASCADE, SET NULL or SET DEFAULT on the referencing rows: a nested statement whose own
    checks and actions fire when it ends."""
    from mirrordb.sql.planner import PlanBuilder   # the planner imports the session layer
    session, txn = ctx.session, ctx.txn
    builder = PlanBuilder(session, [])
    child_ri = for_relation(session, fk.child)
    checks = constraints.checks_for(builder, fk.child)
    replacement: dict[int, object] = {}
    if action == SET_DEFAULT:
        defaults = session.column_defaults(fk.child, builder)
        replacement = {i: defaults[i].fn((), ctx) if i in defaults else None
                       for i in fk.child_columns}
    elif action == SET_NULL:
        replacement = {i: None for i in fk.child_columns}
    elif new_key is not None:
        replacement = dict(zip(fk.child_columns, new_key))
    events: list[_Event] = []
    # the action is a statement of its own: the child table's triggers fire for it
    from mirrordb.sql import triggers
    fired = triggers.for_relation(session, fk.child)
    ctx = ExecContext(txn, ctx.params, session, ctx.function_context, ctx.check_interrupts)
    verb = "DELETE" if new_key is None and action == CASCADE else "UPDATE"
    updated = frozenset(i + 1 for i in fk.child_columns)
    triggers.statement_start(ctx, fired, (verb,), updated)
    for tid, values in rows:
        if verb == "DELETE":
            if not triggers.before_row(ctx, fired, verb, values, None)[0]:
                continue
            if txn.delete(fk.child, tid) == TmResult.OK:
                triggers.after_row(ctx, fired, verb, values, None)
                if child_ri is not None:
                    events.append(_Event(child_ri, tuple(values), None))
            continue
        new_values = [replacement.get(i, value) for i, value in enumerate(values)]
        go, changed = triggers.before_row(ctx, fired, verb, values, new_values, updated)
        if not go or changed is None:
            continue
        new_values = changed
        if checks is not None:
            checks.verify(new_values, ctx)
        result, _ = txn.update(fk.child, tid, new_values, values)
        if result == TmResult.OK:
            triggers.after_row(ctx, fired, verb, values, new_values, updated)
            if child_ri is not None:
                events.append(_Event(child_ri, tuple(values), tuple(new_values)))
    if events:
        _fire(ctx, events, depth + 1)
    if fired is not None:
        triggers.statement_end(ctx, fired, (verb,), updated)


__all__ = ["ForeignKey", "RelationRi", "add_foreign_keys", "check_drop", "definition",
           "end_of_statement", "for_relation", "pending_of", "row_deleted", "row_inserted",
           "row_updated", "validate_existing_rows"]
