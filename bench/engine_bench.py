"""Storage-engine benchmarks, side by side with PostgreSQL 15 on the same machine, in one run.

Measures, for mirrordb (through the engine API) and PostgreSQL (through psql/pgbench on a
throw-away cluster run as an unprivileged user):

1. single-row INSERT + COMMIT per second (synchronous_commit on, one client);
2. WAL bytes per committed single-row transaction;
3. crash-recovery replay speed (MB of WAL and records per second);
4. full-page-image overhead: WAL bytes of N single-row updates right after a checkpoint, divided
   by the same N updates again (no checkpoint in between).

Usage: ``.venv/bin/python bench/engine_bench.py [--rows N]``; prints a Markdown table.
Not a test: numbers depend on the machine and its disk.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

from mirrordb.cli.initdb import initdb
from mirrordb.engine import Engine
from mirrordb.storage import datum as T

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_PORT = 54329


# -- mirrordb ------------------------------------------------------------------------------------

def mirrordb_figures(rows: int, workdir: str) -> dict[str, float]:
    datadir = os.path.join(workdir, "mirrordb")
    initdb(datadir)
    engine = Engine.open(datadir, {"wal_keep_size": "4GB", "checkpoint_timeout": "1h",
                                   "max_wal_size": "4GB"})
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
        tids = [tid for tid, _ in txn.scan("t")][: min(rows, 2000)]
    first = _update_wal(engine, tids)
    second = _update_wal(engine, tids)
    redo_from = engine.control.checkpoint.redo
    with engine.begin() as txn:
        for i in range(rows * 5):
            txn.insert("t", [i, "recovery workload"])
    wal_bytes = engine.wal.insert_lsn - redo_from
    engine.wal.flush(engine.wal.insert_lsn)
    engine.crash()
    recovered = Engine.open(datadir)
    replay_s = recovered.recovery.seconds
    records = recovered.recovery.records_replayed
    recovered.close()
    return {"tps": rows / elapsed, "wal_per_txn": wal_per_txn, "fpi_ratio": first / second,
            "replay_mb_s": wal_bytes / 1e6 / replay_s, "replay_records_s": records / replay_s}


def _update_wal(engine: Engine, tids: list[tuple[int, int]]) -> int:
    start = engine.wal.insert_lsn
    with engine.begin() as txn:
        new_tids = []
        for tid in tids:
            _, new_tid = txn.update("t", txn.latest_version("t", tid), [0, "updated"])
            new_tids.append(new_tid)
    return engine.wal.insert_lsn - start


# -- PostgreSQL ----------------------------------------------------------------------------------

class PostgresCluster:
    def __init__(self, workdir: str) -> None:
        self.datadir = os.path.join(workdir, "postgres")
        self.user = "postgres"
        self.uid = pwd.getpwnam(self.user).pw_uid
        os.makedirs(self.datadir)
        os.chown(self.datadir, self.uid, -1)
        os.chown(workdir, self.uid, -1)
        self.logfile = os.path.join(workdir, "postgres.log")
        self._as_user([f"{PG_BIN}/initdb", "-D", self.datadir, "-A", "trust", "-U", "postgres"])

    def _as_user(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", self.user, "--", *argv], check=True,
                              capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]

    def start(self) -> None:
        self._as_user([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w", "-o",
                       f"-p {PG_PORT} -k /tmp -c max_wal_size=4GB -c checkpoint_timeout=1h",
                       "start"])

    def kill(self) -> None:
        with open(os.path.join(self.datadir, "postmaster.pid")) as handle:
            pid = int(handle.readline())
        os.kill(pid, signal.SIGKILL)
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)
        os.remove(os.path.join(self.datadir, "postmaster.pid"))

    def stop(self) -> None:
        self._as_user([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-m", "fast", "-w", "stop"])

    def sql(self, query: str) -> str:
        return self._as_user([f"{PG_BIN}/psql", "-h", "/tmp", "-p", str(PG_PORT), "-U",
                              "postgres", "-d", "postgres", "-Atqc", query]).stdout.strip()

    def lsn(self) -> int:
        return int(self.sql("SELECT pg_current_wal_insert_lsn() - '0/0'"))


def postgres_figures(rows: int, workdir: str) -> dict[str, float] | None:
    if not os.path.exists(f"{PG_BIN}/postgres"):
        return None
    cluster = PostgresCluster(workdir)
    cluster.start()
    try:
        cluster.sql("CREATE TABLE t (id int, v text)")
        script = os.path.join(workdir, "insert.sql")
        with open(script, "w") as handle:
            handle.write("INSERT INTO t VALUES (1, 'payload');\n")
        os.chmod(script, 0o644)
        start_lsn = cluster.lsn()
        output = cluster._as_user([f"{PG_BIN}/pgbench", "-h", "/tmp", "-p", str(PG_PORT), "-U",
                                   "postgres", "-n", "-c", "1", "-t", str(rows), "-f", script,
                                   "postgres"]).stdout
        tps = float(re.search(r"tps = ([\d.]+)", output).group(1))  # type: ignore[union-attr]
        wal_per_txn = (cluster.lsn() - start_lsn) / rows
        n = min(rows, 2000)
        cluster.sql("CHECKPOINT")
        first_start = cluster.lsn()
        cluster.sql(f"UPDATE t SET v = 'updated' WHERE ctid IN (SELECT ctid FROM t LIMIT {n})")
        first = cluster.lsn() - first_start
        second_start = cluster.lsn()
        cluster.sql(f"UPDATE t SET v = 'updated' WHERE ctid IN (SELECT ctid FROM t LIMIT {n})")
        second = cluster.lsn() - second_start
        cluster.sql("CHECKPOINT")
        redo_from = cluster.lsn()
        cluster.sql(f"INSERT INTO t SELECT g, 'recovery workload' FROM generate_series(1, "
                    f"{rows * 5}) g")
        wal_bytes = cluster.lsn() - redo_from
        cluster.kill()
        open(cluster.logfile, "w").close()
        cluster.start()
        with open(cluster.logfile) as handle:
            log = handle.read()
        match = re.search(r"elapsed: ([\d.]+) s", log)
        replay_s = float(match.group(1)) if match else float("nan")
        return {"tps": tps, "wal_per_txn": wal_per_txn, "fpi_ratio": first / second,
                "replay_mb_s": wal_bytes / 1e6 / replay_s if replay_s else float("nan"),
                "replay_records_s": float("nan")}
    finally:
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="mirrordb-bench-")
    os.chmod(workdir, 0o755)  # PostgreSQL runs as an unprivileged user and must reach its dir
    try:
        ours = mirrordb_figures(args.rows, os.path.join(workdir, "m"))
        os.makedirs(os.path.join(workdir, "p"))
        theirs = postgres_figures(args.rows, os.path.join(workdir, "p"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    labels = {"tps": "single-row INSERT + COMMIT per second",
              "wal_per_txn": "WAL bytes per committed single-row transaction",
              "replay_mb_s": "crash-recovery replay, MB of WAL per second",
              "replay_records_s": "crash-recovery replay, records per second",
              "fpi_ratio": "WAL of N updates right after a checkpoint / same N updates again"}
    print("| measure | mirrordb | PostgreSQL 15 | ratio |")
    print("|---|---|---|---|")
    for key, label in labels.items():
        mine = ours[key]
        pg = theirs[key] if theirs else float("nan")
        ratio = mine / pg if pg and pg == pg else float("nan")
        print(f"| {label} | {mine:,.1f} | {pg:,.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
