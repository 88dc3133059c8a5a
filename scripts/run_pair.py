"""Run a primary and a streaming standby on this machine, the way a PostgreSQL user sets them up.

Used by ``make run``. First run: ``mirrordb initdb`` of the primary, start it, create a replication
role and a physical slot with SQL, ``mirrordb basebackup -R --slot`` into the standby's directory,
start the standby. Later runs reuse both directories. Both servers log into their directories;
Ctrl-C stops them (fast shutdown: the primary streams its shutdown checkpoint to the standby first).

Usage: python scripts/run_pair.py [--dir run] [--port 5433]   (the standby listens on port + 1)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading

import psycopg

REPLICATION_PASSWORD = "replicator"


def mirrordb(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "mirrordb.cli.main", *args], check=True)


def start(datadir: str, port: int) -> None:
    mirrordb("start", "-D", datadir, "-l", os.path.join(datadir, "server.log"), "-o",
             f"-c port={port} -c unix_socket_directories=/tmp")


def stop(datadir: str) -> None:
    if os.path.exists(os.path.join(datadir, "postmaster.pid")):
        subprocess.run([sys.executable, "-m", "mirrordb.cli.main", "stop", "-D", datadir,
                        "-m", "fast"])


def prepare_primary(primary: str, port: int) -> None:
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres",
                         autocommit=True) as conn:
        conn.execute(f"CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD "
                     f"'{REPLICATION_PASSWORD}'")
        conn.execute("SELECT pg_create_physical_replication_slot('standby1')")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="run")
    parser.add_argument("--port", type=int, default=5433)
    args = parser.parse_args()
    primary = os.path.abspath(os.path.join(args.dir, "primary"))
    standby = os.path.abspath(os.path.join(args.dir, "standby"))
    fresh = not os.path.exists(primary)
    if fresh:
        os.makedirs(args.dir, exist_ok=True)
        mirrordb("initdb", "-D", primary)
    start(primary, args.port)
    try:
        if fresh:
            prepare_primary(primary, args.port)
        if not os.path.exists(standby):
            os.environ["PGPASSWORD"] = REPLICATION_PASSWORD
            mirrordb("basebackup", "-h", "127.0.0.1", "-p", str(args.port), "-U", "replicator",
                     "-D", standby, "-R", "--slot", "standby1", "-X", "stream", "-P")
        start(standby, args.port + 1)
        print(f"\nprimary: psql -h localhost -p {args.port} -U postgres"
              f"\nstandby: psql -h localhost -p {args.port + 1} -U postgres   (read-only)"
              f"\nlogs:    {primary}/server.log, {standby}/server.log"
              "\nCtrl-C stops both.", flush=True)
        stopped = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        stopped.wait()
    finally:
        stop(primary)
        stop(standby)
    return 0


if __name__ == "__main__":
    sys.exit(main())
