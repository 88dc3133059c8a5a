"""Storage-engine benchmarks, side by side with PostgreSQL 15 on the same machine, in one run.

Who runs it: a developer (``make bench``); nothing imports it. Not a test: figures depend on the
machine and its disk, so compare ratios, not absolutes.

Measures, for mirrordb (through the engine API) and PostgreSQL 15 (psql/pgbench on a throw-away
cluster, run as the unprivileged ``postgres`` user on a loopback port and a private socket dir):

1. single-row INSERT + COMMIT per second (synchronous_commit on, one client);
2. WAL bytes per committed single-row transaction;
3. full-page-image overhead: WAL bytes of N single-row updates right after a checkpoint, divided
   by the same N updates again (no checkpoint in between);
4. crash-recovery replay speed, for two workloads of single-row INSERT transactions (the shape of
   pgbench's history inserts): a table without indexes, and one with a primary key. Each engine
   checkpoints, runs the workload (synchronous_commit off, no checkpoint during it), makes the WAL
   durable and dies; the restart replays from the checkpoint's REDO point.

   * mirrordb: ``Engine.crash()`` after a WAL flush, then ``Engine.open``; records and bytes
     come from the engine's ``RecoveryResult`` (records replayed, REDO point .. end of valid
     WAL), the redo time from ``RedoClock`` (below).
   * PostgreSQL: ``pg_ctl stop -m immediate``; ``pg_waldump --stats`` from the REDO point to the end
     of valid WAL gives the record count and the byte span ("WAL statistics between A and B");
     the restart's log gives the redo time: "redo done at ... system usage: CPU: ..., elapsed: X s"
     (10 ms resolution) and, more precisely, the millisecond timestamps of the "redo starts at"
     and "redo done at" lines (``log_line_prefix`` is set to ``%m [%p] ``). The same line's
     "CPU: user: U s, system: S s" gives the startup process's CPU time U + S; for mirrordb the
     CPU time of the thread replaying (``time.thread_time``). CPU time is the steadier figure
     on a busy machine. mirrordb's redo is timed between the same two messages of its own
     startup code (``RedoClock``), not by ``RecoveryResult.seconds``, which also counts reading
     the checkpoint and zeroing the rest of the last WAL segment.

   PostgreSQL replays ~100x faster, so its workload is ``--pg-replay-scale`` times bigger (default
   10) to keep its redo time well above the timer resolution; rates are per second either way.
   Each replay runs ``--repeat`` times (default 3) and the fastest is reported, since other work
   on the machine only ever slows a run down.

MB are 10^6 bytes. WAL bytes are LSN spans: record headers, data, page headers and padding.

Usage: ``.venv/bin/python bench/engine_bench.py [--rows N] [--replay-txns N]
[--pg-replay-scale K] [--repeat R] [--skip-postgres]``; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

from mirrordb.cli.initdb import initdb
from mirrordb.common.lsn import format_lsn
from mirrordb.engine import Engine
from mirrordb.storage import datum as T

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "postgres"
PG_SETTINGS = ("max_wal_size=4GB", "checkpoint_timeout=1h", "log_checkpoints=on",
               "log_line_prefix=%m [%p] ", "listen_addresses=127.0.0.1")
PG_START_TIMEOUT_S = 120
REPLAY_WORKLOADS = ("heap only", "heap + primary key")
UPDATE_SAMPLE_MAX = 2000
PAYLOAD_PREFIX = "payload "

_LSN_TEXT = r"([0-9A-F]+/[0-9A-F]+)"
_WALDUMP_SPAN = re.compile(rf"WAL statistics between {_LSN_TEXT} and {_LSN_TEXT}")
_WALDUMP_TOTAL = re.compile(r"^Total\s+(\d+)\s", re.MULTILINE)
_LOG_TIME = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \w+ \[\d+\] LOG:  "
_REDO_STARTS = re.compile(_LOG_TIME + rf"redo starts at {_LSN_TEXT}", re.MULTILINE)
_REDO_DONE = re.compile(_LOG_TIME + rf"redo done at {_LSN_TEXT} system usage: CPU: user: "
                        r"([\d.]+) s, system: ([\d.]+) s, elapsed: ([\d.]+) s", re.MULTILINE)


def free_loopback_port() -> int:
    """A TCP port nobody listens on now (other engineers run PostgreSQL on fixed ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def parse_lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(frozen=True)
class ReplayFigures:
    """One crash recovery: what was replayed and how long the redo loop took."""

    transactions: int
    records: int
    wal_bytes: int
    seconds: float
    cpu_seconds: float
    detail: str = ""

    @property
    def mb_per_s(self) -> float:
        return self.wal_bytes / 1e6 / self.seconds if self.seconds > 0 else float("nan")

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("nan")

    @property
    def records_per_cpu_s(self) -> float:
        return self.records / self.cpu_seconds if self.cpu_seconds > 0 else float("nan")


# -- mirrordb ------------------------------------------------------------------------------------

RECOVERY_LOGGER = "mirrordb.recovery"


class RedoClock(logging.Handler):
    """Times the redo loop the way PostgreSQL's log does: between the startup code's "redo starts
    at" and "redo done at" messages (wall clock, and CPU time of the thread logging them, which is
    the thread replaying)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.marks: dict[str, tuple[float, float]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for mark in ("redo starts at", "redo done at"):
            if message.startswith(mark):
                self.marks[mark] = (time.monotonic(), time.thread_time())

    def spans(self) -> tuple[float, float]:
        if len(self.marks) != 2:
            raise RuntimeError(f"recovery logged no redo start/done: {self.marks}")
        (wall_start, cpu_start), (wall_done, cpu_done) = (self.marks["redo starts at"],
                                                          self.marks["redo done at"])
        return wall_done - wall_start, cpu_done - cpu_start

def mirrordb_figures(rows: int, workdir: str) -> dict[str, float]:
    datadir = os.path.join(workdir, "mirrordb")
    initdb(datadir)
    engine = Engine.open(datadir, {"wal_keep_size": "4GB", "checkpoint_timeout": "1h",
                                   "max_wal_size": "4GB"})
    try:
        with engine.begin() as txn:
            txn.create_table("t", [("id", T.INT4_OID), ("v", T.TEXT_OID)])
        start_lsn = engine.wal.insert_lsn
        started = time.perf_counter()
        for i in range(rows):
            with engine.begin() as txn:
                txn.insert("t", [i, "payload"])
        elapsed = time.perf_counter() - started
        wal_per_txn = (engine.wal.insert_lsn - start_lsn) / rows
        engine.checkpoint()
        with engine.begin() as txn:
            tids = [tid for tid, _ in txn.scan("t")][: min(rows, UPDATE_SAMPLE_MAX)]
        first = _update_wal(engine, tids)
        second = _update_wal(engine, tids)
    finally:
        engine.close()
    return {"tps": rows / elapsed, "wal_per_txn": wal_per_txn, "fpi_ratio": first / second}


def _update_wal(engine: Engine, tids: list[tuple[int, int]]) -> int:
    start = engine.wal.insert_lsn
    with engine.begin() as txn:
        for tid in tids:
            txn.update("t", txn.latest_version("t", tid), [0, "updated"])
    return engine.wal.insert_lsn - start


def mirrordb_replay(workdir: str, transactions: int, indexed: bool,
                    attempt: int = 0) -> ReplayFigures:
    datadir = os.path.join(workdir, f"mirrordb-replay-{int(indexed)}-{attempt}")
    initdb(datadir)
    engine = Engine.open(datadir, {"synchronous_commit": "off", "checkpoint_timeout": "1h",
                                   "max_wal_size": "4GB"})
    try:
        with engine.begin() as txn:
            txn.create_table("t", [("id", T.INT8_OID), ("v", T.TEXT_OID)])
            if indexed:
                txn.create_index("t_pkey", "t", ["id"], unique=True, primary=True)
        engine.checkpoint()
        for i in range(1, transactions + 1):
            with engine.begin() as txn:
                txn.insert("t", [i, f"{PAYLOAD_PREFIX}{i}"])
        engine.wal.flush(engine.wal.end_lsn)
    except BaseException:
        engine.close()
        raise
    engine.crash()
    clock = RedoClock()
    recovery_log = logging.getLogger(RECOVERY_LOGGER)
    level = recovery_log.level
    recovery_log.setLevel(logging.INFO)
    recovery_log.addHandler(clock)
    try:
        recovered = Engine.open(datadir)
    finally:
        recovery_log.removeHandler(clock)
        recovery_log.setLevel(level)
    try:
        result = recovered.recovery
        with recovered.begin() as txn:
            survivors = sum(1 for _ in txn.scan("t"))
    finally:
        recovered.close()
    if survivors != transactions:
        raise RuntimeError(f"mirrordb recovered {survivors} of {transactions} rows")
    wall_s, cpu_s = clock.spans()
    return ReplayFigures(transactions, result.records_replayed,
                         result.end_lsn - result.redo_start_lsn, wall_s, cpu_s,
                         f"RecoveryResult.seconds {result.seconds:.3f} s (includes reading the "
                         f"checkpoint and zeroing the WAL tail); redo "
                         f"{format_lsn(result.redo_start_lsn)}..{format_lsn(result.end_lsn)}")


# -- PostgreSQL ----------------------------------------------------------------------------------

class PostgresCluster:
    """A throw-away PostgreSQL 15 cluster owned by the unprivileged ``postgres`` user."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.datadir = os.path.join(workdir, "postgres")
        self.socketdir = os.path.join(workdir, "socket")
        self.uid = pwd.getpwnam(PG_USER).pw_uid
        for path in (workdir, self.socketdir):
            os.makedirs(path, exist_ok=True)
            os.chown(path, self.uid, -1)
            os.chmod(path, 0o755)
        self.logfile = os.path.join(workdir, "postgres.log")
        self.port = free_loopback_port()
        self.as_user([f"{PG_BIN}/initdb", "-D", self.datadir, "-A", "trust", "-U", PG_USER])

    def as_user(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", PG_USER, "--", *argv], check=check,
                              capture_output=True, text=True, timeout=PG_START_TIMEOUT_S * 10)

    def start(self, extra: tuple[str, ...] = ()) -> None:
        options = " ".join(f"-c '{setting}'" for setting in PG_SETTINGS + extra)
        self.as_user([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w",
                      "-t", str(PG_START_TIMEOUT_S), "-o",
                      f"-p {self.port} -k {self.socketdir} {options}", "start"])

    def stop(self, mode: str = "fast") -> None:
        self.as_user([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-m", mode, "-w", "stop"])

    def running(self) -> bool:
        return self.as_user([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "status"],
                            check=False).returncode == 0

    def sql(self, query: str) -> str:
        return self.as_user([f"{PG_BIN}/psql", "-h", self.socketdir, "-p", str(self.port), "-U",
                             PG_USER, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-Atqc",
                             query]).stdout.strip()

    def sql_script(self, text: str) -> None:
        """Run statements one by one (each its own transaction unless it says otherwise)."""
        path = os.path.join(self.workdir, "script.sql")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, 0o644)
        self.as_user([f"{PG_BIN}/psql", "-h", self.socketdir, "-p", str(self.port), "-U", PG_USER,
                      "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-Aqf", path])

    def lsn(self) -> int:
        return int(self.sql("SELECT pg_current_wal_insert_lsn() - '0/0'"))

    def pgbench(self, script: str, transactions: int) -> str:
        return self.as_user([f"{PG_BIN}/pgbench", "-h", self.socketdir, "-p", str(self.port), "-U",
                             PG_USER, "-n", "-c", "1", "-t", str(transactions), "-f", script,
                             "postgres"]).stdout

    def read_log(self) -> str:
        with open(self.logfile, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def truncate_log(self) -> None:
        with open(self.logfile, "w", encoding="utf-8"):
            pass


def postgres_figures(cluster: PostgresCluster, rows: int) -> dict[str, float]:
    cluster.sql("CREATE TABLE t (id int, v text)")
    script = os.path.join(cluster.workdir, "insert.sql")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write("INSERT INTO t VALUES (1, 'payload');\n")
    os.chmod(script, 0o644)
    start_lsn = cluster.lsn()
    output = cluster.pgbench(script, rows)
    match = re.search(r"tps = ([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"pgbench printed no tps: {output}")
    wal_per_txn = (cluster.lsn() - start_lsn) / rows
    sample = min(rows, UPDATE_SAMPLE_MAX)
    update = f"UPDATE t SET v = 'updated' WHERE ctid IN (SELECT ctid FROM t LIMIT {sample})"
    cluster.sql("CHECKPOINT")
    first_start = cluster.lsn()
    cluster.sql(update)
    first = cluster.lsn() - first_start
    second_start = cluster.lsn()
    cluster.sql(update)
    second = cluster.lsn() - second_start
    return {"tps": float(match.group(1)), "wal_per_txn": wal_per_txn, "fpi_ratio": first / second}


def postgres_replay(cluster: PostgresCluster, transactions: int, indexed: bool,
                    attempt: int = 0) -> ReplayFigures:
    """Checkpoint, the insert workload, ``pg_ctl stop -m immediate``, restart; see the module
    docstring for where each figure comes from. Leaves the cluster running."""
    table = f"replay_{int(indexed)}_{attempt}"
    key = "PRIMARY KEY" if indexed else ""
    cluster.sql(f"CREATE TABLE {table} (id int8 {key}, v text)")
    cluster.sql("CHECKPOINT")
    redo = parse_lsn(cluster.sql("SELECT redo_lsn FROM pg_control_checkpoint()"))
    # One transaction per row, run server-side (no client round trip per row): the WAL is the
    # same as that many single-statement transactions, written much faster.
    cluster.sql_script("SET synchronous_commit = off;\n"
                       f"DO $$ BEGIN FOR i IN 1..{transactions} LOOP "
                       f"INSERT INTO {table} VALUES (i, '{PAYLOAD_PREFIX}' || i); COMMIT; "
                       "END LOOP; END $$;\n"
                       "SET synchronous_commit = on;\n"
                       f"INSERT INTO {table} VALUES (-1, 'flushes all WAL before it');\n")
    cluster.stop("immediate")
    waldump = cluster.as_user([f"{PG_BIN}/pg_waldump", "--stats", "-p",
                               os.path.join(cluster.datadir, "pg_wal"), "-s", format_lsn(redo)],
                              check=False)  # it ends with an error at the end of valid WAL
    span = _WALDUMP_SPAN.search(waldump.stdout)
    total = _WALDUMP_TOTAL.search(waldump.stdout)
    if span is None or total is None:
        raise RuntimeError(f"unexpected pg_waldump output: {waldump.stdout}{waldump.stderr}")
    wal_start, wal_end = parse_lsn(span.group(1)), parse_lsn(span.group(2))
    cluster.truncate_log()
    cluster.start()
    log = cluster.read_log()
    starts, done = _REDO_STARTS.search(log), _REDO_DONE.search(log)
    if starts is None or done is None:
        raise RuntimeError(f"no redo lines in the PostgreSQL log:\n{log}")
    if parse_lsn(starts.group(2)) != redo or parse_lsn(done.group(2)) >= wal_end:
        raise RuntimeError(f"replayed range does not match pg_waldump's:\n{log}")
    from_timestamps = (_log_time(done.group(1)) - _log_time(starts.group(1))).total_seconds()
    rusage_cpu = float(done.group(3)) + float(done.group(4))
    rusage_elapsed = float(done.group(5))
    survivors = int(cluster.sql(f"SELECT count(*) FROM {table} WHERE id > 0"))
    if survivors != transactions:
        raise RuntimeError(f"PostgreSQL recovered {survivors} of {transactions} rows")
    return ReplayFigures(transactions, int(total.group(1)), wal_end - wal_start,
                         max(from_timestamps, 0.001), rusage_cpu,
                         f"rusage CPU {rusage_cpu:.2f} s, elapsed {rusage_elapsed:.2f} s, "
                         f"log timestamps {from_timestamps:.3f} s; "
                         f"redo {format_lsn(wal_start)}..{format_lsn(wal_end)}")


def _log_time(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")


def fastest(runs: list[ReplayFigures]) -> ReplayFigures:
    """The run with the shortest redo: the least disturbed by other work on the machine."""
    return min(runs, key=lambda figures: figures.seconds)


def run_postgres(workdir: str, rows: int, replay_transactions: int, repeat: int
                 ) -> tuple[dict[str, float] | None, dict[str, ReplayFigures]]:
    if not os.path.exists(f"{PG_BIN}/postgres"):
        return None, {}
    cluster = PostgresCluster(workdir)
    cluster.start()
    try:
        figures = postgres_figures(cluster, rows)
        replays = {name: fastest([postgres_replay(cluster, replay_transactions, indexed, attempt)
                                  for attempt in range(repeat)])
                   for name, indexed in zip(REPLAY_WORKLOADS, (False, True))}
        return figures, replays
    finally:
        if cluster.running():
            cluster.stop()


# -- report --------------------------------------------------------------------------------------

def _ratio(mine: float, theirs: float) -> str:
    return f"{mine / theirs:.3f}" if theirs and theirs == theirs else "–"


def print_report(ours: dict[str, float], theirs: dict[str, float] | None,
                 our_replays: dict[str, ReplayFigures],
                 their_replays: dict[str, ReplayFigures]) -> None:
    labels = {"tps": "single-row INSERT + COMMIT per second",
              "wal_per_txn": "WAL bytes per committed single-row transaction",
              "fpi_ratio": "WAL of N updates right after a checkpoint / same N updates again"}
    print("| measure | mirrordb | PostgreSQL 15 | ratio |")
    print("|---|---|---|---|")
    for key, label in labels.items():
        pg = theirs[key] if theirs else float("nan")
        print(f"| {label} | {ours[key]:,.1f} | {pg:,.1f} | {_ratio(ours[key], pg)} |")
    print()
    print("| replay workload | engine | transactions | records | WAL MB | redo s | MB/s "
          "| records/s | redo CPU s | records/CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in REPLAY_WORKLOADS:
        for engine, figures in (("mirrordb", our_replays.get(name)),
                                ("PostgreSQL 15", their_replays.get(name))):
            if figures is None:
                continue
            print(f"| {name} | {engine} | {figures.transactions:,} | {figures.records:,} "
                  f"| {figures.wal_bytes / 1e6:,.1f} | {figures.seconds:.3f} "
                  f"| {figures.mb_per_s:,.2f} | {figures.records_per_s:,.0f} "
                  f"| {figures.cpu_seconds:.2f} | {figures.records_per_cpu_s:,.0f} |")
    print()
    print("| replay workload | mirrordb / PostgreSQL: MB/s | records/s | records/CPU s |")
    print("|---|---|---|---|")
    for name in REPLAY_WORKLOADS:
        mine, pg = our_replays.get(name), their_replays.get(name)
        if mine and pg:
            print(f"| {name} | {_ratio(mine.mb_per_s, pg.mb_per_s)} "
                  f"| {_ratio(mine.records_per_s, pg.records_per_s)} "
                  f"| {_ratio(mine.records_per_cpu_s, pg.records_per_cpu_s)} |")
    print()
    for name in REPLAY_WORKLOADS:
        for engine, figures in (("mirrordb", our_replays.get(name)),
                                ("PostgreSQL 15", their_replays.get(name))):
            if figures is not None:
                print(f"- {name}, {engine}: {figures.detail}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000,
                        help="transactions for the insert-rate and WAL-size measures")
    parser.add_argument("--replay-txns", type=int, default=20000,
                        help="single-row transactions replayed by mirrordb")
    parser.add_argument("--pg-replay-scale", type=int, default=10,
                        help="PostgreSQL replays this many times more transactions")
    parser.add_argument("--repeat", type=int, default=3,
                        help="crash recoveries per engine and workload; the fastest is reported")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="mirrordb-bench-")
    os.chmod(workdir, 0o755)  # PostgreSQL runs as an unprivileged user and must reach its dir
    try:
        ours = mirrordb_figures(args.rows, os.path.join(workdir, "m"))
        our_replays = {name: fastest([mirrordb_replay(os.path.join(workdir, "m"),
                                                      args.replay_txns, indexed, attempt)
                                      for attempt in range(args.repeat)])
                       for name, indexed in zip(REPLAY_WORKLOADS, (False, True))}
        theirs, their_replays = (None, {}) if args.skip_postgres else run_postgres(
            os.path.join(workdir, "p"), args.rows, args.replay_txns * args.pg_replay_scale,
            args.repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_report(ours, theirs, our_replays, their_replays)


if __name__ == "__main__":
    main()
