"""Physical replication, mirrordb beside PostgreSQL 15, in one run on the same machine.

For each system the script builds a primary, a streaming standby made by that system's base backup
tool, and measures, one system at a time so they never compete for the CPUs:

1. **Base backup**: ``pg_basebackup -R -C -S standby1 -X stream -c fast`` against PostgreSQL and
   ``mirrordb basebackup`` with the same options against mirrordb, after loading the same pgbench
   tables into both; MB copied (every file in the result, WAL included) per second of wall clock,
   median of ``--backup-repeat`` backups (the last one becomes the standby).
2. **Replication lag** under a steady pgbench load (TPC-B-like custom script, ``pgbench -R`` at a
   rate both sustain): a probe client inserts a timestamped row on the primary (autocommit); when
   the COMMIT is acknowledged a second connection, to the standby, polls for the row by primary
   key every ``--poll-interval-ms``. Lag = acknowledgement to first poll that sees the row, on one
   monotonic clock; median and p99 over ``--probes`` probes spread over the load.
3. **Catch-up**: the standby is stopped cleanly, the primary runs ``--catchup-seconds`` of
   unthrottled TPC-B-like load, the standby is started again; catch-up time = launch of the
   standby to ``pg_last_wal_replay_lsn()`` on the standby reaching the primary's WAL position at
   the end of the load (polled every 10 ms on the first connection the standby accepted).
   MB of WAL = that position minus the position before the load. The goal compares times for
   the same WAL volume, so PostgreSQL then catches up once more, from a load stopped as soon as
   its WAL has grown by mirrordb's catch-up volume (a fixed start-up cost weighs the same on
   both sides; MB/s over unequal volumes would not).
4. **Streaming throughput**: ``pg_receivewal --slot --endpos -n`` against each primary, from a slot
   reserved just before the catch-up load, so it streams that WAL from the segment files;
   bytes streamed (its first position to ``--endpos``) per second of its wall clock.

The PostgreSQL half runs as the unprivileged ``postgres`` account (``setpriv``) when this runs as
root. The mirrordb processes keep their compiled bytecode in the temporary directory
(``PYTHONPYCACHEPREFIX``, and ``PYTHONDONTWRITEBYTECODE`` unset for them), as an installed
package has its ``.pyc`` files: otherwise every start would compile the whole source tree again.
Everything lives in one temporary directory, removed at the end; every server started is
stopped by its own pid or data directory. Figures are machine- and load-dependent: compare ratios.

Usage: .venv/bin/python bench/replication_bench.py [--accounts 400000] [--rate 100]
           [--lag-seconds 15] [--probes 300] [--catchup-seconds 20] [--markdown] [--keep]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

import psycopg

from mirrordb.common.lsn import format_lsn, parse_lsn
from benchlib import PG_BIN, as_postgres, free_port   # bench/ is on sys.path when run
from server_bench import SCRIPTS

READY_DEADLINE_S = 120.0
CATCHUP_DEADLINE_S = 600.0
LAG_DEADLINE_S = 10.0           # a probe row not visible after this is reported as an error
STOP_DEADLINE_S = 120.0
POLL_S = 0.01
VOLUME_POLL_S = 0.005           # how often a volume-bounded load checks the primary's WAL
MB = 1_000_000
SLOT_STANDBY = "standby1"
SLOT_RECEIVEWAL = "bench_receivewal"
STANDBY_LOAD_CLIENTS = 4        # pgbench clients for the steady (rate-limited) load
CATCHUP_LOAD_CLIENTS = 2        # pgbench clients for the unthrottled catch-up load

SCHEMA = [
    "create table pgbench_branches (bid int primary key, bbalance int not null, filler char(88))",
    "create table pgbench_tellers (tid int primary key, bid int, tbalance int not null, "
    "filler char(84))",
    "create table pgbench_accounts (aid int primary key, bid int, abalance int not null, "
    "filler char(84))",
    "create table pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, "
    "filler char(22))",
    "create table bench_lag (id int primary key, sent_at timestamptz not null)",
    "insert into pgbench_branches values (1, 0, null)",
    "insert into pgbench_tellers select g, 1, 0, null from generate_series(1, 10) g",
    "insert into pgbench_accounts select g, 1, 0, '' from generate_series(1, {accounts}) g",
    "checkpoint",
]

TPCB_SCRIPT = SCRIPTS["tpcb-like"]   # the same TPC-B-like transaction as the server benchmark


def report(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}")


def mirrordb_environment(root: str) -> dict[str, str]:
    """The environment of every mirrordb process: bytecode cached under ``root``."""
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = os.path.join(root, "pycache")
    return environment


def dsn(port: int) -> str:
    return f"host=127.0.0.1 port={port} user=postgres dbname=postgres"


def poll(condition: Callable[[], object], what: str, deadline_s: float) -> object:
    """Call ``condition`` until it returns a true value; connection errors count as "not yet"."""
    deadline = time.monotonic() + deadline_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (psycopg.Error, OSError) as error:
            last_error = error
        time.sleep(POLL_S)
    raise RuntimeError(f"timed out waiting for {what} ({last_error})")


def query_one(port: int, sql: str) -> object:
    with psycopg.connect(dsn(port), autocommit=True, connect_timeout=5) as connection:
        row = connection.execute(sql).fetchone()
    return None if row is None else row[0]


def wait_ready(port: int) -> None:
    poll(lambda: query_one(port, "select 1") == 1, f"a server on port {port}", READY_DEADLINE_S)


def directory_bytes(path: str) -> int:
    total = 0
    for directory, _, names in os.walk(path):
        for name in names:
            full = os.path.join(directory, name)
            if not os.path.islink(full):
                total += os.path.getsize(full)
    return total


@dataclass
class PostgresCluster:
    """One PostgreSQL 15 data directory run through pg_ctl as the postgres account."""

    data: str
    port: int = field(default_factory=free_port)

    def initdb(self) -> None:
        subprocess.run(as_postgres([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres",
                                    "--auth=trust"]), check=True, capture_output=True)

    def start(self, wait: bool = True) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        subprocess.run(as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l",
                                    os.path.join(self.data, "log"), "-W", "-o", options,
                                    "start"]), check=True, capture_output=True)
        if wait:
            wait_ready(self.port)

    def stop(self) -> None:
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w",
                                        "-t", str(int(STOP_DEADLINE_S)), "stop"]),
                           capture_output=True)


@dataclass
class MirrordbCluster:
    """One mirrordb data directory run as a ``mirrordb server`` child process."""

    data: str
    environment: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def initdb(self) -> None:
        subprocess.run([sys.executable, "-m", "mirrordb.cli.main", "initdb", "-D", self.data],
                       check=True, capture_output=True, env=self.environment)

    def start(self, wait: bool = True) -> None:
        log_path = f"{self.data.rstrip('/')}.log"
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mirrordb.cli.main", "server", "-D", self.data, "-c",
                 f"port={self.port}", "-c", "listen_addresses=127.0.0.1", "-c",
                 f"unix_socket_directories={self.data}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.environment)
        if wait:
            wait_ready(self.port)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_DEADLINE_S)


@dataclass
class Catchup:
    """One catch-up round: WAL volume, the load's tps (0: stopped at a volume), seconds from
    the standby's launch to its first connection and to the end of replay."""

    wal_bytes: int
    load_tps: float
    first_connection_s: float
    seconds: float


def median_catchup(rounds: list[Catchup]) -> Catchup:
    """Each field's median over the rounds (zeros when there are none)."""
    if not rounds:
        return Catchup(0, 0.0, 0.0, 0.0)
    return Catchup(int(statistics.median(r.wal_bytes for r in rounds)),
                   statistics.median(r.load_tps for r in rounds),
                   statistics.median(r.first_connection_s for r in rounds),
                   statistics.median(r.seconds for r in rounds))


@dataclass
class Figures:
    """Everything measured for one system."""

    backup_bytes: int = 0
    backup_s: float = 0.0
    lags_ms: list[float] = field(default_factory=list)
    lag_tps: float = 0.0
    catchups: list[Catchup] = field(default_factory=list)
    # PostgreSQL only: catch-ups whose load stops at mirrordb's catch-up WAL volume
    same_volume_catchups: list[Catchup] = field(default_factory=list)
    stream_bytes: int = 0
    stream_s: float = 0.0


@dataclass
class System:
    name: str
    primary: PostgresCluster | MirrordbCluster
    standby: PostgresCluster | MirrordbCluster
    figures: Figures = field(default_factory=Figures)


def base_backup_command(system: System, target: str, standby: bool) -> list[str]:
    """The system's own base backup tool; ``standby``: also -R and a new slot for the standby."""
    options = ["-h", "127.0.0.1", "-p", str(system.primary.port), "-U", "postgres",
               "-D", target, "-X", "stream", "-c", "fast"]
    if standby:
        options += ["-R", "-C", "-S", SLOT_STANDBY]
    if isinstance(system.primary, PostgresCluster):
        return as_postgres([f"{PG_BIN}/pg_basebackup", *options])
    return [sys.executable, "-m", "mirrordb.cli.main", "basebackup", *options]


def load_tables(port: int, accounts: int) -> None:
    with psycopg.connect(dsn(port), autocommit=True) as connection:
        for statement in SCHEMA:
            connection.execute(statement.format(accounts=accounts))


def timed_base_backup(system: System, target: str, standby: bool) -> tuple[int, float]:
    """(bytes in the result, seconds) of one base backup into ``target``."""
    environment = system.primary.environment if isinstance(system.primary, MirrordbCluster) \
        else None
    started = time.monotonic()
    result = subprocess.run(base_backup_command(system, target, standby), capture_output=True,
                            text=True, env=environment)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"base backup of {system.name} failed:\n{result.stderr}")
    return directory_bytes(target), elapsed


def measure_base_backup(system: System, repeat: int) -> None:
    """``repeat`` backups, the last one becomes the standby; the median time is reported."""
    runs = []
    for attempt in range(repeat - 1):
        scratch = f"{system.standby.data}-scratch{attempt}"
        runs.append(timed_base_backup(system, scratch, standby=False))
        shutil.rmtree(scratch, ignore_errors=True)
    runs.append(timed_base_backup(system, system.standby.data, standby=True))
    system.figures.backup_bytes = runs[-1][0]
    system.figures.backup_s = statistics.median(seconds for _, seconds in runs)
    report(f"{system.name}: base backup {system.figures.backup_bytes / MB:.1f} MB in "
           + ", ".join(f"{seconds:.2f}" for _, seconds in runs) + " s")


def current_lsn(port: int) -> int:
    return parse_lsn(str(query_one(port, "select pg_current_wal_lsn()")))


def current_lsn_on(connection: psycopg.Connection) -> int:
    row = connection.execute("select pg_current_wal_lsn()").fetchone()
    return parse_lsn(str(row[0]))  # type: ignore[index]


def replayed_lsn(port: int) -> int:
    value = query_one(port, "select pg_last_wal_replay_lsn()")
    return 0 if value is None else parse_lsn(str(value))


def replayed_lsn_on(connection: psycopg.Connection) -> int:
    row = connection.execute("select pg_last_wal_replay_lsn()").fetchone()
    return 0 if row is None or row[0] is None else parse_lsn(str(row[0]))


def wait_replayed(system: System, target_lsn: int, deadline_s: float) -> None:
    last = [0]

    def reached() -> bool:
        last[0] = replayed_lsn(system.standby.port)
        return last[0] >= target_lsn
    try:
        poll(reached, f"{system.name} standby to replay {format_lsn(target_lsn)}", deadline_s)
    except RuntimeError as error:
        raise RuntimeError(f"{error}; last replayed {format_lsn(last[0])}") from None


def start_pgbench(port: int, script: str, clients: int, seconds: int,
                  rate: float | None) -> subprocess.Popen[str]:
    command = [f"{PG_BIN}/pgbench", "-n", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
               "-f", script, "-M", "prepared", "-c", str(clients), "-j", "2",
               "-T", str(seconds), "postgres"]
    if rate is not None:
        command[1:1] = ["-R", str(rate)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_pgbench(process: subprocess.Popen[str], name: str) -> float:
    """Wait for pgbench; returns its tps."""
    stdout, stderr = process.communicate(timeout=READY_DEADLINE_S + 600)
    if process.returncode != 0:
        raise RuntimeError(f"pgbench on {name} failed:\n{stdout}{stderr}")
    match = re.search(r"tps = ([\d.]+)", stdout)
    if match is None:
        raise RuntimeError(f"no tps in pgbench output:\n{stdout}")
    return float(match.group(1))


def probe_once(primary: psycopg.Connection, standby: psycopg.Connection, probe_id: int,
               poll_interval_s: float) -> float:
    """Insert one row on the primary; seconds from its COMMIT ack until the standby sees it."""
    primary.execute("insert into bench_lag (id, sent_at) values (%s, now())", (probe_id,))
    acknowledged = time.monotonic()
    deadline = acknowledged + LAG_DEADLINE_S
    while True:
        row = standby.execute("select 1 from bench_lag where id = %s", (probe_id,),
                              prepare=True).fetchone()
        seen = time.monotonic()
        if row is not None:
            return seen - acknowledged
        if seen > deadline:
            raise RuntimeError(f"probe row {probe_id} not visible on the standby after "
                               f"{LAG_DEADLINE_S} s")
        if poll_interval_s > 0:
            time.sleep(poll_interval_s)


def measure_lag(system: System, script: str, args: argparse.Namespace, first_id: int) -> None:
    load = start_pgbench(system.primary.port, script, STANDBY_LOAD_CLIENTS, args.lag_seconds,
                         args.rate)
    spacing_s = args.lag_seconds / (args.probes + 2)
    rng = random.Random(first_id)
    with psycopg.connect(dsn(system.primary.port), autocommit=True) as primary, \
            psycopg.connect(dsn(system.standby.port), autocommit=True) as standby:
        time.sleep(spacing_s)     # let pgbench connect and reach its rate
        for probe_id in range(first_id, first_id + args.probes):
            lag_s = probe_once(primary, standby, probe_id, args.poll_interval_ms / 1000)
            system.figures.lags_ms.append(lag_s * 1000)
            time.sleep(rng.uniform(0.5, 1.5) * max(spacing_s - lag_s, 0.001))
    system.figures.lag_tps = finish_pgbench(load, system.name)
    lags = system.figures.lags_ms
    report(f"{system.name}: lag at {system.figures.lag_tps:.1f} tps: median "
          f"{statistics.median(lags):.2f} ms, p99 {percentile(lags, 99):.2f} ms, "
          f"max {max(lags):.2f} ms")


def reserve_receivewal_slot(port: int) -> None:
    with psycopg.connect(dsn(port), autocommit=True) as connection:
        connection.execute("checkpoint")
        connection.execute("select pg_create_physical_replication_slot(%s, true)",
                           (SLOT_RECEIVEWAL,))


def run_catchup_load(system: System, script: str, seconds: int, volume: int | None
                     ) -> tuple[int, int, float]:
    """Stop the standby, run the unthrottled load on the primary: ``seconds`` of it, or until
    the primary's WAL has grown by ``volume`` bytes (then pgbench is interrupted). Returns the
    WAL positions before and after the load and pgbench's tps (0 when interrupted).

    A checkpoint on the primary first, replayed by the standby before it stops: every round's
    WAL starts with the full-page images of the pages it touches, and the standby's shutdown
    restartpoint is that checkpoint, so at its next start it replays only this round's WAL
    (not also the previous round's, from an older restartpoint)."""
    with psycopg.connect(dsn(system.primary.port), autocommit=True) as connection:
        connection.execute("checkpoint")
    wait_replayed(system, current_lsn(system.primary.port), READY_DEADLINE_S)
    system.standby.stop()
    start_lsn = current_lsn(system.primary.port)
    load = start_pgbench(system.primary.port, script, CATCHUP_LOAD_CLIENTS, seconds, None)
    if volume is None:
        tps = finish_pgbench(load, system.name)
    else:
        with psycopg.connect(dsn(system.primary.port), autocommit=True) as connection:
            while load.poll() is None and current_lsn_on(connection) - start_lsn < volume:
                time.sleep(VOLUME_POLL_S)
        # SIGTERM, not SIGINT: a shell without job control starts background commands with
        # SIGINT ignored, and pgbench inherits that (the load then ran its whole -T)
        load.terminate()
        load.communicate(timeout=READY_DEADLINE_S)
        tps = 0.0
    return start_lsn, current_lsn(system.primary.port), tps


def timed_catchup(system: System, target_lsn: int) -> tuple[float, float]:
    """Start the standby; (seconds from its launch to the first connection it accepts, seconds
    from its launch until it has replayed ``target_lsn``)."""
    launched = time.monotonic()
    system.standby.start(wait=False)
    connection = poll(lambda: psycopg.connect(dsn(system.standby.port), autocommit=True,
                                              connect_timeout=5),
                      f"{system.name} standby", CATCHUP_DEADLINE_S)
    first_connection_s = time.monotonic() - launched
    with connection:   # one connection polls replay: a new one every poll loads the standby
        poll(lambda: replayed_lsn_on(connection) >= target_lsn,  # type: ignore[arg-type]
             f"{system.name} standby to replay {format_lsn(target_lsn)}", CATCHUP_DEADLINE_S)
    return first_connection_s, time.monotonic() - launched


def measure_catchup(system: System, script: str, args: argparse.Namespace) -> None:
    start_lsn, target_lsn, tps = run_catchup_load(system, script, args.catchup_seconds, None)
    first_s, total_s = timed_catchup(system, target_lsn)
    system.figures.catchups.append(Catchup(target_lsn - start_lsn, tps, first_s, total_s))
    report(f"{system.name}: catch-up of {(target_lsn - start_lsn) / MB:.1f} MB "
          f"({tps:.0f} tps for {args.catchup_seconds} s) in {total_s:.2f} s (first connection "
          f"after {first_s:.2f} s)")


def measure_same_volume_catchup(system: System, script: str, args: argparse.Namespace,
                                volume: int) -> None:
    """The goal compares times for the same WAL volume: PostgreSQL catches up again, this time
    after a load stopped once its WAL grew by ``volume`` (a mirrordb catch-up's volume)."""
    start_lsn, target_lsn, _ = run_catchup_load(system, script, args.catchup_seconds, volume)
    first_s, total_s = timed_catchup(system, target_lsn)
    system.figures.same_volume_catchups.append(Catchup(target_lsn - start_lsn, 0.0, first_s,
                                                       total_s))
    report(f"{system.name}: catch-up of {(target_lsn - start_lsn) / MB:.1f} MB (load stopped "
          f"at mirrordb's volume) in {total_s:.2f} s (first connection after {first_s:.2f} s)")


def measure_receivewal(system: System, root: str) -> None:
    target = os.path.join(root, f"receivewal-{system.name.split()[0].lower()}")
    os.makedirs(target)
    end_lsn = current_lsn(system.primary.port)
    # pg_receivewal stops only on WAL past --endpos: commit one more row after that position
    with psycopg.connect(dsn(system.primary.port), autocommit=True) as connection:
        connection.execute("insert into bench_lag (id, sent_at) values (0, now())")
    command = [f"{PG_BIN}/pg_receivewal", "-h", "127.0.0.1", "-p", str(system.primary.port),
               "-U", "postgres", "-D", target, "--slot", SLOT_RECEIVEWAL, "-n", "-v",
               f"--endpos={format_lsn(end_lsn)}"]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=CATCHUP_DEADLINE_S)
    elapsed = time.monotonic() - started
    match = re.search(r"starting log streaming at ([0-9A-F]+/[0-9A-F]+)", result.stderr)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"pg_receivewal against {system.name} failed:\n{result.stderr}")
    system.figures.stream_bytes = end_lsn - parse_lsn(match.group(1))
    system.figures.stream_s = elapsed
    report(f"{system.name}: pg_receivewal {system.figures.stream_bytes / MB:.1f} MB in "
          f"{elapsed:.2f} s")


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def make_systems(root: str) -> list[System]:
    pg_root = os.path.join(root, "pg")
    os.makedirs(pg_root)
    if os.geteuid() == 0:
        shutil.chown(pg_root, "postgres", "postgres")
    environment = mirrordb_environment(root)
    return [System("PostgreSQL 15", PostgresCluster(os.path.join(pg_root, "primary")),
                   PostgresCluster(os.path.join(pg_root, "standby"))),
            System("mirrordb", MirrordbCluster(os.path.join(root, "primary"), environment),
                   MirrordbCluster(os.path.join(root, "standby"), environment))]


def write_script(root: str, accounts: int) -> str:
    path = os.path.join(root, "tpcb-like.sql")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(TPCB_SCRIPT.format(accounts=accounts))
    os.chmod(path, 0o644)
    return path


def run(systems: list[System], root: str, args: argparse.Namespace) -> None:
    script = write_script(root, args.accounts)
    report("initdb, start the primaries, load the tables")
    for system in systems:
        system.primary.initdb()
        system.primary.start()
        load_tables(system.primary.port, args.accounts)
    for system in systems:
        measure_base_backup(system, args.backup_repeat)
        system.standby.start()
        wait_replayed(system, current_lsn(system.primary.port), 20)
    for system in systems:
        measure_lag(system, script, args, first_id=1 + 1_000_000 * systems.index(system))
    for system in systems:
        reserve_receivewal_slot(system.primary.port)
    for _ in range(args.catchup_repeat):
        for system in systems:
            measure_catchup(system, script, args)
    for system in systems:
        measure_receivewal(system, root)
    for ours in systems[1].figures.catchups:
        measure_same_volume_catchup(systems[0], script, args, ours.wal_bytes)


def machine() -> str:
    load = os.getloadavg()
    return (f"{os.cpu_count()} CPUs, {platform.machine()}, Linux {platform.release()}, "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")


def commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=os.path.dirname(os.path.abspath(__file__)))
    return result.stdout.strip() or "unknown"


def table_rows(pg: Figures, ours: Figures) -> list[tuple[str, float, float, str]]:
    """(measure, PostgreSQL, mirrordb, how to read the ratio) for the summary table."""
    def rate(bytes_: int, seconds: float) -> float:
        return bytes_ / MB / seconds if seconds else 0.0
    pg_up, our_up = median_catchup(pg.catchups), median_catchup(ours.catchups)
    pg_same = median_catchup(pg.same_volume_catchups)
    return [
        ("base backup MB", pg.backup_bytes / MB, ours.backup_bytes / MB, ""),
        ("base backup s", pg.backup_s, ours.backup_s, ""),
        ("base backup MB/s", rate(pg.backup_bytes, pg.backup_s),
         rate(ours.backup_bytes, ours.backup_s), "goal >= 1"),
        ("steady load tps (pgbench -R)", pg.lag_tps, ours.lag_tps, ""),
        ("lag median ms", statistics.median(pg.lags_ms), statistics.median(ours.lags_ms), ""),
        ("lag p99 ms", percentile(pg.lags_ms, 99), percentile(ours.lags_ms, 99),
         "goal: mirrordb < 10 ms"),
        ("catch-up load tps (unthrottled)", pg_up.load_tps, our_up.load_tps, ""),
        ("catch-up WAL MB", pg_up.wal_bytes / MB, our_up.wal_bytes / MB, ""),
        ("catch-up s (launch to replayed)", pg_up.seconds, our_up.seconds, ""),
        ("catch-up s to first connection", pg_up.first_connection_s,
         our_up.first_connection_s, ""),
        ("catch-up MB/s", rate(pg_up.wal_bytes, pg_up.seconds),
         rate(our_up.wal_bytes, our_up.seconds), ""),
        ("same WAL volume: catch-up WAL MB", pg_same.wal_bytes / MB, our_up.wal_bytes / MB, ""),
        ("same WAL volume: s to first connection", pg_same.first_connection_s,
         our_up.first_connection_s, ""),
        ("same WAL volume: catch-up s", pg_same.seconds, our_up.seconds, "goal <= 3"),
        ("pg_receivewal MB", pg.stream_bytes / MB, ours.stream_bytes / MB, ""),
        ("pg_receivewal MB/s", rate(pg.stream_bytes, pg.stream_s),
         rate(ours.stream_bytes, ours.stream_s), ""),
    ]


def print_summary(systems: list[System], args: argparse.Namespace) -> None:
    rows = table_rows(systems[0].figures, systems[1].figures)
    print(f"\n{'measure':40} PostgreSQL 15     mirrordb    ratio")
    for measure, pg, ours, note in rows:
        ratio = ours / pg if pg else float("nan")
        print(f"{measure:40} {pg:13.2f} {ours:12.2f} {ratio:8.3f}  {note}")
    rounds = [(name, figures) for name, figures in (
        ("PostgreSQL catch-up", systems[0].figures.catchups),
        ("mirrordb catch-up", systems[1].figures.catchups),
        ("PostgreSQL same volume", systems[0].figures.same_volume_catchups))]
    print("\nrounds (catch-up s / MB): " + "; ".join(
        f"{name} " + ", ".join(f"{r.seconds:.2f}/{r.wal_bytes / MB:.1f}" for r in figures)
        for name, figures in rounds))
    if not args.markdown:
        return
    print(f"\n{time.strftime('%Y-%m-%d %H:%M')}, commit {commit()}, {machine()}; "
          f"--accounts {args.accounts} --backup-repeat {args.backup_repeat} --rate {args.rate} "
          f"--lag-seconds {args.lag_seconds} "
          f"--probes {args.probes} --poll-interval-ms {args.poll_interval_ms} "
          f"--catchup-seconds {args.catchup_seconds} --catchup-repeat {args.catchup_repeat}\n")
    print("| measure | PostgreSQL 15 | mirrordb | mirrordb / PostgreSQL | goal |")
    print("|---|---|---|---|---|")
    for measure, pg, ours, note in rows:
        ratio = f"{ours / pg:.3f}" if pg else "–"
        print(f"| {measure} | {pg:,.2f} | {ours:,.2f} | {ratio} | {note} |")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=400_000,
                        help="pgbench_accounts rows (sets the base backup's size)")
    parser.add_argument("--backup-repeat", type=int, default=3,
                        help="base backups per system; the median time is reported")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="pgbench -R transactions per second for the lag measurement")
    parser.add_argument("--lag-seconds", type=int, default=15)
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--poll-interval-ms", type=float, default=0.5,
                        help="pause between two standby polls of one probe")
    parser.add_argument("--catchup-seconds", type=int, default=20)
    parser.add_argument("--catchup-repeat", type=int, default=1,
                        help="catch-up rounds per system (and same-volume rounds); medians")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args()


def main() -> int:
    args = parse_arguments()
    root = tempfile.mkdtemp(prefix="mirrordb-replbench-")
    os.chmod(root, 0o755)
    systems = make_systems(root)
    try:
        run(systems, root, args)
        print_summary(systems, args)
    finally:
        for system in systems:
            system.standby.stop()
            system.primary.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
