"""JSON path and key operators and the json/jsonb functions applications use most, as in
PostgreSQL 15: #>, #>>, - (key, keys, index), #-, ?|, ?&; json(b)_extract_path(_text),
jsonb_set, jsonb_insert, json(b)_strip_nulls, jsonb_pretty, json(b)_object.

Who calls it: sql/operators.py adds ``OPERATOR_ROWS`` (pg_operator facts) and
``operator_implementations()`` to its table when it loads, which also imports this module and so
defines the functions below in sql/functions.py's registry. The set-returning functions
(json(b)_each, _array_elements, _object_keys) are in sql/json_set_functions.py; the older json
functions (->, ->>, @>, ?, ||, to_json, json(b)_build_*, the aggregates) live in
sql/operators.py, sql/functions.py and sql/aggregates.py.

Values: json is its text as written; jsonb is its canonical text (sql/types.py ``jsonb_text``).
jsonb work parses the text into Python values (objects become dicts; ``jsonb_text`` puts keys
back in jsonb's order: shorter first, then bytewise). json work keeps the written text of the
parts it returns, as PostgreSQL's json functions do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import types as T
from mirrordb.sql.functions import define
from mirrordb.sql.types import (BOOL_OID, INT4_OID, JSON_OID, JSONB_OID, TEXT_ARRAY_OID,
                                TEXT_OID)

_OBJECT_CLASS = type(T.json_value("{}"))   # how sql/types.py parses an object: ordered pairs
_MISSING = object()                        # a path that leads nowhere
_INTEGER = re.compile(r"\s*[+-]?[0-9]+")   # what strtol accepts whole, as PostgreSQL checks


# -- parsing and kinds ----------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A parsed JSON value with its objects as dicts (the last duplicate key wins)."""
    if isinstance(value, _OBJECT_CLASS):
        return {key: plain(item) for key, item in value}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def load(document: str) -> Any:
    """A jsonb (or json) text as Python values: dicts, lists, str, Decimal, bool, None."""
    return plain(T.json_value(document))


def kind_of(value: Any) -> str:
    """'object', 'array' or 'scalar' of a value from ``load``."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "scalar"


def as_text(value: Any) -> str | None:
    """->>'s text of a jsonb value: a string unquoted, null as NULL, others as jsonb text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return T.jsonb_text(value)


def array_index(element: str) -> int | None:
    """A path element naming an array position (None when it is not an integer)."""
    if not _INTEGER.fullmatch(element):
        return None
    return int(element)


def _not_an_integer(position: int, element: str) -> MirrordbError:
    return MirrordbError(f"path element at position {position} is not an integer: "
                         f"\"{element}\"", sqlstate="22P02")


# -- #> and #>>, json(b)_extract_path(_text) -------------------------------------------------------


def _jsonb_follow(value: Any, path: list[str | None]) -> Any:
    for element in path:
        if element is None:
            return _MISSING
        if isinstance(value, dict):
            if element not in value:
                return _MISSING
            value = value[element]
        elif isinstance(value, list):
            index = array_index(element)
            if index is None:
                return _MISSING
            if index < 0:
                index += len(value)
            if not 0 <= index < len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def jsonb_extract_path(document: str, path: list[str | None]) -> str | None:
    found = _jsonb_follow(load(document), path)
    return None if found is _MISSING else T.jsonb_text(found)


def jsonb_extract_path_text(document: str, path: list[str | None]) -> str | None:
    found = _jsonb_follow(load(document), path)
    return None if found is _MISSING else as_text(found)


def _json_follow(document: str, path: list[str | None]) -> str | None:
    """The written text of the json value at ``path`` (None: nothing there)."""
    from mirrordb.sql.operators import _json_member, _json_members
    current: str | None = document
    for element in path:
        if element is None or current is None:
            return None
        container, _ = _json_members(current)
        if container == "object":
            current = _json_member(current, element)
        elif container == "array":
            index = array_index(element)
            current = None if index is None else _json_member(current, index)
        else:
            return None
    return None if current is None else current.strip(" \t\n\r")


def json_extract_path(document: str, path: list[str | None]) -> str | None:
    if not path:
        return document
    return _json_follow(document, path)


def json_extract_path_text(document: str, path: list[str | None]) -> str | None:
    from mirrordb.sql.operators import _json_as_text
    return _json_as_text(_json_follow(document, path), False)


# -- jsonb_set, jsonb_insert, #- ------------------------------------------------------------------

_SET, _INSERT_BEFORE, _INSERT_AFTER, _DELETE = "set", "before", "after", "delete"


def _check_path(path: list[str | None]) -> None:
    for position, element in enumerate(path, start=1):
        if element is None:
            raise MirrordbError(f"path element at position {position} is null",
                                sqlstate="22004")


def _change_at(value: Any, path: list[str], level: int, new: Any, op: str,
               create: bool) -> Any:
    """``value`` (at depth ``level`` of ``path``) with the change made below it."""
    if isinstance(value, dict):
        return _change_object(value, path, level, new, op, create)
    if isinstance(value, list):
        return _change_array(value, path, level, new, op, create)
    return value


def _change_object(value: dict[str, Any], path: list[str], level: int, new: Any, op: str,
                   create: bool) -> dict[str, Any]:
    key, last = path[level], level == len(path) - 1
    result = dict(value)
    if key in value:
        if not last:
            result[key] = _change_at(value[key], path, level + 1, new, op, create)
        elif op == _DELETE:
            del result[key]
        elif op == _SET:
            result[key] = new
        else:
            raise MirrordbError("cannot replace existing key", sqlstate="22023",
                                hint="Try using the function jsonb_set to replace key value.")
    elif last and create and op != _DELETE:
        result[key] = new
    return result


def _change_array(value: list[Any], path: list[str], level: int, new: Any, op: str,
                  create: bool) -> list[Any]:
    element, last = path[level], level == len(path) - 1
    index = array_index(element)
    if index is None:
        raise _not_an_integer(level + 1, element)
    count = len(value)
    if index < 0:
        index = index + count if -index <= count else -1      # -1: before the first
    if 0 <= index < count:
        if not last:
            return [*value[:index], _change_at(value[index], path, level + 1, new, op, create),
                    *value[index + 1:]]
        if op == _DELETE:
            return [*value[:index], *value[index + 1:]]
        if op == _SET:
            return [*value[:index], new, *value[index + 1:]]
        at = index + 1 if op == _INSERT_AFTER else index
        return [*value[:at], new, *value[at:]]
    if last and create and op != _DELETE:
        return [new, *value] if index < 0 else [*value, new]
    return value


def _change(document: str, path: list[str | None], new: Any, op: str, create: bool,
            scalar_message: str) -> str:
    value = load(document)
    if kind_of(value) == "scalar":
        raise MirrordbError(scalar_message, sqlstate="22023")
    _check_path(path)
    if not path:
        return document
    return T.jsonb_text(_change_at(value, path, 0, new, op, create))  # type: ignore[arg-type]


def jsonb_set(document: str, path: list[str | None], new: str, create: bool = True) -> str:
    return _change(document, path, load(new), _SET, create, "cannot set path in scalar")


def jsonb_insert(document: str, path: list[str | None], new: str, after: bool = False) -> str:
    return _change(document, path, load(new), _INSERT_AFTER if after else _INSERT_BEFORE,
                   True, "cannot set path in scalar")


def jsonb_delete_path(document: str, path: list[str | None]) -> str:
    return _change(document, path, None, _DELETE, False, "cannot delete path in scalar")


# -- -, ?|, ?& ---------------------------------------------------------------------------------


def _deletable(document: str) -> Any:
    value = load(document)
    if kind_of(value) == "scalar":
        raise MirrordbError("cannot delete from scalar", sqlstate="22023")
    return value


def _without_keys(value: Any, keys: set[str]) -> str:
    if isinstance(value, dict):
        return T.jsonb_text({k: v for k, v in value.items() if k not in keys})
    return T.jsonb_text([item for item in value if not (isinstance(item, str) and item in keys)])


def jsonb_delete(document: str, key: Any) -> str:
    """jsonb - text (a key, or array strings equal to it) and jsonb - integer (a position)."""
    value = _deletable(document)
    if isinstance(key, str):
        return _without_keys(value, {key})
    if isinstance(value, dict):
        raise MirrordbError("cannot delete from object using integer index", sqlstate="22023")
    index = key + len(value) if key < 0 else key
    if not 0 <= index < len(value):
        return document
    return T.jsonb_text([*value[:index], *value[index + 1:]])


def jsonb_delete_array(document: str, keys: list[str | None]) -> str:
    value = _deletable(document)
    return _without_keys(value, {key for key in keys if key is not None})


def jsonb_exists_any(document: str, keys: list[str | None]) -> bool:
    from mirrordb.sql.operators import _jsonb_exists
    return any(_jsonb_exists(document, key) for key in keys if key is not None)


def jsonb_exists_all(document: str, keys: list[str | None]) -> bool:
    from mirrordb.sql.operators import _jsonb_exists
    return all(_jsonb_exists(document, key) for key in keys if key is not None)


# -- strip_nulls, pretty ---------------------------------------------------------------------------


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def jsonb_strip_nulls(document: str) -> str:
    return T.jsonb_text(_strip(load(document)))


def json_strip_nulls(document: str) -> str:
    """The json without object fields whose value is null, written compactly (PostgreSQL's
    form: no blanks; keys and strings re-escaped, numbers as written)."""
    from mirrordb.sql.operators import _JSON_DECODER, _json_members
    container, members = _json_members(document)
    if container == "scalar":
        token = document.strip(" \t\n\r")
        return T.json_quote(_JSON_DECODER.decode(token)) if token.startswith('"') else token
    parts = []
    for key, start, end in members:
        raw = document[start:end]
        if key is None:
            parts.append(json_strip_nulls(raw))
        elif raw != "null":
            parts.append(f"{T.json_quote(key)}:{json_strip_nulls(raw)}")
    opening, closing = ("{", "}") if container == "object" else ("[", "]")
    return opening + ",".join(parts) + closing


_INDENT = "    "


def _pretty(value: Any, depth: int) -> str:
    if isinstance(value, dict):
        lines = [f"{_INDENT * (depth + 1)}{T.json_quote(key)}: {_pretty(item, depth + 1)}"
                 for key, item in _jsonb_order(value)]
        opening, closing = "{", "}"
    elif isinstance(value, list):
        lines = [_INDENT * (depth + 1) + _pretty(item, depth + 1) for item in value]
        opening, closing = "[", "]"
    else:
        return T.jsonb_text(value)
    body = ",\n".join(lines) + "\n" if lines else ""
    return f"{opening}\n{body}{_INDENT * depth}{closing}"


def _jsonb_order(value: dict[str, Any]) -> list[tuple[str, Any]]:
    return sorted(value.items(), key=lambda pair: (len(pair[0].encode("utf-8")),
                                                   pair[0].encode("utf-8")))


def jsonb_pretty(document: str) -> str:
    return _pretty(load(document), 0)


# -- json_object, jsonb_object ---------------------------------------------------------------------


def _object_pairs(keys: list[str | None], values: list[str | None]) -> list[tuple[str, Any]]:
    pairs = []
    for key, value in zip(keys, values):
        if key is None:
            raise MirrordbError("null value not allowed for object key", sqlstate="22004")
        pairs.append((key, value))
    return pairs


def _pairs_of(flat: list[str | None]) -> list[tuple[str, Any]]:
    if len(flat) % 2:
        raise MirrordbError("array must have even number of elements", sqlstate="2202E")
    return _object_pairs(flat[0::2], flat[1::2])


def _keys_values(keys: list[str | None], values: list[str | None]) -> list[tuple[str, Any]]:
    if len(keys) != len(values):
        raise MirrordbError("mismatched array dimensions", sqlstate="2202E")
    return _object_pairs(keys, values)


def _json_object_text(pairs: list[tuple[str, Any]]) -> str:
    return "{" + ", ".join(f"{T.json_quote(key)} : "
                           f"{'null' if value is None else T.json_quote(value)}"
                           for key, value in pairs) + "}"


def _jsonb_object_text(pairs: list[tuple[str, Any]]) -> str:
    return T.jsonb_text(dict(pairs))


# -- records -------------------------------------------------------------------------------------


def record_json(record: Any, pretty: bool = False) -> str:
    """row_to_json / to_json of a record (sql/types.py RowRecord): its fields by name, in
    column order, each as to_json makes it (NULL as null); ``pretty``: a line per field."""
    from mirrordb.sql.functions import _json_scalar_text
    if isinstance(record, str):           # a record known only by its text
        return T.json_quote(record)
    fields = [f"{T.json_quote(name)}:"
              f"{'null' if value is None else _json_scalar_text(type_oid)(value)}"
              for value, (name, type_oid) in zip(record, record.columns)]
    return "{" + (",\n " if pretty else ",").join(fields) + "}"


# -- registration ----------------------------------------------------------------------------------

# (oid, name, left type, right type, result type, oprcode), PostgreSQL 15's pg_operator rows.
OPERATOR_ROWS: list[tuple[int, str, int, int, int, str]] = [
    (3213, "#>", JSONB_OID, TEXT_ARRAY_OID, JSONB_OID, "jsonb_extract_path"),
    (3206, "#>>", JSONB_OID, TEXT_ARRAY_OID, TEXT_OID, "jsonb_extract_path_text"),
    (3966, "#>", JSON_OID, TEXT_ARRAY_OID, JSON_OID, "json_extract_path"),
    (3967, "#>>", JSON_OID, TEXT_ARRAY_OID, TEXT_OID, "json_extract_path_text"),
    (3285, "-", JSONB_OID, TEXT_OID, JSONB_OID, "pg_catalog.jsonb_delete"),
    (3286, "-", JSONB_OID, INT4_OID, JSONB_OID, "pg_catalog.jsonb_delete"),
    (3398, "-", JSONB_OID, TEXT_ARRAY_OID, JSONB_OID, "pg_catalog.jsonb_delete_array"),
    (3287, "#-", JSONB_OID, TEXT_ARRAY_OID, JSONB_OID, "jsonb_delete_path"),
    (3248, "?|", JSONB_OID, TEXT_ARRAY_OID, BOOL_OID, "jsonb_exists_any"),
    (3249, "?&", JSONB_OID, TEXT_ARRAY_OID, BOOL_OID, "jsonb_exists_all"),
]


def operator_implementations() -> dict[str, Callable[..., Any]]:
    """The implementations of ``OPERATOR_ROWS`` by oprcode."""
    return {
        "jsonb_extract_path": jsonb_extract_path,
        "jsonb_extract_path_text": jsonb_extract_path_text,
        "json_extract_path": json_extract_path,
        "json_extract_path_text": json_extract_path_text,
        "pg_catalog.jsonb_delete": jsonb_delete,
        "pg_catalog.jsonb_delete_array": jsonb_delete_array,
        "jsonb_delete_path": jsonb_delete_path,
        "jsonb_exists_any": jsonb_exists_any, "jsonb_exists_all": jsonb_exists_all,
    }


def _variadic_path(function: Callable[[str, list[str | None]], str | None]
                   ) -> Callable[..., str | None]:
    return lambda document, *path: function(document, list(path))


def _define_functions() -> None:
    for name, impl, result in (
            ("json_extract_path", json_extract_path, JSON_OID),
            ("json_extract_path_text", json_extract_path_text, TEXT_OID),
            ("jsonb_extract_path", jsonb_extract_path, JSONB_OID),
            ("jsonb_extract_path_text", jsonb_extract_path_text, TEXT_OID)):
        argument = JSONB_OID if name.startswith("jsonb") else JSON_OID
        define(name, [argument, TEXT_OID], result, _variadic_path(impl), variadic_type=TEXT_OID)
    define("jsonb_set", [JSONB_OID, TEXT_ARRAY_OID, JSONB_OID], JSONB_OID, jsonb_set)
    define("jsonb_set", [JSONB_OID, TEXT_ARRAY_OID, JSONB_OID, BOOL_OID], JSONB_OID, jsonb_set)
    define("jsonb_insert", [JSONB_OID, TEXT_ARRAY_OID, JSONB_OID], JSONB_OID, jsonb_insert)
    define("jsonb_insert", [JSONB_OID, TEXT_ARRAY_OID, JSONB_OID, BOOL_OID], JSONB_OID,
           jsonb_insert)
    define("jsonb_strip_nulls", [JSONB_OID], JSONB_OID, jsonb_strip_nulls)
    define("json_strip_nulls", [JSON_OID], JSON_OID, json_strip_nulls)
    define("jsonb_pretty", [JSONB_OID], TEXT_OID, jsonb_pretty)
    define("row_to_json", [T.RECORD_OID], JSON_OID, record_json, volatility="s")
    define("row_to_json", [T.RECORD_OID, BOOL_OID], JSON_OID, record_json, volatility="s")
    define("json_object", [TEXT_ARRAY_OID], JSON_OID,
           lambda flat: _json_object_text(_pairs_of(flat)))
    define("jsonb_object", [TEXT_ARRAY_OID], JSONB_OID,
           lambda flat: _jsonb_object_text(_pairs_of(flat)))
    define("json_object", [TEXT_ARRAY_OID, TEXT_ARRAY_OID], JSON_OID,
           lambda keys, values: _json_object_text(_keys_values(keys, values)))
    define("jsonb_object", [TEXT_ARRAY_OID, TEXT_ARRAY_OID], JSONB_OID,
           lambda keys, values: _jsonb_object_text(_keys_values(keys, values)))


_define_functions()

__all__ = ["OPERATOR_ROWS", "as_text", "array_index", "kind_of", "load",
           "operator_implementations", "plain", "record_json"]
