"""Every message of PostgreSQL's frontend/backend protocol v3, with encoders and decoders both ways.

Who uses it: ``server.py`` (decode what a client sends, encode what a backend answers) and
``client.py`` (the reverse, for tests and the standby's WAL receiver). The backend
(``mirrordb/server/backend.py``) builds the dataclasses below and hands them to
``ServerConnection.send``; hot paths use the pre-encoded constants and ``encode_data_row`` /
``encode_command_complete``. Pure code: bytes in, values out, and back.

Messages are slotted dataclasses, values that nothing changes once built (not ``frozen``: that
costs three generated methods per class when the module is imported, a measurable part of a
server's start-up). ``encode(message)`` gives the bytes on the wire;
``decode_frontend`` / ``decode_backend`` take a type byte and a complete body; ``decode_startup``
takes an untyped startup packet without its length word. A decoder fed a malformed body raises
``ProtocolViolation`` (with PostgreSQL's wording on the server side, libpq's on the client side)
and nothing else. Encoders check their arguments with ``invariant``: a bad value is our bug.

Field types (``wire.py``): Int8/16/32 signed, big-endian; Oid unsigned 32-bit; String = UTF-8
ended by NUL; Byten = Int32 length (-1 = NULL) then the bytes. Counts are Int16 read unsigned.

Startup packets (untyped: ``Int32 length`` counting itself, then the body below)::

    StartupMessage   Int32 protocol version (3 << 16 | minor)
                     then pairs String name, String value; then one NUL
    CancelRequest    Int32 80877102 | Int32 process id | Int32 secret key   (16 bytes in all)
    SSLRequest       Int32 80877103                                         (8 bytes in all)
    GSSENCRequest    Int32 80877104                                         (8 bytes in all)

Frontend (client to server) typed messages, ``Byte1 type | Int32 length | body``::

    'Q' Query        String sql
    'P' Parse        String statement | String query | Int16 n | Oid parameter type x n
    'B' Bind         String portal | String statement | Int16 n | Int16 parameter format x n
                     | Int16 m | Byten parameter value x m | Int16 k | Int16 result format x k
                     (n is 0: all text; 1: one format for all; otherwise n == m)
    'D' Describe     Byte1 'S' (statement) or 'P' (portal) | String name
    'E' Execute      String portal | Int32 max rows (0 = all)
    'S' Sync         (empty)
    'H' Flush        (empty)
    'C' Close        Byte1 'S' or 'P' | String name
    'd' CopyData     Byte n data (the rest of the body)
    'c' CopyDone     (empty)
    'f' CopyFail     String error message
    'X' Terminate    (empty)
    'F' FunctionCall Oid function | Int16 n | Int16 argument format x n | Int16 m
                     | Byten argument x m | Int16 result format
    'p' PasswordMessage / SASLInitialResponse / SASLResponse: Byte n (the raw body; see the
                     helpers ``decode_password`` and ``decode_sasl_initial_response``)
        password:           String password (cleartext, or "md5" + 32 hex digits)
        SASLInitialResponse String mechanism | Int32 length (-1: no initial response) | Byte n
        SASLResponse        Byte n (the SASL message itself)

Backend (server to client) typed messages::

    'R' Authentication*  Int32 code, then: 0 Ok | 3 CleartextPassword | 5 MD5Password Byte4 salt
                         | 10 SASL (String mechanism)* then NUL | 11 SASLContinue Byte n
                         | 12 SASLFinal Byte n
    'S' ParameterStatus  String name | String value
    'K' BackendKeyData   Int32 process id | Int32 secret key
    'Z' ReadyForQuery    Byte1 status: 'I' idle, 'T' in a transaction block, 'E' failed block
    'T' RowDescription   Int16 n, then per field: String name | Oid table | Int16 column number
                         | Oid type | Int16 type size | Int32 type modifier | Int16 format
    'D' DataRow          Int16 n | Byten value x n
    'C' CommandComplete  String tag (e.g. "SELECT 1", "INSERT 0 1")
    'I' EmptyQueryResponse (empty)
    'E' ErrorResponse    (Byte1 field code | String value)* then NUL
    'N' NoticeResponse   same layout as ErrorResponse
    '1' ParseComplete, '2' BindComplete, '3' CloseComplete, 'n' NoData, 's' PortalSuspended
                         (all empty)
    't' ParameterDescription  Int16 n | Oid x n
    'G' CopyInResponse, 'H' CopyOutResponse, 'W' CopyBothResponse
                         Int8 overall format (0 text, 1 binary) | Int16 n | Int16 format x n
    'd' CopyData, 'c' CopyDone  as from the frontend
    'v' NegotiateProtocolVersion  Int32 newest version (PostgreSQL sends the whole version number,
                         3 << 16 | minor) | Int32 n | String unrecognized option x n
    'A' NotificationResponse  Int32 process id | String channel | String payload

Error and notice fields are sent in PostgreSQL's order: S severity, V severity (never
translated), C SQLSTATE, M message, D detail, H hint, P position, p internal position,
q internal query, W where (context), s schema, t table, c column, d data type, n constraint,
F file, L line, R routine.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeAlias, cast

from mirrordb.common.errors import MirrordbError, ProtocolViolation, invariant
from mirrordb.protocol.wire import (
    INSUFFICIENT_DATA_LEFT,
    INT16,
    INT32,
    INVALID_MESSAGE_FORMAT,
    INVALID_STRING,
    LENGTH_WORD,
    LENGTH_WORD_SIZE,
    MAX_INT16_COUNT,
    MESSAGE_HEADER,
    NO_DATA_LEFT,
    NUL,
    NULL_VALUE_FIELD,
    NULL_VALUE_LENGTH,
    UINT16,
    UINT32,
    BodyReader,
    MalformedBody,
    decode_text,
    encode_string,
    frame,
)

# -- protocol versions and request codes ------------------------------------------------------------

PROTOCOL_MAJOR = 3
PROTOCOL_LATEST_MINOR = 0  # PostgreSQL 15 speaks 3.0 only
PROTOCOL_VERSION_3_0 = PROTOCOL_MAJOR << 16
CANCEL_REQUEST_CODE = (1234 << 16) | 5678  # 80877102
NEGOTIATE_SSL_CODE = (1234 << 16) | 5679  # 80877103
NEGOTIATE_GSS_CODE = (1234 << 16) | 5680  # 80877104
PROTOCOL_OPTION_PREFIX = "_pq_."  # start-up parameters reserved for protocol options
MAX_STARTUP_PACKET_LENGTH = 10000  # longest startup body (after the length word) we accept
CANCEL_REQUEST_LENGTH = 16  # whole packet, length word included
NEGOTIATION_REQUEST_LENGTH = 8  # SSLRequest / GSSENCRequest, length word included

AUTH_REQ_OK = 0
AUTH_REQ_PASSWORD = 3
AUTH_REQ_MD5 = 5
AUTH_REQ_SASL = 10
AUTH_REQ_SASL_CONTINUE = 11
AUTH_REQ_SASL_FIN = 12
MD5_SALT_LENGTH = 4

FORMAT_TEXT = 0
FORMAT_BINARY = 1
TRANSACTION_STATUSES = ("I", "T", "E")  # idle, in a transaction block, in a failed block

STARTUP_HEADER = struct.Struct("!II")  # Int32 length | Int32 protocol version or request code
CANCEL_BODY = struct.Struct("!III")  # code | process id | secret key
FIELD_DESCRIPTION = struct.Struct("!IhIhih")  # table oid, column, type oid, size, modifier, format
AUTH_CODE = struct.Struct("!I")
BACKEND_KEY_DATA = struct.Struct("!II")
EXECUTE_TAIL = struct.Struct("!i")
COPY_RESPONSE_HEAD = struct.Struct("!bH")  # Int8 overall format | Int16 column count
DATA_ROW_HEAD = struct.Struct("!cIH")  # 'D' | length | column count
NEGOTIATE_HEAD = struct.Struct("!II")  # newest version | count of unrecognized options
assert STARTUP_HEADER.size == 8 and CANCEL_BODY.size == 12 and FIELD_DESCRIPTION.size == 18
assert COPY_RESPONSE_HEAD.size == 3 and DATA_ROW_HEAD.size == 7 and NEGOTIATE_HEAD.size == 8


def protocol_major(version: int) -> int:
    return version >> 16


def protocol_minor(version: int) -> int:
    return version & 0xFFFF


# -- encoding helpers (arguments are checked: a bad one is a programmer error) ----------------------


def _pack(layout: struct.Struct, *values: int) -> bytes:
    try:
        return layout.pack(*values)
    except struct.error as error:
        invariant(False, f"protocol field out of range for {layout.format!r}: {values} ({error})")
        raise  # unreachable: invariant raised


def _int16_list(values: Sequence[int]) -> bytes:
    invariant(len(values) <= MAX_INT16_COUNT, f"too many Int16 values: {len(values)}")
    return UINT16.pack(len(values)) + b"".join(_pack(INT16, value) for value in values)


def _oid_list(values: Sequence[int]) -> bytes:
    invariant(len(values) <= MAX_INT16_COUNT, f"too many OIDs: {len(values)}")
    return UINT16.pack(len(values)) + b"".join(_pack(UINT32, value) for value in values)


def _nullable_values(values: Sequence[bytes | None]) -> bytes:
    invariant(len(values) <= MAX_INT16_COUNT, f"too many values: {len(values)}")
    parts = [UINT16.pack(len(values))]
    for value in values:
        if value is None:
            parts.append(NULL_VALUE_FIELD)
        else:
            parts.append(INT32.pack(len(value)))
            parts.append(value)
    return b"".join(parts)


def _check_kind(kind: str) -> bytes:
    invariant(kind in ("S", "P"), f"Describe/Close kind must be 'S' or 'P', not {kind!r}")
    return kind.encode()


# -- base classes -----------------------------------------------------------------------------------


class FrontendMessage:
    """A typed message a client sends. Subclasses define ``type_byte`` and ``encode_body``."""

    __slots__ = ()
    type_byte: ClassVar[bytes]

    def encode_body(self) -> bytes:
        raise NotImplementedError

    def encode(self) -> bytes:
        return frame(self.type_byte, self.encode_body())


class BackendMessage:
    """A typed message a server sends. Subclasses define ``type_byte`` and ``encode_body``."""

    __slots__ = ()
    type_byte: ClassVar[bytes]

    def encode_body(self) -> bytes:
        raise NotImplementedError

    def encode(self) -> bytes:
        return frame(self.type_byte, self.encode_body())


class StartupPacket:
    """An untyped packet of the startup phase; ``encode`` includes the length word."""

    __slots__ = ()

    def encode(self) -> bytes:
        raise NotImplementedError


# -- startup packets --------------------------------------------------------------------------------


@dataclass(slots=True)
class NegotiateProtocolVersion(BackendMessage):
    """'v': the server speaks 3.``newest_minor`` at most and ignored the listed ``_pq_.`` options.

    On the wire the first field is the whole version number (3 << 16 | minor), as PostgreSQL
    sends it and libpq reads it.
    """

    newest_minor: int
    unrecognized: tuple[str, ...]
    type_byte: ClassVar[bytes] = b"v"

    def encode_body(self) -> bytes:
        version = (PROTOCOL_MAJOR << 16) | self.newest_minor
        head = _pack(NEGOTIATE_HEAD, version, len(self.unrecognized))
        return head + b"".join(encode_string(name) for name in self.unrecognized)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> NegotiateProtocolVersion:
        newest_minor = protocol_minor(reader.uint32())
        count = reader.int32()
        if count < 0 or count > reader.remaining:  # each name takes at least its NUL
            raise MalformedBody(INVALID_MESSAGE_FORMAT)
        names = tuple(reader.string() for _ in range(count))
        reader.end()
        return cls(newest_minor, names)


@dataclass(slots=True)
class StartupMessage(StartupPacket):
    """The first packet of a session: protocol version and start-up parameters.

    ``parameters`` keeps every pair in the order sent (a repeated name keeps its last value),
    including ``_pq_.`` protocol options, which a backend must not treat as settings.
    """

    protocol_version: int
    parameters: dict[str, str]

    def encode(self) -> bytes:
        parts = [encode_string(name) + encode_string(value)
                 for name, value in self.parameters.items()]
        body = b"".join(parts) + NUL
        return _pack(STARTUP_HEADER, len(body) + STARTUP_HEADER.size, self.protocol_version) + body

    @property
    def needs_negotiation(self) -> NegotiateProtocolVersion | None:
        """The NegotiateProtocolVersion a backend must send first, or None (PostgreSQL's rule:
        a minor version above ours, or any ``_pq_.`` option)."""
        options = tuple(name for name in self.parameters if name.startswith(PROTOCOL_OPTION_PREFIX))
        if protocol_minor(self.protocol_version) > PROTOCOL_LATEST_MINOR or options:
            return NegotiateProtocolVersion(PROTOCOL_LATEST_MINOR, options)
        return None


@dataclass(slots=True)
class SSLRequest(StartupPacket):
    """Asks for TLS; the server answers one byte, ``S`` (then TLS) or ``N``."""

    def encode(self) -> bytes:
        return STARTUP_HEADER.pack(NEGOTIATION_REQUEST_LENGTH, NEGOTIATE_SSL_CODE)


@dataclass(slots=True)
class GSSENCRequest(StartupPacket):
    """Asks for GSSAPI encryption; the server answers one byte, ``G`` or ``N``."""

    def encode(self) -> bytes:
        return STARTUP_HEADER.pack(NEGOTIATION_REQUEST_LENGTH, NEGOTIATE_GSS_CODE)


@dataclass(slots=True)
class CancelRequest(StartupPacket):
    """Sent on a new connection to cancel the query of the backend with this key; no answer."""

    process_id: int
    secret_key: int

    def encode(self) -> bytes:
        return LENGTH_WORD.pack(CANCEL_REQUEST_LENGTH) + _pack(
            CANCEL_BODY, CANCEL_REQUEST_CODE, self.process_id, self.secret_key)


def _startup_violation(text: str, sqlstate: str | None = None) -> ProtocolViolation:
    return ProtocolViolation(text, fatal=True, sqlstate=sqlstate)


def _unsupported_protocol(version: int) -> ProtocolViolation:
    return _startup_violation(
        f"unsupported frontend protocol {protocol_major(version)}.{protocol_minor(version)}: "
        f"server supports {PROTOCOL_MAJOR}.0 to {PROTOCOL_MAJOR}.{PROTOCOL_LATEST_MINOR}",
        sqlstate="0A000")


INVALID_STARTUP_LENGTH = "invalid length of startup packet"
INVALID_STARTUP_LAYOUT = "invalid startup packet layout: expected terminator as last byte"


def _startup_parameters(body: bytes) -> dict[str, str]:
    """Name/value pairs after the version, ended by a NUL that must be the packet's last byte."""
    parameters: dict[str, str] = {}
    offset = UINT32.size
    while offset < len(body) and body[offset] != 0:
        name_end = body.find(NUL, offset)
        value_end = body.find(NUL, name_end + 1) if name_end >= 0 else -1
        if value_end < 0:
            raise _startup_violation(INVALID_STARTUP_LAYOUT)
        try:
            name = decode_text(body[offset:name_end])
            parameters[name] = decode_text(body[name_end + 1:value_end])
        except MalformedBody as error:
            raise _startup_violation(error.text, error.sqlstate) from None
        offset = value_end + 1
    if offset != len(body) - 1:
        raise _startup_violation(INVALID_STARTUP_LAYOUT)
    return parameters


def decode_startup(body: bytes) -> StartupPacket:
    """Decode an untyped packet given without its length word (4 .. 10000 bytes).

    Raises ``ProtocolViolation`` (always fatal) with PostgreSQL's texts: a bad length, an
    unsupported protocol major version (SQLSTATE 0A000), a parameter list not ended exactly at
    the last byte.
    """
    if len(body) < UINT32.size or len(body) > MAX_STARTUP_PACKET_LENGTH:
        raise _startup_violation(INVALID_STARTUP_LENGTH)
    (code,) = UINT32.unpack_from(body)
    packet_length = len(body) + LENGTH_WORD_SIZE
    if code == CANCEL_REQUEST_CODE:
        if packet_length != CANCEL_REQUEST_LENGTH:
            raise _startup_violation(INVALID_STARTUP_LENGTH)
        _, process_id, secret_key = CANCEL_BODY.unpack(body)
        return CancelRequest(process_id, secret_key)
    if code in (NEGOTIATE_SSL_CODE, NEGOTIATE_GSS_CODE):
        if packet_length != NEGOTIATION_REQUEST_LENGTH:
            raise _startup_violation(INVALID_STARTUP_LENGTH)
        return SSLRequest() if code == NEGOTIATE_SSL_CODE else GSSENCRequest()
    if protocol_major(code) != PROTOCOL_MAJOR:
        raise _unsupported_protocol(code)
    return StartupMessage(code, _startup_parameters(body))


def unsupported_protocol_violation(version: int) -> ProtocolViolation:
    """What PostgreSQL says to a packet whose code is no version it speaks (e.g. a second
    SSLRequest after TLS was negotiated)."""
    return _unsupported_protocol(version)


# -- frontend messages ------------------------------------------------------------------------------


@dataclass(slots=True)
class Query(FrontendMessage):
    """'Q': a simple-protocol query string (possibly several statements)."""

    sql: str
    type_byte: ClassVar[bytes] = b"Q"

    def encode_body(self) -> bytes:
        return encode_string(self.sql)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> Query:
        sql = reader.string()
        reader.end()
        return cls(sql)


@dataclass(slots=True)
class Parse(FrontendMessage):
    """'P': prepare ``query`` as ``statement`` ("" = the unnamed statement); OID 0 = unspecified."""

    statement: str
    query: str
    param_type_oids: tuple[int, ...]
    type_byte: ClassVar[bytes] = b"P"

    def encode_body(self) -> bytes:
        return (encode_string(self.statement) + encode_string(self.query)
                + _oid_list(self.param_type_oids))

    @classmethod
    def decode_body(cls, reader: BodyReader) -> Parse:
        statement = reader.string()
        query = reader.string()
        oids = reader.oid_array()
        reader.end()
        return cls(statement, query, oids)


@dataclass(slots=True)
class Bind(FrontendMessage):
    """'B': bind parameter values to a prepared statement, making portal ``portal``.

    ``param_formats``: empty (all text), one code for all, or one per parameter.
    ``result_formats``: the same rule against the result columns (checked by the backend).
    """

    portal: str
    statement: str
    param_formats: tuple[int, ...]
    params: tuple[bytes | None, ...]
    result_formats: tuple[int, ...]
    type_byte: ClassVar[bytes] = b"B"

    def encode_body(self) -> bytes:
        return (encode_string(self.portal) + encode_string(self.statement)
                + _int16_list(self.param_formats) + _nullable_values(self.params)
                + _int16_list(self.result_formats))

    @classmethod
    def decode_body(cls, reader: BodyReader) -> Bind:
        portal = reader.string()
        statement = reader.string()
        param_formats = reader.int16_array()
        count = reader.count16()
        if len(param_formats) > 1 and len(param_formats) != count:
            raise MalformedBody(f"bind message has {len(param_formats)} parameter formats "
                                f"but {count} parameters")
        params = reader.nullable_values(count)
        result_formats = reader.int16_array()
        reader.end()
        return cls(portal, statement, param_formats, params, result_formats)


@dataclass(slots=True)
class Describe(FrontendMessage):
    """'D': describe statement (kind 'S') or portal (kind 'P') ``name``."""

    kind: str
    name: str
    type_byte: ClassVar[bytes] = b"D"

    def encode_body(self) -> bytes:
        return _check_kind(self.kind) + encode_string(self.name)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> Describe:
        kind = reader.byte()
        name = reader.string()
        reader.end()
        if kind not in (ord("S"), ord("P")):
            raise MalformedBody(f"invalid DESCRIBE message subtype {kind}")
        return cls(chr(kind), name)


@dataclass(slots=True)
class Execute(FrontendMessage):
    """'E': run portal ``portal``; ``max_rows`` <= 0 means all rows."""

    portal: str
    max_rows: int
    type_byte: ClassVar[bytes] = b"E"

    def encode_body(self) -> bytes:
        return encode_string(self.portal) + _pack(EXECUTE_TAIL, self.max_rows)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> Execute:
        portal = reader.string()
        max_rows = reader.int32()
        reader.end()
        return cls(portal, max_rows)


@dataclass(slots=True)
class Close(FrontendMessage):
    """'C': close statement (kind 'S') or portal (kind 'P') ``name``."""

    kind: str
    name: str
    type_byte: ClassVar[bytes] = b"C"

    def encode_body(self) -> bytes:
        return _check_kind(self.kind) + encode_string(self.name)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> Close:
        kind = reader.byte()
        name = reader.string()
        reader.end()
        if kind not in (ord("S"), ord("P")):
            raise MalformedBody(f"invalid CLOSE message subtype {kind}")
        return cls(chr(kind), name)


class _EmptyMessageMixin:
    """Helpers for messages without a body: one shared encoding, a decoder that checks emptiness."""

    __slots__ = ()

    @classmethod
    def decode_body(cls, reader: BodyReader) -> _EmptyMessageMixin:
        reader.end()
        return cls()


@dataclass(slots=True)
class Sync(_EmptyMessageMixin, FrontendMessage):
    """'S': end of an extended-query exchange; the server answers ReadyForQuery."""

    type_byte: ClassVar[bytes] = b"S"
    encoded: ClassVar[bytes] = b"S\x00\x00\x00\x04"

    def encode_body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        return self.encoded


@dataclass(slots=True)
class Flush(_EmptyMessageMixin, FrontendMessage):
    """'H': asks the server to send what it has buffered."""

    type_byte: ClassVar[bytes] = b"H"
    encoded: ClassVar[bytes] = b"H\x00\x00\x00\x04"

    def encode_body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        return self.encoded


@dataclass(slots=True)
class Terminate(_EmptyMessageMixin, FrontendMessage):
    """'X': the client is closing the connection."""

    type_byte: ClassVar[bytes] = b"X"
    encoded: ClassVar[bytes] = b"X\x00\x00\x00\x04"

    def encode_body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        return self.encoded


@dataclass(slots=True)
class CopyData(FrontendMessage, BackendMessage):
    """'d': a chunk of COPY data, or a replication message, in either direction."""

    data: bytes
    type_byte: ClassVar[bytes] = b"d"

    def encode_body(self) -> bytes:
        return self.data

    def encode(self) -> bytes:
        return MESSAGE_HEADER.pack(b"d", len(self.data) + LENGTH_WORD_SIZE) + self.data

    @classmethod
    def decode_body(cls, reader: BodyReader) -> CopyData:
        return cls(reader.rest())


@dataclass(slots=True)
class CopyDone(_EmptyMessageMixin, FrontendMessage, BackendMessage):
    """'c': end of COPY data, in either direction."""

    type_byte: ClassVar[bytes] = b"c"
    encoded: ClassVar[bytes] = b"c\x00\x00\x00\x04"

    def encode_body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        return self.encoded


@dataclass(slots=True)
class CopyFail(FrontendMessage):
    """'f': the client aborts COPY FROM STDIN with ``message``."""

    message: str
    type_byte: ClassVar[bytes] = b"f"

    def encode_body(self) -> bytes:
        return encode_string(self.message)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> CopyFail:
        message = reader.string()
        reader.end()
        return cls(message)


@dataclass(slots=True)
class FunctionCall(FrontendMessage):
    """'F': the legacy fast-path function call. Decoded so a backend can reject it cleanly."""

    function_oid: int
    argument_formats: tuple[int, ...]
    arguments: tuple[bytes | None, ...]
    result_format: int
    type_byte: ClassVar[bytes] = b"F"

    def encode_body(self) -> bytes:
        return (_pack(UINT32, self.function_oid) + _int16_list(self.argument_formats)
                + _nullable_values(self.arguments) + _pack(INT16, self.result_format))

    @classmethod
    def decode_body(cls, reader: BodyReader) -> FunctionCall:
        function_oid = reader.uint32()
        formats = reader.int16_array()
        arguments = reader.nullable_array()
        result_format = reader.int16()
        reader.end()
        return cls(function_oid, formats, arguments, result_format)


@dataclass(slots=True)
class PasswordMessage(FrontendMessage):
    """'p': the raw body of a password, SASLInitialResponse or SASLResponse message.

    Which one it is depends on the authentication request the server sent; read it with
    ``decode_password`` or ``decode_sasl_initial_response``, or use ``data`` as is (SASLResponse).
    """

    data: bytes
    type_byte: ClassVar[bytes] = b"p"

    def encode_body(self) -> bytes:
        return self.data

    @classmethod
    def decode_body(cls, reader: BodyReader) -> PasswordMessage:
        return cls(reader.rest())


def _auth_violation(text: str) -> ProtocolViolation:
    return ProtocolViolation(text, fatal=True, message_type=ord("p"))


def decode_password(data: bytes) -> str:
    """The password of a cleartext or MD5 password message: one string filling the whole body."""
    if not data or data.find(NUL) != len(data) - 1:
        raise _auth_violation("invalid password packet size")
    try:
        return decode_text(data[:-1])
    except MalformedBody as error:
        raise ProtocolViolation(error.text, fatal=True, message_type=ord("p"),
                                sqlstate=error.sqlstate) from None


def encode_password(password: str) -> bytes:
    """The body of a cleartext or MD5 password message."""
    return encode_string(password)


def decode_sasl_initial_response(data: bytes) -> tuple[str, bytes | None]:
    """(mechanism, initial response) of a SASLInitialResponse body; None when its length is -1."""
    reader = BodyReader(data)
    try:
        mechanism = reader.string()
        response = reader.nullable()
        reader.end()
    except MalformedBody as error:
        raise ProtocolViolation(error.text, fatal=True, message_type=ord("p"),
                                sqlstate=error.sqlstate) from None
    return mechanism, response


def encode_sasl_initial_response(mechanism: str, data: bytes | None) -> bytes:
    """The body of a SASLInitialResponse: mechanism, then the response (None: length -1)."""
    if data is None:
        return encode_string(mechanism) + NULL_VALUE_FIELD
    return encode_string(mechanism) + INT32.pack(len(data)) + data


# -- backend messages: authentication ---------------------------------------------------------------


@dataclass(slots=True)
class AuthenticationOk(BackendMessage):
    """'R' code 0: authentication succeeded."""

    type_byte: ClassVar[bytes] = b"R"
    encoded: ClassVar[bytes] = b"R\x00\x00\x00\x08\x00\x00\x00\x00"

    def encode_body(self) -> bytes:
        return AUTH_CODE.pack(AUTH_REQ_OK)

    def encode(self) -> bytes:
        return self.encoded


@dataclass(slots=True)
class AuthenticationCleartextPassword(BackendMessage):
    """'R' code 3: send the password in clear."""

    type_byte: ClassVar[bytes] = b"R"

    def encode_body(self) -> bytes:
        return AUTH_CODE.pack(AUTH_REQ_PASSWORD)


@dataclass(slots=True)
class AuthenticationMD5Password(BackendMessage):
    """'R' code 5: send md5(md5(password || user) || salt), salt being these 4 bytes."""

    salt: bytes
    type_byte: ClassVar[bytes] = b"R"

    def encode_body(self) -> bytes:
        invariant(len(self.salt) == MD5_SALT_LENGTH, f"MD5 salt must be 4 bytes: {self.salt!r}")
        return AUTH_CODE.pack(AUTH_REQ_MD5) + self.salt


@dataclass(slots=True)
class AuthenticationSASL(BackendMessage):
    """'R' code 10: the SASL mechanisms the server offers, most preferred first."""

    mechanisms: tuple[str, ...]
    type_byte: ClassVar[bytes] = b"R"

    def encode_body(self) -> bytes:
        invariant(all(self.mechanisms), "a SASL mechanism name cannot be empty")
        names = b"".join(encode_string(name) for name in self.mechanisms)
        return AUTH_CODE.pack(AUTH_REQ_SASL) + names + NUL


@dataclass(slots=True)
class AuthenticationSASLContinue(BackendMessage):
    """'R' code 11: a SASL challenge (for SCRAM, the server-first-message)."""

    data: bytes
    type_byte: ClassVar[bytes] = b"R"

    def encode_body(self) -> bytes:
        return AUTH_CODE.pack(AUTH_REQ_SASL_CONTINUE) + self.data


@dataclass(slots=True)
class AuthenticationSASLFinal(BackendMessage):
    """'R' code 12: the SASL outcome data (for SCRAM, the server-final-message)."""

    data: bytes
    type_byte: ClassVar[bytes] = b"R"

    def encode_body(self) -> bytes:
        return AUTH_CODE.pack(AUTH_REQ_SASL_FIN) + self.data


AuthenticationMessage: TypeAlias = (
    AuthenticationOk | AuthenticationCleartextPassword | AuthenticationMD5Password
    | AuthenticationSASL | AuthenticationSASLContinue | AuthenticationSASLFinal)


def _decode_sasl_mechanisms(reader: BodyReader) -> AuthenticationSASL:
    names: list[str] = []
    while True:
        name = reader.string()
        if not name:
            break
        names.append(name)
    reader.end()
    return AuthenticationSASL(tuple(names))


def _decode_authentication(reader: BodyReader) -> AuthenticationMessage:
    code = reader.uint32()
    if code == AUTH_REQ_OK:
        reader.end()
        return AuthenticationOk()
    if code == AUTH_REQ_PASSWORD:
        reader.end()
        return AuthenticationCleartextPassword()
    if code == AUTH_REQ_MD5:
        salt = reader.raw(MD5_SALT_LENGTH)
        reader.end()
        return AuthenticationMD5Password(salt)
    if code == AUTH_REQ_SASL:
        return _decode_sasl_mechanisms(reader)
    if code == AUTH_REQ_SASL_CONTINUE:
        return AuthenticationSASLContinue(reader.rest())
    if code == AUTH_REQ_SASL_FIN:
        return AuthenticationSASLFinal(reader.rest())
    raise MalformedBody(f"authentication method {code} not supported")


# -- backend messages: session and results ----------------------------------------------------------


@dataclass(slots=True)
class ParameterStatus(BackendMessage):
    """'S': the current value of a reported setting (server_version, client_encoding, ...)."""

    name: str
    value: str
    type_byte: ClassVar[bytes] = b"S"

    def encode_body(self) -> bytes:
        return encode_string(self.name) + encode_string(self.value)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> ParameterStatus:
        name = reader.string()
        value = reader.string()
        reader.end()
        return cls(name, value)


@dataclass(slots=True)
class BackendKeyData(BackendMessage):
    """'K': what a CancelRequest must quote. Both values are the 32 bits PostgreSQL sends,
    read here as unsigned (0 .. 2**32 - 1)."""

    process_id: int
    secret_key: int
    type_byte: ClassVar[bytes] = b"K"

    def encode_body(self) -> bytes:
        return _pack(BACKEND_KEY_DATA, self.process_id, self.secret_key)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> BackendKeyData:
        process_id = reader.uint32()
        secret_key = reader.uint32()
        reader.end()
        return cls(process_id, secret_key)


@dataclass(slots=True)
class ReadyForQuery(BackendMessage):
    """'Z': the server waits for a new query; ``status`` is 'I', 'T' or 'E'."""

    status: str
    type_byte: ClassVar[bytes] = b"Z"

    def encode_body(self) -> bytes:
        invariant(self.status in TRANSACTION_STATUSES, f"bad ReadyForQuery status {self.status!r}")
        return self.status.encode()

    def encode(self) -> bytes:
        invariant(self.status in TRANSACTION_STATUSES, f"bad ReadyForQuery status {self.status!r}")
        return READY_FOR_QUERY[self.status]

    @classmethod
    def decode_body(cls, reader: BodyReader) -> ReadyForQuery:
        status = chr(reader.byte())
        reader.end()
        if status not in TRANSACTION_STATUSES:
            raise MalformedBody(f"invalid transaction status {status!r} in ReadyForQuery")
        return cls(status)


@dataclass(slots=True)
class FieldDescription:
    """One column of a RowDescription. ``type_size`` is typlen (-1 varlena), ``format`` 0/1."""

    name: str
    table_oid: int
    column_number: int
    type_oid: int
    type_size: int
    type_modifier: int
    format: int

    def encode(self) -> bytes:
        return encode_string(self.name) + _pack(
            FIELD_DESCRIPTION, self.table_oid, self.column_number, self.type_oid,
            self.type_size, self.type_modifier, self.format)

    @classmethod
    def decode(cls, reader: BodyReader) -> FieldDescription:
        name = reader.string()
        values = FIELD_DESCRIPTION.unpack(reader.raw(FIELD_DESCRIPTION.size))
        return cls(name, *values)


@dataclass(slots=True)
class RowDescription(BackendMessage):
    """'T': the columns of the rows that follow."""

    fields: tuple[FieldDescription, ...]
    type_byte: ClassVar[bytes] = b"T"

    def encode_body(self) -> bytes:
        invariant(len(self.fields) <= MAX_INT16_COUNT, f"too many columns: {len(self.fields)}")
        return UINT16.pack(len(self.fields)) + b"".join(field.encode() for field in self.fields)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> RowDescription:
        fields = tuple(FieldDescription.decode(reader) for _ in range(reader.count16()))
        reader.end()
        return cls(fields)


@dataclass(slots=True)
class DataRow(BackendMessage):
    """'D': one row; each value is the column's text or binary form, None for NULL."""

    values: tuple[bytes | None, ...]
    type_byte: ClassVar[bytes] = b"D"

    def encode_body(self) -> bytes:
        return _nullable_values(self.values)

    def encode(self) -> bytes:
        return encode_data_row(self.values)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> DataRow:
        values = reader.nullable_array()
        reader.end()
        return cls(values)


@dataclass(slots=True)
class CommandComplete(BackendMessage):
    """'C': a statement finished; ``tag`` as PostgreSQL words it ("SELECT 3", "INSERT 0 1")."""

    tag: str
    type_byte: ClassVar[bytes] = b"C"

    def encode_body(self) -> bytes:
        return encode_string(self.tag)

    def encode(self) -> bytes:
        return encode_command_complete(self.tag)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> CommandComplete:
        tag = reader.string()
        reader.end()
        return cls(tag)


@dataclass(slots=True)
class EmptyQueryResponse(_EmptyMessageMixin, BackendMessage):
    """'I': the query string was empty."""

    type_byte: ClassVar[bytes] = b"I"
    encoded: ClassVar[bytes] = b"I\x00\x00\x00\x04"

    def encode_body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        return self.encoded


@dataclass(slots=True)
class ParseComplete(_EmptyMessageMixin, BackendMessage):
    """'1': Parse succeeded."""

    type_byte: ClassVar[bytes] = b"1"
    encoded: ClassVar[bytes] = b"1\x00\x00\x00\x04"

    def encode_body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        return self.encoded


@dataclass(slots=True)
class BindComplete(_EmptyMessageMixin, BackendMessage):
    """'2': Bind succeeded."""

    type_byte: ClassVar[bytes] = b"2"
    encoded: ClassVar[bytes] = b"2\x00\x00\x00\x04"

    def encode_body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        return self.encoded


@dataclass(slots=True)
class CloseComplete(_EmptyMessageMixin, BackendMessage):
    """'3': Close succeeded."""

    type_byte: ClassVar[bytes] = b"3"
    encoded: ClassVar[bytes] = b"3\x00\x00\x00\x04"

    def encode_body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        return self.encoded


@dataclass(slots=True)
class NoData(_EmptyMessageMixin, BackendMessage):
    """'n': the described statement or portal returns no rows."""

    type_byte: ClassVar[bytes] = b"n"
    encoded: ClassVar[bytes] = b"n\x00\x00\x00\x04"

    def encode_body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        return self.encoded


@dataclass(slots=True)
class PortalSuspended(_EmptyMessageMixin, BackendMessage):
    """'s': Execute stopped at its row limit; the portal has more rows."""

    type_byte: ClassVar[bytes] = b"s"
    encoded: ClassVar[bytes] = b"s\x00\x00\x00\x04"

    def encode_body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        return self.encoded


@dataclass(slots=True)
class ParameterDescription(BackendMessage):
    """'t': the parameter types of a described statement."""

    type_oids: tuple[int, ...]
    type_byte: ClassVar[bytes] = b"t"

    def encode_body(self) -> bytes:
        return _oid_list(self.type_oids)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> ParameterDescription:
        oids = reader.oid_array()
        reader.end()
        return cls(oids)


class _CopyResponseMixin:
    """Shared layout of CopyInResponse, CopyOutResponse and CopyBothResponse."""

    __slots__ = ()
    format: int
    column_formats: tuple[int, ...]

    def encode_body(self) -> bytes:
        invariant(len(self.column_formats) <= MAX_INT16_COUNT, "too many COPY columns")
        head = _pack(COPY_RESPONSE_HEAD, self.format, len(self.column_formats))
        return head + b"".join(_pack(INT16, code) for code in self.column_formats)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> _CopyResponseMixin:
        overall = reader.byte()
        overall = overall - 256 if overall > 127 else overall  # Int8 is signed
        formats = reader.int16_array()
        reader.end()
        return cls(overall, formats)  # type: ignore[call-arg]


@dataclass(slots=True)
class CopyInResponse(_CopyResponseMixin, BackendMessage):
    """'G': the server is ready for COPY FROM STDIN data."""

    format: int
    column_formats: tuple[int, ...]
    type_byte: ClassVar[bytes] = b"G"


@dataclass(slots=True)
class CopyOutResponse(_CopyResponseMixin, BackendMessage):
    """'H': COPY TO STDOUT (or BASE_BACKUP) data follows."""

    format: int
    column_formats: tuple[int, ...]
    type_byte: ClassVar[bytes] = b"H"


@dataclass(slots=True)
class CopyBothResponse(_CopyResponseMixin, BackendMessage):
    """'W': both sides may now send CopyData (START_REPLICATION)."""

    format: int
    column_formats: tuple[int, ...]
    type_byte: ClassVar[bytes] = b"W"


@dataclass(slots=True)
class NotificationResponse(BackendMessage):
    """'A': a NOTIFY from backend ``process_id`` on ``channel``."""

    process_id: int
    channel: str
    payload: str
    type_byte: ClassVar[bytes] = b"A"

    def encode_body(self) -> bytes:
        return _pack(UINT32, self.process_id) + encode_string(self.channel) + encode_string(
            self.payload)

    @classmethod
    def decode_body(cls, reader: BodyReader) -> NotificationResponse:
        process_id = reader.uint32()
        channel = reader.string()
        payload = reader.string()
        reader.end()
        return cls(process_id, channel, payload)


# -- errors and notices -----------------------------------------------------------------------------

ErrorFields: TypeAlias = tuple[tuple[str, str], ...]

FIELD_SEVERITY = "S"
FIELD_SEVERITY_NONLOCALIZED = "V"
FIELD_SQLSTATE = "C"
FIELD_MESSAGE = "M"
FIELD_DETAIL = "D"
FIELD_HINT = "H"
FIELD_POSITION = "P"
FIELD_INTERNAL_POSITION = "p"
FIELD_INTERNAL_QUERY = "q"
FIELD_WHERE = "W"
FIELD_SCHEMA = "s"
FIELD_TABLE = "t"
FIELD_COLUMN = "c"
FIELD_DATA_TYPE = "d"
FIELD_CONSTRAINT = "n"
FIELD_FILE = "F"
FIELD_LINE = "L"
FIELD_ROUTINE = "R"
SEVERITIES = ("ERROR", "FATAL", "PANIC", "WARNING", "NOTICE", "DEBUG", "INFO", "LOG")


class _FieldsMixin:
    """Accessors over (code, value) pairs, shared by ErrorResponse and NoticeResponse."""

    __slots__ = ()
    fields: ErrorFields

    def field(self, code: str) -> str | None:
        for field_code, value in self.fields:
            if field_code == code:
                return value
        return None

    @property
    def severity(self) -> str | None:
        return self.field(FIELD_SEVERITY_NONLOCALIZED) or self.field(FIELD_SEVERITY)

    @property
    def sqlstate(self) -> str | None:
        return self.field(FIELD_SQLSTATE)

    @property
    def message(self) -> str | None:
        return self.field(FIELD_MESSAGE)

    @property
    def detail(self) -> str | None:
        return self.field(FIELD_DETAIL)

    @property
    def hint(self) -> str | None:
        return self.field(FIELD_HINT)

    @property
    def position(self) -> int | None:
        value = self.field(FIELD_POSITION)
        return int(value) if value is not None and value.isdigit() else None

    def encode_body(self) -> bytes:
        parts = []
        for code, value in self.fields:
            invariant(len(code) == 1 and code != "\x00" and code.isascii(),
                      f"error field code must be one ASCII character: {code!r}")
            parts.append(code.encode() + encode_string(value))
        return b"".join(parts) + NUL

    @classmethod
    def decode_body(cls, reader: BodyReader) -> _FieldsMixin:
        fields: list[tuple[str, str]] = []
        while (code := reader.byte()) != 0:
            fields.append((chr(code), reader.string()))
        reader.end()
        return cls(tuple(fields))  # type: ignore[call-arg]


@dataclass(slots=True)
class ErrorResponse(_FieldsMixin, BackendMessage):
    """'E': an error; build ``fields`` with ``error_fields`` or ``error_from_exception``."""

    fields: ErrorFields
    type_byte: ClassVar[bytes] = b"E"


@dataclass(slots=True)
class NoticeResponse(_FieldsMixin, BackendMessage):
    """'N': a notice or warning, same fields as ErrorResponse."""

    fields: ErrorFields
    type_byte: ClassVar[bytes] = b"N"


def error_fields(severity: str, sqlstate: str, message: str, *, detail: str | None = None,
                 hint: str | None = None, position: int | None = None,
                 internal_position: int | None = None, internal_query: str | None = None,
                 where: str | None = None, schema: str | None = None, table: str | None = None,
                 column: str | None = None, data_type: str | None = None,
                 constraint: str | None = None, routine: str | None = None) -> ErrorFields:
    """The fields of an ErrorResponse/NoticeResponse in PostgreSQL's order, absent ones left out."""
    invariant(severity in SEVERITIES, f"unknown severity {severity!r}")
    invariant(len(sqlstate) == 5 and sqlstate.isascii() and sqlstate.isalnum(),
              f"bad SQLSTATE {sqlstate!r}")
    fields: list[tuple[str, str]] = [
        (FIELD_SEVERITY, severity), (FIELD_SEVERITY_NONLOCALIZED, severity),
        (FIELD_SQLSTATE, sqlstate), (FIELD_MESSAGE, message)]
    optional: tuple[tuple[str, str | int | None], ...] = (
        (FIELD_DETAIL, detail), (FIELD_HINT, hint), (FIELD_POSITION, position),
        (FIELD_INTERNAL_POSITION, internal_position), (FIELD_INTERNAL_QUERY, internal_query),
        (FIELD_WHERE, where), (FIELD_SCHEMA, schema), (FIELD_TABLE, table),
        (FIELD_COLUMN, column), (FIELD_DATA_TYPE, data_type), (FIELD_CONSTRAINT, constraint),
        (FIELD_ROUTINE, routine))
    fields.extend((code, str(value)) for code, value in optional if value is not None)
    return tuple(fields)


_OPTIONAL_EXCEPTION_FIELDS = ("internal_position", "internal_query", "where", "schema", "table",
                              "column", "data_type", "constraint", "routine")


def error_from_exception(exc: MirrordbError, severity: str = "ERROR") -> ErrorResponse:
    """The ErrorResponse for an operating error: its SQLSTATE, message, detail, hint, position,
    context (field W), and any of the optional attributes named like ``error_fields``' keywords
    that it carries."""
    extra = {name: getattr(exc, name) for name in _OPTIONAL_EXCEPTION_FIELDS
             if getattr(exc, name, None) is not None}
    if "where" not in extra and getattr(exc, "context", None):
        extra["where"] = exc.context
    return ErrorResponse(error_fields(severity, exc.sqlstate, exc.message, detail=exc.detail,
                                      hint=exc.hint, position=getattr(exc, "position", None),
                                      **extra))


# -- hot paths: pre-encoded messages and fast encoders ----------------------------------------------

READY_FOR_QUERY_IDLE = b"Z\x00\x00\x00\x05I"
READY_FOR_QUERY_IN_TRANSACTION = b"Z\x00\x00\x00\x05T"
READY_FOR_QUERY_FAILED = b"Z\x00\x00\x00\x05E"
READY_FOR_QUERY: Mapping[str, bytes] = {
    "I": READY_FOR_QUERY_IDLE, "T": READY_FOR_QUERY_IN_TRANSACTION, "E": READY_FOR_QUERY_FAILED}
AUTHENTICATION_OK = AuthenticationOk.encoded
PARSE_COMPLETE = ParseComplete.encoded
BIND_COMPLETE = BindComplete.encoded
CLOSE_COMPLETE = CloseComplete.encoded
NO_DATA = NoData.encoded
EMPTY_QUERY_RESPONSE = EmptyQueryResponse.encoded
PORTAL_SUSPENDED = PortalSuspended.encoded
COPY_DONE = CopyDone.encoded
SYNC = Sync.encoded
FLUSH = Flush.encoded
TERMINATE = Terminate.encoded

_INT32_PACK = INT32.pack
_DATA_ROW_HEAD_PACK = DATA_ROW_HEAD.pack
_COMMAND_COMPLETE_CACHE: dict[str, bytes] = {}
COMMAND_COMPLETE_CACHE_ENTRIES = 256  # distinct tags kept pre-encoded ("BEGIN", "SELECT 1", ...)


def encode_data_row(values: Sequence[bytes | None]) -> bytes:
    """A whole DataRow message for ``values`` (None = NULL): the per-row hot path."""
    parts: list[bytes] = [b""]
    append = parts.append
    length = 6  # length word + column count
    for value in values:
        if value is None:
            append(NULL_VALUE_FIELD)
            length += 4
        else:
            append(_INT32_PACK(len(value)))
            append(value)
            length += 4 + len(value)
    invariant(len(values) <= MAX_INT16_COUNT, f"too many columns: {len(values)}")
    parts[0] = _DATA_ROW_HEAD_PACK(b"D", length, len(values))
    return b"".join(parts)


def encode_command_complete(tag: str) -> bytes:
    """A whole CommandComplete message; frequent tags come from a bounded cache."""
    encoded = _COMMAND_COMPLETE_CACHE.get(tag)
    if encoded is None:
        encoded = frame(b"C", encode_string(tag))
        if len(_COMMAND_COMPLETE_CACHE) < COMMAND_COMPLETE_CACHE_ENTRIES:
            _COMMAND_COMPLETE_CACHE[tag] = encoded
    return encoded


# -- generic encode / decode ------------------------------------------------------------------------

Message: TypeAlias = FrontendMessage | BackendMessage | StartupPacket


def encode(message: Message) -> bytes:
    """The bytes on the wire for any message (typed or startup)."""
    return message.encode()


FrontendDecoder: TypeAlias = Callable[[BodyReader], FrontendMessage]
BackendDecoder: TypeAlias = Callable[[BodyReader], BackendMessage]

FRONTEND_DECODERS: Mapping[int, FrontendDecoder] = {
    ord(cls.type_byte): cast(FrontendDecoder, cls.decode_body)
    for cls in (Query, Parse, Bind, Describe, Execute, Sync, Flush, Close, CopyData, CopyDone,
                CopyFail, Terminate, FunctionCall, PasswordMessage)
}

BACKEND_DECODERS: Mapping[int, BackendDecoder] = {
    ord("R"): _decode_authentication,
    **{ord(cls.type_byte): cast(BackendDecoder, cls.decode_body)
       for cls in (ParameterStatus, BackendKeyData, ReadyForQuery, RowDescription, DataRow,
                   CommandComplete, EmptyQueryResponse, ErrorResponse, NoticeResponse,
                   ParseComplete, BindComplete, CloseComplete, NoData, ParameterDescription,
                   PortalSuspended, CopyInResponse, CopyOutResponse, CopyBothResponse, CopyData,
                   CopyDone, NegotiateProtocolVersion, NotificationResponse)},
}

QUERY_TYPE = ord("Q")
FORMAT_CODES_INLINE = 1      # format-code arrays longer than this take the general Bind decoder
SYNC_MESSAGE = Sync()        # Sync has no fields: one shared instance serves every decode


def _fast_int16_array(body: bytes, cursor: int) -> tuple[tuple[int, ...], int] | None:
    """An Int16 count then at most FORMAT_CODES_INLINE codes, and the cursor after them; None
    for anything else (longer arrays, short bodies: the general decoder reports those)."""
    if cursor + UINT16.size > len(body):
        return None
    count = (body[cursor] << 8) | body[cursor + 1]
    cursor += UINT16.size
    if count == 0:
        return (), cursor
    if count > FORMAT_CODES_INLINE or cursor + INT16.size > len(body):
        return None
    return INT16.unpack_from(body, cursor), cursor + INT16.size


def _fast_bind(body: bytes) -> Bind | None:
    """Bind without BodyReader: the same fields in the same layout as ``Bind.decode_body``
    reads them; None for any body that is not well formed or has more than one format code per
    array, so the general decoder produces its exact error (or result) for those."""
    portal_end = body.find(NUL)
    if portal_end < 0:
        return None
    statement_end = body.find(NUL, portal_end + 1)
    if statement_end < 0:
        return None
    formats = _fast_int16_array(body, statement_end + 1)
    if formats is None:
        return None
    param_formats, cursor = formats
    size = len(body)
    if cursor + UINT16.size > size:
        return None
    count = (body[cursor] << 8) | body[cursor + 1]
    cursor += UINT16.size
    values: list[bytes | None] = []
    for _ in range(count):
        if cursor + INT32.size > size:
            return None
        (length,) = INT32.unpack_from(body, cursor)
        cursor += INT32.size
        if length == NULL_VALUE_LENGTH:
            values.append(None)
            continue
        if length < 0 or cursor + length > size:
            return None
        values.append(body[cursor:cursor + length])
        cursor += length
    results = _fast_int16_array(body, cursor)
    if results is None or results[1] != size:
        return None
    try:
        portal = body[:portal_end].decode()
        statement = body[portal_end + 1:statement_end].decode()
    except UnicodeDecodeError:
        return None
    return Bind(portal, statement, param_formats, tuple(values), results[0])


def _fast_execute(body: bytes) -> Execute | None:
    """Execute without BodyReader: portal name, NUL, Int32 row limit, nothing after."""
    portal_end = body.find(NUL)
    if portal_end < 0 or portal_end + 1 + EXECUTE_TAIL.size != len(body):
        return None
    try:
        portal = body[:portal_end].decode()
    except UnicodeDecodeError:
        return None
    return Execute(portal, EXECUTE_TAIL.unpack_from(body, portal_end + 1)[0])


def _fast_sync(body: bytes) -> Sync | None:
    return None if body else SYNC_MESSAGE


# the extended-query messages of every prepared statement; a None answer means "take the
# general decoder", which alone reports malformed bodies
FAST_FRONTEND_DECODERS: Mapping[int, Callable[[bytes], FrontendMessage | None]] = {
    ord("B"): _fast_bind,
    ord("E"): _fast_execute,
    ord("S"): _fast_sync,
}
_PQFORMAT_TEXTS = (NO_DATA_LEFT, INSUFFICIENT_DATA_LEFT, INVALID_STRING, INVALID_MESSAGE_FORMAT)


def decode_frontend(type_byte: int, body: bytes) -> FrontendMessage:
    """Decode a complete frontend message. An unknown type is fatal ("invalid frontend message
    type N"); a malformed body is not (PostgreSQL answers ERROR and reads on)."""
    if type_byte == QUERY_TYPE and body and body.find(NUL) == len(body) - 1:
        try:  # the per-statement hot path; anything unusual takes the general path below
            return Query(body[:-1].decode())
        except UnicodeDecodeError:
            pass
    fast = FAST_FRONTEND_DECODERS.get(type_byte)
    if fast is not None:
        message = fast(body)
        if message is not None:
            return message
    decoder = FRONTEND_DECODERS.get(type_byte)
    if decoder is None:
        raise ProtocolViolation(f"invalid frontend message type {type_byte}", fatal=True,
                                message_type=type_byte)
    try:
        return decoder(BodyReader(body))
    except MalformedBody as error:
        raise ProtocolViolation(error.text, fatal=False, message_type=type_byte,
                                sqlstate=error.sqlstate) from None


def unexpected_backend_type_text(type_byte: int) -> str:
    return f'unexpected response from server; first received character was "{chr(type_byte)}"'


def decode_backend(type_byte: int, body: bytes) -> BackendMessage:
    """Decode a complete backend message, with libpq's wording for what it cannot read."""
    decoder = BACKEND_DECODERS.get(type_byte)
    if decoder is None:
        raise ProtocolViolation(unexpected_backend_type_text(type_byte), fatal=True,
                                message_type=type_byte)
    try:
        return decoder(BodyReader(body))
    except MalformedBody as error:
        text = error.text
        if text in _PQFORMAT_TEXTS:
            text = f'message contents do not agree with length in message type "{chr(type_byte)}"'
        raise ProtocolViolation(text, fatal=False, message_type=type_byte,
                                sqlstate=error.sqlstate) from None

