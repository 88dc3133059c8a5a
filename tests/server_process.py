"""Start and stop a real mirrordb server process for tests (loopback TCP and a Unix socket).

Tests own the processes they start: ``RunningServer.stop`` ends exactly that pid. Readiness is a
condition polled with a deadline (a connection succeeds), never a fixed sleep.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import psycopg

START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 60.0
POLL_S = 0.05


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningServer:
    datadir: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: str
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def dsn(self, user: str = "postgres", dbname: str = "postgres", **extra: str) -> str:
        parts = [f"host=127.0.0.1 port={self.port} user={user} dbname={dbname}"]
        parts += [f"{k}={v}" for k, v in extra.items()]
        return " ".join(parts)

    def connect(self, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.dsn(), **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(STOP_DEADLINE_S)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(STOP_DEADLINE_S)


def start_server(datadir: str, port: int | None = None, *, wait: bool = True,
                 **settings: str) -> RunningServer:
    """The server process on ``datadir``, once it accepts connections (``wait=False``: at
    once, for a server expected to stop by itself)."""
    port = port or free_port()
    log_path = os.path.join(os.path.dirname(datadir.rstrip("/")) or ".",
                            f"server-{port}.log")
    args = [sys.executable, "-m", "mirrordb.cli.main", "server", "-D", datadir,
            "-c", f"port={port}", "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={datadir}"]
    for name, value in settings.items():
        args += ["-c", f"{name}={value}"]
    log = open(log_path, "ab")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    log.close()
    server = RunningServer(datadir, port, process, log_path, dict(settings))
    if wait:
        wait_until_ready(server)
    return server


def wait_until_ready(server: RunningServer) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            with psycopg.connect(server.dsn(), connect_timeout=5):
                return
        except psycopg.OperationalError as exc:
            last_error = exc
        time.sleep(POLL_S)
    server.kill()
    raise RuntimeError(f"server not ready: {last_error}\n{server.log()}")
