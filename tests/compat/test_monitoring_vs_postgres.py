"""Replication monitoring functions and views, side by side with a real PostgreSQL 15.

Each statement runs on a throw-away PostgreSQL server (tests/compat/types_pg_server.py) and on
a real mirrordb server (tests/server_process.py), both read as text through psycopg. For the
deterministic statements (``QUERIES``: pg_lsn arithmetic, errors, fixed positions) the two must
agree on the result columns (names and type OIDs), the rows, or the error's SQLSTATE and
message. For the statements whose values depend on the server's state (``SHAPES``: WAL files,
counters, times) they must agree on the columns and on whether a row comes back. A record function called in a select
list gives text here (mirrordb has no composite types), so only FROM forms are compared.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from mirrordb.cli.initdb import initdb
from tests.server_process import start_server
from types_pg_server import postgres_available, running_postgres

psycopg = pytest.importorskip("psycopg")

pytestmark = [pytest.mark.compat,
              pytest.mark.skipif(not postgres_available(),
                                 reason="PostgreSQL 15 binaries are not installed in "
                                        "/usr/lib/postgresql/15/bin")]

QUERIES = [
    # pg_lsn arithmetic: numeric distances, positions moved by numeric counts of bytes
    "select '0/3000000'::pg_lsn - '0/1000000'::pg_lsn",
    "select '0/1000000'::pg_lsn - '0/3000000'::pg_lsn as behind",
    "select 'FFFFFFFF/FFFFFFFF'::pg_lsn - '0/0'::pg_lsn",
    "select '0/3000000'::pg_lsn + 16", "select 16 + '0/3000000'::pg_lsn",
    "select '0/3000000'::pg_lsn - 16", "select '0/10'::pg_lsn + 10::bigint",
    "select '0/3000000'::pg_lsn + 1.5", "select '0/3000000'::pg_lsn + 2.5",
    "select '0/3000000'::pg_lsn - 1.5", "select '0/3000000'::pg_lsn + (-1.5)",
    "select '0/10'::pg_lsn + '16'", "select '0/10'::pg_lsn - '0/8'",
    "select '0/10'::pg_lsn + 1.5::float8",
    "select 'FFFFFFFF/FFFFFFFE'::pg_lsn + 1", "select 'FFFFFFFF/FFFFFFFE'::pg_lsn + 2",
    "select '0/1'::pg_lsn - 1", "select '0/1'::pg_lsn - 2", "select '0/1'::pg_lsn + 1e30",
    "select '0/1'::pg_lsn + 'NaN'::numeric", "select '0/1'::pg_lsn - 'NaN'::numeric",
    "select 'NaN'::numeric + '0/1'::pg_lsn", "select '0/1'::pg_lsn + 'Infinity'::numeric",
    "select '0/1'::pg_lsn - '-Infinity'::numeric", "select 1::numeric - '0/1'::pg_lsn",
    "select '0/1'::pg_lsn + null::numeric",
    "select pg_typeof('0/10'::pg_lsn - '0/1'::pg_lsn)::text, pg_typeof('0/10'::pg_lsn + 1)::text",
    "select '0/0'::pg_lsn + ('FFFFFFFF/FFFFFFFF'::pg_lsn - '0/0'::pg_lsn)",
    "select pg_current_wal_lsn() - '0/0' > 0, pg_current_wal_lsn() - pg_current_wal_lsn()",
    ("select pg_current_wal_lsn() - replay_lsn as lag_bytes, "
     "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) from pg_stat_replication"),
    # WAL file names, pg_control's constants, resource managers
    "select file_name, file_offset from pg_walfile_name_offset('0/1000028')",
    "select * from pg_walfile_name_offset('0/1000000')",
    "select * from pg_walfile_name_offset('0/0')", "select * from pg_walfile_name_offset(null)",
    "select (pg_walfile_name_offset('0/1000028')).file_offset",
    "select pg_walfile_name('0/0')",
    "select max_data_alignment, database_block_size, blocks_per_segment, wal_block_size, "
    "max_identifier_length, max_index_columns, max_toast_chunk_size, large_object_chunk_size, "
    "float8_pass_by_value, data_page_checksum_version from pg_control_init()",
    "select * from pg_get_wal_resource_managers() where rm_id in (0, 1, 2, 3, 8) order by 1",
    # server and connection facts (over TCP: both test connections use 127.0.0.1)
    ("select pg_typeof(pg_postmaster_start_time())::text, pg_typeof(pg_conf_load_time())::text,"
     " pg_postmaster_start_time() <= now(), pg_conf_load_time() <= now()"),
    "select pg_postmaster_start_time(1)", "select pg_conf_load_time(null)",
    "select txid_current_if_assigned(), pg_typeof(txid_current_if_assigned())::text",
    "select pg_current_xact_id_if_assigned() is null",
    ("select inet_server_addr() = inet_client_addr(), inet_client_addr() is not null, "
     "inet_server_port() = current_setting('port')::int, inet_client_port() > 0, "
     "inet_client_port() <> inet_server_port()"),
    "select pg_typeof(inet_client_port())::text, pg_typeof(inet_server_port())::text",
    "select pg_relation_filepath('pg_class'), pg_relation_filepath('pg_database')",
    "select pg_relation_filepath('pg_authid'), pg_relation_filepath('pg_tables')",
    "select pg_relation_filepath(0), pg_relation_filepath(12345678), pg_relation_filepath(null)",
    "select pg_relation_filepath('no_such_table')", "select pg_relation_filepath()",
    ("select ssl, version, cipher, bits, client_dn, client_serial, issuer_dn from pg_stat_ssl "
     "where pid = pg_backend_pid()"),
    ("select gss_authenticated, principal, encrypted from pg_stat_gssapi "
     "where pid = pg_backend_pid()"),
    "select * from pg_stat_progress_basebackup",
    ("select relname, relkind from pg_class where relname in ('pg_stat_ssl', 'pg_stat_gssapi', "
     "'pg_stat_progress_basebackup') order by 1"),
]

# Each list runs in order on one connection of each server.
SLOT_STATEMENTS = [
    "select slot_name from pg_create_physical_replication_slot('s1', true)",
    "select slot_name, lsn from pg_create_physical_replication_slot('nr')",
    "select * from pg_copy_physical_replication_slot('s1', 's2')",
    ("select slot_name, temporary, restart_lsn = (select restart_lsn from pg_replication_slots"
     " where slot_name = 's1') from pg_replication_slots where slot_name = 's2'"),
    "select * from pg_copy_physical_replication_slot('s1', 's3', true)",
    "select slot_name, temporary, active from pg_replication_slots order by 1",
    "select * from pg_copy_physical_replication_slot('nr', 's4')",
    "select * from pg_copy_physical_replication_slot('nope', 's4')",
    "select * from pg_copy_physical_replication_slot('s1', 's2')",
    "select * from pg_copy_physical_replication_slot('s1', 'Bad-Name')",
    "select * from pg_copy_physical_replication_slot(null, 's2')",
    "select slot_name from pg_replication_slot_advance('s1', pg_current_wal_lsn())",
    ("select slot_name, end_lsn = pg_current_wal_flush_lsn() "
     "from pg_replication_slot_advance('s2', 'FFFFFFFF/0')"),
    "select * from pg_replication_slot_advance('nr', pg_current_wal_lsn())",
    "select * from pg_replication_slot_advance('nope', pg_current_wal_lsn())",
    "select * from pg_replication_slot_advance('s1', '0/0')",
    ("select restart_lsn = pg_current_wal_flush_lsn() from pg_replication_slots "
     "where slot_name = 's2'"),
    "select pg_drop_replication_slot('s2')", "select pg_drop_replication_slot('s1')",
    "select pg_drop_replication_slot('nr')",
]

XACT_STATEMENTS = [
    "begin", "select txid_current_if_assigned(), pg_current_xact_id_if_assigned()::text",
    "select txid_current() > 0",
    ("select txid_current_if_assigned() = txid_current(), "
     "pg_current_xact_id_if_assigned()::text = txid_current()::text"),
    "commit", "select txid_current_if_assigned(), pg_current_xact_id_if_assigned()::text",
    "create table filepath_t (a int)", "create view filepath_v as select a from filepath_t",
    "create index filepath_i on filepath_t (a)",
    ("select pg_relation_filepath('filepath_t') = 'base/5/' || relfilenode from pg_class "
     "where relname = 'filepath_t'"),
    "select pg_relation_filepath('filepath_i') like 'base/5/%'",
    "select pg_relation_filepath('filepath_v')",
    "drop view filepath_v", "drop table filepath_t",
]

PRIVILEGE_STATEMENTS = [
    "create role plain login", "set role plain",
    "select count(*) from pg_stat_ssl", "select count(*) from pg_stat_gssapi",
    "select * from pg_stat_progress_basebackup",
    "select * from pg_ls_waldir()", "select * from pg_ls_archive_statusdir()",
    "select count(*) > 0 from pg_get_wal_resource_managers()",
    "select * from pg_copy_physical_replication_slot('a', 'b')",
    "select * from pg_replication_slot_advance('a', '0/1')",
    "reset role", "drop role plain",
]

SHAPES = [
    "select * from pg_ls_waldir()", "select * from pg_ls_archive_statusdir()",
    "select * from pg_get_wal_resource_managers()", "select * from pg_control_init()",
    "select * from pg_walfile_name_offset(pg_current_wal_lsn())",
    "select * from pg_stat_wal", "select * from pg_stat_bgwriter",
    "select pg_stat_reset_shared('wal')", "select pg_stat_reset_shared('bgwriter')",
    "select pg_stat_reset_shared('nope')", "show track_wal_io_timing",
    "select * from pg_stat_ssl", "select * from pg_stat_gssapi",
]


def _answer(connection: Any, sql: str) -> tuple[Any, ...]:
    """The statement's columns and rows as text, or its error."""
    with connection.cursor() as cursor:
        try:
            cursor.execute(sql, binary=False)
        except psycopg.Error as failure:
            return ("error", failure.diag.sqlstate, failure.diag.message_primary)
        result = cursor.pgresult
        if result is None or not result.nfields:
            return ("command",)
        columns = [(result.fname(i).decode(), result.ftype(i)) for i in range(result.nfields)]
        rows = [tuple(None if result.get_value(r, i) is None
                      else bytes(result.get_value(r, i)).decode()
                      for i in range(result.nfields)) for r in range(result.ntuples)]
        return ("ok", columns, rows)


def _shape(answer: tuple[Any, ...]) -> tuple[Any, ...]:
    return answer if answer[0] != "ok" else ("ok", answer[1], bool(answer[2]))


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """PostgreSQL and mirrordb, both with 16 MB WAL segments (segment file names agree)."""
    datadir = os.path.join(str(tmp_path_factory.mktemp("monitoring")), "data")
    initdb(datadir, segment_size_mb=16)
    ours = start_server(datadir)
    try:
        with running_postgres() as server, \
                psycopg.connect(server.conninfo, autocommit=True) as reference, \
                psycopg.connect(ours.dsn(), autocommit=True) as mirror:
            yield reference, mirror
    finally:
        ours.stop()


@pytest.mark.parametrize("query", QUERIES)
def test_query_matches_postgres(both: tuple[Any, Any], query: str) -> None:
    reference, mirror = both
    assert _answer(mirror, query) == _answer(reference, query)


@pytest.mark.parametrize("query", SHAPES)
def test_columns_match_postgres(both: tuple[Any, Any], query: str) -> None:
    reference, mirror = both
    assert _shape(_answer(mirror, query)) == _shape(_answer(reference, query))


@pytest.mark.parametrize("statements", [SLOT_STATEMENTS, XACT_STATEMENTS, PRIVILEGE_STATEMENTS],
                         ids=["slots", "xact-and-filepath", "privileges"])
def test_statement_sequence_matches_postgres(both: tuple[Any, Any],
                                             statements: list[str]) -> None:
    reference, mirror = both
    for statement in statements:
        assert (statement, _answer(mirror, statement)) == \
            (statement, _answer(reference, statement))
