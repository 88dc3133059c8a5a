"""``mirrordb start/stop/restart/reload/status`` against real server processes.

Each server runs as its own process (``python -m mirrordb.cli.main server``) started by
``mirrordb start``, as pg_ctl starts postgres. Its connections are served by
``placeholder_backend`` (installed through a sitecustomize.py on PYTHONPATH), so these tests
observe the postmaster alone. Every server a test starts is killed by pid at teardown.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from mirrordb.server import pidfile

DEADLINE_S = 30.0
POLL_S = 0.02
HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Cluster:
    datadir: str
    socket_dir: str
    port: int
    log_path: str
    environment: dict[str, str]

    def ctl(self, *arguments: str, timeout_s: float = DEADLINE_S) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mirrordb.cli.main", *arguments],
                              env=self.environment, capture_output=True, text=True,
                              timeout=timeout_s, check=False)

    def start(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.ctl("start", "-D", self.datadir, "-l", self.log_path, "-o",
                        f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1",
                        *extra)

    @property
    def socket_path(self) -> str:
        return os.path.join(self.socket_dir, f".s.PGSQL.{self.port}")

    def lock(self) -> pidfile.LockFileContents | None:
        return pidfile.read_lock_file(os.path.join(self.datadir, "postmaster.pid"))

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8") as handle:
            return handle.read()

    def connect(self) -> socket.socket:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(DEADLINE_S)
        client.connect(self.socket_path)
        return client


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def ask(client: socket.socket, line: str) -> str:
    client.sendall(line.encode() + b"\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = client.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply.decode().strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server_cluster(cluster: str, tmp_path: object) -> Iterator[Cluster]:
    hooks = os.path.join(str(tmp_path), "hooks")
    os.makedirs(hooks)
    with open(os.path.join(hooks, "sitecustomize.py"), "w", encoding="utf-8") as handle:
        handle.write("import placeholder_backend\nplaceholder_backend.install()\n")
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [hooks, HERE, *filter(None, [os.environ.get("PYTHONPATH")])])
    socket_dir = tempfile.mkdtemp(prefix="mdb", dir="/tmp")   # short: sun_path is 107 bytes
    started: list[int] = []
    result = Cluster(cluster, socket_dir, free_port(), os.path.join(str(tmp_path), "server.log"),
                     environment)
    original_start = result.start

    def tracked_start(*extra: str) -> subprocess.CompletedProcess[str]:
        outcome = original_start(*extra)
        contents = result.lock()
        if contents is not None:
            started.append(contents.pid)
        return outcome

    result.start = tracked_start  # type: ignore[method-assign]
    yield result
    last = result.lock()      # a server a restart left running
    for pid in [*started, *([last.pid] if last is not None else [])]:
        if pidfile.process_is_alive(pid):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(socket_dir, ignore_errors=True)


def test_start_status_pid_file_reload_and_smart_shutdown(server_cluster: Cluster) -> None:
    cluster = server_cluster
    started_at = int(time.time())
    outcome = cluster.start()
    assert outcome.returncode == 0, outcome.stderr + cluster.log()
    assert re.fullmatch(r"waiting for server to start\.+ done\nserver started\n",
                        outcome.stdout), outcome.stdout

    lock = cluster.lock()
    assert lock is not None and pidfile.process_is_alive(lock.pid)
    with open(os.path.join(cluster.datadir, "postmaster.pid"), encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    assert lines == [str(lock.pid), cluster.datadir, lines[2], str(cluster.port),
                     cluster.socket_dir, "127.0.0.1", "        0         0", "ready   ", ""]
    assert started_at - 2 <= int(lines[2]) <= time.time() + 2
    assert os.path.exists(cluster.socket_path) and os.path.exists(cluster.socket_path + ".lock")
    assert "database system is ready to accept connections" in cluster.log()

    status = cluster.ctl("status", "-D", cluster.datadir)
    assert status.returncode == 0
    assert status.stdout.startswith(f"mirrordb: server is running (PID: {lock.pid})\n")
    assert f'"-D" "{cluster.datadir}"' in status.stdout

    second = cluster.ctl("start", "-D", cluster.datadir, "-l", cluster.log_path, "-o",
                         f"-p {cluster.port} -k {cluster.socket_dir}")
    assert second.returncode == 1
    assert "another server might be running" in second.stderr
    assert "could not start server" in second.stderr
    assert 'FATAL:  lock file "postmaster.pid" already exists' in cluster.log()
    assert (f"HINT:  Is another postmaster (PID {lock.pid}) running in data directory "
            f'"{cluster.datadir}"?') in cluster.log()
    assert cluster.lock() == lock

    client = cluster.connect()
    assert ask(client, "show checkpoint_timeout") == "5min"
    with open(os.path.join(cluster.datadir, "postgresql.conf"), "a", encoding="utf-8") as handle:
        handle.write("checkpoint_timeout = 1h\nwal_level = minimal\n")
    assert cluster.ctl("reload", "-D", cluster.datadir).stdout == "server signaled\n"
    wait_for(lambda: ask(client, "show checkpoint_timeout") == "1h", "the reload")
    log = cluster.log()
    assert "LOG:  received SIGHUP, reloading configuration files" in log
    assert 'LOG:  parameter "checkpoint_timeout" changed to "1h"' in log
    assert 'LOG:  parameter "wal_level" cannot be changed without restarting the server' in log
    assert ask(client, "show wal_level") == "replica"

    assert ask(client, "admit") == "OK"
    stop = cluster.ctl("stop", "-D", cluster.datadir, "-m", "smart", "-W")
    assert stop.stdout == "server shutting down\n"
    wait_for(lambda: (cluster.lock() or lock).status == pidfile.PM_STATUS_STOPPING,
             "status stopping")
    assert "received smart shutdown request" in cluster.log()
    newcomer = cluster.connect()
    assert ask(newcomer, "admit") == "ERROR 57P03 the database system is shutting down"
    newcomer.close()
    assert pidfile.process_is_alive(lock.pid) and cluster.lock() is not None
    client.close()
    wait_for(lambda: not pidfile.process_is_alive(lock.pid), "the smart shutdown")
    assert cluster.lock() is None
    assert not os.path.exists(cluster.socket_path)
    assert not os.path.exists(cluster.socket_path + ".lock")
    assert cluster.log().rstrip().endswith("LOG:  database system is shut down")
    assert cluster.ctl("status", "-D", cluster.datadir).returncode == 3


def test_stop_modes_restart_and_stale_pid_file(server_cluster: Cluster) -> None:
    cluster = server_cluster
    assert cluster.start().returncode == 0, cluster.log()
    client = cluster.connect()
    assert ask(client, "admit") == "OK"
    stop = cluster.ctl("stop", "-D", cluster.datadir, "-m", "immediate")
    assert stop.returncode == 0
    assert re.fullmatch(r"waiting for server to shut down\.+ done\nserver stopped\n",
                        stop.stdout), stop.stdout
    assert client.recv(4096) == \
        b"FATAL 57P01 terminating connection due to immediate shutdown command\n"
    client.close()
    assert "LOG:  received immediate shutdown request" in cluster.log()
    assert cluster.lock() is None and not os.path.exists(cluster.socket_path)

    assert cluster.start().returncode == 0, cluster.log()
    assert ("LOG:  database system was not properly shut down; automatic recovery in progress"
            in cluster.log())
    first = cluster.lock()
    assert first is not None

    client = cluster.connect()
    assert ask(client, "admit") == "OK"
    restarted = cluster.ctl("restart", "-D", cluster.datadir, "-l", cluster.log_path)
    assert restarted.returncode == 0, restarted.stderr
    assert re.fullmatch(r"waiting for server to shut down\.+ done\nserver stopped\n"
                        r"waiting for server to start\.+ done\nserver started\n",
                        restarted.stdout), restarted.stdout
    assert client.recv(4096) == b"FATAL 57P01 terminating connection due to administrator command\n"
    client.close()
    log = cluster.log()
    assert "LOG:  received fast shutdown request" in log
    assert "LOG:  aborting any active transactions" in log
    second = cluster.lock()
    assert second is not None and second.pid != first.pid and second.port == cluster.port

    os.kill(second.pid, signal.SIGKILL)
    wait_for(lambda: not pidfile.process_is_alive(second.pid), "the killed server to die")
    assert cluster.lock() == second                         # stale file left behind
    assert cluster.start().returncode == 0, cluster.log()
    third = cluster.lock()
    assert third is not None and third.pid not in (second.pid, first.pid) and third.is_ready

    stop = cluster.ctl("stop", "-D", cluster.datadir)
    assert stop.returncode == 0
    assert cluster.lock() is None
    assert cluster.ctl("status", "-D", cluster.datadir).stdout == "mirrordb: no server running\n"
    again = cluster.ctl("stop", "-D", cluster.datadir)
    assert again.returncode == 1
    assert again.stderr == (f'mirrordb: PID file "{cluster.datadir}/postmaster.pid" does not '
                            "exist\nIs server running?\n")


def test_status_exit_codes_without_a_cluster(tmp_path: object) -> None:
    missing = os.path.join(str(tmp_path), "missing")
    run = [sys.executable, "-m", "mirrordb.cli.main", "status", "-D"]
    outcome = subprocess.run([*run, missing], capture_output=True, text=True, check=False)
    assert outcome.returncode == 4
    assert outcome.stderr == f'mirrordb: directory "{missing}" does not exist\n'
    outcome = subprocess.run([*run, str(tmp_path)], capture_output=True, text=True, check=False)
    assert outcome.returncode == 4
    assert "is not a database cluster directory" in outcome.stderr
