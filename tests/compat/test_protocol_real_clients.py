"""The protocol codec against real clients: PostgreSQL 15's psql (libpq) and psycopg 3.

A tiny threaded server built only from ``ServerConnection`` and the message codec answers the
startup (SSLRequest refused, optional cleartext password), a fixed ``select 1``, an error with a
position, the extended protocol psycopg uses for parameters, and a COPY FROM STDIN. If psql and
psycopg accept every byte of it, the codec speaks the protocol as PostgreSQL does.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest

from mirrordb.protocol import messages as m
from mirrordb.protocol.buffers import ConnectionClosed
from mirrordb.protocol.server import ServerConnection, ServerPhase
from tests.conftest import pg_tool

RECEIVE_BYTES = 65536
CLIENT_TIMEOUT_S = 20
PASSWORD = "s3cret"
INT4_OID = 23
TEXT_OID = 25
PARAMETER_STATUSES = (
    ("application_name", ""), ("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY"),
    ("default_transaction_read_only", "off"), ("in_hot_standby", "off"),
    ("integer_datetimes", "on"), ("IntervalStyle", "postgres"), ("is_superuser", "on"),
    ("server_encoding", "UTF8"), ("server_version", "15.0"),
    ("session_authorization", "tester"), ("standard_conforming_strings", "on"),
    ("TimeZone", "Etc/UTC"))


@dataclass
class Seen:
    """What the fake server observed, for the test to check."""

    startup_parameters: list[dict[str, str]] = field(default_factory=list)
    passwords: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    copy_data: list[bytes] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def int4_column(name: str) -> m.RowDescription:
    return m.RowDescription((m.FieldDescription(name, 0, 0, INT4_OID, 4, -1, 0),))


class FakeBackend:
    """One connection's backend: only the codec, a socket, and canned answers."""

    def __init__(self, sock: socket.socket, seen: Seen, require_password: bool) -> None:
        self.sock = sock
        self.seen = seen
        self.require_password = require_password
        self.conn = ServerConnection()
        self.transaction = "I"
        self.copy_rows = 0

    def run(self) -> None:
        try:
            while self.conn.phase is not ServerPhase.CLOSED:
                event = self.conn.next_event()
                if event is None:
                    self.conn.receive_data(self.sock.recv(RECEIVE_BYTES))
                    continue
                self.handle(event)
                self.sock.sendall(self.conn.data_to_send())
        except BaseException as error:  # noqa: BLE001 -- reported to the test thread
            self.seen.errors.append(error)
        finally:
            self.sock.close()

    def handle(self, event: object) -> None:
        if isinstance(event, m.SSLRequest):
            self.sock.sendall(self.conn.ssl_response(False))
        elif isinstance(event, m.GSSENCRequest):
            self.sock.sendall(self.conn.gssenc_response())
        elif isinstance(event, m.StartupMessage):
            self.startup(event)
        elif isinstance(event, m.PasswordMessage):
            self.seen.passwords.append(m.decode_password(event.data))
            self.finish_authentication()
        elif isinstance(event, m.Query):
            self.simple_query(event.sql)
        elif isinstance(event, m.CopyData):
            self.seen.copy_data.append(event.data)
            self.copy_rows += event.data.count(b"\n")
        elif isinstance(event, m.CopyDone):
            self.conn.end_copy_in()
            self.conn.send(m.CommandComplete(f"COPY {self.copy_rows}"), m.ReadyForQuery("I"))
        elif not isinstance(event, m.Terminate | ConnectionClosed):
            self.extended(event)

    def startup(self, message: m.StartupMessage) -> None:
        self.seen.startup_parameters.append(message.parameters)
        if message.needs_negotiation is not None:
            self.conn.send(message.needs_negotiation)
        if self.require_password:
            self.conn.start_authentication()
            self.conn.send(m.AuthenticationCleartextPassword())
        else:
            self.finish_authentication()

    def finish_authentication(self) -> None:
        self.conn.authentication_done()
        self.conn.send(m.AuthenticationOk())
        self.conn.send(*(m.ParameterStatus(name, value) for name, value in PARAMETER_STATUSES))
        self.conn.send(m.BackendKeyData(4242, 0xDEADBEEF))
        self.conn.send_raw(m.READY_FOR_QUERY_IDLE)

    def simple_query(self, sql: str) -> None:
        self.seen.queries.append(sql)
        statement = sql.strip().rstrip(";").lower()
        if statement == "select 1":
            self.conn.send(int4_column("?column?"))
            self.conn.send_raw(m.encode_data_row([b"1"]))
            self.conn.send_raw(m.encode_command_complete("SELECT 1"))
        elif statement in ("begin", "commit"):
            self.transaction = "T" if statement == "begin" else "I"
            self.conn.send(m.CommandComplete(statement.upper()))
        elif statement.startswith("copy"):
            self.conn.send(m.CopyInResponse(0, (0, 0)))
            self.conn.start_copy_in()
            return
        else:
            self.conn.send(m.ErrorResponse(m.error_fields(
                "ERROR", "42601", f'syntax error at or near "{statement.split()[-1]}"',
                position=len(sql.rstrip().rstrip(";")) - len(statement.split()[-1]) + 1)))
        self.conn.send(m.ReadyForQuery(self.transaction))

    def extended(self, event: object) -> None:
        if isinstance(event, m.Parse):
            self.seen.queries.append(event.query)
            self.conn.send(m.ParseComplete())
        elif isinstance(event, m.Bind):
            self.bound = event.params
            self.conn.send(m.BindComplete())
        elif isinstance(event, m.Describe):
            self.conn.send(int4_column("int4"))
        elif isinstance(event, m.Execute):
            value = self.bound[0]
            number = int.from_bytes(value, "big", signed=True) if value is not None else None
            self.conn.send(m.DataRow((None if number is None else str(number + 1).encode(),)))
            self.conn.send(m.CommandComplete("SELECT 1"))
        elif isinstance(event, m.Sync):
            self.conn.send(m.ReadyForQuery(self.transaction))
        else:
            raise TypeError(f"unexpected message {event!r}")


@dataclass
class FakeServer:
    port: int
    seen: Seen


@pytest.fixture
def fake_server(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    require_password = getattr(request, "param", False)
    listener = socket.create_server(("127.0.0.1", 0))
    seen = Seen()
    workers: list[threading.Thread] = []
    stopping = threading.Event()

    def accept_loop() -> None:
        while not stopping.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            worker = threading.Thread(target=FakeBackend(sock, seen, require_password).run,
                                      name="backend", daemon=True)
            worker.start()
            workers.append(worker)

    acceptor = threading.Thread(target=accept_loop, name="postmaster", daemon=True)
    acceptor.start()
    yield FakeServer(listener.getsockname()[1], seen)
    stopping.set()
    listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
    listener.close()
    acceptor.join(CLIENT_TIMEOUT_S)
    for worker in workers:
        worker.join(CLIENT_TIMEOUT_S)
    assert not seen.errors, seen.errors


def run_psql(server: FakeServer, *args: str, password: str | None = None
             ) -> subprocess.CompletedProcess[str]:
    environment = {"PGCONNECT_TIMEOUT": "10", "PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    if password is not None:
        environment["PGPASSWORD"] = password
    command = [pg_tool("psql"), "-X", "-h", "127.0.0.1", "-p", str(server.port), "-U", "tester",
               "-d", "db", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S,
                          env=environment, check=False)


def test_psql_select_one(fake_server: FakeServer) -> None:
    result = run_psql(fake_server, "-A", "-t", "-c", "select 1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"
    assert fake_server.seen.startup_parameters == [
        {"user": "tester", "database": "db", "application_name": "psql"}]
    assert fake_server.seen.queries == ["select 1"]


def test_psql_shows_error_with_position(fake_server: FakeServer) -> None:
    result = run_psql(fake_server, "-c", "select nonsense")
    assert result.returncode == 1
    assert 'ERROR:  syntax error at or near "nonsense"' in result.stderr
    assert "LINE 1: select nonsense" in result.stderr  # psql used field P
    assert result.stderr.rstrip().endswith("^")


@pytest.mark.parametrize("fake_server", [True], indirect=True)
def test_psql_cleartext_password(fake_server: FakeServer) -> None:
    result = run_psql(fake_server, "-A", "-t", "-c", "select 1", password=PASSWORD)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"
    assert fake_server.seen.passwords == [PASSWORD]


def connect_psycopg(server: FakeServer) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(host="127.0.0.1", port=server.port, user="tester", dbname="db",
                           connect_timeout=10)


def test_psycopg_simple_extended_and_copy(fake_server: FakeServer) -> None:
    with connect_psycopg(fake_server) as connection:
        assert connection.info.server_version == 150000
        assert connection.info.backend_pid == 4242
        with connection.cursor() as cursor:
            cursor.execute("select 1")
            assert cursor.fetchall() == [(1,)]
            cursor.execute("select %s::int4 + 1", (41,))  # Parse/Bind/Describe/Execute/Sync
            assert cursor.fetchall() == [(42,)]
            with cursor.copy("copy t from stdin") as copy:
                copy.write_row((1, "one"))
                copy.write_row((2, None))
            assert cursor.rowcount == 2
    assert b"".join(fake_server.seen.copy_data) == b"1\tone\n2\t\\N\n"
    assert fake_server.seen.queries[0] == "BEGIN"
    assert "select $1::int4 + 1" in fake_server.seen.queries


def test_psycopg_error_response(fake_server: FakeServer) -> None:
    with connect_psycopg(fake_server) as connection:
        connection.autocommit = True
        with pytest.raises(psycopg.errors.SyntaxError) as caught:
            connection.execute("select nonsense")
        assert caught.value.diag.sqlstate == "42601"
        assert caught.value.diag.statement_position == "8"
