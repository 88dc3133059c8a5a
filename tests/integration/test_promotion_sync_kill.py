"""No acknowledged commit is lost (issue 5): a primary with one synchronous standby is killed
with SIGKILL at a random moment while clients commit; the standby is promoted and must hold
every row whose COMMIT returned.

Each round, on real processes:

1. The primary (``synchronous_standby_names = 'standby'``, ``synchronous_commit = on``, set with
   ALTER SYSTEM so base backups carry them) streams to a standby whose walreceiver calls itself
   ``standby``; the round starts once pg_stat_replication shows it ``sync``.
2. ``CLIENTS`` sessions insert unique ids, one autocommit INSERT each, and record an id only
   when its COMMIT returned; a commit cut off by the kill is unknown, not recorded.
3. After the first acknowledged commit and a random delay, the primary gets SIGKILL.
4. ``mirrordb promote`` promotes the standby; every recorded id must be there. Every other
   round the standby's replay is paused before the clients start (``synchronous_commit = on``
   waits for the flush, not the replay) and ``pg_promote()`` promotes it: then the
   acknowledged commits are in its pg_wal but not replayed, and promotion must replay them.
5. The promoted server is the next round's primary: a fresh standby is made from it with
   ``mirrordb basebackup -R``; the dead primary's directory is removed.

``MIRRORDB_SYNC_KILL_ROUNDS`` sets the number of rounds (default ``DEFAULT_ROUNDS``) for longer
soaks; ``MIRRORDB_SYNC_KILL_SEED`` replays a run (the seed is in every failure message).
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from dataclasses import dataclass, field

import psycopg
import pytest

from tests.integration.test_promotion import in_recovery, mirrordb
from tests.integration.test_standby_streaming import basebackup, execute, poll, start_standby
from tests.server_process import RunningServer, start_server

pytest.importorskip("mirrordb.replication.syncrep",
                    reason="synchronous replication (issue 5, task S5) is not in this tree yet")

DEFAULT_ROUNDS = 20
CLIENTS = 4
KILL_DELAY_S = (0.0, 0.4)          # after the first acknowledged commit of the round
CLIENT_CONNECT_TIMEOUT_S = 10
STANDBY_NAME = "standby"


@dataclass
class Acknowledged:
    """Ids whose INSERT's commit returned, from every client thread."""

    ids: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    first: threading.Event = field(default_factory=threading.Event)

    def add(self, value: int) -> None:
        with self.lock:
            self.ids.append(value)
        self.first.set()


def client(server: RunningServer, first_id: int, acknowledged: Acknowledged,
           stop: threading.Event) -> None:
    """Insert first_id, first_id + 1, ... until the connection dies (or ``stop``)."""
    try:
        with psycopg.connect(server.dsn(), autocommit=True,
                             connect_timeout=CLIENT_CONNECT_TIMEOUT_S) as connection:
            next_id = first_id
            while not stop.is_set():
                connection.execute("INSERT INTO acked VALUES (%s)", (next_id,))
                acknowledged.add(next_id)
                next_id += 1
    except psycopg.Error:
        return   # the primary died: the commit in flight, if any, is unknown


def standby_of(primary: RunningServer, datadir: str) -> RunningServer:
    basebackup(primary, datadir)
    conninfo = (f"host=127.0.0.1 port={primary.port} user=postgres "
                f"application_name={STANDBY_NAME}")
    standby = start_standby(datadir, primary_conninfo=conninfo)
    poll(lambda: sync_state(primary) == "sync", "the standby to be synchronous",
         servers=(primary, standby))
    return standby


def sync_state(primary: RunningServer) -> str | None:
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        row = connection.execute(
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s "
            "AND state = 'streaming'", (STANDBY_NAME,)).fetchone()
    return None if row is None else str(row[0])


def promoted_ids(server: RunningServer) -> set[int]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return {int(row[0]) for row in connection.execute("SELECT id FROM acked")}


def promote(standby: RunningServer, paused: bool) -> None:
    """``mirrordb promote``, or pg_promote() for a paused standby."""
    if paused:
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            assert connection.execute("SELECT pg_is_wal_replay_paused()").fetchone() == (True,)
            row = connection.execute("SELECT pg_promote()").fetchone()
        assert row == (True,), standby.log()[-3000:]
    else:
        result = mirrordb("promote", "-D", standby.datadir)
        assert result.returncode == 0, result.stderr + standby.log()[-3000:]
    assert not in_recovery(standby)


def run_round(primary: RunningServer, standby: RunningServer, round_number: int,
              rng: random.Random) -> int:
    """Steps 2-4; returns how many commits were acknowledged."""
    acknowledged = Acknowledged()
    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(
        primary, (round_number * CLIENTS + number) * 1_000_000, acknowledged, stop))
        for number in range(CLIENTS)]
    for thread in threads:
        thread.start()
    paused = round_number % 2 == 1
    if paused:
        execute(standby, "SELECT pg_wal_replay_pause()")
    try:
        assert acknowledged.first.wait(60), "no commit was acknowledged"
        time.sleep(rng.uniform(*KILL_DELAY_S))   # the random moment of the kill
        primary.kill()
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    promote(standby, paused)
    missing = set(acknowledged.ids) - promoted_ids(standby)
    assert not missing, (f"round {round_number}: {len(missing)} acknowledged commits lost, "
                         f"e.g. {sorted(missing)[:5]}")
    return len(acknowledged.ids)


def test_no_acknowledged_commit_is_lost(template_cluster, tmp_path):
    rounds = int(os.environ.get("MIRRORDB_SYNC_KILL_ROUNDS", DEFAULT_ROUNDS))
    seed = int(os.environ.get("MIRRORDB_SYNC_KILL_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    first_dir = str(tmp_path / "node0")
    shutil.copytree(template_cluster, first_dir)
    primary = start_server(first_dir)
    standby: RunningServer | None = None
    total = 0
    try:
        execute(primary, "CREATE TABLE acked (id bigint PRIMARY KEY)",
                f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'",
                "ALTER SYSTEM SET synchronous_commit = 'on'", "SELECT pg_reload_conf()")
        for round_number in range(rounds):
            standby = standby_of(primary, str(tmp_path / f"node{round_number + 1}"))
            try:
                total += run_round(primary, standby, round_number, rng)
            except AssertionError as error:
                raise AssertionError(f"{error} (MIRRORDB_SYNC_KILL_SEED={seed})") from error
            shutil.rmtree(primary.datadir, ignore_errors=True)
            primary, standby = standby, None
        assert total >= rounds
    finally:
        for server in (standby, primary):
            if server is not None:
                server.kill()
