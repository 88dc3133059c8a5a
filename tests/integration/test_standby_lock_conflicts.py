"""A hot standby replaying the primary's AccessExclusiveLocks (issue 5, lock conflicts).

One primary and one streaming standby serve the module; each test makes its own table and sets
``max_standby_streaming_delay`` on the standby with ALTER SYSTEM and ``pg_reload_conf()``:

* a standby query on a table the primary is dropping (its transaction still open) waits for the
  replayed lock, then finds the table gone, as on a primary; pg_locks on the standby shows the
  startup thread's AccessExclusiveLock;
* delay 0: a standby statement holding the table (it read it and sleeps) is cancelled at once by
  the replay of TRUNCATE: 40001 "canceling statement due to conflict with recovery", DETAIL "User
  was holding a relation lock for too long."; a session idle in its transaction block is
  terminated (FATAL, as PostgreSQL); pg_stat_database_conflicts.confl_lock counts them;
* a delay of several seconds and a session that ends within it: not cancelled, replay waits.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import psycopg
import pytest

from tests.integration.test_relation_locks import Background
from tests.integration.test_standby_streaming import (basebackup, execute, poll, start_standby,
                                                      wait_for_replay_catchup)
from tests.server_process import RunningServer, start_server

LOCK_DETAIL = "User was holding a relation lock for too long."
CANCEL_MESSAGE = "canceling statement due to conflict with recovery"
TERMINATE_MESSAGE = "terminating connection due to conflict with recovery"


@pytest.fixture(scope="module")
def pair(tmp_path_factory, template_cluster) -> Iterator[tuple[RunningServer, RunningServer]]:
    base = tmp_path_factory.mktemp("lock_conflicts")
    primary_dir = str(base / "primary")
    shutil.copytree(template_cluster, primary_dir)
    primary = start_server(primary_dir)
    standby = None
    try:
        basebackup(primary, str(base / "standby"))
        standby = start_standby(str(base / "standby"))
        yield primary, standby
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()


def value(server: RunningServer, sql: str) -> object:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute(sql).fetchone()
    assert row is not None
    return row[0]


def set_streaming_delay(standby: RunningServer, delay: str) -> None:
    execute(standby, f"ALTER SYSTEM SET max_standby_streaming_delay = '{delay}'",
            "SELECT pg_reload_conf()")
    poll(lambda: value(standby, "SHOW max_standby_streaming_delay") == delay,
         f"max_standby_streaming_delay = {delay}", servers=(standby,))


def table_on_both(primary: RunningServer, standby: RunningServer, name: str) -> None:
    execute(primary, f"CREATE TABLE {name} (id int)", f"INSERT INTO {name} VALUES (1), (2)")
    wait_for_replay_catchup(primary, standby)


def case(pair: tuple[RunningServer, RunningServer], delay: str, table: str
         ) -> tuple[RunningServer, RunningServer, int]:
    """The servers with the delay set and ``table`` on both; confl_lock so far."""
    primary, standby = pair
    set_streaming_delay(standby, delay)
    table_on_both(primary, standby, table)
    return primary, standby, confl_lock(standby)


def confl_lock(standby: RunningServer) -> int:
    return int(value(standby, "SELECT confl_lock FROM pg_stat_database_conflicts "  # type: ignore
                              "WHERE datname = 'postgres'"))


def replayed_lock_waits(standby: RunningServer) -> bool:
    """The standby's replay waits for an AccessExclusiveLock (pg_locks: not granted)."""
    return bool(value(standby, "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND "
                               "mode = 'AccessExclusiveLock' AND NOT granted"))


def test_a_standby_query_waits_for_the_dropping_transaction(pair) -> None:
    primary, standby, _ = case(pair, "30s", "doomed")
    oid = value(primary, "SELECT 'doomed'::regclass::oid")
    with psycopg.connect(primary.dsn(), autocommit=True) as dropper:
        dropper.execute("BEGIN")
        dropper.execute("DROP TABLE doomed")
        execute(primary, "CREATE TABLE flush_the_lock_record (id int)")   # its commit flushes
        wait_for_replay_catchup(primary, standby)
        assert value(standby, "SELECT mode FROM pg_locks WHERE locktype = 'relation' AND "
                              f"relation = {oid} AND granted") == "AccessExclusiveLock"
        with psycopg.connect(standby.dsn(), autocommit=True) as reader:
            read = Background(reader, "SELECT count(*) FROM doomed")
            poll(lambda: value(standby, "SELECT wait_event_type || '/' || wait_event FROM "
                                        f"pg_stat_activity WHERE pid = {read.pid}")
                 == "Lock/relation", "the standby query to wait for the replayed lock",
                 servers=(standby,))
            dropper.execute("COMMIT")
            read.join()
        assert isinstance(read.error, psycopg.errors.UndefinedTable), read.rows
        assert 'relation "doomed" does not exist' in str(read.error)


def test_delay_zero_cancels_a_statement_holding_the_table(pair) -> None:
    primary, standby, before = case(pair, "0", "busy")
    with psycopg.connect(standby.dsn(), autocommit=True) as reader:
        read = Background(reader, "SELECT pg_sleep(60) FROM busy WHERE id = 1")
        poll(lambda: value(standby, "SELECT wait_event FROM pg_stat_activity "
                                    f"WHERE pid = {read.pid}") == "PgSleep",
             "the standby statement to sleep holding the table", servers=(standby,))
        execute(primary, "TRUNCATE busy")
        read.join()                                # cancelled, long before the sleep ends
        error = read.error
        assert isinstance(error, psycopg.errors.SerializationFailure), read.rows
        assert error.diag.message_primary == CANCEL_MESSAGE
        assert error.diag.message_detail == LOCK_DETAIL
        assert reader.execute("SELECT 1").fetchone() == (1,)      # the session goes on
    wait_for_replay_catchup(primary, standby)
    assert value(standby, "SELECT count(*) FROM busy") == 0
    assert confl_lock(standby) == before + 1


def test_delay_zero_terminates_a_session_idle_in_its_transaction(pair) -> None:
    primary, standby, _ = case(pair, "0", "idle_holder")
    with psycopg.connect(standby.dsn()) as reader:
        assert reader.execute("SELECT count(*) FROM idle_holder").fetchone() == (2,)
        execute(primary, "DROP TABLE idle_holder")
        wait_for_replay_catchup(primary, standby)
        with pytest.raises(psycopg.OperationalError) as raised:
            reader.execute("SELECT 1")
    assert TERMINATE_MESSAGE in str(raised.value)
    assert raised.value.sqlstate == "40001", raised.value
    assert raised.value.diag.message_detail == LOCK_DETAIL
    assert value(standby, "SELECT count(*) FROM pg_class WHERE relname = 'idle_holder'") == 0


def test_lock_table_on_the_standby_up_to_row_exclusive(pair) -> None:
    """The modes a standby allows (up to ROW EXCLUSIVE) are real locks there, which replay of
    a TRUNCATE must then wait for; stronger modes are refused as PostgreSQL refuses them."""
    primary, standby, before = case(pair, "0", "locked_here")
    with psycopg.connect(standby.dsn(), autocommit=True) as session:
        session.execute("BEGIN")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction,
                           match="cannot execute LOCK TABLE during recovery"):
            session.execute("LOCK TABLE locked_here IN SHARE MODE")
        session.execute("ROLLBACK")
        session.execute("BEGIN")
        session.execute("LOCK TABLE locked_here IN ROW EXCLUSIVE MODE")
        assert session.execute("SELECT mode FROM pg_locks WHERE relation = "
                               "'locked_here'::regclass").fetchall() == [("RowExclusiveLock",)]
        execute(primary, "TRUNCATE locked_here")
        wait_for_replay_catchup(primary, standby)   # the session was in the way: gone
        with pytest.raises(psycopg.OperationalError, match=TERMINATE_MESSAGE):
            session.execute("SELECT 1")
    assert confl_lock(standby) == before + 1


def test_a_session_ending_within_the_delay_is_not_cancelled(pair) -> None:
    primary, standby, before = case(pair, "20s", "patient")
    with psycopg.connect(standby.dsn(), autocommit=True) as reader:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM patient").fetchone() == (2,)
        execute(primary, "TRUNCATE patient")
        poll(lambda: replayed_lock_waits(standby), "replay to wait for the reader",
             servers=(standby,))
        assert reader.execute("SELECT count(*) FROM patient").fetchone() == (2,)
        reader.execute("COMMIT")
    wait_for_replay_catchup(primary, standby)
    assert value(standby, "SELECT count(*) FROM patient") == 0
    assert confl_lock(standby) == before
