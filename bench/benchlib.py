"""Helpers shared by the benchmarks that drive a primary and its standbys with the real pgbench.

Who uses it: bench/syncrep_bench.py (and any later benchmark that needs these); the cluster
classes, base backups and replay polling live in bench/replication_bench.py, the TPC-B-like
script in bench/server_bench.py, and are imported from there rather than copied.

What is here:

* **Placement** (``--pin``): the servers on one vCPU, the clients (pgbench, the script's own
  probe connections) on the other, so the kernel's placement is the same for both systems. It
  works through thread affinity, which a child process inherits from the thread that starts it:
  the script pins its own main thread to the client CPU once (``pin_clients``) and starts
  servers inside ``servers_placed()``, which moves that thread to the server CPU for the
  duration of the start. No wrapper command, so the cluster classes need no change.
* **pgbench with per-transaction logs** (``run_pgbench``): tps as pgbench reports it (without
  the initial connection time) and every transaction's latency from ``--log``, for medians and
  percentiles (pgbench itself prints only the average).
* **The run's directory** (``temporary_root``): a fresh temporary directory readable by the
  ``postgres`` account, removed at the end unless ``--keep`` asked to keep it.
* **Standby naming** (``set_application_name``): appends ``application_name`` to the
  ``primary_conninfo`` a base backup's ``-R`` wrote, as a user edits ``postgresql.auto.conf``;
  synchronous_standby_names matches that name.

Nothing here starts a server or keeps state beyond ``PLACEMENT``, set once from the command line.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

PG_BIN = "/usr/lib/postgresql/15/bin"
PGBENCH_DEADLINE_S = 600.0          # beyond --seconds: connection and the final report
PGBENCH_LOG_LINES_LIMIT = 2_000_000  # per run; more means a log from another run was picked up
LOG_TIME_FIELD = 2                   # pgbench --log: client_id transaction_no time_us script_no ...
US_PER_MS = 1000.0


@dataclass(frozen=True)
class Placement:
    """Which vCPU the servers and the clients run on (``--pin``)."""

    server_cpu: int
    client_cpu: int


PLACEMENT: Placement | None = None   # None: the kernel places everything


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the unprivileged ``postgres`` account when this runs as root
    (PostgreSQL's server and pg_ctl refuse root)."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *command]


def pin_clients(placement: Placement | None) -> None:
    """Remember ``placement`` and move the calling (main) thread to its client CPU: pgbench and
    psql started from it, and the script's own connections, run there."""
    global PLACEMENT
    PLACEMENT = placement
    if placement is not None:
        os.sched_setaffinity(0, {placement.client_cpu})


@contextlib.contextmanager
def servers_placed() -> Iterator[None]:
    """Start servers inside this block: with a placement, they inherit its server CPU."""
    if PLACEMENT is None:
        yield
        return
    os.sched_setaffinity(0, {PLACEMENT.server_cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, {PLACEMENT.client_cpu})


@contextlib.contextmanager
def temporary_root(prefix: str, keep: bool) -> Iterator[str]:
    """A new temporary directory (mode 0755, so the postgres account can enter it), removed
    when the block ends unless ``keep``."""
    root = tempfile.mkdtemp(prefix=prefix)
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def set_application_name(datadir: str, name: str) -> None:
    """Append ``application_name=name`` to the one primary_conninfo line in the standby's
    postgresql.auto.conf (written by ``pg_basebackup -R`` / ``mirrordb basebackup -R``)."""
    path = os.path.join(datadir, "postgresql.auto.conf")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    text, count = re.subn(r"^(primary_conninfo = '.*)'$", rf"\1 application_name={name}'", text,
                          flags=re.MULTILINE)
    if count != 1:
        raise RuntimeError(f"expected one primary_conninfo line in {path}:\n{text}")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


@dataclass
class PgbenchRun:
    """One pgbench run: its tps and the latency of every transaction it logged."""

    tps: float
    latencies_ms: list[float] = field(default_factory=list)


def run_pgbench(port: int, script: str, clients: int, seconds: int, log_prefix: str,
                environment: dict[str, str] | None = None, mode: str = "prepared") -> PgbenchRun:
    """``pgbench -f script -M mode -c clients -T seconds --log`` against 127.0.0.1:``port``;
    ``log_prefix`` must be a fresh path prefix (its files are read, then removed)."""
    command = [f"{PG_BIN}/pgbench", "-n", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
               "-f", script, "-M", mode, "-c", str(clients), "-j", str(min(clients, 2)),
               "-T", str(seconds), "--log", f"--log-prefix={log_prefix}", "postgres"]
    result = subprocess.run(command, capture_output=True, text=True, env=environment,
                            timeout=seconds + PGBENCH_DEADLINE_S)
    if result.returncode != 0:
        raise RuntimeError(f"pgbench on port {port} failed:\n{result.stdout}{result.stderr}")
    match = re.search(r"tps = ([\d.]+)", result.stdout)
    if match is None:
        raise RuntimeError(f"no tps in pgbench output:\n{result.stdout}")
    return PgbenchRun(float(match.group(1)), read_pgbench_logs(log_prefix))


def read_pgbench_logs(log_prefix: str) -> list[float]:
    """Latencies (ms) from the per-transaction log files ``log_prefix.<pid>[.<thread>]``, which
    are removed afterwards."""
    latencies_ms: list[float] = []
    for path in sorted(glob.glob(f"{glob.escape(log_prefix)}.*")):
        with open(path, encoding="ascii") as handle:
            for line in handle:
                latencies_ms.append(int(line.split()[LOG_TIME_FIELD]) / US_PER_MS)
                if len(latencies_ms) > PGBENCH_LOG_LINES_LIMIT:
                    raise RuntimeError(f"more than {PGBENCH_LOG_LINES_LIMIT} log lines under "
                                       f"{log_prefix}")
        os.remove(path)
    if not latencies_ms:
        raise RuntimeError(f"pgbench wrote no transaction log under {log_prefix}")
    return latencies_ms
