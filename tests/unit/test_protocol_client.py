"""ClientConnection: SSL negotiation, libpq's limits and texts, phases, and a server conversation."""

from __future__ import annotations

import pytest

from mirrordb.common.errors import InvariantViolation, ProtocolViolation
from mirrordb.protocol import messages as m
from mirrordb.protocol.buffers import ConnectionClosed
from mirrordb.protocol.client import ClientConnection, ClientPhase, SSLResponse
from mirrordb.protocol.server import ServerConnection
from mirrordb.protocol.wire import frame

PARAMETERS = {"user": "walreceiver", "database": "replication", "replication": "true"}


def header(type_code: str, length: int) -> bytes:
    return type_code.encode() + length.to_bytes(4, "big")


def events(conn: ClientConnection) -> list[object]:
    found: list[object] = []
    while (event := conn.next_event()) is not None:
        found.append(event)
    return found


def started() -> ClientConnection:
    conn = ClientConnection()
    conn.startup(PARAMETERS)
    return conn


def authenticated() -> ClientConnection:
    conn = started()
    conn.receive_data(m.AUTHENTICATION_OK)
    assert conn.next_event() == m.AuthenticationOk()
    return conn


def violation(conn: ClientConnection, data: bytes = b"") -> ProtocolViolation:
    if data:
        conn.receive_data(data)
    with pytest.raises(ProtocolViolation) as caught:
        events(conn)
    return caught.value


def test_ssl_negotiation() -> None:
    conn = ClientConnection()
    assert conn.request_ssl() == m.SSLRequest().encode()
    assert conn.next_event() is None
    conn.receive_data(b"N")
    assert conn.next_event() == SSLResponse(False)
    assert conn.startup(PARAMETERS) == m.StartupMessage(m.PROTOCOL_VERSION_3_0, PARAMETERS).encode()
    assert conn.phase is ClientPhase.AUTHENTICATING


def test_ssl_answers_that_are_refused() -> None:
    garbage = ClientConnection()
    garbage.request_ssl()
    assert violation(garbage, b"E").message == "received invalid response to SSL negotiation: E"
    stuffed = ClientConnection()
    stuffed.request_ssl()
    problem = violation(stuffed, b"S" + m.AUTHENTICATION_OK)
    assert problem.message == "received unencrypted data after SSL response"
    assert stuffed.phase is ClientPhase.CLOSED


def test_authentication_phase_limits() -> None:
    assert violation(started(), m.READY_FOR_QUERY_IDLE).message == \
        "expected authentication request from server, but received Z"
    assert violation(started(), header("R", 2001)).message == \
        'lost synchronization with server: got message type "R", length 2001'
    assert violation(started(), header("E", 7)).fatal
    error = m.ErrorResponse(m.error_fields("FATAL", "28P01", "password authentication failed"))
    conn = started()
    conn.receive_data(error.encode())
    assert conn.next_event() == error
    malformed = started()
    problem = violation(malformed, frame(b"R", b"\x00\x00\x00\x05ab"))
    assert problem.fatal and malformed.phase is ClientPhase.CLOSED


def test_full_conversation_with_the_server_machine() -> None:
    server = ServerConnection()
    client = ClientConnection()
    server.receive_data(client.startup(PARAMETERS))
    startup = server.next_event()
    assert isinstance(startup, m.StartupMessage) and startup.parameters == PARAMETERS
    server.start_authentication()
    server.send(m.AuthenticationCleartextPassword())
    client.receive_data(server.data_to_send())
    assert client.next_event() == m.AuthenticationCleartextPassword()
    client.send(m.PasswordMessage(m.encode_password("pw")))
    server.receive_data(client.data_to_send())
    password = server.next_event()
    assert isinstance(password, m.PasswordMessage) and m.decode_password(password.data) == "pw"
    server.authentication_done()
    server.send(m.AuthenticationOk(), m.ParameterStatus("server_version", "15.0"),
                m.BackendKeyData(1, 2), m.ReadyForQuery("I"))
    client.receive_data(server.data_to_send())
    assert events(client)[-1] == m.ReadyForQuery("I")
    assert client.phase is ClientPhase.READY
    client.send(m.Query("IDENTIFY_SYSTEM"))
    server.receive_data(client.data_to_send())
    assert server.next_event() == m.Query("IDENTIFY_SYSTEM")


def test_ready_limits_and_long_types() -> None:
    assert violation(authenticated(), header("C", 30001)).message == \
        'lost synchronization with server: got message type "C", length 30001'
    for type_code in "TDdENA":
        conn = authenticated()
        conn.receive_data(header(type_code, 30001))
        assert conn.next_event() is None
    assert violation(authenticated(), header("Z", 3)).fatal
    assert violation(authenticated(), b"x").message == \
        'unexpected response from server; first received character was "x"'


def test_malformed_body_is_skipped_when_ready() -> None:
    conn = authenticated()
    conn.receive_data(frame(b"C", b"no terminator") + m.READY_FOR_QUERY_IDLE)
    with pytest.raises(ProtocolViolation) as caught:
        conn.next_event()
    assert not caught.value.fatal
    assert conn.next_event() == m.ReadyForQuery("I")


def test_end_of_input() -> None:
    clean = authenticated()
    clean.receive_data(b"")
    assert clean.next_event() == ConnectionClosed()
    assert clean.phase is ClientPhase.CLOSED
    partial = authenticated()
    partial.receive_data(m.READY_FOR_QUERY_IDLE[:-1])
    partial.receive_data(b"")
    assert violation(partial).message == "server closed the connection unexpectedly"


def test_send_rules() -> None:
    with pytest.raises(InvariantViolation):
        ClientConnection().send(m.Query("too early"))
    with pytest.raises(InvariantViolation):
        started().send(m.Query("not while authenticating"))
    with pytest.raises(InvariantViolation):
        authenticated().send(m.ReadyForQuery("I"))  # type: ignore[arg-type]
    with pytest.raises(InvariantViolation):
        ClientConnection().next_event()
    conn = authenticated()
    conn.send(m.Sync(), m.Terminate())
    assert conn.data_to_send() == m.SYNC + m.TERMINATE
    assert conn.phase is ClientPhase.CLOSED and conn.next_event() is None
