"""Crash test through the server: clients commit over the wire while the server process is killed
with SIGKILL; after ``mirrordb start`` every commit a client saw acknowledged is there.

Rounds: MIRRORDB_SERVER_CRASH_ROUNDS (default 3; raise it for a soak run).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from tests.server_process import free_port, start_server

ROUNDS = int(os.environ.get("MIRRORDB_SERVER_CRASH_ROUNDS", "3"))
CLIENTS = 4
RUN_BEFORE_KILL_S = (0.3, 1.2)
START_DEADLINE_S = 60.0


def mirrordb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mirrordb.cli.main", *args],
                          capture_output=True, text=True, timeout=120)


def postmaster_pid(datadir: str) -> int:
    with open(os.path.join(datadir, "postmaster.pid")) as handle:
        return int(handle.readline())


def client_loop(dsn: str, client: int, acknowledged: list[int], stop: threading.Event) -> None:
    sequence = client * 1_000_000
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            while not stop.is_set():
                sequence += 1
                if sequence % 3:
                    conn.execute("insert into acked (id, client) values (%s, %s)",
                                 (sequence, client))
                else:
                    with conn.transaction():
                        conn.execute("insert into acked (id, client) values (%s, %s)",
                                     (sequence, client))
                        conn.execute("update counters set n = n + 1 where client = %s",
                                     (client,))
                acknowledged.append(sequence)
    except psycopg.Error:
        return   # the server died under us: whatever was acknowledged is recorded


@pytest.mark.soak
def test_acknowledged_commits_survive_sigkill(cluster, tmp_path):
    port = free_port()
    server = start_server(cluster, port=port)
    with server.connect(autocommit=True) as conn:
        conn.execute("create table acked (id bigint primary key, client int)")
        conn.execute("create table counters (client int primary key, n int not null)")
        conn.execute("insert into counters select g, 0 from generate_series(0, %s) g"
                     % (CLIENTS - 1))
    dsn = server.dsn()
    acknowledged: list[int] = []
    rng = random.Random(20261121)
    log = os.path.join(str(tmp_path), "start.log")
    try:
        run_rounds(server, cluster, port, dsn, acknowledged, rng, log)
    finally:
        if server.process.poll() is None:
            server.kill()
        if os.path.exists(os.path.join(cluster, "postmaster.pid")):
            try:
                os.kill(postmaster_pid(cluster), signal.SIGKILL)   # the server we started
            except (ProcessLookupError, ValueError):
                pass
    assert len(acknowledged) > 0


def run_rounds(server, cluster, port, dsn, acknowledged, rng, log) -> None:
    for round_number in range(ROUNDS):
        stop = threading.Event()
        threads = [threading.Thread(target=client_loop, args=(dsn, c, acknowledged, stop))
                   for c in range(CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(*RUN_BEFORE_KILL_S))   # let commits happen, then crash mid-way
        pid = server.pid if round_number == 0 else postmaster_pid(cluster)
        os.kill(pid, signal.SIGKILL)
        if round_number == 0:
            server.process.wait(30)
        stop.set()
        for thread in threads:
            thread.join(60)
        started = mirrordb("start", "-D", cluster, "-l", log, "-t", str(int(START_DEADLINE_S)),
                           "-o", f"-c port={port} -c listen_addresses=127.0.0.1 "
                                 f"-c unix_socket_directories={cluster}")
        assert started.returncode == 0, started.stdout + started.stderr + open(log).read()
        with psycopg.connect(dsn, autocommit=True) as conn:
            present = {row[0] for row in conn.execute("select id from acked")}
            missing = set(acknowledged) - present
            assert not missing, f"round {round_number}: lost acknowledged commits {sorted(missing)[:10]}"
            counted = conn.execute("select sum(n) from counters").fetchone()[0]
            in_pairs = conn.execute("select count(*) from acked where id % 3 = 0").fetchone()[0]
            assert counted == in_pairs   # the two-statement transactions are atomic
    stopped = mirrordb("stop", "-D", cluster, "-m", "fast")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
