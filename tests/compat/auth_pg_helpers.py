"""A throw-away PostgreSQL 15 cluster for the authentication compatibility tests.

``initdb`` runs as an unprivileged user (PostgreSQL refuses root: when the tests run as root the
cluster belongs to the ``postgres`` account and every tool runs through ``setpriv``). SQL runs in
single-user mode (``postgres --single``), which needs no port and no server process; each value
comes back hex-encoded so quotes and newlines cannot confuse the parsing of its output.
``PgCluster.server()`` runs a real postmaster on a Unix socket in the cluster directory when a
test needs a live server, and ``raw_login`` logs in to it speaking the protocol by hand, so that
mirrordb.auth's own client code answers the server's authentication requests.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

PG_BIN = "/usr/lib/postgresql/15/bin"
TOOL_TIMEOUT_S = 60
SERVER_START_TIMEOUT_S = 30
UNPRIVILEGED_USER = "postgres"
_HEX_ROW_PREFIX = '\t 1: row = "'


def pg_available() -> bool:
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        return False
    if os.geteuid() != 0:
        return True
    try:
        pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        return False
    return shutil.which("setpriv") is not None


def unavailable_reason() -> str:
    return (f"needs PostgreSQL 15 in {PG_BIN} and, when run as root, a '{UNPRIVILEGED_USER}' "
            "account and setpriv")


def _as_owner(command: list[str]) -> list[str]:
    """setpriv switches user and then execs the command, so a process's pid is the tool's own
    and signals reach it directly."""
    if os.geteuid() == 0:
        return ["setpriv", f"--reuid={UNPRIVILEGED_USER}", f"--regid={UNPRIVILEGED_USER}",
                "--init-groups", "--", *command]
    return command


@dataclass
class PgCluster:
    root: str  # a private directory holding the data directory and the socket

    @property
    def data_dir(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def hba_path(self) -> str:
        return os.path.join(self.data_dir, "pg_hba.conf")

    def write_file(self, path: str, text: str) -> None:
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def query(self, columns: str, rest: str) -> list[list[str]]:
        """``SELECT columns rest`` where every column is text; NULL comes back as "".

        Each row arrives as one hex string of its columns joined by a unit separator, so quotes
        and newlines in values cannot confuse the parsing of single-user mode's output.
        """
        wrapped = (f"SELECT encode(convert_to(array_to_string(ARRAY[{columns}], chr(31), ''), "
                   f"'UTF8'), 'hex') AS row {rest}")
        return [row.split("\x1f") for row in self._single_user(wrapped)]

    def execute(self, statements: str) -> None:
        self._single_user(statements)

    def _single_user(self, sql: str) -> list[str]:
        command = _as_owner([os.path.join(PG_BIN, "postgres"), "--single", "-D", self.data_dir,
                             "-c", "log_min_messages=fatal", "postgres"])
        result = subprocess.run(command, input=sql.replace("\n", " ") + "\n",
                                capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                                check=False, env={**os.environ, "LC_ALL": "C"})
        if result.returncode != 0 or "ERROR:" in result.stdout + result.stderr:
            raise AssertionError(f"single-user postgres failed: {result.stdout}{result.stderr}")
        rows = []
        for line in result.stdout.splitlines():
            if line.startswith(_HEX_ROW_PREFIX):
                hex_text = line[len(_HEX_ROW_PREFIX):].split('"', 1)[0]
                rows.append(bytes.fromhex(hex_text).decode("utf-8"))
        return rows

    def _postmaster_ready(self) -> bool:
        """postmaster.pid's status line (the 8th) says "ready" once connections are accepted."""
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as handle:
                lines = handle.read().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    @contextmanager
    def server(self) -> Iterator[str]:
        """A running postmaster listening only on a Unix socket; yields the socket directory."""
        postgres = os.path.join(PG_BIN, "postgres")
        process = subprocess.Popen(
            _as_owner([postgres, "-D", self.data_dir, "-c", "listen_addresses=",
                       "-c", f"unix_socket_directories={self.root}", "-c", "port=5432"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            socket_path = os.path.join(self.root, ".s.PGSQL.5432")
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while not (os.path.exists(socket_path) and self._postmaster_ready()):
                if process.poll() is not None or time.monotonic() > deadline:
                    errors = process.stderr.read() if process.stderr else ""
                    raise AssertionError(f"postgres did not start: {errors}")
                time.sleep(0.05)  # polling the socket file and pid-file status with a deadline
            yield self.root
        finally:
            process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                process.wait(timeout=TOOL_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()


@contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """initdb a new cluster in a private temporary directory, removed afterwards."""
    root = tempfile.mkdtemp(prefix="mirrordb-auth-pg-")
    try:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        cluster = PgCluster(root)
        subprocess.run(_as_owner([os.path.join(PG_BIN, "initdb"), "-D", cluster.data_dir,
                                  "-U", "postgres", "-A", "trust", "-E", "UTF8",
                                  "--no-sync"]),
                       capture_output=True, check=True, timeout=TOOL_TIMEOUT_S,
                       env={**os.environ, "LC_ALL": "C"})
        yield cluster
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- a raw protocol client, so our own exchanges can talk to the real server --------------------

PROTOCOL_VERSION_3 = 196608
SOCKET_TIMEOUT_S = 10
MAX_MESSAGE_BYTES = 1 << 20


@dataclass
class RawLogin:
    """What one login attempt saw: the authentication request codes, the SASL server-first
    message if any, and the ErrorResponse's (SQLSTATE, message) if the server refused."""

    request_codes: list[int]
    server_first: bytes | None
    error: tuple[str, str] | None


def _receive_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise AssertionError("the server closed the connection")
        data += chunk
    return data


def receive_message(connection: socket.socket) -> tuple[bytes, bytes]:
    header = _receive_exactly(connection, 5)
    length = struct.unpack("!i", header[1:])[0]
    assert 4 <= length <= MAX_MESSAGE_BYTES, f"message length {length}"
    return header[:1], _receive_exactly(connection, length - 4)


def send_message(connection: socket.socket, kind: bytes, body: bytes) -> None:
    connection.sendall(kind + struct.pack("!i", len(body) + 4) + body)


def error_fields(body: bytes) -> dict[str, str]:
    return {field[:1].decode(): field[1:].decode() for field in body.split(b"\0") if field}


def raw_login(socket_dir: str, user: str, password: str, database: str = "postgres") -> RawLogin:
    """Log in over the Unix socket, answering each request with mirrordb.auth's own code."""
    from mirrordb.auth.md5 import md5_response
    from mirrordb.auth.scram import ScramClientExchange

    login = RawLogin([], None, None)
    client = ScramClientExchange(user, password)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(SOCKET_TIMEOUT_S)
        connection.connect(os.path.join(socket_dir, ".s.PGSQL.5432"))
        parameters = f"user\0{user}\0database\0{database}\0\0".encode()
        body = struct.pack("!i", PROTOCOL_VERSION_3) + parameters
        connection.sendall(struct.pack("!i", len(body) + 4) + body)
        while True:
            kind, body = receive_message(connection)
            if kind == b"E":
                fields = error_fields(body)
                login.error = (fields["C"], fields["M"])
                return login
            if kind == b"Z":
                return login
            if kind != b"R":
                continue
            code = struct.unpack("!i", body[:4])[0]
            login.request_codes.append(code)
            if code == 3:
                send_message(connection, b"p", password.encode() + b"\0")
            elif code == 5:
                send_message(connection, b"p", md5_response(password, user, body[4:8]).encode()
                             + b"\0")
            elif code == 10:
                first = client.client_first()
                send_message(connection, b"p",
                             b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)
            elif code == 11:
                login.server_first = body[4:]
                send_message(connection, b"p", client.client_final(body[4:]))
            elif code == 12:
                client.verify_server_final(body[4:])
