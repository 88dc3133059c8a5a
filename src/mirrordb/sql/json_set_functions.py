"""The set-returning json functions of PostgreSQL 15: json(b)_each, json(b)_each_text (columns
key, value), json(b)_array_elements, json(b)_array_elements_text (column value) and
json(b)_object_keys, in FROM (with LATERAL references to earlier items) and in a select list.

Who calls it: sql/set_returning.py, which counts ``NAMES`` among the set-returning functions
and asks ``values_in_select_list`` for a call in a select list (a function with two columns
gives each row as its record text, as PostgreSQL prints a record); and Session.record_function
(sql/session.py), which asks ``rows_in_from`` for a call in FROM whose OUT parameters name the
columns (json(b)_object_keys has none: in FROM it is an ordinary one-column set, named after
the function or its alias, through set_returning.py). The scalar json functions are in
sql/json_functions.py. json(b)_to_record(set), whose columns a definition list gives
(``AS x(a int, b text)``), are planned by the planner through ``record_rows_in_from``.

jsonb rows come in the document's stored order (keys shorter first, then bytewise); json rows
in the order written, each value as written (duplicate keys kept), as PostgreSQL's json
functions give them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import json_functions as jf
from mirrordb.sql import types as T
from mirrordb.sql.expressions import (TEXT, UNKNOWN, ExecContext, Expr, Row, check_arity, coerce,
                                      no_such_function)

JSON, JSONB = T.JSON_OID, T.JSONB_OID
Columns = tuple[tuple[str, int], ...]
# a document's rows
Rows = Callable[[str], "list[tuple[Any, ...]]"]


def _error(message: str) -> MirrordbError:
    return MirrordbError(message, sqlstate="22023")


# -- jsonb -------------------------------------------------------------------------------------


def _jsonb_container(document: str) -> Any:
    """The parsed jsonb keeping the stored order of its keys (ordered pairs)."""
    return T.json_value(document)


def _jsonb_each(name: str, text: bool) -> Rows:
    def rows(document: str) -> list[tuple[Any, ...]]:
        parsed = _jsonb_container(document)
        if jf.kind_of(jf.plain(parsed)) != "object":
            raise _error(f"cannot call {name} on a non-object")
        return [(key, jf.as_text(jf.plain(value)) if text else T.jsonb_text(value))
                for key, value in parsed]
    return rows


def _jsonb_elements(text: bool) -> Rows:
    def rows(document: str) -> list[tuple[Any, ...]]:
        parsed = jf.load(document)
        kind = jf.kind_of(parsed)
        if kind != "array":
            raise _error("cannot extract elements from an object" if kind == "object"
                         else "cannot extract elements from a scalar")
        return [(jf.as_text(value) if text else T.jsonb_text(value),) for value in parsed]
    return rows


def _jsonb_object_keys(document: str) -> list[tuple[Any, ...]]:
    parsed = _jsonb_container(document)
    kind = jf.kind_of(jf.plain(parsed))
    if kind != "object":
        raise _error(f"cannot call jsonb_object_keys on {'an array' if kind == 'array' else 'a scalar'}")
    return [(key,) for key, _ in parsed]


# -- json --------------------------------------------------------------------------------------


def _json_members(document: str) -> tuple[str, list[tuple[str | None, str]]]:
    """The container kind of a json text and its members' (key, written text)."""
    from mirrordb.sql.operators import _json_members as members_of
    T.parse_json(document)
    kind, members = members_of(document)
    return kind, [(key, document[start:end]) for key, start, end in members]


def _json_member_text(raw: str) -> str | None:
    from mirrordb.sql.operators import _json_as_text
    return _json_as_text(raw, False)


def _json_each(text: bool) -> Rows:
    def rows(document: str) -> list[tuple[Any, ...]]:
        kind, members = _json_members(document)
        if kind != "object":
            raise _error("cannot deconstruct an array as an object" if kind == "array"
                         else "cannot deconstruct a scalar")
        return [(key, _json_member_text(raw) if text else raw) for key, raw in members]
    return rows


def _json_elements(name: str, text: bool) -> Rows:
    def rows(document: str) -> list[tuple[Any, ...]]:
        kind, members = _json_members(document)
        if kind != "array":
            raise _error(f"cannot call {name} on a non-array" if kind == "object"
                         else f"cannot call {name} on a scalar")
        return [(_json_member_text(raw) if text else raw,) for _, raw in members]
    return rows


def _json_object_keys(document: str) -> list[tuple[Any, ...]]:
    kind, members = _json_members(document)
    if kind != "object":
        raise _error(f"cannot call json_object_keys on {'an array' if kind == 'array' else 'a scalar'}")
    return [(key,) for key, _ in members]


# -- the table ---------------------------------------------------------------------------------

# name -> (argument type, columns (the OUT parameters; none: one column named by the call), rows)
FUNCTIONS: dict[str, tuple[int, Columns, Rows]] = {
    "jsonb_each": (JSONB, (("key", TEXT), ("value", JSONB)), _jsonb_each("jsonb_each", False)),
    "jsonb_each_text": (JSONB, (("key", TEXT), ("value", TEXT)),
                        _jsonb_each("jsonb_each_text", True)),
    "json_each": (JSON, (("key", TEXT), ("value", JSON)), _json_each(False)),
    "json_each_text": (JSON, (("key", TEXT), ("value", TEXT)), _json_each(True)),
    "jsonb_array_elements": (JSONB, (("value", JSONB),), _jsonb_elements(False)),
    "jsonb_array_elements_text": (JSONB, (("value", TEXT),), _jsonb_elements(True)),
    "json_array_elements": (JSON, (("value", JSON),),
                            _json_elements("json_array_elements", False)),
    "json_array_elements_text": (JSON, (("value", TEXT),),
                                 _json_elements("json_array_elements_text", True)),
    "jsonb_object_keys": (JSONB, (), _jsonb_object_keys),
    "json_object_keys": (JSON, (), _json_object_keys),
}
NAMES = frozenset(FUNCTIONS)


def _compile(builder: Any, name: str, args: list[Expr], location: int
             ) -> Callable[[Row, ExecContext], list[tuple[Any, ...]]]:
    """The rows of one call, per input row (none for a NULL document: the functions are
    strict)."""
    argument_type, _, rows_of = FUNCTIONS[name]
    check_arity(name, args, (1,), location)
    if args[0].type_oid not in (argument_type, UNKNOWN):
        raise no_such_function(name, args, location)
    document = coerce(builder, args[0], argument_type).fn

    def rows(row: Row, ctx: ExecContext) -> list[tuple[Any, ...]]:
        value = document(row, ctx)
        return [] if value is None else rows_of(value)
    return rows


# -- json(b)_to_record(set) with a column definition list ---------------------------------------

RECORD_FUNCTIONS = frozenset({"json_to_record", "jsonb_to_record", "json_to_recordset",
                              "jsonb_to_recordset"})
# a column of the definition list: (name, type OID, typmod)
ColumnDefinition = tuple[str, int, int]


def _field_value(raw: str | None, type_oid: int, typmod: int, timezone: str) -> Any:
    """One field as PostgreSQL's populate_record makes it: a JSON null or a missing key is
    NULL, json and jsonb columns take the value's json, an array column a JSON array's
    elements, others the input function of the string's contents or of the value's text."""
    from mirrordb.sql.operators import _JSON_DECODER, _json_members
    if raw is None or raw == "null":
        return None
    if type_oid == JSON:
        return raw
    if type_oid == JSONB:
        return T.parse_jsonb(raw)
    element = T.element_type_of(type_oid)
    if element and raw.startswith("["):
        _, members = _json_members(raw)
        return [_field_value(raw[start:end], element, -1, timezone) for _, start, end in members]
    text = _JSON_DECODER.decode(raw) if raw.startswith('"') else raw
    return T.parse_text(type_oid, text, typmod, timezone=timezone)


def _record(document: str, definitions: list[ColumnDefinition], timezone: str
            ) -> tuple[Any, ...]:
    _, members = _json_members(document)
    fields = dict(members)          # the last of duplicate keys wins
    return tuple(_field_value(fields.get(name), type_oid, typmod, timezone)
                 for name, type_oid, typmod in definitions)


def _records(name: str, document: str, definitions: list[ColumnDefinition], timezone: str
             ) -> list[tuple[Any, ...]]:
    kind, members = _json_members(document)
    if name.endswith("_record"):
        if kind != "object":
            raise _error(f"cannot call populate_composite on "
                         f"{'an array' if kind == 'array' else 'a scalar'}")
        return [_record(document, definitions, timezone)]
    if kind != "array":
        if name.startswith("jsonb"):
            raise _error(f"cannot call {name} on a non-array")
        raise _error(f"cannot call {name} on {'an object' if kind == 'object' else 'a scalar'}")
    rows = []
    for _, raw in members:
        if _json_members(raw)[0] != "object":
            raise _error(f"argument of {name} must be an array of objects")
        rows.append(_record(raw, definitions, timezone))
    return rows


def record_rows_in_from(builder: Any, name: str, args: list[Expr],
                        definitions: list[ColumnDefinition] | None, location: int
                        ) -> tuple[Callable[[ExecContext], list[Row]], Columns]:
    """json(b)_to_record(set) in FROM, its columns given by the definition list."""
    from mirrordb.sql.expressions import error_at
    argument_type = JSONB if name.startswith("jsonb") else JSON
    check_arity(name, args, (1,), location)
    if args[0].type_oid not in (argument_type, UNKNOWN):
        raise no_such_function(name, args, location)
    if not definitions:
        raise error_at('a column definition list is required for functions returning "record"',
                       "42601", location)
    document = coerce(builder, args[0], argument_type).fn

    def rows(ctx: ExecContext) -> list[Row]:
        value = document((), ctx)
        if value is None:
            return [(None,) * len(definitions)] if name.endswith("_record") else []
        return _records(name, value, definitions, ctx.session.timezone)
    return rows, tuple((column, type_oid) for column, type_oid, _ in definitions)


def values_in_select_list(builder: Any, name: str, args: list[Expr], location: int
                          ) -> tuple[Callable[[Row, ExecContext], Iterable[Any]], int]:
    """A call in a select list: one value per row (for two columns a record, its text)."""
    from mirrordb.sql.replication_functions import record_text
    rows = _compile(builder, name, args, location)
    columns = FUNCTIONS[name][1]
    if len(columns) == 2:
        def records(row: Row, ctx: ExecContext) -> Iterable[Any]:
            return [record_text(list(record)) for record in rows(row, ctx)]
        return records, T.RECORD_OID
    result = columns[0][1] if columns else TEXT

    def values(row: Row, ctx: ExecContext) -> Iterable[Any]:
        return [record[0] for record in rows(row, ctx)]
    return values, result


def rows_in_from(builder: Any, name: str, args: list[Expr]
                 ) -> tuple[Callable[[ExecContext], list[Row]], Columns] | None:
    """A call in FROM of a function with OUT parameters: (its rows, its columns); None when
    ``name`` is not one."""
    entry = FUNCTIONS.get(name)
    if entry is None or not entry[1] or len(args) != 1 or \
            args[0].type_oid not in (entry[0], UNKNOWN):
        return None   # set_returning.py's function_in_from reports it, pointing at the call
    rows = _compile(builder, name, args, -1)
    return (lambda ctx: rows((), ctx)), entry[1]


__all__ = ["FUNCTIONS", "NAMES", "RECORD_FUNCTIONS", "record_rows_in_from", "rows_in_from",
           "values_in_select_list"]
