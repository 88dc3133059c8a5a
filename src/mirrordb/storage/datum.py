"""The row codec: a table row's values as bytes, in mirrordb's own compact format.

Who calls it: the heap (a row's values become the data part of a heap tuple, see storage/tuple.py),
the B-tree (index keys) and the catalog layer. One ``RowCodec`` is built per row shape (a list of
PostgreSQL type OIDs) and cached by the relation descriptor; ``encode``/``decode`` run once per row,
so everything that depends only on the column types is worked out when the codec is built.

Row format. A row of N columns is stored as two pieces, as in a PostgreSQL heap tuple:

* the null bitmap, ``(N + 7) // 8`` bytes, present only when some value is NULL. Bit ``i % 8`` of
  byte ``i // 8`` is 1 when column ``i`` is NOT NULL (PostgreSQL's convention). Bits past column
  N-1 are zero.
* the data: the non-NULL values one after the other in column order, with no alignment padding. A
  NULL value takes no bytes. Fixed-width values are little-endian:

    ====================== ======= ==================================================
    type (OID)             bytes   encoding
    ====================== ======= ==================================================
    bool (16)              1       0 or 1
    int2 (21)              2       signed
    int4 (23)              4       signed
    int8 (20)              8       signed
    "char" (18)            1       the character's code (0..255; 0 for the empty string)
    oid (26), xid (28)     4       unsigned
    cid (29), reg* (24,    4       unsigned (regproc, regprocedure, regclass, regtype,
      2202..2206, 4089,              regnamespace, regrole: the object's OID)
      4096)
    pg_lsn (3220)          8       unsigned
    float4 (700)           4       IEEE 754 single
    float8 (701)           8       IEEE 754 double
    date (1082)            4       signed days since 2000-01-01 (PostgreSQL's DateADT)
    time (1083)            8       signed microseconds since midnight
    timestamp (1114)       8       signed microseconds since 2000-01-01 00:00:00
    timestamptz (1184)     8       signed microseconds since 2000-01-01 00:00:00 UTC
    interval (1186)        16      microseconds i64, days i32, months i32 (PostgreSQL's order)
    uuid (2950)            16      the 16 bytes in network order
    ====================== ======= ==================================================

  Variable-width values (bytea 17, name 19, text 25, json 114, bpchar 1042, varchar 1043,
  numeric 1700, jsonb 3802) are a length header followed by that many bytes. The header is one byte
  ``length << 1`` when the length is below 128, else four bytes, the u32 ``length << 1 | 1``
  (the low bit of the first byte tells which). Text types are UTF-8; numeric is its ASCII text form
  (``NaN``, ``Infinity``, ``-Infinity`` included); json and jsonb are their text.

  Array columns (int4[] 1007, text[] 1009, ... an array of every type above) are variable-width:
  the length header, then PostgreSQL's own on-disk array after its varlena header, byte for byte
  (array_format.py; numeric elements in PostgreSQL's numeric format, numeric_format.py; jsonb
  elements, alone, are their text). Their Python value is a list of element values or None.

Python values: bool, int, float, str, bytes, decimal.Decimal, datetime.date, datetime.time (naive),
datetime.datetime (naive for timestamp, aware for timestamptz: decoded as UTC), ``Interval`` and
uuid.UUID. A value of the wrong Python type or out of the type's range is an operating error with
PostgreSQL's SQLSTATE (22P02, 22003, 22021, 22001); garbage handed to ``decode`` raises only
``DataCorrupted``.

``sort_key`` turns decoded values into keys that compare with plain ``<`` in PostgreSQL's B-tree
order: NULL after every value (ASC NULLS LAST), NaN after every number, intervals by their total
span.
"""

from __future__ import annotations

import datetime
import decimal
import math
import struct
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mirrordb.common.errors import DataCorrupted, MirrordbError, invariant
from mirrordb.storage.array_format import ElementFormat, decode_array, encode_array
from mirrordb.storage.numeric_format import decode_numeric, encode_numeric

# -- type OIDs (PostgreSQL's pg_type.oid values) --------------------------------------------------

BOOL_OID = 16
BYTEA_OID = 17
NAME_OID = 19
INT8_OID = 20
INT2_OID = 21
INT4_OID = 23
TEXT_OID = 25
OID_OID = 26
XID_OID = 28
JSON_OID = 114
FLOAT4_OID = 700
FLOAT8_OID = 701
BPCHAR_OID = 1042
VARCHAR_OID = 1043
DATE_OID = 1082
TIME_OID = 1083
TIMESTAMP_OID = 1114
TIMESTAMPTZ_OID = 1184
INTERVAL_OID = 1186
NUMERIC_OID = 1700
UUID_OID = 2950
PG_LSN_OID = 3220
JSONB_OID = 3802
CHAR_OID = 18                            # "char": one byte
REGPROC_OID = 24
CID_OID = 29
REGPROCEDURE_OID = 2202
REGCLASS_OID = 2205
REGTYPE_OID = 2206
REGNAMESPACE_OID = 4089
REGROLE_OID = 4096

# -- limits ----------------------------------------------------------------------------------------

MAX_COLUMNS = 1600                       # PostgreSQL's MaxHeapAttributeNumber
MAX_VARLENA_BYTES = 0x3FFFFFFF           # PostgreSQL's 1 GB - 1 limit on one value
NAME_MAX_BYTES = 63                      # NAMEDATALEN - 1
MAX_CACHED_NULL_PATTERNS = 256           # decode/encode plans kept per codec, one per null pattern

# -- struct formats --------------------------------------------------------------------------------

SHORT_VARLENA_LIMIT = 128                # lengths below this get the one-byte header
_LONG_VARLENA_HEADER = struct.Struct("<I")
_INTERVAL = struct.Struct("<qii")
assert _LONG_VARLENA_HEADER.size == 4 and _INTERVAL.size == 16

POSTGRES_EPOCH_DATE = datetime.date(2000, 1, 1)
POSTGRES_EPOCH_ORDINAL = POSTGRES_EPOCH_DATE.toordinal()
MICROSECONDS_PER_SECOND = 1_000_000
MICROSECONDS_PER_DAY = 86_400 * MICROSECONDS_PER_SECOND
DAYS_PER_MONTH = 30                      # PostgreSQL's DAYS_PER_MONTH, used to compare intervals
_UTC = datetime.UTC
POSTGRES_EPOCH_TIMESTAMP = datetime.datetime(2000, 1, 1)
POSTGRES_EPOCH_TIMESTAMPTZ = datetime.datetime(2000, 1, 1, tzinfo=_UTC)
ONE_MICROSECOND = datetime.timedelta(microseconds=1)


@dataclass(slots=True)
class Interval:
    """PostgreSQL's interval: months, days and microseconds kept apart (they do not convert)."""

    months: int
    days: int
    microseconds: int

    def span_microseconds(self) -> int:
        """The total span PostgreSQL compares intervals by (a month counts as 30 days)."""
        return ((self.months * DAYS_PER_MONTH + self.days) * MICROSECONDS_PER_DAY
                + self.microseconds)


# -- operating errors ------------------------------------------------------------------------------


def _wrong_type(type_name: str, value: object) -> MirrordbError:
    return MirrordbError(f"invalid input value for type {type_name}: {value!r}",
                         detail=f"A Python {type(value).__name__} cannot be stored as {type_name}.",
                         sqlstate="22P02")


def _out_of_range(type_name: str) -> MirrordbError:
    return MirrordbError(f"{type_name} out of range", sqlstate="22003")


# -- per-type conversions ----------------------------------------------------------------------------
# An encoder takes a Python value of the column's exact type and returns what the column's struct
# field (or variable-width payload) stores; a decoder does the reverse. ``None`` means identity.


def _date_to_days(value: datetime.date) -> int:
    return value.toordinal() - POSTGRES_EPOCH_ORDINAL


def _days_to_date(days: int) -> datetime.date:
    return datetime.date.fromordinal(days + POSTGRES_EPOCH_ORDINAL)


def _time_to_microseconds(value: datetime.time) -> int:
    if value.tzinfo is not None:
        raise ValueError("time with a time zone")
    return ((value.hour * 60 + value.minute) * 60 + value.second) * MICROSECONDS_PER_SECOND \
        + value.microsecond


def _microseconds_to_time(microseconds: int) -> datetime.time:
    if not 0 <= microseconds < MICROSECONDS_PER_DAY:
        raise ValueError("time of day out of range")
    seconds, microsecond = divmod(microseconds, MICROSECONDS_PER_SECOND)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return datetime.time(hour, minute, second, microsecond)


def _timestamp_to_microseconds(value: datetime.datetime) -> int:
    # Subtracting the naive epoch from an aware datetime raises TypeError: the caller's checked
    # path then reports the wrong type.
    return (value - POSTGRES_EPOCH_TIMESTAMP) // ONE_MICROSECOND


def _timestamptz_to_microseconds(value: datetime.datetime) -> int:
    return (value - POSTGRES_EPOCH_TIMESTAMPTZ) // ONE_MICROSECOND


def _microseconds_to_timestamp(microseconds: int) -> datetime.datetime:
    return POSTGRES_EPOCH_TIMESTAMP + datetime.timedelta(microseconds=microseconds)


def _microseconds_to_timestamptz(microseconds: int) -> datetime.datetime:
    return POSTGRES_EPOCH_TIMESTAMPTZ + datetime.timedelta(microseconds=microseconds)


def _interval_to_bytes(value: Interval) -> bytes:
    return _INTERVAL.pack(value.microseconds, value.days, value.months)


def _bytes_to_interval(stored: bytes) -> Interval:
    microseconds, days, months = _INTERVAL.unpack(stored)
    return Interval(months, days, microseconds)


def _char_to_code(value: str) -> int:
    return ord(value) if value else 0          # more than one character: TypeError


def _code_to_char(code: int) -> str:
    return chr(code) if code else ""


def _uuid_to_bytes(value: uuid.UUID) -> bytes:
    return value.bytes


def _bytes_to_uuid(stored: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=stored)


def _text_to_bytes(value: str) -> bytes:
    return value.encode("utf-8")


def _name_to_bytes(value: str) -> bytes:
    stored = value.encode("utf-8")
    if len(stored) > NAME_MAX_BYTES:
        raise ValueError("name too long")
    return stored


def _bytes_to_text(stored: bytes) -> str:
    return stored.decode("utf-8")


def _numeric_to_bytes(value: decimal.Decimal) -> bytes:
    if value.is_snan():
        raise ValueError("signalling NaN")
    if value.is_nan():
        return b"NaN"
    return str(value).encode("ascii")


def _bytes_to_numeric(stored: bytes) -> decimal.Decimal:
    value = decimal.Decimal(stored.decode("ascii"))
    if value.is_snan():
        raise ValueError("signalling NaN is not a numeric value")
    return value


# -- value checks used when a row's Python types are not exactly the expected ones ---------------


def _check_int(type_name: str, low: int, high: int) -> Callable[[object], object]:
    def check(value: object) -> object:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _wrong_type(type_name, value)
        if not low <= value <= high:
            raise _out_of_range(type_name)
        return int(value)
    return check


def _check_char(value: object) -> object:
    if not isinstance(value, str) or len(value) > 1 or (value and ord(value) > 0xFF):
        raise _wrong_type('"char"', value)
    return str(value)


def _check_bool(value: object) -> object:
    if not isinstance(value, bool):
        raise _wrong_type("boolean", value)
    return value


def _check_float(type_name: str, single: bool) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong_type(type_name, value)
        try:
            number = float(value)
            if single:
                struct.pack("<f", number)
        except (OverflowError, struct.error):
            raise MirrordbError(f'value out of range: overflow for type {type_name}',
                                sqlstate="22003") from None
        return number
    return check


def _check_text(type_name: str, max_bytes: int = MAX_VARLENA_BYTES) -> Callable[[object], object]:
    def check(value: object) -> object:
        if not isinstance(value, str):
            raise _wrong_type(type_name, value)
        try:
            encoded = value.encode("utf-8")
        except UnicodeEncodeError:
            raise MirrordbError('invalid byte sequence for encoding "UTF8"',
                                detail=f"The {type_name} value contains a lone surrogate.",
                                sqlstate="22021") from None
        if len(encoded) > max_bytes:
            raise MirrordbError(f"value too long for type {type_name}: {len(encoded)} bytes, "
                                f"the limit is {max_bytes}", sqlstate="22001")
        return str(value)
    return check


def _check_bytea(value: object) -> object:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise _wrong_type("bytea", value)
    stored = bytes(value)
    if len(stored) > MAX_VARLENA_BYTES:
        raise MirrordbError(f"value too long for type bytea: {len(stored)} bytes",
                            sqlstate="22001")
    return stored


def _check_numeric(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return decimal.Decimal(value)
    if not isinstance(value, decimal.Decimal):
        raise _wrong_type("numeric", value)
    if value.is_snan():
        raise MirrordbError('invalid input syntax for type numeric: "sNaN"', sqlstate="22P02")
    return decimal.Decimal("NaN") if value.is_nan() else value


def _check_date(value: object) -> object:
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise _wrong_type("date", value)
    return datetime.date(value.year, value.month, value.day)


def _check_time(value: object) -> object:
    if not isinstance(value, datetime.time) or value.tzinfo is not None:
        raise _wrong_type("time without time zone", value)
    return datetime.time(value.hour, value.minute, value.second, value.microsecond)


def _check_timestamp(value: object) -> object:
    if not isinstance(value, datetime.datetime) or value.utcoffset() is not None:
        raise _wrong_type("timestamp without time zone", value)
    return value.replace(tzinfo=None, fold=0)


def _check_timestamptz(value: object) -> object:
    if not isinstance(value, datetime.datetime) or value.utcoffset() is None:
        raise _wrong_type("timestamp with time zone", value)
    try:
        return value.astimezone(_UTC)
    except OverflowError:
        raise _out_of_range("timestamp") from None


def _check_interval(value: object) -> object:
    if isinstance(value, datetime.timedelta):
        value = Interval(0, value.days, value.seconds * MICROSECONDS_PER_SECOND
                         + value.microseconds)
    if not isinstance(value, Interval) or not all(
            isinstance(part, int) and not isinstance(part, bool)
            for part in (value.months, value.days, value.microseconds)):
        raise _wrong_type("interval", value)
    if not (-2**31 <= value.months < 2**31 and -2**31 <= value.days < 2**31
            and -2**63 <= value.microseconds < 2**63):
        raise _out_of_range("interval")
    return value


def _check_uuid(value: object) -> object:
    if not isinstance(value, uuid.UUID):
        raise _wrong_type("uuid", value)
    return value


# -- the type table ----------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _TypeInfo:
    name: str
    python_type: type                     # the exact type of a value that needs no check
    field_format: str | None              # struct code of a fixed-width type, None if variable
    check: Callable[[object], object]     # validates/normalises a value of any Python type
    encode: Callable[[Any], Any] | None   # exact-typed value -> stored form (None: identity)
    decode: Callable[[Any], Any] | None   # stored form -> value (None: identity)


def _fixed(name: str, python_type: type, field_format: str, check: Callable[[object], object],
           encode: Callable[[Any], Any] | None = None,
           decode: Callable[[Any], Any] | None = None) -> _TypeInfo:
    return _TypeInfo(name, python_type, field_format, check, encode, decode)


def _variable(name: str, python_type: type, check: Callable[[object], object],
              encode: Callable[[Any], bytes] | None,
              decode: Callable[[bytes], Any] | None) -> _TypeInfo:
    return _TypeInfo(name, python_type, None, check, encode, decode)


_TYPES: dict[int, _TypeInfo] = {
    BOOL_OID: _fixed("boolean", bool, "?", _check_bool),
    INT2_OID: _fixed("smallint", int, "h", _check_int("smallint", -2**15, 2**15 - 1)),
    INT4_OID: _fixed("integer", int, "i", _check_int("integer", -2**31, 2**31 - 1)),
    INT8_OID: _fixed("bigint", int, "q", _check_int("bigint", -2**63, 2**63 - 1)),
    OID_OID: _fixed("oid", int, "I", _check_int("OID", 0, 2**32 - 1)),
    XID_OID: _fixed("xid", int, "I", _check_int("xid", 0, 2**32 - 1)),
    PG_LSN_OID: _fixed("pg_lsn", int, "Q", _check_int("pg_lsn", 0, 2**64 - 1)),
    CHAR_OID: _fixed('"char"', str, "B", _check_char, _char_to_code, _code_to_char),
    CID_OID: _fixed("cid", int, "I", _check_int("cid", 0, 2**32 - 1)),
    **{oid: _fixed(name, int, "I", _check_int("OID", 0, 2**32 - 1))
       for oid, name in ((REGPROC_OID, "regproc"), (REGPROCEDURE_OID, "regprocedure"),
                         (REGCLASS_OID, "regclass"), (REGTYPE_OID, "regtype"),
                         (REGNAMESPACE_OID, "regnamespace"), (REGROLE_OID, "regrole"))},
    FLOAT4_OID: _fixed("real", float, "f", _check_float("real", single=True)),
    FLOAT8_OID: _fixed("double precision", float, "d", _check_float("double precision", False)),
    DATE_OID: _fixed("date", datetime.date, "i", _check_date, _date_to_days, _days_to_date),
    TIME_OID: _fixed("time without time zone", datetime.time, "q", _check_time,
                     _time_to_microseconds, _microseconds_to_time),
    TIMESTAMP_OID: _fixed("timestamp without time zone", datetime.datetime, "q",
                          _check_timestamp, _timestamp_to_microseconds,
                          _microseconds_to_timestamp),
    TIMESTAMPTZ_OID: _fixed("timestamp with time zone", datetime.datetime, "q",
                            _check_timestamptz, _timestamptz_to_microseconds,
                            _microseconds_to_timestamptz),
    INTERVAL_OID: _fixed("interval", Interval, "16s", _check_interval, _interval_to_bytes,
                         _bytes_to_interval),
    UUID_OID: _fixed("uuid", uuid.UUID, "16s", _check_uuid, _uuid_to_bytes, _bytes_to_uuid),
    BYTEA_OID: _variable("bytea", bytes, _check_bytea, None, None),
    NAME_OID: _variable("name", str, _check_text("name", NAME_MAX_BYTES), _name_to_bytes,
                        _bytes_to_text),
    TEXT_OID: _variable("text", str, _check_text("text"), _text_to_bytes, _bytes_to_text),
    JSON_OID: _variable("json", str, _check_text("json"), _text_to_bytes, _bytes_to_text),
    JSONB_OID: _variable("jsonb", str, _check_text("jsonb"), _text_to_bytes, _bytes_to_text),
    BPCHAR_OID: _variable("character", str, _check_text("character"), _text_to_bytes,
                          _bytes_to_text),
    VARCHAR_OID: _variable("character varying", str, _check_text("character varying"),
                           _text_to_bytes, _bytes_to_text),
    NUMERIC_OID: _variable("numeric", decimal.Decimal, _check_numeric, _numeric_to_bytes,
                           _bytes_to_numeric),
}


# -- arrays ------------------------------------------------------------------------------------------
# An array column stores PostgreSQL's on-disk array (array_format.py) under the row's own length
# header; its elements are laid out as PostgreSQL lays them out (typlen, typalign, numeric in its
# base-10000 form), except jsonb, whose elements are its text like a jsonb column.

NAMEDATALEN = 64                          # a name element is a fixed 64-byte, NUL-padded field

# element type -> (array type OID, typalign in bytes)
_ARRAY_TYPES: dict[int, tuple[int, int]] = {
    BOOL_OID: (1000, 1), BYTEA_OID: (1001, 4), NAME_OID: (1003, 1), INT2_OID: (1005, 2),
    INT4_OID: (1007, 4), TEXT_OID: (1009, 4), XID_OID: (1011, 4), BPCHAR_OID: (1014, 4),
    VARCHAR_OID: (1015, 4), INT8_OID: (1016, 8), FLOAT4_OID: (1021, 4), FLOAT8_OID: (1022, 8),
    OID_OID: (1028, 4), TIMESTAMP_OID: (1115, 8), DATE_OID: (1182, 4), TIME_OID: (1183, 8),
    TIMESTAMPTZ_OID: (1185, 8), INTERVAL_OID: (1187, 8), NUMERIC_OID: (1231, 4),
    JSON_OID: (199, 4), UUID_OID: (2951, 1), PG_LSN_OID: (3221, 8), JSONB_OID: (3807, 4),
    CHAR_OID: (1002, 1), REGPROC_OID: (1008, 4), CID_OID: (1012, 4),
    REGPROCEDURE_OID: (2207, 4), REGCLASS_OID: (2210, 4), REGTYPE_OID: (2211, 4),
    REGNAMESPACE_OID: (4090, 4), REGROLE_OID: (4097, 4),
}
ARRAY_TYPE_OIDS = frozenset(array_oid for array_oid, _ in _ARRAY_TYPES.values())


def _name_element_to_bytes(value: str) -> bytes:
    return _name_to_bytes(value).ljust(NAMEDATALEN, b"\0")


def _bytes_to_name_element(stored: bytes) -> str:
    return stored.split(b"\0", 1)[0].decode("utf-8")


def _element_format(element_oid: int, alignment: int) -> ElementFormat:
    info = _TYPES[element_oid]
    check = info.check
    if element_oid == NAME_OID:
        return ElementFormat(element_oid, NAMEDATALEN, alignment,
                             lambda value: _name_element_to_bytes(check(value)),
                             _bytes_to_name_element)
    if element_oid == NUMERIC_OID:
        return ElementFormat(element_oid, -1, alignment,
                             lambda value: encode_numeric(check(value)), decode_numeric)
    if info.field_format is None:
        to_bytes = info.encode or bytes
        from_bytes = info.decode or bytes
        return ElementFormat(element_oid, -1, alignment, lambda value: to_bytes(check(value)),
                             from_bytes)
    layout = struct.Struct("<" + info.field_format)
    encode, decode = info.encode, info.decode
    return ElementFormat(
        element_oid, layout.size, alignment,
        lambda value: layout.pack(check(value) if encode is None else encode(check(value))),
        lambda stored: layout.unpack(stored)[0] if decode is None
        else decode(layout.unpack(stored)[0]))


def _check_array(array_name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if not isinstance(value, (list, tuple)):
            raise _wrong_type(array_name, value)
        if any(isinstance(item, (list, tuple)) for item in value):
            raise MirrordbError("multidimensional arrays are not supported", sqlstate="0A000")
        return list(value)
    return check


def _array_type(element_oid: int, array_oid: int, alignment: int) -> _TypeInfo:
    element = _element_format(element_oid, alignment)
    array_name = _TYPES[element_oid].name + "[]"
    check = _check_array(array_name)
    # The row codec's fast path skips ``check`` for a value that is already a list, so the
    # encoder checks the list and each element (element formats check their values).
    return _variable(array_name, list, check,
                     lambda values: encode_array(check(values), element),  # type: ignore[arg-type]
                     lambda stored: decode_array(stored, element))


_TYPES.update({array_oid: _array_type(element_oid, array_oid, alignment)
               for element_oid, (array_oid, alignment) in _ARRAY_TYPES.items()})

SUPPORTED_TYPE_OIDS = frozenset(_TYPES)
_REGISTRATION_LOCK = threading.Lock()
_REGISTERED: dict[int, tuple[int, int]] = {}      # user type -> (storage type, array type)


def register_user_type(type_oid: int, storage_oid: int, array_oid: int) -> None:
    """Store values of user-defined type ``type_oid`` as ``storage_oid`` stores them (an enum:
    its label's pg_enum OID as ``oid``; a domain: as its base type), and its array type
    ``array_oid`` as PostgreSQL's array of ``type_oid`` elements. Called by sql/user_types.py
    before a session uses the type. A cluster never reuses an OID, but a process that opened
    another cluster (tests do) may have registered it for another type: the newest wins."""
    with _REGISTRATION_LOCK:
        if _REGISTERED.get(type_oid) == (storage_oid, array_oid):
            return
        # the OIDs this registration takes over stop standing for what another cluster's
        # types made of them (a type's OID that was an array's there, or the reverse)
        for other, (_, other_array) in list(_REGISTERED.items()):
            if (other_array and other_array in (type_oid, array_oid)) or \
                    (array_oid and other == array_oid):
                del _REGISTERED[other]
        _REGISTERED[type_oid] = (storage_oid, array_oid)
        _TYPES[type_oid] = _TYPES[storage_oid]
        element_alignment = next((alignment for element, (_, alignment) in _ARRAY_TYPES.items()
                                  if element == storage_oid), 4)
        if array_oid:
            _TYPES[array_oid] = _array_type(type_oid, array_oid, element_alignment)


def is_storable(type_oid: int) -> bool:
    """Whether the row codec can store values of ``type_oid`` (built-in or registered)."""
    return type_oid in _TYPES


def type_name(type_oid: int) -> str:
    """PostgreSQL's name of a supported type (for messages)."""
    return _TYPES[type_oid].name


# -- plans: the precompiled work for one null pattern ---------------------------------------------


@dataclass(slots=True, eq=False)
class _FixedRun:
    """Consecutive non-NULL fixed-width columns, packed and unpacked with one struct."""

    layout: struct.Struct
    columns: tuple[int, ...]
    encoders: tuple[Callable[[Any], Any] | None, ...] | None    # None: no column converts
    decoders: tuple[Callable[[Any], Any] | None, ...] | None


@dataclass(slots=True, eq=False)
class _VariableColumn:
    """One non-NULL variable-width column."""

    column: int
    encoder: Callable[[Any], bytes] | None
    decoder: Callable[[bytes], Any] | None


_Step = _FixedRun | _VariableColumn


@dataclass(slots=True, eq=False)
class _Plan:
    steps: tuple[_Step, ...]
    null_columns: tuple[int, ...]        # ascending


def _build_plan(types: Sequence[_TypeInfo], null_columns: tuple[int, ...]) -> _Plan:
    steps: list[_Step] = []
    run: list[int] = []

    def close_run() -> None:
        if run:
            steps.append(_fixed_run(types, tuple(run)))
            run.clear()

    nulls = set(null_columns)
    for column, info in enumerate(types):
        if column in nulls:
            continue
        if info.field_format is None:
            close_run()
            steps.append(_VariableColumn(column, info.encode, info.decode))
        else:
            run.append(column)
    close_run()
    return _Plan(tuple(steps), null_columns)


def _fixed_run(types: Sequence[_TypeInfo], columns: tuple[int, ...]) -> _FixedRun:
    layout = struct.Struct("<" + "".join(types[c].field_format or "" for c in columns))
    encoders = tuple(types[c].encode for c in columns)
    decoders = tuple(types[c].decode for c in columns)
    return _FixedRun(layout, columns,
                     encoders if any(encoders) else None, decoders if any(decoders) else None)


_SHORT_VARLENA_HEADERS = tuple(bytes((length << 1,)) for length in range(SHORT_VARLENA_LIMIT))


def _varlena_header(length: int) -> bytes:
    if length < SHORT_VARLENA_LIMIT:
        return _SHORT_VARLENA_HEADERS[length]
    return _LONG_VARLENA_HEADER.pack((length << 1) | 1)


_DECODE_FAILURES = (struct.error, IndexError, ValueError, OverflowError, ArithmeticError,
                    UnicodeDecodeError)


class RowCodec:
    """Encodes and decodes rows of one shape (a fixed list of column types)."""

    def __init__(self, type_oids: Sequence[int]) -> None:
        invariant(len(type_oids) <= MAX_COLUMNS, f"a row has at most {MAX_COLUMNS} columns")
        unknown = [oid for oid in type_oids if oid not in _TYPES]
        invariant(not unknown, f"RowCodec: unsupported type OIDs {unknown}")
        self.type_oids = tuple(type_oids)
        self.natts = len(self.type_oids)
        self._types = tuple(_TYPES[oid] for oid in self.type_oids)
        self._exact_types = tuple(info.python_type for info in self._types)
        self._bitmap_length = (self.natts + 7) // 8
        self._full_plan = _build_plan(self._types, ())
        self._plans_by_bitmap: dict[bytes, _Plan] = {}

    # encoding ---------------------------------------------------------------------------------

    def encode(self, values: Sequence[object]) -> tuple[bytes, bytes | None]:
        """(data, null bitmap or None when no value is NULL) of one row."""
        invariant(len(values) == self.natts,
                  f"row has {len(values)} values, the codec has {self.natts} columns")
        if tuple(map(type, values)) == self._exact_types:
            try:
                return self._encode_with(self._full_plan, values), None
            except (struct.error, OverflowError, ValueError, TypeError):
                pass        # out of range: the checked path below names the problem
        return self._encode_checked(values)

    def _encode_checked(self, values: Sequence[object]) -> tuple[bytes, bytes | None]:
        checked: list[object] = []
        null_columns: list[int] = []
        for column, (value, info) in enumerate(zip(values, self._types)):
            if value is None:
                null_columns.append(column)
                checked.append(None)
            else:
                checked.append(info.check(value))
        if not null_columns:
            return self._encode_with(self._full_plan, checked), None
        bitmap = self._bitmap_for(null_columns)
        return self._encode_with(self._plan_for(bitmap), checked), bitmap

    def _bitmap_for(self, null_columns: list[int]) -> bytes:
        bitmap = bytearray(b"\xff" * self._bitmap_length)
        if self.natts % 8:
            bitmap[-1] = (1 << (self.natts % 8)) - 1
        for column in null_columns:
            bitmap[column >> 3] &= ~(1 << (column & 7)) & 0xFF
        return bytes(bitmap)

    @staticmethod
    def _encode_with(plan: _Plan, values: Sequence[Any]) -> bytes:
        parts: list[bytes] = []
        for step in plan.steps:
            if type(step) is _FixedRun:
                if step.encoders is None:
                    parts.append(step.layout.pack(*[values[c] for c in step.columns]))
                else:
                    parts.append(step.layout.pack(*[
                        values[c] if encode is None else encode(values[c])
                        for c, encode in zip(step.columns, step.encoders)]))
            else:
                value = values[step.column]   # type: ignore[union-attr]
                stored = value if step.encoder is None else step.encoder(value)  # type: ignore[union-attr]
                if len(stored) > MAX_VARLENA_BYTES:
                    raise ValueError("value too long")
                parts.append(_varlena_header(len(stored)))
                parts.append(stored)
        return b"".join(parts)

    # decoding ---------------------------------------------------------------------------------

    def decode(self, data: bytes | bytearray | memoryview,
               null_bitmap: bytes | bytearray | memoryview | None) -> tuple[object, ...]:
        """The row's values; NULL columns are None. Raises DataCorrupted on malformed input."""
        plan = self._full_plan if null_bitmap is None else self._plan_for(bytes(null_bitmap))
        if type(data) is not bytes:
            data = bytes(data)
        try:
            values, position = self._decode_with(plan, data)
        except _DECODE_FAILURES as error:
            raise DataCorrupted(f"invalid row data: {error}") from None
        if position != len(data):
            raise DataCorrupted(f"invalid row data: {len(data) - position} bytes left over "
                                f"after the last column")
        for column in plan.null_columns:
            values.insert(column, None)
        return tuple(values)

    @staticmethod
    def _decode_with(plan: _Plan, data: bytes) -> tuple[list[object], int]:
        values: list[object] = []
        position = 0
        end_of_data = len(data)
        for step in plan.steps:
            if type(step) is _FixedRun:
                layout = step.layout
                fields = layout.unpack_from(data, position)
                position += layout.size
                if step.decoders is None:
                    values.extend(fields)
                else:
                    values.extend([field if decode is None else decode(field)
                                   for field, decode in zip(fields, step.decoders)])
            else:
                header = data[position]
                if header & 1:
                    length = _LONG_VARLENA_HEADER.unpack_from(data, position)[0] >> 1
                    position += 4
                else:
                    length = header >> 1
                    position += 1
                end = position + length
                if end > end_of_data:
                    raise ValueError(f"a value of {length} bytes runs past the end of the row")
                stored = data[position:end]
                decoder = step.decoder   # type: ignore[union-attr]
                values.append(stored if decoder is None else decoder(stored))
                position = end
        return values, position

    # plans per null pattern ---------------------------------------------------------------------

    def _plan_for(self, bitmap: bytes) -> _Plan:
        """The plan of one null pattern. Codecs are shared by threads: the cache is only ever
        read, added to, or replaced whole (when full), each a single atomic step."""
        plan = self._plans_by_bitmap.get(bitmap)
        if plan is None:
            plan = _build_plan(self._types, self._null_columns_of(bitmap))
            if len(self._plans_by_bitmap) >= MAX_CACHED_NULL_PATTERNS:
                self._plans_by_bitmap = {}
            self._plans_by_bitmap[bitmap] = plan
        return plan

    def _null_columns_of(self, bitmap: bytes) -> tuple[int, ...]:
        if len(bitmap) != self._bitmap_length:
            raise DataCorrupted(f"null bitmap has {len(bitmap)} bytes, a row of {self.natts} "
                                f"columns needs {self._bitmap_length}")
        if self.natts % 8 and bitmap[-1] >> (self.natts % 8):
            raise DataCorrupted("null bitmap has bits set past the last column")
        return tuple(column for column in range(self.natts)
                     if not bitmap[column >> 3] & (1 << (column & 7)))


# -- sort keys -----------------------------------------------------------------------------------


class _SortSentinel:
    """A key that sorts after every ordinary value; sentinels order among themselves by rank."""

    __slots__ = ("label", "rank")

    def __init__(self, rank: int, label: str) -> None:
        self.rank = rank
        self.label = label

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return hash((_SortSentinel, self.rank))

    def __lt__(self, other: object) -> bool:
        return isinstance(other, _SortSentinel) and self.rank < other.rank

    def __le__(self, other: object) -> bool:
        return isinstance(other, _SortSentinel) and self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        return not isinstance(other, _SortSentinel) or self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        return not isinstance(other, _SortSentinel) or self.rank >= other.rank

    def __repr__(self) -> str:
        return self.label


NAN_SORT_KEY = _SortSentinel(1, "NaN")      # after every number, as PostgreSQL sorts NaN
NULL_SORT_KEY = _SortSentinel(2, "NULL")    # after everything: ASC NULLS LAST


def _value_sort_key(value: object) -> object:
    if value is None:
        return NULL_SORT_KEY
    kind = type(value)
    if kind is float:
        return NAN_SORT_KEY if math.isnan(value) else value   # type: ignore[arg-type]
    if kind is decimal.Decimal:
        return NAN_SORT_KEY if value.is_nan() else value      # type: ignore[attr-defined]
    if kind is Interval:
        return value.span_microseconds()                      # type: ignore[attr-defined]
    if kind is list:     # arrays: element by element (NULL elements last), then shorter first
        return [_value_sort_key(item) for item in value]      # type: ignore[attr-defined]
    return value


def sort_key(values: Sequence[object]) -> tuple[object, ...]:
    """A tuple comparing with ``<`` in B-tree order (NULLS LAST, NaN after numbers)."""
    return tuple(map(_value_sort_key, values))


def hashable_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """``values`` as a dict or set key: arrays (lists) become tuples, also inside records
    (tuples) and arrays. Most keys hold no array and are used as they are, at the cost of one
    hash."""
    try:
        hash(values)
        return values
    except TypeError:
        return tuple(_hashable(value) for value in values)


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(item) for item in value)
    return value
