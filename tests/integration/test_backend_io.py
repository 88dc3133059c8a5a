"""The backend's socket I/O against a real server: a client that stops reading a large result
for a while still gets all of it (the backend waits for room in the socket buffer, it does not
give up), and pgbench-style pipelined extended-protocol messages sent in one packet are
answered in order."""

from __future__ import annotations

import socket
import struct
import time

import pytest

DEADLINE_S = 30.0
STALL_S = 1.5                # longer than the backend's idle poll (0.25 s)
RESULT_ROWS = 100_000        # about 15 MB of DataRows: far more than the socket buffers hold


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


def frame(type_byte: bytes, body: bytes) -> bytes:
    return type_byte + struct.pack("!I", len(body) + 4) + body


def startup_packet(user: str = "postgres", database: str = "postgres") -> bytes:
    body = struct.pack("!I", 196608) + b"user\0" + user.encode() + b"\0database\0" + \
        database.encode() + b"\0\0"
    return struct.pack("!I", len(body) + 4) + body


def read_until_ready(sock: socket.socket, count: int = 1) -> list[tuple[bytes, bytes]]:
    """Messages up to and including the ``count``-th ReadyForQuery."""
    buffer = b""
    messages: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + DEADLINE_S
    while sum(1 for kind, _ in messages if kind == b"Z") < count:
        assert time.monotonic() < deadline, "no ReadyForQuery"
        chunk = sock.recv(1 << 16)
        assert chunk, f"connection closed after {len(messages)} messages"
        buffer += chunk
        while len(buffer) >= 5:
            length = struct.unpack("!I", buffer[1:5])[0]
            if len(buffer) < 1 + length:
                break
            messages.append((buffer[:1], buffer[5:1 + length]))
            buffer = buffer[1 + length:]
    return messages


def connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE_S)
    sock.sendall(startup_packet())
    read_until_ready(sock)
    return sock


def test_a_client_that_stalls_while_reading_gets_the_whole_result(server):
    sock = connect(server)
    try:
        sock.sendall(frame(b"Q", f"select repeat('x', 140) from generate_series(1, "
                                 f"{RESULT_ROWS}) g\0".encode()))
        time.sleep(STALL_S)                   # not reading: the backend's sends must wait
        messages = read_until_ready(sock)
        kinds = [kind for kind, _ in messages]
        assert kinds.count(b"D") == RESULT_ROWS
        assert (b"C", f"SELECT {RESULT_ROWS}\0".encode()) in messages
        sock.sendall(frame(b"Q", b"select 1\0"))
        assert [kind for kind, _ in read_until_ready(sock)] == [b"T", b"D", b"C", b"Z"]
    finally:
        sock.close()


def test_pipelined_extended_protocol_transactions_are_answered_in_order(server):
    sock = connect(server)
    try:
        parse = frame(b"P", b"q\0select $1::int + 1\0" + struct.pack("!H", 0))
        transactions = b""
        for value in range(50):
            text = str(value).encode()
            transactions += frame(b"B", b"\0q\0" + struct.pack("!HHI", 0, 1, len(text)) + text
                                  + struct.pack("!H", 0))
            transactions += frame(b"D", b"P\0") + frame(b"E", b"\0" + struct.pack("!I", 0))
            transactions += frame(b"S", b"")
        sock.sendall(parse + frame(b"S", b"") + transactions)
        messages = read_until_ready(sock, count=51)
        rows = [body for kind, body in messages if kind == b"D"]
        assert [int(body[6:]) for body in rows] == [value + 1 for value in range(50)]
    finally:
        sock.close()
