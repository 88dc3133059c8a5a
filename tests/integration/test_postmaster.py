"""The postmaster in-process (``Server.run`` on a thread): admission limits, the backend
registry, cancel and terminate, reloads, shutdown modes and start-up failures.

Connections are served by ``placeholder_backend``; shutdowns and reloads are requested through
``request_shutdown``/``request_reload`` (what the signal handlers call).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import placeholder_backend
from mirrordb.common.errors import InvariantViolation
from mirrordb.server.postmaster import PeerAddress, Server, ShutdownMode

DEADLINE_S = 30.0


class Running:
    """A Server on its own thread, with helpers to talk to its placeholder backends."""

    def __init__(self, datadir: str, socket_dir: str, overrides: dict[str, str],
                 handler: object = placeholder_backend.serve) -> None:
        self.socket_dir = socket_dir
        self.server = Server(datadir, {"listen_addresses": "", "port": "5432",
                                       "unix_socket_directories": socket_dir, **overrides},
                             connection_handler=handler)  # type: ignore[arg-type]
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, name="postmaster-under-test")
        self.thread.start()

    def _run(self) -> None:
        self.exit_code = self.server.run()

    def wait_ready(self) -> None:
        assert self.server.ready.wait(DEADLINE_S) or self.server.stopped.is_set()

    def connect(self) -> socket.socket:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(DEADLINE_S)
        client.connect(os.path.join(self.socket_dir, ".s.PGSQL.5432"))
        return client

    def stop(self, mode: ShutdownMode = ShutdownMode.FAST) -> int | None:
        self.server.request_shutdown(mode)
        self.thread.join(DEADLINE_S)
        assert not self.thread.is_alive()
        return self.exit_code


def ask(client: socket.socket, line: str) -> str:
    client.sendall(line.encode() + b"\n")
    return read_line(client)


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def read_line(client: socket.socket) -> str:
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = client.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply.decode().strip()


@pytest.fixture
def socket_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="mdb", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def running(cluster: str, socket_dir: str, request: pytest.FixtureRequest) -> Iterator[Running]:
    overrides = getattr(request, "param", {})
    server = Running(cluster, socket_dir, overrides)
    server.wait_ready()
    yield server
    if server.thread.is_alive():
        server.stop(ShutdownMode.IMMEDIATE)


@pytest.mark.parametrize("running", [{"max_connections": "2"}], indirect=True)
def test_admission_stops_at_max_connections(running: Running) -> None:
    clients = [running.connect() for _ in range(3)]
    assert [ask(client, "admit") for client in clients] == \
        ["OK", "OK", "ERROR 53300 sorry, too many clients already"]
    clients[0].close()
    wait_for(lambda: ask(clients[2], "admit") == "OK")
    for client in clients[1:]:
        client.close()
    assert running.stop() == 0


def test_cancel_request_needs_the_right_key(running: Running) -> None:
    client = running.connect()
    pid, secret = (int(part) for part in ask(client, "key").split())
    assert 0 < secret < 2**31
    info = next(info for info in running.server.backends() if info.pid == pid)
    assert (info.client_addr, info.backend_type) == (None, "client backend")
    client.sendall(b"sleep\n")
    wait_for(lambda: info.state == "active")
    assert running.server.cancel_backend(pid + 1_000_000, secret) is False
    assert running.server.cancel_backend(pid, secret ^ 1) is False
    assert running.server.cancel_backend(pid, secret) is True
    assert read_line(client) == "CANCELED 57014 canceling statement due to user request"
    assert running.server.signal_backend(pid, "terminate") is True
    assert read_line(client) == \
        "FATAL 57P01 terminating connection due to administrator command"
    client.close()
    assert running.stop() == 0


def test_fast_shutdown_terminates_sessions_and_checkpoints(
        running: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    client = running.connect()
    assert ask(client, "admit") == "OK"
    client.sendall(b"sleep\n")
    silent = running.connect()          # never registers: closed by its socket
    assert running.stop(ShutdownMode.FAST) == 0
    assert read_line(client) == "FATAL 57P01 terminating connection due to administrator command"
    assert silent.recv(1) == b""
    messages = [record.getMessage() for record in caplog.records]
    for expected in ("received fast shutdown request", "aborting any active transactions",
                     "shutting down", "database system is shut down"):
        assert expected in messages
    assert not os.path.exists(os.path.join(running.server.datadir, "postmaster.pid"))
    assert os.listdir(running.socket_dir) == []


def test_reload_keeps_old_pg_hba_rules_when_the_new_file_is_broken(
        running: Running, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("mirrordb.auth.hba")
    caplog.set_level(logging.INFO)
    rules = running.server.hba
    generation = running.server.settings.generation
    with open(os.path.join(running.server.datadir, "pg_hba.conf"), "a",
              encoding="utf-8") as handle:
        handle.write("host all all not-an-address trust\n")
    with open(os.path.join(running.server.datadir, "postgresql.conf"), "a",
              encoding="utf-8") as handle:
        handle.write("statement_timeout = 1min\n")
    running.server.request_reload()
    client = running.connect()
    wait_for(lambda: ask(client, "show statement_timeout") == "1min")
    client.close()
    assert running.server.settings.generation > generation
    assert running.server.engine is not None
    assert running.server.engine.settings is running.server.settings
    assert running.stop() == 0
    messages = [record.getMessage() for record in caplog.records]
    assert "pg_hba.conf was not reloaded" in messages
    assert running.server.hba is rules


def test_a_broken_invariant_in_a_backend_stops_the_server(
        cluster: str, socket_dir: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    def broken(server: Server, sock: socket.socket, peer: PeerAddress, is_unix: bool) -> None:
        raise InvariantViolation("test: broken on purpose")

    running = Running(cluster, socket_dir, {}, handler=broken)
    running.wait_ready()
    running.connect().close()
    running.thread.join(DEADLINE_S)
    assert running.exit_code == 0 and not running.thread.is_alive()
    messages = [record.getMessage() for record in caplog.records]
    assert "received immediate shutdown request" in messages


def test_start_up_failures_are_fatal_and_leave_no_files(
        cluster: str, socket_dir: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    bad_value = Running(cluster, socket_dir, {"work_mem": "1x"})
    bad_value.thread.join(DEADLINE_S)
    assert bad_value.exit_code == 1
    with open(os.path.join(cluster, "postgresql.conf"), "a", encoding="utf-8") as handle:
        handle.write("no_such_setting = 1\n")
    bad_file = Running(cluster, socket_dir, {})
    bad_file.thread.join(DEADLINE_S)
    assert bad_file.exit_code == 1
    messages = [record.getMessage() for record in caplog.records]
    assert 'invalid value for parameter "work_mem": "1x"' in messages
    conf = os.path.join(cluster, "postgresql.conf")
    assert f'configuration file "{conf}" contains errors' in messages
    assert not os.path.exists(os.path.join(cluster, "postmaster.pid"))


def test_a_taken_port_is_fatal(cluster: str, socket_dir: str,
                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        running = Running(cluster, socket_dir, {"listen_addresses": "127.0.0.1",
                                                "port": str(port)})
        running.thread.join(DEADLINE_S)
    assert running.exit_code == 1
    messages = [record.getMessage() for record in caplog.records]
    assert 'could not bind IPv4 address "127.0.0.1": Address already in use' in messages
    assert "could not create any TCP/IP sockets" in messages
    assert not os.path.exists(os.path.join(cluster, "postmaster.pid"))
