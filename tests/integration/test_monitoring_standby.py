"""Monitoring on a standby, as PostgreSQL 15 shows it.

pg_stat_bgwriter counts a standby's restartpoints with the checkpoints: one that
``checkpoint_timeout`` started as checkpoints_timed (also when there is nothing to restart
from yet: the checkpointer then tries again RESTARTPOINT_RETRY_S later), the others (CHECKPOINT,
the WAL volume, a base backup's start) as checkpoints_req, and the buffers a restartpoint
writes and its write and sync times as a checkpoint's. The in-process tests drive a standby
``Engine`` fed by copied WAL segments; the last one runs a real primary and a streaming hot
standby and calls the monitoring functions there: those PostgreSQL allows in recovery work,
pg_walfile_name_offset is refused with 55000.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from mirrordb.common.lsn import parse_lsn
from mirrordb.engine import Engine
from mirrordb.recovery.checkpoint import RESTARTPOINT_RETRY_S
# the fixture (a primary Engine with table t, a standby Engine on a copy) is that module's
from tests.integration.test_promotion_engine import primary_and_standby, ship_wal  # noqa: F401
from tests.integration.test_restartpoints import insert_rows, wait_until
from tests.integration.test_standby_streaming import poll, streaming_pair

BGWRITER_COLUMNS = ("checkpoints_timed", "checkpoints_req", "checkpoint_write_time",
                    "checkpoint_sync_time", "buffers_checkpoint")


def _bgwriter(engine: Engine) -> dict[str, object]:
    return dict(zip(BGWRITER_COLUMNS, engine.checkpointer.statistics_row()))


def _replay_a_checkpoint(primary: Engine, standby: Engine) -> None:
    """Rows and a checkpoint on the primary, replayed by the standby: a restartpoint is due."""
    insert_rows(primary, range(300))
    primary.checkpoint()
    ship_wal(primary, standby)
    startup = standby.startup
    assert startup is not None
    startup.replay_available()
    assert startup.restartpoint_possible()


def _pretend_checkpoint_timeout_passed(standby: Engine) -> None:
    timeout_s = int(standby.settings.get("checkpoint_timeout")) / 1000  # type: ignore[arg-type]
    standby.checkpointer.last_checkpoint_time = time.monotonic() - timeout_s - 1


def test_a_requested_restartpoint_counts_as_checkpoints_req(primary_and_standby):
    primary, standby = primary_and_standby
    _replay_a_checkpoint(primary, standby)
    before = _bgwriter(standby)
    done = standby.startup.restartpoints_done
    standby.checkpointer.request()
    wait_until(lambda: standby.startup.restartpoints_done == done + 1, "the restartpoint")
    after = _bgwriter(standby)
    assert after["checkpoints_req"] == before["checkpoints_req"] + 1
    assert after["checkpoints_timed"] == before["checkpoints_timed"]
    assert after["buffers_checkpoint"] > before["buffers_checkpoint"]   # the replayed rows
    assert after["checkpoint_write_time"] >= before["checkpoint_write_time"]
    assert after["checkpoint_sync_time"] >= before["checkpoint_sync_time"]


def test_a_timed_restartpoint_counts_as_checkpoints_timed(primary_and_standby):
    primary, standby = primary_and_standby
    _replay_a_checkpoint(primary, standby)
    before = _bgwriter(standby)
    done = standby.startup.restartpoints_done
    _pretend_checkpoint_timeout_passed(standby)
    wait_until(lambda: standby.startup.restartpoints_done == done + 1, "the timed restartpoint")
    after = _bgwriter(standby)
    assert after["checkpoints_timed"] == before["checkpoints_timed"] + 1
    assert after["checkpoints_req"] == before["checkpoints_req"]
    assert after["buffers_checkpoint"] > before["buffers_checkpoint"]


def test_a_timed_round_with_nothing_to_restart_from_counts_and_retries(primary_and_standby):
    _, standby = primary_and_standby
    assert not standby.startup.restartpoint_possible()
    before = _bgwriter(standby)
    done = standby.startup.restartpoints_done
    _pretend_checkpoint_timeout_passed(standby)
    wait_until(lambda: _bgwriter(standby)["checkpoints_timed"] == before["checkpoints_timed"] + 1,
               "the timed round to be counted")
    assert standby.startup.restartpoints_done == done
    timeout_s = int(standby.settings.get("checkpoint_timeout")) / 1000  # type: ignore[arg-type]
    next_due_in_s = standby.checkpointer.last_checkpoint_time + timeout_s - time.monotonic()
    assert 0 < next_due_in_s <= RESTARTPOINT_RETRY_S


@pytest.fixture
def servers(template_cluster, tmp_path):
    """A primary with a table and a streaming hot standby of it, caught up."""
    with streaming_pair(template_cluster, str(tmp_path), "CREATE TABLE m (id int)",
                        "INSERT INTO m SELECT g FROM generate_series(1, 500) g") as pair:
        yield pair


def _error(conn: psycopg.Connection, sql: str) -> tuple[str | None, str | None, str | None]:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql)
    diag = caught.value.diag
    return diag.sqlstate, diag.message_primary, diag.message_hint


def test_monitoring_functions_on_a_streaming_standby(servers):
    primary, standby = servers
    with psycopg.connect(primary.dsn(), autocommit=True) as on_primary:
        on_primary.execute("INSERT INTO m SELECT g FROM generate_series(501, 1000) g")
        on_primary.execute("CHECKPOINT")
        primary_path = on_primary.execute("SELECT pg_relation_filepath('m')").fetchone()
    with psycopg.connect(standby.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        # restartpoints counted in pg_stat_bgwriter: CHECKPOINT until the primary's checkpoint
        # is replayed and one is made; each try counts as requested
        before = conn.execute("SELECT checkpoints_req, buffers_checkpoint "
                              "FROM pg_stat_bgwriter").fetchone()

        def restartpoint_counted() -> bool:
            conn.execute("CHECKPOINT")
            row = conn.execute("SELECT checkpoints_req, buffers_checkpoint "
                               "FROM pg_stat_bgwriter").fetchone()
            return row[0] > before[0] and row[1] > before[1]
        poll(restartpoint_counted, "a restartpoint counted in pg_stat_bgwriter",
             servers=(standby,))

        assert conn.execute("SELECT count(*) > 0, bool_and(size > 0) "
                            "FROM pg_ls_waldir()").fetchone() == (True, True)
        assert conn.execute("SELECT count(*) FROM pg_stat_wal").fetchone() == (1,)
        assert _error(conn, "SELECT * FROM pg_walfile_name_offset(pg_last_wal_replay_lsn())") \
            == ("55000", "recovery is in progress",
                "pg_walfile_name_offset() cannot be executed during recovery.")

        # a physical slot of the standby's own, advanced to where replay stands (no further)
        conn.execute("SELECT pg_create_physical_replication_slot('standby_slot', true)")
        replayed = parse_lsn(conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()[0])
        slot, end = conn.execute("SELECT slot_name, end_lsn::text FROM "
                                 "pg_replication_slot_advance('standby_slot', 'FFFFFFFF/0')"
                                 ).fetchone()
        assert slot == "standby_slot" and replayed <= parse_lsn(end) < parse_lsn("FFFFFFFF/0")
        conn.execute("SELECT pg_drop_replication_slot('standby_slot')")

        # the server facts and connection views
        assert conn.execute("SELECT pg_relation_filepath('m')").fetchone() == primary_path
        assert conn.execute("SELECT txid_current_if_assigned(), "
                            "pg_current_xact_id_if_assigned()").fetchone() == (None, None)
        started, loaded = conn.execute("SELECT pg_postmaster_start_time(), "
                                       "pg_conf_load_time()").fetchone()
        assert started is not None and loaded is not None
        assert conn.execute("SELECT inet_server_port()").fetchone() == (standby.port,)
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                            ).fetchall() == [(False,)]
        assert conn.execute("SELECT gss_authenticated FROM pg_stat_gssapi "
                            "WHERE pid = pg_backend_pid()").fetchall() == [(False,)]
        assert conn.execute("SELECT * FROM pg_stat_progress_basebackup").fetchall() == []
