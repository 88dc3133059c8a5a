"""DDL and maintenance statements: CREATE/DROP TABLE, INDEX, SEQUENCE; DROP VIEW (CREATE VIEW
is views.py); ALTER ... RENAME; VACUUM.

Who calls it: the session (sql/session.py). Everything here becomes calls on the engine's ``Txn``
(catalog rows in pg_class/pg_attribute/pg_index/pg_sequence/pg_attrdef plus new relation files),
so DDL is transactional and reaches standbys through the WAL like any row change.

PostgreSQL's naming rules are kept, so clients and people find the objects they expect:
``<table>_pkey`` for a primary key, ``<table>_<column>_key`` for UNIQUE, ``<table>_<column>_seq``
for serial/identity sequences, ``<table>_<column>_idx`` for an unnamed index (an expression
column named as sql/index_expressions.py names it, INCLUDE columns too). Column defaults are
stored in pg_attrdef.adbin as the expression's parse tree (JSON), as PostgreSQL stores a node tree
there; ``serial`` becomes ``nextval('<sequence>')``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from mirrordb.access.lmgr import NO_LOCK, LockMode
from mirrordb.access.relation import (RELKIND_INDEX, RELKIND_MATVIEW, RELKIND_PARTITIONED_INDEX,
                                      RELKIND_SEQUENCE,
                                      RELKIND_TABLE, RELKIND_VIEW, Column)
from mirrordb.access.sequence import SequenceParams
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import constraints, foreign_keys, identity, naming, owners, roles, schemas, views
from mirrordb.sql import generated, index_expressions, persistence, system_columns
from mirrordb.sql import triggers
from mirrordb.sql import inheritance, partition_ddl, partition_indexes, partitioning
from mirrordb.sql import sequences as seqs
from mirrordb.sql import cluster
from mirrordb.sql import types as T
from mirrordb.sql.column_types import check_column_type
from mirrordb.sql.expressions import error_at, feature_not_supported
from mirrordb.sql.parser import Node, one, strings
from mirrordb.sql.planner import PlanBuilder

SERIAL_TYPES = {"serial": T.INT4_OID, "serial4": T.INT4_OID, "bigserial": T.INT8_OID,
                "serial8": T.INT8_OID, "smallserial": T.INT2_OID, "serial2": T.INT2_OID}


def _both_default_and_identity(column: str, table: str, constraint: Node) -> MirrordbError:
    return error_at(f'both default and identity specified for column "{column}" of table '
                    f'"{table}"', "42601", constraint.get("location", -1))


def _qualified(schema: str | None, name: str) -> str:
    """A relation's name for a stored nextval() argument: qualified outside public, so it
    resolves whatever the search path is when the default runs."""
    return name if schema in (None, "public") else f"{schema}.{name}"


def _nextval_default(sequence: str) -> str:
    call = {"FuncCall": {"funcname": [{"String": {"sval": "nextval"}}],
                         "args": [{"TypeCast": {
                             "arg": {"A_Const": {"sval": {"sval": sequence}}},
                             "typeName": {"names": [{"String": {"sval": "regclass"}}],
                                          "typemod": -1}}}],
                         "funcformat": "COERCE_EXPLICIT_CALL"}}
    return json.dumps(call)


def _exists(session: Any, name: str, namespace_oid: int) -> bool:
    """Whether schema ``namespace_oid`` has a relation ``name`` (names are unique per
    schema)."""
    return session._ensure_transaction().find((namespace_oid, name)) is not None


def _constraint_index_name(session: Any, table: str, keys: list[str], primary: bool,
                           namespace_oid: int) -> str:
    """The made-up name of a PRIMARY KEY's or UNIQUE constraint's index: <table>_pkey or
    <table>_<columns>_key, numbered when taken."""
    if primary:
        return naming.choose_relation_name(session, table, None, "pkey", namespace_oid,
                                           constraint=True)
    return naming.choose_relation_name(session, table, naming.index_name_addition(keys), "key",
                                       namespace_oid, constraint=True)


def _check_key_columns(columns: list[Column], names: list[str], location: int) -> None:
    """42703 for a PRIMARY KEY's or UNIQUE constraint's key or INCLUDE column the table lacks
    (CREATE TABLE's error points at the constraint)."""
    for name in names:
        if not any(c.name == name for c in columns):
            raise error_at(f'column "{name}" named in key does not exist', "42703", location)


def _skipping(name: str) -> str:
    """The NOTICE of CREATE ... IF NOT EXISTS when relation ``name`` is already there."""
    return f'relation "{name}" already exists, skipping'


def _relation_missing(range_var: Node) -> MirrordbError:
    """42P01 naming the relation as written (schema-qualified if it was)."""
    schema, name = range_var.get("schemaname"), range_var["relname"]
    shown = f"{schema}.{name}" if schema else name
    return MirrordbError(f'relation "{shown}" does not exist', sqlstate="42P01")


def _open_for_change(session: Any, name: str, schema: str | None, mode: int,
                     check: Callable[[Any], None]) -> Any:
    """The relation a DDL statement changes: looked up, checked (kind, ownership) before it is
    locked, so a refused statement never waits; then locked in ``mode`` and looked up again
    (None if a concurrent DROP committed while we waited), as PostgreSQL's
    RangeVarGetRelidExtended runs its callback before it locks."""
    relation = session.lookup_relation(name, schema, NO_LOCK)
    if relation is None:
        return None
    check(relation)
    return session.lookup_relation(name, schema, mode)


def create_table(session: Any, txn: Any, node: Node) -> list[str]:
    """CREATE [UNLOGGED] TABLE; its notices (IF NOT EXISTS on an existing relation). Its
    sequences and indexes take its persistence (``Txn.creating_persistence``)."""
    relpersistence, node = persistence.creating(session, txn, node, "relation")
    persistence.check_on_commit(relpersistence, node.get("oncommit"))
    with txn.creating_persistence(relpersistence):
        notices = _create_table(session, txn, node)
    persistence.register_on_commit(session, txn, node["relation"], node.get("oncommit"))
    return notices


def _create_table(session: Any, txn: Any, node: Node) -> list[str]:
    relation_node = node["relation"]
    name = relation_node["relname"]
    if node.get("partbound"):
        return partition_ddl.create_partition_of(session, txn, node)
    namespace = schemas.creation_namespace(session, relation_node.get("schemaname"), name,
                                           relation_node.get("location"))
    schema = schemas.namespace_name(session, namespace)
    if node.get("if_not_exists") and _exists(session, name, namespace):
        return [_skipping(name)]
    builder = PlanBuilder(session, [])
    columns: list[Column] = []
    parent = inheritance.parent_table(session, node) if node.get("inhRelations") else None
    notices: list[str] = []
    if parent is not None:      # INHERITS: the parent's columns first (sql/inheritance.py)
        columns, elements, notices = inheritance.inherited_columns(
            builder, parent, node.get("tableElts", []))
        node = {**node, "tableElts": elements}
    defaults: list[tuple[int, str]] = []
    sequences: list[tuple[str, int, SequenceParams]] = []
    serial_columns: list[tuple[int, str]] = []   # (column, pg_depend deptype) per sequence
    identities: list[tuple[int, list[Node]]] = []   # (column, sequence options)
    indexes: list[tuple[str | None, list[str], bool, bool]] = []   # name None: made up
    table_constraints: list[Node] = []
    checks: list[constraints.PendingCheck] = []
    references: list[Node] = []
    generation: list[tuple[int, Node]] = []      # generated columns' (attnum, expression)
    for element in node.get("tableElts", []):
        kind, fields = one(element)
        if kind == "Constraint":
            table_constraints.append(fields)
            continue
        if kind != "ColumnDef":
            raise feature_not_supported(f"table element {kind}")
        column_name = fields["colname"]
        system_columns.check_column_name(column_name)
        if any(c.name == column_name for c in columns):
            raise MirrordbError(f'column "{column_name}" specified more than once',
                                sqlstate="42701")
        type_names = strings(fields["typeName"].get("names"))
        serial = SERIAL_TYPES.get(type_names[-1].lower()) if len(type_names) == 1 else None
        if serial is not None:
            type_oid, typmod = serial, -1
        else:
            type_oid, typmod = builder.resolve_type(fields["typeName"])
        check_column_type(column_name, type_oid)
        not_null = serial is not None
        identity_kind = generated_kind = ""
        attnum = len(columns) + 1
        if serial is not None:
            sequence = naming.choose_relation_name(session, name, column_name, "seq",
                                                   namespace)
            sequences.append((sequence, serial, _sequence_params_for(serial)))
            serial_columns.append((attnum, seqs.OWNED_BY_AUTO))
            defaults.append((attnum, _nextval_default(_qualified(schema, sequence))))
        for constraint_node in fields.get("constraints", []):
            constraint = constraint_node["Constraint"]
            contype = constraint["contype"]
            if contype == "CONSTR_NOTNULL":
                not_null = True
            elif contype == "CONSTR_NULL":
                not_null = False
            elif contype == "CONSTR_DEFAULT":
                if identity_kind:
                    raise _both_default_and_identity(column_name, name, constraint)
                if generated_kind:
                    raise generated.default_error(column_name, name, constraint)
                defaults.append((attnum, json.dumps(constraint["raw_expr"])))
            elif contype == "CONSTR_PRIMARY":
                not_null = True
                indexes.append((constraint.get("conname"), [column_name], True, True))
            elif contype == "CONSTR_UNIQUE":
                indexes.append((constraint.get("conname"), [column_name], True, False))
            elif contype == "CONSTR_IDENTITY":
                if identity_kind:
                    raise error_at(f'multiple identity specifications for column '
                                   f'"{column_name}" of table "{name}"', "42601",
                                   constraint.get("location", -1))
                if any(a == attnum for a, _ in defaults):
                    raise _both_default_and_identity(column_name, name, constraint)
                not_null = True
                identity_kind = constraint.get("generated_when") or identity.ALWAYS
                identities.append((attnum, constraint.get("options", [])))
            elif contype == "CONSTR_CHECK":
                checks.append(constraints.PendingCheck.of(constraint))
            elif contype == "CONSTR_FOREIGN":
                references.append(foreign_keys.pending_of(constraint, column_name))
            elif contype == "CONSTR_GENERATED":
                clash = generated.definition_error(
                    column_name, name, constraint, any(a == attnum for a, _ in defaults),
                    identity_kind, bool(generated_kind))
                if clash is not None:
                    raise clash
                generated_kind = generated.STORED
                generation.append((attnum, constraint["raw_expr"]))
            elif contype in ("CONSTR_ATTR_DEFERRABLE", "CONSTR_ATTR_DEFERRED"):
                raise feature_not_supported("DEFERRABLE constraints")
            elif contype in ("CONSTR_ATTR_NOT_DEFERRABLE", "CONSTR_ATTR_IMMEDIATE"):
                continue
            else:
                raise feature_not_supported(f"constraint {contype}")
        columns.append(Column(column_name, type_oid, not_null, typmod, identity_kind,
                              generated_kind))
    included: dict[int, list[str]] = {}     # position in ``indexes`` -> its INCLUDE columns
    for constraint in table_constraints:
        contype = constraint["contype"]
        keys = [k["String"]["sval"] for k in constraint.get("keys", [])]
        if constraint.get("including"):
            included[len(indexes)] = strings(constraint["including"])
        _check_key_columns(columns, keys + included.get(len(indexes), []),
                           constraint.get("location", -1))
        if contype == "CONSTR_PRIMARY":
            if any(primary for _, _, _, primary in indexes):
                raise MirrordbError(f'multiple primary keys for table "{name}" are not allowed',
                                    sqlstate="42P16")
            columns = [dataclasses.replace(c, not_null=True)
                       if c.name in keys else c for c in columns]
            indexes.append((constraint.get("conname"), keys, True, True))
        elif contype == "CONSTR_UNIQUE":
            indexes.append((constraint.get("conname"), keys, True, False))
        elif contype == "CONSTR_CHECK":
            checks.append(constraints.PendingCheck.of(constraint))
        elif contype == "CONSTR_FOREIGN":
            references.append(foreign_keys.pending_of(constraint))
        else:
            raise feature_not_supported(f"constraint {contype}")
    if sum(1 for *_, primary in indexes if primary) > 1:
        raise MirrordbError(f'multiple primary keys for table "{name}" are not allowed',
                            sqlstate="42P16")
    partition_key = None
    if node.get("partspec"):
        partition_key = partitioning.key_of_spec(columns, node["partspec"], name)
        for _, keys, _, primary in indexes:
            partition_indexes.check_unique_key(name, columns, keys, primary, partition_key)
    owner = roles.current_role_oid(session)
    for sequence, sequence_type, params in sequences:
        if _exists(session, sequence, namespace):
            raise MirrordbError(f'relation "{sequence}" already exists', sqlstate="42P07")
        txn.create_sequence(sequence, params, owner=owner, type_oid=sequence_type,
                            namespace_oid=namespace)
    identity_sequences = identity.create_sequences(session, txn, name, columns, identities,
                                                   owner, schema)
    relation = txn.create_table(name, columns, owner=owner, namespace_oid=namespace,
                                kind=RELKIND_TABLE if partition_key is None
                                else partitioning.RELKIND_PARTITIONED_TABLE)
    if partition_key is not None:
        partitioning.record_key(txn, relation, partition_key)
    for attnum, sequence_oid in identity_sequences:
        seqs.record_owned_by(txn, sequence_oid, relation.oid, attnum, seqs.OWNED_BY_IDENTITY)
    for attnum, text in defaults:
        txn.set_column_default(relation, attnum, text)
    generated.add_expressions(builder, txn, relation, generation)
    constraints.add_checks(session, txn, relation, checks, creating=True)
    for (sequence, _, _), (attnum, deptype) in zip(sequences, serial_columns):
        seqs.record_owned_by(txn, txn.relation((namespace, sequence)).oid, relation.oid, attnum,
                             deptype)
    for position, (given_name, keys, unique, primary) in enumerate(indexes):
        include = included.get(position, [])
        index_name = given_name or _constraint_index_name(session, name, keys + include,
                                                          primary, namespace)
        if _exists(session, index_name, namespace):
            raise MirrordbError(f'relation "{index_name}" already exists', sqlstate="42P07")
        txn.create_index(index_name, relation.oid, keys, unique=unique, primary=primary,
                         include=include)
    if references:
        foreign_keys.add_foreign_keys(session, txn, txn.relation(relation.oid), references,
                                      creating=True)
    if parent is not None:
        inheritance.record(txn, parent, relation)
    txn.transaction.command_counter_increment()
    return notices


def alter_table(session: Any, txn: Any, node: Node) -> list[Any]:
    """ALTER TABLE: ADD/DROP COLUMN (a rewrite, as PostgreSQL does for volatile defaults),
    ALTER COLUMN SET/DROP DEFAULT and NOT NULL, ADD PRIMARY KEY/UNIQUE/CHECK, VALIDATE and
    DROP CONSTRAINT (constraints.py). Returns the notices."""
    name = node["relation"]["relname"]
    objtype = node.get("objtype", "OBJECT_TABLE")
    owner_only = all(c["AlterTableCmd"]["subtype"] == "AT_ChangeOwner" for c in node["cmds"])

    def check(relation: Any) -> None:
        _check_alter_target(session, relation, name, objtype)
        if relation.kind not in (RELKIND_TABLE, partitioning.RELKIND_PARTITIONED_TABLE):
            _refuse_alteration(relation, node["cmds"])
        if persistence.refuse_alteration(relation, node["cmds"]):
            return
        if partition_ddl.alteration_allowed(relation, node["cmds"]):
            return
        if not owner_only and relation.kind != RELKIND_TABLE:
            raise feature_not_supported("ALTER of this kind of relation")
    relation = _open_for_change(session, name, node["relation"].get("schemaname"),
                                LockMode.ACCESS_EXCLUSIVE, check)
    if relation is None:
        if node.get("missing_ok"):
            return [f'relation "{name}" does not exist, skipping']
        raise _relation_missing(node["relation"])
    notices: list[Any] = []
    for command_node in node["cmds"]:
        command = command_node["AlterTableCmd"]
        subtype = command["subtype"]
        command["recurse"] = bool(node["relation"].get("inh"))   # not ALTER TABLE ONLY
        relation = txn.relation(relation.oid)
        if subtype == "AT_ChangeOwner":
            notices += owners.change_relation_owner(session, txn, relation,
                                                    command["newowner"])
            continue
        handler = _ALTER_HANDLERS.get(subtype)
        if handler is None:
            raise feature_not_supported(f"ALTER TABLE {subtype.removeprefix('AT_')}")
        if subtype in ("AT_AddColumn", "AT_DropColumn", "AT_AlterColumnType"):
            inheritance.refuse_column_change(txn, relation, subtype.removeprefix("AT_"))
        with persistence.like(txn, relation):   # sequences of added columns: the table's
            notices += handler(session, txn, relation, command) or []
    return notices


_ALTER_OBJECT_KINDS = {"OBJECT_SEQUENCE": (RELKIND_SEQUENCE, "a sequence"),
                       "OBJECT_VIEW": (RELKIND_VIEW, "a view"),
                       "OBJECT_INDEX": (RELKIND_INDEX, "an index")}


def _check_alter_target(session: Any, relation: Any, name: str, objtype: str) -> None:
    """PostgreSQL's RangeVarCallbackForAlterRelation: the role must own the relation, and
    ALTER SEQUENCE/VIEW/INDEX must name one of those."""
    roles.check_table_ownership(session, relation)
    wanted = _ALTER_OBJECT_KINDS.get(objtype)
    if wanted is not None and relation.kind != wanted[0] and not (
            wanted[0] == RELKIND_INDEX and relation.kind == RELKIND_PARTITIONED_INDEX):
        raise MirrordbError(f'"{name}" is not {wanted[1]}', sqlstate="42809")


_TABLE_ONLY_ACTIONS = {"AT_AddColumn": "ADD COLUMN", "AT_DropColumn": "DROP COLUMN",
                       "AT_SetNotNull": "ALTER COLUMN ... SET NOT NULL",
                       "AT_DropNotNull": "ALTER COLUMN ... DROP NOT NULL",
                       "AT_AddConstraint": "ADD CONSTRAINT"}


def _refuse_alteration(relation: Any, commands: list[Node]) -> None:
    """What ALTER cannot do to a view, sequence or index, in PostgreSQL's words
    (ATSimplePermissions)."""
    for command_node in commands:
        action = _TABLE_ONLY_ACTIONS.get(command_node["AlterTableCmd"]["subtype"])
        if action is not None:
            raise MirrordbError(f'ALTER action {action} cannot be performed on relation '
                                f'"{relation.name}"', sqlstate="42809",
                                detail="This operation is not supported for "
                                       f"{_PLURALS[relation.kind]}.")


def column_number(relation: Any, column: str) -> int:
    try:
        return relation.column_index(column) + 1
    except KeyError:
        raise MirrordbError(f'column "{column}" of relation "{relation.name}" does not exist',
                            sqlstate="42703") from None


def _add_column(session: Any, txn: Any, relation: Any, command: Node) -> None:
    definition = command["def"]["ColumnDef"]
    column_name = definition["colname"]
    system_columns.check_column_name(column_name)
    if any(c.name == column_name for c in relation.columns):
        if command.get("missing_ok"):
            return
        raise MirrordbError(f'column "{column_name}" of relation "{relation.name}" already '
                            "exists", sqlstate="42701")
    builder = PlanBuilder(session, [])
    type_names = strings(definition["typeName"].get("names"))
    serial = SERIAL_TYPES.get(type_names[-1].lower()) if len(type_names) == 1 else None
    type_oid, typmod = (serial, -1) if serial is not None else \
        builder.resolve_type(definition["typeName"])
    check_column_type(column_name, type_oid)
    not_null = serial is not None
    default_text = None
    identity_options: list[Node] | None = None
    identity_kind = ""
    generation: Node | None = None         # GENERATED ALWAYS AS (expression) STORED
    unique = primary = False
    checks: list[constraints.PendingCheck] = []
    references: list[Node] = []
    for constraint_node in definition.get("constraints", []):
        constraint = constraint_node["Constraint"]
        contype = constraint["contype"]
        if contype == "CONSTR_NOTNULL":
            not_null = True
        elif contype == "CONSTR_DEFAULT":
            default_text = json.dumps(constraint["raw_expr"])
        elif contype == "CONSTR_PRIMARY":
            primary = not_null = True
        elif contype == "CONSTR_UNIQUE":
            unique = True
        elif contype == "CONSTR_CHECK":
            checks.append(constraints.PendingCheck.of(constraint))
        elif contype == "CONSTR_FOREIGN":
            references.append(foreign_keys.pending_of(constraint, column_name))
        elif contype == "CONSTR_IDENTITY":
            not_null = True
            identity_kind = constraint.get("generated_when") or identity.ALWAYS
            identity_options = constraint.get("options", [])
        elif contype == "CONSTR_GENERATED":
            clash = generated.definition_error(column_name, relation.name, constraint,
                                               default_text is not None, identity_kind,
                                               generation is not None)
            if clash is not None:
                raise clash
            generation = constraint["raw_expr"]
        elif contype != "CONSTR_NULL":
            raise feature_not_supported(f"constraint {contype} in ADD COLUMN")
    if serial is not None:
        sequence = naming.choose_relation_name(session, relation.name, column_name, "seq",
                                               relation.namespace_oid)
        txn.create_sequence(sequence, _sequence_params_for(serial), type_oid=serial,
                            namespace_oid=relation.namespace_oid)
        default_text = _nextval_default(
            _qualified(schemas.namespace_name(session, relation.namespace_oid), sequence))
    defaults = dict(txn.column_defaults(relation))
    attnum = relation.natts + 1
    column = Column(column_name, type_oid, False, typmod, identity_kind,
                    generated.STORED if generation is not None else "")
    identity_sequence = None
    if identity_options is not None:
        identity_sequence, default_text = identity.added_column_sequence(
            session, txn, relation, column, identity_options)
    elif default_text is not None:
        defaults[attnum] = default_text
    produce = _default_producer(session, builder, default_text, type_oid, typmod)
    columns = list(relation.columns) + [column]
    if generation is not None:
        defaults[attnum] = json.dumps(generation)
        compute = generated.added_column_values(session, builder, relation, columns,
                                                generation)

    def transform(values: tuple[object, ...]) -> list[object]:
        if generation is not None:
            return [*values, compute(values)]
        return [*values, produce()]
    rebuilt = txn.rewrite_table(relation, columns, transform, defaults)
    if identity_sequence is not None:
        seqs.record_owned_by(txn, identity_sequence, rebuilt.oid, attnum,
                             seqs.OWNED_BY_IDENTITY)
    if not_null:
        _set_not_null(session, txn, rebuilt, column_name)
    if primary or unique:
        index = _constraint_index_name(session, relation.name, [column_name], primary,
                                       relation.namespace_oid)
        txn.create_index(index, relation.oid, [column_name], unique=True, primary=primary)
    if checks:
        constraints.add_checks(session, txn, txn.relation(relation.oid), checks,
                               creating=False)
    if references:
        foreign_keys.add_foreign_keys(session, txn, txn.relation(relation.oid), references,
                                      creating=False)


def _default_producer(session: Any, builder: PlanBuilder, default_text: str | None,
                      type_oid: int, typmod: int) -> Any:
    if default_text is None:
        return lambda: None
    from mirrordb.sql.expressions import ExpressionCompiler, Scope, coerce
    expr = ExpressionCompiler(builder, Scope()).compile(json.loads(default_text))
    expr = coerce(builder, expr, type_oid, typmod, "assignment")
    ctx = session._context([])
    return lambda: expr.fn((), ctx)


def _drop_column(session: Any, txn: Any, relation: Any, command: Node) -> list[Any]:
    column_name = command["name"]
    if not any(c.name == column_name for c in relation.columns):
        if command.get("missing_ok"):
            return []
        column_number(relation, column_name)
    views.check_column_unused(txn, relation, column_name, "drop")
    trigger_notices = triggers.column_dropped(session, txn, relation, column_name,
                                              command.get("behavior") == "DROP_CASCADE")
    dependents = generated.dependent_columns(txn, relation, column_name)
    notices = generated.drop_dependents_notices(relation, column_name, dependents,
                                                command.get("behavior") == "DROP_CASCADE")
    for dependent in dependents:
        _drop_column(session, txn, txn.relation(relation.oid), {"name": dependent})
    relation = txn.relation(relation.oid)
    if relation.natts == 1:
        raise feature_not_supported("dropping the last column of a table")
    position = relation.column_index(column_name)
    for info in relation.indexes:
        if position in info.columns_used():    # its key, expressions or predicate
            txn.drop(info.relation.oid)
    old_defaults = txn.column_defaults(relation)
    defaults = {attnum - (1 if attnum > position + 1 else 0): text
                for attnum, text in old_defaults.items() if attnum != position + 1}
    columns = [c for i, c in enumerate(relation.columns) if i != position]
    constraints.column_dropped(txn, relation, position + 1)
    foreign_keys.column_dropped(txn, relation, position + 1)
    identity.column_dropped(txn, relation, position + 1)
    relation = txn.relation(relation.oid)

    def transform(values: tuple[object, ...]) -> list[object]:
        return [v for i, v in enumerate(values) if i != position]
    txn.rewrite_table(relation, columns, transform, defaults)
    return trigger_notices + notices


def _set_not_null(session: Any, txn: Any, relation: Any, column_name: str) -> None:
    attnum = column_number(relation, column_name)
    if partitioning.is_partitioned(relation):      # no rows of its own: its partitions'
        for oid in partitioning.descendants(txn, relation.oid):
            _set_not_null(session, txn, txn.relation(oid), column_name)
        txn.alter_column(relation, attnum, not_null=True)
        return
    for _, values in txn.scan(relation):
        if values[attnum - 1] is None:
            raise MirrordbError(f'column "{column_name}" of relation "{relation.name}" contains '
                                "null values", sqlstate="23502")
    txn.alter_column(relation, attnum, not_null=True)


def _alter_not_null(session: Any, txn: Any, relation: Any, command: Node) -> None:
    if command["subtype"] == "AT_SetNotNull":
        _set_not_null(session, txn, relation, command["name"])
        return
    attnum = column_number(relation, command["name"])
    for info in relation.indexes:
        if info.primary and attnum - 1 in info.key_columns:
            raise MirrordbError(f'column "{command["name"]}" is in a primary key',
                                sqlstate="42P16")
    identity.check_drop_not_null(relation, attnum)
    txn.alter_column(relation, attnum, not_null=False)


def _alter_default(session: Any, txn: Any, relation: Any, command: Node) -> None:
    attnum = column_number(relation, command["name"])
    identity.check_default_change(relation, attnum, command.get("def") is not None)
    txn.drop_column_default(relation, attnum)
    if command.get("def") is not None:
        txn.set_column_default(relation, attnum, json.dumps(command["def"]))


def _add_constraint(session: Any, txn: Any, relation: Any, command: Node) -> None:
    constraint = command["def"]["Constraint"]
    contype = constraint["contype"]
    keys = [k["String"]["sval"] for k in constraint.get("keys", [])]
    include = strings(constraint.get("including", []))
    _check_key_columns(relation.columns, keys + include, -1)
    if contype == "CONSTR_PRIMARY":
        if any(info.primary for info in relation.indexes):
            raise MirrordbError(f'multiple primary keys for table "{relation.name}" are not '
                                "allowed", sqlstate="42P16")
        for key in keys:
            _set_not_null(session, txn, txn.relation(relation.oid), key)
        name = constraint.get("conname") or _constraint_index_name(
            session, relation.name, keys, True, relation.namespace_oid)
        partition_indexes.check_partitioned_unique(txn, relation, keys, True)
        index = txn.create_index(name, relation.oid, keys, unique=True, primary=True,
                                 include=include)
        partition_indexes.cascade_unless_only(session, txn, relation, index, command)
    elif contype == "CONSTR_UNIQUE":
        name = constraint.get("conname") or _constraint_index_name(
            session, relation.name, keys + include, False, relation.namespace_oid)
        partition_indexes.check_partitioned_unique(txn, relation, keys, False)
        index = txn.create_index(name, relation.oid, keys, unique=True, include=include)
        partition_indexes.cascade_unless_only(session, txn, relation, index, command)
    elif contype == "CONSTR_CHECK":
        constraints.add_checks(session, txn, relation, [constraints.PendingCheck.of(constraint)],
                               creating=False)
    elif contype == "CONSTR_FOREIGN":
        foreign_keys.add_foreign_keys(session, txn, relation, [constraint], creating=False)
    else:
        raise feature_not_supported(f"ALTER TABLE ADD {contype.removeprefix('CONSTR_')} "
                                    "constraints")


_ALTER_HANDLERS = {
    "AT_AddColumn": _add_column, "AT_DropColumn": _drop_column,
    "AT_SetNotNull": _alter_not_null, "AT_DropNotNull": _alter_not_null,
    "AT_ColumnDefault": _alter_default, "AT_AddConstraint": _add_constraint,
    "AT_ValidateConstraint": constraints.validate_constraint,
    "AT_DropConstraint": constraints.drop_constraint,
    "AT_AddIdentity": identity.add_identity, "AT_SetIdentity": identity.set_identity,
    "AT_DropIdentity": identity.drop_identity,
    "AT_DropExpression": generated.drop_expression,
    **persistence.ALTER_HANDLERS,
    **cluster.ALTER_HANDLERS,
    **partition_ddl.ALTER_HANDLERS,
}


def rename(session: Any, txn: Any, node: Node) -> tuple[str, list[str]]:
    kind = node["renameType"]
    if kind == "OBJECT_SCHEMA":
        schemas.rename_schema(session, txn, node)
        return "ALTER SCHEMA", []
    name = node["relation"]["relname"]
    relation_kind = node.get("relationType", "OBJECT_TABLE") if kind == "OBJECT_COLUMN" \
        else kind
    tag = _RENAME_TAGS.get(relation_kind, "ALTER TABLE")

    def check(found: Any) -> None:
        if relation_kind == "OBJECT_VIEW" and found.kind != RELKIND_VIEW:
            raise MirrordbError(f'"{name}" is not a view', sqlstate="42809")
        roles.check_table_ownership(session, found)
    relation = _open_for_change(session, name, node["relation"].get("schemaname"),
                                LockMode.ACCESS_EXCLUSIVE, check)
    if relation is None:
        if node.get("missing_ok"):
            return tag, [f'relation "{name}" does not exist, skipping']
        raise _relation_missing(node["relation"])
    if kind in _RENAME_TAGS:
        txn.rename_relation(relation, node["newname"])
        return tag, []
    if kind == "OBJECT_COLUMN":
        attnum = column_number(relation, node["subname"])
        if any(c.name == node["newname"] for c in relation.columns):
            raise MirrordbError(f'column "{node["newname"]}" of relation "{relation.name}" '
                                "already exists", sqlstate="42701")
        views.check_column_unused(txn, relation, node["subname"], "rename")
        system_columns.check_column_name(node["newname"])
        txn.alter_column(relation, attnum, name=node["newname"])
        constraints.column_renamed(txn, relation, node["subname"], node["newname"])
        generated.column_renamed(txn, relation, node["subname"], node["newname"])
        index_expressions.column_renamed(txn, relation, node["subname"], node["newname"])
        triggers.column_renamed(session, txn, relation, node["subname"], node["newname"])
        return tag, []
    raise feature_not_supported(f"ALTER ... RENAME of {kind.removeprefix('OBJECT_')}")


_RENAME_TAGS = {"OBJECT_TABLE": "ALTER TABLE", "OBJECT_INDEX": "ALTER INDEX",
                "OBJECT_SEQUENCE": "ALTER SEQUENCE", "OBJECT_VIEW": "ALTER VIEW"}


def _sequence_params_for(type_oid: int) -> SequenceParams:
    maximum = {T.INT2_OID: 2**15 - 1, T.INT4_OID: 2**31 - 1}.get(type_oid, 2**63 - 1)
    return SequenceParams(max_value=maximum)


def create_index(session: Any, txn: Any, node: Node) -> list[str]:
    """CREATE INDEX; its notices (IF NOT EXISTS on an existing relation)."""
    table = node["relation"]["relname"]
    relation = session.lookup_relation(table, node["relation"].get("schemaname"), NO_LOCK)
    if relation is not None and relation.kind == RELKIND_VIEW:
        raise MirrordbError(f'cannot create index on relation "{table}"', sqlstate="42809",
                            detail="This operation is not supported for views.")
    if relation is None or relation.kind not in (RELKIND_TABLE, RELKIND_MATVIEW,
                                                 partitioning.RELKIND_PARTITIONED_TABLE):
        raise MirrordbError(f'relation "{table}" does not exist', sqlstate="42P01")
    roles.check_table_ownership(session, relation)
    if node.get("accessMethod", "btree") != "btree":
        raise feature_not_supported(f"index access method \"{node['accessMethod']}\"")
    definition = index_expressions.define(session, relation, node["indexParams"],
                                          node.get("whereClause"),
                                          node.get("indexIncludingParams", []))
    keys = definition.name_parts
    name = node.get("idxname") or naming.choose_relation_name(
        session, table, naming.index_name_addition(keys), "idx", relation.namespace_oid)
    if _exists(session, name, relation.namespace_oid):
        if node.get("if_not_exists"):
            return [_skipping(name)]
        raise MirrordbError(f'relation "{name}" already exists', sqlstate="42P07")
    if node.get("concurrent"):
        pass  # a plain build already lets readers in; writers wait as they would for a lock
    partitioned = partitioning.is_partitioned(relation)
    if partitioned and node.get("unique"):
        key = partitioning.partition_key(txn, relation.oid)
        assert key is not None
        partition_indexes.check_unique_key(relation.name, relation.columns, keys,
                                           bool(node.get("primary")), key)
    index = txn.create_index(name, relation.oid, definition.columns,
                             unique=bool(node.get("unique")),
                             primary=bool(node.get("primary")),
                             expressions=definition.expressions,
                             predicate=definition.predicate, options=definition.options,
                             include=definition.include)
    if partitioned and node["relation"].get("inh"):    # CREATE INDEX ... ON ONLY: none
        partition_indexes.cascade(session, txn, relation, index)
    return []


def create_sequence(session: Any, txn: Any, node: Node) -> list[str]:
    """CREATE [UNLOGGED] SEQUENCE; its notices (IF NOT EXISTS on an existing relation)."""
    relpersistence, node = persistence.creating(session, txn, node, "sequence")
    with txn.creating_persistence(relpersistence):
        return _create_sequence(session, txn, node)


def _create_sequence(session: Any, txn: Any, node: Node) -> list[str]:
    name = node["sequence"]["relname"]
    namespace = schemas.creation_namespace(session, node["sequence"].get("schemaname"), name,
                                           node["sequence"].get("location"))
    if node.get("if_not_exists") and _exists(session, name, namespace):
        return [_skipping(name)]
    options = node.get("options", [])
    params = _sequence_options(session, options, SequenceParams())
    type_oid = T.INT8_OID
    for option in options:
        if option["DefElem"]["defname"] == "as":
            type_oid = PlanBuilder(session, []).resolve_type(option["DefElem"]["arg"]["TypeName"])[0]
    if _exists(session, name, namespace):
        raise MirrordbError(f'relation "{name}" already exists', sqlstate="42P07")
    sequence = txn.create_sequence(name, params, owner=roles.current_role_oid(session),
                                   type_oid=type_oid, namespace_oid=namespace)
    owned_by = seqs.parse_options(session, [o for o in options
                                            if o["DefElem"]["defname"] == "owned_by"]).owned_by
    if owned_by is not None:
        seqs.set_owned_by(session, txn, sequence, owned_by)
    return []


def _sequence_options(session: Any, options: list[Node], params: SequenceParams
                      ) -> SequenceParams:
    values: dict[str, Any] = {}
    for option in options:
        fields = option["DefElem"]
        name = fields["defname"]
        arg = fields.get("arg")
        value: Any = None
        if arg is not None:
            kind, inner = one(arg)
            if kind == "Integer":
                value = inner.get("ival", 0)
            elif kind == "Float":
                value = int(inner["fval"])
            elif kind == "Boolean":
                value = inner.get("boolval", False)
            elif kind == "TypeName":
                value = PlanBuilder(session, []).resolve_type(inner)[0]
            elif kind == "String":
                value = inner.get("sval")
            elif kind == "List":
                value = None
        values[name] = value
    increment = values.get("increment", params.increment)
    kwargs: dict[str, Any] = {"increment": increment}
    if "as" in values:
        maximum = {T.INT2_OID: 2**15 - 1, T.INT4_OID: 2**31 - 1}.get(values["as"], 2**63 - 1)
        kwargs["max_value"] = maximum
    if values.get("maxvalue") is not None:
        kwargs["max_value"] = values["maxvalue"]
    if values.get("minvalue") is not None:
        kwargs["min_value"] = values["minvalue"]
    if "start" in values:
        kwargs["start"] = values["start"]
    if "cycle" in values:
        kwargs["cycle"] = bool(values["cycle"])
    if "cache" in values or "owned_by" in values:
        pass
    if increment < 0 and "maxvalue" not in values:
        kwargs["max_value"] = -1
        kwargs.setdefault("min_value", -(2**63) if "as" not in values else
                          -{T.INT2_OID: 2**15, T.INT4_OID: 2**31}.get(values["as"], 2**63))
        kwargs.setdefault("start", kwargs["max_value"])
    try:
        return SequenceParams(**kwargs)
    except (TypeError, ValueError) as exc:
        raise MirrordbError(str(exc), sqlstate="22023") from None


def drop(session: Any, txn: Any, node: Node) -> tuple[str, list[str]]:
    kind = node.get("removeType", "OBJECT_TABLE")
    wanted = {"OBJECT_TABLE": (RELKIND_TABLE, "table", "DROP TABLE"),
              "OBJECT_INDEX": (RELKIND_INDEX, "index", "DROP INDEX"),
              "OBJECT_SEQUENCE": (RELKIND_SEQUENCE, "sequence", "DROP SEQUENCE"),
              "OBJECT_VIEW": (RELKIND_VIEW, "view", "DROP VIEW"),
              "OBJECT_MATVIEW": (RELKIND_MATVIEW, "materialized view",
                                 "DROP MATERIALIZED VIEW")}.get(kind)
    if kind == "OBJECT_SCHEMA":
        return "DROP SCHEMA", schemas.drop_schemas(session, txn, node)
    if wanted is None:
        raise feature_not_supported(f"DROP {kind.removeprefix('OBJECT_')}")
    relkind, noun, tag = wanted
    cascade = node.get("behavior") == "DROP_CASCADE"
    named = [_object_names(item) for item in node["objects"]]
    dropping = {relation.oid for relation in
                (session.lookup_relation(names[-1], names[-2] if len(names) > 1 else None,
                                         NO_LOCK) for names in named)
                if relation is not None and _kind_is(relation.kind, relkind)}
    notices: list[Any] = []
    for names in named:
        name = names[-1]

        def check(relation: Any) -> None:
            if not _kind_is(relation.kind, relkind):
                raise MirrordbError(f'"{name}" is not a{"n" if noun == "index" else ""} {noun}',
                                    sqlstate="42809",
                                    hint=f"Use DROP {_noun_of(relation.kind).upper()} to remove "
                                         f"a {_noun_of(relation.kind)}.")
            roles.check_table_ownership(session, relation)
            if relation.kind == RELKIND_INDEX:   # the table first, as PostgreSQL locks them
                txn.lock_relation(txn.table_of_index(relation).oid, LockMode.ACCESS_EXCLUSIVE)
        relation = _open_for_change(session, name, names[-2] if len(names) > 1 else None,
                                    LockMode.ACCESS_EXCLUSIVE, check)
        if relation is None:
            if node.get("missing_ok"):
                notices.append(f'{noun} "{name}" does not exist, skipping')
                continue
            # PostgreSQL's DROP INDEX says undefined_object, the others undefined_table
            raise MirrordbError(f'{noun} "{name}" does not exist',
                                sqlstate="42704" if relkind == RELKIND_INDEX else "42P01")
        doomed_views, cascade_notices = views.check_drop(session, txn, relation, cascade,
                                                         dropping)
        notices += cascade_notices
        if relation.kind == RELKIND_TABLE:
            notices += foreign_keys.check_drop(session, txn, relation, cascade, dropping)
        elif relation.kind == RELKIND_SEQUENCE:
            identity.check_drop_sequence(txn, relation)
        for view in doomed_views:
            txn.drop(view)
        if partitioning.is_partitioned(relation):
            partition_ddl.drop_partitions(session, txn, relation)
        elif relation.kind in (RELKIND_INDEX, RELKIND_PARTITIONED_INDEX):
            partition_indexes.check_drop(txn, relation, dropping)
        elif relation.kind == RELKIND_TABLE:
            notices += inheritance.check_drop(session, txn, relation, cascade, dropping)
        owned = _owned_sequences(session, txn, relation) if relkind == RELKIND_TABLE else []
        txn.drop(relation.oid)
        for sequence in owned:
            txn.drop(sequence)
    return tag, notices


def _kind_is(kind: str, wanted: str) -> bool:
    """DROP TABLE also drops partitioned tables, DROP INDEX partitioned indexes."""
    return kind == wanted or (wanted == RELKIND_TABLE
                              and kind == partitioning.RELKIND_PARTITIONED_TABLE) or (
        wanted == RELKIND_INDEX and kind == RELKIND_PARTITIONED_INDEX)


def _object_names(item: Node) -> list[str]:
    return strings(item["List"]["items"]) if "List" in item else strings([item])


def lock_table(session: Any, node: Node) -> None:
    """LOCK [TABLE] name [, ...] [IN mode MODE] [NOWAIT]: only inside a transaction block (the
    lock would end with the statement otherwise); tables only; the privilege LOCK needs
    depends on the mode (PostgreSQL's LockTableAclCheck); NOWAIT gives 55P03 instead of
    waiting."""
    if not session.in_block:
        raise MirrordbError("LOCK TABLE can only be used in transaction blocks",
                            sqlstate="25P01")
    mode = int(node.get("mode", LockMode.ACCESS_EXCLUSIVE))
    for item in node["relations"]:
        range_var = item["RangeVar"]
        name, schema = range_var["relname"], range_var.get("schemaname")
        relation = session.lookup_relation(name, schema, NO_LOCK)
        if relation is not None:
            if not _kind_is(relation.kind, RELKIND_TABLE):
                raise MirrordbError(f'cannot lock relation "{name}"', sqlstate="42809",
                                    detail="This operation is not supported for "
                                           f"{_PLURALS[relation.kind]}.")
            _check_lock_privilege(session, relation, mode)
            relation = session.lookup_relation(name, schema, mode,
                                               nowait=bool(node.get("nowait")))
            if partitioning.is_partitioned(relation) and range_var.get("inh"):
                for oid in partitioning.descendants(session.txn, relation.oid):
                    session.txn.lock_relation(oid, mode, dont_wait=bool(node.get("nowait")))
        if relation is None:
            raise MirrordbError(f'relation "{name if not schema else schema + "." + name}" '
                                "does not exist", sqlstate="42P01")


_PLURALS = {RELKIND_INDEX: "indexes", RELKIND_SEQUENCE: "sequences", RELKIND_VIEW: "views"}
_LOCK_PRIVILEGES = {LockMode.ACCESS_SHARE: ("SELECT",),
                    LockMode.ROW_EXCLUSIVE: ("INSERT", "UPDATE", "DELETE", "TRUNCATE")}


def _check_lock_privilege(session: Any, relation: Any, mode: int) -> None:
    """Any one of the privileges the mode needs will do."""
    refused: MirrordbError | None = None
    for privilege in _LOCK_PRIVILEGES.get(mode, ("UPDATE", "DELETE", "TRUNCATE")):
        try:
            roles.check_table_privilege(session, relation, privilege)
            return
        except MirrordbError as error:
            refused = error
    assert refused is not None
    raise refused


def _noun_of(kind: str) -> str:
    return {RELKIND_TABLE: "table", RELKIND_INDEX: "index", RELKIND_SEQUENCE: "sequence",
            RELKIND_VIEW: "view", RELKIND_MATVIEW: "materialized view"}[kind]


def _owned_sequences(session: Any, txn: Any, relation: Any) -> list[int]:
    """The sequences (OIDs) the table's columns own (pg_depend 'a' and 'i'): dropped with
    it."""
    return list(owners.owned_sequences(txn, relation.oid))


def vacuum(session: Any, node: Node) -> Any:
    from mirrordb.sql.session import StatementResult
    is_vacuum = node.get("is_vacuumcmd", False)
    verbose = False
    for option in node.get("options", []):
        name = option["DefElem"]["defname"]
        if name == "verbose":
            verbose = True
        elif name in ("analyze", "full", "freeze", "skip_locked", "index_cleanup", "truncate",
                      "parallel", "process_toast", "disable_page_skipping"):
            continue
    options = {option["DefElem"]["defname"] for option in node.get("options", [])}
    if not is_vacuum:
        from mirrordb.sql import analyze
        return StatementResult("ANALYZE", notices=analyze.analyze(session, node, verbose))
    if session.in_block:
        raise MirrordbError("VACUUM cannot run inside a transaction block", sqlstate="25001")
    if session.txn is not None:
        session._commit()
    tables = [(r["VacuumRelation"]["relation"]["relname"],
               r["VacuumRelation"]["relation"].get("schemaname"))
              for r in node.get("rels", [])] or [(None, None)]
    notices = []
    for table, schema in tables:
        relation = session.lookup_relation(table, schema, NO_LOCK) if table is not None \
            else None
        if table is not None and relation is None:
            session._abort()
            raise MirrordbError(f'relation "{table}" does not exist', sqlstate="42P01")
        if relation is not None and relation.kind == RELKIND_VIEW:
            notices.append(("WARNING", f'skipping "{table}" --- cannot vacuum non-tables or '
                                       "special system tables"))
            continue
        members = [relation.oid] if relation is not None else [None]
        if partitioning.is_partitioned(relation):      # VACUUM p: its leaf partitions
            members = [leaf.oid for leaf in partition_ddl.leaves_to_truncate(
                session._ensure_transaction(), relation, True)]
        if session.txn is not None:
            session._abort()
        if "full" in options:
            notices += cluster.vacuum_full(session, relation, verbose)
            continue
        for target in members:
            for stats in session.engine.vacuum(target, session.lock_wait_hooks):
                if verbose:
                    notices.extend(_verbose_lines(stats, session.database))
    if "analyze" in options:
        from mirrordb.sql import analyze
        notices += analyze.analyze(session, node, verbose)
        session._commit()
    return StatementResult("VACUUM", notices=notices)


def _verbose_lines(stats: Any, database: str) -> list[tuple[str, str]]:
    """VACUUM VERBOSE's INFO messages, worded as PostgreSQL 15 words them (vacuumlazy.c); the
    read rates, buffer and WAL usage lines are left out: mirrordb does not count those."""
    name = f'"{database}.{_SCHEMA_NAMES.get(stats.namespace_oid, "public")}.{stats.relation}"'
    pages = stats.pages_scanned
    dead_pages = stats.pages_with_dead_items
    index_pass = "index scan needed" if stats.index_scans else "index scan not needed"
    lines = [f"finished vacuuming {name}: index scans: {stats.index_scans}",
             f"pages: 0 removed, {pages} remain, {pages} scanned (100.00% of total)",
             f"tuples: {stats.removed} removed, {stats.remaining} remain, "
             f"{stats.recently_dead} are dead but not yet removable",
             f"removable cutoff: {stats.oldest_xmin}, which was {stats.horizon_age} XIDs old "
             "when operation ended",
             f"{index_pass}: {dead_pages} pages from table ({_percent(dead_pages, pages)} of "
             f"total) had {stats.removed} dead item identifiers removed"]
    lines += [f'index "{index}": pages: {index_pages} in total, 0 newly deleted, 0 currently '
              "deleted, 0 reusable" for index, index_pages in stats.index_pages]
    lines.append(f"system usage: CPU: user: {stats.cpu_user_s:.2f} s, system: "
                 f"{stats.cpu_system_s:.2f} s, elapsed: {stats.elapsed_s:.2f} s")
    return [("INFO", f"vacuuming {name}"), ("INFO", "\n".join(lines))]


_SCHEMA_NAMES = {11: "pg_catalog", 2200: "public"}


def _percent(part: int, whole: int) -> str:
    """PostgreSQL's "%.2f%%" of a page count (100% of an empty table)."""
    return f"{100.0 * part / whole if whole else 100.0:.2f}%"


__all__ = ["create_table", "create_index", "create_sequence", "drop", "vacuum", "error_at"]
