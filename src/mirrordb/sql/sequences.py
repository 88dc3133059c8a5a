"""ALTER SEQUENCE and sequence ownership (OWNED BY, and the identity column's link).

Who calls it: the session (``AlterSeqStmt``), ddl.py (CREATE TABLE records that a serial
column owns its sequence), identity.py (identity columns: their sequence's options and
pg_depend row; the column's kind is pg_attribute.attidentity, and it has no pg_attrdef
default), owners.py and schemas.py (which sequences a table owns).

What is stored, as in PostgreSQL:

* the sequence's parameters are its pg_sequence row (seqtypid, seqstart, seqincrement, seqmax,
  seqmin, seqcache, seqcycle); ALTER SEQUENCE replaces it with a WAL-logged catalog update,
  so a standby sees the new parameters with the commit;
* RESTART rewrites the sequence's page (access/sequence.py: a WAL-logged SEQ_LOG record), as
  setval does; PostgreSQL 15 gives the sequence a new relation file there, which makes
  RESTART undone by a rollback; in mirrordb it stays, like setval;
* "column owns sequence" is a pg_depend row (classid = refclassid = pg_class, objid = the
  sequence, refobjid = the table, refobjsubid = the column number) with deptype 'a' (serial,
  OWNED BY) or 'i' (identity). DROP TABLE drops the sequences its columns own; DROP
  SEQUENCE removes the row.

Parameter rules and messages are PostgreSQL's (sequence.c init_params): bounds default by the
direction of INCREMENT and the AS type, NO MINVALUE/NO MAXVALUE restore those defaults, and a
changed AS type moves a bound that was the old type's limit to the new type's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mirrordb.access.lmgr import NO_LOCK, LockMode
from mirrordb.access.relation import RELKIND_SEQUENCE, RELKIND_TABLE, RELKIND_VIEW, Relation
from mirrordb.access.sequence import SequenceParams
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import owners, roles, schemas
from mirrordb.sql import types as T
from mirrordb.sql.expressions import feature_not_supported
from mirrordb.sql.parser import Node, one, strings

TYPE_BOUNDS = {T.INT2_OID: (-(2**15), 2**15 - 1), T.INT4_OID: (-(2**31), 2**31 - 1),
               T.INT8_OID: (-(2**63), 2**63 - 1)}
TYPE_WORDS = {T.INT2_OID: "smallint", T.INT4_OID: "integer", T.INT8_OID: "bigint"}
OWNED_BY_AUTO = "a"
OWNED_BY_IDENTITY = "i"


@dataclass(frozen=True)
class SequenceRow:
    """A pg_sequence row's parameters."""

    type_oid: int
    start: int
    increment: int
    max_value: int
    min_value: int
    cache: int
    cycle: bool

    @property
    def params(self) -> SequenceParams:
        return SequenceParams(start=self.start, increment=self.increment,
                              min_value=self.min_value, max_value=self.max_value,
                              cycle=self.cycle)


@dataclass
class SequenceOptions:
    """What an option list asks for, each None when not given (``no_min``/``no_max``: NO
    MINVALUE/NO MAXVALUE; ``restart`` True: RESTART without a value)."""

    type_oid: int | None = None
    increment: int | None = None
    min_value: int | None = None
    no_min: bool = False
    max_value: int | None = None
    no_max: bool = False
    start: int | None = None
    restart: int | bool | None = None
    cache: int | None = None
    cycle: bool | None = None
    owned_by: list[str] | None = None
    sequence_name: list[str] | None = None


def _conflicting(option: Node) -> MirrordbError:
    location = option.get("location")
    return MirrordbError("conflicting or redundant options", sqlstate="42601",
                         position=None if location is None or location < 0 else location + 1)


def _integer(arg: Node) -> int:
    kind, inner = one(arg)
    if kind == "Integer":
        return int(inner.get("ival", 0))
    if kind == "Float":
        return int(inner["fval"])
    raise MirrordbError("invalid sequence option value", sqlstate="22023")


def parse_options(session: Any, options: list[Node]) -> SequenceOptions:
    """The DefElem list of CREATE/ALTER SEQUENCE or an identity column."""
    from mirrordb.sql.planner import PlanBuilder
    parsed = SequenceOptions()
    seen: set[str] = set()
    for option in options:
        fields = option["DefElem"]
        name, arg = fields["defname"], fields.get("arg")
        if name in seen:
            raise _conflicting(fields)
        seen.add(name)
        if name == "as":
            parsed.type_oid = PlanBuilder(session, []).resolve_type(arg["TypeName"])[0]
        elif name == "increment":
            parsed.increment = _integer(arg)
        elif name == "minvalue":
            parsed.min_value, parsed.no_min = (None, True) if arg is None else (_integer(arg),
                                                                                 False)
        elif name == "maxvalue":
            parsed.max_value, parsed.no_max = (None, True) if arg is None else (_integer(arg),
                                                                                 False)
        elif name == "start":
            parsed.start = _integer(arg)
        elif name == "restart":
            parsed.restart = True if arg is None else _integer(arg)
        elif name == "cache":
            parsed.cache = _integer(arg)
        elif name == "cycle":
            parsed.cycle = bool(one(arg)[1].get("boolval", False))
        elif name == "owned_by":
            parsed.owned_by = strings(arg["List"]["items"])
        elif name == "sequence_name":
            parsed.sequence_name = strings(arg["List"]["items"])
        else:
            raise feature_not_supported(f"sequence option {name}")
    return parsed


def _invalid(message: str) -> MirrordbError:
    return MirrordbError(message, sqlstate="22023")


def apply_options(current: SequenceRow | None, options: SequenceOptions,
                  default_type: int = T.INT8_OID) -> SequenceRow:
    """The parameters after ``options`` (``current`` None: CREATE, everything defaults),
    checked with PostgreSQL's messages."""
    creating = current is None
    old = current or SequenceRow(default_type, 1, 1, 0, 0, 1, False)
    type_oid = options.type_oid if options.type_oid is not None else old.type_oid
    if type_oid not in TYPE_BOUNDS:
        raise _invalid("sequence type must be smallint, integer, or bigint")
    old_low, old_high = TYPE_BOUNDS[old.type_oid]
    reset_max = options.type_oid is not None and not creating and old.max_value == old_high
    reset_min = options.type_oid is not None and not creating and old.min_value == old_low
    increment = options.increment if options.increment is not None else old.increment
    if increment == 0:
        raise _invalid("INCREMENT must not be zero")
    ascending = increment > 0
    low, high = TYPE_BOUNDS[type_oid]
    max_value = options.max_value if options.max_value is not None else (
        (high if ascending else -1) if creating or options.no_max or reset_max
        else old.max_value)
    min_value = options.min_value if options.min_value is not None else (
        (1 if ascending else low) if creating or options.no_min or reset_min
        else old.min_value)
    word = TYPE_WORDS[type_oid]
    if not low <= max_value <= high:
        raise _invalid(f"MAXVALUE ({max_value}) is out of range for sequence data type {word}")
    if not low <= min_value <= high:
        raise _invalid(f"MINVALUE ({min_value}) is out of range for sequence data type {word}")
    if min_value >= max_value:
        raise _invalid(f"MINVALUE ({min_value}) must be less than MAXVALUE ({max_value})")
    start = options.start if options.start is not None else (
        (min_value if ascending else max_value) if creating else old.start)
    if start < min_value:
        raise _invalid(f"START value ({start}) cannot be less than MINVALUE ({min_value})")
    if start > max_value:
        raise _invalid(f"START value ({start}) cannot be greater than MAXVALUE ({max_value})")
    cache = options.cache if options.cache is not None else old.cache
    if cache <= 0:
        raise _invalid(f"CACHE ({cache}) must be greater than zero")
    cycle = options.cycle if options.cycle is not None else old.cycle
    return SequenceRow(type_oid, start, increment, max_value, min_value, cache, cycle)


def check_restart(row: SequenceRow, value: int) -> None:
    if value < row.min_value:
        raise _invalid(f"RESTART value ({value}) cannot be less than MINVALUE "
                       f"({row.min_value})")
    if value > row.max_value:
        raise _invalid(f"RESTART value ({value}) cannot be greater than MAXVALUE "
                       f"({row.max_value})")


# -- ALTER SEQUENCE -------------------------------------------------------------------------------


def read_row(txn: Any, sequence_oid: int) -> SequenceRow:
    values = next(v for _, v in txn.engine.relcache.rows(boot.PG_SEQUENCE, txn.transaction)
                  if v[0] == sequence_oid)
    return SequenceRow(*(int(x) for x in values[1:7]), bool(values[7]))  # type: ignore


def alter_sequence(session: Any, txn: Any, node: Node) -> list[Any]:
    """ALTER SEQUENCE [IF EXISTS] name options; the notices."""
    range_var = node["sequence"]
    name, schema = range_var["relname"], range_var.get("schemaname")

    def check(found: Relation) -> None:
        roles.check_table_ownership(session, found)
        if found.kind != RELKIND_SEQUENCE:
            raise MirrordbError(f'"{name}" is not a sequence', sqlstate="42809")
    found = session.lookup_relation(name, schema, NO_LOCK)
    if found is not None:
        check(found)
        found = session.lookup_relation(name, schema, LockMode.ROW_EXCLUSIVE)
    if found is None:
        if node.get("missing_ok"):
            return [f'relation "{name}" does not exist, skipping']
        raise MirrordbError(f'relation "{_shown(schema, name)}" does not exist',
                            sqlstate="42P01")
    options = parse_options(session, node.get("options", []))
    if options.sequence_name is not None:
        raise feature_not_supported("ALTER SEQUENCE ... SEQUENCE NAME")
    current = read_row(txn, found.oid)
    row = apply_options(current, options)
    restart = _restart_value(session, txn, found, row, options)
    if row != current or restart is not None:
        txn.alter_sequence(found, row.params, row.type_oid, row.cache, restart)
    if options.owned_by is not None:
        set_owned_by(session, txn, found, options.owned_by)
    return []


def _shown(schema: str | None, name: str) -> str:
    return name if schema is None else f"{schema}.{name}"


def _restart_value(session: Any, txn: Any, sequence: Relation, row: SequenceRow,
                   options: SequenceOptions) -> int | None:
    """RESTART's value (checked against the bounds); without RESTART, the sequence's current
    value must still lie within them (PostgreSQL checks it with the same words)."""
    if options.restart is None:
        params = txn.engine.relcache.sequence_params(sequence, txn.transaction)
        last_value, _ = txn.engine.sequences.last_value(sequence.rnode, params)
        check_restart(row, last_value)
        return None
    value = row.start if options.restart is True else int(options.restart)
    check_restart(row, value)
    return value


# -- OWNED BY ---------------------------------------------------------------------------------


def record_owned_by(txn: Any, sequence_oid: int, table_oid: int, attnum: int,
                    deptype: str = OWNED_BY_AUTO) -> None:
    """The pg_depend row saying column ``attnum`` of the table owns the sequence."""
    txn._insert_catalog(boot.PG_DEPEND, [boot.PG_CLASS_OID, sequence_oid, 0, boot.PG_CLASS_OID,
                                         table_oid, attnum, deptype])
    txn.transaction.command_counter_increment()


def forget_owned_by(txn: Any, sequence_oid: int, deptypes: tuple[str, ...] = (OWNED_BY_AUTO,)
                    ) -> None:
    txn._delete_catalog_rows(boot.PG_DEPEND, lambda v: v[0] == boot.PG_CLASS_OID
                             and v[1] == sequence_oid and v[6] in deptypes)
    txn.transaction.command_counter_increment()


def _identity_table(txn: Any, sequence_oid: int) -> int | None:
    return next((int(v[4]) for _, v in txn.engine.relcache.rows(  # type: ignore[call-overload]
        boot.PG_DEPEND, txn.transaction) if v[0] == boot.PG_CLASS_OID
        and v[1] == sequence_oid and v[6] == OWNED_BY_IDENTITY), None)


def set_owned_by(session: Any, txn: Any, sequence: Relation, names: list[str]) -> None:
    """OWNED BY table.column | NONE (PostgreSQL's process_owned_by)."""
    identity_table = _identity_table(txn, sequence.oid)
    if identity_table is not None:
        raise MirrordbError("cannot change ownership of identity sequence", sqlstate="0A000",
                            detail=f'Sequence "{sequence.name}" is linked to table '
                                   f'"{owners._relation_name(txn, identity_table)}".')
    if len(names) == 1:
        if names[0] != "none":
            raise MirrordbError("invalid OWNED BY option", sqlstate="42601",
                                hint="Specify OWNED BY table.column or OWNED BY NONE.")
        forget_owned_by(txn, sequence.oid)
        return
    *relation_names, column = names
    schema = relation_names[-2] if len(relation_names) > 1 else None
    table = session.lookup_relation(relation_names[-1], schema, LockMode.ACCESS_SHARE)
    if table is None:
        raise MirrordbError(f'relation "{".".join(relation_names)}" does not exist',
                            sqlstate="42P01")
    if table.kind not in (RELKIND_TABLE, RELKIND_VIEW):
        raise MirrordbError(f'sequence cannot be owned by relation "{table.name}"',
                            sqlstate="42809", detail=_not_supported_detail(table.kind))
    if owners._owner(txn, table.oid) != owners._owner(txn, sequence.oid):
        raise MirrordbError("sequence must have same owner as table it is linked to",
                            sqlstate="55000")
    if table.namespace_oid != sequence.namespace_oid:
        raise MirrordbError("sequence must be in same schema as table it is linked to",
                            sqlstate="55000")
    from mirrordb.sql.ddl import column_number    # ddl imports this module
    attnum = column_number(table, column)
    forget_owned_by(txn, sequence.oid)
    record_owned_by(txn, sequence.oid, table.oid, attnum)


def _not_supported_detail(kind: str) -> str:
    plural = {"S": "sequences", "i": "indexes"}.get(kind, "relations of this kind")
    return f"This operation is not supported for {plural}."
