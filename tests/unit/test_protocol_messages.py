"""The protocol message codec: round trips, bytes captured from real PostgreSQL 15 traffic, errors.

The ``CAPTURED`` byte strings were recorded on the wire between a PostgreSQL 15.18 server and
psql 15 / psycopg 3.3 (a raw TCP tap), or are spelled out byte by byte in protocol_spec.md §1.3
and §2.7 (the SCRAM exchange, MD5 reply, CopyBothResponse). Our encoder must produce exactly
them and our decoder must read them back.
"""

from __future__ import annotations

import pytest

from mirrordb.common.errors import InvariantViolation, MirrordbError, ProtocolViolation
from mirrordb.protocol import messages as m

INT4 = m.FieldDescription("?column?", 0, 0, 23, 4, -1, 0)

FRONTEND_SAMPLES: list[m.FrontendMessage] = [
    m.Query("select 1"), m.Query(""), m.Query("sélect 'ünïcode' ✓"),
    m.Parse("", "select $1", ()), m.Parse("stmt1", "select $1, $2", (21, 0)),
    m.Bind("", "", (), (), ()), m.Bind("portal", "stmt", (1,), (b"\x00\x01", None, b""), (0, 1)),
    m.Bind("p", "s", (0, 1), (b"x", None), (1,)),
    m.Describe("S", "stmt"), m.Describe("P", ""), m.Execute("", 0), m.Execute("p", 100),
    m.Execute("p", -1), m.Sync(), m.Flush(), m.Close("S", "s"), m.Close("P", ""),
    m.CopyData(b""), m.CopyData(b"1\tone\n"), m.CopyDone(), m.CopyFail("aborted by user"),
    m.Terminate(), m.FunctionCall(1598, (0, 1), (b"a", None), 1), m.FunctionCall(12, (), (), 0),
    m.PasswordMessage(b"secret\x00"), m.PasswordMessage(b""),
]

BACKEND_SAMPLES: list[m.BackendMessage] = [
    m.AuthenticationOk(), m.AuthenticationCleartextPassword(),
    m.AuthenticationMD5Password(b"\x38\x4a\x1f\x13"),
    m.AuthenticationSASL(("SCRAM-SHA-256",)), m.AuthenticationSASL(("A", "B-PLUS")),
    m.AuthenticationSASL(()), m.AuthenticationSASLContinue(b"r=abc,s=xyz,i=4096"),
    m.AuthenticationSASLFinal(b"v=abc"), m.ParameterStatus("server_version", "15.0"),
    m.ParameterStatus("application_name", ""), m.BackendKeyData(4242, 0xDEADBEEF),
    m.ReadyForQuery("I"), m.ReadyForQuery("T"), m.ReadyForQuery("E"),
    m.RowDescription(()), m.RowDescription((INT4, m.FieldDescription("t", 16384, 2, 25, -1, -1, 1))),
    m.DataRow(()), m.DataRow((b"1", None, b"")), m.CommandComplete("INSERT 0 1"),
    m.EmptyQueryResponse(), m.ErrorResponse(m.error_fields("ERROR", "42601", "syntax error")),
    m.NoticeResponse(m.error_fields("NOTICE", "00000", "hello", detail="d", hint="h")),
    m.ParseComplete(), m.BindComplete(), m.CloseComplete(), m.NoData(), m.PortalSuspended(),
    m.ParameterDescription(()), m.ParameterDescription((23, 25, 4294967295)),
    m.CopyInResponse(0, (0, 0)), m.CopyOutResponse(1, (1,)), m.CopyBothResponse(0, ()),
    m.CopyData(b"w" + bytes(24)), m.CopyDone(),
    m.NegotiateProtocolVersion(0, ()), m.NegotiateProtocolVersion(0, ("_pq_.a", "_pq_.b")),
    m.NotificationResponse(99, "channel", "payload"),
]


def split_frame(data: bytes) -> tuple[int, bytes]:
    length = int.from_bytes(data[1:5], "big")
    assert length == len(data) - 1, "length word must count itself and the body"
    return data[0], data[5:]


@pytest.mark.parametrize("message", FRONTEND_SAMPLES, ids=repr)
def test_frontend_round_trip(message: m.FrontendMessage) -> None:
    type_byte, body = split_frame(m.encode(message))
    assert type_byte == ord(message.type_byte)
    assert m.decode_frontend(type_byte, body) == message


@pytest.mark.parametrize("message", BACKEND_SAMPLES, ids=repr)
def test_backend_round_trip(message: m.BackendMessage) -> None:
    type_byte, body = split_frame(m.encode(message))
    assert m.decode_backend(type_byte, body) == message
    assert message.encode_body() == body


@pytest.mark.parametrize("packet", [
    m.StartupMessage(m.PROTOCOL_VERSION_3_0, {"user": "u", "database": "d"}),
    m.StartupMessage(m.PROTOCOL_VERSION_3_0, {}),
    m.StartupMessage(m.PROTOCOL_VERSION_3_0 | 2, {"user": "u", "_pq_.x": "1"}),
    m.SSLRequest(), m.GSSENCRequest(), m.CancelRequest(4242, 0xFFFFFFFF),
], ids=repr)
def test_startup_round_trip(packet: m.StartupPacket) -> None:
    data = m.encode(packet)
    assert int.from_bytes(data[:4], "big") == len(data)
    assert m.decode_startup(data[4:]) == packet


# -- bytes captured from PostgreSQL 15 ---------------------------------------------------------

PSQL_STARTUP = bytes.fromhex(
    "0000003f000300007573657200706f73746772657300646174616261736500706f737467726573006170706c"
    "69636174696f6e5f6e616d65007073716c0000")
PSYCOPG_EXTENDED = bytes.fromhex(
    "500000001f0073656c6563742024313a3a696e7434202b203100000100000015"
    "420000001600000001000100010000000200290001000044000000065000450000000900000000005300000004")
SELECT_ONE_REPLY = bytes.fromhex(
    "540000002100013f636f6c756d6e3f00000000000000000000170004ffffffff0000440000000b00010000000131"
    "430000000d53454c454354203100" "5a0000000549")
DIVISION_BY_ZERO = bytes.fromhex(
    "4500000041534552524f5200564552524f5200433232303132004d6469766973696f6e206279207a65726f0046"
    "696e742e63004c3836390052696e74346469760000")
MISSING_COLUMN = bytes.fromhex(
    "450000006b534552524f5200564552524f5200433432373033004d636f6c756d6e20226e6f6e73656e7365222064"
    "6f6573206e6f74206578697374005038004670617273655f72656c6174696f6e2e63004c3336363500526572726f"
    "724d697373696e67436f6c756d6e0000")
DROP_NOTICE = bytes.fromhex(
    "4e00000072534e4f5449434500564e4f5449434500433030303030004d7461626c6520226e6f74686572652220"
    "646f6573206e6f742065786973742c20736b697070696e6700467461626c65636d64732e63004c313331300052"
    "44726f704572726f724d73674e6f6e4578697374656e740000")
NULL_AND_VARCHAR = bytes.fromhex(
    "540000002e0002740000000000000000000019ffffffffffff0000760000000000000000000413ffff00000009"
    "0000" "440000000f0002ffffffff0000000178")


def decode_stream(data: bytes, decode: object) -> list[object]:
    messages = []
    while data:
        length = int.from_bytes(data[1:5], "big")
        messages.append(decode(data[0], data[5:1 + length]))  # type: ignore[operator]
        data = data[1 + length:]
    return messages


def test_psql_startup_packet_captured() -> None:
    packet = m.StartupMessage(m.PROTOCOL_VERSION_3_0, {
        "user": "postgres", "database": "postgres", "application_name": "psql"})
    assert m.encode(packet) == PSQL_STARTUP
    assert m.decode_startup(PSQL_STARTUP[4:]) == packet
    assert m.encode(m.SSLRequest()) == bytes.fromhex("0000000804d2162f")
    assert m.encode(m.Query("select 1")) == bytes.fromhex("510000000d73656c656374203100")
    assert m.encode(m.Terminate()) == bytes.fromhex("5800000004")


def test_psycopg_extended_query_captured() -> None:
    expected = [
        m.Parse("", "select $1::int4 + 1", (21,)),
        m.Bind("", "", (1,), (b"\x00\x29",), (0,)),
        m.Describe("P", ""), m.Execute("", 0), m.Sync()]
    assert decode_stream(PSYCOPG_EXTENDED, m.decode_frontend) == expected
    assert b"".join(m.encode(message) for message in expected) == PSYCOPG_EXTENDED


def test_select_one_reply_captured() -> None:
    expected = [m.RowDescription((INT4,)), m.DataRow((b"1",)), m.CommandComplete("SELECT 1"),
                m.ReadyForQuery("I")]
    assert decode_stream(SELECT_ONE_REPLY, m.decode_backend) == expected
    assert b"".join(m.encode(message) for message in expected) == SELECT_ONE_REPLY
    fast = (expected[0].encode() + m.encode_data_row([b"1"])
            + m.encode_command_complete("SELECT 1") + m.READY_FOR_QUERY_IDLE)
    assert fast == SELECT_ONE_REPLY


def test_null_and_typmod_row_captured() -> None:
    expected = [
        m.RowDescription((m.FieldDescription("t", 0, 0, 25, -1, -1, 0),
                          m.FieldDescription("v", 0, 0, 1043, -1, 9, 0))),
        m.DataRow((None, b"x"))]
    assert decode_stream(NULL_AND_VARCHAR, m.decode_backend) == expected
    assert b"".join(m.encode(message) for message in expected) == NULL_AND_VARCHAR


def test_error_responses_captured() -> None:
    (error,) = decode_stream(DIVISION_BY_ZERO, m.decode_backend)
    assert isinstance(error, m.ErrorResponse)
    assert (error.severity, error.sqlstate, error.message) == ("ERROR", "22012", "division by zero")
    assert error.fields[4:] == (("F", "int.c"), ("L", "869"), ("R", "int4div"))
    assert m.encode(error) == DIVISION_BY_ZERO
    # Our builder puts the fields in the same order PostgreSQL does (we send no F/L).
    ours = m.ErrorResponse(m.error_fields("ERROR", "22012", "division by zero", routine="int4div"))
    assert ours.fields == error.fields[:4] + error.fields[6:]
    (missing,) = decode_stream(MISSING_COLUMN, m.decode_backend)
    assert isinstance(missing, m.ErrorResponse)
    assert missing.position == 8 and missing.sqlstate == "42703"
    assert m.error_fields("ERROR", "42703", 'column "nonsense" does not exist', position=8) \
        == missing.fields[:5]
    (notice,) = decode_stream(DROP_NOTICE, m.decode_backend)
    assert isinstance(notice, m.NoticeResponse) and notice.severity == "NOTICE"
    assert notice.message == 'table "nothere" does not exist, skipping'
    assert m.encode(notice) == DROP_NOTICE


def test_copy_and_negotiation_replies_captured() -> None:
    assert m.encode(m.CopyInResponse(0, (0, 0))) == bytes.fromhex("470000000b00000200000000")
    assert m.encode(m.CopyOutResponse(0, (0, 0))) == bytes.fromhex("480000000b00000200000000")
    assert m.encode(m.CopyBothResponse(0, ())) == bytes.fromhex("5700000007000000")  # §2.7
    negotiate = bytes.fromhex("760000001500030000000000015f70715f2e666f6f00")
    assert m.encode(m.NegotiateProtocolVersion(0, ("_pq_.foo",))) == negotiate
    assert decode_stream(negotiate, m.decode_backend) == [
        m.NegotiateProtocolVersion(0, ("_pq_.foo",))]
    assert m.encode(m.AuthenticationOk()) == bytes.fromhex("520000000800000000")
    assert m.encode(m.ParameterStatus("client_encoding", "UTF8")) == bytes.fromhex(
        "5300000019636c69656e745f656e636f64696e67005554463800")


def test_scram_and_md5_messages_from_spec() -> None:
    sasl = m.encode(m.AuthenticationSASL(("SCRAM-SHA-256",)))
    assert sasl == b"R" + (4 + 4 + 15).to_bytes(4, "big") + b"\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00"
    first = b"n,,n=,r=TLq54hDSg1imQhiKB/mi6ozA"
    body = m.encode_sasl_initial_response("SCRAM-SHA-256", first)
    assert body == b"SCRAM-SHA-256\x00" + (32).to_bytes(4, "big") + first
    assert m.decode_sasl_initial_response(body) == ("SCRAM-SHA-256", first)
    assert m.decode_sasl_initial_response(
        m.encode_sasl_initial_response("SCRAM-SHA-256", None)) == ("SCRAM-SHA-256", None)
    reply = b"md5601f54ec4b40e495b55af8148e3bd0d5"
    assert m.decode_password(m.encode_password(reply.decode())) == reply.decode()
    assert m.encode(m.AuthenticationMD5Password(bytes.fromhex("384a1f13"))) == \
        bytes.fromhex("520000000c00000005384a1f13")


# -- startup packet rules ----------------------------------------------------------------------


def startup_body(version: int, pairs: bytes) -> bytes:
    return version.to_bytes(4, "big") + pairs


def violation_of(call: object, *args: object) -> ProtocolViolation:
    with pytest.raises(ProtocolViolation) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_startup_rejections() -> None:
    old = violation_of(m.decode_startup, startup_body(2 << 16, b"user\x00u\x00\x00"))
    assert old.message == "unsupported frontend protocol 2.0: server supports 3.0 to 3.0"
    assert old.sqlstate == "0A000" and old.fatal
    for pairs in (b"user\x00u\x00", b"user\x00u\x00\x00\x00", b"user\x00", b"user", b""):
        problem = violation_of(m.decode_startup, startup_body(m.PROTOCOL_VERSION_3_0, pairs))
        assert problem.message == m.INVALID_STARTUP_LAYOUT
    bad_text = violation_of(m.decode_startup, startup_body(m.PROTOCOL_VERSION_3_0,
                                                           b"user\x00\xff\x00\x00"))
    assert bad_text.sqlstate == "22021"
    assert violation_of(m.decode_startup, b"\x00\x03").message == m.INVALID_STARTUP_LENGTH
    cancel = m.CANCEL_REQUEST_CODE.to_bytes(4, "big") + bytes(9)
    assert violation_of(m.decode_startup, cancel).message == m.INVALID_STARTUP_LENGTH
    ssl = m.NEGOTIATE_SSL_CODE.to_bytes(4, "big") + b"\x00"
    assert violation_of(m.decode_startup, ssl).message == m.INVALID_STARTUP_LENGTH


def test_needs_negotiation() -> None:
    plain = m.StartupMessage(m.PROTOCOL_VERSION_3_0, {"user": "u"})
    assert plain.needs_negotiation is None
    newer = m.StartupMessage(m.PROTOCOL_VERSION_3_0 | 5, {"user": "u"})
    assert newer.needs_negotiation == m.NegotiateProtocolVersion(0, ())
    options = m.StartupMessage(m.PROTOCOL_VERSION_3_0, {"_pq_.a": "1", "user": "u", "_pq_.b": ""})
    assert options.needs_negotiation == m.NegotiateProtocolVersion(0, ("_pq_.a", "_pq_.b"))


# -- malformed bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(("type_code", "body", "text"), [
    ("Q", b"select 1", "invalid string in message"),
    ("Q", b"select\x00x", "invalid message format"),
    ("Q", b"", "invalid string in message"),
    ("D", b"X\x00", "invalid DESCRIBE message subtype 88"),
    ("D", b"X\x00\x00\x00", "invalid message format"),  # PostgreSQL checks the end first
    ("C", b"Z\x00", "invalid CLOSE message subtype 90"),
    ("D", b"", "no data left in message"),
    ("E", b"\x00\x00\x00", "insufficient data left in message"),
    ("B", b"\x00\x00\x00\x02\x00\x00\x00\x00\x00\x03",
     "bind message has 2 parameter formats but 3 parameters"),
    ("B", b"\x00\x00\x00\x00\x00\x01\x00\x00\x00\x05ab", "insufficient data left in message"),
    ("P", b"\x00select\x00\x00\x01\x00\x00", "insufficient data left in message"),
    ("S", b"\x00", "invalid message format"),
    ("X", b"junk", "invalid message format"),
    ("f", b"why", "invalid string in message"),
])
def test_malformed_frontend_bodies(type_code: str, body: bytes, text: str) -> None:
    problem = violation_of(m.decode_frontend, ord(type_code), body)
    assert problem.message == text
    assert problem.sqlstate == "08P01" and not problem.fatal
    assert problem.message_type == ord(type_code)


def test_invalid_utf8_is_22021() -> None:
    problem = violation_of(m.decode_frontend, ord("Q"), b"select '\xc3\x28'\x00")
    assert problem.sqlstate == "22021" and not problem.fatal
    assert problem.message == 'invalid byte sequence for encoding "UTF8": 0xc3'


def test_unknown_types() -> None:
    problem = violation_of(m.decode_frontend, ord("x"), b"")
    assert problem.message == "invalid frontend message type 120" and problem.fatal
    problem = violation_of(m.decode_backend, ord("x"), b"")
    assert problem.message == 'unexpected response from server; first received character was "x"'


@pytest.mark.parametrize(("type_code", "body"), [
    ("Z", b"I\x00"), ("Z", b""), ("C", b"SELECT 1"), ("T", b"\x00\x01name\x00\x00"),
    ("D", b"\x00\x01\x00\x00\x00\x09ab"), ("R", b"\x00\x00\x00\x05\x01\x02"),
    ("K", b"\x00\x00\x00\x01"), ("E", b"Mmessage\x00"), ("v", b"\x00\x03\x00\x00\x00\x00\x00\x05"),
])
def test_malformed_backend_bodies(type_code: str, body: bytes) -> None:
    problem = violation_of(m.decode_backend, ord(type_code), body)
    assert problem.message == (
        f'message contents do not agree with length in message type "{type_code}"')
    assert not problem.fatal


def test_backend_semantic_rejections() -> None:
    assert "transaction status" in violation_of(m.decode_backend, ord("Z"), b"X").message
    unknown = violation_of(m.decode_backend, ord("R"), (7).to_bytes(4, "big"))
    assert unknown.message == "authentication method 7 not supported"


def test_password_helpers_reject_malformed_bodies() -> None:
    for body in (b"", b"secret", b"sec\x00ret\x00"):
        problem = violation_of(m.decode_password, body)
        assert problem.message == "invalid password packet size" and problem.fatal
    for body in (b"SCRAM-SHA-256", b"SCRAM-SHA-256\x00\x00\x00\x00\x09abc",
                 b"SCRAM-SHA-256\x00\x00\x00\x00\x01ab"):
        assert violation_of(m.decode_sasl_initial_response, body).fatal


# -- builders and encoders ---------------------------------------------------------------------


def test_error_fields_order_and_optional_fields() -> None:
    fields = m.error_fields(
        "ERROR", "23505", "duplicate key", detail="Key (a)=(1) already exists.", hint="h",
        position=3, internal_position=4, internal_query="iq", where="w", schema="public",
        table="t", column="a", data_type="int4", constraint="t_pkey", routine="r")
    assert [code for code, _ in fields] == list("SVCMDHPpqWstcdnR")
    assert dict(fields)["P"] == "3"
    assert m.error_fields("FATAL", "08P01", "x") == (
        ("S", "FATAL"), ("V", "FATAL"), ("C", "08P01"), ("M", "x"))


def test_error_from_exception() -> None:
    error = MirrordbError("syntax error at end of input", sqlstate="42601", hint="add more",
                          position=9)
    response = m.error_from_exception(error)
    assert response.fields == m.error_fields("ERROR", "42601", "syntax error at end of input",
                                             hint="add more", position=9)
    legacy = MirrordbError("x", sqlstate="22012")
    legacy.table = "t"  # type: ignore[attr-defined]
    assert m.error_from_exception(legacy, "FATAL").fields == m.error_fields(
        "FATAL", "22012", "x", table="t")
    violation = ProtocolViolation("invalid message length")
    assert m.error_from_exception(violation, "FATAL").sqlstate == "08P01"


def test_fast_paths_match_dataclasses() -> None:
    values = [b"1", None, b"", b"x" * 300]
    assert m.encode_data_row(values) == m.DataRow(tuple(values)).encode()
    for tag in ("BEGIN", "SELECT 1", "INSERT 0 1"):
        assert m.encode_command_complete(tag) == b"C" + (len(tag) + 5).to_bytes(4, "big") \
            + tag.encode() + b"\x00"
    assert m.READY_FOR_QUERY == {status: m.ReadyForQuery(status).encode() for status in "ITE"}
    for constant, message in ((m.PARSE_COMPLETE, m.ParseComplete()),
                              (m.BIND_COMPLETE, m.BindComplete()), (m.NO_DATA, m.NoData()),
                              (m.SYNC, m.Sync()), (m.COPY_DONE, m.CopyDone())):
        assert constant == b"".join((message.type_byte, (4).to_bytes(4, "big"),
                                     message.encode_body()))


@pytest.mark.parametrize("build", [
    lambda: m.Query("nul\x00inside").encode(),
    lambda: m.Describe("X", "").encode(),
    lambda: m.ReadyForQuery("Q").encode(),
    lambda: m.AuthenticationMD5Password(b"abc").encode(),
    lambda: m.Execute("", 2**31).encode(),
    lambda: m.BackendKeyData(-1, 0).encode(),
    lambda: m.ErrorResponse((("SV", "x"),)).encode(),
    lambda: m.error_fields("OOPS", "00000", "x"),
    lambda: m.encode_data_row([b""] * 65536),
])
def test_encoders_refuse_bad_arguments(build: object) -> None:
    with pytest.raises(InvariantViolation):
        build()  # type: ignore[operator]
