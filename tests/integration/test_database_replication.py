"""CREATE DATABASE and DROP DATABASE on real servers: a streaming standby builds the same
database directories from the WAL (both strategies), a standby session connected to a dropped
database gets PostgreSQL's FATAL, crash recovery replays the records again without harm,
pg_waldump describes them as PostgreSQL's own, and pg_basebackup copies every database.

The redo is recovery/builtin_redo.py ``dbase_redo``; the primary's half is engine.py
``Txn.create_database`` / ``Engine.drop_database_storage``."""

from __future__ import annotations

import os
import subprocess

import psycopg
import pytest

from mirrordb.common.lsn import format_lsn
from mirrordb.engine import Engine, Txn
from mirrordb.storage.relfilenode import DEFAULT_TABLESPACE_OID
from mirrordb.wal import payloads, rmgr
from tests.conftest import pg_tool
from tests.integration.test_relation_locks_wal import records
from tests.integration.test_standby_streaming import (TOOL_TIMEOUT_S, basebackup, execute,
                                                      poll, primary,  # noqa: F401
                                                      start_standby, stop_pair_and_compare,
                                                      wait_for_replay_catchup)
from tests.server_process import RunningServer, start_server

FIRST_USER_OID = 16384


def database_oid(server: RunningServer, name: str) -> int | None:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        row = connection.execute("SELECT oid FROM pg_database WHERE datname = %s",
                                 (name,)).fetchone()
    return None if row is None else int(row[0])


def rows_in(server: RunningServer, dbname: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(server.dsn(dbname=dbname), autocommit=True) as connection:
        return connection.execute(query).fetchall()


def directory_of(server: RunningServer, oid: int) -> str:
    return os.path.join(server.datadir, "base", str(oid))


def make_database_with_rows(server: RunningServer, name: str, strategy: str) -> int:
    execute(server, f"CREATE DATABASE {name} STRATEGY {strategy}")
    with psycopg.connect(server.dsn(dbname=name), autocommit=True) as connection:
        connection.execute("CREATE TABLE items (id int PRIMARY KEY, label text)")
        connection.execute(f"INSERT INTO items SELECT g, '{name} ' || g "
                           "FROM generate_series(1, 300) g")
    oid = database_oid(server, name)
    assert oid is not None and oid >= FIRST_USER_OID
    return oid


def test_created_databases_replicate_and_pages_match(primary, tmp_path):  # noqa: F811
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir)
    try:
        oids = {name: make_database_with_rows(primary, name, strategy)
                for name, strategy in (("logged", "wal_log"), ("copied", "file_copy"))}
        wait_for_replay_catchup(primary, standby)
        with psycopg.connect(standby.dsn(), autocommit=True) as connection:
            listed = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
        assert {"logged", "copied"} <= listed
        for name, oid in oids.items():
            assert os.path.isdir(directory_of(standby, oid))
            assert rows_in(standby, name, "SELECT count(*), max(label) FROM items "
                                          "WHERE id > 100") == [(200, f"{name} 300")]
        stop_pair_and_compare(primary, standby)
    finally:
        standby.stop()


def test_drop_database_ends_standby_sessions_and_replay_goes_on(primary, tmp_path):  # noqa: F811
    oid = make_database_with_rows(primary, "doomed", "wal_log")
    execute(primary, "CREATE TABLE after_drop (id int)")
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir)
    try:
        wait_for_replay_catchup(primary, standby)
        victim = psycopg.connect(standby.dsn(dbname="doomed"), autocommit=True)
        try:
            assert victim.execute("SELECT count(*) FROM items").fetchone() == (300,)
            execute(primary, "DROP DATABASE doomed", "INSERT INTO after_drop VALUES (1)")
            wait_for_replay_catchup(primary, standby)
            with pytest.raises(psycopg.OperationalError) as raised:
                victim.execute("SELECT 1")
        finally:
            victim.close()
        diag = raised.value.diag
        assert (diag.severity, diag.sqlstate, diag.message_primary, diag.message_detail) == (
            "FATAL", "57P04", "terminating connection due to conflict with recovery",
            "User was connected to a database that must be dropped.")
        assert not os.path.exists(directory_of(standby, oid))
        assert rows_in(standby, "postgres", "SELECT count(*) FROM after_drop") == [(1,)]
        assert rows_in(standby, "postgres",
                       "SELECT count(*) FROM pg_database WHERE datname = 'doomed'") == [(0,)]
        # the OID comes back with a new database: both servers let sessions into it
        execute(primary, f"CREATE DATABASE reborn OID {oid}")
        wait_for_replay_catchup(primary, standby)
        for server in (primary, standby):
            assert rows_in(server, "reborn", "SELECT count(*) FROM pg_class "
                                             "WHERE relname = 'items'") == [(0,)]
        stop_pair_and_compare(primary, standby)
    finally:
        standby.stop()


def test_crash_after_create_and_drop_replays_them(primary, tmp_path):  # noqa: F811
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir)
    names = {"by_wal": "wal_log", "by_copy": "file_copy"}
    try:
        oids = [make_database_with_rows(primary, name, strategy)
                for name, strategy in names.items()]
        wait_for_replay_catchup(primary, standby)
        standby.kill()                       # a standby stopped mid-way resumes
        primary.kill()
        primary = start_server(primary.datadir, primary.port)
        standby = start_standby(standby_dir, standby.port)
        wait_for_replay_catchup(primary, standby)
        for server in (primary, standby):
            for name in names:
                assert rows_in(server, name, "SELECT count(*) FROM items") == [(300,)]

        execute(primary, *(f"DROP DATABASE {name}" for name in names))
        primary.kill()
        primary = start_server(primary.datadir, primary.port)
        wait_for_replay_catchup(primary, standby)
        for server in (primary, standby):
            assert [database_oid(server, name) for name in names] == [None, None]
            assert not any(os.path.exists(directory_of(server, oid)) for oid in oids)
        stop_pair_and_compare(primary, standby)
    finally:
        standby.stop()
        primary.stop()


def test_failed_create_database_leaves_no_directory(primary, tmp_path):  # noqa: F811
    standby_dir = str(tmp_path / "standby")
    basebackup(primary, standby_dir)
    standby = start_standby(standby_dir)
    try:
        before = set(os.listdir(os.path.join(primary.datadir, "base")))
        with psycopg.connect(primary.dsn(dbname="template1"), autocommit=True):
            with pytest.raises(psycopg.errors.ObjectInUse):
                execute(primary, "CREATE DATABASE blocked")
        with pytest.raises(psycopg.errors.DuplicateDatabase):
            execute(primary, "CREATE DATABASE postgres")
        execute(primary, "CREATE TABLE marker (id int)")
        wait_for_replay_catchup(primary, standby)
        assert set(os.listdir(os.path.join(primary.datadir, "base"))) == before
        assert set(os.listdir(os.path.join(standby.datadir, "base"))) == before
        assert database_oid(primary, "blocked") is None
    finally:
        standby.stop()


def test_pg_waldump_describes_database_records(primary, tmp_path):  # noqa: F811
    start = current_lsn(primary)
    execute(primary, "CREATE DATABASE d_logged", "CREATE DATABASE d_copied STRATEGY file_copy")
    logged, copied = database_oid(primary, "d_logged"), database_oid(primary, "d_copied")
    execute(primary, "DROP DATABASE d_logged")
    end = current_lsn(primary)
    result = subprocess.run(
        [pg_tool("pg_waldump"), "-p", os.path.join(primary.datadir, "pg_wal"),
         "-s", format_lsn(start), "-e", format_lsn(end), "-r", "Database"],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr
    descriptions = [line.split("desc: ", 1)[1] for line in result.stdout.splitlines()
                    if "desc: " in line]
    assert descriptions == [f"CREATE_WAL_LOG create dir 1663/{logged}",
                            f"CREATE_FILE_COPY copy dir 1663/1 to 1663/{copied}",
                            f"DROP dir 1663/{logged}"], result.stdout


def current_lsn(server: RunningServer) -> int:
    from tests.integration.test_standby_streaming import current_wal_lsn
    return current_wal_lsn(server)


def dbase_records(engine: Engine, start: int) -> list[tuple[int, object]]:
    """(info, decoded payload) of every Database record since ``start``."""
    decoders = {rmgr.XLOG_DBASE_CREATE_WAL_LOG: payloads.DbaseCreateWalLog.decode,
                rmgr.XLOG_DBASE_CREATE_FILE_COPY: payloads.DbaseCreateFileCopy.decode,
                rmgr.XLOG_DBASE_DROP: payloads.DbaseDrop.decode}
    return [(record.info, decoders[record.info & rmgr.XLR_RMGR_INFO_MASK](record.main_data))
            for record in records(engine, start) if record.rmid == rmgr.RM_DBASE_ID]


def test_records_carry_postgresql_flags(cluster) -> None:
    engine = Engine.open(cluster)
    try:
        start = engine.wal.insert_lsn
        with engine.begin() as txn:
            txn.create_database(20000, "a", 10, 1)
        with engine.begin() as txn:
            txn.create_database(20001, "b", 10, 1, strategy="file_copy")
        with engine.begin() as txn:
            txn.drop_database(20000)
        spc = DEFAULT_TABLESPACE_OID
        assert dbase_records(engine, start) == [
            (rmgr.XLOG_DBASE_CREATE_WAL_LOG, payloads.DbaseCreateWalLog(20000, spc)),
            (rmgr.XLOG_DBASE_CREATE_FILE_COPY | rmgr.XLR_SPECIAL_REL_UPDATE,
             payloads.DbaseCreateFileCopy(20001, spc, 1, spc)),
            (rmgr.XLOG_DBASE_DROP | rmgr.XLR_SPECIAL_REL_UPDATE,
             payloads.DbaseDrop(20000, (spc,)))]
    finally:
        engine.close()


@pytest.mark.parametrize("strategy", ["wal_log", "file_copy"])
def test_create_database_failing_part_way_leaves_nothing(cluster, monkeypatch,
                                                         strategy) -> None:
    """A failure after the directory exists removes it under a DROP record, so crash recovery
    (and a standby) replaying the records ends without it too."""
    def broken(txn: Txn, catalog: object, values: object) -> None:
        raise OSError("injected failure")

    engine = Engine.open(cluster)
    directory = os.path.join(cluster, "base", "20000")
    try:
        start = engine.wal.insert_lsn
        with monkeypatch.context() as patch:
            patch.setattr(Txn, "_insert_catalog", broken)
            with pytest.raises(OSError, match="injected failure"):
                with engine.begin() as txn:
                    txn.create_database(20000, "half", 10, 1, strategy=strategy)
        assert not os.path.exists(directory)
        assert [info & rmgr.XLR_RMGR_INFO_MASK for info, _ in dbase_records(engine, start)][-1] \
            == rmgr.XLOG_DBASE_DROP
        engine.crash()
        engine = Engine.open(cluster)              # crash recovery replays create, then drop
        assert not os.path.exists(directory)
        assert [view.database_oid for view in engine.databases()] == [1, 4, 5]
    finally:
        engine.close()


def test_pg_basebackup_copies_every_database(primary, tmp_path):  # noqa: F811
    make_database_with_rows(primary, "extra", "wal_log")
    standby_dir = str(tmp_path / "standby")
    result = subprocess.run([pg_tool("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                             "-U", "postgres", "-D", standby_dir, "-R", "-X", "stream",
                             "-c", "fast", "-w"],
                            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr
    os.chmod(standby_dir, 0o700)
    standby = start_standby(standby_dir)
    try:
        with psycopg.connect(primary.dsn(dbname="extra"), autocommit=True) as connection:
            connection.execute("INSERT INTO items VALUES (301, 'streamed')")
        wait_for_replay_catchup(primary, standby)
        assert rows_in(standby, "extra", "SELECT count(*) FROM items") == [(301,)]
    finally:
        standby.stop()
