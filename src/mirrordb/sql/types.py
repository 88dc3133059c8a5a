"""The SQL type system: PostgreSQL 15's types, their text and binary forms, casts and resolution.

Who calls it: the analyzer and planner (type names from pglast's TypeName, casts, common types of
CASE/UNION/VALUES), the executor (casts and comparisons per row), the session and protocol layer
(parameters arrive as text or binary; results leave as text or binary), ``operators.py``,
``functions.py`` and ``aggregates.py`` (which build on the casts and categories here). Everything
is a pure function of its arguments and of two per-thread session values held in context
variables: the session time zone (``set_session_timezone``; operators on timestamptz read it) and
the catalog lookup for regclass/regnamespace/regrole names (``set_catalog_lookup``).

Runtime values are the storage row codec's (storage/datum.py): bool, int, float, str, bytes,
decimal.Decimal, datetime.date/time/datetime (naive = timestamp, aware UTC = timestamptz),
``Interval``, uuid.UUID; json and jsonb are str; arrays (and int2vector/oidvector) are Python
lists of their element values; NULL is None. "char" (18) is a str of at most one character.

The catalog facts (``TYPES``: PostgreSQL's pg_type rows for the supported types; ``_PG_CAST``:
its pg_cast rows) were read from a PostgreSQL 15 catalog. Text formats follow the types'
``*in``/``*out`` functions (see numeric.py and datetime.py for numbers and dates). Binary formats
follow ``*recv``/``*send``; all integers big-endian::

    bool                 1 byte, 0 or 1
    int2/int4/int8       2/4/8 bytes signed
    oid, xid, cid, reg*  4 bytes unsigned
    float4/float8        IEEE 754, 4/8 bytes
    text, varchar, bpchar, name, unknown, json, "char"   the UTF-8 bytes, no terminator
    jsonb                1 byte version (1), then the UTF-8 text
    bytea                the bytes
    date                 int32 days since 2000-01-01
    time                 int64 microseconds since midnight
    timestamp(tz)        int64 microseconds since 2000-01-01 00:00:00 (UTC for timestamptz)
    interval             int64 microseconds, int32 days, int32 months
    numeric              see numeric.py (base-10000 digits, weight, sign, dscale)
    uuid                 16 bytes
    pg_lsn               uint64
    arrays, int2vector, oidvector:
        int32 ndim (0 or 1 here), int32 flags (1 = has NULLs), uint32 element type OID,
        per dimension: int32 length, int32 lower bound (1),
        per element: int32 length (-1 = NULL) then that many bytes of the element's format
"""

from __future__ import annotations

import contextvars
import datetime
import decimal
import functools
import json
import re
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.sql import datetime as dt
from mirrordb.sql import numeric as num
from mirrordb.sql.json_input import parse_json_input
from mirrordb.storage import datum
from mirrordb.storage.datum import (BOOL_OID, BPCHAR_OID, BYTEA_OID, DATE_OID, FLOAT4_OID,
                                    FLOAT8_OID, INT2_OID, INT4_OID, INT8_OID, INTERVAL_OID,
                                    JSON_OID, JSONB_OID, NAME_OID, NUMERIC_OID, OID_OID,
                                    PG_LSN_OID, TEXT_OID, TIME_OID, TIMESTAMP_OID,
                                    TIMESTAMPTZ_OID, UUID_OID, VARCHAR_OID, XID_OID, Interval)

__all__ = [
    "BOOL_OID", "BPCHAR_OID", "BYTEA_OID", "DATE_OID", "FLOAT4_OID", "FLOAT8_OID", "INT2_OID",
    "INT4_OID", "INT8_OID", "INTERVAL_OID", "JSON_OID", "JSONB_OID", "NAME_OID", "NUMERIC_OID",
    "OID_OID", "PG_LSN_OID", "TEXT_OID", "TIME_OID", "TIMESTAMP_OID", "TIMESTAMPTZ_OID",
    "UUID_OID", "VARCHAR_OID", "XID_OID", "Interval",
]

# -- type OIDs beyond the storage codec's ----------------------------------------------------------

CHAR_OID = 18                  # "char": one byte
INT2VECTOR_OID = 22
REGPROC_OID = 24
CID_OID = 29
OIDVECTOR_OID = 30
UNKNOWN_OID = 705              # an untyped string literal
CSTRING_OID = 2275
RECORD_OID = 2249
ANY_OID = 2276                 # "any": any type, no coercion
ANYARRAY_OID = 2277
VOID_OID = 2278
ANYELEMENT_OID = 2283
ANYNONARRAY_OID = 2776
ANYCOMPATIBLE_OID = 5077
ANYCOMPATIBLEARRAY_OID = 5078
REGPROCEDURE_OID = 2202
REGCLASS_OID = 2205
REGTYPE_OID = 2206
REGNAMESPACE_OID = 4089
REGROLE_OID = 4096

BOOL_ARRAY_OID = 1000
BYTEA_ARRAY_OID = 1001
CHAR_ARRAY_OID = 1002
NAME_ARRAY_OID = 1003
INT2_ARRAY_OID = 1005
INT2VECTOR_ARRAY_OID = 1006
INT4_ARRAY_OID = 1007
REGPROC_ARRAY_OID = 1008
TEXT_ARRAY_OID = 1009
XID_ARRAY_OID = 1011
CID_ARRAY_OID = 1012
OIDVECTOR_ARRAY_OID = 1013
BPCHAR_ARRAY_OID = 1014
VARCHAR_ARRAY_OID = 1015
INT8_ARRAY_OID = 1016
FLOAT4_ARRAY_OID = 1021
FLOAT8_ARRAY_OID = 1022
OID_ARRAY_OID = 1028
TIMESTAMP_ARRAY_OID = 1115
DATE_ARRAY_OID = 1182
TIME_ARRAY_OID = 1183
TIMESTAMPTZ_ARRAY_OID = 1185
INTERVAL_ARRAY_OID = 1187
NUMERIC_ARRAY_OID = 1231
CSTRING_ARRAY_OID = 1263
JSON_ARRAY_OID = 199
UUID_ARRAY_OID = 2951
PG_LSN_ARRAY_OID = 3221
JSONB_ARRAY_OID = 3807
REGPROCEDURE_ARRAY_OID = 2207
REGCLASS_ARRAY_OID = 2210
REGTYPE_ARRAY_OID = 2211
REGNAMESPACE_ARRAY_OID = 4090
REGROLE_ARRAY_OID = 4097
RECORD_ARRAY_OID = 2287

# -- limits ----------------------------------------------------------------------------------------

MAX_ARRAY_ELEMENTS = 1_000_000         # PostgreSQL's MaxArraySize is larger; we bound memory
MAX_VARCHAR_LENGTH = 10_485_760        # PostgreSQL's MaxAttrSize for varchar(n)/char(n)
VARHDRSZ = 4                           # added to varchar/bpchar typmods
NAME_MAX_BYTES = datum.NAME_MAX_BYTES  # NAMEDATALEN - 1
INTERVAL_FULL_RANGE = 0x7FFF
INTERVAL_FULL_PRECISION = 0xFFFF
MAX_TYPE_NAME_CHARS = 1024

_WHITESPACE = " \t\n\r\v\f"

# -- struct formats of the binary forms ------------------------------------------------------------

_INT2 = struct.Struct(">h")
_INT4 = struct.Struct(">i")
_INT8 = struct.Struct(">q")
_UINT4 = struct.Struct(">I")
_UINT8 = struct.Struct(">Q")
_FLOAT4 = struct.Struct(">f")
_FLOAT8 = struct.Struct(">d")
_INTERVAL = struct.Struct(">qii")          # microseconds, days, months
_ARRAY_HEADER = struct.Struct(">iiI")      # ndim, flags, element type
_ARRAY_DIMENSION = struct.Struct(">ii")    # length, lower bound
_RECORD_FIELD = struct.Struct(">Ii")      # a record field's type OID and length (-1: NULL)
JSONB_VERSION = 1
assert _INTERVAL.size == 16 and _ARRAY_HEADER.size == 12 and _ARRAY_DIMENSION.size == 8


# -- the type table --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """One pg_type row (the columns the SQL layer and psql's catalog queries need)."""

    oid: int
    name: str                  # pg_type.typname
    sql_name: str              # format_type(oid, NULL)
    length: int                # typlen: bytes, -1 varlena, -2 C string
    by_value: bool             # typbyval
    category: str              # typcategory letter
    preferred: bool            # typispreferred
    array_oid: int             # typarray (0: none)
    element_oid: int           # typelem (0: not an array)
    alignment: str             # typalign: 'c', 's', 'i', 'd'
    input_name: str            # typinput
    output_name: str           # typoutput
    type_type: str = "b"       # typtype: 'b' base, 'p' pseudo-type
    receive_name: str = "-"    # typreceive
    send_name: str = "-"       # typsend

    @property
    def is_array(self) -> bool:
        return self.category == "A"


def _base(oid: int, name: str, sql_name: str, length: int, by_value: bool, category: str,
          preferred: bool, array_oid: int, element_oid: int, alignment: str, input_name: str,
          output_name: str) -> TypeInfo:
    stem = input_name[:-2]              # 'boolin' -> 'bool', 'date_in' -> 'date_'
    return TypeInfo(oid, name, sql_name, length, by_value, category, preferred, array_oid,
                    element_oid, alignment, input_name, output_name, "b", stem + "recv",
                    stem + "send")


_PSEUDO_WITH_BINARY = frozenset({705, 2275, 2249, 2277, 2278, 5078})


def _pseudo(oid: int, name: str, sql_name: str, length: int, by_value: bool, alignment: str,
            array_oid: int = 0) -> TypeInfo:
    stem = "unknown" if oid == UNKNOWN_OID else name + "_"
    receive = stem + "recv" if oid in _PSEUDO_WITH_BINARY else "-"
    send = stem + "send" if oid in _PSEUDO_WITH_BINARY else "-"
    return TypeInfo(oid, name, sql_name, length, by_value, "X" if oid == UNKNOWN_OID else "P",
                    False, array_oid, 0, alignment, stem + "in", stem + "out", "p", receive,
                    send)


def _array(oid: int, element: TypeInfo) -> TypeInfo:
    alignment = "d" if element.alignment == "d" else "i"
    return TypeInfo(oid, "_" + element.name, element.sql_name + "[]", -1, False, "A", False, 0,
                    element.oid, alignment, "array_in", "array_out", "b", "array_recv",
                    "array_send")


_BASE_TYPES = [
    _base(BOOL_OID, "bool", "boolean", 1, True, "B", True, 1000, 0, "c", "boolin", "boolout"),
    _base(BYTEA_OID, "bytea", "bytea", -1, False, "U", False, 1001, 0, "i", "byteain",
          "byteaout"),
    _base(CHAR_OID, "char", '"char"', 1, True, "Z", False, 1002, 0, "c", "charin", "charout"),
    _base(NAME_OID, "name", "name", 64, False, "S", False, 1003, CHAR_OID, "c", "namein",
          "nameout"),
    _base(INT8_OID, "int8", "bigint", 8, True, "N", False, 1016, 0, "d", "int8in", "int8out"),
    _base(INT2_OID, "int2", "smallint", 2, True, "N", False, 1005, 0, "s", "int2in", "int2out"),
    _base(INT2VECTOR_OID, "int2vector", "int2vector", -1, False, "A", False, 1006, INT2_OID,
          "i", "int2vectorin", "int2vectorout"),
    _base(INT4_OID, "int4", "integer", 4, True, "N", False, 1007, 0, "i", "int4in", "int4out"),
    _base(REGPROC_OID, "regproc", "regproc", 4, True, "N", False, 1008, 0, "i", "regprocin",
          "regprocout"),
    _base(TEXT_OID, "text", "text", -1, False, "S", True, 1009, 0, "i", "textin", "textout"),
    _base(OID_OID, "oid", "oid", 4, True, "N", True, 1028, 0, "i", "oidin", "oidout"),
    _base(XID_OID, "xid", "xid", 4, True, "U", False, 1011, 0, "i", "xidin", "xidout"),
    _base(CID_OID, "cid", "cid", 4, True, "U", False, 1012, 0, "i", "cidin", "cidout"),
    _base(OIDVECTOR_OID, "oidvector", "oidvector", -1, False, "A", False, 1013, OID_OID, "i",
          "oidvectorin", "oidvectorout"),
    _base(JSON_OID, "json", "json", -1, False, "U", False, 199, 0, "i", "json_in", "json_out"),
    _base(FLOAT4_OID, "float4", "real", 4, True, "N", False, 1021, 0, "i", "float4in",
          "float4out"),
    _base(FLOAT8_OID, "float8", "double precision", 8, True, "N", True, 1022, 0, "d",
          "float8in", "float8out"),
    _base(BPCHAR_OID, "bpchar", "character", -1, False, "S", False, 1014, 0, "i", "bpcharin",
          "bpcharout"),
    _base(VARCHAR_OID, "varchar", "character varying", -1, False, "S", False, 1015, 0, "i",
          "varcharin", "varcharout"),
    _base(DATE_OID, "date", "date", 4, True, "D", False, 1182, 0, "i", "date_in", "date_out"),
    _base(TIME_OID, "time", "time without time zone", 8, True, "D", False, 1183, 0, "d",
          "time_in", "time_out"),
    _base(TIMESTAMP_OID, "timestamp", "timestamp without time zone", 8, True, "D", False, 1115,
          0, "d", "timestamp_in", "timestamp_out"),
    _base(TIMESTAMPTZ_OID, "timestamptz", "timestamp with time zone", 8, True, "D", True, 1185,
          0, "d", "timestamptz_in", "timestamptz_out"),
    _base(INTERVAL_OID, "interval", "interval", 16, False, "T", True, 1187, 0, "d",
          "interval_in", "interval_out"),
    _base(NUMERIC_OID, "numeric", "numeric", -1, False, "N", False, 1231, 0, "i", "numeric_in",
          "numeric_out"),
    _base(REGPROCEDURE_OID, "regprocedure", "regprocedure", 4, True, "N", False, 2207, 0, "i",
          "regprocedurein", "regprocedureout"),
    _base(REGCLASS_OID, "regclass", "regclass", 4, True, "N", False, 2210, 0, "i", "regclassin",
          "regclassout"),
    _base(REGTYPE_OID, "regtype", "regtype", 4, True, "N", False, 2211, 0, "i", "regtypein",
          "regtypeout"),
    _base(UUID_OID, "uuid", "uuid", 16, False, "U", False, 2951, 0, "c", "uuid_in", "uuid_out"),
    _base(PG_LSN_OID, "pg_lsn", "pg_lsn", 8, True, "U", False, 3221, 0, "d", "pg_lsn_in",
          "pg_lsn_out"),
    _base(JSONB_OID, "jsonb", "jsonb", -1, False, "U", False, 3807, 0, "i", "jsonb_in",
          "jsonb_out"),
    _base(REGNAMESPACE_OID, "regnamespace", "regnamespace", 4, True, "N", False, 4090, 0, "i",
          "regnamespacein", "regnamespaceout"),
    _base(REGROLE_OID, "regrole", "regrole", 4, True, "N", False, 4097, 0, "i", "regrolein",
          "regroleout"),
]

_PSEUDO_TYPES = [
    _pseudo(UNKNOWN_OID, "unknown", "unknown", -2, False, "c"),
    _pseudo(RECORD_OID, "record", "record", -1, False, "d", array_oid=RECORD_ARRAY_OID),
    _pseudo(CSTRING_OID, "cstring", "cstring", -2, False, "c", array_oid=CSTRING_ARRAY_OID),
    _pseudo(ANY_OID, "any", '"any"', 4, True, "i"),
    _pseudo(ANYARRAY_OID, "anyarray", "anyarray", -1, False, "d"),
    _pseudo(VOID_OID, "void", "void", 4, True, "i"),
    _pseudo(ANYELEMENT_OID, "anyelement", "anyelement", 4, True, "i"),
    _pseudo(ANYNONARRAY_OID, "anynonarray", "anynonarray", 4, True, "i"),
    _pseudo(ANYCOMPATIBLE_OID, "anycompatible", "anycompatible", 4, True, "i"),
    _pseudo(ANYCOMPATIBLEARRAY_OID, "anycompatiblearray", "anycompatiblearray", -1, False, "d"),
]


def _build_type_table() -> dict[int, TypeInfo]:
    table = {info.oid: info for info in _BASE_TYPES + _PSEUDO_TYPES}
    for info in _BASE_TYPES:
        if info.array_oid:
            table[info.array_oid] = _array(info.array_oid, info)
    cstring = table[CSTRING_OID]
    table[CSTRING_ARRAY_OID] = _array(CSTRING_ARRAY_OID, cstring)
    record_array = _array(RECORD_ARRAY_OID, table[RECORD_OID])
    table[RECORD_ARRAY_OID] = TypeInfo(**{**_fields(record_array), "category": "P",
                                          "type_type": "p"})
    return table


def _fields(info: TypeInfo) -> dict[str, Any]:
    return {name: getattr(info, name) for name in TypeInfo.__slots__}  # type: ignore[attr-defined]


FIRST_USER_TYPE_OID = 16384     # FirstNormalObjectId: every OID from here is a user type's


class _TypeTable(dict):  # type: ignore[type-arg]
    """The built-in types by OID, and (``get``, ``[]``, ``in``) the user-defined types the
    session's catalog holds (``set_user_types``); iteration sees only the built-in ones."""

    def get(self, oid: Any, default: Any = None) -> Any:
        found = dict.get(self, oid)
        if found is None and isinstance(oid, int) and oid >= FIRST_USER_TYPE_OID:
            source = _USER_TYPES.get()
            found = source.info(oid) if source is not None else None
        return default if found is None else found

    def __missing__(self, oid: Any) -> TypeInfo:
        found = self.get(oid)
        if found is None:
            raise KeyError(oid)
        return found  # type: ignore[no-any-return]

    def __contains__(self, oid: object) -> bool:
        return self.get(oid) is not None


TYPES: dict[int, TypeInfo] = _TypeTable(_build_type_table())
TYPES_BY_NAME: dict[str, int] = {info.name: info.oid for info in TYPES.values()}

POLYMORPHIC_OIDS = frozenset({ANYELEMENT_OID, ANYARRAY_OID, ANYNONARRAY_OID,
                              ANYCOMPATIBLE_OID, ANYCOMPATIBLEARRAY_OID})
STRING_OIDS = frozenset({TEXT_OID, VARCHAR_OID, BPCHAR_OID, NAME_OID})
INTEGER_OIDS = frozenset({INT2_OID, INT4_OID, INT8_OID})
REG_OIDS = frozenset({REGPROC_OID, REGPROCEDURE_OID, REGCLASS_OID, REGTYPE_OID,
                      REGNAMESPACE_OID, REGROLE_OID})
_ARRAY_LIKE_OIDS = frozenset({INT2VECTOR_OID, OIDVECTOR_OID})


class UserTypes(Protocol):
    """The user-defined types (enums, domains, their arrays) a session's catalog holds, as the
    type system needs them; sql/user_types.py supplies it per statement."""

    def info(self, oid: int) -> TypeInfo | None:
        """The pg_type facts of user type ``oid`` (None: no such type)."""

    def oid_by_name(self, schema: str | None, name: str) -> int | None:
        """The type a (schema-qualified or search-path) name means, None if none."""

    def base_type(self, oid: int) -> int:
        """A domain's base type (through domains over domains); any other type itself."""

    def input_function(self, oid: int) -> Callable[[str, int, str], Any] | None:
        """The input function of an enum or domain (None: not a user type)."""

    def output_function(self, oid: int) -> Callable[[Any, str], str] | None:
        """The output function of an enum or domain (None: not a user type)."""

    def sort_key(self, oid: int) -> Callable[[Any], Any] | None:
        """An enum's label order (None: not an enum)."""

    def display_name(self, oid: int) -> str:
        """format_type's name: schema-qualified unless the search path finds it."""

    def domain_check(self, oid: int) -> Callable[[Any], Any] | None:
        """A domain's constraints as a function value -> value (None: not a domain)."""


_USER_TYPES: contextvars.ContextVar[UserTypes | None] = contextvars.ContextVar(
    "mirrordb_user_types", default=None)


def set_user_types(source: UserTypes | None) -> None:
    """Install the session's user-defined types for this thread (sql/user_types.py)."""
    _USER_TYPES.set(source)


def user_types() -> UserTypes | None:
    return _USER_TYPES.get()


def base_type(oid: int) -> int:
    """getBaseType: a domain's base type; any other type itself."""
    source = _USER_TYPES.get()
    if oid < FIRST_USER_TYPE_OID or source is None:
        return oid
    return source.base_type(oid)


def type_info(oid: int) -> TypeInfo:
    info = TYPES.get(oid)
    if info is None:
        raise MirrordbError(f"cache lookup failed for type {oid}", sqlstate="XX000")
    return info


def array_type_of(element_oid: int) -> int:
    """The array type of an element type (0 if there is none; a table's row type has
    record[] here, where PostgreSQL has the table's own array type)."""
    if element_oid in _ROW_TYPE_OIDS:
        return RECORD_ARRAY_OID
    info = TYPES.get(element_oid)
    return info.array_oid if info is not None else 0


def element_type_of(array_oid: int) -> int:
    """The element type of an array type (0 if ``array_oid`` is not an array; record[]'s is
    record)."""
    if array_oid == RECORD_ARRAY_OID:
        return RECORD_OID
    info = TYPES.get(array_oid)
    return info.element_oid if info is not None and info.category == "A" else 0


def is_array_type(oid: int) -> bool:
    info = TYPES.get(oid)
    return info is not None and info.category == "A" and oid not in _ARRAY_LIKE_OIDS


# -- per-thread session state ----------------------------------------------------------------------


class CatalogLookup(Protocol):
    """Name <-> OID lookups of catalog objects, supplied by the session (it owns the catalog)."""

    def oid_of(self, type_oid: int, name: str) -> int:
        """The OID named ``name`` for regclass/regnamespace/regrole; raises if there is none."""

    def name_of(self, type_oid: int, oid: int) -> str | None:
        """The (quoted if needed) name of an object, or None if it does not exist."""


_SESSION_TIMEZONE: contextvars.ContextVar[str] = contextvars.ContextVar("mirrordb_timezone",
                                                                       default="UTC")
_CATALOG_LOOKUP: contextvars.ContextVar[CatalogLookup | None] = contextvars.ContextVar(
    "mirrordb_catalog_lookup", default=None)


def set_session_timezone(timezone: str) -> None:
    """Make ``timezone`` the zone that timestamptz operators of this thread work in. The session
    calls it whenever its TimeZone setting changes (and when a backend thread starts)."""
    dt.get_zone(timezone)
    _SESSION_TIMEZONE.set(timezone)


def session_timezone() -> str:
    return _SESSION_TIMEZONE.get()


def set_catalog_lookup(lookup: CatalogLookup | None) -> None:
    """Install the session's catalog lookup for regclass/regnamespace/regrole I/O (per thread)."""
    _CATALOG_LOOKUP.set(lookup)


# -- errors ----------------------------------------------------------------------------------------


def invalid_text(type_name: str, text: str) -> MirrordbError:
    return MirrordbError(f'invalid input syntax for type {type_name}: "{text}"',
                         sqlstate="22P02")


def bad_binary() -> MirrordbError:
    return MirrordbError("incorrect binary data format", sqlstate="22P03")


def undefined_type(name: str) -> MirrordbError:
    return MirrordbError(f'type "{name}" does not exist', sqlstate="42704")


def cannot_cast(source_oid: int, target_oid: int) -> MirrordbError:
    return MirrordbError(f"cannot cast type {format_type(source_oid)} to "
                         f"{format_type(target_oid)}", sqlstate="42846")


def _bad_encoding(text: str) -> MirrordbError:
    bad = next((c for c in text if c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF), "\x00")
    return MirrordbError(f'invalid byte sequence for encoding "UTF8": 0x{ord(bad):02x}',
                         sqlstate="22021")


def _check_text(text: str) -> str:
    if "\x00" in text:
        raise _bad_encoding(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad_encoding(text) from None
    return text


# -- type names ------------------------------------------------------------------------------------

_TYPE_ALIASES: dict[str, int] = {
    "int": INT4_OID, "integer": INT4_OID, "smallint": INT2_OID, "bigint": INT8_OID,
    "serial": INT4_OID, "serial4": INT4_OID, "bigserial": INT8_OID, "serial8": INT8_OID,
    "smallserial": INT2_OID, "serial2": INT2_OID, "real": FLOAT4_OID,
    "double precision": FLOAT8_OID, "float": FLOAT8_OID, "decimal": NUMERIC_OID,
    "dec": NUMERIC_OID, "boolean": BOOL_OID, "character varying": VARCHAR_OID,
    "char varying": VARCHAR_OID, "character": BPCHAR_OID, '"char"': CHAR_OID,
    "timestamp without time zone": TIMESTAMP_OID, "timestamp with time zone": TIMESTAMPTZ_OID,
    "time without time zone": TIME_OID, '"any"': ANY_OID,
}
_SERIAL_NAMES = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial",
                           "serial2"})


def resolve_type_name(names: Sequence[str], typmods: Sequence[int | str],
                      array_bounds: int = 0) -> tuple[int, int]:
    """(type OID, typmod) of a TypeName from pglast: ``names`` are its name pieces (schema
    optional), ``typmods`` its modifiers, ``array_bounds`` the number of [] suffixes."""
    invariant(len(names) >= 1, "resolve_type_name: a type name has at least one piece")
    pieces = [piece for piece in names]
    schema = pieces[0].lower() if len(pieces) > 1 else None
    name = pieces[-1]
    display = ".".join(pieces)
    if len(display) > MAX_TYPE_NAME_CHARS or len(pieces) > 3:
        raise undefined_type(display[:MAX_TYPE_NAME_CHARS])
    source = _USER_TYPES.get()
    oid = (_type_oid_by_name(name.lower(), typmods)
           if schema in (None, "pg_catalog", "public") else None)
    if oid is None and source is not None and schema != "pg_catalog":
        oid = source.oid_by_name(schema, name)
        if oid is not None:
            if array_bounds:
                array_oid = array_type_of(oid)
                if not array_oid:
                    raise undefined_type(display + "[]")
                return array_oid, -1
            return oid, -1
    if oid is None:
        raise undefined_type(display)
    typmod = _typmod_for(oid, name.lower(), [_typmod_value(value) for value in typmods])
    if array_bounds:
        array_oid = array_type_of(oid)
        if not array_oid:
            raise undefined_type(display + "[]")
        return array_oid, typmod
    return oid, typmod


def _type_oid_by_name(name: str, typmods: Sequence[int | str]) -> int | None:
    if name == "float" and typmods:
        bits = _typmod_value(typmods[0])
        if bits < 1:
            raise MirrordbError("precision for type float must be at least 1 bit",
                                sqlstate="22023")
        if bits > 53:
            raise MirrordbError("precision for type float must be less than 54 bits",
                                sqlstate="22023")
        return FLOAT4_OID if bits <= 24 else FLOAT8_OID
    if name in _TYPE_ALIASES:
        return _TYPE_ALIASES[name]
    oid = TYPES_BY_NAME.get(name)
    if oid is None and name.startswith('"') and name.endswith('"'):
        oid = TYPES_BY_NAME.get(name[1:-1])
    return oid


def _typmod_value(value: int | str) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise MirrordbError("type modifiers must be simple constants or identifiers",
                            sqlstate="22023") from None


def _typmod_for(oid: int, name: str, typmods: list[int]) -> int:
    if name == "float" or name in _SERIAL_NAMES:
        return -1
    if oid in (VARCHAR_OID, BPCHAR_OID):
        if not typmods:
            return 1 + VARHDRSZ if name == "character" else -1
        return _length_typmod(oid, typmods)
    if oid == NUMERIC_OID:
        return _numeric_typmod(typmods)
    if oid in (TIMESTAMP_OID, TIMESTAMPTZ_OID, TIME_OID):
        return _precision_typmod(oid, typmods)
    if oid == INTERVAL_OID:
        return _interval_typmod(typmods)
    if typmods:
        raise MirrordbError(f'type modifier is not allowed for type "{TYPES[oid].name}"',
                            sqlstate="42601")
    return -1


def _length_typmod(oid: int, typmods: list[int]) -> int:
    if len(typmods) != 1:
        raise MirrordbError("invalid type modifier", sqlstate="22023")
    length = typmods[0]
    kind = "varchar" if oid == VARCHAR_OID else "char"
    if length < 1:
        raise MirrordbError(f"length for type {kind} must be at least 1", sqlstate="22023")
    if length > MAX_VARCHAR_LENGTH:
        raise MirrordbError(f"length for type {kind} cannot exceed {MAX_VARCHAR_LENGTH}",
                            sqlstate="22023")
    return length + VARHDRSZ


def _numeric_typmod(typmods: list[int]) -> int:
    if not typmods:
        return -1
    if len(typmods) > 2:
        raise MirrordbError("invalid NUMERIC type modifier", sqlstate="22023")
    precision = typmods[0]
    scale = typmods[1] if len(typmods) == 2 else 0
    if not 1 <= precision <= num.NUMERIC_MAX_PRECISION:
        raise MirrordbError(f"NUMERIC precision {precision} must be between 1 and "
                            f"{num.NUMERIC_MAX_PRECISION}", sqlstate="22023")
    if not -num.NUMERIC_MAX_PRECISION <= scale <= num.NUMERIC_MAX_PRECISION:
        raise MirrordbError(f"NUMERIC scale {scale} must be between "
                            f"{-num.NUMERIC_MAX_PRECISION} and {num.NUMERIC_MAX_PRECISION}",
                            sqlstate="22023")
    return num.numeric_typmod(precision, scale)


def _precision_typmod(oid: int, typmods: list[int]) -> int:
    if not typmods:
        return -1
    if len(typmods) != 1:
        raise MirrordbError("invalid type modifier", sqlstate="22023")
    precision = typmods[0]
    if precision < 0:
        kind = "TIME" if oid == TIME_OID else "TIMESTAMP"
        suffix = "" if oid == TIMESTAMP_OID or oid == TIME_OID else " WITH TIME ZONE"
        raise MirrordbError(f"{kind}({precision}){suffix} precision must not be negative",
                            sqlstate="22023")
    return min(precision, dt.MAX_TIME_PRECISION)


def _interval_typmod(typmods: list[int]) -> int:
    if not typmods:
        return -1
    interval_range = typmods[0]
    precision = typmods[1] if len(typmods) > 1 else INTERVAL_FULL_PRECISION
    if precision != INTERVAL_FULL_PRECISION:
        if precision < 0:
            raise MirrordbError(f"INTERVAL({precision}) precision must not be negative",
                                sqlstate="22023")
        precision = min(precision, dt.MAX_TIME_PRECISION)
    return ((interval_range & 0x7FFF) << 16) | (precision & 0xFFFF)


def interval_typmod_precision(typmod: int) -> int:
    if typmod < 0:
        return -1
    precision = typmod & 0xFFFF
    return -1 if precision == INTERVAL_FULL_PRECISION else precision


_INTERVAL_FIELD_NAMES = {
    1 << 2: "year", 1 << 1: "month", 1 << 3: "day", 1 << 10: "hour", 1 << 11: "minute",
    1 << 12: "second", (1 << 2) | (1 << 1): "year to month",
    (1 << 3) | (1 << 10): "day to hour", (1 << 3) | (1 << 10) | (1 << 11): "day to minute",
    (1 << 3) | (1 << 10) | (1 << 11) | (1 << 12): "day to second",
    (1 << 10) | (1 << 11): "hour to minute", (1 << 10) | (1 << 11) | (1 << 12): "hour to second",
    (1 << 11) | (1 << 12): "minute to second",
}


def format_type(oid: int, typmod: int = -1, *, typmod_given: bool = False) -> str:
    """PostgreSQL's format_type(oid, typmod). ``typmod_given`` is format_type's second argument
    being non-NULL (psql passes atttypmod): then bpchar without a length prints as 'bpchar'."""
    info = TYPES.get(oid)
    if info is None:
        return "-" if oid == 0 else row_type_name(oid) or "???"
    if info.category == "A" and info.element_oid and oid not in _ARRAY_LIKE_OIDS:
        return format_type(info.element_oid, typmod, typmod_given=typmod_given) + "[]"
    if oid >= FIRST_USER_TYPE_OID:
        source = _USER_TYPES.get()
        return source.display_name(oid) if source is not None else info.sql_name
    with_typmod = typmod >= 0
    if oid == BPCHAR_OID:
        if with_typmod:
            return f"character({typmod - VARHDRSZ})"
        return "bpchar" if typmod_given else "character"
    if oid == VARCHAR_OID:
        return f"character varying({typmod - VARHDRSZ})" if with_typmod else info.sql_name
    if oid == NUMERIC_OID and with_typmod:
        precision, scale = num.numeric_typmod_parts(typmod)
        return f"numeric({precision},{scale})"
    if oid in (TIMESTAMP_OID, TIMESTAMPTZ_OID, TIME_OID) and with_typmod:
        base, _, zone = info.sql_name.partition(" ")
        return f"{base}({typmod}) {zone}"
    if oid == INTERVAL_OID and with_typmod:
        return "interval" + _interval_typmod_text(typmod)
    return info.sql_name


def _interval_typmod_text(typmod: int) -> str:
    fields = (typmod >> 16) & 0x7FFF
    precision = typmod & 0xFFFF
    text = "" if fields == INTERVAL_FULL_RANGE else " " + _INTERVAL_FIELD_NAMES.get(fields, "")
    if precision != INTERVAL_FULL_PRECISION:
        text += f"({precision})"
    return text


# -- text input --------------------------------------------------------------------------------

def parse_bool(text: str) -> bool:
    """boolin: t/true/y/yes/on/1 and f/false/n/no/off/0, any unambiguous prefix, any case."""
    word = text.strip(_WHITESPACE).lower()
    if word in ("1", "0"):
        return word == "1"
    if word:
        for candidate, value, shortest in _BOOL_WORDS:
            if candidate.startswith(word) and len(word) >= shortest:
                return value
    raise invalid_text("boolean", text)


_BOOL_WORDS = (("true", True, 1), ("yes", True, 1), ("on", True, 2), ("false", False, 1),
               ("no", False, 1), ("off", False, 2))


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def parse_bytea(text: str) -> bytes:
    """byteain: '\\x' hex (blanks allowed between byte pairs) or the escape format."""
    if text.startswith("\\x"):
        return _parse_hex_bytea(text[2:])
    return _parse_escaped_bytea(text)


def _parse_hex_bytea(body: str) -> bytes:
    output = bytearray()
    position = 0
    while position < len(body):
        character = body[position]
        if character in _WHITESPACE:
            position += 1
            continue
        if character not in _HEX_DIGITS:
            raise MirrordbError(f'invalid hexadecimal digit: "{character}"', sqlstate="22023")
        if position + 1 >= len(body):
            raise MirrordbError("invalid hexadecimal data: odd number of digits",
                                sqlstate="22023")
        second = body[position + 1]
        if second not in _HEX_DIGITS:
            raise MirrordbError(f'invalid hexadecimal digit: "{second}"', sqlstate="22023")
        output.append(int(character + second, 16))
        position += 2
    return bytes(output)


def _parse_escaped_bytea(text: str) -> bytes:
    output = bytearray()
    position = 0
    while position < len(text):
        character = text[position]
        if character != "\\":
            output.extend(character.encode("utf-8"))
            position += 1
        elif text[position + 1:position + 2] == "\\":
            output.append(0x5C)
            position += 2
        elif re.fullmatch(r"[0-3][0-7][0-7]", text[position + 1:position + 4]):
            output.append(int(text[position + 1:position + 4], 8))
            position += 4
        else:
            raise MirrordbError("invalid input syntax for type bytea", sqlstate="22P02")
    return bytes(output)


def parse_uuid(text: str) -> uuid.UUID:
    """uuid_in: 32 hex digits, optionally in braces, a hyphen allowed after any group of four."""
    body = text
    if body.startswith("{"):
        if not body.endswith("}"):
            raise invalid_text("uuid", text)
        body = body[1:-1]
    digits: list[str] = []
    position = 0
    while position < len(body) and len(digits) < 32:
        character = body[position]
        if character not in _HEX_DIGITS:
            raise invalid_text("uuid", text)
        digits.append(character)
        position += 1
        if len(digits) % 4 == 0 and len(digits) < 32 and body[position:position + 1] == "-":
            position += 1
    if len(digits) != 32 or position != len(body):
        raise invalid_text("uuid", text)
    return uuid.UUID("".join(digits))


def parse_pg_lsn(text: str) -> int:
    match = re.fullmatch(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})", text)
    if match is None:
        raise invalid_text("pg_lsn", text)
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def parse_char(text: str) -> str:
    """charin: the first character, or '\\ooo' octal."""
    if len(text) == 4 and text[0] == "\\" and re.fullmatch(r"[0-3][0-7][0-7]", text[1:]):
        return chr(int(text[1:], 8))
    return text[:1]


def _truncate_name(text: str) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= NAME_MAX_BYTES:
        return text
    return encoded[:NAME_MAX_BYTES].decode("utf-8", errors="ignore")


def _parse_int_vector(text: str, element_oid: int) -> list[int]:
    type_name = "smallint" if element_oid == INT2_OID else "oid"
    values: list[int] = []
    for piece in text.split():
        if element_oid == INT2_OID:
            values.append(num.parse_integer(piece, "smallint"))
        else:
            values.append(num.parse_oid(piece, type_name))
        if len(values) > MAX_ARRAY_ELEMENTS:
            raise _array_too_large()
    return values


# -- json ------------------------------------------------------------------------------------------


def _json_loads(text: str, need_escapes: bool = False) -> Any:
    """A json (or, ``need_escapes``, jsonb) text parsed, or PostgreSQL's error for it."""
    return parse_json_input(text, need_escapes, _json_object)


class _JsonObject(list):  # type: ignore[type-arg]
    """The key/value pairs of a JSON object in input order (duplicates kept)."""


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    return _JsonObject(pairs)


def parse_json(text: str) -> str:
    """json_in: validated, kept as written."""
    _json_loads(text)
    return text


def parse_jsonb(text: str) -> str:
    """jsonb_in: normalized as jsonb_out prints it (keys by length then bytes, last duplicate
    wins, ': ' and ', ' separators, numbers in numeric's text form)."""
    return jsonb_text(_json_loads(text, need_escapes=True))


def jsonb_text(value: Any) -> str:
    """The canonical jsonb text of a parsed JSON value."""
    if isinstance(value, _JsonObject):
        unique: dict[str, Any] = {}
        for key, item in value:
            unique[key] = item
        ordered = sorted(unique.items(), key=lambda pair: (len(pair[0].encode("utf-8")),
                                                           pair[0].encode("utf-8")))
        return "{" + ", ".join(f"{json_quote(key)}: {jsonb_text(item)}"
                               for key, item in ordered) + "}"
    if isinstance(value, dict):
        return jsonb_text(_JsonObject(value.items()))
    if isinstance(value, list):
        return "[" + ", ".join(jsonb_text(item) for item in value) + "]"
    if isinstance(value, str):
        return json_quote(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, decimal.Decimal):
        return num.format_numeric(num.normalize_numeric(value))
    if isinstance(value, (int, float)):
        return num.format_numeric(num.normalize_numeric(decimal.Decimal(value)))
    raise MirrordbError(f"cannot convert {type(value).__name__} to json", sqlstate="22023")


_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                 "\t": "\\t"}


def json_quote(text: str) -> str:
    """escape_json: a JSON string literal as PostgreSQL writes it (non-ASCII kept as is)."""
    parts = ['"']
    for character in text:
        escaped = _JSON_ESCAPES.get(character)
        if escaped is not None:
            parts.append(escaped)
        elif ord(character) < 0x20:
            parts.append(f"\\u{ord(character):04x}")
        else:
            parts.append(character)
    parts.append('"')
    return "".join(parts)


def json_value(text: str) -> Any:
    """A json/jsonb text parsed into Python values (objects as ordered key/value lists)."""
    return _json_loads(text)


# -- arrays (text) ---------------------------------------------------------------------------------


def _array_too_large() -> MirrordbError:
    return MirrordbError(f"array size exceeds the maximum allowed ({MAX_ARRAY_ELEMENTS})",
                         sqlstate="54000")


def _malformed_array(text: str, detail: str) -> MirrordbError:
    return MirrordbError(f'malformed array literal: "{text}"', sqlstate="22P02", detail=detail)


def parse_array_text(text: str, element_oid: int, typmod: int = -1,
                     timezone: str = "UTC") -> list[Any]:
    """array_in for one-dimensional arrays: '{1,2,NULL}', '{"a b","c\\"d"}', '[1:2]={1,2}'."""
    elements = _split_array_literal(text)
    parse = _input_function(element_oid)
    return [None if element is None else parse(element, typmod, timezone)
            for element in elements]


def _split_array_literal(text: str) -> list[str | None]:
    body = text.lstrip(_WHITESPACE)
    if body.startswith("["):
        body = _skip_dimensions(text, body)
    if not body.startswith("{"):
        raise _malformed_array(text, 'Array value must start with "{" or dimension '
                                     'information.')
    elements: list[str | None] = []
    position = 1
    expecting_element = True
    while True:
        position = _skip_blanks(body, position)
        if position >= len(body):
            raise _malformed_array(text, "Unexpected end of input.")
        character = body[position]
        if character == "}":
            if not expecting_element or not elements:
                position += 1
                break
            raise _malformed_array(text, 'Unexpected "}" character.')
        if character == "{":
            if elements or not expecting_element:
                raise _malformed_array(text, 'Unexpected "{" character.')
            raise MirrordbError("multidimensional arrays are not supported", sqlstate="0A000")
        if not expecting_element:
            if character != ",":
                raise _malformed_array(text, 'Expected "," or "}" character.')
            position += 1
            expecting_element = True
            continue
        element, position = _read_array_element(text, body, position)
        elements.append(element)
        if len(elements) > MAX_ARRAY_ELEMENTS:
            raise _array_too_large()
        expecting_element = False
    if body[position:].strip(_WHITESPACE):
        raise _malformed_array(text, "Junk after closing right brace.")
    return elements


def _skip_blanks(body: str, position: int) -> int:
    while position < len(body) and body[position] in _WHITESPACE:
        position += 1
    return position


def _skip_dimensions(text: str, body: str) -> str:
    match = re.match(r"\[\s*(-?\d+)\s*:\s*(-?\d+)\s*\]\s*=", body)
    if match is None:
        raise _malformed_array(text, 'Missing "]" after array dimensions.')
    lower, upper = int(match.group(1)), int(match.group(2))
    if lower != 1:
        raise MirrordbError("arrays with a lower bound other than 1 are not supported",
                            sqlstate="0A000")
    rest = body[match.end():].lstrip(_WHITESPACE)
    count = len(_split_array_literal(rest)) if rest.startswith("{") else -1
    if count != upper - lower + 1:
        raise _malformed_array(text, "Specified array dimensions do not match array contents.")
    return rest


def _read_array_element(text: str, body: str, position: int) -> tuple[str | None, int]:
    if body[position] == '"':
        return _read_quoted_element(text, body, position + 1)
    characters: list[str] = []
    had_escape = False
    while position < len(body) and body[position] not in ",}":
        character = body[position]
        if character == "\\":
            if position + 1 >= len(body):
                raise _malformed_array(text, "Unexpected end of input.")
            characters.append(body[position + 1])
            had_escape = True
            position += 2
            continue
        if character in '{"':
            raise _malformed_array(text, f'Unexpected "{character}" character.')
        characters.append(character)
        position += 1
    element = "".join(characters).rstrip(_WHITESPACE) if not had_escape else \
        "".join(characters)
    if not had_escape and element.upper() == "NULL":
        return None, position
    if not element and not had_escape:
        raise _malformed_array(text, "Unexpected array element.")
    return element, position


def _read_quoted_element(text: str, body: str, position: int) -> tuple[str, int]:
    characters: list[str] = []
    while True:
        if position >= len(body):
            raise _malformed_array(text, "Unexpected end of input.")
        character = body[position]
        if character == "\\":
            if position + 1 >= len(body):
                raise _malformed_array(text, "Unexpected end of input.")
            characters.append(body[position + 1])
            position += 2
        elif character == '"':
            return "".join(characters), position + 1
        else:
            characters.append(character)
            position += 1


_ARRAY_SPECIALS = frozenset('{},"\\' + _WHITESPACE)


def quote_array_element(text: str) -> str:
    """An element as array_out writes it: quoted when empty, 'NULL' or holding specials."""
    if text == "" or text.upper() == "NULL" or any(c in _ARRAY_SPECIALS for c in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def format_array_text(values: Sequence[Any], element_oid: int, timezone: str = "UTC") -> str:
    output = _output_function(element_oid)
    return "{" + ",".join("NULL" if value is None else
                          quote_array_element(output(value, timezone))
                          for value in values) + "}"


# -- the input and output tables -------------------------------------------------------------------

_InputFunction = Callable[[str, int, str], Any]       # (text, typmod, timezone) -> value
_OutputFunction = Callable[[Any, str], str]           # (value, timezone) -> text


def _regtype_in(text: str, typmod: int, timezone: str) -> int:
    stripped = text.strip(_WHITESPACE)
    if stripped.isdigit():
        return num.parse_oid(stripped, "regtype")
    return _parse_type_string(stripped)


def _parse_type_string(text: str) -> int:
    """regtypein: a type name as SQL writes it ('integer', 'character varying(10)[]'); the
    name is resolved each time (a user type's OID changes when it is made again)."""
    names, bounds = _type_string_names(text)
    return resolve_type_name(names, [], bounds)[0]


@functools.lru_cache(maxsize=256)
def _type_string_names(text: str) -> tuple[list[str], int]:
    from pglast import parser as pglast_parser   # the SQL parser, loaded only when needed
    try:
        statement = json.loads(pglast_parser.parse_sql_json(f"SELECT NULL::{text}"))
        cast = statement["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]
        type_name = cast["TypeCast"]["typeName"]
    except Exception:
        raise invalid_text("regtype", text) from None
    names = [item["String"]["sval"] for item in type_name["names"]]
    return names, len(type_name.get("arrayBounds", []))


def _regtype_out(value: int, timezone: str) -> str:
    if value == 0:
        return "-"
    return format_type(value) if value in TYPES else row_type_name(value) or str(value)


def _reg_in(type_oid: int) -> _InputFunction:
    type_name = TYPES[type_oid].name

    def parse(text: str, typmod: int, timezone: str) -> int:
        stripped = text.strip(_WHITESPACE)
        if stripped == "-":
            return 0
        if stripped.isdigit():
            return num.parse_oid(stripped, type_name)
        lookup = _CATALOG_LOOKUP.get()
        if lookup is None:
            raise _missing_object(type_oid, stripped)
        return lookup.oid_of(type_oid, stripped)
    return parse


def _missing_object(type_oid: int, name: str) -> MirrordbError:
    """What PostgreSQL reports for a name that names no object (no catalog: nothing exists)."""
    if type_oid == REGNAMESPACE_OID:
        return MirrordbError(f'schema "{name}" does not exist', sqlstate="3F000")
    if type_oid == REGROLE_OID:
        return MirrordbError(f'role "{name}" does not exist', sqlstate="42704")
    return MirrordbError(f'relation "{name}" does not exist', sqlstate="42P01")


def _reg_out(type_oid: int) -> _OutputFunction:
    def output(value: int, timezone: str) -> str:
        if value == 0:
            return "-"
        lookup = _CATALOG_LOOKUP.get()
        name = lookup.name_of(type_oid, value) if lookup is not None else None
        return name if name is not None else str(value)
    return output


def _regproc_out(value: int, timezone: str) -> str:
    if value == 0:
        return "-"
    from mirrordb.sql import functions   # functions imports this module: look it up lazily
    name = functions.function_name_by_oid(value)
    if name is not None:
        return name
    return _reg_out(REGPROC_OID)(value, timezone)


def _regprocedure_out(value: int, timezone: str) -> str:
    """A user function's ``name(types)`` (sql/proc_catalog.py); a built-in's name."""
    lookup = _CATALOG_LOOKUP.get()
    name = lookup.name_of(REGPROCEDURE_OID, value) if lookup is not None and value else None
    return name if name is not None else _regproc_out(value, timezone)


def _regproc_in(text: str, typmod: int, timezone: str) -> int:
    stripped = text.strip(_WHITESPACE)
    if stripped == "-":
        return 0
    if stripped.isdigit():
        return num.parse_oid(stripped, "regproc")
    lookup = _CATALOG_LOOKUP.get()
    if lookup is not None:              # user functions first (sql/proc_catalog.py)
        return lookup.oid_of(REGPROC_OID, stripped)
    from mirrordb.sql import functions
    oid = functions.function_oid_by_name(stripped.split("(")[0].strip().lower())
    if oid is None:
        raise MirrordbError(f'function "{stripped}" does not exist', sqlstate="42883")
    return oid


def _text_in(text: str, typmod: int, timezone: str) -> str:
    return _check_text(text)


def _bpchar_in(text: str, typmod: int, timezone: str) -> str:
    return coerce_length(_check_text(text), BPCHAR_OID, typmod, explicit=False)


def _varchar_in(text: str, typmod: int, timezone: str) -> str:
    return coerce_length(_check_text(text), VARCHAR_OID, typmod, explicit=False)


def _numeric_in(text: str, typmod: int, timezone: str) -> decimal.Decimal:
    return num.apply_numeric_typmod(num.parse_numeric(text), typmod)


def _timestamp_in(text: str, typmod: int, timezone: str) -> datetime.datetime:
    return dt.adjust_timestamp_precision(dt.parse_timestamp(text, timezone), typmod)


def _timestamptz_in(text: str, typmod: int, timezone: str) -> datetime.datetime:
    return dt.adjust_timestamp_precision(dt.parse_timestamptz(text, timezone), typmod)


def _time_in(text: str, typmod: int, timezone: str) -> datetime.time:
    return dt.adjust_time_precision(dt.parse_time(text, timezone), typmod)


def _interval_in(text: str, typmod: int, timezone: str) -> Interval:
    value = dt.parse_interval(text)
    return dt.adjust_interval_precision(value, interval_typmod_precision(typmod))


def _ignore_extra(function: Callable[[str], Any]) -> _InputFunction:
    return lambda text, typmod, timezone: function(text)


_SCALAR_INPUT: dict[int, _InputFunction] = {
    BOOL_OID: _ignore_extra(parse_bool),
    BYTEA_OID: _ignore_extra(parse_bytea),
    CHAR_OID: _ignore_extra(parse_char),
    NAME_OID: lambda text, typmod, timezone: _truncate_name(_check_text(text)),
    INT8_OID: lambda text, typmod, timezone: num.parse_integer(text, "bigint"),
    INT2_OID: lambda text, typmod, timezone: num.parse_integer(text, "smallint"),
    INT4_OID: lambda text, typmod, timezone: num.parse_integer(text, "integer"),
    INT2VECTOR_OID: lambda text, typmod, timezone: _parse_int_vector(text, INT2_OID),
    OIDVECTOR_OID: lambda text, typmod, timezone: _parse_int_vector(text, OID_OID),
    TEXT_OID: _text_in,
    UNKNOWN_OID: _text_in,
    CSTRING_OID: _text_in,
    OID_OID: lambda text, typmod, timezone: num.parse_oid(text),
    XID_OID: lambda text, typmod, timezone: num.parse_oid(text, "xid"),
    CID_OID: lambda text, typmod, timezone: num.parse_oid(text, "cid"),
    JSON_OID: _ignore_extra(parse_json),
    JSONB_OID: _ignore_extra(parse_jsonb),
    FLOAT4_OID: _ignore_extra(num.parse_float4),
    FLOAT8_OID: _ignore_extra(num.parse_float8),
    BPCHAR_OID: _bpchar_in,
    VARCHAR_OID: _varchar_in,
    DATE_OID: lambda text, typmod, timezone: dt.parse_date(text, timezone),
    TIME_OID: _time_in,
    TIMESTAMP_OID: _timestamp_in,
    TIMESTAMPTZ_OID: _timestamptz_in,
    INTERVAL_OID: _interval_in,
    NUMERIC_OID: _numeric_in,
    UUID_OID: _ignore_extra(parse_uuid),
    PG_LSN_OID: _ignore_extra(parse_pg_lsn),
    REGTYPE_OID: _regtype_in,
    REGPROC_OID: _regproc_in,
    REGPROCEDURE_OID: _regproc_in,
    REGCLASS_OID: _reg_in(REGCLASS_OID),
    REGNAMESPACE_OID: _reg_in(REGNAMESPACE_OID),
    REGROLE_OID: _reg_in(REGROLE_OID),
    VOID_OID: lambda text, typmod, timezone: None,
}


def _identity_text(value: str, timezone: str) -> str:
    return value


def _format_bytea(value: bytes, timezone: str) -> str:
    return "\\x" + bytes(value).hex()


def _format_pg_lsn(value: int, timezone: str) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def _format_int(value: int, timezone: str) -> str:
    return str(value)


_SCALAR_OUTPUT: dict[int, _OutputFunction] = {
    BOOL_OID: lambda value, timezone: "t" if value else "f",
    BYTEA_OID: _format_bytea,
    CHAR_OID: _identity_text,
    NAME_OID: _identity_text,
    INT8_OID: _format_int,
    INT2_OID: _format_int,
    INT4_OID: _format_int,
    INT2VECTOR_OID: lambda value, timezone: " ".join(map(str, value)),
    OIDVECTOR_OID: lambda value, timezone: " ".join(map(str, value)),
    TEXT_OID: _identity_text,
    UNKNOWN_OID: _identity_text,
    CSTRING_OID: _identity_text,
    OID_OID: _format_int,
    XID_OID: _format_int,
    CID_OID: _format_int,
    JSON_OID: _identity_text,
    JSONB_OID: _identity_text,
    FLOAT4_OID: lambda value, timezone: num.format_float4(value),
    FLOAT8_OID: lambda value, timezone: num.format_float8(value),
    BPCHAR_OID: _identity_text,
    VARCHAR_OID: _identity_text,
    DATE_OID: lambda value, timezone: dt.format_date(value),
    TIME_OID: lambda value, timezone: dt.format_time(value),
    TIMESTAMP_OID: lambda value, timezone: dt.format_timestamp(value),
    TIMESTAMPTZ_OID: dt.format_timestamptz,
    INTERVAL_OID: lambda value, timezone: dt.format_interval(value),
    NUMERIC_OID: lambda value, timezone: num.format_numeric(value),
    UUID_OID: lambda value, timezone: str(value),
    PG_LSN_OID: _format_pg_lsn,
    REGTYPE_OID: _regtype_out,
    REGPROC_OID: _regproc_out,
    REGPROCEDURE_OID: _regprocedure_out,
    REGCLASS_OID: _reg_out(REGCLASS_OID),
    REGNAMESPACE_OID: _reg_out(REGNAMESPACE_OID),
    REGROLE_OID: _reg_out(REGROLE_OID),
    VOID_OID: lambda value, timezone: "",
    RECORD_OID: lambda value, timezone: record_out(value, timezone),
}


class RowRecord(tuple):  # type: ignore[type-arg]
    """The value of a whole-row reference (``SELECT t FROM t``, ``row_to_json(t)``): the
    row's visible columns' values, with their (name, type OID) pairs in ``columns``."""

    columns: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, values: Sequence[Any], columns: tuple[tuple[str, int], ...]) -> RowRecord:
        record = cls(values)
        record.columns = columns
        return record


def record_out(value: Any, timezone: str = "UTC") -> str:
    """record_out of a RowRecord; a record already in its text form (the records
    sql/json_set_functions.py and monitoring_functions.py give) is kept."""
    if isinstance(value, str):
        return value
    from mirrordb.sql.replication_functions import record_text
    return record_text([None if item is None else format_text(type_oid, item,
                                                               timezone=timezone)
                        for item, (_, type_oid) in zip(value, value.columns)])


# -- row types (whole-row references; sql/row_values.py is the other half) ---------------------

# The OIDs of tables' row types the planner has typed a value with (register_row_type): their
# values are RowRecords, written by record_out / record_send like an anonymous record's.
_ROW_TYPE_OIDS: set[int] = set()
_ANY_TARGETS = frozenset({ANY_OID, ANYELEMENT_OID, ANYNONARRAY_OID, ANYCOMPATIBLE_OID})


def register_row_type(oid: int) -> None:
    """Make ``oid`` known as a table's row type (a composite type; called at planning)."""
    _ROW_TYPE_OIDS.add(oid)


def is_row_type(oid: int) -> bool:
    """``record`` or a table's row type: values are RowRecords (or a record's text)."""
    return oid == RECORD_OID or oid in _ROW_TYPE_OIDS


def row_type_name(oid: int) -> str | None:
    """A table's row type as format_type prints it: the table's name, qualified when its
    schema is not on the search_path (the session's catalog lookup knows); None if ``oid``
    is no row type."""
    lookup = _CATALOG_LOOKUP.get()
    return lookup.name_of(REGTYPE_OID, oid) if lookup is not None else None


def _row_cast_context(target_oid: int) -> str | None:
    """A record (anonymous or a table's row type) becomes ``record`` and the pseudo-types
    implicitly, a string type by its text form (an I/O conversion, as in PostgreSQL)."""
    if target_oid == RECORD_OID or target_oid in _ANY_TARGETS:
        return IMPLICIT
    target_info = TYPES.get(target_oid)
    if target_info is not None and target_info.category == "S":
        return ASSIGNMENT
    return None


def _record_key(value: Any) -> Any:
    """B-tree order of records (record_cmp): field by field, NULL after any value."""
    if isinstance(value, str):
        return value
    return tuple(sort_key(type_oid)(item) for item, (_, type_oid) in zip(value, value.columns))


def _input_function(oid: int) -> _InputFunction:
    if oid >= FIRST_USER_TYPE_OID and not is_array_type(oid):
        source = _USER_TYPES.get()
        user_input = source.input_function(oid) if source is not None else None
        if user_input is not None:
            return user_input
    function = _SCALAR_INPUT.get(oid)
    if function is not None:
        return function
    element = element_type_of(oid)
    if element and (element in _SCALAR_INPUT or element >= FIRST_USER_TYPE_OID):
        return lambda text, typmod, timezone: parse_array_text(text, element, typmod, timezone)
    raise MirrordbError(f"cannot accept a value of type {format_type(oid)}", sqlstate="0A000")


def _output_function(oid: int) -> _OutputFunction:
    if oid >= FIRST_USER_TYPE_OID and not is_array_type(oid):
        source = _USER_TYPES.get()
        user_output = source.output_function(oid) if source is not None else None
        if user_output is not None:
            return user_output
    function = _SCALAR_OUTPUT.get(oid)
    if function is not None:
        return function
    if oid in _ROW_TYPE_OIDS:
        return _SCALAR_OUTPUT[RECORD_OID]
    element = element_type_of(oid)
    if element and (element in _SCALAR_OUTPUT or element >= FIRST_USER_TYPE_OID):
        return lambda value, timezone: format_array_text(value, element, timezone)
    raise MirrordbError(f"cannot display a value of type {format_type(oid)}", sqlstate="0A000")


def text_input(oid: int) -> Callable[[str, int, str], Any]:
    """The input function of ``oid``: (text, typmod, timezone) -> value."""
    return _input_function(oid)


def text_output(oid: int) -> Callable[[Any, str], str]:
    """The output function of ``oid``: (value, timezone) -> text."""
    return _output_function(oid)


_UNEXPECTED_INPUT_ERRORS = (ValueError, OverflowError, ArithmeticError, IndexError, KeyError,
                            RecursionError, UnicodeError)


def parse_text(oid: int, text: str, typmod: int = -1, *, timezone: str = "UTC") -> Any:
    """The value PostgreSQL's input function for ``oid`` makes of ``text`` (typmod applied with
    assignment semantics: too-long strings are errors, numerics are rounded and checked)."""
    function = _input_function(oid)
    try:
        return function(text, typmod, timezone)
    except MirrordbError:
        raise
    except _UNEXPECTED_INPUT_ERRORS:
        raise invalid_text(format_type(oid), text) from None


def format_text(oid: int, value: Any, *, timezone: str = "UTC") -> str:
    """PostgreSQL's output function for ``oid``: the text psql prints."""
    return _output_function(oid)(value, timezone)


def output_function(oid: int, timezone: str = "UTC") -> Callable[[Any], str]:
    """format_text for one type and zone, as a plain one-argument function (per-column use)."""
    function = _output_function(oid)
    if oid == TIMESTAMPTZ_OID or element_type_of(oid) == TIMESTAMPTZ_OID:
        return lambda value: function(value, timezone)
    return lambda value: function(value, "UTC")


# -- binary I/O ------------------------------------------------------------------------------------

_Receive = Callable[[bytes], Any]
_Send = Callable[[Any], bytes]


def _fixed_receive(layout: struct.Struct) -> _Receive:
    def receive(data: bytes) -> Any:
        if len(data) != layout.size:
            raise bad_binary()
        return layout.unpack(data)[0]
    return receive


def _text_receive(data: bytes) -> str:
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as error:
        raise MirrordbError(f'invalid byte sequence for encoding "UTF8": '
                            f'0x{data[error.start]:02x}', sqlstate="22021") from None
    return _check_text(text)


def _text_send(value: str) -> bytes:
    return value.encode("utf-8")


def _bool_receive(data: bytes) -> bool:
    if len(data) != 1:
        raise bad_binary()
    return data[0] != 0


def _char_receive(data: bytes) -> str:
    if len(data) > 1:
        raise bad_binary()
    return data.decode("latin-1")


def _float4_receive(data: bytes) -> float:
    return _fixed_receive(_FLOAT4)(data)  # type: ignore[no-any-return]


def _date_receive(data: bytes) -> datetime.date:
    days = _fixed_receive(_INT4)(data)
    try:
        return dt.POSTGRES_EPOCH_DATE + datetime.timedelta(days=days)
    except OverflowError:
        raise dt.date_out_of_range() from None


def _date_send(value: datetime.date) -> bytes:
    return _INT4.pack(value.toordinal() - dt.POSTGRES_EPOCH_DATE.toordinal())


def _time_receive(data: bytes) -> datetime.time:
    microseconds = _fixed_receive(_INT8)(data)
    if not 0 <= microseconds < dt.USECS_PER_DAY:
        raise MirrordbError("time out of range", sqlstate="22008")
    return dt.microseconds_to_time(microseconds)


def _time_send(value: datetime.time) -> bytes:
    return _INT8.pack(dt.time_to_microseconds(value))


def _timestamp_receive(data: bytes) -> datetime.datetime:
    microseconds = _fixed_receive(_INT8)(data)
    try:
        return datum.POSTGRES_EPOCH_TIMESTAMP + datetime.timedelta(microseconds=microseconds)
    except OverflowError:
        raise dt.timestamp_out_of_range() from None


def _timestamptz_receive(data: bytes) -> datetime.datetime:
    return _timestamp_receive(data).replace(tzinfo=datetime.UTC)


def _timestamp_send(value: datetime.datetime) -> bytes:
    epoch = datum.POSTGRES_EPOCH_TIMESTAMPTZ if value.tzinfo is not None else \
        datum.POSTGRES_EPOCH_TIMESTAMP
    return _INT8.pack((value - epoch) // datum.ONE_MICROSECOND)


def _interval_receive(data: bytes) -> Interval:
    if len(data) != _INTERVAL.size:
        raise bad_binary()
    microseconds, days, months = _INTERVAL.unpack(data)
    return Interval(months, days, microseconds)


def _interval_send(value: Interval) -> bytes:
    return _INTERVAL.pack(value.microseconds, value.days, value.months)


def _uuid_receive(data: bytes) -> uuid.UUID:
    if len(data) != 16:
        raise bad_binary()
    return uuid.UUID(bytes=bytes(data))


def _jsonb_receive(data: bytes) -> str:
    if not data or data[0] != JSONB_VERSION:
        raise MirrordbError("unsupported jsonb version number", sqlstate="22P03")
    return parse_jsonb(_text_receive(data[1:]))


def _json_receive(data: bytes) -> str:
    return parse_json(_text_receive(data))


def _bytes_receive(data: bytes) -> bytes:
    return bytes(data)


def _name_receive(data: bytes) -> str:
    return _truncate_name(_text_receive(data))


_SCALAR_RECEIVE: dict[int, _Receive] = {
    BOOL_OID: _bool_receive,
    BYTEA_OID: _bytes_receive,
    CHAR_OID: _char_receive,
    NAME_OID: _name_receive,
    INT8_OID: _fixed_receive(_INT8),
    INT2_OID: _fixed_receive(_INT2),
    INT4_OID: _fixed_receive(_INT4),
    TEXT_OID: _text_receive,
    UNKNOWN_OID: _text_receive,
    CSTRING_OID: _text_receive,
    OID_OID: _fixed_receive(_UINT4),
    XID_OID: _fixed_receive(_UINT4),
    CID_OID: _fixed_receive(_UINT4),
    JSON_OID: _json_receive,
    JSONB_OID: _jsonb_receive,
    FLOAT4_OID: _float4_receive,
    FLOAT8_OID: _fixed_receive(_FLOAT8),
    BPCHAR_OID: _text_receive,
    VARCHAR_OID: _text_receive,
    DATE_OID: _date_receive,
    TIME_OID: _time_receive,
    TIMESTAMP_OID: _timestamp_receive,
    TIMESTAMPTZ_OID: _timestamptz_receive,
    INTERVAL_OID: _interval_receive,
    NUMERIC_OID: lambda data: num.numeric_recv(data, bad_binary),
    UUID_OID: _uuid_receive,
    PG_LSN_OID: _fixed_receive(_UINT8),
    VOID_OID: lambda data: None,
    **{oid: _fixed_receive(_UINT4) for oid in REG_OIDS},
}

_SCALAR_SEND: dict[int, _Send] = {
    BOOL_OID: lambda value: b"\x01" if value else b"\x00",
    BYTEA_OID: bytes,
    CHAR_OID: lambda value: value.encode("latin-1", errors="replace")[:1],
    NAME_OID: _text_send,
    INT8_OID: _INT8.pack,
    INT2_OID: _INT2.pack,
    INT4_OID: _INT4.pack,
    TEXT_OID: _text_send,
    UNKNOWN_OID: _text_send,
    CSTRING_OID: _text_send,
    OID_OID: _UINT4.pack,
    XID_OID: _UINT4.pack,
    CID_OID: _UINT4.pack,
    JSON_OID: _text_send,
    JSONB_OID: lambda value: bytes((JSONB_VERSION,)) + value.encode("utf-8"),
    FLOAT4_OID: _FLOAT4.pack,
    FLOAT8_OID: _FLOAT8.pack,
    BPCHAR_OID: _text_send,
    VARCHAR_OID: _text_send,
    DATE_OID: _date_send,
    TIME_OID: _time_send,
    TIMESTAMP_OID: _timestamp_send,
    TIMESTAMPTZ_OID: _timestamp_send,
    INTERVAL_OID: _interval_send,
    NUMERIC_OID: num.numeric_send,
    UUID_OID: lambda value: value.bytes,
    PG_LSN_OID: _UINT8.pack,
    VOID_OID: lambda value: b"",
    **{oid: _UINT4.pack for oid in REG_OIDS},
}


def _array_receive(element_oid: int) -> _Receive:
    receive_element = _binary_functions(element_oid)[0]

    def receive(data: bytes) -> list[Any]:
        if len(data) < _ARRAY_HEADER.size:
            raise bad_binary()
        ndim, flags, sent_element = _ARRAY_HEADER.unpack_from(data)
        if ndim == 0:
            if len(data) != _ARRAY_HEADER.size:
                raise bad_binary()
            return []
        if ndim != 1:
            raise MirrordbError("multidimensional arrays are not supported", sqlstate="0A000")
        if flags not in (0, 1):
            raise MirrordbError("invalid array flags", sqlstate="22P03")
        if sent_element != element_oid:
            raise MirrordbError(f"binary data has array element type {sent_element} instead "
                                f"of expected {element_oid}", sqlstate="42804")
        length, _ = _ARRAY_DIMENSION.unpack_from(data, _ARRAY_HEADER.size)
        if not 0 <= length <= MAX_ARRAY_ELEMENTS:
            raise _array_too_large()
        return _receive_elements(data, _ARRAY_HEADER.size + _ARRAY_DIMENSION.size, length,
                                 receive_element)
    return receive


def _receive_elements(data: bytes, position: int, count: int,
                      receive_element: _Receive) -> list[Any]:
    values: list[Any] = []
    for _ in range(count):
        if position + 4 > len(data):
            raise bad_binary()
        (length,) = _INT4.unpack_from(data, position)
        position += 4
        if length == -1:
            values.append(None)
            continue
        if length < 0 or position + length > len(data):
            raise bad_binary()
        values.append(receive_element(data[position:position + length]))
        position += length
    if position != len(data):
        raise bad_binary()
    return values


def _array_send(element_oid: int, lower_bound: int = 1) -> _Send:
    """array_send (int2vector and oidvector are arrays whose lower bound is 0)."""
    send_element = _binary_functions(element_oid)[1]

    def send(values: Sequence[Any]) -> bytes:
        if not values:
            return _ARRAY_HEADER.pack(0, 0, element_oid)
        has_nulls = any(value is None for value in values)
        parts = [_ARRAY_HEADER.pack(1, 1 if has_nulls else 0, element_oid),
                 _ARRAY_DIMENSION.pack(len(values), lower_bound)]
        for value in values:
            if value is None:
                parts.append(_INT4.pack(-1))
            else:
                encoded = send_element(value)
                parts.append(_INT4.pack(len(encoded)))
                parts.append(encoded)
        return b"".join(parts)
    return send


def _binary_functions(oid: int) -> tuple[_Receive, _Send]:
    if is_row_type(oid):
        return _record_receive, _record_send
    if oid in _SCALAR_RECEIVE:
        return _SCALAR_RECEIVE[oid], _SCALAR_SEND[oid]
    if oid >= FIRST_USER_TYPE_OID and not is_array_type(oid) and oid in TYPES:
        return _user_binary_functions(oid)
    element = TYPES[oid].element_oid if oid in TYPES else 0
    if (element in _SCALAR_RECEIVE or element >= FIRST_USER_TYPE_OID) and \
            (is_array_type(oid) or oid in _ARRAY_LIKE_OIDS):
        return _array_receive(element), _array_send(element, 0 if oid in _ARRAY_LIKE_OIDS
                                                    else 1)
    raise MirrordbError(f"no binary input function available for type {format_type(oid)}",
                        sqlstate="42883")


def _user_binary_functions(oid: int) -> tuple[_Receive, _Send]:
    """enum_recv/enum_send (the label's UTF-8 bytes) and domain_recv (the base type's, then
    the domain's checks) with the base type's send."""
    base = base_type(oid)
    if base != oid:
        receive, send = _binary_functions(base)
        to_domain = _cast_function(base, oid)
        return (lambda data: to_domain(receive(data), "UTC")), send
    parse, output = _input_function(oid), _output_function(oid)
    return (lambda data: parse(_text_receive(data), -1, "UTC"),
            lambda value: _text_send(output(value, "UTC")))


def _record_send(value: Any) -> bytes:
    """record_send: the field count, then per field its type OID, length (-1: NULL), data."""
    parts = [_INT4.pack(len(value))]
    for item, (_, type_oid) in zip(value, value.columns):
        if item is None:
            parts.append(_RECORD_FIELD.pack(type_oid, -1))
            continue
        data = format_binary(type_oid, item)
        parts.append(_RECORD_FIELD.pack(type_oid, len(data)) + data)
    return b"".join(parts)


def _record_receive(data: bytes) -> Any:
    raise MirrordbError("input of anonymous composite types is not implemented",
                        sqlstate="0A000")


_BINARY_FAILURES = (struct.error, ValueError, OverflowError, IndexError, UnicodeError)


def parse_binary(oid: int, data: bytes) -> Any:
    """The value of ``data`` in the binary format of ``oid`` (a Bind parameter, COPY BINARY)."""
    receive, _ = _binary_functions(oid)
    try:
        return receive(bytes(data))
    except MirrordbError:
        raise
    except _BINARY_FAILURES:
        raise bad_binary() from None


def format_binary(oid: int, value: Any) -> bytes:
    """``value`` in the binary format of ``oid`` (a result column in binary format)."""
    _, send = _binary_functions(oid)
    return send(value)


# -- length coercion (typmods) -----------------------------------------------------------------


def coerce_length(value: str, oid: int, typmod: int, *, explicit: bool) -> str:
    """varchar(n)/char(n): too long is an error unless the excess is blanks or the cast is
    explicit (then it is cut); char(n) pads with blanks."""
    if typmod < VARHDRSZ:
        return value
    length = typmod - VARHDRSZ
    if len(value) > length:
        if not explicit and value[length:].strip(" "):
            kind = "character varying" if oid == VARCHAR_OID else "character"
            raise MirrordbError(f"value too long for type {kind}({length})", sqlstate="22001")
        value = value[:length]
    if oid == BPCHAR_OID and len(value) < length:
        value = value + " " * (length - len(value))
    return value


def apply_typmod(value: Any, oid: int, typmod: int, *, explicit: bool = False) -> Any:
    """The length/precision coercion of ``oid`` with ``typmod`` (PostgreSQL's typmod casts)."""
    if typmod < 0 or value is None:
        return value
    if oid in (VARCHAR_OID, BPCHAR_OID):
        return coerce_length(value, oid, typmod, explicit=explicit)
    if oid == NUMERIC_OID:
        return num.apply_numeric_typmod(value, typmod)
    if oid in (TIMESTAMP_OID, TIMESTAMPTZ_OID):
        return dt.adjust_timestamp_precision(value, typmod)
    if oid == TIME_OID:
        return dt.adjust_time_precision(value, typmod)
    if oid == INTERVAL_OID:
        return dt.adjust_interval_precision(value, interval_typmod_precision(typmod))
    element = element_type_of(oid)
    if element and isinstance(value, list):
        return [apply_typmod(item, element, typmod, explicit=explicit) for item in value]
    return value


# -- casts -----------------------------------------------------------------------------------------

IMPLICIT, ASSIGNMENT, EXPLICIT = "implicit", "assignment", "explicit"
_CONTEXT_LEVEL = {IMPLICIT: 0, ASSIGNMENT: 1, EXPLICIT: 2}
_CONTEXT_BY_LETTER = {"i": IMPLICIT, "a": ASSIGNMENT, "e": EXPLICIT}

# pg_cast rows among the supported types: (source, target) -> context letter. Casts written
# "b" below are binary coercible (no conversion function).
_PG_CAST: dict[tuple[int, int], str] = {}
_BINARY_COERCIBLE: set[tuple[int, int]] = set()


def _casts(rows: str) -> None:
    for row in rows.split():
        source, target, context = row.split(":")
        key = (int(source), int(target))
        _PG_CAST[key] = context[0]
        if context.endswith("b"):
            _BINARY_COERCIBLE.add(key)


_casts("""
16:23:e 16:25:a 16:1042:a 16:1043:a 18:23:e 18:25:i 18:1042:a 18:1043:a 19:25:i 19:1042:a
19:1043:a 20:21:a 20:23:a 20:24:i 20:26:i 20:700:i 20:701:i 20:1700:i 20:2202:i 20:2205:i
20:2206:i 20:4089:i 20:4096:i 21:20:i 21:23:i 21:24:i 21:26:i 21:700:i 21:701:i 21:1700:i
21:2202:i 21:2205:i 21:2206:i 21:4089:i 21:4096:i 23:16:e 23:18:e 23:20:i 23:21:a 23:24:ib
23:26:ib 23:700:i 23:701:i 23:1700:i 23:2202:ib 23:2205:ib 23:2206:ib 23:4089:ib 23:4096:ib
24:20:a 24:23:ab 24:26:ib 24:2202:ib 25:18:a 25:19:i 25:1042:ib 25:1043:ib 25:2205:i 26:20:a
26:23:ab 26:24:ib 26:2202:ib 26:2205:ib 26:2206:ib 26:4089:ib 26:4096:ib 114:3802:a 700:20:a
700:21:a 700:23:a 700:701:i 700:1700:a 701:20:a 701:21:a 701:23:a 701:700:a 701:1700:a
1042:18:a 1042:19:i 1042:25:i 1042:1043:i 1043:18:a 1043:19:i 1043:25:ib 1043:1042:ib
1043:2205:i 1082:1114:i 1082:1184:i 1083:1186:i 1114:1082:a 1114:1083:a 1114:1184:i
1184:1082:a 1184:1083:a 1184:1114:a 1186:1083:a 1700:20:a 1700:21:a 1700:23:a 1700:700:i
1700:701:i 2202:20:a 2202:23:ab 2202:24:ib 2202:26:ib 2205:20:a 2205:23:ab 2205:26:ib 2206:20:a
2206:23:ab 2206:26:ib 3802:16:e 3802:20:e 3802:21:e 3802:23:e 3802:114:a 3802:700:e 3802:701:e
3802:1700:e 4089:20:a 4089:23:ab 4089:26:ib 4096:20:a 4096:23:ab 4096:26:ib
""")


def cast_context(source_oid: int, target_oid: int) -> str | None:
    """The weakest context in which PostgreSQL converts ``source_oid`` to ``target_oid``:
    'implicit', 'assignment', 'explicit', or None when there is no cast at all."""
    return _cast_context(source_oid, target_oid)


def _cast_context(source_oid: int, target_oid: int) -> str | None:
    """User types' answers depend on the session's catalog, so only built-ins' are cached."""
    if source_oid >= FIRST_USER_TYPE_OID or target_oid >= FIRST_USER_TYPE_OID:
        return _user_cast_context(source_oid, target_oid)
    return _builtin_cast_context(source_oid, target_oid)


def _user_cast_context(source_oid: int, target_oid: int) -> str | None:
    """A domain converts as its base type does, both ways (PostgreSQL's find_coercion_pathway
    coerces to the base type, then checks the domain); an enum converts to and from strings
    through its I/O functions."""
    if source_oid == target_oid or source_oid == UNKNOWN_OID:
        return IMPLICIT
    source_base, target_base = base_type(source_oid), base_type(target_oid)
    if (source_base, target_base) != (source_oid, target_oid):
        if source_base == target_base:
            return IMPLICIT
        return _cast_context(source_base, target_base)
    return _uncached_cast_context(source_oid, target_oid)


@functools.lru_cache(maxsize=4096)
def _builtin_cast_context(source_oid: int, target_oid: int) -> str | None:
    return _uncached_cast_context(source_oid, target_oid)


def _uncached_cast_context(source_oid: int, target_oid: int) -> str | None:
    if source_oid == target_oid or source_oid == UNKNOWN_OID:
        return IMPLICIT
    if is_row_type(source_oid):
        return _row_cast_context(target_oid)
    letter = _PG_CAST.get((source_oid, target_oid))
    if letter is not None:
        return _CONTEXT_BY_LETTER[letter]
    source_info, target_info = TYPES.get(source_oid), TYPES.get(target_oid)
    if source_info is None or target_info is None:
        return None
    if target_oid in (ANY_OID, ANYELEMENT_OID) or (
            target_oid in (ANYARRAY_OID, ANYCOMPATIBLEARRAY_OID) and is_array_type(source_oid)) \
            or (target_oid in (ANYNONARRAY_OID, ANYCOMPATIBLE_OID)
                and not is_array_type(source_oid)):
        return IMPLICIT
    if is_array_type(source_oid) and is_array_type(target_oid):
        element_context = _cast_context(source_info.element_oid, target_info.element_oid)
        if element_context is not None:
            return element_context
    if target_info.category == "S" and source_info.type_type in ("b", "e"):
        return ASSIGNMENT
    if source_info.category == "S" and target_info.type_type in ("b", "e"):
        return EXPLICIT
    return None


def can_coerce(source_oid: int, target_oid: int, context: str = IMPLICIT) -> bool:
    found = _cast_context(source_oid, target_oid)
    return found is not None and _CONTEXT_LEVEL[found] <= _CONTEXT_LEVEL[context]


_CastFunction = Callable[[Any, str], Any]        # (value, timezone) -> value


def _int_narrowing(type_name: str) -> _CastFunction:
    low, high = num.INTEGER_RANGES[type_name]

    def narrow(value: int, timezone: str) -> int:
        if not low <= value <= high:
            raise num.out_of_range(type_name)
        return value
    return narrow


def _to_oid(value: int, timezone: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise MirrordbError("OID out of range", sqlstate="22003")
    return value


def _int4_as_oid(value: int, timezone: str) -> int:
    return value & 0xFFFFFFFF


def _oid_as_int4(value: int, timezone: str) -> int:
    return value - 2**32 if value > num.INT4_MAX else value


def _int4_to_char(value: int, timezone: str) -> str:
    if not -128 <= value <= 127:
        raise MirrordbError('"char" out of range', sqlstate="22003")
    return chr(value & 0xFF) if value else ""


def _char_to_int4(value: str, timezone: str) -> int:
    if not value:
        return 0
    code = ord(value[0]) & 0xFF
    return code - 256 if code > 127 else code


def _float8_to_float4(value: float, timezone: str) -> float:
    return num.check_float4_nonzero(value, value) if value != 0.0 else value


def _jsonb_scalar(target_name: str, kind: str) -> Callable[[str], Any]:
    def extract(value: str) -> Any:
        parsed = json_value(value)
        actual = _jsonb_kind(parsed)
        if actual != kind:
            raise MirrordbError(f"cannot cast jsonb {actual} to type {target_name}",
                                sqlstate="22023")
        return parsed
    return extract


def _jsonb_kind(value: Any) -> str:
    if isinstance(value, _JsonObject):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "numeric"


def _jsonb_to_numeric(value: str, timezone: str) -> decimal.Decimal:
    return num.normalize_numeric(_jsonb_scalar("numeric", "numeric")(value))


def _jsonb_to_int(type_name: str) -> _CastFunction:
    def convert(value: str, timezone: str) -> int:
        return num.numeric_to_int(_jsonb_scalar(type_name, "numeric")(value), type_name)
    return convert


def _jsonb_to_float(type_name: str, single: bool) -> _CastFunction:
    def convert(value: str, timezone: str) -> float:
        return num.numeric_to_float(_jsonb_scalar(type_name, "numeric")(value), single)
    return convert


_CASTS: dict[tuple[int, int], _CastFunction] = {
    (INT8_OID, INT2_OID): _int_narrowing("smallint"),
    (INT8_OID, INT4_OID): _int_narrowing("integer"),
    (INT4_OID, INT2_OID): _int_narrowing("smallint"),
    (INT8_OID, OID_OID): _to_oid,
    (INT4_OID, OID_OID): _int4_as_oid,
    (INT2_OID, OID_OID): _int4_as_oid,
    (OID_OID, INT4_OID): _oid_as_int4,
    (OID_OID, INT8_OID): lambda value, timezone: value,
    (INT4_OID, FLOAT4_OID): lambda value, timezone: num.round_to_float4(float(value)),
    (INT2_OID, FLOAT4_OID): lambda value, timezone: float(value),
    (INT8_OID, FLOAT4_OID): lambda value, timezone: num.round_to_float4(float(value)),
    (INT2_OID, FLOAT8_OID): lambda value, timezone: float(value),
    (INT4_OID, FLOAT8_OID): lambda value, timezone: float(value),
    (INT8_OID, FLOAT8_OID): lambda value, timezone: float(value),
    (INT2_OID, NUMERIC_OID): lambda value, timezone: decimal.Decimal(value),
    (INT4_OID, NUMERIC_OID): lambda value, timezone: decimal.Decimal(value),
    (INT8_OID, NUMERIC_OID): lambda value, timezone: decimal.Decimal(value),
    (FLOAT4_OID, INT2_OID): lambda value, timezone: num.float_to_int(value, "smallint"),
    (FLOAT4_OID, INT4_OID): lambda value, timezone: num.float_to_int(value, "integer"),
    (FLOAT4_OID, INT8_OID): lambda value, timezone: num.float_to_int(value, "bigint"),
    (FLOAT8_OID, INT2_OID): lambda value, timezone: num.float_to_int(value, "smallint"),
    (FLOAT8_OID, INT4_OID): lambda value, timezone: num.float_to_int(value, "integer"),
    (FLOAT8_OID, INT8_OID): lambda value, timezone: num.float_to_int(value, "bigint"),
    (FLOAT4_OID, FLOAT8_OID): lambda value, timezone: value,
    (FLOAT8_OID, FLOAT4_OID): _float8_to_float4,
    (FLOAT4_OID, NUMERIC_OID): lambda value, timezone: num.float_to_numeric(value, True),
    (FLOAT8_OID, NUMERIC_OID): lambda value, timezone: num.float_to_numeric(value),
    (NUMERIC_OID, INT2_OID): lambda value, timezone: num.numeric_to_int(value, "smallint"),
    (NUMERIC_OID, INT4_OID): lambda value, timezone: num.numeric_to_int(value, "integer"),
    (NUMERIC_OID, INT8_OID): lambda value, timezone: num.numeric_to_int(value, "bigint"),
    (NUMERIC_OID, FLOAT4_OID): lambda value, timezone: num.numeric_to_float(value, True),
    (NUMERIC_OID, FLOAT8_OID): lambda value, timezone: num.numeric_to_float(value),
    (BOOL_OID, INT4_OID): lambda value, timezone: 1 if value else 0,
    (INT4_OID, BOOL_OID): lambda value, timezone: value != 0,
    (INT4_OID, CHAR_OID): _int4_to_char,
    (CHAR_OID, INT4_OID): _char_to_int4,
    (DATE_OID, TIMESTAMP_OID): lambda value, timezone: dt.date_to_timestamp(value),
    (DATE_OID, TIMESTAMPTZ_OID): dt.date_to_timestamptz,
    (TIMESTAMP_OID, DATE_OID): lambda value, timezone: value.date(),
    (TIMESTAMP_OID, TIME_OID): lambda value, timezone: value.time(),
    (TIMESTAMP_OID, TIMESTAMPTZ_OID): dt.timestamp_to_timestamptz,
    (TIMESTAMPTZ_OID, DATE_OID): dt.timestamptz_to_date,
    (TIMESTAMPTZ_OID, TIME_OID): dt.timestamptz_to_time,
    (TIMESTAMPTZ_OID, TIMESTAMP_OID): dt.timestamptz_to_timestamp,
    (TIME_OID, INTERVAL_OID): lambda value, timezone: dt.time_to_interval(value),
    (INTERVAL_OID, TIME_OID): lambda value, timezone: dt.interval_to_time(value),
    (BPCHAR_OID, TEXT_OID): lambda value, timezone: value.rstrip(" "),
    (BPCHAR_OID, VARCHAR_OID): lambda value, timezone: value.rstrip(" "),
    (BPCHAR_OID, NAME_OID): lambda value, timezone: _truncate_name(value.rstrip(" ")),
    (TEXT_OID, NAME_OID): lambda value, timezone: _truncate_name(value),
    (VARCHAR_OID, NAME_OID): lambda value, timezone: _truncate_name(value),
    (TEXT_OID, CHAR_OID): lambda value, timezone: value[:1],
    (VARCHAR_OID, CHAR_OID): lambda value, timezone: value[:1],
    (BPCHAR_OID, CHAR_OID): lambda value, timezone: value[:1],
    (JSON_OID, JSONB_OID): lambda value, timezone: parse_jsonb(value),
    (JSONB_OID, JSON_OID): lambda value, timezone: value,
    (JSONB_OID, BOOL_OID): lambda value, timezone: _jsonb_scalar("boolean", "boolean")(value),
    (JSONB_OID, NUMERIC_OID): _jsonb_to_numeric,
    (JSONB_OID, INT2_OID): _jsonb_to_int("smallint"),
    (JSONB_OID, INT4_OID): _jsonb_to_int("integer"),
    (JSONB_OID, INT8_OID): _jsonb_to_int("bigint"),
    (JSONB_OID, FLOAT4_OID): _jsonb_to_float("real", True),
    (JSONB_OID, FLOAT8_OID): _jsonb_to_float("double precision", False),
}


def _identity(value: Any, timezone: str) -> Any:
    return value


def _bool_text(value: bool, timezone: str) -> str:
    return "true" if value else "false"


def _char_text(value: str, timezone: str) -> str:
    return value


def _text_to_regclass(value: str, timezone: str) -> int:
    return _reg_in(REGCLASS_OID)(value, -1, timezone)  # type: ignore[no-any-return]


def _complete_cast_table() -> None:
    """Add the pg_cast functions that are the same for a family of types."""
    for target in (TEXT_OID, VARCHAR_OID, BPCHAR_OID):
        _CASTS[(BOOL_OID, target)] = _bool_text
        _CASTS[(CHAR_OID, target)] = _char_text
    _CASTS[(TEXT_OID, REGCLASS_OID)] = _text_to_regclass
    _CASTS[(VARCHAR_OID, REGCLASS_OID)] = _text_to_regclass
    for reg in REG_OIDS:
        _CASTS[(INT8_OID, reg)] = _to_oid
        _CASTS[(INT4_OID, reg)] = _int4_as_oid
        _CASTS[(INT2_OID, reg)] = _int4_as_oid
        _CASTS[(reg, INT4_OID)] = _oid_as_int4


# pg_cast entries that keep the value unchanged (widening, renaming, binary coercible).
_WIDENING_CASTS = frozenset(
    {(INT2_OID, INT4_OID), (INT2_OID, INT8_OID), (INT4_OID, INT8_OID), (NAME_OID, TEXT_OID),
     (NAME_OID, VARCHAR_OID), (NAME_OID, BPCHAR_OID), (BPCHAR_OID, BPCHAR_OID),
     (VARCHAR_OID, VARCHAR_OID), (TIMESTAMP_OID, TIMESTAMP_OID),
     (TIMESTAMPTZ_OID, TIMESTAMPTZ_OID), (TIME_OID, TIME_OID), (INTERVAL_OID, INTERVAL_OID),
     (NUMERIC_OID, NUMERIC_OID)}
    | {(reg, INT8_OID) for reg in REG_OIDS} | {(reg, OID_OID) for reg in REG_OIDS}
    | {(OID_OID, reg) for reg in REG_OIDS} | {(REGPROC_OID, REGPROCEDURE_OID),
                                            (REGPROCEDURE_OID, REGPROC_OID)})


def _check_cast_table() -> None:
    """Every pg_cast row has an implementation (checked once, at import)."""
    for key in _PG_CAST:
        invariant(key in _CASTS or key in _WIDENING_CASTS or key in _BINARY_COERCIBLE,
                  f"pg_cast {key} has no implementation")


def cast_function(source_oid: int, target_oid: int) -> _CastFunction:
    """The conversion from ``source_oid`` to ``target_oid`` (typmods not applied); raises 42846
    when PostgreSQL has no such cast."""
    return _cast_function(source_oid, target_oid)


_complete_cast_table()
_check_cast_table()


def _cast_function(source_oid: int, target_oid: int) -> _CastFunction:
    """User types' conversions depend on the session's catalog, so only built-ins' are
    cached."""
    if source_oid >= FIRST_USER_TYPE_OID or target_oid >= FIRST_USER_TYPE_OID:
        return _user_cast_function(source_oid, target_oid)
    return _builtin_cast_function(source_oid, target_oid)


def _user_cast_function(source_oid: int, target_oid: int) -> _CastFunction:
    """To a domain: the conversion to its base type, then the domain's constraints; from a
    domain: its base type's conversion."""
    source = _USER_TYPES.get()
    check = source.domain_check(target_oid) if source is not None else None
    if source_oid == target_oid:
        return _identity
    source_base, target_base = base_type(source_oid), base_type(target_oid)
    if (source_base, target_base) == (source_oid, target_oid):
        convert = _uncached_cast_function(source_oid, target_oid)
    elif source_oid == UNKNOWN_OID:      # the base type's input, then the domain's checks
        convert = _cast_function(UNKNOWN_OID, target_base)
    elif source_base == target_base:
        convert = _identity
    else:
        try:
            convert = _cast_function(source_base, target_base)
        except MirrordbError as error:
            if error.sqlstate != "42846":
                raise
            raise cannot_cast(source_oid, target_oid) from None
    if check is None:
        return convert

    def convert_and_check(value: Any, timezone: str) -> Any:
        return check(convert(value, timezone))
    return convert_and_check


@functools.lru_cache(maxsize=4096)
def _builtin_cast_function(source_oid: int, target_oid: int) -> _CastFunction:
    return _uncached_cast_function(source_oid, target_oid)


def _uncached_cast_function(source_oid: int, target_oid: int) -> _CastFunction:
    if source_oid == target_oid or (source_oid, target_oid) in _BINARY_COERCIBLE:
        special = _CASTS.get((source_oid, target_oid))
        return special if special is not None else _identity
    direct = _CASTS.get((source_oid, target_oid))
    if direct is not None:
        return direct
    if (source_oid, target_oid) in _WIDENING_CASTS:
        return _identity
    if source_oid == UNKNOWN_OID:
        return _via_input(target_oid)
    if is_row_type(source_oid) and _row_cast_context(target_oid) is not None:
        return _identity if target_oid == RECORD_OID else _via_output(source_oid, target_oid)
    if is_array_type(source_oid) and is_array_type(target_oid):
        return _array_cast(source_oid, target_oid)
    source_info, target_info = TYPES.get(source_oid), TYPES.get(target_oid)
    if source_info is None or target_info is None:
        raise cannot_cast(source_oid, target_oid)
    if target_info.category == "S":
        return _via_output(source_oid, target_oid)
    if source_info.category == "S":
        return _via_input(target_oid)
    raise cannot_cast(source_oid, target_oid)


def _via_input(target_oid: int) -> _CastFunction:
    parse = _input_function(target_oid)
    typmod = -1

    def convert(value: Any, timezone: str) -> Any:
        return parse(str(value), typmod, timezone)
    return convert


def _via_output(source_oid: int, target_oid: int) -> _CastFunction:
    output = _output_function(source_oid)
    finish = _CASTS.get((TEXT_OID, target_oid))

    def convert(value: Any, timezone: str) -> Any:
        text = output(value, timezone)
        return finish(text, timezone) if finish is not None else text
    return convert


def _array_cast(source_oid: int, target_oid: int) -> _CastFunction:
    element_cast = _cast_function(element_type_of(source_oid), element_type_of(target_oid))

    def convert(values: list[Any], timezone: str) -> list[Any]:
        return [None if value is None else element_cast(value, timezone) for value in values]
    return convert


def cast(value: Any, source_oid: int, target_oid: int, target_typmod: int = -1, *,
         context: str = EXPLICIT, timezone: str = "UTC") -> Any:
    """Convert ``value`` of ``source_oid`` to ``target_oid`` (and its typmod) as PostgreSQL's
    cast in ``context`` does: explicit casts cut too-long strings, assignment raises 22001."""
    if value is None:
        return None
    if source_oid == UNKNOWN_OID and target_oid == INTERVAL_OID:
        converted = _interval_in(str(value), target_typmod, timezone)
    else:
        converted = _cast_function(source_oid, target_oid)(value, timezone)
    if target_typmod >= 0:
        converted = apply_typmod(converted, target_oid, target_typmod,
                                 explicit=context == EXPLICIT)
    return converted


# -- common types (select_common_type) -------------------------------------------------------------


def type_category(oid: int) -> str:
    info = TYPES.get(oid)
    return info.category if info is not None else "U"


def is_preferred(oid: int) -> bool:
    info = TYPES.get(oid)
    return info is not None and info.preferred


def common_type(oids: Sequence[int], context: str) -> int:
    """The type a set of expressions is converted to (CASE, UNION, COALESCE, VALUES, ARRAY...);
    unknown literals alone become text; mismatched categories raise 42804."""
    invariant(len(oids) > 0, "common_type needs at least one type")
    chosen = oids[0]
    if chosen != UNKNOWN_OID and all(oid == chosen for oid in oids):
        return chosen
    chosen_category = type_category(chosen)
    chosen_preferred = is_preferred(chosen)
    for oid in oids[1:]:
        if oid == UNKNOWN_OID or oid == chosen:
            continue
        category, preferred = type_category(oid), is_preferred(oid)
        if chosen == UNKNOWN_OID:
            chosen, chosen_category, chosen_preferred = oid, category, preferred
        elif category != chosen_category:
            raise MirrordbError(f"{context} types {format_type(chosen)} and {format_type(oid)} "
                                f"cannot be matched", sqlstate="42804")
        elif not chosen_preferred and can_coerce(chosen, oid) and not can_coerce(oid, chosen):
            chosen, chosen_category, chosen_preferred = oid, category, preferred
    if chosen == UNKNOWN_OID:
        return TEXT_OID
    for oid in oids:
        if oid != UNKNOWN_OID and not can_coerce(oid, chosen):
            raise MirrordbError(f"{context} could not convert type {format_type(oid)} to "
                                f"{format_type(chosen)}", sqlstate="42846")
    return chosen


# -- comparison ------------------------------------------------------------------------------------


def _float_key(value: float) -> Any:
    return datum.NAN_SORT_KEY if value != value else value


def _numeric_key(value: decimal.Decimal) -> Any:
    return datum.NAN_SORT_KEY if value.is_nan() else value


def _bpchar_key(value: str) -> str:
    return value.rstrip(" ")


def _interval_key(value: Interval) -> int:
    return value.span_microseconds()


def _jsonb_key(value: str) -> Any:
    return _jsonb_sort_key(json_value(value))


_JSONB_KIND_RANK = {"null": 0, "string": 1, "numeric": 2, "boolean": 3, "array": 4, "object": 5}


def _jsonb_sort_key(parsed: Any) -> Any:
    kind = _jsonb_kind(parsed)
    if kind == "object":
        items = sorted({key: item for key, item in parsed}.items(),
                       key=lambda pair: (len(pair[0].encode()), pair[0].encode()))
        return (5, len(items), [(len(key.encode()), key.encode(), _jsonb_sort_key(item))
                                for key, item in items])
    if kind == "array":
        return (4, len(parsed), [_jsonb_sort_key(item) for item in parsed])
    if kind == "numeric":
        return (2, parsed)
    return (_JSONB_KIND_RANK[kind], parsed if parsed is not None else 0)


def _array_key(element_oid: int) -> Callable[[Any], Any]:
    element_key = _value_key(element_oid)

    def key(values: list[Any]) -> Any:
        return [datum.NULL_SORT_KEY if value is None else element_key(value)
                for value in values]
    return key


def _value_key(oid: int) -> Callable[[Any], Any]:
    if is_row_type(oid):
        return _record_key
    if oid >= FIRST_USER_TYPE_OID and not is_array_type(oid):
        source = _USER_TYPES.get()
        enum_key = source.sort_key(oid) if source is not None else None
        if enum_key is not None:
            return enum_key
        if base_type(oid) != oid:
            return _value_key(base_type(oid))
    if oid in (FLOAT4_OID, FLOAT8_OID):
        return _float_key
    if oid == NUMERIC_OID:
        return _numeric_key
    if oid == BPCHAR_OID:
        return _bpchar_key
    if oid == INTERVAL_OID:
        return _interval_key
    if oid == JSONB_OID:
        return _jsonb_key
    element = element_type_of(oid)
    if element:
        return _array_key(element)
    return lambda value: value


def sort_key(oid: int) -> Callable[[Any], Any]:
    if oid >= FIRST_USER_TYPE_OID:
        return _sort_key(oid)
    return _cached_sort_key(oid)


@functools.lru_cache(maxsize=512)
def _cached_sort_key(oid: int) -> Callable[[Any], Any]:
    return _sort_key(oid)


def _sort_key(oid: int) -> Callable[[Any], Any]:
    """A key function ordering values of ``oid`` as its B-tree operator class does; NULL (None)
    sorts after every value (ASC NULLS LAST), NaN after every number."""
    value_key = _value_key(oid)

    def key(value: Any) -> Any:
        return datum.NULL_SORT_KEY if value is None else value_key(value)
    return key


def compare(a: Any, b: Any, oid: int) -> int:
    """-1, 0 or 1 as ``a`` sorts before, with or after ``b`` (B-tree order; NULLs last)."""
    key = sort_key(oid)
    left, right = key(a), key(b)
    if left == right:
        return 0
    return -1 if left < right else 1


def values_equal(a: Any, b: Any, oid: int) -> bool:
    return compare(a, b, oid) == 0



def caster(source_oid: int, target_oid: int, target_typmod: int = -1, *,
           context: str = EXPLICIT) -> Callable[[Any, str], Any]:
    """``cast`` for one (source, target, typmod, context), resolved once: the planner calls this
    at plan time and the executor calls the result per row as ``convert(value, timezone)``
    (value not NULL)."""
    if source_oid == UNKNOWN_OID and target_oid == INTERVAL_OID:
        return lambda value, timezone: _interval_in(str(value), target_typmod, timezone)
    convert = _cast_function(source_oid, target_oid)
    if target_typmod < 0:
        return convert
    explicit = context == EXPLICIT

    def convert_with_typmod(value: Any, timezone: str) -> Any:
        return apply_typmod(convert(value, timezone), target_oid, target_typmod,
                            explicit=explicit)
    return convert_with_typmod
