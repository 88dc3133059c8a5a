"""Composite types: CREATE TYPE name AS (attr type, ...), record input, ROW(...)::type.

Who calls it: sql/type_ddl.py for CompositeTypeStmt and for DROP TYPE of a composite type;
sql/user_types.py for a composite type's input function (record_in) and the fields of a
composite type or a table's row type; sql/types.py for the cast of an anonymous record to a
composite type. Values are ``types.RowRecord``s; their stored form is PostgreSQL's composite
datum (storage/composite_format.py), their text form record_out's (types.record_out).

Catalog, as PostgreSQL keeps it: a pg_class row of relkind 'c' without storage (relfilenode
0) whose pg_attribute rows are the attributes, and a pg_type row of typtype 'c' whose
typrelid is that relation, plus the array type ``_name``, their OIDs drawn in PostgreSQL's
order (relation, array type, type). Our pg_type heap row keeps typrelid in its base type
column (a domain's base type, unused by other kinds). A table's row type has the table's
OID (sql/row_values.py's ``row_type_oid``), so its fields are the relation's columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mirrordb.access.relation import Column
from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T
from mirrordb.sql.parser import Node, strings
from mirrordb.storage.relfilenode import RelFileNode

RELKIND_COMPOSITE = "c"
# Relation kinds whose OID is their row type's and whose columns are its fields (a composite
# type's relation is reached through its pg_type row instead)
ROW_TYPE_KINDS = frozenset({"r", "v", "m", "p"})
Fields = tuple[tuple[str, int], ...]


# -- CREATE TYPE ... AS (...) ---------------------------------------------------------------------


def create_composite(session: Any, txn: Any, node: Node, builder: Any) -> None:
    """CompositeTypeStmt: the relation (relkind 'c') with its attributes, then the pg_type
    rows of its array type and of the type (typrelid the relation)."""
    from mirrordb.sql import roles, schemas
    from mirrordb.sql import type_ddl
    from mirrordb.sql import user_types as U
    relation = node["typevar"]
    names = [relation["schemaname"], relation["relname"]] if relation.get("schemaname") \
        else [relation["relname"]]
    columns = [_attribute(builder, item["ColumnDef"]) for item in node.get("coldeflist", [])]
    _check_duplicates(columns)
    namespace_oid = schemas.creation_namespace(session, names[0] if len(names) > 1 else None,
                                               names[-1])
    name = names[-1]
    type_ddl.check_type_name_free(session, txn, namespace_oid, name)
    owner_oid = roles.current_role_oid(session)
    relation_oid = txn._new_locked_oid()          # PostgreSQL's order: relation, array, type
    txn._add_class(relation_oid, name, RELKIND_COMPOSITE,
                   RelFileNode(0, txn.engine.database_oid, 0), columns, owner_oid,
                   namespace_oid)
    array_oid = txn.engine.allocate_oid()
    oid = txn.engine.allocate_oid()
    type_ddl.insert_type(txn, U.UserType(oid, name, namespace_oid, owner_oid,
                                         U.TYPTYPE_COMPOSITE, relation_oid, -1, False,
                                         array_oid, 0, None, None))
    type_ddl.insert_type(txn, U.UserType(array_oid, type_ddl.array_name(session, txn,
                                                                        namespace_oid, name),
                                         namespace_oid, owner_oid, U.TYPTYPE_BASE, 0, -1,
                                         False, 0, oid, None, None))
    txn.transaction.command_counter_increment()


def _attribute(builder: Any, definition: Node) -> Column:
    from mirrordb.sql.column_types import check_column_type
    name = str(definition["colname"])
    type_oid, typmod = builder.resolve_type(definition["typeName"])
    check_column_type(name, type_oid)
    return Column(name, type_oid, typmod=typmod)


def _check_duplicates(columns: Sequence[Column]) -> None:
    seen: set[str] = set()
    for column in columns:
        if column.name in seen:
            raise MirrordbError(f'column "{column.name}" specified more than once',
                                sqlstate="42701")
        seen.add(column.name)


def drop_composite(txn: Any, relation_oid: int) -> None:
    """The relation of a composite type being dropped (its pg_type rows go with type_ddl's)."""
    txn._delete_catalog_rows(boot.PG_CLASS, lambda v: v[0] == relation_oid)
    txn._delete_catalog_rows(boot.PG_ATTRIBUTE, lambda v: v[0] == relation_oid)


def type_of_relation(relation_oid: int) -> int:
    """pg_class.reltype of a composite type's relation: the type whose typrelid it is."""
    from mirrordb.sql import user_types as U
    source = T.user_types()
    if not isinstance(source, U.SessionUserTypes):
        return 0
    return next((t.oid for t in source.catalog.by_oid.values()
                 if t.typtype == U.TYPTYPE_COMPOSITE and t.base_oid == relation_oid), 0)


# -- fields ----------------------------------------------------------------------------------------


def relation_fields(session: Any, oid: int) -> tuple[Fields, tuple[int, ...]] | None:
    """(fields, typmods) of the row type ``oid`` of a table, view or materialized view (its
    columns); None if ``oid`` is no such relation."""
    if oid < boot.FIRST_NORMAL_OBJECT_ID:
        return None
    txn = getattr(session, "txn", None)
    transaction = txn.transaction if txn is not None else None
    relation = session.engine.relcache.lookup_oid(oid, transaction)
    if relation is None or relation.kind not in ROW_TYPE_KINDS:
        return None
    columns = relation.columns
    return (tuple((column.name, column.type_oid) for column in columns),
            tuple(column.typmod for column in columns))


def table_row_type(session: Any, namespace_oid: int, name: str) -> int | None:
    """The row type of table (or view, materialized view) ``name`` of a schema, which a type
    name may mean, as in PostgreSQL; None if there is no such relation."""
    from mirrordb.sql import row_values
    txn = getattr(session, "txn", None)
    transaction = txn.transaction if txn is not None else None
    relation = session.engine.relcache.lookup(name, transaction, namespace_oid)
    if relation is None or relation.kind not in row_values.ROW_TYPE_RELKINDS or \
            relation.kind == "S":
        return None
    oid = row_values.row_type_oid(relation)
    if not oid:
        return None
    T.register_row_type(oid)
    return oid


# -- record_in -------------------------------------------------------------------------------------


def _malformed(text: str, detail: str) -> MirrordbError:
    return MirrordbError(f'malformed record literal: "{text}"', sqlstate="22P02",
                         detail=detail)


def split_record_text(text: str, count: int) -> list[str | None]:
    """record_in's parse of ``(a,"b c",)``: each field's text, None for an empty unquoted
    one (NULL); PostgreSQL's 22P02 errors for the rest."""
    position = 0
    while position < len(text) and text[position].isspace():
        position += 1
    if position >= len(text) or text[position] != "(":
        raise _malformed(text, "Missing left parenthesis.")
    position += 1
    values: list[str | None] = []
    for number in range(count):
        if number > 0:
            if position >= len(text) or text[position] == ")":
                raise _malformed(text, "Too few columns.")
            position += 1                                  # the ','
        value, position = _read_field(text, position)
        values.append(value)
    if position >= len(text) or text[position] != ")":
        raise _malformed(text, "Too many columns." if position < len(text) and
                         text[position] == "," else "Unexpected end of input.")
    if text[position + 1:].strip():
        raise _malformed(text, "Junk after right parenthesis.")
    return values


def _read_field(text: str, position: int) -> tuple[str | None, int]:
    if position < len(text) and text[position] in ",)":
        return None, position
    parts: list[str] = []
    quoted = False
    while True:
        if position >= len(text):
            raise _malformed(text, "Unexpected end of input.")
        char = text[position]
        if char == "\\":
            if position + 1 >= len(text):
                raise _malformed(text, "Unexpected end of input.")
            parts.append(text[position + 1])
            position += 2
        elif char == '"':
            if quoted and text[position + 1:position + 2] == '"':
                parts.append('"')
                position += 2
            else:
                quoted = not quoted
                position += 1
        elif not quoted and char in ",)":
            return "".join(parts), position
        else:
            parts.append(char)
            position += 1


def record_input(fields_of: Callable[[], tuple[Fields, tuple[int, ...]] | None]
                 ) -> Callable[[str, int, str], Any]:
    """record_in for one row type (its fields read when a value is parsed)."""
    def record_in(text: str, typmod: int, timezone: str) -> Any:
        found = fields_of()
        if found is None:
            raise MirrordbError("record type has been dropped", sqlstate="XX000")
        fields, typmods = found
        texts = split_record_text(text, len(fields))
        values = [None if item is None else T.text_input(type_oid)(item, field_typmod,
                                                                   timezone)
                  for item, (_, type_oid), field_typmod in zip(texts, fields, typmods)]
        return T.RowRecord.of(values, fields)
    return record_in


# -- ROW(...)::type --------------------------------------------------------------------------------


def record_to_composite(target_oid: int, fields: Fields, typmods: Sequence[int],
                        context: str) -> Callable[[Any, str], Any]:
    """coerce_record_to_complex at run time: each field of an anonymous record converted to
    the composite type's field (42846 when the numbers differ)."""
    def convert(value: Any, timezone: str) -> Any:
        if isinstance(value, str):             # a record known by its text form
            return record_input(lambda: (fields, tuple(typmods)))(value, -1, timezone)
        source_fields = getattr(value, "columns", ())
        if len(value) != len(fields):
            raise MirrordbError(f"cannot cast type record to {T.format_type(target_oid)}",
                                sqlstate="42846",
                                detail="Input has too few columns." if len(value) < len(fields)
                                else "Input has too many columns.")
        converted = []
        for item, (_, source_type), (_, target_type), typmod in zip(value, source_fields,
                                                                    fields, typmods):
            if item is None or (source_type == target_type and typmod < 0):
                converted.append(item)
                continue
            try:
                converted.append(T.caster(source_type, target_type, typmod,
                                          context=context)(item, timezone))
            except MirrordbError as error:      # PostgreSQL reports these without a position
                raise _positionless(error) from None
        return T.RowRecord.of(converted, fields)
    return convert


def _positionless(error: MirrordbError) -> MirrordbError:
    from mirrordb.sql.user_types import PositionlessError
    return PositionlessError(error.message, sqlstate=error.sqlstate, detail=error.detail,
                             hint=error.hint)


# -- ALTER TYPE ... ADD / DROP / RENAME ATTRIBUTE --------------------------------------------------


def dropped_name(number: int) -> str:
    """The name PostgreSQL gives a dropped attribute (its pg_attribute row stays)."""
    return f"........pg.dropped.{number}........"


def drop_attribute(txn: Any, relation: Any, name: str) -> None:
    """Mark attribute ``name`` dropped: its row stays (attisdropped), so datums stored
    earlier keep their layout; values read from them no longer show it."""
    def change(values: Sequence[object]) -> list[object]:
        changed = list(values)
        changed[1] = dropped_name(int(values[3]))      # type: ignore[call-overload]
        changed[6] = True
        return changed
    txn._update_catalog_rows(boot.PG_ATTRIBUTE,
                             lambda v: v[0] == relation.oid and v[1] == name and not v[6],
                             change)
    txn.transaction.command_counter_increment()


def _live_attributes(txn: Any, relation_oid: int) -> list[Sequence[object]]:
    return sorted((values for _, values in txn.engine.relcache.rows(boot.PG_ATTRIBUTE,
                                                                     txn.transaction)
                   if values[0] == relation_oid), key=lambda v: int(v[3]))  # type: ignore


def _require_composite(session: Any, range_var: Node) -> Any:
    """The composite type ALTER TYPE names (42P01 as PostgreSQL's relation lookup when
    there is no such type or it is no composite type)."""
    from mirrordb.sql import type_ddl
    from mirrordb.sql import user_types as U
    names = [range_var["schemaname"], range_var["relname"]] if range_var.get("schemaname") \
        else [range_var["relname"]]
    user_type = type_ddl.find_type(session, names)
    if user_type is None or user_type.typtype != U.TYPTYPE_COMPOSITE:
        raise MirrordbError(f'relation "{".".join(names)}" does not exist', sqlstate="42P01")
    return user_type


def _attribute_missing(name: str, type_name: str) -> MirrordbError:
    return MirrordbError(f'column "{name}" of relation "{type_name}" does not exist',
                         sqlstate="42703")


def alter_composite(session: Any, txn: Any, node: Node, builder: Any) -> list[Any]:
    """ALTER TYPE t ADD ATTRIBUTE / DROP ATTRIBUTE [IF EXISTS] (an AlterTableStmt of
    OBJECT_TYPE); returns notices."""
    from mirrordb.sql import type_ddl
    user_type = _require_composite(session, node["relation"])
    type_ddl.check_owner(session, user_type)
    notices: list[Any] = []
    for item in node.get("cmds", []):
        command = item["AlterTableCmd"]
        subtype = command["subtype"]
        attributes = _live_attributes(txn, user_type.base_oid)
        names = {str(v[1]) for v in attributes if not v[6]}
        if subtype == "AT_AddColumn":
            column = _attribute(builder, command["def"]["ColumnDef"])
            if column.name in names:
                raise MirrordbError(f'column "{column.name}" of relation "{user_type.name}" '
                                    f"already exists", sqlstate="42701")
            txn._insert_catalog(boot.PG_ATTRIBUTE, [user_type.base_oid, column.name,
                                                    column.type_oid, len(attributes) + 1,
                                                    False, column.typmod, False, "", ""])
            _set_natts(txn, user_type.base_oid, len(attributes) + 1)
        elif subtype == "AT_DropColumn":
            name = str(command["name"])
            if name not in names:
                if command.get("missing_ok"):
                    notices.append(f'column "{name}" of relation "{user_type.name}" does not '
                                   f"exist, skipping")
                    continue
                raise _attribute_missing(name, user_type.name)
            drop_attribute(txn, _relation(txn, user_type.base_oid), name)
        else:
            raise MirrordbError("ALTER TYPE ... ALTER ATTRIBUTE is not supported",
                                sqlstate="0A000")
        txn.transaction.command_counter_increment()
    return notices


def _relation(txn: Any, relation_oid: int) -> Any:
    return txn.engine.relcache.lookup_oid(relation_oid, txn.transaction)


def _set_natts(txn: Any, relation_oid: int, natts: int) -> None:
    update_relation(txn, relation_oid, natts=natts)


# pg_class columns ALTER TYPE changes on a composite type's relation (catalog/bootstrap.py)
_CLASS_COLUMNS = {"name": 1, "owner_oid": 3, "natts": 8}


def update_relation(txn: Any, relation_oid: int, **changes: object) -> None:
    """Change a composite type's pg_class row with its type (RENAME TO, OWNER TO) or its
    attributes (relnatts)."""
    def change(values: Sequence[object]) -> list[object]:
        changed = list(values)
        for key, value in changes.items():
            changed[_CLASS_COLUMNS[key]] = value
        return changed
    txn._update_catalog_rows(boot.PG_CLASS, lambda v: v[0] == relation_oid, change)
    txn.transaction.command_counter_increment()


def rename_attribute(session: Any, txn: Any, node: Node) -> None:
    """ALTER TYPE t RENAME ATTRIBUTE a TO b."""
    from mirrordb.sql import type_ddl
    user_type = _require_composite(session, node["relation"])
    type_ddl.check_owner(session, user_type)
    old, new = str(node["subname"]), str(node["newname"])
    names = {str(v[1]) for v in _live_attributes(txn, user_type.base_oid) if not v[6]}
    if old not in names:
        raise MirrordbError(f'column "{old}" does not exist', sqlstate="42703")
    if new in names:
        raise MirrordbError(f'column "{new}" of relation "{user_type.name}" already exists',
                            sqlstate="42701")

    def change(values: Sequence[object]) -> list[object]:
        changed = list(values)
        changed[1] = new
        return changed
    txn._update_catalog_rows(boot.PG_ATTRIBUTE, lambda v: v[0] == user_type.base_oid
                             and v[1] == old and not v[6], change)
    txn.transaction.command_counter_increment()


# -- UPDATE t SET col.field = ... ------------------------------------------------------------------


def is_field_store(target: Node) -> bool:
    """Whether a SET target's indirection is one field name (``col.field``)."""
    indirection = target.get("indirection") or []
    return len(indirection) == 1 and "String" in indirection[0]


def field_store_column(relation: Any, target: Node) -> int:
    """The column a ``SET col.field`` target assigns to (42703 if there is none)."""
    from mirrordb.sql.expressions import error_at
    name = str(target["name"])
    try:
        return int(relation.column_index(name))
    except KeyError:
        raise error_at(f'column "{name}" of relation "{relation.name}" does not exist',
                       "42703", target.get("location", -1)) from None


def field_store(builder: Any, compiler: Any, relation: Any, index: int,
                targets: Sequence[Node]) -> Any:
    """The new value of a composite column several ``SET col.field = value`` give: its
    current value (all fields NULL when it is NULL) with those fields replaced, as
    PostgreSQL's FieldStore."""
    from mirrordb.sql.expressions import Expr, coerce, error_at
    column = relation.columns[index]
    found = T.composite_fields(column.type_oid)
    fields, typmods = found if found is not None else ((), ())
    replacements: list[tuple[int, Any]] = []
    for target in targets:
        field = str(target["indirection"][0]["String"]["sval"])
        location = target.get("location", -1)
        if found is None:
            raise error_at(f'cannot assign to field "{field}" of column "{column.name}" '
                           f"because its type {T.format_type(column.type_oid)} is not a "
                           f"composite type", "42804", location)
        position = next((i for i, (name, _) in enumerate(fields) if name == field), None)
        if position is None:
            raise error_at(f'cannot assign to field "{field}" of column "{column.name}" '
                           f"because there is no such column in data type "
                           f"{T.format_type(column.type_oid)}", "42703", location)
        value = coerce(builder, compiler.compile(target["val"]), fields[position][1],
                       typmods[position], "assignment")
        replacements.append((position, value.fn))
    current = compiler.compile({"ColumnRef": {"fields": [{"String": {"sval": column.name}}],
                                              "location": -1}}).fn
    width = len(fields)

    def run(row: Any, ctx: Any) -> Any:
        old = current(row, ctx)
        values = list(old) if old is not None else [None] * width
        for position, fn in replacements:
            values[position] = fn(row, ctx)
        return T.RowRecord.of(values, fields)
    return Expr(column.type_oid, run, volatile=True)


# -- (expr).* in a select list ---------------------------------------------------------------------


def is_field_star(node: Node) -> bool:
    """Whether a select-list item is ``(expr).*``."""
    indirection = node.get("A_Indirection", {}).get("indirection") or []
    return bool(indirection) and "A_Star" in indirection[-1]


def expand_field_star(compiler: Any, node: Node) -> list[tuple[Any, str]]:
    """``(expr).*`` as one (value, name) per field of the row ``expr`` gives."""
    from mirrordb.sql import row_values
    from mirrordb.sql.expressions import leftmost_location
    indirection = node["A_Indirection"]
    inner = indirection["indirection"][:-1]
    value = compiler.compile({"A_Indirection": {**indirection, "indirection": inner}}
                             if inner else indirection["arg"])
    fields = value.fields or (T.composite_fields(value.type_oid) or ((),))[0]
    location = leftmost_location(indirection["arg"])
    if not fields:
        row_values.select_field(value, "*", location)     # PostgreSQL's error for a non-row
    return [(row_values.select_field(value, name, location), name) for name, _ in fields]
