"""pg_copy_physical_replication_slot and pg_replication_slot_advance on a real server: an
advanced slot releases its WAL at the next checkpoint, a copy holds the source's WAL, both
survive a restart, and PostgreSQL's refusals (a slot in use, moving backwards, a slot
without WAL)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from mirrordb.common.lsn import format_lsn, parse_lsn
from tests.integration.test_replication_slots_server import (_fill_segments, _one, _sqlstate,
                                                             _segment_exists)
from tests.server_process import RunningServer, start_server


@pytest.fixture
def server(cluster: str) -> Iterator[RunningServer]:
    running = start_server(cluster, wal_keep_size="0")
    yield running
    running.stop()


def _restart_lsn(conn: psycopg.Connection, slot: str) -> int:
    return parse_lsn(str(_one(conn, f"SELECT restart_lsn::text FROM pg_replication_slots "
                                    f"WHERE slot_name = '{slot}'")))


def test_advance_releases_wal_at_the_next_checkpoint(server: RunningServer) -> None:
    with server.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_create_physical_replication_slot('keeper', true)")
        held_lsn = _restart_lsn(conn, "keeper")
        _fill_segments(conn, 4)
        conn.execute("CHECKPOINT")
        assert _segment_exists(server.datadir, held_lsn), "the slot's segment went too early"
        flushed = parse_lsn(str(_one(conn, "SELECT pg_current_wal_flush_lsn()::text")))
        name, end_lsn = conn.execute(
            "SELECT slot_name, end_lsn::text FROM pg_replication_slot_advance("
            "'keeper', 'FFFFFFFF/0')").fetchone()
        assert name == "keeper" and parse_lsn(end_lsn) >= flushed   # capped at the flush
        assert _restart_lsn(conn, "keeper") == parse_lsn(end_lsn)
        # not backwards; to where it is, it stays
        assert _sqlstate(conn, "SELECT pg_replication_slot_advance('keeper', '0/10')") == (
            "55000", f"cannot advance replication slot to 0/10, minimum is {end_lsn}")
        again = _one(conn, f"SELECT end_lsn::text FROM pg_replication_slot_advance("
                           f"'keeper', '{end_lsn}')")
        assert again == end_lsn
        conn.execute("CHECKPOINT")
        assert not _segment_exists(server.datadir, held_lsn), "advancing released nothing"


def test_copy_and_advance_survive_restart(cluster: str) -> None:
    server = start_server(cluster)
    try:
        with server.connect(autocommit=True) as conn:
            conn.execute("SELECT pg_create_physical_replication_slot('source', true)")
            source_lsn = _restart_lsn(conn, "source")
            assert conn.execute("SELECT * FROM pg_copy_physical_replication_slot("
                                "'source', 'copy')").fetchone() == ("copy", None)
            assert _restart_lsn(conn, "copy") == source_lsn
            _fill_segments(conn, 2)
            advanced = parse_lsn(str(_one(conn, "SELECT end_lsn::text FROM "
                                          "pg_replication_slot_advance('source', "
                                          "pg_current_wal_lsn())")))
            assert advanced > source_lsn
            conn.execute("CHECKPOINT")
            assert _segment_exists(server.datadir, source_lsn), "the copy holds the WAL"
    finally:
        server.stop()
    server = start_server(cluster)
    try:
        with server.connect(autocommit=True) as conn:
            rows = conn.execute("SELECT slot_name, restart_lsn::text, temporary FROM "
                                "pg_replication_slots ORDER BY 1").fetchall()
            assert rows == [("copy", format_lsn(source_lsn), False),
                            ("source", format_lsn(advanced), False)]
    finally:
        server.stop()


def test_refusals(server: RunningServer) -> None:
    with server.connect(autocommit=True) as owner, \
            server.connect(autocommit=True) as other:
        owner.execute("SELECT pg_create_physical_replication_slot('mine', true, true)")
        owner_pid = _one(owner, "SELECT pg_backend_pid()")
        assert _sqlstate(other, "SELECT pg_replication_slot_advance('mine', "
                                "pg_current_wal_lsn())") == (
            "55006", f'replication slot "mine" is active for PID {owner_pid}')
        owner.execute("SELECT pg_replication_slot_advance('mine', pg_current_wal_lsn())")
        # a temporary copy belongs to the session that made it
        other.execute("SELECT pg_copy_physical_replication_slot('mine', 'mine_copy')")
        assert _one(other, "SELECT temporary FROM pg_replication_slots "
                           "WHERE slot_name = 'mine_copy'") is True
        other.execute("SELECT pg_create_physical_replication_slot('empty')")
        state, message = _sqlstate(other, "SELECT pg_replication_slot_advance('empty', "
                                          "pg_current_wal_lsn())")
        assert (state, message) == ("55000", 'replication slot "empty" cannot be advanced')
        assert _sqlstate(other, "SELECT pg_copy_physical_replication_slot('empty', 'x')") == (
            "55000", "cannot copy a replication slot that doesn't reserve WAL")
    with server.connect(autocommit=True) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT slot_name FROM pg_replication_slots ORDER BY 1").fetchall()]
        assert names == ["empty"], "temporary slots and copies die with their sessions"
