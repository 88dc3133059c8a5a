"""ServerConnection: phases, limits, PostgreSQL's texts for each violation, end of input."""

from __future__ import annotations

import pytest

from mirrordb.common.errors import InvariantViolation, ProtocolViolation
from mirrordb.protocol import messages as m
from mirrordb.protocol.buffers import RECEIVE_CHUNK_LIMIT_BYTES, ConnectionClosed
from mirrordb.protocol.server import (
    AUTH_MESSAGE_LIMIT,
    LARGE_MESSAGE_LIMIT,
    SMALL_MESSAGE_LIMIT,
    ServerConnection,
    ServerPhase,
)
from mirrordb.protocol.wire import frame

STARTUP = m.StartupMessage(m.PROTOCOL_VERSION_3_0, {"user": "u", "database": "d"})


def header(type_code: str, length: int) -> bytes:
    return type_code.encode() + length.to_bytes(4, "big")


def events(conn: ServerConnection) -> list[object]:
    found: list[object] = []
    while (event := conn.next_event()) is not None:
        found.append(event)
    return found


def ready() -> ServerConnection:
    conn = ServerConnection()
    conn.receive_data(STARTUP.encode())
    assert conn.next_event() == STARTUP
    conn.authentication_done()
    return conn


def violation(conn: ServerConnection, data: bytes = b"") -> ProtocolViolation:
    if data:
        conn.receive_data(data)
    with pytest.raises(ProtocolViolation) as caught:
        events(conn)
    return caught.value


# -- startup ---------------------------------------------------------------------------------


def test_ssl_refused_then_startup_then_trust() -> None:
    conn = ServerConnection()
    conn.receive_data(m.SSLRequest().encode())
    assert conn.next_event() == m.SSLRequest()
    assert conn.ssl_response(False) == b"N"
    conn.receive_data(STARTUP.encode()[:7])
    assert conn.next_event() is None
    conn.receive_data(STARTUP.encode()[7:])
    assert conn.next_event() == STARTUP
    conn.authentication_done()
    assert conn.phase is ServerPhase.READY


def test_second_ssl_request_is_an_unsupported_protocol() -> None:
    conn = ServerConnection()
    conn.receive_data(m.SSLRequest().encode())
    conn.next_event()
    assert conn.ssl_response(True) == b"S"
    problem = violation(conn, m.SSLRequest().encode())  # decrypted bytes after TLS
    assert problem.message == "unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0"
    assert problem.sqlstate == "0A000" and conn.phase is ServerPhase.CLOSED


def test_gss_allowed_after_refused_ssl_but_not_after_accepted_ssl() -> None:
    conn = ServerConnection()
    conn.receive_data(m.SSLRequest().encode())
    conn.next_event()
    conn.ssl_response(False)
    conn.receive_data(m.GSSENCRequest().encode())
    assert conn.next_event() == m.GSSENCRequest()
    assert conn.ssl_response(False) == b"N"  # answers whichever request is pending
    conn.receive_data(STARTUP.encode())
    assert conn.next_event() == STARTUP
    accepted = ServerConnection()
    accepted.receive_data(m.SSLRequest().encode())
    accepted.next_event()
    accepted.ssl_response(True)
    assert "1234.5680" in violation(accepted, m.GSSENCRequest().encode()).message


def test_unencrypted_data_after_ssl_request() -> None:
    conn = ServerConnection()
    conn.receive_data(m.SSLRequest().encode() + STARTUP.encode())
    conn.next_event()
    with pytest.raises(ProtocolViolation) as caught:
        conn.ssl_response(True)
    assert caught.value.message == "received unencrypted data after SSL request"
    assert caught.value.detail is not None and conn.phase is ServerPhase.CLOSED


def test_reading_on_before_answering_is_a_programmer_error() -> None:
    conn = ServerConnection()
    conn.receive_data(m.SSLRequest().encode())
    conn.next_event()
    with pytest.raises(InvariantViolation):
        conn.next_event()
    answered = ServerConnection()
    answered.receive_data(STARTUP.encode())
    answered.next_event()
    with pytest.raises(InvariantViolation):
        answered.next_event()
    with pytest.raises(InvariantViolation):
        ServerConnection().authentication_done()


def test_cancel_request_closes() -> None:
    conn = ServerConnection()
    conn.receive_data(m.CancelRequest(7, 8).encode() + b"ignored")
    assert conn.next_event() == m.CancelRequest(7, 8)
    assert conn.phase is ServerPhase.CLOSED and conn.next_event() is None


@pytest.mark.parametrize("length", [0, 7, m.MAX_STARTUP_PACKET_LENGTH + 5, 2**31])
def test_startup_length_limits(length: int) -> None:
    problem = violation(ServerConnection(), length.to_bytes(4, "big"))
    assert problem.message == "invalid length of startup packet" and problem.message_type is None


def test_largest_startup_packet_is_accepted() -> None:
    filler = "x" * (m.MAX_STARTUP_PACKET_LENGTH - 4 - len("user\x00\x00options\x00\x00\x00"))
    packet = m.StartupMessage(m.PROTOCOL_VERSION_3_0, {"user": "", "options": filler})
    data = packet.encode()
    assert len(data) == m.MAX_STARTUP_PACKET_LENGTH + 4
    conn = ServerConnection()
    conn.receive_data(data)
    assert conn.next_event() == packet


def test_end_of_input_during_startup() -> None:
    conn = ServerConnection()
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    partial = ServerConnection()
    partial.receive_data(STARTUP.encode()[:-1])
    assert partial.next_event() is None
    partial.receive_data(b"")
    assert violation(partial).message == "incomplete startup packet"


# -- authentication --------------------------------------------------------------------------


def test_authentication_reads_only_password_messages() -> None:
    conn = ServerConnection()
    conn.receive_data(STARTUP.encode())
    conn.next_event()
    conn.start_authentication()
    conn.receive_data(m.PasswordMessage(b"secret\x00").encode())
    assert conn.next_event() == m.PasswordMessage(b"secret\x00")
    problem = violation(conn, m.Query("select 1").encode())
    assert problem.message == "expected password response, got message type 81"
    assert problem.fatal and conn.phase is ServerPhase.CLOSED


def test_sasl_wording_and_auth_limit() -> None:
    conn = ServerConnection()
    conn.receive_data(STARTUP.encode())
    conn.next_event()
    conn.start_authentication(sasl=True)
    assert violation(conn, b"X").message == "expected SASL response, got message type 88"
    big = ServerConnection()
    big.receive_data(STARTUP.encode())
    big.next_event()
    big.start_authentication(sasl=True)
    assert violation(big, header("p", AUTH_MESSAGE_LIMIT + 1)).message == "invalid message length"


# -- ready -----------------------------------------------------------------------------------


def test_pipelined_extended_query() -> None:
    conn = ready()
    sent = [m.Parse("", "select $1", (23,)), m.Bind("", "", (), (b"1",), ()),
            m.Describe("P", ""), m.Execute("", 0), m.Sync(), m.Flush(), m.Close("S", "")]
    conn.receive_data(b"".join(message.encode() for message in sent))
    assert events(conn) == sent


def test_invalid_type_and_length() -> None:
    assert violation(ready(), b"x").message == "invalid frontend message type 120"
    assert violation(ready(), header("Q", 3)).message == "invalid message length"


def test_oversized_small_message_refused_from_its_header() -> None:
    conn = ready()
    conn.receive_data(header("S", SMALL_MESSAGE_LIMIT + 1))  # no body at all yet
    assert violation(conn).message == "invalid message length"
    fine = ready()
    fine.receive_data(header("D", SMALL_MESSAGE_LIMIT))
    assert fine.next_event() is None  # waits for the 9996-byte body


def test_large_types_may_reach_the_large_limit() -> None:
    for type_code in "QPBdF":
        conn = ready()
        conn.receive_data(header(type_code, LARGE_MESSAGE_LIMIT))
        assert conn.next_event() is None
        assert violation(ready(), header(type_code, LARGE_MESSAGE_LIMIT + 1)).message == \
            "invalid message length"


def test_copy_messages_dropped_in_ready() -> None:
    conn = ready()
    conn.receive_data(m.CopyData(b"late").encode() + m.CopyDone().encode()
                      + m.CopyFail("x").encode() + m.Query("select 1").encode())
    assert events(conn) == [m.Query("select 1")]


def test_malformed_body_is_not_fatal() -> None:
    conn = ready()
    conn.receive_data(frame(b"D", b"X\x00"))
    conn.receive_data(m.Sync().encode())
    with pytest.raises(ProtocolViolation) as caught:
        conn.next_event()
    assert caught.value.message == "invalid DESCRIBE message subtype 88"
    assert not caught.value.fatal and caught.value.message_type == ord("D")
    assert conn.next_event() == m.Sync()
    assert conn.phase is ServerPhase.READY


def test_terminate_closes() -> None:
    conn = ready()
    conn.receive_data(m.Terminate().encode() + b"garbage after")
    assert events(conn) == [m.Terminate()]
    assert conn.phase is ServerPhase.CLOSED


@pytest.mark.parametrize(("data", "text"), [
    (b"Q", "unexpected EOF within message length word"),
    (b"Q\x00\x00", "unexpected EOF within message length word"),
    (m.Query("select 1").encode()[:-1], "incomplete message from client"),
])
def test_end_of_input_inside_a_message(data: bytes, text: str) -> None:
    conn = ready()
    conn.receive_data(data)
    assert conn.next_event() is None
    conn.receive_data(b"")
    assert violation(conn).message == text


def test_clean_end_of_input() -> None:
    conn = ready()
    conn.receive_data(m.Sync().encode())
    conn.receive_data(b"")
    assert events(conn) == [m.Sync(), ConnectionClosed()]
    assert conn.phase is ServerPhase.CLOSED


# -- copy ------------------------------------------------------------------------------------


def test_copy_in() -> None:
    conn = ready()
    conn.receive_data(m.Query("copy t from stdin").encode())
    conn.next_event()
    conn.start_copy_in()
    conn.receive_data(m.CopyData(b"1\n").encode() + m.Flush().encode() + m.Sync().encode()
                      + m.CopyDone().encode() + m.Query("select 1").encode())
    assert conn.next_event() == m.CopyData(b"1\n")
    assert conn.next_event() == m.CopyDone()  # Flush and Sync dropped
    with pytest.raises(InvariantViolation):
        conn.next_event()  # the backend must end the COPY first
    conn.end_copy_in()
    assert conn.next_event() == m.Query("select 1")


def test_copy_in_rejects_other_messages() -> None:
    conn = ready()
    conn.start_copy_in()
    problem = violation(conn, m.Query("select 1").encode())
    assert problem.message == "unexpected message type 0x51 during COPY from stdin"
    eof = ready()
    eof.start_copy_in()
    eof.receive_data(m.CopyData(b"abc").encode()[:-1])
    eof.receive_data(b"")
    problem = violation(eof)
    assert problem.message == "unexpected EOF on client connection with an open transaction"
    assert problem.sqlstate == "08006"


def test_copy_both() -> None:
    conn = ready()
    conn.start_copy_both()
    status = b"r" + bytes(33)
    conn.receive_data(m.CopyData(status).encode() + m.CopyDone().encode())
    assert events(conn) == [m.CopyData(status), m.CopyDone()]
    problem = violation(conn, m.CopyData(status).encode())
    assert problem.message == 'unexpected standby message type "d", after receiving CopyDone'
    other = ready()
    other.start_copy_both()
    assert violation(other, m.Sync().encode()).message == 'invalid standby message type "S"'


def test_copy_both_ends_and_terminate_after_copy_done() -> None:
    conn = ready()
    conn.start_copy_both()
    conn.receive_data(m.CopyDone().encode() + m.Terminate().encode())
    assert events(conn) == [m.CopyDone(), m.Terminate()]
    again = ready()
    again.start_copy_both()
    again.receive_data(m.CopyDone().encode())
    again.next_event()
    again.end_copy_both()
    again.receive_data(m.Query("SHOW x").encode())
    assert again.next_event() == m.Query("SHOW x")


def test_illegal_transitions_name_both_states() -> None:
    conn = ready()
    with pytest.raises(InvariantViolation, match="end_copy_in.*READY"):
        conn.end_copy_in()
    conn.start_copy_in()
    with pytest.raises(InvariantViolation, match="start_copy_both.*COPY_IN"):
        conn.start_copy_both()


# -- output and buffers ----------------------------------------------------------------------


def test_output_queue() -> None:
    conn = ready()
    assert conn.data_to_send() == b""
    conn.send(m.ParseComplete(), m.BindComplete())
    conn.send_raw(m.READY_FOR_QUERY_IDLE)
    assert conn.pending_output_bytes == 5 + 5 + 6
    assert conn.data_to_send() == m.PARSE_COMPLETE + m.BIND_COMPLETE + m.READY_FOR_QUERY_IDLE
    assert conn.pending_output_bytes == 0
    with pytest.raises(InvariantViolation):
        conn.send(m.Query("select 1"))  # type: ignore[arg-type]


def test_receive_chunk_limit() -> None:
    with pytest.raises(InvariantViolation):
        ServerConnection().receive_data(bytes(RECEIVE_CHUNK_LIMIT_BYTES + 1))
