"""pgbench against mirrordb and PostgreSQL 15 side by side, in one run, on the same machine.

Starts a PostgreSQL 15 cluster (the distribution's initdb/pg_ctl, run as the unprivileged
``postgres`` account when this runs as root) and a mirrordb server, both on loopback, loads the same
pgbench tables into each through SQL, and runs the same custom scripts against both: select-only,
TPC-B-like and ordered-limit (keyset page, newest rows, max(): ordered index scans), ``-M simple``
and ``-M prepared``, 1 and 8 clients. Prints tps, average latency and the
ratio mirrordb/PostgreSQL for each; ``--markdown`` prints the table for bench/README.md.

The machine is shared and noisy, so each pair of runs (PostgreSQL, then mirrordb, same script,
protocol and clients) is repeated ``--repeat`` times in turn and the table shows medians: the
median tps of each server and the median of the per-pair ratios. Both servers run with their
defaults, autovacuum included (mirrordb's vacuums pgbench_branches and pgbench_tellers every few
dozen transactions, see access/autovacuum.py).

Usage: .venv/bin/python bench/server_bench.py [--seconds 10] [--accounts 10000] [--repeat 3]
                                              [--only select-only/prepared/1] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from benchlib import PG_BIN, as_postgres, free_port   # bench/ is on sys.path when run

READY_DEADLINE_S = 60.0

SCHEMA = """
create table pgbench_branches (bid int primary key, bbalance int not null, filler char(88));
create table pgbench_tellers (tid int primary key, bid int, tbalance int not null, filler char(84));
create table pgbench_accounts (aid int primary key, bid int, abalance int not null, filler char(84));
create table pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp,
                              filler char(22));
insert into pgbench_branches values (1, 0, null);
insert into pgbench_tellers select g, 1, 0, null from generate_series(1, 10) g;
insert into pgbench_accounts select g, 1, 0, '' from generate_series(1, {accounts}) g;
"""

SCRIPTS = {
    "select-only": """\\set aid random(1, {accounts})
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
""",
    "tpcb-like": """\\set aid random(1, {accounts})
\\set bid random(1, 1)
\\set tid random(1, 10)
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
""",
    "ordered-limit": """\set aid random(1, {accounts})
SELECT aid, abalance FROM pgbench_accounts WHERE aid > :aid ORDER BY aid LIMIT 20;
SELECT aid FROM pgbench_accounts ORDER BY aid DESC LIMIT 5;
SELECT max(aid) FROM pgbench_accounts;
""",
}


def wait_for(port: int, user: str) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        probe = subprocess.run([f"{PG_BIN}/psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U",
                                user, "-d", "postgres", "-Atc", "select 1"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not become ready")


@dataclass
class Target:
    name: str
    port: int

    def psql(self, sql: str) -> None:
        subprocess.run([f"{PG_BIN}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                        "-p", str(self.port), "-U", "postgres", "-d", "postgres"],
                       input=sql, text=True, check=True, capture_output=True)


# --pin: (server CPU, client CPU). Both servers run on one vCPU and pgbench on the other, so the
# kernel's placement (same vCPU or not, which moves one-client ping-pong rates severalfold on a
# small VM) is the same for both systems.
PIN: tuple[int, int] | None = None


def on_cpu(command: list[str], which: int) -> list[str]:
    """``command`` under ``taskset`` on the server (0) or client (1) CPU when --pin is given."""
    if PIN is None:
        return command
    return ["taskset", "-c", str(PIN[which]), *command]


class PostgresServer:
    def __init__(self, root: str) -> None:
        self.data = os.path.join(root, "pg")
        self.port = free_port()
        os.makedirs(root, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        subprocess.run(as_postgres([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres",
                                    "--auth=trust"]), check=True, capture_output=True)
        subprocess.run(on_cpu(as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l",
                                           os.path.join(self.data, "log"), "-w", "-o",
                                           f"-p {self.port} -k {self.data} "
                                           "-c listen_addresses=127.0.0.1", "start"]), 0),
                       check=True, capture_output=True)
        wait_for(self.port, "postgres")

    def stop(self) -> None:
        subprocess.run(as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w",
                                    "stop"]), capture_output=True)


class MirrordbServer:
    def __init__(self, root: str) -> None:
        self.data = os.path.join(root, "mirrordb")
        self.port = free_port()
        subprocess.run([sys.executable, "-m", "mirrordb.cli.main", "initdb", "-D", self.data],
                       check=True, capture_output=True)
        self.log = open(os.path.join(root, "mirrordb.log"), "wb")
        self.process = subprocess.Popen(
            on_cpu([sys.executable, "-m", "mirrordb.cli.main", "server", "-D", self.data, "-c",
                    f"port={self.port}", "-c", "listen_addresses=127.0.0.1", "-c",
                    f"unix_socket_directories={self.data}"], 0),
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self.port, "postgres")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)
        self.log.close()


def pgbench(target: Target, script_path: str, mode: str, clients: int, seconds: int
            ) -> tuple[float, float]:
    result = subprocess.run(on_cpu([f"{PG_BIN}/pgbench", "-n", "-h", "127.0.0.1", "-p",
                                    str(target.port), "-U", "postgres", "-f", script_path,
                                    "-M", mode, "-c", str(clients), "-j", str(min(clients, 2)),
                                    "-T", str(seconds), "postgres"], 1),
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pgbench on {target.name} failed:\n{result.stdout}{result.stderr}")
    tps = float(re.search(r"tps = ([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms",  # type: ignore[union-attr]
                              result.stdout).group(1))
    return tps, latency


@dataclass
class Row:
    """One configuration's repeated measurements: (tps, latency ms) per run of each server."""

    script: str
    mode: str
    clients: int
    postgres: list[tuple[float, float]]
    mirrordb: list[tuple[float, float]]

    def median(self, runs: list[tuple[float, float]]) -> tuple[float, float]:
        return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))

    @property
    def ratio(self) -> float:
        return statistics.median(ours[0] / pg[0] for pg, ours in zip(self.postgres,
                                                                     self.mirrordb))


def configurations(only: str | None) -> list[tuple[str, str, int]]:
    chosen = [(script, mode, clients) for script in SCRIPTS for mode in ("simple", "prepared")
              for clients in (1, 8)]
    if only:
        chosen = [c for c in chosen if "/".join(map(str, c)) in only.split(",")]
    return chosen


def machine() -> str:
    load = os.getloadavg()
    return (f"{os.cpu_count()} CPUs, {platform.machine()}, Linux {platform.release()}, "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")


def print_markdown(rows: list[Row], args: argparse.Namespace) -> None:
    print(f"\n{time.strftime('%Y-%m-%d')}, {machine()}; --seconds {args.seconds} "
          f"--accounts {args.accounts} --repeat {args.repeat}: medians\n")
    print("| workload | protocol | clients | PostgreSQL 15 tps (latency ms) | "
          "mirrordb tps (latency ms) | ratio |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        pg, ours = row.median(row.postgres), row.median(row.mirrordb)
        print(f"| {row.script} | {row.mode} | {row.clients} | {pg[0]:.0f} ({pg[1]:.2f}) | "
              f"{ours[0]:.0f} ({ours[1]:.2f}) | {row.ratio:.3f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each configuration on each server; medians are shown")
    parser.add_argument("--only", help="comma-separated script/protocol/clients, e.g. "
                                       "select-only/prepared/1,tpcb-like/prepared/1")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--pin", action="store_true",
                        help="servers on CPU 0, pgbench on CPU 1 (taskset), for both systems")
    args = parser.parse_args()
    global PIN
    if args.pin:
        PIN = (0, 1)
    root = tempfile.mkdtemp(prefix="mirrordb-bench-")
    os.chmod(root, 0o755)
    postgres = PostgresServer(os.path.join(root, "pgroot"))
    mirrordb = MirrordbServer(root)
    try:
        targets = [Target("PostgreSQL 15", postgres.port), Target("mirrordb", mirrordb.port)]
        for target in targets:
            target.psql(SCHEMA.format(accounts=args.accounts))
        paths = {}
        for script_name, text in SCRIPTS.items():
            paths[script_name] = os.path.join(root, f"{script_name}.sql")
            with open(paths[script_name], "w") as handle:
                handle.write(text.format(accounts=args.accounts))
            os.chmod(paths[script_name], 0o644)
        rows = []
        for script_name, mode, clients in configurations(args.only):
            row = Row(script_name, mode, clients, [], [])
            for _ in range(args.repeat):
                pg = pgbench(targets[0], paths[script_name], mode, clients, args.seconds)
                ours = pgbench(targets[1], paths[script_name], mode, clients, args.seconds)
                row.postgres.append(pg)
                row.mirrordb.append(ours)
                print(f"{script_name:12} {mode:9} c={clients}: PostgreSQL {pg[0]:9.1f} tps "
                      f"{pg[1]:7.2f} ms | mirrordb {ours[0]:8.1f} tps {ours[1]:8.2f} ms | "
                      f"ratio {ours[0] / pg[0]:.3f}", flush=True)
            rows.append(row)
        if args.markdown:
            print_markdown(rows, args)
    finally:
        mirrordb.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
