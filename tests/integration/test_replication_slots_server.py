"""Replication slots on a real server: SQL create/drop/view with PostgreSQL's errors, temporary
slots dying with their session, slots surviving a restart, WAL kept for a slot across
checkpoints, and max_slot_wal_keep_size making a slot lost."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from mirrordb.common.lsn import parse_lsn
from mirrordb.storage.control import read_control_file
from mirrordb.wal.segment import segment_name
from tests.server_process import RunningServer, start_server

DEADLINE_S = 20.0
POLL_S = 0.05
SEGMENT_BYTES = 1024 * 1024      # the template cluster's segment size


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(POLL_S)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def server(cluster: str) -> Iterator[RunningServer]:
    running = start_server(cluster)
    yield running
    running.stop()


def _one(conn: psycopg.Connection, sql: str) -> object:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


def _sqlstate(conn: psycopg.Connection, sql: str) -> tuple[str | None, str]:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql)
    return caught.value.sqlstate, caught.value.diag.message_primary or ""


def _fill_segments(conn: psycopg.Connection, count: int) -> None:
    """Write WAL into ``count`` more segments (a row, then a segment switch, each time)."""
    conn.execute("CREATE TABLE IF NOT EXISTS filler (x int)")
    for number in range(count):
        conn.execute(f"INSERT INTO filler VALUES ({number})")
        conn.execute("SELECT pg_switch_wal()")


def _segment_exists(datadir: str, lsn: int) -> bool:
    name = segment_name(1, lsn // SEGMENT_BYTES, SEGMENT_BYTES)
    return os.path.exists(os.path.join(datadir, "pg_wal", name))


def test_create_drop_view_errors_and_restart(cluster: str) -> None:
    running = start_server(cluster)
    try:
        with running.connect(autocommit=True) as conn:
            created = _one(conn, "SELECT pg_create_physical_replication_slot('s1', true)")
            assert isinstance(created, str) and created.startswith("(s1,0/")
            assert _one(conn, "SELECT pg_create_physical_replication_slot('plain')") == \
                "(plain,)"
            assert _sqlstate(conn, "SELECT pg_create_physical_replication_slot('s1')") == \
                ("42710", 'replication slot "s1" already exists')
            state, message = _sqlstate(conn,
                                       "SELECT pg_create_physical_replication_slot('Bad-Name')")
            assert state == "42602" and "contains invalid character" in message
            rows = conn.execute(
                "SELECT slot_name, slot_type, temporary, active, restart_lsn::text, wal_status, "
                "safe_wal_size FROM pg_replication_slots ORDER BY slot_name").fetchall()
            assert [r[0] for r in rows] == ["plain", "s1"]
            plain, s1 = rows
            assert plain[1:] == ("physical", False, False, None, None, None)
            assert s1[4] == created[4:-1] and s1[5] == "reserved"
            conn.execute("SELECT pg_drop_replication_slot('plain')")
            assert _sqlstate(conn, "SELECT pg_drop_replication_slot('plain')") == \
                ("42704", 'replication slot "plain" does not exist')
            assert os.path.getsize(os.path.join(cluster, "pg_replslot", "s1", "state")) == 200
            assert not os.path.exists(os.path.join(cluster, "pg_replslot", "plain"))

            with running.connect(autocommit=True) as owner:
                owner_pid = _one(owner, "SELECT pg_backend_pid()")
                owner.execute("SELECT pg_create_physical_replication_slot('tmp', true, true)")
                row = conn.execute("SELECT temporary, active, active_pid FROM "
                                   "pg_replication_slots WHERE slot_name = 'tmp'").fetchone()
                assert row == (True, True, owner_pid)
                state, message = _sqlstate(conn, "SELECT pg_drop_replication_slot('tmp')")
                assert (state, message) == \
                    ("55006", f'replication slot "tmp" is active for PID {owner_pid}')
                assert not os.path.exists(os.path.join(cluster, "pg_replslot", "tmp"))
            wait_for(lambda: _one(conn, "SELECT count(*) FROM pg_replication_slots "
                                        "WHERE slot_name = 'tmp'") == 0,
                     "the temporary slot to die with its session")
        assert running.stop() == 0
        running = start_server(cluster)
        with running.connect(autocommit=True) as conn:
            rows = conn.execute("SELECT slot_name, restart_lsn::text, active "
                                "FROM pg_replication_slots").fetchall()
            assert rows == [("s1", created[4:-1], False)]
    finally:
        running.stop()


def test_an_error_drops_the_sessions_temporary_slots(server: RunningServer) -> None:
    """PostgreSQL 15's error recovery drops the failing session's temporary slots; a ROLLBACK
    does not, nor does an error in another session; persistent slots stay."""
    def names(conn: psycopg.Connection) -> list[tuple[str, bool]]:
        return conn.execute("SELECT slot_name, temporary FROM pg_replication_slots "
                            "ORDER BY 1").fetchall()

    with server.connect(autocommit=True) as conn, server.connect(autocommit=True) as other:
        conn.execute("SELECT pg_create_physical_replication_slot('kept', true)")
        conn.execute("SELECT pg_create_physical_replication_slot('tmp1', true, true)")
        other.execute("SELECT pg_create_physical_replication_slot('theirs', false, true)")
        conn.execute("BEGIN")
        conn.execute("SELECT pg_create_physical_replication_slot('tmp2', false, true)")
        conn.execute("ROLLBACK")
        assert names(conn) == [("kept", False), ("theirs", True), ("tmp1", True),
                               ("tmp2", True)]
        assert _sqlstate(conn, "SELECT 1/0") == ("22012", "division by zero")
        assert names(conn) == [("kept", False), ("theirs", True)]
        assert _sqlstate(other, "SELECT * FROM no_such_table")[0] == "42P01"
        assert names(conn) == [("kept", False)]


def test_wal_functions(server: RunningServer) -> None:
    with server.connect(autocommit=True) as conn:
        assert _one(conn, "SELECT pg_is_in_recovery()") is False
        write, insert, flush = conn.execute(
            "SELECT pg_current_wal_lsn()::text, pg_current_wal_insert_lsn()::text, "
            "pg_current_wal_flush_lsn()::text").fetchone()
        assert parse_lsn(flush) <= parse_lsn(insert) and parse_lsn(write) <= parse_lsn(insert)
        assert _one(conn, "SELECT pg_walfile_name('0/200000')") == "000000010000000000000001"
        assert _one(conn, "SELECT pg_walfile_name('0/200001')") == "000000010000000000000002"
        assert _one(conn, "SELECT pg_wal_lsn_diff('0/2000000', '0/1000000')") == 16**6
        before = parse_lsn(str(_one(conn, "SELECT pg_current_wal_insert_lsn()::text")))
        conn.execute("CREATE TABLE w (x int)")
        switched = parse_lsn(str(_one(conn, "SELECT pg_switch_wal()::text")))
        assert switched > before
        after = parse_lsn(str(_one(conn, "SELECT pg_current_wal_insert_lsn()::text")))
        assert after // SEGMENT_BYTES == switched // SEGMENT_BYTES + 1
        control = str(_one(conn, "SELECT pg_control_system()"))
        assert control.startswith("(1300,202209061,")


def test_slot_keeps_wal_across_checkpoints(server: RunningServer) -> None:
    with server.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_create_physical_replication_slot('keeper', true)")
        restart_lsn = parse_lsn(str(_one(
            conn, "SELECT restart_lsn::text FROM pg_replication_slots")))
        assert _segment_exists(server.datadir, restart_lsn)
        _fill_segments(conn, 6)
        conn.execute("CHECKPOINT")
        _fill_segments(conn, 2)
        conn.execute("CHECKPOINT")
        assert _segment_exists(server.datadir, restart_lsn), "a segment the slot needs is gone"
        assert _one(conn, "SELECT wal_status FROM pg_replication_slots") in ("reserved",
                                                                              "extended")
        conn.execute("SELECT pg_drop_replication_slot('keeper')")
        conn.execute("CHECKPOINT")
        assert not _segment_exists(server.datadir, restart_lsn)


def test_max_slot_wal_keep_size_makes_slot_lost(cluster: str) -> None:
    running = start_server(cluster, max_slot_wal_keep_size="2MB")
    try:
        with running.connect(autocommit=True) as conn:
            conn.execute("SELECT pg_create_physical_replication_slot('capped', true)")
            restart_lsn = parse_lsn(str(_one(
                conn, "SELECT restart_lsn::text FROM pg_replication_slots")))
            assert _one(conn, "SELECT safe_wal_size FROM pg_replication_slots") is not None
            _fill_segments(conn, 6)
            conn.execute("CHECKPOINT")
            row = conn.execute("SELECT wal_status, restart_lsn, safe_wal_size "
                               "FROM pg_replication_slots").fetchone()
            assert row == ("lost", None, None)
            assert not _segment_exists(running.datadir, restart_lsn)
            expected = (f'invalidating slot "capped" because its restart_lsn '
                        f'{restart_lsn >> 32:X}/{restart_lsn & 0xFFFFFFFF:X} exceeds '
                        "max_slot_wal_keep_size")
            assert expected in running.log()
        running.stop()
        running = start_server(cluster, max_slot_wal_keep_size="2MB")
        with running.connect(autocommit=True) as conn:
            assert _one(conn, "SELECT wal_status FROM pg_replication_slots") == "lost"
    finally:
        running.stop()


def test_damaged_slot_file_stops_start_up(cluster: str) -> None:
    running = start_server(cluster)
    with running.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_create_physical_replication_slot('hurt')")
    assert running.stop() == 0
    path = os.path.join(cluster, "pg_replslot", "hurt", "state")
    with open(path, "r+b") as handle:
        handle.seek(120)
        handle.write(b"\x01")
    with pytest.raises(RuntimeError) as caught:
        start_server(cluster)
    assert 'checksum mismatch for replication slot file "pg_replslot/hurt/state"' in \
        str(caught.value)


def test_record_functions_in_from(server: RunningServer) -> None:
    """PostgreSQL's documented forms: SELECT * FROM pg_create_physical_replication_slot(...)
    and SELECT ... FROM pg_control_system() / pg_control_checkpoint() / pg_control_recovery(),
    the OUT parameters as columns."""
    with server.connect(autocommit=True) as conn:
        cursor = conn.execute("SELECT * FROM pg_create_physical_replication_slot('node_a_slot')")
        assert [column.name for column in cursor.description] == ["slot_name", "lsn"]
        assert cursor.fetchall() == [("node_a_slot", None)]
        name, lsn = conn.execute("SELECT s.n, s.l::text FROM pg_create_physical_replication_slot("
                                 "'reserved', true) AS s(n, l)").fetchone()
        assert name == "reserved" and parse_lsn(lsn) > 0
        assert _one(conn, "SELECT count(*) FROM pg_replication_slots") == 2
        cursor = conn.execute("SELECT * FROM pg_control_system()")
        assert [column.name for column in cursor.description] == [
            "pg_control_version", "catalog_version_no", "system_identifier",
            "pg_control_last_modified"]
        version, catalog, identifier, modified = cursor.fetchone()
        assert (version, catalog) == (1300, 202209061) and identifier > 0
        assert modified.tzinfo is not None
        modified_text = _one(conn, "SELECT pg_control_last_modified::text "
                                   "FROM pg_control_system()")
        assert _one(conn, "SELECT pg_control_system()") == \
            f'(1300,202209061,{identifier},"{modified_text}")'
        conn.execute("CHECKPOINT")
        control = read_control_file(server.datadir)
        checkpoint_lsn, redo_lsn, redo_file, timeline, next_xid, checkpoint_time = conn.execute(
            "SELECT checkpoint_lsn::text, redo_lsn::text, redo_wal_file, timeline_id, next_xid, "
            "checkpoint_time FROM pg_control_checkpoint()").fetchone()
        assert (parse_lsn(checkpoint_lsn), parse_lsn(redo_lsn), timeline) == \
            (control.checkpoint_lsn, control.checkpoint.redo, 1)
        assert redo_file == segment_name(1, control.checkpoint.redo // SEGMENT_BYTES,
                                         SEGMENT_BYTES)
        assert next_xid == f"0:{control.checkpoint.next_full_xid}"
        assert checkpoint_time.timestamp() == control.checkpoint.time_s
        assert conn.execute("SELECT min_recovery_end_lsn::text, backup_start_lsn::text, "
                            "end_of_backup_record_required FROM pg_control_recovery()"
                            ).fetchone() == ("0/0", "0/0", False)
        # field selection, (f()).field, as PostgreSQL 15 answers it
        cursor = conn.execute("SELECT (pg_control_system()).pg_control_version + 1 AS v, "
                              "(pg_control_system()).system_identifier")
        assert [column.name for column in cursor.description] == ["v", "system_identifier"]
        assert cursor.fetchone() == (1301, identifier)
        assert conn.execute("SELECT (pg_create_physical_replication_slot(s)).slot_name "
                            "FROM (VALUES ('field_a'), ('field_b')) v(s)").fetchall() == \
            [("field_a",), ("field_b",)]
        with pytest.raises(psycopg.errors.UndefinedColumn,
                           match='could not identify column "nosuch" in record data type'):
            conn.execute("SELECT (pg_control_system()).nosuch")
