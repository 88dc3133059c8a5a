"""pgbench against mirrordb and PostgreSQL 15 side by side, in one run, on the same machine.

Starts a PostgreSQL 15 cluster (the distribution's initdb/pg_ctl, run as the unprivileged
``postgres`` account when this runs as root) and a mirrordb server, both on loopback, loads the same
pgbench tables into each through SQL, and runs the same custom scripts against both: select-only and
TPC-B-like, ``-M simple`` and ``-M prepared``, 1 and 8 clients. Prints tps, average latency and the
ratio mirrordb/PostgreSQL for each; ``--markdown`` prints the table for bench/README.md.

Usage: .venv/bin/python bench/server_bench.py [--seconds 10] [--accounts 10000] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

PG_BIN = "/usr/lib/postgresql/15/bin"
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
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *command]


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


class PostgresServer:
    def __init__(self, root: str) -> None:
        self.data = os.path.join(root, "pg")
        self.port = free_port()
        os.makedirs(root, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        subprocess.run(as_postgres([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres",
                                    "--auth=trust"]), check=True, capture_output=True)
        subprocess.run(as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l",
                                    os.path.join(self.data, "log"), "-w", "-o",
                                    f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1",
                                    "start"]), check=True, capture_output=True)
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
            [sys.executable, "-m", "mirrordb.cli.main", "server", "-D", self.data, "-c",
             f"port={self.port}", "-c", "listen_addresses=127.0.0.1", "-c",
             f"unix_socket_directories={self.data}"], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self.port, "postgres")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)
        self.log.close()


def pgbench(target: Target, script_path: str, mode: str, clients: int, seconds: int
            ) -> tuple[float, float]:
    result = subprocess.run([f"{PG_BIN}/pgbench", "-n", "-h", "127.0.0.1", "-p",
                             str(target.port), "-U", "postgres", "-f", script_path, "-M", mode,
                             "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds),
                             "postgres"], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pgbench on {target.name} failed:\n{result.stdout}{result.stderr}")
    tps = float(re.search(r"tps = ([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms",  # type: ignore[union-attr]
                              result.stdout).group(1))
    return tps, latency


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="mirrordb-bench-")
    os.chmod(root, 0o755)
    postgres = PostgresServer(os.path.join(root, "pgroot"))
    mirrordb = MirrordbServer(root)
    try:
        targets = [Target("PostgreSQL 15", postgres.port), Target("mirrordb", mirrordb.port)]
        for target in targets:
            target.psql(SCHEMA.format(accounts=args.accounts))
        rows = []
        for script_name, text in SCRIPTS.items():
            path = os.path.join(root, f"{script_name}.sql")
            with open(path, "w") as handle:
                handle.write(text.format(accounts=args.accounts))
            os.chmod(path, 0o644)
            for mode in ("simple", "prepared"):
                for clients in (1, 8):
                    pg = pgbench(targets[0], path, mode, clients, args.seconds)
                    ours = pgbench(targets[1], path, mode, clients, args.seconds)
                    rows.append((script_name, mode, clients, pg, ours))
                    print(f"{script_name:12} {mode:9} c={clients}: PostgreSQL {pg[0]:9.1f} tps "
                          f"{pg[1]:7.2f} ms | mirrordb {ours[0]:8.1f} tps {ours[1]:8.2f} ms | "
                          f"ratio {ours[0] / pg[0]:.3f}", flush=True)
        if args.markdown:
            print("\n| workload | protocol | clients | PostgreSQL 15 tps (latency ms) | "
                  "mirrordb tps (latency ms) | ratio |")
            print("|---|---|---|---|---|---|")
            for script_name, mode, clients, pg, ours in rows:
                print(f"| {script_name} | {mode} | {clients} | {pg[0]:.0f} ({pg[1]:.2f}) | "
                      f"{ours[0]:.0f} ({ours[1]:.2f}) | {ours[0] / pg[0]:.3f} |")
    finally:
        mirrordb.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
