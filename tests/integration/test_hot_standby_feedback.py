"""Acceptance: hot_standby_feedback (issue 5, MISSION.md exercise 2, second half).

A primary (autovacuum off, so every VACUUM is the one typed here) and a standby streaming without
a slot, then one with a slot:

* exercise 2, step by step with psql: with ``max_standby_streaming_delay = 0`` and
  ``hot_standby_feedback = on`` (ALTER SYSTEM on the standby, ``pg_reload_conf()``), a standby
  query sleeping in pg_sleep() inside a REPEATABLE READ snapshot that still sees rows the primary
  deletes is not cancelled: the primary's VACUUM VERBOSE reports them "dead but not yet
  removable", pg_stat_replication.backend_xmin shows the standby's xmin, and once the standby
  transaction ends a VACUUM removes them;
* turning feedback off (ALTER SYSTEM, reload) releases the primary's horizon;
* through a slot: pg_replication_slots.xmin holds the horizon, is written at the shutdown
  checkpoint and survives a primary restart (VACUUM still keeps the rows), and is cleared when
  the standby turns feedback off.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import psycopg
import pytest

from tests.integration.test_recovery_conflicts import (SESSION_DEADLINE_S, one, psql,
                                                       psql_command, running_pair)
from tests.integration.test_standby_streaming import (basebackup, execute, poll, start_standby,
                                                      wait_for_replay_catchup)
from tests.server_process import RunningServer, start_server

ROWS = 1000
DELETED = 500
SLOT = "feedback_slot"


PRIMARY_SETTINGS = {"autovacuum": "off"}


def start_primary(datadir: str, port: int | None = None) -> RunningServer:
    return start_server(datadir, port, **PRIMARY_SETTINGS)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, template_cluster) -> Iterator[tuple[RunningServer, RunningServer]]:
    with running_pair(tmp_path_factory.mktemp("feedback"), template_cluster,
                      PRIMARY_SETTINGS) as servers:
        yield servers


class TypedSession:
    """psql on the standby reading what the test types, line by line, as a user would."""

    def __init__(self, server: RunningServer) -> None:
        self.process = subprocess.Popen(psql_command(server) + ["-f", "-"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def finish(self) -> tuple[int, str, str]:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(SESSION_DEADLINE_S)
        assert self.process.stdout is not None and self.process.stderr is not None
        return self.process.returncode, self.process.stdout.read(), self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def vacuum_verbose(primary: RunningServer, table: str) -> tuple[int, int, int]:
    """VACUUM VERBOSE through psql: (removed, remain, dead but not yet removable)."""
    result = subprocess.run(psql_command(primary) + ["-c", f"VACUUM VERBOSE {table}"],
                            capture_output=True, text=True, timeout=SESSION_DEADLINE_S,
                            check=True)
    match = re.search(r"tuples: (\d+) removed, (\d+) remain, (\d+) are dead but not yet "
                      r"removable", result.stderr)
    assert match is not None, result.stderr
    assert re.search(r"removable cutoff: \d+, which was \d+ XIDs old when operation ended",
                     result.stderr), result.stderr
    removed, remain, dead = (int(group) for group in match.groups())
    return removed, remain, dead


def backend_xmin(primary: RunningServer) -> object:
    return one(primary, "SELECT max(backend_xmin::text) FROM pg_stat_replication")


def session_state(standby: RunningServer, query: str) -> object:
    """The state of the session whose last statement began with ``query``."""
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        row = connection.execute("SELECT state FROM pg_stat_activity WHERE query LIKE %s",
                                 (query + "%",)).fetchone()
    return None if row is None else row[0]


def set_feedback(standby: RunningServer, value: str) -> None:
    psql(standby, f"ALTER SYSTEM SET hot_standby_feedback = {value}", "SELECT pg_reload_conf()")
    poll(lambda: one(standby, "SHOW hot_standby_feedback") == value, "the reload",
         servers=(standby,))


def test_exercise_2_feedback_holds_vacuum_until_the_standby_query_ends(pair):
    primary, standby = pair
    psql(standby, "ALTER SYSTEM SET max_standby_streaming_delay = 0", "SELECT pg_reload_conf()")
    set_feedback(standby, "on")
    poll(lambda: backend_xmin(primary) is not None, "the primary to get the standby's xmin",
         servers=(primary, standby))
    psql(primary, "CREATE TABLE reports (id int, note text)",
         f"INSERT INTO reports SELECT g, 'row ' || g FROM generate_series(1, {ROWS}) g")
    wait_for_replay_catchup(primary, standby)
    session = TypedSession(standby)
    try:
        session.type("BEGIN ISOLATION LEVEL REPEATABLE READ;")
        session.type("SELECT count(*) FROM reports;")
        session.type("SELECT pg_sleep(1);")
        poll(lambda: session_state(standby, "SELECT pg_sleep(1)") == "idle in transaction",
             "the standby query to have slept", servers=(standby,))
        psql(primary, f"DELETE FROM reports WHERE id <= {DELETED}")
        assert vacuum_verbose(primary, "reports") == (0, ROWS, DELETED)
        wait_for_replay_catchup(primary, standby)
        session.type("SELECT count(*) FROM reports;")      # the snapshot still sees them all
        session.type("COMMIT;")
        returncode, output, errors = session.finish()
    finally:
        session.kill()
    assert returncode == 0 and "ERROR" not in errors and "FATAL" not in errors, errors
    assert output.count(f" {ROWS}\n") == 2 and "COMMIT" in output
    removed: list[tuple[int, int, int]] = []
    poll(lambda: removed.append(vacuum_verbose(primary, "reports")) or removed[-1][0] > 0,
         "a VACUUM to remove the rows once the standby query ended", servers=(primary,))
    assert removed[-1] == (DELETED, ROWS - DELETED, 0)
    wait_for_replay_catchup(primary, standby)
    assert one(standby, "SELECT count(*) FROM reports") == ROWS - DELETED


def test_turning_feedback_off_releases_the_horizon(pair):
    primary, standby = pair
    set_feedback(standby, "on")
    poll(lambda: backend_xmin(primary) is not None, "the standby's xmin",
         servers=(primary, standby))
    set_feedback(standby, "off")
    poll(lambda: backend_xmin(primary) is None, "the primary to forget the standby's xmin",
         servers=(primary, standby))


def slot_xmin(primary: RunningServer) -> object:
    return one(primary, f"SELECT xmin::text FROM pg_replication_slots WHERE slot_name = '{SLOT}'")


def test_slot_xmin_survives_a_primary_restart_and_is_released(template_cluster, tmp_path):
    primary_dir, standby_dir = str(tmp_path / "primary"), str(tmp_path / "standby")
    shutil.copytree(template_cluster, primary_dir)
    primary = start_primary(primary_dir)
    standby = None
    try:
        execute(primary, f"SELECT pg_create_physical_replication_slot('{SLOT}')",
                "CREATE TABLE kept (id int)",
                f"INSERT INTO kept SELECT g FROM generate_series(1, {ROWS}) g")
        basebackup(primary, standby_dir, f"--slot={SLOT}")
        standby = start_standby(standby_dir)
        set_feedback(standby, "on")
        held = poll(lambda: slot_xmin(primary), "the slot's xmin", servers=(primary, standby))
        assert backend_xmin(primary) is None            # with a slot, the slot holds it
        standby.stop()
        port = primary.port
        primary.stop()
        primary = start_primary(primary_dir, port)
        assert slot_xmin(primary) == held
        execute(primary, f"DELETE FROM kept WHERE id <= {DELETED}")
        assert vacuum_verbose(primary, "kept") == (0, ROWS, DELETED)
        standby = start_standby(standby_dir)
        set_feedback(standby, "off")
        poll(lambda: slot_xmin(primary) is None, "the slot's xmin to be released",
             servers=(primary, standby))
        assert vacuum_verbose(primary, "kept") == (DELETED, ROWS - DELETED, 0)
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()
