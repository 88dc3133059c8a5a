"""ClientConnection against a real PostgreSQL 15 server (the way the WAL receiver will use it).

A throw-away cluster (``auth_pg_helpers``) runs on a Unix socket; only ``ClientConnection`` and
the message codec speak to it: login with ParameterStatus/BackendKeyData, simple and extended
queries (binary parameters, a row limit giving PortalSuspended), errors with a position, a
notice, COPY both ways, NegotiateProtocolVersion for a ``_pq_.`` option, and a physical
replication connection: IDENTIFY_SYSTEM, START_REPLICATION (CopyBothResponse, XLogData) and the
CopyDone handshake that ends it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest

from mirrordb.protocol import messages as m
from mirrordb.protocol.buffers import ConnectionClosed
from mirrordb.protocol.client import ClientConnection, ClientPhase
from tests.compat.auth_pg_helpers import pg_available, pg_cluster, unavailable_reason

pytestmark = pytest.mark.skipif(not pg_available(), reason=unavailable_reason())

SOCKET_TIMEOUT_S = 10
RECEIVE_BYTES = 65536
XLOG_DATA_HEADER_BYTES = 25
SEGMENT_BYTES = 16 * 1024 * 1024
SERVER_READY_TIMEOUT_S = 30
SERVER_READY_POLL_S = 0.05


@pytest.fixture(scope="module")
def socket_dir() -> Iterator[str]:
    with pg_cluster() as cluster, cluster.server() as directory:
        wait_until_accepting(directory)
        yield directory


def wait_until_accepting(directory: str) -> None:
    """The socket file appears before the server accepts logins ("the database system is
    starting up"): poll a login until one succeeds, with a deadline."""
    deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
    while True:
        probe = Session(directory, {"user": "postgres"})
        try:
            if isinstance(probe.until(m.ReadyForQuery, m.ErrorResponse)[-1], m.ReadyForQuery):
                probe.close()
                return
        except (AssertionError, OSError):
            pass
        probe.sock.close()
        assert time.monotonic() < deadline, "PostgreSQL never accepted a login"
        time.sleep(SERVER_READY_POLL_S)


class Session:
    """A socket plus a ClientConnection, with helpers that read until a given message."""

    def __init__(self, directory: str, parameters: dict[str, str]) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(SOCKET_TIMEOUT_S)
        self.sock.connect(os.path.join(directory, ".s.PGSQL.5432"))
        self.conn = ClientConnection()
        self.sock.sendall(self.conn.startup(parameters))

    def next(self) -> object:
        while (event := self.conn.next_event()) is None:
            assert self.conn.phase is not ClientPhase.CLOSED, "connection closed"
            self.conn.receive_data(self.sock.recv(RECEIVE_BYTES))
        assert not isinstance(event, ConnectionClosed), "the server closed the connection"
        return event

    def until(self, *kinds: type) -> list[object]:
        events = [self.next()]
        while not isinstance(events[-1], kinds):
            events.append(self.next())
        return events

    def send(self, *messages: m.FrontendMessage) -> None:
        self.conn.send(*messages)
        self.sock.sendall(self.conn.data_to_send())

    def query(self, sql: str) -> list[object]:
        self.send(m.Query(sql))
        return self.until(m.ReadyForQuery)

    def close(self) -> None:
        self.send(m.Terminate())
        self.sock.close()


@pytest.fixture
def session(socket_dir: str) -> Iterator[Session]:
    opened = Session(socket_dir, {"user": "postgres", "database": "postgres",
                                  "application_name": "mirrordb-test"})
    yield opened
    opened.close()


def test_login_reports_parameters_and_key(session: Session) -> None:
    events = session.until(m.ReadyForQuery)
    assert events[0] == m.AuthenticationOk()
    statuses = {event.name: event.value for event in events
                if isinstance(event, m.ParameterStatus)}
    assert statuses["server_version"].startswith("15.")
    assert statuses["application_name"] == "mirrordb-test"
    assert statuses["integer_datetimes"] == "on"
    assert sum(isinstance(event, m.BackendKeyData) for event in events) == 1
    assert events[-1] == m.ReadyForQuery("I")


def test_simple_queries_errors_and_notices(session: Session) -> None:
    session.until(m.ReadyForQuery)
    assert session.query("select 1 as one, null::text as nothing") == [
        m.RowDescription((m.FieldDescription("one", 0, 0, 23, 4, -1, 0),
                          m.FieldDescription("nothing", 0, 0, 25, -1, -1, 0))),
        m.DataRow((b"1", None)), m.CommandComplete("SELECT 1"), m.ReadyForQuery("I")]
    error, ready = session.query("select nonsense")
    assert isinstance(error, m.ErrorResponse)
    assert (error.sqlstate, error.position, error.severity) == ("42703", 8, "ERROR")
    assert ready == m.ReadyForQuery("I")
    notice, complete, _ = session.query("drop table if exists not_here")
    assert isinstance(notice, m.NoticeResponse) and notice.sqlstate == "00000"
    assert complete == m.CommandComplete("DROP TABLE")
    assert session.query("") == [m.EmptyQueryResponse(), m.ReadyForQuery("I")]
    assert session.query("begin")[-1] == m.ReadyForQuery("T")
    assert session.query("select 1/0")[-1] == m.ReadyForQuery("E")
    assert session.query("rollback")[-1] == m.ReadyForQuery("I")


def test_extended_protocol_with_row_limit(session: Session) -> None:
    session.until(m.ReadyForQuery)
    session.send(m.Parse("series", "select generate_series(1, $1)", (23,)),
                 m.Describe("S", "series"),
                 m.Bind("", "series", (1,), ((3).to_bytes(4, "big"),), (1,)),
                 m.Execute("", 2), m.Execute("", 0), m.Close("S", "series"), m.Sync())
    assert session.until(m.ReadyForQuery) == [
        m.ParseComplete(), m.ParameterDescription((23,)),
        m.RowDescription((m.FieldDescription("generate_series", 0, 0, 23, 4, -1, 0),)),
        m.BindComplete(),
        m.DataRow(((1).to_bytes(4, "big"),)), m.DataRow(((2).to_bytes(4, "big"),)),
        m.PortalSuspended(), m.DataRow(((3).to_bytes(4, "big"),)), m.CommandComplete("SELECT 1"),
        m.CloseComplete(), m.ReadyForQuery("I")]


def test_copy_in_and_out(session: Session) -> None:
    session.until(m.ReadyForQuery)
    session.query("create temporary table copied (a int, b text)")
    session.send(m.Query("copy copied from stdin"))
    assert session.next() == m.CopyInResponse(0, (0, 0))
    session.send(m.CopyData(b"1\tone\n2\t\\N\n"), m.CopyDone())
    assert session.until(m.ReadyForQuery) == [m.CommandComplete("COPY 2"), m.ReadyForQuery("I")]
    assert session.query("copy copied to stdout") == [
        m.CopyOutResponse(0, (0, 0)), m.CopyData(b"1\tone\n"), m.CopyData(b"2\t\\N\n"),
        m.CopyDone(), m.CommandComplete("COPY 2"), m.ReadyForQuery("I")]
    session.send(m.Query("copy copied from stdin"))
    session.until(m.CopyInResponse)
    session.send(m.CopyFail("changed my mind"))
    error, ready = session.until(m.ReadyForQuery)
    assert ready == m.ReadyForQuery("I")
    assert isinstance(error, m.ErrorResponse) and error.sqlstate == "57014"
    assert error.message == "COPY from stdin failed: changed my mind"


def test_protocol_option_is_negotiated(socket_dir: str) -> None:
    opened = Session(socket_dir, {"user": "postgres", "_pq_.mirrordb_test": "1"})
    assert opened.next() == m.NegotiateProtocolVersion(0, ("_pq_.mirrordb_test",))
    assert opened.until(m.ReadyForQuery)[-1] == m.ReadyForQuery("I")
    opened.close()


def test_physical_replication_stream(socket_dir: str) -> None:
    opened = Session(socket_dir, {"user": "postgres", "database": "replication",
                                  "replication": "true"})
    statuses = [event for event in opened.until(m.ReadyForQuery)
                if isinstance(event, m.ParameterStatus)]
    assert m.ParameterStatus("client_encoding", "SQL_ASCII") in statuses
    description, row, complete, _ = opened.query("IDENTIFY_SYSTEM")
    assert isinstance(description, m.RowDescription) and isinstance(row, m.DataRow)
    assert [field.name for field in description.fields] == [
        "systemid", "timeline", "xlogpos", "dbname"]
    assert complete == m.CommandComplete("IDENTIFY_SYSTEM")
    high, low = (int(part, 16) for part in row.values[2].decode().split("/"))  # type: ignore[union-attr]
    start = ((high << 32) | low) // SEGMENT_BYTES * SEGMENT_BYTES
    opened.send(m.Query(f"START_REPLICATION {start >> 32:X}/{start & 0xFFFFFFFF:X} TIMELINE 1"))
    assert opened.next() == m.CopyBothResponse(0, ())
    data = opened.next()
    while isinstance(data, m.CopyData) and data.data[:1] == b"k":  # keepalives may come first
        data = opened.next()
    assert isinstance(data, m.CopyData) and data.data[:1] == b"w"
    assert int.from_bytes(data.data[1:9], "big") == start
    assert len(data.data) > XLOG_DATA_HEADER_BYTES
    opened.send(m.CopyDone())
    events = opened.until(m.ReadyForQuery)
    assert [event for event in events if not isinstance(event, m.CopyData)] == [
        m.CopyDone(), m.CommandComplete("START_STREAMING"), m.CommandComplete("START_REPLICATION"),
        m.ReadyForQuery("I")]
    opened.close()
