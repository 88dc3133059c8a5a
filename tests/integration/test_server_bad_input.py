"""Malformed and oversized protocol messages against a live server: the offending connection gets
a protocol-violation error (08P01) and is closed; every other connection keeps working."""

from __future__ import annotations

import socket
import struct

import pytest


READ_DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


def startup_packet(user: str = "postgres") -> bytes:
    body = struct.pack("!I", 3 << 16) + b"user\0" + user.encode() + b"\0database\0postgres\0\0"
    return struct.pack("!I", len(body) + 4) + body


def read_messages(sock: socket.socket) -> list[tuple[bytes, bytes]]:
    """Messages until ReadyForQuery or the server closes the connection."""
    data = b""
    messages = []
    while True:
        while len(data) >= 5:
            kind, length = data[:1], struct.unpack("!I", data[1:5])[0]
            if len(data) < 1 + length:
                break
            messages.append((kind, data[5:1 + length]))
            data = data[1 + length:]
            if kind == b"Z":
                return messages
        chunk = sock.recv(65536)
        if not chunk:
            return messages
        data += chunk


def connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=READ_DEADLINE_S)
    sock.sendall(startup_packet())
    messages = read_messages(sock)
    assert messages[-1][0] == b"Z", messages
    return sock


def error_code(messages: list[tuple[bytes, bytes]]) -> tuple[str, str]:
    for kind, body in messages:
        if kind == b"E":
            fields = dict((f[:1].decode(), f[1:].decode()) for f in body.split(b"\0") if f)
            return fields["C"], fields["M"]
    raise AssertionError(f"no ErrorResponse in {messages}")


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("payload, message", [
    (b"x" + struct.pack("!I", 4), "invalid frontend message type 120"),
    (b"Q" + struct.pack("!I", 0x7FFFFFF0), "invalid message length"),
    (b"S" + struct.pack("!I", 3), "invalid message length"),
    (b"S" + struct.pack("!I", 20000) + b"\0" * 19996, "invalid message length"),
])
def test_malformed_message_drops_only_that_connection(server, payload, message):
    bystander = server.connect(autocommit=True)
    sock = connect(server)
    sock.sendall(payload)
    messages = read_messages(sock)
    code, text = error_code(messages)
    assert code == "08P01"
    if message is not None:
        assert message in text
    assert closed(sock)
    sock.close()
    assert bystander.execute("select 1").fetchone() == (1,)
    bystander.close()
    with server.connect() as fresh:
        assert fresh.execute("select 2").fetchone() == (2,)


@pytest.mark.parametrize("payload", [
    b"B" + struct.pack("!I", 9) + b"\0\0\xff\xff\xff",
    b"P" + struct.pack("!I", 6) + b"a\0",
])
def test_malformed_body_is_an_error_and_the_connection_carries_on(server, payload):
    """A well-framed message whose body is malformed is an ERROR, as in PostgreSQL: the
    extended-protocol messages up to Sync are skipped, then the connection works again."""
    sock = connect(server)
    sync = b"S" + struct.pack("!I", 4)
    sock.sendall(payload + sync)
    messages = read_messages(sock)
    code, _ = error_code(messages)
    assert code == "08P01"
    assert messages[-1] == (b"Z", b"I")
    query = b"select 7\0"
    sock.sendall(b"Q" + struct.pack("!I", 4 + len(query)) + query)
    messages = read_messages(sock)
    assert (b"D", struct.pack("!HI", 1, 1) + b"7") in messages
    sock.close()


def test_garbage_startup_packet(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=READ_DEADLINE_S)
    sock.sendall(struct.pack("!I", 8) + struct.pack("!I", 0x12345678))
    messages = read_messages(sock)
    code, text = error_code(messages)
    assert code == "0A000" and "unsupported frontend protocol" in text  # as PostgreSQL
    assert closed(sock)
    sock.close()
    with server.connect() as fresh:
        assert fresh.execute("select 3").fetchone() == (3,)
