"""A standby's restartpoints are the checkpointer's (recovery/checkpoint.py): replay goes on while
one writes pages, pg_control then names the replayed checkpoint, and CHECKPOINT on a hot standby
asks for one, as on a PostgreSQL standby. The last test checks pg_last_wal_receive_lsn() on a
standby that has received nothing yet.

The in-process tests feed a standby ``Engine`` by copying WAL segment files, as
test_promotion_engine.py does; the last two run real servers.
"""

from __future__ import annotations

import os
import threading
import time

import psycopg
import pytest

from mirrordb.common.lsn import format_lsn, parse_lsn
from mirrordb.engine import Engine
from mirrordb.storage.control import DBState, read_control_file
# the fixture (a primary Engine with table t, a standby Engine on a copy) is that module's
from tests.integration.test_promotion_engine import ids, primary_and_standby, ship_wal  # noqa: F401
from tests.integration.test_standby_streaming import (basebackup, execute, poll,
                                                      streaming_pair, wait_for_replay_catchup)

DEADLINE_S = 30.0


def insert_rows(engine: Engine, keys: range) -> None:
    with engine.begin() as txn:
        for key in keys:
            txn.insert("t", [key, "x" * 200])


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_replay_goes_on_while_the_checkpointer_makes_a_restartpoint(primary_and_standby):
    primary, standby = primary_and_standby
    startup = standby.startup
    assert startup is not None
    insert_rows(primary, range(500))
    primary.checkpoint()
    redo = primary.control.checkpoint.redo
    ship_wal(primary, standby)
    assert startup.replay_available() > 0 and startup.restartpoint_possible()

    # hold the restartpoint just before it writes the pages
    entered, release = threading.Event(), threading.Event()
    flush_all = standby.pool.flush_all

    def held_flush_all() -> int:
        entered.set()
        assert release.wait(DEADLINE_S)
        return flush_all()

    standby.pool.flush_all = held_flush_all  # type: ignore[method-assign]
    standby.checkpointer.request()
    assert entered.wait(DEADLINE_S)
    assert threading.current_thread().name != "checkpointer"

    insert_rows(primary, range(500, 1000))   # replayed while the restartpoint is held
    ship_wal(primary, standby)
    assert startup.replay_available() > 0
    assert startup.state.last_replayed_end_lsn == primary.wal.end_lsn
    assert ids(standby) == set(range(1000))
    assert read_control_file(standby.datadir).checkpoint.redo < redo   # not yet

    release.set()
    # counted once finished, after pg_control was written and old segments removed
    wait_until(lambda: startup.restartpoints_done == 1,
               "the restartpoint at the primary's checkpoint")
    control = read_control_file(standby.datadir)
    assert control.checkpoint.redo == redo
    assert control.state == DBState.DB_IN_ARCHIVE_RECOVERY
    assert control.min_recovery_point >= startup.last_checkpoint_replayed[1]  # type: ignore[index]
    assert not startup.restartpoint_possible()


def test_min_recovery_point_is_only_raised(primary_and_standby):
    _, standby = primary_and_standby
    stored = standby.control.min_recovery_point
    standby.update_control(min_recovery_point_at_least=stored - 8)      # a stale, lower value
    assert read_control_file(standby.datadir).min_recovery_point == stored
    standby.update_control(min_recovery_point_at_least=stored + 8)
    assert read_control_file(standby.datadir).min_recovery_point == stored + 8


def test_a_clean_stop_waits_for_the_restartpoint_under_way(primary_and_standby, tmp_path):
    primary, standby = primary_and_standby
    startup = standby.startup
    assert startup is not None
    insert_rows(primary, range(300))
    primary.checkpoint()
    ship_wal(primary, standby)
    startup.replay_available()
    entered, release = threading.Event(), threading.Event()
    sync_all = standby.smgr.sync_all

    def held_sync_all() -> None:
        entered.set()
        assert release.wait(DEADLINE_S)
        sync_all()

    standby.smgr.sync_all = held_sync_all  # type: ignore[method-assign]
    standby.checkpointer.request()
    assert entered.wait(DEADLINE_S)
    closing = threading.Thread(target=standby.close)
    closing.start()
    closing.join(0.2)
    assert closing.is_alive()           # close waits for the checkpointer's restartpoint
    release.set()
    closing.join(DEADLINE_S)
    assert not closing.is_alive()
    control = read_control_file(standby.datadir)
    assert control.state == DBState.DB_SHUTDOWNED_IN_RECOVERY
    assert control.checkpoint.redo == primary.control.checkpoint.redo
    reopened = Engine.open(standby.datadir, standby_mode=True)
    try:
        assert ids(reopened) == set(range(300))
    finally:
        reopened.close()


@pytest.fixture
def servers(template_cluster, tmp_path):
    """A primary server with table c and role plain, and a streaming standby of it, caught up."""
    with streaming_pair(template_cluster, str(tmp_path), "CREATE TABLE c (id int)",
                        "CREATE ROLE plain LOGIN") as pair:
        yield pair


def test_checkpoint_on_a_hot_standby_makes_a_restartpoint(servers):
    primary, standby = servers
    backup_redo = read_control_file(standby.datadir).checkpoint.redo
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        # nothing newer than the backup's checkpoint replayed: no restartpoint, no error
        assert connection.execute("CHECKPOINT").statusmessage == "CHECKPOINT"
        assert read_control_file(standby.datadir).checkpoint.redo == backup_redo

        execute(primary, "INSERT INTO c SELECT g FROM generate_series(1, 100) g", "CHECKPOINT")
        wait_for_replay_catchup(primary, standby)
        assert connection.execute("CHECKPOINT").statusmessage == "CHECKPOINT"
        assert read_control_file(standby.datadir).checkpoint.redo == \
            read_control_file(primary.datadir).checkpoint.redo
        redo, min_recovery = connection.execute(
            "SELECT c.redo_lsn::text, r.min_recovery_end_lsn::text "
            "FROM pg_control_checkpoint() c, pg_control_recovery() r").fetchone()
        assert parse_lsn(redo) == read_control_file(primary.datadir).checkpoint.redo
        assert parse_lsn(min_recovery) > parse_lsn(redo)     # at least the checkpoint's end
        assert connection.execute("SELECT pg_is_in_recovery(), count(*) FROM c"
                                  ).fetchone() == (True, 100)
    with psycopg.connect(standby.dsn(user="plain"), autocommit=True) as connection:
        with pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match="must be superuser or have privileges of pg_checkpoint"):
            connection.execute("CHECKPOINT")
    poll(lambda: standby.log().count("recovery restart point at") == 1, "one restartpoint",
         servers=(standby,))


def test_a_base_backup_from_a_standby_starts_at_a_fresh_restartpoint(servers, tmp_path):
    primary, standby = servers
    execute(primary, "INSERT INTO c SELECT g FROM generate_series(1, 50) g", "CHECKPOINT")
    wait_for_replay_catchup(primary, standby)
    redo = read_control_file(primary.datadir).checkpoint.redo
    assert read_control_file(standby.datadir).checkpoint.redo < redo

    copy_dir = str(tmp_path / "copy")
    basebackup(standby, copy_dir)       # PostgreSQL's backup start asks for a restartpoint
    assert read_control_file(standby.datadir).checkpoint.redo == redo
    with open(os.path.join(copy_dir, "backup_label")) as label:
        assert f"START WAL LOCATION: {format_lsn(redo)} " in label.read()


def test_receive_lsn_names_the_streaming_start_before_wal_arrives(servers):
    _, standby = servers
    with psycopg.connect(standby.dsn(), autocommit=True) as connection:
        received, start, flushed = poll(lambda: connection.execute(
            "SELECT pg_last_wal_receive_lsn()::text, receive_start_lsn::text, flushed_lsn::text "
            "FROM pg_stat_wal_receiver WHERE status = 'streaming'").fetchone(),
            "the walreceiver streaming", servers=(standby,))
    assert received is not None and received == flushed       # PostgreSQL's flushedUpto
    assert parse_lsn(received) >= parse_lsn(start)
