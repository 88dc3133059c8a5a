"""Identity columns (GENERATED {ALWAYS | BY DEFAULT} AS IDENTITY), as PostgreSQL 15 has them.

Who calls it: ddl.py (CREATE TABLE's identity columns; ALTER TABLE ... ALTER COLUMN ... ADD
GENERATED, SET GENERATED / sequence options / RESTART, DROP IDENTITY), dml.py (INSERT's and
UPDATE's rules for identity columns) and the session (a column's value comes from its
sequence). The sequence itself and its pg_depend row live in sequences.py.

What is stored, as in PostgreSQL: pg_attribute.attidentity ('a' ALWAYS, 'd' BY DEFAULT, ''
none; catalog/bootstrap.py), the column's sequence owned through a pg_depend row with deptype
'i', and no pg_attrdef row. The value a column gets when none is given is nextval() of that
sequence, made here (``defaults``) instead of read from pg_attrdef.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from mirrordb.access.relation import Column, Relation
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import naming, owners, schemas
from mirrordb.sql import sequences as seqs
from mirrordb.sql.parser import Node, one

ALWAYS = "a"
BY_DEFAULT = "d"
OVERRIDING_SYSTEM_VALUE = "OVERRIDING_SYSTEM_VALUE"
OVERRIDING_USER_VALUE = "OVERRIDING_USER_VALUE"


# -- the sequence behind a column -----------------------------------------------------------------


def sequence_of(txn: Any, table_oid: int, attnum: int) -> int | None:
    """The OID of the sequence column ``attnum`` owns as an identity column (pg_depend 'i')."""
    return next((int(v[1]) for _, v in txn.engine.relcache.rows(  # type: ignore[call-overload]
        boot.PG_DEPEND, txn.transaction) if v[0] == boot.PG_CLASS_OID and v[4] == table_oid
        and v[5] == attnum and v[6] == seqs.OWNED_BY_IDENTITY), None)


def _nextval_of(sequence_oid: int) -> str:
    """nextval(<OID>::regclass) in the planner's stored form: by OID, so it does not depend on
    the search path when it runs (pg_dump's restore empties it)."""
    return json.dumps({"FuncCall": {
        "funcname": [{"String": {"sval": "nextval"}}],
        "args": [{"TypeCast": {"arg": {"A_Const": {"ival": {"ival": sequence_oid}}},
                               "typeName": {"names": [{"String": {"sval": "regclass"}}],
                                            "typemod": -1}}}],
        "funcformat": "COERCE_EXPLICIT_CALL"}})


def defaults(txn: Any, relation: Relation) -> dict[int, str]:
    """attnum -> stored nextval() expression, for the relation's identity columns."""
    result = {}
    for attnum, column in enumerate(relation.columns, start=1):
        if column.identity:
            sequence_oid = sequence_of(txn, relation.oid, attnum)
            if sequence_oid is not None:
                result[attnum] = _nextval_of(sequence_oid)
    return result


def check_drop_sequence(txn: Any, sequence: Relation) -> None:
    """DROP SEQUENCE of an identity column's sequence: refused, CASCADE or not (the column
    needs it; PostgreSQL's internal dependency)."""
    owner = next(((int(v[4]), int(v[5])) for _, v in  # type: ignore[call-overload]
                  txn.engine.relcache.rows(boot.PG_DEPEND, txn.transaction)
                  if v[0] == boot.PG_CLASS_OID and v[1] == sequence.oid
                  and v[6] == seqs.OWNED_BY_IDENTITY), None)
    if owner is None:
        return
    table = txn.relation(owner[0])
    column = table.columns[owner[1] - 1].name
    raise MirrordbError(f"cannot drop sequence {sequence.name} because column {column} of "
                        f"table {table.name} requires it", sqlstate="2BP01",
                        hint=f"You can drop column {column} of table {table.name} instead.")


# -- CREATE TABLE and ADD GENERATED ---------------------------------------------------------------


def new_sequence_row(session: Any, column: Column, options: list[Node]
                     ) -> tuple[seqs.SequenceRow, list[str] | None]:
    """The parameters of an identity column's new sequence (its type the column's unless AS
    says otherwise), and its SEQUENCE NAME if given."""
    if column.type_oid not in seqs.TYPE_BOUNDS:
        raise MirrordbError("identity column type must be smallint, integer, or bigint",
                            sqlstate="22023")
    parsed = seqs.parse_options(session, options)
    row = seqs.apply_options(None, replace(parsed, type_oid=parsed.type_oid or column.type_oid))
    return row, parsed.sequence_name


def create_sequence(session: Any, txn: Any, name: str, row: seqs.SequenceRow, owner: int,
                    namespace: int) -> Relation:
    """The identity sequence, with every pg_sequence parameter (CACHE too)."""
    from mirrordb.sql import ddl
    if ddl._exists(session, name, namespace):
        raise MirrordbError(f'relation "{name}" already exists', sqlstate="42P07")
    sequence = txn.create_sequence(name, row.params, owner=owner, type_oid=row.type_oid,
                                   namespace_oid=namespace)
    if row.cache != 1:
        txn.alter_sequence(sequence, row.params, row.type_oid, row.cache, None)
    return sequence


def create_sequences(session: Any, txn: Any, table_name: str, columns: list[Column],
                     identities: list[tuple[int, list[Node]]], owner: int, schema: str
                     ) -> list[tuple[int, int]]:
    """CREATE TABLE's identity columns' sequences, made before the table as PostgreSQL
    does: (column number, sequence OID) each."""
    made = []
    for attnum, options in identities:
        column = columns[attnum - 1]
        row, names = new_sequence_row(session, column, options)
        sequence_schema = names[-2] if names and len(names) > 1 else schema
        if not names:
            namespace = schemas.creation_namespace(session, schema, table_name)
            names = [naming.choose_relation_name(session, table_name, column.name, "seq",
                                                 namespace)]
        namespace = schemas.creation_namespace(session, sequence_schema, names[-1])
        sequence = create_sequence(session, txn, names[-1], row, owner, namespace)
        made.append((attnum, sequence.oid))
    return made


def added_column_sequence(session: Any, txn: Any, table: Relation, column: Column,
                          options: list[Node]) -> tuple[int, str]:
    """ALTER TABLE ... ADD COLUMN ... GENERATED AS IDENTITY: the new column's sequence (in
    the table's schema) and the nextval() that fills the existing rows."""
    schema = schemas.namespace_name(session, table.namespace_oid)
    [(_, sequence_oid)] = create_sequences(session, txn, table.name, [column], [(1, options)],
                                           owners._owner(txn, table.oid), schema)
    return sequence_oid, _nextval_of(sequence_oid)


def column_dropped(txn: Any, table: Relation, attnum: int) -> None:
    """DROP COLUMN: the sequences the column owns (identity or serial) go with it, and the
    pg_depend rows of later columns follow their new numbers."""
    owned = [int(v[1]) for _, v in txn.engine.relcache.rows(  # type: ignore[call-overload]
        boot.PG_DEPEND, txn.transaction) if v[0] == boot.PG_CLASS_OID
        and v[4] == table.oid and v[5] == attnum
        and v[6] in (seqs.OWNED_BY_IDENTITY, seqs.OWNED_BY_AUTO)]
    for sequence_oid in owned:
        txn.drop(sequence_oid)
    txn._update_catalog_rows(
        boot.PG_DEPEND, lambda v: v[0] == boot.PG_CLASS_OID and v[3] == boot.PG_CLASS_OID
        and v[4] == table.oid and int(v[5]) > attnum,  # type: ignore[call-overload]
        lambda v: tuple(v[:5]) + (int(v[5]) - 1,) + tuple(v[6:]))  # type: ignore
    txn.transaction.command_counter_increment()


def add_identity(session: Any, txn: Any, table: Relation, command: Node) -> None:
    """ALTER TABLE t ALTER COLUMN c ADD GENERATED {ALWAYS | BY DEFAULT} AS IDENTITY
    [(options)]: the column's kind, its sequence (SEQUENCE NAME, or <table>_<column>_seq in
    the table's schema) and the pg_depend 'i' row (PostgreSQL's ATExecAddIdentity)."""
    from mirrordb.sql import ddl
    column_name = command["name"]
    attnum = ddl.column_number(table, column_name)
    column = table.columns[attnum - 1]
    constraint = command["def"]["Constraint"]
    if column.type_oid not in seqs.TYPE_BOUNDS:
        raise MirrordbError("identity column type must be smallint, integer, or bigint",
                            sqlstate="22023")
    if not column.not_null:
        raise MirrordbError(f'column "{column_name}" of relation "{table.name}" must be '
                            "declared NOT NULL before identity can be added", sqlstate="55000")
    if column.identity:
        raise MirrordbError(f'column "{column_name}" of relation "{table.name}" is already an '
                            "identity column", sqlstate="55000")
    if attnum in txn.column_defaults(table):
        raise MirrordbError(f'column "{column_name}" of relation "{table.name}" already has a '
                            "default value", sqlstate="55000")
    row, names = new_sequence_row(session, column, constraint.get("options", []))
    names = names or [naming.choose_relation_name(session, table.name, column_name, "seq",
                                                  table.namespace_oid)]
    schema = names[-2] if len(names) > 1 else schemas.namespace_name(session,
                                                                     table.namespace_oid)
    namespace = schemas.creation_namespace(session, schema, names[-1])
    sequence = create_sequence(session, txn, names[-1], row, owners._owner(txn, table.oid),
                               namespace)
    txn.alter_column(table, attnum, identity=constraint.get("generated_when") or ALWAYS)
    seqs.record_owned_by(txn, sequence.oid, table.oid, attnum, seqs.OWNED_BY_IDENTITY)


# -- SET GENERATED / sequence options, DROP IDENTITY ----------------------------------------------


def _identity_column(table: Relation, column_name: str) -> tuple[int, Column]:
    from mirrordb.sql import ddl
    attnum = ddl.column_number(table, column_name)
    return attnum, table.columns[attnum - 1]


def _not_identity(table: Relation, column_name: str) -> MirrordbError:
    return MirrordbError(f'column "{column_name}" of relation "{table.name}" is not an '
                         "identity column", sqlstate="55000")


def set_identity(session: Any, txn: Any, table: Relation, command: Node) -> None:
    """ALTER TABLE t ALTER COLUMN c {SET GENERATED {ALWAYS | BY DEFAULT} | SET option |
    RESTART [WITH n]}...: the kind in pg_attribute, the rest as ALTER SEQUENCE would."""
    column_name = command["name"]
    attnum, column = _identity_column(table, column_name)
    generated: str | None = None
    options: list[Node] = []
    for item in (command.get("def") or {}).get("List", {}).get("items", []):
        fields = item["DefElem"]
        if fields["defname"] == "generated":
            if generated is not None:
                raise MirrordbError("conflicting or redundant options", sqlstate="42601")
            generated = chr(int(one(fields["arg"])[1]["ival"]))
        else:
            options.append(item)
    if not column.identity:
        raise _not_identity(table, column_name)
    if generated is not None and generated != column.identity:
        txn.alter_column(table, attnum, identity=generated)
    if options:
        sequence_oid = sequence_of(txn, table.oid, attnum)
        if sequence_oid is None:
            raise _not_identity(table, column_name)
        sequence = txn.relation(sequence_oid)
        parsed = seqs.parse_options(session, options)
        current = seqs.read_row(txn, sequence.oid)
        row = seqs.apply_options(current, parsed)
        restart = seqs._restart_value(session, txn, sequence, row, parsed)
        if row != current or restart is not None:
            txn.alter_sequence(sequence, row.params, row.type_oid, row.cache, restart)


def drop_identity(session: Any, txn: Any, table: Relation, command: Node) -> list[str]:
    """ALTER TABLE t ALTER COLUMN c DROP IDENTITY [IF EXISTS]: the kind goes, and with it the
    sequence (PostgreSQL's ATExecDropIdentity); the column keeps NOT NULL."""
    column_name = command["name"]
    attnum, column = _identity_column(table, column_name)
    if not column.identity:
        if command.get("missing_ok"):
            return [f'column "{column_name}" of relation "{table.name}" is not an identity '
                    "column, skipping"]
        raise _not_identity(table, column_name)
    txn.alter_column(table, attnum, identity="")
    sequence_oid = sequence_of(txn, table.oid, attnum)
    if sequence_oid is not None:
        txn.drop(sequence_oid)
    return []


# -- INSERT and UPDATE ----------------------------------------------------------------------------


def _generated_always(column: Column) -> str:
    return f'Column "{column.name}" is an identity column defined as GENERATED ALWAYS.'


def check_insert(relation: Relation, index: int, override: str | None) -> bool:
    """Whether an INSERT giving column ``index`` a value uses its default instead (OVERRIDING
    USER VALUE); refuses a value for a GENERATED ALWAYS column without OVERRIDING SYSTEM
    VALUE (PostgreSQL's rewriter, rewriteTargetListIU)."""
    column = relation.columns[index]
    if not column.identity:
        return False
    if override == OVERRIDING_USER_VALUE:
        return True
    if column.identity == ALWAYS and override != OVERRIDING_SYSTEM_VALUE:
        raise MirrordbError(f'cannot insert a non-DEFAULT value into column "{column.name}"',
                            sqlstate="428C9", detail=_generated_always(column),
                            hint="Use OVERRIDING SYSTEM VALUE to override.")
    return False


def check_update(relation: Relation, index: int) -> None:
    """UPDATE may set a GENERATED ALWAYS column only to DEFAULT."""
    column = relation.columns[index]
    if column.identity == ALWAYS:
        raise MirrordbError(f'column "{column.name}" can only be updated to DEFAULT',
                            sqlstate="428C9", detail=_generated_always(column))


def _is_identity(relation: Relation, attnum: int, hint: str | None = None) -> MirrordbError:
    return MirrordbError(f'column "{relation.columns[attnum - 1].name}" of relation '
                         f'"{relation.name}" is an identity column', sqlstate="42601", hint=hint)


def check_default_change(relation: Relation, attnum: int, setting: bool) -> None:
    """ALTER COLUMN SET/DROP DEFAULT of an identity column: refused (its value is the
    sequence's, not a default)."""
    if relation.columns[attnum - 1].identity:
        raise _is_identity(relation, attnum, None if setting else
                           "Use ALTER TABLE ... ALTER COLUMN ... DROP IDENTITY instead.")


def check_drop_not_null(relation: Relation, attnum: int) -> None:
    """ALTER COLUMN DROP NOT NULL of an identity column: refused."""
    if relation.columns[attnum - 1].identity:
        raise _is_identity(relation, attnum)
