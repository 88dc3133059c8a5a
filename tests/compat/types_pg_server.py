"""A throwaway PostgreSQL 15 server for differential tests.

Starts a real ``postgres`` (initdb + pg_ctl) in a temporary directory on a free loopback port,
as an unprivileged user when the tests run as root (PostgreSQL refuses to run as root: the
existing ``postgres`` account, or a system user created for the purpose), and stops it by its pid
when done. The cluster uses locale C and UTF-8, as mirrordb does (lc_collate/lc_ctype C).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

PG_BIN = "/usr/lib/postgresql/15/bin"
START_TIMEOUT_S = 60
TOOL_TIMEOUT_S = 120
FALLBACK_USER = "mirrordb_pgtest"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    pid: int

    @property
    def conninfo(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname=postgres"


def postgres_available() -> bool:
    return all(os.path.exists(os.path.join(PG_BIN, tool)) for tool in ("initdb", "pg_ctl"))


def _os_user() -> str | None:
    """The account to run PostgreSQL as (None: the current, unprivileged, user)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", FALLBACK_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    FALLBACK_USER], check=True, capture_output=True, timeout=TOOL_TIMEOUT_S)
    return FALLBACK_USER


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(command: list[str], os_user: str | None) -> subprocess.CompletedProcess[str]:
    if os_user is not None:
        command = ["runuser", "-u", os_user, "--"] + command
    return subprocess.run(command, check=False, capture_output=True, text=True,
                          timeout=TOOL_TIMEOUT_S, env={**os.environ, "LC_ALL": "C"})


def _wait_for_pid(pid_file: str, deadline: float) -> int:
    while time.monotonic() < deadline:
        try:
            with open(pid_file) as handle:
                first = handle.readline().strip()
            if first:
                return int(first)
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.05)
    raise TimeoutError("postmaster.pid did not appear")


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A started server; stopped (by pid) and deleted on exit."""
    os_user = _os_user()
    parent = tempfile.mkdtemp(prefix="mirrordb-types-pg-")
    datadir = os.path.join(parent, "data")
    pid = 0
    try:
        if os_user is not None:
            shutil.chown(parent, os_user)
        result = _run([os.path.join(PG_BIN, "initdb"), "-D", datadir, "-A", "trust", "-U",
                       "postgres", "--no-sync", "--locale=C", "--encoding=UTF8"], os_user)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr}")
        port = _free_port()
        options = (f"-p {port} -k {parent} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c max_connections=10")
        result = _run([os.path.join(PG_BIN, "pg_ctl"), "-D", datadir, "-o", options, "-l",
                       os.path.join(parent, "server.log"), "-w", "-t", str(START_TIMEOUT_S),
                       "start"], os_user)
        pid = _wait_for_pid(os.path.join(datadir, "postmaster.pid"),
                            time.monotonic() + START_TIMEOUT_S)
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {result.stderr}")
        yield PostgresServer("127.0.0.1", port, "postgres", pid)
    finally:
        _stop(pid)
        shutil.rmtree(parent, ignore_errors=True)


def _stop(pid: int) -> None:
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGQUIT)            # immediate shutdown of the postmaster we started
    except ProcessLookupError:
        return
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
