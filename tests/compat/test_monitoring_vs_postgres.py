"""Replication monitoring functions and views, side by side with a real PostgreSQL 15.

Each statement runs on a throw-away PostgreSQL server (tests/compat/types_pg_server.py) and on
a real mirrordb server (tests/server_process.py), both read as text through psycopg. For the
deterministic statements (``QUERIES``: pg_lsn arithmetic, errors, fixed positions) the two must
agree on the result columns (names and type OIDs), the rows, or the error's SQLSTATE and
message. For the statements whose values depend on the server's state (``SHAPES``: WAL files,
counters, times) they must agree on the columns and on whether a row comes back.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

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
]

SHAPES: list[str] = []


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
def both(template_cluster: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    datadir = os.path.join(str(tmp_path_factory.mktemp("monitoring")), "data")
    shutil.copytree(template_cluster, datadir)
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
