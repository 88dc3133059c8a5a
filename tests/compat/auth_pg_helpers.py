"""A throw-away PostgreSQL 15 cluster for the authentication compatibility tests.

``initdb`` runs as an unprivileged user (PostgreSQL refuses root: when the tests run as root the
cluster belongs to the ``postgres`` account and every tool runs through ``runuser``). SQL runs in
single-user mode (``postgres --single``), which needs no port and no server process; each value
comes back hex-encoded so quotes and newlines cannot confuse the parsing of its output.
``start_server`` runs a real postmaster on a Unix socket in the cluster directory when a test
needs a live server.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
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
    return shutil.which("runuser") is not None


def unavailable_reason() -> str:
    return (f"needs PostgreSQL 15 in {PG_BIN} and, when run as root, a '{UNPRIVILEGED_USER}' "
            "account and runuser")


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", UNPRIVILEGED_USER, "--", *command]
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
            while not os.path.exists(socket_path):
                if process.poll() is not None or time.monotonic() > deadline:
                    errors = process.stderr.read() if process.stderr else ""
                    raise AssertionError(f"postgres did not start: {errors}")
                time.sleep(0.05)  # polling the socket file with a deadline
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
                                  "-U", "postgres", "-A", "trust", "--no-sync"]),
                       capture_output=True, check=True, timeout=TOOL_TIMEOUT_S,
                       env={**os.environ, "LC_ALL": "C"})
        yield cluster
    finally:
        shutil.rmtree(root, ignore_errors=True)
