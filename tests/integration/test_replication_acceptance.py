"""Acceptance: a seeded random workload on a primary, streamed to a standby set up as a user
would, leaves the standby's data files identical to the primary's, page for page.

Setup, typed as in the issue: a REPLICATION role with a password, a pg_hba.conf line for it
(scram-sha-256) and a reload, ``pg_create_physical_replication_slot('standby1')``, then
``mirrordb basebackup -U replicator -R --slot=standby1 -X stream -P`` and ``mirrordb server`` on
the copy.

Each round runs a random mix for ``ROUND_S`` seconds (DDL: tables, indexes, ADD COLUMN, drops;
inserts, updates, deletes, failed and rolled-back transactions, savepoints with rollbacks to them,
serial columns and sequences, VACUUM, CHECKPOINT, a text index large enough to split pages, role
changes), with a second session holding transactions open across the others' commits. After each
round the standby is caught up and every table, sequence and role is compared through SQL (hot
standby queries); updates of unindexed columns must have been HOT (n_tup_hot_upd). At the end:
CHECKPOINT on the primary and the standby's restartpoint at it, then a clean stop of the primary
(its shutdown checkpoint streams) and the standby's restartpoint there, a clean stop of the
standby, and ``mirrordb compare``.

MIRRORDB_REPLICATION_ROUNDS (default 2) sets the number of rounds for a soak run;
MIRRORDB_REPLICATION_SEED replays a failing seed (printed, and added to any failure).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
import pytest

from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.storage.control import read_control_file
from tests.integration.test_standby_streaming import (TOOL_TIMEOUT_S, basebackup, compare,
                                                      current_wal_lsn, poll, start_standby,
                                                      wait_for_restartpoint_at)
from tests.server_process import RunningServer, start_server

ROUNDS = int(os.environ.get("MIRRORDB_REPLICATION_ROUNDS", "2"))
ROUND_S = 5.0
REPLICATOR_PASSWORD = "secret-Pa55"
SLOT_NAME = "standby1"
MAX_TABLES = 6
MAX_ROLES = 4
SPLIT_ROWS = 1500          # rows of ~120-byte keys: enough to split the text index many times
HBA_LINE = "host    replication     replicator      127.0.0.1/32            scram-sha-256\n"


# -- setup as a user would --------------------------------------------------------------------


def prepend_hba_line(datadir: str, line: str) -> None:
    path = os.path.join(datadir, "pg_hba.conf")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(line + text)


def user_basebackup(primary: RunningServer, target: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, PGPASSWORD=REPLICATOR_PASSWORD)
    return subprocess.run(
        [sys.executable, "-m", "mirrordb.cli.main", "basebackup", "-h", "127.0.0.1", "-p",
         str(primary.port), "-U", "replicator", "-D", target, "-R", f"--slot={SLOT_NAME}",
         "-X", "stream", "-c", "fast", "-P"],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False, env=environment)


@pytest.fixture
def primary(template_cluster, tmp_path):
    datadir = str(tmp_path / "primary")
    shutil.copytree(template_cluster, datadir)
    server = start_server(datadir)
    yield server
    server.stop()


# -- the random workload ----------------------------------------------------------------------


@dataclass
class Table:
    name: str
    extra_columns: list[str] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)


@dataclass
class Workload:
    """The random mix; ``main`` runs DDL and DML, ``side`` holds transactions open on its own
    table across the main session's commits (never touched by DDL, so it never blocks)."""

    rng: random.Random
    main: psycopg.Connection
    side: psycopg.Connection
    tables: list[Table] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)
    counter: int = 0
    side_open: bool = False
    log: list[str] = field(default_factory=list)

    def sql(self, statement: str, connection: psycopg.Connection | None = None) -> None:
        self.log.append(statement)
        (connection or self.main).execute(statement)

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def text(self, length: int) -> str:
        return "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ")
                       for _ in range(length))

    # each operation leaves the main session outside a transaction

    def create_table(self) -> None:
        if len(self.tables) >= MAX_TABLES:
            return self.drop_table()
        table = Table(self.fresh("t"))
        self.sql(f"CREATE TABLE {table.name} (id serial PRIMARY KEY, k int NOT NULL, v text)")
        self.tables.append(table)
        self.insert_rows(table, self.rng.randint(1, 50))

    def drop_table(self) -> None:
        if len(self.tables) <= 1:
            return self.create_table()
        table = self.tables.pop(self.rng.randrange(len(self.tables)))
        self.sql(f"DROP TABLE {table.name}")

    def table(self) -> Table:
        if not self.tables:
            self.create_table()
        return self.rng.choice(self.tables)

    def create_index(self) -> None:
        table = self.table()
        index = self.fresh(f"{table.name}_i")
        column = self.rng.choice(["k", "v", *table.extra_columns])
        self.sql(f"CREATE INDEX {index} ON {table.name} ({column})")
        table.indexes.append(index)

    def drop_index(self) -> None:
        table = self.table()
        if not table.indexes:
            return self.create_index()
        index = table.indexes.pop(self.rng.randrange(len(table.indexes)))
        self.sql(f"DROP INDEX {index}")

    def add_column(self) -> None:
        table = self.table()
        column = self.fresh("c")
        self.sql(f"ALTER TABLE {table.name} ADD COLUMN {column} int")
        table.extra_columns.append(column)

    def insert_rows(self, table: Table, count: int) -> None:
        start = self.rng.randint(0, 10_000)
        width = self.rng.choice([0, 5, 40, 300])
        self.sql(f"INSERT INTO {table.name} (k, v) SELECT g, repeat('{self.text(5)}', "
                 f"{width // 5 + 1}) || g FROM generate_series({start}, {start + count - 1}) g")

    def insert(self) -> None:
        self.insert_rows(self.table(), self.rng.randint(1, 300))

    def update(self) -> None:
        table = self.table()
        modulus = self.rng.randint(2, 9)
        target = self.rng.choice(["k = k + 1", f"v = v || '{self.text(3)}'",
                                  *(f"{c} = k % 97" for c in table.extra_columns)])
        self.sql(f"UPDATE {table.name} SET {target} WHERE id % {modulus} = "
                 f"{self.rng.randrange(modulus)}")

    def delete(self) -> None:
        table = self.table()
        modulus = self.rng.randint(3, 12)
        self.sql(f"DELETE FROM {table.name} WHERE id % {modulus} = {self.rng.randrange(modulus)}")

    def rolled_back(self) -> None:
        table = self.table()
        self.sql("BEGIN")
        self.insert_rows(table, self.rng.randint(1, 200))
        self.sql(f"UPDATE {table.name} SET k = -k WHERE id % 2 = 0")
        self.sql("ROLLBACK")

    def failed(self) -> None:
        """A transaction ended by an error (a duplicate key), then rolled back."""
        table = self.table()
        self.sql("BEGIN")
        self.insert_rows(table, 3)
        self.log.append("-- duplicate key expected")
        with pytest.raises(psycopg.errors.UniqueViolation):
            self.main.execute(f"INSERT INTO {table.name} (id, k) SELECT id, k FROM {table.name} "
                              "UNION ALL SELECT 1, 1 UNION ALL SELECT 1, 1")
        self.sql("ROLLBACK")

    def savepoints(self) -> None:
        table = self.table()
        self.sql("BEGIN")
        self.insert_rows(table, self.rng.randint(1, 50))
        self.sql("SAVEPOINT a")
        self.sql(f"DELETE FROM {table.name} WHERE id % 3 = 0")
        self.sql("SAVEPOINT b")
        self.insert_rows(table, self.rng.randint(1, 50))
        self.sql(self.rng.choice(["ROLLBACK TO SAVEPOINT b", "RELEASE SAVEPOINT b"]))
        if self.rng.random() < 0.5:
            self.sql("ROLLBACK TO SAVEPOINT a")
        self.sql(f"UPDATE {table.name} SET k = k * 2 WHERE id % 5 = 1")
        self.sql(self.rng.choice(["COMMIT", "COMMIT", "ROLLBACK"]))

    def sequence(self) -> None:
        if not self.sequences or self.rng.random() < 0.2:
            name = self.fresh("s")
            self.sql(f"CREATE SEQUENCE {name}")
            self.sequences.append(name)
        name = self.rng.choice(self.sequences)
        self.sql(f"SELECT nextval('{name}') FROM generate_series(1, "
                 f"{self.rng.randint(1, 40)})")

    def vacuum(self) -> None:
        self.sql(f"VACUUM {self.table().name}")

    def checkpoint(self) -> None:
        self.sql("CHECKPOINT")

    def index_split(self) -> None:
        table = Table(self.fresh("split"))
        self.sql(f"CREATE TABLE {table.name} (id serial PRIMARY KEY, k int NOT NULL, v text)")
        index = f"{table.name}_v"
        self.sql(f"CREATE INDEX {index} ON {table.name} (v)")
        table.indexes.append(index)
        prefix = self.text(100)
        self.sql(f"INSERT INTO {table.name} (k, v) SELECT g, md5(g::text) || '{prefix}' "
                 f"FROM generate_series(1, {SPLIT_ROWS}) g")
        self.tables.append(table)

    def role(self) -> None:
        if len(self.roles) >= MAX_ROLES or (self.roles and self.rng.random() < 0.3):
            name = self.roles.pop(self.rng.randrange(len(self.roles)))
            self.sql(f"DROP ROLE {name}")
            return
        name = self.fresh("r")
        self.sql(f"CREATE ROLE {name} LOGIN PASSWORD '{self.text(8)}'")
        self.sql(f"ALTER ROLE {name} CONNECTION LIMIT {self.rng.randint(1, 9)}")
        self.roles.append(name)

    def side_step(self) -> None:
        """The second session: begin, insert into its own table, later commit or roll back."""
        if not self.side_open:
            self.sql("BEGIN", self.side)
            self.side_open = True
        self.sql(f"INSERT INTO side (note) VALUES ('{self.text(10)}')", self.side)
        if self.rng.random() < 0.4:
            self.sql(self.rng.choice(["COMMIT", "COMMIT", "ROLLBACK"]), self.side)
            self.side_open = False

    def finish_side(self) -> None:
        if self.side_open:
            self.sql("COMMIT", self.side)
            self.side_open = False

    def operations(self) -> list[tuple[Callable[[], None], int]]:
        return [(self.create_table, 4), (self.drop_table, 1), (self.create_index, 3),
                (self.drop_index, 1), (self.add_column, 2), (self.insert, 12),
                (self.update, 8), (self.delete, 5), (self.rolled_back, 3), (self.failed, 2),
                (self.savepoints, 4), (self.sequence, 3), (self.vacuum, 2),
                (self.checkpoint, 1), (self.role, 2), (self.side_step, 6)]

    def run_for(self, seconds: float) -> int:
        operations = self.operations()
        functions = [operation for operation, _ in operations]
        weights = [weight for _, weight in operations]
        deadline = time.monotonic() + seconds
        done = 0
        self.index_split()
        while time.monotonic() < deadline:
            self.rng.choices(functions, weights)[0]()
            done += 1
        self.finish_side()
        return done


# -- comparing through SQL --------------------------------------------------------------------


def snapshot(server: RunningServer, tables: list[str], sequences: list[str]) -> dict[str, object]:
    """What a client sees: every row of every table, sequence positions, roles."""
    seen: dict[str, object] = {}
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        for name in [*tables, "side"]:
            seen[name] = connection.execute(f"SELECT * FROM {name} ORDER BY id").fetchall()
        # pg_sequences, not SELECT FROM the sequence: mirrordb cannot read a sequence relation
        # as a table yet
        seen["sequences"] = dict(connection.execute(
            "SELECT sequencename, last_value FROM pg_sequences").fetchall())
        assert set(sequences) <= set(seen["sequences"]), (sequences, seen["sequences"])
        seen["roles"] = connection.execute(
            "SELECT rolname, rolcanlogin, rolconnlimit FROM pg_roles ORDER BY rolname").fetchall()
    return seen


def hot_update_count(server: RunningServer) -> int:
    """n_tup_hot_upd summed over the user tables that exist now."""
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute("SELECT sum(n_tup_hot_upd) FROM pg_stat_user_tables").fetchone()
    return int(row[0] or 0) if row else 0


def assert_same_contents(primary_view: dict[str, object], standby_view: dict[str, object],
                         what: str) -> None:
    """Rows and roles equal, the same sequences (their values are checked in
    ``test_standby_sequence_values_follow_the_primary``)."""
    primary_sequences = primary_view.pop("sequences")
    standby_sequences = standby_view.pop("sequences")
    assert standby_view == primary_view, f"{what}: standby differs"
    assert isinstance(primary_sequences, dict) and isinstance(standby_sequences, dict)
    assert set(standby_sequences) == set(primary_sequences), what


def sequence_values(server: RunningServer) -> dict[str, int | None]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return dict(connection.execute(
            "SELECT sequencename, last_value FROM pg_sequences").fetchall())


def replay_lsn(standby: RunningServer) -> int:
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        value = connection.execute("SELECT pg_last_wal_replay_lsn()").fetchone()
    return parse_lsn(str(value[0])) if value and value[0] else 0


def wait_for_standby_lsn(primary: RunningServer, standby: RunningServer, target: int) -> None:
    poll(lambda: replay_lsn(standby) >= target,
         f"standby replay to reach {format_lsn(target)}", servers=(primary, standby))


def slot_row(primary: RunningServer) -> tuple[object, ...] | None:
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        return connection.execute(
            "SELECT active, restart_lsn, wal_status FROM pg_replication_slots "
            "WHERE slot_name = %s", (SLOT_NAME,)).fetchone()


# -- the test ---------------------------------------------------------------------------------


def test_random_workload_leaves_identical_pages(primary, tmp_path):
    seed = int(os.environ.get("MIRRORDB_REPLICATION_SEED", random.randrange(2**32)))
    print(f"replication acceptance seed: {seed} (MIRRORDB_REPLICATION_SEED={seed} replays it)")
    standby: RunningServer | None = None
    workload: Workload | None = None
    try:
        prepend_hba_line(primary.datadir, HBA_LINE)
        with psycopg.connect(primary.dsn(), autocommit=True) as connection:
            connection.execute(f"CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD "
                               f"'{REPLICATOR_PASSWORD}'")
            connection.execute("SELECT pg_reload_conf()")
            assert connection.execute(
                f"SELECT pg_create_physical_replication_slot('{SLOT_NAME}')").fetchone() == \
                (f"({SLOT_NAME},)",)
            connection.execute("CREATE TABLE side (id serial PRIMARY KEY, note text)")
        standby_dir = str(tmp_path / "standby")
        result = user_basebackup(primary, standby_dir)
        assert result.returncode == 0, result.stderr
        with open(os.path.join(standby_dir, "postgresql.auto.conf"), encoding="utf-8") as handle:
            auto_conf = handle.read()
        assert "user=replicator" in auto_conf and f"primary_slot_name = '{SLOT_NAME}'" in auto_conf
        standby = start_standby(standby_dir)

        with psycopg.connect(primary.dsn(), autocommit=True) as main, \
                psycopg.connect(primary.dsn(), autocommit=True) as side:
            workload = Workload(random.Random(seed), main, side)
            hot_updates = 0
            for round_number in range(ROUNDS):
                operations = workload.run_for(ROUND_S)
                target = current_wal_lsn(primary)
                wait_for_standby_lsn(primary, standby, target)
                tables = [table.name for table in workload.tables]
                expected = snapshot(primary, tables, workload.sequences)
                seen = snapshot(standby, tables, workload.sequences)
                assert_same_contents(expected, seen, f"round {round_number} "
                                                     f"({operations} operations)")
                hot_updates = max(hot_updates, hot_update_count(primary))
            print(f"HOT updates counted (most in one round): {hot_updates}")
            assert hot_updates > 0          # updates of unindexed columns are heap-only
        active, restart_lsn, wal_status = slot_row(primary) or (None, None, None)
        assert active is True and wal_status == "reserved" and restart_lsn is not None
        with psycopg.connect(primary.dsn(), autocommit=True) as connection:
            assert connection.execute(
                "SELECT usename, state FROM pg_stat_replication").fetchall() == \
                [("replicator", "streaming")]

        # the same position on both sides: a checkpoint and the restartpoint at it, then the
        # shutdown checkpoint of a clean stop and the restartpoint there
        with psycopg.connect(primary.dsn(), autocommit=True) as connection:
            connection.execute("CHECKPOINT")
        checkpoint = read_control_file(primary.datadir).checkpoint
        wait_for_restartpoint_at(standby, checkpoint.redo)
        assert primary.stop() == 0
        shutdown_checkpoint = read_control_file(primary.datadir).checkpoint
        wait_for_restartpoint_at(standby, shutdown_checkpoint.redo)
        assert standby.stop() == 0
        compared = compare(primary.datadir, standby_dir)
        assert compared.returncode == 0, compared.stdout[-4000:] + compared.stderr
    except BaseException as error:
        error.add_note(f"replication acceptance seed {seed}; last statements: "
                       f"{workload.log[-15:] if workload else []}")
        raise
    finally:
        if standby is not None:
            standby.stop()


def test_standby_sequence_values_follow_the_primary(primary, tmp_path):
    """A sequence on a standby shows the value its last WAL record logged, which runs up to 32
    ahead of the primary's (PostgreSQL's SEQ_LOG_VALS): never behind it, also after the
    standby has read the sequence once."""
    with psycopg.connect(primary.dsn(), autocommit=True) as connection:
        connection.execute("CREATE SEQUENCE s")
        connection.execute("SELECT nextval('s') FROM generate_series(1, 10)")
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir)
    try:
        for _ in range(3):
            with psycopg.connect(primary.dsn(), autocommit=True) as connection:
                connection.execute("SELECT nextval('s') FROM generate_series(1, 45)")
            wait_for_standby_lsn(primary, standby, current_wal_lsn(primary))
            on_primary, on_standby = sequence_values(primary)["s"], sequence_values(standby)["s"]
            assert on_primary is not None and on_standby is not None
            assert on_primary <= on_standby <= on_primary + 32, (on_primary, on_standby)
    finally:
        standby.stop()
