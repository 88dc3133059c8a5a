"""Array columns through a running mirrordb server: COPY FROM/TO in text form, binary results
(array_send) and binary parameters (array_recv) through psycopg, psql's ``\\d``, compared with a
real PostgreSQL 15 where one is installed; and array rows reaching a streaming standby
identically (storage/array_format.py, datum.py)."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from tests.compat.types_pg_server import postgres_available, running_postgres
from tests.conftest import pg_tool
from tests.integration.test_standby_streaming import (execute, stop_pair_and_compare,
                                                      streaming_pair, wait_for_replay_catchup)

SETUP = "CREATE TABLE arr (id int, c int[], t text[], n numeric[])"
COPY_IN = (b'1\t{1,2,NULL}\t{"a b","",NULL,"x\\\\"y"}\t{1.5,NaN}\n'
           b"2\t{}\t{}\t\\N\n"
           b"3\t\\N\t{plain,\"c,d\"}\t{-0.001}\n")


def copy_round_trip(connection: psycopg.Connection) -> tuple[bytes, list[tuple[object, ...]]]:
    """COPY the rows in, COPY them out as text, and read them back with binary results."""
    connection.execute("DROP TABLE IF EXISTS arr")
    connection.execute(SETUP)
    with connection.cursor() as cursor:
        with cursor.copy("COPY arr FROM STDIN") as copy:
            copy.write(COPY_IN)
        out = bytearray()
        with cursor.copy("COPY arr TO STDOUT") as copy:
            for chunk in copy:
                out += chunk
    with connection.cursor(binary=True) as cursor:
        cursor.execute("SELECT id, c, t FROM arr WHERE c = %b::int[] OR c IS NULL OR id = 2 ORDER BY id",
                       [[1, 2, None]])
        rows = cursor.fetchall()
    return bytes(out), rows


def test_copy_and_binary_match_postgres(module_server: object) -> None:
    if not postgres_available():
        pytest.skip("PostgreSQL 15 is not installed")
    with psycopg.connect(module_server.dsn(), autocommit=True) as ours:   # type: ignore[attr-defined]
        our_copy, our_rows = copy_round_trip(ours)
    with running_postgres() as server, psycopg.connect(server.conninfo,
                                                       autocommit=True) as theirs:
        their_copy, their_rows = copy_round_trip(theirs)
    assert our_copy == their_copy
    assert our_rows == their_rows
    assert our_rows[0][1] == [1, 2, None] and our_rows[1][1] == []


def test_psql_describe_shows_array_types(module_server: object) -> None:
    execute(module_server, "CREATE TABLE described (tags text[], ids integer[] DEFAULT '{}')")
    result = subprocess.run(
        [pg_tool("psql"), module_server.dsn(), "-X", "-c", r"\d described"],  # type: ignore[attr-defined]
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "tags | text[] | | |" in lines, result.stdout
    assert "ids | integer[] | | | '{}'::integer[]" in lines, result.stdout


def test_array_rows_reach_a_streaming_standby(template_cluster: str, tmp_path: object) -> None:
    with streaming_pair(template_cluster, str(tmp_path), SETUP) as (primary, standby):
        execute(primary,
                "INSERT INTO arr VALUES (1, '{1,NULL,3}', '{\"a b\",NULL}', '{1.50,NaN}'), "
                "(2, '{}', '{}', '{}'), (3, NULL, NULL, NULL)",
                "UPDATE arr SET c = c || 4 WHERE id = 1",
                "CREATE INDEX arr_c ON arr (c)")
        wait_for_replay_catchup(primary, standby)
        query = "SELECT id, c, t, n::text FROM arr ORDER BY c, id"
        with psycopg.connect(primary.dsn()) as left, psycopg.connect(standby.dsn()) as right:
            expected = left.execute(query).fetchall()
            assert right.execute(query).fetchall() == expected
            assert expected[0] == (2, [], [], "{}")
            assert right.execute("SELECT id FROM arr WHERE c = '{1,NULL,3,4}'").fetchall() \
                == [(1,)]
        stop_pair_and_compare(primary, standby)
